//! The bit-exact reference executor: what a quantized S5 model computes, token by token.
//!
//! This is the definition every other part of loisim is measured against (the chip simulator
//! must produce the same integers). It is written to be obviously correct, not fast: each
//! function below is one numbered step of the fixed-point specification (section 6), in order,
//! built from the primitives of [`crate::fxp`].
//!
//! The executor starts from a zero state and advances every block's recurrence exactly once per
//! token. [`Reference::step_traced`] also returns every intermediate of spec section 13.

use crate::fxp::{self, Fmt, Width};
use crate::ir::{Block, Dense, Model};
use crate::validate::ModelError;

/// A token that cannot be fed to a model.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum InputError {
    /// The token has the wrong number of features.
    #[error("token {token} has {got} features, the model expects {expected}")]
    Width {
        /// Token index.
        token: usize,
        /// Features given.
        got: usize,
        /// Features expected (`d_input`).
        expected: usize,
    },
    /// An input integer does not fit the model's input format.
    #[error("token {token}, feature {feature}: {value} does not fit the {bits}-bit input format")]
    Range {
        /// Token index.
        token: usize,
        /// Feature index.
        feature: usize,
        /// The offending value.
        value: i64,
        /// Input width.
        bits: u32,
    },
}

/// Every intermediate of one block for one token (spec section 13 names).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct LayerTrace {
    /// Block input (the skip path).
    pub input: Vec<i32>,
    /// Batch-norm output.
    pub norm_out: Vec<i32>,
    /// SSM input after the format change to `u`.
    pub u: Vec<i32>,
    /// `Re(B u)`.
    pub bu_re: Vec<i32>,
    /// `Im(B u)`.
    pub bu_im: Vec<i32>,
    /// Real part of the new state (before the complex ReLU).
    pub x_re: Vec<i32>,
    /// Imaginary part of the new state.
    pub x_im: Vec<i32>,
    /// SSM output `y`.
    pub ssm_y: Vec<i32>,
    /// Gate pre-activation (out2 output).
    pub out2: Vec<i32>,
    /// Sigmoid output.
    pub sigmoid: Vec<i32>,
    /// Gate product.
    pub gate: Vec<i32>,
    /// Residual sum (before ReLU).
    pub residual: Vec<i32>,
    /// Block output (after ReLU).
    pub output: Vec<i32>,
}

/// Every intermediate of the model for one token.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TokenTrace {
    /// Encoder output before ReLU.
    pub encoder_out: Vec<i32>,
    /// Encoder output after ReLU.
    pub encoder_out_relu: Vec<i32>,
    /// Per block.
    pub layers: Vec<LayerTrace>,
    /// Decoder output (the mask integers).
    pub output: Vec<i32>,
}

/// The recurrent state of one block: `P` complex values, int32, never saturated.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LayerState {
    /// Real parts.
    pub x_re: Vec<i64>,
    /// Imaginary parts.
    pub x_im: Vec<i64>,
}

/// The reference executor for one model.
#[derive(Clone, Debug)]
pub struct Reference<'m> {
    model: &'m Model,
    state: Vec<LayerState>,
    n_tokens: usize,
}

fn to_i32(v: &[i64]) -> Vec<i32> {
    // Every value handed here has been saturated or wrapped to 32 bits by the step that made it.
    v.iter().map(|&x| x as i32).collect()
}

/// Spec 5.2: a Dense layer applied to `x` in format `x_fmt`, with the input rule (quirk Q8).
pub fn dense(d: &Dense, x: &[i64], x_fmt: Fmt) -> Vec<i64> {
    let converted: Vec<i64>;
    let (x, ex) = if d.converts_input(x_fmt) {
        converted = x
            .iter()
            .map(|&v| fxp::requant(v, x_fmt, d.inp, Width::Int32))
            .collect();
        (&converted[..], d.inp.exp)
    } else {
        (x, x_fmt.exp)
    };
    let shift = (ex + d.weight.fmt().exp - d.out.exp) as u32;
    let acc = d.weight.matvec_wrapping(x);
    acc.iter()
        .enumerate()
        .map(|(j, &a)| {
            let z = fxp::sat(fxp::shr(fxp::wrap32(a), shift), d.out.bits);
            let beta = fxp::sat(
                fxp::wrap32(fxp::align(d.bias.get(j), d.bias.fmt.exp, d.out.exp)),
                d.bias.fmt.bits,
            );
            fxp::sat(z + beta, d.out.bits)
        })
        .collect()
}

