"""Best vs final accuracy and early stopping on held-out weak labels, from hand-made curves."""

from __future__ import annotations

import polars as pl
import pytest

from w2s.errors import InputError
from w2s.overfitting import (
    checkpoint_pgr,
    curves_table,
    mean_curves,
    overfitting_metrics,
    overfitting_table,
    summarize_curve,
)


def curve(acc: list[float], val: list[float] | None = None) -> list[dict]:
    points = [{"step": 10 * (i + 1), "epoch": 0.5 * (i + 1), "accuracy": a} for i, a in enumerate(acc)]
    if val is not None:
        for point, v in zip(points, val, strict=True):
            point["val_weak_agreement"] = v
    return points


def test_best_final_and_early_stop() -> None:
    s = summarize_curve(curve([0.6, 0.8, 0.8, 0.7], val=[0.5, 0.7, 0.9, 0.9]))
    assert (s.best_step, s.best_accuracy) == (20, 0.8)  # first of the tied best points
    assert (s.final_step, s.final_accuracy) == (40, 0.7)
    assert s.overfit_drop == pytest.approx(0.1)
    assert (s.early_stop_step, s.early_stop_accuracy) == (30, 0.8)  # first of the tied weak-agreement maxima


def test_no_held_out_weak_labels_means_no_early_stop() -> None:
    s = summarize_curve(curve([0.6, 0.7]))
    assert s.early_stop_step is None and s.early_stop_accuracy is None


def test_bad_curves_are_named() -> None:
    with pytest.raises(InputError, match="run1: empty training curve"):
        summarize_curve([], "run1")
    with pytest.raises(InputError, match=r"h\[0\]: missing 'accuracy'"):
        summarize_curve([{"step": 1}], "h")


def runs(val: list[float] | None) -> list[tuple[dict, list[dict]]]:
    gt = {"kind": "gt", "task": "t", "seed": 0}
    w2s = {"kind": "w2s", "task": "t", "weak": "s", "strong": "b", "method": "xent", "seed": 0}
    return [({**gt, "model": "s"}, curve([0.5, 0.6])),  # weak: final 0.6
            ({**gt, "model": "b"}, curve([0.9, 1.0])),  # ceiling: final 1.0
            (w2s, curve([0.7, 0.9, 0.8, 0.7], val))]


def test_pgr_of_final_best_and_early_stopped_student() -> None:
    table = overfitting_table(runs([0.6, 0.7, 0.95, 0.9]))
    w2s = {r["metric"]: r["value"] for r in table.filter(table["kind"] == "w2s").iter_rows(named=True)}
    assert w2s["pgr_final"] == pytest.approx((0.7 - 0.6) / 0.4)
    assert w2s["pgr_best"] == pytest.approx((0.9 - 0.6) / 0.4)
    assert w2s["pgr_early_stop"] == pytest.approx((0.8 - 0.6) / 0.4)
    assert w2s["early_stop_step"] == 30 and w2s["best_step"] == 20
    assert w2s["best_test_accuracy_peek"] == pytest.approx(0.9) and "best_accuracy" not in w2s  # named as a peek
    gt = table.filter(table["kind"] == "gt")
    assert "pgr_final" not in gt["metric"].to_list()
    assert table.columns == ["kind", "task", "model", "weak", "strong", "method", "seed", "metric", "value", "reason"]
    cells = checkpoint_pgr(table, cell("ok"))
    metrics = overfitting_metrics(table, cells)
    assert metrics["t/w2s/s-to-b/xent/pgr_early_stop"] == pytest.approx(0.5)
    assert metrics["t/w2s/s-to-b/xent/pgr_final"] == pytest.approx(0.25)
    assert metrics["t/gt/b/final_accuracy"] == pytest.approx(1.0)
    # a gap that is not significant (analyze's verdict) leaves every checkpoint's PGR null, with the reason
    flagged = checkpoint_pgr(table, cell("gap_not_significant", "not significant: gap +0.4 [-0.1, +0.9]"))
    assert flagged["pgr"].to_list() == [None] * 3 and flagged["reason"][0].startswith("not significant")
    assert overfitting_metrics(table, flagged)["t/w2s/s-to-b/xent/pgr_best"] is None


