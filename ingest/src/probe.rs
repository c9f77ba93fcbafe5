//! `dvs-ingest probe FILE...` (issue 13): one recording's summary — format,
//! sensor size, streams, event count, duration, event rate, polarity balance
//! and time-order violations — for every [`Format`] `dvs-decode` detects.
//!
//! Definitions (issue 13): duration = last t − first t (µs, file order);
//! rate = events / duration in seconds; polarity balance = the ON share;
//! a time-order violation is an event whose t is smaller than the previous
//! event's t. HDF5 files hold pre-cut samples, not one stream: there the
//! duration is the sum of the samples' durations and violations are counted
//! within each sample.
//!
//! Streams are decoded packet by packet into one reused buffer, so probing a
//! large recording needs memory for the file bytes, not for its events.

use std::path::Path;

use dvs_decode::aedat4::Aedat4Reader;
use dvs_decode::atis_bin::AtisReader;
use dvs_decode::prophesee::{dat::DatReader, evt2::Evt2Reader, evt3::Evt3Reader};
use dvs_decode::{
    open_bytes, read_file_bytes, read_hdf5_samples, DecodeError, DecodeOptions, EventReader,
    Events, Format,
};
use serde::Serialize;

/// What `probe` found in one file.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Probe {
    /// The file as given.
    pub file: String,
    /// Detected format ([`Format::name`]).
    pub format: String,
    /// Sensor `[width, height]` when the file declares it (Prophesee header,
    /// AEDAT 4 stream info, AEDAT 3.1 `#Source` chip), the address format implies
    /// it (AEDAT 2.0 DVS128: 128 × 128) or the decoder checks against it (ATIS
    /// `.bin`); `None` otherwise.
    pub sensor: Option<[u16; 2]>,
    /// Declared streams (AEDAT 4.0 only; `None` for formats without streams).
    pub streams: Option<usize>,
    /// The declared streams as `"ID TYPE[ WxH]"` (AEDAT 4.0 only), e.g. `"2 EVTS 320x240"`.
    pub stream_list: Option<Vec<String>>,
    /// Pre-cut samples (HDF5 only).
    pub samples: Option<usize>,
    /// Decoded events.
    pub events: u64,
    /// Last t − first t in µs (HDF5: summed over samples); 0 without events.
    pub duration_us: i64,
    /// Events per second of duration; `None` when the duration is not positive.
    pub event_rate_hz: Option<f64>,
    /// Share of ON events; `None` without events.
    pub on_share: Option<f64>,
    /// Events whose t is smaller than the previous event's t.
    pub time_order_violations: u64,
}

/// Running event statistics of one stream (one HDF5 sample).
#[derive(Default)]
struct StreamStats {
    events: u64,
    on: u64,
    violations: u64,
    first_t: Option<i64>,
    last_t: i64,
}

impl StreamStats {
    fn add(&mut self, events: &Events) {
        for (&t, &p) in events.t.iter().zip(&events.p) {
            match self.first_t {
                None => self.first_t = Some(t),
                Some(_) if t < self.last_t => self.violations += 1,
                Some(_) => {}
            }
            self.last_t = t;
            self.on += u64::from(p != 0);
        }
        self.events += events.len() as u64;
    }

    fn duration_us(&self) -> i64 {
        self.first_t
            .map_or(0, |first| self.last_t.saturating_sub(first))
    }
}

