//! What lava-dl v0.6.0's `netx.hdf5.Network(path, ...)` builds, as a [`loisim_net::Network`].
//!
//! Each netx block (an `input` layer with a neuron, `dense`, `dense_rec`, `conv`) becomes one
//! population running Lava's fixed-point neuron (`loisim_net::lava`), with the block's synapse
//! process as a projection into its own port. Timing: IR timestep `t` is Lava timestep `t`
//! (Lava counts from 1); IR timestep 0 only takes the host's first input and no population
//! updates in it (`Schedule { first: 1 }`). The host input of Lava timestep `t` is given in IR
//! timestep `t - 1`, so that an input layer's neuron sees it in timestep `t`, as Lava's source
//! feeding the neuron's `a_in` does. Every Dense and Conv sends a timestep's sum in the next
//! timestep (IR delay 0). References to `hdf5.py` are lava-dl v0.6.0's
//! `src/lava/lib/dl/netx/hdf5.py`; `blocks/process.py` and `utils.py` are in the same folder.

use loisim_net::lava::{
    self, Activation, LavaConv, LavaDense, LavaError, SdnConfig, SynapsePort, VTH_SHIFT,
};
use loisim_net::{
    Delay, Input, InputId, Network, Output, PopId, Population, ProgramId, Projection, Schedule,
    Source, Synapses, Target,
};
use thiserror::Error;

use crate::{ConvParams, CubaNeuron, Layer, LayerKind, NetxFile, Neuron, SdnnNeuron, Tensor};

/// The largest dense delay netx keeps: larger ones are clamped (hdf5.py `create_dense`).
pub const MAX_NETX_DELAY: i64 = 62;

/// The arguments of `netx.hdf5.Network` (other than the file).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NetxOptions {
    /// Message bits of the input spikes when the network starts with a synapse layer (0:
    /// binary). Default 0.
    pub input_message_bits: u8,
    /// `spike_exp` of sigma-delta neurons. Default 6.
    pub spike_exp: u8,
    /// Reset interval of LIF neurons (`LIFReset`); `None`: no reset. SDNN neurons ignore it.
    pub reset_interval: Option<u32>,
    /// Phase of the reset. Default 0.
    pub reset_offset: i64,
    /// Build only the first `num_layers` layers of the file.
    pub num_layers: Option<usize>,
    /// Layers of the file before this index are not built as blocks. Default 0.
    pub skip_layers: usize,
    /// Lava shape `(x, y, c)` of the input when the file has no input layer.
    pub input_shape: Option<[u32; 3]>,
    /// netx's `sparse_fc_layer`: Lava's Sparse instead of Dense, the same arithmetic.
    pub sparse_fc_layer: bool,
}

impl Default for NetxOptions {
    fn default() -> Self {
        Self {
            input_message_bits: 0,
            spike_exp: 6,
            reset_interval: None,
            reset_offset: 0,
            num_layers: None,
            skip_layers: 0,
            input_shape: None,
            sparse_fc_layer: false,
        }
    }
}

/// The neuron process netx gives a block.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BlockNeuron {
    /// `LOIHI` / `CUBA`: Lava's `LIF` (or `LIFReset`).
    Lif,
    /// `SDNN` of an input layer: `Delta`.
    Delta,
    /// `SDNN`: `SigmaDelta` (ReLU).
    SigmaDelta,
    /// `SDNN` with `sigma_output`: `Sigma`.
    Sigma,
}

/// One block of the netx network (an element of netx's `net.layers`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NetxBlock {
    /// Index of the layer in the file.
    pub layer: usize,
    /// The file's layer type.
    pub kind: LayerKind,
    /// The neuron process.
    pub neuron: BlockNeuron,
    /// Lava's shape: `(x, y, c)`, or `(n)`.
    pub shape: Vec<u32>,
    /// The IR population.
    pub pop: PopId,
    /// The network output that carries the block's spikes.
    pub output: usize,
}

/// A netx network in the IR, with how to feed it and read it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NetxNetwork {
    /// The network.
    pub network: Network,
    /// The host input (netx's `net.inp`).
    pub input: InputId,
    /// Lava's shape of the input: `(x, y, c)` or `(n)`.
    pub input_shape: Vec<u32>,
    /// The blocks, in netx's order (`net.layers`).
    pub blocks: Vec<NetxBlock>,
    /// The network output of netx's output layer (`net.out`).
    pub out: usize,
}

/// The IR element of each element of a Lava array of shape `shape` in C order. The IR numbers
/// shaped populations in Lava's own order (`(x, y, c)` is `(x Y + y) C + c`, see
/// [`lava::ir_index`]), so this is the identity for `(x, y, c)` as for a 1-D shape.
#[must_use]
pub fn lava_to_ir_order(shape: &[u32]) -> Vec<usize> {
    match *shape {
        [x, y, c] => {
            let mut order = Vec::with_capacity((x * y * c) as usize);
            for xi in 0..x {
                for yi in 0..y {
                    for ci in 0..c {
                        order.push(lava::ir_index([x, y, c], xi, yi, ci));
                    }
                }
            }
            order
        }
        _ => (0..shape.iter().map(|&d| d as usize).product()).collect(),
    }
}

impl NetxNetwork {
    /// The host input of one timestep from Lava's array (C order over [`Self::input_shape`]).
    ///
    /// # Errors
    /// The array's length is not the input's size.
    pub fn input_frame(&self, lava_values: &[i64]) -> Result<Vec<i64>, SemanticsError> {
        permute_in(&self.input_shape, lava_values)
    }

    /// A block's IR values (a population's output) in Lava's C order over its shape.
    #[must_use]
    pub fn to_lava_order(&self, block: usize, ir_values: &[i64]) -> Vec<i64> {
        let order = lava_to_ir_order(&self.blocks[block].shape);
        order.iter().map(|&i| ir_values[i]).collect()
    }

    /// Sets the `bias_mant` of a LIF block (what lava-dl's test sets through
    /// `net.in_layer.neuron.bias_mant.init`), from Lava's array over the block's shape; the
    /// bias exponent stays netx's 6.
    ///
    /// # Errors
    /// The block is not a LIF block, the length is wrong, or a value is outside `int16`.
    pub fn set_lif_bias_mant(
        &mut self,
        block: usize,
        lava_values: &[i64],
    ) -> Result<(), SemanticsError> {
        let b = &self.blocks[block];
        if b.neuron != BlockNeuron::Lif {
            return Err(SemanticsError::Invalid {
                layer: b.layer,
                message: "bias_mant is a parameter of LIF blocks only".into(),
            });
        }
        let ir = permute_in(&b.shape, lava_values)?;
        let mut bias = Vec::with_capacity(ir.len());
        for m in ir {
            bias.push(lava::effective_bias(
                lif_bias_mant(b.layer, m)?,
                LIF_BIAS_EXP,
            ));
        }
        self.network.populations[b.pop.index()].params[2] = bias;
        Ok(())
    }
}

fn permute_in(shape: &[u32], lava_values: &[i64]) -> Result<Vec<i64>, SemanticsError> {
    let order = lava_to_ir_order(shape);
    if order.len() != lava_values.len() {
        return Err(SemanticsError::Length {
            got: lava_values.len(),
            expected: order.len(),
        });
    }
    let mut out = vec![0; order.len()];
    for (&i, &v) in order.iter().zip(lava_values) {
        out[i] = v;
    }
    Ok(out)
}

/// The reset of Lava's `io.reset.Reset(interval, offset)` connected to a block's variables,
/// in this module's timing: Lava writes 0 after timestep `t` when `(t - 1) % interval ==
/// offset % interval`.
#[must_use]
pub fn io_reset_schedule(interval: u32, offset: i64) -> Schedule {
    let i = i64::from(interval.max(1));
    Schedule {
        first: (offset + 1).rem_euclid(i) as u64,
        every: interval.max(1),
    }
}

