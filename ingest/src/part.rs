//! Work files of phase 1 (`<out>/.work/<params_hash>/<recording>.part`): the
//! integrated samples of one recording, so that a rerun after an interruption
//! skips recordings already done. A part is written atomically and validated
//! before reuse (magic, trailing XXH3 checksum, parameter hash and the source
//! file's size and modification time); anything invalid is recomputed.
//!
//! Layout: `DVSPART2`, `u64` header length, the JSON [`PartHeader`], the
//! sample blobs, then the `u64` XXH3 of every preceding byte. A blob is the
//! LZ4 of the little-endian values, `f32` for floats and counts narrowed to
//! the smallest of `u8` / `u16` / `u32` that holds their maximum
//! ([`PartSample::width`]): counts are mostly small, so this makes the part
//! round trip about four times cheaper than storing `u32`. (Version 1 parts,
//! always `u32`, fail the magic check and are recomputed.)

use std::io::{Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use xxhash_rust::xxh3::xxh3_64;

use crate::sample::{FrameBuf, SampleMeta};

const MAGIC: &[u8; 8] = b"DVSPART2";

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

/// Where one sample's frames are inside a part.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PartSample {
    /// Sample metadata.
    pub meta: SampleMeta,
    /// True for `f32` frames, false for `u32` counts.
    pub float: bool,
    /// Number of elements.
    pub elements: u64,
    /// Bytes per stored element: 1, 2 or 4 for counts (narrowed), 4 for floats.
    pub width: u8,
    /// Byte offset of the compressed blob in the part file.
    pub offset: u64,
    /// Compressed length.
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

/// The blob bytes before compression and their element width (see the module doc).
fn to_bytes(frames: &FrameBuf) -> (Vec<u8>, u8) {
    match frames {
        FrameBuf::Counts(c) => {
            let max = c.iter().copied().max().unwrap_or(0);
            if max <= u32::from(u8::MAX) {
                (c.iter().map(|&v| v as u8).collect(), 1)
            } else if max <= u32::from(u16::MAX) {
                let mut out = Vec::with_capacity(c.len() * 2);
                c.iter()
                    .for_each(|&v| out.extend_from_slice(&(v as u16).to_le_bytes()));
                (out, 2)
            } else {
                let mut out = Vec::with_capacity(c.len() * 4);
                c.iter()
                    .for_each(|&v| out.extend_from_slice(&v.to_le_bytes()));
                (out, 4)
            }
        }
        FrameBuf::Float(f) => {
            let mut out = Vec::with_capacity(f.len() * 4);
            f.iter()
                .for_each(|v| out.extend_from_slice(&v.to_le_bytes()));
            (out, 4)
        }
    }
}

/// Writes a part atomically and returns its header (as [`read_part_header`]
/// would read it back).
pub fn write_part(
    path: &Path,
    params_hash: &str,
    recording: &str,
    source: SourceFingerprint,
    events_decoded: u64,
    samples: &[(SampleMeta, FrameBuf)],
) -> std::io::Result<PartHeader> {
    let mut blobs = Vec::new();
    let mut entries = Vec::with_capacity(samples.len());
    for (meta, frames) in samples {
        let (raw, width) = to_bytes(frames);
        let compressed = lz4_flex::compress(&raw);
        entries.push(PartSample {
            meta: meta.clone(),
            float: matches!(frames, FrameBuf::Float(_)),
            elements: frames.len() as u64,
            width,
            offset: blobs.len() as u64, // relative; fixed up below
            len: compressed.len() as u64,
        });
        blobs.extend_from_slice(&compressed);
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
    crate::fsutil::write_atomic_unsynced(path, &bytes)?;
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

/// Reads one sample's frames from a part.
pub fn read_part_sample(path: &Path, sample: &PartSample) -> Result<FrameBuf, PartError> {
    let mut file = std::fs::File::open(path).map_err(|e| part_err(path, e.to_string()))?;
    file.seek(SeekFrom::Start(sample.offset))
        .map_err(|e| part_err(path, e.to_string()))?;
    let len = usize::try_from(sample.len).map_err(|_| part_err(path, "blob too large"))?;
    let mut compressed = vec![0u8; len];
    file.read_exact(&mut compressed)
        .map_err(|e| part_err(path, e.to_string()))?;
    let width = usize::from(sample.width);
    if !matches!((sample.float, width), (false, 1 | 2 | 4) | (true, 4)) {
        return Err(part_err(path, format!("bad element width {width}")));
    }
    let expected = usize::try_from(sample.elements)
        .ok()
        .and_then(|n| n.checked_mul(width))
        .ok_or_else(|| part_err(path, "element count too large"))?;
    // An LZ4 block expands at most ~255x: do not allocate more than the blob can hold.
    if expected > len.saturating_mul(255).saturating_add(64) {
        return Err(part_err(
            path,
            "element count exceeds what the blob can hold",
        ));
    }
    let raw = lz4_flex::decompress(&compressed, expected)
        .map_err(|e| part_err(path, format!("lz4: {e}")))?;
    if raw.len() != expected {
        return Err(part_err(path, "decompressed size mismatch"));
    }
    Ok(match (sample.float, width) {
        (true, _) => FrameBuf::Float(
            raw.chunks_exact(4)
                .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
                .collect(),
        ),
        (false, 1) => FrameBuf::Counts(raw.iter().map(|&v| u32::from(v)).collect()),
        (false, 2) => FrameBuf::Counts(
            raw.chunks_exact(2)
                .map(|c| u32::from(u16::from_le_bytes([c[0], c[1]])))
                .collect(),
        ),
        _ => FrameBuf::Counts(
            raw.chunks_exact(4)
                .map(|c| u32::from_le_bytes([c[0], c[1], c[2], c[3]]))
                .collect(),
        ),
    })
}
