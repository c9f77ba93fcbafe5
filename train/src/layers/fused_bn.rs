//! Fused BatchNorm training forward and backward (CPU custom op) for both BN variants:
//! `tdbn` (one statistic group over the folded T·B batch) and `bntt` (one group per time step).
//!
//! Why: differentiated op by op ([`crate::layers::norm`] before this op), BN builds about ten full-size
//! intermediates per layer in the forward (centred input, its square, broadcast products) and
//! autograd adds a broadcast reduction plus a zero-filled accumulator for each of them in the
//! backward; together they were a large part of candle's element-wise time in the VGGSNN2 step.
//! This op reads the input twice for the statistics, writes the output once, keeps nothing
//! full-size for the backward (x̂ is recomputed from the input, which the graph keeps anyway) and
//! computes the closed-form backward in two passes.
//!
//! Semantics (PyTorch BatchNorm2d in training mode, per group g and channel c over the
//! n = (N/G)·H·W elements of that group and channel):
//! μ = Σx/n, σ² = Σ(x − μ)²/n (biased), y = (x − μ)·(1/√(σ² + ε))·γ + β.
//! Backward with x̂ = (x − μ)/√(σ² + ε):
//! dx = γ/√(σ² + ε) · (dy − Σdy/n − x̂·Σ(dy·x̂)/n), dγ = Σ dy·x̂, dβ = Σ dy.
//! Sums are accumulated in f64 for either element type; per-element work runs in the element
//! type with the same operation order as the op-by-op path ((x − μ)·inv_std·γ + β), so f64
//! results agree with it to rounding and f32 results to f32 rounding of the statistics.
//!
//! Layout: input [N, C, H, W] contiguous, t-major (group g holds samples g·N/G .. (g+1)·N/G);
//! γ and β are [G·C] in (g, c) order (stored [C] or [T, C]). The batch statistics (μ and the
//! biased σ² per (g, c)) are handed back through [`BnBatchStats`] for the running-estimate update,
//! which stays in [`crate::layers::norm`]. Only a CPU kernel exists; other devices use the op-by-op path.
use std::sync::{Arc, Mutex};

use candle_core::{CpuStorage, CustomOp3, Device, Layout, Shape, Tensor};
use rayon::prelude::*;

use crate::layers::cpu_kernel::{storage_slice as slice, with_tensor_slice, Real, Uninit};

/// Batch statistics of one forward, per (group, channel) in (g, c) order.
#[derive(Clone, Debug, Default)]
pub struct BnBatchStats {
    /// μ per (g, c).
    pub mean: Vec<f64>,
    /// Biased variance σ² per (g, c).
    pub var: Vec<f64>,
    /// Elements per (g, c): (N/G)·H·W.
    pub count: usize,
}

/// Geometry of one application: x is [n_total, channels, inner].
#[derive(Clone, Copy, Debug)]
pub(crate) struct Geometry {
    groups: usize,
    samples_per_group: usize,
    channels: usize,
    /// H·W.
    inner: usize,
}

impl Geometry {
    fn count(&self) -> usize {
        self.samples_per_group * self.inner
    }

    /// The `inner`-long slices of channel c for every sample of group g.
    fn pieces<'a, F>(&self, buf: &'a [F], g: usize, c: usize) -> impl Iterator<Item = &'a [F]> {
        let (ch, inner) = (self.channels, self.inner);
        let first = g * self.samples_per_group;
        (first..first + self.samples_per_group).map(move |s| {
            let o = (s * ch + c) * inner;
            &buf[o..o + inner]
        })
    }
}

/// Σ v over a slice in f64, four independent accumulators (keeps the add chain short).
#[inline(always)]
fn sum_f64<F: Real>(v: &[F]) -> f64 {
    let mut acc = [0f64; 4];
    let mut chunks = v.chunks_exact(4);
    for q in &mut chunks {
        for k in 0..4 {
            acc[k] += q[k].to_f64_();
        }
    }
    let mut tail = 0f64;
    for &x in chunks.remainder() {
        tail += x.to_f64_();
    }
    (acc[0] + acc[1]) + (acc[2] + acc[3]) + tail
}

