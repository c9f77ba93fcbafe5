//! `dvs-ingest probe` (issue 13) on files written with the dvs-fixtures
//! encoders: the JSON numbers (event count, duration, rate, ON share,
//! time-order violations, sensor, streams) equal what the encoder wrote, for
//! every stream format over several sizes and seeds; an out-of-order file
//! counts its violations; a broken file is reported by name and the others
//! are still probed (exit 2); nothing decodable or nothing given is exit 1.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use dvs_fixtures::aedat4::PacketCompression;
use dvs_fixtures::npy::NpyLayout;
use dvs_fixtures::prophesee::{burst_events, encode_dat, encode_evt2, encode_evt3, RawOptions};
use dvs_fixtures::{aedat2, aedat31, aedat4, atis, npy, Event};
use serde_json::Value;

fn probe_cli(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_dvs-ingest"))
        .env("RUST_LOG", "warn")
        .arg("probe")
        .args(args)
        .output()
        .expect("spawn dvs-ingest")
}

fn write(dir: &Path, name: &str, bytes: &[u8]) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, bytes).unwrap();
    path
}

/// What `probe` must report for `events` decoded in this order.
struct Expected {
    events: u64,
    duration_us: i64,
    on_share: Option<f64>,
    violations: u64,
}

fn expected(events: &[Event]) -> Expected {
    let violations = events.windows(2).filter(|w| w[1].t < w[0].t).count() as u64;
    let on = events.iter().filter(|e| e.on).count();
    Expected {
        events: events.len() as u64,
        duration_us: match (events.first(), events.last()) {
            (Some(a), Some(b)) => b.t - a.t,
            _ => 0,
        },
        on_share: (!events.is_empty()).then(|| on as f64 / events.len() as f64),
        violations,
    }
}

fn check(row: &Value, want: &Expected, what: &str) {
    assert_eq!(row["events"].as_u64(), Some(want.events), "{what}: {row}");
    assert_eq!(
        row["duration_us"].as_i64(),
        Some(want.duration_us),
        "{what}: {row}"
    );
    assert_eq!(
        row["time_order_violations"].as_u64(),
        Some(want.violations),
        "{what}: {row}"
    );
    match want.on_share {
        Some(s) => assert!(
            (row["on_share"].as_f64().unwrap() - s).abs() < 1e-12,
            "{what}: {row}"
        ),
        None => assert!(row["on_share"].is_null(), "{what}: {row}"),
    }
    if want.duration_us > 0 {
        let rate = want.events as f64 / (want.duration_us as f64 / 1e6);
        let got = row["event_rate_hz"].as_f64().unwrap();
        assert!((got - rate).abs() <= rate * 1e-12, "{what}: {row}");
    } else {
        assert!(row["event_rate_hz"].is_null(), "{what}: {row}");
    }
}

fn json_rows(out: &Output) -> Vec<Value> {
    let v: Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "stdout is not JSON ({e}): {}\nstderr: {}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    });
    v.as_array().expect("a JSON array").clone()
}

/// Every stream format, several sizes and seeds: one file each.
fn write_all_formats(dir: &Path) -> Vec<(PathBuf, Expected, &'static str, Option<[u16; 2]>)> {
    let mut files = Vec::new();
    for (seed, n) in [(1u64, 0usize), (2, 1), (3, 977), (4, 20_000)] {
        let (w, h) = (640u16, 480u16);
        let evs = burst_events(n, seed, w, h, seed as i64 * 1000);
        let raw = RawOptions::default();
        let name = |ext: &str| format!("rec{seed}.{ext}");
        files.push((
            write(dir, &name("evt2.raw"), &encode_evt2(&evs, w, h, &raw)),
            expected(&evs),
            "Prophesee EVT 2.0",
            Some([w, h]),
        ));
        files.push((
            write(dir, &name("evt3.raw"), &encode_evt3(&evs, w, h, &raw)),
            expected(&evs),
            "Prophesee EVT 3.0",
            Some([w, h]),
        ));
        let dat: Vec<Event> = evs
            .iter()
            .copied()
            .filter(|e| e.t <= u32::MAX as i64)
            .collect();
        files.push((
            write(dir, &name("dat"), &encode_dat(&dat, w, h)),
            expected(&dat),
            "Prophesee DAT",
            Some([w, h]),
        ));
        let small = burst_events(n, seed + 100, 34, 34, 0);
        files.push((
            write(dir, &name("bin"), &atis::encode_auto(&small)),
            expected(&small),
            "ATIS binary",
            Some([34, 34]),
        ));
        let dvs = burst_events(n, seed + 200, 128, 128, 5);
        files.push((
            write(
                dir,
                &name("aedat31.aedat"),
                &aedat31::encode_stream("2026-01-01", &dvs, 4096),
            ),
            expected(&dvs),
            "AEDAT 3.1",
            // The header's `#Source 1: DVS128`.
            Some([128, 128]),
        ));
        files.push((
            write(
                dir,
                &name("aedat2.aedat"),
                &aedat2::encode("2026-01-01", &dvs, &[]),
            ),
            expected(&dvs),
            "AEDAT 2.0",
            Some([128, 128]),
        ));
        files.push((
            write(
                dir,
                &name("aedat4"),
                &aedat4::encode_stream(PacketCompression::Lz4, &dvs, 3000, &[]),
            ),
            expected(&dvs),
            "AEDAT 4.0",
            // The event stream's sizeX / sizeY.
            Some([128, 128]),
        ));
    }
    files
}

