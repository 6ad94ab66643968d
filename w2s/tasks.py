"""Task registry: where each binary task's data comes from and how an example becomes (text, label).

A built-in task loads from the Hugging Face hub (`source="hub"`) or from a local mirror folder
`<local_dir>/<folder>/<hub split>.jsonl` with the hub's field names (`source="local"`); both go through
the same formatter, so they give the same rows. We use the hub's labelled `validation` split as our
`test` everywhere (the hub's own test splits often lack labels); Anthropic HH and amazon_polarity have
no validation split, so their `test` split is ours.

A formatter is `formatter(example, rng) -> (text, label) | None` (openai/weak-to-strong style): the
generator is passed explicitly and derived from `(seed, task, split)` by a stable hash, so hub and
local sources draw the same numbers. `None` drops the example.

One procedure per task, whatever the split: a formatter never looks at which fields a split happens to
fill (sciq's wrong answer comes from one rule, `negatives`, in train and test alike; a split that cannot
follow the rule is an error, not a silent fallback). Every formatted row also carries a `group` (the
shared context of rows that must not straddle train and test: cosmos_qa's context, anthropic_hh's
prompt, boolq's passage, sciq's question) and each task names the end of its text that decides the
label (`truncation`: the side cut when a text is longer than the token limit).
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np
import polars as pl

from w2s.errors import InputError

Example = Mapping[str, Any]
Formatter = Callable[[Example, np.random.Generator], "tuple[str, int] | None"]
TruncationSide = Literal["left", "right"]
TRUNCATION_SIDES: tuple[str, ...] = ("left", "right")
"""`left`: cut tokens from the start, keep the end (where the question / last response is);
`right`: cut from the end, keep the start (the tokenizers' default)."""

_VALIDATION_AS_TEST = {"train": "train", "validation": "test"}
_TEST_AS_TEST = {"train": "train", "test": "test"}
_HH_MARKER = "\n\nAssistant:"


def format_sst2(ex: Example, rng: np.random.Generator) -> tuple[str, int] | None:
    """text = sentence; label = label (1 = positive)."""
    return ex["sentence"], int(ex["label"])


def format_boolq(ex: Example, rng: np.random.Generator) -> tuple[str, int] | None:
    """text = passage + question; label = answer (True -> 1)."""
    return f"{ex['passage']}\n\nQuestion: {ex['question']}?", int(ex["answer"])


def format_amazon_polarity(ex: Example, rng: np.random.Generator) -> tuple[str, int] | None:
    """text = title, blank line, review body; label = label (1 = positive)."""
    return f"{ex['title']}\n\n{ex['content']}", int(ex["label"])


class AnswerPool:
    """A split's correct answers as a multiset: a wrong answer is drawn with each answer's real frequency.

    Right answers appear with their frequency among the split's questions; drawing wrong answers the same
    way makes "this answer occurs often" carry no information about the label (a uniform draw over
    distinct answers over-shows rare answers as wrong ones). Answers are compared casefolded and stripped.
    """

    def __init__(self, answers: list[str]) -> None:
        keys = [a.strip().casefold() for a in answers]
        order = sorted(range(len(answers)), key=lambda i: keys[i])  # equal answers side by side
        self.answers: list[str] = [answers[i] for i in order]
        self.start: dict[str, int] = {}
        self.count: dict[str, int] = {}
        for position, i in enumerate(order):
            self.start.setdefault(keys[i], position)
            self.count[keys[i]] = self.count.get(keys[i], 0) + 1

    def draw_other(self, answer: str, rng: np.random.Generator) -> str | None:
        """One answer drawn uniformly from the multiset minus every copy of `answer`; None if none is left."""
        own = answer.strip().casefold()
        skip = self.count.get(own, 0)
        n = len(self.answers) - skip
        if n == 0:
            return None
        k = int(rng.integers(n))
        return self.answers[k + skip if skip and k >= self.start[own] else k]


SCIQ_NEGATIVES: tuple[str, ...] = ("other_answer", "distractors")
"""sciq's wrong answer: another question's correct answer (drawn from the split's answers as they occur),
or one of the question's own distractors (needs distractors in every row of every split)."""


def _distractors(ex: Example) -> list[str]:
    own = ex["correct_answer"].strip().casefold()
    return [d for k in (1, 2, 3)
            if (d := ex.get(f"distractor{k}")) and d.strip() and d.strip().casefold() != own]


def format_sciq(ex: Example, rng: np.random.Generator, pool: AnswerPool,
                negatives: str = "other_answer") -> tuple[str, int] | None:
    """One binary example per question: the correct answer (label 1) or a wrong one (label 0), 50/50.

    `negatives="other_answer"`: the wrong answer is drawn from `pool` (the split's correct answers as a
    multiset) minus this row's own; the row is dropped if there is none. `negatives="distractors"`: it is
    one of the non-empty distractor1..3, uniformly (`sciq_formatter` has checked every row has one).
    The same rule serves every split, so train and test are one task.
    """
    correct = ex["correct_answer"]
    if rng.random() < 0.5:
        return f"Question: {ex['question']}\nAnswer: {correct}", 1
    if negatives == "distractors":
        wrong = _distractors(ex)
        candidate: str | None = wrong[int(rng.integers(len(wrong)))]
    else:
        candidate = pool.draw_other(correct, rng)
    return None if candidate is None else (f"Question: {ex['question']}\nAnswer: {candidate}", 0)


def format_choice(prompt: str, candidates: Sequence[str | None], correct: int, rng: np.random.Generator,
                  answer_prefix: str = "Answer: ") -> tuple[str, int]:
    """A multiple-choice question as one binary row: `prompt`, a line break, `answer_prefix` and either
    the correct candidate (label 1) or a uniformly drawn wrong one (label 0), 50/50.

    The one formatter of every multiple-choice task (built-in and file tasks alike), so they all turn a
    question into a row the same way, in every split. Wrong candidates are the non-null candidates whose
    text differs from the correct one; where none does, the correct one is shown (label 1). `correct` is
    an index into `candidates`; out of range raises InputError (the caller adds the file and row).
    The draws: one uniform number for correct-or-wrong, then one integer for the wrong candidate.
    """
    if not 0 <= correct < len(candidates) or candidates[correct] is None:
        raise InputError(f"answer index {correct} is not one of the {len(candidates)} candidates "
                         f"0..{len(candidates) - 1}")
    right = candidates[correct]
    wrong = [c for c in candidates if c is not None and c != right]
    is_correct = rng.random() < 0.5 or not wrong
    shown = right if is_correct else wrong[int(rng.integers(len(wrong)))]
    return f"{prompt}\n{answer_prefix}{shown}", int(is_correct)


def format_cosmos_qa(ex: Example, rng: np.random.Generator) -> tuple[str, int] | None:
    """`format_choice` over answer0..answer3 with the context and question as the prompt; `label` is the
    right answer's index (outside 0..3: InputError naming the row's id)."""
    index = int(ex["label"])
    if index not in range(4):
        raise InputError(f"label {index} is not an answer index 0..3 (id {ex.get('id')!r})")
    return format_choice(f"{ex['context']}\nQuestion: {ex['question']}", [ex[f"answer{k}"] for k in range(4)],
                         index, rng)


def _answer_index(value: Any, labels: Sequence[str], row: str) -> int:
    """The position of `value` (as text) in `labels`: the hub's answer key as an index (InputError naming
    `row` where it is none of them)."""
    key = str(value).strip()
    if key not in labels:
        raise InputError(f"answer {value!r} is not one of {', '.join(labels)} ({row})")
    return list(labels).index(key)


def format_hellaswag(ex: Example, rng: np.random.Generator) -> tuple[str, int] | None:
    """`format_choice` over the four `endings`, the prompt `activity_label: ctx`; `label` is the right
    ending's index as a string "0".."3" (as on the hub)."""
    index = _answer_index(ex["label"], ("0", "1", "2", "3"), f"ind {ex.get('ind')!r}")
    return format_choice(f"{ex['activity_label']}: {ex['ctx']}", list(ex["endings"]), index, rng,
                         answer_prefix="Ending: ")


def format_piqa(ex: Example, rng: np.random.Generator) -> tuple[str, int] | None:
    """`format_choice` over sol1, sol2 with the prompt `Goal: goal`; `label` 0/1 is the right solution."""
    index = _answer_index(ex["label"], ("0", "1"), f"goal {ex['goal'][:40]!r}")
    return format_choice(f"Goal: {ex['goal']}", [ex["sol1"], ex["sol2"]], index, rng, answer_prefix="Solution: ")


def format_social_i_qa(ex: Example, rng: np.random.Generator) -> tuple[str, int] | None:
    """`format_choice` over answerA..answerC with the context and question as the prompt; `label` "1".."3"
    (as on the hub) names the right answer."""
    index = _answer_index(ex["label"], ("1", "2", "3"), f"context {ex['context'][:40]!r}")
    return format_choice(f"{ex['context']}\nQuestion: {ex['question']}",
                         [ex["answerA"], ex["answerB"], ex["answerC"]], index, rng)


def format_commonsense_qa(ex: Example, rng: np.random.Generator) -> tuple[str, int] | None:
    """`format_choice` over `choices.text` with the prompt `Question: question`; `answerKey` is the right
    one's letter in `choices.label`."""
    choices = ex["choices"]
    index = _answer_index(ex["answerKey"], choices["label"], f"id {ex.get('id')!r}")
    return format_choice(f"Question: {ex['question']}", choices["text"], index, rng)


def format_winogrande(ex: Example, rng: np.random.Generator) -> tuple[str, int] | None:
    """`format_choice` over option1, option2 with the sentence (its blank `_` kept) as the prompt;
    `answer` "1"/"2" names the option that fills the blank."""
    index = _answer_index(ex["answer"], ("1", "2"), f"sentence {ex['sentence'][:40]!r}")
    return format_choice(ex["sentence"], [ex["option1"], ex["option2"]], index, rng)


def winogrande_group(ex: Example) -> str:
    """winogrande's group: its two options, casefolded and sorted. Twin sentences (the same sentence with
    one trigger word changed, the answer flipped) share their options, so they stay on one side."""
    return " | ".join(sorted(str(ex[k]).strip().casefold() for k in ("option1", "option2")))


def format_quail(ex: Example, rng: np.random.Generator) -> tuple[str, int] | None:
    """`format_choice` over the four `answers` with the context and question as the prompt;
    `correct_answer_id` is the right answer's index."""
    index = _answer_index(ex["correct_answer_id"], ("0", "1", "2", "3"), f"id {ex.get('id')!r}")
    return format_choice(f"{ex['context']}\nQuestion: {ex['question']}", list(ex["answers"]), index, rng)


def format_ag_news(ex: Example, rng: np.random.Generator) -> tuple[str, int] | None:
    """text = text; label = 1 for the positive class (`format_split` has already made `label` binary:
    `data.task_options.ag_news.positive` / `negative`)."""
    return ex["text"], int(ex["label"])


AG_NEWS_CLASSES: tuple[str, ...] = ("World", "Sports", "Business", "Sci/Tech")
"""ag_news's class names, indexed by the hub's `label` 0..3."""
REST = "rest"
"""`data.task_options.<task>.negative: rest`: every class but the positive one is label 0."""


def binary_classes(task: str, positive: str | None = None, negative: str | None = None) -> tuple[str, str]:
    """(positive, negative) of multi-class `task`: the given names, None filled from the task's default
    (`TaskSpec.binary`); a name that is not one of `TaskSpec.classes` (or `rest` for negative, or the
    positive class again) raises InputError naming `data.task_options.<task>.<key>`."""
    spec = TASKS[task]
    positive, negative = positive or spec.binary[0], negative or spec.binary[1]
    if positive not in spec.classes:
        raise InputError(f"data.task_options.{task}.positive: {positive!r} is not a class of {task}; allowed: "
                         f"{', '.join(spec.classes)}")
    others = tuple(c for c in spec.classes if c != positive) + (REST,)
    if negative not in others:
        raise InputError(f"data.task_options.{task}.negative: {negative!r} is not a class of {task} other than "
                         f"the positive one; allowed: {', '.join(others)}")
    return positive, negative


def binarize(frame: pl.DataFrame, task: str, positive: str | None = None,
             negative: str | None = None) -> pl.DataFrame:
    """A multi-class task's split with `label` made binary: 1 for class `positive`, 0 for class
    `negative` (or every other class where it is `rest`); rows of other classes dropped. Classes are
    named as `TaskSpec.classes` (the hub's names, by label value); None: the default (`binary_classes`)."""
    positive, negative = binary_classes(task, positive, negative)
    index = {name: k for k, name in enumerate(TASKS[task].classes)}
    label = pl.col("label").cast(pl.Int64)
    is_negative = label != index[positive] if negative == REST else label == index[negative]
    return (frame.filter((label == index[positive]) | is_negative)
            .with_columns(label=(label == index[positive]).cast(pl.Int64)))


def split_dialogue(dialogue: str) -> tuple[str, str] | None:
    """(prompt, final response) split at the last "\\n\\nAssistant:"; None without that marker."""
    cut = dialogue.rfind(_HH_MARKER)
    if cut < 0:
        return None
    return dialogue[:cut], dialogue[cut + len(_HH_MARKER):].strip()


def format_anthropic_hh(ex: Example, rng: np.random.Generator) -> tuple[str, int] | None:
    """Both final responses to the shared prompt, in random order; label 1 iff Response A is `chosen`.

    (Showing one response, as the official code does, leaves the label unlearnable.) Where the two
    dialogues do not share a prompt up to their last Assistant turn, the full dialogues are the
    responses and no prompt is shown.
    """
    chosen, rejected = split_dialogue(ex["chosen"]), split_dialogue(ex["rejected"])
    if chosen and rejected and chosen[0] == rejected[0]:
        prompt, good, bad = chosen[0].strip() + "\n\n", chosen[1], rejected[1]
    else:
        prompt, good, bad = "", ex["chosen"].strip(), ex["rejected"].strip()
    a_is_chosen = rng.random() < 0.5
    a, b = (good, bad) if a_is_chosen else (bad, good)
    return f"{prompt}Response A: {a}\n\nResponse B: {b}\n\nIs Response A better?", int(a_is_chosen)


def _fixed(formatter: Formatter) -> Callable[[pl.DataFrame, str, str], Formatter]:
    return lambda frame, variant, where: formatter


def sciq_formatter(frame: pl.DataFrame, negatives: str, where: str) -> Formatter:
    """The sciq formatter of one split for the `negatives` rule; with `distractors`, a split where a row
    has no usable distractor raises InputError (naming the param and the other choice), never falls back."""
    if negatives not in SCIQ_NEGATIVES:
        raise InputError(f"data.task_options.sciq.negatives: {negatives!r} is not one of {', '.join(SCIQ_NEGATIVES)}")
    if negatives == "distractors":
        lacking = sum(1 for ex in frame.iter_rows(named=True) if not _distractors(ex))
        if lacking:
            raise InputError(f"data.task_options.sciq.negatives: distractors, but {where} has {lacking} of "
                             f"{frame.height} rows without a distractor; use other_answer")
    pool = AnswerPool(frame["correct_answer"].to_list())
    return lambda ex, rng: format_sciq(ex, rng, pool, negatives)


def _hh_prompt(ex: Example) -> str:
    """anthropic_hh's group: the dialogue before the final Assistant turn of `chosen` (the whole chosen
    dialogue where it has no Assistant turn)."""
    split = split_dialogue(ex["chosen"])
    return split[0].strip() if split else ex["chosen"].strip()


@dataclass(frozen=True)
class TaskSpec:
    """One built-in task: its hub id, local folder, required fields, formatter, groups and truncation side."""

    hub_id: str
    folder: str
    fields: tuple[str, ...]  # source fields that must exist; rows with a null in one are dropped
    make_formatter: Callable[[pl.DataFrame, str, str], Formatter]  # (split frame, variant, where) -> formatter
    group: Callable[[Example], str] | None = None  # rows sharing it stay on one side of train/test; None: text
    truncation: TruncationSide = "right"  # the side cut from over-long texts (the other end decides the label)
    negatives: tuple[str, ...] = ()  # choices of data.task_options.<task>.negatives (first: default); () none
    splits: Mapping[str, str] = field(default_factory=lambda: _VALIDATION_AS_TEST)  # hub split -> ours
    hub_kwargs: Mapping[str, str] = field(default_factory=dict)
    classes: tuple[str, ...] = ()  # a multi-class task's class names by hub label; () a binary task
    binary: tuple[str, str] = ("", "")  # its default (positive, negative | "rest"): task_options overrides
    max_sizes: tuple[int, int] | None = None  # (n_train, n_test) the mirror's rows give: caps the shared sizes


TASKS: dict[str, TaskSpec] = {
    "sst2": TaskSpec("stanfordnlp/sst2", "sst2", ("sentence", "label"), _fixed(format_sst2)),
    "boolq": TaskSpec("google/boolq", "boolq", ("passage", "question", "answer"), _fixed(format_boolq),
                      group=lambda ex: ex["passage"], truncation="left"),
    "sciq": TaskSpec("allenai/sciq", "sciq", ("question", "correct_answer"), sciq_formatter,
                     group=lambda ex: ex["question"], truncation="left", negatives=SCIQ_NEGATIVES),
    "cosmos_qa": TaskSpec("allenai/cosmos_qa", "cosmos_qa",
                          ("context", "question", "answer0", "answer1", "answer2", "answer3", "label"),
                          _fixed(format_cosmos_qa), group=lambda ex: ex["context"], truncation="left"),
    "anthropic_hh": TaskSpec("Anthropic/hh-rlhf", "anthropic_hh", ("chosen", "rejected"),
                             _fixed(format_anthropic_hh), group=_hh_prompt, truncation="left",
                             splits=_TEST_AS_TEST, hub_kwargs={"data_dir": "harmless-base"}),
    "amazon_polarity": TaskSpec("fancyzhx/amazon_polarity", "amazon_polarity", ("title", "content", "label"),
                                _fixed(format_amazon_polarity), splits=_TEST_AS_TEST),
    # Multiple choice, validation only in the mirror (carved): max_sizes from `w2s.splits.largest_n_train`
    # at n_test 400, the least over prepare.seed 0..7, rounded down (docs/validity-data.md section 12).
    "hellaswag": TaskSpec("Rowan/hellaswag", "hellaswag", ("ctx", "endings", "label", "activity_label", "source_id"),
                          _fixed(format_hellaswag), group=lambda ex: ex["source_id"], truncation="left"),
    "piqa": TaskSpec("ybisk/piqa", "piqa", ("goal", "sol1", "sol2", "label"), _fixed(format_piqa),
                     group=lambda ex: ex["goal"], truncation="left", max_sizes=(1300, 400)),
    "social_i_qa": TaskSpec("allenai/social_i_qa", "social_i_qa",
                            ("context", "question", "answerA", "answerB", "answerC", "label"),
                            _fixed(format_social_i_qa), group=lambda ex: ex["context"], truncation="left",
                            max_sizes=(1400, 400)),
    "commonsense_qa": TaskSpec("tau/commonsense_qa", "commonsense_qa",
                               ("question", "question_concept", "choices", "answerKey"),
                               _fixed(format_commonsense_qa), group=lambda ex: ex["question_concept"],
                               truncation="left", max_sizes=(700, 400)),
    "winogrande": TaskSpec("allenai/winogrande", "winogrande", ("sentence", "option1", "option2", "answer"),
                           _fixed(format_winogrande), group=winogrande_group, truncation="left",
                           hub_kwargs={"name": "winogrande_xl"}, max_sizes=(800, 400)),
    # quail's group is the context text, not `context_id`: two ids (b144, b148) hold the same text.
    "quail": TaskSpec("textmachinelab/quail", "quail", ("context", "question", "answers", "correct_answer_id"),
                      _fixed(format_quail), group=lambda ex: ex["context"], truncation="left",
                      max_sizes=(1600, 400)),
    # Four classes made binary by data.task_options.ag_news.positive / negative (default Sci/Tech vs Business).
    "ag_news": TaskSpec("fancyzhx/ag_news", "ag_news", ("text", "label"), _fixed(format_ag_news),
                        splits=_TEST_AS_TEST, classes=AG_NEWS_CLASSES, binary=("Sci/Tech", "Business")),
}
CHESS_TASK_NAMES: tuple[str, ...] = ("chess", "chess_fen")
"""The chess puzzle tasks (`w2s.puzzles`; their data comes from params section `chess`)."""
TASK_NAMES: tuple[str, ...] = tuple(TASKS)
KNOWN_TASKS: tuple[str, ...] = (*TASK_NAMES, *CHESS_TASK_NAMES)
"""Every task name `tasks` may list besides the file tasks."""


BALANCES: tuple[str, ...] = ("downsample", "natural")
"""A file task's label balance (`data.file_tasks.<name>.balance`): `downsample` draws n/2 rows of each
label (the majority is cut to the minority's size, as for every built-in task); `natural` keeps the
file's label rate in the test and training rows (`w2s.splits.build_pool`)."""


@dataclass(frozen=True)
class FileTask:
    """A user's own binary task from one local file (jsonl / json / csv / parquet, by suffix).

    The text is `text_column`, or `text_template` filled from the row's columns (`str.format` names:
    `"Question: {question}\nAnswer: {answer}"`). The label is `label_column` (0/1, bool, or two values
    with `positive_value`), or, for a multiple-choice file, the question is turned into one binary row by
    `format_choice` from the candidates in `choices_columns` (several columns, or one column holding a
    list) and the 0-based index of the right one in `answer_column`. `test_path`: a second file with the
    same columns, the task's test split (else `build_pool` carves one from `path`).
    """

    path: str
    text_column: str | None = None
    label_column: str | None = None
    positive_value: str | int | bool | None = None  # the label meaning 1, if labels are not 0/1 or bool
    group_column: str | None = None  # rows sharing its value never straddle train and test; None: the text
    truncation: TruncationSide = "right"  # the side cut from texts over the token limit
    text_template: str | None = None  # the text from several columns: "Question: {question}\nAnswer: {answer}"
    test_path: str | None = None  # a held-out test file with the same columns (None: carved from `path`)
    choices_columns: Sequence[str] | None = None  # multiple choice: the candidate columns (or one list column)
    answer_column: str | None = None  # multiple choice: the column holding the right candidate's index (0-based)
    balance: str = "downsample"  # BALANCES


def template_columns(template: str) -> list[str]:
    """The column names a `text_template` uses, in order, without repeats; InputError (naming the param
    value) for a malformed template or a field that is not a plain column name (`{a.b}`, `{x!r}`, `{y:>5}`)."""
    import string

    try:
        parts = list(string.Formatter().parse(template))
    except ValueError as e:
        raise InputError(f"text_template {template!r}: {e}") from None
    names: list[str] = []
    for _, name, spec, conversion in parts:
        if name is None:
            continue
        if not name or spec or conversion or any(c in name for c in ".[]"):
            raise InputError(f"text_template {template!r}: field {{{name}}} must be a plain column name "
                             "(no index, attribute, conversion or format spec)")
        if name not in names:
            names.append(name)
    return names


def stable_rng(seed: int, *keys: str) -> np.random.Generator:
    """A generator for `seed` and a purpose (`keys`), stable across processes (no salted `hash()`)."""
    if seed < 0:
        raise InputError(f"seed must be >= 0, got {seed} ({'/'.join(keys)})")
    digest = int.from_bytes(hashlib.sha256("/".join(keys).encode()).digest()[:8], "little")
    return np.random.default_rng([seed, digest])


def format_split(frame: pl.DataFrame, task: str, split: str, seed: int, where: str,
                 negatives: str | None = None, classes: tuple[str | None, str | None] = (None, None)
                 ) -> pl.DataFrame:
    """Format one raw split (hub field names) into columns text (Utf8), label (Int8), group (Utf8), in
    source order. `group` is the task's grouping field (the text itself for tasks without one).

    `negatives` picks the task's wrong-answer rule (None: its default; only tasks with `negatives`
    choices accept one). `classes` = (positive, negative) of a multi-class task (`binarize`; None: its
    default; a binary task accepts none). Rows with a null in a required field are dropped; a missing field, a label
    other than 0/1 or no rows left raise InputError naming `where` (the file or hub id).
    """
    spec = TASKS[task]
    missing = [c for c in spec.fields if c not in frame.columns]
    if missing:
        raise InputError(f"task {task}: {where} lacks field {missing[0]!r} (has: {', '.join(frame.columns)})")
    if negatives is not None and negatives not in spec.negatives:
        allowed = ", ".join(spec.negatives) if spec.negatives else "none (the task has one procedure)"
        raise InputError(f"data.task_options.{task}.negatives: {negatives!r} is not a choice; allowed: {allowed}")
    variant = negatives or (spec.negatives[0] if spec.negatives else "")
    frame = frame.drop_nulls(list(spec.fields))
    if spec.classes:
        frame = binarize(frame, task, *classes)
    elif any(classes):
        raise InputError(f"data.task_options.{task}: positive / negative are for multi-class tasks; {task} is binary")
    formatter, rng = spec.make_formatter(frame, variant, where), stable_rng(seed, "format", task, split)
    rows = []
    try:
        for ex in frame.iter_rows(named=True):
            if (r := formatter(ex, rng)) is not None:
                rows.append((*r, spec.group(ex) if spec.group else r[0]))
    except InputError as e:  # a formatter names the bad value; add where it is
        raise InputError(f"task {task}: {where}: {e}") from e
    out = pl.DataFrame(rows, schema={"text": pl.Utf8, "label": pl.Int64, "group": pl.Utf8}, orient="row")
    bad = out.filter(~pl.col("label").is_in([0, 1]))["label"]
    if len(bad):
        raise InputError(f"task {task}: {where} has label {bad[0]} in split {split}; expected 0 or 1")
    if out.is_empty():
        raise InputError(f"task {task}: no usable rows in split {split} of {where}")
    return out.with_columns(pl.col("label").cast(pl.Int8))


SOURCES: tuple[str, ...] = ("auto", "local", "hub")
"""Values of `data.source`: `local` reads the mirror folder, `hub` the Hugging Face hub, `auto` the
mirror where it has the task's folder, else the hub."""
_SOURCE_HINT = ("set data.local_dir to your mirror folder, or data.source: hub (or auto: the mirror where it "
                "has the task, else the hub)")


def data_path(path: str | Path) -> Path:
    """The file or folder that a data path in params (data.local_dir, a file task's path) names.

    Absolute: itself. Relative: against the DVC project's root, `$DVC_ROOT`, which DVC sets for every
    stage command and points at the user's workspace even when an experiment runs in a temporary copy
    (`dvc exp run --queue` / `--temp` run in .dvc/tmp/exps/<tmp>/, where `../shared/datasets` would name
    nothing); outside DVC, against the current folder. So a relative path names the same data in the
    workspace and in every queued experiment.
    """
    p = Path(path).expanduser()
    return p if p.is_absolute() else Path(os.environ.get("DVC_ROOT") or ".") / p


def pick_source(task: str, source: str, local_dir: str | None) -> str:
    """The source a built-in task is read from, `local` or `hub`: `source` itself, or for `auto` the
    mirror when `<local_dir>/<task folder>` exists, else the hub (the mirror can hold some tasks only)."""
    if source not in SOURCES:
        raise InputError(f"task {task}: data.source must be one of {', '.join(SOURCES)}, got {source!r}")
    if source != "auto":
        return source
    return "local" if local_dir and (data_path(local_dir) / TASKS[task].folder).is_dir() else "hub"


def local_files(task: str, local_dir: str | None) -> dict[str, Path]:
    """The mirror files a built-in task reads, keyed by our split name: `<local_dir>/<folder>/<hub
    split>.jsonl` for each of its splits present; a missing folder or no split file is InputError
    saying what to change."""
    if not local_dir:
        raise InputError(f"task {task}: data.source is local but data.local_dir is not set; {_SOURCE_HINT}")
    root = data_path(local_dir)
    if not root.is_dir():
        raise InputError(f"task {task}: data.local_dir {local_dir} is not a folder (looked at {root.absolute()}); "
                         f"{_SOURCE_HINT}")
    spec = TASKS[task]
    folder = root / spec.folder
    if not folder.is_dir():
        if task == "amazon_polarity":
            raise InputError(f"task amazon_polarity: no local copy ({folder} missing); use data.source: hub "
                             "(or auto)")
        raise InputError(f"task {task}: folder {folder} missing in data.local_dir; add it, or set "
                         "data.source: hub (or auto: the hub for tasks the mirror lacks)")
    found = {ours: folder / f"{hub}.jsonl" for hub, ours in spec.splits.items()}
    found = {ours: path for ours, path in found.items() if path.is_file()}
    if not found:
        wanted = ", ".join(f"{hub}.jsonl" for hub in spec.splits)
        raise InputError(f"task {task}: no split file in {folder} (looked for {wanted})")
    return found


def _read_local(task: str, local_dir: str | None) -> dict[str, tuple[pl.DataFrame, str]]:
    """Raw frames of the mirror folder, keyed by our split name, with their file paths."""
    return {ours: (read_table(path), str(path)) for ours, path in local_files(task, local_dir).items()}


def _read_hub(task: str, revision: str | None = None, why: str = "") -> dict[str, tuple[pl.DataFrame, str]]:
    """Raw frames from the hub at `revision` (None: the default branch), keyed by our split name; a load
    failure is one-line InputError naming the dataset id and revision (ending with `why`, the reason the hub
    was picked, when `auto` picked it)."""
    import datasets  # heavy: only when the hub is used

    spec = TASKS[task]
    at = f" revision {revision!r}" if revision else ""
    try:
        pinned = {"revision": revision} if revision else {}
        loaded = datasets.load_dataset(spec.hub_id, **spec.hub_kwargs, **pinned)
    except Exception as e:  # any failure of the hub or the cache: re-raised as one line
        offline = os.environ.get("HF_DATASETS_OFFLINE", "") not in ("", "0")
        hint = "; HF_DATASETS_OFFLINE is set: use data.source: local" if offline else ""
        raise InputError(f"task {task}: cannot load hub dataset {spec.hub_id}{at} ({_first_line(e)}){hint}{why}") \
            from e
    return {ours: (loaded[hub].to_polars(), f"hub {spec.hub_id} [{hub}]")
            for hub, ours in spec.splits.items() if hub in loaded}


def read_table(path: Path) -> pl.DataFrame:
    """Read a .jsonl / .json / .csv / .parquet file with polars; any failure is one-line InputError."""
    readers: dict[str, Callable[..., pl.DataFrame]] = {
        ".jsonl": lambda p: pl.read_ndjson(p, infer_schema_length=None), ".json": pl.read_json,
        ".csv": lambda p: pl.read_csv(p, infer_schema_length=None), ".parquet": pl.read_parquet}
    reader = readers.get(path.suffix.lower())
    if reader is None:
        raise InputError(f"{path}: unsupported suffix {path.suffix!r}; use one of {', '.join(readers)}")
    if not path.is_file():
        raise InputError(f"{path}: file not found")
    if path.stat().st_size == 0:
        raise InputError(f"{path}: file is empty")
    try:
        return reader(path)
    except (pl.exceptions.PolarsError, OSError, ValueError) as e:
        # the error's type, never its message: it can quote the file's content (a link to a secrets file)
        raise InputError(f"{path}{_bad_line(path)}: cannot read as {path.suffix} ({type(e).__name__})") from None


def _bad_line(path: Path) -> str:
    """`:<line>` of the first malformed line of a jsonl or csv file (so the user knows where to look),
    or "" when no single line is to blame. Only called after the fast reader has already failed."""
    import csv
    import json

    suffix = path.suffix.lower()
    try:
        with path.open(newline="", encoding="utf-8") as f:
            if suffix == ".jsonl":
                for number, line in enumerate(f, start=1):
                    if line.strip():
                        try:
                            if not isinstance(json.loads(line), dict):
                                return f":{number}"
                        except json.JSONDecodeError:
                            return f":{number}"
            elif suffix == ".csv":
                reader = csv.reader(f)
                width = len(next(reader, []))
                for row in reader:
                    if row and len(row) != width:
                        return f":{reader.line_num}"
    except (OSError, UnicodeDecodeError, csv.Error):
        return ""
    return ""


def _first_line(e: BaseException) -> str:
    """`Type: first line of the message`, so a wrapped error stays one line."""
    lines = str(e).strip().splitlines()
    return f"{type(e).__name__}: {lines[0]}" if lines else type(e).__name__


def _binary_labels(column: pl.Series, where: str, positive: str | int | bool | None) -> pl.Series:
    """0/1 Int8 labels of a non-null column: bool, {0, 1}, or two values with `positive` meaning 1."""
    values = column.unique().sort().to_list()
    if len(values) != 2:
        shown = ", ".join(map(repr, values[:5])) + (", ..." if len(values) > 5 else "")
        raise InputError(f"{where}: expected 2 distinct labels, found {len(values)} distinct ({shown})")
    if positive is not None:
        matches = [v for v in values if v == positive or str(v) == str(positive)]
        if not matches:
            raise InputError(f"{where}: positive_value {positive!r} is not one of the labels {values!r}")
        return (column == matches[0]).cast(pl.Int8)
    if column.dtype == pl.Boolean or (column.dtype.is_numeric() and values == [0, 1]):
        return column.cast(pl.Int8)
    raise InputError(f"{where}: labels {values!r} are not 0/1 or bool; set positive_value (the one for 1)")


def load_file_task(name: str, task: FileTask, seed: int = 0) -> dict[str, pl.DataFrame]:
    """A user's file task as {"train": df} (and "test" from `test_path`), each with columns text (Utf8),
    label (Int8), group (Utf8), in file order.

    The text is `text_column` or `text_template` filled from the row; the label is `label_column`
    (`_binary_labels`) or, with `choices_columns` and `answer_column`, `format_choice` over the row's
    candidates and answer index (with a generator from (seed, name, split), as the built-in multiple-choice
    tasks draw). `group` is `group_column` as text; unset, the text (a multiple-choice row: its prompt, one
    group per question). Rows with a null label (answer index) are dropped. One-line InputError, naming the
    file, column and row (counting data rows from 0): a column the file lacks (a template's included), a
    null text, template value or group in a labelled row, a non-text text column, no labelled rows, a
    non-binary label column, an answer index that is not an integer or not one of the row's candidates, and
    a `test_path` whose columns differ from `path`'s.
    """
    train_path = data_path(task.path)
    train = read_table(train_path)
    out = {"train": _file_split(name, task, train, train_path, stable_rng(seed, "format", name, "train"))}
    if task.test_path is not None:
        test_path = data_path(task.test_path)
        test = read_table(test_path)
        if set(test.columns) != set(train.columns):
            only = [(c, test_path) for c in test.columns if c not in train.columns] or \
                [(c, train_path) for c in train.columns if c not in test.columns]
            raise InputError(f"data.file_tasks.{name}.test_path: {test_path} and {train_path} have different "
                             f"columns: {only[0][0]!r} is only in {only[0][1]}")
        out["test"] = _file_split(name, task, test, test_path, stable_rng(seed, "format", name, "test"))
    return out


def check_file_task(name: str, task: Any) -> None:
    """The fields of `data.file_tasks.<name>` fit together (a FileTask or its params): exactly one of
    text_column / text_template (a well-formed one); either label_column (binary) or choices_columns with
    answer_column (multiple choice, no label_column / positive_value); a known balance. InputError names
    the param key."""
    key = f"data.file_tasks.{name}"
    if (task.text_column is None) == (task.text_template is None):
        raise InputError(f"{key}: set exactly one of text_column and text_template")
    if task.text_template is not None:
        try:
            template_columns(task.text_template)
        except InputError as e:
            raise InputError(f"{key}.{e}") from None
    if (task.choices_columns is None) != (task.answer_column is None):
        raise InputError(f"{key}: multiple choice needs both choices_columns and answer_column")
    if task.choices_columns is not None:
        if not task.choices_columns:
            raise InputError(f"{key}.choices_columns: name the candidate columns (or one list column)")
        if task.label_column is not None or task.positive_value is not None:
            raise InputError(f"{key}: a multiple-choice task takes its label from answer_column; "
                             "remove label_column and positive_value")
    elif task.label_column is None:
        raise InputError(f"{key}: set label_column (or choices_columns and answer_column for multiple choice)")
    if task.balance not in BALANCES:
        raise InputError(f"{key}.balance: {task.balance!r} is not one of {', '.join(BALANCES)}")
    if task.group_column is not None and task.group_column in (task.text_column, task.label_column):
        raise InputError(f"{key}.group_column: {task.group_column!r} is the text or label column; name a column "
                         "that groups rows (e.g. a document id) or leave it null")


def _no_nulls(frame: pl.DataFrame, column: str, where: str, what: str) -> None:
    """InputError naming `where` (task and file), `column` and its first null row (frame's `_row`)."""
    rows = frame.filter(pl.col(column).is_null())["_row"]
    if len(rows):
        raise InputError(f"{where} column {column!r} is null in {len(rows)} {what} rows "
                         f"(first: row {rows[0]}, counting from 0)")


def _integer_index(value: Any) -> int:
    """An answer column's value as an int index (an integral float or digit string too); else InputError."""
    index = None
    if isinstance(value, (int, float, str)) and not isinstance(value, bool):
        try:
            index = int(value) if not isinstance(value, float) or value.is_integer() else None
        except ValueError:
            pass
    if index is None:
        raise InputError(f"{value!r} is not an integer answer index")
    return index


def _file_split(name: str, task: FileTask, frame: pl.DataFrame, path: Path,
                rng: np.random.Generator) -> pl.DataFrame:
    """One file of a file task formatted (see `load_file_task`)."""
    check_file_task(name, task)
    has, where = ", ".join(frame.columns), f"task {name}: {path}"
    mc = task.choices_columns is not None
    label = str(task.answer_column if mc else task.label_column)
    text_columns = template_columns(task.text_template) if task.text_template else [str(task.text_column)]
    for column in (*text_columns, label, *(task.choices_columns or ()), task.group_column):
        if column is not None and column not in frame.columns:
            named = "text_template" if task.text_template and column in text_columns else \
                "group_column" if column == task.group_column else None
            lead = f"data.file_tasks.{name}.{named}: " if named else f"task {name}: "
            raise InputError(f"{lead}{path} has no column {column!r} (has: {has})")
    frame = frame.with_row_index("_row").filter(pl.col(label).is_not_null())
    if frame.is_empty():
        raise InputError(f"{where} has no rows with a label in column {label!r}")
    for column in text_columns:
        _no_nulls(frame, str(column), where, "labelled")
    if task.group_column is not None:
        _no_nulls(frame, task.group_column, where, "labelled")
    if task.text_template:
        texts = pl.Series("text", [task.text_template.format_map(row)
                                   for row in frame.select(text_columns).iter_rows(named=True)], dtype=pl.Utf8)
    else:
        texts = frame[str(task.text_column)].alias("text")
        if texts.dtype != pl.Utf8:
            raise InputError(f"{where} column {task.text_column!r} holds {texts.dtype}, not text")
    groups = frame[task.group_column].cast(pl.Utf8) if task.group_column else texts
    if not mc:
        labels = _binary_labels(frame[label], f"{where} column {label!r}", task.positive_value)
        return pl.DataFrame({"text": texts, "label": labels, "group": groups.alias("group")})
    rows = []
    for row, prompt, answer, candidates in zip(frame["_row"], texts, frame[label], _candidates(frame, task),
                                               strict=True):
        at = f"{where} row {row} column {label!r}"
        try:
            rows.append(format_choice(prompt, candidates, _integer_index(answer), rng))
        except InputError as e:  # the formatter names the value; add the file, row and column
            raise InputError(f"{at}: {e}") from None
    out = pl.DataFrame(rows, schema={"text": pl.Utf8, "label": pl.Int8}, orient="row")
    return out.with_columns(groups.alias("group"))


def _candidates(frame: pl.DataFrame, task: FileTask) -> list[list[str | None]]:
    """Each row's candidate answers as text: the `choices_columns` in order, or the items of the one list
    column they name (None stays None: `format_choice` skips it)."""
    columns = list(task.choices_columns or ())
    if len(columns) == 1 and isinstance(frame[columns[0]].dtype, pl.List):
        lists = frame[columns[0]].to_list()
    else:
        lists = frame.select(columns).rows()
    return [[None if c is None else str(c) for c in (items or [])] for items in lists]


def load_task(name: str, *, source: str, local_dir: str | None, seed: int,
              file_tasks: Mapping[str, FileTask] | None = None, negatives: str | None = None,
              revision: str | None = None, classes: tuple[str | None, str | None] = (None, None)
              ) -> dict[str, pl.DataFrame]:
    """Load and format one task.

    Returns {"train": df, "test": df}, or only the splits that exist (a local mirror with only a
    validation file gives {"test": df}); each df has exactly columns text (Utf8), label (Int8, 0/1) and
    group (Utf8, see `format_split`), in source order, not deduplicated or balanced yet. `source` is
    "hub", "local" or "auto" (`pick_source`); `local_dir` is required for "local" and resolved by
    `data_path`. A name in `file_tasks` is loaded from its file (whatever the source) and returned as
    {"train": df}, plus "test" when it has a `test_path` (`load_file_task`); without one the caller
    carves the test split.
    `negatives` is the task's wrong-answer rule (`data.task_options.<task>.negatives`; None: the
    default), applied alike to every split; `classes` the (positive, negative) classes of a multi-class
    task (`data.task_options.<task>.positive / negative`, `binarize`). `revision` pins the hub dataset's
    revision (source "hub" only). The formatters' generators depend on (seed, task, split) only, so the
    same data gives the same rows from either source.
    """
    file_tasks = file_tasks or {}
    if name in file_tasks:
        return load_file_task(name, file_tasks[name], seed)
    if name not in TASKS:
        extra = f"; file tasks: {', '.join(file_tasks)}" if file_tasks else ""
        raise InputError(f"unknown task {name!r}; built-in: {', '.join(TASK_NAMES)}{extra}")
    picked = pick_source(name, source, local_dir)
    if picked == "local":
        raw = _read_local(name, local_dir)
    else:
        why = (f"; data.source auto picked the hub: no folder {TASKS[name].folder} in data.local_dir {local_dir}"
               if source == "auto" else "")
        raw = _read_hub(name, revision, why)
    if not raw:
        wanted = ", ".join(TASKS[name].splits)
        raise InputError(f"task {name}: the {picked} source has none of the splits {wanted}")
    return {split: format_split(frame, name, split, seed, where, negatives, classes)
            for split, (frame, where) in raw.items()}


def truncation_side(name: str, file_tasks: Mapping[str, Any] | None = None,
                    override: str | None = None) -> TruncationSide:
    """The side cut from `name`'s over-long texts: `override` (data.task_options.<task>.truncation) if
    set, else the file task's `truncation`, else the built-in task's default (`TaskSpec.truncation`)."""
    file_tasks = file_tasks or {}
    side = override or (file_tasks[name].truncation if name in file_tasks else
                        TASKS[name].truncation if name in TASKS else
                        "left" if name in CHESS_TASK_NAMES else None)
    if side not in TRUNCATION_SIDES:
        raise InputError(f"truncation side of task {name!r}: {side!r} is not one of {', '.join(TRUNCATION_SIDES)}")
    return side  # type: ignore[return-value]
