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
finetuning improves the linear saliency of the desired concept. Every condition reads the texts through
the same tokenizer at the same `saliency.max_length`: the frozen activations are the pooled hidden states
of the untrained classifier (`w2s.train.activations`, the head's input, the same pooling as `embed`),
computed here rather than taken from the `embed` stage (whose `embed.max_length` may differ). Probes
use scikit-learn. "Weak labels" are the supervisor's soft labels (its gt run's p1 on train_transfer): the
probe fits them as soft targets, by the identity that logistic regression's cross-entropy against p
equals a weighted fit of the row twice, labelled 1 with weight p and 0 with weight 1 − p; finetuning
uses the `xent` loss on them, as `train_w2s` does.

**Seeds and intervals.** The conditions run once per seed of `saliency.seeds` (the supervisor run of
that seed, a train_transfer sample and the finetuning seed), always on the same test rows, so a
condition's outcomes form an (S seeds, N test rows) array of correct / wrong; `summarize` turns it into
the mean accuracy with `w2s.metrics.accuracy_interval`, an interval over seeds and test rows.

Per-task table (`data/saliency/<task>.parquet`), one row per (seed, condition, test row), columns:

    task, model, weak, seed          the strong model key, the supervisor's key, the seed of the run
    condition                        one of CONDITIONS
    id, correct                      the test row's pool id, whether the condition predicted its label
    n_train, n_test                  rows used

Summary table (`data/saliency_summary/saliency.parquet`), one row per (task, condition), columns:

    task, model, weak, condition     as above
    metric, value                    "accuracy", mean test accuracy over seeds and test rows
    low, high                        its interval (`analyze.ci_level`) over seeds and test rows
    n_seeds, n_train, n_test         seeds, training rows per seed, test rows
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import polars as pl

from w2s import runtime
from w2s.config import Params, SaliencyParams, TrainParams
from w2s.errors import InputError

if TYPE_CHECKING:  # types only: the finetuning functions import torch, the summary stage never does
    import torch

CONDITIONS = ("probe_weak", "probe_gt", "finetune_weak", "finetune_weak_probe_gt", "finetune_gt")
ROWS_SCHEMA = {"task": pl.Utf8, "model": pl.Utf8, "weak": pl.Utf8, "seed": pl.Int64, "condition": pl.Utf8,
               "id": pl.Int64, "correct": pl.Boolean, "n_train": pl.Int64, "n_test": pl.Int64}
SUMMARY_SCHEMA = {"task": pl.Utf8, "model": pl.Utf8, "weak": pl.Utf8, "condition": pl.Utf8, "metric": pl.Utf8,
                  "value": pl.Float64, "low": pl.Float64, "high": pl.Float64, "n_seeds": pl.Int64,
                  "n_train": pl.Int64, "n_test": pl.Int64}
#: (generator) -> (a w2s.models.SequenceClassifier, its tokenizer); fresh weights on every call.
ModelFactory = Callable[["torch.Generator"], tuple["torch.nn.Module", Any]]


@dataclass(frozen=True)
class SaliencyData:
    """The rows every condition of one seed shares: texts, weak soft labels, ground truth."""

    train_texts: list[str]
    train_weak: np.ndarray  # (N,) float64 in [0, 1]: the supervisor's p(y=1)
    train_labels: np.ndarray  # (N,) int64 ground truth
    test_ids: np.ndarray  # (M,) int64 pool ids (the same for every seed)
    test_texts: list[str]
    test_labels: np.ndarray  # (M,)


def select_rows(pool: pl.DataFrame, weak_predictions: pl.DataFrame, n_train: int, n_test: int,
                seed: int) -> SaliencyData:
    """A sample of n_train train_transfer rows (those the supervisor labelled), seeded by `seed`, and of
    n_test test rows (all of them when fewer), seeded independently of `seed` so that every seed is
    scored on the same test rows; texts from the pool."""
    from w2s.pipeline import id_positions
    from w2s.tasks import stable_rng

    def sample(part: str, n: int, rng: np.random.Generator) -> pl.DataFrame:
        rows = weak_predictions.filter(pl.col("part") == part).sort("id")
        if rows.is_empty():
            raise InputError(f"saliency: the supervisor's predictions have no {part} rows")
        take = np.sort(rng.permutation(rows.height)[: min(n, rows.height)])
        return rows[take]

    train = sample("train_transfer", n_train, stable_rng(seed, "saliency", "train"))
    test = sample("test", n_test, stable_rng(0, "saliency", "test"))
    if len(set(train["label"].to_list())) < 2:
        raise InputError(f"saliency: the {train.height} sampled training rows have one class only (raise n_train)")
    pool_texts = pool["text"].to_list()

    def texts(frame: pl.DataFrame) -> list[str]:
        return [pool_texts[k] for k in id_positions(pool["id"].to_numpy(), frame["id"], "saliency: the pool lacks")]

    return SaliencyData(
        train_texts=texts(train), train_weak=train["p1"].to_numpy().astype(np.float64),
        train_labels=train["label"].to_numpy().astype(np.int64), test_ids=test["id"].to_numpy().astype(np.int64),
        test_texts=texts(test), test_labels=test["label"].to_numpy().astype(np.int64))


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


