//! `dataset.json` ([`DatasetInfo`]): the description of a prepared dataset directory that the
//! loader needs (Contract 1 of `docs/architecture.md`), plus the atomic-write helpers the whole
//! workspace reuses.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::dtype::Dtype;
use crate::error::{FrameError, Result};

/// One split (e.g. "train", "test") of a prepared dataset.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SplitInfo {
    /// Shard files relative to the dataset directory, e.g. `train/shard-00000.dvsf`, in order.
    pub shards: Vec<String>,
    /// Total number of samples in those shards.
    pub samples: u64,
}

/// The contents of `<dataset>/dataset.json`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct DatasetInfo {
    /// Version of this JSON layout; [`DatasetInfo::FORMAT_VERSION`] when written by this build.
    pub format_version: u32,
    /// Dataset kind as ingest names it (e.g. "dvs-gesture", "cifar10-dvs").
    pub kind: String,
    /// Class names; label `i` is `classes[i]`.
    pub classes: Vec<String>,
    /// Number of frames T per sample.
    pub frames: usize,
    /// Frame height H.
    pub height: usize,
    /// Frame width W.
    pub width: usize,
    /// Widest stored dtype of any record.
    pub dtype: Dtype,
    /// The integration parameters exactly as ingest records them.
    pub params: serde_json::Value,
    /// A hash of `params` chosen by ingest (checkpoints compare it).
    pub params_hash: String,
    /// Splits by name.
    pub splits: BTreeMap<String, SplitInfo>,
}

impl DatasetInfo {
    /// File name inside the dataset directory.
    pub const FILE_NAME: &'static str = "dataset.json";
    /// The `format_version` this build writes and reads.
    pub const FORMAT_VERSION: u32 = 1;

    /// Reads and checks `<dir>/dataset.json`.
    pub fn read(dir: impl AsRef<Path>) -> Result<Self> {
        let path = dir.as_ref().join(Self::FILE_NAME);
        let bytes = std::fs::read(&path).map_err(|e| FrameError::io(&path, e))?;
        let info: DatasetInfo =
            serde_json::from_slice(&bytes).map_err(|e| FrameError::Dataset {
                path: path.clone(),
                reason: format!("not valid dataset JSON: {e}"),
            })?;
        if info.format_version != Self::FORMAT_VERSION {
            return Err(FrameError::Dataset {
                path,
                reason: format!(
                    "format_version {} is not supported (this build reads {})",
                    info.format_version,
                    Self::FORMAT_VERSION
                ),
            });
        }
        Ok(info)
    }

    /// Writes `<dir>/dataset.json` atomically (temp file + fsync + rename + directory fsync).
    pub fn write_atomic(&self, dir: impl AsRef<Path>) -> Result<PathBuf> {
        let path = dir.as_ref().join(Self::FILE_NAME);
        let json = serde_json::to_vec_pretty(self).map_err(|e| FrameError::Dataset {
            path: path.clone(),
            reason: format!("cannot serialise: {e}"),
        })?;
        crate::fsutil::atomic_write(&path, &json).map_err(|e| FrameError::io(&path, e))?;
        Ok(path)
    }

    /// The split named `name`, or an error naming the splits that exist.
    pub fn split(&self, name: &str) -> Result<&SplitInfo> {
        self.splits.get(name).ok_or_else(|| FrameError::Dataset {
            path: PathBuf::from(Self::FILE_NAME),
            reason: format!(
                "no split {name:?}; the dataset has {:?}",
                self.splits.keys().collect::<Vec<_>>()
            ),
        })
    }

    /// `[T, 2, H, W]`, the shape of every sample.
    pub fn sample_shape(&self) -> [usize; 4] {
        [self.frames, 2, self.height, self.width]
    }
}
