//! `frames-bench`: loader throughput benchmark. Writes a synthetic dataset of sparse event-count
//! samples (default 10x2x48x48, built with `dvs_fixtures::testing`) to a temporary directory,
//! then streams several epochs through the [`dvs_frames::Loader`] with flip + roll + MaxNorm and
//! prints samples/s per epoch and the time the consumer spent blocked on the channel.
//!
//! `cargo run --release -p dvs-frames --example frames-bench -- --samples 20000 --workers 2`

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use clap::Parser;
use dvs_fixtures::testing::prepared::{PreparedSpec, Sample};
use dvs_fixtures::testing::{patterns, FixtureRng};
use dvs_frames::cli::{self, Outcome};
use dvs_frames::{Augment, DatasetInfo, Dtype, Loader, LoaderConfig, ValueTransform};
use rand::SeedableRng;

#[derive(Clone, Copy, Debug, clap::ValueEnum, serde::Serialize)]
#[serde(rename_all = "lowercase")]
enum Pattern {
    Edges,
    Uniform,
}

#[derive(Parser, Debug)]
#[command(about = "Measure dvs-frames loader throughput on a synthetic dataset")]
struct Args {
    /// Samples in the synthetic training split.
    #[arg(long, default_value_t = 20_000)]
    samples: usize,
    /// Epochs to stream (the first is reported separately as warm-up).
    #[arg(long, default_value_t = 4)]
    epochs: u64,
    /// Decode threads.
    #[arg(long, default_value_t = 2)]
    workers: usize,
    #[arg(long, default_value_t = 32)]
    batch_size: usize,
    #[arg(long, default_value_t = 4)]
    prefetch: usize,
    /// Frames T.
    #[arg(long, default_value_t = 10)]
    frames: usize,
    #[arg(long, default_value_t = 48)]
    height: usize,
    #[arg(long, default_value_t = 48)]
    width: usize,
    /// Synthetic event pattern: `edges` (moving shapes: events on their leading and trailing
    /// edges plus 1% background noise, like a DVS recording) or `uniform` (every pixel has an
    /// event with probability `--occupancy`, no spatial structure: the codec's worst case).
    #[arg(long, value_enum, default_value_t = Pattern::Edges)]
    pattern: Pattern,
    /// Fraction of pixels with events, for `--pattern uniform`.
    #[arg(long, default_value_t = 0.2)]
    occupancy: f64,
    /// Shard target size in MiB.
    #[arg(long, default_value_t = 32)]
    shard_mib: u64,
    /// zstd level used when writing.
    #[arg(long, default_value_t = 3)]
    zstd_level: i32,
    /// Simulated trainer compute per batch in milliseconds (a sleep, so it uses no CPU); 0 = none.
    #[arg(long, default_value_t = 0.0)]
    trainer_ms: f64,
    /// Write the dataset here (and keep it) instead of a temporary directory.
    #[arg(long)]
    dir: Option<PathBuf>,
    /// With `--dir`: reuse the dataset already there instead of writing a new one.
    #[arg(long, requires = "dir")]
    reuse: bool,
}

fn main() -> ExitCode {
    dvs_frames::allocator::retain_large_buffers();
    let args = Args::parse();
    cli::init_logging("warn");
    cli::finish("frames-bench", run(&args).map(|()| Outcome::Success))
}

