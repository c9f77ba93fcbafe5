//! Prophesee EVT 2.0, EVT 3.0 and DAT decoders against files written with the
//! dvs-fixtures encoders (`dvs_fixtures::prophesee`): exact round trips over
//! sizes, seeds, geometries and both `.raw` header styles, time wrap-around,
//! format detection, located errors on bad bytes, and a never-panics property
//! over truncated and mutated files.

use std::path::Path;

use dvs_decode::prophesee::{dat::DatReader, evt2::Evt2Reader, evt3::Evt3Reader};
use dvs_decode::{read_all_bytes, DecodeError, DecodeOptions, ErrorKind, Events, Format};
use dvs_fixtures::prophesee::{
    burst_events, encode_dat, encode_evt2, encode_evt3, RawHeader, RawOptions,
};
use dvs_fixtures::Event;
use proptest::prelude::*;

mod common;
use common::{check_error_names, is_prefix};

const NAME: &str = "rec.raw";

fn encode(format: Format, events: &[Event], w: u16, h: u16, options: &RawOptions) -> Vec<u8> {
    match format {
        Format::Evt2 => encode_evt2(events, w, h, options),
        Format::Evt3 => encode_evt3(events, w, h, options),
        Format::Dat => encode_dat(events, w, h),
        other => unreachable!("{other}"),
    }
}

fn decode(format: Format, bytes: &[u8]) -> Result<Events, DecodeError> {
    read_all_bytes(Path::new(NAME), bytes, format, &DecodeOptions::default())
}

fn expected(events: &[Event]) -> Events {
    let mut out = Events::new();
    for e in events {
        out.push(e.t, e.x, e.y, e.on as u8);
    }
    out
}

const FORMATS: [Format; 3] = [Format::Evt2, Format::Evt3, Format::Dat];

#[test]
fn every_format_round_trips_exactly_over_sizes_seeds_geometries_and_headers() {
    let geometries = [
        (1280u16, 720u16),
        (304, 240),
        (128, 128),
        (1, 1),
        (2048, 2048),
    ];
    for format in FORMATS {
        for (seed, &(w, h)) in geometries.iter().enumerate() {
            for n in [0usize, 1, 7, 1000, 70_000] {
                let events = burst_events(n, seed as u64 * 31 + n as u64, w, h, seed as i64 * 977);
                let events: Vec<Event> = if format == Format::Dat {
                    // DAT time is u32 µs.
                    events
                        .into_iter()
                        .filter(|e| e.t <= u32::MAX as i64)
                        .collect()
                } else {
                    events
                };
                for header in [RawHeader::Format, RawHeader::Legacy] {
                    for extras_every in [0, 1, 13] {
                        let options = RawOptions {
                            header,
                            extras_every,
                        };
                        let bytes = encode(format, &events, w, h, &options);
                        let got = decode(format, &bytes)
                            .unwrap_or_else(|e| panic!("{format} n={n} {w}x{h}: {e}"));
                        assert!(
                            got == expected(&events),
                            "{format} n={n} {w}x{h} {options:?}"
                        );
                        if format == Format::Dat {
                            break;
                        }
                    }
                }
            }
        }
    }
}

#[test]
fn evt3_writes_vector_groups_and_they_decode_in_order() {
    // One row burst: 30 events at the same time, row and polarity, x ascending with gaps.
    let events: Vec<Event> = (0..30u16)
        .map(|k| Event {
            t: 5000,
            x: 100 + 3 * k,
            y: 42,
            on: true,
        })
        .collect();
    let bytes = encode_evt3(&events, 640, 480, &RawOptions::default());
    let body_start = bytes.windows(6).position(|w| w == b"% end\n").unwrap() + 6;
    let types: Vec<u16> = bytes[body_start..]
        .chunks_exact(2)
        .map(|c| u16::from_le_bytes([c[0], c[1]]) >> 12)
        .collect();
    assert!(types.contains(&0x3) && types.contains(&0x4), "{types:?}");
    assert!(
        !types.contains(&0x2),
        "a burst must not fall back to single events"
    );
    assert_eq!(decode(Format::Evt3, &bytes).unwrap(), expected(&events));
}

