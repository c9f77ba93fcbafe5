"""Loader batches against FrameDataset items: in order without augmentation; with shuffling
and the ASGL augmentation, every sample is one flip/roll of its stored frames, the order is
the epoch's key order and the same (seed, epoch) gives the same batches for any worker count."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import spiketrain


def test_unshuffled_batches_are_the_dataset_in_order(dataset: Path) -> None:
    ds = spiketrain.FrameDataset(dataset, "train")
    loader = spiketrain.Loader(dataset, "train", batch_size=3)
    assert loader.num_samples == len(ds) and len(loader) == -(-len(ds) // 3)
    xs, ys = zip(*loader.epoch(0))
    x, y = np.concatenate(xs), np.concatenate(ys)
    assert x.dtype == np.float32 and y.dtype == np.int64
    np.testing.assert_array_equal(x, np.stack([ds[i][0] for i in range(len(ds))]))
    np.testing.assert_array_equal(y, ds.labels)


def test_batches_are_zero_copy_views_of_the_rust_buffer(dataset: Path) -> None:
    x, _ = next(iter(spiketrain.Loader(dataset, "train", batch_size=2).epoch(0)))
    assert not x.flags.owndata and x.base is not None and x.flags.c_contiguous


def augmentations(frames: np.ndarray, roll_max: int):
    for flipped in (frames, frames[..., ::-1]):
        for dy in range(-roll_max, roll_max + 1):
            for dx in range(-roll_max, roll_max + 1):
                yield np.roll(flipped, (dy, dx), axis=(-2, -1))


def test_augmented_samples_are_flips_and_rolls_of_the_stored_frames(dataset: Path) -> None:
    ds = spiketrain.FrameDataset(dataset, "train")
    by_key = {k: i for i, k in enumerate(ds.keys)}
    loader = spiketrain.Loader(dataset, "train", batch_size=4, shuffle=True, seed=5, augment="asgl")
    keys_seen, changed = [], 0
    for x, y, keys in loader.epoch(2, keys=True):
        for sample, label, key in zip(x, y, keys):
            stored, stored_label = ds[by_key[key]]
            assert label == stored_label
            assert any(np.array_equal(sample, c) for c in augmentations(stored, 5)), key
            changed += not np.array_equal(sample, stored)
            keys_seen.append(key)
    assert keys_seen == loader.epoch_keys(2) and sorted(keys_seen) == sorted(ds.keys)
    assert keys_seen != ds.keys and changed > 0


def batches(loader: spiketrain.Loader, epoch: int):
    return [(x.copy(), y.copy()) for x, y in loader.epoch(epoch)]


def test_the_same_seed_and_epoch_give_the_same_batches(dataset: Path) -> None:
    one = spiketrain.Loader(dataset, "train", batch_size=4, shuffle=True, seed=9, augment="asgl", workers=1)
    two = spiketrain.Loader(dataset, "train", batch_size=4, shuffle=True, seed=9, augment="asgl", workers=2,
                            prefetch=1)
    a, b = batches(one, 1), batches(two, 1)
    for (xa, ya), (xb, yb) in zip(a, b):
        np.testing.assert_array_equal(xa, xb)
        np.testing.assert_array_equal(ya, yb)
    assert len(a) == len(b)
    other = batches(one, 2)
    assert any(not np.array_equal(x, o) for (x, _), (o, _) in zip(a, other))


def test_transforms_and_bad_settings(dataset: Path) -> None:
    raw = np.concatenate([x for x, _ in spiketrain.Loader(dataset, "train", batch_size=8).epoch(0)])
    binary = np.concatenate([x for x, _ in spiketrain.Loader(dataset, "train", batch_size=8,
                                                              transform="binarize").epoch(0)])
    np.testing.assert_array_equal(binary, (raw > 0).astype(np.float32))
    clamped = np.concatenate([x for x, _ in spiketrain.Loader(dataset, "train", batch_size=8,
                                                               transform=("clamp", 0.5)).epoch(0)])
    np.testing.assert_array_equal(clamped, np.minimum(raw, 0.5))
    with pytest.raises(spiketrain.ConfigError):
        spiketrain.Loader(dataset, "train", transform="sideways")
    with pytest.raises(spiketrain.ConfigError):
        spiketrain.Loader(dataset, "train", augment={"flop": True})
    with pytest.raises(spiketrain.Error):
        spiketrain.Loader(dataset, "no-such-split")
