//! Float model + quantization config -> integer model (spec sections 3 and 8).
//!
//! ZOH discretization reproduces upstream's floating-point evaluation: `Lambda_bar = exp(Lambda *
//! Delta)` in complex64 (float32 parts), `B_bar = (1/Lambda) * (Lambda_bar - 1) * B_tilde` with
//! `1/Lambda` in complex64 and the products in complex128. Every stored parameter is then
//! `sat_b(RNE(w * 2^exp))`. The run-time exponents are left at 0 and must be calibrated
//! ([`loisim_model::calibrate::calibrate`]) before the model is valid.

use crate::checkpoint::{FloatBlock, FloatDense, FloatModel};
use crate::error::ImportError;
use crate::qconfig::{self, DenseQ, FmtQ, QConfig};
use loisim_model::fxp::quantize_param;
use loisim_model::{
    Block, Dense, Dims, Fmt, InputSpec, Model, MultGate, Norm, NormAffine, Sigmoid, SparseMatrix,
    Ssm, Vector,
};

/// The preprocessing offset of the N-DNS S5 model: the global mean subtracted from STFT
/// magnitudes.
pub const DEFAULT_INPUT_OFFSET: f32 = 0.0007;

/// `exp(lambda * delta)` in complex64, and `1/lambda` in complex64, as NumPy evaluates them.
pub fn zoh_complex64(lambda_re: f32, lambda_im: f32, log_step: f32) -> ((f32, f32), (f32, f32)) {
    let delta = libm::expf(log_step);
    let (zr, zi) = (lambda_re * delta, lambda_im * delta);
    let x = libm::expf(zr);
    let bar = if zi == 0.0 {
        (x, zi)
    } else {
        (x * libm::cosf(zi), x * libm::sinf(zi))
    };
    // NumPy's complex division 1 / (re + i im) in float32 (Smith's method).
    let (a, b) = (lambda_re, lambda_im);
    let inv = if a.abs() >= b.abs() {
        let rat = b / a;
        let scl = 1.0f32 / (a + b * rat);
        (scl, (0.0 - rat) * scl)
    } else {
        let rat = a / b;
        let scl = 1.0f32 / (b + a * rat);
        (rat * scl, (0.0 * rat - 1.0) * scl)
    };
    (bar, inv)
}

/// Discretized `(Lambda_bar_re, Lambda_bar_im, B_bar_re [P,H], B_bar_im [P,H])` of one block.
pub fn discretize(b: &FloatBlock, h: usize) -> (Vec<f32>, Vec<f32>, Vec<f64>, Vec<f64>) {
    let p = b.lambda_re.len();
    let mut lbr = Vec::with_capacity(p);
    let mut lbi = Vec::with_capacity(p);
    let mut bbr = vec![0f64; p * h];
    let mut bbi = vec![0f64; p * h];
    for k in 0..p {
        let ((br, bi), (ir, ii)) = zoh_complex64(b.lambda_re[k], b.lambda_im[k], b.log_step[k]);
        lbr.push(br);
        lbi.push(bi);
        // (1/Lambda) * (Lambda_bar - 1) in complex128.
        let (ir, ii) = (f64::from(ir), f64::from(ii));
        let (lr, li) = (f64::from(br) - 1.0, f64::from(bi) - 0.0);
        let (tr, ti) = (ir * lr - ii * li, ir * li + ii * lr);
        for j in 0..h {
            let (b0, b1) = (
                f64::from(b.b[(k * h + j) * 2]),
                f64::from(b.b[(k * h + j) * 2 + 1]),
            );
            bbr[k * h + j] = tr * b0 - ti * b1;
            bbi[k * h + j] = tr * b1 + ti * b0;
        }
    }
    (lbr, lbi, bbr, bbi)
}

fn qvec(what: &str, values: impl Iterator<Item = f64>, f: Fmt) -> Result<Vector, ImportError> {
    let v: Option<Vec<i32>> = values
        .map(|w| quantize_param(w, f).map(|q| q as i32))
        .collect();
    let v =
        v.ok_or_else(|| ImportError::Config(format!("{what}: a parameter is NaN or infinite")))?;
    Ok(Vector::new(f, v))
}

