//! Shard writer/reader tests: round-trip of every dtype, random access, shard rolling, atomic
//! visibility, corruption detection with precise errors, and a property test that the reader
//! never panics on damaged bytes.

use std::path::{Path, PathBuf};

use dvs_fixtures::testing::{patterns, prepared};
use dvs_frames::format::{FOOTER_LEN, HEADER_LEN};
use dvs_frames::{
    atomic_write, DatasetInfo, Dtype, EncodedRecord, Encoding, FrameData, FrameError, RawFrames,
    SampleRecord, ShardIndex, ShardReader, ShardSetWriter,
};
use proptest::prelude::*;

const SHAPE: [usize; 4] = [3, 2, 5, 4];
const LEN: usize = 3 * 2 * 5 * 4;

fn write_one_shard(dir: &Path, records: &[(String, u32, Vec<u32>)]) -> PathBuf {
    let mut w = ShardSetWriter::create(dir, "shard", u64::MAX, 3).unwrap();
    for (key, label, c) in records {
        w.append(&SampleRecord {
            key,
            label: *label,
            shape: SHAPE,
            frames: FrameData::Counts(c),
        })
        .unwrap();
    }
    let shards = w.finish().unwrap();
    assert_eq!(shards.len(), 1);
    shards[0].path.clone()
}

/// Writes one record of shape [`SHAPE`] (key "s", label 0, zstd level 1) and returns its shard.
fn write_single(dir: &Path, frames: FrameData<'_>) -> PathBuf {
    let mut w = ShardSetWriter::create(dir, "shard", u64::MAX, 1).unwrap();
    w.append(&SampleRecord {
        key: "s",
        label: 0,
        shape: SHAPE,
        frames,
    })
    .unwrap();
    w.finish().unwrap()[0].path.clone()
}

fn sample_records(n: usize) -> Vec<(String, u32, Vec<u32>)> {
    (0..n)
        .map(|i| {
            (
                format!("sample-{i}"),
                i as u32 * 3,
                patterns::index_counts(i, LEN, 40),
            )
        })
        .collect()
}

#[test]
fn round_trip_narrows_counts_to_the_smallest_dtype() {
    let dir = tempfile::tempdir().unwrap();
    let cases: [(u32, Dtype); 4] = [
        (0, Dtype::U8),
        (255, Dtype::U8),
        (65_535, Dtype::U16),
        (70_000, Dtype::U32),
    ];
    let mut w = ShardSetWriter::create(dir.path(), "shard", u64::MAX, 1).unwrap();
    let mut expected = Vec::new();
    for (i, (max, dtype)) in cases.iter().enumerate() {
        let mut c = patterns::index_counts(i, LEN, *max);
        c[7] = *max; // make sure the maximum is present
        let loc = w
            .append(&SampleRecord {
                key: &format!("k{i}"),
                label: i as u32,
                shape: SHAPE,
                frames: FrameData::Counts(&c),
            })
            .unwrap();
        assert_eq!(loc.dtype, *dtype, "max {max}");
        assert_eq!(loc.index, i);
        assert_eq!(loc.shard, "shard-00000.dvsf");
        expected.push((c, *dtype, loc.checksum));
    }
    let floats: Vec<f32> = (0..LEN).map(|j| j as f32 * -0.25 + 0.125).collect();
    let loc = w
        .append(&SampleRecord {
            key: "float",
            label: 99,
            shape: SHAPE,
            frames: FrameData::Float(&floats),
        })
        .unwrap();
    assert_eq!(loc.dtype, Dtype::F32);
    let shards = w.finish().unwrap();
    assert_eq!(shards.len(), 1);
    assert_eq!(shards[0].records, 5);
    assert_eq!(shards[0].dtype, Dtype::F32);
    assert_eq!(
        std::fs::metadata(&shards[0].path).unwrap().len(),
        shards[0].bytes
    );

    let r = ShardReader::open(&shards[0].path).unwrap();
    assert_eq!(r.len(), 5);
    for (i, (c, dtype, checksum)) in expected.iter().enumerate() {
        assert_eq!(r.key(i).unwrap(), format!("k{i}"));
        assert_eq!(r.label(i).unwrap(), i as u32);
        assert_eq!(r.shape(i).unwrap(), SHAPE);
        assert_eq!(r.dtype(i).unwrap(), *dtype);
        assert_eq!(r.index().checksum(i).unwrap(), *checksum);
        assert_eq!(&r.read_counts(i).unwrap(), c);
        let f: Vec<f32> = c.iter().map(|&v| v as f32).collect();
        assert_eq!(r.read_f32(i).unwrap(), f);
        assert_eq!(r.read_raw(i).unwrap().dtype(), *dtype);
    }
    assert_eq!(r.read_f32(4).unwrap(), floats);
    assert!(matches!(r.read_raw(4).unwrap(), RawFrames::F32(_)));
    assert!(r.read_counts(4).is_err(), "f32 records are not counts");
    assert!(matches!(
        r.read_f32(5),
        Err(FrameError::OutOfRange {
            index: 5,
            len: 5,
            ..
        })
    ));

    // The index alone (positioned reads) agrees with the full reader.
    let idx = ShardIndex::read(&shards[0].path).unwrap();
    assert_eq!(idx.entries(), r.index().entries());
}

