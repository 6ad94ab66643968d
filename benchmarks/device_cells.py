"""Real pipeline cells (`train_gt`, `train_w2s`) on one device, to compare a GPU run with a CPU run.

The lent GPU machine has no network and at most 64 MiB travels per call: the wheels it lacks (polars,
pydantic) take ~55 MiB of that, so no pretrained weights fit beside them. The cells therefore train
**random-init** models built from the gpt2 family's configs (gpt2 124M supervises gpt2-medium 355M) on
real sst2 rows: a throughput and CPU-vs-GPU agreement check, not a weak-to-strong result. Both machines
build the same weights (torch's seeded CPU generator; `models` prints a digest of every tensor to prove it).

    python -m benchmarks.device_cells prepare          # here: params + the sst2 pool under data/device/
    python -m benchmarks.device_cells models           # random-init models under data/device/models/
    python -m benchmarks.device_cells run --device cpu --json benchmarks/results/cells_cpu.json
    python -m benchmarks.device_cells run --device cuda --json $OUT/cells_cuda.json   # on the GPU
    python -m benchmarks.device_cells compare benchmarks/results/cells_cpu.json cells_cuda.json

Each cell is the stage script itself (`stages/train_gt.py`, `stages/train_w2s.py`) run as a subprocess
with `--params data/device/params.yaml` and `W2S_DEVICE`, exactly as `dvc repro` would run it.
`--tiny` shrinks the models and the pool (the test's CPU smoke run).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform
import re
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import yaml

from w2s.errors import InputError

ROOT = Path(__file__).resolve().parent.parent
DEVICE_DIR = Path("data/device")  # --dir: relative to the project root (the stage scripts run there)
TASK = "sst2"
WEAK, STRONG = "gpt2_rand", "gpt2_medium_rand"
PAIR = f"{WEAK}-to-{STRONG}"
CONFIGS = {WEAK: "openai-community/gpt2", STRONG: "openai-community/gpt2-medium"}
TOKENIZER = "openai-community/gpt2"  # the whole gpt2 family shares it: one copy travels (device_bundle.sh)
TINY = {"n_layer": 1, "n_embd": 32, "n_head": 2}  # --tiny: both models shrunk to this (the strong one 2 layers)
SEED = 0


def model_dir(d: Path, key: str) -> Path:
    return d / "models" / key


def pool_path(d: Path) -> Path:
    return d / "prepared" / f"{TASK}.parquet"


def device_params(base: dict[str, Any], d: Path, tiny: bool, local_dir: str | None = None) -> dict[str, Any]:
    """params.yaml with one task, the two random-init models, one pair, xent, one seed, finetune mode
    (and `local_dir` as the data mirror, where given)."""
    p = dict(base)
    if local_dir is not None:
        p["data"] = {**base["data"], "local_dir": local_dir}
    p["tasks"] = [TASK]
    p["models"] = {key: str(model_dir(d, key)) for key in CONFIGS}
    p["ladder"] = list(CONFIGS)
    p["pairs"] = [PAIR]
    p["methods"] = ["xent"]
    p["seeds"] = [SEED]
    p["bootstrap"] = {**base["bootstrap"], "chains": []}
    p["saliency"] = {**base["saliency"], "model": None, "weak": None}
    p["sensitivity"] = {**base.get("sensitivity", {}), "c_grid": []}
    p["prepare"] = {**base["prepare"], "per_task": {},
                    "n_train": 64 if tiny else 512, "n_test": 32 if tiny else 256}
    p["train"] = {**base["train"], "mode": "finetune", "epochs": 2, "batch_size": 16, "lr": 1.0e-4,
                  "schedule": "cosine", "warmup_frac": 0.1, "max_length": 64, "eval_every": 8}
    return p


def _stage(script: str, args: list[str], d: Path, device: str) -> tuple[float, str]:
    """Run `stages/<script>` with the device params: its wall-clock seconds and its output. A failure stops here."""
    env = {**os.environ, "W2S_DEVICE": device,
           "PYTHONPATH": os.pathsep.join([str(ROOT), *filter(None, [os.environ.get("PYTHONPATH")])])}
    cmd = [sys.executable, f"stages/{script}", "--params", str(d / "params.yaml"), *args]
    start = time.perf_counter()
    done = subprocess.run(cmd, env=env, cwd=ROOT, text=True, capture_output=True, check=False)
    seconds = time.perf_counter() - start
    sys.stdout.write(done.stdout)
    if done.returncode != 0:
        raise InputError(f"{script} failed (exit {done.returncode}): {done.stderr.strip()[-600:]}")
    return seconds, done.stdout


def prepare(d: Path, tiny: bool, local_dir: str | None) -> None:
    """Write <d>/params.yaml and build its sst2 pool with the `sources` and `prepare` stages."""
    base = yaml.safe_load((ROOT / "params.yaml").read_text())
    (ROOT / d).mkdir(parents=True, exist_ok=True)
    (ROOT / d / "params.yaml").write_text(yaml.safe_dump(device_params(base, d, tiny, local_dir), sort_keys=False))
    sources = d / "sources" / f"{TASK}.json"
    _stage("sources.py", ["--task", TASK, "--out", str(sources)], d, "cpu")
    _stage("prepare.py", ["--task", TASK, "--sources", str(sources), "--out", str(pool_path(d))], d, "cpu")
    print(f"wrote {d / 'params.yaml'} and {pool_path(d)}")


def tensor_digest(state: dict[str, Any]) -> str:
    """sha256 over every tensor's name, dtype, shape and bytes, in name order (independent of file format)."""
    import torch

    h = hashlib.sha256()
    for name in sorted(state):
        t = state[name].detach().cpu().contiguous()
        h.update(f"{name}:{t.dtype}:{tuple(t.shape)}".encode())
        h.update(t.view(-1).view(dtype=torch.uint8).numpy().tobytes())
    return h.hexdigest()[:16]


