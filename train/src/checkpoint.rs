//! Checkpoint folders (Contract 3): `model.safetensors` + `config.json` ([`CheckpointConfig`]),
//! and for resumable checkpoints `state.safetensors` (optimiser moments) + `state.json` (epoch,
//! schedules, RNG, metric history). Every file is written atomically and durably through
//! [`dvs_frames::fsutil`].
use std::collections::HashMap;
use std::path::Path;

use candle_core::{DType, Device, Tensor};
use dvs_frames::ValueTransform;
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

use crate::config::TrainConfig;
use crate::error::{Result, TrainError};
use crate::fit::metrics::EpochMetrics;
use crate::fit::optim::{Adam, SgdMomentum};
use crate::network::model::Network;
use crate::network::spec::NetSpec;

/// Weights file name.
pub const MODEL_FILE: &str = "model.safetensors";
/// Optimiser state file name.
pub const STATE_TENSORS: &str = "state.safetensors";
/// Resume state file name.
pub const STATE_JSON: &str = "state.json";

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
        read_json(&dir.join(Self::FILE_NAME))
    }
}

/// Exact position of a ChaCha8 stream.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RngState {
    pub seed_hex: String,
    pub stream: u64,
    /// 128-bit word position as a decimal string (JSON numbers are not 128-bit safe).
    pub word_pos: String,
}

impl RngState {
    pub fn capture(rng: &ChaCha8Rng) -> Self {
        RngState {
            seed_hex: hex::encode(rng.get_seed()),
            stream: rng.get_stream(),
            word_pos: rng.get_word_pos().to_string(),
        }
    }

    pub fn restore(&self) -> Result<ChaCha8Rng> {
        use rand::SeedableRng;
        let bad = |r: &str| TrainError::Config(format!("bad RNG state in state.json: {r}"));
        let seed: [u8; 32] = hex::decode(&self.seed_hex)
            .map_err(|e| bad(&e.to_string()))?
            .try_into()
            .map_err(|_| bad("seed is not 32 bytes"))?;
        let mut rng = ChaCha8Rng::from_seed(seed);
        rng.set_stream(self.stream);
        rng.set_word_pos(
            self.word_pos
                .parse::<u128>()
                .map_err(|e| bad(&e.to_string()))?,
        );
        Ok(rng)
    }
}

/// Everything besides tensors that a resumed run needs.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ResumeState {
    /// Next epoch to run (0-based).
    pub next_epoch: usize,
    pub adam_steps: u64,
    pub noise_rng: RngState,
    pub best_accuracy: f64,
    pub best_epoch: Option<usize>,
    pub history: Vec<EpochMetrics>,
}

/// Writes a checkpoint folder (weights + config, plus state when given). Each file is atomic;
/// the state files are written before the weights so that a folder never pairs new weights with
/// a stale optimiser state (the weights file is the commit point read last on resume).
pub fn save(
    dir: &Path,
    net: &Network,
    config: &CheckpointConfig,
    state: Option<(&ResumeState, &SgdMomentum, &Adam)>,
) -> Result<()> {
    std::fs::create_dir_all(dir).map_err(|e| TrainError::io(dir, e))?;
    if let Some((rs, sgd, adam)) = state {
        let mut map: HashMap<String, Tensor> = HashMap::new();
        for (k, v) in sgd.state() {
            map.insert(format!("sgd.{k}"), v.clone());
        }
        let (m, v) = adam.state();
        for (k, t) in m {
            map.insert(format!("adam.m.{k}"), t.clone());
        }
        for (k, t) in v {
            map.insert(format!("adam.v.{k}"), t.clone());
        }
        save_tensors(&map, &dir.join(STATE_TENSORS))?;
        write_json(&dir.join(STATE_JSON), rs)?;
    }
    write_json(&dir.join(CheckpointConfig::FILE_NAME), config)?;
    net.save(&dir.join(MODEL_FILE))
}

/// Loads a network from a checkpoint folder (weights + config) onto `device`.
pub fn load_network(
    dir: &Path,
    device: &Device,
    dtype: DType,
) -> Result<(Network, CheckpointConfig)> {
    let config = CheckpointConfig::read(dir)?;
    let net = Network::new(config.net.clone(), dtype, device, 0)?;
    net.load(&dir.join(MODEL_FILE))?;
    Ok((net, config))
}

/// Restores optimiser state and returns the resume state of a resumable checkpoint folder.
pub fn load_state(
    dir: &Path,
    device: &Device,
    dtype: DType,
    sgd: &mut SgdMomentum,
    adam: &mut Adam,
) -> Result<ResumeState> {
    let rs: ResumeState = read_json(&dir.join(STATE_JSON))?;
    let path = dir.join(STATE_TENSORS);
    let tensors =
        candle_core::safetensors::load(&path, device).map_err(|e| TrainError::Tensor {
            path: path.clone(),
            name: "*".into(),
            reason: e.to_string(),
        })?;
    let mut sgd_bufs = HashMap::new();
    let mut m = HashMap::new();
    let mut v = HashMap::new();
    for (k, t) in tensors {
        let t = t.to_dtype(dtype)?;
        if let Some(n) = k.strip_prefix("sgd.") {
            sgd_bufs.insert(n.to_string(), t);
        } else if let Some(n) = k.strip_prefix("adam.m.") {
            m.insert(n.to_string(), t);
        } else if let Some(n) = k.strip_prefix("adam.v.") {
            v.insert(n.to_string(), t);
        } else {
            return Err(TrainError::Tensor {
                path: path.clone(),
                name: k,
                reason: "unknown optimiser state tensor".into(),
            });
        }
    }
    sgd.load_state(sgd_bufs);
    adam.load_state(m, v, rs.adam_steps);
    Ok(rs)
}

/// Serialises tensors as safetensors and writes them atomically (durable).
pub(crate) fn save_tensors(map: &HashMap<String, Tensor>, path: &Path) -> Result<()> {
    let bytes = safetensors::serialize(map, None).map_err(|e| TrainError::Tensor {
        path: path.to_path_buf(),
        name: "*".into(),
        reason: e.to_string(),
    })?;
    dvs_frames::fsutil::atomic_write(path, &bytes).map_err(|e| TrainError::io(path, e))
}

/// Serialises `value` as pretty JSON and writes it atomically (durable).
pub(crate) fn write_json<T: Serialize>(path: &Path, value: &T) -> Result<()> {
    let text = serde_json::to_string_pretty(value).map_err(|e| TrainError::Parse {
        path: path.to_path_buf(),
        reason: e.to_string(),
    })?;
    dvs_frames::fsutil::atomic_write(path, text.as_bytes()).map_err(|e| TrainError::io(path, e))
}

/// Reads and parses a JSON file.
pub(crate) fn read_json<T: serde::de::DeserializeOwned>(path: &Path) -> Result<T> {
    let text = std::fs::read_to_string(path).map_err(|e| TrainError::io(path, e))?;
    serde_json::from_str(&text).map_err(|e| TrainError::Parse {
        path: path.to_path_buf(),
        reason: e.to_string(),
    })
}
