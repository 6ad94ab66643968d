"""Generative finetuning on a tiny random-init GPT-2 (2 layers, hidden 32) with the cached gpt2 tokenizer."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import polars as pl
import pytest
import torch
from transformers import AutoModel, AutoTokenizer, GPT2Config, GPT2LMHeadModel

from w2s.config import GenftParams
from w2s.errors import InputError
from w2s.genft import (
    EVAL_TEXTS,
    IGNORE,
    _batch,
    generative_finetune,
    genft_texts,
    lm_loss,
    load_causal_lm,
    save_adapted,
)
from w2s.io import read_json

TEXTS = [f"the film was {w} and the acting {v}" for w in ("great", "awful", "fine", "dull", "superb", "bad")
         for v in ("shone", "failed", "worked", "dragged")]


@pytest.fixture(scope="module")
def tiny_decoder(tmp_path_factory: pytest.TempPathFactory) -> str:
    """A random-init 2-layer GPT-2 saved with the real gpt2 tokenizer, loadable like a hub id."""
    path = tmp_path_factory.mktemp("tiny_gpt2")
    tokenizer = AutoTokenizer.from_pretrained("openai-community/gpt2")
    torch.manual_seed(0)
    config = GPT2Config(n_layer=2, n_embd=32, n_head=2, n_positions=64, vocab_size=len(tokenizer))
    GPT2LMHeadModel(config).save_pretrained(path)
    tokenizer.save_pretrained(path)
    return str(path)


def params(**kw: object) -> GenftParams:
    base = {"epochs": 3, "batch_size": 8, "lr": 3e-3, "max_length": 32, "seed": 0}
    return GenftParams(**{**base, **kw})  # type: ignore[arg-type]


def test_lm_loss_decreases(tiny_decoder: str) -> None:
    result = generative_finetune(TEXTS, tiny_decoder, params(), progress=False)
    assert len(result.losses) == 3 * 3  # 24 texts / 8 = 3 steps per epoch
    assert result.loss_after < result.loss_before - 0.5
    assert np.mean(result.losses[-3:]) < np.mean(result.losses[:3])


def test_max_steps_caps_training(tiny_decoder: str) -> None:
    assert len(generative_finetune(TEXTS, tiny_decoder, params(max_steps=4), progress=False).losses) == 4


def test_deterministic_with_seed(tiny_decoder: str) -> None:
    a = generative_finetune(TEXTS, tiny_decoder, params(epochs=1), progress=False)
    b = generative_finetune(TEXTS, tiny_decoder, params(epochs=1), progress=False)
    c = generative_finetune(TEXTS, tiny_decoder, params(epochs=1, seed=1), progress=False)
    assert a.losses == b.losses
    assert a.losses != c.losses  # another batch order
    for (name, pa), (_, pb) in zip(a.model.named_parameters(), b.model.named_parameters(), strict=True):
        assert torch.equal(pa, pb), name


def test_saved_model_reloads_as_a_backbone(tiny_decoder: str, tmp_path: Path) -> None:
    g = params(epochs=1)
    result = generative_finetune(TEXTS, tiny_decoder, g, progress=False)
    out = tmp_path / "adapted"
    save_adapted(result, out, result.record(tiny_decoder, len(TEXTS), g))
    record = read_json(out / "genft.json")
    assert record["steps"] == 3 and record["loss_after"] == pytest.approx(result.loss_after)
    reloaded, tokenizer = load_causal_lm(str(out))
    assert lm_loss(reloaded, tokenizer, TEXTS[:EVAL_TEXTS], 32) == pytest.approx(result.loss_after, rel=1e-5)
    # `embed_genft` loads the folder as a base model (no LM head), exactly like a hub id.
    base = AutoModel.from_pretrained(out)
    torch.testing.assert_close(base.wte.weight, result.model.transformer.wte.weight)
    assert not torch.equal(base.wte.weight, AutoModel.from_pretrained(tiny_decoder).wte.weight)
    assert not any(p.name.endswith(".tmp") for p in tmp_path.iterdir())


def test_padding_is_never_a_target(tiny_decoder: str) -> None:
    _, tokenizer = load_causal_lm(tiny_decoder)
    batch = _batch(tokenizer, ["short", "a much longer text than the first one"], 32, "cpu")
    assert (batch["labels"] == IGNORE).equal(batch["attention_mask"] == 0)
    assert int((batch["labels"][0] == IGNORE).sum()) > 0


def test_texts_come_from_train_rows_only() -> None:
    n = 40
    pool = pl.DataFrame({"id": np.arange(n, dtype=np.int64), "text": [f"t{i}" for i in range(n)],
                         "label": (np.arange(n) % 2).astype(np.int64), "part": ["train"] * 30 + ["test"] * 10})
    every = genft_texts(pool, GenftParams(texts="train"), 0.5)
    assert every == [f"t{i}" for i in range(30)]
    transfer = genft_texts(pool, GenftParams(texts="train_transfer", seed=0), 0.5)
    assert 0 < len(transfer) < 30 and set(transfer) <= set(every)
    assert transfer != genft_texts(pool, GenftParams(texts="train_transfer", seed=1), 0.5)


def test_rejects_encoders_and_empty_input(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="not a decoder"):
        load_causal_lm("sentence-transformers/paraphrase-MiniLM-L3-v2")
    with pytest.raises(InputError, match="no texts"):
        generative_finetune([], "unused", params(), progress=False)
    assert os.environ.get("HF_HUB_OFFLINE") == "1"
    with pytest.raises(InputError, match="cannot be loaded"):
        load_causal_lm(str(tmp_path / "missing"))


def _study_raw() -> dict:
    import yaml

    return yaml.safe_load((Path(__file__).resolve().parents[1] / "studies/decoder/params.yaml").read_text())


def test_study_params_resolve_the_adapted_key() -> None:
    from w2s.config import parse_params

    p = parse_params(_study_raw())
    assert p.genft.models == {"gemma_genft": "gemma"}
    assert p.hub_id("gemma_genft") == p.hub_id("gemma") == "google/gemma-3-270m"
    assert "gemma_genft" in p.ladder


@pytest.mark.parametrize(("genft", "match"), [
    ({"models": {"gemma_genft": "gpt5"}}, "genft.models.gemma_genft: base 'gpt5' is not a key of models"),
    ({"models": {"gemma": "smollm"}}, "'gemma' is already a key of models"),
    ({"models": {"Bad-Key": "gemma"}}, "must match"),
    ({"models": {"gemma_genft": "gemma"}, "batch_size": 0}, "genft.batch_size: must be positive"),
    ({"models": {"gemma_genft": "gemma"}, "lrate": 0.1}, "unknown key 'lrate'"),
    ({"models": {"gemma_genft": "gemma"}, "texts": "test"}, "must be one of 'train_transfer', 'train'"),
])
def test_genft_params_are_checked(genft: dict, match: str) -> None:
    from w2s.config import parse_params

    raw = _study_raw()
    raw["genft"] = genft
    if "gemma_genft" not in genft.get("models", {}):
        raw["ladder"], raw["pairs"] = ["smollm", "gemma"], [{"weak": "smollm", "strong": "gemma"}]
    with pytest.raises(InputError, match=match):
        parse_params(raw)
