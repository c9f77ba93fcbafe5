//! From one recording to its samples: decode, cut (Gesture label windows,
//! whole CIFAR10-DVS / `folder` files, HDF5 keys, `table` windows), optionally slice
//! (`--slice`, tonic's slicers) and crop (`--crop`), integrate into `[T, 2, H, W]`
//! frames and optionally resize. Pure per-recording work, run in parallel by the
//! pipeline; every failure becomes a [`RecordingFailure`] for that file only.

use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use crate::config::IngestParams;
use crate::geometry::Crop;
use crate::integrate::{integrate, integrate_u8, FrameGeometry};
use crate::labels::{cut_window, parse_labels_csv};
use crate::layout::{DatasetKind, Recording, RecordingPlan, Split};
use crate::report::RecordingFailure;
use crate::resize::area_resize;
use crate::slice::slice_name;
use dvs_decode::{DecodeOptions, Events};

/// Everything the manifest records about a sample except where it is stored.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SampleMeta {
    /// Unique id `<split>/<class dir>/<name>` (also the shard record key and the
    /// export path without `.npz`).
    pub sample_id: String,
    /// Sample name (SpikingJelly's file stem, e.g. `user03_fluorescent_0`).
    pub name: String,
    /// Recording id (path relative to the input root).
    pub source_file: String,
    /// 0-based label.
    pub label: u32,
    /// Human-readable class name.
    pub class_name: String,
    /// Train or test.
    pub split: Split,
    /// Start of the sample in the recording's time base (µs, inclusive): the
    /// label window start for Gesture, the first event otherwise.
    pub t_start: i64,
    /// End (µs, exclusive): the window end for Gesture, last event + 1 otherwise.
    pub t_end: i64,
    /// Events in the sample.
    pub event_count: u64,
    /// Events not counted in any frame (tonic's dropped tail).
    pub events_dropped: u64,
}

/// Integrated frames: counts (no resize) or area-averaged floats (resize).
#[derive(Clone, Debug, PartialEq)]
pub enum FrameBuf {
    /// Counts that all fit in a byte (the common case).
    Counts8(Vec<u8>),
    /// `u32` counts.
    Counts(Vec<u32>),
    /// `f32` values.
    Float(Vec<f32>),
}

impl FrameBuf {
    /// Number of elements.
    pub fn len(&self) -> usize {
        match self {
            FrameBuf::Counts8(c) => c.len(),
            FrameBuf::Counts(c) => c.len(),
            FrameBuf::Float(f) => f.len(),
        }
    }

    /// True when empty.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The frames as the shard writer takes them (borrowed, no copy).
    pub fn as_frame_data(&self) -> dvs_frames::FrameData<'_> {
        match self {
            FrameBuf::Counts8(c) => dvs_frames::FrameData::Counts8(c),
            FrameBuf::Counts(c) => dvs_frames::FrameData::Counts(c),
            FrameBuf::Float(f) => dvs_frames::FrameData::Float(f),
        }
    }

    /// Values as `f32`.
    pub fn to_f32(&self) -> Vec<f32> {
        match self {
            FrameBuf::Counts8(c) => c.iter().map(|&v| f32::from(v)).collect(),
            FrameBuf::Counts(c) => c.iter().map(|&v| v as f32).collect(),
            FrameBuf::Float(f) => f.clone(),
        }
    }
}

/// The samples of one recording, in cutting order, and how many events were decoded.
#[derive(Debug)]
pub struct RecordingSamples {
    /// `(metadata, frames)` per sample.
    pub samples: Vec<(SampleMeta, FrameBuf)>,
    /// Events decoded from the file.
    pub events_decoded: u64,
}

