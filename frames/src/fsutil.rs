//! The one way spiketrain writes a file: atomically, so that a reader — or a rerun after a
//! `kill -9` — only ever sees the old file or the complete new one.
//!
//! Every binary and library of the workspace writes its outputs through [`atomic_write`] or
//! [`atomic_write_with`] ([`commit_temp`] where a long-lived writer or a C library writes the
//! temporary file itself). A file is first written to a temporary sibling named
//! `.<name>.tmp-<pid>` (see [`temp_path`]), then renamed over the target.
//!
//! # Fsync policy
//!
//! - [`Durability::Durable`] (the default, and what [`atomic_write`] does): fsync the file,
//!   rename, fsync the directory. A power loss leaves the old file or the new one. Used for every
//!   output a user keeps: shards, `dataset.json`, manifests, checkpoints, models, reports, configs.
//! - [`Durability::Checksummed`]: no fsync. Only for self-checksummed cache files that are
//!   recomputed when found torn (dvs-ingest's work parts): a `kill -9` cannot tear them (the page
//!   cache survives the process), a power loss can, and the checksum catches it. Skipping the
//!   fsync there saves one disk flush per recording.
//!
//! The returned [`std::io::Error`]s do not carry the path: callers wrap them in their own error
//! type, which names the file (so that no message says the path twice).

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

/// How hard a write tries to survive a crash of the machine; see the module docs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Durability {
    /// fsync the file and its directory: survives a power loss.
    Durable,
    /// No fsync: for self-checksummed cache files that are recomputed when torn.
    Checksummed,
}

/// Marker inside every temporary file name: `.<name>.tmp-<pid>`.
const TEMP_MARKER: &str = ".tmp-";

/// The temporary sibling `path` is written to before the rename: `.<name>.tmp-<pid>` in the same
/// directory (same filesystem, so the rename is atomic; hidden; unique per process).
pub fn temp_path(path: &Path) -> PathBuf {
    let name = path
        .file_name()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default();
    path.with_file_name(format!(".{name}{TEMP_MARKER}{}", std::process::id()))
}

/// True for names made by [`temp_path`] (leftovers of an interrupted run).
pub fn is_temp_name(name: &str) -> bool {
    name.starts_with('.')
        && name
            .rsplit_once(TEMP_MARKER)
            .is_some_and(|(_, pid)| !pid.is_empty() && pid.bytes().all(|b| b.is_ascii_digit()))
}

/// Writes `bytes` to `path` atomically and durably (temp file, fsync, rename, directory fsync).
pub fn atomic_write(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    atomic_write_with(path, Durability::Durable, |w| w.write_all(bytes))
}

/// Writes `path` atomically by streaming into a buffered temporary file: `write` fills it, then
/// it is flushed, synced according to `durability` and renamed over `path`. On any error the
/// temporary file is removed and `path` is untouched.
pub fn atomic_write_with(
    path: &Path,
    durability: Durability,
    write: impl FnOnce(&mut BufWriter<File>) -> std::io::Result<()>,
) -> std::io::Result<()> {
    if path.file_name().is_none() {
        return Err(std::io::Error::new(
            std::io::ErrorKind::InvalidInput,
            "path has no file name",
        ));
    }
    let tmp = temp_path(path);
    let result = (|| {
        let mut out = BufWriter::new(File::create(&tmp)?);
        write(&mut out)?;
        let file = out.into_inner().map_err(|e| e.into_error())?;
        if durability == Durability::Durable {
            file.sync_all()?;
        }
        drop(file);
        std::fs::rename(&tmp, path)
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result?;
    if durability == Durability::Durable {
        sync_dir(parent_dir(path))?;
    }
    Ok(())
}

/// Commits a file that was written to [`temp_path`]`(path)` by a writer that must own the file
/// for a long time (the shard writer) or by a C library that writes by name (libhdf5): fsync, rename over `path`, fsync of the directory. On failure the
/// temporary file is removed and `path` is untouched.
pub fn commit_temp(tmp: &Path, path: &Path) -> std::io::Result<()> {
    let result = File::open(tmp)
        .and_then(|f| f.sync_all())
        .and_then(|()| std::fs::rename(tmp, path));
    if result.is_err() {
        let _ = std::fs::remove_file(tmp);
    }
    result?;
    sync_dir(parent_dir(path))
}

/// Fsyncs a directory so that a rename inside it survives a crash (a no-op where directories
/// cannot be opened, as on Windows).
pub fn sync_dir(dir: &Path) -> std::io::Result<()> {
    #[cfg(unix)]
    File::open(dir)?.sync_all()?;
    #[cfg(not(unix))]
    let _ = dir;
    Ok(())
}

/// Removes the temporary files ([`is_temp_name`]) directly inside `dir`, leftovers of an
/// interrupted run. Returns how many were removed; an unreadable directory removes none.
pub fn remove_stray_temps(dir: &Path) -> usize {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return 0;
    };
    entries
        .filter_map(|e| e.ok())
        .filter(|e| is_temp_name(&e.file_name().to_string_lossy()))
        .filter(|e| std::fs::remove_file(e.path()).is_ok())
        .count()
}

fn parent_dir(path: &Path) -> &Path {
    match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn temp_names_are_recognised_and_nothing_else() {
        let tmp = temp_path(Path::new("/x/dataset.json"));
        let name = tmp.file_name().unwrap().to_string_lossy().into_owned();
        assert!(is_temp_name(&name), "{name}");
        assert_eq!(tmp.parent(), Some(Path::new("/x")));
        for other in [
            "dataset.json",
            ".hidden",
            ".a.tmp-",
            ".a.tmp-12x",
            "a.tmp-12",
        ] {
            assert!(!is_temp_name(other), "{other}");
        }
    }

    #[test]
    fn a_failed_write_leaves_the_old_file_and_no_temp() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("out.bin");
        atomic_write(&path, b"old").unwrap();
        let err = atomic_write_with(&path, Durability::Durable, |w| {
            w.write_all(b"partial")?;
            Err(std::io::Error::other("interrupted"))
        })
        .unwrap_err();
        assert_eq!(err.to_string(), "interrupted");
        assert_eq!(std::fs::read(&path).unwrap(), b"old");
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
        atomic_write_with(&path, Durability::Checksummed, |w| w.write_all(b"new")).unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), b"new");
    }

    #[test]
    fn stray_temps_are_removed() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(temp_path(&dir.path().join("a")), b"x").unwrap();
        std::fs::write(dir.path().join("keep"), b"x").unwrap();
        assert_eq!(remove_stray_temps(dir.path()), 1);
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
    }
}
