"""Throughput of the lab's hot paths against a naive reference loop, timed in the same run (issue 7).

    python -m benchmarks.bench                    # gpt2 (random init) on whatever device is here
    python -m benchmarks.bench --model gpt2-large --seq-len 512 --batch-size 16 --steps 20     # the GPU target
    python -m benchmarks.bench --tiny             # seconds on a CPU: the CI smoke test

Four measurements, each on the same texts and the same model:

- **embed**: `w2s.features.embed_texts` (the `embed` stage: tokenize, length-sorted batches, forward,
  pool, copy to host) against a **bare forward** over the very same pre-padded batches already on the
  device (`model(input_ids, attention_mask)` and nothing else). Their time ratio is the overhead of
  everything around the forward pass.
- **train**: `w2s.train.fit` in finetune mode (length buckets, bf16 autocast on CUDA, fused AdamW, SDPA
  attention, no per-step host sync) against a **naive loop** as peers write it: fp32, every batch padded
  to the longest text of the whole split, batches in random order with no bucketing, a Python list per
  example collated per batch, default AdamW, and `loss.item()` after every step.
- **label**: `w2s.train.predict` (length-sorted batches, inference mode, autocast) against the naive
  labelling loop (fp32, padded to the split's longest, `no_grad`, `.cpu().tolist()` per batch).
- **probe**: `w2s.train.fit` of one `LinearProbe` on cached features (1000 x 768 by default) for the
  default epochs, the probe mode's whole training cost.

Throughput counts **real tokens** (padding excluded), so padding shows up as lost throughput. Model-FLOPs
utilisation is MFU = 6 · N · tokens / time / peak, where N counts the parameters that do matrix work per
token (embedding tables excluded: a classifier has no LM head, so the token table is a lookup) and
attention's own FLOPs are left out (a few percent at 512 tokens); peak is the device's dense bf16 rate
from `PEAK_BF16_TFLOPS` (`--peak-tflops` for other devices; CPUs have none, so MFU is left blank).
Real task texts are used when a local data mirror has them (`--data-dir`, `--task`); otherwise, and
always with `--synthetic`, deterministic texts are drawn from the tokenizer's vocabulary with a
log-normal length distribution (median about half of `--seq-len`, a tail truncated at it), or, with
`--lengths full`, every text filling `--seq-len`.
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import json
import math
import os
import platform
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from w2s.config import TrainParams
from w2s.errors import InputError
from w2s.features import embed_texts, pad_batch
from w2s.losses import xent
from w2s.models import SequenceClassifier
from w2s.runtime import resolve_device
from w2s.textdata import TextRows, tokenize_rows
from w2s.train import LinearProbe, autocast_dtype, fit, predict

PEAK_BF16_TFLOPS: tuple[tuple[str, float], ...] = (
    # (substring of torch.cuda.get_device_name, dense bf16 tensor-core TFLOP/s from the datasheet);
    # the first match wins, so the specific names come before the generic ones.
    ("H100 PCIe", 756.0),
    ("H100 NVL", 835.0),
    ("H100", 989.0),  # SXM / HBM3
    ("H200", 989.0),
    ("GH200", 989.0),
    ("A100", 312.0),
    ("L40S", 362.0),
    ("L4", 121.0),
)
GPT2_FAMILY = ("gpt2", "gpt2-medium", "gpt2-large", "gpt2-xl")
ROWS = ("embed: embed_texts", "embed: bare forward", "train: w2s fit", "train: naive loop",
        "label: w2s predict", "label: naive loop", "probe: fit LinearProbe")
"""Every row the table prints, in order (tests check them)."""


# ------------------------------------------------------------------------------------------- result


@dataclass
class Row:
    """One timed measurement. `ref` names the row it is compared with (speed-up = ref time / time)."""

    name: str
    seconds: float
    cpu_seconds: float
    sequences: int
    tokens: int | None
    mfu: float | None = None
    ref: str | None = None
    speedup: float | None = None
    note: str = ""

    @property
    def seq_per_s(self) -> float:
        return self.sequences / self.seconds

    @property
    def tok_per_s(self) -> float | None:
        return None if self.tokens is None else self.tokens / self.seconds


@dataclass
class Report:
    header: dict[str, Any]
    rows: list[Row] = field(default_factory=list)

    def add(self, row: Row) -> Row:
        self.rows.append(row)
        return row

    def get(self, name: str) -> Row | None:
        return next((r for r in self.rows if r.name == name), None)

    def table(self) -> str:
        lines = [f"{'row':24s} {'seconds':>9s} {'cpu_s':>8s} {'seq/s':>10s} {'tok/s':>10s} {'MFU':>6s} "
                 f"{'vs ref':>8s}  note", "-" * 100]
        for r in self.rows:
            tok = "-" if r.tok_per_s is None else f"{r.tok_per_s:10.0f}"
            mfu = "-" if r.mfu is None else f"{100 * r.mfu:5.1f}%"
            ratio = "-" if r.speedup is None else f"{r.speedup:7.2f}x"
            lines.append(f"{r.name:24s} {r.seconds:9.3f} {r.cpu_seconds:8.3f} {r.seq_per_s:10.1f} {tok:>10s} "
                         f"{mfu:>6s} {ratio:>8s}  {r.note}")
        return "\n".join(lines)

    def summary(self) -> str:
        parts = [f"device={self.header['device_name']}", f"model={self.header['model']}",
                 f"seq_len={self.header['seq_len']}"]
        train, label = self.get("train: w2s fit"), self.get("label: w2s predict")
        embed, probe = self.get("embed: embed_texts"), self.get("probe: fit LinearProbe")
        if embed is not None and embed.speedup is not None:
            parts.append(f"embed/bare={1 / embed.speedup:.2f}x time")
        if train is not None and train.tok_per_s is not None:
            mfu = "n/a" if train.mfu is None else f"{100 * train.mfu:.1f}%"
            parts.append(f"train={train.tok_per_s:.0f} tok/s MFU={mfu}")
            if train.speedup is not None:
                parts.append(f"train speedup={train.speedup:.2f}x naive")
        if label is not None and label.speedup is not None:
            parts.append(f"label speedup={label.speedup:.2f}x naive")
        if probe is not None:
            parts.append(f"probe fit={probe.seconds:.3f}s")
        return "summary: " + " ".join(parts)


# ------------------------------------------------------------------------------------------ devices


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def timed(fn: Callable[[], object], device: torch.device) -> tuple[float, float]:
    """(wall seconds, this process's CPU seconds) of one call, with the device drained before and after.

    On a busy shared CPU the wall time of a one-thread run includes waiting for a core; its CPU time
    does not, so the table shows both."""
    sync(device)
    wall, cpu = time.perf_counter(), time.process_time()
    fn()
    sync(device)
    return time.perf_counter() - wall, time.process_time() - cpu


def best_pair(fast: Callable[[], object], ref: Callable[[], object], device: torch.device,
              repeats: int) -> tuple[tuple[float, float], tuple[float, float]]:
    """Fastest (wall, cpu) of `repeats` timed calls of each function, alternating the two so that a
    change of machine load hits both alike, after one untimed warm-up call of each."""
    fast()
    ref()
    a, b = [], []
    for _ in range(max(1, repeats)):
        a.append(timed(fast, device))
        b.append(timed(ref, device))
    return min(a), min(b)


def device_name(device: torch.device) -> str:
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    return f"{platform.processor() or platform.machine()} CPU, {torch.get_num_threads()} threads"


def peak_tflops(device: torch.device, override: float | None) -> float | None:
    """Dense bf16 peak of the device in TFLOP/s: the override, the table's entry, or None (CPU/unknown)."""
    if override is not None:
        return override
    if device.type != "cuda":
        return None
    name = torch.cuda.get_device_name(device)
    return next((tflops for key, tflops in PEAK_BF16_TFLOPS if key in name), None)


def matmul_params(model: nn.Module) -> int:
    """Parameters that do matrix work per token: all of them minus embedding tables (lookups)."""
    total = sum(p.numel() for p in model.parameters())
    tables = sum(m.weight.numel() for m in model.modules() if isinstance(m, nn.Embedding))
    return total - tables


# -------------------------------------------------------------------------------------------- model


def tiny_config(seq_len: int) -> Any:
    from transformers import GPT2Config

    return GPT2Config(n_layer=2, n_embd=64, n_head=2, n_positions=max(seq_len, 64), vocab_size=50257)


def build_model(name: str, init: str, tiny: bool, seq_len: int,
                generator: torch.Generator) -> tuple[SequenceClassifier, Any, str]:
    """(SequenceClassifier in finetune mode on the CPU, its tokenizer, a description).

    A gpt2-family name (or `init="random"`) builds random weights from the cached config: weights
    need not travel, and throughput does not depend on their values. Other ids load pretrained weights.
    """
    from transformers import AutoConfig

    from w2s.models import classifier_from_backbone, classifier_from_config, load_backbone, load_tokenizer

    hub_id = f"openai-community/{name}" if name in GPT2_FAMILY else name
    if tiny:
        tokenizer = load_tokenizer(hub_id)
        model = classifier_from_config(tiny_config(seq_len), mode="finetune", generator=generator)
        return model, tokenizer, f"{hub_id} tokenizer, tiny 2-layer GPT2Config (random init)"
    if init == "auto":
        init = "random" if hub_id.removeprefix("openai-community/") in GPT2_FAMILY else "pretrained"
    if init == "random":
        try:
            config = AutoConfig.from_pretrained(hub_id)
        except OSError as exc:
            raise InputError(f"--model {name}: no config for {hub_id!r} in the hub cache ({exc})") from None
        # the gpt2 family shares one tokenizer: only gpt2's travels to the GPU (device_bundle.sh)
        family = hub_id.removeprefix("openai-community/") in GPT2_FAMILY
        tokenizer = load_tokenizer("openai-community/gpt2" if family else hub_id)
        model = classifier_from_config(config, mode="finetune", generator=generator)
        return model, tokenizer, f"{hub_id} (random init from its config)"
    backbone, tokenizer = load_backbone(hub_id)
    model = classifier_from_backbone(backbone, mode="finetune", generator=generator)
    return model, tokenizer, f"{hub_id} (pretrained)"


# -------------------------------------------------------------------------------------------- texts


def real_texts(data_dir: Path, task: str, n: int) -> list[str] | None:
    """The first `n` formatted training texts of `task` from a local mirror (cycled if short), or None."""
    if not (data_dir / task).is_dir():
        return None
    from w2s.tasks import load_task  # polars: imported only when a mirror is here

    splits = load_task(task, source="local", local_dir=str(data_dir), seed=0)
    frame = splits.get("train", next(iter(splits.values())))
    texts = frame["text"].to_list()
    if not texts:
        return None
    return [texts[i % len(texts)] for i in range(n)]


def synthetic_texts(tokenizer: Any, n: int, seq_len: int, lengths: str, seed: int = 0) -> list[str]:
    """`n` deterministic texts of whole words from the tokenizer's own vocabulary.

    Word counts are log-normal (median ~ seq_len / 2, sigma 0.6; about 10% exceed `seq_len` and get
    truncated, like long documents), at least 4; with `lengths="full"` every text overfills `seq_len`.
    The words are vocabulary entries that are plain lowercase ASCII words, so one word is about one token.
    """
    vocab = sorted(tokenizer.get_vocab())
    words = []
    for token in vocab:
        text = tokenizer.convert_tokens_to_string([token]).strip()
        if 3 <= len(text) <= 10 and text.isascii() and text.isalpha() and text.islower():
            words.append(text)
    if len(words) < 100:
        raise InputError(f"synthetic texts: only {len(words)} plain words in the tokenizer's vocabulary")
    rng = np.random.default_rng(seed)
    if lengths == "full":
        counts = np.full(n, seq_len + 8)
    else:
        counts = np.clip(rng.lognormal(math.log(seq_len / 2), 0.6, n), 4, 2 * seq_len).astype(int)
    pool = np.array(words)
    return [" ".join(pool[rng.integers(0, len(pool), int(c))]) for c in counts]


# ---------------------------------------------------------------------------------------- the loops


def naive_padded(rows: TextRows) -> tuple[list[list[int]], list[list[int]]]:
    """Every row as Python lists (ids, mask) padded to the longest row of the whole split, as a peer's
    dataset does with `tokenizer(texts, padding="longest")` over the split."""
    width = int(rows.lengths.max())
    ids, masks = [], []
    for o, n in zip(rows.offsets, rows.lengths, strict=True):
        pad = width - int(n)
        ids.append(rows.flat[o : o + n].tolist() + [rows.pad_id] * pad)
        masks.append([1] * int(n) + [0] * pad)
    return ids, masks


def naive_train(model: nn.Module, ids: list[list[int]], masks: list[list[int]], targets: list[float],
                batch_size: int, device: torch.device, lr: float, seed: int) -> None:
    """One epoch as peers write it: fp32, split-wide padding, random batches, per-example collation,
    default AdamW, and a `.item()` (host sync) after every step."""
    optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=lr)
    order = torch.randperm(len(ids), generator=torch.Generator().manual_seed(seed)).tolist()
    model.train()
    losses = []
    for start in range(0, len(order), batch_size):
        batch = order[start : start + batch_size]
        input_ids = torch.tensor([ids[i] for i in batch]).to(device)
        attention_mask = torch.tensor([masks[i] for i in batch]).to(device)
        y = torch.tensor([targets[i] for i in batch]).to(device)
        logits = model(input_ids=input_ids, attention_mask=attention_mask)
        loss = nn.functional.binary_cross_entropy_with_logits(logits, y)
        loss.backward()
        optimizer.step()
        optimizer.zero_grad()
        losses.append(loss.item())
    del optimizer


