//! `asgl-eval bench`: inference throughput of an exported model with ONNX Runtime, and of the
//! same network in candle when its checkpoint is given, on seeded synthetic event-like input of
//! the model's shape. [`vggsnn2_model`] builds the benchmark network itself: the training crate's
//! VGGSNN2 spec ([`NetSpec::vggsnn2`]) with the published DVS neuron, random weights, exported.

use std::path::{Path, PathBuf};
use std::time::Instant;

use asgl_train::export::{export_to_file, read_safetensors, ModelMetadata};
use asgl_train::network::model::Network;
use asgl_train::network::spec::{BnType, NetSpec, NeuronSpec};
use rand::{Rng, SeedableRng};
use serde::Serialize;

use crate::compare::CandleReference;
use crate::error::EvalError;
use crate::runtime::{OnnxModel, SessionOptions};

/// Classes of the benchmark VGGSNN2 (CIFAR10-DVS).
pub const VGGSNN2_CLASSES: usize = 10;

/// What to time.
#[derive(Debug, Clone)]
pub struct BenchConfig {
    /// The exported model.
    pub model: PathBuf,
    /// Checkpoint folder of the same network: also time the candle forward.
    pub checkpoint: Option<PathBuf>,
    /// Samples per batch.
    pub batch_size: usize,
    /// Timed iterations (after one warm-up run).
    pub iters: usize,
    /// ONNX Runtime intra-op threads (0 = its default).
    pub threads: usize,
    /// Fraction of non-zero input values.
    pub density: f64,
}

/// The median time of one engine.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct EngineTiming {
    /// `ort` or `candle`.
    pub engine: String,
    /// Median seconds per batch.
    pub seconds_per_batch: f64,
    /// Samples per second at that median.
    pub samples_per_sec: f64,
}

/// What [`run`] measured.
#[derive(Debug, Clone, PartialEq)]
pub struct BenchReport {
    /// `[B, T, C, H, W]` of the timed input.
    pub input_shape: [usize; 5],
    /// Timed iterations per engine.
    pub iters: usize,
    /// ONNX Runtime intra-op threads (0 = its default).
    pub threads: usize,
    /// One row per engine, ort first.
    pub engines: Vec<EngineTiming>,
}

impl BenchReport {
    /// `{"<engine>": {"seconds_per_batch": s, "samples_per_sec": r}, ...}` (read by
    /// `scripts/bench-eval.sh`).
    pub fn to_json(&self) -> serde_json::Value {
        serde_json::Value::Object(
            self.engines
                .iter()
                .map(|e| {
                    (
                        e.engine.clone(),
                        serde_json::json!({
                            "seconds_per_batch": e.seconds_per_batch,
                            "samples_per_sec": e.samples_per_sec,
                        }),
                    )
                })
                .collect(),
        )
    }

    /// A readable table.
    pub fn render(&self) -> String {
        use std::fmt::Write as _;
        let [b, t, c, h, w] = self.input_shape;
        let threads = if self.threads == 0 {
            "default".to_string()
        } else {
            self.threads.to_string()
        };
        let mut s = format!(
            "batch {b} x T={t} x {c}x{h}x{w}, {} timed iterations (median), ort intra-op threads {threads}\n",
            self.iters
        );
        let _ = writeln!(s, "{:<8} {:>12} {:>14}", "engine", "s/batch", "samples/s");
        for e in &self.engines {
            let _ = writeln!(
                s,
                "{:<8} {:>12.4} {:>14.2}",
                e.engine, e.seconds_per_batch, e.samples_per_sec
            );
        }
        s
    }
}

/// Times ONNX Runtime (and candle with a checkpoint) on `config.batch_size` synthetic samples.
pub fn run(config: &BenchConfig) -> Result<BenchReport, EvalError> {
    let options = SessionOptions {
        intra_threads: config.threads,
        optimize: true,
    };
    let mut model = OnnxModel::load(&config.model, &options)?;
    let meta = model.metadata().clone();
    let shape = [
        config.batch_size,
        meta.time_steps,
        meta.channels,
        meta.height,
        meta.width,
    ];
    let frames = synthetic_frames(shape.iter().product(), config.density);
    let timing = |engine: &str, seconds: Vec<f64>| {
        let seconds_per_batch = median(seconds);
        EngineTiming {
            engine: engine.to_string(),
            seconds_per_batch,
            samples_per_sec: config.batch_size as f64 / seconds_per_batch,
        }
    };
    let mut engines = vec![timing(
        "ort",
        time_runs(config.iters, || model.run(&frames, shape).map(drop))?,
    )];
    if let Some(checkpoint) = &config.checkpoint {
        let mut reference = CandleReference::load(checkpoint, &meta)?;
        engines.push(timing(
            "candle",
            time_runs(config.iters, || reference.forward(&frames, shape).map(drop))?,
        ));
    }
    Ok(BenchReport {
        input_shape: shape,
        iters: config.iters,
        threads: config.threads,
        engines,
    })
}

/// Writes a random-weight VGGSNN2 (T = `time_steps`, input 2×`size`×`size`, 10 classes, tdBN,
/// the published DVS neuron) into `dir`: its checkpoint weights to `<dir>/ckpt/model.safetensors`
/// and its export to `<dir>/vggsnn2.onnx`. Returns `(model, checkpoint folder)`.
pub fn vggsnn2_model(
    dir: &Path,
    time_steps: usize,
    size: usize,
) -> Result<(PathBuf, PathBuf), EvalError> {
    let spec = NetSpec::vggsnn2(
        time_steps,
        [2, size, size],
        VGGSNN2_CLASSES,
        NeuronSpec::published_dvs(),
        BnType::Tdbn,
    );
    let checkpoint = dir.join("ckpt");
    std::fs::create_dir_all(&checkpoint).map_err(|source| EvalError::Write {
        path: checkpoint.clone(),
        source,
    })?;
    let weights = checkpoint.join("model.safetensors");
    let network = Network::new(
        spec.clone(),
        candle_core::DType::F32,
        &candle_core::Device::Cpu,
        1,
    )?;
    network.save(&weights)?;
    let params = read_safetensors(&weights)?;
    let meta = ModelMetadata {
        classes: (0..VGGSNN2_CLASSES).map(|k| format!("class {k}")).collect(),
        time_steps,
        channels: 2,
        height: size,
        width: size,
        integration_params: serde_json::json!({"benchmark": true}),
        params_hash: "benchmark".into(),
        value_transform: serde_json::json!("raw"),
        config_hash: "benchmark".into(),
        network: spec.clone(),
    };
    let onnx = dir.join("vggsnn2.onnx");
    export_to_file(&spec, &params, &meta, &onnx)?;
    Ok((onnx, checkpoint))
}

/// Synthetic sparse event-like frames in [0, 1) (seeded, so runs are comparable).
pub fn synthetic_frames(len: usize, density: f64) -> Vec<f32> {
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(7);
    (0..len)
        .map(|_| {
            if rng.random::<f64>() < density {
                rng.random::<f32>()
            } else {
                0.0
            }
        })
        .collect()
}

/// One warm-up run (session initialisation, allocator growth), then `iters` (at least one) timed
/// runs; returns their wall-clock seconds.
fn time_runs(
    iters: usize,
    mut run: impl FnMut() -> Result<(), EvalError>,
) -> Result<Vec<f64>, EvalError> {
    run()?;
    (0..iters.max(1))
        .map(|_| {
            let t0 = Instant::now();
            run()?;
            Ok(t0.elapsed().as_secs_f64())
        })
        .collect()
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}
