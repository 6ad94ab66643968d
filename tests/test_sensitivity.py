"""`w2s.sensitivity`: every cell rerun with all probe heads at one C, PGR per C (synthetic features)."""

from __future__ import annotations

import polars as pl
import pytest
from test_bootstrap import make_features, make_params, make_pool

from w2s.analysis import cell_pgr
from w2s.errors import InputError
from w2s.pipeline import train_ground_truth, train_weak_to_strong
from w2s.sensitivity import at_c, sensitivity_task, skip_reason

MODELS = ("minilm_l3", "mpnet")


def setup(**overrides: object) -> tuple:
    params = make_params(**{"seeds": [0, 1], "methods": ["xent", "logconf"],
                            "sensitivity": {"c_grid": [0.001, 1.0]}, **overrides})
    pool = make_pool()
    feats = {m: make_features(pool, s, i) for i, (m, s) in enumerate(zip(MODELS, (0.4, 2.0), strict=True))}
    return params, pool, feats


def test_each_c_reruns_the_pipeline_cells_with_every_head_at_that_c() -> None:
    params, pool, feats = setup()
    table = sensitivity_task(pool, feats, params, "sst2", progress=False)
    assert table.height == 2 * 2  # (xent, logconf) x two Cs, one pair
    assert sorted(set(table["c"].to_list())) == [0.001, 1.0] and set(table["n_seeds"].to_list()) == {2}
    # the row at C = 1 is exactly the pipeline's cell with train.probe_c = 1 for every head
    fixed = at_c(params, 1.0)
    assert fixed.train.probe_c == 1.0 and params.train.probe_c == "cv"
    frames = []
    for seed in (0, 1):
        gt = {m: train_ground_truth(pool, feats[m], fixed, "sst2", m, seed).predictions for m in MODELS}
        pair = fixed.pairs[0]
        frames += [*gt.values(), train_weak_to_strong(gt["minilm_l3"], feats["mpnet"], fixed, "sst2", pair, "xent",
                                                      seed).predictions]
    expected = cell_pgr(pl.concat(frames, how="diagonal"), "sst2", "minilm_l3", "mpnet", "xent", [0, 1],
                        n_resamples=fixed.analyze.n_resamples, scores=("accuracy",))
    row = table.filter((pl.col("c") == 1.0) & (pl.col("method") == "xent")).row(0, named=True)
    for key in ("weak_accuracy", "ceiling_accuracy", "w2s_accuracy", "pgr_accuracy", "pgr_accuracy_low"):
        assert row[key] == pytest.approx(expected[key]), key
    # a strong penalty (C = 0.001) and a weak one give different students
    xent = table.filter(pl.col("method") == "xent").sort("c")
    assert xent["w2s_accuracy"][0] != xent["w2s_accuracy"][1]


def test_empty_grid_and_missing_features() -> None:
    params, pool, feats = setup(sensitivity={"c_grid": []})
    assert sensitivity_task(pool, feats, params, "sst2", progress=False).is_empty()
    finetune = make_params(**{"train": {**make_params().train.__dict__, "mode": "finetune"}})
    assert "finetune" in (skip_reason(finetune) or "")  # a finetune study (the GPU ladders) skips, not fails
    assert sensitivity_task(pool, feats, finetune, "sst2", progress=False).is_empty()
    params, pool, feats = setup()
    with pytest.raises(InputError, match="no features of 'mpnet'"):
        sensitivity_task(pool, {"minilm_l3": feats["minilm_l3"]}, params, "sst2", progress=False)
