//! Work files of phase 1 (`<out>/.work/<params_hash>/*.journal`): the integrated samples of
//! every recording done, so that a rerun after an interruption skips them. Each worker thread
//! appends one entry per recording to its own journal; an entry is validated before reuse
//! (magic, trailing XXH3 checksum, parameter hash and the source file's size and modification
//! time), and a journal is read up to its first damaged entry (a torn tail after a crash), so
//! anything invalid is recomputed.
//!
//! One file per worker rather than one per recording: creating, renaming and deleting a file per
//! recording cost up to a third of a whole ingest of 200 small recordings in kernel time (inode
//! allocation and directory locks on ext4), where tonic's conversion writes nothing.
//!
//! Entry layout: `DVSPART5`, `u64` header length, the JSON [`PartHeader`], the sample blobs
//! back to back, then the `u64` XXH3 of every preceding byte of the entry. Sample offsets in the
//! header count from the start of the entry. A blob is the sample's shard record exactly as
//! phase 1 encoded it ([`dvs_frames::EncodedRecord`]): writing the entry costs no extra
//! compression, and a resumed run appends the blob without re-encoding. (Older work files fail
//! the magic check and are recomputed: `DVSPART3` parts hold dense records only, `DVSPART4` ones
//! no count-planes records, and a resumed run must give the bytes a fresh run of this build
//! gives.)

use std::collections::HashMap;
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use xxhash_rust::xxh3::xxh3_64;

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

/// Suffix of a journal file.
pub const JOURNAL_SUFFIX: &str = ".journal";

/// An append-only journal of one worker: entries are written whole, and a failed write is cut
/// off again so that later entries stay readable.
pub struct Journal {
    path: PathBuf,
    file: std::fs::File,
    len: u64,
}

impl Journal {
    /// Creates a new journal in `dir` named after `worker` (and the process, so a rerun never
    /// appends behind an old journal's torn tail).
    pub fn create(dir: &Path, worker: usize) -> std::io::Result<Self> {
        let pid = std::process::id();
        for attempt in 0u32.. {
            let path = dir.join(format!("{pid}-{worker}-{attempt}{JOURNAL_SUFFIX}"));
            match std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .open(&path)
            {
                Ok(file) => return Ok(Self { path, file, len: 0 }),
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
                Err(e) => return Err(e),
            }
        }
        unreachable!("u32 attempts exhausted")
    }

    /// The journal's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Appends one recording's entry; returns its offset in the journal and its header (as
    /// [`read_entry`] would read it back). Not fsynced: a torn entry fails its checksum and
    /// the recording is recomputed.
    pub fn append(
        &mut self,
        params_hash: &str,
        recording: &str,
        source: SourceFingerprint,
        events_decoded: u64,
        samples: &[(SampleMeta, [usize; 4], EncodedRecord)],
    ) -> std::io::Result<(u64, PartHeader)> {
        let (header, bytes) = entry_bytes(params_hash, recording, source, events_decoded, samples)?;
        let offset = self.len;
        if let Err(e) = self.file.write_all(&bytes) {
            // Cut the partial entry off so the next one starts at a valid boundary.
            self.file.set_len(offset)?;
            self.file.seek(SeekFrom::Start(offset))?;
            return Err(e);
        }
        self.len += bytes.len() as u64;
        Ok((offset, header))
    }
}

/// The journals of one run: one per worker thread, each opened on its worker's first entry.
pub struct Journals {
    dir: PathBuf,
    slots: Vec<std::sync::Mutex<Option<Journal>>>,
}

impl Journals {
    /// Journals in `dir` for `workers` threads (at least one).
    pub fn new(dir: &Path, workers: usize) -> Self {
        Self {
            dir: dir.to_path_buf(),
            slots: (0..workers.max(1))
                .map(|_| std::sync::Mutex::new(None))
                .collect(),
        }
    }

    /// [`Journal::append`] on the journal of `worker` (taken modulo the worker count); returns
    /// the journal's path, the entry's offset and its header. After a failed append that
    /// worker starts a fresh journal.
    pub fn append(
        &self,
        worker: usize,
        params_hash: &str,
        recording: &str,
        source: SourceFingerprint,
        events_decoded: u64,
        samples: &[(SampleMeta, [usize; 4], EncodedRecord)],
    ) -> std::io::Result<(PathBuf, u64, PartHeader)> {
        let worker = worker % self.slots.len();
        let mut slot = self.slots[worker]
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        let appended = match slot.as_mut() {
            Some(journal) => Ok(journal),
            None => Journal::create(&self.dir, worker).map(|j| slot.insert(j)),
        }
        .and_then(|journal| {
            let (offset, header) =
                journal.append(params_hash, recording, source, events_decoded, samples)?;
            Ok((journal.path().to_path_buf(), offset, header))
        });
        if appended.is_err() {
            *slot = None;
        }
        appended
    }
}

