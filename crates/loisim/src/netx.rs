//! lava-dl netx networks (`.net` files): read, describe and map onto a chip.
//!
//! A `.net` file is recognised by its content (the HDF5 signature, then a `layer` group), not
//! by its extension. Running netx networks (timesteps, inputs, outputs, probes) and pricing
//! them are not wired into the command line yet; the IR network built here is what they will
//! run (`loisim_netx::to_network`, bit-exact against lava-dl's ground truths).

use crate::{CompileOptions, Error, Result};
use loisim_arch::Chip;
use loisim_compiler::net_map::{self, NetMapReport};
use loisim_netx::{LayerKind, NetxFile, Neuron, Tensor};
use serde::Serialize;
use std::fmt::Write as _;
use std::path::Path;

pub use loisim_netx::{NetxNetwork, NetxOptions};

/// Whether `path` is a lava-dl netx file (by content).
#[must_use]
pub fn is_netx(path: &Path) -> bool {
    loisim_netx::is_netx(path)
}

/// A netx file and the IR network netx would build from it with `opts`.
#[derive(Debug)]
pub struct Netx {
    /// The file as stored.
    pub file: NetxFile,
    /// The network.
    pub network: NetxNetwork,
}

/// Reads a `.net` file and builds its network.
///
/// # Errors
/// The file is unreadable, malformed, or holds layers or neurons netx or loisim do not
/// support (the message names the layer, its type and what is supported).
pub fn load_netx(path: &Path, opts: &NetxOptions) -> Result<Netx> {
    let file = loisim_netx::read(path)?;
    let network = loisim_netx::to_network(&file, opts).map_err(|e| Error::NetxNetwork {
        path: path.to_path_buf(),
        message: e.to_string(),
    })?;
    Ok(Netx { file, network })
}

/// Maps a netx network onto `chip`: pieces of at most `compile.max_neurons_per_core` neurons,
/// several per core when they fit, placed with `compile.place_sweeps` sweeps.
///
/// # Errors
/// The network breaks a limit of the chip (delays, weights, payloads, per-core memory) or
/// needs more cores than the board has.
pub fn map_netx(netx: &Netx, chip: &Chip, compile: &CompileOptions) -> Result<NetMapReport> {
    let net = &netx.network.network;
    let mapping =
        net_map::partition(net, chip, compile.max_neurons_per_core).map_err(|e| {
            match (&e, net_map::conv_note(net)) {
                (net_map::NetMapError::DoesNotFit { .. }, Some(note)) => {
                    Error::Invalid(format!("{e} ({note})"))
                }
                _ => Error::NetMap(e),
            }
        })?;
    let layout = net_map::place(net, &mapping, chip, compile.place_sweeps)?;
    Ok(NetMapReport::new(net, chip, &mapping, &layout))
}

/// One layer of a [`NetxSummary`].
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct NetxLayer {
    /// Index in the file.
    pub index: usize,
    /// The file's layer type.
    pub kind: String,
    /// The stored shape.
    pub shape: Option<Vec<i64>>,
    /// The neuron type, if any.
    pub neuron: Option<String>,
    /// Shape of the weights, if any.
    pub weight_shape: Option<Vec<usize>>,
    /// Stored weights (elements).
    pub weights: usize,
    /// Non-zero weights.
    pub weights_nonzero: usize,
    /// The IR population netx's block of this layer becomes, with its neurons.
    pub population: Option<(String, u32)>,
}

/// What a netx file holds and what it becomes.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct NetxSummary {
    /// The layers of the file.
    pub layers: Vec<NetxLayer>,
    /// Neurons of the network.
    pub neurons: u64,
    /// Synapses the network stores (a conv kernel once).
    pub synapses_stored: u64,
    /// Lava's shape of the input.
    pub input_shape: Vec<u32>,
}

fn kind_name(k: &LayerKind) -> String {
    match k {
        LayerKind::Unsupported { type_name, .. } => format!("{type_name} (unsupported)"),
        other => format!("{other:?}").to_lowercase(),
    }
}

fn neuron_name(n: &Neuron) -> String {
    match n {
        Neuron::Cuba(c) => c.type_name.clone(),
        Neuron::Sdnn(_) => "SDNN".into(),
        Neuron::Unsupported { type_name } => format!("{type_name} (unsupported)"),
    }
}

fn nonzero(t: &Tensor) -> usize {
    t.to_f64().iter().filter(|&&v| v != 0.0).count()
}

impl Netx {
    /// The summary `loisim inspect` prints.
    #[must_use]
    pub fn summary(&self) -> NetxSummary {
        let net = &self.network.network;
        let layers = self
            .file
            .layers
            .iter()
            .map(|l| {
                let block = self.network.blocks.iter().find(|b| b.layer == l.index);
                NetxLayer {
                    index: l.index,
                    kind: kind_name(&l.kind),
                    shape: l.shape.clone(),
                    neuron: l.neuron.as_ref().map(neuron_name),
                    weight_shape: l.weight.as_ref().map(|w| w.shape.clone()),
                    weights: l.weight.as_ref().map_or(0, Tensor::len),
                    weights_nonzero: l.weight.as_ref().map_or(0, nonzero),
                    population: block.map(|b| {
                        let p = &net.populations[b.pop.index()];
                        (p.name.clone(), p.size)
                    }),
                }
            })
            .collect();
        NetxSummary {
            layers,
            neurons: net.populations.iter().map(|p| u64::from(p.size)).sum(),
            synapses_stored: net
                .projections
                .iter()
                .map(loisim_net::Projection::stored_synapses)
                .sum(),
            input_shape: self.network.input_shape.clone(),
        }
    }
}

impl NetxSummary {
    /// The summary as text: totals, then one line per layer.
    #[must_use]
    pub fn text(&self) -> String {
        let mut s = String::new();
        let _ = writeln!(
            s,
            "netx network: {} layers, {} neurons, {} stored synapses, input {:?} (Lava's x, y, c)",
            self.layers.len(),
            self.neurons,
            self.synapses_stored,
            self.input_shape
        );
        let _ = writeln!(
            s,
            "\n  layer  type         neuron   shape            weights (non-zero)       population"
        );
        for l in &self.layers {
            let shape = l
                .shape
                .as_ref()
                .map_or_else(|| "-".into(), |v| format!("{v:?}"));
            let weights = match &l.weight_shape {
                Some(w) => format!("{w:?} ({})", l.weights_nonzero),
                None => "-".into(),
            };
            let pop = l
                .population
                .as_ref()
                .map_or_else(|| "-".into(), |(n, k)| format!("{n} ({k})"));
            let _ = writeln!(
                s,
                "  {:>5}  {:<12} {:<8} {:<16} {:<24} {}",
                l.index,
                l.kind,
                l.neuron.as_deref().unwrap_or("-"),
                shape,
                weights,
                pop
            );
        }
        s
    }
}
