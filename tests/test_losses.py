"""Unit tests of `w2s.losses` with hand-computed numbers, and every InputError path."""

from __future__ import annotations

import math

import pytest
import torch

from w2s.errors import InputError
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


def logit(p: float) -> float:
    return math.log(p / (1 - p))


def ce(p: float, t: float) -> float:
    """Hand formula: −[t log p + (1−t) log(1−p)]."""
    return -(t * math.log(p) + (1 - t) * math.log(1 - p))


def test_xent_hand_values() -> None:
    assert float(xent(torch.tensor([0.0]), torch.tensor([0.3]), 0.0)) == pytest.approx(math.log(2), rel=1e-6)
    z = torch.tensor([logit(0.75), 0.0])
    expected = (-math.log(0.75) + math.log(2)) / 2  # mean of CE(0.75, 1) and CE(0.5, 0)
    assert float(xent(z, torch.tensor([1.0, 0.0]), 0.5)) == pytest.approx(expected, rel=1e-6)


@pytest.mark.parametrize(("progress", "alpha"), [(0.0, 0.0), (0.1, 0.375), (0.2, 0.75), (0.5, 0.75)])
def test_alpha_schedule_ramps_linearly(progress: float, alpha: float) -> None:
    assert alpha_schedule(progress, 0.75, 0.2) == pytest.approx(alpha)


def test_alpha_schedule_without_warmup_is_constant() -> None:
    assert alpha_schedule(0.0, 0.5, 0.0) == 0.5


def test_hardening_threshold_and_harden_on_a_hand_batch() -> None:
    p = torch.tensor([0.9, 0.2, 0.6, 0.4])
    assert float(hardening_threshold(p, 0.5)) == pytest.approx(0.5)  # between 0.4 and 0.6
    # The 0.75 quantile of sorted [0.2, 0.4, 0.6, 0.9] sits at position 0.75·3 = 2.25: 0.6 + 0.25·0.3.
    assert float(hardening_threshold(p, 0.25)) == pytest.approx(0.675)
    assert harden(p, 0.5).tolist() == [1.0, 0.0, 1.0, 0.0]
    assert harden(p, 0.0).tolist() == [0.0] * 4 and harden(p, 1.0).tolist() == [1.0] * 4


def test_harden_breaks_ties_by_index() -> None:
    p = torch.tensor([0.3, 0.7, 0.7, 0.7, 0.1])
    assert harden(p, 0.4).tolist() == [0.0, 1.0, 1.0, 0.0, 0.0]  # k = 2 of the three tied 0.7s


def test_logconf_hand_value() -> None:
    p = [0.9, 0.2, 0.6, 0.4]
    weak = [0.8, 0.1, 0.3, 0.7]  # rate 0.5 -> hard = [1, 0, 1, 0]
    target = [0.5 * w + 0.5 * h for w, h in zip(weak, [1, 0, 1, 0], strict=True)]  # alpha = 0.5
    expected = sum(ce(pi, ti) for pi, ti in zip(p, target, strict=True)) / 4
    z = torch.tensor([logit(x) for x in p], dtype=torch.float64)
    got = logconf(z, torch.tensor(weak, dtype=torch.float64), 1.0, alpha_max=0.5, warmup_frac=0.2)
    assert float(got) == pytest.approx(expected, rel=1e-9)
    # Halfway through the warm-up, alpha = 0.25.
    target = [0.75 * w + 0.25 * h for w, h in zip(weak, [1, 0, 1, 0], strict=True)]
    expected = sum(ce(pi, ti) for pi, ti in zip(p, target, strict=True)) / 4
    got = logconf(z, torch.tensor(weak, dtype=torch.float64), 0.1, alpha_max=0.5, warmup_frac=0.2)
    assert float(got) == pytest.approx(expected, rel=1e-9)


def test_logconf_gradient_does_not_flow_through_the_hardening() -> None:
    z = torch.tensor([1.0, -1.0], dtype=torch.float64, requires_grad=True)
    weak = torch.tensor([1.0, 0.0], dtype=torch.float64)
    logconf(z, weak, 1.0, alpha_max=0.5).backward()
    # target = [1, 0] exactly, so d/dz mean CE = (p − t) / B.
    expected = (torch.sigmoid(z.detach()) - weak) / 2
    torch.testing.assert_close(z.grad, expected)


