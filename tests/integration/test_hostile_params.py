"""Hostile params files and hand-run stages under real DVC (issue 19).

One small study (sst2, minilm_l3 -> minilm_l6, xent, one seed, 200 + 100 rows) is reproduced up to
`analyze` once and committed to git. Each case clones it, writes one hostile params file and runs a plain
`dvc repro`: it must exit non-zero with one `error:` line naming the params key, run no command built
from a params name (no `pwned` file), delete nothing inside or outside the repo (a sentinel file beside
the repo survives) and leave `git status` clean (metrics, dvc.lock, data untouched).
"""

from __future__ import annotations

import shutil
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import polars as pl
import pytest
import yaml
from lab import clone_lab, copy_lab, dvc, files, git, run, small_params, stages_run, write_params

pytestmark = pytest.mark.integration

_BUILT: dict[str, Path] = {}
FILE_TASK = {"path": "data/raw/mine.csv", "text_column": "text", "label_column": "label"}


@pytest.fixture
def lab(tmp_path_factory: pytest.TempPathFactory, tmp_path: Path, data_dir: Path) -> Path:
    """A clone of the committed small study; built once per session (~1 min on 2 cores)."""
    if "lab" not in _BUILT:
        params = small_params(data_dir)
        params.update(methods=["xent"])
        params["bootstrap"]["chains"] = []
        src = copy_lab(tmp_path_factory.mktemp("hostile") / "lab", params)
        (src / "data/raw").mkdir(parents=True)
        (src / "data/raw/mydata.parquet").write_bytes(b"the user's own data, committed to git\n")
        dvc(src, "repro", "analyze")
        git(src, "add", "-A")
        git(src, "add", "-f", "data/raw/mydata.parquet")
        git(src, "commit", "-q", "-m", "small study")
        _BUILT["lab"] = src
    return clone_lab(_BUILT["lab"], tmp_path / "repo" / "lab")


def edit(lab: Path, change: Callable[[dict[str, Any]], None]) -> None:
    params = yaml.safe_load((lab / "params.yaml").read_text())
    change(params)
    write_params(lab, params)


def git_changes(lab: Path) -> list[str]:
    """`git status --porcelain` less params.yaml (the file the case edits on purpose)."""
    out = run(lab, "git", "status", "--porcelain", "--untracked-files=all").stdout
    return [line for line in out.splitlines() if not line.endswith("params.yaml")]


def repro_refuses(lab: Path, needle: str, intact: Callable[[], None] | None = None) -> str:
    """A plain `dvc repro` runs no command from params (no `pwned` file), leaves `intact` files and the git
    checkout unchanged, and exits non-zero with one `error:` line holding `needle`; checked in that order,
    so the harm shows first."""
    done = dvc(lab, "repro", check=False)
    out = done.stdout + done.stderr
    assert not [f for f in files(lab.parent.parent) if "pwned" in f], f"a command from params ran:\n{out}"
    if intact is not None:
        intact()
    assert git_changes(lab) == [], out
    errors = [line for line in out.splitlines() if line.startswith("error:")]
    assert done.returncode != 0, out
    assert len(errors) == 1 and needle in errors[0], out
    assert "Traceback" not in out, out
    print(f"{needle}: {errors[0]}")
    return errors[0]


def _rename_model(p: dict[str, Any]) -> None:
    bad = "minilm_l3`touch pwned`"
    p["models"][bad] = p["models"].pop("minilm_l3")
    p["ladder"][0] = bad
    p["pairs"][0] = f"{bad}-to-{p['pairs'][0].split('-to-')[1]}"
    p["saliency"]["weak"] = bad


INJECTIONS: dict[str, tuple[Callable[[dict[str, Any]], None], str]] = {
    "task": (lambda p: p.update(tasks=["sst2$(touch pwned)"]), "tasks[0]"),
    "model key": (_rename_model, "models: key"),
    "method": (lambda p: (p.update(methods=["xent;touch pwned"]), p["losses"].update({"xent;touch pwned": {}})),
               "methods[0]"),
    "trailing newline": (lambda p: (p.update(tasks=["mine\n"]), p["data"]["file_tasks"].update({"mine\n": FILE_TASK})),
                         "data.file_tasks: key 'mine\\n'"),
}


@pytest.mark.parametrize("case", list(INJECTIONS))
def test_names_from_params_never_reach_a_shell(lab: Path, case: str) -> None:
    change, needle = INJECTIONS[case]
    edit(lab, change)
    repro_refuses(lab, needle)


def test_task_names_cannot_delete_files_inside_or_outside_the_repo(lab: Path) -> None:
    """`data/prepared/${task}.parquet` with task `../../../victim` is a file beside the repo, which DVC
    deletes before running `prepare`. (Here `saliency` writes `data/saliency/${task}.parquet`, the same
    path, and the *_inputs stages' deps and outs overlap under such a name, so DVC refuses the DAG by luck;
    a DAG without them, as the issue's, is the one at risk.)"""
    dag = yaml.safe_load((lab / "dvc.yaml").read_text())
    for stage in ("saliency_inputs", "saliency", "saliency_summary", "train_w2s_inputs", "bootstrap_inputs"):
        del dag["stages"][stage]
    (lab / "dvc.yaml").write_text(yaml.safe_dump(dag, sort_keys=False))
    git(lab, "commit", "-q", "-am", "a DAG in which only prepare writes <task>.parquet")
    outside = lab.parent / "victim.parquet"  # data/prepared/../../../victim.parquet
    outside.write_bytes(b"sentinel outside the repo\n")
    own = (lab / "data/raw/mydata.parquet").read_bytes()

    def intact() -> None:
        assert outside.is_file() and outside.read_bytes() == b"sentinel outside the repo\n", "deleted outside"
        assert (lab / "data/raw/mydata.parquet").read_bytes() == own, "deleted the user's data file"

    for task in ("../../../victim", "../raw/mydata"):
        edit(lab, lambda p, task=task: p.update(tasks=[task]))
        repro_refuses(lab, f"tasks[0]: name {task!r}", intact)


