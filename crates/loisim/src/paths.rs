//! Where the shipped models live, and reading model files.

use crate::{Error, Result};
use std::path::{Path, PathBuf};

/// The shipped default model: the trained sparse 1x S5 denoiser (W8A16, 90 % of its matrix
/// weights pruned), the poster's deployment (`models/README.md`, "Trained denoisers").
pub const DEFAULT_MODEL: &str = "s5-sparse-1x-trained.bin";
/// The shipped default input: STFT magnitudes of the 30 s default clip (synthesised speech
/// of the test split with noise).
pub const DEFAULT_INPUT: &str = "default-input.npy";

/// The `models/` directory: `$LOISIM_MODELS`, else `./models`, else the source checkout's.
pub fn models_dir() -> Result<PathBuf> {
    if let Some(dir) = std::env::var_os("LOISIM_MODELS") {
        return Ok(PathBuf::from(dir));
    }
    let local = PathBuf::from("models");
    if local.join(DEFAULT_MODEL).is_file() {
        return Ok(local);
    }
    let built = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../models");
    if built.join(DEFAULT_MODEL).is_file() {
        return Ok(built);
    }
    Err(Error::Invalid(format!(
        "cannot find the shipped models (looked in $LOISIM_MODELS, ./models and {}); run from a loisim checkout or set LOISIM_MODELS",
        built.display()
    )))
}

/// A shipped file by name.
pub fn shipped(name: &str) -> Result<PathBuf> {
    Ok(models_dir()?.join(name))
}
