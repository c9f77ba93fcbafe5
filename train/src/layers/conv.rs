//! Per-step 2-D convolution (stride 1) whose input gradient is computed as a forward conv2d.
//!
//! candle's CPU backward of `conv2d` always computes the input gradient with `conv_transpose2d`
//! (a direct loop on the CPU, even when the input needs no gradient) and the kernel gradient with a
//! conv2d whose "kernel" is the whole output gradient; together they dominated the VGGSNN2 step.
//! On the CPU the convolution is one custom op with arguments (x, W): the forward is our own
//! im2col (below) and a GEMM per chunk of samples, the backward returns the exact gradients:
//! - dL/dx: correlation of dL/dy with the flipped, in/out-transposed kernel, padding k−1−p
//!   (the same im2col + GEMM forward);
//! - dL/dW = Σ_chunks dL/dy[O, n_c·H·W] · col(x)[C·k·k, n_c·H·W]ᵀ.
//!
//! Why our own im2col: candle's CPU im2col gathers element by element with index arithmetic and
//! bounds checks; it was about a quarter of the whole VGGSNN2 step. Ours copies whole shifted
//! rows into a column matrix laid out [C·k·k, n_c·Ho·Wo] for a chunk of n_c samples, so one GEMM
//! W[O, C·k·k] · col gives the output (and one more the kernel gradient) for the whole chunk.
//!
//! Each chunk is one rayon task: its im2col goes into a buffer the task reuses and that stays in
//! cache for the GEMM right after it, which runs single-threaded on the task's thread
//! ([`crate::layers::gemm`]). One-sample chunks write the product straight into the output.
//! Before, one im2col for up to 16 MB of columns was zero-filled and filled, then multiplied by a
//! GEMM that parallelised on its own; for the small nets (16 output channels) the GEMM is too
//! thin to split well and the zero-fill and packing ran on one thread while the other waited.
//! The kernel gradient sums fixed groups of chunks in parallel and adds the groups in order, so
//! it is the same bytes on any number of threads.
//!
//! On other devices (CUDA) the plain conv2d is used. The golden parity tests cover this path.
use candle_core::{CpuStorage, CustomOp2, DType, Device, Layout, Module, Shape, Tensor, WithDType};
use rayon::prelude::*;

use crate::error::Result;
use crate::layers::cpu_kernel::{storage_slice, with_tensor_slice as with_slice, Uninit};
use crate::layers::gemm::{gemm_into, gemm_into_t, gemm_write, MatRef};
use crate::network::vars::{ParamGroup, ParamInit, Vars};

/// Fills one row (c, i, j) of the column matrix: for every sample n and output position
/// (ho, wo), x[n, c, ho + i − p, wo + j − p] or 0 outside the input. Every element of the row
/// is written (the buffer is reused between chunks).
#[allow(clippy::too_many_arguments)]
fn im2col_row<F: WithDType>(
    row: &mut [F],
    x: &[F],
    (n, c, h, w): (usize, usize, usize, usize),
    (ci, i, j): (usize, usize, usize),
    p: usize,
    (ho, wo): (usize, usize),
) {
    if (ho, wo) == (h, w) {
        return im2col_row_same(row, x, (n, c, h, w), (ci, i, j), p);
    }
    // Output columns whose source column wo + j − p lies inside [0, w).
    let wo_lo = p.saturating_sub(j).min(wo);
    let wo_hi = (w + p).saturating_sub(j).min(wo).max(wo_lo);
    for s in 0..n {
        let plane = &x[(s * c + ci) * h * w..(s * c + ci + 1) * h * w];
        for oh in 0..ho {
            let dst = &mut row[(s * ho + oh) * wo..(s * ho + oh + 1) * wo];
            let src_h = oh + i;
            if src_h < p || src_h - p >= h {
                dst.fill(F::zero());
                continue;
            }
            dst[..wo_lo].fill(F::zero());
            if wo_hi > wo_lo {
                let src = &plane[(src_h - p) * w..(src_h - p + 1) * w];
                dst[wo_lo..wo_hi].copy_from_slice(&src[wo_lo + j - p..wo_hi + j - p]);
            }
            dst[wo_hi..].fill(F::zero());
        }
    }
}

