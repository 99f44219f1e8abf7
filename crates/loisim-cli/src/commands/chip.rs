//! `loisim chip show`: the chip description with the source of every number.

use anyhow::Result;
use clap::{Args, Subcommand};
use loisim_arch::Chip;

/// Arguments of `loisim chip`.
#[derive(Args, Debug)]
pub struct ChipArgs {
    #[command(subcommand)]
    command: ChipCommand,
}

#[derive(Subcommand, Debug)]
enum ChipCommand {
    /// Print a chip description: every number, its unit and its source.
    Show {
        /// Preset (loihi2, kapoho-point, loihi1) or a TOML file.
        #[arg(long, default_value = "loihi2")]
        chip: String,
        /// Print the complete description as TOML instead (a starting point for a custom file).
        #[arg(long)]
        toml: bool,
    },
}

/// Runs `loisim chip`.
pub fn execute(args: ChipArgs) -> Result<()> {
    match args.command {
        ChipCommand::Show { chip, toml } => {
            let c = Chip::load(&chip)?;
            if toml {
                print!("{}", c.to_toml());
                return Ok(());
            }
            println!("{}: {}", c.name, c.summary);
            println!(
                "board {} with {} chip(s) of {} cores ({}x{} routers x {} cores): {} cores",
                c.board.name,
                c.n_chips(),
                c.cores_per_chip(),
                c.mesh.routers_x.value,
                c.mesh.routers_y.value,
                c.mesh.cores_per_router.value,
                c.n_cores()
            );
            println!();
            let entries = c.entries();
            let w = entries.iter().map(|e| e.0.len()).max().unwrap_or(10);
            for (field, value, unit, source) in entries {
                println!("{field:<w$}  {value:>10} {unit:<6} {source}");
            }
            Ok(())
        }
    }
}
