//! The `run` pipeline: discover → (phase 1, parallel) decode, cut, integrate
//! and resize each recording into an atomic work part → (phase 2) pack every
//! sample in a fixed order (split, then sample id) into shards with the
//! `dvs-frames` writer → `manifest.parquet`, `errors.json`,
//! `ingest-config.toml`, and last `dataset.json`, whose presence marks a
//! complete dataset.
//!
//! Atomic and resumable: every file appears under its final name only when
//! complete (temp + fsync + rename). Phase 1 parts live in
//! `<out>/.work/<params_hash>/` and are reused by a rerun when valid. Phase 1
//! zstd-encodes the shard record of every sample it computes, writes those
//! records into the recording's part, and keeps them in memory (up to
//! [`ENCODED_CACHE_BYTES`]), so phase 2 only appends; records beyond the budget,
//! and those of reused parts, are read back from their part (checksums
//! verified), never re-encoded. So an interrupted run (kill -9 anywhere)
//! finishes on rerun with output byte-identical to an uninterrupted run. A
//! directory holding a dataset made with other parameters is refused unless
//! `overwrite` is set; it is never silently reused.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use dvs_frames::{fsutil, settings};
use dvs_frames::{DatasetInfo, Dtype, EncodedRecord, SampleRecord, ShardSetWriter, SplitInfo};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use rayon::prelude::*;

use crate::config::{IngestConfig, IngestParams};
use crate::layout::{Recording, Split};
use crate::manifest::{self, ManifestRow};
use crate::merge::{self, PartSpec};
use crate::part::{self, PartHeader, PartSample, SourceFingerprint};
use crate::report::{ErrorsReport, RecordingFailure};
use crate::sample::{process_recording, FrameBuf, SampleMeta};

/// Name of the effective-config file in the output.
pub const CONFIG_FILE: &str = "ingest-config.toml";
/// Work directory (phase 1 parts) inside the output.
pub const WORK_DIR: &str = ".work";
/// Most compressed shard-record bytes phase 1 keeps in memory for phase 2
/// (full CIFAR10-DVS at T = 10 needs ≈ 0.3 GB); the rest is re-read from parts.
pub const ENCODED_CACHE_BYTES: u64 = 1 << 30;

/// A run-level failure (per-recording failures go to `errors.json` instead).
#[derive(Debug, thiserror::Error)]
pub enum IngestError {
    /// Filesystem problem outside any one recording.
    #[error("{}: {reason}", path.display())]
    Io {
        /// Path involved.
        path: PathBuf,
        /// Why.
        reason: String,
    },
    /// The output holds a dataset made with other parameters.
    #[error(
        "{} already holds a dataset with params_hash {existing}, but these settings give {new}; \
         choose another --output or pass --overwrite to replace it",
        dir.display()
    )]
    ParamsMismatch {
        /// Output directory.
        dir: PathBuf,
        /// Hash found in its dataset.json.
        existing: String,
        /// Hash of the requested parameters.
        new: String,
    },
    /// Two samples got the same id.
    #[error("duplicate sample id {0}")]
    DuplicateSample(String),
    /// Shard writing or dataset.json failed.
    #[error(transparent)]
    Frames(#[from] dvs_frames::FrameError),
    /// The effective configuration could not be saved.
    #[error(transparent)]
    Settings(#[from] settings::SettingsError),
}

pub(crate) fn io_err(path: &Path, e: impl std::fmt::Display) -> IngestError {
    IngestError::Io {
        path: path.to_path_buf(),
        reason: e.to_string(),
    }
}

/// What a run did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunSummary {
    /// The output directory.
    pub output: PathBuf,
    /// True if the output was already complete with these parameters (nothing done).
    pub up_to_date: bool,
    /// Samples per split.
    pub samples: Vec<(String, u64)>,
    /// Recordings ingested.
    pub recordings_ok: usize,
    /// Recordings reused from an interrupted run's parts.
    pub recordings_resumed: usize,
    /// Recordings that failed (details in `errors.json`).
    pub failures: Vec<RecordingFailure>,
    /// Events decoded in this run (0 for reused parts).
    pub events_decoded: u64,
    /// params_hash of the dataset.
    pub params_hash: String,
}

