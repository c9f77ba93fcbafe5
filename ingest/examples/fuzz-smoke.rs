//! Bounded fuzz smoke run on stable Rust: drives the bodies of the four
//! `cargo fuzz` targets (`dvs_decode_fuzz`, in `ingest/fuzz`) with seeded random
//! mutations of valid seed files, for a fixed number of iterations per
//! target. Unlike libFuzzer there is no coverage feedback; what it checks is
//! the same: no panic, no hang (slowest case reported), and no allocation
//! larger than what the input can physically expand to (a counting global
//! allocator fails the run when one request exceeds 64 MiB + 32768 x the
//! input size, the largest expansion a zstd frame allows).
//!
//! Run: `cargo run --release -p dvs-ingest --example fuzz-smoke -- [--iterations N] [--hdf5-iterations M] [--seed S]`
//! Seeds: synthetic files from the dvs-fixtures encoders (every format and
//! AEDAT 4 compression) plus every file under `shared/fixtures/events` of a
//! matching format. A failing input is written to `fuzz-smoke-failure-<target>.bin`.

/// The fuzz-target bodies, compiled from the fuzz crate's source (that crate stays outside the
/// workspace; see `ingest/fuzz/Cargo.toml`).
#[path = "../fuzz/src/lib.rs"]
mod dvs_decode_fuzz;

use std::alloc::{GlobalAlloc, Layout, System};
use std::panic::AssertUnwindSafe;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use dvs_decode::Format;
use dvs_decode_fuzz::{
    check_aedat4_streams, check_hdf5, check_hdf5_events, check_npy_units, check_stream, mutate,
};
use dvs_fixtures::aedat4::{PacketCompression, Trigger};
use dvs_fixtures::rng::SplitMix64;
use dvs_fixtures::{aedat2, aedat31, aedat4, atis, noise, npy, prophesee};

/// Largest single allocation request since the last reset.
static LARGEST_ALLOCATION: AtomicUsize = AtomicUsize::new(0);

struct CountingAllocator;

// SAFETY: every call is forwarded unchanged to the system allocator; the
// wrapper only records the requested size.
unsafe impl GlobalAlloc for CountingAllocator {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        LARGEST_ALLOCATION.fetch_max(layout.size(), Ordering::Relaxed);
        // SAFETY: same layout contract as the caller's.
        unsafe { System.alloc(layout) }
    }
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        LARGEST_ALLOCATION.fetch_max(layout.size(), Ordering::Relaxed);
        // SAFETY: same layout contract as the caller's.
        unsafe { System.alloc_zeroed(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: `ptr` came from `System` with this layout.
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        LARGEST_ALLOCATION.fetch_max(new_size, Ordering::Relaxed);
        // SAFETY: `ptr` came from `System` with `layout`.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static ALLOCATOR: CountingAllocator = CountingAllocator;

struct Args {
    iterations: usize,
    hdf5_iterations: usize,
    seed: u64,
}

fn parse_args() -> Result<Args> {
    let mut args = Args {
        iterations: 100_000,
        hdf5_iterations: 300,
        seed: 1,
    };
    let mut it = std::env::args().skip(1);
    while let Some(a) = it.next() {
        match a.as_str() {
            "--iterations" => args.iterations = it.next().context("--iterations N")?.parse()?,
            "--hdf5-iterations" => {
                args.hdf5_iterations = it.next().context("--hdf5-iterations M")?.parse()?
            }
            "--seed" => args.seed = it.next().context("--seed S")?.parse()?,
            "-h" | "--help" => {
                println!("fuzz-smoke [--iterations N] [--hdf5-iterations M] [--seed S]");
                std::process::exit(0);
            }
            other => bail!("unknown argument {other}"),
        }
    }
    Ok(args)
}

/// Every file under `dir` (recursively), sorted.
fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&d) else {
            continue;
        };
        for e in entries.filter_map(|e| e.ok()) {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else {
                out.push(p);
            }
        }
    }
    out.sort();
    out
}

/// What a fuzz target's body decodes.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Body {
    /// `check_stream` of one stream format.
    Stream(Format),
    /// `check_hdf5` (DECOLLE samples, via a file).
    Hdf5Samples,
    /// `check_hdf5_events` (`events/{x,y,t,p}`, via a file).
    Hdf5Events,
    /// `check_aedat4_streams` (every stream choice).
    Aedat4Streams,
    /// `check_npy_units` (every time unit).
    NpyUnits,
}

