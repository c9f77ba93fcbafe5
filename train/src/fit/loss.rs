//! TET loss and prediction (reference `TET_loss` in `experiment/dvs/main.py`).
//!
//! L = (1 − λ)·(1/T)·Σ_t CE(o_t, y) + λ·mean_{t,b,c}(o − φ)², CE averaged over the batch.
use candle_core::{DType, Tensor};

use crate::error::Result;

/// TET loss hyper-parameters.
#[derive(Clone, Copy, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct TetLoss {
    /// λ (`--lamb`), default 1e-3.
    pub lambda: f64,
    /// φ (`--means`), default 1.0.
    pub means: f64,
}

impl Default for TetLoss {
    fn default() -> Self {
        TetLoss {
            lambda: 1e-3,
            means: 1.0,
        }
    }
}

impl TetLoss {
    /// The loss of per-step logits [T, B, K] against labels [B] (u32).
    pub fn forward(&self, logits: &Tensor, labels: &Tensor) -> Result<Tensor> {
        let (t, b, k) = logits.dims3()?;
        let flat = logits.reshape((t * b, k))?;
        // Row t·B + b has label labels[b]; the mean over T·B rows equals (1/T)·Σ_t mean_b.
        let targets = labels
            .to_dtype(DType::U32)?
            .unsqueeze(0)?
            .repeat((t, 1))?
            .flatten_all()?;
        let ce = candle_nn::loss::cross_entropy(&flat, &targets)?;
        let mse = logits.affine(1.0, -self.means)?.sqr()?.mean_all()?;
        Ok(ce
            .affine(1.0 - self.lambda, 0.0)?
            .add(&mse.affine(self.lambda, 0.0)?)?)
    }
}

/// Prediction: argmax_c of the time-mean of the logits [T, B, K] → [B] (u32).
pub fn predict(logits: &Tensor) -> Result<Vec<u32>> {
    Ok(logits.mean(0)?.argmax(1)?.to_vec1::<u32>()?)
}

/// Cross-entropy of the time-mean logits [T, B, K] against labels [B] (u32), averaged over the
/// batch: the reference CIFAR main's loss (`Readout('psp_avg')` + `CrossEntropyLoss`).
pub fn ce_of_mean(logits: &Tensor, labels: &Tensor) -> Result<Tensor> {
    Ok(candle_nn::loss::cross_entropy(
        &logits.mean(0)?,
        &labels.to_dtype(DType::U32)?,
    )?)
}

/// The training objective of a run: TET (the reference DVS main) or CE of the time-mean logits
/// (the reference CIFAR main).
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Objective {
    /// [`TetLoss`].
    Tet(TetLoss),
    /// [`ce_of_mean`].
    CeMean,
}

impl Objective {
    /// The loss of per-step logits [T, B, K] against labels [B].
    pub fn forward(&self, logits: &Tensor, labels: &Tensor) -> Result<Tensor> {
        match self {
            Objective::Tet(tet) => tet.forward(logits, labels),
            Objective::CeMean => ce_of_mean(logits, labels),
        }
    }
}
