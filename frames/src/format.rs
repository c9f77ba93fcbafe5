//! Byte layout of a `.dvsf` shard: header, index entries and footer, with their encoders and
//! the validating decoders shared by [`crate::ShardReader`] and [`crate::ShardIndex`].
//!
//! Layout (all integers little-endian; the normative text is `docs/shard-format.md`):
//!
//! ```text
//! [header 32 B][record 0 (zstd frame)][record 1]...[index: N entries][footer 48 B]
//! ```
//!
//! A record's zstd frame holds its elements dense, sparse (version 2) or as count planes
//! (version 3); see [`Encoding`].
//!
//! Every length and offset read from the file is checked against the file size before anything
//! is allocated from it.

use std::path::Path;

use crate::dtype::Dtype;
use crate::error::{FrameError, Result};

/// First eight bytes of every shard.
pub const MAGIC: [u8; 8] = *b"DVSFSHRD";
/// Last eight bytes of every shard (end of the footer).
pub const END_MAGIC: [u8; 8] = *b"DVSFINDX";
/// The format version this build writes (it reads this one and [`OLDEST_VERSION`]).
pub const VERSION: u32 = 3;
/// The oldest version this build reads: version 1 is version 2 without sparse records, version
/// 2 is version 3 without count-planes records.
pub const OLDEST_VERSION: u32 = 1;
/// Size of the fixed header.
pub const HEADER_LEN: usize = 32;
/// Size of the fixed footer.
pub const FOOTER_LEN: usize = 48;
/// Size of an index entry without its key bytes.
pub const ENTRY_FIXED_LEN: usize = 56;
/// How a record's elements are laid out inside its zstd frame: the index entry's encoding byte
/// (offset 53; called "compression" in version 1, where only code 1 exists).
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "lowercase")]
pub enum Encoding {
    /// Code 1: every element, row-major, zstd-compressed.
    #[default]
    Dense,
    /// Code 2 (version 2): the nonzero elements and their positions (`crate::sparse`),
    /// zstd-compressed; the writer uses it when it is well under the dense size.
    Sparse,
    /// Code 3 (version 3), integer counts only: bit planes of "nonzero" and "above 1" over
    /// every element, then the elements above 1 (`crate::planes`), zstd-compressed; the writer
    /// uses it for counts that are not stored sparse when at most one element in 16 is above 1.
    Planes,
}

/// Expands a decompressed payload into the dense little-endian elements (`out`, element size
/// given); an error says what is wrong with the payload.
pub(crate) type Expand = fn(&[u8], usize, &mut [u8]) -> std::result::Result<(), String>;

impl Encoding {
    /// Lower-case name ("dense", "sparse").
    pub fn name(self) -> &'static str {
        match self {
            Encoding::Dense => "dense",
            Encoding::Sparse => "sparse",
            Encoding::Planes => "planes",
        }
    }

    /// The byte stored in the index.
    pub fn code(self) -> u8 {
        match self {
            Encoding::Dense => 1,
            Encoding::Sparse => 2,
            Encoding::Planes => 3,
        }
    }

    /// Whether `raw_len` (the decompressed length) fits a record of `dense_len` dense bytes of
    /// `dtype` in this encoding: exactly `dense_len` dense; sparse, at least the payload's
    /// element count and smaller than dense (the writer stores sparse only when it is); planes,
    /// an integer dtype, both planes and a whole number of at most all elements after them.
    pub fn raw_len_fits(self, raw_len: u64, dense_len: u64, dtype: Dtype) -> bool {
        match self {
            Encoding::Dense => raw_len == dense_len,
            Encoding::Sparse => (crate::sparse::COUNT_BYTES as u64..dense_len).contains(&raw_len),
            Encoding::Planes => {
                let size = dtype.size() as u64;
                let elements = dense_len / size;
                let planes = 2 * crate::planes::plane_len(elements as usize) as u64;
                dtype != Dtype::F32
                    && raw_len
                        .checked_sub(planes)
                        .is_some_and(|values| values % size == 0 && values / size <= elements)
            }
        }
    }

    /// How a payload of this encoding becomes dense elements; `None` for dense, which already is.
    pub(crate) fn expander(self) -> Option<Expand> {
        match self {
            Encoding::Dense => None,
            Encoding::Sparse => Some(crate::sparse::expand),
            Encoding::Planes => Some(crate::planes::expand),
        }
    }

    /// Inverse of [`Encoding::code`] for a file of `version`; `None` for a code that version
    /// does not define.
    pub fn from_code(code: u8, version: u32) -> Option<Self> {
        match code {
            1 => Some(Encoding::Dense),
            2 if version >= 2 => Some(Encoding::Sparse),
            3 if version >= 3 => Some(Encoding::Planes),
            _ => None,
        }
    }
}
/// Largest decompressed record the reader accepts (1 GiB); a bound so that a damaged index
/// cannot make the reader allocate without limit.
pub const MAX_RECORD_RAW_BYTES: u64 = 1 << 30;
/// Longest key, in bytes.
pub const MAX_KEY_LEN: usize = u16::MAX as usize;

