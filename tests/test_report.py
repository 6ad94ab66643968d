"""w2s.report: the offline renderer of the .qmd reports (parse, execute, HTML, PDF) and the report stage,
on hand-made tables in the stages' schemas. The browser check of the HTML is in
tests/integration/test_report_browser.py."""

from __future__ import annotations

import importlib.util
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from pypdf import PdfReader
from report_fixtures import write_tables

from w2s import cli
from w2s.errors import InputError
from w2s.figures import CONTEXT_ENV
from w2s.report import Job, Rendered, build_reports, execute, parse_qmd, render_offline, table_paths, to_html, to_pdf

ROOT = Path(__file__).resolve().parents[1]

QMD = """---
title: "A small report"
subtitle: "for tests"
jupyter: python3
params:
  n: 2
execute:
  warning: false
---

```{python}
#| tags: [parameters]
n = 1
task = "sst2"
```

Intro text with **bold**; n times ten is `{python} n * 10`, the task `{python} task`, see @fig-bars.

```{python}
#| output: asis
print(f"n is {n} and task is {task}")
```

```{python}
import altair as alt
import polars as pl
from w2s.figures import Note
rows = pl.DataFrame({"x": [1, 2, 3], "y": [n, 2 * n, 3 * n]})
print("printed first")
display(Note("nothing to see"))
print("printed after the note")
alt.Chart(alt.Data(values=rows.to_dicts())).mark_line().encode(x="x:Q", y="y:Q").properties(
    title="Line of </script> test")
```

```{python}
#| eval: false
#| echo: true
never_run = 1 / 0
```

```{python}
#| include: false
hidden = 5
print("included-nowhere")
```

```{python}
#| output: false
print("output-off")
hidden + 1
```

```{python}
#| warning: true
import warnings
warnings.warn("shown-warning")
```

```{python}
warnings.warn("dropped-warning")
```

```{python}
#| error: true
1 / 0
```

```{python}
#| echo: true
#| code-fold: true
#| label: tbl-code
folded = "folded-code"
```

## After

```{python}
#| label: fig-bars
#| fig-cap: "a caption"
#| fig-alt: "bars of one value"
alt.Chart(alt.Data(values=[{"a": "u", "b": hidden}])).mark_bar().encode(x="a:N", y="b:Q").properties(title="Bars")
```

```{python}
#| label: fig-two
#| fig-cap: "two charts"
for t in ("One", "Two"):
    display(alt.Chart(alt.Data(values=[{"a": t, "b": 1}])).mark_point().encode(x="a:N", y="b:Q").properties(title=t))
```

Both figures: @fig-bars and @fig-two; `never_run` is `{python} "never_run" in globals()`.
"""

QUARTO_YML = """project:
  type: default
format:
  html:
    toc: true
  typst:
    papersize: a5
    margin:
      x: 1cm
execute:
  echo: false
"""


