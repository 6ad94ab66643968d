"""`python -m w2s.verify`: did a rerun reproduce the committed results?

Compares every per-cell value of the workspace (after your `dvc repro`), or of a fresh rerun in a scratch
copy (`--rerun`), with the values committed at a revision (default HEAD), key by key. The values are the
committed tables `metrics/**/*.json` (pgr.json, accuracy.json, the analyses' tables, truncation/...), read
from git at the revision and from the workspace; not `metrics/headline.json` (a summary computed from
these tables; the only file `dvc metrics` shows) nor `metrics/environment.json` (where it ran, below).
Nested keys are joined with "." as DVC does. Each value gets a verdict:

    identical          the same number (or both null), or the same text
    within tolerance   |new - old| <= the metric's tolerance (`tolerance`)
    DIFFERS            beyond it, null on one side only (a PGR became undefined, or defined), or another
                       text (a PGR's status, e.g. ok -> gap_not_significant)

and one summary line follows. Exit 0 only when nothing DIFFERS; 1 when something does; 2 for bad input
(a revision without tables, a file or key on one side only, a number on one side and text on the other;
a text label equal on both sides, such as the model key in a truncation record, is skipped).

Tolerances (declared once, here; the reasoning is in docs/reproduce-and-compare.md):

- scores (accuracy, AUROC, agreement, every other metric): 1e-4 absolute. A different CPU or BLAS changes
  the features in their last bits; a probe's probabilities then move by ~1e-7 and an AUROC by at most a
  few 1e-6 (observed: 2e-6); an accuracy only changes if a test prediction crosses 0.5, and one test row
  out of 800 is 1.25e-3, far above the tolerance. So 1e-4 passes hardware noise and fails any real change.
- PGR and its interval bounds (`.../pgr_<score>`, `_low`, `_high`): the score tolerance propagated
  through the ratio, 3e-4 / gap (numerator and denominator each move by up to 2e-4), with the cell's gap
  from `pgr.json` (`gap_<score>`), or 1e-2 where no gap is recorded (the smallest significant gap the
  lab reports is ~0.03).
- counts (`n_seeds`, `n_test`, ...): exact.

Every run records where it ran (`metrics/environment.json`, written by `analyze`); when the revision's
record and the workspace's differ, both are printed side by side.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from w2s.errors import InputError

SCORE_TOL = 1e-4
PGR_FALLBACK_TOL = 1e-2
ENVIRONMENT = "metrics/environment.json"
TABLES = "metrics"
#: files under TABLES that are not per-cell values
NOT_TABLES = (ENVIRONMENT, "metrics/headline.json")
COUNT_KEYS = ("n_seeds", "n_test", "n_rows", "n_truncated")


@dataclass(frozen=True)
class Verdict:
    file: str
    key: str
    old: float | str | None
    new: float | str | None
    tolerance: float
    verdict: str  # identical | within tolerance | DIFFERS


def _number(value: Any, rev: str, file: str, key: str) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise InputError(f"{rev}: {file}: {key}: not a number ({value!r})")
    return float(value)


def _gaps(diff: Mapping[str, Mapping[str, Mapping[str, Any]]]) -> dict[str, float]:
    """`<cell>/gap_<score>` -> the gap (old side), from every file of the diff."""
    out = {}
    for entries in diff.values():
        for key, entry in entries.items():
            if "/gap_" in key and not key.endswith(("_low", "_high")) and isinstance(entry.get("old"), int | float):
                out[key] = float(entry["old"])
    return out


def tolerance(key: str, gaps: Mapping[str, float]) -> float:
    """The tolerance of one metric key (module docstring)."""
    name = key.rsplit("/", 1)[-1]
    if name in COUNT_KEYS:
        return 0.0
    if name.startswith("pgr_"):
        cell, score = key.rsplit("/", 1)[0], name.removeprefix("pgr_").removesuffix("_low").removesuffix("_high")
        gap = gaps.get(f"{cell}/gap_{score}")
        return 3 * SCORE_TOL / gap if gap and gap > 0 else PGR_FALLBACK_TOL
    return SCORE_TOL


def compare(diff: Mapping[str, Mapping[str, Mapping[str, Any]]], rev: str) -> list[Verdict]:
    """Verdicts for `tables_diff` output (file -> key -> {old, new}, a side missing where the value is)."""
    if not diff:
        raise InputError(f"{rev}: no metrics to compare (does the revision have committed metrics?)")
    gaps = _gaps(diff)
    out = []
    for file, entries in sorted(diff.items()):
        for key, entry in sorted(entries.items()):
            if "old" not in entry or "new" not in entry:
                side = "the workspace" if "old" in entry else rev
                raise InputError(f"{rev}: {file}: {key}: present on one side only (missing in {side})")
            if isinstance(entry["old"], str) and isinstance(entry["new"], str):
                if entry["old"] != entry["new"]:  # e.g. a PGR's status
                    out.append(Verdict(file, key, entry["old"], entry["new"], 0.0, "DIFFERS"))
                continue  # the same label recorded beside the numbers (e.g. a model key): not a measurement
            old, new = _number(entry["old"], rev, file, key), _number(entry["new"], "workspace", file, key)
            tol = tolerance(key, gaps)
            if old == new:
                verdict = "identical"
            elif old is None or new is None:
                verdict = "DIFFERS"
            else:
                verdict = "within tolerance" if abs(new - old) <= tol else "DIFFERS"
            out.append(Verdict(file, key, old, new, tol, verdict))
    return out


def flatten(obj: Any, prefix: str = "") -> dict[str, Any]:
    """Nested mappings as one level, keys joined with "." (as `dvc metrics` shows them)."""
    if not isinstance(obj, dict):
        return {prefix: obj}
    out: dict[str, Any] = {}
    for key, value in obj.items():
        out |= flatten(value, f"{prefix}.{key}" if prefix else str(key))
    return out


def parse_table(text: str, rev: str, file: str) -> dict[str, Any]:
    """A metrics table's JSON text (of `file` at `rev`) as flat values; bad input names both."""
    try:
        parsed = json.loads(text)
    except json.JSONDecodeError as e:
        raise InputError(f"{rev}: {file}: not JSON ({e})") from None
    if not isinstance(parsed, dict):
        raise InputError(f"{rev}: {file}: holds a {type(parsed).__name__}, expected a mapping of values")
    return flatten(parsed)


