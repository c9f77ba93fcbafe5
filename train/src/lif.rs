//! Multi-step LIF layer (reference `LIFCell` + `LIFLayer`), iterating over the T time steps.
//!
//! Per forward pass u starts at 0; for t = 0..T−1:
//! u ← sigmoid(d)·u + I_t, s_t = S(u − θ), u ← u·(1 − s_t) (hard reset, NOT detached), o_t = θ·s_t.
//! The leak λ = sigmoid(d) is stored as the logit d; θ and d are optionally learnable.
use candle_core::{Tensor, Var};

use crate::error::Result;
use crate::spike::{ForwardCtx, NoisySpike};

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
        }
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
        let shape = input.shape().clone();
        let t_steps = self.time_steps;
        let per_step = input.elem_count() / t_steps;
        let flat = input.reshape((t_steps, per_step))?;
        if let NeuronParam::Learnable(th) = &self.thresh {
            // The reference clamps θ to ≥ 0 in place before each forward (outside autograd).
            let clamped = th.as_tensor().detach().clamp(0.0, f64::INFINITY)?;
            th.set(&clamped)?;
        }
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
        if let Some(rec) = ctx.record.as_mut() {
            rec.push((self.index, out.clone()));
        }
        Ok(out)
    }
}
