//! `dvs-ingest export`: writes every sample of a prepared dataset as a
//! SpikingJelly-style frame file `<out>/<split>/<class dir>/<name>.npz` holding
//! one array `frames` (float32, `[T, 2, H, W]`), the layout SpikingJelly's
//! `frames_number_*` folders use and that its `load_npz_frames` (and any
//! `np.load(path)["frames"]`) reads. Each file is written atomically; shards
//! are processed in parallel.

use std::path::{Component, Path, PathBuf};

use dvs_frames::fsutil::Durability;
use dvs_frames::{DatasetInfo, ShardReader};
use ndarray::Array4;
use ndarray_npy::NpzWriter;
use rayon::prelude::*;

/// An export failure.
#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    /// Reading the dataset failed.
    #[error(transparent)]
    Frames(#[from] dvs_frames::FrameError),
    /// Writing a file failed.
    #[error("{}: {reason}", path.display())]
    Write {
        /// The file.
        path: PathBuf,
        /// Why.
        reason: String,
    },
    /// A record key cannot be used as a relative path.
    #[error("record key {0:?} is not a safe relative path")]
    UnsafeKey(String),
}

/// Relative `.npz` path for a record key (`<split>/<class>/<name>`).
pub fn npz_path_for_key(key: &str) -> Result<PathBuf, ExportError> {
    let rel = PathBuf::from(format!("{key}.npz"));
    let safe = rel.components().all(|c| matches!(c, Component::Normal(_)));
    if !safe || key.is_empty() {
        return Err(ExportError::UnsafeKey(key.to_string()));
    }
    Ok(rel)
}

/// Writes one `.npz` with key `frames` atomically.
pub fn write_frames_npz(
    path: &Path,
    shape: [usize; 4],
    values: Vec<f32>,
) -> Result<(), ExportError> {
    let werr = |reason: String| ExportError::Write {
        path: path.to_path_buf(),
        reason,
    };
    let array = Array4::from_shape_vec((shape[0], shape[1], shape[2], shape[3]), values)
        .map_err(|e| werr(e.to_string()))?;
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(|e| werr(e.to_string()))?;
    }
    dvs_frames::fsutil::atomic_write_with(path, Durability::Durable, |file| {
        let mut npz = NpzWriter::new_compressed(file);
        npz.add_array("frames", &array)
            .map_err(std::io::Error::other)?;
        npz.finish().map_err(std::io::Error::other)?;
        Ok(())
    })
    .map_err(|e| werr(e.to_string()))
}

/// Exports every sample of the dataset in `dataset_dir` under `out`. Returns
/// the number of files written.
pub fn export_npz(dataset_dir: &Path, out: &Path) -> Result<usize, ExportError> {
    let info = DatasetInfo::read(dataset_dir)?;
    let shards: Vec<PathBuf> = info
        .splits
        .values()
        .flat_map(|s| s.shards.iter().map(|f| dataset_dir.join(f)))
        .collect();
    let counts: Vec<Result<usize, ExportError>> = shards
        .par_iter()
        .map(|shard| {
            let reader = ShardReader::open(shard)?;
            for i in 0..reader.len() {
                let key = reader.key(i)?.to_string();
                let shape = reader.shape(i)?;
                let values = reader.read_f32(i)?;
                write_frames_npz(&out.join(npz_path_for_key(&key)?), shape, values)?;
            }
            Ok(reader.len())
        })
        .collect();
    counts.into_iter().sum()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_must_be_relative() {
        assert!(npz_path_for_key("train/0/a_0").is_ok());
        assert!(npz_path_for_key("../x").is_err());
        assert!(npz_path_for_key("/abs").is_err());
        assert!(npz_path_for_key("").is_err());
    }
}
