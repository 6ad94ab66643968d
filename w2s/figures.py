"""The report's figures: Altair charts built only from the tidy analysis tables.

Every function takes the tables (`Tables`, by file stem: `runs`, `pgr_summary`, `agreement`, `curves`,
`overfitting`, `saliency`, `bootstrap`) and returns either an Altair chart or a `Note`: a short
Markdown message saying which table or column is missing and which stage writes it. A report therefore
renders on a partial pipeline (e.g. before the saliency stage ran) instead of crashing.

The figures follow Burns et al. (2023):

* `accuracy_vs_size` (their Fig. 3): test accuracy against student size; the black line is the
  ceiling (each model trained on ground truth), each coloured line one weak supervisor, starting at the
  supervisor's own accuracy and going through its weak-to-strong students.
* `pgr_by_method`: performance gap recovered, (w2s - weak) / (ceiling - weak), mean over seeds with the
  bootstrap interval of the `analyze` stage, per pair and method.
* `agreement_by_size` (their Fig. 8): how often the student predicts what its supervisor predicts,
  where the supervisor is right and where it is wrong, against student size (inverse scaling shows as
  agreement-with-mistakes falling as students grow).
* `saliency_conditions` (their Fig. 11): the five probe / training conditions on the strong model.
* `training_curves` (their Fig. 7): test accuracy along training, with the best and final points.
* `bootstrap_chain`: bootstrapping through intermediate models vs direct weak-to-strong supervision.

Colours: one fixed colour per method (`METHOD_COLORS`) and per reference role (`ROLE_COLORS`), the
same in every figure and report, so "logconf" is always the same orange.
"""

from __future__ import annotations

import html
import json
import os
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import altair as alt
import polars as pl

Tables = Mapping[str, pl.DataFrame]
Figure = alt.TopLevelMixin

CONTEXT_ENV = "W2S_REPORT_CONTEXT"
"""Environment variable holding the report context as JSON: {"tables": {stem: path}, "ladder": [...],
"tasks": [...]}. The `report` stage sets it, so the .qmd files know where the tables are without
hard-coding paths (paths live in dvc.yaml only)."""

# Tableau-10 hues: readable on white, distinguishable in print, stable across figures.
METHOD_COLORS: dict[str, str] = {
    "xent": "#4c78a8",
    "logconf": "#f58518",
    "product": "#e45756",
    "kl": "#72b7b2",
    "entropy": "#b279a2",
    "bootstrap": "#54a24b",
}
"""One colour per loss of `w2s.losses.LOSSES` (Tableau-10 hues): the same in every figure and report."""
ROLE_COLORS: dict[str, str] = {"ceiling": "#222222", "weak": "#9d9d9d", "direct": "#4c78a8", "chain": "#54a24b"}
_SPARE = ["#eeca3b", "#ff9da6", "#9d755d", "#bab0ac"]

SUBSET_LABELS = {
    "agreement": "all test inputs",
    "agreement_supervisor_correct": "supervisor correct",
    "agreement_supervisor_wrong": "supervisor wrong",
}

WIDTH = 260
HEIGHT = 200


@dataclass(frozen=True)
class Note:
    """A Markdown message in place of a figure (Jupyter and Quarto show `_repr_markdown_` as text)."""

    text: str

    def _repr_markdown_(self) -> str:
        # the text can quote names from a table (columns, tasks): escaped, so none becomes HTML in a report
        return f"> **Figure not available.** {html.escape(self.text)}\n"

    def __str__(self) -> str:
        return self.text


def method_scale(methods: Iterable[str]) -> alt.Scale:
    """The fixed method -> colour scale: known methods in `METHOD_COLORS` order with their colours, then
    unknown ones (sorted) with spare colours."""
    present = set(methods)
    names = [m for m in METHOD_COLORS if m in present] + sorted(present - set(METHOD_COLORS))
    spare = iter(_SPARE)
    colours = [METHOD_COLORS[m] if m in METHOD_COLORS else next(spare, "#777777") for m in names]
    return alt.Scale(domain=names, range=colours)


# ------------------------------------------------------------------------------------------- rendering


def use_chart_renderer() -> None:
    """Make every Altair chart a cell shows carry its Vega-Lite spec
    (`application/vnd.vegalite.v5+json`), an HTML view (vega-embed, the bundle comes from the page's
    header: no CDN) and a PNG (vl-convert), plus a one-line text form: Quarto's HTML picks the view,
    its PDF the PNG, the offline renderer the spec (it makes the PNG itself: one vl-convert runtime for all
    documents instead of one per kernel). Lifts Altair's row limit."""
    import base64

    from w2s.report import chart_png

    alt.data_transformers.disable_max_rows()
    counter = iter(range(1_000_000))

    def mimebundle(spec: dict[str, Any], **_: Any) -> dict[str, Any]:
        div = f"w2s-chart-q{next(counter)}"
        payload = json.dumps(spec).replace("</", "<" + chr(92) + "/")
        view = (f'<div class="w2s-chart" id="{div}"></div><script>vegaEmbed("#{div}", '
                f'{payload}, {{renderer: "svg", actions: false}});</script>')
        title = spec.get("title")
        title = title.get("text") if isinstance(title, dict) else title
        bundle = {f"application/vnd.vegalite.v{alt.SCHEMA_VERSION.lstrip('v').split('.')[0]}+json": spec,
                  "text/html": view, "text/plain": f"[chart: {title or 'untitled'}]"}
        if not os.environ.get("W2S_OFFLINE_RENDER"):  # the offline renderer makes the PNGs in its own process
            bundle["image/png"] = base64.b64encode(chart_png(spec)).decode()
        return bundle

    alt.renderers.register("w2s", mimebundle)
    alt.renderers.enable("w2s")


def setup() -> None:
    """Call at the top of every report (the same under Quarto and the offline renderer): charts get the
    renderer of `use_chart_renderer`. Returns nothing, so the cell shows nothing; the Vega bundle
    reaches the HTML through `format.html.include-in-header` (`reports/_quarto.yml`)."""
    use_chart_renderer()


# ---------------------------------------------------------------------------------------------- tables


