//! The float forward pass of the S5 model with activation observers, and the exponent rules
//! that turn observed ranges into a quantization config (spec section 8).
//!
//! Upstream derives activation formats from min/max observers calibrated during quantization-
//! aware training. loisim derives them the same way from one float pass over a calibration
//! sequence: every observer is the largest magnitude its activation reaches.

use crate::checkpoint::{FloatDense, FloatModel};
use crate::qconfig::{
    BlockQ, BlocksQ, DenseQ, FmtQ, MultGateQ, NormQ, QConfig, SsmActivationsQ, SsmQ, SsmWeightsQ,
};
use crate::quantize::discretize;

/// Largest magnitudes seen in one block.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct LayerObs {
    /// SSM input (the batch-norm output).
    pub u: f64,
    /// `Re(B u)`.
    pub bu_re: f64,
    /// `Im(B u)`.
    pub bu_im: f64,
    /// State, real part.
    pub x_re: f64,
    /// State, imaginary part.
    pub x_im: f64,
    /// SSM output.
    pub y: f64,
    /// Gate Dense input (ReLU of y).
    pub out2_inp: f64,
    /// Gate Dense output (sigmoid input).
    pub out2_out: f64,
    /// Sigmoid output.
    pub sigmoid: f64,
}

/// Largest magnitudes seen over a calibration pass.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Observers {
    /// Encoder input (magnitude minus offset).
    pub enc_inp: f64,
    /// Encoder output (before ReLU).
    pub enc_out: f64,
    /// Per block.
    pub layers: Vec<LayerObs>,
    /// Decoder input.
    pub dec_inp: f64,
    /// Decoder output.
    pub dec_out: f64,
}

fn amax(v: &[f64]) -> f64 {
    v.iter().fold(0f64, |m, x| m.max(x.abs()))
}

fn dense_f64(d: &FloatDense, x: &[f64]) -> Vec<f64> {
    let mut y: Vec<f64> = d.bias.iter().map(|&b| f64::from(b)).collect();
    for (i, &xi) in x.iter().enumerate() {
        if xi == 0.0 {
            continue;
        }
        for (o, yo) in y.iter_mut().enumerate() {
            *yo += xi * f64::from(d.w(i, o));
        }
    }
    y
}

fn sigmoid(x: f64) -> f64 {
    1.0 / (1.0 + libm::exp(-x))
}

/// Runs the float model over `inputs` (model inputs after the offset, `[T][d_input]`) and
/// records every observer. With `set_bn_stats`, each batch norm's running statistics are set to
/// the mean and variance of its input over the sequence before it is applied (as training
/// would have estimated them).
pub fn observe(fm: &mut FloatModel, inputs: &[Vec<f64>], set_bn_stats: bool) -> Observers {
    let (h, p) = (fm.d_model, fm.d_state);
    let mut obs = Observers::default();
    let mut xs: Vec<Vec<f64>> = Vec::with_capacity(inputs.len());
    for x in inputs {
        obs.enc_inp = obs.enc_inp.max(amax(x));
        let e = dense_f64(&fm.encoder, x);
        obs.enc_out = obs.enc_out.max(amax(&e));
        xs.push(e.into_iter().map(|v| v.max(0.0)).collect());
    }
    for l in 0..fm.layers.len() {
        if set_bn_stats && !xs.is_empty() {
            let n = xs.len() as f64;
            let b = &mut fm.layers[l];
            for c in 0..h {
                let mean = xs.iter().map(|x| x[c]).sum::<f64>() / n;
                let var = xs.iter().map(|x| (x[c] - mean).powi(2)).sum::<f64>() / n;
                b.norm_mean[c] = mean as f32;
                b.norm_var[c] = var as f32;
            }
        }
        let b = &fm.layers[l];
        let (lbr, lbi, bbr, bbi) = discretize(b, h);
        let mut o = LayerObs::default();
        let (mut sr, mut si) = (vec![0f64; p], vec![0f64; p]);
        for x in xs.iter_mut() {
            let z: Vec<f64> = (0..h)
                .map(|c| {
                    let n = (x[c] - f64::from(b.norm_mean[c]))
                        / (f64::from(b.norm_var[c]) + 1e-5).sqrt();
                    match &b.norm_affine {
                        Some((g, bt)) => n * f64::from(g[c]) + f64::from(bt[c]),
                        None => n,
                    }
                })
                .collect();
            o.u = o.u.max(amax(&z));
            let mut y = vec![0f64; h];
            for k in 0..p {
                let (mut br, mut bi) = (0f64, 0f64);
                for (c, &zc) in z.iter().enumerate() {
                    br += bbr[k * h + c] * zc;
                    bi += bbi[k * h + c] * zc;
                }
                o.bu_re = o.bu_re.max(br.abs());
                o.bu_im = o.bu_im.max(bi.abs());
                let (ar, ai) = (f64::from(lbr[k]), f64::from(lbi[k]));
                let nr = ar * sr[k] - ai * si[k] + br;
                let ni = ar * si[k] + ai * sr[k] + bi;
                sr[k] = nr;
                si[k] = ni;
                o.x_re = o.x_re.max(nr.abs());
                o.x_im = o.x_im.max(ni.abs());
                // Lexicographic complex ReLU, as in the integer model.
                let (zr, zi) = if nr > 0.0 || (nr == 0.0 && ni > 0.0) {
                    (nr, ni)
                } else {
                    (0.0, 0.0)
                };
                if zr != 0.0 || zi != 0.0 {
                    for (c, yc) in y.iter_mut().enumerate() {
                        *yc += 2.0
                            * (f64::from(b.c[(c * p + k) * 2]) * zr
                                - f64::from(b.c[(c * p + k) * 2 + 1]) * zi);
                    }
                }
            }
            for (c, yc) in y.iter_mut().enumerate() {
                *yc += f64::from(b.d[c]) * z[c];
            }
            o.y = o.y.max(amax(&y));
            let x1: Vec<f64> = y.iter().map(|v| v.max(0.0)).collect();
            o.out2_inp = o.out2_inp.max(amax(&x1));
            let g = dense_f64(&b.out2, &x1);
            o.out2_out = o.out2_out.max(amax(&g));
            for c in 0..h {
                let s = sigmoid(g[c]);
                o.sigmoid = o.sigmoid.max(s);
                x[c] = (x1[c] * s + x[c]).max(0.0);
            }
        }
        obs.layers.push(o);
    }
    for x in &xs {
        obs.dec_inp = obs.dec_inp.max(amax(x));
        obs.dec_out = obs.dec_out.max(amax(&dense_f64(&fm.decoder, x)));
    }
    obs
}

