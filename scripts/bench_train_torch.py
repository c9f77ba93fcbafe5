"""Minimal PyTorch VGGSNN2 training step, written from ../shared/design/asgl.md (not the
reference code): tdLayer folding, BatchNorm2d over T*B, LIF with hard reset and the hybrid noisy
rectangle spike (p = 0.1, learnable a), TET loss, SGD(momentum 0.9, wd 1e-3 on conv/linear
weights) + Adam(3e-4) on the widths. Times one step (forward, backward, both optimiser steps)."""
import argparse
import json
import time

import torch
import torch.nn as nn
import torch.nn.functional as F


class Rect(nn.Module):
    def __init__(self, width=1.0, p=0.1):
        super().__init__()
        self.a = nn.Parameter(torch.tensor([float(torch.log(torch.tensor(1.0 / width)))]))
        self.p = p

    def forward(self, x):
        h = torch.clamp(torch.exp(self.a) * x + 0.5, 0, 1)
        if not self.training:
            return (x >= 0).to(x.dtype)
        m = torch.bernoulli(torch.full_like(x, 1 - self.p))
        return h + (((x >= 0).to(x.dtype) - h) * m).detach()


class LIF(nn.Module):
    def __init__(self, T, decay=0.5, thresh=0.5):
        super().__init__()
        self.T, self.leak, self.thresh = T, decay, thresh
        self.spike = Rect()

    def forward(self, x):  # x: [T*B, ...]
        xs = x.view(self.T, -1, *x.shape[1:])
        u, out = 0.0, []
        for t in range(self.T):
            u = self.leak * u + xs[t]
            s = self.spike(u - self.thresh)
            u = u * (1 - s)
            out.append(self.thresh * s)
        return torch.stack(out).flatten(0, 1)


def vggsnn2(T, hw, classes=10):
    layers, c = [], 2
    for v in [64, 128, "P", 256, 256, "P", 512, 512, "P", 512, 512, "P"]:
        if v == "P":
            layers.append(nn.AvgPool2d(2, 2))
            hw //= 2
        else:
            conv = nn.Conv2d(c, v, 3, 1, 1, bias=False)
            nn.init.normal_(conv.weight, 0, 0.5)
            layers += [conv, nn.BatchNorm2d(v), LIF(T)]
            c = v
    fc = nn.Linear(c * hw * hw, classes, bias=False)
    nn.init.normal_(fc.weight, 0, 0.5)
    return nn.Sequential(*layers, nn.Flatten(), fc)


def tet_loss(logits, y, lamb=1e-3, means=1.0):
    T = logits.shape[0]
    ce = sum(F.cross_entropy(logits[t], y) for t in range(T)) / T
    return (1 - lamb) * ce + lamb * F.mse_loss(logits, torch.full_like(logits, means))


def timed_step(forward, y, sgd, adam):
    """One training step (forward + TET loss, backward, both optimiser steps); returns the
    logits and the (forward, backward, optimiser) seconds. Shared with bench_train_small.py."""
    t0 = time.perf_counter()
    logits = forward()
    loss = tet_loss(logits, y)
    t1 = time.perf_counter()
    sgd.zero_grad()
    adam.zero_grad()
    loss.backward()
    t2 = time.perf_counter()
    sgd.step()
    adam.step()
    t3 = time.perf_counter()
    return logits, (t1 - t0, t2 - t1, t3 - t2)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--batch-size", type=int, default=16)
    ap.add_argument("--T", type=int, default=10)
    ap.add_argument("--size", type=int, default=48)
    ap.add_argument("--warmup", type=int, default=1)
    ap.add_argument("--steps", type=int, default=3)
    ap.add_argument("--threads", type=int, default=2)
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(0)
    T, B = a.T, a.batch_size
    net = vggsnn2(T, a.size).train()
    widths = [p for n, p in net.named_parameters() if n.endswith(".a")]
    decay = [p for n, p in net.named_parameters() if n.endswith("weight") and p.dim() > 1]
    rest = [p for n, p in net.named_parameters() if not n.endswith(".a") and not (n.endswith("weight") and p.dim() > 1)]
    sgd = torch.optim.SGD([{"params": decay, "weight_decay": 1e-3}, {"params": rest, "weight_decay": 0}], lr=0.1, momentum=0.9)
    adam = torch.optim.Adam(widths, lr=3e-4)
    x = torch.rand(B, T, 2, a.size, a.size)
    y = torch.arange(B) % 10
    steps = []
    for i in range(a.warmup + a.steps):
        inp = x.permute(1, 0, 2, 3, 4).reshape(T * B, 2, a.size, a.size)
        _, (fwd, bwd, opt) = timed_step(lambda: net(inp).view(T, B, -1), y, sgd, adam)
        if i >= a.warmup:
            steps.append({"forward_ms": fwd * 1e3, "backward_ms": bwd * 1e3,
                          "optimiser_ms": opt * 1e3, "step_ms": (fwd + bwd + opt) * 1e3})
    med = sorted(s["step_ms"] for s in steps)[len(steps) // 2]
    print(f"pytorch {torch.__version__} vggsnn2 batch {B} T {T} 2x{a.size}x{a.size} threads {a.threads}: "
          f"step {med:.1f} ms (median of {len(steps)}; " +
          ", ".join(f"{k[:-3]} {sorted(s[k] for s in steps)[len(steps)//2]:.1f}" for k in ["forward_ms", "backward_ms", "optimiser_ms"]) + ")")
    print(json.dumps(steps))


if __name__ == "__main__":
    main()
