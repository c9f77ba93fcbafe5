//! Batch normalisation variants (reference `--bn_type`):
//! `tdbn` = ordinary BatchNorm2d over the folded T·B batch (no α·V_th scaling), `bntt` = one
//! BatchNorm2d per time step. PyTorch semantics: momentum 0.1, eps 1e-5, biased batch variance
//! for normalising, unbiased variance (n/(n−1)) for the running estimate.
//!
//! Training mode on the CPU runs as one fused custom op ([`crate::layers::fused_bn`]: statistics,
//! normalisation and the closed-form backward); other devices, eval mode and
//! [`BatchNorm::set_fused`]`(false)` use the op-by-op path below, which autograd differentiates.
//! Both paths update the running estimates with the same tensor operations.
use candle_core::{Tensor, Var, D};

use crate::error::Result;
use crate::layers::fused_bn::{batch_norm_eval, batch_norm_train, BnBatchStats};
use crate::network::vars::{ParamGroup, ParamInit, Vars};
use crate::neuron::bn_lif::bn_lif_train;
use crate::neuron::fused_lif::FusedLif;

/// BN momentum (PyTorch default).
pub const BN_MOMENTUM: f64 = 0.1;
/// BN epsilon (PyTorch default).
pub const BN_EPS: f64 = 1e-5;

/// BatchNorm2d over groups of the folded batch: 1 group (tdbn) or T groups (bntt).
#[derive(Clone, Debug)]
pub struct BatchNorm {
    /// γ, stored [C] (tdbn) or [T, C] (bntt).
    weight: Var,
    /// β, same shape as γ.
    bias: Var,
    running_mean: Var,
    running_var: Var,
    /// Number of statistic groups G (1 or T).
    groups: usize,
    /// Use the fused CPU op in training mode when the input is on the CPU (default).
    fused: bool,
}

impl BatchNorm {
    /// Name of γ under the layer's prefix.
    pub const WEIGHT: &'static str = "weight";
    /// Name of β.
    pub const BIAS: &'static str = "bias";
    /// Name of the running mean (a buffer: saved, not optimised).
    pub const RUNNING_MEAN: &'static str = "running_mean";
    /// Name of the running variance (a buffer).
    pub const RUNNING_VAR: &'static str = "running_var";

    /// Creates the layer's parameters through `vars` for `channels` channels and `groups`
    /// statistic groups (1 = tdbn, stored [C]; T = bntt, stored [T, C]): γ = 1, β = 0, running
    /// mean 0, running variance 1.
    pub fn load(vars: &Vars, channels: usize, groups: usize) -> Result<Self> {
        let shape: Vec<usize> = if groups == 1 {
            vec![channels]
        } else {
            vec![groups, channels]
        };
        let var = |name: &str, init: f64, group: ParamGroup| {
            vars.var(name, &shape, ParamInit::Const(init), group)
        };
        Ok(BatchNorm::new(
            var(Self::WEIGHT, 1.0, ParamGroup::NoDecay)?,
            var(Self::BIAS, 0.0, ParamGroup::NoDecay)?,
            var(Self::RUNNING_MEAN, 0.0, ParamGroup::Buffer)?,
            var(Self::RUNNING_VAR, 1.0, ParamGroup::Buffer)?,
            groups,
        ))
    }

    /// Wraps existing parameters; `groups` = 1 for tdbn, T for bntt.
    pub fn new(weight: Var, bias: Var, running_mean: Var, running_var: Var, groups: usize) -> Self {
        BatchNorm {
            weight,
            bias,
            running_mean,
            running_var,
            groups,
            fused: true,
        }
    }

    /// Chooses the fused CPU op (`true`, default) or the op-by-op path (`false`) for training.
    pub fn set_fused(&mut self, fused: bool) {
        self.fused = fused;
    }

    /// Whether training mode on the CPU runs the fused op.
    pub fn is_fused(&self) -> bool {
        self.fused
    }

    /// Training-mode BN on the CPU followed by the LIF op `lif` (parameters `lif_params`) as one
    /// graph node ([`crate::neuron::bn_lif`]); updates the running estimates like
    /// [`BatchNorm::forward`].
    pub(crate) fn train_with_lif(
        &self,
        x: &Tensor,
        lif: FusedLif,
        lif_params: &Tensor,
    ) -> Result<Tensor> {
        let (weight, bias) = (self.weight.as_tensor(), self.bias.as_tensor());
        let (out, stats) = bn_lif_train(x, (weight, bias), self.groups, BN_EPS, lif, lif_params)?;
        self.update_running_from(&stats, x)?;
        Ok(out)
    }

