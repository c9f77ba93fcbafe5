"""spiketrain for Python: read any event-camera recording, prepare frame datasets and load them
into PyTorch fast. Backed by the spiketrain Rust crates (dvs-decode, dvs-ingest, dvs-frames).

    events = spiketrain.read_events("user01_fluorescent.aedat")   # t, x, y, p structured array
    spiketrain.ingest(dataset="gesture", input="DvsGesture", output="data", frames=10)
    for x, y in spiketrain.Loader("data", "train", batch_size=16, shuffle=True, augment="asgl").epoch(0):
        ...  # x float32 [B, T, 2, H, W], y int64 [B]

Every failure is a :class:`spiketrain.Error` (file, offset, reason attributes).
"""

from __future__ import annotations

import json
import os
from typing import Any, Dict, Iterator, List, Mapping, Optional, Sequence, Tuple, Union

import numpy as np

from . import _native
from ._errors import ConfigError, DatasetError, DecodeError, Error, IngestError, IoError, ShardError

__all__ = [
    "EVENT_DTYPE", "read_events", "hdf5_keys", "probe", "to_frames", "ingest", "FrameDataset",
    "Loader", "Error", "DecodeError", "ShardError", "DatasetError", "IngestError", "ConfigError",
    "IoError",
]

#: The dtype of :func:`read_events`: ``t`` µs int64, ``x``/``y`` uint16, ``p`` int8 (1 = ON, 0 = OFF).
EVENT_DTYPE = np.dtype([("t", "<i8"), ("x", "<u2"), ("y", "<u2"), ("p", "i1")])

PathLike = Union[str, "os.PathLike[str]"]


def read_events(
    path: PathLike,
    *,
    stream: Union[None, int, str] = None,
    orientation: str = "spikingjelly",
    keep_invalid: bool = False,
    atis_sensor: Optional[Tuple[int, int]] = None,
    sensor: Optional[Tuple[int, int]] = None,
    time_order: str = "as-stored",
) -> np.ndarray:
    """Decodes every event of a recording, in file order (never re-sorted).

    The format is detected from the file's first bytes (then its extension), exactly as
    ``dvs-ingest probe`` does: AEDAT 2.0 / 3.1 / 4.0, DECOLLE HDF5, ATIS ``.bin``, numpy
    ``.npy``, Prophesee EVT 2.0 / EVT 3.0 ``.raw`` and ``.dat``.

    Args:
        path: the recording.
        stream: AEDAT 4: the event stream id (default: the lowest-id EVTS stream, the one
            decoded); HDF5 (pre-cut samples): the sample key (required, see :func:`hdf5_keys`).
        orientation: AEDAT 2.0 (CIFAR10-DVS) pixel mapping, ``"spikingjelly"`` (x = 127 - y_raw,
            y = 127 - x_raw) or ``"raw"`` (address fields as stored).
        keep_invalid: AEDAT 3.1: keep events whose validity bit is clear (SpikingJelly does).
        atis_sensor: ATIS ``.bin``: the ``(width, height)`` coordinates are checked against
            (default N-MNIST 34x34).
        sensor: any format: a ``(width, height)`` every event must lie inside (``dvs-ingest
            --sensor WxH``), on top of the size the file itself declares; an event outside it
            is a :class:`DecodeError` naming the event and the offset of its packet.
        time_order: ``"as-stored"`` (default: timestamps as the file holds them, after the
            format's own wrap-around rules) or ``"error"``: the first timestamp smaller than the
            previous one is a :class:`DecodeError` (``kind == "timeorder"``).

    Returns:
        A structured array of :data:`EVENT_DTYPE` (``t``, ``x``, ``y``, ``p``).

    Raises:
        DecodeError: the file does not decode (``file``, ``offset``, ``reason``, ``kind``).
        ConfigError: a bad option, or a stream the file does not have.
    """
    packed = _native.read_events_packed(
        os.fspath(path), stream, orientation, keep_invalid,
        None if atis_sensor is None else tuple(atis_sensor),
        None if sensor is None else tuple(sensor), time_order,
    )
    return packed.view(EVENT_DTYPE)


