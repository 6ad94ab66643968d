"""Typed, frozen view of params.yaml: a pydantic model per section, its JSON Schema in params.schema.json.

Every section of params.yaml is a frozen pydantic model with a docstring per field (they become the
schema's descriptions, which an editor shows while the user types). `load_params` validates strictly:
an unknown key, a missing key, a value of the wrong type or out of its range stops with one
`InputError` line naming the key path (e.g. `params.yaml: train.lr: expected float, got str 'fast'`).
Cross-field rules (a pair must go weak -> strong along the ladder, methods must exist) and the
hostile-input rules of `w2s.validate` run after, so a stage never starts on a params file that cannot
work. Where a stage runs (device, compilation, renderer) is not here: see `w2s.runtime`.

    python -m w2s.config --write-schema    # regenerate params.schema.json after changing a section
"""

from __future__ import annotations

import argparse
import json
import sys
import types
import typing
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Annotated, Any, Literal, get_args, get_origin

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    NonNegativeFloat,
    NonNegativeInt,
    PositiveFloat,
    PositiveInt,
    ValidationError,
    WithJsonSchema,
    model_validator,
)
from pydantic.fields import FieldInfo

from w2s.errors import InputError

EvenSize = Annotated[int, Field(gt=0, multiple_of=2)]
"""A pool size: positive and even (the classes are balanced)."""
Share = Annotated[float, Field(ge=0, lt=1)]
"""A share of rows or steps in [0, 1)."""
Revision = Annotated[str, Field(pattern=r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,99}$")]
"""A hub revision: one path component (it names a folder of the Hugging Face cache), so no `/` or `..`."""
SCHEMA_FILE = "params.schema.json"
CHAIN_SEP = "-to-"


class Section(BaseModel):
    """A frozen, strict params section: no unknown keys, no type coercion (`"1"` is not 1, `true` is not 1),
    no NaN or infinity; an empty YAML section (null) means all defaults. Built directly in code
    (`TrainParams(lr=0)`), a bad value is an `InputError` naming `<section>.<key>` too."""

    model_config = ConfigDict(frozen=True, extra="forbid", strict=True, allow_inf_nan=False,
                              use_attribute_docstrings=True)

    def __init__(self, /, **data: Any) -> None:
        try:
            super().__init__(**data)
        except ValidationError as err:
            raise InputError(describe(err, data, type(self), _section_key(type(self)))) from None

    # pydantic calls an overridden __init__ for every nested section it validates, which would turn a
    # nested error into a plain value error; marked as the base __init__, it runs for direct calls only
    __init__.__pydantic_base_init__ = True  # type: ignore[attr-defined]

    @model_validator(mode="before")
    @classmethod
    def _null_is_empty(cls, data: Any) -> Any:
        return {} if data is None else data


class FileTaskParams(Section):
    """A user's own binary task from one local file (and optionally a test file); no code needed."""

    path: str
    """jsonl / json / csv / parquet file (by suffix), relative to the repo root or absolute."""
    text_column: str | None = None
    """Column holding the input text (or set `text_template`)."""
    text_template: str | None = None
    """The text built from several columns, `str.format` style: `"Question: {question}\\nAnswer: {answer}"`
    (instead of `text_column`; a null in a named column of a labelled row is an error)."""
    label_column: str | None = None
    """Column holding the binary label (0/1, bool, or two values with `positive_value`); null for a
    multiple-choice task (`choices_columns`, `answer_column`)."""
    positive_value: str | int | bool | None = None
    """Which label value means 1, when labels are not already 0/1 or bool."""
    choices_columns: list[str] | None = None
    """Multiple choice: the columns holding a question's candidate answers (or one column holding a list).
    Each question becomes one binary row, its text `text_column` / `text_template` then `Answer: ` and the
    right or a wrong candidate, 50/50 (`w2s.tasks.format_choice`, as the built-in multiple-choice tasks)."""
    answer_column: str | None = None
    """Multiple choice: the column holding the right candidate's index, counting from 0."""
    test_path: str | None = None
    """A held-out test file with the same columns: the task's test rows are drawn from it (rows sharing a
    text or group with it leave the training file); null: carved from `path`."""
    group_column: str | None = None
    """Column whose equal values mark rows that share a context (e.g. a document id): such rows all go to
    train or all to test, never both; a null in it is an error. null: each text is its own group (a
    multiple-choice question: its prompt)."""
    balance: Literal["downsample", "natural"] = "downsample"
    """`downsample`: n/2 rows of each label (the majority is cut, as for the built-in tasks; a short label
    is an error saying the largest sizes that fit); `natural`: the test and training rows keep the file's
    label rate (read AUROC then: accuracy is at that rate, see docs/your-data.md)."""
    truncation: Literal["left", "right"] = "right"
    """Side cut from texts over the token limit: `right` keeps the start, `left` keeps the end."""


class TaskOptions(Section):
    """Per built-in task choices of `data.task_options.<task>`; null keeps the task's built-in default."""

    negatives: str | None = None
    """sciq only: the wrong answer is `other_answer` (another question's correct answer, drawn with the
    answers' real frequency; default, as the mirror's train split has no distractors) or `distractors`
    (the question's own; an error where a split lacks them). The same rule serves train and test."""
    truncation: str | None = None
    """`left` or `right`: the side cut from texts over the token limit (embed and finetune/lora
    tokenisation). Defaults keep the end that decides the label: `left` (keep the end) for boolq, sciq,
    cosmos_qa, anthropic_hh; `right` for sst2 and amazon_polarity."""
    positive: str | None = None
    """ag_news only (a multi-class task): the class that is label 1, by its hub name (`World`, `Sports`,
    `Business`, `Sci/Tech`); null: the task's default (`Sci/Tech`)."""
    negative: str | None = None
    """ag_news only: the class that is label 0, or `rest` (every class but `positive`; the pool still
    draws half of each label); rows of other classes are dropped. null: the default (`Business`)."""
    revision: Revision | None = None
    """`data.source: hub` only: the dataset's hub revision (a commit hash, tag or branch) `load_dataset`
    reads; null: the default branch. Pinning it keeps an upstream edit from changing a result unseen."""


class DataParams(Section):
    """Where task data comes from."""

    source: Literal["hub", "local", "auto"] = "hub"
    """`hub`: the Hugging Face dataset hub; `local`: a mirror folder `<local_dir>/<task>/<split>.jsonl`;
    `auto`: the mirror for tasks it has a folder for, else the hub (stage `sources` records which ran)."""
    local_dir: str | None = None
    """The mirror folder for `source: local` / `auto` (hub field names, one jsonl per split); relative:
    to the project's root, also in queued experiments (`w2s.tasks.data_path`)."""
    file_tasks: dict[str, FileTaskParams] = {}
    """Extra tasks from local files, by name; a name here can be listed in `tasks`."""
    task_options: dict[str, TaskOptions] = {}
    """Built-in task name -> its choices (wrong-answer rule, truncation side); absent: the defaults."""

    def negatives(self, task: str) -> str | None:
        """`task`'s wrong-answer rule from `task_options` (None: the task's default); for `load_task`."""
        options = self.task_options.get(task)
        return options.negatives if options else None

    def classes(self, task: str) -> tuple[str | None, str | None]:
        """(positive, negative) classes of a multi-class `task` from `task_options` (None: its default)."""
        options = self.task_options.get(task)
        return (options.positive, options.negative) if options else (None, None)

    def revision(self, task: str) -> str | None:
        """The hub dataset revision pinned for `task` in `task_options` (None: the default branch)."""
        options = self.task_options.get(task)
        return options.revision if options else None

    def truncation_side(self, task: str) -> Literal["left", "right"]:
        """The side cut from `task`'s over-long texts: `task_options.<task>.truncation`, else the file
        task's `truncation`, else the built-in default (`w2s.tasks.TASKS[task].truncation`)."""
        from w2s.tasks import truncation_side

        options = self.task_options.get(task)
        return truncation_side(task, self.file_tasks, options.truncation if options else None)


class ModelSpec(Section):
    """A hub model pinned to one revision (the long form of a `models` value)."""

    id: str
    """Hugging Face hub id, e.g. `sentence-transformers/all-mpnet-base-v2`."""
    revision: Revision | None = None
    """Hub revision to load (a commit hash, tag or branch); null: the default branch. The commit actually
    loaded is recorded in `metrics/truncation/<task>/<model>.json` by `embed`."""


class Pair(Section):
    """One weak -> strong pair of the ladder."""

    weak: str
    """Model key of the supervisor (trained on ground truth)."""
    strong: str
    """Model key of the student (trained on the supervisor's labels)."""

    def __init__(self, weak: str, strong: str) -> None:
        """`Pair(weak, strong)`, positional or by name, as in code; params.yaml's mappings are validated
        without this constructor."""
        super().__init__(weak=weak, strong=strong)

    __init__.__pydantic_base_init__ = True  # type: ignore[attr-defined]

    @property
    def name(self) -> str:
        """`<weak>-to-<strong>`: the pair's name in params.yaml, stage names and run folders."""
        return f"{self.weak}{CHAIN_SEP}{self.strong}"

    @staticmethod
    def split(name: str) -> tuple[str, str]:
        """(weak, strong) of a pair written `<weak>-to-<strong>`; ValueError saying the form otherwise."""
        parts = name.split(CHAIN_SEP)
        if len(parts) != 2 or not all(parts):
            raise ValueError(f"{name!r} must be two model keys joined by '{CHAIN_SEP}', e.g. minilm_l3-to-mpnet")
        return parts[0], parts[1]

    @model_validator(mode="before")
    @classmethod
    def _from_name(cls, data: Any) -> Any:
        """params.yaml writes a pair `<weak>-to-<strong>` (DVC names the stages after it); a `{weak, strong}`
        mapping is read too (in code), but dvc.yaml needs the string."""
        if isinstance(data, str):
            weak, strong = cls.split(data)
            return {"weak": weak, "strong": strong}
        return data

    @classmethod
    def parse(cls, name: str, where: str = "pairs") -> Pair:
        """The pair written `<weak>-to-<strong>`; a malformed name is one line naming `where`."""
        try:
            return cls(*cls.split(name))
        except ValueError as e:
            raise InputError(f"{where}: {e}") from None


PairName = Annotated[Pair, WithJsonSchema({
    "type": "string", "pattern": "^[^\\s]+-to-[^\\s]+$",
    "description": "`<weak>-to-<strong>`: two model keys of the ladder, weak first"})]
"""A pair as params.yaml writes it (the schema shows the string form; the loader also reads a mapping)."""


class TaskSizes(Section):
    """One task's pool sizes in `prepare.per_task`; null keeps the shared value."""

    n_train: EvenSize | None = None
    """Training rows of this task's pool (even)."""
    n_test: EvenSize | None = None
    """Test rows of this task's pool (even)."""


class PrepareParams(Section):
    """Section `prepare`: the pool of rows every seed draws from."""

    n_train: EvenSize
    """Training rows in the pool (even); each seed splits them into train_weak and train_transfer."""
    n_test: EvenSize
    """Test rows (even, label-balanced), the same for every seed."""
    seed: int = 0
    """Seed of the pool sampling (and of the formatters' random choices)."""
    per_task: dict[str, TaskSizes] = {}
    """Task name -> its own n_train / n_test, for tasks with more (or fewer) rows than the shared sizes."""

    def sizes(self, task: str) -> tuple[int, int]:
        """(n_train, n_test) of `task`: its `per_task` entry where set, else the shared sizes capped at a
        built-in task's `max_sizes` (what its mirror copy gives: README's task table), else the shared."""
        from w2s.tasks import TASKS

        own = self.per_task.get(task)
        spec = TASKS.get(task)
        cap = spec.max_sizes if spec and spec.max_sizes else (self.n_train, self.n_test)
        n_train = own.n_train if own and own.n_train is not None else min(self.n_train, cap[0])
        n_test = own.n_test if own and own.n_test is not None else min(self.n_test, cap[1])
        return n_train, n_test


class EmbedParams(Section):
    """Section `embed`: frozen features of every pool row, once per (task, model)."""

    batch_size: PositiveInt = 64
    """Texts per forward pass (batches are length-sorted, so padding is small)."""
    max_length: PositiveInt = 256
    """Token limit; longer texts are truncated and counted in the stage's log."""
    pooling: Literal["auto", "mean", "last"] = "auto"
    """`auto`: mean over real tokens for encoders, last real token for decoders."""


class TrainParams(Section):
    """Section `train`: the one trainer shared by `train_gt` and `train_w2s`."""

    mode: Literal["probe", "finetune", "lora"] = "probe"
    """`probe`: a linear head on cached frozen features. `finetune`: every weight of the hub model plus a
    linear head on its pooled hidden states, trained on the pool's texts. `lora`: the hub model frozen,
    low-rank adapters (peft) on all its linear layers plus the head trained."""
    weak_fraction: Annotated[float, Field(gt=0, lt=1)] = 0.5
    """Share of the pool's training rows that go to train_weak (the rest: train_transfer)."""
    epochs: PositiveInt = 20
    """Passes over the training rows. finetune/lora: the step budget, their regulariser. probe: the budget of
    the stepwise losses (logconf, product, entropy) only; xent/kl and gt probes are fitted to convergence."""
    batch_size: PositiveInt = 64
    """Rows per forward pass (micro-batch); also the batch over which logconf picks its threshold. An
    optimizer step sees batch_size x grad_accum rows."""
    lr: PositiveFloat = 1e-3
    """Adam learning rate (finetune/lora, and the stepwise probe losses)."""
    weight_decay: NonNegativeFloat = 0.0
    """AdamW weight decay (finetune/lora; probes use the explicit L2 penalty of `probe_c` instead)."""
    eval_every: PositiveInt = 10
    """Evaluate test accuracy every this many steps (probe L-BFGS fits: iterations), for the accuracy-along-
    training curve; it never influences training."""
    schedule: Literal["constant", "cosine"] = "constant"
    """Learning rate after the warm-up: `constant`, or `cosine` decay to 0 at the last step."""
    warmup_frac: Share = 0.0
    """Share of the optimizer steps over which the learning rate ramps linearly from 0 to `lr`."""
    grad_accum: PositiveInt = 1
    """Micro-batches whose gradients are summed into one optimizer step."""
    max_length: PositiveInt = 256
    """finetune/lora: token limit per text; longer texts are truncated (and counted in the log)."""
    precision: Literal["auto", "fp32", "bf16"] = "auto"
    """finetune/lora: `auto` = bf16 autocast on CUDA, fp32 elsewhere; `bf16` = bf16 autocast anywhere
    (weights and optimizer state stay fp32); `fp32` = no autocast."""
    gradient_checkpointing: bool = False
    """finetune/lora: recompute activations in the backward pass (less memory, ~30% more compute)."""
    lora_r: PositiveInt = 8
    """lora: adapter rank."""
    lora_alpha: PositiveInt = 16
    """lora: adapter scale numerator (the update is scaled by lora_alpha / lora_r)."""
    lora_dropout: Share = 0.05
    """lora: dropout on the adapters' input."""
    weak_holdout: Share = 0.0
    """Weak-to-strong runs: share of train_transfer held out of the student's training (seeded); its weak
    labels are scored at every eval point (`val_weak_agreement` in history.json) so the `overfitting`
    stage can early-stop without ground truth. 0: no hold-out."""
    probe_c: float | str = "cv"
    """probe mode: inverse L2 strength C of every probe (scikit-learn's C: the objective is the mean soft
    cross-entropy + ‖w‖²/(2·C·n) on standardised features, bias unpenalised). `cv`: chosen per run from
    `probe_c_grid` by `probe_cv_folds`-fold cross-validation on that run's own training labels (ground
    truth for gt runs, weak labels for students; never test rows)."""
    probe_c_grid: list[PositiveFloat] = [0.001, 0.003, 0.01, 0.03]
    """probe mode, `probe_c: cv`: the Cs cross-validation chooses from."""
    probe_cv_folds: int = 5
    """probe mode, `probe_c: cv`: folds (stratified on the hard training labels; each class needs at
    least this many rows)."""
    probe_tol: PositiveFloat = 1e-6
    """probe mode: a fit has converged when the L2 norm of its objective's gradient is at most this
    (L-BFGS stops there; the stepwise losses report it). summary.json says whether it did."""
    probe_max_iter: PositiveInt = 2000
    """probe mode: L-BFGS iteration limit (a fit that hits it is reported as not converged)."""


class ReportParams(Section):
    """Section `report`: how the Quarto reports in reports/ are rendered."""

    formats: Annotated[list[Literal["html", "pdf"]], Field(min_length=1)] = ["html", "pdf"]
    """Outputs per report: `html` (self-contained, interactive charts) and/or `pdf` (static charts)."""


class AnalyzeParams(Section):
    """Section `analyze`: the metrics table."""

    ci_level: Annotated[float, Field(gt=0, lt=1)] = 0.95
    """Confidence level of every interval (paired bootstrap over seeds and test rows,
    `w2s.metrics.pgr_interval`); a PGR is given only where the gap's interval at this level excludes 0."""
    n_resamples: Annotated[int, Field(ge=100)] = 10_000
    """Bootstrap resamples per interval (>= 100)."""


class BootstrapParams(Section):
    """Section `bootstrap`: chains M1 -> M2 -> ... -> Mk, each model trained on its predecessor's labels."""

    chains: list[str] = []
    """Chains as ladder keys joined by `-to-` (e.g. `minilm_l3-to-minilm_l6-to-mpnet`), going up the
    ladder; each runs once per task and seed, beside the direct M1 -> Mk run."""
    method: str = "xent"
    """Loss of every hop and of the direct run (one of `methods`)."""
    folds: Annotated[int, Field(ge=2)] = 5
    """Cross-fitting folds of train_transfer for every intermediate hop (>= 2): each row's label for the
    next hop comes from a student trained on the other folds, never on that row (`w2s.bootstrap.cross_fit`)."""

    def models(self, chain: str) -> list[str]:
        """The model keys of `chain`, weak to strong."""
        return chain.split(CHAIN_SEP)


class GenftParams(Section):
    """Section `genft`: generative finetuning (language modelling on the task's texts, no labels) of
    decoders before they serve as students; the adapted models are probed through their own keys."""

    models: dict[str, str] = {}
    """Adapted key -> key (in `models`) of the decoder it starts from, e.g. `{gemma_genft: gemma}`. The
    adapted key can then stand in `ladder` and `pairs` like any model (probe mode)."""
    epochs: PositiveInt = 1
    """Passes over the texts."""
    max_steps: NonNegativeInt = 0
    """Stop after this many optimizer steps (0: no cap, run every epoch)."""
    batch_size: PositiveInt = 8
    """Texts per optimizer step."""
    lr: PositiveFloat = 5e-5
    """AdamW learning rate (constant)."""
    weight_decay: NonNegativeFloat = 0.0
    """AdamW weight decay."""
    max_length: PositiveInt = 64
    """Token limit per text; longer texts are truncated."""
    seed: int = 0
    """Seed of the batch order (and of dropout, if the model has any), and the split seed whose
    train_transfer texts are used with `texts: train_transfer`."""
    texts: Literal["train_transfer", "train"] = "train_transfer"
    """Which unlabelled texts: train_transfer of split seed `seed`, or every training row of the pool
    (never test rows, never labels)."""


class ChessGeneratorParams(Section):
    """One generated puzzle set (`chess.generate.<set>`): Stockfish self-play, see
    `w2s.puzzles.generate_puzzles`. Node budgets, not times, so the set does not depend on the machine."""

    n_puzzles: PositiveInt = 3000
    """Puzzles to keep (the set stops there)."""
    seed: NonNegativeInt = 0
    """Seed of the random openings (game i draws from (seed, i))."""
    random_plies: NonNegativeInt = 8
    """Uniformly drawn legal moves that open every game, before the engine plays both sides."""
    nodes: PositiveInt = 1500
    """Nodes per search (MultiPV 2, one thread, 16 MB hash cleared before each): the engine's move and the
    puzzle label."""
    margin: PositiveInt = 150
    """Keep a position when its best move beats the second best by at least this many centipawns."""
    per_game: PositiveInt = 5
    """At most this many puzzles from one game."""
    max_plies: PositiveInt = 100
    """A game stops after this many plies."""
    difficulty_nodes: list[PositiveInt] = [1, 64, 256, 1024]
    """Budgets (increasing, below `nodes`) tried for the difficulty: Rating 800 + 300 k, k the first that
    finds the best move (len: only the full budget)."""


class ChessParams(Section):
    """Section `chess`: where the chess tasks (`chess`: position as PGN, `chess_fen`: as FEN) read their
    puzzles, and the puzzle sets stage `chess_puzzles@<set>` generates (`w2s.puzzles`)."""

    source: Literal["generated", "file", "hub"] = "generated"
    """`generated`: the set `set` of `generate`; `file`: a Lichess puzzle CSV (or slice) at `path`; `hub`:
    the dataset `hub_id` on the Hugging Face hub."""
    set: str = "puzzles"
    """`generated`: the set read, data/chess/<set>.csv (a key of `generate`)."""
    path: str | None = None
    """`file`: the Lichess puzzle CSV (decompressed), relative to the project root or absolute."""
    hub_id: str = "Lichess/chess-puzzles"
    """`hub`: the Hugging Face dataset of Lichess puzzles (same columns as the CSV)."""
    generate: dict[str, ChessGeneratorParams] = {}
    """Set name -> generator params: one stage `chess_puzzles@<set>` each (none by default, so the default
    pipeline never runs Stockfish)."""


class SaliencyParams(Section):
    """Section `saliency`: the five concept-saliency conditions (paper Fig. 11) on one strong model."""

    model: str | None = None
    """Strong model key (in the ladder). null: the ladder's strongest. Not in the ladder: the stage skips
    saliency (with a message) rather than fail."""
    weak: str | None = None
    """Supervisor key whose gt run's soft labels are the weak labels (below `model` in the ladder). null:
    the ladder's weakest."""
    seeds: list[int] | None = None
    """Seeds to run the five conditions with (each: the supervisor run of that seed, the train_transfer
    sample and the finetuning runs; the test rows are the same for all). null: every seed of `seeds`.
    Intervals are over these seeds and the test rows."""
    n_train: PositiveInt = 400
    """train_transfer rows every condition trains on, per seed (fewer if train_transfer is smaller)."""
    n_test: PositiveInt = 400
    """Test rows every condition is scored on (fewer if the test split is smaller)."""
    epochs: PositiveInt = 3
    """Finetuning passes over the n_train rows."""
    batch_size: PositiveInt = 32
    """Finetuning rows per optimizer step."""
    lr: PositiveFloat = 1e-4
    """Finetuning AdamW learning rate (cosine schedule after a linear warm-up)."""
    warmup_frac: Share = 0.1
    """Share of the finetuning steps spent warming the learning rate up."""
    max_length: PositiveInt = 128
    """Token limit per text of every condition: the frozen activations, finetuning and the activations of
    the finetuned model."""
    probe_c: PositiveFloat = 1.0
    """Inverse L2 strength (scikit-learn C) of every logistic-regression probe (on standardised inputs)."""

    def resolve(self, ladder: list[str], seeds: list[int]) -> tuple[str, str, list[int], str | None]:
        """(strong key, weak key, seeds, why saliency cannot run on this ladder or None), the null defaults
        filled from the ladder and seeds."""
        strong, weak = self.model or ladder[-1], self.weak or ladder[0]
        chosen = list(seeds) if self.seeds is None else list(self.seeds)
        absent = [s for s in chosen if s not in seeds]
        skip = None
        if strong not in ladder or weak not in ladder:
            skip = f"saliency.model {strong!r} and saliency.weak {weak!r} must both be in the ladder {ladder}"
        elif ladder.index(weak) >= ladder.index(strong):
            skip = f"saliency.weak {weak!r} must come before saliency.model {strong!r} in the ladder {ladder}"
        elif absent:
            skip = f"saliency.seeds {absent} not in seeds {seeds} (their supervisor runs do not exist)"
        return strong, weak, chosen, skip


class SensitivityParams(Section):
    """Section `sensitivity`: PGR against the probes' L2 strength, all heads at the same C (probe mode)."""

    c_grid: list[PositiveFloat] = [1e-4, 1e-2, 1.0, 100.0]
    """Inverse L2 strengths to sweep (scikit-learn's C, on standardised features), log-spaced; empty: skip."""


class Params(Section):
    """The whole params.yaml: shared keys at the top level, one section per stage."""

    data: DataParams
    """Where task data comes from: the hub, a local mirror, your own files."""
    tasks: list[str]
    """Task names to run (built-in or `data.file_tasks` keys)."""
    models: dict[str, str | ModelSpec]
    """Short model key -> Hugging Face hub id, or `{id, revision}` to pin the hub revision loaded."""
    ladder: list[str]
    """Model keys ordered weak -> strong; each is trained on ground truth (supervisor and ceiling)."""
    pairs: list[PairName]
    """Weak -> strong pairs to run, each `<weak>-to-<strong>` (the stage names: train_w2s@<task>-<pair>-...;
    a {weak, strong} mapping is read too, but dvc.yaml needs the string); each must go up the ladder."""
    methods: list[str]
    """Loss names for the weak-to-strong runs (keys of `losses`)."""
    seeds: list[int]
    """Every cell runs once per seed."""
    losses: dict[str, dict[str, float]]
    """Per-method loss parameters (e.g. logconf's alpha_max, warmup_frac); `{}` for none."""
    prepare: PrepareParams
    """The pool of rows every seed draws from (stage `prepare`)."""
    embed: EmbedParams
    """Frozen features of every pool row (stage `embed`)."""
    train: TrainParams
    """The trainer of `train_gt` and `train_w2s` (and of the bootstrap hops)."""
    analyze: AnalyzeParams
    """Intervals of the metrics table (stage `analyze`)."""
    bootstrap: BootstrapParams = BootstrapParams()
    """Bootstrapping chains (stage `bootstrap`)."""
    genft: GenftParams = GenftParams()
    """Generative finetuning (stage `genft`, run by studies/decoder/dvc.yaml)."""
    saliency: SaliencyParams = SaliencyParams()
    """Concept saliency (stage `saliency`)."""
    report: ReportParams = ReportParams()
    """Rendering of the reports (stage `report`)."""
    sensitivity: SensitivityParams = SensitivityParams()
    """PGR against the probes' regularisation (stage `sensitivity`)."""
    chess: ChessParams = ChessParams()
    """The chess puzzle tasks' source and the generated puzzle sets (stage `chess_puzzles`)."""

    def model_spec(self, model: str) -> ModelSpec:
        """Hub id and revision of model key `model` (an adapted `genft` key: those of its base, whose
        tokenizer and architecture it keeps)."""
        if model in self.genft.models:
            return self.model_spec(self.genft.models[model])
        if model not in self.models:
            raise InputError(f"params.yaml: unknown model key {model!r}; known: {', '.join(self.models)}")
        spec = self.models[model]
        return ModelSpec(id=spec) if isinstance(spec, str) else spec

    def hub_id(self, model: str) -> str:
        """The Hugging Face hub id of model key `model`."""
        return self.model_spec(model).id


# ---------------------------------------------------------------------------------------- messages

_TYPE_NAMES = {"int_type": "int", "float_type": "float", "string_type": "str", "bool_type": "bool",
               "list_type": "a list", "dict_type": "a mapping", "model_type": "a mapping",
               "model_attributes_type": "a mapping", "none_required": "null"}


def _section_key(cls: type[BaseModel]) -> str:
    """The params key of section class `cls` (`train` for TrainParams); '' for one that is not a section."""
    return next((name for name, f in Params.model_fields.items() if f.annotation is cls), "")


def _walk(data: Any, loc: Sequence[int | str], missing: bool) -> tuple[list[int | str], Any]:
    """The part of pydantic's error location `loc` that exists in `data` (a union's member tags such as
    `float` or `ModelSpec` are not keys: skipped), and the value there; a `missing` key is kept last."""
    path: list[int | str] = []
    node = data
    for i, part in enumerate(loc):
        if isinstance(node, Mapping) and part in node:
            node = node[part]
        elif isinstance(node, list) and isinstance(part, int) and 0 <= part < len(node):
            node = node[part]
        elif missing and i == len(loc) - 1 and isinstance(node, Mapping):
            path.append(part)
            break
        elif isinstance(node, Mapping | list):
            continue
        else:
            break
        path.append(part)
    return path, node


def _key_path(prefix: str, path: Sequence[int | str]) -> str:
    out = prefix
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def _annotation_at(cls: Any, path: Sequence[int | str]) -> tuple[Any, list[Any]]:
    """The type and the constraints (pydantic metadata) at key `path` below model `cls`."""

    def unwrap(tp: Any, meta: list[Any]) -> tuple[Any, list[Any]]:
        while True:
            if get_origin(tp) in (typing.Union, types.UnionType):  # the member that holds keys or bounds
                members = [a for a in get_args(tp) if a is not type(None)]
                tp = next((a for a in members if get_origin(a) in (list, dict, Annotated)
                           or isinstance(a, type) and issubclass(a, BaseModel)), members[0])
            elif get_origin(tp) is Annotated:
                tp, *extra = get_args(tp)
                meta = [*meta, *(m for e in extra for m in (e.metadata if isinstance(e, FieldInfo) else [e]))]
            else:
                return tp, meta

    tp: Any = cls
    meta: list[Any] = []
    for part in path:
        if isinstance(tp, type) and issubclass(tp, BaseModel) and isinstance(part, str) and part in tp.model_fields:
            field = tp.model_fields[part]
            tp, meta = unwrap(field.annotation, list(field.metadata))
        elif get_origin(tp) in (list, dict):
            tp, meta = unwrap(get_args(tp)[-1], [])
        else:
            return None, []
    return tp, meta


def _rule(meta: Sequence[Any]) -> str:
    """A range in words from pydantic constraints: `positive`, `in (0, 1)`, `>= 2`, `a positive even number`."""
    b = {k: getattr(m, k) for m in meta for k in ("gt", "ge", "lt", "le", "multiple_of") if hasattr(m, k)}
    low = ("(", b["gt"]) if "gt" in b else ("[", b["ge"]) if "ge" in b else None
    high = (")", b["lt"]) if "lt" in b else ("]", b["le"]) if "le" in b else None
    if b.get("multiple_of") == 2 and b.get("gt") == 0:
        return "a positive even number (balanced classes)"
    if low and high:
        return f"in {low[0]}{low[1]}, {high[1]}{high[0]}"
    if low:
        return "positive" if low == ("(", 0) else f"{'>' if low[0] == '(' else '>='} {low[1]}"
    if high:
        return f"{'<' if high[0] == ')' else '<='} {high[1]}"
    return "in range"


def describe(err: ValidationError, data: Any, cls: type[BaseModel], prefix: str = "") -> str:
    """One line for the first problem pydantic found in `data`: the key path and what is allowed."""
    errors = err.errors(include_url=False)
    paths = [_walk(data, e["loc"], e["type"] == "missing")[0] for e in errors]
    # the first problem; of a union's members, the one that reached deepest into the value (a mapping given
    # for `str | ModelSpec` is reported by ModelSpec's error, not by "expected str")
    same = [i for i, p in enumerate(paths) if p[:len(paths[0])] == paths[0]]
    first = errors[max(same, key=lambda i: len(paths[i]))]
    path, value = _walk(data, first["loc"], first["type"] == "missing")
    where = _key_path(prefix, path)
    kind, at = first["type"], f"{_key_path(prefix, path)}: " if where else ""
    if "[key]" in first["loc"]:
        key = first["loc"][first["loc"].index("[key]") - 1]
        return f"{_key_path(prefix, path[:-1] if path and path[-1] == key else path)}: key {key!r} must be a string"
    if kind == "missing":
        return f"{where}: missing (required)"
    if kind == "extra_forbidden":
        allowed = getattr(_annotation_at(cls, path[:-1])[0], "model_fields", {})
        return f"{_key_path(prefix, path[:-1]) or 'params'}: unknown key {path[-1]!r}; allowed: {', '.join(allowed)}"
    if kind in _TYPE_NAMES:  # a union reports once per member: name them all
        names = [_TYPE_NAMES.get(e["type"], e["type"]) for e, p in zip(errors, paths, strict=True) if p == path]
        return f"{at}expected {' or '.join(dict.fromkeys(names))}, got {type(value).__name__} {value!r}"
    if kind == "literal_error":
        return f"{at}must be one of {first['ctx']['expected'].replace(' or ', ', ')}, got {value!r}"
    if kind == "finite_number":
        return f"{at}must be a finite number, got {value}"
    if kind in ("greater_than", "greater_than_equal", "less_than", "less_than_equal", "multiple_of"):
        return f"{at}must be {_rule(_annotation_at(cls, path)[1])}, got {value!r}"
    if kind == "too_short":
        return f"{at}must not be empty"
    if kind == "string_pattern_mismatch":
        return f"{at}{value!r} must match {first['ctx']['pattern']}"
    if first["type"] == "value_error":  # a validator's own message, without pydantic's "Value error, " prefix
        return f"{at}{first['ctx']['error']}"
    return f"{at}{first['msg']}"


# ---------------------------------------------------------------------------------------- cross-field rules


def validate(p: Params, known_tasks: tuple[str, ...], known_losses: tuple[str, ...]) -> None:
    """Cross-field checks that the types alone cannot express."""
    from w2s.validate import check_params

    check_params(p, known_tasks)  # names, non-empty lists, loss parameters: before anything reaches DVC
    for task in p.tasks:
        if task not in known_tasks and task not in p.data.file_tasks:
            raise InputError(
                f"tasks: unknown task {task!r}; built-in: {', '.join(known_tasks)}"
                + (f"; file tasks: {', '.join(p.data.file_tasks)}" if p.data.file_tasks else "")
            )
    if p.data.source == "local" and not p.data.local_dir:
        raise InputError("data.local_dir: required when data.source is 'local'")
    for i, model in enumerate(p.ladder):
        if model not in p.models and model not in p.genft.models:
            raise InputError(f"ladder[{i}]: unknown model key {model!r}; known (models): {', '.join(p.models)}")
    if len(set(p.ladder)) != len(p.ladder):
        raise InputError(f"ladder: a model is listed twice: {p.ladder}")
    rank = {m: i for i, m in enumerate(p.ladder)}
    for i, pair in enumerate(p.pairs):
        for role in ("weak", "strong"):
            if getattr(pair, role) not in rank:
                raise InputError(f"pairs[{i}].{role}: {getattr(pair, role)!r} is not in the ladder {p.ladder}")
        if rank[pair.weak] >= rank[pair.strong]:
            raise InputError(f"pairs[{i}]: {pair.name} does not go up the ladder {p.ladder}")
    for method in p.methods:
        if method not in known_losses:
            raise InputError(f"methods: unknown method {method!r}; known: {', '.join(known_losses)}")
        if method not in p.losses:
            raise InputError(f"losses.{method}: missing (use {{}} for a loss without parameters)")
    for name in p.losses:
        if name not in known_losses:
            raise InputError(f"losses: unknown loss {name!r}; known: {', '.join(known_losses)}")
    if not p.seeds or len(set(p.seeds)) != len(p.seeds):
        raise InputError(f"seeds: need at least one seed and no repeats, got {p.seeds}")
    check_data(p)
    check_train(p.train)
    check_bootstrap_genft(p)
    check_saliency(p)
    check_chess(p)


def check_chess(p: Params) -> None:
    """Section `chess`: a chess task listed with `source: generated` reads a set of `chess.generate`; a
    `file` source has its path; difficulty budgets increase below `nodes`."""
    from w2s.puzzles import CHESS_TASKS

    c = p.chess
    listed = [t for t in p.tasks if t in CHESS_TASKS]
    if listed and c.source == "generated" and c.set not in c.generate:
        raise InputError(f"chess.set: {c.set!r} is not a key of chess.generate (task {listed[0]} reads it); add "
                         f"`{c.set}: {{}}` there, or set chess.source: file with chess.path")
    if listed and c.source == "file" and not c.path:
        raise InputError("chess.path: required when chess.source is file (a Lichess puzzle CSV or slice)")
    for name, g in c.generate.items():
        budgets = g.difficulty_nodes
        if any(a >= b for a, b in zip(budgets, budgets[1:], strict=False)) or (budgets and budgets[-1] >= g.nodes):
            raise InputError(f"chess.generate.{name}.difficulty_nodes: must increase and stay below nodes "
                             f"({g.nodes}), got {budgets}")


def check_data(p: Params) -> None:
    """`data.task_options` and `data.file_tasks` name real tasks, sides and choices; `prepare.per_task`
    names tasks that run. (Whether a task has the rows is checked where its data is read.)"""
    from w2s.tasks import TASKS, TRUNCATION_SIDES, check_file_task

    for task, options in p.data.task_options.items():
        if task not in TASKS:
            is_file = task in p.data.file_tasks
            hint = f"; for file task {task!r} set data.file_tasks.{task}.truncation" if is_file else ""
            raise InputError(f"data.task_options: unknown built-in task {task!r}; built-in: {', '.join(TASKS)}{hint}")
        if options.truncation is not None and options.truncation not in TRUNCATION_SIDES:
            raise InputError(f"data.task_options.{task}.truncation: unknown {options.truncation!r}; "
                             f"allowed: {', '.join(TRUNCATION_SIDES)}")
        allowed = TASKS[task].negatives
        if options.negatives is not None and options.negatives not in allowed:
            choices = ", ".join(allowed) if allowed else "none (the task has one procedure; leave it unset)"
            raise InputError(f"data.task_options.{task}.negatives: unknown {options.negatives!r}; allowed: {choices}")
        check_classes(task, options.positive, options.negative)
    for name, ft in p.data.file_tasks.items():
        check_file_task(name, ft)
    for task in p.prepare.per_task:
        if task not in p.tasks:
            raise InputError(f"prepare.per_task: {task!r} is not in tasks ({', '.join(p.tasks)})")


def check_classes(task: str, positive: str | None, negative: str | None) -> None:
    """`data.task_options.<task>.positive / negative` name classes of a multi-class task (ag_news)."""
    from w2s.tasks import TASKS, binary_classes

    if TASKS[task].classes:
        binary_classes(task, positive, negative)
        return
    for key, value in (("positive", positive), ("negative", negative)):
        if value is not None:
            raise InputError(f"data.task_options.{task}.{key}: {task} is a binary task; leave it unset "
                             "(only multi-class tasks, e.g. ag_news, take positive / negative)")


def check_saliency(p: Params) -> None:
    """Section `saliency`: named models exist (a typo stops here). Whether the models are in the ladder is
    the stage's business: a study with another ladder skips saliency, it does not fail."""
    s = p.saliency
    for key, value in (("saliency.model", s.model), ("saliency.weak", s.weak)):
        if value is not None and value not in p.models:
            raise InputError(f"{key}: unknown model key {value!r}; known (models): {', '.join(p.models)}")
    if s.seeds is not None and (not s.seeds or len(set(s.seeds)) != len(s.seeds)):
        raise InputError(f"saliency.seeds: a non-empty list without repeats, or null (every seed), got {s.seeds}")


def check_bootstrap_genft(p: Params) -> None:
    """Sections `bootstrap` and `genft`: chains go up the ladder, adapted keys start from known models."""
    rank = {m: i for i, m in enumerate(p.ladder)}
    for i, chain in enumerate(p.bootstrap.chains):
        models = p.bootstrap.models(chain)
        if len(models) < 2:
            raise InputError(f"bootstrap.chains[{i}]: {chain!r} needs at least two models joined by '{CHAIN_SEP}'")
        for model in models:
            if model not in rank:
                raise InputError(f"bootstrap.chains[{i}]: {model!r} is not in the ladder {p.ladder}")
        if any(rank[a] >= rank[b] for a, b in zip(models, models[1:], strict=False)):
            raise InputError(f"bootstrap.chains[{i}]: {chain!r} does not go up the ladder {p.ladder}")
    if p.bootstrap.chains and p.bootstrap.method not in p.methods:
        raise InputError(f"bootstrap.method: {p.bootstrap.method!r} is not one of methods {p.methods}")
    for key, base in p.genft.models.items():
        if key in p.models:
            raise InputError(f"genft.models: {key!r} is already a key of models; name the adapted model apart")
        if base not in p.models:
            raise InputError(f"genft.models.{key}: base {base!r} is not a key of models ({', '.join(p.models)})")


def check_train(t: TrainParams) -> None:
    """What the types of `TrainParams` cannot say (also called by `w2s.train.fit`): `probe_c` is a positive
    number or `cv`, and a `cv` grid fits its folds. Errors name the key."""
    if t.probe_c != "cv" and not (isinstance(t.probe_c, float) and t.probe_c > 0):
        hint = ""
        if isinstance(t.probe_c, str):
            try:
                float(t.probe_c)
                hint = " (YAML reads 1e-2 as text: write 0.01 or 1.0e-2)"
            except ValueError:
                pass
        raise InputError(f"train.probe_c: must be a positive number or 'cv', got {t.probe_c!r}{hint}")
    if t.probe_c == "cv":
        from w2s.probe import check_grid

        check_grid(t.probe_c_grid, t.probe_cv_folds)


# ---------------------------------------------------------------------------------------- loading


def parse_params(raw: Any, where: str = "params.yaml") -> Params:
    """Build and validate `Params` from an already-parsed YAML mapping; errors start with `where: `."""
    from w2s.loss_params import LOSS_PARAMS  # the names without the torch functions
    from w2s.tasks import KNOWN_TASKS

    try:
        params = Params.model_validate(raw)
        validate(params, KNOWN_TASKS, tuple(LOSS_PARAMS))
    except ValidationError as err:
        raise InputError(f"{where}: {describe(err, raw, Params)}") from None
    except InputError as err:
        raise InputError(f"{where}: {err}") from None
    return params


def load_params(path: str | Path = "params.yaml") -> Params:
    """Read, type-check and validate params.yaml."""
    path = Path(path)
    if not path.is_file():
        raise InputError(f"{path}: params file not found")
    try:
        raw = yaml.safe_load(path.read_text())
    except yaml.YAMLError as err:
        raise InputError(f"{path}: not valid YAML ({str(err).splitlines()[0]})") from None
    return parse_params(raw, str(path))


def json_schema() -> str:
    """The JSON Schema of params.yaml (draft 2020-12, pydantic's), as committed in params.schema.json."""
    schema = {"$schema": "https://json-schema.org/draft/2020-12/schema", **Params.model_json_schema()}
    schema["title"] = "w2s-lab params.yaml"
    return json.dumps(schema, indent=2, ensure_ascii=False) + "\n"


def main(argv: Sequence[str] | None = None) -> None:
    """`python -m w2s.config --schema` prints the JSON Schema; `--write-schema [PATH]` writes it
    (default params.schema.json, the file params.yaml's first line names for editors)."""
    p = argparse.ArgumentParser(prog="python -m w2s.config", description=main.__doc__)
    group = p.add_mutually_exclusive_group(required=True)
    group.add_argument("--schema", action="store_true", help="print the JSON Schema of params.yaml")
    group.add_argument("--write-schema", nargs="?", const=SCHEMA_FILE, metavar="PATH",
                       help=f"write the JSON Schema to PATH (default {SCHEMA_FILE})")
    args = p.parse_args(argv)
    if args.schema:
        sys.stdout.write(json_schema())
    else:
        Path(args.write_schema).write_text(json_schema())


if __name__ == "__main__":
    main()
