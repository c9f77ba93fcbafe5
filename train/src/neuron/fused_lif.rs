//! Fused multi-step LIF (CPU custom op): the whole T-step recurrence of one LIF layer — leak,
//! threshold, hybrid noisy spike, hard reset, θ·s output — in one pass, with a hand-written
//! BPTT backward.
//!
//! Why: the unfused loop in [`crate::neuron::lif`] builds ~15 small element-wise tensors per step and
//! layer and autograd keeps all of them until backward (the full-size VGGSNN2 step needed
//! more than 15.8 GB). The fused op keeps only what backward needs: the pre-reset membrane u_t per step
//! (same element type as the input) and the spike-mode mask (one byte per element and step).
//!
//! Semantics are exactly those of the unfused path (see `../shared/design/asgl.md`), evaluated
//! with the same floating-point operations in the same order so the forward values are
//! bit-identical for a given seed:
//! u_t = λ·v_{t−1} + I_t (u_0 = I_0), x_t = u_t − θ, s_t = h + m·(Θ(x_t) − h) with h = H_α(x_t),
//! v_t = u_t − u_t·s_t (hard reset, not detached), o_t = θ·s_t.
//! Backward (per element, t = T−1..0), with ds/dx = h_α(x) for every element (straight-through
//! for spike-mode elements) and dv_t/du_t = 1 − s_t − u_t·h_α(x_t):
//! g_s = θ·g_o − u·g_v, g_x = g_s·h_α, g_u = (1 − s)·g_v + g_x, g_I = g_u, g_v(t−1) = λ·g_u,
//! g_λ += g_u·v_{t−1}, g_θ += s·g_o − g_x, g_α += g_s·dH/dα.
//! Gradient sums (width, decay, threshold) are accumulated in a different order than autograd
//! does, so those agree to rounding, not bit for bit.
//!
//! Parameters travel as one small tensor `[α, d, θ]` (one surrogate parameter per layer: the
//! reference's "layer" granularity, the only one the network spec expresses) built with
//! `Tensor::cat`, so autograd routes the gradient back to whichever of them are variables. Only a CPU kernel exists; other devices use
//! the unfused path (see [`crate::neuron::lif::Lif::forward`]).
use std::sync::{Arc, Mutex};

use candle_core::{CpuStorage, CustomOp2, Device, Layout, Shape, Tensor};
use rayon::prelude::*;

use crate::layers::cpu_kernel::{storage_slice as slice, with_tensor_slice, Real, Uninit};
use crate::network::spec::SurrogateKind;

/// How the spike value mixes the step Θ and the surrogate H (the noise state of one forward).
#[derive(Clone, Debug)]
pub enum SpikeMix {
    /// Eval: s = Θ(x), no gradient through the spike.
    Eval,
    /// Every element in spike mode (p ≤ 0 or straight-through): s = h + (Θ − h).
    AllSpike,
    /// Every element in analog mode (p ≥ 1): s = h.
    AllAnalog,
    /// Per element and step: s = h + m·(Θ − h), m ∈ {0, 1}; layout [T, N] (t-major).
    Masked(Vec<u8>),
}

/// Static description of one fused LIF application.
#[derive(Clone, Debug)]
pub struct FusedLifConfig {
    pub time_steps: usize,
    pub surrogate: SurrogateKind,
    /// `true`: the decay slot holds the logit d (λ = sigmoid(d)); `false`: it holds λ itself.
    pub decay_is_logit: bool,
    pub mix: SpikeMix,
}

/// The custom op. Keeps the pre-reset membrane for backward and reports the spike count.
pub struct FusedLif {
    cfg: FusedLifConfig,
    /// u_t for every step and element, written by the forward, read by the backward.
    saved_u: Mutex<Option<CpuStorage>>,
    /// Σ s over the whole output (firing-rate statistics), written by the forward.
    spike_sum: Arc<Mutex<f64>>,
}

/// candle-nn's sigmoid, 1 / (e^−v + 1), evaluated the same way.
fn sigmoid<F: Real>(v: F) -> F {
    F::ONE / ((-v).exp_() + F::ONE)
}

/// The constant of the surrogate: e^a (rectangle) or k (sigmoid).
fn surrogate_scale<F: Real>(kind: SurrogateKind, param: F) -> F {
    match kind {
        SurrogateKind::Rectangle => param.exp_(),
        SurrogateKind::Sigmoid => param,
    }
}

