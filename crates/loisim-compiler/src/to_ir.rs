//! The lowered S5 network as a general IR network (`loisim-net`): the five S5 neuron programs
//! written as neuron-program descriptions, operation by operation as the fixed-point spec
//! computes them, the projections as sparse synapses with their delays, and each population
//! scheduled at its stage.
//!
//! Every `sat` of the spec is one [`Op::Sat`] and every `wrap32` one [`Op::Wrap`] to 32 bits, so
//! the interpreter's saturation and wrap counters count what the S5 executors count.
//!
//! Timing: a population at stage `s` handles token `k` in timestep `k * period + s`, where the
//! period is 1 in pipeline mode (a token enters every timestep) and the network's depth in
//! fall-through mode (a token enters when the previous one has left). The host injects token
//! `k` in timestep `k * period`, already converted by [`Network::input_conversion`].

use crate::network::{BnStep, Conversion, DenseFinish, Network, NeuronProgram, Source};
use loisim_model::fxp::{Fmt, Width};
use loisim_model::{Sigmoid, SparseMatrix};
use loisim_net as ir;
use loisim_net::{Op, ProgramBuilder, Val};

/// How tokens enter the network.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Pacing {
    /// One token per timestep.
    Pipeline,
    /// One token per network depth: each token has left before the next enters.
    FallThrough,
}

impl Pacing {
    /// Timesteps between two tokens entering `net`.
    #[must_use]
    pub fn period(self, net: &Network) -> u64 {
        match self {
            Pacing::Pipeline => 1,
            Pacing::FallThrough => u64::from(net.depth),
        }
    }
}

/// The timestep in which the output population sends token `k`'s output.
#[must_use]
pub fn output_timestep(net: &Network, pacing: Pacing, k: usize) -> u64 {
    k as u64 * pacing.period(net) + u64::from(net.pop(net.output.0).stage)
}

/// The IR network's inputs, one entry per timestep up to the last token's output: token `k`
/// (converted by the host's input conversion) in timestep `k * period`, zeros otherwise.
#[must_use]
pub fn timestep_inputs(net: &Network, tokens: &[Vec<i32>], pacing: Pacing) -> Vec<Vec<Vec<i64>>> {
    let period = pacing.period(net);
    let steps = match tokens.len() {
        0 => 0,
        n => output_timestep(net, pacing, n - 1) + 1,
    };
    (0..steps)
        .map(|t| {
            let k = (t / period) as usize;
            let x = if t % period == 0 && k < tokens.len() {
                tokens[k]
                    .iter()
                    .map(|&v| net.input_conversion.apply(i64::from(v)))
                    .collect()
            } else {
                vec![0; net.input_width as usize]
            };
            vec![x]
        })
        .collect()
}

/// A program builder with the spec's fixed-point operations.
struct Fx {
    b: ProgramBuilder,
}