/// The checksum used for records and the index: XXH3-64 of the bytes as stored.
pub fn checksum(bytes: &[u8]) -> u64 {
    xxhash_rust::xxh3::xxh3_64(bytes)
}

/// One record as described by the index.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IndexEntry {
    /// Absolute byte offset of the record's stored (compressed) bytes.
    pub offset: u64,
    /// Stored (compressed) length in bytes.
    pub stored_len: u64,
    /// Decompressed length in bytes: product(shape) * dtype size for a dense record, the
    /// sparse payload's length (smaller) for a sparse one.
    pub raw_len: u64,
    /// XXH3-64 of the stored bytes.
    pub checksum: u64,
    /// Class label.
    pub label: u32,
    /// [T, C, H, W].
    pub shape: [usize; 4],
    /// Stored element type.
    pub dtype: Dtype,
    /// Dense, sparse or count-planes layout inside the zstd frame.
    pub encoding: Encoding,
    /// Sample key (unique id chosen by the writer's caller).
    pub key: String,
}

impl IndexEntry {
    /// Number of elements, `T*C*H*W`.
    pub fn elements(&self) -> usize {
        self.shape.iter().product()
    }

    /// Bytes of the dense elements (`T*C*H*W * dtype size`), what a reader hands out.
    pub fn dense_len(&self) -> usize {
        self.elements() * self.dtype.size()
    }
}

/// The decoded footer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Footer {
    pub index_offset: u64,
    pub index_len: u64,
    pub record_count: u64,
    pub index_checksum: u64,
}

pub(crate) fn encode_header() -> [u8; HEADER_LEN] {
    let mut h = [0u8; HEADER_LEN];
    h[0..8].copy_from_slice(&MAGIC);
    h[8..12].copy_from_slice(&VERSION.to_le_bytes());
    h[12..16].copy_from_slice(&(HEADER_LEN as u32).to_le_bytes());
    // bytes 16..32: flags (u64, 0) and reserved (u64, 0)
    h
}

pub(crate) fn encode_entry(out: &mut Vec<u8>, e: &IndexEntry) {
    out.extend_from_slice(&e.offset.to_le_bytes());
    out.extend_from_slice(&e.stored_len.to_le_bytes());
    out.extend_from_slice(&e.raw_len.to_le_bytes());
    out.extend_from_slice(&e.checksum.to_le_bytes());
    out.extend_from_slice(&e.label.to_le_bytes());
    for d in e.shape {
        // The writer checked every dimension fits in u32.
        out.extend_from_slice(&(d as u32).to_le_bytes());
    }
    out.push(e.dtype.code());
    out.push(e.encoding.code());
    out.extend_from_slice(&(e.key.len() as u16).to_le_bytes());
    out.extend_from_slice(e.key.as_bytes());
}

pub(crate) fn encode_footer(f: &Footer) -> [u8; FOOTER_LEN] {
    let mut b = [0u8; FOOTER_LEN];
    b[0..8].copy_from_slice(&f.index_offset.to_le_bytes());
    b[8..16].copy_from_slice(&f.index_len.to_le_bytes());
    b[16..24].copy_from_slice(&f.record_count.to_le_bytes());
    b[24..32].copy_from_slice(&f.index_checksum.to_le_bytes());
    b[32..36].copy_from_slice(&VERSION.to_le_bytes());
    // 36..40 reserved
    b[40..48].copy_from_slice(&END_MAGIC);
    b
}