@pytest.fixture(scope="module")
def qmd(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("doc") / "doc.qmd"
    path.write_text(QMD)
    (path.parent / "_quarto.yml").write_text(QUARTO_YML)
    return path


@pytest.fixture(scope="module")
def rendered(qmd: Path) -> Rendered:
    """The test document executed once (one kernel) for every test of what it shows."""
    return execute(parse_qmd(qmd), {"task": "sciq"})


def _text(rendered: Rendered) -> str:
    return "".join(b for b in rendered.blocks if isinstance(b, str))


def test_parse_splits_front_matter_markdown_and_chunks(qmd: Path) -> None:
    doc = parse_qmd(qmd)
    assert doc.meta["title"] == "A small report" and doc.meta["params"] == {"n": 2}
    assert doc.project["execute"] == {"echo": False}
    chunks = [p for p in doc.parts if not isinstance(p, str)]
    assert len(chunks) == 12
    assert chunks[0].options == {"tags": ["parameters"]} and chunks[0].code == 'n = 1\ntask = "sst2"\n'
    assert chunks[1].options == {"output": "asis"}
    assert chunks[10].options == {"label": "fig-bars", "fig-cap": "a caption", "fig-alt": "bars of one value"}
    assert QMD.splitlines()[chunks[2].line - 1] == "import altair as alt"
    assert isinstance(doc.parts[1], str) and "Intro text" in doc.parts[1]


def test_execute_in_a_kernel_with_parameters_and_inline_expressions(rendered: Rendered) -> None:
    text = _text(rendered)
    assert "n is 2 and task is sciq" in text  # front-matter param n, call param task, over the defaults
    assert "n times ten is 20, the task sciq, see [Figure 1](#fig-bars)" in text  # inline, str unquoted
    # stdout and display() interleave as in Jupyter; printed text without output: asis is a code block
    first, note, after = (text.index(s) for s in ("printed first", "nothing to see", "printed after the note"))
    assert first < note < after and "```\nprinted first\n```" in text
    assert [c.title for c in rendered.charts] == ["Line of </script> test", "Bars", "One", "Two"]
    assert [r["y"] for r in rendered.charts[0].spec["data"]["values"]] == [2, 4, 6]
    assert rendered.title == "A small report" and rendered.subtitle == "for tests"


def test_cell_options_eval_include_output_warning_error_echo(rendered: Rendered) -> None:
    text = _text(rendered)
    assert "never_run = 1 / 0" in text and "`never_run` is False" in text  # eval: false, echo: true
    assert "hidden = 5" not in text and "included-nowhere" not in text  # include: false ...
    assert rendered.charts[1].spec["data"]["values"] == [{"a": "u", "b": 5}]  # ... but it ran
    assert "output-off" not in text and "```\n6\n```" not in text  # output: false
    assert "shown-warning" in text and "dropped-warning" not in text  # warning: true / front matter false
    assert "ZeroDivisionError: division by zero" in text  # error: true shows the error and goes on
    assert "import altair" not in text  # echo: false from _quarto.yml
    assert '<details>\n<summary>Code</summary>\n\n```python\nfolded = "folded-code"' in text  # code-fold
    assert '::: {#tbl-code}' in text  # a label that is not a figure's: the output's id


def test_figures_are_numbered_with_captions_and_references(rendered: Rendered) -> None:
    numbered = [f for f in rendered.figures if f.number]
    assert [(f.label, f.number, f.caption_text()) for f in numbered] == [
        ("fig-bars", 1, "Figure 1: a caption"), ("fig-two", 2, "Figure 2: two charts")]
    assert [c.title for c in numbered[1].charts] == ["One", "Two"] and numbered[0].alt == "bars of one value"
    assert "Both figures: [Figure 1](#fig-bars) and [Figure 2](#fig-two)" in _text(rendered)
    unlabeled = [f for f in rendered.figures if not f.number]
    assert [f.caption_text() for f in unlabeled] == [None]


@pytest.mark.parametrize(("cell", "message"), [
    ("#| layout-ncol: 2\nx = 1", r"doc\.qmd:5: cell option 'layout-ncol' is not supported by the offline renderer"),
    ("#| echo: true\n#| fig-width: 4\nx = 1", r"doc\.qmd:6: cell option 'fig-width' is not supported"),
    ("#| output: maybe\nx = 1", r"doc\.qmd:5: output: 'maybe' \(allowed: true, false, asis\)"),
])
def test_an_unknown_cell_option_is_refused_naming_file_and_line(tmp_path: Path, cell: str, message: str) -> None:
    (tmp_path / "doc.qmd").write_text(f"---\ntitle: x\n---\n```{{python}}\n{cell}\n```\n")
    with pytest.raises(InputError, match=message):
        parse_qmd(tmp_path / "doc.qmd")


def test_an_unknown_project_or_front_matter_option_is_refused(tmp_path: Path) -> None:
    (tmp_path / "doc.qmd").write_text("---\ntitle: x\n---\ntext\n")
    (tmp_path / "_quarto.yml").write_text("format:\n  html:\n    theme: cosmo\n")
    with pytest.raises(InputError, match=r"_quarto\.yml: format\.html option 'theme' is not supported"):
        parse_qmd(tmp_path / "doc.qmd")
    (tmp_path / "_quarto.yml").unlink()
    (tmp_path / "doc.qmd").write_text("---\ntitle: x\nbibliography: refs.bib\n---\ntext\n")
    with pytest.raises(InputError, match=r"doc\.qmd:1: front-matter key 'bibliography' is not supported"):
        parse_qmd(tmp_path / "doc.qmd")


def test_a_failing_chunk_and_a_dangling_reference_name_the_file(tmp_path: Path) -> None:
    path = tmp_path / "bad.qmd"
    path.write_text("---\ntitle: x\n---\n\ntext @fig-none\n\n```{python}\na = 1\nraise ValueError('boom')\n```\n")
    with pytest.raises(InputError, match=r"bad\.qmd:4: @fig-none refers to no figure label \(labels: none\)"):
        execute(parse_qmd(path))
    path.write_text(path.read_text().replace("@fig-none", "no reference"))
    with pytest.raises(InputError, match=r"bad\.qmd:8: chunk failed: ValueError: boom"):
        execute(parse_qmd(path))


def test_unclosed_front_matter_and_missing_file_are_input_errors(tmp_path: Path) -> None:
    (tmp_path / "open.qmd").write_text("---\ntitle: x\n\nbody\n")
    with pytest.raises(InputError, match="never closed"):
        parse_qmd(tmp_path / "open.qmd")
    with pytest.raises(InputError, match="not found"):
        parse_qmd(tmp_path / "absent.qmd")


def test_html_is_self_contained_with_numbered_figures_and_a_toc(rendered: Rendered, qmd: Path) -> None:
    page = to_html(rendered, qmd.parent)
    assert not re.search(r"""<(script|link|img)[^>]+(src|href)=["']?(https?:)?//""", page)
    assert "window.vegaEmbed=" in page and '<body data-charts="4">' in page
    specs_json = page.split('id="w2s-specs">', 1)[1].split("</script>", 1)[0]
    specs = json.loads(specs_json)
    assert [s["title"] for s in specs] == ["Line of </script> test", "Bars", "One", "Two"]  # "</" escaped
    assert page.count('class="w2s-chart"') == 4
    assert "<strong>bold</strong>" in page and '<nav id="TOC"' in page and 'href="#after"' in page
    assert '<figure class="w2s-figure" id="fig-bars">' in page and 'aria-label="bars of one value"' in page
    assert "<figcaption>Figure 1: a caption</figcaption>" in page and '<a href="#fig-two">Figure 2</a>' in page
    assert '<p class="w2s-subcaption">(b) Two</p>' in page
    assert "<details>" in page and '<div id="tbl-code">' in page


def test_pdf_is_valid_and_holds_the_text_numbers_and_captions(rendered: Rendered, tmp_path: Path) -> None:
    out = tmp_path / "out" / "doc.pdf"
    pngs = to_pdf(rendered, out, tmp_path / "figs", prefix="doc")
    assert out.read_bytes().startswith(b"%PDF-")
    reader = PdfReader(out)
    assert round(float(reader.pages[0].mediabox.width)) == 420  # papersize a5 from _quarto.yml
    text = " ".join(page.extract_text() for page in reader.pages)
    for words in ("A small report", "Intro text", "n times ten is 20", "Line of </script> test", "Bars",
                  "Figure 1: a caption", "Figure 2: two charts", "(b) Two", "Both figures: Figure 1 and Figure 2"):
        assert words in text, words
    assert [p.name for p in pngs] == ["doc-01-line-of-script-test.png", "doc-02-bars.png", "doc-03-one.png",
                                      "doc-04-two.png"]


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


FONTS_QMD = """---
title: "Glyphs ▲ ■ → − ’"
jupyter: python3
---

```{python}
import altair as alt
from w2s import figures as F
F.setup()
```

Text with ▲ ■ → − and `code ▲`, **bold**, *italic*; see @fig-one.

```{python}
#| label: fig-one
#| fig-cap: "glyphs ▲ → ■"
alt.Chart(alt.Data(values=[{"a": "▲ up", "b": 1}, {"a": "■ → box", "b": 2}])).mark_bar().encode(
    x="a:N", y="b:Q").properties(title="Title ▲ → ■ −")
```
"""


def test_outputs_are_byte_identical_on_a_machine_without_our_fonts(tmp_path: Path) -> None:
    """The same document rendered here and in a process that sees no system font at all (fontconfig
    pointed at an empty folder), with another HOME, TMPDIR, TZ, locale and SOURCE_DATE_EPOCH: the PDF and
    the chart PNG must be the same bytes (typst uses only its embedded fonts, vl-convert its bundled ones),
    and the PDF carries no font of the machine."""
    (tmp_path / "src").mkdir()
    source = tmp_path / "src" / "doc.qmd"
    source.write_text(FONTS_QMD)
    here = render_offline(Job(source, {}, "doc"), _mkdir(tmp_path / "here"), ("pdf",))
    conf = tmp_path / "fonts.conf"
    conf.write_text(f'<?xml version="1.0"?>\n<fontconfig><dir>{_mkdir(tmp_path / "no-fonts")}</dir></fontconfig>\n')
    env = {**os.environ, "FONTCONFIG_FILE": str(conf), "HOME": str(_mkdir(tmp_path / "home")),
           "TMPDIR": str(_mkdir(tmp_path / "tmp")), "TZ": "Pacific/Chatham", "LC_ALL": "C.UTF-8", "LANG": "C.UTF-8",
           "SOURCE_DATE_EPOCH": "86400", "PYTHONPATH": str(ROOT)}
    code = ("import sys; from pathlib import Path; from w2s.report import Job, render_offline; "
            "render_offline(Job(Path(sys.argv[1]), {}, 'doc'), Path(sys.argv[2]), ('pdf',))")
    subprocess.run([sys.executable, "-c", code, str(source), str(_mkdir(tmp_path / "there"))], env=env, check=True,
                   capture_output=True)
    files = sorted(p.relative_to(tmp_path / "here") for p in (tmp_path / "here").rglob("*") if p.is_file())
    assert [str(f) for f in files] == ["doc.pdf", "figures/doc-01-title.png"]
    for f in files:
        assert (tmp_path / "here" / f).read_bytes() == (tmp_path / "there" / f).read_bytes(), f
    fonts = set(re.findall(rb"/BaseFont\s*/[A-Z]{6}\+([A-Za-z-]+)", here["pdf"].read_bytes()))
    assert fonts and all(f.startswith((b"LibertinusSerif", b"DejaVuSansMono", b"NewCM")) for f in fonts), fonts


def _mkdir(path: Path) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    return path
