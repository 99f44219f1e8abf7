//! Traces and plots of loisim simulations.
//!
//! - [`writer`]: the trace directory (CSV, Perfetto JSON, the plotted series) written while a
//!   simulation runs.
//! - [`series`]: the data the plots draw.
//! - [`plot`]: PNG and SVG figures drawn with plotters and the DejaVu Sans font shipped in
//!   `assets/` (no system fonts).

pub mod plot;
pub mod series;
pub mod sweep_plot;
pub mod writer;

pub use writer::{TraceError, TraceOptions, TraceWriter};
