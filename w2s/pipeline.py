"""The one library function behind each DVC stage.

    prepare@task              -> prepare_task          pool of rows (train + test), balanced, deduplicated
    embed@task-model          -> embed_pool            frozen features of every pool row
    train_gt@task-model-seed  -> train_ground_truth    ground-truth run: weak labels + test predictions
    train_w2s@task-pair-...   -> train_weak_to_strong  the student on the supervisor's soft labels
    analyze                   -> w2s.analysis.analyze  accuracy, AUROC, PGR with intervals

Stage scripts only parse arguments, load params and write what these return.
"""

from __future__ import annotations

import dataclasses
import sys
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import polars as pl

from w2s import runtime
from w2s.config import Pair, Params, TrainParams
from w2s.errors import InputError
from w2s.fitresult import EvalPoint, FitResult, is_main_process, lr_factor
from w2s.metrics import accuracy, auroc
from w2s.probe import fit_probe, fit_probe_stepwise, select_c
from w2s.puzzles import CHESS_TASKS, load_puzzles, puzzle_rows
from w2s.splits import build_pool, split_train
from w2s.tasks import FileTask, load_task

if TYPE_CHECKING:
    from w2s.train import Data

Features = tuple[np.ndarray, np.ndarray]
"""Cached features of a (task, model): (pool ids (N,), features (N, D)) from the `embed` stage."""


@dataclass(frozen=True)
class TextSource:
    """finetune/lora modes: the pool's texts and the hub id of the model to train on them."""

    pool: pl.DataFrame
    """Needs columns id and text (the `prepare` stage's parquet)."""
    hub_id: str
    truncation: str = "right"
    """The side cut from a text over `train.max_length` tokens (the task's, `data.task_options`)."""
    revision: str | None = None
    """Hub revision of `hub_id` (`models.<key>.revision`; None: the default branch)."""


def training_source(params: Params, model: str, pool: pl.DataFrame | None,
                    features: Features | TextSource | None, task: str | None = None) -> Features | TextSource:
    """What a run of `model` trains on: the cached features in probe mode, the pool's texts otherwise (cut
    on `task`'s truncation side, as `embed` cuts them)."""
    if isinstance(features, TextSource):
        return features
    if params.train.mode == "probe":
        if features is None:
            raise InputError(f"train.mode probe: {model!r} needs its cached features (the `embed` stage)")
        return features
    if pool is None or "text" not in pool.columns:
        raise InputError(f"train.mode {params.train.mode}: {model!r} needs the pool's texts (--pool)")
    side = params.data.truncation_side(task) if task else "right"
    spec = params.model_spec(model)
    return TextSource(pool.select("id", "text"), spec.id, side, spec.revision)


def prepare_task(params: Params, task: str) -> pl.DataFrame:
    """The task's pool: columns id, text, label, part ("train" | "test"); chess tasks (`w2s.puzzles`, from
    params section `chess`) add difficulty (the puzzle's rating)."""
    n_train, n_test = params.prepare.sizes(task)
    if task in CHESS_TASKS:
        splits = puzzle_rows(load_puzzles(params.chess), task, params.prepare.seed)
        return build_pool(splits, n_train=n_train, n_test=n_test, seed=params.prepare.seed, task=task)
    file_tasks = {name: FileTask(**ft.model_dump()) for name, ft in params.data.file_tasks.items()}
    splits = load_task(task, source=params.data.source, local_dir=params.data.local_dir,
                       seed=params.prepare.seed, file_tasks=file_tasks, negatives=params.data.negatives(task),
                       revision=params.data.revision(task), classes=params.data.classes(task))
    balance = file_tasks[task].balance if task in file_tasks else None
    return build_pool(splits, n_train=n_train, n_test=n_test, seed=params.prepare.seed, task=task, balance=balance)


@dataclass(frozen=True)
class Embedding:
    ids: np.ndarray  # (N,) int64, pool ids
    features: np.ndarray  # (N, D) float32
    n_truncated: int
    pooling: str
    truncation: str = "right"  # the side texts over embed.max_length were cut on
    revision: str | None = None  # the hub commit loaded (None: a local folder)


