"""Unit tests for w2s.models and w2s.features on tiny random-init models.

Architectures are real (BERT, GPT-2) but tiny and randomly initialized from a seed; tokenizers are the
real ones from the offline hub cache (the gpt2 entry there is config and tokenizer only).
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from transformers import BertConfig, BertModel, GPT2Config, GPT2Model, LlamaConfig, MPNetConfig

from w2s.errors import InputError
from w2s.features import embed_texts, tokenize
from w2s.models import is_decoder, last_token_index, load_backbone, load_tokenizer, pool, resolve_pooling

BERT_TOKENIZER = "sentence-transformers/all-MiniLM-L6-v2"
GPT2_TOKENIZER = "openai-community/gpt2"
TEXTS = [
    "short one",
    "a somewhat longer sentence about a film that was charming and affecting",
    "ok!",  # "!" is id 0 in GPT-2: the peers' pad id
    "it 's slow -- very , very slow . <|endoftext|> and then it ends",  # eos (= our pad) inside a text
    "the acting , costumes , music , cinematography and sound are all astounding given the locales",
    "x",
    "two words",
]


@pytest.fixture(scope="module")
def bert() -> tuple[BertModel, object]:
    tokenizer = load_tokenizer(BERT_TOKENIZER)
    torch.manual_seed(0)
    config = BertConfig(
        vocab_size=tokenizer.vocab_size, hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
        intermediate_size=64,
    )
    return BertModel(config, add_pooling_layer=False).eval(), tokenizer


@pytest.fixture(scope="module")
def gpt2() -> tuple[GPT2Model, object]:
    tokenizer = load_tokenizer(GPT2_TOKENIZER)
    torch.manual_seed(0)
    config = GPT2Config(vocab_size=len(tokenizer), n_embd=32, n_layer=2, n_head=2)
    return GPT2Model(config).eval(), tokenizer


def reference_features(texts: list[str], model, tokenizer, pooling: str) -> np.ndarray:
    """Independent reference: each text alone through the model, no padding, pooled by hand. -> (N, D)"""
    rows = []
    with torch.inference_mode():
        for text in texts:
            ids = tokenizer(text, return_tensors="pt")["input_ids"]  # (1, T)
            hidden = model(input_ids=ids).last_hidden_state[0]  # (T, D)
            rows.append(hidden[-1] if pooling == "last" else hidden.mean(0))
    return torch.stack(rows).numpy()


# --- pool ---------------------------------------------------------------------------------------------


def test_pool_mean_matches_hand_computation() -> None:
    gen = torch.Generator().manual_seed(1)
    hidden = torch.randn(2, 4, 3, generator=gen)  # (B, T, D)
    mask = torch.tensor([[1, 1, 1, 0], [1, 0, 0, 0]])
    expected = torch.stack([hidden[0, :3].mean(0), hidden[1, 0]])
    torch.testing.assert_close(pool(hidden, mask, "mean"), expected)


def test_pool_last_right_and_left_padding() -> None:
    hidden = torch.arange(2 * 4 * 1, dtype=torch.float32).reshape(2, 4, 1)  # value = flat position
    right = torch.tensor([[1, 1, 0, 0], [1, 1, 1, 1]])
    left = torch.tensor([[0, 0, 1, 1], [0, 1, 1, 1]])
    assert pool(hidden, right, "last").flatten().tolist() == [1.0, 7.0]
    assert pool(hidden, left, "last").flatten().tolist() == [3.0, 7.0]


@st.composite
def padded_masks(draw: st.DrawFn) -> tuple[torch.Tensor, list[int]]:
    """A (B, T) 0/1 mask whose rows are each right- or left-padded, and each row's last real index."""
    width = draw(st.integers(1, 8))
    rows, last = [], []
    for _ in range(draw(st.integers(1, 5))):
        n = draw(st.integers(1, width))
        if draw(st.booleans()):  # right padding
            rows.append([1] * n + [0] * (width - n))
            last.append(n - 1)
        else:  # left padding
            rows.append([0] * (width - n) + [1] * n)
            last.append(width - 1)
    return torch.tensor(rows), last


