//! Training-mode BatchNorm followed by a fused LIF layer as one CPU graph node: the kernels of
//! [`crate::layers::fused_bn`] and [`crate::neuron::fused_lif`] run back to back on slices.
//!
//! Why: as two nodes, the BN output y is a full-size tensor that the graph keeps until the
//! backward (the LIF node's input), and candle's backward zero-fills a full-size gradient buffer
//! for y and adds the LIF's input gradient into it before BN reads it — two passes over every
//! element and an allocation per layer and step. Here y lives only during the forward and the
//! LIF's input gradient goes straight into the BN backward. Same operations in the same order as
//! the two nodes: values and gradients are bit-identical (tested in `tests/fused_bn_lif.rs`).
//!
//! Arguments: x [N, C, H, W] (t-major), the affine parameters γ ‖ β (2·G·C values, (g, c) order
//! each) and the LIF parameters [α, d, θ].
use std::sync::{Arc, Mutex};

use candle_core::{CpuStorage, CustomOp3, Device, Layout, Shape, Tensor};

use crate::layers::cpu_kernel::{storage_slice as slice, with_tensor_slice, Real};
use crate::layers::fused_bn::{BnBatchStats, FusedBatchNorm};
use crate::neuron::fused_lif::FusedLif;

/// The custom op: BN (batch statistics) then the T-step LIF recurrence.
pub struct BnLif {
    bn: FusedBatchNorm,
    lif: FusedLif,
}

impl BnLif {
    fn fwd_typed<F: Real>(
        &self,
        shape: &Shape,
        x: &[F],
        affine: &[F],
        raw: &[F],
    ) -> candle_core::Result<CpuStorage> {
        let (gamma, beta) = split_affine(affine)?;
        let geo = self.bn.geometry(shape, gamma.len())?;
        let y = self.bn.forward_slices(geo, x, gamma, beta)?;
        Ok(F::storage(self.lif.forward_slices(&y, raw)?))
    }

    fn bwd_typed<F: Real>(
        &self,
        x: &Tensor,
        affine: &Tensor,
        raw: &Tensor,
        grad: &Tensor,
    ) -> candle_core::Result<(Option<Tensor>, Tensor, Tensor)> {
        let need_dx = x.track_op();
        let (dx, d_affine, d_raw) = with_tensor_slice::<F, _>(grad, |go| {
            with_tensor_slice::<F, _>(raw, |rs| {
                let (dy, d_raw) = self.lif.backward_slices(go, rs)?;
                with_tensor_slice::<F, _>(x, |xs| {
                    with_tensor_slice::<F, _>(affine, |af| {
                        let (gamma, _) = split_affine(af)?;
                        let geo = self.bn.geometry(x.shape(), gamma.len())?;
                        let (dx, dg, db) =
                            self.bn.backward_slices(geo, (xs, gamma, &dy), need_dx)?;
                        Ok((dx, [dg, db].concat(), d_raw))
                    })
                })
            })
        })?;
        Ok((
            dx.map(|dx| Tensor::from_vec(dx, x.shape(), &Device::Cpu))
                .transpose()?,
            Tensor::from_vec(d_affine, affine.shape(), &Device::Cpu)?,
            Tensor::from_vec(d_raw, raw.shape(), &Device::Cpu)?,
        ))
    }
}

/// γ and β from γ ‖ β.
fn split_affine<F>(affine: &[F]) -> candle_core::Result<(&[F], &[F])> {
    if affine.len() % 2 != 0 {
        candle_core::bail!("fused-bn-lif: {} affine values, not γ ‖ β", affine.len());
    }
    Ok(affine.split_at(affine.len() / 2))
}

impl CustomOp3 for BnLif {
    fn name(&self) -> &'static str {
        "fused-bn-lif"
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
        s3: &CpuStorage,
        l3: &Layout,
    ) -> candle_core::Result<(CpuStorage, Shape)> {
        let shape = l1.shape();
        let out = match (s1, s2, s3) {
            (CpuStorage::F32(_), CpuStorage::F32(_), CpuStorage::F32(_)) => {
                self.fwd_typed::<f32>(shape, slice(s1, l1)?, slice(s2, l2)?, slice(s3, l3)?)?
            }
            (CpuStorage::F64(_), CpuStorage::F64(_), CpuStorage::F64(_)) => {
                self.fwd_typed::<f64>(shape, slice(s1, l1)?, slice(s2, l2)?, slice(s3, l3)?)?
            }
            _ => candle_core::bail!("fused-bn-lif: input and parameters must all be f32 or f64"),
        };
        Ok((out, shape.clone()))
    }

    fn bwd(
        &self,
        x: &Tensor,
        affine: &Tensor,
        raw: &Tensor,
        _res: &Tensor,
        grad_res: &Tensor,
    ) -> candle_core::Result<(Option<Tensor>, Option<Tensor>, Option<Tensor>)> {
        let (dx, da, dr) = match x.dtype() {
            candle_core::DType::F32 => self.bwd_typed::<f32>(x, affine, raw, grad_res)?,
            candle_core::DType::F64 => self.bwd_typed::<f64>(x, affine, raw, grad_res)?,
            dt => candle_core::bail!("fused-bn-lif: unsupported dtype {dt:?}"),
        };
        Ok((dx, Some(da), Some(dr)))
    }
}

/// Training-mode BatchNorm (`groups` statistic groups, γ and β with G·C values) followed by
/// the LIF op `lif` with parameters `raw` [α, d, θ], on the CPU, as one graph node. Returns the
/// LIF output and the batch statistics (for the running estimates).
pub fn bn_lif_train(
    x: &Tensor,
    (gamma, beta): (&Tensor, &Tensor),
    groups: usize,
    eps: f64,
    lif: FusedLif,
    raw: &Tensor,
) -> candle_core::Result<(Tensor, BnBatchStats)> {
    let stats = Arc::new(Mutex::new(BnBatchStats::default()));
    let affine = Tensor::cat(&[gamma.flatten_all()?, beta.flatten_all()?], 0)?;
    let op = BnLif {
        bn: FusedBatchNorm::new(groups, eps, stats.clone()),
        lif,
    };
    let out = x.contiguous()?.apply_op3(&affine, &raw.contiguous()?, op)?;
    let stats = stats.lock().expect("fused-bn state poisoned").clone();
    Ok((out, stats))
}
