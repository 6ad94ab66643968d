"""Bad input stops a real stage script with one clear line, a non-zero exit and no partial output.

Each case runs the stage script itself (`python stages/<stage>.py ...`, as DVC would) in a throwaway
copy of the lab, and checks: exit status 2 (`w2s.cli.run`), exactly one `error: ...` line on stderr
that names the culprit and where it is (file and line, params key, column, row id), no traceback, and
no file added or changed in the lab. Each family of cases also has a positive control (the same
command on good input succeeds), so a refusal cannot come from a broken test set-up.

The cases that need real pretrained models or DVC itself live in tests/integration/test_bad_input_stages.py.
"""

from __future__ import annotations

import math
import sys
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
import pytest
from lab import copy_lab, files, run, small_params, write_params

from w2s.io import write_features


@pytest.fixture
def lab(tmp_path: Path, data_dir: Path) -> Path:
    return copy_lab(tmp_path / "lab", small_params(data_dir), init=False)


def params_of(lab: Path) -> dict[str, Any]:
    import yaml

    return yaml.safe_load((lab / "params.yaml").read_text())


def refused(lab: Path, *cmd: str, needles: tuple[str, ...]) -> str:
    """Run a stage; assert it refuses cleanly and leaves the lab as it was. Returns the error line."""
    before = {f: (lab / f).stat().st_mtime_ns for f in files(lab)}
    done = run(lab, sys.executable, *cmd, check=False)
    errors = [line for line in done.stderr.splitlines() if line.startswith("error:")]
    assert done.returncode == 2, f"exit {done.returncode}\n{done.stdout}\n{done.stderr}"
    assert len(errors) == 1, done.stderr
    assert "Traceback" not in done.stderr, done.stderr
    for needle in needles:
        assert needle in errors[0], (needle, errors[0])
    after = {f: (lab / f).stat().st_mtime_ns for f in files(lab)}
    assert after == before, f"the failed stage left files behind: {sorted(set(after) ^ set(before))}"
    print(f"{' '.join(cmd[:1])}: {errors[0]}")
    return errors[0]


def prepare(task: str) -> tuple[str, ...]:
    return ("stages/prepare.py", "--task", task, "--out", f"data/prepared/{task}.parquet")


# --- params.yaml -------------------------------------------------------------------------------


def edit(lab: Path, change: Any) -> None:
    params = params_of(lab)
    change(params)
    write_params(lab, params)


@pytest.mark.parametrize(("change", "needles"), [
    (lambda p: p["train"].update(lrr=0.1), ("params.yaml", "train: unknown key 'lrr'", "allowed:")),
    (lambda p: p["train"].update(lr="fast"), ("params.yaml", "train.lr", "expected float", "'fast'")),
    (lambda p: p.update(tasks=["sst2", "sst3"]), ("params.yaml", "tasks", "unknown task 'sst3'")),
    (lambda p: p.update(ladder=["minilm_l3", "minilm_l9"]), ("params.yaml", "ladder[1]", "'minilm_l9'")),
    (lambda p: p.update(methods=["xent", "xentt"]), ("params.yaml", "methods", "unknown method 'xentt'")),
    (lambda p: p["losses"]["logconf"].update(alpha_max="high"), ("params.yaml", "losses.logconf.alpha_max")),
    (lambda p: p["data"].update(task_options={"sciq": {"negatives": "random"}}),
     ("params.yaml", "data.task_options.sciq.negatives", "'random'", "other_answer, distractors")),
    (lambda p: p["data"].update(task_options={"boolq": {"truncation": "middle"}}),
     ("params.yaml", "data.task_options.boolq.truncation", "'middle'", "allowed: left, right")),
    (lambda p: p["prepare"].update(per_task={"sst2": {"n_test": 7}}), ("params.yaml", "prepare.per_task.sst2.n_test")),
], ids=["typo", "wrong-type", "unknown-task", "unknown-model-in-ladder", "unknown-method",
        "wrong-type-loss-param", "unknown-variant", "unknown-truncation-side", "odd-task-size"])
