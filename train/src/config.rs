//! Every training setting, typed: [`TrainConfig`] is at once the `asgl-train fit` flags (clap),
//! the keys of a `--config` TOML file and of the run's saved `config.toml` (merged by
//! `dvs_frames::settings`), and the `train` block of a checkpoint's `config.json`. Flag names
//! are the reference's DVS main (`--num_epoch`, `--width_lr`, ...), defaults its published DVS
//! run (the clap defaults; [`TrainConfig::default`] is an empty command line).
//!
//! Strings become types here, at the edge: [`Arch`], [`Act`], [`BnType`], [`DeviceSpec`],
//! [`Precision`] parse with `FromStr` and serialise through `Display` as the same text the
//! reference uses (`"vgg:8,P,16,P"`, `"mns_rec"`, `"tdbn"`, `"cuda:0"`, `"f32"`), so a
//! checkpoint's `config.json` reads as before, old checkpoints load, and the configuration hash
//! (SHA-256 of the JSON) of a canonically spelled configuration is unchanged.
use std::fmt;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use clap::{Args, Command, FromArgMatches};
use dvs_frames::settings::serde_via_str;
use dvs_frames::ValueTransform;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::data::{DatasetSource, Preset};
use crate::device::DeviceSpec;
use crate::error::{Result, TrainError};
use crate::fit::loss::{Objective, TetLoss};
use crate::network::model::WeightInit;
use crate::network::resnet::{resnet_layers, ResNetDepth};
use crate::network::spec::{
    parse_vgg_cfg, vgg_layers, BnType, LayerSpec, NetSpec, NeuronSpec, SpikeMode, SurrogateKind,
    VGGSNN2_CFG,
};

/// The network architecture (`--arch`): the reference's VGGSNN2 or a VGG pattern with other
/// channel lists.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Arch {
    /// `vggsnn2` (case-insensitive).
    Vggsnn2,
    /// `vgg:<channels, P = 2×2 avgpool>`, e.g. `vgg:8,P,16,P`; `0` stands for a pool.
    Vgg(Vec<usize>),
    /// `resnet18` / `resnet19`: the reference's spiking ResNets (`model/resnet.py`);
    /// `resnet18:<w>` / `resnet19:<w>` start at w channels instead of 64 / 128 (small tests).
    ResNet { depth: ResNetDepth, width: usize },
}

impl Arch {
    /// The VGG feature configuration (channel counts, `0` = pool).
    pub fn features(&self) -> &[usize] {
        match self {
            Arch::Vggsnn2 => VGGSNN2_CFG,
            Arch::Vgg(cfg) => cfg,
            Arch::ResNet { .. } => &[],
        }
    }

    /// The layer list of this architecture for `[C, H, W]` inputs.
    pub fn layers(
        &self,
        bn: BnType,
        input_shape: [usize; 3],
        num_classes: usize,
    ) -> Vec<LayerSpec> {
        match self {
            Arch::ResNet { depth, width } => resnet_layers(
                *depth,
                *width,
                bn,
                [input_shape[1], input_shape[2]],
                num_classes,
            ),
            vgg => vgg_layers(vgg.features(), bn, num_classes),
        }
    }

    /// How its conv/linear weights start: the reference DVS main's N(0, 0.5²) for the VGGs,
    /// PyTorch's default for the ResNets (the reference CIFAR main does not re-initialise).
    pub fn weight_init(&self) -> WeightInit {
        match self {
            Arch::ResNet { .. } => WeightInit::TorchDefault,
            _ => WeightInit::REFERENCE_DVS,
        }
    }
}

