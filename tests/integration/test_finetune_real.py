"""train_gt and train_w2s in finetune mode on real models and real data: the stage scripts end to end.

paraphrase-MiniLM-L3-v2 (weak) -> all-MiniLM-L6-v2 (strong) on 200 sst2 rows (100 train_weak, 100
train_transfer) and 100 test rows, 1 epoch of batches of 8 at lr 3e-4 (cosine), 64 tokens. No `embed`
stage: in finetune mode the training stages read the pool's texts, never the features (their
--features path does not even exist here).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import polars as pl
import pytest
from lab import copy_lab, run, small_params

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory, data_dir: Path) -> Path:
    params = small_params(data_dir)
    params["prepare"].update(n_train=200, n_test=100)
    params["train"].update(mode="finetune", epochs=1, batch_size=8, lr=3e-4, schedule="cosine", warmup_frac=0.1,
                           max_length=64, eval_every=5)
    repo = copy_lab(tmp_path_factory.mktemp("ft") / "lab", params, init=False)
    py = "python"
    run(repo, py, "stages/prepare.py", "--task", "sst2", "--out", "data/prepared/sst2.parquet")
    for model in ("minilm_l3", "minilm_l6"):
        run(repo, py, "stages/train_gt.py", "--task", "sst2", "--model", model, "--seed", "0",
            "--pool", "data/prepared/sst2.parquet", "--features", f"data/features/sst2/{model}.missing",
            "--out", f"data/runs/gt/sst2/{model}/seed0")
    run(repo, py, "stages/train_w2s.py", "--task", "sst2", "--pair", "minilm_l3-to-minilm_l6",
        "--method", "xent", "--seed", "0", "--gt-runs", "data/runs/gt/sst2",
        "--features", "data/features/sst2.missing", "--pool", "data/prepared/sst2.parquet",
        "--out", "data/runs/w2s/sst2/minilm_l3-to-minilm_l6/xent/seed0")
    return repo


def test_runs_write_predictions_and_curves(lab: Path) -> None:
    gt = pl.read_parquet(lab / "data/runs/gt/sst2/minilm_l6/seed0/predictions.parquet")
    assert gt["part"].value_counts().sort("part")["count"].to_list() == [100, 100]  # test, train_transfer
    w2s_dir = lab / "data/runs/w2s/sst2/minilm_l3-to-minilm_l6/xent/seed0"
    w2s = pl.read_parquet(w2s_dir / "predictions.parquet")
    assert w2s.height == 100 and set(w2s["part"]) == {"test"}
    for table in (gt, w2s):
        p1 = table["p1"].to_numpy()
        assert np.isfinite(p1).all() and ((p1 >= 0) & (p1 <= 1)).all()
        assert p1.std() > 1e-3  # a trained classifier, not a constant
    summary = json.loads((w2s_dir / "summary.json").read_text())
    steps = summary["steps"]  # 1 epoch of at most 100 train_transfer rows (less any weak holdout), 8 per step
    assert 7 <= steps <= 13
    history = json.loads((w2s_dir / "history.json").read_text())
    assert [pt["step"] for pt in history] == [*range(5, steps, 5), steps]


def test_finetuning_learns_sentiment(lab: Path) -> None:
    """One epoch on 90 rows (the ceiling trains on as many rows as a student) moves the pretrained sentence
    encoders above chance on sst2 in ranking: AUROC, threshold-free. Measured here: AUROC 0.77 (L3) with
    accuracy 0.52, i.e. after ~11 steps the ranking is learnt but the 0.5 threshold is not calibrated yet
    (before the equal-budget change, on 100 rows: accuracy 0.65 / 0.69, AUROC 0.75 / 0.75). On 100 test
    rows the AUROC of a random scorer has a standard deviation of ~0.06, so 0.65 sits ~2.5 SD above it."""
    for model in ("minilm_l3", "minilm_l6"):
        summary = json.loads((lab / f"data/runs/gt/sst2/{model}/seed0/summary.json").read_text())
        assert summary["auroc"] > 0.65, (model, summary)


def test_finetune_run_is_deterministic_on_cpu(lab: Path) -> None:
    out = "data/runs/gt/sst2/minilm_l3/again"
    run(lab, "python", "stages/train_gt.py", "--task", "sst2", "--model", "minilm_l3", "--seed", "0",
        "--pool", "data/prepared/sst2.parquet", "--features", "unused", "--out", out)
    a = pl.read_parquet(lab / "data/runs/gt/sst2/minilm_l3/seed0/predictions.parquet")["p1"].to_numpy()
    b = pl.read_parquet(lab / out / "predictions.parquet")["p1"].to_numpy()
    assert a.tobytes() == b.tobytes()