def test_bad_params_stop_every_stage(lab: Path, change: Any, needles: tuple[str, ...]) -> None:
    edit(lab, change)
    refused(lab, *prepare("sst2"), needles=needles)


def test_params_not_yaml(lab: Path) -> None:
    (lab / "params.yaml").write_text("train: {lr: 0.1\n")
    refused(lab, *prepare("sst2"), needles=("params.yaml", "not valid YAML"))


def test_unknown_keys_on_the_command_line(lab: Path) -> None:
    refused(lab, *prepare("sst3"), needles=("--task 'sst3' is not in params.yaml tasks",))
    refused(lab, "stages/embed.py", "--task", "sst2", "--model", "minilm_l9", "--pool", "data/prepared/sst2.parquet",
            "--out", "data/features/sst2/minilm_l9.safetensors", "--metrics", "metrics/truncation/sst2/minilm_l9.json",
            needles=("--model 'minilm_l9'", "params.yaml ladder"))


# --- data files --------------------------------------------------------------------------------


def file_task(lab: Path, name: str, content: str | bytes | None, label_column: str = "label") -> None:
    """Point params at a file task `mine` read from data/raw/<name> (written unless content is None)."""
    path = lab / "data" / "raw" / name
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(content, bytes):
        path.write_bytes(content)
    elif content is not None:
        path.write_text(content)
    params = params_of(lab)
    params["data"]["file_tasks"] = {"mine": {"path": f"data/raw/{name}", "text_column": "text",
                                             "label_column": label_column}}
    params["tasks"] = ["mine"]
    write_params(lab, params)


def good_csv(n: int = 400) -> str:
    return "text,label\n" + "".join(f"review number {i},{i % 2}\n" for i in range(n))


def test_good_file_task_is_prepared(lab: Path) -> None:
    """Positive control for the data-file cases below: the same set-up with a valid file succeeds."""
    file_task(lab, "mine.csv", good_csv())
    run(lab, sys.executable, *prepare("mine"))
    pool = pl.read_parquet(lab / "data/prepared/mine.parquet")
    assert pool.height == 300


@pytest.mark.parametrize(("name", "content", "needles"), [
    ("mine.csv", None, ("data/raw/mine.csv", "file not found")),
    ("mine.csv", "", ("data/raw/mine.csv", "file is empty")),
    ("mine.jsonl", '{"text": "a", "label": 1}\n{"text": "b", "label": 0\n', ("data/raw/mine.jsonl:2", "cannot read")),
    ("mine.json", '[{"text": "a", "label": 1}, ', ("data/raw/mine.json", "cannot read as .json")),
    ("mine.csv", "text,label\na,1\nb,0,extra\n", ("data/raw/mine.csv:3", "cannot read as .csv")),
    ("mine.parquet", b"PAR1 this is not parquet", ("data/raw/mine.parquet", "cannot read as .parquet")),
    ("mine.csv", "text,label\n" + "".join(f"r{i},{i % 3}\n" for i in range(30)),
     ("data/raw/mine.csv", "column 'label'", "expected 2 distinct labels, found 3")),
    ("mine.csv", "text,label\n" + "".join(f"r{i},{['yes', 'no'][i % 2]}\n" for i in range(30)),
     ("data/raw/mine.csv", "column 'label'", "not 0/1 or bool", "positive_value")),
    ("mine.csv", "text,stars\na,1\nb,0\n", ("data/raw/mine.csv", "no column 'label'")),
    ("mine.csv", "text,label\na,1\n,0\n", ("data/raw/mine.csv", "column 'text'", "row 1")),
], ids=["missing", "empty", "bad-jsonl", "bad-json", "bad-csv", "bad-parquet", "label-3-values",
        "label-strings", "no-label-column", "null-text"])
def test_bad_data_file(lab: Path, name: str, content: str | bytes | None, needles: tuple[str, ...]) -> None:
    file_task(lab, name, content)
    refused(lab, *prepare("mine"), needles=needles)