/// [`im2col_row`] for a "same" convolution (output H × W, k = 2p + 1): the source of output
/// (oh, ow) is (oh + di, ow + dj) with (di, dj) = (i − p, j − p), i.e. the whole plane shifted
/// by one offset di·W + dj. So each sample's row is one contiguous copy, then zeros where the
/// shift leaves the plane (whole rows at the top or bottom) or wraps into the neighbouring row
/// (|dj| columns at one side). Why: copied row by row, a 32-wide map made one small `memcpy`
/// call per output row, and im2col was an eighth of a small net's step.
fn im2col_row_same<F: WithDType>(
    row: &mut [F],
    x: &[F],
    (n, c, h, w): (usize, usize, usize, usize),
    (ci, i, j): (usize, usize, usize),
    p: usize,
) {
    let hw = h * w;
    let (di, dj) = (i as isize - p as isize, j as isize - p as isize);
    // Output rows whose source row lies inside [0, h).
    let oh_lo = (-di).clamp(0, h as isize) as usize;
    let oh_hi = (h as isize - di).clamp(oh_lo as isize, h as isize) as usize;
    // Columns whose source column lies outside [0, w): [0, −dj) or [w − dj, w).
    let (bad_lo, bad_hi) = if dj < 0 {
        (0, (-dj as usize).min(w))
    } else {
        (w - (dj as usize).min(w), w)
    };
    let off = di * w as isize + dj;
    // Flat output positions whose flat source q + off lies inside the plane, within the rows
    // that have a source row (an empty range when none has).
    let q_lo = ((oh_lo * w) as isize).max(-off).min((oh_hi * w) as isize) as usize;
    let q_hi = ((oh_hi * w) as isize)
        .min(hw as isize - off)
        .max(q_lo as isize) as usize;
    for s in 0..n {
        let plane = &x[(s * c + ci) * hw..(s * c + ci + 1) * hw];
        let dst = &mut row[s * hw..(s + 1) * hw];
        dst[..q_lo].fill(F::zero());
        if q_hi > q_lo {
            // q_lo + off ≥ 0 and q_hi + off ≤ hw by the bounds above.
            let src_lo = (q_lo as isize + off) as usize;
            dst[q_lo..q_hi].copy_from_slice(&plane[src_lo..src_lo + (q_hi - q_lo)]);
        }
        dst[q_hi..].fill(F::zero());
        if bad_hi > bad_lo {
            for oh in oh_lo..oh_hi {
                dst[oh * w + bad_lo..oh * w + bad_hi].fill(F::zero());
            }
        }
    }
}

/// im2col of a contiguous [N, C, H, W] slice for a k×k kernel, stride 1, padding p, into `col`
/// (resized to [C·k·k, N·Ho·Wo]: row (c, i, j), column (n, ho, wo)), on the calling thread.
fn im2col_into<F: WithDType>(
    col: &mut Vec<F>,
    x: &[F],
    dims: (usize, usize, usize, usize),
    k: usize,
    p: usize,
) {
    let (n, c, h, w) = dims;
    let (ho, wo) = (h + 2 * p + 1 - k, w + 2 * p + 1 - k);
    let row_len = n * ho * wo;
    col.resize(c * k * k * row_len, F::zero());
    if row_len == 0 {
        return;
    }
    for (r, row) in col.chunks_mut(row_len).enumerate() {
        let (ci, i, j) = (r / (k * k), (r / k) % k, r % k);
        im2col_row(row, x, dims, (ci, i, j), p, (ho, wo));
    }
}

/// Upper bound on one task's column matrix: small enough to stay in the core's cache between
/// the im2col and its GEMM.
const COL_CHUNK_BYTES: usize = 4 << 20;

/// Fewest GEMM columns per task: below this the product is too thin for the GEMM kernels, so
/// small maps (8×8, 6×6) take several samples per task.
const MIN_COLS: usize = 256;

