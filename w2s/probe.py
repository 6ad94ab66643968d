"""Linear probes on frozen features with an explicit L2 regulariser, fitted to convergence.

A probe maps a feature row x (D,) to p(y=1) = sigmoid(w · s(x) + b), where s standardises each feature
with the training rows' mean and (population) standard deviation. It is fitted against soft targets
t in [0, 1] (0/1 ground truth for supervisors and ceilings, a supervisor's probabilities for students).

**The objective** (issue 18): with z_i = w · s(x_i) + b and n training rows,

    J(w, b) = (1/n) Σ_i CE(sigmoid(z_i), t_i) + ‖w‖² / (2 C n),     CE(p, t) = −t log p − (1−t) log(1−p)

the bias unpenalised. This is scikit-learn's `LogisticRegression(C=C)` objective C·Σ loss + ½‖w‖²
divided by C·n (same minimiser), so C means what it means there. J is strictly convex in w, so
`fit_probe` finds its unique minimiser with full-batch L-BFGS (scipy, float64, from zero weights: no
seed involved) and reports the gradient norm there: what the run learned no longer depends on when an
optimiser happened to stop. `kl` has the same minimiser (KL(t ‖ p) = CE(p, t) − H(t), H(t) constant).

**C chosen without peeking** (`select_c`): k-fold cross-validation over a small grid on the run's own
training rows and targets only (ground truth for a gt run, the supervisor's *weak* labels for a
student); test rows and ground truth of transfer rows never enter.

**Losses whose target moves with the student** (logconf, product, entropy) have no fixed objective for
L-BFGS: `fit_probe_stepwise` trains them with minibatch Adam on the same standardised features and the
same explicit penalty ‖w‖²/(2Cn) added to every batch's mean loss, for a fixed budget of epochs (the
stopping rule: the budget, never a test label). At the end it reports the *fixed-point* gradient norm:
the gradient of the loss over all training rows at progress 1 (the target computed from the final
predictions and held fixed, as the loss itself detaches it) plus the penalty. Zero means the final
weights reproduce themselves under one more full-batch update; a run that is not there says so.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Literal

import numpy as np
from scipy.optimize import minimize
from scipy.special import expit

from w2s.errors import InputError

if TYPE_CHECKING:
    import torch

Monitor = Callable[[int, float, Callable[[np.ndarray], np.ndarray]], None]
"""`monitor(step, epoch, p1_of)` after each optimiser step: `p1_of(x)` gives p(y=1) of raw feature rows
at the current weights. For the training curve only: whatever it computes never reaches the fit."""
Scoring = Literal["log_loss", "accuracy"]


@dataclass(frozen=True)
class ProbeFit:
    """A fitted probe and how its fit ended.

    `objective` is J at the returned weights (for stepwise losses: their loss over all training rows at
    progress 1 plus the penalty), `loss` the same without the penalty, `grad_norm` the L2 norm of J's
    gradient in (w, b), `converged` whether it is at most the tolerance. `n_iter` counts optimiser
    steps (L-BFGS iterations or Adam steps), `n_passes` full passes over the training rows.
    """

    mean: np.ndarray
    """(D,) training rows' feature means."""
    scale: np.ndarray
    """(D,) training rows' feature standard deviations (1 where a feature is constant)."""
    weight: np.ndarray
    """(D,) weights on the standardised features."""
    bias: float
    c: float
    objective: float
    loss: float
    grad_norm: float
    n_iter: int
    n_passes: float
    converged: bool
    optimizer: str
    """`lbfgs` (fixed objective) or `adam` (stepwise losses)."""
    message: str = ""
    seconds: float = 0.0

    def logits(self, x: np.ndarray) -> np.ndarray:
        """(N, D) raw features -> (N,) logits, float64."""
        return _standardise(x, self.mean, self.scale) @ self.weight + self.bias

    def predict(self, x: np.ndarray) -> np.ndarray:
        """(N, D) raw features -> (N,) p(y=1), float64."""
        return np.asarray(expit(self.logits(x)), dtype=np.float64)


@dataclass(frozen=True)
class CSelection:
    """The C picked by cross-validation and the mean held-out score of every C of the grid."""

    c: float
    scores: dict[float, float] = field(default_factory=dict)
    """C -> mean over folds of the held-out score (higher is better: accuracy, or minus log loss)."""
    scoring: str = "log_loss"
    folds: int = 5


# ------------------------------------------------------------------------------------------ helpers


