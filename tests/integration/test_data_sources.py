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
    assert stages_run(dvc(lab, "repro", "prepare@sst2").stdout) == ["prepare@sst2", "validate"]
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
