//! `dvs-ingest`: raw event-camera recordings (DVS128 Gesture, CIFAR10-DVS in
//! AEDAT 2.0 and the AEDAT 4 re-pack, DECOLLE HDF5) to a prepared frame
//! dataset (shards + `dataset.json` + `manifest.parquet`, Contract 1 of
//! `docs/architecture.md`).
//!
//! Modules, in data-flow order: [`decode`] (format decoders), [`layout`]
//! (dataset layouts and splits), [`labels`] (Gesture label windows and sample
//! cutting), [`integrate`] (SpikingJelly / tonic frame rules), [`resize`]
//! (area averaging), [`sample`] (one recording → its samples), [`part`] (phase-1
//! work files), [`pipeline`] (the resumable `run`), [`manifest`]
//! (`manifest.parquet`), [`report`] (`errors.json`), [`config`] (TOML config and
//! the recorded parameters), [`export`] (SpikingJelly-style `.npz`) and
//! [`inspect`] (statistics and PNG previews).
//!
//! Everything but [`decode`] is behind the default `pipeline` feature; the cargo-fuzz targets build
//! the decoders alone.

pub mod decode;

#[cfg(feature = "pipeline")]
pub mod config;
#[cfg(feature = "pipeline")]
pub mod export;
#[cfg(feature = "pipeline")]
pub mod fsutil;
#[cfg(feature = "pipeline")]
pub mod inspect;
#[cfg(feature = "pipeline")]
pub mod integrate;
#[cfg(feature = "pipeline")]
pub mod labels;
#[cfg(feature = "pipeline")]
pub mod layout;
#[cfg(feature = "pipeline")]
pub mod manifest;
#[cfg(feature = "pipeline")]
pub mod part;
#[cfg(feature = "pipeline")]
pub mod pipeline;
#[cfg(feature = "pipeline")]
pub mod report;
#[cfg(feature = "pipeline")]
pub mod resize;
#[cfg(feature = "pipeline")]
pub mod sample;

#[cfg(feature = "pipeline")]
pub use config::{IngestConfig, IngestParams, RunConfigFile};
#[cfg(feature = "pipeline")]
pub use integrate::{integrate, SplitBy};
#[cfg(feature = "pipeline")]
pub use layout::{CifarSplit, DatasetKind, Split};
#[cfg(feature = "pipeline")]
pub use pipeline::{run, IngestError, RunSummary};
