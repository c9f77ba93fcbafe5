//! Decode throughput benchmark (one core): synthesises large AEDAT 2.0 / 3.1 /
//! 4.0 files with the dvs-fixtures encoders (or takes existing files) and
//! prints million events per second per format, plus the `aedat` crate
//! against our AEDAT 4 decoder on the same LZ4 / zstd files.
//!
//! Run: `cargo run --release -p dvs-ingest --example decode-bench -- [--events N] [--repeat R] [FILE...]`
//! (an example rather than a binary because the `aedat` baseline is a dev-dependency).

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use dvs_decode::{
    self as decode, open_bytes, DecodeOptions, EventReader, Events, Format, Orientation,
};
use dvs_fixtures::aedat4::PacketCompression;
use dvs_fixtures::{aedat2, aedat31, aedat4, atis, noise, npy, prophesee};

struct Args {
    events: usize,
    repeat: usize,
    /// Only run cases whose label contains this text (e.g. "AEDAT 2.0", "lz4").
    only: Option<String>,
    files: Vec<PathBuf>,
}

fn parse_args() -> Result<Args> {
    let mut args = Args {
        events: 10_000_000,
        repeat: 5,
        only: None,
        files: Vec::new(),
    };
    let mut it = std::env::args().skip(1);
    while let Some(a) = it.next() {
        match a.as_str() {
            "--events" => args.events = it.next().context("--events N")?.parse()?,
            "--repeat" => args.repeat = it.next().context("--repeat R")?.parse()?,
            "--only" => args.only = Some(it.next().context("--only TEXT")?),
            "-h" | "--help" => {
                println!("decode-bench [--events N] [--repeat R] [--only TEXT] [FILE...]");
                std::process::exit(0);
            }
            f if !f.starts_with('-') => args.files.push(PathBuf::from(f)),
            other => bail!("unknown argument {other}"),
        }
    }
    Ok(args)
}

/// Best-of-`repeat` time of `f`, which returns the number of events decoded.
fn best<F: FnMut() -> Result<usize>>(repeat: usize, mut f: F) -> Result<(Duration, usize)> {
    let mut best = Duration::MAX;
    let mut n = 0;
    for _ in 0..repeat.max(1) {
        let start = Instant::now();
        n = f()?;
        best = best.min(start.elapsed());
    }
    Ok((best, n))
}

fn rate(n: usize, d: Duration) -> f64 {
    n as f64 / d.as_secs_f64() / 1e6
}

/// Decodes from memory into a reused `Events` (steady state of a batch job).
fn decode_reused(
    name: &Path,
    bytes: &[u8],
    format: Format,
    opts: &DecodeOptions,
    out: &mut Events,
) -> Result<usize> {
    out.clear();
    let mut reader = open_bytes(name, bytes, format, opts)?;
    reader.read_to_end(out)?;
    Ok(out.len())
}

/// The `--only` filter (set once in `main`).
static ONLY: std::sync::OnceLock<Option<String>> = std::sync::OnceLock::new();

/// Whether the case `label` passes the `--only` filter.
fn selected(label: &str) -> bool {
    match ONLY.get().and_then(|o| o.as_deref()) {
        Some(only) => label.contains(only),
        None => true,
    }
}

fn bench_memory(
    label: &str,
    name: &Path,
    bytes: &[u8],
    format: Format,
    opts: &DecodeOptions,
    repeat: usize,
) -> Result<()> {
    if !selected(label) {
        return Ok(());
    }
    let mut out = Events::new();
    let (d, n) = best(repeat, || {
        decode_reused(name, bytes, format, opts, &mut out)
    })?;
    let (d_fresh, _) = best(repeat, || {
        Ok(decode::read_all_bytes(name, bytes, format, opts)?.len())
    })?;
    println!(
        "{label:<34} {n:>11} events  {:>8.1} M ev/s (reused output)  {:>8.1} M ev/s (fresh output)  {:>6.0} MB/s in",
        rate(n, d),
        rate(n, d_fresh),
        bytes.len() as f64 / d.as_secs_f64() / 1e6
    );
    Ok(())
}

/// The `aedat` crate's decode of the lowest-id event stream into `Events`.
fn aedat_crate(path: &Path) -> Result<usize> {
    let decoder = aedat::base::Decoder::new_from_file(path)?;
    let stream = *decoder
        .id_to_stream
        .iter()
        .filter(|(_, s)| matches!(s.content, aedat::base::StreamContent::Events))
        .map(|(id, _)| id)
        .min()
        .context("no event stream")?;
    let mut out = Events::new();
    for packet in decoder {
        let packet = packet?;
        if packet.stream_id != stream {
            continue;
        }
        let evts = aedat::events_generated::size_prefixed_root_as_event_packet(&packet.buffer)?;
        for e in evts.elements().unwrap_or_default() {
            out.push(e.t(), e.x() as u16, e.y() as u16, e.on() as u8);
        }
    }
    Ok(out.len())
}

