//! `loisim sweep`: design-space sweeps ([`loisim::sweep`]; docs/sweeps.md, docs/cluster.md).

use anyhow::Result;
use clap::{Args, Subcommand};
use loisim::sweep::{self, Shard, Spec, SweepOptions};
use std::path::PathBuf;

/// Arguments of `loisim sweep`.
#[derive(Args, Debug)]
pub struct SweepArgs {
    #[command(subcommand)]
    command: SweepCommand,
}

#[derive(Subcommand, Debug)]
enum SweepCommand {
    /// Run the points of a SPEC (or of one shard of it) into DIR; finished points are skipped.
    Run(RunArgs),
    /// Merge shard directories into the files an unsharded run writes.
    Merge(MergeArgs),
    /// Draw the figures of a sweep directory (into DIR/plots).
    Plot(PlotArgs),
    /// Check a SPEC and print its axes and point count, without running anything.
    Check(CheckArgs),
}

#[derive(Args, Debug)]
struct RunArgs {
    /// The sweep's SPEC (TOML; docs/sweeps.md).
    #[arg(value_name = "SPEC.toml")]
    spec: PathBuf,
    /// Output directory (created; an existing one of the same SPEC is resumed).
    #[arg(long, value_name = "DIR")]
    out: PathBuf,
    /// Run only the points whose id is I modulo N (0 <= I < N), e.g.
    /// `$SLURM_ARRAY_TASK_ID/$SLURM_ARRAY_TASK_COUNT`.
    #[arg(long, value_name = "I/N")]
    shard: Option<String>,
    /// Points run at once (rows never depend on it); default: the CPUs available.
    #[arg(long, value_name = "N")]
    threads: Option<usize>,
    /// No progress bar.
    #[arg(short, long)]
    quiet: bool,
}

#[derive(Args, Debug)]
struct MergeArgs {
    /// Shard directories (`sweep run --shard I/N --out DIR`) of one SPEC.
    #[arg(value_name = "DIR", required = true)]
    dirs: Vec<PathBuf>,
    /// The merged directory.
    #[arg(long, value_name = "DIR")]
    out: PathBuf,
    /// Merge even when points are missing (they are left out of the rows).
    #[arg(long)]
    partial: bool,
}

#[derive(Args, Debug)]
struct PlotArgs {
    /// A sweep directory.
    #[arg(value_name = "DIR")]
    dir: PathBuf,
}

#[derive(Args, Debug)]
struct CheckArgs {
    /// The sweep's SPEC.
    #[arg(value_name = "SPEC.toml")]
    spec: PathBuf,
}

/// Runs `loisim sweep`.
pub fn execute(args: SweepArgs) -> Result<()> {
    match args.command {
        SweepCommand::Run(a) => run(a),
        SweepCommand::Merge(a) => merge(a),
        SweepCommand::Plot(a) => {
            let files = sweep::plot(&a.dir)?;
            if files.is_empty() {
                outln!(
                    "no figure: the sweep's axes and rows allow none (docs/sweeps.md, \"Figures\")"
                );
            }
            for f in files {
                outln!("{}", f.display());
            }
            Ok(())
        }
        SweepCommand::Check(a) => {
            let spec = Spec::read(&a.spec)?;
            spec.check_files(&base_of(&a.spec))?;
            outln!(
                "{}: {} points, sha256 {}",
                a.spec.display(),
                spec.n_points(),
                spec.sha256
            );
            for ax in &spec.axes {
                let vals: Vec<String> = ax.values.iter().map(sweep::Value::text).collect();
                outln!(
                    "  axis {} ({}): {}",
                    ax.param.key(),
                    vals.len(),
                    vals.join(", ")
                );
            }
            for (p, v) in &spec.fixed {
                outln!("  fixed {} = {}", p.key(), v.text());
            }
            Ok(())
        }
    }
}

fn base_of(spec: &std::path::Path) -> PathBuf {
    spec.parent()
        .filter(|p| !p.as_os_str().is_empty())
        .map_or_else(|| PathBuf::from("."), std::path::Path::to_path_buf)
}

fn run(a: RunArgs) -> Result<()> {
    let spec = Spec::read(&a.spec)?;
    let shard = match &a.shard {
        Some(s) => Shard::parse(s)?,
        None => Shard::ALL,
    };
    let threads = match a.threads {
        Some(0) => anyhow::bail!("--threads must be at least 1"),
        Some(n) => n,
        None => std::thread::available_parallelism().map_or(1, std::num::NonZero::get),
    };
    let opts = SweepOptions {
        out: a.out.clone(),
        shard,
        threads,
        base: base_of(&a.spec),
    };
    let pending = sweep::pending(&spec, &opts)?;
    let bar = indicatif::ProgressBar::new(pending);
    if a.quiet || !std::io::IsTerminal::is_terminal(&std::io::stderr()) {
        bar.set_draw_target(indicatif::ProgressDrawTarget::hidden());
    } else if let Ok(style) =
        indicatif::ProgressStyle::with_template("{bar:40} {pos}/{len} points {per_sec} eta {eta}")
    {
        bar.set_style(style);
    }
    let tick = || bar.inc(1);
    let res = sweep::run(&spec, &opts, &tick);
    bar.finish_and_clear();
    let s = res?;
    outln!(
        "sweep {}: {} of {} points in this {}; ran {}, skipped {} already finished",
        a.spec.display(),
        s.shard_points,
        s.points,
        if shard == Shard::ALL {
            "run".to_string()
        } else {
            format!("shard {}/{}", shard.index, shard.count)
        },
        s.ran,
        s.skipped
    );
    print_rows(&a.out, &s)?;
    Ok(())
}

fn merge(a: MergeArgs) -> Result<()> {
    let s = sweep::merge(&a.dirs, &a.out, a.partial)?;
    outln!(
        "merged {} directories: {} of {} points",
        a.dirs.len(),
        s.ok + s.does_not_fit + s.error,
        s.points
    );
    print_rows(&a.out, &s)?;
    Ok(())
}

fn print_rows(out: &std::path::Path, s: &sweep::Summary) -> Result<()> {
    outln!(
        "rows: {} ok, {} does-not-fit, {} error -> {}, {}",
        s.ok,
        s.does_not_fit,
        s.error,
        out.join("rows.csv").display(),
        out.join("rows.jsonl").display()
    );
    if let Some(r) = &s.first_error {
        outln!("first error: {r}");
    }
    for p in &s.plots {
        outln!("figure: {}", p.display());
    }
    Ok(())
}