/// Σ (v − m)² over a slice in f64.
#[inline(always)]
fn sq_dev_f64<F: Real>(v: &[F], m: f64) -> f64 {
    let mut acc = [0f64; 4];
    let mut chunks = v.chunks_exact(4);
    for q in &mut chunks {
        for k in 0..4 {
            let d = q[k].to_f64_() - m;
            acc[k] += d * d;
        }
    }
    let mut tail = 0f64;
    for &x in chunks.remainder() {
        let d = x.to_f64_() - m;
        tail += d * d;
    }
    (acc[0] + acc[1]) + (acc[2] + acc[3]) + tail
}

/// Forward: (y, μ, σ²) with μ, σ² per (g, c).
fn forward<F: Real>(
    geo: Geometry,
    eps: f64,
    x: &[F],
    gamma: &[F],
    beta: &[F],
) -> (Vec<F>, Vec<f64>, Vec<f64>) {
    let n = geo.count() as f64;
    let stats: Vec<(f64, f64)> = (0..geo.groups * geo.channels)
        .into_par_iter()
        .map(|gc| {
            let (g, c) = (gc / geo.channels, gc % geo.channels);
            let mean = geo.pieces(x, g, c).map(sum_f64).sum::<f64>() / n;
            let var = geo
                .pieces(x, g, c)
                .map(|p| sq_dev_f64(p, mean))
                .sum::<f64>()
                / n;
            (mean, var)
        })
        .collect();
    let mean_f: Vec<F> = stats.iter().map(|s| F::from_f64(s.0)).collect();
    let inv_std_f: Vec<F> = stats
        .iter()
        .map(|s| F::from_f64(1.0 / (s.1 + eps).sqrt()))
        .collect();
    let mut y = Uninit::new(x.len());
    let sample_len = geo.channels * geo.inner;
    y.pieces()
        .par_chunks_mut(sample_len)
        .zip(x.par_chunks(sample_len))
        .enumerate()
        .for_each(|(s, (ys, xs))| {
            let g = s / geo.samples_per_group;
            for c in 0..geo.channels {
                let k = g * geo.channels + c;
                let (m, is, ga, be) = (mean_f[k], inv_std_f[k], gamma[k], beta[k]);
                let r = c * geo.inner..(c + 1) * geo.inner;
                Uninit::write(
                    &mut ys[r.clone()],
                    xs[r].iter().map(|&v| (v - m) * is * ga + be),
                );
            }
        });
    let (mean, var) = stats.into_iter().unzip();
    // SAFETY: the per-sample chunks cover y, and every task wrote its chunk, channel by channel.
    (unsafe { y.assume_init() }, mean, var)
}

