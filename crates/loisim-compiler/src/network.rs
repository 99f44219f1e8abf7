//! Lowering: the model IR becomes a network of neuron populations, each running one neuron
//! program, joined by projections of synapses that carry graded spikes.
//!
//! Every arithmetic step of the fixed-point forward pass is assigned here, either to a synapse
//! (a product `weight x payload` accumulated into a dendritic port) or to a neuron program:
//!
//! | population | ports (accumulators) | program | outputs (graded spikes) |
//! |---|---|---|---|
//! | `encoder` (H) | 0: `W_enc q_in` | dense finish, ReLU; batch norm of block 0, format change to `u` | `x` (skip), `u` |
//! | `L{l}.ssm` (P) | 0: `B_re u`, 1: `B_im u` | B shifts and saturation, complex recurrence (state `x_re`, `x_im`), complex ReLU | `z_re`, `z_im` |
//! | `L{l}.y` (H) | 0: `C_re z_re`, 1: `C_im z_im`, 2: `D u` (delay 1) | C shifts, difference, factor 2, D term, `y`, ReLU | gate Dense input, gate operand `l` |
//! | `L{l}.gate` (H) | 0: `W_out2 x1`, 1: `l` (identity), 2: skip (identity, delay 2) | gate Dense finish, sigmoid table, gate product, residual, ReLU; batch norm of the next block | `x` (skip), `u` (or the decoder input) |
//! | `decoder` (257) | 0: `W_dec x` | dense finish | mask, to the host |
//!
//! The host injects the input integers. Stages: the host sends at timestep 0, the encoder
//! updates at 1, block `l` at `2 + 3l` (ssm), `3 + 3l` (y), `4 + 3l` (gate), the decoder at
//! `2 + 3L`; a projection's synaptic delay is `stage(dst) - stage(src) - 1`, so paths of
//! different depth (the D term, the residual) meet in the same timestep, in fall-through and in
//! pipeline mode alike. A zero activation sends nothing.

use loisim_model::fxp::{self, Fmt, Observer};
use loisim_model::{Block, Dense, LayerId, Model, SparseMatrix};
use serde::{Deserialize, Serialize};
use std::fmt;

/// Index of a population.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct PopId(pub u32);

impl PopId {
    /// The index as `usize`.
    pub fn index(self) -> usize {
        self.0 as usize
    }
}

/// What a population computes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum PopKind {
    /// Encoder Dense + ReLU (+ the first block's batch norm).
    Encoder,
    /// Complex state neurons of a block.
    Ssm(LayerId),
    /// SSM output neurons of a block.
    SsmOut(LayerId),
    /// GLU gate and residual of a block (+ the next block's batch norm).
    Gate(LayerId),
    /// Decoder Dense.
    Decoder,
}

/// A value format change applied by a program before sending.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Conversion {
    /// Sent as computed.
    None,
    /// `requant` (spec 5.1) in int32.
    Requant {
        /// From.
        from: Fmt,
        /// To.
        to: Fmt,
    },
}

impl Conversion {
    /// Builds the conversion a Dense layer applies to an incoming activation (quirk Q8).
    pub fn for_dense_input(d: &Dense, x: Fmt) -> Self {
        if d.converts_input(x) {
            Conversion::Requant { from: x, to: d.inp }
        } else {
            Conversion::None
        }
    }

    /// A plain format change (none if equal).
    pub fn requant(from: Fmt, to: Fmt) -> Self {
        if from == to {
            Conversion::None
        } else {
            Conversion::Requant { from, to }
        }
    }

    /// Applies the conversion.
    pub fn apply(&self, v: i64) -> i64 {
        self.apply_o(v, &mut ())
    }

    /// Applies the conversion, reporting saturations and wraps.
    #[inline]
    pub fn apply_o(&self, v: i64, o: &mut impl Observer) -> i64 {
        match *self {
            Conversion::None => v,
            Conversion::Requant { from, to } => fxp::requant_o(v, from, to, fxp::Width::Int32, o),
        }
    }

    /// Format of the converted value, given the unconverted one.
    pub fn out_fmt(&self, x: Fmt) -> Fmt {
        match *self {
            Conversion::None => x,
            Conversion::Requant { to, .. } => to,
        }
    }
}

