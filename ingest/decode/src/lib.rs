//! `dvs-decode`: event-camera file decoders. This file owns what every format
//! shares: the event container ([`Events`]), the one-trait reader interface
//! ([`EventReader`]), format detection ([`Format`]), decoder options
//! ([`DecodeOptions`]) and the error type ([`DecodeError`]: file, byte offset,
//! reason).
//!
//! One file per format lives next to this one:
//! [`aedat2`] (jAER DVS128, CIFAR10-DVS), [`aedat31`] (DVS128 Gesture),
//! [`aedat4`] (DV / tonic's CIFAR10-DVS re-pack, several streams), [`hdf5_decolle`]
//! (torchneuromorphic / DECOLLE pre-cut samples), [`hdf5_events`] (DSEC / tonic-cache
//! `events/{x,y,t,p}` streams), [`atis_bin`] (N-MNIST / N-Caltech101) and [`npy`]; [`prophesee`] holds the
//! Prophesee EVT 2.0 / EVT 3.0 `.raw` and `.dat` decoders and their shared
//! `%` header. Encoders for tests and
//! benchmarks are the `dvs-fixtures` crate's; the fuzz-target bodies live in
//! `ingest/fuzz`.
//!
//! Every decoder works on an in-memory byte buffer (the whole file is read
//! once), so the same code decodes files and fuzzer inputs. Decoders never
//! panic on input bytes and never allocate from a header field that has not
//! been checked against the bytes actually present; every failure is a
//! [`DecodeError`] naming the file, the byte offset and the reason.

pub mod aedat2;
pub mod aedat31;
pub mod aedat4;
pub mod atis_bin;
pub mod hdf5_decolle;
pub mod hdf5_events;
pub mod npy;
pub mod prophesee;

use std::fmt;
use std::path::{Path, PathBuf};

pub use atis_bin::AtisSensor;
pub use hdf5_decolle::{read_hdf5_samples, Hdf5Sample};
pub use hdf5_events::read_hdf5_events;
pub use npy::{NpyColumns, TimeUnit};

/// Structure-of-arrays events in file order (never re-sorted).
///
/// All four vectors always have the same length. `t` is in microseconds as
/// decoded (AEDAT 4 keeps absolute Unix time; nothing is re-based here).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Events {
    /// Timestamps in microseconds.
    pub t: Vec<i64>,
    /// Column (x) coordinate.
    pub x: Vec<u16>,
    /// Row (y) coordinate.
    pub y: Vec<u16>,
    /// Polarity: 1 = ON, 0 = OFF.
    pub p: Vec<u8>,
}

impl Events {
    /// An empty event set.
    pub fn new() -> Self {
        Self::default()
    }

    /// An empty event set with room for `n` events in every column.
    pub fn with_capacity(n: usize) -> Self {
        Self {
            t: Vec::with_capacity(n),
            x: Vec::with_capacity(n),
            y: Vec::with_capacity(n),
            p: Vec::with_capacity(n),
        }
    }

    /// Number of events.
    pub fn len(&self) -> usize {
        self.t.len()
    }

    /// True when there are no events.
    pub fn is_empty(&self) -> bool {
        self.t.is_empty()
    }

    /// Removes all events, keeping the allocations for reuse.
    pub fn clear(&mut self) {
        self.t.clear();
        self.x.clear();
        self.y.clear();
        self.p.clear();
    }

    /// Reserves room for `additional` more events in every column.
    ///
    /// Callers inside this module only pass counts derived from bytes that are
    /// actually present (never from a header field).
    pub fn reserve(&mut self, additional: usize) {
        self.t.reserve(additional);
        self.x.reserve(additional);
        self.y.reserve(additional);
        self.p.reserve(additional);
    }

    /// Appends one event.
    #[inline]
    pub fn push(&mut self, t: i64, x: u16, y: u16, p: u8) {
        self.t.push(t);
        self.x.push(x);
        self.y.push(y);
        self.p.push(p);
    }

