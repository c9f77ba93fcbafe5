//! Random access to one split of a prepared dataset (`spiketrain.FrameDataset`'s engine): the
//! shard indices are read up front (keys, labels, shapes; validated), each shard's bytes on
//! first use; a sample is decoded (checksum verified) with the GIL released and handed to
//! numpy without a copy.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use dvs_frames::{DatasetInfo, ShardIndex, ShardReader};
use numpy::{PyArray1, PyArray4, PyArrayMethods};
use pyo3::prelude::*;

use crate::errors::frame_error;

/// One split: every sample's shard and record, key and label.
#[pyclass(module = "spiketrain._native", frozen)]
pub struct FrameSplit {
    info_json: String,
    shard_paths: Vec<PathBuf>,
    readers: Vec<OnceLock<ShardReader>>,
    /// Per sample: (shard, record).
    locations: Vec<(usize, usize)>,
    keys: Vec<String>,
    labels: Vec<u32>,
    shape: [usize; 4],
}

fn open_split(dir: &Path, split: &str) -> dvs_frames::Result<FrameSplit> {
    let info = DatasetInfo::read(dir)?;
    let shape = info.sample_shape();
    let split_info = info.split(split)?;
    let mut split_set = FrameSplit {
        info_json: serde_json::to_string(&info).unwrap_or_default(),
        shard_paths: Vec::new(),
        readers: Vec::new(),
        locations: Vec::new(),
        keys: Vec::new(),
        labels: Vec::new(),
        shape,
    };
    for (shard, rel) in split_info.shards.iter().enumerate() {
        let path = dir.join(rel);
        let index = ShardIndex::read(&path)?;
        for record in 0..index.len() {
            split_set.locations.push((shard, record));
            split_set.keys.push(index.key(record)?.to_owned());
            split_set.labels.push(index.label(record)?);
        }
        split_set.shard_paths.push(path);
        split_set.readers.push(OnceLock::new());
    }
    Ok(split_set)
}

impl FrameSplit {
    fn read(&self, i: usize) -> dvs_frames::Result<Vec<f32>> {
        let (shard, record) = self.locations[i];
        let reader = match self.readers[shard].get() {
            Some(reader) => reader,
            None => {
                let opened = ShardReader::open(&self.shard_paths[shard])?;
                self.readers[shard].get_or_init(|| opened)
            }
        };
        reader.read_f32(record)
    }
}

#[pymethods]
impl FrameSplit {
    #[new]
    fn new(py: Python<'_>, dir: PathBuf, split: String) -> PyResult<Self> {
        py.detach(|| open_split(&dir, &split)).map_err(frame_error)
    }

    fn __len__(&self) -> usize {
        self.locations.len()
    }

    /// `(frames float32 [T, 2, H, W], label)` of sample `i` (0 <= i < len).
    fn get<'py>(&self, py: Python<'py>, i: usize) -> PyResult<(Bound<'py, PyArray4<f32>>, u32)> {
        if i >= self.locations.len() {
            return Err(pyo3::exceptions::PyIndexError::new_err(format!(
                "sample {i} out of range ({} samples)",
                self.locations.len()
            )));
        }
        let values = py.detach(|| self.read(i)).map_err(frame_error)?;
        let frames = PyArray1::from_vec(py, values).reshape(self.shape)?;
        Ok((frames, self.labels[i]))
    }

    /// Sample keys in split order.
    #[getter]
    fn keys(&self) -> Vec<String> {
        self.keys.clone()
    }

    /// Labels in split order.
    #[getter]
    fn labels(&self) -> Vec<u32> {
        self.labels.clone()
    }

    /// `dataset.json` as JSON text.
    #[getter]
    fn info_json(&self) -> String {
        self.info_json.clone()
    }

    /// The shard of sample `i` and its record index there.
    fn location(&self, i: usize) -> PyResult<(String, usize)> {
        let &(shard, record) = self.locations.get(i).ok_or_else(|| {
            pyo3::exceptions::PyIndexError::new_err(format!("sample {i} out of range"))
        })?;
        Ok((self.shard_paths[shard].display().to_string(), record))
    }
}
