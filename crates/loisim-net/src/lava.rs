//! Lava's fixed-point LIF neuron and Dense synapse, its fixed-point Conv ([`LavaConv`]) and
//! its sigma-delta neurons ([`sigma_delta`], [`delta`], [`sigma`]), written in the IR with
//! Lava's exact integer semantics.
//!
//! The reference is lava-nc v0.10.0, as run by lava-dl v0.6.0's netx blocks:
//! `PyLifModelBitAcc` (`src/lava/proc/lif/models.py`, with `AbstractPyLifModelFixed`),
//! `PyDenseModelBitAcc` (`src/lava/proc/dense/models.py`), the weight helpers
//! `clip_weights` and `truncate_weights` (`src/lava/utils/weightutils.py`), and the dtypes the
//! process builder and the channels give the data (`src/lava/magma/compiler/builders/
//! py_builder.py`, `src/lava/magma/compiler/channels/pypychannel.py`,
//! `src/lava/magma/core/model/py/ports.py`). Every trap below is pinned by a unit test of this
//! module and listed in `docs/networks.md`.
//!
//! # The LIF neuron ([`cuba_lif`])
//!
//! One timestep, all values Lava's `int32` unless said otherwise:
//! 1. `a_in`: the sum of the Dense outputs that reach the neuron (each Dense's own output is
//!    already shifted by its `weight_exp`, see below), added in `int32`.
//! 2. `u = trunc(u (4096 - (du + 1)) / 2^12) + (a_in << 6)`: the current decay constant is
//!    `du + 1` (Loihi 1's `ds_offset`), so `du = 0` still decays and `du = 4095` forgets `u`
//!    entirely; the product is shifted as a magnitude (`sign(x) * (|x| >> 12)`, toward zero);
//!    the input is shifted left by 6 (`act_shift`) in `int32`, wrapping, and added in `int32`,
//!    wrapping.
//! 3. `u` is folded once into 24 bits, not wrapped: above `2^23` it loses `2^24`, at or below
//!    `-2^23` it gains `2^24`. So `2^23` stays `2^23` and `-2^23` becomes `+2^23`, both outside
//!    the signed 24-bit range.
//! 4. `v = clip(trunc(v (4096 - dv) / 2^12) + u + bias, -(2^23 - 1), 2^23 - 1)`: no offset on
//!    the voltage decay (`dm_offset = 0`), the new `u` is added (not the old one), the sum is
//!    `int32` (wrapping) and then clipped, symmetrically, to `±(2^23 - 1)`.
//! 5. `bias = bias_mant << bias_exp` when `bias_exp >= 0`, else `bias_mant >> -bias_exp`
//!    (floor).
//! 6. A spike when `v > vth << 6` (strictly; `vth_shift = 6`); a spiking neuron's `v` becomes
//!    0, its `u` is kept. The spike is binary.
//!
//! `u` and `v` are 32-bit state variables (Lava stores them as `int32`; the 24-bit range is
//! only what the fold and the clip keep them in). The constant parts of the update are
//! computed once, on the host, into the per-neuron parameters ([`cuba_lif_params`]):
//! `u_keep = 4096 - (du + 1)`, `v_keep = 4096 - dv`, `bias` (the scaled bias) and
//! `vth = vth << 6`, as Lava computes them every timestep from constants.
//!
//! # The Dense synapse ([`LavaDense`])
//!
//! 1. The weights are Lava's `int32` array, clipped and truncated once (`clip_weights`,
//!    `truncate_weights`) by sign mode (given, or determined from the weights: all `>= 0`
//!    excitatory, all `<= 0` inhibitory, else mixed): clipped to `[-256, 255]` (mixed),
//!    `[0, 255]` (excitatory, and the null mode) or `[-255, 0]` (inhibitory); then
//!    `8 - num_weight_bits + mixed` low bits are cleared, rounding down (floor) for mixed and
//!    excitatory weights and toward zero for inhibitory ones. With the default 8 weight bits a
//!    mixed-sign matrix loses its lowest bit: `3` becomes `2` and `-3` becomes `-4`.
//! 2. Each timestep Dense sums its weights over the binary spikes received (in `int64`), or
//!    the weights times the graded payloads (in `int32`, wrapping), then shifts **the sum**:
//!    left by `weight_exp` when it is positive, else right by `-weight_exp`, rounding down.
//!    The result is sent as `int32` (wrapping) one timestep later: a spike sent in timestep `t`
//!    reaches the neuron in `t + 1`, which is the IR's delay 0.
//!
//! `weight_exp` cannot be a property of the IR's synapses: a synapse adds `weight x payload`,
//! and `floor(sum / 2^k)` is not the sum of `floor(w / 2^k)` (two weights of 1 with
//! `weight_exp = -1` give 1, per synapse 0); scaling the weights by `2^k` for a positive
//! exponent would be exact but would make 8-bit weights 8 + k bits wide on the chip. So the
//! projection carries the clipped and truncated 8-bit weights, and the shift is the receiving
//! program's handling of the port that projection feeds: one port per incoming Dense, each read
//! and shifted by its own exponent ([`LifInput`]). After the shift every step up to the fold
//! of `u` is arithmetic modulo `2^32`, so a port only needs to be wider than 32 bits where a
//! right shift reads bits above them (a binary Dense with a negative exponent: 64 bits, as
//! Lava's `int64` sum).

use crate::network::{Conv, Delay, Network, Projection, Source, Synapses, Target};
use crate::program::{NeuronProgram, Op, ProgramBuilder, ProgramError, Val};
use thiserror::Error;

/// Right shift that brings a decayed state back to its scale (Lava's `decay_shift`).
pub const DECAY_SHIFT: u8 = 12;
/// A decay constant of this value forgets the state entirely (Lava's `decay_unity`, `2^12`).
pub const DECAY_UNITY: i64 = 1 << DECAY_SHIFT;
/// Added to `du` to give the current's decay constant (Lava's `ds_offset`).
pub const CURRENT_DECAY_OFFSET: i64 = 1;
/// Added to `dv` to give the voltage's decay constant (Lava's `dm_offset`).
pub const VOLTAGE_DECAY_OFFSET: i64 = 0;
/// Left shift of the synaptic input before it is added to the current (Lava's `act_shift`).
pub const ACT_SHIFT: u8 = 6;
/// Left shift of the threshold (Lava's `vth_shift`).
pub const VTH_SHIFT: u8 = 6;
/// Width that `u` is folded into and `v` is clipped to (Lava's `uv_bitwidth`).
pub const UV_BITS: u8 = 24;
/// Width of the state variables `u` and `v` (Lava stores them as `int32`).
pub const STATE_BITS: u8 = 32;
/// Largest `du` or `dv` (12 bits, unsigned).
pub const MAX_DECAY: i64 = 4095;
/// Largest `vth` (17 bits, unsigned).
pub const MAX_VTH: i64 = (1 << 17) - 1;
/// Largest `|bias_exp|` accepted: `bias_mant << 15` still fits Lava's `int32` for every 16-bit
/// mantissa.
pub const MAX_BIAS_EXP: i64 = 15;
/// Largest `|weight_exp|` accepted (a shift within Lava's `int32` message).
pub const MAX_WEIGHT_EXP: i8 = 31;
/// Most weight bits (Lava's `max_num_weight_bits`).
pub const MAX_WEIGHT_BITS: u8 = 8;

/// A parameter outside what Lava's fixed-point models define.
#[derive(Clone, Debug, PartialEq, Eq, Error)]
pub enum LavaError {
    /// A value outside its range.
    #[error("{what} is {value}; Lava's fixed-point model takes {min} to {max}")]
    OutOfRange {
        /// The parameter.
        what: String,
        /// Its value.
        value: i64,
        /// Smallest allowed.
        min: i64,
        /// Largest allowed.
        max: i64,
    },
    /// A vector of the wrong length.
    #[error("{what} has {got} values, expected {expected}")]
    Length {
        /// The vector.
        what: String,
        /// Its length.
        got: usize,
        /// The length it must have.
        expected: usize,
    },
    /// A projection that does not fit its source or target.
    #[error("projection `{name}`: {message}")]
    Projection {
        /// The projection.
        name: String,
        /// What does not fit.
        message: String,
    },
    /// The generated program is invalid (a bug of this module).
    #[error(transparent)]
    Program(#[from] ProgramError),
}

fn in_range(what: &str, value: i64, min: i64, max: i64) -> Result<i64, LavaError> {
    if (min..=max).contains(&value) {
        Ok(value)
    } else {
        Err(LavaError::OutOfRange {
            what: what.to_owned(),
            value,
            min,
            max,
        })
    }
}

/// One input port of a [`cuba_lif`] neuron: where one Dense synapse process accumulates.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LifInput {
    /// Port name.
    pub name: String,
    /// The Dense's `weight_exp`, applied to the port's sum.
    pub weight_exp: i8,
    /// Whether the Dense takes graded payloads (`num_message_bits > 0`).
    pub graded: bool,
}

impl LifInput {
    /// The port's accumulator width: 64 bits for a binary Dense with a negative exponent (its
    /// `int64` sum is shifted right, so bits above 32 matter), else 32 (Lava's `int32`; the
    /// rest of the update is modulo `2^32`).
    #[must_use]
    pub fn port_bits(&self) -> u8 {
        if self.weight_exp < 0 && !self.graded {
            64
        } else {
            32
        }
    }
}