def report_context() -> dict[str, Any]:
    """The context the `report` stage passes in `W2S_REPORT_CONTEXT` (empty without it)."""
    raw = os.environ.get(CONTEXT_ENV)
    return json.loads(raw) if raw else {}


def load_tables(paths: Mapping[str, str | Path] | None = None) -> dict[str, pl.DataFrame]:
    """Read the analysis tables, by name. Default: the paths in the report context; else every
    `*.parquet` under `data/` beside the working directory (or its parent, as Quarto runs in reports/).
    A table whose file is missing is simply absent; figures then return a `Note`."""
    if paths is None:
        paths = report_context().get("tables")
    if paths is None:
        found: dict[str, str | Path] = {}
        for root in (Path("data"), Path("..") / "data"):
            for name in ("analysis", "agreement", "overfitting", "saliency_summary", "bootstrap", "sensitivity"):
                for f in sorted((root / name).glob("*.parquet")):
                    found.setdefault(f.stem, f)
        paths = found
    return {name: pl.read_parquet(p) for name, p in paths.items() if Path(p).is_file()}


def tasks_of(tables: Tables) -> list[str]:
    """Tasks in the report context, else those present in the runs table."""
    ctx = report_context().get("tasks")
    if ctx:
        return list(ctx)
    if "runs" in tables:
        return sorted(set(tables["runs"]["task"].drop_nulls().to_list()))
    return []


def ladder_of(tables: Tables) -> list[str]:
    """Model keys weak -> strong: the context's ladder, else ordered by parameter count, else by name."""
    ctx = report_context().get("ladder")
    if ctx:
        return list(ctx)
    sizes = model_sizes(tables)
    models: set[str] = set(sizes)
    if "runs" in tables:
        models |= set(tables["runs"]["model"].drop_nulls().to_list())
    return sorted(models, key=lambda m: (sizes.get(m, 0), m))


def model_sizes(tables: Tables) -> dict[str, int]:
    """Parameter count per model key, from any table that carries `weak_params` / `strong_params`."""
    sizes: dict[str, int] = {}
    for table in tables.values():
        for role in ("weak", "strong", "model"):
            if role in table.columns and f"{role}_params" in table.columns:
                for model, n in table.select(role, f"{role}_params").unique().drop_nulls().iter_rows():
                    sizes[model] = int(n)
    return sizes


def _need(tables: Tables, name: str, columns: Sequence[str], stage: str) -> pl.DataFrame | Note:
    if name not in tables:
        return Note(f"The `{name}` table is missing: run the `{stage}` stage (`dvc repro {stage}`).")
    table = tables[name]
    missing = [c for c in columns if c not in table.columns]
    if missing:
        return Note(f"The `{name}` table lacks column(s) {', '.join(missing)} (has: {', '.join(table.columns)}).")
    if table.is_empty():
        return Note(f"The `{name}` table is empty.")
    return table


def _for_task(table: pl.DataFrame, task: str | None, name: str) -> pl.DataFrame | Note:
    if task is None or "task" not in table.columns:
        return table
    sub = table.filter(pl.col("task") == task)
    return sub if not sub.is_empty() else Note(f"The `{name}` table has no rows for task `{task}`.")


def _size_axis(sizes: Mapping[str, int], ladder: Sequence[str], title: str) -> tuple[str, alt.X]:
    """x encoding for student size: log parameter count in millions when known, else ladder order."""
    if sizes and all(m in sizes for m in ladder):
        return "size_m", alt.X("size_m:Q", scale=alt.Scale(type="log", nice=False),
                               title=f"{title} (million parameters, log scale)")
    return "model", alt.X("model:N", sort=list(ladder), title=f"{title} (ladder order, weak → strong)")


def _with_size(df: pl.DataFrame, col: str, sizes: Mapping[str, int]) -> pl.DataFrame:
    mapping = {k: v / 1e6 for k, v in sizes.items()}
    return df.with_columns(pl.col(col).replace_strict(mapping, default=None, return_dtype=pl.Float64)
                           .alias("size_m"))


def _title(text: str, subtitle: str | None = None) -> alt.TitleParams:
    return alt.TitleParams(text, subtitle=subtitle or alt.Undefined, anchor="start")


def _records(df: pl.DataFrame) -> alt.Data:
    """The chart's inline data, rows in a canonical order: polars' group_by returns groups in whatever
    order its threads finish, and the report must be byte-identical from run to run."""
    return alt.Data(values=df.sort(df.columns, nulls_last=True).to_dicts())


# --------------------------------------------------------------------------------------------- figures


