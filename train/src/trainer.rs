//! The training loop of the reference DVS run: per epoch train (SGD + Adam every iteration),
//! cosine LR step, test in eval mode, p schedule, metrics, plots, checkpoints (`last/` resumable,
//! `best/` by test accuracy). Fed by the `dvs_frames` loader.
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Instant;

use candle_core::{DType, Device, Tensor};
use dvs_frames::{Augment, Batch, DatasetInfo, Loader, LoaderConfig};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

use crate::checkpoint::{self, ResumeState, RngState};
use crate::config::{CheckpointConfig, TrainConfig};
use crate::error::{Result, TrainError};
use crate::loss::{predict, TetLoss};
use crate::metrics::{self, EpochMetrics};
use crate::model::{Network, ParamGroup};
use crate::optim::{Adam, OptParam, SgdMomentum};
use crate::schedule::{cosine_lr, p_for_epoch, p_milestones};
use crate::spike::ForwardCtx;

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

/// Converts a loader batch [B, T, C, H, W] into the network layout [T, B, C, H, W] and labels.
pub fn batch_tensors(batch: Batch, device: &Device, dtype: DType) -> Result<(Tensor, Tensor)> {
    let [b, t, c, h, w] = batch.shape;
    let x = Tensor::from_vec(batch.data, (b, t, c, h, w), device)?
        .permute((1, 0, 2, 3, 4))?
        .contiguous()?;
    let x = if dtype == DType::F32 {
        x
    } else {
        x.to_dtype(dtype)?
    };
    let labels = Tensor::new(batch.labels.as_slice(), device)?;
    Ok((x, labels))
}

/// Builds the two optimisers over the network's parameter groups.
pub fn optimisers(net: &Network, cfg: &TrainConfig) -> (SgdMomentum, Adam) {
    let mut sgd = Vec::new();
    let mut adam = Vec::new();
    for v in net.vars() {
        let p = |wd: f64| OptParam {
            name: v.name.clone(),
            var: v.var.clone(),
            weight_decay: wd,
        };
        match v.group {
            ParamGroup::Weight => sgd.push(p(cfg.wd)),
            ParamGroup::NoDecay => sgd.push(p(0.0)),
            ParamGroup::Neuron => adam.push(p(0.0)),
            ParamGroup::Buffer => {}
        }
    }
    (
        SgdMomentum::new(sgd, cfg.lr, cfg.momentum),
        Adam::new(adam, cfg.width_lr),
    )
}

#[derive(Default)]
struct PassStats {
    loss_sum: f64,
    correct: usize,
    seen: usize,
    wait: f64,
    spikes: BTreeMap<usize, (f64, usize)>,
}

impl PassStats {
    fn add(&mut self, loss: f64, preds: &[u32], labels: &[u32], ctx: &ForwardCtx) {
        self.loss_sum += loss * labels.len() as f64;
        self.correct += preds.iter().zip(labels).filter(|(p, l)| p == l).count();
        self.seen += labels.len();
        for &(i, s, n) in &ctx.spike_sums {
            let e = self.spikes.entry(i).or_insert((0.0, 0));
            e.0 += s;
            e.1 += n;
        }
    }
    fn loss(&self) -> f64 {
        self.loss_sum / self.seen.max(1) as f64
    }
    fn accuracy(&self) -> f64 {
        self.correct as f64 / self.seen.max(1) as f64
    }
}

fn data_err(e: dvs_frames::FrameError) -> TrainError {
    TrainError::Data(e.to_string())
}