def hdf5_keys(path: PathLike) -> List[str]:
    """The sample keys of a DECOLLE-layout HDF5 file (the ``stream`` values of :func:`read_events`)."""
    return list(_native.hdf5_keys(os.fspath(path)))


def probe(
    path: PathLike,
    *,
    orientation: str = "spikingjelly",
    keep_invalid: bool = False,
    atis_sensor: Optional[Tuple[int, int]] = None,
) -> Dict[str, Any]:
    """One recording's summary, as ``dvs-ingest probe`` prints it.

    Returns a dict with ``file``, ``format``, ``sensor`` ([width, height] or None), ``streams``
    (AEDAT 4), ``samples`` (HDF5), ``events``, ``duration_us``, ``event_rate_hz``, ``on_share``
    and ``time_order_violations``.
    """
    return json.loads(_native.probe_json(
        os.fspath(path), orientation, keep_invalid,
        None if atis_sensor is None else tuple(atis_sensor),
    ))


def _columns(events: Any) -> Tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    def column(name: str) -> np.ndarray:
        try:
            return np.asarray(events[name])
        except (KeyError, ValueError, IndexError) as e:
            raise ConfigError(f"events have no {name!r} field (expected t, x, y, p)") from e

    t, x, y, p = (column(n) for n in "txyp")
    for name, col in zip("xy", (x, y)):
        if col.size and (col.min() < 0 or col.max() > np.iinfo(np.uint16).max):
            raise ConfigError(f"event {name} values outside 0..65535")
    return (
        np.ascontiguousarray(t, dtype=np.int64),
        np.ascontiguousarray(x, dtype=np.uint16),
        np.ascontiguousarray(y, dtype=np.uint16),
        np.ascontiguousarray(p != 0, dtype=np.uint8),
    )


def to_frames(
    events: Any,
    sensor_size: Sequence[int],
    n_frames: int,
    split_by: str = "number",
) -> np.ndarray:
    """Integrates events into ``n_frames`` frames, as ``dvs-ingest`` does.

    Frames start at the first event; channel 0 = OFF, 1 = ON (any non-zero ``p``);
    ``F[j, p, y, x] += 1`` per event.

    Args:
        events: a structured array (or mapping) with ``t``, ``x``, ``y``, ``p``, in time order.
        sensor_size: ``(width, height)`` or tonic's ``(width, height, 2)``.
        n_frames: T.
        split_by: ``"number"`` (SpikingJelly ``split_by='number'``), ``"time"`` (SpikingJelly
            ``split_by='time'``) or ``"tonic-time-bins"`` (tonic ``ToFrame(n_time_bins=T)``,
            which drops the events at ``t >= t_0 + T*w``).

    Returns:
        float32 ``[n_frames, 2, height, width]`` counts, equal to those libraries' frames.

    Raises:
        ConfigError: an unknown ``split_by``, or an event outside the sensor.
    """
    if len(sensor_size) not in (2, 3):
        raise ConfigError(f"sensor_size {tuple(sensor_size)} (expected (width, height[, 2]))")
    width, height = int(sensor_size[0]), int(sensor_size[1])
    t, x, y, p = _columns(events)
    flat = _native.integrate_frames(t, x, y, p, width, height, int(n_frames), split_by)
    return flat.reshape(int(n_frames), 2, height, width)


def ingest(
    dataset: str,
    input: PathLike,
    output: PathLike,
    *,
    progress: Optional[bool] = None,
    **settings: Any,
) -> Dict[str, Any]:
    """Runs ``dvs-ingest run``: raw recordings → a prepared dataset (shards + ``dataset.json`` +
    ``manifest.parquet`` + ``errors.json``).

    The keyword settings are the CLI's, spelled as its TOML keys (``--split-by`` →
    ``split_by``): ``frames`` (T, default 10), ``split_by`` (number | time | tonic-time-bins),
    ``resize`` (output side S), ``split`` (CIFAR10-DVS split rule), ``orientation``,
    ``keep_invalid``, ``shard_mb``, ``zstd_level``, ``jobs`` (0 = all cores), ``overwrite`` and any
    other key the ingest configuration has. ``progress``: draw the progress bar (default: when
    stderr is a terminal).

    Returns the run summary: ``output``, ``up_to_date``, ``samples`` (per split),
    ``recordings_ok``, ``recordings_resumed``, ``failures`` (file, offset, reason of each
    recording that failed; the rest was written), ``events_decoded``, ``params_hash``.

    Raises:
        ConfigError: an unknown setting or a bad value. IngestError / DatasetError / ShardError:
        the run failed as a whole.
    """
    values: Dict[str, Any] = {"dataset": dataset, "input": os.fspath(input), "output": os.fspath(output)}
    for key, value in settings.items():
        values[key] = os.fspath(value) if isinstance(value, os.PathLike) else value
    return json.loads(_native.ingest_json(json.dumps(values), progress))


