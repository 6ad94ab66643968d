"""Where a stage runs, read from environment variables at run time, never from params.yaml.

Moving a run to another GPU, compiling the backbone or choosing the report renderer does not change what
is computed (up to float rounding), so these settings are not params: DVC does not rerun a stage when
they change, and experiments on different machines share the run cache.

    W2S_DEVICE    auto (default) | cpu | cuda | cuda:<index> | mps   torch device of every forward pass
    W2S_COMPILE   0 (default) | 1                                    torch.compile the backbone (finetune/lora)
    W2S_RENDERER  auto (default) | quarto | offline                  how the report stage renders
    W2S_STOCKFISH stockfish (default) | a command name or path       the engine of stage chess_puzzles
                                                                     (looked up on PATH, then /usr/games)

A bad value stops the stage with one line naming the variable and what it allows.
"""

from __future__ import annotations

import os
import re
from typing import TYPE_CHECKING

from w2s.errors import InputError

if TYPE_CHECKING:
    import torch

DEVICE_VAR, COMPILE_VAR, RENDERER_VAR = "W2S_DEVICE", "W2S_COMPILE", "W2S_RENDERER"
DEVICE_FORM = re.compile(r"auto|cpu|mps|cuda(:(0|[1-9][0-9]*))?")
"""The forms of `$W2S_DEVICE`; each (but auto) one torch parses (tests/test_validate.py), checked without it."""
DEVICES = "auto, cpu, cuda, cuda:<index>, mps"
RENDERERS = ("auto", "quarto", "offline")


def _setting(var: str, default: str) -> str:
    return os.environ.get(var, "").strip() or default


def device_setting() -> str:
    """`$W2S_DEVICE` checked for its form (`auto` when unset or empty); nothing about this machine yet."""
    value = _setting(DEVICE_VAR, "auto")
    if DEVICE_FORM.fullmatch(value) is None:
        raise InputError(f"{DEVICE_VAR}={value!r}: not a device ({DEVICES})")
    return value


def resolve_device(setting: str, where: str = DEVICE_VAR) -> torch.device:
    """The torch device `setting` names on this machine: `auto` is this process's CUDA device if there is
    one (LOCAL_RANK under `accelerate launch`), else the CPU. A CUDA or MPS device this machine lacks stops
    with one line naming `where` (a stage fails at its start, not after minutes of work)."""
    import torch  # here, not at the top: stages that never touch a device (analyses, probes) skip its import

    if setting == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda", int(os.environ.get("LOCAL_RANK", "0")) % torch.cuda.device_count())
        return torch.device("cpu")
    if DEVICE_FORM.fullmatch(setting) is None:
        raise InputError(f"{where}={setting!r}: not a device ({DEVICES})")
    dev = torch.device(setting)
    if dev.type == "cuda":
        count = torch.cuda.device_count() if torch.cuda.is_available() else 0
        if count == 0:
            raise InputError(f"{where}={setting!r}: this torch sees no CUDA device (use cpu or auto)")
        if dev.index is not None and dev.index >= count:
            raise InputError(f"{where}={setting!r}: this machine has {count} CUDA device(s)")
    if dev.type == "mps" and not torch.backends.mps.is_available():
        raise InputError(f"{where}={setting!r}: MPS is not available here")
    return dev


def device() -> torch.device:
    """The device of this run: `$W2S_DEVICE` resolved on this machine."""
    return resolve_device(device_setting())


def compile_backbone() -> bool:
    """`$W2S_COMPILE`: whether finetune/lora runs `torch.compile` their backbone (dynamic shapes; pays a
    warm-up, wins on long GPU runs)."""
    value = _setting(COMPILE_VAR, "0")
    if value not in ("0", "1"):
        raise InputError(f"{COMPILE_VAR}={value!r}: must be 0 or 1")
    return value == "1"


def renderer() -> str:
    """`$W2S_RENDERER`: `auto` (`quarto render` when quarto is on PATH, else the offline renderer of
    `w2s.report`), `quarto` or `offline`."""
    value = _setting(RENDERER_VAR, "auto")
    if value not in RENDERERS:
        raise InputError(f"{RENDERER_VAR}={value!r}: must be one of {', '.join(RENDERERS)}")
    return value


def check_all() -> None:
    """Every machine setting is well formed and the device exists here (the `validate` stage calls it).
    `auto` and `cpu` exist on every machine, so only another device costs the torch import."""
    if device_setting() not in ("auto", "cpu"):
        device()
    compile_backbone()
    renderer()
