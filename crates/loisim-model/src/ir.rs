//! The model IR: a quantized, unstructured-sparse S5 audio-denoising network.
//!
//! Structure (spec section 1): encoder Dense + ReLU, `n_layers` S5 blocks (batch norm, B
//! projection, complex diagonal recurrence, complex ReLU, C projection with the
//! conjugate-symmetry factor 2, D term, ReLU, GLU "half1" gate, residual, ReLU), decoder Dense.
//! Every tensor carries its fixed-point format; every activation's format is stored on the op
//! that produces it. Nothing here is floating point except the preprocessing offset.

use crate::fxp::Fmt;
use crate::matrix::SparseMatrix;
use serde::{Deserialize, Serialize};
use std::fmt;

/// Index of an S5 block inside a model.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct LayerId(pub u32);

impl LayerId {
    /// The index as `usize`.
    pub fn index(self) -> usize {
        self.0 as usize
    }
}

impl fmt::Display for LayerId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "layer {}", self.0)
    }
}

/// Dimensions of a model.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Dims {
    /// Input features per token (257 STFT bins for the audio model).
    pub d_input: u32,
    /// Model width H.
    pub d_model: u32,
    /// Complex states P per block.
    pub d_state: u32,
    /// Output features per token.
    pub d_output: u32,
    /// Number of S5 blocks L.
    pub n_layers: u32,
}

/// A vector of integers in one format (biases, diagonals, batch-norm constants).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Vector {
    /// Format of every element.
    pub fmt: Fmt,
    /// The integers.
    pub values: Vec<i32>,
}

impl Vector {
    /// A vector in `fmt`.
    pub fn new(fmt: Fmt, values: Vec<i32>) -> Self {
        Self { fmt, values }
    }

    /// Number of elements.
    pub fn len(&self) -> usize {
        self.values.len()
    }

    /// Whether the vector is empty.
    pub fn is_empty(&self) -> bool {
        self.values.is_empty()
    }

    /// Element `i` widened to `i64`.
    pub fn get(&self, i: usize) -> i64 {
        i64::from(self.values[i])
    }
}

/// How a float input is turned into the model's input integers (spec 6.0).
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct InputSpec {
    /// Format of the input integers.
    pub fmt: Fmt,
    /// Constant subtracted (in float32) from the STFT magnitude before flooring.
    pub offset: f32,
}

/// A fully connected layer (spec 5.2): `y = sat(sat((W x) >> s) + sat(align(bias)))`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Dense {
    /// Weights, `n_in` inputs to `n_out` outputs.
    pub weight: SparseMatrix,
    /// Bias, one per output.
    pub bias: Vector,
    /// Configured input format: an incoming activation with more bits or more fraction bits is
    /// converted to it; otherwise it is used as is (quirk Q8).
    pub inp: Fmt,
    /// Output format.
    pub out: Fmt,
}

impl Dense {
    /// The exponent the matrix product actually uses for an incoming activation in `x` (Q8).
    pub fn effective_input(&self, x: Fmt) -> Fmt {
        if x.bits > self.inp.bits || x.exp > self.inp.exp {
            self.inp
        } else {
            x
        }
    }

    /// Whether an incoming activation in `x` is converted before the product.
    pub fn converts_input(&self, x: Fmt) -> bool {
        x.bits > self.inp.bits || x.exp > self.inp.exp
    }
}

/// Batch norm with running statistics, un-fused, pre-norm (spec 6.2).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Norm {
    /// `round(-mean)`, one per channel.
    pub minus_mean: Vector,
    /// `1 / sqrt(var + eps)`, one per channel.
    pub invsq_var: Vector,
    /// Result format of `x + minus_mean` (exponent frozen at calibration).
    pub sub: Fmt,
    /// Result format of the multiply by `invsq_var` (exponent frozen at calibration).
    pub mul: Fmt,
    /// Affine terms, when the norm has them.
    pub affine: Option<NormAffine>,
}

impl Norm {
    /// Format of the norm's output (that of its last step).
    pub fn out(&self) -> Fmt {
        match &self.affine {
            Some(a) => a.add_bias,
            None => self.mul,
        }
    }
}

/// The optional affine part of a batch norm.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct NormAffine {
    /// gamma.
    pub scale: Vector,
    /// beta.
    pub bias: Vector,
    /// Result format of the multiply by `scale` (frozen).
    pub mul_scale: Fmt,
    /// Result format of the add of `bias` (frozen).
    pub add_bias: Fmt,
}

/// The S5 state-space mixer of one block (spec 6.3 to 6.10).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Ssm {
    /// Re of the discretized diagonal, one per complex state.
    pub lambda_re: Vector,
    /// Im of the discretized diagonal.
    pub lambda_im: Vector,
    /// Re of B-bar, H inputs to P states.
    pub b_re: SparseMatrix,
    /// Im of B-bar.
    pub b_im: SparseMatrix,
    /// Re of C-tilde, P states to H outputs.
    pub c_re: SparseMatrix,
    /// Im of C-tilde.
    pub c_im: SparseMatrix,
    /// Feed-through diagonal, one per channel.
    pub d: Vector,
    /// Format of the SSM input `u` (the norm output is converted to it).
    pub u: Fmt,
    /// Format of `Re(B u)`.
    pub bu_re: Fmt,
    /// Format of `Im(B u)`.
    pub bu_im: Fmt,
    /// Format of the real part of the state (width nominal: the state is never saturated).
    pub x_re: Fmt,
    /// Format of the imaginary part of the state (width nominal).
    pub x_im: Fmt,
    /// Format of the SSM output `y`.
    pub y: Fmt,
}

