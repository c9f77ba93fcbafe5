#!/usr/bin/env bash
# End-to-end check on the `tiny` synthetic set (called by scripts/test.sh): runs the whole chain
# (fixtures -> ingest -> train a few steps -> export -> ort eval) and then validates every artefact:
# shards and manifest open, PNGs decode, the ONNX file passes the onnx checker and runs in Python's
# onnxruntime with the same predictions as asgl-eval reported, reports are self-consistent.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
export RUN="${RUN:-target/e2e-tiny}" SIZE=tiny EPOCHS="${EPOCHS:-2}" RESIZE=32 ARCH="vgg:8,P,16,P" BATCH=8
[ -n "${ORT_DYLIB_PATH:-}" ] || eval "$(bash scripts/provision-ort.sh)"
eval "$(bash scripts/pyenv.sh numpy onnx==1.23.2 onnxruntime==1.31.1 pandas pyarrow)"
bash scripts/pipeline.sh
python scripts/summarize.py "$RUN" > /dev/null
python scripts/check_artefacts.py "$RUN"
