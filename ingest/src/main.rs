//! The `dvs-ingest` binary: parses the command line (every subcommand's
//! settings are flags or, with `--config FILE`, TOML keys named like the flags
//! in snake_case; defaults < file < flags), calls the library and prints.
//!
//! * `run`: raw recordings → prepared dataset.
//! * `export`: prepared dataset → SpikingJelly-style `.npz` frame files.
//! * `inspect`: statistics, and a PNG of one sample's frames.
//! * `bench`: times raw file reading, decoding and the whole ingest of a folder.
//! * `probe`: one raw recording's format, sensor, streams and event statistics.
//! * `merge`: the part directories of `run --part i/N` → one dataset.
//! * `events`: one raw recording's events → `.npy` / `.parquet`.
//!
//! Exit status (`dvs_frames::cli`): 0 success, 1 error (nothing usable
//! written), 2 the dataset was written but some recordings failed (listed in
//! `errors.json`; for `probe`: some files did not decode), 64 the command line
//! does not parse.

use std::path::PathBuf;
use std::time::Instant;

use anyhow::{Context, Result};
use clap::{Args, Parser, Subcommand};
use dvs_frames::cli::{self, Outcome};
use dvs_frames::settings;
use dvs_ingest::config::{
    AtisSensorChoice, ConfigError, IngestConfig, NpyColumnsChoice, NpyTimeUnitChoice,
    OrientationChoice, TimeOrderChoice, DEFAULT_FRAMES, DEFAULT_SHARD_MB, DEFAULT_ZSTD_LEVEL,
};
use dvs_ingest::geometry::{Crop, ResizeTo, SensorSize};
use dvs_ingest::layout::{CifarSplit, DatasetKind, TestRatio};
use dvs_ingest::merge::PartSpec;
use dvs_ingest::slice::Slice;
use dvs_ingest::SplitBy;
use serde::{Deserialize, Serialize};

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
    Export(ExportSettings),
    /// Print dataset statistics; optionally render a sample's frames to PNG.
    Inspect(InspectSettings),
    /// Time raw reading, decoding and the whole ingest of an input folder.
    Bench(BenchSettings),
    /// Merge the part directories of `run --part i/N` into one dataset, byte-identical
    /// to a single-process run.
    Merge(MergeArgs),
    /// Write one recording's decoded events as a structured `.npy` (t int64 µs, x, y
    /// uint16, p int8) or a `.parquet` table with the same columns.
    Events(EventsSettings),
    /// Format, sensor size, streams, event count, duration, rate, ON share and
    /// time-order violations of raw recordings.
    Probe(ProbeSettings),
}

#[derive(Args)]
struct RunArgs {
    #[command(flatten)]
    settings: RunSettings,
    /// Never draw the progress bar.
    #[arg(long)]
    no_progress: bool,
}

