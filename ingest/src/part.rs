//! Work files of phase 1 (`<out>/.work/<params_hash>/<recording>.part`): the
//! integrated samples of one recording, so that a rerun after an interruption
//! skips recordings already done. A part is written atomically and validated
//! before reuse (magic, trailing XXH3 checksum, parameter hash and the source
//! file's size and modification time); anything invalid is recomputed.
//!
//! Layout: `DVSPART5`, `u64` header length, the JSON [`PartHeader`], the
//! sample blobs, then the `u64` XXH3 of every preceding byte. A blob is the
//! sample's shard record exactly as phase 1 encoded it (narrowed, zstd, with
//! its own XXH3; [`dvs_frames::EncodedRecord`]): writing the part costs no
//! extra compression, and a resumed run appends the blob without re-encoding.
//! (Older parts fail the magic check and are recomputed: `DVSPART3` parts hold dense records
//! only, `DVSPART4` ones no count-planes records, and a resumed run must give the bytes a fresh
//! run of this build gives.)

use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use xxhash_rust::xxh3::xxh3_64;

use dvs_frames::fsutil::Durability;
use dvs_frames::{Dtype, EncodedRecord, Encoding};

use crate::sample::SampleMeta;

const MAGIC: &[u8; 8] = b"DVSPART5";

/// Identity of a source file when its part was made.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SourceFingerprint {
    /// File size in bytes.
    pub len: u64,
    /// Modification time, nanoseconds since the Unix epoch (0 if unknown).
    pub mtime_ns: u128,
}

impl SourceFingerprint {
    /// Fingerprint of `path` now.
    pub fn of(path: &Path) -> std::io::Result<Self> {
        let meta = std::fs::metadata(path)?;
        let mtime_ns = meta
            .modified()
            .ok()
            .and_then(|m| m.duration_since(std::time::UNIX_EPOCH).ok())
            .map(|d| d.as_nanos())
            .unwrap_or(0);
        Ok(Self {
            len: meta.len(),
            mtime_ns,
        })
    }
}

/// Where one sample's encoded shard record is inside a part.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PartSample {
    /// Sample metadata.
    pub meta: SampleMeta,
    /// Frame shape [T, 2, H, W].
    pub shape: [usize; 4],
    /// Stored element type of the record.
    pub dtype: Dtype,
    /// Dense, sparse or count-planes layout of the record.
    pub encoding: Encoding,
    /// Uncompressed record length in bytes.
    pub raw_len: u64,
    /// XXH3-64 of the stored record bytes.
    pub checksum: u64,
    /// Byte offset of the record in the part file.
    pub offset: u64,
    /// Stored (compressed) length.
    pub len: u64,
}

/// The JSON header of a part.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PartHeader {
    /// Hash of the parameters the samples were made with.
    pub params_hash: String,
    /// Recording id.
    pub recording: String,
    /// Source file identity.
    pub source: SourceFingerprint,
    /// Events decoded from the recording.
    pub events_decoded: u64,
    /// The samples, in cutting order.
    pub samples: Vec<PartSample>,
}

/// A part-file problem (the part is then recomputed or reported).
#[derive(Debug, thiserror::Error)]
#[error("{}: {reason}", path.display())]
pub struct PartError {
    /// The part file.
    pub path: PathBuf,
    /// Why it is unusable.
    pub reason: String,
}

fn part_err(path: &Path, reason: impl Into<String>) -> PartError {
    PartError {
        path: path.to_path_buf(),
        reason: reason.into(),
    }
}

/// File name of a recording's part (the id with `/` replaced, plus a short
/// hash of the id so that distinct ids never collide).
pub fn part_file_name(recording_id: &str) -> String {
    let flat: String = recording_id
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '.' || c == '_' || c == '-' {
                c
            } else {
                '_'
            }
        })
        .collect();
    format!("{flat}-{:016x}.part", xxh3_64(recording_id.as_bytes()))
}

