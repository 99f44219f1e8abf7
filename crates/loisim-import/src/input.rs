//! Model inputs from `.npy` files.
//!
//! An integer array is taken as the model's input integers (each must fit the input format).
//! A float array holds STFT magnitudes: each value has the model's preprocessing offset
//! subtracted in float32 and is floored into the input format (spec 6.0). NaN or infinity is an
//! error. The array must be `[T, d_input]`.

use crate::error::ImportError;
use crate::tensors::{Tensor, Values, read_npy};
use loisim_model::Model;
use loisim_model::fxp::quantize_input;
use std::path::Path;

/// Input tokens, one vector of `d_input` integers per token.
pub type Tokens = Vec<Vec<i32>>;

/// Converts a tensor into input tokens for `model` (see the module documentation).
pub fn tokens_from_tensor(path: &Path, t: &Tensor, model: &Model) -> Result<Tokens, ImportError> {
    let d = model.dims.d_input as usize;
    let [n_tokens, width] = t.shape[..] else {
        return Err(ImportError::invalid(
            path,
            format!(
                "has shape {:?}; the model input must be [tokens, {d}]",
                t.shape
            ),
        ));
    };
    if width != d {
        return Err(ImportError::invalid(
            path,
            format!(
                "has shape [{n_tokens}, {width}]; this model takes {d} features per token ([tokens, {d}])"
            ),
        ));
    }
    if n_tokens == 0 {
        return Err(ImportError::invalid(path, "has no tokens"));
    }
    let f = model.input.fmt;
    let offset = model.input.offset;
    let floats = |v: &mut dyn Iterator<Item = f32>| -> Result<Tokens, ImportError> {
        let mut out = Vec::with_capacity(n_tokens);
        let mut row = Vec::with_capacity(d);
        for (k, x) in v.enumerate() {
            let q = quantize_input(x - offset, f).ok_or_else(|| {
                ImportError::invalid(
                    path,
                    format!(
                        "token {}, feature {}: {x} is not a finite number",
                        k / d,
                        k % d
                    ),
                )
            })?;
            row.push(q as i32);
            if row.len() == d {
                out.push(std::mem::replace(&mut row, Vec::with_capacity(d)));
            }
        }
        Ok(out)
    };
    match &t.values {
        Values::Int(v) => {
            if let Some((k, &x)) = v.iter().enumerate().find(|&(_, &x)| !f.contains(x)) {
                return Err(ImportError::invalid(
                    path,
                    format!(
                        "token {}, feature {}: {x} does not fit the model's {}-bit input format",
                        k / d,
                        k % d,
                        f.bits
                    ),
                ));
            }
            Ok(v.chunks(d)
                .map(|r| r.iter().map(|&x| x as i32).collect())
                .collect())
        }
        Values::F32(v) => floats(&mut v.iter().copied()),
        Values::F64(v) => floats(&mut v.iter().map(|&x| x as f32)),
    }
}

/// Reads `.npy` input tokens for `model`.
pub fn read_tokens(path: &Path, model: &Model) -> Result<Tokens, ImportError> {
    let t = read_npy(path)?;
    tokens_from_tensor(path, &t, model)
}

/// Quantizes float magnitudes (row-major `[T, d_input]`) for `model`.
pub fn tokens_from_magnitudes(mag: &[f32], model: &Model) -> Result<Tokens, ImportError> {
    let d = model.dims.d_input as usize;
    let t = Tensor {
        dtype: "F32".into(),
        shape: vec![mag.len() / d.max(1), d],
        values: Values::F32(mag.to_vec()),
    };
    if !mag.len().is_multiple_of(d.max(1)) {
        return Err(ImportError::Config(format!(
            "{} magnitudes do not make whole tokens of {d}",
            mag.len()
        )));
    }
    tokens_from_tensor(Path::new("<features>"), &t, model)
}
