//! Figures of a run and of the model comparison, drawn with plotters.
//!
//! Every figure is written as `<name>.png` (1200 x 800 pixels, text rasterised from the DejaVu
//! Sans font embedded from `assets/`) and `<name>.svg` (same layout; text kept as `<text>`
//! elements of the `sans-serif` family, which viewers render with their own sans font).
//! [`plot_run_as`] and [`plot_models_as`] write a chosen subset of [`Format`]s. No system font
//! is ever loaded: the embedded font is registered with plotters' `ab_glyph` backend under the
//! family name `sans-serif` the first time a figure is drawn.
//!
//! Per run ([`plot_run`]):
//!
//! - `latency_energy`: two panels along the sample (x: token index; in pipeline mode timestep
//!   `k`, the one in which token `k` enters). Latency: fall-through latency per token and
//!   pipeline timestep duration, µs. Energy: fall-through dynamic energy per token and pipeline
//!   total (dynamic + static) energy per timestep, µJ. Each mode is one colour: every point
//!   thin and faint, a running mean over 1% of the points thick on top; the legend gives the
//!   means. When the modes' typical values differ more than eightfold the y axis is
//!   logarithmic.
//! - `energy_breakdown`: µJ per token by component, one stacked bar per mode, in two panels:
//!   the dynamic components (synaptic, neuron, noc, io, barrier) on their own scale, and the
//!   total with static energy (labelled with the dynamic share); the numbers are printed
//!   underneath.
//! - `core_utilization`: one panel per mode, every core a cell at its place on the router mesh
//!   (router row 0 at the top, a router's cores as a block, chips outlined and, on a board of
//!   several chips, only the chips in use drawn), coloured by utilisation, the busy time of
//!   the core's busiest unit (neuron, synapse or axon) over run time (viridis, with a colour
//!   bar); unused cores light grey, used cores of a run without time
//!   darker grey. Cells carry the population's short name (`enc`, `L0.ssm`, `L0.gt`, `dec`)
//!   and busy percentage when they fit, else the router block its name when all of the
//!   router's used cores run one population, else nothing.
//!
//! Model comparison ([`plot_models`]): `models`, four panels against effective MACs per token
//! (log scale): fall-through latency (µs per token) and dynamic energy (µJ per token), pipeline
//! latency (ms per sample) and total energy (mJ per sample); sparse and dense models as two
//! series (circles, triangles) with each point labelled by its size and cores.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use plotters::coord::Shift;
use plotters::coord::ranged1d::{BoldPoints, ValueFormatter};
use plotters::coord::types::RangedCoordf64;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};
use plotters::style::{FontStyle, FontTransform, register_font};

use crate::series::{Breakdown, CoreSite, ModeSeries, ModelPoint, RunSeries};

/// Width of every figure, pixels (PNG) or user units (SVG).
pub const WIDTH: u32 = 1200;
/// Height of every figure.
pub const HEIGHT: u32 = 800;

/// Names (without extension) of the figures [`plot_run`] draws, in the order it writes them.
pub const RUN_FIGURES: [&str; 3] = ["latency_energy", "energy_breakdown", "core_utilization"];
/// Name (without extension) of the figure [`plot_models`] draws.
pub const MODELS_FIGURE: &str = "models";

/// The font family every text uses; the embedded DejaVu Sans is registered under it.
const FONT: &str = "sans-serif";
static FONT_BYTES: &[u8] = include_bytes!("../assets/DejaVuSans.ttf");

/// What can go wrong while plotting.
#[derive(Debug, thiserror::Error)]
pub enum PlotError {
    /// The output directory is missing (figures are never written into a new directory).
    #[error("output directory {} does not exist or is not a directory; create it first", .dir.display())]
    MissingDir {
        /// The directory asked for.
        dir: PathBuf,
    },
    /// The embedded font could not be parsed.
    #[error(
        "the embedded font crates/loisim-trace/assets/DejaVuSans.ttf is not a valid TrueType font; restore it"
    )]
    Font,
    /// The run has no mode to draw.
    #[error(
        "nothing plotted into {}: the run of model {model:?} has no mode series (run fall-through or pipeline mode first)",
        .dir.display()
    )]
    NoModes {
        /// Model name.
        model: String,
        /// The output directory.
        dir: PathBuf,
    },
    /// The model comparison got no model.
    #[error(
        "nothing plotted into {}: no models to compare (pass at least one ModelPoint)",
        .dir.display()
    )]
    NoModels {
        /// The output directory.
        dir: PathBuf,
    },
    /// Drawing or writing one file failed.
    #[error("could not write {}: {message}", .path.display())]
    Draw {
        /// The file being written.
        path: PathBuf,
        /// What plotters or the file system said.
        message: String,
    },
}

/// File format of a figure.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Format {
    /// 1200 x 800 PNG with the text rasterised from the embedded font.
    Png,
    /// SVG of the same layout, text as `<text>` elements.
    Svg,
}

impl Format {
    /// Both formats, in the order the files are written.
    pub const ALL: [Format; 2] = [Format::Png, Format::Svg];

    /// File extension, without the dot.
    pub fn extension(self) -> &'static str {
        match self {
            Format::Png => "png",
            Format::Svg => "svg",
        }
    }
}

/// Draws the per-run figures ([`RUN_FIGURES`]) into `dir`, each as PNG and SVG; returns the
/// files written (PNG then SVG of each figure).
///
/// `dir` must exist. A mode without tokens or with a zero run time is drawn as an empty or grey
/// panel with a note, non-finite values are skipped; a run without any mode is an error.
/// Existing files are overwritten; on an error the files written before it stay.
pub fn plot_run(series: &RunSeries, dir: &Path) -> Result<Vec<PathBuf>, PlotError> {
    plot_run_as(series, dir, &Format::ALL)
}

/// [`plot_run`] writing only `formats`.
pub fn plot_run_as(
    series: &RunSeries,
    dir: &Path,
    formats: &[Format],
) -> Result<Vec<PathBuf>, PlotError> {
    prepare(dir)?;
    if series.modes.is_empty() {
        return Err(PlotError::NoModes {
            model: series.model.clone(),
            dir: dir.to_path_buf(),
        });
    }
    let mut out = Vec::new();
    write_figure(
        &LatencyEnergy(series),
        dir,
        RUN_FIGURES[0],
        formats,
        &mut out,
    )?;
    write_figure(
        &EnergyBreakdown(series),
        dir,
        RUN_FIGURES[1],
        formats,
        &mut out,
    )?;
    write_figure(
        &CoreUtilization(series),
        dir,
        RUN_FIGURES[2],
        formats,
        &mut out,
    )?;
    Ok(out)
}

/// Draws the model comparison ([`MODELS_FIGURE`]): fall-through latency and dynamic energy per
/// token and pipeline latency and total energy per sample against effective MACs per token,
/// sparse and dense models as separate series; into `dir` as PNG and SVG. Returns the files.
pub fn plot_models(points: &[ModelPoint], dir: &Path) -> Result<Vec<PathBuf>, PlotError> {
    plot_models_as(points, dir, &Format::ALL)
}

/// [`plot_models`] writing only `formats`.
pub fn plot_models_as(
    points: &[ModelPoint],
    dir: &Path,
    formats: &[Format],
) -> Result<Vec<PathBuf>, PlotError> {
    prepare(dir)?;
    if points.is_empty() {
        return Err(PlotError::NoModels {
            dir: dir.to_path_buf(),
        });
    }
    let mut out = Vec::new();
    write_figure(&Models(points), dir, MODELS_FIGURE, formats, &mut out)?;
    Ok(out)
}

// ---------------------------------------------------------------------------------------------
// Plumbing.

/// A drawing failure, as text (plotters' errors are generic over the backend).
#[derive(Debug)]
struct DrawErr(String);

impl<E: std::error::Error + Send + Sync> From<DrawingAreaErrorKind<E>> for DrawErr {
    fn from(e: DrawingAreaErrorKind<E>) -> Self {
        DrawErr(e.to_string())
    }
}

type Drawn = Result<(), DrawErr>;

/// A figure that can be drawn on any backend.
trait Figure {
    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>, t: Txt) -> Drawn;
}

/// Registers the embedded font once (every figure of the crate uses it).
pub(crate) fn ensure_font() -> Result<(), PlotError> {
    static REGISTERED: OnceLock<bool> = OnceLock::new();
    let ok = *REGISTERED.get_or_init(|| register_font(FONT, FontStyle::Normal, FONT_BYTES).is_ok());
    if ok { Ok(()) } else { Err(PlotError::Font) }
}

fn prepare(dir: &Path) -> Result<(), PlotError> {
    if !dir.is_dir() {
        return Err(PlotError::MissingDir {
            dir: dir.to_path_buf(),
        });
    }
    ensure_font()
}

fn write_figure(
    fig: &impl Figure,
    dir: &Path,
    name: &str,
    formats: &[Format],
    out: &mut Vec<PathBuf>,
) -> Result<(), PlotError> {
    for &format in formats {
        let path = dir.join(format!("{name}.{}", format.extension()));
        let res = match format {
            Format::Png => render(
                BitMapBackend::new(&path, (WIDTH, HEIGHT)).into_drawing_area(),
                fig,
                Txt::raster(),
            ),
            Format::Svg => render(
                SVGBackend::new(&path, (WIDTH, HEIGHT)).into_drawing_area(),
                fig,
                Txt::vector(),
            ),
        };
        if let Err(DrawErr(message)) = res {
            return Err(PlotError::Draw { path, message });
        }
        out.push(path);
    }
    Ok(())
}

