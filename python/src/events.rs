//! Recordings → numpy: the event columns of one file through dvs-decode's readers (format
//! detected as `dvs-ingest probe` detects it), the probe summary through dvs-ingest's
//! [`dvs_ingest::probe`], and frame integration through [`dvs_ingest::integrate`] (the
//! SpikingJelly / tonic rules). Decoding and integration run with the GIL released; the
//! decoded columns become numpy arrays without a copy.

use std::path::PathBuf;

use dvs_decode::{AtisSensor, DecodeOptions, EventReader, Events, Format, Orientation, TimeOrder};
use dvs_ingest::integrate::FrameGeometry;
use dvs_ingest::SplitBy;
use numpy::{PyArray1, PyReadonlyArray1};
use pyo3::prelude::*;

use crate::errors::{config_error, decode_error};

/// Bytes per event of `spiketrain.EVENT_DTYPE` (packed: `t <i8` at 0, `x <u2` at 8, `y <u2` at
/// 10, `p |i1` at 12).
const PACKED_EVENT_BYTES: usize = 13;

/// Appends `events` to `out` in `spiketrain.EVENT_DTYPE`'s packed layout (numpy views the
/// buffer as the structured array without a copy).
fn pack_into(events: &Events, out: &mut Vec<u8>) {
    // The columns are public fields: pack only as many events as every column holds.
    let n = events
        .t
        .len()
        .min(events.x.len())
        .min(events.y.len())
        .min(events.p.len());
    let added = n * PACKED_EVENT_BYTES;
    out.reserve(added);
    let start = out.len();
    // Written straight into the spare capacity: zero-filling it first would double the
    // memory traffic of this pass.
    let slots = &mut out.spare_capacity_mut()[..added];
    let columns = events.t.iter().zip(&events.x).zip(&events.y).zip(&events.p);
    for (slot, (((t, x), y), p)) in slots.chunks_exact_mut(PACKED_EVENT_BYTES).zip(columns) {
        let mut record = [0u8; PACKED_EVENT_BYTES];
        record[..8].copy_from_slice(&t.to_le_bytes());
        record[8..10].copy_from_slice(&x.to_le_bytes());
        record[10..12].copy_from_slice(&y.to_le_bytes());
        record[12] = *p;
        for (dst, src) in slot.iter_mut().zip(record) {
            dst.write(src);
        }
    }
    // SAFETY: the loop wrote every byte of the `added` spare bytes: `slots` has exactly `n`
    // chunks of PACKED_EVENT_BYTES and every column has at least `n` elements.
    unsafe { out.set_len(start + added) };
}

/// Decodes `reader` packet by packet into the packed layout. One packet's columns at a time stay
/// in a reused buffer (cache-sized), so the events are written to memory once, packed, instead
/// of once as columns and again as records (the whole-file columns cost as much in page faults
/// and memory traffic as the decoding itself).
fn read_packed(reader: &mut dyn EventReader) -> Result<Vec<u8>, dvs_decode::DecodeError> {
    // The hint is an upper bound from the bytes left (never from a header field): reserving it
    // only maps address space; untouched pages cost nothing.
    let mut out = Vec::with_capacity(reader.remaining_hint().saturating_mul(PACKED_EVENT_BYTES));
    let mut packet = Events::new();
    loop {
        packet.clear();
        let more = reader.read_packet(&mut packet)?;
        pack_into(&packet, &mut out);
        if !more {
            break;
        }
    }
    out.shrink_to_fit();
    Ok(out)
}

/// Decoder options from the Python keywords.
fn decode_options(
    orientation: &str,
    keep_invalid: bool,
    atis_sensor: Option<(u16, u16)>,
) -> PyResult<DecodeOptions> {
    let orientation = match orientation {
        "spikingjelly" => Orientation::SpikingJelly,
        "raw" => Orientation::Raw,
        other => {
            return Err(config_error(format!(
                "orientation {other:?} (expected 'spikingjelly' or 'raw')"
            )))
        }
    };
    Ok(DecodeOptions {
        orientation,
        keep_invalid,
        atis_sensor: atis_sensor.map_or(AtisSensor::default(), |(width, height)| {
            AtisSensor::Declared { width, height }
        }),
        ..DecodeOptions::default()
    })
}

/// What to decode: one event stream of `path`, or (HDF5) one pre-cut sample.
enum Selection {
    Default,
    Stream(i64),
    Hdf5Key(String),
}

