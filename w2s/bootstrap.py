"""Bootstrapping (Burns et al. 2023, section 4.3.1): supervise a big model through a chain of medium ones.

    M1 (ground truth on train_weak) ─labels─► M2 ─labels─► M3 ─ … ─► Mk        (route "chain")
    M1 (ground truth on train_weak) ─────────────labels──────────────► Mk        (route "direct")

The paper's idea: the gap between adjacent models is smaller than between the ends, so each hop may
recover more of its gap, and recovering most of several small gaps may beat recovering a little of
one big one. Every hop is an ordinary weak-to-strong run (`w2s.pipeline.train_weak_to_strong`, the
same trainer, loss and seed as `train_w2s`) on the same train_transfer rows.

**Cross-fitting.** An intermediate hop's labels must be out-of-sample, like M1's (M1 never saw
train_transfer): a student that labels the rows it was trained on agrees with its own supervisor far
more there than on new rows (in-sample agreement 0.81 vs 0.67-0.71 held out, sciq), so the next hop
would learn a copy of the previous supervisor rather than the student's generalisation, a bias against
the chain. So train_transfer is dealt into `bootstrap.folds` seeded folds (`fold_ids`); for each fold a
student is trained on the other folds and labels the held fold (`cross_fit`). Every row's label for the
next hop then comes from a model whose training rows exclude it. The final hop, like the direct run,
trains on exactly the rows a `train_w2s` student trains on (all of train_transfer less the
`train.weak_holdout` share), so chain vs direct compares supervisors, not training sets. See
docs/validity-chain-saliency.md for the choice of cross-fitting over disjoint slices per hop.

`bootstrap_table` turns (chain, direct) results plus the ground-truth runs of M1 and Mk into tidy rows;
`summarize` computes PGR of each route relative to M1 (weak) and Mk's ceiling by the lab's one definition
(ratio of mean scores, paired interval over seeds and test rows; `w2s.metrics.pgr_interval`).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import polars as pl
from tqdm.auto import tqdm

from w2s.config import CHAIN_SEP, Pair, Params
from w2s.errors import InputError
from w2s.metrics import accuracy, accuracy_interval, auroc, pgr, pgr_interval
from w2s.pipeline import RunResult, TextSource, train_weak_to_strong
from w2s.tasks import stable_rng

Features = tuple[np.ndarray, np.ndarray]
ROUTES = ("chain", "direct")
SCORES = ("accuracy", "auroc")


def chain_label(models: Sequence[str]) -> str:
    """The chain's display name in tables: `minilm_l3>minilm_l6>mpnet`."""
    return ">".join(models)


@dataclass(frozen=True)
class BootstrapResult:
    """The final student of the chain, the direct M1 -> Mk student, every hop's test scores, and the
    cross-fitted labels each intermediate hop handed on (one frame per hop but the last)."""

    chain: RunResult
    direct: RunResult
    hops: list[dict[str, object]]
    labels: list[pl.DataFrame] = dataclasses.field(default_factory=list)


def fold_ids(ids: np.ndarray, folds: int, seed: int) -> np.ndarray:
    """Fold in [0, folds) of each of `ids` (train_transfer ids): a seeded permutation of the sorted ids
    dealt round-robin, so fold sizes differ by at most one and the folds depend on the id set and the
    seed only, not on row order. InputError when there are fewer ids than folds (a fold would be empty)."""
    ids = np.asarray(ids)
    if folds < 2:
        raise InputError(f"bootstrap.folds: must be at least 2, got {folds}")
    if len(ids) < folds:
        raise InputError(f"bootstrap.folds: {folds} folds need at least {folds} train_transfer rows, got {len(ids)}")
    sorted_ids = np.sort(ids)
    fold_of_sorted = np.empty(len(ids), dtype=np.int64)
    fold_of_sorted[stable_rng(seed, "bootstrap", "folds").permutation(len(ids))] = np.arange(len(ids)) % folds
    return fold_of_sorted[np.searchsorted(sorted_ids, ids)]


