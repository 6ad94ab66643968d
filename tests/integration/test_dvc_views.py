"""What DVC shows a researcher, on the session's small real pipeline (`lab.tiny_lab`) committed together
with the checkout's studies/ (issue 13, points 7 to 9):

- one headline metrics file: `dvc metrics show` of the default params and `dvc exp show --only-changed`
  of a two-experiment sweep fit 160 columns; an undefined PGR is a word `dvc metrics diff` prints;
- a fresh clone (no data/, no DVC cache, no stage run) draws `dvc plots show` and `dvc plots diff`;
- the decoder study (its own DVC project) adds no warning and no params to repo-wide commands.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from lab import ROOT, clone_lab, dvc, env, git, run, tiny_lab

from w2s.config import load_params
from w2s.headline import headline

pytestmark = pytest.mark.integration

COLUMNS = 160


def width(text: str) -> int:
    return max((len(line) for line in text.splitlines()), default=0)


def dvc_at_width(repo: Path, *args: str) -> subprocess.CompletedProcess:
    """`dvc <args>` as printed to a terminal of COLUMNS columns."""
    done = subprocess.run([sys.executable, "-m", "dvc", *args], cwd=repo, capture_output=True, text=True,
                          env={**env(repo), "COLUMNS": str(COLUMNS)})
    assert done.returncode == 0, done.stderr
    return done


@pytest.fixture(scope="module")
def origin(tmp_path_factory: pytest.TempPathFactory, data_dir: Path) -> Path:
    """The reproduced small lab with the checkout's studies/ (their code and params, no results), committed."""
    lab = clone_lab(tiny_lab(tmp_path_factory.getbasetemp(), data_dir), tmp_path_factory.mktemp("views") / "lab")
    shutil.copytree(ROOT / "studies", lab / "studies",
                    ignore=shutil.ignore_patterns("data", "metrics", "dvc.lock", "tmp", "cache", "config.local"))
    git(lab, "add", "-A")
    git(lab, "commit", "-qm", "results")
    return lab


@pytest.fixture()
def fresh(origin: Path, tmp_path: Path) -> Path:
    clone = tmp_path / "fresh"
    run(tmp_path, "git", "clone", "-q", str(origin), str(clone))
    # only the committed data records (data/sources), no DVC output and no cache
    assert not (clone / "data" / "runs").exists() and not (clone / ".dvc" / "cache").exists()
    return clone


def test_a_fresh_clone_draws_the_plots_without_a_run(fresh: Path) -> None:
    """The plot data (plots/) and the offline page are committed: nothing to run, nothing to pull."""
    dvc(fresh, "plots", "show", "-o", "shown")
    html = (fresh / "shown" / "index.html").read_text()
    assert not re.search(r"""<script[^>]+src=["']?(https?:)?//""", html, re.IGNORECASE), "a CDN script"
    assert html.count("vegaEmbed('#") == 5  # training_curves, agreement, pgr, saliency, difficulty
    for value in ('"pgr_accuracy"', '"minilm_l3-to-minilm_l6"', '"finetune_weak_probe_gt"', '"step"'):
        assert value in html, f"plot data {value} not in the page"
    dvc(fresh, "plots", "diff", "HEAD", "-o", "diffed")  # an older commit's plots: from git, no cache
    assert (fresh / "diffed" / "index.html").read_text().count("vegaEmbed('#") == 5


def test_repo_wide_commands_show_only_the_headline_and_no_study(fresh: Path) -> None:
    for args in (("metrics", "show"), ("metrics", "diff", "HEAD", "--all"), ("params", "diff", "--all"),
                 ("exp", "show", "--no-pager")):
        done = dvc_at_width(fresh, *args)
        assert "failed to load" not in done.stderr + done.stdout, (args, done.stderr)
        assert "studies/" not in done.stdout, (args, done.stdout)
    shown = dvc_at_width(fresh, "metrics", "show").stdout
    assert [line.split()[0] for line in shown.splitlines()[1:]] == ["metrics/headline.json"]
    for key in ("sst2.xent", "sst2.logconf", "sst2.ceiling", "agreement", "overfit"):
        assert key in shown.splitlines()[0]
    assert "n_params" not in shown and width(shown) <= COLUMNS, shown


