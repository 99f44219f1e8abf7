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
use npyz::WriterBuilder as _;
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
    /// Name (the file's stem).
    pub name: String,
    /// The arguments netx's `Network` was given.
    pub options: NetxOptions,
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
    let name = path
        .file_stem()
        .map_or_else(|| "netx".into(), |s| s.to_string_lossy().into_owned());
    Ok(Netx {
        name,
        options: opts.clone(),
        file,
        network,
    })
}

/// The compiler options netx networks get by default on `chip`: pieces as large as a core
/// allows (`core.max_neurons`). netx networks are pipelined; the S5 default of small pieces for
/// a short fall-through latency does not apply, and PilotNet does not fit one chip with it.
#[must_use]
pub fn default_compile_options(chip: &Chip) -> CompileOptions {
    CompileOptions {
        max_neurons_per_core: chip.core.max_neurons.value,
        ..CompileOptions::default()
    }
}

/// Maps a netx network onto `chip`: pieces of at most `compile.max_neurons_per_core` neurons,
/// several per core when they fit, placed with `compile.place_sweeps` sweeps.
///
/// # Errors
/// The network breaks a limit of the chip (delays, weights, payloads, per-core memory) or
/// needs more cores than the board has.
pub fn map_netx(netx: &Netx, chip: &Chip, compile: &CompileOptions) -> Result<NetMapReport> {
    let net = &netx.network.network;
    let mapping = net_map::partition(net, chip, compile.max_neurons_per_core)
        .map_err(|e| partition_error(net, e))?;
    let layout = net_map::place(net, &mapping, chip, compile.place_sweeps)?;
    Ok(NetMapReport::new(net, chip, &mapping, &layout))
}

/// A network that does not partition onto the chip: a mapping error (as an S5 model's), with
/// the convolutions' note when there is one.
fn partition_error(net: &loisim_net::Network, e: net_map::NetMapError) -> Error {
    match (&e, net_map::conv_note(net)) {
        (net_map::NetMapError::DoesNotFit { .. }, Some(note)) => {
            Error::NetMapNote { source: e, note }
        }
        _ => Error::NetMap(e),
    }
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

/// Timesteps a netx run may take at most.
pub const MAX_NETX_STEPS: u64 = 10_000_000;
/// Output values (output neurons x steps) a netx run may keep at most (1 GiB of int32).
pub const MAX_NETX_OUTPUT_VALUES: u64 = 1 << 28;

/// An integer array in Lava's layout (C order).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LavaArray {
    /// Shape.
    pub shape: Vec<usize>,
    /// Values in C order.
    pub values: Vec<i64>,
}

/// Reads an integer array from `.npy` (any integer dtype, or floats holding integers, as
/// lava-dl's ground truths store them).
///
/// # Errors
/// The file is unreadable or malformed, or a value is not an integer.
pub fn read_lava_array(path: &Path) -> Result<LavaArray> {
    use loisim_import::tensors::Values;
    let t = loisim_import::tensors::read_npy(path)?;
    let not_int = |k: usize, v: f64| {
        Error::Invalid(format!(
            "{}: element {k} is {v}; netx inputs and biases are integers",
            path.display()
        ))
    };
    let values = match t.values {
        Values::Int(v) => v,
        Values::F32(v) => v
            .iter()
            .enumerate()
            .map(|(k, &x)| float_int(f64::from(x)).ok_or_else(|| not_int(k, f64::from(x))))
            .collect::<Result<_>>()?,
        Values::F64(v) => v
            .iter()
            .enumerate()
            .map(|(k, &x)| float_int(x).ok_or_else(|| not_int(k, x)))
            .collect::<Result<_>>()?,
    };
    Ok(LavaArray {
        shape: t.shape,
        values,
    })
}

fn float_int(x: f64) -> Option<i64> {
    (x.is_finite() && x.fract() == 0.0 && x.abs() < 9.0e15).then_some(x as i64)
}

