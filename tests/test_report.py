"""w2s.report: the offline renderer of the .qmd reports (parse, execute, HTML, PDF) and the report stage,
on hand-made tables in the stages' schemas. The browser check of the HTML is in
tests/integration/test_report_browser.py."""

from __future__ import annotations

import importlib.util
import json
import os
import re
from pathlib import Path

import pytest
import yaml
from pypdf import PdfReader
from report_fixtures import write_tables

from w2s import cli
from w2s.errors import InputError
from w2s.figures import CONTEXT_ENV
from w2s.report import Chart, build_reports, execute, parse_qmd, table_paths, to_html, to_pdf

ROOT = Path(__file__).resolve().parents[1]

QMD = '''---
title: "A small report"
subtitle: "for tests"
params:
  n: 2
---

Intro text with **bold**.

```{python}
#| tags: [parameters]
n = 1
task = "sst2"
```

```{python}
#| output: asis
print(f"n is {n} and task is {task}")
```

```{python}
import altair as alt
import polars as pl
from w2s.figures import Note
rows = pl.DataFrame({"x": [1, 2, 3], "y": [n, 2 * n, 3 * n]})
print("plain text")
display(Note("nothing to see"))
alt.Chart(alt.Data(values=rows.to_dicts())).mark_line().encode(x="x:Q", y="y:Q").properties(
    title="Line of </script> test")
```

## After

```{python}
#| fig-cap: "a caption"
alt.Chart(alt.Data(values=[{"a": "u", "b": 1}])).mark_bar().encode(x="a:N", y="b:Q").properties(title="Bars")
```
'''


@pytest.fixture
def qmd(tmp_path: Path) -> Path:
    path = tmp_path / "doc.qmd"
    path.write_text(QMD)
    return path


def test_parse_splits_front_matter_markdown_and_chunks(qmd: Path) -> None:
    doc = parse_qmd(qmd)
    assert doc.meta["title"] == "A small report" and doc.meta["params"] == {"n": 2}
    chunks = [p for p in doc.parts if not isinstance(p, str)]
    assert len(chunks) == 4
    assert chunks[0].options == {"tags": ["parameters"]} and chunks[0].code == 'n = 1\ntask = "sst2"\n'
    assert chunks[1].options == {"output": "asis"}
    assert chunks[3].options == {"fig-cap": "a caption"}
    assert QMD.splitlines()[chunks[2].line - 1] == "import altair as alt"
    assert isinstance(doc.parts[0], str) and "Intro text" in doc.parts[0]


def test_execute_shares_the_namespace_and_applies_parameters(qmd: Path) -> None:
    rendered = execute(parse_qmd(qmd), {"task": "sciq"})
    text = "".join(b for b in rendered.blocks if isinstance(b, str))
    assert "n is 2 and task is sciq" in text  # front-matter param n, call param task, over the defaults
    assert "```\nplain text\n```" in text  # printed without output: asis -> a code block
    assert "**Figure not available.** nothing to see" in text
    charts = rendered.charts
    assert [c.title for c in charts] == ["Line of </script> test", "Bars"]
    assert [r["y"] for r in charts[0].spec["data"]["values"]] == [2, 4, 6]
    assert charts[1].caption == "a caption" and charts[0].caption is None
    order = [b.title if isinstance(b, Chart) else None for b in rendered.blocks]
    assert order.index("Line of </script> test") < order.index("Bars")
    assert rendered.title == "A small report" and rendered.subtitle == "for tests"


def test_a_failing_chunk_names_the_file_and_line(tmp_path: Path) -> None:
    path = tmp_path / "bad.qmd"
    path.write_text("---\ntitle: x\n---\n\ntext\n\n```{python}\na = 1\nraise ValueError('boom')\n```\n")
    with pytest.raises(InputError, match=r"bad\.qmd:8: chunk failed: ValueError: boom"):
        execute(parse_qmd(path))


def test_unclosed_front_matter_and_missing_file_are_input_errors(tmp_path: Path) -> None:
    (tmp_path / "open.qmd").write_text("---\ntitle: x\n\nbody\n")
    with pytest.raises(InputError, match="never closed"):
        parse_qmd(tmp_path / "open.qmd")
    with pytest.raises(InputError, match="not found"):
        parse_qmd(tmp_path / "absent.qmd")


def test_html_is_self_contained_with_one_view_per_chart(qmd: Path) -> None:
    page = to_html(execute(parse_qmd(qmd)))
    assert not re.search(r"""<(script|link|img)[^>]+(src|href)=["']?(https?:)?//""", page)
    assert "window.vegaEmbed=" in page and '<body data-charts="2">' in page
    specs_json = page.split('id="w2s-specs">', 1)[1].split("</script>", 1)[0]
    specs = json.loads(specs_json)
    assert [s["title"] for s in specs] == ["Line of </script> test", "Bars"]  # "</" escaped inside the script
    assert page.count('class="w2s-chart"') == 2
    assert "<strong>bold</strong>" in page and "<figcaption>a caption</figcaption>" in page


