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
                    gap = GT_ACC[s] - GT_ACC[w]
                    row |= {f"pgr_{score}": pgr, f"pgr_{score}_low": pgr - 0.1, f"pgr_{score}_high": pgr + 0.1,
                            f"gap_{score}": gap, f"gap_{score}_low": gap - 0.03, f"gap_{score}_high": gap + 0.03,
                            f"pgr_{score}_status": "ok", f"pgr_{score}_reason": None}
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


def overfitting_pgr() -> pl.DataFrame:
    """The overfitting stage's cell table: ratio-of-means PGR per checkpoint."""
    return pl.DataFrame([{"task": task, "weak": w, "strong": s, "method": method, "n_seeds": 2, "checkpoint": c,
                          "student_accuracy": 0.78, "pgr": v, "reason": None}
                         for task in TASKS for w, s in PAIRS for method in METHODS
                         for c, v in (("pgr_final", 0.5), ("pgr_best", 0.7), ("pgr_early_stop", 0.6))])


def bootstrap_summary() -> pl.DataFrame:
    """bootstrap_report's summary table: accuracy per route with its interval over seeds and test rows."""
    return pl.DataFrame([{"task": task, "chain": "small>medium>large", "route": route, "method": "xent",
                          "n_seeds": 2, "n_test": 100, "accuracy": acc, "accuracy_low": acc - 0.02,
                          "accuracy_high": acc + 0.02, "weak_accuracy": 0.7, "ceiling_accuracy": 0.85}
                         for task in TASKS for route, acc in (("chain", 0.805), ("direct", 0.785))])


def sensitivity(task: str) -> pl.DataFrame:
    """The sensitivity stage's table: PGR per cell at each C (undefined at the weakest regularisation)."""
    rows = []
    for w, s in PAIRS:
        for k, method in enumerate(METHODS):
            for c in (1e-3, 1e-1, 10.0):
                pgr = None if c == 10.0 and k == 0 else 0.3 + 0.2 * k + 0.1 * (c < 1)
                rows.append({"task": task, "weak": w, "strong": s, "method": method, "c": c, "n_seeds": 2,
                             "n_test": 100, "pgr_accuracy": pgr,
                             "pgr_accuracy_low": None if pgr is None else pgr - 0.1,
                             "pgr_accuracy_high": None if pgr is None else pgr + 0.1,
                             "pgr_accuracy_status": "gap_not_significant" if pgr is None else "ok"})
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
              "overfitting": {"curves": curves(), "overfitting": overfitting(), "overfitting_pgr": overfitting_pgr()},
              "bootstrap": {"bootstrap": bootstrap(), "summary": bootstrap_summary()},
              "sensitivity": {f"sensitivity_{t}": sensitivity(t) for t in TASKS}}
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
            "overfitting": overfitting(), "overfitting_pgr": overfitting_pgr(), "bootstrap": bootstrap(),
            "bootstrap_summary": bootstrap_summary(), "saliency": saliency(),
            **{f"sensitivity_{t}": sensitivity(t) for t in TASKS}}
