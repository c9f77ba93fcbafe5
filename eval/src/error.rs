//! Error type of the `asgl_eval` library.

/// Everything that can go wrong while evaluating a model.
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
    /// Reading the prepared dataset failed.
    #[error("dataset: {0}")]
    Frames(#[from] dvs_frames::FrameError),
    /// Writing a report file failed.
    #[error("{path}: {reason}")]
    Output {
        path: std::path::PathBuf,
        reason: String,
    },
    /// The candle comparison failed.
    #[error("candle comparison: {0}")]
    Compare(String),
}
