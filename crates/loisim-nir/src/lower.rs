//! Lowering a NIR chain onto Loihi 2's fixed-point CUBA LIF layers.
//!
//! [`lower`] turns a chain `Input -> linear nodes -> neuron -> ... -> Output` into float64
//! layers ([`Lowered`]) with the discretisation of docs/networks.md ("NIR graphs"):
//! per step of `dt`, the synaptic current decays by `exp(-dt / tau_syn)` and takes
//! `(1 - exp(-dt / tau_syn)) w_in x`, then the membrane decays by `exp(-dt / tau_mem)` and
//! takes `(1 - exp(-dt / tau_mem)) (v_leak + r I)`; a spike when `v > v_threshold`, and `v`
//! is then 0. The gains are folded into each layer's weights. [`float_run`] runs them in
//! float64 (the reference); [`quantise`] writes them as the layers of a lava-dl netx file
//! (Lava's CUBA LIF, 12-bit decays, 8-bit weights with a per-layer exponent), which
//! `loisim_netx::to_network` builds bit-exactly.

use crate::{Array, Graph, NirError, Node};
use loisim_netx::{ConvParams, CubaNeuron, Layer, LayerKind, NetxFile, Neuron, Tensor, TensorData};

/// Largest dense matrix a composed linear segment may become (elements).
pub const MAX_DENSE_ELEMENTS: usize = 1 << 24;
/// Most values a tensor between nodes may hold (the IR's population limit).
pub const MAX_NEURONS: usize = 1 << 24;
/// Most extra steps a synapse may delay (netx's dense delays).
pub const MAX_DELAY_STEPS: u32 = 62;
/// Most multiply-adds composing a linear segment into a dense matrix may take.
pub const MAX_COMPOSE_WORK: usize = 1 << 30;
/// Largest integer weight magnitude given to netx (mixed-sign weights up to 254 keep every
/// bit through netx's `optimize_weight_bits` and Lava's truncation).
pub const MAX_WEIGHT: f64 = 254.0;

/// The synapses of a layer, float64, NIR order.
#[derive(Clone, Debug, PartialEq)]
pub enum FloatSynapse {
    /// `weights[o * n_in + i]`; the input is flattened in C order of its NIR shape.
    Dense {
        n_in: usize,
        weights: Vec<f64>,
        /// Extra steps per synapse (`[o * n_in + i]`), from `Delay` nodes; `None`: all 0.
        delays: Option<Vec<u32>>,
    },
    /// A 2-D correlation (PyTorch's): kernel `(out, in / groups, kh, kw)`.
    Conv {
        kernel: Vec<f64>,
        kernel_shape: [usize; 4],
        stride: [usize; 2],
        padding: [usize; 2],
        dilation: [usize; 2],
        groups: usize,
        /// Input `(C, H, W)`.
        in_shape: [usize; 3],
    },
}

/// A layer's neurons, float64: `u = a_syn u + in`, `v = a_mem v + u + bias`, a spike when
/// `v > vth`, then `v = 0`; `in` is the synapses' sum with the gains already folded in.
#[derive(Clone, Debug, PartialEq)]
pub struct FloatNeuron {
    pub a_syn: f64,
    pub a_mem: f64,
    /// Per neuron, NIR order.
    pub bias: Vec<f64>,
    pub vth: f64,
}

/// One layer: the linear nodes before a neuron node, and the neuron node.
#[derive(Clone, Debug, PartialEq)]
pub struct FloatLayer {
    /// The neuron node's name.
    pub node: String,
    /// Its NIR type.
    pub kind: String,
    /// The linear nodes folded into the synapses.
    pub linear_nodes: Vec<String>,
    pub synapse: FloatSynapse,
    pub neuron: FloatNeuron,
    /// Output shape, NIR order (`(C, H, W)` as 3-D; 1-D `(N,)`; a Conv1d's `(C, L)` is
    /// `(C, 1, L)`).
    pub shape: Vec<usize>,
}

/// A lowered chain.
#[derive(Clone, Debug, PartialEq)]
pub struct Lowered {
    /// Step, seconds.
    pub dt_s: f64,
    /// The Input node's shape, NIR order (3-D when the first layer is a convolution).
    pub input_shape: Vec<usize>,
    pub layers: Vec<FloatLayer>,
}

/// How one layer was quantised.
#[derive(Clone, Debug, PartialEq)]
pub struct LayerQuantisation {
    pub node: String,
    /// Weights, bias and threshold are `round(x * 2^exponent)`.
    pub exponent: i32,
    /// `iDecay` and `vDecay` (12-bit, of 4096).
    pub i_decay: i64,
    pub v_decay: i64,
    pub vth: i64,
    /// Largest |rounding error| of a weight, in weight units (at most 0.5).
    pub weight_error_max: f64,
}

/// A lowered chain as a netx file, and the quantisation of each layer.
#[derive(Clone, Debug, PartialEq)]
pub struct Lowering {
    pub lowered: Lowered,
    pub file: NetxFile,
    pub layers: Vec<LayerQuantisation>,
}

fn unsupported(name: &str, node: &Node, why: impl Into<String>) -> NirError {
    NirError::Unsupported {
        node: crate::printable(name),
        kind: crate::printable(&node.kind),
        why: why.into(),
    }
}

fn param<'a>(name: &str, node: &'a Node, key: &str) -> Result<&'a Array, NirError> {
    node.params
        .get(key)
        .ok_or_else(|| unsupported(name, node, format!("has no `{key}`")))
}

/// The single value of a parameter that must be the same for every neuron.
fn uniform(name: &str, node: &Node, key: &str, n: usize) -> Result<f64, NirError> {
    let a = param(name, node, key)?;
    let Some(&first) = a.data.first() else {
        return Err(unsupported(name, node, format!("`{key}` is empty")));
    };
    if a.data.len() != 1 && a.data.len() != n {
        return Err(unsupported(
            name,
            node,
            format!("`{key}` has {} values for {n} neurons", a.data.len()),
        ));
    }
    if !first.is_finite() {
        return Err(unsupported(name, node, format!("`{key}` is {first}")));
    }
    if a.data.iter().any(|&x| x != first) {
        return Err(unsupported(
            name,
            node,
            format!(
                "`{key}` differs between neurons; a Loihi 2 layer here takes one `{key}` for all"
            ),
        ));
    }
    Ok(first)
}