/// Samples per task for a column matrix of `rows` rows and `hw` columns per sample: enough for
/// [`MIN_COLS`] columns, within `chunk_bytes` (at least one sample).
fn samples_per_chunk<F>(rows: usize, hw: usize, chunk_bytes: usize) -> usize {
    let by_cols = MIN_COLS.div_ceil(hw.max(1));
    let by_bytes = chunk_bytes / (rows * hw * std::mem::size_of::<F>()).max(1);
    by_cols.min(by_bytes).max(1)
}

/// Output size of a stride-1 k×k convolution with padding p, or an error if it does not fit.
fn out_size(h: usize, w: usize, k: usize, p: usize) -> candle_core::Result<(usize, usize)> {
    if k == 0 || p >= k || h + 2 * p < k || w + 2 * p < k {
        candle_core::bail!("conv: kernel {k} with padding {p} does not fit {h}x{w}");
    }
    Ok((h + 2 * p + 1 - k, w + 2 * p + 1 - k))
}

/// Stride-1 convolution on slices: x [N, C, H, W], kernel [O, C·k·k] (row-major) →
/// [N, O, Ho, Wo]. Chunks of samples run as parallel tasks, each an im2col into a reused
/// buffer and one single-threaded GEMM kernel · col[C·k·k, n_c·Ho·Wo]; a one-sample chunk writes
/// its product straight into the output, a larger one copies its rows ([O, n_c, Ho·Wo]) there.
fn conv_slices<F: WithDType>(
    x: &[F],
    dims: (usize, usize, usize, usize),
    kernel: &[F],
    o: usize,
    k: usize,
    p: usize,
    chunk_bytes: usize,
) -> candle_core::Result<Vec<F>> {
    let (n, c, h, w) = dims;
    let (ho, wo) = out_size(h, w, k, p)?;
    let ck2 = c * k * k;
    if kernel.len() != o * ck2 || x.len() != n * c * h * w {
        candle_core::bail!(
            "conv: kernel of {} values for {o} outputs does not match input {dims:?}, k = {k}",
            kernel.len()
        );
    }
    let hw = ho * wo;
    let mut out = Uninit::new(n * o * hw);
    if n * o * hw == 0 {
        // SAFETY: no elements.
        return Ok(unsafe { out.assume_init() });
    }
    let per = samples_per_chunk::<F>(ck2, hw, chunk_bytes);
    let sample = c * h * w;
    let w_mat = MatRef::row_major(kernel, o, ck2)?;
    out.pieces()
        .par_chunks_mut(per * o * hw)
        .zip(x.par_chunks(per * sample))
        .try_for_each_init(
            || (Vec::new(), Vec::new()),
            |(col, prod), (out_c, x_c)| {
                let nc = x_c.len() / sample;
                im2col_into(col, x_c, (nc, c, h, w), k, p);
                let col_mat = MatRef::row_major(col, ck2, nc * hw)?;
                if nc == 1 {
                    return gemm_write(out_c, w_mat, col_mat).map(|_| ());
                }
                // [O, n_c·Ho·Wo] → rows of [n_c, O, Ho·Wo]
                prod.resize(o * nc * hw, F::zero());
                gemm_into(prod, w_mat, col_mat, false)?;
                for s in 0..nc {
                    for oi in 0..o {
                        let src = (oi * nc + s) * hw;
                        let dst = (s * o + oi) * hw;
                        Uninit::write(
                            &mut out_c[dst..dst + hw],
                            prod[src..src + hw].iter().copied(),
                        );
                    }
                }
                Ok(())
            },
        )?;
    // SAFETY: the chunks cover the whole output (x holds n whole samples, checked above), and
    // every task wrote its chunk: the product of a one-sample chunk overwrites all of it, the
    // rows (s < n_c, oi < O) of a larger one cover its n_c · O · Ho·Wo elements. A task that
    // failed returned the error, so the output is then dropped without being read.
    Ok(unsafe { out.assume_init() })
}

/// Groups of chunks whose kernel gradients are summed separately (in parallel) and then added
/// in group order: a fixed split, so the sum is the same bytes on any number of threads.
const WEIGHT_GRAD_GROUPS: usize = 8;

