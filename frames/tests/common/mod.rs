//! Helpers shared by the integration tests: synthetic samples and prepared dataset directories.

#![allow(dead_code)]

use std::collections::BTreeMap;
use std::path::Path;

use dvs_frames::{DatasetInfo, Dtype, FrameData, SampleRecord, ShardSetWriter, SplitInfo};

/// Deterministic counts for sample `i`: distinct-ish values below `max + 1`.
pub fn counts(i: usize, len: usize, max: u32) -> Vec<u32> {
    (0..len)
        .map(|j| {
            let x = (i as u64 * 7919 + j as u64 * 104_729) ^ (j as u64 >> 3);
            (x % (u64::from(max) + 1)) as u32
        })
        .collect()
}

/// Writes a dataset with one split per `(name, samples)` entry; sample `i` of a split has key
/// `<split>-<i>`, label `i % 10` and counts from [`counts`] with maximum `max`.
pub fn write_dataset(
    dir: &Path,
    shape: [usize; 4],
    splits: &[(&str, usize)],
    target_bytes: u64,
    max: u32,
) -> DatasetInfo {
    let len: usize = shape.iter().product();
    let mut infos = BTreeMap::new();
    for &(split, n) in splits {
        let mut writer =
            ShardSetWriter::create(&dir.join(split), "shard", target_bytes, 3).unwrap();
        for i in 0..n {
            let c = counts(i, len, max);
            let key = format!("{split}-{i}");
            writer
                .append(&SampleRecord {
                    key: &key,
                    label: (i % 10) as u32,
                    shape,
                    frames: FrameData::Counts(&c),
                })
                .unwrap();
        }
        let shards = writer.finish().unwrap();
        infos.insert(
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
    let info = DatasetInfo {
        format_version: DatasetInfo::FORMAT_VERSION,
        kind: "synthetic".into(),
        classes: (0..10).map(|c| format!("class{c}")).collect(),
        frames: shape[0],
        height: shape[2],
        width: shape[3],
        dtype: Dtype::narrowest_for(max),
        params: serde_json::json!({ "generator": "tests/common" }),
        params_hash: "test".into(),
        splits: infos,
    };
    info.write_atomic(dir).unwrap();
    info
}
