#!/usr/bin/env bash
# The whole chain on synthetic recordings in the real on-disk layouts:
#   dvs-fixtures -> dvs-ingest run/inspect -> asgl-train fit -> asgl-train export -> asgl-eval
# Shared by scripts/demo.sh (README command 1, `small` set) and scripts/e2e-tiny.sh (CI, `tiny` set).
#
# Settings come from the environment (defaults in brackets):
#   RUN      run folder for every artefact                          [runs/demo]
#   LAYOUT   gesture (AEDAT 3.1) | cifar10dvs (AEDAT 2.0)           [gesture]
#   SIZE     tiny | small | full                                    [small]
#   SEED     one seed for data, shuffling, init and noise masks     [1]
#   FRAMES   T                                                      [10]
#   RESIZE   frame side after area-averaging resize                 [32]
#   ARCH     asgl-train --arch                                      [vgg:16,P,32,P,64,P]
#   EPOCHS   training epochs                                        [30]
#   BATCH    training batch size                                    [16]
#   LR       SGD learning rate                                      [0.1]
#   FLIP     horizontal-flip augmentation (true | false)   [false for gesture, else true]
#            (a flipped right-hand wave is a left-hand wave, so Gesture trains without it)
#   EXTRA_FIXTURE_ARGS more dvs-fixtures flags (e.g. "--files-per-class 10" or "--users 8")
#   EXTRA_TRAIN_ARGS   more asgl-train fit flags
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"

RUN="${RUN:-runs/demo}"
LAYOUT="${LAYOUT:-gesture}"
SIZE="${SIZE:-small}"
SEED="${SEED:-1}"
FRAMES="${FRAMES:-10}"
RESIZE="${RESIZE:-32}"
ARCH="${ARCH:-vgg:16,P,32,P,64,P}"
EPOCHS="${EPOCHS:-30}"
BATCH="${BATCH:-16}"
LR="${LR:-0.1}"
case "${LAYOUT:-gesture}" in gesture) default_flip=false ;; *) default_flip=true ;; esac
FLIP="${FLIP:-$default_flip}"
EXTRA_FIXTURE_ARGS="${EXTRA_FIXTURE_ARGS:-}"
EXTRA_TRAIN_ARGS="${EXTRA_TRAIN_ARGS:-}"

case "$LAYOUT" in
  gesture) dataset=gesture; raw_sub=DvsGesture ;;
  cifar10dvs) dataset=cifar10dvs; raw_sub=CIFAR10-DVS ;;
  cifar10dvs-aedat4) dataset=cifar10dvs-aedat4; raw_sub=CIFAR10DVS-aedat4 ;;
  *) echo "pipeline: unknown LAYOUT=$LAYOUT (gesture | cifar10dvs | cifar10dvs-aedat4)" >&2; exit 2 ;;
esac

bin="${CARGO_TARGET_DIR:-$root/target}/release"
step() { printf '\n==> %s\n' "$*"; }
t0=$(date +%s)

step "building release binaries"
cargo build --release --locked -p dvs-fixtures -p dvs-ingest -p asgl-train -p asgl-eval
t_built=$(date +%s)

rm -rf "$RUN"
mkdir -p "$RUN"

step "1/6 synthetic $LAYOUT recordings ($SIZE) -> $RUN/raw"
# shellcheck disable=SC2086
"$bin/dvs-fixtures" --layout "$LAYOUT" --size "$SIZE" --seed "$SEED" --out "$RUN/raw" --quiet $EXTRA_FIXTURE_ARGS

step "2/6 dvs-ingest run -> $RUN/data"
"$bin/dvs-ingest" run --dataset "$dataset" --input "$RUN/raw/$raw_sub" --output "$RUN/data" \
  --frames "$FRAMES" --split-by number --resize "$RESIZE" --no-progress

step "3/6 dvs-ingest inspect -> $RUN/sample_frames.png"
"$bin/dvs-ingest" inspect --dataset "$RUN/data" --png "$RUN/sample_frames.png" | tee "$RUN/dataset_stats.txt"

step "4/6 asgl-train fit -> $RUN/train"
# shellcheck disable=SC2086
"$bin/asgl-train" fit --data "$RUN/data" --out "$RUN/train" --arch "$ARCH" --num_epoch "$EPOCHS" \
  --train_batch_size "$BATCH" --lr "$LR" --seed "$SEED" --T "$FRAMES" --flip "$FLIP" $EXTRA_TRAIN_ARGS

step "5/6 asgl-train export -> $RUN/model.onnx"
"$bin/asgl-train" export --checkpoint "$RUN/train/best" --out "$RUN/model.onnx"

step "6/6 asgl-eval (ONNX Runtime) -> $RUN/eval"
"$bin/asgl-eval" --model "$RUN/model.onnx" --data "$RUN/data" --split test --out "$RUN/eval" \
  --compare-checkpoint "$RUN/train/best" --quiet
t_end=$(date +%s)

echo "$t0 $t_built $t_end" > "$RUN/.timing"
