//! `asgl_train`: Adaptive Smoothing Gradient Learning (Wang et al., ICML 2023) on candle.
//!
//! The folders read bottom-up, from one neuron to a trained, exported network:
//! - [`neuron`]: surrogates H_α, the hybrid noisy spike, the multi-step LIF layer and its fused
//!   CPU op side by side (a neuron takes any surrogate);
//! - [`layers`]: convolution, batch norm (tdbn / bntt) and its fused CPU op, and the helpers the
//!   hand-written CPU kernels share;
//! - [`network`]: the network description (spec, Contract 3), the parameter store every layer
//!   loads its tensors through (`param.<i>.<name>`), and the builder / forward pass;
//! - [`fit`]: training — the epoch loop, one step, evaluation, checkpointing calls, optimisers,
//!   schedules, the TET loss and per-epoch metrics;
//! - [`checkpoint`]: checkpoint folders (`config.json`, weights, resume state);
//! - [`export`]: checkpoint → ONNX (opset 17) for `asgl-eval`;
//! - [`config`]: every training setting, typed ([`config::TrainConfig`]);
//! - [`plot`]: PNG curves and the font discovery `asgl-eval` shares;
//! - [`sweep`]: the width sweep (one `fit` child per method, width and seed; table and figure);
//! - [`device`], [`error`], [`bench`]: device parsing, the error type, the one-step benchmark.
pub mod bench;
pub mod checkpoint;
pub mod config;
pub mod data;
pub mod device;
pub mod error;
pub mod export;
pub mod fit;
pub mod layers;
pub mod network;
pub mod neuron;
pub mod plot;
pub mod sweep;

pub use error::{Result, TrainError};
