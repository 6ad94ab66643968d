"""One `fit()` trains every model: supervisors, ceilings and students differ only in their targets.

A run is a module that maps a batch of inputs to one logit per row (p = sigmoid(logit)), a loss from
`w2s.losses` (ground-truth runs use `xent` on 0/1 labels; weak-to-strong runs use the chosen method on
the supervisor's soft labels), and a `TrainParams`. Three modes share this one loop:

- `probe`: the data are a feature tensor (N, D) from the `embed` stage and the model a `LinearProbe`;
- `finetune` / `lora`: the data are tokenized texts (`w2s.textdata.TextRows`) and the model a
  `w2s.models.SequenceClassifier` (backbone + pooling + linear head), built by
  `w2s.models.load_classifier(hub_id, mode=...)` or `classifier_from_config` (random init).

Randomness (head init, batch order) comes from an explicit `torch.Generator` seeded by the caller;
dropout draws from torch's global generator, which the pipeline seeds too, so a CPU run is repeatable
bit for bit. The test accuracy is recorded along training, for the paper's overfitting-to-weak-labels
analysis; it never influences training.

Speed (issue 7): text batches are length-bucketed and padded per batch; on CUDA the forward runs under
bf16 autocast (weights, optimizer state, logits and losses stay fp32), AdamW is the fused kernel, and
attention is PyTorch's SDPA (transformers' default where the architecture supports it). The loop does
no per-example Python and no host-device synchronisation per step: the running loss stays on the
device and is read (`.item()`-like) only at evaluation points and at the end. Labelling (`predict`)
runs in length-sorted batches under `torch.inference_mode()` and the same autocast.

Multi-process (issue 8, `accelerate launch`): when the environment says WORLD_SIZE > 1, `fit` builds an
`accelerate.Accelerator`, wraps the model in DistributedDataParallel on the process's device, and
shards every micro-batch across processes (rank r takes rows r, r + W, r + 2W, ... of the length-sorted
micro-batch, so shards have similar lengths). Every process uses the same seed, hence the same
generator, the same batch order and the same head initialisation (DDP also broadcasts rank 0's weights
at wrap time): the global batches, their order and the learning-rate schedule are exactly those of the
one-process run, and each process's loss is weighted by its share of the step's rows so that the
averaged gradient equals the one-process gradient of the whole step. What differs: float summation
order (gradients are all-reduced), dropout masks (each process draws its own), and logconf's per-batch
threshold, which is picked per shard rather than per micro-batch. `predict` shards batches the same way
and gathers the probabilities on every process; only rank 0 (`is_main_process()`) should write files.
"""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn
from tqdm.auto import tqdm

from w2s import runtime
from w2s.config import TrainParams, check_train
from w2s.errors import InputError
from w2s.fitresult import EvalPoint, FitResult, is_main_process, lr_factor, world_size
from w2s.textdata import TextRows, bucketed_batches, sorted_batches, tokenize_rows

LossFn = Callable[[Tensor, Tensor, float], Tensor]
Data = Tensor | TextRows
"""Training or test inputs: a feature tensor (N, D) for probes, tokenized texts for finetune/lora."""


class LinearProbe(nn.Module):
    """A linear head on frozen features, standardised with the training rows' mean and std."""

    def __init__(self, train_features: Tensor, generator: torch.Generator) -> None:
        super().__init__()
        dim = train_features.shape[1]
        self.mean: Tensor
        self.std: Tensor
        self.register_buffer("mean", train_features.mean(0))  # (D,)
        self.register_buffer("std", train_features.std(0).clamp_min(1e-6))  # (D,)
        self.head = nn.Linear(dim, 1)
        with torch.no_grad():
            bound = 1.0 / dim**0.5
            self.head.weight.copy_(torch.rand(1, dim, generator=generator) * 2 * bound - bound)
            self.head.bias.zero_()

    def forward(self, x: Tensor) -> Tensor:  # (B, D) -> (B,)
        return self.head((x - self.mean) / self.std).squeeze(-1)


# ----------------------------------------------------------------------------------------- devices




def autocast_dtype(precision: str, device: torch.device) -> torch.dtype | None:
    """The autocast dtype of a precision param: auto -> bf16 on CUDA, none (fp32) elsewhere."""
    if precision == "auto":
        return torch.bfloat16 if device.type == "cuda" else None
    if precision == "bf16":
        return torch.bfloat16
    if precision == "fp32":
        return None
    raise InputError(f"train.precision: must be 'auto', 'fp32' or 'bf16', got {precision!r}")


