#!/usr/bin/env bash
# End-to-end check on a non-square sensor (called by scripts/test.sh, after e2e-tiny.sh): a `folder`
# dataset of 64x48 recordings mixing AEDAT 4 (event-stream info sizeX x sizeY) and Prophesee EVT 3.0
# (`% format ...;height=48;width=64`), written by `ingest/examples/sensor-folder.rs` with the
# dvs-fixtures encoders, goes through dvs-ingest (sensor from the files, seeded split, area resize
# to 24x32 = HxW), asgl-train fit (1 epoch, tiny VGG, flip augmentation on the non-square frames),
# export, and asgl-eval (ONNX Runtime, compared with candle). Then the same artefact checks as the
# tiny run (scripts/check_artefacts.py: the ONNX input must match the dataset's T, H, W) and the
# geometry recorded in dataset.json. Settings: RUN [target/e2e-sensor], SENSOR [64x48],
# RESIZE [24x32], FILES_PER_CLASS [6].
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
RUN="${RUN:-target/e2e-sensor}" SENSOR="${SENSOR:-64x48}" RESIZE="${RESIZE:-24x32}"
FILES_PER_CLASS="${FILES_PER_CLASS:-6}" FRAMES=4
[ -n "${ORT_DYLIB_PATH:-}" ] || eval "$(bash scripts/provision-ort.sh)"
eval "$(bash scripts/pyenv.sh numpy onnx==1.23.2 onnxruntime==1.31.1 pandas pyarrow)"
bin="${CARGO_TARGET_DIR:-$root/target}/release"
step() { printf '\n==> %s\n' "$*"; }
t0=$(date +%s)
step "building release binaries"
# The whole workspace, as `cargo test --workspace` resolved its features: a `-p` build would
# resolve them per package and rebuild most dependencies (minutes on 2 cores).
cargo build --release --locked --workspace --bins --examples
t_built=$(date +%s)
rm -rf "$RUN"
mkdir -p "$RUN"

step "1/6 $SENSOR recordings (AEDAT 4 + EVT 3.0) -> $RUN/raw"
"$bin/examples/sensor-folder" "$RUN/raw" "$SENSOR" "$FILES_PER_CLASS"

step "2/6 dvs-ingest run --dataset folder -> $RUN/data"
"$bin/dvs-ingest" run --dataset folder --input "$RUN/raw" --output "$RUN/data" --frames "$FRAMES" \
  --resize "$RESIZE" --test-ratio 0.34 --no-progress

step "3/6 dvs-ingest inspect -> $RUN/sample_frames.png"
"$bin/dvs-ingest" inspect --dataset "$RUN/data" --png "$RUN/sample_frames.png"

step "4/6 asgl-train fit -> $RUN/train"
"$bin/asgl-train" fit --data "$RUN/data" --out "$RUN/train" --arch "vgg:8,P,16,P" --num_epoch 1 \
  --train_batch_size 4 --lr 0.1 --seed 1 --T "$FRAMES" --flip true

step "5/6 asgl-train export -> $RUN/model.onnx"
"$bin/asgl-train" export --checkpoint "$RUN/train/best" --out "$RUN/model.onnx"

step "6/6 asgl-eval (ONNX Runtime) -> $RUN/eval"
"$bin/asgl-eval" --model "$RUN/model.onnx" --data "$RUN/data" --split test --out "$RUN/eval" \
  --compare-checkpoint "$RUN/train/best" --quiet
echo "$t0 $t_built $(date +%s)" > "$RUN/.timing"

python scripts/summarize.py "$RUN" > /dev/null
python scripts/check_artefacts.py "$RUN"
python - "$RUN" "$SENSOR" "$RESIZE" <<'PY'
import json, sys
run, sensor, resize = sys.argv[1:]
info = json.loads(open(f"{run}/data/dataset.json").read())
w, h = (int(v) for v in sensor.split("x"))
rh, rw = (int(v) for v in resize.split("x"))
p = info["params"]
assert (p["sensor_width"], p["sensor_height"]) == (w, h), p
assert (info["height"], info["width"]) == (rh, rw), (info["height"], info["width"])
assert info["classes"] == sorted(info["classes"]) and len(info["classes"]) == 3, info["classes"]
print(f"geometry ok: sensor {w}x{h} (from the files) -> frames {rh}x{rw} (HxW)")
PY
