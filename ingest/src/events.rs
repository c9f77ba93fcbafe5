//! `dvs-ingest events FILE --out x.npy|x.parquet`: one recording's decoded
//! events as a table a Python user opens directly — a structured numpy array
//! (`t` int64 µs, `x`, `y` uint16, `p` int8: `np.load(path)["t"]`, the
//! layout tonic's event arrays use) or a parquet table with the same columns
//! (`pandas.read_parquet`, polars, pyarrow).
//!
//! The recording is decoded packet by packet and written as it goes, so the
//! memory needed is one packet (plus one 1 Mi-event row group for parquet),
//! not the whole event list. The `.npy` header is written with room for any
//! event count and rewritten with the real one at the end. The output appears
//! only when complete (`dvs_frames::fsutil::atomic_write_with`); a file that
//! fails to decode leaves no output and an error naming file, byte offset and
//! reason.

use std::io::{Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use dvs_decode::{DecodeError, DecodeOptions, Events, Format};
use dvs_frames::fsutil::{self, Durability};
use parquet::basic::Compression;
use parquet::data_type::{Int32Type, Int64Type};
use parquet::file::properties::WriterProperties;
use parquet::file::writer::SerializedFileWriter;

/// Events per parquet row group.
pub const ROW_GROUP_EVENTS: usize = 1 << 20;

/// The numpy dtype of an exported event: packed, little-endian, fields in this order.
pub const NPY_DESCR: &str = "[('t', '<i8'), ('x', '<u2'), ('y', '<u2'), ('p', '|i1')]";
/// Bytes of one exported `.npy` event (8 + 2 + 2 + 1).
pub const NPY_ITEM_BYTES: usize = 13;

/// The table kind, from the output's extension.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EventsFormat {
    /// Structured numpy array (`.npy`).
    Npy,
    /// Parquet table (`.parquet`).
    Parquet,
}

impl EventsFormat {
    /// The kind `path` asks for by its extension (`.npy` or `.parquet`).
    pub fn of(path: &Path) -> Result<Self, EventsError> {
        match path.extension().and_then(|e| e.to_str()) {
            Some(e) if e.eq_ignore_ascii_case("npy") => Ok(EventsFormat::Npy),
            Some(e) if e.eq_ignore_ascii_case("parquet") => Ok(EventsFormat::Parquet),
            _ => Err(EventsError::Output {
                path: path.to_path_buf(),
                reason: "the output must end in .npy or .parquet".into(),
            }),
        }
    }
}

/// Why events could not be exported.
#[derive(Debug, thiserror::Error)]
pub enum EventsError {
    /// The recording does not decode (file, byte offset, reason).
    #[error(transparent)]
    Decode(#[from] DecodeError),
    /// The output cannot be written.
    #[error("{}: {reason}", path.display())]
    Output {
        /// The output file.
        path: PathBuf,
        /// Why.
        reason: String,
    },
}

/// What was exported.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EventsExport {
    /// Detected input format.
    pub format: Format,
    /// Events written.
    pub events: u64,
    /// Output table kind.
    pub table: EventsFormat,
}

/// Decodes `input` (format detected from its bytes / extension) with `options`
/// and writes its events to `out` (kind from the extension), atomically.
pub fn export_events(
    input: &Path,
    out: &Path,
    options: &DecodeOptions,
) -> Result<EventsExport, EventsError> {
    let table = EventsFormat::of(out)?;
    let format = Format::detect_file(input)?;
    let mut reader = dvs_decode::open(input, format, options)?;
    let mut decode_error: Option<DecodeError> = None;
    let mut events = 0u64;
    let mut next_packet = |buf: &mut Events| -> std::io::Result<bool> {
        buf.clear();
        match reader.read_packet(buf) {
            Ok(more) => {
                events += buf.len() as u64;
                Ok(more)
            }
            Err(e) => {
                decode_error = Some(e);
                Err(std::io::Error::other("decode failed"))
            }
        }
    };
    let written = fsutil::atomic_write_with(out, Durability::Durable, |w| match table {
        EventsFormat::Npy => write_npy(w, &mut next_packet),
        EventsFormat::Parquet => write_parquet(w, &mut next_packet),
    });
    if let Some(e) = decode_error {
        return Err(e.into());
    }
    written.map_err(|e| EventsError::Output {
        path: out.to_path_buf(),
        reason: e.to_string(),
    })?;
    Ok(EventsExport {
        format,
        events,
        table,
    })
}

