//! `asgl-train` CLI: `fit` (train on a prepared dataset), `sweep` (width sweep of fit runs), `bench` (time one VGGSNN2 step),
//! `export` (checkpoint → ONNX). It parses, calls the `asgl_train` library and prints. Every
//! subcommand takes `--config file.toml` whose keys are its flag ids (`dvs_frames::settings`:
//! defaults < file < flags); errors and exit codes follow `dvs_frames::cli`.
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, Result};
use asgl_train::bench::{bench_step, BenchResult};
use asgl_train::config::{Arch, TrainConfig};
use asgl_train::device::DeviceSpec;
use asgl_train::export::{export_checkpoint, INPUT_FRAMES, OPSET_VERSION};
use asgl_train::fit::{fit, FitOptions};
use asgl_train::sweep::{run_sweep, Method, SweepSpec};
use clap::{ArgMatches, Args, Parser, Subcommand};
use dvs_frames::cli::{self, Outcome};
use dvs_frames::settings;
use serde::{Deserialize, Serialize};

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
    Export(ExportArgs),
    /// Width sweep: one resumable `fit` per (method, width, seed), then sweep.md and sweep.png.
    Sweep(Box<SweepArgs>),
}

/// `sweep`: the sweep's own flags here, the fit settings of every run in [`TrainConfig`] (the
/// `--config` keys; `alpha`, `seed` and the method's `act`, `p`, `train_width` are set per run).
#[derive(Args)]
struct SweepArgs {
    /// Sweep folder: `<method>-w<width>-s<seed>/` runs, `sweep.md`, `sweep.png`.
    #[arg(long)]
    out: PathBuf,
    /// TOML file whose keys are the fit flags (applied to every run).
    #[arg(long)]
    config: Option<PathBuf>,
    /// Surrogate widths w.
    #[arg(long, value_delimiter = ',', default_values_t = [0.5, 1.0, 2.5, 5.0, 10.0])]
    widths: Vec<f64>,
    /// sg (straight-through, fixed width, no noise) and/or asgl (learnable width, noisy spike).
    #[arg(long, value_delimiter = ',', default_values_t = [Method::Sg, Method::Asgl])]
    methods: Vec<Method>,
    /// Seeds per (method, width): --seed, --seed + 1, ...
    #[arg(long, default_value_t = 1)]
    seeds: usize,
    /// Runs side by side (one process each; give each `--workers` threads).
    #[arg(long, default_value_t = 1)]
    jobs: usize,
    /// Stop every run after this many epochs (an interrupted sweep; rerun to resume).
    #[arg(long = "stop_after")]
    stop_after: Option<usize>,
    /// Hide the progress bar.
    #[arg(long)]
    quiet: bool,
    #[command(flatten)]
    train: TrainConfig,
}

/// `fit`: run control here, every training setting in [`TrainConfig`] (the `--config` keys).
#[derive(Args)]
struct FitArgs {
    /// Run directory (metrics, plots, checkpoints `last/` and `best/`).
    #[arg(long)]
    out: PathBuf,
    /// TOML file whose keys are the training flags (snake_case, `T` for time steps).
    #[arg(long)]
    config: Option<PathBuf>,
    /// Continue from `<out>/last` (weights, optimisers, schedules, RNG, epoch).
    #[arg(long)]
    resume: bool,
    /// Stop after this many epochs in this invocation (resume later with `--resume`).
    #[arg(long = "stop_after")]
    stop_after: Option<usize>,
    #[command(flatten)]
    train: TrainConfig,
}

/// `bench` settings (keys = field names; `--T` has key `T`).
#[derive(Args, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct BenchArgs {
    /// TOML file with any of these keys.
    #[arg(long)]
    #[serde(skip)]
    config: Option<PathBuf>,
    #[arg(long, default_value_t = 16)]
    batch_size: usize,
    #[serde(rename = "T")]
    #[arg(id = "T", long = "T", default_value_t = 10)]
    t: usize,
    /// Input height = width.
    #[arg(long, default_value_t = 48)]
    size: usize,
    #[arg(long, default_value = "vggsnn2")]
    arch: Arch,
    #[arg(long, default_value_t = 1)]
    warmup: usize,
    #[arg(long, default_value_t = 3)]
    steps: usize,
    #[arg(long, default_value = "cpu")]
    device: DeviceSpec,
    /// Print the result as JSON.
    #[arg(long)]
    json: bool,
    /// Run the LIF layers as the unfused per-step tensor loop instead of the fused CPU op.
    #[arg(long)]
    unfused: bool,
}

/// `export` settings.
#[derive(Args, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct ExportArgs {
    /// TOML file with any of these keys.
    #[arg(long)]
    #[serde(skip)]
    config: Option<PathBuf>,
    /// Checkpoint folder (config.json + model.safetensors), e.g. `<run>/best`.
    #[arg(long)]
    checkpoint: Option<PathBuf>,
    /// Output ONNX file [default: <checkpoint>/model.onnx].
    #[arg(long)]
    out: Option<PathBuf>,
}