#[test]
fn time_high_wrap_around_keeps_time_monotonic() {
    // EVT 3.0 time is 24 bits (16.8 s), EVT 2.0 34 bits (4.8 h): cross both several times.
    let steps = [
        0i64,
        1,
        4095,
        4096,
        1 << 23,
        (1 << 24) - 1,
        1 << 24,
        3 << 24,
        (1 << 34) - 64,
    ];
    let mut events = Vec::new();
    let mut t = 0;
    for (k, s) in steps.iter().cycle().take(60).enumerate() {
        t += s;
        events.push(Event {
            t,
            x: (k % 300) as u16,
            y: (k % 200) as u16,
            on: k % 2 == 0,
        });
    }
    for format in [Format::Evt2, Format::Evt3] {
        let bytes = encode(format, &events, 304, 240, &RawOptions::default());
        assert_eq!(
            decode(format, &bytes).unwrap(),
            expected(&events),
            "{format}"
        );
    }
}

#[test]
fn geometry_comes_from_the_header() {
    let events = burst_events(100, 1, 640, 480, 0);
    let o = RawOptions::default();
    let name = Path::new(NAME);
    let d = DecodeOptions::default();
    let r = Evt2Reader::new(name, encode_evt2(&events, 640, 480, &o), &d).unwrap();
    assert_eq!(r.geometry(), Some((640, 480)));
    let legacy = RawOptions {
        header: RawHeader::Legacy,
        extras_every: 0,
    };
    let r = Evt3Reader::new(name, encode_evt3(&events, 640, 480, &legacy), &d).unwrap();
    assert_eq!(r.geometry(), Some((640, 480)));
    let r = DatReader::new(name, encode_dat(&events, 640, 480), &d).unwrap();
    assert_eq!(r.geometry(), Some((640, 480)));
}

#[test]
fn detection_reads_extension_and_header() {
    let events = burst_events(10, 2, 64, 64, 0);
    for header in [RawHeader::Format, RawHeader::Legacy] {
        let o = RawOptions {
            header,
            extras_every: 0,
        };
        let evt2 = encode_evt2(&events, 64, 64, &o);
        let evt3 = encode_evt3(&events, 64, 64, &o);
        assert_eq!(
            Format::detect(Path::new("a.raw"), &evt2),
            Some(Format::Evt2)
        );
        assert_eq!(
            Format::detect(Path::new("a.RAW"), &evt3),
            Some(Format::Evt3)
        );
        // Without the extension the header alone does not decide.
        assert_eq!(Format::detect(Path::new("a.bin2"), &evt3), None);
    }
    let dat = encode_dat(&events, 64, 64);
    assert_eq!(Format::detect(Path::new("x.dat"), &dat), Some(Format::Dat));
    assert_eq!(
        Format::detect(Path::new("x.raw"), b"% date today\n% end\n"),
        None
    );

    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("rec.raw");
    std::fs::write(&path, encode_evt3(&events, 64, 64, &RawOptions::default())).unwrap();
    assert_eq!(Format::detect_file(&path).unwrap(), Format::Evt3);
    let events_read = dvs_decode::read_all(&path, Format::Evt3, &DecodeOptions::default()).unwrap();
    assert_eq!(events_read, expected(&events));
}

fn err(format: Format, bytes: &[u8]) -> DecodeError {
    let e = decode(format, bytes).expect_err("must fail");
    assert_eq!(e.file, Path::new(NAME));
    assert!(e.offset as usize <= bytes.len(), "{e}");
    e
}

#[test]
fn truncated_files_are_located_errors() {
    let events = burst_events(500, 4, 320, 240, 10);
    let o = RawOptions::default();
    for (format, word) in [(Format::Evt2, 4usize), (Format::Evt3, 2), (Format::Dat, 8)] {
        let bytes = encode(format, &events, 320, 240, &o);
        let cut = bytes.len() - 1;
        let e = err(format, &bytes[..cut]);
        assert_eq!(e.kind, ErrorKind::Truncated, "{e}");
        assert_eq!(e.offset as usize, cut - (word - 1), "{e}");
        // A header line without its newline.
        let e = err(format, &bytes[..20]);
        assert_eq!(e.kind, ErrorKind::Truncated, "{e}");
        assert!(e.reason.contains("header"), "{e}");
    }
    let dat = encode_dat(&events, 320, 240);
    let header_end = dat.iter().position(|&b| b == 0x0C).unwrap();
    let e = err(Format::Dat, &dat[..header_end + 1]);
    assert!(e.reason.contains("event type and size"), "{e}");
}

