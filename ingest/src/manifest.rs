//! `manifest.parquet`: one row per stored sample, written with polars
//! (uncompressed pages and plain types, so polars, pandas and pyarrow all open
//! it). Columns: sample_id, name, source_file, label, class_name, split,
//! t_start, t_end, event_count, events_dropped, frames, channels, height,
//! width, dtype, shard, record, checksum (XXH3-64 of the stored record bytes, as
//! in the shard index).

use std::path::Path;

use polars::prelude::*;

use crate::sample::SampleMeta;

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

/// Builds the manifest data frame.
pub fn to_frame(rows: &[ManifestRow]) -> PolarsResult<DataFrame> {
    let s = |f: fn(&ManifestRow) -> String| rows.iter().map(f).collect::<Vec<String>>();
    let u32s = |f: fn(&ManifestRow) -> u32| rows.iter().map(f).collect::<Vec<u32>>();
    let i64s = |f: fn(&ManifestRow) -> i64| rows.iter().map(f).collect::<Vec<i64>>();
    let u64s = |f: fn(&ManifestRow) -> u64| rows.iter().map(f).collect::<Vec<u64>>();
    df!(
        "sample_id" => s(|r| r.meta.sample_id.clone()),
        "name" => s(|r| r.meta.name.clone()),
        "source_file" => s(|r| r.meta.source_file.clone()),
        "label" => u32s(|r| r.meta.label),
        "class_name" => s(|r| r.meta.class_name.clone()),
        "split" => s(|r| r.meta.split.as_str().to_string()),
        "t_start" => i64s(|r| r.meta.t_start),
        "t_end" => i64s(|r| r.meta.t_end),
        "event_count" => u64s(|r| r.meta.event_count),
        "events_dropped" => u64s(|r| r.meta.events_dropped),
        "frames" => u32s(|r| r.shape[0] as u32),
        "channels" => u32s(|r| r.shape[1] as u32),
        "height" => u32s(|r| r.shape[2] as u32),
        "width" => u32s(|r| r.shape[3] as u32),
        "dtype" => s(|r| r.dtype.clone()),
        "shard" => s(|r| r.shard.clone()),
        "record" => u32s(|r| r.record),
        "checksum" => u64s(|r| r.checksum),
    )
}

/// Writes `manifest.parquet` into `dir` atomically.
pub fn write(dir: &Path, rows: &[ManifestRow]) -> std::io::Result<()> {
    let mut df = to_frame(rows).map_err(std::io::Error::other)?;
    let mut bytes = Vec::new();
    ParquetWriter::new(&mut bytes)
        .with_compression(ParquetCompression::Uncompressed)
        .set_parallel(false)
        .finish(&mut df)
        .map_err(std::io::Error::other)?;
    dvs_frames::fsutil::atomic_write(&dir.join("manifest.parquet"), &bytes)
}

/// Reads `manifest.parquet` from `dir`.
pub fn read(dir: &Path) -> PolarsResult<DataFrame> {
    let file = std::fs::File::open(dir.join("manifest.parquet"))?;
    ParquetReader::new(file).finish()
}
