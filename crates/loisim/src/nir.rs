//! NIR graphs (`.nir` files, or a graph built in memory): lowered onto Lava's fixed-point
//! CUBA LIF layers (`loisim_nir`), built as a netx network and run, mapped and priced as one
//! (`crate::netx`), with a float64 reference of NIR's semantics that measures the
//! quantisation error (docs/networks.md, "NIR graphs").

use crate::netx::{LavaArray, Netx, NetxRunOptions};
use crate::{CompileOptions, Error, Result};
use loisim_arch::Chip;
use loisim_compiler::net_map::NetMapReport;
use npyz::WriterBuilder as _;
use serde::Serialize;
use std::path::Path;

pub use loisim_nir::{Array, Graph, Lowering, Node};

/// The step NIR's continuous time is discretised with when none is given: 1 ms.
pub const DEFAULT_DT_S: f64 = 1e-3;

/// Whether `path` is a NIR graph (by content: HDF5 with a `node` group holding `nodes`).
#[must_use]
pub fn is_nir(path: &Path) -> bool {
    loisim_nir::is_nir(path)
}

/// A NIR graph lowered with a step `dt`, and the netx network that runs it.
#[derive(Debug)]
pub struct Nir {
    /// The network (its `file` is the lowered graph written as netx layers).
    pub netx: Netx,
    /// The float64 layers and the quantisation of each.
    pub lowering: Lowering,
}

fn nir_error(name: &Path, e: impl std::fmt::Display) -> Error {
    Error::NetxNetwork {
        path: name.to_path_buf(),
        message: e.to_string(),
    }
}

/// Reads a `.nir` file and lowers it with step `dt_s` (seconds).
///
/// # Errors
/// The file is unreadable or malformed, or the graph holds a node or parameter Loihi 2 cannot
/// express (one line naming the node and why).
pub fn load_nir(path: &Path, dt_s: f64) -> Result<Nir> {
    let graph = loisim_nir::read(path).map_err(|e| Error::Invalid(e.to_string()))?;
    let name = path
        .file_stem()
        .map_or_else(|| "nir".into(), |s| s.to_string_lossy().into_owned());
    nir_from_graph_named(path, &name, &graph, dt_s)
}

/// Lowers a graph built in memory (e.g. converted from a Python `nir.NIRGraph`, no file).
///
/// # Errors
/// As [`load_nir`].
pub fn nir_from_graph(name: &str, graph: &Graph, dt_s: f64) -> Result<Nir> {
    nir_from_graph_named(Path::new(name), name, graph, dt_s)
}

fn nir_from_graph_named(path: &Path, name: &str, graph: &Graph, dt_s: f64) -> Result<Nir> {
    let lowered = loisim_nir::lower(graph, dt_s).map_err(|e| nir_error(path, e))?;
    let lowering = loisim_nir::quantise(lowered).map_err(|e| nir_error(path, e))?;
    let options = loisim_netx::NetxOptions::default();
    let mut network = loisim_netx::to_network(&lowering.file, &options)
        .map_err(|e| nir_error(path, format!("the lowered network: {e}")))?;
    network.network.name = name.to_string();
    Ok(Nir {
        netx: Netx {
            name: name.to_string(),
            options,
            file: lowering.file.clone(),
            network,
        },
        lowering,
    })
}

/// Maps a NIR network onto `chip` (as [`crate::netx::map_netx`]).
///
/// # Errors
/// As [`crate::netx::map_netx`].
pub fn map_nir(nir: &Nir, chip: &Chip, compile: &CompileOptions) -> Result<NetMapReport> {
    crate::netx::map_netx(&nir.netx, chip, compile)
}

/// An input array in NIR's layout: time first, then the Input node's shape (`(T, N)`,
/// `(T, C, L)`, `(T, C, H, W)`); every value 0 or 1 (a spike), others are refused.
#[derive(Clone, Debug, PartialEq)]
pub struct NirArray {
    /// Shape.
    pub shape: Vec<usize>,
    /// Values in C order.
    pub values: Vec<f64>,
}

/// Reads a NIR input `.npy` (any numeric dtype).
///
/// # Errors
/// The file is unreadable or malformed.
pub fn read_nir_input(path: &Path) -> Result<NirArray> {
    use loisim_import::tensors::Values;
    let t = loisim_import::tensors::read_npy(path)?;
    let values = match t.values {
        Values::Int(v) => v.into_iter().map(|x| x as f64).collect(),
        Values::F32(v) => v.into_iter().map(f64::from).collect(),
        Values::F64(v) => v,
    };
    Ok(NirArray {
        shape: t.shape,
        values,
    })
}

