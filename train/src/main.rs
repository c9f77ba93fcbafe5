//! `asgl-train` CLI: `fit` (train on a prepared dataset), `bench` (time one VGGSNN2 step).
//! Thin over the `asgl_train` library; flags use the reference's names, a TOML `--config` supplies
//! defaults for any flag, explicit flags override it, and the effective config is saved in the run.
use std::path::PathBuf;

use anyhow::{Context, Result};
use asgl_train::config::TrainConfig;
use clap::{Args, Parser, Subcommand};
use dvs_frames::ValueTransform;

#[derive(Parser)]
#[command(
    name = "asgl-train",
    version,
    about = "Train ASGL spiking networks (ICML 2023) on prepared DVS frames"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Train (or resume) a network on a prepared dataset directory.
    Fit(Box<FitArgs>),
    /// Time one VGGSNN2 training step (batch 16, T = 10, 2×48×48 by default).
    Bench(BenchArgs),
    /// Export a checkpoint to ONNX (opset 17) for `asgl-eval` / ONNX Runtime.
    Export(asgl_train::export::ExportArgs),
}

fn parse_transform(s: &str) -> std::result::Result<ValueTransform, String> {
    match s {
        "raw" => Ok(ValueTransform::Raw),
        "max_norm" | "maxnorm" => Ok(ValueTransform::MaxNorm),
        "binarize" => Ok(ValueTransform::Binarize),
        other => other
            .strip_prefix("clamp:")
            .and_then(|c| c.parse::<f32>().ok())
            .map(ValueTransform::Clamp)
            .ok_or_else(|| {
                format!("unknown transform `{other}` (raw, max_norm, binarize, clamp:<c>)")
            }),
    }
}

/// Every flag is optional: unset flags fall back to `--config`, then to the published DVS run.
#[derive(Args, Default)]
struct FitArgs {
    /// Prepared dataset directory (dataset.json + shards).
    #[arg(long)]
    data: Option<PathBuf>,
    /// Run directory (metrics, plots, checkpoints `last/` and `best/`).
    #[arg(long)]
    out: PathBuf,
    /// TOML file whose keys mirror these flags.
    #[arg(long)]
    config: Option<PathBuf>,
    /// Continue from `<out>/last` (weights, optimisers, schedules, RNG, epoch).
    #[arg(long)]
    resume: bool,
    /// Stop after this many epochs in this invocation (resume later with `--resume`).
    #[arg(long = "stop_after")]
    stop_after: Option<usize>,
    /// `vggsnn2` or `vgg:<channels with P = avgpool>`, e.g. `vgg:16,P,32,P`.
    #[arg(long)]
    arch: Option<String>,
    #[arg(long = "num_epoch", alias = "epochs")]
    num_epoch: Option<usize>,
    #[arg(long = "train_batch_size", alias = "batch-size")]
    train_batch_size: Option<usize>,
    #[arg(long = "val_batch_size")]
    val_batch_size: Option<usize>,
    #[arg(long)]
    lr: Option<f64>,
    #[arg(long)]
    wd: Option<f64>,
    #[arg(long)]
    momentum: Option<f64>,
    #[arg(long = "width_lr")]
    width_lr: Option<f64>,
    /// mns_rec | mns_sig | sg
    #[arg(long)]
    act: Option<String>,
    /// Surrogate width w.
    #[arg(long)]
    alpha: Option<f64>,
    #[arg(long = "train_width", num_args = 0..=1, default_missing_value = "true")]
    train_width: Option<bool>,
    /// Probability of analog mode.
    #[arg(long)]
    p: Option<f64>,
    #[arg(long)]
    gamma: Option<f64>,
    #[arg(long = "ns_milestone", num_args = 1.., value_delimiter = ',')]
    ns_milestone: Option<Vec<f64>>,
    #[arg(long)]
    decay: Option<f64>,
    #[arg(long)]
    thresh: Option<f64>,
    #[arg(long = "train_decay", num_args = 0..=1, default_missing_value = "true")]
    train_decay: Option<bool>,
    #[arg(long = "train_thresh", num_args = 0..=1, default_missing_value = "true")]
    train_thresh: Option<bool>,
    /// tdbn | bntt | none
    #[arg(long = "bn_type")]
    bn_type: Option<String>,
    #[arg(long = "T")]
    t: Option<usize>,
    #[arg(long)]
    lamb: Option<f64>,
    #[arg(long)]
    means: Option<f64>,
    #[arg(long)]
    seed: Option<u64>,
    /// cpu | cuda:N (needs `--features cuda`)
    #[arg(long)]
    device: Option<String>,
    /// f32 | f64
    #[arg(long)]
    dtype: Option<String>,
    /// raw | max_norm | binarize | clamp:<c>
    #[arg(long, value_parser = parse_transform)]
    transform: Option<ValueTransform>,
    #[arg(long, num_args = 0..=1, default_missing_value = "true")]
    augment: Option<bool>,
    /// With --augment: horizontal flip (p = 0.5); false for left/right-labelled data (Gesture)
    #[arg(long, num_args = 0..=1, default_missing_value = "true")]
    flip: Option<bool>,
    #[arg(long = "roll_max")]
    roll_max: Option<u32>,
    #[arg(long)]
    workers: Option<usize>,
    #[arg(long = "train_split")]
    train_split: Option<String>,
    #[arg(long = "test_split")]
    test_split: Option<String>,
}

