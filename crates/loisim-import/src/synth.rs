//! Synthetic paper-shaped S5 models (`loisim gen`).
//!
//! Shape: width multiplier `s` gives `J = floor(16 s)` blocks of the HiPPO initialisation,
//! `H = 12 J` channels and `P = 8 J` complex states (spec section 1). Parameters:
//! - `Lambda`: the HiPPO-LegS (N = 16) diagonal, `-1/2 + i w_k` with the eight negative
//!   imaginary parts of the normal part's eigenvalues, tiled over the `J` blocks (what S5's
//!   initialisation keeps under conjugate symmetry);
//! - `log_step ~ U[ln 1e-3, ln 1e-1]`;
//! - `B`, `C`, Dense kernels: lecun-normal on the effective (non-zero) fan-in, so a sparse
//!   matrix keeps the activation scale of a dense one; each row of `B` is further scaled by
//!   `|Lambda_k|`, which gives every mode the same stationary gain `|B_bar / (1 - Lambda_bar)|`
//!   (as training balances them); `D ~ N(0, 1)`; small normal biases;
//! - weight sparsity per matrix from the ERK distribution (jaxpruner's, with `log_step` in the
//!   budget, as upstream prunes) or uniform; masks are uniformly random (magnitude pruning of
//!   random weights), real and imaginary parts independent.
//!
//! The float model is then observed on a calibration input (batch-norm statistics set from the
//! data), its quantization config derived by the spec's rules with exponents shared across
//! blocks, quantized, and its run-time exponents frozen on the same input. Everything is
//! deterministic: the same arguments give the same bytes.

use crate::checkpoint::{FloatBlock, FloatDense, FloatModel};
use crate::error::ImportError;
use crate::input::tokens_from_magnitudes;
use crate::observe::{Recipe, derive_qconfig, observe};
use crate::qconfig::QConfig;
use crate::quantize::{DEFAULT_INPUT_OFFSET, quantize};
use loisim_model::Model;
use loisim_model::calibrate::calibrate;
use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// Imaginary parts of the eigenvalues of the normal part of the 16-state HiPPO-LegS matrix
/// (all real parts are -1/2), the conjugate half S5 keeps. Computed with `numpy.linalg.eigvals`
/// of `-(tril(q q^T) - diag(0..16)) + p p^T`, `q_n = sqrt(2n+1)`, `p_n = sqrt(n + 1/2)`; the
/// unit test `hippo_table_holds_eigenvalues` checks them.
pub const HIPPO_LEGS16_IMAG: [f64; 8] = [
    -80.96608092451338,
    -25.62922643742368,
    -13.834341819052243,
    -8.362104531407253,
    -5.090023629703044,
    -2.8996682227634922,
    -1.3719887819145002,
    -0.3520179158886851,
];

/// How weight sparsity is spread over the matrices.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Distribution {
    /// Erdos-Renyi-Kernel: density proportional to `sum(shape) / prod(shape)` (jaxpruner).
    Erk,
    /// The same sparsity for every matrix.
    Uniform,
}

/// Arguments of a synthetic model.
#[derive(Clone, Debug, PartialEq)]
pub struct GenConfig {
    /// Width multiplier `s` (the paper's dim_scale).
    pub width: f64,
    /// Number of S5 blocks.
    pub n_layers: usize,
    /// Target fraction of zero weights over the prunable tensors, in `[0, 1)`.
    pub sparsity: f64,
    /// Distribution of sparsity over matrices.
    pub distribution: Distribution,
    /// Random seed.
    pub seed: u64,
    /// Bit widths.
    pub recipe: Recipe,
}

impl GenConfig {
    /// Model width `H`.
    pub fn d_model(&self) -> usize {
        12 * self.blocks()
    }

    /// Complex states `P`.
    pub fn d_state(&self) -> usize {
        8 * self.blocks()
    }

    fn blocks(&self) -> usize {
        (16.0 * self.width).floor().max(0.0) as usize
    }

