"""to_frames equals SpikingJelly's and tonic's frames stored in the shared reference files."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest

import spiketrain

# frames_sj_number_10, frames_sj_time_8, frames_tonic_time_bins_10: library, rule, T
FRAME_KEY = re.compile(r"frames_(sj|tonic)_(number|time|time_bins)_(\d+)$")


def rule(library: str, split: str) -> str:
    return "tonic-time-bins" if library == "tonic" else split


def test_to_frames_equals_spikingjelly_and_tonic(shared_events: Path) -> None:
    checked = 0
    for npz in sorted((shared_events / "expected").rglob("*.npz")):
        data = np.load(npz)
        if "sj_x" in data:  # CIFAR10-DVS frames: SpikingJelly's orientation, external records out
            keep = ~data["sj_is_external"].astype(bool)
            events = {k: data[f"sj_{k}"][keep] for k in "txyp"}
        elif "t" in data:
            events = {k: data[k] for k in "txyp"}
        else:
            continue
        for key in data.files:
            match = FRAME_KEY.match(key)
            if not match:
                continue
            library, split, frames = match.group(1), match.group(2), int(match.group(3))
            expected = data[key]
            got = spiketrain.to_frames(events, (expected.shape[3], expected.shape[2], 2), frames,
                                       split_by=rule(library, split))
            assert got.dtype == np.float32 and got.shape == expected.shape
            np.testing.assert_array_equal(got, expected.astype(np.float32), err_msg=f"{npz.name} {key}")
            checked += 1
    assert checked > 0


def test_to_frames_rejects_events_outside_the_sensor() -> None:
    events = np.zeros(3, dtype=spiketrain.EVENT_DTYPE)
    events["x"] = [0, 1, 40]
    with pytest.raises(spiketrain.ConfigError, match="outside"):
        spiketrain.to_frames(events, (34, 34), 2)
    with pytest.raises(spiketrain.ConfigError, match="split-by"):
        spiketrain.to_frames(events, (64, 64), 2, split_by="sideways")
