//! Ingest across many machines: `run --part i/N` does phase 1 (decode, cut,
//! integrate, encode) of a deterministic 1/N of the recordings into its own
//! part directory, and `merge PART_DIRS... --output DIR` packs all parts into
//! one dataset whose files are byte-identical to a single-process `run`.
//!
//! Why the bytes match: a single run's output depends only on the encoded
//! shard record of every sample (phase 1, per recording, deterministic), the
//! fixed packing order (split, sample id), the shard size target, the
//! failures and the dataset-level fields. A part keeps its phase-1 work parts
//! (`.work/<params_hash>/*.part`, exact encoded records, checksummed) and
//! records in `part.json` the dataset-level fields it would have written
//! (the `dataset.json` skeleton), its effective configuration, its share and
//! its failures; merge re-packs every record through the same phase 2
//! ([`crate::pipeline`]), so no record is re-encoded.
//!
//! Assignment: all parts list the same recordings (discovery is
//! deterministic), sort them by file size (largest first, then id) and give
//! each to the part with the fewest bytes so far (ties: the lowest part), so
//! parts are balanced by size. Failures found while listing the input (before
//! any recording is read) belong to part 1. Parts are numbered from 1 (`1/3`,
//! `2/3`, `3/3`), as Slurm's `--array=1-N` numbers its tasks.
//!
//! Merge checks that every part is finished (`part.json` written last), that
//! all share one params hash, dataset skeleton, part count and view of the
//! input (a fingerprint of the listed recordings and their sizes), that parts
//! 1..N are each present exactly once and that no recording is in two parts;
//! every work part is re-validated (checksum, params hash, recording id).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use rayon::prelude::*;
use serde::{Deserialize, Serialize};
use xxhash_rust::xxh3::Xxh3;

use dvs_frames::{fsutil, settings, DatasetInfo};

use crate::config::IngestConfig;
use crate::layout::Discovered;
use crate::part;
use crate::pipeline::{
    clean_output, io_err, pack_dataset, DonePart, IngestError, Packed, RunSummary, CONFIG_FILE,
    WORK_DIR,
};
use crate::report::RecordingFailure;

/// File name of a finished part's description (written last: its presence marks a finished part).
pub const PART_FILE: &str = "part.json";
/// Version of the `part.json` layout.
pub const PART_FORMAT_VERSION: u32 = 2;

/// One part of a many-machine ingest: part `index` of `count`, numbered from 1.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PartSpec {
    /// 1-based part number.
    pub index: usize,
    /// Number of parts.
    pub count: usize,
}

impl std::fmt::Display for PartSpec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.index, self.count)
    }
}

impl std::str::FromStr for PartSpec {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bad =
            || format!("part '{s}': expected i/N with 1 <= i <= N (parts are numbered from 1)");
        let (i, n) = s.split_once('/').ok_or_else(bad)?;
        let index: usize = i.trim().parse().map_err(|_| bad())?;
        let count: usize = n.trim().parse().map_err(|_| bad())?;
        if count == 0 || index == 0 || index > count {
            return Err(bad());
        }
        Ok(PartSpec { index, count })
    }
}

dvs_frames::settings::serde_via_str!(PartSpec);

/// How a part saw the input: how many recordings discovery listed and a
/// fingerprint of their ids and sizes and of the listing failures. Parts
/// that disagree were run on different inputs and cannot be merged.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct InputView {
    /// Recordings discovery listed (all parts together).
    pub recordings: usize,
    /// XXH3-64 (hex) of the sorted `(id, size)` list and the listing failures.
    pub fingerprint: String,
}

/// Which recordings a part was given.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Selection {
    /// The whole input as this part saw it.
    pub input: InputView,
    /// Ids of the recordings assigned to this part, sorted.
    pub assigned: Vec<String>,
}

/// One ingested recording of a part.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PartRecording {
    /// Recording id.
    pub id: String,
    /// The journal holding its work part, relative to the part directory.
    pub file: String,
    /// Offset of its entry in that journal.
    pub offset: u64,
}

/// `part.json`: everything merge needs besides the work parts.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PartManifest {
    /// [`PART_FORMAT_VERSION`].
    pub format_version: u32,
    /// This part, `i/N`.
    pub part: PartSpec,
    /// params_hash of the samples.
    pub params_hash: String,
    /// `dataset.json` without the splits (its dtype is the one used when there are no samples).
    pub dataset: DatasetInfo,
    /// The part's effective configuration (merge writes part 1's, with its own output).
    pub config: IngestConfig,
    /// The input as this part saw it.
    pub input: InputView,
    /// Every recording assigned to this part (ingested or failed), sorted.
    pub assigned: Vec<String>,
    /// The recordings ingested, with their work parts.
    pub recordings: Vec<PartRecording>,
    /// Recordings that failed (this part's share of `errors.json`), sorted.
    pub failures: Vec<RecordingFailure>,
}

