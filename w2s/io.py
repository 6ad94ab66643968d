"""Atomic reads and writes of pipeline outputs.

Every output is written to a temporary sibling and renamed into place, so a stage that dies midway
leaves no file that a later run could mistake for a result (DVC also discards a failed stage's
outputs; the rename protects the workspace between the two). The temporaries get the permissions of a
normal write (0666 / 0777 less the umask), not mkstemp's private 0600 / 0700.
"""

from __future__ import annotations

import json
import math
import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
from safetensors import SafetensorError
from safetensors.numpy import load_file, save_file

from w2s.errors import InputError


def _remove_stale(path: Path) -> None:
    """Delete temporaries `.<name>.*.tmp` left next to `path` by a writer that was killed (SIGKILL skips
    the cleanup below). Only one stage writes a given output, so any such sibling is dead; left alone,
    one inside a directory that a later stage depends on (data/runs/gt) would enter that stage's inputs."""
    for stale in path.parent.glob(f".{path.name}.*.tmp"):
        if stale.is_dir() and not stale.is_symlink():
            shutil.rmtree(stale, ignore_errors=True)
        else:
            stale.unlink(missing_ok=True)


def _umask() -> int:
    """The process umask. Linux shows it in /proc/self/status; elsewhere it is read by setting and
    restoring it (`os.umask` has no read-only form), which briefly changes it for other threads."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("Umask:"):
                return int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        pass
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def _as_normal_write(tmp: str | Path, *, directory: bool) -> None:
    """Give a mkstemp file (0600) or mkdtemp folder (0700) the mode a plain open()/mkdir() would have,
    0666 / 0777 less the umask, so the group (umask 002) or everyone (022) can read the outputs."""
    os.chmod(tmp, (0o777 if directory else 0o666) & ~_umask())


@contextmanager
def atomic_path(path: str | Path) -> Iterator[Path]:
    """Yield a temporary path next to `path`; on success rename it to `path`, else delete it."""
    path = Path(path)
    if path.is_dir():
        raise InputError(f"{path}: is a directory; the output must name a file")
    path.parent.mkdir(parents=True, exist_ok=True)
    _remove_stale(path)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    _as_normal_write(tmp_name, directory=False)
    tmp = Path(tmp_name)
    try:
        yield tmp
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


@contextmanager
def atomic_dir(path: str | Path) -> Iterator[Path]:
    """Yield a temporary directory; on success it replaces `path` as a whole, else it is removed."""
    path = Path(path)
    if path.exists() and not path.is_dir():
        raise InputError(f"{path}: is a file; the output must name a directory")
    path.parent.mkdir(parents=True, exist_ok=True)
    _remove_stale(path)
    tmp = Path(tempfile.mkdtemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent))
    _as_normal_write(tmp, directory=True)
    try:
        yield tmp
        if path.exists():
            shutil.rmtree(path)
        os.replace(tmp, path)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _clean(obj: Any) -> Any:
    """JSON-safe copy: numpy scalars to Python, NaN/inf to null (JSON has no NaN)."""
    if isinstance(obj, dict):
        return {str(k): _clean(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [_clean(v) for v in obj]
    if isinstance(obj, np.generic):
        obj = obj.item()
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    return obj


def write_json(obj: Any, path: str | Path) -> None:
    """Deterministic JSON (sorted keys, fixed float repr) written atomically."""
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(_clean(obj), indent=2, sort_keys=True) + "\n")


def read_json(path: str | Path) -> Any:
    return json.loads(Path(path).read_text())


def write_parquet(df: pl.DataFrame, path: str | Path) -> None:
    with atomic_path(path) as tmp:
        df.write_parquet(tmp, statistics=False)


def read_parquet(path: str | Path) -> pl.DataFrame:
    if not Path(path).is_file():
        raise InputError(f"{path}: missing (run the stage that writes it: `dvc repro`)")
    try:
        return pl.read_parquet(path)
    except (pl.exceptions.PolarsError, OSError) as err:  # named by type only: the message can quote content
        raise InputError(f"{path}: not a readable parquet file ({type(err).__name__})") from None


def write_features(path: str | Path, ids: np.ndarray, features: np.ndarray, meta: dict[str, str]) -> None:
    """ids (N,) int64 and features (N, D) float32 in one safetensors file; `meta` as string metadata."""
    with atomic_path(path) as tmp:
        save_file({"ids": np.ascontiguousarray(ids, dtype=np.int64),
                   "features": np.ascontiguousarray(features, dtype=np.float32)}, str(tmp), metadata=meta)
        _canonical_safetensors_header(tmp)


def _canonical_safetensors_header(path: Path) -> None:
    """Rewrite a safetensors header with sorted keys. safetensors keeps metadata in a hash map whose order
    changes from process to process, which would give byte-different files (and DVC hashes) for the
    same features. The tensor bytes are untouched (their offsets are relative to the end of the header)."""
    data = path.read_bytes()
    n = int.from_bytes(data[:8], "little")
    header = json.dumps(json.loads(data[8:8 + n]), sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    raw = header.encode()
    raw += b" " * (-len(raw) % 8)  # the format pads the header with spaces to 8-byte alignment
    path.write_bytes(len(raw).to_bytes(8, "little") + raw + data[8 + n:])


def read_features(path: str | Path) -> tuple[np.ndarray, np.ndarray]:
    """(ids (N,), features (N, D)) as written by `write_features`."""
    if not Path(path).is_file():
        raise InputError(f"{path}: missing features file (run `dvc repro` to build it)")
    try:
        tensors = load_file(str(path))
        return tensors["ids"], tensors["features"]
    except (SafetensorError, OSError, KeyError) as err:
        raise InputError(f"{path}: not a readable features file ({type(err).__name__})") from None