/// Spec 6.2, first step: `x + minus_mean` with the frozen result format.
pub fn norm_sub(b: &Block, x: &[i64], x_fmt: Fmt) -> Vec<i64> {
    let n = &b.norm;
    x.iter()
        .enumerate()
        .map(|(h, &v)| fxp::add_rt(v, x_fmt, n.minus_mean.get(h), n.minus_mean.fmt, n.sub))
        .collect()
}

/// Spec 6.2, second step: multiply by `invsq_var`.
pub fn norm_mul(b: &Block, v: &[i64]) -> Vec<i64> {
    let n = &b.norm;
    v.iter()
        .enumerate()
        .map(|(h, &a)| fxp::mul(a, n.sub.exp, n.invsq_var.get(h), n.invsq_var.fmt.exp, n.mul))
        .collect()
}

/// Spec 6.2, affine steps (when present): multiply by `scale`, then add `bias`.
pub fn norm_affine(b: &Block, v: &[i64]) -> Vec<i64> {
    let n = &b.norm;
    match &n.affine {
        None => v.to_vec(),
        Some(a) => v
            .iter()
            .enumerate()
            .map(|(h, &x)| {
                let m = fxp::mul(x, n.mul.exp, a.scale.get(h), a.scale.fmt.exp, a.mul_scale);
                fxp::add_rt(m, a.mul_scale, a.bias.get(h), a.bias.fmt, a.add_bias)
            })
            .collect(),
    }
}

/// Spec 6.3: the norm output moved to the SSM input format `u`.
pub fn ssm_input(b: &Block, n: &[i64]) -> Vec<i64> {
    let from = b.norm.out();
    n.iter()
        .map(|&v| fxp::requant(v, from, b.ssm.u, Width::Int32))
        .collect()
}

/// Spec 6.4: the B projection, real and imaginary parts.
pub fn b_projection(b: &Block, u: &[i64]) -> (Vec<i64>, Vec<i64>) {
    let s = &b.ssm;
    let part = |m: &crate::matrix::SparseMatrix, f: Fmt| -> Vec<i64> {
        let shift = (s.u.exp + m.fmt().exp - f.exp) as u32;
        m.matvec_wrapping(u)
            .iter()
            .map(|&a| fxp::sat(fxp::shr(fxp::wrap32(a), shift), f.bits))
            .collect()
    };
    (part(&s.b_re, s.bu_re), part(&s.b_im, s.bu_im))
}

/// Spec 6.5: one step of the complex diagonal recurrence, in upstream order (quirk Q4).
/// Updates `state` in place.
pub fn recurrence(b: &Block, state: &mut LayerState, bu_re: &[i64], bu_im: &[i64]) {
    let s = &b.ssm;
    let (e_ar, e_ai) = (s.lambda_re.fmt.exp as u32, s.lambda_im.fmt.exp as u32);
    for p in 0..state.x_re.len() {
        let (xr, xi) = (state.x_re[p], state.x_im[p]);
        let (ar, ai) = (s.lambda_re.get(p), s.lambda_im.get(p));
        let p1 = fxp::shr(fxp::wrap32(ar * xr), e_ar);
        let p2 = fxp::shr(fxp::wrap32(ai * xi), e_ar);
        let p3 = fxp::shr(fxp::wrap32(ar * xi), e_ai);
        let p4 = fxp::shr(fxp::wrap32(ai * xr), e_ai);
        let br = fxp::wrap32(fxp::align(bu_re[p], s.bu_re.exp, s.x_re.exp));
        let bi = fxp::wrap32(fxp::align(bu_im[p], s.bu_im.exp, s.x_im.exp));
        state.x_re[p] = fxp::wrap32(p1 - p2 + br);
        state.x_im[p] = fxp::wrap32(p3 + p4 + bi);
    }
}

