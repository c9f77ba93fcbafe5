//! Small filesystem helpers: atomic writes (temp file in the same directory,
//! fsync, rename, fsync of the directory) so that a reader, or a rerun after a
//! kill -9, only ever sees complete files.

use std::io::Write;
use std::path::{Path, PathBuf};

/// Prefix of every temporary file this crate creates; a rerun deletes strays.
pub const TEMP_PREFIX: &str = ".tmp-";

/// Temporary sibling path for `path`.
pub fn temp_path(path: &Path) -> PathBuf {
    let name = path
        .file_name()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default();
    path.with_file_name(format!("{TEMP_PREFIX}{}-{name}", std::process::id()))
}

/// Writes `bytes` to `path` atomically and durably (fsync of file and directory).
pub fn write_atomic(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    write_via_temp(path, bytes, true)
}

/// Writes `bytes` to `path` atomically without fsync: for self-checksummed
/// cache files (work parts), where a file torn by a power loss is detected and
/// recomputed, and a kill -9 cannot tear it (the page cache survives).
pub fn write_atomic_unsynced(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    write_via_temp(path, bytes, false)
}

fn write_via_temp(path: &Path, bytes: &[u8], durable: bool) -> std::io::Result<()> {
    let tmp = temp_path(path);
    let result = (|| {
        let mut file = std::fs::File::create(&tmp)?;
        file.write_all(bytes)?;
        if durable {
            file.sync_all()?;
        }
        drop(file);
        std::fs::rename(&tmp, path)
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result?;
    if durable {
        sync_dir(path.parent().unwrap_or(Path::new(".")));
    }
    Ok(())
}

/// Fsyncs a directory so a rename in it is durable (best effort: not every
/// platform can open a directory).
pub fn sync_dir(dir: &Path) {
    if let Ok(d) = std::fs::File::open(dir) {
        let _ = d.sync_all();
    }
}

/// True for names of temporary files made by this crate (`.tmp-<pid>-name`)
/// or by `dvs-frames` (`.name.tmp-<pid>`).
pub fn is_temp_name(name: &str) -> bool {
    name.starts_with(TEMP_PREFIX) || (name.starts_with('.') && name.contains(".tmp-"))
}

/// Removes temporary files (see [`is_temp_name`]) in `dir`, leftovers of an
/// interrupted run. Returns how many were removed.
pub fn remove_stray_temps(dir: &Path) -> usize {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return 0;
    };
    let mut removed = 0;
    for entry in entries.filter_map(|e| e.ok()) {
        let name = entry.file_name().to_string_lossy().into_owned();
        if is_temp_name(&name) && std::fs::remove_file(entry.path()).is_ok() {
            removed += 1;
        }
    }
    removed
}