fn render<DB: DrawingBackend>(root: DrawingArea<DB, Shift>, fig: &impl Figure, t: Txt) -> Drawn {
    root.fill(&WHITE)?;
    fig.draw(&root, t)?;
    root.present()?;
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Text.
//
// plotters 0.3.7 rasterises each glyph with ab_glyph but drops the glyph's left side bearing,
// so letters with a wide bearing (`l`, `i`, `1`, ...) sit a pixel or two too far left and words
// look unevenly spaced. On bitmaps, the text this module draws itself is therefore laid out
// glyph by glyph from the font's own metrics (advance, side bearing, kerning, through
// ab_glyph); plotters still places each glyph's pixels. SVG text is left to the viewer.

/// Horizontal metrics of the embedded font (ab_glyph, the font library plotters itself uses).
struct FontMetrics {
    font: ab_glyph::FontRef<'static>,
}

impl FontMetrics {
    /// Where the first pixel column of each visible glyph of `s` at `size` pixels goes (from
    /// the pen's start, before rounding) and the width of the whole string.
    fn layout(&self, s: &str, size: f64) -> (Vec<(char, f64)>, f64) {
        use ab_glyph::{Font, PxScale, ScaleFont};
        let scaled = self.font.as_scaled(PxScale::from(size as f32));
        let mut pen = 0.0;
        let mut prev = None;
        let mut out = Vec::with_capacity(s.len());
        for c in s.chars() {
            let g = scaled.glyph_id(c);
            if let Some(p) = prev {
                pen += f64::from(scaled.kern(p, g));
            }
            if !c.is_whitespace() {
                // ab_glyph rasterises the glyph from the pixel column holding its left edge.
                out.push((c, pen + f64::from(scaled.h_side_bearing(g)).floor()));
            }
            pen += f64::from(scaled.h_advance(g));
            prev = Some(g);
        }
        (out, pen)
    }
}

fn font_metrics() -> Option<&'static FontMetrics> {
    static METRICS: OnceLock<Option<FontMetrics>> = OnceLock::new();
    METRICS
        .get_or_init(|| {
            ab_glyph::FontRef::try_from_slice(FONT_BYTES)
                .ok()
                .map(|font| FontMetrics { font })
        })
        .as_ref()
}

/// How this module puts text on a figure: glyph by glyph on bitmaps, as whole strings in SVG.
#[derive(Clone, Copy)]
struct Txt {
    metrics: Option<&'static FontMetrics>,
}

impl Txt {
    fn raster() -> Self {
        Txt {
            metrics: font_metrics(),
        }
    }

    fn vector() -> Self {
        Txt { metrics: None }
    }

    /// Width of `s` in pixels.
    fn width<DB: DrawingBackend>(
        &self,
        area: &DrawingArea<DB, Shift>,
        s: &str,
        style: &TextStyle<'_>,
    ) -> Result<i32, DrawErr> {
        match self.metrics {
            Some(m) => Ok(m.layout(s, style.font.get_size()).1.ceil() as i32),
            None => Ok(area.estimate_text_size(s, style)?.0 as i32),
        }
    }

    /// Draws `s` anchored at `pos` as `style.pos` says (horizontal or rotated 270°).
    fn put<DB: DrawingBackend>(
        &self,
        area: &DrawingArea<DB, Shift>,
        s: &str,
        style: &TextStyle<'_>,
        pos: (i32, i32),
    ) -> Drawn {
        let rotated = match style.font.get_transform() {
            FontTransform::None => false,
            FontTransform::Rotate270 => true,
            _ => {
                area.draw_text(s, style, pos)?;
                return Ok(());
            }
        };
        let Some(m) = self.metrics else {
            area.draw_text(s, style, pos)?;
            return Ok(());
        };
        let (glyphs, w) = m.layout(s, style.font.get_size());
        let start = match style.pos.h_pos {
            HPos::Left => 0.0,
            HPos::Center => -w / 2.0,
            HPos::Right => -w,
        };
        let one = style.pos(Pos::new(HPos::Left, style.pos.v_pos));
        let mut buf = [0u8; 4];
        for (c, x) in glyphs {
            let off = (start + x).round() as i32;
            let at = if rotated {
                (pos.0, pos.1 - off)
            } else {
                (pos.0 + off, pos.1)
            };
            area.draw_text(c.encode_utf8(&mut buf), &one, at)?;
        }
        Ok(())
    }
}

// ---------------------------------------------------------------------------------------------
// Style.

const TITLE_SIZE: f64 = 26.0;
const CAPTION_SIZE: f64 = 19.0;
const DESC_SIZE: f64 = 16.0;
const LABEL_SIZE: f64 = 14.0;

const INK: RGBColor = RGBColor(40, 40, 40);
const MUTED: RGBColor = RGBColor(110, 110, 110);
const GRID: RGBColor = RGBColor(238, 238, 238);
const GRID_BOLD: RGBColor = RGBColor(205, 205, 205);
const UNUSED: RGBColor = RGBColor(226, 226, 226);
const NO_TIME: RGBColor = RGBColor(170, 170, 170);

/// Okabe-Ito colours (distinguishable with colour-vision deficiencies).
const BLUE: RGBColor = RGBColor(0, 114, 178);
const ORANGE: RGBColor = RGBColor(230, 159, 0);
const GREEN: RGBColor = RGBColor(0, 158, 115);
const PINK: RGBColor = RGBColor(204, 121, 167);
const SKY: RGBColor = RGBColor(86, 180, 233);
const VERMILLION: RGBColor = RGBColor(213, 94, 0);
const STATIC_GREY: RGBColor = RGBColor(165, 165, 165);
const BOARD_GREY: RGBColor = RGBColor(205, 205, 205);
const PURPLE: RGBColor = RGBColor(117, 112, 179);
const YELLOW: RGBColor = RGBColor(240, 228, 66);

/// Viridis colour map (perceptually uniform, readable in grey), `f` in 0..=1.
fn viridis(f: f64) -> RGBColor {
    const STOPS: [(u8, u8, u8); 9] = [
        (68, 1, 84),
        (71, 44, 122),
        (59, 81, 139),
        (44, 113, 142),
        (33, 144, 141),
        (39, 173, 129),
        (92, 200, 99),
        (170, 220, 50),
        (253, 231, 37),
    ];
    let t = if f.is_finite() {
        f.clamp(0.0, 1.0)
    } else {
        0.0
    } * (STOPS.len() - 1) as f64;
    let i = (t.floor() as usize).min(STOPS.len() - 2);
    let u = t - i as f64;
    let mix = |a: u8, b: u8| (f64::from(a) + u * (f64::from(b) - f64::from(a))).round() as u8;
    let (a, b) = (STOPS[i], STOPS[i + 1]);
    RGBColor(mix(a.0, b.0), mix(a.1, b.1), mix(a.2, b.2))
}

fn text(size: f64) -> TextStyle<'static> {
    TextStyle::from((FONT, size).into_font()).color(&INK)
}

fn text_at(size: f64, h: HPos, v: VPos) -> TextStyle<'static> {
    text(size).pos(Pos::new(h, v))
}

/// Text running upwards (rotated 270°).
fn text_up(size: f64, v: VPos) -> TextStyle<'static> {
    TextStyle::from((FONT, size).into_font().transform(FontTransform::Rotate270))
        .color(&INK)
        .pos(Pos::new(HPos::Center, v))
}

/// Text colour readable on `fill`.
fn ink_on(fill: RGBColor) -> RGBColor {
    let RGBColor(r, g, b) = fill;
    let luma = 0.299 * f64::from(r) + 0.587 * f64::from(g) + 0.114 * f64::from(b);
    if luma < 140.0 { WHITE } else { INK }
}

fn mode_color(i: usize, mode: &str) -> RGBColor {
    match mode {
        "fall-through" => BLUE,
        "pipeline" => ORANGE,
        _ => [GREEN, PINK, SKY, VERMILLION][i % 4],
    }
}

fn is_pipeline(m: &ModeSeries) -> bool {
    m.mode == "pipeline"
}

/// A number for a label: three significant digits or so.
fn fmt_val(v: f64) -> String {
    let a = v.abs();
    if !v.is_finite() {
        "n/a".to_string()
    } else if a >= 100.0 || a == 0.0 {
        format!("{v:.0}")
    } else if a >= 10.0 {
        format!("{v:.1}")
    } else if a >= 1.0 {
        format!("{v:.2}")
    } else if a >= 0.01 {
        format!("{v:.3}")
    } else {
        format!("{v:.1e}")
    }
}

/// A tick label: as short as the value allows.
fn fmt_tick(v: f64) -> String {
    if !v.is_finite() {
        return String::new();
    }
    if v.abs() >= 1e4 {
        return fmt_si(v);
    }
    let s = format!("{v:.3}");
    let s = s.trim_end_matches('0').trim_end_matches('.');
    if s == "-0" {
        "0".to_string()
    } else {
        s.to_string()
    }
}

/// `1.25M`, `350k`, `12`.
fn fmt_si(v: f64) -> String {
    let a = v.abs();
    let (x, suffix) = if a >= 1e9 {
        (v / 1e9, "G")
    } else if a >= 1e6 {
        (v / 1e6, "M")
    } else if a >= 1e3 {
        (v / 1e3, "k")
    } else {
        (v, "")
    };
    let s = if x.abs() >= 100.0 || x == x.round() {
        format!("{x:.0}")
    } else if x.abs() >= 10.0 {
        format!("{x:.1}")
    } else {
        format!("{x:.2}")
    };
    let s = if s.contains('.') {
        s.trim_end_matches('0').trim_end_matches('.').to_string()
    } else {
        s
    };
    format!("{s}{suffix}")
}

fn fmt_duration(ns: f64) -> String {
    if ns >= 1e9 {
        format!("{} s", fmt_val(ns / 1e9))
    } else if ns >= 1e6 {
        format!("{} ms", fmt_val(ns / 1e6))
    } else if ns >= 1e3 {
        format!("{} µs", fmt_val(ns / 1e3))
    } else {
        format!("{} ns", fmt_val(ns))
    }
}

/// Finite values of a slice.
fn finite(v: &[f64]) -> impl Iterator<Item = f64> + '_ {
    v.iter().copied().filter(|x| x.is_finite())
}

fn mean(v: &[f64]) -> Option<f64> {
    let (s, n) = finite(v).fold((0.0, 0usize), |(s, n), x| (s + x, n + 1));
    (n > 0).then(|| s / n as f64)
}