/// `(intbits, fracbits, exp)` of the exponent rule for a value range `absmax` at `bits` bits.
pub fn exp_rule(absmax: f64, bits: i64) -> (i64, i64, i64) {
    let (intbits, fracbits) = if absmax > 0.0 && absmax.is_finite() {
        let l = libm::log2(absmax);
        let intbits = (l.ceil() as i64).max(0) + i64::from(l == l.floor());
        let step = (absmax / ((1i64 << (bits - 1)) - 1) as f64).max(1e-6);
        let fracbits = -(libm::log2(step).round_ties_even() as i64);
        (intbits, fracbits)
    } else {
        (0, -(libm::log2(1e-6f64).round_ties_even() as i64))
    };
    (intbits, fracbits, fracbits.min(bits - 1 - intbits))
}

/// The format of an activation or weight with range `absmax`.
pub fn fmt_for(absmax: f64, bits: i64) -> FmtQ {
    let (intbits, fracbits, exp) = exp_rule(absmax, bits);
    FmtQ {
        bits,
        exp,
        absmax: Some(absmax),
        intbits: Some(intbits),
        fracbits: Some(fracbits),
    }
}

/// Shares a format across layers the upstream way: field-wise maximum of absmax, intbits and
/// fracbits, then `exp = min(fracbits, bits - 1 - intbits)`.
pub fn share(fmts: &[FmtQ]) -> FmtQ {
    let bits = fmts.first().map_or(16, |f| f.bits);
    let absmax = fmts.iter().filter_map(|f| f.absmax).fold(0f64, f64::max);
    let intbits = fmts.iter().filter_map(|f| f.intbits).max().unwrap_or(0);
    let fracbits = fmts
        .iter()
        .filter_map(|f| f.fracbits)
        .max()
        .unwrap_or(bits - 1);
    FmtQ {
        bits,
        exp: fracbits.min(bits - 1 - intbits),
        absmax: Some(absmax),
        intbits: Some(intbits),
        fracbits: Some(fracbits),
    }
}

/// Batch-norm parameter format: `exp = bits - 1 - max(0, ceil(log2 max|v|))`.
fn norm_fmt(absmax: f64, bits: i64) -> FmtQ {
    let intbits = if absmax > 0.0 {
        (libm::log2(absmax).ceil() as i64).max(0)
    } else {
        0
    };
    FmtQ {
        bits,
        exp: bits - 1 - intbits,
        absmax: Some(absmax),
        intbits: Some(intbits),
        fracbits: None,
    }
}

/// Bit widths of a quantization recipe.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Recipe {
    /// Weights of the Dense layers and of B, C, D.
    pub weight_bits: i64,
    /// Dense biases.
    pub bias_bits: i64,
    /// Activations (and the diagonal A).
    pub act_bits: i64,
}

