#!/usr/bin/env bash
# Small-net CPU training benchmark (issue "twice as fast as PyTorch"): one whole `fit` — every
# training step and the test pass of each epoch — of the same small VGG SNN on the same prepared
# dataset, run back to back in one invocation by
#   asgl-train fit                       (this repository)
#   the official ASGL PyTorch code       (only when ASGL_REFERENCE=/path/to/ASGL-SNN is set: a
#                                          checkout of github.com/Windere/ASGL-SNN, not shipped)
#   the same network written from the spec in PyTorch   (scripts/bench_train_small.py --impl spec)
#   SpikingJelly's multi-step LIF with the same layers  (--impl spikingjelly)
# each pinned to the same cores with the same thread count, and prints the ratios.
#
# Cases (CASES, default "small wide"):
#   small  vgg:16,16,P,32,32,P,32,32,P, 2x32x32, T = 8,  batch 32, 2000 train + 500 test, 2 epochs
#   wide   vgg:64,64,P,64,64,P,64,64,P, 2x32x32, T = 16, batch 32,  400 train + 100 test, 2 epochs
# Both: tdBN, ASGL rectangle spike (p = 0.1, learnable width), TET loss, no augmentation.
#
# Env: BENCH_THREADS (2), CASES, IMPLS (default "asgl-train reference spec spikingjelly"),
#      BENCH_DIR (target/bench-train-small), CARGO_TARGET_DIR. Results go to docs/bench-train.md.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
threads="${BENCH_THREADS:-2}"
cases="${CASES:-small wide}"
impls="${IMPLS:-asgl-train reference spec spikingjelly}"
dir="${BENCH_DIR:-$root/target/bench-train-small}"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$root/target}"
bin="$CARGO_TARGET_DIR/release"
cargo build --release --locked -p dvs-fixtures -p dvs-ingest -p asgl-train >&2
# torch's PyPI wheel is CUDA-built and needs its nvidia-* packages to import (see bench-train.sh).
eval "$(SPIKETRAIN_VENV="${SPIKETRAIN_BENCH_VENV:-$root/.venv-bench}" scripts/pyenv.sh \
  numpy torch==2.15.0 spikingjelly==2.0.0)"
pin() { taskset -c "0-$((threads - 1))" "$@"; }

# The dataset of a case: CIFAR10-DVS-layout recordings (AEDAT 2.0) in class folders, ingested
# as a `folder` dataset with the stated 80/20 split, and exported as npz for the PyTorch side.
prepare() { # name frames files_per_class
  local d="$dir/$1"
  [ -f "$d/.ready" ] && return 0
  rm -rf "$d"
  "$bin/dvs-fixtures" --layout cifar10dvs --size tiny --seed 1 --files-per-class "$3" --out "$d/raw" --quiet >&2
  "$bin/dvs-ingest" run --dataset folder --input "$d/raw/CIFAR10-DVS" --output "$d/data" \
    --frames "$2" --split-by number --resize 32 --test-ratio 0.2 --no-progress >&2
  "$bin/dvs-ingest" export --dataset "$d/data" --output "$d/npz" >&2
  rm -rf "$d/raw"
  touch "$d/.ready"
}

declare -A result
run_case() { # name arch frames files_per_class
  local name="$1" arch="$2" frames="$3" d="$dir/$1"
  prepare "$name" "$frames" "$4"
  echo "--- case $name: vgg:$arch, T = $frames, 2x32x32, $(find "$d/npz/train" -name '*.npz' | wc -l) train +" \
    "$(find "$d/npz/test" -name '*.npz' | wc -l) test, batch 32, 2 epochs, $threads threads"
  for impl in $impls; do
    local start end wall loop
    case "$impl" in
      asgl-train)
        rm -rf "$d/run"
        start=$(date +%s.%N)
        RAYON_NUM_THREADS="$threads" pin "$bin/asgl-train" fit --data "$d/data" --out "$d/run" \
          --arch "vgg:$arch" --T "$frames" --num_epoch 2 --train_batch_size 32 --val_batch_size 32 \
          --augment false --seed 0 >"$d/asgl-train.log" 2>&1
        end=$(date +%s.%N)
        loop=$(python -c "import json,sys; h=json.load(open(sys.argv[1])); print(sum(e['epoch_s'] for e in h))" \
          "$d/run/metrics.json")
        ;;
      reference | spec | spikingjelly)
        if [ "$impl" = reference ] && [ -z "${ASGL_REFERENCE:-}" ]; then
          echo "$impl: skipped (set ASGL_REFERENCE to a checkout of Windere/ASGL-SNN)"
          continue
        fi
        start=$(date +%s.%N)
        OMP_NUM_THREADS="$threads" pin python scripts/bench_train_small.py --impl "$impl" \
          --data "$d/npz" --arch "$arch" --threads "$threads" ${ASGL_REFERENCE:+--reference "$ASGL_REFERENCE"} \
          >"$d/$impl.json"
        end=$(date +%s.%N)
        loop=$(python -c "import json,sys; print(json.load(open(sys.argv[1]))['epochs_s'])" "$d/$impl.json")
        ;;
      *) echo "unknown implementation $impl" >&2; exit 2 ;;
    esac
    wall=$(python -c "print(f'{$end - $start:.1f}')")
    result["$name/$impl"]="$wall $loop"
    printf '%-13s process wall %7.1f s   epochs (train + test) %7.1f s\n' "$impl" "$wall" "$loop"
  done
  local base=""
  for ref in reference spec; do
    [ -n "${result[$name/$ref]:-}" ] && { base="$ref"; break; }
  done
  if [ -n "$base" ] && [ -n "${result[$name/asgl-train]:-}" ]; then
    read -r bw bl <<<"${result[$name/$base]}"
    for impl in $impls; do
      [ -n "${result[$name/$impl]:-}" ] || continue
      read -r w l <<<"${result[$name/$impl]}"
      python -c "print(f'{\"$impl\":<13} / $base: process wall {$w / $bw:.2f}x, epochs {$l / $bl:.2f}x')"
    done
  fi
}

echo "machine: $(nproc) cores, $(python -c 'import torch; print("torch", torch.__version__)'), load average: $(cut -d' ' -f1-3 /proc/loadavg)"
for c in $cases; do
  case "$c" in
    small) run_case small "16,16,P,32,32,P,32,32,P" 8 250 ;;
    wide) run_case wide "64,64,P,64,64,P,64,64,P" 16 50 ;;
    *) echo "unknown case $c" >&2; exit 2 ;;
  esac
done
echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
