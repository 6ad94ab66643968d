"""Shared test setup.

The hub is unreachable on these machines: without these, a hub id retries for ~25 s before failing.
Set before any test module imports transformers or datasets (they read the variables at import).
"""

import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")

from pathlib import Path  # noqa: E402

import pytest  # noqa: E402
from system import MISSING_MODEL, MODEL_FIX  # noqa: E402


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> pytest.TestReport:
    """A failure caused by a model missing from the offline cache says, under the error, how to build it."""
    report: pytest.TestReport = yield
    if report.failed and any(needle in report.longreprtext for needle in MISSING_MODEL):
        report.sections.append(("missing model", MODEL_FIX))
    return report


@pytest.fixture(scope="session")
def data_dir() -> Path:
    """The local mirror of the task datasets, from W2S_TEST_DATA_DIR (set by .ci/run and README)."""
    value = os.environ.get("W2S_TEST_DATA_DIR")
    if not value:
        pytest.fail("set W2S_TEST_DATA_DIR to a local dataset mirror (the README's test command does)")
    path = Path(value).resolve()
    if not (path / "sst2").is_dir():
        pytest.fail(f"W2S_TEST_DATA_DIR={value}: no sst2/ folder there")
    return path
