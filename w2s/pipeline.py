"""The one library function behind each DVC stage.

    prepare@task              -> prepare_task          pool of rows (train + test), balanced, deduplicated
    embed@task-model          -> embed_pool            frozen features of every pool row
    train_gt@task-model-seed  -> train_ground_truth    ground-truth run: weak labels + test predictions
    train_w2s@task-pair-...   -> train_weak_to_strong  the student on the supervisor's soft labels
    analyze                   -> w2s.analysis.analyze  accuracy, AUROC, PGR with intervals

Stage scripts only parse arguments, load params and write what these return.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import polars as pl
import torch

from w2s.config import Pair, Params, TrainParams
from w2s.errors import InputError
from w2s.losses import make_loss
from w2s.metrics import accuracy, auroc
from w2s.splits import build_pool, split_train
from w2s.tasks import FileTask, load_task
from w2s.train import FitResult, LinearProbe, fit, predict


def prepare_task(params: Params, task: str) -> pl.DataFrame:
    """The task's pool: columns id, text, label, part ("train" | "test")."""
    file_tasks = {name: FileTask(**vars(ft)) for name, ft in params.data.file_tasks.items()}
    splits = load_task(task, source=params.data.source, local_dir=params.data.local_dir,
                       seed=params.prepare.seed, file_tasks=file_tasks)
    return build_pool(splits, n_train=params.prepare.n_train, n_test=params.prepare.n_test,
                      seed=params.prepare.seed, task=task)


@dataclass(frozen=True)
class Embedding:
    ids: np.ndarray  # (N,) int64, pool ids
    features: np.ndarray  # (N, D) float32
    n_truncated: int
    pooling: str


def embed_pool(pool: pl.DataFrame, hub_id: str, params: Params, progress: bool = True) -> Embedding:
    """Frozen features of every pool row, so no seed or method ever recomputes them."""
    from w2s.features import embed_texts
    from w2s.models import load_backbone, resolve_pooling

    e = params.embed
    model, tokenizer = load_backbone(hub_id, device=e.device)
    pooling = resolve_pooling(model.config, e.pooling)
    result = embed_texts(pool["text"].to_list(), model, tokenizer, pooling=pooling, batch_size=e.batch_size,
                         max_length=e.max_length, device=e.device, progress=progress, desc=f"embed {hub_id}")
    return Embedding(pool["id"].to_numpy(), result.features, result.n_truncated, pooling)


@dataclass(frozen=True)
class RunResult:
    """What a training run leaves: predictions (id, part, label, p1 + metadata) and its curve."""

    predictions: pl.DataFrame
    fit: FitResult

    def summary(self) -> dict[str, float | int]:
        test = self.predictions.filter(pl.col("part") == "test")
        p1, labels = test["p1"].to_numpy(), test["label"].to_numpy()
        curve = [pt.accuracy for pt in self.fit.history]
        return {"accuracy": accuracy(p1, labels), "auroc": auroc(p1, labels), "steps": self.fit.steps,
                "best_accuracy": max(curve) if curve else float("nan"), "final_loss": self.fit.final_loss}

    def history(self) -> list[dict[str, float]]:
        return [{"step": pt.step, "epoch": pt.epoch, "accuracy": pt.accuracy} for pt in self.fit.history]


def _rows(features: tuple[np.ndarray, np.ndarray], ids: np.ndarray) -> torch.Tensor:
    """Feature rows (len(ids), D) for pool ids, in the order of `ids`."""
    feat_ids, feats = features
    pos = {int(i): k for k, i in enumerate(feat_ids)}
    missing = [int(i) for i in ids if int(i) not in pos]
    if missing:
        raise InputError(f"features lack {len(missing)} pool ids (first: {missing[0]}): rerun `dvc repro`")
    return torch.from_numpy(feats[[pos[int(i)] for i in ids]])


def _train(train_ids: np.ndarray, targets: np.ndarray, loss: str, loss_params: dict[str, float],
           features: tuple[np.ndarray, np.ndarray], test: pl.DataFrame, train: TrainParams,
           seed: int) -> tuple[LinearProbe, FitResult]:
    """Fit a probe on `train_ids` rows against `targets`; the test curve is recorded along the way."""
    generator = torch.Generator().manual_seed(seed)
    torch.manual_seed(seed)
    x = _rows(features, train_ids)
    model = LinearProbe(x, generator)
    eval_set = (_rows(features, test["id"].to_numpy()), torch.from_numpy(test["label"].to_numpy()))
    result = fit(model, x, torch.from_numpy(targets.astype(np.float32)), make_loss(loss, loss_params),
                 train, generator, eval_set)
    return model, result


def _predictions(model: LinearProbe, rows: pl.DataFrame, features: tuple[np.ndarray, np.ndarray],
                 meta: dict[str, str | int]) -> pl.DataFrame:
    p1 = predict(model, _rows(features, rows["id"].to_numpy()))
    return rows.select("id", "part", "label").with_columns(
        pl.Series("p1", p1, dtype=pl.Float64), *[pl.lit(v).alias(k) for k, v in meta.items()])


def train_ground_truth(pool: pl.DataFrame, features: tuple[np.ndarray, np.ndarray], params: Params,
                       task: str, model: str, seed: int) -> RunResult:
    """Train `model` on train_weak's ground truth. It serves twice: as a supervisor, its soft labels on
    train_transfer are the weak labels; as a student, its test accuracy is the strong ceiling."""
    split = split_train(pool, seed=seed, weak_fraction=params.train.weak_fraction)
    rows = pool.join(split, on="id", how="left", suffix="_split").with_columns(
        pl.coalesce("part_split", "part").alias("part")).drop("part_split")
    weak = rows.filter(pl.col("part") == "train_weak")
    test = rows.filter(pl.col("part") == "test")
    probe, result = _train(weak["id"].to_numpy(), weak["label"].to_numpy(), "xent", {}, features, test,
                           params.train, seed)
    labelled = rows.filter(pl.col("part").is_in(["train_transfer", "test"]))
    meta: dict[str, str | int] = {"kind": "gt", "task": task, "model": model, "seed": seed}
    return RunResult(_predictions(probe, labelled, features, meta).sort("id"), result)


def train_weak_to_strong(weak_predictions: pl.DataFrame, features: tuple[np.ndarray, np.ndarray],
                         params: Params, task: str, pair: Pair, method: str, seed: int) -> RunResult:
    """Train the strong model on train_transfer with the weak model's soft labels (never the ground
    truth, which stays in the table only to score the test rows)."""
    transfer = weak_predictions.filter(pl.col("part") == "train_transfer")
    test = weak_predictions.filter(pl.col("part") == "test")
    if transfer.is_empty():
        raise InputError(f"{task}/{pair.weak}: the supervisor's predictions have no train_transfer rows")
    probe, result = _train(transfer["id"].to_numpy(), transfer["p1"].to_numpy(), method,
                           params.losses[method], features, test, params.train, seed)
    meta: dict[str, str | int] = {"kind": "w2s", "task": task, "weak": pair.weak, "strong": pair.strong,
                                  "method": method, "seed": seed}
    return RunResult(_predictions(probe, test, features, meta).sort("id"), result)