    /// A description of the arguments, stored as the model's provenance.
    pub fn describe(&self) -> String {
        format!(
            "loisim gen --width {} --layers {} --sparsity {} --distribution {} --seed {}",
            self.width,
            self.n_layers,
            self.sparsity,
            match self.distribution {
                Distribution::Erk => "erk",
                Distribution::Uniform => "uniform",
            },
            self.seed
        )
    }
}

/// Densities of the prunable tensors of shapes `shapes` for a global sparsity (jaxpruner's ERK
/// solver: tensors whose density would exceed 1 are made dense and the rest re-balanced).
pub fn erk_densities(shapes: &[Vec<usize>], sparsity: f64) -> Vec<f64> {
    let n: Vec<f64> = shapes
        .iter()
        .map(|s| s.iter().product::<usize>() as f64)
        .collect();
    let raw: Vec<f64> = shapes
        .iter()
        .zip(&n)
        .map(|(s, &k)| s.iter().sum::<usize>() as f64 / k)
        .collect();
    let mut dense = vec![false; n.len()];
    loop {
        let budget = (1.0 - sparsity) * n.iter().sum::<f64>()
            - n.iter()
                .zip(&dense)
                .filter(|(_, d)| **d)
                .map(|(k, _)| k)
                .sum::<f64>();
        let denom: f64 = (0..n.len())
            .filter(|&i| !dense[i])
            .map(|i| raw[i] * n[i])
            .sum();
        let eps = if denom > 0.0 { budget / denom } else { 0.0 };
        let newly: Vec<usize> = (0..n.len())
            .filter(|&i| !dense[i] && eps * raw[i] > 1.0)
            .collect();
        if newly.is_empty() {
            return (0..n.len())
                .map(|i| {
                    if dense[i] {
                        1.0
                    } else {
                        (eps * raw[i]).max(0.0)
                    }
                })
                .collect();
        }
        for i in newly {
            dense[i] = true;
        }
    }
}

struct Sampler(ChaCha8Rng);

impl Sampler {
    fn uniform(&mut self) -> f64 {
        self.0.random::<f64>()
    }

    /// Standard normal by Box-Muller (libm, so identical on every platform).
    fn normal(&mut self) -> f64 {
        let u1 = 1.0 - self.uniform(); // (0, 1]
        let u2 = self.uniform();
        libm::sqrt(-2.0 * libm::log(u1)) * libm::cos(2.0 * std::f64::consts::PI * u2)
    }

    /// A mask with exactly `round(density * n)` ones.
    fn mask(&mut self, n: usize, density: f64) -> Vec<bool> {
        let k = ((density * n as f64).round() as usize).min(n);
        let mut m = vec![false; n];
        for i in rand::seq::index::sample(&mut self.0, n, k).iter() {
            m[i] = true;
        }
        m
    }

    /// `n` normal values with standard deviation `std`, zeroed outside a random mask.
    fn sparse_normal(&mut self, n: usize, density: f64, std: f64) -> Vec<f32> {
        let mask = self.mask(n, density);
        mask.iter()
            .map(|&on| {
                if on {
                    (self.normal() * std) as f32
                } else {
                    0.0
                }
            })
            .collect()
    }
}

