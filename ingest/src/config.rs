//! The `dvs-ingest run` configuration: a TOML file whose keys mirror the CLI
//! flags (`split-by = "time"` for `--split-by time`), merged as
//! defaults < file < flags, and the effective result that is saved as
//! `ingest-config.toml` with every output. Relative paths are taken relative
//! to the current directory, exactly as the same flag would be.
//!
//! [`IngestParams`] is the subset that determines the output bytes; it is
//! recorded in `dataset.json` together with its hash, so a changed parameter
//! always produces (or demands) a new dataset instead of reusing a stale one.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::decode::{DecodeOptions, Orientation};
use crate::integrate::SplitBy;
use crate::layout::{CifarSplit, DatasetKind};

/// Version of the ingest output semantics; bump when the same parameters
/// would produce different samples or frames, so old datasets are not reused.
pub const PIPELINE_VERSION: u32 = 1;

/// Sensor side of every supported dataset (DVS128).
pub const SENSOR_SIDE: usize = 128;

/// AEDAT 2.0 pixel mapping choice (CIFAR10-DVS only).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum OrientationChoice {
    /// SpikingJelly's CIFAR10-DVS mapping (`x = 127 - y_raw`, `y = 127 - x_raw`).
    Spikingjelly,
    /// Address fields as stored.
    Raw,
}

impl OrientationChoice {
    /// The decoder option.
    pub fn to_decode(self) -> Orientation {
        match self {
            OrientationChoice::Spikingjelly => Orientation::SpikingJelly,
            OrientationChoice::Raw => Orientation::Raw,
        }
    }
}

impl std::str::FromStr for OrientationChoice {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "spikingjelly" | "sj" => Ok(OrientationChoice::Spikingjelly),
            "raw" => Ok(OrientationChoice::Raw),
            other => Err(format!(
                "unknown orientation '{other}' (expected spikingjelly or raw)"
            )),
        }
    }
}

/// The `run` settings as a TOML file may give them: every key optional,
/// unknown keys rejected (a typo must not be silently ignored).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct RunConfigFile {
    pub dataset: Option<DatasetKind>,
    pub input: Option<PathBuf>,
    pub output: Option<PathBuf>,
    pub frames: Option<usize>,
    pub split_by: Option<SplitBy>,
    pub resize: Option<usize>,
    pub split: Option<CifarSplit>,
    pub orientation: Option<OrientationChoice>,
    pub keep_invalid: Option<bool>,
    pub shard_mb: Option<u64>,
    pub zstd_level: Option<i32>,
    pub jobs: Option<usize>,
    pub overwrite: Option<bool>,
}

impl RunConfigFile {
    /// Reads a TOML config file.
    pub fn read(path: &Path) -> Result<Self, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|e| ConfigError::Read {
            path: path.to_path_buf(),
            reason: e.to_string(),
        })?;
        toml::from_str(&text).map_err(|e| ConfigError::Read {
            path: path.to_path_buf(),
            reason: e.to_string(),
        })
    }

    /// `self` with every field that `over` sets replaced (flags over file).
    pub fn overridden_by(self, over: RunConfigFile) -> RunConfigFile {
        RunConfigFile {
            dataset: over.dataset.or(self.dataset),
            input: over.input.or(self.input),
            output: over.output.or(self.output),
            frames: over.frames.or(self.frames),
            split_by: over.split_by.or(self.split_by),
            resize: over.resize.or(self.resize),
            split: over.split.or(self.split),
            orientation: over.orientation.or(self.orientation),
            keep_invalid: over.keep_invalid.or(self.keep_invalid),
            shard_mb: over.shard_mb.or(self.shard_mb),
            zstd_level: over.zstd_level.or(self.zstd_level),
            jobs: over.jobs.or(self.jobs),
            overwrite: over.overwrite.or(self.overwrite),
        }
    }
}

/// A configuration problem.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The config file could not be read or parsed.
    #[error("config file {}: {reason}", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        reason: String,
    },
    /// A required setting is missing.
    #[error("missing setting '{0}' (give --{0} or put `{0} = ...` in the config file)")]
    Missing(&'static str),
    /// A setting has an invalid value.
    #[error("invalid setting: {0}")]
    Invalid(String),
}

