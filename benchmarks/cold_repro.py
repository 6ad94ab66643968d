"""Where a cold `dvc repro` spends its time: seconds per stage kind, and how much of it is not forward passes.

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/cold_repro.py                 # the default params, HEAD
    .venv/bin/python benchmarks/cold_repro.py --rev 0f7a875                      # another commit (before/after)
    .venv/bin/python benchmarks/cold_repro.py --set 'tasks=[sst2]' --set 'seeds=[0]'   # a subset

The commit (`--rev`, default HEAD: commit first) is cloned into a scratch folder, without results,
DVC cache or dvc.lock, and `dvc repro` runs there as a new user's first run would, with the clone's own
`w2s` on the import path. A relative `data.local_dir` (the default ../shared/datasets) is resolved
against this checkout, so the clone finds the same data wherever it lives. Each stage's time is the
wall time from DVC's `Running stage '<name>'` line to the next one (or to the end): the stage's
command plus DVC's own work for it (hashing and caching its outputs, writing dvc.lock). Time before
the first stage (DVC's start, collecting the DAG) is its own row.

Printed: per stage kind (the name before `@`) the count, total seconds, mean and share; the ratio
(cold total − forward-pass stages) / forward-pass stages, where the forward-pass stages are `embed` and
`saliency` (the only stages that run a transformer in the default study); DVC's own floor per stage,
measured on a throwaway project of trivial stages (`cmd: true`); and the cost of starting Python.
With `--set`, the per-kind means are also scaled to the stage counts of this checkout's own params
(an estimate: embedding time depends on the task's texts). `--json` writes every number.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[1]
FORWARD_KINDS = ("embed", "saliency")
RUNNING = re.compile(r"Running stage '([^']+)'")


def lab_env(repo: Path) -> dict[str, str]:
    """This interpreter's `python`/`dvc` first on PATH, the clone's `w2s` imported, the hub offline."""
    return {**os.environ, "PATH": f"{Path(sys.executable).parent}:{os.environ.get('PATH', '')}",
            "PYTHONPATH": str(repo), "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1", "PYTHONUNBUFFERED": "1"}


def set_key(params: dict[str, Any], assignment: str) -> None:
    """Apply `a.b.c=<YAML value>` to the params mapping (the key path must exist up to its last part)."""
    key, sep, value = assignment.partition("=")
    if not sep:
        raise SystemExit(f"--set {assignment!r}: expected key=value, e.g. 'tasks=[sst2]'")
    *parents, last = key.split(".")
    node = params
    for part in parents:
        if not isinstance(node.get(part), dict):
            raise SystemExit(f"--set {assignment!r}: params.yaml has no section {part!r}")
        node = node[part]
    node[last] = yaml.safe_load(value)


def clone(rev: str, dest: Path, overrides: list[str]) -> Path:
    """A fresh clone of `rev` at dest/lab, results removed, params adjusted (data path made absolute)."""
    lab = dest / "lab"
    subprocess.run(["git", "clone", "--quiet", "--no-hardlinks", str(ROOT), str(lab)], check=True)
    subprocess.run(["git", "-c", "advice.detachedHead=false", "checkout", "--quiet", rev], cwd=lab, check=True)
    for name in ("dvc.lock", "metrics", "data"):
        path = lab / name
        if path.is_dir():
            shutil.rmtree(path)
        elif path.exists():
            path.unlink()
    params = yaml.safe_load((lab / "params.yaml").read_text())
    local = Path(params["data"]["local_dir"])
    if not local.is_absolute():
        params["data"]["local_dir"] = str((ROOT / local).resolve())
    for assignment in overrides:
        set_key(params, assignment)
    (lab / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    return lab


def timed_repro(lab: Path, args: list[str]) -> tuple[float, float, list[tuple[str, float]], str]:
    """Run `dvc repro` in lab, timestamping its output lines. Returns (total seconds, seconds before the
    first stage, [(stage, seconds)] in run order, the output)."""
    start = time.perf_counter()
    proc = subprocess.Popen([sys.executable, "-m", "dvc", "repro", *args], cwd=lab, env=lab_env(lab),
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, bufsize=1)
    assert proc.stdout is not None
    starts: list[tuple[str, float]] = []
    lines = []
    for line in proc.stdout:
        now = time.perf_counter()
        lines.append(line)
        match = RUNNING.search(line)
        if match:
            starts.append((match.group(1), now))
            print(f"  {now - start:8.1f} s  {match.group(1)}", flush=True)
    end = time.perf_counter()
    if proc.wait() != 0:
        raise SystemExit(f"dvc repro failed ({proc.returncode}):\n{''.join(lines[-40:])}")
    stages = [(name, (starts[k + 1][1] if k + 1 < len(starts) else end) - t) for k, (name, t) in enumerate(starts)]
    before = (starts[0][1] if starts else end) - start
    return end - start, before, stages, "".join(lines)


def dvc_floor(dest: Path, n: int) -> float:
    """Seconds per stage of `dvc repro` on a project of n trivial stages (`cmd: true`, one output each)."""
    proj = dest / "floor"
    proj.mkdir()
    env = lab_env(proj)
    subprocess.run(["git", "init", "-q"], cwd=proj, check=True, env=env)
    subprocess.run([sys.executable, "-m", "dvc", "init", "-q"], cwd=proj, check=True, env=env)
    subprocess.run([sys.executable, "-m", "dvc", "config", "core.analytics", "false"], cwd=proj, check=True, env=env)
    stages = {"trivial": {"foreach": list(range(n)), "do": {"cmd": "mkdir -p out && echo ${item} > out/${item}",
                                                            "outs": ["out/${item}"]}}}
    (proj / "dvc.yaml").write_text(yaml.safe_dump({"stages": stages}))
    start = time.perf_counter()
    subprocess.run([sys.executable, "-m", "dvc", "repro", "-q"], cwd=proj, check=True, env=env)
    return (time.perf_counter() - start) / n


def python_start(repeats: int = 5) -> float:
    """Seconds to start and stop this Python with nothing imported (the floor of any stage script)."""
    start = time.perf_counter()
    for _ in range(repeats):
        subprocess.run([sys.executable, "-c", "pass"], check=True)
    return (time.perf_counter() - start) / repeats


def default_counts() -> dict[str, int]:
    """Stages per kind of this checkout's own dvc.yaml and params (`dvc stage list`)."""
    done = subprocess.run([sys.executable, "-m", "dvc", "stage", "list", "--name-only"], cwd=ROOT, env=lab_env(ROOT),
                          capture_output=True, text=True, check=True)
    counts: dict[str, int] = defaultdict(int)
    for name in done.stdout.split():
        counts[name.split("@")[0]] += 1
    return dict(counts)


