//! Decoder conformance tests against the shared event fixtures
//! (`../shared/fixtures/events`): every file the manifest lists decodes to its
//! expected `.npz`, every broken file gives a located error, and hand-built
//! files pin the AEDAT 3.1 overflow / validity / TIMESTAMP_RESET policies.

use std::fs::File;
use std::path::{Path, PathBuf};

use dvs_decode::{
    self as decode, read_all, read_all_bytes, read_hdf5_samples, DecodeOptions, ErrorKind, Events,
    Format, Orientation, TimestampResetPolicy,
};
use dvs_fixtures::aedat4::{PacketCompression, Trigger};
use dvs_fixtures::{aedat2, aedat31, aedat4, noise, Event};
use ndarray::{Array1, Ix1, OwnedRepr};
use ndarray_npy::NpzReader;
use serde_json::Value;

fn fixtures_dir() -> PathBuf {
    let dir = PathBuf::from(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../shared/fixtures/events"
    ));
    assert!(dir.is_dir(), "fixture folder {} is missing", dir.display());
    dir
}

fn manifest() -> Value {
    let path = fixtures_dir().join("manifest.json");
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).expect("manifest.json parses")
}

/// Maps the manifest's format string to ours.
fn manifest_format(s: &str) -> Format {
    if s.starts_with("AEDAT 2.0") {
        Format::Aedat2
    } else if s.starts_with("AEDAT 3.1") {
        Format::Aedat31
    } else if s.starts_with("AEDAT 4.0") {
        Format::Aedat4
    } else if s.starts_with("HDF5") {
        Format::Hdf5
    } else {
        panic!("manifest format '{s}' unknown to the test")
    }
}