    /// Appends every `(t, x, y, p)` of `events` in one pass, writing the four
    /// columns side by side (the decoders' hot loop: one load per record,
    /// four stores, no per-event capacity checks). `events.len()` is used to
    /// reserve room once; an iterator that yields fewer items is handled, and
    /// items beyond its reported length are ignored.
    #[inline(always)]
    pub(crate) fn extend_columns<I>(&mut self, events: I)
    where
        I: ExactSizeIterator<Item = (i64, u16, u16, u8)>,
    {
        let n = events.len();
        self.reserve(n);
        let len = self.len();
        let mut written = 0usize;
        {
            let t = &mut self.t.spare_capacity_mut()[..n];
            let x = &mut self.x.spare_capacity_mut()[..n];
            let y = &mut self.y.spare_capacity_mut()[..n];
            let p = &mut self.p.spare_capacity_mut()[..n];
            let slots = t
                .iter_mut()
                .zip(x.iter_mut())
                .zip(y.iter_mut())
                .zip(p.iter_mut());
            for ((((ts, xs), ys), ps), (te, xe, ye, pe)) in slots.zip(events) {
                ts.write(te);
                xs.write(xe);
                ys.write(ye);
                ps.write(pe);
                written += 1;
            }
        }
        // SAFETY: `reserve(n)` made room for `n` more elements in every column,
        // and the loop above initialised the first `written <= n` spare slots of
        // each of the four columns (the zip stops at the shortest input).
        unsafe {
            self.t.set_len(len + written);
            self.x.set_len(len + written);
            self.y.set_len(len + written);
            self.p.set_len(len + written);
        }
    }

    /// Appends all events of `other`, in order.
    pub fn extend_from(&mut self, other: &Events) {
        self.t.extend_from_slice(&other.t);
        self.x.extend_from_slice(&other.x);
        self.y.extend_from_slice(&other.y);
        self.p.extend_from_slice(&other.p);
    }

    /// Events `range` (index range, half-open) copied into a new set.
    pub fn slice(&self, range: std::ops::Range<usize>) -> Events {
        Events {
            t: self.t[range.clone()].to_vec(),
            x: self.x[range.clone()].to_vec(),
            y: self.y[range.clone()].to_vec(),
            p: self.p[range].to_vec(),
        }
    }
}

/// The on-disk recording formats this module decodes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Format {
    /// AEDAT 2.0 (jAER, DVS128 addresses, big-endian): CIFAR10-DVS original release.
    Aedat2,
    /// AEDAT 3.1 (libcaer packets, little-endian): DVS128 Gesture.
    Aedat31,
    /// AEDAT 4.0 (DV, compressed flatbuffer packets): tonic's CIFAR10-DVS re-pack.
    Aedat4,
    /// HDF5 in the DECOLLE / torchneuromorphic layout (pre-cut samples).
    Hdf5,
    /// ATIS binary, 5-byte records (N-MNIST, N-Caltech101 `.bin`).
    AtisBin,
    /// numpy `.npy` event array (structured t/x/y/p, or plain (N, 4) with stated columns).
    Npy,
    /// Prophesee EVT 2.0 `.raw` (32-bit words).
    Evt2,
    /// Prophesee EVT 3.0 `.raw` (16-bit vectorised words).
    Evt3,
    /// Prophesee `.dat` (8-byte CD records).
    Dat,
}

/// HDF5 files start with this 8-byte signature.
const HDF5_SIGNATURE: &[u8] = b"\x89HDF\r\n\x1a\n";