#[test]
fn absurd_header_fields_are_header_errors() {
    let cases: [(Format, &[u8]); 7] = [
        (Format::Evt3, b"% format EVT3;height=0;width=640\n% end\n"),
        (
            Format::Evt3,
            b"% format EVT3;height=480;width=99999\n% end\n",
        ),
        (Format::Evt2, b"% geometry 640\n"),
        (Format::Evt2, b"% geometry 4096x480\n"),
        (Format::Evt2, b"% evt 9.9\n"),
        (Format::Dat, b"% Width 20000\n% Height 10\n\x0c\x08"),
        (Format::Dat, b"% Width 640\n\x0c\x08"),
    ];
    for (format, bytes) in cases {
        let e = err(format, bytes);
        assert_eq!(e.kind, ErrorKind::Header, "{e}");
    }
    // The wrong encoding for the reader is refused by name.
    let evt3 = encode_evt3(&[], 64, 64, &RawOptions::default());
    assert!(err(Format::Evt2, &evt3).reason.contains("not EVT 2.0"));
    let evt21 = b"% format EVT21;height=64;width=64\n% end\n";
    assert!(err(Format::Evt3, evt21).reason.contains("Evt21"));
    // DAT event type and size.
    let mut dat = encode_dat(&[], 64, 64);
    let at = dat.len() - 2;
    dat[at] = 0x0E;
    assert_eq!(err(Format::Dat, &dat).kind, ErrorKind::Unsupported);
    dat[at] = 0x0C;
    dat[at + 1] = 16;
    let e = err(Format::Dat, &dat);
    assert_eq!(
        (e.kind, e.offset as usize),
        (ErrorKind::Corrupt, at + 1),
        "{e}"
    );
}

#[test]
fn events_outside_the_declared_sensor_are_errors() {
    let events = burst_events(300, 5, 640, 480, 0);
    let bad = events
        .iter()
        .position(|e| e.x >= 320 || e.y >= 240)
        .unwrap();
    let o = RawOptions {
        header: RawHeader::Format,
        extras_every: 5,
    };
    for format in FORMATS {
        // Written for a 640x480 sensor, declared as 320x240.
        let bytes = encode(format, &events, 320, 240, &o);
        let e = err(format, &bytes);
        assert_eq!(e.kind, ErrorKind::Corrupt, "{e}");
        assert!(
            e.reason.contains("outside the 320x240 sensor"),
            "{format}: {e}"
        );
        // Everything before the bad event decodes (the reader stops at it).
        let mut reader = dvs_decode::open_bytes(
            Path::new(NAME),
            &bytes[..],
            format,
            &DecodeOptions::default(),
        )
        .unwrap();
        let mut out = Events::new();
        assert!(reader.read_to_end(&mut out).is_err());
        assert!(
            is_prefix(&out, &expected(&events)) && out.len() <= bad,
            "{format}"
        );
    }
}