/// How to run a NIR network.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct NirRunOptions {
    /// Input spikes (0 or 1), NIR's layout, time first; step `t` (from 1) gets
    /// `X[(t - 1) mod T_in]`.
    pub input: Option<NirArray>,
    /// Steps (default: the input's length).
    pub steps: Option<u64>,
    /// Run the IR reference interpreter (no cost figures).
    pub reference: bool,
    /// Engine threads.
    pub threads: usize,
    /// Write the output spikes here: int32 `(T, output shape...)`, NIR's layout.
    pub output: Option<std::path::PathBuf>,
    /// Record the run's activity (as netx runs).
    pub activity: Option<std::path::PathBuf>,
}

/// The quantisation error of a run: the chip's output spikes against the float64 reference
/// of NIR's semantics on the same input (`nir_quantisation` in the JSON report).
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct NirQuantisation {
    /// The step NIR's time was discretised with, seconds.
    pub dt_s: f64,
    /// Output neurons.
    pub output_neurons: usize,
    /// Steps compared.
    pub steps: u64,
    /// Mean over output neurons of |spike count (chip) - spike count (float64)|.
    pub output_spike_count_abs_error_mean: f64,
    /// Largest such difference.
    pub output_spike_count_abs_error_max: u64,
    /// Fraction of (neuron, step) output values equal in both.
    pub identical_output_spike_fraction: f64,
    /// Output spikes of the chip and of the float64 reference.
    pub output_spikes: u64,
    pub output_spikes_float: u64,
    /// Per layer: the neuron node, the weight exponent, the 12-bit decays, the threshold.
    pub layers: Vec<NirLayerQuantisation>,
}

/// How one layer was quantised.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct NirLayerQuantisation {
    pub node: String,
    pub weight_exponent: i32,
    pub i_decay: i64,
    pub v_decay: i64,
    pub vth: i64,
}

/// What a NIR run gives back.
#[derive(Clone, Debug, PartialEq)]
pub struct NirRun {
    /// Every figure (as a netx run's).
    pub report: crate::Report,
    /// The output spikes per step, NIR order: `output[t][i]`.
    pub output: Vec<Vec<u8>>,
    /// The float64 reference's output spikes.
    pub output_float: Vec<Vec<u8>>,
    /// The output layer's NIR shape.
    pub output_shape: Vec<usize>,
    /// The quantisation error.
    pub quantisation: NirQuantisation,
}

impl NirRun {
    /// The report as JSON (its keys in the report's order), with `nir_quantisation` added
    /// as the last key.
    #[must_use]
    pub fn to_json(&self) -> String {
        let base = self.report.to_json();
        // Only numbers, strings and nested structs: it always serializes.
        let q = serde_json::to_string_pretty(&self.quantisation)
            .unwrap_or_default()
            .replace('\n', "\n  ");
        match base.rfind('}') {
            Some(end) => format!(
                "{},\n  \"nir_quantisation\": {q}\n}}",
                base[..end].trim_end()
            ),
            None => base,
        }
    }
}

/// The quantisation report as text.
#[must_use]
pub fn quantisation_text(q: &NirQuantisation) -> String {
    let mut s = format!(
        "NIR quantisation (dt {} s): output spike counts differ from the float64 reference by \
         {:.3} per neuron on average, {} at most; {:.4} of the output values are identical \
         ({} spikes, float64 {})\n",
        q.dt_s,
        q.output_spike_count_abs_error_mean,
        q.output_spike_count_abs_error_max,
        q.identical_output_spike_fraction,
        q.output_spikes,
        q.output_spikes_float
    );
    for l in &q.layers {
        s.push_str(&format!(
            "  {:<16} weight exponent {:>3}, iDecay {:>4}, vDecay {:>4}, vth {}\n",
            l.node, l.weight_exponent, l.i_decay, l.v_decay, l.vth
        ));
    }
    s
}

/// NIR `(c, y, x)` C-order index of Lava's `(x, y, c)` C-order index `i` for NIR shape
/// `shape` (1-D shapes are the identity).
fn nir_of_lava(shape: &[usize], i: usize) -> usize {
    match *shape {
        [c, h, w] => {
            let (x, y, ch) = (i / (h * c), (i / c) % h, i % c);
            (ch * h + y) * w + x
        }
        _ => i,
    }
}

