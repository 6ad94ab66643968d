"""Hypothesis settings profiles for the property tests, chosen by the HYPOTHESIS_PROFILE variable.

- `dev` (default): 100 examples per property, randomised, for quick local runs.
- `ci`: 300 examples per property, derandomized (the same examples on every run, so CI is
  reproducible).

Both disable the per-example deadline: the first call into torch in a process can take longer than
Hypothesis' 200 ms default, which would make the deadline flaky rather than informative.
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest
import torch
from hypothesis import settings

settings.register_profile("dev", max_examples=100, deadline=None)
settings.register_profile("ci", max_examples=300, derandomize=True, deadline=None)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "dev"))


@pytest.fixture(autouse=True)
def _single_torch_thread() -> Iterator[None]:
    """Run torch single-threaded here, restoring the setting after each test.

    The properties use batches of <= 64 elements, where intra-op threads bring nothing; on a busy
    machine each parallel op (logsigmoid, BCE) instead waits for a descheduled worker, measured at
    ~8 ms per call on 2 shared cores, which made a 100-example property take seconds."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
