//! Training configuration (flag names of the reference's DVS main, defaults of its published DVS
//! run) and the checkpoint configuration `config.json` (Contract 3).
use std::path::{Path, PathBuf};

use dvs_frames::ValueTransform;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::error::{Result, TrainError};
use crate::spec::{
    parse_vgg_cfg, vgg_layers, BnType, NetSpec, NeuronSpec, SpikeMode, SurrogateKind, VGGSNN2_CFG,
};

/// Every training setting. Keys mirror the reference flags (`--num_epoch`, `--width_lr`, ...).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TrainConfig {
    /// Prepared dataset directory (Contract 1).
    pub data: Option<PathBuf>,
    /// `vggsnn2` or `vgg:<channels, P = pool>` e.g. `vgg:8,P,16,P`.
    pub arch: String,
    /// Epochs (`--num_epoch`).
    pub num_epoch: usize,
    /// Train batch size (`--train_batch_size`).
    pub train_batch_size: usize,
    /// Test batch size (`--val_batch_size`).
    pub val_batch_size: usize,
    /// SGD learning rate (cosine-annealed per epoch).
    pub lr: f64,
    /// Weight decay on conv/linear weights only.
    pub wd: f64,
    /// SGD momentum.
    pub momentum: f64,
    /// Adam learning rate of the LIF parameters (constant).
    pub width_lr: f64,
    /// `mns_rec` (rectangle), `mns_sig` (sigmoid) or `sg` (straight-through rectangle baseline).
    pub act: String,
    /// Surrogate width w.
    pub alpha: f64,
    /// Learnable surrogate width.
    pub train_width: bool,
    /// Probability of analog mode p.
    pub p: f64,
    /// p multiplier at each milestone.
    pub gamma: f64,
    /// Milestones as fractions of `num_epoch`.
    pub ns_milestone: Vec<f64>,
    /// Leak λ.
    pub decay: f64,
    /// Threshold θ.
    pub thresh: f64,
    /// Learnable decay / threshold.
    pub train_decay: bool,
    pub train_thresh: bool,
    /// `tdbn`, `bntt` or `none`.
    pub bn_type: String,
    /// Time steps (must equal the dataset's frames).
    #[serde(rename = "T")]
    pub t: usize,
    /// TET λ and φ.
    pub lamb: f64,
    pub means: f64,
    /// Seed of every random choice (init, noise masks, loader order and augmentation).
    pub seed: u64,
    /// `cpu` or `cuda:N`.
    pub device: String,
    /// `f32` (default) or `f64`.
    pub dtype: String,
    /// Input value transform applied by the loader.
    pub transform: ValueTransform,
    /// Train-time flip + circular roll (the reference's augmentation).
    pub augment: bool,
    /// With `augment`: flip the W axis with probability 0.5. Turn it off where left and right
    /// carry the label (DVS128 Gesture: a flipped right-hand wave is a left-hand wave).
    pub flip: bool,
    /// Roll range for augmentation.
    pub roll_max: u32,
    /// Loader decode threads (0 = all cores).
    pub workers: usize,
    /// Split names.
    pub train_split: String,
    pub test_split: String,
}

impl Default for TrainConfig {
    fn default() -> Self {
        TrainConfig {
            data: None,
            arch: "vggsnn2".into(),
            num_epoch: 100,
            train_batch_size: 32,
            val_batch_size: 32,
            lr: 0.1,
            wd: 1e-3,
            momentum: 0.9,
            width_lr: 3e-4,
            act: "mns_rec".into(),
            alpha: 1.0,
            train_width: true,
            p: 0.1,
            gamma: 1.0,
            ns_milestone: vec![0.0, 0.2, 0.4, 0.6, 0.8, 0.95],
            decay: 0.5,
            thresh: 0.5,
            train_decay: false,
            train_thresh: false,
            bn_type: "tdbn".into(),
            t: 10,
            lamb: 1e-3,
            means: 1.0,
            seed: 200,
            device: "cpu".into(),
            dtype: "f32".into(),
            transform: ValueTransform::MaxNorm,
            augment: true,
            flip: true,
            roll_max: 5,
            workers: 0,
            train_split: "train".into(),
            test_split: "test".into(),
        }
    }
}

