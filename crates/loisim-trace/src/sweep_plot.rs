//! Figures of a design-space sweep (`loisim sweep`), drawn with plotters, each as PNG
//! (1200 x 800, text rasterised from the embedded DejaVu Sans) and SVG:
//!
//! - `sweep_width`: three panels against the width multiplier: latency, energy (both on a
//!   logarithmic axis) and cores used, one line per series (the other axes' values, e.g.
//!   "90 % sparse" and "dense").
//! - `sweep_pareto`: every point that ran, latency against energy (both logarithmic), coloured
//!   by series and labelled by point id, with the Pareto front (no other point is both faster
//!   and cheaper) ringed and joined.
//!
//! Only what the data allows is drawn: no `width` series, no `sweep_width`; fewer than two
//! points, no `sweep_pareto`.

use std::path::{Path, PathBuf};

use plotters::coord::Shift;
use plotters::prelude::*;

use crate::plot::{Format, HEIGHT, PlotError, WIDTH};

/// One line of the width figure.
#[derive(Clone, Debug, PartialEq)]
pub struct WidthSeries {
    /// Its legend, e.g. "90 % sparse".
    pub label: String,
    /// `[width, latency, energy, cores]`, by width.
    pub points: Vec<[f64; 4]>,
}

/// One point of the Pareto figure.
#[derive(Clone, Debug, PartialEq)]
pub struct Pareto {
    /// The point id.
    pub id: u64,
    /// Latency, in the figure's latency unit.
    pub latency: f64,
    /// Energy, in the figure's energy unit.
    pub energy: f64,
    /// Its series.
    pub label: String,
}

/// What the sweep figures draw.
#[derive(Clone, Debug, PartialEq, Default)]
pub struct SweepPlot {
    /// The sweep's name.
    pub title: String,
    /// The latency axis' title with its unit.
    pub latency_label: String,
    /// The energy axis' title with its unit.
    pub energy_label: String,
    /// Series against width (empty: no width figure).
    pub width_series: Vec<WidthSeries>,
    /// Every point that ran.
    pub pareto: Vec<Pareto>,
}

/// Names (without extension) of the figures, in the order they are written.
pub const SWEEP_FIGURES: [&str; 2] = ["sweep_width", "sweep_pareto"];

const FONT: &str = "sans-serif";

const COLORS: [RGBColor; 8] = [
    RGBColor(0, 114, 178),
    RGBColor(230, 159, 0),
    RGBColor(0, 158, 115),
    RGBColor(204, 121, 167),
    RGBColor(86, 180, 233),
    RGBColor(213, 94, 0),
    RGBColor(240, 228, 66),
    RGBColor(0, 0, 0),
];

use crate::plot::ensure_font;

/// Draws the figures the data allows into `dir` (which must exist), PNG and SVG; returns the
/// files written.
///
/// # Errors
/// A missing directory, a file that cannot be written.
pub fn plot_sweep(data: &SweepPlot, dir: &Path) -> Result<Vec<PathBuf>, PlotError> {
    if !dir.is_dir() {
        return Err(PlotError::MissingDir {
            dir: dir.to_path_buf(),
        });
    }
    ensure_font()?;
    let mut out = Vec::new();
    let usable = |s: &WidthSeries| s.points.iter().any(|p| p.iter().all(|v| v.is_finite()));
    if data.width_series.iter().any(usable) {
        write(dir, SWEEP_FIGURES[0], &mut out, data, Fig::Width)?;
    }
    if data
        .pareto
        .iter()
        .filter(|p| positive(p.latency) && positive(p.energy))
        .count()
        >= 2
    {
        write(dir, SWEEP_FIGURES[1], &mut out, data, Fig::Pareto)?;
    }
    Ok(out)
}

fn positive(v: f64) -> bool {
    v.is_finite() && v > 0.0
}

type Drawn = Result<(), String>;