def test_an_undefined_pgr_shows_in_metrics_diff(origin: Path, tmp_path: Path) -> None:
    """The pooled xent PGR turns undefined (its gap not significant): `dvc metrics diff` prints the word,
    where a null would print "-" like a key that does not exist."""
    lab = clone_lab(origin, tmp_path / "lab")
    pgr_file = lab / "metrics" / "pgr.json"
    pgr = json.loads(pgr_file.read_text())
    pgr |= {"sst2/pooled/xent/pgr_accuracy": None, "sst2/pooled/xent/pgr_accuracy_status": "gap_not_significant"}
    pgr_file.write_text(json.dumps(pgr))
    run(lab, sys.executable, "stages/headline.py", "--tables", "metrics", "--out", "metrics/headline.json")
    out = dvc(lab, "metrics", "diff").stdout
    row = next(line for line in out.splitlines() if " sst2.xent " in line).split()
    assert row[0] == "metrics/headline.json" and row[-2] == "n.s.", out


def test_the_default_params_headline_fits_160_columns(tmp_path: Path) -> None:
    """The headline of the default params (every task, method and analysis figure), its values as wide as
    DVC prints them (negative, 5 decimals), and with the widest word, in `dvc metrics show`."""
    params = load_params(ROOT / "params.yaml")
    wide = -0.123456789
    tables: dict[str, dict] = {"pgr": {}, "accuracy": {}}
    for task in params.tasks:
        tables["accuracy"][f"{task}/gt/{params.ladder[-1]}/accuracy"] = 0.123456789
        for method in params.methods:
            tables["pgr"] |= {f"{task}/pooled/{method}/pgr_accuracy": wide,
                              f"{task}/pooled/{method}/pgr_accuracy_status": "ok"}
    tables["pgr"] |= {f"{params.tasks[0]}/pooled/{params.methods[0]}/pgr_accuracy": None,
                      f"{params.tasks[0]}/pooled/{params.methods[0]}/pgr_accuracy_status": "undefined"}
    tables |= {"agreement": {"t/p/m/agreement_supervisor_wrong": wide},
               "bootstrap": {"t/c/chain/pgr_accuracy": wide, "t/c/direct/pgr_accuracy": 0.0},
               "overfitting": {"t/p/m/pgr_early_stop": wide, "t/p/m/pgr_final": 0.0},
               "saliency": {"t/finetune_weak_probe_gt/accuracy": wide, "t/finetune_weak/accuracy": 0.0}}
    repo = tmp_path / "repo"
    (repo / "metrics").mkdir(parents=True)
    (repo / "metrics" / "headline.json").write_text(json.dumps(headline(tables, params)))
    (repo / "dvc.yaml").write_text("metrics:\n  - metrics/headline.json\n")
    git(repo, "init", "-q")
    dvc(repo, "init", "-q")
    shown = dvc_at_width(repo, "metrics", "show").stdout
    assert "undefined" in shown and "-0.12346" in shown
    assert width(shown) <= COLUMNS, f"{width(shown)} columns:\n{shown}"


def test_exp_show_of_a_two_experiment_sweep_fits_160_columns(origin: Path, tmp_path: Path) -> None:
    """Two experiments over `methods` (one drops logconf, one adds product: the headline's columns and its
    agreement change). `exp show` also gives every changed dependency path a column of its hash (~38
    characters: data/runs/w2s, the tables the headline reads), which no sweep that reruns a stage fits
    beside the numbers; `--drop '.*/.*'` removes exactly those (metric and param names hold no "/")."""
    lab = clone_lab(origin, tmp_path / "lab")
    for methods in ("[xent]", "[xent,logconf,product]"):
        dvc(lab, "exp", "run", "headline", "-S", f"methods={methods}")
    shown = dvc_at_width(lab, "exp", "show", "--only-changed", "--drop", ".*/.*", "--no-pager").stdout
    print(shown)
    header = next(line for line in shown.splitlines() if "Experiment" in line).split()
    assert {"methods", "sst2.logconf", "sst2.product"} <= set(header) and not any("/" in h for h in header)
    assert "…" not in shown and width(shown) <= COLUMNS, f"{width(shown)} columns:\n{shown}"
