"""The rendered reports in a real browser, offline: headless Chromium (no network at all) opens each HTML
report and, from the DOM after its scripts ran, every chart container must hold a drawn <svg> with
marks, and vega-embed must report no error. Screenshots are kept as artifacts ($W2S_ARTIFACTS, else
tests/artifacts/). The PDFs must be valid and carry the figure titles as text.

Two sources: hand-made tables in the stages' schemas (every figure kind, two tasks), and the session's
small real pipeline (`lab.tiny_lab`, whose `dvc repro` runs the `report` stage)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from browser import artifacts_dir, census, dump_dom, screenshot
from lab import tiny_lab
from pypdf import PdfReader
from report_fixtures import write_tables

from w2s.report import build_reports

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]


def check_page(page: Path, shot_name: str) -> list[str]:
    """Assert every chart of `page` drew in Chromium; returns the chart titles. Saves a screenshot."""
    html = page.read_text()
    assert not re.search(r"""<(script|link|img)[^>]+(src|href)=["']?(https?:)?//""", html), "external resource"
    expected = int(re.search(r'<body data-charts="(\d+)"', html).group(1))  # type: ignore[union-attr]
    specs = json.loads(html.split('id="w2s-specs">', 1)[1].split("</script>", 1)[0])
    assert expected == len(specs) > 0
    dom = dump_dom(page)
    seen = census(dom)
    assert not seen.external
    assert "data-chart-errors" not in dom, seen.body.get("data-chart-errors")
    assert seen.body.get("data-charts-rendered") == str(expected), seen.body
    assert len(seen.charts) == expected
    blank = [c["title"] for c in seen.charts if not c["drawn"] or int(str(c["marks"])) < 3]
    assert not blank, f"charts that did not draw: {blank}"
    shot = screenshot(page, artifacts_dir() / shot_name)
    assert shot.stat().st_size > 20_000  # a page of drawn charts, not a blank canvas
    return [str(c["title"]) for c in seen.charts]


def check_pdf(pdf: Path, titles: list[str]) -> None:
    data = pdf.read_bytes()
    assert data.startswith(b"%PDF-") and b"%%EOF" in data[-1024:]
    reader = PdfReader(pdf)
    # typst hyphenates at a "-", which pypdf extracts as a soft hyphen (U+00AD)
    # and typesets ' as a typographic apostrophe
    text = " ".join(page.extract_text() for page in reader.pages).replace("\u00ad", "-").replace("\u2019", "'")
    text = re.sub(r"\s+", " ", text)
    for title in titles:
        assert re.sub(r"\s+", " ", title) in text, f"{pdf.name}: figure title {title!r} not in the PDF text"


def test_fixture_reports_draw_every_chart_offline(tmp_path: Path) -> None:
    dirs = write_tables(tmp_path / "data")
    out = tmp_path / "reports"
    build_reports(dirs, ROOT / "reports", out, ["sst2", "sciq"], ["small", "medium", "large"], renderer="offline",
                  progress=False)
    titles = check_page(out / "overview.html", "fixture-overview.png")
    assert len(titles) == 15 and "sciq: bootstrapping chain vs direct supervision" in titles
    check_pdf(out / "overview.pdf", titles)
    titles = check_page(out / "task-sst2.html", "fixture-task-sst2.png")
    assert len(titles) == 9 and "sst2: concept saliency on the strong model" in titles
    check_pdf(out / "task-sst2.pdf", titles)


def test_pipeline_report_draws_every_chart_offline(tmp_path_factory: pytest.TempPathFactory,
                                                   data_dir: Path) -> None:
    lab = tiny_lab(tmp_path_factory.getbasetemp(), data_dir)
    out = lab / "data" / "reports"
    assert {p.name for p in out.glob("*.html")} == {"overview.html", "task-sst2.html"}
    titles = check_page(out / "overview.html", "pipeline-overview.png")
    assert "sst2: test accuracy vs student size" in titles
    check_pdf(out / "overview.pdf", titles)
    titles = check_page(out / "task-sst2.html", "pipeline-task-sst2.png")
    check_pdf(out / "task-sst2.pdf", titles)
