//! Prophesee EVT 3.0 decoder (`.raw`; docs.prophesee.ai "EVT 3.0 Format").
//!
//! After the `%` header ([`super::parse_header`]): 16-bit little-endian words,
//! type in bits 15..12, decoded against a running state:
//! * `EVT_ADDR_Y` 0x0: bits 10..0 = y (bit 11, the system type, is ignored);
//! * `EVT_ADDR_X` 0x2: one event at x = bits 10..0, polarity bit 11, current y and time;
//! * `VECT_BASE_X` 0x3: base x = bits 10..0 and polarity bit 11 for the vectors after it;
//! * `VECT_12` 0x4 / `VECT_8` 0x5: one event at `base_x + i` for every set bit i of
//!   bits 11..0 / 7..0 (in ascending i), then `base_x += 12` / `8`;
//! * `EVT_TIME_LOW` 0x6 / `EVT_TIME_HIGH` 0x8: bits 11..0 of the 24-bit time base;
//! * `CONTINUED_4` 0x7, `EXT_TRIGGER` 0xA, `OTHERS` 0xE, `CONTINUED_12` 0xF: skipped.
//!
//! `t = time_high << 12 | time_low` in µs; the 24-bit time wraps every ~16.8 s: a
//! time-high value smaller than the previous one adds 2^24 µs (OpenEB's rule without
//! its jitter tolerance), so time stays monotonic. Reserved word types, a file that
//! ends inside a word and events outside the declared sensor are errors.

use std::path::{Path, PathBuf};

use super::{next_chunk, open_raw, outside_sensor, Bounds, RawEncoding};
use crate::{DecodeError, DecodeOptions, ErrorKind, EventReader, Events};

/// Largest sensor side EVT 3.0 addresses (11-bit coordinates).
pub const MAX_SIDE: u32 = 2048;
/// Words decoded per [`EventReader::read_packet`] call.
const WORDS_PER_PACKET: usize = 1 << 16;

/// Streaming EVT 3.0 decoder over an in-memory file.
pub struct Evt3Reader<B> {
    name: PathBuf,
    bytes: B,
    pos: usize,
    geometry: Option<(u16, u16)>,
    bounds: Bounds,
    state: State,
    failed: bool,
}

/// The decoder state the words update (carried across packets).
#[derive(Clone, Copy, Default)]
struct State {
    y: u32,
    base_x: u32,
    vector_polarity: u8,
    /// Time bits 24.. (2^24 µs per wrap seen so far).
    wraps: i64,
    last_high: u32,
    time_low: u32,
    /// Current full timestamp.
    t: i64,
}

/// Why decoding stopped inside a packet.
enum Stop {
    Reserved(u32),
    Outside(u32, u32),
    RowOutside(u32),
    TimeOverflow,
}

impl<B: AsRef<[u8]>> Evt3Reader<B> {
    /// Parses the header; `name` is used in errors. A header naming another
    /// encoding is refused.
    pub fn new(name: &Path, bytes: B, _options: &DecodeOptions) -> Result<Self, DecodeError> {
        let header = open_raw(name, bytes.as_ref(), RawEncoding::Evt3, MAX_SIDE)?;
        Ok(Self {
            name: name.to_path_buf(),
            bytes,
            pos: header.end,
            geometry: header.geometry,
            bounds: Bounds::new(header.geometry),
            state: State::default(),
            failed: false,
        })
    }

    /// Sensor `(width, height)` from the header, if declared.
    pub fn geometry(&self) -> Option<(u16, u16)> {
        self.geometry
    }
}

/// Words decoded into the stack columns before they are appended to the output.
const BLOCK_WORDS: usize = 256;
/// Room in the stack columns: at most 12 events per word, rounded up to a power of two so
/// that masking an index (which never exceeds `12 * BLOCK_WORDS`) removes bounds checks.
const BLOCK_EVENTS: usize = 4096;
const _: () = assert!(12 * BLOCK_WORDS <= BLOCK_EVENTS && BLOCK_EVENTS.is_power_of_two());

/// Stack columns one block of words decodes into.
struct Block {
    t: [i64; BLOCK_EVENTS],
    x: [u16; BLOCK_EVENTS],
    y: [u16; BLOCK_EVENTS],
    p: [u8; BLOCK_EVENTS],
}

impl Block {
    #[inline(always)]
    fn set(&mut self, n: usize, t: i64, x: u32, y: u32, p: u8) {
        let k = n & (BLOCK_EVENTS - 1);
        self.t[k] = t;
        self.x[k] = x as u16;
        self.y[k] = y as u16;
        self.p[k] = p;
    }

    fn append_to(&self, n: usize, out: &mut Events) {
        out.t.extend_from_slice(&self.t[..n]);
        out.x.extend_from_slice(&self.x[..n]);
        out.y.extend_from_slice(&self.y[..n]);
        out.p.extend_from_slice(&self.p[..n]);
    }
}

