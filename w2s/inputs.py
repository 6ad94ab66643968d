"""What one cell of the DAG reads from upstream outputs, and a manifest of their hashes (stage `*_inputs`).

Some cells read a few run folders or feature files chosen by a name that DVC cannot take apart: a
weak-to-strong cell `<weak>-to-<strong>` reads the weak model's gt run at its seed and the strong model's
features (pairs are strings in params.yaml because a DVC matrix names a scalar item by its value but a
mapping item by its index: `train_w2s@sst2-minilm_l3-to-mpnet-xent-0`, not `...-pair0-...`, which
inserting a pair would renumber); a bootstrap chain `M1-to-...-to-Mk` reads the gt runs of M1 and Mk at its
seed and the features of M2..Mk; a saliency cell reads the gt run of `saliency.weak` (null: the ladder's
weakest) at its seed. `dvc.yaml` interpolation cannot split a string or fall back on a null, so such a
stage could only depend on the task's whole `data/runs/gt/<task>` folder, and adding a seed (a new run
folder there) would rerun every existing cell.

Instead, a cheap `*_inputs` stage per cell depends on those whole folders, lists exactly the files the cell
reads (`w2s_reads`, `bootstrap_reads`, `w2s.saliency.saliency_reads`, which the cells themselves use to find
them) and writes their SHA-256 (`manifest`). The cell depends on that manifest: when a seed or a model is
added, the manifest stage reruns in a second and writes the same bytes, and DVC leaves the cell cached;
when a file the cell reads changes, its manifest changes and the cell reruns.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import TYPE_CHECKING

from w2s.errors import InputError

if TYPE_CHECKING:
    from w2s.config import Params


def w2s_reads(params: Params, pair: str, seed: int, gt_runs: str | Path, features: str | Path) -> dict[str, Path]:
    """The upstream outputs a `train_w2s` cell of `pair` (`<weak>-to-<strong>`) reads, by role: `weak` (the
    supervisor's gt run at `seed`) and, in probe mode, `features:<strong>`."""
    from w2s.config import Pair

    p = Pair.parse(pair)
    reads = {"weak": Path(gt_runs) / p.weak / f"seed{seed}"}
    if params.train.mode == "probe":
        reads[f"features:{p.strong}"] = Path(features) / f"{p.strong}.safetensors"
    return reads


def bootstrap_reads(params: Params, chain: str, seed: int, gt_runs: str | Path,
                    features: str | Path) -> dict[str, Path]:
    """The upstream outputs a `bootstrap` cell reads, by role: `weak` (M1's gt run at `seed`: the first
    hop's labels), `ceiling` (Mk's gt run) and, in probe mode, `features:<m>` for every student M2..Mk."""
    models = params.bootstrap.models(chain)
    reads = {"weak": Path(gt_runs) / models[0] / f"seed{seed}", "ceiling": Path(gt_runs) / models[-1] / f"seed{seed}"}
    if params.train.mode == "probe":
        reads |= {f"features:{m}": Path(features) / f"{m}.safetensors" for m in models[1:]}
    return reads


def sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def manifest(reads: dict[str, Path]) -> dict[str, dict[str, str]]:
    """role -> {file path: SHA-256} of every file of each read path (a folder: every file below it, sorted).
    A missing path is an InputError naming it (its upstream stage has not run)."""
    out: dict[str, dict[str, str]] = {}
    for role, path in sorted(reads.items()):
        if not path.exists():
            raise InputError(f"{path}: missing (the {role} input of this cell; run its upstream stage first)")
        files = sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else [path]
        out[role] = {p.as_posix(): sha256(p) for p in files}
    return out
