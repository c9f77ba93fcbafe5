//! numpy `.npy` event-array decoder (the NPY format, numpy's
//! `numpy/lib/format.py` / NEP 1 "A simple file format for NumPy arrays", versions 1.0,
//! 2.0 and 3.0).
//!
//! Layout: magic `\x93NUMPY`, major, minor (0), header length (u16 LE for 1.0, u32 LE
//! for 2.0 / 3.0), a Python dict literal `{'descr': ..., 'fortran_order': ..., 'shape': ...}`
//! padded with spaces and `\n`, then the raw array bytes.
//!
//! Accepted arrays (deliberate):
//! * **Structured**, shape `(N,)`: fields `t`, `x`, `y`, `p` in any order, each an integer
//!   (`i`/`u`, 1, 2, 4 or 8 bytes, either endianness), bool (`|b1`) or float (`f4`, `f8`);
//!   other fields (padding `V`, extra columns of any fixed-size type) are skipped. Any other
//!   type (`f2`, complex, strings, datetimes, sub-arrays) for `t/x/y/p` is an
//!   [`ErrorKind::Unsupported`] error naming the field and its type.
//! * **Floats**: a float `x`, `y` or `p` must hold a whole number (3.0, not 3.5, NaN or inf:
//!   else an [`ErrorKind::Corrupt`] error at that value). A float `t` is in
//!   `DecodeOptions::npy_time_unit` like an integer one, scaled to µs and rounded to the nearest
//!   µs: files that store float seconds (`t = 0.0123`) need [`TimeUnit::Seconds`]; the unit is
//!   never guessed from the values. tonic's preconverted DVS Gesture arrays are `x, y, p, t`
//!   with `t` in ms, whatever their dtype (tonic multiplies column 3 by 1000 when it loads
//!   them): [`NpyColumns::Xypt`] + [`TimeUnit::Milliseconds`].
//! * **Plain 2-D** `(N, 4)` integer or float arrays (C or Fortran order) only when the caller states
//!   the column order ([`NpyColumns`], `DecodeOptions::npy_columns`): a bare array carries no
//!   names, so the default refuses it rather than guess (tonic's preconverted DVS Gesture files
//!   are `x, y, p, t`; others write `t, x, y, p`).
//! * Time unit: `DecodeOptions::npy_time_unit` ([`TimeUnit`], default µs); tonic's DVS Gesture
//!   files hold ms (`TimeUnit::Milliseconds`, ×1000). A value that does not fit `i64` µs is an
//!   error.
//! * Values: x and y in `0..=65535`, p in {0, 1} (or −1 for OFF, bool true = ON); anything else
//!   is an [`ErrorKind::Corrupt`] error at that value's byte offset.
//! * The payload must be exactly `N × itemsize` bytes (checked arithmetic; no allocation is
//!   sized from the header before that check).

use std::path::{Path, PathBuf};

use super::{le_u16, le_u32, DecodeError, DecodeOptions, ErrorKind, EventReader, Events};

/// The NPY magic string.
pub const MAGIC: &[u8] = b"\x93NUMPY";
/// Rows decoded per [`EventReader::read_packet`] call.
const ROWS_PER_BLOCK: usize = 1 << 16;
/// Longest header accepted (numpy itself refuses more than 10 000 bytes when reading).
const MAX_HEADER_BYTES: usize = 1 << 16;
/// Nesting depth of the header literal accepted.
const MAX_LITERAL_DEPTH: usize = 8;

/// The unit of the `t` values stored in an `.npy` file.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum TimeUnit {
    /// Microseconds (the default; stored as decoded).
    #[default]
    Microseconds,
    /// Milliseconds (×1000; tonic's preconverted DVS Gesture files).
    Milliseconds,
    /// Nanoseconds (floor-divided by 1000; float values rounded to the nearest µs).
    Nanoseconds,
    /// Seconds (×1 000 000; float values rounded to the nearest µs).
    Seconds,
}

impl TimeUnit {
    /// Microseconds in one unit (the scale of a float `t`).
    pub fn micros_per_unit(self) -> f64 {
        match self {
            TimeUnit::Microseconds => 1.0,
            TimeUnit::Milliseconds => 1e3,
            TimeUnit::Nanoseconds => 1e-3,
            TimeUnit::Seconds => 1e6,
        }
    }
}

