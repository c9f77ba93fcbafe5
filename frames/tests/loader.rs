//! Loader tests: determinism across worker counts and prefetch depths, epoch/seed dependence,
//! coverage, exact values without augmentation, augmentation applied identically to all frames,
//! batch sizes with and without drop_last, and the corrupt record policies.

use std::collections::BTreeSet;
use std::path::Path;

use dvs_fixtures::testing::prepared;
use dvs_frames::{
    augment::augment_sample, AugmentParams, Batch, CorruptPolicy, FrameError, Loader, LoaderConfig,
    ShardIndex, ShardReader, ValueTransform,
};

const SHAPE: [usize; 4] = [3, 2, 8, 8];

fn dataset(n: usize, target_bytes: u64) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    prepared::index_pattern(
        dir.path(),
        SHAPE,
        &[("train", n), ("test", 7)],
        target_bytes,
        200,
    )
    .unwrap();
    dir
}

fn collect(loader: &Loader, epoch: u64) -> Vec<Batch> {
    loader.epoch(epoch).map(|b| b.unwrap()).collect()
}

fn train_config(workers: usize, prefetch: usize) -> LoaderConfig {
    LoaderConfig {
        batch_size: 8,
        workers,
        prefetch,
        transform: ValueTransform::MaxNorm,
        ..LoaderConfig::train(8, 1234)
    }
}

fn assert_same(a: &[Batch], b: &[Batch]) {
    assert_eq!(a.len(), b.len());
    for (x, y) in a.iter().zip(b) {
        assert_eq!(x.index, y.index);
        assert_eq!(x.keys, y.keys);
        assert_eq!(x.labels, y.labels);
        assert_eq!(x.shape, y.shape);
        assert!(x.data == y.data, "batch {} data differs", x.index);
    }
}

#[test]
fn batches_depend_only_on_seed_and_epoch() {
    let dir = dataset(61, 2_000);
    let reference = Loader::open(dir.path(), "train", train_config(1, 1)).unwrap();
    let shard_count = dvs_frames::DatasetInfo::read(dir.path()).unwrap().splits["train"]
        .shards
        .len();
    assert!(shard_count >= 4, "want several shards, got {shard_count}");
    let epoch0 = collect(&reference, 0);
    for (workers, prefetch) in [(2, 1), (3, 2), (4, 8)] {
        let other = Loader::open(dir.path(), "train", train_config(workers, prefetch)).unwrap();
        assert_same(&epoch0, &collect(&other, 0));
    }
    // Re-running the same epoch on the same loader gives the same batches too.
    assert_same(&epoch0, &collect(&reference, 0));

    let keys = |bs: &[Batch]| bs.iter().flat_map(|b| b.keys.clone()).collect::<Vec<_>>();
    let epoch1 = collect(&reference, 1);
    assert_ne!(keys(&epoch0), keys(&epoch1), "a new epoch must reshuffle");
    let other_seed = Loader::open(
        dir.path(),
        "train",
        LoaderConfig {
            seed: 99,
            ..train_config(2, 2)
        },
    )
    .unwrap();
    assert_ne!(
        keys(&epoch0),
        keys(&collect(&other_seed, 0)),
        "a new seed must reshuffle"
    );
    assert_eq!(reference.epoch_keys(1).unwrap(), keys(&epoch1));

    // Every sample exactly once per epoch, and shuffling mixes shards within the first batch.
    for epoch in [&epoch0, &epoch1] {
        let all = keys(epoch);
        assert_eq!(all.len(), 61);
        assert_eq!(all.iter().collect::<BTreeSet<_>>().len(), 61);
    }
    let first_batch_shards: BTreeSet<usize> = epoch0[0]
        .keys
        .iter()
        .map(|k| k.trim_start_matches("train-").parse::<usize>().unwrap() / 8)
        .collect();
    assert!(
        first_batch_shards.len() > 1,
        "first batch comes from one region: {:?}",
        epoch0[0].keys
    );
}