    /// The running-estimate update from a fused forward's batch statistics.
    fn update_running_from(&self, stats: &BnBatchStats, x: &Tensor) -> Result<()> {
        let dev = x.device();
        let mean = Tensor::new(stats.mean.as_slice(), dev)?.to_dtype(x.dtype())?;
        let var = Tensor::new(stats.var.as_slice(), dev)?.to_dtype(x.dtype())?;
        self.update_running(&mean, &var, stats.count)
    }

    /// running ← (1 − momentum)·running + momentum·batch, with the batch variance scaled by
    /// count/(count − 1) (unbiased) as PyTorch does. `mean`/`var` hold one value per statistic.
    fn update_running(&self, mean: &Tensor, var: &Tensor, count: usize) -> Result<()> {
        let unbias = if count > 1 {
            count as f64 / (count - 1) as f64
        } else {
            1.0
        };
        let rshape = self.running_mean.shape().clone();
        let new_mean = self
            .running_mean
            .as_tensor()
            .affine(1.0 - BN_MOMENTUM, 0.0)?
            .add(
                &mean
                    .detach()
                    .reshape(rshape.clone())?
                    .affine(BN_MOMENTUM, 0.0)?,
            )?;
        let new_var = self
            .running_var
            .as_tensor()
            .affine(1.0 - BN_MOMENTUM, 0.0)?
            .add(
                &var.detach()
                    .reshape(rshape)?
                    .affine(BN_MOMENTUM * unbias, 0.0)?,
            )?;
        self.running_mean.set(&new_mean.detach())?;
        self.running_var.set(&new_var.detach())?;
        Ok(())
    }

    /// Normalises `x` ([T·B, C, H, W], t-major). Training mode uses batch statistics and updates
    /// the running estimates; eval mode uses the running estimates.
    pub fn forward(&self, x: &Tensor, train: bool) -> Result<Tensor> {
        let (n, c, h, w) = x.dims4()?;
        let g = self.groups;
        if train && self.fused && x.device().is_cpu() {
            let (y, stats) =
                batch_norm_train(x, self.weight.as_tensor(), self.bias.as_tensor(), g, BN_EPS)?;
            self.update_running_from(&stats, x)?;
            return Ok(y);
        }
        if !train && self.fused && x.device().is_cpu() {
            return Ok(batch_norm_eval(
                x,
                (self.running_mean.as_tensor(), self.running_var.as_tensor()),
                (self.weight.as_tensor(), self.bias.as_tensor()),
                g,
                BN_EPS,
            )?);
        }
        let xg = x.reshape((g, n / g, c, h * w))?;
        let pshape = (g, 1, c, 1);
        let gamma = self.weight.as_tensor().reshape(pshape)?;
        let beta = self.bias.as_tensor().reshape(pshape)?;
        let y = if train {
            // Reduce the contiguous spatial axis first, then the batch axis.
            let count = (n / g) * h * w;
            let mean = xg
                .sum_keepdim(D::Minus1)?
                .sum_keepdim(1)?
                .affine(1.0 / count as f64, 0.0)?;
            let xc = xg.broadcast_sub(&mean)?;
            let var = xc
                .sqr()?
                .sum_keepdim(D::Minus1)?
                .sum_keepdim(1)?
                .affine(1.0 / count as f64, 0.0)?;
            let inv_std = var.affine(1.0, BN_EPS)?.sqrt()?.recip()?;
            self.update_running(&mean, &var, count)?;
            xc.broadcast_mul(&inv_std)?
        } else {
            let mean = self.running_mean.as_tensor().detach().reshape(pshape)?;
            let inv_std = self
                .running_var
                .as_tensor()
                .detach()
                .reshape(pshape)?
                .affine(1.0, BN_EPS)?
                .sqrt()?
                .recip()?;
            xg.broadcast_sub(&mean)?.broadcast_mul(&inv_std)?
        };
        Ok(y.broadcast_mul(&gamma)?
            .broadcast_add(&beta)?
            .reshape((n, c, h, w))?)
    }
}
