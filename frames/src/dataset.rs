//! `dataset.json` ([`DatasetInfo`]): the description of a prepared dataset directory that the
//! loader needs (Contract 1 of `docs/architecture.md`), plus the atomic-write helpers the whole
//! workspace reuses.

use std::collections::BTreeMap;
use std::io::Write;
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
        atomic_write(&path, &json)?;
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

/// Writes `bytes` to `path` so that readers see either the old file or the complete new one:
/// a temporary file in the same directory, fsync, rename over `path`, fsync of the directory.
pub fn atomic_write(path: impl AsRef<Path>, bytes: &[u8]) -> Result<()> {
    let path = path.as_ref();
    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let name = path
        .file_name()
        .ok_or_else(|| FrameError::io(path, std::io::Error::other("path has no file name")))?;
    let tmp = dir.join(format!(
        ".{}.tmp-{}",
        name.to_string_lossy(),
        std::process::id()
    ));
    let result = (|| {
        let mut file = std::fs::File::create(&tmp).map_err(|e| FrameError::io(&tmp, e))?;
        file.write_all(bytes).map_err(|e| FrameError::io(&tmp, e))?;
        file.sync_all().map_err(|e| FrameError::io(&tmp, e))?;
        drop(file);
        std::fs::rename(&tmp, path).map_err(|e| FrameError::io(path, e))?;
        sync_dir(&dir)
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}

/// Fsyncs a directory so that a rename inside it survives a crash (a no-op where directories
/// cannot be opened, e.g. on Windows).
pub fn sync_dir(dir: &Path) -> Result<()> {
    #[cfg(unix)]
    {
        let d = std::fs::File::open(dir).map_err(|e| FrameError::io(dir, e))?;
        d.sync_all().map_err(|e| FrameError::io(dir, e))?;
    }
    #[cfg(not(unix))]
    let _ = dir;
    Ok(())
}