/// Completion of a Dense layer in a neuron: `y = sat(sat(wrap32(acc) >> shift) + bias')` where
/// `bias' = sat_b(wrap32(align(bias)))` is folded at compile time.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DenseFinish {
    /// Right shift of the accumulated product.
    pub shift: u32,
    /// Output width.
    pub out_bits: u32,
    /// Aligned, saturated bias per neuron.
    pub bias: Vec<i64>,
}

impl DenseFinish {
    fn new(d: &Dense, x: Fmt) -> Self {
        let ex = d.effective_input(x).exp;
        let shift = (ex + d.weight.fmt().exp - d.out.exp) as u32;
        let bias = (0..d.bias.len())
            .map(|j| {
                fxp::sat(
                    fxp::wrap32(fxp::align(d.bias.get(j), d.bias.fmt.exp, d.out.exp)),
                    d.bias.fmt.bits,
                )
            })
            .collect();
        Self {
            shift,
            out_bits: d.out.bits,
            bias,
        }
    }

    /// The layer output of neuron `j` from its accumulated product.
    #[inline]
    pub fn apply(&self, j: usize, acc: i64, o: &mut impl Observer) -> i64 {
        let z = fxp::sat_o(
            fxp::shr(fxp::wrap32_o(acc, o), self.shift),
            self.out_bits,
            o,
        );
        fxp::sat_o(z + self.bias[j], self.out_bits, o)
    }
}

/// A batch norm applied in the neuron that produces the block input, ending with the format
/// change to the SSM input `u` (spec 6.2, 6.3).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct BnStep {
    /// Format of the block input.
    pub x: Fmt,
    /// `-mean` per channel and its format.
    pub minus_mean: Vec<i64>,
    /// Format of `minus_mean`.
    pub mm_fmt: Fmt,
    /// Result of the subtraction.
    pub sub: Fmt,
    /// `invsq_var` per channel.
    pub invsq: Vec<i64>,
    /// Its format.
    pub inv_fmt: Fmt,
    /// Result of the multiply.
    pub mul: Fmt,
    /// Affine terms: scale, its format, result of the multiply; bias, its format, result.
    pub affine: Option<BnAffine>,
    /// SSM input format.
    pub u: Fmt,
}

/// Affine batch-norm terms.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct BnAffine {
    /// gamma.
    pub scale: Vec<i64>,
    /// Its format.
    pub scale_fmt: Fmt,
    /// Multiply result.
    pub mul_scale: Fmt,
    /// beta.
    pub bias: Vec<i64>,
    /// Its format.
    pub bias_fmt: Fmt,
    /// Add result.
    pub add_bias: Fmt,
}

impl BnStep {
    fn new(b: &Block, x: Fmt) -> Self {
        let n = &b.norm;
        let vals = |v: &loisim_model::Vector| (0..v.len()).map(|i| v.get(i)).collect::<Vec<_>>();
        Self {
            x,
            minus_mean: vals(&n.minus_mean),
            mm_fmt: n.minus_mean.fmt,
            sub: n.sub,
            invsq: vals(&n.invsq_var),
            inv_fmt: n.invsq_var.fmt,
            mul: n.mul,
            affine: n.affine.as_ref().map(|a| BnAffine {
                scale: vals(&a.scale),
                scale_fmt: a.scale.fmt,
                mul_scale: a.mul_scale,
                bias: vals(&a.bias),
                bias_fmt: a.bias.fmt,
                add_bias: a.add_bias,
            }),
            u: b.ssm.u,
        }
    }

    /// `u` for channel `h` from the block input `x`.
    #[inline]
    pub fn apply(&self, h: usize, x: i64, o: &mut impl Observer) -> i64 {
        let v = fxp::add_rt_o(x, self.x, self.minus_mean[h], self.mm_fmt, self.sub, o);
        let mut v = fxp::mul_o(
            v,
            self.sub.exp,
            self.invsq[h],
            self.inv_fmt.exp,
            self.mul,
            o,
        );
        let mut f = self.mul;
        if let Some(a) = &self.affine {
            let m = fxp::mul_o(v, self.mul.exp, a.scale[h], a.scale_fmt.exp, a.mul_scale, o);
            v = fxp::add_rt_o(m, a.mul_scale, a.bias[h], a.bias_fmt, a.add_bias, o);
            f = a.add_bias;
        }
        fxp::requant_o(v, f, self.u, fxp::Width::Int32, o)
    }
}