impl Format {
    /// Detects the format from the first bytes of a file (the version line or
    /// signature), falling back to the file extension when the first bytes say
    /// nothing (`.aedat4` → AEDAT 4, `.h5`/`.hdf5` → HDF5). A `.aedat` file
    /// whose version line is unrecognised gives `None`: 2.0 and 3.1 share the
    /// extension and guessing would misdecode.
    pub fn detect(path: &Path, head: &[u8]) -> Option<Format> {
        if head.starts_with(b"#!AER-DAT2.0") {
            return Some(Format::Aedat2);
        }
        if head.starts_with(b"#!AER-DAT3.1") {
            return Some(Format::Aedat31);
        }
        if head.starts_with(b"#!AER-DAT4.0") {
            return Some(Format::Aedat4);
        }
        if head.starts_with(HDF5_SIGNATURE) {
            return Some(Format::Hdf5);
        }
        if head.starts_with(npy::MAGIC) {
            return Some(Format::Npy);
        }
        let ext = path
            .extension()
            .and_then(|e| e.to_str())
            .map(|e| e.to_ascii_lowercase());
        // Prophesee: a `%` header; `.raw` says its encoding there, `.dat` has one.
        match (ext.as_deref(), prophesee::detect_raw_encoding(head)) {
            (Some("raw"), Some(prophesee::RawEncoding::Evt2)) => return Some(Format::Evt2),
            (Some("raw"), Some(prophesee::RawEncoding::Evt3)) => return Some(Format::Evt3),
            (Some("dat"), _) if head.first() == Some(&b'%') => return Some(Format::Dat),
            _ => {}
        }
        match ext.as_deref() {
            Some("aedat4") => Some(Format::Aedat4),
            Some("h5") | Some("hdf5") => Some(Format::Hdf5),
            // Headerless: the extension is all there is (N-MNIST / N-Caltech101 naming).
            Some("bin") => Some(Format::AtisBin),
            _ => None,
        }
    }

    /// Reads the first bytes of `path` and calls [`Format::detect`]; an
    /// unrecognised file is a [`DecodeError`] of kind [`ErrorKind::Header`].
    pub fn detect_file(path: &Path) -> Result<Format, DecodeError> {
        use std::io::Read;
        // Enough for a Prophesee `%` header, whose encoding line may come late.
        let mut head = [0u8; 4096];
        let mut file = std::fs::File::open(path).map_err(|e| DecodeError::io(path, 0, &e))?;
        let mut filled = 0;
        while filled < head.len() {
            match file.read(&mut head[filled..]) {
                Ok(0) => break,
                Ok(n) => filled += n,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) => return Err(DecodeError::io(path, filled as u64, &e)),
            }
        }
        Format::detect(path, &head[..filled]).ok_or_else(|| {
            DecodeError::new(
                path,
                0,
                ErrorKind::Header,
                "unrecognised format: no '#!AER-DAT2.0/3.1/4.0' version line, HDF5 signature or Prophesee '%' header naming its encoding",
            )
        })
    }

    /// Human-readable name ("AEDAT 2.0", ...).
    pub fn name(self) -> &'static str {
        match self {
            Format::Aedat2 => "AEDAT 2.0",
            Format::Aedat31 => "AEDAT 3.1",
            Format::Aedat4 => "AEDAT 4.0",
            Format::Hdf5 => "HDF5",
            Format::AtisBin => "ATIS binary",
            Format::Npy => "numpy .npy",
            Format::Evt2 => "Prophesee EVT 2.0",
            Format::Evt3 => "Prophesee EVT 3.0",
            Format::Dat => "Prophesee DAT",
        }
    }
}

impl fmt::Display for Format {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Pixel mapping for AEDAT 2.0 DVS128 addresses (CIFAR10-DVS). Other formats
/// always return x, y as stored.
///
/// With `x_raw = (a >> 1) & 0x7F`, `y_raw = (a >> 8) & 0x7F`:
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum Orientation {
    /// `x = x_raw`, `y = y_raw`: the address fields as stored (jAER puts
    /// (0,0) at the lower left and mirrors x for display).
    Raw,
    /// SpikingJelly's CIFAR10-DVS mapping: `x = 127 - y_raw`, `y = 127 - x_raw`
    /// (the transpose of the jAER display image). This is the default because
    /// the published CIFAR10-DVS pipelines (SpikingJelly, TET, ASGL) train on
    /// frames `F[p, y, x]` in this orientation. Unlike SpikingJelly, external
    /// (bit 15) records are still dropped.
    #[default]
    SpikingJelly,
}

/// What the AEDAT 3.1 decoder does when a polarity packet's source restarts
/// time with a `TIMESTAMP_RESET` special event (special type 1 in a type-0
/// packet).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum TimestampResetPolicy {
    /// Default: keep time monotonic. Every event after a reset gets an added
    /// offset equal to the largest full timestamp decoded before the reset
    /// (events, or the reset event itself), so `t` never goes backwards. A
    /// reset that comes before any event (the usual place, at recording start)
    /// changes nothing, so this agrees with SpikingJelly on such files.
    #[default]
    Continue,
    /// Ignore resets and return timestamps as stored (SpikingJelly's
    /// behaviour); time may go backwards after a reset.
    AsStored,
    /// Treat a reset as a decoding error.
    Error,
}

