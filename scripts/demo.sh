#!/usr/bin/env bash
# README command 1: the main job end to end on the built-in synthetic data, on CPU.
#   synthetic DVS128 Gesture (AEDAT 3.1, `small`) -> dvs-ingest -> asgl-train (ASGL spiking VGG)
#   -> ONNX export -> asgl-eval with ONNX Runtime on the held-out users -> runs/demo/summary.md
# Provisions what it needs (system libraries, the ONNX Runtime library). Settings: see
# scripts/pipeline.sh (e.g. `LAYOUT=cifar10dvs scripts/demo.sh` for the CIFAR10-DVS layout).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
bash scripts/setup-system.sh
eval "$(bash scripts/provision-ort.sh)"
export RUN="${RUN:-runs/demo}"
bash scripts/pipeline.sh
python3 scripts/summarize.py "$RUN"
