#!/usr/bin/env python3
"""Cross-checks the dvs-fixtures Prophesee writers (and so the dvs-decode EVT 2.0 / EVT 3.0 /
DAT decoders, which tests/prophesee.rs holds equal to them) against expelliarmus.

Writes the fixture files with `cargo run --release -p dvs-fixtures --example prophesee-files`,
reads each with expelliarmus' Wizard and compares t, x, y, p event by event, in order, with the
`<file>.events` columns the example writes next to it. Needs `pip install expelliarmus` in the
Python environment (.venv). Exit status 1 if any file differs.

Known divergences of expelliarmus 1.1.12 from the EVT 3.0 spec (docs.prophesee.ai), which
dvs-decode follows: it takes 0xC, not 0xA, for EXT_TRIGGER (files with trigger words are
refused: "event type not recognised: 0xa"), and it counts every decrease of EVT_TIME_LOW as a
time-high step even right after an EVT_TIME_HIGH word, so files that state the time high
explicitly (as sensors do every 4096 us) read 4096 us late per step. Its own EVT 3.0 writer emits
no TIME_HIGH words, and its reader gets 4904 back for an event it wrote at t = 9000 us.
EVT 2.0 and DAT files agree event for event.

    .venv/bin/python scripts/crosscheck_prophesee.py [OUT_DIR] [--bench]

--bench also writes 4 M-event files and times expelliarmus (best of 3 full reads) and
dvs-decode (`decode-bench FILE`, one core, best of 5) on them, side by side.
"""

import pathlib
import subprocess
import sys
import tempfile

import numpy as np
from expelliarmus import Wizard


def expected(path):
    raw = path.read_bytes()
    n = int(np.frombuffer(raw[:8], "<u8")[0])
    off = 8
    cols = {}
    for name, dtype, size in (("t", "<i8", 8), ("x", "<u2", 2), ("y", "<u2", 2), ("p", "u1", 1)):
        cols[name] = np.frombuffer(raw[off : off + n * size], dtype).astype(np.int64)
        off += n * size
    return n, cols


def run_bench(root, out):
    import time

    for name, encoding in (("bench-evt2.raw", "evt2"), ("bench-evt3.raw", "evt3"), ("bench.dat", "dat")):
        f = out / name
        best, n = float("inf"), 0
        for _ in range(3):
            start = time.perf_counter()
            n = len(Wizard(encoding=encoding).read(f))
            best = min(best, time.perf_counter() - start)
        print(f"{name:<16} expelliarmus {n:>9} events {n / best / 1e6:8.1f} M ev/s (best of 3, from the file)")
        ours = subprocess.run(
            ["cargo", "run", "-q", "--release", "-p", "dvs-ingest", "--example", "decode-bench", "--", str(f)],
            cwd=root,
            check=True,
            capture_output=True,
            text=True,
        ).stdout.strip().splitlines()[-1]
        print(f"{name:<16} dvs-decode   {' '.join(ours.split()[1:])}")


def main():
    root = pathlib.Path(__file__).resolve().parent.parent
    args = [a for a in sys.argv[1:] if a != "--bench"]
    bench = "--bench" in sys.argv[1:]
    out = pathlib.Path(args[0]) if args else pathlib.Path(tempfile.mkdtemp())
    subprocess.run(
        ["cargo", "run", "-q", "--release", "-p", "dvs-fixtures", "--example", "prophesee-files", "--", str(out)]
        + (["--bench"] if bench else []),
        cwd=root,
        check=True,
        stdout=subprocess.DEVNULL,
    )
    failed = 0
    files = sorted(p for p in out.iterdir() if p.suffix in (".raw", ".dat") and not p.name.startswith("bench"))
    for f in files:
        encoding = "dat" if f.suffix == ".dat" else f.stem.rsplit("-", 1)[1]
        n, want = expected(f.with_name(f.name + ".events"))
        got = Wizard(encoding=encoding).read(f)
        problems = []
        if got is None:
            problems.append("expelliarmus refused the file (see its message above)")
        elif len(got) != n:
            problems.append(f"{len(got)} events, expected {n}")
        else:
            for name in ("t", "x", "y", "p"):
                col = got[name].astype(np.int64)
                bad = np.flatnonzero(col != want[name])
                if bad.size:
                    i = bad[0]
                    problems.append(f"{name}[{i}] = {col[i]}, expected {want[name][i]} ({bad.size} differ)")
        status = "same events" if not problems else "DIFFERENT: " + "; ".join(problems)
        print(f"{f.name:<34} {encoding:<5} {n:>8} events  {status}")
        failed += bool(problems)
    print(f"{len(files) - failed} of {len(files)} files read identically by expelliarmus")
    if bench:
        run_bench(root, out)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
