"""Probe mode (issue 18): a converged, explicitly regularised head; C chosen on the run's own training labels."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
import pytest
import torch
import yaml
from sklearn.linear_model import LogisticRegression

from w2s.config import Pair, Params, parse_params
from w2s.errors import InputError
from w2s.losses import logconf, make_loss
from w2s.pipeline import train_ground_truth, train_weak_to_strong
from w2s.probe import fit_probe, fit_probe_stepwise, select_c, soft_xent_objective, standardiser
from w2s.train import feature_batches, micro_batches

ROOT = Path(__file__).resolve().parents[1]


def fixture_rows(n: int = 300, dim: int = 12, seed: int = 0, soft: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """Correlated Gaussian features on varied scales; soft (or hard) targets from a noisy linear rule."""
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, dim)) @ rng.standard_normal((dim, dim)) * rng.uniform(0.1, 5.0, dim) + 3.0
    z = x @ rng.standard_normal(dim) / 5.0 + rng.standard_normal(n)
    t = 1.0 / (1.0 + np.exp(-z))
    return x.astype(np.float32), (t if soft else (t > 0.5).astype(np.float64))


def sklearn_fit(x: np.ndarray, t: np.ndarray, c: float) -> tuple[np.ndarray, float]:
    """scikit-learn's LogisticRegression at C on the same standardised features. Soft targets: each row
    twice, labelled 1 with weight t and 0 with weight 1 - t (sklearn's C·Σ w_i loss_i + ½‖w‖²)."""
    mean, scale = standardiser(x)
    xs = (x.astype(np.float64) - mean) / scale
    rows = np.concatenate([xs, xs])
    labels = np.concatenate([np.ones(len(t)), np.zeros(len(t))])
    weights = np.concatenate([t, 1.0 - t])
    model = LogisticRegression(C=c, tol=1e-12, max_iter=100_000).fit(rows, labels, sample_weight=weights)
    return model.coef_[0], float(model.intercept_[0])


@pytest.mark.parametrize("soft", [True, False])
@pytest.mark.parametrize("c", [0.003, 0.1, 10.0])
def test_probe_converges_to_sklearns_minimiser(soft: bool, c: float) -> None:
    x, t = fixture_rows(soft=soft)
    probe = fit_probe(x, t, c, tol=1e-7)
    assert probe.converged and probe.grad_norm <= 1e-7
    mean, scale = standardiser(x)
    xs = (x.astype(np.float64) - mean) / scale
    _, _, grad = soft_xent_objective(xs, t, c, np.append(probe.weight, probe.bias))
    assert np.linalg.norm(grad) == pytest.approx(probe.grad_norm)  # the reported norm is the true one
    coef, intercept = sklearn_fit(x, t, c)
    assert np.abs(probe.weight - coef).max() < 1e-3
    assert abs(probe.bias - intercept) < 1e-3


def test_objective_gradient_matches_finite_differences() -> None:
    x, t = fixture_rows(n=50, dim=4)
    mean, scale = standardiser(x)
    xs = (x.astype(np.float64) - mean) / scale
    params = np.random.default_rng(1).standard_normal(5)
    value, loss, grad = soft_xent_objective(xs, t, 0.05, params)
    assert value == pytest.approx(loss + params[:-1] @ params[:-1] / (2 * 0.05 * 50))
    eps = 1e-6
    numeric = [(soft_xent_objective(xs, t, 0.05, params + eps * e)[0]
                - soft_xent_objective(xs, t, 0.05, params - eps * e)[0]) / (2 * eps) for e in np.eye(5)]
    assert np.allclose(grad, numeric, atol=1e-7)


def test_a_fit_cut_short_says_it_did_not_converge() -> None:
    x, t = fixture_rows()
    probe = fit_probe(x, t, 10.0, max_iter=2)
    assert probe.n_iter == 2 and not probe.converged and probe.grad_norm > 1e-6


def test_the_monitor_never_changes_the_fit() -> None:
    x, t = fixture_rows()
    seen: list[tuple[int, float]] = []

    def monitor(step: int, epoch: float, p1_of: Any) -> None:
        seen.append((step, float(p1_of(x[:5]).sum())))

    plain = fit_probe(x, t, 0.1)
    watched = fit_probe(x, t, 0.1, monitor=monitor)
    assert plain.weight.tobytes() == watched.weight.tobytes()
    assert [s for s, _ in seen] == list(range(1, watched.n_iter + 1))
    assert np.allclose(watched.predict(x[:5]).sum(), seen[-1][1])  # the last iterate is the returned one


def test_stepwise_fit_has_the_same_penalty() -> None:
    """xent through the stepwise trainer (Adam, annealed) lands on fit_probe's minimiser: same objective, same C."""
    x, t = fixture_rows()
    exact = fit_probe(x, t, 0.01)
    stepwise = fit_probe_stepwise(x, t, make_loss("xent", {}), 0.01, epochs=300, batch_size=300, lr=0.05, seed=0,
                                  lr_at=lambda s, total: 1.0 - s / total)
    assert np.abs(stepwise.weight - exact.weight).max() < 1e-2
    assert stepwise.objective == pytest.approx(exact.objective, abs=1e-4)


def test_stepwise_reports_the_fixed_point_gradient() -> None:
    x, t = fixture_rows()
    loss = make_loss("logconf", {})
    probe = fit_probe_stepwise(x, t, loss, 0.01, epochs=3, batch_size=64, lr=1e-3, seed=0, tol=1e-3)
    xs = torch.from_numpy((x.astype(np.float64) - probe.mean) / probe.scale)
    w = torch.from_numpy(probe.weight).requires_grad_()
    b = torch.tensor(probe.bias, dtype=torch.float64, requires_grad=True)
    objective = loss(xs @ w + b, torch.from_numpy(t), 1.0) + (w @ w) / (2 * 0.01 * len(t))
    gw, gb = torch.autograd.grad(objective, [w, b])
    assert float(torch.cat([gw, gb.reshape(1)]).norm()) == pytest.approx(probe.grad_norm, rel=1e-9)
    assert probe.objective == pytest.approx(float(objective.detach()), rel=1e-12)
    assert probe.converged == (probe.grad_norm <= 1e-3) and probe.n_iter == 3 * 5  # 300 rows: 4 x 64 + 44


# ----------------------------------------------------------------------------------------- choosing C


def test_select_c_scores_every_c_and_breaks_ties_towards_regularisation() -> None:
    x, t = fixture_rows(n=200)
    chosen = select_c(x, t, [0.001, 0.01, 1.0], folds=4, seed=0)
    assert set(chosen.scores) == {0.001, 0.01, 1.0} and chosen.c == max(chosen.scores, key=chosen.scores.__getitem__)
    again = select_c(x, t, [0.001, 0.01, 1.0], folds=4, seed=0)
    assert again == chosen
    # well-separated classes: every C of the grid scores a held-out accuracy of 1, and the smallest C wins
    rng = np.random.default_rng(0)
    labels = np.arange(60) % 2
    sep = rng.standard_normal((60, 3)) + 6.0 * labels[:, None]
    tied = select_c(sep, labels.astype(float), [10.0, 1.0, 3.0], folds=3, seed=0, scoring="accuracy")
    assert set(tied.scores.values()) == {1.0} and tied.c == 1.0


def test_a_fold_without_both_classes_is_refused_with_the_counts() -> None:
    x, _ = fixture_rows(n=40)
    t = np.zeros(40)
    t[:3] = 1.0
    with pytest.raises(InputError, match=r"sst2/mpnet: train.probe_c cv: 5 folds need at least 5 rows of each "
                                         r"class; the training labels have 3 positive and 37 negative of 40 rows"):
        select_c(x, t, [0.01], folds=5, where="sst2/mpnet: train.probe_c cv")


N_TRAIN, N_TEST = 400, 200
MODELS = ("minilm_l3", "minilm_l6", "mpnet")


def make_params(**train: Any) -> Params:
    raw = yaml.safe_load((ROOT / "params.yaml").read_text())
    raw["data"] = {"source": "local", "local_dir": "/nonexistent"}
    raw.update(tasks=["sst2"], seeds=[0])
    raw["train"].update(mode="probe", epochs=3, batch_size=32, eval_every=2, **train)
    return parse_params(raw)


def make_pool(seed: int = 0) -> pl.DataFrame:
    n = N_TRAIN + N_TEST
    labels = np.random.default_rng(seed).permutation(np.arange(n) % 2)
    return pl.DataFrame({"id": np.arange(n, dtype=np.int64), "text": [f"t{i}" for i in range(n)],
                         "label": labels.astype(np.int64), "part": ["train"] * N_TRAIN + ["test"] * N_TEST})


def make_features(pool: pl.DataFrame, signal: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((pool.height, 20)).astype(np.float32)
    x[:, :3] += signal * (2 * pool["label"].to_numpy()[:, None] - 1)
    return pool["id"].to_numpy(), x


@pytest.fixture(scope="module")
def lab() -> dict[str, Any]:
    params, pool = make_params(), make_pool()
    feats = {m: make_features(pool, s, i) for i, (m, s) in enumerate(zip(MODELS, (0.15, 0.3, 0.6), strict=True))}
    weak = train_ground_truth(pool, feats["minilm_l3"], params, "sst2", "minilm_l3", 0)
    return {"params": params, "pool": pool, "features": feats, "weak": weak}


def test_gt_and_student_summaries_report_the_fit(lab: dict[str, Any]) -> None:
    p, f = lab["params"], lab["features"]
    pair = Pair("minilm_l3", "mpnet")
    student = train_weak_to_strong(lab["weak"].predictions, f["mpnet"], p, "sst2", pair, "xent", 0)
    for run in (lab["weak"], student):
        s = run.summary()
        assert s["optimizer"] == "lbfgs" and s["converged"] is True and s["grad_norm"] <= p.train.probe_tol
        assert s["probe_c"] in p.train.probe_c_grid and set(s["probe_c_cv"]) == {"0.001", "0.003", "0.01", "0.03"}
        assert s["train_objective"] > s["train_loss"] > 0  # the penalty is part of the objective
        assert "best_accuracy" not in s and 0 <= s["best_test_accuracy_peek"] <= 1  # issue 12 point 12
        history = run.history()
        assert history[-1]["step"] == s["steps"] and all(pt["step"] % 2 == 0 for pt in history[:-1])


def test_a_fixed_c_is_used_as_given(lab: dict[str, Any]) -> None:
    p = make_params(probe_c=0.02)
    run = train_ground_truth(lab["pool"], lab["features"]["mpnet"], p, "sst2", "mpnet", 0)
    assert run.summary()["probe_c"] == 0.02 and "probe_c_cv" not in run.summary()
    again = train_ground_truth(lab["pool"], lab["features"]["mpnet"], p, "sst2", "mpnet", 0)
    assert again.summary() == run.summary()  # summary.json is byte-stable: no wall time in it


def test_student_c_never_reads_ground_truth_or_test_labels(lab: dict[str, Any]) -> None:
    """Shuffle every ground-truth label the student's table carries (transfer and test rows) and the
    test rows' features: the chosen C and every CV score stay the same. Change the weak labels: they move."""
    p, f, weak = lab["params"], lab["features"], lab["weak"].predictions
    pair = Pair("minilm_l3", "mpnet")
    base = train_weak_to_strong(weak, f["mpnet"], p, "sst2", pair, "xent", 0).summary()
    rng = np.random.default_rng(7)
    shuffled = weak.with_columns(pl.Series("label", rng.permutation(weak["label"].to_numpy())))
    ids, x = f["mpnet"]
    x = x.copy()
    test_rows = np.isin(ids, weak.filter(pl.col("part") == "test")["id"].to_numpy())
    x[test_rows] = rng.standard_normal((int(test_rows.sum()), x.shape[1]))
    other = train_weak_to_strong(shuffled, (ids, x), p, "sst2", pair, "xent", 0).summary()
    assert other["probe_c"] == base["probe_c"] and other["probe_c_cv"] == base["probe_c_cv"]
    assert other["train_objective"] == base["train_objective"]
    flipped = weak.with_columns(pl.when(pl.col("part") == "train_transfer").then(1 - pl.col("p1"))
                                .otherwise(pl.col("p1")).alias("p1"))
    moved = train_weak_to_strong(flipped, f["mpnet"], p, "sst2", pair, "xent", 0).summary()
    assert moved["probe_c_cv"] != base["probe_c_cv"]


def test_gt_c_never_reads_test_labels(lab: dict[str, Any]) -> None:
    p, pool, feats = lab["params"], lab["pool"], lab["features"]["minilm_l6"]
    base = train_ground_truth(pool, feats, p, "sst2", "minilm_l6", 0).summary()
    test = pl.col("part") == "test"
    shuffled = pool.with_columns(pl.when(test).then(1 - pl.col("label")).otherwise(pl.col("label")).alias("label"))
    other = train_ground_truth(shuffled, feats, p, "sst2", "minilm_l6", 0).summary()
    assert other["probe_c_cv"] == base["probe_c_cv"] and other["train_objective"] == base["train_objective"]
    assert other["accuracy"] == pytest.approx(1 - base["accuracy"])  # the labels did change


def test_logconf_student_is_stepwise_with_the_same_c(lab: dict[str, Any]) -> None:
    p, f = lab["params"], lab["features"]
    s = train_weak_to_strong(lab["weak"].predictions, f["mpnet"], p, "sst2", Pair("minilm_l3", "mpnet"), "logconf",
                             0).summary()
    assert s["optimizer"] == "adam" and s["probe_c"] in p.train.probe_c_grid
    assert isinstance(s["converged"], bool) and s["grad_norm"] > 0


def test_ceiling_and_student_train_on_as_many_rows(lab: dict[str, Any]) -> None:
    """Issue 12 point 8: train_weak is cut to the student's rows (train_transfer less the weak holdout), so
    the stepwise runs take the same steps."""
    p = make_params(probe_c=0.01)
    f, pool = lab["features"], lab["pool"]
    gt = train_ground_truth(pool, f["mpnet"], p, "sst2", "mpnet", 0)
    student = train_weak_to_strong(lab["weak"].predictions, f["mpnet"], p, "sst2", Pair("minilm_l3", "mpnet"),
                                   "logconf", 0)
    n_transfer = lab["weak"].predictions.filter(pl.col("part") == "train_transfer").height
    n_student = n_transfer - round(p.train.weak_holdout * n_transfer)
    n_weak = N_TRAIN - n_transfer
    assert gt.summary()["train_rows"] == student.summary()["train_rows"] == n_student < n_weak
    assert student.fit.steps == 3 * 6  # ~180 rows: 5 x 32 + ~20 (kept: >= 16)


# --------------------------------------------------------------------------- batches and logconf's rate


def test_tiny_last_batches_join_the_previous_one() -> None:
    batches = feature_batches(900, 64, torch.Generator().manual_seed(0))
    assert [len(b) for b in batches] == [64] * 13 + [68]  # 900 = 14 x 64 + 4: the 4 join the 14th
    assert sorted(torch.cat(batches).tolist()) == list(range(900))
    assert [len(b) for b in micro_batches(batches[-1], 64)] == [34, 34]
    assert [len(b) for b in feature_batches(100, 64, torch.Generator().manual_seed(0))] == [64, 36]  # 36 >= 32


def test_no_loss_sees_a_tiny_batch_in_training() -> None:
    x, t = fixture_rows(n=900)
    sizes: list[int] = []
    loss = make_loss("logconf", {})

    def recording(logits: torch.Tensor, weak: torch.Tensor, progress: float) -> torch.Tensor:
        sizes.append(len(logits))
        return loss(logits, weak, progress)

    fit_probe_stepwise(x, t, recording, 0.01, epochs=2, batch_size=64, lr=1e-3, seed=0)
    assert min(sizes[:-1]) == 64 and max(sizes[:-1]) == 68 and sizes[-1] == 900  # last: the full-data check


def test_logconf_rate_is_the_mean_soft_label() -> None:
    """Official rate: mean(weak) = 0.55 over 4 rows -> round(2.2) = 2 hardened positives (the share above
    0.5 would be 0.75 -> 3)."""
    weak = torch.tensor([0.9, 0.6, 0.6, 0.1], dtype=torch.float64)
    z = torch.tensor([2.0, 1.0, 0.5, -1.0], dtype=torch.float64)
    hard = torch.tensor([1.0, 1.0, 0.0, 0.0], dtype=torch.float64)  # the 2 most confident students
    expected = torch.nn.functional.binary_cross_entropy_with_logits(z, 0.5 * weak + 0.5 * hard)
    assert float(logconf(z, weak, 1.0, alpha_max=0.5, warmup_frac=0.2)) == pytest.approx(float(expected), rel=1e-12)


# ------------------------------------------------------------------------------------------- bad input


@pytest.mark.parametrize(("key", "value", "message"), [
    ("probe_c", 0, "train.probe_c: must be a positive number or 'cv', got 0.0"),
    ("probe_c", -1.0, "train.probe_c: must be a positive number or 'cv', got -1.0"),
    ("probe_c", "strong", "train.probe_c: must be a positive number or 'cv', got 'strong'"),
    ("probe_c", "1e-2", "got '1e-2' (YAML reads 1e-2 as text: write 0.01 or 1.0e-2)"),
    ("probe_c_grid", [], "train.probe_c_grid: empty"),
    ("probe_c_grid", [0.01, 0.0], r"train.probe_c_grid\[1\]: must be positive, got 0.0"),
    ("probe_cv_folds", 1, "train.probe_cv_folds: must be an integer >= 2, got 1"),
    ("probe_tol", 0.0, "train.probe_tol"),
])
def test_bad_probe_params_name_the_key(key: str, value: Any, message: str) -> None:
    with pytest.raises(InputError, match=message.replace("(", r"\(").replace(")", r"\)")):
        make_params(**{key: value})


def test_soft_targets_leaning_to_one_side_get_unstratified_folds() -> None:
    """A supervisor near chance can label almost every row > 0.5 with soft labels near 0.5: the log-loss CV
    is still defined, so the student's C is chosen on seeded unstratified folds rather than refused."""
    x, _ = fixture_rows(n=60)
    t = np.full(60, 0.55)
    t[:2] = 0.45
    chosen = select_c(x, t, [0.001, 0.1], folds=5, seed=0)
    assert chosen.c in (0.001, 0.1) and set(chosen.scores) == {0.001, 0.1}
    assert chosen == select_c(x, t, [0.001, 0.1], folds=5, seed=0)