fn qmatrix(
    what: &str,
    n_in: usize,
    n_out: usize,
    f: Fmt,
    w: impl Fn(usize, usize) -> f64,
) -> Result<SparseMatrix, ImportError> {
    let mut bad = false;
    let m = SparseMatrix::from_fn(n_in, n_out, f, |o, i| match quantize_param(w(o, i), f) {
        Some(q) => q,
        None => {
            bad = true;
            0
        }
    })
    .map_err(|e| ImportError::Config(format!("{what}: {e}")))?;
    if bad {
        return Err(ImportError::Config(format!(
            "{what}: a weight is NaN or infinite"
        )));
    }
    Ok(m)
}

fn fq(what: &str, f: &FmtQ) -> Result<Fmt, ImportError> {
    qconfig::fmt(what, f.bits, f.exp)
}

fn dense(what: &str, d: &FloatDense, q: &DenseQ) -> Result<Dense, ImportError> {
    let wf = qconfig::fmt(&format!("{what}.w"), q.w_bits, q.w_exp)?;
    let bf = qconfig::fmt(&format!("{what}.b"), q.b_bits, q.b_exp)?;
    Ok(Dense {
        weight: qmatrix(what, d.n_in, d.n_out, wf, |o, i| f64::from(d.w(i, o)))?,
        bias: qvec(what, d.bias.iter().map(|&b| f64::from(b)), bf)?,
        inp: qconfig::fmt(&format!("{what}.inp"), q.inp_bits, q.inp_exp)?,
        out: qconfig::fmt(&format!("{what}.out"), q.out_bits, q.out_exp)?,
    })
}

