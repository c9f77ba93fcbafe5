//! AEDAT 3.1 decoder (libcaer packet format; the DVS128 Gesture release).
//!
//! Layout: text header lines starting with `#`, the first `#!AER-DAT3.1`,
//! ending with `#!END-HEADER\r\n` (`\n` alone is accepted too); then packets of
//! a 28-byte little-endian header (`i16 eventType, i16 eventSource, i32
//! eventSize, i32 eventTSOffset, i32 eventTSOverflow, i32 eventCapacity, i32
//! eventNumber, i32 eventValid`) followed by `eventCapacity * eventSize` bytes.
//!
//! Policies (deliberate, see also [`DecodeOptions`]):
//! * Only polarity packets (type 1) are decoded; every other type is skipped by
//!   `eventCapacity * eventSize` bytes. Special packets (type 0) are scanned for
//!   `TIMESTAMP_RESET` only.
//! * A polarity packet must have `eventSize = 8` and `eventTSOffset = 4`; its
//!   first `eventNumber` events are decoded (`0 <= eventNumber <= eventCapacity`).
//! * `t = (eventTSOverflow << 31) | ts` (plus the reset offset, see
//!   [`TimestampResetPolicy`]); a negative `ts` or overflow is an error.
//! * Validity bit 0: invalid events are dropped unless
//!   [`DecodeOptions::keep_invalid`] (SpikingJelly ignores the bit).
//! * `x = (data >> 17) & 0x7FFF`, `y = (data >> 2) & 0x7FFF`, `p = (data >> 1) & 1`,
//!   as stored (no flip).
//! * The sensor is the pixel array of the header's `#Source N: <chip>` line (DVS128 /
//!   DAVIS128 128×128, DAVIS240 240×180, DAVIS346 346×260); an event outside it is an error
//!   at its packet's payload. Other chips declare no size and only the 15-bit fields bound x, y.
//! * A packet whose payload is negative or extends past the end of the file,
//!   or a file that ends inside a packet header, is an error.

use std::path::{Path, PathBuf};

use super::{
    le_i32, DecodeError, DecodeOptions, ErrorKind, EventReader, Events, TimestampResetPolicy,
};

/// Bytes in a libcaer packet header.
pub const PACKET_HEADER_BYTES: usize = 28;
/// libcaer event type of polarity packets.
const POLARITY_EVENT: i16 = 1;
/// libcaer event type of special-event packets.
const SPECIAL_EVENT: i16 = 0;
/// Special event type code of `TIMESTAMP_RESET` (bits 1..7 of the data word).
const SPECIAL_TIMESTAMP_RESET: u32 = 1;

/// Streaming AEDAT 3.1 decoder over an in-memory file (`B` is `Vec<u8>` for
/// files, `&[u8]` for borrowed buffers). One [`EventReader::read_packet`]
/// call consumes one packet.
pub struct Aedat31Reader<B> {
    name: PathBuf,
    bytes: B,
    /// Offset of the next packet header.
    pos: usize,
    options: DecodeOptions,
    /// Added to every decoded timestamp (non-zero after a `TIMESTAMP_RESET`
    /// under [`TimestampResetPolicy::Continue`]).
    time_offset: i64,
    /// Largest full timestamp (including `time_offset`) seen so far.
    max_time: i64,
    /// Set after an error so a misused reader does not resume mid-file.
    failed: bool,
    /// The `#Source` chip's pixel array; events are checked against it.
    sensor: Option<(u16, u16)>,
}

impl<B: AsRef<[u8]>> Aedat31Reader<B> {
    /// Parses the text header; `name` is used in errors.
    pub fn new(name: &Path, bytes: B, options: &DecodeOptions) -> Result<Self, DecodeError> {
        let (pos, sensor) = parse_header(name, bytes.as_ref())?;
        Ok(Self {
            name: name.to_path_buf(),
            bytes,
            pos,
            sensor,
            options: *options,
            time_offset: 0,
            max_time: 0,
            failed: false,
        })
    }

    /// The sensor (width, height) of the header's `#Source` chip, when it is a known one.
    pub fn sensor(&self) -> Option<(u16, u16)> {
        self.sensor
    }

    /// Offset of the first packet (the byte after `#!END-HEADER\r\n`).
    pub fn position(&self) -> usize {
        self.pos
    }

    fn err(&mut self, offset: usize, kind: ErrorKind, reason: String) -> DecodeError {
        self.failed = true;
        DecodeError::new(&self.name, offset as u64, kind, reason)
    }

