"""`python -m benchmarks.device_cells` on the CPU, tiny: the path a GPU call takes for issue 16's pipeline cells.

Real stage scripts (sources, prepare, train_gt, train_w2s) on real sst2 rows, random-init gpt2-family models
built from the cached configs with the one shared gpt2 tokenizer. What the GPU comparison rests on is checked
here: the same call builds the same weights (tensor digest), the saved folder holds exactly those weights,
and a run compared with itself agrees on every test row.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import yaml

from benchmarks import device_cells

ROOT = Path(__file__).resolve().parents[2]


def _cells(*args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1", "OMP_NUM_THREADS": "1"}
    return subprocess.run([sys.executable, "-m", "benchmarks.device_cells", *args], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=900)


def test_tiny_cells_run_compare_and_rebuild_the_same_weights(tmp_path: Path, data_dir: Path) -> None:
    d = tmp_path / "device"
    ran = _cells("--dir", str(d), "run", "--device", "cpu", "--json", str(tmp_path / "x.json"))
    assert ran.returncode == 2 and ran.stderr.strip().startswith("error: missing "), ran.stderr

    prep = _cells("--dir", str(d), "prepare", "--tiny", "--local-dir", str(data_dir))
    assert prep.returncode == 0, prep.stderr[-2000:]
    params = yaml.safe_load((d / "params.yaml").read_text())
    assert params["train"]["mode"] == "finetune" and params["pairs"] == [device_cells.PAIR]
    assert params["models"] == {key: str(d / "models" / key) for key in device_cells.CONFIGS}

    built = _cells("--dir", str(d), "models", "--tiny")
    assert built.returncode == 0, built.stderr[-2000:]
    digests = json.loads((d / "models" / "digests.json").read_text())
    assert set(digests) == set(device_cells.CONFIGS)
    from transformers import AutoModel

    for key, digest in digests.items():  # the saved weights are the digested ones
        assert device_cells.tensor_digest(AutoModel.from_pretrained(d / "models" / key).state_dict()) == digest
    again = device_cells.build_models(tmp_path / "again", tiny=True)  # a second build: identical weights
    assert again == digests

    out = tmp_path / "cells_cpu.json"
    ran = _cells("--dir", str(d), "run", "--device", "cpu", "--json", str(out))
    assert ran.returncode == 0, ran.stderr[-2000:]
    result = json.loads(out.read_text())
    assert result["device"] == "cpu" and result["model_digests"] == digests
    assert list(result["cells"]) == [f"train_gt {device_cells.WEAK}", f"train_gt {device_cells.STRONG}",
                                     f"train_w2s {device_cells.PAIR} xent"]
    for cell in result["cells"].values():
        assert 0.0 <= cell["accuracy"] <= 1.0 and cell["fit_seconds"] > 0
        assert len(cell["test_p1"]) == len(cell["test_ids"]) == 32  # the tiny pool's test rows

    table = _cells("compare", str(out), str(out))
    assert table.returncode == 0, table.stderr
    assert table.stdout.count("| 32/32 | 0.000 |") == 3
    assert "Same random-init weights on both sides (tensor digests): yes" in table.stdout
