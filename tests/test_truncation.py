"""Truncation keeps the end of a text that decides its label: boolq's question, anthropic_hh's
Response B and question, on the real mirror with the real tokenizers (MiniLM's WordPiece, GPT-2's BPE)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from w2s.errors import InputError
from w2s.features import tokenize
from w2s.models import load_tokenizer
from w2s.tasks import load_task, truncation_side
from w2s.textdata import tokenize_rows

TOKENIZERS = ["sentence-transformers/all-MiniLM-L6-v2", "openai-community/gpt2"]
LIMIT = 64


@pytest.fixture(scope="module")
def mirror() -> Path:
    path = Path(os.environ.get("W2S_TEST_DATA_DIR") or Path(__file__).resolve().parents[2] / "shared" / "datasets")
    if not (path / "sst2").is_dir():
        pytest.fail(f"no local dataset mirror at {path}: set W2S_TEST_DATA_DIR to the folder holding sst2/")
    return path


def decisive_end(task: str, text: str) -> str:
    """The part of a formatted text the label hangs on: boolq's question, hh's Response B + question."""
    marker = "\n\nQuestion: " if task == "boolq" else "\n\nResponse B: "
    return text[text.rindex(marker) + 2:]


def content(ids: list[int], tokenizer: object) -> list[int]:
    special = set(tokenizer.all_special_ids)  # type: ignore[attr-defined]
    return [t for t in ids if t not in special]


@pytest.mark.parametrize("hub_id", TOKENIZERS)
@pytest.mark.parametrize(("task", "split"), [("boolq", "test"), ("anthropic_hh", "test")])
def test_the_decisive_end_survives_truncation(mirror: Path, hub_id: str, task: str, split: str) -> None:
    tokenizer = load_tokenizer(hub_id)
    texts = load_task(task, source="local", local_dir=str(mirror), seed=0)[split]["text"].to_list()[:400]
    side = truncation_side(task)
    assert side == "left"
    cut, n_truncated = tokenize(texts, tokenizer, LIMIT, side)
    full, _ = tokenize(texts, tokenizer, 100_000)
    room = LIMIT - tokenizer.num_special_tokens_to_add()
    checked = 0
    for text, kept, whole in zip(texts, cut, full, strict=True):
        end = tokenizer(decisive_end(task, text), add_special_tokens=False)["input_ids"]
        if len(whole) <= LIMIT or len(end) > room or content(whole, tokenizer)[-len(end):] != end:
            continue  # not cut, the end alone is over the limit, or tokenized differently in context
        checked += 1
        assert len(kept) == LIMIT and content(kept, tokenizer)[-len(end):] == end, text[-200:]
        if tokenizer.cls_token_id is not None:  # BERT's [CLS] ... [SEP] stay around the kept end
            assert kept[0] == tokenizer.cls_token_id and kept[-1] == tokenizer.sep_token_id
    assert n_truncated > 100 and checked > 50, (n_truncated, checked)


def test_finetune_rows_use_the_same_side_and_the_tokenizer_is_left_as_it_was() -> None:
    tokenizer = load_tokenizer(TOKENIZERS[0])
    text = "a long passage " * 30 + "\n\nQuestion: is the sky blue?"
    rows = tokenize_rows([text, "short"], tokenizer, 16, truncation="left")
    tail = tokenizer("is the sky blue?", add_special_tokens=False)["input_ids"]
    assert rows.n_truncated == 1 and int(rows.lengths[0]) == 16
    assert rows.flat[rows.offsets[0]:rows.offsets[0] + 16][-1 - len(tail):-1].tolist() == tail
    right = tokenize_rows([text], tokenizer, 16)  # default: keep the start
    assert right.flat[1:4].tolist() == tokenizer("a long passage", add_special_tokens=False)["input_ids"]
    assert tokenizer.truncation_side == "right"
    with pytest.raises(InputError, match="'middle'"):
        tokenize([text], tokenizer, 16, "middle")
    assert tokenizer.truncation_side == "right"
