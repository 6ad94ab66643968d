"""Switching studies the DVC way (issue 13 point 11): with Hydra composition enabled for the checkout,
`dvc exp run --queue -S study=gpt2` queues the GPT-2 study (plus any other override) as an experiment
and leaves the workspace's params.yaml as it is; nothing is copied over it."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import yaml
from lab import ROOT, copy_lab, dvc, git, run, small_params

from w2s.config import parse_params

pytestmark = pytest.mark.integration


def test_a_queued_study_leaves_params_yaml_alone(tmp_path: Path, data_dir: Path) -> None:
    lab = copy_lab(tmp_path / "lab", small_params(data_dir))
    shutil.copytree(ROOT / "studies" / "gpu", lab / "studies" / "gpu")
    git(lab, "add", "-A")
    git(lab, "commit", "-q", "-m", "lab")
    before = (lab / "params.yaml").read_text()
    dvc(lab, "config", "--local", "hydra.enabled", "true")
    dvc(lab, "exp", "run", "--queue", "-S", "study=gpt2", "-S", "train.lr=0.25")
    assert (lab / "params.yaml").read_text() == before
    assert run(lab, "git", "status", "--porcelain").stdout == ""
    queued = yaml.safe_load(run(lab, "git", "show", "refs/exps/celery/stash:params.yaml").stdout)
    p = parse_params(queued, "queued params.yaml")
    assert p.ladder == ["gpt2", "gpt2_medium", "gpt2_large", "gpt2_xl"] and p.train.lr == 0.25
    expected = yaml.safe_load((ROOT / "studies" / "gpu" / "gpt2.yaml").read_text())
    assert queued == {**expected, "train": {**expected["train"], "lr": 0.25}}
    dvc(lab, "queue", "remove", "--queued")
