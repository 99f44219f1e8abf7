//! `loisim replay`: prices a recorded run (`loisim run --activity FILE`) at another chip's
//! costs, without running the model; prints the report a full run on that chip gives.

use anyhow::Result;
use clap::Args;
use loisim::ModelKind;
use loisim::replay::Activity;
use std::path::PathBuf;

/// Arguments of `loisim replay`.
#[derive(Args, Debug)]
pub struct ReplayArgs {
    /// The activity file (`loisim run --activity FILE`).
    #[arg(value_name = "FILE")]
    activity: PathBuf,
    /// Chip description: a preset (loihi2, kapoho-point, loihi1) or a TOML file; its structure
    /// (mesh, board, core limits, synapse encoding, message sizes) must be the recording
    /// chip's, only its costs may differ. Default: the recording chip.
    #[arg(long, value_name = "NAME|FILE")]
    chip: Option<String>,
    /// Print the report as one JSON object instead of text.
    #[arg(long)]
    json: bool,
}

/// Runs `loisim replay`.
pub fn execute(args: ReplayArgs) -> Result<()> {
    let activity = Activity::open(&args.activity)?;
    let chip = args.chip.as_deref().map(loisim::Chip::load).transpose()?;
    let report = activity.replay(chip.as_ref())?;
    if args.json {
        outln!("{}", report.to_json());
    } else {
        let info = activity.info();
        outln!(
            "loisim replay: {} recorded on {} (program {:016x}: {} cores, {} flows)",
            args.activity.display(),
            info.chip.name,
            info.program_hash,
            info.cores,
            info.flows
        );
        match info.kind {
            ModelKind::Netx | ModelKind::Nir => out!("{}", super::run::netx_text(&report, &[])),
            _ => out!("{}", super::run::text(&report)),
        }
    }
    Ok(())
}