/// H(x) with scale c (= e^a or k), exactly as [`crate::neuron::surrogate::Surrogate::forward`] computes it.
/// Written with selects, not branches: on random membranes every branch of the clamp is a coin
/// flip, and the mispredictions made this loop the most expensive part of a small net's step.
#[inline(always)]
fn surrogate_value<F: Real>(kind: SurrogateKind, x: F, scale: F) -> F {
    match kind {
        SurrogateKind::Rectangle => {
            // clamp(ramp, 0, 1) as the branches (0, 1) / >= 1 / else 0 define it (NaN -> 0).
            let ramp = x * scale + F::HALF;
            let h = if ramp >= F::ONE { F::ONE } else { ramp };
            if ramp > F::ZERO {
                h
            } else {
                F::ZERO
            }
        }
        SurrogateKind::Sigmoid => sigmoid(x * scale),
    }
}

/// (dH/dx, dH/dparam / scale-free part): rectangle → (e^a, x) on the open ramp, the caller
/// multiplies the accumulated x-sum by e^a; sigmoid → (k·σ(1−σ), x·σ(1−σ)).
#[inline(always)]
fn surrogate_grads<F: Real>(kind: SurrogateKind, x: F, scale: F, h: F) -> (F, F) {
    match kind {
        SurrogateKind::Rectangle => {
            let ramp = x * scale + F::HALF;
            let on = (ramp > F::ZERO) & (ramp < F::ONE);
            (
                if on { scale } else { F::ZERO },
                if on { x } else { F::ZERO },
            )
        }
        SurrogateKind::Sigmoid => {
            let ds = h * (F::ONE - h);
            (scale * ds, x * ds)
        }
    }
}

/// The surrogate as a compile-time choice. The kernels are instantiated once per surrogate:
/// with the choice a runtime value inside the loop, LLVM if-converted the `match` and evaluated
/// the sigmoid's `exp` for every element of a rectangle run too.
const fn surrogate_of<const SIG: bool>() -> SurrogateKind {
    if SIG {
        SurrogateKind::Sigmoid
    } else {
        SurrogateKind::Rectangle
    }
}

/// Θ(x) as a value.
#[inline(always)]
fn step<F: Real>(x: F) -> F {
    if x >= F::ZERO {
        F::ONE
    } else {
        F::ZERO
    }
}

/// Lanes of the f64 partial sums: independent accumulators, so a sum neither serialises on one
/// add's latency nor stops the loop from being vectorised.
const LANES: usize = 8;

/// Σ xs in f64 over [`LANES`] accumulators.
#[inline(always)]
fn sum_f64<F: Real>(xs: &[F]) -> f64 {
    let mut acc = [0f64; LANES];
    let chunks = xs.chunks_exact(LANES);
    let rest = chunks.remainder();
    for c in chunks {
        for (a, &x) in acc.iter_mut().zip(c) {
            *a += x.to_f64_();
        }
    }
    for (a, &x) in acc.iter_mut().zip(rest) {
        *a += x.to_f64_();
    }
    acc.iter().sum()
}

/// The spike mix of one row (one step, one chunk of elements): s = Θ(x) (eval), or
/// s = h + m·(Θ(x) − h) with m from the row's mask bytes or a constant (1: all spike mode,
/// 0: all analog; both give exactly the values of the per-element formula).
#[derive(Clone, Copy)]
enum RowMix<'a, F> {
    Step,
    Const(F),
    Bytes(&'a [u8]),
}

impl<'a, F: Real> RowMix<'a, F> {
    fn of(mix: &'a SpikeMix, start: usize, len: usize) -> Self {
        match mix {
            SpikeMix::Eval => RowMix::Step,
            SpikeMix::AllSpike => RowMix::Const(F::ONE),
            SpikeMix::AllAnalog => RowMix::Const(F::ZERO),
            SpikeMix::Masked(mask) => RowMix::Bytes(&mask[start..start + len]),
        }
    }
}

