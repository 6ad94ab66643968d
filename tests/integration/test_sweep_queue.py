"""Sweeps on DVC's experiment queue: a 2 x 2 grid of tiny experiments run by two workers.

The session's small lab is committed to git (`dvc exp` needs a commit), the grid is queued with
`dvc exp run --queue -S ...`, run with `dvc exp run --run-all --jobs 2`, compared in `dvc exp show`,
and one experiment is promoted with `dvc exp apply`. The grid varies only logconf's parameters, so
each experiment reruns the logconf student and the analysis and takes everything else from DVC's cache.

The data path is the default relative one (`data.local_dir: ../shared/datasets`, beside the lab), which
the baseline commit changes from the tiny lab's absolute path: every queued experiment reruns `sources`
and `prepare` in DVC's temporary copy (.dvc/tmp/exps/<tmp>/, where `../shared/datasets` names nothing
unless resolved against the project root), and a fifth experiment adds a task (`-S tasks=[sst2,boolq]`),
so its `prepare@boolq` reads the mirror for the first time there.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import pytest
import yaml
from lab import TARGET, clone_lab, dvc, git, stale, tiny_lab, write_params

pytestmark = pytest.mark.integration
GRID = {"losses.logconf.alpha_max": ("0.25", "0.5"), "losses.logconf.warmup_frac": ("0.1", "0.3")}


def experiments(lab: Path) -> dict[str, dict[str, Any]]:
    """{name: {"state", "rev", "returncode", "params": params.yaml data, "metrics": {file: data}}} from
    `dvc exp show --json` (a list of baselines, each with its experiments' revisions)."""
    shown = json.loads(dvc(lab, "exp", "show", "--json").stdout)
    out = {}
    for baseline in shown:
        for exp in baseline.get("experiments") or []:
            executor = exp.get("executor") or {}
            for rev in exp["revs"]:
                data = rev["data"]
                out[rev["name"]] = {"state": executor.get("state"), "rev": rev["rev"],
                                    "returncode": (executor.get("local") or {}).get("returncode"),
                                    "params": data["params"]["params.yaml"]["data"],
                                    # a declared metrics file the baseline lacks comes as {"error": ...}
                                    "metrics": {k: v["data"] for k, v in data.get("metrics", {}).items()
                                                if "data" in v}}
    return out


def test_queued_grid_with_two_workers(tmp_path: Path, tmp_path_factory: pytest.TempPathFactory,
                                      data_dir: Path) -> None:
    lab = clone_lab(tiny_lab(tmp_path_factory.getbasetemp(), data_dir), tmp_path / "lab")
    (tmp_path / "shared").mkdir()
    (tmp_path / "shared" / "datasets").symlink_to(data_dir)  # the mirror beside the project, as on this machine
    params = yaml.safe_load((lab / "params.yaml").read_text())
    params["data"].update(source="auto", local_dir="../shared/datasets")
    write_params(lab, params)
    git(lab, "add", "-A")
    git(lab, "commit", "-qm", "baseline")

    start = time.monotonic()
    grid = [arg for key, values in GRID.items() for arg in ("-S", f"{key}={','.join(values)}")]
    dvc(lab, "exp", "run", "--queue", TARGET, *grid)
    dvc(lab, "exp", "run", "--queue", TARGET, "-S", "tasks=[sst2,boolq]")
    dvc(lab, "exp", "run", "--run-all", "--jobs", "2")
    print(f"sweep of 5 experiments with 2 workers: {time.monotonic() - start:.0f} s")
    print(dvc(lab, "exp", "show", "--md", "--only-changed").stdout)

    exps = experiments(lab)
    assert len(exps) == 5, exps.keys()
    for name, exp in exps.items():
        assert exp["state"] == "success" and exp["returncode"] == 0, (name, exp["state"], exp["returncode"])
        assert exp["params"]["data"]["local_dir"] == "../shared/datasets"
    more_tasks = {n: e for n, e in exps.items() if e["params"]["tasks"] == ["sst2", "boolq"]}
    assert len(more_tasks) == 1, exps.keys()
    boolq = json.loads(git(lab, "show", f"{next(iter(more_tasks.values()))['rev']}:metrics/pgr.json").stdout)
    assert boolq["boolq/minilm_l3-to-minilm_l6/logconf/n_seeds"] == 1
    exps = {n: e for n, e in exps.items() if n not in more_tasks}
    cells = set()
    for exp in exps.values():
        logconf = exp["params"]["losses"]["logconf"]
        cells.add((logconf["alpha_max"], logconf["warmup_frac"]))
        assert list(exp["metrics"]) == ["metrics/headline.json"]  # the per-cell tables are no DVC metrics
        pgr = json.loads(git(lab, "show", f"{exp['rev']}:metrics/pgr.json").stdout)
        # one seed: a point estimate or, where the gap is not positive, null
        assert pgr["sst2/minilm_l3-to-minilm_l6/logconf/n_seeds"] == 1
        cell = "sst2/minilm_l3-to-minilm_l6/logconf"
        assert isinstance(pgr[f"{cell}/pgr_auroc"], float) or (pgr[f"{cell}/pgr_auroc"] is None
                                                                and pgr[f"{cell}/gap_auroc"] <= 0)
    assert cells == {(0.25, 0.1), (0.25, 0.3), (0.5, 0.1), (0.5, 0.3)}

    name, chosen = next((n, e) for n, e in exps.items() if e["params"]["losses"]["logconf"]["alpha_max"] == 0.25)
    dvc(lab, "exp", "apply", name)
    applied = yaml.safe_load((lab / "params.yaml").read_text())
    assert applied["losses"]["logconf"] == chosen["params"]["losses"]["logconf"]
    applied_pgr = json.loads((lab / "metrics/pgr.json").read_text())
    assert applied_pgr == json.loads(git(lab, "show", f"{chosen['rev']}:metrics/pgr.json").stdout)
    assert stale(lab, TARGET) == {}