/// A per-neuron parameter (one value, or one per neuron).
fn per_neuron(name: &str, node: &Node, key: &str, n: usize) -> Result<Vec<f64>, NirError> {
    let a = param(name, node, key)?;
    if a.data.iter().any(|x| !x.is_finite()) {
        return Err(unsupported(
            name,
            node,
            format!("`{key}` holds a non-finite value"),
        ));
    }
    match a.data.len() {
        1 => Ok(vec![a.data[0]; n]),
        m if m == n => Ok(a.data.clone()),
        m => Err(unsupported(
            name,
            node,
            format!("`{key}` has {m} values for {n} neurons"),
        )),
    }
}

fn usize_pair(name: &str, node: &Node, key: &str, default: usize) -> Result<[usize; 2], NirError> {
    let Some(a) = node.params.get(key) else {
        if let Some(s) = node.strings.get(key) {
            return Err(unsupported(
                name,
                node,
                format!("`{key}` `{s}` (give integers)"),
            ));
        }
        return Ok([default; 2]);
    };
    let ok = |x: f64| (x >= 0.0 && x.fract() == 0.0 && x < 65536.0).then_some(x as usize);
    let v: Option<Vec<usize>> = a.data.iter().map(|&x| ok(x)).collect();
    match v.as_deref() {
        Some([x]) => Ok([*x, *x]),
        Some([a, b]) => Ok([*a, *b]),
        _ => Err(unsupported(
            name,
            node,
            format!("`{key}` is not one or two small integers"),
        )),
    }
}

/// The shape a `Flatten` node gives `input` (NIR's rank, no batch dimension): the dimensions
/// `start_dim` to `end_dim` (negative: from the end; NIR's defaults 1 and -1) merged into one.
fn flatten_shape(name: &str, node: &Node, input: &[usize]) -> Result<Vec<usize>, NirError> {
    let rank = input.len() as i64;
    let dim = |key: &str, default: i64| -> Result<usize, NirError> {
        let d = match node.params.get(key).map(|a| &a.data[..]) {
            None => default,
            Some([x]) if x.fract() == 0.0 && x.abs() < 1e6 => *x as i64,
            Some(_) => {
                return Err(unsupported(
                    name,
                    node,
                    format!("`{key}` is not one integer"),
                ));
            }
        };
        let at = if d < 0 { d + rank } else { d };
        if !(0..rank).contains(&at) {
            return Err(unsupported(
                name,
                node,
                format!("`{key}` {d} is outside its input {input:?}"),
            ));
        }
        Ok(at as usize)
    };
    let (start, end) = (dim("start_dim", 1)?, dim("end_dim", -1)?);
    if start > end {
        return Err(unsupported(
            name,
            node,
            format!("start_dim {start} comes after end_dim {end} of its input {input:?}"),
        ));
    }
    let mut out = input[..start].to_vec();
    out.push(input[start..=end].iter().product());
    out.extend_from_slice(&input[end + 1..]);
    Ok(out)
}

/// The chain's node names from Input to Output.
fn chain(graph: &Graph) -> Result<Vec<String>, NirError> {
    let inputs: Vec<&String> = graph
        .nodes
        .iter()
        .filter(|(_, n)| n.kind == "Input")
        .map(|(k, _)| k)
        .collect();
    let [input] = inputs[..] else {
        return Err(NirError::Graph(format!(
            "{} Input nodes; a chain has one",
            inputs.len()
        )));
    };
    for (s, t) in &graph.edges {
        for e in [s, t] {
            if !graph.nodes.contains_key(e) {
                return Err(NirError::Graph(format!(
                    "an edge names `{}`, which is no node",
                    crate::printable(e)
                )));
            }
        }
    }
    let mut order = vec![input.clone()];
    let mut at = input.clone();
    loop {
        let node = &graph.nodes[&at];
        let next: Vec<&String> = graph
            .edges
            .iter()
            .filter(|(s, _)| *s == at)
            .map(|(_, t)| t)
            .collect();
        let into = graph.edges.iter().filter(|(_, t)| *t == at).count();
        if order.len() > 1 && into != 1 {
            return Err(unsupported(
                &at,
                node,
                format!("has {into} incoming edges; only chains are supported (no merges)"),
            ));
        }
        if node.kind == "Output" {
            if !next.is_empty() {
                return Err(unsupported(&at, node, "has outgoing edges"));
            }
            break;
        }
        let [n] = next[..] else {
            return Err(unsupported(
                &at,
                node,
                format!(
                    "has {} outgoing edges; only chains are supported (no branches)",
                    next.len()
                ),
            ));
        };
        if order.contains(n) || order.len() > graph.nodes.len() {
            return Err(unsupported(
                n,
                &graph.nodes[n],
                "closes a cycle; only chains are supported (no recurrence)",
            ));
        }
        order.push(n.clone());
        at = n.clone();
    }
    if order.len() != graph.nodes.len() {
        let stray = graph
            .nodes
            .keys()
            .find(|k| !order.contains(k))
            .cloned()
            .unwrap_or_default();
        return Err(unsupported(
            &stray,
            &graph.nodes[&stray],
            "is not on the chain from the Input to the Output",
        ));
    }
    Ok(order)
}

/// An affine map on a flattened tensor, applied op by op.
#[derive(Clone, Debug)]
enum Op {
    Matrix {
        n_in: usize,
        w: Vec<f64>,
        b: Vec<f64>,
    },
    Scale(Vec<f64>),
    Conv {
        kernel: Vec<f64>,
        ks: [usize; 4],
        stride: [usize; 2],
        padding: [usize; 2],
        dilation: [usize; 2],
        groups: usize,
        bias: Vec<f64>,
        in_shape: [usize; 3],
    },
    Flatten,
    /// Extra steps per value (one value: all).
    Delay(Vec<u32>),
}

