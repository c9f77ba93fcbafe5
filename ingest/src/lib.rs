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

pub mod decode;

pub mod config;
pub mod export;
pub mod fsutil;
pub mod inspect;
pub mod integrate;
pub mod labels;
pub mod layout;
pub mod manifest;
pub mod part;
pub mod pipeline;
pub mod report;
pub mod resize;
pub mod sample;

pub use config::{IngestConfig, IngestParams, RunConfigFile};
pub use integrate::{integrate, SplitBy};
pub use layout::{CifarSplit, DatasetKind, Split};
pub use pipeline::{run, IngestError, RunSummary};