class FrameDataset:
    """A map-style dataset over one split of a prepared dataset directory.

    ``len(ds)`` samples; ``ds[i]`` is ``(frames, label)`` with ``frames`` float32
    ``[T, 2, H, W]`` (the stored values, as ``dvs-ingest export`` writes them) and ``label`` an
    int. ``ds.classes`` are the class names, ``ds.info`` the ``dataset.json`` dict, ``ds.keys``
    the sample keys. A ``torch.utils.data.DataLoader`` takes it (it pickles by path, so every
    worker reopens the split).

    Raises:
        DatasetError / ShardError / IoError: the directory or a shard is missing or damaged
        (a damaged record raises when read, naming the shard and the record).
    """

    def __init__(self, root: PathLike, split: str = "train") -> None:
        self.root = os.fspath(root)
        self.split = split
        self._native = _native.FrameSplit(self.root, split)
        self.info: Dict[str, Any] = json.loads(self._native.info_json)
        self.classes: List[str] = list(self.info["classes"])
        self.keys: List[str] = list(self._native.keys)
        self.labels: List[int] = list(self._native.labels)

    def __len__(self) -> int:
        return len(self._native)

    def __getitem__(self, index: int) -> Tuple[np.ndarray, int]:
        index = int(index)
        if index < 0:
            index += len(self)
        if not 0 <= index < len(self):
            raise IndexError(f"sample {index} out of range ({len(self)} samples)")
        frames, label = self._native.get(index)
        return frames, int(label)

    def location(self, index: int) -> Tuple[str, int]:
        """The shard file holding sample ``index`` and its record index there."""
        return tuple(self._native.location(int(index)))  # type: ignore[return-value]

    def __getstate__(self) -> Dict[str, Any]:
        return {"root": self.root, "split": self.split}

    def __setstate__(self, state: Mapping[str, Any]) -> None:
        self.__init__(state["root"], state["split"])  # type: ignore[misc]

    def __repr__(self) -> str:
        return f"FrameDataset({self.root!r}, {self.split!r}, samples={len(self)})"


AugmentSpec = Union[None, bool, str, Mapping[str, Any]]
TransformSpec = Union[str, Tuple[str, float], Mapping[str, float]]


def _augment(spec: AugmentSpec) -> Dict[str, Any]:
    if spec is None or spec is False or spec == "none":
        return {"flip": False, "roll_max": 0}
    if spec is True or spec == "asgl":
        return {"flip": True, "roll_max": 5}
    if isinstance(spec, Mapping):
        unknown = set(spec) - {"flip", "roll_max"}
        if unknown:
            raise ConfigError(f"augment: unknown keys {sorted(unknown)} (expected flip, roll_max)")
        return {"flip": bool(spec.get("flip", False)), "roll_max": int(spec.get("roll_max", 0))}
    raise ConfigError(f"augment {spec!r} (expected None, 'asgl' or {{'flip': bool, 'roll_max': int}})")


def _transform(spec: TransformSpec) -> Any:
    if isinstance(spec, str):
        name = spec.replace("-", "_")
        if name in ("raw", "max_norm", "binarize"):
            return name
        raise ConfigError(f"transform {spec!r} (expected raw, max_norm, binarize or ('clamp', c))")
    if isinstance(spec, Mapping) and set(spec) == {"clamp"}:
        return {"clamp": float(spec["clamp"])}
    if isinstance(spec, (tuple, list)) and len(spec) == 2 and spec[0] == "clamp":
        return {"clamp": float(spec[1])}
    raise ConfigError(f"transform {spec!r} (expected raw, max_norm, binarize or ('clamp', c))")


