"""One `fit()` trains every model: supervisors, ceilings and students differ only in their targets.

A run is a module that maps a batch of inputs to one logit per row (p = sigmoid(logit)), a loss from
`w2s.losses` (ground-truth runs use `xent` on 0/1 labels; weak-to-strong runs use the chosen method on
the supervisor's soft labels), and a `TrainParams`. Randomness (head init, batch order) comes from an
explicit `torch.Generator` seeded by the caller. The test accuracy is recorded along training, for the
paper's overfitting-to-weak-labels analysis; it never influences training.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor, nn

from w2s.config import TrainParams
from w2s.errors import InputError

LossFn = Callable[[Tensor, Tensor, float], Tensor]


class LinearProbe(nn.Module):
    """A linear head on frozen features, standardised with the training rows' mean and std."""

    def __init__(self, train_features: Tensor, generator: torch.Generator) -> None:
        super().__init__()
        dim = train_features.shape[1]
        self.mean: Tensor
        self.std: Tensor
        self.register_buffer("mean", train_features.mean(0))  # (D,)
        self.register_buffer("std", train_features.std(0).clamp_min(1e-6))  # (D,)
        self.head = nn.Linear(dim, 1)
        with torch.no_grad():
            bound = 1.0 / dim**0.5
            self.head.weight.copy_(torch.rand(1, dim, generator=generator) * 2 * bound - bound)
            self.head.bias.zero_()

    def forward(self, x: Tensor) -> Tensor:  # (B, D) -> (B,)
        return self.head((x - self.mean) / self.std).squeeze(-1)


@dataclass(frozen=True)
class EvalPoint:
    """Test accuracy after `step` optimizer steps."""

    step: int
    epoch: float
    accuracy: float


@dataclass(frozen=True)
class FitResult:
    history: list[EvalPoint]
    steps: int
    final_loss: float


def predict(model: nn.Module, x: Tensor, batch_size: int = 1024) -> np.ndarray:
    """p(y=1) for every row of `x`: (N, ...) -> (N,) float64."""
    model.eval()
    with torch.inference_mode():
        out = [torch.sigmoid(model(x[i : i + batch_size])) for i in range(0, len(x), batch_size)]
    model.train()
    return torch.cat(out).double().numpy() if out else np.zeros(0)


def _accuracy(model: nn.Module, x: Tensor, labels: Tensor) -> float:
    return float(((predict(model, x) > 0.5) == labels.numpy().astype(bool)).mean())


def fit(
    model: nn.Module,
    x: Tensor,
    targets: Tensor,
    loss_fn: LossFn,
    params: TrainParams,
    generator: torch.Generator,
    eval_set: tuple[Tensor, Tensor] | None = None,
) -> FitResult:
    """Train `model` on rows `x` (N, ...) against soft targets (N,) in [0, 1].

    Batches are reshuffled every epoch with `generator`; the last partial batch is kept. `progress`
    passed to the loss is the fraction of optimizer steps done (logconf's warm-up reads it).
    `eval_set` = (x_test, labels_test) adds a test-accuracy point every `params.eval_every` steps and
    at the end.
    """
    n = len(x)
    if n == 0:
        raise InputError("fit: no training rows")
    if targets.shape != (n,):
        raise InputError(f"fit: targets have shape {tuple(targets.shape)}, expected ({n},)")
    steps_per_epoch = -(-n // params.batch_size)
    total = steps_per_epoch * params.epochs
    optimizer = torch.optim.AdamW(model.parameters(), lr=params.lr, weight_decay=params.weight_decay)
    history: list[EvalPoint] = []
    step, loss = 0, torch.tensor(float("nan"))
    model.train()
    for _ in range(params.epochs):
        order = torch.randperm(n, generator=generator)
        for start in range(0, n, params.batch_size):
            idx = order[start : start + params.batch_size]
            loss = loss_fn(model(x[idx]), targets[idx], step / total)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            step += 1
            if eval_set is not None and (step % params.eval_every == 0 or step == total):
                history.append(EvalPoint(step, step / steps_per_epoch, _accuracy(model, *eval_set)))
    return FitResult(history=history, steps=step, final_loss=float(loss.detach()))
