"""The pool of rows a task's runs share, and each seed's split of its training rows.

`build_pool` turns `load_task`'s splits into one label-balanced, deduplicated table of `n_train`
training rows and `n_test` test rows (the test rows are shared by every seed). Rows that share a group
(a context, a prompt, a passage: the `group` column of `load_task`) never straddle train and test, so
a test row's context is never seen in training. `split_train` then
divides the training rows into train_weak (ground truth for supervisors) and train_transfer (labelled
by a supervisor) for one seed. Both are deterministic functions of their inputs and `seed`.
"""

from __future__ import annotations

import math

import numpy as np
import polars as pl

from w2s.errors import InputError
from w2s.tasks import BALANCES, stable_rng

SPLITS = ("train", "test")
CARRIED = ("difficulty",)
"""Optional per-row columns a task can give (chess: the puzzle's rating) that the pool keeps for the analyses."""


def normalize_text(text: pl.Expr) -> pl.Expr:
    """Whitespace normalisation: CRLF/CR -> LF, runs of spaces/tabs/NBSP -> one space, no space at line
    ends, ends stripped. Line breaks are kept (dialogues and passages use them as structure)."""
    return (text.str.replace_all(r"\r\n?", "\n")
            .str.replace_all(r"[ \t\f\v\u00a0]+", " ")
            .str.replace_all(r" ?\n ?", "\n")
            .str.strip_chars())


def _who(task: str) -> str:
    return f"task {task}" if task else "pool"


def clean_split(frame: pl.DataFrame, task: str, split: str) -> pl.DataFrame:
    """Columns text (normalised), label (Int8), group (Utf8) of one split: rows with a null or empty text
    or a null label dropped, then repeated texts dropped (the first occurrence is kept, whatever its
    label). `group` is the input's group column where given and not null, else the normalised text.
    Raises InputError on missing columns, labels other than 0/1, or no rows left."""
    missing = [c for c in ("text", "label") if c not in frame.columns]
    if missing:
        raise InputError(f"{_who(task)}: split {split} lacks column {missing[0]!r}")
    text = normalize_text(pl.col("text").cast(pl.Utf8))
    group = pl.col("group").cast(pl.Utf8) if "group" in frame.columns else pl.lit(None, dtype=pl.Utf8)
    extra = [pl.col(c) for c in CARRIED if c in frame.columns]
    out = (frame.select(text, pl.col("label"), group.alias("group"), *extra)
           .drop_nulls(["text", "label"]).filter(pl.col("text") != "")
           .with_columns(pl.coalesce("group", "text").alias("group")))
    bad = out.filter(~pl.col("label").is_in([0, 1]))["label"]
    if len(bad):
        raise InputError(f"{_who(task)}: split {split} has label {bad[0]}; expected 0 or 1")
    out = out.unique(subset="text", keep="first", maintain_order=True)
    if out.is_empty():
        raise InputError(f"{_who(task)}: split {split} has no rows with a non-empty text and a label")
    return out.with_columns(pl.col("label").cast(pl.Int8))


def _outside(frame: pl.DataFrame, held: pl.DataFrame) -> pl.DataFrame:
    """Rows of `frame` sharing neither a text nor a group with any row of `held`."""
    return frame.filter(~pl.col("text").is_in(held["text"].implode())
                        & ~pl.col("group").is_in(held["group"].implode()))


def _ranked(frame: pl.DataFrame, rng: np.random.Generator) -> pl.DataFrame:
    """`frame` in a uniformly random order, with `_k`: the row's position among rows of its label."""
    return (frame.with_columns(pl.Series("_rank", rng.permutation(len(frame)), dtype=pl.Int64))
            .sort("_rank").drop("_rank")
            .with_columns(pl.int_range(pl.len()).over("label").alias("_k")))