impl FromStr for Arch {
    type Err = String;
    fn from_str(s: &str) -> std::result::Result<Self, String> {
        if s.eq_ignore_ascii_case("vggsnn2") {
            Ok(Arch::Vggsnn2)
        } else if let Some(rest) = s.strip_prefix("resnet") {
            let (depth, width) = rest.split_once(':').unwrap_or((rest, ""));
            let depth = match depth {
                "18" => ResNetDepth::R18,
                "19" => ResNetDepth::R19,
                _ => {
                    return Err(format!(
                        "unknown arch `{s}` (vggsnn2, vgg:<spec>, resnet18, resnet19, resnet18:<width>)"
                    ))
                }
            };
            let width = if width.is_empty() {
                depth.reference_width()
            } else {
                width
                    .parse::<usize>()
                    .ok()
                    .filter(|&w| w > 0)
                    .ok_or_else(|| format!("bad resnet width `{width}` in `{s}`"))?
            };
            Ok(Arch::ResNet { depth, width })
        } else if let Some(spec) = s.strip_prefix("vgg:") {
            parse_vgg_cfg(spec)
                .map(Arch::Vgg)
                .map_err(|e| e.to_string())
        } else {
            Err(format!(
                "unknown arch `{s}` (vggsnn2, vgg:<spec>, resnet18, resnet19, resnet18:<width>)"
            ))
        }
    }
}

impl fmt::Display for Arch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Arch::Vggsnn2 => f.write_str("vggsnn2"),
            Arch::ResNet { depth, width } => {
                let d = match depth {
                    ResNetDepth::R18 => 18,
                    ResNetDepth::R19 => 19,
                };
                if *width == depth.reference_width() {
                    write!(f, "resnet{d}")
                } else {
                    write!(f, "resnet{d}:{width}")
                }
            }
            Arch::Vgg(cfg) => {
                let items: Vec<String> = cfg
                    .iter()
                    .map(|&c| if c == 0 { "P".into() } else { c.to_string() })
                    .collect();
                write!(f, "vgg:{}", items.join(","))
            }
        }
    }
}

/// The spike function (`--act`): which surrogate and whether spikes are hybrid noisy.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Act {
    /// `mns_rec`: rectangle surrogate, hybrid noisy spike (ASGL).
    MnsRec,
    /// `mns_sig`: sigmoid surrogate, hybrid noisy spike.
    MnsSig,
    /// `sg`: rectangle surrogate, plain straight-through surrogate gradient (the baseline).
    Sg,
}

impl Act {
    /// The surrogate shape and spike mode of this activation.
    pub fn neuron_kind(self) -> (SurrogateKind, SpikeMode) {
        match self {
            Act::MnsRec => (SurrogateKind::Rectangle, SpikeMode::Noisy),
            Act::MnsSig => (SurrogateKind::Sigmoid, SpikeMode::Noisy),
            Act::Sg => (SurrogateKind::Rectangle, SpikeMode::StraightThrough),
        }
    }
}

impl FromStr for Act {
    type Err = String;
    fn from_str(s: &str) -> std::result::Result<Self, String> {
        match s {
            "mns_rec" => Ok(Act::MnsRec),
            "mns_sig" => Ok(Act::MnsSig),
            "sg" => Ok(Act::Sg),
            other => Err(format!("unknown act `{other}` (mns_rec, mns_sig, sg)")),
        }
    }
}

impl fmt::Display for Act {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Act::MnsRec => "mns_rec",
            Act::MnsSig => "mns_sig",
            Act::Sg => "sg",
        })
    }
}

/// Compute precision (`--dtype`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Precision {
    F32,
    F64,
}

impl Precision {
    /// The candle dtype.
    pub fn candle(self) -> candle_core::DType {
        match self {
            Precision::F32 => candle_core::DType::F32,
            Precision::F64 => candle_core::DType::F64,
        }
    }
}

impl FromStr for Precision {
    type Err = String;
    fn from_str(s: &str) -> std::result::Result<Self, String> {
        match s {
            "f32" => Ok(Precision::F32),
            "f64" => Ok(Precision::F64),
            other => Err(format!("unknown dtype `{other}` (f32 or f64)")),
        }
    }
}

impl fmt::Display for Precision {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Precision::F32 => "f32",
            Precision::F64 => "f64",
        })
    }
}

