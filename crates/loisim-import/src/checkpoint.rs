//! Float S5 checkpoints with the upstream (Flax) parameter names of spec section 2.
//!
//! Names are matched after normalisation: a leading `params` or `batch_stats` collection is
//! dropped and `/` separators become `.`, so `params/encoder/layers_0/mixer/B`,
//! `encoder/layers_0/mixer/B` and `encoder.layers_0.mixer.B` all name the same tensor.

use crate::error::ImportError;
use crate::tensors::{Tensor, TensorFile, Values};
use std::collections::BTreeMap;
use std::path::Path;

/// A float Dense layer; `kernel` is `[in, out]` row-major (Flax orientation).
#[derive(Clone, Debug, PartialEq)]
pub struct FloatDense {
    /// Inputs.
    pub n_in: usize,
    /// Outputs.
    pub n_out: usize,
    /// `[in, out]`.
    pub kernel: Vec<f32>,
    /// `[out]`.
    pub bias: Vec<f32>,
}

impl FloatDense {
    /// `kernel[i, o]`.
    pub fn w(&self, i: usize, o: usize) -> f32 {
        self.kernel[i * self.n_out + o]
    }
}

/// One float S5 block.
#[derive(Clone, Debug, PartialEq)]
pub struct FloatBlock {
    /// Re of the continuous-time diagonal, `[P]`.
    pub lambda_re: Vec<f32>,
    /// Im of the continuous-time diagonal, `[P]`.
    pub lambda_im: Vec<f32>,
    /// `[P, H, 2]`: `B[p, h, 0] + i B[p, h, 1]`.
    pub b: Vec<f32>,
    /// `[H, P, 2]`.
    pub c: Vec<f32>,
    /// `[H]`.
    pub d: Vec<f32>,
    /// `[P]` (stored `[P, 1]`).
    pub log_step: Vec<f32>,
    /// Batch-norm running mean, `[H]`.
    pub norm_mean: Vec<f32>,
    /// Batch-norm running variance, `[H]`.
    pub norm_var: Vec<f32>,
    /// gamma and beta, for an affine norm.
    pub norm_affine: Option<(Vec<f32>, Vec<f32>)>,
    /// The gate Dense.
    pub out2: FloatDense,
}

/// A float S5 model.
#[derive(Clone, Debug, PartialEq)]
pub struct FloatModel {
    /// Input features.
    pub d_input: usize,
    /// Width H.
    pub d_model: usize,
    /// Complex states P.
    pub d_state: usize,
    /// Output features.
    pub d_output: usize,
    /// Encoder.
    pub encoder: FloatDense,
    /// Blocks.
    pub layers: Vec<FloatBlock>,
    /// Decoder.
    pub decoder: FloatDense,
}

fn normalize(name: &str) -> String {
    let n = name.replace('/', ".");
    for prefix in ["params.", "batch_stats."] {
        if let Some(rest) = n.strip_prefix(prefix) {
            return rest.to_string();
        }
    }
    n
}

struct Reader<'a> {
    path: &'a Path,
    tensors: BTreeMap<String, &'a Tensor>,
}

impl Reader<'_> {
    fn has(&self, name: &str) -> bool {
        self.tensors.contains_key(name)
    }

    fn floats(&self, name: &str, shape: &[usize]) -> Result<Vec<f32>, ImportError> {
        let t = self
            .tensors
            .get(name)
            .ok_or_else(|| ImportError::MissingTensor {
                path: self.path.to_path_buf(),
                name: name.to_string(),
            })?;
        // A [P, 1] log_step may also come as [P].
        let squeeze =
            |s: &[usize]| -> Vec<usize> { s.iter().copied().filter(|&d| d != 1).collect() };
        if t.shape != shape && squeeze(&t.shape) != squeeze(shape) {
            return Err(ImportError::invalid(
                self.path,
                format!(
                    "tensor `{name}` has shape {:?}, expected {shape:?}",
                    t.shape
                ),
            ));
        }
        let v: Vec<f32> = match &t.values {
            Values::F32(v) => v.clone(),
            Values::F64(v) => v.iter().map(|&x| x as f32).collect(),
            Values::Int(_) => {
                return Err(ImportError::invalid(
                    self.path,
                    format!("tensor `{name}` is integer, expected float"),
                ));
            }
        };
        if let Some((i, x)) = v.iter().enumerate().find(|(_, x)| !x.is_finite()) {
            return Err(ImportError::invalid(
                self.path,
                format!("tensor `{name}` element {i} is {x}"),
            ));
        }
        Ok(v)
    }

    fn shape(&self, name: &str) -> Result<&[usize], ImportError> {
        self.tensors
            .get(name)
            .map(|t| t.shape.as_slice())
            .ok_or_else(|| ImportError::MissingTensor {
                path: self.path.to_path_buf(),
                name: name.to_string(),
            })
    }

    fn dense(&self, prefix: &str, n_in: usize, n_out: usize) -> Result<FloatDense, ImportError> {
        Ok(FloatDense {
            n_in,
            n_out,
            kernel: self.floats(&format!("{prefix}.kernel"), &[n_in, n_out])?,
            bias: self.floats(&format!("{prefix}.bias"), &[n_out])?,
        })
    }
}

