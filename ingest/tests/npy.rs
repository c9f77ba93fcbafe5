//! numpy `.npy` event decoder tests: structured arrays in several dtype layouts and field
//! orders, NPY 1.0 / 2.0 / 3.0 headers and plain `(N, 4)` arrays with a stated column order
//! (all written with the dvs-fixtures encoder) round-trip exactly; the time unit option; bad
//! headers, types, shapes, payload lengths and values give located errors; arbitrary or mutated
//! bytes never panic.

use std::path::Path;

use dvs_decode::{
    read_all_bytes, DecodeError, DecodeOptions, ErrorKind, Events, Format, NpyColumns, TimeUnit,
};
use dvs_fixtures::npy::{self, NpyLayout};
use dvs_fixtures::{noise, Event};
use proptest::prelude::*;

const NAME: &str = "events.npy";

fn events(n: usize, seed: u64) -> Vec<Event> {
    noise::uniform_events(n, seed, 5_000)
}

fn expected(events: &[Event]) -> Events {
    let mut out = Events::new();
    for e in events {
        out.push(e.t, e.x, e.y, e.on as u8);
    }
    out
}

fn decode_with(bytes: &[u8], options: DecodeOptions) -> Result<Events, DecodeError> {
    read_all_bytes(Path::new(NAME), bytes, Format::Npy, &options)
}

fn decode(bytes: &[u8]) -> Result<Events, DecodeError> {
    decode_with(bytes, DecodeOptions::default())
}

/// A hand-written NPY 1.0 file with `dict` as its header and `payload` after it.
fn handmade(dict: &str, payload: &[u8]) -> Vec<u8> {
    let mut text = dict.as_bytes().to_vec();
    text.push(b'\n');
    let mut out = b"\x93NUMPY\x01\x00".to_vec();
    out.extend_from_slice(&(text.len() as u16).to_le_bytes());
    out.extend_from_slice(&text);
    out.extend_from_slice(payload);
    out
}

#[test]
fn structured_layouts_round_trip_exactly() {
    for (k, layout) in NpyLayout::catalogue().iter().enumerate() {
        for (n, seed) in [(0, 1), (1, 2), (1000, 3), (70_000, 4)] {
            let evs = events(n, seed + k as u64);
            let bytes = npy::encode(&evs, layout);
            assert_eq!(
                Format::detect(Path::new("x"), &bytes[..16]),
                Some(Format::Npy)
            );
            assert_eq!(
                decode(&bytes).unwrap(),
                expected(&evs),
                "{layout:?}, n = {n}"
            );
        }
    }
}

#[test]
fn plain_arrays_need_a_stated_column_order() {
    let evs = events(70_000, 8);
    for (ty, fortran) in [("<i8", false), ("<i4", true), (">u4", false), ("<u2", true)] {
        let evs: Vec<Event> = evs
            .iter()
            .map(|e| Event {
                t: e.t % 60_000,
                ..*e
            })
            .collect();
        for (cols, option) in [
            (['x', 'y', 'p', 't'], NpyColumns::Xypt),
            (['t', 'x', 'y', 'p'], NpyColumns::Txyp),
        ] {
            let mut layout = NpyLayout::plain(ty, cols);
            layout.fortran_order = fortran;
            let bytes = npy::encode(&evs, &layout);
            let options = DecodeOptions {
                npy_columns: option,
                ..DecodeOptions::default()
            };
            assert_eq!(
                decode_with(&bytes, options).unwrap(),
                expected(&evs),
                "{ty} {cols:?}"
            );
            let err = decode(&bytes).unwrap_err();
            assert_eq!(err.kind, ErrorKind::Unsupported);
            assert!(err.reason.contains("column order is ambiguous"), "{err}");
        }
    }
}