/// Backward: (dx, dγ, dβ) from the input, the saved statistics and dy; dx only when `need_dx`
/// (the per-(g, c) sums that dγ and dβ need are computed either way, the full-size dx pass is
/// skipped).
fn backward<F: Real>(
    geo: Geometry,
    eps: f64,
    stats: &BnBatchStats,
    (x, gamma, dy): (&[F], &[F], &[F]),
    need_dx: bool,
) -> (Option<Vec<F>>, Vec<F>, Vec<F>) {
    // Whole samples of x and dy, one per chunk of dx: the chunks below then cover dx.
    assert!(
        x.len() == dy.len() && x.len() % (geo.channels * geo.inner) == 0,
        "fused-bn: gradient and input sizes differ"
    );
    let n = geo.count() as f64;
    let mean_f: Vec<F> = stats.mean.iter().map(|&m| F::from_f64(m)).collect();
    let inv_std_f: Vec<F> = stats
        .var
        .iter()
        .map(|&v| F::from_f64(1.0 / (v + eps).sqrt()))
        .collect();
    // Per (g, c): (Σ dy, Σ dy·x̂) in f64.
    let sums: Vec<(f64, f64)> = (0..geo.groups * geo.channels)
        .into_par_iter()
        .map(|gc| {
            let (g, c) = (gc / geo.channels, gc % geo.channels);
            let (m, is) = (mean_f[gc], inv_std_f[gc]);
            let mut s_dy = 0f64;
            let mut s_dyx = 0f64;
            for (xp, dp) in geo.pieces(x, g, c).zip(geo.pieces(dy, g, c)) {
                s_dy += sum_f64(dp);
                let mut acc = [0f64; 4];
                let mut xc = xp.chunks_exact(4);
                let mut dc = dp.chunks_exact(4);
                for (xq, dq) in (&mut xc).zip(&mut dc) {
                    for k in 0..4 {
                        acc[k] += (dq[k] * ((xq[k] - m) * is)).to_f64_();
                    }
                }
                let mut tail = 0f64;
                for (&xv, &dv) in xc.remainder().iter().zip(dc.remainder()) {
                    tail += (dv * ((xv - m) * is)).to_f64_();
                }
                s_dyx += (acc[0] + acc[1]) + (acc[2] + acc[3]) + tail;
            }
            (s_dy, s_dyx)
        })
        .collect();
    let d_gamma = sums.iter().map(|s| F::from_f64(s.1)).collect();
    let d_beta = sums.iter().map(|s| F::from_f64(s.0)).collect();
    if !need_dx {
        return (None, d_gamma, d_beta);
    }
    // dx = a·(dy − b − x̂·d) with a = γ·inv_std, b = Σdy/n, d = Σ(dy·x̂)/n.
    let coef: Vec<(F, F, F)> = sums
        .iter()
        .enumerate()
        .map(|(k, &(s_dy, s_dyx))| {
            (
                gamma[k] * inv_std_f[k],
                F::from_f64(s_dy / n),
                F::from_f64(s_dyx / n),
            )
        })
        .collect();
    let mut dx = Uninit::new(x.len());
    let sample_len = geo.channels * geo.inner;
    dx.pieces()
        .par_chunks_mut(sample_len)
        .zip(x.par_chunks(sample_len).zip(dy.par_chunks(sample_len)))
        .enumerate()
        .for_each(|(s, (dxs, (xs, dys)))| {
            let g = s / geo.samples_per_group;
            for c in 0..geo.channels {
                let k = g * geo.channels + c;
                let (a, b, d) = coef[k];
                let (m, is) = (mean_f[k], inv_std_f[k]);
                let r = c * geo.inner..(c + 1) * geo.inner;
                let values = xs[r.clone()]
                    .iter()
                    .zip(&dys[r.clone()])
                    .map(|(&xv, &dv)| a * (dv - b - (xv - m) * is * d));
                Uninit::write(&mut dxs[r], values);
            }
        });
    // SAFETY: the per-sample chunks cover dx, and every task wrote its chunk, channel by
    // channel.
    (Some(unsafe { dx.assume_init() }), d_gamma, d_beta)
}

/// (dx when asked for, dγ, dβ) of one backward.
pub(crate) type BnGrads<F> = (Option<Vec<F>>, Vec<F>, Vec<F>);

/// The custom op: training-mode BatchNorm over `groups` statistic groups.
pub struct FusedBatchNorm {
    groups: usize,
    eps: f64,
    /// Written by the forward; read by the backward and by the caller (running estimates).
    stats: Arc<Mutex<BnBatchStats>>,
}

impl FusedBatchNorm {
    /// The op for one forward over `groups` statistic groups; `stats` receives the batch
    /// statistics.
    pub(crate) fn new(groups: usize, eps: f64, stats: Arc<Mutex<BnBatchStats>>) -> Self {
        FusedBatchNorm { groups, eps, stats }
    }

    pub(crate) fn geometry(&self, shape: &Shape, params: usize) -> candle_core::Result<Geometry> {
        let (n, c, h, w) = shape.dims4()?;
        let g = self.groups;
        if g == 0 || n % g != 0 || n == 0 || c * h * w == 0 {
            candle_core::bail!("fused-bn: input {shape:?} does not split into {g} groups");
        }
        if params != g * c {
            candle_core::bail!("fused-bn: {params} affine parameters, expected {g}·{c}");
        }
        Ok(Geometry {
            groups: g,
            samples_per_group: n / g,
            channels: c,
            inner: h * w,
        })
    }

