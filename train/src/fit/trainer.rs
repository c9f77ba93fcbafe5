//! The run: open the dataset and build the network and optimisers for a configuration, then the
//! epoch loop of the reference DVS run — per epoch the cosine LR and the p schedule, one training
//! pass (SGD + Adam every step), the test pass in eval mode, metrics and plots, and the
//! checkpoints (`last/` resumable, `best/` by test accuracy).
use std::path::{Path, PathBuf};
use std::time::Instant;

use dvs_frames::DatasetInfo;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

use crate::config::{Act, TrainConfig, WidthLr};
use crate::data::SplitLoader;
use crate::error::{Result, TrainError};
use crate::fit::checkpointing;
use crate::fit::evaluate::evaluate;
use crate::fit::loss::Objective;
use crate::fit::metrics::{self, EpochMetrics};
use crate::fit::optim::{optimisers, Adam, SgdMomentum};
use crate::fit::schedule::{cosine_lr, p_for_epoch, p_milestones};
use crate::fit::step::{PassStats, StepIndex, Trainee};
use crate::network::model::Network;

/// Seed offset of the noise-mask stream (weights use the plain seed).
const NOISE_STREAM: u64 = 0x6e6f697365;

/// Outcome of a run.
#[derive(Clone, Debug)]
pub struct FitSummary {
    pub history: Vec<EpochMetrics>,
    pub best_accuracy: f64,
    pub best_epoch: Option<usize>,
    pub run_dir: PathBuf,
}

/// Run-control options that are not part of the (hashed) training configuration.
#[derive(Clone, Copy, Debug, Default)]
pub struct FitOptions {
    /// Continue from `run_dir/last` (weights, optimisers, schedules, RNG, epoch).
    pub resume: bool,
    /// Stop after this many epochs in this invocation (simulates an interruption; the schedules
    /// still span `num_epoch`).
    pub stop_after: Option<usize>,
}

/// Trains according to `cfg`, writing into `run_dir` (on the CPU compute pool,
/// [`crate::device::in_compute_pool`]).
pub fn fit(cfg: &TrainConfig, run_dir: &Path, opts: FitOptions) -> Result<FitSummary> {
    crate::device::in_compute_pool(|| fit_here(cfg, run_dir, opts))
}

fn fit_here(cfg: &TrainConfig, run_dir: &Path, opts: FitOptions) -> Result<FitSummary> {
    let mut run = Run::open(cfg, run_dir)?;
    let mut state = if opts.resume {
        checkpointing::resume(&mut run)?
    } else {
        checkpointing::fresh_state(&run.noise_rng)
    };
    let end = match opts.stop_after {
        Some(n) => (state.next_epoch + n).min(cfg.num_epoch),
        None => cfg.num_epoch,
    };
    for epoch in state.next_epoch..end {
        let m = run.epoch(epoch)?;
        let improved = m.test_accuracy > state.best_accuracy;
        if improved {
            state.best_accuracy = m.test_accuracy;
            state.best_epoch = Some(epoch);
        }
        state.history.push(m);
        state.next_epoch = epoch + 1;
        state.adam_steps = run.adam.steps();
        state.noise_rng = crate::checkpoint::RngState::capture(&run.noise_rng);
        metrics::write_history(run_dir, &state.history)?;
        if let Err(e) = crate::plot::plot_history(run_dir, &state.history) {
            tracing::warn!("plots not written: {e}");
        }
        checkpointing::save_epoch(&run, &state, epoch, improved)?;
    }
    Ok(FitSummary {
        best_accuracy: state.best_accuracy,
        best_epoch: state.best_epoch,
        history: state.history,
        run_dir: run_dir.to_path_buf(),
    })
}

/// Everything a run holds between epochs.
pub(super) struct Run<'a> {
    /// The configuration with `--width_lr` resolved to the number used (what is saved and hashed).
    pub cfg: TrainConfig,
    pub run_dir: &'a Path,
    pub info: DatasetInfo,
    pub train_loader: SplitLoader,
    pub test_loader: SplitLoader,
    pub net: Network,
    pub sgd: SgdMomentum,
    pub adam: Adam,
    pub loss_fn: Objective,
    /// Source of every noise mask (seed ^ [`NOISE_STREAM`]).
    pub noise_rng: ChaCha8Rng,
    /// Epochs after which p is multiplied by γ.
    milestones: Vec<usize>,
}