/// The float parameters of a synthetic model (batch-norm statistics are placeholders until
/// observed).
pub fn synthesize_float(cfg: &GenConfig) -> Result<FloatModel, ImportError> {
    if !(cfg.width.is_finite() && cfg.width >= 1.0 / 16.0 && cfg.width <= 64.0) {
        return Err(ImportError::Config(format!(
            "width {} must be between 1/16 (H = 12) and 64; the paper's models are 0.25 to 3",
            cfg.width
        )));
    }
    if !(0.0..1.0).contains(&cfg.sparsity) {
        return Err(ImportError::Config(format!(
            "sparsity {} must be in [0, 1)",
            cfg.sparsity
        )));
    }
    if cfg.n_layers == 0 || cfg.n_layers > 64 {
        return Err(ImportError::Config(format!(
            "layers {} must be in 1..=64",
            cfg.n_layers
        )));
    }
    let (d_in, d_out) = (257usize, 257usize);
    let (h, p, nl) = (cfg.d_model(), cfg.d_state(), cfg.n_layers);
    // Prunable tensors in upstream order: encoder, per layer B, C, out2, log_step; decoder.
    let mut shapes = vec![vec![d_in, h]];
    for _ in 0..nl {
        shapes.extend([vec![p, h, 2], vec![h, p, 2], vec![h, h], vec![p, 1]]);
    }
    shapes.push(vec![h, d_out]);
    let dens = match cfg.distribution {
        Distribution::Erk => erk_densities(&shapes, cfg.sparsity),
        Distribution::Uniform => shapes
            .iter()
            .map(|s| {
                if s.len() == 2 && s[1] == 1 {
                    1.0
                } else {
                    1.0 - cfg.sparsity
                }
            })
            .collect(),
    };
    let mut s = Sampler(ChaCha8Rng::seed_from_u64(cfg.seed));
    let dense = |s: &mut Sampler, n_in: usize, n_out: usize, density: f64| -> FloatDense {
        let std = (1.0 / (n_in as f64 * density.max(1e-9))).sqrt();
        let kernel = s.sparse_normal(n_in * n_out, density, std);
        let bias = (0..n_out).map(|_| (s.normal() * 0.02) as f32).collect();
        FloatDense {
            n_in,
            n_out,
            kernel,
            bias,
        }
    };
    let encoder = dense(&mut s, d_in, h, dens[0]);
    let mut layers = Vec::with_capacity(nl);
    for l in 0..nl {
        let (db, dc, dout2) = (dens[1 + 4 * l], dens[2 + 4 * l], dens[3 + 4 * l]);
        let lambda_re = vec![-0.5f32; p];
        let lambda_im: Vec<f32> = (0..p).map(|k| HIPPO_LEGS16_IMAG[k % 8] as f32).collect();
        let (lo, hi) = (libm::log(1e-3), libm::log(1e-1));
        let log_step: Vec<f32> = (0..p)
            .map(|_| (lo + (hi - lo) * s.uniform()) as f32)
            .collect();
        // Complex lecun-normal: each part carries half the variance. Row k of B is scaled by
        // |Lambda_k| so that every mode's stationary gain |B_bar / (1 - Lambda_bar)| is the
        // same (a trained model balances its modes; unscaled, the ZOH factor ~Delta would round
        // most 8-bit B_bar weights to zero).
        let sigma_b = (0.5 / (h as f64 * db.max(1e-9))).sqrt();
        let mut b = s.sparse_normal(p * h * 2, db, 1.0);
        for (k, row) in b.chunks_mut(h * 2).enumerate() {
            let mag = libm::hypot(f64::from(lambda_re[k]), f64::from(lambda_im[k]));
            row.iter_mut()
                .for_each(|x| *x = (f64::from(*x) * sigma_b * mag) as f32);
        }
        let c = s.sparse_normal(h * p * 2, dc, (0.5 / (p as f64 * dc.max(1e-9))).sqrt());
        let d: Vec<f32> = (0..h).map(|_| s.normal() as f32).collect();
        let out2 = dense(&mut s, h, h, dout2);
        layers.push(FloatBlock {
            lambda_re,
            lambda_im,
            b,
            c,
            d,
            log_step,
            norm_mean: vec![0.0; h],
            norm_var: vec![1.0; h],
            norm_affine: None,
            out2,
        });
    }
    let decoder = dense(&mut s, h, d_out, dens[dens.len() - 1]);
    Ok(FloatModel {
        d_input: d_in,
        d_model: h,
        d_state: p,
        d_output: d_out,
        encoder,
        layers,
        decoder,
    })
}

/// Tokens of the default calibration input: the first 8 s of the built-in speech-like clip
/// (speech and pauses).
pub const DEFAULT_CALIBRATION_TOKENS: usize = 1000;

/// The default calibration input: the first [`DEFAULT_CALIBRATION_TOKENS`] tokens of a
/// row-major `[T, 257]` feature array.
pub fn calibration_slice(features: &[f32]) -> &[f32] {
    &features[..(DEFAULT_CALIBRATION_TOKENS * 257).min(features.len())]
}

