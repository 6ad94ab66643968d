"""Properties of `w2s.splits`: whatever the splits, the pool is balanced, deduplicated, disjoint and
deterministic (or the input is refused with InputError), and each seed's split partitions the
training rows into two label-balanced parts."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import polars as pl
from hypothesis import given
from hypothesis import strategies as st

from w2s.errors import InputError
from w2s.splits import build_pool, normalize_text, split_train

Draw = Callable[[st.SearchStrategy[Any]], Any]

# A small alphabet of words and whitespace so drawn texts often collide, before or after normalisation.
_WORDS = st.sampled_from(["a", "b", "cat", "dog", " ", "  ", "\t", "\n", "\r\n", "\u00a0"])


@st.composite
def texts(draw: Draw) -> str:
    """A short text of 0-4 words/whitespace runs: often empty, blank, or a duplicate of another."""
    return "".join(draw(st.lists(_WORDS, max_size=4)))


# How a drawn row deviates from a fresh, distinct text with alternating label (fresh is most common).
_KINDS = st.sampled_from(["fresh"] * 6 + ["duplicate", "shared", "soup", "null_text", "null_label",
                                          "flipped"])


@st.composite
def split_frames(draw: Draw, name: str, min_rows: int = 0, max_rows: int = 40) -> pl.DataFrame:
    """A raw split of min_rows..max_rows rows: columns text (Utf8), label (Int8 0/1).

    Row i is `<name> <i>` with label i % 2, unless its drawn kind makes it a duplicate of an earlier
    row's text, a text `shared <i>` that the other split may hold too, whitespace soup (often blank),
    a null text, a null label or a flipped label.
    """
    rows: list[tuple[str | None, int | None]] = []
    for i, kind in enumerate(draw(st.lists(_KINDS, min_size=min_rows, max_size=max_rows))):
        text: str | None = f"{name} {i}"
        label: int | None = i % 2
        if kind == "duplicate" and rows:
            text = rows[draw(st.integers(0, len(rows) - 1))][0]
        elif kind in ("shared", "soup", "null_text"):
            text = {"shared": f"shared {i}", "soup": draw(texts()), "null_text": None}[kind]
        elif kind in ("null_label", "flipped"):
            label = None if kind == "null_label" else 1 - i % 2
        rows.append((text, label))
    return pl.DataFrame(rows, schema={"text": pl.Utf8, "label": pl.Int8}, orient="row")


@st.composite
def pool_inputs(draw: Draw) -> tuple[dict[str, pl.DataFrame], int, int, int]:
    """(splits with "train" and/or "test", n_train, n_test, seed): even sizes, splits of about the
    sizes asked for, so that some draws fit and others miss a label, after nulls and duplicates."""
    n_train, n_test = 2 * draw(st.integers(1, 6)), 2 * draw(st.integers(1, 4))
    names = draw(st.sampled_from([("train",), ("test",), ("train", "test")]))
    n = {"train": n_train, "test": n_test} if len(names) == 2 else {names[0]: n_train + n_test}
    splits = {name: draw(split_frames(name, n[name], 2 * n[name] + 8)) for name in names}
    return splits, n_train, n_test, draw(st.integers(0, 2**32))


def _pool_or_none(splits: dict[str, pl.DataFrame], n_train: int, n_test: int,
                  seed: int) -> pl.DataFrame | None:
    """The pool, or None when build_pool refuses the input (with a one-line InputError naming it)."""
    try:
        return build_pool(splits, n_train=n_train, n_test=n_test, seed=seed, task="prop")
    except InputError as e:
        assert "task prop" in str(e) and "\n" not in str(e)
        return None


@given(pool_inputs())
def test_pool_is_balanced_unique_disjoint(inputs: tuple[dict[str, pl.DataFrame], int, int, int]) -> None:
    splits, n_train, n_test, seed = inputs
    pool = _pool_or_none(splits, n_train, n_test, seed)
    if pool is None:
        return
    assert pool["id"].to_list() == list(range(n_train + n_test))
    for part, n in (("test", n_test), ("train", n_train)):
        rows = pool.filter(pl.col("part") == part)
        assert len(rows) == n and int(rows["label"].sum()) == n // 2
    assert pool["text"].n_unique() == len(pool)  # no text twice, so train and test are disjoint
    assert (pool["text"] != "").all()
    assert pool["text"].equals(pool.select(normalize_text(pl.col("text")))["text"])
    if "train" in splits and "test" in splits:  # training rows never repeat any test-split text
        test_texts = set(splits["test"].select(normalize_text(pl.col("text")))["text"].to_list())
        assert not set(pool.filter(pl.col("part") == "train")["text"].to_list()) & test_texts


@given(pool_inputs())
def test_pool_is_deterministic(inputs: tuple[dict[str, pl.DataFrame], int, int, int]) -> None:
    splits, n_train, n_test, seed = inputs
    first = _pool_or_none(splits, n_train, n_test, seed)
    second = _pool_or_none(splits, n_train, n_test, seed)
    assert (first is None and second is None) or (first is not None and second is not None
                                                   and first.equals(second))


@given(pool_inputs(), st.integers(0, 2**32), st.floats(0.05, 0.95))
def test_split_train_partitions_balanced(inputs: tuple[dict[str, pl.DataFrame], int, int, int], seed: int,
                                         fraction: float) -> None:
    pool = _pool_or_none(*inputs)
    if pool is None or inputs[1] < 4:  # both parts need a row of each label
        return
    split = split_train(pool, seed=seed, weak_fraction=fraction)
    assert split.equals(split_train(pool.sample(fraction=1.0, shuffle=True, seed=0), seed=seed,
                                    weak_fraction=fraction))
    train = pool.filter(pl.col("part") == "train")
    assert split["id"].to_list() == train["id"].to_list()  # every training row once, sorted by id
    joined = split.join(pool.select("id", "label"), on="id")
    for part in ("train_weak", "train_transfer"):
        labels = joined.filter(pl.col("part") == part)["label"]
        assert len(labels) > 0 and 2 * int(labels.sum()) == len(labels)


@given(texts())
def test_normalize_text_is_idempotent(text: str) -> None:
    once = pl.select(normalize_text(pl.lit(text))).item()
    assert pl.select(normalize_text(pl.lit(once))).item() == once
    assert once == once.strip() and "\r" not in once and "  " not in once
