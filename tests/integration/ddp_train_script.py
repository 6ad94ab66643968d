"""Train a tiny random-init classifier with `w2s.train.fit` and write its test predictions (rank 0).

Run plainly (one process), under `accelerate launch --multi_gpu --num_processes 2` (DDP over gloo), or
under `torchrun --nproc_per_node 2` with W2S_FSDP=1 (FSDP2 over gloo); test_accelerate_ddp.py compares
them. No hub download: the model comes from a BertConfig
and the data are synthetic token ids (label = which of two marker tokens the sequence carries).
"""

from __future__ import annotations

import json
import sys

import numpy as np
import torch
from transformers import BertConfig

from w2s.config import TrainParams
from w2s.losses import make_loss
from w2s.models import classifier_from_config
from w2s.textdata import TextRows
from w2s.train import fit, is_main_process, is_sharded, predict, world_size


def toy_rows(n: int, seed: int) -> tuple[TextRows, torch.Tensor]:
    rng = np.random.default_rng(seed)
    labels = np.arange(n) % 2
    seqs = []
    for y in labels:
        seq = rng.integers(10, 64, size=int(rng.integers(3, 40))).tolist()
        for _ in range(2):
            seq.insert(int(rng.integers(0, len(seq) + 1)), 5 if y else 6)
        seqs.append([1, *seq])
    return TextRows.from_ids(seqs, pad_id=0), torch.from_numpy(labels.astype(np.float32))


def main(out: str) -> None:
    torch.use_deterministic_algorithms(True)
    torch.set_num_threads(1)
    config = BertConfig(vocab_size=64, hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                        intermediate_size=64, max_position_embeddings=64, hidden_dropout_prob=0.0,
                        attention_probs_dropout_prob=0.0)
    generator = torch.Generator().manual_seed(0)
    model = classifier_from_config(config, mode="finetune", generator=generator, seed=0)
    rows, y = toy_rows(300, 0)  # 300 rows, batch 16 x accum 2: 9 steps per epoch, the last of 44 rows (12 merged)
    test_rows, test_y = toy_rows(200, 1)
    params = TrainParams(mode="finetune", epochs=3, batch_size=16, grad_accum=2, lr=2e-3, schedule="cosine",
                         warmup_frac=0.1, eval_every=5)
    result = fit(model, rows, y, make_loss("xent", {}), params, generator, (test_rows, test_y),
                 device=torch.device("cpu"))
    p1 = predict(model, test_rows, batch_size=32)
    if is_main_process():
        with open(out, "w") as f:
            json.dump({"world_size": world_size(), "sharded": is_sharded(model), "p1": p1.tolist(),
                       "labels": test_y.tolist(),
                       "steps": result.steps, "final_loss": result.final_loss,
                       "history": [pt.accuracy for pt in result.history]}, f)


if __name__ == "__main__":
    main(sys.argv[1])