class Loader:
    """Batches of one split from the Rust loader (tokio reads, rayon decode + augmentation).

    ``loader.epoch(e)`` yields ``(x, y)``: ``x`` float32 ``[B, T, 2, H, W]`` whose buffer is the
    Rust batch (no copy; ``torch.from_numpy(x)`` shares it too), ``y`` int64 ``[B]``. The order and
    every augmentation are drawn from ``(seed, epoch)``: the same arguments give the same batches
    as the Rust loader (``dvs_frames::Loader``) on any machine, worker count or prefetch depth.
    The GIL is released while a batch is awaited. Iterating the loader itself runs epochs 0, 1, ...

    Args:
        root, split: the prepared dataset directory and split (``train``, ``test``, ...).
        batch_size: samples per batch.
        shuffle: shuffle shard order and samples every epoch.
        seed: seed of the order and the augmentation.
        augment: ``None`` (none), ``"asgl"`` (flip p=0.5 + roll in [-5, 5], the ASGL/TET recipe)
            or ``{"flip": bool, "roll_max": int}``.
        transform: ``"raw"``, ``"max_norm"`` (each frame / its max), ``"binarize"`` or
            ``("clamp", c)``; applied after augmentation.
        workers: decode threads (0 = all cores).
        prefetch: batches buffered ahead. drop_last: drop a partial last batch.
        on_corrupt: ``"fail"`` (raise ShardError) or ``"skip"`` (leave the sample out, warn).
        shuffle_window: shards shuffled together (0 = the whole split).
        cache_bytes: keep the split's shards in RAM across epochs when they total at most this.
    """

    def __init__(
        self,
        root: PathLike,
        split: str = "train",
        batch_size: int = 32,
        shuffle: bool = False,
        seed: int = 0,
        *,
        augment: AugmentSpec = None,
        transform: TransformSpec = "raw",
        workers: int = 0,
        prefetch: int = 4,
        drop_last: bool = False,
        on_corrupt: str = "fail",
        shuffle_window: int = 0,
        cache_bytes: Optional[int] = None,
    ) -> None:
        if on_corrupt not in ("fail", "skip"):
            raise ConfigError(f"on_corrupt {on_corrupt!r} (expected 'fail' or 'skip')")
        config: Dict[str, Any] = {
            "batch_size": int(batch_size), "shuffle": bool(shuffle), "seed": int(seed),
            "prefetch": int(prefetch), "augment": _augment(augment), "transform": _transform(transform),
            "drop_last": bool(drop_last), "on_corrupt": on_corrupt, "workers": int(workers),
            "shuffle_window": int(shuffle_window),
        }
        if cache_bytes is not None:
            config["cache_bytes"] = int(cache_bytes)
        self.root = os.fspath(root)
        self.split = split
        self._native = _native.NativeLoader(self.root, split, json.dumps(config))
        self.info: Dict[str, Any] = json.loads(self._native.info_json)
        self.classes: List[str] = list(self.info["classes"])
        self.config: Dict[str, Any] = json.loads(self._native.config_json)
        self._next_epoch = 0

    @property
    def num_samples(self) -> int:
        """Samples in the split."""
        return int(self._native.num_samples)

    def __len__(self) -> int:
        """Batches per epoch."""
        return int(self._native.num_batches)

    def epoch(self, epoch: int, *, keys: bool = False) -> Iterator[Any]:
        """The batches of epoch ``epoch``: ``(x, y)``, or ``(x, y, keys)`` with ``keys=True``.

        Raises ShardError (file, record, key, offset) on a damaged record under
        ``on_corrupt="fail"``."""
        return self._native.epoch(int(epoch), keys)

    def epoch_keys(self, epoch: int) -> List[str]:
        """The sample keys of epoch ``epoch`` in delivery order (nothing is decoded)."""
        return list(self._native.epoch_keys(int(epoch)))

    def __iter__(self) -> Iterator[Tuple[np.ndarray, np.ndarray]]:
        epoch = self._next_epoch
        self._next_epoch += 1
        return self.epoch(epoch)

    def __repr__(self) -> str:
        return (f"Loader({self.root!r}, {self.split!r}, batch_size={self.config['batch_size']}, "
                f"samples={self.num_samples})")
