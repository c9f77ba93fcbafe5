//! Validating shard reader: [`ShardIndex`] reads only the header, footer and index of a shard
//! (for planning); [`ShardReader`] holds the whole file and decodes any record by random access,
//! verifying its checksum and size first.

use std::cell::RefCell;
use std::fs::File;
use std::path::{Path, PathBuf};

use crate::dtype::Dtype;
use crate::error::{FrameError, Result};
use crate::format::{self, IndexEntry, FOOTER_LEN, HEADER_LEN};

/// The index of one shard: every record's key, label, shape, dtype and location.
#[derive(Clone, Debug)]
pub struct ShardIndex {
    path: PathBuf,
    file_len: u64,
    entries: Vec<IndexEntry>,
}

impl ShardIndex {
    /// Reads and validates the header, footer and index of the shard at `path` with positioned
    /// reads, without touching the record bytes.
    pub fn read(path: &Path) -> Result<Self> {
        let file = File::open(path).map_err(|e| FrameError::io(path, e))?;
        let file_len = file.metadata().map_err(|e| FrameError::io(path, e))?.len();
        let mut header = vec![0u8; (file_len.min(HEADER_LEN as u64)) as usize];
        read_exact_at(&file, path, &mut header, 0)?;
        let version = format::check_header(path, file_len, &header)?;
        let mut footer_bytes = [0u8; FOOTER_LEN];
        read_exact_at(&file, path, &mut footer_bytes, file_len - FOOTER_LEN as u64)?;
        let footer = format::parse_footer(path, file_len, &footer_bytes, version)?;
        // index_len is bounded by the file length (checked in parse_footer).
        let mut index = vec![0u8; footer.index_len as usize];
        read_exact_at(&file, path, &mut index, footer.index_offset)?;
        let entries = format::parse_index(path, &footer, &index, version)?;
        Ok(ShardIndex {
            path: path.to_path_buf(),
            file_len,
            entries,
        })
    }

    /// Validates the header, footer and index of a shard held in memory.
    pub fn from_bytes(path: &Path, bytes: &[u8]) -> Result<Self> {
        let file_len = bytes.len() as u64;
        let version = format::check_header(path, file_len, &bytes[..bytes.len().min(HEADER_LEN)])?;
        let footer_start = bytes.len() - FOOTER_LEN;
        let footer = format::parse_footer(path, file_len, &bytes[footer_start..], version)?;
        let index = &bytes[footer.index_offset as usize..footer_start];
        let entries = format::parse_index(path, &footer, index, version)?;
        Ok(ShardIndex {
            path: path.to_path_buf(),
            file_len,
            entries,
        })
    }

    /// The shard's path (as given when opening).
    pub fn path(&self) -> &Path {
        &self.path
    }
    /// Size of the shard file in bytes.
    pub fn file_len(&self) -> u64 {
        self.file_len
    }
    /// Number of records.
    pub fn len(&self) -> usize {
        self.entries.len()
    }
    /// True when the shard holds no records.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
    /// All index entries, in record order.
    pub fn entries(&self) -> &[IndexEntry] {
        &self.entries
    }
    /// The index entry of record `i`.
    pub fn entry(&self, i: usize) -> Result<&IndexEntry> {
        self.entries.get(i).ok_or_else(|| FrameError::OutOfRange {
            path: self.path.clone(),
            index: i,
            len: self.entries.len(),
        })
    }
    /// Key of record `i`.
    pub fn key(&self, i: usize) -> Result<&str> {
        Ok(&self.entry(i)?.key)
    }
    /// Label of record `i`.
    pub fn label(&self, i: usize) -> Result<u32> {
        Ok(self.entry(i)?.label)
    }
    /// Shape `[T, C, H, W]` of record `i`.
    pub fn shape(&self, i: usize) -> Result<[usize; 4]> {
        Ok(self.entry(i)?.shape)
    }
    /// Stored dtype of record `i`.
    pub fn dtype(&self, i: usize) -> Result<Dtype> {
        Ok(self.entry(i)?.dtype)
    }
    /// Stored checksum of record `i`.
    pub fn checksum(&self, i: usize) -> Result<u64> {
        Ok(self.entry(i)?.checksum)
    }
}

