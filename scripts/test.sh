#!/usr/bin/env bash
# The full test suite (README command 2; .ci/run calls it). Provisions everything the tests need on a
# fresh machine: system libraries, the ONNX Runtime library for `ort`, and a Python venv with the
# reference packages used by the portability checks. Then runs every crate's tests in release mode
# (candle's convolutions are ~30x slower unoptimised) and the end-to-end check on the tiny set.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
bash scripts/setup-system.sh
eval "$(bash scripts/provision-ort.sh)"
eval "$(bash scripts/pyenv.sh numpy onnx==1.23.2 onnxruntime==1.31.1 pandas pyarrow)"
export SPIKETRAIN_PYTHON="$VIRTUAL_ENV/bin/python"
cargo test --workspace --release --locked "$@"
bash scripts/e2e-tiny.sh
bash scripts/e2e-sensor.sh