def correct(p1: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """Per row, whether (p1 > 0.5) equals the label: (N,) bool, the rows whose mean is `w2s.metrics.accuracy`."""
    return (np.asarray(p1) > 0.5) == np.asarray(labels).astype(bool)


def probe_correct(train_x: np.ndarray, targets: np.ndarray, test_x: np.ndarray, test_labels: np.ndarray,
                  c: float = 1.0, seed: int = 0) -> np.ndarray:
    """Per test row, whether `soft_logistic_regression(train_x, targets)` predicts its label: (M,) bool."""
    model = soft_logistic_regression(train_x, targets, c, seed)
    return correct(model.predict_proba(test_x)[:, 1], test_labels)


def finetune(make_model: ModelFactory, texts: list[str], targets: np.ndarray, params: TrainParams,
             seed: int) -> tuple[torch.nn.Module, Any]:
    """A fresh model from `make_model`, finetuned with `xent` on (texts, soft targets) under `params`."""
    import torch

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
                   c: float = 1.0) -> dict[str, np.ndarray]:
    """Per test row, whether each of the five CONDITIONS (module docstring) predicts its label: a (M,) bool
    array per condition, in CONDITIONS order. Every model reads the texts at `params.max_length` tokens."""
    import torch

    from w2s.textdata import tokenize_rows
    from w2s.train import activations, predict

    batch = params.batch_size * 4

    def acts(model: torch.nn.Module, tokenizer: Any) -> tuple[np.ndarray, np.ndarray]:
        """Pooled activations (the head's input) of the training and the test rows."""
        train_x, test_x = (activations(model, tokenize_rows(texts, tokenizer, params.max_length), batch_size=batch,
                                       precision=params.precision) for texts in (data.train_texts, data.test_texts))
        return train_x, test_x

    frozen, tokenizer = make_model(torch.Generator().manual_seed(seed))  # pretrained backbone, never trained
    frozen.to(runtime.device())
    train_x, test_x = acts(frozen, tokenizer)
    del frozen
    out = {"probe_weak": probe_correct(train_x, data.train_weak, test_x, data.test_labels, c, seed),
           "probe_gt": probe_correct(train_x, data.train_labels, test_x, data.test_labels, c, seed)}
    test_rows = tokenize_rows(data.test_texts, tokenizer, params.max_length)
    weak_model, _ = finetune(make_model, data.train_texts, data.train_weak, params, seed)
    out["finetune_weak"] = correct(predict(weak_model, test_rows, batch, precision=params.precision), data.test_labels)
    train_x, test_x = acts(weak_model, tokenizer)
    out["finetune_weak_probe_gt"] = probe_correct(train_x, data.train_labels, test_x, data.test_labels, c, seed)
    del weak_model
    gt_model, _ = finetune(make_model, data.train_texts, data.train_labels.astype(np.float64), params, seed)
    out["finetune_gt"] = correct(predict(gt_model, test_rows, batch, precision=params.precision), data.test_labels)
    return {k: out[k] for k in CONDITIONS}


def saliency_rows(outcomes: dict[str, np.ndarray], data: SaliencyData, *, task: str, model: str, weak: str,
                  seed: int) -> pl.DataFrame:
    """The per-test-row table (module docstring) of one seed, conditions in CONDITIONS order."""
    unknown = sorted(set(outcomes) - set(CONDITIONS))
    if unknown:
        raise InputError(f"saliency: unknown condition {unknown[0]!r}")
    n = len(data.test_ids)
    frames = [pl.DataFrame({"task": [task] * n, "model": [model] * n, "weak": [weak] * n, "seed": [seed] * n,
                            "condition": [k] * n, "id": data.test_ids, "correct": outcomes[k],
                            "n_train": [len(data.train_texts)] * n, "n_test": [n] * n}, schema=ROWS_SCHEMA)
              for k in CONDITIONS if k in outcomes]
    return pl.concat(frames) if frames else pl.DataFrame(schema=ROWS_SCHEMA)


