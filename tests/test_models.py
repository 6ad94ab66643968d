"""The trainable classifier of the finetune and lora modes: backbone + pooling + linear head."""

from __future__ import annotations

import pytest
import torch
from transformers import BertConfig, GPT2Config

from w2s.errors import InputError
from w2s.models import SequenceClassifier, classifier_from_config, load_classifier
from w2s.textdata import TextRows


def bert_config() -> BertConfig:
    return BertConfig(vocab_size=64, hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                      intermediate_size=64, max_position_embeddings=64)


def gpt2_config() -> GPT2Config:
    return GPT2Config(vocab_size=64, n_embd=32, n_layer=2, n_head=2, n_positions=64, bos_token_id=1,
                      eos_token_id=2)


def build(config, mode: str = "finetune", seed: int = 0, **kwargs) -> SequenceClassifier:
    return classifier_from_config(config, mode=mode, generator=torch.Generator().manual_seed(seed), seed=seed,
                                  **kwargs)


def test_pooling_follows_the_architecture() -> None:
    assert build(bert_config()).pooling == "mean"
    assert build(gpt2_config()).pooling == "last"
    assert build(bert_config(), pooling="last").pooling == "last"


@pytest.mark.parametrize("config", [bert_config(), gpt2_config()], ids=["bert", "gpt2"])
def test_padding_does_not_change_a_rows_logit(config) -> None:
    """A row's logit is the same alone and beside a longer row (right padding, masked pooling)."""
    model = build(config).eval()
    rows = TextRows.from_ids([[1, 11, 12, 13], [1, 20, 21, 22, 23, 24, 25, 26, 27, 28]], pad_id=2)
    with torch.no_grad():
        together = model(**rows.batch([0, 1]))
        alone = model(**rows.batch([0]))
    assert together.shape == (2,) and together.dtype == torch.float32
    assert torch.allclose(together[0], alone[0], atol=1e-5)


def test_same_seed_same_weights_pooler_dropped() -> None:
    a, b, c = build(bert_config(), seed=1), build(bert_config(), seed=1), build(bert_config(), seed=2)
    sa, sb, sc = a.state_dict(), b.state_dict(), c.state_dict()
    assert all(torch.equal(sa[k], sb[k]) for k in sa)
    assert not torch.equal(sa["head.weight"], sc["head.weight"])
    assert not any("pooler" in k for k in sa)  # unused by the head: dropped (DDP needs every param used)


def test_gradient_checkpointing_gives_the_same_gradients() -> None:
    rows = TextRows.from_ids([[1, 11, 12, 13], [1, 20, 21, 22, 23, 24]], pad_id=0)
    grads = []
    for checkpointing in (False, True):
        model = build(bert_config(), gradient_checkpointing=checkpointing).train()
        model(**rows.batch([0, 1])).sum().backward()
        grads.append({k: v.grad for k, v in model.named_parameters() if v.grad is not None})
    assert grads[0].keys() == grads[1].keys()
    assert all(torch.allclose(grads[0][k], grads[1][k], atol=1e-6) for k in grads[0])


def test_lora_wraps_the_backbone() -> None:
    model = build(gpt2_config(), mode="lora", lora_r=4)
    n_train = sum(p.numel() for p in model.parameters() if p.requires_grad)
    n_all = sum(p.numel() for p in model.parameters())
    assert 0 < n_train < 0.25 * n_all


def test_bad_mode_and_unknown_hub_id_are_input_errors() -> None:
    with pytest.raises(InputError, match="train.mode"):
        build(bert_config(), mode="probe")
    with pytest.raises(InputError, match="no-such-org/no-such-model"):
        load_classifier("no-such-org/no-such-model", mode="finetune", generator=torch.Generator())


def test_gpt2_gelu_is_fused_and_computes_the_same_function() -> None:
    from transformers import AutoModel
    from transformers.activations import GELUTanh, NewGELUActivation

    from w2s.models import fuse_gelu

    config = GPT2Config(n_layer=2, n_embd=32, n_head=2, n_positions=32, vocab_size=100)
    model = classifier_from_config(config, mode="finetune", generator=torch.Generator().manual_seed(0))
    acts = [m for m in model.modules() if isinstance(m, (GELUTanh, NewGELUActivation))]
    assert acts and all(isinstance(m, GELUTanh) for m in acts)  # one per block, all fused
    torch.manual_seed(0)
    python_gelu = AutoModel.from_config(config).eval()
    fused = AutoModel.from_config(config).eval()
    fused.load_state_dict(python_gelu.state_dict())
    assert fuse_gelu(fused) == config.n_layer
    assert sum(isinstance(m, NewGELUActivation) for m in python_gelu.modules()) == config.n_layer
    ids = torch.randint(0, 100, (3, 16), generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        a = python_gelu(input_ids=ids).last_hidden_state
        b = fused(input_ids=ids).last_hidden_state
    assert torch.allclose(a, b, atol=1e-5)  # the same function, up to float rounding