/// Decodes `chunk` (whole words) into `out`; returns the index of the word
/// that stopped decoding and why. Events before that word are appended.
fn decode_words(
    chunk: &[u8],
    s: &mut State,
    bounds: Bounds,
    out: &mut Events,
) -> Option<(usize, Stop)> {
    let mut block = Box::new(Block {
        t: [0; BLOCK_EVENTS],
        x: [0; BLOCK_EVENTS],
        y: [0; BLOCK_EVENTS],
        p: [0; BLOCK_EVENTS],
    });
    for (b, words) in chunk.chunks(BLOCK_WORDS * 2).enumerate() {
        let (n, stop) = decode_block(words, s, bounds, &mut block);
        block.append_to(n, out);
        if let Some((j, why)) = stop {
            return Some((b * BLOCK_WORDS + j, why));
        }
    }
    None
}

/// Decodes at most [`BLOCK_WORDS`] words into `block`; returns the number of
/// events written and, if a word stopped decoding, its index and why.
#[inline(always)]
fn decode_block(
    words: &[u8],
    s: &mut State,
    bounds: Bounds,
    block: &mut Block,
) -> (usize, Option<(usize, Stop)>) {
    let Bounds { width, height } = bounds;
    let mut n = 0usize;
    for (i, c) in words.chunks_exact(2).enumerate() {
        let w = u16::from_le_bytes([c[0], c[1]]) as u32;
        match w >> 12 {
            0x0 => {
                let y = w & 0x7FF;
                if y >= height {
                    return (n, Some((i, Stop::RowOutside(y))));
                }
                s.y = y;
            }
            0x2 => {
                let x = w & 0x7FF;
                if x >= width {
                    return (n, Some((i, Stop::Outside(x, s.y))));
                }
                block.set(n, s.t, x, s.y, ((w >> 11) & 1) as u8);
                n += 1;
            }
            0x3 => {
                s.base_x = w & 0x7FF;
                s.vector_polarity = ((w >> 11) & 1) as u8;
            }
            0x4 | 0x5 => {
                let (mask, step) = if w >> 12 == 0x4 {
                    (w & 0xFFF, 12)
                } else {
                    (w & 0xFF, 8)
                };
                if mask != 0 {
                    let top = s.base_x + 31 - mask.leading_zeros();
                    if top >= width {
                        return (n, Some((i, Stop::Outside(top, s.y))));
                    }
                    // Branch-free: all 12 slots are written, set bits are kept.
                    for bit in 0..12 {
                        block.set(n, s.t, s.base_x + bit, s.y, s.vector_polarity);
                        n += ((mask >> bit) & 1) as usize;
                    }
                }
                // Bounded: base_x < 2048 plus at most one step per word keeps it far below u32::MAX.
                s.base_x = (s.base_x + step).min(1 << 20);
            }
            0x6 => {
                s.time_low = w & 0xFFF;
                s.t = (s.t & !0xFFF) | s.time_low as i64;
            }
            0x8 => {
                let high = w & 0xFFF;
                if high < s.last_high {
                    let Some(next) = s.wraps.checked_add(1 << 24) else {
                        return (n, Some((i, Stop::TimeOverflow)));
                    };
                    s.wraps = next;
                }
                s.last_high = high;
                s.t = s.wraps | (high as i64) << 12 | s.time_low as i64;
            }
            0x7 | 0xA | 0xE | 0xF => {}
            other => return (n, Some((i, Stop::Reserved(other)))),
        }
    }
    (n, None)
}

impl<B: AsRef<[u8]>> EventReader for Evt3Reader<B> {
    fn read_packet(&mut self, out: &mut Events) -> Result<bool, DecodeError> {
        let start = self.pos;
        let Some(chunk) = next_chunk(
            &self.name,
            self.bytes.as_ref(),
            start,
            &mut self.failed,
            2,
            WORDS_PER_PACKET,
            "a 16-bit word",
        )?
        else {
            return Ok(false);
        };
        let words = chunk.len() / 2;
        // Most words carry one event (a vector word up to 12): reserve for one each.
        out.reserve(words);
        if let Some((i, stop)) = decode_words(chunk, &mut self.state, self.bounds, out) {
            self.failed = true;
            let offset = start + i * 2;
            return Err(match stop {
                Stop::Outside(x, y) => outside_sensor(&self.name, offset, x, y, self.bounds),
                Stop::RowOutside(y) => DecodeError::new(
                    &self.name,
                    offset as u64,
                    ErrorKind::Corrupt,
                    format!(
                        "EVT_ADDR_Y row y={y} lies outside the {}x{} sensor the header declares",
                        self.bounds.width, self.bounds.height
                    ),
                ),
                Stop::Reserved(k) => DecodeError::new(
                    &self.name,
                    offset as u64,
                    ErrorKind::Corrupt,
                    format!("reserved EVT 3.0 word type {k:#x}"),
                ),
                Stop::TimeOverflow => DecodeError::new(
                    &self.name,
                    offset as u64,
                    ErrorKind::Corrupt,
                    "time wraps around more often than a 64-bit timestamp holds",
                ),
            });
        }
        self.pos = start + words * 2;
        Ok(true)
    }

    /// One event per word: a bound for files without vector words, an
    /// estimate otherwise (the output grows past it if needed).
    fn position(&self) -> u64 {
        self.pos as u64
    }

    fn remaining_hint(&self) -> usize {
        (self.bytes.as_ref().len() - self.pos) / 2
    }
}