/// Column order of a plain `(N, 4)` array (a structured array names its fields).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum NpyColumns {
    /// Only structured arrays with named fields are accepted (the default).
    #[default]
    Named,
    /// Columns `x, y, p, t` (tonic's preconverted DVS Gesture `.npy`).
    Xypt,
    /// Columns `t, x, y, p`.
    Txyp,
}

/// One integer / bool element type.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct IntType {
    signed: bool,
    size: usize,
    big_endian: bool,
    /// IEEE float (`f4`, `f8`): decoded row by row with the float rules (module docs).
    float: bool,
}

/// Where one of t, x, y, p sits inside a row.
#[derive(Clone, Copy, Debug)]
struct Column {
    /// Byte offset inside the row (structured) or column index (plain).
    offset: usize,
    ty: IntType,
}

/// The parsed array description.
#[derive(Clone, Debug)]
struct Layout {
    /// First payload byte.
    data_start: usize,
    rows: usize,
    /// Bytes per row (structured) or per element (plain).
    itemsize: usize,
    /// t, x, y, p.
    columns: [Column; 4],
    /// Plain array: `Some(fortran_order)`; structured: `None`.
    plain: Option<bool>,
}

/// Streaming `.npy` event decoder over an in-memory file.
pub struct NpyReader<B> {
    name: PathBuf,
    bytes: B,
    layout: Layout,
    /// Next row.
    row: usize,
    unit: TimeUnit,
}

impl<B: AsRef<[u8]>> NpyReader<B> {
    /// Parses and checks the header against the bytes present; `name` is used in errors.
    pub fn new(name: &Path, bytes: B, options: &DecodeOptions) -> Result<Self, DecodeError> {
        let layout = parse(name, bytes.as_ref(), options.npy_columns)?;
        Ok(Self {
            name: name.to_path_buf(),
            bytes,
            layout,
            row: 0,
            unit: options.npy_time_unit,
        })
    }

    /// Number of rows (events) the header declares (checked against the payload length).
    pub fn rows(&self) -> usize {
        self.layout.rows
    }
}

fn err(name: &Path, offset: usize, kind: ErrorKind, reason: impl Into<String>) -> DecodeError {
    DecodeError::new(name, offset as u64, kind, reason)
}

/// A value of the header's Python literal.
#[derive(Clone, Debug, PartialEq)]
enum Literal {
    Str(String),
    Int(u64),
    Bool(bool),
    None,
    /// Tuple or list.
    Seq(Vec<Literal>),
    Dict(Vec<(Literal, Literal)>),
}

/// A recursive-descent parser for the small Python-literal subset `np.save` writes.
struct LiteralParser<'a> {
    s: &'a [u8],
    pos: usize,
}

