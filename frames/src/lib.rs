//! `dvs-frames`: the on-disk shard format for integrated event frames, its writer and validating
//! reader, the `dataset.json` description of a prepared dataset, and the tokio-fed streaming
//! loader (shuffling, augmentation, value transforms) that feeds the trainer.
//!
//! It also owns the conventions every spiketrain binary shares: [`fsutil`] (the one atomic
//! write), [`settings`] (flags ↔ TOML, typed at the edge) and [`cli`] (logging, error format,
//! exit codes).
//!
//! The byte layout of a shard is specified in `docs/shard-format.md`; the public API is Contract 2
//! of `docs/architecture.md`.

pub mod allocator;
pub mod augment;
pub mod cli;
pub mod dataset;
pub mod dtype;
pub mod error;
pub mod format;
pub mod fsutil;
pub mod loader;
mod planes;
pub mod reader;
pub mod settings;
mod sparse;
pub mod writer;

pub use augment::{Augment, AugmentParams, ValueTransform};
pub use dataset::{DatasetInfo, SplitInfo};
pub use dtype::Dtype;
pub use error::{FrameError, Result};
pub use format::Encoding;
pub use fsutil::atomic_write;
pub use loader::{Batch, CorruptPolicy, EpochIter, Loader, LoaderConfig, SkippedRecord};
pub use reader::{RawFrames, ShardIndex, ShardReader};
pub use writer::{
    EncodedRecord, FrameData, RecordLocation, SampleRecord, ShardSetWriter, ShardSummary,
};
