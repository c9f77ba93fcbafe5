//! AEDAT 4.0 decoder (DV / dv-processing files; tonic's CIFAR10-DVS re-pack).
//!
//! Layout: `#!AER-DAT4.0\r\n`, `u32` IOHeader length L, the IOHeader flatbuffer
//! (identifier `IOHE`; field 0 compression, field 1 dataTablePosition, field 2
//! infoNode XML), then packets `i32 streamId, i32 size, payload` up to
//! dataTablePosition (or EOF when it is -1). Each payload is one compressed
//! blob (LZ4 frame, zstd frame or raw) holding a size-prefixed flatbuffer; for
//! `EVTS` streams an `EventPacket { elements: [Event] }` of 16-byte structs
//! `i64 t, i16 x, i16 y, u8 on, 3 padding`.
//!
//! Decoded directly, without the `aedat` crate: every flatbuffer offset is
//! bounds-checked by hand, decompression contexts and buffers are reused across
//! packets, and non-event streams are skipped without decompressing.
//!
//! Policies (deliberate):
//! * One `EVTS` stream is decoded: `DecodeOptions::stream` when given (an id the
//!   infoNode does not declare, or a non-`EVTS` one, is an error listing the
//!   streams), else the lowest-id `EVTS` stream (what tonic does). Packets of other
//!   streams (TRIG, FRME, IMUS, further EVTS) are skipped without decompressing.
//!   A packet whose stream id the infoNode does not declare is an error.
//! * The sensor size is the decoded stream's `info/sizeX` × `info/sizeY`; an event
//!   at `x >= sizeX` or `y >= sizeY` is an error (only negatives are refused when
//!   the stream declares no size).
//! * Time: DV writes each stream's packets in time order and the format has no
//!   wrap-around (i64 µs); `t` is returned as stored, and `DecodeOptions::time_order`
//!   says whether a decrease is an error.
//! * The FileDataTable is not read; decoding stops at dataTablePosition. A
//!   packet crossing it, or a file ending inside a packet, is an error.
//! * `t` is returned as stored (absolute Unix µs); x, y as stored; `p = on`.
//!   A negative x or y is an error.
//! * Errors inside a payload (decompression, flatbuffer bounds) report the
//!   offset of that packet's payload.
//! * LZ4 frame header and block checksums are skipped, not verified.

use std::path::{Path, PathBuf};

use zstd::zstd_safe;

use super::{
    le_i32, le_i64, le_u16, le_u32, DecodeError, DecodeOptions, ErrorKind, EventReader, Events,
};

/// File magic (version line).
pub const MAGIC: &[u8] = b"#!AER-DAT4.0\r\n";
/// Bytes per EVTS event struct.
const EVENT_BYTES: usize = 16;
/// Deepest `<node>` nesting accepted in the infoNode XML.
const MAX_XML_DEPTH: usize = 64;

/// Packet compression declared in the IOHeader.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Compression {
    /// Payloads are raw flatbuffers.
    None,
    /// LZ4 frame format (codes 1 = LZ4, 2 = LZ4_HIGH).
    Lz4,
    /// zstd frames (codes 3 = ZSTD, 4 = ZSTD_HIGH).
    Zstd,
}

/// What the infoNode says about one stream (`<node name="ID">` under `outInfo`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Aedat4Stream {
    /// Stream id (the packets' `streamId`).
    pub id: i32,
    /// `typeIdentifier`: `EVTS` events, `FRME` frames, `IMUS` IMU samples, `TRIG` triggers, ...
    pub type_identifier: String,
    /// `info/sizeX` × `info/sizeY` when declared (event and frame streams): width, height.
    pub size: Option<(u16, u16)>,
}

impl Aedat4Stream {
    /// True for an event (`EVTS`) stream.
    pub fn is_events(&self) -> bool {
        self.type_identifier == "EVTS"
    }
}