impl PartManifest {
    /// Reads `<dir>/part.json`.
    pub fn read(dir: &Path) -> Result<Self, MergeError> {
        let path = dir.join(PART_FILE);
        let bytes = std::fs::read(&path).map_err(|e| MergeError::NotAPart {
            dir: dir.to_path_buf(),
            reason: if e.kind() == std::io::ErrorKind::NotFound {
                format!("no {PART_FILE} (its `run --part` has not finished)")
            } else {
                format!("{PART_FILE}: {e}")
            },
        })?;
        let manifest: PartManifest =
            serde_json::from_slice(&bytes).map_err(|e| MergeError::NotAPart {
                dir: dir.to_path_buf(),
                reason: format!("{PART_FILE}: {e}"),
            })?;
        if manifest.format_version != PART_FORMAT_VERSION {
            return Err(MergeError::NotAPart {
                dir: dir.to_path_buf(),
                reason: format!(
                    "{PART_FILE} has format version {} (this dvs-ingest reads {PART_FORMAT_VERSION})",
                    manifest.format_version
                ),
            });
        }
        Ok(manifest)
    }
}

/// Why parts cannot be merged.
#[derive(Debug, thiserror::Error)]
pub enum MergeError {
    /// No part directory given.
    #[error("no part directories given")]
    NoParts,
    /// A directory is not a finished part.
    #[error("{}: not a finished part: {reason}", dir.display())]
    NotAPart {
        /// The directory.
        dir: PathBuf,
        /// Why.
        reason: String,
    },
    /// Two parts disagree on something that must be equal.
    #[error("{} and {} differ in {what}: {first} vs {second}; run every part with the same settings on the same input", a.display(), b.display())]
    Mismatch {
        /// First part directory.
        a: PathBuf,
        /// The other.
        b: PathBuf,
        /// What differs.
        what: &'static str,
        /// Value in `a`.
        first: String,
        /// Value in `b`.
        second: String,
    },
    /// A part number appears twice.
    #[error("part {part} given twice: {} and {}", a.display(), b.display())]
    DuplicatePart {
        /// The part.
        part: PartSpec,
        /// One directory.
        a: PathBuf,
        /// The other.
        b: PathBuf,
    },
    /// Some parts are missing.
    #[error("parts {missing} of {count} are missing (give every part directory exactly once)")]
    MissingParts {
        /// The missing part numbers, comma-separated.
        missing: String,
        /// N.
        count: usize,
    },
    /// A recording was assigned to two parts.
    #[error("recording {id} is in two parts: {} and {}", a.display(), b.display())]
    Overlap {
        /// The recording.
        id: String,
        /// One part directory.
        a: PathBuf,
        /// The other.
        b: PathBuf,
    },
    /// The parts together do not cover the input.
    #[error("the parts hold {held} recordings but the input listed {listed}")]
    Incomplete {
        /// Recordings assigned over all parts.
        held: usize,
        /// Recordings discovery listed.
        listed: usize,
    },
    /// A work part is missing or corrupt.
    #[error("{}: work part of recording {id} is unusable ({reason}); rerun that part", dir.display())]
    BadWorkPart {
        /// Part directory.
        dir: PathBuf,
        /// Recording.
        id: String,
        /// Why.
        reason: String,
    },
    /// The output is one of the part directories.
    #[error("--output {} is one of the part directories", .0.display())]
    OutputIsPart(PathBuf),
    /// Packing failed.
    #[error(transparent)]
    Ingest(#[from] IngestError),
}

impl From<settings::SettingsError> for MergeError {
    fn from(e: settings::SettingsError) -> Self {
        MergeError::Ingest(e.into())
    }
}

/// The recordings of `part`, balanced by file size (see the module docs), and
/// the listing failures if `part` is part 1.
pub fn select_part(part: PartSpec, mut discovered: Discovered) -> (Discovered, Selection) {
    let sizes: Vec<(u64, &str)> = discovered
        .recordings
        .iter()
        .map(|r| {
            let size = std::fs::metadata(&r.path).map(|m| m.len()).unwrap_or(0);
            (size, r.id.as_str())
        })
        .collect();
    let mut hasher = Xxh3::new();
    let mut by_id = sizes.clone();
    by_id.sort_by(|a, b| a.1.cmp(b.1));
    for (size, id) in &by_id {
        hasher.update(id.as_bytes());
        hasher.update(&[0]);
        hasher.update(&size.to_le_bytes());
    }
    for f in &discovered.failures {
        hasher.update(b"\xfffailure\0");
        hasher.update(f.file.as_bytes());
        hasher.update(&[0]);
        hasher.update(f.reason.as_bytes());
    }
    let input = InputView {
        recordings: sizes.len(),
        fingerprint: format!("{:016x}", hasher.digest()),
    };
    let mut order = sizes;
    order.sort_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(b.1)));
    let mut load = vec![0u64; part.count];
    let mut mine = std::collections::BTreeSet::new();
    for (size, id) in order {
        let lightest = (0..part.count)
            .min_by_key(|&k| (load[k], k))
            .expect("count >= 1");
        load[lightest] += size;
        if lightest + 1 == part.index {
            mine.insert(id.to_string());
        }
    }
    discovered.recordings.retain(|r| mine.contains(&r.id));
    if part.index != 1 {
        discovered.failures.clear();
    }
    let selection = Selection {
        input,
        assigned: mine.into_iter().collect(),
    };
    (discovered, selection)
}

