"""w2s.figures: every figure from hand-made tables in the stages' schemas, notes for missing tables,
one colour per method everywhere, and specs that Vega-Lite compiles."""

from __future__ import annotations

from typing import Any

import altair as alt
import polars as pl
import pytest
import vl_convert as vlc
from report_fixtures import LADDER, SIZES, tables

from w2s import figures as F
from w2s.report import vegalite_version

TASK_FIGURES = {
    "accuracy_vs_size": F.accuracy_vs_size,
    "pgr_by_method": F.pgr_by_method,
    "agreement_by_size": F.agreement_by_size,
    "training_curves": F.training_curves,
    "overfitting_summary": F.overfitting_summary,
    "bootstrap_chain": F.bootstrap_chain,
    "saliency_conditions": F.saliency_conditions,
    "pgr_vs_c": F.pgr_vs_c,
}


@pytest.fixture(autouse=True)
def _context(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(F.CONTEXT_ENV, '{"ladder": ["small", "medium", "large"], "tasks": ["sst2", "sciq"]}')


def _values(spec: dict[str, Any]) -> list[dict[str, Any]]:
    """Inline data rows of a spec (top level or datasets)."""
    rows: list[dict[str, Any]] = []
    for ds in spec.get("datasets", {}).values():
        rows.extend(ds)
    if "values" in spec.get("data", {}):
        rows.extend(spec["data"]["values"])
    return rows


def _method_scales(node: Any) -> list[dict[str, Any]]:
    """Every colour scale on a `method` field anywhere in a spec."""
    found = []
    if isinstance(node, dict):
        color = node.get("color")
        if isinstance(color, dict) and color.get("field") == "method" and "scale" in color:
            found.append(color["scale"])
        for v in node.values():
            found.extend(_method_scales(v))
    elif isinstance(node, list):
        for v in node:
            found.extend(_method_scales(v))
    return found


@pytest.mark.parametrize("name", list(TASK_FIGURES))
def test_each_figure_compiles_with_title_and_data(name: str) -> None:
    chart = TASK_FIGURES[name](tables(), "sst2")
    assert isinstance(chart, alt.TopLevelMixin), chart
    spec = chart.to_dict()
    assert "sst2" in spec["title"]["text"]
    rows = _values(spec)
    assert rows and all(r.get("task", "sst2") == "sst2" for r in rows)
    vega = vlc.vegalite_to_vega(spec, vl_version=vegalite_version())
    assert vega["marks"]


def test_pgr_overview_has_one_panel_per_task_and_intervals() -> None:
    spec = F.pgr_by_method(tables()).to_dict()
    assert spec["facet"]["column"]["field"] == "task"
    rows = _values(spec)
    assert {r["task"] for r in rows} == {"sst2", "sciq"}
    assert all(r["low"] <= r["pgr"] <= r["high"] for r in rows)


def test_method_colours_are_the_same_in_every_figure() -> None:
    seen: dict[str, str] = {}
    for fig in (F.pgr_by_method, F.agreement_by_size, F.training_curves, F.overfitting_summary):
        scales = _method_scales(fig(tables(), "sst2").to_dict())
        assert scales, fig.__name__
        for scale in scales:
            for method, colour in zip(scale["domain"], scale["range"], strict=True):
                assert seen.setdefault(method, colour) == colour, f"{fig.__name__}: {method} changed colour"
    assert seen == {"xent": F.METHOD_COLORS["xent"], "logconf": F.METHOD_COLORS["logconf"]}


def test_accuracy_lines_start_at_the_supervisor_and_use_log_size_axis() -> None:
    spec = F.accuracy_vs_size(tables(), "sst2").to_dict()
    rows = _values(spec)
    start = [r for r in rows if r["weak"] == "small" and r["model"] == "small" and r["method"] == "xent"]
    assert len(start) == 1 and start[0]["value"] == pytest.approx(0.705)  # gt accuracy of small, mean of 2 seeds
    assert {r["size_m"] for r in rows} == {v / 1e6 for v in SIZES.values()}
    x = spec["spec"]["layer"][0]["encoding"]["x"]
    assert x["scale"]["type"] == "log" and "million parameters" in x["title"]


def test_without_sizes_the_axis_is_the_ladder_order() -> None:
    t = {k: v for k, v in tables().items() if k != "agreement"}
    spec = F.accuracy_vs_size(t, "sst2").to_dict()
    x = spec["spec"]["layer"][0]["encoding"]["x"]
    assert x["field"] == "model" and x["sort"] == LADDER


def test_training_curves_mark_best_and_final() -> None:
    rows = _values(F.training_curves(tables(), "sst2").to_dict())
    best = [r for r in rows if r["point"] == "best (peeks at test labels)" and r["method"] == "xent"
            and r["pair"] == "small → large"]
    final = [r for r in rows if r["point"] == "final (stored model)" and r["method"] == "xent"
             and r["pair"] == "small → large"]
    assert best[0]["step"] == 50 and best[0]["accuracy"] == pytest.approx(0.8)
    assert final[0]["step"] == 100 and final[0]["accuracy"] == pytest.approx(0.775)


def test_bootstrap_routes_draw_their_interval_over_seeds_and_rows() -> None:
    rows = _values(F.bootstrap_chain(tables(), "sst2").to_dict())
    by_route = {r["route"]: r for r in rows}
    assert by_route["chain"]["accuracy"] == pytest.approx(0.805)
    assert by_route["direct"]["low"] == pytest.approx(0.765) and by_route["direct"]["high"] == pytest.approx(0.805)


@pytest.mark.parametrize("name", list(TASK_FIGURES))
def test_missing_table_gives_a_note_naming_the_stage(name: str) -> None:
    note = TASK_FIGURES[name]({}, "sst2")
    assert isinstance(note, F.Note)
    assert "missing" in note.text and "dvc repro" in note.text
    assert note._repr_markdown_().startswith("> **Figure not available.**")


def test_saliency_without_its_table_is_a_note_and_with_one_a_chart() -> None:
    without = {k: v for k, v in tables().items() if k != "saliency"}
    assert "saliency_summary" in str(F.saliency_conditions(without, "sst2"))
    sal = pl.DataFrame({"task": ["sst2"] * 10, "condition": F.SALIENCY_ORDER * 2, "seed": [0] * 5 + [1] * 5,
                        "metric": ["accuracy"] * 10, "value": [0.6, 0.8, 0.7, 0.78, 0.85] * 2})
    spec = F.saliency_conditions({**without, "saliency": sal}, "sst2").to_dict()
    rows = _values(spec)
    assert [r["label"] for r in sorted(rows, key=lambda r: F.SALIENCY_ORDER.index(r["condition"]))] == [
        F.SALIENCY_LABELS[c] for c in F.SALIENCY_ORDER]


def test_missing_column_and_unknown_task_are_notes() -> None:
    t = {**tables(), "runs": tables()["runs"].drop("accuracy")}
    assert "accuracy" in str(F.accuracy_vs_size(t, "sst2"))
    assert "no rows for task `boolq`" in str(F.agreement_by_size(tables(), "boolq"))


def test_undefined_pgr_everywhere_is_a_note() -> None:
    summary = tables()["pgr_summary"].with_columns(pl.lit(None, dtype=pl.Float64).alias("pgr_accuracy"),
                                                   pl.lit("gap_not_significant").alias("pgr_accuracy_status"))
    assert "undefined" in str(F.pgr_by_method({"pgr_summary": summary}, "sst2"))
    md = F.pgr_table_markdown({"pgr_summary": summary}, "sst2")
    assert isinstance(md, str) and md.count("not significant (gap") == 6


def test_load_tables_reads_the_context_paths(tmp_path, monkeypatch: pytest.MonkeyPatch) -> None:
    tables()["runs"].write_parquet(tmp_path / "runs.parquet")
    monkeypatch.setenv(F.CONTEXT_ENV, f'{{"tables": {{"runs": "{tmp_path / "runs.parquet"}", '
                                      f'"agreement": "{tmp_path / "absent.parquet"}"}}}}')
    loaded = F.load_tables()
    assert set(loaded) == {"runs"} and loaded["runs"].height == tables()["runs"].height
    assert F.ladder_of(loaded) == ["large", "medium", "small"]  # no ladder, no sizes: by name


def test_every_loss_has_its_own_fixed_colour() -> None:
    from w2s.losses import LOSSES

    assert set(LOSSES) <= set(F.METHOD_COLORS)
    assert len(set(F.METHOD_COLORS.values())) == len(F.METHOD_COLORS)
    scale = F.method_scale(["logconf", "my_loss", "xent"])
    assert scale.domain == ["xent", "logconf", "my_loss"]
    assert scale.range[:2] == [F.METHOD_COLORS["xent"], F.METHOD_COLORS["logconf"]]
    assert scale.range[2] not in F.METHOD_COLORS.values()


@pytest.mark.parametrize("name", list(TASK_FIGURES))
def test_figures_do_not_depend_on_the_tables_row_order(name: str) -> None:
    """polars' group_by returns groups in thread order; the report must still be byte-identical."""
    base = tables()
    shuffled = {key: df.sample(fraction=1.0, shuffle=True, seed=7) for key, df in base.items()}
    assert any(not shuffled[k].equals(base[k]) for k in base)  # the shuffle did reorder something
    assert TASK_FIGURES[name](shuffled, "sst2").to_json() == TASK_FIGURES[name](base, "sst2").to_json()


def test_pgr_vs_c_draws_defined_points_with_intervals_and_names_the_rest() -> None:
    spec = F.pgr_vs_c(tables(), "sst2").to_dict()
    rows = _values(spec)
    assert {r["c"] for r in rows} == {1e-3, 1e-1, 10.0}
    assert all(r["low"] <= r["pgr"] <= r["high"] for r in rows)
    assert len(rows) == 3 * 2 * 3 - 3  # xent at C = 10 has no significant gap in the fixture
    assert "no PGR (gap not significant) at 3 of 18 points" in spec["title"]["subtitle"]


# ---------------------------------------------------------------------------------------------- findings


def test_findings_state_the_tables_numbers() -> None:
    T = tables()
    assert F.finding_pgr(T) == ("logconf beats xent in 6 of 6 cells; mean PGR 0.60 vs 0.40 (2 methods, 12 cells "
                                "with a significant gap).")
    assert F.finding_pgr(T, "sst2").startswith("logconf beats xent in 3 of 3 cells; mean PGR 0.60 vs 0.40")
    assert F.finding_accuracy(T, "sst2") == (
        "The ceiling rises from 0.705 (small) to 0.855 (large); supervised by small (0.705), the large student "
        "reaches 0.795 with logconf against a ceiling of 0.855.")
    assert F.finding_agreement(T) == ("As the student grows, agreement where the supervisor is wrong falls from "
                                      "0.58 to 0.49 and agreement where the supervisor is right stays at 0.95.")
    assert F.finding_regulariser(T, "sst2") == ("Over C from 0.001 to 10, mean PGR ranges from 0.50 to 0.50; with C "
                                                "cross-validated per run it is 0.50.")
    assert F.finding_saliency(T, "sciq") == ("Finetuned on ground truth scores highest (0.850), linear probe on weak "
                                             "labels lowest (0.720).")
    assert F.finding_overfitting(T) == ("Mean PGR of the students: final 0.50, best by test accuracy 0.70, "
                                        "early-stopped on weak labels 0.60.")
    assert F.finding_bootstrap(T, "sst2") == ("Through the chain the strongest model reaches 0.805 vs 0.785 supervised "
                                              "directly; the chain is better in 1 of 1 chains.")


def test_findings_follow_the_numbers_and_name_missing_tables() -> None:
    T = dict(tables())
    flipped = T["pgr_summary"].with_columns(
        pl.when(pl.col("method") == "xent").then(0.9).otherwise(pl.col("pgr_accuracy")).alias("pgr_accuracy"))
    assert F.finding_pgr({**T, "pgr_summary": flipped}, "sst2").startswith(
        "xent beats logconf in 3 of 3 cells; mean PGR 0.90 vs 0.60")
    shrinking = T["runs"].with_columns(pl.when(pl.col("model") == "large").then(0.6).otherwise(pl.col("accuracy"))
                                       .alias("accuracy"))
    assert F.finding_accuracy({**T, "runs": shrinking}, "sst2").startswith(
        "The ceiling falls from 0.705 (small) to 0.600 (large)")
    for finding in (F.finding_pgr, F.finding_accuracy, F.finding_regulariser, F.finding_agreement,
                    F.finding_saliency, F.finding_overfitting, F.finding_bootstrap):
        text = finding({}, "sst2")
        assert text.startswith("(The ") and "missing" in text and "dvc repro" in text, (finding.__name__, text)


def test_every_report_figure_is_labelled_captioned_referenced_and_every_section_opens_with_a_finding() -> None:
    """The sources of reports/: charts only in `fig-` cells with a caption, each referred to in the text,
    and every section's first paragraph starting with an inline expression (a computed finding)."""
    import re
    from pathlib import Path

    from w2s.report import Chunk, parse_qmd

    for source in sorted((Path(__file__).resolve().parents[1] / "reports").glob("*.qmd")):
        doc = parse_qmd(source)
        assert doc.meta.get("jupyter") == "python3", source
        text = "".join(p for p in doc.parts if isinstance(p, str))
        figure_cells = [p for p in doc.parts if isinstance(p, Chunk) and re.search(
            r"\b(F\.(?!load_tables|setup|tasks_of|pgr_table|convergence)|C\.pgr_overlay)\w*\(", p.code)]
        assert figure_cells, source
        for cell in figure_cells:
            label = str(cell.options.get("label", ""))
            assert label.startswith("fig-") and cell.options.get("fig-cap"), (source.name, cell.line)
            assert f"@{label}" in text, (source.name, label)
        for section in re.split(r"^## .*$", text, flags=re.M)[1:]:
            assert re.match(r"`\{python\} [FC]\.finding_", section.lstrip()), (source.name, section[:80])


def test_the_quarto_path_has_its_kernel_header_and_a_silent_setup(monkeypatch: pytest.MonkeyPatch) -> None:
    """What `quarto render` needs: a kernel named in every document (checked above) and installed with the
    project, the Vega bundle as header content, and a first cell that prints nothing; each chart's output
    carries the spec, an HTML view and (outside the offline renderer) a PNG for the PDF."""
    from pathlib import Path

    import tomllib
    import yaml

    root = Path(__file__).resolve().parents[1]
    deps = " ".join(tomllib.loads((root / "pyproject.toml").read_text())["project"]["dependencies"])
    assert all(name in deps for name in ("nbclient", "ipykernel", "nbformat"))
    project = yaml.safe_load((root / "reports" / "_quarto.yml").read_text())
    assert project["format"]["html"]["include-in-header"] == "_vega-header.html"
    monkeypatch.delenv("W2S_OFFLINE_RENDER", raising=False)
    old = alt.renderers.active
    try:
        assert F.setup() is None
        spec = alt.Chart(alt.Data(values=[{"a": 1}])).mark_point().encode(x="a:Q").properties(title="T").to_dict()
        bundle = alt.renderers.get()(spec)
    finally:
        alt.renderers.enable(old)
    assert bundle["text/plain"] == "[chart: T]" and "vegaEmbed(" in bundle["text/html"]
    assert bundle["image/png"] and any(k.startswith("application/vnd.vegalite.v") for k in bundle)
