//! The quantization configuration ("qconfig", spec section 8): bit widths and exponents of every
//! weight and activation, in the upstream JSON layout.
//!
//! Blocks share one configuration (`blocks: {ssm, multgate, out2, norm}`) or have one each
//! (`blocks: {layers_0: {...}, layers_1: {...}}`). Only `bits`/`exp` fields are read; the
//! observer statistics upstream stores beside them are kept when loisim derives a qconfig itself
//! (so a derived qconfig documents where its exponents came from) and ignored on input.

use crate::error::ImportError;
use loisim_model::Fmt;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::Path;

/// One format with, optionally, the statistics it was derived from.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct FmtQ {
    /// Width.
    pub bits: i64,
    /// Fraction bits.
    pub exp: i64,
    /// Largest magnitude observed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub absmax: Option<f64>,
    /// Integer bits.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub intbits: Option<i64>,
    /// Fraction bits from the quantizer scale.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fracbits: Option<i64>,
}

impl FmtQ {
    /// A bare format.
    pub fn new(bits: i64, exp: i64) -> Self {
        Self {
            bits,
            exp,
            absmax: None,
            intbits: None,
            fracbits: None,
        }
    }
}

/// A Dense layer's formats (upstream field names).
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct DenseQ {
    /// Weight width.
    pub w_bits: i64,
    /// Weight exponent.
    pub w_exp: i64,
    /// Bias width.
    pub b_bits: i64,
    /// Bias exponent.
    pub b_exp: i64,
    /// Input width.
    pub inp_bits: i64,
    /// Input exponent.
    pub inp_exp: i64,
    /// Output width.
    pub out_bits: i64,
    /// Output exponent.
    pub out_exp: i64,
    /// Weight |max|.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub w_absmax: Option<f64>,
    /// Input |max|.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub inp_absmax: Option<f64>,
    /// Output |max|.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub out_absmax: Option<f64>,
}

/// SSM weight formats.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[allow(non_snake_case, missing_docs)]
pub struct SsmWeightsQ {
    pub A_re: FmtQ,
    pub A_im: FmtQ,
    pub B_re: FmtQ,
    pub B_im: FmtQ,
    pub C_re: FmtQ,
    pub C_im: FmtQ,
    pub D: FmtQ,
}

/// SSM activation formats.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[allow(non_snake_case, missing_docs)]
pub struct SsmActivationsQ {
    pub u: FmtQ,
    pub Bu_re: FmtQ,
    pub Bu_im: FmtQ,
    pub x_re: FmtQ,
    pub x_im: FmtQ,
    pub y: FmtQ,
}

/// SSM formats.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct SsmQ {
    /// Weights.
    pub weights: SsmWeightsQ,
    /// Activations.
    pub activations: SsmActivationsQ,
}

/// Gate multiply formats.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[allow(missing_docs)]
pub struct MultGateQ {
    pub l_bits: i64,
    pub l_exp: i64,
    pub r_bits: i64,
    pub r_exp: i64,
    pub res_bits: i64,
    pub res_exp: i64,
}

/// Batch-norm parameter formats.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct NormQ {
    /// Mean (the stored `-mean` uses it).
    pub mean: FmtQ,
    /// `1/sqrt(var + eps)`.
    pub invsq_var: FmtQ,
    /// gamma, for an affine norm.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scale: Option<FmtQ>,
    /// beta, for an affine norm.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bias: Option<FmtQ>,
}

/// One block's formats.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct BlockQ {
    /// SSM.
    pub ssm: SsmQ,
    /// Gate multiply.
    pub multgate: MultGateQ,
    /// Gate Dense.
    pub out2: DenseQ,
    /// Batch norm.
    pub norm: NormQ,
}

/// A whole quantization configuration.
#[derive(Clone, Debug, PartialEq)]
pub struct QConfig {
    /// Encoder.
    pub encoder: DenseQ,
    /// Decoder.
    pub decoder: DenseQ,
    /// Shared block formats, or one per layer.
    pub blocks: BlocksQ,
}

/// Block formats: shared or per layer.
#[derive(Clone, Debug, PartialEq)]
pub enum BlocksQ {
    /// One configuration for every block.
    Shared(Box<BlockQ>),
    /// One configuration per block.
    PerLayer(Vec<BlockQ>),
}

#[derive(Serialize, Deserialize)]
struct QConfigJson {
    encoder: DenseQ,
    decoder: DenseQ,
    blocks: serde_json::Value,
}

impl QConfig {
    /// The formats of block `l`.
    pub fn block(&self, l: usize) -> Option<&BlockQ> {
        match &self.blocks {
            BlocksQ::Shared(b) => Some(b),
            BlocksQ::PerLayer(v) => v.get(l),
        }
    }

    /// Parses the upstream JSON layout.
    pub fn from_json(path: &Path, text: &[u8]) -> Result<Self, ImportError> {
        let bad = |e: String| {
            ImportError::invalid(path, format!("is not a valid quantization config: {e}"))
        };
        let j: QConfigJson = serde_json::from_slice(text).map_err(|e| bad(e.to_string()))?;
        let blocks = match &j.blocks {
            serde_json::Value::Object(map) if map.contains_key("layers_0") => {
                let mut v = Vec::new();
                while let Some(b) = map.get(&format!("layers_{}", v.len())) {
                    v.push(
                        serde_json::from_value::<BlockQ>(b.clone())
                            .map_err(|e| bad(format!("blocks.layers_{}: {e}", v.len())))?,
                    );
                }
                BlocksQ::PerLayer(v)
            }
            other => BlocksQ::Shared(Box::new(
                serde_json::from_value(other.clone()).map_err(|e| bad(format!("blocks: {e}")))?,
            )),
        };
        Ok(Self {
            encoder: j.encoder,
            decoder: j.decoder,
            blocks,
        })
    }

    /// Reads a qconfig file.
    pub fn read(path: &Path) -> Result<Self, ImportError> {
        let text = crate::tensors::read_file_within(path, crate::tensors::MAX_JSON_FILE)?;
        Self::from_json(path, &text)
    }

    /// The upstream JSON layout.
    pub fn to_json(&self) -> String {
        let blocks = match &self.blocks {
            BlocksQ::Shared(b) => serde_json::to_value(b.as_ref()),
            BlocksQ::PerLayer(v) => serde_json::to_value(
                v.iter()
                    .enumerate()
                    .map(|(l, b)| (format!("layers_{l}"), *b))
                    .collect::<BTreeMap<_, _>>(),
            ),
        }
        .unwrap_or(serde_json::Value::Null);
        let j = QConfigJson {
            encoder: self.encoder,
            decoder: self.decoder,
            blocks,
        };
        serde_json::to_string_pretty(&j).unwrap_or_default()
    }
}

/// Converts a qconfig (bits, exp) pair into a format, with range checks.
pub fn fmt(what: &str, bits: i64, exp: i64) -> Result<Fmt, ImportError> {
    if !(2..=32).contains(&bits) || !(0..=31).contains(&exp) {
        return Err(ImportError::Config(format!(
            "quantization config: {what} has bits {bits}, exp {exp}; loisim needs 2..=32 bits and an exponent in 0..=31"
        )));
    }
    Ok(Fmt::new(bits as u32, exp as i32))
}
