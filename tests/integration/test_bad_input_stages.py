"""Bad input under real DVC and real models: one clear line, a non-zero exit, nothing trusted left behind.

Each case clones the session's small reproduced lab (`lab.tiny_lab`), breaks one input, runs `dvc repro`
(or one stage script), and checks: a non-zero exit, exactly one `error: ...` line naming the culprit and
where it is, no traceback, no new object in DVC's cache, no new file in the workspace, and dvc.lock
untouched. The policy for texts longer than the model's context (truncate, count) is checked against
the tokenizer itself.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
import pytest
import yaml
from lab import TARGET, clone_lab, dvc, files, run, tiny_lab, write_params
from safetensors import safe_open

pytestmark = pytest.mark.integration


@pytest.fixture
def lab(tmp_path: Path, tmp_path_factory: pytest.TempPathFactory, data_dir: Path) -> Path:
    return clone_lab(tiny_lab(tmp_path_factory.getbasetemp(), data_dir), tmp_path / "lab")


def edit(lab: Path, change: Any) -> None:
    params = yaml.safe_load((lab / "params.yaml").read_text())
    change(params)
    write_params(lab, params)


def dvc_refuses(lab: Path, *args: str, needles: tuple[str, ...]) -> str:
    """`dvc <args>` fails with one `error:` line containing every needle, adding nothing anywhere."""
    before, lock = files(lab), (lab / "dvc.lock").read_bytes()
    done = dvc(lab, *args, check=False)
    out = done.stdout + done.stderr
    errors = [line for line in out.splitlines() if line.startswith("error:")]
    assert done.returncode != 0, out
    assert len(errors) == 1, out
    assert "Traceback" not in out, out
    for needle in needles:
        assert needle in errors[0], (needle, errors[0])
    after = files(lab)
    assert not {f for f in after - before if f.startswith(".dvc/cache")}, "a failed stage reached DVC's cache"
    assert after <= before, f"new files after a failed stage: {sorted(after - before)}"
    assert (lab / "dvc.lock").read_bytes() == lock
    print(f"dvc {' '.join(args)}: {errors[0]}")
    return errors[0]


def test_params_typo_under_dvc(lab: Path) -> None:
    edit(lab, lambda p: p["train"].update(lrr=0.1))
    dvc_refuses(lab, "repro", TARGET, needles=("params.yaml", "train: unknown key 'lrr'"))
    status = dvc(lab, "status", "--with-deps", TARGET).stdout
    assert "train_gt@sst2-minilm_l3-0" in status  # still marked changed: nothing was trusted


def test_unknown_task_under_dvc(lab: Path) -> None:
    edit(lab, lambda p: p.update(tasks=["sst2", "sst3"]))
    dvc_refuses(lab, "repro", "prepare@sst3", needles=("params.yaml", "tasks: unknown task 'sst3'"))


def test_hub_id_unavailable_offline(lab: Path) -> None:
    edit(lab, lambda p: p["models"].update(minilm_l3="nobody-w2s/no-such-model"))
    dvc_refuses(lab, "repro", "-s", "embed@sst2-minilm_l3",
                needles=("'nobody-w2s/no-such-model'", "cannot be loaded", "offline"))
    assert not (lab / "data/features/sst2/minilm_l3.safetensors").exists()


def test_corrupted_supervisor_predictions_under_dvc(lab: Path) -> None:
    path = lab / "data/runs/gt/sst2/minilm_l3/seed0/predictions.parquet"
    preds = pl.read_parquet(path)
    first = preds.filter(pl.col("part") == "train_transfer")["id"][0]
    corrupted = preds.with_columns(pl.when(pl.col("id") == first).then(float("nan")).otherwise(pl.col("p1"))
                                   .alias("p1"))
    path.unlink()  # never write through a link into DVC's cache
    corrupted.write_parquet(path)
    # the cell's manifest of what it reads is rehashed first (as `dvc repro` would), then the cell runs
    dvc(lab, "repro", "-s", "train_w2s_inputs@sst2-minilm_l3-to-minilm_l6-0")
    dvc_refuses(lab, "repro", "-s", "train_w2s@sst2-minilm_l3-to-minilm_l6-xent-0",
                needles=("sst2/minilm_l3/seed0", "predictions.parquet", "column p1", f"at id {first}"))
    assert not (lab / "data/runs/w2s/sst2/minilm_l3-to-minilm_l6/xent/seed0").exists()


def test_texts_longer_than_the_context_are_truncated_and_counted(lab: Path) -> None:
    """Policy: a text longer than `embed.max_length` tokens is truncated to it, and the stage reports how
    many were (stdout and the features file's metadata). The count must equal the tokenizer's."""
    from transformers import AutoTokenizer

    limit = 24
    edit(lab, lambda p: p["embed"].update(max_length=limit))
    out = dvc(lab, "repro", "-s", "embed@sst2-minilm_l3").stdout
    texts = pl.read_parquet(lab / "data/prepared/sst2.parquet")["text"].to_list()
    tokenizer = AutoTokenizer.from_pretrained("sentence-transformers/paraphrase-MiniLM-L3-v2")
    expected = int(sum(len(ids) > limit for ids in tokenizer(texts)["input_ids"]))
    assert 0 < expected < len(texts)
    assert f"truncated to {limit} tokens (from the right): {expected}" in out, out  # sst2: cut from the right
    with safe_open(str(lab / "data/features/sst2/minilm_l3.safetensors"), "np") as f:
        meta = f.metadata()
        assert meta["n_truncated"] == str(expected) and meta["max_length"] == str(limit)
        assert meta["task"] == "sst2" and meta["model"] == "minilm_l3" and meta["truncation"] == "right"
        assert f.get_tensor("features").shape[0] == len(texts)
        assert np.isfinite(f.get_tensor("features")).all()
    metric = json.loads((lab / "metrics/truncation/sst2/minilm_l3.json").read_text())
    assert metric == {"task": "sst2", "model": "minilm_l3", "max_length": limit, "truncation": "right",
                      "n_rows": len(texts), "hub_id": "sentence-transformers/paraphrase-MiniLM-L3-v2",
                      "revision": metric["revision"],  # the snapshot loaded (tests/integration/test_revisions_real.py)
                      "n_truncated": expected, "share_truncated": expected / len(texts)}
    print(f"embed.max_length={limit}: {expected} of {len(texts)} sst2 texts truncated")


def test_max_length_beyond_the_model_is_refused(lab: Path) -> None:
    edit(lab, lambda p: p["embed"].update(max_length=100_000))
    before = files(lab)
    done = run(lab, sys.executable, "stages/embed.py", "--task", "sst2", "--model", "minilm_l3",
               "--pool", "data/prepared/sst2.parquet", "--out", "data/features/sst2/minilm_l3.safetensors",
               "--metrics", "metrics/truncation/sst2/minilm_l3.json", check=False)
    errors = [line for line in done.stderr.splitlines() if line.startswith("error:")]
    assert done.returncode == 2 and len(errors) == 1, done.stderr
    assert "max_length 100000" in errors[0] and "512 positions" in errors[0], errors[0]
    assert files(lab) == before
    print(f"embed.max_length=100000: {errors[0]}")