/// Spec 6.7 to 6.10: complex ReLU, C projection with the factor 2, D term, SSM output `y`.
pub fn ssm_output(b: &Block, state: &LayerState, u: &[i64]) -> Vec<i64> {
    let s = &b.ssm;
    let (zr, zi): (Vec<i64>, Vec<i64>) = state
        .x_re
        .iter()
        .zip(&state.x_im)
        .map(|(&r, &i)| fxp::complex_relu(r, i))
        .unzip();
    let sh_re = (s.x_re.exp + s.c_re.fmt().exp - s.y.exp) as u32;
    let sh_im = (s.x_im.exp + s.c_im.fmt().exp - s.y.exp) as u32;
    let sh_d = (s.d.fmt.exp + s.u.exp - s.y.exp) as u32;
    let acc_re = s.c_re.matvec_wrapping(&zr);
    let acc_im = s.c_im.matvec_wrapping(&zi);
    (0..u.len())
        .map(|h| {
            let cr = fxp::sat(fxp::shr(fxp::wrap32(acc_re[h]), sh_re), s.y.bits);
            let ci = fxp::sat(fxp::shr(fxp::wrap32(acc_im[h]), sh_im), s.y.bits);
            let c = fxp::sat(cr - ci, s.y.bits);
            let c2 = 2 * c; // quirk Q7: not saturated here.
            let du = fxp::sat(fxp::wrap32(fxp::shr(s.d.get(h) * u[h], sh_d)), s.y.bits);
            fxp::sat(c2 + du, s.y.bits)
        })
        .collect()
}

/// Spec 7: the sigmoid lookup table with linear interpolation, evaluated in 64 bits.
pub fn sigmoid(b: &Block, g: i64) -> i64 {
    b.sigmoid.eval(g, b.out2.out.exp)
}

/// Spec 6.11 to 6.15: ReLU, gate Dense, sigmoid, gate operands and product.
/// Returns `(x1, g, s, gt)`.
pub fn gate(b: &Block, y: &[i64]) -> (Vec<i64>, Vec<i64>, Vec<i64>, Vec<i64>) {
    let s = &b.ssm;
    let mg = &b.multgate;
    let x1: Vec<i64> = y.iter().map(|&v| fxp::relu(v)).collect();
    let g = dense(&b.out2, &x1, s.y);
    let sig: Vec<i64> = g.iter().map(|&v| sigmoid(b, v)).collect();
    let s_fmt = Fmt::new(b.out2.out.bits, b.sigmoid.y_exp);
    let gt = x1
        .iter()
        .zip(&sig)
        .map(|(&x, &sv)| {
            let l = fxp::requant(x, s.y, mg.l, Width::Int32);
            let r = fxp::requant(sv, s_fmt, mg.r, Width::Int64);
            fxp::mul(l, mg.l.exp, r, mg.r.exp, mg.res)
        })
        .collect();
    (x1, g, sig, gt)
}

/// Spec 6.16: the residual add (gate product first, skip second).
pub fn residual(b: &Block, gt: &[i64], skip: &[i64], skip_fmt: Fmt) -> Vec<i64> {
    gt.iter()
        .zip(skip)
        .map(|(&a, &c)| fxp::add_rt(a, b.multgate.res, c, skip_fmt, b.residual))
        .collect()
}

/// Checks one input token against the model.
pub fn check_token(model: &Model, token: usize, input: &[i32]) -> Result<(), InputError> {
    check_token_shape(model.dims.d_input as usize, model.input.fmt, token, input)
}

/// Checks that token number `token` has `expected` features, each within format `f`.
pub fn check_token_shape(
    expected: usize,
    f: Fmt,
    token: usize,
    input: &[i32],
) -> Result<(), InputError> {
    if input.len() != expected {
        return Err(InputError::Width {
            token,
            got: input.len(),
            expected,
        });
    }
    if let Some((feature, &v)) = input
        .iter()
        .enumerate()
        .find(|&(_, &v)| !f.contains(i64::from(v)))
    {
        return Err(InputError::Range {
            token,
            feature,
            value: i64::from(v),
            bits: f.bits,
        });
    }
    Ok(())
}

