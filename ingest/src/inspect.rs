//! `dvs-ingest inspect`: dataset statistics (from `dataset.json`,
//! `manifest.parquet` and `errors.json`) and a PNG preview of one sample's
//! frames: one tile per frame, left to right, ON counts in green and OFF counts
//! in red (yellow where both), scaled by the sample's largest value.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use dvs_frames::{DatasetInfo, ShardReader};

use crate::manifest::ManifestRow;
use crate::report::ErrorsReport;

/// An inspect failure.
#[derive(Debug, thiserror::Error)]
pub enum InspectError {
    /// dataset.json or a shard.
    #[error(transparent)]
    Frames(#[from] dvs_frames::FrameError),
    /// manifest.parquet (the error names the file).
    #[error(transparent)]
    Manifest(#[from] crate::manifest::ManifestError),
    /// Anything else.
    #[error("{0}")]
    Other(String),
}

fn summary(values: &[f64]) -> String {
    if values.is_empty() {
        return "-".into();
    }
    let min = values.iter().copied().fold(f64::INFINITY, f64::min);
    let max = values.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    let mean = values.iter().sum::<f64>() / values.len() as f64;
    format!("min {min:.0}, mean {mean:.1}, max {max:.0}")
}

/// Human-readable statistics of the dataset in `dir`.
pub fn stats(dir: &Path) -> Result<String, InspectError> {
    let info = DatasetInfo::read(dir)?;
    let manifest = crate::manifest::read(dir)?;
    let mut s = String::new();
    let _ = writeln!(s, "dataset      {}", dir.display());
    let _ = writeln!(s, "kind         {}", info.kind);
    let _ = writeln!(
        s,
        "frames       [T={}, 2, H={}, W={}] stored as {}",
        info.frames, info.height, info.width, info.dtype
    );
    let _ = writeln!(s, "params_hash  {}", info.params_hash);
    let _ = writeln!(s, "params       {}", info.params);
    for (name, split_info) in &info.splits {
        let rows: Vec<&ManifestRow> = manifest
            .iter()
            .filter(|r| r.meta.split.as_str() == name)
            .collect();
        let _ = writeln!(
            s,
            "\nsplit {name}: {} samples in {} shard(s)",
            split_info.samples,
            split_info.shards.len()
        );
        let mut per_class: BTreeMap<usize, (String, usize)> = BTreeMap::new();
        for r in &rows {
            let class = &r.meta.class_name;
            let label = info
                .classes
                .iter()
                .position(|c| c == class)
                .unwrap_or(usize::MAX);
            per_class
                .entry(label)
                .or_insert_with(|| (class.clone(), 0))
                .1 += 1;
        }
        for (label, (cname, n)) in &per_class {
            let _ = writeln!(s, "  {label:>3} {cname:<28} {n}");
        }
        let ev: Vec<f64> = rows.iter().map(|r| r.meta.event_count as f64).collect();
        let dur: Vec<f64> = rows
            .iter()
            .map(|r| (r.meta.t_end - r.meta.t_start) as f64 / 1000.0)
            .collect();
        let dropped_total: u64 = rows.iter().map(|r| r.meta.events_dropped).sum();
        let _ = writeln!(s, "  events per sample   {}", summary(&ev));
        let _ = writeln!(s, "  duration (ms)       {}", summary(&dur));
        let _ = writeln!(s, "  events not in any frame: {dropped_total}");
    }
    match ErrorsReport::read(dir) {
        Ok(report) => {
            let _ = writeln!(
                s,
                "\nrecordings   {} ingested, {} failed",
                report.recordings_ok, report.recordings_failed
            );
            for f in &report.failures {
                let offset = f
                    .offset
                    .map(|o| o.to_string())
                    .unwrap_or_else(|| "-".into());
                let _ = writeln!(s, "  FAILED {} (offset {offset}): {}", f.file, f.reason);
            }
        }
        Err(_) => {
            let _ = writeln!(s, "\nerrors.json missing");
        }
    }
    Ok(s)
}

/// Location of manifest row `index`: (sample id, shard path, record index).
pub fn locate_sample(dir: &Path, index: usize) -> Result<(String, PathBuf, usize), InspectError> {
    let manifest = crate::manifest::read(dir)?;
    let row = manifest.get(index).ok_or_else(|| {
        InspectError::Other(format!(
            "sample {index} out of range: the dataset has {} samples",
            manifest.len()
        ))
    })?;
    let (id, shard, record) = (row.meta.sample_id.clone(), &row.shard, row.record as usize);
    Ok((id, dir.join(shard), record))
}

/// Renders `[T, 2, H, W]` frames as an RGB image: tiles left to right, each
/// pixel `scale` x `scale`, a 2-pixel grey gap between tiles.
pub fn render_frames(values: &[f32], shape: [usize; 4], scale: u32) -> image::RgbImage {
    let [t, c, h, w] = shape;
    let scale = scale.max(1);
    let gap = 2u32;
    let tile_w = w as u32 * scale;
    let width = (t as u32) * tile_w + (t.saturating_sub(1) as u32) * gap;
    let height = h as u32 * scale;
    let mut img =
        image::RgbImage::from_pixel(width.max(1), height.max(1), image::Rgb([64, 64, 64]));
    let max = values
        .iter()
        .copied()
        .fold(0f32, f32::max)
        .max(f32::MIN_POSITIVE);
    for f in 0..t {
        for y in 0..h {
            for x in 0..w {
                let at = |ch: usize| -> f32 {
                    if ch < c {
                        values[((f * c + ch) * h + y) * w + x]
                    } else {
                        0.0
                    }
                };
                let (off, on) = (at(0), at(1));
                // sqrt makes sparse single events visible next to hot pixels.
                let level = |v: f32| ((v / max).clamp(0.0, 1.0).sqrt() * 255.0).round() as u8;
                let px = image::Rgb([level(off), level(on), 0]);
                for dy in 0..scale {
                    for dx in 0..scale {
                        img.put_pixel(
                            f as u32 * (tile_w + gap) + x as u32 * scale + dx,
                            y as u32 * scale + dy,
                            px,
                        );
                    }
                }
            }
        }
    }
    img
}

/// Renders manifest sample `index` of the dataset in `dir` to `png`. Returns the sample id.
pub fn render_sample_png(dir: &Path, index: usize, png: &Path) -> Result<String, InspectError> {
    let (id, shard, record) = locate_sample(dir, index)?;
    let reader = ShardReader::open(&shard)?;
    let shape = reader.shape(record)?;
    let values = reader.read_f32(record)?;
    let scale = (192 / shape[3].max(1)).max(1) as u32;
    let img = render_frames(&values, shape, scale);
    let mut bytes = Vec::new();
    img.write_to(
        &mut std::io::Cursor::new(&mut bytes),
        image::ImageOutputFormat::Png,
    )
    .map_err(|e| InspectError::Other(format!("{}: {e}", png.display())))?;
    dvs_frames::fsutil::atomic_write(png, &bytes)
        .map_err(|e| InspectError::Other(format!("{}: {e}", png.display())))?;
    Ok(id)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn on_is_green_off_is_red() {
        // T=1, C=2, H=1, W=2: pixel 0 OFF only, pixel 1 ON only.
        let values = [2.0f32, 0.0, 0.0, 2.0];
        let img = render_frames(&values, [1, 2, 1, 2], 1);
        assert_eq!(img.get_pixel(0, 0).0, [255, 0, 0]);
        assert_eq!(img.get_pixel(1, 0).0, [0, 255, 0]);
    }
}
