"""Concept saliency (Burns et al. 2023, §5.2.2, Fig. 11): is the task already linearly "there" in the
strong model, and does training on weak labels make it more or less so?

Five conditions, all on the same strong model, the same training rows (a seeded sample of
train_transfer) and the same test rows, scored by test accuracy:

    probe_weak               logistic regression on the frozen activations, fit to the weak labels
    probe_gt                 logistic regression on the frozen activations, fit to the ground truth
    finetune_weak            the whole model finetuned on the weak labels
    finetune_weak_probe_gt   logistic regression on the activations of the weak-finetuned model, fit to
                             the ground truth (does weak finetuning make the concept more linear?)
    finetune_gt              the whole model finetuned on the ground truth (the ceiling)

The paper finds probe_weak < finetune_weak and probe_gt < finetune_weak_probe_gt ≈ finetune_gt: weak
finetuning improves the linear saliency of the desired concept. Probes use scikit-learn on stored
activations (`embed` stage features for the frozen model; `w2s.train.activations` for the finetuned
one). "Weak labels" are the supervisor's soft labels (its gt run's p1 on train_transfer): the probe
fits them as soft targets, by the identity that logistic regression's cross-entropy against p equals a
weighted fit of the row twice, labelled 1 with weight p and 0 with weight 1 − p; finetuning uses the
`xent` loss on them, as `train_w2s` does.

Tidy table (`data/saliency/<task>.parquet`, concatenated in `data/saliency_summary/saliency.parquet`),
one row per condition, columns (stable):

    task, model, weak, seed          the strong model key, the supervisor's key, the sampling/training seed
    condition                        one of CONDITIONS
    metric, value                    "accuracy", test accuracy in [0, 1]
    n_train, n_test                  rows used
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
import torch

from w2s.config import Params, SaliencyParams, TrainParams
from w2s.errors import InputError

CONDITIONS = ("probe_weak", "probe_gt", "finetune_weak", "finetune_weak_probe_gt", "finetune_gt")
SCHEMA = {"task": pl.Utf8, "model": pl.Utf8, "weak": pl.Utf8, "seed": pl.Int64, "condition": pl.Utf8,
          "metric": pl.Utf8, "value": pl.Float64, "n_train": pl.Int64, "n_test": pl.Int64}
#: (generator) -> (a w2s.models.SequenceClassifier, its tokenizer); fresh weights on every call.
ModelFactory = Callable[[torch.Generator], tuple[torch.nn.Module, Any]]


@dataclass(frozen=True)
class SaliencyData:
    """The rows every condition shares: texts, weak soft labels, ground truth, frozen features."""

    train_texts: list[str]
    train_weak: np.ndarray  # (N,) float64 in [0, 1]: the supervisor's p(y=1)
    train_labels: np.ndarray  # (N,) int64 ground truth
    train_features: np.ndarray  # (N, D) float32 frozen activations of the strong model
    test_texts: list[str]
    test_labels: np.ndarray  # (M,)
    test_features: np.ndarray  # (M, D)


def select_rows(pool: pl.DataFrame, weak_predictions: pl.DataFrame, features: tuple[np.ndarray, np.ndarray],
                n_train: int, n_test: int, seed: int) -> SaliencyData:
    """A seeded sample of n_train train_transfer rows (those the supervisor labelled) and n_test test
    rows (all of them when fewer), with their texts from the pool and features by pool id."""
    rng = np.random.default_rng(seed)

    def sample(part: str, n: int) -> pl.DataFrame:
        rows = weak_predictions.filter(pl.col("part") == part).sort("id")
        if rows.is_empty():
            raise InputError(f"saliency: the supervisor's predictions have no {part} rows")
        take = np.sort(rng.permutation(rows.height)[: min(n, rows.height)])
        return rows[take]

    train, test = sample("train_transfer", n_train), sample("test", n_test)
    if len(set(train["label"].to_list())) < 2:
        raise InputError(f"saliency: the {train.height} sampled training rows have one class only (raise n_train)")
    from w2s.pipeline import id_positions

    pool_texts = pool["text"].to_list()

    def texts(frame: pl.DataFrame) -> list[str]:
        return [pool_texts[k] for k in id_positions(pool["id"].to_numpy(), frame["id"], "saliency: the pool lacks")]

    def feats(frame: pl.DataFrame) -> np.ndarray:
        return features[1][id_positions(features[0], frame["id"], "saliency: the features lack")]

    return SaliencyData(
        train_texts=texts(train), train_weak=train["p1"].to_numpy().astype(np.float64),
        train_labels=train["label"].to_numpy().astype(np.int64), train_features=feats(train),
        test_texts=texts(test), test_labels=test["label"].to_numpy().astype(np.int64), test_features=feats(test))


def soft_logistic_regression(x: np.ndarray, p: np.ndarray, c: float = 1.0, seed: int = 0) -> Any:
    """Standardised L2 logistic regression fit to soft targets p (N,) in [0, 1] on x (N, D).

    Each row appears twice, as class 1 with weight p and class 0 with weight 1 − p: the weighted log-loss
    is then exactly the cross-entropy against p. Hard 0/1 targets reduce to the ordinary fit. `c`:
    inverse regularisation strength (scikit-learn's C)."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    p = np.asarray(p, dtype=np.float64)
    if p.shape != (len(x),) or not np.all((p >= 0) & (p <= 1)):
        raise InputError(f"saliency probe: targets must be (N,) = ({len(x)},) values in [0, 1]")
    xx = np.concatenate([x, x])
    yy = np.concatenate([np.ones(len(x), dtype=np.int64), np.zeros(len(x), dtype=np.int64)])
    weights = np.concatenate([p, 1.0 - p])
    keep = weights > 0
    if len(np.unique(yy[keep])) < 2:
        raise InputError("saliency probe: the targets hold one class only")
    model = make_pipeline(StandardScaler(), LogisticRegression(C=c, max_iter=2000, random_state=seed))
    model.fit(xx[keep], yy[keep], logisticregression__sample_weight=weights[keep])
    return model


def probe_accuracy(train_x: np.ndarray, targets: np.ndarray, test_x: np.ndarray, test_labels: np.ndarray,
                   c: float = 1.0, seed: int = 0) -> float:
    """Test accuracy of `soft_logistic_regression(train_x, targets)`: fraction where p > 0.5 equals the label."""
    from w2s.metrics import accuracy

    model = soft_logistic_regression(train_x, targets, c, seed)
    return accuracy(model.predict_proba(test_x)[:, 1], test_labels)


def finetune(make_model: ModelFactory, texts: list[str], targets: np.ndarray, params: TrainParams,
             seed: int) -> tuple[torch.nn.Module, Any]:
    """A fresh model from `make_model`, finetuned with `xent` on (texts, soft targets) under `params`."""
    from w2s.losses import make_loss
    from w2s.textdata import tokenize_rows
    from w2s.train import fit

    generator = torch.Generator().manual_seed(seed)
    torch.manual_seed(seed)
    model, tokenizer = make_model(generator)
    rows = tokenize_rows(texts, tokenizer, params.max_length)
    fit(model, rows, torch.tensor(targets, dtype=torch.float32), make_loss("xent", {}), params, generator,
        progress=True)
    return model, tokenizer


def run_conditions(data: SaliencyData, make_model: ModelFactory, params: TrainParams, seed: int,
                   c: float = 1.0) -> dict[str, float]:
    """Test accuracy of each of the five CONDITIONS (see the module docstring), in that order."""
    from w2s.metrics import accuracy
    from w2s.textdata import tokenize_rows
    from w2s.train import activations, predict

    out = {"probe_weak": probe_accuracy(data.train_features, data.train_weak, data.test_features,
                                        data.test_labels, c, seed),
           "probe_gt": probe_accuracy(data.train_features, data.train_labels, data.test_features,
                                      data.test_labels, c, seed)}
    weak_model, tokenizer = finetune(make_model, data.train_texts, data.train_weak, params, seed)
    test_rows = tokenize_rows(data.test_texts, tokenizer, params.max_length)
    batch = params.batch_size * 4
    out["finetune_weak"] = accuracy(predict(weak_model, test_rows, batch, precision=params.precision),
                                    data.test_labels)
    train_acts = activations(weak_model, tokenize_rows(data.train_texts, tokenizer, params.max_length),
                             batch_size=batch, precision=params.precision)
    test_acts = activations(weak_model, test_rows, batch_size=batch, precision=params.precision)
    out["finetune_weak_probe_gt"] = probe_accuracy(train_acts, data.train_labels, test_acts, data.test_labels, c,
                                                   seed)
    del weak_model
    gt_model, _ = finetune(make_model, data.train_texts, data.train_labels.astype(np.float64), params, seed)
    out["finetune_gt"] = accuracy(predict(gt_model, test_rows, batch, precision=params.precision), data.test_labels)
    return {k: out[k] for k in CONDITIONS}


def saliency_table(accuracies: dict[str, float], *, task: str, model: str, weak: str, seed: int, n_train: int,
                   n_test: int) -> pl.DataFrame:
    """The tidy rows of one task (module docstring), conditions in CONDITIONS order."""
    unknown = sorted(set(accuracies) - set(CONDITIONS))
    if unknown:
        raise InputError(f"saliency: unknown condition {unknown[0]!r}")
    rows = [{"task": task, "model": model, "weak": weak, "seed": seed, "condition": k, "metric": "accuracy",
             "value": accuracies[k], "n_train": n_train, "n_test": n_test} for k in CONDITIONS if k in accuracies]
    return pl.DataFrame(rows, schema=SCHEMA)


def saliency_metrics(table: pl.DataFrame) -> dict[str, float]:
    """Flat DVC metrics: `<task>/<condition>/accuracy`."""
    rows = table.iter_rows(named=True)
    return dict(sorted((f"{r['task']}/{r['condition']}/{r['metric']}", r["value"]) for r in rows))


def finetune_params(s: SaliencyParams) -> TrainParams:
    """The trainer settings of the saliency finetuning runs, from the `saliency` section."""
    return TrainParams(mode="finetune", epochs=s.epochs, batch_size=s.batch_size, lr=s.lr, weight_decay=0.01,
                       schedule="cosine", warmup_frac=s.warmup_frac, max_length=s.max_length, device=s.device)


def saliency_task(pool: pl.DataFrame, features_dir: str | Path, gt_runs_dir: str | Path, params: Params,
                  task: str) -> tuple[pl.DataFrame, str | None]:
    """Everything the `saliency` stage computes for one task: (the tidy rows of the five conditions,
    None), or (an empty table, the reason) when `saliency` names models or a seed this study lacks.

    Reads `<features_dir>/<model>.safetensors` (the strong model's frozen features) and the predictions
    of `<gt_runs_dir>/<weak>/seed<seed>` (the supervisor's soft labels on train_transfer)."""
    from w2s.io import read_features, read_parquet
    from w2s.models import load_classifier
    from w2s.runs import PREDICTIONS

    s = params.saliency
    strong, weak, seed, skip = s.resolve(params.ladder, params.seeds)
    if skip:
        return pl.DataFrame(schema=SCHEMA), skip
    hub_id = params.hub_id(strong)
    weak_predictions = read_parquet(Path(gt_runs_dir) / weak / f"seed{seed}" / PREDICTIONS)
    features = read_features(Path(features_dir) / f"{strong}.safetensors")
    data = select_rows(pool, weak_predictions, features, s.n_train, s.n_test, seed)

    def make_model(generator: torch.Generator) -> tuple[torch.nn.Module, Any]:
        return load_classifier(hub_id, mode="finetune", generator=generator)

    accuracies = run_conditions(data, make_model, finetune_params(s), seed, s.probe_c)
    table = saliency_table(accuracies, task=task, model=strong, weak=weak, seed=seed,
                           n_train=len(data.train_texts), n_test=len(data.test_texts))
    return table, None
