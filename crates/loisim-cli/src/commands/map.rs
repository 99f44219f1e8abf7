//! `loisim map`: compile a model onto a chip and report the mapping.

use crate::commands::common::{ChipOpts, NetxArgs, load_model_and_tokens};
use anyhow::{Result, bail};
use clap::Args;
use std::path::PathBuf;

/// Arguments of `loisim map`.
#[derive(Args, Debug)]
pub struct MapArgs {
    /// The model (`model.bin`) or a lava-dl netx network (`.net`, recognised by content).
    #[arg(value_name = "MODEL")]
    model: PathBuf,
    /// Print the mapping report (the default and only output of this command).
    #[arg(long)]
    report: bool,
    /// Print one JSON object instead of text.
    #[arg(long)]
    json: bool,
    /// Measure activity on this input (`.npy`) for the report's per-token traffic and timestep
    /// figures; without it every neuron output is assumed non-zero. Placement does not depend
    /// on it: it weighs traffic by the synaptic structure alone.
    #[arg(long, value_name = "X.npy")]
    input: Option<PathBuf>,
    /// Measure activity on the first N tokens of the input only.
    #[arg(long, value_name = "N")]
    tokens: Option<usize>,
    /// NIR graphs (`.nir`): the step NIR's continuous time is discretised with, seconds
    /// (default 1e-3).
    #[arg(long, value_name = "SECONDS")]
    dt: Option<f64>,
    #[command(flatten)]
    chip: ChipOpts,
    #[command(flatten)]
    netx: NetxArgs,
}

/// Runs `loisim map`.
pub fn execute(args: MapArgs) -> Result<()> {
    let _ = args.report;
    if loisim::nir::is_nir(&args.model) {
        if args.input.is_some() || args.tokens.is_some() {
            bail!("--input and --tokens measure the activity of S5 models, not of NIR graphs");
        }
        let dt = args.dt.unwrap_or(loisim::nir::DEFAULT_DT_S);
        let nir = loisim::nir::load_nir(&args.model, dt)?;
        let chip = args.chip.chip()?;
        let report = loisim::nir::map_nir(&nir, &chip, &args.chip.netx_compile_options(&chip))?;
        if args.json {
            outln!("{}", serde_json::to_string_pretty(&report)?);
        } else {
            out!("{}", report.text());
        }
        return Ok(());
    }
    if args.dt.is_some() {
        bail!("--dt applies to NIR graphs (.nir)");
    }
    if loisim::netx::is_netx(&args.model) {
        if args.input.is_some() || args.tokens.is_some() {
            bail!(
                "--input and --tokens measure the activity of S5 models; the map of a netx network \
                 assumes every neuron sends once per timestep"
            );
        }
        let netx = loisim::netx::load_netx(&args.model, &args.netx.options()?)?;
        let chip = args.chip.chip()?;
        let report = loisim::netx::map_netx(&netx, &chip, &args.chip.netx_compile_options(&chip))?;
        if args.json {
            outln!("{}", serde_json::to_string_pretty(&report)?);
        } else {
            out!("{}", report.text());
        }
        return Ok(());
    }
    args.netx.refuse()?;
    let (model, tokens) = load_model_and_tokens(
        Some(&args.model),
        args.input.as_ref(),
        args.tokens,
        args.input.is_some(),
    )?;
    let sim = loisim::Simulation::compile(model, &args.chip.chip()?, &args.chip.compile_options())?;
    let report = sim.map_report(tokens.as_deref())?;
    if args.json {
        outln!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        out!("{}", report.text());
    }
    Ok(())
}
