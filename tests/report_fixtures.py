"""Hand-made analysis tables in the schemas the stages write (analyze, agreement, overfitting,
bootstrap_report), with numbers chosen so every figure has something to draw: two tasks, a three-model
ladder, two methods, two seeds."""

from __future__ import annotations

from pathlib import Path

import polars as pl

LADDER = ["small", "medium", "large"]
SIZES = {"small": 17_000_000, "medium": 22_000_000, "large": 109_000_000}
PAIRS = [("small", "medium"), ("small", "large"), ("medium", "large")]
METHODS = ["xent", "logconf"]
TASKS = ["sst2", "sciq"]
SEEDS = [0, 1]
GT_ACC = {"small": 0.70, "medium": 0.75, "large": 0.85}


def runs() -> pl.DataFrame:
    rows = []
    for task in TASKS:
        for seed in SEEDS:
            for m in LADDER:
                rows.append({"kind": "gt", "task": task, "model": m, "weak": None, "strong": None, "method": None,
                             "seed": seed, "accuracy": GT_ACC[m] + 0.01 * seed, "auroc": GT_ACC[m] + 0.05,
                             "n_test": 100})
            for w, s in PAIRS:
                for k, method in enumerate(METHODS):
                    acc = GT_ACC[w] + (0.4 + 0.2 * k) * (GT_ACC[s] - GT_ACC[w]) + 0.01 * seed
                    rows.append({"kind": "w2s", "task": task, "model": None, "weak": w, "strong": s, "method": method,
                                 "seed": seed, "accuracy": acc, "auroc": acc + 0.05, "n_test": 100})
    return pl.DataFrame(rows)


def pgr_summary() -> pl.DataFrame:
    rows = []
    for task in TASKS:
        for w, s in PAIRS:
            for k, method in enumerate(METHODS):
                pgr = 0.4 + 0.2 * k
                row = {"task": task, "weak": w, "strong": s, "method": method, "n_seeds": 2,
                       "weak_accuracy": GT_ACC[w], "ceiling_accuracy": GT_ACC[s],
                       "w2s_accuracy": GT_ACC[w] + pgr * (GT_ACC[s] - GT_ACC[w])}
                for score in ("accuracy", "auroc"):
                    row |= {f"pgr_{score}": pgr, f"pgr_{score}_low": pgr - 0.1, f"pgr_{score}_high": pgr + 0.1,
                            f"pgr_{score}_n": 2}
                rows.append(row)
    return pl.DataFrame(rows)


def agreement() -> pl.DataFrame:
    rows = []
    for task in TASKS:
        for w, s in PAIRS:
            for method in METHODS:
                for seed in SEEDS:
                    for metric, value in (("agreement", 0.85), ("agreement_supervisor_correct", 0.95),
                                          ("agreement_supervisor_wrong", 0.6 - SIZES[s] / 1e9)):
                        rows.append({"task": task, "weak": w, "strong": s, "method": method, "seed": seed,
                                     "weak_params": SIZES[w], "strong_params": SIZES[s], "metric": metric,
                                     "value": value, "n": 100})
    return pl.DataFrame(rows)


def curves() -> pl.DataFrame:
    rows = []
    for task in TASKS:
        for w, s in PAIRS:
            for method in METHODS:
                for seed in SEEDS:
                    for step in range(10, 110, 10):
                        acc = 0.7 + 0.1 * min(step, 50) / 50 - 0.0005 * max(step - 50, 0)
                        rows.append({"kind": "w2s", "task": task, "model": None, "weak": w, "strong": s,
                                     "method": method, "seed": seed, "step": step, "epoch": step / 10,
                                     "metric": "accuracy", "value": acc})
    return pl.DataFrame(rows)


def overfitting() -> pl.DataFrame:
    rows = []
    for task in TASKS:
        for w, s in PAIRS:
            for method in METHODS:
                for seed in SEEDS:
                    for metric, value in (("pgr_final", 0.5), ("pgr_best", 0.7), ("pgr_early_stop", 0.6),
                                          ("final_accuracy", 0.775), ("best_test_accuracy_peek", 0.8)):
                        rows.append({"kind": "w2s", "task": task, "model": None, "weak": w, "strong": s,
                                     "method": method, "seed": seed, "metric": metric, "value": value, "reason": None})
    return pl.DataFrame(rows)


def bootstrap() -> pl.DataFrame:
    rows = []
    for task in TASKS:
        for seed in SEEDS:
            for route, acc in (("chain", 0.8), ("direct", 0.78)):
                rows.append({"task": task, "chain": "small>medium>large", "seed": seed, "route": route,
                             "method": "xent", "accuracy": acc + 0.01 * seed, "auroc": acc, "weak_accuracy": 0.7,
                             "ceiling_accuracy": 0.85, "n_hops": 2 if route == "chain" else 1})
    return pl.DataFrame(rows)


def saliency() -> pl.DataFrame:
    conditions = {"probe_weak": 0.72, "probe_gt": 0.8, "finetune_weak": 0.78, "finetune_weak_probe_gt": 0.83,
                  "finetune_gt": 0.85}
    return pl.DataFrame([{"task": task, "model": "large", "weak": "small", "seed": 0, "condition": c,
                          "metric": "accuracy", "value": v, "n_train": 100, "n_test": 100}
                         for task in TASKS for c, v in conditions.items()])


def write_tables(root: Path, with_saliency: bool = True) -> list[Path]:
    """The tables in their stage folders under `root`; returns the folders (as the report stage gets them)."""
    layout = {"analysis": {"runs": runs(), "pgr_summary": pgr_summary()}, "agreement": {"agreement": agreement()},
              "overfitting": {"curves": curves(), "overfitting": overfitting()},
              "bootstrap": {"bootstrap": bootstrap()}}
    if with_saliency:
        layout["saliency_summary"] = {"saliency": saliency()}
    dirs = []
    for folder, tables in layout.items():
        (root / folder).mkdir(parents=True, exist_ok=True)
        for name, table in tables.items():
            table.write_parquet(root / folder / f"{name}.parquet")
        dirs.append(root / folder)
    return dirs


def tables() -> dict[str, pl.DataFrame]:
    return {"runs": runs(), "pgr_summary": pgr_summary(), "agreement": agreement(), "curves": curves(),
            "overfitting": overfitting(), "bootstrap": bootstrap(), "saliency": saliency()}
