"""What each task's data is, pinned by content, so that DVC reruns `prepare` exactly when it changes.

DVC's dependencies are fixed paths inside the project; a task's data is not: a mirror folder beside
the project (`data.local_dir`, e.g. ../shared/datasets, resolved by `w2s.tasks.data_path`), a user's
file (`data.file_tasks.<name>.path`) or a hub dataset, and which one is chosen by params
(`data.source: auto`). So the cheap stage `sources@<task>`, which DVC runs on every `dvc repro`
(`always_changed`), writes a manifest (`describe`) of what the task's `prepare` reads: the source
that ran, each file's path and sha256, or the hub id, revision and commit. `prepare@<task>` depends
on that manifest: when no byte of the data changed the manifest is identical and `prepare` stays
cached; an edited file changes one hash and reruns that task's `prepare` and what follows from it.
`prepare` describes its data again and refuses when it differs from the manifest (`check_unchanged`),
so a file edited between the two stages cannot slip through.
"""

from __future__ import annotations

import hashlib
import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from w2s.config import Params
from w2s.errors import InputError
from w2s.puzzles import CHESS_TASKS, puzzle_file
from w2s.tasks import TASKS, data_path, local_files, pick_source


def file_sha256(path: Path) -> str:
    """The sha256 of a file's bytes (read in 1 MiB blocks); a missing file is InputError naming it."""
    if not path.is_file():
        raise InputError(f"{path}: file not found")
    digest = hashlib.sha256()
    with path.open("rb") as f:
        while block := f.read(1 << 20):
            digest.update(block)
    return digest.hexdigest()


def _offline() -> bool:
    return any(os.environ.get(key, "") not in ("", "0") for key in ("HF_HUB_OFFLINE", "HF_DATASETS_OFFLINE"))


def hub_commit(hub_id: str, revision: str | None, cache_dir: str | Path | None = None) -> str | None:
    """The commit that a hub dataset's `revision` (None: the default branch, main) names.

    A 40-hex revision is a commit already. Offline, the ref that the hub cache (`cache_dir`, default
    huggingface_hub's HF_HUB_CACHE) recorded when it downloaded the dataset, or None when it never did
    (then loading it fails too); online, the hub's answer, and a revision the hub does not know is
    InputError naming the id and revision. Recorded so that a moved branch shows in the manifest.
    """
    rev = revision or "main"
    if re.fullmatch(r"[0-9a-f]{40}", rev):
        return rev
    if _offline():
        from huggingface_hub.constants import HF_HUB_CACHE

        ref = Path(cache_dir or HF_HUB_CACHE) / f"datasets--{hub_id.replace('/', '--')}" / "refs" / rev
        return ref.read_text().strip() if ref.is_file() else None
    from huggingface_hub import HfApi

    try:
        return HfApi().dataset_info(hub_id, revision=rev).sha
    except Exception as e:  # any hub failure (unknown repo or revision, network): one line
        raise InputError(f"hub dataset {hub_id} revision {rev}: cannot resolve it ({type(e).__name__}); "
                         "set HF_DATASETS_OFFLINE=1 to use the cache, or data.source: local") from None


def _file(path: str, where: Path) -> dict[str, str]:
    return {"path": path, "sha256": file_sha256(where)}


def describe(params: Params, task: str, hub_revision: str | None = None) -> dict[str, Any]:
    """The manifest of `task`'s data: `source` (what ran: local | hub | file) and `requested`
    (data.source), then for a mirror its `local_dir` and each split file's path (relative to it) and
    sha256; for a file task its path and test_path (as params give them) and sha256s; for the hub its id, load options,
    `revision` (`hub_revision`, None: main) and the commit it resolves to (`hub_commit`).

    Paths are recorded as params give them, never resolved, so the manifest is the same in the
    workspace, in a queued experiment's copy and on another machine with the same data.
    """
    data = params.data
    if task in CHESS_TASKS:
        return chess_manifest(params, task)
    if task in data.file_tasks:
        ft = data.file_tasks[task]
        paths = {"train": ft.path, **({"test": ft.test_path} if ft.test_path else {})}
        return {"task": task, "source": "file", "requested": "file",
                "files": {split: _file(path, data_path(path)) for split, path in paths.items()}}
    source = pick_source(task, data.source, data.local_dir)
    out: dict[str, Any] = {"task": task, "source": source, "requested": data.source}
    if source == "local":
        root = data_path(data.local_dir or "")
        out["local_dir"] = data.local_dir
        out["files"] = {split: _file(path.relative_to(root).as_posix(), path)
                        for split, path in local_files(task, data.local_dir).items()}
    else:
        spec = TASKS[task]
        out.update(hub_id=spec.hub_id, hub_kwargs=dict(spec.hub_kwargs), revision=hub_revision or "main",
                   commit=hub_commit(spec.hub_id, hub_revision))
    return out


def chess_manifest(params: Params, task: str) -> dict[str, Any]:
    """A chess task's manifest: `source` file (a Lichess CSV, `chess.path`, or a generated set, data/chess/
    <set>.csv; `requested` says which) with its sha256, or the hub as for the built-in tasks."""
    chess = params.chess
    path = puzzle_file(chess)
    if path is None:
        return {"task": task, "source": "hub", "requested": "chess.source hub", "hub_id": chess.hub_id,
                "hub_kwargs": {}, "revision": "main", "commit": hub_commit(chess.hub_id, None)}
    return {"task": task, "source": "file", "requested": f"chess.source {chess.source}",
            "files": {"train": _file(path, data_path(path))}}


def summary(manifest: Mapping[str, Any]) -> str:
    """One line: the task, the source that ran and what it read (file names with short hashes, or the
    hub id at its revision and commit)."""
    if manifest["source"] == "hub":
        commit = (manifest["commit"] or "unresolved")[:12]
        what = f"{manifest['hub_id']}@{manifest['revision']} (commit {commit})"
    else:
        what = ", ".join(f"{f['path']} {f['sha256'][:12]}" for f in manifest["files"].values())
        if manifest["source"] == "local":
            what = f"{manifest['local_dir']}: {what}"
    return f"sources {manifest['task']}: {manifest['source']} (data.source {manifest['requested']}) {what}"


def check_unchanged(recorded: Mapping[str, Any], now: Mapping[str, Any], where: str | Path) -> None:
    """InputError when the data now (`now`, from `describe`) differs from the manifest at `where`
    (`recorded`, written by the sources stage): the first differing key, and the fix."""
    if dict(recorded) == dict(now):
        return
    key = next(k for k in sorted(set(recorded) | set(now)) if recorded.get(k) != now.get(k))
    if key == "files":
        old, new = recorded.get("files") or {}, now.get("files") or {}
        split = next(s for s in sorted(set(old) | set(new)) if old.get(s) != new.get(s))
        key = f"files.{split}: {(new.get(split) or old.get(split) or {}).get('path')}"
    raise InputError(f"{where}: task {now['task']}'s data changed after the sources stage recorded it ({key}); "
                     "rerun `dvc repro`")