fn read_exact_at(file: &File, path: &Path, buf: &mut [u8], offset: u64) -> Result<()> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::FileExt;
        file.read_exact_at(buf, offset)
            .map_err(|e| FrameError::io(path, e))
    }
    #[cfg(not(unix))]
    {
        use std::io::{Read, Seek, SeekFrom};
        let mut f = file;
        f.seek(SeekFrom::Start(offset))
            .and_then(|_| f.read_exact(buf))
            .map_err(|e| FrameError::io(path, e))
    }
}

/// A record's frames in their stored element type.
#[derive(Clone, Debug, PartialEq)]
pub enum RawFrames {
    U8(Vec<u8>),
    U16(Vec<u16>),
    U32(Vec<u32>),
    F32(Vec<f32>),
}

impl RawFrames {
    /// The stored dtype.
    pub fn dtype(&self) -> Dtype {
        match self {
            RawFrames::U8(_) => Dtype::U8,
            RawFrames::U16(_) => Dtype::U16,
            RawFrames::U32(_) => Dtype::U32,
            RawFrames::F32(_) => Dtype::F32,
        }
    }

    /// Every element widened to `f32`.
    pub fn to_f32(&self) -> Vec<f32> {
        match self {
            RawFrames::U8(v) => v.iter().map(|&x| f32::from(x)).collect(),
            RawFrames::U16(v) => v.iter().map(|&x| f32::from(x)).collect(),
            RawFrames::U32(v) => v.iter().map(|&x| x as f32).collect(),
            RawFrames::F32(v) => v.clone(),
        }
    }
}

/// A whole shard in memory, with random access to any record.
#[derive(Debug)]
pub struct ShardReader {
    index: ShardIndex,
    bytes: Vec<u8>,
}

impl ShardReader {
    /// Reads the whole shard at `path` and validates magic, version, footer and index.
    pub fn open(path: impl AsRef<Path>) -> Result<Self> {
        let path = path.as_ref();
        let bytes = std::fs::read(path).map_err(|e| FrameError::io(path, e))?;
        Self::from_bytes(path, bytes)
    }

    /// Validates a shard already read into memory; `path` is used in error messages.
    pub fn from_bytes(path: impl AsRef<Path>, bytes: Vec<u8>) -> Result<Self> {
        let index = ShardIndex::from_bytes(path.as_ref(), &bytes)?;
        Ok(ShardReader { index, bytes })
    }

    /// The validated index.
    pub fn index(&self) -> &ShardIndex {
        &self.index
    }
    /// The shard's path.
    pub fn path(&self) -> &Path {
        self.index.path()
    }
    /// Number of records.
    pub fn len(&self) -> usize {
        self.index.len()
    }
    /// True when the shard holds no records.
    pub fn is_empty(&self) -> bool {
        self.index.is_empty()
    }
    /// Key of record `i`.
    pub fn key(&self, i: usize) -> Result<&str> {
        self.index.key(i)
    }
    /// Label of record `i`.
    pub fn label(&self, i: usize) -> Result<u32> {
        self.index.label(i)
    }
    /// Shape `[T, C, H, W]` of record `i`.
    pub fn shape(&self, i: usize) -> Result<[usize; 4]> {
        self.index.shape(i)
    }
    /// Stored dtype of record `i`.
    pub fn dtype(&self, i: usize) -> Result<Dtype> {
        self.index.dtype(i)
    }

    /// The stored (compressed) bytes of record `i` after verifying their checksum.
    pub fn stored_bytes(&self, i: usize) -> Result<&[u8]> {
        let entry = self.index.entry(i)?;
        // Bounds were validated against the file length when the index was parsed.
        let stored = &self.bytes[entry.offset as usize..(entry.offset + entry.stored_len) as usize];
        verify_checksum(self.path(), i, entry, stored)?;
        Ok(stored)
    }