/// Quantizes a float model with a qconfig. Run-time exponents are placeholders (0) until
/// calibrated.
pub fn quantize(
    fm: &FloatModel,
    qc: &QConfig,
    name: &str,
    provenance: &str,
) -> Result<Model, ImportError> {
    let (h, p) = (fm.d_model, fm.d_state);
    let encoder = dense("encoder", &fm.encoder, &qc.encoder)?;
    let input = InputSpec {
        fmt: encoder.inp,
        offset: DEFAULT_INPUT_OFFSET,
    };
    let mut layers = Vec::with_capacity(fm.layers.len());
    for (l, fb) in fm.layers.iter().enumerate() {
        let bq = qc.block(l).ok_or_else(|| {
            ImportError::Config(format!(
                "quantization config has no formats for layer {l} (blocks.layers_{l})"
            ))
        })?;
        let name_of = |s: &str| format!("layers[{l}].{s}");
        let w = &bq.ssm.weights;
        let a = &bq.ssm.activations;
        let (lbr, lbi, bbr, bbi) = discretize(fb, h);
        let b_re_f = fq(&name_of("B_re"), &w.B_re)?;
        let b_im_f = fq(&name_of("B_im"), &w.B_im)?;
        let c_re_f = fq(&name_of("C_re"), &w.C_re)?;
        let c_im_f = fq(&name_of("C_im"), &w.C_im)?;
        let ssm = Ssm {
            lambda_re: qvec(
                &name_of("Lambda_bar_re"),
                lbr.iter().map(|&x| f64::from(x)),
                fq(&name_of("A_re"), &w.A_re)?,
            )?,
            lambda_im: qvec(
                &name_of("Lambda_bar_im"),
                lbi.iter().map(|&x| f64::from(x)),
                fq(&name_of("A_im"), &w.A_im)?,
            )?,
            b_re: qmatrix(&name_of("B_bar_re"), h, p, b_re_f, |o, i| bbr[o * h + i])?,
            b_im: qmatrix(&name_of("B_bar_im"), h, p, b_im_f, |o, i| bbi[o * h + i])?,
            c_re: qmatrix(&name_of("C_re"), p, h, c_re_f, |o, i| {
                f64::from(fb.c[(o * p + i) * 2])
            })?,
            c_im: qmatrix(&name_of("C_im"), p, h, c_im_f, |o, i| {
                f64::from(fb.c[(o * p + i) * 2 + 1])
            })?,
            d: qvec(
                &name_of("D"),
                fb.d.iter().map(|&x| f64::from(x)),
                fq(&name_of("D"), &w.D)?,
            )?,
            u: fq(&name_of("u"), &a.u)?,
            bu_re: fq(&name_of("Bu_re"), &a.Bu_re)?,
            bu_im: fq(&name_of("Bu_im"), &a.Bu_im)?,
            x_re: fq(&name_of("x_re"), &a.x_re)?,
            x_im: fq(&name_of("x_im"), &a.x_im)?,
            y: fq(&name_of("y"), &a.y)?,
        };
        let nq = &bq.norm;
        let mean_f = fq(&name_of("norm.mean"), &nq.mean)?;
        let inv_f = fq(&name_of("norm.invsq_var"), &nq.invsq_var)?;
        let x_bits = if l == 0 {
            encoder.out.bits
        } else {
            layers.last().map_or(16, |b: &Block| b.residual.bits)
        };
        let sub = Fmt::new(x_bits.max(mean_f.bits), 0);
        let mul = Fmt::new(sub.bits.max(inv_f.bits), 0);
        let affine = match (&fb.norm_affine, &nq.scale, &nq.bias) {
            (None, _, _) => None,
            (Some((g, bt)), Some(sq), Some(bq2)) => {
                let sf = fq(&name_of("norm.scale"), sq)?;
                let bf = fq(&name_of("norm.bias"), bq2)?;
                let mul_scale = Fmt::new(mul.bits.max(sf.bits), 0);
                Some(NormAffine {
                    scale: qvec(&name_of("norm.scale"), g.iter().map(|&x| f64::from(x)), sf)?,
                    bias: qvec(&name_of("norm.bias"), bt.iter().map(|&x| f64::from(x)), bf)?,
                    mul_scale,
                    add_bias: Fmt::new(mul_scale.bits.max(bf.bits), 0),
                })
            }
            (Some(_), _, _) => {
                return Err(ImportError::Config(format!(
                    "layer {l} has an affine batch norm but the quantization config has no norm.scale/norm.bias formats"
                )));
            }
        };
        let norm = Norm {
            minus_mean: qvec(
                &name_of("norm.minus_mean"),
                fb.norm_mean.iter().map(|&m| -f64::from(m)),
                mean_f,
            )?,
            invsq_var: qvec(
                &name_of("norm.invsq_var"),
                fb.norm_var
                    .iter()
                    .map(|&v| f64::from(1.0f32 / (v + 1e-5f32).sqrt())),
                inv_f,
            )?,
            sub,
            mul,
            affine,
        };
        let out2 = dense(&name_of("out2"), &fb.out2, &bq.out2)?;
        let sigmoid = Sigmoid::standard(out2.out.exp.min(6), out2.out.bits as i32 - 2);
        let mg = &bq.multgate;
        let multgate = MultGate {
            l: qconfig::fmt(&name_of("multgate.l"), mg.l_bits, mg.l_exp)?,
            r: qconfig::fmt(&name_of("multgate.r"), mg.r_bits, mg.r_exp)?,
            res: qconfig::fmt(&name_of("multgate.res"), mg.res_bits, mg.res_exp)?,
        };
        let residual = Fmt::new(multgate.res.bits.max(x_bits), 0);
        layers.push(Block {
            norm,
            ssm,
            out2,
            sigmoid,
            multgate,
            residual,
        });
    }
    let decoder = dense("decoder", &fm.decoder, &qc.decoder)?;
    let dims = Dims {
        d_input: fm.d_input as u32,
        d_model: h as u32,
        d_state: p as u32,
        d_output: fm.d_output as u32,
        n_layers: fm.layers.len() as u32,
    };
    Ok(Model {
        name: name.to_string(),
        provenance: provenance.to_string(),
        dims,
        input,
        encoder,
        layers,
        decoder,
    })
}