/// One input port of a Lava neuron program, whatever synapse process feeds it: its
/// accumulator width and the shift the receiving neuron applies to its sum (a Dense's
/// `weight_exp`; 0 for a Conv, whose fixed-point model ignores its exponent).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SynapsePort {
    /// Port name.
    pub name: String,
    /// Accumulator width, 1..=64: 32 or 64 for a Dense ([`LifInput::port_bits`]),
    /// [`CONV_BITS`] for a Conv.
    pub bits: u8,
    /// Shift of the port's sum: left when positive, else right rounding down.
    pub weight_exp: i8,
}

impl From<&LifInput> for SynapsePort {
    fn from(i: &LifInput) -> Self {
        Self {
            name: i.name.clone(),
            bits: i.port_bits(),
            weight_exp: i.weight_exp,
        }
    }
}

/// Declares `ports` and returns the sum of their values, each shifted by its exponent (`None`
/// without ports). The sum is not wrapped: the caller wraps it where Lava's `int32` does.
fn read_ports(b: &mut ProgramBuilder, ports: &[SynapsePort]) -> Result<Option<Val>, LavaError> {
    let mut a_in: Option<Val> = None;
    for input in ports {
        let e = i64::from(input.weight_exp);
        let m = i64::from(MAX_WEIGHT_EXP);
        in_range(&format!("weight_exp of `{}`", input.name), e, -m, m)?;
        in_range(
            &format!("width of port `{}`", input.name),
            i64::from(input.bits),
            1,
            64,
        )?;
        let p = b.port(&input.name, input.bits);
        let x = match input.weight_exp {
            0 => p,
            k if k > 0 => b.op(Op::Shl(p, k.unsigned_abs())),
            k => b.op(Op::Shr(p, k.unsigned_abs())),
        };
        a_in = Some(match a_in {
            None => x,
            Some(acc) => b.op(Op::Add(acc, x)),
        });
    }
    Ok(a_in)
}

/// Lava's bit-accurate current-based LIF (`PyLifModelBitAcc`, see the module's description):
/// one input port per incoming Dense (`inputs`; none for a neuron driven by its bias only),
/// state variables `u` and `v` ([`STATE_BITS`] each), parameters `u_keep`, `v_keep`, `bias`,
/// `vth` (see [`cuba_lif_params`]), and a binary channel `s`.
///
/// # Errors
/// A `weight_exp` beyond [`MAX_WEIGHT_EXP`], or more ports than a program may declare.
pub fn cuba_lif(name: &str, inputs: &[LifInput]) -> Result<NeuronProgram, LavaError> {
    let ports: Vec<SynapsePort> = inputs.iter().map(SynapsePort::from).collect();
    cuba_lif_ports(name, &ports)
}

/// [`cuba_lif`] with its input ports described as [`SynapsePort`]s, so that a neuron can take
/// Conv outputs ([`LavaConv::port`]) as well as Dense ones ([`LavaDense::port`]).
///
/// # Errors
/// A `weight_exp` beyond [`MAX_WEIGHT_EXP`], a port width outside 1..=64, or more ports than a
/// program may declare.
pub fn cuba_lif_ports(name: &str, inputs: &[SynapsePort]) -> Result<NeuronProgram, LavaError> {
    let mut b = ProgramBuilder::new(name);
    // a_in: each synapse's sum shifted by its exponent. Lava wraps it to int32 on its way to the
    // neuron and adds the outputs in int32; both are modulo 2^32 and the `Wrap(32)` below
    // covers them (the shift by `ACT_SHIFT` and the addition are modulo 2^32 too).
    let a_in = read_ports(&mut b, inputs)?;
    let (su, u) = b.state("u", STATE_BITS);
    let (sv, v) = b.state("v", STATE_BITS);
    let u_keep = b.param("u_keep");
    let v_keep = b.param("v_keep");
    let bias = b.param("bias");
    let vth = b.param("vth");

    // Current: decay toward zero (|u| < 2^31 and u_keep <= 4096, so the int32 cast of the
    // decayed value never changes it), add the input shifted by 6, both int32.
    let uk = b.op(Op::Mul(u, u_keep));
    let ud = b.op(Op::ShrTrunc(uk, DECAY_SHIFT));
    let u_sum = match a_in {
        Some(a) => {
            let act = b.op(Op::Shl(a, ACT_SHIFT));
            let s = b.op(Op::Add(ud, act));
            b.op(Op::Wrap(s, 32))
        }
        None => ud,
    };
    // The fold: above 2^23 minus 2^24, at or below -2^23 plus 2^24, once.
    let half = 1i64 << (UV_BITS - 1);
    let hi = b.constant(half);
    let lo = b.constant(-half + 1);
    let full_up = b.constant(1 << UV_BITS);
    let full_down = b.constant(-(1 << UV_BITS));
    let zero = b.constant(0);
    let over = b.op(Op::Lt(hi, u_sum));
    let under = b.op(Op::Lt(u_sum, lo));
    let up = b.op(Op::Select {
        cond: under,
        then: full_up,
        otherwise: zero,
    });
    let fix = b.op(Op::Select {
        cond: over,
        then: full_down,
        otherwise: up,
    });
    let u1 = b.op(Op::Add(u_sum, fix));

    // Voltage: decay toward zero, add the new current and the bias in int32, clip to
    // ±(2^23 - 1).
    let vk = b.op(Op::Mul(v, v_keep));
    let vd = b.op(Op::ShrTrunc(vk, DECAY_SHIFT));
    let vu = b.op(Op::Add(vd, u1));
    let vb = b.op(Op::Add(vu, bias));
    let vw = b.op(Op::Wrap(vb, 32));
    let v_lo = b.constant(-(half - 1));
    let v_hi = b.constant(half - 1);
    let v_floor = b.op(Op::Max(vw, v_lo));
    let v1 = b.op(Op::Min(v_floor, v_hi));
    let spike = b.op(Op::Lt(vth, v1));
    let v2 = b.op(Op::Select {
        cond: spike,
        then: zero,
        otherwise: v1,
    });
    b.update(su, u1);
    b.update(sv, v2);
    let s = b.channel("s", 0);
    b.send(s, spike);
    Ok(b.build()?)
}

/// The parameters of a Lava LIF process (`lava.proc.lif.process.LIF`), as integers.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LifParams {
    /// Current decay, 0..=4095 (the decay constant is `du + 1`).
    pub du: i64,
    /// Voltage decay, 0..=4095.
    pub dv: i64,
    /// Threshold mantissa, 0..=2^17 - 1 (compared as `vth << 6`).
    pub vth: i64,
    /// Bias mantissa per neuron, or one value for all (Lava stores it as `int16`).
    pub bias_mant: Vec<i64>,
    /// Bias exponent per neuron, or one value for all, -15..=15.
    pub bias_exp: Vec<i64>,
}

/// The per-neuron parameter vectors of [`cuba_lif`] for `n` neurons, in the program's order
/// (`u_keep`, `v_keep`, `bias`, `vth`).
///
/// # Errors
/// A parameter outside the range Lava's model defines, or a bias vector whose length is
/// neither 1 nor `n`.
pub fn cuba_lif_params(n: u32, p: &LifParams) -> Result<Vec<Vec<i64>>, LavaError> {
    let n = n as usize;
    let du = in_range("du", p.du, 0, MAX_DECAY)?;
    let dv = in_range("dv", p.dv, 0, MAX_DECAY)?;
    let vth = in_range("vth", p.vth, 0, MAX_VTH)?;
    let per_neuron = |what: &str, v: &[i64]| -> Result<Vec<i64>, LavaError> {
        match v.len() {
            1 => Ok(vec![v[0]; n]),
            l if l == n => Ok(v.to_vec()),
            got => Err(LavaError::Length {
                what: what.to_owned(),
                got,
                expected: n,
            }),
        }
    };
    let mant = per_neuron("bias_mant", &p.bias_mant)?;
    let exp = per_neuron("bias_exp", &p.bias_exp)?;
    let mut bias = Vec::with_capacity(n);
    for (&m, &e) in mant.iter().zip(&exp) {
        let m = in_range("bias_mant", m, i64::from(i16::MIN), i64::from(i16::MAX))?;
        let e = in_range("bias_exp", e, -MAX_BIAS_EXP, MAX_BIAS_EXP)?;
        bias.push(effective_bias(m, e));
    }
    Ok(vec![
        vec![DECAY_UNITY - (du + CURRENT_DECAY_OFFSET); n],
        vec![DECAY_UNITY - (dv + VOLTAGE_DECAY_OFFSET); n],
        bias,
        vec![vth << VTH_SHIFT; n],
    ])
}

/// Lava's `scale_bias`: `mant << exp` for `exp >= 0`, else `mant >> -exp` rounding down.
#[must_use]
pub fn effective_bias(mant: i64, exp: i64) -> i64 {
    if exp >= 0 { mant << exp } else { mant >> -exp }
}

/// Lava's sign modes of a weight matrix (`lava.utils.weightutils.SignMode`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SignMode {
    /// Clipped as excitatory weights (Lava's `NULL`, only when given explicitly).
    Null,
    /// Signed weights: 8 bits of magnitude and a sign, the lowest bit dropped at 8 weight bits.
    Mixed,
    /// Weights `>= 0`.
    Excitatory,
    /// Weights `<= 0`.
    Inhibitory,
}

/// Lava's `determine_sign_mode`: excitatory when every weight is `>= 0` (an all-zero matrix
/// included), inhibitory when every weight is `<= 0`, else mixed.
#[must_use]
pub fn sign_mode(weights: &[i32]) -> SignMode {
    if weights.iter().all(|&w| w >= 0) {
        SignMode::Excitatory
    } else if weights.iter().all(|&w| w <= 0) {
        SignMode::Inhibitory
    } else {
        SignMode::Mixed
    }
}