serde_via_str!(Arch, Act, Precision);

/// The Adam learning rate of the LIF parameters (`--width_lr`): a number, or `auto`, which scales
/// it to the run's length so that a log-width can travel as far as in the reference DVS run
/// (docs/train.md, "--width_lr auto"). Serialised as the number itself (old configurations and
/// their hashes are unchanged) or as the string `"auto"`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum WidthLr {
    /// A constant learning rate (the reference: 3e-4).
    Fixed(f64),
    /// [`WidthLr::REFERENCE_TRAVEL`] / total training steps.
    Auto,
}

impl WidthLr {
    /// lr × steps of the reference DVS run: 3e-4 × 28.2k steps ≈ 8.5, the largest log-width
    /// travel Adam allows there (its step is about lr per step).
    pub const REFERENCE_TRAVEL: f64 = 8.5;

    /// The learning rate for a run of `total_steps` optimiser steps.
    pub fn resolve(self, total_steps: usize) -> f64 {
        match self {
            WidthLr::Fixed(lr) => lr,
            WidthLr::Auto => Self::REFERENCE_TRAVEL / total_steps.max(1) as f64,
        }
    }
}

impl FromStr for WidthLr {
    type Err = String;
    fn from_str(s: &str) -> std::result::Result<Self, String> {
        if s == "auto" {
            return Ok(WidthLr::Auto);
        }
        match s.parse::<f64>() {
            Ok(lr) if lr.is_finite() && lr >= 0.0 => Ok(WidthLr::Fixed(lr)),
            _ => Err(format!(
                "bad width_lr `{s}` (a learning rate >= 0, or auto)"
            )),
        }
    }
}

impl fmt::Display for WidthLr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            WidthLr::Fixed(lr) => write!(f, "{lr}"),
            WidthLr::Auto => f.write_str("auto"),
        }
    }
}

impl Serialize for WidthLr {
    fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        match self {
            WidthLr::Fixed(lr) => s.serialize_f64(*lr),
            WidthLr::Auto => s.serialize_str("auto"),
        }
    }
}

impl<'de> Deserialize<'de> for WidthLr {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        struct WidthLrVisitor;
        impl serde::de::Visitor<'_> for WidthLrVisitor {
            type Value = WidthLr;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a learning rate >= 0 or \"auto\"")
            }
            fn visit_f64<E: serde::de::Error>(self, v: f64) -> std::result::Result<WidthLr, E> {
                v.to_string().parse().map_err(E::custom)
            }
            fn visit_i64<E: serde::de::Error>(self, v: i64) -> std::result::Result<WidthLr, E> {
                v.to_string().parse().map_err(E::custom)
            }
            fn visit_u64<E: serde::de::Error>(self, v: u64) -> std::result::Result<WidthLr, E> {
                Ok(WidthLr::Fixed(v as f64))
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> std::result::Result<WidthLr, E> {
                v.parse().map_err(E::custom)
            }
        }
        d.deserialize_any(WidthLrVisitor)
    }
}

/// Parses `--transform`: `raw`, `max_norm` (alias `maxnorm`), `binarize` or `clamp:<c>`.
pub fn parse_transform(s: &str) -> std::result::Result<ValueTransform, String> {
    match s {
        "raw" => Ok(ValueTransform::Raw),
        "max_norm" | "maxnorm" => Ok(ValueTransform::MaxNorm),
        "binarize" => Ok(ValueTransform::Binarize),
        other => other
            .strip_prefix("clamp:")
            .and_then(|c| c.parse::<f32>().ok())
            .map(ValueTransform::Clamp)
            .ok_or_else(|| {
                format!("unknown transform `{other}` (raw, max_norm, binarize, clamp:<c>)")
            }),
    }
}

