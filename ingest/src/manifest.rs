//! `manifest.parquet`: one row per stored sample, for people and dataframe tools (the loader
//! never reads it). Columns: sample_id, name, source_file, label, class_name, split, t_start,
//! t_end, event_count, events_dropped, frames, channels, height, width, dtype, shard, record,
//! checksum (XXH3-64 of the stored record bytes, as in the shard index).
//!
//! Written with the `parquet` crate's column writers: one row group, uncompressed PLAIN pages,
//! nullable columns of plain types (strings as UTF-8 byte arrays, u32/u64 as unsigned-annotated
//! INT32/INT64), so that polars, pandas and pyarrow all open it with the types above. The
//! schema is the one the earlier polars-written manifests had; polars itself is not used because
//! it was half of the workspace's compile time for this one table (docs/benchmarks.md).

use std::path::Path;
use std::sync::Arc;

use parquet::basic::Compression;
use parquet::data_type::{ByteArray, ByteArrayType, Int32Type, Int64Type};
use parquet::file::properties::WriterProperties;
use parquet::file::reader::{FileReader, SerializedFileReader};
use parquet::file::writer::SerializedFileWriter;
use parquet::record::Field;

use crate::layout::Split;
use crate::sample::SampleMeta;

/// File name of the manifest inside a prepared dataset.
pub const FILE_NAME: &str = "manifest.parquet";

/// One manifest row.
#[derive(Clone, Debug, PartialEq)]
pub struct ManifestRow {
    /// Sample metadata.
    pub meta: SampleMeta,
    /// `[T, 2, H, W]`.
    pub shape: [usize; 4],
    /// Stored dtype name ("u8", "u16", "u32", "f32").
    pub dtype: String,
    /// Shard path relative to the dataset directory.
    pub shard: String,
    /// Record index in the shard.
    pub record: u32,
    /// XXH3-64 of the stored record.
    pub checksum: u64,
}

/// A manifest that cannot be written or read.
#[derive(Debug, thiserror::Error)]
#[error("{}: {reason}", path.display())]
pub struct ManifestError {
    path: std::path::PathBuf,
    reason: String,
}

/// The value of one cell, as stored.
enum Cell<'a> {
    Str(&'a str),
    U32(u32),
    I64(i64),
    U64(u64),
}

/// Parquet type of a column; the schema line is derived from it.
#[derive(Clone, Copy)]
enum Kind {
    Str,
    U32,
    I64,
    U64,
}

impl Kind {
    fn schema(self, name: &str) -> String {
        match self {
            Kind::Str => format!("OPTIONAL BYTE_ARRAY {name} (STRING);"),
            Kind::U32 => format!("OPTIONAL INT32 {name} (INTEGER(32,false));"),
            Kind::I64 => format!("OPTIONAL INT64 {name};"),
            Kind::U64 => format!("OPTIONAL INT64 {name} (INTEGER(64,false));"),
        }
    }
}

/// The columns in file order: name, type, and how a row yields the cell.
type Column = (&'static str, Kind, fn(&ManifestRow) -> Cell<'_>);

const COLUMNS: [Column; 18] = [
    ("sample_id", Kind::Str, |r| Cell::Str(&r.meta.sample_id)),
    ("name", Kind::Str, |r| Cell::Str(&r.meta.name)),
    ("source_file", Kind::Str, |r| Cell::Str(&r.meta.source_file)),
    ("label", Kind::U32, |r| Cell::U32(r.meta.label)),
    ("class_name", Kind::Str, |r| Cell::Str(&r.meta.class_name)),
    ("split", Kind::Str, |r| Cell::Str(r.meta.split.as_str())),
    ("t_start", Kind::I64, |r| Cell::I64(r.meta.t_start)),
    ("t_end", Kind::I64, |r| Cell::I64(r.meta.t_end)),
    ("event_count", Kind::U64, |r| Cell::U64(r.meta.event_count)),
    ("events_dropped", Kind::U64, |r| {
        Cell::U64(r.meta.events_dropped)
    }),
    ("frames", Kind::U32, |r| Cell::U32(r.shape[0] as u32)),
    ("channels", Kind::U32, |r| Cell::U32(r.shape[1] as u32)),
    ("height", Kind::U32, |r| Cell::U32(r.shape[2] as u32)),
    ("width", Kind::U32, |r| Cell::U32(r.shape[3] as u32)),
    ("dtype", Kind::Str, |r| Cell::Str(&r.dtype)),
    ("shard", Kind::Str, |r| Cell::Str(&r.shard)),
    ("record", Kind::U32, |r| Cell::U32(r.record)),
    ("checksum", Kind::U64, |r| Cell::U64(r.checksum)),
];

