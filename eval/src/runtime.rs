//! ONNX Runtime access: finds the shared library (`ORT_DYLIB_PATH`, else `<repo>/.ort/`), creates
//! the ort environment once, and wraps a session of an exported spiketrain model together with its
//! metadata.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use asgl_train::export::{ModelMetadata, INPUT_FRAMES, OUTPUT_MEAN, OUTPUT_PER_STEP};
use ort::session::builder::GraphOptimizationLevel;
use ort::session::Session;
use ort::value::TensorRef;

use crate::error::EvalError;

/// The ONNX Runtime release whose library `scripts/provision-ort.sh` provisions.
pub const ORT_VERSION: &str = "1.31.1";
/// File name of that library inside `.ort/`.
pub const ORT_LIB_NAME: &str = "libonnxruntime.so.1.31.1";

/// How to provide the library, for error messages.
pub fn provisioning_help() -> String {
    format!(
        "ONNX Runtime {ORT_VERSION} is loaded at run time and was not found. Provide it with one of:\n  \
         eval \"$(scripts/provision-ort.sh)\"   # downloads the onnxruntime=={ORT_VERSION} wheel with pip, \
         unzips {ORT_LIB_NAME} into <repo>/.ort/ and exports ORT_DYLIB_PATH\n  \
         export ORT_DYLIB_PATH=/path/to/libonnxruntime.so   # any ONNX Runtime >= 1.{} library you already have",
        ort::MINOR_VERSION
    )
}

/// Where the ONNX Runtime library is: `$ORT_DYLIB_PATH` if set (it must exist), else
/// `.ort/libonnxruntime.so.<ver>` in the current directory or one of its ancestors, else in the
/// workspace this crate was built from.
pub fn locate_ort_library() -> Result<PathBuf, EvalError> {
    if let Some(path) = std::env::var_os("ORT_DYLIB_PATH").filter(|p| !p.is_empty()) {
        let path = PathBuf::from(path);
        if path.is_file() {
            return Ok(path);
        }
        return Err(EvalError::OrtMissing(format!(
            "ORT_DYLIB_PATH={} does not name a file.\n{}",
            path.display(),
            provisioning_help()
        )));
    }
    let mut candidates = Vec::new();
    if let Ok(cwd) = std::env::current_dir() {
        candidates.extend(cwd.ancestors().map(|d| d.join(".ort").join(ORT_LIB_NAME)));
    }
    candidates.push(
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("..")
            .join(".ort")
            .join(ORT_LIB_NAME),
    );
    candidates.into_iter().find(|p| p.is_file()).ok_or_else(|| {
        EvalError::OrtMissing(format!(
            "ORT_DYLIB_PATH is not set and no .ort/{ORT_LIB_NAME} was found.\n{}",
            provisioning_help()
        ))
    })
}

static ENVIRONMENT: OnceLock<Result<ort::environment::Environment, String>> = OnceLock::new();

/// The process-wide ort environment (loads the library on first use).
pub fn environment() -> Result<&'static ort::environment::Environment, EvalError> {
    let env = ENVIRONMENT.get_or_init(|| {
        let path = locate_ort_library().map_err(|e| e.to_string())?;
        tracing::debug!(library = %path.display(), "loading ONNX Runtime");
        let builder = ort::init_from(&path).map_err(|e| {
            format!(
                "cannot load ONNX Runtime from {}: {e}\n{}",
                path.display(),
                provisioning_help()
            )
        })?;
        builder
            .with_name("asgl-eval")
            .build()
            .map_err(|e| format!("cannot create the ONNX Runtime environment: {e}"))
    });
    env.as_ref().map_err(|e| EvalError::OrtMissing(e.clone()))
}

/// Session tuning.
#[derive(Debug, Clone)]
pub struct SessionOptions {
    /// Intra-op threads (0 = ONNX Runtime's default: all physical cores).
    pub intra_threads: usize,
    /// Full graph optimisation (level 3) unless disabled.
    pub optimize: bool,
}

impl Default for SessionOptions {
    fn default() -> Self {
        Self {
            intra_threads: 0,
            optimize: true,
        }
    }
}