#[test]
fn windowed_shuffle_is_deterministic_and_complete() {
    let dir = dataset(61, 2_000);
    let cfg = |workers| LoaderConfig {
        shuffle_window: 2,
        ..train_config(workers, 2)
    };
    let a = collect(&Loader::open(dir.path(), "train", cfg(1)).unwrap(), 3);
    let b = collect(&Loader::open(dir.path(), "train", cfg(3)).unwrap(), 3);
    assert_same(&a, &b);
    let keys: BTreeSet<String> = a.iter().flat_map(|b| b.keys.clone()).collect();
    assert_eq!(keys.len(), 61);
}

#[test]
fn unaugmented_batches_hold_the_stored_values_in_file_order() {
    let dir = dataset(20, 3_000);
    let loader = Loader::open(dir.path(), "train", LoaderConfig::eval(6)).unwrap();
    assert_eq!(loader.len(), 20);
    assert_eq!(loader.num_batches(), 4);
    let info = loader.info().clone();
    let mut expected = Vec::new();
    for rel in &info.splits["train"].shards {
        let r = ShardReader::open(dir.path().join(rel)).unwrap();
        for i in 0..r.len() {
            expected.push((
                r.key(i).unwrap().to_owned(),
                r.label(i).unwrap(),
                r.read_f32(i).unwrap(),
            ));
        }
    }
    let batches = collect(&loader, 0);
    let sizes: Vec<usize> = batches.iter().map(|b| b.len()).collect();
    assert_eq!(sizes, [6, 6, 6, 2], "partial last batch kept");
    let sample_len: usize = SHAPE.iter().product();
    let mut k = 0;
    for b in &batches {
        assert_eq!(b.shape, [b.len(), 3, 2, 8, 8]);
        assert_eq!(b.data.len(), b.len() * sample_len);
        for (s, chunk) in b.data.chunks_exact(sample_len).enumerate() {
            let (key, label, values) = &expected[k];
            assert_eq!(&b.keys[s], key);
            assert_eq!(key, &format!("train-{k}"), "file order");
            assert_eq!(b.labels[s], *label);
            assert_eq!(chunk, values.as_slice());
            k += 1;
        }
    }
    let dropped = Loader::open(
        dir.path(),
        "train",
        LoaderConfig {
            drop_last: true,
            ..LoaderConfig::eval(6)
        },
    )
    .unwrap();
    assert_eq!(dropped.num_batches(), 3);
    let sizes: Vec<usize> = collect(&dropped, 0).iter().map(|b| b.len()).collect();
    assert_eq!(sizes, [6, 6, 6]);
    let test = Loader::open(dir.path(), "test", LoaderConfig::eval(4)).unwrap();
    assert_eq!(
        collect(&test, 0)
            .iter()
            .map(|b| b.len())
            .collect::<Vec<_>>(),
        [4, 3]
    );
}

/// Finds the (flip, dy, dx) in the ±5 recipe that maps `stored` frame 0 onto `augmented`
/// frame 0, then checks those parameters reproduce every frame of the sample.
fn recover_params(shape: [usize; 4], stored: &[f32], augmented: &[f32]) -> AugmentParams {
    let frame = shape[1] * shape[2] * shape[3];
    let mut found = Vec::new();
    for flip in [false, true] {
        for dy in -5..=5 {
            for dx in -5..=5 {
                let p = AugmentParams { flip, dy, dx };
                let mut out = vec![0.0; stored.len()];
                augment_sample(stored, shape, p, ValueTransform::Raw, &mut out);
                if out[..frame] == augmented[..frame] {
                    found.push((p, out));
                }
            }
        }
    }
    assert!(!found.is_empty(), "no flip/roll within ±5 explains frame 0");
    let (p, out) = found.swap_remove(0);
    assert_eq!(out, augmented, "{p:?} explains frame 0 but not every frame");
    p
}

