"""Stages keyed by a pair are named after its models, so inserting a pair renames no other stage: each name
keeps denoting the same cell (same command). Parsed by DVC itself in a temporary copy, nothing run."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
from lab import copy_lab, default_params, run, write_params

pytestmark = pytest.mark.integration

STAGES = ("import json\nfrom dvc.repo import Repo\n"
          "print(json.dumps({s.addressing: s.cmd for s in Repo('.').index.stages}))")


def stages(repo: Path) -> dict[str, str]:
    """Every stage DVC expands from dvc.yaml and params.yaml, name -> resolved command."""
    return json.loads(run(repo, sys.executable, "-c", STAGES).stdout)


def test_inserting_a_pair_renames_no_stage(tmp_path: Path) -> None:
    params = default_params()
    lab = copy_lab(tmp_path / "lab", params)
    before = stages(lab)
    assert "train_w2s@sst2-minilm_l3-to-mpnet-xent-0" in before
    assert not [name for name in before if "pair0" in name or "pair1" in name]

    params["pairs"] = ["minilm_l3-to-minilm_l6", *params["pairs"]]
    write_params(lab, params)
    after = stages(lab)
    renamed = {name for name, cmd in before.items() if after.get(name) != cmd}
    assert not renamed, f"inserting a pair changed what these stage names run: {sorted(renamed)}"
    added = set(after) - set(before)
    assert added and all("minilm_l3-to-minilm_l6" in name for name in added), sorted(added)