def cross_fit(supervisor: pl.DataFrame, features: Features | TextSource | None, params: Params, task: str,
              pair: Pair, method: str, seed: int, folds: int,
              pool: pl.DataFrame | None = None) -> tuple[pl.DataFrame, list[RunResult]]:
    """`pair.strong`'s soft labels on every train_transfer row of `supervisor`, each from a student that
    never trained on that row.

    For each fold k (`fold_ids`), `train_weak_to_strong` trains a student on the supervisor's labels of
    the other folds and scores fold k with the test rows (fold k is passed as extra `test` rows: the
    trainer only predicts those, its ground-truth column draws the run's curve and is never a target).
    The fold students skip `train.weak_holdout` (that share only feeds early-stopping diagnostics of
    `train_w2s` runs), so each trains on (folds-1)/folds of train_transfer.

    Returns (the next hop's supervisor frame: id, part, label, p1, fold for train_transfer (p1 out of
    fold) and test rows (p1: mean of the fold students), sorted by id; the fold runs, whose predictions
    hold the real test rows only)."""
    transfer = supervisor.filter(pl.col("part") == "train_transfer").select("id", "part", "label", "p1")
    test = supervisor.filter(pl.col("part") == "test").select("id", "part", "label", "p1")
    fold = pl.Series("fold", fold_ids(transfer["id"].to_numpy(), folds, seed))
    transfer = transfer.with_columns(fold)
    fold_params = params.model_copy(update={"train": params.train.model_copy(update={"weak_holdout": 0.0})})
    held_p1: list[pl.DataFrame] = []
    runs: list[RunResult] = []
    for k in range(folds):
        held = transfer.filter(pl.col("fold") == k)
        rows = pl.concat([transfer.filter(pl.col("fold") != k).drop("fold"),
                          held.drop("fold").with_columns(pl.lit("test").alias("part")), test]).sort("id")
        run = train_weak_to_strong(rows, features, fold_params, task, pair, method, seed, pool=pool)
        scored = run.predictions.join(held.select("id"), on="id", how="anti")  # the real test rows
        held_p1.append(run.predictions.join(held.select("id"), on="id", how="semi").select("id", "p1"))
        runs.append(RunResult(scored, run.fit))
    out_of_fold = transfer.drop("p1").join(pl.concat(held_p1), on="id", how="left")
    test_p1 = pl.concat([r.predictions.select("id", "p1") for r in runs]).group_by("id").agg(pl.col("p1").mean())
    test = test.drop("p1").join(test_p1, on="id", how="left").with_columns(pl.lit(None, pl.Int64).alias("fold"))
    columns = ["id", "part", "label", "p1", "fold"]
    labels = pl.concat([out_of_fold.select(columns), test.select(columns)]).sort("id")
    return labels, runs


def _fold_summary(weak: str, strong: str, runs: Sequence[RunResult]) -> dict[str, object]:
    """An intermediate hop's scores: the mean over its fold students of test accuracy and AUROC, and
    each fold student's test accuracy."""
    scores = [_scores(r.predictions) for r in runs]
    return {"weak": weak, "strong": strong, "folds": len(runs),
            **{s: float(np.mean([x[s] for x in scores])) for s in SCORES},
            "fold_accuracy": [x["accuracy"] for x in scores], "steps": sum(r.fit.steps for r in runs)}