impl RunSummary {
    /// The summary of a run that finds `out` already complete with `hash` (nothing done):
    /// the dataset's sample counts and the recorded `errors.json`.
    pub(crate) fn already_complete(out: &Path, existing: &DatasetInfo, hash: String) -> Self {
        let report = ErrorsReport::read(out).unwrap_or_default();
        RunSummary {
            output: out.to_path_buf(),
            up_to_date: true,
            samples: existing
                .splits
                .iter()
                .map(|(k, v)| (k.clone(), v.samples))
                .collect(),
            recordings_ok: report.recordings_ok,
            recordings_resumed: 0,
            failures: report.failures,
            events_decoded: 0,
            params_hash: hash,
        }
    }
}

/// Runs the ingest described by `config`. `show_progress` draws an indicatif bar
/// on stderr (hidden anyway when stderr is not a terminal).
pub fn run(config: &IngestConfig, show_progress: bool) -> Result<RunSummary, IngestError> {
    run_recordings(config, None, show_progress)
}

/// Runs phase 1 of one part of a many-machine ingest (`--part i/N`, [`crate::merge`]):
/// its share of the recordings into work parts under `config.output`, then `part.json`.
pub fn run_part(
    config: &IngestConfig,
    part: PartSpec,
    show_progress: bool,
) -> Result<RunSummary, IngestError> {
    run_recordings(config, Some(part), show_progress)
}

fn run_recordings(
    config: &IngestConfig,
    part: Option<PartSpec>,
    show_progress: bool,
) -> Result<RunSummary, IngestError> {
    let (params, discovered) =
        crate::geometry::plan(config).map_err(|e| io_err(&config.input, e))?;
    let classes = discovered.classes.clone();
    let hash = params.hash();
    let out = &config.output;
    std::fs::create_dir_all(out).map_err(|e| io_err(out, e))?;
    if let Some(part) = part {
        if let Some(done) = merge::part_up_to_date(out, part, &hash, config.overwrite)? {
            return Ok(done);
        }
    }

    if out.join(DatasetInfo::FILE_NAME).exists() {
        let existing = DatasetInfo::read(out)?;
        if existing.params_hash == hash {
            tracing::info!(
                "{} is already complete (params_hash {hash}); nothing to do",
                out.display()
            );
            return Ok(RunSummary::already_complete(out, &existing, hash));
        }
        if !config.overwrite {
            return Err(IngestError::ParamsMismatch {
                dir: out.clone(),
                existing: existing.params_hash,
                new: hash,
            });
        }
        tracing::warn!(
            "replacing the dataset in {} (params_hash {} -> {hash})",
            out.display(),
            existing.params_hash
        );
        let marker = out.join(DatasetInfo::FILE_NAME);
        std::fs::remove_file(&marker).map_err(|e| io_err(&marker, e))?;
        fsutil::sync_dir(out).map_err(|e| io_err(out, e))?;
    }

    // From here on the directory holds no complete dataset: clear what an
    // interrupted or replaced run left behind (never the current parts).
    let work_root = out.join(WORK_DIR);
    let work = work_root.join(&hash);
    clean_output(out, &work_root, &hash)?;
    std::fs::create_dir_all(&work).map_err(|e| io_err(&work, e))?;
    fsutil::remove_stray_temps(&work);
    settings::save_effective(&out.join(CONFIG_FILE), config)?;

    let (discovered, selection) = match part {
        Some(part) => {
            let (mine, selection) = merge::select_part(part, discovered);
            (mine, Some(selection))
        }
        None => (discovered, None),
    };
    let mut failures = discovered.failures;

    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(config.jobs)
        .build()
        .map_err(|e| io_err(out, e))?;

    // Phase 1: one part per recording.
    let started = Instant::now();
    let phase1 = pool.install(|| {
        phase1(
            config,
            &params,
            &hash,
            &work,
            &discovered.recordings,
            &classes,
            show_progress,
        )
    });
    tracing::debug!(
        seconds = started.elapsed().as_secs_f64(),
        "phase 1 (decode, cut, integrate, encode, parts)"
    );
    failures.extend(phase1.failures);
    failures.sort();

    let recordings_ok = phase1.parts.len();
    let (recordings_resumed, events_decoded) = (phase1.resumed, phase1.events_decoded);
    let (height, width) = params.output_hw();
    // dataset.json less what the samples decide (splits; dtype when there are samples).
    let skeleton = DatasetInfo {
        format_version: DatasetInfo::FORMAT_VERSION,
        kind: config.dataset.as_str().to_string(),
        classes: classes.clone(),
        frames: params.frames,
        height,
        width,
        dtype: if params.resize.is_some() {
            Dtype::F32
        } else {
            Dtype::U8
        },
        params: params.to_json(),
        params_hash: hash.clone(),
        splits: Default::default(),
    };
    if let (Some(part), Some(selection)) = (part, selection) {
        let mut summary = merge::finish_part(
            out,
            part,
            selection,
            skeleton,
            config,
            phase1.parts,
            failures,
        )?;
        summary.recordings_resumed = recordings_resumed;
        summary.events_decoded = events_decoded;
        return Ok(summary);
    }

    // Phase 2: pack.
    let packed = Packed {
        parts: phase1.parts,
        failures,
        recordings_ok,
    };
    let summary = pool.install(|| {
        pack_dataset(
            config,
            &params,
            skeleton,
            packed,
            Some(&work_root),
            show_progress,
        )
    })?;
    Ok(RunSummary {
        recordings_resumed,
        events_decoded,
        ..summary
    })
}

