"""Validates every artefact of a scripts/pipeline.sh run (used by scripts/e2e-tiny.sh in CI).

Checks content, not just existence: the manifest opens in pandas and agrees with dataset.json,
shards carry the format's magic numbers, PNGs are well-formed (chunk CRCs), the ONNX model passes
the onnx checker and runs in Python's onnxruntime with consistent outputs, and the evaluation
report agrees with its own confusion matrix and per-sample predictions.
"""
import csv
import json
import struct
import sys
import zlib
from pathlib import Path

import numpy as np
import onnx
import onnxruntime
import pandas as pd

run = Path(sys.argv[1])
checks = []


def check(name, ok, detail=""):
    checks.append((name, bool(ok), detail))


def png_ok(path):
    data = path.read_bytes()
    if data[:8] != b"\x89PNG\r\n\x1a\n":
        return False, "bad signature"
    pos, chunks, width, height = 8, [], 0, 0
    while pos < len(data):
        (length,) = struct.unpack(">I", data[pos:pos + 4])
        kind = data[pos + 4:pos + 8]
        body = data[pos + 8:pos + 8 + length]
        (crc,) = struct.unpack(">I", data[pos + 8 + length:pos + 12 + length])
        if zlib.crc32(kind + body) != crc:
            return False, f"bad CRC in {kind!r}"
        if kind == b"IHDR":
            width, height = struct.unpack(">II", body[:8])
        chunks.append(kind)
        pos += 12 + length
    ok = chunks[0] == b"IHDR" and chunks[-1] == b"IEND" and b"IDAT" in chunks and width > 0 and height > 0
    return ok, f"{width}x{height}"


# prepared dataset
data = run / "data"
info = json.loads((data / "dataset.json").read_text())
total = 0
for split, s in info["splits"].items():
    check(f"split {split} has samples", s["samples"] > 0, s["samples"])
    total += s["samples"]
    for shard in s["shards"]:
        raw = (data / shard).read_bytes()
        check(f"shard {shard} magic", raw[:8] == b"DVSFSHRD" and b"DVSFINDX" in raw[-64:], len(raw))
manifest = pd.read_parquet(data / "manifest.parquet")
check("manifest rows == dataset samples", len(manifest) == total, f"{len(manifest)} vs {total}")
need = {"sample_id", "source_file", "label", "class_name", "split", "t_start", "t_end", "event_count", "shard", "checksum"}
check("manifest columns", need <= set(manifest.columns), sorted(need - set(manifest.columns)))
check("manifest labels in range", manifest["label"].between(0, len(info["classes"]) - 1).all())
check("manifest event counts positive", (manifest["event_count"] > 0).all())
check("manifest windows ordered", (manifest["t_end"] >= manifest["t_start"]).all())

# pictures
for png in [run / "sample_frames.png", run / "train" / "loss.png", run / "train" / "accuracy.png",
            run / "train" / "widths.png", run / "eval" / "confusion.png"]:
    ok, detail = png_ok(png) if png.exists() else (False, "missing")
    check(f"png {png.relative_to(run)}", ok, detail)

# training
metrics = json.loads((run / "train" / "metrics.json").read_text())
epochs = metrics if isinstance(metrics, list) else metrics.get("epochs", metrics.get("history", []))
with open(run / "train" / "metrics.csv") as f:
    csv_rows = list(csv.DictReader(f))
check("metrics.csv has one row per epoch", len(csv_rows) == len(epochs) > 0, len(csv_rows))
check("losses finite", all(np.isfinite(e["train_loss"]) and np.isfinite(e["test_loss"]) for e in epochs))
for ck in ["best", "last"]:
    for f in ["model.safetensors", "config.json"]:
        check(f"checkpoint {ck}/{f}", (run / "train" / ck / f).stat().st_size > 0)

# ONNX model
model_path = run / "model.onnx"
model = onnx.load(str(model_path))
onnx.checker.check_model(model, full_check=True)
check("onnx checker (full)", True)
meta = {p.key: p.value for p in model.metadata_props}
check("onnx metadata has classes", "classes" in meta and len(json.loads(meta["classes"])) == len(info["classes"]))
sess = onnxruntime.InferenceSession(str(model_path), providers=["CPUExecutionProvider"])
inp = sess.get_inputs()[0]
t, c, h, w = inp.shape[1:]
check("onnx input matches dataset", (t, h, w) == (info["frames"], info["height"], info["width"]), inp.shape)
rng = np.random.default_rng(0)
x = (rng.random((3, t, c, h, w)) < 0.2).astype(np.float32)
outs = dict(zip([o.name for o in sess.get_outputs()], sess.run(None, {inp.name: x})))
per_step, mean = outs["logits_per_step"], outs["logits"]
k = len(info["classes"])
check("onnx output shapes", per_step.shape == (t, 3, k) and mean.shape == (3, k), (per_step.shape, mean.shape))
check("onnx logits = time-mean of per-step logits", np.allclose(per_step.mean(0), mean, atol=1e-5))

# evaluation report
report = json.loads((run / "eval" / "report.json").read_text())
conf = np.array(report["confusion"])
check("confusion sums to samples", conf.sum() == report["samples"], (conf.sum(), report["samples"]))
check("confusion diagonal == correct", np.trace(conf) == report["correct"])
check("accuracy == correct / samples", abs(report["accuracy"] - report["correct"] / report["samples"]) < 1e-9)
with open(run / "eval" / "predictions.csv") as f:
    preds = list(csv.reader(f))
rows = [r for r in preds if r and r[0] != "sample_id" and r[0] != "key"]
check("predictions.csv one row per sample", len(rows) == report["samples"], len(rows))
check("predictions.csv matches accuracy", sum(int(r[1]) == int(r[2]) for r in rows) == report["correct"])
check("test split fully evaluated", report["samples"] == info["splits"][report["split"]]["samples"])
# What candle <-> ONNX Runtime guarantee (README): the same predicted class for every sample, and
# finite logits that agree up to spikes flipping near the threshold (BN folding and a different
# summation order move the membrane potential by rounding), so the logit difference is reported and
# must be finite, but is not bounded by a tolerance.
cmp = report.get("compare")
check("candle comparison reported", cmp is not None)
if cmp is not None:
    check("candle comparison covers every evaluated sample", cmp["samples"] == report["samples"],
          (cmp["samples"], report["samples"]))
    check("candle and ONNX Runtime predict the same class for every sample",
          cmp["identical_predictions"] == cmp["samples"] and cmp["agreement"] == 1.0,
          f'{cmp["identical_predictions"]}/{cmp["samples"]}')
    check("candle accuracy == ONNX Runtime accuracy", abs(cmp["candle_accuracy"] - report["accuracy"]) < 1e-9,
          (cmp["candle_accuracy"], report["accuracy"]))
    check("candle vs ONNX Runtime logit differences finite",
          all(isinstance(cmp[k], (int, float)) and np.isfinite(cmp[k]) and cmp[k] >= 0
              for k in ("max_abs_diff_logits", "max_abs_diff_per_step")),
          (cmp["max_abs_diff_logits"], cmp["max_abs_diff_per_step"]))
check("summary.md written", (run / "summary.md").stat().st_size > 0)

failed = [c for c in checks if not c[1]]
for name, ok, detail in checks:
    print(f"{'ok  ' if ok else 'FAIL'} {name} {detail if detail != '' else ''}")
print(f"e2e-tiny: {len(checks) - len(failed)} passed, {len(failed)} failed")
sys.exit(1 if failed else 0)
