"""How much of a PGR is the regulariser? PGR per pair and method against the probes' L2 strength C.

The headline runs pick C per run by cross-validation on that run's own training labels
(`train.probe_c: cv`). This analysis instead reruns every cell of a task with **all heads at the same
C** (supervisor, ceiling and student alike), for each C of a log-spaced grid (`sensitivity.c_grid`,
1e-4 ... 1e2 by default), with exactly the pipeline's runs otherwise (`w2s.pipeline.train_ground_truth`
and `train_weak_to_strong`, the same rows, seeds and losses), and reports each cell's PGR by the lab's
one definition with its paired interval over seeds and test rows (`w2s.analysis.cell_pgr`). A reader
sees at once whether a conclusion ("logconf beats xent", "PGR is high") holds over the whole range of
regularisation or only at one C: Burns et al. discuss early stopping and overfitting as the regulariser
of weak-to-strong training; with converged probes, C is that regulariser.

Probe mode only (the stage skips, with a message, in finetune/lora mode: there the regulariser is the
number of epochs and the learning rate, and the `overfitting` analysis shows the curve).

Table (`data/sensitivity/sensitivity_<task>.parquet`), one row per (cell, C): task, weak, strong, method, c, n_seeds,
n_test, weak_accuracy, ceiling_accuracy, w2s_accuracy, gap_accuracy, gap_accuracy_low, gap_accuracy_high,
pgr_accuracy, pgr_accuracy_low, pgr_accuracy_high, pgr_accuracy_status, pgr_accuracy_reason.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

import numpy as np
import polars as pl
from tqdm.auto import tqdm

from w2s.config import Params
from w2s.errors import InputError

Features = tuple[np.ndarray, np.ndarray]
"""(pool ids (N,), features (N, D)) as `w2s.io.read_features` returns them."""


def at_c(params: Params, c: float) -> Params:
    """`params` with every probe head at the fixed C (no cross-validation)."""
    return params.model_copy(update={"train": params.train.model_copy(update={"probe_c": float(c)})})


def skip_reason(params: Params) -> str | None:
    """Why the sweep does not run for these params (finetune/lora mode, or an empty grid), or None."""
    if params.train.mode != "probe":
        return (f"train.mode is {params.train.mode!r}: the C sweep is for probe heads (in finetune/lora the "
                "regulariser is the epochs and learning rate; see the overfitting analysis)")
    if not params.sensitivity.c_grid:
        return "sensitivity.c_grid is empty"
    return None


def sensitivity_task(pool: pl.DataFrame, features: Mapping[str, Features], params: Params, task: str,
                     progress: bool = True,
                     on_row: Callable[[dict[str, object]], None] | None = None) -> pl.DataFrame:
    """Every (pair, method) of `params` at every C of `params.sensitivity.c_grid`: the table above.

    `features`: the task's cached features by model key (every model of a pair). Empty when
    `skip_reason` says the sweep does not run."""
    from w2s.analysis import cell_pgr
    from w2s.pipeline import train_ground_truth, train_weak_to_strong

    if skip_reason(params):
        return pl.DataFrame()
    models = sorted({m for p in params.pairs for m in (p.weak, p.strong)})
    missing = [m for m in models if m not in features]
    if missing:
        raise InputError(f"sensitivity: no features of {missing[0]!r} for task {task}")
    grid = params.sensitivity.c_grid
    rows: list[dict[str, object]] = []
    for c in tqdm(grid, desc=f"sensitivity {task}", unit="C", disable=not progress):
        p = at_c(params, c)
        frames = []
        for seed in params.seeds:
            gt = {m: train_ground_truth(pool, features[m], p, task, m, seed).predictions for m in models}
            frames += list(gt.values())
            for pair in params.pairs:
                for method in params.methods:
                    frames.append(train_weak_to_strong(gt[pair.weak], features[pair.strong], p, task, pair, method,
                                                       seed).predictions)
        preds = pl.concat(frames, how="diagonal")
        for pair in params.pairs:
            for method in params.methods:
                row = cell_pgr(preds, task, pair.weak, pair.strong, method, list(params.seeds),
                               level=params.analyze.ci_level, n_resamples=params.analyze.n_resamples,
                               scores=("accuracy",))
                row = {**row, "c": float(c)}
                row.pop("interval", None)
                rows.append(row)
                if on_row is not None:
                    on_row(row)
    return pl.DataFrame(rows, infer_schema_length=None).sort("weak", "strong", "method", "c")
