//! Where the shipped models live, and reading model files.

use anyhow::{Context, Result};
use loisim_model::Model;
use std::path::{Path, PathBuf};

/// The shipped default model: the sparse 1x S5 (W8A16) that stands for the poster's deployment.
pub const DEFAULT_MODEL: &str = "s5-sparse-1x.bin";
/// The shipped default input: STFT magnitudes of the 30 s default clip.
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
    anyhow::bail!(
        "cannot find the shipped models (looked in $LOISIM_MODELS, ./models and {}); run from a loisim checkout or set LOISIM_MODELS",
        built.display()
    )
}

/// A shipped file by name.
pub fn shipped(name: &str) -> Result<PathBuf> {
    Ok(models_dir()?.join(name))
}

/// Reads and validates a `model.bin`.
pub fn read_model(path: &Path) -> Result<Model> {
    let meta =
        std::fs::metadata(path).with_context(|| format!("cannot read model {}", path.display()))?;
    if meta.is_dir() {
        anyhow::bail!("cannot read model {}: it is a directory", path.display());
    }
    if meta.len() > loisim_model::codec::MAX_FILE_LEN {
        anyhow::bail!(
            "model {} is {} bytes, larger than loisim reads",
            path.display(),
            meta.len()
        );
    }
    let bytes =
        std::fs::read(path).with_context(|| format!("cannot read model {}", path.display()))?;
    loisim_model::codec::decode(&bytes).with_context(|| format!("{}", path.display()))
}
