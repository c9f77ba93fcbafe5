#!/usr/bin/env bash
# Runs every dvs-ingest libFuzzer target (AddressSanitizer, release) for a fixed time each, seeded
# with the shared fixture recordings of its format, and prints libFuzzer's final statistics.
# Needs a nightly toolchain and cargo-fuzz (`rustup toolchain install nightly`,
# `cargo install cargo-fuzz`). Not part of CI: the first build takes ~8 minutes on 2 cores.
#
#   scripts/fuzz-ingest.sh [seconds per target, default 300] [targets..., default all]
set -euo pipefail
per_target=${1:-300}
shift || true
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(aedat2 aedat31 aedat4 hdf5 atis_bin npy evt2 evt3 dat aedat4_streams hdf5_events npy_float)
root=$(cd "$(dirname "$0")/.." && pwd)
fixtures="$root/../shared/fixtures/events"
corpus=${FUZZ_CORPUS:-/tmp/spiketrain-fuzz-ingest}
cd "$root/ingest"
cargo +nightly fuzz build -O
failed=0

seed() { # seed <target> <max bytes per seed> <files...>
    local target=$1 max=$2
    shift 2
    mkdir -p "$corpus/$target"
    for f in "$@"; do
        head -c "$max" "$f" >"$corpus/$target/seed-$(basename "$f")"
    done
}

