"""`w2s.sources` and the data paths of `w2s.tasks`: which source a task reads (`data.source: auto`),
where a relative data path points (the project root, also in a queued experiment's copy), and the
manifest the `sources` stage writes so that `prepare` reruns exactly when the data changes."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from lab import default_params

from w2s.config import Params, parse_params
from w2s.errors import InputError
from w2s.sources import check_unchanged, describe, file_sha256, hub_commit, summary
from w2s.tasks import data_path, load_task, pick_source

ROWS = [{"sentence": f"text number {i}", "label": i % 2} for i in range(12)]


def write_mirror(root: Path, task: str = "sst2", rows: list[dict[str, Any]] = ROWS) -> Path:
    """A mirror folder `root` with `task`'s train and validation splits (sst2's field names)."""
    folder = root / task
    folder.mkdir(parents=True, exist_ok=True)
    for split in ("train", "validation"):
        (folder / f"{split}.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    return root


def params_with(**data: Any) -> Params:
    raw = default_params()
    raw["data"].update(data)
    raw["tasks"] = ["sst2"]
    raw["prepare"]["per_task"] = {}
    return parse_params(raw)


# --- where a relative data path points -----------------------------------------------------------------


def test_relative_data_path_is_relative_to_the_dvc_root(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("DVC_ROOT", raising=False)
    assert data_path("../shared/datasets") == Path("../shared/datasets")  # outside DVC: the current folder
    monkeypatch.setenv("DVC_ROOT", str(tmp_path / "repo"))
    assert data_path("../shared/datasets") == tmp_path / "repo" / "../shared/datasets"
    assert data_path(tmp_path / "abs.csv") == tmp_path / "abs.csv"
    assert data_path("~/x.csv") == Path.home() / "x.csv"


def test_queued_copy_reads_the_mirror_beside_the_project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """DVC runs a queued experiment in <repo>/.dvc/tmp/exps/<tmp>/ with DVC_ROOT=<repo>: the default
    relative `../shared/datasets` must name <repo>/../shared/datasets there, not a folder inside .dvc."""
    write_mirror(tmp_path / "shared" / "datasets")
    repo = tmp_path / "repo"
    copy = repo / ".dvc" / "tmp" / "exps" / "tmpabc123"
    copy.mkdir(parents=True)
    monkeypatch.chdir(copy)
    monkeypatch.setenv("DVC_ROOT", str(repo))
    splits = load_task("sst2", source="local", local_dir="../shared/datasets", seed=0)
    assert splits["train"].height == len(ROWS)
    # a file task's relative path too
    (repo / "data").mkdir()
    (repo / "data" / "mine.csv").write_text("text,label\n" + "".join(f"row {i},{i % 2}\n" for i in range(6)))
    manifest = describe(params_with(file_tasks={"mine": {"path": "data/mine.csv", "text_column": "text",
                                                         "label_column": "label"}}), "mine")
    assert manifest["files"]["train"]["path"] == "data/mine.csv"
    assert manifest["files"]["train"]["sha256"] == file_sha256(repo / "data" / "mine.csv")


# --- which source: auto ----------------------------------------------------------------------------


def test_auto_reads_the_mirror_where_it_has_the_task_else_the_hub(tmp_path: Path) -> None:
    mirror = write_mirror(tmp_path / "mirror")
    assert pick_source("sst2", "auto", str(mirror)) == "local"
    assert pick_source("boolq", "auto", str(mirror)) == "hub"  # no boolq/ folder in this mirror
    assert pick_source("sst2", "auto", str(tmp_path / "nowhere")) == "hub"
    assert pick_source("sst2", "auto", None) == "hub"
    assert pick_source("sst2", "local", str(tmp_path / "nowhere")) == "local"  # local stays local
    with pytest.raises(InputError, match="data.source must be one of auto, local, hub, got 'ftp'"):
        pick_source("sst2", "ftp", None)


def test_auto_without_a_mirror_loads_from_the_hub(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import datasets

    calls = []

    def fake_load(hub_id: str, **kwargs: str) -> datasets.DatasetDict:
        calls.append(hub_id)
        return datasets.DatasetDict({s: datasets.Dataset.from_list(ROWS) for s in ("train", "validation")})

    monkeypatch.setattr(datasets, "load_dataset", fake_load)
    splits = load_task("sst2", source="auto", local_dir=str(tmp_path / "nowhere"), seed=0)
    assert calls == ["stanfordnlp/sst2"] and splits["test"].height == len(ROWS)


def test_auto_hub_failure_says_why_the_hub_was_tried(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import datasets

    def failing(hub_id: str, **kwargs: str) -> None:
        raise ConnectionError("Couldn't reach the hub")

    monkeypatch.setattr(datasets, "load_dataset", failing)
    with pytest.raises(InputError) as info:
        load_task("sst2", source="auto", local_dir="../nowhere", seed=0)
    message = str(info.value)
    assert "stanfordnlp/sst2" in message
    assert "auto picked the hub: no folder sst2 in data.local_dir ../nowhere" in message


def test_missing_mirror_says_what_to_change(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Issue 15.4: source local, no mirror folder: the message names the key and both ways out."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("DVC_ROOT", raising=False)
    with pytest.raises(InputError) as info:
        load_task("sst2", source="local", local_dir="../shared/datasets", seed=0)
    message = str(info.value)
    for needle in ("data.local_dir ../shared/datasets is not a folder", "set data.local_dir to your mirror",
                   "data.source: hub", "auto"):
        assert needle in message, (needle, message)


# --- the manifest -----------------------------------------------------------------------------------


def test_manifest_changes_exactly_when_the_data_does(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    mirror = write_mirror(tmp_path / "shared" / "datasets")
    (tmp_path / "repo").mkdir()
    monkeypatch.setenv("DVC_ROOT", str(tmp_path / "repo"))
    params = params_with(source="auto", local_dir="../shared/datasets")
    first = describe(params, "sst2")
    assert first["source"] == "local" and first["requested"] == "auto" and first["local_dir"] == "../shared/datasets"
    assert {s: f["path"] for s, f in first["files"].items()} == {"train": "sst2/train.jsonl",
                                                                 "test": "sst2/validation.jsonl"}
    test_file = mirror / "sst2" / "validation.jsonl"
    test_file.write_bytes(test_file.read_bytes())  # same bytes, new mtime
    assert describe(params, "sst2") == first
    check_unchanged(first, describe(params, "sst2"), "data/sources/sst2.json")
    test_file.write_text(test_file.read_text().replace("text number 3", "text number three"))
    edited = describe(params, "sst2")
    assert edited["files"]["train"] == first["files"]["train"]
    assert edited["files"]["test"]["sha256"] != first["files"]["test"]["sha256"]
    with pytest.raises(InputError, match=r"sources/sst2.json: task sst2's data changed .*files.test: "
                                         r"sst2/validation.jsonl\); rerun `dvc repro`"):
        check_unchanged(first, edited, "data/sources/sst2.json")
    assert summary(first).startswith("sources sst2: local (data.source auto) ../shared/datasets: sst2/train.jsonl ")


def test_manifest_of_the_hub_records_id_revision_and_commit(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hub"))
    monkeypatch.setattr("huggingface_hub.constants.HF_HUB_CACHE", str(tmp_path / "hub"))
    params = params_with(source="auto", local_dir=str(tmp_path / "nowhere"))
    manifest = describe(params, "sst2")
    assert manifest == {"task": "sst2", "source": "hub", "requested": "auto", "hub_id": "stanfordnlp/sst2",
                        "hub_kwargs": {}, "revision": "main", "commit": None}
    refs = tmp_path / "hub" / "datasets--stanfordnlp--sst2" / "refs"
    refs.mkdir(parents=True)
    (refs / "main").write_text("a" * 40)
    assert describe(params, "sst2")["commit"] == "a" * 40  # the cache's ref: a moved branch shows
    assert hub_commit("stanfordnlp/sst2", "b" * 40) == "b" * 40  # a commit pins itself
    assert "commit aaaaaaaaaaaa" in summary(describe(params, "sst2"))


def test_missing_file_task_file_is_one_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("DVC_ROOT", raising=False)
    params = params_with(file_tasks={"mine": {"path": "data/raw/gone.csv", "text_column": "t", "label_column": "y"}})
    with pytest.raises(InputError, match=r"^data/raw/gone.csv: file not found$"):
        describe(params, "mine")
