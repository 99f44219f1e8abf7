//! Getting models and inputs into loisim.
//!
//! - [`export_v1`]: the "S5 fixed-point export v1" layout (`model.json` + `model.safetensors`).
//! - [`case`]: reference cases recorded by the authors' fixed-point implementation.
//! - [`tensors`]: safetensors, `.npz` and `.npy` reading.

pub mod case;
pub mod error;
pub mod export_v1;
pub mod tensors;

pub use error::ImportError;
pub mod checkpoint;
pub mod input;
pub mod observe;
pub mod qconfig;
pub mod quantize;
pub mod synth;

use loisim_model::Model;
use loisim_model::calibrate::calibrate;
use std::path::Path;

/// Imports a float checkpoint (spec section 2 names; safetensors or `.npz`).
///
/// With a quantization config, its formats are used as given (spec sections 3 and 8); without
/// one, formats are derived from a float pass over the calibration input by the spec's exponent
/// rules (the calibration input must then be float magnitudes). Either way the run-time
/// exponents are frozen on the calibration input (spec section 9).
pub fn import_float(
    checkpoint: &Path,
    qconfig: Option<&Path>,
    calibration: &Path,
) -> Result<Model, ImportError> {
    let mut fm = checkpoint::FloatModel::read(checkpoint)?;
    let name = checkpoint
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_else(|| "imported".into());
    let qc = match qconfig {
        Some(p) => qconfig::QConfig::read(p)?,
        None => {
            let t = tensors::read_npy(calibration)?;
            let tensors::Values::F32(mag) = &t.values else {
                return Err(ImportError::invalid(
                    calibration,
                    "deriving a quantization config needs float (STFT magnitude) calibration features; pass --qconfig or a float32 .npy",
                ));
            };
            if t.shape.len() != 2 || t.shape[1] != fm.d_input {
                return Err(ImportError::invalid(
                    calibration,
                    format!("has shape {:?}; expected [tokens, {}]", t.shape, fm.d_input),
                ));
            }
            let inputs: Vec<Vec<f64>> = mag
                .chunks(fm.d_input)
                .map(|r| {
                    r.iter()
                        .map(|&m| f64::from(m - quantize::DEFAULT_INPUT_OFFSET))
                        .collect()
                })
                .collect();
            let obs = observe::observe(&mut fm, &inputs, false);
            observe::derive_qconfig(&fm, &obs, observe::Recipe::W8A16, true)
        }
    };
    let provenance = format!(
        "float checkpoint {}{}; run-time exponents calibrated on {}",
        checkpoint.display(),
        qconfig
            .map(|q| format!(" quantized with {}", q.display()))
            .unwrap_or_default(),
        calibration.display()
    );
    let mut model = quantize::quantize(&fm, &qc, &name, &provenance)?;
    let tokens = input::read_tokens(calibration, &model)?;
    calibrate(&mut model, &tokens)?;
    Ok(model)
}