#[test]
fn shards_roll_over_at_the_target_size_and_allow_random_access() {
    let dir = tempfile::tempdir().unwrap();
    let records = sample_records(40);
    let target = 600u64;
    let mut w = ShardSetWriter::create(dir.path(), "part", target, 3).unwrap();
    let mut locations = Vec::new();
    for (key, label, c) in &records {
        locations.push(
            w.append(&SampleRecord {
                key,
                label: *label,
                shape: SHAPE,
                frames: FrameData::Counts(c),
            })
            .unwrap(),
        );
    }
    let shards = w.finish().unwrap();
    assert!(
        shards.len() > 2,
        "expected several shards, got {}",
        shards.len()
    );
    assert_eq!(shards.iter().map(|s| s.records).sum::<usize>(), 40);
    for (n, s) in shards.iter().enumerate() {
        assert_eq!(s.file, format!("part-{n:05}.dvsf"));
        let data_bytes = ShardIndex::read(&s.path)
            .unwrap()
            .entries()
            .iter()
            .map(|e| e.stored_len)
            .sum::<u64>();
        assert!(
            s.records == 1 || data_bytes + HEADER_LEN as u64 <= target,
            "shard {n} overfull"
        );
    }
    // Random access, in a scrambled order, through the locations the writer returned.
    let readers: Vec<ShardReader> = shards
        .iter()
        .map(|s| ShardReader::open(&s.path).unwrap())
        .collect();
    for k in (0..40).map(|i| (i * 17) % 40) {
        let loc = &locations[k];
        let shard = shards.iter().position(|s| s.file == loc.shard).unwrap();
        let r = &readers[shard];
        assert_eq!(r.key(loc.index).unwrap(), records[k].0);
        assert_eq!(r.label(loc.index).unwrap(), records[k].1);
        assert_eq!(r.read_counts(loc.index).unwrap(), records[k].2);
    }
    // Nothing else (no temporary files) is left in the directory.
    let mut names: Vec<String> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    names.sort();
    assert_eq!(
        names,
        shards.iter().map(|s| s.file.clone()).collect::<Vec<_>>()
    );
}

#[test]
fn unfinished_shards_are_never_visible() {
    let dir = tempfile::tempdir().unwrap();
    let records = sample_records(3);
    let mut w = ShardSetWriter::create(dir.path(), "shard", u64::MAX, 3).unwrap();
    for (key, label, c) in &records {
        w.append(&SampleRecord {
            key,
            label: *label,
            shape: SHAPE,
            frames: FrameData::Counts(c),
        })
        .unwrap();
    }
    assert!(
        !dir.path().join("shard-00000.dvsf").exists(),
        "visible before finish"
    );
    drop(w);
    let left: Vec<_> = std::fs::read_dir(dir.path()).unwrap().collect();
    assert!(
        left.is_empty(),
        "dropping an unfinished writer left {left:?}"
    );
}