/// The reset of Lava's `LIFReset` with `reset_interval` and `reset_offset`: `u` and `v` are
/// set to 0 at the start of timestep `t` when `t % interval == offset % interval`, that is at
/// the end of timestep `t - 1`.
#[must_use]
pub fn lif_reset_schedule(interval: u32, offset: i64) -> Schedule {
    let i = i64::from(interval.max(1));
    Schedule {
        first: (offset.rem_euclid(i) - 1).rem_euclid(i) as u64,
        every: interval.max(1),
    }
}

/// Why a netx file cannot be built as netx builds it.
#[derive(Clone, Debug, PartialEq, Eq, Error)]
pub enum SemanticsError {
    /// A layer or neuron type netx v0.6.0 does not build, or that this module does not.
    #[error(
        "layer {layer}: {what} is not supported; supported: layers input, dense, dense_rec, \
         conv, flatten; neurons LOIHI, CUBA, SDNN"
    )]
    Unsupported {
        /// The layer's index.
        layer: usize,
        /// The type and why.
        what: String,
    },
    /// A value netx would refuse, or that has no exact meaning.
    #[error("layer {layer}: {message}")]
    Invalid {
        /// The layer's index.
        layer: usize,
        /// What is wrong.
        message: String,
    },
    /// A Lava builder refused a parameter.
    #[error("layer {layer}: {source}")]
    Lava {
        /// The layer's index.
        layer: usize,
        /// The builder's error.
        source: LavaError,
    },
    /// A host array of the wrong length.
    #[error("{got} values given, the shape has {expected}")]
    Length {
        /// Given.
        got: usize,
        /// Expected.
        expected: usize,
    },
    /// No blocks were built.
    #[error("the file builds no block (netx's Network would have no layers)")]
    Empty,
}

const LIF_BIAS_EXP: i64 = 6;

fn invalid(layer: usize, message: impl Into<String>) -> SemanticsError {
    SemanticsError::Invalid {
        layer,
        message: message.into(),
    }
}

fn lava_err(layer: usize) -> impl Fn(LavaError) -> SemanticsError {
    move |source| SemanticsError::Lava { layer, source }
}

/// numpy's `astype(int)` of a dataset: floats truncated toward zero.
fn ints(layer: usize, what: &str, t: &Tensor) -> Result<Vec<i64>, SemanticsError> {
    if let Some(v) = t.as_i64() {
        return Ok(v.to_vec());
    }
    t.to_f64()
        .into_iter()
        .map(|x| {
            if x.is_finite() && x.abs() < 9.0e15 {
                Ok(x.trunc() as i64)
            } else {
                Err(invalid(layer, format!("{what} holds {x}, not an integer")))
            }
        })
        .collect()
}

/// A parameter used as stored (`[()]`): it must be one integer value.
fn exact_scalar(layer: usize, what: &str, t: &Tensor) -> Result<i64, SemanticsError> {
    match t.scalar_f64() {
        Some(x) if x.fract() == 0.0 && x.abs() < 9.0e15 => Ok(x as i64),
        _ => Err(invalid(
            layer,
            format!(
                "{what} must be one integer value, found {} values {:?}",
                t.len(),
                t.to_f64().iter().take(4).collect::<Vec<_>>()
            ),
        )),
    }
}

fn lif_bias_mant(layer: usize, m: i64) -> Result<i64, SemanticsError> {
    if (i64::from(i16::MIN)..=i64::from(i16::MAX)).contains(&m) {
        Ok(m)
    } else {
        Err(invalid(
            layer,
            format!("bias_mant {m} is outside Lava's int16 bias_mant"),
        ))
    }
}

/// The neuron netx configures for a block (`get_neuron_params`).
#[derive(Clone, Debug)]
enum NeuronSpec {
    Lif {
        du: i64,
        dv: i64,
        vth: i64,
        message_bits: i64,
    },
    Sdn {
        neuron: BlockNeuron,
        vth: i64,
        message_bits: i64,
    },
}

impl NeuronSpec {
    fn kind(&self) -> BlockNeuron {
        match self {
            Self::Lif { .. } => BlockNeuron::Lif,
            Self::Sdn { neuron, .. } => *neuron,
        }
    }

    /// netx's `output_message_bits` of the block.
    fn message_bits(&self) -> i64 {
        match self {
            Self::Lif { message_bits, .. } | Self::Sdn { message_bits, .. } => *message_bits,
        }
    }
}

/// netx's default neuron of a `dense` layer without one (hdf5.py `create_dense`): a CUBA with
/// `iDecay` 0 (so `du = -1`: the current never decays), `vDecay` 4096 (the voltage is
/// forgotten) and `vThMant` `1 << 18 - 1` = 2^17 (Python's precedence).
const DEFAULT_DENSE_NEURON: NeuronSpec = NeuronSpec::Lif {
    du: -1,
    dv: 4096,
    vth: 1 << 17,
    message_bits: 0,
};

fn neuron_spec(layer: usize, n: &Neuron, input: bool) -> Result<NeuronSpec, SemanticsError> {
    match n {
        Neuron::Cuba(c) => cuba_spec(layer, c),
        Neuron::Sdnn(s) => sdnn_spec(layer, s, input),
        Neuron::Unsupported { type_name } => Err(SemanticsError::Unsupported {
            layer,
            what: format!("neuron type `{type_name}`"),
        }),
    }
}

fn cuba_spec(layer: usize, c: &CubaNeuron) -> Result<NeuronSpec, SemanticsError> {
    // hdf5.py get_neuron_params: du = iDecay - 1, dv = vDecay, vth = vThMant, bias_exp 6;
    // refDelay and wgtExp are not read.
    let message_bits = match &c.message_bits {
        Some(t) => exact_scalar(layer, "neuron/messageBits", t)?,
        None => 0,
    };
    if message_bits != 0 {
        return Err(SemanticsError::Unsupported {
            layer,
            what: format!(
                "a {} neuron with messageBits {message_bits} (graded LIF spikes)",
                c.type_name
            ),
        });
    }
    Ok(NeuronSpec::Lif {
        du: exact_scalar(layer, "neuron/iDecay", &c.i_decay)? - 1,
        dv: exact_scalar(layer, "neuron/vDecay", &c.v_decay)?,
        vth: exact_scalar(layer, "neuron/vThMant", &c.v_th_mant)?,
        message_bits,
    })
}

fn sdnn_spec(layer: usize, s: &SdnnNeuron, input: bool) -> Result<NeuronSpec, SemanticsError> {
    let message_bits = match &s.message_bits {
        Some(t) => exact_scalar(layer, "neuron/messageBits", t)?,
        None => 16,
    };
    if !(1..=32).contains(&message_bits) {
        return Err(invalid(
            layer,
            format!("SDNN messageBits {message_bits}; graded payloads take 1 to 32 bits"),
        ));
    }
    let neuron = if input {
        BlockNeuron::Delta
    } else if s.sigma_output.is_some() {
        BlockNeuron::Sigma
    } else {
        BlockNeuron::SigmaDelta
    };
    let vth = match (&s.v_th_mant, neuron) {
        (_, BlockNeuron::Sigma) => 0,
        (Some(t), _) => exact_scalar(layer, "neuron/vThMant", t)?,
        (None, _) => return Err(invalid(layer, "an SDNN neuron without vThMant")),
    };
    Ok(NeuronSpec::Sdn {
        neuron,
        vth,
        message_bits,
    })
}

/// Parameters of the LIF program (`u_keep`, `v_keep`, `bias`, `vth`) as Lava's fixed-point
/// model computes them from netx's values. Unlike `lava::cuba_lif_params`, `du = -1` and
/// `dv = 4096` (netx's default dense neuron) are taken: Lava's model multiplies by
/// `4096 - (du + 1)` and `4096 - dv` without checking the ranges.
fn lif_params(
    layer: usize,
    n: u32,
    du: i64,
    dv: i64,
    vth: i64,
    bias_mant: &[i64],
) -> Result<Vec<Vec<i64>>, SemanticsError> {
    let n = n as usize;
    let check = |what: &str, v: i64, lo: i64, hi: i64| {
        if (lo..=hi).contains(&v) {
            Ok(v)
        } else {
            Err(invalid(
                layer,
                format!("{what} is {v}; netx's LIF takes {lo} to {hi}"),
            ))
        }
    };
    let du = check("du (iDecay - 1)", du, -1, lava::MAX_DECAY)?;
    let dv = check("dv (vDecay)", dv, 0, lava::DECAY_UNITY)?;
    let vth = check("vth (vThMant)", vth, 0, i64::from(i32::MAX) >> VTH_SHIFT)?;
    let mut bias = Vec::with_capacity(n);
    for &m in bias_mant {
        bias.push(lava::effective_bias(lif_bias_mant(layer, m)?, LIF_BIAS_EXP));
    }
    Ok(vec![
        vec![lava::DECAY_UNITY - (du + lava::CURRENT_DECAY_OFFSET); n],
        vec![lava::DECAY_UNITY - (dv + lava::VOLTAGE_DECAY_OFFSET); n],
        bias,
        vec![vth << VTH_SHIFT; n],
    ])
}