/// A Lava fixed-point Dense process (`lava.proc.dense.process.Dense` run by
/// `PyDenseModelBitAcc`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LavaDense {
    /// Targets (Lava's `weights.shape[0]`).
    pub n_out: u32,
    /// Sources (Lava's `weights.shape[1]`).
    pub n_in: u32,
    /// Weights, `[target][source]` row-major, as Lava's `int32` array (before clipping).
    pub weights: Vec<i32>,
    /// Shift of each timestep's sum (`weight_exp`).
    pub weight_exp: i8,
    /// Weight precision, 1..=8, or 9 for a mixed-sign matrix (`num_weight_bits`, default 8).
    pub num_weight_bits: u8,
    /// Sign mode; `None` determines it from the weights, as Lava does by default.
    pub sign_mode: Option<SignMode>,
    /// 0: binary spikes; above 0: graded payloads multiply the weights.
    pub num_message_bits: u8,
}

impl LavaDense {
    /// A binary Dense with Lava's defaults (`weight_exp` 0, 8 weight bits, sign mode from the
    /// weights).
    #[must_use]
    pub fn new(n_out: u32, n_in: u32, weights: Vec<i32>) -> Self {
        Self {
            n_out,
            n_in,
            weights,
            weight_exp: 0,
            num_weight_bits: MAX_WEIGHT_BITS,
            sign_mode: None,
            num_message_bits: 0,
        }
    }

    /// The weights the synapses use: clipped to 8 bits by sign mode and truncated to
    /// `num_weight_bits` (Lava's `clip_weights` then `truncate_weights`).
    ///
    /// # Errors
    /// `num_weight_bits` outside 1..=8 (1..=9 for mixed signs), or a weight count that is not
    /// `n_out * n_in`.
    pub fn effective_weights(&self) -> Result<Vec<i32>, LavaError> {
        let expected = self.n_out as usize * self.n_in as usize;
        if self.weights.len() != expected {
            return Err(LavaError::Length {
                what: "Dense weights".into(),
                got: self.weights.len(),
                expected,
            });
        }
        let mode = self.sign_mode.unwrap_or_else(|| sign_mode(&self.weights));
        let mixed = i64::from(mode == SignMode::Mixed);
        // `truncate_weights` clears `8 - num_weight_bits + mixed` bits: a mixed matrix takes
        // 9 bits (netx's `optimize_weight_bits` gives it), clearing none.
        let bits = in_range(
            "num_weight_bits",
            i64::from(self.num_weight_bits),
            1,
            i64::from(MAX_WEIGHT_BITS) + mixed,
        )?;
        let (lo, hi) = if mixed == 1 { (-256, 255) } else { (0, 255) };
        let drop = i64::from(MAX_WEIGHT_BITS) - bits + mixed;
        Ok(self
            .weights
            .iter()
            .map(|&w| {
                let w = i64::from(w);
                let r = if mode == SignMode::Inhibitory {
                    // Negated, clipped and floored as a magnitude, negated back.
                    -((((-w).clamp(lo, hi)) >> drop) << drop)
                } else {
                    (w.clamp(lo, hi) >> drop) << drop
                };
                r as i32
            })
            .collect())
    }

    /// The port a [`cuba_lif`] neuron declares for this Dense.
    #[must_use]
    pub fn lif_input(&self, port: &str) -> LifInput {
        LifInput {
            name: port.to_owned(),
            weight_exp: self.weight_exp,
            graded: self.num_message_bits > 0,
        }
    }

    /// The port description of this Dense for any Lava neuron program
    /// ([`cuba_lif_ports`], [`sigma_delta`], [`sigma`], [`delta`]).
    #[must_use]
    pub fn port(&self, port: &str) -> SynapsePort {
        SynapsePort::from(&self.lif_input(port))
    }

    /// The projection from `src` into `dst`: the effective weights, delay 0 (Lava's Dense
    /// sends a timestep's sum in the next timestep). The target's port must be the one
    /// [`LavaDense::lif_input`] describes.
    ///
    /// # Errors
    /// The source's or the target's size differs from the weights', the source is graded
    /// where the Dense is binary or the reverse, the target port's width is not the one the
    /// exponent needs, or the weights are invalid (see [`LavaDense::effective_weights`]).
    pub fn projection(
        &self,
        net: &Network,
        name: &str,
        src: Source,
        dst: Target,
    ) -> Result<Projection, LavaError> {
        let bad = |message: String| LavaError::Projection {
            name: name.to_owned(),
            message,
        };
        let weights = self.effective_weights()?;
        let port = endpoints(net, &bad, src, dst, "Dense", self.num_message_bits)?;
        let (n_src, n_dst) = (net.source_size(src), net.populations[dst.pop.index()].size);
        if (n_src, n_dst) != (self.n_in, self.n_out) {
            return Err(bad(format!(
                "weights are {} x {} (targets x sources), source has {n_src} and target {n_dst} neurons",
                self.n_out, self.n_in
            )));
        }
        let want = self.lif_input(&port.name).port_bits();
        if port.bits != want {
            return Err(bad(format!(
                "target port `{}` is {} bits wide; weight_exp {} needs {want}",
                port.name, port.bits, self.weight_exp
            )));
        }
        Ok(Projection {
            name: name.to_owned(),
            src,
            dst,
            synapses: Synapses::Dense { weights },
            delay: Delay::Uniform(0),
        })
    }
}

/// Checks that a synapse layer's source and target exist in `net`, that the target's program
/// declares the port, and that the source sends binary spikes exactly when the layer's
/// `num_message_bits` is 0; returns the target port.
fn endpoints<'n>(
    net: &'n Network,
    bad: &dyn Fn(String) -> LavaError,
    src: Source,
    dst: Target,
    layer: &str,
    num_message_bits: u8,
) -> Result<&'n crate::program::PortDecl, LavaError> {
    let src_ok = match src {
        Source::Input(i) => i.index() < net.inputs.len(),
        Source::Population { pop, channel } => net
            .populations
            .get(pop.index())
            .and_then(|p| net.programs.get(p.program.index()))
            .is_some_and(|prog| usize::from(channel) < prog.channels.len()),
    };
    if !src_ok {
        return Err(bad(format!("source {src:?} is not in the network")));
    }
    let Some(prog) = net
        .populations
        .get(dst.pop.index())
        .and_then(|p| net.programs.get(p.program.index()))
    else {
        return Err(bad(format!(
            "target population {} is not in the network",
            dst.pop.0
        )));
    };
    let Some(port) = prog.ports.get(usize::from(dst.port)) else {
        return Err(bad(format!(
            "target port {} is not declared by `{}`",
            dst.port, prog.name
        )));
    };
    let graded_src = net.source_bits(src) > 0;
    if graded_src != (num_message_bits > 0) {
        return Err(bad(format!(
            "the {layer} has num_message_bits {num_message_bits} but its source sends {} spikes",
            if graded_src { "graded" } else { "binary" }
        )));
    }
    Ok(port)
}

/// Width of a Conv's output: Lava's fixed-point Conv wraps each timestep's sum into 24 bits
/// (`signed_clamp(x, bits=24)`, which despite its name is a two's-complement wrap).
pub const CONV_BITS: u8 = 24;

/// Lava's `(X, Y, C)` shape as the IR's: the same `(X, Y, C)` (the IR numbers shaped
/// populations in Lava's order, see [`crate::network`]).
#[must_use]
pub fn ir_shape(xyc: [u32; 3]) -> [u32; 3] {
    xyc
}

/// The IR neuron of Lava's element `(x, y, c)` of a population of Lava shape `xyc`:
/// `(x Y + y) C + c`, the element's own index in Lava's C-order array.
#[must_use]
pub fn ir_index(xyc: [u32; 3], x: u32, y: u32, c: u32) -> usize {
    ((x as usize * xyc[1] as usize) + y as usize) * xyc[2] as usize + c as usize
}

/// A Lava fixed-point Conv process (`lava.proc.conv.process.Conv` run by `PyConvModelFixed`,
/// as netx's `Conv` block builds it).
///
/// What Lava computes each timestep (`src/lava/proc/conv/models.py`, `utils.py`):
/// 1. The input is cast to `bool` when `num_message_bits` is 0 (a graded value is then a
///    spike of weight 1), else taken as `int32` payloads.
/// 2. `conv_scipy`: per output channel and input channel of its group, `convolve2d(input,
///    kernel, mode='valid')` on the zero-padded input with the dilated kernel, every
///    `stride`-th value kept. This is a true convolution (the kernel is flipped in `x` and `y`),
///    not PyTorch's correlation; the sum is `float64` and cast to `int32`.
/// 3. The sum is wrapped into 24 bits (`signed_clamp`, [`CONV_BITS`]) and sent one timestep
///    later (`a_buf`): IR delay 0.
///
/// The weights are used as given: no clipping, no truncation (`num_weight_bits` only declares
/// a precision), and `weight_exp` is stored by the process but never read by the fixed-point
/// model, so it changes nothing (it is kept here to say so, and ignored).
///
/// In the IR the Conv is the kernel flipped and transposed to `[out_c][in_c / groups][x][y]`
/// with stride, padding and dilation as Lava's `(x, y)`, between populations shaped
/// [`ir_shape`] (Lava's `(X, Y, C)`); the wrap is the target port's width, [`CONV_BITS`]. The sum is exact while
/// it fits Lava's `int32` cast (`|sum| < 2^31`); beyond, numpy's cast of a too-large float is
/// undefined and not modelled.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LavaConv {
    /// Lava's `input_shape`, `(X, Y, C)`.
    pub input_shape: [u32; 3],
    /// The weight array's shape, `(C_out, KX, KY, C_in / groups)` (Lava's order).
    pub weight_shape: [u32; 4],
    /// Weights, row-major in `weight_shape`.
    pub weights: Vec<i32>,
    /// Stride `(x, y)`, at least 1.
    pub stride: [u32; 2],
    /// Zero padding `(x, y)`.
    pub padding: [u32; 2],
    /// Dilation `(x, y)`, at least 1.
    pub dilation: [u32; 2],
    /// Groups.
    pub groups: u32,
    /// Lava's `weight_exp`: ignored by the fixed-point model, so ignored here.
    pub weight_exp: i8,
    /// 0: binary spikes (any non-zero input is a spike); above 0: graded payloads.
    pub num_message_bits: u8,
}