/// A generated model and the quantization config derived for it.
#[derive(Clone, Debug)]
pub struct Generated {
    /// The integer model, calibrated.
    pub model: Model,
    /// The derived quantization config (upstream layout, with the observed ranges).
    pub qconfig: QConfig,
    /// The float model it was quantized from (with observed batch-norm statistics).
    pub float: FloatModel,
}

/// Generates a model calibrated on `calibration` (STFT magnitudes, row-major `[T, 257]`).
pub fn generate(
    cfg: &GenConfig,
    name: &str,
    calibration: &[f32],
) -> Result<Generated, ImportError> {
    let mut fm = synthesize_float(cfg)?;
    if calibration.is_empty() || !calibration.len().is_multiple_of(fm.d_input) {
        return Err(ImportError::Config(format!(
            "the calibration input must be whole tokens of {} features (got {} values)",
            fm.d_input,
            calibration.len()
        )));
    }
    let inputs: Vec<Vec<f64>> = calibration
        .chunks(fm.d_input)
        .map(|r| {
            r.iter()
                .map(|&m| f64::from(m - DEFAULT_INPUT_OFFSET))
                .collect()
        })
        .collect();
    let obs = observe(&mut fm, &inputs, true);
    let qconfig = derive_qconfig(&fm, &obs, cfg.recipe, true);
    let mut model = quantize(&fm, &qconfig, name, &cfg.describe())?;
    let tokens = tokens_from_magnitudes(calibration, &model)?;
    calibrate(&mut model, &tokens)?;
    Ok(Generated {
        model,
        qconfig,
        float: fm,
    })
}