/// netx's `optimize_weight_bits` (utils.py): the weights shifted left by `scale_bits`, the
/// number of weight bits and the weight exponent `-scale_bits`.
///
/// # Errors
/// All-zero weights (netx divides by the zero maximum) or weights whose scale would shift
/// right (numpy's `left_shift` by a negative count zeroes them).
pub fn optimize_weight_bits(
    layer: usize,
    w: &[i64],
) -> Result<(Vec<i64>, i64, i64), SemanticsError> {
    let mut w = w.to_vec();
    let (Some(&max0), Some(&min0)) = (w.iter().max(), w.iter().min()) else {
        return Err(invalid(layer, "a dense layer without weights"));
    };
    let (mut max, mut min) = (max0, min0);
    if max > 254 && min < 0 {
        w.iter_mut().for_each(|x| *x = (*x).clamp(-256, 254));
        max = *w.iter().max().unwrap_or(&0);
    }
    if min < -256 && max > 0 {
        w.iter_mut().for_each(|x| *x = (*x).clamp(-256, 254));
        min = *w.iter().min().unwrap_or(&0);
    }
    let (scale, is_signed) = if max < 0 {
        (-256.0 / min as f64, 0)
    } else if min >= 0 {
        (255.0 / max as f64, 0)
    } else {
        ((127.0 / max as f64).min(-128.0 / min as f64), 1)
    };
    let scale_bits = scale.log2().floor();
    if !scale_bits.is_finite() {
        return Err(invalid(
            layer,
            "all dense weights are 0: netx's optimize_weight_bits divides by the zero maximum",
        ));
    }
    let scale_bits = scale_bits as i64 + is_signed;
    if scale_bits < 0 {
        return Err(invalid(
            layer,
            format!(
                "dense weights up to {max}: netx's optimize_weight_bits would shift them by \
                 {scale_bits} (numpy zeroes a negative left shift)"
            ),
        ));
    }
    let mut n = 8i64;
    while n > 0 && w.iter().any(|&x| x % (1 << n) != 0) {
        n -= 1;
    }
    n -= is_signed;
    let num_weight_bits = 8 - scale_bits - n;
    let shifted = w
        .iter()
        .map(|&x| i64::from((x as i32).wrapping_shl(scale_bits as u32)))
        .collect();
    Ok((shifted, num_weight_bits, -scale_bits))
}

fn to_i32(layer: usize, what: &str, v: &[i64]) -> Result<Vec<i32>, SemanticsError> {
    v.iter()
        .map(|&x| {
            i32::try_from(x).map_err(|_| invalid(layer, format!("{what} value {x} exceeds int32")))
        })
        .collect()
}

/// `expand` of `create_conv`: a scalar `x` is `[x, x]`, a pair in the file's `(y, x)` order is
/// reversed to `(x, y)`.
fn expand(layer: usize, what: &str, t: &Tensor) -> Result<[u32; 2], SemanticsError> {
    let v = ints(layer, what, t)?;
    let u =
        |x: i64| u32::try_from(x).map_err(|_| invalid(layer, format!("{what} {x} is negative")));
    match v.as_slice() {
        [s] => Ok([u(*s)?, u(*s)?]),
        [y, x] => Ok([u(*x)?, u(*y)?]),
        _ => Err(invalid(
            layer,
            format!("{what} has {} values, expected 1 or 2", v.len()),
        )),
    }
}

/// The synapse process of a block.
enum Synapse {
    /// An input layer's neuron reads the host input directly.
    Host,
    Dense {
        dense: LavaDense,
        /// Recurrent weights of a `dense_rec` block.
        rec: Option<LavaDense>,
        /// Per-synapse delays (`[target][source]`), when the layer has `delay`.
        delay: Option<Vec<u32>>,
    },
    Conv(LavaConv),
}

struct Built {
    layer: usize,
    kind: LayerKind,
    shape: Vec<u32>,
    spec: NeuronSpec,
    synapse: Synapse,
    /// Bias mantissa per neuron in IR order (LIF) or bias per neuron (SDN), when present.
    bias: Option<Vec<i64>>,
    reset_offset: i64,
}

fn size(shape: &[u32]) -> u32 {
    shape.iter().product()
}

fn ir_shape_of(shape: &[u32]) -> Option<[u32; 3]> {
    match *shape {
        [x, y, c] => Some(lava::ir_shape([x, y, c])),
        _ => None,
    }
}

fn file_shape(layer: &Layer) -> Result<Vec<u32>, SemanticsError> {
    let s = layer
        .shape
        .as_ref()
        .ok_or_else(|| invalid(layer.index, "no shape"))?;
    s.iter()
        .rev()
        .map(|&d| {
            u32::try_from(d)
                .ok()
                .filter(|&d| d > 0)
                .ok_or_else(|| invalid(layer.index, format!("shape {s:?} has a dimension {d}")))
        })
        .collect()
}

/// netx's bias of a block (`AbstractBlock._neuron`), as IR-ordered values: one value per
/// neuron for a 1-D block or an array of the block's shape, or one per channel.
fn block_bias(layer: usize, shape: &[u32], t: &Tensor) -> Result<Vec<i64>, SemanticsError> {
    let b = ints(layer, "bias", t)?;
    let n = size(shape) as usize;
    if shape.len() == 1 {
        if b.len() == n {
            return Ok(b);
        }
        if b.len() == 1 {
            return Ok(vec![b[0]; n]);
        }
    } else if t
        .shape
        .iter()
        .map(|&d| d as u64)
        .eq(shape.iter().map(|&d| u64::from(d)))
    {
        return permute_in(shape, &b);
    } else if let [x, y, c] = *shape
        && b.len() == c as usize
    {
        let mut out = vec![0; n];
        for xi in 0..x {
            for yi in 0..y {
                for ci in 0..c {
                    out[lava::ir_index([x, y, c], xi, yi, ci)] = b[ci as usize];
                }
            }
        }
        return Ok(out);
    }
    Err(invalid(
        layer,
        format!(
            "bias of shape {:?} cannot be broadcast to neurons of shape {shape:?}",
            t.shape
        ),
    ))
}