/// The effective `run` configuration (saved as `ingest-config.toml`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct IngestConfig {
    /// Dataset layout.
    pub dataset: DatasetKind,
    /// Input directory (or HDF5 file).
    pub input: PathBuf,
    /// Output dataset directory.
    pub output: PathBuf,
    /// Frames per sample (T).
    pub frames: usize,
    /// Integration rule.
    pub split_by: SplitBy,
    /// Optional output side S (area-averaged resize from 128 to S x S).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub resize: Option<usize>,
    /// CIFAR10-DVS train/test split (ignored by other datasets).
    pub split: CifarSplit,
    /// CIFAR10-DVS AEDAT 2.0 pixel mapping (ignored by other datasets).
    pub orientation: OrientationChoice,
    /// AEDAT 3.1: keep events whose validity bit is clear (SpikingJelly does).
    pub keep_invalid: bool,
    /// Target shard size in MiB.
    pub shard_mb: u64,
    /// zstd level of the shard records.
    pub zstd_level: i32,
    /// Worker threads (0 = all cores).
    pub jobs: usize,
    /// Replace an existing dataset made with different parameters.
    pub overwrite: bool,
}

impl IngestConfig {
    /// Builds the effective configuration from a merged file/flags set.
    pub fn resolve(merged: RunConfigFile) -> Result<Self, ConfigError> {
        let config = IngestConfig {
            dataset: merged.dataset.ok_or(ConfigError::Missing("dataset"))?,
            input: merged.input.ok_or(ConfigError::Missing("input"))?,
            output: merged.output.ok_or(ConfigError::Missing("output"))?,
            frames: merged.frames.unwrap_or(10),
            split_by: merged.split_by.unwrap_or(SplitBy::Number),
            resize: merged.resize,
            split: merged.split.unwrap_or(CifarSplit::Sj90),
            orientation: merged
                .orientation
                .unwrap_or(OrientationChoice::Spikingjelly),
            keep_invalid: merged.keep_invalid.unwrap_or(false),
            shard_mb: merged.shard_mb.unwrap_or(64),
            zstd_level: merged.zstd_level.unwrap_or(1),
            jobs: merged.jobs.unwrap_or(0),
            overwrite: merged.overwrite.unwrap_or(false),
        };
        config.validate()?;
        Ok(config)
    }

    /// Checks value ranges.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if self.frames == 0 || self.frames > 10_000 {
            return Err(ConfigError::Invalid(format!(
                "frames = {} (expected 1..=10000)",
                self.frames
            )));
        }
        if let Some(s) = self.resize {
            if s == 0 || s > SENSOR_SIDE {
                return Err(ConfigError::Invalid(format!(
                    "resize = {s} (expected 1..={SENSOR_SIDE}; only downscaling is supported)"
                )));
            }
        }
        if self.shard_mb == 0 {
            return Err(ConfigError::Invalid("shard-mb = 0".into()));
        }
        if !(-7..=22).contains(&self.zstd_level) {
            return Err(ConfigError::Invalid(format!(
                "zstd-level = {} (expected -7..=22)",
                self.zstd_level
            )));
        }
        Ok(())
    }

    /// The effective configuration as TOML.
    pub fn to_toml(&self) -> String {
        toml::to_string(self).expect("the ingest config always serialises to TOML")
    }

    /// The parameters that determine the output bytes.
    pub fn params(&self) -> IngestParams {
        let cifar = self.dataset.is_cifar();
        IngestParams {
            pipeline_version: PIPELINE_VERSION,
            dataset: self.dataset,
            frames: self.frames,
            split_by: self.split_by,
            sensor_height: SENSOR_SIDE,
            sensor_width: SENSOR_SIDE,
            resize: self.resize,
            resize_method: self.resize.map(|_| "area-average-f32".to_string()),
            split: cifar.then_some(self.split),
            orientation: (self.dataset == DatasetKind::Cifar10Dvs).then_some(self.orientation),
            keep_invalid: (self.dataset == DatasetKind::Gesture).then_some(self.keep_invalid),
            shard_mb: self.shard_mb,
            zstd_level: self.zstd_level,
        }
    }

    /// Decoder options for this configuration.
    pub fn decode_options(&self) -> DecodeOptions {
        DecodeOptions {
            orientation: self.orientation.to_decode(),
            keep_invalid: self.keep_invalid,
            ..DecodeOptions::default()
        }
    }
}

