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
    /// Most neurons of one population per core (fewer: more cores, lower latency); default:
    /// 64 for S5 models, the chip's neurons per core for netx networks.
    #[arg(long, value_name = "N")]
    pub max_neurons_per_core: Option<u32>,
}

impl ChipOpts {
    /// The chip description.
    pub fn chip(&self) -> Result<Chip> {
        Ok(Chip::load(&self.chip)?)
    }

    /// The compiler options.
    pub fn compile_options(&self) -> CompileOptions {
        let d = CompileOptions::default();
        CompileOptions {
            max_neurons_per_core: self.max_neurons_per_core.unwrap_or(d.max_neurons_per_core),
            ..d
        }
    }

    /// The compiler options for a netx network on `chip`: pieces as large as a core allows
    /// unless `--max-neurons-per-core` says otherwise (netx networks are pipelined; the S5
    /// default of small pieces for latency does not apply).
    pub fn netx_compile_options(&self, chip: &Chip) -> CompileOptions {
        let d = loisim::netx::default_compile_options(chip);
        CompileOptions {
            max_neurons_per_core: self.max_neurons_per_core.unwrap_or(d.max_neurons_per_core),
            ..d
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

/// The arguments of lava-dl's `netx.hdf5.Network` (netx networks only).
#[derive(Args, Debug, Clone, Default)]
pub struct NetxArgs {
    /// netx: message bits of the input when the network starts with a synapse layer (0:
    /// binary spikes).
    #[arg(long, value_name = "N", help_heading = "netx networks")]
    pub input_message_bits: Option<u8>,
    /// netx: `spike_exp` of sigma-delta neurons (default 6).
    #[arg(long, value_name = "N", help_heading = "netx networks")]
    pub spike_exp: Option<u8>,
    /// netx: reset interval of LIF neurons (LIFReset); also what a sample is in the report.
    #[arg(long, value_name = "N", help_heading = "netx networks")]
    pub reset_interval: Option<u32>,
    /// netx: phase of the reset (netx's `reset_offset`, default 0).
    #[arg(
        long,
        value_name = "K",
        allow_negative_numbers = true,
        help_heading = "netx networks"
    )]
    pub reset_offset: Option<i64>,
    /// netx: build only the first N layers of the file.
    #[arg(long, value_name = "N", help_heading = "netx networks")]
    pub num_layers: Option<usize>,
    /// netx: skip the first N layers of the file.
    #[arg(long, value_name = "N", help_heading = "netx networks")]
    pub skip_layers: Option<usize>,
    /// netx: Lava shape of the input when the file has no input layer.
    #[arg(long, value_name = "X,Y,C", help_heading = "netx networks")]
    pub input_shape: Option<String>,
    /// netx: fully connected layers as Lava's Sparse (the same arithmetic).
    #[arg(long, help_heading = "netx networks")]
    pub sparse_fc_layer: bool,
}

impl NetxArgs {
    /// Whether any netx argument was given.
    pub fn any(&self) -> bool {
        self.input_message_bits.is_some()
            || self.spike_exp.is_some()
            || self.reset_interval.is_some()
            || self.reset_offset.is_some()
            || self.num_layers.is_some()
            || self.skip_layers.is_some()
            || self.input_shape.is_some()
            || self.sparse_fc_layer
    }

    /// The options of netx's `Network`.
    pub fn options(&self) -> Result<loisim::netx::NetxOptions> {
        let d = loisim::netx::NetxOptions::default();
        let input_shape = match &self.input_shape {
            None => None,
            Some(s) => {
                let parts: Vec<Option<u32>> =
                    s.split(',').map(|p| p.trim().parse::<u32>().ok()).collect();
                match parts.as_slice() {
                    [Some(x), Some(y), Some(c)] if *x > 0 && *y > 0 && *c > 0 => Some([*x, *y, *c]),
                    _ => {
                        anyhow::bail!("--input-shape `{s}`: expected three positive integers X,Y,C")
                    }
                }
            }
        };
        if self.reset_interval == Some(0) {
            anyhow::bail!("--reset-interval must be at least 1");
        }
        Ok(loisim::netx::NetxOptions {
            input_message_bits: self.input_message_bits.unwrap_or(d.input_message_bits),
            spike_exp: self.spike_exp.unwrap_or(d.spike_exp),
            reset_interval: self.reset_interval.or(d.reset_interval),
            reset_offset: self.reset_offset.unwrap_or(d.reset_offset),
            num_layers: self.num_layers.or(d.num_layers),
            skip_layers: self.skip_layers.unwrap_or(d.skip_layers),
            input_shape: input_shape.or(d.input_shape),
            sparse_fc_layer: self.sparse_fc_layer,
        })
    }

    /// Refuses netx arguments for a model that is not a netx network.
    pub fn refuse(&self) -> Result<()> {
        if self.any() {
            anyhow::bail!(
                "the netx flags (--input-message-bits, --spike-exp, --reset-interval, --reset-offset, --num-layers, --skip-layers, --input-shape, --sparse-fc-layer) apply to lava-dl netx networks (.net)"
            );
        }
        Ok(())
    }
}