fn max_finite(v: &[f64]) -> Option<f64> {
    finite(v).reduce(f64::max)
}

fn median(v: &[f64]) -> Option<f64> {
    let mut s: Vec<f64> = finite(v).collect();
    if s.is_empty() {
        return None;
    }
    s.sort_by(f64::total_cmp);
    Some(s[s.len() / 2])
}

/// Upper end of an axis starting at zero: `max` with `headroom`, never empty.
fn upper(max: Option<f64>, headroom: f64) -> f64 {
    match max {
        Some(m) if m > 0.0 => m * headroom,
        _ => 1.0,
    }
}

/// Centred running mean over `window` points (non-finite points are skipped).
fn running_mean(v: &[f64], window: usize) -> Vec<(f64, f64)> {
    let half = window / 2;
    let mut sum = vec![0.0; v.len() + 1];
    let mut cnt = vec![0usize; v.len() + 1];
    for (i, &x) in v.iter().enumerate() {
        let ok = x.is_finite();
        sum[i + 1] = sum[i] + if ok { x } else { 0.0 };
        cnt[i + 1] = cnt[i] + usize::from(ok);
    }
    (0..v.len())
        .filter_map(|i| {
            let (a, b) = (i.saturating_sub(half), (i + half + 1).min(v.len()));
            let n = cnt[b] - cnt[a];
            (n > 0).then(|| (i as f64, (sum[b] - sum[a]) / n as f64))
        })
        .collect()
}

// ---------------------------------------------------------------------------------------------
// Pieces of figures.

/// Draws the figure title; returns the area below it.
fn title<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    t: Txt,
    s: &str,
) -> Result<DrawingArea<DB, Shift>, DrawErr> {
    heading(root, t, s, TITLE_SIZE, 48)
}

/// Draws a panel caption; returns the area below it.
fn captioned<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    t: Txt,
    s: &str,
) -> Result<DrawingArea<DB, Shift>, DrawErr> {
    heading(area, t, s, CAPTION_SIZE, 36)
}

/// Centred text at the top of `area` in `size`; returns the area below the first `height_px`.
fn heading<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    t: Txt,
    s: &str,
    size: f64,
    height_px: u32,
) -> Result<DrawingArea<DB, Shift>, DrawErr> {
    let (w, _) = area.dim_in_pixel();
    t.put(
        area,
        s,
        &text_at(size, HPos::Center, VPos::Top),
        (w as i32 / 2, 10),
    )?;
    Ok(area.split_vertically(height_px).1)
}

/// The plotting rectangle of a chart relative to `area`: `(x0, y0, w, h)`.
fn plot_rect<DB: DrawingBackend, CT: CoordTranslate>(
    area: &DrawingArea<DB, Shift>,
    plot: &DrawingArea<DB, CT>,
) -> (i32, i32, i32, i32) {
    let (ax, ay) = area.get_base_pixel();
    let (px, py) = plot.get_base_pixel();
    let (w, h) = plot.dim_in_pixel();
    (px - ax, py - ay, w as i32, h as i32)
}

/// Axis titles: below the plot and up its left side.
fn axis_titles<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    t: Txt,
    (x0, y0, w, h): (i32, i32, i32, i32),
    x_desc: &str,
    y_desc: &str,
) -> Drawn {
    let (_, ah) = area.dim_in_pixel();
    t.put(
        area,
        x_desc,
        &text_at(DESC_SIZE, HPos::Center, VPos::Bottom),
        (x0 + w / 2, ah as i32 - 4),
    )?;
    t.put(
        area,
        y_desc,
        &text_up(DESC_SIZE, VPos::Top),
        (4, y0 + h / 2),
    )
}

/// Tick labels at plotters' key points (the mesh is drawn with blank labels so that all text
/// goes through [`Txt`]): below the plot for x, left (or right) of it for y.
fn tick_labels<DB: DrawingBackend, X: Ranged, Y: Ranged>(
    area: &DrawingArea<DB, Shift>,
    t: Txt,
    chart: &ChartContext<'_, DB, Cartesian2d<X, Y>>,
    fx: Option<Fmt<'_, X::ValueType>>,
    fy: Option<Fmt<'_, Y::ValueType>>,
    y_right: bool,
) -> Drawn
where
    X::ValueType: Clone,
    Y::ValueType: Clone,
{
    let spec = chart.as_coord_spec();
    let (x0, y0, w, h) = plot_rect(area, chart.plotting_area());
    let (bx, by) = area.get_base_pixel();
    let (xr, yr) = (spec.get_x_range(), spec.get_y_range());
    if let Some(fx) = fx {
        let style = text_at(LABEL_SIZE, HPos::Center, VPos::Top);
        for v in spec.x_spec().key_points(BoldPoints(MESH_LABELS)) {
            let (px, _) = spec.translate(&(v.clone(), yr.start.clone()));
            t.put(area, &fx(&v), &style, (px - bx, y0 + h + 10))?;
        }
    }
    if let Some(fy) = fy {
        let (x, h_pos) = if y_right {
            (x0 + w + 10, HPos::Left)
        } else {
            (x0 - 10, HPos::Right)
        };
        let style = text_at(LABEL_SIZE, h_pos, VPos::Center);
        for v in spec.y_spec().key_points(BoldPoints(MESH_LABELS)) {
            let (_, py) = spec.translate(&(xr.start.clone(), v.clone()));
            t.put(area, &fy(&v), &style, (x, py - by))?;
        }
    }
    Ok(())
}

/// Labels per axis plotters' mesh aims for by default (its tick marks sit at these points).
const MESH_LABELS: usize = 11;

/// A tick label formatter.
type Fmt<'a, T> = &'a dyn Fn(&T) -> String;

/// Blank tick labels for plotters' mesh.
fn blank<T>(_: &T) -> String {
    String::new()
}

/// The symbol of a legend entry.
#[derive(Clone, Copy)]
enum Icon {
    Line(RGBColor, u32),
    Square(RGBColor),
    Circle(RGBColor),
    Triangle(RGBColor),
    Blank,
}

const ICON_W: i32 = 26;

fn draw_icon<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    icon: Icon,
    x: i32,
    y: i32,
) -> Drawn {
    let mid = x + ICON_W / 2;
    match icon {
        Icon::Line(c, w) => area.draw(&PathElement::new(
            vec![(x, y), (x + ICON_W, y)],
            c.stroke_width(w),
        ))?,
        Icon::Square(c) => area.draw(&Rectangle::new(
            [(mid - 7, y - 7), (mid + 7, y + 7)],
            c.filled(),
        ))?,
        Icon::Circle(c) => {
            area.draw(&PathElement::new(
                vec![(x, y), (x + ICON_W, y)],
                c.stroke_width(2),
            ))?;
            area.draw(&Circle::new((mid, y), 6, c.filled()))?;
        }
        Icon::Triangle(c) => {
            area.draw(&PathElement::new(
                vec![(x, y), (x + ICON_W, y)],
                c.stroke_width(2),
            ))?;
            area.draw(&TriangleMarker::new((mid, y), 8, c.filled()))?;
        }
        Icon::Blank => {}
    }
    Ok(())
}

/// A boxed legend whose top right corner is at `(right, top)`.
fn legend_box<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    t: Txt,
    items: &[(String, Icon)],
    right: i32,
    top: i32,
) -> Drawn {
    if items.is_empty() {
        return Ok(());
    }
    let style = text_at(LABEL_SIZE, HPos::Left, VPos::Center);
    let (row, pad, gap) = (21, 9, 8);
    let mut widest = 0;
    for (label, _) in items {
        widest = widest.max(t.width(area, label, &style)?);
    }
    let x0 = right - (pad + ICON_W + gap + widest + pad);
    let y1 = top + 2 * pad + row * items.len() as i32 - 6;
    area.draw(&Rectangle::new(
        [(x0, top), (right, y1)],
        WHITE.mix(0.9).filled(),
    ))?;
    area.draw(&Rectangle::new([(x0, top), (right, y1)], GRID_BOLD))?;
    for (k, (label, icon)) in items.iter().enumerate() {
        let y = top + pad + row * k as i32 + (row - 6) / 2;
        draw_icon(area, *icon, x0 + pad, y)?;
        let x = x0
            + pad
            + if matches!(icon, Icon::Blank) {
                0
            } else {
                ICON_W + gap
            };
        t.put(area, label, &style, (x, y))?;
    }
    Ok(())
}

/// A row of legend entries centred in `area` at height `y`.
fn legend_row<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    t: Txt,
    y: i32,
    items: &[(String, Icon)],
) -> Drawn {
    let style = text_at(DESC_SIZE - 1.0, HPos::Left, VPos::Center);
    let (w, _) = area.dim_in_pixel();
    let (gap, pad) = (6, 26);
    let mut widths = Vec::with_capacity(items.len());
    for (label, _) in items {
        widths.push(t.width(area, label, &style)?);
    }
    let total: i32 = widths.iter().map(|tw| ICON_W + gap + tw).sum::<i32>()
        + pad * (items.len().max(1) as i32 - 1);
    let mut x = (w as i32 - total) / 2;
    for ((label, icon), tw) in items.iter().zip(widths) {
        draw_icon(area, *icon, x, y)?;
        t.put(area, label, &style, (x + ICON_W + gap, y))?;
        x += ICON_W + gap + tw + pad;
    }
    Ok(())
}

/// Text on a light box (for labels over lines and grid).
fn boxed_text<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    t: Txt,
    s: &str,
    style: &TextStyle<'_>,
    (x, y): (i32, i32),
) -> Drawn {
    let w = t.width(area, s, style)?;
    let h = style.font.get_size() as i32;
    let x0 = match style.pos.h_pos {
        HPos::Left => x,
        HPos::Center => x - w / 2,
        HPos::Right => x - w,
    };
    let y0 = match style.pos.v_pos {
        VPos::Top => y,
        VPos::Center => y - h / 2,
        VPos::Bottom => y - h,
    };
    area.draw(&Rectangle::new(
        [(x0 - 3, y0 - 1), (x0 + w + 3, y0 + h + 1)],
        WHITE.mix(0.8).filled(),
    ))?;
    t.put(area, s, style, (x, y))
}

