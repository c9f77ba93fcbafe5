#!/usr/bin/env bash
# Provisions the ONNX Runtime shared library that `asgl-eval` (ort, load-dynamic) opens at run time.
#
# ort cannot download its own binaries in this project (no internet beyond package registries), so the
# library is taken from the official `onnxruntime` PyPI wheel, which ships
# onnxruntime/capi/libonnxruntime.so.<version>. The wheel is fetched with pip (no install, no deps),
# the .so is unzipped into <repo>/.ort/ (git-ignored), and the path is printed as an export line:
#
#   eval "$(scripts/provision-ort.sh)"          # exports ORT_DYLIB_PATH for this shell
#   scripts/provision-ort.sh --print-path       # prints only the library path
#
# Idempotent: when .ort/ already holds the library, nothing is downloaded. Safe to call concurrently
# (flock). Linux x86_64 only (the wheel tag is pinned so the host Python version does not matter).
set -euo pipefail

ORT_VERSION="${ORT_VERSION:-1.31.1}"
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
ort_dir="$root/.ort"
lib="$ort_dir/libonnxruntime.so.$ORT_VERSION"
wheel_dir="$root/.whl"

print_path_only=0
[ "${1:-}" = "--print-path" ] && print_path_only=1

mkdir -p "$ort_dir"
exec 8>"$ort_dir/.lock"
flock 8

if [ ! -s "$lib" ]; then
  case "$(uname -s)-$(uname -m)" in
    Linux-x86_64) platform="manylinux_2_28_x86_64" ;;
    Linux-aarch64) platform="manylinux_2_28_aarch64" ;;
    *) echo "provision-ort: unsupported platform $(uname -s)-$(uname -m); set ORT_DYLIB_PATH to an ONNX Runtime $ORT_VERSION library yourself" >&2; exit 1 ;;
  esac
  command -v unzip >/dev/null || { echo "provision-ort: unzip is required (scripts/setup-system.sh installs it)" >&2; exit 1; }
  python=""
  for candidate in python3 python; do
    if command -v "$candidate" >/dev/null && "$candidate" -m pip --version >/dev/null 2>&1; then python="$candidate"; break; fi
  done
  [ -n "$python" ] || { echo "provision-ort: needs python3 with pip to download the onnxruntime==$ORT_VERSION wheel" >&2; exit 1; }
  mkdir -p "$wheel_dir"
  echo "provision-ort: downloading onnxruntime==$ORT_VERSION ($platform) wheel with pip" >&2
  "$python" -m pip download -q --no-deps --only-binary=:all: \
    --platform "$platform" --python-version 3.11 \
    "onnxruntime==$ORT_VERSION" -d "$wheel_dir" >&2
  wheel="$(ls "$wheel_dir"/onnxruntime-"$ORT_VERSION"-*"$platform"*.whl 2>/dev/null | head -n1)"
  [ -n "$wheel" ] || { echo "provision-ort: pip did not produce an onnxruntime-$ORT_VERSION wheel in $wheel_dir" >&2; exit 1; }
  tmp="$(mktemp -d "$ort_dir/.extract.XXXXXX")"
  trap 'rm -rf "$tmp"' EXIT
  unzip -q -o "$wheel" "onnxruntime/capi/libonnxruntime.so.$ORT_VERSION" -d "$tmp"
  # Atomic publish: a concurrent reader never sees a half-written library.
  mv -f "$tmp/onnxruntime/capi/libonnxruntime.so.$ORT_VERSION" "$lib.tmp"
  sync "$lib.tmp" 2>/dev/null || true
  mv -f "$lib.tmp" "$lib"
  echo "provision-ort: installed $lib" >&2
fi

if [ "$print_path_only" -eq 1 ]; then
  echo "$lib"
else
  echo "export ORT_DYLIB_PATH='$lib'"
fi
