//! The sweep's table (`sweep.md`): per method and width the best and final test accuracy, mean ±
//! sample standard deviation over the seeds, and the learned widths per LIF layer at the end,
//! all read back from the runs' `metrics.json` and `config.toml` (so a rerun of a finished sweep
//! writes the same bytes).
use std::fmt::Write as _;
use std::path::Path;

use crate::config::TrainConfig;
use crate::error::{Result, TrainError};
use crate::fit::metrics::EpochMetrics;
use crate::sweep::{Method, RunKey, SweepSpec};

/// One finished run's numbers.
#[derive(Clone, Debug)]
pub struct RunResult {
    pub key: RunKey,
    /// Best test accuracy over the epochs, in [0, 1].
    pub best: f64,
    /// Test accuracy after the last epoch.
    pub last: f64,
    /// Width per LIF layer after the last epoch, in layer order.
    pub widths: Vec<f64>,
    /// The width learning rate the run used (`--width_lr auto` resolved).
    pub width_lr: f64,
    /// Seconds of training (sum of the epochs).
    pub train_s: f64,
}

/// The runs of one (method, width) cell.
#[derive(Clone, Debug)]
pub struct Cell {
    pub method: Method,
    pub width: f64,
    pub runs: Vec<RunResult>,
    /// Runs of this cell that have not finished (failed or still missing).
    pub missing: usize,
}

impl Cell {
    /// Mean and sample standard deviation (0 for one run) of `f` over the runs.
    pub fn stat(&self, f: impl Fn(&RunResult) -> f64) -> Option<(f64, f64)> {
        let xs: Vec<f64> = self.runs.iter().map(f).collect();
        mean_std(&xs)
    }

    /// Mean final width of each LIF layer over the runs.
    pub fn mean_widths(&self) -> Vec<f64> {
        let layers = self.runs.iter().map(|r| r.widths.len()).min().unwrap_or(0);
        (0..layers)
            .map(|l| self.runs.iter().map(|r| r.widths[l]).sum::<f64>() / self.runs.len() as f64)
            .collect()
    }
}

/// Mean and sample standard deviation (n − 1; 0 for one value).
pub fn mean_std(xs: &[f64]) -> Option<(f64, f64)> {
    if xs.is_empty() {
        return None;
    }
    let n = xs.len() as f64;
    let mean = xs.iter().sum::<f64>() / n;
    let var = if xs.len() > 1 {
        xs.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / (n - 1.0)
    } else {
        0.0
    };
    Some((mean, var.sqrt()))
}

/// Reads every finished run of the sweep, grouped in table order.
pub fn collect(spec: &SweepSpec) -> Result<Vec<Cell>> {
    let mut cells: Vec<Cell> = Vec::new();
    for key in spec.keys() {
        let dir = spec.out.join(key.dir_name());
        let result = read_run(&dir, &key, spec.base.num_epoch)?;
        let cell = match cells
            .iter_mut()
            .find(|c| c.method == key.method && c.width == key.width)
        {
            Some(c) => c,
            None => {
                cells.push(Cell {
                    method: key.method,
                    width: key.width,
                    runs: Vec::new(),
                    missing: 0,
                });
                cells.last_mut().expect("just pushed")
            }
        };
        match result {
            Some(r) => cell.runs.push(r),
            None => cell.missing += 1,
        }
    }
    Ok(cells)
}

/// A run's result, or `None` when it has not trained all `epochs`.
fn read_run(dir: &Path, key: &RunKey, epochs: usize) -> Result<Option<RunResult>> {
    let metrics_path = dir.join("metrics.json");
    let Ok(text) = std::fs::read_to_string(&metrics_path) else {
        return Ok(None);
    };
    let history: Vec<EpochMetrics> =
        serde_json::from_str(&text).map_err(|e| TrainError::Parse {
            path: metrics_path.clone(),
            reason: e.to_string(),
        })?;
    let Some(last) = history.last().filter(|_| history.len() >= epochs) else {
        return Ok(None);
    };
    let config_path = dir.join("config.toml");
    let config =
        std::fs::read_to_string(&config_path).map_err(|e| TrainError::io(&config_path, e))?;
    let cfg: TrainConfig = toml::from_str(&config).map_err(|e| TrainError::Parse {
        path: config_path.clone(),
        reason: e.to_string(),
    })?;
    // Layer keys are `lif.<index>`: order them by the index, not as text.
    let mut widths: Vec<(usize, f64)> = last
        .width
        .iter()
        .map(|(k, &w)| {
            let index = k.rsplit('.').next().and_then(|i| i.parse().ok());
            (index.unwrap_or(usize::MAX), w)
        })
        .collect();
    widths.sort_by_key(|&(i, _)| i);
    Ok(Some(RunResult {
        key: key.clone(),
        best: history
            .iter()
            .map(|m| m.test_accuracy)
            .fold(f64::NEG_INFINITY, f64::max),
        last: last.test_accuracy,
        widths: widths.into_iter().map(|(_, w)| w).collect(),
        width_lr: cfg.width_lr.resolve(1),
        train_s: history.iter().map(|m| m.epoch_s).sum(),
    }))
}