def embed_pool(pool: pl.DataFrame, hub_id: str, params: Params, task: str | None = None,
               progress: bool = True, revision: str | None = None) -> Embedding:
    """Frozen features of every pool row, so no seed or method ever recomputes them. Texts longer than
    `embed.max_length` tokens are cut on the task's truncation side (`data.task_options`: `left` keeps
    the end, where the question or the second response sits; no task: `right`). The model is `hub_id`
    at hub `revision`, resolved to the commit that is loaded and returned with the features."""
    from w2s.features import embed_texts
    from w2s.models import load_backbone, resolve_pooling, resolve_revision

    e = params.embed
    device = runtime.device()
    commit = resolve_revision(hub_id, revision)
    model, tokenizer = load_backbone(hub_id, device=device, revision=commit or revision)
    pooling = resolve_pooling(model.config, e.pooling)
    side = params.data.truncation_side(task) if task else "right"
    result = embed_texts(pool["text"].to_list(), model, tokenizer, pooling=pooling, batch_size=e.batch_size,
                         max_length=e.max_length, device=device, progress=progress, desc=f"embed {hub_id}",
                         truncation=side)
    return Embedding(pool["id"].to_numpy(), result.features, result.n_truncated, pooling, side, commit)


@dataclass(frozen=True)
class RunResult:
    """What a training run leaves: predictions (id, part, label, p1 + metadata) and its curve."""

    predictions: pl.DataFrame
    fit: FitResult

    def summary(self) -> dict[str, Any]:
        """summary.json: test accuracy and AUROC of the final model; how the fit ended (`train_loss` over all
        training rows, `train_objective` = train_loss + the L2 penalty for probes, `grad_norm`,
        `converged`: null where no convergence test exists (finetune/lora: the step budget is the
        regulariser), `optimizer`, `steps`, `train_rows`); probes: `probe_c` and, when cross-validated,
        `probe_c_cv` (C -> mean held-out score). `best_test_accuracy_peek`: the highest test accuracy
        along the curve, which reads test labels: an upper bound for analysis, never a result. The fit's
        wall time is not here (it would make the output differ between identical runs): `fit_line`."""
        test = self.predictions.filter(pl.col("part") == "test")
        p1, labels = test["p1"].to_numpy(), test["label"].to_numpy()
        curve = [pt.accuracy for pt in self.fit.history]
        f = self.fit
        return {"accuracy": accuracy(p1, labels), "auroc": auroc(p1, labels), "steps": f.steps,
                "best_test_accuracy_peek": max(curve) if curve else float("nan"), "train_loss": f.train_loss,
                "train_objective": f.objective if f.objective is not None else f.train_loss,
                "grad_norm": f.grad_norm, "converged": f.converged, "optimizer": f.optimizer,
                "probe_c": f.probe_c, "train_rows": f.n_train,
                **({} if f.probe_c_cv is None else {"probe_c_cv": {f"{c:g}": v for c, v in f.probe_c_cv.items()}})}

    def fit_line(self) -> str:
        """How the fit ended, for the stage's log: wall time, C, convergence."""
        f = self.fit
        c = "" if f.probe_c is None else f", C {f.probe_c:g}" + (" (cv)" if f.probe_c_cv is not None else "")
        state = {True: "converged", False: "NOT converged", None: "no convergence test"}[f.converged]
        grad = "" if f.grad_norm is None else f", gradient norm {f.grad_norm:.1e}"
        return f"fit {f.seconds or 0.0:.2f} s, {f.optimizer}, {f.steps} steps{c}, {state}{grad}"

    def history(self) -> list[dict[str, float]]:
        return [{"step": pt.step, "epoch": pt.epoch, "accuracy": pt.accuracy}
                | ({} if pt.val_weak_agreement is None else {"val_weak_agreement": pt.val_weak_agreement})
                for pt in self.fit.history]


def id_positions(known: Iterable[int], ids: Iterable[int], lacking: str) -> list[int]:
    """The position in `known` of each of `ids`, in the order of `ids`. When some are absent (outputs of
    an older run), InputError `<lacking> <n> ids (first: <id>): rerun `dvc repro``."""
    pos = {int(i): k for k, i in enumerate(known)}
    wanted = [int(i) for i in ids]
    missing = [i for i in wanted if i not in pos]
    if missing:
        raise InputError(f"{lacking} {len(missing)} ids (first: {missing[0]}): rerun `dvc repro`")
    return [pos[i] for i in wanted]


def _rows(features: tuple[np.ndarray, np.ndarray], ids: np.ndarray) -> np.ndarray:
    """Feature rows (len(ids), D) for pool ids, in the order of `ids`."""
    feat_ids, feats = features
    return feats[id_positions(feat_ids, ids, "features lack")]


def _texts(pool: pl.DataFrame, ids: np.ndarray) -> list[str]:
    """Texts of pool ids, in the order of `ids`."""
    texts = pool["text"].to_list()
    return [texts[k] for k in id_positions(pool["id"].to_numpy(), ids, "the pool lacks")]


