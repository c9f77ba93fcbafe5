"""Benchmark of the spiketrain Python package against the Python baselines, side by side in one
run (docs/benchmarks.md records the table):

* loader: ``spiketrain.Loader`` batches into numpy vs tonic's ``DiskCachedDataset`` + torch
  ``DataLoader`` and vs SpikingJelly-style npz frame folders (``dvs-ingest export``, read with
  ``spikingjelly.datasets.load_npz_frames`` through ``torchvision.datasets.DatasetFolder``, as
  SpikingJelly's frame datasets do) + ``DataLoader``: the same samples, batch size, shuffling and
  augmentation (W flip p = 0.5, roll in [-5, 5] on H and W), the same worker count. One
  untimed epoch each first (it fills tonic's cache, starts the workers, warms the page cache),
  then whole epochs for at least ``--seconds``.
* readers: ``spiketrain.read_events`` vs expelliarmus (EVT 2.0 / EVT 3.0 / DAT), the ``aedat``
  package and ``tonic.io.read_aedat4`` (AEDAT 4), ``tonic.io.read_mnist_file`` (ATIS .bin) and
  ``numpy.load`` (.npy) on the same files (best of ``--repeats``; event counts printed).

Needs torch, torchvision, tonic, spikingjelly, expelliarmus and aedat (not CI):
    python scripts/bench_python_loader.py --data runs/demo/data --files DIR
where DIR holds large files from
    cargo run --release -p spiketrain-python --example write_format_fixtures -- DIR 1500000
"""

from __future__ import annotations

import argparse
import subprocess
import tempfile
import time
from pathlib import Path

import numpy as np

import spiketrain

ROLL = 5