/// Every training setting. The clap argument ids are the TOML keys (the field names; the time
/// steps are `T`, flag `--T`, as in the reference). Boolean switches take an optional value
/// (`--train_width`, `--train_width false`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, Args)]
#[serde(default, deny_unknown_fields)]
pub struct TrainConfig {
    /// Prepared dataset directory (dataset.json + shards, Contract 1).
    #[arg(long)]
    pub data: Option<PathBuf>,
    /// `vggsnn2` or `vgg:<channels with P = avgpool>`, e.g. `vgg:16,P,32,P`.
    #[arg(long, default_value = "vggsnn2")]
    pub arch: Arch,
    /// Epochs.
    #[arg(long = "num_epoch", alias = "epochs", default_value_t = 100)]
    pub num_epoch: usize,
    /// Train batch size.
    #[arg(long = "train_batch_size", alias = "batch-size", default_value_t = 32)]
    pub train_batch_size: usize,
    /// Test batch size.
    #[arg(long = "val_batch_size", default_value_t = 32)]
    pub val_batch_size: usize,
    /// SGD learning rate (cosine-annealed per epoch).
    #[arg(long, default_value_t = 0.1)]
    pub lr: f64,
    /// Weight decay on conv/linear weights only.
    #[arg(long, default_value_t = 1e-3)]
    pub wd: f64,
    /// SGD momentum.
    #[arg(long, default_value_t = 0.9)]
    pub momentum: f64,
    /// Adam learning rate of the LIF parameters (constant): a number, or `auto` = 8.5 / total
    /// training steps (the reference run's lr × steps).
    #[arg(long = "width_lr", default_value = "0.0003")]
    pub width_lr: WidthLr,
    /// mns_rec (rectangle), mns_sig (sigmoid) or sg (straight-through rectangle baseline).
    #[arg(long, default_value = "mns_rec")]
    pub act: Act,
    /// Surrogate width w.
    #[arg(long, default_value_t = 1.0)]
    pub alpha: f64,
    /// Learnable surrogate width.
    #[arg(long = "train_width", num_args = 0..=1, default_value_t = true, default_missing_value = "true", action = clap::ArgAction::Set)]
    pub train_width: bool,
    /// Probability of analog mode p.
    #[arg(long, default_value_t = 0.1)]
    pub p: f64,
    /// p multiplier at each milestone.
    #[arg(long, default_value_t = 1.0)]
    pub gamma: f64,
    /// Milestones as fractions of `num_epoch`.
    #[arg(long = "ns_milestone", num_args = 1.., value_delimiter = ',', default_values_t = [0.0, 0.2, 0.4, 0.6, 0.8, 0.95])]
    pub ns_milestone: Vec<f64>,
    /// Leak λ.
    #[arg(long, default_value_t = 0.5)]
    pub decay: f64,
    /// Threshold θ.
    #[arg(long, default_value_t = 0.5)]
    pub thresh: f64,
    /// Learnable decay.
    #[arg(long = "train_decay", num_args = 0..=1, default_value_t = false, default_missing_value = "true", action = clap::ArgAction::Set)]
    pub train_decay: bool,
    /// Learnable threshold.
    #[arg(long = "train_thresh", num_args = 0..=1, default_value_t = false, default_missing_value = "true", action = clap::ArgAction::Set)]
    pub train_thresh: bool,
    /// tdbn | bntt | none
    #[arg(long = "bn_type", default_value = "tdbn")]
    pub bn_type: BnType,
    /// Time steps (must equal the dataset's frames).
    #[serde(rename = "T")]
    #[arg(id = "T", long = "T", default_value_t = 10)]
    pub t: usize,
    /// TET λ.
    #[arg(long, default_value_t = 1e-3)]
    pub lamb: f64,
    /// TET φ.
    #[arg(long, default_value_t = 1.0)]
    pub means: f64,
    /// Seed of every random choice (init, noise masks, loader order and augmentation).
    #[arg(long, default_value_t = 200)]
    pub seed: u64,
    /// cpu | cuda:N (needs `--features cuda`)
    #[arg(long, default_value = "cpu")]
    pub device: DeviceSpec,
    /// f32 | f64
    #[arg(long, default_value = "f32")]
    pub dtype: Precision,
    /// Input value transform applied by the loader: raw | max_norm | binarize | clamp:<c>
    #[arg(long, value_parser = parse_transform, default_value = "max_norm")]
    pub transform: ValueTransform,
    /// Train-time flip + circular roll (the reference's augmentation).
    #[arg(long, num_args = 0..=1, default_value_t = true, default_missing_value = "true", action = clap::ArgAction::Set)]
    pub augment: bool,
    /// With `augment`: flip the W axis with probability 0.5. Turn it off where left and right
    /// carry the label (DVS128 Gesture: a flipped right-hand wave is a left-hand wave).
    #[arg(long, num_args = 0..=1, default_value_t = true, default_missing_value = "true", action = clap::ArgAction::Set)]
    pub flip: bool,
    /// Roll range for augmentation.
    #[arg(long = "roll_max", default_value_t = 5)]
    pub roll_max: u32,
    /// Loader decode threads (0 = all cores).
    #[arg(long, default_value_t = 0)]
    pub workers: usize,
    /// Train split name.
    #[arg(long = "train_split", default_value = "train")]
    pub train_split: String,
    /// Test split name.
    #[arg(long = "test_split", default_value = "test")]
    pub test_split: String,
    /// What `--data` holds: frames (a prepared dataset) | cifar10 | cifar100 (the release files,
    /// python or binary; direct encoding, CE of the time-mean logits as the reference CIFAR main).
    #[arg(long, default_value = "frames")]
    #[serde(skip_serializing_if = "DatasetSource::is_frames")]
    pub dataset: DatasetSource,
    /// CIFAR: Cutout (one 16×16 hole) after crop and flip (the reference `--cutout`).
    #[arg(long, num_args = 0..=1, default_value_t = false, default_missing_value = "true", action = clap::ArgAction::Set)]
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub cutout: bool,
    /// CIFAR: AutoAugment's CIFAR-10 policy after crop and flip (the reference `--auto_aug`).
    #[arg(long = "auto_aug", num_args = 0..=1, default_value_t = false, default_missing_value = "true", action = clap::ArgAction::Set)]
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub auto_aug: bool,
    /// Settings of a published run under the flags and `--config` (cifar100-resnet18).
    #[arg(long)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub preset: Option<Preset>,
}