#[test]
fn augmentation_is_one_flip_and_roll_per_sample_shared_by_all_frames() {
    // 12 x 12 frames, so that each roll in [-5, 5] is a distinct shift (on 8 x 8, 5 = -3).
    let shape = [2, 2, 12, 12];
    let dir = tempfile::tempdir().unwrap();
    prepared::index_pattern(dir.path(), shape, &[("train", 64)], 1 << 20, 200).unwrap();
    let cfg = LoaderConfig {
        batch_size: 16,
        workers: 2,
        ..LoaderConfig::train(16, 5)
    };
    let loader = Loader::open(dir.path(), "train", cfg).unwrap();
    let reader =
        ShardReader::open(dir.path().join(&loader.info().splits["train"].shards[0])).unwrap();
    let sample_len: usize = shape.iter().product();
    let mut flips = 0;
    let mut rolls = BTreeSet::new();
    for b in collect(&loader, 0) {
        for (s, chunk) in b.data.chunks_exact(sample_len).enumerate() {
            let i: usize = b.keys[s].trim_start_matches("train-").parse().unwrap();
            let p = recover_params(shape, &reader.read_f32(i).unwrap(), chunk);
            flips += usize::from(p.flip);
            rolls.insert(p.dy);
            rolls.insert(p.dx);
        }
    }
    assert!((16..=48).contains(&flips), "{flips} of 64 flipped");
    assert_eq!(
        rolls.into_iter().collect::<Vec<_>>(),
        (-5..=5).collect::<Vec<_>>()
    );
}

#[test]
fn max_norm_batches_peak_at_one_per_frame() {
    let dir = dataset(10, 1 << 20);
    let cfg = LoaderConfig {
        transform: ValueTransform::MaxNorm,
        ..LoaderConfig::train(4, 1)
    };
    let loader = Loader::open(dir.path(), "train", cfg).unwrap();
    let frame = SHAPE[1] * SHAPE[2] * SHAPE[3];
    for b in collect(&loader, 0) {
        for f in b.data.chunks_exact(frame) {
            let max = f.iter().copied().fold(f32::MIN, f32::max);
            assert!(max == 1.0 || max == 0.0, "frame max {max}");
        }
    }
}

fn corrupt_record(dir: &Path, shard_rel: &str, record: usize) -> String {
    let path = dir.join(shard_rel);
    let entry = ShardIndex::read(&path).unwrap().entries()[record].clone();
    let mut bytes = std::fs::read(&path).unwrap();
    bytes[(entry.offset + entry.stored_len / 3) as usize] ^= 0xff;
    std::fs::write(&path, bytes).unwrap();
    entry.key
}

#[test]
fn corrupt_records_fail_by_default_and_can_be_skipped() {
    let dir = dataset(30, 3_000);
    let info = dvs_frames::DatasetInfo::read(dir.path()).unwrap();
    let shard = info.splits["train"].shards[1].clone();
    let bad_key = corrupt_record(dir.path(), &shard, 1);

    let failing = Loader::open(dir.path(), "train", LoaderConfig::train(4, 3)).unwrap();
    let results: Vec<_> = failing.epoch(0).collect();
    let err = results.last().unwrap().as_ref().unwrap_err();
    match err {
        FrameError::CorruptRecord {
            path, index, key, ..
        } => {
            assert!(path.ends_with(&shard), "{}", path.display());
            assert_eq!(*index, 1);
            assert_eq!(key, &bad_key);
        }
        other => panic!("expected CorruptRecord, got {other}"),
    }
    assert!(
        results[..results.len() - 1].iter().all(|r| r.is_ok()),
        "only the last item is the error"
    );

    let cfg = LoaderConfig {
        on_corrupt: CorruptPolicy::Skip,
        ..LoaderConfig::train(4, 3)
    };
    let skipping = Loader::open(dir.path(), "train", cfg).unwrap();
    let mut epoch = skipping.epoch(0);
    let batches: Vec<Batch> = epoch.by_ref().map(|b| b.unwrap()).collect();
    let keys: Vec<&String> = batches.iter().flat_map(|b| &b.keys).collect();
    assert_eq!(keys.len(), 29);
    assert!(!keys.contains(&&bad_key));
    let skipped = epoch.skipped();
    assert_eq!(skipped.len(), 1);
    assert_eq!(skipped[0].key, bad_key);
    assert_eq!(skipped[0].index, 1);
    assert!(skipped[0].shard.ends_with(&shard));
    assert!(
        skipped[0].reason.contains("checksum"),
        "{}",
        skipped[0].reason
    );
    let reporting: Vec<&Batch> = batches.iter().filter(|b| !b.skipped.is_empty()).collect();
    assert_eq!(reporting.len(), 1);
    assert_eq!(
        reporting[0].len(),
        3,
        "the batch with the bad record is one short"
    );
    assert_eq!(reporting[0].data.len(), 3 * SHAPE.iter().product::<usize>());
}