/// The settings of `run` (and `bench`); each is also a key of the TOML config
/// (`--split-by` ↔ `split_by`) and of the saved `ingest-config.toml`.
#[derive(Args, Clone, Serialize, Deserialize)]
struct RunSettings {
    /// TOML file with any of the settings below (flags override it).
    #[arg(long)]
    #[serde(skip)]
    config: Option<PathBuf>,
    /// gesture | cifar10dvs | cifar10dvs-aedat4 | hdf5 | folder | table (required)
    #[arg(long)]
    dataset: Option<DatasetKind>,
    /// Input directory (or HDF5 file, or the table file) (required).
    #[arg(long)]
    input: Option<PathBuf>,
    /// Output dataset directory (required).
    #[arg(long)]
    output: Option<PathBuf>,
    /// Frames per sample T.
    #[arg(long, default_value_t = DEFAULT_FRAMES)]
    frames: usize,
    /// number | time | tonic-time-bins
    #[arg(long, default_value_t = SplitBy::default())]
    split_by: SplitBy,
    /// Resize frames to S x S or H x W (`48`, `48x64`) by area averaging (stored as f32).
    #[arg(long)]
    resize: Option<ResizeTo>,
    /// Sensor size WxH (`320x240`); default: 128x128 for the DVS128 layouts, what the
    /// recordings declare for folder / table.
    #[arg(long)]
    sensor: Option<SensorSize>,
    /// Crop X,Y,W,H on the sensor before integration (events outside dropped).
    #[arg(long)]
    crop: Option<Crop>,
    /// Slice samples: time:WINDOW_US[:OVERLAP_US][:incomplete] | count:N[:OVERLAP][:incomplete]
    #[arg(long)]
    slice: Option<Slice>,
    /// folder / table without stated splits: test share per class (default 0.2).
    #[arg(long)]
    test_ratio: Option<TestRatio>,
    /// folder / table: seed of that split (default 0).
    #[arg(long)]
    split_seed: Option<u64>,
    /// CIFAR10-DVS split: sj90 | tebn | tet
    #[arg(long, default_value_t = CifarSplit::default())]
    split: CifarSplit,
    /// CIFAR10-DVS AEDAT 2.0 orientation: spikingjelly | raw
    #[arg(long, default_value_t = OrientationChoice::default())]
    orientation: OrientationChoice,
    /// Keep AEDAT 3.1 events whose validity bit is clear (as SpikingJelly does).
    #[arg(long, num_args = 0..=1, default_value_t = false, default_missing_value = "true")]
    keep_invalid: bool,
    /// AEDAT 4: the id of the event stream to ingest (default: the first `EVTS` stream).
    #[arg(long)]
    stream: Option<u32>,
    /// ATIS `.bin` sensor: nmnist (34x34, the default) | ncaltech101 (x < 256, y < 240).
    #[arg(long)]
    atis_sensor: Option<AtisSensorChoice>,
    /// `.npy` unit of t: us (default) | ms (tonic's preconverted Gesture) | ns | s
    #[arg(long)]
    npy_time_unit: Option<NpyTimeUnitChoice>,
    /// `.npy` column order of plain (N, 4) arrays: named (default: refuse them) | xypt | txyp
    #[arg(long)]
    npy_columns: Option<NpyColumnsChoice>,
    /// Time going backwards: as-stored (default) | error (the recording fails, named)
    #[arg(long)]
    time_order: Option<TimeOrderChoice>,
    /// Target shard size in MiB.
    #[arg(long, default_value_t = DEFAULT_SHARD_MB)]
    shard_mb: u64,
    /// zstd level for shard records (1: on event-count frames as small as level 3, and faster).
    #[arg(long, default_value_t = DEFAULT_ZSTD_LEVEL, allow_negative_numbers = true)]
    zstd_level: i32,
    /// Worker threads (0 = all cores).
    #[arg(long, default_value_t = 0)]
    jobs: usize,
    /// Replace an existing dataset made with different parameters.
    #[arg(long, num_args = 0..=1, default_value_t = false, default_missing_value = "true")]
    overwrite: bool,
    /// Many machines: ingest part i of N (`1/3` .. `3/3`, numbered from 1) of the
    /// recordings into --output as a part directory; `merge` makes the dataset.
    #[arg(long)]
    part: Option<PartSpec>,
}

impl RunSettings {
    /// The library's configuration: required settings present, values in range.
    fn into_config(self) -> Result<IngestConfig, ConfigError> {
        let config = IngestConfig {
            dataset: self.dataset.ok_or(ConfigError::Missing("dataset"))?,
            input: self.input.ok_or(ConfigError::Missing("input"))?,
            output: self.output.ok_or(ConfigError::Missing("output"))?,
            frames: self.frames,
            split_by: self.split_by,
            resize: self.resize,
            sensor: self.sensor,
            crop: self.crop,
            slice: self.slice,
            test_ratio: self.test_ratio,
            split_seed: self.split_seed,
            split: self.split,
            orientation: self.orientation,
            keep_invalid: self.keep_invalid,
            stream: self.stream,
            atis_sensor: self.atis_sensor,
            npy_time_unit: self.npy_time_unit,
            npy_columns: self.npy_columns,
            time_order: self.time_order,
            shard_mb: self.shard_mb,
            zstd_level: self.zstd_level,
            jobs: self.jobs,
            overwrite: self.overwrite,
        };
        config.validate()?;
        Ok(config)
    }
}

