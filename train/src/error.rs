//! Error type of the `asgl_train` library: every failure names what was being read or computed.
//! A variant that wraps another error exposes it as its `source` and does not repeat its text, so
//! a cause-chain printer (`dvs_frames::cli::finish`) shows each message once.
use std::path::PathBuf;

/// Errors raised by model construction, checkpoints and the training loop.
#[derive(Debug, thiserror::Error)]
pub enum TrainError {
    /// A tensor operation failed (shape mismatch, unsupported op on a device, ...); the candle
    /// error is the source (printed by the caller's cause chain, not repeated here).
    #[error("tensor operation failed")]
    Candle(#[from] candle_core::Error),
    /// A network specification is inconsistent (e.g. a `lif` layer after `flatten` with no input shape).
    #[error("invalid network spec: {0}")]
    Spec(String),
    /// A file could not be read or written (the I/O error is the source).
    #[error("{path}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// A JSON/TOML document could not be parsed.
    #[error("{path}: {reason}")]
    Parse { path: PathBuf, reason: String },
    /// A tensor expected in a checkpoint or golden file is missing or has the wrong shape.
    #[error("{path}: tensor `{name}`: {reason}")]
    Tensor {
        path: PathBuf,
        name: String,
        reason: String,
    },
    /// The loss became NaN or infinite.
    #[error("non-finite loss {loss} at epoch {epoch}, step {step}: training stopped (lower --lr or check the input data)")]
    NonFiniteLoss {
        epoch: usize,
        step: usize,
        loss: f64,
    },
    /// The data loader failed (the loader's error, which names the file, is the source).
    #[error("data loader")]
    Data(#[from] dvs_frames::FrameError),
    /// The CIFAR release files could not be read (the error names the file and offset).
    #[error(transparent)]
    Cifar(#[from] crate::data::cifar::CifarError),
    /// Settings could not be resolved or saved (the error names the file and key).
    #[error(transparent)]
    Settings(#[from] dvs_frames::settings::SettingsError),
    /// Invalid configuration value.
    #[error("invalid configuration: {0}")]
    Config(String),
}

/// Result alias of this crate.
pub type Result<T, E = TrainError> = std::result::Result<T, E>;

impl TrainError {
    /// Wraps an I/O error with the path it concerns.
    pub fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        TrainError::Io {
            path: path.into(),
            source,
        }
    }
}