fn main() -> ExitCode {
    // Step-sized tensors (30–200 MB at full size) are reused from the heap, not re-mapped.
    dvs_frames::allocator::retain_all_buffers();
    // candle's element-wise pool keeps its default size, that of the compute pool
    // (asgl_train::device::in_compute_pool; RAYON_NUM_THREADS or the cores): its workers spin
    // briefly and then park, and they run the backward pass's gradient sums, which are serial
    // otherwise. Pinning it to the calling thread (CANDLE_NUM_THREADS=1, as before) made a
    // one-epoch small-net fit 8 % slower and the wide one 16 % (docs/bench-train.md).
    let (cli, matches) = settings::parse::<Cli>();
    cli::init_logging("info");
    cli::finish("asgl-train", run(cli, &matches))
}

fn run(cli: Cli, matches: &ArgMatches) -> Result<Outcome> {
    let (_, sub) = matches.subcommand().context("no subcommand")?;
    match cli.command {
        Command::Fit(args) => run_fit(&args, sub),
        Command::Bench(_) => run_bench(settings::resolve(sub)?),
        Command::Export(_) => run_export(settings::resolve(sub)?),
        Command::Sweep(args) => run_sweep_command(&args, sub),
    }
}

fn run_fit(args: &FitArgs, matches: &ArgMatches) -> Result<Outcome> {
    let cfg = TrainConfig::resolve(matches)?;
    let options = FitOptions {
        resume: args.resume,
        stop_after: args.stop_after,
    };
    let summary = fit(&cfg, &args.out, options)
        .with_context(|| format!("training into {}", args.out.display()))?;
    println!(
        "best test accuracy {:.4} at epoch {} ({} epochs) — run dir {}",
        summary.best_accuracy,
        summary.best_epoch.map_or(-1, |e| e as i64),
        summary.history.len(),
        summary.run_dir.display()
    );
    Ok(Outcome::Success)
}

fn run_sweep_command(args: &SweepArgs, matches: &ArgMatches) -> Result<Outcome> {
    let spec = SweepSpec {
        out: args.out.clone(),
        base: TrainConfig::resolve(matches)?,
        widths: args.widths.clone(),
        methods: args.methods.clone(),
        seeds: args.seeds,
        jobs: args.jobs,
        stop_after: args.stop_after,
        exe: std::env::current_exe().context("locating the asgl-train binary")?,
        progress: !args.quiet,
    };
    let s = run_sweep(&spec).with_context(|| format!("sweeping into {}", args.out.display()))?;
    println!(
        "sweep: {} runs trained ({} resumed), {} already finished, {} failed — {} and {}",
        s.fresh + s.resumed,
        s.resumed,
        s.skipped,
        s.failed.len(),
        s.table.display(),
        s.figure.display()
    );
    for (dir, reason) in &s.failed {
        eprintln!("asgl-train: run {} failed: {reason}", dir.display());
    }
    Ok(if s.failed.is_empty() {
        Outcome::Success
    } else {
        Outcome::Partial
    })
}

fn run_bench(b: BenchArgs) -> Result<Outcome> {
    let cfg = TrainConfig {
        arch: b.arch.clone(),
        t: b.t,
        device: b.device,
        ..TrainConfig::default()
    };
    let device = b.device.open()?;
    let r = bench_step(
        &cfg,
        b.batch_size,
        b.size,
        b.warmup,
        b.steps.max(1),
        !b.unfused,
        &device,
    )?;
    if b.json {
        println!("{}", serde_json::to_string(&r)?);
    } else {
        let med = BenchResult::median;
        println!(
            "asgl-train bench: {} ({} LIF) batch {} T {} 2x{}x{} on {}: step {:.1} ms (median of {}; forward {:.1}, backward {:.1}, optimiser {:.1})",
            b.arch, if b.unfused { "unfused" } else { "fused" }, b.batch_size, b.t, b.size, b.size, b.device,
            med(&r.step_ms), r.step_ms.len(), med(&r.forward_ms), med(&r.backward_ms), med(&r.optimiser_ms)
        );
    }
    Ok(Outcome::Success)
}

fn run_export(args: ExportArgs) -> Result<Outcome> {
    let checkpoint = args
        .checkpoint
        .context("--checkpoint is required (flag or `checkpoint` key of --config)")?;
    let out = args.out.unwrap_or_else(|| checkpoint.join("model.onnx"));
    let summary = export_checkpoint(&checkpoint, &out)
        .with_context(|| format!("exporting {}", checkpoint.display()))?;
    let m = &summary.metadata;
    println!(
        "wrote {} ({} bytes, opset {OPSET_VERSION}): input `{INPUT_FRAMES}` [batch, {}, {}, {}, {}], {} classes",
        summary.output.display(),
        summary.bytes,
        m.time_steps,
        m.channels,
        m.height,
        m.width,
        m.classes.len()
    );
    Ok(Outcome::Success)
}