/// Parsed IOHeader.
#[derive(Clone, Debug)]
pub struct IoHeader {
    /// Packet compression.
    pub compression: Compression,
    /// File offset of the FileDataTable, or -1 when the file has none.
    pub data_table_position: i64,
    /// Offset of the first packet.
    pub first_packet: usize,
    /// Stream id of the decoded event stream.
    pub event_stream: i32,
    /// Every declared stream id (any type).
    pub declared_streams: Vec<i32>,
    /// Every declared stream, in infoNode order.
    pub streams: Vec<Aedat4Stream>,
    /// Sensor size (width, height) of the decoded event stream, when its info declares one;
    /// events are checked against it.
    pub sensor: Option<(u16, u16)>,
}

/// Streaming AEDAT 4.0 decoder over an in-memory file. One
/// [`EventReader::read_packet`] call consumes one packet.
pub struct Aedat4Reader<B> {
    name: PathBuf,
    bytes: B,
    header: IoHeader,
    /// Offset of the next packet header.
    pos: usize,
    /// Where packets stop (dataTablePosition, or EOF).
    end: usize,
    decompressor: Decompressor,
    failed: bool,
    /// Benchmark mode: decompress event packets but do not parse them.
    decompress_only: bool,
}

impl<B: AsRef<[u8]>> Aedat4Reader<B> {
    /// Parses magic and IOHeader; `name` is used in errors.
    pub fn new(name: &Path, bytes: B, options: &DecodeOptions) -> Result<Self, DecodeError> {
        let header = parse_io_header(name, bytes.as_ref(), options.stream)?;
        let len = bytes.as_ref().len();
        let end = if header.data_table_position >= 0 {
            let dtp = header.data_table_position as u64;
            if dtp < header.first_packet as u64 || dtp > len as u64 {
                return Err(DecodeError::new(
                    name,
                    18,
                    ErrorKind::Corrupt,
                    format!(
                        "dataTablePosition {dtp} outside the packet area {}..={len}",
                        header.first_packet
                    ),
                ));
            }
            dtp as usize
        } else {
            len
        };
        Ok(Self {
            name: name.to_path_buf(),
            bytes,
            pos: header.first_packet,
            end,
            decompressor: Decompressor::new(header.compression),
            header,
            failed: false,
            decompress_only: false,
        })
    }

    /// Benchmark mode: [`EventReader::read_packet`] still walks and decompresses every event
    /// packet but returns no events. `decode-bench` uses it to time the decompressor alone, the
    /// floor that any decoder built on liblz4 / libzstd (ours and the `aedat` crate) pays.
    #[doc(hidden)]
    pub fn set_decompress_only(&mut self, on: bool) {
        self.decompress_only = on;
    }

    /// The parsed IOHeader.
    pub fn header(&self) -> &IoHeader {
        &self.header
    }

    /// Every stream the infoNode declares (id, type, size), for `probe`.
    pub fn streams(&self) -> &[Aedat4Stream] {
        &self.header.streams
    }

    /// Sensor size (width, height) of the decoded stream, when declared.
    pub fn sensor(&self) -> Option<(u16, u16)> {
        self.header.sensor
    }

    fn err(&mut self, offset: usize, kind: ErrorKind, reason: String) -> DecodeError {
        self.failed = true;
        DecodeError::new(&self.name, offset as u64, kind, reason)
    }
}

impl<B: AsRef<[u8]>> EventReader for Aedat4Reader<B> {
    fn read_packet(&mut self, out: &mut Events) -> Result<bool, DecodeError> {
        if self.failed {
            return Err(DecodeError::after_error(&self.name, self.pos));
        }
        let hp = self.pos;
        if hp == self.end {
            return Ok(false);
        }
        let left = self.end - hp;
        let file_len = self.bytes.as_ref().len();
        if left < 8 {
            let kind = if self.end == file_len {
                ErrorKind::Truncated
            } else {
                ErrorKind::Corrupt
            };
            return Err(self.err(
                hp,
                kind,
                format!("packet header ({left} of 8 bytes) cut by the end of the packet area"),
            ));
        }
        let bytes = self.bytes.as_ref();
        let stream_id = le_i32(bytes, hp).unwrap_or(0);
        let size = le_i32(bytes, hp + 4).unwrap_or(0);
        if size < 0 {
            return Err(self.err(
                hp,
                ErrorKind::Corrupt,
                format!("negative packet size {size}"),
            ));
        }
        let size = size as usize;
        let start = hp + 8;
        if size > self.end - start {
            let (kind, what) = if self.end == file_len {
                (ErrorKind::Truncated, "the end of the file")
            } else {
                (ErrorKind::Corrupt, "dataTablePosition")
            };
            return Err(self.err(
                hp,
                kind,
                format!("packet of stream {stream_id} declares {size} payload bytes but only {} remain before {what}", self.end - start),
            ));
        }
        if stream_id != self.header.event_stream {
            if !self.header.declared_streams.contains(&stream_id) {
                return Err(self.err(
                    hp,
                    ErrorKind::Corrupt,
                    format!(
                        "packet for stream id {stream_id}, which the infoNode does not declare"
                    ),
                ));
            }
            self.pos = start + size;
            return Ok(true);
        }
        let payload = &self.bytes.as_ref()[start..start + size];
        let decompress_only = self.decompress_only;
        let result = self.decompressor.decompress(payload).and_then(|fb| {
            if decompress_only {
                std::hint::black_box(fb);
                Ok(())
            } else {
                decode_event_packet(fb, self.header.sensor, out)
            }
        });
        match result {
            Ok(()) => {
                self.pos = start + size;
                Ok(true)
            }
            Err((kind, reason)) => Err(self.err(start, kind, reason)),
        }
    }