impl LiteralParser<'_> {
    fn skip_ws(&mut self) {
        while self.pos < self.s.len() && self.s[self.pos].is_ascii_whitespace() {
            self.pos += 1;
        }
    }

    fn peek(&mut self) -> Option<u8> {
        self.skip_ws();
        self.s.get(self.pos).copied()
    }

    fn expect(&mut self, c: u8) -> Result<(), String> {
        if self.peek() == Some(c) {
            self.pos += 1;
            Ok(())
        } else {
            Err(format!(
                "expected '{}' at header byte {}",
                c as char, self.pos
            ))
        }
    }

    fn value(&mut self, depth: usize) -> Result<Literal, String> {
        if depth > MAX_LITERAL_DEPTH {
            return Err("header literal nested too deeply".into());
        }
        match self.peek() {
            Some(q @ (b'\'' | b'"')) => {
                self.pos += 1;
                let start = self.pos;
                let len = self.s[start..]
                    .iter()
                    .position(|&c| c == q)
                    .ok_or("unterminated string in header")?;
                self.pos = start + len + 1;
                let text = std::str::from_utf8(&self.s[start..start + len])
                    .map_err(|_| "header string is not UTF-8")?;
                if text.contains('\\') {
                    return Err("escaped strings in the header are not supported".into());
                }
                Ok(Literal::Str(text.to_string()))
            }
            Some(c @ (b'(' | b'[')) => {
                self.pos += 1;
                let close = if c == b'(' { b')' } else { b']' };
                let mut items = Vec::new();
                loop {
                    if self.peek() == Some(close) {
                        self.pos += 1;
                        return Ok(Literal::Seq(items));
                    }
                    items.push(self.value(depth + 1)?);
                    match self.peek() {
                        Some(b',') => self.pos += 1,
                        Some(x) if x == close => {}
                        _ => return Err(format!("bad sequence at header byte {}", self.pos)),
                    }
                }
            }
            Some(b'{') => {
                self.pos += 1;
                let mut items = Vec::new();
                loop {
                    if self.peek() == Some(b'}') {
                        self.pos += 1;
                        return Ok(Literal::Dict(items));
                    }
                    let key = self.value(depth + 1)?;
                    self.expect(b':')?;
                    let value = self.value(depth + 1)?;
                    items.push((key, value));
                    match self.peek() {
                        Some(b',') => self.pos += 1,
                        Some(b'}') => {}
                        _ => return Err(format!("bad dict at header byte {}", self.pos)),
                    }
                }
            }
            Some(c) if c.is_ascii_digit() => {
                let start = self.pos;
                while self.pos < self.s.len() && self.s[self.pos].is_ascii_digit() {
                    self.pos += 1;
                }
                // A trailing `L` (Python 2 long) is accepted.
                let digits = std::str::from_utf8(&self.s[start..self.pos]).unwrap_or("");
                if self.s.get(self.pos) == Some(&b'L') {
                    self.pos += 1;
                }
                digits
                    .parse()
                    .map(Literal::Int)
                    .map_err(|_| format!("integer {digits} in the header is too large"))
            }
            Some(c) if c.is_ascii_alphabetic() => {
                let start = self.pos;
                while self.pos < self.s.len() && self.s[self.pos].is_ascii_alphanumeric() {
                    self.pos += 1;
                }
                match &self.s[start..self.pos] {
                    b"True" => Ok(Literal::Bool(true)),
                    b"False" => Ok(Literal::Bool(false)),
                    b"None" => Ok(Literal::None),
                    other => Err(format!(
                        "unexpected word '{}' in the header",
                        String::from_utf8_lossy(other)
                    )),
                }
            }
            _ => Err(format!("unexpected byte at header byte {}", self.pos)),
        }
    }
}

/// Size in bytes of any fixed-size numpy type string (`'<f8'`, `'|V4'`, `'<U3'`, `'<M8[ns]'`).
fn type_size(descr: &str) -> Option<usize> {
    let body = descr.trim_start_matches(['<', '>', '|', '=']);
    let kind = body.chars().next()?;
    let digits: String = body[kind.len_utf8()..]
        .chars()
        .take_while(|c| c.is_ascii_digit())
        .collect();
    let n: usize = digits.parse().ok()?;
    match kind {
        'U' => n.checked_mul(4),
        'b' | 'i' | 'u' | 'f' | 'c' | 'V' | 'S' | 'a' | 'M' | 'm' => Some(n),
        _ => None,
    }
}

/// The integer / bool type of a type string, or `None` for any other type.
fn int_type(descr: &str) -> Option<IntType> {
    let (order, body) = match descr.as_bytes().first() {
        Some(b'<' | b'|' | b'=') => (false, &descr[1..]),
        Some(b'>') => (true, &descr[1..]),
        _ => (false, descr),
    };
    let (signed, size) = match body {
        "b1" | "?" => (false, 1),
        "i1" => (true, 1),
        "u1" => (false, 1),
        "i2" => (true, 2),
        "u2" => (false, 2),
        "i4" => (true, 4),
        "u4" => (false, 4),
        "i8" => (true, 8),
        "u8" => (false, 8),
        "f4" | "f8" => {
            let size = if body == "f4" { 4 } else { 8 };
            return Some(IntType {
                signed: true,
                size,
                big_endian: order,
                float: true,
            });
        }
        _ => return None,
    };
    Some(IntType {
        signed,
        size,
        big_endian: order && size > 1,
        float: false,
    })
}

