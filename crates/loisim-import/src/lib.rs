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