/// Builds what `netx.hdf5.Network(file, ...)` builds (see the module's description).
///
/// # Errors
/// A layer or neuron type netx does not build (naming the layer, its type and what is
/// supported), a value netx or Lava would refuse, or shapes that do not connect.
#[allow(clippy::too_many_lines)]
pub fn to_network(file: &NetxFile, opts: &NetxOptions) -> Result<NetxNetwork, SemanticsError> {
    let n_layers = opts
        .num_layers
        .map_or(file.layers.len(), |n| n.min(file.layers.len()));
    let mut input_shape: Option<Vec<u32>> = opts.input_shape.map(|s| s.to_vec());
    let mut message_bits = i64::from(opts.input_message_bits);
    let mut reset_offset = opts.reset_offset + 1; // netx: time starts from 1 in hardware
    let mut flatten_next = false;
    let mut built: Vec<Built> = Vec::new();
    // The Lava shape of the first block's input, when that block is a synapse layer.
    let mut first_input: Option<Vec<u32>> = None;
    for layer in &file.layers[..n_layers] {
        let i = layer.index;
        let keep = i >= opts.skip_layers;
        match &layer.kind {
            LayerKind::Input => {
                let Some(neuron) = &layer.neuron else {
                    if layer.shape.is_some() {
                        input_shape = Some(file_shape(layer)?);
                    }
                    continue;
                };
                let shape = file_shape(layer)?;
                let spec = neuron_spec(i, neuron, true)?;
                message_bits = spec.message_bits();
                // The input block's `transform` (weight, bias) is stored but never applied,
                // and create_input passes no bias to the neuron (blocks/process.py Input).
                if keep {
                    built.push(Built {
                        layer: i,
                        kind: layer.kind.clone(),
                        shape,
                        spec,
                        synapse: Synapse::Host,
                        bias: None,
                        reset_offset,
                    });
                    reset_offset += 1;
                } else {
                    input_shape = Some(shape);
                }
            }
            LayerKind::Conv => {
                let in_shape = match built.last() {
                    Some(b) => b.shape.clone(),
                    None => input_shape.clone().ok_or_else(|| {
                        invalid(
                            i,
                            "input shape could not be inferred: give NetxOptions::input_shape \
                             (x, y, c)",
                        )
                    })?,
                };
                let [x, y, c] = in_shape[..] else {
                    return Err(invalid(
                        i,
                        format!("a conv layer takes an (x, y, c) input, not {in_shape:?}"),
                    ));
                };
                let shape = file_shape(layer)?;
                let neuron = layer
                    .neuron
                    .as_ref()
                    .ok_or_else(|| invalid(i, "a conv layer without a neuron"))?;
                let spec = neuron_spec(i, neuron, false)?;
                let conv = conv_synapse(layer, [x, y, c], message_bits)?;
                let out = conv.output_shape().map_err(lava_err(i))?;
                if out[..] != shape[..] {
                    return Err(invalid(
                        i,
                        format!(
                            "the conv's output is {out:?} (x, y, c), the layer's shape {shape:?}"
                        ),
                    ));
                }
                let bias = layer
                    .bias
                    .as_ref()
                    .map(|t| block_bias(i, &shape, t))
                    .transpose()?;
                message_bits = spec.message_bits();
                if keep {
                    if built.is_empty() {
                        first_input = Some(in_shape);
                    }
                    built.push(Built {
                        layer: i,
                        kind: layer.kind.clone(),
                        shape,
                        spec,
                        synapse: Synapse::Conv(conv),
                        bias,
                        reset_offset,
                    });
                    reset_offset += 1;
                } else {
                    input_shape = Some(shape);
                }
            }
            LayerKind::Flatten => flatten_next = true,
            LayerKind::Dense | LayerKind::DenseRec => {
                let rec = layer.kind == LayerKind::DenseRec;
                let n_out = size(&file_shape(layer)?);
                let spec = match &layer.neuron {
                    Some(n) => neuron_spec(i, n, false)?,
                    None => DEFAULT_DENSE_NEURON,
                };
                let mut synapse = dense_synapse(layer, n_out, message_bits, rec, &spec)?;
                let Synapse::Dense { dense, .. } = &synapse else {
                    unreachable!("dense_synapse builds a Dense")
                };
                let n_in = dense.n_in;
                let bias = layer
                    .bias
                    .as_ref()
                    .map(|t| block_bias(i, &[n_out], t))
                    .transpose()?;
                message_bits = spec.message_bits();
                if keep {
                    let src_shape = match built.last() {
                        Some(b) => b.shape.clone(),
                        None => vec![n_in],
                    };
                    if src_shape.len() != 1 && !flatten_next {
                        return Err(invalid(
                            i,
                            format!(
                                "a dense layer after a block of shape {src_shape:?} needs a \
                                 flatten layer between them"
                            ),
                        ));
                    }
                    if size(&src_shape) != n_in {
                        return Err(invalid(
                            i,
                            format!(
                                "the dense weights take {n_in} inputs, the previous block has {}",
                                size(&src_shape)
                            ),
                        ));
                    }
                    // After a flatten, netx connects `out.transpose([2, 1, 0]).flatten()`: the
                    // dense weights' columns are the block's (x, y, c) in (c, y, x) C order,
                    // not the IR's (x, y, c) order.
                    if let (&[x, y, c], Synapse::Dense { dense, delay, .. }) =
                        (&src_shape[..], &mut synapse)
                    {
                        let cols = flatten_columns([x, y, c]);
                        dense.weights = permute_columns(&dense.weights, &cols);
                        if let Some(d) = delay {
                            *d = permute_columns(d, &cols);
                        }
                    }
                    if built.is_empty() {
                        first_input = Some(vec![n_in]);
                    }
                    built.push(Built {
                        layer: i,
                        kind: layer.kind.clone(),
                        shape: vec![n_out],
                        spec,
                        synapse,
                        bias,
                        reset_offset,
                    });
                    reset_offset += 1;
                    flatten_next = false;
                }
            }
            LayerKind::Unsupported { type_name, reason } => {
                return Err(SemanticsError::Unsupported {
                    layer: i,
                    what: format!("layer type `{type_name}` ({reason})"),
                });
            }
        }
    }
    if built.is_empty() {
        return Err(SemanticsError::Empty);
    }
    assemble(built, first_input, opts)
}

/// netx's flatten of a block of Lava shape `xyc`: per IR neuron (`(x, y, c)`, numbered as
/// [`lava::ir_index`]), the element of `out.transpose([2, 1, 0]).flatten()` it is, `(c Y + y)
/// X + x`: the column of the next dense layer's weights that reads it.
fn flatten_columns(xyc: [u32; 3]) -> Vec<usize> {
    let [xn, yn, cn] = xyc.map(|d| d as usize);
    let mut cols = vec![0; xn * yn * cn];
    for x in 0..xn {
        for y in 0..yn {
            for c in 0..cn {
                cols[lava::ir_index(xyc, x as u32, y as u32, c as u32)] = (c * yn + y) * xn + x;
            }
        }
    }
    cols
}

/// A row-major matrix of `cols.len()` columns with column `j` taken from column `cols[j]`.
fn permute_columns<T: Copy>(m: &[T], cols: &[usize]) -> Vec<T> {
    m.chunks(cols.len())
        .flat_map(|row| cols.iter().map(move |&k| row[k]))
        .collect()
}

fn conv_synapse(
    layer: &Layer,
    input: [u32; 3],
    message_bits: i64,
) -> Result<LavaConv, SemanticsError> {
    let i = layer.index;
    let p: &ConvParams = layer
        .conv
        .as_ref()
        .ok_or_else(|| invalid(i, "a conv layer without its parameters"))?;
    let t = layer
        .weight
        .as_ref()
        .ok_or_else(|| invalid(i, "a conv layer without weight"))?;
    let dims = match t.shape[..] {
        [o, c, ky, kx] | [o, c, ky, kx, 1] => [o, c, ky, kx],
        _ => {
            return Err(invalid(
                i,
                format!(
                    "conv weight of shape {:?}; expected (out, in, ky, kx[, 1])",
                    t.shape
                ),
            ));
        }
    };
    let [o, c, ky, kx] = dims;
    // Conv weights go in raw (astype(int)), no optimize_weight_bits. netx flips both kernel
    // axes and transposes to Lava's (out, kx, ky, in); Lava's Conv flips them back (a true
    // convolution), so the file's kernel is correlated as in PyTorch.
    let w = to_i32(i, "conv weight", &ints(i, "conv weight", t)?)?;
    let mut lava_w = Vec::with_capacity(w.len());
    for oi in 0..o {
        for xi in 0..kx {
            for yi in 0..ky {
                for ci in 0..c {
                    lava_w.push(w[((oi * c + ci) * ky + (ky - 1 - yi)) * kx + (kx - 1 - xi)]);
                }
            }
        }
    }
    let u = |d: usize| u32::try_from(d).map_err(|_| invalid(i, "conv weight too large"));
    let mut conv = LavaConv::new(input, [u(o)?, u(kx)?, u(ky)?, u(c)?], lava_w);
    conv.stride = expand(i, "stride", &p.stride)?;
    conv.padding = expand(i, "padding", &p.padding)?;
    conv.dilation = expand(i, "dilation", &p.dilation)?;
    conv.groups = u32::try_from(exact_scalar(i, "groups", &p.groups)?)
        .map_err(|_| invalid(i, "negative groups"))?;
    conv.num_message_bits = message_bits_u8(i, message_bits)?;
    Ok(conv)
}

