"""The exceptions of spiketrain: every failure the Rust libraries report arrives as one of these,
with the file, byte offset and reason as attributes (``None`` where not known)."""

from __future__ import annotations

from typing import Any, Optional

__all__ = ["Error", "DecodeError", "ShardError", "DatasetError", "IngestError", "ConfigError", "IoError"]


class Error(Exception):
    """Base class of every spiketrain error.

    Attributes: ``file`` (the file involved), ``offset`` (byte offset in it), ``reason`` (why),
    and, where they apply, ``record`` (record index in a shard), ``key`` (sample key) and
    ``kind`` (decoder error class: io, header, truncated, corrupt, unsupported, ...).
    """

    def __init__(
        self,
        message: str,
        *,
        file: Optional[str] = None,
        offset: Optional[int] = None,
        reason: Optional[str] = None,
        record: Optional[int] = None,
        key: Optional[str] = None,
        kind: Optional[str] = None,
    ) -> None:
        super().__init__(message)
        self.file = file
        self.offset = offset
        self.reason = reason if reason is not None else message
        self.record = record
        self.key = key
        self.kind = kind

    def __reduce__(self) -> Any:  # keep the fields through pickling (DataLoader workers)
        fields = dict(file=self.file, offset=self.offset, reason=self.reason, record=self.record,
                      key=self.key, kind=self.kind)
        return (_rebuild, (type(self), str(self), fields))


def _rebuild(cls: type, message: str, fields: dict) -> "Error":
    return cls(message, **fields)


class DecodeError(Error):
    """A recording does not decode (file, offset, reason, kind)."""


class ShardError(Error):
    """A shard's bytes are damaged: bad magic or version, corrupt structure, or a corrupt record
    (``record`` and ``key`` name it)."""


class DatasetError(Error):
    """``dataset.json`` is missing, unparsable or disagrees with its shards."""


class IngestError(Error):
    """An ingest run failed as a whole (per-recording failures are listed in its summary)."""


class ConfigError(Error, ValueError):
    """A setting or argument has an invalid value or an unknown name."""


class IoError(Error, OSError):
    """The operating system refused a read or write of ``file``."""