/// The manifest of `rows` as parquet file bytes.
pub fn encode(rows: &[ManifestRow]) -> parquet::errors::Result<Vec<u8>> {
    let fields: String = COLUMNS.iter().map(|(n, k, _)| k.schema(n)).collect();
    let schema = Arc::new(parquet::schema::parser::parse_message_type(&format!(
        "message schema {{ {fields} }}"
    ))?);
    let props = WriterProperties::builder()
        .set_compression(Compression::UNCOMPRESSED)
        .set_dictionary_enabled(false)
        .set_created_by(concat!("dvs-ingest ", env!("CARGO_PKG_VERSION")).into())
        .build();
    let mut bytes = Vec::new();
    let mut writer = SerializedFileWriter::new(&mut bytes, schema, Arc::new(props))?;
    let mut group = writer.next_row_group()?;
    let defined = vec![1i16; rows.len()];
    let def = Some(defined.as_slice());
    for (_, kind, cell) in COLUMNS {
        let mut column = group
            .next_column()?
            .ok_or_else(|| parquet::errors::ParquetError::General("missing column".into()))?;
        let cells = rows.iter().map(cell);
        match kind {
            Kind::Str => {
                let values: Vec<ByteArray> = cells
                    .map(|c| match c {
                        Cell::Str(s) => ByteArray::from(s),
                        _ => unreachable!("string column"),
                    })
                    .collect();
                column
                    .typed::<ByteArrayType>()
                    .write_batch(&values, def, None)?;
            }
            // Unsigned values are stored bit-for-bit in the signed physical type; the logical
            // annotation makes readers show them unsigned.
            Kind::U32 => {
                let values: Vec<i32> = cells
                    .map(|c| match c {
                        Cell::U32(v) => v as i32,
                        _ => unreachable!("u32 column"),
                    })
                    .collect();
                column
                    .typed::<Int32Type>()
                    .write_batch(&values, def, None)?;
            }
            Kind::I64 | Kind::U64 => {
                let values: Vec<i64> = cells
                    .map(|c| match c {
                        Cell::I64(v) => v,
                        Cell::U64(v) => v as i64,
                        _ => unreachable!("64-bit column"),
                    })
                    .collect();
                column
                    .typed::<Int64Type>()
                    .write_batch(&values, def, None)?;
            }
        }
        column.close()?;
    }
    group.close()?;
    writer.close()?;
    Ok(bytes)
}

/// Writes `manifest.parquet` into `dir` atomically.
pub fn write(dir: &Path, rows: &[ManifestRow]) -> std::io::Result<()> {
    let bytes = encode(rows).map_err(std::io::Error::other)?;
    dvs_frames::fsutil::atomic_write(&dir.join(FILE_NAME), &bytes)
}

/// Reads `manifest.parquet` from `dir` back into rows. Columns are found by name, so a manifest
/// with extra or reordered columns (written by another tool) still reads.
pub fn read(dir: &Path) -> Result<Vec<ManifestRow>, ManifestError> {
    let path = dir.join(FILE_NAME);
    let fail = |reason: String| ManifestError {
        path: path.clone(),
        reason,
    };
    let file = std::fs::File::open(&path).map_err(|e| fail(e.to_string()))?;
    let reader = SerializedFileReader::new(file).map_err(|e| fail(e.to_string()))?;
    let rows = reader.get_row_iter(None).map_err(|e| fail(e.to_string()))?;
    rows.enumerate()
        .map(|(i, row)| {
            let row = row.map_err(|e| fail(format!("row {i}: {e}")))?;
            let cells: Vec<(&String, &Field)> = row.get_column_iter().collect();
            parse_row(&cells).map_err(|e| fail(format!("row {i}: {e}")))
        })
        .collect()
}

