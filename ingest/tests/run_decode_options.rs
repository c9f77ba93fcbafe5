//! The decoder options of `dvs-ingest run` on `folder` datasets written by the dvs-fixtures
//! encoders: `--stream` choosing an AEDAT 4 file's second event stream (frames of that
//! stream's events, the other recordings unchanged), `--atis-sensor ncaltech101`,
//! `--npy-time-unit ms` with `--npy-columns xypt` (tonic's preconverted arrays), HDF5
//! `events/{x,y,t,p}` files as whole recordings with `--sensor` (in a folder and a table; a
//! DECOLLE file of pre-cut samples fails alone), and `--time-order error`
//! failing the one recording whose time goes backwards (named in `errors.json` with its
//! offset and reason) while the others are written.

mod common;

use std::path::Path;

use dvs_fixtures::aedat4::{multi_stream_file, MultiStreamSpec, PacketCompression};
use dvs_fixtures::hdf5_events::{write_events_h5, H5EventsLayout};
use dvs_fixtures::hdf5_layout::{Hdf5Sample, Hdf5Writer};
use dvs_fixtures::npy::NpyLayout;
use dvs_fixtures::prophesee::{burst_events, encode_evt3, RawOptions};
use dvs_fixtures::Event;
use dvs_ingest::config::{AtisSensorChoice, NpyColumnsChoice, NpyTimeUnitChoice, TimeOrderChoice};
use dvs_ingest::geometry::SensorSize;
use dvs_ingest::integrate::FrameGeometry;
use dvs_ingest::report::ErrorsReport;
use dvs_ingest::{DatasetKind, IngestConfig, SplitBy};

const FRAMES: usize = 3;

fn write(path: &Path, bytes: &[u8]) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, bytes).unwrap();
}

/// A folder run of `input` into `output`, everything in the train split.
fn config(input: &Path, output: &Path) -> IngestConfig {
    IngestConfig {
        frames: FRAMES,
        split_by: SplitBy::Number,
        test_ratio: Some("0".parse().unwrap()),
        jobs: 2,
        ..IngestConfig::new(DatasetKind::Folder, input, output)
    }
}

/// The frames of `events` integrated on a `width` x `height` sensor, as the run stores them.
fn expected_frames(events: &[Event], width: usize, height: usize) -> Vec<f32> {
    let t: Vec<i64> = events.iter().map(|e| e.t).collect();
    let x: Vec<u16> = events.iter().map(|e| e.x).collect();
    let y: Vec<u16> = events.iter().map(|e| e.y).collect();
    let p: Vec<u8> = events.iter().map(|e| u8::from(e.on)).collect();
    let geometry = FrameGeometry {
        frames: FRAMES,
        height,
        width,
    };
    let counts = dvs_ingest::integrate(&t, &x, &y, &p, SplitBy::Number, geometry).unwrap();
    counts.counts.iter().map(|&c| c as f32).collect()
}

