//! Options and steps shared by several commands.

use anyhow::Result;
use clap::Args;
use loisim::paths;
use loisim::{Chip, CompileOptions, Model};
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

impl ChipOpts {
    /// The chip description.
    pub fn chip(&self) -> Result<Chip> {
        Ok(Chip::load(&self.chip)?)
    }

    /// The compiler options.
    pub fn compile_options(&self) -> CompileOptions {
        CompileOptions {
            max_neurons_per_core: self.max_neurons_per_core,
            ..CompileOptions::default()
        }
    }
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
    let model = loisim::load_model(&model_path)?;
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
    let mut toks = loisim::read_tokens(&input_path, &model)?;
    if let Some(n) = tokens {
        toks.truncate(n);
    }
    Ok((model, Some(toks)))
}