/// s for every element of a row (x = u − θ), in the same floating-point operations as the
/// unfused loop, into `out`.
#[inline(always)]
fn spike_row<F: Real, const SIG: bool>(mix: RowMix<'_, F>, u: &[F], p: &Params<F>, out: &mut [F]) {
    let kind = surrogate_of::<SIG>();
    let out = &mut out[..u.len()];
    match mix {
        RowMix::Step => {
            for (o, &u) in out.iter_mut().zip(u) {
                *o = step(u - p.thresh);
            }
        }
        RowMix::Const(m) => {
            if m == F::ZERO {
                // All analog: s = h, as the unfused loop computes it.
                for (o, &u) in out.iter_mut().zip(u) {
                    *o = surrogate_value(kind, u - p.thresh, p.scale);
                }
                return;
            }
            for (o, &u) in out.iter_mut().zip(u) {
                let x = u - p.thresh;
                let h = surrogate_value(kind, x, p.scale);
                *o = h + (step(x) - h) * m;
            }
        }
        RowMix::Bytes(mask) => {
            let mask = &mask[..u.len()];
            for ((o, &u), &b) in out.iter_mut().zip(u).zip(mask) {
                let x = u - p.thresh;
                let h = surrogate_value(kind, x, p.scale);
                let m = if b != 0 { F::ONE } else { F::ZERO };
                *o = h + (step(x) - h) * m;
            }
        }
    }
}

/// One backward step over one row of elements (see the module doc for the formulas): writes
/// g_I into `g_row` and the per-element width and threshold terms; `g_next` holds g_u of step
/// t + 1 on entry and of step t on return. All rows have `u_row`'s length. Without `TRAIN`
/// (eval-mode spikes) the surrogate passes no gradient.
///
/// Why a function of its own, never inlined, with the rows as separate slice arguments and the
/// parameters copied into locals: written inline in the task's loop (rows taken from a `Vec`
/// of pieces), LLVM could not prove that the seven rows do not overlap, and left the loop scalar
/// with a branch per element; as arguments the slices carry `noalias` and the loop vectorises.
/// The small net's backward pass went from 167 ms to 133 ms per step.
#[allow(clippy::too_many_arguments)]
#[inline(never)]
fn backward_row<F: Real, const SIG: bool, const TRAIN: bool>(
    p: &Params<F>,
    u_row: &[F],
    s_row: &[F],
    go_row: &[F],
    g_row: &mut [std::mem::MaybeUninit<F>],
    g_next: &mut [F],
    t_width: &mut [F],
    t_thresh: &mut [F],
) {
    let kind = surrogate_of::<SIG>();
    let (leak, thresh, scale) = (p.leak, p.thresh, p.scale);
    let len = u_row.len();
    let (s_row, go_row, g_row) = (&s_row[..len], &go_row[..len], &mut g_row[..len]);
    let (g_next, t_width, t_thresh) = (
        &mut g_next[..len],
        &mut t_width[..len],
        &mut t_thresh[..len],
    );
    for j in 0..len {
        let u = u_row[j];
        let x = u - thresh;
        let s = s_row[j];
        let g_v = leak * g_next[j];
        let g_s = go_row[j] * thresh - g_v * u;
        let (hx, ha) = if TRAIN {
            let h = surrogate_value(kind, x, scale);
            surrogate_grads(kind, x, scale, h)
        } else {
            (F::ZERO, F::ZERO)
        };
        let g_x = g_s * hx;
        let g_u = g_v * (F::ONE - s) + g_x;
        g_row[j] = std::mem::MaybeUninit::new(g_u);
        g_next[j] = g_u;
        t_width[j] = g_s * ha;
        t_thresh[j] = go_row[j] * s - g_x;
    }
}

/// Chunk of elements (within one step) handled by one task.
const CHUNK: usize = 4096;

/// Splits a [T, N] t-major buffer into per-chunk lists of T row pieces (disjoint, so chunks can
/// be processed in parallel without unsafe code).
fn chunk_rows<F>(buf: &mut [F], n: usize) -> Vec<Vec<&mut [F]>> {
    let chunks = n.div_ceil(CHUNK);
    let mut per_chunk: Vec<Vec<&mut [F]>> = (0..chunks).map(|_| Vec::new()).collect();
    for row in buf.chunks_mut(n) {
        for (k, piece) in row.chunks_mut(CHUNK).enumerate() {
            per_chunk[k].push(piece);
        }
    }
    per_chunk
}

/// Everything one kernel invocation needs to know about the parameters.
struct Params<F> {
    /// e^a or k.
    scale: F,
    leak: F,
    thresh: F,
}

