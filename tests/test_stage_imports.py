"""Each stage imports what its work needs (issue 21).

A cold `dvc repro` starts one Python process per stage, so a library a stage imports but does not use is
paid once per stage: `import torch, transformers` alone takes 5-9 s on a 2-core machine, and the probe
and analysis stages are most of the DAG. Each stage script is started in a fresh interpreter under
`python -X importtime` (its `--help`: the module-level imports, nothing computed) and the libraries it
must not load are looked up in the import tree; a failure names the stage and the chain of imports that
pulled the library in. A second test runs an L-BFGS probe stage for real: fitting a probe on cached
features is numpy and scipy, so not even the run imports torch; a stepwise loss (logconf) does.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import polars as pl
import pytest
import yaml

from w2s.io import write_features

ROOT = Path(__file__).resolve().parents[1]
STAGES = sorted(p.stem for p in (ROOT / "stages").glob("*.py"))

MODEL_LIBRARIES = ("transformers", "peft", "accelerate", "datasets")
"""Needed only to load a pretrained model (or a hub dataset): by `embed`, `saliency` and `genft`."""
#: What each stage may not import. Stages that run a transformer (embed, embed_genft, genft, saliency)
#: need everything and are not listed; training stages in probe mode need no model library (torch is
#: imported at run time by the stepwise losses only); analysis, report and plot stages need neither.
FORBIDDEN: dict[str, tuple[str, ...]] = {
    **{stage: MODEL_LIBRARIES for stage in ("train_gt", "train_w2s", "bootstrap", "sensitivity")},
    **{stage: ("torch", *MODEL_LIBRARIES) for stage in (
        "validate", "prepare", "analyze", "agreement", "overfitting", "bootstrap_report", "saliency_summary",
        "plots_page", "report", "sources", "inputs", "headline", "chess_puzzles", "difficulty")},
}
#: On top of FORBIDDEN, not at import time either: the probe stages import torch lazily, when they use it.
LAZY = {stage: ("torch",) for stage in ("train_gt", "train_w2s", "bootstrap", "sensitivity")}
NEEDS_EVERYTHING = {"embed", "embed_genft", "genft", "saliency"}


def import_tree(stderr: str) -> list[tuple[int, str]]:
    """`-X importtime` lines as (depth, module), in the order printed: a module after its imports."""
    out = []
    for line in stderr.splitlines():
        if not line.startswith("import time:") or line.rstrip().endswith("| imported package"):
            continue
        name = line.split("|", 2)[2]
        depth = (len(name) - len(name.lstrip(" "))) // 2
        out.append((depth, name.strip()))
    return out


def import_chain(tree: list[tuple[int, str]], module: str) -> list[str] | None:
    """The chain of imports from the top-level import down to the first import of `module` (or of one of
    its submodules): each entry's importer is the next line of smaller depth. None if never imported."""
    for k, (depth, name) in enumerate(tree):
        if name == module or name.startswith(module + "."):
            chain, want = [name], depth
            for d, parent in tree[k + 1:]:
                if d < want:
                    chain.append(parent)
                    want = d
                    if d == 0:
                        break
            return chain[::-1]
    return None


def loaded(stderr: str, libraries: tuple[str, ...]) -> dict[str, str]:
    """Library -> its import chain (`a -> b -> library`) for each of `libraries` the process imported."""
    tree = import_tree(stderr)
    found = {lib: import_chain(tree, lib) for lib in libraries}
    return {lib: " -> ".join(chain) for lib, chain in found.items() if chain}


def lab_env(repo: Path) -> dict[str, str]:
    import os

    return {**os.environ, "PYTHONPATH": str(repo), "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1"}