#[derive(Args, Serialize, Deserialize)]
struct ExportSettings {
    /// TOML file with any of the settings below (flags override it).
    #[arg(long)]
    #[serde(skip)]
    config: Option<PathBuf>,
    /// Prepared dataset directory (required).
    #[arg(long)]
    dataset: Option<PathBuf>,
    /// Output folder for the `.npz` files (required).
    #[arg(long)]
    output: Option<PathBuf>,
    /// Worker threads (0 = all cores).
    #[arg(long, default_value_t = 0)]
    jobs: usize,
}

#[derive(Args, Serialize, Deserialize)]
struct InspectSettings {
    /// TOML file with any of the settings below (flags override it).
    #[arg(long)]
    #[serde(skip)]
    config: Option<PathBuf>,
    /// Prepared dataset directory (required).
    #[arg(long)]
    dataset: Option<PathBuf>,
    /// Manifest row of the sample to render (with --png).
    #[arg(long, default_value_t = 0)]
    sample: usize,
    /// Write a PNG grid of the sample's frames (ON green, OFF red).
    #[arg(long)]
    png: Option<PathBuf>,
}

#[derive(Args, Serialize, Deserialize)]
struct EventsSettings {
    /// TOML file with any of the settings below (flags override it).
    #[arg(long)]
    #[serde(skip)]
    config: Option<PathBuf>,
    /// The raw recording (any format dvs-decode detects) (required).
    file: Option<PathBuf>,
    /// Output table: `*.npy` or `*.parquet` (required).
    #[arg(long)]
    out: Option<PathBuf>,
    /// AEDAT 4: the id of the event stream to export (default: the first `EVTS` stream).
    #[arg(long)]
    stream: Option<u32>,
    /// Sensor size WxH every event must lie inside (for files that declare none).
    #[arg(long)]
    sensor: Option<SensorSize>,
    /// AEDAT 2.0 orientation: spikingjelly | raw
    #[arg(long, default_value_t = OrientationChoice::default())]
    orientation: OrientationChoice,
    /// Keep AEDAT 3.1 events whose validity bit is clear (as SpikingJelly does).
    #[arg(long)]
    #[serde(default)]
    keep_invalid: bool,
}

#[derive(Args)]
struct MergeArgs {
    #[command(flatten)]
    settings: MergeSettings,
    /// Never draw the progress bar.
    #[arg(long)]
    no_progress: bool,
}

/// The settings of `merge` (also TOML keys: `parts = [...]`, `output`, `jobs`, `overwrite`).
#[derive(Args, Serialize, Deserialize)]
struct MergeSettings {
    /// TOML file with any of the settings below (flags override it).
    #[arg(long)]
    #[serde(skip)]
    config: Option<PathBuf>,
    /// The part directories (every part 1..N exactly once, any order).
    #[arg(num_args = 0..)]
    #[serde(default)]
    parts: Vec<PathBuf>,
    /// Output dataset directory (required).
    #[arg(long)]
    output: Option<PathBuf>,
    /// Worker threads (0 = all cores).
    #[arg(long, default_value_t = 0)]
    jobs: usize,
    /// Replace an existing dataset made with different parameters.
    #[arg(long, num_args = 0..=1, default_value_t = false, default_missing_value = "true")]
    #[serde(default)]
    overwrite: bool,
}

#[derive(Args, Serialize, Deserialize)]
struct BenchSettings {
    #[command(flatten)]
    #[serde(flatten)]
    run: RunSettings,
    /// Repetitions of each measurement (the fastest is reported).
    #[arg(long, default_value_t = 1)]
    repeat: usize,
}

