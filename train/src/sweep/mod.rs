//! The width sweep (`asgl-train sweep`): every (method, width, seed) is an ordinary, resumable
//! `fit` run in `<out>/<method>-w<width>-s<seed>/`, run as a child process of this same binary,
//! `jobs` side by side; then the paper's table ([`table`], `sweep.md`) and its figure
//! ([`figure`], `sweep.png`). A killed sweep resumes: finished runs are skipped, half-done ones
//! continue from their `last/` checkpoint (`fit --resume`), the rest start fresh.
pub mod figure;
pub mod table;

use std::collections::VecDeque;
use std::fmt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::str::FromStr;
use std::sync::Mutex;

use crate::checkpoint::CheckpointConfig;
use crate::config::{Act, TrainConfig};
use crate::error::{Result, TrainError};

/// The settings file of one run, written by the sweep and read by its `fit --config`.
pub const RUN_CONFIG: &str = "sweep-run.toml";
/// The child's stdout and stderr.
pub const RUN_LOG: &str = "fit.log";
/// The table, in the sweep folder.
pub const TABLE_FILE: &str = "sweep.md";
/// The figure, in the sweep folder.
pub const FIGURE_FILE: &str = "sweep.png";

/// How a run trains its surrogate.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Method {
    /// The surrogate-gradient baseline: straight-through rectangle, fixed width, no noise.
    Sg,
    /// ASGL: learnable width and the hybrid noisy spike (`--p`, `--width_lr` as given).
    Asgl,
}

impl Method {
    /// The CLI spelling and folder prefix.
    pub fn as_str(self) -> &'static str {
        match self {
            Method::Sg => "sg",
            Method::Asgl => "asgl",
        }
    }

    /// `base` turned into this method at surrogate width `width` and seed `seed`.
    pub fn configure(self, base: &TrainConfig, width: f64, seed: u64) -> TrainConfig {
        let mut cfg = TrainConfig {
            alpha: width,
            seed,
            ..base.clone()
        };
        match self {
            Method::Sg => {
                cfg.act = Act::Sg;
                cfg.p = 0.0;
                cfg.train_width = false;
            }
            Method::Asgl => {
                if cfg.act == Act::Sg {
                    cfg.act = Act::MnsRec;
                }
                cfg.train_width = true;
            }
        }
        cfg
    }
}

impl FromStr for Method {
    type Err = String;
    fn from_str(s: &str) -> std::result::Result<Self, String> {
        match s {
            "sg" => Ok(Method::Sg),
            "asgl" => Ok(Method::Asgl),
            other => Err(format!("unknown method `{other}` (sg or asgl)")),
        }
    }
}

impl fmt::Display for Method {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

dvs_frames::settings::serde_via_str!(Method);

/// What to sweep.
#[derive(Clone, Debug)]
pub struct SweepSpec {
    /// The sweep folder.
    pub out: PathBuf,
    /// Every fit setting except what the sweep sets (`alpha`, `seed`, and the method's).
    pub base: TrainConfig,
    /// Surrogate widths w.
    pub widths: Vec<f64>,
    /// Methods.
    pub methods: Vec<Method>,
    /// Seeds per cell: `base.seed`, `base.seed + 1`, ...
    pub seeds: usize,
    /// Runs side by side.
    pub jobs: usize,
    /// Forwarded to each child as `--stop_after` (an interrupted sweep, for tests).
    pub stop_after: Option<usize>,
    /// The `asgl-train` binary the runs are children of.
    pub exe: PathBuf,
    /// Draw the progress bar.
    pub progress: bool,
}

/// One (method, width, seed) cell.
#[derive(Clone, Debug, PartialEq)]
pub struct RunKey {
    pub method: Method,
    pub width: f64,
    pub seed: u64,
}

impl RunKey {
    /// The run's folder name, `<method>-w<width>-s<seed>`.
    pub fn dir_name(&self) -> String {
        format!("{}-w{}-s{}", self.method, self.width, self.seed)
    }
}

/// Where a run stood when the sweep found it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RunStart {
    /// All epochs done: not started again.
    Finished,
    /// `last/` holds epochs but not all: `fit --resume`.
    Resumed,
    /// Nothing usable yet: a fresh `fit`.
    Fresh,
}

