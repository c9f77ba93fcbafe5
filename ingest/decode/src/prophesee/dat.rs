//! Prophesee DAT decoder (`.dat`; docs.prophesee.ai "DAT File Format").
//!
//! After the `%` header ([`super::parse_header`]; `% Width` / `% Height` give
//! the geometry): one byte event type, one byte event size, then fixed-size
//! little-endian records. Only CD events are decoded: type 0x0C (`EventCD`)
//! or 0x00 (`Event2D`, the Gen1 ATIS files), size 8, each record `u32 t` (µs)
//! then `u32 data` with `x = data & 0x3FFF`, `y = (data >> 14) & 0x3FFF`,
//! `p = data >> 28`. Other event types are refused by name; a polarity other
//! than 0 or 1, a file that ends inside a record and events outside the
//! declared sensor are errors.

use std::path::{Path, PathBuf};

use super::{next_chunk, outside_sensor, parse_header, Bounds};
use crate::{DecodeError, DecodeOptions, ErrorKind, EventReader, Events};

/// Largest sensor side DAT addresses (14-bit coordinates).
pub const MAX_SIDE: u32 = 16384;
/// Event type byte of CD events.
pub const EVENT_CD: u8 = 0x0C;
/// Event type byte of Gen1 `Event2D` events (same record layout).
pub const EVENT_2D: u8 = 0x00;
/// Bytes per CD record.
pub const RECORD_BYTES: usize = 8;
/// Records decoded per [`EventReader::read_packet`] call.
const RECORDS_PER_PACKET: usize = 1 << 16;

/// Streaming DAT decoder over an in-memory file.
pub struct DatReader<B> {
    name: PathBuf,
    bytes: B,
    pos: usize,
    geometry: Option<(u16, u16)>,
    bounds: Bounds,
    failed: bool,
}

impl<B: AsRef<[u8]>> DatReader<B> {
    /// Parses the header and the type / size bytes; `name` is used in errors.
    pub fn new(name: &Path, bytes: B, _options: &DecodeOptions) -> Result<Self, DecodeError> {
        let b = bytes.as_ref();
        let header = parse_header(name, b, MAX_SIDE)?;
        let at = header.end;
        let (Some(&event_type), Some(&event_size)) = (b.get(at), b.get(at + 1)) else {
            return Err(DecodeError::new(
                name,
                at as u64,
                ErrorKind::Truncated,
                "file ends before the event type and size bytes",
            ));
        };
        if event_type != EVENT_CD && event_type != EVENT_2D {
            return Err(DecodeError::new(
                name,
                at as u64,
                ErrorKind::Unsupported,
                format!("DAT event type {event_type:#04x} (only CD 0x0c and 2D 0x00 are decoded)"),
            ));
        }
        if event_size as usize != RECORD_BYTES {
            return Err(DecodeError::new(
                name,
                at as u64 + 1,
                ErrorKind::Corrupt,
                format!("DAT event size {event_size} (CD events are {RECORD_BYTES} bytes)"),
            ));
        }
        Ok(Self {
            name: name.to_path_buf(),
            bytes,
            pos: at + 2,
            geometry: header.geometry,
            bounds: Bounds::new(header.geometry),
            failed: false,
        })
    }

    /// Sensor `(width, height)` from the header, if declared.
    pub fn geometry(&self) -> Option<(u16, u16)> {
        self.geometry
    }
}

impl<B: AsRef<[u8]>> EventReader for DatReader<B> {
    fn read_packet(&mut self, out: &mut Events) -> Result<bool, DecodeError> {
        let start = self.pos;
        let Some(chunk) = next_chunk(
            &self.name,
            self.bytes.as_ref(),
            start,
            &mut self.failed,
            RECORD_BYTES,
            RECORDS_PER_PACKET,
            "a record",
        )?
        else {
            return Ok(false);
        };
        let records = chunk.len() / RECORD_BYTES;
        let Bounds { width, height } = self.bounds;
        let words = chunk
            .chunks_exact(RECORD_BYTES)
            .map(|c| u64::from_le_bytes(c.try_into().unwrap_or([0; 8])));
        // One branch-free pass splits the records into columns and ORs a "bad record" flag;
        // only a chunk that holds a bad record is scanned again, to locate it.
        let before = out.len();
        let mut bad = false;
        out.extend_columns(words.clone().map(|w| {
            let d = (w >> 32) as u32;
            let (x, y, p) = (d & 0x3FFF, (d >> 14) & 0x3FFF, d >> 28);
            bad |= (x >= width) | (y >= height) | (p > 1);
            ((w as u32) as i64, x as u16, y as u16, p as u8)
        }));
        if bad {
            out.t.truncate(before);
            out.x.truncate(before);
            out.y.truncate(before);
            out.p.truncate(before);
            self.failed = true;
            let i = words
                .clone()
                .position(|w| {
                    let d = (w >> 32) as u32;
                    (d & 0x3FFF) >= width || ((d >> 14) & 0x3FFF) >= height || (d >> 28) > 1
                })
                .unwrap_or(0);
            let offset = start + i * RECORD_BYTES;
            let d = (le_u64(chunk, i * RECORD_BYTES) >> 32) as u32;
            let (x, y, p) = (d & 0x3FFF, (d >> 14) & 0x3FFF, d >> 28);
            return Err(if p > 1 {
                DecodeError::new(
                    &self.name,
                    offset as u64,
                    ErrorKind::Corrupt,
                    format!("CD record with polarity {p} (expected 0 or 1)"),
                )
            } else {
                outside_sensor(&self.name, offset, x, y, self.bounds)
            });
        }
        self.pos = start + records * RECORD_BYTES;
        Ok(true)
    }

    fn position(&self) -> u64 {
        self.pos as u64
    }

    fn remaining_hint(&self) -> usize {
        (self.bytes.as_ref().len() - self.pos) / RECORD_BYTES
    }
}

fn le_u64(b: &[u8], pos: usize) -> u64 {
    b.get(pos..pos + 8)
        .and_then(|s| s.try_into().ok())
        .map(u64::from_le_bytes)
        .unwrap_or(0)
}
