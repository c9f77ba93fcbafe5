#!/usr/bin/env python3
"""Generates the spiking-ResNet parity cases in train/tests/golden_resnet/ (run once; the cases are
committed and torch stays out of CI).

The network is written here from the reference's semantics (Windere/ASGL-SNN, `model/resnet.py`,
`model/layer.py`, `model/activation.py`, `experiment/development/main.py`), not imported:
- direct encoding: the image [B, C, H, W] broadcast to [T, B, C, H, W] into the first conv;
- tdLayer: conv / pool / linear on the t-major fold [T*B, ...]; tdbn = BatchNorm2d on that fold;
- LIF (hard reset, not detached): u = sigmoid(d) u + I_t; s = spike(u - thresh); u = u (1 - s);
  out_t = thresh s, with the sigmoid surrogate H(x) = sigmoid(k x), k = 1/w learnable
  (`mns_sig` = EfficientNoisySpikeII(InvSigmoid)): train forward H + ((x >= 0) - H) m with the
  second term detached, m = 1 - p in {0, 1}; eval forward Heaviside;
- BasicBlock: spike2(bn2(conv2(spike1(bn1(conv1(x))))) + shortcut(x)), the shortcut a 1x1
  strided conv + BN when the stride or the width changes, identity otherwise;
- head: adaptive 1x1 average pool, linear with bias, Readout = mean over T, CrossEntropyLoss
  (the development main's loss: CE of the time-mean logits).

The layer list is the project's spec (Contract 3) with the residual kinds `subsample` and `add`
(see docs/train.md): a stride-2 3x3 conv is `conv` then `subsample 2`. Everything runs in float64
from float32 draws; results are stored as float32 in the schema of shared/golden/asgl/README.md.

Usage: .venv/bin/python scripts/make_resnet_golden.py [--out train/tests/golden_resnet]
"""
import argparse
import json
import math
import os
import struct

import torch
import torch.nn.functional as F

T, B, C, H, W, K = 2, 4, 3, 8, 8, 5
DECAY, THRESH, WIDTH = 0.5, 1.0, 5.0
MARGIN = 1e-3


def layers_spec():
    conv = lambda out: {"op": "conv", "out": out, "kernel": 3, "padding": 1, "bias": False}
    return [
        conv(4), {"op": "bn"}, {"op": "lif"},                                    # 0-2 stem
        conv(8), {"op": "subsample", "stride": 2}, {"op": "bn"}, {"op": "lif"},  # 3-6
        conv(8), {"op": "bn"},                                                   # 7-8
        {"op": "add", "from": 2, "proj": {"out": 8, "stride": 2, "norm": "tdbn"}},  # 9
        {"op": "lif"},                                                           # 10
        conv(8), {"op": "bn"}, {"op": "lif"}, conv(8), {"op": "bn"},             # 11-15
        {"op": "add", "from": 10}, {"op": "lif"},                                # 16-17
        {"op": "avgpool", "size": 4}, {"op": "flatten"},                         # 18-19
        {"op": "linear", "out": K, "bias": True},                                # 20
    ]


