"""Integration tests: real pretrained models from the offline hub cache, real SST-2 text.

Needs the offline model cache built by `scripts/setup.sh` (`scripts/model_cache.sh`: the default set
plus HuggingFaceTB/SmolLM2-135M-Instruct for the decoder test) and the local dataset mirror. Both
fail loudly when missing, never skip: a skipped integration test looks like a passing one.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest

from w2s.features import embed_texts
from w2s.models import load_backbone, resolve_pooling

pytestmark = pytest.mark.integration

ENCODER = "sentence-transformers/paraphrase-MiniLM-L3-v2"
DECODER = "HuggingFaceTB/SmolLM2-135M-Instruct"
N_TEXTS = 40


def data_dir() -> Path:
    default = Path(__file__).resolve().parents[3] / "shared" / "datasets"
    return Path(os.environ.get("W2S_TEST_DATA_DIR", default))


@pytest.fixture(scope="module")
def sst2_texts() -> list[str]:
    path = data_dir() / "sst2" / "validation.jsonl"
    if not path.is_file():
        pytest.fail(f"SST-2 mirror not found at {path}: set W2S_TEST_DATA_DIR to the datasets folder")
    with path.open() as f:
        rows = [json.loads(line) for _, line in zip(range(N_TEXTS), f, strict=False)]
    return [row["sentence"] for row in rows]


@pytest.fixture(scope="module")
def encoder():
    return load_backbone(ENCODER)


def cosine(a: np.ndarray, b: np.ndarray) -> float:
    return float(a @ b / (np.linalg.norm(a) * np.linalg.norm(b)))


def test_encoder_features_shape_finite_and_in_order(encoder, sst2_texts) -> None:
    model, tokenizer = encoder
    pooling = resolve_pooling(model.config, "auto")
    assert pooling == "mean"
    result = embed_texts(sst2_texts, model, tokenizer, pooling=pooling, batch_size=16, progress=False)
    assert result.features.shape == (N_TEXTS, 384) and result.features.dtype == np.float32
    assert np.isfinite(result.features).all()
    assert result.n_truncated == 0
    for i in (0, 7, N_TEXTS - 1):  # row i is texts[i], not the i-th text in length order
        alone = embed_texts([sst2_texts[i]], model, tokenizer, pooling=pooling, progress=False).features[0]
        np.testing.assert_allclose(result.features[i], alone, atol=1e-4)


def test_encoder_near_duplicates_are_closer_than_unrelated(encoder, sst2_texts) -> None:
    model, tokenizer = encoder
    anchor = "it 's a charming and often affecting journey ."  # sst2 validation row 0
    near = "it is a charming and often affecting journey ."
    unrelated = [t for t in sst2_texts[1:] if "charming" not in t and "journey" not in t][:10]
    features = embed_texts([anchor, near, *unrelated], model, tokenizer, pooling="mean", progress=False).features
    near_sim = cosine(features[0], features[1])
    unrelated_sims = [cosine(features[0], f) for f in features[2:]]
    assert near_sim > 0.9
    assert near_sim > max(unrelated_sims) + 0.1, (near_sim, unrelated_sims)


def test_decoder_last_token_features_do_not_depend_on_batch(sst2_texts) -> None:
    """A real Llama-style decoder: batched (padded with eos) features equal each text run alone."""
    model, tokenizer = load_backbone(DECODER)
    pooling = resolve_pooling(model.config, "auto")
    assert pooling == "last"
    texts = sst2_texts[:12]
    batched = embed_texts(texts, model, tokenizer, pooling=pooling, batch_size=12, progress=False).features
    alone = np.stack(
        [embed_texts([t], model, tokenizer, pooling=pooling, progress=False).features[0] for t in texts]
    )
    assert batched.shape == (12, model.config.hidden_size) and np.isfinite(batched).all()
    np.testing.assert_allclose(batched, alone, rtol=1e-4, atol=1e-4)  # |features| up to ~36
