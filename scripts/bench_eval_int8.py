"""Experiment behind docs/bench-eval.md's "what would it take" section: the exported VGGSNN2 model
(fp32, as asgl-eval runs it) against a copy whose convolutions ONNX Runtime's own static
quantizer turned into QDQ int8 (per-channel s8 weights, u8 activations, conv outputs requantized
to u8 — lossy), both on ONNX Runtime with 2 threads, plus the per-op-type time split of each.
Random sparse frames (10 % non-zero), batch 16; weights are whatever the model holds.

Usage (after scripts/bench-eval.sh has written runs/bench-eval/vggsnn2.onnx):
  taskset -c 0,1 .venv/bin/python scripts/bench_eval_int8.py runs/bench-eval/vggsnn2.onnx [ITERS]
"""
import collections, json, os, sys, tempfile, time
import numpy as np
import onnx
import onnxruntime as ort
from onnxruntime.quantization import CalibrationDataReader, QuantFormat, QuantType, quantize_static

src = sys.argv[1]
iters = int(sys.argv[2]) if len(sys.argv) > 2 else 3
tmp = tempfile.mkdtemp()
dst = os.path.join(tmp, "int8.onnx")
inp = onnx.load(src).graph.input[0]
_, T, C, H, W = [d.dim_value for d in inp.type.tensor_type.shape.dim]
rng = np.random.default_rng(0)

def frames(b):
    return (rng.random((b, T, C, H, W), dtype=np.float32) * (rng.random((b, T, C, H, W)) < 0.1)).astype(np.float32)

class Calibration(CalibrationDataReader):
    def __init__(self):
        self.left = 2
    def get_next(self):
        self.left -= 1
        return {inp.name: frames(4)} if self.left >= 0 else None

quantize_static(src, dst, Calibration(), quant_format=QuantFormat.QDQ, per_channel=True,
                activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8, op_types_to_quantize=["Conv"])

def session(path, profile=False):
    so = ort.SessionOptions()
    so.intra_op_num_threads, so.inter_op_num_threads = 2, 1
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    so.log_severity_level = 3
    if profile:
        so.enable_profiling = True
        so.profile_file_prefix = os.path.join(tmp, "profile")
    return ort.InferenceSession(path, so, providers=["CPUExecutionProvider"])

x = frames(16)
results = {}
for name, path in [("fp32", src), ("int8-qdq", dst)]:
    s = session(path)
    s.run(None, {inp.name: x})
    times = []
    for _ in range(iters):
        t0 = time.perf_counter()
        out = s.run(None, {inp.name: x})[-1]
        times.append(time.perf_counter() - t0)
    results[name] = (sorted(times)[len(times) // 2], out)
    p = session(path, profile=True)
    p.run(None, {inp.name: x})
    events = json.load(open(p.end_profiling()))
    per_op = collections.Counter()
    for e in events:
        if e.get("cat") == "Node" and e["name"].endswith("_kernel_time"):
            per_op[e["args"]["op_name"]] += e["dur"]
    total = sum(per_op.values())
    split = ", ".join(f"{k} {100 * v / total:.0f}%" for k, v in per_op.most_common(6))
    print(f"{name:9s} {results[name][0]:.3f} s/batch (median of {iters}); time split: {split}")
fp, q = results["fp32"][1], results["int8-qdq"][1]
print(f"int8/fp32 time {results['int8-qdq'][0] / results['fp32'][0]:.2f}; "
      f"argmax agreement {np.mean(fp.argmax(1) == q.argmax(1)):.3f}; max |logit diff| {np.abs(fp - q).max():.3g}")
