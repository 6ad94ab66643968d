"""The one trainer: learns a separable problem, is deterministic for a seed, records its curve."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from w2s.config import TrainParams
from w2s.errors import InputError
from w2s.losses import make_loss
from w2s.train import LinearProbe, fit, predict


def blobs(n: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    labels = (torch.arange(n) % 2).float()
    x = torch.randn(n, 8, generator=g) + 2.0 * labels[:, None] * torch.tensor([1.0] + [0.0] * 7)
    return x, labels


def train_once(seed: int, loss: str = "xent") -> tuple[np.ndarray, list]:
    x, y = blobs(200, 0)
    g = torch.Generator().manual_seed(seed)
    model = LinearProbe(x, g)
    params = TrainParams(epochs=5, batch_size=32, lr=0.05, eval_every=7)
    result = fit(model, x, y, make_loss(loss, {}), params, g, eval_set=blobs(100, 1))
    return predict(model, blobs(100, 1)[0]), result.history


def test_learns_a_separable_problem() -> None:
    p1, history = train_once(0)
    _, labels = blobs(100, 1)
    assert ((p1 > 0.5) == labels.numpy().astype(bool)).mean() > 0.8
    steps = [pt.step for pt in history]
    # 200 rows / 32 = 6 full steps + 8 rows, which join the 6th step (under half a batch): 6 steps per epoch
    assert steps == sorted(steps) and steps[-1] == 5 * 6
    assert all(s % 7 == 0 for s in steps[:-1])


def test_same_seed_same_bits_other_seed_differs() -> None:
    a, _ = train_once(3)
    b, _ = train_once(3)
    c, _ = train_once(4)
    assert a.tobytes() == b.tobytes()
    assert not np.array_equal(a, c)


def test_logconf_trains_too() -> None:
    p1, _ = train_once(0, "logconf")
    assert np.isfinite(p1).all()


def test_bad_input() -> None:
    x, y = blobs(10, 0)
    g = torch.Generator().manual_seed(0)
    with pytest.raises(InputError, match="targets have shape"):
        fit(LinearProbe(x, g), x, y[:5], make_loss("xent", {}), TrainParams(), g)
    with pytest.raises(InputError, match="no training rows"):
        fit(LinearProbe(x, g), x[:0], y[:0], make_loss("xent", {}), TrainParams(), g)
    for bad, first in ((float("nan"), "nan"), (1.5, "1.5")):
        targets = y.clone().float()
        targets[3] = bad
        with pytest.raises(InputError, match=rf"fit: 1 targets are not in \[0, 1\] \(first: {first}\)"):
            fit(LinearProbe(x, g), x, targets, make_loss("xent", {}), TrainParams(), g)


# ------------------------------------------------------------------ finetune / lora on tiny random-init models

import math  # noqa: E402

from transformers import BertConfig, GPT2Config  # noqa: E402

from w2s.config import parse_params  # noqa: E402
from w2s.models import classifier_from_config  # noqa: E402
from w2s.textdata import TextRows, bucketed_batches  # noqa: E402
from w2s.train import activations, lr_factor  # noqa: E402

VOCAB = 64
POS, NEG = 5, 6  # the one token that decides the label; filler tokens are 10..63


def toy_rows(n: int, seed: int) -> tuple[TextRows, torch.Tensor]:
    """Sequences of 3..24 filler tokens with 3 copies of POS (label 1) or NEG (label 0) at random places."""
    rng = np.random.default_rng(seed)
    labels = np.arange(n) % 2
    seqs = []
    for y in labels:
        seq = rng.integers(10, VOCAB, size=int(rng.integers(3, 25))).tolist()
        for _ in range(3):
            seq.insert(int(rng.integers(0, len(seq) + 1)), POS if y else NEG)
        seqs.append([1, *seq])
    return TextRows.from_ids(seqs, pad_id=0), torch.from_numpy(labels.astype(np.float32))


def tiny_config(kind: str, dropout: float = 0.0) -> BertConfig | GPT2Config:
    if kind == "bert":
        return BertConfig(vocab_size=VOCAB, hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                          intermediate_size=64, hidden_dropout_prob=dropout, attention_probs_dropout_prob=dropout,
                          max_position_embeddings=64)
    return GPT2Config(vocab_size=VOCAB, n_embd=32, n_layer=2, n_head=2, n_positions=64, resid_pdrop=dropout,
                      embd_pdrop=dropout, attn_pdrop=dropout)


def run_text(mode: str, kind: str = "bert", seed: int = 0, dropout: float = 0.0, **overrides):
    rows, y = toy_rows(160, 0)
    test_rows, test_y = toy_rows(80, 1)
    g = torch.Generator().manual_seed(seed)
    model = classifier_from_config(tiny_config(kind, dropout), mode=mode, generator=g, seed=seed)
    settings = {"mode": mode, "epochs": 4, "batch_size": 16, "lr": 3e-3 if mode == "finetune" else 1e-2,
                "eval_every": 10, "schedule": "cosine", "warmup_frac": 0.1, **overrides}
    result = fit(model, rows, y, make_loss("xent", {}), TrainParams(**settings), g, (test_rows, test_y),
                 device=torch.device("cpu"))
    p1 = predict(model, test_rows, 32)
    return model, result, p1, test_y.numpy().astype(bool)


@pytest.mark.parametrize(("mode", "kind"), [("finetune", "bert"), ("finetune", "gpt2"), ("lora", "bert")])
def test_text_modes_learn_a_toy_task(mode: str, kind: str) -> None:
    _, result, p1, labels = run_text(mode, kind)
    assert result.final_loss < 0.5 * math.log(2)  # chance is log 2 = 0.69
    assert ((p1 > 0.5) == labels).mean() >= 0.9
    assert result.steps == 4 * 10 and result.history[-1].step == 40  # 160 rows / 16 = 10 steps per epoch


def test_train_loss_is_the_loss_over_every_training_row() -> None:
    """FitResult.train_loss (summary.json's train_loss) is the mean loss over all training rows after training,
    not the last step's batch (`final_loss`; 160 rows in 16s: the last step saw 16 of them)."""
    model, result, _, _ = run_text("finetune", epochs=1)
    rows, y = toy_rows(160, 0)
    p1 = torch.from_numpy(predict(model, rows, 32)).double()
    expected = float(torch.nn.functional.binary_cross_entropy(p1, y.double()))
    assert result.train_loss == pytest.approx(expected, rel=1e-4)
    assert result.n_train == 160 and result.converged is None and result.optimizer == "adamw"


def test_finetune_is_deterministic_with_dropout() -> None:
    _, _, a, _ = run_text("finetune", dropout=0.1, seed=3)
    _, _, b, _ = run_text("finetune", dropout=0.1, seed=3)
    _, _, c, _ = run_text("finetune", dropout=0.1, seed=4)
    assert a.tobytes() == b.tobytes()
    assert not np.array_equal(a, c)


def test_grad_accumulation_equals_a_bigger_batch() -> None:
    """4 micro-batches of 8 accumulate to the gradient of one batch of 32 (same rows: the step batches
    are drawn with batch_size x grad_accum rows), so training follows the same path up to float rounding."""
    small = run_text("finetune", epochs=2, batch_size=8, grad_accum=4)
    big = run_text("finetune", epochs=2, batch_size=32, grad_accum=1)
    assert small[1].steps == big[1].steps == 2 * 5
    assert np.abs(small[2] - big[2]).max() < 1e-4
    for (name, a), (_, b) in zip(small[0].named_parameters(), big[0].named_parameters(), strict=True):
        assert torch.allclose(a, b, atol=1e-5), name


def test_lora_trains_adapters_and_head_only() -> None:
    g = torch.Generator().manual_seed(0)
    model = classifier_from_config(tiny_config("bert"), mode="lora", generator=g, seed=0)
    before = {k: v.detach().clone() for k, v in model.named_parameters()}
    trainable = {k for k, v in model.named_parameters() if v.requires_grad}
    assert trainable and all("lora_" in k or k.startswith("head.") for k in trainable)
    rows, y = toy_rows(64, 0)
    fit(model, rows, y, make_loss("xent", {}), TrainParams(mode="lora", epochs=1, batch_size=16, lr=1e-2), g,
        device=torch.device("cpu"))
    frozen = [k for k, v in model.named_parameters() if k not in trainable]
    assert frozen and all(torch.equal(before[k], dict(model.named_parameters())[k]) for k in frozen)
    after = dict(model.named_parameters())
    assert not torch.equal(before["head.weight"], after["head.weight"])
    assert any(not torch.equal(before[k], after[k]) for k in trainable if "lora_B" in k)  # B starts at 0


def test_cosine_schedule_values() -> None:
    # 100 steps, warm-up 10: (s + 1) / 10 for s < 10, then 0.5 (1 + cos(pi (s - 10) / 90))
    assert lr_factor(0, 100, "cosine", 0.1) == pytest.approx(0.1)
    assert lr_factor(9, 100, "cosine", 0.1) == pytest.approx(1.0)
    assert lr_factor(10, 100, "cosine", 0.1) == pytest.approx(1.0)
    assert lr_factor(55, 100, "cosine", 0.1) == pytest.approx(0.5)
    assert lr_factor(99, 100, "cosine", 0.1) == pytest.approx(0.5 * (1 + math.cos(math.pi * 89 / 90)))
    values = [lr_factor(s, 100, "cosine", 0.1) for s in range(10, 100)]
    assert all(a > b for a, b in zip(values, values[1:], strict=False))
    assert [lr_factor(s, 7, "constant", 0.0) for s in range(7)] == [1.0] * 7
    assert lr_factor(0, 10, "constant", 0.5) == pytest.approx(0.2)


def test_schedule_reaches_the_optimizer() -> None:
    """The optimizer's learning rate follows lr_factor: Adam's steps have a size ~ lr, so under a cosine
    over 8 steps the update of step 6 (factor 0.15) is much smaller than that of step 0 (factor 1)."""
    x, y = blobs(64, 0)
    g = torch.Generator().manual_seed(0)
    model = LinearProbe(x, g)
    snapshots = []
    params = TrainParams(epochs=1, batch_size=8, lr=0.1, schedule="cosine", warmup_frac=0.0, eval_every=1)

    def loss(logits: torch.Tensor, t: torch.Tensor, progress: float) -> torch.Tensor:
        snapshots.append(model.head.weight.detach().clone())
        return make_loss("xent", {})(logits, t, progress)

    fit(model, x, y, loss, params, g)
    moves = [float((b - a).abs().sum()) for a, b in zip(snapshots, snapshots[1:], strict=False)]
    assert moves[-1] < 0.2 * moves[0]  # step 6 of 8 runs at lr factor 0.15 of step 0's


def test_bucketed_batches_cover_every_row_once_and_group_lengths() -> None:
    rng = np.random.default_rng(0)
    lengths = rng.integers(1, 200, size=1000)
    batches = bucketed_batches(lengths, 32, torch.Generator().manual_seed(0))
    rows = np.concatenate(batches)
    assert np.array_equal(np.sort(rows), np.arange(1000))
    spread = np.mean([np.ptp(lengths[b]) for b in batches])
    assert spread < 0.2 * np.ptp(lengths)  # random batches of 32 would span most of the range
    again = bucketed_batches(lengths, 32, torch.Generator().manual_seed(0))
    other = bucketed_batches(lengths, 32, torch.Generator().manual_seed(1))
    assert all(np.array_equal(a, b) for a, b in zip(batches, again, strict=True))
    assert not all(np.array_equal(a, b) for a, b in zip(batches, other, strict=False))


def test_text_rows_pad_per_batch() -> None:
    rows = TextRows.from_ids([[3, 4, 5], [7], [8, 9]], pad_id=0)
    batch = rows.batch(np.array([1, 2]))
    assert batch["input_ids"].tolist() == [[7, 0], [8, 9]]
    assert batch["attention_mask"].tolist() == [[1, 0], [1, 1]]
    assert rows.batch([0])["input_ids"].tolist() == [[3, 4, 5]]
    assert rows.subset([2, 0]).batch([0, 1])["input_ids"].tolist() == [[8, 9, 0], [3, 4, 5]]


def test_activations_are_the_heads_input() -> None:
    model, _, p1, _ = run_text("finetune", epochs=1)
    test_rows, _ = toy_rows(80, 1)
    acts = activations(model, test_rows, batch_size=7)
    assert acts.shape == (80, 32) and acts.dtype == np.float32
    logits = acts @ model.head.weight.detach().numpy()[0] + float(model.head.bias.detach())
    assert np.abs(1 / (1 + np.exp(-logits)) - p1).max() < 1e-5


def test_bad_train_params_name_the_key() -> None:
    rows, y = toy_rows(8, 0)
    g = torch.Generator().manual_seed(0)
    model = classifier_from_config(tiny_config("bert"), mode="finetune", generator=g)
    for bad, key in [({"grad_accum": 0}, "train.grad_accum"), ({"device": "gpu7"}, "train: unknown key 'device'"),
                     ({"warmup_frac": 1.0}, "train.warmup_frac"), ({"max_length": 0}, "train.max_length")]:
        with pytest.raises(InputError, match=key):
            fit(model, rows, y, make_loss("xent", {}), TrainParams(mode="finetune", **bad), g)
    raw = yaml_params()
    raw["train"]["precision"] = "fp16"
    with pytest.raises(InputError, match="train.precision"):
        parse_params(raw)
    raw["train"]["precision"] = "auto"
    raw["train"]["schedule"] = "linear"
    with pytest.raises(InputError, match="train.schedule"):
        parse_params(raw)


def yaml_params() -> dict:
    from pathlib import Path

    import yaml

    return yaml.safe_load((Path(__file__).resolve().parents[1] / "params.yaml").read_text())
