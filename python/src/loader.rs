//! `spiketrain.Loader`'s engine: dvs-frames' tokio [`Loader`] with its [`LoaderConfig`] typed
//! through serde from the Python keywords. The consumer waits for a batch with the GIL
//! released, and the batch's `Vec<f32>` becomes the numpy array's buffer (no copy); batches,
//! their order and their augmentation are the Rust loader's for the same (seed, epoch).

use std::path::PathBuf;
use std::sync::Mutex;

use dvs_frames::{EpochIter, Loader, LoaderConfig};
use numpy::{PyArray1, PyArray5, PyArrayMethods};
use pyo3::prelude::*;

use crate::errors::{config_error, frame_error};

/// One split, opened for batched loading.
#[pyclass(module = "spiketrain._native", frozen)]
pub struct NativeLoader {
    loader: Loader,
}

#[pymethods]
impl NativeLoader {
    /// Opens `split` of the dataset in `dir` with a `LoaderConfig` given as JSON (its serde
    /// field names; absent fields take the library's defaults).
    #[new]
    fn new(py: Python<'_>, dir: PathBuf, split: String, config_json: &str) -> PyResult<Self> {
        let config: LoaderConfig = serde_json::from_str(config_json)
            .map_err(|e| config_error(format!("loader settings: {e}")))?;
        let loader = py
            .detach(|| Loader::open(&dir, &split, config))
            .map_err(frame_error)?;
        Ok(NativeLoader { loader })
    }

    /// Samples in the split.
    #[getter]
    fn num_samples(&self) -> usize {
        self.loader.len()
    }

    /// Batches per epoch.
    #[getter]
    fn num_batches(&self) -> usize {
        self.loader.num_batches()
    }

    /// `[T, 2, H, W]`.
    #[getter]
    fn sample_shape(&self) -> [usize; 4] {
        self.loader.sample_shape()
    }

    /// `dataset.json` as JSON text.
    #[getter]
    fn info_json(&self) -> String {
        serde_json::to_string(self.loader.info()).unwrap_or_default()
    }

    /// The effective loader settings as JSON text.
    #[getter]
    fn config_json(&self) -> String {
        serde_json::to_string(self.loader.config()).unwrap_or_default()
    }

    /// The keys of epoch `epoch` in delivery order (nothing is decoded).
    fn epoch_keys(&self, py: Python<'_>, epoch: u64) -> PyResult<Vec<String>> {
        py.detach(|| self.loader.epoch_keys(epoch))
            .map_err(frame_error)
    }

    /// Starts epoch `epoch`; with `keys` the iterator yields `(x, y, keys)`.
    #[pyo3(signature = (epoch, keys=false))]
    fn epoch(&self, epoch: u64, keys: bool) -> NativeEpoch {
        NativeEpoch {
            batches: Mutex::new(Some(self.loader.epoch(epoch))),
            with_keys: keys,
        }
    }
}

/// The batches of one epoch (dropping it stops the pipeline).
#[pyclass(module = "spiketrain._native", frozen)]
pub struct NativeEpoch {
    batches: Mutex<Option<EpochIter>>,
    with_keys: bool,
}

#[pymethods]
impl NativeEpoch {
    fn __iter__(slf: PyRef<'_, Self>) -> PyRef<'_, Self> {
        slf
    }

    fn __next__<'py>(&self, py: Python<'py>) -> PyResult<Option<Bound<'py, PyAny>>> {
        let next = py.detach(|| {
            let mut guard = self.batches.lock().unwrap_or_else(|p| p.into_inner());
            let next = guard.as_mut().and_then(Iterator::next);
            if next.is_none() {
                // Finished: release the channel and the producer now, not at garbage collection.
                *guard = None;
            }
            next
        });
        let Some(batch) = next else {
            return Ok(None);
        };
        let batch = batch.map_err(frame_error)?;
        let x: Bound<'py, PyArray5<f32>> =
            PyArray1::from_vec(py, batch.data).reshape(batch.shape)?;
        let labels: Vec<i64> = batch.labels.iter().map(|&l| i64::from(l)).collect();
        let y = PyArray1::from_vec(py, labels);
        let item = if self.with_keys {
            (x, y, batch.keys).into_pyobject(py)?.into_any()
        } else {
            (x, y).into_pyobject(py)?.into_any()
        };
        Ok(Some(item))
    }

    /// Batches planned for this epoch (0 once it is finished).
    fn __len__(&self) -> usize {
        let guard = self.batches.lock().unwrap_or_else(|p| p.into_inner());
        guard.as_ref().map_or(0, EpochIter::num_batches)
    }

    /// Seconds the consumer has waited for batches so far this epoch.
    #[getter]
    fn wait_seconds(&self) -> f64 {
        let guard = self.batches.lock().unwrap_or_else(|p| p.into_inner());
        guard.as_ref().map_or(0.0, |b| b.total_wait().as_secs_f64())
    }
}