#[test]
fn garbage_words_and_bad_polarity_are_located_errors() {
    let o = RawOptions::default();
    let ev = [Event {
        t: 100,
        x: 3,
        y: 4,
        on: true,
    }];
    // EVT 2.0: reserved type 0x5.
    let mut evt2 = encode_evt2(&ev, 64, 64, &o);
    let at = evt2.len();
    evt2.extend_from_slice(&(0x5u32 << 28).to_le_bytes());
    let e = err(Format::Evt2, &evt2);
    assert_eq!((e.kind, e.offset as usize), (ErrorKind::Corrupt, at), "{e}");
    assert!(e.reason.contains("reserved"), "{e}");
    // EVT 3.0: reserved type 0x9.
    let mut evt3 = encode_evt3(&ev, 64, 64, &o);
    let at = evt3.len();
    evt3.extend_from_slice(&(0x9u16 << 12).to_le_bytes());
    let e = err(Format::Evt3, &evt3);
    assert_eq!((e.kind, e.offset as usize), (ErrorKind::Corrupt, at), "{e}");
    // DAT: polarity 7.
    let mut dat = encode_dat(&ev, 64, 64);
    let at = dat.len();
    dat.extend_from_slice(&200u32.to_le_bytes());
    dat.extend_from_slice(&(7u32 << 28).to_le_bytes());
    let e = err(Format::Dat, &dat);
    assert_eq!((e.kind, e.offset as usize), (ErrorKind::Corrupt, at), "{e}");
    assert!(e.reason.contains("polarity 7"), "{e}");
    // Pure garbage is refused, whatever the reader.
    for format in FORMATS {
        let mut rng = dvs_fixtures::rng::SplitMix64::new(9);
        let junk: Vec<u8> = (0..4096).map(|_| rng.next_u64() as u8).collect();
        if let Ok(ev) = decode(format, &junk) {
            // Only possible if the junk happens to be valid words: then every event is in range.
            assert!(ev.x.iter().all(|&x| x < 2048 || format == Format::Dat));
        }
    }
}

struct Sample {
    format: Format,
    bytes: Vec<u8>,
    events: Events,
}

static SAMPLES: std::sync::LazyLock<Vec<Sample>> = std::sync::LazyLock::new(|| {
    let events = burst_events(2000, 77, 640, 480, 123);
    let o = RawOptions {
        header: RawHeader::Format,
        extras_every: 11,
    };
    let legacy = RawOptions {
        header: RawHeader::Legacy,
        extras_every: 0,
    };
    let mut out = Vec::new();
    for (format, options) in [
        (Format::Evt2, o),
        (Format::Evt2, legacy),
        (Format::Evt3, o),
        (Format::Evt3, legacy),
        (Format::Dat, o),
    ] {
        let bytes = encode(format, &events, 640, 480, &options);
        out.push(Sample {
            format,
            bytes,
            events: expected(&events),
        });
    }
    out
});

fn check_contract(result: &Result<Events, DecodeError>, len: usize) {
    if let Ok(ev) = result {
        let n = ev.len();
        assert!(ev.x.len() == n && ev.y.len() == n && ev.p.len() == n);
    }
    check_error_names(Path::new(NAME), result, len);
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn truncated_file_errors_or_yields_a_prefix(which in any::<prop::sample::Index>(), cut in any::<prop::sample::Index>()) {
        let s = which.get(&SAMPLES);
        let len = cut.index(s.bytes.len());
        let result = decode(s.format, &s.bytes[..len]);
        check_contract(&result, len);
        if let Ok(ev) = &result {
            prop_assert!(is_prefix(ev, &s.events), "{}: truncation at {len}", s.format);
        }
    }

    #[test]
    fn mutated_file_never_panics(
        which in any::<prop::sample::Index>(),
        edits in prop::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..16),
    ) {
        let s = which.get(&SAMPLES);
        let mut bytes = s.bytes.clone();
        for (at, value) in &edits {
            let i = at.index(bytes.len());
            bytes[i] = *value;
        }
        check_contract(&decode(s.format, &bytes), bytes.len());
    }

    #[test]
    fn mutated_header_never_panics(
        which in any::<prop::sample::Index>(),
        edits in prop::collection::vec((0usize..256, any::<u8>()), 1..8),
    ) {
        let s = which.get(&SAMPLES);
        let mut bytes = s.bytes.clone();
        for (at, value) in &edits {
            let i = at % bytes.len();
            bytes[i] = *value;
        }
        check_contract(&decode(s.format, &bytes), bytes.len());
    }

    #[test]
    fn arbitrary_bytes_never_panic(
        format in prop::sample::select(FORMATS.to_vec()),
        header in prop::sample::select(vec![&b""[..], b"% evt 3.0\n% geometry 64x48\n", b"% Width 64\n% Height 48\n\x0c\x08"]),
        body in prop::collection::vec(any::<u8>(), 0..4096),
    ) {
        let mut bytes = header.to_vec();
        bytes.extend_from_slice(&body);
        check_contract(&decode(format, &bytes), bytes.len());
    }
}