def summarize(rows: pl.DataFrame, level: float = 0.95, n_resamples: int = 10_000) -> pl.DataFrame:
    """Per (task, model, weak, condition): mean test accuracy over seeds and test rows with its interval
    (`w2s.metrics.accuracy_interval` of the (seeds, test rows) array of correct predictions). Every seed
    must score the same test rows (InputError otherwise: the array would not be rectangular)."""
    from w2s.metrics import accuracy_interval

    keys = ["task", "model", "weak", "condition"]
    out = []
    for group_keys, group in rows.group_by(keys, maintain_order=True):
        wide = group.sort("seed", "id")
        seeds = wide["seed"].unique(maintain_order=True).to_list()
        ids = [wide.filter(pl.col("seed") == s)["id"].to_list() for s in seeds]
        if any(i != ids[0] for i in ids):
            raise InputError(f"saliency {'/'.join(map(str, group_keys))}: the seeds scored different test rows "
                             "(rerun the saliency stage)")
        interval = accuracy_interval(wide["correct"].to_numpy().reshape(len(seeds), len(ids[0])), level=level,
                                     n_resamples=n_resamples, seed=0)
        out.append({**dict(zip(keys, group_keys, strict=True)), "metric": "accuracy", "value": interval.mean,
                    "low": interval.low, "high": interval.high, "n_seeds": interval.n,
                    "n_train": wide["n_train"].min(), "n_test": len(ids[0])})
    order = {c: i for i, c in enumerate(CONDITIONS)}
    table = pl.DataFrame(out, schema=SUMMARY_SCHEMA)
    return table.sort(pl.col("task"), pl.col("condition").replace_strict(order, default=len(order)))


def saliency_metrics(table: pl.DataFrame) -> dict[str, float]:
    """Flat DVC metrics of the summary table: `<task>/<condition>/accuracy` and its `_low` / `_high`."""
    out: dict[str, float] = {}
    for r in table.iter_rows(named=True):
        name = f"{r['task']}/{r['condition']}/{r['metric']}"
        out.update({name: r["value"], f"{name}_low": r["low"], f"{name}_high": r["high"]})
    return dict(sorted(out.items()))


def finetune_params(s: SaliencyParams) -> TrainParams:
    """The trainer settings of the saliency finetuning runs, from the `saliency` section."""
    return TrainParams(mode="finetune", epochs=s.epochs, batch_size=s.batch_size, lr=s.lr, weight_decay=0.01,
                       schedule="cosine", warmup_frac=s.warmup_frac, max_length=s.max_length)


def saliency_cell(params: Params, seed: int) -> tuple[str, str, str | None]:
    """(strong key, weak key, why the cell of `seed` is skipped or None): the null defaults of
    `saliency.model` / `saliency.weak` filled from the ladder; a seed outside `saliency.seeds` (when set)
    is skipped. One cell per seed, so adding a seed computes only that seed's cell."""
    s = params.saliency
    strong, weak, _, skip = s.resolve(params.ladder, list(s.seeds) if s.seeds is not None else [seed])
    if skip is None and s.seeds is not None and seed not in s.seeds:
        skip = f"seed {seed} is not in saliency.seeds {s.seeds}"
    return strong, weak, skip


def saliency_reads(params: Params, seed: int, gt_runs: str | Path) -> dict[str, Path]:
    """The upstream outputs a `saliency` cell reads (hashed by `saliency_inputs`, `w2s/inputs.py`): `weak`,
    the supervisor's gt run at `seed`; nothing when the cell is skipped (`saliency_cell`)."""
    _, weak, skip = saliency_cell(params, seed)
    return {} if skip else {"weak": Path(gt_runs) / weak / f"seed{seed}"}


def saliency_task(pool: pl.DataFrame, gt_runs_dir: str | Path, params: Params,
                  task: str, seed: int) -> tuple[pl.DataFrame, str | None]:
    """Everything the `saliency` stage computes for one task and seed: (the per-test-row table of the five
    conditions, None), or (an empty table, the reason) when `saliency` names models this study lacks or
    the seed is not one of `saliency.seeds`.

    Reads the predictions of the supervisor's gt run (`w2s.inputs.saliency_reads`: `<gt_runs_dir>/<weak>/
    seed<seed>`, its soft labels on train_transfer); the strong model's frozen activations are computed here."""
    from w2s.io import read_parquet
    from w2s.models import load_classifier
    from w2s.runs import PREDICTIONS

    s = params.saliency
    strong, weak, skip = saliency_cell(params, seed)
    if skip:
        return pl.DataFrame(schema=ROWS_SCHEMA), skip
    spec = params.model_spec(strong)

    def make_model(generator: torch.Generator) -> tuple[torch.nn.Module, Any]:
        return load_classifier(spec.id, mode="finetune", generator=generator, revision=spec.revision)

    weak_predictions = read_parquet(saliency_reads(params, seed, gt_runs_dir)["weak"] / PREDICTIONS)
    data = select_rows(pool, weak_predictions, s.n_train, s.n_test, seed)
    outcomes = run_conditions(data, make_model, finetune_params(s), seed, s.probe_c)
    return saliency_rows(outcomes, data, task=task, model=strong, weak=weak, seed=seed), None
