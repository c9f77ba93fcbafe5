#!/usr/bin/env python3
"""Times SpikingJelly's and tonic's conversion of raw recordings to frames, for
scripts/bench-ingest.sh. Same files and the same frame rule as `dvs-ingest run`
(T frames, SpikingJelly split_by='number' / tonic n_time_bins), single process
per tool (what their dataset classes do, with `--workers` processes to give
them the same cores as dvs-ingest).

Usage: bench_ingest_python.py --tool sj|tonic --dataset cifar10dvs|gesture --input DIR
       [--frames 10] [--workers 2]
       bench_ingest_python.py --tool tonic --dataset evt2|evt3|dat|atis|npy --input DIR
       --sensor WxH [--frames 10] [--workers 2]
The newer formats (a `dvs-ingest --dataset folder` tree, <class>/<file>) are read the way
tonic's datasets read them: Prophesee EVT 2.0 / EVT 3.0 / DAT with expelliarmus (tonic's
Prophesee datasets use it), ATIS `.bin` with tonic.io.read_mnist_file, `.npy` with np.load;
then tonic.functional.to_frame_numpy(n_time_bins=T) per file.
Prints one JSON line: {"tool", "dataset", "files", "samples", "events", "seconds",
"cpu_seconds" (the workers' CPU time inside the timed jobs; comparable under contention)}.

SpikingJelly's `datasets` package imports torch at module level; its event
readers and integration functions are numpy only. If torch is not installed,
a stub module named `torch` is inserted so the import succeeds (the timed code
never touches torch); the output says so ("torch_stub": true).
"""
import argparse
import glob
import json
import os
import sys
import time
import types
from concurrent.futures import ProcessPoolExecutor

import numpy as np

TORCH_STUB = False


STUB_ROOTS = ("torch", "torchvision", "torchaudio", "matplotlib", "scienceplots", "tensorboard")


class _Anything(types.ModuleType):
    """A module/class/callable stand-in: any attribute, call or base class works."""

    def __getattr__(self, name):
        if name.startswith("__"):
            raise AttributeError(name)
        return _Anything(self.__name__ + "." + name)

    def __call__(self, *a, **k):
        return _Anything(self.__name__ + "()")

    def __mro_entries__(self, bases):
        return (object,)


class _StubFinder:
    """Meta-path finder that provides stand-ins for missing heavy packages
    (imported by spikingjelly's modules but unused by the timed functions)."""

    @staticmethod
    def find_spec(name, path=None, target=None):
        import importlib.machinery
        if name.split(".")[0] in STUB_ROOTS:
            return importlib.machinery.ModuleSpec(name, _StubFinder, is_package=True)
        return None

    @staticmethod
    def create_module(spec):
        m = _Anything(spec.name)
        m.__path__ = []
        return m

    @staticmethod
    def exec_module(module):
        pass


def ensure_torch():
    global TORCH_STUB
    import importlib.util
    missing = [r for r in STUB_ROOTS if importlib.util.find_spec(r) is None]
    if missing:
        TORCH_STUB = True
        sys.meta_path.append(_StubFinder)


def sj_functions():
    ensure_torch()
    import spikingjelly.datasets as sjd
    from spikingjelly.datasets import cifar10_dvs, dvs128_gesture

    integrate = getattr(sjd, "integrate_events_by_fixed_frames_number", None)
    if integrate is None:
        from spikingjelly.datasets import utils as sju
        integrate = sju.integrate_events_by_fixed_frames_number
    load_cifar = getattr(cifar10_dvs.CIFAR10DVS, "load_origin_data", None) or getattr(
        cifar10_dvs, "_load_origin_data")
    load_gesture = getattr(sjd, "load_aedat_v3", None)
    if load_gesture is None:
        from spikingjelly.datasets import utils as sju
        load_gesture = sju.load_aedat_v3
    return integrate, load_cifar, load_gesture


