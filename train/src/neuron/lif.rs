//! Multi-step LIF layer (reference `LIFCell` + `LIFLayer`), iterating over the T time steps.
//!
//! Per forward pass u starts at 0; for t = 0..T−1:
//! u ← sigmoid(d)·u + I_t, s_t = S(u − θ), u ← u·(1 − s_t) (hard reset, NOT detached), o_t = θ·s_t.
//! The leak λ = sigmoid(d) is stored as the logit d; θ and d are optionally learnable.
//!
//! On the CPU the recurrence runs as one fused custom op ([`crate::neuron::fused_lif`]: one pass over T,
//! hand-written BPTT, only u_t and the mask kept for backward); on other devices (CUDA) it runs
//! as the unfused per-step tensor loop below, which autograd differentiates.
use std::sync::{Arc, Mutex};

use candle_core::{Tensor, Var};

use crate::error::Result;
use crate::layers::norm::BatchNorm;
use crate::network::spec::NeuronSpec;
use crate::network::vars::{ParamGroup, ParamInit, Vars};
use crate::neuron::fused_lif::{FusedLif, FusedLifConfig};
use crate::neuron::spike::{ForwardCtx, NoisySpike};
use crate::neuron::surrogate::Surrogate;

/// A scalar neuron parameter: learnable (shape [1]) or a fixed constant.
#[derive(Clone, Debug)]
pub enum NeuronParam {
    Learnable(Var),
    Fixed(f64),
}

/// Multi-step LIF layer over inputs laid out [T·B, ...] (t-major).
#[derive(Clone, Debug)]
pub struct Lif {
    /// Position of this layer in the network's layer list (used for recording).
    index: usize,
    time_steps: usize,
    spike: NoisySpike,
    /// Decay logit d (leak λ = sigmoid(d)).
    decay: NeuronParam,
    /// Threshold θ.
    thresh: NeuronParam,
    /// Use the fused CPU op when the input is on the CPU (default); `false` forces the loop.
    fused: bool,
}

/// The effective leak of a fixed decay λ: sigmoid(logit(λ)) evaluated in float32, exactly as the
/// reference (which stores d as a float32 tensor), e.g. 0.30000001192 for λ = 0.3.
pub fn fixed_leak(decay: f64) -> f64 {
    let d = (decay / (1.0 - decay)).ln() as f32;
    (1.0f32 / (1.0f32 + (-d).exp())) as f64
}

/// The stored decay logit d = ln(λ / (1 − λ)) (float32).
pub fn decay_logit(decay: f64) -> f32 {
    (decay / (1.0 - decay)).ln() as f32
}

impl Lif {
    /// Name of the learnable decay logit d under the layer's prefix.
    pub const DECAY: &'static str = "decay";
    /// Name of the learnable threshold θ.
    pub const THRESH: &'static str = "thresh";

    /// The LIF layer at position `index` of the network, with the neuron block `neuron`: its
    /// surrogate H_α ([`Surrogate::load`]) and, where learnable, d and θ (shape [1], Adam group)
    /// are created through `vars`.
    pub fn load(vars: &Vars, index: usize, time_steps: usize, neuron: &NeuronSpec) -> Result<Self> {
        let surrogate = Surrogate::load(vars, neuron.surrogate, neuron.width, neuron.train_width)?;
        let scalar = |name: &str, init: f64| {
            vars.var(name, &[1], ParamInit::Const(init), ParamGroup::Neuron)
                .map(NeuronParam::Learnable)
        };
        let decay = if neuron.train_decay {
            scalar(Self::DECAY, f64::from(decay_logit(neuron.decay)))?
        } else {
            NeuronParam::Fixed(fixed_leak(neuron.decay))
        };
        let thresh = if neuron.train_thresh {
            scalar(Self::THRESH, neuron.thresh)?
        } else {
            NeuronParam::Fixed(neuron.thresh)
        };
        let spike = NoisySpike::new(surrogate, neuron.noise_p, neuron.spike);
        Ok(Lif::new(index, time_steps, spike, decay, thresh))
    }

    /// A LIF layer. `decay` holds the logit d when learnable, the leak λ when fixed.
    pub fn new(
        index: usize,
        time_steps: usize,
        spike: NoisySpike,
        decay: NeuronParam,
        thresh: NeuronParam,
    ) -> Self {
        Lif {
            index,
            time_steps,
            spike,
            decay,
            thresh,
            fused: true,
        }
    }

    /// Chooses the fused CPU op (`true`, default) or the unfused per-step loop (`false`).
    pub fn set_fused(&mut self, fused: bool) {
        self.fused = fused;
    }

    /// The spike function (and through it the surrogate).
    pub fn spike(&self) -> &NoisySpike {
        &self.spike
    }

    /// Mutable spike function (p schedule).
    pub fn spike_mut(&mut self) -> &mut NoisySpike {
        &mut self.spike
    }

    /// Runs the T-step recurrence on `input` ([T·B, ...]) and returns θ·s with the same shape.
    pub fn forward(&self, input: &Tensor, ctx: &mut ForwardCtx) -> Result<Tensor> {
        self.clamp_thresh()?;
        let out = if self.fused && input.device().is_cpu() {
            self.forward_fused(input, ctx)?
        } else {
            self.forward_unfused(input, ctx)?
        };
        if let Some(rec) = ctx.record.as_mut() {
            rec.push((self.index, out.clone()));
        }
        Ok(out)
    }