def build_models(d: Path, tiny: bool) -> dict[str, str]:
    """Random-init backbones (seeded, built on the CPU) and their tokenizers under data/device/models/."""
    import torch
    from transformers import AutoConfig, AutoModel

    from w2s.models import load_tokenizer

    digests = {}
    for i, (key, hub_id) in enumerate(CONFIGS.items()):
        config = AutoConfig.from_pretrained(hub_id)
        if tiny:
            config.update({**TINY, "n_layer": TINY["n_layer"] + i})
        torch.manual_seed(SEED)
        model = AutoModel.from_config(config)
        out = ROOT / model_dir(d, key)
        model.save_pretrained(out)
        load_tokenizer(TOKENIZER).save_pretrained(out)
        digests[key] = tensor_digest(model.state_dict())
        n = sum(p.numel() for p in model.parameters())
        print(f"{key}: random-init {hub_id} config ({n / 1e6:.1f}M params) -> {model_dir(d, key)}, "
              f"tensor digest {digests[key]}")
    return digests


def run_cells(d: Path, device: str) -> dict[str, Any]:
    """train_gt for both models and train_w2s xent for the pair, seed 0; each cell's seconds and outputs."""
    import polars as pl
    import torch
    import transformers

    from w2s.runs import read_predictions

    runs = d / "runs" / device.replace(":", "_")
    gt = runs / "gt" / TASK
    features = d / "features" / TASK  # read in probe mode only; finetuning reads the pool's texts
    cells = {  # name: (stage script, run folder, the stage's own arguments, as dvc.yaml passes them)
        f"train_gt {model}": ("train_gt.py", gt / model / f"seed{SEED}",
                              ["--model", model, "--features", str(features / f"{model}.safetensors")])
        for model in (WEAK, STRONG)
    } | {
        f"train_w2s {PAIR} xent": ("train_w2s.py", runs / "w2s" / TASK / PAIR / "xent" / f"seed{SEED}",
                                   ["--pair", PAIR, "--method", "xent", "--gt-runs", str(gt),
                                    "--features", str(features)]),
    }
    out: dict[str, Any] = {}
    for name, (script, run_dir, extra) in cells.items():
        args = ["--task", TASK, "--seed", str(SEED), "--pool", str(pool_path(d)), "--out", str(run_dir), *extra]
        seconds, log = _stage(script, args, d, device)
        fit = re.search(r"fit ([0-9.]+) s", log)  # the stage's own timing of training + scoring, load excluded
        summary = json.loads((ROOT / run_dir / "summary.json").read_text())
        test = read_predictions(ROOT / run_dir).filter(pl.col("part") == "test").sort("id")
        out[name] = {"seconds": round(seconds, 2), "fit_seconds": float(fit[1]) if fit else None,
                     "accuracy": summary["accuracy"], "auroc": summary.get("auroc"),
                     "test_ids": test["id"].to_list(), "test_p1": [round(p, 6) for p in test["p1"].to_list()]}
        print(f"{name}: {seconds:.1f} s in all, test accuracy {summary['accuracy']:.3f}", flush=True)
    gpu = torch.cuda.get_device_name() if device.startswith("cuda") else None
    return {"device": device, "gpu": gpu, "machine": platform.machine(), "cpus": os.cpu_count(),
            "torch": torch.__version__, "transformers": transformers.__version__,
            "date": time.strftime("%Y-%m-%d"), "cells": out}


