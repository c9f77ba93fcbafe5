//! The bodies of the `cargo fuzz` targets (`fuzz_targets/*.rs`) and a seeded,
//! dependency-free byte mutator, so that the same checks also run on stable
//! Rust as a bounded smoke run (dvs-ingest's `tests/fuzz_smoke.rs` and
//! `cargo run --release -p dvs-ingest --example fuzz-smoke`, which compile this
//! file as a module and build their seed files with the dvs-fixtures encoders).
//! It depends on nothing but `dvs_decode` and `std`.
//!
//! Each `check_*` function must never panic on any input: it decodes the
//! bytes and asserts the decoder contract (events of equal column lengths, or
//! an error naming the given file at an offset inside the input). A panic is
//! a bug, in the decoder or in the contract.

use std::path::Path;

use dvs_decode::{
    read_all_bytes, read_hdf5_samples, AtisSensor, DecodeOptions, Format, NpyColumns, Orientation,
    TimeOrder, TimeUnit, TimestampResetPolicy,
};

/// Decoder options chosen by the first input byte (both orientations, both
/// validity policies, all three timestamp-reset policies).
pub fn options_from_mode(mode: u8) -> DecodeOptions {
    DecodeOptions {
        orientation: if mode & 1 == 0 {
            Orientation::Raw
        } else {
            Orientation::SpikingJelly
        },
        keep_invalid: mode & 2 != 0,
        timestamp_reset: match (mode >> 2) % 3 {
            0 => TimestampResetPolicy::Continue,
            1 => TimestampResetPolicy::AsStored,
            _ => TimestampResetPolicy::Error,
        },
        // ATIS sensors and npy unit / column orders, from the high bits.
        atis_sensor: match mode >> 6 {
            0 => AtisSensor::NMnist,
            1 => AtisSensor::FormatBounds,
            _ => AtisSensor::Declared {
                width: 128,
                height: 128,
            },
        },
        npy_time_unit: match (mode >> 4) % 3 {
            0 => TimeUnit::Microseconds,
            1 => TimeUnit::Milliseconds,
            _ => TimeUnit::Nanoseconds,
        },
        npy_columns: match mode >> 6 {
            0 => NpyColumns::Named,
            1 => NpyColumns::Xypt,
            _ => NpyColumns::Txyp,
        },
        // AEDAT 4 stream choice (default, the usual ids, an id no file declares) and the
        // time-order policy, from bits the other fields share.
        stream: match (mode >> 3) % 4 {
            0 => None,
            k => Some(u32::from(k) - 1),
        },
        time_order: if mode & 0x20 == 0 {
            TimeOrder::AsStored
        } else {
            TimeOrder::Error
        },
        sensor: (mode & 0x40 != 0).then_some((320, 240)),
    }
}

/// Decodes `data[1..]` as `format` with options from `data[0]` and checks the
/// contract. Returns the number of events decoded (0 on a decoding error).
pub fn check_stream(format: Format, data: &[u8]) -> usize {
    let Some((&mode, bytes)) = data.split_first() else {
        return 0;
    };
    let options = options_from_mode(mode);
    let name = Path::new("fuzz-input");
    match read_all_bytes(name, bytes, format, &options) {
        Ok(events) => {
            let n = events.len();
            assert!(events.x.len() == n && events.y.len() == n && events.p.len() == n);
            n
        }
        Err(e) => {
            assert_eq!(e.file, name);
            assert!(
                e.offset as usize <= bytes.len(),
                "offset past the input: {e}"
            );
            0
        }
    }
}

/// Writes `data` to `path` and reads it as a DECOLLE HDF5 file: errors must
/// name the file. (libhdf5 itself is C and outside this crate's control.)
/// Returns whether the file was read without error.
pub fn check_hdf5(path: &Path, data: &[u8]) -> bool {
    if std::fs::write(path, data).is_err() {
        return false;
    }
    match read_hdf5_samples(path) {
        Ok(_) => true,
        Err(e) => {
            assert_eq!(e.file, path);
            false
        }
    }
}

