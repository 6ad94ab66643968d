"""Tokenized text rows for the finetune and LoRA trainers: tokenize once, batch by index, pad per batch.

Finetuning cost is dominated by the forward and backward passes, whose cost grows with the padded
batch shape (B, T), not with the real tokens. Two things keep padding small:

- **Length buckets** (`bucketed_batches`): the rows are shuffled with the run's generator, cut into
  chunks of `chunk_batches` batches, each chunk is sorted by length and cut into batches, and the order
  of the batches is shuffled again. Every batch holds texts of similar length, while which rows meet in
  a batch and which batch comes first still change every epoch (the randomness SGD needs).
- **Padding per batch** (`TextRows.batch`): a batch is padded to its own longest row only.

All token ids live in one flat int64 array with offsets, so building a batch is a few vectorised numpy
operations (no Python per example). Padding is on the right and the attention mask marks real tokens,
so pooling (`w2s.models.pool`) never reads a pad.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import torch
from torch import Tensor

from w2s.errors import InputError

if TYPE_CHECKING:  # a type only: transformers is imported by whoever loads the tokenizer
    from transformers import PreTrainedTokenizerBase


@dataclass(frozen=True)
class TextRows:
    """N tokenized texts: row i is `flat[offsets[i] : offsets[i] + lengths[i]]`."""

    flat: np.ndarray
    """(sum of lengths,) int64: every row's token ids, special tokens included, back to back."""
    offsets: np.ndarray
    """(N,) int64: where each row starts in `flat`."""
    lengths: np.ndarray
    """(N,) int64: tokens per row (>= 1, <= max_length)."""
    pad_id: int
    """Any valid id; the attention mask hides it."""
    n_truncated: int = 0
    """Rows that were longer than the token limit and were cut to it."""

    @classmethod
    def from_ids(cls, seqs: Sequence[Sequence[int]], pad_id: int) -> TextRows:
        """Rows from already tokenized id lists (tests and benchmarks); every row needs >= 1 token."""
        lengths = np.fromiter((len(s) for s in seqs), dtype=np.int64, count=len(seqs))
        if len(seqs) == 0 or (lengths == 0).any():
            raise InputError("TextRows.from_ids: need at least one row and no empty row")
        flat = np.fromiter((t for s in seqs for t in s), dtype=np.int64, count=int(lengths.sum()))
        offsets = np.concatenate([[0], np.cumsum(lengths)[:-1]]).astype(np.int64)
        return cls(flat, offsets, lengths, pad_id)

    def __len__(self) -> int:
        return len(self.lengths)

    def batch(self, idx: np.ndarray | Tensor | Sequence[int]) -> dict[str, Tensor]:
        """Rows `idx` right-padded to their longest: {input_ids (B, T) int64, attention_mask (B, T) int64}."""
        idx = np.asarray(idx, dtype=np.int64)  # (B,)
        if idx.size == 0:
            raise InputError("TextRows.batch: empty index")
        lengths = self.lengths[idx]  # (B,)
        width = int(lengths.max())
        pos = np.arange(width, dtype=np.int64)  # (T,)
        mask = pos[None, :] < lengths[:, None]  # (B, T)
        gather = np.where(mask, self.offsets[idx][:, None] + pos[None, :], 0)  # (B, T)
        input_ids = np.where(mask, self.flat[gather], self.pad_id)  # (B, T)
        return {"input_ids": torch.from_numpy(input_ids), "attention_mask": torch.from_numpy(mask.astype(np.int64))}

    def subset(self, idx: np.ndarray | Sequence[int]) -> TextRows:
        """Rows `idx` as their own TextRows (a copy; order of `idx`)."""
        idx = np.asarray(idx, dtype=np.int64)
        parts = [self.flat[o : o + n] for o, n in zip(self.offsets[idx], self.lengths[idx], strict=True)]
        flat = np.concatenate(parts) if parts else np.zeros(0, dtype=np.int64)
        offsets = np.concatenate([[0], np.cumsum(self.lengths[idx])[:-1]]).astype(np.int64) if len(idx) else idx
        return TextRows(flat, offsets, self.lengths[idx].copy(), self.pad_id)


def pad_id_of(tokenizer: PreTrainedTokenizerBase) -> int:
    """pad, else eos, else 0 (any valid id works: the mask hides it)."""
    for token_id in (tokenizer.pad_token_id, tokenizer.eos_token_id):
        if isinstance(token_id, int):
            return token_id
    return 0


def tokenize_rows(texts: Sequence[str], tokenizer: PreTrainedTokenizerBase, max_length: int,
                  truncation: str = "right") -> TextRows:
    """Tokenize every text once (the fast tokenizer works on the whole list), truncating to `max_length`
    from the `truncation` side (`left` keeps a text's end: the task's `data.truncation_side`).

    Raises InputError on an empty list, a non-positive `max_length`, or a text without tokens.
    """
    from w2s.features import tokenize

    if isinstance(texts, str) or len(texts) == 0:
        raise InputError("tokenize_rows: texts must be a non-empty sequence of strings")
    if max_length <= tokenizer.num_special_tokens_to_add():
        raise InputError(f"train.max_length: {max_length} leaves no room beside the special tokens")
    ids, n_truncated = tokenize(list(texts), tokenizer, max_length, truncation)
    empty = [i for i, s in enumerate(ids) if len(s) == 0]
    if empty:
        raise InputError(f"tokenize_rows: text {empty[0]} has no tokens (empty string?)")
    rows = TextRows.from_ids(ids, pad_id_of(tokenizer))
    return TextRows(rows.flat, rows.offsets, rows.lengths, rows.pad_id, n_truncated)


def bucketed_batches(lengths: np.ndarray, batch_size: int, generator: torch.Generator,
                     chunk_batches: int = 32) -> list[np.ndarray]:
    """One epoch of batches (index arrays) of rows with similar lengths; every row exactly once.

    Shuffle all rows with `generator`, cut into chunks of `chunk_batches * batch_size` rows, sort each
    chunk by length (stable, longest first), cut it into batches of `batch_size` (the chunk's last batch
    may be smaller), then shuffle the order of all batches. Deterministic for a generator state.
    """
    n = len(lengths)
    if batch_size < 1:
        raise InputError(f"train.batch_size: must be positive, got {batch_size}")
    order = torch.randperm(n, generator=generator).numpy()
    chunk = batch_size * max(1, chunk_batches)
    batches: list[np.ndarray] = []
    for start in range(0, n, chunk):
        rows = order[start : start + chunk]
        rows = rows[np.argsort(-lengths[rows], kind="stable")]
        batches.extend(rows[i : i + batch_size] for i in range(0, len(rows), batch_size))
    perm = torch.randperm(len(batches), generator=generator).tolist()
    return [batches[i] for i in perm]


def sorted_batches(lengths: np.ndarray, batch_size: int) -> list[np.ndarray]:
    """Batches for inference: all rows sorted by length (longest first, so out-of-memory shows at once)."""
    order = np.argsort(-lengths, kind="stable")
    return [order[i : i + batch_size] for i in range(0, len(order), batch_size)]
