#!/usr/bin/env python3
"""Same-run baseline for `cargo bench --bench model -- small`: the same small UniVA training
step in PyTorch on the CPU, so the Rust figure can be quoted as a ratio measured on the same
machine at the same time (the authors' code itself is not available offline).

Mirrors src/model at the `small` preset: per modality Linear(D→128) → one post-LN transformer
layer (4 heads, FFN 512, GELU, learned positions, dropout 0.1) over all 50 steps → additive
attention pooling; concat → Linear → log-softmax; KL to the softmaxed multi-hot target (×1000);
the VA emotion-correlation prior η (reference-code variant); the VA-driven contrastive loss per
modality (B×2B, δ = 0.1, τ = 0.4, λ = 0.2); AdamW. B = 32, text 50×300, vision 50×35, audio 50×74.

    python3 benches/torch_small_step.py [--threads 2] [--steps 30] [--lengths mixed|full]

Prints the median and mean step time in ms. Needs torch (pip install torch).
"""

import argparse
import statistics
import time

import torch
import torch.nn.functional as F
from torch import nn

B, L, C, D_MODEL = 32, 50, 6, 128
DIMS = {"text": 300, "vision": 35, "audio": 74}
TAU, LAMBDA, DELTA, KL_SCALE = 0.4, 0.2, 0.1, 1000.0


class Encoder(nn.Module):
    def __init__(self, dim):
        super().__init__()
        self.projection = nn.Linear(dim, D_MODEL)
        self.positions = nn.Parameter(torch.randn(L, D_MODEL) * 0.02)
        self.norm = nn.LayerNorm(D_MODEL, eps=1e-12)
        self.layer = nn.TransformerEncoderLayer(D_MODEL, 4, 512, 0.1, activation="gelu", batch_first=True)
        self.step = nn.Linear(D_MODEL, D_MODEL)
        self.query = nn.Parameter(torch.randn(1, D_MODEL) * 0.02)
        self.query_projection = nn.Linear(D_MODEL, D_MODEL, bias=False)
        self.score = nn.Linear(D_MODEL, 1, bias=False)
        self.dropout = nn.Dropout(0.1)

    def forward(self, x, mask):
        h = self.dropout(self.norm(self.projection(x) + self.positions))
        h = self.layer(h, src_key_padding_mask=mask == 0)
        energy = torch.tanh(self.step(h) + self.query_projection(self.query))
        scores = self.score(energy).squeeze(-1).masked_fill(mask == 0, -1e9)
        return (torch.softmax(scores, -1).unsqueeze(1) @ h).squeeze(1)


class UniVa(nn.Module):
    def __init__(self, prior):
        super().__init__()
        self.encoders = nn.ModuleDict({m: Encoder(d) for m, d in DIMS.items()})
        self.classifier = nn.Linear(3 * D_MODEL, C)
        self.prior = nn.Parameter(prior)

    def forward(self, batch):
        h = {m: enc(batch[m][0], batch[m][1]) for m, enc in self.encoders.items()}
        return F.log_softmax(self.classifier(torch.cat(list(h.values()), -1)), -1), h


def contrastive(h, va):
    positives = (torch.cdist(va, va) < DELTA).float()
    sim = h @ h.T / TAU
    logits = torch.cat([sim, sim], 1)
    logits = logits - logits.max(-1, keepdim=True).values.detach()
    eye = torch.eye(len(h))
    not_self = torch.cat([1 - eye, torch.ones_like(eye)], 1)
    pos = torch.cat([positives, positives], 1) * not_self
    log_prob = logits - torch.log((logits.exp() * not_self).sum(-1, keepdim=True))
    return -((pos * log_prob).sum(-1) / pos.sum(-1)).mean()


def loss(model, batch, labels):
    log_probs, h = model(batch)
    target = torch.softmax(labels, -1)
    kl = (target * torch.log(target) - target * log_probs).mean() * KL_SCALE
    diff = log_probs.unsqueeze(2) - log_probs.unsqueeze(1)
    off_diagonal = 1 - torch.eye(C)
    eta = (torch.sqrt((diff**2).sum(0) + torch.eye(C)) * off_diagonal * model.prior).sum() / len(labels)
    cl = sum(contrastive(h[m], batch[m][2]) for m in DIMS) / len(DIMS)
    return (1 - LAMBDA) * (kl + eta) + LAMBDA * cl


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--steps", type=int, default=30)
    parser.add_argument("--lengths", choices=["mixed", "full"], default="mixed")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    lengths = [10 + (i * 7) % (L - 10 + 1) if args.lengths == "mixed" else L for i in range(B)]
    mask = torch.tensor([[1.0 if t < n else 0.0 for t in range(L)] for n in lengths])
    batch = {m: (torch.randn(B, L, d), mask, torch.randn(B, 2)) for m, d in DIMS.items()}
    labels = (torch.rand(B, C) > 0.7).float()
    model = UniVa(torch.rand(C, C))
    model.train()
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3)
    times = []
    for step in range(args.steps + 3):
        start = time.perf_counter()
        optimizer.zero_grad()
        loss(model, batch, labels).backward()
        optimizer.step()
        if step >= 3:  # warm-up
            times.append((time.perf_counter() - start) * 1000)
    params = sum(p.numel() for p in model.parameters())
    print(
        f"torch {torch.__version__}, {args.threads} threads, {params} parameters, {args.lengths} lengths: "
        f"small step median {statistics.median(times):.1f} ms, mean {statistics.mean(times):.1f} ms over {len(times)} steps"
    )


if __name__ == "__main__":
    main()