/// dL/dW [O, C·k·k] = Σ over chunks of dL/dy[O, n_c·Ho·Wo] · col(x)[C·k·k, n_c·Ho·Wo]ᵀ, with x
/// [N, C, H, W] and dL/dy [N, O, Ho, Wo] as slices.
#[allow(clippy::too_many_arguments)]
fn weight_grad_slices<F: WithDType>(
    x: &[F],
    dims: (usize, usize, usize, usize),
    grad: &[F],
    o: usize,
    k: usize,
    p: usize,
    chunk_bytes: usize,
) -> candle_core::Result<Vec<F>> {
    let (n, c, h, w) = dims;
    let (ho, wo) = out_size(h, w, k, p)?;
    let hw = ho * wo;
    let ck2 = c * k * k;
    if grad.len() != n * o * hw || x.len() != n * c * h * w {
        candle_core::bail!(
            "conv: gradient of {} values does not match {dims:?}",
            grad.len()
        );
    }
    if hw == 0 || n == 0 {
        return Ok(vec![F::zero(); o * ck2]);
    }
    let per = samples_per_chunk::<F>(ck2, hw, chunk_bytes);
    let chunks = n.div_ceil(per);
    let groups = chunks.min(WEIGHT_GRAD_GROUPS);
    let sample = c * h * w;
    let partials: Vec<Vec<F>> = (0..groups)
        .into_par_iter()
        .map(|g| -> candle_core::Result<Vec<F>> {
            let mut acc = vec![F::zero(); o * ck2];
            let (mut col, mut g_block) = (Vec::new(), Vec::new());
            // Chunks g·chunks/groups .. (g+1)·chunks/groups, in order.
            for chunk in g * chunks / groups..(g + 1) * chunks / groups {
                let s0 = chunk * per;
                let nc = per.min(n - s0);
                im2col_into(
                    &mut col,
                    &x[s0 * sample..(s0 + nc) * sample],
                    (nc, c, h, w),
                    k,
                    p,
                );
                let block = &grad[s0 * o * hw..(s0 + nc) * o * hw];
                // dL/dy as [O, n_c·Ho·Wo]: the block itself for one sample, else re-laid out.
                let g_mat = if nc == 1 {
                    MatRef::row_major(block, o, hw)?
                } else {
                    g_block.clear();
                    for oi in 0..o {
                        for s in 0..nc {
                            let src = (s * o + oi) * hw;
                            g_block.extend_from_slice(&block[src..src + hw]);
                        }
                    }
                    MatRef::row_major(&g_block, o, nc * hw)?
                };
                let col_t = MatRef::row_major(&col, ck2, nc * hw)?.t();
                // Accumulated transposed, [C·k·k, O] (see gemm_into_t: packs only dL/dy).
                gemm_into_t(&mut acc, g_mat, col_t, true)?;
            }
            Ok(acc)
        })
        .collect::<candle_core::Result<_>>()?;
    let mut parts = partials.into_iter();
    let mut total_t = parts.next().unwrap_or_else(|| vec![F::zero(); o * ck2]);
    for part in parts {
        for (t, v) in total_t.iter_mut().zip(part) {
            *t += v;
        }
    }
    // [C·k·k, O] → [O, C·k·k]
    let mut total = Vec::with_capacity(o * ck2);
    for oi in 0..o {
        total.extend((0..ck2).map(|r| total_t[r * o + oi]));
    }
    Ok(total)
}