impl Recipe {
    /// W8A16, the deployed recipe.
    pub const W8A16: Recipe = Recipe {
        weight_bits: 8,
        bias_bits: 16,
        act_bits: 16,
    };
}

fn dense_q(d: &FloatDense, inp: f64, out: f64, r: Recipe) -> DenseQ {
    let w = fmt_for(
        d.kernel
            .iter()
            .fold(0f64, |m, &x| m.max(f64::from(x).abs())),
        r.weight_bits,
    );
    let i = fmt_for(inp, r.act_bits);
    let o = fmt_for(out, r.act_bits);
    dense_q_from(
        w,
        i,
        o,
        d.bias.iter().fold(0f64, |m, &x| m.max(f64::from(x).abs())),
        r,
    )
}

fn dense_q_from(w: FmtQ, i: FmtQ, o: FmtQ, b_absmax: f64, r: Recipe) -> DenseQ {
    let (b_int, _, _) = exp_rule(b_absmax, r.bias_bits);
    let b_exp = i.fracbits.unwrap_or(i.exp).min(r.bias_bits - 1 - b_int);
    DenseQ {
        w_bits: w.bits,
        w_exp: w.exp,
        b_bits: r.bias_bits,
        b_exp,
        inp_bits: i.bits,
        inp_exp: i.exp,
        out_bits: o.bits,
        out_exp: o.exp,
        w_absmax: w.absmax,
        inp_absmax: i.absmax,
        out_absmax: o.absmax,
    }
}

