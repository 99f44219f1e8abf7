//! `loisim gen`: a synthetic paper-shaped model.

use anyhow::{Context, Result};
use clap::{Args, ValueEnum};
use loisim_import::observe::Recipe;
use loisim_import::synth::{Distribution, GenConfig, generate};
use std::path::PathBuf;

#[derive(Clone, Copy, Debug, ValueEnum)]
enum Dist {
    Erk,
    Uniform,
}

/// Arguments of `loisim gen`.
#[derive(Args, Debug)]
pub struct GenArgs {
    /// Width multiplier s: H = 12 floor(16 s), P = 8 floor(16 s).
    #[arg(long, default_value_t = 1.0)]
    width: f64,
    /// Number of S5 blocks.
    #[arg(long, default_value_t = 3)]
    layers: usize,
    /// Target weight sparsity over the prunable matrices (0 = dense).
    #[arg(long, default_value_t = 0.9)]
    sparsity: f64,
    /// How sparsity is spread over matrices.
    #[arg(long, value_enum, default_value_t = Dist::Erk)]
    distribution: Dist,
    /// Random seed.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Model name stored in the file (default: the output file's stem).
    #[arg(long)]
    name: Option<String>,
    /// Calibration input (`.npy` float magnitudes [tokens, 257]); default: the first 1000 tokens
    /// of the built-in speech-like clip.
    #[arg(long, value_name = "X.npy")]
    calibration: Option<PathBuf>,
    /// Also write the derived quantization config (upstream JSON layout).
    #[arg(long, value_name = "QCONFIG.json")]
    qconfig_out: Option<PathBuf>,
    /// Output model file.
    #[arg(short, long, value_name = "MODEL.bin")]
    output: PathBuf,
}

/// Runs `loisim gen`.
pub fn execute(args: GenArgs) -> Result<()> {
    let cfg = GenConfig {
        width: args.width,
        n_layers: args.layers,
        sparsity: args.sparsity,
        distribution: match args.distribution {
            Dist::Erk => Distribution::Erk,
            Dist::Uniform => Distribution::Uniform,
        },
        seed: args.seed,
        recipe: Recipe::W8A16,
    };
    let calibration = match &args.calibration {
        Some(p) => {
            let t = loisim_import::tensors::read_npy(p)?;
            match t.values {
                loisim_import::tensors::Values::F32(v)
                    if t.shape.len() == 2 && t.shape[1] == 257 =>
                {
                    v
                }
                _ => anyhow::bail!(
                    "{}: calibration features must be float32 [tokens, 257] magnitudes",
                    p.display()
                ),
            }
        }
        None => default_calibration()?,
    };
    let name = args.name.clone().unwrap_or_else(|| {
        args.output
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_else(|| "generated".into())
    });
    let g = generate(&cfg, &name, &calibration)?;
    let bytes = loisim_model::codec::encode(&g.model)?;
    // Both files or neither.
    let mut staging = loisim::output::Staging::new();
    let model_path = staging.file(&args.output)?;
    let qconfig_path = args
        .qconfig_out
        .as_deref()
        .map(|q| staging.file(q))
        .transpose()?;
    loisim::output::write_bytes(&model_path, &bytes).context("writing the model")?;
    if let Some(q) = &qconfig_path {
        loisim::output::write_bytes(q, g.qconfig.to_json().as_bytes())
            .context("writing the qconfig")?;
    }
    staging.commit()?;
    outln!(
        "generated {} (H={}, P={}, L={}) -> {} ({} bytes)",
        name,
        g.model.dims.d_model,
        g.model.dims.d_state,
        g.model.dims.n_layers,
        args.output.display(),
        bytes.len()
    );
    Ok(())
}

/// Magnitudes of the default calibration tokens of the built-in speech-like clip.
pub fn default_calibration() -> Result<Vec<f32>> {
    let clip = loisim_audio::speech_like(&loisim_audio::SpeechLikeConfig::default())?;
    let (_, mag) = loisim_audio::features(&clip.noisy);
    Ok(loisim_import::synth::calibration_slice(&mag).to_vec())
}
