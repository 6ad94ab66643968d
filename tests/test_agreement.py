"""Student-supervisor agreement tables from hand-made predictions, and parameter counts from configs."""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest
from transformers import BertConfig, BertModel

from w2s.agreement import agreement_metrics, agreement_table, count_parameters, markdown_table, with_sizes
from w2s.errors import InputError

LABELS = np.array([1, 1, 1, 1, 0, 0, 0, 0])


def run(kind: str, p1: list[float], seed: int = 0, **keys: str) -> pl.DataFrame:
    return pl.DataFrame({"id": np.arange(8), "part": "test", "label": LABELS, "p1": p1}).with_columns(
        pl.lit(kind).alias("kind"), pl.lit("t").alias("task"), pl.lit(seed).alias("seed"),
        *[pl.lit(v).alias(k) for k, v in keys.items()])


# Supervisor: right on rows 0-5, wrong on rows 6-7 (predicts 1 where the label is 0).
SUPERVISOR = [0.9, 0.8, 0.7, 0.6, 0.2, 0.1, 0.9, 0.8]
# Student: agrees on rows 0, 1, 2 (right) and 6 (wrong); disagrees on 3, 4, 5 (right) and 7 (wrong).
STUDENT = [0.9, 0.6, 0.51, 0.4, 0.7, 0.6, 0.7, 0.3]


def preds(student: list[float] = STUDENT) -> pl.DataFrame:
    return pl.concat([run("gt", SUPERVISOR, model="s"), run("gt", SUPERVISOR, model="b"),
                      run("w2s", student, weak="s", strong="b", method="xent")], how="diagonal")


def test_hand_computed_agreement() -> None:
    table = agreement_table(preds())
    values = {r["metric"]: (r["value"], r["n"]) for r in table.iter_rows(named=True)}
    assert values == {"agreement": (pytest.approx(4 / 8), 8),
                      "agreement_supervisor_correct": (pytest.approx(3 / 6), 6),
                      "agreement_supervisor_wrong": (pytest.approx(1 / 2), 2)}
    assert table.columns == ["task", "weak", "strong", "method", "seed", "metric", "value", "n"]


def test_identical_student_agrees_everywhere() -> None:
    table = agreement_table(preds(SUPERVISOR))
    assert table["value"].to_list() == [1.0, 1.0, 1.0]


def test_empty_subset_is_null() -> None:
    labels_right = [0.9, 0.8, 0.7, 0.6, 0.2, 0.1, 0.3, 0.2]  # a supervisor never wrong
    frames = [run("gt", labels_right, model="s"), run("w2s", STUDENT, weak="s", strong="b", method="xent")]
    table = agreement_table(pl.concat(frames, how="diagonal"))
    wrong = table.filter(pl.col("metric") == "agreement_supervisor_wrong").row(0, named=True)
    assert wrong["value"] is None and wrong["n"] == 0


def test_sizes_metrics_and_table() -> None:
    table = with_sizes(agreement_table(preds()), {"s": 1_000_000, "b": 5_000_000})
    assert table["strong_params"].unique().to_list() == [5_000_000]
    metrics = agreement_metrics(table)
    assert metrics["t/s-to-b/xent/agreement_supervisor_wrong"] == pytest.approx(0.5)
    assert metrics["n_params/b"] == 5_000_000
    header, rule, row = markdown_table(table).splitlines()
    assert [c.strip() for c in row.strip("|").split("|")] == ["t", "s -> b", "5.0M", "xent", "0.500", "0.500", "0.500"]
    assert header.startswith("| task ") and set(rule) == {"|", "-"}


def test_mean_over_seeds() -> None:
    frames = [preds(), run("gt", SUPERVISOR, seed=1, model="s"),
              run("w2s", SUPERVISOR, seed=1, weak="s", strong="b", method="xent")]
    metrics = agreement_metrics(with_sizes(agreement_table(pl.concat(frames, how="diagonal")), {"s": 1, "b": 2}))
    assert metrics["t/s-to-b/xent/agreement"] == pytest.approx((0.5 + 1.0) / 2)


def test_missing_supervisor_run_is_named() -> None:
    frames = [run("w2s", STUDENT, weak="s", strong="b", method="xent")]
    with pytest.raises(InputError, match="t/s-to-b/xent/seed0: the supervisor's gt run lacks 8 of its 8"):
        agreement_table(pl.concat(frames, how="diagonal"))


def test_missing_size_is_named() -> None:
    with pytest.raises(InputError, match="no parameter count for model 'b'"):
        with_sizes(agreement_table(preds()), {"s": 1})


def test_count_parameters_matches_a_loaded_model(tmp_path) -> None:
    config = BertConfig(vocab_size=99, hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                        intermediate_size=37, max_position_embeddings=64)
    config.save_pretrained(tmp_path)
    expected = sum(p.numel() for p in BertModel(config).parameters())
    assert count_parameters(str(tmp_path)) == expected


def test_count_parameters_unknown_model(tmp_path) -> None:
    with pytest.raises(InputError, match="cannot read its config"):
        count_parameters(str(tmp_path / "nope"))
