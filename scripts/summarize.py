"""Writes <run>/summary.md from the artefacts of scripts/pipeline.sh and prints it.

Reads only what the binaries wrote (metrics.json, eval/report.json, dataset.json, .timing), so
every number in the summary is one the run measured.
"""
import json
import sys
from pathlib import Path

run = Path(sys.argv[1])
dataset = json.loads((run / "data" / "dataset.json").read_text())
metrics = json.loads((run / "train" / "metrics.json").read_text())
report = json.loads((run / "eval" / "report.json").read_text())
epochs = metrics if isinstance(metrics, list) else metrics.get("epochs", metrics.get("history", []))
t0, t_built, t_end = (int(v) for v in (run / ".timing").read_text().split())

best = max(epochs, key=lambda e: e["test_accuracy"])
last = epochs[-1]
classes = report["classes"]
chance = 1.0 / len(classes)
cmp = report.get("compare") or {}
splits = {k: v["samples"] for k, v in dataset["splits"].items()}

lines = [
    f"# spiketrain run: {run}",
    "",
    f"- dataset: {dataset.get('kind', '?')}, {len(classes)} classes, T={dataset['frames']}, "
    f"{dataset['height']}x{dataset['width']}, samples per split {splits}",
    f"- training: {len(epochs)} epochs; best test accuracy {best['test_accuracy']:.4f} (epoch {best['epoch']}), "
    f"last epoch train accuracy {last['train_accuracy']:.4f}, test {last['test_accuracy']:.4f}",
    f"- ONNX Runtime evaluation on `{report['split']}` ({report['samples']} samples): "
    f"**top-1 accuracy {report['accuracy']:.4f}** (chance {chance:.4f}), "
    f"{report['throughput']['model_samples_per_sec']:.1f} samples/s",
]
if cmp:
    lines.append(
        f"- candle vs ONNX Runtime: {cmp['agreement'] * 100:.2f} % identical predictions, "
        f"largest time-mean logit difference {cmp['max_abs_diff_logits']:.3g}"
    )
lines += [
    f"- wall time: build {t_built - t0} s, pipeline {t_end - t_built} s",
    "",
    "| class | accuracy |",
    "|---|---|",
]
for row in report["per_class"]:
    name = row.get("class", row.get("name", "?"))
    acc = row.get("accuracy")
    lines.append(f"| {name} | {'n/a' if acc is None else f'{acc:.3f}'} |")
lines += [
    "",
    "## Artefacts",
    "",
    "| what | where |",
    "|---|---|",
    f"| raw synthetic recordings | `{run}/raw/` |",
    f"| prepared dataset (shards, dataset.json, manifest.parquet) | `{run}/data/` |",
    f"| sample frames (ON green, OFF red) | `{run}/sample_frames.png` |",
    f"| training metrics and curves | `{run}/train/metrics.csv`, `loss.png`, `accuracy.png`, `widths.png` |",
    f"| checkpoints | `{run}/train/best/`, `{run}/train/last/` |",
    f"| ONNX model | `{run}/model.onnx` |",
    f"| evaluation report, confusion matrix | `{run}/eval/report.json`, `confusion.csv`, `confusion.png` |",
]
text = "\n".join(lines) + "\n"
(run / "summary.md").write_text(text)
print(text)
