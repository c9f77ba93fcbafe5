#!/usr/bin/env python3
"""Cross-checks the dvs-fixtures HDF5 event-stream writer (and so the dvs-decode HDF5 reader,
which tests/decoders_formats.rs holds equal to it) against h5py, and writes the committed
unavailable-filter fixture.

    .venv/bin/python scripts/crosscheck_hdf5.py [OUT_DIR]
        writes the fixture files with `cargo run --release -p dvs-fixtures --example
        hdf5-events-files` (DSEC events/ + t_offset, chunked gzip events/, top-level
        contiguous), reads each with h5py (t + t_offset when present, as DSEC defines it) and
        compares t, x, y, p event by event, in order, with the `<file>.events` columns.
    .venv/bin/python scripts/crosscheck_hdf5.py --write-filter-fixture PATH
        writes PATH: an events/{x,y,t,p} file whose t dataset lists HDF5 filter 32034 (ECF,
        Prophesee's event codec) as an optional filter. libhdf5 without the ECF plugin writes
        the chunks unfiltered and h5py then reads them back silently; dvs-decode must refuse the
        file naming the filter (ingest/tests/data/hdf5-filters/ holds the committed output).

Needs `pip install h5py` in the Python environment (.venv). Exit status 1 if any file differs.
"""

import pathlib
import subprocess
import sys
import tempfile

import h5py
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


def read_h5py(path):
    with h5py.File(path, "r") as f:
        group = f["events"] if "events" in f else f
        cols = {k: group[k][()].astype(np.int64) for k in "xytp"}
        if "t_offset" in f:
            cols["t"] = cols["t"] + int(f["t_offset"][()])
    return cols


def write_filter_fixture(path):
    from h5py import h5d, h5p, h5s, h5t, h5z

    path.parent.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(32034)
    n = 200
    data = {
        "x": rng.integers(0, 640, n).astype("<u2"),
        "y": rng.integers(0, 480, n).astype("<u2"),
        "t": np.cumsum(rng.integers(0, 10, n)).astype("<i8"),
        "p": rng.integers(0, 2, n).astype("u1"),
    }
    with h5py.File(path, "w") as f:
        group = f.create_group("events")
        for name, values in data.items():
            if name != "t":
                group.create_dataset(name, data=values)
                continue
            # h5py's high-level API refuses a filter it lacks; the low-level one sets it
            # optional, as files written with the ECF plugin present carry it.
            dcpl = h5p.create(h5p.DATASET_CREATE)
            dcpl.set_chunk((64,))
            dcpl.set_filter(32034, h5z.FLAG_OPTIONAL, ())
            space = h5s.create_simple((n,))
            ds = h5d.create(group.id, b"t", h5t.py_create(values.dtype), space, dcpl=dcpl)
            ds.write(h5s.ALL, h5s.ALL, values)
    print(f"wrote {path} (filter 32034 available here: {bool(h5z.filter_avail(32034))})")


def main():
    if sys.argv[1:2] == ["--write-filter-fixture"]:
        write_filter_fixture(pathlib.Path(sys.argv[2]))
        return 0
    root = pathlib.Path(__file__).resolve().parent.parent
    out = pathlib.Path(sys.argv[1]) if len(sys.argv) > 1 else pathlib.Path(tempfile.mkdtemp())
    subprocess.run(
        ["cargo", "run", "-q", "--release", "-p", "dvs-fixtures", "--example", "hdf5-events-files", "--", str(out)],
        cwd=root,
        check=True,
        stdout=subprocess.DEVNULL,
    )
    files = sorted(out.glob("*.h5"))
    failed = 0
    for f in files:
        n, want = expected(f.with_name(f.name + ".events"))
        got = read_h5py(f)
        bad = [k for k in "txyp" if len(got[k]) != n or not np.array_equal(got[k], want[k])]
        if bad:
            failed += 1
            print(f"DIFF {f.name}: fields {bad} differ ({len(got['t'])} events, expected {n})")
        else:
            print(f"same {f.name}: {n} events")
    print(f"{len(files) - failed}/{len(files)} files agree with h5py {h5py.__version__} (libhdf5 {h5py.version.hdf5_version})")
    return 1 if failed or not files else 0


if __name__ == "__main__":
    sys.exit(main())
