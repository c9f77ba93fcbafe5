#!/usr/bin/env bash
# VGGSNN2 eval throughput (batch 16, T=10, 2x48x48) on 2 cores: ONNX Runtime (asgl-eval's exported
# graph) vs the candle forward (asgl-train's network) vs a PyTorch eager forward of the same
# architecture. Results go to stdout as a table and to runs/bench-eval/results.json.
#
# Usage: scripts/bench-eval.sh [ITERS]        (env: CORES=0,1  BATCH=16  T=10  SIZE=48)
# Needs: cargo, python3 + pip (torch 2.15.0 is installed into ./.venv with --no-deps: CPU use only).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
iters="${1:-3}"; cores="${CORES:-0,1}"; batch="${BATCH:-16}"; t="${T:-10}"; size="${SIZE:-48}"
threads=$(( $(echo "$cores" | tr ',' '\n' | wc -l) ))
out="$root/runs/bench-eval"; mkdir -p "$out"

eval "$(scripts/provision-ort.sh)"
cargo build --release -q -p asgl-eval
bin="${CARGO_TARGET_DIR:-$root/target}/release/asgl-eval"

# torch: the PyPI wheel's CUDA dependencies are not needed for a CPU forward.
if ! "$root/.venv/bin/python" -c "import torch" 2>/dev/null; then
  scripts/pyenv.sh >/dev/null
  (flock 9; "$root/.venv/bin/python" -m pip install -q --no-deps torch==2.15.0 &&
     "$root/.venv/bin/python" -m pip install -q filelock typing_extensions sympy networkx jinja2 fsspec mpmath markupsafe) 9>"$root/.venv.lock"
fi

echo "== ort + candle (asgl-eval bench --vggsnn2), cores $cores, $threads threads" >&2
RAYON_NUM_THREADS=$threads taskset -c "$cores" "$bin" bench --vggsnn2 "$out" --time-steps "$t" --size "$size" \
  --batch-size "$batch" --iters "$iters" --threads "$threads" --json "$out/rust.json" >&2
echo "== pytorch" >&2
OMP_NUM_THREADS=$threads taskset -c "$cores" "$root/.venv/bin/python" scripts/bench_eval_torch.py \
  --batch-size "$batch" --time-steps "$t" --size "$size" --iters "$iters" --threads "$threads" > "$out/torch.json"

python3 - "$out" "$batch" "$t" "$size" "$threads" <<'PY'
import json, sys
out, batch, t, size, threads = sys.argv[1:]
rust = json.load(open(f"{out}/rust.json")); torch = json.load(open(f"{out}/torch.json"))
rows = [("ort", rust["ort"]), ("candle", rust["candle"]), (f"pytorch {torch['torch']}", torch)]
base = torch["samples_per_sec"]
print(f"VGGSNN2 eval, batch {batch}, T={t}, 2x{size}x{size}, {threads} threads")
print(f"{'engine':<20} {'s/batch':>10} {'samples/s':>10} {'vs pytorch':>11}")
for name, r in rows:
    print(f"{name:<20} {r['seconds_per_batch']:>10.3f} {r['samples_per_sec']:>10.2f} {r['samples_per_sec']/base:>10.2f}x")
json.dump({"batch": int(batch), "T": int(t), "size": int(size), "threads": int(threads),
           "ort": rust["ort"], "candle": rust["candle"], "pytorch": torch}, open(f"{out}/results.json", "w"), indent=1)
PY
