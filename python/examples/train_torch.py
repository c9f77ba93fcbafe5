"""Trains a small spiking CNN in PyTorch for a few epochs on a prepared dataset through
``spiketrain.Loader`` (default: the demo's, ``runs/demo/data`` from ``scripts/demo.sh``).

The network: two conv + BN + LIF blocks with average pooling, then a linear read-out averaged
over time; LIF neurons with a sigmoid surrogate gradient, trained with BPTT and cross-entropy on
the time-mean logits. Batches come from the Rust loader (ASGL augmentation on the training
split) and enter torch without a copy (``torch.from_numpy``).

    python python/examples/train_torch.py [--data runs/demo/data] [--epochs 5]
"""

from __future__ import annotations

import argparse
import time

import torch
import torch.nn as nn

import spiketrain


class SpikeFn(torch.autograd.Function):
    """Heaviside forward, sigmoid-derivative surrogate backward."""

    @staticmethod
    def forward(ctx, v: torch.Tensor) -> torch.Tensor:  # type: ignore[override]
        ctx.save_for_backward(v)
        return (v > 0).to(v.dtype)

    @staticmethod
    def backward(ctx, grad: torch.Tensor) -> torch.Tensor:  # type: ignore[override]
        (v,) = ctx.saved_tensors
        s = torch.sigmoid(4.0 * v)
        return grad * 4.0 * s * (1 - s)


class Lif(nn.Module):
    """Multi-step LIF over dim 1 (time): v = decay * v * (1 - spike) + x; spike = H(v - 1)."""

    def __init__(self, decay: float = 0.5) -> None:
        super().__init__()
        self.decay = decay

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        v = torch.zeros_like(x[:, 0])
        spikes = []
        for t in range(x.shape[1]):
            v = self.decay * v + x[:, t]
            s = SpikeFn.apply(v - 1.0)
            v = v * (1 - s)
            spikes.append(s)
        return torch.stack(spikes, 1)


class PerStep(nn.Module):
    """Applies a stateless module to every time step ([B, T, ...] -> [B*T, ...] and back)."""

    def __init__(self, module: nn.Module) -> None:
        super().__init__()
        self.module = module

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, t = x.shape[:2]
        y = self.module(x.flatten(0, 1))
        return y.view(b, t, *y.shape[1:])


def network(classes: int, height: int, width: int) -> nn.Module:
    return nn.Sequential(
        PerStep(nn.Sequential(nn.Conv2d(2, 16, 3, padding=1, bias=False), nn.BatchNorm2d(16))), Lif(),
        PerStep(nn.AvgPool2d(2)),
        PerStep(nn.Sequential(nn.Conv2d(16, 32, 3, padding=1, bias=False), nn.BatchNorm2d(32))), Lif(),
        PerStep(nn.AvgPool2d(2)),
        PerStep(nn.Sequential(nn.Flatten(), nn.Linear(32 * (height // 4) * (width // 4), classes))),
    )


def run_epoch(model, loader, epoch, optimizer=None):
    model.train(optimizer is not None)
    correct = total = 0
    loss_sum = 0.0
    with torch.set_grad_enabled(optimizer is not None):
        for x, y in loader.epoch(epoch):
            x, y = torch.from_numpy(x), torch.from_numpy(y)
            logits = model(x).mean(1)
            loss = nn.functional.cross_entropy(logits, y)
            if optimizer is not None:
                optimizer.zero_grad()
                loss.backward()
                optimizer.step()
            loss_sum += loss.item() * len(y)
            correct += (logits.argmax(1) == y).sum().item()
            total += len(y)
    return loss_sum / max(total, 1), correct / max(total, 1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default="runs/demo/data")
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--lr", type=float, default=3e-3)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    torch.manual_seed(args.seed)
    train = spiketrain.Loader(args.data, "train", args.batch_size, shuffle=True, seed=args.seed, augment="asgl")
    test = spiketrain.Loader(args.data, "test", args.batch_size)
    _, height, width = train.info["frames"], train.info["height"], train.info["width"]
    model = network(len(train.classes), height, width)
    optimizer = torch.optim.AdamW(model.parameters(), lr=args.lr)
    print(f"{train.num_samples} train / {test.num_samples} test samples, {len(train.classes)} classes, "
          f"T={train.info['frames']} {height}x{width}")
    for epoch in range(args.epochs):
        started = time.perf_counter()
        train_loss, train_acc = run_epoch(model, train, epoch, optimizer)
        test_loss, test_acc = run_epoch(model, test, 0)
        print(f"epoch {epoch}: train loss {train_loss:.3f} acc {train_acc:.3f} | "
              f"test loss {test_loss:.3f} acc {test_acc:.3f} | {time.perf_counter() - started:.1f} s")


if __name__ == "__main__":
    main()
