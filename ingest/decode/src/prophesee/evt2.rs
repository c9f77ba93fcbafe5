//! Prophesee EVT 2.0 decoder (`.raw`; docs.prophesee.ai "EVT 2.0 Format").
//!
//! After the `%` header ([`super::parse_header`]): 32-bit little-endian words,
//! type in bits 31..28:
//! * `CD_OFF` 0x0 / `CD_ON` 0x1: bits 27..22 timestamp low 6 bits, 21..11 x, 10..0 y;
//! * `EVT_TIME_HIGH` 0x8: bits 27..0 = timestamp bits 33..6;
//! * `EXT_TRIGGER` 0xA, `OTHERS` 0xE, `CONTINUED` 0xF: skipped.
//!
//! `t = time_high << 6 | low` in µs. The 34-bit time wraps after ~4.8 h: a time-high
//! value smaller than the previous one adds 2^34 µs, so time stays monotonic.
//! Reserved word types, a file that ends inside a word and events outside the
//! declared sensor are errors.

use std::path::{Path, PathBuf};

use super::{next_chunk, open_raw, outside_sensor, Bounds, RawEncoding};
use crate::{DecodeError, DecodeOptions, ErrorKind, EventReader, Events};

/// Largest sensor side EVT 2.0 addresses (11-bit coordinates).
pub const MAX_SIDE: u32 = 2048;
/// Words decoded per [`EventReader::read_packet`] call.
const WORDS_PER_PACKET: usize = 1 << 16;

/// Streaming EVT 2.0 decoder over an in-memory file.
pub struct Evt2Reader<B> {
    name: PathBuf,
    bytes: B,
    pos: usize,
    geometry: Option<(u16, u16)>,
    bounds: Bounds,
    /// Full timestamp bits 6.. (time high plus the wraps seen so far).
    time_high: i64,
    /// Last 28-bit time-high value, to detect the wrap.
    last_high: u32,
    failed: bool,
}

impl<B: AsRef<[u8]>> Evt2Reader<B> {
    /// Parses the header; `name` is used in errors. A header naming another
    /// encoding is refused.
    pub fn new(name: &Path, bytes: B, _options: &DecodeOptions) -> Result<Self, DecodeError> {
        let header = open_raw(name, bytes.as_ref(), RawEncoding::Evt2, MAX_SIDE)?;
        Ok(Self {
            name: name.to_path_buf(),
            bytes,
            pos: header.end,
            geometry: header.geometry,
            bounds: Bounds::new(header.geometry),
            time_high: 0,
            last_high: 0,
            failed: false,
        })
    }

    /// Sensor `(width, height)` from the header, if declared.
    pub fn geometry(&self) -> Option<(u16, u16)> {
        self.geometry
    }

    fn err(&mut self, offset: usize, kind: ErrorKind, reason: String) -> DecodeError {
        self.failed = true;
        DecodeError::new(&self.name, offset as u64, kind, reason)
    }
}

