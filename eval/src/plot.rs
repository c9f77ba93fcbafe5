//! Confusion-matrix heatmap (PNG) with plotters: cells coloured by row-normalised frequency
//! (recall of the true class), each cell labelled with its count, rows labelled with class names.
//! The picture is drawn into memory and encoded here, so the report writes it with the one atomic
//! write like every other file.
//!
//! Text uses the training crate's font discovery ([`asgl_train::plot::font_available`]:
//! `$ASGL_FONT` or the usual DejaVu/Liberation locations). Without a font the heatmap is still
//! drawn, without text, and a warning says how to get labels.

use asgl_train::plot::{font_available, FONT_FAMILY};
use image::ImageEncoder as _;
use plotters::prelude::*;

use crate::metrics::Confusion;

/// Draws the heatmap and returns it encoded as PNG.
pub fn confusion_png(
    confusion: &Confusion,
    names: &[String],
    title: &str,
) -> Result<Vec<u8>, String> {
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

    let mut pixels = vec![0u8; width as usize * height as usize * 3];
    let root = BitMapBackend::with_buffer(&mut pixels, (width, height)).into_drawing_area();
    let err = |e: &dyn std::fmt::Display| format!("drawing the heatmap: {e}");
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
    drop(root);
    let mut png = Vec::new();
    image::codecs::png::PngEncoder::new(&mut png)
        .write_image(&pixels, width, height, image::ColorType::Rgb8)
        .map_err(|e| format!("encoding the heatmap as PNG: {e}"))?;
    Ok(png)
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
        let bytes = confusion_png(&m, &names, "test: top-1 66.67%").unwrap();
        if let Some(path) = std::env::var_os("ASGL_EVAL_KEEP_PNG") {
            std::fs::write(path, &bytes).unwrap();
        }
        assert_eq!(&bytes[..8], b"\x89PNG\r\n\x1a\n");
        // IHDR height: top margin + 3 cells of 56 px + bottom margin (with or without a font).
        let height = u32::from_be_bytes(bytes[20..24].try_into().unwrap());
        assert!(height >= 3 * 56, "height {height}");
    }
}
