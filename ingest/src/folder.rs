//! The `folder` layout: one subfolder per class holding recordings of any format dvs-decode
//! detects (detected per file, any mix), or `train/` and `test/` above the class folders.
//! Class names are the folder names, sorted (label = position). Without `train/` + `test/`,
//! each class is split by [`seeded_split`] (stated `test_ratio`, `split_seed`).
//!
//! A file in a class folder whose format is not recognised is a failure of that file when its
//! extension is one a recording has (`.aedat`, `.aedat4`, `.raw`, `.dat`, `.bin`, `.npy`,
//! `.h5`, `.hdf5`), and skipped with a warning otherwise (notes, label files); hidden files
//! are skipped. An HDF5 file is a recording when it holds one event stream (`events/{x,y,t,p}`,
//! DSEC / tonic's cache), decoded whole like any other file; one of DECOLLE's pre-cut samples
//! fails alone, pointing to `--dataset hdf5`. Sample names are the path inside the class folder without the extension
//! (`/` → `_`); two files giving one name are a failure of the second.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use dvs_decode::Format;

use crate::layout::{relative_id, seeded_split, Discovered, Recording, RecordingPlan};
use crate::layout::{Split, SplitRule};
use crate::report::RecordingFailure;

/// Extensions that mark a file as meant to be a recording.
pub const RECORDING_EXTENSIONS: [&str; 8] =
    ["aedat", "aedat4", "raw", "dat", "bin", "npy", "h5", "hdf5"];

fn io_context(path: &Path, e: std::io::Error) -> std::io::Error {
    std::io::Error::new(e.kind(), format!("{}: {e}", path.display()))
}

fn subdirs(dir: &Path) -> std::io::Result<Vec<PathBuf>> {
    let mut dirs: Vec<PathBuf> = std::fs::read_dir(dir)
        .map_err(|e| io_context(dir, e))?
        .filter_map(|e| e.ok())
        .map(|e| e.path())
        .filter(|p| p.is_dir() && !is_hidden(p))
        .collect();
    dirs.sort();
    Ok(dirs)
}

fn is_hidden(path: &Path) -> bool {
    path.file_name()
        .is_some_and(|n| n.to_string_lossy().starts_with('.'))
}

/// Every non-hidden file under `dir` (recursively), sorted by path.
fn files_under(dir: &Path) -> std::io::Result<Vec<PathBuf>> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).map_err(|e| io_context(&d, e))? {
            let path = entry.map_err(|e| io_context(&d, e))?.path();
            if is_hidden(&path) {
                continue;
            }
            if path.is_dir() {
                stack.push(path);
            } else {
                out.push(path);
            }
        }
    }
    out.sort();
    Ok(out)
}

fn folder_name(path: &Path) -> String {
    path.file_name()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default()
}

/// The sample name of `file` inside its class folder `class_dir`.
pub fn sample_name(class_dir: &Path, file: &Path) -> String {
    let rel = file.strip_prefix(class_dir).unwrap_or(file);
    let stem = rel.with_extension("");
    stem.components()
        .map(|c| c.as_os_str().to_string_lossy().into_owned())
        .collect::<Vec<_>>()
        .join("_")
}

/// A recording's format, or why it is not one (`Ok(None)`: not meant as a recording). An
/// HDF5 file is one recording only as an event stream (`events/{x,y,t,p}` or top-level
/// `x, y, t, p`, decoded whole); DECOLLE's pre-cut samples are the `hdf5` dataset kind.
pub(crate) fn detect(path: &Path) -> Result<Option<Format>, String> {
    match Format::detect_file(path) {
        Ok(Format::Hdf5) if !dvs_decode::hdf5_events::is_events_file(path) => Err(
            "HDF5 without an event stream (no events/{x,y,t,p} or top-level x, y, t, p \
             datasets); a file of pre-cut samples (DECOLLE layout) is ingested with \
             --dataset hdf5"
                .into(),
        ),
        Ok(format) => Ok(Some(format)),
        Err(e) => {
            let ext = path
                .extension()
                .map(|e| e.to_string_lossy().to_ascii_lowercase())
                .unwrap_or_default();
            if RECORDING_EXTENSIONS.contains(&ext.as_str()) {
                Err(e.reason)
            } else {
                Ok(None)
            }
        }
    }
}

/// Finds the recordings of a `folder` dataset rooted at `root`.
pub fn discover_folder(root: &Path, rule: SplitRule) -> std::io::Result<Discovered> {
    let (train, test) = (root.join("train"), root.join("test"));
    // (class folder, stated split) pairs.
    let mut class_dirs: Vec<(PathBuf, Option<Split>)> = Vec::new();
    if train.is_dir() && test.is_dir() {
        for (dir, split) in [(train, Split::Train), (test, Split::Test)] {
            class_dirs.extend(subdirs(&dir)?.into_iter().map(|d| (d, Some(split))));
        }
    } else {
        class_dirs.extend(subdirs(root)?.into_iter().map(|d| (d, None)));
    }
    let classes: Vec<String> = class_dirs
        .iter()
        .map(|(d, _)| folder_name(d))
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    let mut out = Discovered {
        classes: classes.clone(),
        ..Discovered::default()
    };
    for (dir, stated) in class_dirs {
        let class = folder_name(&dir);
        let label = classes.iter().position(|c| *c == class).unwrap_or(0) as u32;
        // (id, path, format, name) of this class folder's recordings.
        let mut found: Vec<(String, PathBuf, Format, String)> = Vec::new();
        let mut names: BTreeMap<String, String> = BTreeMap::new();
        for path in files_under(&dir)? {
            let id = relative_id(root, &path);
            let format = match detect(&path) {
                Ok(Some(format)) => format,
                Ok(None) => {
                    tracing::warn!("{id}: not a recording format dvs-decode detects; skipped");
                    continue;
                }
                Err(reason) => {
                    out.failures
                        .push(RecordingFailure::new(&id, Some(0), reason));
                    continue;
                }
            };
            let name = sample_name(&dir, &path);
            if let Some(first) = names.insert(name.clone(), id.clone()) {
                names.insert(name.clone(), first.clone());
                out.failures.push(RecordingFailure::new(
                    &id,
                    None,
                    format!("gives the sample name '{name}' that {first} already has"),
                ));
                continue;
            }
            found.push((id, path, format, name));
        }
        let splits: BTreeMap<String, Split> = match stated {
            Some(split) => found.iter().map(|f| (f.0.clone(), split)).collect(),
            None => {
                let ids: Vec<String> = found.iter().map(|f| f.0.clone()).collect();
                seeded_split(&ids, rule.test_ratio, rule.seed)
                    .into_iter()
                    .collect()
            }
        };
        for (id, path, format, name) in found {
            let split = splits[&id];
            out.recordings.push(Recording {
                id,
                path,
                format,
                plan: RecordingPlan::WholeFile { label, split, name },
            });
        }
    }
    Ok(out)
}
