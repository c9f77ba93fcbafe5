//! `dvs-ingest`: raw event-camera recordings (DVS128 Gesture, CIFAR10-DVS in
//! AEDAT 2.0 and the AEDAT 4 re-pack, DECOLLE HDF5, and any camera's recordings
//! in a class-folder tree or a labelled table) to a prepared frame
//! dataset (shards + `dataset.json` + `manifest.parquet`, Contract 1 of
//! `docs/architecture.md`). The format decoders are the `dvs-decode` crate.
//!
//! Modules, in data-flow order: [`layout`] (dataset layouts and splits),
//! [`folder`] and [`table`] (the general layouts), [`geometry`] (sensor size,
//! crop, resize size), [`labels`] (Gesture label windows and sample cutting),
//! [`slice`] (tonic's time / event-count slicers), [`integrate`]
//! (SpikingJelly / tonic frame rules), [`resize`] (area averaging), [`sample`]
//! (one recording → its samples), [`part`] (phase-1 work files), [`pipeline`]
//! (the resumable `run`), [`manifest`] (`manifest.parquet`), [`report`]
//! (`errors.json`), [`config`] (the effective configuration and the recorded
//! parameters), [`export`] (SpikingJelly-style `.npz`), [`events`] (one
//! recording's events as `.npy` / `.parquet`), [`inspect`]
//! (statistics and PNG previews), [`probe`] (one raw recording's summary),
//! [`merge`] (`run --part i/N` and `merge`: ingest across many machines) and
//! [`bench`] (the `bench` subcommand's measurements).

pub mod bench;
pub mod config;
pub mod events;
pub mod export;
pub mod folder;
pub mod geometry;
pub mod inspect;
pub mod integrate;
pub mod labels;
pub mod layout;
pub mod manifest;
pub mod merge;
pub mod part;
pub mod pipeline;
pub mod probe;
pub mod report;
pub mod resize;
pub mod sample;
pub mod slice;
pub mod table;

pub use config::{IngestConfig, IngestParams};
pub use integrate::{integrate, SplitBy};
pub use layout::{CifarSplit, DatasetKind, Split};
pub use pipeline::{run, IngestError, RunSummary};