/// Walks and decompresses every packet of `path` without parsing events: the time any decoder
/// built on the same liblz4 / libzstd calls must spend at least.
fn decompress_only(path: &Path, raw: &DecodeOptions) -> Result<usize> {
    let bytes = std::fs::read(path)?;
    let size = bytes.len();
    let mut reader = decode::aedat4::Aedat4Reader::new(path, bytes, raw)?;
    reader.set_decompress_only(true);
    let mut sink = Events::new();
    while reader.read_packet(&mut sink)? {}
    Ok(size)
}

/// Prints the decompression floor next to the aedat crate's time.
fn print_floor(floor: Duration, theirs: Duration, ours: Duration) {
    println!(
        "{:<34} decompress only {:>7.3} s = {:>3.0} % of ours; aedat crate / decompress only = {:>4.1}x (the most any decoder on these libraries can beat it by)",
        "",
        floor.as_secs_f64(),
        100.0 * floor.as_secs_f64() / ours.as_secs_f64(),
        theirs.as_secs_f64() / floor.as_secs_f64()
    );
}

fn main() -> Result<()> {
    let args = parse_args()?;
    let _ = ONLY.set(args.only.clone());
    // As the dvs-ingest binary does: keep freed blocks below 32 MiB in the heap.
    dvs_frames::allocator::retain_large_buffers();
    let raw = DecodeOptions {
        orientation: Orientation::Raw,
        ..DecodeOptions::default()
    };
    println!("decode-bench: single thread, best of {} runs", args.repeat);
    if !args.files.is_empty() {
        for path in &args.files {
            let format = Format::detect_file(path)?;
            let bytes = std::fs::read(path)?;
            bench_memory(
                &path.display().to_string(),
                path,
                &bytes,
                format,
                &DecodeOptions::default(),
                args.repeat,
            )?;
        }
        return Ok(());
    }
    let n = args.events;
    let events = noise::uniform_events(n, 42, 1_589_163_840_000_000);
    let gesture_like = noise::uniform_events(n, 43, 12_000_000);

    let a31 = aedat31::encode_stream("2017-01-01 00:00:00", &gesture_like, 4096);
    // Machine calibration: copying the input once (the 2-core sandbox is shared,
    // so absolute numbers vary run to run; compare decoders against this).
    let mut copy = Vec::with_capacity(a31.len());
    let (d, _) = best(args.repeat, || {
        copy.clear();
        copy.extend_from_slice(&a31);
        Ok(copy.len())
    })?;
    println!(
        "{:<34} {:>11} bytes  {:>8.0} MB/s (memcpy of the AEDAT 3.1 input, reused buffer)",
        "calibration",
        a31.len(),
        a31.len() as f64 / d.as_secs_f64() / 1e6
    );
    drop(copy);
    bench_memory(
        "AEDAT 3.1 (4096 ev/packet)",
        Path::new("synth.aedat"),
        &a31,
        Format::Aedat31,
        &raw,
        args.repeat,
    )?;
    drop(a31);
    // One external-event record every 10 000 events, as the decoder meets them in CIFAR10-DVS.
    let externals: Vec<aedat2::ExternalRecord> = (10_000..gesture_like.len())
        .step_by(10_000)
        .map(|i| aedat2::ExternalRecord {
            before_event: i,
            address: aedat2::EXTERNAL_BIT,
            timestamp: aedat2::timestamp(gesture_like[i].t),
        })
        .collect();
    let a2 = aedat2::encode("Thu Dec 22 14:42:53 CST 2016", &gesture_like, &externals);
    bench_memory(
        "AEDAT 2.0 raw orientation",
        Path::new("synth.aedat"),
        &a2,
        Format::Aedat2,
        &raw,
        args.repeat,
    )?;
    bench_memory(
        "AEDAT 2.0 spikingjelly orientation",
        Path::new("synth.aedat"),
        &a2,
        Format::Aedat2,
        &DecodeOptions::default(),
        args.repeat,
    )?;
    drop(a2);

    // ATIS .bin on the N-MNIST sensor, with the overflow records long recordings need.
    let nmnist: Vec<dvs_fixtures::Event> = gesture_like
        .iter()
        .map(|e| dvs_fixtures::Event {
            x: e.x % 34,
            y: e.y % 34,
            ..*e
        })
        .collect();
    let bin = atis::encode_auto(&nmnist);
    bench_memory(
        "ATIS .bin (N-MNIST 34x34)",
        Path::new("synth.bin"),
        &bin,
        Format::AtisBin,
        &raw,
        args.repeat,
    )?;
    drop(bin);
    for (k, layout) in npy::NpyLayout::catalogue().iter().enumerate().take(3) {
        let label = format!(".npy structured layout {k}");
        if !selected(&label) {
            continue;
        }
        let bytes = npy::encode(&gesture_like, layout);
        bench_memory(
            &label,
            Path::new("synth.npy"),
            &bytes,
            Format::Npy,
            &raw,
            args.repeat,
        )?;
    }
    drop(nmnist);

    // Prophesee on a 1280x720 sensor: row bursts (EVT 3.0 vector groups), a trigger and an
    // OTHERS word every 1000 events; DAT keeps the events whose time fits its u32.
    let bursts = prophesee::burst_events(4_000_000, 7, 1280, 720, 0);
    let raw_options = prophesee::RawOptions {
        header: prophesee::RawHeader::Format,
        extras_every: 1000,
    };
    for (label, name, format, bytes) in [
        (
            "Prophesee EVT 2.0 (1280x720)",
            "synth-evt2.raw",
            Format::Evt2,
            prophesee::encode_evt2(&bursts, 1280, 720, &raw_options),
        ),
        (
            "Prophesee EVT 3.0 (1280x720)",
            "synth-evt3.raw",
            Format::Evt3,
            prophesee::encode_evt3(&bursts, 1280, 720, &raw_options),
        ),
        (
            "Prophesee DAT (1280x720)",
            "synth.dat",
            Format::Dat,
            prophesee::encode_dat(
                &bursts
                    .iter()
                    .copied()
                    .filter(|e| e.t <= u32::MAX as i64)
                    .collect::<Vec<_>>(),
                1280,
                720,
            ),
        ),
    ] {
        bench_memory(label, Path::new(name), &bytes, format, &raw, args.repeat)?;
    }
    drop(bursts);

    let dir = tempfile::tempdir()?;
    println!("\nAEDAT 4.0: ours vs the aedat crate (both from the file, into SoA events)");
    for per_packet in [300usize, 5000] {
        for (compression, cname) in [
            (PacketCompression::None, "none"),
            (PacketCompression::Lz4, "lz4"),
            (PacketCompression::Zstd, "zstd-3"),
        ] {
            let label = format!("AEDAT 4 {cname}, {per_packet} ev/packet");
            if !selected(&label) {
                continue;
            }
            let bytes = aedat4::encode_stream(compression, &events, per_packet, &[]);
            let path = dir.path().join(format!("{cname}-{per_packet}.aedat4"));
            std::fs::write(&path, &bytes)?;
            bench_memory(&label, &path, &bytes, Format::Aedat4, &raw, args.repeat)?;
            let (ours, n_ours) = best(args.repeat, || {
                Ok(decode::read_all(&path, Format::Aedat4, &raw)?.len())
            })?;
            let (theirs, n_theirs) = best(args.repeat, || aedat_crate(&path))?;
            if n_ours != n_theirs {
                bail!("{label}: ours decoded {n_ours} events, the aedat crate {n_theirs}");
            }
            println!(
                "{:<34} ours(file) {:>8.1} M ev/s  aedat crate {:>8.1} M ev/s  speed-up {:>5.1}x",
                "",
                rate(n_ours, ours),
                rate(n_theirs, theirs),
                theirs.as_secs_f64() / ours.as_secs_f64()
            );
            if compression != PacketCompression::None {
                let (floor, _) = best(args.repeat, || decompress_only(&path, &raw))?;
                print_floor(floor, theirs, ours);
            }
            std::fs::remove_file(&path)?;
        }
    }

    // Recording-sized files (CIFAR10-DVS: ~100k events each), as an ingest
    // reads them: one file at a time, buffers recycled by the allocator.
    let per_file = 100_000.min(n.max(1));
    let files = (n / per_file).max(1);
    println!(
        "\nAEDAT 4.0, {files} files x {per_file} events, 5000 ev/packet: ours vs the aedat crate, from the files"
    );
    for (compression, cname) in [
        (PacketCompression::None, "none"),
        (PacketCompression::Lz4, "lz4"),
        (PacketCompression::Zstd, "zstd-3"),
    ] {
        let label = format!("AEDAT 4 {cname}, {files} files");
        if !selected(&label) {
            continue;
        }
        let mut paths = Vec::with_capacity(files);
        for f in 0..files {
            let part = &events[f * per_file..((f + 1) * per_file).min(n)];
            let bytes = aedat4::encode_stream(compression, part, 5000, &[]);
            let path = dir.path().join(format!("{cname}-{f}.aedat4"));
            std::fs::write(&path, &bytes)?;
            paths.push(path);
        }
        let (ours, n_ours) = best(args.repeat, || {
            let mut total = 0;
            for path in &paths {
                total += decode::read_all(path, Format::Aedat4, &raw)?.len();
            }
            Ok(total)
        })?;
        let (theirs, n_theirs) = best(args.repeat, || {
            let mut total = 0;
            for path in &paths {
                total += aedat_crate(path)?;
            }
            Ok(total)
        })?;
        if n_ours != n_theirs {
            bail!("{label}: ours decoded {n_ours} events, the aedat crate {n_theirs}");
        }
        println!(
            "{label:<34} ours(files) {:>7.1} M ev/s  aedat crate {:>8.1} M ev/s  speed-up {:>5.1}x",
            rate(n_ours, ours),
            rate(n_theirs, theirs),
            theirs.as_secs_f64() / ours.as_secs_f64()
        );
        if compression != PacketCompression::None {
            let (floor, _) = best(args.repeat, || {
                let mut total = 0;
                for path in &paths {
                    total += decompress_only(path, &raw)?;
                }
                Ok(total)
            })?;
            print_floor(floor, theirs, ours);
        }
        for path in &paths {
            std::fs::remove_file(path)?;
        }
    }
    Ok(())
}
