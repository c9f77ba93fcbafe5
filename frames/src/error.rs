//! The error type of the crate. Every corruption error names the shard file, the record (index
//! and key where known), the byte offset and the reason, so a bad sample can be found by hand.

use std::path::PathBuf;

/// Result alias used throughout `dvs-frames`.
pub type Result<T, E = FrameError> = std::result::Result<T, E>;

/// Everything that can go wrong while writing, reading or loading frames.
#[derive(Debug, thiserror::Error)]
pub enum FrameError {
    /// An operating-system level failure on `path`. The I/O error is part of the message and
    /// deliberately not returned by `source()`, so that no error chain prints it twice.
    #[error("{path}: I/O error: {error}", path = .path.display())]
    Io {
        path: PathBuf,
        error: std::io::Error,
    },
    /// The file does not start with the shard magic number: it is not a shard at all.
    #[error("{path}: bad magic {found:02x?} at byte 0, not a dvs-frames shard", path = .path.display())]
    BadMagic { path: PathBuf, found: Vec<u8> },
    /// The shard was written by a format version this build cannot read.
    #[error("{path}: unsupported shard format version {found} at byte {offset} (this build reads version {supported})", path = .path.display())]
    UnsupportedVersion {
        path: PathBuf,
        offset: u64,
        found: u32,
        supported: u32,
    },
    /// The shard's structure (header, footer, index) is damaged or truncated.
    #[error("{path}: corrupt shard at byte {offset}: {reason}", path = .path.display())]
    CorruptShard {
        path: PathBuf,
        offset: u64,
        reason: String,
    },
    /// One record's bytes are damaged (checksum mismatch, undecodable zstd, wrong size).
    #[error("{path}: corrupt record {index} (key {key:?}) at byte {offset}: {reason}", path = .path.display())]
    CorruptRecord {
        path: PathBuf,
        index: usize,
        key: String,
        offset: u64,
        reason: String,
    },
    /// A record index beyond the end of the shard was requested.
    #[error("{path}: record index {index} out of range (the shard holds {len} records)", path = .path.display())]
    OutOfRange {
        path: PathBuf,
        index: usize,
        len: usize,
    },
    /// The caller handed the writer a record that cannot be stored (bad shape, key too long, ...).
    #[error("invalid record {key:?}: {reason}")]
    InvalidRecord { key: String, reason: String },
    /// `dataset.json` is missing, unparsable or inconsistent with its shards.
    #[error("{path}: invalid dataset description: {reason}", path = .path.display())]
    Dataset { path: PathBuf, reason: String },
    /// The loader was misconfigured or its pipeline stopped unexpectedly.
    #[error("loader: {0}")]
    Loader(String),
}

impl FrameError {
    /// True for errors that mean "the bytes on disk are damaged" (as opposed to I/O failures or
    /// caller mistakes). These are the errors that [`crate::CorruptPolicy::Skip`] skips.
    pub fn is_corruption(&self) -> bool {
        matches!(
            self,
            FrameError::BadMagic { .. }
                | FrameError::UnsupportedVersion { .. }
                | FrameError::CorruptShard { .. }
                | FrameError::CorruptRecord { .. }
        )
    }

    pub(crate) fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        FrameError::Io {
            path: path.into(),
            error: source,
        }
    }
}

impl FrameError {
    /// A copy of this error for reporting it more than once (I/O sources are re-created with
    /// the same kind and message, since `std::io::Error` is not `Clone`).
    pub fn duplicate(&self) -> FrameError {
        match self {
            FrameError::Io { path, error } => FrameError::Io {
                path: path.clone(),
                error: std::io::Error::new(error.kind(), error.to_string()),
            },
            FrameError::BadMagic { path, found } => FrameError::BadMagic {
                path: path.clone(),
                found: found.clone(),
            },
            FrameError::UnsupportedVersion {
                path,
                offset,
                found,
                supported,
            } => FrameError::UnsupportedVersion {
                path: path.clone(),
                offset: *offset,
                found: *found,
                supported: *supported,
            },
            FrameError::CorruptShard {
                path,
                offset,
                reason,
            } => FrameError::CorruptShard {
                path: path.clone(),
                offset: *offset,
                reason: reason.clone(),
            },
            FrameError::CorruptRecord {
                path,
                index,
                key,
                offset,
                reason,
            } => FrameError::CorruptRecord {
                path: path.clone(),
                index: *index,
                key: key.clone(),
                offset: *offset,
                reason: reason.clone(),
            },
            FrameError::OutOfRange { path, index, len } => FrameError::OutOfRange {
                path: path.clone(),
                index: *index,
                len: *len,
            },
            FrameError::InvalidRecord { key, reason } => FrameError::InvalidRecord {
                key: key.clone(),
                reason: reason.clone(),
            },
            FrameError::Dataset { path, reason } => FrameError::Dataset {
                path: path.clone(),
                reason: reason.clone(),
            },
            FrameError::Loader(s) => FrameError::Loader(s.clone()),
        }
    }
}
