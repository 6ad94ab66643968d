"""Properties of `w2s.losses`: finiteness, reductions between losses, and torch references."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from hypothesis import assume, given
from hypothesis import strategies as st
from strategies import loss_batches, loss_params, soft_labels, tied_probabilities

from w2s.losses import (
    LOSSES,
    alpha_schedule,
    entropy,
    harden,
    hardening_threshold,
    kl,
    logconf,
    make_loss,
    product,
    xent,
)

progress = st.floats(0.0, 1.0)


def check_logconf_alpha0_is_xent(loss, logits: torch.Tensor, weak: torch.Tensor, progress: float,
                                 warmup_frac: float) -> None:
    """With alpha_max = 0 the confidence term vanishes at every progress: logconf == xent exactly."""
    got = loss(logits, weak, progress, alpha_max=0.0, warmup_frac=warmup_frac)
    assert torch.equal(got, xent(logits, weak, progress)), (got, xent(logits, weak, progress))


@pytest.mark.parametrize("name", sorted(LOSSES))
@given(data=st.data(), batch=loss_batches(), progress=progress)
def test_every_loss_finite_with_finite_gradients(name: str, data: st.DataObject,
                                                 batch: tuple[torch.Tensor, torch.Tensor],
                                                 progress: float) -> None:
    logits, weak = batch
    params = data.draw(loss_params(name), label="params")
    z = logits.clone().requires_grad_(True)
    loss = make_loss(name, params)(z, weak, progress)
    loss.backward()
    assert loss.shape == ()
    assert torch.isfinite(loss), loss
    assert z.grad is not None and torch.isfinite(z.grad).all(), z.grad


@pytest.mark.parametrize("name", sorted(LOSSES))
@given(batch=loss_batches(), progress=progress)
def test_losses_do_not_mutate_inputs(name: str, batch: tuple[torch.Tensor, torch.Tensor],
                                     progress: float) -> None:
    logits, weak = batch
    logits_before, weak_before = logits.clone(), weak.clone()
    LOSSES[name](logits, weak, progress)
    assert torch.equal(logits, logits_before) and torch.equal(weak, weak_before)


@given(batch=loss_batches(), progress=progress, warmup_frac=st.floats(0.0, 1.0))
def test_logconf_with_alpha_max_0_equals_xent(batch: tuple[torch.Tensor, torch.Tensor], progress: float,
                                              warmup_frac: float) -> None:
    check_logconf_alpha0_is_xent(logconf, *batch, progress, warmup_frac)


@given(batch=loss_batches(), progress=progress, warmup_frac=st.floats(0.0, 1.0))
def test_entropy_with_alpha_max_0_equals_xent(batch: tuple[torch.Tensor, torch.Tensor], progress: float,
                                              warmup_frac: float) -> None:
    logits, weak = batch
    got = entropy(logits, weak, progress, alpha_max=0.0, warmup_frac=warmup_frac)
    torch.testing.assert_close(got, xent(logits, weak, progress))


@given(p=tied_probabilities(), data=st.data())
def test_hardening_yields_exactly_round_rate_b_positives(p: torch.Tensor, data: st.DataObject) -> None:
    weak = data.draw(soft_labels(p.shape[0]), label="weak")
    n_pos = int((weak > 0.5).sum())
    rate = n_pos / p.shape[0]
    hard = harden(p, rate)
    assert set(hard.tolist()) <= {0.0, 1.0}
    assert int(hard.sum()) == round(rate * p.shape[0]) == n_pos
    # The hardened positives are the most confident: every hardened 1 has p >= every hardened 0.
    if 0 < n_pos < p.shape[0]:
        assert p[hard == 1].min() >= p[hard == 0].max()


@given(grid=st.lists(st.integers(0, 10**6), min_size=2, max_size=64, unique=True), data=st.data())
def test_hardening_threshold_yields_the_weak_positive_rate(grid: list[int], data: st.DataObject) -> None:
    """The threshold itself (the (1 - rate) quantile of the student's probabilities) leaves exactly the
    weak labels' number of positives above it, on any batch of distinct probabilities."""
    p = torch.tensor(grid, dtype=torch.float64) / 10**6  # (B,) distinct, at least 1e-6 apart
    weak = data.draw(soft_labels(p.shape[0], dtype=torch.float64), label="weak")
    n_pos = int((weak > 0.5).sum())
    assume(0 < n_pos < p.shape[0])
    t = hardening_threshold(p, n_pos / p.shape[0])
    assert int((p > t).sum()) == n_pos
    assert torch.equal((p > t).to(p.dtype), harden(p, n_pos / p.shape[0]))


@given(batch=loss_batches(max_abs=15.0, dtype=torch.float64))
def test_xent_equals_torch_binary_cross_entropy(batch: tuple[torch.Tensor, torch.Tensor]) -> None:
    # |z| <= 15 in float64: there torch's BCE on probabilities is finite and not clamped (log >= -100).
    logits, weak = batch
    reference = F.binary_cross_entropy(torch.sigmoid(logits), weak)
    torch.testing.assert_close(xent(logits, weak, 0.0), reference, rtol=1e-6, atol=1e-9)


@given(batch=loss_batches(dtype=torch.float64))
def test_xent_equals_two_class_cross_entropy(batch: tuple[torch.Tensor, torch.Tensor]) -> None:
    logits, weak = batch
    z = logits.clone().requires_grad_(True)
    z2 = logits.clone().requires_grad_(True)
    two_class = torch.stack([torch.zeros_like(z2), z2], dim=1)  # (B, 2)
    reference = F.cross_entropy(two_class, torch.stack([1 - weak, weak], dim=1))
    ours = xent(z, weak, 0.0)
    torch.testing.assert_close(ours, reference, rtol=1e-9, atol=1e-9)
    ours.backward()
    reference.backward()
    torch.testing.assert_close(z.grad, z2.grad, rtol=1e-9, atol=1e-12)


@given(weak=soft_labels(16, dtype=torch.float64).map(lambda w: w.clamp(1e-6, 1 - 1e-6)),
       progress=progress)
def test_kl_is_zero_at_p_equal_weak(weak: torch.Tensor, progress: float) -> None:
    logits = torch.logit(weak)  # p = sigmoid(logit(weak)) = weak
    assert abs(float(kl(logits, weak, progress))) < 1e-9


@given(batch=loss_batches(dtype=torch.float64), progress=progress)
def test_kl_nonnegative_with_xent_gradient(batch: tuple[torch.Tensor, torch.Tensor], progress: float) -> None:
    logits, weak = batch
    z1, z2 = logits.clone().requires_grad_(True), logits.clone().requires_grad_(True)
    value = kl(z1, weak, progress)
    assert float(value.detach()) >= -1e-9
    value.backward()
    xent(z2, weak, progress).backward()
    torch.testing.assert_close(z1.grad, z2.grad)


@given(batch=loss_batches(max_abs=30.0, dtype=torch.float64))
def test_product_with_beta_0_and_alpha_1_is_xent(batch: tuple[torch.Tensor, torch.Tensor]) -> None:
    # beta = 0 ignores the student; alpha = 1 gives target = sigmoid(logit(weak)) = weak (0/1 clamped).
    logits, weak = batch
    weak = weak.clamp(1e-6, 1 - 1e-6)
    got = product(logits, weak, 0.0, alpha=1.0, beta=0.0)
    torch.testing.assert_close(got, xent(logits, weak, 0.0), rtol=1e-6, atol=1e-9)


@given(alpha_max=st.floats(0.0, 1.0), warmup_frac=st.floats(0.0, 1.0), p1=progress, p2=progress)
def test_alpha_schedule_is_a_monotone_ramp_from_0(alpha_max: float, warmup_frac: float, p1: float,
                                                  p2: float) -> None:
    lo, hi = sorted((p1, p2))
    a_lo, a_hi = alpha_schedule(lo, alpha_max, warmup_frac), alpha_schedule(hi, alpha_max, warmup_frac)
    assert 0.0 <= a_lo <= a_hi <= alpha_max
    assert alpha_schedule(1.0, alpha_max, warmup_frac) == alpha_max
    if warmup_frac > 0:
        assert alpha_schedule(0.0, alpha_max, warmup_frac) == 0.0
