//! Model validation: every invariant the reference executor, the compiler and the simulator
//! rely on is checked here, once, with an error that names the offending tensor.
//!
//! Invariants of a valid [`Model`]:
//! - `dims` agree with every matrix shape and vector length, and `n_layers == layers.len()`;
//! - every format has 2..=32 bits and an exponent in 0..=31;
//! - every stored integer fits its format;
//! - every shift the forward pass performs (spec section 6) is in 0..=31, so no step of the
//!   forward pass can fail or panic on a valid model;
//! - the sigmoid table has `x_exp <= out2.out.exp`, `0 <= x_exp <= 30` and `1 <= y_exp <= 30`.

use crate::fxp::Fmt;
use crate::ir::{Dense, Model, Vector};
use crate::matrix::SparseMatrix;

/// A model that breaks one of the invariants above.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{path}: {message}")]
pub struct ModelError {
    /// Where in the model (e.g. `layers[1].ssm.B_re`).
    pub path: String,
    /// What is wrong, with the numbers involved.
    pub message: String,
}

impl ModelError {
    pub(crate) fn new(path: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            path: path.into(),
            message: message.into(),
        }
    }
}

/// The largest dimension loisim accepts (a sanity bound, far above any S5 model).
pub const MAX_DIM: u32 = 1 << 16;
/// The largest number of layers loisim accepts.
pub const MAX_LAYERS: u32 = 1024;

type Result<T = ()> = std::result::Result<T, ModelError>;

fn check_fmt(path: &str, f: Fmt) -> Result {
    if !(2..=32).contains(&f.bits) {
        return Err(ModelError::new(
            path,
            format!("format {f} has {} bits; loisim supports 2..=32", f.bits),
        ));
    }
    if !(0..=31).contains(&f.exp) {
        return Err(ModelError::new(
            path,
            format!("format {f} has exponent {}; it must be in 0..=31", f.exp),
        ));
    }
    Ok(())
}

fn check_vector(path: &str, v: &Vector, len: u32) -> Result {
    check_fmt(path, v.fmt)?;
    if v.len() != len as usize {
        return Err(ModelError::new(
            path,
            format!("has {} elements, expected {len}", v.len()),
        ));
    }
    if let Some((i, &x)) = v
        .values
        .iter()
        .enumerate()
        .find(|&(_, &x)| !v.fmt.contains(i64::from(x)))
    {
        return Err(ModelError::new(
            path,
            format!("element {i} = {x} does not fit {} signed bits", v.fmt.bits),
        ));
    }
    Ok(())
}

fn check_matrix(path: &str, m: &SparseMatrix, n_in: u32, n_out: u32) -> Result {
    check_fmt(path, m.fmt())?;
    if m.n_in() != n_in as usize || m.n_out() != n_out as usize {
        return Err(ModelError::new(
            path,
            format!(
                "maps {} inputs to {} outputs, expected {n_in} to {n_out}",
                m.n_in(),
                m.n_out()
            ),
        ));
    }
    Ok(())
}

/// Checks that `a + b - c` (a floor right-shift amount of the forward pass) is in 0..=31.
fn check_shift(path: &str, what: &str, a: i32, b: i32, c: i32) -> Result {
    let s = a + b - c;
    if !(0..=31).contains(&s) {
        return Err(ModelError::new(
            path,
            format!(
                "{what} needs a right shift of {a} + {b} - {c} = {s} bits; it must be in 0..=31"
            ),
        ));
    }
    Ok(())
}

fn check_dense(path: &str, d: &Dense, n_in: u32, n_out: u32, incoming: Fmt) -> Result {
    check_matrix(&format!("{path}.kernel"), &d.weight, n_in, n_out)?;
    check_vector(&format!("{path}.bias"), &d.bias, n_out)?;
    check_fmt(&format!("{path}.inp"), d.inp)?;
    check_fmt(&format!("{path}.out"), d.out)?;
    let x = d.effective_input(incoming);
    check_shift(
        path,
        "the matrix product",
        x.exp,
        d.weight.fmt().exp,
        d.out.exp,
    )
}

