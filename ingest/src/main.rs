//! The `dvs-ingest` binary: a thin CLI over the library.
//!
//! * `run`: raw recordings → prepared dataset (exit 0 = all recordings
//!   ingested, 2 = dataset written but some recordings failed, see
//!   `errors.json`, 1 = nothing usable written).
//! * `export`: prepared dataset → SpikingJelly-style `.npz` frame files.
//! * `inspect`: statistics, and a PNG of one sample's frames.
//! * `bench`: times raw file reading, decoding and the whole ingest of a folder.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

use anyhow::{Context, Result};
use clap::{Args, Parser, Subcommand};
use dvs_ingest::config::{IngestConfig, OrientationChoice, RunConfigFile};
use dvs_ingest::layout::{discover, CifarSplit, DatasetKind, RecordingPlan};
use dvs_ingest::SplitBy;
use rayon::prelude::*;

#[derive(Parser)]
#[command(
    name = "dvs-ingest",
    version,
    about = "Event-camera recordings to frame datasets"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Ingest raw recordings into a prepared dataset directory.
    Run(RunArgs),
    /// Write every sample as `<split>/<class>/<name>.npz` (key `frames`, float32 [T,2,H,W]).
    Export(ExportArgs),
    /// Print dataset statistics; optionally render a sample's frames to PNG.
    Inspect(InspectArgs),
    /// Time raw reading, decoding and the whole ingest of an input folder.
    Bench(BenchArgs),
}

/// Flags of `run`; each mirrors a key of the TOML config (`--split-by` ↔ `split-by`).
#[derive(Args, Clone)]
struct RunArgs {
    /// TOML file with any of the settings below (flags override it).
    #[arg(long)]
    config: Option<PathBuf>,
    /// gesture | cifar10dvs | cifar10dvs-aedat4 | hdf5
    #[arg(long)]
    dataset: Option<DatasetKind>,
    /// Input directory (or HDF5 file).
    #[arg(long)]
    input: Option<PathBuf>,
    /// Output dataset directory.
    #[arg(long)]
    output: Option<PathBuf>,
    /// Frames per sample T (default 10).
    #[arg(long)]
    frames: Option<usize>,
    /// number | time | tonic-time-bins (default number).
    #[arg(long)]
    split_by: Option<SplitBy>,
    /// Resize frames to S x S by area averaging (stored as f32).
    #[arg(long)]
    resize: Option<usize>,
    /// CIFAR10-DVS split: sj90 | tebn | tet (default sj90).
    #[arg(long)]
    split: Option<CifarSplit>,
    /// CIFAR10-DVS AEDAT 2.0 orientation: spikingjelly | raw (default spikingjelly).
    #[arg(long)]
    orientation: Option<OrientationChoice>,
    /// Keep AEDAT 3.1 events whose validity bit is clear (as SpikingJelly does).
    #[arg(long, num_args = 0..=1, default_missing_value = "true")]
    keep_invalid: Option<bool>,
    /// Target shard size in MiB (default 64).
    #[arg(long)]
    shard_mb: Option<u64>,
    /// zstd level for shard records (default 1: on event-count frames as small as level 3, and faster).
    #[arg(long)]
    zstd_level: Option<i32>,
    /// Worker threads (default 0 = all cores).
    #[arg(long)]
    jobs: Option<usize>,
    /// Replace an existing dataset made with different parameters.
    #[arg(long, num_args = 0..=1, default_missing_value = "true")]
    overwrite: Option<bool>,
    /// Never draw the progress bar.
    #[arg(long)]
    no_progress: bool,
}

impl RunArgs {
    fn effective(&self) -> Result<IngestConfig> {
        let file = match &self.config {
            Some(path) => RunConfigFile::read(path)?,
            None => RunConfigFile::default(),
        };
        let flags = RunConfigFile {
            dataset: self.dataset,
            input: self.input.clone(),
            output: self.output.clone(),
            frames: self.frames,
            split_by: self.split_by,
            resize: self.resize,
            split: self.split,
            orientation: self.orientation,
            keep_invalid: self.keep_invalid,
            shard_mb: self.shard_mb,
            zstd_level: self.zstd_level,
            jobs: self.jobs,
            overwrite: self.overwrite,
        };
        Ok(IngestConfig::resolve(file.overridden_by(flags))?)
    }
}

#[derive(Args)]
struct ExportArgs {
    /// Prepared dataset directory.
    #[arg(long)]
    dataset: PathBuf,
    /// Output folder for the `.npz` files.
    #[arg(long)]
    output: PathBuf,
    /// Worker threads (default all cores).
    #[arg(long, default_value_t = 0)]
    jobs: usize,
}

#[derive(Args)]
struct InspectArgs {
    /// Prepared dataset directory.
    #[arg(long)]
    dataset: PathBuf,
    /// Manifest row of the sample to render (with --png).
    #[arg(long, default_value_t = 0)]
    sample: usize,
    /// Write a PNG grid of the sample's frames (ON green, OFF red).
    #[arg(long)]
    png: Option<PathBuf>,
}

#[derive(Args)]
struct BenchArgs {
    #[command(flatten)]
    run: RunArgs,
    /// Repetitions of each measurement (the fastest is reported).
    #[arg(long, default_value_t = 1)]
    repeat: usize,
}

fn main() -> ExitCode {
    dvs_frames::allocator::retain_large_buffers();
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Run(args) => cmd_run(&args),
        Command::Export(args) => cmd_export(&args),
        Command::Inspect(args) => cmd_inspect(&args),
        Command::Bench(args) => cmd_bench(&args),
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(1)
        }
    }
}

