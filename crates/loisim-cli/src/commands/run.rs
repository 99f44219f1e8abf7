//! `loisim run`: run a model on an input.

use crate::{output, paths};
use anyhow::{Context, Result};
use clap::Args;
use loisim_model::stats::{ActivityCounter, ModelStats};
use loisim_model::{Model, Reference};
use serde::Serialize;
use std::path::PathBuf;
use std::time::Instant;

/// Arguments of `loisim run`.
#[derive(Args, Debug)]
pub struct RunArgs {
    /// The model (`model.bin`); default: the shipped sparse 1x model.
    #[arg(value_name = "MODEL")]
    model: Option<PathBuf>,
    /// Run the bit-exact reference executor (the definition of what the model computes).
    #[arg(long)]
    reference: bool,
    /// Input `.npy` [tokens, 257]: integers are the model's input integers, floats are STFT
    /// magnitudes (offset subtracted and quantized with the model's input format). Default: the
    /// shipped 30 s clip.
    #[arg(long, value_name = "X.npy")]
    input: Option<PathBuf>,
    /// Run only the first N tokens.
    #[arg(long, value_name = "N")]
    tokens: Option<usize>,
    /// Write the decoder output integers as int32 [tokens, 257] `.npy`.
    #[arg(long, value_name = "Y.npy")]
    output: Option<PathBuf>,
    /// Print one JSON object instead of text.
    #[arg(long)]
    json: bool,
}

#[derive(Serialize)]
struct ReferenceJson {
    mode: &'static str,
    model: String,
    tokens: usize,
    wall_s: f64,
    tokens_per_s: f64,
    input_density: Vec<(String, f64)>,
    macs_per_token_dense: u64,
    macs_per_token_effective: u64,
    macs_per_token_active: f64,
}

/// Loads the model and the input tokens named by the arguments.
pub fn load(
    model: Option<&PathBuf>,
    input: Option<&PathBuf>,
    tokens: Option<usize>,
) -> Result<(Model, Vec<Vec<i32>>, PathBuf)> {
    let model_path = match model {
        Some(p) => p.clone(),
        None => paths::shipped(paths::DEFAULT_MODEL)?,
    };
    let model = paths::read_model(&model_path)?;
    let input_path = match input {
        Some(p) => p.clone(),
        None => paths::shipped(paths::DEFAULT_INPUT)?,
    };
    let mut toks = loisim_import::input::read_tokens(&input_path, &model)?;
    if let Some(n) = tokens {
        if n == 0 {
            anyhow::bail!("--tokens must be at least 1");
        }
        toks.truncate(n);
    }
    Ok((model, toks, model_path))
}

/// Runs `loisim run`.
pub fn execute(args: RunArgs) -> Result<()> {
    if !args.reference {
        anyhow::bail!("only the reference executor is available in this build: pass --reference");
    }
    let (model, tokens, model_path) = load(args.model.as_ref(), args.input.as_ref(), args.tokens)?;
    let start = Instant::now();
    let mut r = Reference::new(&model)?;
    let mut activity = ActivityCounter::new(&model);
    let mut outputs = Vec::with_capacity(tokens.len());
    for t in &tokens {
        let trace = r.step_traced(t)?;
        activity.add(t, &trace);
        outputs.push(trace.output);
    }
    let wall_s = start.elapsed().as_secs_f64();
    if let Some(out) = &args.output {
        output::write_npy_i32(out, &outputs, model.dims.d_output as usize)
            .context("writing the output")?;
    }
    let stats = ModelStats::of(&model);
    let density: Vec<(String, f64)> = model
        .matrices()
        .into_iter()
        .map(|(n, _)| n)
        .zip(activity.input_density())
        .collect();
    let active = activity.active_macs(&model);
    if args.json {
        let j = ReferenceJson {
            mode: "reference",
            model: model.name.clone(),
            tokens: tokens.len(),
            wall_s,
            tokens_per_s: tokens.len() as f64 / wall_s.max(1e-12),
            input_density: density,
            macs_per_token_dense: stats.macs_dense,
            macs_per_token_effective: stats.macs_effective,
            macs_per_token_active: active,
        };
        println!("{}", serde_json::to_string_pretty(&j)?);
        return Ok(());
    }
    println!("loisim run --reference: the bit-exact fixed-point reference executor");
    println!("model    {} ({})", model.name, model_path.display());
    println!(
        "tokens   {} in {:.3} s ({:.0} tokens/s)",
        tokens.len(),
        wall_s,
        tokens.len() as f64 / wall_s.max(1e-12)
    );
    println!("activation density (non-zero inputs of each matrix):");
    for (n, d) in &density {
        println!("  {n:<16} {:>6.1}%", 100.0 * d);
    }
    println!(
        "MACs per token: dense {}, non-zero weights {}, non-zero weights x non-zero inputs {:.0}",
        stats.macs_dense, stats.macs_effective, active
    );
    if let Some(out) = &args.output {
        println!(
            "output   {} (int32 [{}, {}])",
            out.display(),
            outputs.len(),
            model.dims.d_output
        );
    }
    Ok(())
}
