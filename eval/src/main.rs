//! `asgl-eval`: evaluates an exported model on a prepared dataset split and writes report.json,
//! confusion.csv, confusion.png and predictions.csv; `asgl-eval bench` times ONNX Runtime (and the
//! candle network) on synthetic input of the model's shape.

use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{bail, Context, Result};
use asgl_eval::compare::CandleReference;
use asgl_eval::report::{render_table, write_outputs};
use asgl_eval::{evaluate, EvalConfig, OnnxModel, SessionOptions};
use clap::{Args, Parser, Subcommand};
use rand::{Rng, SeedableRng};
use serde::Deserialize;

#[derive(Parser, Debug)]
#[command(
    name = "asgl-eval",
    version,
    about = "Evaluate an exported spiking network (model.onnx) with ONNX Runtime",
    long_about = "Evaluate an exported spiking network (model.onnx) with ONNX Runtime on the held-out split of a \
                  prepared dataset.\n\nONNX Runtime 1.31 is loaded at run time from $ORT_DYLIB_PATH or <repo>/.ort/; \
                  `eval \"$(scripts/provision-ort.sh)\"` provisions it.",
    args_conflicts_with_subcommands = true
)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
    #[command(flatten)]
    eval: EvalArgs,
    /// Log filter (also RUST_LOG), e.g. `info` or `asgl_eval=debug`.
    #[arg(long, global = true, default_value = "info")]
    log: String,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Time inference on random input of the model's shape (ort, and candle with --checkpoint).
    Bench(BenchArgs),
}

#[derive(Args, Debug, Default)]
struct EvalArgs {
    /// The exported model (from `asgl-train export`).
    #[arg(long)]
    model: Option<PathBuf>,
    /// Prepared dataset directory (holds dataset.json).
    #[arg(long)]
    data: Option<PathBuf>,
    /// Split to evaluate [default: test].
    #[arg(long)]
    split: Option<String>,
    /// Samples per batch [default: 16].
    #[arg(long)]
    batch_size: Option<usize>,
    /// Output folder for report.json, confusion.csv/png, predictions.csv [default: <model dir>/eval].
    #[arg(long)]
    out: Option<PathBuf>,
    /// Also run the candle network of this checkpoint folder and report the agreement.
    #[arg(long)]
    compare_checkpoint: Option<PathBuf>,
    /// Evaluate although the dataset's integration hash or class names differ from the model's.
    #[arg(long)]
    allow_mismatch: bool,
    /// TOML file with any of the options above (snake_case keys); command-line flags win.
    #[arg(long)]
    config: Option<PathBuf>,
    /// ONNX Runtime intra-op threads (0 = its default, all physical cores).
    #[arg(long)]
    threads: Option<usize>,
    /// Evaluate only the first N samples of the split.
    #[arg(long)]
    max_samples: Option<usize>,
    /// Disable ONNX Runtime graph optimisations (for debugging).
    #[arg(long)]
    no_optimize: bool,
    /// Hide the progress bar.
    #[arg(long)]
    quiet: bool,
}

/// `--config` file: the same options as the flags.
#[derive(Deserialize, serde::Serialize, Debug, Default)]
#[serde(deny_unknown_fields)]
struct FileConfig {
    model: Option<PathBuf>,
    data: Option<PathBuf>,
    split: Option<String>,
    batch_size: Option<usize>,
    out: Option<PathBuf>,
    compare_checkpoint: Option<PathBuf>,
    allow_mismatch: Option<bool>,
    threads: Option<usize>,
    max_samples: Option<usize>,
}