fn cmd_run(args: &RunArgs) -> Result<ExitCode> {
    let config = args.effective()?;
    let started = Instant::now();
    let summary = dvs_ingest::run(&config, !args.no_progress)?;
    let secs = started.elapsed().as_secs_f64();
    if summary.up_to_date {
        println!(
            "{} is up to date (params_hash {})",
            summary.output.display(),
            summary.params_hash
        );
    } else {
        let samples: Vec<String> = summary
            .samples
            .iter()
            .map(|(s, n)| format!("{s} {n}"))
            .collect();
        println!(
            "wrote {} ({}; {} recordings, {} resumed, {} failed; {:.1} M events in {secs:.2} s; params_hash {})",
            summary.output.display(),
            samples.join(", "),
            summary.recordings_ok,
            summary.recordings_resumed,
            summary.failures.len(),
            summary.events_decoded as f64 / 1e6,
            summary.params_hash
        );
    }
    for f in &summary.failures {
        let offset = f
            .offset
            .map(|o| o.to_string())
            .unwrap_or_else(|| "-".into());
        eprintln!("FAILED {} (offset {offset}): {}", f.file, f.reason);
    }
    Ok(if summary.failures.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(2)
    })
}

fn pool(jobs: usize) -> Result<rayon::ThreadPool> {
    Ok(rayon::ThreadPoolBuilder::new().num_threads(jobs).build()?)
}

fn cmd_export(args: &ExportArgs) -> Result<ExitCode> {
    let n =
        pool(args.jobs)?.install(|| dvs_ingest::export::export_npz(&args.dataset, &args.output))?;
    println!("wrote {n} .npz files under {}", args.output.display());
    Ok(ExitCode::SUCCESS)
}

fn cmd_inspect(args: &InspectArgs) -> Result<ExitCode> {
    print!("{}", dvs_ingest::inspect::stats(&args.dataset)?);
    if let Some(png) = &args.png {
        let id = dvs_ingest::inspect::render_sample_png(&args.dataset, args.sample, png)?;
        println!(
            "rendered sample {} ({id}) to {}",
            args.sample,
            png.display()
        );
    }
    Ok(ExitCode::SUCCESS)
}

fn cmd_bench(args: &BenchArgs) -> Result<ExitCode> {
    let config = args.run.effective()?;
    let found = discover(config.dataset, &config.input, config.split)
        .with_context(|| format!("listing {}", config.input.display()))?;
    let files: Vec<_> = found
        .recordings
        .iter()
        .map(|r| (r.path.clone(), r.format, r.plan.clone()))
        .collect();
    let bytes: u64 = files
        .iter()
        .filter_map(|(p, _, _)| std::fs::metadata(p).ok())
        .map(|m| m.len())
        .sum();
    let pool = pool(config.jobs)?;
    let options = config.decode_options();
    let best = |f: &dyn Fn() -> Result<u64>| -> Result<(f64, u64)> {
        let mut best = f64::INFINITY;
        let mut value = 0;
        for _ in 0..args.repeat.max(1) {
            let t = Instant::now();
            value = f()?;
            best = best.min(t.elapsed().as_secs_f64());
        }
        Ok((best, value))
    };
    let (read_s, _) = best(&|| {
        pool.install(|| {
            files
                .par_iter()
                .map(|(p, _, _)| std::fs::read(p).map(|b| b.len() as u64))
                .sum::<std::io::Result<u64>>()
                .map_err(Into::into)
        })
    })?;
    let (decode_s, events) = best(&|| {
        pool.install(|| {
            Ok(files
                .par_iter()
                .map(|(p, format, plan)| match plan {
                    RecordingPlan::Hdf5File => dvs_ingest::decode::read_hdf5_samples(p)
                        .map(|v| v.iter().map(|s| s.events.len() as u64).sum())
                        .unwrap_or(0),
                    _ => dvs_ingest::decode::read_all(p, *format, &options)
                        .map(|e| e.len() as u64)
                        .unwrap_or(0),
                })
                .sum())
        })
    })?;
    let (ingest_s, _) = best(&|| {
        let out = tempfile_dir(&config.output)?;
        let run_config = IngestConfig {
            output: out.clone(),
            ..config.clone()
        };
        let summary = dvs_ingest::run(&run_config, false)?;
        std::fs::remove_dir_all(&out).ok();
        Ok(summary.recordings_ok as u64)
    })?;
    println!(
        "recordings {} | {:.1} MB | {} events | jobs {}",
        files.len(),
        bytes as f64 / 1e6,
        events,
        pool.current_num_threads()
    );
    println!("{:<28} {:>10} {:>14}", "stage", "seconds", "M events/s");
    for (name, s) in [
        ("read raw files", read_s),
        ("decode (read_all)", decode_s),
        ("full ingest (run)", ingest_s),
    ] {
        println!("{name:<28} {s:>10.3} {:>14.1}", events as f64 / s / 1e6);
    }
    println!(
        "ingest / read = {:.2}x, ingest / decode = {:.2}x",
        ingest_s / read_s,
        ingest_s / decode_s
    );
    Ok(ExitCode::SUCCESS)
}

/// A fresh scratch output directory next to `base` for one bench repetition.
fn tempfile_dir(base: &std::path::Path) -> Result<PathBuf> {
    let dir = base.join(format!("bench-run-{}", std::process::id()));
    if dir.exists() {
        std::fs::remove_dir_all(&dir)?;
    }
    Ok(dir)
}