impl Default for TrainConfig {
    /// The clap defaults (the published DVS run): what an empty command line gives.
    fn default() -> Self {
        let matches = TrainConfig::augment_args(Command::new("defaults"))
            .try_get_matches_from(["defaults"])
            .expect("the defaults parse");
        TrainConfig::from_arg_matches(&matches).expect("the defaults parse")
    }
}

impl TrainConfig {
    /// The neuron block for these settings.
    pub fn neuron(&self) -> Result<NeuronSpec> {
        let (surrogate, spike) = self.act.neuron_kind();
        if !(0.0..=1.0).contains(&self.p) {
            return Err(TrainError::Config(format!(
                "--p {} is not in [0, 1]",
                self.p
            )));
        }
        if !(self.decay > 0.0 && self.decay < 1.0) {
            return Err(TrainError::Config(format!(
                "--decay {} is not in (0, 1)",
                self.decay
            )));
        }
        if self.alpha <= 0.0 {
            return Err(TrainError::Config(format!(
                "--alpha {} must be > 0",
                self.alpha
            )));
        }
        Ok(NeuronSpec {
            decay: self.decay,
            thresh: self.thresh,
            reset: "hard".into(),
            surrogate,
            width: self.alpha,
            noise_p: self.p,
            train_width: self.train_width,
            train_decay: self.train_decay,
            train_thresh: self.train_thresh,
            spike,
        })
    }

