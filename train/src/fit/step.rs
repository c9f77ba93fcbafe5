//! One training step — forward in training mode (batch-statistic BN, hybrid noisy spikes drawn
//! from the run's noise stream), TET loss, a finite-loss check, backward, SGD + Adam — and the
//! running totals of a pass over a split (train or test).
use std::collections::BTreeMap;

use candle_core::{DType, Device, Tensor};
use dvs_frames::Batch;
use rand_chacha::ChaCha8Rng;

use crate::error::{Result, TrainError};
use crate::fit::loss::{predict, Objective};
use crate::fit::optim::{Adam, SgdMomentum};
use crate::network::model::Network;
use crate::neuron::spike::ForwardCtx;

/// Converts a loader batch [B, T, C, H, W] into the network layout [T, B, C, H, W] and labels.
pub fn batch_tensors(batch: Batch, device: &Device, dtype: DType) -> Result<(Tensor, Tensor)> {
    let [b, t, c, h, w] = batch.shape;
    let x = Tensor::from_vec(batch.data, (b, t, c, h, w), device)?
        .permute((1, 0, 2, 3, 4))?
        .contiguous()?;
    let x = if dtype == DType::F32 {
        x
    } else {
        x.to_dtype(dtype)?
    };
    let labels = Tensor::new(batch.labels.as_slice(), device)?;
    Ok((x, labels))
}

/// Where a step sits in the run (named by the non-finite-loss error).
#[derive(Clone, Copy, Debug)]
pub(super) struct StepIndex {
    pub epoch: usize,
    pub step: usize,
}

/// Running totals of one pass over a split.
#[derive(Default)]
pub(super) struct PassStats {
    loss_sum: f64,
    correct: usize,
    seen: usize,
    /// Seconds blocked on the loader.
    pub wait: f64,
    /// Σ s and element count per LIF layer index.
    pub spikes: BTreeMap<usize, (f64, usize)>,
}

impl PassStats {
    /// Adds one batch: its mean loss, predictions, labels and the forward's spike sums.
    pub fn add(&mut self, loss: f64, preds: &[u32], labels: &[u32], ctx: &ForwardCtx) {
        self.loss_sum += loss * labels.len() as f64;
        self.correct += preds.iter().zip(labels).filter(|(p, l)| p == l).count();
        self.seen += labels.len();
        for &(i, s, n) in &ctx.spike_sums {
            let e = self.spikes.entry(i).or_insert((0.0, 0));
            e.0 += s;
            e.1 += n;
        }
    }

    /// Mean loss per sample.
    pub fn loss(&self) -> f64 {
        self.loss_sum / self.seen.max(1) as f64
    }

    /// Fraction of correct predictions.
    pub fn accuracy(&self) -> f64 {
        self.correct as f64 / self.seen.max(1) as f64
    }
}

/// The parts of a run one training step updates.
pub(super) struct Trainee<'a> {
    pub net: &'a Network,
    pub sgd: &'a mut SgdMomentum,
    pub adam: &'a mut Adam,
    pub loss_fn: &'a Objective,
    pub noise_rng: &'a mut ChaCha8Rng,
}

impl Trainee<'_> {
    /// Trains on one loader batch and adds it to `stats`. A non-finite loss stops before the
    /// update, naming `at`.
    pub fn step(&mut self, batch: Batch, at: StepIndex, stats: &mut PassStats) -> Result<()> {
        stats.wait += batch.wait.as_secs_f64();
        let labels_v = batch.labels.clone();
        let (x, labels) = batch_tensors(batch, self.net.device(), self.net.dtype())?;
        let mut ctx = ForwardCtx::train(self.noise_rng);
        let logits = self.net.forward(&x, &mut ctx)?;
        let loss = self.loss_fn.forward(&logits, &labels)?;
        let loss_v = loss.to_dtype(DType::F64)?.to_scalar::<f64>()?;
        if !loss_v.is_finite() {
            return Err(TrainError::NonFiniteLoss {
                epoch: at.epoch,
                step: at.step,
                loss: loss_v,
            });
        }
        let grads = loss.backward()?;
        self.sgd.step(&grads)?;
        self.adam.step(&grads)?;
        stats.add(loss_v, &predict(&logits)?, &labels_v, &ctx);
        Ok(())
    }
}