/// Derives a quantization config from a float model and its observers. With `shared`, every
/// block uses the same formats (upstream's default); otherwise each block has its own.
pub fn derive_qconfig(fm: &FloatModel, obs: &Observers, recipe: Recipe, shared: bool) -> QConfig {
    let r = recipe;
    let absmax = |v: &[f32]| v.iter().fold(0f64, |m, &x| m.max(f64::from(x).abs()));
    let per_layer: Vec<(BlockQ, f64)> = fm
        .layers
        .iter()
        .zip(&obs.layers)
        .map(|(b, o)| {
            let (lbr, lbi, bbr, bbi) = discretize(b, fm.d_model);
            let absmax64 = |v: &[f64]| v.iter().fold(0f64, |m, x| m.max(x.abs()));
            let weights = SsmWeightsQ {
                A_re: fmt_for(absmax(&lbr), r.act_bits),
                A_im: fmt_for(absmax(&lbi), r.act_bits),
                B_re: fmt_for(absmax64(&bbr), r.weight_bits),
                B_im: fmt_for(absmax64(&bbi), r.weight_bits),
                C_re: fmt_for(
                    b.c.iter()
                        .step_by(2)
                        .fold(0f64, |m, &x| m.max(f64::from(x).abs())),
                    r.weight_bits,
                ),
                C_im: fmt_for(
                    b.c.iter()
                        .skip(1)
                        .step_by(2)
                        .fold(0f64, |m, &x| m.max(f64::from(x).abs())),
                    r.weight_bits,
                ),
                D: fmt_for(absmax(&b.d), r.weight_bits),
            };
            let activations = SsmActivationsQ {
                u: fmt_for(o.u, r.act_bits),
                Bu_re: fmt_for(o.bu_re, r.act_bits),
                Bu_im: fmt_for(o.bu_im, r.act_bits),
                x_re: fmt_for(o.x_re, r.act_bits),
                x_im: fmt_for(o.x_im, r.act_bits),
                y: fmt_for(o.y, r.act_bits),
            };
            let l = fmt_for(o.y, r.act_bits);
            let rr = fmt_for(o.sigmoid, r.act_bits);
            let multgate = MultGateQ {
                l_bits: l.bits,
                l_exp: l.exp,
                r_bits: rr.bits,
                r_exp: rr.exp,
                res_bits: r.act_bits,
                res_exp: r.act_bits - 1 - (l.intbits.unwrap_or(0) + rr.intbits.unwrap_or(0)),
            };
            let inv: Vec<f32> = b
                .norm_var
                .iter()
                .map(|&v| 1.0f32 / (v + 1e-5f32).sqrt())
                .collect();
            let norm = NormQ {
                mean: norm_fmt(absmax(&b.norm_mean), r.act_bits),
                invsq_var: norm_fmt(absmax(&inv), r.act_bits),
                scale: b
                    .norm_affine
                    .as_ref()
                    .map(|(g, _)| norm_fmt(absmax(g), r.act_bits)),
                bias: b
                    .norm_affine
                    .as_ref()
                    .map(|(_, bt)| norm_fmt(absmax(bt), r.act_bits)),
            };
            let out2 = dense_q(&b.out2, o.out2_inp, o.out2_out, r);
            (
                BlockQ {
                    ssm: SsmQ {
                        weights,
                        activations,
                    },
                    multgate,
                    out2,
                    norm,
                },
                absmax(&b.out2.bias),
            )
        })
        .collect();
    let blocks = if shared && !per_layer.is_empty() {
        let all = |f: &dyn Fn(&BlockQ) -> FmtQ| -> FmtQ {
            share(&per_layer.iter().map(|(b, _)| f(b)).collect::<Vec<_>>())
        };
        let w = |f: fn(&SsmWeightsQ) -> FmtQ| all(&|b: &BlockQ| f(&b.ssm.weights));
        let a = |f: fn(&SsmActivationsQ) -> FmtQ| all(&|b: &BlockQ| f(&b.ssm.activations));
        let weights = SsmWeightsQ {
            A_re: w(|x| x.A_re),
            A_im: w(|x| x.A_im),
            B_re: w(|x| x.B_re),
            B_im: w(|x| x.B_im),
            C_re: w(|x| x.C_re),
            C_im: w(|x| x.C_im),
            D: w(|x| x.D),
        };
        let activations = SsmActivationsQ {
            u: a(|x| x.u),
            Bu_re: a(|x| x.Bu_re),
            Bu_im: a(|x| x.Bu_im),
            x_re: a(|x| x.x_re),
            x_im: a(|x| x.x_im),
            y: a(|x| x.y),
        };
        let l = activations.y;
        let rr = share(
            &obs.layers
                .iter()
                .map(|o| fmt_for(o.sigmoid, r.act_bits))
                .collect::<Vec<_>>(),
        );
        let multgate = MultGateQ {
            l_bits: l.bits,
            l_exp: l.exp,
            r_bits: rr.bits,
            r_exp: rr.exp,
            res_bits: r.act_bits,
            res_exp: r.act_bits - 1 - (l.intbits.unwrap_or(0) + rr.intbits.unwrap_or(0)),
        };
        let max_norm = |f: &dyn Fn(&NormQ) -> Option<FmtQ>| -> Option<FmtQ> {
            let v: Vec<FmtQ> = per_layer.iter().filter_map(|(b, _)| f(&b.norm)).collect();
            let worst = v.iter().max_by_key(|f| f.intbits.unwrap_or(0)).copied()?;
            Some(worst)
        };
        let norm = NormQ {
            mean: max_norm(&|n| Some(n.mean)).unwrap_or(FmtQ::new(r.act_bits, r.act_bits - 1)),
            invsq_var: max_norm(&|n| Some(n.invsq_var))
                .unwrap_or(FmtQ::new(r.act_bits, r.act_bits - 1)),
            scale: max_norm(&|n| n.scale),
            bias: max_norm(&|n| n.bias),
        };
        let w_max = share(
            &per_layer
                .iter()
                .map(|(b, _)| fmt_for(b.out2.w_absmax.unwrap_or(0.0), r.weight_bits))
                .collect::<Vec<_>>(),
        );
        let inp = share(
            &obs.layers
                .iter()
                .map(|o| fmt_for(o.out2_inp, r.act_bits))
                .collect::<Vec<_>>(),
        );
        let out = share(
            &obs.layers
                .iter()
                .map(|o| fmt_for(o.out2_out, r.act_bits))
                .collect::<Vec<_>>(),
        );
        let b_absmax = per_layer.iter().map(|(_, b)| *b).fold(0f64, f64::max);
        let out2 = dense_q_from(w_max, inp, out, b_absmax, r);
        BlocksQ::Shared(Box::new(BlockQ {
            ssm: SsmQ {
                weights,
                activations,
            },
            multgate,
            out2,
            norm,
        }))
    } else {
        BlocksQ::PerLayer(per_layer.into_iter().map(|(b, _)| b).collect())
    };
    QConfig {
        encoder: dense_q(&fm.encoder, obs.enc_inp, obs.enc_out, r),
        decoder: dense_q(&fm.decoder, obs.dec_inp, obs.dec_out, r),
        blocks,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exp_rule_matches_upstream_examples() {
        // (absmax, bits) -> (intbits, fracbits, exp), from an upstream qconfig.
        assert_eq!(exp_rule(3.6846024990081787, 8), (2, 5, 5));
        assert_eq!(exp_rule(8.037965103714505, 16), (4, 12, 11));
        assert_eq!(exp_rule(0.9997399786884038, 16), (0, 15, 15));
        assert_eq!(exp_rule(9.154272691172213, 16), (4, 12, 11));
        // An exact power of two gets one more integer bit, also below 1 (quirk Q9).
        assert_eq!(exp_rule(0.5, 8).0, 1);
        assert_eq!(exp_rule(4.0, 16).0, 3);
    }
}