Predictor = Callable[[np.ndarray], np.ndarray]
"""A trained model as a function: pool ids (N,) -> p(y=1) (N,) float64."""

FIXED_OBJECTIVE_LOSSES = ("xent", "kl")
"""Losses with a fixed target, hence a fixed convex objective for a probe: fitted by L-BFGS
(`w2s.probe.fit_probe`; kl = xent minus a constant). Every other loss moves its target with the
student's own predictions and is fitted stepwise (`w2s.probe.fit_probe_stepwise`)."""


def needs_torch(train: TrainParams, losses: Iterable[str]) -> bool:
    """Whether runs of `losses` under `train` compute with torch: finetune/lora always; probes only for the
    stepwise losses (their loss functions are torch's), never for xent/kl, whose L-BFGS fit is numpy and
    scipy. A training stage configures torch (`w2s.cli.deterministic`) only when this is true, so a probe
    stage of xent or kl never imports it: ~3 s per process, paid by dozens of stages in a cold run."""
    return train.mode != "probe" or any(loss not in FIXED_OBJECTIVE_LOSSES for loss in losses)


def _eval_point(step: int, epoch: float, p1_of: Callable[[np.ndarray], np.ndarray], test: tuple[np.ndarray, np.ndarray],
                weak_eval: tuple[np.ndarray, np.ndarray] | None) -> EvalPoint:
    """Test accuracy (and agreement with held-out weak labels) of a probe's current weights."""
    acc = float(np.mean((p1_of(test[0]) > 0.5) == test[1].astype(bool)))
    agree = None if weak_eval is None else float(np.mean((p1_of(weak_eval[0]) > 0.5) == (weak_eval[1] > 0.5)))
    return EvalPoint(step, epoch, acc, agree)


def probe_c(train: TrainParams, x: np.ndarray, targets: np.ndarray, seed: int,
            where: str) -> tuple[float, dict[float, float] | None]:
    """The run's C: `train.probe_c` when it is a number; with `cv`, `w2s.probe.select_c` on the run's own
    training rows and targets (and nothing else), folds seeded by the run's seed. Returns (C, CV scores)."""
    if train.probe_c != "cv":
        return float(train.probe_c), None
    chosen = select_c(x, targets, train.probe_c_grid, train.probe_cv_folds, seed, tol=train.probe_tol,
                      max_iter=train.probe_max_iter, where=f"{where}: train.probe_c cv")
    return chosen.c, chosen.scores


def _train_probe(train_ids: np.ndarray, targets: np.ndarray, loss: str, loss_params: dict[str, float],
                 feats: Features, test: pl.DataFrame, train: TrainParams, seed: int,
                 weak_eval: tuple[np.ndarray, np.ndarray] | None, where: str) -> tuple[Predictor, FitResult]:
    """Probe mode (issue 18): a linear probe on the cached features with an explicit L2 penalty, C fixed or
    cross-validated on the run's own training targets (`probe_c`). xent/kl: the converged minimiser
    (L-BFGS); other losses: minibatch Adam for `train.epochs` epochs with the same penalty. The curve
    (history) is recorded every `train.eval_every` optimiser steps (L-BFGS iterations) and at the end;
    it never feeds back into the fit."""
    start = time.perf_counter()
    x = _rows(feats, train_ids)
    t = targets.astype(np.float64)
    test_set = (_rows(feats, test["id"].to_numpy()), test["label"].to_numpy())
    held = None if weak_eval is None else (_rows(feats, weak_eval[0]), np.asarray(weak_eval[1], dtype=float))
    c, scores = probe_c(train, x, t, seed, where)
    history: list[EvalPoint] = []

    def monitor(step: int, epoch: float, p1_of: Callable[[np.ndarray], np.ndarray]) -> None:
        if step % train.eval_every == 0:
            history.append(_eval_point(step, epoch, p1_of, test_set, held))

    if loss in FIXED_OBJECTIVE_LOSSES:
        probe = fit_probe(x, t, c, tol=train.probe_tol, max_iter=train.probe_max_iter, monitor=monitor)
    else:  # the stepwise losses are torch functions (w2s.losses): torch is imported here, not for L-BFGS fits
        from w2s.losses import make_loss

        probe = fit_probe_stepwise(
            x, t, make_loss(loss, loss_params), c, epochs=train.epochs, batch_size=train.batch_size * train.grad_accum,
            lr=train.lr, seed=seed, tol=train.probe_tol, monitor=monitor,
            lr_at=lambda step, total: lr_factor(step, total, train.schedule, train.warmup_frac))
    epoch = probe.n_passes if probe.optimizer == "lbfgs" else float(train.epochs)
    if history and history[-1].step == probe.n_iter:
        history.pop()
    history.append(_eval_point(probe.n_iter, epoch, probe.predict, test_set, held))
    result = FitResult(history=history, steps=probe.n_iter, final_loss=probe.loss, train_loss=probe.loss,
                       objective=probe.objective, grad_norm=probe.grad_norm, converged=probe.converged,
                       optimizer=probe.optimizer, probe_c=c, probe_c_cv=scores, seconds=time.perf_counter() - start,
                       n_train=len(t))
    return (lambda ids: probe.predict(_rows(feats, ids))), result


