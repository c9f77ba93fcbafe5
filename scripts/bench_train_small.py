"""Small-net CPU training, PyTorch side of scripts/bench-train-small.sh: a whole `fit` (every
training step, then the test pass, for each epoch) of a small VGG SNN on the same prepared
dataset `asgl-train fit` trains on (read from `dvs-ingest export`'s npz files).

Three implementations of the same network (conv3x3 no bias -> BatchNorm over T*B -> LIF with
hard reset and the hybrid noisy rectangle spike, p = 0.1, learnable width; avg pools; Linear;
TET loss; SGD momentum 0.9 + wd on conv/linear weights, Adam on the widths; cosine LR):

  reference     the official ASGL code (Windere/ASGL-SNN): its `model.vgg.VGG`, `LIFLayer`,
                `LIFCell`, `EfficientNoisySpikeII` + `InvRectangle`, imported from --reference
                DIR (a checkout of that repository; it is not shipped here), driven by the
                loop of its `experiment/dvs/main.py` (TET loss, optimiser split, cosine LR).
  spec          the same network written from ../shared/design/asgl.md
                (scripts/bench_train_torch.py's `Rect` and `LIF` classes).
  spikingjelly  SpikingJelly's multi-step layers (`layer.Conv2d/BatchNorm2d/AvgPool2d/Linear`,
                step_mode='m') and its multi-step `neuron.LIFNode` (tau = 2, i.e. decay 0.5,
                decay_input=False, v_reset 0; SpikingJelly 2.0's CPU path) with the noisy
                rectangle spike as its surrogate function.

Data: every `<split>/<class>/<name>.npz` (key `frames`, [T, 2, H, W]) is loaded into memory
before the clock starts, each frame divided by its maximum (asgl-train's `max_norm`); no
augmentation on either side. Prints one JSON line with the timings.
"""
import argparse
import glob
import json
import os
import sys
import time

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from bench_train_torch import LIF, Rect, tet_loss, timed_step  # noqa: E402


def load_split(root, split):
    classes = sorted(os.listdir(os.path.join(root, "train")))
    xs, ys = [], []
    for k, c in enumerate(classes):
        for f in sorted(glob.glob(os.path.join(root, split, c, "*.npz"))):
            xs.append(np.load(f)["frames"].astype(np.float32))
            ys.append(k)
    x = np.stack(xs)  # [N, T, 2, H, W]
    m = x.max(axis=(2, 3, 4), keepdims=True)
    x = np.where(m > 0, x / np.where(m > 0, m, 1), x)
    return torch.from_numpy(x), torch.tensor(ys), len(classes)


def parse_arch(arch):
    return [v if v == "P" else int(v) for v in arch.split(",")]