/// Stride-1 convolution of detached CPU tensors (tests and the input gradient):
/// x [N, C, H, W], kernel [O, C, k, k] → [N, O, Ho, Wo].
fn conv2d_im2col(x: &Tensor, kernel: &Tensor, p: usize) -> candle_core::Result<Tensor> {
    fn typed<F: WithDType>(x: &Tensor, kernel: &Tensor, p: usize) -> candle_core::Result<Tensor> {
        let dims = x.dims4()?;
        let (o, _, k, _) = kernel.dims4()?;
        let (ho, wo) = out_size(dims.2, dims.3, k, p)?;
        let out = with_slice::<F, _>(x, |xs| {
            with_slice::<F, _>(kernel, |ks| {
                conv_slices(xs, dims, ks, o, k, p, COL_CHUNK_BYTES)
            })
        })?;
        Tensor::from_vec(out, (dims.0, o, ho, wo), &Device::Cpu)
    }
    match x.dtype() {
        DType::F32 => typed::<f32>(x, kernel, p),
        DType::F64 => typed::<f64>(x, kernel, p),
        dt => candle_core::bail!("conv: unsupported dtype {dt:?}"),
    }
}

/// Conv2d layer (weight [O, C, k, k], optional bias [O]), stride 1, dilation 1.
#[derive(Clone, Debug)]
pub struct Conv {
    weight: Tensor,
    bias: Option<Tensor>,
    padding: usize,
}

/// The CPU convolution as one custom op with arguments (x, W): the forward is the chunked
/// im2col + GEMM above (its output buffer is the op's result, no extra copy), the backward
/// returns dL/dx (a convolution of dL/dy with the flipped, transposed kernel) and dL/dW.
struct ConvOp {
    padding: usize,
}

impl ConvOp {
    /// dL/dx: correlation of dL/dy with the flipped, in/out-transposed kernel, padding k−1−p.
    fn input_grad(&self, weight: &Tensor, grad: &Tensor) -> candle_core::Result<Tensor> {
        let (_, _, kh, _) = weight.dims4()?;
        let idx: Vec<u32> = (0..kh as u32).rev().collect();
        let idx = Tensor::new(idx.as_slice(), weight.device())?;
        let kernel_t = weight
            .detach()
            .transpose(0, 1)?
            .contiguous()?
            .index_select(&idx, 2)?
            .index_select(&idx, 3)?
            .contiguous()?;
        conv2d_im2col(grad, &kernel_t, kh - 1 - self.padding)
    }

    /// dL/dW reshaped to [O, C, k, k].
    fn weight_grad(
        &self,
        input: &Tensor,
        weight: &Tensor,
        grad: &Tensor,
    ) -> candle_core::Result<Tensor> {
        fn typed<F: WithDType>(
            input: &Tensor,
            o: usize,
            k: usize,
            p: usize,
            grad: &Tensor,
        ) -> candle_core::Result<Tensor> {
            let dims = input.dims4()?;
            let dw = with_slice::<F, _>(input, |xs| {
                with_slice::<F, _>(grad, |gs| {
                    weight_grad_slices(xs, dims, gs, o, k, p, COL_CHUNK_BYTES)
                })
            })?;
            Tensor::from_vec(dw, (o, dims.1 * k * k), &Device::Cpu)
        }
        let (o, c, kh, kw) = weight.dims4()?;
        let dw = match input.dtype() {
            DType::F32 => typed::<f32>(input, o, kh, self.padding, grad)?,
            DType::F64 => typed::<f64>(input, o, kh, self.padding, grad)?,
            dt => candle_core::bail!("conv: unsupported dtype {dt:?}"),
        };
        dw.reshape((o, c, kh, kw))
    }

    fn fwd_typed<F: WithDType>(
        &self,
        x: &[F],
        xl: &Layout,
        w: &[F],
        wl: &Layout,
    ) -> candle_core::Result<(Vec<F>, Shape)> {
        let dims = xl.shape().dims4()?;
        let (o, c, k, k2) = wl.shape().dims4()?;
        if k != k2 || c != dims.1 {
            candle_core::bail!("conv: kernel {:?} does not fit input {dims:?}", wl.shape());
        }
        let (ho, wo) = out_size(dims.2, dims.3, k, self.padding)?;
        let out = conv_slices(x, dims, w, o, k, self.padding, COL_CHUNK_BYTES)?;
        Ok((out, Shape::from((dims.0, o, ho, wo))))
    }
}