def summarize(total: float, before: float, stages: list[tuple[str, float]]) -> dict[str, Any]:
    """Per kind: count, seconds, mean, share of the total; the forward-pass ratio."""
    kinds: dict[str, list[float]] = defaultdict(list)
    for name, seconds in stages:
        kinds[name.split("@")[0]].append(seconds)
    rows: list[dict[str, Any]] = [
        {"kind": kind, "count": len(v), "seconds": sum(v), "mean": sum(v) / len(v), "share": sum(v) / total}
        for kind, v in kinds.items()]
    rows.sort(key=lambda r: -r["seconds"])
    rows.append({"kind": "(dvc start)", "count": 0, "seconds": before, "mean": before, "share": before / total})
    forward = sum(r["seconds"] for r in rows if r["kind"] in FORWARD_KINDS)
    return {"total": total, "forward": forward, "ratio": (total - forward) / forward if forward else None,
            "kinds": rows, "stages": [{"stage": n, "seconds": s} for n, s in stages]}


def table(summary: dict[str, Any]) -> str:
    lines = ["| stage kind | count | total s | mean s | share |", "|---|---:|---:|---:|---:|"]
    for r in summary["kinds"]:
        lines.append(f"| {r['kind']} | {r['count']} | {r['seconds']:.1f} | {r['mean']:.2f} | {100 * r['share']:.1f}% |")
    lines.append(f"| **total** | {sum(r['count'] for r in summary['kinds'])} | {summary['total']:.1f} | | 100% |")
    ratio = summary["ratio"]
    lines.append("")
    shown = "n/a (no embed/saliency stage)" if ratio is None else f"{ratio:.2f}"
    lines.append(f"(total − forward passes) / forward passes = ({summary['total']:.1f} − {summary['forward']:.1f}) / "
                 f"{summary['forward']:.1f} = {shown}")
    return "\n".join(lines)


