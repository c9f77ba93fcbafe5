#!/usr/bin/env python3
"""Cross-checks dvs-decode's ATIS `.bin` and `.npy` decoders against the maintained readers.

Writes fixture files with `cargo run --release -p dvs-ingest --example atis-npy-fixtures`
(dvs-fixtures encoders; next to each file, what dvs-decode decoded: `<file>.ours.npy`), then
compares, event by event and in order:
  * `.npy`  against numpy's `np.load` (fields t, x, y, p; plain (N, 4) by the stated columns);
  * `.bin`  against tonic's `tonic.io.read_mnist_file` (N-MNIST / N-Caltech101 reader).

tonic: if `import tonic.io` fails, the tonic wheel is fetched with `pip download --no-deps`
(its full dependency set pulls librosa / numba / scipy, which this check does not need) and
`tonic/io.py`, which needs numpy only, is loaded from it.

Usage: .venv/bin/python scripts/crosscheck_npy_atis.py [WORK_DIR]
"""
import importlib.util
import pathlib
import subprocess
import sys
import tempfile
import zipfile

import numpy as np

ROOT = pathlib.Path(__file__).resolve().parent.parent
TONIC_VERSION = "1.7.0"


def load_tonic_io(work):
    try:
        import tonic.io as tio  # noqa: PLC0415

        return tio, "installed tonic"
    except ImportError:
        pass
    wheels = work / "wheels"
    subprocess.run(
        [sys.executable, "-m", "pip", "download", "--no-deps", "-q", f"tonic=={TONIC_VERSION}", "-d", str(wheels)],
        check=True,
    )
    wheel = next(wheels.glob("tonic-*.whl"))
    with zipfile.ZipFile(wheel) as z:
        z.extract("tonic/io.py", work / "tonic_src")
    spec = importlib.util.spec_from_file_location("tonic_io", work / "tonic_src" / "tonic" / "io.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module, f"tonic/io.py from {wheel.name} (--no-deps)"


def columns(structured):
    return {k: np.asarray(structured[k]).astype(np.int64) for k in "txyp"}


def compare(name, ours, theirs):
    n = len(ours["t"])
    for k in "txyp":
        a, b = ours[k], np.asarray(theirs[k]).astype(np.int64)
        if a.shape != b.shape or not np.array_equal(a, b):
            bad = next((i for i in range(min(len(a), len(b))) if a[i] != b[i]), min(len(a), len(b)))
            return f"FAIL {name}: field {k} differs (ours {len(a)} events, theirs {len(b)}; first difference at {bad})"
    return f"ok   {name}: {n} events identical"


def main():
    work = pathlib.Path(sys.argv[1]) if len(sys.argv) > 1 else pathlib.Path(tempfile.mkdtemp(prefix="crosscheck-npy-atis-"))
    fixtures = work / "fixtures"
    subprocess.run(
        ["cargo", "run", "--release", "-q", "-p", "dvs-ingest", "--example", "atis-npy-fixtures", "--", str(fixtures)],
        cwd=ROOT,
        check=True,
    )
    tio, tonic_source = load_tonic_io(work)
    print(f"numpy {np.__version__}; tonic: {tonic_source}")
    failures = 0
    # tonic.datasets.NMNIST.dtype: make_structured_array fills fields by position (x, y, t, p).
    tonic_dtype = np.dtype([("x", np.int16), ("y", np.int16), ("t", np.int64), ("p", np.int8)])
    for line in (fixtures / "manifest.tsv").read_text().splitlines():
        file, fmt, note, count = line.split("\t")
        path = fixtures / file
        ours = columns(np.load(fixtures / f"{file}.ours.npy"))
        assert len(ours["t"]) == int(count)
        if fmt.startswith("ATIS"):
            theirs = tio.read_mnist_file(str(path), dtype=tonic_dtype)
            result = compare(f"{file} (tonic read_mnist_file)", ours, theirs)
            if note == "nmnist" and len(theirs) and (theirs["x"].max() >= 34 or theirs["y"].max() >= 34):
                result = f"FAIL {file}: tonic sees coordinates outside 34x34"
        else:
            arr = np.load(path)
            if arr.dtype.names:
                theirs = {k: arr[k] for k in "txyp"}
            else:
                order = {"xypt-ms": "xypt", "txyp-us": "txyp"}[note]
                theirs = {k: arr[:, order.index(k)] for k in "txyp"}
            # The unit rule of dvs-decode's npy reader: t in the stated unit, floats rounded
            # to the nearest microsecond.
            scale = {"-ms": 1000, "-s": 1_000_000}.get(note[note.rfind("-"):], 1)
            theirs["t"] = np.round(np.asarray(theirs["t"], dtype=np.float64) * scale) if theirs["t"].dtype.kind == "f" else theirs["t"].astype(np.int64) * scale
            result = compare(f"{file} (np.load, {note})", ours, theirs)
        failures += result.startswith("FAIL")
        print(result)
    print(f"{'FAILED' if failures else 'all identical'}: {failures} mismatching file(s)")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