    /// One event per 16 bytes left in the packet area: exact for uncompressed files (less the
    /// packet and flatbuffer headers), a lower bound for compressed ones. Bounded by the file
    /// size, never by a header field.
    fn position(&self) -> u64 {
        self.pos as u64
    }

    fn remaining_hint(&self) -> usize {
        (self.end - self.pos) / EVENT_BYTES
    }
}

/// Reusable decompression state: one zstd context and one output buffer for
/// the whole file.
struct Decompressor {
    compression: Compression,
    /// Decompressed bytes; for LZ4 its length is a high-water mark of
    /// initialised bytes and `filled` says how much is current output.
    buf: Vec<u8>,
    filled: usize,
    zstd: Option<zstd_safe::DCtx<'static>>,
}

/// A decompression or flatbuffer failure (kind, reason), located by the caller.
type PayloadError = (ErrorKind, String);

impl Decompressor {
    fn new(compression: Compression) -> Self {
        Self {
            compression,
            buf: Vec::new(),
            filled: 0,
            zstd: None,
        }
    }

    /// Returns the decompressed payload (borrowing either `src` or the reused buffer).
    fn decompress<'s>(&'s mut self, src: &'s [u8]) -> Result<&'s [u8], PayloadError> {
        match self.compression {
            Compression::None => Ok(src),
            Compression::Lz4 => {
                self.filled = lz4_frames_into(src, &mut self.buf)?;
                Ok(&self.buf[..self.filled])
            }
            Compression::Zstd => {
                let dctx = self.zstd.get_or_insert_with(zstd_safe::DCtx::create);
                zstd_into(dctx, src, &mut self.buf)?;
                Ok(&self.buf)
            }
        }
    }
}

