//! The sweep's figure (`sweep.png`): best test accuracy against surrogate width (log axis), one
//! line per method, error bars of ± one sample standard deviation over the seeds. Drawn into a
//! buffer and encoded here, so the caller writes it atomically.
use image::ImageEncoder;
use plotters::prelude::*;

use crate::error::{Result, TrainError};
use crate::plot::{font_available, FONT_FAMILY};
use crate::sweep::table::Cell;
use crate::sweep::Method;

const SIZE: (u32, u32) = (800, 500);

fn plot_err(e: impl std::fmt::Display) -> TrainError {
    TrainError::Config(format!("drawing the sweep figure: {e}"))
}

/// The PNG bytes of the figure for `cells`.
pub fn render(cells: &[Cell]) -> Result<Vec<u8>> {
    let (w, h) = SIZE;
    let mut pixels = vec![0u8; (w * h * 3) as usize];
    {
        let root = BitMapBackend::with_buffer(&mut pixels, SIZE).into_drawing_area();
        root.fill(&WHITE).map_err(plot_err)?;
        draw(&root, cells)?;
        root.present().map_err(plot_err)?;
    }
    let mut png = Vec::new();
    image::codecs::png::PngEncoder::new(&mut png)
        .write_image(&pixels, w, h, image::ColorType::Rgb8)
        .map_err(|e| TrainError::Config(format!("encoding the sweep figure as PNG: {e}")))?;
    Ok(png)
}

fn draw(root: &DrawingArea<BitMapBackend, plotters::coord::Shift>, cells: &[Cell]) -> Result<()> {
    let text = font_available();
    let widths: Vec<f64> = cells.iter().map(|c| c.width).collect();
    let lo = widths.iter().copied().fold(f64::INFINITY, f64::min);
    let hi = widths.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    let (lo, hi) = if lo.is_finite() {
        (lo / 1.3, hi * 1.3)
    } else {
        (0.1, 10.0)
    };
    let mut builder = ChartBuilder::on(root);
    builder.margin(15);
    if text {
        builder
            .caption("test accuracy vs surrogate width", (FONT_FAMILY, 24))
            .x_label_area_size(40)
            .y_label_area_size(60);
    }
    let mut chart = builder
        .build_cartesian_2d((lo..hi).log_scale(), 0.0..100.0)
        .map_err(plot_err)?;
    if text {
        chart
            .configure_mesh()
            .x_desc("surrogate width w (log)")
            .y_desc("best test accuracy (%)")
            .draw()
            .map_err(plot_err)?;
    }
    let mut methods: Vec<Method> = cells.iter().map(|c| c.method).collect();
    methods.dedup();
    for (i, method) in methods.into_iter().enumerate() {
        let color = Palette99::pick(i).to_rgba();
        let pts: Vec<(f64, f64, f64)> = cells
            .iter()
            .filter(|c| c.method == method)
            .filter_map(|c| {
                c.stat(|r| r.best)
                    .map(|(m, s)| (c.width, 100.0 * m, 100.0 * s))
            })
            .collect();
        let series = chart
            .draw_series(LineSeries::new(
                pts.iter().map(|&(x, y, _)| (x, y)),
                color.stroke_width(2),
            ))
            .map_err(plot_err)?;
        if text {
            series.label(method.as_str()).legend(move |(x, y)| {
                PathElement::new(vec![(x, y), (x + 20, y)], color.stroke_width(2))
            });
        }
        // Error bars as plain paths: a vertical stroke from y − s to y + s (log x: the caps are
        // ±3 % of x wide).
        let bars = pts.iter().flat_map(|&(x, y, s)| {
            [
                vec![(x, y - s), (x, y + s)],
                vec![(x / 1.03, y - s), (x * 1.03, y - s)],
                vec![(x / 1.03, y + s), (x * 1.03, y + s)],
            ]
        });
        chart
            .draw_series(bars.map(|path| PathElement::new(path, color.stroke_width(2))))
            .map_err(plot_err)?;
        chart
            .draw_series(
                pts.iter()
                    .map(|&(x, y, _)| Circle::new((x, y), 4, color.filled())),
            )
            .map_err(plot_err)?;
    }
    if text {
        chart
            .configure_series_labels()
            .background_style(WHITE.mix(0.8))
            .border_style(BLACK)
            .draw()
            .map_err(plot_err)?;
    }
    Ok(())
}
