"""`python -m benchmarks.bench` argument checks, in process (the bench itself: tests/integration/test_bench_tiny.py)."""

from __future__ import annotations

import pytest

from benchmarks.bench import main
from w2s.cli import run


def test_bad_section_is_a_one_line_error(capsys: pytest.CaptureFixture[str]) -> None:
    assert run(main, ["--tiny", "--only", "embd"]) == 2
    assert capsys.readouterr().err.strip().splitlines()[-1].startswith("error: --only: unknown section")