/// The selected events of `path`, packed (see [`read_packed`]).
fn decode_packed(
    path: &std::path::Path,
    selection: Selection,
    options: &DecodeOptions,
) -> PyResult<Vec<u8>> {
    let format = Format::detect_file(path).map_err(decode_error)?;
    if format == Format::Hdf5 && !dvs_decode::hdf5_events::is_events_file(path) {
        // DECOLLE layout: pre-cut samples, one chosen by key.
        let key = match selection {
            Selection::Hdf5Key(key) => key,
            Selection::Stream(id) => id.to_string(),
            Selection::Default => {
                return Err(config_error(format!(
                    "{}: this HDF5 file holds pre-cut samples, not one stream: pass \
                     stream=<sample key> (spiketrain.hdf5_keys lists them)",
                    path.display()
                )))
            }
        };
        let samples = dvs_decode::read_hdf5_samples(path).map_err(decode_error)?;
        let sample = samples.into_iter().find(|s| s.key == key).ok_or_else(|| {
            config_error(format!("{}: no sample with key {key:?}", path.display()))
        })?;
        let mut packed = Vec::new();
        pack_into(&sample.events, &mut packed);
        return Ok(packed);
    }
    let mut options = *options;
    match selection {
        Selection::Default => {}
        // AEDAT 4 decodes the stream it is told (the library checks it is a declared EVTS
        // stream); the single-stream formats have only stream 0.
        Selection::Stream(id) if format == Format::Aedat4 => {
            let id = u32::try_from(id)
                .map_err(|_| config_error(format!("stream {id} (expected an id >= 0)")))?;
            options.stream = Some(id);
        }
        Selection::Stream(0) => {}
        Selection::Stream(_) | Selection::Hdf5Key(_) => {
            return Err(config_error(format!(
                "{}: {format} files hold one event stream (stream=0 or None)",
                path.display()
            )))
        }
    }
    let mut reader = dvs_decode::open(path, format, &options).map_err(decode_error)?;
    read_packed(reader.as_mut()).map_err(decode_error)
}

/// Every event of `path` as packed `spiketrain.EVENT_DTYPE` records (a flat uint8 array;
/// the caller views it as the structured dtype). `stream`: an int (AEDAT 4 stream id) or, for
/// HDF5, the sample key.
#[pyfunction]
#[pyo3(signature = (path, stream=None, orientation="spikingjelly", keep_invalid=false, atis_sensor=None, sensor=None, time_order="as-stored"))]
#[allow(clippy::too_many_arguments)]
pub fn read_events_packed<'py>(
    py: Python<'py>,
    path: PathBuf,
    stream: Option<Bound<'py, PyAny>>,
    orientation: &str,
    keep_invalid: bool,
    atis_sensor: Option<(u16, u16)>,
    sensor: Option<(u16, u16)>,
    time_order: &str,
) -> PyResult<Bound<'py, PyArray1<u8>>> {
    let mut options = decode_options(orientation, keep_invalid, atis_sensor)?;
    options.time_order = match time_order {
        "as-stored" => TimeOrder::AsStored,
        "error" => TimeOrder::Error,
        other => {
            return Err(config_error(format!(
                "time_order {other:?} (expected 'as-stored' or 'error')"
            )))
        }
    };
    options.sensor = sensor;
    let selection = match stream {
        None => Selection::Default,
        Some(s) if s.is_instance_of::<pyo3::types::PyString>() => {
            Selection::Hdf5Key(s.extract::<String>()?)
        }
        Some(s) => Selection::Stream(s.extract::<i64>()?),
    };
    let packed = py.detach(|| decode_packed(&path, selection, &options))?;
    Ok(PyArray1::from_vec(py, packed))
}

/// The sample keys of a DECOLLE-layout HDF5 file, in file order.
#[pyfunction]
pub fn hdf5_keys(py: Python<'_>, path: PathBuf) -> PyResult<Vec<String>> {
    let samples = py
        .detach(|| dvs_decode::read_hdf5_samples(&path))
        .map_err(decode_error)?;
    Ok(samples.into_iter().map(|s| s.key).collect())
}

/// `dvs-ingest probe` of one file, as JSON text.
#[pyfunction]
#[pyo3(signature = (path, orientation="spikingjelly", keep_invalid=false, atis_sensor=None))]
pub fn probe_json(
    py: Python<'_>,
    path: PathBuf,
    orientation: &str,
    keep_invalid: bool,
    atis_sensor: Option<(u16, u16)>,
) -> PyResult<String> {
    let options = decode_options(orientation, keep_invalid, atis_sensor)?;
    let probe = py
        .detach(|| dvs_ingest::probe::probe(&path, &options))
        .map_err(decode_error)?;
    serde_json::to_string(&probe).map_err(|e| config_error(e.to_string()))
}

/// Integrates the events into `[frames, 2, height, width]` float32 counts by `split_by`
/// (`number`, `time`, `tonic-time-bins`); flat, reshaped by the caller.
#[pyfunction]
#[allow(clippy::too_many_arguments)]
pub fn integrate_frames<'py>(
    py: Python<'py>,
    t: PyReadonlyArray1<'py, i64>,
    x: PyReadonlyArray1<'py, u16>,
    y: PyReadonlyArray1<'py, u16>,
    p: PyReadonlyArray1<'py, u8>,
    width: usize,
    height: usize,
    frames: usize,
    split_by: &str,
) -> PyResult<Bound<'py, PyArray1<f32>>> {
    let split_by: SplitBy = split_by.parse().map_err(config_error)?;
    if frames == 0 {
        return Err(config_error("n_frames must be at least 1"));
    }
    let (t, x, y, p) = (t.as_slice()?, x.as_slice()?, y.as_slice()?, p.as_slice()?);
    let n = t.len();
    if x.len() != n || y.len() != n || p.len() != n {
        return Err(config_error(format!(
            "event columns differ in length (t {n}, x {}, y {}, p {})",
            x.len(),
            y.len(),
            p.len()
        )));
    }
    let geometry = FrameGeometry {
        frames,
        height,
        width,
    };
    let counts = py
        .detach(|| dvs_ingest::integrate(t, x, y, p, split_by, geometry))
        .map_err(|e| config_error(e.to_string()))?;
    let values: Vec<f32> = counts.counts.iter().map(|&c| c as f32).collect();
    Ok(PyArray1::from_vec(py, values))
}