/// For a part rerun: `Some(summary)` if `dir` already holds this part made
/// with these parameters; `None` to (re)do it. Another part or other
/// parameters are refused unless `overwrite` (then `part.json` is removed).
pub(crate) fn part_up_to_date(
    dir: &Path,
    part: PartSpec,
    hash: &str,
    overwrite: bool,
) -> Result<Option<RunSummary>, IngestError> {
    if dir.join(DatasetInfo::FILE_NAME).exists() {
        return Err(io_err(
            dir,
            "holds a dataset (dataset.json); give each part its own directory",
        ));
    }
    let path = dir.join(PART_FILE);
    if !path.exists() {
        return Ok(None);
    }
    match PartManifest::read(dir) {
        Ok(m) if m.params_hash == hash && m.part == part => {
            tracing::info!("{} already holds part {part}; nothing to do", dir.display());
            return Ok(Some(part_summary(dir, &m)));
        }
        Ok(m) if !overwrite => {
            return Err(io_err(
                dir,
                format!(
                    "holds part {} with params_hash {}, but this is part {part} with params_hash {hash}; \
                     choose another --output or pass --overwrite",
                    m.part, m.params_hash
                ),
            ))
        }
        _ => {}
    }
    std::fs::remove_file(&path).map_err(|e| io_err(&path, e))?;
    fsutil::sync_dir(dir).map_err(|e| io_err(dir, e))?;
    Ok(None)
}

/// The summary of a finished part (sample counts from its work part headers).
fn part_summary(dir: &Path, m: &PartManifest) -> RunSummary {
    let mut samples = BTreeMap::<String, u64>::new();
    for r in &m.recordings {
        if let Ok(h) = part::read_entry_at(&dir.join(&r.file), r.offset) {
            for s in h.samples {
                *samples
                    .entry(s.meta.split.as_str().to_string())
                    .or_default() += 1;
            }
        }
    }
    RunSummary {
        output: dir.to_path_buf(),
        up_to_date: true,
        samples: samples.into_iter().collect(),
        recordings_ok: m.recordings.len(),
        recordings_resumed: 0,
        failures: m.failures.clone(),
        events_decoded: 0,
        params_hash: m.params_hash.clone(),
    }
}