fn corrupt(path: &Path, offset: u64, reason: impl Into<String>) -> FrameError {
    FrameError::CorruptShard {
        path: path.to_path_buf(),
        offset,
        reason: reason.into(),
    }
}

fn u32_at(b: &[u8], at: usize) -> u32 {
    let mut a = [0u8; 4];
    a.copy_from_slice(&b[at..at + 4]);
    u32::from_le_bytes(a)
}

fn u64_at(b: &[u8], at: usize) -> u64 {
    let mut a = [0u8; 8];
    a.copy_from_slice(&b[at..at + 8]);
    u64::from_le_bytes(a)
}

/// Checks the minimum size, then the header: magic, version and header length. Returns the
/// version.
pub(crate) fn check_header(path: &Path, file_len: u64, header: &[u8]) -> Result<u32> {
    if header.len() < 8 || header[0..8] != MAGIC {
        return Err(FrameError::BadMagic {
            path: path.to_path_buf(),
            found: header[..header.len().min(8)].to_vec(),
        });
    }
    if header.len() < HEADER_LEN {
        return Err(corrupt(
            path,
            0,
            format!("file is {file_len} bytes, shorter than the {HEADER_LEN}-byte header"),
        ));
    }
    let version = u32_at(header, 8);
    if !(OLDEST_VERSION..=VERSION).contains(&version) {
        return Err(FrameError::UnsupportedVersion {
            path: path.to_path_buf(),
            offset: 8,
            found: version,
            supported: VERSION,
        });
    }
    let header_len = u32_at(header, 12);
    if header_len as usize != HEADER_LEN {
        return Err(corrupt(
            path,
            12,
            format!("header length field is {header_len}, expected {HEADER_LEN}"),
        ));
    }
    let min_len = (HEADER_LEN + FOOTER_LEN) as u64;
    if file_len < min_len {
        return Err(corrupt(
            path,
            file_len,
            format!("file is {file_len} bytes, shorter than header + footer ({min_len} bytes): truncated?"),
        ));
    }
    Ok(version)
}

/// Decodes and bounds-checks the footer (the last [`FOOTER_LEN`] bytes of a `file_len`-byte
/// file), which must repeat the header's `version`.
pub(crate) fn parse_footer(
    path: &Path,
    file_len: u64,
    footer: &[u8],
    version: u32,
) -> Result<Footer> {
    let footer_start = file_len - FOOTER_LEN as u64;
    if footer.len() != FOOTER_LEN || footer[40..48] != END_MAGIC {
        return Err(corrupt(
            path,
            footer_start + 40,
            "footer end magic missing: the shard is truncated or was not finished",
        ));
    }
    let footer_version = u32_at(footer, 32);
    if footer_version != version {
        return Err(FrameError::UnsupportedVersion {
            path: path.to_path_buf(),
            offset: footer_start + 32,
            found: footer_version,
            supported: version,
        });
    }
    let f = Footer {
        index_offset: u64_at(footer, 0),
        index_len: u64_at(footer, 8),
        record_count: u64_at(footer, 16),
        index_checksum: u64_at(footer, 24),
    };
    if f.index_offset < HEADER_LEN as u64 {
        return Err(corrupt(
            path,
            footer_start,
            format!("index offset {} lies inside the header", f.index_offset),
        ));
    }
    match f.index_offset.checked_add(f.index_len) {
        Some(end) if end == footer_start => {}
        _ => {
            return Err(corrupt(
                path,
                footer_start,
                format!(
                    "index [{}, +{}) does not end where the footer starts ({footer_start}); file length {file_len}",
                    f.index_offset, f.index_len
                ),
            ))
        }
    }
    if f.record_count > f.index_len / ENTRY_FIXED_LEN as u64 {
        return Err(corrupt(
            path,
            footer_start + 16,
            format!(
                "record count {} cannot fit in an index of {} bytes",
                f.record_count, f.index_len
            ),
        ));
    }
    Ok(f)
}

