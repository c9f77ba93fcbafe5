//! `--compare-checkpoint`: the training crate's candle network (eval mode: Heaviside spikes,
//! BatchNorm running statistics) on the same batches as ONNX Runtime, so the report can state how
//! often the two agree. Spikes whose membrane potential is within rounding of the threshold may
//! legitimately flip (BN is folded into the conv weights in the ONNX graph), so the agreement and
//! the largest logit difference are reported, never hidden.

use std::path::Path;

use asgl_train::checkpoint::CheckpointConfig;
use asgl_train::export::ModelMetadata;
use asgl_train::network::model::Network;
use asgl_train::neuron::spike::ForwardCtx;
use candle_core::{DType, Device, Tensor};

use crate::error::EvalError;
use crate::runtime::ModelOutput;

/// The candle network of a checkpoint folder (`model.safetensors`).
pub struct CandleReference {
    network: Network,
}

impl CandleReference {
    /// Builds the network described by the model metadata and loads the checkpoint's weights.
    pub fn load(checkpoint: &Path, meta: &ModelMetadata) -> Result<Self, EvalError> {
        let weights = if checkpoint.is_dir() {
            checkpoint.join("model.safetensors")
        } else {
            checkpoint.to_path_buf()
        };
        if !weights.is_file() {
            return Err(EvalError::Compare(format!(
                "{}: no model.safetensors (pass a checkpoint folder written by asgl-train)",
                checkpoint.display()
            )));
        }
        // A checkpoint folder's config.json must be the one the model was exported from.
        let config_path = checkpoint.join(CheckpointConfig::FILE_NAME);
        if checkpoint.is_dir() && config_path.is_file() {
            let config = CheckpointConfig::read(checkpoint)
                .map_err(|e| EvalError::Compare(e.to_string()))?;
            if config.train_hash != meta.config_hash || config.net != meta.network {
                return Err(EvalError::Compare(format!(
                    "{} is not the checkpoint the model was exported from (config hash {} vs the model's {})",
                    checkpoint.display(),
                    config.train_hash,
                    meta.config_hash
                )));
            }
        }
        let network =
            Network::new(meta.network.clone(), DType::F32, &Device::Cpu, 0).map_err(|e| {
                EvalError::Compare(format!("building the network from the model metadata: {e}"))
            })?;
        network
            .load(&weights)
            .map_err(|e| EvalError::Compare(e.to_string()))?;
        Ok(Self { network })
    }

    /// Wraps an already built network (tests).
    pub fn from_network(network: Network) -> Self {
        Self { network }
    }

    /// Runs a batch `[B, T, C, H, W]` and returns per-step `[T, B, K]` and mean `[B, K]` logits.
    pub fn forward(&mut self, frames: &[f32], shape: [usize; 5]) -> Result<ModelOutput, EvalError> {
        let fail = |e: candle_core::Error| EvalError::Compare(e.to_string());
        let x = Tensor::from_slice(frames, shape.as_slice(), &Device::Cpu).map_err(fail)?;
        let x = x
            .permute((1, 0, 2, 3, 4))
            .map_err(fail)?
            .contiguous()
            .map_err(fail)?;
        let mut ctx = ForwardCtx::eval();
        let logits = self
            .network
            .forward(&x, &mut ctx)
            .map_err(|e| EvalError::Compare(e.to_string()))?;
        let (time_steps, batch, classes) = logits.dims3().map_err(fail)?;
        let mean = logits.mean(0).map_err(fail)?;
        Ok(ModelOutput {
            per_step: logits
                .flatten_all()
                .map_err(fail)?
                .to_vec1::<f32>()
                .map_err(fail)?,
            mean: mean
                .flatten_all()
                .map_err(fail)?
                .to_vec1::<f32>()
                .map_err(fail)?,
            time_steps,
            batch,
            classes,
        })
    }
}