/// How to run a netx network.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct NetxRunOptions {
    /// Input spikes in Lava's layout, time last (`(x, y, c, t)` or `(n, t)`), fed like Lava's
    /// `io.source.RingBuffer`: step `t` (from 1) gets `X[..., (t - 1) mod T_in]`.
    pub input: Option<LavaArray>,
    /// `bias_mant` of the input layer's LIF neurons, over the input's Lava shape.
    pub bias: Option<LavaArray>,
    /// Steps to run (default: the input's length).
    pub steps: Option<u64>,
    /// Run the IR reference interpreter (no cost figures).
    pub reference: bool,
    /// Engine threads (results never depend on it).
    pub threads: usize,
    /// Write the output layer's `out` here: int32 `(out_shape..., T)`, as `io.sink.RingBuffer`.
    pub output: Option<std::path::PathBuf>,
    /// Write per-layer state here: `layer{i}-{type}-{var}.npy`, int32 `(T, shape...)`.
    pub probe_dir: Option<std::path::PathBuf>,
    /// Probe only these layers (indices in netx's `net.layers`); `None`: all.
    pub probe_layers: Option<Vec<usize>>,
    /// Record the run's activity here, for replay at other chip costs ([`crate::replay`]).
    pub activity: Option<std::path::PathBuf>,
}

/// What a netx run gives back.
#[derive(Clone, Debug, PartialEq)]
pub struct NetxRun {
    /// Every figure.
    pub report: crate::Report,
    /// The output layer's `out` over the steps, Lava's layout `(out_shape..., T)`.
    pub output: LavaArray,
}

/// The type name of a block for file names.
fn block_type(b: &loisim_netx::NetxBlock) -> &'static str {
    match b.kind {
        LayerKind::Input => "input",
        LayerKind::Dense => "dense",
        LayerKind::DenseRec => "dense_rec",
        LayerKind::Conv => "conv",
        _ => "layer",
    }
}

/// Per-block probe files being streamed.
struct Probe {
    block: usize,
    /// (state variable index or `None` for the spikes `s`, writer)
    vars: Vec<(Option<usize>, ProbeWriter)>,
}

type ProbeWriter = npyz::NpyWriter<i32, std::io::BufWriter<std::fs::File>>;

