//! The `folder` and `table` layouts and any-sensor geometry, on recordings written by the
//! dvs-fixtures encoders (EVT 3.0 / DAT / AEDAT 4 on non-square sensors, `.npy`):
//! class names from sorted folder names, stated `train/` + `test/` splits, the seeded
//! stratified split, per-file format detection, a recording declaring another sensor failing
//! alone, `--crop` + non-square integration equal to counting the events by hand, and table
//! windows with errors naming the table file and row.

mod common;

use std::path::Path;

use dvs_fixtures::prophesee::{burst_events, encode_dat, encode_evt3, RawOptions};
use dvs_fixtures::Event;
use dvs_ingest::{DatasetKind, IngestConfig, SplitBy};

fn evt3(path: &Path, events: &[Event], width: u16, height: u16) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(
        path,
        encode_evt3(events, width, height, &RawOptions::default()),
    )
    .unwrap();
}

fn config(kind: DatasetKind, input: &Path, output: &Path) -> IngestConfig {
    IngestConfig {
        frames: 3,
        jobs: 2,
        ..IngestConfig::new(kind, input, output)
    }
}

fn info(dir: &Path) -> dvs_frames::DatasetInfo {
    dvs_frames::DatasetInfo::read(dir).unwrap()
}

#[test]
fn folder_classes_splits_formats_and_a_foreign_sensor() {
    let tmp = tempfile::tempdir().unwrap();
    let raw = tmp.path().join("raw");
    // Stated splits: train/ and test/ above the class folders (class sets differ per split).
    for (split, class, k, seed) in [
        ("train", "zebra", 0, 1),
        ("train", "ant", 0, 2),
        ("train", "ant", 1, 3),
        ("test", "ant", 0, 4),
        ("test", "moth", 0, 5),
    ] {
        let events = burst_events(300, seed, 40, 30, 0);
        let dir = raw.join(split).join(class);
        if k == 1 {
            std::fs::create_dir_all(&dir).unwrap();
            std::fs::write(dir.join("rec1.dat"), encode_dat(&events, 40, 30)).unwrap();
        } else {
            evt3(&dir.join(format!("rec{k}.raw")), &events, 40, 30);
        }
    }
    // Not a recording: skipped. A recording extension that is not one: fails alone. Another
    // sensor: fails alone (naming --sensor).
    std::fs::write(raw.join("train/ant/notes.txt"), "hello").unwrap();
    std::fs::write(raw.join("train/ant/broken.raw"), "garbage").unwrap();
    evt3(
        &raw.join("train/zebra/big.raw"),
        &burst_events(50, 9, 64, 64, 0),
        64,
        64,
    );
    let out = tmp.path().join("data");
    let summary = dvs_ingest::run(&config(DatasetKind::Folder, &raw, &out), false).unwrap();
    let failed: Vec<&str> = summary.failures.iter().map(|f| f.file.as_str()).collect();
    assert_eq!(failed, vec!["train/ant/broken.raw", "train/zebra/big.raw"]);
    let big = &summary.failures[1];
    assert!(
        big.reason.contains("64x64")
            && big.reason.contains("40x30")
            && big.reason.contains("--sensor"),
        "{}",
        big.reason
    );
    let info = info(&out);
    assert_eq!(info.classes, vec!["ant", "moth", "zebra"]);
    assert_eq!((info.height, info.width), (30, 40));
    assert_eq!(info.params["sensor_width"], 40);
    let samples = common::read_dataset(&out);
    let ids: Vec<&str> = samples.keys().map(String::as_str).collect();
    assert_eq!(
        ids,
        vec![
            "test/ant/rec0",
            "test/moth/rec0",
            "train/ant/rec0",
            "train/ant/rec1",
            "train/zebra/rec0"
        ]
    );
    assert_eq!(samples["test/moth/rec0"].0, 1);
    assert_eq!(samples["train/zebra/rec0"].2, [3, 2, 30, 40]);
    // With --sensor the big recording joins (the others fit in 64x64 too).
    let out2 = tmp.path().join("data2");
    let with_sensor = IngestConfig {
        sensor: Some("64x64".parse().unwrap()),
        ..config(DatasetKind::Folder, &raw, &out2)
    };
    let summary = dvs_ingest::run(&with_sensor, false).unwrap();
    assert_eq!(summary.failures.len(), 1, "{:?}", summary.failures);
    assert_eq!(dvs_frames::DatasetInfo::read(&out2).unwrap().width, 64);
}

