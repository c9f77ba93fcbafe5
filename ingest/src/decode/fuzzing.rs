//! The bodies of the `cargo fuzz` targets (`ingest/fuzz/fuzz_targets/*.rs`)
//! and a seeded, dependency-free mutator, so that the same checks also run on
//! stable Rust as a bounded smoke run (`cargo run --release -p dvs-ingest
//! --example fuzz-smoke`) and in a small test. Not part of the decoding API.
//!
//! Each `check_*` function must never panic on any input: it decodes the
//! bytes and asserts the decoder contract (events of equal column lengths, or
//! an error naming the given file at an offset inside the input). A panic is
//! a bug, in the decoder or in the contract.

use std::path::Path;

use super::{
    read_all_bytes, read_hdf5_samples, DecodeOptions, Format, Orientation, TimestampResetPolicy,
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

/// SplitMix64: a tiny seeded generator (same seed, same mutations).
#[derive(Clone, Debug)]
pub struct SplitMix64(u64);

impl SplitMix64 {
    /// A generator seeded with `seed`.
    pub fn new(seed: u64) -> Self {
        Self(seed)
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform-ish in `0..n` (`n > 0`).
    pub fn below(&mut self, n: usize) -> usize {
        (self.next_u64() % n.max(1) as u64) as usize
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
pub fn mutate(input: &mut Vec<u8>, rng: &mut SplitMix64) {
    let ops = 1 + rng.below(8);
    for _ in 0..ops {
        let len = input.len();
        match rng.below(7) {
            0 if len > 0 => {
                let i = rng.below(len);
                input[i] ^= 1 << rng.below(8);
            }
            1 if len > 0 => {
                let i = rng.below(len);
                input[i] = [0u8, 0xFF, 0x7F, 0x80, b'#', b'\n'][rng.below(6)];
            }
            2 if len >= 4 => {
                let i = rng.below(len - 3);
                let v = INTERESTING_I32[rng.below(INTERESTING_I32.len())];
                input[i..i + 4].copy_from_slice(&v.to_le_bytes());
            }
            3 if len > 0 => input.truncate(rng.below(len)),
            4 if len > 0 => {
                let start = rng.below(len);
                let end = (start + 1 + rng.below(64)).min(len);
                input.drain(start..end);
            }
            5 if len > 0 && len < (1 << 22) => {
                let start = rng.below(len);
                let end = (start + 1 + rng.below(256)).min(len);
                let at = rng.below(len + 1);
                let copy: Vec<u8> = input[start..end].to_vec();
                input.splice(at..at, copy);
            }
            _ => {
                if len > 0 {
                    let i = rng.below(len);
                    input[i] = input[i].wrapping_add(1 + rng.below(3) as u8);
                }
            }
        }
    }
}
