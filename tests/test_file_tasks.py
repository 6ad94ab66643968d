"""Your own data in every shape (`data.file_tasks`, docs/your-data.md): a text template over several
columns, a separate test file, multiple-choice questions through the shared `format_choice`, group
columns, and an imbalanced file (`balance: downsample` / `natural`), each on a small fixture in
tests/fixtures/. Each bad input is one line naming the file, row and column."""

from __future__ import annotations

from pathlib import Path

import polars as pl
import pytest
from test_tasks import raises

from w2s.config import load_params
from w2s.splits import build_pool, quotas, split_train
from w2s.tasks import FileTask, check_file_task, format_choice, load_task, stable_rng

FIXTURES = Path(__file__).parent / "fixtures"
QUIZ, QUIZ_LIST = str(FIXTURES / "quiz.csv"), str(FIXTURES / "quiz.jsonl")
QA_TRAIN, QA_TEST = str(FIXTURES / "qa_train.csv"), str(FIXTURES / "qa_test.csv")
QA_TEMPLATE = "Question: {question}\nAnswer: {answer}"


def load(task: FileTask, seed: int = 0) -> dict[str, pl.DataFrame]:
    out = load_task("mine", source="hub", local_dir=None, seed=seed, file_tasks={"mine": task})
    for frame in out.values():
        assert frame.schema == pl.Schema({"text": pl.Utf8, "label": pl.Int8, "group": pl.Utf8})
    return out


# --- text_template ------------------------------------------------------------------------------------


def test_text_template_joins_columns() -> None:
    out = load(FileTask(QA_TRAIN, label_column="correct", text_template=QA_TEMPLATE))
    assert list(out) == ["train"]
    assert out["train"]["text"][1] == "Question: Do fish breathe air through lungs?\nAnswer: yes"
    assert out["train"]["label"].to_list() == [1, 0, 1, 0]
    assert out["train"]["group"].equals(out["train"]["text"], check_names=False)


def test_text_template_errors(tmp_path: Path) -> None:
    raises(lambda: load(FileTask(QA_TRAIN, label_column="correct", text_template="{question} {reply}")),
           "data.file_tasks.mine.text_template", QA_TRAIN, "no column 'reply'", "has: question, answer, correct")
    for bad in ("{question!r}", "{question.upper}", "{0}x{", "{}"):
        raises(lambda bad=bad: check_file_task("mine", FileTask(QA_TRAIN, label_column="y", text_template=bad)),
               "data.file_tasks.mine")
    holes = tmp_path / "holes.csv"
    holes.write_text("question,answer,correct\nq1,a1,1\nq2,,0\n")
    raises(lambda: load(FileTask(str(holes), label_column="correct", text_template=QA_TEMPLATE)),
           str(holes), "column 'answer'", "null in 1", "row 1")


# --- test_path ----------------------------------------------------------------------------------------


def test_test_path_is_the_test_split() -> None:
    out = load(FileTask(QA_TRAIN, label_column="correct", text_template=QA_TEMPLATE, test_path=QA_TEST))
    assert sorted(out) == ["test", "train"]
    assert out["test"]["text"].to_list() == [f"Question: Is {what} cold?\nAnswer: yes" for what in ("ice", "fire")]
    pool = build_pool(out, n_train=4, n_test=2, seed=0, task="mine")
    test = pool.filter(pl.col("part") == "test")
    assert sorted(test["text"]) == sorted(out["test"]["text"])  # used as it is, not carved from the train file
    assert pool.filter(pl.col("part") == "train").height == 4


def test_test_path_with_other_columns(tmp_path: Path) -> None:
    other = tmp_path / "test.csv"
    other.write_text("question,reply,correct\nq,a,1\n")
    raises(lambda: load(FileTask(QA_TRAIN, label_column="correct", text_template=QA_TEMPLATE, test_path=str(other))),
           "data.file_tasks.mine.test_path", str(other), QA_TRAIN, "'reply' is only in")


# --- multiple choice ----------------------------------------------------------------------------------