impl<'m> Reference<'m> {
    /// A fresh executor (zero state) for a model, which is validated first.
    pub fn new(model: &'m Model) -> Result<Self, ModelError> {
        model.validate()?;
        let p = model.dims.d_state as usize;
        let state = (0..model.layers.len())
            .map(|_| LayerState {
                x_re: vec![0; p],
                x_im: vec![0; p],
            })
            .collect();
        Ok(Self {
            model,
            state,
            n_tokens: 0,
        })
    }

    /// The model this executor runs.
    pub fn model(&self) -> &'m Model {
        self.model
    }

    /// The recurrent state of every block.
    pub fn state(&self) -> &[LayerState] {
        &self.state
    }

    /// Runs one token and returns the decoder output integers.
    pub fn step(&mut self, input: &[i32]) -> Result<Vec<i32>, InputError> {
        Ok(self.step_traced(input)?.output)
    }

    /// Runs one token and returns every intermediate.
    pub fn step_traced(&mut self, input: &[i32]) -> Result<TokenTrace, InputError> {
        let m = self.model;
        check_token(m, self.n_tokens, input)?;
        self.n_tokens += 1;
        let q_in: Vec<i64> = input.iter().map(|&v| i64::from(v)).collect();
        // 6.1 encoder.
        let enc = dense(&m.encoder, &q_in, m.input.fmt);
        let mut x: Vec<i64> = enc.iter().map(|&v| fxp::relu(v)).collect();
        let mut trace = TokenTrace {
            encoder_out: to_i32(&enc),
            encoder_out_relu: to_i32(&x),
            layers: Vec::with_capacity(m.layers.len()),
            output: Vec::new(),
        };
        for (l, b) in m.layers.iter().enumerate() {
            let x_fmt = m.layer_input(l);
            let skip = x.clone();
            // 6.2 batch norm.
            let v = norm_sub(b, &x, x_fmt);
            let v = norm_mul(b, &v);
            let n = norm_affine(b, &v);
            // 6.3 to 6.10 SSM.
            let u = ssm_input(b, &n);
            let (bu_re, bu_im) = b_projection(b, &u);
            recurrence(b, &mut self.state[l], &bu_re, &bu_im);
            let y = ssm_output(b, &self.state[l], &u);
            // 6.11 to 6.15 gate.
            let (_x1, g, sig, gt) = gate(b, &y);
            // 6.16, 6.17 residual and ReLU.
            let r = residual(b, &gt, &skip, x_fmt);
            x = r.iter().map(|&v| fxp::relu(v)).collect();
            trace.layers.push(LayerTrace {
                input: to_i32(&skip),
                norm_out: to_i32(&n),
                u: to_i32(&u),
                bu_re: to_i32(&bu_re),
                bu_im: to_i32(&bu_im),
                x_re: to_i32(&self.state[l].x_re),
                x_im: to_i32(&self.state[l].x_im),
                ssm_y: to_i32(&y),
                out2: to_i32(&g),
                sigmoid: to_i32(&sig),
                gate: to_i32(&gt),
                residual: to_i32(&r),
                output: to_i32(&x),
            });
        }
        // 6.18 decoder.
        let out = dense(&m.decoder, &x, m.decoder_input());
        trace.output = to_i32(&out);
        Ok(trace)
    }

    /// Runs a whole sequence from the current state and returns the outputs.
    pub fn run(&mut self, inputs: &[Vec<i32>]) -> Result<Vec<Vec<i32>>, InputError> {
        inputs.iter().map(|t| self.step(t)).collect()
    }
}

/// Convenience: runs a whole sequence from a zero state.
pub fn run_sequence(model: &Model, inputs: &[Vec<i32>]) -> Result<Vec<Vec<i32>>, RunError> {
    let mut r = Reference::new(model)?;
    Ok(r.run(inputs)?)
}

/// Either a bad model or a bad input.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum RunError {
    /// The model is invalid.
    #[error("invalid model: {0}")]
    Model(#[from] ModelError),
    /// An input token is invalid.
    #[error("invalid input: {0}")]
    Input(#[from] InputError),
}
