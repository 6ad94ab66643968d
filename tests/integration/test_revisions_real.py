"""Model revisions against the real offline Hugging Face cache (issue 13 point 2): the `embed` stage
records the commit it loaded in its committed metrics file (metrics/truncation/<task>/<model>.json,
`cache: false`), so a model that changes upstream shows as a diff; a bogus revision stops with one line."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import polars as pl
import pytest
import yaml

from w2s import cli

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
HUB_ID = "sentence-transformers/paraphrase-MiniLM-L3-v2"


def cached_commit() -> str:
    """The commit the cache's `main` names (this machine's offline cache: `offline000...`)."""
    refs = Path.home() / ".cache/huggingface/hub/models--sentence-transformers--paraphrase-MiniLM-L3-v2/refs/main"
    return refs.read_text().strip()


def run_embed(tmp_path: Path, model: object) -> tuple[int, Path]:
    raw = yaml.safe_load((ROOT / "params.yaml").read_text())
    raw["models"]["minilm_l3"] = model
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(raw))
    pool = tmp_path / "pool.parquet"
    pl.DataFrame({"id": range(6), "text": ["a fine film", "dull", "great fun", "awful", "ok", "bad"],
                  "label": [1, 0, 1, 0, 1, 0], "part": ["train"] * 4 + ["test"] * 2}).write_parquet(pool)
    spec = importlib.util.spec_from_file_location("w2s_stage_embed", ROOT / "stages" / "embed.py")
    assert spec is not None and spec.loader is not None
    stage = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(stage)
    metrics = tmp_path / "metrics.json"
    code = cli.run(stage.main, ["--params", str(tmp_path / "params.yaml"), "--task", "sst2", "--model", "minilm_l3",
                                "--pool", str(pool), "--out", str(tmp_path / "f.safetensors"),
                                "--metrics", str(metrics)])
    return code, metrics


def test_embed_records_the_commit_it_loaded(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("W2S_DEVICE", "cpu")
    commit = cached_commit()
    for model in (HUB_ID, {"id": HUB_ID, "revision": "main"}, {"id": HUB_ID, "revision": commit}):
        code, metrics = run_embed(tmp_path, model)
        assert code == 0
        record = json.loads(metrics.read_text())
        assert record["hub_id"] == HUB_ID and record["revision"] == commit, record


def test_a_bogus_revision_is_one_line_and_exit_2(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    code, metrics = run_embed(tmp_path, {"id": HUB_ID, "revision": "bogus"})
    err = capsys.readouterr().err.strip()
    assert code == 2 and err.startswith(f"error: model '{HUB_ID}' revision 'bogus': not in the local") and \
        "\n" not in err, err
    assert not metrics.exists() and not (tmp_path / "f.safetensors").exists()