#[test]
fn writer_rejects_inconsistent_records() {
    let dir = tempfile::tempdir().unwrap();
    let mut w = ShardSetWriter::create(dir.path(), "shard", u64::MAX, 3).unwrap();
    let c = vec![1u32; LEN - 1];
    let err = w
        .append(&SampleRecord {
            key: "short",
            label: 0,
            shape: SHAPE,
            frames: FrameData::Counts(&c),
        })
        .unwrap_err();
    assert!(
        matches!(err, FrameError::InvalidRecord { ref key, .. } if key == "short"),
        "{err}"
    );
}

#[test]
fn encoded_record_rebuilt_from_its_stored_parts_appends_the_same_bytes() {
    let counts: Vec<u32> = (0..LEN as u32).map(|i| i % 7 * 40).collect();
    let record = SampleRecord {
        key: "kept",
        label: 4,
        shape: SHAPE,
        frames: FrameData::Counts(&counts),
    };
    let encoded = EncodedRecord::encode(&record, 3).unwrap();
    let rebuild = |stored: Vec<u8>, raw_len: u64| {
        EncodedRecord::from_stored(
            "kept",
            4,
            SHAPE,
            encoded.dtype(),
            encoded.encoding(),
            raw_len,
            stored,
            encoded.checksum(),
        )
    };
    let rebuilt = rebuild(encoded.stored().to_vec(), encoded.raw_len()).unwrap();
    let shard_bytes = |r: EncodedRecord| {
        let dir = tempfile::tempdir().unwrap();
        let mut w = ShardSetWriter::create(dir.path(), "shard", u64::MAX, 3).unwrap();
        w.append_encoded(r).unwrap();
        std::fs::read(&w.finish().unwrap()[0].path).unwrap()
    };
    assert_eq!(shard_bytes(encoded.clone()), shard_bytes(rebuilt));
    // A flipped stored byte or a length that does not match the shape is refused.
    let mut damaged = encoded.stored().to_vec();
    damaged[0] ^= 1;
    for err in [
        rebuild(damaged, encoded.raw_len()).unwrap_err(),
        rebuild(encoded.stored().to_vec(), encoded.raw_len() + 1).unwrap_err(),
    ] {
        assert!(
            matches!(err, FrameError::InvalidRecord { ref key, .. } if key == "kept"),
            "{err}"
        );
    }
}

#[test]
fn flipped_record_byte_is_a_checksum_error_naming_shard_and_sample() {
    let dir = tempfile::tempdir().unwrap();
    let records = sample_records(4);
    let path = write_one_shard(dir.path(), &records);
    let entry = ShardIndex::read(&path).unwrap().entries()[2].clone();
    let mut bytes = std::fs::read(&path).unwrap();
    bytes[(entry.offset + entry.stored_len / 2) as usize] ^= 0x40;
    std::fs::write(&path, &bytes).unwrap();

    let r = ShardReader::open(&path).expect("the index is intact, so the shard opens");
    let err = r.read_f32(2).unwrap_err();
    match &err {
        FrameError::CorruptRecord {
            path: p,
            index,
            key,
            offset,
            reason,
        } => {
            assert_eq!(p, &path);
            assert_eq!(*index, 2);
            assert_eq!(key, "sample-2");
            assert_eq!(*offset, entry.offset);
            assert!(reason.contains("checksum"), "{reason}");
        }
        other => panic!("expected CorruptRecord, got {other}"),
    }
    let msg = err.to_string();
    assert!(
        msg.contains("shard-00000.dvsf") && msg.contains("sample-2"),
        "{msg}"
    );
    assert!(err.is_corruption());
    // The other records are unaffected.
    for i in [0, 1, 3] {
        assert_eq!(r.read_counts(i).unwrap(), records[i].2);
    }
}