def test_import_chain_names_the_importer() -> None:
    """The parser on a hand-written tree: b imports c (and c's submodule), a imports b."""
    stderr = "\n".join([
        "import time: self [us] | cumulative | imported package",
        "import time:        1 |          1 |     c.sub",
        "import time:        1 |          2 |   c",
        "import time:        1 |          3 | b",
        "import time:        1 |          1 | d",
        "import time:        1 |          5 | a",
    ])
    tree = import_tree(stderr)
    assert tree == [(2, "c.sub"), (1, "c"), (0, "b"), (0, "d"), (0, "a")]
    assert import_chain(tree, "c") == ["b", "c", "c.sub"]
    assert import_chain(tree, "d") == ["d"]
    assert import_chain(tree, "e") is None
    assert loaded(stderr, ("c", "e")) == {"c": "b -> c -> c.sub"}


def test_every_stage_is_classified() -> None:
    """A new stage must say what it may import (FORBIDDEN) or that it runs a transformer."""
    assert set(STAGES) == set(FORBIDDEN) | NEEDS_EVERYTHING, set(STAGES) ^ (set(FORBIDDEN) | NEEDS_EVERYTHING)


@pytest.mark.parametrize("stage", sorted(FORBIDDEN))
def test_stage_imports_only_what_it_needs(stage: str) -> None:
    done = subprocess.run([sys.executable, "-X", "importtime", f"stages/{stage}.py", "--help"], cwd=ROOT,
                          env=lab_env(ROOT), capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    found = loaded(done.stderr, FORBIDDEN[stage] + LAZY.get(stage, ()))
    assert not found, f"stage {stage} imports " + "; ".join(f"{lib} via {chain}" for lib, chain in found.items())


def probe_inputs(repo: Path) -> list[str]:
    """A supervisor's run (60 train_transfer + 40 test rows of soft labels), the student's features and a
    params.yaml with one seed; returns the common arguments of train_w2s on them."""
    params = yaml.safe_load((ROOT / "params.yaml").read_text())
    params.update(tasks=["sst2"], seeds=[0], methods=["xent", "logconf"])
    params["train"].update(epochs=2, probe_c=1.0)
    (repo / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    rng = np.random.default_rng(0)
    n = 100
    ids = np.arange(n)
    labels = (ids % 2).astype(np.int8)
    parts = ["test"] * 40 + ["train_transfer"] * 60
    run = repo / "gt" / "minilm_l3" / "seed0"
    run.mkdir(parents=True)
    pl.DataFrame({"id": ids, "part": parts, "label": labels, "p1": rng.uniform(0.2, 0.8, n)}).write_parquet(
        run / "predictions.parquet")
    features = (rng.normal(size=(n, 8)) + labels[:, None]).astype(np.float32)
    (repo / "features").mkdir()
    write_features(repo / "features" / "mpnet.safetensors", ids, features, {})
    return ["--task", "sst2", "--pair", "minilm_l3-to-mpnet", "--seed", "0", "--gt-runs", "gt",
            "--features", "features"]


def test_an_lbfgs_probe_run_never_imports_torch(tmp_path: Path) -> None:
    """train_w2s of xent (L-BFGS: numpy, scipy) runs without torch; logconf (Adam on torch losses) loads it,
    which shows the check sees a run-time import."""
    args = probe_inputs(tmp_path)
    chains = {}
    for method in ("xent", "logconf"):
        done = subprocess.run([sys.executable, "-X", "importtime", str(ROOT / "stages/train_w2s.py"), *args,
                               "--method", method, "--out", f"out-{method}"], cwd=tmp_path, env=lab_env(ROOT),
                              capture_output=True, text=True, timeout=300)
        assert done.returncode == 0, done.stderr[-3000:]
        assert (tmp_path / f"out-{method}" / "predictions.parquet").is_file()
        chains[method] = loaded(done.stderr, ("torch",) + MODEL_LIBRARIES)
    assert chains["xent"] == {}, f"train_w2s (xent probe) imports {chains['xent']}"
    assert set(chains["logconf"]) == {"torch"}, chains["logconf"]
