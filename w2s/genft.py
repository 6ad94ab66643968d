"""Generative finetuning (Burns et al. 2023, section 5.2.2): language modelling on the task's texts.

Before a decoder serves as the weak-to-strong student, it is trained for a few steps with its ordinary
next-token loss on the task's own texts, without any label. The paper found that this makes the
task's concepts more salient in the strong model's representations, and that weak-to-strong
generalization improves (while the ceiling improves too, so PGR is computed against the ceiling of the
adapted model). Here the adapted model is saved with `save_pretrained` into a DVC-tracked folder, and
the `embed_genft` stage extracts frozen features from it exactly as `embed` does for a hub model, so
`train_gt` / `train_w2s` / `analyze` treat it as one more model key of the ladder (probe mode).

Which texts: the train_transfer rows of split seed `genft.seed` (`texts: train_transfer`), or every
training row of the pool (`texts: train`). Either way never a test row, and never a label: the loss
reads the texts only, so no ground truth reaches the student. (`train` also covers train_weak's texts,
which the ceiling trains on with labels; that is still label-free for the student.)

The loss is the mean next-token cross-entropy over real tokens: padded positions (attention mask 0)
get label −100, so right-padding with eos never teaches the model to emit padding.
"""

from __future__ import annotations

import math
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import polars as pl
import torch
from torch import Tensor
from transformers import AutoConfig, AutoModelForCausalLM, PreTrainedModel, PreTrainedTokenizerBase

from w2s import runtime
from w2s.config import GenftParams
from w2s.errors import InputError
from w2s.io import atomic_dir, write_json
from w2s.models import _load, is_decoder, load_tokenizer, resolve_revision
from w2s.splits import split_train

IGNORE = -100  # labels at this value are skipped by the LM loss (transformers' convention)
EVAL_TEXTS = 16  # the LM loss before/after is measured on the first texts (in pool order), to stay cheap


def genft_texts(pool: pl.DataFrame, g: GenftParams, weak_fraction: float) -> list[str]:
    """The unlabelled texts genft trains on, sorted by pool id (never a test row, never a label)."""
    if g.texts == "train":
        rows = pool.filter(pl.col("part") == "train")
    else:
        split = split_train(pool, seed=g.seed, weak_fraction=weak_fraction)
        ids = split.filter(pl.col("part") == "train_transfer")["id"]
        rows = pool.filter(pl.col("id").is_in(ids.implode()) & (pl.col("part") == "train"))
    if rows.is_empty():
        raise InputError("genft: the pool has no training texts")
    return rows.sort("id")["text"].to_list()


def load_causal_lm(hub_id: str, device: str | torch.device = "cpu",
                   revision: str | None = None) -> tuple[PreTrainedModel, PreTrainedTokenizerBase]:
    """A decoder at hub `revision` with its language-modelling head, in train mode, and its tokenizer
    (pad = eos if none)."""
    revision = resolve_revision(hub_id, revision) or revision
    config = _load(hub_id, "config", lambda: AutoConfig.from_pretrained(hub_id, revision=revision))
    if not is_decoder(config):
        raise InputError(f"genft: {hub_id!r} is not a decoder (model_type {config.model_type!r}); generative "
                         f"finetuning needs a causal language model")
    tokenizer = load_tokenizer(hub_id, revision)
    model = _load(hub_id, "weights", lambda: AutoModelForCausalLM.from_pretrained(hub_id, dtype=torch.float32,
                                                                                  revision=revision))
    if hasattr(model.config, "use_cache"):
        model.config.use_cache = False
    model.to(torch.device(device))  # type: ignore[arg-type]  # in place; transformers' stub of .to is too narrow
    model.train()
    return model, tokenizer


def _batch(tokenizer: PreTrainedTokenizerBase, texts: Sequence[str], max_length: int,
           device: str | torch.device) -> dict[str, Tensor]:
    enc = tokenizer(list(texts), padding=True, truncation=True, max_length=max_length, return_tensors="pt")
    labels = enc["input_ids"].masked_fill(enc["attention_mask"] == 0, IGNORE)  # (B, T)
    return {"input_ids": enc["input_ids"].to(device), "attention_mask": enc["attention_mask"].to(device),
            "labels": labels.to(device)}


