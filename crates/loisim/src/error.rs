//! The facade's error: every library error, plus the facade's own checks.

use std::path::PathBuf;

/// Anything that can go wrong between a model file and a report. Every message is one line
/// that names the file, the limit or the numbers involved.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A model file could not be decoded or failed validation.
    #[error("{path}: {source}")]
    Model {
        /// The file.
        path: PathBuf,
        /// What is wrong with it.
        source: loisim_model::codec::CodecError,
    },
    /// Reading or converting an input.
    #[error(transparent)]
    Import(#[from] loisim_import::ImportError),
    /// Audio files and the STFT.
    #[error(transparent)]
    Audio(#[from] loisim_audio::AudioError),
    /// The chip description.
    #[error(transparent)]
    Chip(#[from] loisim_arch::ChipError),
    /// Mapping the model onto the chip.
    #[error("mapping {model} onto {chip}: {source}")]
    Compile {
        /// The model.
        model: String,
        /// The chip.
        chip: String,
        /// Why it does not map.
        source: Box<loisim_compiler::CompileError>,
    },
    /// A netx file could not be read.
    #[error(transparent)]
    Netx(#[from] loisim_netx::NetxError),
    /// A netx file holds a network netx or loisim cannot build.
    #[error("{}: {message}", path.display())]
    NetxNetwork {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
    /// Mapping a network onto the chip.
    #[error(transparent)]
    NetMap(#[from] loisim_compiler::net_map::NetMapError),
    /// Mapping a network onto the chip, with what would make it fit (a network of
    /// convolutions that does not fit: the note names them).
    #[error("{source} ({note})")]
    NetMapNote {
        /// Why it does not map.
        source: loisim_compiler::net_map::NetMapError,
        /// What to change.
        note: String,
    },
    /// Measuring activity for a mapping report.
    #[error(transparent)]
    Measure(#[from] loisim_compiler::activity::MeasureError),
    /// The chip simulation.
    #[error(transparent)]
    Sim(#[from] loisim_sim::SimError),
    /// The reference executor.
    #[error(transparent)]
    Reference(#[from] loisim_model::reference::RunError),
    /// A model the reference executor cannot take.
    #[error(transparent)]
    ReferenceInput(#[from] loisim_model::reference::InputError),
    /// A model that fails validation.
    #[error(transparent)]
    InvalidModel(#[from] loisim_model::ModelError),
    /// Writing traces.
    #[error(transparent)]
    Trace(#[from] loisim_trace::TraceError),
    /// Drawing figures.
    #[error(transparent)]
    Plot(#[from] loisim_trace::plot::PlotError),
    /// A file or directory could not be read or written.
    #[error("{what} {}: {source}", path.display())]
    Io {
        /// What was being done ("cannot read", "cannot write").
        what: &'static str,
        /// The path.
        path: PathBuf,
        /// The system's reason.
        source: std::io::Error,
    },
    /// Bad arguments or an input that does not suit the model.
    #[error("{0}")]
    Invalid(String),
}

impl Error {
    /// An [`Error::Io`].
    pub(crate) fn io(what: &'static str, path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Self::Io {
            what,
            path: path.into(),
            source,
        }
    }
}

/// The facade's result.
pub type Result<T, E = Error> = std::result::Result<T, E>;