#[derive(Args, Debug)]
struct BenchArgs {
    /// The exported model (omit with --vggsnn2).
    #[arg(long, required_unless_present = "vggsnn2")]
    model: Option<PathBuf>,
    /// Benchmark a random-weight VGGSNN2 (T, 2x<size>x<size>, 10 classes) instead of --model:
    /// it is exported to `<workdir>/vggsnn2.onnx` and its checkpoint written to `<workdir>/ckpt`.
    #[arg(long, value_name = "WORKDIR", conflicts_with_all = ["model", "checkpoint"])]
    vggsnn2: Option<PathBuf>,
    /// Time steps of the --vggsnn2 network.
    #[arg(long, default_value_t = 10)]
    time_steps: usize,
    /// Frame size of the --vggsnn2 network.
    #[arg(long, default_value_t = 48)]
    size: usize,
    /// Checkpoint folder: also time the candle forward of the same network.
    #[arg(long)]
    checkpoint: Option<PathBuf>,
    #[arg(long, default_value_t = 16)]
    batch_size: usize,
    /// Timed iterations (after one warm-up run).
    #[arg(long, default_value_t = 5)]
    iters: usize,
    /// ONNX Runtime intra-op threads (0 = default).
    #[arg(long, default_value_t = 0)]
    threads: usize,
    /// Fraction of non-zero input values (event frames are sparse).
    #[arg(long, default_value_t = 0.1)]
    density: f64,
    /// Write the measured numbers as JSON here.
    #[arg(long)]
    json: Option<PathBuf>,
}

fn main() {
    dvs_frames::allocator::retain_large_buffers();
    let cli = Cli::parse();
    let filter = std::env::var("RUST_LOG").unwrap_or_else(|_| cli.log.clone());
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::new(filter))
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
    let result = match cli.command {
        Some(Command::Bench(args)) => bench(&args),
        None => run_eval(cli.eval),
    };
    if let Err(e) = result {
        eprintln!("asgl-eval: error: {e:#}");
        std::process::exit(1);
    }
}

fn run_eval(args: EvalArgs) -> Result<()> {
    let file = match &args.config {
        Some(path) => {
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("reading {}", path.display()))?;
            toml::from_str::<FileConfig>(&text)
                .with_context(|| format!("parsing {}", path.display()))?
        }
        None => FileConfig::default(),
    };
    let Some(model) = args.model.or(file.model) else {
        bail!("--model is required (the exported model.onnx)")
    };
    let Some(data) = args.data.or(file.data) else {
        bail!("--data is required (a dataset prepared by dvs-ingest)")
    };
    let out = args
        .out
        .or(file.out)
        .unwrap_or_else(|| asgl_eval::evaluate::default_out_dir(&model));
    let config = EvalConfig {
        split: args
            .split
            .or(file.split)
            .unwrap_or_else(|| "test".to_string()),
        batch_size: args.batch_size.or(file.batch_size).unwrap_or(16),
        allow_mismatch: args.allow_mismatch || file.allow_mismatch.unwrap_or(false),
        compare_checkpoint: args.compare_checkpoint.or(file.compare_checkpoint),
        session: SessionOptions {
            intra_threads: args.threads.or(file.threads).unwrap_or(0),
            optimize: !args.no_optimize,
        },
        loader_workers: 0,
        max_samples: args.max_samples.or(file.max_samples),
        progress: !args.quiet,
        model,
        data,
    };
    let effective = FileConfig {
        model: Some(config.model.clone()),
        data: Some(config.data.clone()),
        split: Some(config.split.clone()),
        batch_size: Some(config.batch_size),
        out: Some(out.clone()),
        compare_checkpoint: config.compare_checkpoint.clone(),
        allow_mismatch: Some(config.allow_mismatch),
        threads: Some(config.session.intra_threads),
        max_samples: config.max_samples,
    };
    let outcome = evaluate(&config)?;
    std::fs::create_dir_all(&out).with_context(|| format!("creating {}", out.display()))?;
    let effective_path = out.join("eval-config.toml");
    let tmp = out.join(".eval-config.toml.tmp");
    std::fs::write(&tmp, toml::to_string(&effective)?)
        .and_then(|()| std::fs::rename(&tmp, &effective_path))
        .with_context(|| format!("writing {}", effective_path.display()))?;
    let files = write_outputs(
        &out,
        &outcome.report,
        &outcome.confusion,
        &outcome.predictions,
    )?;
    print!("{}", render_table(&outcome.report));
    println!(
        "\nwrote {}, {}, {}, {}",
        files.report.display(),
        files.confusion_csv.display(),
        files.confusion_png.display(),
        files.predictions_csv.display()
    );
    Ok(())
}