#[test]
fn the_seeded_split_is_stratified_and_follows_the_seed() {
    let tmp = tempfile::tempdir().unwrap();
    let raw = tmp.path().join("raw");
    for (class, n) in [("a", 10), ("b", 5)] {
        for k in 0..n {
            let events = burst_events(40, 100 + k as u64, 32, 16, 0);
            evt3(
                &raw.join(class).join(format!("r{k:02}.raw")),
                &events,
                32,
                16,
            );
        }
    }
    let test_ids = |seed: u64, out: &str| {
        let cfg = IngestConfig {
            test_ratio: Some("0.3".parse().unwrap()),
            split_seed: Some(seed),
            ..config(DatasetKind::Folder, &raw, &tmp.path().join(out))
        };
        dvs_ingest::run(&cfg, false).unwrap();
        let rows = dvs_ingest::manifest::read(&cfg.output).unwrap();
        let mut test: Vec<String> = rows
            .into_iter()
            .filter(|r| r.meta.split == dvs_ingest::Split::Test)
            .map(|r| r.meta.source_file)
            .collect();
        test.sort();
        test
    };
    let first = test_ids(1, "s1");
    // round(10 * 0.3) = 3 of a, round(5 * 0.3) = 2 (1.5 rounds up) of b.
    assert_eq!(
        first.iter().filter(|f| f.starts_with("a/")).count(),
        3,
        "{first:?}"
    );
    assert_eq!(
        first.iter().filter(|f| f.starts_with("b/")).count(),
        2,
        "{first:?}"
    );
    assert_eq!(test_ids(1, "s1b"), first, "same seed, same split");
    let others: Vec<Vec<String>> = (2..6).map(|s| test_ids(s, &format!("s{s}"))).collect();
    assert!(
        others.iter().any(|o| *o != first),
        "the seed changes the split"
    );
}

#[test]
fn crop_and_non_square_frames_count_the_events_by_hand() {
    let tmp = tempfile::tempdir().unwrap();
    let raw = tmp.path().join("raw");
    let (width, height) = (50u16, 20u16);
    let events = burst_events(2000, 7, width, height, 10);
    evt3(&raw.join("only/rec.raw"), &events, width, height);
    let crop: dvs_ingest::geometry::Crop = "5,3,30,12".parse().unwrap();
    let out = tmp.path().join("data");
    let cfg = IngestConfig {
        crop: Some(crop),
        frames: 2,
        split_by: SplitBy::Number,
        test_ratio: Some("0".parse().unwrap()),
        ..config(DatasetKind::Folder, &raw, &out)
    };
    let summary = dvs_ingest::run(&cfg, false).unwrap();
    assert!(summary.failures.is_empty());
    let samples = common::read_dataset(&out);
    let (_, frames, shape) = &samples["train/only/rec"];
    assert_eq!(*shape, [2, 2, 12, 30]);
    // By hand: keep the events inside the crop, shift them, split by number into 2 frames.
    let kept: Vec<&Event> = events
        .iter()
        .filter(|e| (5..35).contains(&e.x) && (3..15).contains(&e.y))
        .collect();
    let mut expected = vec![0f32; 2 * 2 * 12 * 30];
    let per = kept.len() / 2;
    for (i, e) in kept.iter().enumerate() {
        let j = if i < per { 0 } else { 1 };
        let c = usize::from(e.on);
        expected[((j * 2 + c) * 12 + (e.y as usize - 3)) * 30 + (e.x as usize - 5)] += 1.0;
    }
    assert_eq!(*frames, expected);
    let rows = dvs_ingest::manifest::read(&out).unwrap();
    assert_eq!(
        rows[0].meta.events_dropped as usize,
        events.len() - kept.len()
    );
    // A crop reaching past the sensor is a setting error naming both.
    let past = IngestConfig {
        crop: Some("30,0,30,10".parse().unwrap()),
        overwrite: true,
        ..cfg.clone()
    };
    let err = dvs_ingest::run(&past, false).unwrap_err().to_string();
    assert!(err.contains("30,0,30,10") && err.contains("50x20"), "{err}");
}

