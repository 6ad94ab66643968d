"""What the lent GPU machine runs: library versions, its bf16 matmul rate and whether the stages' deterministic
mode works on CUDA (the first step of benchmarks/gpu_run.sh and gpu_final.sh)."""

from __future__ import annotations

import time

import polars
import pydantic
import torch
import transformers

from w2s import cli


def main() -> None:
    print("torch", torch.__version__, "transformers", transformers.__version__, "polars", polars.__version__,
          "pydantic", pydantic.__version__, torch.cuda.get_device_name())
    a, b = (torch.randn(8192, 8192, device="cuda", dtype=torch.bfloat16) for _ in range(2))
    for _ in range(3):
        a @ b
    torch.cuda.synchronize()
    start = time.perf_counter()
    for _ in range(10):
        a @ b
    torch.cuda.synchronize()
    print(f"bf16 8192^3 matmul: {10 * 2 * 8192**3 / (time.perf_counter() - start) / 1e12:.0f} TFLOP/s")
    try:
        cli.deterministic()
        x = torch.randn(256, 256, device="cuda")
        print("cli.deterministic() + CUDA matmul:", float((x @ x).sum()))
    except Exception as e:  # report and go on: the timings after this do not need it
        print("cli.deterministic() + CUDA matmul FAILS:", type(e).__name__, str(e).splitlines()[0])


if __name__ == "__main__":
    main()