#[test]
fn time_unit_is_an_explicit_option() {
    // tonic's preconverted DVS Gesture files: x, y, p, t with t in ms.
    let evs: Vec<Event> = events(2000, 9)
        .into_iter()
        .map(|e| Event { t: e.t * 1000, ..e })
        .collect();
    let mut layout = NpyLayout::plain("<i8", ['x', 'y', 'p', 't']);
    layout.time_divisor = 1000;
    let bytes = npy::encode(&evs, &layout);
    let ms = DecodeOptions {
        npy_columns: NpyColumns::Xypt,
        npy_time_unit: TimeUnit::Milliseconds,
        ..DecodeOptions::default()
    };
    assert_eq!(decode_with(&bytes, ms).unwrap(), expected(&evs));
    let as_us = decode_with(
        &bytes,
        DecodeOptions {
            npy_time_unit: TimeUnit::Microseconds,
            ..ms
        },
    )
    .unwrap();
    assert_eq!(as_us.t[10], evs[10].t / 1000);
    // Nanoseconds are floor-divided.
    let ns = DecodeOptions {
        npy_time_unit: TimeUnit::Nanoseconds,
        ..ms
    };
    assert_eq!(
        decode_with(&bytes, ns).unwrap().t[10],
        evs[10].t / 1000 / 1000
    );
    // A millisecond value whose µs do not fit i64 is an error at that value.
    let big = handmade(
        "{'descr': [('t', '<i8'), ('x', '<u2'), ('y', '<u2'), ('p', '|u1')], 'fortran_order': False, 'shape': (1,), }",
        &[&i64::MAX.to_le_bytes()[..], &[1, 0, 2, 0, 1]].concat(),
    );
    let err = decode_with(
        &big,
        DecodeOptions {
            npy_time_unit: TimeUnit::Milliseconds,
            ..DecodeOptions::default()
        },
    )
    .unwrap_err();
    assert_eq!(
        (err.kind, err.offset),
        (ErrorKind::Corrupt, (big.len() - 13) as u64)
    );
    assert!(err.reason.contains("does not fit"), "{err}");
}

#[test]
fn unsupported_types_and_shapes_are_named() {
    let cases = [
        // Floats are decoded (tests/decoders_formats.rs); half floats are not.
        ("{'descr': [('t', '<f2'), ('x', '<u2'), ('y', '<u2'), ('p', '|u1')], 'fortran_order': False, 'shape': (0,), }", "field 't' is '<f2'"),
        ("{'descr': [('t', '<i8'), ('x', '<u2'), ('y', '<u2')], 'fortran_order': False, 'shape': (0,), }", "no field 'p'"),
        ("{'descr': [('t', '<i8'), ('x', '<u2', (2,)), ('y', '<u2'), ('p', '|u1')], 'fortran_order': False, 'shape': (0,), }", "sub-array"),
        ("{'descr': [('t', '<i8'), ('x', '<u2'), ('y', '<u2'), ('p', '|u1')], 'fortran_order': False, 'shape': (0, 2), }", "only 1-D"),
        ("{'descr': '<c8', 'fortran_order': False, 'shape': (0, 4), }", "only integer, bool, float32 and float64"),
        ("{'descr': '<i4', 'fortran_order': False, 'shape': (7,), }", "plain (N, 4) array"),
    ];
    for (dict, needle) in cases {
        let err = decode(&handmade(dict, &[])).unwrap_err();
        assert_eq!(err.kind, ErrorKind::Unsupported, "{dict}");
        assert!(err.reason.contains(needle), "{err} (wanted {needle})");
        assert_eq!(err.offset, 10);
    }
}

#[test]
fn broken_headers_give_located_errors() {
    let good = npy::encode(&events(10, 1), &NpyLayout::catalogue()[0]);
    let err = decode(b"\x93NUMP").unwrap_err();
    assert_eq!(err.kind, ErrorKind::Header);
    let err = decode(&good[..9]).unwrap_err();
    assert_eq!((err.kind, err.offset), (ErrorKind::Truncated, 8));
    let err = decode(&good[..40]).unwrap_err();
    assert_eq!((err.kind, err.offset), (ErrorKind::Truncated, 10));
    let mut v9 = good.clone();
    v9[6] = 9;
    assert_eq!(decode(&v9).unwrap_err().kind, ErrorKind::Unsupported);
    let mut huge = good.clone();
    huge[6] = 2;
    huge[8..12].copy_from_slice(&u32::MAX.to_le_bytes());
    let err = decode(&huge).unwrap_err();
    assert_eq!((err.kind, err.offset), (ErrorKind::Corrupt, 8));
    for dict in [
        "not a dict",
        "{'descr': '<i4', 'shape': (0, 4), }",
        "{'descr': '<i4', 'fortran_order': False, }",
        "{'descr': '<i4', 'fortran_order': False, 'shape': (0, 4), ",
        "{'descr': '<i4', 'fortran_order': False, 'shape': (99999999999999999999999, 4), }",
        "{'descr': [[[[[[[[[[[[[]]]]]]]]]]]]], 'fortran_order': False, 'shape': (0,), }",
    ] {
        let err = decode(&handmade(dict, &[])).unwrap_err();
        assert_eq!(
            (err.kind, err.offset),
            (ErrorKind::Header, 10),
            "{dict}: {err}"
        );
    }
}