def test_pdf_is_valid_and_holds_the_text_and_figure_titles(qmd: Path, tmp_path: Path) -> None:
    out = tmp_path / "out" / "doc.pdf"
    pngs = to_pdf(execute(parse_qmd(qmd)), out, tmp_path / "figs", prefix="doc")
    assert out.read_bytes().startswith(b"%PDF-")
    text = " ".join(page.extract_text() for page in PdfReader(out).pages)
    for words in ("A small report", "Intro text", "Line of </script> test", "Bars", "a caption"):
        assert words in text, words
    assert [p.name for p in pngs] == ["doc-01-line-of-script-test.png", "doc-02-bars.png"]
    assert all(p.read_bytes().startswith(b"\x89PNG") for p in pngs)


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict]:
    root = tmp_path_factory.mktemp("report")
    dirs = write_tables(root / "data", with_saliency=False)
    out = root / "data" / "reports"
    written = build_reports(dirs + [root / "data" / "saliency_summary"], ROOT / "reports", out, ["sst2", "sciq"],
                            ["small", "medium", "large"], renderer="offline", progress=False)
    return out, written


def test_build_renders_the_overview_and_one_report_per_task(built: tuple[Path, dict]) -> None:
    out, written = built
    assert set(written) == {"overview", "task-sst2", "task-sciq"}
    for stem in written:
        assert (out / f"{stem}.html").is_file() and (out / f"{stem}.pdf").read_bytes().startswith(b"%PDF-")
    assert CONTEXT_ENV not in os.environ
    sst2 = (out / "task-sst2.html").read_text()
    # every task figure but saliency (no table here) draws, PGR vs C included; saliency is a note naming its stage
    assert sst2.count('class="w2s-chart"') == 8
    assert "The <code>saliency</code> table is missing" in sst2
    overview = (out / "overview.html").read_text()
    assert overview.count('class="w2s-chart"') == 1 + 2 * 6  # PGR of all tasks + 6 figures per task
    text = " ".join(p.extract_text() for p in PdfReader(out / "overview.pdf").pages)
    assert "sst2: test accuracy vs student size" in text and "sciq: student-supervisor agreement" in text
    pngs = sorted(p.name for p in (out / "figures").iterdir())
    assert len([p for p in pngs if p.startswith("overview-")]) == 13
    assert "task-sst2-02-sst2-test-accuracy-vs-student-size.png" in pngs
    assert "task-sst2-03-sst2-test-auroc-vs-student-size.png" in pngs


def test_table_paths_name_generic_stems_by_folder(tmp_path: Path) -> None:
    for folder, stem in (("analysis", "runs"), ("bootstrap", "summary"), ("bootstrap", "bootstrap"),
                         ("other", "runs")):
        (tmp_path / folder).mkdir(exist_ok=True)
        (tmp_path / folder / f"{stem}.parquet").write_bytes(b"")
    names = table_paths([tmp_path / "analysis", tmp_path / "bootstrap", tmp_path / "other"])
    assert set(names) == {"runs", "bootstrap_summary", "bootstrap", "other_runs"}


def test_build_rejects_bad_formats_and_absent_tables(tmp_path: Path) -> None:
    dirs = write_tables(tmp_path)
    with pytest.raises(InputError, match="report.formats: unknown format 'docx'"):
        build_reports(dirs, ROOT / "reports", tmp_path / "out", ["sst2"], [], formats=["html", "docx"])
    with pytest.raises(InputError, match="none of the table folders exists"):
        build_reports([tmp_path / "nope"], ROOT / "reports", tmp_path / "out", ["sst2"], [])
    with pytest.raises(InputError, match="overview.qmd: report source not found"):
        build_reports(dirs, tmp_path, tmp_path / "out", ["sst2"], [], renderer="offline")
    assert not (tmp_path / "out").exists()


def test_stage_exits_2_with_a_one_line_error(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    spec = importlib.util.spec_from_file_location("w2s_stage_report", ROOT / "stages" / "report.py")
    assert spec is not None and spec.loader is not None
    stage = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(stage)
    params = yaml.safe_load((ROOT / "params.yaml").read_text())
    params["report"] = {"formats": ["pdf"]}
    monkeypatch.setenv("W2S_RENDERER", "offline")
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(params))
    code = cli.run(stage.main, ["--params", str(tmp_path / "params.yaml"), "--tables", str(tmp_path / "none"),
                                "--reports", str(ROOT / "reports"), "--out", str(tmp_path / "out")])
    assert code == 2
    assert capsys.readouterr().err.strip().startswith("error: report: none of the table folders exists")
    monkeypatch.setenv("W2S_RENDERER", "latex")  # where it runs is an environment variable, not a param
    code = cli.run(stage.main, ["--params", str(tmp_path / "params.yaml"), "--tables", str(tmp_path),
                                "--reports", str(ROOT / "reports"), "--out", str(tmp_path / "out")])
    assert code == 2 and "W2S_RENDERER='latex': must be one of auto, quarto, offline" in capsys.readouterr().err


def test_output_false_runs_the_chunk_but_shows_nothing(tmp_path: Path) -> None:
    path = tmp_path / "quiet.qmd"
    path.write_text("---\ntitle: q\n---\n\n```{python}\n#| output: false\nx = 41\nprint('hidden')\nx\n```\n\n"
                    "```{python}\n#| output: asis\nprint(f'x + 1 = {x + 1}')\n```\n")
    rendered = execute(parse_qmd(path))
    text = "".join(b for b in rendered.blocks if isinstance(b, str))
    assert "hidden" not in text and "41" not in text.replace("x + 1 = 42", "")
    assert "x + 1 = 42" in text
