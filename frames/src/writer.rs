//! Shard writer: encodes records (narrowest dtype, zstd, XXH3 checksum) and appends them to a
//! sequence of shards of a target size. A shard is written to a hidden temporary file and only
//! appears under its final name, fsynced, once it is complete.

use std::cell::RefCell;
use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use crate::dtype::Dtype;
use crate::error::{FrameError, Result};
use crate::format::{
    self, Encoding, Footer, IndexEntry, HEADER_LEN, MAX_KEY_LEN, MAX_RECORD_RAW_BYTES,
};
use crate::{planes, sparse};

thread_local! {
    /// Per-thread output buffer of [`EncodedRecord::encode_with`] (grows to the largest bound).
    static COMPRESSED: RefCell<Vec<u8>> = const { RefCell::new(Vec::new()) };
    /// Per-thread buffers of the sparse payload [`EncodedRecord::encode_with`] tries first:
    /// the payload and its stored values while the gaps are written.
    static SPARSE: RefCell<(Vec<u8>, Vec<u8>)> = const { RefCell::new((Vec::new(), Vec::new())) };
}

/// One sample to store.
#[derive(Clone, Copy, Debug)]
pub struct SampleRecord<'a> {
    /// Unique sample id (at most 65535 bytes of UTF-8).
    pub key: &'a str,
    /// Class label.
    pub label: u32,
    /// `[T, C, H, W]` (C = 2 polarities for event frames).
    pub shape: [usize; 4],
    /// The frames, row-major in `shape` order.
    pub frames: FrameData<'a>,
}

