"""read_events / probe against the shared reference files (the expected events their README
describes) and against the Rust decoders on one file per format of the fixtures crate."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import spiketrain

NOT_RECORDINGS = {".md", ".json", ".csv", ".txt", ".npz"}


def recordings(root: Path):
    for path in sorted(root.rglob("*")):
        rel = path.relative_to(root)
        if path.is_file() and rel.parts[0] != "expected" and path.suffix not in NOT_RECORDINGS:
            yield path, rel


def assert_events(events: np.ndarray, t, x, y, p, where: str) -> None:
    assert events.dtype == spiketrain.EVENT_DTYPE
    assert len(events) == len(t), where
    np.testing.assert_array_equal(events["t"], np.asarray(t, dtype=np.int64), err_msg=where)
    np.testing.assert_array_equal(events["x"], np.asarray(x).astype(np.int64), err_msg=where)
    np.testing.assert_array_equal(events["y"], np.asarray(y).astype(np.int64), err_msg=where)
    np.testing.assert_array_equal(events["p"], np.asarray(p).astype(np.int64), err_msg=where)


def test_read_events_equals_the_shared_expected_events(shared_events: Path) -> None:
    compared = broken = 0
    for path, rel in recordings(shared_events):
        if rel.parts[0] == "broken":
            with pytest.raises(spiketrain.DecodeError) as info:
                spiketrain.read_events(path)
            assert info.value.file == str(path) and info.value.reason and info.value.offset is not None
            broken += 1
            continue
        expected_path = shared_events / "expected" / rel.with_suffix(".npz")
        if not expected_path.exists():
            continue
        expected = np.load(expected_path)
        if "sj_x" in expected:  # AEDAT 2.0: raw address fields, and SpikingJelly's mapping
            assert_events(spiketrain.read_events(path, orientation="raw"),
                          expected["t"], expected["x"], expected["y"], expected["p"], str(rel))
            keep = ~expected["sj_is_external"].astype(bool)
            assert_events(spiketrain.read_events(path), expected["sj_t"][keep], expected["sj_x"][keep],
                          expected["sj_y"][keep], expected["sj_p"][keep], f"{rel} (spikingjelly)")
        elif "t" in expected:
            assert_events(spiketrain.read_events(path), expected["t"], expected["x"], expected["y"],
                          expected["p"], str(rel))
        else:  # HDF5: one expected sample per key
            keys = spiketrain.hdf5_keys(path)
            assert keys
            for key in keys:
                assert_events(spiketrain.read_events(path, stream=key), expected[f"k{key}_t"],
                              expected[f"k{key}_x"], expected[f"k{key}_y"], expected[f"k{key}_p"],
                              f"{rel} key {key}")
            with pytest.raises(spiketrain.ConfigError):
                spiketrain.read_events(path)
        compared += 1
        assert spiketrain.probe(path)["events"] > 0
    assert compared > 0 and broken > 0


def test_read_events_equals_the_rust_decoders_in_every_format(format_files: Path) -> None:
    formats = set()
    for rust in sorted(format_files.glob("*.rust.npy")):
        path = rust.with_name(rust.name[: -len(".rust.npy")])
        expected = np.load(rust)
        events = spiketrain.read_events(path)
        assert_events(events, expected["t"], expected["x"], expected["y"], expected["p"], path.name)
        summary = spiketrain.probe(path)
        assert summary["events"] == len(events)
        formats.add(summary["format"])
    # Every streaming format dvs-decode reads (HDF5 event streams among them; DECOLLE sample
    # files are covered by the shared files).
    assert len(formats) == 9, formats


def test_a_stream_the_file_does_not_hold_is_an_error(format_files: Path) -> None:
    aedat4 = next(format_files.glob("*.aedat4"))
    assert len(spiketrain.read_events(aedat4, stream=0)) == len(spiketrain.read_events(aedat4))
    with pytest.raises(spiketrain.DecodeError) as info:
        spiketrain.read_events(aedat4, stream=7)
    assert info.value.file == str(aedat4) and "7" in info.value.reason
    with pytest.raises(spiketrain.ConfigError):
        spiketrain.read_events(next(format_files.glob("*.raw")), stream=1)
    with pytest.raises(ValueError):  # ConfigError is a ValueError too
        spiketrain.read_events(aedat4, orientation="sideways")


def test_a_missing_file_names_it(tmp_path: Path) -> None:
    with pytest.raises(spiketrain.DecodeError) as info:
        spiketrain.read_events(tmp_path / "nothing.aedat")
    assert info.value.file == str(tmp_path / "nothing.aedat") and info.value.kind == "io"


def test_sensor_and_time_order_checks(tmp_path: Path) -> None:
    # A tonic-style structured .npy the test writes: time goes back at event 2, x = 40 at event 3.
    events = np.array([(10, 1, 2, 1), (20, 3, 4, 0), (15, 5, 6, 1), (30, 40, 7, 0)],
                      dtype=[("t", "<i8"), ("x", "<u2"), ("y", "<u2"), ("p", "u1")])
    path = tmp_path / "backwards.npy"
    np.save(path, events)
    assert len(spiketrain.read_events(path)) == 4  # as stored by default, no bound
    with pytest.raises(spiketrain.DecodeError) as info:
        spiketrain.read_events(path, time_order="error")
    assert info.value.kind == "timeorder" and "event 2" in info.value.reason
    assert info.value.file == str(path)
    with pytest.raises(spiketrain.DecodeError) as info:
        spiketrain.read_events(path, sensor=(32, 32))
    assert "event 3" in info.value.reason and "32x32" in info.value.reason
    assert len(spiketrain.read_events(path, sensor=(41, 8))) == 4
    with pytest.raises(spiketrain.ConfigError):
        spiketrain.read_events(path, time_order="sorted")
