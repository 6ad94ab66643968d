"""Student–supervisor agreement: does the strong student imitate its weak supervisor's mistakes?

Burns et al. (2023, §5.1.3, Fig. 8) measure, on test inputs, how often the weak-to-strong student
predicts what its supervisor predicts, overall and separately where the supervisor is right and where
it is wrong. A student that merely imitates agrees ~100% everywhere; a student that generalizes
beyond its supervisor agrees where the supervisor is right and disagrees where it is wrong. The paper
found agreement with the supervisor's *mistakes* falls as the student grows ("inverse scaling"); this
module's tables let the report plot agreement against the student's parameter count to show (or
refute) that on our ladder.

Everything here is computed from stored predictions (`predictions.parquet` of the `train_gt` and
`train_w2s` runs); nothing is retrained. Hard predictions are p1 > 0.5, as in `w2s.metrics`.

Tidy table (`data/agreement/agreement.parquet`), one row per weak-to-strong run and metric. Columns
(stable, the report and `dvc plots` read them):

    task, weak, strong, method, seed     the run's keys (str, str, str, str, int)
    weak_params, strong_params           parameter counts of the supervisor and student backbones (int)
    metric                               "agreement" | "agreement_supervisor_correct" |
                                         "agreement_supervisor_wrong"
    value                                fraction of the subset's test rows where student == supervisor;
                                         null when the subset is empty (e.g. a supervisor never wrong)
    n                                    test rows in the subset
"""

from __future__ import annotations

import polars as pl

from w2s.analysis import markdown
from w2s.errors import InputError
from w2s.metrics import agreement

RUN = ["task", "weak", "strong", "method", "seed"]
#: metric name -> (Agreement attribute, count attribute or None for all rows)
METRICS = {
    "agreement": ("overall", None),
    "agreement_supervisor_correct": ("supervisor_correct", "n_correct"),
    "agreement_supervisor_wrong": ("supervisor_wrong", "n_wrong"),
}
SCHEMA = {"task": pl.Utf8, "weak": pl.Utf8, "strong": pl.Utf8, "method": pl.Utf8, "seed": pl.Int64,
          "metric": pl.Utf8, "value": pl.Float64, "n": pl.Int64}


def agreement_table(preds: pl.DataFrame) -> pl.DataFrame:
    """Long table of agreement per w2s run (see the module docstring; without the size columns).

    `preds`: the stored predictions of gt and w2s runs in one table (`w2s.analysis.load_predictions`).
    Each w2s run is paired with the gt run of its supervisor (same task, model = weak, same seed) on
    the test rows they share by `id`. InputError when a student's supervisor run is missing or the
    two disagree on a test row's label (they would then not be the same split)."""
    absent = [c for c in ("kind", "model", *RUN) if c not in preds.columns]
    test = preds.with_columns(*[pl.lit(None, dtype=pl.Utf8).alias(c) for c in absent]).filter(pl.col("part") == "test")
    supervisors = (test.filter(pl.col("kind") == "gt")
                   .select("task", pl.col("model").alias("weak"), "seed", "id",
                           pl.col("label").alias("sup_label"), pl.col("p1").alias("sup_p1")))
    rows: list[dict[str, object]] = []
    students = test.filter(pl.col("kind") == "w2s")
    for keys, group in students.group_by(RUN, maintain_order=True):
        key = dict(zip(RUN, keys, strict=True))
        joined = group.join(supervisors, on=["task", "weak", "seed", "id"], how="inner")
        if joined.height != group.height:
            raise InputError(f"agreement: {key['task']}/{key['weak']}-to-{key['strong']}/{key['method']}/seed"
                             f"{key['seed']}: the supervisor's gt run lacks {group.height - joined.height} of its "
                             f"{group.height} test rows (rerun `dvc repro`)")
        if (joined["label"] != joined["sup_label"]).any():
            raise InputError(f"agreement: {key['task']}/seed{key['seed']}: student and supervisor disagree on "
                             "test labels (predictions from different splits?)")
        result = agreement(joined["p1"].to_numpy(), joined["sup_p1"].to_numpy(), joined["label"].to_numpy())
        for metric, (attr, count) in METRICS.items():
            n = joined.height if count is None else getattr(result, count)
            rows.append({**key, "metric": metric, "value": getattr(result, attr), "n": n})
    return pl.DataFrame(rows, schema=SCHEMA).sort(*RUN, "metric")