// ---------------------------------------------------------------------------------------------
// latency_energy.

struct LatencyEnergy<'a>(&'a RunSeries);

/// One line of a panel.
struct Trace {
    label: String,
    color: RGBColor,
    values: Vec<f64>,
}

impl Figure for LatencyEnergy<'_> {
    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>, t: Txt) -> Drawn {
        let s = self.0;
        let body = title(
            root,
            t,
            &format!(
                "{} on {}: latency and energy along the sample",
                s.model, s.chip
            ),
        )?;
        let mut latency = Vec::new();
        let mut energy = Vec::new();
        for (i, m) in s.modes.iter().enumerate() {
            let color = mode_color(i, &m.mode);
            let pl = is_pipeline(m);
            let (lat_what, items) = if pl {
                ("timestep duration", "timesteps")
            } else {
                ("latency per token", "tokens")
            };
            latency.push(Trace {
                label: trace_label(&m.mode, lat_what, &m.latency_us, "µs", items),
                color,
                values: m.latency_us.clone(),
            });
            let (values, what) = if pl {
                let n = m.energy_dynamic_uj.len().max(m.energy_static_uj.len());
                let at = |v: &[f64], k: usize| v.get(k).copied().unwrap_or(0.0);
                let total = (0..n)
                    .map(|k| at(&m.energy_dynamic_uj, k) + at(&m.energy_static_uj, k))
                    .collect();
                (total, "total energy per timestep")
            } else {
                (m.energy_dynamic_uj.clone(), "dynamic energy per token")
            };
            energy.push(Trace {
                label: trace_label(&m.mode, what, &values, "µJ", items),
                color,
                values,
            });
        }
        let len = latency
            .iter()
            .chain(&energy)
            .map(|t| t.values.len())
            .max()
            .unwrap_or(0);
        let x_desc = if s.modes.iter().any(is_pipeline) {
            "token index (pipeline: the timestep in which that token enters)"
        } else {
            "token index"
        };
        let panels = body.split_evenly((2, 1));
        trace_panel(
            &panels[0],
            t,
            "Latency",
            "latency (µs)",
            x_desc,
            len,
            &latency,
        )?;
        trace_panel(&panels[1], t, "Energy", "energy (µJ)", x_desc, len, &energy)?;
        Ok(())
    }
}

fn trace_label(mode: &str, what: &str, values: &[f64], unit: &str, items: &str) -> String {
    match mean(values) {
        Some(m) => format!("{mode}: {what} (mean {} {unit})", fmt_val(m)),
        None => format!("{mode}: no {items} recorded"),
    }
}

/// One panel of lines along the sample: each point thin and faint, a running mean thick on
/// top. When the typical values of the lines differ more than eightfold, the y axis is
/// logarithmic so that each line keeps its detail.
fn trace_panel<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    t: Txt,
    caption: &str,
    y_desc: &str,
    x_desc: &str,
    len: usize,
    traces: &[Trace],
) -> Drawn {
    let area = captioned(area, t, caption)?;
    let typical: Vec<f64> = traces
        .iter()
        .filter_map(|t| median(&t.values))
        .filter(|&m| m > 0.0)
        .collect();
    let (lo_typ, hi_typ) = (
        typical.iter().copied().fold(f64::INFINITY, f64::min),
        typical.iter().copied().fold(0.0, f64::max),
    );
    let log = typical.len() > 1 && hi_typ > 8.0 * lo_typ;
    let x1 = len.max(2) as f64 - 1.0;
    let mut builder = ChartBuilder::on(&area);
    builder
        .margin_left(30)
        .margin_right(24)
        .margin_bottom(24)
        .x_label_area_size(30)
        .y_label_area_size(48);
    let max = traces
        .iter()
        .filter_map(|t| max_finite(&t.values))
        .reduce(f64::max);
    if log {
        let lo = traces
            .iter()
            .flat_map(|t| finite(&t.values))
            .filter(|&v| v > 0.0)
            .fold(f64::INFINITY, f64::min)
            / 1.3;
        let max = max.unwrap_or(lo * 10.0).max(lo * 2.0);
        // Headroom above the data for the legend, in log terms.
        let hi = max * (max / lo).powf(0.6);
        let chart = builder.build_cartesian_2d(0f64..x1, (lo..hi).log_scale())?;
        let desc = format!("{y_desc}, log scale");
        trace_chart(&area, t, chart, traces, x_desc, &desc, true)
    } else {
        let chart = builder.build_cartesian_2d(0f64..x1, 0f64..upper(max, 1.4))?;
        trace_chart(&area, t, chart, traces, x_desc, y_desc, false)
    }
}

fn trace_chart<DB: DrawingBackend, Y: Ranged<ValueType = f64> + ValueFormatter<f64>>(
    area: &DrawingArea<DB, Shift>,
    t: Txt,
    mut chart: ChartContext<'_, DB, Cartesian2d<RangedCoordf64, Y>>,
    traces: &[Trace],
    x_desc: &str,
    y_desc: &str,
    log: bool,
) -> Drawn {
    chart
        .configure_mesh()
        .x_label_formatter(&blank)
        .y_label_formatter(&blank)
        .label_style(text(LABEL_SIZE))
        .bold_line_style(GRID_BOLD)
        .light_line_style(GRID)
        .max_light_lines(4)
        .axis_style(INK)
        .draw()?;
    // Token indices are whole numbers.
    let fmt_index = |v: &f64| {
        if v.fract() == 0.0 {
            fmt_tick(*v)
        } else {
            String::new()
        }
    };
    tick_labels(
        area,
        t,
        &chart,
        Some(&fmt_index),
        Some(&|v: &f64| fmt_tick(*v)),
        false,
    )?;
    let rect = plot_rect(area, chart.plotting_area());
    if log {
        // Decades alone are few: label 2 and 5 times them where there is room.
        let by = area.get_base_pixel().1;
        let yr = chart.y_range();
        let px = |v: f64| chart.backend_coord(&(0.0, v)).1 - by;
        let mut taken: Vec<i32> = chart
            .as_coord_spec()
            .y_spec()
            .key_points(BoldPoints(MESH_LABELS))
            .into_iter()
            .map(px)
            .collect();
        let style = text_at(LABEL_SIZE - 1.0, HPos::Right, VPos::Center).color(&MUTED);
        for e in -6..=12 {
            for m in [2.0, 5.0] {
                let v = m * 10f64.powi(e);
                let y = px(v);
                if yr.contains(&v) && taken.iter().all(|&o| (o - y).abs() >= 18) {
                    t.put(area, &fmt_tick(v), &style, (rect.0 - 10, y))?;
                    taken.push(y);
                }
            }
        }
    }

    let mut legend = Vec::new();
    for tr in traces {
        let shown = |v: f64| v.is_finite() && (!log || v > 0.0);
        let raw = tr
            .values
            .iter()
            .enumerate()
            .filter(|(_, v)| shown(**v))
            .map(|(k, &v)| (k as f64, v));
        let window = (tr.values.len() / 100).clamp(1, 200);
        // Without a running mean (under 200 points) the points themselves are the line.
        let raw_style = if window > 1 {
            tr.color.mix(0.35).stroke_width(1)
        } else {
            tr.color.stroke_width(2)
        };
        chart.draw_series(LineSeries::new(raw, raw_style))?;
        if window > 1 {
            let smooth = running_mean(&tr.values, window)
                .into_iter()
                .filter(|(_, v)| shown(*v));
            chart.draw_series(LineSeries::new(smooth, tr.color.stroke_width(2)))?;
        }
        legend.push((tr.label.clone(), Icon::Line(tr.color, 3)));
    }
    if traces.iter().any(|t| t.values.len() >= 200) {
        legend.push((
            "thin: every point; thick: running mean over 1% of the points".to_string(),
            Icon::Blank,
        ));
    }
    axis_titles(area, t, rect, x_desc, y_desc)?;
    if traces.iter().all(|t| mean(&t.values).is_none()) {
        t.put(
            area,
            "no data recorded",
            &text_at(DESC_SIZE, HPos::Center, VPos::Center).color(&MUTED),
            (rect.0 + rect.2 / 2, rect.1 + rect.3 / 2),
        )?;
    }
    legend_box(area, t, &legend, rect.0 + rect.2 - 8, rect.1 + 8)
}

// ---------------------------------------------------------------------------------------------
// energy_breakdown.

struct EnergyBreakdown<'a>(&'a RunSeries);

const COMPONENTS: [(&str, RGBColor); 9] = [
    ("axon in", SKY),
    ("synmem", BLUE),
    ("synop", PURPLE),
    ("neuron", GREEN),
    ("noc", PINK),
    ("io", ORANGE),
    ("barrier", YELLOW),
    ("static chip", STATIC_GREY),
    ("static board", BOARD_GREY),
];

/// Dynamic components (the rest are static).
const DYNAMIC: usize = 7;

fn components(b: &Breakdown) -> [f64; 9] {
    b.values()
        .map(|v| if v.is_finite() && v > 0.0 { v } else { 0.0 })
}