/// Runs a netx network for its steps: bit-exact values from the engine (or the reference
/// interpreter), and every timestep priced by the chip's cost model.
///
/// # Errors
/// Inputs of the wrong shape or length, a bias on a layer without one, no way to know how
/// many steps to run, a network that does not fit the chip, or an output that cannot be
/// written.
#[allow(clippy::too_many_lines)]
pub fn run_netx(
    netx: &Netx,
    chip: &Chip,
    compile: &CompileOptions,
    opts: &NetxRunOptions,
) -> Result<NetxRun> {
    use crate::report::{
        Arithmetic, ChannelDensity, Executor, ModelSize, NetxLayerActivity, Report, SimSpeed,
    };
    use loisim_sim::net_engine::NetProgram;
    use loisim_sim::net_timing::NetPricer;
    let started = std::time::Instant::now();
    let mut nx = netx.network.clone();
    let shape_in: Vec<usize> = nx.input_shape.iter().map(|&d| d as usize).collect();
    let n_in: usize = shape_in.iter().product();
    if let Some(b) = &opts.bias {
        let first = nx.blocks.first();
        if first.is_none_or(|b| b.kind != LayerKind::Input)
            || first.is_some_and(|b| b.neuron != loisim_netx::BlockNeuron::Lif)
        {
            return Err(Error::Invalid(
                "--bias sets the bias_mant of the input layer's LIF neurons; this network's \
                 first layer is not an input layer with LIF neurons (a Delta input has no bias)"
                    .into(),
            ));
        }
        if b.shape != shape_in {
            return Err(Error::Invalid(format!(
                "--bias is shaped {:?}; the input layer is {:?} (Lava's x, y, c)",
                b.shape, shape_in
            )));
        }
        nx.set_lif_bias_mant(0, &b.values)
            .map_err(|e| Error::Invalid(format!("--bias: {e}")))?;
    }
    let t_in = match &opts.input {
        Some(x) => {
            let ok = x.shape.len() == shape_in.len() + 1 && x.shape[..shape_in.len()] == shape_in;
            if !ok || x.shape.last() == Some(&0) {
                return Err(Error::Invalid(format!(
                    "--input is shaped {:?}; this network takes {:?} per step, time last: \
                     ({}, T) with T >= 1",
                    x.shape,
                    shape_in,
                    shape_in
                        .iter()
                        .map(ToString::to_string)
                        .collect::<Vec<_>>()
                        .join(", ")
                )));
            }
            Some(x.shape[shape_in.len()])
        }
        None => None,
    };
    let steps = match (opts.steps, t_in) {
        (Some(s), _) => s,
        (None, Some(t)) => t as u64,
        (None, None) => {
            return Err(Error::Invalid(
                "how many steps? give --steps T (there is no --input to take the length from)"
                    .into(),
            ));
        }
    };
    let out_block = nx
        .blocks
        .iter()
        .position(|b| b.output == nx.out)
        .ok_or_else(|| Error::Invalid("the network has no output layer".into()))?;
    let out_shape: Vec<usize> = nx.blocks[out_block]
        .shape
        .iter()
        .map(|&d| d as usize)
        .collect();
    let n_out: usize = out_shape.iter().product();
    if steps == 0
        || steps > MAX_NETX_STEPS
        || (n_out as u64).saturating_mul(steps) > MAX_NETX_OUTPUT_VALUES
    {
        return Err(Error::Invalid(format!(
            "{steps} steps: a run takes 1 to {MAX_NETX_STEPS} steps and keeps at most \
             {MAX_NETX_OUTPUT_VALUES} output values ({n_out} per step here)"
        )));
    }
    if opts.probe_dir.is_some() && opts.reference {
        return Err(Error::Invalid(
            "--probe reads the simulated chip's state; run without --reference".into(),
        ));
    }
    if opts.activity.is_some() && opts.reference {
        return Err(Error::Invalid(
            "--activity records the simulated chip's work; run without --reference".into(),
        ));
    }
    if let Some(&bad) = opts
        .probe_layers
        .iter()
        .flatten()
        .find(|&&l| l >= nx.blocks.len())
    {
        return Err(Error::Invalid(format!(
            "--probe-layers {bad}: the network has layers 0 to {} (netx's net.layers)",
            nx.blocks.len().saturating_sub(1)
        )));
    }
    let net = &nx.network;
    // Input frames, in the IR's order.
    let frames: Vec<Vec<i64>> = match &opts.input {
        Some(x) => {
            let t_in = t_in.unwrap_or(1);
            (0..t_in)
                .map(|t| {
                    let lava: Vec<i64> = (0..n_in).map(|i| x.values[i * t_in + t]).collect();
                    nx.input_frame(&lava)
                        .map_err(|e| Error::Invalid(format!("--input: {e}")))
                })
                .collect::<Result<_>>()?
        }
        None => vec![vec![0; net.inputs[nx.input.index()].size as usize]],
    };
    let zero_frame = vec![0i64; net.inputs[nx.input.index()].size as usize];
    let mut staging = crate::output::Staging::new();
    let out_path = opts.output.as_ref().map(|p| staging.file(p)).transpose()?;
    let probe_dir = opts
        .probe_dir
        .as_ref()
        .map(|p| staging.dir(p))
        .transpose()?;
    let activity_path = opts
        .activity
        .as_ref()
        .map(|p| staging.file(p))
        .transpose()?;
    let mut recorder = None;
    let mut output = vec![0i64; n_out * steps as usize];
    let n_blocks = nx.blocks.len();
    let mut layer_counts = vec![[0u64; 4]; n_blocks];
    let mut nonzero_out = vec![0u64; n_blocks];
    let events: loisim_net::Events;
    // The reference interpreter runs on one thread.
    let mut threads_used = 1;
    let mut totals = crate::replay::NetxTotals::default();
    let mut record =
        |t: u64, outputs: &[Vec<i64>], act: &loisim_net::StepActivity, spikes_in: &[u64]| {
            for (k, b) in nx.blocks.iter().enumerate() {
                let p = b.pop.index();
                let c = &mut layer_counts[k];
                c[0] += act.synops[p];
                c[1] += act.updates[p];
                c[2] += spikes_in.get(p).copied().unwrap_or(0);
                c[3] += act.messages[p];
                if t >= 1 {
                    nonzero_out[k] += outputs[b.output].iter().filter(|&&v| v != 0).count() as u64;
                }
            }
            if t >= 1 {
                let lava = nx.to_lava_order(out_block, &outputs[nx.out]);
                let col = (t - 1) as usize;
                for (i, v) in lava.into_iter().enumerate() {
                    output[i * steps as usize + col] = v;
                }
            }
        };
    let mut cores_used = None;
    if opts.reference {
        let mut r = loisim_net::Reference::new(net).map_err(|e| Error::Invalid(e.to_string()))?;
        for t in 0..=steps {
            let x = if t < steps {
                &frames[(t % frames.len() as u64) as usize]
            } else {
                &zero_frame
            };
            let s = r
                .step(std::slice::from_ref(x))
                .map_err(|e| Error::Invalid(e.to_string()))?;
            record(t, &s.outputs, &s.activity, &[]);
        }
        events = r.events();
    } else {
        let mapping = net_map::partition(net, chip, compile.max_neurons_per_core)
            .map_err(|e| partition_error(net, e))?;
        let layout = net_map::place(net, &mapping, chip, compile.place_sweeps)?;
        let mut prog =
            NetProgram::for_chip(net, &mapping, chip).map_err(|e| Error::Invalid(e.to_string()))?;
        // The host reads the output layer (Lava's sink); the other layers' spikes stay on chip.
        prog.host_reads_only(&[nx.out]);
        let mut pricer = NetPricer::new(&prog, &layout.cores, chip)?;
        if let Some(p) = &activity_path {
            let parts = loisim_sim::net_timing::NetParts::new(&prog, &layout.cores, chip)?;
            recorder = Some(crate::replay::Recorder::create(
                p,
                crate::replay::RecordingOf {
                    kind: crate::ModelKind::Netx,
                    fall_through: false,
                    pipeline: true,
                    reset_interval: opts_reset_interval(netx),
                },
                chip,
                &parts.timing_parts(),
            )?);
        }
        cores_used = Some(prog.n_cores());
        let host_flow: Vec<bool> = prog.flows().iter().map(|f| f.src.is_none()).collect();
        let mut carry = vec![loisim_sim::engine::FlowWork::default(); host_flow.len()];
        let mut eng = prog.start(opts.threads.max(1));
        eng.record_work();
        if probe_dir.is_some() {
            eng.keep_pre_reset_state();
        }
        let mut probes: Vec<Probe> = Vec::new();
        if let Some(dir) = &probe_dir {
            for (k, b) in nx.blocks.iter().enumerate() {
                if opts.probe_layers.as_ref().is_some_and(|l| !l.contains(&k)) {
                    continue;
                }
                let pg = net.program_of(b.pop);
                let mut shape: Vec<u64> = vec![steps];
                shape.extend(b.shape.iter().map(|&d| u64::from(d)));
                let mut vars = Vec::new();
                let names: Vec<(Option<usize>, String)> = pg
                    .states
                    .iter()
                    .enumerate()
                    .map(|(i, s)| (Some(i), s.name.clone()))
                    .chain(std::iter::once((None, "s".to_string())))
                    .collect();
                for (var, name) in names {
                    let path = dir.join(format!("layer{k}-{}-{name}.npy", block_type(b)));
                    let f = std::fs::File::create(&path)
                        .map_err(|e| Error::io("cannot write", &path, e))?;
                    let w = npyz::WriteOptions::<i32>::new()
                        .default_dtype()
                        .shape(&shape)
                        .writer(std::io::BufWriter::new(f))
                        .begin_nd()
                        .map_err(|e| Error::io("cannot write", &path, e))?;
                    vars.push((var, w));
                }
                probes.push(Probe { block: k, vars });
            }
        }
        for t in 0..=steps {
            let x = if t < steps {
                &frames[(t % frames.len() as u64) as usize]
            } else {
                &zero_frame
            };
            let s = eng
                .step(std::slice::from_ref(x))
                .map_err(|e| Error::Invalid(e.to_string()))?;
            record(t, &s.outputs, &s.activity, eng.spikes_in());
            // The host injects in IR step t the input of Lava step t + 1: price it there.
            let mut work = eng.work().map(<[_]>::to_vec).unwrap_or_default();
            for (i, w) in work.iter_mut().enumerate() {
                if host_flow[i] {
                    std::mem::swap(w, &mut carry[i]);
                }
            }
            if t >= 1 {
                let st = pricer.price(&work);
                totals.add(&st);
                if let Some(r) = recorder.as_mut() {
                    r.token(&work);
                }
                for pr in &mut probes {
                    let b = &nx.blocks[pr.block];
                    let state = eng.probed_state(b.pop);
                    let k = net.program_of(b.pop).states.len().max(1);
                    for (var, w) in &mut pr.vars {
                        let ir: Vec<i64> = match var {
                            Some(v) => state.iter().skip(*v).step_by(k).copied().collect(),
                            None => s.outputs[b.output].clone(),
                        };
                        let lava = nx.to_lava_order(pr.block, &ir);
                        // State and payloads are at most 32 bits wide: the wrap is exact.
                        w.extend(lava.into_iter().map(|v| v as i32))
                            .map_err(|e| Error::Invalid(format!("writing a probe: {e}")))?;
                    }
                }
            }
        }
        for pr in probes {
            for (_, w) in pr.vars {
                w.finish()
                    .map_err(|e| Error::Invalid(format!("writing a probe: {e}")))?;
            }
        }
        events = eng.events();
        threads_used = eng.threads();
    }
    if let Some(p) = &out_path {
        let mut shape: Vec<u64> = out_shape.iter().map(|&d| d as u64).collect();
        shape.push(steps);
        crate::output::write_atomic(p, |w| {
            let mut npy = npyz::WriteOptions::<i32>::new()
                .default_dtype()
                .shape(&shape)
                .writer(w)
                .begin_nd()?;
            npy.extend(output.iter().map(|&v| v as i32))?;
            npy.finish()
        })?;
    }
    // Figures.
    let pipeline =
        (!opts.reference).then(|| netx_pipeline(&totals, steps, opts_reset_interval(netx)));
    let layers = nx
        .blocks
        .iter()
        .enumerate()
        .map(|(k, b)| NetxLayerActivity {
            layer: k,
            kind: block_type(b).to_string(),
            population: net.populations[b.pop.index()].name.clone(),
            neurons: net.populations[b.pop.index()].size,
            syn_ops: layer_counts[k][0],
            dendrite_updates: layer_counts[k][1],
            spikes_in: layer_counts[k][2],
            axon_out: layer_counts[k][3],
        })
        .collect();
    let density = nx
        .blocks
        .iter()
        .enumerate()
        .map(|(k, b)| ChannelDensity {
            channel: format!("layer{k}-{}", block_type(b)),
            nonzero_fraction: nonzero_out[k] as f64
                / (f64::from(net.populations[b.pop.index()].size) * steps as f64).max(1.0),
        })
        .collect();
    let weights_nonzero: u64 = netx
        .file
        .layers
        .iter()
        .filter_map(|l| l.weight.as_ref())
        .map(|w| nonzero(w) as u64)
        .sum();
    // Synapses a step would cross if every neuron sent: the dense work of one step.
    let (mut macs_dense, mut macs_nonzero) = (0u64, 0u64);
    for pr in &net.projections {
        for i in 0..net.source_size(pr.src) {
            net.fan_out(pr, i, |_, w, _| {
                macs_dense += 1;
                macs_nonzero += u64::from(w != 0);
            });
        }
    }
    let wall_s = started.elapsed().as_secs_f64();
    let total_synops: u64 = layer_counts.iter().map(|c| c[0]).sum();
    let report = Report {
        schema_version: crate::report::SCHEMA_VERSION,
        executor: if opts.reference {
            Executor::Reference
        } else {
            Executor::Chip
        },
        model: netx.name.clone(),
        model_kind: crate::ModelKind::Netx,
        chip: (!opts.reference).then(|| chip.name.clone()),
        board: (!opts.reference).then(|| chip.board.name.clone()),
        cores_used,
        pipeline_depth_timesteps: None,
        samples: opts_reset_interval(netx).map_or(1, |r| steps.div_ceil(u64::from(r)) as usize),
        tokens: 0,
        inputs_per_token: n_in,
        outputs_per_token: n_out,
        fall_through: None,
        pipeline,
        per_sample: Vec::new(),
        aggregate: None,
        activation_density: density,
        arithmetic: Some(Arithmetic {
            saturations: events.saturations,
            int32_wraps: events.wraps + events.state_wraps + events.payload_wraps,
            accumulator_overflows: events.port_wraps,
        }),
        model_size: ModelSize {
            parameters_nonzero: weights_nonzero,
            macs_dense_per_token: macs_dense,
            macs_nonzero_weights_per_token: macs_nonzero,
        },
        macs_active_per_token: None,
        calibration_targets: None,
        audio: None,
        outputs: crate::report::Outputs {
            output: opts.output.as_ref().map(|p| p.display().to_string()),
            trace_dir: None,
            plots: Vec::new(),
        },
        sim: SimSpeed::new(wall_s, threads_used, steps as usize, total_synops),
        layers,
        probe_dir: opts.probe_dir.as_ref().map(|p| p.display().to_string()),
        sensitivity: None,
        ranges: None,
    };
    if let Some(r) = recorder {
        r.finish(&report, false)?;
    }
    staging.commit()?;
    let mut out_full_shape = out_shape;
    out_full_shape.push(steps as usize);
    Ok(NetxRun {
        report,
        output: LavaArray {
            shape: out_full_shape,
            values: output,
        },
    })
}