impl FusedLifConfig {
    fn params<F: Real>(&self, raw: &[F]) -> candle_core::Result<Params<F>> {
        let &[width, decay, thresh] = raw else {
            candle_core::bail!(
                "fused-lif: parameter pack has {} values, expected width, decay and threshold",
                raw.len()
            );
        };
        let leak = if self.decay_is_logit {
            sigmoid(decay)
        } else {
            decay
        };
        Ok(Params {
            scale: surrogate_scale(self.surrogate, width),
            leak,
            thresh,
        })
    }

    /// Forward over all steps: returns (θ·s [T·N], u [T·N], Σ s).
    fn forward<F: Real>(
        &self,
        input: &[F],
        raw: &[F],
    ) -> candle_core::Result<(Vec<F>, Vec<F>, f64)> {
        match self.surrogate {
            SurrogateKind::Rectangle => self.forward_with::<F, false>(input, raw),
            SurrogateKind::Sigmoid => self.forward_with::<F, true>(input, raw),
        }
    }

    fn forward_with<F: Real, const SIG: bool>(
        &self,
        input: &[F],
        raw: &[F],
    ) -> candle_core::Result<(Vec<F>, Vec<F>, f64)> {
        let t_steps = self.time_steps;
        let n = input.len() / t_steps;
        if input.len() != t_steps * n {
            candle_core::bail!(
                "fused-lif: {} elements do not split into {t_steps} steps",
                input.len()
            );
        }
        let p = self.params(raw)?;
        if n == 0 {
            return Ok((Vec::new(), Vec::new(), 0.0));
        }
        let mut out = Uninit::new(input.len());
        let mut saved = Uninit::new(input.len());
        let out_chunks = chunk_rows(out.pieces(), n);
        let u_chunks = chunk_rows(saved.pieces(), n);
        let sums: Vec<f64> = out_chunks
            .into_par_iter()
            .zip(u_chunks.into_par_iter())
            .enumerate()
            .map(|(k, (mut out_rows, mut u_rows))| {
                let j0 = k * CHUNK;
                let len = out_rows[0].len();
                let mut v = vec![F::ZERO; len];
                let mut s = vec![F::ZERO; len];
                let mut sum = 0f64;
                for t in 0..t_steps {
                    let inp = &input[t * n + j0..t * n + j0 + len];
                    // u_t = λ·v_{t−1} + I_t, u_0 = I_0.
                    let u_row = if t == 0 {
                        Uninit::write(&mut u_rows[t][..len], inp.iter().copied())
                    } else {
                        let u = inp.iter().zip(&v).map(|(&i, &v)| v * p.leak + i);
                        Uninit::write(&mut u_rows[t][..len], u)
                    };
                    spike_row::<F, SIG>(RowMix::of(&self.mix, t * n + j0, len), u_row, &p, &mut s);
                    for ((v, &u), &s) in v.iter_mut().zip(&*u_row).zip(&s) {
                        *v = u - u * s;
                    }
                    Uninit::write(&mut out_rows[t][..len], s.iter().map(|&s| s * p.thresh));
                    sum += sum_f64(&s);
                }
                sum
            })
            .collect();
        // SAFETY: input.len() is T·n (checked by the caller), so the row pieces cover both
        // buffers, and every task wrote all of its pieces (u and out rows of every step).
        let (out, saved) = unsafe { (out.assume_init(), saved.assume_init()) };
        Ok((out, saved, sums.iter().sum()))
    }

    /// Backward over all steps: returns (dL/dI [T·N], dL/d[α, d, θ]).
    fn backward<F: Real>(
        &self,
        saved: &[F],
        grad_out: &[F],
        raw: &[F],
    ) -> candle_core::Result<(Vec<F>, Vec<F>)> {
        match self.surrogate {
            SurrogateKind::Rectangle => self.backward_with::<F, false>(saved, grad_out, raw),
            SurrogateKind::Sigmoid => self.backward_with::<F, true>(saved, grad_out, raw),
        }
    }

