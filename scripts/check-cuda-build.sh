#!/usr/bin/env bash
# Proves that the trainer compiles and links with candle's CUDA backend on a machine without a GPU
# or a system CUDA install (not part of CI; takes ~10 minutes on 2 cores).
#
#  1. installs the CUDA 13.4 toolkit from PyPI into ./.cuda-venv (nvcc, cudart, cublas, curand,
#     cccl, crt, nvvm, nvrtc);
#  2. points CUDA_HOME at its nvidia/cu13 folder and adds the unversioned .so links the linker wants;
#  3. builds `asgl-train --features cuda` with CUDA_COMPUTE_CAP=90 (Hopper) into target/cuda-check
#     (or $CUDA_CHECK_TARGET_DIR);
#  4. the driver library (libcuda.so.1) ships with the NVIDIA driver, not on any registry, so the
#     final link uses a stub generated from the undefined cu* symbols; at run time the real driver
#     library is found instead.
# Usage: scripts/check-cuda-build.sh [extra cargo args]
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
venv="$root/.cuda-venv"
if [ ! -x "$venv/bin/python" ]; then python3 -m venv "$venv"; fi
"$venv/bin/python" -m pip install -q 'cuda-toolkit[nvcc,cudart,cublas,curand,cccl,crt,nvvm,nvrtc]==13.4.3'
site="$("$venv/bin/python" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')"
export CUDA_HOME="$site/nvidia/cu13"
[ -x "$CUDA_HOME/bin/nvcc" ] || { echo "nvcc not found under $CUDA_HOME" >&2; exit 1; }
libdir="$CUDA_HOME/lib"
[ -d "$libdir" ] || libdir="$CUDA_HOME/lib64"
for so in "$libdir"/lib*.so.*; do
  base="${so%%.so.*}.so"
  [ -e "$base" ] || ln -sf "$(basename "$so")" "$base"
done
# nvcc finds cicc/ptxas/libdevice relative to itself; nvvm lives beside it in the wheel layout.
export PATH="$CUDA_HOME/bin:$PATH"
export CUDA_COMPUTE_CAP="${CUDA_COMPUTE_CAP:-90}"
# candle-kernels compiles its statically linked kernels (MoE, GGUF mmq) with cudaforge, which by
# default runs nvcc on a fraction of the cores (one at a time on 2 cores).
export CUDAFORGE_THREADS="${CUDAFORGE_THREADS:-$(nproc)}"
export CARGO_TARGET_DIR="${CUDA_CHECK_TARGET_DIR:-$root/target/cuda-check}"
stubdir="$CARGO_TARGET_DIR/cuda-stub"
mkdir -p "$stubdir"
export LIBRARY_PATH="$stubdir:$libdir${LIBRARY_PATH:+:$LIBRARY_PATH}"
export LD_LIBRARY_PATH="$libdir${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
export RUSTFLAGS="${RUSTFLAGS:-} -L native=$stubdir -L native=$libdir"

build() { cargo build --release -p asgl-train --features cuda "$@" 2>&1 | tee "$CARGO_TARGET_DIR/build.log"; }
mkdir -p "$CARGO_TARGET_DIR"
gen_stub() {
  echo "check-cuda-build: generating libcuda.so.1 stub ($(echo "$syms" | wc -w) symbols)" >&2
  { echo "/* link-time stub for the NVIDIA driver API; never loaded at run time */"
    for s in $syms; do echo "int $s(void) { return 999; /* CUDA_ERROR_UNKNOWN */ }"; done; } > "$stubdir/cuda_stub.c"
  cc -shared -fPIC -Wl,-soname,libcuda.so.1 -o "$stubdir/libcuda.so.1" "$stubdir/cuda_stub.c"
  ln -sf libcuda.so.1 "$stubdir/libcuda.so"
}
# The stub defines every driver function cudarc declares (its generated bindings, from the
# version in Cargo.lock); each failed link would add any symbol still missing.
cudarc_version=$(awk '/^name = "cudarc"$/ {getline; gsub(/"/, "", $3); print $3; exit}' Cargo.lock)
cudarc_src=$(ls -d "${CARGO_HOME:-$HOME/.cargo}"/registry/src/*/"cudarc-$cudarc_version" 2>/dev/null | head -1 || true)
syms=""
if [ -n "$cudarc_src" ] && [ -f "$cudarc_src/src/driver/sys/mod.rs" ]; then
  syms=$(grep -oE "pub unsafe fn cu[A-Za-z0-9_]+" "$cudarc_src/src/driver/sys/mod.rs" | awk '{print $4}' | sort -u || true)
fi
gen_stub
for attempt in 1 2 3 4; do
  if build "$@"; then break; fi
  new=$(grep -oE "undefined (reference to|symbol:) [\`'\"]?cu[A-Za-z0-9_]+" "$CARGO_TARGET_DIR/build.log" \
    | grep -oE "cu[A-Za-z0-9_]+$" | sort -u || true)
  if [ -z "$new" ]; then
    echo "check-cuda-build: build failed for a reason other than the driver library; see $CARGO_TARGET_DIR/build.log" >&2
    exit 1
  fi
  if [ "$attempt" = 4 ]; then
    echo "check-cuda-build: link still failing after $attempt attempts; see $CARGO_TARGET_DIR/build.log" >&2
    exit 1
  fi
  syms=$(printf '%s\n%s\n' "$syms" "$new" | grep -v '^$' | sort -u || true)
  gen_stub
done
bin="$CARGO_TARGET_DIR/release/asgl-train"
echo "check-cuda-build: OK -> $bin"
ls -la "$bin"
readelf -d "$bin" | grep -E "NEEDED" || true