fn message_bits_u8(layer: usize, m: i64) -> Result<u8, SemanticsError> {
    u8::try_from(m)
        .ok()
        .filter(|&m| m <= 32)
        .ok_or_else(|| invalid(layer, format!("message bits {m}; 0 to 32 are taken")))
}

fn dense_synapse(
    layer: &Layer,
    n_out: u32,
    message_bits: i64,
    rec: bool,
    out_spec: &NeuronSpec,
) -> Result<Synapse, SemanticsError> {
    let i = layer.index;
    let t = layer
        .weight
        .as_ref()
        .ok_or_else(|| invalid(i, "a dense layer without weight"))?;
    let w = ints(i, "weight", t)?;
    if w.is_empty()
        || w.len() % n_out as usize != 0
        || (t.shape.len() == 2 && t.shape[0] != n_out as usize)
    {
        return Err(invalid(
            i,
            format!("dense weight of shape {:?} for {n_out} neurons", t.shape),
        ));
    }
    let n_in = (w.len() / n_out as usize) as u32;
    let m = message_bits_u8(i, message_bits)?;
    // optimize_weight_bits on the weights (with the recurrent ones side by side for dense_rec).
    let (w, w_rec, bits, exp) = if rec {
        let t = layer
            .weight_rec
            .as_ref()
            .ok_or_else(|| invalid(i, "a dense_rec layer without weight_rec"))?;
        let r = ints(i, "weight_rec", t)?;
        if r.len() != (n_out * n_out) as usize {
            return Err(invalid(
                i,
                format!(
                    "weight_rec has {} values, expected {n_out} x {n_out}",
                    r.len()
                ),
            ));
        }
        let cols = (n_in + n_out) as usize;
        let mut cat = Vec::with_capacity(n_out as usize * cols);
        for row in 0..n_out as usize {
            cat.extend_from_slice(&w[row * n_in as usize..(row + 1) * n_in as usize]);
            cat.extend_from_slice(&r[row * n_out as usize..(row + 1) * n_out as usize]);
        }
        let (cat, bits, exp) = optimize_weight_bits(i, &cat)?;
        let (mut a, mut b) = (Vec::new(), Vec::new());
        for row in cat.chunks(cols) {
            a.extend_from_slice(&row[..n_in as usize]);
            b.extend_from_slice(&row[n_in as usize..]);
        }
        (a, Some(b), bits, exp)
    } else {
        let (w, bits, exp) = optimize_weight_bits(i, &w)?;
        (w, None, bits, exp)
    };
    let bits = u8::try_from(bits)
        .map_err(|_| invalid(i, format!("optimize_weight_bits gives {bits} weight bits")))?;
    let exp = i8::try_from(exp).map_err(|_| invalid(i, format!("weight exponent {exp}")))?;
    let delay = match &layer.delay {
        None => None,
        Some(d) => Some(dense_delays(i, d, n_out, n_in)?),
    };
    // RecurrentDense builds its DelayDense synapses without weight_exp (blocks/process.py).
    let exp = if rec && delay.is_some() { 0 } else { exp };
    let mk = |n_in: u32, w: Vec<i64>| -> Result<LavaDense, SemanticsError> {
        let mut d = LavaDense::new(n_out, n_in, to_i32(i, "dense weight", &w)?);
        d.num_weight_bits = bits;
        d.weight_exp = exp;
        d.num_message_bits = m;
        Ok(d)
    };
    let dense = mk(n_in, w)?;
    let rec = match w_rec {
        Some(r) => {
            let mut d = mk(n_out, r)?;
            // RecurrentDense gives its recurrent synapse the block's input message bits. The
            // block's own binary spikes read as graded ones are the same values; graded
            // spikes read as binary are cast to bool, which the IR does not express.
            let out_graded = match out_spec {
                NeuronSpec::Lif { .. } => false,
                NeuronSpec::Sdn { .. } => true,
            };
            d.num_message_bits = if out_graded { m } else { 0 };
            if out_graded && m == 0 {
                return Err(invalid(
                    i,
                    "a dense_rec layer with binary input and graded neurons: Lava casts the \
                     recurrent graded spikes to binary ones",
                ));
            }
            Some(d)
        }
        None => None,
    };
    // Lava's DelayDense (lava-nc v0.10.0 `src/lava/proc/dense/models.py:350-354`) shifts
    // each delay's sum by weight_exp before adding them into its buffer; the IR shifts the
    // port's sum once. The two are equal when every effective weight is a multiple of
    // `2^-weight_exp` (each delay's sum then is too, and shifts exactly), which netx's
    // `optimize_weight_bits` always gives: its weights are shifted left by `-weight_exp`.
    if let Some(dl) = &delay
        && exp < 0
    {
        let first = dl.first().copied().unwrap_or(0);
        let unit = 1i64 << (-i64::from(exp)).min(31);
        let exact = dense
            .effective_weights()
            .map_err(lava_err(i))?
            .iter()
            .all(|&w| i64::from(w) % unit == 0);
        if dl.iter().any(|&x| x != first) && !exact {
            return Err(invalid(
                i,
                format!(
                    "Lava's DelayDense shifts each delay's sum by weight_exp {exp} before adding \
                     them; with several delays and weights that are not multiples of 2^{} this \
                     is not one port's shift",
                    -exp
                ),
            ));
        }
    }
    Ok(Synapse::Dense { dense, rec, delay })
}

/// netx's dense delays: clamped to 0..=62 when the largest exceeds 62, then a scalar, one per
/// output or one per input broadcast to `[target][source]`.
fn dense_delays(
    layer: usize,
    t: &Tensor,
    n_out: u32,
    n_in: u32,
) -> Result<Vec<u32>, SemanticsError> {
    let mut d = ints(layer, "delay", t)?;
    if d.iter().copied().max().unwrap_or(0) > MAX_NETX_DELAY {
        d.iter_mut()
            .for_each(|x| *x = (*x).clamp(0, MAX_NETX_DELAY));
    }
    if let Some(&neg) = d.iter().find(|&&x| x < 0) {
        return Err(invalid(layer, format!("delay {neg} is negative")));
    }
    let (o, n) = (n_out as usize, n_in as usize);
    let full: Vec<i64> = if d.len() == 1 {
        vec![d[0]; o * n]
    } else if d.len() == o * n && t.shape.len() == 2 {
        d
    } else if d.len() == o {
        (0..o * n).map(|k| d[k / n]).collect()
    } else if d.len() == n {
        (0..o * n).map(|k| d[k % n]).collect()
    } else {
        return Err(invalid(
            layer,
            format!(
                "delay of shape {:?} is incompatible with weight of shape ({o}, {n})",
                t.shape
            ),
        ));
    };
    Ok(full.into_iter().map(|x| x as u32).collect())
}