    /// The network for input [C, H, W] and `num_classes` classes.
    pub fn net_spec(&self, input_shape: [usize; 3], num_classes: usize) -> Result<NetSpec> {
        let spec = NetSpec {
            time_steps: self.t,
            input_shape,
            num_classes,
            neuron: self.neuron()?,
            layers: self.arch.layers(self.bn_type, input_shape, num_classes),
        };
        spec.shapes()?;
        Ok(spec)
    }

    /// The settings of `fit` from its matches: clap defaults < `--preset` < `--config` file <
    /// environment < flags (`dvs_frames::settings::resolve` with the preset's keys under the
    /// file's).
    pub fn resolve(matches: &clap::ArgMatches) -> Result<Self> {
        let cfg: TrainConfig = dvs_frames::settings::resolve(matches)?;
        let Some(preset) = cfg.preset else {
            return Ok(cfg);
        };
        let from_file: Vec<String> = match dvs_frames::settings::config_path(matches) {
            Some(path) => std::fs::read_to_string(&path)
                .ok()
                .and_then(|t| t.parse::<toml::Table>().ok())
                .map(|t| t.keys().cloned().collect())
                .unwrap_or_default(),
            None => Vec::new(),
        };
        let preset_table: toml::Table = preset
            .toml()
            .parse()
            .map_err(|e| TrainError::Config(format!("preset {preset}: {e}")))?;
        let mut merged = toml::Table::try_from(&cfg)
            .map_err(|e| TrainError::Config(format!("preset {preset}: {e}")))?;
        for (key, value) in preset_table {
            let explicit = matches!(
                matches.value_source(&key),
                Some(
                    clap::parser::ValueSource::CommandLine | clap::parser::ValueSource::EnvVariable
                )
            );
            if !explicit && !from_file.contains(&key) {
                merged.insert(key, value);
            }
        }
        TrainConfig::deserialize(toml::Value::Table(merged))
            .map_err(|e| TrainError::Config(format!("preset {preset}: {e}")))
    }

    /// The training objective: TET (`--lamb`, `--means`) on frames datasets as the reference DVS
    /// main, cross-entropy of the time-mean logits on CIFAR as the reference CIFAR main.
    pub fn objective(&self) -> Objective {
        match self.dataset {
            DatasetSource::Frames => Objective::Tet(TetLoss {
                lambda: self.lamb,
                means: self.means,
            }),
            DatasetSource::Cifar(_) => Objective::CeMean,
        }
    }

    /// SHA-256 of the canonical JSON of this configuration.
    pub fn hash(&self) -> String {
        hex::encode(Sha256::digest(
            serde_json::to_vec(self).expect("config serialises"),
        ))
    }

