"""What one cell of the DAG reads from upstream outputs, and a manifest of their hashes (stage `*_inputs`).

Some cells read a few run folders or feature files chosen by a name that DVC cannot take apart: a
bootstrap chain `M1-to-...-to-Mk` reads the gt runs of M1 and Mk at its seed and the features of M2..Mk;
a saliency cell reads the gt run of `saliency.weak` (null: the ladder's weakest) at its seed. `dvc.yaml`
interpolation cannot split a string or fall back on a null, so such a stage could only depend on the
task's whole `data/runs/gt/<task>` folder, and adding a seed (a new run folder there) would rerun every
existing cell.

Instead, a cheap `*_inputs` stage per cell depends on those whole folders, lists exactly the files the cell
reads (`bootstrap_reads`, `saliency_reads`, which the cells themselves use to find them) and writes their
SHA-256 (`manifest`). The cell depends on that manifest: when a seed or a model is added, the manifest
stage reruns in a second and writes the same bytes, and DVC leaves the cell cached; when a file the cell
reads changes, its manifest changes and the cell reruns.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import TYPE_CHECKING

from w2s.errors import InputError

if TYPE_CHECKING:
    from w2s.config import Params


def bootstrap_reads(params: Params, chain: str, seed: int, gt_runs: str | Path,
                    features: str | Path) -> dict[str, Path]:
    """The upstream outputs a `bootstrap` cell reads, by role: `weak` (M1's gt run at `seed`: the first
    hop's labels), `ceiling` (Mk's gt run) and, in probe mode, `features:<m>` for every student M2..Mk."""
    models = params.bootstrap.models(chain)
    reads = {"weak": Path(gt_runs) / models[0] / f"seed{seed}", "ceiling": Path(gt_runs) / models[-1] / f"seed{seed}"}
    if params.train.mode == "probe":
        reads |= {f"features:{m}": Path(features) / f"{m}.safetensors" for m in models[1:]}
    return reads


def saliency_reads(params: Params, seed: int, gt_runs: str | Path) -> dict[str, Path]:
    """The upstream outputs a `saliency` cell reads: `weak`, the supervisor's gt run at `seed`; nothing
    when the cell is skipped (`w2s.saliency.saliency_cell`)."""
    from w2s.saliency import saliency_cell

    _, weak, skip = saliency_cell(params, seed)
    return {} if skip else {"weak": Path(gt_runs) / weak / f"seed{seed}"}


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
