#!/usr/bin/env python3
"""Same-run baseline for `cargo bench --bench model`: the same UniVA training step in PyTorch on
the CPU, so the Rust figures can be quoted as ratios measured on the same machine at the same
time (the authors' code itself is not available offline).

Mirrors src/model at a preset. `small`: per modality Linear(D→128) → one post-LN transformer
layer (4 heads, FFN 512, GELU, learned positions, dropout 0.1) → additive attention pooling;
the VA emotion-correlation prior η (reference-code variant) on; contrastive terms averaged.
`paper` (MOSEI-GloVe): d = 768, 12 heads, FFN 3072, text 7 / vision 5 / audio 3 layers, prior
off, contrastive mix (3·L_t + L_v + L_a)/3. Both: concat → Linear → log-softmax; KL to the
softmaxed multi-hot target (×1000); the VA-driven contrastive loss per modality (B×2B,
δ = 0.1, τ = 0.4, λ = 0.2); gradient clipping at 1; AdamW. B = 32, text 50×300, vision 50×35,
audio 50×74. Like the reference code, every one of the 50 steps is computed (padding masked).

    python3 benches/torch_step.py [--preset small|paper] [--threads 2] [--steps 30] [--lengths mixed|full]

Prints the median and mean step time in ms. Needs torch (pip install torch).
"""

import argparse
import statistics
import time

import torch
import torch.nn.functional as F
from torch import nn

B, L, C = 32, 50, 6
DIMS = {"text": 300, "vision": 35, "audio": 74}
TAU, LAMBDA, DELTA, KL_SCALE = 0.4, 0.2, 0.1, 1000.0
PRESETS = {
    "small": dict(d=128, heads=4, ffn=512, layers={"text": 1, "vision": 1, "audio": 1}, prior=True,
                  weights={"text": 1.0, "vision": 1.0, "audio": 1.0}),
    "paper": dict(d=768, heads=12, ffn=3072, layers={"text": 7, "vision": 5, "audio": 3}, prior=False,
                  weights={"text": 3.0, "vision": 1.0, "audio": 1.0}),
}


class Encoder(nn.Module):
    def __init__(self, dim, d, heads, ffn, layers):
        super().__init__()
        self.projection = nn.Linear(dim, d)
        self.positions = nn.Parameter(torch.randn(L, d) * 0.02)
        self.norm = nn.LayerNorm(d, eps=1e-12)
        self.layers = nn.ModuleList(
            nn.TransformerEncoderLayer(d, heads, ffn, 0.1, activation="gelu", batch_first=True, layer_norm_eps=1e-12)
            for _ in range(layers)
        )
        self.step = nn.Linear(d, d)
        self.query = nn.Parameter(torch.randn(1, d) * 0.02)
        self.query_projection = nn.Linear(d, d, bias=False)
        self.score = nn.Linear(d, 1, bias=False)
        self.dropout = nn.Dropout(0.1)

    def forward(self, x, mask):
        h = self.dropout(self.norm(self.projection(x) + self.positions))
        for layer in self.layers:
            h = layer(h, src_key_padding_mask=mask == 0)
        energy = torch.tanh(self.step(h) + self.query_projection(self.query))
        scores = self.score(energy).squeeze(-1).masked_fill(mask == 0, -1e9)
        return (torch.softmax(scores, -1).unsqueeze(1) @ h).squeeze(1)


class UniVa(nn.Module):
    def __init__(self, preset, prior):
        super().__init__()
        p = PRESETS[preset]
        self.encoders = nn.ModuleDict(
            {m: Encoder(dim, p["d"], p["heads"], p["ffn"], p["layers"][m]) for m, dim in DIMS.items()}
        )
        self.classifier = nn.Linear(3 * p["d"], C)
        self.prior = nn.Parameter(prior)
        self.use_prior = p["prior"]
        self.weights = p["weights"]

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
    prediction = kl
    if model.use_prior:
        diff = log_probs.unsqueeze(2) - log_probs.unsqueeze(1)
        off_diagonal = 1 - torch.eye(C)
        prediction = prediction + (torch.sqrt((diff**2).sum(0) + torch.eye(C)) * off_diagonal * model.prior).sum() / len(
            labels
        )
    cl = sum(model.weights[m] * contrastive(h[m], batch[m][2]) for m in DIMS) / len(DIMS)
    return (1 - LAMBDA) * prediction + LAMBDA * cl


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--preset", choices=sorted(PRESETS), default="small")
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
    model = UniVa(args.preset, torch.rand(C, C))
    model.train()
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3)
    times = []
    for step in range(args.steps + 3):
        start = time.perf_counter()
        optimizer.zero_grad()
        loss(model, batch, labels).backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        if step >= 3:  # warm-up
            times.append((time.perf_counter() - start) * 1000)
    params = sum(p.numel() for p in model.parameters())
    print(
        f"torch {torch.__version__}, {args.threads} threads, {params} parameters, {args.lengths} lengths: "
        f"{args.preset} step median {statistics.median(times):.1f} ms, mean {statistics.mean(times):.1f} ms over {len(times)} steps"
    )


if __name__ == "__main__":
    main()
