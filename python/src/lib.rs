//! `spiketrain._native`: the Rust half of the `spiketrain` Python package. Each submodule binds
//! one library of the workspace and owns nothing but the conversion: [`events`] (dvs-decode's
//! readers, dvs-ingest's probe and frame integration), [`ingest`] (a `dvs-ingest run` from a
//! settings dict), [`dataset`] (random access to a prepared split), [`loader`] (dvs-frames'
//! tokio loader, batches handed to numpy without a copy) and [`errors`] (library errors as the
//! package's Python exceptions). The Python-facing API, its docstrings and stubs live in
//! `python/spiketrain/`.

use pyo3::prelude::*;

mod dataset;
mod errors;
mod events;
mod ingest;
mod loader;

/// The extension module (imported as `spiketrain._native`).
#[pymodule]
fn _native(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(events::read_events_packed, m)?)?;
    m.add_function(wrap_pyfunction!(events::hdf5_keys, m)?)?;
    m.add_function(wrap_pyfunction!(events::probe_json, m)?)?;
    m.add_function(wrap_pyfunction!(events::integrate_frames, m)?)?;
    m.add_function(wrap_pyfunction!(ingest::ingest_json, m)?)?;
    m.add_class::<dataset::FrameSplit>()?;
    m.add_class::<loader::NativeLoader>()?;
    m.add_class::<loader::NativeEpoch>()?;
    Ok(())
}