    /// Saves this configuration as TOML (the effective settings of a run; `--config` reads it
    /// back to the same values).
    pub fn save_effective(&self, path: &Path) -> Result<()> {
        Ok(dvs_frames::settings::save_effective(path, self)?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `TrainConfig::default()` as the string-typed configuration wrote it into checkpoints.
    const OLD_DEFAULT_JSON: &str = r#"{"data":null,"arch":"vggsnn2","num_epoch":100,"train_batch_size":32,"val_batch_size":32,"lr":0.1,"wd":0.001,"momentum":0.9,"width_lr":0.0003,"act":"mns_rec","alpha":1.0,"train_width":true,"p":0.1,"gamma":1.0,"ns_milestone":[0.0,0.2,0.4,0.6,0.8,0.95],"decay":0.5,"thresh":0.5,"train_decay":false,"train_thresh":false,"bn_type":"tdbn","T":10,"lamb":0.001,"means":1.0,"seed":200,"device":"cpu","dtype":"f32","transform":"max_norm","augment":true,"flip":true,"roll_max":5,"workers":0,"train_split":"train","test_split":"test"}"#;

    #[test]
    fn typed_settings_serialise_as_the_old_strings_so_hashes_and_checkpoints_hold() {
        let default = TrainConfig::default();
        assert_eq!(serde_json::to_string(&default).unwrap(), OLD_DEFAULT_JSON);
        let old = OLD_DEFAULT_JSON
            .replace(r#""arch":"vggsnn2""#, r#""arch":"vgg:8,P,16,P""#)
            .replace(r#""act":"mns_rec""#, r#""act":"sg""#)
            .replace(r#""bn_type":"tdbn""#, r#""bn_type":"bntt""#)
            .replace(r#""device":"cpu""#, r#""device":"cuda:1""#)
            .replace(r#""dtype":"f32""#, r#""dtype":"f64""#);
        let cfg: TrainConfig = serde_json::from_str(&old).unwrap();
        assert_eq!(cfg.arch, Arch::Vgg(vec![8, 0, 16, 0]));
        assert_eq!(cfg.act, Act::Sg);
        assert_eq!(cfg.bn_type, BnType::Bntt);
        assert_eq!(cfg.device, DeviceSpec::Cuda(1));
        assert_eq!(cfg.dtype, Precision::F64);
        assert_eq!(serde_json::to_string(&cfg).unwrap(), old);
    }

    #[test]
    fn width_lr_is_a_number_or_auto_in_flags_json_and_toml() {
        assert_eq!(TrainConfig::default().width_lr, WidthLr::Fixed(3e-4));
        // auto: the reference run's lr × steps spread over this run's steps.
        assert!((WidthLr::Auto.resolve(28_200) - 3.0142e-4).abs() < 1e-8);
        assert_eq!(WidthLr::Auto.resolve(850), 0.01);
        assert_eq!(WidthLr::Fixed(0.002).resolve(850), 0.002);
        assert_eq!("auto".parse::<WidthLr>(), Ok(WidthLr::Auto));
        assert_eq!("1e-3".parse::<WidthLr>(), Ok(WidthLr::Fixed(1e-3)));
        for bad in ["fast", "-1", "NaN", ""] {
            let err = bad.parse::<WidthLr>().unwrap_err();
            assert!(err.contains("or auto"), "{bad}: {err}");
        }
        let matches = TrainConfig::augment_args(Command::new("t"))
            .try_get_matches_from(["t", "--width_lr", "auto"])
            .unwrap();
        let cfg = TrainConfig::from_arg_matches(&matches).unwrap();
        assert_eq!(cfg.width_lr, WidthLr::Auto);
        let json = serde_json::to_string(&cfg).unwrap();
        assert!(json.contains(r#""width_lr":"auto""#), "{json}");
        assert_eq!(serde_json::from_str::<TrainConfig>(&json).unwrap(), cfg);
        for (text, want) in [
            ("width_lr = \"auto\"", WidthLr::Auto),
            ("width_lr = 0.01", WidthLr::Fixed(0.01)),
            ("width_lr = 1", WidthLr::Fixed(1.0)),
        ] {
            let cfg: TrainConfig = toml::from_str(text).unwrap();
            assert_eq!(cfg.width_lr, want, "{text}");
            let back: TrainConfig = toml::from_str(&toml::to_string(&cfg).unwrap()).unwrap();
            assert_eq!(back.width_lr, want, "{text} round trip");
        }
        let err = toml::from_str::<TrainConfig>("width_lr = \"slow\"").unwrap_err();
        assert!(err.to_string().contains("or auto"), "{err}");
    }

    #[test]
    fn bad_strings_are_rejected_with_the_choices() {
        for (json, needle) in [
            (r#"{"arch":"resnet"}"#, "vggsnn2"),
            (r#"{"arch":"vgg:8,x"}"#, "bad vgg entry"),
            (r#"{"act":"relu"}"#, "mns_rec"),
            (r#"{"device":"gpu"}"#, "cpu or cuda:N"),
            (r#"{"dtype":"f16"}"#, "f32 or f64"),
            (r#"{"bn_type":"ln"}"#, "tdbn"),
        ] {
            let err = serde_json::from_str::<TrainConfig>(json).unwrap_err();
            assert!(err.to_string().contains(needle), "{json}: {err}");
        }
    }
}