/// Parses the preamble and header, checks the payload length and locates t, x, y, p.
fn parse(name: &Path, b: &[u8], columns: NpyColumns) -> Result<Layout, DecodeError> {
    if !b.starts_with(MAGIC) {
        return Err(err(
            name,
            0,
            ErrorKind::Header,
            "missing '\\x93NUMPY' magic",
        ));
    }
    let (Some(&major), Some(&minor)) = (b.get(6), b.get(7)) else {
        return Err(err(
            name,
            b.len(),
            ErrorKind::Truncated,
            "file ends inside the NPY preamble",
        ));
    };
    let (header_len, header_start) = match (major, minor) {
        (1, 0) => (le_u16(b, 8).map(usize::from), 10),
        (2, 0) | (3, 0) => (le_u32(b, 8).map(|v| v as usize), 12),
        _ => {
            return Err(err(
                name,
                6,
                ErrorKind::Unsupported,
                format!("NPY version {major}.{minor} (1.0, 2.0 and 3.0 are supported)"),
            ))
        }
    };
    let header_len = header_len.ok_or_else(|| {
        err(
            name,
            8,
            ErrorKind::Truncated,
            "file ends inside the NPY header length",
        )
    })?;
    if header_len > MAX_HEADER_BYTES {
        return Err(err(
            name,
            8,
            ErrorKind::Corrupt,
            format!("NPY header length {header_len} exceeds {MAX_HEADER_BYTES} bytes"),
        ));
    }
    let data_start = header_start + header_len;
    let header = b.get(header_start..data_start).ok_or_else(|| {
        err(
            name,
            header_start,
            ErrorKind::Truncated,
            format!("file ends inside the {header_len}-byte NPY header"),
        )
    })?;
    let bad_header = |reason: String| err(name, header_start, ErrorKind::Header, reason);
    let mut parser = LiteralParser { s: header, pos: 0 };
    let Literal::Dict(entries) = parser.value(0).map_err(bad_header)? else {
        return Err(bad_header("NPY header is not a dict".into()));
    };
    let get = |key: &str| {
        entries
            .iter()
            .find(|(k, _)| *k == Literal::Str(key.to_string()))
            .map(|(_, v)| v)
    };
    let descr = get("descr").ok_or_else(|| bad_header("NPY header has no 'descr'".into()))?;
    let fortran = match get("fortran_order") {
        Some(Literal::Bool(f)) => *f,
        _ => {
            return Err(bad_header(
                "NPY header has no boolean 'fortran_order'".into(),
            ))
        }
    };
    let shape: Vec<u64> = match get("shape") {
        Some(Literal::Seq(dims)) => dims
            .iter()
            .map(|d| match d {
                Literal::Int(n) => Ok(*n),
                _ => Err(bad_header("NPY 'shape' holds a non-integer".into())),
            })
            .collect::<Result<_, _>>()?,
        _ => return Err(bad_header("NPY header has no tuple 'shape'".into())),
    };
    let unsupported = |reason: String| err(name, header_start, ErrorKind::Unsupported, reason);
    let (rows, itemsize, cols, plain) = match descr {
        Literal::Str(ty) => {
            let [n, 4] = shape[..] else {
                return Err(unsupported(format!(
                    "a plain '{ty}' array of shape {shape:?}: events need a structured array with \
                     fields t, x, y, p or a plain (N, 4) array"
                )));
            };
            let int = int_type(ty).ok_or_else(|| {
                unsupported(format!(
                    "plain array of '{ty}': only integer, bool, float32 and float64 types are supported"
                ))
            })?;
            let order = match columns {
                NpyColumns::Named => return Err(unsupported(
                    "a plain (N, 4) array has no field names, so its column order is ambiguous \
                         (tonic writes x, y, p, t; others t, x, y, p): state it with \
                         DecodeOptions::npy_columns or save a structured array"
                        .into(),
                )),
                NpyColumns::Xypt => [3, 0, 1, 2],
                NpyColumns::Txyp => [0, 1, 2, 3],
            };
            let cols = order.map(|c| Column { offset: c, ty: int });
            let rows = usize::try_from(n).ok();
            let itemsize = int.size.checked_mul(4);
            (rows, itemsize, cols, Some(fortran))
        }
        Literal::Seq(fields) => {
            let [n] = shape[..] else {
                return Err(unsupported(format!(
                    "structured array of shape {shape:?}: only 1-D (N,) event arrays are supported"
                )));
            };
            let mut found: [Option<Column>; 4] = [None; 4];
            let mut offset = 0usize;
            for field in fields {
                let Literal::Seq(parts) = field else {
                    return Err(bad_header(
                        "a 'descr' field is not a (name, type) tuple".into(),
                    ));
                };
                let (fname, fty) = match &parts[..] {
                    [Literal::Str(n), Literal::Str(t)] => (n.as_str(), t.as_str()),
                    [Literal::Str(n), Literal::Str(_), _] => {
                        return Err(unsupported(format!("field '{n}' is a sub-array")))
                    }
                    _ => return Err(unsupported(
                        "a 'descr' field is not a (name, type-string) tuple (nested dtypes are \
                             not supported)"
                            .into(),
                    )),
                };
                let size = type_size(fty).ok_or_else(|| {
                    unsupported(format!("field '{fname}' has unsupported type '{fty}'"))
                })?;
                if let Some(slot) = ["t", "x", "y", "p"].iter().position(|&c| c == fname) {
                    let ty = int_type(fty).ok_or_else(|| {
                        unsupported(format!(
                            "field '{fname}' is '{fty}': only integer, bool, float32 and float64 fields are supported"
                        ))
                    })?;
                    if found[slot].is_some() {
                        return Err(bad_header(format!("field '{fname}' appears twice")));
                    }
                    found[slot] = Some(Column { offset, ty });
                }
                offset = offset
                    .checked_add(size)
                    .ok_or_else(|| bad_header("row size overflows".into()))?;
            }
            let mut cols = [Column {
                offset: 0,
                ty: IntType {
                    signed: false,
                    size: 1,
                    big_endian: false,
                    float: false,
                },
            }; 4];
            for (slot, (col, label)) in found.iter().zip(["t", "x", "y", "p"]).enumerate() {
                cols[slot] = col.ok_or_else(|| {
                    unsupported(format!(
                        "structured array has no field '{label}' (needs t, x, y, p)"
                    ))
                })?;
            }
            (usize::try_from(n).ok(), Some(offset), cols, None)
        }
        _ => {
            return Err(bad_header(
                "NPY 'descr' is neither a type string nor a field list".into(),
            ))
        }
    };
    let payload = b.len() - data_start;
    let expected = rows.zip(itemsize).and_then(|(r, s)| r.checked_mul(s));
    match expected {
        Some(e) if e == payload => {}
        Some(e) if e > payload => {
            return Err(err(
                name,
                b.len(),
                ErrorKind::Truncated,
                format!("the header declares {e} payload bytes but {payload} are present"),
            ))
        }
        Some(e) => {
            return Err(err(
                name,
                data_start + e,
                ErrorKind::Corrupt,
                format!("{} bytes after the declared {e}-byte payload", payload - e),
            ))
        }
        None => {
            return Err(err(
                name,
                header_start,
                ErrorKind::Corrupt,
                format!("shape {shape:?} is larger than any file"),
            ))
        }
    }
    Ok(Layout {
        data_start,
        rows: rows.unwrap_or(0),
        itemsize: itemsize.unwrap_or(0),
        columns: cols,
        plain,
    })
}

