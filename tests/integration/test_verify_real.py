"""Reproduction, checked as a user would: `python -m w2s.verify` on a real (tiny) pipeline, and bit-identical
artefacts anywhere through a DVC remote (docs/reproduce-and-compare.md).

- Hardware noise: the features of the strong model perturbed by 1 ulp (what another CPU's kernels do),
  accepted with `dvc commit`, everything downstream rerun: verify says the committed results reproduced.
- A real regression: one weak label changed: verify says DIFFERS and exits 1.
- A local-folder remote: `dvc push` there, a fresh `git clone`, `dvc pull`, and `dvc repro` reruns nothing.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import polars as pl
import pytest
from lab import clone_lab, dvc, git, run, stages_run, tiny_lab

from w2s.io import read_features, write_features

pytestmark = pytest.mark.integration


def committed_lab(tmp_path: Path, tmp_path_factory: pytest.TempPathFactory, data_dir: Path) -> Path:
    lab = clone_lab(tiny_lab(tmp_path_factory.getbasetemp(), data_dir), tmp_path / "lab")
    git(lab, "add", "-A")
    git(lab, "commit", "-qm", "results")
    return lab


def verify(lab: Path) -> tuple[int, str]:
    done = run(lab, sys.executable, "-m", "w2s.verify", "--rev", "HEAD", check=False)
    assert done.returncode in (0, 1), done.stderr
    return done.returncode, done.stdout


def test_one_ulp_is_within_tolerance_one_weak_label_differs(tmp_path: Path, tmp_path_factory: pytest.TempPathFactory,
                                                            data_dir: Path) -> None:
    lab = committed_lab(tmp_path, tmp_path_factory, data_dir)
    code, out = verify(lab)
    assert code == 0 and out.splitlines()[-1].startswith("REPRODUCED") and "0 within tolerance" in out

    features = lab / "data/features/sst2/minilm_l6.safetensors"
    from safetensors import safe_open

    with safe_open(str(features), "np") as f:
        meta = f.metadata() or {}
    ids, x = read_features(features)
    write_features(features, ids, np.nextafter(x, np.float32(np.inf)), meta)  # every value 1 ulp up
    dvc(lab, "commit", "-f", "embed@sst2-minilm_l6")
    dvc(lab, "repro", "analyze")
    student = pl.read_parquet(lab / "data/runs/w2s/sst2/minilm_l3-to-minilm_l6/xent/seed0/predictions.parquet")
    before = git(lab, "show", "HEAD:dvc.lock").stdout
    assert (lab / "dvc.lock").read_text() != before  # the perturbation did reach the runs' outputs
    code, out = verify(lab)
    assert code == 0, out
    assert out.splitlines()[-1].startswith("REPRODUCED"), out

    git(lab, "checkout", "-q", "--", ".")
    dvc(lab, "checkout", "-f")
    weak = lab / "data/runs/gt/sst2/minilm_l3/seed0/predictions.parquet"
    table = pl.read_parquet(weak)
    transfer = table.filter(pl.col("part") == "train_transfer")["id"]
    flip = set(transfer.head(5).to_list())  # five weak labels turned around: a real change of the data
    table = table.with_columns(pl.when(pl.col("id").is_in(list(flip))).then(1 - pl.col("p1")).otherwise("p1")
                               .alias("p1"))
    weak.chmod(0o644)
    table.write_parquet(weak)
    dvc(lab, "commit", "-f", "train_gt@sst2-minilm_l3-0")
    dvc(lab, "repro", "analyze")
    changed = pl.read_parquet(lab / "data/runs/w2s/sst2/minilm_l3-to-minilm_l6/xent/seed0/predictions.parquet")
    assert not np.array_equal(changed["p1"].to_numpy(), student["p1"].to_numpy())
    code, out = verify(lab)
    assert code == 1 and "DIFFERS" in out and out.splitlines()[-1].startswith("NOT REPRODUCED"), out


def test_pull_from_a_local_remote_reruns_nothing(tmp_path: Path, tmp_path_factory: pytest.TempPathFactory,
                                                 data_dir: Path) -> None:
    lab = committed_lab(tmp_path, tmp_path_factory, data_dir)
    dvc(lab, "remote", "add", "-d", "shared", str(tmp_path / "remote"))
    git(lab, "commit", "-qam", "a local DVC remote")
    dvc(lab, "push")
    other = tmp_path / "other"
    run(tmp_path, "git", "clone", "-q", str(lab), str(other))
    assert not (other / "data" / "runs").exists()  # a clone has the committed data records only
    dvc(other, "pull")
    out = dvc(other, "repro").stdout
    assert stages_run(out) == [], out  # only the always-run sources@<task>
    assert (other / "metrics/pgr.json").read_bytes() == (lab / "metrics/pgr.json").read_bytes()
    code, summary = verify(other)
    assert code == 0 and "0 within tolerance, 0 differ" in summary
