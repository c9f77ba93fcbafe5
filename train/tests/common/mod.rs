//! Synthetic class-dependent DVS datasets for the training tests, written with `dvs_frames`'
//! writer: class k is a bright blob moving in direction k (right, left, down, up), ON events in
//! polarity channel k % 2, plus sparse uniform noise; start positions are random per sample.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::path::Path;

use dvs_frames::{DatasetInfo, Dtype, FrameData, SampleRecord, ShardSetWriter, SplitInfo};
use rand::{Rng, SeedableRng};

/// Number of classes of the synthetic set.
pub const CLASSES: usize = 4;

fn sample(rng: &mut rand_chacha::ChaCha8Rng, class: usize, t: usize, hw: usize) -> Vec<u32> {
    let mut frames = vec![0u32; t * 2 * hw * hw];
    let (dx, dy): (i64, i64) = [(1, 0), (-1, 0), (0, 1), (0, -1)][class];
    let step = 2i64;
    let mut x = rng.random_range(3..hw as i64 - 3);
    let mut y = rng.random_range(3..hw as i64 - 3);
    let pol = class % 2;
    for ti in 0..t {
        for oy in -1..=1i64 {
            for ox in -1..=1i64 {
                let px = (x + ox).rem_euclid(hw as i64) as usize;
                let py = (y + oy).rem_euclid(hw as i64) as usize;
                frames[((ti * 2 + pol) * hw + py) * hw + px] += rng.random_range(2..5);
            }
        }
        for _ in 0..hw / 2 {
            let c = rng.random_range(0..2usize);
            let px = rng.random_range(0..hw);
            let py = rng.random_range(0..hw);
            frames[((ti * 2 + c) * hw + py) * hw + px] += 1;
        }
        x += dx * step;
        y += dy * step;
    }
    frames
}

/// Writes a dataset with `train`/`test` splits of the given sizes into `dir`.
pub fn write_moving_blobs(dir: &Path, t: usize, hw: usize, train: usize, test: usize, seed: u64) {
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
    let mut splits = BTreeMap::new();
    for (split, n) in [("train", train), ("test", test)] {
        let mut writer = ShardSetWriter::create(&dir.join(split), "shard", 1 << 20, 1).unwrap();
        for i in 0..n {
            let class = i % CLASSES;
            let frames = sample(&mut rng, class, t, hw);
            let key = format!("{split}-{i}");
            writer
                .append(&SampleRecord {
                    key: &key,
                    label: class as u32,
                    shape: [t, 2, hw, hw],
                    frames: FrameData::Counts(&frames),
                })
                .unwrap();
        }
        let shards = writer.finish().unwrap();
        splits.insert(
            split.to_string(),
            SplitInfo {
                shards: shards
                    .iter()
                    .map(|s| format!("{split}/{}", s.file))
                    .collect(),
                samples: n as u64,
            },
        );
    }
    DatasetInfo {
        format_version: DatasetInfo::FORMAT_VERSION,
        kind: "synthetic-moving-blobs".into(),
        classes: ["right", "left", "down", "up"]
            .iter()
            .map(|s| s.to_string())
            .collect(),
        frames: t,
        height: hw,
        width: hw,
        dtype: Dtype::U32,
        params: serde_json::json!({ "generator": "asgl-train tests/common", "seed": seed }),
        params_hash: format!("moving-blobs-{seed}"),
        splits,
    }
    .write_atomic(dir)
    .unwrap();
}
