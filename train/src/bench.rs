//! The benchmark harness behind `asgl-train bench`: time one VGGSNN2 training step (forward, TET
//! loss, backward, SGD + Adam) on random input, batch 16, T = 10, 2×48×48 by default, and report
//! the per-phase time (fused CPU LIF op by default, or the unfused per-step loop). On the CPU the
//! convolutions always run as the im2col custom op of [`crate::layers::conv`] and BatchNorm as the
//! fused op of [`crate::layers::fused_bn`].
use std::time::Instant;

use candle_core::{DType, Device, Tensor};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

use crate::config::TrainConfig;
use crate::error::Result;
use crate::fit::loss::TetLoss;
use crate::fit::optim::optimisers;
use crate::network::model::Network;
use crate::neuron::spike::ForwardCtx;

/// Timing of the measured steps (milliseconds).
#[derive(Clone, Debug, serde::Serialize)]
pub struct BenchResult {
    pub forward_ms: Vec<f64>,
    pub backward_ms: Vec<f64>,
    pub optimiser_ms: Vec<f64>,
    pub step_ms: Vec<f64>,
}

impl BenchResult {
    /// Median of one phase's timings (0 for none).
    pub fn median(values: &[f64]) -> f64 {
        let mut v = values.to_vec();
        v.sort_by(f64::total_cmp);
        v.get(v.len() / 2).copied().unwrap_or(0.0)
    }
}

/// Runs `warmup + steps` training steps (on the CPU compute pool,
/// [`crate::device::in_compute_pool`]) and returns the timings of the last `steps`.
pub fn bench_step(
    cfg: &TrainConfig,
    batch: usize,
    hw: usize,
    warmup: usize,
    steps: usize,
    fused_lif: bool,
    device: &Device,
) -> Result<BenchResult> {
    crate::device::in_compute_pool(|| {
        let spec = cfg.net_spec([2, hw, hw], 10)?;
        let t = spec.time_steps;
        let mut net = Network::new(spec, cfg.dtype.candle(), device, cfg.seed)?;
        net.set_fused_lif(fused_lif);
        let (mut sgd, mut adam) = optimisers(&net, cfg, warmup + steps);
        let mut rng = ChaCha8Rng::seed_from_u64(cfg.seed);
        let x = Tensor::rand(0f32, 1f32, (t, batch, 2, hw, hw), device)?.to_dtype(net.dtype())?;
        let labels = Tensor::new(
            (0..batch as u32)
                .map(|i| i % 10)
                .collect::<Vec<_>>()
                .as_slice(),
            device,
        )?;
        let loss_fn = TetLoss {
            lambda: cfg.lamb,
            means: cfg.means,
        };
        let mut r = BenchResult {
            forward_ms: vec![],
            backward_ms: vec![],
            optimiser_ms: vec![],
            step_ms: vec![],
        };
        for i in 0..warmup + steps {
            let t0 = Instant::now();
            let mut ctx = ForwardCtx::train(&mut rng);
            let logits = net.forward(&x, &mut ctx)?;
            let loss = loss_fn.forward(&logits, &labels)?;
            let _ = loss.to_dtype(DType::F64)?.to_scalar::<f64>()?;
            let t1 = Instant::now();
            let grads = loss.backward()?;
            let t2 = Instant::now();
            sgd.step(&grads)?;
            adam.step(&grads)?;
            // Force pending device work to finish before reading the clock.
            device.synchronize()?;
            let t3 = Instant::now();
            if i >= warmup {
                let ms = |a: Instant, b: Instant| (b - a).as_secs_f64() * 1e3;
                r.forward_ms.push(ms(t0, t1));
                r.backward_ms.push(ms(t1, t2));
                r.optimiser_ms.push(ms(t2, t3));
                r.step_ms.push(ms(t0, t3));
            }
        }
        Ok(r)
    })
}