    /// Decompresses record `i` into `out` (resized to the record's raw length), verifying the
    /// checksum and the decompressed size. `dctx` is reused across calls to avoid allocation.
    pub fn decompress_into(
        &self,
        i: usize,
        dctx: &mut zstd::bulk::Decompressor<'static>,
        out: &mut Vec<u8>,
    ) -> Result<&IndexEntry> {
        self.decode_with(i, dctx, out, decompress_record)
    }

    /// Record `i`'s zstd frame decompressed into `out` as stored — the dense elements, or for a
    /// sparse record its payload — after the same checks as [`ShardReader::decompress_into`].
    /// For callers that consume sparse records without expanding them (the loader).
    pub(crate) fn payload_into(
        &self,
        i: usize,
        dctx: &mut zstd::bulk::Decompressor<'static>,
        out: &mut Vec<u8>,
    ) -> Result<&IndexEntry> {
        self.decode_with(i, dctx, out, decompress_payload)
    }

    /// Record `i`'s checksummed stored bytes through `decode` into `out`.
    fn decode_with(
        &self,
        i: usize,
        dctx: &mut zstd::bulk::Decompressor<'static>,
        out: &mut Vec<u8>,
        decode: DecodeFn,
    ) -> Result<&IndexEntry> {
        let stored = self.stored_bytes(i)?;
        let entry = self.index.entry(i)?;
        decode(self.path(), i, entry, stored, dctx, out)?;
        Ok(entry)
    }

    /// A [`FrameError::CorruptRecord`] for record `i` of this shard.
    pub(crate) fn record_error(&self, i: usize, reason: String) -> FrameError {
        match self.index.entry(i) {
            Ok(entry) => record_error(self.path(), i, entry, reason),
            Err(e) => e,
        }
    }

    /// Record `i` in its stored element type.
    pub fn read_raw(&self, i: usize) -> Result<RawFrames> {
        let mut dctx =
            zstd::bulk::Decompressor::new().map_err(|e| FrameError::io(self.path(), e))?;
        let mut raw = Vec::new();
        let entry = self.decompress_into(i, &mut dctx, &mut raw)?;
        Ok(match entry.dtype {
            Dtype::U8 => RawFrames::U8(raw),
            Dtype::U16 => RawFrames::U16(
                raw.chunks_exact(2)
                    .map(|c| u16::from_le_bytes([c[0], c[1]]))
                    .collect(),
            ),
            Dtype::U32 => RawFrames::U32(
                raw.chunks_exact(4)
                    .map(|c| u32::from_le_bytes([c[0], c[1], c[2], c[3]]))
                    .collect(),
            ),
            Dtype::F32 => RawFrames::F32(
                raw.chunks_exact(4)
                    .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
                    .collect(),
            ),
        })
    }

    /// Record `i` widened to `f32` (`[T, C, H, W]`, row-major), checksum verified.
    pub fn read_f32(&self, i: usize) -> Result<Vec<f32>> {
        Ok(self.read_raw(i)?.to_f32())
    }

    /// Record `i` as integer counts; an error for `f32` records.
    pub fn read_counts(&self, i: usize) -> Result<Vec<u32>> {
        match self.read_raw(i)? {
            RawFrames::U8(v) => Ok(v.into_iter().map(u32::from).collect()),
            RawFrames::U16(v) => Ok(v.into_iter().map(u32::from).collect()),
            RawFrames::U32(v) => Ok(v),
            RawFrames::F32(_) => Err(FrameError::InvalidRecord {
                key: self.key(i)?.to_owned(),
                reason: "record holds f32 frames, not counts".into(),
            }),
        }
    }
}

fn verify_checksum(path: &Path, i: usize, entry: &IndexEntry, stored: &[u8]) -> Result<()> {
    let actual = format::checksum(stored);
    if actual != entry.checksum {
        return Err(FrameError::CorruptRecord {
            path: path.to_path_buf(),
            index: i,
            key: entry.key.clone(),
            offset: entry.offset,
            reason: format!(
                "checksum mismatch: stored {:016x}, computed {actual:016x}",
                entry.checksum
            ),
        });
    }
    Ok(())
}

