//! `asgl-eval`: evaluates an exported model on a prepared dataset split and writes report.json,
//! confusion.csv, confusion.png and predictions.csv; `asgl-eval bench` times ONNX Runtime (and the
//! candle network) on synthetic input of the model's shape. This binary parses the settings
//! (flags over `--config` TOML, `dvs_frames::settings`), calls the library and prints.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{bail, Result};
use asgl_eval::bench::{self, BenchConfig};
use asgl_eval::report::{render_table, write_file, write_outputs};
use asgl_eval::{evaluate, EvalConfig, SessionOptions};
use clap::{ArgMatches, Args, Parser, Subcommand};
use dvs_frames::cli::{self, Outcome};
use dvs_frames::settings;
use serde::{Deserialize, Serialize};

/// Name of the effective settings file written into the output folder.
const EFFECTIVE_CONFIG: &str = "eval-config.toml";
/// Name of the effective settings file `bench` writes beside its `--json` file.
const EFFECTIVE_BENCH_CONFIG: &str = "bench-config.toml";

#[derive(Parser, Debug)]
#[command(
    name = "asgl-eval",
    version,
    about = "Evaluate an exported spiking network (model.onnx) with ONNX Runtime",
    long_about = "Evaluate an exported spiking network (model.onnx) with ONNX Runtime on the held-out split of a \
                  prepared dataset.\n\nONNX Runtime 1.31 is loaded at run time from $ORT_DYLIB_PATH or <repo>/.ort/; \
                  `eval \"$(scripts/provision-ort.sh)\"` provisions it. Logging: RUST_LOG (default info).",
    args_conflicts_with_subcommands = true
)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
    #[command(flatten)]
    eval: EvalArgs,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Time inference on random input of the model's shape (ort, and candle with --checkpoint).
    Bench(BenchArgs),
}

/// The evaluation's settings; TOML keys are the field names.
#[derive(Args, Debug, Clone, Serialize, Deserialize)]
struct EvalArgs {
    /// The exported model (from `asgl-train export`).
    #[arg(long)]
    model: Option<PathBuf>,
    /// Prepared dataset directory (holds dataset.json).
    #[arg(long)]
    data: Option<PathBuf>,
    /// Split to evaluate.
    #[arg(long, default_value = "test")]
    split: String,
    /// Samples per batch.
    #[arg(long, default_value_t = 16)]
    batch_size: usize,
    /// Output folder for report.json, confusion.csv/png, predictions.csv [default: <model dir>/eval].
    #[arg(long)]
    out: Option<PathBuf>,
    /// Also run the candle network of this checkpoint folder and report the agreement.
    #[arg(long)]
    compare_checkpoint: Option<PathBuf>,
    /// Evaluate although the dataset's integration hash or class names differ from the model's.
    #[arg(long)]
    allow_mismatch: bool,
    /// ONNX Runtime intra-op threads (0 = its default, all physical cores).
    #[arg(long, default_value_t = 0)]
    threads: usize,
    /// Evaluate only the first N samples of the split.
    #[arg(long)]
    max_samples: Option<usize>,
    /// Disable ONNX Runtime graph optimisations (for debugging).
    #[arg(long)]
    no_optimize: bool,
    /// Hide the progress bar.
    #[arg(long)]
    quiet: bool,
    /// TOML file with any of the options above (keys: the option names in snake_case);
    /// command-line flags win over it.
    #[arg(long)]
    #[serde(skip)]
    config: Option<PathBuf>,
}

/// `bench`'s settings; TOML keys are the field names.
#[derive(Args, Debug, Clone, Serialize, Deserialize)]
struct BenchArgs {
    /// The exported model (or --vggsnn2).
    #[arg(long)]
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
    /// Samples per batch.
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
    /// Write the measured numbers as JSON here (and the effective settings beside it, as
    /// bench-config.toml).
    #[arg(long)]
    json: Option<PathBuf>,
    /// TOML file with any of the options above (snake_case keys); command-line flags win.
    #[arg(long)]
    #[serde(skip)]
    config: Option<PathBuf>,
}

