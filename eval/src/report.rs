//! The evaluation report: JSON (`report.json`), confusion CSV and PNG, per-sample predictions
//! CSV, and a readable table for stdout. Every file is written with `dvs_frames::fsutil`'s atomic
//! write (durable: fsync, rename, directory fsync).

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::error::EvalError;
use crate::metrics::{ClassAccuracy, Confusion};

/// Agreement between the ONNX model and the candle network on the same samples.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Comparison {
    pub checkpoint: PathBuf,
    pub samples: u64,
    /// Samples whose predicted class (argmax of the time-mean logits) is the same.
    pub identical_predictions: u64,
    pub agreement: f64,
    /// Largest |onnx − candle| over the time-mean logits.
    pub max_abs_diff_logits: f64,
    /// Largest |onnx − candle| over the per-step logits.
    pub max_abs_diff_per_step: f64,
    /// Top-1 accuracy of the candle network on the same samples.
    pub candle_accuracy: f64,
    /// Forward throughput of the candle network (samples/s, model time only).
    pub candle_samples_per_sec: f64,
}

/// Timing of the evaluation run.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Throughput {
    /// Samples per second of ONNX Runtime inference alone.
    pub model_samples_per_sec: f64,
    /// Samples per second end to end (loading, transform, inference, metrics).
    pub end_to_end_samples_per_sec: f64,
    pub model_seconds: f64,
    pub total_seconds: f64,
    /// Time spent waiting for the loader.
    pub loader_wait_seconds: f64,
    pub batch_size: usize,
    pub intra_threads: usize,
}

/// Everything `asgl-eval` measured; serialised as `report.json`.
#[derive(Debug, Clone, Serialize)]
pub struct EvalReport {
    pub model: PathBuf,
    pub dataset: PathBuf,
    pub split: String,
    pub samples: u64,
    pub correct: u64,
    pub accuracy: f64,
    pub per_class: Vec<ClassAccuracy>,
    pub classes: Vec<String>,
    /// Rows = true class, columns = predicted class.
    pub confusion: Vec<Vec<u64>>,
    pub throughput: Throughput,
    /// Differences between dataset and model that --allow-mismatch let through.
    pub mismatches_allowed: Vec<String>,
    pub model_config_hash: String,
    pub dataset_params_hash: String,
    pub value_transform: serde_json::Value,
    pub compare: Option<Comparison>,
    pub skipped_records: usize,
}

/// Writes `bytes` to `path` with the workspace's one atomic write.
pub fn write_file(path: &Path, bytes: &[u8]) -> Result<(), EvalError> {
    dvs_frames::fsutil::atomic_write(path, bytes).map_err(|source| EvalError::Write {
        path: path.to_path_buf(),
        source,
    })
}

/// Files written by [`write_outputs`].
#[derive(Debug, Clone)]
pub struct OutputFiles {
    pub report: PathBuf,
    pub confusion_csv: PathBuf,
    pub confusion_png: PathBuf,
    pub predictions_csv: PathBuf,
}

/// Writes report.json, confusion.csv, confusion.png and predictions.csv into `dir`.
pub fn write_outputs(
    dir: &Path,
    report: &EvalReport,
    confusion: &Confusion,
    predictions: &[(String, u32, usize)],
) -> Result<OutputFiles, EvalError> {
    std::fs::create_dir_all(dir).map_err(|source| EvalError::Write {
        path: dir.to_path_buf(),
        source,
    })?;
    let files = OutputFiles {
        report: dir.join("report.json"),
        confusion_csv: dir.join("confusion.csv"),
        confusion_png: dir.join("confusion.png"),
        predictions_csv: dir.join("predictions.csv"),
    };
    let json = serde_json::to_vec_pretty(report).map_err(|e| EvalError::Output {
        path: files.report.clone(),
        reason: e.to_string(),
    })?;
    write_file(&files.report, &json)?;
    write_file(
        &files.confusion_csv,
        confusion.to_csv(&report.classes).as_bytes(),
    )?;
    let mut csv = String::from("key,label,predicted\n");
    for (key, label, predicted) in predictions {
        let key = if key.contains([',', '"', '\n']) {
            format!("\"{}\"", key.replace('"', "\"\""))
        } else {
            key.clone()
        };
        let _ = writeln!(csv, "{key},{label},{predicted}");
    }
    write_file(&files.predictions_csv, csv.as_bytes())?;
    let title = format!(
        "{} [{}]: top-1 {:.2}%",
        report.model.display(),
        report.split,
        100.0 * report.accuracy
    );
    let png = crate::plot::confusion_png(confusion, &report.classes, &title).map_err(|reason| {
        EvalError::Output {
            path: files.confusion_png.clone(),
            reason,
        }
    })?;
    write_file(&files.confusion_png, &png)?;
    Ok(files)
}

/// A human-readable summary table.
pub fn render_table(report: &EvalReport) -> String {
    let mut s = String::new();
    let _ = writeln!(s, "model    {}", report.model.display());
    let _ = writeln!(
        s,
        "dataset  {} (split {})",
        report.dataset.display(),
        report.split
    );
    let _ = writeln!(
        s,
        "top-1    {:.2}%  ({}/{} samples)",
        100.0 * report.accuracy,
        report.correct,
        report.samples
    );
    let t = &report.throughput;
    let _ = writeln!(
        s,
        "speed    {:.1} samples/s model, {:.1} samples/s end to end (batch {}, {} intra-op threads)",
        t.model_samples_per_sec,
        t.end_to_end_samples_per_sec,
        t.batch_size,
        if t.intra_threads == 0 { "default".to_string() } else { t.intra_threads.to_string() }
    );
    let width = report
        .per_class
        .iter()
        .map(|c| c.class.chars().count())
        .max()
        .unwrap_or(5)
        .max(5);
    let _ = writeln!(
        s,
        "\n{:<width$}  {:>8}  {:>8}  {:>9}",
        "class", "samples", "correct", "accuracy"
    );
    for c in &report.per_class {
        let acc = c
            .accuracy
            .map_or("-".to_string(), |a| format!("{:.2}%", 100.0 * a));
        let _ = writeln!(
            s,
            "{:<width$}  {:>8}  {:>8}  {:>9}",
            c.class, c.samples, c.correct, acc
        );
    }
    if let Some(c) = &report.compare {
        let _ = writeln!(
            s,
            "\ncandle   {}: identical predictions {}/{} ({:.2}%), max |logit diff| {:.3e} (mean), {:.3e} (per step), \
             candle top-1 {:.2}%, {:.1} samples/s",
            c.checkpoint.display(),
            c.identical_predictions,
            c.samples,
            100.0 * c.agreement,
            c.max_abs_diff_logits,
            c.max_abs_diff_per_step,
            100.0 * c.candle_accuracy,
            c.candle_samples_per_sec
        );
    }
    for m in &report.mismatches_allowed {
        let _ = writeln!(s, "WARNING (allowed mismatch) {m}");
    }
    if report.skipped_records > 0 {
        let _ = writeln!(
            s,
            "WARNING {} corrupt records skipped",
            report.skipped_records
        );
    }
    s
}