#[allow(clippy::too_many_lines)]
fn assemble(
    built: Vec<Built>,
    first_input: Option<Vec<u32>>,
    opts: &NetxOptions,
) -> Result<NetxNetwork, SemanticsError> {
    let mut net = Network {
        name: "netx".into(),
        programs: vec![],
        inputs: vec![],
        populations: vec![],
        projections: vec![],
        outputs: vec![],
    };
    let first = &built[0];
    // The host input: an input block's neuron reads it directly (Lava's a_in: int32 for the
    // sigma-delta neurons, int16 for the LIF); a synapse layer reads spikes of
    // `input_message_bits`.
    let (input_shape, input_bits) = match &first.synapse {
        Synapse::Host => (
            first.shape.clone(),
            if first.spec.kind() == BlockNeuron::Lif {
                16
            } else {
                32
            },
        ),
        _ => (
            first_input.unwrap_or_default(),
            message_bits_u8(first.layer, i64::from(opts.input_message_bits))?,
        ),
    };
    net.inputs.push(Input {
        name: "inp".into(),
        size: size(&input_shape),
        bits: input_bits,
        shape: ir_shape_of(&input_shape),
    });
    let input = InputId(0);
    let sdn_cfg = SdnConfig {
        act: Activation::Relu,
        cum_error: false,
        spike_exp: opts.spike_exp,
        state_exp: 6,
    };
    let mut blocks = Vec::with_capacity(built.len());
    for (k, b) in built.iter().enumerate() {
        let i = b.layer;
        let n = size(&b.shape);
        let mut ports: Vec<SynapsePort> = match &b.synapse {
            Synapse::Host => vec![SynapsePort {
                name: "a_in".into(),
                bits: 32,
                weight_exp: 0,
            }],
            Synapse::Dense { dense, .. } => vec![dense.port("a_in")],
            Synapse::Conv(c) => vec![c.port("a_in")],
        };
        if let Synapse::Dense { rec: Some(r), .. } = &b.synapse {
            ports.push(r.port("a_rec"));
        }
        let name = format!("layer{i}");
        let (program, params) = match &b.spec {
            NeuronSpec::Lif { du, dv, vth, .. } => {
                let bias = b.bias.clone().unwrap_or_else(|| vec![0; n as usize]);
                (
                    lava::cuba_lif_ports(&name, &ports).map_err(lava_err(i))?,
                    lif_params(i, n, *du, *dv, *vth, &bias)?,
                )
            }
            NeuronSpec::Sdn { neuron, vth, .. } => match neuron {
                BlockNeuron::Delta => (
                    lava::delta(&name, &ports, &sdn_cfg).map_err(lava_err(i))?,
                    lava::sdn_params(n, &sdn_cfg, &[*vth], None).map_err(lava_err(i))?,
                ),
                BlockNeuron::Sigma => {
                    if b.bias.is_some() {
                        return Err(invalid(i, "a Sigma (sigma_output) neuron has no bias"));
                    }
                    (lava::sigma(&name, &ports).map_err(lava_err(i))?, vec![])
                }
                _ => {
                    let bias = b.bias.clone().unwrap_or_else(|| vec![0; n as usize]);
                    (
                        lava::sigma_delta(&name, &ports, &sdn_cfg).map_err(lava_err(i))?,
                        lava::sdn_params(n, &sdn_cfg, &[*vth], Some(&bias)).map_err(lava_err(i))?,
                    )
                }
            },
        };
        let pop = PopId(net.populations.len() as u32);
        net.programs.push(program);
        // SDNN neurons ignore the reset (hdf5.py warns); each LIF block has its own phase.
        let reset = match (opts.reset_interval, &b.spec) {
            (Some(iv), NeuronSpec::Lif { .. }) if iv > 0 => {
                Some(lif_reset_schedule(iv, b.reset_offset))
            }
            _ => None,
        };
        net.populations.push(Population {
            name: name.clone(),
            size: n,
            shape: ir_shape_of(&b.shape),
            program: ProgramId(net.programs.len() as u32 - 1),
            params,
            init: vec![],
            schedule: Schedule { first: 1, every: 1 },
            reset,
        });
        let src = if k == 0 {
            Source::Input(input)
        } else {
            Source::Population {
                pop: PopId(pop.0 - 1),
                channel: 0,
            }
        };
        let dst = Target { pop, port: 0 };
        let mut proj = match &b.synapse {
            Synapse::Host => Projection {
                name: format!("{name}.inp"),
                src,
                dst,
                synapses: Synapses::Identity { weight: 1 },
                delay: Delay::Uniform(0),
            },
            Synapse::Conv(c) => c
                .projection(&net, &format!("{name}.conv"), src, dst)
                .map_err(lava_err(i))?,
            Synapse::Dense { dense, delay, .. } => {
                let mut p = dense
                    .projection(&net, &format!("{name}.dense"), src, dst)
                    .map_err(lava_err(i))?;
                if let Some(d) = delay {
                    p.delay = Delay::PerSynapse(d.clone());
                }
                p
            }
        };
        // A synapse layer fed by the host: its input of Lava timestep t arrives in IR
        // timestep t - 1, one step early.
        if k == 0 && !matches!(b.synapse, Synapse::Host) {
            proj.delay = match proj.delay {
                Delay::Uniform(d) => Delay::Uniform(d + 1),
                Delay::PerSynapse(v) => Delay::PerSynapse(v.into_iter().map(|d| d + 1).collect()),
            };
        }
        net.projections.push(proj);
        if let Synapse::Dense {
            rec: Some(r),
            delay,
            ..
        } = &b.synapse
        {
            let src = Source::Population { pop, channel: 0 };
            let mut p = r
                .projection(&net, &format!("{name}.rec"), src, Target { pop, port: 1 })
                .map_err(lava_err(i))?;
            if let Some(d) = delay {
                // RecurrentDense gives its recurrent DelayDense the same delays.
                if d.len() != r.weights.len() {
                    return Err(invalid(
                        i,
                        "the recurrent weights are not square with the layer's delays",
                    ));
                }
                p.delay = Delay::PerSynapse(d.clone());
            }
            net.projections.push(p);
        }
        net.outputs.push(Output {
            name: name.clone(),
            pop,
            channel: 0,
        });
        blocks.push(NetxBlock {
            layer: i,
            kind: b.kind.clone(),
            neuron: b.spec.kind(),
            shape: b.shape.clone(),
            pop,
            output: net.outputs.len() - 1,
        });
    }
    let out = blocks.last().map_or(0, |b| b.output);
    Ok(NetxNetwork {
        network: net,
        input,
        input_shape,
        blocks,
        out,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::TensorData;

    fn data(name: &str) -> NetxFile {
        let p = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("tests/data")
            .join(name);
        crate::read(p).expect("readable")
    }

    fn t(shape: &[usize], v: &[i64]) -> Tensor {
        Tensor {
            shape: shape.to_vec(),
            data: TensorData::I64(v.to_vec()),
        }
    }

    fn layer(index: usize, kind: LayerKind, shape: &[i64]) -> Layer {
        Layer {
            index,
            kind,
            shape: Some(shape.to_vec()),
            neuron: None,
            weight: None,
            weight_rec: None,
            bias: None,
            delay: None,
            conv: None,
        }
    }

    fn cuba(i_decay: i64, v_decay: i64, vth: i64) -> Neuron {
        Neuron::Cuba(Box::new(CubaNeuron {
            type_name: "LOIHI".into(),
            v_th_mant: t(&[], &[vth]),
            i_decay: t(&[], &[i_decay]),
            v_decay: t(&[], &[v_decay]),
            ref_delay: Some(t(&[], &[5])),
            wgt_exp: Some(t(&[], &[3])),
            theta: None,
            tau_rho: None,
            scale_rho: None,
            message_bits: None,
        }))
    }

    /// An input LIF block of 2 neurons, then one dense layer of 2 neurons.
    fn two_layers(dense: Layer) -> NetxFile {
        let mut input = layer(0, LayerKind::Input, &[2]);
        input.neuron = Some(cuba(4096, 0, 10));
        NetxFile {
            layers: vec![input, dense],
            simulation: None,
        }
    }

    fn params(n: &NetxNetwork, block: usize) -> Vec<Vec<i64>> {
        n.network.populations[n.blocks[block].pop.index()]
            .params
            .clone()
    }

    #[test]
    fn loihi_neurons_are_lif_with_du_idecay_minus_one_and_bias_exp_six() {
        // tiny.net: LOIHI, iDecay 4096, vDecay 1024, vThMant 25, refDelay 1, wgtExp 0.
        let n = to_network(&data("tiny.net"), &NetxOptions::default()).unwrap();
        let p = params(&n, 1);
        assert_eq!(p[0][0], 0, "u_keep = 4096 - (du + 1), du = 4095");
        assert_eq!(p[1][0], 4096 - 1024, "dv = vDecay");
        assert_eq!(p[3][0], 25 << 6, "threshold scaled by 2^6");
        // Conv bias mantissas (channel-wise) shifted by bias_exp 6.
        let file = data("tiny.net");
        let b = ints(1, "bias", file.layers[1].bias.as_ref().unwrap()).unwrap();
        assert_eq!(p[2][0], b[0] << 6);
        assert_eq!(
            p[2][1],
            b[1] << 6,
            "channel 1 is IR neuron 1 (channel-last)"
        );
        assert_eq!(
            p[2][24],
            b[0] << 6,
            "position (0, 1) starts at IR neuron 24"
        );
    }

    #[test]
    fn ref_delay_and_wgt_exp_are_ignored() {
        let mut d = layer(1, LayerKind::Dense, &[2]);
        d.neuron = Some(cuba(100, 200, 7));
        d.weight = Some(t(&[2, 2], &[1, 2, 3, 4]));
        let n = to_network(&two_layers(d.clone()), &NetxOptions::default()).unwrap();
        let Neuron::Cuba(c) = d.neuron.as_mut().unwrap() else {
            unreachable!()
        };
        c.ref_delay = None;
        c.wgt_exp = None;
        let m = to_network(&two_layers(d), &NetxOptions::default()).unwrap();
        assert_eq!(n, m);
        assert_eq!(params(&n, 1)[0][0], 4096 - 100, "du = 99, constant du + 1");
    }

    #[test]
    fn the_input_transform_is_never_applied() {
        // tiny.net's input layer has weight 36 and bias 34: netx stores them as a transform
        // that nothing applies, and gives the neuron no bias.
        let n = to_network(&data("tiny.net"), &NetxOptions::default()).unwrap();
        assert!(params(&n, 0)[2].iter().all(|&b| b == 0));
        let p = &n.network.projections[0];
        assert_eq!(p.synapses, Synapses::Identity { weight: 1 });
        assert_eq!(p.delay, Delay::Uniform(0));
    }

    #[test]
    fn a_dense_layer_without_neuron_is_a_non_leaky_cuba() {
        let mut d = layer(1, LayerKind::Dense, &[2]);
        d.weight = Some(t(&[2, 2], &[1, 2, 3, 4]));
        let n = to_network(&two_layers(d), &NetxOptions::default()).unwrap();
        let p = params(&n, 1);
        assert_eq!(p[0][0], 4096, "du = iDecay - 1 = -1: u is kept whole");
        assert_eq!(p[1][0], 0, "vDecay 4096: v is forgotten");
        assert_eq!(p[3][0], (1 << 17) << 6, "vThMant 1 << 18 - 1 = 2^17");
        assert_eq!(n.blocks[1].neuron, BlockNeuron::Lif);
    }

    #[test]
    fn dense_weights_go_through_optimize_weight_bits() {
        // Mixed: scale min(127 / 4, 128 / 6) = 21.3, floor(log2) 4, + 1 signed = 5; all even
        // so n = 1, minus 1 signed = 0; 8 - 5 - 0 = 3 bits, exponent -5, weights << 5.
        assert_eq!(
            optimize_weight_bits(0, &[2, 4, -6, 0]).unwrap(),
            (vec![64, 128, -192, 0], 3, -5)
        );
        // Excitatory 0..=255 keeps its scale; weights up to 100: 255 / 100 -> 1 bit of scale.
        assert_eq!(
            optimize_weight_bits(0, &[100, 3]).unwrap(),
            (vec![200, 6], 7, -1)
        );
        // -1: inhibitory, scale 256, 8 bits of scale, odd: 8 - 8 - 0 = 0 weight bits (Lava then
        // refuses the Dense).
        assert_eq!(optimize_weight_bits(0, &[-1]).unwrap(), (vec![-256], 0, -8));
        assert!(optimize_weight_bits(0, &[0, 0]).is_err());
        let mut d = layer(1, LayerKind::Dense, &[2]);
        d.neuron = Some(cuba(4096, 0, 10));
        d.weight = Some(t(&[2, 2], &[2, 4, -6, 0]));
        let n = to_network(&two_layers(d), &NetxOptions::default()).unwrap();
        let p = &n.network.projections[1];
        // Lava's Dense then truncates the mixed weights to 3 bits (drops 6 low bits).
        assert_eq!(
            p.synapses,
            Synapses::Dense {
                weights: vec![64, 128, -192, 0]
            }
        );
        let prog = &n.network.programs[1];
        assert_eq!(prog.ports[0].bits, 64, "binary Dense with weight_exp -5");
    }

    #[test]
    fn conv_weights_go_in_raw_correlated_as_in_the_file() {
        // netx flips the kernel and Lava's Conv flips it back: the IR's correlation kernel is
        // the file's `(out, in, ky, kx)` transposed to the IR's `[out][in][kx][ky]`, unscaled
        // (no optimize_weight_bits, no weight_exp), into a 24-bit port.
        let file = data("tiny.net");
        let n = to_network(&file, &NetxOptions::default()).unwrap();
        let wt = file.layers[1].weight.as_ref().unwrap();
        let w = ints(1, "w", wt).unwrap();
        let [o, i, ky, kx] = wt.shape[..4] else {
            panic!("a 4-D kernel")
        };
        assert_ne!(kx, 1, "a kernel whose transposition shows");
        let mut want = Vec::with_capacity(w.len());
        for oi in 0..o {
            for ii in 0..i {
                for xi in 0..kx {
                    for yi in 0..ky {
                        want.push(w[((oi * i + ii) * ky + yi) * kx + xi]);
                    }
                }
            }
        }
        let Synapses::Conv(c) = &n.network.projections[1].synapses else {
            panic!("a conv projection")
        };
        assert_eq!(c.kernel, [kx as u32, ky as u32]);
        assert_eq!(
            c.weights.iter().map(|&x| i64::from(x)).collect::<Vec<_>>(),
            want
        );
        assert_eq!(c.stride, [2, 2]);
        let port = &n.network.programs[1].ports[0];
        assert_eq!(port.bits, lava::CONV_BITS);
    }

    #[test]
    fn a_recurrent_dense_with_delays_drops_weight_exp() {
        let mut d = layer(1, LayerKind::DenseRec, &[2]);
        d.neuron = Some(cuba(4096, 0, 10));
        d.weight = Some(t(&[2, 2], &[2, 4, -6, 0]));
        d.weight_rec = Some(t(&[2, 2], &[2, 2, 2, 2]));
        let n = to_network(&two_layers(d.clone()), &NetxOptions::default()).unwrap();
        let shifts = |n: &NetxNetwork| n.network.programs[1].ports.len();
        assert_eq!(shifts(&n), 2, "input and recurrent ports");
        let exp_of = |n: &NetxNetwork| {
            n.network.programs[1]
                .ops
                .iter()
                .filter(|op| matches!(op, loisim_net::Op::Shr(..) | loisim_net::Op::Shl(..)))
                .count()
        };
        let with_exp = exp_of(&n);
        d.delay = Some(t(&[], &[1]));
        let m = to_network(&two_layers(d), &NetxOptions::default()).unwrap();
        assert_eq!(
            exp_of(&m),
            with_exp - 2,
            "both ports lose their weight_exp shift"
        );
        assert_eq!(
            m.network.projections[1].delay,
            Delay::PerSynapse(vec![1; 4])
        );
    }

    #[test]
    fn dense_delays_of_several_values_keep_a_negative_weight_exp() {
        // netx's weights are shifted left by -weight_exp (utils.py optimize_weight_bits), so
        // each delay's sum is a multiple of 2^-weight_exp and Lava's per-delay shift
        // (lava-nc v0.10.0 src/lava/proc/dense/models.py:350-354) equals one shift of the
        // port's sum. Found by tests/random_lava.rs (`lif_dense_delays`).
        let mut d = layer(1, LayerKind::Dense, &[2]);
        d.neuron = Some(cuba(4096, 0, 10));
        d.weight = Some(t(&[2, 2], &[2, 4, -6, 0]));
        d.delay = Some(t(&[2, 2], &[0, 1, 1, 2]));
        let n = to_network(&two_layers(d), &NetxOptions::default()).unwrap();
        assert_eq!(
            n.network.projections[1].delay,
            Delay::PerSynapse(vec![0, 1, 1, 2])
        );
        let Synapses::Dense { weights } = &n.network.projections[1].synapses else {
            panic!("a dense projection")
        };
        assert_eq!(weights, &[64, 128, -192, 0], "shifted by 5: weight_exp -5");
    }

    #[test]
    fn mixed_dense_weights_up_to_254_take_nine_weight_bits() {
        // A mixed matrix whose largest weight is 128 to 254 with an odd weight: netx's
        // optimize_weight_bits gives scale 0 and num_weight_bits 9 (utils.py), and Lava's
        // truncate_weights clears no bit. Found by tests/random_lava.rs (`sdnn_rec_delays`).
        let mut d = layer(1, LayerKind::Dense, &[2]);
        d.neuron = Some(cuba(4096, 0, 10));
        d.weight = Some(t(&[2, 2], &[201, -3, 5, -128]));
        assert_eq!(
            optimize_weight_bits(1, &[201, -3, 5, -128]).unwrap(),
            (vec![201, -3, 5, -128], 9, 0)
        );
        let n = to_network(&two_layers(d), &NetxOptions::default()).unwrap();
        let Synapses::Dense { weights } = &n.network.projections[1].synapses else {
            panic!("a dense projection")
        };
        assert_eq!(weights, &[201, -3, 5, -128]);
    }

    #[test]
    fn dense_delays_are_clamped_and_broadcast() {
        // A maximum above 62 clamps every delay to 0..=62; a per-output vector is repeated
        // along the inputs, a per-input one along the outputs.
        assert_eq!(
            dense_delays(0, &t(&[2], &[70, 3]), 2, 3).unwrap(),
            [62, 62, 62, 3, 3, 3]
        );
        assert_eq!(
            dense_delays(0, &t(&[3], &[1, 2, 3]), 2, 3).unwrap(),
            [1, 2, 3, 1, 2, 3]
        );
        assert!(dense_delays(0, &t(&[4], &[1, 2, 3, 4]), 2, 3).is_err());
    }

    #[test]
    fn flatten_permutes_the_dense_columns_into_ir_order() {
        // netx connects `out.transpose([2, 1, 0]).flatten()`: dense column `(c Y + y) X + x`
        // reads element (x, y, c), which is IR neuron `(x Y + y) C + c`, so the IR weights'
        // columns are the file's permuted (PilotNet SDNN's first dense after a 20 x 2 x 64
        // conv).
        let file = data("pilotnet_sdnn.net");
        let n = to_network(&file, &NetxOptions::default()).unwrap();
        let w = ints(6, "w", file.layers[6].weight.as_ref().unwrap()).unwrap();
        let (opt, _, _) = optimize_weight_bits(6, &w).unwrap();
        let p = &n.network.projections[5];
        assert_eq!(
            p.src,
            Source::Population {
                pop: PopId(4),
                channel: 0
            }
        );
        assert_eq!(n.blocks[4].shape, [20, 2, 64]);
        let Synapses::Dense { weights } = &p.synapses else {
            panic!("a dense projection")
        };
        assert_eq!(weights.len(), opt.len());
        // The IR weights are Lava's effective weights of the optimised matrix, columns permuted.
        let mut eff = LavaDense::new(100, 2560, to_i32(6, "w", &opt).unwrap());
        let (_, bits, exp) = optimize_weight_bits(6, &w).unwrap();
        eff.num_weight_bits = u8::try_from(bits).unwrap();
        eff.weight_exp = i8::try_from(exp).unwrap();
        let eff = eff.effective_weights().unwrap();
        // IR neuron (x, y, c) -> file column (c 2 + y) 20 + x.
        for (ir, col) in [(0, 0), (1, 40), (2, 80), (64, 20), (128, 1), (129, 41)] {
            for row in [0, 57, 99] {
                assert_eq!(
                    weights[row * 2560 + ir],
                    eff[row * 2560 + col],
                    "({row}, {ir})"
                );
            }
        }
        assert_eq!(
            weights,
            &permute_columns(&eff, &flatten_columns([20, 2, 64]))
        );
        assert_ne!(weights, &eff, "the permutation moves columns");
        assert_eq!(
            lava_to_ir_order(&[20, 2, 64]),
            (0..2560).collect::<Vec<_>>()
        );
    }

    #[test]
    fn flatten_permutes_per_input_delays_too() {
        // An input block of Lava shape (3, 1, 2) (stored (c, y, x) = (2, 1, 3)), a flatten and a
        // dense neuron with one delay per input: IR neuron (x, 0, c) = 2 x + c reads file
        // column 3 c + x.
        let build = |shape: &[i64], flatten: bool| {
            let mut input = layer(0, LayerKind::Input, shape);
            input.neuron = Some(cuba(4096, 0, 10));
            let mut d = layer(if flatten { 2 } else { 1 }, LayerKind::Dense, &[1]);
            d.neuron = Some(cuba(4096, 0, 10));
            d.weight = Some(t(&[1, 6], &[255, 1, 2, 3, 4, 5]));
            d.delay = Some(t(&[6], &[0, 1, 2, 3, 4, 5]));
            let mut layers = vec![input];
            if flatten {
                layers.push(layer(1, LayerKind::Flatten, &[6]));
            }
            layers.push(d);
            let n = to_network(
                &NetxFile {
                    layers,
                    simulation: None,
                },
                &NetxOptions::default(),
            )
            .unwrap();
            n.network.projections[1].clone()
        };
        let flat = build(&[2, 1, 3], true);
        let plain = build(&[6], false);
        assert_eq!(flat.delay, Delay::PerSynapse(vec![0, 3, 1, 4, 2, 5]));
        assert_eq!(plain.delay, Delay::PerSynapse(vec![0, 1, 2, 3, 4, 5]));
        let (Synapses::Dense { weights: f }, Synapses::Dense { weights: p }) =
            (&flat.synapses, &plain.synapses)
        else {
            panic!("dense projections")
        };
        assert_eq!(f, &[0, 3, 1, 4, 2, 5].map(|k| p[k]));
    }

    #[test]
    fn each_block_gets_its_own_reset_phase_and_sdnn_ignores_resets() {
        let opts = NetxOptions {
            reset_interval: Some(17),
            ..NetxOptions::default()
        };
        let n = to_network(&data("tiny.net"), &opts).unwrap();
        // Block k: LIFReset offset 1 + k zeroes u and v at the start of timesteps
        // t % 17 == 1 + k, that is at the end of timestep k, k + 17, ...
        let firsts: Vec<_> = n
            .blocks
            .iter()
            .map(|b| n.network.populations[b.pop.index()].reset)
            .collect();
        assert_eq!(
            firsts,
            (0..3)
                .map(|k| Some(Schedule {
                    first: k,
                    every: 17
                }))
                .collect::<Vec<_>>()
        );
        let s = to_network(&data("pilotnet_sdnn.net"), &opts).unwrap();
        assert!(s.network.populations.iter().all(|p| p.reset.is_none()));
    }

    #[test]
    fn every_dense_and_conv_adds_one_timestep() {
        let n = to_network(&data("pilotnet_sdnn.net"), &NetxOptions::default()).unwrap();
        assert!(
            n.network
                .projections
                .iter()
                .all(|p| p.delay == Delay::Uniform(0))
        );
        assert!(
            n.network
                .populations
                .iter()
                .all(|p| p.schedule == Schedule { first: 1, every: 1 })
        );
    }

    #[test]
    fn unsupported_layers_and_neurons_are_named() {
        let mut file = data("tiny.net");
        file.layers[2].kind = LayerKind::Unsupported {
            type_name: "pool".into(),
            reason: "netx raises NotImplementedError".into(),
        };
        let e = to_network(&file, &NetxOptions::default())
            .unwrap_err()
            .to_string();
        assert!(e.starts_with("layer 2: layer type `pool`"), "{e}");
        assert!(e.contains("supported: layers input, dense"), "{e}");
        let mut file = data("tiny.net");
        file.layers[1].neuron = Some(Neuron::Unsupported {
            type_name: "RF_PHASE".into(),
        });
        let e = to_network(&file, &NetxOptions::default())
            .unwrap_err()
            .to_string();
        assert!(e.starts_with("layer 1: neuron type `RF_PHASE`"), "{e}");
    }
}
