//! Issue 13's cross-format decoder rules, on files written by the dvs-fixtures encoders:
//! `.npy` float columns and unsupported dtypes, HDF5 `events/{x,y,t,p}` streams (DSEC,
//! chunked + gzip, top level; an unavailable filter such as ECF is refused by name), events
//! outside the sensor (the file's declaration, and `DecodeOptions::sensor` on every format) and
//! time going backwards (`TimeOrder`) on every format.

use std::path::{Path, PathBuf};

use dvs_decode::{
    read_all, read_all_bytes, read_hdf5_events, AtisSensor, DecodeError, DecodeOptions, ErrorKind,
    Events, Format, NpyColumns, Orientation, TimeOrder, TimeUnit,
};
use dvs_fixtures::aedat4::PacketCompression;
use dvs_fixtures::hdf5_events::{write_events_h5, H5EventsLayout};
use dvs_fixtures::npy::NpyLayout;
use dvs_fixtures::prophesee::{encode_dat, encode_evt2, encode_evt3, RawOptions};
use dvs_fixtures::{aedat2, aedat31, aedat4, atis, noise, npy, Event};

fn columns(events: &[Event]) -> Events {
    let mut out = Events::new();
    for e in events {
        out.push(e.t, e.x, e.y, e.on as u8);
    }
    out
}

/// Every format on the 128×128 events of `events`: its bytes (HDF5: written under `dir`) and
/// the options that decode it as stored.
const FORMATS: [Format; 9] = [
    Format::Aedat2,
    Format::Aedat31,
    Format::Aedat4,
    Format::AtisBin,
    Format::Npy,
    Format::Evt2,
    Format::Evt3,
    Format::Dat,
    Format::Hdf5,
];

fn base_options() -> DecodeOptions {
    DecodeOptions {
        orientation: Orientation::Raw,
        atis_sensor: AtisSensor::Declared {
            width: 128,
            height: 128,
        },
        ..DecodeOptions::default()
    }
}

/// Decodes `events` written as `format` (in memory, or under `dir` for HDF5) with `options`.
fn round(
    format: Format,
    events: &[Event],
    options: &DecodeOptions,
    dir: &Path,
) -> Result<Events, DecodeError> {
    let name = Path::new("rec");
    let bytes = match format {
        Format::Aedat2 => aedat2::encode("Thu Dec 22 14:42:53 CST 2016", events, &[]),
        Format::Aedat31 => aedat31::encode_stream("2017-01-01 00:00:00", events, 256),
        Format::Aedat4 => aedat4::encode_stream(PacketCompression::Zstd, events, 256, &[]),
        Format::AtisBin => atis::encode(events, &[]),
        Format::Npy => npy::encode(events, &NpyLayout::catalogue()[0]),
        Format::Evt2 => encode_evt2(events, 128, 128, &RawOptions::default()),
        Format::Evt3 => encode_evt3(events, 128, 128, &RawOptions::default()),
        Format::Dat => encode_dat(events, 128, 128),
        Format::Hdf5 => {
            let path = dir.join(format!("rec-{}.h5", events.len()));
            write_events_h5(&path, events, &H5EventsLayout::dsec()).unwrap();
            return read_all(&path, format, options);
        }
    };
    read_all_bytes(name, &bytes, format, options)
}

/// 600 events on a 128×128 sensor, time non-decreasing from 640 000 µs.
fn sorted_events() -> Vec<Event> {
    noise::uniform_events(600, 21, 0)
        .into_iter()
        .enumerate()
        .map(|(k, e)| Event {
            t: 640_000 + k as i64 / 2,
            ..e
        })
        .collect()
}

#[test]
fn every_format_round_trips_and_decodes_through_the_sensor_option() {
    let dir = tempfile::tempdir().unwrap();
    let events = sorted_events();
    for format in FORMATS {
        let got = round(format, &events, &base_options(), dir.path()).unwrap();
        assert_eq!(got, columns(&events), "{format}");
        let fits = DecodeOptions {
            sensor: Some((128, 128)),
            ..base_options()
        };
        assert_eq!(
            round(format, &events, &fits, dir.path()).unwrap(),
            got,
            "{format}"
        );
        let small = DecodeOptions {
            sensor: Some((64, 64)),
            ..base_options()
        };
        let e = round(format, &events, &small, dir.path()).unwrap_err();
        let first = events.iter().position(|e| e.x >= 64 || e.y >= 64).unwrap();
        assert_eq!(e.kind, ErrorKind::Corrupt, "{format}: {e}");
        assert!(
            e.reason.contains(&format!("event {first} at"))
                && e.reason
                    .contains("outside the 64x64 sensor DecodeOptions::sensor states"),
            "{format}: {e}"
        );
    }
}

