//! PNG plots of a run (loss curves, accuracy curves and surrogate widths over epochs), and the
//! font discovery every spiketrain plot uses (`asgl-eval`'s confusion heatmap too).
//!
//! Text needs a TrueType font: `$ASGL_FONT` if set, else the first of the usual DejaVu /
//! Liberation / Arial locations that loads, registered once under [`FONT_FAMILY`]. Without one the
//! plots are drawn without text, and a warning says how to get labels.
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use plotters::prelude::*;

use crate::error::{Result, TrainError};
use crate::fit::metrics::EpochMetrics;

/// The font family plots draw text with, registered by [`font_available`]: plotters' default
/// family, so that axis labels and legends (which use the default) find the font too.
pub const FONT_FAMILY: &str = "sans-serif";

/// Where a TrueType font is looked for after `$ASGL_FONT`, in order.
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

/// Registers a font as [`FONT_FAMILY`] once per process; returns whether text can be drawn.
pub fn font_available() -> bool {
    static READY: OnceLock<bool> = OnceLock::new();
    *READY.get_or_init(|| {
        let mut paths: Vec<PathBuf> = std::env::var_os("ASGL_FONT")
            .filter(|p| !p.is_empty())
            .map(PathBuf::from)
            .into_iter()
            .collect();
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
        tracing::warn!(
            "no TrueType font found: plots are drawn without text (set ASGL_FONT=/path/to/font.ttf)"
        );
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
            .caption(title, (FONT_FAMILY, 24))
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
