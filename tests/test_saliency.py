"""Concept saliency: soft-label probes against hand-checkable equivalences, and the five conditions
end to end on a tiny random-init BERT (real tokenizer from the offline cache, real trainer)."""

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
from w2s.saliency import (
    CONDITIONS,
    probe_accuracy,
    run_conditions,
    saliency_metrics,
    saliency_table,
    select_rows,
    soft_logistic_regression,
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


def test_probe_accuracy_on_separable_data() -> None:
    x, y = blobs(60)
    x[:, 0] = np.where(y == 1, 5.0, -5.0)  # one perfectly separating direction
    assert probe_accuracy(x[:40], y[:40], x[40:], y[40:]) == 1.0
    with pytest.raises(InputError, match="one class only"):
        probe_accuracy(x, np.ones(len(x)), x, y)
    with pytest.raises(InputError, match=r"values in \[0, 1\]"):
        probe_accuracy(x, np.full(len(x), 1.5), x, y)


WORDS = {1: ["good", "great", "fine", "nice"], 0: ["bad", "awful", "poor", "sad"]}


def toy_pool(n: int) -> pl.DataFrame:
    label = np.arange(n) % 2
    text = [f"a {WORDS[int(y)][i % 4]} day number {i}" for i, y in enumerate(label)]
    part = ["test" if i >= n - 16 else "train" for i in range(n)]
    return pl.DataFrame({"id": np.arange(n), "text": text, "label": label, "part": part})


def toy_inputs(n: int = 64) -> tuple[pl.DataFrame, pl.DataFrame, tuple[np.ndarray, np.ndarray]]:
    pool = toy_pool(n)
    # a weak supervisor right on 3 of 4 rows, with soft labels
    wrong = (np.arange(n) % 4 == 0)
    weak_p1 = np.where(pool["label"].to_numpy() == 1, 0.8, 0.2)
    weak_p1 = np.where(wrong, 1 - weak_p1, weak_p1)
    parts = ["test" if p == "test" else "train_transfer" for p in pool["part"]]
    preds = pool.select("id", "label").with_columns(pl.Series("p1", weak_p1), pl.Series("part", parts))
    feats = np.random.default_rng(0).normal(size=(n, 4)).astype(np.float32)
    feats[:, 0] += 4.0 * pool["label"].to_numpy()
    return pool, preds, (pool["id"].to_numpy(), feats)


def test_select_rows_is_seeded_and_aligned() -> None:
    pool, preds, feats = toy_inputs()
    a = select_rows(pool, preds, feats, n_train=20, n_test=100, seed=1)
    b = select_rows(pool, preds, feats, n_train=20, n_test=100, seed=1)
    assert a.train_texts == b.train_texts and len(a.train_texts) == 20 and len(a.test_texts) == 16
    first = pool.filter(pl.col("text") == a.train_texts[0]).row(0, named=True)
    assert a.train_labels[0] == first["label"]
    np.testing.assert_array_equal(a.train_features[0], feats[1][first["id"]])
    with pytest.raises(InputError, match="no test rows"):
        select_rows(pool, preds.filter(pl.col("part") != "test"), feats, 20, 10, 0)
    with pytest.raises(InputError, match="lack 32 ids"):
        select_rows(pool, preds, (feats[0][:16], feats[1][:16]), 100, 10, 0)


def test_five_conditions_on_a_tiny_model() -> None:
    from w2s.models import classifier_from_config, load_tokenizer

    tokenizer = load_tokenizer(TOKENIZER)
    config = BertConfig(vocab_size=tokenizer.vocab_size, hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                        intermediate_size=64, max_position_embeddings=64)

    def make_model(generator: torch.Generator):
        return classifier_from_config(config, mode="finetune", generator=generator, seed=0), tokenizer

    pool, preds, feats = toy_inputs()
    data = select_rows(pool, preds, feats, n_train=48, n_test=16, seed=0)
    params = TrainParams(mode="finetune", epochs=12, batch_size=16, lr=3e-3, max_length=16, device="cpu")
    acc = run_conditions(data, make_model, params, seed=0)
    assert tuple(acc) == CONDITIONS
    assert all(0.0 <= v <= 1.0 for v in acc.values())
    assert acc["finetune_gt"] == 1.0  # the word decides the label: ground truth is easy to learn
    assert acc["probe_gt"] >= 0.875  # feature 0 carries the label
    table = saliency_table(acc, task="toy", model="tiny", weak="w", seed=0, n_train=48, n_test=16)
    assert table["condition"].to_list() == list(CONDITIONS)
    assert saliency_metrics(table)["toy/finetune_gt/accuracy"] == 1.0


def test_unknown_condition_is_named() -> None:
    with pytest.raises(InputError, match="unknown condition 'oops'"):
        saliency_table({"oops": 0.5}, task="t", model="m", weak="w", seed=0, n_train=1, n_test=1)


def test_saliency_params_resolve_and_skip() -> None:
    from w2s.config import SaliencyParams

    ladder = ["a", "b", "c"]
    assert SaliencyParams().resolve(ladder, [3, 4]) == ("c", "a", 3, None)
    assert SaliencyParams(model="b", seed=4).resolve(ladder, [3, 4]) == ("b", "a", 4, None)
    assert "must both be in the ladder" in SaliencyParams(model="z").resolve(ladder, [0])[3]
    assert "must come before" in SaliencyParams(model="a", weak="b").resolve(ladder, [0])[3]
    assert "not in seeds" in SaliencyParams(seed=9).resolve(ladder, [0])[3]


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
