//! `asgl_train`: Adaptive Smoothing Gradient Learning (Wang et al., ICML 2023) on candle —
//! surrogates H_α, the hybrid noisy spike, multi-step LIF, BN variants, VGG networks, TET loss,
//! optimisers and schedules, the training loop, checkpoints and the `asgl-train` CLI.
pub mod bench;
pub mod checkpoint;
pub mod config;
pub mod conv;
mod cpu_kernel;
pub mod device;
pub mod error;
pub mod export;
pub mod fused_bn;
pub mod fused_lif;
pub mod io;
pub mod lif;
pub mod loss;
pub mod metrics;
pub mod model;
pub mod norm;
pub mod optim;
pub mod plot;
pub mod schedule;
pub mod spec;
pub mod spike;
pub mod surrogate;
pub mod trainer;

pub use error::{Result, TrainError};
