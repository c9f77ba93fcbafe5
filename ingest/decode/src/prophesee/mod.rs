//! Prophesee recordings: the shared ASCII header of `.raw` (EVT 2.0 / EVT 3.0)
//! and `.dat` files, and one decoder file per encoding ([`evt2`], [`evt3`],
//! [`dat`]).
//!
//! Header (Prophesee "RAW File Format" and "DAT File Format" pages,
//! docs.prophesee.ai): lines `% key value\n`, ended by a `% end` line (newer
//! files) or else by the first byte that is not `%`. Keys read here:
//! * `% format EVT3;height=720;width=1280` (Metavision ≥ 3): encoding and geometry;
//! * `% evt 3.0` and `% geometry 1280x720` (older `.raw` files);
//! * `% Width 304` / `% Height 240` (`.dat`).
//!
//! Geometry is optional (old DAT files lack it); when declared, every decoded
//! event must lie inside it. A header that declares a width or height of 0 or
//! beyond what the encoding can address is an error.

pub mod dat;
pub mod evt2;
pub mod evt3;

use std::path::Path;

use super::{DecodeError, ErrorKind};

/// The event encoding a `.raw` header names.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum RawEncoding {
    /// EVT 2.0 (`% evt 2.0` or `% format EVT2`).
    Evt2,
    /// EVT 2.1 (recognised so that it is refused by name, not misdecoded).
    Evt21,
    /// EVT 3.0 (`% evt 3.0` or `% format EVT3`).
    Evt3,
}

impl RawEncoding {
    /// The name Prophesee's documentation uses.
    pub fn label(self) -> &'static str {
        match self {
            RawEncoding::Evt2 => "EVT 2.0",
            RawEncoding::Evt21 => "EVT 2.1",
            RawEncoding::Evt3 => "EVT 3.0",
        }
    }
}

/// What the `%` header of a Prophesee file says.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Header {
    /// Offset of the first byte after the header.
    pub end: usize,
    /// Sensor width and height in pixels, when the header declares them.
    pub geometry: Option<(u16, u16)>,
    /// Encoding named by `% evt` or `% format` (`.raw` files).
    pub encoding: Option<RawEncoding>,
}

/// Sensor geometry as the reader checks it: events must have `x < width`
/// and `y < height`; `None` checks nothing but the encoding's own limits.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Bounds {
    pub width: u32,
    pub height: u32,
}

impl Bounds {
    pub(crate) fn new(geometry: Option<(u16, u16)>) -> Self {
        match geometry {
            Some((w, h)) => Self {
                width: w as u32,
                height: h as u32,
            },
            None => Self {
                width: u32::MAX,
                height: u32::MAX,
            },
        }
    }
}

/// Parses the `%` header of `bytes`. `max_side` is the largest width or height
/// the encoding can address (2048 for EVT, 16384 for DAT).
pub fn parse_header(name: &Path, bytes: &[u8], max_side: u32) -> Result<Header, DecodeError> {
    let mut header = Header::default();
    let mut width: Option<u32> = None;
    let mut height: Option<u32> = None;
    let mut pos = 0usize;
    while bytes.get(pos) == Some(&b'%') {
        let Some(nl) = bytes[pos..].iter().position(|&b| b == b'\n') else {
            return Err(DecodeError::new(
                name,
                pos as u64,
                ErrorKind::Truncated,
                "file ends inside the '%' header (unterminated line)",
            ));
        };
        let line = &bytes[pos + 1..pos + nl];
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        let line_pos = pos;
        pos += nl + 1;
        // Header lines are ASCII; a line that is not UTF-8 carries no key we read.
        let Ok(text) = std::str::from_utf8(line) else {
            continue;
        };
        let text = text.trim();
        if text == "end" {
            break;
        }
        let (key, value) = text.split_once(char::is_whitespace).unwrap_or((text, ""));
        let value = value.trim();
        let bad = |what: &str| {
            DecodeError::new(
                name,
                line_pos as u64,
                ErrorKind::Header,
                format!("header line '% {text}': {what}"),
            )
        };
        match key {
            "format" => {
                let mut parts = value.split(';');
                let enc = parts.next().unwrap_or("").trim();
                header.encoding = match enc {
                    "EVT2" => Some(RawEncoding::Evt2),
                    "EVT21" => Some(RawEncoding::Evt21),
                    "EVT3" => Some(RawEncoding::Evt3),
                    _ => return Err(bad("unknown encoding")),
                };
                for part in parts {
                    if let Some((k, v)) = part.split_once('=') {
                        match k.trim() {
                            "width" => width = Some(parse_side(v).ok_or_else(|| bad("bad width"))?),
                            "height" => {
                                height = Some(parse_side(v).ok_or_else(|| bad("bad height"))?)
                            }
                            _ => {}
                        }
                    }
                }
            }
            "evt" => {
                header.encoding = match value {
                    "2.0" => Some(RawEncoding::Evt2),
                    "2.1" => Some(RawEncoding::Evt21),
                    "3.0" => Some(RawEncoding::Evt3),
                    _ => return Err(bad("unknown EVT version")),
                };
            }
            "geometry" => {
                let (w, h) = value.split_once('x').ok_or_else(|| bad("expected WxH"))?;
                width = Some(parse_side(w).ok_or_else(|| bad("bad width"))?);
                height = Some(parse_side(h).ok_or_else(|| bad("bad height"))?);
            }
            "Width" => width = Some(parse_side(value).ok_or_else(|| bad("bad width"))?),
            "Height" => height = Some(parse_side(value).ok_or_else(|| bad("bad height"))?),
            _ => {}
        }
    }
    header.end = pos;
    header.geometry = match (width, height) {
        (None, None) => None,
        (Some(w), Some(h)) => {
            if w == 0 || h == 0 || w > max_side || h > max_side {
                return Err(DecodeError::new(
                    name,
                    0,
                    ErrorKind::Header,
                    format!("header declares a {w}x{h} sensor (each side must be 1..={max_side})"),
                ));
            }
            Some((w as u16, h as u16))
        }
        _ => {
            return Err(DecodeError::new(
                name,
                0,
                ErrorKind::Header,
                "header declares only one of width and height",
            ))
        }
    };
    Ok(header)
}