/// What a sweep did.
#[derive(Clone, Debug, Default)]
pub struct SweepSummary {
    /// Runs skipped because they had finished.
    pub skipped: usize,
    /// Runs continued from their checkpoint.
    pub resumed: usize,
    /// Runs started fresh.
    pub fresh: usize,
    /// Runs whose child failed: folder and reason (the rest of the sweep went on).
    pub failed: Vec<(PathBuf, String)>,
    pub table: PathBuf,
    pub figure: PathBuf,
}

impl SweepSpec {
    /// Every cell, in table order (method, width, seed).
    pub fn keys(&self) -> Vec<RunKey> {
        let mut keys = Vec::new();
        for &method in &self.methods {
            for &width in &self.widths {
                for s in 0..self.seeds as u64 {
                    keys.push(RunKey {
                        method,
                        width,
                        seed: self.base.seed + s,
                    });
                }
            }
        }
        keys
    }

    fn check(&self) -> Result<()> {
        let bad = |m: String| Err(TrainError::Config(m));
        if self.widths.is_empty() || self.methods.is_empty() || self.seeds == 0 {
            return bad("a sweep needs at least one width, one method and one seed".into());
        }
        if let Some(w) = self.widths.iter().find(|w| !(w.is_finite() && **w > 0.0)) {
            return bad(format!("--widths: {w} is not a width > 0"));
        }
        if self.base.data.is_none() {
            return bad("--data is required".into());
        }
        Ok(())
    }
}

/// Runs (or resumes) the sweep, then writes `sweep.md` and `sweep.png` from the runs' metrics.
pub fn run_sweep(spec: &SweepSpec) -> Result<SweepSummary> {
    spec.check()?;
    std::fs::create_dir_all(&spec.out).map_err(|e| TrainError::io(&spec.out, e))?;
    let mut summary = SweepSummary::default();
    let mut queue = VecDeque::new();
    for key in spec.keys() {
        let dir = spec.out.join(key.dir_name());
        let cfg = key.method.configure(&spec.base, key.width, key.seed);
        let start = prepare_run(&dir, &cfg)?;
        match start {
            RunStart::Finished => summary.skipped += 1,
            RunStart::Resumed => summary.resumed += 1,
            RunStart::Fresh => summary.fresh += 1,
        }
        if start != RunStart::Finished {
            queue.push_back((dir, start));
        }
    }
    tracing::info!(
        skipped = summary.skipped,
        resumed = summary.resumed,
        fresh = summary.fresh,
        "sweep of {} runs in {}",
        spec.keys().len(),
        spec.out.display()
    );
    summary.failed = run_children(spec, queue);
    let results = table::collect(spec)?;
    summary.table = spec.out.join(TABLE_FILE);
    write(&summary.table, table::render(spec, &results).as_bytes())?;
    summary.figure = spec.out.join(FIGURE_FILE);
    write(&summary.figure, &figure::render(&results)?)?;
    Ok(summary)
}

/// Writes the run's settings file (refusing one written with other settings) and says how the
/// run starts.
fn prepare_run(dir: &Path, cfg: &TrainConfig) -> Result<RunStart> {
    std::fs::create_dir_all(dir).map_err(|e| TrainError::io(dir, e))?;
    let path = dir.join(RUN_CONFIG);
    let text = dvs_frames::settings::to_toml(cfg)?;
    match std::fs::read_to_string(&path) {
        Ok(old) if old != text => {
            return Err(TrainError::Config(format!(
                "{} was written with other settings than this sweep's; sweep into another --out",
                path.display()
            )))
        }
        Ok(_) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => write(&path, text.as_bytes())?,
        Err(e) => return Err(TrainError::io(&path, e)),
    }
    Ok(match CheckpointConfig::read(&dir.join("last")) {
        Ok(last) if last.epoch + 1 >= cfg.num_epoch => RunStart::Finished,
        Ok(_) => RunStart::Resumed,
        Err(_) => RunStart::Fresh,
    })
}

