"""Exact reproducibility on CPU: `dvc repro -f` in a second copy of the lab gives byte-identical results.

The session's small lab (`lab.tiny_lab`: sst2, minilm_l3 -> minilm_l6, one seed) is reproduced once;
a full copy of it (a second machine, or a fresh clone with the committed dvc.lock) is then forced to
recompute every stage. Its metrics files must be byte-identical and every output hash in dvc.lock,
the metrics' included, must equal the first run's. This holds on CPU because the stages fix their
thread counts, use deterministic torch algorithms and seeded generators only (docs/reproduce-and-compare.md).
"""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from lab import TARGET, clone_lab, dvc, stale, tiny_lab

pytestmark = pytest.mark.integration


def output_hashes(lab: Path) -> dict[str, str]:
    """{output path: md5} of every stage output recorded in the lab's dvc.lock."""
    lock = yaml.safe_load((lab / "dvc.lock").read_text())
    return {out["path"]: out["md5"] for stage in lock["stages"].values() for out in stage.get("outs", [])}


def test_forced_rerun_is_byte_identical(tmp_path: Path, tmp_path_factory: pytest.TempPathFactory,
                                        data_dir: Path) -> None:
    first = tiny_lab(tmp_path_factory.getbasetemp(), data_dir)
    second = clone_lab(first, tmp_path / "second")
    out = dvc(second, "repro", "-f", TARGET).stdout
    assert out.count("Running stage") >= 8  # every stage recomputed, none restored from a cache
    metrics = sorted(p.relative_to(first) for p in (first / "metrics").glob("*.json"))
    assert Path("metrics/accuracy.json") in metrics and Path("metrics/pgr.json") in metrics
    for name in metrics:
        assert (second / name).read_bytes() == (first / name).read_bytes(), name
    hashes, again = output_hashes(first), output_hashes(second)
    assert {p for p in hashes if p.startswith("metrics/")} >= {"metrics/accuracy.json", "metrics/pgr.json"}
    differ = sorted(p for p in hashes if hashes[p] != again.get(p))
    assert not differ, f"outputs whose hash changed on a forced rerun: {differ}"
    assert stale(first, TARGET) == {}
