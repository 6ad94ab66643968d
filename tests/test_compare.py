"""The comparison's pieces on the JSON shapes `dvc params diff --json`, `dvc metrics diff --all --json` and
metrics/pgr.json have (tests/integration/test_compare_real.py runs them on a real git + DVC project)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from w2s import compare as C
from w2s.errors import InputError
from w2s.figures import Note


def pgr(x: float, logconf: float | None) -> dict:
    cell = {"pgr_accuracy": x, "pgr_accuracy_low": x - 0.1, "pgr_accuracy_high": x + 0.1, "n_seeds": 3}
    table = {f"sst2/{p}/xent/{k}": v for p in ("l3-to-mpnet", "pooled") for k, v in cell.items()}
    table |= {"sst2/pooled/xent/pgr_accuracy_status": "ok", "sst2/l3-to-mpnet/logconf/pgr_accuracy": logconf,
              "sst2/l3-to-mpnet/xent/gap_accuracy": 0.2}
    return table


def data(old_pgr: dict, new_pgr: dict) -> dict:
    params = {"params.yaml": {"seeds": {"old": "[0, 1]", "new": "[0, 1, 2]"}, "train.lr": {"old": None, "new": 1e-06}},
              "studies/decoder/params.yaml": {k: {"old": 1, "new": None} for k in "abcd"}}
    metrics = {"metrics/headline.json": {"sst2.xent": {"old": 0.5, "new": 0.75, "diff": 0.25},
                                         "sst2.logconf": {"old": 0.5, "new": "n.s."}},
               "metrics/accuracy.json": {"x": {"old": 1, "new": None}}}
    side = {"spec": "HEAD~1", "rev": "a" * 40, "kind": "commit", "date": "2026-12-01T10:00:00+00:00",
            "subject": "a | b", "label": "HEAD~1 (aaaaaaa)"}
    return {"old": side, "new": {**side, "spec": "workspace", "rev": "workspace", "kind": "workspace",
                                 "label": "workspace", "date": "", "subject": ""},
            "params": C.params_rows(params), "headline": C.headline_rows(metrics, old_pgr, new_pgr),
            "cells": C.cell_rows(old_pgr, new_pgr)}


def test_headline_rows_carry_the_pooled_intervals_and_the_change() -> None:
    rows = {r["key"]: r for r in data(pgr(0.5, 0.5), pgr(0.75, None))["headline"]}
    assert set(rows) == {"sst2.xent", "sst2.logconf"}  # older revisions' other metric files are the cell rows
    assert rows["sst2.xent"] == pytest.approx({"key": "sst2.xent", "old": 0.5, "new": 0.75, "change": 0.25,
                                               "old_low": 0.4, "old_high": 0.6, "new_low": 0.65, "new_high": 0.85})
    assert rows["sst2.logconf"]["change"] is None and "old_low" not in rows["sst2.logconf"]  # a word, no interval


def test_cell_rows_pair_both_sides_pooled_last() -> None:
    rows = data(pgr(0.5, 0.5), pgr(0.75, None))["cells"]
    assert [(r["pair"], r["method"]) for r in rows] == [("l3-to-mpnet", "logconf"), ("l3-to-mpnet", "xent"),
                                                         ("pooled", "xent")]
    logconf, xent, pooled = rows
    assert (logconf["old_pgr"], logconf["new_pgr"], logconf["change"]) == (0.5, None, None)
    assert xent["change"] == pytest.approx(0.25) and xent["new_n_seeds"] == 3
    assert pooled["new_status"] == "ok" and pooled["old_low"] == pytest.approx(0.4)
    one_side = C.cell_rows({}, pgr(0.75, None))
    assert all(not r["old_present"] and r["change"] is None for r in one_side) and len(one_side) == 3
    assert "| sst2 | l3 → mpnet | xent | — | 0.750 [0.650, 0.850], n=3 | — |" in C.cells_markdown(
        {"old": {"label": "A"}, "new": {"label": "B"}, "cells": one_side})


def test_markdown_tables() -> None:
    d = data(pgr(0.5, 0.5), pgr(0.75, None))
    params = C.params_markdown(d)
    assert "| params.yaml | `seeds` | [0, 1] | [0, 1, 2] |" in params and "| — | 1e-06 |" in params
    assert "| studies/decoder/params.yaml | all 4 params | set | — (not a params file of this side) |" in params
    assert "| `sst2.xent` | 0.500 [0.400, 0.600] | 0.750 [0.650, 0.850] | +0.250 |" in C.headline_markdown(d)
    assert "| `sst2.logconf` | 0.500 | n.s. | — |" in C.headline_markdown(d)  # no pooled logconf: no interval
    cells = C.cells_markdown(d)
    assert "| sst2 | l3 → mpnet | xent | 0.500 [0.400, 0.600], n=3 | 0.750 [0.650, 0.850], n=3 | +0.250 |" in cells
    assert "| sst2 | all pairs pooled | xent |" in cells
    assert "| sst2 | l3 → mpnet | logconf | 0.500 | undefined | — |" in cells  # in B's table, with no PGR
    assert "a \\| b" in C.sides_markdown(d)  # a subject's pipe does not split the table
    empty = {**d, "params": [], "headline": [], "cells": []}
    assert C.params_markdown(empty).startswith("No param differs")
    assert "metrics/headline.json" in C.headline_markdown(empty) and "metrics/pgr.json" in C.cells_markdown(empty)


def test_findings_are_computed_from_the_gathered_data() -> None:
    d = data(pgr(0.5, 0.5), pgr(0.75, None))
    assert C.finding_params(d) == ("6 params differ, in 2 files (params.yaml, studies/decoder/params.yaml): "
                                   "`seeds`, `train.lr`, `a` and 3 more.")
    assert C.finding_headline(d) == ("2 of 2 headline metrics changed; the largest change is `sst2.xent`, +0.250 "
                                     "(A 0.500 [0.400, 0.600], B 0.750 [0.650, 0.850])")+"."
    assert C.finding_cells(d) == ("2 cells have a PGR on both sides; in 2 of them B's PGR lies outside A's 95% "
                                  "interval, most of all sst2 l3 → mpnet xent (+0.250).")
    same = data(pgr(0.5, 0.5), pgr(0.55, 0.5))
    assert C.finding_cells(same) == "3 cells have a PGR on both sides; in each, B's PGR lies within A's 95% interval."
    assert C.finding_headline({**d, "headline": [{**r, "old": None} for r in d["headline"]]}).startswith(
        "A (HEAD~1 (aaaaaaa)) has no `metrics/headline.json`")
    assert C.finding_cells({**d, "cells": C.cell_rows({}, pgr(0.75, None))}) == (
        "0 cells have a PGR on both sides; 3 cells exist on one side only.")
    assert C.finding_params({**d, "params": []}) == "No param differs between the two sides."


def test_the_overlay_draws_both_sides_or_says_why_not() -> None:
    d = data(pgr(0.5, 0.5), pgr(0.75, None))
    spec = C.pgr_overlay(d).to_dict()
    assert {(p["side"], p["pair"], p["method"]) for p in spec["data"]["values"]} == {
        ("HEAD~1 (aaaaaaa)", "l3 → mpnet", "logconf"), ("HEAD~1 (aaaaaaa)", "l3 → mpnet", "xent"),
        ("HEAD~1 (aaaaaaa)", "all pairs pooled", "xent"), ("workspace", "l3 → mpnet", "xent"),
        ("workspace", "all pairs pooled", "xent")}
    assert "HEAD~1 (aaaaaaa) vs workspace" in json.dumps(spec["title"])
    assert isinstance(C.pgr_overlay({**d, "cells": C.cell_rows({}, {})}), Note)


def test_labels_and_tables_of_a_side(tmp_path: Path) -> None:
    assert C.Side("HEAD~1", "b" * 40, "commit").label == "HEAD~1 (bbbbbbb)"
    assert C.Side("bbbbbbb", "b" * 40, "commit").label == "bbbbbbb"
    assert C.Side("workspace", "workspace", "workspace").label == "workspace"
    ws = C.Side("workspace", "workspace", "workspace")
    assert C.table_at(tmp_path, ws) == {}  # never computed: no table, "—" in the report
    (tmp_path / "metrics").mkdir()
    (tmp_path / "metrics" / "pgr.json").write_text("[1]")
    with pytest.raises(InputError, match="workspace: metrics/pgr.json: holds a list"):
        C.table_at(tmp_path, ws)
    with pytest.raises(InputError, match="no comparison data"):
        C.load(tmp_path / "nothing.json")