impl Fx {
    fn op(&mut self, op: Op) -> Val {
        self.b.op(op)
    }
    fn c(&mut self, v: i64) -> Val {
        self.b.constant(v)
    }
    fn sat(&mut self, v: Val, bits: u32) -> Val {
        self.op(Op::Sat(v, bits as u8))
    }
    fn wrap32(&mut self, v: Val) -> Val {
        self.op(Op::Wrap(v, 32))
    }
    fn shr(&mut self, v: Val, s: u32) -> Val {
        self.op(Op::Shr(v, s as u8))
    }
    fn shl(&mut self, v: Val, s: u32) -> Val {
        self.op(Op::Shl(v, s as u8))
    }
    fn align(&mut self, v: Val, from: i32, to: i32) -> Val {
        if to >= from {
            self.shl(v, (to - from) as u32)
        } else {
            self.shr(v, (from - to) as u32)
        }
    }
    fn relu(&mut self, v: Val) -> Val {
        let z = self.c(0);
        self.op(Op::Max(v, z))
    }
    /// `requant` (spec 5.1).
    fn requant(&mut self, v: Val, from: Fmt, to: Fmt, width: Width) -> Val {
        if from == to {
            return v;
        }
        let mut v = v;
        if to.exp > from.exp {
            let s = self.shl(v, (to.exp - from.exp) as u32);
            let s = match width {
                Width::Int32 => self.wrap32(s),
                Width::Int64 => s,
            };
            v = self.sat(s, from.bits);
        } else if to.exp < from.exp {
            v = self.shr(v, (from.exp - to.exp) as u32);
        }
        if from.bits > to.bits {
            v = self.sat(v, to.bits);
        }
        v
    }
    fn conversion(&mut self, v: Val, c: &Conversion) -> Val {
        match *c {
            Conversion::None => v,
            Conversion::Requant { from, to } => self.requant(v, from, to, Width::Int32),
        }
    }
    /// `add_rt` (spec 5.4).
    fn add_rt(&mut self, a: Val, fa: Fmt, c: Val, fc: Fmt, res: Fmt) -> Val {
        let agg = fa.exp.max(fc.exp);
        let side = |fx: &mut Self, v: Val, f: Fmt| {
            if agg > f.exp {
                let s = fx.shl(v, (agg - f.exp) as u32);
                let w = fx.wrap32(s);
                fx.sat(w, f.bits)
            } else {
                v
            }
        };
        let a = side(self, a, fa);
        let c = side(self, c, fc);
        let s = self.op(Op::Add(a, c));
        let s = self.wrap32(s);
        let r = if res.exp >= agg {
            let l = self.shl(s, (res.exp - agg) as u32);
            self.wrap32(l)
        } else {
            self.shr(s, (agg - res.exp) as u32)
        };
        self.sat(r, res.bits)
    }
    /// `mul` (spec 5.5).
    fn mul(&mut self, a: Val, ea: i32, c: Val, ec: i32, res: Fmt) -> Val {
        let p = self.op(Op::Mul(a, c));
        let s = self.shr(p, (ea + ec - res.exp) as u32);
        let w = self.wrap32(s);
        self.sat(w, res.bits)
    }
    /// A Dense layer's completion; the bias is the neuron's parameter `bias`.
    fn dense(&mut self, d: &DenseFinish, acc: Val) -> Val {
        let w = self.wrap32(acc);
        let s = self.shr(w, d.shift);
        let z = self.sat(s, d.out_bits);
        let bias = self.b.param("bias");
        let y = self.op(Op::Add(z, bias));
        self.sat(y, d.out_bits)
    }
    /// A batch norm with its per-channel constants as parameters.
    fn bn(&mut self, bn: &BnStep, x: Val) -> Val {
        let mm = self.b.param("minus_mean");
        let v = self.add_rt(x, bn.x, mm, bn.mm_fmt, bn.sub);
        let inv = self.b.param("invsq_var");
        let mut v = self.mul(v, bn.sub.exp, inv, bn.inv_fmt.exp, bn.mul);
        let mut f = bn.mul;
        if let Some(a) = &bn.affine {
            let scale = self.b.param("bn_scale");
            let m = self.mul(v, bn.mul.exp, scale, a.scale_fmt.exp, a.mul_scale);
            let bias = self.b.param("bn_bias");
            v = self.add_rt(m, a.mul_scale, bias, a.bias_fmt, a.add_bias);
            f = a.add_bias;
        }
        self.requant(v, f, bn.u, Width::Int32)
    }
    /// The gate's sigmoid (spec 7), a table of 8 entries with linear interpolation.
    fn sigmoid(&mut self, s: &Sigmoid, g: Val, e_go: i32) -> Val {
        let table = self.b.table(s.lut.iter().map(|&v| i64::from(v)).collect());
        let xx = self.shr(g, (e_go - s.x_exp) as u32);
        let a = self.op(Op::Abs(xx));
        let zero = self.c(0);
        let pos = self.op(Op::Lt(zero, xx));
        let (one, minus_one) = (self.c(1), self.c(-1));
        let sign = self.op(Op::Select {
            cond: pos,
            then: one,
            otherwise: minus_one,
        });
        let q = self.shr(a, s.x_exp as u32);
        let six = self.c(6);
        let ind = self.op(Op::Min(q, six));
        let mask = self.c((1i64 << s.x_exp) - 1);
        let mu = self.op(Op::And(a, mask));
        let unit = self.c(1i64 << s.x_exp);
        let rest = self.op(Op::Sub(unit, mu));
        let lo = self.op(Op::Lut { table, index: ind });
        let ind1 = self.op(Op::Add(ind, one));
        let hi = self.op(Op::Lut { table, index: ind1 });
        let t1 = self.op(Op::Mul(rest, lo));
        let t1 = self.shr(t1, s.x_exp as u32);
        let t2 = self.op(Op::Mul(mu, hi));
        let t2 = self.shr(t2, s.x_exp as u32);
        let half = self.op(Op::Add(t1, t2));
        let signed = self.op(Op::Mul(sign, half));
        let mid = self.c(1i64 << (s.y_exp - 1));
        self.op(Op::Add(mid, signed))
    }
}