fn conv_out(
    in_shape: [usize; 3],
    ks: [usize; 4],
    stride: [usize; 2],
    padding: [usize; 2],
    dilation: [usize; 2],
) -> Option<[usize; 3]> {
    let o = |n: usize, k: usize, i: usize| {
        let span = dilation[i] * (k - 1) + 1;
        (n + 2 * padding[i])
            .checked_sub(span)
            .map(|d| d / stride[i] + 1)
    };
    Some([ks[0], o(in_shape[1], ks[2], 0)?, o(in_shape[2], ks[3], 1)?])
}

#[allow(clippy::too_many_arguments)]
fn apply_conv(
    x: &[f64],
    kernel: &[f64],
    ks: [usize; 4],
    stride: [usize; 2],
    padding: [usize; 2],
    dilation: [usize; 2],
    groups: usize,
    in_shape: [usize; 3],
    out: [usize; 3],
) -> Vec<f64> {
    let [co, ci_g, kh, kw] = ks;
    let [_, h, w] = in_shape;
    let co_g = co / groups;
    let mut y = vec![0.0; out.iter().product()];
    for o in 0..co {
        let g = o / co_g;
        for oy in 0..out[1] {
            for ox in 0..out[2] {
                let mut s = 0.0;
                for ci in 0..ci_g {
                    let c = g * ci_g + ci;
                    for ky in 0..kh {
                        let iy = (oy * stride[0] + ky * dilation[0]) as isize - padding[0] as isize;
                        if iy < 0 || iy as usize >= h {
                            continue;
                        }
                        for kx in 0..kw {
                            let ix =
                                (ox * stride[1] + kx * dilation[1]) as isize - padding[1] as isize;
                            if ix < 0 || ix as usize >= w {
                                continue;
                            }
                            s += kernel[((o * ci_g + ci) * kh + ky) * kw + kx]
                                * x[(c * h + iy as usize) * w + ix as usize];
                        }
                    }
                }
                y[(o * out[1] + oy) * out[2] + ox] = s;
            }
        }
    }
    y
}

impl Op {
    /// Multiply-adds of one application.
    fn work(&self) -> usize {
        match self {
            Op::Matrix { w, .. } => w.len(),
            Op::Scale(s) => s.len(),
            Op::Conv {
                ks,
                stride,
                padding,
                dilation,
                in_shape,
                ..
            } => {
                let out = conv_out(*in_shape, *ks, *stride, *padding, *dilation).unwrap_or([0; 3]);
                out.iter()
                    .product::<usize>()
                    .saturating_mul(ks[1] * ks[2] * ks[3])
            }
            Op::Flatten | Op::Delay(_) => 0,
        }
        .max(1)
    }

    fn apply(&self, x: &[f64], with_bias: bool) -> Vec<f64> {
        match self {
            Op::Matrix { n_in, w, b } => (0..b.len())
                .map(|o| {
                    let s: f64 = w[o * n_in..(o + 1) * n_in]
                        .iter()
                        .zip(x)
                        .map(|(a, b)| a * b)
                        .sum();
                    s + if with_bias { b[o] } else { 0.0 }
                })
                .collect(),
            Op::Scale(s) => x.iter().zip(s.iter().cycle()).map(|(a, b)| a * b).collect(),
            Op::Conv {
                kernel,
                ks,
                stride,
                padding,
                dilation,
                groups,
                bias,
                in_shape,
            } => {
                let out = conv_out(*in_shape, *ks, *stride, *padding, *dilation).unwrap_or([0; 3]);
                let mut y = apply_conv(
                    x, kernel, *ks, *stride, *padding, *dilation, *groups, *in_shape, out,
                );
                if with_bias {
                    let per = out[1] * out[2];
                    for (i, v) in y.iter_mut().enumerate() {
                        *v += bias[i / per.max(1)];
                    }
                }
                y
            }
            Op::Flatten | Op::Delay(_) => x.to_vec(),
        }
    }
}

