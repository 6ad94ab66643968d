"""The real pipeline under real DVC: real pretrained models, real data, a few hundred rows.

Copies the project's DAG into a fresh git + DVC repo with small params, runs `dvc repro`, and checks
the metrics, that a second `dvc repro` does nothing, and that changing one method's param marks only
the stages that depend on it.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
import yaml
from lab import ALWAYS_RUN, ROOT, copy_lab, run, stages_run

pytestmark = pytest.mark.integration


def small_params(data_dir: Path) -> dict:
    params = yaml.safe_load((ROOT / "params.yaml").read_text())
    params["data"]["local_dir"] = str(data_dir)
    params.update(tasks=["sst2"], ladder=["minilm_l3", "mpnet"],
                  pairs=["minilm_l3-to-mpnet"], seeds=[0, 1])
    params["prepare"].update(n_train=400, n_test=200)
    params["train"].update(epochs=10)
    params["analyze"].update(n_resamples=200)
    params["sensitivity"] = {"c_grid": [0.01, 1.0]}
    if "bootstrap" in params:  # chains must stay on the two-model ladder
        params["bootstrap"]["chains"] = ["minilm_l3-to-mpnet"]
    return params


def sh(repo: Path, *cmd: str) -> str:
    return run(repo, *cmd).stdout


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory, data_dir: Path) -> Path:
    repo = copy_lab(tmp_path_factory.mktemp("lab"), small_params(data_dir))
    sh(repo, sys.executable, "-m", "dvc", "repro")
    return repo


def test_metrics_cover_every_cell(lab: Path) -> None:
    pgr = json.loads((lab / "metrics/pgr.json").read_text())
    acc = json.loads((lab / "metrics/accuracy.json").read_text())
    for method in ("xent", "logconf"):
        for score in ("accuracy", "auroc"):
            for suffix in ("", "_low", "_high"):
                assert f"sst2/minilm_l3-to-mpnet/{method}/pgr_{score}{suffix}" in pgr
        assert 0.5 < acc[f"sst2/w2s/minilm_l3-to-mpnet/{method}/accuracy"] <= 1.0
    for model in ("minilm_l3", "mpnet"):
        assert 0.6 < acc[f"sst2/gt/{model}/accuracy"] <= 1.0  # real models beat chance on SST-2
    shown = sh(lab, sys.executable, "-m", "dvc", "metrics", "show")
    # only the headline: each method's PGR pooled over pairs (a number or, where undefined, a word that
    # `dvc metrics show` keeps, unlike a null) and the ceiling; the cells are in the committed tables
    for key in ("sst2.xent", "sst2.logconf", "sst2.ceiling"):
        assert key in shown
    assert "sst2/minilm_l3-to-mpnet" not in shown


def test_second_repro_does_nothing(lab: Path) -> None:
    out = sh(lab, sys.executable, "-m", "dvc", "repro")
    assert stages_run(out) == [], out  # only the always-run sources@<task>


def test_changing_one_method_param_touches_only_its_stages(lab: Path) -> None:
    params = yaml.safe_load((lab / "params.yaml").read_text())
    params["losses"]["logconf"]["alpha_max"] = 0.5
    (lab / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    status = json.loads(sh(lab, sys.executable, "-m", "dvc", "status", "--json"))
    changed = sorted(name.split(":")[-1] for name in status if not name.split(":")[-1].startswith(ALWAYS_RUN))
    # `validate` declares the whole params file; its output is constant, so nothing downstream of it reruns
    # sensitivity reruns every cell with the losses: it declares them too
    assert changed == ["sensitivity@sst2", "train_w2s@sst2-minilm_l3-to-mpnet-logconf-0",
                       "train_w2s@sst2-minilm_l3-to-mpnet-logconf-1",
                       "validate"], changed
