"""Bootstrapping chains on small random features: hop logic, cross-fitted labels (no row labelled by a
model that trained on it), the direct route, tidy rows and PGR."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
import pytest
import yaml

import w2s.bootstrap
from w2s.bootstrap import bootstrap_table, chain_label, cross_fit, fold_ids, run_chain, summarize
from w2s.config import Pair, Params, parse_params
from w2s.errors import InputError
from w2s.pipeline import train_ground_truth, train_weak_to_strong

ROOT = Path(__file__).resolve().parents[1]
N_TRAIN, N_TEST = 240, 120
# The default ladder's keys (other params sections refer to them); features are synthetic.
MODELS = ("minilm_l3", "minilm_l6", "mpnet")


def make_params(**overrides: Any) -> Params:
    raw = yaml.safe_load((ROOT / "params.yaml").read_text())
    raw["data"] = {"source": "local", "local_dir": "/nonexistent"}
    raw.update(tasks=["sst2"], ladder=list(MODELS), pairs=[{"weak": "minilm_l3", "strong": "mpnet"}],
               methods=["xent", "logconf"], seeds=[0])
    raw["train"].update(mode="probe", epochs=4, batch_size=32, lr=0.01, eval_every=5)
    raw["bootstrap"] = {"chains": ["minilm_l3-to-minilm_l6-to-mpnet"], "method": "xent", "folds": 4}
    raw.update(overrides)
    return parse_params(raw)


def make_pool() -> pl.DataFrame:
    n = N_TRAIN + N_TEST
    return pl.DataFrame({"id": np.arange(n, dtype=np.int64), "text": [f"t{i}" for i in range(n)],
                         "label": (np.arange(n) % 2).astype(np.int64),
                         "part": ["train"] * N_TRAIN + ["test"] * N_TEST})


def make_features(pool: pl.DataFrame, signal: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Gaussian features whose first coordinate carries the label with strength `signal`."""
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((pool.height, 6)).astype(np.float32)
    x[:, 0] += signal * (2 * pool["label"].to_numpy() - 1)
    return pool["id"].to_numpy(), x


@pytest.fixture(scope="module")
def setup() -> dict[str, Any]:
    params, pool = make_params(), make_pool()
    feats = {m: make_features(pool, s, i) for i, (m, s) in enumerate(zip(MODELS, (0.4, 1.0, 2.0), strict=True))}
    gt = {m: train_ground_truth(pool, feats[m], params, "sst2", m, 0).predictions for m in MODELS}
    return {"params": params, "pool": pool, "features": feats, "gt": gt}


def test_chain_runs_every_hop_and_tags_both_routes(setup: dict[str, Any]) -> None:
    p, f, gt = setup["params"], setup["features"], setup["gt"]
    result = run_chain(gt["minilm_l3"], f, p, "sst2", list(MODELS), "xent", 0, progress=False)
    assert [(h["weak"], h["strong"]) for h in result.hops] == [("minilm_l3", "minilm_l6"), ("minilm_l6", "mpnet")]
    for route, run in (("chain", result.chain), ("direct", result.direct)):
        preds = run.predictions
        assert preds.height == N_TEST and set(preds["part"]) == {"test"}
        assert set(preds["route"]) == {route} and set(preds["chain"]) == {"minilm_l3>minilm_l6>mpnet"}
        assert set(preds["weak"]) == {"minilm_l3"} and set(preds["strong"]) == {"mpnet"}
        assert set(preds["kind"]) == {"bootstrap"}
        assert ((preds["p1"] >= 0) & (preds["p1"] <= 1)).all()
    # The chain's final student differs from the direct one: it learnt from minilm_l6's labels.
    assert not np.array_equal(result.chain.predictions["p1"].to_numpy(), result.direct.predictions["p1"].to_numpy())