fn opts_reset_interval(netx: &Netx) -> Option<u32> {
    netx.options.reset_interval
}

/// The pipeline figures of a netx run of `steps` steps from its priced steps (a sample is
/// `reset_interval` steps, or the whole run without one).
pub(crate) fn netx_pipeline(
    totals: &crate::replay::NetxTotals,
    steps: u64,
    reset_interval: Option<u32>,
) -> crate::report::Pipeline {
    use crate::report::{NetxSamples, Pipeline};
    let energy = &totals.energy;
    let priced = totals.steps.max(1) as f64;
    let total_ns = totals.total_ns;
    let per_sample_steps = reset_interval.map_or(steps, u64::from);
    let step_mean_ns = total_ns / priced;
    let sample_ns = step_mean_ns * per_sample_steps as f64;
    let k = per_sample_steps as f64 / priced;
    Pipeline {
        tokens: None,
        steps: Some(steps),
        timesteps: steps,
        latency_ms_per_sample: sample_ns / 1e6,
        latency_us_per_token: None,
        timestep_us_mean: step_mean_ns / 1e3,
        timestep_us_max: totals.max_ns / 1e3,
        energy_total_mj_per_sample: energy.total_pj() * k / 1e9,
        energy_dynamic_mj_per_sample: energy.dynamic_pj() * k / 1e9,
        energy_total_uj_per_token: None,
        energy_dynamic_uj_per_token: None,
        energy_total_uj_per_step: Some(energy.total_pj() / priced / 1e6),
        energy_dynamic_uj_per_step: Some(energy.dynamic_pj() / priced / 1e6),
        power_total_w: Some(if total_ns > 0.0 {
            energy.total_pj() / total_ns / 1e3
        } else {
            0.0
        }),
        power_dynamic_w: Some(if total_ns > 0.0 {
            energy.dynamic_pj() / total_ns / 1e3
        } else {
            0.0
        }),
        throughput_samples_per_s: if sample_ns > 0.0 {
            1e9 / sample_ns
        } else {
            0.0
        },
        throughput_tokens_per_s: None,
        energy_total_board_breakdown_mj_per_sample: crate::report::Breakdown::of(energy, k / 1e9),
        synops_per_token: None,
        msgs_per_token: None,
        synops_per_step: Some(totals.synops as f64 / priced),
        msgs_per_step: Some(totals.msgs as f64 / priced),
        samples: reset_interval.map(|r| NetxSamples {
            steps_per_sample: u64::from(r),
            samples_complete: steps / u64::from(r),
        }),
        headline_basis: crate::report::ENERGY_BASIS.to_string(),
        power_w: crate::report::power_of(energy, total_ns, totals.steps).0,
        energy_by_domain_mj_per_sample: crate::report::ByDomain::of(energy, k / 1e9),
        profiler: crate::report::power_of(energy, total_ns, totals.steps).1,
    }
}