impl Figure for EnergyBreakdown<'_> {
    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>, t: Txt) -> Drawn {
        let s = self.0;
        let body = title(
            root,
            t,
            &format!("{} on {}: energy per token by component", s.model, s.chip),
        )?;
        let names: Vec<String> = s.modes.iter().map(|m| m.mode.clone()).collect();
        let values: Vec<[f64; 9]> = s
            .modes
            .iter()
            .map(|m| components(&m.breakdown_uj_per_token))
            .collect();

        let (legend, rest) = body.split_vertically(30);
        let items: Vec<(String, Icon)> = COMPONENTS
            .iter()
            .map(|(n, c)| (n.to_string(), Icon::Square(*c)))
            .collect();
        legend_row(&legend, t, 12, &items)?;
        let footer_h = 24 * values.len() as i32 + 16;
        let (charts, footer) = rest.split_vertically(rest.dim_in_pixel().1 as i32 - footer_h);
        let (left, right) = charts.split_horizontally(charts.dim_in_pixel().0 as i32 / 2);
        bar_panel(
            &left,
            t,
            "Dynamic energy by component (whole board)",
            &names,
            &values,
            DYNAMIC,
        )?;
        bar_panel(
            &right,
            t,
            "Total: dynamic and static (whole board)",
            &names,
            &values,
            COMPONENTS.len(),
        )?;

        let style = text_at(LABEL_SIZE, HPos::Left, VPos::Center);
        for (i, (name, v)) in names.iter().zip(&values).enumerate() {
            let dynamic: f64 = v[..DYNAMIC].iter().sum();
            let static_: f64 = v[DYNAMIC..].iter().sum();
            let parts = COMPONENTS[..DYNAMIC]
                .iter()
                .zip(v)
                .map(|((n, _), x)| format!("{n} {}", fmt_val(*x)))
                .collect::<Vec<_>>()
                .join(", ");
            let line = format!(
                "{name}: {parts}  |  dynamic {} + static {} = {} µJ per token",
                fmt_val(dynamic),
                fmt_val(static_),
                fmt_val(dynamic + static_)
            );
            t.put(&footer, &line, &style, (40, 10 + 24 * i as i32))?;
        }
        Ok(())
    }
}

/// Stacked bars, one per mode, of the first `parts` components.
fn bar_panel<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    t: Txt,
    caption: &str,
    names: &[String],
    values: &[[f64; 9]],
    parts: usize,
) -> Drawn {
    let area = captioned(area, t, caption)?;
    let n = names.len().max(1);
    let totals: Vec<f64> = values.iter().map(|v| v[..parts].iter().sum()).collect();
    let ymax = upper(totals.iter().copied().reduce(f64::max), 1.12);
    let mut chart = ChartBuilder::on(&area)
        .margin_left(30)
        .margin_right(20)
        .margin_top(6)
        .x_label_area_size(30)
        .y_label_area_size(48)
        .build_cartesian_2d(0f64..n as f64, 0f64..ymax)?;
    chart
        .configure_mesh()
        .disable_x_mesh()
        .x_labels(0)
        .y_label_formatter(&blank)
        .label_style(text(LABEL_SIZE))
        .bold_line_style(GRID_BOLD)
        .light_line_style(GRID)
        .max_light_lines(4)
        .axis_style(INK)
        .draw()?;
    tick_labels(&area, t, &chart, None, Some(&|v: &f64| fmt_tick(*v)), false)?;
    let rect = plot_rect(&area, chart.plotting_area());
    let (bx, by) = area.get_base_pixel();
    let coord = chart.as_coord_spec().clone();
    let px = |x: f64, y: f64| {
        let (a, b) = coord.translate(&(x, y));
        (a - bx, b - by)
    };
    let slot = f64::from(rect.2) / n as f64;
    let half = (slot * 0.3).min(80.0) / slot.max(1.0);

    let inside = text_at(LABEL_SIZE, HPos::Center, VPos::Center);
    let above = text_at(DESC_SIZE - 1.0, HPos::Center, VPos::Bottom);
    let mut labels = Vec::new();
    for (i, v) in values.iter().enumerate() {
        let c = i as f64 + 0.5;
        let mut y = 0.0;
        for (k, &x) in v[..parts].iter().enumerate() {
            if x <= 0.0 {
                continue;
            }
            chart.draw_series(std::iter::once(Rectangle::new(
                [(c - half, y), (c + half, y + x)],
                COMPONENTS[k].1.filled(),
            )))?;
            let (_, py0) = px(c, y);
            let (_, py1) = px(c, y + x);
            if py0 - py1 >= 20 {
                let label = format!("{} {}", COMPONENTS[k].0, fmt_val(x));
                labels.push((label, ink_on(COMPONENTS[k].1), px(c, y + x / 2.0)));
            }
            y += x;
        }
        let total = totals[i];
        let label = if parts == 6 && total > 0.0 {
            let dynamic: f64 = v[..5].iter().sum();
            format!(
                "{} µJ ({:.0}% dynamic)",
                fmt_val(total),
                100.0 * dynamic / total
            )
        } else {
            format!("{} µJ", fmt_val(total))
        };
        let (x, y) = px(c, total);
        t.put(&area, &label, &above, (x, y - 4))?;
        let (x, y) = px(c, 0.0);
        t.put(
            &area,
            &names[i],
            &text_at(DESC_SIZE, HPos::Center, VPos::Top),
            (x, y + 8),
        )?;
    }
    for (label, ink, pos) in labels {
        t.put(&area, &label, &inside.color(&ink), pos)?;
    }
    t.put(
        &area,
        "energy per token (µJ)",
        &text_up(DESC_SIZE, VPos::Top),
        (4, rect.1 + rect.3 / 2),
    )
}

// ---------------------------------------------------------------------------------------------
// core_utilization.

struct CoreUtilization<'a>(&'a RunSeries);

/// The part of the board drawn: cells of cores, grouped by router, routers grouped by chip.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Board {
    /// Routers of the whole board along x and y.
    board: (u32, u32),
    /// First router drawn (a chip corner).
    origin: (u32, u32),
    /// Routers drawn along x and y.
    routers: (u32, u32),
    /// Routers per chip along x and y.
    chip: (u32, u32),
    /// Core cells per router along x and y.
    sub: (u32, u32),
}

impl Board {
    /// The whole board, or on a board of several chips the chips with used cores (and those
    /// between them).
    fn new(s: &RunSeries) -> Self {
        let cpr = s
            .cores_per_router
            .max(s.cores.iter().map(|c| c.slot + 1).max().unwrap_or(1))
            .max(1);
        let sub_x = (f64::from(cpr).sqrt().ceil() as u32).max(1);
        let sub = (sub_x, cpr.div_ceil(sub_x));
        let rx = s
            .routers_x
            .max(s.cores.iter().map(|c| c.gx + 1).max().unwrap_or(1));
        let ry = s
            .routers_y
            .max(s.cores.iter().map(|c| c.gy + 1).max().unwrap_or(1));
        let chip = chip_shape(&s.cores, rx, ry, cpr);
        let mut b = Board {
            board: (rx, ry),
            origin: (0, 0),
            routers: (rx, ry),
            chip,
            sub,
        };
        if b.chips() > 1 && !s.cores.is_empty() {
            let span = |f: &dyn Fn(&CoreSite) -> u32| {
                let lo = s.cores.iter().map(f).min().unwrap_or(0);
                let hi = s.cores.iter().map(f).max().unwrap_or(0);
                (lo, hi)
            };
            let (cx0, cx1) = span(&|c| c.gx / chip.0);
            let (cy0, cy1) = span(&|c| c.gy / chip.1);
            b.origin = (cx0 * chip.0, cy0 * chip.1);
            b.routers = (
                ((cx1 + 1) * chip.0).min(rx) - b.origin.0,
                ((cy1 + 1) * chip.1).min(ry) - b.origin.1,
            );
        }
        b
    }

    fn chips(&self) -> u32 {
        self.board.0.div_ceil(self.chip.0) * self.board.1.div_ceil(self.chip.1)
    }

    fn chips_drawn(&self) -> (u32, u32) {
        (
            self.routers.0.div_ceil(self.chip.0),
            self.routers.1.div_ceil(self.chip.1),
        )
    }

    fn cells(&self) -> (u32, u32) {
        (self.routers.0 * self.sub.0, self.routers.1 * self.sub.1)
    }
}

/// Routers per chip along x and y, inferred from the cores' chip numbers (the compiler numbers
/// chips row-major over the board and cores chip by chip, router row, router column, slot).
/// Of the tilings consistent with the data, the one with the fewest chips; the whole board
/// when nothing fits.
fn chip_shape(cores: &[CoreSite], rx: u32, ry: u32, cpr: u32) -> (u32, u32) {
    let divisors = |n: u32| (1..=n).filter(move |d| n.is_multiple_of(*d));
    let mut candidates: Vec<(u32, u32)> = divisors(rx)
        .flat_map(|w| divisors(ry).map(move |h| (w, h)))
        .collect();
    candidates.sort_by_key(|&(w, h)| std::cmp::Reverse(u64::from(w) * u64::from(h)));
    let chips_ok = |(w, h): (u32, u32)| {
        cores.iter().all(|c| {
            u64::from(c.chip) == u64::from(c.gy / h) * u64::from(rx / w) + u64::from(c.gx / w)
        })
    };
    let ids_ok = |(w, h): (u32, u32)| {
        cores.iter().all(|c| {
            let per_chip = u64::from(w) * u64::from(h) * u64::from(cpr);
            let local = (u64::from(c.gy % h) * u64::from(w) + u64::from(c.gx % w)) * u64::from(cpr);
            u64::from(c.chip) * per_chip + local + u64::from(c.slot) == u64::from(c.core)
        })
    };
    candidates
        .iter()
        .copied()
        .find(|&c| chips_ok(c) && ids_ok(c))
        .or_else(|| candidates.iter().copied().find(|&c| chips_ok(c)))
        .unwrap_or((rx, ry))
}

/// Short name of a population for a cell label.
fn short_name(population: &str) -> String {
    let p = population
        .strip_prefix("encoder")
        .map(|r| format!("enc{r}"))
        .or_else(|| {
            population
                .strip_prefix("decoder")
                .map(|r| format!("dec{r}"))
        })
        .unwrap_or_else(|| population.to_string());
    p.replace(".gate", ".gt")
}

/// Pixel geometry of a board drawn in a panel.
struct Layout {
    x0: i32,
    y0: i32,
    cell_w: i32,
    cell_h: i32,
    router_gap: i32,
    chip_gap: i32,
    board: Board,
}