/// Options shared by all decoders (each decoder reads the fields that apply).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct DecodeOptions {
    /// AEDAT 2.0 pixel mapping (default [`Orientation::SpikingJelly`]).
    pub orientation: Orientation,
    /// AEDAT 3.1: keep events whose validity bit (bit 0) is clear. Default
    /// `false` drops them as the spec says; `true` matches SpikingJelly, which
    /// ignores the bit.
    pub keep_invalid: bool,
    /// AEDAT 3.1: what a `TIMESTAMP_RESET` special event does.
    pub timestamp_reset: TimestampResetPolicy,
    /// ATIS `.bin`: the sensor coordinates are checked against (default N-MNIST 34×34).
    pub atis_sensor: AtisSensor,
    /// `.npy`: the unit of the stored `t` values (default µs).
    pub npy_time_unit: TimeUnit,
    /// `.npy`: the column order of a plain `(N, 4)` array (default: refuse it).
    pub npy_columns: NpyColumns,
    /// AEDAT 4: the id of the stream to decode (default: the lowest-id `EVTS` stream). An id the
    /// file does not declare, or one that is not an event stream, is an error naming the
    /// streams the file holds.
    pub stream: Option<u32>,
    /// What a timestamp smaller than the previous event's does (default: kept as stored).
    pub time_order: TimeOrder,
    /// A sensor size (width, height) every event must lie inside, on any format (`--sensor
    /// WxH`): for files that declare none (`.npy`, HDF5 `x, y, t, p`, AEDAT 4 without
    /// `sizeX`/`sizeY`) it is the only bound; where the file declares one, events must lie
    /// inside both. Default `None`: the file's own declaration (or format limits) only.
    pub sensor: Option<(u16, u16)>,
}

/// What a decoder does when an event's timestamp is smaller than the previous event's.
///
/// Every decoder first applies what its format defines for time going round (EVT 2.0 / 3.0
/// time-high wrap, the ATIS / N-Caltech101 overflow rule, AEDAT 3.1 timestamp overflow and
/// resets); this policy is about what is left: real sensors emit small reorderings (a Prophesee
/// readout is not strictly sorted), corrupt files emit large ones.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum TimeOrder {
    /// Timestamps are returned as stored (the default; `dvs-ingest probe` counts violations).
    #[default]
    AsStored,
    /// The first event whose `t` is smaller than the previous event's is an
    /// [`ErrorKind::TimeOrder`] error naming the byte offset of the packet (or block of
    /// records) holding it, its index and both timestamps.
    Error,
}

/// Broad class of a [`DecodeError`], for callers that branch on it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ErrorKind {
    /// The file could not be read.
    Io,
    /// Missing or invalid version line / magic / file header.
    Header,
    /// The file ends inside a header, packet or record.
    Truncated,
    /// A field holds an impossible value (negative size, bad event size, a
    /// size larger than the rest of the file, bad flatbuffer offsets, ...).
    Corrupt,
    /// Valid but not supported here (e.g. an unknown compression code).
    Unsupported,
    /// A `TIMESTAMP_RESET` under [`TimestampResetPolicy::Error`].
    TimestampReset,
    /// Time going backwards under [`TimeOrder::Error`].
    TimeOrder,
    /// Error reported by the HDF5 library or an unexpected HDF5 layout.
    Hdf5,
}