def _train(train_ids: np.ndarray, targets: np.ndarray, loss: str, loss_params: dict[str, float],
           features: Features | TextSource, test: pl.DataFrame, train: TrainParams, seed: int,
           weak_eval: tuple[np.ndarray, np.ndarray] | None = None, where: str = "run",
           ) -> tuple[Predictor, FitResult]:
    """Fit a model on `train_ids` rows against `targets`; the test curve is recorded along the way.

    probe: `_train_probe` on the cached features. finetune/lora: `w2s.models.load_classifier` on the
    pool's texts, trained by `w2s.train.fit`. Returns the trained model as a `Predictor` and the fit result.
    """
    if not isinstance(features, TextSource):
        return _train_probe(train_ids, targets, loss, loss_params, features, test, train, seed, weak_eval, where)
    import torch

    from w2s.losses import make_loss
    from w2s.models import load_classifier
    from w2s.textdata import tokenize_rows
    from w2s.train import fit, predict

    start = time.perf_counter()
    generator = torch.Generator().manual_seed(seed)
    torch.manual_seed(seed)
    source = features
    model, tokenizer = load_classifier(
        source.hub_id, mode=train.mode, generator=generator, lora_r=train.lora_r, lora_alpha=train.lora_alpha,
        lora_dropout=train.lora_dropout, gradient_checkpointing=train.gradient_checkpointing,
        revision=source.revision)

    def inputs(ids: np.ndarray) -> Data:
        rows = tokenize_rows(_texts(source.pool, ids), tokenizer, train.max_length, source.truncation)
        if rows.n_truncated and is_main_process():
            print(f"{source.hub_id}: {rows.n_truncated}/{len(rows)} texts truncated to {train.max_length} "
                  "tokens", file=sys.stderr)
        return rows

    eval_set = (inputs(test["id"].to_numpy()), torch.tensor(test["label"].to_numpy()))
    weak_set = None if weak_eval is None else (inputs(weak_eval[0]), torch.tensor(weak_eval[1]))
    result = fit(model, inputs(train_ids), torch.from_numpy(targets.astype(np.float32)),
                 make_loss(loss, loss_params), train, generator, eval_set, progress=True, weak_eval_set=weak_set)
    result = dataclasses.replace(result, seconds=time.perf_counter() - start)

    def predictor(ids: np.ndarray) -> np.ndarray:
        return predict(model, inputs(ids), train.batch_size * 4, precision=train.precision, progress=True)

    return predictor, result


def _predictions(model: Predictor, rows: pl.DataFrame, meta: dict[str, str | int]) -> pl.DataFrame:
    p1 = model(rows["id"].to_numpy())
    return rows.select("id", "part", "label").with_columns(
        pl.Series("p1", p1, dtype=pl.Float64), *[pl.lit(v).alias(k) for k, v in meta.items()])


def train_ground_truth(pool: pl.DataFrame, features: Features | TextSource | None, params: Params,
                       task: str, model: str, seed: int) -> RunResult:
    """Train `model` on train_weak's ground truth. It serves twice: as a supervisor, its soft labels on
    train_transfer are the weak labels; as a student, its test accuracy is the strong ceiling."""
    split = split_train(pool, seed=seed, weak_fraction=params.train.weak_fraction)
    rows = pool.join(split, on="id", how="left", suffix="_split").with_columns(
        pl.coalesce("part_split", "part").alias("part")).drop("part_split")
    weak = rows.filter(pl.col("part") == "train_weak")
    test = rows.filter(pl.col("part") == "test")
    n_transfer = int((rows["part"] == "train_transfer").sum())
    # issue 12 point 8: the ceiling trains on as many rows as a student (train_transfer less its weak
    # holdout), so ceiling and student differ in their labels only, not in rows or steps
    weak = weak.filter(keep_mask(weak.height, student_rows(n_transfer, params.train.weak_holdout), seed))
    source = training_source(params, model, pool, features, task)
    net, result = _train(weak["id"].to_numpy(), weak["label"].to_numpy(), "xent", {}, source, test,
                         params.train, seed, where=f"{task}/{model}/seed{seed}")
    labelled = rows.filter(pl.col("part").is_in(["train_transfer", "test"]))
    meta: dict[str, str | int] = {"kind": "gt", "task": task, "model": model, "seed": seed}
    return RunResult(_predictions(net, labelled, meta).sort("id"), result)


