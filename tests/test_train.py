"""The one trainer: learns a separable problem, is deterministic for a seed, records its curve."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from w2s.config import TrainParams
from w2s.errors import InputError
from w2s.losses import make_loss
from w2s.train import LinearProbe, fit, predict


def blobs(n: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    labels = (torch.arange(n) % 2).float()
    x = torch.randn(n, 8, generator=g) + 2.0 * labels[:, None] * torch.tensor([1.0] + [0.0] * 7)
    return x, labels


def train_once(seed: int, loss: str = "xent") -> tuple[np.ndarray, list]:
    x, y = blobs(200, 0)
    g = torch.Generator().manual_seed(seed)
    model = LinearProbe(x, g)
    params = TrainParams(epochs=5, batch_size=32, lr=0.05, eval_every=7)
    result = fit(model, x, y, make_loss(loss, {}), params, g, eval_set=blobs(100, 1))
    return predict(model, blobs(100, 1)[0]), result.history


def test_learns_a_separable_problem() -> None:
    p1, history = train_once(0)
    _, labels = blobs(100, 1)
    assert ((p1 > 0.5) == labels.numpy().astype(bool)).mean() > 0.8
    steps = [pt.step for pt in history]
    assert steps == sorted(steps) and steps[-1] == 5 * 7  # 200 rows / 32 = 7 steps per epoch
    assert all(s % 7 == 0 for s in steps[:-1])


def test_same_seed_same_bits_other_seed_differs() -> None:
    a, _ = train_once(3)
    b, _ = train_once(3)
    c, _ = train_once(4)
    assert a.tobytes() == b.tobytes()
    assert not np.array_equal(a, c)


def test_logconf_trains_too() -> None:
    p1, _ = train_once(0, "logconf")
    assert np.isfinite(p1).all()


def test_bad_input() -> None:
    x, y = blobs(10, 0)
    g = torch.Generator().manual_seed(0)
    with pytest.raises(InputError, match="targets have shape"):
        fit(LinearProbe(x, g), x, y[:5], make_loss("xent", {}), TrainParams(), g)
    with pytest.raises(InputError, match="no training rows"):
        fit(LinearProbe(x, g), x[:0], y[:0], make_loss("xent", {}), TrainParams(), g)