for target in "${targets[@]}"; do
    extra=()
    asan=${ASAN_OPTIONS:-}
    case $target in
        aedat2) max_len=65536; seed aedat2 $max_len "$fixtures"/CIFAR10-DVS/*/*.aedat ;;
        aedat31) max_len=65536; seed aedat31 $max_len "$fixtures"/DvsGesture/*.aedat "$fixtures"/broken/*.aedat ;;
        aedat4) max_len=65536; seed aedat4 $max_len "$fixtures"/CIFAR10DVS-aedat4/*/*.aedat4 ;;
        # HDF5 cannot be cut (the superblock records the end of file): whole files.
        # HDF5_DETECT_LEAKS=0 keeps going past the small leaks inside libhdf5 (docs/bench-decode.md).
        # allocator_may_return_null=1: libhdf5 asks malloc for absurd sizes read from forged headers
        # and handles the NULL as a located error (docs/fuzzing.md); without it ASan stops there.
        hdf5) max_len=$(stat -c %s "$fixtures"/hdf5/*.hdf5 | sort -n | tail -1)
              seed hdf5 "$max_len" "$fixtures"/hdf5/*.hdf5
              extra=(-detect_leaks="${HDF5_DETECT_LEAKS:-1}")
              asan="detect_leaks=${HDF5_DETECT_LEAKS:-1}:allocator_may_return_null=1" ;;
        # No shared fixtures in these formats: small synthetic seeds (the first byte picks the
        # decoder options, see ingest/fuzz/src/lib.rs). ATIS: N-MNIST records and an overflow marker.
        atis_bin) max_len=65536; mkdir -p "$corpus/atis_bin"
              printf '\x00\x01\x02\x80\x00\x10\x00\xf0\x00\x00\x00\x21\x21\x00\x12\x34' \
                  >"$corpus/atis_bin/seed-nmnist" ;;
        npy) max_len=65536; mkdir -p "$corpus/npy"
              python3 -c "import struct,sys; h=b\"{'descr': [('t', '<i8'), ('x', '<u2'), ('y', '>i4'), ('p', '|b1')], 'fortran_order': False, 'shape': (2,), }\"; h+=b' '*(-(len(h)+11)%64)+b'\\n'; sys.stdout.buffer.write(b'\\x00\\x93NUMPY\\x01\\x00'+struct.pack('<H',len(h))+h+bytes(range(30)))" \
                  >"$corpus/npy/seed-structured" ;;
        # Prophesee: a header with geometry, then one word of every type (time high/low, CD or
        # address/vector words, trigger, OTHERS, CONTINUED).
        evt2) max_len=65536; mkdir -p "$corpus/evt2"
              { printf '\x00%% format EVT2;height=48;width=64\n%% end\n'
                printf '\x01\x00\x00\x80\x03\x28\x80\x10\x01\x01\x00\xa0\x01\x00\x00\xe0\x05\x00\x00\xf0\x03\x28\x00\x00'
              } >"$corpus/evt2/seed-evt2" ;;
        evt3) max_len=65536; mkdir -p "$corpus/evt3"
              { printf '\x00%% evt 3.0\n%% geometry 64x48\n'
                printf '\x01\x80\x05\x60\x03\x00\x05\x28\x02\x30\xff\x4f\x81\x50\x01\xa1\x01\xe0\xab\xf0\x03\x70'
              } >"$corpus/evt3/seed-evt3" ;;
        dat) max_len=65536; mkdir -p "$corpus/dat"
              { printf '\x00%% Version 2\n%% Height 48\n%% Width 64\n\x0c\x08'
                printf '\x10\x00\x00\x00\x05\xc0\x00\x10\x11\x00\x00\x00\x05\xc0\x00\x00'
              } >"$corpus/dat/seed-dat" ;;
        # Issue 13's decoders: seeds from the dvs-fixtures writers (a leading mode byte each).
        aedat4_streams) max_len=65536; mkdir -p "$corpus/aedat4_streams" "$corpus/seed-files"
              (cd "$root" && cargo run -q --release -p dvs-fixtures --example aedat4-files -- "$corpus/seed-files/aedat4")
              for f in "$corpus"/seed-files/aedat4/*-{lz4,zstd}.aedat4; do
                  { printf '\x00'; head -c 65535 "$f"; } >"$corpus/aedat4_streams/seed-$(basename "$f")"
              done ;;
        hdf5_events) mkdir -p "$corpus/hdf5_events" "$corpus/seed-files"
              (cd "$root" && cargo run -q --release -p dvs-fixtures --example hdf5-events-files -- "$corpus/seed-files/h5")
              cp "$corpus"/seed-files/h5/layout*-1.h5 "$root"/ingest/tests/data/hdf5-filters/*.h5 "$corpus/hdf5_events/"
              max_len=$(stat -c %s "$corpus"/hdf5_events/* | sort -n | tail -1)
              extra=(-detect_leaks="${HDF5_DETECT_LEAKS:-1}")
              asan="detect_leaks=${HDF5_DETECT_LEAKS:-1}:allocator_may_return_null=1" ;;
        npy_float) max_len=65536; mkdir -p "$corpus/npy_float"
              "$root/.venv/bin/python" - "$corpus/npy_float" <<'PY'
import io, pathlib, sys
import numpy as np
out = pathlib.Path(sys.argv[1])
rng = np.random.default_rng(7)
for name, dtype in (("s", [("t", "<f8"), ("x", "<f4"), ("y", "<f4"), ("p", "<f4")]),
                    ("us", [("x", "<i2"), ("y", "<i2"), ("p", "u1"), ("t", ">f8")])):
    a = np.zeros(40, dtype=dtype)
    a["t"] = np.sort(rng.random(40)) * (1.0 if name == "s" else 1e6)
    a["x"], a["y"], a["p"] = rng.integers(0, 128, 40), rng.integers(0, 128, 40), rng.integers(0, 2, 40)
    buf = io.BytesIO(); np.save(buf, a); (out / f"seed-{name}.npy").write_bytes(b"\x00" + buf.getvalue())
buf = io.BytesIO(); np.save(buf, rng.random((30, 4)) * 100); (out / "seed-plain.npy").write_bytes(b"\x40" + buf.getvalue())
PY
              ;;
        *) echo "unknown target $target" >&2; exit 2 ;;
    esac
    echo "== $target: ${per_target}s, max_len $max_len, corpus $corpus/$target (load $(cut -d' ' -f1-3 /proc/loadavg))"
    log="$corpus/$target.log"
    status=0
    ASAN_OPTIONS=$asan cargo +nightly fuzz run -O "$target" "$corpus/$target" -- \
        -max_total_time="$per_target" -max_len="$max_len" -rss_limit_mb=2048 -timeout=10 \
        -print_final_stats=1 "${extra[@]}" >"$log" 2>&1 || status=$?
    grep -E "^stat::(number_of_executed_units|average_exec_per_sec|new_units_added|peak_rss_mb)|^#[0-9]+ +DONE|SUMMARY|ERROR|panicked|Test unit written" "$log" || true
    if [ "$status" -ne 0 ]; then
        failed=1
        echo "== $target FAILED (status $status); log $log, reproducer in ingest/fuzz/artifacts/$target"
    else
        echo "== $target: no crash, leak, timeout or out-of-memory (log $log)"
    fi
done
exit $failed