def test_last_hop_equals_a_w2s_run_on_the_middle_models_cross_fitted_labels(setup: dict[str, Any]) -> None:
    """Hop logic: the final student is exactly train_weak_to_strong(minilm_l6's cross-fitted labels -> mpnet)."""
    p, f, gt = setup["params"], setup["features"], setup["gt"]
    result = run_chain(gt["minilm_l3"], f, p, "sst2", list(MODELS), "xent", 0, progress=False)
    labels, fold_runs = cross_fit(gt["minilm_l3"], f["minilm_l6"], p, "sst2", Pair("minilm_l3", "minilm_l6"), "xent",
                                  0, folds=4)
    assert len(fold_runs) == 4 and result.labels[0].equals(labels)
    assert [h["folds"] for h in result.hops[:-1]] == [4]
    # The transfer labels handed on are the middle students' own predictions, not minilm_l3's.
    transfer = labels.filter(pl.col("part") == "train_transfer")
    weak_transfer = gt["minilm_l3"].filter(pl.col("part") == "train_transfer").sort("id")
    assert transfer["id"].to_list() == weak_transfer["id"].to_list()
    assert not np.allclose(transfer["p1"].to_numpy(), weak_transfer["p1"].to_numpy())
    test_ids = gt["minilm_l3"].filter(pl.col("part") == "test")["id"]
    assert set(labels.filter(pl.col("part") == "test")["id"]) == set(test_ids)
    big = train_weak_to_strong(labels, f["mpnet"], p, "sst2", Pair("minilm_l6", "mpnet"), "xent", 0)
    np.testing.assert_array_equal(result.chain.predictions.sort("id")["p1"].to_numpy(),
                                  big.predictions.sort("id")["p1"].to_numpy())


