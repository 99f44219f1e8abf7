//! The quantized sparse S5 model: its IR, its file format and what it computes.
//!
//! - [`ir`]: the model (encoder, S5 blocks, decoder), every tensor and activation with its
//!   fixed-point format, weights stored sparsely.
//! - [`fxp`]: the fixed-point arithmetic primitives of the specification.
//! - [`reference`]: the bit-exact reference executor, the definition of what a model computes.
//! - [`calibrate`]: freezing the run-time exponents on a calibration sequence.
//! - [`codec`]: `model.bin` (postcard body, magic, version, checksum, validation on load).
//! - [`stats`]: sizes, densities and MAC counts.
//!
//! This crate does no I/O beyond bytes in, bytes out.

pub mod calibrate;
pub mod codec;
pub mod fxp;
pub mod ir;
pub mod matrix;
pub mod reference;
pub mod stats;
pub mod validate;

pub use fxp::Fmt;
pub use ir::{
    Block, Dense, Dims, InputSpec, LayerId, Model, MultGate, Norm, NormAffine, Sigmoid, Ssm, Vector,
};
pub use matrix::SparseMatrix;
pub use reference::{Reference, TokenTrace};
pub use validate::ModelError;