#[derive(Args, Serialize, Deserialize)]
struct ProbeSettings {
    /// TOML file with any of the settings below (flags override it).
    #[arg(long)]
    #[serde(skip)]
    config: Option<PathBuf>,
    /// Raw recordings to probe (any format dvs-decode detects).
    #[arg(num_args = 0..)]
    #[serde(default)]
    files: Vec<PathBuf>,
    /// Print one JSON array on stdout instead of a table.
    #[arg(long)]
    #[serde(default)]
    json: bool,
    /// AEDAT 2.0 orientation: spikingjelly | raw
    #[arg(long, default_value_t = OrientationChoice::default())]
    orientation: OrientationChoice,
    /// Keep AEDAT 3.1 events whose validity bit is clear (as SpikingJelly does).
    #[arg(long)]
    #[serde(default)]
    keep_invalid: bool,
    /// AEDAT 4: the id of the event stream to take the statistics of (default: the first `EVTS`).
    #[arg(long)]
    stream: Option<u32>,
    /// Sensor size WxH every event must lie inside (for files that declare none).
    #[arg(long)]
    sensor: Option<SensorSize>,
}

/// Decoder options of the per-file commands (`probe`, `events`).
fn file_decode_options(
    orientation: OrientationChoice,
    keep_invalid: bool,
    stream: Option<u32>,
    sensor: Option<SensorSize>,
) -> dvs_decode::DecodeOptions {
    dvs_decode::DecodeOptions {
        orientation: orientation.to_decode(),
        keep_invalid,
        stream,
        // Sides are at most geometry::MAX_SIDE (16384), so they fit u16.
        sensor: sensor.map(|s| (s.width as u16, s.height as u16)),
        ..dvs_decode::DecodeOptions::default()
    }
}

fn required<T>(value: Option<T>, name: &'static str) -> Result<T, ConfigError> {
    value.ok_or(ConfigError::Missing(name))
}

fn main() -> std::process::ExitCode {
    dvs_frames::allocator::retain_large_buffers();
    let (cli, matches) = settings::parse::<Cli>();
    cli::init_logging("info");
    let (_, sub) = matches.subcommand().expect("clap requires a subcommand");
    let result = match cli.command {
        Command::Run(args) => cmd_run(settings::resolve(sub), args.no_progress),
        Command::Export(_) => settings::resolve(sub)
            .map_err(Into::into)
            .and_then(cmd_export),
        Command::Inspect(_) => settings::resolve(sub)
            .map_err(Into::into)
            .and_then(cmd_inspect),
        Command::Bench(_) => settings::resolve(sub)
            .map_err(Into::into)
            .and_then(cmd_bench),
        Command::Merge(args) => cmd_merge(settings::resolve(sub), args.no_progress),
        Command::Events(_) => settings::resolve(sub)
            .map_err(Into::into)
            .and_then(cmd_events),
        Command::Probe(_) => settings::resolve(sub)
            .map_err(Into::into)
            .and_then(cmd_probe),
    };
    cli::finish("dvs-ingest", result)
}

fn cmd_run(
    settings: Result<RunSettings, settings::SettingsError>,
    no_progress: bool,
) -> Result<Outcome> {
    let settings = settings?;
    let part = settings.part;
    let config = settings.into_config()?;
    let started = Instant::now();
    let summary = match part {
        Some(part) => dvs_ingest::pipeline::run_part(&config, part, !no_progress)?,
        None => dvs_ingest::run(&config, !no_progress)?,
    };
    let what = part.map(|p| format!("part {p} in ")).unwrap_or_default();
    print_summary(&summary, started, &what)
}

fn cmd_events(settings: EventsSettings) -> Result<Outcome> {
    let file = required(settings.file, "file")?;
    let out = required(settings.out, "out")?;
    let options = file_decode_options(
        settings.orientation,
        settings.keep_invalid,
        settings.stream,
        settings.sensor,
    );
    let done = dvs_ingest::events::export_events(&file, &out, &options)?;
    println!(
        "wrote {} events of {} ({}) to {}",
        done.events,
        file.display(),
        done.format.name(),
        out.display()
    );
    Ok(Outcome::Success)
}

fn cmd_merge(
    settings: Result<MergeSettings, settings::SettingsError>,
    no_progress: bool,
) -> Result<Outcome> {
    let settings = settings?;
    let config = dvs_ingest::merge::MergeConfig {
        parts: settings.parts,
        output: required(settings.output, "output")?,
        jobs: settings.jobs,
        overwrite: settings.overwrite,
    };
    let started = Instant::now();
    let summary = dvs_ingest::merge::merge(&config, !no_progress)?;
    print_summary(&summary, started, "")
}