#[test]
fn truncated_shard_gives_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let path = write_one_shard(dir.path(), &sample_records(4));
    let bytes = std::fs::read(&path).unwrap();
    for cut in [
        bytes.len() - 1,
        bytes.len() - FOOTER_LEN,
        bytes.len() / 2,
        HEADER_LEN + 3,
        10,
    ] {
        std::fs::write(&path, &bytes[..cut]).unwrap();
        let err = ShardReader::open(&path).unwrap_err();
        assert!(
            matches!(err, FrameError::CorruptShard { .. }),
            "cut at {cut}: {err}"
        );
        assert!(err.to_string().contains("shard-00000.dvsf"), "{err}");
        let err = ShardIndex::read(&path).unwrap_err();
        assert!(
            matches!(err, FrameError::CorruptShard { .. }),
            "cut at {cut}: {err}"
        );
    }
    std::fs::write(&path, b"").unwrap();
    assert!(matches!(
        ShardReader::open(&path).unwrap_err(),
        FrameError::BadMagic { .. }
    ));
}

#[test]
fn bad_magic_version_and_index_are_rejected() {
    let dir = tempfile::tempdir().unwrap();
    let path = write_one_shard(dir.path(), &sample_records(3));
    let good = std::fs::read(&path).unwrap();

    let mut bad = good.clone();
    bad[0] = b'X';
    assert!(matches!(
        ShardReader::from_bytes(&path, bad).unwrap_err(),
        FrameError::BadMagic { .. }
    ));

    let mut bad = good.clone();
    let newer = dvs_frames::format::VERSION + 1;
    bad[8] = newer as u8; // header version
    let err = ShardReader::from_bytes(&path, bad).unwrap_err();
    assert!(
        matches!(
            err,
            FrameError::UnsupportedVersion {
                found,
                offset: 8,
                ..
            } if found == newer
        ),
        "{err}"
    );

    let mut bad = good.clone();
    let footer_version = good.len() - FOOTER_LEN + 32;
    bad[footer_version] = 9;
    let err = ShardReader::from_bytes(&path, bad).unwrap_err();
    assert!(
        matches!(err, FrameError::UnsupportedVersion { found: 9, .. }),
        "{err}"
    );

    let index_offset = ShardIndex::read(&path)
        .unwrap()
        .entries()
        .last()
        .map(|e| e.offset + e.stored_len)
        .unwrap();
    let mut bad = good.clone();
    bad[index_offset as usize + 33] ^= 1; // a label byte inside the index
    let err = ShardReader::from_bytes(&path, bad).unwrap_err();
    match err {
        FrameError::CorruptShard {
            offset, ref reason, ..
        } => {
            assert_eq!(offset, index_offset);
            assert!(reason.contains("index checksum"), "{reason}");
        }
        other => panic!("expected CorruptShard, got {other}"),
    }

    let mut bad = good.clone();
    let record_count = good.len() - FOOTER_LEN + 16;
    bad[record_count..record_count + 8].copy_from_slice(&u64::MAX.to_le_bytes());
    assert!(matches!(
        ShardReader::from_bytes(&path, bad).unwrap_err(),
        FrameError::CorruptShard { .. }
    ));
}

#[test]
fn dataset_info_round_trips_and_writes_atomically() {
    let dir = tempfile::tempdir().unwrap();
    let info = prepared::index_pattern(
        dir.path(),
        [2, 2, 4, 4],
        &[("train", 5), ("test", 2)],
        1 << 20,
        3,
    )
    .unwrap()
    .info;
    let back = DatasetInfo::read(dir.path()).unwrap();
    assert_eq!(back, info);
    assert_eq!(back.split("train").unwrap().samples, 5);
    assert!(back.split("val").is_err());
    assert_eq!(back.sample_shape(), [2, 2, 4, 4]);
    let json: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.path().join("dataset.json")).unwrap()).unwrap();
    assert_eq!(json["dtype"], "u8");

    let mut wrong = info.clone();
    wrong.format_version = 99;
    wrong.write_atomic(dir.path()).unwrap();
    assert!(matches!(
        DatasetInfo::read(dir.path()).unwrap_err(),
        FrameError::Dataset { .. }
    ));

    let target = dir.path().join("note.txt");
    atomic_write(&target, b"first").unwrap();
    atomic_write(&target, b"second").unwrap();
    assert_eq!(std::fs::read(&target).unwrap(), b"second");
    let names: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert!(
        names.iter().all(|n| !n.to_string_lossy().contains(".tmp")),
        "{names:?}"
    );
}

