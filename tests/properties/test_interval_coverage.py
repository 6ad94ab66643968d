"""Simulation: the lab's PGR interval covers the true PGR at least 93% of the time at a nominal 95%.

Synthetic cells with known truth: every test row i has a difficulty z_i ~ N(0, 1) shared by all models
(this is what pairs the runs), every (model, seed) a seed effect b ~ N(0, sigma_seed) and every (model,
seed, row) its own noise e ~ N(0, 1); the run gets the row right when a_model + b + z_i + e > 0. The
true accuracy of a model is then Phi(a / sqrt(sigma_seed^2 + 2)) and the true PGR is the ratio of true
accuracy gaps. Fixed seeds, 3 seeds x 400 rows per cell as in a small study; the coverage is printed
(run with -s to see it), not timed. Measured: sigma_seed 0 / 0.05 / 0.1 -> 0.985 / 0.950 / 0.954; at 0.2 (a
seed SD of about 0.05 in accuracy, far above the lab's runs) 0.928: three seeds cannot do better there.
"""

from __future__ import annotations

import numpy as np
import pytest
from scipy.stats import norm

from w2s.metrics import pgr_interval

LEVELS = {"weak": 0.2, "w2s": 0.6, "ceiling": 1.0}


def _coverage(sigma_seed: float, n_cells: int = 200, n_seeds: int = 3, n_rows: int = 400) -> tuple[float, int]:
    rng = np.random.default_rng(12345)
    scale = np.sqrt(sigma_seed**2 + 2.0)
    true = {k: norm.cdf(a / scale) for k, a in LEVELS.items()}
    truth = (true["w2s"] - true["weak"]) / (true["ceiling"] - true["weak"])
    hits = defined = 0
    labels = np.ones(n_rows, dtype=bool)
    for cell in range(n_cells):
        z = rng.normal(size=n_rows)
        runs = {}
        for model, a in LEVELS.items():
            b = rng.normal(0.0, sigma_seed, size=(n_seeds, 1))
            correct = a + b + z + rng.normal(size=(n_seeds, n_rows)) > 0
            runs[model] = np.where(correct, 0.8, 0.2)
        result = pgr_interval(runs["weak"], runs["w2s"], runs["ceiling"], labels, n_resamples=500, seed=cell)
        if result.status == "ok":
            assert result.low is not None and result.high is not None
            defined += 1
            hits += result.low <= truth <= result.high
    return hits / defined, defined


@pytest.mark.parametrize("sigma_seed", [0.0, 0.05, 0.1])
def test_pgr_interval_covers_the_true_pgr(sigma_seed: float) -> None:
    coverage, defined = _coverage(sigma_seed)
    print(f"sigma_seed={sigma_seed}: coverage {coverage:.3f} over {defined} cells with a significant gap")
    assert defined >= 190  # the true gap is large: nearly every cell must find it significant
    assert coverage >= 0.93


def test_the_old_interval_over_seeds_alone_undercovers() -> None:
    """The interval this replaces (percentile bootstrap of 3 per-seed PGRs = their min..max, no test-row
    noise) covers far less than 95% in the same simulation: the reason for the change."""
    from w2s.metrics import bootstrap_ci

    rng = np.random.default_rng(7)
    true = {k: norm.cdf(a / np.sqrt(2.0)) for k, a in LEVELS.items()}
    truth = (true["w2s"] - true["weak"]) / (true["ceiling"] - true["weak"])
    hits = 0
    for _ in range(200):
        z = rng.normal(size=400)
        acc = {m: ((a + z + rng.normal(size=(3, 400))) > 0).mean(axis=1) for m, a in LEVELS.items()}
        per_seed = (acc["w2s"] - acc["weak"]) / (acc["ceiling"] - acc["weak"])
        ci = bootstrap_ci(per_seed.tolist(), n_resamples=500)
        hits += ci.low <= truth <= ci.high
    assert hits / 200 < 0.85