impl CustomOp2 for ConvOp {
    fn name(&self) -> &'static str {
        "conv2d-im2col"
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
    ) -> candle_core::Result<(CpuStorage, Shape)> {
        match (s1, s2) {
            (CpuStorage::F32(_), CpuStorage::F32(_)) => {
                let (out, shape) =
                    self.fwd_typed::<f32>(storage_slice(s1, l1)?, l1, storage_slice(s2, l2)?, l2)?;
                Ok((CpuStorage::F32(out), shape))
            }
            (CpuStorage::F64(_), CpuStorage::F64(_)) => {
                let (out, shape) =
                    self.fwd_typed::<f64>(storage_slice(s1, l1)?, l1, storage_slice(s2, l2)?, l2)?;
                Ok((CpuStorage::F64(out), shape))
            }
            _ => candle_core::bail!("conv: input and kernel must both be f32 or f64"),
        }
    }

    fn bwd(
        &self,
        input: &Tensor,
        weight: &Tensor,
        _res: &Tensor,
        grad_res: &Tensor,
    ) -> candle_core::Result<(Option<Tensor>, Option<Tensor>)> {
        let grad = grad_res.contiguous()?;
        let dx = if input.track_op() {
            Some(self.input_grad(weight, &grad)?)
        } else {
            None
        };
        let dw = if weight.track_op() {
            Some(self.weight_grad(input, weight, &grad)?)
        } else {
            None
        };
        Ok((dx, dw))
    }
}

/// The bias init that goes with a weight init: 0 after a normal (the reference DVS init), the
/// same uniform after a uniform (PyTorch's default, bound 1/√fan_in for both).
pub fn bias_init(weight: ParamInit) -> ParamInit {
    match weight {
        ParamInit::Uniform { .. } => weight,
        _ => ParamInit::Const(0.0),
    }
}

impl Conv {
    /// Name of the kernel [O, C, k, k] under the layer's prefix.
    pub const WEIGHT: &'static str = "weight";
    /// Name of the optional bias [O].
    pub const BIAS: &'static str = "bias";

    /// Creates the layer's parameters through `vars`: kernel [out, in_channels, k, k] from `init`
    /// (weight decay), bias [out] when `bias` (no decay): 0 after a normal init, from the same
    /// uniform otherwise (PyTorch's default).
    pub fn load(
        vars: &Vars,
        in_channels: usize,
        out: usize,
        kernel: usize,
        padding: usize,
        bias: bool,
        init: ParamInit,
    ) -> Result<Self> {
        let weight = vars.var(
            Self::WEIGHT,
            &[out, in_channels, kernel, kernel],
            init,
            ParamGroup::Weight,
        )?;
        let bias = bias
            .then(|| vars.var(Self::BIAS, &[out], bias_init(init), ParamGroup::NoDecay))
            .transpose()?;
        Ok(Self::new(
            weight.as_tensor().clone(),
            bias.map(|b| b.as_tensor().clone()),
            padding,
        ))
    }

    /// Wraps an existing kernel [O, C, k, k] and optional bias [O].
    pub fn new(weight: Tensor, bias: Option<Tensor>, padding: usize) -> Self {
        Conv {
            weight,
            bias,
            padding,
        }
    }

    /// The kernel [O, C, k, k].
    pub fn weight(&self) -> &Tensor {
        &self.weight
    }
}

impl Module for Conv {
    fn forward(&self, x: &Tensor) -> candle_core::Result<Tensor> {
        let (_, _, kh, kw) = self.weight.dims4()?;
        let y = if x.device().is_cpu() && kh == kw && self.padding < kh {
            x.contiguous()?.apply_op2(
                &self.weight.contiguous()?,
                ConvOp {
                    padding: self.padding,
                },
            )?
        } else {
            x.conv2d(&self.weight, self.padding, 1, 1, 1)?
        };
        match &self.bias {
            None => Ok(y),
            Some(b) => y.broadcast_add(&b.reshape((1, b.dims1()?, 1, 1))?),
        }
    }
}

#[cfg(test)]
mod tests {
    //! The im2col convolution and the gradient carrier against candle's own conv2d and its
    //! autograd, in f64, for several kernel sizes, paddings and odd shapes.
    use super::*;
    use candle_core::{Device, Var};

