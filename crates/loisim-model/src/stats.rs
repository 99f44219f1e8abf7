//! Size and compute statistics of a model (what `loisim inspect` and `models/README.md` show).
//!
//! MAC counts per token follow the paper's convention: every matrix entry is one
//! multiply-accumulate, plus the elementwise products of each block: 4 per complex state for the
//! recurrence, and 2 per channel (the D term and the gate product). Batch-norm and bias adds are
//! not counted. "Effective" counts only non-zero weights; "active" further weights each input by
//! how often it is non-zero on a given input sequence.

use crate::ir::{Model, Vector};
use crate::matrix::SparseMatrix;
use crate::reference::TokenTrace;

/// Statistics of one weight matrix.
#[derive(Clone, Debug, PartialEq)]
pub struct MatrixStats {
    /// Name, e.g. `layers[0].B_re`.
    pub name: String,
    /// Inputs.
    pub n_in: usize,
    /// Outputs.
    pub n_out: usize,
    /// Weight width.
    pub bits: u32,
    /// Non-zero weights.
    pub nnz: usize,
    /// `nnz / (n_in * n_out)`.
    pub density: f64,
}

/// Statistics of a whole model.
#[derive(Clone, Debug, PartialEq)]
pub struct ModelStats {
    /// Per matrix.
    pub matrices: Vec<MatrixStats>,
    /// Number of parameters if every matrix were dense (vectors included).
    pub n_params_dense: u64,
    /// Number of stored parameters (non-zero matrix weights plus every vector element).
    pub n_params_nnz: u64,
    /// Bits of all parameters stored densely.
    pub param_bits_dense: u64,
    /// Bits of the stored parameters (non-zero weights only; no index overhead).
    pub param_bits_nnz: u64,
    /// Dense MACs per token.
    pub macs_dense: u64,
    /// MACs per token counting non-zero weights only.
    pub macs_effective: u64,
    /// Elementwise MACs per token (included in both counts above).
    pub macs_elementwise: u64,
}

fn vectors(model: &Model) -> Vec<&Vector> {
    let mut v = vec![&model.encoder.bias, &model.decoder.bias];
    for b in &model.layers {
        v.extend([
            &b.norm.minus_mean,
            &b.norm.invsq_var,
            &b.ssm.lambda_re,
            &b.ssm.lambda_im,
            &b.ssm.d,
            &b.out2.bias,
        ]);
        if let Some(a) = &b.norm.affine {
            v.extend([&a.scale, &a.bias]);
        }
    }
    v
}

impl ModelStats {
    /// Computes the statistics of a model.
    pub fn of(model: &Model) -> Self {
        let matrices: Vec<MatrixStats> = model
            .matrices()
            .into_iter()
            .map(|(name, m)| MatrixStats {
                name,
                n_in: m.n_in(),
                n_out: m.n_out(),
                bits: m.fmt().bits,
                nnz: m.nnz(),
                density: m.density(),
            })
            .collect();
        let vecs = vectors(model);
        let vec_params: u64 = vecs.iter().map(|v| v.len() as u64).sum();
        let vec_bits: u64 = vecs
            .iter()
            .map(|v| v.len() as u64 * u64::from(v.fmt.bits))
            .sum();
        let dense_w: u64 = matrices.iter().map(|m| (m.n_in * m.n_out) as u64).sum();
        let nnz_w: u64 = matrices.iter().map(|m| m.nnz as u64).sum();
        let dense_bits: u64 = matrices
            .iter()
            .map(|m| (m.n_in * m.n_out) as u64 * u64::from(m.bits))
            .sum();
        let nnz_bits: u64 = matrices
            .iter()
            .map(|m| m.nnz as u64 * u64::from(m.bits))
            .sum();
        let (h, p) = (u64::from(model.dims.d_model), u64::from(model.dims.d_state));
        let elementwise = model.layers.len() as u64 * (4 * p + 2 * h);
        Self {
            matrices,
            n_params_dense: dense_w + vec_params,
            n_params_nnz: nnz_w + vec_params,
            param_bits_dense: dense_bits + vec_bits,
            param_bits_nnz: nnz_bits + vec_bits,
            macs_dense: dense_w + elementwise,
            macs_effective: nnz_w + elementwise,
            macs_elementwise: elementwise,
        }
    }
}

/// Fraction of non-zero values per position, accumulated over tokens.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ActivityCounter {
    n_tokens: u64,
    /// Per matrix (same order as [`Model::matrices`]): non-zero count per input position.
    nonzero: Vec<Vec<u64>>,
}

impl ActivityCounter {
    /// A counter for a model's matrix inputs.
    pub fn new(model: &Model) -> Self {
        Self {
            n_tokens: 0,
            nonzero: model
                .matrices()
                .iter()
                .map(|(_, m)| vec![0; m.n_in()])
                .collect(),
        }
    }

    /// Adds one token's intermediates.
    pub fn add(&mut self, input: &[i32], trace: &TokenTrace) {
        self.n_tokens += 1;
        let nz = |v: &[i32]| -> Vec<bool> { v.iter().map(|&x| x != 0).collect() };
        // Matrix inputs in `Model::matrices` order: encoder reads the input; B_re and B_im read
        // u; C_re and C_im read the state after the complex ReLU; out2 reads ReLU(y); the
        // decoder reads the last block's output.
        let mut active = vec![nz(input)];
        for lt in &trace.layers {
            let (zr, zi): (Vec<bool>, Vec<bool>) = lt
                .x_re
                .iter()
                .zip(&lt.x_im)
                .map(|(&r, &i)| {
                    let (zr, zi) = crate::fxp::complex_relu(i64::from(r), i64::from(i));
                    (zr != 0, zi != 0)
                })
                .unzip();
            active.extend([
                nz(&lt.u),
                nz(&lt.u),
                zr,
                zi,
                lt.ssm_y.iter().map(|&y| y > 0).collect(),
            ]);
        }
        let last: &[i32] = match trace.layers.last() {
            Some(lt) => &lt.output,
            None => &trace.encoder_out_relu,
        };
        active.push(nz(last));
        for (counts, a) in self.nonzero.iter_mut().zip(&active) {
            for (c, &on) in counts.iter_mut().zip(a) {
                *c += u64::from(on);
            }
        }
    }

    /// Tokens seen.
    pub fn n_tokens(&self) -> u64 {
        self.n_tokens
    }

    /// Mean fraction of non-zero inputs of each matrix.
    pub fn input_density(&self) -> Vec<f64> {
        self.nonzero
            .iter()
            .map(|m| {
                let total = m.len() as f64 * self.n_tokens as f64;
                if total == 0.0 {
                    0.0
                } else {
                    m.iter().sum::<u64>() as f64 / total
                }
            })
            .collect()
    }

    /// MACs per token counting only non-zero weights with a non-zero input (mean over tokens),
    /// plus the elementwise MACs.
    pub fn active_macs(&self, model: &Model) -> f64 {
        if self.n_tokens == 0 {
            return 0.0;
        }
        let mats = model.matrices();
        let mut total = 0f64;
        for ((_, m), counts) in mats.iter().zip(&self.nonzero) {
            total += active_synapses(m, counts) as f64;
        }
        total / self.n_tokens as f64 + ModelStats::of(model).macs_elementwise as f64
    }
}

fn active_synapses(m: &SparseMatrix, nonzero_counts: &[u64]) -> u64 {
    m.fan_out_counts()
        .iter()
        .zip(nonzero_counts)
        .map(|(&f, &c)| u64::from(f) * c)
        .sum()
}
