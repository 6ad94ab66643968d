"""The offline page template of `dvc plots show`: vega inlined, DVC's placeholders kept, no CDN."""

from __future__ import annotations

import json
import re

import polars as pl
import pytest

from w2s.dvc_plots import offline_page, write_records

SCRIPT_SRC = re.compile(r"<script[^>]*\bsrc\s*=", re.IGNORECASE)


@pytest.fixture(scope="module")
def page() -> str:
    return offline_page()


def test_page_inlines_vega_and_loads_nothing(page: str) -> None:
    assert not SCRIPT_SRC.search(page)
    assert "window.vegaEmbed" in page and len(page) > 500_000  # the whole bundle, not a stub


def test_page_keeps_only_dvcs_plot_placeholders(page: str) -> None:
    assert page.count("{plot_divs}") == 1 and page.count("{refresh_tag}") == 1
    assert "{scripts}" not in page  # so DVC never inserts its CDN <script src> tags


def test_records_are_numbers_not_strings(tmp_path) -> None:
    write_records(pl.DataFrame({"run": ["a"], "step": [10], "accuracy": [0.5]}), tmp_path / "p.json")
    assert json.loads((tmp_path / "p.json").read_text()) == [{"accuracy": 0.5, "run": "a", "step": 10}]