/// One valid shard, written once per test binary (under cargo's per-target temporary dir) so
/// the property tests do not pay a file write + fsync per case.
fn reference_shard() -> (PathBuf, Vec<u8>) {
    static SHARD: std::sync::OnceLock<(PathBuf, Vec<u8>)> = std::sync::OnceLock::new();
    SHARD
        .get_or_init(|| {
            let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("dvs-frames-reference-shard");
            let _ = std::fs::remove_dir_all(&dir);
            let path = write_one_shard(&dir, &sample_records(3));
            let bytes = std::fs::read(&path).unwrap();
            (path, bytes)
        })
        .clone()
}

/// Opens `bytes` and decodes every record; must return (Ok or Err), never panic.
fn exercise(path: &Path, bytes: Vec<u8>) {
    if let Ok(r) = ShardReader::from_bytes(path, bytes) {
        for i in 0..r.len() {
            let _ = r.read_raw(i);
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, .. ProptestConfig::default() })]

    #[test]
    fn reader_never_panics_on_mutated_bytes(
        flips in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..8),
    ) {
        let (path, mut bytes) = reference_shard();
        for (at, value) in flips {
            let i = at.index(bytes.len());
            bytes[i] = value;
        }
        exercise(&path, bytes);
    }

    #[test]
    fn reader_never_panics_on_truncated_or_extended_bytes(cut in any::<prop::sample::Index>(), extra in proptest::collection::vec(any::<u8>(), 0..64)) {
        let (path, bytes) = reference_shard();
        let mut b = bytes[..cut.index(bytes.len() + 1)].to_vec();
        b.extend_from_slice(&extra);
        exercise(&path, b);
    }

    #[test]
    fn reader_never_panics_on_arbitrary_bytes(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
        let mut b = b"DVSFSHRD\x01\0\0\0\x20\0\0\0".to_vec();
        b.extend_from_slice(&bytes);
        exercise(Path::new("arbitrary.dvsf"), b);
        exercise(Path::new("arbitrary.dvsf"), bytes);
    }
}

#[test]
fn index_only_reader_never_panics_on_damaged_files() {
    // ShardIndex::read goes through positioned reads on a real file; damage a few layouts.
    let dir = tempfile::tempdir().unwrap();
    let path = write_one_shard(dir.path(), &sample_records(3));
    let bytes = std::fs::read(&path).unwrap();
    let len = bytes.len();
    for (at, value) in [
        (len - 48, 0xffu8),
        (len - 40, 0x7f),
        (len - 20, 3),
        (len - 60, 0),
        (40, 0),
    ] {
        let mut b = bytes.clone();
        b[at] = value;
        std::fs::write(&path, &b).unwrap();
        let _ = ShardIndex::read(&path);
    }
}

/// Counts with one nonzero element in `every` (the rest zero), as event frames mostly are.
fn sparse_counts(len: usize, every: usize, max: u32) -> Vec<u32> {
    (0..len)
        .map(|j| {
            if j % every == 3 % every {
                1 + (j as u32 * 7) % max
            } else {
                0
            }
        })
        .collect()
}