impl FitArgs {
    fn effective_config(&self) -> Result<TrainConfig> {
        let mut c = match &self.config {
            Some(p) => TrainConfig::from_toml_file(p)?,
            None => TrainConfig::default(),
        };
        macro_rules! take {
            ($($f:ident),*) => { $( if let Some(v) = self.$f.clone() { c.$f = v; } )* };
        }
        take!(
            arch,
            num_epoch,
            train_batch_size,
            val_batch_size,
            lr,
            wd,
            momentum,
            width_lr,
            act,
            alpha,
            train_width,
            p,
            gamma,
            ns_milestone,
            decay,
            thresh,
            train_decay,
            train_thresh,
            bn_type,
            t,
            lamb,
            means,
            seed,
            device,
            dtype,
            transform,
            augment,
            flip,
            roll_max,
            workers,
            train_split,
            test_split
        );
        if self.data.is_some() {
            c.data = self.data.clone();
        }
        Ok(c)
    }
}

#[derive(Args)]
struct BenchArgs {
    #[arg(long, default_value_t = 16)]
    batch_size: usize,
    #[arg(long = "T", default_value_t = 10)]
    t: usize,
    /// Input height = width.
    #[arg(long, default_value_t = 48)]
    size: usize,
    #[arg(long, default_value = "vggsnn2")]
    arch: String,
    #[arg(long, default_value_t = 1)]
    warmup: usize,
    #[arg(long, default_value_t = 3)]
    steps: usize,
    #[arg(long, default_value = "cpu")]
    device: String,
    /// Print the result as JSON.
    #[arg(long)]
    json: bool,
    /// Run the LIF layers as the unfused per-step tensor loop instead of the fused CPU op.
    #[arg(long)]
    unfused: bool,
}

fn main() -> Result<()> {
    // Step-sized tensors (30–200 MB at full size) are reused from the heap, not re-mapped.
    dvs_frames::allocator::retain_all_buffers();
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
    match Cli::parse().command {
        Command::Fit(args) => {
            let cfg = args.effective_config()?;
            let summary = asgl_train::trainer::fit(
                &cfg,
                &args.out,
                asgl_train::trainer::FitOptions {
                    resume: args.resume,
                    stop_after: args.stop_after,
                },
            )
            .with_context(|| format!("training into {}", args.out.display()))?;
            println!(
                "best test accuracy {:.4} at epoch {} ({} epochs) — run dir {}",
                summary.best_accuracy,
                summary.best_epoch.map_or(-1, |e| e as i64),
                summary.history.len(),
                summary.run_dir.display()
            );
        }
        Command::Export(args) => {
            asgl_train::export::run_cli(&args)
                .with_context(|| format!("exporting {}", args.checkpoint.display()))?;
        }
        Command::Bench(b) => {
            let cfg = TrainConfig {
                arch: b.arch.clone(),
                t: b.t,
                device: b.device.clone(),
                ..TrainConfig::default()
            };
            let device = asgl_train::device::parse_device(&b.device)?;
            let r = asgl_train::bench::bench_step(
                &cfg,
                b.batch_size,
                b.size,
                b.warmup,
                b.steps.max(1),
                !b.unfused,
                &device,
            )?;
            let med = |v: &[f64]| {
                let mut v = v.to_vec();
                v.sort_by(|a, b| a.total_cmp(b));
                v[v.len() / 2]
            };
            if b.json {
                println!("{}", serde_json::to_string(&r)?);
            } else {
                println!(
                    "asgl-train bench: {} ({} LIF) batch {} T {} 2x{}x{} on {}: step {:.1} ms (median of {}; forward {:.1}, backward {:.1}, optimiser {:.1})",
                    b.arch, if b.unfused { "unfused" } else { "fused" }, b.batch_size, b.t, b.size, b.size, b.device,
                    med(&r.step_ms), r.step_ms.len(), med(&r.forward_ms), med(&r.backward_ms), med(&r.optimiser_ms)
                );
            }
        }
    }
    Ok(())
}