/// The program a population's neurons run once per token.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum NeuronProgram {
    /// Encoder: dense finish, ReLU, then block 0's batch norm. Outputs `[x, u]`, or
    /// `[decoder input]` for a model without blocks.
    Encoder {
        /// Dense completion.
        dense: DenseFinish,
        /// Batch norm of block 0 (none without blocks).
        bn: Option<BnStep>,
        /// Conversion for the decoder (a model without blocks).
        dec_in: Conversion,
    },
    /// Complex state update. Outputs `[z_re, z_im]`.
    Ssm {
        /// B_re shift and output width.
        bu_re: (u32, u32),
        /// B_im shift and output width.
        bu_im: (u32, u32),
        /// Formats of `Bu_re`, `Bu_im`, `x_re`, `x_im` (for the alignment).
        fmts: [Fmt; 4],
        /// Lambda_bar real parts.
        lambda_re: Vec<i64>,
        /// Lambda_bar imaginary parts.
        lambda_im: Vec<i64>,
        /// Exponents of Lambda_bar re / im (the product shifts).
        e_ar: u32,
        /// See `e_ar`.
        e_ai: u32,
    },
    /// SSM output. Outputs `[gate Dense input, l]`.
    SsmOut {
        /// C_re shift.
        sh_re: u32,
        /// C_im shift.
        sh_im: u32,
        /// D term shift.
        sh_d: u32,
        /// Width of `y`.
        y_bits: u32,
        /// Conversion of ReLU(y) for the gate Dense (quirk Q8).
        out2_in: Conversion,
        /// Conversion of ReLU(y) to the gate operand `l`.
        l: Conversion,
    },
    /// Gate and residual. Outputs `[x, u]`, or `[decoder input]` for the last block.
    Gate {
        /// Gate Dense completion.
        dense: DenseFinish,
        /// Sigmoid table.
        sigmoid: loisim_model::Sigmoid,
        /// Exponent of the gate pre-activation.
        e_go: i32,
        /// Format of the sigmoid output.
        s_fmt: Fmt,
        /// Gate formats `l`, `r`, `res`.
        gate: [Fmt; 3],
        /// Format of the skip (block input).
        skip: Fmt,
        /// Result of the residual add.
        residual: Fmt,
        /// The next block's batch norm (none for the last block).
        bn: Option<BnStep>,
        /// Conversion of the last block's output for the decoder (quirk Q8).
        dec_in: Conversion,
    },
    /// Decoder. Outputs `[mask]`.
    Decoder {
        /// Dense completion.
        dense: DenseFinish,
    },
}

impl NeuronProgram {
    /// Dendritic ports the program reads (its inputs `x[0..n_ports]`).
    pub fn n_ports(&self) -> usize {
        match self {
            NeuronProgram::Encoder { .. } | NeuronProgram::Decoder { .. } => 1,
            NeuronProgram::Ssm { .. } => 2,
            NeuronProgram::SsmOut { .. } | NeuronProgram::Gate { .. } => 3,
        }
    }

    /// Output channels the program writes.
    pub fn n_channels(&self) -> usize {
        match self {
            NeuronProgram::Encoder { bn, .. } | NeuronProgram::Gate { bn, .. } => {
                if bn.is_some() {
                    2
                } else {
                    1
                }
            }
            NeuronProgram::Ssm { .. } | NeuronProgram::SsmOut { .. } => 2,
            NeuronProgram::Decoder { .. } => 1,
        }
    }