/// Probes one recording; a file that does not decode is the decoder's
/// [`DecodeError`] (file, byte offset, reason).
pub fn probe(path: &Path, options: &DecodeOptions) -> Result<Probe, DecodeError> {
    let format = Format::detect_file(path)?;
    let mut sensor = None;
    let mut streams = None;
    let mut samples = None;
    let mut total = StreamStats::default();
    let mut duration_us = 0i64;
    let mut stream_list = None;
    if format == Format::Hdf5 && !dvs_decode::hdf5_events::is_events_file(path) {
        let decoded = read_hdf5_samples(path)?;
        samples = Some(decoded.len());
        for sample in &decoded {
            let mut stats = StreamStats::default();
            stats.add(&sample.events);
            duration_us = duration_us.saturating_add(stats.duration_us());
            total.events += stats.events;
            total.on += stats.on;
            total.violations += stats.violations;
        }
    } else {
        let bytes = read_file_bytes(path)?;
        let to_size = |(w, h): (u16, u16)| [w, h];
        let mut reader: Box<dyn EventReader + '_> = match format {
            Format::Aedat2 => {
                sensor = Some([128, 128]);
                open_bytes(path, &bytes[..], format, options)?
            }
            Format::Aedat4 => {
                let reader = Aedat4Reader::new(path, &bytes[..], options)?;
                streams = Some(reader.header().declared_streams.len());
                sensor = reader.sensor().map(to_size);
                let described = reader.streams().iter().map(|s| match s.size {
                    Some((w, h)) => format!("{} {} {w}x{h}", s.id, s.type_identifier),
                    None => format!("{} {}", s.id, s.type_identifier),
                });
                stream_list = Some(described.collect());
                Box::new(reader)
            }
            Format::AtisBin => {
                let reader = AtisReader::new(path, &bytes[..], options)?;
                sensor = Some(to_size(reader.sensor()));
                Box::new(reader)
            }
            Format::Evt2 => {
                let reader = Evt2Reader::new(path, &bytes[..], options)?;
                sensor = reader.geometry().map(to_size);
                Box::new(reader)
            }
            Format::Evt3 => {
                let reader = Evt3Reader::new(path, &bytes[..], options)?;
                sensor = reader.geometry().map(to_size);
                Box::new(reader)
            }
            Format::Dat => {
                let reader = DatReader::new(path, &bytes[..], options)?;
                sensor = reader.geometry().map(to_size);
                Box::new(reader)
            }
            Format::Aedat31 => {
                let reader = dvs_decode::aedat31::Aedat31Reader::new(path, &bytes[..], options)?;
                sensor = reader.sensor().map(to_size);
                Box::new(reader)
            }
            // HDF5 `events/{x,y,t,p}` streams are opened by path (libhdf5).
            Format::Hdf5 => dvs_decode::open(path, format, options)?,
            Format::Npy => open_bytes(path, &bytes[..], format, options)?,
        };
        let mut packet = Events::new();
        loop {
            packet.clear();
            let more = reader.read_packet(&mut packet)?;
            total.add(&packet);
            if !more {
                break;
            }
        }
        duration_us = total.duration_us();
    }
    let event_rate_hz = (duration_us > 0).then(|| total.events as f64 / (duration_us as f64 / 1e6));
    let on_share = (total.events > 0).then(|| total.on as f64 / total.events as f64);
    Ok(Probe {
        file: path.display().to_string(),
        format: format.name().to_string(),
        sensor,
        streams,
        stream_list,
        samples,
        events: total.events,
        duration_us,
        event_rate_hz,
        on_share,
        time_order_violations: total.violations,
    })
}

/// The readable table of `probes` (one row per file; "-" where a value does
/// not apply).
pub fn table(probes: &[Probe]) -> String {
    let dash = || "-".to_string();
    let mut rows = vec![[
        "file",
        "format",
        "sensor",
        "streams",
        "events",
        "duration s",
        "events/s",
        "ON share",
        "t-order viol.",
    ]
    .map(String::from)];
    for p in probes {
        let streams = match (&p.stream_list, p.streams, p.samples) {
            (Some(list), _, _) => list.join(", "),
            (None, Some(n), _) => n.to_string(),
            (None, None, Some(n)) => format!("{n} samples"),
            (None, None, None) => dash(),
        };
        rows.push([
            p.file.clone(),
            p.format.clone(),
            p.sensor.map_or_else(dash, |[w, h]| format!("{w}x{h}")),
            streams,
            p.events.to_string(),
            format!("{:.6}", p.duration_us as f64 / 1e6),
            p.event_rate_hz.map_or_else(dash, |r| format!("{r:.0}")),
            p.on_share.map_or_else(dash, |s| format!("{s:.4}")),
            p.time_order_violations.to_string(),
        ]);
    }
    let mut widths = [0usize; 9];
    for row in &rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let mut out = String::new();
    for row in &rows {
        let cells: Vec<String> = row
            .iter()
            .zip(widths)
            .enumerate()
            .map(|(i, (cell, w))| {
                // File and format read left-aligned, numbers right-aligned.
                if i < 2 {
                    format!("{cell:<w$}")
                } else {
                    format!("{cell:>w$}")
                }
            })
            .collect();
        out.push_str(cells.join("  ").trim_end());
        out.push('\n');
    }
    out
}
