//! HDF5 event streams in the plain `x, y, t, p` layout: one recording as four 1-D datasets,
//! in a group `events/` (DSEC, tonic's cache) or at the top level.
//!
//! Layout (what is read):
//! * `/events/{x,y,t,p}` or, when there is no `events` group holding all four, `/{x,y,t,p}`;
//!   four 1-D datasets of equal length, contiguous or chunked, any HDF5 integer type of 1 to 8
//!   bytes (bool-as-integer included), any filters libhdf5 can decode (gzip / deflate,
//!   shuffle, fletcher32, szip, n-bit, scale-offset).
//! * An optional integer scalar `/t_offset` (DSEC: `t` is stored relative to it) is added to
//!   every `t`.
//!
//! Policies: a dataset whose filter pipeline holds a filter this libhdf5 cannot decode (ECF,
//! Prophesee's event codec, id 32034; Blosc, LZ4, Zstd, bitshuffle plugins, ...) is an
//! [`ErrorKind::Unsupported`] error naming the dataset and the filter, before any data is read
//! (libhdf5 would otherwise skip an "optional" filter it lacks and return the compressed bytes
//! as values). x and y must fit `0..=65535`, p must be 0, 1 or −1 (OFF), `t + t_offset` must
//! fit i64; no sensor size is declared in this layout, so `DecodeOptions::sensor` is the only
//! bound on x and y. Before reading, each dataset's element count is checked against what the
//! file could hold (file size × 1100, above deflate's ~1032:1 limit), so a forged dataspace
//! cannot trigger a huge allocation. Errors carry offset 0 (libhdf5 gives no byte positions),
//! except value errors, which carry the event index in the reason, and name the dataset path.
//! A file that has neither layout (e.g. DECOLLE's pre-cut samples) is an error pointing to
//! [`crate::read_hdf5_samples`].

use std::path::{Path, PathBuf};

use hdf5::{Conversion, Dataset};

use super::{DecodeError, ErrorKind, EventReader, Events};

/// Largest plausible compression ratio of a dataset (deflate tops out near 1032:1).
const MAX_EXPANSION: u64 = 1100;
/// Events returned per [`EventReader::read_packet`] call.
const EVENTS_PER_PACKET: usize = 1 << 16;

/// Registered names of the HDF5 filter ids event files use (The HDF Group's filter registry).
fn filter_name(id: i32) -> &'static str {
    match id {
        1 => "deflate (gzip)",
        2 => "shuffle",
        3 => "fletcher32",
        4 => "szip",
        5 => "n-bit",
        6 => "scale-offset",
        307 => "bzip2",
        32000 => "LZF",
        32001 => "Blosc",
        32004 => "LZ4",
        32008 => "bitshuffle",
        32013 => "ZFP",
        32015 => "Zstandard",
        32026 => "Blosc2",
        32034 => "ECF (Prophesee event codec)",
        _ => "unregistered here",
    }
}

/// Where the four datasets of an event-stream file are (`"/events/"` or `"/"`), or `None` when
/// the file has neither layout.
pub fn events_prefix(file: &hdf5::File) -> Option<&'static str> {
    let has_all = |prefix: &str| {
        ["x", "y", "t", "p"]
            .iter()
            .all(|c| file.dataset(&format!("{prefix}{c}")).is_ok())
    };
    if file.group("events").is_ok() && has_all("/events/") {
        Some("/events/")
    } else if has_all("/") {
        Some("/")
    } else {
        None
    }
}

/// True when `path` is an HDF5 file in this layout (and not, e.g., DECOLLE's samples).
pub fn is_events_file(path: &Path) -> bool {
    hdf5::File::open(path)
        .map(|f| events_prefix(&f).is_some())
        .unwrap_or(false)
}

