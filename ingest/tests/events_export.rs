//! `dvs-ingest events FILE --out x.npy|x.parquet`: for recordings written by
//! the fixtures encoders in several formats (EVT 2.0, EVT 3.0, DAT, ATIS
//! `.bin`, AEDAT 2.0 and a multi-stream AEDAT 4 with `--stream`), the table
//! re-read in Rust (the `.npy` through dvs-decode's own npy reader, the
//! `.parquet` through the parquet crate) and in Python (numpy, pyarrow; from
//! `$SPIKETRAIN_PYTHON`, skipped with a message when unset) equals the
//! decoder's events, dtypes included; a recording that does not decode leaves
//! no output and an error naming file and offset.

use std::path::{Path, PathBuf};
use std::process::Command;

use dvs_decode::{read_all, DecodeOptions, Events, Format};
use dvs_fixtures::aedat4::{multi_stream_file, MultiStreamSpec, PacketCompression};
use dvs_fixtures::noise::uniform_events;
use dvs_fixtures::prophesee::{burst_events, encode_dat, encode_evt2, encode_evt3, RawOptions};
use parquet::file::reader::{FileReader, SerializedFileReader};
use parquet::record::Field;

fn bin() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_dvs-ingest"));
    c.env("RUST_LOG", "warn");
    c
}

/// Recordings of several formats written by the fixtures encoders, with the
/// decode options and the `events` flags that select what is exported.
fn recordings(dir: &Path) -> Vec<(PathBuf, DecodeOptions, Vec<String>)> {
    let (w, h) = (320u16, 240u16);
    let burst = burst_events(5_000, 3, w, h, 1_000);
    let mut out = Vec::new();
    let mut put = |name: &str, bytes: Vec<u8>, options: DecodeOptions, flags: Vec<String>| {
        let path = dir.join(name);
        std::fs::write(&path, bytes).unwrap();
        out.push((path, options, flags));
    };
    let raw = RawOptions::default();
    put(
        "a.evt2.raw",
        encode_evt2(&burst, w, h, &raw),
        DecodeOptions::default(),
        vec![],
    );
    put(
        "b.evt3.raw",
        encode_evt3(&burst, w, h, &raw),
        DecodeOptions::default(),
        vec![],
    );
    put(
        "c.dat",
        encode_dat(&burst, w, h),
        DecodeOptions::default(),
        vec![],
    );
    let small: Vec<_> = uniform_events(3_000, 5, 0)
        .into_iter()
        .map(|mut e| {
            e.x %= 34;
            e.y %= 34;
            e
        })
        .collect();
    put(
        "d.bin",
        dvs_fixtures::atis::encode_auto(&small),
        DecodeOptions::default(),
        vec![],
    );
    put(
        "e.aedat",
        dvs_fixtures::aedat2::encode("2026-01-01", &uniform_events(4_000, 9, 10), &[]),
        DecodeOptions::default(),
        vec![],
    );
    let (bytes, _, _) = multi_stream_file(&MultiStreamSpec {
        compression: PacketCompression::Lz4,
        source: "DVXplorer",
        width: w,
        height: h,
        events: 6_000,
        per_packet: 700,
        seed: 11,
    });
    put("f.aedat4", bytes.clone(), DecodeOptions::default(), vec![]);
    put(
        "g-stream4.aedat4",
        bytes,
        DecodeOptions {
            stream: Some(4),
            ..DecodeOptions::default()
        },
        vec!["--stream".into(), "4".into()],
    );
    out
}