    /// Handles a special-event packet: applies the `TIMESTAMP_RESET` policy.
    fn scan_special(
        &mut self,
        header_pos: usize,
        payload: std::ops::Range<usize>,
        event_size: usize,
        ts_offset: usize,
        overflow: i64,
        count: usize,
    ) -> Result<(), DecodeError> {
        if self.options.timestamp_reset == TimestampResetPolicy::AsStored {
            return Ok(());
        }
        if event_size < 8 || ts_offset > event_size - 4 {
            return Err(self.err(
                header_pos,
                ErrorKind::Corrupt,
                format!("special-event packet with eventSize {event_size} and eventTSOffset {ts_offset}"),
            ));
        }
        for i in 0..count {
            let ev = payload.start + i * event_size;
            let bytes = self.bytes.as_ref();
            let data = super::le_u32(bytes, ev).unwrap_or(0);
            let valid = data & 1 == 1;
            let kind = (data >> 1) & 0x7F;
            if !(valid && kind == SPECIAL_TIMESTAMP_RESET) {
                continue;
            }
            let ts = le_i32(bytes, ev + ts_offset).unwrap_or(0).max(0) as i64;
            match self.options.timestamp_reset {
                TimestampResetPolicy::Error => {
                    return Err(self.err(
                        ev,
                        ErrorKind::TimestampReset,
                        "TIMESTAMP_RESET special event (policy: error)".to_string(),
                    ))
                }
                TimestampResetPolicy::Continue => {
                    let reset_time = self.time_offset + (overflow << 31 | ts);
                    self.max_time = self.max_time.max(reset_time);
                    self.time_offset = self.max_time;
                }
                TimestampResetPolicy::AsStored => {}
            }
        }
        Ok(())
    }
}

/// Finds the end of the text header; returns the offset of the first packet.
/// The pixel array of the chip a `#Source N: <chip>` header line names, for the chip classes
/// whose size is fixed (DVS128, DAVIS128, DAVIS240, DAVIS346); `None` for any other.
pub fn chip_sensor(line: &[u8]) -> Option<(u16, u16)> {
    let rest = line.strip_prefix(b"#Source")?;
    let text = String::from_utf8_lossy(rest);
    let chip = text.split(':').nth(1)?.trim().to_ascii_uppercase();
    if chip.starts_with("DVS128") || chip.starts_with("DAVIS128") {
        Some((128, 128))
    } else if chip.starts_with("DAVIS240") {
        Some((240, 180))
    } else if chip.starts_with("DAVIS346") {
        Some((346, 260))
    } else {
        None
    }
}

/// Parses the text header: the offset of the first packet and the sensor of the first
/// `#Source` line naming a known chip.
fn parse_header(name: &Path, bytes: &[u8]) -> Result<(usize, Option<(u16, u16)>), DecodeError> {
    const VERSION: &[u8] = b"#!AER-DAT3.1";
    if !bytes.starts_with(VERSION) {
        return Err(DecodeError::new(
            name,
            0,
            ErrorKind::Header,
            "missing '#!AER-DAT3.1' version line",
        ));
    }
    let mut pos = 0;
    let mut sensor = None;
    loop {
        if pos >= bytes.len() {
            return Err(DecodeError::new(
                name,
                pos as u64,
                ErrorKind::Truncated,
                "file ends inside the text header (no '#!END-HEADER' line)",
            ));
        }
        if bytes[pos] != b'#' {
            return Err(DecodeError::new(
                name,
                pos as u64,
                ErrorKind::Header,
                "header line does not start with '#' before '#!END-HEADER'",
            ));
        }
        let Some(nl) = bytes[pos..].iter().position(|&b| b == b'\n') else {
            return Err(DecodeError::new(
                name,
                pos as u64,
                ErrorKind::Truncated,
                "file ends inside the text header (unterminated line)",
            ));
        };
        let line = &bytes[pos..pos + nl];
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        pos += nl + 1;
        if line == b"#!END-HEADER" {
            return Ok((pos, sensor));
        }
        sensor = sensor.or_else(|| chip_sensor(line));
    }
}