/// Decompresses checksum-verified `stored` bytes of `entry` into `out`.
pub(crate) fn decompress_record(
    path: &Path,
    i: usize,
    entry: &IndexEntry,
    stored: &[u8],
    dctx: &mut zstd::bulk::Decompressor<'static>,
    out: &mut Vec<u8>,
) -> Result<()> {
    match entry.encoding.expander() {
        None => decompress_payload(path, i, entry, stored, dctx, out),
        Some(expand) => LAYOUT_PAYLOAD.with(|payload| {
            let mut payload = payload.borrow_mut();
            decompress_payload(path, i, entry, stored, dctx, &mut payload)?;
            // dense_len <= MAX_RECORD_RAW_BYTES, checked when the index was parsed.
            out.resize(entry.dense_len(), 0);
            expand(&payload, entry.dtype.size(), out)
                .map_err(|reason| record_error(path, i, entry, reason))
        }),
    }
}

/// The zstd frame header must announce exactly the indexed size before anything is allocated
/// for it.
fn check_frame_size(path: &Path, i: usize, entry: &IndexEntry, stored: &[u8]) -> Result<()> {
    let record_err = |reason: String| record_error(path, i, entry, reason);
    match zstd::zstd_safe::get_frame_content_size(stored) {
        Ok(Some(n)) if n == entry.raw_len => {}
        Ok(Some(n)) => {
            return Err(record_err(format!(
                "zstd frame announces {n} bytes, index says {}",
                entry.raw_len
            )))
        }
        Ok(None) => return Err(record_err("zstd frame has no content size".into())),
        Err(_) => return Err(record_err("not a zstd frame".into())),
    }
    Ok(())
}

/// The record's zstd frame decompressed into `out` as stored: the dense elements or the sparse
/// payload, as `entry.encoding` says. The frame must announce exactly `raw_len` bytes
/// (`raw_len <= MAX_RECORD_RAW_BYTES`, checked when the index was parsed) and yield them.
pub(crate) fn decompress_payload(
    path: &Path,
    i: usize,
    entry: &IndexEntry,
    stored: &[u8],
    dctx: &mut zstd::bulk::Decompressor<'static>,
    out: &mut Vec<u8>,
) -> Result<()> {
    check_frame_size(path, i, entry, stored)?;
    out.resize(entry.raw_len as usize, 0);
    zstd_into(dctx, stored, out, entry.raw_len)
        .map_err(|reason| record_error(path, i, entry, reason))
}

/// How [`ShardReader::decode_with`] turns a record's stored bytes into `out`.
type DecodeFn = fn(
    &Path,
    usize,
    &IndexEntry,
    &[u8],
    &mut zstd::bulk::Decompressor<'static>,
    &mut Vec<u8>,
) -> Result<()>;

/// [`FrameError::CorruptRecord`] for record `i` of the shard at `path`.
pub(crate) fn record_error(
    path: &Path,
    i: usize,
    entry: &IndexEntry,
    reason: String,
) -> FrameError {
    FrameError::CorruptRecord {
        path: path.to_path_buf(),
        index: i,
        key: entry.key.clone(),
        offset: entry.offset,
        reason,
    }
}

thread_local! {
    /// Per-thread buffer for a sparse or count-planes record's decompressed payload before it
    /// is expanded.
    static LAYOUT_PAYLOAD: RefCell<Vec<u8>> = const { RefCell::new(Vec::new()) };
}

/// Decompresses `stored` into `out` (sized `raw_len`) and checks it filled it exactly.
fn zstd_into(
    dctx: &mut zstd::bulk::Decompressor<'static>,
    stored: &[u8],
    out: &mut [u8],
    raw_len: u64,
) -> std::result::Result<(), String> {
    let written = dctx
        .decompress_to_buffer(stored, out)
        .map_err(|e| format!("zstd decompression failed: {e}"))?;
    if written as u64 != raw_len {
        return Err(format!(
            "decompressed to {written} bytes, index says {raw_len}"
        ));
    }
    Ok(())
}