    /// Ports whose value the program needs exactly, not modulo 2^32: the fixed-point spec
    /// shifts the exact `D[h] * u[h]` product before it wraps (spec 5.5, 6.9), so the chip
    /// reproduces it only when the product fits the dendritic accumulator.
    pub fn exact_ports(&self) -> &'static [u32] {
        match self {
            NeuronProgram::SsmOut { .. } => &[2],
            _ => &[],
        }
    }

    /// Instructions per active neuron update: the count derived from the program's description
    /// ([`crate::to_ir::program`]) by the rule that prices every IR network,
    /// [`loisim_net::NeuronProgram::instructions`] (every operation, load, state store and send
    /// counts one). Builds the description on each call (a few dozen operations).
    pub fn instructions(&self) -> u32 {
        crate::to_ir::instructions(self)
    }

    /// Persistent state bits per neuron (values kept from one token to the next).
    pub fn state_bits(&self) -> u32 {
        match self {
            NeuronProgram::Ssm { .. } => 64,
            _ => 0,
        }
    }

    /// Per-neuron constant bits (biases, batch-norm constants, Lambda_bar).
    pub fn constant_bits(&self) -> u32 {
        let bn = |b: &BnStep| {
            b.mm_fmt.bits
                + b.inv_fmt.bits
                + b.affine
                    .as_ref()
                    .map_or(0, |a| a.scale_fmt.bits + a.bias_fmt.bits)
        };
        match self {
            NeuronProgram::Encoder { dense, bn: b, .. } => {
                dense.out_bits + b.as_ref().map_or(0, bn)
            }
            NeuronProgram::Ssm { fmts: _, .. } => 32,
            NeuronProgram::SsmOut { .. } => 0,
            NeuronProgram::Gate { dense, bn: b, .. } => dense.out_bits + b.as_ref().map_or(0, bn),
            NeuronProgram::Decoder { dense } => dense.out_bits,
        }
    }

    /// Program-wide constant bits stored once per core (shifts, formats, the sigmoid table).
    pub fn shared_bits(&self) -> u32 {
        match self {
            NeuronProgram::Gate { .. } => 8 * 16 + 16 * 8,
            _ => 16 * 8,
        }
    }
}

/// One output of a population's neurons.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Channel {
    /// What it carries.
    pub name: String,
    /// Format of the values.
    pub fmt: Fmt,
    /// Graded-spike payload width, bits.
    pub payload_bits: u32,
}

/// A group of neurons running the same program.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Population {
    /// What it computes.
    pub kind: PopKind,
    /// Display name (`encoder`, `L1.ssm`, ...).
    pub name: String,
    /// Neurons.
    pub n_neurons: u32,
    /// Timestep (within a token's journey) at which the neurons update.
    pub stage: u32,
    /// Dendritic ports per neuron, each with its synaptic delay.
    pub port_delays: Vec<u32>,
    /// Outputs.
    pub channels: Vec<Channel>,
    /// The program.
    pub program: NeuronProgram,
}

/// Where a projection's spikes come from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Source {
    /// The host (model input).
    Host,
    /// A population's output channel.
    Pop(PopId, u32),
}

/// Synapses from a source to one port of a population.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Projection {
    /// Display name (`L0.B_re`, ...).
    pub name: String,
    /// Source.
    pub src: Source,
    /// Destination population.
    pub dst: PopId,
    /// Destination port.
    pub port: u32,
    /// Weights, `n_in` = source width, `n_out` = destination neurons.
    pub weights: SparseMatrix,
    /// Synaptic delay, timesteps.
    pub delay: u32,
}

/// The lowered model.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Network {
    /// Populations, indexed by [`PopId`].
    pub populations: Vec<Population>,
    /// Projections.
    pub projections: Vec<Projection>,
    /// Host input: width.
    pub input_width: u32,
    /// Format of the input integers the host receives.
    pub input_fmt: Fmt,
    /// Host input payload bits.
    pub input_payload_bits: u32,
    /// Conversion the host applies to the input (the encoder's input rule).
    pub input_conversion: Conversion,
    /// The population and channel whose values go to the host.
    pub output: (PopId, u32),
    /// Timesteps a token takes from injection to the decoder's update (fall-through latency).
    pub depth: u32,
}

