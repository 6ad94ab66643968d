"""Hypothesis strategies for the math of `w2s.losses` and `w2s.metrics`.

Each strategy is a typed `@st.composite` function that documents what it draws and which edge cases
it makes likely (extreme logits, labels of exactly 0 and 1, tied scores).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Literal

import numpy as np
import torch
from hypothesis import strategies as st

Draw = Callable[[st.SearchStrategy[Any]], Any]

#: The largest |logit| the losses are tested with.
MAX_LOGIT = 1e4


def _width(dtype: torch.dtype) -> Literal[32, 64]:
    """Hypothesis float width matching a torch dtype, so drawn values are exactly representable."""
    return 32 if dtype == torch.float32 else 64


@st.composite
def finite_logits(draw: Draw, size: int, max_abs: float = MAX_LOGIT,
                  dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """(size,) finite logits in [-max_abs, max_abs], often exactly 0, ±max_abs or moderately large
    (±20, ±50: where float32 sigmoid saturates to 0/1)."""
    width = _width(dtype)
    special = [v for v in (0.0, 20.0, -20.0, 50.0, -50.0, max_abs, -max_abs) if abs(v) <= max_abs]
    value = st.one_of(st.sampled_from(special), st.floats(-max_abs, max_abs, width=width))
    return torch.tensor(draw(st.lists(value, min_size=size, max_size=size)), dtype=dtype)


@st.composite
def soft_labels(draw: Draw, size: int, dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """(size,) soft labels p_weak(y=1) in [0, 1], often exactly 0, 1 or 0.5."""
    width = _width(dtype)
    value = st.one_of(st.sampled_from([0.0, 1.0, 0.5]), st.floats(0.0, 1.0, width=width))
    return torch.tensor(draw(st.lists(value, min_size=size, max_size=size)), dtype=dtype)


@st.composite
def loss_batches(draw: Draw, max_size: int = 32, max_abs: float = MAX_LOGIT,
                 dtype: torch.dtype = torch.float32) -> tuple[torch.Tensor, torch.Tensor]:
    """A batch (logits (B,), weak (B,)) with 1 <= B <= max_size."""
    size = draw(st.integers(1, max_size))
    return draw(finite_logits(size, max_abs, dtype)), draw(soft_labels(size, dtype))


@st.composite
def loss_params(draw: Draw, name: str) -> dict[str, float]:
    """Valid parameters for the loss `name` (see `w2s.losses.LOSSES`), ranges' endpoints included."""
    unit = st.one_of(st.sampled_from([0.0, 1.0]), st.floats(0.0, 1.0))
    if name in ("logconf", "entropy"):
        return {"alpha_max": draw(unit), "warmup_frac": draw(unit)}
    if name == "product":
        return {"alpha": draw(st.floats(0.0, 10.0)), "beta": draw(st.floats(0.0, 10.0))}
    return {}


@st.composite
def tied_probabilities(draw: Draw, max_size: int = 64) -> torch.Tensor:
    """(B,) probabilities in [0, 1], often drawn from a pool of 3 values so that many are tied."""
    size = draw(st.integers(1, max_size))
    pool = draw(st.lists(st.floats(0.0, 1.0), min_size=3, max_size=3))
    value = st.one_of(st.sampled_from(pool), st.floats(0.0, 1.0))
    return torch.tensor(draw(st.lists(value, min_size=size, max_size=size)), dtype=torch.float32)


@st.composite
def binary_labels(draw: Draw, min_size: int = 2, max_size: int = 60) -> np.ndarray:
    """(N,) int labels in {0, 1} with both classes present, in a random order."""
    n = draw(st.integers(max(2, min_size), max_size))
    n_pos = draw(st.integers(1, n - 1))
    return np.array(draw(st.permutations([1] * n_pos + [0] * (n - n_pos))), dtype=np.int64)


@st.composite
def probabilities(draw: Draw, size: int) -> np.ndarray:
    """(size,) float64 probabilities in [0, 1], often exactly 0, 0.5 (predicts 0) or 1."""
    value = st.one_of(st.sampled_from([0.0, 0.5, 1.0]), st.floats(0.0, 1.0))
    return np.array(draw(st.lists(value, min_size=size, max_size=size)), dtype=np.float64)


@st.composite
def scores_and_labels(draw: Draw, max_size: int = 60) -> tuple[np.ndarray, np.ndarray]:
    """(scores (N,), labels (N,)): finite scores, often heavily tied; labels with both classes."""
    labels = draw(binary_labels(max_size=max_size))
    pool = draw(st.lists(st.floats(-1e6, 1e6), min_size=1, max_size=4))
    value = st.one_of(st.sampled_from(pool), st.floats(-1e6, 1e6))
    scores = draw(st.lists(value, min_size=labels.shape[0], max_size=labels.shape[0]))
    return np.array(scores, dtype=np.float64), labels


@st.composite
def pgr_triples(draw: Draw, min_gap: float = 1e-3) -> tuple[float, float, float]:
    """(weak, w2s, ceiling) accuracies in [0, 1] with ceiling − weak >= min_gap; w2s anywhere in [0, 1]."""
    weak = draw(st.floats(0.0, 1.0 - min_gap))
    ceiling = draw(st.floats(weak + min_gap, 1.0))
    w2s = draw(st.floats(0.0, 1.0))
    return weak, w2s, ceiling


@st.composite
def non_positive_gaps(draw: Draw) -> tuple[float, float, float]:
    """(weak, w2s, ceiling) in [0, 1] with ceiling <= weak (PGR undefined), equality often."""
    weak = draw(st.floats(0.0, 1.0))
    ceiling = draw(st.one_of(st.just(weak), st.floats(0.0, weak)))
    return weak, draw(st.floats(0.0, 1.0)), ceiling


@st.composite
def affine_maps(draw: Draw) -> tuple[float, float]:
    """(a, b) with 0.01 <= a <= 100 and |b| <= 10: the rescale x -> a·x + b."""
    return draw(st.floats(0.01, 100.0)), draw(st.floats(-10.0, 10.0))


@st.composite
def seed_values(draw: Draw, max_size: int = 12) -> list[float]:
    """1 to max_size finite per-seed values (e.g. PGRs), often all equal or with outliers."""
    value = st.one_of(st.floats(-1e3, 1e3), st.sampled_from([0.1, 0.3, -5.0]))
    return list(draw(st.lists(value, min_size=1, max_size=max_size)))