/// Runs a NIR network: the chip (or the IR interpreter) on the quantised layers, and the
/// float64 reference on the same input, compared.
///
/// # Errors
/// An input of the wrong shape or holding a value other than 0 or 1, no way to know the
/// steps, a network that does not fit the chip, an output that cannot be written.
pub fn run_nir(
    nir: &Nir,
    chip: &Chip,
    compile: &CompileOptions,
    opts: &NirRunOptions,
) -> Result<NirRun> {
    let lowered = &nir.lowering.lowered;
    let in_shape = &lowered.input_shape;
    let n_in: usize = in_shape.iter().product();
    let frames: Vec<Vec<f64>> = match &opts.input {
        Some(x) => {
            let per: usize = x.shape.iter().skip(1).product();
            if x.shape.len() < 2 || per != n_in || x.shape[0] == 0 {
                return Err(Error::Invalid(format!(
                    "--input is shaped {:?}; this NIR graph takes {:?} per step, time first: \
                     (T, {}) with T >= 1",
                    x.shape,
                    in_shape,
                    in_shape
                        .iter()
                        .map(ToString::to_string)
                        .collect::<Vec<_>>()
                        .join(", ")
                )));
            }
            if let Some((k, v)) = x
                .values
                .iter()
                .enumerate()
                .find(|&(_, &v)| v != 0.0 && v != 1.0)
            {
                return Err(Error::Invalid(format!(
                    "--input element {k} is {v}; NIR inputs are spikes (0 or 1): graded \
                     values would need their own quantisation, which the lowering does not do"
                )));
            }
            x.values.chunks(n_in).map(<[f64]>::to_vec).collect()
        }
        None => Vec::new(),
    };
    // The netx input, Lava's layout `(x, y, c, T)` or `(n, T)`.
    let input = (!frames.is_empty()).then(|| {
        let t_in = frames.len();
        let mut lava_shape: Vec<usize> = in_shape.iter().rev().copied().collect();
        if in_shape.len() == 1 {
            lava_shape = in_shape.clone();
        }
        let mut values = vec![0i64; n_in * t_in];
        for i in 0..n_in {
            let j = nir_of_lava(in_shape, i);
            for (t, f) in frames.iter().enumerate() {
                values[i * t_in + t] = i64::from(f[j] != 0.0);
            }
        }
        lava_shape.push(t_in);
        LavaArray {
            shape: lava_shape,
            values,
        }
    });
    let netx_opts = NetxRunOptions {
        input,
        bias: None,
        steps: opts.steps,
        reference: opts.reference,
        threads: opts.threads,
        output: None,
        probe_dir: None,
        probe_layers: None,
        activity: opts.activity.clone(),
    };
    let mut run = crate::netx::run_netx(&nir.netx, chip, compile, &netx_opts)?;
    run.report.model_kind = crate::ModelKind::Nir;
    let out_shape = lowered
        .layers
        .last()
        .map(|l| l.shape.clone())
        .unwrap_or_default();
    let n_out: usize = out_shape.iter().product();
    let steps = run.output.shape.last().copied().unwrap_or(0);
    let mut output = vec![vec![0u8; n_out]; steps];
    for i in 0..n_out {
        let j = nir_of_lava(&out_shape, i);
        for (t, row) in output.iter_mut().enumerate() {
            row[j] = u8::from(run.output.values[i * steps + t] != 0);
        }
    }
    let float_frames: Vec<Vec<f64>> = (0..steps)
        .map(|t| {
            if frames.is_empty() {
                vec![0.0; n_in]
            } else {
                frames[t % frames.len()].clone()
            }
        })
        .collect();
    let output_float = loisim_nir::float_run(lowered, &float_frames).spikes;
    let mut err_sum = 0u64;
    let mut err_max = 0u64;
    let mut same = 0u64;
    let (mut spikes, mut spikes_float) = (0u64, 0u64);
    for i in 0..n_out {
        let a: u64 = output.iter().map(|r| u64::from(r[i])).sum();
        let b: u64 = output_float.iter().map(|r| u64::from(r[i])).sum();
        spikes += a;
        spikes_float += b;
        err_sum += a.abs_diff(b);
        err_max = err_max.max(a.abs_diff(b));
        same += output
            .iter()
            .zip(&output_float)
            .filter(|(x, y)| x[i] == y[i])
            .count() as u64;
    }
    let values = (n_out * steps).max(1) as f64;
    let quantisation = NirQuantisation {
        dt_s: lowered.dt_s,
        output_neurons: n_out,
        steps: steps as u64,
        output_spike_count_abs_error_mean: err_sum as f64 / n_out.max(1) as f64,
        output_spike_count_abs_error_max: err_max,
        identical_output_spike_fraction: same as f64 / values,
        output_spikes: spikes,
        output_spikes_float: spikes_float,
        layers: nir
            .lowering
            .layers
            .iter()
            .map(|l| NirLayerQuantisation {
                node: l.node.clone(),
                weight_exponent: l.exponent,
                i_decay: l.i_decay,
                v_decay: l.v_decay,
                vth: l.vth,
            })
            .collect(),
    };
    if let Some(p) = &opts.output {
        let mut shape: Vec<u64> = vec![steps as u64];
        shape.extend(out_shape.iter().map(|&d| d as u64));
        crate::output::write_atomic(p, |w| {
            let mut npy = npyz::WriteOptions::<i32>::new()
                .default_dtype()
                .shape(&shape)
                .writer(w)
                .begin_nd()?;
            npy.extend(output.iter().flatten().map(|&v| i32::from(v)))?;
            npy.finish()
        })?;
        run.report.outputs.output = Some(p.display().to_string());
    }
    Ok(NirRun {
        report: run.report,
        output,
        output_float,
        output_shape: out_shape,
        quantisation,
    })
}