#[test]
fn stream_chooses_the_second_event_stream_of_an_aedat4_file() {
    let tmp = tempfile::tempdir().unwrap();
    let raw = tmp.path().join("raw");
    let (width, height) = (40u16, 30u16);
    let (bytes, main, second) = multi_stream_file(&MultiStreamSpec {
        compression: PacketCompression::Lz4,
        source: "DVXplorer",
        width,
        height,
        events: 3000,
        per_packet: 500,
        seed: 11,
    });
    assert!(second.len() >= FRAMES && main != second);
    write(&raw.join("cam/multi.aedat4"), &bytes);
    let other = burst_events(400, 12, width, height, 0);
    write(
        &raw.join("cam/other.raw"),
        &encode_evt3(&other, width, height, &RawOptions::default()),
    );

    let default_out = tmp.path().join("default");
    let default_run = dvs_ingest::run(&config(&raw, &default_out), false).unwrap();
    assert!(
        default_run.failures.is_empty(),
        "{:?}",
        default_run.failures
    );
    let chosen_out = tmp.path().join("stream4");
    let chosen_cfg = IngestConfig {
        stream: Some(4),
        ..config(&raw, &chosen_out)
    };
    let chosen_run = dvs_ingest::run(&chosen_cfg, false).unwrap();
    assert!(chosen_run.failures.is_empty(), "{:?}", chosen_run.failures);
    assert_ne!(chosen_run.params_hash, default_run.params_hash);

    let (w, h) = (width as usize, height as usize);
    let by_default = common::read_dataset(&default_out);
    let chosen = common::read_dataset(&chosen_out);
    let (_, default_frames, shape) = &by_default["train/cam/multi"];
    assert_eq!(*shape, [FRAMES, 2, h, w]);
    assert_eq!(*default_frames, expected_frames(&main, w, h));
    let (_, chosen_frames, _) = &chosen["train/cam/multi"];
    assert_eq!(*chosen_frames, expected_frames(&second, w, h));
    assert_ne!(chosen_frames, default_frames);
    // The stream id means nothing to the EVT 3.0 recording: its sample is the same.
    assert_eq!(chosen["train/cam/other"], by_default["train/cam/other"]);
    let saved = std::fs::read_to_string(chosen_out.join("ingest-config.toml")).unwrap();
    assert!(saved.contains("stream = 4\n"), "{saved}");

    // A stream the file does not hold (the frames stream) fails that recording alone.
    let frames_out = tmp.path().join("stream3");
    let frames_cfg = IngestConfig {
        stream: Some(3),
        ..config(&raw, &frames_out)
    };
    let summary = dvs_ingest::run(&frames_cfg, false).unwrap();
    let failed: Vec<&str> = summary.failures.iter().map(|f| f.file.as_str()).collect();
    assert_eq!(failed, ["cam/multi.aedat4"]);
    let reason = &summary.failures[0].reason;
    assert!(
        reason.contains("stream 3") && reason.contains("streams:"),
        "{reason}"
    );
    assert_eq!(summary.recordings_ok, 1);
}

#[test]
fn atis_ncaltech101_accepts_what_the_nmnist_sensor_refuses() {
    let tmp = tempfile::tempdir().unwrap();
    let raw = tmp.path().join("raw");
    let recordings: Vec<(String, Vec<Event>)> = ["faces", "leopards"]
        .iter()
        .enumerate()
        .map(|(k, class)| {
            let events = burst_events(500, 20 + k as u64, 180, 120, 0);
            (format!("{class}/image_0001"), events)
        })
        .collect();
    for (name, events) in &recordings {
        write(
            &raw.join(format!("{name}.bin")),
            &dvs_fixtures::atis::encode_auto(events),
        );
    }
    // N-MNIST's 34x34 sensor (the default): every recording has events past it.
    let nmnist = dvs_ingest::run(&config(&raw, &tmp.path().join("nmnist")), false).unwrap();
    assert_eq!(
        nmnist.failures.len(),
        recordings.len(),
        "{:?}",
        nmnist.failures
    );
    assert_eq!(nmnist.recordings_ok, 0);

    let out = tmp.path().join("ncaltech");
    let cfg = IngestConfig {
        atis_sensor: Some(AtisSensorChoice::Ncaltech101),
        ..config(&raw, &out)
    };
    let summary = dvs_ingest::run(&cfg, false).unwrap();
    assert!(summary.failures.is_empty(), "{:?}", summary.failures);
    let samples = common::read_dataset(&out);
    // The format bounds: x < 256, y < 240.
    for (name, events) in &recordings {
        let (_, frames, shape) = &samples[&format!("train/{name}")];
        assert_eq!(*shape, [FRAMES, 2, 240, 256]);
        assert_eq!(*frames, expected_frames(events, 256, 240));
    }
}

