"""spiketrain.ingest against the dvs-ingest CLI, FrameDataset against `dvs-ingest export`'s npz
files, and a damaged shard raising with its file and record."""

from __future__ import annotations

import pickle
import shutil
from pathlib import Path

import numpy as np
import pytest

import spiketrain
from conftest import binary, run


def test_ingest_writes_what_the_cli_writes(gesture_raw: Path, dataset: Path, tmp_path: Path) -> None:
    cli_out = tmp_path / "cli"
    run(binary("dvs-ingest"), "run", "--dataset", "gesture", "--input", gesture_raw, "--output", cli_out,
        "--frames", 4, "--resize", 16, "--shard-mb", 1, "--no-progress")
    ours, theirs = train_split(dataset), train_split(cli_out)
    assert ours.info == theirs.info
    for split in ours.info["splits"].values():
        for shard in split["shards"]:
            assert (dataset / shard).read_bytes() == (cli_out / shard).read_bytes(), shard
    again = spiketrain.ingest("gesture", gesture_raw, dataset, frames=4, resize=16, shard_mb=1, progress=False)
    assert again["up_to_date"]


def train_split(root: Path) -> spiketrain.FrameDataset:
    return spiketrain.FrameDataset(root, "train")


def test_ingest_rejects_unknown_settings_and_bad_values(gesture_raw: Path, tmp_path: Path) -> None:
    with pytest.raises(spiketrain.ConfigError, match="framez"):
        spiketrain.ingest("gesture", gesture_raw, tmp_path / "o", framez=3)
    with pytest.raises(spiketrain.ConfigError, match="split"):
        spiketrain.ingest("gesture", gesture_raw, tmp_path / "o", split_by="sideways")
    with pytest.raises(spiketrain.ConfigError):
        spiketrain.ingest("nonsense", gesture_raw, tmp_path / "o")


def test_frame_dataset_items_equal_the_exported_npz_files(dataset: Path, tmp_path: Path) -> None:
    exported = tmp_path / "npz"
    run(binary("dvs-ingest"), "export", "--dataset", dataset, "--output", exported)
    seen = 0
    for split in spiketrain.FrameDataset(dataset, "train").info["splits"]:
        ds = spiketrain.FrameDataset(dataset, split)
        assert len(ds) == ds.info["splits"][split]["samples"] > 0
        for i in range(len(ds)):
            frames, label = ds[i]
            assert frames.dtype == np.float32 and frames.shape == (4, 2, 16, 16)
            np.testing.assert_array_equal(frames, np.load(exported / f"{ds.keys[i]}.npz")["frames"])
            assert label == ds.labels[i] and 0 <= label < len(ds.classes)
            seen += 1
        np.testing.assert_array_equal(ds[-1][0], ds[len(ds) - 1][0])
        with pytest.raises(IndexError):
            ds[len(ds)]
    assert seen == len(list(exported.rglob("*.npz")))


def test_frame_dataset_pickles_by_path(dataset: Path) -> None:
    ds = spiketrain.FrameDataset(dataset, "train")
    again = pickle.loads(pickle.dumps(ds))
    assert len(again) == len(ds) and again.keys == ds.keys
    np.testing.assert_array_equal(again[1][0], ds[1][0])


def corrupt_copy(dataset: Path, tmp_path: Path) -> Path:
    damaged = tmp_path / "damaged"
    shutil.copytree(dataset, damaged)
    return damaged


def test_a_damaged_record_raises_with_its_shard_and_record(dataset: Path, tmp_path: Path) -> None:
    damaged = corrupt_copy(dataset, tmp_path)
    ds = spiketrain.FrameDataset(damaged, "train")
    shard, record = ds.location(0)
    data = bytearray(Path(shard).read_bytes())
    data[40] ^= 0xFF  # inside the first record's stored bytes (the header is 32 bytes)
    Path(shard).write_bytes(bytes(data))
    fresh = spiketrain.FrameDataset(damaged, "train")
    with pytest.raises(spiketrain.ShardError) as info:
        fresh[0]
    err = info.value
    assert err.file == shard and err.record == record == 0 and err.key == fresh.keys[0]
    assert err.offset is not None and err.reason
    assert isinstance(pickle.loads(pickle.dumps(err)), spiketrain.ShardError)
    loader = spiketrain.Loader(damaged, "train", batch_size=4)
    with pytest.raises(spiketrain.ShardError) as info:
        for _ in loader.epoch(0):
            pass
    assert info.value.file == shard and info.value.record == 0
    skipping = spiketrain.Loader(damaged, "train", batch_size=4, on_corrupt="skip")
    assert sum(len(y) for _, y in skipping.epoch(0)) == len(fresh) - 1


def test_a_missing_dataset_is_a_dataset_error(tmp_path: Path) -> None:
    with pytest.raises(spiketrain.Error) as info:
        spiketrain.FrameDataset(tmp_path, "train")
    assert info.value.file is not None and str(tmp_path) in info.value.file