def lm_loss(model: PreTrainedModel, tokenizer: PreTrainedTokenizerBase, texts: Sequence[str], max_length: int,
            batch_size: int = 16, device: str | torch.device = "cpu") -> float:
    """Mean next-token cross-entropy (nats per predicted token) of `model` on `texts`, no gradient."""
    was_training = model.training
    model.eval()
    total, count = 0.0, 0
    with torch.inference_mode():
        for start in range(0, len(texts), batch_size):
            batch = _batch(tokenizer, texts[start : start + batch_size], max_length, device)
            n = int((batch["labels"][:, 1:] != IGNORE).sum())  # tokens that get predicted (shifted)
            if n:
                total += float(model(**batch).loss) * n
                count += n
    model.train(was_training)
    return total / count if count else math.nan


@dataclass
class GenftResult:
    """The adapted model, its tokenizer, and the record of the run."""

    model: PreTrainedModel
    tokenizer: PreTrainedTokenizerBase
    losses: list[float] = field(default_factory=list)
    """Training loss of every optimizer step."""
    loss_before: float = math.nan
    """Mean LM loss on the first `EVAL_TEXTS` texts before training."""
    loss_after: float = math.nan
    """Mean LM loss on the same texts after training."""
    seconds: float = 0.0

    def record(self, hub_id: str, n_texts: int, g: GenftParams) -> dict[str, object]:
        return {"base": hub_id, "n_texts": n_texts, "steps": len(self.losses), "loss_before": self.loss_before,
                "loss_after": self.loss_after, "first_step_loss": self.losses[0] if self.losses else None,
                "last_step_loss": self.losses[-1] if self.losses else None, "seconds": round(self.seconds, 1),
                "params": {k: getattr(g, k) for k in ("epochs", "max_steps", "batch_size", "lr", "weight_decay",
                                                      "max_length", "seed", "texts")}}


def generative_finetune(texts: Sequence[str], hub_id: str, g: GenftParams, progress: bool = True,
                        revision: str | None = None) -> GenftResult:
    """Train `hub_id`'s (at hub `revision`) language-modelling loss on `texts` with transformers' `Trainer`
    (AdamW, constant lr, no gradient clipping, shuffled batches of `g.batch_size` texts padded by `_batch`, so
    padding is never a target), on the device of `$W2S_DEVICE` (`w2s.runtime`).

    Deterministic for `g.seed` on a given machine and thread count (the Trainer seeds the batch order and
    dropout from it). Stops after `g.epochs` passes or `g.max_steps` optimizer steps (0: no cap), whichever
    comes first. Weight decay, when set, skips biases and norm weights (the Trainer's rule)."""
    from transformers import Trainer, TrainingArguments

    if not texts:
        raise InputError("genft: no texts to train on")
    start_time = time.perf_counter()
    device = runtime.device()
    model, tokenizer = load_causal_lm(hub_id, device, revision)
    result = GenftResult(model, tokenizer)
    probe_texts = list(texts[:EVAL_TEXTS])
    result.loss_before = lm_loss(model, tokenizer, probe_texts, g.max_length, g.batch_size, device)
    with tempfile.TemporaryDirectory(prefix="w2s-genft-") as scratch:  # Trainer wants a folder; nothing is saved
        args = TrainingArguments(
            output_dir=scratch, num_train_epochs=g.epochs, max_steps=g.max_steps or -1,
            per_device_train_batch_size=g.batch_size, learning_rate=g.lr, weight_decay=g.weight_decay,
            lr_scheduler_type="constant", optim="adamw_torch", max_grad_norm=0.0, seed=g.seed, data_seed=g.seed,
            logging_strategy="steps", logging_steps=1, save_strategy="no", report_to="none",
            disable_tqdm=not progress, use_cpu=str(device) == "cpu", remove_unused_columns=False,
            dataloader_num_workers=0)
        trainer = Trainer(model=model, args=args, train_dataset=list(texts),  # type: ignore[arg-type]
                          data_collator=lambda batch: _batch(tokenizer, batch, g.max_length, "cpu"))
        trainer.train()
    result.losses = [float(h["loss"]) for h in trainer.state.log_history if "loss" in h]
    model.eval()
    result.loss_after = lm_loss(model, tokenizer, probe_texts, g.max_length, g.batch_size, str(model.device))
    result.seconds = time.perf_counter() - start_time
    return result


def save_adapted(result: GenftResult, out: str | Path, record: dict[str, object]) -> None:
    """Write the adapted model and tokenizer (`save_pretrained`, safetensors) and `genft.json`, atomically.

    The folder loads with `from_pretrained(out)` like a hub id, so `embed_genft` reads it through the same
    `load_backbone` as any model."""
    with atomic_dir(out) as tmp:
        result.model.save_pretrained(tmp, safe_serialization=True)
        result.tokenizer.save_pretrained(tmp)
        write_json(record, tmp / "genft.json")