def naive_label(model: nn.Module, ids: list[list[int]], masks: list[list[int]], batch_size: int,
                device: torch.device) -> list[float]:
    """Labelling as peers write it: fp32, split-wide padding, input order, `.cpu().tolist()` per batch."""
    model.eval()
    probs: list[float] = []
    with torch.no_grad():
        for start in range(0, len(ids), batch_size):
            input_ids = torch.tensor(ids[start : start + batch_size]).to(device)
            attention_mask = torch.tensor(masks[start : start + batch_size]).to(device)
            probs.extend(torch.sigmoid(model(input_ids=input_ids, attention_mask=attention_mask)).cpu().tolist())
    model.train()
    return probs


# ------------------------------------------------------------------------------------- measurements


@dataclass(frozen=True)
class Setup:
    """What every measurement shares."""

    model: SequenceClassifier
    tokenizer: Any
    texts: list[str]
    device: torch.device
    peak: float | None
    n_matmul: int
    args: argparse.Namespace

    def mfu(self, flops_per_token_per_param: int, tokens: int, seconds: float) -> float | None:
        if self.peak is None:
            return None
        return flops_per_token_per_param * self.n_matmul * tokens / seconds / (self.peak * 1e12)


def bench_embed(s: Setup, report: Report) -> None:
    """embed_texts vs a bare forward over the same length-sorted batches, pre-padded and on the device."""
    from w2s.features import tokenize
    from w2s.textdata import pad_id_of

    args, dev = s.args, s.device
    backbone, pooling = s.model.backbone, s.model.pooling
    texts = s.texts[: args.infer_rows]
    ids, _ = tokenize(texts, s.tokenizer, args.seq_len)
    tokens = sum(len(x) for x in ids)
    order = np.argsort(-np.array([len(x) for x in ids]), kind="stable")
    batches = [pad_batch([ids[i] for i in order[b : b + args.infer_batch_size]], pad_id_of(s.tokenizer))
               for b in range(0, len(ids), args.infer_batch_size)]
    batches = [(i.to(dev), m.to(dev)) for i, m in batches]
    dtype = autocast_dtype("auto", dev)  # what embed_texts uses: bf16 on CUDA, fp32 elsewhere
    cast = torch.autocast(dev.type, dtype=dtype) if dtype is not None else contextlib.nullcontext()

    def bare() -> None:
        with torch.inference_mode(), cast:
            for input_ids, mask in batches:
                backbone(input_ids=input_ids, attention_mask=mask)

    def stage() -> None:
        embed_texts(texts, backbone, s.tokenizer, pooling=pooling, batch_size=args.infer_batch_size,
                    max_length=args.seq_len, device=dev, progress=False)

    backbone.eval()
    try:
        (t_stage, c_stage), (t_bare, c_bare) = best_pair(stage, bare, dev, args.repeats)
    finally:
        backbone.train()
    bare_row = Row("embed: bare forward", t_bare, c_bare, len(texts), tokens, s.mfu(2, tokens, t_bare),
                   note="same sorted batches, pre-padded, on device")
    t_tok, _ = timed(lambda: tokenize(texts, s.tokenizer, args.seq_len), dev)
    report.add(Row("embed: embed_texts", t_stage, c_stage, len(texts), tokens, s.mfu(2, tokens, t_stage),
                   ref=bare_row.name, speedup=t_bare / t_stage,
                   note=f"tokenize ({t_tok:.3f} s of it)+pad+forward+pool+copy"))
    report.add(bare_row)