/// Reads one float of type `ty` (`f4` / `f8`) at `pos` (inside the checked payload).
#[inline]
fn read_float(b: &[u8], pos: usize, ty: IntType) -> f64 {
    let mut raw = [0u8; 8];
    let s = &b[pos..pos + ty.size];
    raw[..ty.size].copy_from_slice(s);
    if ty.big_endian {
        raw[..ty.size].reverse();
    }
    if ty.size == 4 {
        f64::from(f32::from_le_bytes([raw[0], raw[1], raw[2], raw[3]]))
    } else {
        f64::from_le_bytes(raw)
    }
}

/// Reads one integer of type `ty` at `pos` (inside the checked payload).
#[inline]
fn read_int(b: &[u8], pos: usize, ty: IntType) -> i128 {
    let mut raw = [0u8; 8];
    let s = &b[pos..pos + ty.size];
    if ty.big_endian {
        for (d, v) in raw.iter_mut().zip(s.iter().rev()) {
            *d = *v;
        }
    } else {
        raw[..ty.size].copy_from_slice(s);
    }
    let u = u64::from_le_bytes(raw);
    if ty.signed {
        let shift = 64 - 8 * ty.size as u32;
        i128::from(((u << shift) as i64) >> shift)
    } else {
        i128::from(u)
    }
}

impl<B: AsRef<[u8]>> NpyReader<B> {
    /// Byte offset of column `c` of `row`.
    #[inline]
    fn position(&self, row: usize, c: usize) -> usize {
        let l = &self.layout;
        let col = l.columns[c];
        match l.plain {
            None => l.data_start + row * l.itemsize + col.offset,
            Some(false) => l.data_start + (row * 4 + col.offset) * col.ty.size,
            Some(true) => l.data_start + (col.offset * l.rows + row) * col.ty.size,
        }
    }