/// A decoding failure: which file, at which byte offset, and why.
///
/// Displays as `"<file>: offset <N>: <reason>"`. For HDF5 the offset is 0
/// (the library does not report byte positions) and the reason names the
/// dataset path.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{}: offset {offset}: {reason}", file.display())]
pub struct DecodeError {
    /// The file being decoded (or the name given to an in-memory buffer).
    pub file: PathBuf,
    /// Byte offset in the file where the problem was found (for AEDAT 4
    /// packet payloads: the start of that packet's payload).
    pub offset: u64,
    /// Broad class of the failure.
    pub kind: ErrorKind,
    /// Human-readable reason.
    pub reason: String,
}

impl DecodeError {
    /// Builds an error.
    pub fn new(
        file: impl Into<PathBuf>,
        offset: u64,
        kind: ErrorKind,
        reason: impl Into<String>,
    ) -> Self {
        Self {
            file: file.into(),
            offset,
            kind,
            reason: reason.into(),
        }
    }

    /// Builds an [`ErrorKind::Io`] error from an `std::io::Error`.
    pub fn io(file: impl Into<PathBuf>, offset: u64, err: &std::io::Error) -> Self {
        Self::new(file, offset, ErrorKind::Io, format!("I/O error: {err}"))
    }

    /// The error a reader returns when it is called again after it failed: decoding never
    /// resumes past a corrupt spot.
    pub(crate) fn after_error(file: &Path, offset: usize) -> Self {
        Self::new(
            file,
            offset as u64,
            ErrorKind::Corrupt,
            "reader used after an error",
        )
    }
}

/// The next run of whole `unit`-byte records of `bytes` from `pos`, at most `max_units` of them;
/// `Ok(None)` at the end of the data. Data that ends inside a record is an
/// [`ErrorKind::Truncated`] error at `pos` naming `what` ("an ATIS record", "a 16-bit word").
/// Every fixed-record decoder takes its packets through this.
pub(crate) fn next_records<'a>(
    file: &Path,
    bytes: &'a [u8],
    pos: usize,
    unit: usize,
    max_units: usize,
    what: &str,
) -> Result<Option<&'a [u8]>, DecodeError> {
    let left = bytes.len().saturating_sub(pos);
    if left == 0 {
        return Ok(None);
    }
    let whole = (left / unit).min(max_units);
    if whole == 0 {
        return Err(DecodeError::new(
            file,
            pos as u64,
            ErrorKind::Truncated,
            format!("file ends inside {what} ({left} of {unit} bytes)"),
        ));
    }
    Ok(Some(&bytes[pos..pos + whole * unit]))
}

/// A streaming event decoder over one recording.
pub trait EventReader {
    /// Appends the next packet's events to `out` (for AEDAT 2.0, which has no
    /// packets, the next block of records). Returns `Ok(true)` when a packet
    /// was consumed, even if it held no polarity events (e.g. a skipped
    /// packet of another type), and `Ok(false)` at the clean end of the
    /// stream. After an error the reader should not be used again.
    fn read_packet(&mut self, out: &mut Events) -> Result<bool, DecodeError>;

    /// Upper bound on the events still to come, derived from the bytes left
    /// (not from header fields); useful to reserve output once. Compressed
    /// formats return 0 (unknown).
    fn remaining_hint(&self) -> usize {
        0
    }

    /// Byte offset of the next packet (or block of records) to be decoded: where an error
    /// about the events of the next [`EventReader::read_packet`] call is located.
    fn position(&self) -> u64 {
        0
    }

    /// Appends every remaining event to `out`.
    fn read_to_end(&mut self, out: &mut Events) -> Result<(), DecodeError> {
        out.reserve(self.remaining_hint());
        while self.read_packet(out)? {}
        Ok(())
    }
}

/// Reads a whole file into memory, mapping I/O failures to [`DecodeError`].
pub fn read_file_bytes(path: &Path) -> Result<Vec<u8>, DecodeError> {
    std::fs::read(path).map_err(|e| DecodeError::io(path, 0, &e))
}