#[test]
fn npy_in_milliseconds_with_tonic_columns() {
    let tmp = tempfile::tempdir().unwrap();
    let raw = tmp.path().join("raw");
    let (width, height) = (32u16, 24u16);
    // tonic's preconverted arrays: plain (N, 4) `x, y, p, t` with t in ms.
    let mut events = burst_events(600, 31, width, height, 5);
    for e in &mut events {
        e.t *= 1000;
    }
    let layout = NpyLayout {
        time_divisor: 1000,
        ..NpyLayout::plain("<i8", ['x', 'y', 'p', 't'])
    };
    write(
        &raw.join("wave/trial.npy"),
        &dvs_fixtures::npy::encode(&events, &layout),
    );
    let sensor = SensorSize {
        width: width as usize,
        height: height as usize,
    };
    let base = IngestConfig {
        sensor: Some(sensor),
        ..config(&raw, &tmp.path().join("unset"))
    };
    // The plain array carries no column names: refused unless its order is stated.
    let refused = dvs_ingest::run(&base, false).unwrap();
    assert_eq!(refused.failures.len(), 1, "{:?}", refused.failures);

    let mut hashes = Vec::new();
    let mut spans = Vec::new();
    for (unit, dir) in [(NpyTimeUnitChoice::Us, "us"), (NpyTimeUnitChoice::Ms, "ms")] {
        let out = tmp.path().join(dir);
        let cfg = IngestConfig {
            npy_columns: Some(NpyColumnsChoice::Xypt),
            npy_time_unit: Some(unit),
            output: out.clone(),
            ..base.clone()
        };
        let summary = dvs_ingest::run(&cfg, false).unwrap();
        assert!(summary.failures.is_empty(), "{:?}", summary.failures);
        hashes.push(summary.params_hash);
        let rows = dvs_ingest::manifest::read(&out).unwrap();
        assert_eq!(rows.len(), 1);
        spans.push((rows[0].meta.t_start, rows[0].meta.t_end));
        let (_, frames, _) = &common::read_dataset(&out)["train/wave/trial"];
        assert_eq!(
            *frames,
            expected_frames(&events, width as usize, height as usize)
        );
    }
    // In ms the recorded times are the events' own µs; read as µs they are 1000 times smaller.
    let (first, last) = (events[0].t, events.last().unwrap().t);
    assert_eq!(spans[1], (first, last + 1));
    assert_eq!(spans[0], (first / 1000, last / 1000 + 1));
    assert_ne!(hashes[0], hashes[1]);
}

#[test]
fn hdf5_event_files_in_a_folder_are_whole_recordings_on_the_given_sensor() {
    let tmp = tempfile::tempdir().unwrap();
    let raw = tmp.path().join("raw");
    let (width, height) = (48u16, 36u16);
    let mut recordings = Vec::new();
    for (k, layout) in H5EventsLayout::catalogue().iter().enumerate() {
        let events = burst_events(400, 40 + k as u64, width, height, 1_000);
        let name = format!("class{}/rec{k}", k % 2);
        let path = raw.join(format!("{name}.h5"));
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        write_events_h5(&path, &events, layout).unwrap();
        recordings.push((name, events));
    }
    // They state no size: without --sensor the run names the flag.
    let err = dvs_ingest::run(&config(&raw, &tmp.path().join("nosensor")), false)
        .unwrap_err()
        .to_string();
    assert!(err.contains("--sensor"), "{err}");

    // A DECOLLE file of pre-cut samples is no one recording: it fails alone, pointing to the
    // `hdf5` dataset kind.
    let mut decolle = Hdf5Writer::create(&raw.join("class1/decolle.hdf5")).unwrap();
    decolle
        .add(&Hdf5Sample {
            subject: "user01".into(),
            light: "led".into(),
            train: true,
            label: 0,
            events: burst_events(100, 49, 128, 128, 0),
        })
        .unwrap();
    decolle.finish().unwrap();
    let sensor = Some(SensorSize {
        width: width as usize,
        height: height as usize,
    });

    let out = tmp.path().join("data");
    let cfg = IngestConfig {
        sensor,
        ..config(&raw, &out)
    };
    let summary = dvs_ingest::run(&cfg, false).unwrap();
    let failed: Vec<&str> = summary.failures.iter().map(|f| f.file.as_str()).collect();
    assert_eq!(failed, ["class1/decolle.hdf5"]);
    assert!(
        summary.failures[0].reason.contains("--dataset hdf5"),
        "{}",
        summary.failures[0].reason
    );
    let samples = common::read_dataset(&out);
    assert_eq!(samples.len(), recordings.len());
    for (name, events) in &recordings {
        let (_, frames, shape) = &samples[&format!("train/{name}")];
        assert_eq!(*shape, [FRAMES, 2, height as usize, width as usize]);
        assert_eq!(
            *frames,
            expected_frames(events, width as usize, height as usize)
        );
    }

    // A table over the same files: the whole-recording rows give the same frames.
    let mut csv = String::from("path,label,split\n");
    for (name, _) in &recordings {
        let class = name.split('/').next().unwrap();
        csv.push_str(&format!("{name}.h5,{class},train\n"));
    }
    write(&raw.join("table.csv"), csv.as_bytes());
    let table_out = tmp.path().join("table");
    let table_cfg = IngestConfig {
        sensor,
        ..IngestConfig::new(DatasetKind::Table, raw.join("table.csv"), &table_out)
    };
    let table_cfg = IngestConfig {
        frames: FRAMES,
        split_by: SplitBy::Number,
        jobs: 2,
        ..table_cfg
    };
    let summary = dvs_ingest::run(&table_cfg, false).unwrap();
    assert!(summary.failures.is_empty(), "{:?}", summary.failures);
    let from_table: Vec<Vec<f32>> = common::read_dataset(&table_out)
        .into_values()
        .map(|(_, frames, _)| frames)
        .collect();
    let mut from_folder: Vec<Vec<f32>> = samples.into_values().map(|(_, f, _)| f).collect();
    let mut sorted_table = from_table.clone();
    sorted_table.sort_by(|a, b| a.partial_cmp(b).unwrap());
    from_folder.sort_by(|a, b| a.partial_cmp(b).unwrap());
    assert_eq!(sorted_table, from_folder);
}