def quotas(counts: dict[int, int], n: int, balance: str | None) -> dict[int, int]:
    """Rows of each label in a draw of `n` from a split with `counts` rows per label: n/2 each
    (`downsample`, or None: a built-in task), or the split's label rate, n * count / total rounded, at
    least 1 of each (`natural`)."""
    if balance in (None, "downsample"):
        return {0: n // 2, 1: n // 2}
    if balance != "natural":
        raise InputError(f"balance must be one of {', '.join(BALANCES)}, got {balance!r}")
    ones = min(max(math.floor(n * counts[1] / max(sum(counts.values()), 1) + 0.5), 1), n - 1)
    return {0: n - ones, 1: ones}


def _most_that_fit(counts: dict[int, int], balance: str | None) -> int:
    """The largest even n whose `quotas` the split's `counts` can supply (0 if none)."""
    if balance in (None, "downsample"):
        return 2 * min(counts.values())
    n = sum(counts.values()) - sum(counts.values()) % 2
    while n >= 2 and any(q > counts[k] for k, q in quotas(counts, n, balance).items()):
        n -= 2
    return max(n, 0) if min(counts.values()) else 0


def _ranked_by_group(frame: pl.DataFrame, rng: np.random.Generator) -> pl.DataFrame:
    """`frame` with its groups in a uniformly random order (each group's rows together, in a random order
    within it), with `_k` as in `_ranked`. Where every group is one row, the same order as `_ranked`
    with the same rng state (the group permutation is drawn first, over groups in order of appearance)."""
    groups = frame["group"].unique(maintain_order=True)
    group_rank = pl.DataFrame({"group": groups, "_grank": pl.Series(rng.permutation(len(groups)), dtype=pl.Int64)})
    return (frame.join(group_rank, on="group", how="left", maintain_order="left")
            .with_columns(pl.Series("_rank", rng.permutation(len(frame)), dtype=pl.Int64))
            .sort("_grank", "_rank").drop("_grank", "_rank")
            .with_columns(pl.int_range(pl.len()).over("label").alias("_k")))


def take_balanced(frame: pl.DataFrame, n: int, rng: np.random.Generator, *, task: str, split: str,
                  what: str, balance: str | None = None, by_group: bool = False) -> tuple[pl.DataFrame, pl.DataFrame]:
    """(n random rows, `quotas` of each label: n/2 each by default; the other rows), both in random order,
    columns as `frame`.

    `by_group`: the rows are taken group by group (groups in a random order, `_ranked_by_group`), so the
    n rows fill few groups whole instead of touching one row of many (what a carve needs: every group a
    test row touches is lost to training). The draw is nested: for the same rng state, the rows taken
    for n are among those taken for n + 2 (with `downsample`). Raises InputError naming the task, split,
    class counts and `what` (e.g. "n_test=800", the prepare key) if a label has too few rows, with the
    largest size that fits and the `prepare.per_task` line that sets it (and, for a file task's
    `downsample`, the `natural` choice).
    """
    counts = {k: int((frame["label"] == k).sum()) for k in (0, 1)}
    want = quotas(counts, n, balance)
    if any(want[k] > counts[k] for k in (0, 1)):
        need = (f"{want[0]} of label 0 and {want[1]} of label 1 (the split's label rate)" if balance == "natural"
                else f"{want[0]} of each")
        key, most = what.split("=")[0].split(".")[-1], _most_that_fit(counts, balance)
        fix = (f"the most that fit: {key} {most}, set prepare.per_task: {{{task or '<task>'}: {{{key}: {most}}}}}"
               if most >= 2 else "too few rows")
        also = (f"; or, for a file task, data.file_tasks.{task}.balance: natural (keep the file's label rate)"
                if balance == "downsample" and task else "")
        raise InputError(f"{_who(task)}: split {split} has {counts[0]} rows of label 0 and {counts[1]} of "
                         f"label 1 after deduplication; {what} needs {need}; {fix}{also}")
    ranked = _ranked_by_group(frame, rng) if by_group else _ranked(frame, rng)
    taken = pl.col("_k") < pl.when(pl.col("label") == 1).then(want[1]).otherwise(want[0])
    return ranked.filter(taken).drop("_k"), ranked.filter(~taken).drop("_k")


def _check_sizes(n_train: int, n_test: int, task: str) -> None:
    for key, n in (("n_train", n_train), ("n_test", n_test)):
        if isinstance(n, bool) or not isinstance(n, int) or n < 2 or n % 2:
            raise InputError(f"{_who(task)}: {key} must be an even integer >= 2 (half per label), got {n!r}")


def build_pool(splits: dict[str, pl.DataFrame], *, n_train: int, n_test: int, seed: int,
               task: str = "", balance: str | None = None) -> pl.DataFrame:
    """The pool every seed of a task draws from: `n_test` test rows and `n_train` training rows.

    `splits` is `load_task`'s output: {"train": df, "test": df} or one of them, each with columns text,
    label (0/1) and optionally group. Steps: normalise whitespace (`normalize_text`), drop empty texts
    and duplicate texts within each split (first occurrence kept), drop training rows whose text or
    group is anywhere in the test split, then draw a label-balanced `n_test` test rows (n/2 per label)
    and `n_train` training rows. A missing split is carved from the other one: the test rows are drawn
    first, group by group (groups in a random order, so they fill few groups whole: quail's 120 contexts
    of ~18 questions each would all be touched by a few hundred rows drawn one by one), and the training
    rows from what is left, minus every row sharing a group with a drawn test row, so no text and no
    group is on both sides. The test draw and the training draw use separate generators, so changing
    `n_train` never changes the test rows. `balance` is a file task's choice (None: a built-in task, n/2
    each): `natural` draws each label in proportion to its split's rate instead (`quotas`).

    Returns columns id (Int64), text (Utf8), label (Int8), part ("train" | "test") and the `CARRIED`
    columns the splits have (e.g. difficulty), sorted by id: test
    rows get ids 0..n_test-1 and training rows n_test..n_test+n_train-1, each in a random order fixed
    by `seed`. The same inputs and seed give the same table. Raises InputError for an odd or
    non-positive n, unknown or no splits, a split left empty, or a label with too few rows.
    """
    _check_sizes(n_train, n_test, task)
    test, train_source, train_split = _test_and_train_source(splits, n_test, seed, task, balance)
    train, _ = take_balanced(train_source, n_train, stable_rng(seed, "pool", "train"), task=task,
                             split=train_split, what=f"prepare.n_train={n_train}", balance=balance)
    pool = pl.concat([test.with_columns(part=pl.lit("test")), train.with_columns(part=pl.lit("train"))])
    extra = [c for c in CARRIED if c in pool.columns]
    return pool.with_row_index("id").select(pl.col("id").cast(pl.Int64), "text", "label", "part", *extra)


def _test_and_train_source(splits: dict[str, pl.DataFrame], n_test: int, seed: int, task: str,
                           balance: str | None = None) -> tuple[pl.DataFrame, pl.DataFrame, str]:
    """`build_pool`'s test rows, the rows its training rows are drawn from, and how to name those."""
    unknown = sorted(set(splits) - set(SPLITS))
    if unknown or not splits:
        raise InputError(f"{_who(task)}: splits must be 'train' and/or 'test', got {sorted(splits)}")
    clean = {name: clean_split(frame, task, name) for name, frame in splits.items()}
    test_split = "test" if "test" in clean else "train"
    test, rest = take_balanced(clean[test_split], n_test, stable_rng(seed, "pool", "test"), task=task,
                               split=test_split, what=f"prepare.n_test={n_test}", balance=balance,
                               by_group=len(clean) == 1)
    if "train" in clean and "test" in clean:
        train_source = _outside(clean["train"], clean["test"])
        if train_source.is_empty():
            raise InputError(f"{_who(task)}: split train has no rows whose text or group is not in the test split")
        return test, train_source, "train (rows whose text and group are not in the test split)"
    return test, _outside(rest, test), f"{test_split} (rows left after drawing the test rows and dropping their groups)"


def largest_n_train(splits: dict[str, pl.DataFrame], *, n_test: int, seed: int, task: str = "") -> int:
    """The largest `n_train` that `build_pool(splits, n_test=n_test, seed=seed)` accepts: twice the
    smaller label count of the rows its training rows are drawn from (0 where none is left). It depends
    on the seed where a split is carved (which groups the test rows take)."""
    _check_sizes(2, n_test, task)
    _, train_source, _ = _test_and_train_source(splits, n_test, seed, task)
    return 2 * min(int((train_source["label"] == k).sum()) for k in (0, 1))


def split_train(pool: pl.DataFrame, *, seed: int, weak_fraction: float = 0.5) -> pl.DataFrame:
    """Split the pool's training rows into train_weak and train_transfer for one seed.

    Stratified by label: of the c rows of a label, train_weak gets k = round(c * weak_fraction) (clipped to
    1..c-1 so both parts see both labels) and train_transfer the others, so both parts keep the pool's
    label rate (label-balanced when the pool is, as `build_pool`'s default makes it). Disjoint,
    deterministic for the same pool and seed, different across seeds. Row order of `pool` does not
    matter (rows are sorted by id before the draw).

    Returns columns id (Int64), part ("train_weak" | "train_transfer"), sorted by id. Raises
    InputError if weak_fraction is not in (0, 1), columns are missing, or a label has < 2 rows.
    """
    if not (isinstance(weak_fraction, (int, float)) and 0 < weak_fraction < 1):
        raise InputError(f"train.weak_fraction must be in (0, 1), got {weak_fraction!r}")
    missing = [c for c in ("id", "label", "part") if c not in pool.columns]
    if missing:
        raise InputError(f"pool lacks column {missing[0]!r} (has: {', '.join(pool.columns)})")
    train = pool.filter(pl.col("part") == "train").select(pl.col("id").cast(pl.Int64), "label").sort("id")
    counts = {y: int((train["label"] == y).sum()) for y in (0, 1)}
    if min(counts.values()) < 2:
        raise InputError(f"pool: {len(train)} training rows with only {min(counts.values())} of one label; "
                         "train_weak and train_transfer need at least 1 of each label")
    k = {y: min(max(math.floor(c * weak_fraction + 0.5), 1), c - 1) for y, c in counts.items()}
    ranked = _ranked(train, stable_rng(seed, "split_train"))
    weak = pl.col("_k") < pl.when(pl.col("label") == 1).then(k[1]).otherwise(k[0])
    part = pl.when(weak).then(pl.lit("train_weak")).otherwise(pl.lit("train_transfer"))
    return ranked.select("id", part.alias("part")).sort("id")
