//! `loisim import`: S5 fixed-point export v1, or a float checkpoint + quantization config.

use anyhow::{Context, Result};
use clap::Args;
use std::path::PathBuf;

/// Arguments of `loisim import`.
#[derive(Args, Debug)]
pub struct ImportArgs {
    /// `model.json` or `model.safetensors` of an S5 fixed-point export v1, or a float checkpoint
    /// (`.safetensors` / `.npz` with the upstream parameter names).
    #[arg(value_name = "FILE")]
    file: PathBuf,
    /// Output model file.
    #[arg(short, long, value_name = "MODEL.bin")]
    output: PathBuf,
    /// Quantization config (upstream JSON layout) for a float checkpoint; without it the formats
    /// are derived from the calibration input by the spec's rules.
    #[arg(long, value_name = "QCONFIG.json")]
    qconfig: Option<PathBuf>,
    /// Input (`.npy`, [tokens, 257]) on which a float checkpoint's run-time exponents are frozen.
    #[arg(long, value_name = "X.npy")]
    calibration: Option<PathBuf>,
    /// Model name stored in the file (default: derived from the file name).
    #[arg(long)]
    name: Option<String>,
}

/// Runs `loisim import`.
pub fn execute(args: ImportArgs) -> Result<()> {
    let mut model = loisim::import(
        &args.file,
        args.qconfig.as_deref(),
        args.calibration.as_deref(),
    )?;
    if let Some(n) = args.name {
        model.name = n;
    }
    let bytes = loisim_model::codec::encode(&model)?;
    loisim::output::write_bytes(&args.output, &bytes).context("writing the model")?;
    outln!(
        "imported {} (H={}, P={}, L={}) -> {} ({} bytes)",
        model.name,
        model.dims.d_model,
        model.dims.d_state,
        model.dims.n_layers,
        args.output.display(),
        bytes.len()
    );
    Ok(())
}
