"""Every shipped study asks only for rows its tasks really have: each task's pool is built from the real
mirror ($W2S_TEST_DATA_DIR) at the study's sizes, per-task and shared alike."""

from __future__ import annotations

from functools import cache
from pathlib import Path

import polars as pl
import pytest
import yaml

from w2s.config import Params, parse_params
from w2s.splits import build_pool
from w2s.tasks import load_task

ROOT = Path(__file__).resolve().parents[1]
STUDIES = sorted((ROOT / "studies" / "gpu").glob("*.yaml"))


def study(path: Path) -> Params:
    return parse_params(yaml.safe_load(path.read_text()), str(path.relative_to(ROOT)))


@cache
def splits(data_dir: Path, task: str, seed: int, negatives: str | None) -> dict[str, pl.DataFrame]:
    return load_task(task, source="local", local_dir=str(data_dir), seed=seed, negatives=negatives)


@pytest.mark.parametrize("path", STUDIES, ids=[p.stem for p in STUDIES])
def test_study_sizes_fit_the_real_data(path: Path, data_dir: Path) -> None:
    p = study(path)
    assert p.data.source == "local"  # the machines that run these studies cannot reach the hub
    for task in p.tasks:
        loaded = splits(data_dir, task, p.prepare.seed, p.data.negatives(task))
        for n_train, n_test in {p.prepare.sizes(task), (p.prepare.n_train, p.prepare.n_test)}:
            pool = build_pool(loaded, n_train=n_train, n_test=n_test, seed=p.prepare.seed, task=task)
            assert pool.group_by("part").len().sort("part").rows() == [("test", n_test), ("train", n_train)]


def test_the_check_has_teeth(data_dir: Path) -> None:
    """The sizes the GPU studies used to ask for (20,000 + 2,000 rows) do not fit boolq."""
    from w2s.errors import InputError

    with pytest.raises(InputError, match="prepare.n_train=20000"):
        build_pool(splits(data_dir, "boolq", 0, None), n_train=20000, n_test=2000, seed=0, task="boolq")


# --- switching studies without overwriting params.yaml (issue 13 point 11) ---------------------------------


def compose(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, *overrides: str) -> dict:
    """What `dvc exp run -S <overrides>` writes to an experiment's params.yaml with Hydra enabled: DVC's own
    composition of conf/config.yaml (run from the repository root, as dvc is)."""
    from dvc.utils.hydra import compose_and_dump

    monkeypatch.chdir(ROOT)
    out = tmp_path / "params.yaml"
    compose_and_dump(out, str(ROOT / "conf"), None, "config", str(ROOT), list(overrides))
    return yaml.safe_load(out.read_text())


def test_every_study_is_an_option_of_the_study_group() -> None:
    options = {p.stem for p in (ROOT / "conf" / "study").glob("*.yaml")}
    assert options == {"default", *(p.stem for p in STUDIES)}


@pytest.mark.parametrize("path", STUDIES, ids=[p.stem for p in STUDIES])
def test_a_study_composes_to_its_file_and_is_valid(path: Path, tmp_path: Path,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    composed = compose(tmp_path, monkeypatch, f"study={path.stem}", "train.lr=0.25")
    p = parse_params(composed, f"study={path.stem}")
    expected = yaml.safe_load(path.read_text())
    expected["train"]["lr"] = 0.25
    assert composed == expected and p.train.lr == 0.25


def test_the_default_study_is_params_yaml(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    assert compose(tmp_path, monkeypatch) == yaml.safe_load((ROOT / "params.yaml").read_text())
    assert compose(tmp_path, monkeypatch, "tasks=[sst2]")["tasks"] == ["sst2"]