def with_sizes(table: pl.DataFrame, n_params: dict[str, int]) -> pl.DataFrame:
    """Add `weak_params` and `strong_params` (parameter counts by model key) after the run keys."""
    missing = sorted({*table["weak"].to_list(), *table["strong"].to_list()} - set(n_params))
    if missing:
        raise InputError(f"agreement: no parameter count for model {missing[0]!r}")
    return table.with_columns(
        pl.col("weak").replace_strict(n_params, return_dtype=pl.Int64).alias("weak_params"),
        pl.col("strong").replace_strict(n_params, return_dtype=pl.Int64).alias("strong_params"),
    ).select(*RUN, "weak_params", "strong_params", "metric", "value", "n")


def agreement_metrics(table: pl.DataFrame) -> dict[str, float | None]:
    """Flat DVC metrics, mean over seeds: `<task>/<weak>-to-<strong>/<method>/<metric>`, plus
    `n_params/<model>` so `dvc metrics show` lists the sizes the report plots against."""
    out: dict[str, float | None] = {}
    means = table.group_by("task", "weak", "strong", "method", "metric").agg(pl.col("value").mean())
    for r in means.iter_rows(named=True):
        out[f"{r['task']}/{r['weak']}-to-{r['strong']}/{r['method']}/{r['metric']}"] = r["value"]
    if "strong_params" in table.columns:
        for role in ("weak", "strong"):
            for model, size in table.select(role, f"{role}_params").unique().iter_rows():
                out[f"n_params/{model}"] = float(size)
    return dict(sorted(out.items()))


def count_parameters(hub_id: str, revision: str | None = None) -> int:
    """Parameters of the backbone `w2s.models.load_backbone` loads for `hub_id` (AutoModel), counted
    from its config alone: the model is built on torch's meta device, so no weights are read or
    allocated (milliseconds even for billion-parameter models)."""
    import torch
    from transformers import AutoConfig, AutoModel

    try:
        config = AutoConfig.from_pretrained(hub_id, revision=revision)
    except (OSError, ValueError) as err:
        raise InputError(f"{hub_id}: cannot read its config ({str(err).splitlines()[0]})") from None
    with torch.device("meta"):
        model = AutoModel.from_config(config)
    return int(sum(p.numel() for p in model.parameters()))


def markdown_table(table: pl.DataFrame) -> str:
    """Agreement per task x pair x method, mean over seeds, as a Markdown table."""
    wide = (table.group_by("task", "weak", "strong", "method", "strong_params", "metric")
            .agg(pl.col("value").mean())
            .pivot(on="metric", index=["task", "weak", "strong", "method", "strong_params"], values="value")
            .sort("task", "strong_params", "weak", "method"))

    def fmt(v: float | None) -> str:
        return "n/a" if v is None else f"{v:.3f}"

    rows = [{"task": r["task"], "weak -> strong": f"{r['weak']} -> {r['strong']}",
             "student params": f"{r['strong_params'] / 1e6:.1f}M", "method": r["method"],
             "agreement": fmt(r.get("agreement")), "supervisor correct": fmt(r.get("agreement_supervisor_correct")),
             "supervisor wrong": fmt(r.get("agreement_supervisor_wrong"))} for r in wide.iter_rows(named=True)]
    columns = ["task", "weak -> strong", "student params", "method", "agreement", "supervisor correct",
               "supervisor wrong"]
    return markdown(pl.DataFrame(rows, schema=dict.fromkeys(columns, pl.Utf8)))
