//! Per-epoch metrics: loss, accuracies, firing rate per LIF layer, widths, loader wait; written
//! as `metrics.csv` and `metrics.json` in the run directory.
use std::collections::BTreeMap;
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::error::{Result, TrainError};

/// One epoch's numbers.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct EpochMetrics {
    pub epoch: usize,
    pub lr: f64,
    pub noise_p: f64,
    pub train_loss: f64,
    pub train_accuracy: f64,
    pub test_loss: f64,
    pub test_accuracy: f64,
    /// Eval-mode firing rate (fraction of spikes) per LIF layer, key `lif.<i>`.
    pub firing_rate: BTreeMap<String, f64>,
    /// Surrogate width w per LIF layer after the epoch, key `lif.<i>`.
    pub width: BTreeMap<String, f64>,
    /// Seconds the training loop was blocked on the loader (train, test).
    pub train_loader_wait_s: f64,
    pub test_loader_wait_s: f64,
    /// Wall-clock seconds of the epoch.
    pub epoch_s: f64,
}

/// Writes the history as CSV and JSON (atomic).
pub fn write_history(dir: &Path, history: &[EpochMetrics]) -> Result<()> {
    let json_path = dir.join("metrics.json");
    let json = serde_json::to_string_pretty(history).map_err(|e| TrainError::Parse {
        path: json_path.clone(),
        reason: e.to_string(),
    })?;
    write(&json_path, json.as_bytes())?;
    let mut csv = String::from(
        "epoch,lr,noise_p,train_loss,train_accuracy,test_loss,test_accuracy,train_loader_wait_s,test_loader_wait_s,epoch_s",
    );
    let layers: Vec<String> = history
        .first()
        .map(|m| m.firing_rate.keys().cloned().collect())
        .unwrap_or_default();
    for l in &layers {
        csv.push_str(&format!(",firing_rate.{l},width.{l}"));
    }
    csv.push('\n');
    for m in history {
        csv.push_str(&format!(
            "{},{},{},{},{},{},{},{},{},{}",
            m.epoch,
            m.lr,
            m.noise_p,
            m.train_loss,
            m.train_accuracy,
            m.test_loss,
            m.test_accuracy,
            m.train_loader_wait_s,
            m.test_loader_wait_s,
            m.epoch_s
        ));
        for l in &layers {
            let f = m.firing_rate.get(l).copied().unwrap_or(f64::NAN);
            let w = m.width.get(l).copied().unwrap_or(f64::NAN);
            csv.push_str(&format!(",{f},{w}"));
        }
        csv.push('\n');
    }
    write(&dir.join("metrics.csv"), csv.as_bytes())
}

fn write(path: &Path, bytes: &[u8]) -> Result<()> {
    dvs_frames::fsutil::atomic_write(path, bytes).map_err(|e| TrainError::io(path, e))
}
