//! `loisim plot`: figures from a saved trace, or the comparison of the reference models.

use anyhow::{Context, Result};
use clap::Args;
use loisim_trace::series::{ModelPoint, RunSeries};
use std::path::{Path, PathBuf};

/// Arguments of `loisim plot`.
#[derive(Args, Debug)]
pub struct PlotArgs {
    /// A trace directory written by `loisim run --trace DIR`.
    #[arg(value_name = "TRACE_DIR", required_unless_present = "models")]
    trace: Option<PathBuf>,
    /// Instead: draw latency and energy against model size from the JSON files of
    /// `cargo xtask regress` (default location `target/regress`).
    #[arg(long, value_name = "DIR", num_args = 0..=1, default_missing_value = "target/regress")]
    models: Option<PathBuf>,
    /// Where to write the PNG and SVG files.
    #[arg(short, long, value_name = "DIR")]
    output: PathBuf,
}

/// Reads `series.json` of a trace directory.
pub fn read_series(dir: &Path) -> Result<RunSeries> {
    let path = dir.join("series.json");
    let text = std::fs::read_to_string(&path).with_context(|| {
        format!(
            "cannot read {} (is {} a trace directory?)",
            path.display(),
            dir.display()
        )
    })?;
    serde_json::from_str(&text)
        .with_context(|| format!("{} is not a loisim series file", path.display()))
}

/// Reads the reports (`loisim run --json` output or `cargo xtask regress` results) of a
/// directory as model points.
pub fn read_model_points(dir: &Path) -> Result<Vec<ModelPoint>> {
    let mut points = Vec::new();
    let entries = std::fs::read_dir(dir).with_context(|| {
        format!(
            "cannot read {} (run `cargo xtask regress` first)",
            dir.display()
        )
    })?;
    let mut paths: Vec<PathBuf> = entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
        .collect();
    paths.sort();
    for p in paths {
        let text =
            std::fs::read_to_string(&p).with_context(|| format!("cannot read {}", p.display()))?;
        let report: loisim::Report = serde_json::from_str(&text).with_context(|| {
            format!(
                "{} is not a loisim report (schema {})",
                p.display(),
                loisim::SCHEMA_VERSION
            )
        })?;
        points.push(report.model_point().with_context(|| {
            format!(
                "{}: a models-compared point needs a chip run in both modes",
                p.display()
            )
        })?);
    }
    if points.is_empty() {
        anyhow::bail!(
            "{} holds no regression results (run `cargo xtask regress`)",
            dir.display()
        );
    }
    Ok(points)
}

/// Runs `loisim plot`.
pub fn execute(args: PlotArgs) -> Result<()> {
    let mut staging = loisim::output::Staging::new();
    let out = staging.dir(&args.output)?;
    let files = match (&args.models, &args.trace) {
        (Some(dir), _) => loisim_trace::plot::plot_models(&read_model_points(dir)?, &out)?,
        (None, Some(trace)) => loisim_trace::plot::plot_run(&read_series(trace)?, &out)?,
        (None, None) => anyhow::bail!("give a trace directory or --models"),
    };
    let files: Vec<PathBuf> = files.iter().map(|f| staging.final_path(f)).collect();
    staging.commit()?;
    for f in files {
        outln!("wrote {}", f.display());
    }
    Ok(())
}