def draw_params(spec, gen):
    """float32 draws (PyTorch default ranges, BN affine and statistics perturbed), as float64."""
    params = {}
    shape = (C, H, W)
    outs = {}

    def u(shape_, bound):
        return ((torch.rand(shape_, generator=gen) * 2 - 1) * bound).float().double()

    def bn(prefix, ch):
        params[prefix + ".weight"] = (1 + 0.2 * (torch.rand(ch, generator=gen) - 0.5)).float().double()
        params[prefix + ".bias"] = (0.2 * (torch.rand(ch, generator=gen) - 0.5)).float().double()
        params[prefix + ".running_mean"] = (0.1 * (torch.rand(ch, generator=gen) - 0.5)).float().double()
        params[prefix + ".running_var"] = (1 + 0.2 * torch.rand(ch, generator=gen)).float().double()

    for i, layer in enumerate(spec):
        op = layer["op"]
        p = f"param.{i}"
        if op == "conv":
            fan = shape[0] * 9
            params[p + ".weight"] = u((layer["out"], shape[0], 3, 3), 1 / math.sqrt(fan))
            shape = (layer["out"], shape[1], shape[2])
        elif op == "subsample":
            s = layer["stride"]
            shape = (shape[0], -(-shape[1] // s), -(-shape[2] // s))
        elif op == "bn":
            bn(p, shape[0])
        elif op == "lif":
            params[p + ".width"] = torch.tensor([1.0 / WIDTH], dtype=torch.float32).double()
        elif op == "add" and "proj" in layer:
            src = outs[layer["from"]]
            params[p + ".conv.weight"] = u((layer["proj"]["out"], src[0], 1, 1), 1 / math.sqrt(src[0]))
            bn(p + ".bn", layer["proj"]["out"])
        elif op == "avgpool":
            s = layer["size"]
            shape = (shape[0], shape[1] // s, shape[2] // s)
        elif op == "flatten":
            shape = (shape[0] * shape[1] * shape[2],)
        elif op == "linear":
            fan = shape[0]
            params[p + ".weight"] = u((layer["out"], fan), 1 / math.sqrt(fan))
            params[p + ".bias"] = u((layer["out"],), 1 / math.sqrt(fan))
            shape = (layer["out"],)
        outs[i] = shape
    return params


def spike(x, k, train, p):
    h = torch.sigmoid(k * x)
    heav = (x >= 0).to(x.dtype)
    if not train:
        return heav
    m = 1.0 - p  # every mask element: 1 = spike mode, 0 = analog mode
    return h + ((heav - h) * m).detach()


def lif(x, k, train, p, record):
    leak = torch.sigmoid(torch.tensor(math.log(DECAY / (1 - DECAY)), dtype=torch.float32)).double()
    steps = x.reshape(T, -1, *x.shape[1:])
    u = torch.zeros_like(steps[0])
    outs = []
    for t in range(T):
        u = leak * u + steps[t]
        record.append((u - THRESH).detach().abs().min().item())
        s = spike(u - THRESH, k, train, p)
        u = u * (1 - s)
        outs.append(s * THRESH)
    return torch.stack(outs).reshape(x.shape)


def tdbn(x, prefix, params, train, stats, momentum=0.1):
    rm = params[prefix + ".running_mean"].clone()
    rv = params[prefix + ".running_var"].clone()
    y = F.batch_norm(x, rm, rv, params[prefix + ".weight"], params[prefix + ".bias"],
                     training=train, momentum=momentum, eps=1e-5)
    stats[prefix] = (rm, rv)
    return y


def forward(spec, params, inp, train, p, momentum=0.1):
    x = inp.reshape(T * B, C, H, W)
    kept, lifs, stats, margins = {}, {}, {}, []
    for i, layer in enumerate(spec):
        op, pre = layer["op"], f"param.{i}"
        if op == "conv":
            x = F.conv2d(x, params[pre + ".weight"], padding=layer["padding"])
        elif op == "subsample":
            # The reference's stride-2 conv: the stride-1 conv's outputs 0, 2, 4, ...
            x = x[:, :, :: layer["stride"], :: layer["stride"]]
        elif op == "bn":
            x = tdbn(x, pre, params, train, stats, momentum)
        elif op == "lif":
            x = lif(x, params[pre + ".width"], train, p, margins)
            lifs[i] = x
        elif op == "add":
            short = kept[layer["from"]]
            if "proj" in layer:
                short = F.conv2d(short, params[pre + ".conv.weight"], stride=layer["proj"]["stride"])
                short = tdbn(short, pre + ".bn", params, train, stats, momentum)
            x = x + short
        elif op == "avgpool":
            x = F.avg_pool2d(x, layer["size"])
        elif op == "flatten":
            x = x.flatten(1)
        elif op == "linear":
            x = F.linear(x, params[pre + ".weight"], params[pre + ".bias"])
        kept[i] = x
    logits = x.reshape(T, B, -1)
    return logits, lifs, stats, min(margins)


def strided_conv_check(gen):
    """The subsample layer is exact: stride-2 conv == stride-1 conv, every 2nd output."""
    x = torch.randn(2, 3, 7, 8, generator=gen, dtype=torch.float64)
    w = torch.randn(4, 3, 3, 3, generator=gen, dtype=torch.float64)
    a = F.conv2d(x, w, stride=2, padding=1)
    b = F.conv2d(x, w, padding=1)[:, :, ::2, ::2]
    assert a.shape == b.shape and (a - b).abs().max() < 1e-12


def write_safetensors(path, tensors):
    header, blobs, offset = {}, [], 0
    for name in sorted(tensors):
        t = tensors[name]
        if t.dtype == torch.int64:
            dt, data = "I64", t.contiguous().numpy().tobytes()
        else:
            dt, data = "F32", t.detach().to(torch.float32).contiguous().numpy().tobytes()
        header[name] = {"dtype": dt, "shape": list(t.shape), "data_offsets": [offset, offset + len(data)]}
        blobs.append(data)
        offset += len(data)
    h = json.dumps(header, separators=(",", ":")).encode()
    h += b" " * ((8 - len(h) % 8) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)))
        f.write(h)
        for b in blobs:
            f.write(b)


def make_case(name, mode, p, seed):
    spec = layers_spec()
    train = mode == "train"
    for attempt in range(10000):
        gen = torch.Generator().manual_seed(seed + attempt)
        params = draw_params(spec, gen)
        image = torch.randn(B, C, H, W, generator=gen).float().double()
        labels = torch.randint(0, K, (B,), generator=gen)
        # Direct encoding: the image repeated over T steps.
        inp = image.unsqueeze(0).expand(T, B, C, H, W).clone().requires_grad_(train)
        if not train:
            # Running statistics of a calibration pass (momentum 1: this batch's statistics),
            # so that eval-mode spike rates are realistic.
            with torch.no_grad():
                _, _, calib, _ = forward(spec, params, inp, True, 0.0, momentum=1.0)
            for prefix, (rm, rv) in calib.items():
                params[prefix + ".running_mean"] = rm.float().double()
                params[prefix + ".running_var"] = rv.float().double()
        leaves = {n: v.clone().requires_grad_(train and not n.endswith(("running_mean", "running_var")))
                  for n, v in params.items()}
        logits, lifs, stats, margin = forward(spec, leaves, inp, train, p)
        rates = [((v > 0).double().mean().item()) for v in lifs.values()]
        if margin >= MARGIN and (p == 1.0 or all(0.02 <= r <= 0.6 for r in rates)):
            break
    else:
        raise SystemExit(f"{name}: no draw met the margin")
    loss = F.cross_entropy(logits.mean(0), labels)
    tensors = {"input": inp.detach(), "labels": labels}
    tensors.update({n: v for n, v in params.items()})
    tensors["expect.logits"] = logits.detach()
    tensors["expect.loss"] = loss.detach().reshape(1)
    for i, v in lifs.items():
        tensors[f"expect.lif.{i}"] = v.detach().reshape(T, B, *v.shape[1:])
    if train:
        loss.backward()
        tensors["expect.grad.input"] = inp.grad
        for n, v in leaves.items():
            if v.requires_grad:
                tensors["expect.grad." + n[len("param."):]] = v.grad
        for prefix, (rm, rv) in stats.items():
            rest = prefix[len("param."):]
            i, _, sub = rest.partition(".")
            key = i + ("." + sub if sub else "")
            tensors["expect.running_mean." + key] = rm
            tensors["expect.running_var." + key] = rv
    desc = (f"direct-encoded 3x{H}x{W} image, T={T}, B={B}; stem + a projected stride-2 block + an "
            f"identity block + avgpool/linear; sigmoid w={WIDTH}, p={p}, thresh {THRESH}, decay "
            f"{DECAY}; CE of the time-mean logits; spike rates per LIF "
            f"{', '.join(f'{r:.2f}' for r in rates)}; smallest |u - thresh| {margin:.2e}; "
            f"seed {seed + attempt}")
    case = {
        "format": 1, "name": name, "description": desc, "time_steps": T, "batch": B,
        "input_shape": [C, H, W], "num_classes": K, "encoder": "direct",
        "neuron": {"decay": DECAY, "thresh": THRESH, "reset": "hard", "surrogate": "sigmoid",
                   "width": WIDTH, "noise_p": p, "train_width": True},
        "layers": spec,
        "loss": {"kind": "ce_mean", "lambda": 0.0, "means": 0.0},
        "mode": mode,
        "tolerance": {"rtol": 1e-4, "atol": 1e-5},
    }
    return case, tensors


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", default=os.path.join(os.path.dirname(__file__), "..", "train", "tests", "golden_resnet"))
    args = ap.parse_args()
    torch.set_default_dtype(torch.float64)
    strided_conv_check(torch.Generator().manual_seed(1))
    os.makedirs(args.out, exist_ok=True)
    for name, mode, p, seed in [("resnet_sig_p0_train", "train", 0.0, 100),
                                ("resnet_sig_p1_train", "train", 1.0, 200),
                                ("resnet_sig_eval", "eval", 0.0, 300)]:
        case, tensors = make_case(name, mode, p, seed)
        with open(os.path.join(args.out, name + ".json"), "w") as f:
            json.dump(case, f, indent=1)
            f.write("\n")
        write_safetensors(os.path.join(args.out, name + ".safetensors"), tensors)
        print(name, case["description"])


if __name__ == "__main__":
    main()