def accuracy_vs_size(tables: Tables, task: str, metric: str = "accuracy") -> Figure | Note:
    """Test accuracy of the ceiling, the weak supervisors and the w2s students against student size,
    one line per supervisor, one panel per method (Burns et al. Fig. 3)."""
    runs = _need(tables, "runs", ["kind", "task", "model", "weak", "strong", "method", metric], "analyze")
    if isinstance(runs, Note):
        return runs
    runs = _for_task(runs, task, "runs")
    if isinstance(runs, Note):
        return runs
    ladder = [m for m in ladder_of(tables) if m in set(runs["model"].drop_nulls()) | set(runs["strong"].drop_nulls())]
    sizes = model_sizes(tables)
    gt = (runs.filter(pl.col("kind") == "gt").group_by("model")
          .agg(pl.col(metric).mean().alias("value"), pl.len().alias("n_seeds")))
    w2s = (runs.filter(pl.col("kind") == "w2s").group_by("weak", "strong", "method")
           .agg(pl.col(metric).mean().alias("value"), pl.len().alias("n_seeds")))
    if w2s.is_empty():
        return Note(f"No weak-to-strong runs for task `{task}` in the `runs` table.")
    # Each supervisor's line starts at its own ground-truth accuracy, then goes through its students.
    starts = (w2s.select("weak", "method").unique()
              .join(gt.rename({"model": "weak"}), on="weak").with_columns(pl.col("weak").alias("strong")))
    lines = pl.concat([starts.select(w2s.columns), w2s]).rename({"strong": "model"}).with_columns(
        pl.concat_str(pl.lit("supervisor "), "weak").alias("series"))
    ceiling = gt.with_columns(pl.lit("ceiling (trained on ground truth)").alias("series"))
    methods = sorted(set(w2s["method"].to_list()), key=lambda m: list(METHOD_COLORS).index(m)
                     if m in METHOD_COLORS else 99)
    ceiling = pl.concat([ceiling.with_columns(pl.lit(m).alias("method")) for m in methods])
    xfield, x = _size_axis(sizes, ladder, "student model")
    if xfield == "size_m":
        lines, ceiling = _with_size(lines, "model", sizes), _with_size(ceiling, "model", sizes)
    weak_order = [m for m in ladder if m in set(lines["weak"].to_list())]
    both = pl.concat([ceiling.with_columns(pl.lit(None, dtype=pl.Utf8).alias("weak")).select(lines.columns),
                      lines], how="vertical_relaxed")
    y = alt.Y("value:Q", title=f"test {metric} (fraction correct)" if metric == "accuracy"
              else f"test {metric.upper()}", scale=alt.Scale(zero=False))
    tooltip = ["series:N", "model:N", alt.Tooltip("value:Q", format=".3f", title=metric), "n_seeds:Q"]
    base_ceiling = alt.Chart().mark_line(color=ROLE_COLORS["ceiling"], strokeDash=[6, 3], point=alt.OverlayMarkDef(
        color=ROLE_COLORS["ceiling"])).encode(x=x, y=y, tooltip=tooltip).transform_filter("datum.weak == null")
    supervisors = alt.Chart().mark_line(point=alt.OverlayMarkDef(size=50)).encode(
        x=x, y=y,
        color=alt.Color("weak:N", sort=weak_order, title="weak supervisor",
                        scale=alt.Scale(domain=weak_order, scheme="viridis")),
        tooltip=tooltip).transform_filter("datum.weak != null")
    chart = alt.layer(base_ceiling, supervisors, data=_records(both)).properties(width=WIDTH, height=HEIGHT).facet(
        column=alt.Column("method:N", sort=methods, title="method")
    ).properties(title=_title(f"{task}: test {'accuracy' if metric == 'accuracy' else metric.upper()} vs student size",
                              "dashed black: ceiling (ground truth); coloured: students of each weak supervisor, "
                              "starting at the supervisor's own accuracy; mean over seeds"))
    return chart


def pgr_by_method(tables: Tables, task: str | None = None, metric: str = "accuracy") -> Figure | Note:
    """PGR per weak -> strong pair and method (ratio of mean scores over seeds) with its paired bootstrap
    interval over seeds and test rows; cells whose gap is not significant have no PGR and are named in
    the subtitle."""
    cols = ["task", "weak", "strong", "method", f"pgr_{metric}", f"pgr_{metric}_low", f"pgr_{metric}_high"]
    summary = _need(tables, "pgr_summary", cols, "analyze")
    if isinstance(summary, Note):
        return summary
    summary = _for_task(summary, task, "pgr_summary")
    if isinstance(summary, Note):
        return summary
    df = summary.with_columns(pl.concat_str("weak", "strong", separator=" → ").alias("pair")).rename(
        {f"pgr_{metric}": "pgr", f"pgr_{metric}_low": "low", f"pgr_{metric}_high": "high"})
    if "n_seeds" not in df.columns:
        df = df.with_columns(pl.lit(None).alias("n_seeds"))
    defined = df.filter(pl.col("pgr").is_not_null())
    if defined.is_empty():
        return Note("PGR is undefined for every cell: no ceiling beats its weak model by more than the test and "
                    "seed noise (see the table).")
    missing = df.filter(pl.col("pgr").is_null())
    missing_text = ("; no PGR (gap not significant): " + ", ".join(
        f"{r['pair']} {r['method']}" + ("" if task else f" ({r['task']})") for r in missing.iter_rows(named=True))
        if missing.height else "")
    ladder = ladder_of(tables)
    pair_order = [f"{w} → {s}" for w in ladder for s in ladder if f"{w} → {s}" in set(df["pair"].to_list())]
    methods = df["method"].unique().to_list()
    scale = method_scale(methods)
    x = alt.X("pair:N", sort=pair_order, title="weak supervisor → strong student", axis=alt.Axis(labelAngle=-20))
    tooltip = ["task:N", "pair:N", "method:N", alt.Tooltip("pgr:Q", format=".2f", title="PGR"),
               alt.Tooltip("low:Q", format=".2f", title="CI low"), alt.Tooltip("high:Q", format=".2f", title="CI high"),
               alt.Tooltip("n_seeds:Q", title="seeds")]
    points = alt.Chart().mark_point(filled=True, size=70).encode(
        x=x, xOffset=alt.XOffset("method:N", sort=scale.domain),
        color=alt.Color("method:N", scale=scale, title="method"),
        y=alt.Y("pgr:Q", title=f"PGR on {metric} (fraction of gap recovered)"), tooltip=tooltip)
    bars = alt.Chart().mark_rule(strokeWidth=2).encode(
        x=x, xOffset=alt.XOffset("method:N", sort=scale.domain), color=alt.Color("method:N", scale=scale),
        y="low:Q", y2="high:Q", tooltip=tooltip)
    refs = alt.Chart().mark_rule(color="#999999", strokeDash=[4, 4]).encode(y=alt.datum(0))
    ones = alt.Chart().mark_rule(color="#999999", strokeDash=[1, 3]).encode(y=alt.datum(1))
    layered = alt.layer(refs, ones, bars, points, data=_records(defined)).properties(width=WIDTH, height=HEIGHT)
    scope = task or "all tasks"
    subtitle = ("ratio of mean scores over seeds; bars: 95% paired bootstrap interval over seeds and test rows; "
                "0 = no better than the weak supervisor, 1 = as good as the ceiling" + missing_text)
    if task is None:
        return layered.facet(column=alt.Column("task:N", title="task")).properties(
            title=_title(f"PGR by method ({scope})", subtitle))
    return layered.properties(title=_title(f"{task}: PGR by method", subtitle))


