//! Project automation shared by `cargo xtask` and the tests.
//!
//! [`models`] rebuilds every file of `models/` from code: the 30 s default clip (noisy and
//! clean), its STFT features (the default input) and the reference models. The test
//! `models_are_reproducible` checks the committed bytes against a fresh build.

pub mod bench;
pub mod calibrate;
pub mod models;
pub mod regress;
pub mod trained;
pub mod validate;
