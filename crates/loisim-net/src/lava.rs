//! Lava's fixed-point LIF neuron and Dense synapse, written in the IR with Lava's exact
//! integer semantics.
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

use crate::network::{Delay, Network, Projection, Source, Synapses, Target};
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

/// Lava's bit-accurate current-based LIF (`PyLifModelBitAcc`, see the module's description):
/// one input port per incoming Dense (`inputs`; none for a neuron driven by its bias only),
/// state variables `u` and `v` ([`STATE_BITS`] each), parameters `u_keep`, `v_keep`, `bias`,
/// `vth` (see [`cuba_lif_params`]), and a binary channel `s`.
///
/// # Errors
/// A `weight_exp` beyond [`MAX_WEIGHT_EXP`], or more ports than a program may declare.
pub fn cuba_lif(name: &str, inputs: &[LifInput]) -> Result<NeuronProgram, LavaError> {
    let mut b = ProgramBuilder::new(name);
    // a_in: each Dense's sum shifted by its exponent. Lava wraps it to int32 on its way to the
    // neuron and adds the Dense outputs in int32; both are modulo 2^32 and the `Wrap(32)` below
    // covers them (the shift by `ACT_SHIFT` and the addition are modulo 2^32 too).
    let mut a_in: Option<Val> = None;
    for input in inputs {
        let e = i64::from(input.weight_exp);
        let m = i64::from(MAX_WEIGHT_EXP);
        in_range(&format!("weight_exp of `{}`", input.name), e, -m, m)?;
        let p = b.port(&input.name, input.port_bits());
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
    /// Weight precision, 1..=8 (`num_weight_bits`, default 8).
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
    /// `num_weight_bits` outside 1..=8, or a weight count that is not `n_out * n_in`.
    pub fn effective_weights(&self) -> Result<Vec<i32>, LavaError> {
        let expected = self.n_out as usize * self.n_in as usize;
        if self.weights.len() != expected {
            return Err(LavaError::Length {
                what: "Dense weights".into(),
                got: self.weights.len(),
                expected,
            });
        }
        let bits = in_range(
            "num_weight_bits",
            i64::from(self.num_weight_bits),
            1,
            i64::from(MAX_WEIGHT_BITS),
        )?;
        let mode = self.sign_mode.unwrap_or_else(|| sign_mode(&self.weights));
        let mixed = i64::from(mode == SignMode::Mixed);
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
        let (n_src, n_dst) = (net.source_size(src), net.populations[dst.pop.index()].size);
        if (n_src, n_dst) != (self.n_in, self.n_out) {
            return Err(bad(format!(
                "weights are {} x {} (targets x sources), source has {n_src} and target {n_dst} neurons",
                self.n_out, self.n_in
            )));
        }
        let graded_src = net.source_bits(src) > 0;
        if graded_src != (self.num_message_bits > 0) {
            return Err(bad(format!(
                "the Dense has num_message_bits {} but its source sends {} spikes",
                self.num_message_bits,
                if graded_src { "graded" } else { "binary" }
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
}