/// Frame values to store. Counts are stored in the narrowest unsigned type that holds their
/// maximum; floats are stored as `f32`.
#[derive(Clone, Copy, Debug)]
pub enum FrameData<'a> {
    /// Counts already known to fit in a byte: stored as `u8` without a narrowing pass.
    Counts8(&'a [u8]),
    Counts(&'a [u32]),
    Float(&'a [f32]),
}

/// A record already narrowed, compressed and checksummed, ready to be appended. Encoding is
/// the expensive part; it can run on any thread and be appended in order afterwards.
#[derive(Clone, Debug)]
pub struct EncodedRecord {
    key: String,
    label: u32,
    shape: [usize; 4],
    dtype: Dtype,
    encoding: Encoding,
    raw_len: u64,
    stored: Vec<u8>,
    checksum: u64,
}

impl EncodedRecord {
    /// Encodes `record` with a fresh zstd context at `zstd_level`.
    pub fn encode(record: &SampleRecord<'_>, zstd_level: i32) -> Result<Self> {
        let mut compressor =
            zstd::bulk::Compressor::new(zstd_level).map_err(|e| FrameError::InvalidRecord {
                key: record.key.to_owned(),
                reason: format!("cannot create zstd context at level {zstd_level}: {e}"),
            })?;
        Self::encode_with(record, &mut compressor, &mut Vec::new())
    }

    /// Encodes `record` reusing a zstd context and a scratch buffer.
    pub fn encode_with(
        record: &SampleRecord<'_>,
        compressor: &mut zstd::bulk::Compressor<'static>,
        scratch: &mut Vec<u8>,
    ) -> Result<Self> {
        let invalid = |reason: String| FrameError::InvalidRecord {
            key: record.key.to_owned(),
            reason,
        };
        let elements = checked_elements(record.key, &record.shape).map_err(invalid)?;
        let len = match record.frames {
            FrameData::Counts8(c) => c.len(),
            FrameData::Counts(c) => c.len(),
            FrameData::Float(f) => f.len(),
        };
        if len != elements {
            return Err(invalid(format!(
                "shape {:?} has {elements} elements but {len} values were given",
                record.shape
            )));
        }
        scratch.clear();
        let (dtype, dense): (Dtype, &[u8]) = match record.frames {
            FrameData::Counts8(c) => (Dtype::U8, c),
            FrameData::Counts(c) => (narrow_counts(c, scratch), scratch),
            FrameData::Float(f) => {
                scratch.reserve(f.len() * 4);
                f.iter()
                    .for_each(|&v| scratch.extend_from_slice(&v.to_le_bytes()));
                (Dtype::F32, scratch)
            }
        };
        let dense_len = dense.len() as u64;
        if dense_len > MAX_RECORD_RAW_BYTES {
            return Err(invalid(format!(
                "{dense_len} bytes uncompressed exceeds the {MAX_RECORD_RAW_BYTES}-byte record limit"
            )));
        }
        // Compress into this thread's reused output buffer (capacity = the compression bound,
        // never zero-filled) and keep an exact-size copy: no per-record allocation of the bound.
        // The sparse layout is taken when its payload would be under an eighth of the dense
        // bytes of 1- and 2-byte elements, a quarter of 4-byte ones (estimated before it is
        // built): readers and the loader then touch only the stored elements. Other integer
        // counts are stored as count planes when at most one element in 16 is above 1 (a
        // reader pays per such element): a quarter of the dense bytes of u8 counts, and
        // zstd compresses them about twice as fast and a third smaller than the dense zero runs
        // with a lone 1 every few bytes (1.6 ms / 128 KB dense vs 0.7 ms / 89 KB as planes at
        // level 1 on an 11 %-dense 10 x 2 x 240 x 320 u8 sample). Sparse payloads compress at
        // about a third of dense speed, so such a sample is not stored sparse; 4-byte (f32,
        // area-resized) records are four times the dense bytes per element and gain from
        // sparse at higher densities.
        let result = SPARSE.with(|buffers| {
            let (payload, values) = &mut *buffers.borrow_mut();
            let size = dtype.size();
            let sparse = sparse::min_payload_len(sparse::estimate_nonzero(dense, size), size)
                < dense.len() / if size == 4 { 4 } else { 8 }
                && sparse::encode(dense, size, dense.len() / 3, payload, values);
            let (encoding, raw): (Encoding, &[u8]) = if sparse {
                (Encoding::Sparse, payload)
            } else if dtype != Dtype::F32 && {
                planes::encode(dense, size, payload);
                planes::cheap_to_read(payload.len(), dense.len(), size)
            } {
                (Encoding::Planes, payload)
            } else {
                (Encoding::Dense, dense)
            };
            COMPRESSED.with(|out| {
                let mut out = out.borrow_mut();
                out.clear();
                out.reserve(zstd::zstd_safe::compress_bound(raw.len()));
                compressor
                    .compress_to_buffer(raw, &mut *out)
                    .map(|_| (encoding, raw.len() as u64, out.clone()))
            })
        });
        let (encoding, raw_len, stored) =
            result.map_err(|e| invalid(format!("zstd compression failed: {e}")))?;
        let checksum = format::checksum(&stored);
        Ok(EncodedRecord {
            key: record.key.to_owned(),
            label: record.label,
            shape: record.shape,
            dtype,
            encoding,
            raw_len,
            stored,
            checksum,
        })
    }

    /// Rebuilds a record from what [`EncodedRecord::stored`], [`EncodedRecord::dtype`],
    /// [`EncodedRecord::encoding`], [`EncodedRecord::raw_len`] and [`EncodedRecord::checksum`]
    /// returned, e.g. after keeping it in a work file. Everything is validated as at encoding
    /// time, and the checksum must match the stored bytes, so a damaged copy is an error rather
    /// than a bad shard.
    #[allow(clippy::too_many_arguments)]
    pub fn from_stored(
        record_key: &str,
        label: u32,
        shape: [usize; 4],
        dtype: Dtype,
        encoding: Encoding,
        raw_len: u64,
        stored: Vec<u8>,
        checksum: u64,
    ) -> Result<Self> {
        let invalid = |reason: String| FrameError::InvalidRecord {
            key: record_key.to_owned(),
            reason,
        };
        let elements = checked_elements(record_key, &shape).map_err(invalid)?;
        let dense_len = (elements as u64)
            .checked_mul(dtype.size() as u64)
            .filter(|&n| n <= MAX_RECORD_RAW_BYTES);
        if !dense_len.is_some_and(|dense| encoding.raw_len_fits(raw_len, dense, dtype)) {
            return Err(invalid(format!(
                "{raw_len} uncompressed bytes do not match shape {shape:?} of {} in a {} record (limit {MAX_RECORD_RAW_BYTES})",
                dtype.name(),
                encoding.name()
            )));
        }
        if format::checksum(&stored) != checksum {
            return Err(invalid("stored bytes do not match their checksum".into()));
        }
        Ok(EncodedRecord {
            key: record_key.to_owned(),
            label,
            shape,
            dtype,
            encoding,
            raw_len,
            stored,
            checksum,
        })
    }

    /// The zstd-compressed payload, exactly as it will be appended to a shard.
    pub fn stored(&self) -> &[u8] {
        &self.stored
    }
    /// Dense, sparse or count-planes layout of the payload.
    pub fn encoding(&self) -> Encoding {
        self.encoding
    }
    /// Uncompressed payload length in bytes (the sparse payload's for a sparse record).
    pub fn raw_len(&self) -> u64 {
        self.raw_len
    }
    /// XXH3-64 of the stored bytes (the value recorded in the shard index and the manifest).
    pub fn checksum(&self) -> u64 {
        self.checksum
    }
    /// The dtype chosen for the record.
    pub fn dtype(&self) -> Dtype {
        self.dtype
    }
    /// Compressed size in bytes.
    pub fn stored_len(&self) -> u64 {
        self.stored.len() as u64
    }
    /// The record's key.
    pub fn key(&self) -> &str {
        &self.key
    }
}

/// Writes `counts` little-endian in the narrowest dtype that holds their maximum into `out`
/// (cleared) and returns that dtype. One pass in the common case: the counts are narrowed to
/// `u8` while their maximum is taken, block by block; only a block whose maximum exceeds 255
/// sends the whole tensor to the wider path. The bytes equal a max-then-narrow pass.
fn narrow_counts(counts: &[u32], out: &mut Vec<u8>) -> Dtype {
    const BLOCK: usize = 4096;
    out.clear();
    out.reserve(counts.len());
    let mut fits_u8 = true;
    for block in counts.chunks(BLOCK) {
        // Some count exceeds 255 iff the OR of the block has a bit above the low byte (an OR
        // vectorises on baseline x86-64, an unsigned max does not). The block is in L1 after
        // this, so the second read is cheap.
        if block.iter().fold(0u32, |acc, &v| acc | v) > u32::from(u8::MAX) {
            fits_u8 = false;
            break;
        }
        out.extend(block.iter().map(|&v| v as u8));
    }
    if fits_u8 {
        return Dtype::U8;
    }
    let max = counts.iter().copied().max().unwrap_or(0);
    let dtype = Dtype::narrowest_for(max);
    out.clear();
    out.resize(counts.len() * dtype.size(), 0);
    if dtype == Dtype::U16 {
        for (d, &v) in out.chunks_exact_mut(2).zip(counts) {
            d.copy_from_slice(&(v as u16).to_le_bytes());
        }
    } else {
        for (d, &v) in out.chunks_exact_mut(4).zip(counts) {
            d.copy_from_slice(&v.to_le_bytes());
        }
    }
    dtype
}

/// Checks what the shard index can hold of a record's key and shape, and returns the element
/// count (or why not).
fn checked_elements(key: &str, shape: &[usize; 4]) -> std::result::Result<usize, String> {
    if key.len() > MAX_KEY_LEN {
        return Err(format!(
            "key is {} bytes, the limit is {MAX_KEY_LEN}",
            key.len()
        ));
    }
    if let Some(d) = shape.iter().find(|&&d| d > u32::MAX as usize) {
        return Err(format!("dimension {d} does not fit in u32"));
    }
    shape
        .iter()
        .try_fold(1usize, |acc, &d| acc.checked_mul(d))
        .ok_or_else(|| format!("shape {shape:?} overflows"))
}

/// Where an appended record ended up.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RecordLocation {
    /// File name of the shard (relative to the writer's directory), e.g. `shard-00003.dvsf`.
    pub shard: String,
    /// Record index inside that shard.
    pub index: usize,
    /// XXH3-64 of the stored bytes.
    pub checksum: u64,
    /// The dtype the record was stored in.
    pub dtype: Dtype,
    /// Compressed size in bytes.
    pub stored_bytes: u64,
}

/// A completed shard.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ShardSummary {
    /// File name, relative to the writer's directory.
    pub file: String,
    /// Full path.
    pub path: PathBuf,
    /// Number of records.
    pub records: usize,
    /// Size of the file in bytes.
    pub bytes: u64,
    /// Widest dtype of any record in the shard.
    pub dtype: Dtype,
}