#[test]
fn time_going_backwards_is_kept_as_stored_or_a_located_error_on_every_format() {
    let dir = tempfile::tempdir().unwrap();
    let mut events = sorted_events();
    // One step back by 1 µs, inside one EVT 2.0 / EVT 3.0 time-high period (no wrap).
    events[301].t = events[300].t - 1;
    let (back, prev) = (events[301].t, events[300].t);
    for format in FORMATS {
        let kept = round(format, &events, &base_options(), dir.path()).unwrap();
        assert_eq!(kept, columns(&events), "{format}");
        let strict = DecodeOptions {
            time_order: TimeOrder::Error,
            ..base_options()
        };
        let e = round(format, &events, &strict, dir.path()).unwrap_err();
        assert_eq!(e.kind, ErrorKind::TimeOrder, "{format}: {e}");
        assert!(
            e.reason
                .contains(&format!("event 301 (t={back} us) comes after t={prev} us")),
            "{format}: {e}"
        );
        // Sorted events pass the strict policy.
        let sorted = sorted_events();
        assert_eq!(
            round(format, &sorted, &strict, dir.path()).unwrap(),
            columns(&sorted),
            "{format}"
        );
    }
}

#[test]
fn aedat31_events_outside_the_source_chip_are_errors() {
    let mut events = sorted_events();
    events[77].x = 200; // a DVS128 has 128 columns; the 15-bit field holds 200
    let bytes = aedat31::encode_stream("2017-01-01 00:00:00", &events, 256);
    let e = read_all_bytes(
        Path::new("g.aedat"),
        &bytes,
        Format::Aedat31,
        &DecodeOptions::default(),
    )
    .unwrap_err();
    assert_eq!(e.kind, ErrorKind::Corrupt);
    assert!(
        e.reason.contains("(x=200, y=") && e.reason.contains("outside the 128x128 sensor"),
        "{e}"
    );
    assert!(e.offset > 0 && (e.offset as usize) < bytes.len(), "{e}");
}

fn npy_options(unit: TimeUnit, columns: NpyColumns) -> DecodeOptions {
    DecodeOptions {
        npy_time_unit: unit,
        npy_columns: columns,
        ..DecodeOptions::default()
    }
}

#[test]
fn npy_float_columns_decode_with_the_unit_rule() {
    let events = noise::uniform_events(5000, 31, 1_000);
    let mut seconds =
        NpyLayout::structured(&[("t", "<f8"), ("x", "<f4"), ("y", "<f4"), ("p", "<f4")]);
    seconds.time_divisor = 1_000_000;
    let mut ms_plain = NpyLayout::plain("<f8", ['x', 'y', 'p', 't']);
    ms_plain.time_divisor = 1000;
    let mut fortran_f4 = NpyLayout::plain(">f4", ['t', 'x', 'y', 'p']);
    fortran_f4.fortran_order = true;
    let cases = [
        (seconds, npy_options(TimeUnit::Seconds, NpyColumns::Named)),
        (
            NpyLayout::structured(&[("p", "|i1"), ("t", ">f8"), ("x", "<u2"), ("y", "<i4")]),
            npy_options(TimeUnit::Microseconds, NpyColumns::Named),
        ),
        (
            ms_plain,
            npy_options(TimeUnit::Milliseconds, NpyColumns::Xypt),
        ),
        // f4 holds these µs exactly (t < 2^24).
        (
            fortran_f4,
            npy_options(TimeUnit::Microseconds, NpyColumns::Txyp),
        ),
    ];
    for (layout, options) in cases {
        let bytes = npy::encode(&events, &layout);
        let got = read_all_bytes(Path::new("f.npy"), &bytes, Format::Npy, &options).unwrap();
        assert_eq!(got, columns(&events), "{layout:?}");
    }
    // Float seconds read as µs are off by 10^6: the unit is stated, never guessed.
    let mut layout =
        NpyLayout::structured(&[("t", "<f8"), ("x", "<u2"), ("y", "<u2"), ("p", "|u1")]);
    layout.time_divisor = 1_000_000;
    let bytes = npy::encode(&events, &layout);
    let as_us = read_all_bytes(
        Path::new("f.npy"),
        &bytes,
        Format::Npy,
        &npy_options(TimeUnit::Microseconds, NpyColumns::Named),
    )
    .unwrap();
    assert_eq!(
        as_us.t[0], 0,
        "1000 µs stored as 0.001 s rounds to 0 when read as µs"
    );
}

