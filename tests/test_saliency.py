"""Concept saliency: soft-label probes against hand-checkable equivalences, the five conditions end to end
on a tiny random-init BERT (real tokenizer from the offline cache, real trainer) at one token limit, and
the summary's intervals over seeds and test rows."""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest
import torch
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from transformers import BertConfig

from w2s.config import TrainParams
from w2s.errors import InputError
from w2s.metrics import accuracy_interval
from w2s.saliency import (
    CONDITIONS,
    probe_correct,
    run_conditions,
    saliency_metrics,
    saliency_rows,
    select_rows,
    soft_logistic_regression,
    summarize,
)

TOKENIZER = "sentence-transformers/paraphrase-MiniLM-L3-v2"


def blobs(n: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    y = np.arange(n) % 2
    return rng.normal(size=(n, 3)) + 1.5 * y[:, None], y


def coef(model) -> np.ndarray:
    return model[-1].coef_.ravel()


def test_hard_targets_give_the_ordinary_fit() -> None:
    x, y = blobs(40)
    ours = soft_logistic_regression(x, y.astype(float))
    plain = make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000)).fit(x, y)
    np.testing.assert_allclose(coef(ours), coef(plain), rtol=1e-4, atol=1e-6)


def test_soft_targets_equal_replicated_hard_rows() -> None:
    # p = 1/4 or 3/4 per row == 4 copies of the row with 1 or 3 of them positive. The copies carry 4x the
    # loss weight, so the soft fit at C = 4 equals the replicated hard fit at C = 1.
    x, y = blobs(30)
    p = np.where(y == 1, 0.75, 0.25)
    xs = np.repeat(x, 4, axis=0)
    ys = np.concatenate([[1, 0, 0, 0] if yi == 0 else [1, 1, 1, 0] for yi in y])
    replicated = make_pipeline(StandardScaler(), LogisticRegression(C=1.0, max_iter=5000, tol=1e-10)).fit(xs, ys)
    soft = soft_logistic_regression(x, p, c=4.0)
    np.testing.assert_allclose(coef(soft), coef(replicated), rtol=1e-3)


def test_probe_correct_on_separable_data() -> None:
    x, y = blobs(60)
    x[:, 0] = np.where(y == 1, 5.0, -5.0)  # one perfectly separating direction
    right = probe_correct(x[:40], y[:40], x[40:], y[40:])
    assert right.dtype == bool and right.shape == (20,) and right.all()
    assert not probe_correct(x[:40], y[:40], x[40:], 1 - y[40:]).any()
    with pytest.raises(InputError, match="one class only"):
        probe_correct(x, np.ones(len(x)), x, y)
    with pytest.raises(InputError, match=r"values in \[0, 1\]"):
        probe_correct(x, np.full(len(x), 1.5), x, y)


WORDS = {1: ["good", "great", "fine", "nice"], 0: ["bad", "awful", "poor", "sad"]}


def toy_pool(n: int, prefix: str = "a") -> pl.DataFrame:
    label = np.arange(n) % 2
    text = [f"{prefix} {WORDS[int(y)][i % 4]} day number {i}" for i, y in enumerate(label)]
    part = ["test" if i >= n - 16 else "train" for i in range(n)]
    return pl.DataFrame({"id": np.arange(n), "text": text, "label": label, "part": part})


def toy_inputs(n: int = 64, prefix: str = "a") -> tuple[pl.DataFrame, pl.DataFrame]:
    pool = toy_pool(n, prefix)
    # a weak supervisor right on 3 of 4 rows, with soft labels
    wrong = (np.arange(n) % 4 == 0)
    weak_p1 = np.where(pool["label"].to_numpy() == 1, 0.8, 0.2)
    weak_p1 = np.where(wrong, 1 - weak_p1, weak_p1)
    parts = ["test" if p == "test" else "train_transfer" for p in pool["part"]]
    preds = pool.select("id", "label").with_columns(pl.Series("p1", weak_p1), pl.Series("part", parts))
    return pool, preds