/// What phase 2 packs: every finished work part, and the failures to report.
pub(crate) struct Packed {
    /// One per ingested recording.
    pub(crate) parts: Vec<DonePart>,
    /// Every recording that failed (discovery and phase 1), sorted.
    pub(crate) failures: Vec<RecordingFailure>,
    /// Recordings ingested.
    pub(crate) recordings_ok: usize,
}

/// Phase 2 and the dataset files: shards (in the fixed order), `manifest.parquet`,
/// `errors.json`, then (after removing `work_root`, when given) `dataset.json`, which is
/// `skeleton` with the splits and the widest stored dtype of the samples. Shared by `run`
/// and `merge`, so both write the same bytes from the same parts.
pub(crate) fn pack_dataset(
    config: &IngestConfig,
    params: &IngestParams,
    skeleton: DatasetInfo,
    packed: Packed,
    work_root: Option<&Path>,
    show_progress: bool,
) -> Result<RunSummary, IngestError> {
    let out = &config.output;
    let Packed {
        parts,
        failures,
        recordings_ok,
    } = packed;
    let started = Instant::now();
    let rows = phase2(config, params, out, parts, show_progress)?;
    tracing::debug!(
        seconds = started.elapsed().as_secs_f64(),
        "phase 2 (append to shards)"
    );
    let started = Instant::now();

    let mut splits = std::collections::BTreeMap::new();
    let mut dtype: Option<Dtype> = None;
    for row in &rows {
        let entry = splits
            .entry(row.meta.split.as_str().to_string())
            .or_insert_with(|| SplitInfo {
                shards: Vec::new(),
                samples: 0,
            });
        entry.samples += 1;
        if entry.shards.last() != Some(&row.shard) {
            entry.shards.push(row.shard.clone());
        }
        let d = dtype_from_name(&row.dtype);
        dtype = Some(dtype.map_or(d, |w| w.widest(d)));
    }
    manifest::write(out, &rows).map_err(|e| io_err(&out.join(manifest::FILE_NAME), e))?;
    let report = ErrorsReport {
        recordings_ok,
        recordings_failed: failures.len(),
        failures: failures.clone(),
    };
    report
        .write(out)
        .map_err(|e| io_err(&out.join(ErrorsReport::FILE_NAME), e))?;
    let info = DatasetInfo {
        dtype: dtype.unwrap_or(skeleton.dtype),
        splits: splits.clone(),
        ..skeleton
    };
    // Everything else is in place; drop the parts, then mark completion last
    // (a kill before this line leaves an incomplete dataset that a rerun redoes).
    if let Some(work_root) = work_root {
        let _ = std::fs::remove_dir_all(work_root.join(&info.params_hash));
        let _ = std::fs::remove_dir(work_root);
    }
    fsutil::sync_dir(out).map_err(|e| io_err(out, e))?;
    info.write_atomic(out)?;
    tracing::debug!(
        seconds = started.elapsed().as_secs_f64(),
        "manifest, reports, dataset.json"
    );

    Ok(RunSummary {
        output: out.clone(),
        up_to_date: false,
        samples: splits.into_iter().map(|(k, v)| (k, v.samples)).collect(),
        recordings_ok,
        recordings_resumed: 0,
        failures,
        events_decoded: 0,
        params_hash: info.params_hash,
    })
}

