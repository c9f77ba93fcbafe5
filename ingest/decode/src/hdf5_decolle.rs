//! HDF5 reader for the DECOLLE / torchneuromorphic DVS Gesture layout
//! (`create_events_hdf5`): pre-cut samples, not one event stream.
//!
//! Layout: `/data/<key>/times` (integer [N], µs re-based to the sample's first
//! event), `/data/<key>/addrs` (u8 [N, 3], columns x, y, p),
//! `/data/<key>/labels` (integer scalar, 0..10), `/extra/train_keys` and
//! `/extra/test_keys` (integer key lists).
//!
//! Policies: samples come back in `train_keys` order, then `test_keys` order;
//! `/data` groups listed in neither are ignored (logged); a listed key
//! without a `/data` group, a key in both lists, a shape mismatch or a
//! negative time is an error. Integer datasets of any width are accepted (HDF5
//! converts them); any other stored type or width is an error before reading. Before reading,
//! each dataset's byte size is checked against
//! what the file could hold (file size × 1100, above deflate's ~1032:1 limit),
//! so a forged dataspace cannot trigger a huge allocation. Errors carry offset
//! 0 (libhdf5 gives no byte positions) and name the dataset path.

use std::path::Path;

use hdf5::{Conversion, Dataset};

use super::{DecodeError, ErrorKind, Events};

/// One pre-cut sample of an HDF5 file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Hdf5Sample {
    /// The `/data/<key>` group name.
    pub key: String,
    /// Class label (0-based).
    pub label: u32,
    /// True when the key is listed in `/extra/train_keys`.
    pub train: bool,
    /// The sample's events (t re-based to its first event, as stored).
    pub events: Events,
}

/// Largest plausible compression ratio of a dataset (deflate tops out near 1032:1).
const MAX_EXPANSION: u64 = 1100;

/// Reads every sample listed in `/extra/{train,test}_keys` of a DECOLLE-layout
/// HDF5 file.
pub fn read_hdf5_samples(path: &Path) -> Result<Vec<Hdf5Sample>, DecodeError> {
    let err = |reason: String| DecodeError::new(path, 0, ErrorKind::Hdf5, reason);
    let file_len = std::fs::metadata(path)
        .map_err(|e| DecodeError::io(path, 0, &e))?
        .len();
    let budget = file_len.saturating_mul(MAX_EXPANSION);
    let file = hdf5::File::open(path).map_err(|e| err(format!("cannot open as HDF5: {e}")))?;
    let dataset = |name: &str| -> Result<Dataset, DecodeError> {
        file.dataset(name).map_err(|e| err(format!("{name}: {e}")))
    };
    let read_ints = |name: &str, ds: &Dataset| -> Result<Vec<i64>, DecodeError> {
        // The stored element width is a header field too: a forged one (libFuzzer found a
        // 4 GiB-wide "integer") makes libhdf5 allocate count × width for the conversion.
        let dtype = ds.dtype().map_err(|e| err(format!("{name}: {e}")))?;
        let width = dtype.size();
        let integer = matches!(
            dtype.to_descriptor(),
            Ok(hdf5::types::TypeDescriptor::Integer(_) | hdf5::types::TypeDescriptor::Unsigned(_))
        );
        if !integer || !(1..=8).contains(&width) {
            return Err(err(format!(
                "{name}: stored type is not an integer of 1 to 8 bytes ({width}-byte element)"
            )));
        }
        let bytes = (ds.size() as u64).saturating_mul(8);
        if bytes > budget {
            return Err(err(format!(
                "{name}: {} elements cannot fit in a {file_len}-byte file",
                ds.size()
            )));
        }
        ds.as_reader()
            .conversion(Conversion::Soft)
            .read_raw::<i64>()
            .map_err(|e| err(format!("{name}: {e}")))
    };
    let train_keys = read_ints("/extra/train_keys", &dataset("/extra/train_keys")?)?;
    let test_keys = read_ints("/extra/test_keys", &dataset("/extra/test_keys")?)?;
    if let Some(k) = train_keys.iter().find(|k| test_keys.contains(k)) {
        return Err(err(format!(
            "key {k} is in both /extra/train_keys and /extra/test_keys"
        )));
    }
    if let Ok(data) = file.group("data") {
        if let Ok(names) = data.member_names() {
            let listed = |n: &String| {
                train_keys
                    .iter()
                    .chain(&test_keys)
                    .any(|k| k.to_string() == *n)
            };
            let unlisted = names.iter().filter(|n| !listed(n)).count();
            if unlisted > 0 {
                tracing::warn!(file = %path.display(), unlisted, "HDF5 /data groups not listed in /extra/*_keys are ignored");
            }
        }
    }
    let mut samples = Vec::with_capacity(train_keys.len() + test_keys.len());
    for (key, train) in train_keys
        .iter()
        .map(|k| (*k, true))
        .chain(test_keys.iter().map(|k| (*k, false)))
    {
        let group = format!("/data/{key}");
        let times_name = format!("{group}/times");
        let addrs_name = format!("{group}/addrs");
        let label_name = format!("{group}/labels");
        let times = read_ints(&times_name, &dataset(&times_name)?)?;
        let addrs_ds = dataset(&addrs_name)?;
        let shape = addrs_ds.shape();
        if shape.len() != 2 || shape[1] != 3 || shape[0] != times.len() {
            return Err(err(format!(
                "{addrs_name}: shape {shape:?}, expected [{}, 3] to match {times_name}",
                times.len()
            )));
        }
        let addrs = read_ints(&addrs_name, &addrs_ds)?;
        let label_ds = dataset(&label_name)?;
        let label = read_ints(&label_name, &label_ds)?;
        let label = match label.as_slice() {
            [l] if (0..=u32::MAX as i64).contains(l) => *l as u32,
            other => {
                return Err(err(format!(
                    "{label_name}: expected one non-negative label, got {other:?}"
                )))
            }
        };
        if let Some(t) = times.iter().find(|t| **t < 0) {
            return Err(err(format!("{times_name}: negative time {t}")));
        }
        let coord = |v: i64, what: &str| -> Result<u16, DecodeError> {
            u16::try_from(v)
                .map_err(|_| err(format!("{addrs_name}: {what} value {v} out of range")))
        };
        let mut events = Events::with_capacity(times.len());
        for (t, a) in times.iter().zip(addrs.chunks_exact(3)) {
            let p = match a[2] {
                0 => 0,
                1 => 1,
                v => {
                    return Err(err(format!(
                        "{addrs_name}: polarity value {v} is not 0 or 1"
                    )))
                }
            };
            events.push(*t, coord(a[0], "x")?, coord(a[1], "y")?, p);
        }
        samples.push(Hdf5Sample {
            key: key.to_string(),
            label,
            train,
            events,
        });
    }
    Ok(samples)
}