/// Lowers `graph` with step `dt_s` (seconds).
///
/// # Errors
/// Not a chain, a node type or parameter Loihi 2 cannot express (naming the node and why).
#[allow(clippy::too_many_lines)]
pub fn lower(graph: &Graph, dt_s: f64) -> Result<Lowered, NirError> {
    if !(dt_s.is_finite() && dt_s > 0.0) {
        return Err(NirError::Graph(format!(
            "dt {dt_s} s: give a positive step"
        )));
    }
    let order = chain(graph)?;
    let input = &graph.nodes[&order[0]];
    let shape_arr = param(&order[0], input, "shape")?;
    let mut shape: Vec<usize> = shape_arr
        .data
        .iter()
        .map(|&d| (d >= 1.0 && d.fract() == 0.0 && d < 1e9).then_some(d as usize))
        .collect::<Option<_>>()
        .ok_or_else(|| {
            unsupported(
                &order[0],
                input,
                "`shape` is not a list of positive integers",
            )
        })?;
    // NIR's rank of the tensor flowing (a `(C, L)` tensor is held as `(C, 1, L)`).
    let mut rank = shape.len();
    if shape.len() == 2 {
        shape.insert(1, 1);
    }
    if shape.is_empty() || shape.len() > 3 {
        return Err(unsupported(
            &order[0],
            input,
            format!("shape {shape:?}: 1-D, (C, L) or (C, H, W) inputs are supported"),
        ));
    }
    let input_shape = shape.clone();
    let mut layers = Vec::new();
    let mut ops: Vec<(String, Op)> = Vec::new();
    let mut seg_in = shape.clone();
    for name in &order[1..] {
        let node = &graph.nodes[name];
        let n = shape
            .iter()
            .try_fold(1usize, |a, &d| a.checked_mul(d))
            .filter(|&n| n <= MAX_NEURONS)
            .ok_or_else(|| {
                unsupported(
                    name,
                    node,
                    format!("its input {shape:?} has over {MAX_NEURONS} values"),
                )
            })?;
        match node.kind.as_str() {
            "Affine" | "Linear" => {
                let w = param(name, node, "weight")?;
                let [o, i] = w.shape[..] else {
                    return Err(unsupported(
                        name,
                        node,
                        format!("weight of shape {:?}; (out, in) expected", w.shape),
                    ));
                };
                if i != n {
                    return Err(unsupported(
                        name,
                        node,
                        format!("takes {i} inputs, the previous node gives {n} ({shape:?})"),
                    ));
                }
                let b = if node.kind == "Affine" {
                    per_neuron(name, node, "bias", o)?
                } else {
                    vec![0.0; o]
                };
                if w.data.iter().any(|x| !x.is_finite()) {
                    return Err(unsupported(
                        name,
                        node,
                        "the weights hold a non-finite value",
                    ));
                }
                ops.push((
                    name.clone(),
                    Op::Matrix {
                        n_in: i,
                        w: w.data.clone(),
                        b,
                    },
                ));
                shape = vec![o];
                rank = 1;
            }
            "Scale" => {
                let s = per_neuron(name, node, "scale", n)?;
                ops.push((name.clone(), Op::Scale(s)));
            }
            "Flatten" => {
                let nir_shape = if rank == 2 {
                    vec![shape[0], shape[2]]
                } else {
                    shape.clone()
                };
                let out = flatten_shape(name, node, &nir_shape)?;
                if out != nir_shape {
                    if out.len() != 1 {
                        return Err(unsupported(
                            name,
                            node,
                            format!(
                                "start_dim and end_dim turn {nir_shape:?} into {out:?}; only a flatten into one dimension (start_dim 0, end_dim -1) is lowered"
                            ),
                        ));
                    }
                    ops.push((name.clone(), Op::Flatten));
                    shape = vec![n];
                    rank = 1;
                }
            }
            "Conv2d" | "Conv1d" | "SumPool2d" | "AvgPool2d" => {
                let [c, h, w] = shape[..] else {
                    return Err(unsupported(
                        name,
                        node,
                        format!(
                            "needs a (C, H, W) or (C, L) input, the previous node gives {shape:?}"
                        ),
                    ));
                };
                let conv1 = node.kind == "Conv1d";
                let pair = |key: &str, d: usize| -> Result<[usize; 2], NirError> {
                    let p = usize_pair(name, node, key, d)?;
                    Ok(if conv1 {
                        [
                            if key == "stride" || key == "dilation" {
                                1
                            } else {
                                0
                            },
                            p[0],
                        ]
                    } else {
                        p
                    })
                };
                let (kernel, ks, groups, bias) = if node.kind.starts_with("Conv") {
                    let k = param(name, node, "weight")?;
                    let ks: [usize; 4] = match k.shape[..] {
                        [a, b, y, x] if !conv1 => [a, b, y, x],
                        [a, b, x] if conv1 => [a, b, 1, x],
                        _ => {
                            return Err(unsupported(
                                name,
                                node,
                                format!("weight of shape {:?}", k.shape),
                            ));
                        }
                    };
                    let groups = node
                        .params
                        .get("groups")
                        .and_then(|g| g.data.first().copied())
                        .unwrap_or(1.0);
                    let fits = (1.0..65536.0).contains(&groups)
                        && groups.fract() == 0.0
                        && c.is_multiple_of(groups as usize)
                        && ks[0].is_multiple_of(groups as usize)
                        && ks[1] * groups as usize == c;
                    if !fits {
                        return Err(unsupported(
                            name,
                            node,
                            format!(
                                "groups {groups} and weight {:?} do not fit {c} input channels",
                                k.shape
                            ),
                        ));
                    }
                    let bias = match node.params.get("bias") {
                        Some(_) => per_neuron(name, node, "bias", ks[0])?,
                        None => vec![0.0; ks[0]],
                    };
                    (k.data.clone(), ks, groups as usize, bias)
                } else {
                    let k = usize_pair(name, node, "kernel_size", 1)?;
                    let v = if node.kind == "AvgPool2d" {
                        1.0 / (k[0] * k[1]) as f64
                    } else {
                        1.0
                    };
                    (
                        vec![v; c * k[0] * k[1]],
                        [c, 1, k[0], k[1]],
                        c,
                        vec![0.0; c],
                    )
                };
                if kernel.iter().any(|x| !x.is_finite()) || ks.contains(&0) {
                    return Err(unsupported(name, node, "an empty or non-finite kernel"));
                }
                let stride = pair("stride", 1)?;
                let padding = pair("padding", 0)?;
                let dilation = pair("dilation", 1)?;
                if stride.contains(&0) || dilation.contains(&0) {
                    return Err(unsupported(name, node, "a stride or dilation of 0"));
                }
                let Some(out) = conv_out([c, h, w], ks, stride, padding, dilation) else {
                    return Err(unsupported(
                        name,
                        node,
                        format!("its kernel does not fit the input {shape:?}"),
                    ));
                };
                ops.push((
                    name.clone(),
                    Op::Conv {
                        kernel,
                        ks,
                        stride,
                        padding,
                        dilation,
                        groups,
                        bias,
                        in_shape: [c, h, w],
                    },
                ));
                shape = out.to_vec();
                rank = if conv1 { 2 } else { 3 };
            }
            "LIF" | "CubaLIF" | "IF" | "Threshold" => {
                if ops.is_empty() {
                    return Err(unsupported(
                        name,
                        node,
                        "follows another neuron or the Input directly; put a linear node (Affine, Linear, Conv, ...) before it",
                    ));
                }
                let nrn = n;
                if let Some(r) = node.params.get("v_reset")
                    && r.data.iter().any(|&x| x != 0.0)
                {
                    return Err(unsupported(
                        name,
                        node,
                        "a non-zero v_reset; Loihi 2's LIF resets v to 0",
                    ));
                }
                let alpha = |tau: f64| -> Result<f64, NirError> {
                    if tau.is_nan() || tau <= 0.0 {
                        return Err(unsupported(
                            name,
                            node,
                            format!("a time constant of {tau} s"),
                        ));
                    }
                    Ok((-dt_s / tau).exp())
                };
                let (a_syn, a_mem, gain, leak_gain, syn_current, vth) = match node.kind.as_str() {
                    "LIF" => {
                        let a = alpha(uniform(name, node, "tau", nrn)?)?;
                        let r = uniform(name, node, "r", nrn)?;
                        (
                            0.0,
                            a,
                            (1.0 - a) * r,
                            1.0 - a,
                            false,
                            uniform(name, node, "v_threshold", nrn)?,
                        )
                    }
                    "CubaLIF" => {
                        let s = alpha(uniform(name, node, "tau_syn", nrn)?)?;
                        let a = alpha(uniform(name, node, "tau_mem", nrn)?)?;
                        let r = uniform(name, node, "r", nrn)?;
                        let w_in = if node.params.contains_key("w_in") {
                            uniform(name, node, "w_in", nrn)?
                        } else {
                            1.0
                        };
                        (
                            s,
                            a,
                            (1.0 - s) * w_in * (1.0 - a) * r,
                            1.0 - a,
                            true,
                            uniform(name, node, "v_threshold", nrn)?,
                        )
                    }
                    "IF" => {
                        let r = uniform(name, node, "r", nrn)?;
                        (
                            0.0,
                            1.0,
                            dt_s * r,
                            0.0,
                            false,
                            uniform(name, node, "v_threshold", nrn)?,
                        )
                    }
                    _ => (
                        0.0,
                        0.0,
                        1.0,
                        0.0,
                        false,
                        uniform(name, node, "threshold", nrn)?,
                    ),
                };
                if vth < 0.0 {
                    return Err(unsupported(
                        name,
                        node,
                        format!("a negative threshold {vth}; Loihi 2's LIF threshold is 0 or more"),
                    ));
                }
                let v_leak = if node.params.contains_key("v_leak") {
                    per_neuron(name, node, "v_leak", nrn)?
                } else {
                    vec![0.0; nrn]
                };
                // The segment as one affine map: its bias is its output for a zero input.
                let in_n: usize = seg_in.iter().product();
                let zero = ops
                    .iter()
                    .fold(vec![0.0; in_n], |x, (_, op)| op.apply(&x, true));
                if zero.len() != nrn {
                    return Err(unsupported(
                        name,
                        node,
                        format!("has {nrn} neurons, its input gives {}", zero.len()),
                    ));
                }
                if syn_current && zero.iter().any(|&b| b != 0.0) {
                    return Err(unsupported(
                        name,
                        node,
                        "its input has a bias; Loihi 2's CUBA LIF adds its bias to v, not to the synaptic current",
                    ));
                }
                let bias: Vec<f64> = zero
                    .iter()
                    .zip(&v_leak)
                    .map(|(b, l)| gain * b + leak_gain * l)
                    .collect();
                let names: Vec<String> = ops.iter().map(|(n, _)| n.clone()).collect();
                let single_conv = match &ops[..] {
                    [
                        (
                            _,
                            Op::Conv {
                                kernel,
                                ks,
                                stride,
                                padding,
                                dilation,
                                groups,
                                in_shape,
                                ..
                            },
                        ),
                    ] => Some(FloatSynapse::Conv {
                        kernel: kernel.iter().map(|k| k * gain).collect(),
                        kernel_shape: *ks,
                        stride: *stride,
                        padding: *padding,
                        dilation: *dilation,
                        groups: *groups,
                        in_shape: *in_shape,
                    }),
                    _ => None,
                };
                if single_conv.is_some() && ops.iter().any(|(_, op)| matches!(op, Op::Delay(_))) {
                    return Err(unsupported(
                        name,
                        node,
                        "a Delay in front of a convolution; Lava's Conv has no delays",
                    ));
                }
                let synapse = match single_conv {
                    Some(s) => s,
                    None if shape.len() == 1 => {
                        let work = ops
                            .iter()
                            .map(|(_, op)| op.work())
                            .fold(0usize, usize::saturating_add);
                        if in_n.saturating_mul(nrn) > MAX_DENSE_ELEMENTS
                            || in_n.saturating_mul(work) > MAX_COMPOSE_WORK
                        {
                            return Err(unsupported(
                                name,
                                node,
                                format!(
                                    "its inputs ({}) compose into a dense matrix of {in_n} x {nrn}, over {MAX_DENSE_ELEMENTS} weights or {MAX_COMPOSE_WORK} operations to compose",
                                    names.join(", ")
                                ),
                            ));
                        }
                        let mut w = vec![0.0; in_n * nrn];
                        let mut e = vec![0.0; in_n];
                        for j in 0..in_n {
                            e[j] = 1.0;
                            let col = ops.iter().fold(e.clone(), |x, (_, op)| op.apply(&x, false));
                            for (o, v) in col.iter().enumerate() {
                                w[o * in_n + j] = v * gain;
                            }
                            e[j] = 0.0;
                        }
                        let delays = group_delays(&ops, in_n, nrn)
                            .map_err(|why| unsupported(name, node, why))?;
                        FloatSynapse::Dense {
                            n_in: in_n,
                            weights: w,
                            delays,
                        }
                    }
                    None => {
                        return Err(unsupported(
                            name,
                            node,
                            format!(
                                "its inputs ({}) are neither one convolution or pooling nor end in a flat (1-D) output",
                                names.join(", ")
                            ),
                        ));
                    }
                };
                layers.push(FloatLayer {
                    node: name.clone(),
                    kind: node.kind.clone(),
                    linear_nodes: names,
                    synapse,
                    neuron: FloatNeuron {
                        a_syn,
                        a_mem,
                        bias,
                        vth,
                    },
                    shape: shape.clone(),
                });
                ops.clear();
                seg_in = shape.clone();
            }
            "Output" => {
                if !ops.is_empty() {
                    return Err(unsupported(
                        name,
                        node,
                        "follows linear nodes; the last node before the Output must be a spiking neuron (LIF, CubaLIF, IF, Threshold)",
                    ));
                }
                if layers.is_empty() {
                    return Err(unsupported(name, node, "the graph has no neuron node"));
                }
            }
            "LI" | "CubaLI" | "I" => {
                return Err(unsupported(
                    name,
                    node,
                    "a non-spiking neuron (its output is the potential); Lava's CUBA LIF on Loihi 2 sends spikes only",
                ));
            }
            "Delay" => {
                let d = per_neuron(name, node, "delay", n)?;
                let mut steps = Vec::with_capacity(d.len());
                for x in d {
                    let k = (x / dt_s).round();
                    if !(0.0..=f64::from(MAX_DELAY_STEPS)).contains(&k) {
                        return Err(unsupported(
                            name,
                            node,
                            format!(
                                "a delay of {x} s is {k} steps of {dt_s} s; Loihi 2 layers here delay 0 to {MAX_DELAY_STEPS} steps"
                            ),
                        ));
                    }
                    steps.push(k as u32);
                }
                ops.push((name.clone(), Op::Delay(steps)));
            }
            other => {
                return Err(unsupported(
                    name,
                    node,
                    format!(
                        "type `{}` is not supported; supported: Input, Output, Affine, Linear, Scale, Flatten, Conv1d, Conv2d, SumPool2d, AvgPool2d, LIF, CubaLIF, IF, Threshold",
                        crate::printable(other)
                    ),
                ));
            }
        }
    }
    Ok(Lowered {
        dt_s,
        input_shape,
        layers,
    })
}

