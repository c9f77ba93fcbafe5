//! PNG plots of a run: loss curves, accuracy curves and surrogate widths over epochs.
//! Text needs a TrueType font: DejaVuSans (or `$ASGL_FONT`) is registered when present; without
//! one the curves are drawn without labels.
use std::path::Path;
use std::sync::OnceLock;

use plotters::prelude::*;

use crate::error::{Result, TrainError};
use crate::metrics::EpochMetrics;

fn font_available() -> bool {
    static FONT: OnceLock<bool> = OnceLock::new();
    *FONT.get_or_init(|| {
        let candidates = [
            std::env::var("ASGL_FONT").unwrap_or_default(),
            "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf".to_string(),
            "/usr/share/fonts/TTF/DejaVuSans.ttf".to_string(),
        ];
        for c in candidates.iter().filter(|c| !c.is_empty()) {
            if let Ok(bytes) = std::fs::read(c) {
                let bytes: &'static [u8] = Box::leak(bytes.into_boxed_slice());
                if plotters::style::register_font("sans-serif", FontStyle::Normal, bytes).is_ok() {
                    return true;
                }
            }
        }
        false
    })
}

fn plot_err(path: &Path, e: impl std::fmt::Display) -> TrainError {
    TrainError::Parse {
        path: path.to_path_buf(),
        reason: format!("plot: {e}"),
    }
}

type Series = (String, Vec<(f64, f64)>);

fn line_chart(path: &Path, title: &str, ylabel: &str, series: &[Series]) -> Result<()> {
    let text = font_available();
    let pts = series.iter().flat_map(|s| s.1.iter());
    let (mut x1, mut y0, mut y1) = (1.0f64, f64::INFINITY, f64::NEG_INFINITY);
    for &(x, y) in pts {
        if y.is_finite() {
            x1 = x1.max(x);
            y0 = y0.min(y);
            y1 = y1.max(y);
        }
    }
    if !y0.is_finite() {
        (y0, y1) = (0.0, 1.0);
    }
    if (y1 - y0).abs() < 1e-12 {
        y1 = y0 + 1.0;
    }
    let pad = 0.05 * (y1 - y0);
    let root = BitMapBackend::new(path, (800, 500)).into_drawing_area();
    root.fill(&WHITE).map_err(|e| plot_err(path, e))?;
    let mut builder = ChartBuilder::on(&root);
    builder.margin(15);
    if text {
        builder
            .caption(title, ("sans-serif", 24))
            .x_label_area_size(40)
            .y_label_area_size(60);
    }
    let mut chart = builder
        .build_cartesian_2d(0.0..x1, (y0 - pad)..(y1 + pad))
        .map_err(|e| plot_err(path, e))?;
    if text {
        chart
            .configure_mesh()
            .x_desc("epoch")
            .y_desc(ylabel)
            .draw()
            .map_err(|e| plot_err(path, e))?;
    }
    for (i, (name, pts)) in series.iter().enumerate() {
        let color = Palette99::pick(i).to_rgba();
        let s = chart
            .draw_series(LineSeries::new(pts.iter().copied(), color.stroke_width(2)))
            .map_err(|e| plot_err(path, e))?;
        if text {
            s.label(name.clone()).legend(move |(x, y)| {
                PathElement::new(vec![(x, y), (x + 20, y)], color.stroke_width(2))
            });
        }
    }
    if text {
        chart
            .configure_series_labels()
            .background_style(WHITE.mix(0.8))
            .border_style(BLACK)
            .draw()
            .map_err(|e| plot_err(path, e))?;
    }
    root.present().map_err(|e| plot_err(path, e))?;
    Ok(())
}

/// Writes `loss.png`, `accuracy.png` and `widths.png` into `dir`.
pub fn plot_history(dir: &Path, history: &[EpochMetrics]) -> Result<()> {
    let x = |m: &EpochMetrics| (m.epoch + 1) as f64;
    let col = |f: &dyn Fn(&EpochMetrics) -> f64| history.iter().map(|m| (x(m), f(m))).collect();
    line_chart(
        &dir.join("loss.png"),
        "TET loss",
        "loss",
        &[
            ("train".into(), col(&|m| m.train_loss)),
            ("test".into(), col(&|m| m.test_loss)),
        ],
    )?;
    line_chart(
        &dir.join("accuracy.png"),
        "accuracy",
        "accuracy",
        &[
            ("train".into(), col(&|m| m.train_accuracy)),
            ("test".into(), col(&|m| m.test_accuracy)),
        ],
    )?;
    let layers: Vec<String> = history
        .first()
        .map(|m| m.width.keys().cloned().collect())
        .unwrap_or_default();
    let widths: Vec<Series> = layers
        .iter()
        .map(|l| {
            (
                l.clone(),
                history
                    .iter()
                    .map(|m| (x(m), m.width.get(l).copied().unwrap_or(f64::NAN)))
                    .collect(),
            )
        })
        .collect();
    line_chart(&dir.join("widths.png"), "surrogate width w", "w", &widths)
}
