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
                out!("{}", c.to_toml());
                return Ok(());
            }
            outln!("{}: {}", c.name, c.summary);
            outln!(
                "board {} with {} chip(s) of {} cores ({}x{} routers x {} cores): {} cores",
                c.board.name,
                c.n_chips(),
                c.cores_per_chip(),
                c.mesh.routers_x.value,
                c.mesh.routers_y.value,
                c.mesh.cores_per_router.value,
                c.n_cores()
            );
            outln!();
            let entries = c.entries();
            let ranges: std::collections::BTreeMap<String, (f64, [f64; 2], String)> = c
                .cost_params()
                .into_iter()
                .filter_map(|(f, p, _)| {
                    Some((
                        f,
                        (
                            p.value,
                            p.range?,
                            p.range_source.clone().unwrap_or_default(),
                        ),
                    ))
                })
                .collect();
            let w = entries.iter().map(|e| e.0.len()).max().unwrap_or(10);
            for (field, value, unit, source) in entries {
                let range = match ranges.get(&field) {
                    Some((v, [lo, hi], _)) => {
                        let flag = if v < lo || v > hi { " OUTSIDE" } else { "" };
                        format!("[{lo}, {hi}]{flag}")
                    }
                    None => String::new(),
                };
                outln!("{field:<w$}  {value:>10} {unit:<6} {range:<22} {source}");
            }
            if !ranges.is_empty() {
                outln!("\nplausible ranges of the cost parameters:");
                for (field, (_, [lo, hi], src)) in &ranges {
                    outln!("{field:<w$}  [{lo}, {hi}]  {src}");
                }
            }
            Ok(())
        }
    }
}
