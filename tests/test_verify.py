"""`w2s.verify`: verdicts and tolerances on the committed tables' diff (git only, no DVC run here)."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from w2s.errors import InputError
from w2s.verify import compare, environment, environment_table, report, tables_diff, tolerance


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
    ({"status": {"old": "ok", "new": 0.5}}, "HEAD~1: metrics/pgr.json: status: not a number"),
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


def test_a_changed_text_differs() -> None:
    """A PGR's status (pgr.json's pooled cells) or a model key that changes is a result that changed."""
    verdicts = compare(diff(**{"t/pooled/xent/pgr_accuracy_status": {"old": "ok", "new": "gap_not_significant"},
                               "model": {"old": "minilm_l3", "new": "mpnet"}}), "HEAD")
    assert [(v.key, v.verdict) for v in verdicts] == [("model", "DIFFERS"),
                                                      ("t/pooled/xent/pgr_accuracy_status", "DIFFERS")]
    assert "'ok' -> 'gap_not_significant'" in report(verdicts, "HEAD")


def git(repo: Path, *args: str) -> None:
    subprocess.run(["git", "-c", "user.name=t", "-c", "user.email=t@example.invalid", "-c", "commit.gpgsign=false",
                    *args], cwd=repo, check=True, capture_output=True)


def test_tables_are_read_from_git_and_the_workspace_not_from_dvc_metrics(tmp_path: Path) -> None:
    """The per-cell tables are no DVC metrics (only metrics/headline.json is): verify reads every
    metrics/**/*.json committed at the revision and in the workspace itself, nested keys flattened, less
    the headline (a summary of these tables) and the environment record."""
    repo = tmp_path / "repo"
    (repo / "metrics" / "truncation" / "t").mkdir(parents=True)
    files = {"metrics/pgr.json": {"t/a-to-b/xent/pgr_accuracy": 0.5, "t/a-to-b/xent/gap_accuracy": 0.1},
             "metrics/truncation/t/a.json": {"model": "a", "n_truncated": 3},
             "metrics/headline.json": {"t": {"xent": 0.5}}, "metrics/environment.json": {"cpu": "x"}}
    for name, content in files.items():
        (repo / name).write_text(json.dumps(content))
    (repo / "dvc.yaml").write_text("metrics:\n  - metrics/headline.json\n")
    git(repo, "init", "-q")
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "results")
    (repo / "metrics/pgr.json").write_text(json.dumps({"t/a-to-b/xent/pgr_accuracy": 0.6,
                                                       "t/a-to-b/xent/gap_accuracy": 0.1}))
    (repo / "metrics/headline.json").write_text(json.dumps({"t": {"xent": 0.6}}))
    diff = tables_diff(repo, "HEAD")
    assert sorted(diff) == ["metrics/pgr.json", "metrics/truncation/t/a.json"]
    assert diff["metrics/pgr.json"]["t/a-to-b/xent/pgr_accuracy"] == {"old": 0.5, "new": 0.6}
    by_key = {v.key: v.verdict for v in compare(diff, "HEAD")}
    assert by_key == {"t/a-to-b/xent/pgr_accuracy": "DIFFERS", "t/a-to-b/xent/gap_accuracy": "identical",
                      "n_truncated": "identical"}
    (repo / "metrics/truncation/t/a.json").unlink()
    with pytest.raises(InputError, match="metrics/truncation/t/a.json: model: present on one side only"):
        compare(tables_diff(repo, "HEAD"), "HEAD")
    with pytest.raises(InputError, match="nope: not a revision"):
        tables_diff(repo, "nope")
