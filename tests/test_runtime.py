"""Where a stage runs is an environment variable, not a param (issue 13 point 4): W2S_DEVICE, W2S_COMPILE
and W2S_RENDERER are read at run time, a bad value is one line naming the variable, and changing them
changes nothing DVC tracks (params), so `dvc status` stays clean when a run moves to another device."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Any

import pytest
import torch
import yaml
from pydantic import BaseModel

from w2s import cli, runtime
from w2s.config import Params, load_params, parse_params
from w2s.errors import InputError
from w2s.losses import make_loss
from w2s.train import LinearProbe, fit

ROOT = Path(__file__).resolve().parents[1]
MACHINE_KEYS = {"device", "compile", "renderer"}


def field_paths(model: type[BaseModel], prefix: str = "") -> list[str]:
    """Every key path of a params model, nested sections included."""
    out = []
    for name, f in model.model_fields.items():
        out.append(prefix + name)
        if isinstance(f.annotation, type) and issubclass(f.annotation, BaseModel):
            out += field_paths(f.annotation, f"{prefix}{name}.")
    return out


def test_no_param_names_where_a_stage_runs() -> None:
    paths = field_paths(Params)
    assert "train.lr" in paths and "embed.pooling" in paths  # the walk reaches the sections
    assert not [p for p in paths if p.rsplit(".", 1)[-1] in MACHINE_KEYS]


@pytest.mark.parametrize(("section", "key", "value"), [("train", "device", "cuda"), ("embed", "device", "cpu"),
                                                       ("saliency", "device", "auto"), ("train", "compile", True),
                                                       ("report", "renderer", "offline")])
def test_the_old_machine_params_are_refused_by_name(section: str, key: str, value: Any) -> None:
    raw = yaml.safe_load((ROOT / "params.yaml").read_text())
    raw[section][key] = value
    with pytest.raises(InputError, match=f"params.yaml: {section}: unknown key '{key}'; allowed: "):
        parse_params(raw)


def test_changing_the_device_changes_no_param(monkeypatch: pytest.MonkeyPatch) -> None:
    """What DVC hashes for a stage (its params) is the same whatever W2S_DEVICE says."""
    dumps = []
    for value in ("cpu", "cuda:3", "auto", ""):
        monkeypatch.setenv("W2S_DEVICE", value)
        monkeypatch.setenv("W2S_COMPILE", "1" if value else "0")
        dumps.append(load_params(ROOT / "params.yaml").model_dump())
    assert all(d == dumps[0] for d in dumps)


@pytest.mark.parametrize(("var", "value", "needle"), [
    ("W2S_DEVICE", "gpu7", "W2S_DEVICE='gpu7': not a device (auto, cpu, cuda, cuda:<index>, mps)"),
    ("W2S_DEVICE", "tpu:9", "W2S_DEVICE='tpu:9': not a device"),
    ("W2S_DEVICE", "cuda:x", "W2S_DEVICE='cuda:x': not a device"),
    ("W2S_DEVICE", "cpu; touch pwned", "W2S_DEVICE='cpu; touch pwned': not a device"),
    ("W2S_COMPILE", "yes", "W2S_COMPILE='yes': must be 0 or 1"),
    ("W2S_RENDERER", "latex", "W2S_RENDERER='latex': must be one of auto, quarto, offline"),
])
def test_a_bad_value_names_the_variable(monkeypatch: pytest.MonkeyPatch, var: str, value: str, needle: str) -> None:
    monkeypatch.setenv(var, value)
    with pytest.raises(InputError) as err:
        runtime.check_all()
    assert str(err.value) == needle or str(err.value).startswith(needle), str(err.value)
    assert "\n" not in str(err.value)


def test_defaults_and_well_formed_values(monkeypatch: pytest.MonkeyPatch) -> None:
    for var in ("W2S_DEVICE", "W2S_COMPILE", "W2S_RENDERER"):
        monkeypatch.delenv(var, raising=False)
    expected = "cuda" if torch.cuda.is_available() else "cpu"
    assert runtime.device().type == expected and runtime.compile_backbone() is False and runtime.renderer() == "auto"
    monkeypatch.setenv("W2S_DEVICE", " cpu ")
    monkeypatch.setenv("W2S_COMPILE", "1")
    monkeypatch.setenv("W2S_RENDERER", "offline")
    assert runtime.device() == torch.device("cpu") and runtime.compile_backbone() and runtime.renderer() == "offline"


@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without CUDA to ask for a missing one")
def test_fit_trains_where_w2s_device_says(monkeypatch: pytest.MonkeyPatch) -> None:
    """`fit` reads W2S_DEVICE: CUDA on a CPU-only machine stops before any step, naming the variable."""
    monkeypatch.setenv("W2S_DEVICE", "cuda")
    x, y = torch.randn(16, 4), torch.randint(0, 2, (16,)).float()
    g = torch.Generator().manual_seed(0)
    with pytest.raises(InputError, match="W2S_DEVICE='cuda': this torch sees no CUDA device"):
        fit(LinearProbe(x, g), x, y, make_loss("xent", {}), load_params(ROOT / "params.yaml").train, g)
    monkeypatch.setenv("W2S_DEVICE", "cpu")
    result = fit(LinearProbe(x, g), x, y, make_loss("xent", {}), load_params(ROOT / "params.yaml").train, g)
    assert result.steps > 0


def test_the_validate_stage_exits_2_naming_the_variable(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                        capsys: pytest.CaptureFixture[str]) -> None:
    spec = importlib.util.spec_from_file_location("w2s_stage_validate", ROOT / "stages" / "validate.py")
    assert spec is not None and spec.loader is not None
    stage = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(stage)
    out = tmp_path / "validated.txt"
    monkeypatch.setenv("W2S_DEVICE", "gpu7")
    code = cli.run(stage.main, ["--params", str(ROOT / "params.yaml"), "--out", str(out)])
    err = capsys.readouterr().err.strip()
    assert code == 2 and err.startswith("error: W2S_DEVICE='gpu7': not a device") and "\n" not in err, err
    assert not out.exists()
    monkeypatch.setenv("W2S_DEVICE", "cpu")
    assert cli.run(stage.main, ["--params", str(ROOT / "params.yaml"), "--out", str(out)]) == 0
    assert out.is_file()