/// The description of one S5 neuron program, and its per-neuron parameters in declaration
/// order. `channel_bits` are the payload widths of its channels, `acc_bits` the width of its
/// ports.
#[must_use]
pub fn program(
    name: &str,
    prog: &NeuronProgram,
    channel_bits: &[u32],
    acc_bits: u32,
) -> (ir::NeuronProgram, Vec<Vec<i64>>) {
    let mut params = Params {
        keep: true,
        values: Vec::new(),
    };
    let p = describe(name, prog, channel_bits, acc_bits, &mut params);
    (p, params.values)
}

/// Instructions per active update of an S5 neuron program: the total of
/// [`ir::NeuronProgram::instructions`] on its description ([`program`]), the rule that prices
/// every IR network. The widths of ports and channels are declarations and change no operation,
/// so the count depends on the program alone.
#[must_use]
pub fn instructions(prog: &NeuronProgram) -> u32 {
    let mut params = Params {
        keep: false,
        values: Vec::new(),
    };
    let bits = [32; 2];
    describe("count", prog, &bits, 32, &mut params)
        .instructions()
        .total()
}

/// The per-neuron parameters of a description, collected only when wanted.
struct Params {
    keep: bool,
    values: Vec<Vec<i64>>,
}

impl Params {
    fn push(&mut self, v: &[i64]) {
        if self.keep {
            self.values.push(v.to_vec());
        }
    }
}

