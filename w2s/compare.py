"""Compare two revisions of the lab: params, headline metrics and per-cell PGRs side by side, read from
what DVC and git already hold, never recomputed.

    python -m w2s.compare HEAD~1 workspace             # or: make compare A=HEAD~1 B=workspace
    python -m w2s.compare exp-one exp-two --out data/compare

A side is `workspace` (the files on disk), a git revision (`HEAD~1`, a branch, a tag, a commit) or the
name of a `dvc exp` experiment of any baseline (its commit: the ref DVC keeps under `refs/exps/`, the
`rev` that `dvc exp show --json` lists). `gather` collects

* the params that differ: `dvc params diff <a> <b> --json`;
* every headline metric of both sides and its change: `dvc metrics diff <a> <b> --all --json`
  (`metrics/headline.json`), with the interval of each pooled PGR (`<task>.<method>`) from that side's
  `metrics/pgr.json` (`<task>/pooled/<method>/pgr_accuracy_low|_high`);
* the PGR on accuracy of every cell (task x pair x method, and each task's pooled PGR) with its interval,
  from each side's committed `metrics/pgr.json` (`git show <commit>:metrics/pgr.json`; the file on disk for
  the workspace);

into `compare.json`, then renders `reports/compare.qmd` from it to `compare.html` (self-contained,
interactive) and `compare.pdf` beside it, with the report renderer of `w2s.report`. No stage runs:
a revision whose metrics were never computed shows "—" for them.

Not a pipeline stage: its inputs are git history, which `dvc.lock` cannot hash.
"""

from __future__ import annotations

import argparse
import json
import math
import subprocess
import sys
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from w2s.errors import InputError
from w2s.verify import parse_table

WORKSPACE = "workspace"
PGR_TABLE = "metrics/pgr.json"
HEADLINE = "metrics/headline.json"
POOLED = "pooled"
METRIC = "accuracy"


@dataclass(frozen=True)
class Side:
    """One side of a comparison: what was asked (`spec`), the commit it names (or "workspace"), its kind
    (workspace, commit, experiment) and the commit's date and subject."""

    spec: str
    rev: str
    kind: str
    date: str = ""
    subject: str = ""

    @property
    def label(self) -> str:
        """`HEAD~1 (1a2b3c4)`, `exp-name (1a2b3c4)`, `workspace`: unique names for tables and figures."""
        return self.spec if self.rev == WORKSPACE or self.rev.startswith(self.spec) else f"{self.spec} ({self.rev[:7]})"