/// Output of one batch: per-step logits `[T, B, K]` and their time mean `[B, K]`.
#[derive(Debug, Clone)]
pub struct ModelOutput {
    pub per_step: Vec<f32>,
    pub mean: Vec<f32>,
    pub time_steps: usize,
    pub batch: usize,
    pub classes: usize,
}

/// An ort session of an exported spiketrain model.
pub struct OnnxModel {
    session: Session,
    metadata: ModelMetadata,
    path: PathBuf,
}

impl OnnxModel {
    /// Loads `path` and parses its spiketrain metadata.
    pub fn load(path: &Path, options: &SessionOptions) -> Result<Self, EvalError> {
        if !path.is_file() {
            return Err(EvalError::Input(format!(
                "{}: model file not found",
                path.display()
            )));
        }
        let env = environment()?;
        let ort_err = |e: ort::Error| EvalError::Ort(format!("{}: {e}", path.display()));
        let mut builder = Session::builder(env).map_err(ort_err)?;
        builder = builder
            .with_optimization_level(if options.optimize {
                GraphOptimizationLevel::All
            } else {
                GraphOptimizationLevel::Disable
            })
            .map_err(|e| ort_err(e.into()))?;
        if options.intra_threads > 0 {
            builder = builder
                .with_intra_threads(options.intra_threads)
                .map_err(|e| ort_err(e.into()))?;
        }
        let session = builder.commit_from_file(path).map_err(ort_err)?;
        let metadata = {
            let meta = session.metadata().map_err(ort_err)?;
            ModelMetadata::from_props(|key| meta.custom(key))
                .map_err(|e| EvalError::Input(format!("{}: {e}", path.display())))?
        };
        for name in [OUTPUT_PER_STEP, OUTPUT_MEAN] {
            if !session.outputs().iter().any(|o| o.name() == name) {
                return Err(EvalError::Input(format!(
                    "{}: the model has no output `{name}`",
                    path.display()
                )));
            }
        }
        Ok(Self {
            session,
            metadata,
            path: path.to_path_buf(),
        })
    }

    pub fn metadata(&self) -> &ModelMetadata {
        &self.metadata
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Runs a batch `[B, T, C, H, W]` (contiguous) through the model.
    pub fn run(&mut self, frames: &[f32], shape: [usize; 5]) -> Result<ModelOutput, EvalError> {
        let m = &self.metadata;
        if shape[1..] != [m.time_steps, m.channels, m.height, m.width] {
            return Err(EvalError::Input(format!(
                "batch shape {shape:?} does not match the model input [B, {}, {}, {}, {}]",
                m.time_steps, m.channels, m.height, m.width
            )));
        }
        let path = self.path.display().to_string();
        let ort_err = |e: ort::Error| EvalError::Ort(format!("{path}: {e}"));
        let input = TensorRef::from_array_view((shape, frames)).map_err(ort_err)?;
        let outputs = self
            .session
            .run(ort::inputs![INPUT_FRAMES => input])
            .map_err(ort_err)?;
        let (ps_shape, per_step) = outputs[OUTPUT_PER_STEP]
            .try_extract_tensor::<f32>()
            .map_err(ort_err)?;
        let (mean_shape, mean) = outputs[OUTPUT_MEAN]
            .try_extract_tensor::<f32>()
            .map_err(ort_err)?;
        let classes = m.classes.len();
        let want_ps = [m.time_steps as i64, shape[0] as i64, classes as i64];
        let want_mean = [shape[0] as i64, classes as i64];
        if ps_shape.as_ref() != want_ps || mean_shape.as_ref() != want_mean {
            return Err(EvalError::Ort(format!(
                "{path}: output shapes {:?} / {:?}, expected {want_ps:?} / {want_mean:?}",
                ps_shape.as_ref(),
                mean_shape.as_ref()
            )));
        }
        Ok(ModelOutput {
            per_step: per_step.to_vec(),
            mean: mean.to_vec(),
            time_steps: m.time_steps,
            batch: shape[0],
            classes,
        })
    }
}