def test_multiple_choice_columns_use_the_shared_formatter() -> None:
    """Each question becomes one row exactly as `format_choice` makes it, with the generator the built-in
    tasks use for (seed, task, split); the prompt is the group (one group per question)."""
    task = FileTask(QUIZ, text_template="{question}", choices_columns=["a", "b", "c"], answer_column="answer")
    out = load(task, seed=3)["train"]
    raw = pl.read_csv(QUIZ)
    rng = stable_rng(3, "format", "mine", "train")
    expected = [format_choice(r["question"], [r["a"], r["b"], r["c"]], r["answer"], rng)
                for r in raw.iter_rows(named=True)]
    assert out.select("text", "label").rows() == expected
    assert out["group"].to_list() == raw["question"].to_list()
    assert set(out["label"]) == {0, 1}
    grouped = load(FileTask(QUIZ, text_column="question", choices_columns=["a", "b", "c"], answer_column="answer",
                            group_column="topic"), seed=3)["train"]
    assert grouped["group"].to_list() == raw["topic"].to_list()
    assert grouped["text"].equals(out["text"])


def test_multiple_choice_list_column_drops_unanswered_rows() -> None:
    out = load(FileTask(QUIZ_LIST, "question", choices_columns=["choices"], answer_column="answer"))["train"]
    assert out.height == 3
    first = out["text"][0]
    assert first.startswith("What is the chemical symbol for gold?\nAnswer: ")
    assert first.endswith("Au") == (out["label"][0] == 1)


@pytest.mark.parametrize(("rows", "culprits"), [
    ("q1,x,y,1\nq2,x,y,2\n", ["row 1", "column 'answer'", "answer index 2", "0..1"]),
    ("q1,x,y,-1\n", ["row 0", "column 'answer'", "answer index -1"]),
    ("q1,x,y,one\n", ["row 0", "column 'answer'", "'one' is not an integer"]),
    ("q1,x,y,0.5\n", ["row 0", "column 'answer'", "0.5 is not an integer"]),
], ids=["out-of-range", "negative", "word", "fraction"])
def test_multiple_choice_bad_answer(tmp_path: Path, rows: str, culprits: list[str]) -> None:
    path = tmp_path / "quiz.csv"
    path.write_text("question,a,b,answer\n" + rows)
    raises(lambda: load(FileTask(str(path), "question", choices_columns=["a", "b"], answer_column="answer")),
           str(path), *culprits)


@pytest.mark.parametrize(("fields", "culprit"), [
    ({"text_column": "q", "text_template": "{q}", "label_column": "y"}, "exactly one of text_column"),
    ({"label_column": "y"}, "exactly one of text_column"),
    ({"text_column": "q"}, "set label_column"),
    ({"text_column": "q", "choices_columns": ["a"]}, "both choices_columns and answer_column"),
    ({"text_column": "q", "choices_columns": ["a"], "answer_column": "k", "label_column": "y"}, "remove label_column"),
    ({"text_column": "q", "label_column": "y", "balance": "smote"}, "balance"),
])
def test_file_task_fields_fit_together(tmp_path: Path, fields: dict[str, object], culprit: str) -> None:
    """A contradiction in params stops at params validation, naming the key."""
    import yaml

    raw = yaml.safe_load((Path(__file__).parents[1] / "params.yaml").read_text())
    raw["data"]["file_tasks"] = {"mine": {"path": "x.csv", **fields}}
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(raw))
    raises(lambda: load_params(tmp_path / "params.yaml"), "data.file_tasks.mine", culprit)


# --- imbalance ----------------------------------------------------------------------------------------


def imbalanced(n0: int, n1: int) -> dict[str, pl.DataFrame]:
    return {"train": pl.DataFrame({"text": [f"row {i}" for i in range(n0 + n1)], "label": [0] * n0 + [1] * n1})}