/// The events of `events` inside `crop`, moved to the crop's origin. An event outside the
/// sensor is still an error (of integration, on the uncropped coordinates), never cropped away.
fn crop_events(
    events: &Events,
    crop: Crop,
    sensor: (usize, usize),
) -> Result<(Events, u64), String> {
    let (height, width) = sensor;
    let mut out = Events::with_capacity(events.len());
    for i in 0..events.len() {
        let (x, y) = (events.x[i] as usize, events.y[i] as usize);
        if x >= width || y >= height {
            return Err(format!(
                "event {i} at (x={x}, y={y}) lies outside the {width}x{height} sensor"
            ));
        }
        if (crop.x..crop.x + crop.width).contains(&x) && (crop.y..crop.y + crop.height).contains(&y)
        {
            out.push(
                events.t[i],
                (x - crop.x) as u16,
                (y - crop.y) as u16,
                events.p[i],
            );
        }
    }
    let outside = (events.len() - out.len()) as u64;
    Ok((out, outside))
}

/// Integrates (and resizes) one cut sample: crop (events outside it are counted as
/// dropped), integration on the crop or sensor, area resize.
pub fn frames_for(events: &Events, params: &IngestParams) -> Result<(FrameBuf, u64), String> {
    let cropped;
    let (events, outside) = match params.crop {
        Some(crop) => {
            let sensor = (params.sensor_height, params.sensor_width);
            let (kept, outside) = crop_events(events, crop, sensor)?;
            cropped = kept;
            (&cropped, outside)
        }
        None => (events, 0),
    };
    let (height, width) = params.integrated_hw();
    let geometry = FrameGeometry {
        frames: params.frames,
        height,
        width,
    };
    let (t, x, y, p) = (&events.t, &events.x, &events.y, &events.p);
    let integrate_err = |e: crate::integrate::OutOfSensor| e.to_string();
    if params.resize.is_none() {
        // Counts that fit a byte (nearly always) skip the u32 tensor; otherwise count again wide.
        if let Some(narrow) =
            integrate_u8(t, x, y, p, params.split_by, geometry).map_err(integrate_err)?
        {
            return Ok((
                FrameBuf::Counts8(narrow.counts),
                narrow.dropped as u64 + outside,
            ));
        }
    }
    let integrated = integrate(t, x, y, p, params.split_by, geometry).map_err(integrate_err)?;
    let frames = match params.resize {
        Some(to) => FrameBuf::Float(area_resize(
            &integrated.counts,
            params.frames * 2,
            (height, width),
            (to.height, to.width),
        )),
        None => FrameBuf::Counts(integrated.counts),
    };
    Ok((frames, integrated.dropped as u64 + outside))
}

fn whole_span(events: &Events) -> (i64, i64) {
    match (events.t.first(), events.t.iter().max()) {
        (Some(&first), Some(&last)) => (first.min(last), last.saturating_add(1)),
        _ => (0, 0),
    }
}

