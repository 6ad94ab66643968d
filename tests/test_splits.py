"""`w2s.splits`: the balanced, deduplicated pool and each seed's train_weak / train_transfer split."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import polars as pl
import pytest

from w2s.errors import InputError
from w2s.splits import _ranked, _ranked_by_group, build_pool, clean_split, largest_n_train, normalize_text, split_train
from w2s.tasks import load_task


@pytest.fixture(scope="module")
def mirror() -> Path:
    """The local dataset mirror: $W2S_TEST_DATA_DIR, else ../shared/datasets beside the repo."""
    default = Path(__file__).resolve().parents[2] / "shared" / "datasets"
    path = Path(os.environ.get("W2S_TEST_DATA_DIR") or default)
    if not (path / "sst2").is_dir():
        pytest.fail(f"no local dataset mirror at {path}: set W2S_TEST_DATA_DIR to the folder holding sst2/")
    return path


def frame(n: int, prefix: str, positive_every: int = 2) -> pl.DataFrame:
    """n rows `<prefix> <i>`, label 1 on every `positive_every`-th row."""
    return pl.DataFrame({"text": [f"{prefix} {i}" for i in range(n)],
                         "label": [int(i % positive_every == 0) for i in range(n)]},
                        schema={"text": pl.Utf8, "label": pl.Int8})


def counts(pool: pl.DataFrame, part: str) -> dict[int, int]:
    rows = pool.filter(pl.col("part") == part)
    return {k: int((rows["label"] == k).sum()) for k in (0, 1)}


def error(fn: object, *culprits: str) -> str:
    with pytest.raises(InputError) as info:
        fn()  # type: ignore[operator]
    message = str(info.value)
    assert "\n" not in message
    for culprit in culprits:
        assert culprit in message, f"{culprit!r} not in {message!r}"
    return message


SPLITS = {"train": frame(300, "train", 3), "test": frame(100, "test")}


def test_pool_is_balanced_disjoint_and_typed() -> None:
    pool = build_pool(SPLITS, n_train=40, n_test=20, seed=0, task="toy")
    assert pool.schema == pl.Schema({"id": pl.Int64, "text": pl.Utf8, "label": pl.Int8, "part": pl.Utf8})
    assert pool["id"].to_list() == list(range(60))
    assert counts(pool, "test") == {0: 10, 1: 10} and counts(pool, "train") == {0: 20, 1: 20}
    assert pool.filter(pl.col("part") == "test")["id"].to_list() == list(range(20))  # test first
    assert pool["text"].n_unique() == 60
    assert pool.filter(pl.col("part") == "test")["text"].str.starts_with("test").all()
    assert pool.filter(pl.col("part") == "train")["text"].str.starts_with("train").all()


def test_pool_is_deterministic_and_seed_dependent() -> None:
    first = build_pool(SPLITS, n_train=40, n_test=20, seed=3)
    assert first.equals(build_pool(SPLITS, n_train=40, n_test=20, seed=3))
    assert not first["text"].equals(build_pool(SPLITS, n_train=40, n_test=20, seed=4)["text"])


def test_test_rows_do_not_depend_on_n_train() -> None:
    small = build_pool(SPLITS, n_train=20, n_test=20, seed=0).filter(pl.col("part") == "test")
    large = build_pool(SPLITS, n_train=80, n_test=20, seed=0).filter(pl.col("part") == "test")
    assert small.equals(large)


def test_train_rows_found_in_test_are_dropped() -> None:
    train = pl.concat([frame(40, "train"), frame(40, "test")])  # the test split's texts leak into train
    pool = build_pool({"train": train, "test": frame(40, "test")}, n_train=40, n_test=10, seed=0)
    assert pool.filter(pl.col("part") == "train")["text"].str.starts_with("train").all()
    with pytest.raises(InputError, match="n_train=42"):
        build_pool({"train": train, "test": frame(40, "test")}, n_train=42, n_test=10, seed=0)


@pytest.mark.parametrize("only", ["train", "test"])
def test_missing_split_is_carved(only: str) -> None:
    pool = build_pool({only: frame(100, "x")}, n_train=40, n_test=20, seed=0, task="toy")
    assert counts(pool, "test") == {0: 10, 1: 10} and counts(pool, "train") == {0: 20, 1: 20}
    assert pool["text"].n_unique() == 60
    assert pool.equals(build_pool({only: frame(100, "x")}, n_train=40, n_test=20, seed=0))


def test_whitespace_normalised_then_deduplicated() -> None:
    texts = ["  a  b ", "a b", "a\tb", "line one \r\nline two", "", "   ", None, "c"]
    df = pl.DataFrame({"text": texts, "label": [1, 0, 1, 1, 0, 0, 1, None]})
    out = clean_split(df, "toy", "train")
    assert out.select("text", "label").rows() == [("a b", 1), ("line one\nline two", 1)]
    assert out["group"].equals(out["text"], check_names=False)  # no group column: each text its own group


def test_normalize_keeps_line_breaks() -> None:
    out = pl.select(normalize_text(pl.lit("\n\nHuman: hi  there \n\nAssistant:\u00a0ok\n"))).item()
    assert out == "Human: hi there\n\nAssistant: ok"


def test_real_tasks_make_pools(mirror: Path) -> None:
    for task in ("sst2", "cosmos_qa"):  # both splits / test split only
        splits = load_task(task, source="local", local_dir=str(mirror), seed=0)
        pool = build_pool(splits, n_train=200, n_test=100, seed=0, task=task)
        assert counts(pool, "test") == {0: 50, 1: 50} and counts(pool, "train") == {0: 100, 1: 100}
        assert pool["text"].n_unique() == 300


def grouped(n: int, prefix: str, per_group: int) -> pl.DataFrame:
    """`frame(n, prefix)` with a group column: rows i and j share a group iff i // per_group == j // per_group."""
    return frame(n, prefix).with_columns(group=pl.Series([f"g{i // per_group}" for i in range(n)]))