/// Decodes and validates every index entry of a file of `version`. `index` is exactly the
/// index region.
pub(crate) fn parse_index(
    path: &Path,
    footer: &Footer,
    index: &[u8],
    version: u32,
) -> Result<Vec<IndexEntry>> {
    let base = footer.index_offset;
    if checksum(index) != footer.index_checksum {
        return Err(corrupt(
            path,
            base,
            "index checksum mismatch: the index region is damaged",
        ));
    }
    // record_count was bounded by index_len / ENTRY_FIXED_LEN, itself bounded by the file size.
    let count = footer.record_count as usize;
    let mut entries = Vec::with_capacity(count);
    let mut pos = 0usize;
    let mut previous_end = HEADER_LEN as u64;
    for i in 0..count {
        let at = base + pos as u64;
        if index.len() - pos < ENTRY_FIXED_LEN {
            return Err(corrupt(path, at, format!("index entry {i} is truncated")));
        }
        let b = &index[pos..pos + ENTRY_FIXED_LEN];
        let offset = u64_at(b, 0);
        let stored_len = u64_at(b, 8);
        let raw_len = u64_at(b, 16);
        let checksum = u64_at(b, 24);
        let label = u32_at(b, 32);
        let shape = [
            u32_at(b, 36) as usize,
            u32_at(b, 40) as usize,
            u32_at(b, 44) as usize,
            u32_at(b, 48) as usize,
        ];
        let dtype_code = b[52];
        let encoding_code = b[53];
        let key_len = u16::from_le_bytes([b[54], b[55]]) as usize;
        pos += ENTRY_FIXED_LEN;
        let dtype = Dtype::from_code(dtype_code).ok_or_else(|| {
            corrupt(
                path,
                at + 52,
                format!("index entry {i}: unknown dtype code {dtype_code}"),
            )
        })?;
        let encoding = Encoding::from_code(encoding_code, version).ok_or_else(|| {
            corrupt(
                path,
                at + 53,
                format!(
                    "index entry {i}: unknown encoding code {encoding_code} for version {version}"
                ),
            )
        })?;
        if index.len() - pos < key_len {
            return Err(corrupt(
                path,
                at + 54,
                format!("index entry {i}: key runs past the index"),
            ));
        }
        let key = std::str::from_utf8(&index[pos..pos + key_len])
            .map_err(|_| {
                corrupt(
                    path,
                    at + ENTRY_FIXED_LEN as u64,
                    format!("index entry {i}: key is not UTF-8"),
                )
            })?
            .to_owned();
        pos += key_len;
        let record = |reason: String| FrameError::CorruptRecord {
            path: path.to_path_buf(),
            index: i,
            key: key.clone(),
            offset: at,
            reason,
        };
        if offset < previous_end {
            return Err(record(format!(
                "record offset {offset} overlaps the header or the previous record (ends at {previous_end})"
            )));
        }
        let end = offset
            .checked_add(stored_len)
            .filter(|&e| e <= footer.index_offset)
            .ok_or_else(|| {
                record(format!(
                    "record [{offset}, +{stored_len}) runs past the start of the index at {}",
                    footer.index_offset
                ))
            })?;
        previous_end = end;
        let dense_len = shape
            .iter()
            .try_fold(dtype.size() as u64, |acc, &d| acc.checked_mul(d as u64));
        let Some(dense_len) = dense_len.filter(|&n| n <= MAX_RECORD_RAW_BYTES) else {
            return Err(record(format!(
                "shape {shape:?} of {dtype} exceeds the {MAX_RECORD_RAW_BYTES}-byte record limit"
            )));
        };
        if !encoding.raw_len_fits(raw_len, dense_len, dtype) {
            return Err(record(format!(
                "decompressed length {raw_len} does not match shape {shape:?} of {dtype} ({} record)",
                encoding.name()
            )));
        }
        entries.push(IndexEntry {
            offset,
            stored_len,
            raw_len,
            checksum,
            label,
            shape,
            dtype,
            encoding,
            key,
        });
    }
    if pos != index.len() {
        return Err(corrupt(
            path,
            base + pos as u64,
            format!(
                "{} unexplained bytes after the last index entry",
                index.len() - pos
            ),
        ));
    }
    Ok(entries)
}