impl Layout {
    fn fit(board: Board, w: i32, h: i32) -> Self {
        let (cols, rows) = board.cells();
        let (cols, rows) = (cols.max(1) as i32, rows.max(1) as i32);
        let chips = board.chips_drawn();
        let chip_gap = 8;
        let gaps = |gap: i32, routers: u32, chips: u32| {
            gap * (routers as i32 - 1).max(0) + chip_gap * (chips as i32 - 1).max(0)
        };
        let router_gap = if cols * 12 + gaps(4, board.routers.0, chips.0) <= w {
            4
        } else {
            2
        };
        let avail_w = w - gaps(router_gap, board.routers.0, chips.0);
        let avail_h = h - gaps(router_gap, board.routers.1, chips.1);
        let mut cell_h = (avail_h / rows).clamp(3, 64);
        let cell_w = (avail_w / cols).clamp(3, (2 * cell_h).max(3)).min(96);
        cell_h = cell_h.min(cell_w);
        let lay = Layout {
            x0: 0,
            y0: 0,
            cell_w,
            cell_h,
            router_gap,
            chip_gap,
            board,
        };
        let (bw, _) = lay.size();
        Layout {
            // Centred across, right under the caption.
            x0: (w - bw).max(0) / 2,
            y0: 0,
            ..lay
        }
    }

    /// Left x of drawn cell column `c`.
    fn col_x(&self, c: u32) -> i32 {
        let r = c / self.board.sub.0;
        let chip = r / self.board.chip.0;
        self.x0 + c as i32 * self.cell_w + r as i32 * self.router_gap + chip as i32 * self.chip_gap
    }

    /// Top y of drawn cell row `c` (router row 0 at the top).
    fn row_y(&self, c: u32) -> i32 {
        let r = c / self.board.sub.1;
        let chip = r / self.board.chip.1;
        self.y0 + c as i32 * self.cell_h + r as i32 * self.router_gap + chip as i32 * self.chip_gap
    }

    fn size(&self) -> (i32, i32) {
        let (cols, rows) = self.board.cells();
        (
            self.col_x(cols.saturating_sub(1)) + self.cell_w - self.x0,
            self.row_y(rows.saturating_sub(1)) + self.cell_h - self.y0,
        )
    }

    /// Cell of router (gx, gy) (board coordinates) slot `slot`: slots row-major inside the
    /// router block.
    fn cell(&self, gx: u32, gy: u32, slot: u32) -> ((i32, i32), (i32, i32)) {
        let (sx, sy) = self.board.sub;
        let lx = gx.saturating_sub(self.board.origin.0);
        let ly = gy.saturating_sub(self.board.origin.1);
        let c = lx * sx + slot % sx;
        let r = ly * sy + (slot / sx).min(sy - 1);
        let (x, y) = (self.col_x(c), self.row_y(r));
        ((x, y), (x + self.cell_w - 1, y + self.cell_h - 1))
    }

    /// Rectangle of a whole router block.
    fn router(&self, gx: u32, gy: u32) -> ((i32, i32), (i32, i32)) {
        let (sx, sy) = self.board.sub;
        let (a, _) = self.cell(gx, gy, 0);
        let (_, b) = self.cell(gx, gy, sx * sy - 1);
        (a, b)
    }
}

impl Figure for CoreUtilization<'_> {
    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>, t: Txt) -> Drawn {
        let s = self.0;
        let board = Board::new(s);
        let n_chips = board.chips();
        let per_router = board.sub.0 * board.sub.1;
        let mesh = if n_chips > 1 {
            let (dx, dy) = board.chips_drawn();
            let shown = if dx * dy < n_chips {
                format!("{} of {n_chips} chips", dx * dy)
            } else {
                format!("{n_chips} chips")
            };
            format!("{shown} of {}x{} routers", board.chip.0, board.chip.1)
        } else {
            format!(
                "{}x{} routers, {per_router} {} each",
                board.routers.0,
                board.routers.1,
                if per_router == 1 { "core" } else { "cores" }
            )
        };
        let body = title(
            root,
            t,
            &format!("{} on {}: core utilisation ({mesh})", s.model, s.chip),
        )?;
        let (w, _) = body.dim_in_pixel();
        let (panels_area, scale_area) = body.split_horizontally(w as i32 - 150);
        let panels = panels_area.split_evenly((s.modes.len().max(1), 1));
        for (m, panel) in s.modes.iter().zip(&panels) {
            mesh_panel(panel, t, s, m, board)?;
        }
        color_scale(&scale_area, t)
    }
}

fn mesh_panel<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    t: Txt,
    s: &RunSeries,
    m: &ModeSeries,
    board: Board,
) -> Drawn {
    let has_time = m.total_ns.is_finite() && m.total_ns > 0.0;
    let fractions: Vec<Option<f64>> = (0..s.cores.len())
        .map(|i| {
            let busy = m.core_busy_ns.get(i).copied()?;
            (has_time && busy.is_finite()).then(|| (busy / m.total_ns).clamp(0.0, 1.0))
        })
        .collect();
    let known: Vec<f64> = fractions.iter().flatten().copied().collect();
    let caption = if s.cores.is_empty() {
        format!("{}: no cores used", m.mode)
    } else if !has_time {
        format!(
            "{}: {} cores used; the run time is zero, so utilisation is unknown",
            m.mode,
            s.cores.len()
        )
    } else if known.is_empty() {
        format!(
            "{}: {} cores used; no busy times recorded",
            m.mode,
            s.cores.len()
        )
    } else {
        let mean = known.iter().sum::<f64>() / known.len() as f64;
        let max = known.iter().copied().fold(0.0, f64::max);
        format!(
            "{}: {} cores used, busiest unit busy {:.0}% of the time on average, {:.0}% at most, over {}",
            m.mode,
            s.cores.len(),
            100.0 * mean,
            100.0 * max,
            fmt_duration(m.total_ns)
        )
    };
    let area = captioned(area, t, &caption)?;
    let (w, h) = area.dim_in_pixel();
    let (w, h) = (w as i32, h as i32);
    let (top, left, bottom, right) = (6, 58, 44, 10);
    let (gw, gh) = ((w - left - right).max(1), (h - top - bottom).max(1));
    let grid = area.clone().shrink((left, top), (gw, gh));
    let lay = Layout::fit(board, gw, gh);
    let (ox, oy) = board.origin;
    let (rx, ry) = board.routers;

    // Empty cells (unless the board is absurdly large), chip outlines, then the used cores.
    let (cols, rows) = board.cells();
    let empty_cells = if u64::from(cols) * u64::from(rows) <= 1 << 16 {
        oy..oy + ry
    } else {
        oy..oy
    };
    for gy in empty_cells {
        for gx in ox..ox + rx {
            for slot in 0..board.sub.0 * board.sub.1 {
                let (a, b) = lay.cell(gx, gy, slot);
                grid.draw(&Rectangle::new([a, b], UNUSED.filled()))?;
            }
        }
    }
    let (cx, cy) = board.chips_drawn();
    if board.chips() > 1 {
        for j in 0..cy {
            for i in 0..cx {
                let (gx0, gy0) = (ox + i * board.chip.0, oy + j * board.chip.1);
                let gx1 = (gx0 + board.chip.0).min(ox + rx) - 1;
                let gy1 = (gy0 + board.chip.1).min(oy + ry) - 1;
                let ((x0, y0), _) = lay.router(gx0, gy0);
                let (_, (x1, y1)) = lay.router(gx1, gy1);
                grid.draw(&Rectangle::new(
                    [(x0 - 3, y0 - 3), (x1 + 3, y1 + 3)],
                    INK.mix(0.55).stroke_width(1),
                ))?;
            }
        }
    }
    for (c, f) in s.cores.iter().zip(&fractions) {
        let (a, b) = lay.cell(c.gx, c.gy, c.slot);
        let fill = f.map_or(NO_TIME, viridis);
        grid.draw(&Rectangle::new([a, b], fill.filled()))?;
    }
    cell_labels(&grid, t, &lay, s, &fractions)?;

    // Router indices along x (below) and y (left), thinned out when routers are narrow.
    let tick = text_at(LABEL_SIZE - 1.0, HPos::Center, VPos::Top);
    let ((rx0, ry0), (rx1, ry1)) = lay.router(ox, oy);
    let step = |pitch: i32, need: i32| (need / pitch.max(1) + 1).max(1) as usize;
    let step_x = step(rx1 - rx0 + lay.router_gap, 26).next_power_of_two();
    let step_y = step(ry1 - ry0 + lay.router_gap, 16).next_power_of_two();
    let (_, (_, bottom_y)) = lay.router(ox, oy + ry - 1);
    for gx in (ox..ox + rx).step_by(step_x) {
        let ((x0, _), (x1, _)) = lay.router(gx, oy);
        t.put(
            &area,
            &gx.to_string(),
            &tick,
            (left + (x0 + x1) / 2, top + bottom_y + 5),
        )?;
    }
    t.put(
        &area,
        "router x",
        &text_at(DESC_SIZE - 1.0, HPos::Center, VPos::Top),
        (left + lay.x0 + lay.size().0 / 2, top + bottom_y + 22),
    )?;
    let tick_y = text_at(LABEL_SIZE - 1.0, HPos::Right, VPos::Center);
    for gy in (oy..oy + ry).step_by(step_y) {
        let ((x0, y0), (_, y1)) = lay.router(ox, gy);
        t.put(
            &area,
            &gy.to_string(),
            &tick_y,
            (left + x0 - 7, top + (y0 + y1) / 2),
        )?;
    }
    let ((x0, y0), _) = lay.router(ox, oy);
    t.put(
        &area,
        "router y",
        &text_up(DESC_SIZE - 1.0, VPos::Bottom),
        (left + x0 - 28, top + y0 + lay.size().1 / 2),
    )?;
    Ok(())
}