def sides_of_groups(pool: pl.DataFrame, source: pl.DataFrame) -> pl.DataFrame:
    """Per group of `source` that reached the pool: how many distinct parts its rows landed in."""
    return (pool.join(source.select("text", "group"), on="text")
            .group_by("group").agg(pl.col("part").n_unique().alias("sides")))


@pytest.mark.parametrize("only", ["train", "test"])
def test_carving_keeps_each_group_on_one_side(only: str) -> None:
    source = grouped(300, "x", per_group=3)  # every group has both labels (rows 3k..3k+2 alternate)
    pool = build_pool({only: source}, n_train=60, n_test=40, seed=0, task="toy")
    assert counts(pool, "test") == {0: 20, 1: 20} and counts(pool, "train") == {0: 30, 1: 30}
    assert (sides_of_groups(pool, source)["sides"] == 1).all()


def test_train_rows_sharing_a_group_with_the_test_split_are_dropped() -> None:
    test = grouped(40, "test", per_group=4)
    train = pl.concat([grouped(60, "train", per_group=2).with_columns(group=pl.lit("own") + pl.col("group")),
                       grouped(40, "other", per_group=4)])  # the last 40 share the test split's groups
    pool = build_pool({"train": train, "test": test}, n_train=60, n_test=20, seed=0, task="toy")
    assert pool.filter(pl.col("part") == "train")["text"].str.starts_with("train").all()
    error(lambda: build_pool({"train": train, "test": test}, n_train=62, n_test=20, seed=0, task="toy"),
          "task toy", "prepare.n_train=62", "group")


def _context(task: str, text: str) -> str:
    """A pool text's group, read back from the text itself: cosmos_qa's context, anthropic_hh's prompt."""
    return text.rsplit("\nQuestion: ", 1)[0] if task == "cosmos_qa" else text.split("Response A: ", 1)[0]


@pytest.mark.parametrize(("task", "n_train"), [("cosmos_qa", 1600), ("anthropic_hh", 1400)])
def test_no_context_spans_train_and_test_on_real_data(mirror: Path, task: str, n_train: int) -> None:
    """cosmos_qa: 2,951 distinct texts, 2,445 contexts; before, 160 of 800 test rows shared their context
    with a training row. anthropic_hh: two prompts have two pairs each (before: both split, seed 0)."""
    splits = load_task(task, source="local", local_dir=str(mirror), seed=0)
    assert set(splits) == {"test"}  # carved from one split
    pool = build_pool(splits, n_train=n_train, n_test=800, seed=0, task=task)
    contexts = pool.with_columns(pl.col("text").map_elements(lambda t: _context(task, t), return_dtype=pl.Utf8)
                                 .alias("context")).filter(pl.col("context") != "")  # hh: 5 rows show no prompt
    sides = contexts.group_by("context").agg(pl.col("part").n_unique().alias("sides"))
    assert (sides["sides"] == 1).all(), sides.filter(pl.col("sides") > 1).height


def test_carved_test_rows_fill_whole_groups(mirror: Path) -> None:
    """quail: 2,163 questions on 119 contexts (120 ids: two hold one text). Drawn one by one, 400 test
    rows touched every context and left no row for training (seed 0); drawn group by group they fill ~23."""
    splits = load_task("quail", source="local", local_dir=str(mirror), seed=0)
    pool = build_pool(splits, n_train=1600, n_test=400, seed=0, task="quail")
    context = pl.col("text").str.split("\nQuestion: ").list.first()
    sides = pool.group_by(context.alias("context")).agg(pl.col("part").n_unique().alias("sides"),
                                                        (pl.col("part") == "test").any().alias("test"))
    assert (sides["sides"] == 1).all() and sides["test"].sum() <= 400 // 18 + 4
    assert largest_n_train(splits, n_test=400, seed=0, task="quail") == 1734
    error(lambda: build_pool(splits, n_train=1736, n_test=400, seed=0, task="quail"), "prepare.n_train=1736")


def test_group_draw_of_one_row_groups_is_the_row_draw() -> None:
    """Where every group is one row, the carve draws the test rows it drew before groups were drawn whole."""
    source = frame(200, "x")
    rows = _ranked(source.with_columns(group=pl.col("text")), np.random.default_rng(5))
    groups = _ranked_by_group(source.with_columns(group=pl.col("text")), np.random.default_rng(5))
    assert rows.equals(groups)


