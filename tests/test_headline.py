"""`w2s.headline`: the few numbers DVC shows, from hand-made per-cell tables (no run, no DVC)."""

from __future__ import annotations

from typing import Any

import pytest
import yaml
from lab import ROOT

from w2s.config import Params, parse_params
from w2s.errors import InputError
from w2s.headline import headline


def params() -> Params:
    raw = yaml.safe_load((ROOT / "params.yaml").read_text())
    raw.update(tasks=["sst2", "sciq"], ladder=["minilm_l3", "minilm_l6", "mpnet"], methods=["xent", "logconf"])
    return parse_params(raw)


def pooled(task: str, method: str, value: float | None, status: str) -> dict[str, Any]:
    name = f"{task}/pooled/{method}"
    return {f"{name}/pgr_accuracy": value, f"{name}/pgr_accuracy_status": status, f"{name}/pgr_accuracy_low": None,
            f"{name}/n_pairs": 2}


def tables() -> dict[str, dict[str, Any]]:
    return {
        "pgr": {**pooled("sst2", "xent", 0.6, "ok"), **pooled("sst2", "logconf", None, "gap_not_significant"),
                **pooled("sciq", "xent", 0.2, "too_few_seeds"), **pooled("sciq", "logconf", None, "no_gap"),
                "sst2/minilm_l3-to-mpnet/xent/pgr_accuracy": 0.9},  # a cell: not in the headline
        "accuracy": {"sst2/gt/mpnet/accuracy": 0.9, "sst2/gt/minilm_l3/accuracy": 0.7, "sciq/gt/mpnet/accuracy": 0.75},
        "agreement": {"sst2/a-to-b/xent/agreement_supervisor_wrong": 0.6,
                      "sciq/a-to-b/xent/agreement_supervisor_wrong": 0.4,
                      "sciq/a-to-b/logconf/agreement_supervisor_wrong": None,
                      "sciq/a-to-b/logconf/agreement": 0.9, "n_params/mpnet": 1e8},
        "bootstrap": {"sst2/a>b>c/chain/pgr_accuracy": 0.5, "sst2/a>b>c/direct/pgr_accuracy": 0.4,
                      "sciq/a>b>c/chain/pgr_accuracy": 0.3, "sciq/a>b>c/direct/pgr_accuracy": None},
        "overfitting": {"sst2/w2s/a-to-b/xent/pgr_early_stop": 0.7, "sst2/w2s/a-to-b/xent/pgr_final": 0.6,
                        "sst2/w2s/a-to-b/logconf/pgr_early_stop": 0.5, "sst2/w2s/a-to-b/logconf/pgr_final": 0.6,
                        "sst2/gt/a/early_stop_accuracy": None},
        "saliency": {},  # no saliency run
    }


def test_headline_figures() -> None:
    h = headline(tables(), params())
    assert set(h) == {"sst2", "sciq", "agreement", "bootstrap", "overfit", "saliency"}
    assert h["sst2"] == {"xent": 0.6, "logconf": "n.s.", "ceiling": 0.9}  # the strongest model's ceiling
    assert h["sciq"] == {"xent": 0.2, "logconf": "no gap", "ceiling": 0.75}  # one seed: the point estimate
    assert h["agreement"] == pytest.approx(0.5)  # mean of the cells' agreement where the supervisor is wrong
    assert h["bootstrap"] == pytest.approx(0.1)  # chain - direct where both are defined
    assert h["overfit"] == pytest.approx(0.0)  # (0.1 - 0.1) / 2
    assert h["saliency"] == "undefined"  # nothing to average: a word, visible in `dvc metrics diff`


def test_an_undefined_pgr_is_a_word_never_a_null() -> None:
    """DVC prints a null like a missing key ("-") and `dvc metrics show` drops it: every headline value is
    a number or a word."""
    t = tables()
    t["pgr"] |= pooled("sst2", "xent", None, "undefined")
    h = headline(t, params())
    assert h["sst2"]["xent"] == "undefined"
    values = [v for row in h.values() for v in (row.values() if isinstance(row, dict) else [row])]
    assert all(isinstance(v, float | int | str) for v in values)


@pytest.mark.parametrize(("change", "match"), [
    (lambda t: t["pgr"].pop("sciq/pooled/logconf/pgr_accuracy_status"),
     "metrics/pgr.json: no key 'sciq/pooled/logconf/pgr_accuracy_status'"),
    (lambda t: t["accuracy"].pop("sciq/gt/mpnet/accuracy"), "metrics/accuracy.json: no key 'sciq/gt/mpnet/accuracy'"),
    (lambda t: t.pop("bootstrap"), "headline: tables missing: metrics/bootstrap.json"),
])
def test_a_missing_table_or_key_names_it(change: Any, match: str) -> None:
    t = tables()
    change(t)
    with pytest.raises(InputError, match=match):
        headline(t, params())


def test_a_task_named_like_a_figure_is_refused() -> None:
    p = params()
    p.tasks.append("saliency")  # a file task could be named so: its row would overwrite the figure
    with pytest.raises(InputError, match="tasks: saliency: a task may not be named like a headline figure"):
        headline(tables(), p)