fn describe(
    name: &str,
    prog: &NeuronProgram,
    channel_bits: &[u32],
    acc_bits: u32,
    params: &mut Params,
) -> ir::NeuronProgram {
    let mut fx = Fx {
        b: ProgramBuilder::new(name),
    };
    let port_bits = acc_bits.min(64) as u8;
    let ch = |fx: &mut Fx, i: usize, name: &str| fx.b.channel(name, channel_bits[i] as u8);
    let bn_params = |bn: &BnStep, params: &mut Params| {
        params.push(&bn.minus_mean);
        params.push(&bn.invsq);
        if let Some(a) = &bn.affine {
            params.push(&a.scale);
            params.push(&a.bias);
        }
    };
    match prog {
        NeuronProgram::Encoder { dense, bn, dec_in } => {
            let acc = fx.b.port("W x", port_bits);
            params.push(&dense.bias);
            let d = fx.dense(dense, acc);
            let xr = fx.relu(d);
            match bn {
                Some(b) => {
                    bn_params(b, params);
                    let u = fx.bn(b, xr);
                    let (cx, cu) = (ch(&mut fx, 0, "x"), ch(&mut fx, 1, "u"));
                    fx.b.send(cx, xr);
                    fx.b.send(cu, u);
                }
                None => {
                    let v = fx.conversion(xr, dec_in);
                    let c = ch(&mut fx, 0, "x");
                    fx.b.send(c, v);
                }
            }
        }
        NeuronProgram::Ssm {
            bu_re,
            bu_im,
            fmts,
            lambda_re,
            lambda_im,
            e_ar,
            e_ai,
        } => {
            let p_re = fx.b.port("B_re u", port_bits);
            let p_im = fx.b.port("B_im u", port_bits);
            let w = fx.wrap32(p_re);
            let s = fx.shr(w, bu_re.0);
            let br = fx.sat(s, bu_re.1);
            let w = fx.wrap32(p_im);
            let s = fx.shr(w, bu_im.0);
            let bi = fx.sat(s, bu_im.1);
            let (sr, xr) = fx.b.state("x_re", 32);
            let (si, xi) = fx.b.state("x_im", 32);
            let ar = fx.b.param("lambda_re");
            let ai = fx.b.param("lambda_im");
            params.push(lambda_re);
            params.push(lambda_im);
            let prod = |fx: &mut Fx, a: Val, x: Val, e: u32| {
                let m = fx.op(Op::Mul(a, x));
                let w = fx.wrap32(m);
                fx.shr(w, e)
            };
            let p1 = prod(&mut fx, ar, xr, *e_ar);
            let p2 = prod(&mut fx, ai, xi, *e_ar);
            let p3 = prod(&mut fx, ar, xi, *e_ai);
            let p4 = prod(&mut fx, ai, xr, *e_ai);
            let a = fx.align(br, fmts[0].exp, fmts[2].exp);
            let br = fx.wrap32(a);
            let a = fx.align(bi, fmts[1].exp, fmts[3].exp);
            let bi = fx.wrap32(a);
            let d = fx.op(Op::Sub(p1, p2));
            let n = fx.op(Op::Add(d, br));
            let nr = fx.wrap32(n);
            let s = fx.op(Op::Add(p3, p4));
            let n = fx.op(Op::Add(s, bi));
            let ni = fx.wrap32(n);
            fx.b.update(sr, nr);
            fx.b.update(si, ni);
            // Complex ReLU: kept whole when re > 0 or (re == 0 and im > 0).
            let zero = fx.c(0);
            let re_pos = fx.op(Op::Lt(zero, nr));
            let re_zero = fx.op(Op::Eq(nr, zero));
            let im_pos = fx.op(Op::Lt(zero, ni));
            let both = fx.op(Op::And(re_zero, im_pos));
            let keep = fx.op(Op::Max(re_pos, both));
            let zr = fx.op(Op::Select {
                cond: keep,
                then: nr,
                otherwise: zero,
            });
            let zi = fx.op(Op::Select {
                cond: keep,
                then: ni,
                otherwise: zero,
            });
            let (cr, ci) = (ch(&mut fx, 0, "z_re"), ch(&mut fx, 1, "z_im"));
            fx.b.send(cr, zr);
            fx.b.send(ci, zi);
        }
        NeuronProgram::SsmOut {
            sh_re,
            sh_im,
            sh_d,
            y_bits,
            out2_in,
            l,
        } => {
            let p_re = fx.b.port("C_re z_re", port_bits);
            let p_im = fx.b.port("C_im z_im", port_bits);
            let p_d = fx.b.port("D u", port_bits);
            let yb = *y_bits;
            let w = fx.wrap32(p_re);
            let s = fx.shr(w, *sh_re);
            let cr = fx.sat(s, yb);
            let w = fx.wrap32(p_im);
            let s = fx.shr(w, *sh_im);
            let ci = fx.sat(s, yb);
            let d = fx.op(Op::Sub(cr, ci));
            let d = fx.sat(d, yb);
            let c2 = fx.shl(d, 1);
            let s = fx.shr(p_d, *sh_d);
            let w = fx.wrap32(s);
            let du = fx.sat(w, yb);
            let y = fx.op(Op::Add(c2, du));
            let y = fx.sat(y, yb);
            let x1 = fx.relu(y);
            let a = fx.conversion(x1, out2_in);
            let b = fx.conversion(x1, l);
            let (c0, c1) = (ch(&mut fx, 0, "x1"), ch(&mut fx, 1, "l"));
            fx.b.send(c0, a);
            fx.b.send(c1, b);
        }
        NeuronProgram::Gate {
            dense,
            sigmoid,
            e_go,
            s_fmt,
            gate,
            skip,
            residual,
            bn,
            dec_in,
        } => {
            let acc = fx.b.port("W_out2 x1", port_bits);
            let lp = fx.b.port("l", port_bits);
            let xp = fx.b.port("skip", port_bits);
            params.push(&dense.bias);
            let g = fx.dense(dense, acc);
            let s = fx.sigmoid(sigmoid, g, *e_go);
            let r = fx.requant(s, *s_fmt, gate[1], Width::Int64);
            let gt = fx.mul(lp, gate[0].exp, r, gate[1].exp, gate[2]);
            let sum = fx.add_rt(gt, gate[2], xp, *skip, *residual);
            let xo = fx.relu(sum);
            match bn {
                Some(b) => {
                    bn_params(b, params);
                    let u = fx.bn(b, xo);
                    let (cx, cu) = (ch(&mut fx, 0, "x"), ch(&mut fx, 1, "u"));
                    fx.b.send(cx, xo);
                    fx.b.send(cu, u);
                }
                None => {
                    let v = fx.conversion(xo, dec_in);
                    let c = ch(&mut fx, 0, "out");
                    fx.b.send(c, v);
                }
            }
        }
        NeuronProgram::Decoder { dense } => {
            let acc = fx.b.port("W x", port_bits);
            params.push(&dense.bias);
            let y = fx.dense(dense, acc);
            let c = ch(&mut fx, 0, "mask");
            fx.b.send(c, y);
        }
    }
    fx.b.build()
        .unwrap_or_else(|e| panic!("an S5 program description is valid by construction: {e}"))
}