def tonic_reader_aedat2(path):
    """tonic's own AEDAT reader (tonic.io.get_aer_events_from_file), then
    tonic's DVS128 address decoding (read_dvs_128 itself is broken in 1.7.0)."""
    import tonic.io as tio
    header = tio.read_aedat_header_from_file(path)
    data_version, data_start = header[0], header[1]
    all_events = tio.get_aer_events_from_file(path, data_version, data_start)
    address = all_events["address"]
    keep = (address & 0x8000) == 0
    address = address[keep]
    events = np.zeros(len(address), dtype=[("t", "<i8"), ("x", "<i2"), ("y", "<i2"), ("p", "<i2")])
    events["t"] = all_events["timeStamp"][keep]
    events["x"] = (address >> 8) & 0x7F
    events["y"] = (address >> 1) & 0x7F
    events["p"] = 1 - (address & 1)
    return events


FOLDER_FORMATS = {"evt2": "raw", "evt3": "raw", "dat": "dat", "atis": "bin", "npy": "npy"}


def read_folder_file(dataset, path):
    """One recording of a newer format, read as tonic's datasets read it."""
    if dataset in ("evt2", "evt3", "dat"):
        from expelliarmus import Wizard
        return Wizard(encoding=dataset).read(path)
    if dataset == "atis":
        import tonic.io as tio
        dtype = np.dtype([("x", np.int16), ("y", np.int16), ("t", np.int64), ("p", np.int8)])
        return tio.read_mnist_file(path, dtype=dtype)
    return np.load(path)


def files_of(dataset, root):
    if dataset in FOLDER_FORMATS:
        return sorted(glob.glob(os.path.join(root, "*", "*." + FOLDER_FORMATS[dataset])))
    if dataset == "cifar10dvs":
        return sorted(glob.glob(os.path.join(root, "*", "*.aedat")))
    names = []
    for lst in ["trials_to_train.txt", "trials_to_test.txt"]:
        with open(os.path.join(root, lst)) as f:
            names += [l.strip() for l in f if l.strip()]
    return [os.path.join(root, n) for n in sorted(names)]


def windows(path):
    csv = path[:-len(".aedat")] + "_labels.csv"
    return np.loadtxt(csv, dtype=np.int64, delimiter=",", skiprows=1, ndmin=2)


def work(args):
    """One file's frames, with the CPU seconds this worker spent on it (process_time)."""
    start = time.process_time()
    samples, events = work_frames(args)
    return samples, events, time.process_time() - start


def work_frames(args):
    tool, dataset, path, frames, sensor = args
    samples = events = 0
    if dataset in FOLDER_FORMATS:
        import tonic.functional as tf
        ev = read_folder_file(dataset, path)
        tf.to_frame_numpy(ev, sensor_size=sensor, n_time_bins=frames)
        return 1, len(ev)
    if tool == "sj":
        integrate, load_cifar, load_gesture = sj_functions()
        if dataset == "cifar10dvs":
            ev = load_cifar(path)
            integrate(ev, "number", frames, 128, 128)
            return 1, len(ev["t"])
        ev = load_gesture(path)
        t = ev["t"]
        for row in windows(path):
            mask = np.logical_and(t >= row[1], t < row[2])
            cut = {k: ev[k][mask] for k in ("t", "x", "y", "p")}
            integrate(cut, "number", frames, 128, 128)
            samples += 1
            events += len(cut["t"])
        return samples, events
    import tonic.functional as tf
    sensor = (128, 128, 2)
    if dataset == "cifar10dvs":
        ev = tonic_reader_aedat2(path)
        tf.to_frame_numpy(ev, sensor_size=sensor, n_time_bins=frames)
        return 1, len(ev)
    # tonic has no working AEDAT 3.1 reader (README of the fixtures): decode with
    # SpikingJelly's reader, then tonic's ToFrame per window.
    _, _, load_gesture = sj_functions()
    raw = load_gesture(path)
    ev = np.zeros(len(raw["t"]), dtype=[("t", "<i8"), ("x", "<i2"), ("y", "<i2"), ("p", "<i2")])
    for k in ("t", "x", "y", "p"):
        ev[k] = raw[k]
    for row in windows(path):
        cut = ev[np.logical_and(ev["t"] >= row[1], ev["t"] < row[2])]
        if len(cut):
            tf.to_frame_numpy(cut, sensor_size=sensor, n_time_bins=frames)
        samples += 1
        events += len(cut)
    return samples, events