def student_rows(n_transfer: int, weak_holdout: float) -> int:
    """Rows a student trains on: train_transfer less its weak holdout (`holdout_mask`)."""
    return n_transfer - int(holdout_mask(n_transfer, weak_holdout, 0).sum())


def keep_mask(n: int, k: int, seed: int) -> pl.Series:
    """Boolean mask over n rows keeping min(k, n) of them, chosen by a permutation seeded with `seed`
    (all of them when k >= n)."""
    mask = np.zeros(n, dtype=bool)
    mask[np.random.default_rng(seed).permutation(n)[: min(k, n)]] = True
    return pl.Series("keep", mask)


def holdout_mask(n: int, fraction: float, seed: int) -> pl.Series:
    """Boolean mask over n rows marking round(fraction * n) of them (at least 1 when fraction > 0 and
    n > 1, never all), chosen by a permutation seeded with `seed`."""
    k = 0 if fraction <= 0 or n < 2 else min(n - 1, max(1, round(fraction * n)))
    mask = np.zeros(n, dtype=bool)
    mask[np.random.default_rng(seed).permutation(n)[:k]] = True
    return pl.Series("held", mask)


def train_weak_to_strong(weak_predictions: pl.DataFrame, features: Features | TextSource | None,
                         params: Params, task: str, pair: Pair, method: str, seed: int,
                         label_transfer: bool = False, pool: pl.DataFrame | None = None) -> RunResult:
    """Train the strong model on train_transfer with the weak model's soft labels (never the ground
    truth, which stays in the table only to score the test rows). `label_transfer` also predicts the
    train_transfer rows: the student's own soft labels, for the next model of a bootstrapping chain."""
    where = f"{task}/{pair.weak}/seed{seed}: the supervisor's predictions.parquet"
    if method not in params.methods or method not in params.losses:
        raise InputError(f"method {method!r} is not in params.yaml methods {params.methods}")
    missing = [c for c in ("id", "part", "label", "p1") if c not in weak_predictions.columns]
    if missing:
        raise InputError(f"{where} lacks column {missing[0]!r} (has: {', '.join(weak_predictions.columns)})")
    transfer = weak_predictions.filter(pl.col("part") == "train_transfer")
    test = weak_predictions.filter(pl.col("part") == "test")
    if transfer.is_empty():
        raise InputError(f"{where} has no train_transfer rows")
    # Weak labels are probabilities: a NaN or a value outside [0, 1] means a corrupted supervisor run,
    # and training on it would silently produce garbage (or NaN losses), so refuse it here.
    bad = transfer.filter(~pl.col("p1").is_between(0.0, 1.0) | pl.col("p1").is_null() | pl.col("p1").is_nan())
    if not bad.is_empty():
        raise InputError(f"{where}: column p1 has {bad.height} weak labels that are NaN, null or outside [0, 1] "
                         f"(first: {bad['p1'][0]} at id {bad['id'][0]})")
    source = training_source(params, pair.strong, pool, features, task)  # finetune/lora: the pool's texts
    # train.weak_holdout: a seeded share of train_transfer the student never trains on; its weak labels
    # are scored along training (early stopping without ground truth, `w2s.overfitting`).
    held = holdout_mask(transfer.height, params.train.weak_holdout, seed)
    fit_rows, held_rows = transfer.filter(~held), transfer.filter(held)
    weak_eval = None if held_rows.is_empty() else (held_rows["id"].to_numpy(), held_rows["p1"].to_numpy())
    # the student sees only fit_rows' weak labels (p1): in probe mode its C is cross-validated on them
    net, result = _train(fit_rows["id"].to_numpy(), fit_rows["p1"].to_numpy(), method, params.losses[method],
                         source, test.select("id", "label"), params.train, seed, weak_eval,
                         where=f"{task}/{pair.name}/{method}/seed{seed}")
    meta: dict[str, str | int] = {"kind": "w2s", "task": task, "weak": pair.weak, "strong": pair.strong,
                                  "method": method, "seed": seed}
    rows = pl.concat([transfer, test], how="diagonal") if label_transfer else test
    return RunResult(_predictions(net, rows, meta).sort("id"), result)