#[test]
fn payload_must_match_the_shape_exactly() {
    let good = npy::encode(&events(100, 2), &NpyLayout::catalogue()[1]);
    let short = &good[..good.len() - 3];
    let err = decode(short).unwrap_err();
    assert_eq!(
        (err.kind, err.offset),
        (ErrorKind::Truncated, short.len() as u64)
    );
    let mut long = good.clone();
    long.extend_from_slice(&[0; 5]);
    let err = decode(&long).unwrap_err();
    assert_eq!(
        (err.kind, err.offset),
        (ErrorKind::Corrupt, good.len() as u64)
    );
    // An absurd row count is refused before anything is allocated.
    let absurd = handmade(
        "{'descr': [('t', '<i8'), ('x', '<u2'), ('y', '<u2'), ('p', '|u1')], 'fortran_order': False, 'shape': (18446744073709551615,), }",
        &[0; 13],
    );
    assert_eq!(decode(&absurd).unwrap_err().kind, ErrorKind::Corrupt);
}

#[test]
fn out_of_range_values_are_errors_at_their_offset() {
    let dict = "{'descr': [('x', '<i4'), ('y', '<i4'), ('p', '<i2'), ('t', '<i8')], 'fortran_order': False, 'shape': (2,), }";
    let row = |x: i32, y: i32, p: i16, t: i64| {
        [
            &x.to_le_bytes()[..],
            &y.to_le_bytes(),
            &p.to_le_bytes(),
            &t.to_le_bytes(),
        ]
        .concat()
    };
    let header_end = handmade(dict, &[]).len();
    for (second, field_offset, needle) in [
        (row(-1, 0, 1, 5), 0, "x = -1"),
        (row(0, 70_000, 1, 5), 4, "y = 70000"),
        (row(0, 0, 2, 5), 8, "polarity 2"),
    ] {
        let bytes = handmade(dict, &[row(1, 2, -1, 3), second].concat());
        let err = decode(&bytes).unwrap_err();
        assert_eq!(err.kind, ErrorKind::Corrupt);
        assert_eq!(err.offset as usize, header_end + 18 + field_offset, "{err}");
        assert!(
            err.reason.contains(needle) && err.reason.contains("row 1"),
            "{err}"
        );
    }
    // p = -1 is OFF.
    let ok = handmade(dict, &[row(1, 2, -1, 3), row(4, 5, 1, 6)].concat());
    let ev = decode(&ok).unwrap();
    assert_eq!((ev.p.clone(), ev.t.clone()), (vec![0, 1], vec![3, 6]));
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn arbitrary_bytes_after_the_magic_never_panic(tail in prop::collection::vec(any::<u8>(), 0..600)) {
        let bytes = [&b"\x93NUMPY"[..], &tail].concat();
        if let Err(e) = decode(&bytes) {
            prop_assert_eq!(e.file.as_path(), Path::new(NAME));
            prop_assert!(e.offset as usize <= bytes.len());
        }
    }

    #[test]
    fn mutated_files_never_panic(
        which in 0usize..5,
        edits in prop::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..12),
        cut in any::<prop::sample::Index>(),
        columns in 0usize..3,
    ) {
        let mut layouts = NpyLayout::catalogue();
        layouts.push(NpyLayout::plain("<i4", ['x', 'y', 'p', 't']));
        let mut bytes = npy::encode(&events(50, which as u64), &layouts[which]);
        for (at, v) in edits {
            let i = at.index(bytes.len());
            bytes[i] = v;
        }
        bytes.truncate(cut.index(bytes.len() + 1));
        let options = DecodeOptions {
            npy_columns: [NpyColumns::Named, NpyColumns::Xypt, NpyColumns::Txyp][columns],
            ..DecodeOptions::default()
        };
        match decode_with(&bytes, options) {
            Ok(ev) => prop_assert!(ev.len() <= bytes.len()),
            Err(e) => prop_assert!(e.offset as usize <= bytes.len()),
        }
    }
}
