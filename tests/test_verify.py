"""`w2s.verify`: verdicts and tolerances on `dvc metrics diff --all --json` output (no DVC run here)."""

from __future__ import annotations

import pytest

from w2s.errors import InputError
from w2s.verify import compare, environment, environment_table, report, tolerance


def diff(**entries: dict) -> dict:
    return {"metrics/pgr.json": entries}


def test_verdicts_identical_within_tolerance_and_differs() -> None:
    verdicts = compare(diff(**{
        "t/a-to-b/xent/gap_accuracy": {"old": 0.1, "new": 0.1},
        "t/a-to-b/xent/pgr_accuracy": {"old": 0.5, "new": 0.5 + 2e-3},  # tol 3e-4 / 0.1 = 3e-3
        "t/a-to-b/xent/pgr_auroc": {"old": 0.5, "new": 0.52},  # no gap recorded: tol 1e-2
        "t/gt/a/accuracy": {"old": 0.8, "new": 0.8},
        "t/gt/a/auroc": {"old": 0.9, "new": 0.9 + 2e-6},
        "t/gt/b/auroc": {"old": 0.9, "new": 0.9 + 3e-4},
        "t/a-to-b/logconf/pgr_accuracy": {"old": 0.4, "new": None},
        "t/a-to-b/xent/n_seeds": {"old": 3, "new": 3},
        "model": {"old": "minilm_l3", "new": "minilm_l3"},  # a label, skipped
    }), "HEAD")
    by_key = {v.key: v.verdict for v in verdicts}
    assert by_key == {"t/a-to-b/xent/gap_accuracy": "identical", "t/a-to-b/xent/pgr_accuracy": "within tolerance",
                      "t/a-to-b/xent/pgr_auroc": "DIFFERS", "t/gt/a/accuracy": "identical",
                      "t/gt/a/auroc": "within tolerance", "t/gt/b/auroc": "DIFFERS",
                      "t/a-to-b/logconf/pgr_accuracy": "DIFFERS", "t/a-to-b/xent/n_seeds": "identical"}
    text = report(verdicts, "HEAD")
    assert text.splitlines()[-1] == ("NOT REPRODUCED: 8 metrics vs HEAD: 3 identical, 2 within tolerance, "
                                     "3 differ")
    assert "t/gt/a/accuracy" not in text and "t/gt/b/auroc" in text  # identical ones only with show="all"


def test_tolerances_are_declared_once() -> None:
    gaps = {"t/a-to-b/xent/gap_auroc": 0.03}
    assert tolerance("t/gt/a/accuracy", gaps) == 1e-4
    assert tolerance("t/a-to-b/xent/pgr_auroc_low", gaps) == pytest.approx(1e-2)
    assert tolerance("t/a-to-b/xent/n_seeds", gaps) == 0.0


@pytest.mark.parametrize(("entries", "match"), [
    ({}, "HEAD~1: no metrics to compare"),
    ({"t/gt/a/accuracy": {"new": 0.8}}, "HEAD~1: metrics/pgr.json: t/gt/a/accuracy: present on one side only "
                                        r"\(missing in HEAD~1\)"),
    ({"t/gt/a/accuracy": {"old": "0.8", "new": 0.8}}, "HEAD~1: metrics/pgr.json: t/gt/a/accuracy: not a number"),
    ({"model": {"old": "minilm_l3", "new": "mpnet"}}, "HEAD~1: metrics/pgr.json: model: not a number"),
])
def test_bad_input_names_the_revision_and_key(entries: dict, match: str) -> None:
    with pytest.raises(InputError, match=match):
        compare(diff(**entries) if entries else {}, "HEAD~1")


def test_environment_record_and_side_by_side() -> None:
    env = environment()
    assert {"cpu", "torch", "transformers", "numpy", "numpy_blas", "device"} <= set(env)
    assert environment_table(env, dict(env), "HEAD") == ""
    table = environment_table(env, {**env, "cpu": "Other CPU"}, "HEAD")
    assert "Other CPU" in table and table.splitlines()[0].startswith("environment")
    assert [line for line in table.splitlines() if line.endswith("<-")][0].startswith("cpu")
