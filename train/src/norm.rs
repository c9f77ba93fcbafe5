//! Batch normalisation variants (reference `--bn_type`):
//! `tdbn` = ordinary BatchNorm2d over the folded T·B batch (no α·V_th scaling), `bntt` = one
//! BatchNorm2d per time step. PyTorch semantics: momentum 0.1, eps 1e-5, biased batch variance
//! for normalising, unbiased variance (n/(n−1)) for the running estimate.
use candle_core::{Tensor, Var, D};

use crate::error::Result;

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
}

impl BatchNorm {
    /// Wraps existing parameters; `groups` = 1 for tdbn, T for bntt.
    pub fn new(weight: Var, bias: Var, running_mean: Var, running_var: Var, groups: usize) -> Self {
        BatchNorm {
            weight,
            bias,
            running_mean,
            running_var,
            groups,
        }
    }

    /// Normalises `x` ([T·B, C, H, W], t-major). Training mode uses batch statistics and updates
    /// the running estimates; eval mode uses the running estimates.
    pub fn forward(&self, x: &Tensor, train: bool) -> Result<Tensor> {
        let (n, c, h, w) = x.dims4()?;
        let g = self.groups;
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