#[test]
fn sparse_records_round_trip_in_every_dtype_and_dense_ones_stay_dense() {
    let dir = tempfile::tempdir().unwrap();
    let shape = [4, 2, 30, 40];
    let len: usize = shape.iter().product();
    let mut w = ShardSetWriter::create(dir.path(), "shard", u64::MAX, 1).unwrap();
    let cases = [
        (sparse_counts(len, 25, 200), Dtype::U8, Encoding::Sparse),
        (sparse_counts(len, 25, 60_000), Dtype::U16, Encoding::Sparse),
        (
            sparse_counts(len, 25, 4_000_000),
            Dtype::U32,
            Encoding::Sparse,
        ),
        // Too dense for sparse, and most nonzero counts above 1: dense, not count planes.
        (sparse_counts(len, 2, 200), Dtype::U8, Encoding::Dense),
        (sparse_counts(len, 3, 60_000), Dtype::U16, Encoding::Dense),
        (vec![0; len], Dtype::U8, Encoding::Sparse),
    ];
    for (i, (counts, _, _)) in cases.iter().enumerate() {
        w.append(&SampleRecord {
            key: &format!("c{i}"),
            label: i as u32,
            shape,
            frames: FrameData::Counts(counts),
        })
        .unwrap();
    }
    let floats: Vec<f32> = (0..len)
        .map(|j| {
            if j % 20 == 0 {
                j as f32 * 0.0625 - 3.0
            } else {
                0.0
            }
        })
        .collect();
    w.append(&SampleRecord {
        key: "f",
        label: 9,
        shape,
        frames: FrameData::Float(&floats),
    })
    .unwrap();
    let shards = w.finish().unwrap();
    let r = ShardReader::open(&shards[0].path).unwrap();
    for (i, (counts, dtype, encoding)) in cases.iter().enumerate() {
        let entry = r.index().entry(i).unwrap();
        assert_eq!(
            (entry.dtype, entry.encoding),
            (*dtype, *encoding),
            "case {i}"
        );
        if *encoding == Encoding::Sparse {
            assert!(entry.raw_len * 2 < entry.dense_len() as u64, "case {i}");
        }
        assert_eq!(&r.read_counts(i).unwrap(), counts, "case {i}");
    }
    let entry = r.index().entry(cases.len()).unwrap();
    assert_eq!(entry.encoding, Encoding::Sparse);
    assert_eq!(r.read_f32(cases.len()).unwrap(), floats);
}

#[test]
fn dense_float_frames_stay_dense() {
    let dir = tempfile::tempdir().unwrap();
    let floats: Vec<f32> = (0..LEN).map(|j| j as f32 * 0.25 + 0.5).collect();
    let path = write_single(dir.path(), FrameData::Float(&floats));
    let r = ShardReader::open(&path).unwrap();
    assert_eq!(r.index().entry(0).unwrap().encoding, Encoding::Dense);
    assert_eq!(r.read_f32(0).unwrap(), floats);
}

/// Count planes where the nonzero cells are too many for sparse and few are above 1 (event
/// frames), at every dtype; records with more than one element in 16 above 1, or where the
/// planes would not be smaller, stay dense.
#[test]
fn count_planes_round_trip_and_give_way_to_dense() {
    let dir = tempfile::tempdir().unwrap();
    let shape = [2, 2, 17, 23]; // 1564 elements: the planes end inside a byte
    let len: usize = shape.iter().product();
    // Half zeros, 1 in 20 above 1 (up to `max`), the rest ones.
    let event_like = |max: u32| -> Vec<u32> {
        (0..len as u32)
            .map(|i| match i % 20 {
                0..=9 => 0,
                19 => 2 + (i * 7919) % (max - 1),
                _ => 1,
            })
            .collect()
    };
    let cases = [
        (event_like(255), Dtype::U8, Encoding::Planes),
        (event_like(65_535), Dtype::U16, Encoding::Planes),
        (event_like(5_000_000), Dtype::U32, Encoding::Planes),
        // One in five above 1: cheaper to read dense.
        (
            (0..len as u32)
                .map(|i| [0, 0, 1, 1, 3][i as usize % 5])
                .collect(),
            Dtype::U8,
            Encoding::Dense,
        ),
        (
            (0..len as u32).map(|i| 2 + i % 200).collect(),
            Dtype::U8,
            Encoding::Dense,
        ),
    ];
    let mut w = ShardSetWriter::create(dir.path(), "shard", u64::MAX, 1).unwrap();
    for (i, (counts, _, _)) in cases.iter().enumerate() {
        w.append(&SampleRecord {
            key: &format!("c{i}"),
            label: 0,
            shape,
            frames: FrameData::Counts(counts),
        })
        .unwrap();
    }
    let path = w.finish().unwrap()[0].path.clone();
    let r = ShardReader::open(&path).unwrap();
    for (i, (counts, dtype, encoding)) in cases.iter().enumerate() {
        let entry = r.index().entry(i).unwrap();
        assert_eq!(
            (entry.dtype, entry.encoding),
            (*dtype, *encoding),
            "case {i}"
        );
        assert_eq!(&r.read_counts(i).unwrap(), counts, "case {i}");
    }
}