def test_group_column_the_file_lacks(lab: Path) -> None:
    file_task(lab, "mine.csv", good_csv())
    edit(lab, lambda p: p["data"]["file_tasks"]["mine"].update(group_column="doc_id"))
    refused(lab, *prepare("mine"), needles=("data.file_tasks.mine.group_column", "'doc_id'", "has: text, label"))


def shaped_task(lab: Path, files_: dict[str, str], **fields: Any) -> None:
    """Point params at a file task `mine` with `fields` (paths under data/raw/), writing `files_` there."""
    for name, content in files_.items():
        (lab / "data" / "raw").mkdir(parents=True, exist_ok=True)
        (lab / "data" / "raw" / name).write_text(content)
    edit(lab, lambda p: p.update(tasks=["mine"]) or p["data"].update(file_tasks={"mine": fields}))


QUIZ = "question,a,b,answer,doc\n" + "".join(f"question {i},yes {i},no {i},{i % 2},d{i // 4}\n" for i in range(400))
MC = {"path": "data/raw/quiz.csv", "text_template": "Q: {question}", "choices_columns": ["a", "b"],
      "answer_column": "answer"}


def test_good_shaped_file_task_is_prepared(lab: Path) -> None:
    """Positive control for the cases below: multiple choice, a template, a test file and a group column."""
    test = "question,a,b,answer,doc\n" + "".join(f"held {i},yes {i},no {i},{i % 2},h{i}\n" for i in range(60))
    shaped_task(lab, {"quiz.csv": QUIZ, "held.csv": test}, **MC, test_path="data/raw/held.csv", group_column="doc")
    edit(lab, lambda p: p["prepare"].update(n_test=40))
    run(lab, sys.executable, *prepare("mine"))
    pool = pl.read_parquet(lab / "data/prepared/mine.parquet")
    assert pool.filter(pl.col("part") == "test")["text"].str.starts_with("Q: held ").all()
    assert pool.height == 240


@pytest.mark.parametrize(("fields", "test_file", "needles"), [
    ({**MC, "text_template": "Q: {question} ({topic})"}, None,
     ("data.file_tasks.mine.text_template", "data/raw/quiz.csv", "no column 'topic'")),
    ({**MC, "test_path": "data/raw/held.csv"}, "question,a,b,c,answer,doc\nq,x,y,z,0,d\n",
     ("data.file_tasks.mine.test_path", "data/raw/held.csv", "'c' is only in")),
    ({**MC, "path": "data/raw/held.csv"}, "question,a,b,answer,doc\nq1,x,y,0,d\nq2,x,y,3,d\n",
     ("data/raw/held.csv", "row 1", "column 'answer'", "answer index 3")),
    ({**MC, "group_column": "doc", "path": "data/raw/held.csv"}, "question,a,b,answer,doc\nq1,x,y,0,d\nq2,x,y,1,\n",
     ("data/raw/held.csv", "column 'doc'", "null in 1", "row 1")),
], ids=["template-column", "test-columns", "answer-index", "null-group"])
def test_bad_shaped_file_task(lab: Path, fields: dict[str, Any], test_file: str | None,
                              needles: tuple[str, ...]) -> None:
    shaped_task(lab, {"quiz.csv": QUIZ, **({"held.csv": test_file} if test_file else {})}, **fields)
    refused(lab, *prepare("mine"), needles=needles)


def test_more_rows_than_the_task_has(lab: Path) -> None:
    """sst2's validation split (our test) has 428 negative rows: n_test 1000 cannot be balanced."""
    edit(lab, lambda p: p["prepare"].update(n_test=1000))
    refused(lab, *prepare("sst2"), needles=("task sst2", "split test", "428 rows of label 0",
                                            "prepare.n_test=1000", "500 of each"))