/// Synthetic sparse event-like frames in [0, 1] (seeded, so runs are comparable).
fn synthetic_frames(len: usize, density: f64) -> Vec<f32> {
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

fn time_runs(iters: usize, mut run: impl FnMut() -> Result<()>) -> Result<Vec<f64>> {
    run()?; // warm-up (session initialisation, allocator growth)
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

/// Writes a random-weight VGGSNN2 checkpoint (weights only) and its ONNX export into `dir`.
fn make_vggsnn2(dir: &Path, time_steps: usize, size: usize) -> Result<(PathBuf, PathBuf)> {
    use asgl_train::spec::{BnType, NetSpec, NeuronSpec};
    let neuron = NeuronSpec::published_dvs();
    let spec = NetSpec::vggsnn2(time_steps, [2, size, size], 10, neuron, BnType::Tdbn);
    let ckpt = dir.join("ckpt");
    std::fs::create_dir_all(&ckpt).with_context(|| format!("creating {}", ckpt.display()))?;
    let network = asgl_train::model::Network::new(
        spec.clone(),
        candle_core::DType::F32,
        &candle_core::Device::Cpu,
        1,
    )?;
    network.save(&ckpt.join("model.safetensors"))?;
    let params = asgl_train::export::read_safetensors(&ckpt.join("model.safetensors"))?;
    let meta = asgl_train::export::ModelMetadata {
        classes: (0..10).map(|k| format!("class {k}")).collect(),
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
    asgl_train::export::export_to_file(&spec, &params, &meta, &onnx)?;
    Ok((onnx, ckpt))
}

fn bench(args: &BenchArgs) -> Result<()> {
    let options = SessionOptions {
        intra_threads: args.threads,
        optimize: true,
    };
    let (model_path, checkpoint) = match &args.vggsnn2 {
        Some(dir) => {
            let (onnx, ckpt) = make_vggsnn2(dir, args.time_steps, args.size)?;
            (onnx, Some(ckpt))
        }
        None => (
            args.model
                .clone()
                .context("--model or --vggsnn2 is required")?,
            args.checkpoint.clone(),
        ),
    };
    let mut model = OnnxModel::load(&model_path, &options)?;
    let meta = model.metadata().clone();
    let shape = [
        args.batch_size,
        meta.time_steps,
        meta.channels,
        meta.height,
        meta.width,
    ];
    let frames = synthetic_frames(shape.iter().product(), args.density);
    let ort_times = time_runs(args.iters, || {
        model.run(&frames, shape)?;
        Ok(())
    })?;
    let ort_median = median(ort_times);
    let mut rows = vec![("ort".to_string(), ort_median)];
    if let Some(ckpt) = &checkpoint {
        let mut reference = CandleReference::load(ckpt, &meta)?;
        let candle_times = time_runs(args.iters, || {
            reference.forward(&frames, shape)?;
            Ok(())
        })?;
        rows.push(("candle".to_string(), median(candle_times)));
    }
    println!(
        "batch {} x T={} x {}x{}x{}, {} timed iterations (median), ort intra-op threads {}",
        args.batch_size,
        meta.time_steps,
        meta.channels,
        meta.height,
        meta.width,
        args.iters,
        if args.threads == 0 {
            "default".to_string()
        } else {
            args.threads.to_string()
        }
    );
    println!("{:<8} {:>12} {:>14}", "engine", "s/batch", "samples/s");
    let mut json = serde_json::Map::new();
    for (name, secs) in &rows {
        let sps = args.batch_size as f64 / secs;
        println!("{name:<8} {secs:>12.4} {sps:>14.2}");
        json.insert(
            name.clone(),
            serde_json::json!({"seconds_per_batch": secs, "samples_per_sec": sps}),
        );
    }
    if let Some(path) = &args.json {
        write_json(path, &serde_json::Value::Object(json))?;
    }
    Ok(())
}

fn write_json(path: &Path, value: &serde_json::Value) -> Result<()> {
    asgl_eval::report::write_atomic(path, &serde_json::to_vec_pretty(value)?)?;
    Ok(())
}