/// Population names (and busy percentages when there is room) on the cells; on the router
/// block when cells are too small and the router's used cores all run one population.
fn cell_labels<DB: DrawingBackend>(
    grid: &DrawingArea<DB, Shift>,
    t: Txt,
    lay: &Layout,
    s: &RunSeries,
    fractions: &[Option<f64>],
) -> Drawn {
    let ink_for = |f: Option<f64>| f.map_or(INK, |f| ink_on(viridis(f)));
    let fits = |s: &str, style: &TextStyle<'_>, w: i32, h: i32| -> Result<bool, DrawErr> {
        let tw = t.width(grid, s, style)?;
        Ok(tw <= w - 4 && style.font.get_size() as i32 <= h - 2)
    };
    let size = (f64::from(lay.cell_h) * 0.34).clamp(10.0, 13.0);
    let probe = text(size);
    let names: Vec<String> = s.cores.iter().map(|c| short_name(&c.population)).collect();
    let mut all_fit = true;
    for n in &names {
        all_fit &= fits(n, &probe, lay.cell_w, lay.cell_h)?;
    }
    if all_fit {
        let two_lines = f64::from(lay.cell_h) >= 2.0 * size + 8.0;
        for ((c, f), n) in s.cores.iter().zip(fractions).zip(&names) {
            let ((x0, y0), (x1, y1)) = lay.cell(c.gx, c.gy, c.slot);
            let (cx, cy) = ((x0 + x1) / 2, (y0 + y1) / 2);
            let ink = ink_for(*f);
            let style = text_at(size, HPos::Center, VPos::Center).color(&ink);
            match f {
                Some(f) if two_lines => {
                    let dy = (size * 0.62) as i32;
                    t.put(grid, n, &style, (cx, cy - dy))?;
                    t.put(grid, &format!("{:.0}%", 100.0 * f), &style, (cx, cy + dy))?;
                }
                _ => t.put(grid, n, &style, (cx, cy))?,
            }
        }
        return Ok(());
    }
    // Router-level labels, when every router whose used cores run one population has room
    // for its name (labelling only some would look like the others were unnamed).
    let mut routers: BTreeMap<(u32, u32), Vec<usize>> = BTreeMap::new();
    for (i, c) in s.cores.iter().enumerate() {
        routers.entry((c.gx, c.gy)).or_default().push(i);
    }
    let mut todo = Vec::new();
    for ((gx, gy), idx) in routers {
        let first = idx[0];
        if idx.iter().any(|&i| names[i] != names[first]) {
            continue;
        }
        let ((x0, y0), (x1, y1)) = lay.router(gx, gy);
        let rsize = (f64::from(y1 - y0) * 0.3).clamp(10.0, 13.0);
        let style = text_at(rsize, HPos::Center, VPos::Center);
        if !fits(&names[first], &style, x1 - x0 - 4, y1 - y0)? {
            return Ok(());
        }
        let known: Vec<f64> = idx.iter().filter_map(|&i| fractions[i]).collect();
        let mean = (!known.is_empty()).then(|| known.iter().sum::<f64>() / known.len() as f64);
        todo.push((first, rsize, ink_for(mean), ((x0 + x1) / 2, (y0 + y1) / 2)));
    }
    for (i, size, ink, at) in todo {
        let style = text_at(size, HPos::Center, VPos::Center).color(&ink);
        t.put(grid, &names[i], &style, at)?;
    }
    Ok(())
}

/// Vertical colour bar 0..100 % plus the grey swatches.
fn color_scale<DB: DrawingBackend>(area: &DrawingArea<DB, Shift>, t: Txt) -> Drawn {
    let (_, h) = area.dim_in_pixel();
    let h = h as i32;
    let (x0, x1) = (24, 48);
    let (y0, y1) = (70, (h - 150).max(140));
    t.put(
        area,
        "busy time /",
        &text_at(LABEL_SIZE, HPos::Left, VPos::Bottom),
        (10, y0 - 30),
    )?;
    t.put(
        area,
        "run time",
        &text_at(LABEL_SIZE, HPos::Left, VPos::Bottom),
        (10, y0 - 12),
    )?;
    let steps = (y1 - y0).max(1);
    for k in 0..steps {
        let f = 1.0 - f64::from(k) / f64::from(steps - 1).max(1.0);
        area.draw(&Rectangle::new(
            [(x0, y0 + k), (x1, y0 + k + 1)],
            viridis(f).filled(),
        ))?;
    }
    area.draw(&Rectangle::new([(x0, y0), (x1, y1)], INK.stroke_width(1)))?;
    let tick = text_at(LABEL_SIZE, HPos::Left, VPos::Center);
    for p in [0, 25, 50, 75, 100] {
        let y = y1 - (f64::from(p) / 100.0 * f64::from(y1 - y0)).round() as i32;
        area.draw(&PathElement::new(vec![(x1, y), (x1 + 5, y)], INK))?;
        t.put(area, &format!("{p}%"), &tick, (x1 + 9, y))?;
    }
    let swatch = |y: i32, color: RGBColor, label: &str| -> Drawn {
        area.draw(&Rectangle::new([(x0, y), (x1, y + 18)], color.filled()))?;
        t.put(area, label, &tick, (x1 + 9, y + 9))
    };
    swatch(y1 + 30, UNUSED, "unused")?;
    swatch(y1 + 56, NO_TIME, "no run time")?;
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// models.

struct Models<'a>(&'a [ModelPoint]);

/// Label of a model next to its marker: the last dash-separated part of the name (`1x` of
/// `s5-sparse-1x`) and the core count.
fn point_label(p: &ModelPoint) -> String {
    let short = p.model.rsplit('-').next().unwrap_or(&p.model);
    format!("{short}, {} cores", p.cores)
}

type Metric = fn(&ModelPoint) -> f64;

impl Figure for Models<'_> {
    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>, t: Txt) -> Drawn {
        let pts = self.0;
        let body = title(
            root,
            t,
            "Latency and energy vs model size: sparse and dense S5 models",
        )?;
        let (legend, rest) = body.split_vertically(28);
        let names = |sparse: bool| {
            let list: Vec<&str> = pts
                .iter()
                .filter(|p| p.sparse == sparse)
                .map(|p| p.model.as_str())
                .collect();
            if list.is_empty() {
                "none".to_string()
            } else {
                list.join(", ")
            }
        };
        legend_row(
            &legend,
            t,
            12,
            &[
                (format!("sparse: {}", names(true)), Icon::Circle(BLUE)),
                (
                    format!("dense: {}", names(false)),
                    Icon::Triangle(VERMILLION),
                ),
            ],
        )?;
        let panels = rest.split_evenly((2, 2));
        let specs: [(&str, &str, Metric); 4] = [
            ("Fall-through latency", "µs per token", |p| p.ft_latency_us),
            (
                "Fall-through total energy, chip rails",
                "µJ per token",
                |p| p.ft_energy_uj,
            ),
            ("Pipeline latency", "ms per sample", |p| p.pl_latency_ms),
            ("Pipeline total energy, whole board", "mJ per sample", |p| {
                p.pl_energy_mj
            }),
        ];
        for ((caption, unit, get), panel) in specs.iter().zip(&panels) {
            model_panel(panel, t, caption, unit, pts, *get)?;
        }
        Ok(())
    }
}

fn model_panel<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    t: Txt,
    caption: &str,
    unit: &str,
    pts: &[ModelPoint],
    get: Metric,
) -> Drawn {
    let area = captioned(area, t, caption)?;
    let xs: Vec<f64> = pts
        .iter()
        .map(|p| p.macs_effective as f64)
        .filter(|&x| x > 0.0)
        .collect();
    let (xmin, xmax) = match (
        xs.iter().copied().reduce(f64::min),
        xs.iter().copied().reduce(f64::max),
    ) {
        // Room for the labels left of the smallest and right of the largest model.
        (Some(a), Some(b)) => (a / 2.6, b * 2.6),
        _ => (1.0, 10.0),
    };
    let ys: Vec<f64> = pts.iter().map(get).collect();
    let ymax = upper(max_finite(&ys), 1.2);
    let mut chart = ChartBuilder::on(&area)
        .margin_left(30)
        .margin_right(24)
        .margin_top(4)
        .margin_bottom(24)
        .x_label_area_size(28)
        .y_label_area_size(44)
        .build_cartesian_2d((xmin..xmax).log_scale(), 0f64..ymax)?;
    chart
        .configure_mesh()
        .x_label_formatter(&blank)
        .y_label_formatter(&blank)
        .label_style(text(LABEL_SIZE))
        .bold_line_style(GRID_BOLD)
        .light_line_style(GRID)
        .y_max_light_lines(2)
        .axis_style(INK)
        .draw()?;
    tick_labels(
        &area,
        t,
        &chart,
        Some(&|v: &f64| fmt_si(*v)),
        Some(&|v: &f64| fmt_tick(*v)),
        false,
    )?;
    let rect = plot_rect(&area, chart.plotting_area());
    let (bx, by) = area.get_base_pixel();
    let px = |x: f64, y: f64| {
        let (a, b) = chart.backend_coord(&(x, y));
        (a - bx, b - by)
    };
    // Intermediate labels (2 and 5 times a power of ten) where the decades leave room.
    let decades: Vec<f64> = (-3..=15)
        .map(|e| 10f64.powi(e))
        .filter(|d| (xmin..=xmax).contains(d))
        .collect();
    let minor = text_at(LABEL_SIZE - 1.0, HPos::Center, VPos::Top).color(&MUTED);
    let mut taken: Vec<i32> = decades.iter().map(|&d| px(d, 0.0).0).collect();
    for e in -3..=15 {
        for m in [2.0, 5.0] {
            let v = m * 10f64.powi(e);
            if !(xmin..=xmax).contains(&v) {
                continue;
            }
            let (x, y) = px(v, 0.0);
            if taken.iter().all(|&o| (o - x).abs() >= 48) {
                t.put(&area, &fmt_si(v), &minor, (x, y + 10))?;
                taken.push(x);
            }
        }
    }
    axis_titles(&area, t, rect, "effective MACs per token (log scale)", unit)?;

    // Both series first (pixel positions relative to `area`), then the lines and markers,
    // then the labels placed clear of them.
    let mut all: Vec<(bool, Vec<ModelXy>)> = Vec::new();
    for sparse in [true, false] {
        let mut series: Vec<ModelXy> = pts
            .iter()
            .filter(|p| p.sparse == sparse)
            .map(|p| (p.macs_effective as f64, get(p), point_label(p)))
            .filter(|(x, y, _)| *x > 0.0 && y.is_finite())
            .collect();
        series.sort_by(|a, b| a.0.total_cmp(&b.0));
        all.push((sparse, series));
    }
    let pixels: Vec<Vec<(i32, i32)>> = all
        .iter()
        .map(|(_, series)| series.iter().map(|(x, y, _)| px(*x, *y)).collect())
        .collect();
    let plot = chart.plotting_area();
    for (sparse, series) in &all {
        let color = if *sparse { BLUE } else { VERMILLION };
        plot.draw(&PathElement::new(
            series.iter().map(|(x, y, _)| (*x, *y)).collect::<Vec<_>>(),
            color.stroke_width(2),
        ))?;
        for (x, y, _) in series {
            if *sparse {
                plot.draw(&Circle::new((*x, *y), 6, color.filled()))?;
            } else {
                plot.draw(&TriangleMarker::new((*x, *y), 8, color.filled()))?;
            }
        }
    }
    let mut placer = LabelPlacer::new(rect, &pixels);
    for ((sparse, series), pix) in all.iter().zip(&pixels) {
        let color = if *sparse { BLUE } else { VERMILLION };
        for ((_, _, label), &at) in series.iter().zip(pix) {
            let size = LABEL_SIZE - 1.0;
            let w = t.width(&area, label, &text(size))?;
            let (h, v, pos) = placer.place(at, w, size as i32, *sparse);
            let style = text_at(size, h, v).color(&color);
            boxed_text(&area, t, label, &style, pos)?;
        }
    }
    Ok(())
}