def test_boolq_training_passages_are_not_in_the_test_split(mirror: Path) -> None:
    """boolq's train and validation splits share 1,432 questions' passages: those training rows go."""
    splits = load_task("boolq", source="local", local_dir=str(mirror), seed=0)
    pool = build_pool(splits, n_train=2000, n_test=800, seed=0, task="boolq")
    passage = pl.col("text").str.replace(r"\n\nQuestion: [^\n]*$", "")
    test_passages = clean_split(splits["test"], "boolq", "test").select(passage)["text"].implode()
    leaked = pool.filter((pl.col("part") == "train") & passage.is_in(test_passages))
    assert leaked.is_empty()


@pytest.mark.parametrize(("kwargs", "culprits"), [
    ({"n_train": 41, "n_test": 20}, ["task toy", "n_train", "41"]),
    ({"n_train": 40, "n_test": 0}, ["task toy", "n_test", "0"]),
    ({"n_train": 40, "n_test": 202}, ["task toy", "split test", "50 rows of label 0", "prepare.n_test=202", "101"]),
    ({"n_train": 202, "n_test": 20}, ["task toy", "split train", "prepare.n_train=202", "101"]),
])
def test_pool_size_errors(kwargs: dict[str, int], culprits: list[str]) -> None:
    error(lambda: build_pool(SPLITS, seed=0, task="toy", **kwargs), *culprits)


def test_pool_carving_too_small_names_carved_split() -> None:
    error(lambda: build_pool({"test": frame(60, "x")}, n_train=42, n_test=20, seed=0, task="toy"),
          "task toy", "split test (rows left after drawing the test rows", "20 rows of label 0",
          "prepare.n_train=42", "21 of each")


def test_pool_input_errors() -> None:
    error(lambda: build_pool({}, n_train=2, n_test=2, seed=0, task="toy"), "task toy", "train")
    error(lambda: build_pool({"validation": frame(9, "x")}, n_train=2, n_test=2, seed=0), "validation")
    blank = pl.DataFrame({"text": ["  ", ""], "label": [0, 1]})
    error(lambda: build_pool({"train": blank}, n_train=2, n_test=2, seed=0, task="toy"),
          "task toy", "split train")
    three = pl.DataFrame({"text": ["a", "b"], "label": [0, 2]})
    error(lambda: build_pool({"test": three}, n_train=2, n_test=2, seed=0, task="toy"),
          "split test", "label 2")
    no_label = pl.DataFrame({"text": ["a"]})
    error(lambda: build_pool({"test": no_label}, n_train=2, n_test=2, seed=0), "'label'")
    overlap = {"train": frame(10, "x"), "test": frame(10, "x")}
    error(lambda: build_pool(overlap, n_train=2, n_test=2, seed=0, task="toy"), "task toy", "split train")
    error(lambda: build_pool(SPLITS, n_train=2, n_test=2, seed=-1), "seed", "-1")


# --- split_train ----------------------------------------------------------------------------------------

POOL = build_pool(SPLITS, n_train=80, n_test=20, seed=0)


def parts(split: pl.DataFrame) -> dict[str, pl.DataFrame]:
    joined = split.join(POOL.select("id", "label"), on="id")
    return {p: joined.filter(pl.col("part") == p) for p in ("train_weak", "train_transfer")}


def test_split_train_partitions_training_rows_balanced() -> None:
    split = split_train(POOL, seed=0)
    assert split.schema == pl.Schema({"id": pl.Int64, "part": pl.Utf8})
    assert split["id"].to_list() == POOL.filter(pl.col("part") == "train")["id"].to_list()  # sorted, all
    for rows in parts(split).values():
        assert len(rows) == 40 and rows["label"].sum() == 20


def test_split_train_fraction() -> None:
    by_part = parts(split_train(POOL, seed=0, weak_fraction=0.25))
    assert len(by_part["train_weak"]) == 20 and by_part["train_weak"]["label"].sum() == 10
    assert len(by_part["train_transfer"]) == 60 and by_part["train_transfer"]["label"].sum() == 30


def test_split_train_deterministic_seed_dependent_order_free() -> None:
    split = split_train(POOL, seed=1)
    assert split.equals(split_train(POOL, seed=1))
    assert split.equals(split_train(POOL.reverse(), seed=1))
    assert not split.equals(split_train(POOL, seed=2))


@pytest.mark.parametrize("fraction", [0.0, 1.0, -0.5, 1.5, float("nan")])
def test_split_train_bad_fraction(fraction: float) -> None:
    error(lambda: split_train(POOL, seed=0, weak_fraction=fraction), "weak_fraction", repr(fraction))


def test_split_train_input_errors() -> None:
    error(lambda: split_train(POOL.drop("part"), seed=0), "'part'")
    tiny = POOL.filter(pl.col("part") == "test")  # no training rows at all
    error(lambda: split_train(tiny, seed=0), "0 training rows")
