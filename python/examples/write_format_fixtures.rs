//! Writes one recording per format dvs-decode reads, with the dvs-fixtures encoders, and next
//! to each `<file>.rust.npy`: what the Rust decoders return for it (default options; structured
//! `t <i8, x <u2, y <u2, p |u1`). `python/tests/test_events.py` checks that
//! `spiketrain.read_events` returns exactly these events for every file of the folder.
//!
//! Run: `cargo run --release -p spiketrain-python --example write_format_fixtures -- OUT_DIR [EVENTS]`
//! (EVENTS per DVS128 file, default 3000; the Prophesee files get 4/3 and ATIS 2/3 of it;
//! `scripts/bench_python_loader.py` uses large counts).

use std::path::Path;

use anyhow::{Context, Result};
use dvs_decode::{read_all, DecodeOptions, Events, Format};
use dvs_fixtures::aedat4::PacketCompression;
use dvs_fixtures::hdf5_events::{self, H5EventsLayout};
use dvs_fixtures::npy::NpyLayout;
use dvs_fixtures::prophesee::{burst_events, encode_dat, encode_evt2, encode_evt3, RawOptions};
use dvs_fixtures::{aedat2, aedat31, aedat4, atis, npy, Event};

/// The Rust decoders' events as a structured `.npy` (the fixtures crate's npy encoder).
fn decoded_npy(events: &Events) -> Vec<u8> {
    let as_fixture: Vec<Event> = (0..events.len())
        .map(|i| Event {
            t: events.t[i],
            x: events.x[i],
            y: events.y[i],
            on: events.p[i] != 0,
        })
        .collect();
    let layout = NpyLayout::structured(&[("t", "<i8"), ("x", "<u2"), ("y", "<u2"), ("p", "|u1")]);
    npy::encode(&as_fixture, &layout)
}

fn write_case(dir: &Path, name: &str, bytes: Vec<u8>) -> Result<()> {
    let path = dir.join(name);
    std::fs::write(&path, bytes).with_context(|| format!("writing {}", path.display()))?;
    write_decoded(dir, name)
}

/// `<name>.rust.npy`: what dvs-decode returns for `dir/name`.
fn write_decoded(dir: &Path, name: &str) -> Result<()> {
    let path = dir.join(name);
    let format = Format::detect_file(&path)?;
    let events = read_all(&path, format, &DecodeOptions::default())?;
    let out = dir.join(format!("{name}.rust.npy"));
    std::fs::write(&out, decoded_npy(&events))
        .with_context(|| format!("writing {}", out.display()))?;
    println!("{name}\t{format}\t{} events", events.len());
    Ok(())
}

fn main() -> Result<()> {
    let dir = std::env::args_os()
        .nth(1)
        .context("usage: write_format_fixtures OUT_DIR [EVENTS]")?;
    let dir = Path::new(&dir);
    let events: usize = match std::env::args().nth(2) {
        Some(n) => n.parse().context("EVENTS must be a count")?,
        None => 3000,
    };
    std::fs::create_dir_all(dir)?;
    let dvs128 = burst_events(events, 11, 128, 128, 1_000);
    // AEDAT 2.0, DAT and DSEC HDF5 store 32-bit timestamps, which large counts outgrow (the
    // generator's long gaps): their files get the same events on a compressed time axis.
    write_case(
        dir,
        "cifar.aedat",
        aedat2::encode("2026-01-01", &fit_32bit_time(&dvs128), &[]),
    )?;
    write_case(
        dir,
        "gesture.aedat",
        aedat31::encode_stream("2026-01-01", &dvs128, 700),
    )?;
    for (compression, name) in [
        (PacketCompression::None, "none.aedat4"),
        (PacketCompression::Lz4, "lz4.aedat4"),
        (PacketCompression::Zstd, "zstd.aedat4"),
    ] {
        let bytes = aedat4::encode_stream(compression, &dvs128, 500, &[]);
        write_case(dir, name, bytes)?;
    }
    let nmnist = burst_events(events * 2 / 3, 12, 34, 34, 0);
    write_case(dir, "nmnist.bin", atis::encode_auto(&nmnist))?;
    let layout = NpyLayout::structured(&[("t", "<i8"), ("x", "<u2"), ("y", "<u2"), ("p", "|u1")]);
    write_case(dir, "events.npy", npy::encode(&dvs128, &layout))?;
    // HDF5 event streams (DSEC layout: 32-bit time after `t_offset`) are written by libhdf5,
    // by path.
    hdf5_events::write_events_h5(
        &dir.join("dsec.h5"),
        &fit_32bit_time(&dvs128),
        &H5EventsLayout::dsec(),
    )?;
    write_decoded(dir, "dsec.h5")?;
    let gen3 = burst_events(events * 4 / 3, 13, 640, 480, 0);
    write_case(
        dir,
        "gen3.raw",
        encode_evt2(&gen3, 640, 480, &RawOptions::default()),
    )?;
    write_case(
        dir,
        "gen4.raw",
        encode_evt3(&gen3, 640, 480, &RawOptions::default()),
    )?;
    write_case(
        dir,
        "gen1.dat",
        encode_dat(&fit_32bit_time(&gen3), 640, 480),
    )?;
    Ok(())
}

/// `events` unchanged if their time fits in 32 bits, else with every `t` scaled by one factor
/// so the last one is `u32::MAX` (monotone, so the order and equal times are kept).
fn fit_32bit_time(events: &[Event]) -> Vec<Event> {
    let last = events.last().map_or(0, |e| e.t);
    let max = i64::from(u32::MAX);
    if last <= max {
        return events.to_vec();
    }
    events
        .iter()
        .map(|e| Event {
            t: (i128::from(e.t) * i128::from(max) / i128::from(last)) as i64,
            ..*e
        })
        .collect()
}