#[test]
fn table_windows_splits_and_row_errors() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("set");
    let events = burst_events(3000, 21, 24, 24, 0);
    let t = |i: usize| events[i].t;
    evt3(&dir.join("long/a.raw"), &events, 24, 24);
    evt3(&dir.join("b.raw"), &events[..500], 24, 24);
    let (w0, w1, w2) = ((t(0), t(900)), (t(900), t(2000)), (t(100), t(2999) + 1));
    let csv = format!(
        "path,label,split,start_us,end_us,comment\n\
         long/a.raw,wave,train,{},{},first\n\
         long/a.raw,clap,test,{},{},\n\
         long/a.raw,wave,train,{},{},\"overlaps, on purpose\"\n\
         b.raw,10,train,,,whole file\n\
         b.raw,wave,sometimes,,,bad split\n\
         b.raw,wave,train,5,,half a window\n\
         missing.raw,wave,train,,,no file\n",
        w0.0, w0.1, w1.0, w1.1, w2.0, w2.1
    );
    let table = dir.join("labels.csv");
    std::fs::write(&table, csv).unwrap();
    let out = tmp.path().join("data");
    let summary = dvs_ingest::run(&config(DatasetKind::Table, &table, &out), false).unwrap();
    let reasons: Vec<String> = summary
        .failures
        .iter()
        .map(|f| format!("{}: {}", f.file, f.reason))
        .collect();
    assert_eq!(reasons.len(), 3, "{reasons:#?}");
    let table_name = table.display().to_string();
    assert!(reasons
        .iter()
        .any(|r| r.contains(&format!("{table_name} row 5")) && r.contains("sometimes")));
    assert!(reasons
        .iter()
        .any(|r| r.contains(&format!("{table_name} row 6")) && r.contains("end_us")));
    assert!(reasons
        .iter()
        .any(|r| r.starts_with("missing.raw") && r.contains("rows 7")));
    let info = info(&out);
    // Labels are names; "10" is a name too (not all labels are integers): text order.
    assert_eq!(info.classes, vec!["10", "clap", "wave"]);
    let rows = dvs_ingest::manifest::read(&out).unwrap();
    let by_name: std::collections::BTreeMap<String, _> = rows
        .iter()
        .map(|r| (r.meta.sample_id.clone(), &r.meta))
        .collect();
    let ids: Vec<&str> = by_name.keys().map(String::as_str).collect();
    assert_eq!(
        ids,
        vec![
            "test/clap/long_a_1",
            "train/10/b",
            "train/wave/long_a_0",
            "train/wave/long_a_2"
        ]
    );
    let count =
        |(s, e): (i64, i64)| events.iter().filter(|ev| s <= ev.t && ev.t < e).count() as u64;
    assert_eq!(by_name["train/wave/long_a_0"].event_count, count(w0));
    assert_eq!(by_name["test/clap/long_a_1"].event_count, count(w1));
    assert_eq!(by_name["train/wave/long_a_2"].event_count, count(w2));
    assert_eq!(by_name["train/10/b"].event_count, 500);
    assert_eq!(
        (
            by_name["test/clap/long_a_1"].t_start,
            by_name["test/clap/long_a_1"].t_end
        ),
        w1
    );
    // A table without a label column is an error of the run, naming the file.
    let bad = dir.join("bad.csv");
    std::fs::write(&bad, "path,class\nb.raw,x\n").unwrap();
    let err = dvs_ingest::run(
        &config(DatasetKind::Table, &bad, &tmp.path().join("x")),
        false,
    )
    .unwrap_err()
    .to_string();
    assert!(err.contains("bad.csv") && err.contains("label"), "{err}");
}

/// A parquet table `path, label, start_us, end_us` (the times nullable), written with the
/// parquet crate as pandas / pyarrow write one.
fn parquet_table(rows: &[(&str, &str, Option<i64>, Option<i64>)]) -> Vec<u8> {
    use parquet::basic::Compression;
    use parquet::data_type::{ByteArray, ByteArrayType, Int64Type};
    use parquet::file::properties::WriterProperties;
    use parquet::file::writer::SerializedFileWriter;
    use std::sync::Arc;
    let schema = Arc::new(
        parquet::schema::parser::parse_message_type(
            "message schema { OPTIONAL BYTE_ARRAY path (STRING); OPTIONAL BYTE_ARRAY label (STRING); \
             OPTIONAL INT64 start_us; OPTIONAL INT64 end_us; }",
        )
        .unwrap(),
    );
    let props = WriterProperties::builder()
        .set_compression(Compression::UNCOMPRESSED)
        .build();
    let mut bytes = Vec::new();
    let mut writer = SerializedFileWriter::new(&mut bytes, schema, Arc::new(props)).unwrap();
    let mut group = writer.next_row_group().unwrap();
    let all = vec![1i16; rows.len()];
    type Row<'a> = (&'a str, &'a str, Option<i64>, Option<i64>);
    let texts: [fn(&Row) -> String; 2] = [|r| r.0.to_string(), |r| r.1.to_string()];
    for text in texts {
        let mut column = group.next_column().unwrap().unwrap();
        let values: Vec<ByteArray> = rows
            .iter()
            .map(|r| ByteArray::from(text(r).as_str()))
            .collect();
        column
            .typed::<ByteArrayType>()
            .write_batch(&values, Some(&all), None)
            .unwrap();
        column.close().unwrap();
    }
    let times: [fn(&Row) -> Option<i64>; 2] = [|r| r.2, |r| r.3];
    for time in times {
        let mut column = group.next_column().unwrap().unwrap();
        let values: Vec<i64> = rows.iter().filter_map(time).collect();
        let defined: Vec<i16> = rows.iter().map(|r| i16::from(time(r).is_some())).collect();
        column
            .typed::<Int64Type>()
            .write_batch(&values, Some(&defined), None)
            .unwrap();
        column.close().unwrap();
    }
    group.close().unwrap();
    writer.close().unwrap();
    bytes
}

