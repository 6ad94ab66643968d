"""Tests of the tests: a property is only evidence if it can fail.

Each test runs one of our properties, with Hypothesis, against a deliberately buggy implementation
and checks that Hypothesis finds a counterexample, and that the real implementation passes on it.
The inner runs use fixed settings (derandomized, no example database) so they are reproducible
whatever profile is loaded, and skip shrinking: any counterexample proves the point.
"""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from hypothesis import HealthCheck, Phase, find, given, settings
from hypothesis import strategies as st
from strategies import affine_maps, loss_batches, pgr_triples
from test_losses_props import check_logconf_alpha0_is_xent
from test_metrics_props import check_pgr_affine_invariance

from w2s.losses import harden, logconf
from w2s.metrics import PGR, pgr

INNER = settings(max_examples=300, derandomize=True, database=None, deadline=None,
                 report_multiple_bugs=False, suppress_health_check=[HealthCheck.too_slow],
                 phases=[Phase.explicit, Phase.generate])


def pgr_without_weak_in_denominator(weak: float, w2s: float, ceiling: float) -> PGR:
    """Planted bug: divides by the ceiling instead of the gap ceiling − weak."""
    if ceiling - weak <= 0 or ceiling == 0:
        return PGR(None, "undefined")
    return PGR((w2s - weak) / ceiling, None)


def logconf_with_step_warmup(logits: torch.Tensor, weak: torch.Tensor, progress: float, *,
                             alpha_max: float = 0.75, warmup_frac: float = 0.2) -> torch.Tensor:
    """Planted bug: the official code's warm-up, α = 0.05 before 10% of training and 0.5 after, which
    ignores alpha_max (and warmup_frac), so alpha_max = 0 is no longer plain cross-entropy."""
    alpha = 0.05 if progress < 0.1 else 0.5
    rate = float((weak > 0.5).double().mean())
    hard = harden(torch.sigmoid(logits.detach()), rate)
    return F.binary_cross_entropy_with_logits(logits, (1 - alpha) * weak + alpha * hard)


def _invariant(pgr_fn, example: tuple[tuple[float, float, float], tuple[float, float]]) -> bool:
    try:
        check_pgr_affine_invariance(pgr_fn, *example)
    except AssertionError:
        return False
    return True


def test_pgr_invariance_property_catches_a_wrong_denominator() -> None:
    @INNER
    @given(triple=pgr_triples(), affine=affine_maps())
    def prop(triple: tuple[float, float, float], affine: tuple[float, float]) -> None:
        check_pgr_affine_invariance(pgr_without_weak_in_denominator, triple, affine)

    with pytest.raises(AssertionError):
        prop()


def test_pgr_counterexample_is_genuine() -> None:
    example = find(st.tuples(pgr_triples(), affine_maps()),
                   lambda ex: not _invariant(pgr_without_weak_in_denominator, ex), settings=INNER)
    assert _invariant(pgr, example), example  # the real pgr passes where the buggy one fails


def test_logconf_alpha0_property_catches_the_step_warmup() -> None:
    @INNER
    @given(batch=loss_batches(), progress=st.floats(0.0, 1.0), warmup_frac=st.floats(0.0, 1.0))
    def prop(batch: tuple[torch.Tensor, torch.Tensor], progress: float, warmup_frac: float) -> None:
        check_logconf_alpha0_is_xent(logconf_with_step_warmup, *batch, progress, warmup_frac)

    with pytest.raises(AssertionError):
        prop()

    # And the real logconf passes on a batch where the buggy one fails (p != weak, mixed labels).
    logits, weak = torch.tensor([2.0, -1.0, 0.0]), torch.tensor([0.2, 0.9, 0.5])
    with pytest.raises(AssertionError):
        check_logconf_alpha0_is_xent(logconf_with_step_warmup, logits, weak, 0.05, 0.2)
    check_logconf_alpha0_is_xent(logconf, logits, weak, 0.05, 0.2)