#[test]
fn open_rejects_inconsistent_datasets() {
    let dir = dataset(10, 1 << 20);
    assert!(matches!(
        Loader::open(dir.path(), "validation", LoaderConfig::eval(4)).unwrap_err(),
        FrameError::Dataset { .. }
    ));
    assert!(Loader::open(dir.path(), "train", LoaderConfig::eval(0)).is_err());
    let mut info = dvs_frames::DatasetInfo::read(dir.path()).unwrap();
    info.splits.get_mut("train").unwrap().samples = 11;
    info.write_atomic(dir.path()).unwrap();
    let err = Loader::open(dir.path(), "train", LoaderConfig::eval(4)).unwrap_err();
    assert!(err.to_string().contains("11"), "{err}");
    info.splits.get_mut("train").unwrap().samples = 10;
    info.height = 9;
    info.write_atomic(dir.path()).unwrap();
    let err = Loader::open(dir.path(), "train", LoaderConfig::eval(4)).unwrap_err();
    assert!(err.to_string().contains("shape"), "{err}");
    // A truncated shard is caught when the loader opens.
    let mut fixed = dvs_frames::DatasetInfo::read(dir.path()).unwrap();
    fixed.height = 8;
    fixed.write_atomic(dir.path()).unwrap();
    let shard = dir.path().join(&fixed.splits["train"].shards[0]);
    let bytes = std::fs::read(&shard).unwrap();
    std::fs::write(&shard, &bytes[..bytes.len() - 5]).unwrap();
    let err = Loader::open(dir.path(), "train", LoaderConfig::eval(4)).unwrap_err();
    assert!(matches!(err, FrameError::CorruptShard { .. }), "{err}");
}

#[test]
fn dropping_an_epoch_midway_stops_cleanly() {
    let dir = dataset(40, 2_000);
    let loader = Loader::open(
        dir.path(),
        "train",
        LoaderConfig {
            prefetch: 1,
            ..LoaderConfig::train(4, 0)
        },
    )
    .unwrap();
    let mut epoch = loader.epoch(0);
    let first = epoch.next().unwrap().unwrap();
    assert_eq!(first.len(), 4);
    drop(epoch);
    // The loader is still usable afterwards.
    assert_eq!(collect(&loader, 1).len(), 10);
}

#[test]
fn cached_shards_serve_later_epochs_without_rereading() {
    let dir = dataset(30, 2_000);
    let uncached_cfg = LoaderConfig {
        cache_bytes: 0,
        ..train_config(2, 2)
    };
    let uncached = Loader::open(dir.path(), "train", uncached_cfg).unwrap();
    let expected_epoch1 = collect(&uncached, 1);
    let cached = Loader::open(dir.path(), "train", train_config(2, 2)).unwrap();
    assert_same(&collect(&uncached, 0), &collect(&cached, 0));
    // Remove the shard files: the cached loader still serves epoch 1, the uncached one cannot.
    std::fs::remove_dir_all(dir.path().join("train")).unwrap();
    assert_same(&expected_epoch1, &collect(&cached, 1));
    let err = uncached
        .epoch(2)
        .find_map(|b| b.err())
        .expect("shards are gone");
    assert!(matches!(err, FrameError::Io { .. }), "{err}");
}