/// Decodes a size-prefixed `EVTS` flatbuffer into `out`.
fn decode_event_packet(
    fb: &[u8],
    sensor: Option<(u16, u16)>,
    out: &mut Events,
) -> Result<(), PayloadError> {
    let corrupt = |r: String| (ErrorKind::Corrupt, r);
    let size = le_u32(fb, 0).ok_or_else(|| {
        corrupt(format!(
            "EVTS packet of {} bytes has no size prefix",
            fb.len()
        ))
    })? as usize;
    if size > fb.len() - 4 {
        return Err(corrupt(format!(
            "EVTS size prefix {size} exceeds the {} decompressed bytes",
            fb.len() - 4
        )));
    }
    let buf = &fb[4..4 + size];
    if buf.get(4..8) != Some(b"EVTS".as_slice()) {
        return Err(corrupt(
            "packet of the event stream lacks the 'EVTS' flatbuffer identifier".into(),
        ));
    }
    let table = Table::root(buf)
        .ok_or_else(|| corrupt("EVTS flatbuffer root table out of bounds".into()))?;
    let Some(field) = table.field(0) else {
        return Ok(()); // no `elements` vector: an empty packet
    };
    let vec_pos = table
        .indirect(field)
        .ok_or_else(|| corrupt("EVTS elements offset out of bounds".into()))?;
    let count = le_u32(buf, vec_pos)
        .ok_or_else(|| corrupt("EVTS elements length out of bounds".into()))?
        as usize;
    let data_start = vec_pos + 4;
    let available = (buf.len() - data_start.min(buf.len())) / EVENT_BYTES;
    if count > available {
        return Err(corrupt(format!(
            "EVTS declares {count} events but only {available} fit in the packet"
        )));
    }
    let events = &buf[data_start..data_start + count * EVENT_BYTES];
    // Each event as two little-endian u64 loads: `t`, then x (bits 0..16),
    // y (bits 16..32) and `on` (bits 32..40).
    let recs = events.chunks_exact(EVENT_BYTES).map(|c| {
        let (t, rest) = c.split_at(8);
        (
            u64::from_le_bytes(t.try_into().unwrap_or([0; 8])),
            u64::from_le_bytes(rest.try_into().unwrap_or([0; 8])),
        )
    });
    // x, y are i16 on disk: reject negatives (bit 15 of either) before casting.
    let sign = recs.clone().fold(0u64, |acc, (_, w)| acc | w) & 0x8000_8000;
    if sign != 0 {
        return Err(corrupt("EVTS packet holds a negative x or y".into()));
    }
    if let Some((width, height)) = sensor {
        let outside = recs
            .clone()
            .position(|(_, w)| w as u16 >= width || (w >> 16) as u16 >= height);
        if let Some(k) = outside {
            let (_, w) = recs.clone().nth(k).unwrap_or_default();
            return Err(corrupt(format!(
                "EVTS element {k} at (x={}, y={}) lies outside the {width}x{height} sensor the stream info declares",
                w as u16,
                (w >> 16) as u16
            )));
        }
    }
    out.extend_columns(recs.map(|(t, w)| {
        (
            t as i64,
            w as u16,
            (w >> 16) as u16,
            u8::from((w >> 32) as u8 != 0),
        )
    }));
    Ok(())
}

/// A bounds-checked view of a flatbuffer table.
struct Table<'a> {
    buf: &'a [u8],
    pos: usize,
    vtable: usize,
    vtable_len: usize,
}

impl<'a> Table<'a> {
    /// The root table of an (un-prefixed) flatbuffer.
    fn root(buf: &'a [u8]) -> Option<Self> {
        let pos = le_u32(buf, 0)? as usize;
        Self::at(buf, pos)
    }

    fn at(buf: &'a [u8], pos: usize) -> Option<Self> {
        let soffset = le_i32(buf, pos)? as i64;
        let vtable = pos as i64 - soffset;
        if vtable < 0 {
            return None;
        }
        let vtable = usize::try_from(vtable).ok()?;
        let vtable_len = le_u16(buf, vtable)? as usize;
        if vtable_len < 4 || vtable_len & 1 != 0 || vtable.checked_add(vtable_len)? > buf.len() {
            return None;
        }
        Some(Self {
            buf,
            pos,
            vtable,
            vtable_len,
        })
    }

    /// Absolute position of field `index`, or `None` when absent.
    fn field(&self, index: usize) -> Option<usize> {
        let entry = 4 + 2 * index;
        if entry + 2 > self.vtable_len {
            return None;
        }
        let off = le_u16(self.buf, self.vtable + entry)? as usize;
        if off == 0 {
            return None;
        }
        Some(self.pos + off)
    }

    /// Follows the `uoffset` stored at `field_pos`.
    fn indirect(&self, field_pos: usize) -> Option<usize> {
        let off = le_u32(self.buf, field_pos)? as usize;
        let target = field_pos.checked_add(off)?;
        (target < self.buf.len()).then_some(target)
    }
}