/// Why lowering failed.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum LowerError {
    /// A weight wider than the synapses hold.
    #[error("{name}: {bits}-bit weights; a synapse holds at most {max} bits")]
    WeightBits {
        /// Projection.
        name: String,
        /// Its weight width.
        bits: u32,
        /// The chip's limit.
        max: u32,
    },
    /// A value wider than any graded payload.
    #[error("{name}: {bits}-bit values do not fit any graded spike payload ({payloads:?})")]
    Payload {
        /// Channel.
        name: String,
        /// Value width.
        bits: u32,
        /// Supported widths.
        payloads: Vec<u32>,
    },
    /// The model is invalid.
    #[error("invalid model: {0}")]
    Model(#[from] loisim_model::ModelError),
}

fn identity(n: usize) -> SparseMatrix {
    // A diagonal of ones; from_fn cannot fail for values 0 and 1 in 2 bits.
    SparseMatrix::from_fn(n, n, Fmt::new(2, 0), |o, i| i64::from(o == i))
        .unwrap_or_else(|e| panic!("identity: {e}"))
}

fn diagonal(v: &loisim_model::Vector) -> SparseMatrix {
    SparseMatrix::from_fn(
        v.len(),
        v.len(),
        v.fmt,
        |o, i| if o == i { v.get(i) } else { 0 },
    )
    .unwrap_or_else(|e| panic!("diagonal of a validated vector: {e}"))
}