#[test]
fn json_numbers_equal_what_the_encoders_wrote_for_every_format() {
    let tmp = tempfile::tempdir().unwrap();
    let files = write_all_formats(tmp.path());
    let args: Vec<&str> = files.iter().map(|f| f.0.to_str().unwrap()).collect();
    let out = probe_cli(&[&["--json"], &args[..]].concat());
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let rows = json_rows(&out);
    assert_eq!(rows.len(), files.len());
    for (row, (path, want, format, sensor)) in rows.iter().zip(&files) {
        let what = path.display().to_string();
        assert_eq!(row["file"].as_str(), Some(what.as_str()));
        assert_eq!(row["format"].as_str(), Some(*format), "{what}");
        match sensor {
            Some([w, h]) => assert_eq!(row["sensor"], serde_json::json!([w, h]), "{what}"),
            None => assert!(row["sensor"].is_null(), "{what}"),
        }
        if *format == "AEDAT 4.0" {
            assert!(row["streams"].as_u64().unwrap() >= 1, "{what}: {row}");
        } else {
            assert!(row["streams"].is_null(), "{what}: {row}");
        }
        check(row, want, &what);
    }
}

#[test]
fn out_of_order_events_are_counted_as_time_order_violations() {
    let tmp = tempfile::tempdir().unwrap();
    let mut evs = burst_events(5000, 7, 128, 128, 0);
    // Move some events back in time, and one far back.
    for i in (10..4000).step_by(397) {
        evs[i].t -= 100;
    }
    evs[4500].t = -3;
    let want = expected(&evs);
    assert!(want.violations > 5, "the test must have violations");
    let layout = NpyLayout::structured(&[("t", "<i8"), ("x", "<u2"), ("y", "<u2"), ("p", "|u1")]);
    let path = write(tmp.path(), "shuffled.npy", &npy::encode(&evs, &layout));
    let out = probe_cli(&["--json", path.to_str().unwrap()]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let rows = json_rows(&out);
    assert_eq!(rows[0]["format"].as_str(), Some("numpy .npy"));
    check(&rows[0], &want, "shuffled.npy");
}

#[test]
fn a_broken_file_is_reported_and_the_others_are_still_probed() {
    let tmp = tempfile::tempdir().unwrap();
    let evs = burst_events(3000, 11, 128, 128, 0);
    let good = write(
        tmp.path(),
        "good.aedat",
        &aedat31::encode_stream("2026-01-01", &evs, 1000),
    );
    let whole = aedat31::encode_stream("2026-01-01", &evs, 1000);
    let cut = write(tmp.path(), "cut.aedat", &whole[..whole.len() - 5]);
    let junk = write(tmp.path(), "junk.aedat", b"not an event file at all");
    let out = probe_cli(&[
        "--json",
        cut.to_str().unwrap(),
        good.to_str().unwrap(),
        junk.to_str().unwrap(),
    ]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "stderr: {stderr}");
    for bad in ["cut.aedat", "junk.aedat"] {
        assert!(
            stderr
                .lines()
                .any(|l| l.contains(bad) && l.contains("offset")),
            "{bad} not reported with an offset: {stderr}"
        );
    }
    let rows = json_rows(&out);
    assert_eq!(rows.len(), 1);
    check(&rows[0], &expected(&evs), "good.aedat");
}

#[test]
fn all_files_broken_or_none_given_is_exit_1() {
    let tmp = tempfile::tempdir().unwrap();
    let junk = write(tmp.path(), "junk.raw", b"% nothing useful\n");
    let out = probe_cli(&[junk.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("junk.raw"));
    let out = probe_cli(&[]);
    assert_eq!(out.status.code(), Some(1));
}

#[test]
fn the_table_names_each_file_and_prints_a_dash_where_nothing_applies() {
    let tmp = tempfile::tempdir().unwrap();
    let evs = burst_events(100, 3, 304, 240, 0);
    let path = write(
        tmp.path(),
        "one.raw",
        &encode_evt2(&evs, 304, 240, &RawOptions::default()),
    );
    let config = write(
        tmp.path(),
        "probe.toml",
        format!("files = [{:?}]\n", path.to_str().unwrap()).as_bytes(),
    );
    let out = probe_cli(&["--config", config.to_str().unwrap()]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    let row = stdout
        .lines()
        .find(|l| l.contains("one.raw"))
        .unwrap_or_else(|| panic!("no row for one.raw: {stdout}"));
    assert!(
        row.contains("Prophesee EVT 2.0") && row.contains("304x240"),
        "{row}"
    );
    assert!(row.split_whitespace().any(|c| c == "-"), "{row}");
    assert!(row.split_whitespace().any(|c| c == "100"), "{row}");
}
