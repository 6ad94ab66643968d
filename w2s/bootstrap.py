"""Bootstrapping (Burns et al. 2023, section 4.3.1): supervise a big model through a chain of medium ones.

    M1 (ground truth on train_weak) ─labels─► M2 ─labels─► M3 ─ … ─► Mk        (route "chain")
    M1 (ground truth on train_weak) ─────────────labels──────────────► Mk        (route "direct")

The paper's idea: the gap between adjacent models is smaller than between the ends, so each hop may
recover more of its gap, and recovering most of several small gaps may beat recovering a little of
one big one. Every hop is an ordinary weak-to-strong run (`w2s.pipeline.train_weak_to_strong`, the
same trainer, loss and seed as `train_w2s`) on the same train_transfer rows: hop i's student is
trained on hop i−1's soft labels there, then predicts those rows to supervise hop i+1. Those
predictions are in-sample (the student has seen the rows, with its supervisor's labels); in probe mode
a linear head on a few hundred rows does not memorise them, and the paper's chains also relabel the
data they trained on. The direct run is trained inside the stage too, so both routes share the code,
the params and the seed exactly.

`bootstrap_table` turns (chain, direct) results plus the ground-truth runs of M1 and Mk into tidy rows;
`summarize` computes PGR of each route relative to M1 (weak) and Mk's ceiling, per seed, and the mean
over seeds with a bootstrap CI.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import polars as pl
from tqdm.auto import tqdm

from w2s.config import CHAIN_SEP, Pair, Params
from w2s.errors import InputError
from w2s.metrics import accuracy, auroc, bootstrap_ci, pgr
from w2s.pipeline import RunResult, train_weak_to_strong

Features = tuple[np.ndarray, np.ndarray]
ROUTES = ("chain", "direct")
SCORES = ("accuracy", "auroc")


def chain_label(models: Sequence[str]) -> str:
    """The chain's display name in tables: `minilm_l3>minilm_l6>mpnet`."""
    return ">".join(models)


@dataclass(frozen=True)
class BootstrapResult:
    """The final student of the chain, the direct M1 -> Mk student, and every hop's test accuracy."""

    chain: RunResult
    direct: RunResult
    hops: list[dict[str, object]]


def run_chain(weak_predictions: pl.DataFrame, features: Mapping[str, Features], params: Params, task: str,
              models: Sequence[str], method: str, seed: int, progress: bool = True,
              pool: pl.DataFrame | None = None) -> BootstrapResult:
    """Train M2..Mk along the chain and Mk directly from M1's labels.

    `weak_predictions`: M1's ground-truth run predictions (train_transfer and test rows, column p1);
    `features`: cached features of every model of the chain but M1, by key (probe mode); `pool`: the
    task's pool, whose texts the finetune/lora modes train on (there `features` may be empty). Each
    returned run holds test predictions only, with run keys kind="bootstrap", route, chain, weak=M1,
    strong=Mk, method, seed.
    """
    if len(models) < 2:
        raise InputError(f"bootstrap chain {list(models)}: needs at least two models")
    missing = [m for m in models[1:] if m not in features]
    if missing and params.train.mode == "probe":
        raise InputError(f"bootstrap chain {CHAIN_SEP.join(models)}: no features for {missing[0]!r}")
    label = chain_label(models)
    supervisor = weak_predictions
    hops: list[dict[str, object]] = []
    last: RunResult | None = None
    hops_list = list(zip(models, models[1:], strict=False))
    for i, (weak, strong) in enumerate(tqdm(hops_list, desc=f"chain {label}", disable=not progress)):
        # Every hop but the last also labels train_transfer for the next; the last predicts test only,
        # exactly like the direct run (so a two-model chain reproduces it bit for bit).
        last = train_weak_to_strong(supervisor, features.get(strong), params, task, Pair(weak, strong), method,
                                    seed, label_transfer=i < len(hops_list) - 1, pool=pool)
        hops.append({"weak": weak, "strong": strong, **last.summary()})
        supervisor = last.predictions  # the student's soft labels on train_transfer supervise the next hop
    assert last is not None
    direct = train_weak_to_strong(weak_predictions, features.get(models[-1]), params, task,
                                  Pair(models[0], models[-1]), method, seed, pool=pool)
    meta = {"kind": "bootstrap", "chain": label, "weak": models[0], "strong": models[-1]}

    def finish(run: RunResult, route: str) -> RunResult:
        test = run.predictions.filter(pl.col("part") == "test")
        return RunResult(test.with_columns(*[pl.lit(v).alias(k) for k, v in {**meta, "route": route}.items()]),
                         run.fit)

    return BootstrapResult(finish(last, "chain"), finish(direct, "direct"), hops)