/// A deterministic positive pseudo-spectrum of `n_tokens` frames of 257 bins (STFT magnitudes
/// in 0..0.3), for tests, benchmarks and calibrating generated models without audio.
#[must_use]
pub fn pseudo_spectrum(seed: u64, n_tokens: usize) -> Vec<f32> {
    (0..n_tokens * 257)
        .map(|k| {
            let h = (k as u64 ^ seed).wrapping_mul(0x9E37_79B9_7F4A_7C15);
            ((h >> 40) as f32 / (1u64 << 24) as f32) * 0.3
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// A recipe whose formats ask a dense layer for a negative shift was a panic in the
    /// calibration of the run-time exponents ("attempt to shift right with overflow").
    #[test]
    fn a_recipe_that_needs_a_negative_shift_is_an_error_not_a_panic() {
        let seed = 1_533_730_712_142_403_676;
        let cfg = GenConfig {
            width: 1.0 / 16.0,
            n_layers: 1,
            sparsity: 0.282_951_285_214_552_93,
            distribution: Distribution::Erk,
            seed,
            recipe: Recipe {
                weight_bits: 3,
                bias_bits: 4,
                act_bits: 10,
            },
        };
        match generate(&cfg, "w3a10", &pseudo_spectrum(seed, 20)) {
            Ok(g) => g.model.validate().expect("a generated model is valid"),
            Err(e) => assert!(e.to_string().contains("shift"), "{e}"),
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]
        /// Any recipe gives a valid model or an error, never a panic.
        #[test]
        fn any_recipe_gives_a_valid_model_or_an_error(
            seed in any::<u64>(),
            weight_bits in 2i64..=8,
            bias_bits in 4i64..=16,
            act_bits in 6i64..=32,
            sparsity in 0.0f64..0.95,
        ) {
            let cfg = GenConfig {
                width: 1.0 / 16.0,
                n_layers: 1,
                sparsity,
                distribution: Distribution::Erk,
                seed,
                recipe: Recipe { weight_bits, bias_bits, act_bits },
            };
            if let Ok(g) = generate(&cfg, "random", &pseudo_spectrum(seed, 20)) {
                prop_assert!(g.model.validate().is_ok());
            }
        }
    }

    #[test]
    fn erk_matches_the_paper_densities() {
        // 1x model at 90 %: encoder/decoder 0.886, B/C 0.918, out2 0.869 sparsity.
        let (h, p) = (192, 128);
        let mut shapes = vec![vec![257, h]];
        for _ in 0..3 {
            shapes.extend([vec![p, h, 2], vec![h, p, 2], vec![h, h], vec![p, 1]]);
        }
        shapes.push(vec![h, 257]);
        let d = erk_densities(&shapes, 0.9);
        let sp = |i: usize| ((1.0 - d[i]) * 1000.0).round() / 1000.0;
        assert_eq!(
            (sp(0), sp(1), sp(2), sp(3), sp(4), sp(13)),
            (0.886, 0.918, 0.918, 0.869, 0.0, 0.886)
        );
    }

    /// Determinant of a complex matrix by Gaussian elimination with partial pivoting.
    fn det(mut a: Vec<Vec<(f64, f64)>>) -> (f64, f64) {
        let n = a.len();
        let mul = |x: (f64, f64), y: (f64, f64)| (x.0 * y.0 - x.1 * y.1, x.0 * y.1 + x.1 * y.0);
        let div = |x: (f64, f64), y: (f64, f64)| {
            let d = y.0 * y.0 + y.1 * y.1;
            ((x.0 * y.0 + x.1 * y.1) / d, (x.1 * y.0 - x.0 * y.1) / d)
        };
        let mut det = (1.0, 0.0);
        for c in 0..n {
            let piv = (c..n)
                .max_by(|&i, &j| {
                    let m = |k: usize| a[k][c].0.hypot(a[k][c].1);
                    m(i).total_cmp(&m(j))
                })
                .unwrap_or(c);
            if piv != c {
                a.swap(piv, c);
                det = (-det.0, -det.1);
            }
            det = mul(det, a[c][c]);
            for r in c + 1..n {
                let f = div(a[r][c], a[c][c]);
                let pivot_row = a[c].clone();
                for (x, &pv) in a[r].iter_mut().zip(&pivot_row).skip(c) {
                    let t = mul(f, pv);
                    *x = (x.0 - t.0, x.1 - t.1);
                }
            }
        }
        det
    }

    #[test]
    fn hippo_table_holds_eigenvalues() {
        let n = 16;
        let q = |i: usize| ((2 * i + 1) as f64).sqrt();
        let pp = |i: usize| (i as f64 + 0.5).sqrt();
        let s = |i: usize, j: usize| {
            let a = if i > j {
                q(i) * q(j)
            } else if i == j {
                q(i) * q(i) - i as f64
            } else {
                0.0
            };
            -a + pp(i) * pp(j)
        };
        for &w in &HIPPO_LEGS16_IMAG {
            let m: Vec<Vec<(f64, f64)>> = (0..n)
                .map(|i| {
                    (0..n)
                        .map(|j| {
                            if i == j {
                                (s(i, j) + 0.5, -w)
                            } else {
                                (s(i, j), 0.0)
                            }
                        })
                        .collect()
                })
                .collect();
            let (re, im) = det(m);
            // The determinant's scale is large; a true eigenvalue makes it vanish relative to it.
            let shifted: Vec<Vec<(f64, f64)>> = (0..n)
                .map(|i| {
                    (0..n)
                        .map(|j| {
                            if i == j {
                                (s(i, j) + 0.5, -w - 0.01)
                            } else {
                                (s(i, j), 0.0)
                            }
                        })
                        .collect()
                })
                .collect();
            let (r2, i2) = det(shifted);
            assert!(
                re.hypot(im) < 1e-6 * r2.hypot(i2),
                "{w}: det {re} {im} vs {r2} {i2}"
            );
        }
    }

    #[test]
    fn same_arguments_same_float_model() {
        let cfg = GenConfig {
            width: 0.25,
            n_layers: 2,
            sparsity: 0.9,
            distribution: Distribution::Erk,
            seed: 7,
            recipe: Recipe::W8A16,
        };
        let a = synthesize_float(&cfg).expect("gen");
        assert_eq!(a, synthesize_float(&cfg).expect("gen"));
        assert_eq!((a.d_model, a.d_state), (48, 32));
        let other = synthesize_float(&GenConfig { seed: 8, ..cfg }).expect("gen");
        assert_ne!(a, other);
    }
}