def test_select_rows_is_seeded_with_the_same_test_rows_for_every_seed() -> None:
    pool, preds = toy_inputs()
    a = select_rows(pool, preds, n_train=20, n_test=10, seed=1)
    b = select_rows(pool, preds, n_train=20, n_test=10, seed=1)
    c = select_rows(pool, preds, n_train=20, n_test=10, seed=2)
    assert a.train_texts == b.train_texts and len(a.train_texts) == 20 and len(a.test_texts) == 10
    assert a.train_texts != c.train_texts  # another seed, another training sample
    np.testing.assert_array_equal(a.test_ids, c.test_ids)  # ... but the same test rows
    assert a.test_texts == c.test_texts
    first = pool.filter(pl.col("text") == a.train_texts[0]).row(0, named=True)
    assert a.train_labels[0] == first["label"]
    assert len(select_rows(pool, preds, n_train=20, n_test=100, seed=1).test_texts) == 16  # all there are
    with pytest.raises(InputError, match="no test rows"):
        select_rows(pool, preds.filter(pl.col("part") != "test"), 20, 10, 0)
    with pytest.raises(InputError, match="the pool lacks 32 ids"):
        select_rows(pool.filter(pl.col("id") >= 32), preds, 100, 10, 0)


def tiny_model_factory():
    from w2s.models import classifier_from_config, load_tokenizer

    tokenizer = load_tokenizer(TOKENIZER)
    config = BertConfig(vocab_size=tokenizer.vocab_size, hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                        intermediate_size=64, max_position_embeddings=64)

    def make_model(generator: torch.Generator):
        return classifier_from_config(config, mode="finetune", generator=generator, seed=0), tokenizer

    return make_model