fn npz(path: &Path) -> NpzReader<File> {
    NpzReader::new(File::open(path).unwrap_or_else(|e| panic!("{}: {e}", path.display())))
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn arr<T: ndarray_npy::ReadableElement>(z: &mut NpzReader<File>, name: &str) -> Array1<T> {
    z.by_name::<OwnedRepr<T>, Ix1>(name)
        .or_else(|_| z.by_name::<OwnedRepr<T>, Ix1>(&format!("{name}.npy")))
        .unwrap_or_else(|e| panic!("array {name}: {e}"))
}

/// Expected events from arrays `<prefix>t, x, y, p` (t i64, x/y i16, p u8).
fn expected_events(z: &mut NpzReader<File>, prefix: &str) -> Events {
    let t = arr::<i64>(z, &format!("{prefix}t"));
    let x = arr::<i16>(z, &format!("{prefix}x"));
    let y = arr::<i16>(z, &format!("{prefix}y"));
    let p = arr::<u8>(z, &format!("{prefix}p"));
    Events {
        t: t.to_vec(),
        x: x.iter().map(|&v| v as u16).collect(),
        y: y.iter().map(|&v| v as u16).collect(),
        p: p.to_vec(),
    }
}

fn assert_same(got: &Events, want: &Events, what: &str) {
    assert_eq!(got.len(), want.len(), "{what}: event count");
    for (col, eq) in [
        ("t", got.t == want.t),
        ("x", got.x == want.x),
        ("y", got.y == want.y),
        ("p", got.p == want.p),
    ] {
        if !eq {
            let i = (0..got.len())
                .find(|&i| {
                    (got.t[i], got.x[i], got.y[i], got.p[i])
                        != (want.t[i], want.x[i], want.y[i], want.p[i])
                })
                .unwrap_or(0);
            panic!(
                "{what}: column {col} differs; first at {i}: got ({}, {}, {}, {}) want ({}, {}, {}, {})",
                got.t[i], got.x[i], got.y[i], got.p[i], want.t[i], want.x[i], want.y[i], want.p[i]
            );
        }
    }
}

fn raw_options() -> DecodeOptions {
    DecodeOptions {
        orientation: Orientation::Raw,
        ..DecodeOptions::default()
    }
}

#[test]
fn every_manifest_file_decodes_to_its_expected_events() {
    let root = fixtures_dir();
    let m = manifest();
    let files = m["files"].as_array().expect("manifest files");
    assert!(!files.is_empty());
    for f in files {
        let rel = f["path"].as_str().unwrap();
        let path = root.join(rel);
        let format = manifest_format(f["format"].as_str().unwrap());
        assert_eq!(
            Format::detect_file(&path).unwrap(),
            format,
            "{rel}: detected format"
        );
        let mut z = npz(&root.join(f["expected"].as_str().unwrap()));
        if format == Format::Hdf5 {
            let samples = read_hdf5_samples(&path).unwrap_or_else(|e| panic!("{e}"));
            let train_keys = arr::<i64>(&mut z, "train_keys");
            let test_keys = arr::<i64>(&mut z, "test_keys");
            let keys = f["keys"].as_object().unwrap();
            assert_eq!(samples.len(), keys.len(), "{rel}: sample count");
            assert_eq!(samples.len(), train_keys.len() + test_keys.len());
            for s in &samples {
                let k: i64 = s.key.parse().unwrap();
                assert_eq!(
                    s.train,
                    train_keys.iter().any(|&t| t == k),
                    "{rel} key {k}: split"
                );
                let want = expected_events(&mut z, &format!("k{k}_"));
                assert_same(&s.events, &want, &format!("{rel} key {k}"));
                // Stored as a scalar of whatever integer width the writer used.
                let name = format!("k{k}_label");
                let label = z
                    .by_name::<OwnedRepr<i64>, ndarray::IxDyn>(&name)
                    .map(|a| a.iter().next().copied())
                    .or_else(|_| {
                        z.by_name::<OwnedRepr<u8>, ndarray::IxDyn>(&name)
                            .map(|a| a.iter().next().map(|&v| v as i64))
                    })
                    .unwrap_or_else(|e| panic!("{name}: {e}"));
                assert_eq!(Some(s.label as i64), label, "{rel} key {k}: label");
                assert_eq!(
                    s.label as u64,
                    keys[&s.key]["label"].as_u64().unwrap(),
                    "{rel} key {k}: manifest label"
                );
                assert_eq!(
                    s.events.len() as u64,
                    keys[&s.key]["events"].as_u64().unwrap()
                );
            }
            continue;
        }
        let got = read_all(&path, format, &raw_options()).unwrap_or_else(|e| panic!("{e}"));
        let want = expected_events(&mut z, "");
        assert_same(&got, &want, rel);
        assert_eq!(
            got.len() as u64,
            f["events"].as_u64().unwrap(),
            "{rel}: manifest event count"
        );
    }
}

#[test]
fn aedat2_spikingjelly_orientation_matches_spikingjelly_minus_external_records() {
    let root = fixtures_dir();
    let m = manifest();
    let mut checked = 0;
    for f in m["files"].as_array().unwrap() {
        if manifest_format(f["format"].as_str().unwrap()) != Format::Aedat2 {
            continue;
        }
        let rel = f["path"].as_str().unwrap();
        let mut z = npz(&root.join(f["expected"].as_str().unwrap()));
        let sj = expected_events(&mut z, "sj_");
        let external = arr::<bool>(&mut z, "sj_is_external");
        let keep: Vec<usize> = (0..sj.len()).filter(|&i| !external[i]).collect();
        let want = Events {
            t: keep.iter().map(|&i| sj.t[i]).collect(),
            x: keep.iter().map(|&i| sj.x[i]).collect(),
            y: keep.iter().map(|&i| sj.y[i]).collect(),
            p: keep.iter().map(|&i| sj.p[i]).collect(),
        };
        let opts = DecodeOptions {
            orientation: Orientation::SpikingJelly,
            ..DecodeOptions::default()
        };
        assert_eq!(
            DecodeOptions::default().orientation,
            Orientation::SpikingJelly,
            "documented default"
        );
        let got = read_all(&root.join(rel), Format::Aedat2, &opts).unwrap();
        assert_same(&got, &want, rel);
        checked += 1;
    }
    assert!(checked > 0, "manifest lists no AEDAT 2.0 file");
}

#[test]
fn every_broken_file_gives_an_error_with_file_offset_and_reason() {
    let root = fixtures_dir();
    let m = manifest();
    let listed: Vec<(String, Format)> = m["broken"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| {
            (
                b["path"].as_str().unwrap().to_string(),
                manifest_format(b["format"].as_str().unwrap()),
            )
        })
        .collect();
    let dir = root.join("broken");
    let mut seen = 0;
    for entry in std::fs::read_dir(&dir).expect("broken/ folder") {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_string_lossy().to_string();
        let len = std::fs::metadata(&path).unwrap().len();
        // The manifest's format when listed (a garbage version line cannot be
        // detected), else detection, whose failure is itself the error.
        let format = listed
            .iter()
            .find(|(p, _)| p.ends_with(&name))
            .map(|(_, f)| *f)
            .or_else(|| Format::detect_file(&path).ok());
        let err = match format {
            Some(Format::Hdf5) => read_hdf5_samples(&path).map(|_| ()).unwrap_err(),
            Some(fmt) => read_all(&path, fmt, &DecodeOptions::default())
                .map(|_| ())
                .expect_err(&format!("{name} decoded without error")),
            None => Format::detect_file(&path).unwrap_err(),
        };
        assert_eq!(err.file, path, "{name}: error names the file");
        let shown = err.to_string();
        assert!(
            shown.starts_with(&format!("{}: offset {}: ", path.display(), err.offset)),
            "{shown}"
        );
        assert!(
            err.offset <= len,
            "{name}: offset {} beyond file length {len}",
            err.offset
        );
        assert!(!err.reason.is_empty());
        assert!(
            matches!(
                err.kind,
                ErrorKind::Header | ErrorKind::Truncated | ErrorKind::Corrupt
            ),
            "{name}: {shown}"
        );
        // Every broken file that is not a header problem fails after the header.
        if err.kind != ErrorKind::Header {
            assert!(err.offset > 0, "{shown}");
        }
        seen += 1;
    }
    assert!(
        seen >= listed.len() && seen > 0,
        "broken/ holds fewer files than the manifest lists"
    );
}

#[test]
fn aedat4_matches_the_aedat_crate_on_every_manifest_file() {
    let root = fixtures_dir();
    let m = manifest();
    let mut checked = 0;
    for f in m["files"].as_array().unwrap() {
        if manifest_format(f["format"].as_str().unwrap()) != Format::Aedat4 {
            continue;
        }
        let path = root.join(f["path"].as_str().unwrap());
        assert_eq!(
            aedat_crate_events(&path),
            read_all(&path, Format::Aedat4, &DecodeOptions::default()).unwrap()
        );
        checked += 1;
    }
    assert!(checked > 0);
}

/// All events of the lowest-id event stream, decoded by the `aedat` crate.
fn aedat_crate_events(path: &Path) -> Events {
    let decoder = aedat::base::Decoder::new_from_file(path).unwrap();
    let stream = *decoder
        .id_to_stream
        .iter()
        .filter(|(_, s)| matches!(s.content, aedat::base::StreamContent::Events))
        .map(|(id, _)| id)
        .min()
        .unwrap();
    let mut out = Events::new();
    for packet in decoder {
        let packet = packet.unwrap();
        if packet.stream_id != stream {
            continue;
        }
        let evts =
            aedat::events_generated::size_prefixed_root_as_event_packet(&packet.buffer).unwrap();
        for e in evts.elements().unwrap_or_default() {
            out.push(e.t(), e.x() as u16, e.y() as u16, e.on() as u8);
        }
    }
    out
}

/// The decoder's columns for the fixtures' events.
fn columns(events: &[Event]) -> Events {
    let mut out = Events::with_capacity(events.len());
    for e in events {
        out.push(e.t, e.x, e.y, e.on as u8);
    }
    out
}

#[test]
fn synthetic_aedat4_round_trips_and_matches_the_aedat_crate() {
    let dir = tempfile::tempdir().unwrap();
    let events = noise::uniform_events(20_000, 7, 1_589_163_840_000_000);
    let triggers = [Trigger {
        timestamp: events[0].t,
        kind: 2,
    }];
    for compression in [
        PacketCompression::None,
        PacketCompression::Lz4,
        PacketCompression::Lz4Linked,
        PacketCompression::Zstd,
    ] {
        // 6000 events = 96 KB per packet: more than one 64 KiB LZ4 block.
        let bytes = aedat4::encode_stream(compression, &events, 6000, &triggers);
        let path = dir.path().join(format!("{compression:?}.aedat4"));
        std::fs::write(&path, &bytes).unwrap();
        let ours = read_all(&path, Format::Aedat4, &DecodeOptions::default()).unwrap();
        assert_eq!(ours, columns(&events), "{compression:?}");
        assert_eq!(
            aedat_crate_events(&path),
            columns(&events),
            "aedat crate, {compression:?}"
        );
    }
}

#[test]
fn synthetic_aedat2_and_aedat31_round_trip() {
    let events = noise::uniform_events(50_000, 3, 1_000);
    // External (bit 15) records are dropped by the decoder.
    let externals: Vec<aedat2::ExternalRecord> = (1000..events.len())
        .step_by(1000)
        .map(|i| aedat2::ExternalRecord {
            before_event: i,
            address: aedat2::EXTERNAL_BIT,
            timestamp: aedat2::timestamp(events[i].t),
        })
        .collect();
    let bytes = aedat2::encode("Thu Dec 22 14:42:53 CST 2016", &events, &externals);
    let got = read_all_bytes(
        Path::new("mem.aedat"),
        &bytes,
        Format::Aedat2,
        &raw_options(),
    )
    .unwrap();
    assert_eq!(got, columns(&events));
    let bytes = aedat31::encode_stream("2017-01-01 00:00:00", &events, 4096);
    let got = read_all_bytes(
        Path::new("mem.aedat"),
        &bytes,
        Format::Aedat31,
        &DecodeOptions::default(),
    )
    .unwrap();
    assert_eq!(got, columns(&events));
}

/// The Gesture release header these hand-built files start with.
fn aedat31_header() -> Vec<u8> {
    aedat31::header("2017-01-01 00:00:00")
}

/// Hand-built AEDAT 3.1 file from `(event_type, overflow, payload events)`.
fn aedat31_file(packets: &[(i16, i32, Vec<[u8; 8]>)]) -> Vec<u8> {
    let mut b = aedat31_header();
    for (ty, overflow, evs) in packets {
        let n = evs.len() as i32;
        b.extend_from_slice(&aedat31::packet_header_bytes(*ty, 8, *overflow, n, n));
        for e in evs {
            b.extend_from_slice(e);
        }
    }
    b
}

/// One 8-byte polarity event with the validity bit as given.
fn polarity(x: u16, y: u16, p: u8, ts: i32, valid: bool) -> [u8; 8] {
    let mut e = [0u8; 8];
    e[..4].copy_from_slice(&aedat31::polarity_data(x, y, p == 1, valid).to_le_bytes());
    e[4..].copy_from_slice(&ts.to_le_bytes());
    e
}

fn pol(x: u16, y: u16, p: u8, ts: i32) -> [u8; 8] {
    polarity(x, y, p, ts, true)
}

fn special(kind: u32, ts: i32) -> [u8; 8] {
    let mut e = [0u8; 8];
    e[..4].copy_from_slice(&((kind << 1) | 1).to_le_bytes());
    e[4..].copy_from_slice(&ts.to_le_bytes());
    e
}

#[test]
fn aedat31_timestamp_overflow_is_shift_31() {
    let file = aedat31_file(&[
        (1, 0, vec![pol(1, 2, 1, 5), pol(3, 4, 0, 0x7FFF_FFFF)]),
        (1, 1, vec![pol(5, 6, 1, 7)]),
        (1, 3, vec![pol(127, 127, 0, 9)]),
    ]);
    let ev = read_all_bytes(
        Path::new("ovf.aedat"),
        &file,
        Format::Aedat31,
        &DecodeOptions::default(),
    )
    .unwrap();
    assert_eq!(ev.t, vec![5, 0x7FFF_FFFF, (1 << 31) | 7, (3i64 << 31) | 9]);
    assert_eq!(ev.x, vec![1, 3, 5, 127]);
    assert_eq!(ev.y, vec![2, 4, 6, 127]);
    assert_eq!(ev.p, vec![1, 0, 1, 0]);
}

#[test]
fn aedat31_validity_bit_policy() {
    let invalid = polarity(9, 9, 1, 20, false);
    let file = aedat31_file(&[(1, 0, vec![pol(1, 1, 1, 10), invalid, pol(2, 2, 0, 30)])]);
    let name = Path::new("valid.aedat");
    let dropped = read_all_bytes(name, &file, Format::Aedat31, &DecodeOptions::default()).unwrap();
    assert_eq!(dropped.t, vec![10, 30]);
    let kept = read_all_bytes(
        name,
        &file,
        Format::Aedat31,
        &DecodeOptions {
            keep_invalid: true,
            ..DecodeOptions::default()
        },
    )
    .unwrap();
    assert_eq!(kept.t, vec![10, 20, 30]);
    assert_eq!(kept.x, vec![1, 9, 2]);
}

#[test]
fn aedat31_timestamp_reset_policies() {
    // Events at 100, 200; reset (special type 1) at 250; then time restarts at 10, 20.
    let file = aedat31_file(&[
        (1, 0, vec![pol(1, 1, 1, 100), pol(1, 1, 1, 200)]),
        (0, 0, vec![special(2, 240), special(1, 250)]),
        (1, 0, vec![pol(2, 2, 0, 10), pol(2, 2, 0, 20)]),
    ]);
    let name = Path::new("reset.aedat");
    let run = |policy| {
        read_all_bytes(
            name,
            &file,
            Format::Aedat31,
            &DecodeOptions {
                timestamp_reset: policy,
                ..DecodeOptions::default()
            },
        )
    };
    assert_eq!(
        DecodeOptions::default().timestamp_reset,
        TimestampResetPolicy::Continue
    );
    assert_eq!(
        run(TimestampResetPolicy::Continue).unwrap().t,
        vec![100, 200, 260, 270]
    );
    assert_eq!(
        run(TimestampResetPolicy::AsStored).unwrap().t,
        vec![100, 200, 10, 20]
    );
    let err = run(TimestampResetPolicy::Error).unwrap_err();
    assert_eq!(err.kind, ErrorKind::TimestampReset);
    // Offset of the reset event: header, packet 1 (28 + 16), packet 2 header, first special event.
    assert_eq!(err.offset as usize, aedat31_header().len() + 44 + 28 + 8);

    // A reset before any event changes nothing.
    let early = aedat31_file(&[(0, 0, vec![special(1, 0)]), (1, 0, vec![pol(1, 1, 1, 5)])]);
    let ev = read_all_bytes(name, &early, Format::Aedat31, &DecodeOptions::default()).unwrap();
    assert_eq!(ev.t, vec![5]);
}

#[test]
fn aedat31_skips_other_packet_types_by_capacity_times_size() {
    let mut file = aedat31_header();
    // A type-3 (IMU6) packet: capacity 2 x 36 bytes, eventNumber 1.
    file.extend_from_slice(&aedat31::packet_header_bytes(3, 36, 0, 2, 1));
    file.extend_from_slice(&[0xAB; 72]);
    file.extend_from_slice(&aedat31::packet_header_bytes(1, 8, 0, 1, 1));
    file.extend_from_slice(&pol(4, 5, 1, 6));
    let ev = read_all_bytes(
        Path::new("imu.aedat"),
        &file,
        Format::Aedat31,
        &DecodeOptions::default(),
    )
    .unwrap();
    assert_eq!(
        (ev.t, ev.x, ev.y, ev.p),
        (vec![6], vec![4], vec![5], vec![1])
    );
}

#[test]
fn format_detection_and_hdf5_is_not_a_stream() {
    assert_eq!(
        Format::detect(Path::new("a.bin"), b"#!AER-DAT3.1\r\n"),
        Some(Format::Aedat31)
    );
    assert_eq!(Format::detect(Path::new("a.aedat"), b"garbage"), None);
    assert_eq!(
        Format::detect(Path::new("a.aedat4"), b""),
        Some(Format::Aedat4)
    );
    let err = decode::open_bytes(
        Path::new("x.h5"),
        &b""[..],
        Format::Hdf5,
        &DecodeOptions::default(),
    )
    .err()
    .unwrap();
    assert_eq!(err.kind, ErrorKind::Unsupported);
}

/// Offsets of the bodies of every HDF5 (version 1 object header) datatype message that declares
/// 1-byte unsigned integers and directly follows a scalar dataspace message: the datatype of a
/// scalar `u8` dataset such as DECOLLE's `/data/<key>/labels`.
fn scalar_u8_datatype_bodies(file: &[u8]) -> Vec<usize> {
    // Message header: u16 type (3 = datatype), u16 body size (16), u8 flags, 3 reserved bytes;
    // body: version 1 / class 0 (fixed point), 3 bit-field bytes, u32 element size 1, ...
    const DATATYPE: [u8; 4] = [3, 0, 16, 0];
    const U8: [u8; 8] = [0x10, 0, 0, 0, 1, 0, 0, 0];
    (16..file.len().saturating_sub(16))
        .filter(|&at| file[at..at + 4] == DATATYPE && file[at + 8..at + 16] == U8)
        .filter(|&at| {
            // The message before: dataspace (type 1) with an 8-byte body, version 1, rank 0.
            let space = &file[at - 16..at];
            space[..4] == [1, 0, 8, 0] && space[8] == 1 && space[9] == 0
        })
        .map(|at| at + 8)
        .collect()
}

/// Regression for a libFuzzer finding (`scripts/fuzz-ingest.sh`): six bytes of a DECOLLE file
/// changed so that the datatype of `/data/<key>/labels` declares 4 GiB-wide elements. Debian's
/// libhdf5 1.10 opens it, and reading it made libhdf5 allocate more than 2 GiB for the
/// conversion; now the stored type is checked first and the file is a located error. The file is
/// written here (one sample, with the dvs-fixtures HDF5 writer) and the datatype message found
/// by its bytes, so the test does not depend on the shared fixture's layout.
#[test]
fn hdf5_forged_element_width_is_an_error_not_a_huge_allocation() {
    let dir = tempfile::tempdir().expect("temp dir");
    let original = dir.path().join("one_sample.hdf5");
    let mut writer = dvs_fixtures::hdf5_layout::Hdf5Writer::create(&original).unwrap();
    writer
        .add(&dvs_fixtures::hdf5_layout::Hdf5Sample {
            subject: "user01".into(),
            light: "fluorescent".into(),
            train: true,
            label: 3,
            events: noise::uniform_events(100, 1, 5_000),
        })
        .unwrap();
    writer.finish().unwrap();
    assert_eq!(read_hdf5_samples(&original).unwrap().len(), 1);
    let mut bytes = std::fs::read(&original).expect("read the HDF5 file");
    let bodies = scalar_u8_datatype_bodies(&bytes);
    assert_eq!(
        bodies.len(),
        1,
        "expected exactly one scalar u8 datatype message (/data/0/labels)"
    );
    // Bit-field bytes 2..3, the 4-byte element size and the bit offset of that message.
    let at = bodies[0] + 2;
    bytes[at..at + 8].copy_from_slice(&[1, 0, 255, 255, 255, 255, 255, 255]);
    let path = dir.path().join("forged_width.hdf5");
    std::fs::write(&path, &bytes).expect("write the forged file");
    let err = read_hdf5_samples(&path).expect_err("a 4 GiB element width must be rejected");
    assert_eq!(err.file, path);
    assert!(
        err.reason.contains("/data/0/labels") && err.reason.contains("integer"),
        "unexpected error: {err}"
    );
}