fn sparse(m: &SparseMatrix) -> ir::Synapses {
    let mut start = Vec::with_capacity(m.n_in() + 1);
    let (mut target, mut weights) = (Vec::with_capacity(m.nnz()), Vec::with_capacity(m.nnz()));
    start.push(0);
    for i in 0..m.n_in() {
        let (idx, w) = m.fan_out(i);
        target.extend_from_slice(idx);
        weights.extend_from_slice(w);
        start.push(target.len() as u32);
    }
    ir::Synapses::Sparse {
        start,
        target,
        weights,
    }
}

/// The lowered S5 network as an IR network, with ports `acc_bits` wide (the chip's dendritic
/// accumulators) and tokens entering at `pacing`.
#[must_use]
pub fn s5_to_ir(net: &Network, acc_bits: u32, pacing: Pacing) -> ir::Network {
    let period = match pacing {
        Pacing::Pipeline => 1,
        Pacing::FallThrough => net.depth,
    };
    debug_assert_eq!(u64::from(period), pacing.period(net));
    let mut programs = Vec::with_capacity(net.populations.len());
    let mut populations = Vec::with_capacity(net.populations.len());
    for (i, p) in net.populations.iter().enumerate() {
        let bits: Vec<u32> = p.channels.iter().map(|c| c.payload_bits).collect();
        let (prog, params) = program(&p.name, &p.program, &bits, acc_bits);
        programs.push(prog);
        populations.push(ir::Population {
            name: p.name.clone(),
            size: p.n_neurons,
            shape: None,
            program: ir::ProgramId(i as u32),
            params,
            init: vec![],
            schedule: ir::Schedule {
                first: u64::from(p.stage),
                every: period,
            },
            reset: None,
        });
    }
    let projections = net
        .projections
        .iter()
        .map(|pr| ir::Projection {
            name: pr.name.clone(),
            src: match pr.src {
                Source::Host => ir::Source::Input(ir::InputId(0)),
                Source::Pop(p, c) => ir::Source::Population {
                    pop: ir::PopId(p.0),
                    channel: c as u8,
                },
            },
            dst: ir::Target {
                pop: ir::PopId(pr.dst.0),
                port: pr.port as u8,
            },
            synapses: sparse(&pr.weights),
            delay: ir::Delay::Uniform(pr.delay),
        })
        .collect();
    ir::Network {
        name: "s5".into(),
        programs,
        inputs: vec![ir::Input {
            name: "input".into(),
            size: net.input_width,
            bits: net.input_payload_bits as u8,
            shape: None,
        }],
        populations,
        projections,
        outputs: vec![ir::Output {
            name: "output".into(),
            pop: ir::PopId(net.output.0.0),
            channel: net.output.1 as u8,
        }],
    }
}