impl Model {
    /// Checks the SSM and gate of block `l`: formats, shapes and every shift they perform
    /// (calibration runs them before the whole model can be validated).
    pub(crate) fn check_ssm_and_gate(&self, l: usize) -> Result {
        let (h, p) = (self.dims.d_model, self.dims.d_state);
        let b = &self.layers[l];
        let path = |s: &str| format!("layers[{l}].{s}");
        // SSM.
        let s = &b.ssm;
        for (name, f) in [
            ("ssm.u", s.u),
            ("ssm.Bu_re", s.bu_re),
            ("ssm.Bu_im", s.bu_im),
            ("ssm.x_re", s.x_re),
            ("ssm.x_im", s.x_im),
            ("ssm.y", s.y),
        ] {
            check_fmt(&path(name), f)?;
        }
        check_vector(&path("ssm.Lambda_bar_re"), &s.lambda_re, p)?;
        check_vector(&path("ssm.Lambda_bar_im"), &s.lambda_im, p)?;
        check_vector(&path("ssm.D"), &s.d, h)?;
        check_matrix(&path("ssm.B_bar_re"), &s.b_re, h, p)?;
        check_matrix(&path("ssm.B_bar_im"), &s.b_im, h, p)?;
        check_matrix(&path("ssm.C_re"), &s.c_re, p, h)?;
        check_matrix(&path("ssm.C_im"), &s.c_im, p, h)?;
        check_shift(
            &path("ssm.Bu_re"),
            "the B_re projection",
            s.u.exp,
            s.b_re.fmt().exp,
            s.bu_re.exp,
        )?;
        check_shift(
            &path("ssm.Bu_im"),
            "the B_im projection",
            s.u.exp,
            s.b_im.fmt().exp,
            s.bu_im.exp,
        )?;
        check_shift(
            &path("ssm.C_re"),
            "the C_re projection",
            s.x_re.exp,
            s.c_re.fmt().exp,
            s.y.exp,
        )?;
        check_shift(
            &path("ssm.C_im"),
            "the C_im projection",
            s.x_im.exp,
            s.c_im.fmt().exp,
            s.y.exp,
        )?;
        check_shift(&path("ssm.D"), "the D term", s.d.fmt.exp, s.u.exp, s.y.exp)?;
        // Gate.
        check_dense(&path("out2"), &b.out2, h, h, s.y)?;
        let sg = &b.sigmoid;
        let go = b.out2.out;
        if !(0..=30).contains(&sg.x_exp) || !(1..=30).contains(&sg.y_exp) {
            return Err(ModelError::new(
                path("sigmoid"),
                format!(
                    "x_exp {} must be in 0..=30 and y_exp {} in 1..=30",
                    sg.x_exp, sg.y_exp
                ),
            ));
        }
        if sg.x_exp > go.exp {
            return Err(ModelError::new(
                path("sigmoid"),
                format!(
                    "x_exp {} exceeds the out2 output exponent {}",
                    sg.x_exp, go.exp
                ),
            ));
        }
        if go.exp - sg.x_exp > 31 {
            return Err(ModelError::new(
                path("sigmoid"),
                "input shift exceeds 31 bits",
            ));
        }
        if let Some(v) = sg.lut.iter().find(|v| v.unsigned_abs() > 1 << 30) {
            return Err(ModelError::new(
                path("sigmoid.lut"),
                format!("entry {v} is out of range"),
            ));
        }
        let mg = &b.multgate;
        check_fmt(&path("multgate.l"), mg.l)?;
        check_fmt(&path("multgate.r"), mg.r)?;
        check_fmt(&path("multgate.res"), mg.res)?;
        check_shift(
            &path("multgate"),
            "the gate multiply",
            mg.l.exp,
            mg.r.exp,
            mg.res.exp,
        )?;
        Ok(())
    }

    /// Checks every invariant listed in the module documentation.
    pub fn validate(&self) -> Result {
        let d = self.dims;
        for (name, v) in [
            ("d_input", d.d_input),
            ("d_model", d.d_model),
            ("d_state", d.d_state),
            ("d_output", d.d_output),
        ] {
            if v == 0 || v > MAX_DIM {
                return Err(ModelError::new(
                    format!("dims.{name}"),
                    format!("is {v}; it must be in 1..={MAX_DIM}"),
                ));
            }
        }
        if d.n_layers > MAX_LAYERS {
            return Err(ModelError::new(
                "dims.n_layers",
                format!("is {}; at most {MAX_LAYERS}", d.n_layers),
            ));
        }
        if d.n_layers as usize != self.layers.len() {
            return Err(ModelError::new(
                "dims.n_layers",
                format!(
                    "says {} layers but the model has {}",
                    d.n_layers,
                    self.layers.len()
                ),
            ));
        }
        if self.name.len() > 4096 || self.provenance.len() > 65536 {
            return Err(ModelError::new(
                "name",
                "name or provenance text is unreasonably long",
            ));
        }
        check_fmt("input", self.input.fmt)?;
        if !self.input.offset.is_finite() {
            return Err(ModelError::new(
                "input.offset",
                format!("is {}; it must be finite", self.input.offset),
            ));
        }
        let h = d.d_model;
        check_dense("encoder", &self.encoder, d.d_input, h, self.input.fmt)?;
        for (l, b) in self.layers.iter().enumerate() {
            let path = |s: &str| format!("layers[{l}].{s}");
            // Batch norm.
            let n = &b.norm;
            check_vector(&path("norm.minus_mean"), &n.minus_mean, h)?;
            check_vector(&path("norm.invsq_var"), &n.invsq_var, h)?;
            check_fmt(&path("norm.sub"), n.sub)?;
            check_fmt(&path("norm.mul"), n.mul)?;
            check_shift(
                &path("norm.mul"),
                "the multiply by invsq_var",
                n.sub.exp,
                n.invsq_var.fmt.exp,
                n.mul.exp,
            )?;
            if let Some(a) = &n.affine {
                check_vector(&path("norm.scale"), &a.scale, h)?;
                check_vector(&path("norm.bias"), &a.bias, h)?;
                check_fmt(&path("norm.mul_scale"), a.mul_scale)?;
                check_fmt(&path("norm.add_bias"), a.add_bias)?;
                check_shift(
                    &path("norm.mul_scale"),
                    "the multiply by scale",
                    n.mul.exp,
                    a.scale.fmt.exp,
                    a.mul_scale.exp,
                )?;
            }
            self.check_ssm_and_gate(l)?;
            check_fmt(&path("residual"), b.residual)?;
        }
        check_dense(
            "decoder",
            &self.decoder,
            h,
            d.d_output,
            self.decoder_input(),
        )?;
        Ok(())
    }
}