    fn decode_row(&self, row: usize) -> Result<(i64, u16, u16, u8), DecodeError> {
        let b = self.bytes.as_ref();
        let bad = |c: usize, what: String| {
            err(
                &self.name,
                self.position(row, c),
                ErrorKind::Corrupt,
                format!("row {row}: {what}"),
            )
        };
        // An integer column as stored; a float one only when it holds a whole number.
        let value = |c: usize| -> Result<i128, DecodeError> {
            let ty = self.layout.columns[c].ty;
            let pos = self.position(row, c);
            if !ty.float {
                return Ok(read_int(b, pos, ty));
            }
            let v = read_float(b, pos, ty);
            if v.is_finite() && v.fract() == 0.0 && v.abs() < 9.2e18 {
                Ok(v as i128)
            } else {
                let label = ["t", "x", "y", "p"][c];
                Err(bad(c, format!("{label} = {v} is not a whole number")))
            }
        };
        let t_ty = self.layout.columns[0].ty;
        let t_us = if t_ty.float {
            // Float time: scaled to µs and rounded to the nearest µs.
            let t = read_float(b, self.position(row, 0), t_ty);
            let us = t * self.unit.micros_per_unit();
            if us.is_finite() && us.abs() < 9.2e18 {
                us.round() as i64
            } else {
                return Err(bad(0, format!("t = {t} does not fit 64-bit microseconds")));
            }
        } else {
            let t = value(0)?;
            let t_us = match self.unit {
                TimeUnit::Microseconds => Some(t),
                TimeUnit::Milliseconds => t.checked_mul(1000),
                TimeUnit::Nanoseconds => Some(t.div_euclid(1000)),
                TimeUnit::Seconds => t.checked_mul(1_000_000),
            };
            t_us.and_then(|v| i64::try_from(v).ok())
                .ok_or_else(|| bad(0, format!("t = {t} does not fit 64-bit microseconds")))?
        };
        let x = value(1)?;
        let x = u16::try_from(x).map_err(|_| bad(1, format!("x = {x} outside 0..=65535")))?;
        let y = value(2)?;
        let y = u16::try_from(y).map_err(|_| bad(2, format!("y = {y} outside 0..=65535")))?;
        let p = match value(3)? {
            1 => 1,
            0 | -1 => 0,
            other => return Err(bad(3, format!("polarity {other} is not 0, 1 or -1"))),
        };
        Ok((t_us, x, y, p))
    }
}

impl<B: AsRef<[u8]>> NpyReader<B> {
    /// Decodes rows `first..end` column by column (one monomorphised gather per column type,
    /// converted and range-checked straight into `out`'s columns) and keeps them when every
    /// value is in range; returns `false`, appending nothing, when some value is not (the
    /// row-by-row path then reports the first bad one).
    fn decode_block_fast(&mut self, first: usize, end: usize, out: &mut Events) -> bool {
        let count = end - first;
        let b = self.bytes.as_ref();
        let l = &self.layout;
        let place = |c: usize| {
            let col = l.columns[c];
            let size = col.ty.size;
            let (start, stride) = match l.plain {
                None => (l.data_start + first * l.itemsize + col.offset, l.itemsize),
                Some(false) => (l.data_start + (first * 4 + col.offset) * size, 4 * size),
                Some(true) => (l.data_start + (col.offset * l.rows + first) * size, size),
            };
            (start, stride, col.ty)
        };
        let before = out.len();
        let coordinate = |v: i64| u16::try_from(v).ok();
        let (start, stride, ty) = place(1);
        let mut fits = gather(b, start, stride, count, ty, &mut out.x, coordinate);
        let (start, stride, ty) = place(2);
        fits &= gather(b, start, stride, count, ty, &mut out.y, coordinate);
        let (start, stride, ty) = place(3);
        fits &= gather(b, start, stride, count, ty, &mut out.p, |v| match v {
            1 => Some(1u8),
            0 | -1 => Some(0),
            _ => None,
        });
        let (start, stride, ty) = place(0);
        fits &= match self.unit {
            TimeUnit::Microseconds => gather(b, start, stride, count, ty, &mut out.t, Some),
            TimeUnit::Milliseconds => gather(b, start, stride, count, ty, &mut out.t, |v| {
                v.checked_mul(1000)
            }),
            TimeUnit::Nanoseconds => gather(b, start, stride, count, ty, &mut out.t, |v| {
                Some(v.div_euclid(1000))
            }),
            TimeUnit::Seconds => gather(b, start, stride, count, ty, &mut out.t, |v| {
                v.checked_mul(1_000_000)
            }),
        };
        if !fits {
            out.t.truncate(before);
            out.x.truncate(before);
            out.y.truncate(before);
            out.p.truncate(before);
        }
        fits
    }
}

