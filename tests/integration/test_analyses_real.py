"""The analysis stages on the session's small real pipeline (`lab.tiny_lab`: sst2, MiniLM-L3 -> MiniLM-L6,
real models and data, `dvc repro`): agreement, overfitting with early stopping on held-out weak labels,
the five saliency conditions (real MiniLM-L6 finetuning), their DVC metrics, and `dvc plots show`
drawing every plot in headless Chromium with no network."""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

import polars as pl
import pytest
from browser import artifacts_dir, dump_dom, screenshot
from lab import clone_lab, git, run, tiny_lab

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory, data_dir: Path) -> Path:
    return tiny_lab(tmp_path_factory.getbasetemp(), data_dir)


def test_agreement_metrics_and_table(lab: Path) -> None:
    metrics = json.loads((lab / "metrics/agreement.json").read_text())
    for method in ("xent", "logconf"):
        for metric in ("agreement", "agreement_supervisor_correct", "agreement_supervisor_wrong"):
            assert 0.0 <= metrics[f"sst2/minilm_l3-to-minilm_l6/{method}/{metric}"] <= 1.0
    assert 20e6 < metrics["n_params/minilm_l6"] < 25e6 and metrics["n_params/minilm_l3"] < metrics["n_params/minilm_l6"]
    table = pl.read_parquet(lab / "data/agreement/agreement.parquet")
    assert table.columns == ["task", "weak", "strong", "method", "seed", "weak_params", "strong_params", "metric",
                             "value", "n"]


def test_overfitting_early_stops_on_held_out_weak_labels(lab: Path) -> None:
    history = json.loads(next((lab / "data/runs/w2s").rglob("history.json")).read_text())
    assert all(0.0 <= p["val_weak_agreement"] <= 1.0 for p in history)  # train.weak_holdout > 0 by default
    metrics = json.loads((lab / "metrics/overfitting.json").read_text())
    for method in ("xent", "logconf"):
        name = f"sst2/w2s/minilm_l3-to-minilm_l6/{method}"
        assert metrics[f"{name}/best_test_accuracy_peek"] >= metrics[f"{name}/final_accuracy"]
        assert metrics[f"{name}/best_test_accuracy_peek"] >= metrics[f"{name}/early_stop_accuracy"]
    curves = pl.read_parquet(lab / "data/overfitting/curves.parquet")
    assert set(curves["metric"]) == {"accuracy", "val_weak_agreement"}


def test_saliency_five_conditions(lab: Path) -> None:
    metrics = json.loads((lab / "metrics/saliency.json").read_text())
    conditions = ["probe_weak", "probe_gt", "finetune_weak", "finetune_weak_probe_gt", "finetune_gt"]
    assert sorted(metrics) == sorted(f"sst2/{c}/accuracy{s}" for c in conditions for s in ("", "_low", "_high"))
    assert all(0.0 <= v <= 1.0 for v in metrics.values())
    for c in conditions:  # the interval over seeds and test rows holds the mean
        assert metrics[f"sst2/{c}/accuracy_low"] <= metrics[f"sst2/{c}/accuracy"] <= metrics[f"sst2/{c}/accuracy_high"]
    assert metrics["sst2/probe_gt/accuracy"] > 0.6  # frozen MiniLM-L6 features know sentiment
    shown = run(lab, sys.executable, "-m", "dvc", "metrics", "show").stdout  # the headline, one figure each
    assert all(key in shown for key in ("agreement", "bootstrap", "overfit", "saliency"))


def test_dvc_plots_draw_offline(lab: Path, tmp_path: Path) -> None:
    repo = clone_lab(lab, tmp_path / "lab")
    assert "html_template = ../plot_templates/offline.html" in (repo / ".dvc/config").read_text()
    run(repo, sys.executable, "-m", "dvc", "plots", "show", "-o", "shown")
    page = repo / "shown/index.html"
    html = page.read_text()
    assert not re.search(r"""<script[^>]+src=["']?(https?:)?//""", html, re.IGNORECASE), "a CDN script"
    assert html.count("vegaEmbed('#") == 5  # training_curves, agreement, pgr, saliency, difficulty
    dom = dump_dom(page)
    drawn = re.findall(r'class="vega-embed[^"]*"><div class="chart-wrapper"[^>]*><(?:canvas|svg)', dom)
    assert len(drawn) == 5, f"{len(drawn)} of 5 plots drew"  # difficulty: empty axes without a chess task
    shot = screenshot(page, artifacts_dir() / "dvc_plots.png", height=3000)
    assert shot.stat().st_size > 20_000


def test_dvc_plots_diff_against_a_commit(lab: Path, tmp_path: Path) -> None:
    repo = clone_lab(lab, tmp_path / "lab")
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "baseline")
    run(repo, sys.executable, "-m", "dvc", "plots", "diff", "HEAD", "-o", "diffed")
    html = (repo / "diffed/index.html").read_text()
    assert not re.search(r"""<script[^>]+src=["']?(https?:)?//""", html, re.IGNORECASE)
    assert html.count("vegaEmbed('#") == 5 and '"rev": "HEAD"' in html and '"rev": "workspace"' in html