@settings(max_examples=60, deadline=None)
@given(padded_masks())
def test_last_token_index_is_last_real_position(case: tuple[torch.Tensor, list[int]]) -> None:
    mask, last = case
    assert last_token_index(mask).tolist() == last


def test_pool_rejects_bad_input() -> None:
    with pytest.raises(InputError, match="no real token"):
        pool(torch.zeros(2, 3, 4), torch.tensor([[1, 0, 0], [0, 0, 0]]), "mean")
    with pytest.raises(InputError, match="'max'"):
        pool(torch.zeros(1, 3, 4), torch.ones(1, 3), "max")  # type: ignore[arg-type]
    with pytest.raises(InputError, match="must be"):
        pool(torch.zeros(1, 3, 4), torch.ones(1, 2), "mean")


# --- resolve_pooling / is_decoder / load_backbone ------------------------------------------------------


def test_resolve_pooling_auto_by_architecture() -> None:
    assert resolve_pooling(BertConfig(), "auto") == "mean"
    assert resolve_pooling(MPNetConfig(), "auto") == "mean"
    assert resolve_pooling(GPT2Config(), "auto") == "last"
    assert resolve_pooling(LlamaConfig(), "auto") == "last"
    assert resolve_pooling(GPT2Config(), "mean") == "mean"
    assert resolve_pooling(BertConfig(), "last") == "last"
    assert is_decoder(BertConfig(is_decoder=True))


def test_resolve_pooling_unknown_is_input_error() -> None:
    with pytest.raises(InputError, match="'cls'"):
        resolve_pooling(BertConfig(), "cls")


def test_missing_hub_id_is_input_error_naming_it() -> None:
    with pytest.raises(InputError, match="no-such-org/no-such-model") as info:
        load_backbone("no-such-org/no-such-model")
    assert "\n" not in str(info.value)


def test_tokenizer_without_pad_gets_eos_and_right_padding() -> None:
    tokenizer = load_tokenizer(GPT2_TOKENIZER)
    assert tokenizer.pad_token_id == tokenizer.eos_token_id
    assert tokenizer.padding_side == "right"


# --- embed_texts ---------------------------------------------------------------------------------------


def test_mean_features_match_hand_computation(bert) -> None:
    model, tokenizer = bert
    result = embed_texts(TEXTS, model, tokenizer, pooling="mean", progress=False)
    assert result.features.dtype == np.float32 and result.features.shape == (len(TEXTS), 32)
    np.testing.assert_allclose(result.features, reference_features(TEXTS, model, tokenizer, "mean"), atol=1e-5)


@pytest.mark.parametrize("pooling", ["last", "mean"])
def test_decoder_padding_does_not_leak(gpt2, pooling) -> None:
    """Batched with longer texts, each feature equals the text's own unpadded forward pass.

    Fails for the peers' bug (pad with id 0, which is "!" in GPT-2, and find the last token by the
    first pad id) and for taking position -1 of a padded row. Texts contain "!" and eos (our pad id).
    """
    model, tokenizer = gpt2
    ids = tokenizer(TEXTS)["input_ids"]
    assert any(0 in seq for seq in ids) and any(tokenizer.eos_token_id in seq for seq in ids)
    batched = embed_texts(TEXTS, model, tokenizer, pooling=pooling, batch_size=64, progress=False)
    np.testing.assert_allclose(batched.features, reference_features(TEXTS, model, tokenizer, pooling), atol=1e-5)