/// AEDAT 4 with several streams: decodes `data[1..]` with every stream choice (default, the
/// ids 0..=5) under the options of `data[0]`, checks the contract for each, that the stream
/// list the reader exposes agrees with a stream choice's success, and that decoded events lie
/// inside the chosen stream's declared size. Returns the events decoded by the default choice.
pub fn check_aedat4_streams(data: &[u8]) -> usize {
    use dvs_decode::aedat4::Aedat4Reader;
    let Some((&mode, bytes)) = data.split_first() else {
        return 0;
    };
    let name = Path::new("fuzz-input");
    let mut default_events = 0;
    for stream in std::iter::once(None).chain((0..=5).map(Some)) {
        let options = DecodeOptions {
            stream,
            ..options_from_mode(mode)
        };
        let declared = Aedat4Reader::new(name, bytes, &options)
            .ok()
            .map(|r| (r.sensor(), r.streams().len()));
        match read_all_bytes(name, bytes, Format::Aedat4, &options) {
            Ok(events) => {
                let n = events.len();
                assert!(events.x.len() == n && events.y.len() == n && events.p.len() == n);
                let (sensor, streams) = declared.expect("a file that decodes has a header");
                assert!(streams > 0);
                if let Some((w, h)) = sensor {
                    assert!(events.x.iter().all(|&x| x < w) && events.y.iter().all(|&y| y < h));
                }
                if stream.is_none() {
                    default_events = n;
                }
            }
            Err(e) => {
                assert_eq!(e.file, name);
                assert!(
                    e.offset as usize <= bytes.len(),
                    "offset past the input: {e}"
                );
            }
        }
    }
    default_events
}

/// `.npy` with float columns: decodes `data[1..]` under every time unit (the float scaling and
/// rounding paths), with the other options from `data[0]`, and checks the contract for each.
pub fn check_npy_units(data: &[u8]) -> usize {
    let Some((&mode, bytes)) = data.split_first() else {
        return 0;
    };
    let name = Path::new("fuzz-input");
    let mut decoded = 0;
    for unit in [
        TimeUnit::Microseconds,
        TimeUnit::Milliseconds,
        TimeUnit::Nanoseconds,
        TimeUnit::Seconds,
    ] {
        let options = DecodeOptions {
            npy_time_unit: unit,
            ..options_from_mode(mode)
        };
        match read_all_bytes(name, bytes, Format::Npy, &options) {
            Ok(events) => {
                let n = events.len();
                assert!(events.x.len() == n && events.y.len() == n && events.p.len() == n);
                decoded += n;
            }
            Err(e) => {
                assert_eq!(e.file, name);
                assert!(
                    e.offset as usize <= bytes.len(),
                    "offset past the input: {e}"
                );
            }
        }
    }
    decoded
}

/// HDF5 `events/{x,y,t,p}` streams: writes `data` to `path` (libhdf5 opens paths, not
/// buffers) and decodes it as an event stream; a failure must be a [`dvs_decode::DecodeError`]
/// naming the file. (libhdf5 itself is C and outside this crate's control.)
pub fn check_hdf5_events(path: &Path, data: &[u8]) -> usize {
    if std::fs::write(path, data).is_err() {
        return 0;
    }
    match dvs_decode::read_all(path, Format::Hdf5, &DecodeOptions::default()) {
        Ok(events) => {
            let n = events.len();
            assert!(events.x.len() == n && events.y.len() == n && events.p.len() == n);
            n
        }
        Err(e) => {
            assert_eq!(e.file, path);
            0
        }
    }
}

/// Values that tend to hit boundary checks in size / count / offset fields.
const INTERESTING_I32: [i32; 12] = [
    0,
    1,
    -1,
    4,
    8,
    28,
    0x7F,
    0xFFFF,
    0x7FFF_FFFF,
    i32::MIN,
    0x0100_0000,
    0x4000_0000,
];

/// Applies 1..=8 random byte-level mutations to `input` (bit flips, byte and
/// 32-bit-field overwrites with boundary values, truncation, deletion,
/// duplication of a slice). libFuzzer-style, without coverage feedback.
/// `below(n)` draws a uniform-ish number in `0..n` from the caller's seeded
/// generator (dvs-fixtures' SplitMix64 in the smoke run), so the same seed
/// gives the same mutations and this crate needs no RNG of its own.
pub fn mutate(input: &mut Vec<u8>, mut below: impl FnMut(usize) -> usize) {
    let ops = 1 + below(8);
    for _ in 0..ops {
        let len = input.len();
        match below(7) {
            0 if len > 0 => {
                let i = below(len);
                input[i] ^= 1 << below(8);
            }
            1 if len > 0 => {
                let i = below(len);
                input[i] = [0u8, 0xFF, 0x7F, 0x80, b'#', b'\n'][below(6)];
            }
            2 if len >= 4 => {
                let i = below(len - 3);
                let v = INTERESTING_I32[below(INTERESTING_I32.len())];
                input[i..i + 4].copy_from_slice(&v.to_le_bytes());
            }
            3 if len > 0 => input.truncate(below(len)),
            4 if len > 0 => {
                let start = below(len);
                let end = (start + 1 + below(64)).min(len);
                input.drain(start..end);
            }
            5 if len > 0 && len < (1 << 22) => {
                let start = below(len);
                let end = (start + 1 + below(256)).min(len);
                let at = below(len + 1);
                let copy: Vec<u8> = input[start..end].to_vec();
                input.splice(at..at, copy);
            }
            _ => {
                if len > 0 {
                    let i = below(len);
                    input[i] = input[i].wrapping_add(1 + below(3) as u8);
                }
            }
        }
    }
}