/// Runs the queued children, `jobs` at a time; returns the failures.
fn run_children(spec: &SweepSpec, queue: VecDeque<(PathBuf, RunStart)>) -> Vec<(PathBuf, String)> {
    let bar = if spec.progress {
        indicatif::ProgressBar::new(queue.len() as u64)
    } else {
        indicatif::ProgressBar::hidden()
    };
    bar.set_style(
        indicatif::ProgressStyle::with_template(
            "sweep [{bar:30}] {pos}/{len} runs {elapsed_precise} (eta {eta}) {msg}",
        )
        .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
    );
    let queue = Mutex::new(queue);
    let failed = Mutex::new(Vec::new());
    std::thread::scope(|scope| {
        for _ in 0..spec.jobs.max(1) {
            scope.spawn(|| loop {
                let Some((dir, start)) = queue.lock().expect("queue lock").pop_front() else {
                    break;
                };
                bar.set_message(
                    dir.file_name()
                        .map_or(String::new(), |n| n.to_string_lossy().into_owned()),
                );
                if let Err(reason) = run_child(spec, &dir, start) {
                    tracing::warn!("{}: {reason}", dir.display());
                    failed.lock().expect("failure lock").push((dir, reason));
                }
                bar.inc(1);
            });
        }
    });
    bar.finish_and_clear();
    let mut failed = failed.into_inner().expect("failure lock");
    failed.sort();
    failed
}

/// One `fit` child with its output in `<dir>/fit.log`.
fn run_child(spec: &SweepSpec, dir: &Path, start: RunStart) -> std::result::Result<(), String> {
    let log_path = dir.join(RUN_LOG);
    let log = std::fs::File::create(&log_path)
        .map_err(|e| format!("creating {}: {e}", log_path.display()))?;
    let log2 = log
        .try_clone()
        .map_err(|e| format!("{}: {e}", log_path.display()))?;
    let mut cmd = Command::new(&spec.exe);
    cmd.arg("fit")
        .arg("--config")
        .arg(dir.join(RUN_CONFIG))
        .arg("--out")
        .arg(dir)
        .stdin(Stdio::null())
        .stdout(log)
        .stderr(log2);
    // The `jobs` children share the cores: each gets its share of compute threads (the size of
    // its one compute pool, asgl_train::device::in_compute_pool) unless the caller chose one.
    if std::env::var_os("RAYON_NUM_THREADS").is_none() {
        let cores = candle_core::utils::get_num_threads();
        cmd.env(
            "RAYON_NUM_THREADS",
            (cores / spec.jobs.max(1)).max(1).to_string(),
        );
    }
    if start == RunStart::Resumed {
        cmd.arg("--resume");
    }
    if let Some(n) = spec.stop_after {
        cmd.arg("--stop_after").arg(n.to_string());
    }
    let status = cmd
        .status()
        .map_err(|e| format!("starting {}: {e}", spec.exe.display()))?;
    if status.success() {
        Ok(())
    } else {
        let text = std::fs::read_to_string(&log_path).unwrap_or_default();
        let last = text
            .lines()
            .rev()
            .find(|l| !l.trim().is_empty())
            .unwrap_or("");
        Err(format!("fit exited with {status}: {last}"))
    }
}

fn write(path: &Path, bytes: &[u8]) -> Result<()> {
    dvs_frames::fsutil::atomic_write(path, bytes).map_err(|e| TrainError::io(path, e))
}