struct OpenShard {
    name: String,
    tmp_path: PathBuf,
    final_path: PathBuf,
    file: BufWriter<File>,
    entries: Vec<IndexEntry>,
    position: u64,
    dtype: Dtype,
}

/// Writes records into `<dir>/<prefix>-NNNNN.dvsf`, starting a new shard whenever the next
/// record would push the current one past `target_bytes`.
pub struct ShardSetWriter {
    dir: PathBuf,
    prefix: String,
    target_bytes: u64,
    compressor: zstd::bulk::Compressor<'static>,
    scratch: Vec<u8>,
    current: Option<OpenShard>,
    next_shard: usize,
    finished: Vec<ShardSummary>,
}

impl ShardSetWriter {
    /// Creates `dir` if needed. Nothing is visible under a final name until a shard is complete.
    pub fn create(dir: &Path, prefix: &str, target_bytes: u64, zstd_level: i32) -> Result<Self> {
        std::fs::create_dir_all(dir).map_err(|e| FrameError::io(dir, e))?;
        let compressor =
            zstd::bulk::Compressor::new(zstd_level).map_err(|e| FrameError::io(dir, e))?;
        Ok(ShardSetWriter {
            dir: dir.to_path_buf(),
            prefix: prefix.to_owned(),
            target_bytes: target_bytes.max(1),
            compressor,
            scratch: Vec::new(),
            current: None,
            next_shard: 0,
            finished: Vec::new(),
        })
    }