/// Writes `part.json` after phase 1 of a part (the work parts stay: they are the part's product).
pub(crate) fn finish_part(
    dir: &Path,
    part: PartSpec,
    selection: Selection,
    skeleton: DatasetInfo,
    config: &IngestConfig,
    parts: Vec<DonePart>,
    failures: Vec<RecordingFailure>,
) -> Result<RunSummary, IngestError> {
    let mut recordings: Vec<PartRecording> = parts
        .iter()
        .map(|p| PartRecording {
            id: p.header.recording.clone(),
            file: relative(dir, &p.path),
            offset: p.offset,
        })
        .collect();
    recordings.sort_by(|a, b| a.id.cmp(&b.id));
    let mut samples = BTreeMap::<String, u64>::new();
    for p in &parts {
        for s in &p.header.samples {
            *samples
                .entry(s.meta.split.as_str().to_string())
                .or_default() += 1;
        }
    }
    let manifest = PartManifest {
        format_version: PART_FORMAT_VERSION,
        part,
        params_hash: skeleton.params_hash.clone(),
        dataset: skeleton,
        config: config.clone(),
        input: selection.input,
        assigned: selection.assigned,
        recordings,
        failures,
    };
    let mut json = serde_json::to_vec_pretty(&manifest).map_err(|e| io_err(dir, e))?;
    json.push(b'\n');
    let path = dir.join(PART_FILE);
    fsutil::atomic_write(&path, &json).map_err(|e| io_err(&path, e))?;
    Ok(RunSummary {
        output: dir.to_path_buf(),
        up_to_date: false,
        samples: samples.into_iter().collect(),
        recordings_ok: manifest.recordings.len(),
        recordings_resumed: 0,
        failures: manifest.failures,
        events_decoded: 0,
        params_hash: manifest.params_hash,
    })
}

fn relative(dir: &Path, path: &Path) -> String {
    path.strip_prefix(dir)
        .unwrap_or(path)
        .components()
        .map(|c| c.as_os_str().to_string_lossy().into_owned())
        .collect::<Vec<_>>()
        .join("/")
}

/// The `merge` settings (library side).
#[derive(Clone, Debug)]
pub struct MergeConfig {
    /// The part directories, in any order.
    pub parts: Vec<PathBuf>,
    /// Output dataset directory.
    pub output: PathBuf,
    /// Worker threads (0 = all cores).
    pub jobs: usize,
    /// Replace a dataset with other parameters in `output`.
    pub overwrite: bool,
}

/// Merges finished parts into one dataset at `config.output`, byte-identical
/// to a single-process `run` of part 1's configuration with that output.
pub fn merge(config: &MergeConfig, show_progress: bool) -> Result<RunSummary, MergeError> {
    let manifests = read_parts(&config.parts)?;
    let out = &config.output;
    for dir in &config.parts {
        if same_dir(dir, out) {
            return Err(MergeError::OutputIsPart(out.clone()));
        }
    }
    let (first_dir, first) = &manifests[0];
    let hash = first.params_hash.clone();
    let run_config = IngestConfig {
        output: out.clone(),
        ..first.config.clone()
    };
    // A folder / table dataset's sensor came from its files: take the one the parts recorded.
    let sensor = crate::geometry::SensorSize::recorded_in(&first.dataset.params)
        .unwrap_or_else(|| run_config.fixed_sensor());
    let params = run_config.params_for(sensor);
    if params.hash() != hash {
        return Err(MergeError::NotAPart {
            dir: first_dir.clone(),
            reason: format!(
                "its configuration gives params_hash {} but {PART_FILE} records {hash} \
                 (made by another dvs-ingest version?)",
                params.hash()
            ),
        });
    }

    std::fs::create_dir_all(out).map_err(|e| io_err(out, e))?;
    if out.join(DatasetInfo::FILE_NAME).exists() {
        let existing = DatasetInfo::read(out).map_err(IngestError::from)?;
        if existing.params_hash == hash {
            tracing::info!("{} is already complete (params_hash {hash})", out.display());
            return Ok(RunSummary::already_complete(out, &existing, hash));
        }
        if !config.overwrite {
            return Err(IngestError::ParamsMismatch {
                dir: out.clone(),
                existing: existing.params_hash,
                new: hash,
            }
            .into());
        }
        let marker = out.join(DatasetInfo::FILE_NAME);
        std::fs::remove_file(&marker).map_err(|e| io_err(&marker, e))?;
        fsutil::sync_dir(out).map_err(|e| io_err(out, e))?;
    }
    // An interrupted merge left at most finished shards, a manifest and reports: clear them.
    clean_output(out, &out.join(WORK_DIR), &hash)?;
    settings::save_effective(&out.join(CONFIG_FILE), &run_config)?;

    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(config.jobs)
        .build()
        .map_err(|e| io_err(out, e))?;
    let (done, failures) = pool.install(|| load_work_parts(&manifests, &hash))?;
    let packed = Packed {
        recordings_ok: done.len(),
        parts: done,
        failures,
    };
    let skeleton = first.dataset.clone();
    let summary =
        pool.install(|| pack_dataset(&run_config, &params, skeleton, packed, None, show_progress))?;
    Ok(summary)
}