/// Opens a streaming reader over `path` (read into memory once).
///
/// `Format::Hdf5` opens an `events/{x,y,t,p}` (or top-level `x, y, t, p`) event stream
/// ([`hdf5_events`]); an HDF5 file in the DECOLLE layout is rejected with
/// [`ErrorKind::Unsupported`]: it holds pre-cut samples, use [`read_hdf5_samples`].
pub fn open(
    path: &Path,
    format: Format,
    options: &DecodeOptions,
) -> Result<Box<dyn EventReader>, DecodeError> {
    if format == Format::Hdf5 {
        // libhdf5 opens paths: an event-stream file is decoded here, not from bytes.
        if !hdf5_events::is_events_file(path) {
            return Err(hdf5_not_a_stream(path));
        }
        let reader = Box::new(hdf5_events::Hdf5EventsReader::open(path)?);
        return Ok(CheckedReader::wrap(path, reader, options));
    }
    let bytes = read_file_bytes(path)?;
    open_bytes(path, bytes, format, options)
}

/// Opens a streaming reader over an in-memory buffer; `name` is used in errors.
/// `bytes` may be owned (`Vec<u8>`) or borrowed (`&[u8]`).
pub fn open_bytes<'a, B: AsRef<[u8]> + 'a>(
    name: &Path,
    bytes: B,
    format: Format,
    options: &DecodeOptions,
) -> Result<Box<dyn EventReader + 'a>, DecodeError> {
    let reader: Box<dyn EventReader + 'a> = match format {
        Format::Aedat2 => Box::new(aedat2::Aedat2Reader::new(name, bytes, options)?),
        Format::Aedat31 => Box::new(aedat31::Aedat31Reader::new(name, bytes, options)?),
        Format::Aedat4 => Box::new(aedat4::Aedat4Reader::new(name, bytes, options)?),
        Format::AtisBin => Box::new(atis_bin::AtisReader::new(name, bytes, options)?),
        Format::Npy => Box::new(npy::NpyReader::new(name, bytes, options)?),
        Format::Evt2 => Box::new(prophesee::evt2::Evt2Reader::new(name, bytes, options)?),
        Format::Evt3 => Box::new(prophesee::evt3::Evt3Reader::new(name, bytes, options)?),
        Format::Dat => Box::new(prophesee::dat::DatReader::new(name, bytes, options)?),
        Format::Hdf5 => return Err(hdf5_not_a_stream(name)),
    };
    Ok(CheckedReader::wrap(name, reader, options))
}

/// What [`open`] / [`open_bytes`] check on top of each decoder's own checks, on any format:
/// [`TimeOrder::Error`] and [`DecodeOptions::sensor`]. Wraps any reader; a failure names the
/// offset of the packet holding the event, its index and the values.
pub struct CheckedReader<'a> {
    name: PathBuf,
    inner: Box<dyn EventReader + 'a>,
    time_order: TimeOrder,
    sensor: Option<(u16, u16)>,
    /// `t` of the last event returned so far.
    last_t: Option<i64>,
    /// Events returned so far.
    seen: u64,
    failed: bool,
}

impl<'a> CheckedReader<'a> {
    /// Checks the events `inner` decodes from the file `name` as `options` say.
    pub fn new(name: &Path, inner: Box<dyn EventReader + 'a>, options: &DecodeOptions) -> Self {
        Self {
            name: name.to_path_buf(),
            inner,
            time_order: options.time_order,
            sensor: options.sensor,
            last_t: None,
            seen: 0,
            failed: false,
        }
    }

    /// `inner` itself when `options` ask for no check, else `inner` wrapped.
    pub fn wrap(
        name: &Path,
        inner: Box<dyn EventReader + 'a>,
        options: &DecodeOptions,
    ) -> Box<dyn EventReader + 'a> {
        if options.time_order == TimeOrder::AsStored && options.sensor.is_none() {
            inner
        } else {
            Box::new(Self::new(name, inner, options))
        }
    }
}