#[derive(Clone, Copy)]
enum Fig {
    Width,
    Pareto,
}

fn draw<DB: DrawingBackend>(root: &DrawingArea<DB, Shift>, data: &SweepPlot, fig: Fig) -> Drawn {
    root.fill(&WHITE).map_err(|e| e.to_string())?;
    match fig {
        Fig::Width => draw_width(root, data)?,
        Fig::Pareto => draw_pareto(root, data)?,
    }
    root.present().map_err(|e| e.to_string())
}

fn write(
    dir: &Path,
    name: &str,
    out: &mut Vec<PathBuf>,
    data: &SweepPlot,
    fig: Fig,
) -> Result<(), PlotError> {
    for format in Format::ALL {
        let path = dir.join(format!("{name}.{}", format.extension()));
        let res = match format {
            Format::Png => draw(
                &BitMapBackend::new(&path, (WIDTH, HEIGHT)).into_drawing_area(),
                data,
                fig,
            ),
            Format::Svg => draw(
                &SVGBackend::new(&path, (WIDTH, HEIGHT)).into_drawing_area(),
                data,
                fig,
            ),
        };
        res.map_err(|message| PlotError::Draw {
            path: path.clone(),
            message,
        })?;
        out.push(path);
    }
    Ok(())
}

/// `[lo, hi]` of the positive finite values, widened a little for a log axis.
fn log_range(values: impl Iterator<Item = f64>) -> (f64, f64) {
    let (lo, hi) = values
        .filter(|v| positive(*v))
        .fold((f64::INFINITY, 0.0f64), |(lo, hi), v| {
            (lo.min(v), hi.max(v))
        });
    if !lo.is_finite() {
        return (0.1, 10.0);
    }
    if hi / lo < 1.5 {
        (lo / 1.5, hi * 1.5)
    } else {
        (lo / 1.15, hi * 1.15)
    }
}

fn lin_range(values: impl Iterator<Item = f64>) -> (f64, f64) {
    let (lo, hi) = values
        .filter(|v| v.is_finite())
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), v| {
            (lo.min(v), hi.max(v))
        });
    if !lo.is_finite() {
        return (0.0, 1.0);
    }
    let pad = ((hi - lo) * 0.06).max(0.05 * hi.abs()).max(0.05);
    (lo - pad, hi + pad)
}

fn tick(v: &f64) -> String {
    let a = v.abs();
    if a == 0.0 {
        "0".into()
    } else if a >= 1000.0 {
        format!("{v:.0}")
    } else if a >= 1.0 {
        let s = format!("{v:.2}");
        s.trim_end_matches('0').trim_end_matches('.').to_string()
    } else if a >= 0.001 {
        let s = format!("{v:.4}");
        s.trim_end_matches('0').trim_end_matches('.').to_string()
    } else {
        format!("{v:.1e}")
    }
}