/// Everything that determines the output bytes of a run (recorded in
/// `dataset.json` as `params`, hashed into `params_hash`). Paths and the number
/// of worker threads are not included: they do not change the output.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct IngestParams {
    /// [`PIPELINE_VERSION`].
    pub pipeline_version: u32,
    /// Dataset layout.
    pub dataset: DatasetKind,
    /// Frames per sample T.
    pub frames: usize,
    /// Integration rule.
    pub split_by: SplitBy,
    /// Sensor height before resizing.
    pub sensor_height: usize,
    /// Sensor width before resizing.
    pub sensor_width: usize,
    /// Output side after resizing, if any.
    pub resize: Option<usize>,
    /// How resizing is done, if any.
    pub resize_method: Option<String>,
    /// CIFAR10-DVS split.
    pub split: Option<CifarSplit>,
    /// CIFAR10-DVS AEDAT 2.0 orientation.
    pub orientation: Option<OrientationChoice>,
    /// Gesture: keep invalid AEDAT 3.1 events.
    pub keep_invalid: Option<bool>,
    /// Target shard size (MiB).
    pub shard_mb: u64,
    /// zstd level of records.
    pub zstd_level: i32,
}

impl IngestParams {
    /// The parameters as a JSON value (what `dataset.json` stores).
    pub fn to_json(&self) -> serde_json::Value {
        serde_json::to_value(self).expect("params always serialise")
    }

    /// First 16 hex digits of the SHA-256 of the canonical JSON.
    pub fn hash(&self) -> String {
        let bytes = serde_json::to_vec(self).expect("params always serialise");
        let digest = Sha256::digest(&bytes);
        hex::encode(&digest[..8])
    }

    /// Output frame height and width.
    pub fn output_hw(&self) -> (usize, usize) {
        match self.resize {
            Some(s) => (s, s),
            None => (self.sensor_height, self.sensor_width),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags_override_file_and_defaults_fill_in() {
        let file: RunConfigFile = toml::from_str(
            "dataset = \"gesture\"\ninput = \"in\"\noutput = \"out\"\nframes = 16\nsplit-by = \"time\"\n",
        )
        .unwrap();
        let flags = RunConfigFile {
            frames: Some(8),
            ..Default::default()
        };
        let cfg = IngestConfig::resolve(file.overridden_by(flags)).unwrap();
        assert_eq!(cfg.frames, 8);
        assert_eq!(cfg.split_by, SplitBy::Time);
        assert_eq!(cfg.shard_mb, 64);
        // The saved effective config reads back identically.
        let again: IngestConfig = toml::from_str(&cfg.to_toml()).unwrap();
        assert_eq!(again, cfg);
    }

    #[test]
    fn unknown_keys_are_rejected() {
        assert!(toml::from_str::<RunConfigFile>("frame = 3\n").is_err());
    }

    #[test]
    fn every_integration_parameter_changes_the_hash() {
        let base = IngestConfig::resolve(RunConfigFile {
            dataset: Some(DatasetKind::Cifar10Dvs),
            input: Some("i".into()),
            output: Some("o".into()),
            ..Default::default()
        })
        .unwrap();
        let h = base.params().hash();
        let variants = [
            IngestConfig {
                frames: 8,
                ..base.clone()
            },
            IngestConfig {
                split_by: SplitBy::Time,
                ..base.clone()
            },
            IngestConfig {
                resize: Some(48),
                ..base.clone()
            },
            IngestConfig {
                split: CifarSplit::Tet,
                ..base.clone()
            },
            IngestConfig {
                orientation: OrientationChoice::Raw,
                ..base.clone()
            },
            IngestConfig {
                shard_mb: 1,
                ..base.clone()
            },
        ];
        for v in variants {
            assert_ne!(v.params().hash(), h, "{v:?}");
        }
        // Paths and threads do not change the output.
        let same = IngestConfig {
            jobs: 3,
            input: "elsewhere".into(),
            ..base.clone()
        };
        assert_eq!(same.params().hash(), h);
    }
}
