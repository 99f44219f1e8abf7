//! Errors of the import crate.

use loisim_model::ModelError;
use loisim_model::calibrate::CalibrationError;
use std::path::{Path, PathBuf};

/// Why a model or an input could not be imported.
#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    /// A file could not be read.
    #[error("cannot read {}: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
    /// A file is malformed or inconsistent.
    #[error("{}: {message}", path.display())]
    Invalid {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
    /// A tensor the model needs is absent.
    #[error("{}: tensor `{name}` is missing", path.display())]
    MissingTensor {
        /// The file.
        path: PathBuf,
        /// The tensor.
        name: String,
    },
    /// Arguments that cannot produce a model.
    #[error("{0}")]
    Config(String),
    /// The imported model breaks an invariant.
    #[error("the imported model is invalid: {0}")]
    Model(#[from] ModelError),
    /// The run-time exponents could not be calibrated.
    #[error("calibration failed: {0}")]
    Calibration(#[from] CalibrationError),
}

impl ImportError {
    pub(crate) fn invalid(path: &Path, message: impl Into<String>) -> Self {
        Self::Invalid {
            path: path.to_path_buf(),
            message: message.into(),
        }
    }
}