/// One sample of a netx batch: a `--bias` image or an `--input` array (or both).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NetxSample {
    /// The file's name (what the report calls the sample).
    pub name: String,
    /// The file stem (what its output is named after).
    pub stem: String,
    /// The input spikes, as [`NetxRunOptions::input`].
    pub input: Option<LavaArray>,
    /// The input layer's bias, as [`NetxRunOptions::bias`].
    pub bias: Option<LavaArray>,
}

/// What a netx batch gives back.
#[derive(Clone, Debug, PartialEq)]
pub struct NetxBatchRun {
    /// The batch's report (`per_sample`, `aggregate`).
    pub report: crate::Report,
    /// Each sample's output, in the batch's order.
    pub outputs: Vec<LavaArray>,
}

/// Runs every sample of a batch through the network, each from the zero state, in parallel on
/// `opts.threads` threads (one each; the same bits at any count), as [`run_netx`] with the
/// sample's input and bias in place of `opts`'s. `opts.output` names a directory that receives
/// `<stem>.npy` per sample.
///
/// # Errors
/// No sample; `--probe` or `--activity` asked for (they record one run); any sample's error
/// (the first in the batch's order); unwritable outputs.
pub fn run_netx_batch(
    netx: &Netx,
    chip: &Chip,
    compile: &CompileOptions,
    samples: &[NetxSample],
    opts: &NetxRunOptions,
) -> Result<NetxBatchRun> {
    run_netx_batch_with(netx, chip, compile, samples, opts, &|| {})
}