impl<B: AsRef<[u8]>> EventReader for Evt2Reader<B> {
    fn read_packet(&mut self, out: &mut Events) -> Result<bool, DecodeError> {
        let start = self.pos;
        let Some(chunk) = next_chunk(
            &self.name,
            self.bytes.as_ref(),
            start,
            &mut self.failed,
            4,
            WORDS_PER_PACKET,
            "a 32-bit word",
        )?
        else {
            return Ok(false);
        };
        let words = chunk.len() / 4;
        // At most one event per word: room for every event of the chunk, sized from the bytes
        // present (never from a header field).
        out.reserve(words);
        let Bounds { width, height } = self.bounds;
        let mut time_high = self.time_high;
        let mut last_high = self.last_high;
        let mut failure = None;
        let base_len = out.len();
        // Events are written straight into the columns' spare capacity and kept by advancing
        // `n` (no per-event capacity checks, no staging copy); the lengths are set once at the
        // end. `n` never exceeds the number of words consumed, so every index is < `words`.
        let mut n = 0usize;
        {
            let ts = &mut out.t.spare_capacity_mut()[..words];
            let xs = &mut out.x.spare_capacity_mut()[..words];
            let ys = &mut out.y.spare_capacity_mut()[..words];
            let ps = &mut out.p.spare_capacity_mut()[..words];
            const GROUP: usize = 16;
            'groups: for (g, group) in chunk.chunks(GROUP * 4).enumerate() {
                // Fast path: 16 words that are all in-range CD events (the common case between
                // time-high words) are split into columns without a branch per word.
                if group.len() == GROUP * 4 {
                    let mut ws = [0u32; GROUP];
                    for (w, c) in ws.iter_mut().zip(group.chunks_exact(4)) {
                        *w = u32::from_le_bytes([c[0], c[1], c[2], c[3]]);
                    }
                    let all_cd = ws.iter().fold(0u32, |a, &w| a | (w >> 29)) == 0;
                    let in_range = ws.iter().fold(true, |ok, &w| {
                        ok & (((w >> 11) & 0x7FF) < width) & ((w & 0x7FF) < height)
                    });
                    if all_cd && in_range {
                        let slots = ts[n..n + GROUP]
                            .iter_mut()
                            .zip(&mut xs[n..n + GROUP])
                            .zip(&mut ys[n..n + GROUP])
                            .zip(&mut ps[n..n + GROUP]);
                        for ((((t, x), y), p), &w) in slots.zip(&ws) {
                            t.write(time_high | ((w >> 22) & 0x3F) as i64);
                            x.write(((w >> 11) & 0x7FF) as u16);
                            y.write((w & 0x7FF) as u16);
                            p.write((w >> 28) as u8);
                        }
                        n += GROUP;
                        continue;
                    }
                }
                for (m, c) in group.chunks_exact(4).enumerate() {
                    let j = g * GROUP + m;
                    let w = u32::from_le_bytes([c[0], c[1], c[2], c[3]]);
                    let kind = w >> 28;
                    let x = (w >> 11) & 0x7FF;
                    let y = w & 0x7FF;
                    if kind <= 1 {
                        if (x >= width) | (y >= height) {
                            failure = Some((j, None, x, y));
                            break 'groups;
                        }
                        ts[n].write(time_high | ((w >> 22) & 0x3F) as i64);
                        xs[n].write(x as u16);
                        ys[n].write(y as u16);
                        ps[n].write(kind as u8);
                        n += 1;
                    } else if kind == 0x8 {
                        let high = w & 0x0FFF_FFFF;
                        let mut base = time_high & !((1i64 << 34) - 1);
                        if high < last_high {
                            match base.checked_add(1 << 34) {
                                Some(next) => base = next,
                                None => {
                                    failure = Some((j, Some(0x8), 0, 0));
                                    break 'groups;
                                }
                            }
                        }
                        last_high = high;
                        time_high = base | (high as i64) << 6;
                    } else if !matches!(kind, 0xA | 0xE | 0xF) {
                        failure = Some((j, Some(kind), 0, 0));
                        break 'groups;
                    }
                }
            }
        }
        // SAFETY: `reserve(words)` made room for `words` more elements in every column, and
        // the loop above initialised the first `n <= words` spare slots of all four (each kept
        // event writes all four at index `n` before `n` advances).
        unsafe {
            out.t.set_len(base_len + n);
            out.x.set_len(base_len + n);
            out.y.set_len(base_len + n);
            out.p.set_len(base_len + n);
        }
        self.time_high = time_high;
        self.last_high = last_high;
        if let Some((i, kind, x, y)) = failure {
            let offset = start + i * 4;
            return Err(match kind {
                Some(0x8) => self.err(
                    offset,
                    ErrorKind::Corrupt,
                    "time wraps around more often than a 64-bit timestamp holds".to_string(),
                ),
                Some(k) => self.err(
                    offset,
                    ErrorKind::Corrupt,
                    format!("reserved EVT 2.0 word type {k:#x}"),
                ),
                None => {
                    self.failed = true;
                    outside_sensor(&self.name, offset, x, y, self.bounds)
                }
            });
        }
        self.pos = start + words * 4;
        Ok(true)
    }

    fn position(&self) -> u64 {
        self.pos as u64
    }

    fn remaining_hint(&self) -> usize {
        (self.bytes.as_ref().len() - self.pos) / 4
    }
}