    fn randn(shape: &[usize], seed: u64) -> Tensor {
        // Deterministic values without an RNG dependency: a scrambled sequence in [−1, 1).
        let n: usize = shape.iter().product();
        let v: Vec<f64> = (0..n as u64)
            .map(|i| {
                let z =
                    (i + 1).wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ seed.wrapping_mul(0xBF58_476D);
                ((z >> 11) as f64 / (1u64 << 53) as f64) * 2.0 - 1.0
            })
            .collect();
        Tensor::from_vec(v, shape, &Device::Cpu).unwrap()
    }

    fn max_diff(a: &Tensor, b: &Tensor) -> f64 {
        assert_eq!(a.dims(), b.dims());
        (a - b)
            .unwrap()
            .abs()
            .unwrap()
            .flatten_all()
            .unwrap()
            .max(0)
            .unwrap()
            .to_scalar::<f64>()
            .unwrap()
    }

    #[test]
    fn im2col_conv_and_gradients_match_candle() {
        // (N, C, H, W, O, k, p)
        let cases = [
            (2, 3, 5, 7, 4, 3, 1),
            (3, 2, 4, 4, 5, 3, 0),
            (1, 4, 6, 5, 2, 5, 2),
            (2, 3, 3, 2, 3, 1, 0),
            (2, 2, 1, 1, 3, 3, 1),
            (1, 2, 2, 3, 2, 5, 2),
        ];
        for (case, &(n, c, h, w, o, k, p)) in cases.iter().enumerate() {
            let seed = case as u64;
            let xv = Var::from_tensor(&randn(&[n, c, h, w], seed)).unwrap();
            let wv = Var::from_tensor(&randn(&[o, c, k, k], seed + 100)).unwrap();
            let want = xv.as_tensor().conv2d(wv.as_tensor(), p, 1, 1, 1).unwrap();
            let r = randn(want.dims(), seed + 200);
            let conv = Conv::new(wv.as_tensor().clone(), None, p);
            let got = conv.forward(xv.as_tensor()).unwrap();
            assert!(max_diff(&got, &want) < 1e-12, "case {case}: forward");
            let g_want = (&want * &r).unwrap().sum_all().unwrap().backward().unwrap();
            let g_got = (&got * &r).unwrap().sum_all().unwrap().backward().unwrap();
            for (name, v) in [("x", &xv), ("W", &wv)] {
                let a = g_got.get(v.as_tensor()).expect("gradient");
                let b = g_want.get(v.as_tensor()).expect("gradient");
                assert!(max_diff(a, b) < 1e-12, "case {case}: d{name}");
            }
        }
    }

    /// The output and the kernel gradient are the same bytes on 1, 2 or 3 threads (the kernel
    /// gradient's groups are fixed by the shapes, not by the pool): runs stay reproducible on
    /// any machine for a seed.
    #[test]
    fn results_do_not_depend_on_the_thread_count() {
        let (n, c, h, w, o, k, p) = (37, 3, 8, 6, 4, 3, 1);
        let xs: Vec<f64> = randn(&[n, c, h, w], 21)
            .flatten_all()
            .unwrap()
            .to_vec1()
            .unwrap();
        let ks: Vec<f64> = randn(&[o, c * k * k], 22)
            .flatten_all()
            .unwrap()
            .to_vec1()
            .unwrap();
        let g: Vec<f64> = randn(&[n, o, h, w], 23)
            .flatten_all()
            .unwrap()
            .to_vec1()
            .unwrap();
        let run = |threads: usize| {
            let pool = rayon::ThreadPoolBuilder::new()
                .num_threads(threads)
                .build()
                .unwrap();
            pool.install(|| {
                (
                    conv_slices(&xs, (n, c, h, w), &ks, o, k, p, COL_CHUNK_BYTES).unwrap(),
                    weight_grad_slices(&xs, (n, c, h, w), &g, o, k, p, COL_CHUNK_BYTES).unwrap(),
                )
            })
        };
        let one = run(1);
        for threads in [2, 3] {
            assert!(one == run(threads), "{threads} threads differ from 1");
        }
    }