def agreement_by_size(tables: Tables, task: str) -> Figure | Note:
    """Student-supervisor agreement where the supervisor is correct vs wrong, against student size."""
    table = _need(tables, "agreement", ["task", "weak", "strong", "method", "metric", "value"], "agreement")
    if isinstance(table, Note):
        return table
    table = _for_task(table, task, "agreement")
    if isinstance(table, Note):
        return table
    df = (table.filter(pl.col("metric").is_in(["agreement_supervisor_correct", "agreement_supervisor_wrong"]))
          .group_by("weak", "strong", "method", "metric").agg(pl.col("value").mean(), pl.len().alias("n_seeds"))
          .with_columns(pl.col("metric").replace_strict(SUBSET_LABELS, default=None).alias("subset"),
                        pl.col("strong").alias("model"),
                        pl.concat_str(pl.lit("supervisor "), "weak").alias("supervisor")))
    if df.is_empty():
        return Note("The `agreement` table has no supervisor correct / wrong rows.")
    ladder = ladder_of(tables)
    sizes = model_sizes(tables)
    xfield, x = _size_axis(sizes, ladder, "student model")
    if xfield == "size_m":
        df = _with_size(df, "model", sizes)
    scale = method_scale(df["method"].unique().to_list())
    weak_order = [f"supervisor {m}" for m in ladder]
    chart = alt.Chart(_records(df)).mark_line(point=alt.OverlayMarkDef(size=60, filled=True)).encode(
        x=x,
        y=alt.Y("value:Q", title="agreement with supervisor (fraction of test inputs)", scale=alt.Scale(domain=[0, 1])),
        color=alt.Color("method:N", scale=scale, title="method"),
        shape=alt.Shape("supervisor:N", sort=weak_order, title="weak supervisor"),
        detail="supervisor:N",
        tooltip=["supervisor:N", "model:N", "method:N", "subset:N",
                 alt.Tooltip("value:Q", format=".3f", title="agreement"), "n_seeds:Q"],
    ).properties(width=WIDTH, height=HEIGHT).facet(
        column=alt.Column("subset:N", sort=["supervisor correct", "supervisor wrong"], title=None)
    ).properties(title=_title(f"{task}: student-supervisor agreement vs student size",
                              "right panel falling with size = students stop imitating their supervisor's "
                              "mistakes (inverse scaling); mean over seeds"))
    return chart


SALIENCY_ORDER = ["probe_weak", "probe_gt", "finetune_weak", "finetune_weak_probe_gt", "finetune_gt"]
"""The conditions of `w2s.saliency.CONDITIONS`, in the paper's order (Fig. 11)."""
SALIENCY_LABELS = {
    "probe_weak": "linear probe on weak labels",
    "probe_gt": "linear probe on ground truth",
    "finetune_weak": "finetuned on weak labels",
    "finetune_weak_probe_gt": "finetuned on weak labels, then probe on ground truth",
    "finetune_gt": "finetuned on ground truth",
}


def _first(columns: Sequence[str], candidates: Sequence[str]) -> str | None:
    return next((c for c in candidates if c in columns), None)


def _long_values(table: pl.DataFrame, metric: str) -> pl.DataFrame:
    """`value` column of `metric` from a long (metric, value) table, or from a wide `metric` column."""
    if "metric" in table.columns and "value" in table.columns:
        sub = table.filter(pl.col("metric") == metric)
        return sub if not sub.is_empty() else table.filter(pl.col("metric").str.contains(metric))
    if metric in table.columns:
        return table.with_columns(pl.col(metric).alias("value"))
    return table.clear()


