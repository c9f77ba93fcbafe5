//! Spike functions: the ASGL hybrid noisy spike (`EfficientNoisySpikeII`) and the plain
//! straight-through surrogate-gradient spike (`EfficientNoisySpike`).
//!
//! Training forward: y = m·Θ(x) + (1−m)·H_α(x), written as `H + detach(m·(Θ − H))` so the
//! backward is h_α(x) = dH/dx for EVERY element (straight-through for spike-mode elements).
//! m ~ Bernoulli(1 − p) i.i.d. per element, redrawn at every time step in every layer from the
//! caller's seeded RNG (p = probability of ANALOG mode). Eval forward: Θ(x), no noise.
use candle_core::{DType, Tensor};
use rand::RngCore;
use rand_chacha::ChaCha8Rng;

use crate::error::Result;
use crate::network::spec::SpikeMode;
use crate::neuron::fused_lif::SpikeMix;
use crate::neuron::surrogate::{heaviside, Surrogate};

/// Per-forward-pass context: training flag and the RNG that draws noise masks.
pub struct ForwardCtx<'a> {
    /// Training mode (batch-stat BN, hybrid spikes) vs eval mode (running stats, Heaviside).
    pub train: bool,
    /// Source of every Bernoulli mask; `None` is allowed only when no mask is needed.
    pub rng: Option<&'a mut ChaCha8Rng>,
    /// When set, every LIF layer's output (θ·s, [T, B, ...]) is appended here with its layer index.
    pub record: Option<Vec<(usize, Tensor)>>,
    /// Sum of spike outputs s and element count per LIF layer index (for firing rates).
    pub spike_sums: Vec<(usize, f64, usize)>,
}

impl<'a> ForwardCtx<'a> {
    /// Eval-mode context (no RNG needed).
    pub fn eval() -> Self {
        ForwardCtx {
            train: false,
            rng: None,
            record: None,
            spike_sums: Vec::new(),
        }
    }

    /// Training-mode context drawing masks from `rng`.
    pub fn train(rng: &'a mut ChaCha8Rng) -> Self {
        ForwardCtx {
            train: true,
            rng: Some(rng),
            record: None,
            spike_sums: Vec::new(),
        }
    }
}

/// The spike function s = S(x), x = u − θ.
#[derive(Clone, Debug)]
pub struct NoisySpike {
    surrogate: Surrogate,
    /// Probability of analog mode p (ignored in straight-through mode).
    p: f64,
    mode: SpikeMode,
}

/// Draws a spike-mode mask m (1 = spike mode with probability 1 − p) with `n` elements.
///
/// One 32-bit draw per element: m = 1 iff r ≥ p·2³², so P(m = 1) = 1 − p up to 2⁻³².
pub fn draw_mask(rng: &mut ChaCha8Rng, n: usize, p: f64) -> Vec<f32> {
    let cut = (p.clamp(0.0, 1.0) * 4_294_967_296.0) as u64;
    (0..n)
        .map(|_| {
            if (rng.next_u32() as u64) >= cut {
                1.0
            } else {
                0.0
            }
        })
        .collect()
}

/// Draws the spike-mode masks of `n` elements as bytes (1 = spike mode), consuming the RNG
/// exactly like [`draw_mask`] (so fused and unfused LIF see the same masks for a seed).
///
/// ChaCha is a counter-mode stream: word i of the stream does not depend on the words before
/// it, so the draw is split into blocks filled in parallel, each by a copy of the generator set
/// to its block's word position; the bytes are those of the sequential loop, and `rng` ends
/// where that loop would leave it. (Drawn on one thread, the masks were a tenth of a small
/// net's step, with the other core idle.)
pub fn draw_mask_bits(rng: &mut ChaCha8Rng, n: usize, p: f64) -> Vec<u8> {
    use rayon::prelude::*;
    /// Elements per parallel block.
    const BLOCK: usize = 1 << 16;
    let cut = (p.clamp(0.0, 1.0) * 4_294_967_296.0) as u64;
    let start = rng.get_word_pos();
    let mut out = vec![0u8; n];
    out.par_chunks_mut(BLOCK)
        .enumerate()
        .for_each(|(b, block)| {
            let mut r = rng.clone();
            r.set_word_pos(start + (b * BLOCK) as u128);
            for m in block {
                *m = u8::from((r.next_u32() as u64) >= cut);
            }
        });
    rng.set_word_pos(start + n as u128);
    out
}