def _run(repo: Path, cmd: Sequence[str], what: str) -> str:
    done = subprocess.run(list(cmd), cwd=repo, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        last = (done.stderr.strip().splitlines() or ["no message"])[-1]
        raise InputError(f"{repo}: `{what}` failed ({last})")
    return done.stdout


def _dvc(repo: Path, *args: str) -> Any:
    """The JSON a `dvc ... --json` command prints."""
    out = _run(repo, [sys.executable, "-m", "dvc", *args, "--json"], f"dvc {' '.join(args)} --json")
    return json.loads(out) if out.strip() else {}


def experiment_revs(repo: Path) -> dict[str, str]:
    """name -> commit of every local `dvc exp` experiment, of any baseline: DVC keeps each as a git ref
    `refs/exps/<baseline sha split 2/38>/<name>` (the commit `dvc exp show --json` lists as its `rev`).
    Read from git, not `dvc exp show --all-commits`, which collects the params and metrics of every
    commit of the history (minutes on this repo)."""
    listed = _run(repo, ["git", "for-each-ref", "--format=%(objectname) %(refname)", "refs/exps/"], "git for-each-ref")
    found: dict[str, str] = {}
    for line in listed.splitlines():
        sha, _, ref = line.partition(" ")
        parts = ref.split("/")
        if len(parts) == 5 and len(parts[2]) == 2 and len(parts[3]) == 38:  # not the queue's stash refs
            found[parts[4]] = sha
    return found


def resolve(repo: Path, spec: str, experiments: Mapping[str, str] | None = None) -> Side:
    """`workspace`, a git revision, or a `dvc exp` name (`experiments`: name -> commit, default
    `experiment_revs(repo)`)."""
    if spec == WORKSPACE:
        return Side(spec, WORKSPACE, "workspace")
    done = subprocess.run(["git", "rev-parse", "--verify", "--quiet", f"{spec}^{{commit}}"], cwd=repo,
                          capture_output=True, text=True, check=False)
    if done.returncode == 0:
        rev, kind = done.stdout.strip(), "commit"
    else:
        exps = experiment_revs(repo) if experiments is None else experiments
        if spec not in exps:
            raise InputError(f"{spec}: neither `workspace`, a git revision nor a `dvc exp` name of {repo} "
                             "(`dvc exp list --all-commits` lists the experiments)")
        rev, kind = exps[spec], "experiment"
    date, _, subject = _run(repo, ["git", "log", "-1", "--format=%cI %s", rev], "git log").strip().partition(" ")
    return Side(spec, rev, kind, date, subject)


def table_at(repo: Path, side: Side, file: str = PGR_TABLE) -> dict[str, Any]:
    """A committed metrics table of `side` (git for a commit, the disk for the workspace); {} where it has
    none."""
    if side.rev == WORKSPACE:
        path = repo / file
        text = path.read_text() if path.is_file() else ""
    else:
        done = subprocess.run(["git", "show", f"{side.rev}:{file}"], cwd=repo, capture_output=True, text=True,
                              check=False)
        text = done.stdout if done.returncode == 0 else ""
    return parse_table(text, side.label, file) if text.strip() else {}


def _number(value: Any) -> float | None:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(
        value) else None


def _change(old: Any, new: Any) -> float | None:
    a, b = _number(old), _number(new)
    return None if a is None or b is None else b - a


def _interval(pgr: Mapping[str, Any], prefix: str) -> tuple[float | None, float | None]:
    return _number(pgr.get(f"{prefix}/pgr_{METRIC}_low")), _number(pgr.get(f"{prefix}/pgr_{METRIC}_high"))


def params_rows(diff: Mapping[str, Mapping[str, Mapping[str, Any]]]) -> list[dict[str, Any]]:
    """One row per changed param of `dvc params diff --json`: file, key, old, new (None: absent)."""
    return [{"file": file, "key": key, "old": v.get("old"), "new": v.get("new")}
            for file, keys in sorted(diff.items()) for key, v in sorted(keys.items())]


def headline_rows(diff: Mapping[str, Mapping[str, Mapping[str, Any]]], pgr_old: Mapping[str, Any],
                  pgr_new: Mapping[str, Any]) -> list[dict[str, Any]]:
    """One row per metric of `metrics/headline.json` in `dvc metrics diff --all --json`: key, old, new,
    change (numbers only), and for a pooled PGR `<task>.<method>` the interval of each side from its
    pgr.json. (Older revisions declared the per-cell tables as DVC metrics too: those are the cell rows.)"""
    rows = []
    for file, keys in sorted(diff.items()):
        if file != HEADLINE:
            continue
        for key, v in sorted(keys.items()):
            task, _, method = key.partition(".")
            prefix = f"{task}/{POOLED}/{method}"
            row = {"key": key, "old": v.get("old"), "new": v.get("new"),
                   "change": _change(v.get("old"), v.get("new"))}
            if f"{prefix}/pgr_{METRIC}_status" in pgr_old or f"{prefix}/pgr_{METRIC}_status" in pgr_new:
                (row["old_low"], row["old_high"]), (row["new_low"], row["new_high"]) = (
                    _interval(pgr_old, prefix), _interval(pgr_new, prefix))
            rows.append(row)
    return rows


def cells(pgr: Mapping[str, Any]) -> dict[tuple[str, str, str], dict[str, Any]]:
    """(task, pair, method) -> {pgr, low, high, n_seeds, status} of every cell of a pgr.json (pair
    `pooled`: the task's pooled PGR)."""
    found: dict[tuple[str, str, str], dict[str, Any]] = {}
    suffix = f"/pgr_{METRIC}"
    for key in pgr:
        if key.endswith(suffix) and key.count("/") == 3:
            task, pair, method, _ = key.split("/")
            prefix = key.removesuffix(suffix)
            low, high = _interval(pgr, prefix)
            found[(task, pair, method)] = {"pgr": _number(pgr[key]), "low": low, "high": high,
                                           "n_seeds": pgr.get(f"{prefix}/n_seeds"),
                                           "status": pgr.get(f"{prefix}/pgr_{METRIC}_status")}
    return found


def cell_rows(pgr_old: Mapping[str, Any], pgr_new: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The cells of both sides, one row per task x pair x method (pooled last in each task): whether each
    side has the cell, its PGR (None: undefined), interval, seeds and status, and the change."""
    old, new = cells(pgr_old), cells(pgr_new)
    rows = []
    for key in sorted(set(old) | set(new), key=lambda k: (k[0], k[1] == POOLED, k[1], k[2])):
        a, b = old.get(key, {}), new.get(key, {})
        rows.append({"task": key[0], "pair": key[1], "method": key[2], "old_present": bool(a), "new_present": bool(b),
                     **{f"old_{k}": a.get(k) for k in ("pgr", "low", "high", "n_seeds", "status")},
                     **{f"new_{k}": b.get(k) for k in ("pgr", "low", "high", "n_seeds", "status")},
                     "change": _change(a.get("pgr"), b.get("pgr"))})
    return rows


def gather(repo: str | Path, a: str, b: str) -> dict[str, Any]:
    """Everything the comparison report shows, as JSON-ready data (module docstring); runs no stage."""
    repo = Path(repo).resolve()
    exps = experiment_revs(repo)
    old, new = resolve(repo, a, exps), resolve(repo, b, exps)
    if old.label == new.label:
        raise InputError(f"compare: both sides are {old.label}; name two different revisions")
    revs = (old.rev, new.rev)
    pgr_old, pgr_new = table_at(repo, old), table_at(repo, new)
    return {
        "old": {**asdict(old), "label": old.label, "has_pgr": bool(pgr_old)},
        "new": {**asdict(new), "label": new.label, "has_pgr": bool(pgr_new)},
        "metric": METRIC,
        "params": params_rows(_dvc(repo, "params", "diff", *revs)),
        "headline": headline_rows(_dvc(repo, "metrics", "diff", *revs, "--all"), pgr_old, pgr_new),
        "cells": cell_rows(pgr_old, pgr_new),
    }


# ------------------------------------------------------------------------------------- report pieces


def load(path: str | Path) -> dict[str, Any]:
    """The gathered comparison (`compare.json`)."""
    path = Path(path)
    if not path.is_file():
        raise InputError(f"{path}: no comparison data; run `python -m w2s.compare A B` first")
    data: dict[str, Any] = json.loads(path.read_text())
    return data


def _text(value: Any, digits: int = 3) -> str:
    if value is None:
        return "—"
    if isinstance(value, float):
        return f"{value:.{digits}f}"
    return str(value).replace("|", "\\|")


def _param(value: Any) -> str:
    """A param as written (1e-06 stays 1e-06), "—" where that side has none."""
    return "—" if value is None else str(value).replace("|", "\\|")


def _signed(value: float | None) -> str:
    return "—" if value is None else f"{value:+.3f}"


def _with_interval(value: Any, low: Any, high: Any) -> str:
    if low is None or high is None or _number(value) is None:
        return _text(value)
    return f"{value:.3f} [{low:.3f}, {high:.3f}]"


def _table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    return "\n".join(lines + ["| " + " | ".join(r) + " |" for r in rows]) + "\n"


def _short(text: str, limit: int = 72) -> str:
    return text if len(text) <= limit else text[:limit - 1].rstrip() + "…"


def sides_markdown(data: Mapping[str, Any]) -> str:
    """What each side names: kind, commit, date, subject."""
    rows = [[role, f"`{s['spec']}`", s["kind"], f"`{s['rev'][:10]}`" if s["rev"] != WORKSPACE else "files on disk",
             s["date"][:16].replace("T", " ") or "—", _text(_short(s["subject"]) or "—")]
            for role, s in (("A (old)", data["old"]), ("B (new)", data["new"]))]
    return _table(["side", "asked", "kind", "commit", "date", "subject"], rows)


def params_markdown(data: Mapping[str, Any]) -> str:
    """The params that differ (`dvc params diff`), or a sentence saying none do."""
    rows = data["params"]
    if not rows:
        return "No param differs (`dvc params diff`).\n"
    old, new = data["old"]["label"], data["new"]["label"]
    out = []
    for file in dict.fromkeys(r["file"] for r in rows):
        mine = [r for r in rows if r["file"] == file]
        lone = next((side for side, other in (("A", "new"), ("B", "old")) if all(r[other] is None for r in mine)), None)
        if lone and len(mine) > 3:  # a params file only one side depends on: one line, not a row per key
            sides = ["set", "— (not a params file of this side)"]
            out.append([file, f"all {len(mine)} params", *(sides if lone == "A" else sides[::-1])])
        else:
            out += [[file, f"`{r['key']}`", _param(r["old"]), _param(r["new"])] for r in mine]
    return _table(["file", "param", f"A: {old}", f"B: {new}"], out)


def headline_markdown(data: Mapping[str, Any]) -> str:
    """Every headline metric of both sides (pooled PGRs with their 95% intervals) and its change."""
    rows = data["headline"]
    if not rows:
        return f"Neither side has a `{HEADLINE}` (`dvc metrics diff` shows none).\n"
    old, new = data["old"]["label"], data["new"]["label"]
    return _table(["metric", f"A: {old}", f"B: {new}", "change B − A"], [
        [f"`{r['key']}`",
         _with_interval(r["old"], r.get("old_low"), r.get("old_high")),
         _with_interval(r["new"], r.get("new_low"), r.get("new_high")), _signed(r["change"])] for r in rows])


def _pair(pair: str) -> str:
    return "all pairs pooled" if pair == POOLED else pair.replace("-to-", " → ")


def cells_markdown(data: Mapping[str, Any]) -> str:
    """Every cell's PGR of both sides with its interval and seeds, and the change."""
    rows = data["cells"]
    if not rows:
        return f"Neither side has a `{PGR_TABLE}`.\n"

    def side(r: Mapping[str, Any], s: str) -> str:
        if not r.get(f"{s}_present", True):
            return "—"
        text = _with_interval(r[f"{s}_pgr"], r[f"{s}_low"], r[f"{s}_high"])
        if r[f"{s}_pgr"] is None:
            text = f"undefined ({r[f'{s}_status']})" if r[f"{s}_status"] else "undefined"
        return text + (f", n={r[f'{s}_n_seeds']}" if r[f"{s}_n_seeds"] is not None else "")

    old, new = data["old"]["label"], data["new"]["label"]
    return _table(["task", "weak → strong", "method", f"A: {old}", f"B: {new}", "change B − A"],
                  [[r["task"], _pair(r["pair"]), r["method"], side(r, "old"), side(r, "new"), _signed(r["change"])]
                   for r in rows])


def finding_params(data: Mapping[str, Any]) -> str:
    """One computed sentence on the params diff."""
    rows = data["params"]
    if not rows:
        return "No param differs between the two sides."
    files = sorted({r["file"] for r in rows})
    keys = ", ".join(f"`{r['key']}`" for r in rows[:3]) + (f" and {len(rows) - 3} more" if len(rows) > 3 else "")
    return f"{len(rows)} params differ, in {len(files)} file{'s' * (len(files) > 1)} ({', '.join(files)}): {keys}."


def finding_headline(data: Mapping[str, Any]) -> str:
    """One computed sentence on the headline: how many metrics changed and the largest change, with both
    intervals where it is a pooled PGR; or which side has no headline."""
    rows = data["headline"]
    for role, side in (("A", "old"), ("B", "new")):
        if rows and all(r[side] is None for r in rows):
            return f"{role} ({data[side]['label']}) has no `{HEADLINE}`: its column is empty."
    if not rows:
        return f"Neither side has a `{HEADLINE}`."
    changed = [r for r in rows if r["old"] != r["new"]]
    if not changed:
        return f"All {len(rows)} headline metrics are identical on both sides."
    numeric = [r for r in changed if r["change"] is not None]
    text = f"{len(changed)} of {len(rows)} headline metrics changed"
    if numeric:
        top = max(numeric, key=lambda r: abs(r["change"]))
        text += f"; the largest change is `{top['key']}`, {top['change']:+.3f}"
        if top.get("old_low") is not None and top.get("new_low") is not None:
            text += (f" (A {_with_interval(top['old'], top['old_low'], top['old_high'])}, "
                     f"B {_with_interval(top['new'], top['new_low'], top['new_high'])})")
    return text + "."


def finding_cells(data: Mapping[str, Any]) -> str:
    """One computed sentence on the per-cell PGRs: how many cells both sides define, in how many B's PGR
    lies outside A's 95% interval (and the largest such move), and how many are on one side only."""
    rows = data["cells"]
    if not rows:
        return f"Neither side has a `{PGR_TABLE}`."
    both = [r for r in rows if r["change"] is not None]
    one_side = sum(r["old_present"] != r["new_present"] for r in rows)
    outside = [r for r in both if r["old_low"] is not None and not r["old_low"] <= r["new_pgr"] <= r["old_high"]]
    text = f"{len(both)} cells have a PGR on both sides"
    if outside:
        top = max(outside, key=lambda r: abs(r["change"]))
        text += (f"; in {len(outside)} of them B's PGR lies outside A's 95% interval, most of all "
                 f"{top['task']} {_pair(top['pair'])} {top['method']} ({top['change']:+.3f})")
    elif both:
        text += "; in each, B's PGR lies within A's 95% interval"
    if one_side:
        text += f"; {one_side} cell{'s' * (one_side > 1)} exist{'s' * (one_side == 1)} on one side only"
    return text + "."


def pgr_overlay(data: Mapping[str, Any]) -> Any:
    """PGR by method of both sides on one chart: one panel per task, x the weak → strong pair (and the
    pooled PGR), the two sides side by side within each method; colour = side, shape = method,
    bars = 95% intervals. A `w2s.figures.Note` where neither side has a PGR."""
    import altair as alt

    from w2s.figures import HEIGHT, Note

    sides = [(data["old"]["label"], "old"), (data["new"]["label"], "new")]
    records = [{"task": r["task"], "pair": _pair(r["pair"]), "method": r["method"], "side": label,
                "group": f"{r['method']} · {'A' if s == 'old' else 'B'}", "pgr": r[f"{s}_pgr"],
                "low": r[f"{s}_low"], "high": r[f"{s}_high"], "n_seeds": r[f"{s}_n_seeds"]}
               for r in data["cells"] for label, s in sides if r[f"{s}_pgr"] is not None]
    if not records:
        return Note(f"No PGR to draw: neither side's {PGR_TABLE} has a defined PGR.")
    pairs = list(dict.fromkeys(r["pair"] for r in records if r["pair"] != "all pairs pooled"))
    order = [*pairs, "all pairs pooled"]
    groups = sorted({r["group"] for r in records})
    x = alt.X("pair:N", sort=order, title="weak supervisor → strong student", axis=alt.Axis(labelAngle=-20))
    offset = alt.XOffset("group:N", sort=groups)
    color = alt.Color("side:N", scale=alt.Scale(domain=[label for label, _ in sides], range=["#9d9d9d", "#4c78a8"]),
                      title="revision", legend=alt.Legend(orient="bottom", labelLimit=400))
    tooltip = ["side:N", "task:N", "pair:N", "method:N", alt.Tooltip("pgr:Q", format=".3f", title="PGR"),
               alt.Tooltip("low:Q", format=".3f", title="CI low"), alt.Tooltip("high:Q", format=".3f", title="CI high"),
               alt.Tooltip("n_seeds:Q", title="seeds")]
    bars = alt.Chart().mark_rule(strokeWidth=2).encode(x=x, xOffset=offset, color=color, y="low:Q", y2="high:Q",
                                                       tooltip=tooltip)
    points = alt.Chart().mark_point(filled=True, size=70).encode(
        x=x, xOffset=offset, color=color, shape=alt.Shape("method:N", title="method"),
        y=alt.Y("pgr:Q", title=f"PGR on {METRIC} (fraction of gap recovered)"), tooltip=tooltip)
    zero = alt.Chart().mark_rule(color="#999999", strokeDash=[4, 4]).encode(y=alt.datum(0))
    one = alt.Chart().mark_rule(color="#999999", strokeDash=[1, 3]).encode(y=alt.datum(1))
    width = max(260, 100 * len(order))
    layered = alt.layer(zero, one, bars, points, data=alt.Data(values=records)).properties(width=width,
                                                                                           height=HEIGHT)
    return layered.facet(column=alt.Column("task:N", title="task")).properties(title=alt.TitleParams(
        f"PGR by method: {data['old']['label']} vs {data['new']['label']}",
        subtitle=["grey: A (old), blue: B (new), side by side within each method; bars: 95% paired bootstrap "
                  "interval over seeds and test rows", "0 = no better than the weak supervisor, 1 = as good as "
                  "the ceiling; a cell without a point has no defined PGR on that side (see the table)"]))


# -------------------------------------------------------------------------------------------- command


def render(data_path: Path, out: Path, reports: Path, formats: Sequence[str] = ("html", "pdf")) -> dict[str, Path]:
    """Render `reports/compare.qmd` on the gathered data (parameter `data`) into `out/compare.*`, with the
    renderer `W2S_RENDERER` selects (quarto on PATH, else the offline renderer of `w2s.report`)."""
    import shutil

    from w2s import runtime
    from w2s.report import Job, render_offline, render_quarto, write_vega_header

    write_vega_header(reports)  # the Vega bundle the HTML format includes (reports/_quarto.yml)
    job = Job(reports / "compare.qmd", {"data": str(data_path.resolve())}, "compare")
    choice = runtime.renderer()
    quarto = shutil.which("quarto")
    if choice == "quarto" and quarto is None:
        raise InputError("W2S_RENDERER='quarto' but `quarto` is not on PATH (use auto or offline)")
    if quarto is not None and choice != "offline":
        return render_quarto(job, out, formats, quarto)
    return render_offline(job, out, formats)


def main(argv: Sequence[str] | None = None) -> None:
    p = argparse.ArgumentParser(prog="python -m w2s.compare", description=__doc__.split("\n\n")[0])
    p.add_argument("a", help="the old side: `workspace`, a git revision (HEAD~1, a tag, a commit) or a dvc exp name")
    p.add_argument("b", nargs="?", default=WORKSPACE, help="the new side (default: workspace)")
    p.add_argument("--out", default="data/compare", help="folder for compare.json, .html, .pdf (default: data/compare)")
    p.add_argument("--repo", default=".", help="the project folder (default: here)")
    p.add_argument("--reports", default=None, help="folder of compare.qmd (default: <repo>/reports)")
    p.add_argument("--formats", nargs="+", default=["html", "pdf"], choices=["html", "pdf"])
    args = p.parse_args(argv)
    repo = Path(args.repo).resolve()
    reports = Path(args.reports).resolve() if args.reports else repo / "reports"
    if not (reports / "compare.qmd").is_file():
        raise InputError(f"{reports / 'compare.qmd'}: report source not found")
    data = gather(repo, args.a, args.b)
    from w2s.io import atomic_dir

    out = Path(args.out)
    with atomic_dir(out) as tmp:
        (tmp / "compare.json").write_text(json.dumps(data, indent=1, sort_keys=True) + "\n")
        render(tmp / "compare.json", tmp, reports, args.formats)
    print(f"{data['old']['label']} vs {data['new']['label']}: {len(data['params'])} params differ, "
          f"{sum(r['change'] not in (None, 0) for r in data['headline'])} of {len(data['headline'])} headline "
          f"metrics changed, {len(data['cells'])} PGR cells")
    for f in sorted(out.iterdir()):
        print(f"  {f}")


if __name__ == "__main__":
    from w2s import cli

    sys.exit(cli.run(main))