def _autocast(device: torch.device, dtype: torch.dtype | None) -> contextlib.AbstractContextManager[Any]:
    if dtype is None:
        return contextlib.nullcontext()
    return torch.autocast(device_type=device.type, dtype=dtype)


def _model_device(model: nn.Module) -> torch.device:
    for p in model.parameters():
        return p.device
    return torch.device("cpu")


# ---------------------------------------------------------------------------------------- batching


def merge_tiny_batches(batches: list[Tensor], step_rows: int) -> list[Tensor]:
    """Join every batch of fewer than step_rows / 2 rows to its predecessor (the first to its successor).

    An epoch of n rows cut into batches of step_rows leaves a last batch of n mod step_rows rows: 900
    rows in 64s end with 4. A 4-row step is a noisy gradient, and logconf would harden those 4 rows on
    their own (a positive rate of 0.25 steps in multiples of 0.25), so such a batch joins a full one."""
    out: list[Tensor] = []
    for batch in batches:
        if out and 2 * len(batch) < step_rows:
            out[-1] = torch.cat([out[-1], batch])
        elif len(out) == 1 and 2 * len(out[0]) < step_rows:
            out[0] = torch.cat([out[0], batch])
        else:
            out.append(batch)
    return out


def feature_batches(n: int, step_rows: int, generator: torch.Generator) -> list[Tensor]:
    """One epoch of step batches over n feature rows: a fresh permutation cut into consecutive slices of
    step_rows, a tiny last slice joined to the one before (`merge_tiny_batches`)."""
    order = torch.randperm(n, generator=generator)
    return merge_tiny_batches([order[s : s + step_rows] for s in range(0, n, step_rows)], step_rows)


def _step_batches(data: Data, step_rows: int, generator: torch.Generator) -> list[Tensor]:
    """One epoch of optimizer-step batches (row indices, int64 CPU tensors), none under half a step.

    Features: `feature_batches`. Texts: length buckets (`w2s.textdata.bucketed_batches`), so each batch
    is padded little, then `merge_tiny_batches`.
    """
    if isinstance(data, TextRows):
        return merge_tiny_batches([torch.from_numpy(b) for b in bucketed_batches(data.lengths, step_rows, generator)],
                                  step_rows)
    return feature_batches(len(data), step_rows, generator)