fn main() -> ExitCode {
    dvs_frames::allocator::retain_large_buffers();
    let (cli, matches) = settings::parse::<Cli>();
    cli::init_logging("info");
    cli::finish("asgl-eval", run(&cli, &matches))
}

fn run(cli: &Cli, matches: &ArgMatches) -> Result<Outcome> {
    match (&cli.command, matches.subcommand()) {
        (Some(Command::Bench(_)), Some((_, sub))) => run_bench(settings::resolve(sub)?),
        _ => run_eval(settings::resolve(matches)?),
    }
}

fn run_eval(mut args: EvalArgs) -> Result<Outcome> {
    let Some(model) = args.model.clone() else {
        bail!("--model is required (the exported model.onnx)")
    };
    let Some(data) = args.data.clone() else {
        bail!("--data is required (a dataset prepared by dvs-ingest)")
    };
    let out = args
        .out
        .clone()
        .unwrap_or_else(|| asgl_eval::evaluate::default_out_dir(&model));
    args.out = Some(out.clone());
    let config = EvalConfig {
        split: args.split.clone(),
        batch_size: args.batch_size,
        allow_mismatch: args.allow_mismatch,
        compare_checkpoint: args.compare_checkpoint.clone(),
        session: SessionOptions {
            intra_threads: args.threads,
            optimize: !args.no_optimize,
        },
        loader_workers: 0,
        max_samples: args.max_samples,
        progress: !args.quiet,
        model,
        data,
    };
    let outcome = evaluate(&config)?;
    let files = write_outputs(
        &out,
        &outcome.report,
        &outcome.confusion,
        &outcome.predictions,
    )?;
    settings::save_effective(&out.join(EFFECTIVE_CONFIG), &args)?;
    print!("{}", render_table(&outcome.report));
    println!(
        "\nwrote {}, {}, {}, {}",
        files.report.display(),
        files.confusion_csv.display(),
        files.confusion_png.display(),
        files.predictions_csv.display()
    );
    Ok(if outcome.report.skipped_records > 0 {
        Outcome::Partial
    } else {
        Outcome::Success
    })
}

fn run_bench(args: BenchArgs) -> Result<Outcome> {
    let (model, checkpoint) = match (&args.vggsnn2, &args.model) {
        (Some(_), Some(_)) => bail!("give --model or --vggsnn2, not both"),
        (Some(_), None) if args.checkpoint.is_some() => {
            bail!("--vggsnn2 writes its own checkpoint; leave out --checkpoint")
        }
        (Some(dir), None) => {
            let (onnx, ckpt) = bench::vggsnn2_model(dir, args.time_steps, args.size)?;
            (onnx, Some(ckpt))
        }
        (None, Some(model)) => (model.clone(), args.checkpoint.clone()),
        (None, None) => bail!("--model or --vggsnn2 is required"),
    };
    let report = bench::run(&BenchConfig {
        model,
        checkpoint,
        batch_size: args.batch_size,
        iters: args.iters,
        threads: args.threads,
        density: args.density,
    })?;
    print!("{}", report.render());
    if let Some(path) = &args.json {
        write_file(path, &serde_json::to_vec_pretty(&report.to_json())?)?;
        let dir = path.parent().unwrap_or(std::path::Path::new(""));
        settings::save_effective(&dir.join(EFFECTIVE_BENCH_CONFIG), &args)?;
    }
    Ok(Outcome::Success)
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn command_line_is_well_formed() {
        Cli::command().debug_assert();
    }

    #[test]
    fn every_saved_key_loads_back() {
        let (cli, matches) = settings::parse_from::<Cli, _, _>([
            "asgl-eval",
            "--model",
            "m.onnx",
            "--data",
            "d",
            "--max-samples",
            "3",
        ]);
        let args: EvalArgs = settings::resolve(&matches).unwrap();
        assert_eq!(args.max_samples, Some(3));
        settings::check_keys(&args).unwrap();
        assert!(cli.command.is_none());
        let (_, matches) =
            settings::parse_from::<Cli, _, _>(["asgl-eval", "bench", "--model", "m"]);
        let (_, sub) = matches.subcommand().unwrap();
        let bench: BenchArgs = settings::resolve(sub).unwrap();
        settings::check_keys(&bench).unwrap();
    }
}
