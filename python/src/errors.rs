//! Library errors → the package's exceptions (`spiketrain/_errors.py`): the Python class is
//! looked up when an error is raised and built with the error's message and its fields (file,
//! offset, reason, record, key) as keyword attributes, so Python code branches on types and
//! reads the fields instead of parsing messages.

use std::path::Path;

use dvs_frames::FrameError;
use pyo3::prelude::*;
use pyo3::types::PyDict;

/// The exception `class_name` of `spiketrain._errors`, with `message` and the keyword fields.
pub fn raise(
    class_name: &str,
    message: String,
    fields: impl FnOnce(&Bound<'_, PyDict>) -> PyResult<()>,
) -> PyErr {
    Python::attach(|py| {
        let build = || -> PyResult<PyErr> {
            let class = py.import("spiketrain._errors")?.getattr(class_name)?;
            let kwargs = PyDict::new(py);
            fields(&kwargs)?;
            let value = class.call((message,), Some(&kwargs))?;
            Ok(PyErr::from_value(value))
        };
        build().unwrap_or_else(|e| e)
    })
}

fn path_str(path: &Path) -> String {
    path.display().to_string()
}

/// A decoder failure: `DecodeError(file, offset, reason, kind)`.
pub fn decode_error(e: dvs_decode::DecodeError) -> PyErr {
    raise("DecodeError", e.to_string(), |kw| {
        kw.set_item("file", path_str(&e.file))?;
        kw.set_item("offset", e.offset)?;
        kw.set_item("reason", &e.reason)?;
        kw.set_item("kind", format!("{:?}", e.kind).to_lowercase())
    })
}

/// A bad argument value (unknown spelling, out of range): `ConfigError`, also a `ValueError`.
pub fn config_error(message: impl Into<String>) -> PyErr {
    let message = message.into();
    raise("ConfigError", message.clone(), |kw| {
        kw.set_item("reason", message)
    })
}

/// A dvs-frames failure: damaged bytes are `ShardError` (file, offset, record, key, reason),
/// `dataset.json` problems `DatasetError`, I/O `IoError` (also an `OSError`).
pub fn frame_error(e: FrameError) -> PyErr {
    let message = e.to_string();
    match &e {
        FrameError::Io { path, error } => raise("IoError", message, |kw| {
            kw.set_item("file", path_str(path))?;
            kw.set_item("reason", error.to_string())
        }),
        FrameError::BadMagic { path, .. } => raise("ShardError", message.clone(), |kw| {
            kw.set_item("file", path_str(path))?;
            kw.set_item("offset", 0)?;
            kw.set_item("reason", "bad magic: not a dvs-frames shard")
        }),
        FrameError::UnsupportedVersion {
            path,
            offset,
            found,
            supported,
        } => raise("ShardError", message, |kw| {
            kw.set_item("file", path_str(path))?;
            kw.set_item("offset", offset)?;
            kw.set_item(
                "reason",
                format!("unsupported shard format version {found} (this build reads {supported})"),
            )
        }),
        FrameError::CorruptShard {
            path,
            offset,
            reason,
        } => raise("ShardError", message, |kw| {
            kw.set_item("file", path_str(path))?;
            kw.set_item("offset", offset)?;
            kw.set_item("reason", reason)
        }),
        FrameError::CorruptRecord {
            path,
            index,
            key,
            offset,
            reason,
        } => raise("ShardError", message, |kw| {
            kw.set_item("file", path_str(path))?;
            kw.set_item("offset", offset)?;
            kw.set_item("record", index)?;
            kw.set_item("key", key)?;
            kw.set_item("reason", reason)
        }),
        FrameError::OutOfRange { path, index, len } => raise("ShardError", message, |kw| {
            kw.set_item("file", path_str(path))?;
            kw.set_item("record", index)?;
            kw.set_item(
                "reason",
                format!("record index out of range ({len} records)"),
            )
        }),
        FrameError::Dataset { path, reason } => raise("DatasetError", message, |kw| {
            kw.set_item("file", path_str(path))?;
            kw.set_item("reason", reason)
        }),
        FrameError::InvalidRecord { reason, .. } | FrameError::Loader(reason) => {
            let reason = reason.clone();
            raise("Error", message, |kw| kw.set_item("reason", reason))
        }
        #[allow(unreachable_patterns)]
        _ => raise("Error", message, |_| Ok(())),
    }
}

/// A run-level `dvs-ingest` failure: `IngestError` (file = the path involved, when there is one).
pub fn ingest_error(e: dvs_ingest::IngestError) -> PyErr {
    if let dvs_ingest::IngestError::Frames(inner) = e {
        return frame_error(inner);
    }
    let message = e.to_string();
    let file = match &e {
        dvs_ingest::IngestError::Io { path, .. } => Some(path_str(path)),
        dvs_ingest::IngestError::ParamsMismatch { dir, .. } => Some(path_str(dir)),
        _ => None,
    };
    raise("IngestError", message.clone(), |kw| {
        kw.set_item("file", file)?;
        kw.set_item("reason", message)
    })
}
