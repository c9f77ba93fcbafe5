//! `asgl_eval`: evaluates an exported spiketrain ONNX model with ONNX Runtime (`ort`) on the
//! held-out split of a prepared dataset: top-1 and per-class accuracy, the confusion matrix (CSV and
//! PNG), throughput, and optionally the agreement with the candle network of the checkpoint; and
//! the inference benchmark ([`bench`]) with the VGGSNN2 it builds from the training crate's spec.

pub mod bench;
pub mod compare;
pub mod compat;
pub mod error;
pub mod evaluate;
pub mod metrics;
pub mod plot;
pub mod report;
pub mod runtime;

pub use error::EvalError;
pub use evaluate::{evaluate, EvalConfig, EvalOutcome};
pub use runtime::{locate_ort_library, OnnxModel, SessionOptions};