    fn backward_with<F: Real, const SIG: bool>(
        &self,
        saved: &[F],
        grad_out: &[F],
        raw: &[F],
    ) -> candle_core::Result<(Vec<F>, Vec<F>)> {
        let t_steps = self.time_steps;
        let n = saved.len() / t_steps;
        if saved.len() != t_steps * n || grad_out.len() != saved.len() {
            candle_core::bail!(
                "fused-lif: {} saved values, {} gradients for {t_steps} steps",
                saved.len(),
                grad_out.len()
            );
        }
        let p = self.params(raw)?;
        if n == 0 {
            return Ok((Vec::new(), vec![F::ZERO; 3]));
        }
        let train = !matches!(self.mix, SpikeMix::Eval);
        let mut grad_in = Uninit::new(saved.len());
        let g_chunks = chunk_rows(grad_in.pieces(), n);
        // Per chunk: (Σ g·dH/dα, Σ g_λ, Σ g_θ), accumulated in f64.
        let partial: Vec<[f64; 3]> = g_chunks
            .into_par_iter()
            .enumerate()
            .map(|(k, mut g_rows)| {
                let j0 = k * CHUNK;
                let len = g_rows[0].len();
                let row = |t: usize| &saved[t * n + j0..t * n + j0 + len];
                let mut totals = [0f64; 3];
                // g_u of step t+1 per element (0 after the last step: λ·0 = 0 exactly).
                let mut g_u_next = vec![F::ZERO; len];
                // s of step t and of step t−1 (each computed once from the saved u).
                let mut s_cur = vec![F::ZERO; len];
                let mut s_prev = vec![F::ZERO; len];
                let [mut term_width, mut term_leak, mut term_thresh] =
                    [(); 3].map(|_| vec![F::ZERO; len]);
                spike_row::<F, SIG>(
                    RowMix::of(&self.mix, (t_steps - 1) * n + j0, len),
                    row(t_steps - 1),
                    &p,
                    &mut s_cur,
                );
                for t in (0..t_steps).rev() {
                    let u_row = row(t);
                    let go_row = &grad_out[t * n + j0..t * n + j0 + len];
                    let g_row = &mut g_rows[t][..len];
                    let u_prev = (t > 0).then(|| {
                        spike_row::<F, SIG>(
                            RowMix::of(&self.mix, (t - 1) * n + j0, len),
                            row(t - 1),
                            &p,
                            &mut s_prev,
                        );
                        row(t - 1)
                    });
                    // No step before the first: v_{−1} = 0 contributes nothing to g_λ.
                    // Element-wise first (vectorisable: no sums inside), the per-element terms of
                    // the parameter gradients into row buffers, summed afterwards.
                    let (s, gn, tw, tt) =
                        (&s_cur, &mut g_u_next, &mut term_width, &mut term_thresh);
                    if train {
                        backward_row::<F, SIG, true>(&p, u_row, s, go_row, g_row, gn, tw, tt);
                    } else {
                        backward_row::<F, SIG, false>(&p, u_row, s, go_row, g_row, gn, tw, tt);
                    }
                    if let Some(u_prev) = u_prev {
                        for ((term, &g_u), (&up, &sp)) in term_leak
                            .iter_mut()
                            .zip(&g_u_next)
                            .zip(u_prev.iter().zip(&s_prev))
                        {
                            *term = g_u * (up - up * sp);
                        }
                        totals[1] += sum_f64(&term_leak);
                    }
                    totals[0] += sum_f64(&term_width);
                    totals[2] += sum_f64(&term_thresh);
                    std::mem::swap(&mut s_cur, &mut s_prev);
                }
                totals
            })
            .collect();
        // SAFETY: saved.len() is T·n (n = saved.len() / T, and the forward that wrote it checked
        // the split), so the row pieces cover grad_in, and every task stored each element
        // (j < len) of its row of every step.
        let grad_in = unsafe { grad_in.assume_init() };
        let [mut g_width, mut g_leak, mut g_thresh] = [0f64; 3];
        for [w, l, th] in partial {
            g_width += w;
            g_leak += l;
            g_thresh += th;
        }
        // Rectangle: dH/da = e^a·x on the ramp; the x-sum is scaled once.
        let g_width = match self.surrogate {
            SurrogateKind::Rectangle => g_width * p.scale.to_f64_(),
            SurrogateKind::Sigmoid => g_width,
        };
        let g_decay = if self.decay_is_logit {
            let l = p.leak.to_f64_();
            g_leak * l * (1.0 - l)
        } else {
            g_leak
        };
        let g_params = [g_width, g_decay, g_thresh].map(F::from_f64).to_vec();
        Ok((grad_in, g_params))
    }
}