/// Every valid entry of every journal in `dir` (what earlier, interrupted runs finished), by
/// recording id: `(journal, offset, header)`, journals in name order.
pub fn scan_journals(dir: &Path) -> HashMap<String, Vec<(PathBuf, u64, PartHeader)>> {
    let mut finished: HashMap<String, Vec<(PathBuf, u64, PartHeader)>> = HashMap::new();
    let Ok(entries) = std::fs::read_dir(dir) else {
        return finished;
    };
    let mut journals: Vec<PathBuf> = entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.to_string_lossy().ends_with(JOURNAL_SUFFIX))
        .collect();
    journals.sort();
    for path in journals {
        for (offset, header) in scan_journal(&path) {
            finished.entry(header.recording.clone()).or_default().push((
                path.clone(),
                offset,
                header,
            ));
        }
    }
    finished
}

/// The bytes of one journal entry and its header.
fn entry_bytes(
    params_hash: &str,
    recording: &str,
    source: SourceFingerprint,
    events_decoded: u64,
    samples: &[(SampleMeta, [usize; 4], EncodedRecord)],
) -> std::io::Result<(PartHeader, Vec<u8>)> {
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
    Ok((header, bytes))
}

/// Longest entry header accepted (JSON of the samples of one recording): a bound so that a
/// damaged length field cannot make the reader allocate without limit.
const MAX_HEADER_LEN: u64 = 1 << 30;

/// Reads and fully validates the entry at `offset` of a journal (the checksum covers the
/// blobs too, read in pieces); returns its header and the offset just past it.
pub fn read_entry(
    file: &mut std::fs::File,
    path: &Path,
    offset: u64,
) -> Result<(PartHeader, u64), PartError> {
    let at = |reason: String| part_err(path, format!("entry at byte {offset}: {reason}"));
    let io = |e: std::io::Error| at(e.to_string());
    let file_len = file.metadata().map_err(io)?.len();
    file.seek(SeekFrom::Start(offset)).map_err(io)?;
    let mut fixed = [0u8; 16];
    file.read_exact(&mut fixed)
        .map_err(|_| at("shorter than an entry header".into()))?;
    if &fixed[..8] != MAGIC {
        return Err(at("not a work-part entry".into()));
    }
    let header_len = u64::from_le_bytes(fixed[8..16].try_into().expect("8 bytes"));
    let header_end = offset
        .checked_add(16)
        .and_then(|o| o.checked_add(header_len))
        .filter(|&e| header_len <= MAX_HEADER_LEN && e <= file_len)
        .ok_or_else(|| at(format!("header length {header_len} runs past the end")))?;
    let mut json = vec![0u8; header_len as usize];
    file.read_exact(&mut json).map_err(io)?;
    let header: PartHeader =
        serde_json::from_slice(&json).map_err(|e| at(format!("bad header: {e}")))?;
    // The blobs follow the header back to back; the checksum follows them.
    let mut blobs_end = header_end;
    for s in &header.samples {
        if offset.checked_add(s.offset) != Some(blobs_end) {
            return Err(at("sample blobs are not back to back".into()));
        }
        blobs_end = blobs_end
            .checked_add(s.len)
            .filter(|&e| e <= file_len)
            .ok_or_else(|| at("sample blob runs past the end".into()))?;
    }
    let end = blobs_end
        .checked_add(8)
        .filter(|&e| e <= file_len)
        .ok_or_else(|| at("checksum missing (torn entry)".into()))?;
    let mut hasher = xxhash_rust::xxh3::Xxh3::new();
    hasher.update(&fixed);
    hasher.update(&json);
    let mut left = blobs_end - header_end;
    let mut buf = vec![0u8; (1usize << 20).min(left as usize)];
    while left > 0 {
        let n = (left as usize).min(buf.len());
        file.read_exact(&mut buf[..n]).map_err(io)?;
        hasher.update(&buf[..n]);
        left -= n as u64;
    }
    let mut sum = [0u8; 8];
    file.read_exact(&mut sum).map_err(io)?;
    if hasher.digest() != u64::from_le_bytes(sum) {
        return Err(at("checksum mismatch".into()));
    }
    Ok((header, end))
}

/// [`read_entry`] of the journal at `path`: the validated header of its entry at `offset`.
pub fn read_entry_at(path: &Path, offset: u64) -> Result<PartHeader, PartError> {
    let mut file = std::fs::File::open(path).map_err(|e| part_err(path, e.to_string()))?;
    read_entry(&mut file, path, offset).map(|(header, _)| header)
}