    /// Encodes and appends one record.
    pub fn append(&mut self, record: &SampleRecord<'_>) -> Result<RecordLocation> {
        let encoded = EncodedRecord::encode_with(record, &mut self.compressor, &mut self.scratch)?;
        self.append_encoded(encoded)
    }

    /// Appends a record encoded elsewhere (e.g. in parallel with [`EncodedRecord::encode`]).
    pub fn append_encoded(&mut self, record: EncodedRecord) -> Result<RecordLocation> {
        let full = self.current.as_ref().is_some_and(|s| {
            !s.entries.is_empty() && s.position + record.stored_len() > self.target_bytes
        });
        if full {
            self.close_current()?;
        }
        if self.current.is_none() {
            self.open_next()?;
        }
        let shard = self.current.as_mut().expect("a shard was just opened");
        shard
            .file
            .write_all(&record.stored)
            .map_err(|e| FrameError::io(&shard.tmp_path, e))?;
        let index = shard.entries.len();
        shard.entries.push(IndexEntry {
            offset: shard.position,
            stored_len: record.stored_len(),
            raw_len: record.raw_len,
            checksum: record.checksum,
            label: record.label,
            shape: record.shape,
            dtype: record.dtype,
            encoding: record.encoding,
            key: record.key,
        });
        shard.position += record.stored.len() as u64;
        shard.dtype = if index == 0 {
            record.dtype
        } else {
            shard.dtype.widest(record.dtype)
        };
        Ok(RecordLocation {
            shard: shard.name.clone(),
            index,
            checksum: record.checksum,
            dtype: record.dtype,
            stored_bytes: record.stored.len() as u64,
        })
    }

