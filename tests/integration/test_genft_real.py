"""Generative finetuning of the real SmolLM2-135M-Instruct on 32 real sst2 texts, four steps.

The adapted model must lower its language-modelling loss on those texts, save, reload as a backbone
through the same loader as any hub id, and give features that differ from the base model's.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from w2s.config import GenftParams
from w2s.features import embed_texts
from w2s.genft import generative_finetune, lm_loss, load_causal_lm, save_adapted
from w2s.models import load_backbone

pytestmark = pytest.mark.integration
HUB_ID = "HuggingFaceTB/SmolLM2-135M-Instruct"


def sst2_texts(data_dir: Path, n: int) -> list[str]:
    rows = [json.loads(line) for line in (data_dir / "sst2" / "train.jsonl").read_text().splitlines()[:n]]
    return [r["sentence"] for r in rows]


def test_genft_smollm_on_real_sst2_texts(data_dir: Path, tmp_path: Path) -> None:
    torch.set_num_threads(1)
    texts = sst2_texts(data_dir, 32)
    g = GenftParams(epochs=1, max_steps=4, batch_size=4, lr=1e-4, max_length=24, seed=0)
    result = generative_finetune(texts, HUB_ID, g, progress=False)
    assert len(result.losses) == 4
    assert result.loss_after < result.loss_before  # it learnt something about these texts
    out = tmp_path / "smollm_genft"
    save_adapted(result, out, result.record(HUB_ID, len(texts), g))
    reloaded, tokenizer = load_causal_lm(str(out))
    assert lm_loss(reloaded, tokenizer, texts[:8], 24) == pytest.approx(
        lm_loss(result.model, result.tokenizer, texts[:8], 24), rel=1e-4)
    adapted, tok = load_backbone(str(out))
    base, base_tok = load_backbone(HUB_ID)
    a = embed_texts(texts[:8], adapted, tok, pooling="last", batch_size=8, max_length=24, progress=False).features
    b = embed_texts(texts[:8], base, base_tok, pooling="last", batch_size=8, max_length=24, progress=False).features
    assert a.shape == b.shape == (8, base.config.hidden_size)
    assert not torch.allclose(torch.from_numpy(a), torch.from_numpy(b))
