"""Model and dataset versions are inputs (issue 13 point 2): a hub model can be pinned to a revision in
params, the commit a stage loads is the one the revision names in the Hugging Face cache, and a revision
that cannot be found is one line naming the id and the revision (exit 2), before any model is read.

A synthetic cache (the hub's folder layout: refs/<branch> holding a commit, snapshots/<commit>/) stands in
for the real one here; tests/integration/test_revisions_real.py uses the real offline cache."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import huggingface_hub.constants
import polars as pl
import pytest
import yaml

from w2s import cli
from w2s.errors import InputError
from w2s.models import resolve_revision

ROOT = Path(__file__).resolve().parents[1]
HUB_ID = "example-org/tiny-encoder"


@pytest.fixture
def hub_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A cache holding HUB_ID at commit `c0ffee` (branch main) and `beef01` (tag v1), offline."""
    cache = tmp_path / "hub"
    repo = cache / "models--example-org--tiny-encoder"
    for commit in ("c0ffee", "beef01"):
        (repo / "snapshots" / commit).mkdir(parents=True)
        (repo / "snapshots" / commit / "config.json").write_text("{}")
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text("c0ffee")
    (repo / "refs" / "v1").write_text("beef01")
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_CACHE", str(cache))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    return cache


def test_a_revision_resolves_to_the_commit_that_is_loaded(hub_cache: Path) -> None:
    assert resolve_revision(HUB_ID) == "c0ffee"  # unpinned: the default branch's commit, recorded
    assert resolve_revision(HUB_ID, "main") == "c0ffee"
    assert resolve_revision(HUB_ID, "v1") == "beef01"  # a tag
    assert resolve_revision(HUB_ID, "beef01") == "beef01"  # a commit
    assert resolve_revision(str(hub_cache)) is None  # a local folder has no hub revision


def test_a_missing_revision_is_one_line_naming_id_and_revision(hub_cache: Path) -> None:
    with pytest.raises(InputError) as err:
        resolve_revision(HUB_ID, "v2")
    assert str(err.value).startswith(f"model '{HUB_ID}' revision 'v2': not in the local Hugging Face cache")
    assert "\n" not in str(err.value)


def test_the_embed_stage_stops_on_a_missing_revision(hub_cache: Path, tmp_path: Path,
                                                     capsys: pytest.CaptureFixture[str]) -> None:
    """Exit 2, one `error:` line naming the id and revision, no features or metrics written."""
    raw = yaml.safe_load((ROOT / "params.yaml").read_text())
    raw["models"]["minilm_l3"] = {"id": HUB_ID, "revision": "no_such_revision"}
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(raw))
    pool = tmp_path / "pool.parquet"
    pool_rows = {"id": [0, 1], "text": ["good", "bad"], "label": [1, 0], "part": ["train", "test"]}
    pl.DataFrame(pool_rows).write_parquet(pool)
    spec = importlib.util.spec_from_file_location("w2s_stage_embed", ROOT / "stages" / "embed.py")
    assert spec is not None and spec.loader is not None
    stage = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(stage)
    out, metrics = tmp_path / "f.safetensors", tmp_path / "m.json"
    code = cli.run(stage.main, ["--params", str(tmp_path / "params.yaml"), "--task", "sst2", "--model", "minilm_l3",
                                "--pool", str(pool), "--out", str(out), "--metrics", str(metrics)])
    err = capsys.readouterr().err.strip()
    assert code == 2 and err == (f"error: model '{HUB_ID}' revision 'no_such_revision': not in the local Hugging "
                                 "Face cache and the hub is offline (HF_HUB_OFFLINE=1); pin a cached revision or "
                                 "build the cache"), err
    assert not out.exists() and not metrics.exists()


def test_a_hub_task_reads_its_pinned_dataset_revision(monkeypatch: pytest.MonkeyPatch) -> None:
    """`data.task_options.<task>.revision` reaches `load_dataset`, and a failure names id and revision."""
    import datasets

    from w2s.tasks import load_task

    calls: list[dict[str, str]] = []

    def failing(hub_id: str, **kwargs: str) -> None:
        calls.append(kwargs)
        raise FileNotFoundError("Revision 'bogus' does not exist for dataset")

    monkeypatch.setattr(datasets, "load_dataset", failing)
    with pytest.raises(InputError) as err:
        load_task("sst2", source="hub", local_dir=None, seed=0, revision="bogus")
    assert calls == [{"revision": "bogus"}]
    assert str(err.value).startswith("task sst2: cannot load hub dataset stanfordnlp/sst2 revision 'bogus'"), err.value