fn dtype_from_name(name: &str) -> Dtype {
    match name {
        "u8" => Dtype::U8,
        "u16" => Dtype::U16,
        "u32" => Dtype::U32,
        _ => Dtype::F32,
    }
}

/// Removes shards, manifest and reports of an incomplete or replaced dataset,
/// stray temporary files, and parts made with other parameters.
pub(crate) fn clean_output(out: &Path, work_root: &Path, hash: &str) -> Result<(), IngestError> {
    fsutil::remove_stray_temps(out);
    for split in [Split::Train, Split::Test] {
        let dir = out.join(split.as_str());
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for entry in entries.filter_map(|e| e.ok()) {
            let name = entry.file_name().to_string_lossy().into_owned();
            let is_shard = name.starts_with("shard-") && name.ends_with(".dvsf");
            let is_temp = fsutil::is_temp_name(&name);
            if is_shard || is_temp {
                std::fs::remove_file(entry.path()).map_err(|e| io_err(&entry.path(), e))?;
            }
        }
    }
    for name in [manifest::FILE_NAME, ErrorsReport::FILE_NAME] {
        let _ = std::fs::remove_file(out.join(name));
    }
    if let Ok(entries) = std::fs::read_dir(work_root) {
        for entry in entries.filter_map(|e| e.ok()) {
            if entry.file_name().to_string_lossy() != hash {
                let _ = std::fs::remove_dir_all(entry.path());
            }
        }
    }
    Ok(())
}

/// A finished phase-1 part: its journal and the entry's offset there, its (validated) header,
/// and the encoded shard record of each of its samples that phase 1 kept in memory (aligned
/// with `header.samples`; `None` = re-read from the journal).
pub(crate) struct DonePart {
    pub(crate) path: PathBuf,
    pub(crate) offset: u64,
    pub(crate) header: PartHeader,
    pub(crate) encoded: Vec<Option<EncodedRecord>>,
}

struct Phase1 {
    /// One per recording, sorted by recording id.
    parts: Vec<DonePart>,
    failures: Vec<RecordingFailure>,
    resumed: usize,
    events_decoded: u64,
}

fn progress_bar(len: u64, show: bool, unit: &str) -> ProgressBar {
    let target = if show {
        ProgressDrawTarget::stderr()
    } else {
        ProgressDrawTarget::hidden()
    };
    let bar = ProgressBar::with_draw_target(Some(len), target);
    bar.set_style(
        ProgressStyle::with_template(&format!(
            "{{prefix}} [{{bar:30}}] {{pos}}/{{len}} {unit} {{msg}} ({{elapsed}}, eta {{eta}})"
        ))
        .unwrap_or_else(|_| ProgressStyle::default_bar())
        .progress_chars("=> "),
    );
    bar
}

