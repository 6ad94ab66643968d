"""A run directory: predictions.parquet, summary.json (test accuracy, AUROC, best along training)
and history.json (test accuracy every `train.eval_every` steps)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import polars as pl

from w2s.io import atomic_dir, read_parquet, write_json

if TYPE_CHECKING:  # a type only: the analysis stages read runs without the training code (torch)
    from w2s.pipeline import RunResult

PREDICTIONS = "predictions.parquet"


def write_run(run: RunResult, out: str | Path) -> None:
    """Write the whole directory at once: it appears complete or not at all."""
    with atomic_dir(out) as tmp:
        run.predictions.write_parquet(tmp / PREDICTIONS, statistics=False)
        write_json(run.summary(), tmp / "summary.json")
        write_json(run.history(), tmp / "history.json")


def read_predictions(run_dir: str | Path) -> pl.DataFrame:
    return read_parquet(Path(run_dir) / PREDICTIONS)