fn pct((mean, std): (f64, f64)) -> String {
    format!("{:.1} ± {:.1}", 100.0 * mean, 100.0 * std)
}

/// The markdown table.
pub fn render(spec: &SweepSpec, cells: &[Cell]) -> String {
    let b = &spec.base;
    let mut md = String::from("# Width sweep\n\n");
    let _ = writeln!(
        md,
        "Data `{}`, arch `{}`, {} epochs, batch {}, lr {}, T {}; seeds {}..={}; ASGL p {}, width_lr {}.",
        b.data.as_deref().map_or("?".into(), |p| p.display().to_string()),
        b.arch,
        b.num_epoch,
        b.train_batch_size,
        b.lr,
        b.t,
        b.seed,
        b.seed + spec.seeds as u64 - 1,
        b.p,
        b.width_lr
    );
    md.push_str(
        "Test accuracy in %, mean ± sample std over the seeds (± 0.0 for one seed). \
         sg: straight-through rectangle surrogate, fixed width, no noise; \
         asgl: learnable width, hybrid noisy spike.\n",
    );
    for (title, f) in [
        (
            "Best test accuracy",
            (|r: &RunResult| r.best) as fn(&RunResult) -> f64,
        ),
        ("Final test accuracy", |r: &RunResult| r.last),
    ] {
        let _ = write!(md, "\n## {title}\n\n| method |");
        for w in &spec.widths {
            let _ = write!(md, " w = {w} |");
        }
        md.push_str("\n|---|");
        md.push_str(&"---:|".repeat(spec.widths.len()));
        md.push('\n');
        for &method in &spec.methods {
            let _ = write!(md, "| {method} |");
            for &w in &spec.widths {
                let cell = cells.iter().find(|c| c.method == method && c.width == w);
                let text = cell.and_then(|c| c.stat(f)).map_or("—".into(), pct);
                let _ = write!(md, " {text} |");
            }
            md.push('\n');
        }
    }
    md.push_str(
        "\n## Runs\n\n| method | w | seeds | best (%) | final (%) | learned w per LIF layer at the end (mean over seeds) | width_lr | train s (mean) |\n|---|---:|---:|---:|---:|---|---:|---:|\n",
    );
    for c in cells {
        let widths: Vec<String> = c.mean_widths().iter().map(|w| format!("{w:.3}")).collect();
        let width_lr = c
            .runs
            .first()
            .filter(|_| c.method == Method::Asgl)
            .map_or("—".into(), |r| format!("{:.3e}", r.width_lr));
        let _ = writeln!(
            md,
            "| {} | {} | {}{} | {} | {} | {} | {} | {} |",
            c.method,
            c.width,
            c.runs.len(),
            if c.missing > 0 {
                format!(" ({} missing)", c.missing)
            } else {
                String::new()
            },
            c.stat(|r| r.best).map_or("—".into(), pct),
            c.stat(|r| r.last).map_or("—".into(), pct),
            widths.join(", "),
            width_lr,
            c.stat(|r| r.train_s)
                .map_or("—".into(), |(m, _)| format!("{m:.0}")),
        );
    }
    md
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mean_std_is_the_sample_statistic() {
        assert_eq!(mean_std(&[]), None);
        assert_eq!(mean_std(&[0.5]), Some((0.5, 0.0)));
        let (m, s) = mean_std(&[1.0, 2.0, 3.0, 4.0]).unwrap();
        assert!((m - 2.5).abs() < 1e-12);
        // numpy.std([1, 2, 3, 4], ddof=1) = 1.2909944487358056
        assert!((s - 1.2909944487358056).abs() < 1e-12, "{s}");
    }
}
