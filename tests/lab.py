"""A throwaway copy of the laboratory for tests that run the real stage scripts or real DVC.

`copy_lab` copies the DAG (dvc.yaml, stages/, w2s/) and a params.yaml into a fresh folder, optionally
initialises git + DVC there, and `run`/`dvc` execute commands in it with the copy's own `w2s` first on
the import path (the editable install would otherwise import the checkout's). `tiny_lab` builds one
small, fully reproduced pipeline per pytest session that several integration tests copy and reuse.

Importable from any test module: pytest puts tests/ on sys.path because tests/conftest.py lives here.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[1]


def default_params() -> dict[str, Any]:
    return yaml.safe_load((ROOT / "params.yaml").read_text())


def small_params(data_dir: Path) -> dict[str, Any]:
    """The smallest real study: sst2, minilm_l3 -> minilm_l6, both methods, one seed, 200 + 100 rows."""
    params = default_params()
    params["data"]["local_dir"] = str(data_dir)
    params.update(tasks=["sst2"], ladder=["minilm_l3", "minilm_l6"],
                  pairs=["minilm_l3-to-minilm_l6"], methods=["xent", "logconf"], seeds=[0])
    params["prepare"].update(n_train=200, n_test=100)
    params["train"].update(epochs=3)
    params["analyze"].update(n_resamples=200)
    params["sensitivity"] = {"c_grid": [0.01, 1.0]}  # two Cs: the stage runs, cheaply
    if "bootstrap" in params:  # sections naming ladder models follow the two-model ladder
        params["bootstrap"]["chains"] = ["minilm_l3-to-minilm_l6"]
    return params


def write_params(repo: Path, params: dict[str, Any]) -> None:
    (repo / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))


def env(repo: Path) -> dict[str, str]:
    """The environment of a lab command: this venv's `python`/`dvc` first, the lab's `w2s` imported, and
    the hub offline. Thread counts (W2S_THREADS, OMP_NUM_THREADS) are inherited from the caller."""
    return {**os.environ, "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}",
            "PYTHONPATH": str(repo), "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1", "PYTHONUNBUFFERED": "1"}


def run(repo: Path, *cmd: str | Path, check: bool = True, timeout: float | None = 900) -> subprocess.CompletedProcess:
    """Run `cmd` in `repo`; with check, a non-zero exit fails the test showing the output."""
    done = subprocess.run([str(c) for c in cmd], cwd=repo, env=env(repo), capture_output=True, text=True,
                          timeout=timeout)
    if check:
        shown = " ".join(map(str, cmd))
        assert done.returncode == 0, f"{shown} failed ({done.returncode}):\n{done.stdout}\n{done.stderr}"
    return done


def dvc(repo: Path, *args: str, check: bool = True) -> subprocess.CompletedProcess:
    return run(repo, sys.executable, "-m", "dvc", *args, check=check)


#: Stages DVC runs on every `dvc repro` (always_changed): `sources@<task>` rehashes each task's data
#: (w2s/sources.py); its manifest, and so everything after it, changes only when the data does.
ALWAYS_RUN = "sources@"


def stages_run(repro_output: str) -> list[str]:
    """The stages a `dvc repro` ran ("Running stage '...'" lines), less the always-run `sources@…`."""
    ran = (line.split("'")[1] for line in repro_output.splitlines() if line.startswith("Running stage '"))
    return sorted(name for name in ran if not name.startswith(ALWAYS_RUN))


def stale(repo: Path, *targets: str) -> dict[str, Any]:
    """`dvc status --with-deps --json` of `targets` less the always-run `sources@…` stages (reported as
    "always changed"): {} when nothing needs rerunning."""
    status = json.loads(dvc(repo, "status", "--with-deps", "--json", *targets).stdout or "{}")
    return {name: why for name, why in status.items() if not name.split(":")[-1].startswith(ALWAYS_RUN)}


def git(repo: Path, *args: str) -> subprocess.CompletedProcess:
    return run(repo, "git", "-c", "user.name=w2s-test", "-c", "user.email=w2s-test@example.invalid",
               "-c", "commit.gpgsign=false", *args)


def lab_files() -> list[str]:
    """The project files a lab needs: every file git tracks or would track (ignored ones excluded), less
    the tests, CI, the checkout's own results (dvc.lock, metrics/, data/, DVC's cache) and the other DVC
    projects under studies/ (a plain `dvc repro` would run them too)."""
    skip = ("tests/", ".ci/", "metrics/", "data/", ".dvc/cache/", ".dvc/tmp/", ".git/", "studies/")
    try:
        listed = subprocess.run(["git", "ls-files", "-co", "--exclude-standard", "-z"], cwd=ROOT, check=True,
                                capture_output=True, text=True).stdout.split("\0")
    except (OSError, subprocess.CalledProcessError):  # not a git checkout: the DAG and its code
        listed = ["dvc.yaml", "params.yaml", *(str(p.relative_to(ROOT)) for name in ("stages", "w2s")
                                               for p in (ROOT / name).rglob("*.py"))]
    return sorted(f for f in listed if f and f != "dvc.lock" and not f.startswith(skip) and (ROOT / f).is_file()
                  and "__pycache__" not in f)


def copy_lab(dest: Path, params: dict[str, Any], *, init: bool = True) -> Path:
    """A lab in `dest` (created): the project (`lab_files`) with `params`; with init, git and DVC set up
    (the checkout's .dvc/config is kept when it has one)."""
    dest.mkdir(parents=True, exist_ok=True)
    for name in lab_files():
        (dest / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(ROOT / name, dest / name)
    write_params(dest, params)
    if init:
        git(dest, "init", "-q")
        if not (dest / ".dvc" / "config").is_file():
            dvc(dest, "init", "-q")
        dvc(dest, "config", "core.analytics", "false")
    return dest


def clone_lab(src: Path, dest: Path) -> Path:
    """A full copy of a lab (workspace, .git, .dvc with its cache), as a second machine would have."""
    shutil.copytree(src, dest, symlinks=True)
    return dest


def files(repo: Path, under: str = ".") -> set[str]:
    """Every file below `repo/under` (relative to repo), skipping git, DVC's tmp and Python caches."""
    root = repo / under
    if not root.exists():
        return set()
    out = set()
    for path in root.rglob("*"):
        parts = path.relative_to(repo).parts
        if path.is_dir() or parts[0] == ".git" or parts[:2] == (".dvc", "tmp") or "__pycache__" in parts:
            continue
        out.add("/".join(parts))
    return out


def fresh_copy(src: Path, dest: Path) -> Path:
    """A copy of lab `src` with the same code and params but no results: no data/, metrics/, dvc.lock or
    DVC cache (a fresh clone before its first `dvc repro`)."""
    def ignore(folder: str, names: list[str]) -> list[str]:
        here = Path(folder)
        if here == src:
            return [n for n in names if n in ("data", "metrics", "dvc.lock")]
        return [n for n in names if n in ("cache", "tmp")] if here == src / ".dvc" else []

    shutil.copytree(src, dest, symlinks=True, ignore=ignore)
    return dest


#: The stage that the reproducibility, interruption and sweep tests rerun: the core DAG (prepare, embed,
#: train_gt, train_w2s, analyze), which writes metrics/accuracy.json and metrics/pgr.json; the other
#: stages are left out of those reruns to keep them small.
TARGET = "analyze"
_TINY: dict[str, Path] = {}


def tiny_lab(tmp_root: Path, data_dir: Path) -> Path:
    """The small study (`small_params`) reproduced once per session with `dvc repro`; copy it with
    `clone_lab` before changing anything. Returns the lab's path."""
    if "lab" not in _TINY:
        lab = copy_lab(tmp_root / "tiny_lab", small_params(data_dir))
        dvc(lab, "repro")  # every stage: other tests read the analyses and the report too
        _TINY["lab"] = lab
    return _TINY["lab"]