/// Lowers a model to a network. `payloads` are the supported graded payload widths and
/// `max_weight_bits` the widest synaptic weight.
pub fn lower(model: &Model, payloads: &[u32], max_weight_bits: u32) -> Result<Network, LowerError> {
    model.validate()?;
    let (h, p) = (model.dims.d_model, model.dims.d_state);
    let n_layers = model.layers.len() as u32;
    let payload = |name: &str, bits: u32| -> Result<u32, LowerError> {
        payloads
            .iter()
            .copied()
            .filter(|&w| w >= bits)
            .min()
            .ok_or_else(|| LowerError::Payload {
                name: name.to_string(),
                bits,
                payloads: payloads.to_vec(),
            })
    };
    let chan = |name: &str, fmt: Fmt| -> Result<Channel, LowerError> {
        Ok(Channel {
            name: name.to_string(),
            fmt,
            payload_bits: payload(name, fmt.bits)?,
        })
    };
    let mut pops: Vec<Population> = Vec::new();
    let mut projs: Vec<Projection> = Vec::new();
    let input_conversion = Conversion::for_dense_input(&model.encoder, model.input.fmt);
    let in_fmt = input_conversion.out_fmt(model.input.fmt);
    // Encoder.
    let enc = PopId(0);
    let bn0 = model
        .layers
        .first()
        .map(|b| BnStep::new(b, model.encoder.out));
    let dec_conv0 = Conversion::for_dense_input(&model.decoder, model.encoder.out);
    let enc_channels = match &bn0 {
        Some(b) => vec![
            chan("encoder.x", model.encoder.out)?,
            chan("encoder.u", b.u)?,
        ],
        None => vec![chan("encoder.x", dec_conv0.out_fmt(model.encoder.out))?],
    };
    pops.push(Population {
        kind: PopKind::Encoder,
        name: "encoder".into(),
        n_neurons: h,
        stage: 1,
        port_delays: vec![0],
        channels: enc_channels,
        program: NeuronProgram::Encoder {
            dense: DenseFinish::new(&model.encoder, model.input.fmt),
            bn: bn0,
            dec_in: if model.layers.is_empty() {
                dec_conv0
            } else {
                Conversion::None
            },
        },
    });
    projs.push(Projection {
        name: "encoder.W".into(),
        src: Source::Host,
        dst: enc,
        port: 0,
        weights: model.encoder.weight.clone(),
        delay: 0,
    });
    // The (population, channel) that carries the current block input `x` and `u`.
    let mut x_src = (enc, 0u32);
    let mut u_src = (enc, 1u32);
    let mut x_stage = 1u32;
    for (l, b) in model.layers.iter().enumerate() {
        let lid = LayerId(l as u32);
        let base = 2 + 3 * l as u32;
        let x_fmt = model.layer_input(l);
        let s = &b.ssm;
        // SSM neurons.
        let ssm = PopId(pops.len() as u32);
        pops.push(Population {
            kind: PopKind::Ssm(lid),
            name: format!("L{l}.ssm"),
            n_neurons: p,
            stage: base,
            port_delays: vec![0, 0],
            channels: vec![
                chan(&format!("L{l}.z_re"), Fmt::new(32, s.x_re.exp))?,
                chan(&format!("L{l}.z_im"), Fmt::new(32, s.x_im.exp))?,
            ],
            program: NeuronProgram::Ssm {
                bu_re: (
                    (s.u.exp + s.b_re.fmt().exp - s.bu_re.exp) as u32,
                    s.bu_re.bits,
                ),
                bu_im: (
                    (s.u.exp + s.b_im.fmt().exp - s.bu_im.exp) as u32,
                    s.bu_im.bits,
                ),
                fmts: [s.bu_re, s.bu_im, s.x_re, s.x_im],
                lambda_re: (0..s.lambda_re.len()).map(|i| s.lambda_re.get(i)).collect(),
                lambda_im: (0..s.lambda_im.len()).map(|i| s.lambda_im.get(i)).collect(),
                e_ar: s.lambda_re.fmt.exp as u32,
                e_ai: s.lambda_im.fmt.exp as u32,
            },
        });
        projs.push(Projection {
            name: format!("L{l}.B_re"),
            src: Source::Pop(u_src.0, u_src.1),
            dst: ssm,
            port: 0,
            weights: s.b_re.clone(),
            delay: 0,
        });
        projs.push(Projection {
            name: format!("L{l}.B_im"),
            src: Source::Pop(u_src.0, u_src.1),
            dst: ssm,
            port: 1,
            weights: s.b_im.clone(),
            delay: 0,
        });
        // SSM output neurons.
        let y = PopId(pops.len() as u32);
        let out2_in = Conversion::for_dense_input(&b.out2, s.y);
        let l_conv = Conversion::requant(s.y, b.multgate.l);
        pops.push(Population {
            kind: PopKind::SsmOut(lid),
            name: format!("L{l}.y"),
            n_neurons: h,
            stage: base + 1,
            port_delays: vec![0, 0, base + 1 - x_stage - 1],
            channels: vec![
                chan(&format!("L{l}.x1"), out2_in.out_fmt(s.y))?,
                chan(&format!("L{l}.l"), b.multgate.l)?,
            ],
            program: NeuronProgram::SsmOut {
                sh_re: (s.x_re.exp + s.c_re.fmt().exp - s.y.exp) as u32,
                sh_im: (s.x_im.exp + s.c_im.fmt().exp - s.y.exp) as u32,
                sh_d: (s.d.fmt.exp + s.u.exp - s.y.exp) as u32,
                y_bits: s.y.bits,
                out2_in,
                l: l_conv,
            },
        });
        projs.push(Projection {
            name: format!("L{l}.C_re"),
            src: Source::Pop(ssm, 0),
            dst: y,
            port: 0,
            weights: s.c_re.clone(),
            delay: 0,
        });
        projs.push(Projection {
            name: format!("L{l}.C_im"),
            src: Source::Pop(ssm, 1),
            dst: y,
            port: 1,
            weights: s.c_im.clone(),
            delay: 0,
        });
        projs.push(Projection {
            name: format!("L{l}.D"),
            src: Source::Pop(u_src.0, u_src.1),
            dst: y,
            port: 2,
            weights: diagonal(&s.d),
            delay: base + 1 - x_stage - 1,
        });
        // Gate neurons.
        let g = PopId(pops.len() as u32);
        let last = l + 1 == model.layers.len();
        let next_bn = model
            .layers
            .get(l + 1)
            .map(|nb| BnStep::new(nb, b.residual));
        let dec_in = if last {
            Conversion::for_dense_input(&model.decoder, b.residual)
        } else {
            Conversion::None
        };
        let channels = if last {
            vec![chan(&format!("L{l}.out"), dec_in.out_fmt(b.residual))?]
        } else {
            vec![
                chan(&format!("L{l}.x"), b.residual)?,
                chan(&format!("L{l}.u"), model.layers[l + 1].ssm.u)?,
            ]
        };
        let gate_stage = base + 2;
        pops.push(Population {
            kind: PopKind::Gate(lid),
            name: format!("L{l}.gate"),
            n_neurons: h,
            stage: gate_stage,
            port_delays: vec![0, 0, gate_stage - x_stage - 1],
            channels,
            program: NeuronProgram::Gate {
                dense: DenseFinish::new(&b.out2, s.y),
                sigmoid: b.sigmoid,
                e_go: b.out2.out.exp,
                s_fmt: Fmt::new(b.out2.out.bits, b.sigmoid.y_exp),
                gate: [b.multgate.l, b.multgate.r, b.multgate.res],
                skip: x_fmt,
                residual: b.residual,
                bn: next_bn,
                dec_in,
            },
        });
        projs.push(Projection {
            name: format!("L{l}.out2"),
            src: Source::Pop(y, 0),
            dst: g,
            port: 0,
            weights: b.out2.weight.clone(),
            delay: 0,
        });
        projs.push(Projection {
            name: format!("L{l}.l"),
            src: Source::Pop(y, 1),
            dst: g,
            port: 1,
            weights: identity(h as usize),
            delay: 0,
        });
        projs.push(Projection {
            name: format!("L{l}.skip"),
            src: Source::Pop(x_src.0, x_src.1),
            dst: g,
            port: 2,
            weights: identity(h as usize),
            delay: gate_stage - x_stage - 1,
        });
        x_src = (g, 0);
        u_src = (g, 1);
        x_stage = gate_stage;
    }
    // Decoder.
    let dec = PopId(pops.len() as u32);
    let dec_stage = 2 + 3 * n_layers;
    pops.push(Population {
        kind: PopKind::Decoder,
        name: "decoder".into(),
        n_neurons: model.dims.d_output,
        stage: dec_stage,
        port_delays: vec![0],
        channels: vec![chan("mask", model.decoder.out)?],
        program: NeuronProgram::Decoder {
            dense: DenseFinish::new(&model.decoder, model.decoder_input()),
        },
    });
    projs.push(Projection {
        name: "decoder.W".into(),
        src: Source::Pop(x_src.0, x_src.1),
        dst: dec,
        port: 0,
        weights: model.decoder.weight.clone(),
        delay: dec_stage - x_stage - 1,
    });
    for pr in &projs {
        if pr.weights.fmt().bits > max_weight_bits && pr.weights.nnz() > 0 {
            let needed = bits_needed(&pr.weights);
            if needed > max_weight_bits {
                return Err(LowerError::WeightBits {
                    name: pr.name.clone(),
                    bits: pr.weights.fmt().bits,
                    max: max_weight_bits,
                });
            }
        }
    }
    Ok(Network {
        populations: pops,
        projections: projs,
        input_width: model.dims.d_input,
        input_fmt: model.input.fmt,
        input_payload_bits: payload("input", in_fmt.bits)?,
        input_conversion,
        output: (dec, 0),
        depth: dec_stage + 1,
    })
}