impl<'a> Run<'a> {
    /// Opens the dataset and its loaders, builds the network and optimisers, and saves the
    /// effective configuration as `<run_dir>/config.toml`.
    fn open(cfg: &TrainConfig, run_dir: &'a Path) -> Result<Self> {
        let data = cfg
            .data
            .clone()
            .ok_or_else(|| TrainError::Config("--data is required".into()))?;
        let device = cfg.device.open()?;
        let dtype = cfg.dtype.candle();
        std::fs::create_dir_all(run_dir).map_err(|e| TrainError::io(run_dir, e))?;
        let (info, train_loader, test_loader, input_shape) = crate::data::open_splits(cfg, &data)?;
        let spec = cfg.net_spec(input_shape, info.classes.len())?;
        let net = Network::with_init(spec, dtype, &device, cfg.seed, cfg.arch.weight_init())?;
        let total_steps = cfg.num_epoch * train_loader.num_batches();
        if cfg.width_lr == WidthLr::Auto && cfg.train_width && cfg.act == Act::MnsSig {
            // `auto` budgets e-folds of the rectangle's a = ln(1/w); the sigmoid's k = 1/w is
            // linear, so the same per-step travel pushes a small k (wide start) through zero
            // within a few steps (measured: w = 10 turned negative in the first epoch).
            return Err(TrainError::Config(
                "--width_lr auto is derived for --act mns_rec (stored a = ln(1/w)); with mns_sig \
                 the stored k = 1/w is linear and auto's steps drive it through zero: give \
                 --width_lr a number"
                    .into(),
            ));
        }
        let width_lr = cfg.width_lr.resolve(total_steps);
        tracing::info!(width_lr, total_steps, "--width_lr {}", cfg.width_lr);
        let cfg = TrainConfig {
            width_lr: WidthLr::Fixed(width_lr),
            ..cfg.clone()
        };
        let (sgd, adam) = optimisers(&net, &cfg, total_steps);
        cfg.save_effective(&run_dir.join("config.toml"))?;
        Ok(Run {
            run_dir,
            info,
            train_loader,
            test_loader,
            net,
            sgd,
            adam,
            loss_fn: cfg.objective(),
            noise_rng: ChaCha8Rng::seed_from_u64(cfg.seed ^ NOISE_STREAM),
            milestones: p_milestones(&cfg.ns_milestone, cfg.num_epoch),
            cfg,
        })
    }

    /// One epoch: schedules, the training pass, the test pass; returns its metrics.
    fn epoch(&mut self, epoch: usize) -> Result<EpochMetrics> {
        let started = Instant::now();
        let cfg = &self.cfg;
        let lr = cosine_lr(cfg.lr, epoch, cfg.num_epoch);
        self.sgd.set_lr(lr);
        let p = p_for_epoch(cfg.p, cfg.gamma, &self.milestones, epoch);
        self.net.set_noise_p(p);
        let train = self.train_pass(epoch)?;
        let test = evaluate(&self.net, &self.test_loader, &self.loss_fn)?;
        let per_layer = |v: Vec<(usize, f64)>| {
            v.into_iter()
                .map(|(i, x)| (format!("lif.{i}"), x))
                .collect()
        };
        let firing_rate = per_layer(
            test.spikes
                .iter()
                .map(|(&i, &(s, n))| (i, s / n.max(1) as f64))
                .collect(),
        );
        let m = EpochMetrics {
            epoch,
            lr,
            noise_p: p,
            train_loss: train.loss(),
            train_accuracy: train.accuracy(),
            test_loss: test.loss(),
            test_accuracy: test.accuracy(),
            firing_rate,
            width: per_layer(self.net.widths()?),
            train_loader_wait_s: train.wait,
            test_loader_wait_s: test.wait,
            epoch_s: started.elapsed().as_secs_f64(),
        };
        tracing::info!(
            epoch,
            lr,
            p,
            train_loss = m.train_loss,
            train_acc = m.train_accuracy,
            test_acc = m.test_accuracy,
            loader_wait_s = m.train_loader_wait_s,
            "epoch done"
        );
        Ok(m)
    }

    /// The training pass of one epoch (loader order and augmentation are functions of the seed
    /// and the epoch), with a progress bar.
    fn train_pass(&mut self, epoch: usize) -> Result<PassStats> {
        let bar = indicatif::ProgressBar::new(self.train_loader.num_batches() as u64);
        bar.set_style(
            indicatif::ProgressStyle::with_template(
                "epoch {msg} [{bar:30}] {pos}/{len} {elapsed_precise}",
            )
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
        );
        bar.set_message(format!("{}/{}", epoch + 1, self.cfg.num_epoch));
        let mut trainee = Trainee {
            net: &self.net,
            sgd: &mut self.sgd,
            adam: &mut self.adam,
            loss_fn: &self.loss_fn,
            noise_rng: &mut self.noise_rng,
        };
        let mut stats = PassStats::default();
        for (step, batch) in (&mut self.train_loader.epoch(epoch as u64)).enumerate() {
            trainee.step(batch?, StepIndex { epoch, step }, &mut stats)?;
            bar.inc(1);
        }
        bar.finish_and_clear();
        Ok(stats)
    }
}