def committed_tables(repo: Path, rev: str) -> dict[str, dict[str, Any]]:
    """file -> flat values of every table committed under metrics/ at `rev` (git)."""
    listed = subprocess.run(["git", "ls-tree", "-r", "--name-only", rev, "--", f"{TABLES}/"], cwd=repo,
                            capture_output=True, text=True)
    if listed.returncode != 0:
        raise InputError(f"{rev}: not a revision of {repo} ({(listed.stderr.strip().splitlines() or ['?'])[-1]})")
    out = {}
    for file in listed.stdout.split("\n"):
        if file.endswith(".json") and file not in NOT_TABLES:
            shown = subprocess.run(["git", "show", f"{rev}:{file}"], cwd=repo, capture_output=True, text=True,
                                   check=True)
            out[file] = parse_table(shown.stdout, rev, file)
    return out


def workspace_tables(repo: Path) -> dict[str, dict[str, Any]]:
    """file -> flat values of every table under metrics/ in the workspace."""
    out = {}
    for path in sorted((repo / TABLES).rglob("*.json")):
        file = path.relative_to(repo).as_posix()
        if file not in NOT_TABLES:
            out[file] = parse_table(path.read_text(), "workspace", file)
    return out


def tables_diff(repo: Path, rev: str) -> dict[str, dict[str, dict[str, Any]]]:
    """file -> key -> {"old": value at rev, "new": value in the workspace}, a side left out where the file
    or key is missing there (the shape `compare` reads)."""
    old, new = committed_tables(repo, rev), workspace_tables(repo)
    diff: dict[str, dict[str, dict[str, Any]]] = {}
    for file in sorted(set(old) | set(new)):
        a, b = old.get(file, {}), new.get(file, {})
        diff[file] = {key: ({"old": a[key]} if key in a else {}) | ({"new": b[key]} if key in b else {})
                      for key in sorted(set(a) | set(b))}
    return diff


def environment_of(repo: Path, rev: str | None) -> dict[str, Any] | None:
    """The environment record at `rev` (git) or in the workspace (rev None); None if there is none."""
    if rev is None:
        path = repo / ENVIRONMENT
        return json.loads(path.read_text()) if path.is_file() else None
    done = subprocess.run(["git", "show", f"{rev}:{ENVIRONMENT}"], cwd=repo, capture_output=True, text=True)
    return json.loads(done.stdout) if done.returncode == 0 and done.stdout.strip() else None