def test_product_hand_values() -> None:
    z = torch.tensor([logit(0.75)], dtype=torch.float64)
    # target ∝ 0.75·0.75 : 0.25·0.25 = 0.9 : 0.1
    got = product(z, torch.tensor([0.75], dtype=torch.float64), 0.0)
    assert float(got) == pytest.approx(ce(0.75, 0.9), rel=1e-9)
    got = product(torch.tensor([0.0]), torch.tensor([0.5]), 0.0, alpha=2.0, beta=3.0)
    assert float(got) == pytest.approx(math.log(2), rel=1e-6)


def test_product_with_hard_weak_labels_is_finite() -> None:
    z = torch.tensor([1e4, -1e4, 0.0], requires_grad=True)
    loss = product(z, torch.tensor([0.0, 1.0, 1.0]), 0.0)
    loss.backward()
    assert z.grad is not None and torch.isfinite(loss) and torch.isfinite(z.grad).all()


def test_kl_hand_values() -> None:
    assert float(kl(torch.tensor([0.0]), torch.tensor([0.5]), 0.0)) == pytest.approx(0.0, abs=1e-7)
    got = kl(torch.tensor([logit(0.75)], dtype=torch.float64), torch.tensor([0.5], dtype=torch.float64), 0.0)
    assert float(got) == pytest.approx(0.5 * math.log(4 / 3), rel=1e-9)
    # Hard labels: H(weak) = 0, so KL = CE.
    assert float(kl(torch.tensor([0.0]), torch.tensor([1.0]), 0.0)) == pytest.approx(math.log(2))


def test_entropy_hand_values() -> None:
    z = torch.tensor([logit(0.75)], dtype=torch.float64)
    weak = torch.tensor([1.0], dtype=torch.float64)
    h = -(0.75 * math.log(0.75) + 0.25 * math.log(0.25))
    got = entropy(z, weak, 1.0, alpha_max=0.5)
    assert float(got) == pytest.approx(0.5 * ce(0.75, 1.0) + 0.5 * h, rel=1e-9)
    got = entropy(z, weak, 0.0, alpha_max=0.5)  # alpha = 0 at the start of the ramp
    assert float(got) == pytest.approx(ce(0.75, 1.0), rel=1e-9)


def test_entropy_is_finite_at_saturated_logits() -> None:
    z = torch.tensor([1e4, -1e4], requires_grad=True)
    loss = entropy(z, torch.tensor([0.5, 0.5]), 1.0, alpha_max=1.0)
    loss.backward()
    assert z.grad is not None and torch.isfinite(z.grad).all()
    assert float(loss.detach()) == 0.0


def test_make_loss_binds_params() -> None:
    fn = make_loss("logconf", {"alpha_max": 0.5, "warmup_frac": 0})
    z, weak = torch.tensor([2.0, -1.0]), torch.tensor([0.2, 0.9])
    assert torch.equal(fn(z, weak, 0.0), logconf(z, weak, 0.0, alpha_max=0.5, warmup_frac=0.0))
    assert torch.equal(make_loss("xent", {})(z, weak, 0.3), xent(z, weak, 0.3))
    assert sorted(LOSSES) == ["entropy", "kl", "logconf", "product", "xent"]


def test_the_registry_lists_every_loss_with_its_parameters() -> None:
    """`w2s.loss_params` (what params.yaml is checked against, without torch) names exactly the losses of
    LOSSES, each with its function's keyword-only parameters and their defaults."""
    import inspect

    from w2s.loss_params import LOSS_PARAMS, PARAM_RANGES

    assert list(LOSS_PARAMS) == list(LOSSES)
    for name, fn in LOSSES.items():
        keywords = {p.name: p.default for p in inspect.signature(fn).parameters.values() if p.kind is p.KEYWORD_ONLY}
        assert dict(LOSS_PARAMS[name]) == keywords, name
        assert set(keywords) <= set(PARAM_RANGES), name