/// Decodes and cuts one recording into integrated samples; `classes` are the dataset's
/// class names in label order.
pub fn process_recording(
    recording: &Recording,
    kind: DatasetKind,
    classes: &[String],
    params: &IngestParams,
    options: &DecodeOptions,
) -> Result<RecordingSamples, RecordingFailure> {
    let fail =
        |offset: Option<u64>, reason: String| RecordingFailure::new(&recording.id, offset, reason);
    let class_names = classes;
    let class_name = |label: u32| {
        class_names
            .get(label as usize)
            .cloned()
            .unwrap_or_else(|| format!("class_{label}"))
    };
    // Integrates one cut sample (a pure function of its inputs, so Gesture
    // windows run in parallel below).
    let make_one = |name: String,
                    label: u32,
                    split: Split,
                    (t_start, t_end): (i64, i64),
                    events: &Events|
     -> Result<(SampleMeta, FrameBuf), RecordingFailure> {
        let (frames, dropped) = frames_for(events, params).map_err(|r| fail(None, r))?;
        let meta = SampleMeta {
            sample_id: format!(
                "{}/{}/{}",
                split.as_str(),
                kind.class_dir(label, classes),
                name
            ),
            name,
            source_file: recording.id.clone(),
            label,
            class_name: class_name(label),
            split,
            t_start,
            t_end,
            event_count: events.len() as u64,
            events_dropped: dropped,
        };
        Ok((meta, frames))
    };
    // One cut sample, or with `--slice` its slices (named `<name>_sNNNNN`, spanning their
    // first event .. last event + 1).
    let make = |name: String,
                label: u32,
                split: Split,
                span: (i64, i64),
                events: &Events|
     -> Result<Vec<(SampleMeta, FrameBuf)>, RecordingFailure> {
        let Some(slice) = params.slice else {
            return Ok(vec![make_one(name, label, split, span, events)?]);
        };
        if !events.t.windows(2).all(|w| w[0] <= w[1]) {
            return Err(fail(
                None,
                format!("sample {name}: slicing needs events in time order"),
            ));
        }
        slice
            .ranges(&events.t)
            .into_iter()
            .enumerate()
            .map(|(k, range)| {
                let part = events.slice(range);
                let span = whole_span(&part);
                make_one(slice_name(&name, k), label, split, span, &part)
            })
            .collect()
    };
    let mut samples = Vec::new();
    let events_decoded = match &recording.plan {
        RecordingPlan::GestureTrial {
            labels_csv,
            split,
            trial,
        } => {
            let text = std::fs::read(labels_csv)
                .map_err(|e| fail(None, format!("{}: {e}", labels_csv.display())))?;
            let windows = parse_labels_csv(labels_csv, &String::from_utf8_lossy(&text))
                .map_err(|e| fail(None, e.to_string()))?;
            let events = dvs_decode::read_all(&recording.path, recording.format, options)
                .map_err(|e| RecordingFailure::from_decode(&recording.id, &e))?;
            let sorted = events.t.windows(2).all(|w| w[0] <= w[1]);
            // A trial holds ~11 windows and a dataset few trials: integrate the
            // windows in parallel so that the workers stay busy. Results keep
            // window order, and the first failing window (in order) is reported.
            let made: Vec<Result<Vec<(SampleMeta, FrameBuf)>, RecordingFailure>> = windows
                .par_iter()
                .map(|w| {
                    let cut = cut_window(&events, w.start, w.end, sorted);
                    make(
                        format!("{trial}_{}", w.k),
                        w.label,
                        *split,
                        (w.start, w.end),
                        &cut,
                    )
                })
                .collect();
            for sample in made {
                samples.extend(sample?);
            }
            events.len() as u64
        }
        RecordingPlan::Windows(windows) => {
            let events = dvs_decode::read_all(&recording.path, recording.format, options)
                .map_err(|e| RecordingFailure::from_decode(&recording.id, &e))?;
            let sorted = events.t.windows(2).all(|w| w[0] <= w[1]);
            let made: Vec<Result<Vec<(SampleMeta, FrameBuf)>, RecordingFailure>> = windows
                .par_iter()
                .map(|w| match w.range {
                    Some((start, end)) => {
                        let cut = cut_window(&events, start, end, sorted);
                        make(w.name.clone(), w.label, w.split, (start, end), &cut)
                    }
                    None => make(
                        w.name.clone(),
                        w.label,
                        w.split,
                        whole_span(&events),
                        &events,
                    ),
                })
                .collect();
            for sample in made {
                samples.extend(sample?);
            }
            events.len() as u64
        }
        RecordingPlan::WholeFile { label, split, name } => {
            let events = dvs_decode::read_all(&recording.path, recording.format, options)
                .map_err(|e| RecordingFailure::from_decode(&recording.id, &e))?;
            samples.extend(make(
                name.clone(),
                *label,
                *split,
                whole_span(&events),
                &events,
            )?);
            events.len() as u64
        }
        RecordingPlan::Hdf5File => {
            let hdf5 = dvs_decode::read_hdf5_samples(&recording.path)
                .map_err(|e| RecordingFailure::from_decode(&recording.id, &e))?;
            let mut total = 0u64;
            for s in hdf5 {
                let split = if s.train { Split::Train } else { Split::Test };
                total += s.events.len() as u64;
                let span = whole_span(&s.events);
                samples.extend(make(s.key, s.label, split, span, &s.events)?);
            }
            total
        }
    };
    Ok(RecordingSamples {
        samples,
        events_decoded,
    })
}