def warm(tool, dataset=None):
    """Worker initializer: import the tool's modules before the timing starts."""
    if tool == "sj":
        sj_functions()
    else:
        import tonic.functional  # noqa: F401
        import tonic.io  # noqa: F401
        try:
            import expelliarmus  # noqa: F401
        except ImportError:
            pass
        if dataset not in FOLDER_FORMATS:  # the AEDAT 3.1 reader tonic lacks
            sj_functions()


def noop(_):
    return 0


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--tool", choices=["sj", "tonic"], required=True)
    ap.add_argument("--dataset", choices=["cifar10dvs", "gesture", *FOLDER_FORMATS], required=True)
    ap.add_argument("--sensor", default="128x128", help="WxH (the newer formats)")
    ap.add_argument("--input", required=True)
    ap.add_argument("--frames", type=int, default=10)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--check-output", metavar="DIR",
                    help="after the timing: compare tonic's frames of a sample of the files with "
                         "the dvs-ingest output DIR (a folder dataset of the same input)")
    ap.add_argument("--check-samples", type=int, default=8)
    a = ap.parse_args()
    files = files_of(a.dataset, a.input)
    w, h = (int(v) for v in a.sensor.split("x"))
    jobs = [(a.tool, a.dataset, f, a.frames, (w, h, 2)) for f in files]
    if a.tool == "sj":
        sj_functions()  # import once outside the timing (and fail early)
    with ProcessPoolExecutor(max_workers=a.workers, initializer=warm, initargs=(a.tool, a.dataset)) as pool:
        list(pool.map(noop, range(a.workers * 4)))  # start and warm every worker (imports untimed)
        start = time.perf_counter()
        results = list(pool.map(work, jobs, chunksize=max(1, len(jobs) // (a.workers * 8))))
        seconds = time.perf_counter() - start
    out = {
        "tool": a.tool, "dataset": a.dataset, "files": len(files),
        "samples": sum(r[0] for r in results), "events": sum(r[1] for r in results),
        "seconds": seconds, "cpu_seconds": sum(r[2] for r in results), "torch_stub": TORCH_STUB,
    }
    if a.check_output:
        out["frames_equal"] = check_output(a, (w, h, 2))
    print(json.dumps(out))


def check_output(a, sensor):
    """Untimed: tonic's frames of every k-th sample (both splits) against dvs-ingest's shards
    (read with the spiketrain package); returns how many were compared. Raises on a mismatch."""
    import spiketrain
    import tonic.functional as tf
    compared = 0
    for split in ("train", "test"):
        ds = spiketrain.FrameDataset(a.check_output, split)
        step = max(1, len(ds) // max(1, a.check_samples // 2))
        for index in range(0, len(ds), step):
            _, cls, stem = ds.keys[index].split("/")
            path = os.path.join(a.input, cls, stem + "." + FOLDER_FORMATS[a.dataset])
            theirs = tf.to_frame_numpy(read_folder_file(a.dataset, path), sensor_size=sensor,
                                       n_time_bins=a.frames).astype(np.float32)
            ours, _ = ds[index]
            if theirs.shape != ours.shape or not np.array_equal(theirs, ours):
                raise SystemExit(f"frames differ for {path}: tonic {theirs.shape} "
                                 f"sum {theirs.sum()}, dvs-ingest {ours.shape} sum {ours.sum()}")
            compared += 1
    return compared


if __name__ == "__main__":
    main()
