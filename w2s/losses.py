"""Losses for binary classification with one logit per example (p = sigmoid(logit)).

Every loss has the signature `loss(logits, weak, progress, **params) -> Tensor[]`:

- `logits`: (B,) float, the student's logits; any finite value (|logit| up to 1e4 is tested).
- `weak`: (B,) soft weak labels p_weak(y=1) in [0, 1]; exactly 0 and 1 are fine (hard labels).
- `progress`: fraction of training done, in [0, 1] (logconf's and entropy's warm-up read it).
- returns the mean over the batch, a scalar with finite gradients for any finite logits.

All terms are written with `binary_cross_entropy_with_logits` / `softplus` / `xlogy`, never
`log(sigmoid(z))`, so nothing overflows at large |logit|. `make_loss(name, params)` binds a loss's
parameters by name, as read from `params.yaml`.

The family, with p = sigmoid(logit) the student, w the weak label, CE(p, t) = −[t log p + (1−t) log(1−p)]:

    xent      CE(p, w)                                   naive finetuning on the weak labels
    logconf   CE(p, (1−α)·w + α·harden(p))               auxiliary confidence loss (Burns et al. 2023)
    product   CE(p, t), t ∝ p^β · w^α (normalised)       the student's belief multiplies the weak one
    kl        KL(w ‖ p) = CE(p, w) − H(w)                 same gradient as xent, 0 at the optimum
    entropy   (1−α)·CE(p, w) + α·H(p)                    confidence without hardening

Where we differ from the official code (openai/weak-to-strong, `logconf_loss_fn`), and why:

- **Warm-up.** There, α jumps from 0.05 to 0.5 at 10% of training: a step function, which the paper's
  own text (a linear ramp from 0 to α_max of 0.5–0.75 over the first ~20%) does not describe. Here α
  ramps linearly from 0 to `alpha_max` over the first `warmup_frac` of training (`alpha_schedule`),
  so no single step changes the target abruptly; both are params (`losses.logconf`; `entropy` has the
  same ramp under `losses.entropy`), defaults 0.75 and 0.2.
- **Logits.** There, 2-class logits and a softmax; here one logit (the 2-class softmax of [0, z] is
  sigmoid(z)), which changes nothing numerically but halves the head.
- **Threshold.** Both harden at the per-batch quantile matching the weak positive rate, defined as the
  official code does: the *mean of the soft weak labels* in the batch (not the share above 0.5, which
  we used before issue 12: with hesitant weak labels the two differ, e.g. 0.5 vs 0.475 on
  [0.8, 0.1, 0.3, 0.7]). We break ties by index so that exactly round(rate·B) examples become
  positive (`harden`). Tiny last batches are merged by the trainer (`w2s.train.merge_tiny_batches`),
  so no rate is estimated from a handful of rows.
- **Targets are detached** in every loss that builds a target from the student (logconf, product),
  as in the official code: the student is pulled towards its own hardened/sharpened belief, not
  allowed to move the target.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from functools import partial
from types import MappingProxyType

import torch
import torch.nn.functional as F
from torch import Tensor

from w2s.errors import InputError
from w2s.loss_params import check_loss_params, check_param

LossFn = Callable[[Tensor, Tensor, float], Tensor]

# log(eps) bounds log(0) in the product loss: a weak label of exactly 0 or 1 becomes a logit of +-27.6.
_PRODUCT_EPS = 1e-12


def _check_progress(progress: float) -> None:
    if not (isinstance(progress, int | float) and math.isfinite(progress) and 0.0 <= progress <= 1.0):
        raise InputError(f"progress: must be a number in [0, 1], got {progress!r}")


def _check_batch(logits: Tensor, weak: Tensor, progress: float) -> Tensor:
    """Validate a batch and return `weak` in the logits' dtype (a new tensor; inputs untouched)."""
    if logits.ndim != 1 or weak.ndim != 1:
        raise InputError(f"logits and weak labels: expected 1-D tensors (B,), got shapes "
                         f"{tuple(logits.shape)} and {tuple(weak.shape)}")
    if logits.shape != weak.shape:
        raise InputError(f"logits and weak labels: shapes differ, {tuple(logits.shape)} vs "
                         f"{tuple(weak.shape)}")
    if logits.numel() == 0:
        raise InputError("logits and weak labels: empty batch (B = 0)")
    if not logits.is_floating_point():
        raise InputError(f"logits: expected a floating-point tensor, got dtype {logits.dtype}")
    _check_progress(progress)
    w = weak.detach()
    if w.device.type != "cpu":
        # reading a CUDA tensor's values waits for the GPU: once per step would stall training, so on
        # accelerators the trainer checks all targets once before the first step (`w2s.train.fit`)
        return weak.to(logits.dtype)
    bad = ~torch.isfinite(w)
    if bool(bad.any()):
        raise InputError(f"weak labels: {int(bad.sum())} non-finite values (first: {float(w[bad][0])})")
    bad = (w < 0) | (w > 1)
    if bool(bad.any()):
        raise InputError(f"weak labels: {int(bad.sum())} values outside [0, 1] (first: {float(w[bad][0])})")
    return weak.to(logits.dtype)