/// What the float64 reference gives: the output layer's spikes per step (NIR order).
#[derive(Clone, Debug, PartialEq)]
pub struct FloatRun {
    /// `spikes[t][i]`: 0 or 1.
    pub spikes: Vec<Vec<u8>>,
}

/// The synapses' sum; `hist[a]` is what the source sent `a + 1` steps ago.
fn apply_synapse(s: &FloatSynapse, hist: &[Vec<f64>], out_shape: &[usize]) -> Vec<f64> {
    let x = &hist[0];
    match s {
        FloatSynapse::Dense {
            n_in,
            weights,
            delays: None,
        } => weights
            .chunks(*n_in)
            .map(|row| row.iter().zip(x).map(|(a, b)| a * b).sum())
            .collect(),
        FloatSynapse::Dense {
            n_in,
            weights,
            delays: Some(d),
        } => weights
            .chunks(*n_in)
            .zip(d.chunks(*n_in))
            .map(|(row, drow)| {
                row.iter()
                    .zip(drow)
                    .enumerate()
                    .map(|(j, (w, &k))| hist.get(k as usize).map_or(0.0, |h| w * h[j]))
                    .sum()
            })
            .collect(),
        FloatSynapse::Conv {
            kernel,
            kernel_shape,
            stride,
            padding,
            dilation,
            groups,
            in_shape,
        } => {
            let out = [out_shape[0], out_shape[1], out_shape[2]];
            apply_conv(
                x,
                kernel,
                *kernel_shape,
                *stride,
                *padding,
                *dilation,
                *groups,
                *in_shape,
                out,
            )
        }
    }
}

