#!/usr/bin/env python3
"""Cross-checks the dvs-fixtures multi-stream AEDAT 4 writer (and so the dvs-decode AEDAT 4
decoder, which tests/decoders_aedat4.rs holds equal to it) against the `aedat` package.

Writes the fixture files with `cargo run --release -p dvs-fixtures --example aedat4-files`
(IMU, trigger, frame and two event streams; no, LZ4, linked-LZ4 and zstd compression; 320x240,
346x260, 128x128 and 640x480 sensors), reads each with `aedat.Decoder` and compares, for both
event streams (ids 2 and 4), t, x, y, p event by event, in order, with the `<file>.s<ID>.events`
columns the example writes; it also checks the declared streams and the sensor size. Needs
`pip install aedat` in the Python environment (.venv). Exit status 1 if any file differs.

    .venv/bin/python scripts/crosscheck_aedat4.py [OUT_DIR]
"""

import pathlib
import subprocess
import sys
import tempfile

import aedat
import numpy as np


def expected(path):
    raw = path.read_bytes()
    n = int(np.frombuffer(raw[:8], "<u8")[0])
    off = 8
    cols = {}
    for name, dtype, size in (("t", "<i8", 8), ("x", "<u2", 2), ("y", "<u2", 2), ("p", "u1", 1)):
        cols[name] = np.frombuffer(raw[off : off + n * size], dtype).astype(np.int64)
        off += n * size
    return n, cols


def decode(path):
    """Events of every event stream, by stream id, and aedat's stream table."""
    decoder = aedat.Decoder(path)
    streams = decoder.id_to_stream()
    per_stream = {}
    kinds = {}
    for packet in decoder:
        sid = packet["stream_id"]
        for key in ("events", "frame", "imus", "triggers"):
            if key in packet:
                kinds.setdefault(sid, set()).add(key)
        if "events" in packet:
            per_stream.setdefault(sid, []).append(packet["events"])
    return streams, kinds, per_stream


def main():
    root = pathlib.Path(__file__).resolve().parent.parent
    out = pathlib.Path(sys.argv[1]) if len(sys.argv) > 1 else pathlib.Path(tempfile.mkdtemp())
    subprocess.run(
        ["cargo", "run", "-q", "--release", "-p", "dvs-fixtures", "--example", "aedat4-files", "--", str(out)],
        cwd=root,
        check=True,
        stdout=subprocess.DEVNULL,
    )
    failed = 0
    files = sorted(out.glob("*.aedat4"))
    if not files:
        print("no .aedat4 files written", file=sys.stderr)
        return 1
    for f in files:
        streams, kinds, per_stream = decode(f)
        problems = []
        types = {sid: s["type"] for sid, s in streams.items()}
        if types != {0: "imus", 1: "triggers", 2: "events", 3: "frame", 4: "events"}:
            problems.append(f"streams {types}")
        if kinds.get(0) != {"imus"} or kinds.get(1) != {"triggers"} or kinds.get(3) != {"frame"}:
            problems.append(f"packet kinds {kinds}")
        total = 0
        for sid in (2, 4):
            n, want = expected(f.with_name(f"{f.name}.s{sid}.events"))
            sizes = (streams[sid].get("width"), streams[sid].get("height"))
            if sid == 2 and (int(want["x"].max(initial=0)) >= sizes[0] or int(want["y"].max(initial=0)) >= sizes[1]):
                problems.append(f"stream {sid}: events outside the declared {sizes}")
            got = np.concatenate(per_stream.get(sid, [])) if per_stream.get(sid) else None
            if got is None or len(got) != n:
                problems.append(f"stream {sid}: {0 if got is None else len(got)} events, expected {n}")
                continue
            for name, column in (("t", got["t"]), ("x", got["x"]), ("y", got["y"]), ("p", got["on"])):
                diff = np.flatnonzero(column.astype(np.int64) != want[name])
                if diff.size:
                    problems.append(f"stream {sid}: {name} differs first at event {diff[0]}")
            total += n
        if problems:
            failed += 1
            print(f"DIFF {f.name}: {'; '.join(problems)}")
        else:
            w, h = streams[2]["width"], streams[2]["height"]
            print(f"same {f.name}: {total} events in streams 2 and 4, sensor {w}x{h}, streams {sorted(types.items())}")
    print(f"{len(files) - failed}/{len(files)} files agree with aedat {getattr(aedat, '__version__', '')}".rstrip())
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
