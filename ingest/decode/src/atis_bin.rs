//! ATIS binary decoder: the `.bin` files of N-MNIST and N-Caltech101 (Orchard et al. 2015,
//! "Converting static image datasets to spiking neuromorphic datasets using saccades").
//!
//! Layout (no header): 5-byte records to EOF,
//! `byte0 = x`, `byte1 = y`, `byte2 bit 7 = polarity`, `byte2 bits 6..0 : byte3 : byte4` =
//! 23-bit timestamp in µs (big-endian). Followed exactly as the reference readers do (the
//! N-MNIST Matlab `Read_Ndataset.m`, gorchard/event-Python `eventvision.read_dataset` and
//! tonic's `tonic/io.py:read_mnist_file`):
//! * A record with `y == 240` is a timestamp-overflow marker, not an event: it adds 2^13 µs
//!   to its own and every later record's timestamp (cumulative) and is dropped.
//! * Polarity bit 1 = ON (`p = 1`), 0 = OFF.
//!
//! Sensor policy (deliberate, no guessing): coordinates are checked against
//! [`AtisSensor`] (`DecodeOptions::atis_sensor`): 34×34 for N-MNIST by default; N-Caltech101
//! images have per-file sizes (≤ 240×180 in practice), so for it choose
//! [`AtisSensor::FormatBounds`] (256×240, every coordinate the format can hold) or declare
//! the size. An event outside the sensor is an [`ErrorKind::Corrupt`] error at its offset.
//! A body whose length is not a multiple of 5 ends in an error at the partial record, after
//! the complete records before it were returned.

use std::path::{Path, PathBuf};

use super::{DecodeError, DecodeOptions, ErrorKind, EventReader, Events};

/// Bytes per record.
pub const RECORD_BYTES: usize = 5;
/// The `y` value that marks a timestamp-overflow record.
pub const OVERFLOW_Y: u8 = 240;
/// What one overflow record adds to the timestamps from it on (µs), as the reference readers do.
pub const OVERFLOW_INCREMENT_US: i64 = 1 << 13;
/// Records decoded per [`EventReader::read_packet`] call (the format has no packets).
const RECORDS_PER_BLOCK: usize = 1 << 16;

/// The sensor an ATIS `.bin` file's coordinates are checked against.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum AtisSensor {
    /// N-MNIST: 34×34 (the default).
    #[default]
    NMnist,
    /// Every coordinate the format can hold: x < 256 (a byte), y < 240 (240 marks an
    /// overflow). The choice for N-Caltech101, whose image sizes vary per file.
    FormatBounds,
    /// A declared `width × height`.
    Declared {
        /// Sensor width (x < width).
        width: u16,
        /// Sensor height (y < height).
        height: u16,
    },
}

impl AtisSensor {
    /// `(width, height)`.
    pub fn size(self) -> (u16, u16) {
        match self {
            AtisSensor::NMnist => (34, 34),
            AtisSensor::FormatBounds => (256, 240),
            AtisSensor::Declared { width, height } => (width, height),
        }
    }
}

/// Streaming ATIS `.bin` decoder over an in-memory file.
pub struct AtisReader<B> {
    name: PathBuf,
    bytes: B,
    /// Offset of the next record.
    pos: usize,
    /// Sum of the overflow increments seen so far (µs).
    overflow: i64,
    width: u16,
    height: u16,
}

impl<B: AsRef<[u8]>> AtisReader<B> {
    /// A reader over `bytes` (there is no header to check); `name` is used in errors.
    pub fn new(name: &Path, bytes: B, options: &DecodeOptions) -> Result<Self, DecodeError> {
        let (width, height) = options.atis_sensor.size();
        Ok(Self {
            name: name.to_path_buf(),
            bytes,
            pos: 0,
            overflow: 0,
            width,
            height,
        })
    }

    /// The sensor `(width, height)` coordinates are checked against.
    pub fn sensor(&self) -> (u16, u16) {
        (self.width, self.height)
    }
}

impl<B: AsRef<[u8]>> EventReader for AtisReader<B> {
    fn read_packet(&mut self, out: &mut Events) -> Result<bool, DecodeError> {
        let bytes = self.bytes.as_ref();
        let Some(block) = crate::next_records(
            &self.name,
            bytes,
            self.pos,
            RECORD_BYTES,
            RECORDS_PER_BLOCK,
            "an ATIS record",
        )?
        else {
            return Ok(false);
        };
        // Runs of plain events (on the sensor, no overflow marker) are written in one
        // branch-free pass each; the record that ends a run is handled on its own.
        let (width, height) = (self.width, self.height);
        let special =
            |r: &[u8]| r[1] == OVERFLOW_Y || u16::from(r[0]) >= width || u16::from(r[1]) >= height;
        let mut rest = block;
        let mut at = self.pos;
        loop {
            let records = rest.len() / RECORD_BYTES;
            let run = rest
                .chunks_exact(RECORD_BYTES)
                .position(special)
                .unwrap_or(records);
            let overflow = self.overflow;
            out.extend_columns(
                rest[..run * RECORD_BYTES]
                    .chunks_exact(RECORD_BYTES)
                    .map(|r| {
                        let t = (i64::from(r[2] & 0x7F) << 16)
                            | (i64::from(r[3]) << 8)
                            | i64::from(r[4]);
                        (t + overflow, u16::from(r[0]), u16::from(r[1]), r[2] >> 7)
                    }),
            );
            if run == records {
                break;
            }
            let offset = at + run * RECORD_BYTES;
            let (x, y) = (rest[run * RECORD_BYTES], rest[run * RECORD_BYTES + 1]);
            if y != OVERFLOW_Y {
                self.pos = bytes.len();
                return Err(DecodeError::new(
                    &self.name,
                    offset as u64,
                    ErrorKind::Corrupt,
                    format!("event at (x={x}, y={y}) lies outside the {width}x{height} sensor"),
                ));
            }
            self.overflow += OVERFLOW_INCREMENT_US;
            rest = &rest[(run + 1) * RECORD_BYTES..];
            at = offset + RECORD_BYTES;
        }
        self.pos += block.len();
        Ok(true)
    }

    fn position(&self) -> u64 {
        self.pos as u64
    }

    fn remaining_hint(&self) -> usize {
        (self.bytes.as_ref().len() - self.pos) / RECORD_BYTES
    }
}