/// Parses magic, IOHeader and infoNode.
fn parse_io_header(
    name: &Path,
    bytes: &[u8],
    chosen: Option<u32>,
) -> Result<IoHeader, DecodeError> {
    let header_err =
        |off: usize, kind: ErrorKind, r: String| DecodeError::new(name, off as u64, kind, r);
    if !bytes.starts_with(MAGIC) {
        return Err(header_err(
            0,
            ErrorKind::Header,
            "missing '#!AER-DAT4.0' magic".into(),
        ));
    }
    let start = MAGIC.len() + 4;
    let len = le_u32(bytes, MAGIC.len()).ok_or_else(|| {
        header_err(
            MAGIC.len(),
            ErrorKind::Truncated,
            "file ends inside the IOHeader length".into(),
        )
    })? as usize;
    if len > bytes.len() - start.min(bytes.len()) {
        return Err(header_err(
            MAGIC.len(),
            ErrorKind::Truncated,
            format!(
                "IOHeader length {len} exceeds the {} bytes left in the file",
                bytes.len().saturating_sub(start)
            ),
        ));
    }
    let buf = &bytes[start..start + len];
    let bad = |r: &str| header_err(start, ErrorKind::Header, format!("IOHeader: {r}"));
    if buf.get(4..8) != Some(b"IOHE".as_slice()) {
        return Err(bad("missing 'IOHE' flatbuffer identifier"));
    }
    let table = Table::root(buf).ok_or_else(|| bad("root table out of bounds"))?;
    let compression_code = match table.field(0) {
        Some(p) => le_i32(buf, p).ok_or_else(|| bad("compression field out of bounds"))?,
        None => 0,
    };
    let compression = match compression_code {
        0 => Compression::None,
        1 | 2 => Compression::Lz4,
        3 | 4 => Compression::Zstd,
        c => {
            return Err(header_err(
                start,
                ErrorKind::Unsupported,
                format!("unknown compression code {c}"),
            ));
        }
    };
    let data_table_position = match table.field(1) {
        Some(p) => le_i64(buf, p).ok_or_else(|| bad("dataTablePosition field out of bounds"))?,
        None => -1,
    };
    let info_field = table.field(2).ok_or_else(|| bad("no infoNode"))?;
    let str_pos = table
        .indirect(info_field)
        .ok_or_else(|| bad("infoNode offset out of bounds"))?;
    let str_len =
        le_u32(buf, str_pos).ok_or_else(|| bad("infoNode length out of bounds"))? as usize;
    let text = buf
        .get(str_pos + 4..)
        .and_then(|rest| rest.get(..str_len))
        .ok_or_else(|| bad("infoNode string out of bounds"))?;
    let text = std::str::from_utf8(text).map_err(|_| bad("infoNode is not UTF-8"))?;
    let streams = parse_info_node(text).map_err(|r| bad(&r))?;
    let listing = || {
        streams
            .iter()
            .map(|s| format!("{} {}", s.id, s.type_identifier))
            .collect::<Vec<_>>()
            .join(", ")
    };
    let event = match chosen {
        None => streams
            .iter()
            .filter(|s| s.is_events())
            .min_by_key(|s| s.id)
            .ok_or_else(|| {
                bad(&format!(
                    "infoNode declares no EVTS (event) stream; streams: {}",
                    listing()
                ))
            })?,
        Some(id) => {
            let found = streams.iter().find(|s| i64::from(s.id) == i64::from(id));
            match found {
                Some(s) if s.is_events() => s,
                Some(s) => {
                    return Err(header_err(
                        start,
                        ErrorKind::Unsupported,
                        format!(
                            "stream {id} is a {} stream, not an EVTS event stream; streams: {}",
                            s.type_identifier,
                            listing()
                        ),
                    ))
                }
                None => {
                    return Err(header_err(
                        start,
                        ErrorKind::Unsupported,
                        format!("no stream {id} in the infoNode; streams: {}", listing()),
                    ))
                }
            }
        }
    };
    let (event_stream, sensor) = (event.id, event.size);
    Ok(IoHeader {
        compression,
        data_table_position,
        first_packet: start + len,
        event_stream,
        declared_streams: streams.iter().map(|s| s.id).collect(),
        sensor,
        streams,
    })
}