impl EventReader for CheckedReader<'_> {
    fn read_packet(&mut self, out: &mut Events) -> Result<bool, DecodeError> {
        let offset = self.inner.position();
        if self.failed {
            return Err(DecodeError::after_error(&self.name, offset as usize));
        }
        let start = out.len();
        let more = self.inner.read_packet(out)?;
        let fail = |this: &mut Self, kind, reason: String| {
            this.failed = true;
            Err(DecodeError::new(&this.name, offset, kind, reason))
        };
        if let Some((width, height)) = self.sensor {
            let outside = out.x[start..]
                .iter()
                .zip(&out.y[start..])
                .position(|(&x, &y)| x >= width || y >= height);
            if let Some(k) = outside {
                let (x, y) = (out.x[start + k], out.y[start + k]);
                let index = self.seen + k as u64;
                return fail(
                    self,
                    ErrorKind::Corrupt,
                    format!(
                        "event {index} at (x={x}, y={y}) lies outside the {width}x{height} sensor \
                         DecodeOptions::sensor states, in the packet starting here"
                    ),
                );
            }
        }
        let new = &out.t[start..];
        if self.time_order == TimeOrder::Error {
            let mut prev = self.last_t.unwrap_or(i64::MIN);
            for (k, &t) in new.iter().enumerate() {
                if t < prev {
                    let index = self.seen + k as u64;
                    return fail(
                        self,
                        ErrorKind::TimeOrder,
                        format!(
                            "time goes backwards: event {index} (t={t} us) comes after t={prev} us, \
                             in the packet starting here"
                        ),
                    );
                }
                prev = t;
            }
        }
        if let Some(&t) = new.last() {
            self.last_t = Some(t);
        }
        self.seen += new.len() as u64;
        Ok(more)
    }

    fn position(&self) -> u64 {
        self.inner.position()
    }

    fn remaining_hint(&self) -> usize {
        self.inner.remaining_hint()
    }
}

/// Decodes every event of `path`.
pub fn read_all(
    path: &Path,
    format: Format,
    options: &DecodeOptions,
) -> Result<Events, DecodeError> {
    let mut reader = open(path, format, options)?;
    let mut events = Events::new();
    reader.read_to_end(&mut events)?;
    Ok(events)
}

/// Decodes every event of an in-memory buffer; `name` is used in errors.
pub fn read_all_bytes(
    name: &Path,
    bytes: &[u8],
    format: Format,
    options: &DecodeOptions,
) -> Result<Events, DecodeError> {
    let mut reader = open_bytes(name, bytes, format, options)?;
    let mut events = Events::new();
    reader.read_to_end(&mut events)?;
    Ok(events)
}

fn hdf5_not_a_stream(path: &Path) -> DecodeError {
    DecodeError::new(
        path,
        0,
        ErrorKind::Unsupported,
        "HDF5 without events/{x,y,t,p} or top-level x, y, t, p datasets holds pre-cut samples (DECOLLE layout), not one event stream: use read_hdf5_samples; event-stream HDF5 files are opened by path (open / read_all), not from bytes",
    )
}

/// Reads a little-endian `u32` at `pos` if 4 bytes are there.
#[inline]
pub(crate) fn le_u32(b: &[u8], pos: usize) -> Option<u32> {
    let s = b.get(pos..pos.checked_add(4)?)?;
    Some(u32::from_le_bytes([s[0], s[1], s[2], s[3]]))
}

/// Reads a little-endian `i32` at `pos` if 4 bytes are there.
#[inline]
pub(crate) fn le_i32(b: &[u8], pos: usize) -> Option<i32> {
    le_u32(b, pos).map(|v| v as i32)
}

/// Reads a little-endian `u16` at `pos` if 2 bytes are there.
#[inline]
pub(crate) fn le_u16(b: &[u8], pos: usize) -> Option<u16> {
    let s = b.get(pos..pos.checked_add(2)?)?;
    Some(u16::from_le_bytes([s[0], s[1]]))
}

/// Reads a little-endian `i64` at `pos` if 8 bytes are there.
#[inline]
pub(crate) fn le_i64(b: &[u8], pos: usize) -> Option<i64> {
    let s = b.get(pos..pos.checked_add(8)?)?;
    let mut a = [0u8; 8];
    a.copy_from_slice(s);
    Some(i64::from_le_bytes(a))
}