def bench_label(s: Setup, report: Report, rows: TextRows) -> None:
    """w2s.train.predict vs the naive labelling loop on the same rows."""
    args, dev = s.args, s.device
    tokens = int(rows.lengths.sum())
    ids, masks = naive_padded(rows)
    (t_fast, c_fast), (t_naive, c_naive) = best_pair(
        lambda: predict(s.model, rows, args.infer_batch_size, device=dev, precision=args.precision),
        lambda: naive_label(s.model, ids, masks, args.infer_batch_size, dev), dev, args.repeats)
    width = len(ids[0])
    report.add(Row("label: w2s predict", t_fast, c_fast, len(rows), tokens, s.mfu(2, tokens, t_fast),
                   ref="label: naive loop", speedup=t_naive / t_fast,
                   note=f"sorted batches, {args.precision} precision"))
    report.add(Row("label: naive loop", t_naive, c_naive, len(rows), tokens, s.mfu(2, tokens, t_naive),
                   note=f"fp32, all padded to {width}"))


def bench_train(s: Setup, report: Report, rows: TextRows) -> None:
    """w2s.train.fit (finetune) vs the naive training loop, one epoch each over the same rows."""
    args, dev = s.args, s.device
    n, tokens = len(rows), int(rows.lengths.sum())
    targets = torch.rand(n, generator=torch.Generator().manual_seed(1))
    params = TrainParams(mode="finetune", epochs=1, batch_size=args.batch_size, lr=1e-5, eval_every=10**9,
                         max_length=args.seq_len, precision=args.precision)
    # warm-up: the longest rows first (the allocator's largest blocks), then a few ordinary batches
    longest = np.argsort(-rows.lengths, kind="stable")
    warm = np.concatenate([longest[: args.batch_size], np.arange(min(n, args.batch_size * args.warmup_steps))])
    plain_backbone = s.model.backbone
    fit(s.model, rows.subset(warm), targets[warm], xent, params, torch.Generator().manual_seed(0), device=dev,
        compile_backbone=args.compile)
    # fit compiles the backbone it is given: compiled once by the warm-up, it must not be wrapped again
    t_fast, c_fast = timed(lambda: fit(s.model, rows, targets, xent, params, torch.Generator().manual_seed(0),
                                       device=dev, compile_backbone=False), dev)
    s.model.backbone = plain_backbone  # the naive loop and later sections run the plain module
    fast = report.add(Row("train: w2s fit", t_fast, c_fast, n, tokens, s.mfu(6, tokens, t_fast),
                          ref="train: naive loop",
                          note=f"buckets, {args.precision} precision" + (", compiled" if args.compile else "")))
    _free(dev)
    if args.no_naive:
        return
    ids, masks = naive_padded(rows)
    y = targets.tolist()
    naive_train(s.model, ids[: 2 * args.batch_size], masks, y, args.batch_size, dev, 1e-5, 0)  # warm-up
    t_naive, c_naive = timed(lambda: naive_train(s.model, ids, masks, y, args.batch_size, dev, 1e-5, 0), dev)
    fast.speedup = t_naive / t_fast
    report.add(Row("train: naive loop", t_naive, c_naive, n, tokens, s.mfu(6, tokens, t_naive),
                   note=f"fp32, all padded to {len(ids[0])}, .item() per step"))
    _free(dev)