    /// The forward on slices: y, with the batch statistics stored for the backward and the
    /// caller.
    pub(crate) fn forward_slices<F: Real>(
        &self,
        geo: Geometry,
        x: &[F],
        gamma: &[F],
        beta: &[F],
    ) -> candle_core::Result<Vec<F>> {
        if gamma.len() != beta.len() || gamma.len() != geo.groups * geo.channels {
            candle_core::bail!(
                "fused-bn: γ has {} values, β {}, expected {}·{}",
                gamma.len(),
                beta.len(),
                geo.groups,
                geo.channels
            );
        }
        if x.len() != geo.groups * geo.samples_per_group * geo.channels * geo.inner {
            candle_core::bail!("fused-bn: {} inputs do not match {geo:?}", x.len());
        }
        let (y, mean, var) = forward(geo, self.eps, x, gamma, beta);
        *self.stats.lock().expect("fused-bn state poisoned") = BnBatchStats {
            mean,
            var,
            count: geo.count(),
        };
        Ok(y)
    }

    /// The backward on slices: (dx when `need_dx`, dγ, dβ) from the input, γ and dy.
    pub(crate) fn backward_slices<F: Real>(
        &self,
        geo: Geometry,
        (x, gamma, dy): (&[F], &[F], &[F]),
        need_dx: bool,
    ) -> candle_core::Result<BnGrads<F>> {
        let stats = self.stats.lock().expect("fused-bn state poisoned").clone();
        if stats.mean.len() != geo.groups * geo.channels {
            candle_core::bail!("fused-bn: backward before forward");
        }
        if x.len() != dy.len() || gamma.len() != geo.groups * geo.channels {
            candle_core::bail!(
                "fused-bn: {} inputs, {} gradients, {} γ values for {geo:?}",
                x.len(),
                dy.len(),
                gamma.len()
            );
        }
        Ok(backward(geo, self.eps, &stats, (x, gamma, dy), need_dx))
    }

    fn bwd_typed<F: Real>(
        &self,
        x: &Tensor,
        gamma: &Tensor,
        grad_res: &Tensor,
        need_dx: bool,
    ) -> candle_core::Result<(Option<Tensor>, Tensor, Tensor)> {
        let geo = self.geometry(x.shape(), gamma.elem_count())?;
        let (dx, dg, db) = with_tensor_slice::<F, _>(x, |xs| {
            with_tensor_slice::<F, _>(gamma, |gs| {
                with_tensor_slice::<F, _>(grad_res, |dy| {
                    self.backward_slices(geo, (xs, gs, dy), need_dx)
                })
            })
        })?;
        Ok((
            dx.map(|dx| Tensor::from_vec(dx, x.shape(), &Device::Cpu))
                .transpose()?,
            Tensor::from_vec(dg, gamma.shape(), &Device::Cpu)?,
            Tensor::from_vec(db, gamma.shape(), &Device::Cpu)?,
        ))
    }
}

impl CustomOp3 for FusedBatchNorm {
    fn name(&self) -> &'static str {
        "fused-batch-norm"
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
        let geo = self.geometry(l1.shape(), l2.shape().elem_count())?;
        let out = match (s1, s2, s3) {
            (CpuStorage::F32(_), CpuStorage::F32(_), CpuStorage::F32(_)) => CpuStorage::F32(
                self.forward_slices::<f32>(geo, slice(s1, l1)?, slice(s2, l2)?, slice(s3, l3)?)?,
            ),
            (CpuStorage::F64(_), CpuStorage::F64(_), CpuStorage::F64(_)) => CpuStorage::F64(
                self.forward_slices::<f64>(geo, slice(s1, l1)?, slice(s2, l2)?, slice(s3, l3)?)?,
            ),
            _ => candle_core::bail!("fused-bn: input, γ and β must all be f32 or all f64"),
        };
        Ok((out, l1.shape().clone()))
    }

    fn bwd(
        &self,
        x: &Tensor,
        gamma: &Tensor,
        _beta: &Tensor,
        _res: &Tensor,
        grad_res: &Tensor,
    ) -> candle_core::Result<(Option<Tensor>, Option<Tensor>, Option<Tensor>)> {
        // The full-size input gradient is only computed when something upstream needs it (the
        // input is a variable or the result of one); dγ and dβ always are.
        let need_dx = x.track_op();
        let (dx, dg, db) = match x.dtype() {
            candle_core::DType::F32 => self.bwd_typed::<f32>(x, gamma, grad_res, need_dx)?,
            candle_core::DType::F64 => self.bwd_typed::<f64>(x, gamma, grad_res, need_dx)?,
            dt => candle_core::bail!("fused-bn: unsupported dtype {dt:?}"),
        };
        Ok((dx, Some(dg), Some(db)))
    }
}