def test_every_handed_on_label_comes_from_a_model_that_did_not_train_on_its_row(
        setup: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> None:
    """Watch every real training run of a chain: for each train_transfer label a hop trains on, some run
    produced exactly that (id, p1) without that id among its training rows. In-sample relabelling (a
    hop labelling the rows it trained on) fails here; M1's labels come from train_weak, never transfer."""
    p, f, gt = setup["params"], setup["features"], setup["gt"]
    calls: list[tuple[set[int], dict[int, float], pl.DataFrame]] = []
    real = w2s.bootstrap.train_weak_to_strong

    def watched(weak_predictions: pl.DataFrame, *args: Any, **kwargs: Any) -> Any:
        run = real(weak_predictions, *args, **kwargs)
        trained = set(weak_predictions.filter(pl.col("part") == "train_transfer")["id"].to_list())
        calls.append((trained, dict(zip(run.predictions["id"].to_list(), run.predictions["p1"].to_list(),
                                        strict=True)), weak_predictions))
        return run

    monkeypatch.setattr(w2s.bootstrap, "train_weak_to_strong", watched)
    run_chain(gt["minilm_l3"], f, p, "sst2", list(MODELS), "xent", 0, progress=False)
    m1 = dict(zip(gt["minilm_l3"]["id"].to_list(), gt["minilm_l3"]["p1"].to_list(), strict=True))
    checked = 0
    for _, _, given in calls:
        for i, label in given.filter(pl.col("part") == "train_transfer").select("id", "p1").iter_rows():
            if label == m1[i]:
                continue  # M1's own label (trained on train_weak)
            producers = [trained for trained, out, _ in calls if out.get(i) == label]
            assert producers, f"label of row {i} comes from no run"
            assert any(i not in trained for trained in producers), f"row {i} was labelled by a model trained on it"
            checked += 1
    assert checked >= N_TRAIN // 2  # the final hop's every transfer row (at least) was checked


def test_final_hop_and_direct_train_on_the_rows_of_a_train_w2s_student(
        setup: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> None:
    p, f, gt = setup["params"], setup["features"], setup["gt"]
    seen: list[tuple[list[int], Params]] = []
    real = w2s.bootstrap.train_weak_to_strong

    def watched(weak_predictions: pl.DataFrame, features: Any, params: Params, *args: Any, **kwargs: Any) -> Any:
        seen.append((weak_predictions.filter(pl.col("part") == "train_transfer")["id"].to_list(), params))
        return real(weak_predictions, features, params, *args, **kwargs)

    monkeypatch.setattr(w2s.bootstrap, "train_weak_to_strong", watched)
    run_chain(gt["minilm_l3"], f, p, "sst2", list(MODELS), "xent", 0, progress=False)
    assert len(seen) == 4 + 2  # 4 fold students of minilm_l6, then the final hop and the direct run
    transfer_ids = gt["minilm_l3"].filter(pl.col("part") == "train_transfer")["id"].to_list()
    for ids, params in seen[-2:]:
        assert ids == transfer_ids and params is p  # same rows, same order (same weak_holdout rows), same params
    for ids, params in seen[:4]:
        assert len(ids) == len(transfer_ids) * 3 // 4 and params.train.weak_holdout == 0.0


def test_fold_ids_are_balanced_seeded_and_order_free() -> None:
    ids = np.arange(100, 203)
    folds = fold_ids(ids, 5, seed=0)
    assert sorted(np.bincount(folds).tolist()) == [20, 20, 21, 21, 21]
    shuffled = np.random.default_rng(1).permutation(ids)
    np.testing.assert_array_equal(fold_ids(shuffled, 5, 0), folds[np.searchsorted(ids, shuffled)])
    assert not np.array_equal(fold_ids(ids, 5, 1), folds)
    with pytest.raises(InputError, match="bootstrap.folds: 5 folds need at least 5 train_transfer rows, got 3"):
        fold_ids(ids[:3], 5, 0)


def test_params_reject_fewer_than_two_folds() -> None:
    with pytest.raises(InputError, match="bootstrap.folds: must be >= 2, got 1"):
        make_params(bootstrap={"chains": ["minilm_l3-to-mpnet"], "method": "xent", "folds": 1})
    with pytest.raises(InputError, match="bootstrap.folds: expected int"):
        make_params(bootstrap={"chains": ["minilm_l3-to-mpnet"], "method": "xent", "folds": 2.5})


def test_two_model_chain_is_the_direct_run(setup: dict[str, Any]) -> None:
    p, f, gt = setup["params"], setup["features"], setup["gt"]
    result = run_chain(gt["minilm_l3"], f, p, "sst2", ["minilm_l3", "mpnet"], "xent", 0, progress=False)
    np.testing.assert_array_equal(result.chain.predictions["p1"].to_numpy(), result.direct.predictions["p1"].to_numpy())


def test_deterministic_for_a_seed(setup: dict[str, Any]) -> None:
    p, f, gt = setup["params"], setup["features"], setup["gt"]
    a = run_chain(gt["minilm_l3"], f, p, "sst2", list(MODELS), "xent", 0, progress=False)
    b = run_chain(gt["minilm_l3"], f, p, "sst2", list(MODELS), "xent", 0, progress=False)
    assert a.chain.predictions.equals(b.chain.predictions)


def test_table_and_summary_pgr(setup: dict[str, Any]) -> None:
    p, f, gt = setup["params"], setup["features"], setup["gt"]
    result = run_chain(gt["minilm_l3"], f, p, "sst2", list(MODELS), "xent", 0, progress=False)
    table = bootstrap_table(result, gt["minilm_l3"], gt["mpnet"], "sst2", list(MODELS), "xent", 0)
    assert table.columns[:7] == ["task", "chain", "seed", "route", "method", "accuracy", "auroc"]
    assert table["route"].to_list() == ["chain", "direct"] and table["n_hops"].to_list() == [2, 1]
    preds = pl.concat([result.chain.predictions, result.direct.predictions, gt["minilm_l3"], gt["mpnet"]],
                      how="diagonal")
    per_seed, summary, metrics = summarize(table, preds, n_resamples=100)
    for r in per_seed.iter_rows(named=True):
        expected = (r["accuracy"] - r["weak_accuracy"]) / (r["ceiling_accuracy"] - r["weak_accuracy"])
        assert r["pgr_accuracy"] == pytest.approx(expected)
    assert summary.height == 2 and summary["n_seeds"].to_list() == [1, 1]
    assert summary["pgr_accuracy_status"].to_list() in (["too_few_seeds"] * 2, )  # one seed: no interval
    assert summary["pgr_accuracy_low"].to_list() == [None, None]
    assert metrics["sst2/minilm_l3>minilm_l6>mpnet/chain/accuracy"] == pytest.approx(table["accuracy"][0])
    assert "sst2/minilm_l3>minilm_l6>mpnet/direct/pgr_accuracy_low" in metrics


def _route_preds(kind: str, correct: int, seed: int, **keys: str) -> pl.DataFrame:
    """Test predictions that get the first `correct` of every 20 of 200 all-positive rows right."""
    p1 = np.where(np.arange(200) % 20 < correct, 0.9, 0.1)
    return pl.DataFrame({"id": np.arange(200), "part": "test", "label": np.ones(200, dtype=np.int8), "p1": p1,
                         "kind": kind, "task": "t", "seed": seed, **keys})


def test_summary_hand_values_over_seeds() -> None:
    """Weak 0.6, ceilings 0.9 / 0.8 / 0.85, chain students 0.75 / 0.75 / 0.75: per-seed PGRs 0.5, 0.75, 0.6;
    the summary is the ratio of means, 0.15 / 0.25 = 0.6 (the lab's one definition)."""
    ceilings = {0: 18, 1: 16, 2: 17}
    rows = [{"task": "t", "chain": "a>b>c", "seed": s, "route": "chain", "method": "xent", "accuracy": 0.75,
             "auroc": 0.8, "weak_accuracy": 0.6, "weak_auroc": 0.7, "ceiling_accuracy": c / 20, "ceiling_auroc": 0.7}
            for s, c in ceilings.items()]
    preds = pl.concat([frame for s, c in ceilings.items() for frame in (
        _route_preds("gt", 12, s, model="a"), _route_preds("gt", c, s, model="c"),
        _route_preds("bootstrap", 15, s, chain="a>b>c", route="chain"))], how="diagonal")
    per_seed, summary, metrics = summarize(pl.DataFrame(rows), preds, n_resamples=300)
    assert per_seed["pgr_accuracy"].to_list() == pytest.approx([0.5, 0.75, 0.6])
    assert summary["pgr_accuracy"][0] == pytest.approx(0.6)
    assert summary["pgr_accuracy_low"][0] <= 0.6 <= summary["pgr_accuracy_high"][0]
    assert summary["accuracy_low"][0] <= 0.75 <= summary["accuracy_high"][0]
    assert metrics["t/a>b>c/chain/n_seeds"] == 3
    # all-positive rows: AUROC is undefined, and the summary says why
    assert summary["pgr_auroc_status"][0] == "undefined" and "one class" in summary["pgr_auroc_reason"][0]



def test_chain_label() -> None:
    assert chain_label(["a", "b", "c"]) == "a>b>c"


@pytest.mark.parametrize(("chains", "match"), [
    (["minilm_l3"], "needs at least two models"),
    (["minilm_l3-to-huge"], "'huge' is not in the ladder"),
    (["mpnet-to-minilm_l6"], "does not go up the ladder"),
])
def test_params_reject_bad_chains(chains: list[str], match: str) -> None:
    with pytest.raises(InputError, match=match):
        make_params(bootstrap={"chains": chains, "method": "xent"})


def test_params_reject_a_method_not_run() -> None:
    with pytest.raises(InputError, match="bootstrap.method: 'kl' is not one of methods"):
        make_params(bootstrap={"chains": ["minilm_l3-to-mpnet"], "method": "kl"})


def test_run_chain_rejects_missing_features(setup: dict[str, Any]) -> None:
    p, gt = setup["params"], setup["gt"]
    with pytest.raises(InputError, match="no features for 'minilm_l6'"):
        run_chain(gt["minilm_l3"], {"mpnet": setup["features"]["mpnet"]}, p, "sst2", list(MODELS), "xent", 0)
