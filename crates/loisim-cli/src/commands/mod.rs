//! One module per verb; each has an `Args` struct (clap derive) and `execute`.

pub mod chip;
pub mod common;
pub mod gen_audio;
pub mod gen_model;
pub mod import;
pub mod inspect;
pub mod map;
pub mod plot;
pub mod replay;
pub mod run;
pub mod sweep;