impl LavaConv {
    /// A binary Conv with Lava's defaults (stride 1, no padding, dilation 1, one group).
    #[must_use]
    pub fn new(input_shape: [u32; 3], weight_shape: [u32; 4], weights: Vec<i32>) -> Self {
        Self {
            input_shape,
            weight_shape,
            weights,
            stride: [1, 1],
            padding: [0, 0],
            dilation: [1, 1],
            groups: 1,
            weight_exp: 0,
            num_message_bits: 0,
        }
    }

    fn invalid(&self, message: String) -> LavaError {
        LavaError::Projection {
            name: "conv".into(),
            message,
        }
    }

    /// Lava's output shape `(X, Y, C_out)` (`utils.output_shape`).
    ///
    /// # Errors
    /// A weight count that is not the product of `weight_shape`, a zero stride, dilation or
    /// group, channels not divisible by the groups, or an empty output.
    pub fn output_shape(&self) -> Result<[u32; 3], LavaError> {
        let [x, y, c_in] = self.input_shape;
        let [c_out, kx, ky, c_grp] = self.weight_shape;
        let n: u64 = self.weight_shape.iter().map(|&d| u64::from(d)).product();
        if self.weights.len() as u64 != n {
            return Err(LavaError::Length {
                what: "Conv weights".into(),
                got: self.weights.len(),
                expected: n as usize,
            });
        }
        if self.stride.contains(&0) || self.dilation.contains(&0) || self.groups == 0 {
            return Err(self.invalid(format!(
                "stride {:?}, dilation {:?} and groups {} must be at least 1",
                self.stride, self.dilation, self.groups
            )));
        }
        if c_in % self.groups != 0
            || c_out % self.groups != 0
            || u64::from(c_grp) * u64::from(self.groups) != u64::from(c_in)
        {
            return Err(self.invalid(format!(
                "{c_in} input and {c_out} output channels in {} groups with kernels of {c_grp} \
                 input channels",
                self.groups
            )));
        }
        let dim = |n: u32, k: u32, s: u32, p: u32, d: u32| -> Option<u32> {
            let span = u64::from(d) * u64::from(k.checked_sub(1)?) + 1;
            let padded = u64::from(n) + 2 * u64::from(p);
            let out = padded.checked_sub(span)? / u64::from(s) + 1;
            u32::try_from(out).ok()
        };
        let (Some(xo), Some(yo)) = (
            dim(x, kx, self.stride[0], self.padding[0], self.dilation[0]),
            dim(y, ky, self.stride[1], self.padding[1], self.dilation[1]),
        ) else {
            return Err(self.invalid(format!(
                "a {kx} x {ky} kernel (dilation {:?}, padding {:?}) does not fit the {x} x {y} \
                 input",
                self.dilation, self.padding
            )));
        };
        Ok([xo, yo, c_out])
    }

    /// The IR's conv synapses: the kernel flipped in `x` and `y` (Lava convolves, the IR
    /// correlates) and transposed to `[out_c][in_c / groups][x][y]`; stride, padding and
    /// dilation are Lava's `(x, y)`.
    ///
    /// # Errors
    /// See [`LavaConv::output_shape`].
    pub fn ir_conv(&self) -> Result<Conv, LavaError> {
        self.output_shape()?;
        let [c_out, kx, ky, c_grp] = self.weight_shape.map(|d| d as usize);
        let mut weights = Vec::with_capacity(self.weights.len());
        for co in 0..c_out {
            for ci in 0..c_grp {
                for ix in 0..kx {
                    for iy in 0..ky {
                        let (lx, ly) = (kx - 1 - ix, ky - 1 - iy);
                        weights.push(self.weights[((co * kx + lx) * ky + ly) * c_grp + ci]);
                    }
                }
            }
        }
        Ok(Conv {
            kernel: [self.weight_shape[1], self.weight_shape[2]],
            stride: self.stride,
            padding: self.padding,
            dilation: self.dilation,
            groups: self.groups,
            weights,
        })
    }

    /// The port a Lava neuron program declares for this Conv: [`CONV_BITS`] wide, no shift.
    #[must_use]
    pub fn port(&self, name: &str) -> SynapsePort {
        SynapsePort {
            name: name.to_owned(),
            bits: CONV_BITS,
            weight_exp: 0,
        }
    }

    /// The conv as explicit synapses by source (compressed rows), for a source without a
    /// shape (a host input, numbered as [`ir_index`]); zero weights are left out.
    ///
    /// # Errors
    /// See [`LavaConv::output_shape`].
    pub fn sparse(&self) -> Result<Synapses, LavaError> {
        let conv = self.ir_conv()?;
        let [xi_n, yi_n, ci_n] = ir_shape(self.input_shape).map(i64::from);
        let [xo_n, yo_n, co_n] = ir_shape(self.output_shape()?).map(i64::from);
        let (g_n, [kx_n, ky_n]) = (i64::from(conv.groups), conv.kernel.map(i64::from));
        let (cig_n, cog_n) = (ci_n / g_n, co_n / g_n);
        let [sx, sy] = conv.stride.map(i64::from);
        let [px, py] = conv.padding.map(i64::from);
        let [dx, dy] = conv.dilation.map(i64::from);
        let mut rows: Vec<Vec<(u32, i32)>> = vec![vec![]; (xi_n * yi_n * ci_n) as usize];
        for xo in 0..xo_n {
            for yo in 0..yo_n {
                for co in 0..co_n {
                    let g = co / cog_n;
                    let dst = ((xo * yo_n + yo) * co_n + co) as u32;
                    for cig in 0..cig_n {
                        let ci = g * cig_n + cig;
                        for kx in 0..kx_n {
                            let xi = xo * sx - px + kx * dx;
                            if !(0..xi_n).contains(&xi) {
                                continue;
                            }
                            for ky in 0..ky_n {
                                let yi = yo * sy - py + ky * dy;
                                if !(0..yi_n).contains(&yi) {
                                    continue;
                                }
                                let w = conv.weights
                                    [(((co * cig_n + cig) * kx_n + kx) * ky_n + ky) as usize];
                                if w != 0 {
                                    rows[((xi * yi_n + yi) * ci_n + ci) as usize].push((dst, w));
                                }
                            }
                        }
                    }
                }
            }
        }
        let mut start = vec![0u32];
        let (mut target, mut weights) = (vec![], vec![]);
        for row in rows {
            for (t, w) in row {
                target.push(t);
                weights.push(w);
            }
            start.push(target.len() as u32);
        }
        Ok(Synapses::Sparse {
            start,
            target,
            weights,
        })
    }

    /// The projection from `src` into `dst`, delay 0 (Lava's Conv sends a timestep's sum in the
    /// next timestep). A population source must be shaped [`ir_shape`] of `input_shape` and
    /// gets the IR's conv synapses ([`LavaConv::ir_conv`]); a host input (the IR's inputs have
    /// no shape) of `X Y C` values numbered as [`ir_index`] gets them as explicit synapses
    /// ([`LavaConv::sparse`]). The target must be shaped [`ir_shape`] of the output shape, and
    /// its port must be the one [`LavaConv::port`] describes.
    ///
    /// # Errors
    /// A source or target that does not fit, a binary source where the Conv is graded or the
    /// reverse, a port of the wrong width, or an invalid Conv (see
    /// [`LavaConv::output_shape`]).
    pub fn projection(
        &self,
        net: &Network,
        name: &str,
        src: Source,
        dst: Target,
    ) -> Result<Projection, LavaError> {
        let bad = |message: String| LavaError::Projection {
            name: name.to_owned(),
            message,
        };
        let out = self.output_shape()?;
        let in_ir = ir_shape(self.input_shape);
        let n_in: u64 = in_ir.iter().map(|&d| u64::from(d)).product();
        let port = endpoints(net, &bad, src, dst, "Conv", self.num_message_bits)?;
        let synapses = match src {
            Source::Input(i) => {
                let input = &net.inputs[i.index()];
                if u64::from(input.size) != n_in {
                    return Err(bad(format!(
                        "input `{}` has {} values, the Conv takes {:?} (X, Y, C) = {n_in}",
                        input.name, input.size, self.input_shape
                    )));
                }
                self.sparse()?
            }
            Source::Population { pop, .. } => {
                let p = &net.populations[pop.index()];
                if p.shape != Some(in_ir) {
                    return Err(bad(format!(
                        "source `{}` is shaped {:?}; the Conv's input is (X, Y, C) {in_ir:?}",
                        p.name, p.shape
                    )));
                }
                Synapses::Conv(self.ir_conv()?)
            }
        };
        let target = &net.populations[dst.pop.index()];
        let out_ir = ir_shape(out);
        if target.shape != Some(out_ir) {
            return Err(bad(format!(
                "target `{}` is shaped {:?}; the Conv's output is (X, Y, C) {out_ir:?}",
                target.name, target.shape
            )));
        }
        if port.bits != CONV_BITS {
            return Err(bad(format!(
                "target port `{}` is {} bits wide; a Conv's sum wraps at {CONV_BITS}",
                port.name, port.bits
            )));
        }
        Ok(Projection {
            name: name.to_owned(),
            src,
            dst,
            synapses,
            delay: Delay::Uniform(0),
        })
    }
}