    #[test]
    fn im2col_equals_the_definition_same_padding_or_not() {
        // (N, C, H, W, k, p): "same" shapes (k = 2p + 1, the shifted-plane path) including maps
        // narrower or shorter than the shift, and others (the row-by-row path).
        let cases = [
            (2, 3, 5, 7, 3, 1),
            (1, 2, 1, 1, 3, 1),
            (2, 1, 2, 3, 5, 2),
            (1, 2, 3, 1, 5, 2),
            (3, 2, 4, 4, 1, 0),
            (2, 2, 4, 5, 3, 0),
            (1, 1, 3, 3, 5, 1),
        ];
        for (case, &(n, c, h, w, k, p)) in cases.iter().enumerate() {
            let x: Vec<f64> = (0..n * c * h * w).map(|v| v as f64 + 1.0).collect();
            let (ho, wo) = out_size(h, w, k, p).unwrap();
            let mut col = vec![f64::NAN; 3];
            im2col_into(&mut col, &x, (n, c, h, w), k, p);
            assert_eq!(col.len(), c * k * k * n * ho * wo, "case {case}");
            for ci in 0..c {
                for i in 0..k {
                    for j in 0..k {
                        for s in 0..n {
                            for oh in 0..ho {
                                for ow in 0..wo {
                                    let (y, xx) = (oh + i, ow + j);
                                    let want = if y < p || y - p >= h || xx < p || xx - p >= w {
                                        0.0
                                    } else {
                                        x[((s * c + ci) * h + y - p) * w + xx - p]
                                    };
                                    let r = (ci * k + i) * k + j;
                                    let got = col[r * n * ho * wo + (s * ho + oh) * wo + ow];
                                    assert_eq!(
                                        got, want,
                                        "case {case}: ({ci},{i},{j}) {s} {oh} {ow}"
                                    );
                                }
                            }
                        }
                    }
                }
            }
        }
    }

    /// Chunking (one sample per chunk) gives the same output and kernel gradient.
    #[test]
    fn chunked_im2col_matches_single_chunk() {
        let (n, c, h, w, o, k, p) = (5, 3, 6, 5, 4, 3, 1);
        let x = randn(&[n, c, h, w], 11);
        let kernel = randn(&[o, c, k, k], 12).reshape((o, c * k * k)).unwrap();
        let ks: Vec<f64> = kernel.flatten_all().unwrap().to_vec1().unwrap();
        let xs: Vec<f64> = x.flatten_all().unwrap().to_vec1().unwrap();
        let whole = conv_slices(&xs, (n, c, h, w), &ks, o, k, p, usize::MAX).unwrap();
        let chunked = conv_slices(&xs, (n, c, h, w), &ks, o, k, p, 1).unwrap();
        assert_eq!(whole, chunked);
        let g: Vec<f64> = randn(&[n, o, h, w], 13)
            .flatten_all()
            .unwrap()
            .to_vec1()
            .unwrap();
        let dw_whole = weight_grad_slices(&xs, (n, c, h, w), &g, o, k, p, usize::MAX).unwrap();
        let dw_chunked = weight_grad_slices(&xs, (n, c, h, w), &g, o, k, p, 1).unwrap();
        let worst_dw = dw_whole
            .iter()
            .zip(&dw_chunked)
            .fold(0f64, |m, (a, b)| m.max((a - b).abs()));
        assert!(
            worst_dw < 1e-12,
            "chunked kernel gradient differs by {worst_dw}"
        );
        let want = x
            .conv2d(&kernel.reshape((o, c, k, k)).unwrap(), p, 1, 1, 1)
            .unwrap()
            .flatten_all()
            .unwrap()
            .to_vec1::<f64>()
            .unwrap();
        let worst = want
            .iter()
            .zip(&chunked)
            .fold(0f64, |m, (a, b)| m.max((a - b).abs()));
        assert!(
            worst < 1e-12,
            "chunked forward differs from candle by {worst}"
        );
    }
}