def test_five_conditions_on_a_tiny_model(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("W2S_DEVICE", "cpu")
    pool, preds = toy_inputs()
    data = select_rows(pool, preds, n_train=48, n_test=16, seed=0)
    params = TrainParams(mode="finetune", epochs=12, batch_size=16, lr=3e-3, max_length=16)
    outcomes = run_conditions(data, tiny_model_factory(), params, seed=0)
    assert tuple(outcomes) == CONDITIONS
    assert all(v.dtype == bool and v.shape == (16,) for v in outcomes.values())
    assert outcomes["finetune_gt"].all()  # the word decides the label: ground truth is easy to learn
    assert outcomes["probe_gt"].mean() >= 0.875  # the frozen activations of the word embeddings carry it
    rows = saliency_rows(outcomes, data, task="toy", model="tiny", weak="w", seed=0)
    assert rows.height == 5 * 16 and rows["condition"].unique(maintain_order=True).to_list() == list(CONDITIONS)
    assert rows.filter(pl.col("condition") == "finetune_gt")["correct"].all()
    np.testing.assert_array_equal(rows.filter(pl.col("condition") == "probe_gt")["id"].to_numpy(), data.test_ids)


def test_every_condition_reads_the_texts_at_max_length(monkeypatch: pytest.MonkeyPatch) -> None:
    """The word that decides the label comes after a shared 12-word prefix. At max_length 8 every condition,
    the frozen probes included, sees the same truncated text for every row, so predicts one class for all
    of the 8 + 8 test rows: accuracy exactly 0.5. (Probes on features embedded at another length would
    see the word.)"""
    monkeypatch.setenv("W2S_DEVICE", "cpu")
    pool, preds = toy_inputs(prefix="the film that we saw on the big screen last week was")
    data = select_rows(pool, preds, n_train=48, n_test=16, seed=0)
    params = TrainParams(mode="finetune", epochs=4, batch_size=16, lr=3e-3, max_length=8)
    outcomes = run_conditions(data, tiny_model_factory(), params, seed=0)
    assert {k: float(v.mean()) for k, v in outcomes.items()} == dict.fromkeys(CONDITIONS, 0.5)


def outcome_rows(correct: dict[int, list[bool]], condition: str = "probe_gt", ids: list[int] | None = None):
    n = len(next(iter(correct.values())))
    return pl.DataFrame([{"task": "t", "model": "m", "weak": "w", "seed": s, "condition": condition,
                          "id": (ids or list(range(n)))[i], "correct": c, "n_train": 10, "n_test": n}
                         for s, row in correct.items() for i, c in enumerate(row)])


def test_summary_is_the_interval_over_seeds_and_test_rows() -> None:
    outcomes = {0: [True, True, True, False] * 5, 1: [True, False, False, False] * 5, 2: [True, True, False, False] * 5}
    rows = outcome_rows(outcomes).sample(fraction=1.0, shuffle=True, seed=3)  # row order must not matter
    table = summarize(rows, level=0.9, n_resamples=500)
    expected = accuracy_interval(np.array([outcomes[s] for s in (0, 1, 2)]), level=0.9, n_resamples=500, seed=0)
    r = table.row(0, named=True)
    assert (r["value"], r["low"], r["high"], r["n_seeds"]) == (expected.mean, expected.low, expected.high, 3)
    assert r["value"] == pytest.approx(0.5) and r["low"] < 0.5 < r["high"] and r["n_test"] == 20
    assert table.columns == ["task", "model", "weak", "condition", "metric", "value", "low", "high", "n_seeds",
                             "n_train", "n_test"]
    metrics = saliency_metrics(table)
    assert metrics == {"t/probe_gt/accuracy": r["value"], "t/probe_gt/accuracy_low": r["low"],
                       "t/probe_gt/accuracy_high": r["high"]}


def test_summary_refuses_seeds_scored_on_different_test_rows() -> None:
    rows = pl.concat([outcome_rows({0: [True, False]}), outcome_rows({1: [True, True]}, ids=[0, 5])])
    with pytest.raises(InputError, match="seeds scored different test rows"):
        summarize(rows, n_resamples=100)


def test_unknown_condition_is_named() -> None:
    pool, preds = toy_inputs()
    data = select_rows(pool, preds, n_train=8, n_test=4, seed=0)
    with pytest.raises(InputError, match="unknown condition 'oops'"):
        saliency_rows({"oops": np.ones(4, dtype=bool)}, data, task="t", model="m", weak="w", seed=0)


def test_saliency_params_resolve_and_skip() -> None:
    from w2s.config import SaliencyParams

    ladder = ["a", "b", "c"]
    assert SaliencyParams().resolve(ladder, [3, 4]) == ("c", "a", [3, 4], None)
    assert SaliencyParams(model="b", seeds=[4]).resolve(ladder, [3, 4]) == ("b", "a", [4], None)
    assert "must both be in the ladder" in SaliencyParams(model="z").resolve(ladder, [0])[3]
    assert "must come before" in SaliencyParams(model="a", weak="b").resolve(ladder, [0])[3]
    assert "saliency.seeds [9] not in seeds [0]" in SaliencyParams(seeds=[0, 9]).resolve(ladder, [0])[3]


def test_saliency_typo_stops_the_params() -> None:
    from pathlib import Path

    import yaml

    from w2s.config import parse_params

    raw = yaml.safe_load((Path(__file__).resolve().parents[1] / "params.yaml").read_text())
    raw["saliency"]["model"] = "minilm_l7"
    with pytest.raises(InputError, match="saliency.model: unknown model key 'minilm_l7'"):
        parse_params(raw)
    raw["saliency"].update(model=None, n_train=0)
    with pytest.raises(InputError, match="saliency.n_train: must be positive"):
        parse_params(raw)
    raw["saliency"].update(n_train=10, seeds=[0, 0])
    with pytest.raises(InputError, match="saliency.seeds: a non-empty list without repeats"):
        parse_params(raw)
    raw["saliency"].update(seeds=None, seed=0)
    with pytest.raises(InputError, match="saliency: unknown key 'seed'"):
        parse_params(raw)


def test_figure_draws_the_summary_intervals() -> None:
    from w2s import figures

    rows = pl.concat([outcome_rows({0: [True, True, False, True] * 5, 1: [True, False, False, True] * 5},
                                   condition=c) for c in CONDITIONS])
    table = summarize(rows, n_resamples=200)
    chart = figures.saliency_conditions({"saliency": table}, "t")
    spec = chart.to_dict()
    drawn = {r["condition"]: r for r in spec["data"]["values"]}
    for r in table.iter_rows(named=True):
        assert (drawn[r["condition"]]["low"], drawn[r["condition"]]["high"]) == (r["low"], r["high"])
    assert [layer["mark"]["type"] for layer in spec["layer"]] == ["bar", "errorbar"]
    assert "interval over seeds and test rows" in str(spec["title"])
    import vl_convert

    assert len(vl_convert.vegalite_to_png(spec)) > 5_000  # the layered chart compiles and draws