fn parse_row(cells: &[(&String, &Field)]) -> Result<ManifestRow, String> {
    let get = |name: &str| {
        cells
            .iter()
            .find(|(n, _)| n.as_str() == name)
            .map(|(_, f)| *f)
            .ok_or_else(|| format!("no column {name:?}"))
    };
    let string = |name: &str| match get(name)? {
        Field::Str(s) => Ok(s.clone()),
        other => Err(format!("column {name:?} holds {other}, not a string")),
    };
    let unsigned = |name: &str| match get(name)? {
        Field::UInt(v) => Ok(u64::from(*v)),
        Field::ULong(v) => Ok(*v),
        Field::Int(v) if *v >= 0 => Ok(*v as u64),
        Field::Long(v) if *v >= 0 => Ok(*v as u64),
        other => Err(format!(
            "column {name:?} holds {other}, not an unsigned integer"
        )),
    };
    let u32_of = |name: &str| {
        unsigned(name)?
            .try_into()
            .map_err(|_| format!("column {name:?} does not fit in 32 bits"))
    };
    let signed = |name: &str| match get(name)? {
        Field::Long(v) => Ok(*v),
        Field::Int(v) => Ok(i64::from(*v)),
        Field::UInt(v) => Ok(i64::from(*v)),
        other => Err(format!("column {name:?} holds {other}, not an integer")),
    };
    let split = match string("split")?.as_str() {
        "train" => Split::Train,
        "test" => Split::Test,
        other => return Err(format!("split {other:?} is neither train nor test")),
    };
    let dim = |name: &str| u32_of(name).map(|v: u32| v as usize);
    Ok(ManifestRow {
        meta: SampleMeta {
            sample_id: string("sample_id")?,
            name: string("name")?,
            source_file: string("source_file")?,
            label: u32_of("label")?,
            class_name: string("class_name")?,
            split,
            t_start: signed("t_start")?,
            t_end: signed("t_end")?,
            event_count: unsigned("event_count")?,
            events_dropped: unsigned("events_dropped")?,
        },
        shape: [
            dim("frames")?,
            dim("channels")?,
            dim("height")?,
            dim("width")?,
        ],
        dtype: string("dtype")?,
        shard: string("shard")?,
        record: u32_of("record")?,
        checksum: unsigned("checksum")?,
    })
}

impl ManifestRow {
    /// The row as (column name, value as text) pairs, in file order.
    pub fn cells(&self) -> Vec<(&'static str, String)> {
        COLUMNS
            .iter()
            .map(|(name, _, cell)| {
                let text = match cell(self) {
                    Cell::Str(s) => s.to_string(),
                    Cell::U32(v) => v.to_string(),
                    Cell::I64(v) => v.to_string(),
                    Cell::U64(v) => v.to_string(),
                };
                (*name, text)
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(i: u32) -> ManifestRow {
        ManifestRow {
            meta: SampleMeta {
                sample_id: format!("train/{i}/s{i}"),
                name: format!("s{i}"),
                source_file: "dir/ü.aedat".into(),
                label: u32::MAX - i,
                class_name: "wave".into(),
                split: if i % 2 == 0 {
                    Split::Train
                } else {
                    Split::Test
                },
                t_start: -5 - i as i64,
                t_end: i64::MAX,
                event_count: u64::MAX,
                events_dropped: u64::from(i),
            },
            shape: [10, 2, 32, 48],
            dtype: "u8".into(),
            shard: "train/shard-00000.dvsf".into(),
            record: i,
            checksum: 0x8000_0000_0000_0001,
        }
    }

    #[test]
    fn rows_round_trip_through_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let rows: Vec<_> = (0..5).map(row).collect();
        write(dir.path(), &rows).unwrap();
        assert_eq!(read(dir.path()).unwrap(), rows);
        write(dir.path(), &[]).unwrap();
        assert!(read(dir.path()).unwrap().is_empty());
    }

    #[test]
    fn a_damaged_manifest_is_an_error_naming_the_file() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join(FILE_NAME), b"PAR1 not really").unwrap();
        let err = read(dir.path()).unwrap_err().to_string();
        assert!(err.contains(FILE_NAME), "{err}");
    }
}