/// [`run_netx_batch`], calling `done` once as each sample finishes (for a progress display).
///
/// # Errors
/// As [`run_netx_batch`].
pub fn run_netx_batch_with(
    netx: &Netx,
    chip: &Chip,
    compile: &CompileOptions,
    samples: &[NetxSample],
    opts: &NetxRunOptions,
    done: &(dyn Fn() + Sync),
) -> Result<NetxBatchRun> {
    use crate::batch;
    if samples.is_empty() {
        return Err(Error::Invalid("a batch needs at least one input".into()));
    }
    for (given, flag) in [
        (opts.probe_dir.is_some(), "--probe"),
        (opts.activity.is_some(), "--activity"),
    ] {
        if given {
            return Err(Error::Invalid(format!(
                "{flag} records a single run; with a batch of inputs, run the sample of interest on its own"
            )));
        }
    }
    if opts.threads == 0 {
        return Err(Error::Invalid("--threads must be at least 1".into()));
    }
    let start = std::time::Instant::now();
    let mut staging = crate::output::Staging::new();
    let out_dir = batch::stage_output_dir(&mut staging, opts.output.as_deref())?;
    let (pool, inner) = batch::threads_of(samples.len(), opts.threads);
    let runs = batch::par_map(samples, pool, |s| {
        let o = NetxRunOptions {
            input: s.input.clone().or_else(|| opts.input.clone()),
            bias: s.bias.clone().or_else(|| opts.bias.clone()),
            threads: inner,
            output: out_dir.as_ref().map(|d| d.join(format!("{}.npy", s.stem))),
            ..opts.clone()
        };
        let r = run_netx(netx, chip, compile, &o).map_err(|e| batch::sample_error(&s.name, e));
        done();
        r
    })?;
    let threads = if samples.len() == 1 {
        runs[0].report.sim.threads
    } else {
        pool
    };
    let named: Vec<(String, crate::Report)> = samples
        .iter()
        .zip(&runs)
        .map(|(s, r)| (s.name.clone(), r.report.clone()))
        .collect();
    let Some(mut report) = crate::Report::of_batch(&named, start.elapsed().as_secs_f64(), threads)
    else {
        return Err(Error::Invalid("a batch needs at least one input".into()));
    };
    batch::commit_outputs(staging, &mut report, opts.output.as_deref())?;
    Ok(NetxBatchRun {
        report,
        outputs: runs.into_iter().map(|r| r.output).collect(),
    })
}

/// The samples of a netx batch: the `.npy` files of `bias` (each a sample's `--bias`) or of
/// `input` (each a sample's `--input`); at most one of them has several files.
///
/// # Errors
/// Unreadable or malformed files.
pub fn netx_samples(files: &[std::path::PathBuf], are_bias: bool) -> Result<Vec<NetxSample>> {
    files
        .iter()
        .map(|f| {
            let a = Some(read_lava_array(f)?);
            let (input, bias) = if are_bias { (None, a) } else { (a, None) };
            Ok(NetxSample {
                name: crate::batch::name_of(f),
                stem: f.file_stem().unwrap_or_default().to_string_lossy().into(),
                input,
                bias,
            })
        })
        .collect()
}