impl FloatModel {
    /// Reads a float checkpoint (safetensors, or `.npz` by extension).
    pub fn read(path: &Path) -> Result<Self, ImportError> {
        let file = TensorFile::read_checkpoint(path)?;
        Self::from_tensors(&file)
    }

    /// Builds a float model from named tensors.
    pub fn from_tensors(file: &TensorFile) -> Result<Self, ImportError> {
        let r = Reader {
            path: &file.path,
            tensors: file
                .tensors
                .iter()
                .map(|(k, v)| (normalize(k), v))
                .collect(),
        };
        let enc_shape = r.shape("encoder.encoder.kernel")?;
        let [d_input, h] = enc_shape[..] else {
            return Err(ImportError::invalid(
                &file.path,
                "encoder.encoder.kernel must be 2-D [d_input, d_model]",
            ));
        };
        let dec_shape = r.shape("decoder.kernel")?;
        let [_, d_output] = dec_shape[..] else {
            return Err(ImportError::invalid(
                &file.path,
                "decoder.kernel must be 2-D [d_model, d_output]",
            ));
        };
        let p = match r.shape("encoder.layers_0.mixer.Lambda_re")? {
            [p] => *p,
            other => {
                return Err(ImportError::invalid(
                    &file.path,
                    format!("Lambda_re has shape {other:?}, expected [P]"),
                ));
            }
        };
        let encoder = r.dense("encoder.encoder", d_input, h)?;
        let mut layers = Vec::new();
        while r.has(&format!("encoder.layers_{}.mixer.Lambda_re", layers.len())) {
            let pre = format!("encoder.layers_{}", layers.len());
            let f = |s: &str, shape: &[usize]| r.floats(&format!("{pre}.{s}"), shape);
            let norm_affine =
                if r.has(&format!("{pre}.norm.scale")) || r.has(&format!("{pre}.norm.bias")) {
                    Some((f("norm.scale", &[h])?, f("norm.bias", &[h])?))
                } else {
                    None
                };
            let norm_var = f("norm.var", &[h])?;
            if let Some((i, v)) = norm_var.iter().enumerate().find(|(_, v)| **v < 0.0) {
                return Err(ImportError::invalid(
                    &file.path,
                    format!("{pre}.norm.var element {i} is negative ({v})"),
                ));
            }
            layers.push(FloatBlock {
                lambda_re: f("mixer.Lambda_re", &[p])?,
                lambda_im: f("mixer.Lambda_im", &[p])?,
                b: f("mixer.B", &[p, h, 2])?,
                c: f("mixer.C", &[h, p, 2])?,
                d: f("mixer.D", &[h])?,
                log_step: f("mixer.log_step", &[p, 1])?,
                norm_mean: f("norm.mean", &[h])?,
                norm_var,
                norm_affine,
                out2: r.dense(&format!("{pre}.out2"), h, h)?,
            });
        }
        if layers.is_empty() {
            return Err(ImportError::invalid(
                &file.path,
                "no S5 blocks (encoder.layers_0.mixer.*) found",
            ));
        }
        if layers.iter().any(|b| {
            b.lambda_re
                .iter()
                .zip(&b.lambda_im)
                .any(|(&re, &im)| re == 0.0 && im == 0.0)
        }) {
            return Err(ImportError::invalid(
                &file.path,
                "an eigenvalue Lambda is exactly 0: the ZOH discretization divides by Lambda",
            ));
        }
        let decoder = r.dense("decoder", h, d_output)?;
        Ok(Self {
            d_input,
            d_model: h,
            d_state: p,
            d_output,
            encoder,
            layers,
            decoder,
        })
    }
}