fn read_parquet(path: &Path) -> Events {
    let reader = SerializedFileReader::new(std::fs::File::open(path).unwrap()).unwrap();
    let names: Vec<String> = reader
        .metadata()
        .file_metadata()
        .schema_descr()
        .columns()
        .iter()
        .map(|c| c.name().to_string())
        .collect();
    assert_eq!(names, ["t", "x", "y", "p"]);
    let mut events = Events::new();
    for row in reader.get_row_iter(None).unwrap() {
        let row = row.unwrap();
        let cells: Vec<&Field> = row.get_column_iter().map(|(_, f)| f).collect();
        match cells.as_slice() {
            [Field::Long(t), Field::UShort(x), Field::UShort(y), Field::Byte(p)] => {
                events.push(*t, *x, *y, u8::try_from(*p).unwrap())
            }
            other => panic!("{}: unexpected row {other:?}", path.display()),
        }
    }
    events
}

fn write_column<T: Copy>(path: &Path, values: &[T], to_le: impl Fn(T) -> Vec<u8>) {
    let bytes: Vec<u8> = values.iter().flat_map(|&v| to_le(v)).collect();
    std::fs::write(path, bytes).unwrap();
}

const PYTHON_CHECK: &str = r#"
import sys, json
import numpy as np
out = []
for stem in sys.argv[1:]:
    want = {k: np.fromfile(f"{stem}.{k}.bin", dtype=d) for k, d in
            [("t", "<i8"), ("x", "<u2"), ("y", "<u2"), ("p", "i1")]}
    a = np.load(f"{stem}.npy")
    assert a.dtype.names == ("t", "x", "y", "p"), a.dtype
    assert [a.dtype[k].str for k in "txyp"] == ["<i8", "<u2", "<u2", "|i1"], a.dtype
    for k in "txyp":
        assert np.array_equal(a[k], want[k]), (stem, k)
    import pyarrow.parquet as pq
    t = pq.read_table(f"{stem}.parquet")
    assert t.column_names == ["t", "x", "y", "p"], t.column_names
    assert [str(f.type) for f in t.schema] == ["int64", "uint16", "uint16", "int8"], t.schema
    for k in "txyp":
        assert np.array_equal(t.column(k).to_numpy(), want[k]), (stem, k)
    out.append(len(a))
print(json.dumps(out))
"#;