@pytest.mark.parametrize("model_name", ["bert", "gpt2"])
def test_same_features_under_any_batch_size_and_input_order(model_name, request) -> None:
    model, tokenizer = request.getfixturevalue(model_name)
    pooling = resolve_pooling(model.config, "auto")
    reference = embed_texts(TEXTS, model, tokenizer, pooling=pooling, batch_size=64, progress=False).features
    for batch_size in (1, 2, 3):
        result = embed_texts(TEXTS, model, tokenizer, pooling=pooling, batch_size=batch_size, progress=False)
        np.testing.assert_allclose(result.features, reference, atol=1e-5)
    perm = np.random.default_rng(0).permutation(len(TEXTS))
    shuffled = embed_texts([TEXTS[i] for i in perm], model, tokenizer, pooling=pooling, progress=False)
    np.testing.assert_allclose(shuffled.features, reference[perm], atol=1e-5)


def test_deterministic_on_cpu(bert) -> None:
    model, tokenizer = bert
    first = embed_texts(TEXTS, model, tokenizer, pooling="mean", batch_size=3, progress=False)
    second = embed_texts(TEXTS, model, tokenizer, pooling="mean", batch_size=3, progress=False)
    assert first.features.tobytes() == second.features.tobytes()


def test_truncation_is_counted_and_keeps_special_tokens(bert) -> None:
    model, tokenizer = bert
    # BERT adds [CLS] and [SEP]: lengths 12, 3, 8 (exactly the limit), 9 (one over it)
    texts = ["one two three four five six seven eight nine ten", "short", "a b c d e f", "a b c d e f g"]
    ids, n_truncated = tokenize(texts, tokenizer, max_length=8)
    assert n_truncated == 2
    assert [len(seq) for seq in ids] == [8, 3, 8, 8]
    assert all(seq[-1] == tokenizer.sep_token_id for seq in ids)
    assert ids[3] == tokenizer("a b c d e f g", truncation=True, max_length=8)["input_ids"]
    result = embed_texts(texts, model, tokenizer, pooling="mean", max_length=8, progress=False)
    assert result.n_truncated == 2 and result.max_length == 8
    # truncated "a b c d e f g" is [CLS] a b c d e f [SEP]: the same tokens as "a b c d e f"
    np.testing.assert_allclose(result.features[3], result.features[2], atol=1e-6)


def test_bad_arguments_are_input_errors(bert, gpt2) -> None:
    model, tokenizer = bert
    with pytest.raises(InputError, match="non-empty"):
        embed_texts([], model, tokenizer, pooling="mean", progress=False)
    with pytest.raises(InputError, match="'cls'"):
        embed_texts(["a"], model, tokenizer, pooling="cls", progress=False)  # type: ignore[arg-type]
    with pytest.raises(InputError, match="batch_size"):
        embed_texts(["a"], model, tokenizer, pooling="mean", batch_size=0, progress=False)
    with pytest.raises(InputError, match="max_length"):
        embed_texts(["a"], model, tokenizer, pooling="mean", max_length=100_000, progress=False)
    with pytest.raises(InputError, match="text 1 has no tokens"):
        embed_texts(["a", ""], *gpt2, pooling="last", progress=False)  # GPT-2 adds no BOS


def test_pad_id_is_pad_else_eos_else_0() -> None:
    """One pad-id rule for the embed stage and the trainer (`w2s.textdata.pad_id_of`): any valid id works
    since the attention mask hides padding; prefer the tokenizer's pad, then eos, then 0."""
    from tokenizers import Tokenizer
    from tokenizers.models import WordLevel
    from transformers import PreTrainedTokenizerFast

    from w2s.textdata import pad_id_of

    vocab = {"[UNK]": 0, "<eos>": 1, "<pad>": 2, "a": 3}

    def tokenizer(**special: str) -> PreTrainedTokenizerFast:
        return PreTrainedTokenizerFast(tokenizer_object=Tokenizer(WordLevel(vocab, unk_token="[UNK]")), **special)

    assert pad_id_of(tokenizer(pad_token="<pad>", eos_token="<eos>")) == 2
    assert pad_id_of(tokenizer(eos_token="<eos>")) == 1
    assert pad_id_of(tokenizer()) == 0
