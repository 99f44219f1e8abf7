//! `loisim import`: S5 fixed-point export v1, or a float checkpoint + quantization config.

use crate::output;
use anyhow::{Context, Result};
use clap::Args;
use std::path::{Path, PathBuf};

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

fn is_export_v1(path: &Path) -> bool {
    let ext = path
        .extension()
        .and_then(|e| e.to_str())
        .unwrap_or_default()
        .to_ascii_lowercase();
    match ext.as_str() {
        "json" => true,
        "safetensors" => {
            // An export has its model.json next to it; a float checkpoint does not need one.
            path.with_extension("json").is_file()
        }
        _ => false,
    }
}

/// Runs `loisim import`.
pub fn execute(args: ImportArgs) -> Result<()> {
    if !args.file.exists() {
        anyhow::bail!("cannot read {}: no such file", args.file.display());
    }
    let mut model = if is_export_v1(&args.file) {
        if args.qconfig.is_some() || args.calibration.is_some() {
            anyhow::bail!(
                "--qconfig and --calibration apply to float checkpoints; an export v1 is already quantized"
            );
        }
        loisim_import::export_v1::import_export_v1(&args.file)?
    } else {
        let Some(cal) = &args.calibration else {
            anyhow::bail!(
                "{} is a float checkpoint: pass --calibration X.npy, the input on which the run-time exponents are frozen",
                args.file.display()
            );
        };
        loisim_import::import_float(&args.file, args.qconfig.as_deref(), cal)?
    };
    if let Some(n) = args.name {
        model.name = n;
    }
    let bytes = loisim_model::codec::encode(&model)?;
    output::write_bytes(&args.output, &bytes).context("writing the model")?;
    println!(
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
