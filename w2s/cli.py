"""What every stage script shares: argument parsing, deterministic torch, one-line errors."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable, Sequence

from w2s.errors import InputError


def parser(description: str | None) -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=description)
    p.add_argument("--params", default="params.yaml", help="params file (default: params.yaml)")
    return p


def deterministic(threads: int | None = None) -> None:
    """Deterministic kernels and a fixed thread count.

    Training stages pass threads=1: probe batches are tiny, where extra threads only add
    synchronisation (a 32-row loss took 7.7 ms on 2 threads vs 0.08 ms on 1 here), and one thread
    makes the float reductions, hence the metrics, identical on every CPU. Embedding uses all cores
    (`W2S_THREADS` overrides).
    """
    import torch

    # On CUDA, deterministic mode refuses cuBLAS matmuls unless cuBLAS gets a fixed workspace; it reads
    # this when its first handle is created, i.e. after this call. No effect on CPU.
    os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
    torch.use_deterministic_algorithms(True)
    torch.set_num_threads(threads or int(os.environ.get("W2S_THREADS", os.cpu_count() or 1)))


def run(main: Callable[[Sequence[str] | None], None], argv: Sequence[str] | None = None) -> int:
    """Run a stage's main; bad input ends with `error: <message>` on stderr and exit status 2."""
    try:
        main(argv)
    except InputError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    return 0


def usage(argv: Sequence[str] | None = None) -> int:
    """`python -m w2s.cli`: this module is the stage scripts' shared code, not a command. `--help` explains
    how the pipeline is run; anything else prints the usage line and exits 2 (never a silent success)."""
    p = argparse.ArgumentParser(prog="python -m w2s.cli", description=(
        "Shared code of the stage scripts, not a command. Run the pipeline with `dvc repro` (or one stage "
        "with `dvc repro -s <stage>`); each script in stages/ also takes --help."))
    p.parse_args(argv)
    p.print_usage(sys.stderr)
    print("error: w2s.cli is not a command; run `dvc repro`, or `python stages/<stage>.py --help`", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(usage())
