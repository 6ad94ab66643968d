"""What a cell reads and the manifest its `*_inputs` stage writes (w2s/inputs.py), pairs written
`<weak>-to-<strong>` (w2s/config.py) and the per-seed saliency cell (w2s/saliency.py)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from w2s.config import Pair, parse_params
from w2s.errors import InputError
from w2s.inputs import bootstrap_reads, manifest, sha256, w2s_reads
from w2s.saliency import saliency_cell, saliency_reads

ROOT = Path(__file__).resolve().parents[1]


def params(**changes: Any) -> Any:
    raw = yaml.safe_load((ROOT / "params.yaml").read_text())
    raw.update(changes)
    return parse_params(raw)


def test_pairs_are_written_weak_to_strong() -> None:
    p = params()
    assert [q.name for q in p.pairs] == ["minilm_l3-to-mpnet", "minilm_l6-to-mpnet"]
    assert p.pairs[0] == Pair("minilm_l3", "mpnet")
    assert params(pairs=[{"weak": "minilm_l3", "strong": "mpnet"}]).pairs == [Pair("minilm_l3", "mpnet")]
    for bad in ("minilm_l3", "minilm_l3-to-", "minilm_l3-to-minilm_l6-to-mpnet"):
        with pytest.raises(InputError, match=r"pairs\[0\]: .* must be two model keys joined by '-to-'"):
            params(pairs=[bad])
    with pytest.raises(InputError, match="does not go up the ladder"):
        params(pairs=["mpnet-to-minilm_l3"])


def test_a_w2s_cell_reads_its_supervisor_run_and_its_students_features(tmp_path: Path) -> None:
    p = params()
    assert w2s_reads(p, "minilm_l6-to-mpnet", 2, "gt/sst2", "feat/sst2") == {
        "weak": Path("gt/sst2/minilm_l6/seed2"), "features:mpnet": Path("feat/sst2/mpnet.safetensors")}
    finetune = params(train={**yaml.safe_load((ROOT / "params.yaml").read_text())["train"], "mode": "finetune"})
    assert w2s_reads(finetune, "minilm_l6-to-mpnet", 2, "gt", "feat") == {"weak": Path("gt/minilm_l6/seed2")}


def test_a_bootstrap_cell_reads_its_ends_runs_and_its_students_features() -> None:
    reads = bootstrap_reads(params(), "minilm_l3-to-minilm_l6-to-mpnet", 1, "gt", "feat")
    assert reads == {"weak": Path("gt/minilm_l3/seed1"), "ceiling": Path("gt/mpnet/seed1"),
                     "features:minilm_l6": Path("feat/minilm_l6.safetensors"),
                     "features:mpnet": Path("feat/mpnet.safetensors")}


def test_saliency_is_one_cell_per_seed() -> None:
    saliency = yaml.safe_load((ROOT / "params.yaml").read_text())["saliency"]
    everyone = params(saliency={**saliency, "model": None, "weak": None, "seeds": None})
    assert saliency_cell(everyone, 7) == ("mpnet", "minilm_l3", None)  # nulls: the ladder's ends, any seed
    assert saliency_reads(everyone, 7, "gt") == {"weak": Path("gt/minilm_l3/seed7")}
    some = params(saliency={**saliency, "seeds": [1]})
    assert saliency_cell(some, 1)[2] is None
    assert saliency_cell(some, 0)[2] == "seed 0 is not in saliency.seeds [1]"
    assert saliency_reads(some, 0, "gt") == {}


def test_the_manifest_hashes_every_file_read_and_changes_with_any_of_them(tmp_path: Path) -> None:
    run = tmp_path / "gt/m/seed0"
    run.mkdir(parents=True)
    (run / "predictions.parquet").write_bytes(b"p")
    (run / "sub").mkdir()
    (run / "sub/history.json").write_bytes(b"h")
    (tmp_path / "f.safetensors").write_bytes(b"f")
    (tmp_path / "gt/m/seed1").mkdir()  # another seed's run: not read, not hashed
    (tmp_path / "gt/m/seed1/predictions.parquet").write_bytes(b"other")
    reads = {"weak": run, "features:m": tmp_path / "f.safetensors"}
    first = manifest(reads)
    assert list(first) == ["features:m", "weak"]
    assert list(first["weak"]) == [(run / "predictions.parquet").as_posix(), (run / "sub/history.json").as_posix()]
    assert first["features:m"] == {(tmp_path / "f.safetensors").as_posix(): sha256(tmp_path / "f.safetensors")}
    (tmp_path / "gt/m/seed2").mkdir()  # a new seed beside it: the manifest is unchanged
    (tmp_path / "gt/m/seed1/predictions.parquet").write_bytes(b"changed")
    assert manifest(reads) == first
    (run / "sub/history.json").write_bytes(b"h2")  # a file the cell reads: changed
    assert manifest(reads) != first
    with pytest.raises(InputError, match=r"gt/m/seed9: missing \(the weak input of this cell"):
        manifest({"weak": tmp_path / "gt/m/seed9"})
