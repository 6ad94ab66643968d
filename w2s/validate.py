"""Checks against hostile or careless input that the types of `w2s.config` cannot express.

Three places, three moments:

- `check_params` runs inside `w2s.config.validate`, i.e. in the root `validate` stage of dvc.yaml before
  any other stage (and again in every stage). Names from params reach `dvc.yaml` commands (run by a shell)
  and output paths (deleted by DVC before a stage runs), so every name must be `[a-z0-9_]+` in full before
  DVC runs a single command; lists must be non-empty; loss parameters must be usable. (Where a stage
  runs is not a param: `w2s.runtime` checks the environment variables.)
- `check_args` runs at the top of a stage script: its `--task`, `--model`, `--seed`, ... must be what
  params define, so a stage run by hand (then `dvc commit`) cannot write a wrongly labelled result.
- `check_features` reads a features file's metadata only: the file must be the one embedded for the model
  (and task, where recorded) that the stage trains.

`run_dirs` lists exactly the run directories that params define, so the analyses never discover runs
(a leftover temporary folder beside `seed0` must not enter the headline).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from w2s.errors import InputError

if TYPE_CHECKING:
    from w2s.config import Params

NAME = re.compile(r"[a-z0-9_]+")
"""Every name that reaches a path or a command: task, model key, method, loss. Used with `fullmatch`
(`re.match` with `$` would accept a trailing newline, which cuts a shell command short)."""

def check_name(name: object, where: str, what: str = "name") -> None:
    """`name` is a string of `[a-z0-9_]+` in full: it names files, DVC stages and shell arguments."""
    if not isinstance(name, str) or NAME.fullmatch(name) is None:
        raise InputError(f"{where}: {what} {name!r} must match [a-z0-9_]+ in full "
                         "(it names files, stages and command arguments)")


def check_params(p: Params, known_tasks: Sequence[str]) -> None:
    """Names, non-empty lists and loss parameters of a typed params file."""
    from w2s.loss_params import check_loss_params  # the losses' parameters, without torch

    for key in ("tasks", "ladder", "pairs", "methods"):
        if not getattr(p, key):
            raise InputError(f"{key}: must not be empty (every analysis needs at least one)")
    for name in p.data.file_tasks:
        check_name(name, "data.file_tasks", "key")
        if name in known_tasks:
            raise InputError(f"data.file_tasks: {name!r} is a built-in task; give the file task another name")
    for i, task in enumerate(p.tasks):
        check_name(task, f"tasks[{i}]")
    for key in p.models:
        check_name(key, "models", "key")
    for key in p.genft.models:
        check_name(key, "genft.models", "key")
    for i, model in enumerate(p.ladder):
        check_name(model, f"ladder[{i}]")
    for i, method in enumerate(p.methods):
        check_name(method, f"methods[{i}]")
    for name, values in p.losses.items():
        check_name(name, "losses", "key")
        try:
            check_loss_params(name, values)
        except InputError as err:
            raise InputError(f"losses.{name}: {err}") from None


def check_args(p: Params, *, task: str | None = None, models: Iterable[str] = (), seed: int | None = None,
               method: str | None = None, pair: tuple[str, str] | None = None) -> None:
    """A stage's arguments name what params define: `--task` in tasks, each model in the ladder (or an
    adapted `genft` key), `--seed` in seeds, `--method` in methods, `--pair` one of pairs."""
    if task is not None and task not in p.tasks:
        raise InputError(f"--task {task!r} is not in params.yaml tasks ({', '.join(p.tasks)})")
    for model in models:
        if model not in p.ladder and model not in p.genft.models:
            raise InputError(f"--model {model!r} is not in params.yaml ladder ({', '.join(p.ladder)})")
    if seed is not None and seed not in p.seeds:
        raise InputError(f"--seed {seed} is not in params.yaml seeds ({', '.join(map(str, p.seeds))})")
    if method is not None and method not in p.methods:
        raise InputError(f"--method {method!r} is not in params.yaml methods ({', '.join(p.methods)})")
    if pair is not None and pair not in {(q.weak, q.strong) for q in p.pairs}:
        raise InputError(f"--pair {pair[0]}-to-{pair[1]} is not in params.yaml pairs "
                         f"({', '.join(q.name for q in p.pairs)})")


def features_metadata(path: str | Path) -> dict[str, str]:
    """The string metadata of a safetensors features file (header only; no tensor is read)."""
    from safetensors import SafetensorError, safe_open

    if not Path(path).is_file():
        raise InputError(f"{path}: missing features file (run `dvc repro` to build it)")
    try:
        with safe_open(str(path), "np") as f:
            return dict(f.metadata() or {})
    except (SafetensorError, OSError, ValueError) as err:
        raise InputError(f"{path}: not a readable safetensors features file ({type(err).__name__})") from None


def check_features(path: str | Path, p: Params, model: str, task: str | None = None) -> None:
    """The features file at `path` was embedded with `model` (its recorded hub id, and its `model` key
    where recorded) for `task` (where recorded): a file of another model or task stops here."""
    meta = features_metadata(path)
    expected = {"hub_id": p.hub_id(model), "model": model, "task": task}
    for key, want in expected.items():
        if want is not None and key in meta and meta[key] != want:
            raise InputError(f"{path}: features of {key} {meta[key]!r}, but the stage was given {want!r}")


def run_dirs(p: Params, roots: Sequence[str | Path]) -> list[Path]:
    """The run directories params define under each root, in params order: under a `gt` root
    `<task>/<model>/seed<k>` for every ladder model, under a `w2s` root `<task>/<weak>-to-<strong>/<method>/
    seed<k>` (the paths dvc.yaml declares). Nothing else under a root is read, hidden folders included.
    A defined run without predictions stops with its path."""
    from w2s.runs import PREDICTIONS

    dirs: list[Path] = []
    for root in map(Path, roots):
        if root.name == "gt":
            dirs += [root / t / m / f"seed{s}" for t in p.tasks for m in p.ladder for s in p.seeds]
        elif root.name == "w2s":
            dirs += [root / t / q.name / meth / f"seed{s}" for t in p.tasks for q in p.pairs
                     for meth in p.methods for s in p.seeds]
        else:
            raise InputError(f"--runs {root}: expected the `gt` or `w2s` runs folder of dvc.yaml")
    for d in dirs:
        if not (d / PREDICTIONS).is_file():
            raise InputError(f"{d}: missing {PREDICTIONS} of a run that params define (run `dvc repro`)")
    return dirs