impl FusedLif {
    /// The op for one forward; `spike_sum` receives Σ s.
    pub fn new(cfg: FusedLifConfig, spike_sum: Arc<Mutex<f64>>) -> Self {
        FusedLif {
            cfg,
            saved_u: Mutex::new(None),
            spike_sum,
        }
    }

    fn fwd_typed<F: Real>(&self, input: &[F], raw: &[F]) -> candle_core::Result<CpuStorage> {
        Ok(F::storage(self.forward_slices(input, raw)?))
    }

    /// The forward on slices: the output θ·s over all steps; u is kept for the backward and Σ s
    /// reported.
    pub(crate) fn forward_slices<F: Real>(
        &self,
        input: &[F],
        raw: &[F],
    ) -> candle_core::Result<Vec<F>> {
        if self.cfg.time_steps == 0 || input.len() % self.cfg.time_steps != 0 {
            candle_core::bail!(
                "fused-lif: {} elements do not split into {} steps",
                input.len(),
                self.cfg.time_steps
            );
        }
        if let SpikeMix::Masked(m) = &self.cfg.mix {
            if m.len() != input.len() {
                candle_core::bail!(
                    "fused-lif: mask has {} elements, input {}",
                    m.len(),
                    input.len()
                );
            }
        }
        let (out, saved, sum) = self.cfg.forward(input, raw)?;
        *self.saved_u.lock().expect("fused-lif state poisoned") = Some(F::storage(saved));
        *self.spike_sum.lock().expect("fused-lif state poisoned") = sum;
        Ok(out)
    }

    /// The backward on slices: (dL/dI, dL/d[α, d, θ]) from dL/d(output) and the parameters.
    pub(crate) fn backward_slices<F: Real>(
        &self,
        grad_out: &[F],
        raw: &[F],
    ) -> candle_core::Result<(Vec<F>, Vec<F>)> {
        let guard = self.saved_u.lock().expect("fused-lif state poisoned");
        let saved = match guard.as_ref() {
            Some(s) => F::cpu_storage_as_slice(s)?,
            None => candle_core::bail!("fused-lif: backward before forward"),
        };
        self.cfg.backward(saved, grad_out, raw)
    }

    fn bwd_typed<F: Real>(
        &self,
        input: &Tensor,
        params: &Tensor,
        grad_res: &Tensor,
    ) -> candle_core::Result<(Tensor, Tensor)> {
        let (g_in, g_p) = with_tensor_slice::<F, _>(grad_res, |go| {
            with_tensor_slice::<F, _>(params, |raw| self.backward_slices(go, raw))
        })?;
        let g_in = Tensor::from_vec(g_in, input.shape(), &Device::Cpu)?;
        let g_p = Tensor::from_vec(g_p, params.shape(), &Device::Cpu)?;
        Ok((g_in, g_p))
    }
}

impl CustomOp2 for FusedLif {
    fn name(&self) -> &'static str {
        "fused-lif"
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
    ) -> candle_core::Result<(CpuStorage, Shape)> {
        let out = match (s1, s2) {
            (CpuStorage::F32(_), CpuStorage::F32(_)) => {
                self.fwd_typed::<f32>(slice(s1, l1)?, slice(s2, l2)?)?
            }
            (CpuStorage::F64(_), CpuStorage::F64(_)) => {
                self.fwd_typed::<f64>(slice(s1, l1)?, slice(s2, l2)?)?
            }
            _ => candle_core::bail!("fused-lif: input and parameters must both be f32 or f64"),
        };
        Ok((out, l1.shape().clone()))
    }

    fn bwd(
        &self,
        input: &Tensor,
        params: &Tensor,
        _res: &Tensor,
        grad_res: &Tensor,
    ) -> candle_core::Result<(Option<Tensor>, Option<Tensor>)> {
        let (g_in, g_p) = match input.dtype() {
            candle_core::DType::F32 => self.bwd_typed::<f32>(input, params, grad_res)?,
            candle_core::DType::F64 => self.bwd_typed::<f64>(input, params, grad_res)?,
            dt => candle_core::bail!("fused-lif: unsupported dtype {dt:?}"),
        };
        Ok((Some(g_in), Some(g_p)))
    }
}