    /// The reference clamps a learnable θ to ≥ 0 in place before each forward (outside
    /// autograd).
    fn clamp_thresh(&self) -> Result<()> {
        if let NeuronParam::Learnable(th) = &self.thresh {
            let clamped = th.as_tensor().detach().clamp(0.0, f64::INFINITY)?;
            th.set(&clamped)?;
        }
        Ok(())
    }

    /// A scalar parameter as a [1] tensor of the input's dtype (a graph node when learnable).
    fn param_tensor(p: &NeuronParam, like: &Tensor) -> Result<Tensor> {
        Ok(match p {
            NeuronParam::Learnable(v) => v.as_tensor().reshape(1)?,
            NeuronParam::Fixed(x) => Tensor::new(&[*x], like.device())?.to_dtype(like.dtype())?,
        })
    }

    /// The fused CPU path: one custom op over all T steps.
    fn forward_fused(&self, input: &Tensor, ctx: &mut ForwardCtx) -> Result<Tensor> {
        let input = input.contiguous()?;
        let (op, params, spike_sum) = self.fused_op(&input, ctx)?;
        let out = input.apply_op2(&params, op)?;
        self.count_spikes(&spike_sum, input.elem_count(), ctx);
        Ok(out)
    }

    /// Training-mode `bn` followed by this layer as one CPU graph node
    /// ([`crate::neuron::bn_lif`]), when both run their fused CPU ops on `x`'s device in
    /// training mode; `None` (nothing run, no noise drawn) otherwise. The same values and
    /// gradients as `bn.forward` then [`Lif::forward`].
    pub fn forward_after_bn(
        &self,
        bn: &BatchNorm,
        x: &Tensor,
        ctx: &mut ForwardCtx,
    ) -> Result<Option<Tensor>> {
        if !(ctx.train && self.fused && bn.is_fused() && x.device().is_cpu()) {
            return Ok(None);
        }
        self.clamp_thresh()?;
        let (op, params, spike_sum) = self.fused_op(x, ctx)?;
        let out = bn.train_with_lif(x, op, &params)?;
        self.count_spikes(&spike_sum, x.elem_count(), ctx);
        if let Some(rec) = ctx.record.as_mut() {
            rec.push((self.index, out.clone()));
        }
        Ok(Some(out))
    }

    /// Records Σ s of one fused forward over `n` elements.
    fn count_spikes(&self, spike_sum: &Mutex<f64>, n: usize, ctx: &mut ForwardCtx) {
        let sum = *spike_sum.lock().expect("fused-lif state poisoned");
        ctx.spike_sums.push((self.index, sum, n));
    }

    /// The fused op for `input` (its noise mask drawn from `ctx`), its parameter tensor
    /// [α, d, θ] and the cell that receives Σ s.
    fn fused_op(
        &self,
        input: &Tensor,
        ctx: &mut ForwardCtx,
    ) -> Result<(FusedLif, Tensor, Arc<Mutex<f64>>)> {
        let n = input.elem_count();
        let mix = self.spike.fused_mix(n, ctx)?;
        let params = Tensor::cat(
            &[
                self.spike
                    .surrogate()
                    .param()
                    .tensor()
                    .reshape(1)?
                    .to_dtype(input.dtype())?,
                Self::param_tensor(&self.decay, input)?,
                Self::param_tensor(&self.thresh, input)?,
            ],
            0,
        )?;
        let cfg = FusedLifConfig {
            time_steps: self.time_steps,
            surrogate: self.spike.surrogate().kind(),
            decay_is_logit: matches!(self.decay, NeuronParam::Learnable(_)),
            mix,
        };
        let spike_sum = Arc::new(Mutex::new(0f64));
        Ok((FusedLif::new(cfg, spike_sum.clone()), params, spike_sum))
    }

    /// The unfused path: the per-step tensor loop, differentiated by autograd (any device).
    fn forward_unfused(&self, input: &Tensor, ctx: &mut ForwardCtx) -> Result<Tensor> {
        let shape = input.shape().clone();
        let t_steps = self.time_steps;
        let per_step = input.elem_count() / t_steps;
        let flat = input.reshape((t_steps, per_step))?;
        let mut u: Option<Tensor> = None;
        let mut spikes = Vec::with_capacity(t_steps);
        for t in 0..t_steps {
            let i_t = flat.get(t)?;
            let u_t = match (u.take(), &self.decay) {
                (None, _) => i_t,
                (Some(u), NeuronParam::Fixed(leak)) => u.affine(*leak, 0.0)?.add(&i_t)?,
                (Some(u), NeuronParam::Learnable(d)) => {
                    let leak = candle_nn::ops::sigmoid(d.as_tensor())?;
                    u.broadcast_mul(&leak)?.add(&i_t)?
                }
            };
            let x = match &self.thresh {
                NeuronParam::Fixed(th) => u_t.affine(1.0, -th)?,
                NeuronParam::Learnable(th) => u_t.broadcast_sub(th.as_tensor())?,
            };
            let s = self.spike.forward(&x, ctx)?;
            u = Some(u_t.sub(&u_t.mul(&s)?)?);
            spikes.push(s);
        }
        let s = Tensor::stack(&spikes, 0)?;
        let sum = s.detach().sum_all()?.to_dtype(candle_core::DType::F64)?;
        ctx.spike_sums
            .push((self.index, sum.to_scalar::<f64>()?, s.elem_count()));
        let out = match &self.thresh {
            NeuronParam::Fixed(th) => s.affine(*th, 0.0)?,
            NeuronParam::Learnable(th) => s.broadcast_mul(th.as_tensor())?,
        }
        .reshape(shape)?;
        Ok(out)
    }
}
