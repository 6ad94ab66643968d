"""`python -m w2s.compare` on a real git + DVC project: a one-stage pipeline whose params set its
headline and pgr.json (same keys as the lab's), two commits, two `dvc exp run` experiments and an
edited workspace. The sides resolve through git (an experiment: its ref,
checked against `dvc exp show --json`); the diffs come from `dvc params
diff` / `dvc metrics diff` and each side's committed pgr.json; the report draws in headless Chromium
with no network (the screenshot in docs/figures/compare.png is of the lab's own history)."""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

import pytest
from browser import census, dump_dom
from lab import dvc, git, run

from w2s import compare as C
from w2s.errors import InputError

ROOT = Path(__file__).resolve().parents[2]

# The stage: headline.json and pgr.json from `x` (PGR = x / 10, interval +- 0.1), as the lab writes them.
MAKE = '''import json, yaml
x = yaml.safe_load(open("params.yaml"))["x"]
cell = {"pgr_accuracy": x / 10, "pgr_accuracy_low": x / 10 - 0.1, "pgr_accuracy_high": x / 10 + 0.1, "n_seeds": 3}
pgr = {f"t/{pair}/xent/{k}": v for pair in ("a-to-b", "pooled") for k, v in cell.items()}
pgr["t/pooled/xent/pgr_accuracy_status"] = "ok"
pgr["t/a-to-b/logconf/pgr_accuracy"] = None if x > 2 else 0.5
json.dump(pgr, open("metrics/pgr.json", "w"), indent=1, sort_keys=True)
json.dump({"t": {"xent": x / 10, "ceiling": 0.8}, "agreement": 0.5}, open("metrics/headline.json", "w"))
'''
DVC_YAML = """stages:
  headline:
    cmd: python make.py
    deps: [make.py]
    params: [x]
    outs:
      - metrics/pgr.json:
          cache: false
    metrics:
      - metrics/headline.json:
          cache: false
"""


@pytest.fixture(scope="module")
def repo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Commits x=1 (HEAD~1) and x=2 (HEAD), the experiment exp-three (x=3) on the first as baseline and
    exp-four (x=4) on the second, then a workspace with x=5 (outputs written, nothing committed)."""
    repo = tmp_path_factory.mktemp("compare") / "proj"
    (repo / "metrics").mkdir(parents=True)
    git(repo, "init", "-q")
    dvc(repo, "init", "-q")
    (repo / "make.py").write_text(MAKE)
    (repo / "dvc.yaml").write_text(DVC_YAML)
    for x, exp in ((1, "exp-three"), (2, "exp-four")):
        (repo / "params.yaml").write_text(f"x: {x}\nname: lab\n")
        run(repo, sys.executable, "make.py")  # the stage's command, without DVC's start-up time
        git(repo, "add", "-A")
        git(repo, "commit", "-qm", f"x={x}")
        dvc(repo, "exp", "run", "-q", "-n", exp, "-S", f"x={x + 2}")
    (repo / "params.yaml").write_text("x: 5\nname: lab\n")
    run(repo, sys.executable, "make.py")
    return repo


def test_sides_resolve_through_git_and_the_experiments_refs(repo: Path) -> None:
    head = git(repo, "rev-parse", "HEAD~1").stdout.strip()
    old = C.resolve(repo, "HEAD~1")
    assert (old.rev, old.kind, old.subject) == (head, "commit", "x=1") and old.label == f"HEAD~1 ({head[:7]})"
    assert C.resolve(repo, "workspace").kind == "workspace"
    # the commit of each experiment, of either baseline, is the rev `dvc exp show` lists
    shown = json.loads(dvc(repo, "exp", "show", "--json", "--all-commits").stdout)
    revs = {r["name"]: r["rev"] for b in shown for e in b.get("experiments") or [] for r in e["revs"]}
    assert revs == C.experiment_revs(repo) and set(revs) == {"exp-three", "exp-four"}
    exp = C.resolve(repo, "exp-three")
    assert exp.kind == "experiment" and exp.rev == revs["exp-three"] and exp.label == f"exp-three ({exp.rev[:7]})"
    assert git(repo, "show", f"{exp.rev}:params.yaml").stdout.startswith("x: 3")
    with pytest.raises(InputError, match="no-such-exp: neither `workspace`, a git revision nor a `dvc exp` name"):
        C.resolve(repo, "no-such-exp")


def test_two_experiments(repo: Path) -> None:
    data = C.gather(repo, "exp-three", "exp-four")
    assert (data["old"]["kind"], data["new"]["kind"]) == ("experiment", "experiment")
    assert data["params"] == [{"file": "params.yaml", "key": "x", "old": 3, "new": 4}]
    xent = next(r for r in data["headline"] if r["key"] == "t.xent")
    assert (xent["old"], xent["new"], xent["change"]) == (pytest.approx(0.3), pytest.approx(0.4), pytest.approx(0.1))


def test_previous_commit_vs_workspace_drawn_offline_in_chromium(repo: Path, tmp_path: Path,
                                                               capsys: pytest.CaptureFixture) -> None:
    out = tmp_path / "compare"
    C.main(["HEAD~1", "--repo", str(repo), "--out", str(out), "--reports", str(ROOT / "reports")])
    assert "1 params differ, 1 of 3 headline metrics changed, 3 PGR cells" in capsys.readouterr().out
    assert {p.name for p in out.iterdir()} >= {"compare.json", "compare.html", "compare.pdf"}
    assert out.joinpath("compare.pdf").read_bytes().startswith(b"%PDF-")

    data = json.loads(out.joinpath("compare.json").read_text())
    assert data["new"]["rev"] == "workspace"
    assert data["params"] == [{"file": "params.yaml", "key": "x", "old": 1, "new": 5}]
    rows = {r["key"]: r for r in data["headline"]}
    assert set(rows) == {"agreement", "t.ceiling", "t.xent"} and rows["agreement"]["change"] == 0
    assert (rows["t.xent"]["old_low"], rows["t.xent"]["new_high"]) == (pytest.approx(0.0), pytest.approx(0.6))
    cells = {(r["pair"], r["method"]): r for r in data["cells"]}
    assert list(cells) == [("a-to-b", "logconf"), ("a-to-b", "xent"), ("pooled", "xent")]
    assert cells[("a-to-b", "logconf")]["old_pgr"] == 0.5 and cells[("a-to-b", "logconf")]["new_pgr"] is None
    assert cells[("pooled", "xent")]["new_status"] == "ok"

    page = out / "compare.html"
    html = page.read_text()
    assert not re.search(r"""<(script|link|img)[^>]+(src|href)=["']?(https?:)?//""", html), "external resource"
    assert "<td>0.100 [0.000, 0.200]</td>" in html and "<td>+0.400</td>" in html  # t.xent, both sides and change
    seen = census(dump_dom(page))
    assert seen.body.get("data-charts-rendered") == "1" and "data-chart-errors" not in seen.body, seen.body
    chart = seen.charts[0]
    assert chart["drawn"] and int(str(chart["marks"])) >= 6, chart  # points and bars of both sides
    assert str(chart["title"]).startswith("PGR by method: HEAD~1 (") and str(chart["title"]).endswith(" vs workspace")
