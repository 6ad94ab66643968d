"""Frozen-feature extraction: one pooled hidden-state vector per text, computed once per (task, model).

Speed on a small CPU comes from three things: tokenizing every text once up front (the fast tokenizer
works on the whole list in Rust), length-bucketed batches (indices sorted by token count, so each batch
is padded only to its own longest text and little compute is spent on padding), and
`torch.inference_mode()`. Rows are scattered back so that `features[i]` belongs to `texts[i]`.

Padding cannot leak into a text's feature: padding is on the right, the attention mask hides pads from
every real token, and pooling reads the mask (see `w2s.models.pool`), so a text's feature is the same
alone or batched with longer texts, up to float rounding.
"""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor
from tqdm.auto import tqdm
from transformers import PreTrainedModel, PreTrainedTokenizerBase

from w2s.errors import InputError
from w2s.models import POOLINGS, Pooling, pool
from w2s.tasks import TRUNCATION_SIDES
from w2s.textdata import pad_id_of


@dataclass(frozen=True)
class EmbedResult:
    """Features of a list of texts, in input order."""

    features: np.ndarray
    """(N, D) float32; row i belongs to texts[i]."""
    n_truncated: int
    """How many texts had more than `max_length` tokens and were truncated to it (policy: truncate, count)."""
    max_length: int
    """The token limit used, special tokens included."""
    truncation: str = "right"
    """The side cut from the truncated texts (`left`: their end was kept)."""


@contextlib.contextmanager
def _cut_from(tokenizer: PreTrainedTokenizerBase, side: str) -> Iterator[None]:
    """The tokenizer truncates from `side` inside the block (its own setting is restored after)."""
    if side not in TRUNCATION_SIDES:
        raise InputError(f"truncation side {side!r} is not one of {', '.join(TRUNCATION_SIDES)}")
    before = tokenizer.truncation_side
    tokenizer.truncation_side = side
    try:
        yield
    finally:
        tokenizer.truncation_side = before


def tokenize(
    texts: Sequence[str], tokenizer: PreTrainedTokenizerBase, max_length: int, side: str = "right"
) -> tuple[list[list[int]], int]:
    """Token ids of every text (special tokens included, no padding), truncated to `max_length`.

    `side` is the end cut from an over-long text: `right` keeps its start, `left` keeps its end (where
    a task's question or last response is, `w2s.tasks.truncation_side`); special tokens such as BERT's
    [CLS] ... [SEP] stay in place either way. Returns (ids, n_truncated). Tokenizing to
    `max_length + 1` tells which texts are too long without tokenizing long documents in full; only
    those few are tokenized again with the real limit (the tokenizer's own truncation places the
    special tokens).
    """
    kwargs = {"add_special_tokens": True, "return_attention_mask": False, "return_token_type_ids": False}
    with _cut_from(tokenizer, side):
        ids: list[list[int]] = tokenizer(list(texts), truncation=True, max_length=max_length + 1, **kwargs)[
            "input_ids"
        ]
        too_long = [i for i, seq in enumerate(ids) if len(seq) > max_length]
        if too_long:
            redo = tokenizer([texts[i] for i in too_long], truncation=True, max_length=max_length, **kwargs)
            for i, seq in zip(too_long, redo["input_ids"], strict=True):
                ids[i] = seq
    return ids, len(too_long)


def pad_batch(seqs: Sequence[Sequence[int]], pad_id: int) -> tuple[Tensor, Tensor]:
    """Right-pad token id lists to the batch's longest: -> input_ids (B, T) int64, attention_mask (B, T)."""
    lengths = [len(s) for s in seqs]
    input_ids = np.full((len(seqs), max(lengths)), pad_id, dtype=np.int64)  # (B, T)
    mask = np.zeros_like(input_ids)  # (B, T)
    for row, (seq, n) in enumerate(zip(seqs, lengths, strict=True)):
        input_ids[row, :n] = seq
        mask[row, :n] = 1
    return torch.from_numpy(input_ids), torch.from_numpy(mask)