fn draw_width<DB: DrawingBackend>(root: &DrawingArea<DB, Shift>, data: &SweepPlot) -> Drawn {
    let e = |e: DrawingAreaErrorKind<DB::ErrorType>| e.to_string();
    let (top, body) = root.split_vertically(60);
    top.titled(
        &format!("{}: latency, energy and cores against width", data.title),
        (FONT, 28).into_font(),
    )
    .map_err(e)?;
    let panels = body.split_evenly((1, 3));
    let xs = lin_range(
        data.width_series
            .iter()
            .flat_map(|s| s.points.iter().map(|p| p[0])),
    );
    let specs: [(usize, &str, bool); 3] = [
        (1, data.latency_label.as_str(), true),
        (2, data.energy_label.as_str(), true),
        (3, "cores used", false),
    ];
    for (panel, (k, label, log)) in panels.iter().zip(specs) {
        let vals = || {
            data.width_series
                .iter()
                .flat_map(move |s| s.points.iter().map(move |p| p[k]))
        };
        let mut cb = ChartBuilder::on(panel);
        cb.margin(14)
            .x_label_area_size(50)
            .y_label_area_size(70)
            .caption(label, (FONT, 17).into_font());
        macro_rules! body {
            ($chart:expr) => {{
                let mut chart = $chart;
                chart
                    .configure_mesh()
                    .x_desc("width multiplier")
                    .x_label_formatter(&tick)
                    .y_label_formatter(&tick)
                    .label_style((FONT, 15).into_font())
                    .axis_desc_style((FONT, 16).into_font())
                    .light_line_style(RGBColor(235, 235, 235))
                    .draw()
                    .map_err(e)?;
                for (i, s) in data.width_series.iter().enumerate() {
                    let color = COLORS[i % COLORS.len()];
                    let pts: Vec<(f64, f64)> = s
                        .points
                        .iter()
                        .map(|p| (p[0], p[k]))
                        .filter(|(x, y)| {
                            x.is_finite() && (if log { positive(*y) } else { y.is_finite() })
                        })
                        .collect();
                    chart
                        .draw_series(LineSeries::new(pts.clone(), color.stroke_width(3)))
                        .map_err(e)?
                        .label(s.label.clone())
                        .legend(move |(x, y)| {
                            PathElement::new(vec![(x, y), (x + 24, y)], color.stroke_width(3))
                        });
                    // Alternate markers: series that coincide (e.g. equal core counts) stay visible.
                    if i % 2 == 0 {
                        chart
                            .draw_series(pts.iter().map(|&(x, y)| Circle::new((x, y), 6, color.filled())))
                            .map_err(e)?;
                    } else {
                        chart
                            .draw_series(pts.iter().map(|&(x, y)| {
                                TriangleMarker::new((x, y), 7, color.stroke_width(2))
                            }))
                            .map_err(e)?;
                    }
                }
                chart
                    .configure_series_labels()
                    .position(SeriesLabelPosition::UpperLeft)
                    .label_font((FONT, 15).into_font())
                    .background_style(WHITE.mix(0.85))
                    .border_style(RGBColor(180, 180, 180))
                    .draw()
                    .map_err(e)?;
            }};
        }
        if log {
            let (lo, hi) = log_range(vals());
            body!(
                cb.build_cartesian_2d(xs.0..xs.1, (lo..hi).log_scale())
                    .map_err(e)?
            );
        } else {
            let (lo, hi) = lin_range(vals().chain([0.0]));
            body!(
                cb.build_cartesian_2d(xs.0..xs.1, lo.max(0.0)..hi)
                    .map_err(e)?
            );
        }
    }
    Ok(())
}

/// The points no other point beats on both latency and energy, by latency.
#[must_use]
pub fn pareto_front(points: &[Pareto]) -> Vec<&Pareto> {
    let mut sorted: Vec<&Pareto> = points
        .iter()
        .filter(|p| positive(p.latency) && positive(p.energy))
        .collect();
    sorted.sort_by(|a, b| {
        a.latency
            .total_cmp(&b.latency)
            .then(a.energy.total_cmp(&b.energy))
            .then(a.id.cmp(&b.id))
    });
    let mut front: Vec<&Pareto> = Vec::new();
    for p in sorted {
        if front.last().is_none_or(|q| p.energy < q.energy) {
            front.push(p);
        }
    }
    front
}