def extrapolate(summary: dict[str, Any], counts: dict[str, int]) -> dict[str, Any]:
    """The measured mean of each kind times its count in `counts`; kinds not measured are left out."""
    means = {r["kind"]: r["mean"] for r in summary["kinds"] if r["count"]}
    rows = {kind: means[kind] * n for kind, n in counts.items() if kind in means}
    start = next(r["seconds"] for r in summary["kinds"] if r["kind"] == "(dvc start)")
    total = sum(rows.values()) + start
    forward = sum(v for k, v in rows.items() if k in FORWARD_KINDS)
    return {"total": total, "forward": forward, "ratio": (total - forward) / forward if forward else None,
            "missing": sorted(set(counts) - set(means)),
            "kinds": [{"kind": k, "count": counts[k], "seconds": v, "mean": means[k], "share": v / total}
                      for k, v in sorted(rows.items(), key=lambda kv: -kv[1])]
            + [{"kind": "(dvc start)", "count": 0, "seconds": start, "mean": start, "share": start / total}]}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--rev", default="HEAD", help="the commit to measure (default HEAD)")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=YAML",
                   help="change a params.yaml key in the clone, e.g. 'tasks=[sst2]' (repeatable)")
    p.add_argument("--floor-stages", type=int, default=20, help="trivial stages of the DVC floor (0: skip)")
    p.add_argument("--keep", action="store_true", help="keep the scratch folder (printed)")
    p.add_argument("--json", help="write every number here")
    args = p.parse_args(argv)
    scratch = Path(tempfile.mkdtemp(prefix="w2s-cold-"))
    try:
        lab = clone(args.rev, scratch, args.overrides)
        commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=lab, capture_output=True, text=True,
                                check=True).stdout.strip()
        print(f"cold dvc repro of {commit} in {lab} (OMP_NUM_THREADS={os.environ.get('OMP_NUM_THREADS', 'unset')})")
        total, before, stages, _ = timed_repro(lab, [])
        summary = summarize(total, before, stages)
        summary.update(commit=commit, overrides=args.overrides, cpus=os.cpu_count(), load=os.getloadavg())
        print(table(summary))
        if args.floor_stages:
            summary["dvc_floor"] = dvc_floor(scratch, args.floor_stages)
            summary["python_start"] = python_start()
            print(f"DVC floor: {summary['dvc_floor']:.2f} s per stage ({args.floor_stages} trivial stages); "
                  f"Python start: {summary['python_start']:.3f} s; stages run: {len(stages)}, so at least "
                  f"{len(stages) * summary['dvc_floor']:.0f} s of DVC alone")
        if args.overrides:
            summary["extrapolated"] = extrapolate(summary, default_counts())
            print("\nscaled to this checkout's own params (per-kind means x their stage counts; an estimate):")
            print(table(summary["extrapolated"]))
            if summary["extrapolated"]["missing"]:
                print(f"(not measured, left out: {', '.join(summary['extrapolated']['missing'])})")
        if args.json:
            Path(args.json).write_text(json.dumps(summary, indent=2) + "\n")
    finally:
        if args.keep:
            print(f"kept {scratch}")
        else:
            shutil.rmtree(scratch, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