#[test]
fn a_parquet_table_gives_the_bytes_of_the_same_csv_table() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("set");
    let events = burst_events(2000, 31, 36, 20, 0);
    evt3(&dir.join("rec.raw"), &events, 36, 20);
    std::fs::write(dir.join("short.dat"), encode_dat(&events[..300], 36, 20)).unwrap();
    let (a, b, c) = (events[0].t, events[1200].t, events[1999].t + 1);
    let rows = [
        ("rec.raw", "left", Some(a), Some(b)),
        ("rec.raw", "right", Some(b), Some(c)),
        ("short.dat", "left", None, None),
    ];
    std::fs::write(dir.join("labels.parquet"), parquet_table(&rows)).unwrap();
    let mut csv = String::from("path,label,start_us,end_us\n");
    for (p, l, s, e) in rows {
        let cell = |v: Option<i64>| v.map(|v| v.to_string()).unwrap_or_default();
        csv += &format!("{p},{l},{},{}\n", cell(s), cell(e));
    }
    std::fs::write(dir.join("labels.csv"), csv).unwrap();
    let mut outputs = Vec::new();
    for name in ["labels.parquet", "labels.csv"] {
        let out = tmp.path().join(name.replace('.', "_"));
        let summary =
            dvs_ingest::run(&config(DatasetKind::Table, &dir.join(name), &out), false).unwrap();
        assert!(summary.failures.is_empty(), "{:?}", summary.failures);
        let mut files = common::snapshot(&out);
        files.remove("ingest-config.toml"); // names its input
        outputs.push(files);
    }
    assert_eq!(outputs[0].len(), outputs[1].len());
    assert!(
        outputs[0] == outputs[1],
        "parquet and CSV tables give different datasets"
    );
    let info = info(&tmp.path().join("labels_csv"));
    assert_eq!(info.classes, vec!["left", "right"]);
    assert_eq!((info.height, info.width), (20, 36));
}

#[test]
fn a_folder_of_a_declared_sensor_merges_from_parts_to_the_bytes_of_one_run() {
    use dvs_ingest::merge::{merge, MergeConfig, PartSpec};
    let tmp = tempfile::tempdir().unwrap();
    let raw = tmp.path().join("raw");
    for (class, seed) in [("a", 1), ("a", 2), ("b", 3), ("b", 4), ("b", 5)] {
        let events = burst_events(200, seed, 40, 30, 0);
        evt3(
            &raw.join(class).join(format!("r{seed}.raw")),
            &events,
            40,
            30,
        );
    }
    let single = tmp.path().join("single");
    dvs_ingest::run(&config(DatasetKind::Folder, &raw, &single), false).unwrap();
    let parts: Vec<_> = (1..=2)
        .map(|index| {
            let dir = tmp.path().join(format!("part{index}"));
            let spec = PartSpec { index, count: 2 };
            dvs_ingest::pipeline::run_part(&config(DatasetKind::Folder, &raw, &dir), spec, false)
                .unwrap();
            dir
        })
        .collect();
    let merged = tmp.path().join("merged");
    let cfg = MergeConfig {
        parts,
        output: merged.clone(),
        jobs: 1,
        overwrite: false,
    };
    merge(&cfg, false).unwrap();
    let (mut a, mut b) = (common::snapshot(&single), common::snapshot(&merged));
    a.remove("ingest-config.toml");
    b.remove("ingest-config.toml");
    assert_eq!(a.keys().collect::<Vec<_>>(), b.keys().collect::<Vec<_>>());
    assert!(a == b, "merged parts differ from the single run");
}
