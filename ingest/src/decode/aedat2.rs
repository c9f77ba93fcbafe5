//! AEDAT 2.0 decoder (jAER, DVS128 addresses; the original CIFAR10-DVS release).
//!
//! Layout: ASCII header lines starting with `#`, the first `#!AER-DAT2.0`; no
//! end marker: the header ends at the first line that does not start with `#`.
//! Then 8-byte big-endian records `u32 address, u32 timestamp (µs)` to EOF.
//!
//! Policies (deliberate):
//! * Records with address bit 15 (external / TS-master events) are dropped in
//!   every orientation.
//! * Polarity: `p = 1 - (a & 1)` (bit 0 = 0 is ON), the jAER convention every
//!   CIFAR10-DVS loader uses (the iniVation table says the opposite).
//! * Pixel mapping: [`Orientation`] (`Raw` = address fields as stored,
//!   `SpikingJelly` = `x = 127 - y_raw`, `y = 127 - x_raw`, the default).
//!   Address bits above 15 are ignored, as every reader does.
//! * `t` = the stored 32-bit timestamp (no wrap handling: CIFAR10-DVS
//!   recordings are ~1.3 s long).
//! * A body whose length is not a multiple of 8 ends in an error at the partial
//!   record, after the complete records before it were returned.

use std::path::{Path, PathBuf};

use super::{DecodeError, DecodeOptions, ErrorKind, EventReader, Events, Orientation};

/// Records decoded per [`EventReader::read_packet`] call (AEDAT 2.0 has no packets).
const RECORDS_PER_BLOCK: usize = 1 << 16;
/// Bytes per record.
const RECORD_BYTES: usize = 8;

/// Streaming AEDAT 2.0 decoder over an in-memory file.
pub struct Aedat2Reader<B> {
    name: PathBuf,
    bytes: B,
    /// Offset of the next record.
    pos: usize,
    orientation: Orientation,
}

impl<B: AsRef<[u8]>> Aedat2Reader<B> {
    /// Parses the text header; `name` is used in errors.
    pub fn new(name: &Path, bytes: B, options: &DecodeOptions) -> Result<Self, DecodeError> {
        let pos = parse_header(name, bytes.as_ref())?;
        Ok(Self {
            name: name.to_path_buf(),
            bytes,
            pos,
            orientation: options.orientation,
        })
    }

    /// Offset of the first record.
    pub fn position(&self) -> usize {
        self.pos
    }
}

/// Returns the offset of the first byte after the header.
fn parse_header(name: &Path, bytes: &[u8]) -> Result<usize, DecodeError> {
    const VERSION: &[u8] = b"#!AER-DAT2.0";
    if !bytes.starts_with(VERSION) {
        return Err(DecodeError::new(
            name,
            0,
            ErrorKind::Header,
            "missing or invalid '#!AER-DAT2.0' version line",
        ));
    }
    let mut pos = 0;
    while pos < bytes.len() && bytes[pos] == b'#' {
        match bytes[pos..].iter().position(|&b| b == b'\n') {
            Some(nl) => pos += nl + 1,
            None => {
                return Err(DecodeError::new(
                    name,
                    pos as u64,
                    ErrorKind::Truncated,
                    "file ends inside a header line",
                ))
            }
        }
    }
    Ok(pos)
}

impl<B: AsRef<[u8]>> EventReader for Aedat2Reader<B> {
    fn read_packet(&mut self, out: &mut Events) -> Result<bool, DecodeError> {
        let bytes = self.bytes.as_ref();
        let left = bytes.len() - self.pos;
        if left == 0 {
            return Ok(false);
        }
        let whole = left / RECORD_BYTES;
        if whole == 0 {
            return Err(DecodeError::new(
                &self.name,
                self.pos as u64,
                ErrorKind::Truncated,
                format!("file ends inside an AEDAT 2.0 record ({left} of {RECORD_BYTES} bytes)"),
            ));
        }
        let n = whole.min(RECORDS_PER_BLOCK);
        let block = &bytes[self.pos..self.pos + n * RECORD_BYTES];
        match self.orientation {
            Orientation::Raw => decode_block::<false>(block, out),
            Orientation::SpikingJelly => decode_block::<true>(block, out),
        }
        self.pos += n * RECORD_BYTES;
        Ok(true)
    }

    fn remaining_hint(&self) -> usize {
        (self.bytes.as_ref().len() - self.pos) / RECORD_BYTES
    }
}

/// Pixel mapping of one address (`SJ` selects SpikingJelly's transpose+flip).
#[inline(always)]
fn map_xy<const SJ: bool>(a: u32) -> (u16, u16) {
    let xr = ((a >> 1) & 0x7F) as u16;
    let yr = ((a >> 8) & 0x7F) as u16;
    if SJ {
        (127 - yr, 127 - xr)
    } else {
        (xr, yr)
    }
}

/// Records per sub-block checked for external events: a rare external record
/// only sends its own sub-block down the slow per-record path.
const SUB_BLOCK_RECORDS: usize = 1024;

/// Decodes a block of whole records, sub-block by sub-block.
fn decode_block<const SJ: bool>(block: &[u8], out: &mut Events) {
    for sub in block.chunks(SUB_BLOCK_RECORDS * RECORD_BYTES) {
        decode_sub_block::<SJ>(sub, out);
    }
}

/// Decodes whole records. Sub-blocks without external events (the common
/// case) run as one branch-free pass: one 8-byte load per record, four column
/// stores; a sub-block with external records is decoded as the runs between
/// them (each run again external-free).
#[inline]
fn decode_sub_block<const SJ: bool>(block: &[u8], out: &mut Events) {
    // Each record as the native little-endian load of its 8 bytes: byte k of
    // the record is bits 8k..8k+8. The big-endian address is bytes 0..4, the
    // big-endian timestamp bytes 4..8.
    let words = block
        .chunks_exact(RECORD_BYTES)
        .map(|c| u64::from_le_bytes(c.try_into().unwrap_or([0; 8])));
    let addr = |w: u64| (w as u32).swap_bytes();
    let ts = |w: u64| i64::from(((w >> 32) as u32).swap_bytes());
    // Address bit 15 (external event) is the top bit of byte 2, i.e. bit 23.
    let any_external = words.clone().fold(0u64, |acc, w| acc | w) & (1 << 23) != 0;
    if !any_external {
        out.extend_columns(words.map(|w| {
            let a = addr(w);
            let (x, y) = map_xy::<SJ>(a);
            (ts(w), x, y, 1 - (a & 1) as u8)
        }));
    } else {
        // Decode the runs between external records with the fast path.
        let mut rest = block;
        while !rest.is_empty() {
            let run = rest
                .chunks_exact(RECORD_BYTES)
                .position(|c| c[2] & 0x80 != 0)
                .unwrap_or(rest.len() / RECORD_BYTES);
            decode_sub_block::<SJ>(&rest[..run * RECORD_BYTES], out);
            rest = &rest[((run + 1) * RECORD_BYTES).min(rest.len())..];
        }
    }
}