def test_downsample_says_the_largest_sizes_that_fit() -> None:
    """The issue's held-out file, 1,368 negatives and 2,407 positives, at the default sizes: the test
    draw takes 400 of each, leaving 968 negatives, so n_train 1936 is the most that fits."""
    message = raises(lambda: build_pool(imbalanced(1368, 2407), n_train=2000, n_test=800, seed=0, task="mine",
                                        balance="downsample"),
                     "968 rows of label 0", "prepare.n_train=2000 needs 1000 of each",
                     "prepare.per_task: {mine: {n_train: 1936}}", "data.file_tasks.mine.balance: natural")
    built_in = raises(lambda: build_pool(imbalanced(1368, 2407), n_train=2000, n_test=800, seed=0, task="mine"),
                      "{mine: {n_train: 1936}}")
    assert built_in == message.split("; or, for a file task")[0]  # a built-in task has no balance choice
    pool = build_pool(imbalanced(1368, 2407), n_train=1936, n_test=800, seed=0, task="mine")
    assert pool.group_by("part", "label").len().sort("part", "label")["len"].to_list() == [400, 400, 968, 968]


def test_natural_keeps_the_label_rate() -> None:
    pool = build_pool(imbalanced(1368, 2407), n_train=2000, n_test=800, seed=0, task="mine", balance="natural")
    counts = dict(pool.group_by("part", "label").len().select(pl.concat_str("part", "label"), "len").rows())
    assert counts == {"test0": 290, "test1": 510, "train0": 725, "train1": 1275}
    assert quotas({0: 1368, 1: 2407}, 800, "natural") == {0: 290, 1: 510}
    assert quotas({0: 1, 1: 999}, 10, "natural") == {0: 1, 1: 9}  # both labels, always
    parts = split_train(pool, seed=0).join(pool.select("id", "label"), on="id")
    weak = parts.filter(pl.col("part") == "train_weak")["label"]
    assert (int((weak == 0).sum()), int((weak == 1).sum())) == (363, 638)  # the pool's rate in both parts
    raises(lambda: build_pool(imbalanced(30, 70), n_train=100, n_test=20, seed=0, task="mine", balance="natural"),
           "prepare.n_train=100", "(the split's label rate)", "{mine: {n_train: 80}}")


def test_split_train_is_unchanged_on_balanced_pools() -> None:
    """Stratifying by label draws the same parts as the former k-of-each rule when labels are balanced."""
    pool = build_pool(imbalanced(60, 60), n_train=80, n_test=20, seed=0)
    parts = split_train(pool, seed=5, weak_fraction=0.3).join(pool.select("id", "label"), on="id")
    weak = parts.filter(pl.col("part") == "train_weak")
    assert weak.group_by("label").len().sort("label")["len"].to_list() == [12, 12]


# --- the documented examples --------------------------------------------------------------------------


@pytest.mark.parametrize("page", ["README.md", "docs/your-data.md"])
def test_documented_file_tasks_load(page: str, tmp_path: Path) -> None:
    """The YAML example of each page passes params validation and every task in it loads from its fixture."""
    import re

    import yaml

    root = Path(__file__).parents[1]
    block = next(b for b in re.findall(r"```yaml\n(.*?)```", (root / page).read_text(), re.S) if "file_tasks" in b)
    example = yaml.safe_load(block)
    raw = yaml.safe_load((root / "params.yaml").read_text())
    raw["data"]["file_tasks"] = example["data"]["file_tasks"]
    raw["tasks"] = example["tasks"]
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(raw))
    params = load_params(tmp_path / "params.yaml")
    assert {"my_qa", "my_quiz", "my_skewed"} <= set(params.data.file_tasks)
    for name, fields in params.data.file_tasks.items():
        task = FileTask(**{**fields.model_dump(), "path": str(root / fields.path),
                           "test_path": fields.test_path and str(root / fields.test_path)})
        out = load_task(name, source="hub", local_dir=None, seed=0, file_tasks={name: task})
        assert all(frame.height >= 2 for frame in out.values()), name
    assert params.data.file_tasks["my_qa"].text_template == "Question: {question}\nAnswer: {answer}"