#[test]
fn exported_tables_equal_the_decoders_events_in_rust_and_python() {
    let tmp = tempfile::tempdir().unwrap();
    let mut stems = Vec::new();
    let mut counts = Vec::new();
    for (i, (path, options, flags)) in recordings(tmp.path()).into_iter().enumerate() {
        let format = Format::detect_file(&path).unwrap();
        let want = read_all(&path, format, &options).unwrap();
        assert!(want.len() > 100, "{}", path.display());
        let stem = tmp.path().join(format!("out-{i}"));
        for ext in ["npy", "parquet"] {
            let out = stem.with_extension(ext);
            let o = bin()
                .arg("events")
                .arg(&path)
                .arg("--out")
                .arg(&out)
                .args(&flags)
                .output()
                .unwrap();
            assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
            assert!(String::from_utf8_lossy(&o.stdout)
                .contains(&format!("wrote {} events", want.len())));
        }
        // The .npy through dvs-decode's npy reader (named fields, any widths).
        let npy = stem.with_extension("npy");
        let again = read_all(
            &npy,
            Format::detect_file(&npy).unwrap(),
            &DecodeOptions::default(),
        )
        .unwrap();
        assert_eq!(again, want, "{}", npy.display());
        let bytes = std::fs::read(&npy).unwrap();
        assert_eq!(
            bytes.len(),
            192 + 13 * want.len(),
            "packed 13-byte records after a 192-byte header"
        );
        assert_eq!(read_parquet(&stem.with_extension("parquet")), want);

        write_column(&stem.with_extension("t.bin"), &want.t, |v| {
            v.to_le_bytes().to_vec()
        });
        write_column(&stem.with_extension("x.bin"), &want.x, |v| {
            v.to_le_bytes().to_vec()
        });
        write_column(&stem.with_extension("y.bin"), &want.y, |v| {
            v.to_le_bytes().to_vec()
        });
        write_column(&stem.with_extension("p.bin"), &want.p, |v| vec![v]);
        stems.push(stem);
        counts.push(want.len());
    }
    let Some(python) = std::env::var_os("SPIKETRAIN_PYTHON").filter(|p| !p.is_empty()) else {
        let in_ci = std::env::var("CI").is_ok_and(|v| v == "true" || v == "1");
        assert!(
            !in_ci,
            "SPIKETRAIN_PYTHON is not set (CI=true): run scripts/test.sh"
        );
        eprintln!(
            "skipped the numpy / pyarrow check: SPIKETRAIN_PYTHON is not set \
             (export SPIKETRAIN_PYTHON=.venv/bin/python with numpy and pyarrow)"
        );
        return;
    };
    let o = Command::new(python)
        .arg("-c")
        .arg(PYTHON_CHECK)
        .args(&stems)
        .output()
        .unwrap();
    assert!(
        o.status.success(),
        "python check failed: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    let got: Vec<usize> = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(got, counts);
}

#[test]
fn a_recording_that_does_not_decode_leaves_no_table_and_names_the_offset() {
    let tmp = tempfile::tempdir().unwrap();
    let (w, h) = (64u16, 48u16);
    let mut bytes = encode_evt3(
        &burst_events(2_000, 1, w, h, 0),
        w,
        h,
        &RawOptions::default(),
    );
    // An event row far outside the declared 64x48 sensor, past the header.
    let header_end = bytes.windows(6).position(|s| s == b"% end\n").unwrap() + 6;
    let at = header_end + (bytes.len() - header_end) / 2 / 2 * 2;
    bytes[at..at + 2].copy_from_slice(&0x0FFFu16.to_le_bytes()); // EVT_ADDR_Y, y = 4095
    let path = tmp.path().join("bad.raw");
    std::fs::write(&path, bytes).unwrap();
    for ext in ["npy", "parquet"] {
        let out = tmp.path().join(format!("bad.{ext}"));
        let o = bin()
            .arg("events")
            .arg(&path)
            .arg("--out")
            .arg(&out)
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(1), "{stderr}");
        assert!(
            stderr.contains("bad.raw") && stderr.contains("offset"),
            "{stderr}"
        );
        assert!(!out.exists(), "a failed export left {}", out.display());
        let leftovers: Vec<_> = std::fs::read_dir(tmp.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|n| n.contains(".tmp-"))
            .collect();
        assert!(leftovers.is_empty(), "{leftovers:?}");
    }
    let o = bin()
        .arg("events")
        .arg(&path)
        .args(["--out", tmp.path().join("x.csv").to_str().unwrap()])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&o.stderr).contains(".npy or .parquet"));
}

#[test]
fn stream_and_sensor_flags_reach_events_and_probe() {
    let tmp = tempfile::tempdir().unwrap();
    let (bytes, main, second) = multi_stream_file(&MultiStreamSpec {
        compression: PacketCompression::None,
        source: "DVXplorer",
        width: 320,
        height: 240,
        events: 3_000,
        per_packet: 500,
        seed: 2,
    });
    let path = tmp.path().join("multi.aedat4");
    std::fs::write(&path, bytes).unwrap();
    assert_ne!(main.len(), second.len());
    for (flags, want) in [(vec![], main.len()), (vec!["--stream", "4"], second.len())] {
        let o = bin()
            .args(["probe", "--json"])
            .arg(&path)
            .args(&flags)
            .output()
            .unwrap();
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        let probes: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
        assert_eq!(probes[0]["events"], want as u64, "probe {flags:?}");
    }
    // A sensor smaller than the events: a decode error, no table.
    let out = tmp.path().join("small.npy");
    let o = bin()
        .arg("events")
        .arg(&path)
        .args(["--sensor", "100x80", "--out"])
        .arg(&out)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("multi.aedat4") && stderr.contains("offset"),
        "{stderr}"
    );
    assert!(!out.exists());
    let o = bin()
        .arg("events")
        .arg(&path)
        .args(["--sensor", "320x240", "--out"])
        .arg(&out)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
}