def _check_args(
    texts: Sequence[str], model: PreTrainedModel, tokenizer: PreTrainedTokenizerBase,
    pooling: str, batch_size: int, max_length: int, device: torch.device,
) -> None:
    """Raise InputError for arguments the caller can fix; the message names the culprit."""
    if isinstance(texts, str) or len(texts) == 0:
        raise InputError("embed_texts: texts must be a non-empty sequence of strings")
    if pooling not in POOLINGS:
        raise InputError(f"embed_texts: unknown pooling {pooling!r}: expected one of {POOLINGS}")
    if batch_size < 1:
        raise InputError(f"embed_texts: batch_size must be >= 1, got {batch_size}")
    n_special = tokenizer.num_special_tokens_to_add()
    if max_length <= n_special:
        raise InputError(f"embed_texts: max_length {max_length} leaves no room beside {n_special} special tokens")
    limit = getattr(model.config, "max_position_embeddings", None)
    if isinstance(limit, int) and max_length > limit:
        raise InputError(f"embed_texts: max_length {max_length} exceeds the model's {limit} positions")
    model_device = next(model.parameters()).device
    if model_device.type != device.type:
        raise InputError(f"embed_texts: device {str(device)!r} but the model is on {str(model_device)!r}")


def embed_texts(
    texts: Sequence[str],
    model: PreTrainedModel,
    tokenizer: PreTrainedTokenizerBase,
    *,
    pooling: Pooling,
    batch_size: int = 64,
    max_length: int = 256,
    device: str | torch.device = "cpu",
    progress: bool = True,
    desc: str = "embed",
    truncation: str = "right",
) -> EmbedResult:
    """Pooled last-layer features of `texts` from a base model (no head), in input order.

    texts: N strings -> EmbedResult.features (N, D) float32. Texts longer than `max_length` tokens are
    truncated from the `truncation` side (`left` keeps their end) and counted. On CUDA the forward runs
    under bf16 autocast; pooling is in float32.
    Deterministic on CPU: the same inputs give byte-identical features. Different batch sizes agree up
    to float rounding. Raises InputError on empty `texts`, a text with no tokens, bad sizes or pooling.
    """
    dev = torch.device(device)
    _check_args(texts, model, tokenizer, pooling, batch_size, max_length, dev)
    ids, n_truncated = tokenize(texts, tokenizer, max_length, truncation)
    lengths = np.fromiter((len(seq) for seq in ids), dtype=np.int64, count=len(ids))  # (N,)
    if (lengths == 0).any():
        raise InputError(f"embed_texts: text {int(np.argmax(lengths == 0))} has no tokens (empty string?)")
    order = np.argsort(-lengths, kind="stable")  # longest first: an out-of-memory batch fails at once
    pad_id = pad_id_of(tokenizer)
    autocast = (
        torch.autocast(device_type="cuda", dtype=torch.bfloat16) if dev.type == "cuda" else contextlib.nullcontext()
    )
    features: np.ndarray | None = None
    bar = tqdm(total=len(ids), desc=desc, unit="seq", disable=not progress, file=sys.stderr)
    with torch.inference_mode(), autocast, bar:
        for start in range(0, len(order), batch_size):
            rows = order[start : start + batch_size]  # (B,) input positions of this batch
            input_ids, mask = pad_batch([ids[i] for i in rows], pad_id)
            input_ids, mask = input_ids.to(dev), mask.to(dev)
            hidden = model(input_ids=input_ids, attention_mask=mask).last_hidden_state  # (B, T, D)
            pooled = pool(hidden.float(), mask, pooling).cpu().numpy()  # (B, D)
            if features is None:
                features = np.empty((len(ids), pooled.shape[1]), dtype=np.float32)  # (N, D)
            features[rows] = pooled
            bar.update(len(rows))
    assert features is not None  # texts is non-empty, so at least one batch ran
    return EmbedResult(features=features, n_truncated=n_truncated, max_length=max_length, truncation=truncation)