/// Prints what a run, part or merge did (failures on stderr); exit 2 if some recording failed.
fn print_summary(
    summary: &dvs_ingest::RunSummary,
    started: Instant,
    what: &str,
) -> Result<Outcome> {
    let secs = started.elapsed().as_secs_f64();
    if summary.up_to_date {
        println!(
            "{what}{} is up to date (params_hash {})",
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
            "wrote {what}{} ({}; {} recordings, {} resumed, {} failed; {:.1} M events in {secs:.2} s; params_hash {})",
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
        Outcome::Success
    } else {
        Outcome::Partial
    })
}

fn pool(jobs: usize) -> Result<rayon::ThreadPool> {
    Ok(rayon::ThreadPoolBuilder::new().num_threads(jobs).build()?)
}

fn cmd_export(settings: ExportSettings) -> Result<Outcome> {
    let dataset = required(settings.dataset, "dataset")?;
    let output = required(settings.output, "output")?;
    let n = pool(settings.jobs)?.install(|| dvs_ingest::export::export_npz(&dataset, &output))?;
    println!("wrote {n} .npz files under {}", output.display());
    Ok(Outcome::Success)
}

fn cmd_inspect(settings: InspectSettings) -> Result<Outcome> {
    let dataset = required(settings.dataset, "dataset")?;
    print!("{}", dvs_ingest::inspect::stats(&dataset)?);
    if let Some(png) = &settings.png {
        let id = dvs_ingest::inspect::render_sample_png(&dataset, settings.sample, png)?;
        println!(
            "rendered sample {} ({id}) to {}",
            settings.sample,
            png.display()
        );
    }
    Ok(Outcome::Success)
}

fn cmd_bench(settings: BenchSettings) -> Result<Outcome> {
    if settings.run.part.is_some() {
        anyhow::bail!("bench times a whole ingest; it takes no --part");
    }
    let config = settings.run.into_config()?;
    let report = dvs_ingest::bench::measure(&config, settings.repeat)
        .with_context(|| format!("benchmarking {}", config.input.display()))?;
    println!(
        "recordings {} | {:.1} MB | {} events | jobs {}",
        report.recordings,
        report.bytes as f64 / 1e6,
        report.events,
        report.jobs
    );
    println!("{:<28} {:>10} {:>14}", "stage", "seconds", "M events/s");
    for (name, s) in [
        ("read raw files", report.read_s),
        ("decode (read_all)", report.decode_s),
        ("full ingest (run)", report.ingest_s),
    ] {
        println!(
            "{name:<28} {s:>10.3} {:>14.1}",
            report.events as f64 / s / 1e6
        );
    }
    println!(
        "ingest / read = {:.2}x, ingest / decode = {:.2}x",
        report.ingest_s / report.read_s,
        report.ingest_s / report.decode_s
    );
    for e in &report.failed {
        eprintln!("NOT TIMED (does not decode) {e}");
    }
    Ok(if report.failed.is_empty() {
        Outcome::Success
    } else {
        Outcome::Partial
    })
}

fn cmd_probe(settings: ProbeSettings) -> Result<Outcome> {
    if settings.files.is_empty() {
        anyhow::bail!("no FILE given (give one or more, or `files = [...]` in the config file)");
    }
    let options = file_decode_options(
        settings.orientation,
        settings.keep_invalid,
        settings.stream,
        settings.sensor,
    );
    let mut probes = Vec::new();
    let mut failures = 0usize;
    for file in &settings.files {
        match dvs_ingest::probe::probe(file, &options) {
            Ok(p) => probes.push(p),
            Err(e) => {
                failures += 1;
                eprintln!(
                    "FAILED {} (offset {}): {}",
                    file.display(),
                    e.offset,
                    e.reason
                );
            }
        }
    }
    if settings.json {
        println!("{}", serde_json::to_string_pretty(&probes)?);
    } else if !probes.is_empty() {
        print!("{}", dvs_ingest::probe::table(&probes));
    }
    Ok(if failures == 0 {
        Outcome::Success
    } else if probes.is_empty() {
        anyhow::bail!("none of the {failures} files decoded")
    } else {
        Outcome::Partial
    })
}
