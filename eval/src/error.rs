//! Error type of the `asgl_eval` library. A variant that wraps another error exposes it as its
//! `source()` and does not repeat its text, so the binary's cause chain names each fact once.

use std::path::PathBuf;

/// Everything that can go wrong while evaluating or benchmarking a model.
#[derive(Debug, thiserror::Error)]
pub enum EvalError {
    /// The ONNX Runtime library could not be found or loaded (the message says how to provide it).
    #[error("{0}")]
    OrtMissing(String),
    /// ONNX Runtime failed to load or run the model.
    #[error("ONNX Runtime: {0}")]
    Ort(String),
    /// The model or the data is not what the command expects.
    #[error("{0}")]
    Input(String),
    /// The dataset was prepared differently from the data the model was trained on.
    #[error("dataset does not match the model:\n{0}\n(pass --allow-mismatch to evaluate anyway)")]
    Mismatch(String),
    /// Reading the prepared dataset failed (the source names the file, record and offset).
    #[error("reading the prepared dataset")]
    Frames(#[from] dvs_frames::FrameError),
    /// A report file could not be written.
    #[error("cannot write {}", path.display())]
    Write {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// A report file could not be produced (serialisation, drawing).
    #[error("{}: {reason}", path.display())]
    Output { path: PathBuf, reason: String },
    /// The candle comparison failed.
    #[error("candle comparison: {0}")]
    Compare(String),
    /// Building or exporting the benchmark network failed.
    #[error("building the benchmark network")]
    Network(#[from] asgl_train::TrainError),
    /// Exporting the benchmark network failed.
    #[error("exporting the benchmark network")]
    Export(#[from] asgl_train::export::ExportError),
}
