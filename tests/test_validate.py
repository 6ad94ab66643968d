"""Hostile and careless input (issue 19), unit level: what `w2s.config.validate` refuses up front, what a
stage checks of its arguments and files, and which paths the analyses read. The same attacks under real
DVC are in tests/integration/test_hostile_params.py."""

from __future__ import annotations

import copy
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
import pytest
import yaml

from w2s.config import parse_params
from w2s.errors import InputError
from w2s.figures import Note
from w2s.io import atomic_dir, read_features, read_parquet, write_features, write_parquet
from w2s.tasks import read_table

ROOT = Path(__file__).resolve().parents[1]
RAW = yaml.safe_load((ROOT / "params.yaml").read_text())
FILE_TASK = {"path": "data/raw/mine.csv", "text_column": "text", "label_column": "label"}


def changed(**sections: Any) -> dict[str, Any]:
    """The committed params with top-level keys replaced, or, for a dict value, merged into that section."""
    raw = copy.deepcopy(RAW)
    for key, value in sections.items():
        if isinstance(value, dict) and isinstance(raw.get(key), dict):
            raw[key] = {**raw[key], **value}
        else:
            raw[key] = value
    return raw


REFUSED = {
    "trailing newline": (changed(tasks=["mine\n"], data={"file_tasks": {"mine\n": FILE_TASK}}),
                         "data.file_tasks: key 'mine\\n' must match [a-z0-9_]+ in full"),
    "file task named like a built-in": (changed(data={"file_tasks": {"sst2": FILE_TASK}}),
                                        "data.file_tasks: 'sst2' is a built-in task"),
    "shell in a task": (changed(tasks=["sst2$(touch pwned)"]), "tasks[0]: name 'sst2$(touch pwned)'"),
    "path in a task": (changed(tasks=["../../../victim"]), "tasks[0]: name '../../../victim'"),
    "shell in a method": (changed(methods=["xent;touch pwned"]), "methods[0]: name 'xent;touch pwned'"),
    "no tasks": (changed(tasks=[]), "tasks: must not be empty"),
    "no pairs": (changed(pairs=[]), "pairs: must not be empty"),
    "no methods": (changed(methods=[]), "methods: must not be empty"),
    "nan lr": (changed(train={"lr": float("nan")}), "train.lr: must be a finite number, got nan"),
    "inf saliency lr": (changed(saliency={"lr": float("inf")}), "saliency.lr: must be a finite number"),
    "a machine setting in params": (changed(embed={"device": "cuda"}), "embed: unknown key 'device'; allowed:"),
    "loss parameter out of range": (changed(losses={**RAW["losses"], "logconf": {"alpha_max": 2.0,
                                                                                  "warmup_frac": 0.2}}),
                                    "losses.logconf: loss parameter alpha_max"),
    "report format": (changed(report={"formats": ["docx"]}), "report.formats"),
}


@pytest.mark.parametrize("case", list(REFUSED))
def test_validation_refuses_before_any_stage(case: str) -> None:
    raw, needle = REFUSED[case]
    with pytest.raises(InputError) as err:
        parse_params(raw)
    assert needle in str(err.value) and "\n" not in str(err.value).replace("\\n", ""), str(err.value)


def test_a_model_key_with_backticks_is_refused() -> None:
    raw = copy.deepcopy(RAW)
    raw["models"]["minilm_l3`touch pwned`"] = raw["models"].pop("minilm_l3")
    with pytest.raises(InputError, match=r"models: key 'minilm_l3`touch pwned`' must match"):
        parse_params(raw)