def flat_features(cfg, hw):
    c = 2
    for v in cfg:
        if v == "P":
            hw = (hw[0] // 2, hw[1] // 2)
        else:
            c = v
    return c * hw[0] * hw[1]


class FoldT(nn.Module):
    """[T, B, ...] <-> [T*B, ...] around the spec network (whose LIF unfolds itself)."""

    def __init__(self, body, T):
        super().__init__()
        self.body, self.T = body, T

    def forward(self, x):  # x: [B, T, C, H, W]
        x = x.transpose(0, 1).contiguous()
        T, B = x.shape[:2]
        out = self.body(x.flatten(0, 1))
        return out.view(T, B, -1)


def spec_net(cfg, T, hw, classes, width, p):
    layers, c = [], 2
    for v in cfg:
        if v == "P":
            layers.append(nn.AvgPool2d(2, 2))
        else:
            conv = nn.Conv2d(c, v, 3, 1, 1, bias=False)
            nn.init.normal_(conv.weight, 0, 0.5)
            lif = LIF(T)
            lif.spike = Rect(width, p)
            layers += [conv, nn.BatchNorm2d(v), lif]
            c = v
    fc = nn.Linear(flat_features(cfg, hw), classes, bias=False)
    nn.init.normal_(fc.weight, 0, 0.5)
    return FoldT(nn.Sequential(*layers, nn.Flatten(), fc), T)


class SjNet(nn.Module):
    def __init__(self, cfg, T, hw, classes, width, p):
        super().__init__()
        from spikingjelly.activation_based import layer, neuron

        mods, c = [], 2
        for v in cfg:
            if v == "P":
                mods.append(layer.AvgPool2d(2, 2, step_mode="m"))
            else:
                conv = layer.Conv2d(c, v, 3, 1, 1, bias=False, step_mode="m")
                nn.init.normal_(conv.weight, 0, 0.5)
                mods += [conv, layer.BatchNorm2d(v, step_mode="m"),
                         neuron.LIFNode(tau=2.0, decay_input=False, v_threshold=0.5, v_reset=0.0,
                                        detach_reset=False, surrogate_function=Rect(width, p),
                                        step_mode="m")]
                c = v
        fc = layer.Linear(flat_features(cfg, hw), classes, bias=False, step_mode="m")
        nn.init.normal_(fc.weight, 0, 0.5)
        self.body = nn.Sequential(*mods, layer.Flatten(step_mode="m"), fc)

    def forward(self, x):  # [B, T, ...] -> [T, B, K]
        from spikingjelly.activation_based import functional

        functional.reset_net(self.body)
        return self.body(x.transpose(0, 1).contiguous())


def reference_net(ref_dir, cfg, T, hw, classes, width, p, decay, thresh):
    sys.path.insert(0, ref_dir)
    from model import vgg as ref_vgg  # the official code, from the user's checkout
    from model.activation import EfficientNoisySpikeII, InvRectangle

    ref_vgg.feature_cfg["BENCH"] = ["A" if v == "P" else v for v in cfg]
    ref_vgg.clasifier_cfg["BENCH"] = [flat_features(cfg, hw), classes]
    warp = torch.tensor(float(np.log(decay / (1 - decay))))  # main.py's warp_decay
    spikes = {"nb_steps": T, "vreset": 0, "thresh": thresh, "decay": warp,
              "spike_fn": EfficientNoisySpikeII(p=p, inv_sg=InvRectangle(alpha=1 / width, learnable=True,
                                                                         granularity="layer"), spike=True)}
    return ref_vgg.VGG(architecture="BENCH", use_bias=False, in_channel=2, bn_type="tdbn",
                       num_class=classes, **spikes)


def param_groups(net):
    """main.py's split_params by parameter kind: widths (Adam, no wd), conv/linear weights (SGD
    with wd), the rest (SGD, no wd)."""
    widths, decayed, rest = [], [], []
    for n, prm in net.named_parameters():
        if n.endswith("inv_sg.alpha") or n.endswith(".a") or n.endswith("surrogate_function.a"):
            widths.append(prm)
        elif n.endswith("weight") and prm.dim() > 1:
            decayed.append(prm)
        else:
            rest.append(prm)
    return widths, decayed, rest


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", required=True, help="dvs-ingest export folder (train/, test/)")
    ap.add_argument("--impl", choices=["reference", "spec", "spikingjelly"], required=True)
    ap.add_argument("--reference", help="checkout of Windere/ASGL-SNN (for --impl reference)")
    ap.add_argument("--arch", default="16,16,P,32,32,P,32,32,P")
    ap.add_argument("--epochs", type=int, default=2)
    ap.add_argument("--batch-size", type=int, default=32)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--lr", type=float, default=0.1)
    ap.add_argument("--wd", type=float, default=1e-3)
    ap.add_argument("--width-lr", type=float, default=3e-4)
    ap.add_argument("--p", type=float, default=0.1)
    ap.add_argument("--width", type=float, default=1.0)
    a = ap.parse_args()
    started = time.perf_counter()
    torch.set_num_threads(a.threads)
    torch.manual_seed(a.seed)
    xtr, ytr, classes = load_split(a.data, "train")
    xte, yte, _ = load_split(a.data, "test")
    T, hw = xtr.shape[1], (xtr.shape[3], xtr.shape[4])
    cfg = parse_arch(a.arch)
    if a.impl == "reference":
        if not a.reference:
            sys.exit("--impl reference needs --reference DIR (a checkout of Windere/ASGL-SNN)")
        net = reference_net(a.reference, cfg, T, hw, classes, a.width, a.p, 0.5, 0.5)
        net(xtr[:1])  # main.py does one forward first: InvRectangle creates its parameter lazily
    elif a.impl == "spec":
        net = spec_net(cfg, T, hw, classes, a.width, a.p)
    else:
        net = SjNet(cfg, T, hw, classes, a.width, a.p)
    widths, decayed, rest = param_groups(net)
    sgd = torch.optim.SGD([{"params": decayed, "weight_decay": a.wd}, {"params": rest, "weight_decay": 0}],
                          lr=a.lr, momentum=0.9)
    adam = torch.optim.Adam(widths, lr=a.width_lr)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(sgd, eta_min=0, T_max=a.epochs)
    gen = torch.Generator().manual_seed(a.seed)
    train_ldr = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(xtr, ytr), batch_size=a.batch_size,
                                            shuffle=True, generator=gen, num_workers=0)
    test_ldr = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(xte, yte), batch_size=a.batch_size,
                                           shuffle=False, num_workers=0)
    setup_s = time.perf_counter() - started
    phases = {"forward": 0.0, "backward": 0.0, "optimiser": 0.0, "eval": 0.0}
    epochs = []
    for epoch in range(a.epochs):
        e0 = time.perf_counter()
        net.train()
        correct = 0
        for x, y in train_ldr:
            out, (fwd, bwd, opt) = timed_step(lambda: net(x), y, sgd, adam)
            phases["forward"] += fwd
            phases["backward"] += bwd
            phases["optimiser"] += opt
            correct += (out.detach().mean(0).argmax(1) == y).sum().item()
        sched.step()
        t4 = time.perf_counter()
        net.eval()
        test_correct = 0
        with torch.no_grad():
            for x, y in test_ldr:
                out = net(x)
                tet_loss(out, y)
                test_correct += (out.mean(0).argmax(1) == y).sum().item()
        phases["eval"] += time.perf_counter() - t4
        epochs.append({"epoch_s": time.perf_counter() - e0, "train_acc": correct / len(ytr),
                       "test_acc": test_correct / len(yte)})
    print(json.dumps({"impl": a.impl, "torch": torch.__version__, "threads": a.threads, "T": T,
                      "size": list(hw), "train": len(ytr), "test": len(yte), "setup_s": setup_s,
                      "epochs_s": sum(e["epoch_s"] for e in epochs), "phases_s": phases, "epochs": epochs}))


if __name__ == "__main__":
    main()