def environment_table(old: Mapping[str, Any] | None, new: Mapping[str, Any] | None, rev: str) -> str:
    """The two environment records side by side (only when they differ)."""
    if old == new:
        return ""
    old, new = old or {}, new or {}
    keys = sorted(set(old) | set(new))
    width = max([len(k) for k in keys] + [11])
    lines = [f"{'environment':{width}}  {rev:40}  workspace"]
    for k in keys:
        mark = "" if old.get(k) == new.get(k) else "  <-"
        lines.append(f"{k:{width}}  {str(old.get(k, '-')):40}  {new.get(k, '-')}{mark}")
    return "\n".join(lines)


def report(verdicts: Sequence[Verdict], rev: str, show: str = "differ") -> str:
    """One line per metric (all, or only those not identical), then the summary line."""
    lines = []
    for v in verdicts:
        if show == "all" or v.verdict != "identical":
            old = "null" if v.old is None else repr(v.old)
            new = "null" if v.new is None else repr(v.new)
            lines.append(f"{v.verdict:16}  {v.file}:{v.key}  {rev} {old} -> {new}  (tol {v.tolerance:.1g})")
    counts = {k: sum(v.verdict == k for v in verdicts) for k in ("identical", "within tolerance", "DIFFERS")}
    ok = "REPRODUCED" if counts["DIFFERS"] == 0 else "NOT REPRODUCED"
    lines.append(f"{ok}: {len(verdicts)} metrics vs {rev}: {counts['identical']} identical, "
                 f"{counts['within tolerance']} within tolerance, {counts['DIFFERS']} differ")
    return "\n".join(lines)


def rerun_copy(repo: Path) -> Path:
    """A fresh clone of `repo` beside it (so relative data paths such as ../shared/datasets resolve as in
    the original), where `dvc repro` runs from scratch with an empty cache."""
    scratch = Path(tempfile.mkdtemp(prefix=f".{repo.name}-verify-", dir=repo.parent))
    subprocess.run(["git", "clone", "-q", str(repo), str(scratch / repo.name)], check=True)
    work = scratch / repo.name
    done = subprocess.run([sys.executable, "-m", "dvc", "repro"], cwd=work)
    if done.returncode != 0:
        raise InputError(f"verify --rerun: `dvc repro` failed in {work} (exit {done.returncode})")
    return work


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m w2s.verify", description=__doc__.split("\n\n")[0])
    p.add_argument("--rev", default="HEAD", help="the revision whose committed metrics are the reference")
    p.add_argument("--rerun", action="store_true",
                   help="rerun the whole pipeline in a fresh scratch clone and compare that (slow: a cold run)")
    p.add_argument("--all", action="store_true", help="print every metric, not only those that are not identical")
    p.add_argument("--repo", default=".", help="the project folder (default: here)")
    args = p.parse_args(argv)
    repo = Path(args.repo).resolve()
    work = rerun_copy(repo) if args.rerun else repo
    try:
        verdicts = compare(tables_diff(work, args.rev), args.rev)
        table = environment_table(environment_of(work, args.rev), environment_of(work, None), args.rev)
    finally:
        if args.rerun:
            shutil.rmtree(work.parent, ignore_errors=True)
    if table:
        print(table + "\n")
    print(report(verdicts, args.rev, "all" if args.all else "differ"))
    return 0 if all(v.verdict != "DIFFERS" for v in verdicts) else 1


def environment() -> dict[str, str]:
    """Where this process runs: CPU, OS, Python, the numeric libraries and their BLAS, torch's device."""
    import platform

    import numpy as np

    record = {"cpu": _cpu_model(), "machine": platform.machine(), "os": platform.platform(terse=True),
              "python": platform.python_version(), "numpy": np.__version__}
    for name in ("torch", "transformers", "scikit-learn", "polars", "dvc"):
        record[name] = _version(name)
    try:
        import torch

        record["torch_blas"] = "mkl" if torch.backends.mkl.is_available() else "openblas/other"
        record["device"] = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "cpu"
    except ImportError:
        pass
    try:
        from threadpoolctl import threadpool_info

        record["numpy_blas"] = ", ".join(sorted({f"{i['internal_api']} {i.get('version')}"
                                                 for i in threadpool_info() if i.get("user_api") == "blas"}))
    except ImportError:
        pass
    return record


def _version(name: str) -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(name)
    except PackageNotFoundError:
        return "not installed"


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    import platform

    return platform.processor() or "unknown"


if __name__ == "__main__":
    try:
        sys.exit(main())
    except InputError as err:
        print(f"error: {err}", file=sys.stderr)
        sys.exit(2)