/// Per-synapse delays of a group: `Delay` nodes before its first mixing node (Affine,
/// Linear, a convolution or pooling) delay its inputs, those after its last one its outputs.
fn group_delays(
    ops: &[(String, Op)],
    n_in: usize,
    n_out: usize,
) -> Result<Option<Vec<u32>>, String> {
    let mut d_in = vec![0u32; n_in];
    let mut d_out = vec![0u32; n_out];
    let mut any = false;
    // 0: before mixing; 1: after mixing; 2: a delay after mixing.
    let mut state = 0;
    for (name, op) in ops {
        match op {
            Op::Matrix { .. } | Op::Conv { .. } => {
                if state == 2 {
                    return Err(format!(
                        "the Delay before `{name}` sits between two nodes that mix values; only delays at the start or the end of a group are lowered"
                    ));
                }
                state = 1;
            }
            Op::Delay(k) => {
                any = true;
                let target = if state == 0 {
                    &mut d_in
                } else {
                    state = 2;
                    &mut d_out
                };
                if k.len() != 1 && k.len() != target.len() {
                    return Err(format!(
                        "a Delay of {} values where {} flow",
                        k.len(),
                        target.len()
                    ));
                }
                for (i, t) in target.iter_mut().enumerate() {
                    *t += k[if k.len() == 1 { 0 } else { i }];
                }
            }
            Op::Scale(_) | Op::Flatten => {}
        }
    }
    if !any {
        return Ok(None);
    }
    let mut full = Vec::with_capacity(n_in * n_out);
    for &o in &d_out {
        for &i in &d_in {
            let d = i + o;
            if d > MAX_DELAY_STEPS {
                return Err(format!(
                    "its delays add up to {d} steps; at most {MAX_DELAY_STEPS}"
                ));
            }
            full.push(d);
        }
    }
    Ok(Some(full))
}

