//! ATIS `.bin` (N-MNIST / N-Caltech101) decoder tests: files written with the dvs-fixtures
//! encoder round-trip exactly (several sizes and seeds, the 2^13 µs overflow rule), bad bytes
//! give located errors, and arbitrary or mutated bytes never panic.

use std::path::Path;

use dvs_decode::{
    open_bytes, read_all_bytes, AtisSensor, DecodeOptions, ErrorKind, Events, Format,
};
use dvs_fixtures::{atis, noise, Event};
use proptest::prelude::*;

const NAME: &str = "sample.bin";

/// Uniform events folded onto a `w × h` sensor.
fn events(n: usize, seed: u64, w: u16, h: u16) -> Vec<Event> {
    noise::uniform_events(n, seed, 100_000)
        .into_iter()
        .map(|e| Event {
            x: (e.x * 2 + (e.t as u16 & 1)) % w,
            y: e.y % h,
            ..e
        })
        .collect()
}

fn expected(events: &[Event]) -> Events {
    let mut out = Events::new();
    for e in events {
        out.push(e.t, e.x, e.y, e.on as u8);
    }
    out
}

fn decode(bytes: &[u8], sensor: AtisSensor) -> Result<Events, dvs_decode::DecodeError> {
    let options = DecodeOptions {
        atis_sensor: sensor,
        ..DecodeOptions::default()
    };
    read_all_bytes(Path::new(NAME), bytes, Format::AtisBin, &options)
}

#[test]
fn nmnist_files_round_trip_exactly() {
    for (n, seed) in [(0, 1), (1, 2), (999, 3), (70_000, 4), (200_000, 5)] {
        let evs = events(n, seed, 34, 34);
        let overflows: Vec<usize> = (0..n).step_by(5000).collect();
        // Stored timestamps must stay ≥ 0: shift times up by what the overflows subtract.
        let shift = overflows.len() as i64 * atis::OVERFLOW_INCREMENT_US;
        let evs: Vec<Event> = evs
            .into_iter()
            .map(|e| Event {
                t: e.t + shift,
                ..e
            })
            .collect();
        let bytes = atis::encode(&evs, &overflows);
        assert_eq!(
            decode(&bytes, AtisSensor::NMnist).unwrap(),
            expected(&evs),
            "n = {n}"
        );
    }
}

#[test]
fn long_recordings_use_the_cumulative_overflow_rule() {
    // Times beyond 23 bits need overflow records; the decoder adds 2^13 µs per record.
    let evs: Vec<Event> = noise::uniform_events(20_000, 9, (1 << 23) - 3000)
        .into_iter()
        .map(|e| Event {
            t: e.t * 3 / 2,
            x: e.x % 34,
            y: e.y % 34,
            ..e
        })
        .collect();
    let bytes = atis::encode_auto(&evs);
    assert!(
        bytes.len() > evs.len() * atis::RECORD_BYTES,
        "overflow records were written"
    );
    assert_eq!(decode(&bytes, AtisSensor::NMnist).unwrap(), expected(&evs));
}

#[test]
fn caltech_sized_files_need_a_sensor_that_holds_them() {
    let evs = events(5000, 6, 240, 180);
    let bytes = atis::encode(&evs, &[]);
    assert_eq!(
        decode(&bytes, AtisSensor::FormatBounds).unwrap(),
        expected(&evs)
    );
    let declared = AtisSensor::Declared {
        width: 240,
        height: 180,
    };
    assert_eq!(decode(&bytes, declared).unwrap(), expected(&evs));
    let err = decode(&bytes, AtisSensor::NMnist).unwrap_err();
    assert_eq!(err.kind, ErrorKind::Corrupt);
    assert!(err.reason.contains("outside the 34x34 sensor"), "{err}");
    let first_out = evs.iter().position(|e| e.x >= 34 || e.y >= 34).unwrap();
    assert_eq!(err.offset, (first_out * atis::RECORD_BYTES) as u64);
}

#[test]
fn truncated_files_error_at_the_partial_record_after_the_whole_ones() {
    let evs = events(300, 7, 34, 34);
    let bytes = atis::encode(&evs, &[]);
    let options = DecodeOptions::default();
    for cut in [1, 2, 4] {
        let part = &bytes[..bytes.len() - cut];
        let mut reader = open_bytes(Path::new(NAME), part, Format::AtisBin, &options).unwrap();
        let mut out = Events::new();
        let err = reader.read_to_end(&mut out).unwrap_err();
        assert_eq!(err.kind, ErrorKind::Truncated);
        assert_eq!(err.offset, (299 * atis::RECORD_BYTES) as u64);
        assert_eq!(err.file, Path::new(NAME));
        assert_eq!(out, expected(&evs[..299]));
    }
}

#[test]
fn garbage_is_a_located_error_not_events_off_the_sensor() {
    let garbage: Vec<u8> = (0..5000u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect();
    let err = decode(&garbage, AtisSensor::NMnist).unwrap_err();
    assert_eq!(err.kind, ErrorKind::Corrupt);
    assert_eq!(err.offset % atis::RECORD_BYTES as u64, 0);
    assert!(err.to_string().starts_with("sample.bin: offset "), "{err}");
}

#[test]
fn detection_goes_by_extension() {
    assert_eq!(
        Format::detect(Path::new("00002.bin"), &[1, 2, 3]),
        Some(Format::AtisBin)
    );
    assert_eq!(
        Format::detect(Path::new("image_0001.BIN"), &[]),
        Some(Format::AtisBin)
    );
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn arbitrary_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..4000), mode in 0u8..3) {
        let sensor = [AtisSensor::NMnist, AtisSensor::FormatBounds, AtisSensor::Declared { width: 0, height: 0 }][mode as usize];
        match decode(&bytes, sensor) {
            Ok(ev) => prop_assert!(ev.len() <= bytes.len() / atis::RECORD_BYTES),
            Err(e) => {
                prop_assert_eq!(e.file.as_path(), Path::new(NAME));
                prop_assert!(e.offset as usize <= bytes.len());
            }
        }
    }

    #[test]
    fn mutated_files_never_panic(seed in 0u64..1000, edits in prop::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..20), cut in any::<prop::sample::Index>()) {
        let evs = events(400, seed, 34, 34);
        let mut bytes = atis::encode(&evs, &[10, 200]);
        for (at, v) in edits {
            let i = at.index(bytes.len());
            bytes[i] = v;
        }
        bytes.truncate(cut.index(bytes.len() + 1));
        if let Err(e) = decode(&bytes, AtisSensor::NMnist) {
            prop_assert!(e.offset as usize <= bytes.len());
        }
    }
}