/// Appends `convert` of the `count` values of type `ty` at `start, start + stride, ...` (inside
/// the checked payload) to `dst`; returns `false` (with `dst` then holding junk past its old
/// length) when a value does not convert or a `u64` does not fit `i64`.
fn gather<T: Copy + Default>(
    b: &[u8],
    start: usize,
    stride: usize,
    count: usize,
    ty: IntType,
    dst: &mut Vec<T>,
    convert: impl Fn(i64) -> Option<T>,
) -> bool {
    if ty.float {
        return false; // floats take the row-by-row path
    }
    macro_rules! dispatch {
        ($($n:literal)*) => {
            match (ty.size, ty.signed, ty.big_endian) {
                $(
                    ($n, true, false) => gather_typed::<$n, true, false, T>(b, start, stride, count, dst, convert),
                    ($n, true, true) => gather_typed::<$n, true, true, T>(b, start, stride, count, dst, convert),
                    ($n, false, false) => gather_typed::<$n, false, false, T>(b, start, stride, count, dst, convert),
                    ($n, false, true) => gather_typed::<$n, false, true, T>(b, start, stride, count, dst, convert),
                )*
                _ => false,
            }
        };
    }
    dispatch!(1 2 4 8)
}

#[inline(always)]
fn gather_typed<const N: usize, const SIGNED: bool, const BIG: bool, T: Copy + Default>(
    b: &[u8],
    start: usize,
    stride: usize,
    count: usize,
    dst: &mut Vec<T>,
    convert: impl Fn(i64) -> Option<T>,
) -> bool {
    if count == 0 {
        return true;
    }
    // The last value must end inside the payload; then every one does.
    let last_end = (count - 1)
        .checked_mul(stride)
        .and_then(|o| o.checked_add(start))
        .and_then(|o| o.checked_add(N));
    if last_end.is_none_or(|e| e > b.len()) {
        return false;
    }
    let mut fits = true;
    dst.extend((0..count).map(|i| {
        let at = start + i * stride;
        let mut bytes: [u8; N] = b[at..at + N].try_into().expect("N bytes");
        if BIG {
            bytes.reverse();
        }
        let mut raw = [0u8; 8];
        raw[..N].copy_from_slice(&bytes);
        let u = u64::from_le_bytes(raw);
        let v = if SIGNED {
            let shift = 64 - 8 * N as u32;
            ((u << shift) as i64) >> shift
        } else {
            fits &= N < 8 || u <= i64::MAX as u64;
            u as i64
        };
        match convert(v) {
            Some(out) => out,
            None => {
                fits = false;
                T::default()
            }
        }
    }));
    fits
}

impl<B: AsRef<[u8]>> EventReader for NpyReader<B> {
    fn read_packet(&mut self, out: &mut Events) -> Result<bool, DecodeError> {
        if self.row >= self.layout.rows {
            return Ok(false);
        }
        let end = self.layout.rows.min(self.row + ROWS_PER_BLOCK);
        if self.decode_block_fast(self.row, end, out) {
            self.row = end;
            return Ok(true);
        }
        // Some value is out of range: decode row by row up to the first bad one.
        out.reserve(end - self.row);
        for row in self.row..end {
            match self.decode_row(row) {
                Ok((t, x, y, p)) => out.push(t, x, y, p),
                Err(e) => {
                    self.row = self.layout.rows;
                    return Err(e);
                }
            }
        }
        self.row = end;
        Ok(true)
    }

    fn position(&self) -> u64 {
        (self.layout.data_start + self.row * self.layout.itemsize) as u64
    }

    fn remaining_hint(&self) -> usize {
        self.layout.rows - self.row
    }
}
