"""Adding a seed reruns only that seed's cells plus the stages that aggregate over seeds (real DVC, small
real pipeline): bootstrap and saliency cells depend on a manifest of exactly the runs they read
(`w2s/inputs.py`), not on the task's whole gt-runs folder, which a new seed's runs change."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from lab import copy_lab, dvc, git, small_params, write_params

pytestmark = pytest.mark.integration

#: Stages that read every seed of a task by design (intervals and PGR over seeds): they rerun.
AGGREGATING = {"validate", "analyze", "agreement", "overfitting", "bootstrap_report", "saliency_summary",
               "sensitivity@sst2"}


def changed(repo: Path) -> set[str]:
    """The stages `dvc status` reports as changed (their deps, params or outs differ from dvc.lock)."""
    return set(json.loads(dvc(repo, "status", "--json").stdout or "{}"))


def test_adding_a_seed_leaves_the_other_seeds_cells_cached(tmp_path: Path, data_dir: Path) -> None:
    params = small_params(data_dir)
    params["saliency"].update(model="minilm_l6", weak="minilm_l3", n_train=48, n_test=48, epochs=1, batch_size=16)
    lab = copy_lab(tmp_path / "lab", params)
    dvc(lab, "repro", "analyze", "bootstrap_report", "saliency_summary")  # every seed-0 cell, no report
    git(lab, "add", "-A")
    git(lab, "commit", "-qm", "seed 0")
    never_run = changed(lab)  # stages outside those targets (report, plots_page)

    params["seeds"] = [0, 1]
    write_params(lab, params)
    # the new seed's supervisor and ceiling runs: the new run folders under data/runs/gt/sst2 that made
    # every existing bootstrap and saliency cell rerun when they depended on that whole folder
    dvc(lab, "repro", "--single-item", "train_gt@sst2-minilm_l3-1", "train_gt@sst2-minilm_l6-1")
    # the seed-0 manifests rehash their runs (seconds) and must write the same bytes
    dvc(lab, "repro", "--single-item", "train_w2s_inputs@sst2-minilm_l3-to-minilm_l6-0",
        "bootstrap_inputs@sst2-minilm_l3-to-minilm_l6-0", "saliency_inputs@sst2-0")
    stale = changed(lab)
    seed0 = {s for s in stale if s.endswith("-0")}
    assert not seed0, f"seed-0 cells rerun after adding seed 1: {sorted(seed0)}"
    new = {"train_w2s@sst2-minilm_l3-to-minilm_l6-xent-1", "train_w2s@sst2-minilm_l3-to-minilm_l6-logconf-1",
           "train_w2s_inputs@sst2-minilm_l3-to-minilm_l6-1", "bootstrap_inputs@sst2-minilm_l3-to-minilm_l6-1",
           "saliency_inputs@sst2-1"}
    assert new <= stale
    assert stale - never_run - AGGREGATING - {s for s in stale if s.endswith("-1")} == set(), sorted(stale)