/// Sets the header's and the footer's version fields of a shard to `version`.
fn with_version(mut bytes: Vec<u8>, version: u32) -> Vec<u8> {
    let footer_version = bytes.len() - FOOTER_LEN + 32;
    bytes[8..12].copy_from_slice(&version.to_le_bytes());
    bytes[footer_version..footer_version + 4].copy_from_slice(&version.to_le_bytes());
    bytes
}

#[test]
fn older_versions_still_read_and_cannot_hold_newer_encodings() {
    let dir = tempfile::tempdir().unwrap();
    // Dense records only: the same bytes as a version-1 writer wrote, apart from the version.
    let floats: Vec<Vec<f32>> = (0..3)
        .map(|i| (0..LEN).map(|j| (i * LEN + j) as f32 + 1.0).collect())
        .collect();
    let mut w = ShardSetWriter::create(dir.path(), "shard", u64::MAX, 1).unwrap();
    for (i, f) in floats.iter().enumerate() {
        w.append(&SampleRecord {
            key: &format!("d{i}"),
            label: 0,
            shape: SHAPE,
            frames: FrameData::Float(f),
        })
        .unwrap();
    }
    let dense = w.finish().unwrap()[0].path.clone();
    let current = ShardReader::open(&dense).unwrap();
    assert!(current
        .index()
        .entries()
        .iter()
        .all(|e| e.encoding == Encoding::Dense));
    for version in 1..dvs_frames::format::VERSION {
        let old = ShardReader::from_bytes(
            &dense,
            with_version(std::fs::read(&dense).unwrap(), version),
        )
        .unwrap();
        for (i, f) in floats.iter().enumerate() {
            assert_eq!(&old.read_f32(i).unwrap(), f, "version {version}");
        }
    }
    // A sparse record in a file that says version 1, or a count-planes record in one that says
    // version 1 or 2, is damage, named at its encoding byte.
    let cases = [
        (sparse_counts(LEN, 40, 5), Encoding::Sparse, 2u32),
        (
            (0..LEN)
                .map(|j| if j == 5 { 3 } else { j as u32 % 2 })
                .collect(),
            Encoding::Planes,
            3,
        ),
    ];
    for (counts, encoding, since) in cases {
        let newer_dir = tempfile::tempdir().unwrap();
        let path = write_single(newer_dir.path(), FrameData::Counts(&counts));
        let good = std::fs::read(&path).unwrap();
        let entry = ShardIndex::read(&path).unwrap().entries()[0].clone();
        assert_eq!(entry.encoding, encoding);
        let index_offset = entry.offset + entry.stored_len;
        for version in 1..since {
            match ShardReader::from_bytes(&path, with_version(good.clone(), version)).unwrap_err() {
                FrameError::CorruptShard { offset, reason, .. } => {
                    assert_eq!(offset, index_offset + 53);
                    let expected =
                        format!("encoding code {} for version {version}", encoding.code());
                    assert!(reason.contains(&expected), "{reason}");
                }
                other => panic!("expected CorruptShard, got {other}"),
            }
        }
        // Header and footer must agree.
        let mut mixed = good;
        mixed[8] = 1;
        assert!(matches!(
            ShardReader::from_bytes(&path, mixed).unwrap_err(),
            FrameError::UnsupportedVersion { found, .. } if found == dvs_frames::format::VERSION
        ));
    }
}
