#!/usr/bin/env bash
# Whole-ingest benchmark: dvs-ingest vs SpikingJelly 2.0.0 vs tonic 1.7.0 on the same
# synthetic CIFAR10-DVS (AEDAT 2.0) and DVS128 Gesture (AEDAT 3.1) files, to the same
# frames (T=10, split by event number / tonic n_time_bins), 2 workers each, in one run.
#
# Usage: scripts/bench-ingest.sh [WORKDIR]
#   env: SIZE=full|small|tiny (default full), FILES_PER_CLASS (default: the size's), USERS
#        (default: the size's), JOBS=2, FRAMES=10, SEED=7, SKIP_PYTHON=1 to time dvs-ingest only,
#        REPEAT=1 (dvs-ingest measurements repeated, fastest reported; the Python tools run once),
#        FORMATS="evt2 evt3 dat atis npy" (the newer formats, `--dataset folder`, against tonic's
#        readers + ToFrame(n_time_bins); "" skips them), FORMAT_FILES=100 per class (2 classes),
#        FORMAT_EVENTS=200000 per file (200 files, 40 M events per format), DATASETS="cifar10dvs gesture" ("" skips them).
# Baseline "read raw files" = reading every file into memory (page cache warm), measured by
# `dvs-ingest bench` with the same thread count.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
work="${1:-${TMPDIR:-/tmp}/spiketrain-bench-ingest}"
size="${SIZE:-full}"; jobs="${JOBS:-2}"; frames="${FRAMES:-10}"; seed="${SEED:-7}"; repeat="${REPEAT:-1}"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$root/target}"
cargo build --release -q -p dvs-fixtures -p dvs-ingest
bin="$CARGO_TARGET_DIR/release"
mkdir -p "$work"
extra=()
[ -n "${FILES_PER_CLASS:-}" ] && extra+=(--files-per-class "$FILES_PER_CLASS")
[ -n "${USERS:-}" ] && extra+=(--users "$USERS")
tag="$size-${FILES_PER_CLASS:-d}-${USERS:-d}-$seed"
datasets="${DATASETS-cifar10dvs gesture}"
for layout in $datasets; do
  if [ ! -e "$work/data-$tag/$layout.done" ]; then
    "$bin/dvs-fixtures" --layout "$layout" --size "$size" --out "$work/data-$tag/$layout" --seed "$seed" --quiet "${extra[@]}" >/dev/null
    touch "$work/data-$tag/$layout.done"
  fi
done
cifar_in="$work/data-$tag/cifar10dvs/CIFAR10-DVS"
gesture_in="$work/data-$tag/gesture/DvsGesture"
py=""
if [ "${SKIP_PYTHON:-0}" != 1 ]; then
  # scripts/pyenv.sh only creates/activates the shared venv here: with `set -o pipefail` its
  # "already installed?" probe exits early for a missing package, so install with pip directly.
  eval "$(scripts/pyenv.sh)"
  python -m pip show tonic >/dev/null 2>&1 || python -m pip install -q numpy tonic==1.7.0
  # spikingjelly's wheel pulls torch; its event readers and integration are numpy only
  # (bench_ingest_python.py stubs torch when it is absent and reports torch_stub).
  python -m pip show spikingjelly >/dev/null 2>&1 || python -m pip install -q --no-deps spikingjelly==2.0.0
  py=python