#[test]
fn time_order_error_fails_only_the_recording_whose_time_goes_back() {
    let tmp = tempfile::tempdir().unwrap();
    let raw = tmp.path().join("raw");
    let (width, height) = (20u16, 20u16);
    let layout = NpyLayout::structured(&[("t", "<i8"), ("x", "<u2"), ("y", "<u2"), ("p", "|i1")]);
    let item_bytes = 8 + 2 + 2 + 1;
    let mut back_index = 0;
    let mut back_len = 0;
    for k in 0..3u64 {
        let mut events = burst_events(300, 50 + k, width, height, 100);
        if k == 1 {
            // One event 50 µs before its predecessor.
            back_index = 200;
            events[back_index].t = events[back_index - 1].t - 50;
        }
        let bytes = dvs_fixtures::npy::encode(&events, &layout);
        if k == 1 {
            back_len = bytes.len();
        }
        write(&raw.join(format!("c{k}/rec.npy")), &bytes);
    }
    let sensor = Some(SensorSize {
        width: width as usize,
        height: height as usize,
    });
    let kept = dvs_ingest::run(
        &IngestConfig {
            sensor,
            ..config(&raw, &tmp.path().join("as-stored"))
        },
        false,
    )
    .unwrap();
    assert!(kept.failures.is_empty(), "{:?}", kept.failures);
    assert_eq!(kept.recordings_ok, 3);

    let out = tmp.path().join("strict");
    let cfg = IngestConfig {
        sensor,
        time_order: Some(TimeOrderChoice::Error),
        ..config(&raw, &out)
    };
    let summary = dvs_ingest::run(&cfg, false).unwrap();
    assert_eq!(summary.recordings_ok, 2);
    let report = ErrorsReport::read(&out).unwrap();
    assert_eq!(report.recordings_failed, 1);
    let failure = &report.failures[0];
    assert_eq!(failure.file, "c1/rec.npy");
    // The offset of the block of rows holding it: the first row (the file is one block).
    assert_eq!(failure.offset, Some((back_len - 300 * item_bytes) as u64));
    assert!(
        failure.reason.contains("time goes backwards")
            && failure.reason.contains(&format!("event {back_index}")),
        "{}",
        failure.reason
    );
    let samples = common::read_dataset(&out);
    let names: Vec<&str> = samples.keys().map(String::as_str).collect();
    assert_eq!(names, ["train/c0/rec", "train/c2/rec"]);
}