def bench_probe(s: Setup, report: Report) -> None:
    """Probe-mode training of one head on cached features, with the train stages' default params."""
    args, dev = s.args, s.device
    n, dim = args.probe_rows, args.probe_dim
    g = torch.Generator().manual_seed(0)
    labels = (torch.arange(n) % 2).float()
    features = torch.randn(n, dim, generator=g) + 0.5 * labels[:, None]
    params = TrainParams()  # mode probe, the defaults of params.yaml's `train` section
    threads = torch.get_num_threads()
    if dev.type == "cpu":
        torch.set_num_threads(1)  # as the train stages run (w2s.cli.deterministic(threads=1))
    try:
        def once() -> None:
            gen = torch.Generator().manual_seed(0)
            fit(LinearProbe(features, gen), features, labels, xent, params, gen, device=dev)

        once()
        times = sorted(timed(once, dev) for _ in range(max(1, args.repeats)))
    finally:
        torch.set_num_threads(threads)
    seconds, cpu_seconds = times[len(times) // 2]
    report.add(Row("probe: fit LinearProbe", seconds, cpu_seconds, n * params.epochs, None,
                   note=f"{n}x{dim} features, {params.epochs} epochs x {-(-n // params.batch_size)} steps "
                        f"(median of {len(times)})"))


def _free(device: torch.device) -> None:
    gc.collect()
    if device.type == "cuda":
        torch.cuda.empty_cache()


def profile_train(s: Setup, rows: TextRows) -> str:
    """A torch.profiler table of a few finetune steps: where the time goes (kernels, syncs, copies)."""
    from torch.profiler import ProfilerActivity, profile

    args, dev = s.args, s.device
    sub = rows.subset(np.arange(min(len(rows), 4 * args.batch_size)))
    targets = torch.rand(len(sub), generator=torch.Generator().manual_seed(1))
    params = TrainParams(mode="finetune", epochs=1, batch_size=args.batch_size, lr=1e-5, eval_every=10**9,
                         max_length=args.seq_len, precision=args.precision)
    activities = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if dev.type == "cuda" else [])
    with profile(activities=activities) as prof:
        fit(s.model, sub, targets, xent, params, torch.Generator().manual_seed(0), device=dev,
            compile_backbone=False)  # eager
        sync(dev)
    key = "self_cuda_time_total" if dev.type == "cuda" else "self_cpu_time_total"
    return str(prof.key_averages().table(sort_by=key, row_limit=25, max_name_column_width=60))