def pgr_vs_c(tables: Tables, task: str) -> Figure | Note:
    """PGR on accuracy against the probes' L2 strength C (all heads at the same C), one line per method,
    one panel per pair, with the paired interval over seeds and test rows (`w2s.sensitivity`)."""
    name = f"sensitivity_{task}"
    cols = ["weak", "strong", "method", "c", "pgr_accuracy", "pgr_accuracy_low", "pgr_accuracy_high", "n_seeds"]
    table = _need(tables, name, cols, f"sensitivity@{task}")
    if isinstance(table, Note):
        return table
    df = table.with_columns(pl.concat_str("weak", "strong", separator=" → ").alias("pair")).rename(
        {"pgr_accuracy": "pgr", "pgr_accuracy_low": "low", "pgr_accuracy_high": "high"})
    defined = df.filter(pl.col("pgr").is_not_null())
    if defined.is_empty():
        return Note(f"No C of the sweep gives a significant gap on `{task}`: PGR is undefined everywhere.")
    scale = method_scale(df["method"].unique().to_list())
    x = alt.X("c:Q", scale=alt.Scale(type="log"), title="C (inverse L2 strength, log scale)",
              axis=alt.Axis(grid=False, format="g"))
    tooltip = ["pair:N", "method:N", alt.Tooltip("c:Q", format="g", title="C"),
               alt.Tooltip("pgr:Q", format=".2f", title="PGR"), alt.Tooltip("low:Q", format=".2f", title="CI low"),
               alt.Tooltip("high:Q", format=".2f", title="CI high"), alt.Tooltip("n_seeds:Q", title="seeds")]
    color = alt.Color("method:N", scale=scale, title="method")
    line = alt.Chart().mark_line(point=True).encode(x=x, y=alt.Y("pgr:Q", title="PGR on accuracy"), color=color,
                                                    tooltip=tooltip)
    band = alt.Chart().mark_rule(strokeWidth=2, opacity=0.6).encode(x=x, y="low:Q", y2="high:Q", color=color,
                                                                     tooltip=tooltip)
    zero = alt.Chart().mark_rule(color="#999999", strokeDash=[4, 4]).encode(y=alt.datum(0))
    layered = alt.layer(zero, band, line, data=_records(defined)).properties(width=WIDTH // 2 + 60, height=HEIGHT)
    missing = df.filter(pl.col("pgr").is_null())
    note = f"; no PGR (gap not significant) at {missing.height} of {df.height} points" if missing.height else ""
    return layered.facet(column=alt.Column("pair:N", title="weak supervisor → strong student")).properties(
        title=_title(f"{task}: PGR against the probes' regularisation",
                     "every head (supervisor, ceiling, student) at the same C; bars: 95% paired bootstrap "
                     "interval over seeds and test rows" + note))


def saliency_conditions(tables: Tables, task: str) -> Figure | Note:
    """Test accuracy of the five concept-saliency conditions on the strong model (Burns et al. Fig. 11),
    with error bars: the summary's interval over seeds and test rows (columns low, high, n_seeds of
    `w2s.saliency.summarize`); a table of per-seed values instead (no low/high) draws min to max over seeds."""
    table = _need(tables, "saliency", ["task"], "saliency_summary")
    if isinstance(table, Note):
        return table
    table = _for_task(table, task, "saliency")
    if isinstance(table, Note):
        return table
    cond = _first(table.columns, ["condition", "setting", "variant"])
    if cond is None:
        return Note(f"The `saliency` table has no `condition` column (has: {', '.join(table.columns)}).")
    df = _long_values(table, "accuracy")
    if df.is_empty():
        return Note("The `saliency` table has no accuracy values.")
    keys = [c for c in ("weak", "strong", "model") if c in df.columns and df[c].null_count() < df.height]
    summarized = {"low", "high", "n_seeds"} <= set(df.columns)
    if summarized:
        df = df.select(cond, *keys, pl.col("value").alias("accuracy"), "low", "high", "n_seeds")
        whisker = "interval over seeds and test rows"
    else:
        df = df.group_by(cond, *keys).agg(pl.col("value").mean().alias("accuracy"), pl.col("value").min().alias("low"),
                                          pl.col("value").max().alias("high"), pl.len().alias("n_seeds"))
        whisker = "min to max over seeds"
    df = df.rename({cond: "condition"}).with_columns(
        pl.col("condition").replace_strict(SALIENCY_LABELS, default=pl.col("condition")).alias("label"))
    order = [SALIENCY_LABELS.get(c, c) for c in SALIENCY_ORDER] + sorted(
        set(df["label"].to_list()) - set(SALIENCY_LABELS.values()))
    y = alt.Y("label:N", sort=order, title=None, axis=alt.Axis(labelLimit=360))
    tooltip = ["label:N", *[f"{k}:N" for k in keys], alt.Tooltip("accuracy:Q", format=".3f"),
               alt.Tooltip("low:Q", format=".3f"), alt.Tooltip("high:Q", format=".3f"), "n_seeds:Q"]
    bars = alt.Chart().mark_bar(color=METHOD_COLORS["xent"], opacity=0.8).encode(
        y=y, x=alt.X("accuracy:Q", title="test accuracy (fraction correct)", scale=alt.Scale(zero=False)),
        tooltip=tooltip)
    whiskers = alt.Chart().mark_errorbar(color="#222222", ticks=True).encode(
        y=y, x=alt.X("low:Q", title="test accuracy (fraction correct)"), x2="high:Q", tooltip=tooltip)
    layered = alt.layer(bars, whiskers, data=_records(df)).properties(width=WIDTH + 80, height=30 * len(order))
    models = sorted(set(df["model"].to_list())) if "model" in df.columns else []
    who = f" ({', '.join(models)})" if models and len(models) <= 2 else ""
    seeds = sorted(set(df["n_seeds"].to_list()))
    title = _title(f"{task}: concept saliency on the strong model",
                   f"test accuracy of the five conditions of Burns et al. Fig. 11 on {who.strip(' ()') or 'it'}; "
                   f"bars: mean over {'/'.join(map(str, seeds))} seed(s) and the test rows; whiskers: {whisker}")
    if "weak" in keys and df["weak"].n_unique() > 1:
        return layered.facet(row=alt.Row("weak:N", title="weak supervisor")).properties(title=title)
    return layered.properties(title=title)


def training_curves(tables: Tables, task: str, max_panels: int = 6) -> Figure | Note:
    """Test accuracy along training of the w2s students (mean over seeds), with the best point (peeks
    at ground truth) and the final point (the stored model) marked (Burns et al. Fig. 7)."""
    curves = _need(tables, "curves", ["kind", "task", "weak", "strong", "method", "step", "metric", "value"],
                   "overfitting")
    if isinstance(curves, Note):
        return curves
    curves = _for_task(curves, task, "curves")
    if isinstance(curves, Note):
        return curves
    df = (curves.filter((pl.col("kind") == "w2s") & (pl.col("metric") == "accuracy"))
          .group_by("weak", "strong", "method", "step").agg(pl.col("value").mean().alias("accuracy"))
          .with_columns(pl.concat_str("weak", "strong", separator=" → ").alias("pair")).sort("pair", "method", "step"))
    if df.is_empty():
        return Note(f"The `curves` table has no weak-to-strong accuracy curves for task `{task}`.")
    pairs = sorted(df["pair"].unique().to_list())[:max_panels]
    df = df.filter(pl.col("pair").is_in(pairs))
    best = df.sort("accuracy", "step", descending=[True, False]).group_by("pair", "method", maintain_order=True).first()
    final = df.group_by("pair", "method").agg(pl.all().sort_by("step").last())
    marks = pl.concat([best.with_columns(pl.lit("best (peeks at test labels)").alias("point")),
                       final.select(best.columns).with_columns(pl.lit("final (stored model)").alias("point"))])
    both = pl.concat([df.with_columns(pl.lit(None, dtype=pl.Utf8).alias("point")), marks.select(*df.columns, "point")])
    scale = method_scale(df["method"].unique().to_list())
    x = alt.X("step:Q", title="training step (optimizer updates)")
    y = alt.Y("accuracy:Q", title="test accuracy (fraction correct)", scale=alt.Scale(zero=False))
    line = alt.Chart().mark_line().encode(
        x=x, y=y, color=alt.Color("method:N", scale=scale, title="method"),
        tooltip=["pair:N", "method:N", "step:Q", alt.Tooltip("accuracy:Q", format=".3f")]
    ).transform_filter("datum.point == null")
    points = alt.Chart().mark_point(size=90, filled=True).encode(
        x=x, y=y, color=alt.Color("method:N", scale=scale),
        shape=alt.Shape("point:N", title="marked point",
                        scale=alt.Scale(domain=["best (peeks at test labels)", "final (stored model)"],
                                        range=["triangle-up", "square"])),
        tooltip=["pair:N", "method:N", "point:N", "step:Q", alt.Tooltip("accuracy:Q", format=".3f")]
    ).transform_filter("datum.point != null")
    layer = alt.layer(line, points, data=_records(both)).properties(width=WIDTH, height=HEIGHT)
    return layer.facet(facet=alt.Facet("pair:N", sort=pairs, title="weak supervisor → strong student"),
                       columns=3).properties(
        title=_title(f"{task}: test accuracy along training", "mean over seeds; ▲ best point, ■ final point"))


def overfitting_summary(tables: Tables, task: str) -> Figure | Note:
    """PGR of the final, best-by-test and early-stopped (on held-out weak labels) students per pair: the
    `overfitting` stage's cell table (ratio of mean accuracies over seeds, as every PGR of the lab)."""
    table = _need(tables, "overfitting_pgr", ["task", "weak", "strong", "method", "checkpoint", "pgr"], "overfitting")
    if isinstance(table, Note):
        return table
    table = _for_task(table, task, "overfitting_pgr")
    if isinstance(table, Note):
        return table
    labels = {"pgr_final": "final", "pgr_best": "best (peeks at test)", "pgr_early_stop": "early stop (weak labels)"}
    df = (table.filter(pl.col("checkpoint").is_in(list(labels)) & pl.col("pgr").is_not_null())
          .with_columns(pl.col("checkpoint").replace_strict(labels),
                        pl.concat_str("weak", "strong", separator=" → ").alias("pair")))
    if df.is_empty():
        return Note(f"The `overfitting` table has no defined PGR values for task `{task}` (no significant gap).")
    scale = method_scale(df["method"].unique().to_list())
    return alt.Chart(_records(df)).mark_point(filled=True, size=80).encode(
        x=alt.X("checkpoint:N", sort=list(labels.values()), title="checkpoint"),
        y=alt.Y("pgr:Q", title="PGR on accuracy (fraction of gap recovered)"),
        color=alt.Color("method:N", scale=scale, title="method"),
        shape=alt.Shape("pair:N", title="weak → strong"),
        detail="pair:N",
        tooltip=["pair:N", "method:N", "checkpoint:N", alt.Tooltip("pgr:Q", format=".2f")],
    ).properties(width=WIDTH, height=HEIGHT, title=_title(
        f"{task}: PGR of final vs best vs early-stopped students", "ratio of mean accuracies over seeds"))


def bootstrap_chain(tables: Tables, task: str) -> Figure | Note:
    """Test accuracy of the strongest model supervised through a chain of intermediate models
    (bootstrapping, route "chain") vs directly by the weakest one (route "direct"), per chain, with the
    weak model's and the ceiling's accuracy as reference lines (Burns et al. section 4.3.1)."""
    cols = ["task", "chain", "route", "accuracy", "accuracy_low", "accuracy_high", "n_seeds"]
    table = _need(tables, "bootstrap_summary", cols, "bootstrap_report")
    if isinstance(table, Note):
        return table
    table = _for_task(table, task, "bootstrap_summary")
    if isinstance(table, Note):
        return table
    refs = [c for c in ("weak_accuracy", "ceiling_accuracy") if c in table.columns]
    agg = table.rename({"accuracy_low": "low", "accuracy_high": "high"})
    routes = sorted(agg["route"].unique().to_list())
    scale = alt.Scale(domain=routes, range=[ROLE_COLORS.get(r, _SPARE[i % len(_SPARE)]) for i, r in enumerate(routes)])
    x = alt.X("route:N", sort=["direct", "chain"], title="supervision route", axis=alt.Axis(labelAngle=0))
    y_title = "test accuracy of the strongest model (fraction correct)"
    y = alt.Y("accuracy:Q", title=y_title, scale=alt.Scale(zero=False))
    tooltip = ["chain:N", "route:N", alt.Tooltip("accuracy:Q", format=".3f"), "n_seeds:Q"]
    layers = [
        alt.Chart().mark_rule(strokeWidth=2).encode(x=x, y=alt.Y("low:Q", title=y_title), y2="high:Q",
                                                     color=alt.Color("route:N", scale=scale)),
        alt.Chart().mark_point(filled=True, size=90).encode(
            x=x, y=y, color=alt.Color("route:N", scale=scale, title="supervision route"), tooltip=tooltip),
    ]
    for col, role, dash in (("ceiling_accuracy", "ceiling", [6, 3]), ("weak_accuracy", "weak", [2, 2])):
        if col in refs:
            layers.insert(0, alt.Chart().mark_rule(color=ROLE_COLORS[role], strokeDash=dash).encode(
                y=alt.Y(f"mean({col}):Q", title=y_title),
                tooltip=[alt.Tooltip(f"mean({col}):Q", format=".3f", title=f"{role} accuracy")]))
    layered = alt.layer(*layers, data=_records(agg)).properties(width=180, height=HEIGHT)
    return layered.facet(column=alt.Column("chain:N", title="chain (weak > ... > strong)")).properties(
        title=_title(f"{task}: bootstrapping chain vs direct supervision",
                     "mean over seeds, whiskers: 95% paired bootstrap interval over seeds and test rows; "
                     "dashed black: ceiling of the strongest model, "
                     "dotted grey: the weakest (first) model"))


def convergence_note(tables: Tables, task: str | None = None) -> str:
    """One Markdown paragraph on how the runs' fits ended (`runs` table, from each run's summary.json): every
    L-BFGS probe should have converged; stepwise fits (losses whose target moves with the student) stop at
    their epoch budget and are named as such. Empty when the table has no fit columns (finetune/lora)."""
    runs = tables.get("runs")
    if runs is None or "optimizer" not in runs.columns:
        return ""
    if task is not None:
        runs = runs.filter(pl.col("task") == task)
    lbfgs = runs.filter(pl.col("optimizer") == "lbfgs")
    stepwise = runs.filter(pl.col("optimizer") == "adam")
    parts = []
    if lbfgs.height:
        failed = lbfgs.filter(~pl.col("converged").fill_null(False))
        if failed.is_empty():
            largest = float(lbfgs["grad_norm"].max())  # type: ignore[arg-type]
            parts.append(f"All {lbfgs.height} L-BFGS probe fits converged (largest gradient norm {largest:.1e}).")
        else:
            names = ", ".join(f"{r['task']}/{r['model'] or r['weak'] + '-to-' + r['strong'] + '/' + r['method']}"
                              f"/seed{r['seed']}" for r in failed.head(5).iter_rows(named=True))
            parts.append(f"**{failed.height} of {lbfgs.height} L-BFGS probe fits did not converge** ({names}): "
                         "their numbers depend on where the optimiser stopped.")
    if stepwise.height:
        low, high = float(stepwise["grad_norm"].min()), float(stepwise["grad_norm"].max())  # type: ignore[arg-type]
        methods = ", ".join(sorted(set(stepwise["method"].drop_nulls())))
        parts.append(f"{stepwise.height} stepwise fits ({methods}) stop at their epoch budget: their target moves "
                     f"with the student, so they have no fixed optimum (fixed-point gradient norm {low:.2g}–"
                     f"{high:.2g}); the PGR-against-C figure shows how much that matters.")
    return " ".join(parts) + ("\n" if parts else "")


def pgr_table_markdown(tables: Tables, task: str | None = None) -> str | Note:
    """The PGR summary as a Markdown table (ratio of mean accuracies [interval], n seeds), for the report."""
    from w2s.analysis import format_pgr, markdown

    cols = ["task", "weak", "strong", "method", "n_seeds", "pgr_accuracy", "pgr_accuracy_status"]
    summary = _need(tables, "pgr_summary", cols, "analyze")
    if isinstance(summary, Note):
        return summary
    if task is not None:
        summary = summary.filter(pl.col("task") == task)

    rows = [{"task": r["task"], "weak → strong": f"{r['weak']} → {r['strong']}", "method": r["method"],
             "seeds": str(r["n_seeds"]), "weak acc.": f"{r.get('weak_accuracy', 0):.3f}",
             "ceiling acc.": f"{r.get('ceiling_accuracy', 0):.3f}", "w2s acc.": f"{r.get('w2s_accuracy', 0):.3f}",
             "PGR (acc.) [95% CI]": format_pgr(r, "accuracy")} for r in summary.iter_rows(named=True)]
    columns = ["task", "weak → strong", "method", "seeds", "weak acc.", "ceiling acc.", "w2s acc.",
               "PGR (acc.) [95% CI]"]
    note = ("\nPGR = (mean w2s − mean weak) / (mean ceiling − mean weak), means over seeds; interval: paired "
            "bootstrap over seeds and test rows; no PGR where the gap's interval includes 0.\n")
    return markdown(pl.DataFrame(rows, schema=dict.fromkeys(columns, pl.Utf8))) + note


# -------------------------------------------------------------------------------------------- findings
# One or two sentences per report section, every number computed from the tables at render time (the
# documents call these in inline expressions), so no conclusion in the text can go stale. With a table
# missing they say so instead. `task=None`: all tasks pooled (the overview).


def _rows(tables: Tables, name: str, columns: Sequence[str], stage: str, task: str | None) -> pl.DataFrame | str:
    table = _need(tables, name, columns, stage)
    if not isinstance(table, Note) and task is not None:
        table = _for_task(table, task, name)
    return f"({table.text})" if isinstance(table, Note) else table


def _change(a: float, b: float, fmt: str, from_: str = "", to: str = "") -> str:
    """"rises from A to B" / "falls from A to B" / "stays at A", the verb from the numbers as printed."""
    x, y = format(a, fmt), format(b, fmt)
    where_a, where_b = (f" ({from_})" if from_ else ""), (f" ({to})" if to else "")
    if x == y:
        return f"stays at {x}" + (f" from {from_} to {to}" if from_ else "")
    return f"{'rises' if b > a else 'falls'} from {x}{where_a} to {y}{where_b}"


def _by_size(tables: Tables, models: Iterable[str]) -> list[str]:
    sizes, ladder = model_sizes(tables), ladder_of(tables)
    return sorted(set(models), key=lambda m: (sizes.get(m, 0), ladder.index(m) if m in ladder else 99, m))


def finding_pgr(tables: Tables, task: str | None = None) -> str:
    """Which method recovers more of the gap: "logconf beats xent in 5 of 6 cells; mean PGR 0.62 vs 0.41"
    (cells: task x pair with a defined PGR for both; the baseline is xent when present)."""
    df = _rows(tables, "pgr_summary", ["task", "weak", "strong", "method", "pgr_accuracy"], "analyze", task)
    if isinstance(df, str):
        return df
    df = df.filter(pl.col("pgr_accuracy").is_not_null())
    if df.is_empty():
        return "No cell has a significant gap, so no PGR is defined."
    means = df.group_by("method").agg(pl.col("pgr_accuracy").mean()).sort("pgr_accuracy", "method",
                                                                         descending=[True, False])
    if means.height == 1:
        return f"Mean PGR of {means['method'][0]}: {means['pgr_accuracy'][0]:.2f} over {df.height} cells."
    best = str(means["method"][0])
    base = "xent" if "xent" in means["method"].to_list() and best != "xent" else str(means["method"][1])
    wide = df.pivot("method", index=["task", "weak", "strong"], values="pgr_accuracy").drop_nulls([best, base])
    wins = int((wide[best] > wide[base]).sum())
    mean = dict(means.iter_rows())
    return (f"{best} beats {base} in {wins} of {wide.height} cells; mean PGR {mean[best]:.2f} vs "
            f"{mean[base]:.2f} ({len(mean)} methods, {df.height} cells with a significant gap).")


def finding_accuracy(tables: Tables, task: str | None = None) -> str:
    """How the ceiling and the weak-to-strong students grow with size (mean over seeds and tasks)."""
    runs = _rows(tables, "runs", ["kind", "task", "model", "weak", "strong", "method", "accuracy"], "analyze", task)
    if isinstance(runs, str):
        return runs
    gt = runs.filter(pl.col("kind") == "gt").group_by("model").agg(pl.col("accuracy").mean())
    w2s = runs.filter(pl.col("kind") == "w2s")
    if gt.height < 2 or w2s.is_empty():
        return "Too few models in the `runs` table to compare sizes."
    acc = dict(gt.iter_rows())
    order = _by_size(tables, acc)
    weak, strong = _by_size(tables, w2s["weak"].drop_nulls())[0], _by_size(tables, w2s["strong"].drop_nulls())[-1]
    students = (w2s.filter((pl.col("weak") == weak) & (pl.col("strong") == strong)).group_by("method")
                .agg(pl.col("accuracy").mean()).sort("accuracy", "method", descending=[True, False]))
    text = f"The ceiling {_change(acc[order[0]], acc[order[-1]], '.3f', order[0], order[-1])}"
    if students.is_empty() or weak not in acc or strong not in acc:
        return text + "."
    return (text + f"; supervised by {weak} ({acc[weak]:.3f}), the {strong} student reaches "
            f"{students['accuracy'][0]:.3f} with {students['method'][0]} against a ceiling of {acc[strong]:.3f}.")


def finding_regulariser(tables: Tables, task: str | None = None) -> str:
    """The range of mean PGR over the C sweep, next to the headline (cross-validated C) mean PGR."""
    names = [f"sensitivity_{task}"] if task else sorted(n for n in tables if n.startswith("sensitivity_"))
    frames = [t for n in names if not isinstance(t := _rows(tables, n, ["c", "pgr_accuracy"], "sensitivity",
                                                             None), str)]
    if not frames:
        return f"(The sensitivity table{'s are' if task is None else ' is'} missing: run `dvc repro sensitivity`.)"
    df = pl.concat([f.select("c", "pgr_accuracy") for f in frames]).filter(pl.col("pgr_accuracy").is_not_null())
    if df.is_empty():
        return "No C of the sweep gives a significant gap: PGR is undefined everywhere."
    by_c = df.group_by("c").agg(pl.col("pgr_accuracy").mean()).sort("c")
    low, high = float(by_c["pgr_accuracy"].min()), float(by_c["pgr_accuracy"].max())  # type: ignore[arg-type]
    text = (f"Over C from {by_c['c'][0]:g} to {by_c['c'][-1]:g}, mean PGR ranges from {low:.2f} to {high:.2f}")
    head = _rows(tables, "pgr_summary", ["task", "pgr_accuracy"], "analyze", task)
    if isinstance(head, str) or head["pgr_accuracy"].drop_nulls().is_empty():
        return text + "."
    return text + f"; with C cross-validated per run it is {float(head['pgr_accuracy'].mean()):.2f}."  # type: ignore[arg-type]


def finding_agreement(tables: Tables, task: str | None = None) -> str:
    """"agreement where the supervisor is wrong falls from 0.61 to 0.37 as the student grows" (mean over
    supervisors, methods, seeds and tasks, smallest vs largest student)."""
    df = _rows(tables, "agreement", ["task", "strong", "metric", "value"], "agreement", task)
    if isinstance(df, str):
        return df
    means = df.group_by("metric", "strong").agg(pl.col("value").mean())
    parts = []
    for metric, where in (("agreement_supervisor_wrong", "wrong"), ("agreement_supervisor_correct", "right")):
        sub = dict(means.filter(pl.col("metric") == metric).select("strong", "value").iter_rows())
        if len(sub) < 2:
            continue
        order = _by_size(tables, sub)
        a, b = sub[order[0]], sub[order[-1]]
        parts.append(f"agreement where the supervisor is {where} {_change(a, b, '.2f')}")
    if not parts:
        return "Too few student sizes in the `agreement` table to see a trend."
    return "As the student grows, " + " and ".join(parts) + "."


def finding_saliency(tables: Tables, task: str | None = None) -> str:
    """The best and the worst of the concept-saliency conditions (mean accuracy over seeds and tasks)."""
    table = _rows(tables, "saliency", ["task"], "saliency_summary", task)
    if isinstance(table, str):
        return table
    cond = _first(table.columns, ["condition", "setting", "variant"])
    df = _long_values(table, "accuracy")
    if cond is None or df.is_empty():
        return "The `saliency` table has no accuracy per condition."
    means = df.group_by(cond).agg(pl.col("value").mean()).sort("value", cond, descending=[True, False])
    (best, hi), (worst, lo) = means.row(0), means.row(-1)
    return (f"{SALIENCY_LABELS.get(best, best).capitalize()} scores highest ({hi:.3f}), "
            f"{SALIENCY_LABELS.get(worst, worst)} lowest ({lo:.3f}).")


def finding_overfitting(tables: Tables, task: str | None = None) -> str:
    """Mean PGR of the final, best-by-test and early-stopped students."""
    df = _rows(tables, "overfitting_pgr", ["task", "checkpoint", "pgr"], "overfitting", task)
    if isinstance(df, str):
        return df
    means = dict(df.filter(pl.col("pgr").is_not_null()).group_by("checkpoint").agg(pl.col("pgr").mean()).iter_rows())
    labels = {"pgr_final": "final", "pgr_best": "best by test accuracy",
              "pgr_early_stop": "early-stopped on weak labels"}
    parts = [f"{label} {means[k]:.2f}" for k, label in labels.items() if k in means]
    return ("Mean PGR of the students: " + ", ".join(parts) + ".") if parts else "No defined PGR in `overfitting`."


def finding_bootstrap(tables: Tables, task: str | None = None) -> str:
    """Accuracy of the strongest model through the chain vs directly supervised (mean over chains, tasks)."""
    df = _rows(tables, "bootstrap_summary", ["task", "chain", "route", "accuracy"], "bootstrap_report", task)
    if isinstance(df, str):
        return df
    wide = df.rename({"chain": "chain_models"}).pivot("route", index=["task", "chain_models"], values="accuracy",
                                                       aggregate_function="mean")
    if not {"chain", "direct"} <= set(wide.columns):
        return "The `bootstrap_summary` table lacks the chain or the direct route."
    wide = wide.drop_nulls(["chain", "direct"])
    wins = int((wide["chain"] > wide["direct"]).sum())
    return (f"Through the chain the strongest model reaches {float(wide['chain'].mean()):.3f} vs "  # type: ignore[arg-type]
            f"{float(wide['direct'].mean()):.3f} supervised directly; the chain is better in {wins} of "  # type: ignore[arg-type]
            f"{wide.height} chains.")
