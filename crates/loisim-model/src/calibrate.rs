//! Freezing the run-time ("compute_best") exponents of a model on a calibration sequence
//! (spec section 9).
//!
//! Upstream picks the result exponent of every batch-norm step and of every residual add from
//! the data of the whole input sequence. loisim runs token by token, so these exponents are
//! chosen once, here, on a calibration sequence, exactly as upstream would choose them for
//! that sequence, and stored in the model. The executor is then bit-exact with upstream on the
//! calibration sequence (and on every sequence for which upstream picks the same exponents).

use crate::fxp::{self, Fmt};
use crate::ir::Model;
use crate::reference::{self, InputError, LayerState};
use crate::validate::ModelError;

/// Why calibration failed.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
pub enum CalibrationError {
    /// No tokens to calibrate on.
    #[error("the calibration sequence is empty")]
    Empty,
    /// A calibration token is malformed.
    #[error("calibration input: {0}")]
    Input(#[from] InputError),
    /// The model (before or after calibration) breaks an invariant, e.g. a chosen exponent makes
    /// a later shift negative.
    #[error("{0}")]
    Model(#[from] ModelError),
    /// The data needs a negative exponent at a run-time step.
    #[error(
        "{op}: calibration data reaches {max_abs}, which needs {intbits} integer bits; a {bits}-bit result cannot hold it"
    )]
    Range {
        /// Which op.
        op: String,
        /// Largest magnitude seen.
        max_abs: f32,
        /// Integer bits needed.
        intbits: i32,
        /// Result width.
        bits: u32,
    },
}

/// The exponent upstream picks for a result of `bits` bits whose largest magnitude is `m`
/// (spec 9): `bits - 1 - max(0, ceil(log2(m + 1e-6)))`, evaluated in float32.
pub fn best_exp(m: f32, bits: u32) -> (i32, i32) {
    let mm = m + 1e-6f32;
    // float32 log2, emulated as a correctly rounded result of the exact value.
    let l = libm::log2(f64::from(mm)) as f32;
    let intbits = (l.ceil() as i32).max(0);
    (bits as i32 - 1 - intbits, intbits)
}

fn to_f32(v: i64, exp: i32) -> f32 {
    (v as f32) * libm::exp2f(-(exp as f32))
}

/// `max |a * 2^-ea + c * 2^-ec|` in float32 over all tokens and channels.
fn max_abs_add(a: &[Vec<i64>], fa: Fmt, c: &dyn Fn(usize, usize) -> i64, fc: Fmt) -> f32 {
    let mut m = 0f32;
    for (t, row) in a.iter().enumerate() {
        for (h, &x) in row.iter().enumerate() {
            let s = to_f32(x, fa.exp) + to_f32(c(t, h), fc.exp);
            m = m.max(s.abs());
        }
    }
    m
}

/// `max |a * 2^-ea * c * 2^-ec|` in float32.
fn max_abs_mul(a: &[Vec<i64>], fa: Fmt, c: &dyn Fn(usize) -> i64, fc: Fmt) -> f32 {
    let mut m = 0f32;
    for row in a {
        for (h, &x) in row.iter().enumerate() {
            let s = to_f32(x, fa.exp) * to_f32(c(h), fc.exp);
            m = m.max(s.abs());
        }
    }
    m
}

fn choose(op: String, m: f32, bits: u32) -> Result<i32, CalibrationError> {
    let (e, intbits) = best_exp(m, bits);
    if e < 0 {
        return Err(CalibrationError::Range {
            op,
            max_abs: m,
            intbits,
            bits,
        });
    }
    Ok(e)
}

