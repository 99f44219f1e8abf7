//! Options and steps shared by several commands.

use crate::paths;
use anyhow::{Context, Result};
use clap::Args;
use loisim_arch::Chip;
use loisim_compiler::{Activity, CompileOptions, Program, compile};
use loisim_model::Model;
use std::path::PathBuf;

/// Chip and compiler options.
#[derive(Args, Debug, Clone)]
pub struct ChipOpts {
    /// Chip description: a preset (loihi2, kapoho-point, loihi1) or a TOML file.
    #[arg(long, default_value = "loihi2", value_name = "NAME|FILE")]
    pub chip: String,
    /// Most neurons of one population per core (fewer: more cores, lower latency).
    #[arg(long, default_value_t = CompileOptions::default().max_neurons_per_core, value_name = "N")]
    pub max_neurons_per_core: u32,
}

/// Loads a model (default: the shipped one) and, when `want_tokens`, its input tokens
/// (default: the shipped input), truncated to `tokens`.
pub fn load_model_and_tokens(
    model: Option<&PathBuf>,
    input: Option<&PathBuf>,
    tokens: Option<usize>,
    want_tokens: bool,
) -> Result<(Model, Option<Vec<Vec<i32>>>)> {
    let model_path = match model {
        Some(p) => p.clone(),
        None => paths::shipped(paths::DEFAULT_MODEL)?,
    };
    let model = paths::read_model(&model_path)?;
    if let Some(0) = tokens {
        anyhow::bail!("--tokens must be at least 1");
    }
    if !want_tokens {
        return Ok((model, None));
    }
    let input_path = match input {
        Some(p) => p.clone(),
        None => paths::shipped(paths::DEFAULT_INPUT)?,
    };
    let mut toks = loisim_import::input::read_tokens(&input_path, &model)?;
    if let Some(n) = tokens {
        toks.truncate(n);
    }
    Ok((model, Some(toks)))
}

/// Compiles a model onto the chosen chip; with tokens, also measures activity on them (for
/// reports; placement always weighs traffic by the synaptic structure alone).
pub fn compile_model(
    model: &Model,
    opts: &ChipOpts,
    tokens: Option<&[Vec<i32>]>,
) -> Result<(Program, Option<Activity>)> {
    let chip = Chip::load(&opts.chip)?;
    let options = CompileOptions {
        max_neurons_per_core: opts.max_neurons_per_core,
        ..CompileOptions::default()
    };
    let prog = compile(model, &chip, &options, None)
        .with_context(|| format!("mapping {} onto {}", model.name, chip.name))?;
    let activity = match tokens {
        Some(t) => Some(Activity::measure(model, &prog.network, t)?),
        None => None,
    };
    Ok((prog, activity))
}