def _scores(predictions: pl.DataFrame) -> dict[str, float]:
    test = predictions.filter(pl.col("part") == "test")
    p1, labels = test["p1"].to_numpy(), test["label"].to_numpy()
    return {"accuracy": accuracy(p1, labels), "auroc": auroc(p1, labels)}


def bootstrap_table(result: BootstrapResult, weak_predictions: pl.DataFrame, ceiling_predictions: pl.DataFrame,
                    task: str, models: Sequence[str], method: str, seed: int) -> pl.DataFrame:
    """Tidy rows, one per route: task, chain, seed, route, method, accuracy, auroc, plus M1's (weak_*) and
    Mk's ground-truth (ceiling_*) scores of the same seed, from which `summarize` computes PGR."""
    weak, ceiling = _scores(weak_predictions), _scores(ceiling_predictions)
    rows = []
    for route, run in (("chain", result.chain), ("direct", result.direct)):
        rows.append({"task": task, "chain": chain_label(models), "seed": seed, "route": route, "method": method,
                     **_scores(run.predictions), **{f"weak_{s}": weak[s] for s in SCORES},
                     **{f"ceiling_{s}": ceiling[s] for s in SCORES}, "n_hops": len(models) - 1 if route == "chain"
                     else 1})
    return pl.DataFrame(rows)


def summarize(table: pl.DataFrame, min_gap: float = 0.0, level: float = 0.95,
              n_resamples: int = 10_000) -> tuple[pl.DataFrame, pl.DataFrame, dict[str, float | None]]:
    """PGR of every row, then the mean over seeds per (task, chain, route) with a bootstrap CI.

    Returns (per-seed table with pgr_* and pgr_*_reason, summary table, flat DVC metrics named
    `<task>/<chain>/<route>/<score>`)."""
    if table.is_empty():
        raise InputError("bootstrap: no chain results to summarize")
    for s in SCORES:
        res = [pgr(w, x, c, min_gap) for w, x, c in table.select(f"weak_{s}", s, f"ceiling_{s}").rows()]
        table = table.with_columns(pl.Series(f"pgr_{s}", [r.value for r in res], dtype=pl.Float64),
                                   pl.Series(f"pgr_{s}_reason", [r.reason for r in res], dtype=pl.Utf8))
    keys = ["task", "chain", "route", "method"]
    rows = []
    for group_keys, group in table.group_by(keys, maintain_order=True):
        row: dict[str, object] = dict(zip(keys, group_keys, strict=True))
        row["n_seeds"] = group.height
        for s in SCORES:
            for col in (s, f"weak_{s}", f"ceiling_{s}"):
                row[col] = group[col].mean()
            values = group[f"pgr_{s}"].drop_nulls().to_list()
            ci = bootstrap_ci(values, level=level, n_resamples=n_resamples) if values else None
            row[f"pgr_{s}"], row[f"pgr_{s}_low"], row[f"pgr_{s}_high"] = (
                (ci.mean, ci.low, ci.high) if ci else (None, None, None))
        rows.append(row)
    summary = pl.DataFrame(rows, infer_schema_length=None).sort(keys)
    metrics: dict[str, float | None] = {}
    for r in summary.iter_rows(named=True):
        name = f"{r['task']}/{r['chain']}/{r['route']}"
        for s in SCORES:
            metrics[f"{name}/{s}"] = r[s]
            for suffix in ("", "_low", "_high"):
                metrics[f"{name}/pgr_{s}{suffix}"] = r[f"pgr_{s}{suffix}"]
    return table.sort("task", "chain", "route", "seed"), summary, dict(sorted(metrics.items()))