def compare(a: dict[str, Any], b: dict[str, Any]) -> str:
    """A markdown table: each cell's accuracy and seconds on both sides, and how far their test predictions agree."""
    lines = [f"| cell | accuracy {a['device']} | accuracy {b['device']} | same label | max abs dp1 | "
             f"fit s {a['device']} | fit s {b['device']} | all s {a['device']} | all s {b['device']} |",
             "|---|---|---|---|---|---|---|---|---|"]
    for name, x in a["cells"].items():
        y = b["cells"].get(name)
        if y is None:
            lines.append(f"| {name} | {x['accuracy']:.3f} | (not run) | | | {x['fit_seconds']} | | {x['seconds']} | |")
            continue
        if x["test_ids"] != y["test_ids"]:
            raise InputError(f"{name}: the two runs scored different test rows (different pools)")
        same = sum((p >= 0.5) == (q >= 0.5) for p, q in zip(x["test_p1"], y["test_p1"], strict=True))
        dp = max(abs(p - q) for p, q in zip(x["test_p1"], y["test_p1"], strict=True))
        lines.append(f"| {name} | {x['accuracy']:.3f} | {y['accuracy']:.3f} | {same}/{len(x['test_p1'])} | "
                     f"{dp:.3f} | {x['fit_seconds']} | {y['fit_seconds']} | {x['seconds']} | {y['seconds']} |")
    same_init = a.get("model_digests") == b.get("model_digests")
    lines.append(f"\nSame random-init weights on both sides (tensor digests): {'yes' if same_init else 'NO'}: "
                 f"{a.get('model_digests')} vs {b.get('model_digests')}")
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--dir", type=Path, default=DEVICE_DIR,
                   help=f"where params, pool, models and runs go (default {DEVICE_DIR}; relative to the project root)")
    sub = p.add_subparsers(dest="cmd", required=True)
    for name in ("prepare", "models"):
        sub.add_parser(name).add_argument("--tiny", action="store_true", help="shrunk models and pool (smoke run)")
    sub.choices["prepare"].add_argument("--local-dir",
                                        help="the dataset mirror (default: params.yaml's data.local_dir)")
    r = sub.add_parser("run")
    r.add_argument("--device", required=True, help="W2S_DEVICE for every cell: cpu, cuda, cuda:N")
    r.add_argument("--json", type=Path, required=True, help="results file to write")
    c = sub.add_parser("compare")
    c.add_argument("a", type=Path)
    c.add_argument("b", type=Path)
    args = p.parse_args(argv)
    d: Path = args.dir
    digests = ROOT / d / "models" / "digests.json"
    if args.cmd == "prepare":
        prepare(d, args.tiny, args.local_dir)
    elif args.cmd == "models":
        digests.parent.mkdir(parents=True, exist_ok=True)
        digests.write_text(json.dumps(build_models(d, args.tiny), indent=2) + "\n")
    elif args.cmd == "run":
        missing = [f for f in (ROOT / d / "params.yaml", ROOT / pool_path(d), digests) if not f.is_file()]
        if missing:
            raise InputError(f"missing {', '.join(map(str, missing))}: run `python -m benchmarks.device_cells prepare` "
                             "here and `... models` where the cells run (on the GPU machine: carry data/device)")
        result = run_cells(d, args.device)
        result["model_digests"] = json.loads(digests.read_text())
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(result, indent=1) + "\n")
    else:
        print(compare(*(json.loads(path.read_text()) for path in (args.a, args.b))))


if __name__ == "__main__":
    from w2s.cli import run

    sys.exit(run(main))