# --------------------------------------------------------------------------------------------- main


SECTIONS = ("embed", "label", "train", "probe")


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m benchmarks.bench", description=(__doc__ or "").splitlines()[0])
    p.add_argument("--device", default="auto", help="auto (CUDA if present), cpu, cuda, cuda:1")
    p.add_argument("--model", default="gpt2", help="a hub id, or gpt2/gpt2-medium/gpt2-large/gpt2-xl "
                   "(random init from the cached config)")
    p.add_argument("--init", choices=("auto", "random", "pretrained"), default="auto",
                   help="auto: random for the gpt2 family, pretrained weights otherwise")
    p.add_argument("--seq-len", type=int, default=None, help="token limit per text (default 512; tiny 64)")
    p.add_argument("--batch-size", type=int, default=None, help="training rows per step (default 16; tiny 4)")
    p.add_argument("--steps", type=int, default=None, help="timed optimizer steps (default 20; tiny 3)")
    p.add_argument("--infer-batch-size", type=int, default=64, help="rows per batch for embed and label")
    p.add_argument("--infer-rows", type=int, default=None, help="texts embedded and labelled (default 8 batches)")
    p.add_argument("--warmup-steps", type=int, default=2, help="untimed training steps first")
    p.add_argument("--repeats", type=int, default=None, help="timed repeats of the short measurements (best)")
    p.add_argument("--precision", choices=("auto", "fp32", "bf16"), default="auto", help="the trainer's precision")
    p.add_argument("--compile", action="store_true", help="train with torch.compile (TrainParams.compile)")
    p.add_argument("--gradient-checkpointing", action="store_true")
    p.add_argument("--no-naive", action="store_true", help="skip the naive training loop (quick what-ifs)")
    p.add_argument("--lengths", choices=("varied", "full"), default="varied",
                   help="synthetic texts: log-normal lengths, or every text filling --seq-len")
    p.add_argument("--synthetic", action="store_true", help="synthetic texts even when real ones are here")
    p.add_argument("--data-dir", type=Path, default=Path(os.environ.get("W2S_TEST_DATA_DIR", "../shared/datasets")))
    p.add_argument("--task", default="sst2", help="task whose texts to use from --data-dir")
    p.add_argument("--probe-rows", type=int, default=1000)
    p.add_argument("--probe-dim", type=int, default=768)
    p.add_argument("--peak-tflops", type=float, default=None, help="the device's dense bf16 peak, for MFU")
    p.add_argument("--only", default=",".join(SECTIONS), help=f"comma list of {', '.join(SECTIONS)}")
    p.add_argument("--profile", action="store_true", help="also print a torch.profiler table of a few train steps")
    p.add_argument("--json", type=Path, default=None, help="also write the results here")
    p.add_argument("--tiny", action="store_true", help="a 2-layer model at tiny sizes: the CI smoke test")
    args = p.parse_args(argv)
    tiny = args.tiny
    for name, full, small in (("seq_len", 512, 64), ("batch_size", 16, 4), ("steps", 20, 3), ("repeats", 3, 1)):
        if getattr(args, name) is None:
            setattr(args, name, small if tiny else full)
    if tiny:
        args.synthetic = True
        args.infer_batch_size = min(args.infer_batch_size, 16)
    if args.infer_rows is None:
        args.infer_rows = 4 * args.infer_batch_size if tiny else 8 * args.infer_batch_size
    sections = [x.strip() for x in args.only.split(",") if x.strip()]
    bad = [x for x in sections if x not in SECTIONS]
    if bad or not sections:
        raise InputError(f"--only: unknown section(s) {bad}; choose from {', '.join(SECTIONS)}")
    args.sections = sections
    for name in ("seq_len", "batch_size", "steps", "infer_batch_size", "infer_rows", "repeats", "probe_rows",
                 "probe_dim"):
        if getattr(args, name) < 1:
            raise InputError(f"--{name.replace('_', '-')}: must be positive, got {getattr(args, name)}")
    return args