/// A model's x (effective MACs), y and label.
type ModelXy = (f64, f64, String);

/// Where a label goes: anchor and anchor point.
type Anchor = (HPos, VPos, (i32, i32));

/// A box in pixels: `(x0, y0, x1, y1)`.
type Rect4 = (i32, i32, i32, i32);

/// Places point labels next to their markers, avoiding the plot's lines, markers, edges and
/// the labels already placed.
struct LabelPlacer {
    rect: (i32, i32, i32, i32),
    segments: Vec<((i32, i32), (i32, i32))>,
    markers: Vec<(i32, i32)>,
    taken: Vec<(i32, i32, i32, i32)>,
}

impl LabelPlacer {
    fn new(rect: (i32, i32, i32, i32), lines: &[Vec<(i32, i32)>]) -> Self {
        LabelPlacer {
            rect,
            segments: lines
                .iter()
                .flat_map(|l| l.windows(2).map(|w| (w[0], w[1])))
                .collect(),
            markers: lines.iter().flatten().copied().collect(),
            taken: Vec::new(),
        }
    }

    /// How badly a label box `(x0, y0, x1, y1)` collides (0: not at all).
    fn cost(&self, b: (i32, i32, i32, i32), own: (i32, i32)) -> usize {
        let inside = |(x, y): (i32, i32), m: i32| {
            x >= b.0 - m && x <= b.2 + m && y >= b.1 - m && y <= b.3 + m
        };
        let (rx, ry, rw, rh) = self.rect;
        let mut cost = 0;
        if b.0 < rx || b.1 < ry || b.2 > rx + rw || b.3 > ry + rh {
            cost += 100;
        }
        cost += 10
            * self
                .markers
                .iter()
                .filter(|&&m| m != own && inside(m, 6))
                .count();
        cost += 10
            * self
                .taken
                .iter()
                .filter(|o| o.0 <= b.2 && b.0 <= o.2 && o.1 <= b.3 && b.1 <= o.3)
                .count();
        for &((x0, y0), (x1, y1)) in &self.segments {
            let steps = (x1 - x0).abs().max((y1 - y0).abs()).max(1);
            let hit = (0..=steps).step_by(2).any(|k| {
                let f = f64::from(k) / f64::from(steps);
                let x = x0 + (f * f64::from(x1 - x0)).round() as i32;
                let y = y0 + (f * f64::from(y1 - y0)).round() as i32;
                inside((x, y), 1)
            });
            cost += usize::from(hit);
        }
        cost
    }

    /// Anchor and position for a `w` x `h` label of the marker at `at`.
    fn place(&mut self, at: (i32, i32), w: i32, h: i32, prefer_above: bool) -> Anchor {
        let above_left = (HPos::Right, VPos::Bottom, -6, -7);
        let below_right = (HPos::Left, VPos::Top, 7, 8);
        let above_right = (HPos::Left, VPos::Bottom, 7, -7);
        let below_left = (HPos::Right, VPos::Top, -6, 8);
        let right = (HPos::Left, VPos::Center, 11, 0);
        let left = (HPos::Right, VPos::Center, -11, 0);
        let above = (HPos::Center, VPos::Bottom, 0, -11);
        let below = (HPos::Center, VPos::Top, 0, 12);
        let order = if prefer_above {
            [
                above_left,
                above_right,
                above,
                left,
                below_right,
                right,
                below_left,
                below,
            ]
        } else {
            [
                below_right,
                below_left,
                below,
                right,
                above_left,
                left,
                above_right,
                above,
            ]
        };
        let boxed = |(hp, vp, dx, dy): (HPos, VPos, i32, i32)| {
            let (x, y) = (at.0 + dx, at.1 + dy);
            let x0 = match hp {
                HPos::Left => x,
                HPos::Center => x - w / 2,
                HPos::Right => x - w,
            };
            let y0 = match vp {
                VPos::Top => y,
                VPos::Center => y - h / 2,
                VPos::Bottom => y - h,
            };
            ((x0 - 3, y0 - 1, x0 + w + 3, y0 + h + 1), (hp, vp, (x, y)))
        };
        let mut best: Option<(usize, Rect4, Anchor)> = None;
        for cand in order {
            let (b, anchor) = boxed(cand);
            let c = self.cost(b, at);
            if best.as_ref().is_none_or(|(bc, _, _)| c < *bc) {
                best = Some((c, b, anchor));
            }
            if c == 0 {
                break;
            }
        }
        let (_, b, anchor) = best.unwrap_or_else(|| {
            let (b, a) = boxed(above_left);
            (0, b, a)
        });
        self.taken.push(b);
        anchor
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chip_shape_is_inferred_from_core_numbering() {
        // Kapoho Point: 4x2 chips of 8x4 routers, 4 cores each.
        let (rx, ry, cpr) = (8u32, 4u32, 4u32);
        let site = |chip: u32, x: u32, y: u32, slot: u32| CoreSite {
            core: chip * rx * ry * cpr + (y * rx + x) * cpr + slot,
            chip,
            gx: (chip % 4) * rx + x,
            gy: (chip / 4) * ry + y,
            slot,
            population: "L0.ssm".into(),
        };
        let cores = vec![site(0, 3, 1, 2), site(1, 0, 0, 0), site(5, 7, 3, 3)];
        assert_eq!(chip_shape(&cores, 32, 8, 4), (8, 4));
        // One chip only: the whole board.
        assert_eq!(chip_shape(&[site(0, 1, 0, 0)], 8, 4, 4), (8, 4));
        // Nothing consistent: the whole board.
        let odd = CoreSite {
            chip: 3,
            ..site(0, 0, 0, 0)
        };
        assert_eq!(chip_shape(&[odd], 8, 4, 4), (8, 4));
    }

    #[test]
    fn used_chips_are_cropped() {
        let site = |chip: u32, gx: u32, gy: u32| CoreSite {
            core: chip * 128,
            chip,
            gx,
            gy,
            slot: 0,
            population: "encoder".into(),
        };
        let s = RunSeries {
            routers_x: 32,
            routers_y: 8,
            cores_per_router: 4,
            cores: vec![site(1, 8, 0), site(2, 16, 0)],
            ..RunSeries::default()
        };
        let b = Board::new(&s);
        assert_eq!(b.chip, (8, 4));
        assert_eq!((b.origin, b.routers), ((8, 0), (16, 4)));
        assert_eq!(b.chips(), 8);
    }

    #[test]
    fn font_metrics_match_plotters_layout() {
        ensure_font().expect("font");
        let m = font_metrics().expect("metrics of the embedded font");
        for size in [13.0, 16.0, 26.0] {
            for s in [
                "s5-sparse-1x on loihi2",
                "latency per token (µs)",
                "WAVE fill",
            ] {
                let font = (FONT, size).into_font();
                let (w, _) = font.box_size(s).expect("box");
                let mine = m.layout(s, size).1;
                assert!(
                    (mine - f64::from(w)).abs() <= 1.0,
                    "{s:?} at {size}: {mine} vs {w}"
                );
            }
        }
        // `l` has a wide left side bearing, `W` none to speak of.
        let (g, _) = m.layout("lW", 20.0);
        assert!(g[0].1 >= 1.0 && g[1].1 > g[0].1);
    }

    #[test]
    fn labels_and_numbers() {
        assert_eq!(short_name("encoder"), "enc");
        assert_eq!(short_name("decoder"), "dec");
        assert_eq!(short_name("L3.gate"), "L3.gt");
        assert_eq!(short_name("L0.ssm"), "L0.ssm");
        assert_eq!(fmt_si(1_250_000.0), "1.25M");
        assert_eq!(fmt_si(350_000.0), "350k");
        assert_eq!(fmt_tick(20.0), "20");
        assert_eq!(fmt_tick(0.5), "0.5");
        assert_eq!(fmt_val(175.31), "175");
        assert_eq!(fmt_val(12.71), "12.7");
        assert_eq!(fmt_duration(2.85e8), "285 ms");
        let m = running_mean(&[1.0, f64::NAN, 3.0], 3);
        assert_eq!(m, vec![(0.0, 1.0), (1.0, 2.0), (2.0, 3.0)]);
        assert_eq!(viridis(0.0), RGBColor(68, 1, 84));
        assert_eq!(viridis(1.0), RGBColor(253, 231, 37));
        assert_eq!(viridis(f64::NAN), RGBColor(68, 1, 84));
    }
}