fn phase1(
    config: &IngestConfig,
    params: &IngestParams,
    hash: &str,
    work: &Path,
    recordings: &[Recording],
    classes: &[String],
    show_progress: bool,
) -> Phase1 {
    let options = config.decode_options();
    let bar = progress_bar(recordings.len() as u64, show_progress, "recordings");
    bar.set_prefix("integrate");
    let events = AtomicU64::new(0);
    let cached_bytes = AtomicU64::new(0);
    let started = Instant::now();
    let (height, width) = params.output_hw();
    let shape = [params.frames, 2, height, width];
    enum Outcome {
        Done(DonePart, bool),
        Failed(RecordingFailure),
    }
    // What earlier, interrupted runs finished, and where this run's entries go.
    let finished = part::scan_journals(work);
    let journals = part::Journals::new(work, rayon::current_num_threads());
    let outcomes: Vec<(String, Outcome)> = recordings
        .par_iter()
        .map_init(
            // One zstd context and scratch buffer per worker thread (None if
            // the context cannot be made: phase 2 then encodes everything).
            || {
                (
                    zstd::bulk::Compressor::new(config.zstd_level).ok(),
                    Vec::new(),
                )
            },
            |(compressor, scratch), rec| {
                let outcome = (|| {
                    let source = SourceFingerprint::of(&rec.path)
                        .map_err(|e| RecordingFailure::new(&rec.id, None, e.to_string()))?;
                    let earlier = finished.get(&rec.id).and_then(|candidates| {
                        candidates.iter().find(|(_, _, h)| {
                            h.params_hash == hash && h.recording == rec.id && h.source == source
                        })
                    });
                    if let Some((path, offset, header)) = earlier {
                        let encoded = header.samples.iter().map(|_| None).collect();
                        return Ok(Outcome::Done(
                            DonePart {
                                path: path.clone(),
                                offset: *offset,
                                header: header.clone(),
                                encoded,
                            },
                            true,
                        ));
                    }
                    let done = process_recording(rec, config.dataset, classes, params, &options)?;
                    events.fetch_add(done.events_decoded, Ordering::Relaxed);
                    // Encode the shard records now, in parallel over recordings, while the
                    // frames are in memory; the part stores them as they are.
                    let records = done
                        .samples
                        .iter()
                        .map(|(meta, frames)| {
                            let record = encode_record(
                                meta,
                                frames,
                                shape,
                                compressor.as_mut(),
                                scratch,
                                config.zstd_level,
                            )
                            .map_err(|e| {
                                RecordingFailure::new(
                                    &rec.id,
                                    None,
                                    format!("encoding sample {}: {e}", meta.sample_id),
                                )
                            })?;
                            Ok((meta.clone(), shape, record))
                        })
                        .collect::<Result<Vec<_>, RecordingFailure>>()?;
                    drop(done.samples);
                    let (path, offset, header) = journals
                        .append(
                            rayon::current_thread_index().unwrap_or(0),
                            hash,
                            &rec.id,
                            source,
                            done.events_decoded,
                            &records,
                        )
                        .map_err(|e| {
                            RecordingFailure::new(&rec.id, None, format!("writing work part: {e}"))
                        })?;
                    // Keep the records for phase 2 up to the memory budget; the rest are
                    // read back from the part.
                    let encoded = records
                        .into_iter()
                        .map(|(_, _, record)| {
                            let size = record.stored_len();
                            (cached_bytes.fetch_add(size, Ordering::Relaxed) + size
                                <= ENCODED_CACHE_BYTES)
                                .then_some(record)
                        })
                        .collect();
                    Ok(Outcome::Done(
                        DonePart {
                            path,
                            offset,
                            header,
                            encoded,
                        },
                        false,
                    ))
                })()
                .unwrap_or_else(Outcome::Failed);
                bar.inc(1);
                let secs = started.elapsed().as_secs_f64().max(1e-9);
                bar.set_message(format!(
                    "{:.1} M events/s",
                    events.load(Ordering::Relaxed) as f64 / secs / 1e6
                ));
                (rec.id.clone(), outcome)
            },
        )
        .collect();
    bar.finish_and_clear();
    let mut result = Phase1 {
        parts: Vec::new(),
        failures: Vec::new(),
        resumed: 0,
        events_decoded: events.load(Ordering::Relaxed),
    };
    for (_, outcome) in outcomes {
        match outcome {
            Outcome::Done(part, resumed) => {
                result.resumed += usize::from(resumed);
                result.parts.push(part);
            }
            Outcome::Failed(f) => {
                tracing::warn!("{}: offset {:?}: {}", f.file, f.offset, f.reason);
                result.failures.push(f);
            }
        }
    }
    result
}