/// Extracts id, `typeIdentifier` and `info/sizeX`, `info/sizeY` of every `<node>` directly
/// under `<node name="outInfo">`. A minimal tag scanner: the infoNode is a tiny,
/// machine-written document (no comments, CDATA or entities in the parts read).
fn parse_info_node(xml: &str) -> Result<Vec<Aedat4Stream>, String> {
    /// One `outInfo/<id>` node while it is read: type and the two sizes as found.
    struct Partial<'x> {
        name: &'x str,
        type_identifier: Option<String>,
        size_x: Option<u16>,
        size_y: Option<u16>,
    }
    let mut stack: Vec<&str> = Vec::new();
    let mut partial: Vec<Partial> = Vec::new();
    let mut rest = xml;
    while let Some(lt) = rest.find('<') {
        rest = &rest[lt..];
        let gt = rest.find('>').ok_or("unterminated tag")?;
        let tag = &rest[1..gt];
        let after = &rest[gt + 1..];
        if let Some(attrs) = tag.strip_prefix("node") {
            if !attrs.ends_with('/') {
                if stack.len() >= MAX_XML_DEPTH {
                    return Err("nodes nested too deeply".into());
                }
                let name = attribute(attrs, "name").unwrap_or("");
                stack.push(name);
                if stack.len() == 2 && stack[0] == "outInfo" {
                    if partial.iter().any(|p| p.name == name) {
                        return Err(format!("stream node '{name}' declared twice"));
                    }
                    partial.push(Partial {
                        name,
                        type_identifier: None,
                        size_x: None,
                        size_y: None,
                    });
                }
            }
        } else if tag.starts_with("/node") {
            stack.pop().ok_or("unbalanced </node>")?;
        } else if let Some(attrs) = tag.strip_prefix("attr") {
            let in_stream = stack.len() >= 2 && stack[0] == "outInfo";
            let key = attribute(attrs, "key");
            let value = || -> Result<&str, String> {
                let end = after.find("</attr>").ok_or("unterminated <attr>")?;
                Ok(after[..end].trim())
            };
            if let (true, Some(current)) = (in_stream, partial.last_mut()) {
                match (stack.len(), stack.get(2).copied(), key) {
                    (2, _, Some("typeIdentifier")) => {
                        current.type_identifier = Some(value()?.to_string());
                    }
                    (3, Some("info"), Some(k @ ("sizeX" | "sizeY"))) => {
                        let text = value()?;
                        let side =
                            text.parse::<u16>().ok().filter(|&v| v > 0).ok_or_else(|| {
                                format!(
                                    "stream {} declares {k} '{text}' (must be 1..=65535)",
                                    current.name
                                )
                            })?;
                        if k == "sizeX" {
                            current.size_x = Some(side);
                        } else {
                            current.size_y = Some(side);
                        }
                    }
                    _ => {}
                }
            }
        }
        rest = after;
    }
    let mut streams = Vec::new();
    for p in partial {
        // Nodes without a type (none in DV's files) are not streams.
        let Some(type_identifier) = p.type_identifier else {
            continue;
        };
        let id: i32 = p
            .name
            .parse()
            .map_err(|_| format!("stream node name '{}' is not an integer id", p.name))?;
        if streams.iter().any(|s: &Aedat4Stream| s.id == id) {
            return Err(format!("stream id {id} declared twice"));
        }
        let size = match (p.size_x, p.size_y) {
            (Some(w), Some(h)) => Some((w, h)),
            (None, None) => None,
            _ => return Err(format!("stream {id} declares only one of sizeX, sizeY")),
        };
        streams.push(Aedat4Stream {
            id,
            type_identifier,
            size,
        });
    }
    if streams.is_empty() {
        return Err("no streams under <node name=\"outInfo\">".into());
    }
    Ok(streams)
}

/// Value of `key="..."` inside a tag's attribute text.
fn attribute<'a>(attrs: &'a str, key: &str) -> Option<&'a str> {
    let mut search = attrs;
    loop {
        let at = search.find(key)?;
        let before_ok = at == 0 || search.as_bytes()[at - 1].is_ascii_whitespace();
        let tail = &search[at + key.len()..];
        if before_ok {
            if let Some(v) = tail.strip_prefix("=\"") {
                return v.find('"').map(|end| &v[..end]);
            }
        }
        search = tail;
    }
}

/// LZ4 frame magic number.
const LZ4_MAGIC: u32 = 0x184D_2204;
/// LZ4 back-reference window (bytes of earlier output a linked block may use).
const LZ4_WINDOW: usize = 64 * 1024;