    /// Completes the last shard and returns every shard written, in order.
    pub fn finish(mut self) -> Result<Vec<ShardSummary>> {
        self.close_current()?;
        Ok(std::mem::take(&mut self.finished))
    }

    fn open_next(&mut self) -> Result<()> {
        let name = format!("{}-{:05}.dvsf", self.prefix, self.next_shard);
        self.next_shard += 1;
        let final_path = self.dir.join(&name);
        let tmp_path = crate::fsutil::temp_path(&final_path);
        let file = File::create(&tmp_path).map_err(|e| FrameError::io(&tmp_path, e))?;
        let mut file = BufWriter::with_capacity(1 << 20, file);
        file.write_all(&format::encode_header())
            .map_err(|e| FrameError::io(&tmp_path, e))?;
        self.current = Some(OpenShard {
            name,
            tmp_path,
            final_path,
            file,
            entries: Vec::new(),
            position: HEADER_LEN as u64,
            dtype: Dtype::U8,
        });
        Ok(())
    }

    fn close_current(&mut self) -> Result<()> {
        let Some(mut shard) = self.current.take() else {
            return Ok(());
        };
        let mut index = Vec::new();
        for e in &shard.entries {
            format::encode_entry(&mut index, e);
        }
        let footer = Footer {
            index_offset: shard.position,
            index_len: index.len() as u64,
            record_count: shard.entries.len() as u64,
            index_checksum: format::checksum(&index),
        };
        let tmp = shard.tmp_path.clone();
        let io = |e| FrameError::io(&tmp, e);
        shard.file.write_all(&index).map_err(io)?;
        shard
            .file
            .write_all(&format::encode_footer(&footer))
            .map_err(io)?;
        drop(shard.file.into_inner().map_err(|e| io(e.into_error()))?);
        crate::fsutil::commit_temp(&shard.tmp_path, &shard.final_path)
            .map_err(|e| FrameError::io(&shard.final_path, e))?;
        let bytes = footer.index_offset + footer.index_len + format::FOOTER_LEN as u64;
        self.finished.push(ShardSummary {
            file: shard.name,
            path: shard.final_path,
            records: shard.entries.len(),
            bytes,
            dtype: shard.dtype,
        });
        Ok(())
    }
}

impl Drop for ShardSetWriter {
    fn drop(&mut self) {
        // An unfinished shard must never become visible: remove its temporary file.
        if let Some(shard) = self.current.take() {
            drop(shard.file);
            let _ = std::fs::remove_file(&shard.tmp_path);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The reference: take the maximum, then narrow every count to that dtype.
    fn max_then_narrow(counts: &[u32]) -> (Dtype, Vec<u8>) {
        let dtype = Dtype::narrowest_for(counts.iter().copied().max().unwrap_or(0));
        let bytes = counts
            .iter()
            .flat_map(|&v| match dtype {
                Dtype::U8 => vec![v as u8],
                Dtype::U16 => (v as u16).to_le_bytes().to_vec(),
                _ => v.to_le_bytes().to_vec(),
            })
            .collect();
        (dtype, bytes)
    }

    #[test]
    fn narrowing_equals_max_then_narrow() {
        // Wide values in the first block, in a later block, in the last element; sizes
        // that are and are not multiples of the block.
        let len = 3 * 4096 + 17;
        let base: Vec<u32> = (0..len as u32)
            .map(|i| i.wrapping_mul(2_654_435_761) >> 28)
            .collect();
        for (at, value) in [
            (0usize, 0u32),
            (5, 256),
            (4096 * 2 + 3, 70_000),
            (len - 1, 255),
        ] {
            for size in [0, 1, 4096, len] {
                let mut counts = base[..size].to_vec();
                if at < size {
                    counts[at] = value;
                }
                let mut out = vec![9u8; 3];
                let dtype = narrow_counts(&counts, &mut out);
                assert_eq!(
                    (dtype, out),
                    max_then_narrow(&counts),
                    "at {at} size {size}"
                );
            }
        }
    }
}