/// Encodes one sample's shard record with a worker's reused zstd context and scratch buffer;
/// without a context (it could not be made), with a fresh one that reports why it fails.
fn encode_record(
    meta: &SampleMeta,
    frames: &FrameBuf,
    shape: [usize; 4],
    compressor: Option<&mut zstd::bulk::Compressor<'static>>,
    scratch: &mut Vec<u8>,
    zstd_level: i32,
) -> dvs_frames::Result<EncodedRecord> {
    let record = SampleRecord {
        key: &meta.sample_id,
        label: meta.label,
        shape,
        frames: frames.as_frame_data(),
    };
    match compressor {
        Some(c) => EncodedRecord::encode_with(&record, c, scratch),
        None => EncodedRecord::encode(&record, zstd_level),
    }
}

fn phase2(
    config: &IngestConfig,
    params: &IngestParams,
    out: &Path,
    parts: Vec<DonePart>,
    show_progress: bool,
) -> Result<Vec<ManifestRow>, IngestError> {
    // Index every sample of every part, then order by (split, sample id).
    type Entry = (PartSample, (PathBuf, u64), Option<EncodedRecord>);
    let mut index: Vec<Entry> = Vec::new();
    for part in parts {
        let at = (part.path, part.offset);
        index.extend(
            part.header
                .samples
                .into_iter()
                .zip(part.encoded)
                .map(|(s, e)| (s, at.clone(), e)),
        );
    }
    index.sort_by(|a, b| {
        (a.0.meta.split, &a.0.meta.sample_id).cmp(&(b.0.meta.split, &b.0.meta.sample_id))
    });
    if let Some(w) = index
        .windows(2)
        .find(|w| w[0].0.meta.sample_id == w[1].0.meta.sample_id)
    {
        return Err(IngestError::DuplicateSample(w[0].0.meta.sample_id.clone()));
    }
    let (height, width) = params.output_hw();
    let shape = [params.frames, 2, height, width];
    let bar = progress_bar(index.len() as u64, show_progress, "samples");
    bar.set_prefix("pack");
    let mut rows = Vec::with_capacity(index.len());
    let target = config.shard_mb.saturating_mul(1 << 20);
    let chunk = (rayon::current_num_threads() * 8).max(8);
    for split in [Split::Train, Split::Test] {
        let mut samples: Vec<&mut Entry> = index
            .iter_mut()
            .filter(|s| s.0.meta.split == split)
            .collect();
        if samples.is_empty() {
            continue;
        }
        let mut writer = ShardSetWriter::create(
            &out.join(split.as_str()),
            "shard",
            target,
            config.zstd_level,
        )?;
        for batch in samples.chunks_mut(chunk) {
            // Records not kept in memory are read back from their part (checksums verified).
            let encoded: Vec<Result<EncodedRecord, IngestError>> = batch
                .par_iter_mut()
                .map(|(sample, (path, offset), cached)| match cached.take() {
                    Some(record) => Ok(record),
                    None => {
                        part::read_part_sample(path, *offset, sample).map_err(|e| io_err(path, e))
                    }
                })
                .collect();
            for ((sample, _, _), record) in batch.iter().zip(encoded) {
                let location = writer.append_encoded(record?)?;
                rows.push(ManifestRow {
                    meta: sample.meta.clone(),
                    shape,
                    dtype: location.dtype.name().to_string(),
                    shard: format!("{}/{}", split.as_str(), location.shard),
                    record: location.index as u32,
                    checksum: location.checksum,
                });
                bar.inc(1);
            }
        }
        writer.finish()?;
    }
    bar.finish_and_clear();
    Ok(rows)
}
