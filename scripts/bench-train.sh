#!/usr/bin/env bash
# Training-step benchmark: `asgl-train bench` (candle, CPU) side by side with a minimal PyTorch
# implementation of the same VGGSNN2 step (scripts/bench_train_torch.py), both on 2 CPU cores.
# Usage: scripts/bench-train.sh [--batch-size 16] [--T 10] [--size 48] [--steps 3] [--warmup 1]
# Env: BENCH_THREADS (default 2), BENCH_UNFUSED=1 also times candle's unfused LIF loop.
# Each run is wrapped in /usr/bin/time -v and its peak resident memory is printed.
# Results are recorded in docs/bench-train.md.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
args=("$@")
threads="${BENCH_THREADS:-2}"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$root/target}"
cargo build --release -p asgl-train >&2
# torch: the PyPI wheel pulls multi-GB CUDA packages; install the CPU-usable core without deps.
eval "$(scripts/pyenv.sh numpy filelock typing-extensions sympy networkx jinja2 fsspec)"
if ! python -c "import torch" 2>/dev/null; then
  (flock 9; python -m pip install -q --no-deps torch==2.15.0 >&2) 9>"$root/.venv.lock"
fi
if ! python -c "import torch" 2>/dev/null; then
  # The PyPI torch 2.15.0 wheel is CUDA-built and will not import without its nvidia-* packages
  # (measured: ValueError libcublasLt not found), so fall back to the full install (~6 GB).
  (flock 9; python -m pip install -q torch==2.15.0 >&2) 9>"$root/.venv.lock"
fi
echo "machine: $(nproc) cores, load average: $(cut -d' ' -f1-3 /proc/loadavg)"
timelog="$(mktemp)"
trap 'rm -f "$timelog"' EXIT
peak() {
  echo "peak RSS: $(awk -F': ' '/Maximum resident set size/ {printf "%.2f GB", $2 / 1048576}' "$timelog");" \
    "CPU: $(awk -F': ' '/User time/ {u=$2} /System time/ {s=$2} END {printf "user %.1f s, system %.1f s", u, s}' "$timelog")"
}
candle() {
  RAYON_NUM_THREADS="$threads" CANDLE_NUM_THREADS="$threads" taskset -c 0-$((threads - 1)) \
    /usr/bin/time -v -o "$timelog" "$CARGO_TARGET_DIR/release/asgl-train" bench "$@"
  peak
}
echo "--- candle (asgl-train bench, fused LIF op), RAYON_NUM_THREADS=$threads"
candle "${args[@]}"
if [ "${BENCH_UNFUSED:-0}" = 1 ]; then
  echo "--- candle (asgl-train bench --unfused), RAYON_NUM_THREADS=$threads"
  candle --unfused "${args[@]}"
fi
# asgl-train turns glibc's mmap off for malloc (dvs_frames::allocator::retain_all_buffers); PyTorch
# is timed both as installed and with the same malloc setting, so neither side gets an edge from it.
for malloc in default heap-only; do
  tunables="${GLIBC_TUNABLES:-}"
  [ "$malloc" = heap-only ] && tunables="glibc.malloc.mmap_max=0:glibc.malloc.trim_threshold=68719476736:glibc.malloc.arena_max=1"
  echo "--- pytorch (scripts/bench_train_torch.py), threads=$threads, malloc $malloc"
  GLIBC_TUNABLES="$tunables" OMP_NUM_THREADS="$threads" taskset -c 0-$((threads - 1)) \
    /usr/bin/time -v -o "$timelog" python scripts/bench_train_torch.py --threads "$threads" "${args[@]}" | sed -n 1p
  peak
done
echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