/// One fuzz target: its name, its body and its seed inputs.
type Target = (&'static str, Body, Vec<Vec<u8>>);

/// Seed inputs per target: synthetic files plus matching fixture files.
fn seeds(fixtures: &[PathBuf]) -> Vec<Target> {
    let events = noise::uniform_events(3000, 7, 1_589_163_840_000_000);
    let short_times = noise::uniform_events(3000, 7, 1_000);
    let externals: Vec<aedat2::ExternalRecord> = (500..short_times.len())
        .step_by(500)
        .map(|i| aedat2::ExternalRecord {
            before_event: i,
            address: aedat2::EXTERNAL_BIT,
            timestamp: aedat2::timestamp(short_times[i].t),
        })
        .collect();
    let mut aedat2 = vec![aedat2::encode("seed", &short_times, &externals)];
    let mut aedat31 = vec![aedat31::encode_stream("seed", &events, 256)];
    let triggers = [Trigger {
        timestamp: events[0].t,
        kind: 2,
    }];
    let mut aedat4 = Vec::new();
    for compression in [
        PacketCompression::None,
        PacketCompression::Lz4,
        PacketCompression::Lz4Linked,
        PacketCompression::Zstd,
    ] {
        aedat4.push(aedat4::encode_stream(compression, &events, 700, &triggers));
    }
    let nmnist: Vec<_> = short_times
        .iter()
        .map(|e| dvs_fixtures::Event {
            // Room for the four overflow records below (stored times stay >= 0).
            t: e.t + 4 * atis::OVERFLOW_INCREMENT_US,
            x: e.x % 34,
            y: e.y % 34,
            ..*e
        })
        .collect();
    let atis_bin = vec![atis::encode(&nmnist, &[0, 700, 700, 2999])];
    let mut npy_seeds: Vec<Vec<u8>> = npy::NpyLayout::catalogue()
        .iter()
        .map(|layout| npy::encode(&nmnist[..500], layout))
        .collect();
    npy_seeds.push(npy::encode(
        &nmnist[..500],
        &npy::NpyLayout::plain("<i4", ['x', 'y', 'p', 't']),
    ));
    // Prophesee: bursts (vector groups) with trigger / OTHERS words interleaved, both headers.
    let bursts = prophesee::burst_events(2000, 5, 640, 480, 0);
    let interleaved = prophesee::RawOptions {
        header: prophesee::RawHeader::Format,
        extras_every: 50,
    };
    let legacy = prophesee::RawOptions {
        header: prophesee::RawHeader::Legacy,
        extras_every: 0,
    };
    let evt2_seeds: Vec<Vec<u8>> = [interleaved, legacy]
        .iter()
        .map(|o| prophesee::encode_evt2(&bursts, 640, 480, o))
        .collect();
    let evt3_seeds: Vec<Vec<u8>> = [interleaved, legacy]
        .iter()
        .map(|o| prophesee::encode_evt3(&bursts, 640, 480, o))
        .collect();
    let dat_seeds = vec![prophesee::encode_dat(&bursts, 640, 480)];
    // Issue 13: multi-stream AEDAT 4, float `.npy`, HDF5 event streams.
    let multi: Vec<Vec<u8>> = [PacketCompression::Lz4, PacketCompression::Zstd]
        .into_iter()
        .map(|compression| {
            let spec = aedat4::MultiStreamSpec {
                compression,
                source: "DAVIS346",
                width: 346,
                height: 260,
                events: 2000,
                per_packet: 400,
                seed: 3,
            };
            aedat4::multi_stream_file(&spec).0
        })
        .collect();
    let mut float_layout =
        npy::NpyLayout::structured(&[("t", "<f8"), ("x", "<f4"), ("y", "<f4"), ("p", "<f4")]);
    float_layout.time_divisor = 1_000_000;
    let npy_float = vec![
        npy::encode(&nmnist[..500], &float_layout),
        npy::encode(
            &nmnist[..500],
            &npy::NpyLayout::plain("<f8", ['x', 'y', 'p', 't']),
        ),
    ];
    let h5_dir = std::env::temp_dir().join(format!("fuzz-smoke-seeds-{}", std::process::id()));
    let mut hdf5_events = Vec::new();
    for (k, layout) in dvs_fixtures::hdf5_events::H5EventsLayout::catalogue()
        .iter()
        .enumerate()
    {
        let path = h5_dir.join(format!("seed{k}.h5"));
        let _ = std::fs::create_dir_all(&h5_dir);
        if dvs_fixtures::hdf5_events::write_events_h5(&path, &bursts[..300], layout).is_ok() {
            hdf5_events.extend(std::fs::read(&path));
        }
    }
    let _ = std::fs::remove_dir_all(&h5_dir);
    let mut hdf5 = Vec::new();
    for path in fixtures {
        let Ok(bytes) = std::fs::read(path) else {
            continue;
        };
        match Format::detect(path, &bytes[..bytes.len().min(16)]) {
            Some(Format::Aedat2) => aedat2.push(bytes),
            Some(Format::Aedat31) => aedat31.push(bytes),
            Some(Format::Aedat4) => aedat4.push(bytes),
            Some(Format::Hdf5) => hdf5.push(bytes),
            // Other formats' seeds are synthetic only.
            _ => {}
        }
    }
    vec![
        ("aedat2", Body::Stream(Format::Aedat2), aedat2),
        ("aedat31", Body::Stream(Format::Aedat31), aedat31),
        ("aedat4", Body::Stream(Format::Aedat4), aedat4),
        ("atis_bin", Body::Stream(Format::AtisBin), atis_bin),
        ("npy", Body::Stream(Format::Npy), npy_seeds),
        ("evt2", Body::Stream(Format::Evt2), evt2_seeds),
        ("evt3", Body::Stream(Format::Evt3), evt3_seeds),
        ("dat", Body::Stream(Format::Dat), dat_seeds),
        ("hdf5", Body::Hdf5Samples, hdf5),
        ("aedat4_streams", Body::Aedat4Streams, multi),
        ("npy_float", Body::NpyUnits, npy_float),
        ("hdf5_events", Body::Hdf5Events, hdf5_events),
    ]
}

fn main() -> Result<()> {
    let args = parse_args()?;
    let fixture_dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/fixtures/events");
    let fixtures = files_under(&fixture_dir);
    if fixtures.is_empty() {
        bail!("no fixture files under {}", fixture_dir.display());
    }
    let h5_path = std::env::temp_dir().join(format!("fuzz-smoke-{}.h5", std::process::id()));
    println!(
        "fuzz-smoke: seed {}, {} iterations per AEDAT target, {} for HDF5; {} fixture files",
        args.seed,
        args.iterations,
        args.hdf5_iterations,
        fixtures.len()
    );
    let mut failed = false;
    for (target, format, corpus) in seeds(&fixtures) {
        if corpus.is_empty() {
            bail!("{target}: no seed inputs");
        }
        let iterations = match format {
            Body::Hdf5Samples | Body::Hdf5Events => args.hdf5_iterations,
            _ => args.iterations,
        };
        let mut rng = SplitMix64::new(args.seed ^ target_seed(target));
        let (mut decoded_ok, mut slowest, mut largest) = (0usize, Duration::ZERO, 0usize);
        let started = Instant::now();
        for i in 0..iterations {
            let mut input = vec![rng.next_u64() as u8];
            input.extend_from_slice(&corpus[rng.below(corpus.len())]);
            mutate(&mut input, |n| rng.below(n));
            LARGEST_ALLOCATION.store(0, Ordering::Relaxed);
            let case_start = Instant::now();
            let outcome = std::panic::catch_unwind(AssertUnwindSafe(|| match format {
                Body::Stream(f) => check_stream(f, &input) > 0,
                Body::Hdf5Samples => check_hdf5(&h5_path, input.get(1..).unwrap_or_default()),
                Body::Hdf5Events => {
                    check_hdf5_events(&h5_path, input.get(1..).unwrap_or_default()) > 0
                }
                Body::Aedat4Streams => check_aedat4_streams(&input) > 0,
                Body::NpyUnits => check_npy_units(&input) > 0,
            }));
            let elapsed = case_start.elapsed();
            slowest = slowest.max(elapsed);
            let allocation = LARGEST_ALLOCATION.load(Ordering::Relaxed);
            largest = largest.max(allocation);
            let limit = (64usize << 20).saturating_add(input.len().saturating_mul(32 * 1024));
            let problem = match outcome {
                Err(_) => Some("panicked".to_string()),
                Ok(_) if allocation > limit => Some(format!(
                    "allocated {allocation} bytes at once for a {}-byte input",
                    input.len()
                )),
                Ok(ok) => {
                    decoded_ok += usize::from(ok);
                    None
                }
            };
            if let Some(problem) = problem {
                let out = PathBuf::from(format!("fuzz-smoke-failure-{target}.bin"));
                std::fs::write(&out, &input)?;
                println!(
                    "{target}: iteration {i}: {problem}; input saved to {}",
                    out.display()
                );
                failed = true;
                break;
            }
        }
        println!(
            "{target:<14} {iterations:>7} cases from {:>2} seeds in {:>6.2} s: {decoded_ok} decoded without error, slowest case {:.2} ms, largest allocation {:.1} MiB",
            corpus.len(),
            started.elapsed().as_secs_f64(),
            slowest.as_secs_f64() * 1e3,
            largest as f64 / (1 << 20) as f64,
        );
    }
    let _ = std::fs::remove_file(&h5_path);
    if failed {
        bail!("fuzz-smoke found a failure");
    }
    Ok(())
}

/// A fixed per-target seed offset (FNV-1a of the name).
fn target_seed(name: &str) -> u64 {
    name.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    })
}