/// Decompresses one or more concatenated LZ4 frames from `src` into `buf`
/// (whose length is only ever grown: it is a reused, zero-initialised
/// scratch area). Returns the number of decompressed bytes at its start.
fn lz4_frames_into(src: &[u8], buf: &mut Vec<u8>) -> Result<usize, PayloadError> {
    let corrupt = |r: String| (ErrorKind::Corrupt, r);
    let truncated = |what: &str| {
        (
            ErrorKind::Truncated,
            format!("LZ4 frame ends inside {what}"),
        )
    };
    let mut pos = 0usize;
    let mut filled = 0usize;
    while pos < src.len() {
        let magic = le_u32(src, pos).ok_or_else(|| truncated("the magic number"))?;
        if magic != LZ4_MAGIC {
            return Err(corrupt(format!("bad LZ4 frame magic {magic:#010x}")));
        }
        let flg = *src
            .get(pos + 4)
            .ok_or_else(|| truncated("the frame descriptor"))?;
        let bd = *src
            .get(pos + 5)
            .ok_or_else(|| truncated("the frame descriptor"))?;
        if flg >> 6 != 1 || flg & 0b10 != 0 || bd & 0x8F != 0 {
            return Err(corrupt(format!(
                "unsupported LZ4 frame descriptor FLG {flg:#04x} BD {bd:#04x}"
            )));
        }
        if flg & 1 != 0 {
            return Err((
                ErrorKind::Unsupported,
                "LZ4 frame needs a dictionary id".into(),
            ));
        }
        let independent = flg & 0x20 != 0;
        let block_checksums = flg & 0x10 != 0;
        let content_size = flg & 0x08 != 0;
        let content_checksum = flg & 0x04 != 0;
        let max_block = match (bd >> 4) & 7 {
            4 => 64 << 10,
            5 => 256 << 10,
            6 => 1 << 20,
            7 => 4 << 20,
            b => return Err(corrupt(format!("bad LZ4 block size code {b}"))),
        };
        // magic + FLG + BD + optional content size + header checksum byte.
        pos += 6 + if content_size { 8 } else { 0 } + 1;
        if pos > src.len() {
            return Err(truncated("the frame descriptor"));
        }
        let frame_start = filled;
        loop {
            let word = le_u32(src, pos).ok_or_else(|| truncated("a block header"))?;
            pos += 4;
            if word == 0 {
                break; // EndMark
            }
            let stored = word & 0x8000_0000 != 0;
            let clen = (word & 0x7FFF_FFFF) as usize;
            if clen > max_block {
                return Err(corrupt(format!(
                    "LZ4 block of {clen} bytes exceeds the {max_block}-byte maximum"
                )));
            }
            let block = src
                .get(pos..pos + clen)
                .ok_or_else(|| truncated("a block"))?;
            pos += clen;
            if block_checksums {
                pos += 4;
                if pos > src.len() {
                    return Err(truncated("a block checksum"));
                }
            }
            // A compressed block expands at most ~255x (match-length bytes),
            // so bound the scratch growth by the bytes actually present.
            let room = if stored {
                clen
            } else {
                max_block.min(clen.saturating_mul(280) + 64)
            };
            if buf.len() < filled + room {
                buf.resize(filled + room, 0);
            }
            let (prefix, rest) = buf.split_at_mut(filled);
            let out = &mut rest[..room];
            let n = if stored {
                out.copy_from_slice(block);
                clen
            } else {
                let dict: &[u8] = if independent {
                    &[]
                } else {
                    &prefix[frame_start.max(filled.saturating_sub(LZ4_WINDOW))..]
                };
                lz4_block_into(block, out, dict).ok_or_else(|| {
                    corrupt(format!(
                        "LZ4 block of {clen} bytes is malformed or expands past {room} bytes"
                    ))
                })?
            };
            filled += n;
        }
        if content_checksum {
            pos += 4;
            if pos > src.len() {
                return Err(truncated("the content checksum"));
            }
        }
    }
    Ok(filled)
}

// `LZ4_decompress_safe_usingDict` is part of liblz4's stable API (lz4.h) and is
// compiled into the static liblz4 that `lz4-sys` builds and links; `lz4-sys`
// just does not declare it.
extern "C" {
    fn LZ4_decompress_safe_usingDict(
        src: *const std::ffi::c_char,
        dst: *mut std::ffi::c_char,
        src_size: std::ffi::c_int,
        dst_capacity: std::ffi::c_int,
        dict_start: *const std::ffi::c_char,
        dict_size: std::ffi::c_int,
    ) -> std::ffi::c_int;
}