/// Width of the sigma-delta neurons' state variables and graded spikes (Lava's `int32`).
pub const SDN_BITS: u8 = 32;
/// Largest `spike_exp` or `state_exp` (Lava declares them with a precision of 3 bits).
pub const MAX_SDN_EXP: u8 = 7;

/// The activation of a [`sigma_delta`] neuron (Lava's `ActivationMode`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Activation {
    /// `act = sigma + bias` (Lava's `UNIT`).
    Unit,
    /// `act = max(sigma + bias, 0)` (Lava's `RELU`, the default, the one netx uses).
    Relu,
}

/// The program-wide configuration of Lava's fixed-point sigma-delta neurons (`Delta`,
/// `SigmaDelta`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SdnConfig {
    /// Activation (used by [`sigma_delta`] only).
    pub act: Activation,
    /// Whether a spike depends on the accumulated error (`cum_error`).
    pub cum_error: bool,
    /// `spike_exp`, 0..=7: the fixed point of the graded spikes.
    pub spike_exp: u8,
    /// `state_exp`, 0..=7: the extra fraction bits of the state.
    pub state_exp: u8,
}

impl SdnConfig {
    /// netx's sigma-delta layers: ReLU, no accumulated error, `spike_exp` 6, `state_exp` 6.
    pub const NETX: Self = Self {
        act: Activation::Relu,
        cum_error: false,
        spike_exp: 6,
        state_exp: 6,
    };

    fn check(&self) -> Result<u8, LavaError> {
        let m = i64::from(MAX_SDN_EXP);
        in_range("spike_exp", i64::from(self.spike_exp), 0, m)?;
        in_range("state_exp", i64::from(self.state_exp), 0, m)?;
        Ok(self.spike_exp + self.state_exp)
    }
}

/// Lava's delta encoding, shared by [`delta`] and [`sigma_delta`]: from the new activation
/// `act1`, returns the graded spike (the delta shifted right by `state_exp`, rounding down)
/// and declares the state it keeps (`act`, `residue`, and `error` with `cum_error`).
fn delta_encode(
    b: &mut ProgramBuilder,
    cfg: &SdnConfig,
    act: (u8, Val),
    act1: Val,
    vth: Val,
) -> Val {
    let (s_res, residue) = b.state("residue", SDN_BITS);
    let zero = b.constant(0);
    // delta = act_new - act + residue, int32.
    let d0 = b.op(Op::Sub(act1, act.1));
    let d1 = b.op(Op::Add(d0, residue));
    let delta = b.op(Op::Wrap(d1, SDN_BITS));
    // |x| >= vth, with numpy's int32 abs (|-2^31| stays -2^31).
    let measured = if cfg.cum_error {
        let (s_err, error) = b.state("error", SDN_BITS);
        let e0 = b.op(Op::Add(error, delta));
        let e1 = b.op(Op::Wrap(e0, SDN_BITS));
        (Some((s_err, e1)), e1)
    } else {
        (None, delta)
    };
    let abs = b.op(Op::Abs(measured.1));
    let abs32 = b.op(Op::Wrap(abs, SDN_BITS));
    let below = b.op(Op::Lt(abs32, vth));
    let s = b.op(Op::Select {
        cond: below,
        then: zero,
        otherwise: delta,
    });
    let residue1 = b.op(Op::Sub(delta, s));
    if let Some((s_err, e1)) = measured.0 {
        // error *= 1 - (|s_out| > 0): cleared when a non-zero delta is sent.
        let e2 = b.op(Op::Select {
            cond: s,
            then: zero,
            otherwise: e1,
        });
        b.update(s_err, e2);
    }
    b.update(act.0, act1);
    b.update(s_res, residue1);
    b.op(Op::Shr(s, cfg.state_exp))
}

/// Lava's fixed-point sigma-delta neuron (`PySigmaDeltaModelFixed`,
/// `src/lava/proc/sdn/models.py`), all values `int32`:
/// 1. `sigma = sigma + a_in` (the input is **not** scaled, unlike [`delta`]'s);
/// 2. `act = relu(sigma + bias)` (or `sigma + bias`, [`Activation::Unit`]), with the bias
///    scaled by `2^(spike_exp + state_exp)` ([`sdn_params`]);
/// 3. `delta = act - act_prev + residue`; without `cum_error` a spike when `|delta| >= vth`
///    (at or above, although Lava's docstring says above; `vth` scaled like the bias), with
///    `cum_error` when `|error| >= vth` for `error = error + delta`, the error cleared when
///    the spike is not zero;
/// 4. the spike is `delta` (else 0), `residue = delta - spike`, and what is sent is
///    `spike >> state_exp` (rounding down: the low bits are lost, not kept in the residue)
///    as a graded 32-bit payload on channel `s` (a zero payload sends nothing).
///
/// State: `sigma`, `act`, `residue` (and `error` with `cum_error`), 32 bits; parameters
/// `bias` and `vth`.
///
/// # Errors
/// An exponent beyond [`MAX_SDN_EXP`], or a port that [`cuba_lif_ports`] would refuse.
pub fn sigma_delta(
    name: &str,
    inputs: &[SynapsePort],
    cfg: &SdnConfig,
) -> Result<NeuronProgram, LavaError> {
    cfg.check()?;
    let mut b = ProgramBuilder::new(name);
    let a_in = read_ports(&mut b, inputs)?;
    let (s_sigma, sigma) = b.state("sigma", SDN_BITS);
    let act = b.state("act", SDN_BITS);
    let bias = b.param("bias");
    let vth = b.param("vth");
    let sigma1 = match a_in {
        Some(a) => {
            let s = b.op(Op::Add(sigma, a));
            b.op(Op::Wrap(s, SDN_BITS))
        }
        None => sigma,
    };
    let x0 = b.op(Op::Add(sigma1, bias));
    let x = b.op(Op::Wrap(x0, SDN_BITS));
    let act1 = match cfg.act {
        Activation::Unit => x,
        Activation::Relu => {
            let zero = b.constant(0);
            b.op(Op::Max(x, zero))
        }
    };
    let out = delta_encode(&mut b, cfg, act, act1, vth);
    b.update(s_sigma, sigma1);
    let s = b.channel("s", SDN_BITS);
    b.send(s, out);
    Ok(b.build()?)
}

/// Lava's fixed-point delta encoder (`PyDeltaModelFixed`), netx's input layer of a sigma-delta
/// network: the input is shifted left by `spike_exp + state_exp` (in `int32`, wrapping) and
/// is the activation; then the delta encoding of [`sigma_delta`] (step 3 and 4). No sigma, no
/// bias. State `act`, `residue` (and `error`); parameter `vth`.
///
/// # Errors
/// As [`sigma_delta`].
pub fn delta(
    name: &str,
    inputs: &[SynapsePort],
    cfg: &SdnConfig,
) -> Result<NeuronProgram, LavaError> {
    let shift = cfg.check()?;
    let mut b = ProgramBuilder::new(name);
    let a_in = read_ports(&mut b, inputs)?;
    let act = b.state("act", SDN_BITS);
    let vth = b.param("vth");
    let act1 = match a_in {
        Some(a) => {
            let s = b.op(Op::Shl(a, shift));
            b.op(Op::Wrap(s, SDN_BITS))
        }
        None => b.constant(0),
    };
    let out = delta_encode(&mut b, cfg, act, act1, vth);
    let s = b.channel("s", SDN_BITS);
    b.send(s, out);
    Ok(b.build()?)
}

/// Lava's fixed-point sigma decoder (`PySigmaModelFixed`; netx uses it for a layer whose
/// configuration has `sigma_output`): `sigma = sigma + a_in` in `int32`, sent every timestep
/// as a graded 32-bit payload on channel `s` (nothing when it is 0). State `sigma`; no
/// parameter.
///
/// # Errors
/// A port that [`cuba_lif_ports`] would refuse.
pub fn sigma(name: &str, inputs: &[SynapsePort]) -> Result<NeuronProgram, LavaError> {
    let mut b = ProgramBuilder::new(name);
    let a_in = read_ports(&mut b, inputs)?;
    let (s_sigma, sigma) = b.state("sigma", SDN_BITS);
    let sigma1 = match a_in {
        Some(a) => {
            let s = b.op(Op::Add(sigma, a));
            b.op(Op::Wrap(s, SDN_BITS))
        }
        None => sigma,
    };
    b.update(s_sigma, sigma1);
    let s = b.channel("s", SDN_BITS);
    b.send(s, sigma1);
    Ok(b.build()?)
}

