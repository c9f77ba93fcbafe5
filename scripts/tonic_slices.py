#!/usr/bin/env python3
"""Runs tonic's SliceByTime / SliceByEventCount on the event files dvs-fixtures wrote for the
slicing cross-check and records the index ranges they give, as committed test data for
ingest/tests/slicing_tonic.rs (which compares dvs-ingest's `--slice` with them).

    cargo run --release -p dvs-ingest --example slicing-fixtures -- ingest/tests/data/slicing
    .venv/bin/pip install tonic
    .venv/bin/python scripts/tonic_slices.py ingest/tests/data/slicing

Each case's `slice` is the `--slice` spelling of the tonic slicer that ran; `ranges` are tonic's
own get_slice_metadata output (start, end) per slice.
"""
import json
import sys
from pathlib import Path

import numpy as np
import tonic
from tonic.slicers import SliceByEventCount, SliceByTime

def slicers(t: np.ndarray):
    """(dvs-ingest --slice spelling, tonic slicer) pairs for a recording with timestamps `t`:
    time windows scaled to its span (a few to a few dozen slices, window longer than the
    recording, overlaps of none, a third and a half), small fixed windows on short recordings,
    and event counts (stride 1 among them); each with and without include_incomplete."""
    span = int(t[-1] - t[0]) if len(t) else 0
    windows = sorted({max(1, span // 7), max(1, span // 3) + 1, span + 10})
    if span < 1000:
        windows += [4, 5]
    out = []
    for window in windows:
        for overlap in sorted({0, window // 3, window // 2}):
            if overlap >= window:
                continue
            for incomplete in (False, True):
                spelled = f"time:{window}:{overlap}" + (":incomplete" if incomplete else "")
                out.append((spelled, SliceByTime(time_window=window, overlap=overlap,
                                                 include_incomplete=incomplete)))
    for count, overlap in [(100, 0), (100, 30), (3, 2), (7, 0), (5000, 0)]:
        for incomplete in (False, True):
            spelled = f"count:{count}:{overlap}" + (":incomplete" if incomplete else "")
            out.append((spelled, SliceByEventCount(event_count=count, overlap=overlap,
                                                   include_incomplete=incomplete)))
    return out


def main() -> None:
    folder = Path(sys.argv[1] if len(sys.argv) > 1 else "ingest/tests/data/slicing")
    listing = json.loads((folder / "recordings.json").read_text())
    cases = []
    for entry in listing:
        events = np.load(folder / entry["file"])
        for spelled, slicer in slicers(events["t"]):
            ranges = slicer.get_slice_metadata(events, None)
            cases.append({
                "file": entry["file"],
                "slice": spelled,
                "ranges": [[int(a), int(b)] for a, b in ranges],
            })
    out = {"tonic_version": tonic.__version__, "cases": cases}
    (folder / "tonic_slices.json").write_text(json.dumps(out, separators=(",", ":")) + "\n")
    print(f"{len(cases)} cases from {len(listing)} files (tonic {tonic.__version__})")


if __name__ == "__main__":
    main()