impl TrainConfig {
    /// Reads a TOML file whose keys mirror the flags; missing keys take the defaults.
    pub fn from_toml_file(path: &Path) -> Result<Self> {
        let s = std::fs::read_to_string(path).map_err(|e| TrainError::io(path, e))?;
        toml::from_str(&s).map_err(|e| TrainError::Parse {
            path: path.to_path_buf(),
            reason: e.to_string(),
        })
    }

    /// The neuron block for these settings.
    pub fn neuron(&self) -> Result<NeuronSpec> {
        let (surrogate, spike) = match self.act.as_str() {
            "mns_rec" => (SurrogateKind::Rectangle, SpikeMode::Noisy),
            "mns_sig" => (SurrogateKind::Sigmoid, SpikeMode::Noisy),
            "sg" => (SurrogateKind::Rectangle, SpikeMode::StraightThrough),
            other => {
                return Err(TrainError::Config(format!(
                    "unknown --act `{other}` (mns_rec, mns_sig, sg)"
                )))
            }
        };
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
        let bn: BnType = self.bn_type.parse().map_err(TrainError::Config)?;
        let cfg = if self.arch.eq_ignore_ascii_case("vggsnn2") {
            VGGSNN2_CFG.to_vec()
        } else if let Some(s) = self.arch.strip_prefix("vgg:") {
            parse_vgg_cfg(s)?
        } else {
            return Err(TrainError::Config(format!(
                "unknown --arch `{}` (vggsnn2 or vgg:<spec>)",
                self.arch
            )));
        };
        let spec = NetSpec {
            time_steps: self.t,
            input_shape,
            num_classes,
            neuron: self.neuron()?,
            layers: vgg_layers(&cfg, bn, num_classes),
        };
        spec.shapes()?;
        Ok(spec)
    }

    /// Compute dtype.
    pub fn candle_dtype(&self) -> Result<candle_core::DType> {
        match self.dtype.as_str() {
            "f32" => Ok(candle_core::DType::F32),
            "f64" => Ok(candle_core::DType::F64),
            o => Err(TrainError::Config(format!("--dtype `{o}` (f32 or f64)"))),
        }
    }

    /// SHA-256 of the canonical JSON of this configuration.
    pub fn hash(&self) -> String {
        hex::encode(Sha256::digest(
            serde_json::to_vec(self).expect("config serialises"),
        ))
    }
}

/// `config.json` of a checkpoint folder: everything needed to rebuild and feed the network.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CheckpointConfig {
    /// Layout version of this file.
    pub format: u32,
    /// The network (Contract 3).
    pub net: NetSpec,
    /// Class names; logit k is `classes[k]`.
    pub classes: Vec<String>,
    /// Input geometry.
    pub time_steps: usize,
    pub height: usize,
    pub width: usize,
    /// Value transform the network was trained with.
    pub transform: ValueTransform,
    /// The dataset's integration parameters and their hash (from `dataset.json`).
    pub dataset_params: serde_json::Value,
    pub dataset_params_hash: String,
    /// Training configuration and its hash.
    pub train: TrainConfig,
    pub train_hash: String,
    /// Epoch (0-based) after which this checkpoint was written, and its test accuracy.
    pub epoch: usize,
    pub test_accuracy: f64,
}

impl CheckpointConfig {
    pub const FORMAT: u32 = 1;
    pub const FILE_NAME: &'static str = "config.json";

    /// Reads `<dir>/config.json`.
    pub fn read(dir: &Path) -> Result<Self> {
        crate::io::read_json(&dir.join(Self::FILE_NAME))
    }
}