def run_bench(args: argparse.Namespace) -> Report:
    device = resolve_device(args.device, "--device")
    if device.type == "cuda" and not torch.cuda.is_available():
        raise InputError(f"--device {args.device}: CUDA is not available here")
    model, tokenizer, desc = build_model(args.model, args.init, args.tiny, args.seq_len,
                                         torch.Generator().manual_seed(0))
    if args.gradient_checkpointing:
        model.backbone.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
    model.to(device)
    limit = getattr(model.backbone.config, "max_position_embeddings", None)
    if isinstance(limit, int) and args.seq_len > limit:
        raise InputError(f"--seq-len {args.seq_len} exceeds the model's {limit} positions")
    n_train = args.steps * args.batch_size
    n_texts = max(n_train, args.infer_rows)
    texts = None if args.synthetic else real_texts(args.data_dir, args.task, n_texts)
    source = f"{args.task} from {args.data_dir}"
    if texts is None:
        texts = synthetic_texts(tokenizer, n_texts, args.seq_len, args.lengths)
        source = f"synthetic ({args.lengths} lengths)"
    rows = tokenize_rows(texts[:n_train], tokenizer, args.seq_len)
    peak = peak_tflops(device, args.peak_tflops)
    n_matmul = matmul_params(model)
    header = {
        "device": str(device), "device_name": device_name(device).replace(" ", "_"), "torch": torch.__version__,
        "peak_bf16_tflops": peak, "model": args.model, "model_desc": desc,
        "params_total": sum(p.numel() for p in model.parameters()), "params_matmul": n_matmul,
        "attention": getattr(model.backbone.config, "_attn_implementation", "?"), "seq_len": args.seq_len,
        "batch_size": args.batch_size, "steps": args.steps, "infer_batch_size": args.infer_batch_size,
        "texts": source, "mean_tokens": float(rows.lengths.mean()), "max_tokens": int(rows.lengths.max()),
        "truncated": rows.n_truncated, "tf32_matmul": torch.backends.cuda.matmul.allow_tf32,
        "compile": args.compile, "gradient_checkpointing": args.gradient_checkpointing,
    }
    print(f"benchmarks.bench  {header['device_name']}  torch {torch.__version__}  peak bf16: "
          f"{'unknown (MFU left blank)' if peak is None else f'{peak:g} TFLOP/s'}")
    print(f"model: {desc}; {header['params_total'] / 1e6:.1f}M params ({n_matmul / 1e6:.1f}M matmul), "
          f"attention={header['attention']}, compile={args.compile}, "
          f"grad ckpt={args.gradient_checkpointing}")
    print(f"texts: {source}; train {n_train} rows = {args.steps} steps x {args.batch_size}, mean "
          f"{header['mean_tokens']:.0f} tokens (max {header['max_tokens']}, {rows.n_truncated} truncated at "
          f"{args.seq_len}); embed/label {args.infer_rows} rows in batches of {args.infer_batch_size}", flush=True)
    setup = Setup(model, tokenizer, texts, device, peak, n_matmul, args)
    report = Report(header)
    if "embed" in args.sections:
        bench_embed(setup, report)
    if "label" in args.sections:
        label_rows = tokenize_rows(texts[: args.infer_rows], tokenizer, args.seq_len)
        bench_label(setup, report, label_rows)
    if "train" in args.sections:
        bench_train(setup, report, rows)
    if "probe" in args.sections:
        bench_probe(setup, report)
    if args.profile and "train" in args.sections:
        print(profile_train(setup, rows))
    return report


def main(argv: Sequence[str] | None = None) -> None:
    args = parse_args(argv)
    report = run_bench(args)
    print()
    print(report.table())
    print(report.summary(), flush=True)
    if args.json is not None:
        rows = [{**asdict(r), "seq_per_s": r.seq_per_s, "tok_per_s": r.tok_per_s} for r in report.rows]
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps({"header": report.header, "rows": rows}, indent=2) + "\n")


if __name__ == "__main__":
    from w2s.cli import run

    sys.exit(run(main))