def run_chain(weak_predictions: pl.DataFrame, features: Mapping[str, Features], params: Params, task: str,
              models: Sequence[str], method: str, seed: int, progress: bool = True,
              pool: pl.DataFrame | None = None) -> BootstrapResult:
    """Train M2..Mk along the chain and Mk directly from M1's labels.

    `weak_predictions`: M1's ground-truth run predictions (train_transfer and test rows, column p1);
    `features`: cached features of every model of the chain but M1, by key (probe mode); `pool`: the
    task's pool, whose texts the finetune/lora modes train on (there `features` may be empty). Every
    intermediate hop M2..Mk-1 labels train_transfer for the next by `cross_fit` (`bootstrap.folds`
    students per hop); the final hop Mk is one `train_weak_to_strong` run on the last cross-fitted labels,
    on the same rows, params and seed as the direct run (a two-model chain is the direct run bit for bit).
    Each returned run holds test predictions only, with run keys kind="bootstrap", route, chain, weak=M1,
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
    handed_on: list[pl.DataFrame] = []
    hops_list = list(zip(models, models[1:], strict=False))
    for weak, strong in tqdm(hops_list[:-1], desc=f"chain {label}", disable=not progress):
        supervisor, fold_runs = cross_fit(supervisor, features.get(strong), params, task, Pair(weak, strong), method,
                                          seed, params.bootstrap.folds, pool=pool)
        handed_on.append(supervisor)
        hops.append(_fold_summary(weak, strong, fold_runs))
    weak, strong = hops_list[-1]
    last = train_weak_to_strong(supervisor, features.get(strong), params, task, Pair(weak, strong), method, seed,
                                pool=pool)
    hops.append({"weak": weak, "strong": strong, **last.summary()})
    direct = train_weak_to_strong(weak_predictions, features.get(models[-1]), params, task,
                                  Pair(models[0], models[-1]), method, seed, pool=pool)
    meta = {"kind": "bootstrap", "chain": label, "weak": models[0], "strong": models[-1]}

    def finish(run: RunResult, route: str) -> RunResult:
        test = run.predictions.filter(pl.col("part") == "test")
        return RunResult(test.with_columns(*[pl.lit(v).alias(k) for k, v in {**meta, "route": route}.items()]),
                         run.fit)

    return BootstrapResult(finish(last, "chain"), finish(direct, "direct"), hops, handed_on)


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


def summarize(table: pl.DataFrame, preds: pl.DataFrame, level: float = 0.95, n_resamples: int = 10_000,
              ) -> tuple[pl.DataFrame, pl.DataFrame, dict[str, float | None]]:
    """PGR of each route (chain, direct) per task and chain, relative to M1 and Mk's ceiling, by the lab's
    one definition (`w2s.metrics.pgr_interval`: ratio of the scores averaged over seeds, paired
    bootstrap interval over seeds and test rows, given only where M1 -> Mk's gap is significant).

    `table`: the `bootstrap_table` rows of every seed; `preds`: test predictions of the routes' final
    students (kind "bootstrap", with chain and route) and of the ground-truth runs (kind "gt", model) of
    M1 and Mk. Returns (per-seed table with each seed's own pgr_* for inspection, summary table, flat DVC
    metrics `<task>/<chain>/<route>/<score>` and `.../pgr_<score>{,_low,_high}`)."""
    from w2s.analysis import interval_columns, run_matrix

    if table.is_empty():
        raise InputError("bootstrap: no chain results to summarize")
    for s in SCORES:
        res = [pgr(w, x, c) for w, x, c in table.select(f"weak_{s}", s, f"ceiling_{s}").rows()]
        table = table.with_columns(pl.Series(f"pgr_{s}", [r.value for r in res], dtype=pl.Float64),
                                   pl.Series(f"pgr_{s}_reason", [r.reason for r in res], dtype=pl.Utf8))
    keys = ["task", "chain", "route", "method"]
    rows = []
    for group_keys, group in table.group_by(keys, maintain_order=True):
        task, chain, route, method = (str(k) for k in group_keys)
        seeds = sorted(int(x) for x in group["seed"].unique())
        models = chain.split(">")
        weak, labels, _ = run_matrix(preds, {"kind": "gt", "task": task, "model": models[0]}, seeds)
        ceiling, _, _ = run_matrix(preds, {"kind": "gt", "task": task, "model": models[-1]}, seeds)
        student, _, _ = run_matrix(preds, {"kind": "bootstrap", "task": task, "chain": chain, "route": route},
                                    seeds)
        acc = accuracy_interval((student > 0.5) == labels.astype(bool), level=level, n_resamples=n_resamples)
        row: dict[str, object] = {"task": task, "chain": chain, "route": route, "method": method,
                                  "n_seeds": len(seeds), "n_test": len(labels), "accuracy_low": acc.low,
                                  "accuracy_high": acc.high}
        for s in SCORES:
            iv = pgr_interval(weak, student, ceiling, labels, score=s, level=level, n_resamples=n_resamples)
            row |= {s: iv.w2s, **interval_columns(iv, s)}
        rows.append(row)
    summary = pl.DataFrame(rows, infer_schema_length=None).sort(keys)
    metrics: dict[str, float | None] = {}
    for r in summary.iter_rows(named=True):
        name = f"{r['task']}/{r['chain']}/{r['route']}"
        metrics[f"{name}/n_seeds"] = r["n_seeds"]
        for s in SCORES:
            metrics[f"{name}/{s}"] = r[s]
            for suffix in ("", "_low", "_high"):
                metrics[f"{name}/pgr_{s}{suffix}"] = r[f"pgr_{s}{suffix}"]
    return table.sort("task", "chain", "route", "seed"), summary, dict(sorted(metrics.items()))