/// Runs `lowered` in float64 for `frames.len()` steps: `frames[t]` (NIR order, non-zero is a
/// spike) is the input of step `t + 1`; every layer takes one step (Lava's timing: layer `k`
/// sees in step `t` what layer `k - 1` sent in step `t - 1`). Returns the last layer's spikes.
#[must_use]
pub fn float_run(lowered: &Lowered, frames: &[Vec<f64>]) -> FloatRun {
    let nl = lowered.layers.len();
    let mut u: Vec<Vec<f64>> = lowered
        .layers
        .iter()
        .map(|l| vec![0.0; l.shape.iter().product()])
        .collect();
    let mut v = u.clone();
    let n_in: usize = lowered.input_shape.iter().product();
    // Per source (the input, then each layer): what it sent, the most recent first, as many
    // steps as its consumer's longest delay needs.
    let depth: Vec<usize> = lowered
        .layers
        .iter()
        .map(|l| match &l.synapse {
            FloatSynapse::Dense {
                delays: Some(d), ..
            } => d.iter().copied().max().unwrap_or(0) as usize + 1,
            _ => 1,
        })
        .collect();
    let mut hist: Vec<std::collections::VecDeque<Vec<f64>>> = std::iter::once(vec![0.0; n_in])
        .chain(u.iter().cloned())
        .take(nl)
        .zip(&depth)
        .map(|(z, &d)| std::iter::repeat_n(z, d).collect())
        .collect();
    let mut out = Vec::with_capacity(frames.len());
    for frame in frames {
        let mut now = vec![
            frame
                .iter()
                .map(|&x| f64::from(u8::from(x != 0.0)))
                .collect::<Vec<f64>>(),
        ];
        for k in 0..nl {
            let l = &lowered.layers[k];
            let input = apply_synapse(&l.synapse, hist[k].make_contiguous(), &l.shape);
            let n = &l.neuron;
            let mut s = vec![0.0; input.len()];
            for i in 0..input.len() {
                u[k][i] = n.a_syn * u[k][i] + input[i];
                v[k][i] = n.a_mem * v[k][i] + u[k][i] + n.bias[i];
                if v[k][i] > n.vth {
                    s[i] = 1.0;
                    v[k][i] = 0.0;
                }
            }
            now.push(s);
        }
        out.push(now[nl].iter().map(|&x| x as u8).collect());
        for (k, sent) in now.into_iter().take(nl).enumerate() {
            hist[k].push_front(sent);
            hist[k].truncate(depth[k]);
        }
    }
    FloatRun { spikes: out }
}

fn tensor_i64(shape: Vec<usize>, v: Vec<i64>) -> Tensor {
    Tensor {
        shape,
        data: TensorData::I64(v),
    }
}

fn scalar(v: i64) -> Tensor {
    tensor_i64(Vec::new(), vec![v])
}