/// The sigmoid lookup table of the GLU gate (spec 7).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Sigmoid {
    /// Input fraction bits (capped at 6 upstream).
    pub x_exp: i32,
    /// Output fraction bits.
    pub y_exp: i32,
    /// `RNE(2^y_exp * sigma(k)) - 2^(y_exp - 1)` for k = 0..7.
    pub lut: [i32; 8],
}

impl Sigmoid {
    /// Spec 7: the table with linear interpolation for a gate pre-activation `g` of exponent
    /// `e_go`, in 64-bit arithmetic. Requires `x_exp <= e_go` (checked by validation).
    pub fn eval(&self, g: i64, e_go: i32) -> i64 {
        let xx = crate::fxp::shr(g, (e_go - self.x_exp) as u32);
        let a = xx.abs();
        let sign = if xx > 0 { 1 } else { -1 };
        let ind = (a >> self.x_exp).min(6) as usize;
        let mu = a & ((1i64 << self.x_exp) - 1);
        let one = 1i64 << self.x_exp;
        let half = (((one - mu) * i64::from(self.lut[ind])) >> self.x_exp)
            + ((mu * i64::from(self.lut[ind + 1])) >> self.x_exp);
        (1i64 << (self.y_exp - 1)) + sign * half
    }

    /// The standard table for `y_exp`, as upstream builds it.
    pub fn standard(x_exp: i32, y_exp: i32) -> Self {
        let mut lut = [0i32; 8];
        let scale = libm::exp2(f64::from(y_exp));
        let half = 1i64 << (y_exp - 1);
        for (k, e) in lut.iter_mut().enumerate() {
            let sigma = 1.0 / (1.0 + libm::exp(-(k as f64)));
            *e = ((scale * sigma).round_ties_even() as i64 - half) as i32;
        }
        Self { x_exp, y_exp, lut }
    }
}

/// The GLU multiplicative gate's formats (spec 6.14, 6.15).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct MultGate {
    /// Left operand (the SSM output after ReLU).
    pub l: Fmt,
    /// Right operand (the sigmoid).
    pub r: Fmt,
    /// Product.
    pub res: Fmt,
}

/// One S5 block.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Block {
    /// Pre-norm.
    pub norm: Norm,
    /// The state-space mixer.
    pub ssm: Ssm,
    /// The gate's Dense (H to H).
    pub out2: Dense,
    /// The gate's sigmoid table.
    pub sigmoid: Sigmoid,
    /// The gate multiply.
    pub multgate: MultGate,
    /// Result format of the residual add (exponent frozen at calibration).
    pub residual: Fmt,
}

/// A quantized sparse S5 network.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Model {
    /// Short name, e.g. `s5-sparse-1x`.
    pub name: String,
    /// Where the model came from (import source or generation arguments).
    pub provenance: String,
    /// Dimensions.
    pub dims: Dims,
    /// Input preprocessing and format.
    pub input: InputSpec,
    /// Encoder Dense (followed by ReLU).
    pub encoder: Dense,
    /// The S5 blocks.
    pub layers: Vec<Block>,
    /// Decoder Dense (no nonlinearity).
    pub decoder: Dense,
}

impl Model {
    /// Format of the encoder's output (after ReLU).
    pub fn encoder_out(&self) -> Fmt {
        self.encoder.out
    }

    /// Format of the activation entering block `l` (the skip path).
    pub fn layer_input(&self, l: usize) -> Fmt {
        if l == 0 {
            self.encoder.out
        } else {
            self.layers[l - 1].residual
        }
    }

    /// Format of the activation entering the decoder.
    pub fn decoder_input(&self) -> Fmt {
        self.layer_input(self.layers.len())
    }

    /// Format of the model output (the mask).
    pub fn output(&self) -> Fmt {
        self.decoder.out
    }

    /// Every sparse matrix of the model with a descriptive name.
    pub fn matrices(&self) -> Vec<(String, &SparseMatrix)> {
        let mut v = vec![("encoder".to_string(), &self.encoder.weight)];
        for (l, b) in self.layers.iter().enumerate() {
            v.push((format!("layers[{l}].B_re"), &b.ssm.b_re));
            v.push((format!("layers[{l}].B_im"), &b.ssm.b_im));
            v.push((format!("layers[{l}].C_re"), &b.ssm.c_re));
            v.push((format!("layers[{l}].C_im"), &b.ssm.c_im));
            v.push((format!("layers[{l}].out2"), &b.out2.weight));
        }
        v.push(("decoder".to_string(), &self.decoder.weight));
        v
    }
}