def _ce(logits: Tensor, target: Tensor) -> Tensor:
    """Per-example CE(p, target) = -[t log p + (1-t) log(1-p)], p = sigmoid(logits): (B,) -> (B,)."""
    return F.binary_cross_entropy_with_logits(logits, target, reduction="none")


def _binary_entropy_of_logits(logits: Tensor) -> Tensor:
    """H(sigmoid(z)) = p softplus(-z) + (1-p) softplus(z), per example: (B,) -> (B,).

    Each term is a bounded factor times a finite softplus, so value and gradient are finite for any
    finite z (the shorter `softplus(z) - p z` cancels catastrophically at large z)."""
    p = torch.sigmoid(logits)
    return p * F.softplus(-logits) + (1 - p) * F.softplus(logits)


def alpha_schedule(progress: float, alpha_max: float, warmup_frac: float) -> float:
    """Confidence weight α = alpha_max · min(1, progress / warmup_frac): a linear ramp from 0.

    `warmup_frac = 0` means α = alpha_max from the first step. E.g. alpha_max=0.75, warmup_frac=0.2:
    α(0) = 0, α(0.1) = 0.375, α(0.2) = α(0.5) = 0.75."""
    _check_progress(progress)
    alpha_max = check_param("alpha_max", alpha_max)
    warmup_frac = check_param("warmup_frac", warmup_frac)
    if warmup_frac == 0.0:
        return alpha_max
    return alpha_max * min(1.0, progress / warmup_frac)


def hardening_threshold(p: Tensor, positive_rate: float) -> Tensor:
    """t = the (1 − positive_rate) quantile of `p` (B,), linear interpolation; returns a scalar.

    With no ties and 0 < round(rate·B) < B, exactly round(rate·B) entries satisfy p > t. `harden`
    uses ranking rather than `p > t` so that the count is exact with ties too; this function reports
    the threshold (rate = 1 gives t = min(p), which `harden` nevertheless hardens to all ones)."""
    if p.ndim != 1 or p.numel() == 0:
        raise InputError(f"probabilities: expected a non-empty 1-D tensor (B,), got shape {tuple(p.shape)}")
    if not (math.isfinite(positive_rate) and 0.0 <= positive_rate <= 1.0):
        raise InputError(f"positive_rate: must be in [0, 1], got {positive_rate}")
    q = p.detach() if p.dtype in (torch.float32, torch.float64) else p.detach().float()  # quantile's dtypes
    return torch.quantile(q, 1.0 - positive_rate).to(p.dtype)


def harden(p: Tensor, positive_rate: float) -> Tensor:
    """Hard labels (B,) in {0, 1} with exactly k = round(positive_rate·B) ones, on the k largest `p`.

    Equivalent to 1[p > hardening_threshold(p, rate)] without ties. Ties are broken by index (the
    earlier example wins), via a stable descending sort, so the count is exact and deterministic."""
    if p.ndim != 1 or p.numel() == 0:
        raise InputError(f"probabilities: expected a non-empty 1-D tensor (B,), got shape {tuple(p.shape)}")
    if not (math.isfinite(positive_rate) and 0.0 <= positive_rate <= 1.0):
        raise InputError(f"positive_rate: must be in [0, 1], got {positive_rate}")
    k = round(positive_rate * p.numel())
    order = torch.sort(p.detach(), descending=True, stable=True).indices  # (B,)
    hard = torch.zeros_like(p, dtype=p.dtype if p.is_floating_point() else torch.float32)
    hard[order[:k]] = 1.0
    return hard