/// Quantises `lowered` into netx layers: per layer, weights, bias and threshold are
/// `round(x * 2^e)` with `e` the largest exponent that keeps every weight within ±254, the
/// threshold within Lava's `vth` and the bias within `int16`; `iDecay = round(4096 (1 -
/// a_syn))`, `vDecay = round(4096 (1 - a_mem))`.
///
/// # Errors
/// A layer whose weights are all 0 (or round to 0), or that no exponent fits.
pub fn quantise(lowered: Lowered) -> Result<Lowering, NirError> {
    let mut file_layers = vec![Layer {
        index: 0,
        kind: LayerKind::Input,
        shape: Some(lowered.input_shape.iter().map(|&d| d as i64).collect()),
        neuron: None,
        weight: None,
        weight_rec: None,
        bias: None,
        delay: None,
        conv: None,
    }];
    let mut prev_shape = lowered.input_shape.clone();
    let mut report = Vec::new();
    for l in &lowered.layers {
        let bad = |why: String| NirError::Unsupported {
            node: l.node.clone(),
            kind: l.kind.clone(),
            why,
        };
        let w = match &l.synapse {
            FloatSynapse::Dense { weights, .. } => weights,
            FloatSynapse::Conv { kernel, .. } => kernel,
        };
        let wmax = w.iter().fold(0.0f64, |m, x| m.max(x.abs()));
        if wmax == 0.0 {
            return Err(bad("all its input weights are 0".into()));
        }
        let bmax = l.neuron.bias.iter().fold(0.0f64, |m, x| m.max(x.abs()));
        let mut e = (MAX_WEIGHT / wmax).log2().floor() as i32;
        let fits = |e: i32| {
            let s = 2f64.powi(e);
            (wmax * s).round() <= MAX_WEIGHT
                && (l.neuron.vth * s).round() <= f64::from(i32::MAX >> 6)
                && (bmax * s).round() <= f64::from(i16::MAX)
        };
        let mut tries = 0;
        while !fits(e) && tries < 64 {
            e -= 1;
            tries += 1;
        }
        if !fits(e) {
            return Err(bad(
                "no weight exponent fits its weights, threshold and bias into Loihi 2's ranges"
                    .into(),
            ));
        }
        let s = 2f64.powi(e);
        let wq: Vec<i64> = w.iter().map(|x| (x * s).round() as i64).collect();
        if wq.iter().all(|&x| x == 0) {
            return Err(bad("its weights all round to 0".into()));
        }
        let weight_error_max = w
            .iter()
            .zip(&wq)
            .fold(0.0f64, |m, (x, q)| m.max((x * s - *q as f64).abs()));
        let i_decay = (4096.0 * (1.0 - l.neuron.a_syn)).round() as i64;
        let v_decay = (4096.0 * (1.0 - l.neuron.a_mem)).round() as i64;
        let vth = (l.neuron.vth * s).round() as i64;
        let bq: Vec<i64> = l
            .neuron
            .bias
            .iter()
            .map(|x| (x * s).round() as i64)
            .collect();
        let neuron = Neuron::Cuba(Box::new(CubaNeuron {
            type_name: "CUBA".into(),
            v_th_mant: scalar(vth),
            i_decay: scalar(i_decay),
            v_decay: scalar(v_decay),
            ref_delay: None,
            wgt_exp: None,
            theta: None,
            tau_rho: None,
            scale_rho: None,
            message_bits: None,
        }));
        let shape_i64: Vec<i64> = l.shape.iter().map(|&d| d as i64).collect();
        let mut layer = Layer {
            index: 0,
            kind: LayerKind::Dense,
            shape: Some(shape_i64),
            neuron: Some(neuron),
            weight: None,
            weight_rec: None,
            bias: None,
            delay: None,
            conv: None,
        };
        match &l.synapse {
            FloatSynapse::Dense { n_in, delays, .. } => {
                if let Some(d) = delays {
                    let d = d.iter().map(|&x| i64::from(x)).collect();
                    layer.delay = Some(tensor_i64(vec![l.shape[0], *n_in], d));
                }
                if prev_shape.len() != 1 {
                    file_layers.push(Layer {
                        kind: LayerKind::Flatten,
                        shape: None,
                        neuron: None,
                        ..layer.clone()
                    });
                }
                layer.weight = Some(tensor_i64(vec![l.shape[0], *n_in], wq));
                layer.bias = Some(tensor_i64(vec![bq.len()], bq));
            }
            FloatSynapse::Conv {
                kernel_shape,
                stride,
                padding,
                dilation,
                groups,
                ..
            } => {
                layer.kind = LayerKind::Conv;
                layer.weight = Some(tensor_i64(kernel_shape.to_vec(), wq));
                // The bias in Lava's (x, y, c) order: NIR's (c, h, w) transposed.
                let [c, h, wd] = [l.shape[0], l.shape[1], l.shape[2]];
                let mut lava = vec![0; bq.len()];
                for ci in 0..c {
                    for y in 0..h {
                        for x in 0..wd {
                            lava[(x * h + y) * c + ci] = bq[(ci * h + y) * wd + x];
                        }
                    }
                }
                layer.bias = Some(tensor_i64(vec![wd, h, c], lava));
                let pair = |p: [usize; 2]| tensor_i64(vec![2], vec![p[0] as i64, p[1] as i64]);
                layer.conv = Some(ConvParams {
                    stride: pair(*stride),
                    padding: pair(*padding),
                    dilation: pair(*dilation),
                    groups: scalar(*groups as i64),
                    kernel_size: None,
                    in_channels: None,
                    out_channels: None,
                });
            }
        }
        file_layers.push(layer);
        report.push(LayerQuantisation {
            node: l.node.clone(),
            exponent: e,
            i_decay,
            v_decay,
            vth,
            weight_error_max,
        });
        prev_shape = l.shape.clone();
    }
    for (i, l) in file_layers.iter_mut().enumerate() {
        l.index = i;
    }
    Ok(Lowering {
        lowered,
        file: NetxFile {
            layers: file_layers,
            simulation: None,
        },
        layers: report,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `Input (2, 2, 2) -> Flatten -> Affine (3 x 8) -> LIF -> Output` with the Flatten's
    /// `start_dim` and `end_dim` (absent: NIR's defaults).
    fn graph_with_flatten(dims: &[(&'static str, f64)]) -> Graph {
        let mut g = Graph::default();
        let lif = Node::new(
            "LIF",
            [
                ("tau", Array::vector(vec![5e-3; 3])),
                ("r", Array::vector(vec![1.0; 3])),
                ("v_leak", Array::vector(vec![0.0; 3])),
                ("v_threshold", Array::vector(vec![1.0; 3])),
            ],
        );
        let flatten = Node::new("Flatten", dims.iter().map(|&(k, v)| (k, Array::scalar(v))));
        let nodes = [
            (
                "input",
                Node::new("Input", [("shape", Array::vector(vec![2.0, 2.0, 2.0]))]),
            ),
            ("flat", flatten),
            (
                "fc",
                Node::new(
                    "Affine",
                    [
                        ("weight", Array::new(vec![3, 8], vec![0.5; 24])),
                        ("bias", Array::vector(vec![0.0; 3])),
                    ],
                ),
            ),
            ("lif", lif),
            (
                "output",
                Node::new("Output", [("shape", Array::vector(vec![3.0]))]),
            ),
        ];
        for (k, n) in nodes {
            g.nodes.insert(k.to_string(), n);
        }
        for (s, t) in [
            ("input", "flat"),
            ("flat", "fc"),
            ("fc", "lif"),
            ("lif", "output"),
        ] {
            g.edges.push((s.to_string(), t.to_string()));
        }
        g
    }

    #[test]
    fn a_flatten_into_one_dimension_is_lowered() {
        for dims in [
            &[("start_dim", 0.0), ("end_dim", -1.0)][..],
            &[("start_dim", -3.0), ("end_dim", 2.0)][..],
        ] {
            let l = lower(&graph_with_flatten(dims), 1e-3).expect("a full flatten lowers");
            assert_eq!(l.layers.len(), 1);
            assert!(matches!(
                l.layers[0].synapse,
                FloatSynapse::Dense { n_in: 8, .. }
            ));
        }
    }

    #[test]
    fn a_partial_flatten_is_refused_naming_the_node() {
        for (dims, says) in [
            // NIR's default start_dim 1 keeps the channels: (2, 4).
            (&[][..], "turn [2, 2, 2] into [2, 4]"),
            (&[("start_dim", 1.0), ("end_dim", -1.0)][..], "into [2, 4]"),
            (&[("start_dim", 0.0), ("end_dim", 1.0)][..], "into [4, 2]"),
            (&[("start_dim", 3.0)][..], "`start_dim` 3 is outside"),
            (&[("start_dim", 2.0), ("end_dim", 1.0)][..], "comes after"),
            (&[("start_dim", 0.5)][..], "not one integer"),
        ] {
            let e = lower(&graph_with_flatten(dims), 1e-3)
                .expect_err("a flatten that keeps several dimensions is refused")
                .to_string();
            assert!(e.starts_with("NIR node `flat` (Flatten): "), "{e}");
            assert!(e.contains(says), "{dims:?}: {e}");
            assert!(!e.contains('\n'));
        }
    }

    #[test]
    fn a_flatten_that_changes_nothing_is_kept_out_of_the_way() {
        // start_dim == end_dim leaves the shape as it is; the Affine then takes all 8 values.
        let l = lower(
            &graph_with_flatten(&[("start_dim", 1.0), ("end_dim", 1.0)]),
            1e-3,
        )
        .expect("a no-op flatten lowers");
        assert_eq!(l.layers[0].linear_nodes, ["fc"]);
    }
}