fn same_dir(a: &Path, b: &Path) -> bool {
    match (a.canonicalize(), b.canonicalize()) {
        (Ok(a), Ok(b)) => a == b,
        _ => a == b,
    }
}

/// Reads and cross-checks every `part.json`; returns them sorted by part number.
fn read_parts(dirs: &[PathBuf]) -> Result<Vec<(PathBuf, PartManifest)>, MergeError> {
    if dirs.is_empty() {
        return Err(MergeError::NoParts);
    }
    let mut parts = Vec::with_capacity(dirs.len());
    for dir in dirs {
        parts.push((dir.clone(), PartManifest::read(dir)?));
    }
    parts.sort_by_key(|(_, m)| m.part.index);
    let (a, first) = &parts[0];
    for (b, m) in &parts[1..] {
        let mismatch = |what, first: String, second: String| MergeError::Mismatch {
            a: a.clone(),
            b: b.clone(),
            what,
            first,
            second,
        };
        if m.part.count != first.part.count {
            return Err(mismatch(
                "part count",
                first.part.count.to_string(),
                m.part.count.to_string(),
            ));
        }
        if m.params_hash != first.params_hash {
            return Err(mismatch(
                "params_hash",
                first.params_hash.clone(),
                m.params_hash.clone(),
            ));
        }
        if m.dataset != first.dataset {
            return Err(mismatch(
                "dataset description",
                serde_json::to_string(&first.dataset).unwrap_or_default(),
                serde_json::to_string(&m.dataset).unwrap_or_default(),
            ));
        }
        if m.input != first.input {
            return Err(mismatch(
                "view of the input (recordings listed, fingerprint of ids and sizes)",
                format!("{} {}", first.input.recordings, first.input.fingerprint),
                format!("{} {}", m.input.recordings, m.input.fingerprint),
            ));
        }
    }
    for w in parts.windows(2) {
        if w[0].1.part.index == w[1].1.part.index {
            return Err(MergeError::DuplicatePart {
                part: w[0].1.part,
                a: w[0].0.clone(),
                b: w[1].0.clone(),
            });
        }
    }
    let count = first.part.count;
    let present: std::collections::BTreeSet<usize> =
        parts.iter().map(|(_, m)| m.part.index).collect();
    let missing: Vec<String> = (1..=count)
        .filter(|i| !present.contains(i))
        .map(|i| i.to_string())
        .collect();
    if !missing.is_empty() {
        return Err(MergeError::MissingParts {
            missing: missing.join(", "),
            count,
        });
    }
    let mut owner: BTreeMap<&str, &Path> = BTreeMap::new();
    for (dir, m) in &parts {
        for id in &m.assigned {
            if let Some(other) = owner.insert(id, dir) {
                return Err(MergeError::Overlap {
                    id: id.clone(),
                    a: other.to_path_buf(),
                    b: dir.clone(),
                });
            }
        }
    }
    if owner.len() != first.input.recordings {
        return Err(MergeError::Incomplete {
            held: owner.len(),
            listed: first.input.recordings,
        });
    }
    Ok(parts)
}

/// Every part's work parts, validated, and every part's failures, sorted.
fn load_work_parts(
    parts: &[(PathBuf, PartManifest)],
    hash: &str,
) -> Result<(Vec<DonePart>, Vec<RecordingFailure>), MergeError> {
    let jobs: Vec<(&Path, &PartRecording)> = parts
        .iter()
        .flat_map(|(dir, m)| m.recordings.iter().map(move |r| (dir.as_path(), r)))
        .collect();
    let done = jobs
        .par_iter()
        .map(|(dir, r)| {
            let bad = |reason: String| MergeError::BadWorkPart {
                dir: dir.to_path_buf(),
                id: r.id.clone(),
                reason,
            };
            let path = dir.join(&r.file);
            let header = part::read_entry_at(&path, r.offset).map_err(|e| bad(e.reason))?;
            if header.params_hash != hash || header.recording != r.id {
                return Err(bad(format!(
                    "it holds recording {} with params_hash {}",
                    header.recording, header.params_hash
                )));
            }
            let encoded = header.samples.iter().map(|_| None).collect();
            Ok(DonePart {
                path,
                offset: r.offset,
                header,
                encoded,
            })
        })
        .collect::<Result<Vec<_>, MergeError>>()?;
    let mut failures: Vec<RecordingFailure> = parts
        .iter()
        .flat_map(|(_, m)| m.failures.iter().cloned())
        .collect();
    failures.sort();
    Ok((done, failures))
}
