"""What a fit reports, and the pieces of the trainer that need no torch.

`EvalPoint` / `FitResult` are the record of one training run (probe or finetune); `lr_factor` is the
learning-rate schedule of every stepwise fit; `world_size` / `is_main_process` read the launcher's
environment. They live apart from `w2s.train` (torch, transformers) so that a probe fitted by L-BFGS
(`w2s.probe.fit_probe`), which uses numpy and scipy only, and the stage that writes it import neither
(issue 21: a cold `dvc repro` paid seconds of imports per probe stage). `w2s.train` re-exports them.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass

from w2s.errors import InputError


@dataclass(frozen=True)
class EvalPoint:
    """Test accuracy after `step` optimizer steps (and, with `fit(weak_eval_set=...)`, the agreement of the
    model's hard predictions with held-out weak labels: the early-stopping signal of `w2s.overfitting`)."""

    step: int
    epoch: float
    accuracy: float
    val_weak_agreement: float | None = None


@dataclass(frozen=True)
class FitResult:
    """What a training run reports besides its weights.

    `steps`: optimizer steps (L-BFGS iterations for probes fitted by `w2s.probe.fit_probe`).
    `final_loss`: the last step's batch loss (a progress indicator, not a measure of convergence).
    `train_loss`: the loss over all training rows at the end (at progress 1). Probe fits also carry
    `objective` (train_loss + the L2 penalty), `grad_norm`, `converged`, `optimizer`, the C used and,
    when it was cross-validated, the CV score of every C of the grid.
    """

    history: list[EvalPoint]
    steps: int
    final_loss: float
    train_loss: float | None = None
    objective: float | None = None
    grad_norm: float | None = None
    converged: bool | None = None
    optimizer: str = "adamw"
    probe_c: float | None = None
    probe_c_cv: dict[float, float] | None = None
    seconds: float | None = None
    n_train: int | None = None


def world_size() -> int:
    """Processes in this run (`accelerate launch` / torchrun set WORLD_SIZE); 1 for a plain run."""
    return int(os.environ.get("WORLD_SIZE", "1"))


def is_main_process() -> bool:
    """True on rank 0 (and in a plain one-process run): the only process that writes outputs."""
    return int(os.environ.get("RANK", "0")) == 0


def lr_factor(step: int, total: int, schedule: str, warmup_frac: float) -> float:
    """Multiplier of the base learning rate for optimizer step `step` (0-based) of `total`.

    Warm-up: the first w = ceil(warmup_frac * total) steps ramp linearly, (step + 1) / w, reaching 1 at
    step w - 1 (no step is wasted at lr 0). Then `constant`: 1; `cosine`: 0.5 (1 + cos(pi q)) with
    q = (step - w) / (total - w), from 1 at the end of the warm-up down towards 0 at the last step.
    """
    warm = math.ceil(warmup_frac * total)
    if step < warm:
        return (step + 1) / warm
    if schedule == "constant":
        return 1.0
    if schedule == "cosine":
        q = (step - warm) / max(1, total - warm)
        return 0.5 * (1.0 + math.cos(math.pi * q))
    raise InputError(f"train.schedule: must be 'constant' or 'cosine', got {schedule!r}")