def augment(frames: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """The loader's augmentation in numpy: W flip with p = 0.5, then a roll on H and W."""
    if rng.random() < 0.5:
        frames = frames[..., ::-1]
    dy, dx = rng.integers(-ROLL, ROLL + 1, size=2)
    return np.ascontiguousarray(np.roll(frames, (int(dy), int(dx)), axis=(-2, -1)))


class Augment:
    """A picklable transform; every DataLoader worker draws from its own generator."""

    def __init__(self) -> None:
        self.rng = None

    def __call__(self, frames: np.ndarray) -> np.ndarray:
        if self.rng is None:
            import torch.utils.data as tud
            info = tud.get_worker_info()
            self.rng = np.random.default_rng(0 if info is None else info.id + 1)
        return augment(np.asarray(frames, dtype=np.float32), self.rng)


class NpzFrames:
    """The exported npz files as a plain map-style dataset (tonic's cache source)."""

    def __init__(self, root: Path, classes) -> None:
        self.files = sorted(root.rglob("*.npz"))
        self.labels = [classes.index(f.parent.name) if f.parent.name in classes else int(f.parent.name)
                       for f in self.files]

    def __len__(self) -> int:
        return len(self.files)

    def __getitem__(self, i: int):
        return np.load(self.files[i])["frames"], self.labels[i]


def timed_epochs(make_epoch, seconds: float):
    for _ in make_epoch(0):  # warm-up
        pass
    samples, epoch, started = 0, 1, time.perf_counter()
    while True:
        for x, _ in make_epoch(epoch):
            samples += len(x)
        epoch += 1
        elapsed = time.perf_counter() - started
        if elapsed >= seconds:
            return samples / elapsed, epoch - 1


def bench_loaders(args) -> list:
    import spikingjelly.datasets as sjds
    import tonic
    import torch
    from torch.utils.data import DataLoader
    from torchvision.datasets import DatasetFolder

    torch.set_num_threads(1)
    data = Path(args.data)
    classes = spiketrain.FrameDataset(data, args.split).classes
    rows = []
    loader = spiketrain.Loader(data, args.split, args.batch_size, shuffle=True, seed=0, augment="asgl",
                               workers=args.workers)
    rows.append(("spiketrain.Loader → numpy", *timed_epochs(loader.epoch, args.seconds)))
    with tempfile.TemporaryDirectory() as tmp:
        exported = Path(tmp) / "npz"
        subprocess.run([args.dvs_ingest, "export", "--dataset", str(data), "--output", str(exported)],
                       check=True, capture_output=True)
        split_root = exported / args.split

        def data_loader(dataset):
            dl = DataLoader(dataset, batch_size=args.batch_size, shuffle=True, num_workers=args.workers,
                            persistent_workers=True)
            return lambda epoch: dl

        cached = tonic.DiskCachedDataset(NpzFrames(split_root, classes), cache_path=str(Path(tmp) / "tonic"),
                                         transform=Augment())
        rows.append(("tonic DiskCachedDataset + DataLoader", *timed_epochs(data_loader(cached), args.seconds)))
        folder = DatasetFolder(str(split_root), loader=sjds.load_npz_frames, extensions=(".npz",),
                               transform=Augment())
        rows.append(("SpikingJelly npz folder + DataLoader", *timed_epochs(data_loader(folder), args.seconds)))
    return rows


def best_of(repeats: int, fn):
    best, result = float("inf"), None
    for _ in range(repeats):
        started = time.perf_counter()
        result = fn()
        best = min(best, time.perf_counter() - started)
    return best, result


def aedat_package(path: Path) -> int:
    import aedat
    return sum(len(p["events"]) for p in aedat.Decoder(str(path)) if "events" in p)


def baselines(fmt: str):
    import tonic.io as tio
    from expelliarmus import Wizard
    if fmt in ("Prophesee EVT 2.0", "Prophesee EVT 3.0", "Prophesee DAT"):
        encoding = {"Prophesee EVT 2.0": "evt2", "Prophesee EVT 3.0": "evt3", "Prophesee DAT": "dat"}[fmt]
        return [(f"expelliarmus ({encoding})", lambda p: len(Wizard(encoding=encoding).read(p)))]
    if fmt == "AEDAT 4.0":
        return [("aedat package", aedat_package), ("tonic.io.read_aedat4", lambda p: len(tio.read_aedat4(str(p))))]
    if fmt == "ATIS binary":
        dtype = np.dtype([("x", int), ("y", int), ("t", int), ("p", int)])
        return [("tonic.io.read_mnist_file", lambda p: len(tio.read_mnist_file(str(p), dtype=dtype)))]
    if fmt == "numpy .npy":
        return [("numpy.load", lambda p: len(np.load(p)))]
    return []


def bench_readers(args) -> list:
    rows = []
    for path in sorted(Path(args.files).iterdir()):
        if path.name.endswith(".rust.npy") or not path.is_file():
            continue
        fmt = spiketrain.probe(path)["format"]
        ours, events = best_of(args.repeats, lambda: spiketrain.read_events(path))
        for name, fn in baselines(fmt):
            theirs, count = best_of(args.repeats, lambda: fn(path))
            rows.append((path.name, fmt, len(events), ours, name, count, theirs))
        if not baselines(fmt):
            rows.append((path.name, fmt, len(events), ours, "—", None, None))
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default="runs/demo/data")
    parser.add_argument("--split", default="train")
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--files", help="folder of recordings for the reader comparison")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--dvs-ingest", default="target/release/dvs-ingest")
    parser.add_argument("--readers-only", action="store_true", help="skip the loader comparison")
    args = parser.parse_args()
    rows = [] if args.readers_only else bench_loaders(args)
    ours = rows[0][1] if rows else 0.0
    if rows:
        print(f"\n| loader ({args.split} split of {args.data}, batch {args.batch_size}, {args.workers} workers, "
              "flip + roll 5) | samples/s | timed epochs | spiketrain speed-up |")
        print("|---|---:|---:|---:|")
    for name, rate, epochs in rows:
        print(f"| {name} | {rate:,.0f} | {epochs} | {ours / rate:.1f}x |")
    if args.files:
        print("\n| file | format | events | read_events ms | baseline | its events | its ms | speed-up |")
        print("|---|---|---:|---:|---|---:|---:|---:|")
        for name, fmt, n, ours_s, other, count, theirs in bench_readers(args):
            if theirs is None:
                print(f"| {name} | {fmt} | {n:,} | {ours_s * 1e3:.1f} | — | | | |")
            else:
                print(f"| {name} | {fmt} | {n:,} | {ours_s * 1e3:.1f} | {other} | {count:,} | "
                      f"{theirs * 1e3:.1f} | {theirs / ours_s:.1f}x |")


if __name__ == "__main__":
    main()