/// The narrowest signed width that holds every weight of a matrix (at least 2).
pub fn bits_needed(m: &SparseMatrix) -> u32 {
    let mut bits = 2;
    for (_, _, w) in m.entries() {
        while !Fmt::new(bits, 0).contains(w) {
            bits += 1;
        }
    }
    bits
}

impl Network {
    /// A population by id.
    pub fn pop(&self, id: PopId) -> &Population {
        &self.populations[id.index()]
    }

    /// Projections whose source is `(pop, channel)`.
    pub fn projections_from(&self, src: Source) -> impl Iterator<Item = (usize, &Projection)> {
        self.projections
            .iter()
            .enumerate()
            .filter(move |(_, p)| p.src == src)
    }

    /// The width of a source (neurons of a population, or the input width).
    pub fn source_width(&self, src: Source) -> u32 {
        match src {
            Source::Host => self.input_width,
            Source::Pop(p, _) => self.pop(p).n_neurons,
        }
    }

    /// Payload bits of a source.
    pub fn source_payload_bits(&self, src: Source) -> u32 {
        match src {
            Source::Host => self.input_payload_bits,
            Source::Pop(p, c) => self.pop(p).channels[c as usize].payload_bits,
        }
    }
}

impl fmt::Display for PopId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "pop{}", self.0)
    }
}
