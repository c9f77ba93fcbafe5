"""PyTorch eval-mode forward of VGGSNN2 (the reference's DVS network: 8 conv3x3-BN-LIF layers,
4 average pools, Linear(512*(s/16)^2 -> 10), LIF u <- 0.5u + I, fire at u >= 0.5, hard reset,
output 0.5*s), timed on random sparse frames. Used by scripts/bench-eval.sh; prints one JSON line.
Weights are random: dense conv cost does not depend on their values."""
import argparse, json, time
import torch
import torch.nn as nn

class LIF(nn.Module):
    def __init__(self, T, decay=0.5, thresh=0.5):
        super().__init__(); self.T, self.decay, self.thresh = T, decay, thresh
    def forward(self, x):  # x: [T*B, ...], t-major
        xs = x.view(self.T, -1, *x.shape[1:]); u = torch.zeros_like(xs[0]); out = []
        for t in range(self.T):
            u = self.decay * u + xs[t]
            s = (u >= self.thresh).to(x.dtype)
            u = u * (1 - s)
            out.append(self.thresh * s)
        return torch.stack(out).view_as(x)

def vggsnn2(T, size, classes=10):
    layers, c = [], 2
    for v in [64, 128, 'P', 256, 256, 'P', 512, 512, 'P', 512, 512, 'P']:
        if v == 'P':
            layers.append(nn.AvgPool2d(2, 2)); size //= 2
        else:
            layers += [nn.Conv2d(c, v, 3, 1, 1, bias=False), nn.BatchNorm2d(v), LIF(T)]; c = v
    return nn.Sequential(*layers, nn.Flatten(1), nn.Linear(c * size * size, classes, bias=False))

def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--batch-size", type=int, default=16); ap.add_argument("--time-steps", type=int, default=10)
    ap.add_argument("--size", type=int, default=48); ap.add_argument("--iters", type=int, default=3)
    ap.add_argument("--threads", type=int, default=2); ap.add_argument("--density", type=float, default=0.1)
    a = ap.parse_args()
    torch.set_num_threads(a.threads); torch.manual_seed(0)
    net = vggsnn2(a.time_steps, a.size).eval()
    B, T = a.batch_size, a.time_steps
    x = torch.rand(B, T, 2, a.size, a.size) * (torch.rand(B, T, 2, a.size, a.size) < a.density)
    def run():
        with torch.inference_mode():
            y = net(x.transpose(0, 1).reshape(T * B, 2, a.size, a.size))
            return y.view(T, B, -1).mean(0)
    run()  # warm-up
    times = []
    for _ in range(max(1, a.iters)):
        t0 = time.perf_counter(); run(); times.append(time.perf_counter() - t0)
    med = sorted(times)[len(times) // 2]
    print(json.dumps({"engine": "pytorch", "torch": torch.__version__, "threads": a.threads,
                      "seconds_per_batch": med, "samples_per_sec": B / med}))

if __name__ == "__main__":
    main()
