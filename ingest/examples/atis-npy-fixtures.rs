//! Writes ATIS `.bin` and `.npy` fixture files (dvs-fixtures encoders) and, next to each, what
//! dvs-decode decodes from it (`<file>.ours.npy`, structured `t <i8, x <u2, y <u2, p |u1`),
//! plus `manifest.tsv` (file, format, decode options), for `scripts/crosscheck_npy_atis.py`
//! to compare against numpy's `np.load` and tonic's `read_mnist_file`.
//!
//! Run: `cargo run --release -p dvs-ingest --example atis-npy-fixtures -- OUT_DIR`

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use dvs_decode::{read_all_bytes, AtisSensor, DecodeOptions, Events, Format, NpyColumns, TimeUnit};
use dvs_fixtures::npy::NpyLayout;
use dvs_fixtures::{atis, noise, npy, Event};

fn to_fixture_events(ev: &Events) -> Vec<Event> {
    (0..ev.len())
        .map(|i| Event {
            t: ev.t[i],
            x: ev.x[i],
            y: ev.y[i],
            on: ev.p[i] == 1,
        })
        .collect()
}

fn write_case(
    dir: &Path,
    manifest: &mut String,
    file: &str,
    bytes: &[u8],
    format: Format,
    options: DecodeOptions,
    note: &str,
) -> Result<()> {
    let path = dir.join(file);
    std::fs::write(&path, bytes)?;
    let ours = read_all_bytes(&path, bytes, format, &options)?;
    let layout = NpyLayout::structured(&[("t", "<i8"), ("x", "<u2"), ("y", "<u2"), ("p", "|u1")]);
    std::fs::write(
        dir.join(format!("{file}.ours.npy")),
        npy::encode(&to_fixture_events(&ours), &layout),
    )?;
    writeln!(
        manifest,
        "{file}\t{}\t{note}\t{}",
        format.name(),
        ours.len()
    )?;
    Ok(())
}

fn main() -> Result<()> {
    let dir = PathBuf::from(
        std::env::args()
            .nth(1)
            .context("usage: atis-npy-fixtures OUT_DIR")?,
    );
    std::fs::create_dir_all(&dir)?;
    let mut manifest = String::new();
    let nmnist = |n: usize, seed: u64, t0: i64| -> Vec<Event> {
        noise::uniform_events(n, seed, t0)
            .into_iter()
            .map(|e| Event {
                x: e.x % 34,
                y: e.y % 34,
                ..e
            })
            .collect()
    };
    for (n, seed) in [(0usize, 1u64), (1, 2), (5000, 3), (60_000, 4)] {
        let evs = nmnist(n, seed, 100_000);
        let overflows: Vec<usize> = (0..n).step_by(7000).collect();
        let bytes = atis::encode(&evs, &overflows);
        let file = format!("nmnist_{n}_{seed}.bin");
        write_case(
            &dir,
            &mut manifest,
            &file,
            &bytes,
            Format::AtisBin,
            DecodeOptions::default(),
            "nmnist",
        )?;
    }
    // Past 23 bits: overflow records carry the time.
    let long: Vec<Event> = nmnist(100_000, 5, (1 << 23) - 50_000)
        .into_iter()
        .map(|e| Event { t: e.t * 2, ..e })
        .collect();
    let bytes = atis::encode_auto(&long);
    write_case(
        &dir,
        &mut manifest,
        "nmnist_long.bin",
        &bytes,
        Format::AtisBin,
        DecodeOptions::default(),
        "nmnist",
    )?;
    let caltech: Vec<Event> = noise::uniform_events(20_000, 6, 0)
        .into_iter()
        .map(|e| Event {
            x: (e.x * 2 + 1) % 240,
            y: e.y % 180,
            ..e
        })
        .collect();
    let options = DecodeOptions {
        atis_sensor: AtisSensor::FormatBounds,
        ..DecodeOptions::default()
    };
    write_case(
        &dir,
        &mut manifest,
        "caltech.bin",
        &atis::encode(&caltech, &[]),
        Format::AtisBin,
        options,
        "format-bounds",
    )?;

    for (k, layout) in NpyLayout::catalogue().iter().enumerate() {
        for (n, seed) in [(0usize, 10u64), (1, 11), (20_000, 12)] {
            let evs = noise::uniform_events(n, seed + k as u64, 1_000);
            let file = format!("structured{k}_{n}.npy");
            write_case(
                &dir,
                &mut manifest,
                &file,
                &npy::encode(&evs, layout),
                Format::Npy,
                DecodeOptions::default(),
                "named",
            )?;
        }
    }
    // tonic's preconverted DVS Gesture shape: plain (N, 4) x, y, p, t in ms.
    let evs: Vec<Event> = noise::uniform_events(10_000, 13, 0)
        .into_iter()
        .map(|e| Event { t: e.t * 1000, ..e })
        .collect();
    let mut layout = NpyLayout::plain("<i8", ['x', 'y', 'p', 't']);
    layout.time_divisor = 1000;
    let options = DecodeOptions {
        npy_columns: NpyColumns::Xypt,
        npy_time_unit: TimeUnit::Milliseconds,
        ..DecodeOptions::default()
    };
    write_case(
        &dir,
        &mut manifest,
        "plain_xypt_ms.npy",
        &npy::encode(&evs, &layout),
        Format::Npy,
        options,
        "xypt-ms",
    )?;
    let mut layout = NpyLayout::plain("<u4", ['t', 'x', 'y', 'p']);
    layout.fortran_order = true;
    let options = DecodeOptions {
        npy_columns: NpyColumns::Txyp,
        ..DecodeOptions::default()
    };
    let evs = noise::uniform_events(10_000, 14, 0);
    write_case(
        &dir,
        &mut manifest,
        "plain_txyp_fortran.npy",
        &npy::encode(&evs, &layout),
        Format::Npy,
        options,
        "txyp-us",
    )?;
    // Float columns: t as float seconds (f8) with f4 x, y, p; t as float µs; tonic's plain
    // x, y, p, t shape as float64 with t in ms.
    let evs = noise::uniform_events(20_000, 15, 1_000);
    let mut seconds =
        NpyLayout::structured(&[("t", "<f8"), ("x", "<f4"), ("y", "<f4"), ("p", "<f4")]);
    seconds.time_divisor = 1_000_000;
    let float_cases = [
        (
            "float_seconds.npy",
            seconds,
            TimeUnit::Seconds,
            NpyColumns::Named,
            "named-s",
        ),
        (
            "float_us.npy",
            NpyLayout::structured(&[("x", "<i2"), ("y", "<i2"), ("p", "|u1"), ("t", ">f8")]),
            TimeUnit::Microseconds,
            NpyColumns::Named,
            "named",
        ),
        (
            "plain_xypt_ms_float.npy",
            NpyLayout {
                time_divisor: 1000,
                ..NpyLayout::plain("<f8", ['x', 'y', 'p', 't'])
            },
            TimeUnit::Milliseconds,
            NpyColumns::Xypt,
            "xypt-ms",
        ),
    ];
    for (file, layout, unit, columns, note) in float_cases {
        let options = DecodeOptions {
            npy_columns: columns,
            npy_time_unit: unit,
            ..DecodeOptions::default()
        };
        let bytes = npy::encode(&evs, &layout);
        write_case(
            &dir,
            &mut manifest,
            file,
            &bytes,
            Format::Npy,
            options,
            note,
        )?;
    }
    std::fs::write(dir.join("manifest.tsv"), manifest)?;
    println!("wrote fixtures and decodes to {}", dir.display());
    Ok(())
}