/// Training-mode BatchNorm on the CPU: `x` [N, C, H, W] (t-major, N divisible by `groups`),
/// `gamma`/`beta` with G·C elements in (g, c) order. Returns y and the batch statistics.
pub fn batch_norm_train(
    x: &Tensor,
    gamma: &Tensor,
    beta: &Tensor,
    groups: usize,
    eps: f64,
) -> candle_core::Result<(Tensor, BnBatchStats)> {
    let stats = Arc::new(Mutex::new(BnBatchStats::default()));
    let op = FusedBatchNorm::new(groups, eps, stats.clone());
    let y = x
        .contiguous()?
        .apply_op3(&gamma.contiguous()?, &beta.contiguous()?, op)?;
    let out = stats.lock().expect("fused-bn state poisoned").clone();
    Ok((y, out))
}

/// Evaluation-mode BatchNorm on the CPU with fixed statistics, in one parallel pass and without
/// a graph node: y = ((x − μ)·σ̂⁻¹)·γ + β with σ̂⁻¹ = 1/√(σ² + ε), each step in the element type
/// exactly as the op-by-op path computes it (the same values, bit for bit). Why: the op-by-op
/// path is four full-size broadcast ops on the calling thread, the serial tail of every
/// evaluation batch. `mean`, `var`, `gamma` and `beta` hold G·C values in (g, c) order.
pub fn batch_norm_eval(
    x: &Tensor,
    (mean, var): (&Tensor, &Tensor),
    (gamma, beta): (&Tensor, &Tensor),
    groups: usize,
    eps: f64,
) -> candle_core::Result<Tensor> {
    fn typed<F: Real>(
        x: &Tensor,
        [mean, var, gamma, beta]: [&Tensor; 4],
        groups: usize,
        eps: f64,
    ) -> candle_core::Result<Tensor> {
        let (n, c, h, w) = x.dims4()?;
        let values = |t: &Tensor| -> candle_core::Result<Vec<F>> {
            let v = t
                .detach()
                .flatten_all()?
                .to_dtype(x.dtype())?
                .to_vec1::<F>()?;
            if v.len() != groups * c {
                candle_core::bail!("fused-bn eval: {} values, expected {groups}·{c}", v.len());
            }
            Ok(v)
        };
        let (mean, var, gamma, beta) = (values(mean)?, values(var)?, values(gamma)?, values(beta)?);
        if groups == 0 || n % groups != 0 {
            candle_core::bail!("fused-bn eval: {n} samples do not split into {groups} groups");
        }
        let eps = F::from_f64(eps);
        let inv_std: Vec<F> = var
            .iter()
            .map(|&v| F::ONE / (v * F::ONE + eps).sqrt_())
            .collect();
        let (sample_len, per_group) = (c * h * w, n / groups);
        let y = with_tensor_slice::<F, _>(x, |xs| {
            let mut y = Uninit::new(xs.len());
            if sample_len > 0 {
                y.pieces()
                    .par_chunks_mut(sample_len)
                    .zip(xs.par_chunks(sample_len))
                    .enumerate()
                    .for_each(|(s, (ys, xs))| {
                        let g = s / per_group;
                        for (ch, (yc, xc)) in ys.chunks_mut(h * w).zip(xs.chunks(h * w)).enumerate()
                        {
                            let k = g * c + ch;
                            let (m, is, ga, be) = (mean[k], inv_std[k], gamma[k], beta[k]);
                            Uninit::write(yc, xc.iter().map(|&v| (v - m) * is * ga + be));
                        }
                    });
            }
            // SAFETY: y and x have the same length, so the zipped per-sample chunks cover y
            // (none when it is empty), and every task wrote its chunk, channel by channel.
            Ok(unsafe { y.assume_init() })
        })?;
        Tensor::from_vec(y, x.shape(), x.device())
    }
    let args = [mean, var, gamma, beta];
    match x.dtype() {
        candle_core::DType::F32 => typed::<f32>(x, args, groups, eps),
        candle_core::DType::F64 => typed::<f64>(x, args, groups, eps),
        dt => candle_core::bail!("fused-bn eval: unsupported dtype {dt:?}"),
    }
}