/// The NPY 1.0 header of `count` events, padded to 192 bytes whatever the count
/// (a 20-digit count needs 138; the length is a multiple of 64 as NPY asks), so it can
/// be written first and rewritten in place at the end.
pub fn npy_header(count: u64) -> Vec<u8> {
    const TOTAL: usize = 192;
    let dict = format!("{{'descr': {NPY_DESCR}, 'fortran_order': False, 'shape': ({count},), }}");
    let mut header = Vec::with_capacity(TOTAL);
    header.extend_from_slice(b"\x93NUMPY\x01\x00");
    header.extend_from_slice(&((TOTAL - 10) as u16).to_le_bytes());
    header.extend_from_slice(dict.as_bytes());
    header.resize(TOTAL - 1, b' ');
    header.push(b'\n');
    assert!(dict.len() + 11 <= TOTAL, "u64 counts always fit");
    header
}

type NextPacket<'a> = dyn FnMut(&mut Events) -> std::io::Result<bool> + 'a;

fn write_npy<W: Write + Seek>(w: &mut W, next_packet: &mut NextPacket) -> std::io::Result<()> {
    w.write_all(&npy_header(0))?;
    let mut buf = Events::new();
    let mut bytes = Vec::new();
    let mut count = 0u64;
    loop {
        let more = next_packet(&mut buf)?;
        bytes.clear();
        bytes.reserve(buf.len() * NPY_ITEM_BYTES);
        for i in 0..buf.len() {
            bytes.extend_from_slice(&buf.t[i].to_le_bytes());
            bytes.extend_from_slice(&buf.x[i].to_le_bytes());
            bytes.extend_from_slice(&buf.y[i].to_le_bytes());
            bytes.push(buf.p[i]);
        }
        w.write_all(&bytes)?;
        count += buf.len() as u64;
        if !more {
            break;
        }
    }
    w.seek(SeekFrom::Start(0))?;
    w.write_all(&npy_header(count))?;
    w.seek(SeekFrom::End(0))?;
    Ok(())
}

/// The parquet schema of exported events.
pub const PARQUET_SCHEMA: &str = "message events { REQUIRED INT64 t; \
     REQUIRED INT32 x (INTEGER(16,false)); REQUIRED INT32 y (INTEGER(16,false)); \
     REQUIRED INT32 p (INTEGER(8,true)); }";

fn write_parquet<W: Write + Send>(w: &mut W, next_packet: &mut NextPacket) -> std::io::Result<()> {
    let schema =
        Arc::new(parquet::schema::parser::parse_message_type(PARQUET_SCHEMA).map_err(other)?);
    let props = WriterProperties::builder()
        .set_compression(Compression::UNCOMPRESSED)
        .set_dictionary_enabled(false)
        .set_created_by(concat!("dvs-ingest ", env!("CARGO_PKG_VERSION")).into())
        .build();
    let mut writer = SerializedFileWriter::new(w, schema, Arc::new(props)).map_err(other)?;
    let mut group = Events::new();
    let mut buf = Events::new();
    loop {
        let more = next_packet(&mut buf)?;
        group.extend_from(&buf);
        if group.len() >= ROW_GROUP_EVENTS || (!more && !group.is_empty()) {
            write_row_group(&mut writer, &group)?;
            group.clear();
        }
        if !more {
            break;
        }
    }
    writer.close().map_err(other)?;
    Ok(())
}

fn write_row_group<W: Write + Send>(
    writer: &mut SerializedFileWriter<W>,
    events: &Events,
) -> std::io::Result<()> {
    let mut group = writer.next_row_group().map_err(other)?;
    let narrow: [Vec<i32>; 3] = [
        events.x.iter().map(|&v| i32::from(v)).collect(),
        events.y.iter().map(|&v| i32::from(v)).collect(),
        events.p.iter().map(|&v| i32::from(v as i8)).collect(),
    ];
    let mut column = group
        .next_column()
        .map_err(other)?
        .ok_or_else(|| other("no column t"))?;
    column
        .typed::<Int64Type>()
        .write_batch(&events.t, None, None)
        .map_err(other)?;
    column.close().map_err(other)?;
    for values in &narrow {
        let mut column = group
            .next_column()
            .map_err(other)?
            .ok_or_else(|| other("missing column"))?;
        column
            .typed::<Int32Type>()
            .write_batch(values, None, None)
            .map_err(other)?;
        column.close().map_err(other)?;
    }
    group.close().map_err(other)?;
    Ok(())
}

fn other(e: impl std::fmt::Display) -> std::io::Error {
    std::io::Error::other(e.to_string())
}