BAD_VALUES: dict[str, tuple[Callable[[dict[str, Any]], None], str]] = {
    "no tasks": (lambda p: p.update(tasks=[]), "tasks: must not be empty"),
    "no pairs": (lambda p: p.update(pairs=[]), "pairs: must not be empty"),
    "no methods": (lambda p: p.update(methods=[]), "methods: must not be empty"),
    "nan lr": (lambda p: p["train"].update(lr=float("nan")), "train.lr: must be a finite number"),
    "file task shadows a built-in": (lambda p: p["data"]["file_tasks"].update(sst2=FILE_TASK),
                                     "data.file_tasks: 'sst2' is a built-in task"),
    "a machine setting in params": (lambda p: p["embed"].update(device="cuda"), "embed: unknown key 'device'"),
}


@pytest.mark.parametrize("case", list(BAD_VALUES))
def test_bad_params_lose_no_result(lab: Path, case: str) -> None:
    """Checked by the root `validate` stage before DVC deletes any output: the committed metrics stay."""
    change, needle = BAD_VALUES[case]
    edit(lab, change)
    repro_refuses(lab, needle)


ANALYSES = {  # stage -> its command's arguments after the runs folders, and the metrics file it writes
    "analyze": (["--tables", "data/analysis", "--accuracy", "metrics/accuracy.json", "--pgr", "metrics/pgr.json",
                 "--plot", "plots/pgr.json"],
                "metrics/pgr.json"),
    "agreement": (["--out", "data/agreement", "--metrics", "metrics/agreement.json",
                   "--plot", "plots/agreement.json"], "metrics/agreement.json"),
    "overfitting": (["--out", "data/overfitting", "--metrics", "metrics/overfitting.json",
                     "--plot", "plots/training_curves.json"], "metrics/overfitting.json"),
}


def run_analyses(lab: Path) -> dict[str, bytes]:
    """Run the three analyses on the lab's runs; their metrics files' bytes."""
    out = {}
    for stage, (args, metrics) in ANALYSES.items():
        run(lab, sys.executable, f"stages/{stage}.py", "--runs", "data/runs/gt", "data/runs/w2s", *args)
        out[stage] = (lab / metrics).read_bytes()
    return out


def test_a_leftover_temporary_run_folder_changes_nothing(lab: Path) -> None:
    """A `.seed0.<random>.tmp` folder beside `seed0` (a killed atomic write) holding other predictions:
    `analyze`, `agreement` and `overfitting` read exactly the runs params define, so their metrics are
    byte-identical with and without it (and analyze's equal the committed ones)."""
    committed = (lab / "metrics/pgr.json").read_bytes()
    decoys = []
    for kind, run_dir in (("gt", "gt/sst2/minilm_l3/seed0"), ("w2s", "w2s/sst2/minilm_l3-to-minilm_l6/xent/seed0")):
        real = lab / "data/runs" / run_dir
        decoy = real.parent / f".seed0.x{kind}.tmp"
        shutil.copytree(real, decoy)
        preds = pl.read_parquet(decoy / "predictions.parquet")
        (decoy / "predictions.parquet").unlink()
        preds.with_columns(p1=1.0 - pl.col("p1")).write_parquet(decoy / "predictions.parquet")
        decoys.append(decoy)
    with_decoys = run_analyses(lab)
    assert with_decoys["analyze"] == committed
    for decoy in decoys:
        shutil.rmtree(decoy)
    assert run_analyses(lab) == with_decoys


def test_an_unrelated_param_change_reruns_only_its_stages(lab: Path) -> None:
    """`validate` reruns on any params change, but its marker output is constant: a change of
    `analyze.n_resamples` reruns `validate` and `analyze`, no training stage."""
    edit(lab, lambda p: p["analyze"].update(n_resamples=300))
    out = dvc(lab, "repro", "analyze").stdout
    assert stages_run(out) == ["analyze", "validate"], out


STAGE_ARGS: dict[str, tuple[list[str], str]] = {
    "features of another model": (["--model", "minilm_l6", "--seed", "0"], "features of hub_id"),
    "seed not in params": (["--model", "minilm_l3", "--seed", "7"], "--seed 7 is not in params.yaml seeds"),
}


@pytest.mark.parametrize("case", list(STAGE_ARGS))
def test_hand_run_stage_checks_its_arguments(lab: Path, case: str) -> None:
    """`train_gt` run by hand with arguments params do not define writes nothing (exit 2, one line)."""
    extra, needle = STAGE_ARGS[case]
    out = lab / "data/runs/gt/sst2/by_hand"
    done = run(lab, sys.executable, "stages/train_gt.py", "--task", "sst2", *extra, "--pool",
               "data/prepared/sst2.parquet", "--features", "data/features/sst2/minilm_l3.safetensors",
               "--out", str(out), check=False)
    errors = [line for line in done.stderr.splitlines() if line.startswith("error:")]
    assert done.returncode == 2 and len(errors) == 1 and needle in errors[0], done.stderr
    assert not out.exists()
    print(f"{case}: {errors[0]}")