/// A decimal side length (digits only, at most 9 of them so it cannot overflow).
fn parse_side(s: &str) -> Option<u32> {
    let s = s.trim();
    if s.is_empty() || s.len() > 9 || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse().ok()
}

/// The next chunk of whole `unit`-byte words or records for a Prophesee reader
/// ([`crate::next_records`]): refused once the reader has failed, and a truncation marks it
/// failed.
pub(crate) fn next_chunk<'a>(
    name: &Path,
    bytes: &'a [u8],
    pos: usize,
    failed: &mut bool,
    unit: usize,
    max_units: usize,
    what: &str,
) -> Result<Option<&'a [u8]>, DecodeError> {
    if *failed {
        return Err(DecodeError::after_error(name, pos));
    }
    crate::next_records(name, bytes, pos, unit, max_units, what).inspect_err(|_| *failed = true)
}

/// Parses the header of a `.raw` file that must hold `expected` (a header naming another
/// encoding is refused; one naming none is taken as `expected`).
pub(crate) fn open_raw(
    name: &Path,
    bytes: &[u8],
    expected: RawEncoding,
    max_side: u32,
) -> Result<Header, DecodeError> {
    let header = parse_header(name, bytes, max_side)?;
    match header.encoding {
        Some(enc) if enc != expected => Err(DecodeError::new(
            name,
            0,
            ErrorKind::Header,
            format!("header names {enc:?}, not {}", expected.label()),
        )),
        _ => Ok(header),
    }
}

/// The encoding a `.raw` header names, for [`Format`](super::Format) detection
/// (`None` when `head` holds no `%` header or names no encoding).
pub fn detect_raw_encoding(head: &[u8]) -> Option<RawEncoding> {
    if head.first() != Some(&b'%') {
        return None;
    }
    // `head` may end inside the header: look at complete lines only.
    let mut pos = 0;
    while head.get(pos) == Some(&b'%') {
        let nl = head[pos..].iter().position(|&b| b == b'\n')?;
        let line = &head[pos + 1..pos + nl];
        pos += nl + 1;
        let text = std::str::from_utf8(line).ok()?.trim();
        if text == "end" {
            return None;
        }
        if let Some(v) = text.strip_prefix("evt ") {
            match v.trim() {
                "2.0" => return Some(RawEncoding::Evt2),
                "2.1" => return Some(RawEncoding::Evt21),
                "3.0" => return Some(RawEncoding::Evt3),
                _ => {}
            }
        }
        if let Some(v) = text.strip_prefix("format ") {
            match v.split(';').next().unwrap_or("").trim() {
                "EVT2" => return Some(RawEncoding::Evt2),
                "EVT21" => return Some(RawEncoding::Evt21),
                "EVT3" => return Some(RawEncoding::Evt3),
                _ => {}
            }
        }
    }
    None
}

/// The error for an event outside the declared sensor.
pub(crate) fn outside_sensor(
    name: &Path,
    offset: usize,
    x: u32,
    y: u32,
    bounds: Bounds,
) -> DecodeError {
    DecodeError::new(
        name,
        offset as u64,
        ErrorKind::Corrupt,
        format!(
            "event at (x={x}, y={y}) lies outside the {}x{} sensor the header declares",
            bounds.width, bounds.height
        ),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_both_raw_header_styles_and_dat_lines() {
        let p = Path::new("h");
        let h = parse_header(p, b"% evt 3.0\n% geometry 640x480\n\x00\x60", 2048).unwrap();
        assert_eq!(
            (h.end, h.geometry, h.encoding),
            (29, Some((640, 480)), Some(RawEncoding::Evt3))
        );
        let h = parse_header(p, b"% format EVT2;height=720;width=1280\n% end\n%%", 2048).unwrap();
        assert_eq!(
            (h.geometry, h.encoding),
            (Some((1280, 720)), Some(RawEncoding::Evt2))
        );
        assert_eq!(
            h.end, 42,
            "'% end' ends the header even if data starts with '%'"
        );
        let h = parse_header(
            p,
            b"% Version 2\r\n% Height 240\r\n% Width 304\r\n\x0c\x08",
            16384,
        )
        .unwrap();
        assert_eq!(h.geometry, Some((304, 240)));
        assert!(parse_header(p, b"% geometry 0x480\n", 2048).is_err());
        assert!(parse_header(p, b"% geometry 4096x480\n", 2048).is_err());
        assert!(parse_header(p, b"% Width 99999999999999\n", 16384).is_err());
        assert!(parse_header(p, b"% Width 10\n", 16384).is_err());
        assert!(parse_header(p, b"% evt 3.0", 2048).is_err());
    }
}