/// Chooses and stores every run-time exponent of `model` from `inputs` (input integers, one
/// vector per token). Returns how many of the model's run-time exponents changed.
pub fn calibrate(model: &mut Model, inputs: &[Vec<i32>]) -> Result<usize, CalibrationError> {
    if inputs.is_empty() {
        return Err(CalibrationError::Empty);
    }
    for (t, tok) in inputs.iter().enumerate() {
        reference::check_token(model, t, tok)?;
    }
    let before = frozen_exps(model);
    let q: Vec<Vec<i64>> = inputs
        .iter()
        .map(|t| t.iter().map(|&v| i64::from(v)).collect())
        .collect();
    let mut xs: Vec<Vec<i64>> = q
        .iter()
        .map(|x| {
            reference::dense(&model.encoder, x, model.input.fmt)
                .into_iter()
                .map(fxp::relu)
                .collect()
        })
        .collect();
    let p = model.dims.d_state as usize;
    for l in 0..model.layers.len() {
        let x_fmt = model.layer_input(l);
        // Batch norm, step by step over the whole sequence.
        let mm = model.layers[l].norm.minus_mean.clone();
        let m = max_abs_add(&xs, x_fmt, &|_, h| mm.get(h), mm.fmt);
        model.layers[l].norm.sub.exp = choose(
            format!("layers[{l}].norm.sub"),
            m,
            model.layers[l].norm.sub.bits,
        )?;
        let mut vs: Vec<Vec<i64>> = xs
            .iter()
            .map(|x| reference::norm_sub(&model.layers[l], x, x_fmt))
            .collect();

        let iv = model.layers[l].norm.invsq_var.clone();
        let m = max_abs_mul(&vs, model.layers[l].norm.sub, &|h| iv.get(h), iv.fmt);
        model.layers[l].norm.mul.exp = choose(
            format!("layers[{l}].norm.mul"),
            m,
            model.layers[l].norm.mul.bits,
        )?;
        check_norm_shift(model, l)?;
        vs = vs
            .iter()
            .map(|v| reference::norm_mul(&model.layers[l], v))
            .collect();

        if let Some(a) = model.layers[l].norm.affine.clone() {
            let mul_fmt = model.layers[l].norm.mul;
            let m = max_abs_mul(&vs, mul_fmt, &|h| a.scale.get(h), a.scale.fmt);
            let e = choose(format!("layers[{l}].norm.mul_scale"), m, a.mul_scale.bits)?;
            let mut a2 = a.clone();
            a2.mul_scale.exp = e;
            let scaled: Vec<Vec<i64>> = vs
                .iter()
                .map(|v| {
                    v.iter()
                        .enumerate()
                        .map(|(h, &x)| {
                            fxp::mul(
                                x,
                                mul_fmt.exp,
                                a.scale.get(h),
                                a.scale.fmt.exp,
                                a2.mul_scale,
                            )
                        })
                        .collect()
                })
                .collect();
            let m = max_abs_add(&scaled, a2.mul_scale, &|_, h| a.bias.get(h), a.bias.fmt);
            a2.add_bias.exp = choose(format!("layers[{l}].norm.add_bias"), m, a.add_bias.bits)?;
            model.layers[l].norm.affine = Some(a2);
            check_norm_shift(model, l)?;
            vs = vs
                .iter()
                .map(|v| reference::norm_affine(&model.layers[l], v))
                .collect();
        }

        // SSM and gate, token by token from a zero state (their shifts checked first: a
        // format that asks for a negative shift must be an error, not a panic).
        model.check_ssm_and_gate(l)?;
        let b = &model.layers[l];
        let mut state = LayerState {
            x_re: vec![0; p],
            x_im: vec![0; p],
        };
        let mut gts = Vec::with_capacity(vs.len());
        for n in &vs {
            let u = reference::ssm_input(b, n);
            let (bu_re, bu_im) = reference::b_projection(b, &u);
            reference::recurrence(b, &mut state, &bu_re, &bu_im);
            let y = reference::ssm_output(b, &state, &u);
            let (_, _, _, gt) = reference::gate(b, &y);
            gts.push(gt);
        }
        let res_fmt = b.multgate.res;
        let m = max_abs_add(&gts, res_fmt, &|t, h| xs[t][h], x_fmt);
        model.layers[l].residual.exp = choose(
            format!("layers[{l}].residual"),
            m,
            model.layers[l].residual.bits,
        )?;
        let b = &model.layers[l];
        xs = gts
            .iter()
            .zip(&xs)
            .map(|(gt, skip)| {
                reference::residual(b, gt, skip, x_fmt)
                    .into_iter()
                    .map(fxp::relu)
                    .collect()
            })
            .collect();
    }
    model.validate()?;
    let after = frozen_exps(model);
    Ok(before.iter().zip(&after).filter(|(a, b)| a != b).count())
}

/// Validates the parts of the norm that depend on the exponents chosen so far, so a bad choice
/// is reported before it is used.
fn check_norm_shift(model: &Model, l: usize) -> Result<(), ModelError> {
    let n = &model.layers[l].norm;
    let s = n.sub.exp + n.invsq_var.fmt.exp - n.mul.exp;
    if !(0..=31).contains(&s) {
        return Err(ModelError::new(
            format!("layers[{l}].norm.mul"),
            format!(
                "the calibrated exponents need a right shift of {s} bits; it must be in 0..=31"
            ),
        ));
    }
    if let Some(a) = &n.affine {
        let s = n.mul.exp + a.scale.fmt.exp - a.mul_scale.exp;
        if !(0..=31).contains(&s) {
            return Err(ModelError::new(
                format!("layers[{l}].norm.mul_scale"),
                format!(
                    "the calibrated exponents need a right shift of {s} bits; it must be in 0..=31"
                ),
            ));
        }
    }
    Ok(())
}

/// Every run-time exponent of a model, in a fixed order.
pub fn frozen_exps(model: &Model) -> Vec<i32> {
    let mut v = Vec::new();
    for b in &model.layers {
        v.push(b.norm.sub.exp);
        v.push(b.norm.mul.exp);
        if let Some(a) = &b.norm.affine {
            v.push(a.mul_scale.exp);
            v.push(a.add_bias.exp);
        }
        v.push(b.residual.exp);
    }
    v
}

#[cfg(test)]
mod tests {
    use super::best_exp;

    #[test]
    fn best_exp_follows_float32_rules() {
        // Smallest k >= 0 with m < 2^k ...
        assert_eq!(best_exp(0.0, 16), (15, 0));
        assert_eq!(best_exp(0.9, 16), (15, 0));
        assert_eq!(best_exp(1.0, 16), (14, 1));
        assert_eq!(best_exp(3.5, 16), (13, 2));
        assert_eq!(best_exp(8.0, 16), (11, 4));
        // ... except that an exact power of two 2^k with k >= 4 absorbs the 1e-6 (spec 9).
        assert_eq!(best_exp(16.0, 16), (11, 4));
        assert_eq!(best_exp(16.5, 16), (10, 5));
        assert_eq!(best_exp(64.0, 16), (9, 6));
    }
}
