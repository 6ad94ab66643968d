"""Backbones from a hub id, and pooling of their hidden states into one vector per text.

Two pooling rules (design.md): `last` (hidden state of the last real token) for decoders, whose last
position is the only one that has seen the whole text; `mean` (over real tokens) for encoders. Both
locate real tokens through the attention mask, never by searching the input ids for the pad id: GPT-2
and Llama have no pad token, we pad with eos, and eos may also occur inside a text.

Importing this module does no work; device and dtype are parameters of `load_backbone`.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any, Literal, TypeVar, get_args

import torch
from torch import Tensor, nn
from transformers import (
    AutoConfig,
    AutoModel,
    AutoTokenizer,
    PretrainedConfig,
    PreTrainedModel,
    PreTrainedTokenizerBase,
)
from transformers.models.auto.modeling_auto import (
    MODEL_FOR_CAUSAL_LM_MAPPING_NAMES,
    MODEL_FOR_MASKED_LM_MAPPING_NAMES,
)

from w2s.errors import InputError

Pooling = Literal["mean", "last"]
POOLINGS: tuple[str, ...] = get_args(Pooling)

_T = TypeVar("_T")


def is_decoder(config: PretrainedConfig) -> bool:
    """True for causal (left-to-right) language models: gpt2, llama, qwen2, gemma3_text, ...

    Uses transformers' own auto mappings: an architecture with a causal-LM head and no masked-LM head
    is a decoder (bert, roberta, electra have both, mpnet and deberta only the masked one). A
    bidirectional architecture explicitly configured as a decoder (`BertConfig(is_decoder=True)`)
    also counts, since its attention is then causal.
    """
    model_type = getattr(config, "model_type", "")
    if getattr(config, "is_decoder", False) and not getattr(config, "is_encoder_decoder", False):
        return True
    return model_type in MODEL_FOR_CAUSAL_LM_MAPPING_NAMES and model_type not in MODEL_FOR_MASKED_LM_MAPPING_NAMES


def resolve_pooling(config: PretrainedConfig, pooling: str) -> Pooling:
    """Map a params value to a pooling rule: "auto" -> "last" for decoders, "mean" for encoders.

    Raises InputError for anything other than "auto", "mean" or "last".
    """
    if pooling == "auto":
        return "last" if is_decoder(config) else "mean"
    if pooling == "mean":
        return "mean"
    if pooling == "last":
        return "last"
    raise InputError(f"unknown pooling {pooling!r}: expected one of 'auto', 'mean', 'last'")


def _load(hub_id: str, what: str, fn: Callable[[], _T]) -> _T:
    """Call a `from_pretrained`, turning a missing or unreadable hub id into a one-line InputError."""
    try:
        return fn()
    except (OSError, ValueError) as exc:  # OSError: no such repo or file; ValueError: unknown model type
        kind = type(exc).__name__
        if _offline() and isinstance(exc, OSError):
            raise InputError(
                f"model {hub_id!r} cannot be loaded ({what}): not in the local Hugging Face cache and the hub "
                f"is offline (HF_HUB_OFFLINE=1); build it with `scripts/model_cache.sh {hub_id}` (an offline cache "
                f"builder, docs/your-data.md) ({kind})"
            ) from exc
        lines = str(exc).strip().splitlines()
        raise InputError(f"model {hub_id!r} cannot be loaded ({what}): {kind}: {lines[0] if lines else ''}") from exc


def _offline() -> bool:
    return os.environ.get("HF_HUB_OFFLINE", "").strip().lower() in {"1", "true", "yes", "on"}


def resolve_revision(hub_id: str, revision: str | None = None) -> str | None:
    """The commit of `hub_id` that `revision` (None: the default branch) names: the snapshot folder of
    the local Hugging Face cache that `from_pretrained` reads, else (online) the hub's answer. A stage
    loads this commit and records it, so an upstream change of a branch shows as a diff. None for a
    local folder, or an unpinned id that is not cached (its load then fails with its own message).
    A pinned revision that cannot be found stops with one line naming the id and the revision."""
    if Path(hub_id).is_dir():
        return None
    from huggingface_hub import try_to_load_from_cache

    try:
        cached = try_to_load_from_cache(hub_id, "config.json", revision=revision)
    except ValueError:  # not a hub id (e.g. a missing folder): its load fails with its own message
        cached = None
    if isinstance(cached, str):
        return Path(cached).parent.name
    if revision is None:
        return None
    if _offline():
        raise InputError(f"model {hub_id!r} revision {revision!r}: not in the local Hugging Face cache and the "
                         "hub is offline (HF_HUB_OFFLINE=1); pin a cached revision or build the cache")
    from huggingface_hub import HfApi

    try:
        sha = HfApi().model_info(hub_id, revision=revision).sha
    except Exception as exc:  # any hub failure (unknown revision, network): one line
        lines = str(exc).strip().splitlines()
        raise InputError(f"model {hub_id!r} revision {revision!r}: {lines[0] if lines else type(exc).__name__}") \
            from None
    return sha or revision


def load_tokenizer(hub_id: str, revision: str | None = None) -> PreTrainedTokenizerBase:
    """The (fast where available) tokenizer of `hub_id`, right-padding, with a pad token.

    Tokenizers without a pad token (GPT-2, Llama) get eos as pad. That is safe here because pooling
    reads the attention mask and never searches the ids for the pad id.
    """
    tokenizer = _load(hub_id, "tokenizer", lambda: AutoTokenizer.from_pretrained(hub_id, revision=revision))
    tokenizer.padding_side = "right"
    if tokenizer.pad_token is None:
        if tokenizer.eos_token is None:
            raise InputError(f"model {hub_id!r}: its tokenizer has neither a pad nor an eos token")
        tokenizer.pad_token = tokenizer.eos_token
    return tokenizer


def fuse_gelu(model: nn.Module) -> int:
    """Swap transformers' Python `gelu_new` (gpt2 family: 5 elementwise kernels, and under bf16 autocast
    its `pow` runs in fp32) for `GELUTanh`, the same function as one fused `F.gelu(approximate="tanh")`.
    Equal up to float rounding; on an H100 it doubled finetuning MFU of gpt2-large (16% -> 29.5%,
    docs/performance.md). Returns how many modules were swapped (0 for models without gelu_new)."""
    from transformers.activations import GELUTanh, NewGELUActivation

    swaps = [(parent, name) for parent in model.modules() for name, child in parent.named_children()
             if isinstance(child, NewGELUActivation)]
    for parent, name in swaps:
        setattr(parent, name, GELUTanh())
    return len(swaps)


def load_backbone(
    hub_id: str,
    *,
    device: str | torch.device = "cpu",
    dtype: torch.dtype = torch.float32,
    revision: str | None = None,
) -> tuple[PreTrainedModel, PreTrainedTokenizerBase]:
    """The base model (no LM head) of `hub_id` at hub `revision` in eval mode on `device`, and its tokenizer.

    Attention is SDPA where the architecture supports it, eager elsewhere (transformers' default). Decoders get
    `use_cache=False`: features need one forward pass, not a key/value cache.
    Raises InputError when the id cannot be loaded (typo, or offline and not in the local cache).
    """
    revision = resolve_revision(hub_id, revision) or revision
    config = _load(hub_id, "config", lambda: AutoConfig.from_pretrained(hub_id, revision=revision))
    tokenizer = load_tokenizer(hub_id, revision)

    # No explicit attn_implementation: transformers already picks SDPA where the architecture supports
    # it (bert, gpt2, llama) and eager elsewhere (mpnet), whereas asking for "sdpa" raises on mpnet.
    model = _load(hub_id, "weights", lambda: AutoModel.from_pretrained(hub_id, dtype=dtype, revision=revision))
    if is_decoder(config) and hasattr(model.config, "use_cache"):
        model.config.use_cache = False
    fuse_gelu(model)
    model.to(device)
    model.eval()
    return model, tokenizer


def last_token_index(attention_mask: Tensor) -> Tensor:
    """Index of the last real token per row: (B, T) -> (B,) int64.

    The position of the last 1 in the mask, so right and left padding both work. Rows without any
    real token must be rejected by the caller (see `pool`).
    """
    positions = torch.arange(attention_mask.shape[1], device=attention_mask.device)  # (T,)
    return (positions * (attention_mask != 0)).amax(dim=1)  # (B,)


def pool(hidden: Tensor, attention_mask: Tensor, pooling: Pooling) -> Tensor:
    """One vector per row from per-token hidden states.

    hidden (B, T, D), attention_mask (B, T) of 0/1 -> (B, D) in hidden's dtype.
    `mean`: average over real tokens (mask 1). `last`: hidden state at the last real token.
    Raises InputError on shape mismatch, unknown pooling, or a row with no real token.
    """
    if hidden.dim() != 3 or attention_mask.shape != hidden.shape[:2]:
        raise InputError(
            f"pool: hidden {tuple(hidden.shape)} and attention_mask {tuple(attention_mask.shape)} "
            "must be (B, T, D) and (B, T)"
        )
    if pooling not in POOLINGS:
        raise InputError(f"unknown pooling {pooling!r}: expected one of {POOLINGS}")
    real = attention_mask != 0  # (B, T)
    counts = real.sum(dim=1)  # (B,)
    if bool((counts == 0).any()):
        raise InputError(f"pool: row(s) {torch.nonzero(counts == 0).flatten().tolist()} have no real token")
    if pooling == "mean":
        summed = (hidden * real.unsqueeze(-1).to(hidden.dtype)).sum(dim=1)  # (B, D)
        return summed / counts.unsqueeze(-1).to(hidden.dtype)
    rows = torch.arange(hidden.shape[0], device=hidden.device)  # (B,)
    return hidden[rows, last_token_index(attention_mask)]  # (B, D)


class SequenceClassifier(nn.Module):
    """A transformer backbone + pooling + a linear head: one logit per text (p = sigmoid(logit)).

    The finetune and LoRA modes train this module; the probe mode trains only a head on features that
    the same backbone and pooling computed once (`w2s.features`). The head reads the pooled last hidden
    state (mean over real tokens for encoders, last real token for decoders; `resolve_pooling`), in
    float32 even under bf16 autocast, so logits and losses keep full precision.
    """

    def __init__(self, backbone: PreTrainedModel, pooling: Pooling, generator: torch.Generator) -> None:
        super().__init__()
        self.backbone = backbone
        self.pooling: Pooling = pooling
        dim = int(backbone.config.hidden_size)
        self.head = nn.Linear(dim, 1)
        with torch.no_grad():
            bound = 1.0 / dim**0.5
            self.head.weight.copy_(torch.rand(1, dim, generator=generator) * 2 * bound - bound)
            self.head.bias.zero_()

    def pooled(self, input_ids: Tensor, attention_mask: Tensor) -> Tensor:
        """(B, T) token ids and mask -> (B, D) float32 pooled hidden states."""
        hidden = self.backbone(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state  # (B, T, D)
        return pool(hidden.float(), attention_mask, self.pooling)

    def forward(self, input_ids: Tensor, attention_mask: Tensor) -> Tensor:  # (B, T) -> (B,)
        pooled = self.pooled(input_ids, attention_mask)
        with torch.autocast(pooled.device.type, enabled=False):  # the head in fp32, also under bf16 autocast
            # sum over the size-1 output dim (exact) rather than squeeze: a new tensor, not a view, which
            # FSDP wants of a sharded module's output
            return self.head(pooled).sum(-1)


def _drop_pooler(backbone: PreTrainedModel) -> None:
    """BERT-style backbones carry a pooler ([CLS] dense + tanh) we never read; drop it so that every
    parameter gets a gradient (DDP insists) and no memory goes to it."""
    if getattr(backbone, "pooler", None) is not None:
        backbone.pooler = None  # type: ignore[assignment]



def classifier_from_backbone(
    backbone: PreTrainedModel,
    *,
    mode: str,
    generator: torch.Generator,
    pooling: str = "auto",
    lora_r: int = 8,
    lora_alpha: int = 16,
    lora_dropout: float = 0.05,
    gradient_checkpointing: bool = False,
) -> SequenceClassifier:
    """Wrap a base model (pretrained or random-init) for training in `mode` "finetune" or "lora".

    finetune: every backbone weight and the head train. lora: the backbone is frozen and `peft` adds
    rank-`lora_r` adapters (scale lora_alpha / lora_r, dropout lora_dropout) to all its linear layers;
    the adapters and the head train. The head is initialised from `generator` (uniform, +-1/sqrt(D)).
    """
    if mode not in ("finetune", "lora"):
        raise InputError(f"train.mode: classifier_from_backbone needs 'finetune' or 'lora', got {mode!r}")
    config = backbone.config
    if is_decoder(config) and hasattr(config, "use_cache"):
        config.use_cache = False  # training needs no key/value cache
    _drop_pooler(backbone)
    fuse_gelu(backbone)
    if gradient_checkpointing:
        if not getattr(backbone, "supports_gradient_checkpointing", False):
            raise InputError(f"train.gradient_checkpointing: {config.model_type} does not support it")
        if hasattr(backbone, "activation_checkpointing_enable"):  # transformers >= 5 names it so
            backbone.activation_checkpointing_enable({"use_reentrant": False})
        else:
            backbone.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
    if mode == "lora":
        from peft import LoraConfig, get_peft_model

        lora = LoraConfig(r=lora_r, lora_alpha=lora_alpha, lora_dropout=lora_dropout, target_modules="all-linear",
                          bias="none")
        backbone = get_peft_model(backbone, lora)  # type: ignore[assignment]  # freezes the base weights
    backbone.train()
    return SequenceClassifier(backbone, resolve_pooling(config, pooling), generator)


def load_classifier(
    hub_id: str,
    *,
    mode: str,
    generator: torch.Generator,
    pooling: str = "auto",
    lora_r: int = 8,
    lora_alpha: int = 16,
    lora_dropout: float = 0.05,
    gradient_checkpointing: bool = False,
    revision: str | None = None,
) -> tuple[SequenceClassifier, PreTrainedTokenizerBase]:
    """A trainable classifier on the pretrained `hub_id` at hub `revision` (float32 weights, on the CPU;
    `fit` moves it) and its tokenizer. SDPA attention where the architecture has it (transformers' default)."""
    revision = resolve_revision(hub_id, revision) or revision
    _load(hub_id, "config", lambda: AutoConfig.from_pretrained(hub_id, revision=revision))
    tokenizer = load_tokenizer(hub_id, revision)
    backbone = _load(hub_id, "weights", lambda: AutoModel.from_pretrained(hub_id, dtype=torch.float32,
                                                                          revision=revision))
    model = classifier_from_backbone(backbone, mode=mode, generator=generator, pooling=pooling, lora_r=lora_r,
                                     lora_alpha=lora_alpha, lora_dropout=lora_dropout,
                                     gradient_checkpointing=gradient_checkpointing)
    return model, tokenizer


def classifier_from_config(
    config: PretrainedConfig, *, mode: str, generator: torch.Generator, seed: int = 0, **kwargs: Any
) -> SequenceClassifier:
    """A random-init classifier from a config (tests and benchmarks: no weights to download).

    `seed` seeds torch's global generator for the backbone's init, so the same call gives the same
    weights; other keyword arguments as `classifier_from_backbone`."""
    torch.manual_seed(seed)
    backbone = AutoModel.from_config(config)
    return classifier_from_backbone(backbone, mode=mode, generator=generator, **kwargs)