fn run(args: &Args) -> Result<()> {
    let temp = tempfile::tempdir().context("creating a temporary directory")?;
    let dir = args
        .dir
        .clone()
        .unwrap_or_else(|| temp.path().to_path_buf());
    let shape = [args.frames, 2, args.height, args.width];

    if args.reuse && dir.join(DatasetInfo::FILE_NAME).exists() {
        eprintln!("reusing the dataset in {}", dir.display());
    } else {
        let started = Instant::now();
        let stored_bytes = write_dataset(args, &dir, shape)?;
        eprintln!(
            "wrote {} samples of {:?} ({:.1} MiB compressed) in {:.1} s",
            args.samples,
            shape,
            stored_bytes as f64 / (1 << 20) as f64,
            started.elapsed().as_secs_f64()
        );
    }

    stage_breakdown(&dir, shape)?;

    let config = LoaderConfig {
        batch_size: args.batch_size,
        shuffle: true,
        seed: 7,
        prefetch: args.prefetch,
        augment: Augment::ASGL,
        transform: ValueTransform::MaxNorm,
        drop_last: false,
        workers: args.workers,
        ..LoaderConfig::default()
    };
    let loader = Loader::open(&dir, "train", config)?;
    println!(
        "loader: {} samples, {} batches of {}, workers {}, prefetch {}, flip+roll(5)+MaxNorm, trainer {} ms/batch",
        loader.len(),
        loader.num_batches(),
        args.batch_size,
        args.workers,
        args.prefetch,
        args.trainer_ms
    );
    println!("| epoch | samples | wall s | samples/s (wall) | CPU s | samples per CPU-s | consumer wait s | wait share | first-batch wait ms | later batches: median / max wait ms |");
    println!("|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
    let mut sustained = Vec::new();
    for epoch in 0..args.epochs {
        let t0 = Instant::now();
        let cpu0 = process_cpu_seconds();
        let mut samples = 0usize;
        let mut checksum = 0f64;
        let mut iter = loader.epoch(epoch);
        let mut waits = Vec::with_capacity(loader.num_batches());
        for batch in iter.by_ref() {
            let batch = batch?;
            waits.push(batch.wait.as_secs_f64() * 1e3);
            samples += batch.len();
            // Touch the data so the work cannot be skipped.
            checksum += f64::from(batch.data[batch.data.len() / 2]);
            if args.trainer_ms > 0.0 {
                std::thread::sleep(Duration::from_secs_f64(args.trainer_ms / 1e3));
            }
        }
        let seconds = t0.elapsed().as_secs_f64();
        let cpu = process_cpu_seconds().zip(cpu0).map(|(b, a)| b - a);
        let wait = iter.total_wait().as_secs_f64();
        let rate = samples as f64 / seconds;
        // Below 50 ms the 10 ms tick of /proc/self/stat makes the ratio meaningless.
        let per_cpu = cpu.filter(|&c| c >= 0.05).map(|c| samples as f64 / c);
        if epoch > 0 || args.epochs == 1 {
            sustained.push((rate, per_cpu));
        }
        let first_wait = waits.first().copied().unwrap_or(0.0);
        let mut later = waits.get(1..).unwrap_or(&[]).to_vec();
        later.sort_by(f64::total_cmp);
        let median = later.get(later.len() / 2).copied().unwrap_or(0.0);
        let max = later.last().copied().unwrap_or(0.0);
        println!(
            "| {epoch}{} | {samples} | {seconds:.2} | {rate:.0} | {} | {} | {wait:.3} | {:.1}% | {first_wait:.1} | {median:.3} / {max:.1} |",
            if epoch == 0 { " (warm-up)" } else { "" },
            cpu.map_or("n/a".into(), |c| format!("{c:.2}")),
            per_cpu.map_or("n/a".into(), |r| format!("{r:.0}")),
            100.0 * wait / seconds
        );
        std::hint::black_box(checksum);
    }
    if !sustained.is_empty() {
        let n = sustained.len() as f64;
        let mean = sustained.iter().map(|s| s.0).sum::<f64>() / n;
        let min = sustained.iter().map(|s| s.0).fold(f64::INFINITY, f64::min);
        println!("sustained wall-clock rate (epochs after warm-up): mean {mean:.0} samples/s, min {min:.0} samples/s");
        if sustained.iter().all(|s| s.1.is_some()) {
            let per_cpu = sustained.iter().filter_map(|s| s.1).sum::<f64>() / n;
            println!(
                "CPU efficiency: {per_cpu:.0} samples per CPU-second (whole process: decode, I/O, consumer); \
                 on {} dedicated cores at most {:.0} samples/s",
                args.workers,
                per_cpu * args.workers as f64
            );
        }
    }
    Ok(())
}

/// Single-threaded cost of each stage per sample (checksum, zstd, flip+roll+MaxNorm) on the
/// first shard, measured in CPU time of this thread so that a busy machine does not inflate it.
fn stage_breakdown(dir: &Path, shape: [usize; 4]) -> Result<()> {
    let info = DatasetInfo::read(dir)?;
    let first = info
        .split("train")?
        .shards
        .first()
        .context("the train split has no shard")?;
    let reader = dvs_frames::ShardReader::open(dir.join(first))?;
    let n = reader.len().min(2000);
    let mut dctx = zstd::bulk::Decompressor::new()?;
    let len: usize = shape.iter().product();
    let mut raws = vec![Vec::new(); n];
    let mut out = vec![0f32; len];
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(1);
    let params: Vec<_> = (0..n).map(|_| Augment::ASGL.draw(&mut rng)).collect();

    // One untimed pass sizes (and page-faults) every buffer, so the timed passes measure the
    // codec and the kernel only.
    for (i, raw) in raws.iter_mut().enumerate() {
        reader.decompress_into(i, &mut dctx, raw)?;
    }
    let c0 = thread_cpu_seconds();
    for i in 0..n {
        std::hint::black_box(reader.stored_bytes(i)?);
    }
    let c1 = thread_cpu_seconds();
    for (i, raw) in raws.iter_mut().enumerate() {
        let entry = reader.decompress_into(i, &mut dctx, raw)?;
        anyhow::ensure!(entry.dtype == Dtype::U8, "the breakdown expects u8 records");
    }
    let c2 = thread_cpu_seconds();
    for (raw, p) in raws.iter().zip(&params) {
        dvs_frames::augment::augment_sample(raw, shape, *p, ValueTransform::MaxNorm, &mut out);
        std::hint::black_box(&out);
    }
    let c3 = thread_cpu_seconds();
    if let (Some(c0), Some(c1), Some(c2), Some(c3)) = (c0, c1, c2, c3) {
        let us = |s: f64| s * 1e6 / n as f64;
        println!(
            "stage CPU cost per sample (one thread, {n} samples): checksum {:.1} us, checksum + zstd {:.1} us, \
             flip+roll+MaxNorm {:.1} us",
            us(c1 - c0),
            us(c2 - c1),
            us(c3 - c2)
        );
    }
    Ok(())
}

/// CPU time of the calling thread (Linux `/proc/thread-self/schedstat`, nanoseconds).
fn thread_cpu_seconds() -> Option<f64> {
    let s = std::fs::read_to_string("/proc/thread-self/schedstat").ok()?;
    let ns: f64 = s.split_whitespace().next()?.parse().ok()?;
    Some(ns / 1e9)
}

/// User + system CPU time of the whole process so far (Linux `/proc/self/stat`, in clock ticks
/// of 1/100 s); `None` elsewhere. The machine may be shared, so CPU time is the robust measure.
fn process_cpu_seconds() -> Option<f64> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    // Fields after the parenthesised command name; utime and stime are fields 14 and 15.
    let rest = &stat[stat.rfind(')')? + 2..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let utime: f64 = fields.get(11)?.parse().ok()?;
    let stime: f64 = fields.get(12)?.parse().ok()?;
    Some((utime + stime) / 100.0)
}

/// Writes `args.samples` samples of the chosen pattern (each seeded by its index, generated and
/// encoded in parallel, appended in order); returns the compressed record bytes.
fn write_dataset(args: &Args, dir: &Path, shape: [usize; 4]) -> Result<u64> {
    let spec = PreparedSpec::new(shape, 10)
        .split("train", args.samples)
        .shard_bytes(args.shard_mib << 20)
        .zstd_level(args.zstd_level)
        .dtype(Dtype::U8)
        .kind("synthetic-bench")
        .params(serde_json::json!({ "pattern": args.pattern, "occupancy": args.occupancy, "generator": "frames-bench" }))
        .params_hash("bench");
    let len = spec.sample_len();
    let written = spec.write_parallel(dir, |_, i| {
        let mut rng = FixtureRng::seed_from_u64(i as u64);
        let counts = match args.pattern {
            Pattern::Edges => patterns::moving_edges(&mut rng, shape),
            Pattern::Uniform => patterns::uniform(&mut rng, len, args.occupancy),
        };
        Sample {
            key: format!("sample-{i:06}"),
            label: (i % 10) as u32,
            counts,
        }
    })?;
    Ok(written.stored_bytes)
}