/// Decompresses one LZ4 block into `out` with liblz4's bounds-checked decoder
/// (`LZ4_decompress_safe*`, documented never to read outside `block` / `dict`
/// nor write outside `out`, whatever the input). `dict` holds the bytes that
/// precede the block's output (linked blocks), empty for independent blocks.
/// Returns the decompressed length, or `None` for a malformed block or one
/// that does not fit in `out`.
///
/// liblz4 (C, via `lz4-sys`) replaced
/// `lz4_flex`'s safe decoder here: it is several times faster on event
/// payloads and keeps the same guarantee on malicious input.
fn lz4_block_into(block: &[u8], out: &mut [u8], dict: &[u8]) -> Option<usize> {
    // All three lengths are bounded by the 4 MiB LZ4 maximum block size or the
    // 64 KiB window by the caller; refuse anything that would not fit a C int.
    let src_size = std::ffi::c_int::try_from(block.len()).ok()?;
    let dst_capacity = std::ffi::c_int::try_from(out.len()).ok()?;
    let dict_size = std::ffi::c_int::try_from(dict.len()).ok()?;
    // SAFETY: the pointers and sizes describe live, non-overlapping slices
    // (`out` is a `&mut` borrow, `block` and `dict` shared borrows of other
    // memory); liblz4's `_safe` decoders only read `src_size` bytes of `src`
    // and `dict_size` bytes of `dict`, and write at most `dst_capacity` bytes.
    let n = unsafe {
        if dict.is_empty() {
            lz4_sys::LZ4_decompress_safe(
                block.as_ptr().cast(),
                out.as_mut_ptr().cast(),
                src_size,
                dst_capacity,
            )
        } else {
            LZ4_decompress_safe_usingDict(
                block.as_ptr().cast(),
                out.as_mut_ptr().cast(),
                src_size,
                dst_capacity,
                dict.as_ptr().cast(),
                dict_size,
            )
        }
    };
    usize::try_from(n).ok()
}

/// Decompresses one or more zstd frames from `src` into `out` (cleared
/// first) with a reused context. The frame's declared content size is only
/// trusted up to what `src` could physically expand to; otherwise the output
/// grows with the data actually produced.
fn zstd_into(
    dctx: &mut zstd_safe::DCtx<'static>,
    src: &[u8],
    out: &mut Vec<u8>,
) -> Result<(), PayloadError> {
    let zerr = |code: usize| {
        (
            ErrorKind::Corrupt,
            format!("zstd: {}", zstd_safe::get_error_name(code)),
        )
    };
    out.clear();
    dctx.reset(zstd_safe::ResetDirective::SessionOnly)
        .map_err(zerr)?;
    // A zstd block of at most 128 KiB costs at least 4 bytes (RLE), so no
    // frame expands by more than 32768x.
    let physical_max = (src.len() as u64).saturating_mul(32 * 1024).min(1 << 30);
    if let Ok(Some(n)) = zstd_safe::get_frame_content_size(src) {
        if n <= physical_max {
            out.reserve(n as usize);
        }
    }
    if out.capacity() < 4096 {
        out.reserve(4096);
    }
    let mut input = zstd_safe::InBuffer::around(src);
    loop {
        if out.len() == out.capacity() {
            let grow = out.capacity();
            if out.len() as u64 + grow as u64 > physical_max.max(4096) {
                return Err((
                    ErrorKind::Corrupt,
                    "zstd output exceeds what the payload can expand to".into(),
                ));
            }
            out.reserve(grow);
        }
        let pos = out.len();
        let remaining = {
            let mut output = zstd_safe::OutBuffer::around_pos(out, pos);
            dctx.decompress_stream(&mut output, &mut input)
                .map_err(zerr)?
        };
        let consumed = input.pos() == src.len();
        if remaining == 0 {
            if consumed {
                return Ok(());
            }
        } else if consumed && out.len() < out.capacity() {
            return Err((ErrorKind::Truncated, "zstd frame is truncated".into()));
        }
    }
}