def test_a_gpu_study_still_loads_on_a_cpu_machine(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every GPU study parses on a CPU machine (to analyse its results): the device is `$W2S_DEVICE`, read
    where a stage runs. On a CPU-only torch, `W2S_DEVICE=cuda` is refused there with one line."""
    import torch

    from w2s import runtime

    for study in sorted((ROOT / "studies" / "gpu").glob("*.yaml")):
        parse_params(yaml.safe_load(study.read_text()), study.name)
    monkeypatch.setenv("W2S_DEVICE", "cuda")
    if torch.cuda.is_available():
        assert runtime.device().type == "cuda"
    else:
        with pytest.raises(InputError, match="W2S_DEVICE='cuda': this torch sees no CUDA device"):
            runtime.device()


@pytest.mark.parametrize("device", ["cpu", "cpu:0", "cuda", "cuda:0", "cuda:12", "mps", "mps:1", "cuda:01", "cuda:",
                                    "CUDA", "cuda:-1", "gpu", "cuda:1:2", "cuda:0 ", "tpu:9", "meta", "cuda:٣"])
def test_device_settings_checked_without_torch_are_the_ones_torch_accepts(device: str) -> None:
    """`runtime.device_setting` checks `$W2S_DEVICE`'s form without importing torch (seconds per stage);
    that check must accept only what torch parses to a device type the pipeline uses."""
    import torch

    try:
        accepted = torch.device(device).type in ("cpu", "cuda", "mps")
    except (RuntimeError, ValueError):
        accepted = False
    from w2s import runtime

    if runtime.DEVICE_FORM.fullmatch(device):
        assert accepted, device


def test_stage_arguments_must_be_defined_by_params() -> None:
    from w2s.validate import check_args

    p = parse_params(RAW)
    check_args(p, task="sst2", models=["minilm_l3"], seed=0, method="xent", pair=("minilm_l3", "mpnet"))
    for kwargs, needle in [({"task": "sst3"}, "--task 'sst3'"), ({"models": ["gpt2"]}, "--model 'gpt2'"),
                           ({"seed": 7}, "--seed 7"), ({"method": "kl"}, "--method 'kl'"),
                           ({"pair": ("minilm_l6", "minilm_l3")}, "--pair minilm_l6-to-minilm_l3")]:
        with pytest.raises(InputError, match=needle.replace("-", r"\-")):
            check_args(p, **kwargs)


def test_features_of_another_model_or_task_are_refused(tmp_path: Path) -> None:
    from w2s.validate import check_features

    p = parse_params(RAW)
    path = tmp_path / "f.safetensors"
    meta = {"hub_id": p.hub_id("minilm_l3"), "model": "minilm_l3", "task": "sst2"}
    write_features(path, np.arange(3), np.zeros((3, 2), dtype=np.float32), meta)
    check_features(path, p, "minilm_l3", "sst2")
    with pytest.raises(InputError, match="features of hub_id"):
        check_features(path, p, "minilm_l6", "sst2")
    with pytest.raises(InputError, match="features of task 'sst2', but the stage was given 'sciq'"):
        check_features(path, p, "minilm_l3", "sciq")


def test_analyses_read_exactly_the_runs_params_define(tmp_path: Path) -> None:
    """A leftover `.seed0.<random>.tmp` beside `seed0` is never read; a defined run that is missing stops."""
    from w2s.validate import run_dirs

    raw = changed(tasks=["sst2"], seeds=[0], methods=["xent"], ladder=["minilm_l3", "minilm_l6"],
                  pairs=[{"weak": "minilm_l3", "strong": "minilm_l6"}],
                  bootstrap={"chains": ["minilm_l3-to-minilm_l6"]})
    p = parse_params(raw)
    gt, w2s = tmp_path / "gt", tmp_path / "w2s"
    defined = [gt / "sst2/minilm_l3/seed0", gt / "sst2/minilm_l6/seed0", w2s / "sst2/minilm_l3-to-minilm_l6/xent/seed0"]
    for d in [*defined, gt / "sst2/minilm_l3/.seed0.abc123.tmp", w2s / "sst2/minilm_l3-to-mpnet/xent/seed0"]:
        d.mkdir(parents=True)
        (d / "predictions.parquet").write_bytes(b"")
    assert run_dirs(p, [gt, w2s]) == defined
    (defined[1] / "predictions.parquet").unlink()
    with pytest.raises(InputError, match="minilm_l6/seed0: missing predictions.parquet"):
        run_dirs(p, [gt, w2s])


def test_broken_files_and_directory_outputs_are_one_line(tmp_path: Path) -> None:
    truncated = tmp_path / "f.safetensors"
    write_features(truncated, np.arange(4), np.ones((4, 8), dtype=np.float32), {"hub_id": "x"})
    truncated.write_bytes(truncated.read_bytes()[:-20])
    with pytest.raises(InputError, match="not a readable features file"):
        read_features(truncated)
    not_parquet = tmp_path / "pool.parquet"
    not_parquet.write_text("text,label\na,1\n")
    with pytest.raises(InputError, match="not a readable parquet file"):
        read_parquet(not_parquet)
    with pytest.raises(InputError, match="is a directory"):
        write_parquet(pl.DataFrame({"a": [1]}), tmp_path)
    with pytest.raises(InputError, match="is a file"):
        with atomic_dir(not_parquet):
            pass


def test_a_bad_data_file_error_names_the_line_not_its_content(tmp_path: Path) -> None:
    path = tmp_path / "mine.jsonl"
    path.write_text('{"text": "a", "label": 1}\nZsecret=hunter2\n')
    with pytest.raises(InputError) as err:
        read_table(path)
    message = str(err.value).replace(str(path), "<path>")
    assert message.startswith("<path>:2: cannot read as .jsonl"), message
    assert "Z" not in message and "hunter2" not in message, message


def test_names_in_a_figure_note_are_escaped() -> None:
    note = Note("The `runs` table lacks column(s) accuracy (has: <img src=x onerror=alert(1)>).")
    shown = note._repr_markdown_()
    assert "<img" not in shown and "&lt;img src=x onerror=alert(1)&gt;" in shown


def test_w2s_cli_is_not_a_silent_command() -> None:
    done = subprocess.run([sys.executable, "-m", "w2s.cli"], capture_output=True, text=True, cwd=ROOT)
    assert done.returncode == 2 and done.stderr.startswith("usage: python -m w2s.cli"), done
    helped = subprocess.run([sys.executable, "-m", "w2s.cli", "--help"], capture_output=True, text=True, cwd=ROOT)
    assert helped.returncode == 0 and "dvc repro" in helped.stdout, helped