#[test]
fn npy_non_whole_float_coordinates_and_unsupported_dtypes_are_located_errors() {
    let events = noise::uniform_events(10, 32, 1_000);
    let layout = NpyLayout::structured(&[("t", "<i8"), ("x", "<f8"), ("y", "<f8"), ("p", "|u1")]);
    let mut bytes = npy::encode(&events, &layout);
    // Row 3's x (after t: 8 bytes into the 25-byte row) becomes 3.5.
    let data_start = bytes.len() - 25 * events.len();
    let at = data_start + 3 * 25 + 8;
    bytes[at..at + 8].copy_from_slice(&3.5f64.to_le_bytes());
    let e = read_all_bytes(
        Path::new("f.npy"),
        &bytes,
        Format::Npy,
        &DecodeOptions::default(),
    )
    .unwrap_err();
    assert_eq!((e.kind, e.offset), (ErrorKind::Corrupt, at as u64), "{e}");
    assert!(
        e.reason.contains("row 3: x = 3.5 is not a whole number"),
        "{e}"
    );
    bytes[at..at + 8].copy_from_slice(&f64::NAN.to_le_bytes());
    let e = read_all_bytes(
        Path::new("f.npy"),
        &bytes,
        Format::Npy,
        &DecodeOptions::default(),
    )
    .unwrap_err();
    assert!(e.reason.contains("x = NaN"), "{e}");
    for ty in ["<f2", "<c8", "<M8[us]", "|S4"] {
        let layout = NpyLayout::structured(&[("t", ty), ("x", "<u2"), ("y", "<u2"), ("p", "|u1")]);
        let header_only = npy::encode(&[], &layout);
        let e = read_all_bytes(
            Path::new("f.npy"),
            &header_only,
            Format::Npy,
            &DecodeOptions::default(),
        )
        .unwrap_err();
        assert_eq!(e.kind, ErrorKind::Unsupported, "{ty}: {e}");
        assert!(
            e.reason.contains(&format!("field 't' is '{ty}'"))
                || e.reason.contains("field 't' has unsupported type"),
            "{ty}: {e}"
        );
    }
}

fn h5_path(dir: &Path, name: &str) -> PathBuf {
    dir.join(name)
}

#[test]
fn hdf5_event_groups_decode_exactly_in_every_layout() {
    let dir = tempfile::tempdir().unwrap();
    for (k, layout) in H5EventsLayout::catalogue().into_iter().enumerate() {
        for n in [0usize, 1, 40_000] {
            let events = noise::uniform_events(n, 40 + k as u64, 1_700_000_000_000_000);
            let path = h5_path(dir.path(), &format!("l{k}-{n}.h5"));
            write_events_h5(&path, &events, &layout).unwrap();
            assert_eq!(Format::detect_file(&path).unwrap(), Format::Hdf5);
            let got = read_all(&path, Format::Hdf5, &DecodeOptions::default()).unwrap();
            assert_eq!(got, columns(&events), "{layout:?} n={n}");
            assert_eq!(read_hdf5_events(&path).unwrap(), got);
        }
    }
}

/// Files whose datasets list a filter this libhdf5 lacks, written by
/// `scripts/crosscheck_hdf5.py --write-filter-fixture` (h5py; hdf5-metno refuses to write
/// them). Each name says the filter id: `<name>-<id>.h5`.
fn unavailable_filter_files() -> Vec<(PathBuf, String)> {
    let dir = PathBuf::from(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/data/hdf5-filters"
    ));
    let mut files: Vec<(PathBuf, String)> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|entry| entry.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "h5"))
        .map(|p| {
            let stem = p.file_stem().unwrap().to_string_lossy().into_owned();
            let id = stem.rsplit('-').next().unwrap().to_string();
            (p, id)
        })
        .collect();
    files.sort();
    assert!(!files.is_empty(), "no filter fixtures in {}", dir.display());
    files
}

#[test]
fn hdf5_with_an_unavailable_filter_is_an_error_naming_it() {
    for (path, id) in unavailable_filter_files() {
        let e = read_all(&path, Format::Hdf5, &DecodeOptions::default()).unwrap_err();
        assert_eq!(e.kind, ErrorKind::Unsupported, "{e}");
        assert_eq!(e.file, path);
        assert!(
            e.reason.contains("/events/t") && e.reason.contains(&format!("filter {id} (")),
            "{e}"
        );
        if id == "32034" {
            assert!(e.reason.contains("ECF"), "{e}");
        }
    }
}

#[test]
fn hdf5_without_an_event_layout_points_to_the_samples_reader() {
    let dir = tempfile::tempdir().unwrap();
    let path = h5_path(dir.path(), "garbage.h5");
    std::fs::write(&path, b"\x89HDF\r\n\x1a\nnot really").unwrap();
    let e = read_all(&path, Format::Hdf5, &DecodeOptions::default()).unwrap_err();
    assert_eq!(e.file, path);
    assert!(e.reason.contains("read_hdf5_samples"), "{e}");
    assert!(read_hdf5_events(&path).is_err());
}