@pytest.mark.parametrize(("name", "params", "match"), [
    ("hinge", {}, "unknown loss 'hinge'; known: xent, logconf, product, kl, entropy"),
    ("logconf", {"alpha": 0.5}, "unknown parameter 'alpha'; known: alpha_max, warmup_frac"),
    ("xent", {"alpha_max": 0.5}, "loss xent: unknown parameter 'alpha_max'; known: none"),
    ("logconf", {"alpha_max": "0.5"}, "alpha_max: expected a number, got '0.5'"),
    ("logconf", {"alpha_max": True}, "alpha_max: expected a number, got True"),
    ("logconf", {"alpha_max": 1.5}, r"alpha_max: must be a finite number in \[0.0, 1.0\], got 1.5"),
    ("product", {"beta": -1.0}, "beta: must be a finite number in"),
    ("product", {"alpha": float("nan")}, "alpha: must be a finite number in"),
])
def test_make_loss_rejects_bad_names_and_params(name: str, params: dict, match: str) -> None:
    with pytest.raises(InputError, match=match):
        make_loss(name, params)


@pytest.mark.parametrize("name", sorted(LOSSES))
@pytest.mark.parametrize(("logits", "weak", "progress", "match"), [
    (torch.tensor([0.0, 1.0]), torch.tensor([0.5]), 0.0, r"shapes differ, \(2,\) vs \(1,\)"),
    (torch.zeros(2, 1), torch.zeros(2, 1), 0.0, r"expected 1-D tensors \(B,\), got shapes \(2, 1\)"),
    (torch.zeros(0), torch.zeros(0), 0.0, r"empty batch \(B = 0\)"),
    (torch.zeros(4), torch.tensor([1.7, -0.1, 0.5, 2.0]), 0.0,
     r"weak labels: 3 values outside \[0, 1\] \(first: 1.7"),
    (torch.zeros(2), torch.tensor([float("nan"), 0.5]), 0.0,
     r"weak labels: 1 non-finite values \(first: nan\)"),
    (torch.zeros(2), torch.tensor([0.5, 0.5]), 1.5, r"progress: must be a number in \[0, 1\], got 1.5"),
    (torch.zeros(2, dtype=torch.long), torch.tensor([0.5, 0.5]), 0.0, "expected a floating-point tensor"),
])
def test_losses_reject_bad_batches(name: str, logits: torch.Tensor, weak: torch.Tensor, progress: float,
                                   match: str) -> None:
    with pytest.raises(InputError, match=match):
        LOSSES[name](logits, weak, progress)


def test_hardening_rejects_bad_input() -> None:
    with pytest.raises(InputError, match=r"positive_rate: must be in \[0, 1\], got 1.2"):
        harden(torch.tensor([0.5]), 1.2)
    with pytest.raises(InputError, match="non-empty 1-D tensor"):
        hardening_threshold(torch.zeros(0), 0.5)
    with pytest.raises(InputError, match="warmup_frac"):
        alpha_schedule(0.5, 0.5, -0.1)


def test_identities_between_members_of_the_family() -> None:
    """product(α=1, β=0) targets the weak label itself (= xent); kl = xent − H(weak); entropy and logconf
    with alpha_max = 0 are xent."""
    g = torch.Generator().manual_seed(0)
    z = torch.randn(16, generator=g, dtype=torch.float64) * 3
    w = torch.rand(16, generator=g, dtype=torch.float64)
    base = xent(z, w, 0.5)
    torch.testing.assert_close(product(z, w, 0.5, alpha=1.0, beta=0.0), base)
    h = -(w * torch.log(w) + (1 - w) * torch.log(1 - w)).mean()
    torch.testing.assert_close(kl(z, w, 0.5), base - h)
    torch.testing.assert_close(entropy(z, w, 0.5, alpha_max=0.0), base)
    torch.testing.assert_close(logconf(z, w, 0.5, alpha_max=0.0), base)


def test_every_loss_docstring_states_its_formula() -> None:
    import w2s.losses as module

    formulas = {"xent": "CE(p, weak)", "logconf": "(1−α)·weak + α·hard", "product": "p_student^β · p_weak^α",
                "kl": "KL(weak ‖ p)", "entropy": "(1−α)·CE(weak, p) + α·H(p)"}
    for name, formula in formulas.items():
        assert formula in (LOSSES[name].__doc__ or ""), name
    doc = module.__doc__ or ""
    assert "0.05 to 0.5 at 10%" in doc and "linearly from 0 to `alpha_max`" in doc