def test_local_mirror_missing(lab: Path, tmp_path: Path) -> None:
    edit(lab, lambda p: p["data"].update(local_dir=str(tmp_path / "nowhere")))
    refused(lab, *prepare("sst2"), needles=("task sst2", "data.local_dir", "nowhere"))


# --- weak labels -------------------------------------------------------------------------------

W2S_OUT = "data/runs/w2s/sst2/minilm_l3-to-minilm_l6/xent/seed0"


def supervisor_run(lab: Path, p1: list[float]) -> tuple[str, ...]:
    """A supervisor run directory with predictions p1 on 20 train_transfer rows (+ 20 test rows), the
    student's features, and the train_w2s command that reads them."""
    rng = np.random.default_rng(0)
    n = 40
    ids = np.arange(n)
    labels = ids % 2
    test_p1 = rng.uniform(0, 1, n // 2).tolist()
    preds = pl.DataFrame({"id": ids, "part": ["test"] * (n // 2) + ["train_transfer"] * (n // 2),
                          "label": labels.astype(np.int8), "p1": test_p1 + p1})
    run_dir = lab / "data/runs/gt/sst2/minilm_l3/seed0"
    run_dir.mkdir(parents=True, exist_ok=True)
    preds.write_parquet(run_dir / "predictions.parquet")
    features = rng.normal(size=(n, 8)).astype(np.float32) + labels[:, None]  # (N, 8), learnable
    write_features(lab / "data/features/sst2/minilm_l6.safetensors", ids, features, {})
    return ("stages/train_w2s.py", "--task", "sst2", "--pair", "minilm_l3-to-minilm_l6",
            "--method", "xent", "--seed", "0", "--gt-runs", "data/runs/gt/sst2",
            "--features", "data/features/sst2", "--out", W2S_OUT)


def soft_labels(corrupt: float | None = None, at: int = 3) -> list[float]:
    p1 = [0.2 + 0.6 * (i % 2) for i in range(20)]
    if corrupt is not None:
        p1[at] = corrupt
    return p1


def test_good_weak_labels_train(lab: Path) -> None:
    """Positive control: the same hand-made supervisor run with valid weak labels trains a student."""
    run(lab, sys.executable, *supervisor_run(lab, soft_labels()))
    assert (lab / W2S_OUT / "predictions.parquet").is_file()


@pytest.mark.parametrize("value", [math.nan, 1.5], ids=["nan", "above-1"])
def test_corrupted_weak_labels_are_refused(lab: Path, value: float) -> None:
    cmd = supervisor_run(lab, soft_labels(value, at=3))
    refused(lab, *cmd, needles=("sst2/minilm_l3/seed0", "predictions.parquet", "column p1", "1 weak labels",
                                "at id 23"))
    assert not (lab / W2S_OUT).exists()


def test_a_cv_fold_without_both_classes_is_refused(lab: Path) -> None:
    """train.probe_c cv stratifies 5 folds on the training labels: 3 positive hard labels of 20 cannot fill
    them. (Soft labels that lean to one side get unstratified folds instead: their log loss needs no class
    in a fold; tests/test_probe.py.)"""
    p1 = [1.0 if i < 3 else 0.0 for i in range(20)]
    refused(lab, *supervisor_run(lab, p1), needles=("sst2/minilm_l3-to-minilm_l6/xent/seed0", "train.probe_c cv",
                                                    "5 folds need at least 5 rows of each class", "positive"))
    assert not (lab / W2S_OUT).exists()


def test_method_not_in_params(lab: Path) -> None:
    cmd = list(supervisor_run(lab, soft_labels()))
    cmd[cmd.index("xent")] = "kl"
    refused(lab, *cmd, needles=("method 'kl'", "params.yaml methods"))


def test_missing_inputs_name_the_file(lab: Path) -> None:
    cmd = list(supervisor_run(lab, soft_labels()))
    (lab / "data/features/sst2/minilm_l6.safetensors").unlink()
    refused(lab, *cmd, needles=("data/features/sst2/minilm_l6.safetensors", "missing"))
