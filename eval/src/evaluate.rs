//! The evaluation run: check the dataset against the model metadata, stream the split through the
//! `dvs-frames` loader (no augmentation, the model's value transform), run ONNX Runtime, and
//! optionally the candle network on the very same batches; collect metrics and timings.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use asgl_train::data::{cifar_kind_of, open_cifar_split, SplitLoader};
use dvs_frames::{DatasetInfo, Loader, LoaderConfig, ValueTransform};
use indicatif::{ProgressBar, ProgressStyle};

use crate::compare::CandleReference;
use crate::compat::check_dataset;
use crate::error::EvalError;
use crate::metrics::{argmax, Confusion};
use crate::report::{Comparison, EvalReport, Throughput};
use crate::runtime::{OnnxModel, SessionOptions};

/// What to evaluate and how.
#[derive(Debug, Clone)]
pub struct EvalConfig {
    pub model: PathBuf,
    pub data: PathBuf,
    pub split: String,
    pub batch_size: usize,
    /// Evaluate despite integration-hash / class-name differences (shape differences stay fatal).
    pub allow_mismatch: bool,
    /// Also run the candle network of this checkpoint folder and compare.
    pub compare_checkpoint: Option<PathBuf>,
    pub session: SessionOptions,
    /// Loader decode threads (0 = all cores).
    pub loader_workers: usize,
    /// Stop after this many samples (None = the whole split).
    pub max_samples: Option<usize>,
    /// Show a progress bar.
    pub progress: bool,
}

/// Results of a run, ready for [`crate::report::write_outputs`].
pub struct EvalOutcome {
    pub report: EvalReport,
    pub confusion: Confusion,
    /// (key, label, predicted class) per sample, in loader order.
    pub predictions: Vec<(String, u32, usize)>,
}