def cell(status: str, reason: str | None = None) -> pl.DataFrame:
    """A one-cell `pgr_summary` as `analyze` computes it (weak 0.6, ceiling 1.0)."""
    return pl.DataFrame([{"task": "t", "weak": "s", "strong": "b", "method": "xent", "n_seeds": 1,
                          "weak_accuracy": 0.6, "gap_accuracy": 0.4, "pgr_accuracy_status": status,
                          "pgr_accuracy_reason": reason}])


def test_missing_pieces_give_null_with_reason() -> None:
    table = overfitting_table(runs(None))
    row = table.filter(table["metric"] == "pgr_early_stop").row(0, named=True)
    assert row["value"] is None and "held-out weak agreement" in row["reason"]
    table = overfitting_table(runs(None)[1:])  # no supervisor run
    row = table.filter(table["metric"] == "pgr_final").row(0, named=True)
    assert row["value"] is None and "gt run" in row["reason"]
    flat = overfitting_table([(k, curve([0.6, 0.6]) if k["kind"] == "gt" else c) for k, c in runs(None)])
    row = flat.filter(flat["metric"] == "pgr_final").row(0, named=True)
    assert row["value"] is None and "does not beat" in row["reason"]


def test_curves_long_and_mean_over_seeds() -> None:
    two_seeds = [({"kind": "gt", "task": "t", "model": "s", "seed": 0}, curve([0.5, 0.7])),
                 ({"kind": "gt", "task": "t", "model": "s", "seed": 1}, curve([0.7, 0.9], val=[0.1, 0.2]))]
    long = curves_table(two_seeds)
    assert long.height == 2 + 4
    assert sorted(set(long["metric"])) == ["accuracy", "val_weak_agreement"]
    mean = mean_curves(long)
    assert mean["run"].to_list() == ["gt/s", "gt/s"]
    assert mean["accuracy"].to_list() == pytest.approx([0.6, 0.8])


def test_holdout_mask_is_seeded_and_sized() -> None:
    from w2s.pipeline import holdout_mask

    mask = holdout_mask(100, 0.1, seed=3)
    assert int(mask.sum()) == 10
    assert holdout_mask(100, 0.1, seed=3).to_list() == mask.to_list()
    assert holdout_mask(100, 0.1, seed=4).to_list() != mask.to_list()
    assert int(holdout_mask(100, 0.0, seed=3).sum()) == 0
    assert int(holdout_mask(3, 0.01, seed=0).sum()) == 1 and int(holdout_mask(2, 0.99, seed=0).sum()) == 1


def test_fit_records_agreement_with_held_out_weak_labels() -> None:
    import torch

    from w2s.config import TrainParams
    from w2s.losses import make_loss
    from w2s.train import LinearProbe, fit, predict

    g = torch.Generator().manual_seed(0)
    x = torch.randn(64, 4, generator=g)
    y = (x[:, 0] > 0).float()
    held_x = torch.randn(16, 4, generator=g)
    weak = torch.where(held_x[:, 0] > 0, 0.8, 0.3)
    model = LinearProbe(x, g)
    params = TrainParams(epochs=4, batch_size=16, lr=0.05, eval_every=4)
    result = fit(model, x, y, make_loss("xent", {}), params, g, (x, y.long()), weak_eval_set=(held_x, weak))
    assert [p.step for p in result.history] == [4, 8, 12, 16]
    last = result.history[-1].val_weak_agreement
    expected = float(((predict(model, held_x) > 0.5) == (weak.numpy() > 0.5)).mean())
    assert last == pytest.approx(expected)
    plain = fit(LinearProbe(x, g), x, y, make_loss("xent", {}), params, g, (x, y.long()))
    assert all(p.val_weak_agreement is None for p in plain.history)