def standardiser(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(mean, scale) of the training rows: population std, 1 where a feature is constant."""
    x = np.asarray(x, dtype=np.float64)
    mean = x.mean(0)
    scale = x.std(0)
    return mean, np.where(scale > 1e-12, scale, 1.0)


def _standardise(x: np.ndarray, mean: np.ndarray, scale: np.ndarray) -> np.ndarray:
    return (np.asarray(x, dtype=np.float64) - mean) / scale


def _p1_of(mean: np.ndarray, scale: np.ndarray, w: np.ndarray, b: float) -> Callable[[np.ndarray], np.ndarray]:
    """p(y=1) of raw feature rows under fixed weights (a snapshot for the monitor)."""
    return lambda rows: np.asarray(expit(_standardise(rows, mean, scale) @ w + b), dtype=np.float64)


def _check_inputs(x: np.ndarray, targets: np.ndarray, c: float) -> tuple[np.ndarray, np.ndarray]:
    x = np.asarray(x)
    t = np.asarray(targets, dtype=np.float64)
    if x.ndim != 2 or x.shape[0] == 0:
        raise InputError(f"probe: features must be a non-empty (N, D) array, got shape {x.shape}")
    if t.shape != (x.shape[0],):
        raise InputError(f"probe: targets have shape {t.shape}, expected ({x.shape[0]},)")
    bad = ~np.isfinite(t) | (t < 0) | (t > 1)
    if bad.any():
        raise InputError(f"probe: {int(bad.sum())} targets are not in [0, 1] (first: {t[bad][0]})")
    if not isinstance(c, int | float) or isinstance(c, bool) or not (math.isfinite(c) and c > 0):
        raise InputError(f"train.probe_c: must be a positive number, got {c!r}")
    return x, t


def soft_xent_objective(xs: np.ndarray, t: np.ndarray, c: float,
                        params: np.ndarray) -> tuple[float, float, np.ndarray]:
    """(J, mean CE, ∇J) at params = [w (D,), b] on standardised rows xs (N, D) and soft targets t (N,).

    CE(sigmoid(z), t) = softplus(z) − t·z, computed with logaddexp (no overflow at any z)."""
    n = xs.shape[0]
    w, b = params[:-1], params[-1]
    z = xs @ w + b
    loss = float(np.mean(np.logaddexp(0.0, z) - t * z))
    r = (expit(z) - t) / n  # (N,) dCE/dz, divided by n for the mean
    grad = np.empty_like(params)
    grad[:-1] = xs.T @ r + w / (c * n)
    grad[-1] = r.sum()
    return loss + float(w @ w) / (2.0 * c * n), loss, grad


# --------------------------------------------------------------------------------------------- fits


def fit_probe(x: np.ndarray, targets: np.ndarray, c: float, *, tol: float = 1e-6, max_iter: int = 1000,
              monitor: Monitor | None = None) -> ProbeFit:
    """Minimise J (soft cross-entropy + ‖w‖²/(2Cn), see the module docstring) with full-batch L-BFGS.

    x: (N, D) raw features; targets: (N,) in [0, 1]; c: inverse L2 strength (scikit-learn's C). Starts
    from w = 0, b = 0 (J is convex: the start only changes the path). Stops when every gradient
    coordinate is below tol/sqrt(D+1) (so the gradient's L2 norm is below `tol`), when J stops changing
    at float64 precision, or after `max_iter` iterations; `converged` says whether the L2 norm of the
    gradient at the returned weights is at most `tol`. `monitor` sees each iteration (the curve).
    """
    start = time.perf_counter()
    x, t = _check_inputs(x, targets, c)
    mean, scale = standardiser(x)
    xs = _standardise(x, mean, scale)
    dim = xs.shape[1]
    passes = 0
    iteration = 0

    def fun(params: np.ndarray) -> tuple[float, np.ndarray]:
        nonlocal passes
        passes += 1
        value, _, grad = soft_xent_objective(xs, t, c, params)
        return value, grad

    def callback(params: np.ndarray) -> None:
        nonlocal iteration
        iteration += 1
        if monitor is not None:
            monitor(iteration, float(passes), _p1_of(mean, scale, params[:-1].copy(), float(params[-1])))

    result = minimize(fun, np.zeros(dim + 1), jac=True, method="L-BFGS-B", callback=callback,
                      options={"maxiter": max_iter, "gtol": tol / math.sqrt(dim + 1), "ftol": 1e-15,
                               "maxcor": 20})
    value, loss, grad = soft_xent_objective(xs, t, c, result.x)
    grad_norm = float(np.linalg.norm(grad))
    return ProbeFit(mean=mean, scale=scale, weight=result.x[:-1].copy(), bias=float(result.x[-1]), c=float(c),
                    objective=value, loss=loss, grad_norm=grad_norm, n_iter=iteration, n_passes=float(passes),
                    converged=grad_norm <= tol, optimizer="lbfgs", message=str(result.message),
                    seconds=time.perf_counter() - start)


LossFn = Callable[["torch.Tensor", "torch.Tensor", float], "torch.Tensor"]


def fit_probe_stepwise(x: np.ndarray, targets: np.ndarray, loss_fn: LossFn, c: float, *, epochs: int,
                       batch_size: int, lr: float, seed: int, tol: float = 1e-3,
                       lr_at: Callable[[int, int], float] | None = None,
                       monitor: Monitor | None = None) -> ProbeFit:
    """Train a probe with a loss whose target moves with the student (logconf, product, entropy).

    Minibatch Adam (no weight decay) on the standardised features, float64, from w = 0, b = 0; each
    step minimises the batch's mean `loss_fn(logits, targets, progress)` + ‖w‖²/(2Cn) (the penalty of
    `fit_probe`, so C means the same). `epochs` passes of batches of `batch_size` rows, reshuffled each
    epoch by a generator seeded with `seed`; a last batch under half a batch joins the one before it
    (`w2s.train.feature_batches`), so no tiny batch is hardened on its own. `lr_at(step, total)` scales
    `lr` (default: constant). Stopping rule: the budget, nothing else. `grad_norm` is the fixed-point
    gradient norm (module docstring) and `converged` whether it is at most `tol`.
    """
    import torch  # only the stepwise fits use it (their losses are torch functions): `fit_probe` needs none

    from w2s.train import feature_batches

    start = time.perf_counter()
    x, t_np = _check_inputs(x, targets, c)
    if epochs < 1 or batch_size < 1 or not lr > 0:
        raise InputError(f"probe: epochs, batch_size and lr must be positive, got {epochs}, {batch_size}, {lr}")
    mean, scale = standardiser(x)
    xs = torch.from_numpy(_standardise(x, mean, scale))
    t = torch.from_numpy(t_np)
    n, dim = xs.shape
    w = torch.zeros(dim, dtype=torch.float64, requires_grad=True)
    b = torch.zeros((), dtype=torch.float64, requires_grad=True)
    optimizer = torch.optim.Adam([w, b], lr=lr)
    generator = torch.Generator().manual_seed(seed)
    per_epoch = len(feature_batches(n, batch_size, torch.Generator().manual_seed(0)))
    total = per_epoch * epochs
    step = 0
    for _ in range(epochs):
        for idx in feature_batches(n, batch_size, generator):
            for group in optimizer.param_groups:
                group["lr"] = lr * (1.0 if lr_at is None else lr_at(step, total))
            loss = loss_fn(xs[idx] @ w + b, t[idx], step / total) + (w @ w) / (2.0 * c * n)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            step += 1
            if monitor is not None:
                monitor(step, step / per_epoch, _p1_of(mean, scale, w.detach().numpy().copy(), float(b.detach())))
    full_loss = loss_fn(xs @ w + b, t, 1.0)
    objective = full_loss + (w @ w) / (2.0 * c * n)
    grad_w, grad_b = torch.autograd.grad(objective, [w, b])
    grad_norm = float(torch.cat([grad_w, grad_b.reshape(1)]).norm())
    return ProbeFit(mean=mean, scale=scale, weight=w.detach().numpy().copy(), bias=float(b.detach()), c=float(c),
                    objective=float(objective.detach()), loss=float(full_loss.detach()), grad_norm=grad_norm,
                    n_iter=step, n_passes=float(epochs), converged=grad_norm <= tol, optimizer="adam",
                    message=f"fixed budget of {epochs} epochs", seconds=time.perf_counter() - start)


# ------------------------------------------------------------------------------------ choosing C


def check_grid(grid: Sequence[float], folds: int) -> list[float]:
    """The CV grid as floats; InputError naming train.probe_c_grid / train.probe_cv_folds when bad."""
    if len(grid) == 0:
        raise InputError("train.probe_c_grid: empty; list at least one positive C (e.g. [0.001, 0.01])")
    values = []
    for value in grid:
        if isinstance(value, bool) or not isinstance(value, int | float) or not (math.isfinite(value) and value > 0):
            raise InputError(f"train.probe_c_grid: every C must be a positive number, got {value!r}")
        values.append(float(value))
    if isinstance(folds, bool) or not isinstance(folds, int) or folds < 2:
        raise InputError(f"train.probe_cv_folds: must be an integer >= 2, got {folds!r}")
    return values


def stratified_folds(hard: np.ndarray, folds: int, seed: int, where: str = "train.probe_c cv") -> np.ndarray:
    """(N,) fold index of every row: each class's rows shuffled (seeded) and dealt round-robin, so every
    fold holds both classes. InputError naming `where` and the counts when a class has fewer rows than
    folds (some fold would miss it)."""
    from w2s.tasks import stable_rng

    n_pos = int(hard.sum())
    n_neg = len(hard) - n_pos
    if min(n_pos, n_neg) < folds:
        raise InputError(f"{where}: {folds} folds need at least {folds} rows of each class; the training "
                         f"labels have {n_pos} positive and {n_neg} negative of {len(hard)} rows")
    rng = stable_rng(seed, "probe_cv_folds")
    fold = np.empty(len(hard), dtype=np.int64)
    for cls in (False, True):
        rows = np.flatnonzero(hard == cls)
        fold[rng.permutation(rows)] = np.arange(len(rows)) % folds
    return fold


def _folds(t: np.ndarray, folds: int, seed: int, where: str, scoring: str) -> np.ndarray:
    """Fold index per row: stratified on the hard targets where each class can fill every fold. Soft
    targets scored by log loss need no class in a fold (the soft cross-entropy is defined on any rows),
    so a student whose supervisor leans to one side (hard labels nearly all one class, e.g. a supervisor
    at chance) gets seeded unstratified folds instead of an error; hard 0/1 targets, or accuracy scoring,
    with too few rows of a class are refused (`stratified_folds`)."""
    hard = t > 0.5
    soft = bool(np.any((t > 0) & (t < 1)))
    if soft and scoring == "log_loss" and min(int(hard.sum()), len(hard) - int(hard.sum())) < folds:
        if len(t) < 2 * folds:
            raise InputError(f"{where}: {folds} folds need at least {2 * folds} training rows, got {len(t)}")
        from w2s.tasks import stable_rng

        return stable_rng(seed, "probe_cv_folds").permutation(len(t)) % folds
    return stratified_folds(hard, folds, seed, where)


def select_c(x: np.ndarray, targets: np.ndarray, grid: Sequence[float], folds: int = 5, seed: int = 0, *,
             scoring: Scoring = "log_loss", tol: float = 1e-6, max_iter: int = 1000,
             where: str = "train.probe_c cv") -> CSelection:
    """Pick C from `grid` by `folds`-fold cross-validation on (x, targets) alone.

    Folds are stratified on the hard targets (t > 0.5) and seeded with `seed`. For each C, a probe is
    fitted (`fit_probe`) on k−1 folds and scored on the held-out fold against the same kind of targets
    it trained on: `log_loss` = minus the mean soft cross-entropy CE(p, t) (a proper score, no ties),
    `accuracy` = agreement of (p > 0.5) with (t > 0.5). The C with the best mean score wins; ties go
    to the smaller C (the stronger regulariser). Only `x` and `targets` are read: a caller passing a
    student's weak labels can be sure no ground truth or test row is used.
    """
    values = check_grid(grid, folds)
    x, t = _check_inputs(x, targets, values[0])
    fold = _folds(t, folds, seed, where, scoring)
    scores: dict[float, float] = {}
    for c in values:
        per_fold = []
        for k in range(folds):
            train, held = fold != k, fold == k
            probe = fit_probe(x[train], t[train], c, tol=tol, max_iter=max_iter)
            p = probe.predict(x[held])
            if scoring == "accuracy":
                per_fold.append(float(np.mean((p > 0.5) == (t[held] > 0.5))))
            else:
                z = probe.logits(x[held])
                per_fold.append(-float(np.mean(np.logaddexp(0.0, z) - t[held] * z)))
        scores[c] = float(np.mean(per_fold))
    best = max(scores.values())
    chosen = min(c for c, s in scores.items() if s >= best - 1e-12)
    return CSelection(c=chosen, scores=scores, scoring=scoring, folds=folds)