/// Writes a part atomically and returns its header (as [`read_part_header`]
/// would read it back).
pub fn write_part(
    path: &Path,
    params_hash: &str,
    recording: &str,
    source: SourceFingerprint,
    events_decoded: u64,
    samples: &[(SampleMeta, [usize; 4], EncodedRecord)],
) -> std::io::Result<PartHeader> {
    let mut blobs = Vec::new();
    let mut entries = Vec::with_capacity(samples.len());
    for (meta, shape, record) in samples {
        entries.push(PartSample {
            meta: meta.clone(),
            shape: *shape,
            dtype: record.dtype(),
            encoding: record.encoding(),
            raw_len: record.raw_len(),
            checksum: record.checksum(),
            offset: blobs.len() as u64, // relative; fixed up below
            len: record.stored_len(),
        });
        blobs.extend_from_slice(record.stored());
    }
    // Offsets depend on the header length, which depends on the offsets' digits:
    // iterate until stable (converges in a couple of rounds).
    let mut base = 0u64;
    let (header, header_json) = loop {
        let header = PartHeader {
            params_hash: params_hash.to_string(),
            recording: recording.to_string(),
            source: source.clone(),
            events_decoded,
            samples: entries
                .iter()
                .map(|e| PartSample {
                    offset: e.offset + base,
                    ..e.clone()
                })
                .collect(),
        };
        let json = serde_json::to_vec(&header).map_err(std::io::Error::other)?;
        let needed = (MAGIC.len() + 8 + json.len()) as u64;
        if needed == base {
            break (header, json);
        }
        base = needed;
    };
    let mut bytes = Vec::with_capacity(base as usize + blobs.len() + 8);
    bytes.extend_from_slice(MAGIC);
    bytes.extend_from_slice(&(header_json.len() as u64).to_le_bytes());
    bytes.extend_from_slice(&header_json);
    bytes.extend_from_slice(&blobs);
    let sum = xxh3_64(&bytes);
    bytes.extend_from_slice(&sum.to_le_bytes());
    dvs_frames::fsutil::atomic_write_with(path, Durability::Checksummed, |w| w.write_all(&bytes))?;
    Ok(header)
}

/// Reads and fully validates a part's header (the checksum covers the blobs too).
pub fn read_part_header(path: &Path) -> Result<PartHeader, PartError> {
    let bytes = std::fs::read(path).map_err(|e| part_err(path, e.to_string()))?;
    if bytes.len() < MAGIC.len() + 16 || &bytes[..8] != MAGIC {
        return Err(part_err(path, "not a part file"));
    }
    let (body, tail) = bytes.split_at(bytes.len() - 8);
    let stored = u64::from_le_bytes(tail.try_into().expect("8 bytes"));
    if xxh3_64(body) != stored {
        return Err(part_err(path, "checksum mismatch"));
    }
    let header_len = u64::from_le_bytes(body[8..16].try_into().expect("8 bytes"));
    let header_end = 16u64
        .checked_add(header_len)
        .filter(|&e| e <= body.len() as u64)
        .ok_or_else(|| part_err(path, "header length past the end"))? as usize;
    let header: PartHeader = serde_json::from_slice(&body[16..header_end])
        .map_err(|e| part_err(path, format!("bad header: {e}")))?;
    for s in &header.samples {
        let end = s.offset.checked_add(s.len);
        if s.offset < header_end as u64 || end.is_none_or(|e| e > body.len() as u64) {
            return Err(part_err(path, "sample blob out of bounds"));
        }
    }
    Ok(header)
}

/// Reads one sample's encoded record back from a part (its checksum verified again).
pub fn read_part_sample(path: &Path, sample: &PartSample) -> Result<EncodedRecord, PartError> {
    let mut file = std::fs::File::open(path).map_err(|e| part_err(path, e.to_string()))?;
    let file_len = file
        .metadata()
        .map_err(|e| part_err(path, e.to_string()))?
        .len();
    if sample
        .offset
        .checked_add(sample.len)
        .is_none_or(|end| end > file_len)
    {
        return Err(part_err(path, "sample blob out of bounds"));
    }
    file.seek(SeekFrom::Start(sample.offset))
        .map_err(|e| part_err(path, e.to_string()))?;
    let mut stored = vec![0u8; sample.len as usize];
    file.read_exact(&mut stored)
        .map_err(|e| part_err(path, e.to_string()))?;
    EncodedRecord::from_stored(
        &sample.meta.sample_id,
        sample.meta.label,
        sample.shape,
        sample.dtype,
        sample.encoding,
        sample.raw_len,
        stored,
        sample.checksum,
    )
    .map_err(|e| part_err(path, e.to_string()))
}