def steps_per_epoch(n: int, step_rows: int) -> int:
    """Optimizer steps in one epoch of n rows: ceil(n / step_rows), less one when the last batch is tiny
    and merged (`merge_tiny_batches`)."""
    tail = n % step_rows
    return -(-n // step_rows) - (1 if n > step_rows and 0 < 2 * tail < step_rows else 0)


def micro_batches(batch: Tensor, batch_size: int) -> list[Tensor]:
    """A step batch cut into ceil(len / batch_size) micro-batches of near-equal size (at most batch_size
    rows each): a merged 68-row step at batch_size 64 becomes 34 + 34, not 64 + 4."""
    return list(torch.tensor_split(batch, -(-len(batch) // batch_size)))


def _inputs(data: Data, idx: Tensor, device: torch.device) -> dict[str, Tensor] | Tensor:
    if isinstance(data, TextRows):
        batch = data.batch(idx.numpy())
        return {k: v.to(device, non_blocking=True) for k, v in batch.items()}
    return data[idx.to(data.device)]


def _forward(model: nn.Module, inputs: dict[str, Tensor] | Tensor) -> Tensor:
    return model(**inputs) if isinstance(inputs, dict) else model(inputs)


def _shard(idx: Tensor, rank: int, world: int) -> Tensor:
    return idx[rank::world] if world > 1 else idx


# --------------------------------------------------------------------------------------- inference


def _gather_rows(pieces: list[tuple[np.ndarray, np.ndarray]], n: int, width: int | None) -> np.ndarray:
    """Scatter (rows, values) pieces from every process into one (N,) or (N, width) array."""
    if world_size() > 1:
        import torch.distributed as dist

        everyone: list[Any] = [None] * world_size()
        dist.all_gather_object(everyone, pieces)
        pieces = [piece for part in everyone for piece in part]
    dtype = pieces[0][1].dtype if pieces else np.float64
    out = np.zeros((n,) if width is None else (n, width), dtype=dtype)
    for rows, values in pieces:
        out[rows] = values
    return out


def _batched_outputs(model: nn.Module, data: Data, fn: Callable[[nn.Module, Any], Tensor], batch_size: int,
                     device: torch.device | None, precision: str, desc: str,
                     progress: bool) -> list[tuple[np.ndarray, np.ndarray]]:
    """Run `fn(model, inputs)` over `data` in length-sorted batches (this process's share of them)."""
    if batch_size < 1:
        raise InputError(f"predict: batch_size must be positive, got {batch_size}")
    dev = device or _model_device(model)
    dtype = autocast_dtype(precision, dev) if isinstance(data, TextRows) else None  # probes stay fp32
    if isinstance(data, TextRows):
        batches = [torch.from_numpy(b) for b in sorted_batches(data.lengths, batch_size)]
    else:
        batches = [torch.arange(s, min(s + batch_size, len(data))) for s in range(0, len(data), batch_size)]
    world, rank = world_size(), int(os.environ.get("RANK", "0"))
    mine = batches[rank::world]
    # a sharded (FSDP) model gathers its weights inside every forward, a collective call: every process
    # must run as many forwards as the busiest one, so the others repeat their first batch and drop it
    sharded = is_sharded(model)
    extra = -(-len(batches) // world) - len(mine) if sharded and batches else 0
    was_training = model.training
    model.eval()
    outputs: list[tuple[Tensor, Tensor]] = []
    try:
        with (torch.no_grad() if sharded else torch.inference_mode()), _autocast(dev, dtype):
            for k, idx in enumerate(tqdm(mine + [batches[0]] * extra, desc=desc, unit="batch", leave=False,
                                         disable=not progress or not is_main_process(), file=sys.stderr)):
                out = fn(model, _inputs(data, idx, dev)).float()
                if k < len(mine):
                    outputs.append((idx, out))
    finally:
        model.train(was_training)
    # one device -> host copy per batch, after all batches were queued (no sync inside the loop)
    return [(idx.numpy(), out.cpu().numpy()) for idx, out in outputs]


def predict(model: nn.Module, data: Data, batch_size: int = 1024, *, device: torch.device | None = None,
            precision: str = "auto", progress: bool = False) -> np.ndarray:
    """p(y=1) for every row of `data` (features (N, D) or TextRows): -> (N,) float64, in row order.

    Texts run in length-sorted batches (longest first) under inference mode and autocast (`precision`,
    as TrainParams.precision), on the model's device unless `device` is given. Under a multi-process
    launch every process labels its share of the batches and all of them get the full result.
    """
    if len(data) == 0:
        return np.zeros(0)
    pieces = _batched_outputs(model, data, lambda m, x: torch.sigmoid(_forward(m, x)), batch_size, device,
                              precision, "label", progress)
    return _gather_rows(pieces, len(data), None).astype(np.float64)


def activations(model: nn.Module, rows: TextRows | Sequence[str], tokenizer: Any = None, *, max_length: int = 256,
                batch_size: int = 256, device: torch.device | None = None, precision: str = "auto",
                progress: bool = False) -> np.ndarray:
    """Pooled last-layer activations of a (trained) `SequenceClassifier` for every row: -> (N, D) float32.

    The head's input: mean over real tokens for encoders, the last real token for decoders. `rows` are
    TextRows, or a list of texts with the model's `tokenizer` (truncated to `max_length` tokens).
    """
    if not hasattr(model, "pooled"):
        raise InputError(f"activations: expected a w2s.models.SequenceClassifier, got {type(model).__name__}")
    if not isinstance(rows, TextRows):
        if tokenizer is None:
            raise InputError("activations: pass the model's tokenizer to embed a list of texts")
        rows = tokenize_rows(rows, tokenizer, max_length)
    pieces = _batched_outputs(model, rows, lambda m, x: m.pooled(**x),  # type: ignore[operator]
                              batch_size, device, precision, "activations", progress)
    width = int(pieces[0][1].shape[1]) if pieces else 0
    return _gather_rows(pieces, len(rows), width).astype(np.float32)


def _accuracy(model: nn.Module, data: Data, labels: Tensor, batch_size: int, precision: str) -> float:
    return float(((predict(model, data, batch_size, precision=precision) > 0.5)
                  == labels.numpy().astype(bool)).mean())


# ---------------------------------------------------------------------------------------------- fit


def is_sharded(model: nn.Module) -> bool:
    """True for a model sharded by FSDP (`W2S_FSDP=1` under a multi-process launch)."""
    from torch.distributed.fsdp import FSDPModule

    return isinstance(model, FSDPModule)


def _layer_stack(model: nn.Module) -> nn.ModuleList:
    """The transformer's block list (the ModuleList holding the most parameters): FSDP's shard units."""
    stacks = [m for m in model.modules() if isinstance(m, nn.ModuleList) and len(m) > 0]
    if not stacks:
        raise InputError(f"W2S_FSDP=1: {type(model).__name__} has no list of layers to shard")
    return max(stacks, key=lambda m: sum(p.numel() for p in m.parameters()))


def _fully_shard(model: nn.Module, device: torch.device) -> tuple[nn.Module, int, int]:
    """Shard `model` in place with PyTorch's FSDP2 (`fully_shard`): each block of its layer stack, then the
    rest (embeddings, head) as the root unit. Every process holds 1/W of every weight, gradient and
    AdamW state; a block's weights are all-gathered just for its forward and backward."""
    import torch.distributed as dist
    from torch.distributed.fsdp import fully_shard

    if not dist.is_initialized():
        if device.type == "cuda":
            torch.cuda.set_device(device)
        dist.init_process_group("nccl" if device.type == "cuda" else "gloo")
    model.to(device)
    for block in _layer_stack(model):
        fully_shard(block)
    fully_shard(model)
    return model, dist.get_rank(), dist.get_world_size()


@contextlib.contextmanager
def _distributed(model: nn.Module, device: torch.device) -> Iterator[tuple[nn.Module, int, int]]:
    """(the module to call in training, rank, world): DDP through accelerate when WORLD_SIZE > 1, FSDP
    (PyTorch's fully_shard) when the environment also says W2S_FSDP=1."""
    world = world_size()
    if world <= 1:
        yield model.to(device), 0, 1
        return
    if os.environ.get("W2S_FSDP", "0") == "1":
        if not hasattr(model, "backbone"):
            raise InputError("W2S_FSDP=1: only finetune/lora models are sharded (a probe is one small layer)")
        yield _fully_shard(model, device)
        return
    from accelerate import Accelerator
    from accelerate.utils import DistributedDataParallelKwargs

    # cpu=True selects accelerate's MULTI_CPU type (gloo); otherwise it would see no GPU and run each
    # process alone, every one of them on all the data
    accelerator = Accelerator(cpu=device.type == "cpu", device_placement=True,
                              kwargs_handlers=[DistributedDataParallelKwargs(find_unused_parameters=False)])
    if accelerator.num_processes != world:
        raise InputError(f"WORLD_SIZE={world} but accelerate set up {accelerator.num_processes} process(es) "
                         f"({accelerator.distributed_type}); launch with `accelerate launch --multi_gpu "
                         "--num_processes N` (on CPU too) or torchrun")
    model.to(accelerator.device)
    yield accelerator.prepare_model(model), accelerator.process_index, accelerator.num_processes


def fit(
    model: nn.Module,
    data: Data,
    targets: Tensor,
    loss_fn: LossFn,
    params: TrainParams,
    generator: torch.Generator,
    eval_set: tuple[Data, Tensor] | None = None,
    *,
    progress: bool = False,
    weak_eval_set: tuple[Data, Tensor] | None = None,
    device: torch.device | None = None,
    compile_backbone: bool | None = None,
) -> FitResult:
    """Train `model` on rows `data` (features (N, D) or TextRows of N texts) against soft targets (N,) in [0, 1].

    An optimizer step sees batch_size x grad_accum rows, in grad_accum micro-batches of batch_size whose
    losses are weighted by their share of the step's rows (so accumulation equals one big batch, up to
    float rounding, for any loss that is a mean over rows). Step batches are reshuffled every epoch with
    `generator` (texts: length-bucketed); a last batch under half a step joins the one before it
    (`merge_tiny_batches`) and a step is cut into near-equal micro-batches (`micro_batches`), so no loss
    sees a handful of rows on its own (logconf's hardening would). `progress` passed to the loss
    is the fraction of optimizer steps done (logconf's warm-up reads it). The learning rate follows
    `lr_factor` (warm-up, then constant or cosine). `eval_set` = (test data, labels) adds a
    test-accuracy point every `params.eval_every` steps and at the end. The model is moved to
    `device` (default: `$W2S_DEVICE`, `w2s.runtime`) and stays there; `compile_backbone` (default:
    `$W2S_COMPILE`) wraps a text model's backbone in `torch.compile`. `weak_eval_set` = (held-out data,
    their weak soft labels) also records, at the same points, the fraction of those rows where (p > 0.5)
    equals (weak > 0.5): an early-stopping signal that uses no ground truth (`w2s.overfitting`). At the
    end, `train_loss` is the loss over all training rows at progress 1 (one more forward pass over them,
    no gradient): the number to judge the fit by, unlike `final_loss`, the last step's batch.
    """
    n = len(data)
    if n == 0:
        raise InputError("fit: no training rows")
    if targets.shape != (n,):
        raise InputError(f"fit: targets have shape {tuple(targets.shape)}, expected ({n},)")
    bad = ~torch.isfinite(targets) | (targets < 0) | (targets > 1)
    if bool(bad.any()):
        raise InputError(f"fit: {int(bad.sum())} targets are not in [0, 1] (first: {float(targets[bad][0])})")
    check_train(params)
    device = runtime.device() if device is None else device
    if compile_backbone is None:
        compile_backbone = runtime.compile_backbone()
    text = isinstance(data, TextRows)
    dtype = autocast_dtype(params.precision, device) if text else None  # a probe's matmul stays fp32
    if device.type == "cuda":
        # cuDNN's attention builds a new plan for every padded width it meets, so length-bucketed batches
        # (many widths) ran slower than padding everything; flash / memory-efficient SDPA do not
        torch.backends.cuda.enable_cudnn_sdp(False)
    if device.type == "cuda" and torch.are_deterministic_algorithms_enabled():
        # the stages ask for deterministic kernels; cuBLAS needs this workspace setting for that, and an
        # op without a deterministic CUDA kernel should warn rather than stop a long run
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
        torch.use_deterministic_algorithms(True, warn_only=True)
    if compile_backbone and hasattr(model, "backbone"):
        model.backbone = torch.compile(model.backbone, dynamic=True)  # type: ignore[assignment, arg-type]
    eval_batch = params.batch_size * 4 if text else 1024
    step_rows = params.batch_size * params.grad_accum
    per_epoch = steps_per_epoch(n, step_rows)
    total = per_epoch * params.epochs
    history: list[EvalPoint] = []
    with _distributed(model, device) as (train_model, rank, world):
        device = _model_device(model)
        if not text:
            data = data.to(device)  # type: ignore[union-attr]
        y = targets.float().to(device)
        trainable = [p for p in model.parameters() if p.requires_grad]
        optimizer = torch.optim.AdamW(trainable, lr=params.lr, weight_decay=params.weight_decay,
                                      fused=device.type == "cuda" or None)
        scheduler = torch.optim.lr_scheduler.LambdaLR(
            optimizer, lambda s: lr_factor(min(s, total - 1), total, params.schedule, params.warmup_frac))
        step_loss = torch.zeros((), device=device)
        step = 0
        model.train()
        bar = tqdm(total=total, desc="train", unit="step", disable=not progress or not is_main_process(),
                   file=sys.stderr)
        with bar:
            for _ in range(params.epochs):
                for batch in _step_batches(data, step_rows, generator):
                    step_loss = torch.zeros((), device=device)
                    micro = micro_batches(batch, params.batch_size)
                    for j, mb in enumerate(micro):
                        rows = _shard(mb, rank, world)
                        weight = len(rows) * world / len(batch)
                        if len(rows) == 0:  # fewer rows than processes: a zero-weight row keeps DDP in step
                            rows, weight = mb[:1], 0.0
                        sync = j == len(micro) - 1 or world == 1
                        no_sync = getattr(train_model, "no_sync", None)
                        with (contextlib.nullcontext() if sync or no_sync is None else no_sync()):
                            with _autocast(device, dtype):
                                logits = _forward(train_model, _inputs(data, rows, device))
                            loss = loss_fn(logits.float(), y[rows.to(device)], step / total)
                            if weight != 1.0:
                                loss = loss * weight
                            loss.backward()
                        step_loss += loss.detach()
                    optimizer.step()
                    scheduler.step()
                    optimizer.zero_grad(set_to_none=True)
                    step += 1
                    bar.update(1)
                    if eval_set is not None and (step % params.eval_every == 0 or step == total):
                        acc = _accuracy(model, eval_set[0], eval_set[1], eval_batch, params.precision)
                        weak_agree = None if weak_eval_set is None else _accuracy(
                            model, weak_eval_set[0], weak_eval_set[1] > 0.5, eval_batch, params.precision)
                        history.append(EvalPoint(step, step / per_epoch, acc, weak_agree))
        if world > 1:
            import torch.distributed as dist

            dist.all_reduce(step_loss)  # each process holds its weighted share of the step's mean loss
            step_loss = step_loss / world
        train_logits = _gather_rows(_batched_outputs(model, data, _forward, eval_batch, None, params.precision,
                                                     "train loss", False), n, None)
        train_loss = float(loss_fn(torch.from_numpy(train_logits).double(), targets.double().cpu(), 1.0))
    return FitResult(history=history, steps=step, final_loss=float(step_loss), train_loss=train_loss, n_train=n)
