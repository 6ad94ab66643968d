"""The worked examples of docs/extend.md, run: a new task, a new loss, a new model family, a new analysis.

Each test follows the page's steps with the lab's real extension points (`w2s.tasks.TASKS`,
`w2s.losses.LOSSES`, `w2s.models.classifier_from_config`, a function of stored predictions), patched in
for the test only, so the page stays true as the code changes."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import polars as pl
import pytest
import torch
import torch.nn.functional as F
from torch import Tensor
from transformers import LlamaConfig

from w2s import loss_params, losses, tasks
from w2s.errors import InputError
from w2s.losses import LOSSES, make_loss, xent
from w2s.metrics import accuracy
from w2s.models import classifier_from_config
from w2s.textdata import TextRows

# --- Add a task: a formatter and a TaskSpec ------------------------------------------------------------------

def format_imdb(ex: tasks.Example, rng: np.random.Generator) -> tuple[str, int] | None:
    """A review and its 0/1 sentiment; empty reviews are dropped (None)."""
    text = ex["text"].strip()
    return (text, int(ex["label"])) if text else None


def test_add_a_task(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    spec = tasks.TaskSpec("stanfordnlp/imdb", "imdb", ("text", "label"), tasks._fixed(format_imdb),
                          splits={"train": "train", "test": "test"})
    monkeypatch.setitem(tasks.TASKS, "imdb", spec)
    (tmp_path / "imdb").mkdir()
    for split, n in (("train", 6), ("test", 4)):
        lines = [{"text": f"review {i} of {split}", "label": i % 2} for i in range(n)] + [{"text": " ", "label": 1}]
        (tmp_path / "imdb" / f"{split}.jsonl").write_text("\n".join(json.dumps(r) for r in lines) + "\n")
    out = tasks.load_task("imdb", source="local", local_dir=str(tmp_path), seed=0)
    assert set(out) == {"train", "test"}
    assert out["train"]["label"].to_list() == [0, 1, 0, 1, 0, 1]  # the blank review dropped
    assert out["test"]["text"][1] == "review 1 of test"
    with pytest.raises(InputError, match="lacks field 'label'"):
        (tmp_path / "imdb" / "test.jsonl").write_text(json.dumps({"text": "x"}) + "\n")
        tasks.load_task("imdb", source="local", local_dir=str(tmp_path), seed=0)


# --- Add a loss: a function of (logits, weak, progress, **params), registered in LOSSES ------------------------

def smoothed(logits: Tensor, weak: Tensor, progress: float, *, epsilon: float = 0.1) -> Tensor:
    """Cross-entropy against weak labels pulled towards 1/2 by `epsilon` (label smoothing)."""
    w = losses._check_batch(logits, weak, progress)
    return F.binary_cross_entropy_with_logits(logits, (1 - epsilon) * w + epsilon / 2)


def test_add_a_loss(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(losses, "LOSSES", {**LOSSES, "smoothed": smoothed})
    monkeypatch.setattr(loss_params, "LOSS_PARAMS", {**loss_params.LOSS_PARAMS, "smoothed": {"epsilon": 0.1}})
    monkeypatch.setattr(loss_params, "PARAM_RANGES", {**loss_params.PARAM_RANGES, "epsilon": (0.0, 1.0)})
    loss = make_loss("smoothed", {"epsilon": 0.2})
    logits = torch.tensor([-30.0, -1.0, 0.5, 40.0], requires_grad=True)
    weak = torch.tensor([0.0, 0.3, 0.9, 1.0])
    value = loss(logits, weak, 0.5)
    value.backward()
    assert value.ndim == 0 and torch.isfinite(value)
    assert logits.grad is not None and torch.isfinite(logits.grad).all()
    assert torch.allclose(make_loss("smoothed", {"epsilon": 0.0})(logits, weak, 0.5), xent(logits, weak, 0.5))
    with pytest.raises(InputError, match="epsilon"):
        make_loss("smoothed", {"epsilon": 2.0})


# --- Add a model family: any transformers AutoModel; pooling follows the architecture --------------------------

def test_add_a_model_family() -> None:
    config = LlamaConfig(vocab_size=64, hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                         num_attention_heads=2, num_key_value_heads=2, max_position_embeddings=64)
    model = classifier_from_config(config, mode="finetune", generator=torch.Generator().manual_seed(0)).eval()
    assert model.pooling == "last"  # a decoder: the last real token, found from the attention mask
    rows = TextRows.from_ids([[1, 11, 12], [1, 20, 21, 22, 23, 24]], pad_id=0)
    with torch.no_grad():
        together, alone = model(**rows.batch([0, 1])), model(**rows.batch([0]))
    assert together.shape == (2,) and torch.allclose(together[0], alone[0], atol=1e-5)


# --- Add an analysis: a function of stored predictions -> one long table ---------------------------------------

def positive_rate_table(preds: pl.DataFrame) -> pl.DataFrame:
    """Long table: the share of test rows each run predicts positive, beside its accuracy (one row per run
    and metric), to see whether a student copies its supervisor's class balance."""
    keys = [c for c in ("kind", "task", "model", "weak", "strong", "method", "seed") if c in preds.columns]
    rows = []
    for key, group in preds.filter(pl.col("part") == "test").group_by(keys, maintain_order=True):
        p1, label = group["p1"].to_numpy(), group["label"].to_numpy()
        base = dict(zip(keys, key, strict=True))
        rows.append({**base, "metric": "positive_rate", "value": float((p1 > 0.5).mean())})
        rows.append({**base, "metric": "accuracy", "value": accuracy(p1, label)})
    return pl.DataFrame(rows)


def test_add_an_analysis() -> None:
    test = {"id": [0, 1, 2, 3], "part": ["test"] * 4, "label": [1, 1, 0, 0]}
    preds = pl.concat([
        pl.DataFrame({**test, "p1": [0.9, 0.8, 0.7, 0.2], "kind": "gt", "task": "t", "model": "s", "seed": 0}),
        pl.DataFrame({**test, "p1": [0.9, 0.4, 0.1, 0.2], "kind": "w2s", "task": "t", "weak": "s", "strong": "b",
                      "method": "xent", "seed": 0}),
    ], how="diagonal")
    table = positive_rate_table(preds)
    got = {(r["kind"], r["metric"]): r["value"] for r in table.iter_rows(named=True)}
    assert got == {("gt", "positive_rate"): 0.75, ("gt", "accuracy"): 0.75,
                   ("w2s", "positive_rate"): 0.25, ("w2s", "accuracy"): 0.75}