/// Reads the event stream of an HDF5 file in the `x, y, t, p` layout.
pub fn read_hdf5_events(path: &Path) -> Result<Events, DecodeError> {
    let err = |kind: ErrorKind, reason: String| DecodeError::new(path, 0, kind, reason);
    let file_len = std::fs::metadata(path)
        .map_err(|e| DecodeError::io(path, 0, &e))?
        .len();
    let budget = file_len.saturating_mul(MAX_EXPANSION);
    let file = hdf5::File::open(path)
        .map_err(|e| err(ErrorKind::Hdf5, format!("cannot open as HDF5: {e}")))?;
    let prefix = events_prefix(&file).ok_or_else(|| {
        err(
            ErrorKind::Hdf5,
            "no events/{x,y,t,p} group and no top-level x, y, t, p datasets (DECOLLE-layout \
             pre-cut samples are read with read_hdf5_samples)"
                .into(),
        )
    })?;
    let read = |name: &str, ds: &Dataset| -> Result<Vec<i64>, DecodeError> {
        for filter in ds.filters() {
            let id = filter.id();
            if !filter.is_available() || !filter.decode_enabled() {
                return Err(err(
                    ErrorKind::Unsupported,
                    format!(
                        "{name}: compressed with HDF5 filter {id} ({}), which this libhdf5 cannot decode",
                        filter_name(id)
                    ),
                ));
            }
        }
        let dtype = ds
            .dtype()
            .map_err(|e| err(ErrorKind::Hdf5, format!("{name}: {e}")))?;
        let width = dtype.size();
        let integer = matches!(
            dtype.to_descriptor(),
            Ok(hdf5::types::TypeDescriptor::Integer(_) | hdf5::types::TypeDescriptor::Unsigned(_))
        );
        if !integer || !(1..=8).contains(&width) {
            return Err(err(
                ErrorKind::Unsupported,
                format!(
                    "{name}: stored type is not an integer of 1 to 8 bytes ({width}-byte element)"
                ),
            ));
        }
        if (ds.size() as u64).saturating_mul(8) > budget {
            return Err(err(
                ErrorKind::Corrupt,
                format!(
                    "{name}: {} elements cannot fit in a {file_len}-byte file",
                    ds.size()
                ),
            ));
        }
        ds.as_reader()
            .conversion(Conversion::Soft)
            .read_raw::<i64>()
            .map_err(|e| err(ErrorKind::Hdf5, format!("{name}: {e}")))
    };
    let mut columns: Vec<Vec<i64>> = Vec::with_capacity(4);
    let mut len = None;
    for c in ["x", "y", "t", "p"] {
        let name = format!("{prefix}{c}");
        let ds = file
            .dataset(&name)
            .map_err(|e| err(ErrorKind::Hdf5, format!("{name}: {e}")))?;
        let shape = ds.shape();
        let n = match shape[..] {
            [n] => n,
            _ => {
                return Err(err(
                    ErrorKind::Corrupt,
                    format!("{name}: shape {shape:?}, expected a 1-D dataset"),
                ))
            }
        };
        if let Some(first) = len {
            if n != first {
                return Err(err(
                    ErrorKind::Corrupt,
                    format!("{name}: {n} elements, but {prefix}x has {first}"),
                ));
            }
        }
        len = Some(n);
        columns.push(read(&name, &ds)?);
    }
    let t_offset = match file.dataset("t_offset") {
        Ok(ds) => match read("/t_offset", &ds)?.as_slice() {
            [v] => *v,
            other => {
                return Err(err(
                    ErrorKind::Corrupt,
                    format!("/t_offset: expected one value, got {}", other.len()),
                ))
            }
        },
        Err(_) => 0,
    };
    let [x, y, t, p] = [0, 1, 2, 3].map(|k| std::mem::take(&mut columns[k]));
    let mut events = Events::with_capacity(x.len());
    let bad = |i: usize, c: &str, what: String| {
        err(ErrorKind::Corrupt, format!("{prefix}{c}[{i}]: {what}"))
    };
    for i in 0..x.len() {
        let xv =
            u16::try_from(x[i]).map_err(|_| bad(i, "x", format!("{} outside 0..=65535", x[i])))?;
        let yv =
            u16::try_from(y[i]).map_err(|_| bad(i, "y", format!("{} outside 0..=65535", y[i])))?;
        let tv = t[i]
            .checked_add(t_offset)
            .ok_or_else(|| bad(i, "t", format!("{} + t_offset {t_offset} overflows", t[i])))?;
        let pv = match p[i] {
            1 => 1,
            0 | -1 => 0,
            v => return Err(bad(i, "p", format!("polarity {v} is not 0, 1 or -1"))),
        };
        events.push(tv, xv, yv, pv);
    }
    Ok(events)
}

/// An [`EventReader`] over an HDF5 event-stream file (decoded whole on open: libhdf5 reads
/// datasets, not byte streams), handing the events out a block at a time.
pub struct Hdf5EventsReader {
    name: PathBuf,
    events: Events,
    next: usize,
}

impl Hdf5EventsReader {
    /// Decodes `path` (see [`read_hdf5_events`]).
    pub fn open(path: &Path) -> Result<Self, DecodeError> {
        Ok(Self {
            name: path.to_path_buf(),
            events: read_hdf5_events(path)?,
            next: 0,
        })
    }

    /// The file this reader decodes.
    pub fn path(&self) -> &Path {
        &self.name
    }
}

impl EventReader for Hdf5EventsReader {
    fn read_packet(&mut self, out: &mut Events) -> Result<bool, DecodeError> {
        let end = self.events.len().min(self.next + EVENTS_PER_PACKET);
        if self.next == end {
            return Ok(false);
        }
        let e = &self.events;
        out.extend_columns((self.next..end).map(|i| (e.t[i], e.x[i], e.y[i], e.p[i])));
        self.next = end;
        Ok(true)
    }

    fn remaining_hint(&self) -> usize {
        self.events.len() - self.next
    }
}