/// The per-neuron parameters of [`sigma_delta`] (`bias`, `vth`) or, with `bias` `None`, of
/// [`delta`] (`vth`), for `n` neurons: Lava's `vth` and `bias` scaled by
/// `2^(spike_exp + state_exp)` (`SigmaDelta.__init__`), one value for all or one per neuron.
///
/// # Errors
/// An exponent beyond [`MAX_SDN_EXP`], a negative `vth`, a scaled value outside `int32`, or a
/// vector whose length is neither 1 nor `n`.
pub fn sdn_params(
    n: u32,
    cfg: &SdnConfig,
    vth: &[i64],
    bias: Option<&[i64]>,
) -> Result<Vec<Vec<i64>>, LavaError> {
    let shift = cfg.check()?;
    let n = n as usize;
    let scaled = |what: &str, v: &[i64], min: i64| -> Result<Vec<i64>, LavaError> {
        let v = match v.len() {
            1 => vec![v[0]; n],
            l if l == n => v.to_vec(),
            got => {
                return Err(LavaError::Length {
                    what: what.to_owned(),
                    got,
                    expected: n,
                });
            }
        };
        let max = i64::from(i32::MAX) >> shift;
        let min = min.max(i64::from(i32::MIN) >> shift);
        v.into_iter()
            .map(|x| in_range(what, x, min, max).map(|x| x << shift))
            .collect()
    };
    let vth = scaled("vth", vth, 0)?;
    Ok(match bias {
        Some(bias) => vec![scaled("bias", bias, i64::MIN)?, vth],
        None => vec![vth],
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::program::Events;

    const HALF: i64 = 1 << 23;

    /// A neuron with one binary port of exponent 0 and the given parameters.
    fn neuron(
        du: i64,
        dv: i64,
        vth: i64,
        bias_mant: i64,
        bias_exp: i64,
    ) -> (NeuronProgram, Vec<i64>) {
        let p = cuba_lif("lif", &[LavaDense::new(1, 1, vec![1]).lif_input("a_in")]).expect("valid");
        let params = cuba_lif_params(
            1,
            &LifParams {
                du,
                dv,
                vth,
                bias_mant: vec![bias_mant],
                bias_exp: vec![bias_exp],
            },
        )
        .expect("in range");
        (p, params.into_iter().map(|v| v[0]).collect())
    }

    /// One step with input `a_in`: updates `uv` (`[u, v]`), returns the spike.
    fn step(p: &NeuronProgram, params: &[i64], a_in: i64, uv: &mut [i64; 2]) -> i64 {
        let mut sent = [0];
        p.step(
            &[a_in],
            uv,
            params,
            &mut Vec::new(),
            &mut sent,
            &mut Events::default(),
        );
        sent[0]
    }

    #[test]
    fn current_decay_constant_is_du_plus_one() {
        // du = 0 still decays u by 1/4096 (ds_offset = 1) ...
        let (p, k) = neuron(0, 0, MAX_VTH, 0, 0);
        let mut uv = [1 << 20, 0];
        step(&p, &k, 0, &mut uv);
        assert_eq!(uv[0], (1 << 20) - (1 << 8));
        // ... and du = 4095 forgets u entirely.
        let (p, k) = neuron(4095, 0, MAX_VTH, 0, 0);
        let mut uv = [123_456, 0];
        step(&p, &k, 2, &mut uv);
        assert_eq!(uv[0], 2 << 6);
    }

    #[test]
    fn voltage_decay_constant_is_dv_without_offset() {
        let (p, k) = neuron(4095, 0, MAX_VTH, 0, 0);
        let mut uv = [0, 1 << 20];
        step(&p, &k, 0, &mut uv);
        assert_eq!(uv[1], 1 << 20, "dv = 0 keeps v (dm_offset = 0)");
    }

    #[test]
    fn decays_round_toward_zero() {
        // u = -1 decays to 0 (a floor shift would keep -1); v the same.
        let (p, k) = neuron(0, 1, MAX_VTH, 0, 0);
        let mut uv = [-1, -1];
        step(&p, &k, 0, &mut uv);
        assert_eq!(uv, [0, 0]);
        let mut uv = [-5000, -5000];
        step(&p, &k, 0, &mut uv);
        // trunc(-5000 * 4095 / 4096) = -4998; v = trunc(-5000 * 4095 / 4096) + u = -9996.
        assert_eq!(uv, [-4998, -4998 - 4998]);
    }

    #[test]
    fn input_is_shifted_by_six_and_voltage_adds_the_new_current() {
        let (p, k) = neuron(4095, 4095, MAX_VTH, 0, 0);
        let mut uv = [0, 0];
        step(&p, &k, 3, &mut uv);
        assert_eq!(uv, [192, 192]);
    }

    #[test]
    fn threshold_is_shifted_by_six_and_strict_and_only_v_resets() {
        // vth = 2: a spike when v > 128.
        let (p, k) = neuron(4095, 4095, 2, 0, 0);
        let mut uv = [0, 0];
        assert_eq!(step(&p, &k, 2, &mut uv), 0, "v = 128 is not above 128");
        assert_eq!(uv, [128, 128]);
        let (p, k) = neuron(4095, 4095, 2, 1, 0);
        let mut uv = [0, 0];
        assert_eq!(step(&p, &k, 2, &mut uv), 1, "v = 129 spikes");
        assert_eq!(uv, [128, 0], "v resets to 0, u is kept");
    }

    #[test]
    fn current_folds_once_into_24_bits() {
        // du = 4095: u is the input << 6 exactly; inputs chosen to land on the edges.
        let (p, k) = neuron(4095, 4095, MAX_VTH, 0, 0);
        let fold = |x: i64| {
            let mut uv = [0, 0];
            step(&p, &k, x, &mut uv);
            uv[0]
        };
        assert_eq!(fold(HALF >> 6), HALF, "2^23 stays, outside 24 bits");
        assert_eq!(fold((HALF >> 6) + 1), HALF + 64 - (2 * HALF));
        assert_eq!(fold(-(HALF >> 6)), HALF, "-2^23 becomes +2^23");
        assert_eq!(fold(-(HALF >> 6) - 1), HALF - 64);
        // Folded once only: 3 * 2^23 + 64 becomes 2^23 + 64, not a 24-bit wrap.
        assert_eq!(fold(((3 * HALF) >> 6) + 1), HALF + 64);
    }

    #[test]
    fn input_shift_wraps_at_32_bits() {
        let (p, k) = neuron(4095, 4095, MAX_VTH, 0, 0);
        let mut uv = [0, 0];
        // (2^26 + 1) << 6 = 2^32 + 64 wraps to 64 in int32.
        step(&p, &k, (1 << 26) + 1, &mut uv);
        assert_eq!(uv[0], 64);
    }

    #[test]
    fn voltage_saturates_symmetrically() {
        // The positive clip cannot be seen: `vth << 6` is at most 2^23 - 64, so a clipped
        // voltage always spikes and resets.
        let (p, k) = neuron(4095, 0, MAX_VTH, 0, 0);
        let mut uv = [0, HALF - 10];
        assert_eq!(step(&p, &k, 1, &mut uv), 1);
        assert_eq!(uv[1], 0);
        let mut uv = [0, -HALF + 10];
        step(&p, &k, -1, &mut uv);
        assert_eq!(uv[1], -(HALF - 1), "not -2^23");
    }

    #[test]
    fn bias_exponent_shifts_left_or_floors_right() {
        assert_eq!(effective_bias(-5, 6), -320);
        assert_eq!(effective_bias(-5, -1), -3, "floor, not toward zero");
        let (p, k) = neuron(4095, 4095, MAX_VTH, 3, 6);
        let mut uv = [0, 0];
        step(&p, &k, 0, &mut uv);
        assert_eq!(uv[1], 192);
    }

    #[test]
    fn parameters_outside_lava_ranges_are_named() {
        let mut lp = LifParams {
            du: 4096,
            dv: 0,
            vth: 1,
            bias_mant: vec![0],
            bias_exp: vec![0],
        };
        let e = cuba_lif_params(2, &lp).expect_err("du");
        assert_eq!(
            e.to_string(),
            "du is 4096; Lava's fixed-point model takes 0 to 4095"
        );
        lp.du = 0;
        lp.bias_mant = vec![0, 0, 0];
        assert!(
            cuba_lif_params(2, &lp)
                .expect_err("length")
                .to_string()
                .contains("expected 2")
        );
        lp.bias_mant = vec![40_000];
        assert!(cuba_lif_params(2, &lp).is_err());
    }

    #[test]
    fn mixed_weights_lose_their_lowest_bit_at_eight_bits() {
        let d = LavaDense::new(1, 6, vec![3, -3, 300, -300, 255, -1]);
        assert_eq!(
            d.effective_weights().expect("valid"),
            vec![2, -4, 254, -256, 254, -2]
        );
    }

    #[test]
    fn excitatory_and_inhibitory_weights_keep_eight_bits() {
        let d = LavaDense::new(1, 3, vec![3, 255, 300]);
        assert_eq!(d.effective_weights().expect("valid"), vec![3, 255, 255]);
        let d = LavaDense::new(1, 3, vec![-3, -255, -300]);
        assert_eq!(d.effective_weights().expect("valid"), vec![-3, -255, -255]);
        // Fewer bits: excitatory floors, inhibitory truncates toward zero.
        let mut d = LavaDense::new(1, 2, vec![3, 5]);
        d.num_weight_bits = 7;
        assert_eq!(d.effective_weights().expect("valid"), vec![2, 4]);
        d.weights = vec![-3, -5];
        assert_eq!(d.effective_weights().expect("valid"), vec![-2, -4]);
        // The null mode clips as excitatory.
        d.sign_mode = Some(SignMode::Null);
        d.num_weight_bits = 8;
        assert_eq!(d.effective_weights().expect("valid"), vec![0, 0]);
    }

    #[test]
    fn mixed_weights_take_nine_weight_bits_and_keep_their_lowest_bit() {
        // lava-dl's netx gives a mixed matrix whose largest weight is 128 to 254 (or smallest
        // -129 to -256) with an odd weight `num_weight_bits` 9 (utils.py
        // `optimize_weight_bits`: `n` ends at -1, `8 - 0 - (-1)`); Lava's `truncate_weights`
        // (lava-nc v0.10.0 `src/lava/utils/weightutils.py:236`) then clears
        // `8 - 9 + 1 = 0` bits.
        let mut d = LavaDense::new(1, 4, vec![3, -3, 201, -128]);
        d.num_weight_bits = 9;
        assert_eq!(
            d.effective_weights().expect("valid"),
            vec![3, -3, 201, -128]
        );
        // Excitatory or inhibitory weights would lose a negative number of bits: refused.
        d.weights = vec![3, 5, 201, 7];
        assert!(d.effective_weights().is_err());
        d.num_weight_bits = 10;
        d.weights = vec![3, -3, 201, -128];
        assert!(d.effective_weights().is_err());
    }

    #[test]
    fn weight_exponent_shifts_the_sum_not_each_weight() {
        // Two binary inputs of weight 2 (mixed mode would truncate odd weights), exponent -2:
        // floor(4 / 4) = 1, while per-synapse floor(2 / 4) = 0 twice.
        let mut d = LavaDense::new(1, 2, vec![2, 2]);
        d.weight_exp = -2;
        let p = cuba_lif("lif", &[d.lif_input("a")]).expect("valid");
        let k: Vec<i64> = cuba_lif_params(
            1,
            &LifParams {
                du: 4095,
                dv: 4095,
                vth: MAX_VTH,
                bias_mant: vec![0],
                bias_exp: vec![0],
            },
        )
        .expect("valid")
        .into_iter()
        .map(|v| v[0])
        .collect();
        let mut uv = [0, 0];
        step(&p, &k, 4, &mut uv);
        assert_eq!(uv[0], 64);
        // A negative sum rounds down: floor(-1 / 4) = -1.
        step(&p, &k, -1, &mut uv);
        assert_eq!(uv[0], -64);
        assert_eq!(p.ports[0].bits, 64, "binary sum with a right shift: int64");
        // A positive exponent shifts left.
        d.weight_exp = 3;
        let p = cuba_lif("lif", &[d.lif_input("a")]).expect("valid");
        step(&p, &k, 5, &mut uv);
        assert_eq!(uv[0], 5 << 9);
        assert_eq!(p.ports[0].bits, 32);
    }

    #[test]
    fn the_program_counts_its_instructions() {
        // One port of exponent 0: 14 loads (1 port, 2 states, 4 parameters, 7 constants), 17
        // ALU operations (the fold is 4, the clip 2, the two int32 wraps 2), 2 multiplications.
        let (p, _) = neuron(0, 0, 0, 0, 0);
        assert_eq!(
            p.instructions(),
            crate::program::Instructions {
                loads: 14,
                alu: 17,
                mul: 2,
                lut: 0,
                stores: 2,
                sends: 1,
            }
        );
    }

    /// Lava's `conv_scipy` written out: per output `(x, y, k)`, the sum over the kernel of
    /// the zero-padded input at `o s + d (K - 1 - i)` (a true convolution), in `(X, Y, C)`.
    fn lava_conv_reference(c: &LavaConv, input: &[i64]) -> Vec<i64> {
        let [xi, yi, ci] = c.input_shape.map(i64::from);
        let [co_n, kx, ky, cg] = c.weight_shape.map(i64::from);
        let [xo, yo, _] = c.output_shape().expect("valid").map(i64::from);
        let g_n = i64::from(c.groups);
        let (kg, [sx, sy], [px, py], [dx, dy]) = (
            co_n / g_n,
            c.stride.map(i64::from),
            c.padding.map(i64::from),
            c.dilation.map(i64::from),
        );
        let mut out = vec![0; (xo * yo * co_n) as usize];
        for k in 0..co_n {
            let g = k / kg;
            for x in 0..xo {
                for y in 0..yo {
                    let mut sum = 0;
                    for cc in 0..cg {
                        let ch = g * cg + cc;
                        for i in 0..kx {
                            for j in 0..ky {
                                let (u, v) = (
                                    x * sx + dx * (kx - 1 - i) - px,
                                    y * sy + dy * (ky - 1 - j) - py,
                                );
                                if (0..xi).contains(&u) && (0..yi).contains(&v) {
                                    let w = c.weights[(((k * kx + i) * ky + j) * cg + cc) as usize];
                                    sum += i64::from(w) * input[((u * yi + v) * ci + ch) as usize];
                                }
                            }
                        }
                    }
                    out[((x * yo + y) * co_n + k) as usize] = sum;
                }
            }
        }
        out
    }

    /// A network with a source population (or input) shaped as `c`'s input and a target
    /// population shaped as its output, both running a [`sigma`] program with a conv port.
    fn conv_net(c: &LavaConv, from_input: bool) -> (Network, Projection) {
        use crate::network::{Input, InputId, PopId, Population, ProgramId, Schedule};
        let p = sigma("s", &[c.port("a")]).expect("valid");
        let pop = |name: &str, xyc: [u32; 3]| {
            let shape = ir_shape(xyc);
            Population {
                name: name.into(),
                size: shape.iter().product(),
                shape: Some(shape),
                program: ProgramId(0),
                params: vec![],
                init: vec![],
                schedule: Schedule::ALWAYS,
                reset: None,
            }
        };
        let n_in = c.input_shape.iter().product();
        let net = Network {
            name: "conv".into(),
            programs: vec![p],
            inputs: vec![Input {
                name: "in".into(),
                size: n_in,
                bits: if c.num_message_bits > 0 { 16 } else { 0 },
                shape: None,
            }],
            populations: vec![
                pop("src", c.input_shape),
                pop("dst", c.output_shape().expect("valid")),
            ],
            projections: vec![],
            outputs: vec![],
        };
        let src = if from_input {
            Source::Input(InputId(0))
        } else {
            Source::Population {
                pop: PopId(0),
                channel: 0,
            }
        };
        let proj = c
            .projection(
                &net,
                "conv",
                src,
                Target {
                    pop: PopId(1),
                    port: 0,
                },
            )
            .expect("fits");
        (net, proj)
    }

    #[test]
    fn conv_is_a_true_convolution_in_lavas_x_y_order() {
        // Non-square everything, so that a swapped x and y, or a kernel not flipped, shows.
        let (xyc, ws) = ([7u32, 5, 4], [6u32, 3, 2, 2]);
        let n_w: u32 = ws.iter().product();
        let weights: Vec<i32> = (0..n_w as i32).map(|k| (k * 37 % 23) - 11).collect();
        let mut c = LavaConv::new(xyc, ws, weights);
        c.stride = [2, 1];
        c.padding = [1, 2];
        c.dilation = [2, 3];
        c.groups = 2;
        c.num_message_bits = 8;
        assert_eq!(c.output_shape().expect("valid"), [3, 6, 6]);
        let n_in: u32 = xyc.iter().product();
        let input: Vec<i64> = (0..i64::from(n_in)).map(|k| (k * 13 % 17) - 8).collect();
        let want = lava_conv_reference(&c, &input);
        let out = c.output_shape().expect("valid");
        for from_input in [false, true] {
            let (net, proj) = conv_net(&c, from_input);
            assert_eq!(matches!(proj.synapses, Synapses::Sparse { .. }), from_input);
            let mut got = vec![0; want.len()];
            for x in 0..xyc[0] {
                for y in 0..xyc[1] {
                    for ch in 0..xyc[2] {
                        let v = input[((x * xyc[1] + y) * xyc[2] + ch) as usize];
                        net.fan_out(&proj, ir_index(xyc, x, y, ch) as u32, |j, w, _| {
                            let j = j as usize;
                            // The IR's target `(xo, yo, k)` is `(xo Y + yo) C + k`.
                            let (xo, yo, k) = (
                                j / (out[1] * out[2]) as usize,
                                (j / out[2] as usize) % out[1] as usize,
                                j % out[2] as usize,
                            );
                            got[(xo * out[1] as usize + yo) * out[2] as usize + k] += w * v;
                        });
                    }
                }
            }
            assert_eq!(got, want, "from an input: {from_input}");
        }
    }

    #[test]
    fn conv_ignores_weight_exp_and_keeps_its_weights() {
        let mut c = LavaConv::new([1, 1, 2], [1, 1, 1, 2], vec![300, -3]);
        let plain = c.ir_conv().expect("valid");
        assert_eq!(plain.weights, vec![300, -3], "no clipping, no truncation");
        c.weight_exp = 5;
        assert_eq!(c.ir_conv().expect("valid"), plain);
        assert_eq!(c.port("a").weight_exp, 0);
    }

    #[test]
    fn conv_sum_wraps_at_24_bits() {
        use crate::interp::Reference;
        use crate::network::PopId;
        // A graded 1 x 1 conv of weight 1 into a sigma neuron: the port holds Lava's
        // `signed_clamp(x, 24) = (x + 2^23) mod 2^24 - 2^23`.
        let mut c = LavaConv::new([1, 1, 1], [1, 1, 1, 1], vec![1]);
        c.num_message_bits = 16;
        let (mut net, proj) = conv_net(&c, true);
        net.inputs[0].bits = 32;
        net.projections.push(proj);
        let mut r = Reference::new(&net).expect("valid");
        let x = HALF + 5;
        r.step(&[vec![x]]).expect("step");
        r.step(&[vec![0]]).expect("step");
        let lava = (x + HALF).rem_euclid(2 * HALF) - HALF;
        assert_eq!(lava, -HALF + 5);
        assert_eq!(r.state(PopId(1))[0], lava);
    }

    #[test]
    fn conv_projections_that_do_not_fit_are_named() {
        let c = LavaConv::new([4, 4, 2], [3, 3, 3, 2], vec![1; 54]);
        let (net, _) = conv_net(&c, true);
        let mut graded = c.clone();
        graded.num_message_bits = 8;
        let to = Target {
            pop: crate::network::PopId(1),
            port: 0,
        };
        let e = graded
            .projection(&net, "g", Source::Input(crate::network::InputId(0)), to)
            .expect_err("binary input");
        assert!(
            e.to_string()
                .contains("num_message_bits 8 but its source sends binary"),
            "{e}"
        );
        let mut small = c.clone();
        small.input_shape = [3, 4, 2];
        let e = small
            .projection(&net, "s", Source::Input(crate::network::InputId(0)), to)
            .expect_err("size");
        assert!(e.to_string().contains("has 32 values"), "{e}");
        let mut bad = c.clone();
        bad.groups = 2;
        assert!(
            bad.output_shape()
                .expect_err("groups")
                .to_string()
                .contains("2 groups")
        );
        bad.groups = 1;
        bad.weights.pop();
        assert!(bad.output_shape().is_err());
        let mut narrow = c.clone();
        narrow.input_shape = [2, 4, 2];
        assert!(
            narrow
                .output_shape()
                .expect_err("too small")
                .to_string()
                .contains("does not fit")
        );
    }

    /// One step of a sigma-delta family program: `ports`, `state` updated, returns the payload.
    fn sdn_step(p: &NeuronProgram, params: &[i64], a_in: i64, state: &mut [i64]) -> i64 {
        let mut sent = [0];
        p.step(
            &[a_in],
            state,
            params,
            &mut Vec::new(),
            &mut sent,
            &mut Events::default(),
        );
        sent[0]
    }

    fn sdn(act: Activation, cum_error: bool, spike_exp: u8, state_exp: u8) -> SdnConfig {
        SdnConfig {
            act,
            cum_error,
            spike_exp,
            state_exp,
        }
    }

    fn flat(v: Vec<Vec<i64>>) -> Vec<i64> {
        v.into_iter().map(|x| x[0]).collect()
    }

    const P32: fn() -> SynapsePort = || SynapsePort {
        name: "a".into(),
        bits: 32,
        weight_exp: 0,
    };

    #[test]
    fn sigma_delta_fires_at_the_threshold_inclusive() {
        let cfg = sdn(Activation::Unit, false, 0, 0);
        let p = sigma_delta("sd", &[P32()], &cfg).expect("valid");
        let k = flat(sdn_params(1, &cfg, &[10], Some(&[0])).expect("ok"));
        let mut st = [0; 3];
        assert_eq!(sdn_step(&p, &k, 10, &mut st), 10, "|delta| = vth sends");
        assert_eq!(st, [10, 10, 0]);
        let mut st = [0; 3];
        assert_eq!(sdn_step(&p, &k, 9, &mut st), 0);
        assert_eq!(st, [9, 9, 9], "below: the delta is kept as residue");
        assert_eq!(
            sdn_step(&p, &k, 0, &mut st),
            0,
            "the same delta again: 9 - 9 + 9"
        );
        assert_eq!(
            sdn_step(&p, &k, 1, &mut st),
            10,
            "the residue adds to the next delta"
        );
        assert_eq!(st, [10, 10, 0]);
    }

    #[test]
    fn sent_deltas_round_down_and_their_low_bits_are_lost() {
        let cfg = sdn(Activation::Unit, false, 0, 6);
        let p = delta("d", &[P32()], &cfg).expect("valid");
        let k = flat(sdn_params(1, &cfg, &[0], None).expect("ok"));
        let mut st = [0; 2];
        // The delta encoder scales its input by 2^6 first: -1 becomes -64, sent as -1.
        assert_eq!(sdn_step(&p, &k, -1, &mut st), -1);
        let p = sigma_delta("sd", &[P32()], &cfg).expect("valid");
        let k = flat(sdn_params(1, &cfg, &[0], Some(&[0])).expect("ok"));
        let mut st = [0; 3];
        assert_eq!(
            sdn_step(&p, &k, -65, &mut st),
            -2,
            "floor(-65 / 64), not -1"
        );
        assert_eq!(st, [-65, -65, 0], "the residue does not keep the lost bits");
        assert_eq!(sdn_step(&p, &k, 130, &mut st), 2, "floor(130 / 64)");
        assert_eq!(st[2], 0);
    }

    #[test]
    fn sigma_delta_does_not_scale_its_input_but_delta_does() {
        let cfg = sdn(Activation::Relu, false, 2, 1);
        let k = flat(sdn_params(1, &cfg, &[0], Some(&[1])).expect("ok"));
        assert_eq!(
            k,
            vec![8, 0],
            "bias and vth scaled by 2^(spike_exp + state_exp)"
        );
        let p = sigma_delta("sd", &[P32()], &cfg).expect("valid");
        let mut st = [0; 3];
        // sigma 5, act 5 + 8 = 13, sent 13 >> 1.
        assert_eq!(sdn_step(&p, &k, 5, &mut st), 6);
        let p = delta("d", &[P32()], &cfg).expect("valid");
        let mut st = [0; 2];
        // act = 5 << 3 = 40, sent 40 >> 1.
        assert_eq!(sdn_step(&p, &k[1..], 5, &mut st), 20);
    }

    #[test]
    fn relu_clamps_the_activation_and_unit_does_not() {
        for (act, want) in [(Activation::Relu, 0), (Activation::Unit, -5)] {
            let cfg = sdn(act, false, 0, 0);
            let p = sigma_delta("sd", &[P32()], &cfg).expect("valid");
            let k = flat(sdn_params(1, &cfg, &[1], Some(&[-2])).expect("ok"));
            let mut st = [0; 3];
            assert_eq!(sdn_step(&p, &k, -3, &mut st), want, "{act:?}");
            assert_eq!(st[0], -3, "sigma itself is not clamped");
        }
    }

    #[test]
    fn accumulated_error_fires_and_clears() {
        // A constant input of 4 with vth 10: without cum_error every delta is 4 (the residue
        // replaces the change) and nothing is sent; with it the error reaches 12 at the third
        // step, which sends the delta, 4.
        for (cum, want) in [(false, [0, 0, 0, 0]), (true, [0, 0, 4, 0])] {
            let cfg = sdn(Activation::Unit, cum, 0, 0);
            let p = delta("d", &[P32()], &cfg).expect("valid");
            let k = flat(sdn_params(1, &cfg, &[10], None).expect("ok"));
            let mut st = vec![0; p.states.len()];
            let got: Vec<i64> = (0..4).map(|_| sdn_step(&p, &k, 4, &mut st)).collect();
            assert_eq!(got, want, "cum_error {cum}");
            if cum {
                assert_eq!(
                    st,
                    vec![4, 0, 0],
                    "act 4; residue and error cleared by the spike"
                );
            }
        }
    }

    #[test]
    fn sigma_delta_arithmetic_is_int32() {
        let p = sigma("s", &[P32()]).expect("valid");
        let mut st = [i64::from(i32::MAX)];
        assert_eq!(sdn_step(&p, &[], 1, &mut st), i64::from(i32::MIN));
        // numpy's |int32::MIN| is int32::MIN, below any threshold: no spike.
        let cfg = sdn(Activation::Unit, false, 0, 0);
        let p = delta("d", &[P32()], &cfg).expect("valid");
        let k = flat(sdn_params(1, &cfg, &[1], None).expect("ok"));
        let mut st = [0; 2];
        assert_eq!(sdn_step(&p, &k, i64::from(i32::MIN), &mut st), 0);
        assert_eq!(st[1], i64::from(i32::MIN));
    }

    #[test]
    fn sdn_parameters_outside_lava_ranges_are_named() {
        let cfg = SdnConfig::NETX;
        assert_eq!(
            sdn_params(2, &cfg, &[20], Some(&[-42, 62])).expect("ok"),
            vec![vec![-42 << 12, 62 << 12], vec![20 << 12; 2]]
        );
        let e = sdn_params(1, &cfg, &[-1], None).expect_err("negative vth");
        assert!(e.to_string().starts_with("vth is -1"), "{e}");
        assert!(
            sdn_params(1, &cfg, &[1 << 19], None).is_err(),
            "2^31 after scaling"
        );
        assert!(sdn_params(3, &cfg, &[1, 2], None).is_err());
        let mut big = cfg;
        big.state_exp = 8;
        assert!(delta("d", &[], &big).is_err());
    }

    #[test]
    fn the_sigma_delta_programs_count_their_instructions() {
        // [loads, ALU, mul, LUT, stores, sends] with netx's configuration (ReLU, no
        // cum_error) and one conv port.
        let port = [SynapsePort {
            name: "a".into(),
            bits: CONV_BITS,
            weight_exp: 0,
        }];
        let cfg = SdnConfig::NETX;
        let count = |p: NeuronProgram| {
            let i = p.instructions();
            [i.loads, i.alu, i.mul, i.lut, i.stores, i.sends]
        };
        assert_eq!(
            count(sigma_delta("sd", &port, &cfg).expect("valid")),
            [8, 14, 0, 0, 3, 1]
        );
        assert_eq!(
            count(delta("d", &port, &cfg).expect("valid")),
            [5, 11, 0, 0, 2, 1]
        );
        assert_eq!(count(sigma("s", &port).expect("valid")), [2, 2, 0, 0, 1, 1]);
    }
}
