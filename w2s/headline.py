"""The headline: the few numbers `dvc metrics show`, `dvc metrics diff` and `dvc exp show` print.

DVC prints one column per metric key, so the project declares a single small metrics file,
`metrics/headline.json`, and keeps every per-cell value in committed tables beside it (`metrics/*.json`,
outputs with `cache: false`, read by `python -m w2s.verify`). The headline is computed from those tables
only (no predictions), by `headline`:

    <task>.<method>   PGR on accuracy of the method, all pairs of the task pooled (`w2s.analysis.pooled_pgr`:
                      sum of gains / sum of gaps over the pairs, ratio of means over seeds). Where it is
                      undefined, a word instead of a number, so the change shows in `dvc metrics diff`
                      (DVC prints a null as "-", like a missing key, and drops it from `dvc metrics show`):
                      "n.s." (the gap's interval reaches 0), "no gap" (ceiling <= weak), "undefined"
                      (the score is undefined). Its interval and n: `<task>/pooled/<method>/...` in pgr.json.
    <task>.ceiling    test accuracy of the ladder's strongest model trained on ground truth (mean over seeds)
    agreement         student-supervisor agreement where the supervisor is wrong, mean over every cell
                      (1: the students copy their supervisors' mistakes)
    bootstrap         PGR of each bootstrapping chain minus its direct run's, mean over tasks and chains
    overfit           PGR the final student lost to overfitting: the early-stopped student's PGR (stopped on
                      held-out weak labels) minus the final one's, mean over every cell
    saliency          accuracy of a ground-truth probe on the model finetuned on weak labels minus that model's
                      own accuracy (finetune_weak_probe_gt - finetune_weak), mean over tasks: > 0 when the
                      concept stays linearly salient after weak finetuning

A figure with nothing to average (e.g. every chain's PGR undefined) is the word "undefined".
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from w2s.config import Params
from w2s.errors import InputError

#: the word shown for a pooled PGR that is not a number, by `pgr_interval` status
STATUS_WORDS = {"gap_not_significant": "n.s.", "no_gap": "no gap", "too_few_seeds": "no gap", "undefined": "undefined"}
UNDEFINED = "undefined"
TABLES = ("pgr", "accuracy", "agreement", "bootstrap", "overfitting", "saliency")
FIGURES = ("agreement", "bootstrap", "overfit", "saliency")

Value = float | int | str


def _get(table: Mapping[str, Any], name: str, key: str) -> Any:
    if key not in table:
        raise InputError(f"metrics/{name}.json: no key {key!r} (rerun the stage that writes it: `dvc repro`)")
    return table[key]


def _mean(values: list[float]) -> Value:
    return sum(values) / len(values) if values else UNDEFINED


def _differences(table: Mapping[str, Any], minuend: str, subtrahend: str) -> list[float]:
    """`<prefix><minuend>` - `<prefix><subtrahend>` for every prefix whose two keys both hold numbers."""
    out = []
    for key, value in table.items():
        other = table.get(key.removesuffix(minuend) + subtrahend) if key.endswith(minuend) else None
        if isinstance(value, int | float) and isinstance(other, int | float):
            out.append(float(value) - float(other))
    return out


def pooled_pgr_value(pgr: Mapping[str, Any], task: str, method: str) -> Value:
    """The task's pooled PGR of `method` from pgr.json, or the word for its status."""
    name = f"{task}/pooled/{method}"
    value, status = _get(pgr, "pgr", f"{name}/pgr_accuracy"), _get(pgr, "pgr", f"{name}/pgr_accuracy_status")
    if isinstance(value, int | float):
        return float(value)
    return STATUS_WORDS.get(str(status), UNDEFINED)


def headline(tables: Mapping[str, Mapping[str, Any]], params: Params) -> dict[str, Any]:
    """The headline (module docstring) from the per-cell tables, `name -> table` for every name of `TABLES`
    (metrics/<name>.json), for the tasks, methods and ladder of `params`."""
    missing = [name for name in TABLES if name not in tables]
    if missing:
        raise InputError(f"headline: tables missing: {', '.join(f'metrics/{m}.json' for m in missing)}")
    clash = sorted(set(params.tasks) & set(FIGURES))
    if clash:
        raise InputError(f"tasks: {', '.join(clash)}: a task may not be named like a headline figure "
                         f"({', '.join(FIGURES)}); rename the file task")
    out: dict[str, Any] = {}
    strongest = params.ladder[-1]
    for task in params.tasks:
        row: dict[str, Value] = {m: pooled_pgr_value(tables["pgr"], task, m) for m in params.methods}
        row["ceiling"] = _get(tables["accuracy"], "accuracy", f"{task}/gt/{strongest}/accuracy")
        out[task] = row
    agreement = [float(v) for k, v in tables["agreement"].items()
                 if k.endswith("/agreement_supervisor_wrong") and isinstance(v, int | float)]
    out["agreement"] = _mean(agreement)
    out["bootstrap"] = _mean(_differences(tables["bootstrap"], "/chain/pgr_accuracy", "/direct/pgr_accuracy"))
    out["overfit"] = _mean(_differences(tables["overfitting"], "/pgr_early_stop", "/pgr_final"))
    out["saliency"] = _mean(_differences(tables["saliency"], "/finetune_weak_probe_gt/accuracy",
                                         "/finetune_weak/accuracy"))
    return out