/// Every valid entry of a journal, in order, up to its end or its first damaged entry (after a
/// crash the tail may be torn; what follows a damaged entry is not trusted).
pub fn scan_journal(path: &Path) -> Vec<(u64, PartHeader)> {
    let Ok(mut file) = std::fs::File::open(path) else {
        return Vec::new();
    };
    let len = file.metadata().map(|m| m.len()).unwrap_or(0);
    let mut entries = Vec::new();
    let mut offset = 0u64;
    while offset < len {
        match read_entry(&mut file, path, offset) {
            Ok((header, next)) => {
                entries.push((offset, header));
                offset = next;
            }
            Err(e) => {
                tracing::debug!("{e}; the rest of the journal is recomputed");
                break;
            }
        }
    }
    entries
}

/// Reads one sample's encoded record back from the entry at `entry_offset` of a journal (its
/// checksum verified again).
pub fn read_part_sample(
    path: &Path,
    entry_offset: u64,
    sample: &PartSample,
) -> Result<EncodedRecord, PartError> {
    let mut file = std::fs::File::open(path).map_err(|e| part_err(path, e.to_string()))?;
    let file_len = file
        .metadata()
        .map_err(|e| part_err(path, e.to_string()))?
        .len();
    let start = entry_offset.checked_add(sample.offset);
    if start
        .and_then(|s| s.checked_add(sample.len))
        .is_none_or(|end| end > file_len)
    {
        return Err(part_err(path, "sample blob out of bounds"));
    }
    file.seek(SeekFrom::Start(start.expect("checked above")))
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::layout::Split;
    use dvs_frames::{FrameData, SampleRecord};

    fn samples(recording: usize, n: usize) -> Vec<(SampleMeta, [usize; 4], EncodedRecord)> {
        (0..n)
            .map(|k| {
                let id = format!("train/c/r{recording}-s{k}");
                let counts: Vec<u32> = (0..2 * 2 * 3 * 4)
                    .map(|i| ((i * 7 + recording + k) % 5) as u32)
                    .collect();
                let shape = [2, 2, 3, 4];
                let record = EncodedRecord::encode(
                    &SampleRecord {
                        key: &id,
                        label: 1,
                        shape,
                        frames: FrameData::Counts(&counts),
                    },
                    1,
                )
                .unwrap();
                let meta = SampleMeta {
                    sample_id: id.clone(),
                    name: id,
                    source_file: format!("r{recording}"),
                    label: 1,
                    class_name: "c".into(),
                    split: Split::Train,
                    t_start: 0,
                    t_end: 1,
                    event_count: 10,
                    events_dropped: 0,
                };
                (meta, shape, record)
            })
            .collect()
    }

    fn source() -> SourceFingerprint {
        SourceFingerprint {
            len: 5,
            mtime_ns: 7,
        }
    }

    #[test]
    fn journal_entries_read_back_and_a_torn_or_damaged_tail_is_dropped() {
        let dir = tempfile::tempdir().unwrap();
        let mut journal = Journal::create(dir.path(), 0).unwrap();
        let other = Journal::create(dir.path(), 0).unwrap();
        assert_ne!(
            journal.path(),
            other.path(),
            "a second journal never reuses a name"
        );
        let mut written = Vec::new();
        for r in 0..3 {
            let s = samples(r, r); // 0, 1 and 2 samples
            let (offset, header) = journal
                .append("hash", &format!("r{r}"), source(), 10, &s)
                .unwrap();
            written.push((offset, header, s));
        }
        let path = journal.path().to_path_buf();
        let scanned = scan_journal(&path);
        assert_eq!(scanned.len(), 3);
        for ((offset, header), (w_offset, w_header, s)) in scanned.iter().zip(&written) {
            assert_eq!((offset, header), (w_offset, w_header));
            for (sample, (_, _, record)) in header.samples.iter().zip(s) {
                let back = read_part_sample(&path, *offset, sample).unwrap();
                assert_eq!(back.stored(), record.stored());
            }
        }
        let bytes = std::fs::read(&path).unwrap();
        // Torn: every cut inside the last entry leaves the first two.
        let last = written[2].0 as usize;
        for cut in [last + 1, last + 16, bytes.len() - 1] {
            std::fs::write(&path, &bytes[..cut]).unwrap();
            assert_eq!(scan_journal(&path).len(), 2, "cut at {cut}");
        }
        // Damaged in the middle entry: only the first is trusted.
        let mut bad = bytes.clone();
        bad[written[1].0 as usize + 20] ^= 0x40;
        std::fs::write(&path, &bad).unwrap();
        assert_eq!(scan_journal(&path).len(), 1);
        // An absurd header length is an error, not an allocation.
        let mut huge = bytes.clone();
        huge[8..16].copy_from_slice(&u64::MAX.to_le_bytes());
        std::fs::write(&path, &huge).unwrap();
        let err = read_entry_at(&path, 0).unwrap_err();
        assert!(err.reason.contains("header length"), "{err}");
        assert!(scan_journal(&path).is_empty());
    }
}
