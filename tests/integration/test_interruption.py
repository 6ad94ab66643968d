"""A stage killed midway leaves nothing that a later `dvc repro` trusts, and the rerun matches.

`dvc repro` of the small lab is started in its own process group and SIGKILLed (no cleanup handlers
run) while the strong model's `embed` stage is computing. Then: that stage has no dvc.lock entry and
no output file, `dvc status` still lists it, and a plain `dvc repro` completes with metrics
byte-identical to the uninterrupted session lab's. A temporary left by a writer killed mid-write (the
worst moment) is simulated too: it must not survive the rerun nor enter the analysis.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml
from lab import TARGET, dvc, env, fresh_copy, tiny_lab
from lab import stale as stale_stages

pytestmark = pytest.mark.integration
VICTIM = "embed@sst2-minilm_l6"
FEATURES = "data/features/sst2/minilm_l6.safetensors"


def kill_during(lab: Path, stage: str, after_s: float = 2.0, timeout_s: float = 600) -> str:
    """Start `dvc repro`, SIGKILL its whole process group `after_s` seconds into `stage`; the log so far."""
    proc = subprocess.Popen([sys.executable, "-m", "dvc", "repro", TARGET], cwd=lab, env=env(lab), text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True)
    assert proc.stdout is not None
    log: list[str] = []
    deadline = time.monotonic() + timeout_s
    try:
        for line in proc.stdout:
            log.append(line)
            if f"Running stage '{stage}'" in line:
                time.sleep(after_s)
                break
            assert time.monotonic() < deadline, "".join(log)
        else:
            pytest.fail(f"dvc repro ended before stage {stage}:\n{''.join(log)}")
        assert proc.poll() is None, "dvc repro finished before it could be killed"
    finally:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    return "".join(log)


def test_killed_stage_is_not_trusted_and_rerun_matches(tmp_path: Path, tmp_path_factory: pytest.TempPathFactory,
                                                       data_dir: Path) -> None:
    reference = tiny_lab(tmp_path_factory.getbasetemp(), data_dir)
    lab = fresh_copy(reference, tmp_path / "lab")
    kill_during(lab, VICTIM)
    assert not (lab / FEATURES).exists()
    lock = yaml.safe_load((lab / "dvc.lock").read_text()) if (lab / "dvc.lock").exists() else {"stages": {}}
    assert VICTIM not in lock["stages"]
    assert VICTIM in dvc(lab, "status", "--with-deps", TARGET).stdout

    # The worst moment: killed while renaming a finished run directory into place. Its temporary sits
    # inside data/runs/gt, a dependency of `analyze`, holding a plausible predictions.parquet.
    stale = lab / "data/runs/gt/sst2/minilm_l6/.seed0.killed.tmp"
    stale.mkdir(parents=True)
    (stale / "predictions.parquet").write_bytes((reference / "data/runs/gt/sst2/minilm_l6/seed0/predictions.parquet")
                                                .read_bytes())

    dvc(lab, "repro", TARGET)
    assert not stale.exists()
    assert not list((lab / "data").rglob("*.tmp")), "temporaries survived the rerun"
    for name in ("metrics/accuracy.json", "metrics/pgr.json"):
        assert (lab / name).read_bytes() == (reference / name).read_bytes(), name
    assert stale_stages(lab, TARGET) == {}
