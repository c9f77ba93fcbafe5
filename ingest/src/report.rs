//! The errors report (`errors.json`): one entry per recording that could not
//! be ingested, naming the file, the byte offset where decoding stopped (when
//! known) and the reason. A failed recording never stops the others.

use std::path::Path;

use serde::{Deserialize, Serialize};

use dvs_decode::DecodeError;

/// One recording that failed.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct RecordingFailure {
    /// Recording id (path relative to the input root).
    pub file: String,
    /// Byte offset in the file where the problem was found, when known.
    pub offset: Option<u64>,
    /// Why it failed.
    pub reason: String,
}

impl RecordingFailure {
    /// Builds a failure.
    pub fn new(file: impl Into<String>, offset: Option<u64>, reason: impl Into<String>) -> Self {
        Self {
            file: file.into(),
            offset,
            reason: reason.into(),
        }
    }

    /// From a decoder error, keeping its offset and reason.
    pub fn from_decode(file: &str, err: &DecodeError) -> Self {
        Self::new(file, Some(err.offset), err.reason.clone())
    }
}

/// The `errors.json` document.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorsReport {
    /// Recordings that were ingested (including those with zero samples).
    pub recordings_ok: usize,
    /// Recordings that failed.
    pub recordings_failed: usize,
    /// One entry per failed recording, sorted by file.
    pub failures: Vec<RecordingFailure>,
}

impl ErrorsReport {
    /// File name of the report inside a prepared dataset.
    pub const FILE_NAME: &'static str = "errors.json";

    /// Writes `errors.json` atomically into `dir`.
    pub fn write(&self, dir: &Path) -> std::io::Result<()> {
        let mut json = serde_json::to_vec_pretty(self).map_err(std::io::Error::other)?;
        json.push(b'\n');
        dvs_frames::fsutil::atomic_write(&dir.join(Self::FILE_NAME), &json)
    }

    /// Reads `errors.json` from `dir`.
    pub fn read(dir: &Path) -> std::io::Result<Self> {
        let bytes = std::fs::read(dir.join(Self::FILE_NAME))?;
        serde_json::from_slice(&bytes).map_err(std::io::Error::other)
    }
}