impl NoisySpike {
    /// How a fused LIF forward over `n` elements (all steps) mixes Θ and H in the mode given by
    /// `ctx`; draws the masks from `ctx`'s RNG in the same order as per-step [`Self::forward`] calls.
    pub fn fused_mix(&self, n: usize, ctx: &mut ForwardCtx) -> Result<SpikeMix> {
        if !ctx.train {
            return Ok(SpikeMix::Eval);
        }
        let p = match self.mode {
            SpikeMode::StraightThrough => 0.0,
            SpikeMode::Noisy => self.p,
        };
        Ok(if p <= 0.0 {
            SpikeMix::AllSpike
        } else if p >= 1.0 {
            SpikeMix::AllAnalog
        } else {
            let rng = ctx.rng.as_deref_mut().ok_or_else(|| {
                crate::error::TrainError::Config("training forward with 0<p<1 needs an RNG".into())
            })?;
            SpikeMix::Masked(draw_mask_bits(rng, n, p))
        })
    }

    /// A spike function over `surrogate` with analog probability `p`.
    pub fn new(surrogate: Surrogate, p: f64, mode: SpikeMode) -> Self {
        NoisySpike { surrogate, p, mode }
    }

    /// The surrogate H_α.
    pub fn surrogate(&self) -> &Surrogate {
        &self.surrogate
    }

    /// Current analog probability p.
    pub fn p(&self) -> f64 {
        self.p
    }

    /// Sets p (used by the p schedule).
    pub fn set_p(&mut self, p: f64) {
        self.p = p;
    }

    /// s = S(x) in the mode given by `ctx`.
    pub fn forward(&self, x: &Tensor, ctx: &mut ForwardCtx) -> Result<Tensor> {
        let step = heaviside(x)?;
        if !ctx.train {
            return Ok(step);
        }
        let h = self.surrogate.forward(x)?;
        let p = match self.mode {
            SpikeMode::StraightThrough => 0.0,
            SpikeMode::Noisy => self.p,
        };
        let mixed = if p <= 0.0 {
            // m = 1 everywhere: forward Θ, backward h.
            step.sub(&h)?
        } else if p >= 1.0 {
            // m = 0 everywhere: pure analog H.
            return Ok(h);
        } else {
            let rng = ctx.rng.as_deref_mut().ok_or_else(|| {
                crate::error::TrainError::Config("training forward with 0<p<1 needs an RNG".into())
            })?;
            let m = draw_mask(rng, x.elem_count(), p);
            let m = Tensor::from_vec(m, x.shape(), x.device())?;
            let m = if x.dtype() == DType::F32 {
                m
            } else {
                m.to_dtype(x.dtype())?
            };
            step.sub(&h)?.mul(&m)?
        };
        Ok(h.add(&mixed.detach())?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    /// The parallel block draw gives the sequential loop's bytes and leaves the generator where
    /// the loop leaves it, from unaligned stream positions and across several blocks.
    #[test]
    fn block_draw_equals_the_sequential_stream() {
        for (skip, n) in [(0usize, 10usize), (3, 65_536), (5, 200_003), (1, 1)] {
            let mut a = ChaCha8Rng::seed_from_u64(7);
            let mut b = a.clone();
            for _ in 0..skip {
                a.next_u32();
                b.next_u32();
            }
            let cut = (0.3f64 * 4_294_967_296.0) as u64;
            let want: Vec<u8> = (0..n)
                .map(|_| u8::from((a.next_u32() as u64) >= cut))
                .collect();
            assert_eq!(draw_mask_bits(&mut b, n, 0.3), want, "skip {skip}, n {n}");
            assert_eq!(
                a.next_u32(),
                b.next_u32(),
                "stream position after skip {skip}, n {n}"
            );
        }
    }
}
