"""Everything under tests/integration/ is the integration tier (real pretrained models, real data, `dvc`
runs): marked `integration` here, so a new test module cannot land in the fast tier by forgetting its
`pytestmark`. The fast tier is `python -m pytest -m "not integration"` (docs/performance.md)."""

from __future__ import annotations

from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        if HERE in Path(str(item.path)).resolve().parents:
            item.add_marker(pytest.mark.integration)