fi
echo "# bench-ingest: size=$size files-per-class=${FILES_PER_CLASS:-default} users=${USERS:-default} jobs=$jobs frames=$frames"
echo "# $(nproc) cores visible; $(date -u +%FT%TZ); load average $(cut -d' ' -f1-3 /proc/loadavg); repeat=$repeat"
for ds in $datasets; do
  input="$cifar_in"; [ "$ds" = gesture ] && input="$gesture_in"
  cat "$(find "$input" -type f | head -1)" >/dev/null   # touch the page cache
  find "$input" -type f -exec cat {} + >/dev/null
  out="$work/out-$ds"; rm -rf "$out"
  ours="$("$bin/dvs-ingest" bench --dataset "$ds" --input "$input" --output "$out" --jobs "$jobs" \
          --frames "$frames" --split-by number --repeat "$repeat" 2>/dev/null)"
  echo; echo "## $ds"; echo "$ours"
  ingest_s="$(echo "$ours" | awk '/full ingest/ {print $(NF-1)}')"
  read_s="$(echo "$ours" | awk '/read raw files/ {print $(NF-1)}')"
  if [ -n "$py" ]; then
    for tool in sj tonic; do
      res="$($py scripts/bench_ingest_python.py --tool "$tool" --dataset "$ds" --input "$input" --frames "$frames" --workers "$jobs")"
      secs="$(echo "$res" | $py -c 'import json,sys; print(json.load(sys.stdin)["seconds"])')"
      echo "$tool: $res"
      echo "$tool / dvs-ingest = $(awk -v a="$secs" -v b="$ingest_s" 'BEGIN {printf "%.1fx", a / b}')"
    done
  fi
  echo "dvs-ingest / read raw = $(awk -v a="$ingest_s" -v b="$read_s" 'BEGIN {printf "%.2fx", a / b}')"
done

# The newer formats: one `folder` dataset per format (ingest/examples/format-folders.rs: Prophesee
# EVT 2.0 / EVT 3.0 / DAT on 320x240, ATIS .bin on 34x34, tonic-layout .npy), the same frames
# (T, tonic n_time_bins) by `dvs-ingest bench --dataset folder --split-by tonic-time-bins` and by
# tonic (expelliarmus for Prophesee as tonic's datasets use it, tonic.io.read_mnist_file, np.load;
# then tonic.functional.to_frame_numpy), same worker count.
formats="${FORMATS-evt2 evt3 dat atis npy}"
if [ -n "$formats" ]; then
  ftag="${FORMAT_FILES:-100}-${FORMAT_EVENTS:-200000}"
  if [ ! -e "$work/formats-$ftag/.done" ]; then
    cargo build --release -q -p dvs-ingest --example format-folders
    "$bin/examples/format-folders" "$work/formats-$ftag" "${FORMAT_FILES:-100}" "${FORMAT_EVENTS:-200000}" >/dev/null
    touch "$work/formats-$ftag/.done"
  fi
  if [ -n "$py" ]; then python -m pip show expelliarmus >/dev/null 2>&1 || python -m pip install -q expelliarmus; fi
  for fmt in $formats; do
    input="$work/formats-$ftag/$fmt"
    sensor=320x240; [ "$fmt" = atis ] && sensor=34x34
    find "$input" -type f -exec cat {} + >/dev/null
    out="$work/out-$fmt"; rm -rf "$out"
    ours="$("$bin/dvs-ingest" bench --dataset folder --input "$input" --output "$out" --jobs "$jobs" \
            --frames "$frames" --split-by tonic-time-bins --sensor "$sensor" --repeat "$repeat" 2>/dev/null)"
    echo; echo "## $fmt (folder, $sensor)"; echo "$ours"
    ingest_s="$(echo "$ours" | awk '/full ingest/ {print $(NF-1)}')"
    if [ -n "$py" ]; then
      # `bench` leaves no output: write it once more (untimed) so that the Python side can check
      # tonic's frames of a sample of the files against ours (frames_equal = samples compared).
      "$bin/dvs-ingest" run --dataset folder --input "$input" --output "$out" --jobs "$jobs" \
        --frames "$frames" --split-by tonic-time-bins --sensor "$sensor" >/dev/null 2>&1
      res="$($py scripts/bench_ingest_python.py --tool tonic --dataset "$fmt" --input "$input" --sensor "$sensor" --frames "$frames" --workers "$jobs" --check-output "$out")"
      secs="$(echo "$res" | $py -c 'import json,sys; print(json.load(sys.stdin)["seconds"])')"
      echo "tonic: $res"
      echo "tonic / dvs-ingest = $(awk -v a="$secs" -v b="$ingest_s" 'BEGIN {printf "%.1fx", a / b}')"
    fi
  done
fi
