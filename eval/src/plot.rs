//! Confusion-matrix heatmap (PNG) with plotters: cells coloured by row-normalised frequency
//! (recall of the true class), each cell labelled with its count, rows labelled with class names.
//!
//! plotters' pure-Rust text backend (ab_glyph) needs a TrueType font at run time; it is taken from
//! `$ASGL_FONT` or the usual DejaVu/Liberation locations. Without one the heatmap is still drawn,
//! without text, and a warning says how to get labels.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use plotters::prelude::*;
use plotters::style::FontStyle;

use crate::metrics::Confusion;

const FONT_FAMILY: &str = "asgl-eval-sans";

const FONT_CANDIDATES: &[&str] = &[
    "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf",
    "/usr/share/fonts/dejavu/DejaVuSans.ttf",
    "/usr/share/fonts/TTF/DejaVuSans.ttf",
    "/usr/share/fonts/dejavu-sans-fonts/DejaVuSans.ttf",
    "/usr/share/fonts/truetype/liberation/LiberationSans-Regular.ttf",
    "/usr/share/fonts/liberation-sans/LiberationSans-Regular.ttf",
    "/Library/Fonts/Arial.ttf",
    "/System/Library/Fonts/Supplemental/Arial.ttf",
];

/// Registers a font once; returns whether text can be drawn.
fn font_available() -> bool {
    static READY: OnceLock<bool> = OnceLock::new();
    *READY.get_or_init(|| {
        let mut paths: Vec<PathBuf> = std::env::var_os("ASGL_FONT").map(PathBuf::from).into_iter().collect();
        paths.extend(FONT_CANDIDATES.iter().map(PathBuf::from));
        for path in paths {
            if let Ok(bytes) = std::fs::read(&path) {
                // plotters keeps fonts for the life of the process; leaking one font file is intended.
                let bytes: &'static [u8] = Box::leak(bytes.into_boxed_slice());
                if plotters::style::register_font(FONT_FAMILY, FontStyle::Normal, bytes).is_ok() {
                    return true;
                }
            }
        }
        tracing::warn!("no TrueType font found: the confusion heatmap is drawn without labels (set ASGL_FONT=/path/to/font.ttf)");
        false
    })
}

/// Draws the heatmap to `path` (PNG).
pub fn confusion_png(
    confusion: &Confusion,
    names: &[String],
    title: &str,
    path: &Path,
) -> Result<(), String> {
    let k = confusion.classes().max(1);
    let cell: i32 = if k <= 12 {
        56
    } else if k <= 30 {
        28
    } else {
        12
    };
    let text = font_available();
    let left: i32 = if text {
        24 + 7 * names
            .iter()
            .map(|n| n.chars().count().min(28))
            .max()
            .unwrap_or(2) as i32
            + 40
    } else {
        8
    };
    let top: i32 = if text { 56 } else { 8 };
    let bottom: i32 = if text { 40 } else { 8 };
    let grid = cell * k as i32;
    let width = (left + grid + 16).max(360) as u32;
    let height = (top + grid + bottom) as u32;

    let root = BitMapBackend::new(path, (width, height)).into_drawing_area();
    let err = |e: &dyn std::fmt::Display| format!("drawing {}: {e}", path.display());
    root.fill(&WHITE).map_err(|e| err(&e))?;
    let font = |size: i32| (FONT_FAMILY, size).into_font();

    if text {
        root.draw(&Text::new(
            title.to_string(),
            (8, 8),
            font(18).color(&BLACK),
        ))
        .map_err(|e| err(&e))?;
        root.draw(&Text::new(
            "rows: true class, columns: predicted class index",
            (8, 32),
            font(13).color(&BLACK),
        ))
        .map_err(|e| err(&e))?;
    }
    let colormap = ViridisRGB;
    for t in 0..confusion.classes() {
        let row_total: u64 = (0..confusion.classes()).map(|p| confusion.get(t, p)).sum();
        for p in 0..confusion.classes() {
            let count = confusion.get(t, p);
            let frac = if row_total == 0 {
                0.0
            } else {
                count as f32 / row_total as f32
            };
            let x0 = left + cell * p as i32;
            let y0 = top + cell * t as i32;
            let color = colormap.get_color(frac);
            root.draw(&Rectangle::new(
                [(x0, y0), (x0 + cell, y0 + cell)],
                color.filled(),
            ))
            .map_err(|e| err(&e))?;
            if text && cell >= 28 {
                let ink = if frac > 0.6 { &BLACK } else { &WHITE };
                let label = count.to_string();
                let size = if cell >= 56 { 16 } else { 11 };
                let dx = (label.len() as i32 * size * 3) / 10;
                root.draw(&Text::new(
                    label,
                    (x0 + cell / 2 - dx, y0 + cell / 2 - size / 2),
                    font(size).color(ink),
                ))
                .map_err(|e| err(&e))?;
            }
        }
        if text {
            let name = names
                .get(t)
                .map_or_else(|| t.to_string(), |n| n.chars().take(28).collect());
            let label = format!("{t}: {name}");
            root.draw(&Text::new(
                label,
                (8, top + cell * t as i32 + cell / 2 - 7),
                font(13).color(&BLACK),
            ))
            .map_err(|e| err(&e))?;
        }
    }
    if text {
        for p in 0..confusion.classes() {
            let label = p.to_string();
            root.draw(&Text::new(
                label,
                (left + cell * p as i32 + cell / 2 - 4, top + grid + 8),
                font(13).color(&BLACK),
            ))
            .map_err(|e| err(&e))?;
        }
    }
    root.present().map_err(|e| err(&e))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn heatmap_is_a_png_sized_by_class_count() {
        let names: Vec<String> = ["hand clap", "right hand wave", "air drums"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        let mut m = Confusion::new(3);
        for (t, p) in [(0, 0), (0, 0), (0, 1), (1, 1), (2, 2), (2, 0)] {
            m.add(t, p).unwrap();
        }
        let dir = tempfile::tempdir().unwrap();
        let path = std::env::var_os("ASGL_EVAL_KEEP_PNG")
            .map_or_else(|| dir.path().join("c.png"), PathBuf::from);
        confusion_png(&m, &names, "test: top-1 66.67%", &path).unwrap();
        let bytes = std::fs::read(&path).unwrap();
        assert_eq!(&bytes[..8], b"\x89PNG\r\n\x1a\n");
        // IHDR height: top margin + 3 cells of 56 px + bottom margin (with or without a font).
        let height = u32::from_be_bytes(bytes[20..24].try_into().unwrap());
        assert!(height >= 3 * 56, "height {height}");
    }
}
