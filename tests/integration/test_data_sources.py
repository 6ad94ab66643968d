"""Task data is an input of `prepare` under real DVC: an edited data file reruns `prepare`, an untouched
one (even rewritten with the same bytes) does not, and the manifest records which source ran.

A small lab (sst2 only, 200 + 100 rows) reads a copy of the sst2 mirror through the default relative
`data.local_dir: ../shared/datasets` and `data.source: auto`; only validate, sources and prepare run.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from lab import copy_lab, dvc, small_params, stages_run

pytestmark = pytest.mark.integration


@pytest.fixture
def lab(tmp_path: Path, data_dir: Path) -> Path:
    mirror = tmp_path / "shared" / "datasets" / "sst2"
    shutil.copytree(data_dir / "sst2", mirror)
    params = small_params(data_dir)
    params["data"].update(source="auto", local_dir="../shared/datasets")
    return copy_lab(tmp_path / "lab", params)


def test_editing_a_data_file_reruns_prepare_only_then(lab: Path) -> None:
    mirror = lab.parent / "shared" / "datasets" / "sst2"
    assert stages_run(dvc(lab, "repro", "prepare@sst2").stdout) == ["chess_puzzles", "prepare@sst2", "validate"]
    manifest = json.loads((lab / "data/sources/sst2.json").read_text())
    assert manifest["source"] == "local" and manifest["requested"] == "auto"
    assert manifest["local_dir"] == "../shared/datasets"
    assert set(manifest["files"]) == {"train", "test"}
    assert manifest["files"]["test"]["path"] == "sst2/validation.jsonl"

    # unchanged data, even rewritten with the same bytes (a new mtime): sources runs, prepare does not
    test_file = mirror / "validation.jsonl"
    test_file.write_bytes(test_file.read_bytes())
    out = dvc(lab, "repro", "prepare@sst2").stdout
    assert "Running stage 'sources@sst2'" in out and stages_run(out) == [], out
    before = (lab / "data/prepared/sst2.parquet").read_bytes()

    # one test row dropped: the manifest's hash changes and prepare reruns
    lines = test_file.read_text().splitlines(keepends=True)
    test_file.write_text("".join(lines[:-1]))
    out = dvc(lab, "repro", "prepare@sst2").stdout
    assert stages_run(out) == ["prepare@sst2"], out
    after = json.loads((lab / "data/sources/sst2.json").read_text())
    assert after["files"]["test"]["sha256"] != manifest["files"]["test"]["sha256"]
    assert after["files"]["train"] == manifest["files"]["train"]
    assert (lab / "data/prepared/sst2.parquet").read_bytes() != before  # the pool follows the data


def test_a_file_task_with_a_test_file_under_dvc(tmp_path: Path, data_dir: Path) -> None:
    """A multiple-choice file task with a held-out test file (docs/your-data.md) through real `dvc repro`:
    the manifest records both files (so editing either reruns prepare), and the test rows come from the test file."""
    import polars as pl

    params = small_params(data_dir)
    params["tasks"] = ["quiz"]
    params["prepare"].update(n_train=60, n_test=20)
    params["data"]["file_tasks"] = {"quiz": {
        "path": "data/raw/quiz.csv", "test_path": "data/raw/held.csv", "text_template": "Question: {question}",
        "choices_columns": ["a", "b", "c"], "answer_column": "answer", "group_column": "topic"}}
    lab = copy_lab(tmp_path / "lab", params)
    raw = lab / "data" / "raw"
    raw.mkdir(parents=True, exist_ok=True)
    header = "topic,question,a,b,c,answer\n"
    (raw / "quiz.csv").write_text(header + "".join(f"t{i // 3},q{i},a{i},b{i},c{i},{i % 3}\n" for i in range(150)))
    (raw / "held.csv").write_text(header + "".join(f"h{i},held {i},a{i},b{i},c{i},{i % 3}\n" for i in range(40)))
    assert stages_run(dvc(lab, "repro", "prepare@quiz").stdout) == ["chess_puzzles", "prepare@quiz", "validate"]
    manifest = json.loads((lab / "data/sources/quiz.json").read_text())
    assert manifest["source"] == "file"
    assert {s: f["path"] for s, f in manifest["files"].items()} == {"train": "data/raw/quiz.csv",
                                                                   "test": "data/raw/held.csv"}
    pool = pl.read_parquet(lab / "data/prepared/quiz.parquet")
    assert pool.filter(pl.col("part") == "test")["text"].str.starts_with("Question: held ").all()
    assert pool.group_by("part").len().sort("part").rows() == [("test", 20), ("train", 60)]
