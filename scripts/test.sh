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
eval "$(bash scripts/pyenv.sh numpy onnx==1.23.2 onnxruntime==1.31.1 pandas pyarrow maturin pytest)"
export SPIKETRAIN_PYTHON="$VIRTUAL_ENV/bin/python"
cargo test --workspace --release --locked "$@"
# The Python package (python/): its abi3 wheel (maturin resolves features for the package alone,
# so the crates it uses compile once more, a few minutes on 2 cores), installed into the venv, then pytest
# (which runs the release binaries and examples the cargo tests just built).
maturin build --release --locked --quiet -m python/Cargo.toml -o target/wheels
pip install --quiet --force-reinstall --no-deps target/wheels/spiketrain-*-abi3-*.whl
python -m pytest -q -p no:cacheprovider python/tests
bash scripts/e2e-tiny.sh
bash scripts/e2e-sensor.sh