fn draw_pareto<DB: DrawingBackend>(root: &DrawingArea<DB, Shift>, data: &SweepPlot) -> Drawn {
    let e = |e: DrawingAreaErrorKind<DB::ErrorType>| e.to_string();
    let pts: Vec<&Pareto> = data
        .pareto
        .iter()
        .filter(|p| positive(p.latency) && positive(p.energy))
        .collect();
    let xr = log_range(pts.iter().map(|p| p.latency));
    let yr = log_range(pts.iter().map(|p| p.energy));
    let mut chart = ChartBuilder::on(root)
        .margin(20)
        .x_label_area_size(60)
        .y_label_area_size(90)
        .caption(
            format!("{}: energy against latency, Pareto front", data.title),
            (FONT, 28).into_font(),
        )
        .build_cartesian_2d((xr.0..xr.1).log_scale(), (yr.0..yr.1).log_scale())
        .map_err(e)?;
    chart
        .configure_mesh()
        .x_desc(data.latency_label.as_str())
        .y_desc(data.energy_label.as_str())
        .x_label_formatter(&tick)
        .y_label_formatter(&tick)
        .label_style((FONT, 16).into_font())
        .axis_desc_style((FONT, 18).into_font())
        .light_line_style(RGBColor(235, 235, 235))
        .draw()
        .map_err(e)?;
    let mut labels: Vec<&str> = Vec::new();
    for p in &pts {
        if !labels.contains(&p.label.as_str()) {
            labels.push(&p.label);
        }
    }
    for (i, label) in labels.iter().enumerate() {
        let color = COLORS[i % COLORS.len()];
        chart
            .draw_series(
                pts.iter()
                    .filter(|p| p.label == *label)
                    .map(|p| Circle::new((p.latency, p.energy), 6, color.filled())),
            )
            .map_err(e)?
            .label(label.to_string())
            .legend(move |(x, y)| Circle::new((x + 10, y), 6, color.filled()));
    }
    let front = pareto_front(&data.pareto);
    chart
        .draw_series(LineSeries::new(
            front.iter().map(|p| (p.latency, p.energy)),
            BLACK.stroke_width(2),
        ))
        .map_err(e)?
        .label("Pareto front (ringed)")
        .legend(|(x, y)| PathElement::new(vec![(x, y), (x + 24, y)], BLACK.stroke_width(2)));
    chart
        .draw_series(
            front
                .iter()
                .map(|p| Circle::new((p.latency, p.energy), 10, BLACK.stroke_width(2))),
        )
        .map_err(e)?;
    // Every point carries its id, to find its row.
    chart
        .draw_series(pts.iter().map(|p| {
            EmptyElement::at((p.latency, p.energy))
                + Text::new(
                    format!("#{}", p.id),
                    (9, -20),
                    (FONT, 14).into_font().color(&RGBColor(60, 60, 60)),
                )
        }))
        .map_err(e)?;
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::LowerRight)
        .label_font((FONT, 16).into_font())
        .background_style(WHITE.mix(0.85))
        .border_style(RGBColor(180, 180, 180))
        .draw()
        .map_err(e)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(id: u64, latency: f64, energy: f64) -> Pareto {
        Pareto {
            id,
            latency,
            energy,
            label: "a".into(),
        }
    }

    #[test]
    fn the_front_keeps_only_undominated_points() {
        let pts = [
            p(0, 1.0, 5.0),
            p(1, 2.0, 3.0),
            p(2, 3.0, 4.0),
            p(3, 4.0, 1.0),
            p(4, 2.0, 3.0),
        ];
        let ids: Vec<u64> = pareto_front(&pts).iter().map(|p| p.id).collect();
        assert_eq!(ids, [0, 1, 3]);
    }

    #[test]
    fn figures_are_written_when_the_data_allows() {
        let dir = tempfile::tempdir().unwrap();
        let data = SweepPlot {
            title: "t".into(),
            latency_label: "latency (µs)".into(),
            energy_label: "energy (µJ)".into(),
            width_series: vec![WidthSeries {
                label: "dense".into(),
                points: vec![[0.25, 1.0, 2.0, 3.0], [1.0, 2.0, 3.0, 9.0]],
            }],
            pareto: vec![p(0, 1.0, 2.0), p(1, 2.0, 1.0)],
        };
        let files = plot_sweep(&data, dir.path()).unwrap();
        assert_eq!(files.len(), 4);
        let none = plot_sweep(&SweepPlot::default(), dir.path()).unwrap();
        assert!(none.is_empty());
    }
}