/// Evaluates `net` (eval mode) over a whole loader epoch.
fn evaluate(net: &Network, loader: &Loader, loss_fn: &TetLoss) -> Result<PassStats> {
    let mut stats = PassStats::default();
    let mut it = loader.epoch(0);
    for batch in &mut it {
        let batch = batch.map_err(data_err)?;
        stats.wait += batch.wait.as_secs_f64();
        let labels_v = batch.labels.clone();
        let (x, labels) = batch_tensors(batch, net.device(), net.dtype())?;
        let mut ctx = ForwardCtx::eval();
        let logits = net.forward(&x, &mut ctx)?;
        let loss = loss_fn
            .forward(&logits, &labels)?
            .to_dtype(DType::F64)?
            .to_scalar::<f64>()?;
        stats.add(loss, &predict(&logits)?, &labels_v, &ctx);
    }
    Ok(stats)
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

/// Trains according to `cfg`, writing into `run_dir`.
pub fn fit(cfg: &TrainConfig, run_dir: &Path, opts: FitOptions) -> Result<FitSummary> {
    let resume = opts.resume;
    let data = cfg
        .data
        .clone()
        .ok_or_else(|| TrainError::Config("--data is required".into()))?;
    let device = crate::device::parse_device(&cfg.device)?;
    let dtype = cfg.candle_dtype()?;
    std::fs::create_dir_all(run_dir).map_err(|e| TrainError::io(run_dir, e))?;
    let info = DatasetInfo::read(&data).map_err(data_err)?;
    if info.frames != cfg.t {
        return Err(TrainError::Config(format!(
            "--T {} does not match the dataset's {} frames per sample",
            cfg.t, info.frames
        )));
    }
    let train_loader = Loader::open(
        &data,
        &cfg.train_split,
        LoaderConfig {
            batch_size: cfg.train_batch_size,
            shuffle: true,
            seed: cfg.seed,
            augment: if cfg.augment {
                Augment {
                    flip: cfg.flip,
                    roll_max: cfg.roll_max,
                }
            } else {
                Augment::NONE
            },
            transform: cfg.transform,
            workers: cfg.workers,
            ..LoaderConfig::default()
        },
    )
    .map_err(data_err)?;
    let test_loader = Loader::open(
        &data,
        &cfg.test_split,
        LoaderConfig {
            batch_size: cfg.val_batch_size,
            transform: cfg.transform,
            workers: cfg.workers,
            ..LoaderConfig::default()
        },
    )
    .map_err(data_err)?;
    let [_, c, h, w] = info.sample_shape();
    let spec = cfg.net_spec([c, h, w], info.classes.len())?;
    let mut net = Network::new(spec, dtype, &device, cfg.seed)?;
    let (mut sgd, mut adam) = optimisers(&net, cfg);
    let loss_fn = TetLoss {
        lambda: cfg.lamb,
        means: cfg.means,
    };
    let milestones = p_milestones(&cfg.ns_milestone, cfg.num_epoch);
    crate::io::write_atomic(
        &run_dir.join("config.toml"),
        toml::to_string_pretty(cfg)
            .map_err(|e| TrainError::Config(e.to_string()))?
            .as_bytes(),
    )?;

    let last_dir = run_dir.join("last");
    let best_dir = run_dir.join("best");
    let mut noise_rng = ChaCha8Rng::seed_from_u64(cfg.seed ^ NOISE_STREAM);
    let mut state = ResumeState {
        next_epoch: 0,
        adam_steps: 0,
        noise_rng: RngState::capture(&noise_rng),
        best_accuracy: f64::NEG_INFINITY,
        best_epoch: None,
        history: Vec::new(),
    };
    if resume {
        let saved = CheckpointConfig::read(&last_dir)?;
        if saved.train_hash != cfg.hash() {
            return Err(TrainError::Config(format!(
                "--resume: {} was written with a different configuration (hash {} vs {})",
                last_dir.display(),
                saved.train_hash,
                cfg.hash()
            )));
        }
        state = checkpoint::load_state(&last_dir, &device, dtype, &mut sgd, &mut adam)?;
        net.load(&last_dir.join(checkpoint::MODEL_FILE))?;
        noise_rng = state.noise_rng.restore()?;
        tracing::info!(
            epoch = state.next_epoch,
            "resumed from {}",
            last_dir.display()
        );
    }

    let end = match opts.stop_after {
        Some(n) => (state.next_epoch + n).min(cfg.num_epoch),
        None => cfg.num_epoch,
    };
    for epoch in state.next_epoch..end {
        let started = Instant::now();
        let lr = cosine_lr(cfg.lr, epoch, cfg.num_epoch);
        sgd.set_lr(lr);
        let p = p_for_epoch(cfg.p, cfg.gamma, &milestones, epoch);
        net.set_noise_p(p);
        let mut train = PassStats::default();
        let bar = indicatif::ProgressBar::new(train_loader.num_batches() as u64);
        bar.set_style(
            indicatif::ProgressStyle::with_template(
                "epoch {msg} [{bar:30}] {pos}/{len} {elapsed_precise}",
            )
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
        );
        bar.set_message(format!("{}/{}", epoch + 1, cfg.num_epoch));
        let mut it = train_loader.epoch(epoch as u64);
        for (step, batch) in (&mut it).enumerate() {
            let batch = batch.map_err(data_err)?;
            train.wait += batch.wait.as_secs_f64();
            let labels_v = batch.labels.clone();
            let (x, labels) = batch_tensors(batch, &device, dtype)?;
            let mut ctx = ForwardCtx::train(&mut noise_rng);
            let logits = net.forward(&x, &mut ctx)?;
            let loss = loss_fn.forward(&logits, &labels)?;
            let loss_v = loss.to_dtype(DType::F64)?.to_scalar::<f64>()?;
            if !loss_v.is_finite() {
                return Err(TrainError::NonFiniteLoss {
                    epoch,
                    step,
                    loss: loss_v,
                });
            }
            let grads = loss.backward()?;
            sgd.step(&grads)?;
            adam.step(&grads)?;
            train.add(loss_v, &predict(&logits)?, &labels_v, &ctx);
            bar.inc(1);
        }
        bar.finish_and_clear();
        let test = evaluate(&net, &test_loader, &loss_fn)?;
        let firing_rate = test
            .spikes
            .iter()
            .map(|(i, (s, n))| (format!("lif.{i}"), s / (*n).max(1) as f64))
            .collect();
        let width = net
            .widths()?
            .into_iter()
            .map(|(i, w)| (format!("lif.{i}"), w))
            .collect();
        let m = EpochMetrics {
            epoch,
            lr,
            noise_p: p,
            train_loss: train.loss(),
            train_accuracy: train.accuracy(),
            test_loss: test.loss(),
            test_accuracy: test.accuracy(),
            firing_rate,
            width,
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
        let improved = m.test_accuracy > state.best_accuracy;
        state.history.push(m);
        if improved {
            state.best_accuracy = state.history.last().map_or(0.0, |m| m.test_accuracy);
            state.best_epoch = Some(epoch);
        }
        state.next_epoch = epoch + 1;
        state.adam_steps = adam.steps();
        state.noise_rng = RngState::capture(&noise_rng);
        metrics::write(run_dir, &state.history)?;
        if let Err(e) = crate::plot::plot_history(run_dir, &state.history) {
            tracing::warn!("plots not written: {e}");
        }
        let ck = CheckpointConfig {
            format: CheckpointConfig::FORMAT,
            net: net.spec().clone(),
            classes: info.classes.clone(),
            time_steps: info.frames,
            height: h,
            width: w,
            transform: cfg.transform,
            dataset_params: info.params.clone(),
            dataset_params_hash: info.params_hash.clone(),
            train: cfg.clone(),
            train_hash: cfg.hash(),
            epoch,
            test_accuracy: state.history.last().map_or(0.0, |m| m.test_accuracy),
        };
        checkpoint::save(&last_dir, &net, &ck, Some((&state, &sgd, &adam)))?;
        if improved {
            checkpoint::save(&best_dir, &net, &ck, None)?;
        }
    }
    Ok(FitSummary {
        best_accuracy: state.best_accuracy,
        best_epoch: state.best_epoch,
        history: state.history,
        run_dir: run_dir.to_path_buf(),
    })
}
