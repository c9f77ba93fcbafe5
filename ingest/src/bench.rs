//! `dvs-ingest bench`: how long an input folder takes to read raw, to decode
//! (every recording with `dvs_decode`) and to ingest completely (`run` into a
//! scratch output), each the best of `repeat` runs on the same thread pool.
//!
//! A recording that does not decode is excluded from the read and decode
//! timings and reported (it would otherwise be timed as a zero-event file);
//! the full ingest meets it as `run` does, as a failed recording.

use std::path::{Path, PathBuf};
use std::time::Instant;

use dvs_decode::{DecodeError, Format};
use rayon::prelude::*;

use crate::config::IngestConfig;
use crate::layout::{discover_with, RecordingPlan};
use crate::pipeline::IngestError;

/// What [`measure`] found.
#[derive(Debug, Clone)]
pub struct BenchReport {
    /// Recordings timed (those that decode).
    pub recordings: usize,
    /// Bytes of the timed recordings.
    pub bytes: u64,
    /// Events the timed recordings hold.
    pub events: u64,
    /// Worker threads used.
    pub jobs: usize,
    /// Best time to read the timed recordings' bytes (s).
    pub read_s: f64,
    /// Best time to decode them (s).
    pub decode_s: f64,
    /// Best time of a complete `run` over the whole input (s).
    pub ingest_s: f64,
    /// Recordings that did not decode, left out of the read and decode timings.
    pub failed: Vec<DecodeError>,
}

/// A bench failure.
#[derive(Debug, thiserror::Error)]
pub enum BenchError {
    /// Listing or reading the input failed.
    #[error("{}: {reason}", path.display())]
    Io {
        /// The path concerned.
        path: PathBuf,
        /// Why.
        reason: String,
    },
    /// A recording that decoded in the first pass failed in a timed one.
    #[error(transparent)]
    Decode(#[from] DecodeError),
    /// The full ingest failed.
    #[error(transparent)]
    Ingest(#[from] IngestError),
}

fn io_err(path: &Path, e: impl std::fmt::Display) -> BenchError {
    BenchError::Io {
        path: path.to_path_buf(),
        reason: e.to_string(),
    }
}

/// Events in one recording (all samples of an HDF5 file).
fn decode_count(
    path: &Path,
    format: Format,
    hdf5: bool,
    config: &IngestConfig,
) -> Result<u64, DecodeError> {
    if hdf5 {
        dvs_decode::read_hdf5_samples(path).map(|v| v.iter().map(|s| s.events.len() as u64).sum())
    } else {
        dvs_decode::read_all(path, format, &config.decode_options()).map(|e| e.len() as u64)
    }
}

/// Times reading, decoding and ingesting `config.input`; the ingest writes into a scratch
/// folder inside `config.output`, removed after each repetition.
pub fn measure(config: &IngestConfig, repeat: usize) -> Result<BenchReport, BenchError> {
    let found = discover_with(config.dataset, &config.input, config.split_rule())
        .map_err(|e| io_err(&config.input, e))?;
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(config.jobs)
        .build()
        .map_err(|e| io_err(&config.output, e))?;
    let all: Vec<(PathBuf, Format, bool)> = found
        .recordings
        .iter()
        .map(|r| {
            (
                r.path.clone(),
                r.format,
                matches!(r.plan, RecordingPlan::Hdf5File),
            )
        })
        .collect();
    // First pass (also the warm-up): which recordings decode, and their events.
    let checked: Vec<Result<u64, DecodeError>> = pool.install(|| {
        all.par_iter()
            .map(|(p, format, hdf5)| decode_count(p, *format, *hdf5, config))
            .collect()
    });
    let mut files = Vec::new();
    let mut failed = Vec::new();
    let mut events = 0;
    for (file, result) in all.into_iter().zip(checked) {
        match result {
            Ok(n) => {
                events += n;
                files.push(file);
            }
            Err(e) => failed.push(e),
        }
    }
    let mut bytes = 0;
    for (p, _, _) in &files {
        bytes += std::fs::metadata(p).map_err(|e| io_err(p, e))?.len();
    }
    let best = |f: &dyn Fn() -> Result<(), BenchError>| -> Result<f64, BenchError> {
        let mut best = f64::INFINITY;
        for _ in 0..repeat.max(1) {
            let t = Instant::now();
            f()?;
            best = best.min(t.elapsed().as_secs_f64());
        }
        Ok(best)
    };
    let read_s = best(&|| {
        pool.install(|| {
            files
                .par_iter()
                .try_for_each(|(p, _, _)| std::fs::read(p).map(drop).map_err(|e| io_err(p, e)))
        })
    })?;
    let decode_s = best(&|| {
        pool.install(|| {
            files.par_iter().try_for_each(|(p, format, hdf5)| {
                decode_count(p, *format, *hdf5, config)
                    .map(drop)
                    .map_err(BenchError::from)
            })
        })
    })?;
    let ingest_s = best(&|| {
        let out = config
            .output
            .join(format!("bench-run-{}", std::process::id()));
        if out.exists() {
            std::fs::remove_dir_all(&out).map_err(|e| io_err(&out, e))?;
        }
        let run_config = IngestConfig {
            output: out.clone(),
            ..config.clone()
        };
        crate::pipeline::run(&run_config, false)?;
        std::fs::remove_dir_all(&out).map_err(|e| io_err(&out, e))
    })?;
    Ok(BenchReport {
        recordings: files.len(),
        bytes,
        events,
        jobs: pool.current_num_threads(),
        read_s,
        decode_s,
        ingest_s,
        failed,
    })
}