/// Runs the evaluation.
pub fn evaluate(config: &EvalConfig) -> Result<EvalOutcome, EvalError> {
    let started = Instant::now();
    if config.batch_size == 0 {
        return Err(EvalError::Input("--batch-size must be at least 1".into()));
    }
    let mut model = OnnxModel::load(&config.model, &config.session)?;
    let meta = model.metadata().clone();
    // A model trained on CIFAR reads the release files in --data (no frames dataset).
    let cifar = match cifar_kind_of(&meta.integration_params) {
        Some(kind) => Some(
            open_cifar_split(
                &config.data,
                kind,
                meta.time_steps,
                &config.split,
                config.batch_size,
            )
            .map_err(|e| EvalError::Input(e.to_string()))?,
        ),
        None => None,
    };
    let info = match &cifar {
        Some((info, _)) => info.clone(),
        None => DatasetInfo::read(&config.data)?,
    };

    let mismatches = check_dataset(&info, &meta);
    let fatal: Vec<String> = mismatches
        .iter()
        .filter(|m| m.fatal)
        .map(ToString::to_string)
        .collect();
    let soft: Vec<String> = mismatches
        .iter()
        .filter(|m| !m.fatal)
        .map(ToString::to_string)
        .collect();
    if !fatal.is_empty() {
        return Err(EvalError::Input(format!(
            "dataset {} cannot be fed to model {}:\n{}",
            config.data.display(),
            config.model.display(),
            fatal.join("\n")
        )));
    }
    if !soft.is_empty() {
        if !config.allow_mismatch {
            return Err(EvalError::Mismatch(format!(
                "dataset {} was prepared differently from the data model {} was trained on:\n{}",
                config.data.display(),
                config.model.display(),
                soft.join("\n")
            )));
        }
        for m in &soft {
            tracing::warn!("evaluating despite a dataset/model mismatch: {}", m.trim());
        }
    }

    let transform: ValueTransform =
        serde_json::from_value(meta.value_transform.clone()).map_err(|e| {
            EvalError::Input(format!(
                "{}: value transform {} in the model metadata is not understood: {e}",
                config.model.display(),
                meta.value_transform
            ))
        })?;
    let loader_config = LoaderConfig {
        transform,
        workers: config.loader_workers,
        ..LoaderConfig::eval(config.batch_size)
    };
    let loader = match cifar {
        Some((_, cifar)) => SplitLoader::Cifar(cifar),
        None => SplitLoader::Frames(Loader::open(&config.data, &config.split, loader_config)?),
    };

    let mut reference = match &config.compare_checkpoint {
        Some(dir) => Some(CandleReference::load(dir, &meta)?),
        None => None,
    };

    let total = config
        .max_samples
        .map_or(loader.len(), |m| m.min(loader.len()));
    let bar = if config.progress {
        let bar = ProgressBar::new(total as u64);
        bar.set_style(
            ProgressStyle::with_template("{bar:40} {pos}/{len} samples {per_sec} eta {eta}")
                .unwrap_or_else(|_| ProgressStyle::default_bar()),
        );
        bar
    } else {
        ProgressBar::hidden()
    };

    let k = meta.classes.len();
    let mut confusion = Confusion::new(k);
    let mut predictions = Vec::with_capacity(total);
    let mut model_time = Duration::ZERO;
    let mut loader_wait = Duration::ZERO;
    let mut skipped = 0usize;
    let mut cmp = CompareStats::default();
    let mut epoch = loader.epoch(0);
    while predictions.len() < total {
        let Some(batch) = epoch.next() else { break };
        // Frames loader errors stay frames errors (they name the shard and record).
        let batch = batch.map_err(|e| match e {
            asgl_train::TrainError::Data(frames) => EvalError::Frames(frames),
            other => EvalError::Input(format!("{}: {other}", config.data.display())),
        })?;
        loader_wait += batch.wait;
        skipped += batch.skipped.len();
        let keep = batch.len().min(total - predictions.len());
        let t0 = Instant::now();
        let out = model.run(&batch.data, batch.shape)?;
        model_time += t0.elapsed();
        let mut onnx_pred = Vec::with_capacity(keep);
        for b in 0..keep {
            let predicted = argmax(&out.mean[b * k..(b + 1) * k]);
            let label = batch.labels[b];
            confusion.add(label as usize, predicted).map_err(|e| {
                EvalError::Input(format!(
                    "sample {}: {e} (the dataset has labels the model does not know)",
                    batch.keys[b]
                ))
            })?;
            predictions.push((batch.keys[b].clone(), label, predicted));
            onnx_pred.push(predicted);
        }
        if let Some(reference) = reference.as_mut() {
            let t0 = Instant::now();
            let candle = reference.forward(&batch.data, batch.shape)?;
            cmp.time += t0.elapsed();
            for (b, &onnx_predicted) in onnx_pred.iter().enumerate() {
                let candle_predicted = argmax(&candle.mean[b * k..(b + 1) * k]);
                cmp.samples += 1;
                cmp.identical += u64::from(candle_predicted == onnx_predicted);
                cmp.correct += u64::from(candle_predicted == batch.labels[b] as usize);
                for j in 0..k {
                    cmp.max_mean = cmp.max_mean.max(f64::from(
                        (out.mean[b * k + j] - candle.mean[b * k + j]).abs(),
                    ));
                }
            }
            let per_sample = out.batch;
            for t in 0..out.time_steps {
                for b in 0..keep {
                    for j in 0..k {
                        let idx = (t * per_sample + b) * k + j;
                        cmp.max_step = cmp
                            .max_step
                            .max(f64::from((out.per_step[idx] - candle.per_step[idx]).abs()));
                    }
                }
            }
        }
        bar.inc(keep as u64);
    }
    bar.finish_and_clear();

    let samples = predictions.len() as u64;
    let total_seconds = started.elapsed().as_secs_f64();
    let per_sec = |secs: f64| {
        if secs > 0.0 {
            samples as f64 / secs
        } else {
            0.0
        }
    };
    let compare = config.compare_checkpoint.as_ref().map(|dir| Comparison {
        checkpoint: dir.clone(),
        samples: cmp.samples,
        identical_predictions: cmp.identical,
        agreement: if cmp.samples == 0 {
            0.0
        } else {
            cmp.identical as f64 / cmp.samples as f64
        },
        max_abs_diff_logits: cmp.max_mean,
        max_abs_diff_per_step: cmp.max_step,
        candle_accuracy: if cmp.samples == 0 {
            0.0
        } else {
            cmp.correct as f64 / cmp.samples as f64
        },
        candle_samples_per_sec: per_sec(cmp.time.as_secs_f64()),
    });
    let report = EvalReport {
        model: config.model.clone(),
        dataset: config.data.clone(),
        split: config.split.clone(),
        samples,
        correct: confusion.correct(),
        accuracy: confusion.accuracy(),
        per_class: confusion.per_class(&meta.classes),
        classes: meta.classes.clone(),
        confusion: confusion.rows(),
        throughput: Throughput {
            model_samples_per_sec: per_sec(model_time.as_secs_f64()),
            end_to_end_samples_per_sec: per_sec(total_seconds),
            model_seconds: model_time.as_secs_f64(),
            total_seconds,
            loader_wait_seconds: loader_wait.as_secs_f64(),
            batch_size: config.batch_size,
            intra_threads: config.session.intra_threads,
        },
        mismatches_allowed: soft,
        model_config_hash: meta.config_hash.clone(),
        dataset_params_hash: info.params_hash.clone(),
        value_transform: meta.value_transform.clone(),
        compare,
        skipped_records: skipped,
    };
    Ok(EvalOutcome {
        report,
        confusion,
        predictions,
    })
}

#[derive(Default)]
struct CompareStats {
    samples: u64,
    identical: u64,
    correct: u64,
    max_mean: f64,
    max_step: f64,
    time: Duration,
}

/// Convenience for callers that only have paths.
pub fn default_out_dir(model: &Path) -> PathBuf {
    model
        .parent()
        .map_or_else(|| PathBuf::from("."), Path::to_path_buf)
        .join("eval")
}