def xent(logits: Tensor, weak: Tensor, progress: float) -> Tensor:
    """Naive finetuning: mean CE(p, weak) = −[w log p + (1−w) log(1−p)]. Scalar; `progress` unused.

    Equals `F.cross_entropy` on 2-class logits [0, z] with soft targets [1−w, w]."""
    w = _check_batch(logits, weak, progress)
    return _ce(logits, w).mean()


def logconf(logits: Tensor, weak: Tensor, progress: float, *, alpha_max: float = 0.75,
            warmup_frac: float = 0.2) -> Tensor:
    """Auxiliary confidence loss (Burns et al. 2023): mean CE(p, (1−α)·weak + α·hard).

    hard = `harden(p_student.detach(), rate)`, rate = mean(weak) (the soft labels' mean, as the official
    code): the k = round(rate·B) most confident students become 1, ties broken by index,
    i.e. 1[p > t] with t the (1 − rate) quantile (`hardening_threshold`). α = `alpha_schedule(progress,
    alpha_max, warmup_frac)`: a linear ramp from 0. alpha_max = 0 is exactly `xent`.

    The official openai/weak-to-strong code works on 2-class logits (equivalent to one logit here) and
    its warm-up jumps from 0.05 to 0.5 at 10% of training, a step we deliberately do not copy."""
    w = _check_batch(logits, weak, progress)
    alpha = alpha_schedule(progress, alpha_max, warmup_frac)
    rate = min(1.0, max(0.0, float(w.mean())))  # clamped: a float mean of values in [0, 1] can round past 1
    hard = harden(torch.sigmoid(logits.detach()), rate)
    target = (1.0 - alpha) * w + alpha * hard
    return _ce(logits, target).mean()


def product(logits: Tensor, weak: Tensor, progress: float, *, alpha: float = 1.0,
            beta: float = 1.0) -> Tensor:
    """Product loss: mean CE(p, t), t ∝ p_student^β · p_weak^α over the two classes (student detached).

    In logit space t = sigmoid(β·z + α·(log w − log(1−w))). log w and log(1−w) are clamped below at
    log(1e-12) ≈ −27.6, so weak labels of exactly 0/1 give finite targets (a hard weak label then
    dominates unless β·|z| > 27.6). `progress` is unused."""
    w = _check_batch(logits, weak, progress)
    alpha, beta = check_param("alpha", alpha), check_param("beta", beta)
    weak_logit = torch.log(w.clamp_min(_PRODUCT_EPS)) - torch.log((1 - w).clamp_min(_PRODUCT_EPS))
    target = torch.sigmoid(beta * logits.detach() + alpha * weak_logit)
    return _ce(logits, target).mean()


def kl(logits: Tensor, weak: Tensor, progress: float) -> Tensor:
    """Mean KL(weak ‖ p) = CE(weak, p) − H(weak), with 0·log 0 = 0. Scalar; `progress` unused.

    Same gradient as `xent` (H(weak) is constant); 0 when p = weak, ≥ 0 up to rounding."""
    w = _check_batch(logits, weak, progress)
    neg_entropy = torch.xlogy(w, w) + torch.xlogy(1 - w, 1 - w)  # (B,) = −H(w)
    return (_ce(logits, w) + neg_entropy).mean()


def entropy(logits: Tensor, weak: Tensor, progress: float, *, alpha_max: float = 0.75,
            warmup_frac: float = 0.2) -> Tensor:
    """Confidence without hardening: mean (1−α)·CE(weak, p) + α·H(p).

    H is the binary entropy of the student, so minimising it makes the student confident in whichever
    class it already leans to. α ramps as in `logconf` (`alpha_schedule`)."""
    w = _check_batch(logits, weak, progress)
    alpha = alpha_schedule(progress, alpha_max, warmup_frac)
    return ((1.0 - alpha) * _ce(logits, w) + alpha * _binary_entropy_of_logits(logits)).mean()


LOSSES: Mapping[str, Callable[..., Tensor]] = MappingProxyType({
    "xent": xent, "logconf": logconf, "product": product, "kl": kl, "entropy": entropy,
})


def make_loss(name: str, params: Mapping[str, float]) -> LossFn:
    """Bind `params` to the loss `name`: returns `fn(logits, weak, progress) -> Tensor[]`.

    Raises InputError for an unknown name (listing the known ones), an unknown parameter, or a
    parameter that is not a number in its range (`w2s.loss_params.check_loss_params`: bools and strings
    are rejected; ints become floats)."""
    bound = check_loss_params(name, params)  # the registry lists exactly LOSSES (tests/test_losses.py)
    return partial(LOSSES[name], **bound)
