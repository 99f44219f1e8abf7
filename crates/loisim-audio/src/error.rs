//! The crate's single error type.
//!
//! Every message is one line that names the file (for I/O) or the offending
//! quantity (for signal-level checks) and, where there is one, says what to do
//! about it.

use std::path::PathBuf;

use crate::SAMPLE_RATE;

/// Everything that can go wrong in `loisim-audio`.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum AudioError {
    /// The file could not be opened or read at the operating-system level.
    #[error("cannot read {}: {io_error}", path.display())]
    Read {
        /// The file being read.
        path: PathBuf,
        /// The underlying I/O error (already part of the message, so it is
        /// not also reported as `Error::source`).
        io_error: std::io::Error,
    },

    /// The file (or its temporary sibling) could not be created, written,
    /// synced or renamed into place.
    #[error("cannot write {}: {io_error}", path.display())]
    Write {
        /// The file being written.
        path: PathBuf,
        /// The underlying I/O error (already part of the message, so it is
        /// not also reported as `Error::source`).
        io_error: std::io::Error,
    },

    /// The file does not start like a RIFF/WAVE file.
    #[error("{} is not a WAV file ({detail})", path.display())]
    NotWav {
        /// The file being read.
        path: PathBuf,
        /// What the WAV parser complained about.
        detail: String,
    },

    /// The file starts like a WAV file but its header is invalid or uses a
    /// layout this crate cannot decode.
    #[error("{} is not a valid or supported WAV file: {detail}", path.display())]
    BadWav {
        /// The file being read.
        path: PathBuf,
        /// What the WAV parser complained about.
        detail: String,
    },

    /// The data ends before the number of samples the header declares.
    #[error(
        "{} is truncated: its header declares {declared} samples but the data ends after \
         {read} (re-export or re-copy the file)",
        path.display()
    )]
    Truncated {
        /// The file being read.
        path: PathBuf,
        /// Samples read successfully.
        read: u64,
        /// Samples declared in the header.
        declared: u64,
    },

    /// The file has more than one channel.
    #[error(
        "{} has {channels} channels; loisim's S5 denoiser needs mono audio \
         (mix it down first, e.g. with `sox in.wav -c 1 out.wav`)",
        path.display()
    )]
    NotMono {
        /// The file being read.
        path: PathBuf,
        /// Number of channels declared in the header.
        channels: u16,
    },

    /// The file's sample rate is not [`SAMPLE_RATE`].
    #[error(
        "{} is {sample_rate_hz} Hz; loisim's S5 denoiser needs {SAMPLE_RATE} Hz audio \
         (resample it first, e.g. with `sox in.wav -r {SAMPLE_RATE} out.wav`)",
        path.display()
    )]
    WrongSampleRate {
        /// The file being read.
        path: PathBuf,
        /// Sample rate declared in the header.
        sample_rate_hz: u32,
    },

    /// The sample encoding is not one this crate reads.
    #[error(
        "{} holds {bits_per_sample}-bit {encoding} samples; loisim reads 8/16/24/32-bit \
         integer PCM or 32-bit float WAV (convert it, e.g. with `sox in.wav -b 16 out.wav`)",
        path.display()
    )]
    UnsupportedFormat {
        /// The file being read.
        path: PathBuf,
        /// Bits per sample declared in the header.
        bits_per_sample: u16,
        /// `"integer"` or `"float"`.
        encoding: &'static str,
    },

    /// The file holds no samples at all.
    #[error("{} contains no audio samples", path.display())]
    Empty {
        /// The file being read.
        path: PathBuf,
    },

    /// A float WAV holds a NaN or an infinity.
    #[error("{} contains a non-finite sample (NaN or infinity) at sample index {index}", path.display())]
    NonFiniteSample {
        /// The file being read.
        path: PathBuf,
        /// Zero-based index of the first bad sample.
        index: u64,
    },

    /// A streaming WAV writer was asked for a sample rate of zero or the WAV
    /// container refused more samples (the 4 GiB RIFF limit).
    #[error("cannot write {}: {detail}", path.display())]
    WavEncode {
        /// The file being written.
        path: PathBuf,
        /// What the WAV encoder complained about.
        detail: String,
    },

    /// A flat `[frames × bins]` buffer does not have the expected length.
    #[error(
        "{what} has {actual} values but {expected} were expected ({n_frames} frames x 257 bins)"
    )]
    ShapeMismatch {
        /// Which buffer (e.g. `"mask"`).
        what: &'static str,
        /// Number of frames the buffer should describe.
        n_frames: usize,
        /// `n_frames * 257`.
        expected: usize,
        /// Actual buffer length.
        actual: usize,
    },

    /// An [`IstftStream`](crate::IstftStream) already emitted more samples than
    /// the length requested at `finish` (more frames were pushed than
    /// `n_frames(n_samples)`).
    #[error(
        "inverse STFT stream already emitted {emitted} samples but finish() asked for \
         {requested}; push exactly n_frames({requested}) frames"
    )]
    StreamOverrun {
        /// Samples already handed out.
        emitted: usize,
        /// Samples requested at `finish`.
        requested: usize,
    },

    /// SI-SNR inputs have different lengths.
    #[error(
        "SI-SNR needs equal lengths: the estimate has {estimate} samples, the reference {reference}"
    )]
    LengthMismatch {
        /// Length of the estimate.
        estimate: usize,
        /// Length of the reference.
        reference: usize,
    },

    /// SI-SNR is undefined for this reference (empty, or all zero after
    /// removing its mean).
    #[error("SI-SNR is undefined: the reference signal is {0}")]
    DegenerateReference(&'static str),

    /// A signal handed to SI-SNR contains NaN or infinity.
    #[error("SI-SNR input `{which}` contains a non-finite sample at index {index}")]
    NonFiniteSignal {
        /// `"estimate"` or `"reference"`.
        which: &'static str,
        /// Index of the first bad sample.
        index: usize,
    },

    /// The speech-like clip generator was given an unusable configuration.
    #[error("invalid speech-like clip config: {0}")]
    InvalidConfig(String),
}