impl<B: AsRef<[u8]>> EventReader for Aedat31Reader<B> {
    fn read_packet(&mut self, out: &mut Events) -> Result<bool, DecodeError> {
        if self.failed {
            return Err(DecodeError::after_error(&self.name, self.pos));
        }
        let len = self.bytes.as_ref().len();
        let hp = self.pos;
        if hp == len {
            return Ok(false);
        }
        let left = len - hp;
        if left < PACKET_HEADER_BYTES {
            return Err(self.err(
                hp,
                ErrorKind::Truncated,
                format!("file ends inside a packet header ({left} of {PACKET_HEADER_BYTES} bytes)"),
            ));
        }
        let field = |i: usize| le_i32(self.bytes.as_ref(), hp + i).unwrap_or(0);
        let event_type = field(0) as i16;
        let event_size = field(4);
        let ts_offset = field(8);
        let overflow = field(12);
        let capacity = field(16);
        let number = field(20);
        if event_size <= 0 || capacity < 0 || ts_offset < 0 {
            return Err(self.err(
                hp,
                ErrorKind::Corrupt,
                format!(
                    "packet header has eventSize {event_size}, eventCapacity {capacity}, eventTSOffset {ts_offset}"
                ),
            ));
        }
        let payload_len = capacity as u64 * event_size as u64;
        let avail = (left - PACKET_HEADER_BYTES) as u64;
        if payload_len > avail {
            return Err(self.err(
                hp,
                ErrorKind::Truncated,
                format!(
                    "packet declares {capacity} events x {event_size} bytes = {payload_len} bytes but only {avail} bytes remain in the file"
                ),
            ));
        }
        if number < 0 || number > capacity {
            return Err(self.err(
                hp,
                ErrorKind::Corrupt,
                format!("packet eventNumber {number} outside 0..=eventCapacity {capacity}"),
            ));
        }
        if overflow < 0 {
            return Err(self.err(
                hp,
                ErrorKind::Corrupt,
                format!("negative eventTSOverflow {overflow}"),
            ));
        }
        let start = hp + PACKET_HEADER_BYTES;
        // payload_len <= avail, so this fits in usize.
        let end = start + payload_len as usize;
        let count = number as usize;
        let event_size = event_size as usize;
        let overflow = overflow as i64;
        match event_type {
            POLARITY_EVENT => {
                if event_size != 8 || ts_offset != 4 {
                    return Err(self.err(
                        hp,
                        ErrorKind::Corrupt,
                        format!(
                            "polarity packet with eventSize {event_size} / eventTSOffset {ts_offset} (expected 8 / 4)"
                        ),
                    ));
                }
                let base = self.time_offset + (overflow << 31);
                let payload = &self.bytes.as_ref()[start..start + count * 8];
                let before = out.len();
                let negative_ts = decode_polarity(payload, base, self.options.keep_invalid, out);
                if negative_ts {
                    out.t.truncate(before);
                    out.x.truncate(before);
                    out.y.truncate(before);
                    out.p.truncate(before);
                    return Err(self.err(
                        start,
                        ErrorKind::Corrupt,
                        "polarity packet holds a negative timestamp".to_string(),
                    ));
                }
                if let Some((w, h)) = self.sensor {
                    let outside = out.x[before..]
                        .iter()
                        .zip(&out.y[before..])
                        .position(|(&x, &y)| x >= w || y >= h);
                    if let Some(k) = outside {
                        let (x, y) = (out.x[before + k], out.y[before + k]);
                        out.t.truncate(before);
                        out.x.truncate(before);
                        out.y.truncate(before);
                        out.p.truncate(before);
                        return Err(self.err(
                            start,
                            ErrorKind::Corrupt,
                            format!(
                                "polarity event {k} of the packet at (x={x}, y={y}) lies outside the {w}x{h} sensor of the header's #Source chip"
                            ),
                        ));
                    }
                }
                if out.len() > before {
                    // Packets are timestamp-monotonic, so the last event is the latest.
                    self.max_time = self.max_time.max(out.t[out.len() - 1]);
                }
            }
            SPECIAL_EVENT => {
                self.scan_special(
                    hp,
                    start..end,
                    event_size,
                    ts_offset as usize,
                    overflow,
                    count,
                )?;
            }
            _ => {}
        }
        self.pos = end;
        Ok(true)
    }

    fn position(&self) -> u64 {
        self.pos as u64
    }

    fn remaining_hint(&self) -> usize {
        (self.bytes.as_ref().len() - self.pos) / 8
    }
}

/// Decodes 8-byte polarity events into `out`; returns true if any timestamp
/// was negative (the caller discards the packet). The common all-valid case
/// runs as one pass over the (cache-resident) packet: one 8-byte load per
/// event, four column stores.
///
/// Compiled twice (baseline x86-64 and AVX2, chosen at run time) like the AEDAT 2.0 decoder: the
/// AVX2 copy lets LLVM vectorise the column split over 32-byte registers.
fn decode_polarity(payload: &[u8], base: i64, keep_invalid: bool, out: &mut Events) -> bool {
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx2") {
        // SAFETY: the CPU supports AVX2, checked just above.
        return unsafe { decode_polarity_avx2(payload, base, keep_invalid, out) };
    }
    decode_polarity_portable(payload, base, keep_invalid, out)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn decode_polarity_avx2(
    payload: &[u8],
    base: i64,
    keep_invalid: bool,
    out: &mut Events,
) -> bool {
    decode_polarity_portable(payload, base, keep_invalid, out)
}

#[inline(always)]
fn decode_polarity_portable(
    payload: &[u8],
    base: i64,
    keep_invalid: bool,
    out: &mut Events,
) -> bool {
    // Each event as one little-endian u64: data word in the low half,
    // timestamp in the high half.
    let words = payload
        .chunks_exact(8)
        .map(|c| u64::from_le_bytes(c.try_into().unwrap_or([0; 8])));
    // OR of the words (timestamp sign = bit 63), AND of them (validity = bit 0).
    let (any, all) = words
        .clone()
        .fold((0u64, u64::MAX), |(o, a), w| (o | w, a & w));
    if any >> 63 != 0 {
        return true;
    }
    let event = move |w: u64| {
        let d = w as u32;
        (
            base + (w >> 32) as i64,
            ((d >> 17) & 0x7FFF) as u16,
            ((d >> 2) & 0x7FFF) as u16,
            (d >> 1 & 1) as u8,
        )
    };
    if keep_invalid || all & 1 == 1 {
        out.extend_columns(words.map(event));
    } else {
        for w in words {
            if w & 1 == 1 {
                let (t, x, y, p) = event(w);
                out.push(t, x, y, p);
            }
        }
    }
    false
}
