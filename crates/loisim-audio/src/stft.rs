//! Short-time Fourier transform front end and its inverse.
//!
//! The definition is exactly `scipy.signal.stft` / `jax.scipy.signal.stft` with
//! `window='boxcar', nperseg=512, noverlap=384, nfft=512, detrend=False,
//! return_onesided=True, boundary='zeros', padded=True, scaling='spectrum'`:
//!
//! 1. the signal is extended with 256 zeros on both sides (`boundary='zeros'`),
//! 2. zeros are appended until `(len - 512)` is a multiple of 128 (`padded=True`),
//! 3. frame `k` is `padded[128 k .. 128 k + 512]`, the window is all ones,
//! 4. each frame is transformed with a one-sided real FFT (257 bins) and scaled
//!    by `1 / sum(window) = 1 / 512` (`scaling='spectrum'`).
//!
//! A signal of `n > 0` samples therefore gives `ceil(n / 128) + 1` frames
//! ([`n_frames`]); 480 000 samples (30 s) give 3751. An empty signal gives zero
//! frames (scipy returns empty arrays too). Unlike scipy, which shrinks
//! `nperseg` for inputs shorter than 512 samples, this crate always uses
//! 512-sample frames: the model needs 257 bins whatever the input length.
//!
//! The inverse is `scipy.signal.istft` with the same parameters: undo the
//! scaling, inverse real FFT, multiply by the window, overlap-add at hop 128,
//! divide by the overlap-added squared window (where it exceeds `1e-10`), drop
//! the 256 boundary samples and cut to the requested length.
//!
//! All arithmetic runs in `f64` with the scalar (non-SIMD) `realfft` planner;
//! results are stored as `f32`. [`StftStream`] and [`IstftStream`] are the
//! bounded-memory streaming forms; [`stft`] and [`istft`] are built on them, so
//! streaming and batch results are bit-identical by construction.

use std::fmt;
use std::sync::Arc;

use realfft::num_complex::Complex;
use realfft::{ComplexToReal, RealFftPlanner, RealToComplex};

use crate::{AudioError, Complex32, HOP, N_BINS, N_FFT};

/// Zeros added on each side of the signal (`boundary='zeros'`, `nperseg / 2`).
const BOUNDARY: usize = N_FFT / 2;

/// `scaling='spectrum'` for the STFT: `1 / sum(window)` with a boxcar window.
const SPECTRUM_SCALE: f64 = 1.0 / N_FFT as f64;

/// scipy's `istft` divides by the overlap-added squared window only where it
/// exceeds this value.
const NORM_FLOOR: f64 = 1e-10;

/// Number of STFT frames (tokens) for a signal of `n_samples` samples.
///
/// `0` for an empty signal, otherwise `ceil(n_samples / 128) + 1`.
///
/// ```
/// assert_eq!(loisim_audio::n_frames(480_000), 3751);
/// assert_eq!(loisim_audio::n_frames(1), 2);
/// assert_eq!(loisim_audio::n_frames(0), 0);
/// ```
#[must_use]
pub fn n_frames(n_samples: usize) -> usize {
    if n_samples == 0 {
        0
    } else {
        n_samples.div_ceil(HOP) + 1
    }
}

/// Length of the signal that [`istft`] reconstructs from `n_frames` frames
/// before it is cut or zero-extended to the requested length:
/// `(n_frames - 1) * 128` (scipy's `istft` output length), `0` for no frames.
#[must_use]
pub fn istft_natural_len(n_frames: usize) -> usize {
    n_frames.saturating_sub(1) * HOP
}

/// Magnitude of one bin, computed in `f64`.
fn bin_magnitude(bin: Complex32) -> f32 {
    let (re, im) = (f64::from(bin.re), f64::from(bin.im));
    (re * re + im * im).sqrt() as f32
}

/// Phase of one bin in radians, in `(-pi, pi]`, computed in `f64`.
fn bin_phase(bin: Complex32) -> f32 {
    libm::atan2(f64::from(bin.im), f64::from(bin.re)) as f32
}

/// `bin * (1 + mask)`, computed in `f64`.
fn masked_bin(bin: Complex32, mask: f32) -> Complex32 {
    let gain = 1.0 + f64::from(mask);
    Complex32::new(
        (f64::from(bin.re) * gain) as f32,
        (f64::from(bin.im) * gain) as f32,
    )
}

/// The 257 complex bins of one STFT frame (one model token).
#[derive(Clone, Debug, PartialEq)]
pub struct Frame {
    /// One-sided spectrum, bin `f` at `f * 16000 / 512 = 31.25 f` Hz.
    pub bins: [Complex32; N_BINS],
}

impl Default for Frame {
    fn default() -> Self {
        Self::zeros()
    }
}

impl Frame {
    /// A frame whose bins are all zero.
    #[must_use]
    pub fn zeros() -> Self {
        Self {
            bins: [Complex32::new(0.0, 0.0); N_BINS],
        }
    }

    /// Builds a frame from a slice of exactly 257 bins.
    ///
    /// # Errors
    /// [`AudioError::ShapeMismatch`] if `bins.len() != 257`.
    pub fn from_slice(bins: &[Complex32]) -> Result<Self, AudioError> {
        let bins: [Complex32; N_BINS] = bins.try_into().map_err(|_| AudioError::ShapeMismatch {
            what: "frame bins",
            n_frames: 1,
            expected: N_BINS,
            actual: bins.len(),
        })?;
        Ok(Self { bins })
    }

    /// Magnitude `|X[f]|` of every bin: the model's input feature for this token.
    #[must_use]
    pub fn magnitude(&self) -> [f32; N_BINS] {
        self.bins.map(bin_magnitude)
    }

    /// Phase `arg X[f]` of every bin, radians in `(-pi, pi]`.
    #[must_use]
    pub fn phase(&self) -> [f32; N_BINS] {
        self.bins.map(bin_phase)
    }

    /// The denoised frame: `|X| (1 + mask)` with the noisy phase, i.e.
    /// `X * (1 + mask)` bin by bin.
    #[must_use]
    pub fn apply_mask(&self, mask: &[f32; N_BINS]) -> Self {
        let mut out = self.clone();
        for (bin, &m) in out.bins.iter_mut().zip(mask) {
            *bin = masked_bin(*bin, m);
        }
        out
    }
}

/// Complex STFT of a whole signal: `n_frames` frames of 257 bins, row-major
/// (`bins[t * 257 + f]` is bin `f` of frame `t`).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Spectrogram {
    n_frames: usize,
    bins: Vec<Complex32>,
}

impl Spectrogram {
    /// An empty spectrogram (zero frames).
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// An empty spectrogram with room for `n_frames` frames.
    #[must_use]
    pub fn with_capacity(n_frames: usize) -> Self {
        Self {
            n_frames: 0,
            bins: Vec::with_capacity(n_frames.saturating_mul(N_BINS)),
        }
    }

    /// Wraps row-major `[n_frames, 257]` bins.
    ///
    /// # Errors
    /// [`AudioError::ShapeMismatch`] if `bins.len() != n_frames * 257`.
    pub fn from_bins(n_frames: usize, bins: Vec<Complex32>) -> Result<Self, AudioError> {
        check_shape("spectrogram bins", n_frames, bins.len())?;
        Ok(Self { n_frames, bins })
    }

    /// Number of frames (tokens).
    #[must_use]
    pub fn n_frames(&self) -> usize {
        self.n_frames
    }

    /// All bins, row-major `[n_frames, 257]`.
    #[must_use]
    pub fn bins(&self) -> &[Complex32] {
        &self.bins
    }

    /// Consumes the spectrogram and returns its row-major bins.
    #[must_use]
    pub fn into_bins(self) -> Vec<Complex32> {
        self.bins
    }

    /// The 257 bins of frame `t`, or `None` past the end.
    #[must_use]
    pub fn frame_bins(&self, t: usize) -> Option<&[Complex32]> {
        self.bins.get(t * N_BINS..(t + 1) * N_BINS)
    }

    /// A copy of frame `t`, or `None` past the end.
    #[must_use]
    pub fn frame(&self, t: usize) -> Option<Frame> {
        self.frame_bins(t).and_then(|bins| Frame::from_slice(bins).ok())
    }

    /// Iterates over the frames as 257-bin slices.
    pub fn frames(&self) -> impl ExactSizeIterator<Item = &[Complex32]> + '_ {
        self.bins.chunks_exact(N_BINS)
    }

    /// Appends one frame.
    pub fn push_frame(&mut self, frame: &Frame) {
        self.bins.extend_from_slice(&frame.bins);
        self.n_frames += 1;
    }

    /// Magnitudes, row-major `[n_frames, 257]`: the model's input features.
    #[must_use]
    pub fn magnitude(&self) -> Vec<f32> {
        self.bins.iter().copied().map(bin_magnitude).collect()
    }

    /// Phases in radians (`(-pi, pi]`), row-major `[n_frames, 257]`.
    #[must_use]
    pub fn phase(&self) -> Vec<f32> {
        self.bins.iter().copied().map(bin_phase).collect()
    }

    /// See [`apply_mask`].
    ///
    /// # Errors
    /// [`AudioError::ShapeMismatch`] if `mask.len() != n_frames * 257`.
    pub fn apply_mask(&self, mask: &[f32]) -> Result<Self, AudioError> {
        check_shape("mask", self.n_frames, mask.len())?;
        let bins = self
            .bins
            .iter()
            .zip(mask)
            .map(|(&bin, &m)| masked_bin(bin, m))
            .collect();
        Ok(Self {
            n_frames: self.n_frames,
            bins,
        })
    }
}

fn check_shape(what: &'static str, n_frames: usize, actual: usize) -> Result<(), AudioError> {
    let expected = n_frames.saturating_mul(N_BINS);
    if actual == expected {
        Ok(())
    } else {
        Err(AudioError::ShapeMismatch {
            what,
            n_frames,
            expected,
            actual,
        })
    }
}

/// Applies the model's mask: the cleaned spectrogram is
/// `|noisy| * (1 + mask)` with the noisy phase, which is the same as
/// `noisy * (1 + mask)` bin by bin. `mask` is row-major `[n_frames, 257]`.
///
/// # Errors
/// [`AudioError::ShapeMismatch`] if `mask.len() != noisy.n_frames() * 257`.
pub fn apply_mask(noisy: &Spectrogram, mask: &[f32]) -> Result<Spectrogram, AudioError> {
    noisy.apply_mask(mask)
}

/// Complex STFT of a whole signal (see the [module docs](self) for the exact
/// definition). An empty signal gives an empty spectrogram.
#[must_use]
pub fn stft(signal: &[f32]) -> Spectrogram {
    /// Push granularity: keeps the stream's internal buffer small.
    const CHUNK: usize = 16 * N_FFT;
    let mut spec = Spectrogram::with_capacity(n_frames(signal.len()));
    let mut stream = StftStream::new();
    for chunk in signal.chunks(CHUNK) {
        stream.push(chunk);
        while let Some(frame) = stream.pop_frame() {
            spec.push_frame(&frame);
        }
    }
    for frame in stream.finish() {
        spec.push_frame(&frame);
    }
    spec
}

/// Model input features of a whole signal: `(n_frames, magnitudes)` with the
/// magnitudes row-major `[n_frames, 257]`. (The model subtracts its own input
/// offset; this is the raw STFT magnitude.)
#[must_use]
pub fn features(signal: &[f32]) -> (usize, Vec<f32>) {
    let spec = stft(signal);
    (spec.n_frames(), spec.magnitude())
}

/// Inverse STFT (scipy's `istft`, see the [module docs](self)) cut or
/// zero-extended to exactly `n_samples` samples.
///
/// For a spectrogram of `n_frames(n)` frames and `n_samples = n` this inverts
/// [`stft`]. Samples beyond [`istft_natural_len`]`(spec.n_frames())` are zero.
#[must_use]
pub fn istft(spec: &Spectrogram, n_samples: usize) -> Vec<f32> {
    let mut stream = IstftStream::new();
    let mut out = Vec::with_capacity(n_samples);
    let mut frame = Frame::zeros();
    for bins in spec.frames() {
        frame.bins.copy_from_slice(bins);
        stream.push_frame(&frame);
        stream.pop_samples_into(&mut out);
    }
    out.extend(stream.finish_natural());
    out.resize(n_samples, 0.0);
    out
}

/// Forward transform of one 512-sample window (shared by batch and stream).
struct Analyzer {
    fft: Arc<dyn RealToComplex<f64>>,
    input: Vec<f64>,
    output: Vec<Complex<f64>>,
    scratch: Vec<Complex<f64>>,
}

impl fmt::Debug for Analyzer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Analyzer").field("len", &N_FFT).finish()
    }
}

impl Analyzer {
    fn new() -> Self {
        let fft = RealFftPlanner::<f64>::new().plan_fft_forward(N_FFT);
        let input = fft.make_input_vec();
        let output = fft.make_output_vec();
        let scratch = fft.make_scratch_vec();
        Self {
            fft,
            input,
            output,
            scratch,
        }
    }

    /// `rfft(window * ones) / 512`, rounded to `f32`. `samples.len()` must be 512.
    fn analyze(&mut self, samples: &[f32]) -> Frame {
        for (dst, &src) in self.input.iter_mut().zip(samples) {
            *dst = f64::from(src);
        }
        self.fft
            .process_with_scratch(&mut self.input, &mut self.output, &mut self.scratch)
            .expect("internal invariant: buffers come from the 512-point plan itself");
        let mut frame = Frame::zeros();
        for (dst, src) in frame.bins.iter_mut().zip(&self.output) {
            *dst = Complex32::new(
                (src.re * SPECTRUM_SCALE) as f32,
                (src.im * SPECTRUM_SCALE) as f32,
            );
        }
        frame
    }
}

/// Inverse transform of one frame to 512 windowed samples.
struct Synthesizer {
    ifft: Arc<dyn ComplexToReal<f64>>,
    spectrum: Vec<Complex<f64>>,
    output: Vec<f64>,
    scratch: Vec<Complex<f64>>,
}

impl fmt::Debug for Synthesizer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Synthesizer").field("len", &N_FFT).finish()
    }
}

impl Synthesizer {
    fn new() -> Self {
        let ifft = RealFftPlanner::<f64>::new().plan_fft_inverse(N_FFT);
        let spectrum = ifft.make_input_vec();
        let output = ifft.make_output_vec();
        let scratch = ifft.make_scratch_vec();
        Self {
            ifft,
            spectrum,
            output,
            scratch,
        }
    }

    /// `irfft(bins * 512) * window` (512 samples).
    ///
    /// numpy's `irfft` divides by 512 while realfft's inverse does not, and the
    /// `spectrum` scaling is undone by multiplying by 512: the two cancel, so
    /// the unnormalised inverse is exactly scipy's value. Like numpy, the
    /// imaginary parts of the DC and Nyquist bins are ignored.
    fn synthesize(&mut self, frame: &Frame) -> &[f64] {
        for (dst, src) in self.spectrum.iter_mut().zip(&frame.bins) {
            *dst = Complex::new(f64::from(src.re), f64::from(src.im));
        }
        self.spectrum[0].im = 0.0;
        self.spectrum[N_BINS - 1].im = 0.0;
        self.ifft
            .process_with_scratch(&mut self.spectrum, &mut self.output, &mut self.scratch)
            .expect("internal invariant: buffers come from the 512-point plan itself");
        // The boxcar window is all ones: multiplying by it is the identity.
        &self.output
    }
}

/// Streaming STFT with bounded memory.
///
/// Push samples in chunks of any size, pop frames as soon as they are
/// complete, and call [`finish`](Self::finish) for the tail frames. The frames
/// are bit-identical to [`stft`] of the concatenated input. Memory is the
/// samples pushed but not yet consumed by popped frames (at most 511 plus the
/// last chunk, if frames are popped after every push).
///
/// ```
/// use loisim_audio::{StftStream, stft};
/// let signal: Vec<f32> = (0..1000).map(|i| (i as f32 * 0.01).sin()).collect();
/// let mut stream = StftStream::new();
/// let mut frames = Vec::new();
/// for chunk in signal.chunks(300) {
///     stream.push(chunk);
///     while let Some(frame) = stream.pop_frame() {
///         frames.push(frame);
///     }
/// }
/// frames.extend(stream.finish());
/// let batch = stft(&signal);
/// assert_eq!(frames.len(), batch.n_frames());
/// assert_eq!(frames[3], batch.frame(3).unwrap());
/// ```
#[derive(Debug)]
pub struct StftStream {
    analyzer: Analyzer,
    /// Padded signal; `buf[start]` is padded sample `frames_out * HOP`.
    buf: Vec<f32>,
    start: usize,
    samples_pushed: usize,
    frames_out: usize,
}

impl Default for StftStream {
    fn default() -> Self {
        Self::new()
    }
}

impl StftStream {
    /// A stream positioned at the start of a signal.
    #[must_use]
    pub fn new() -> Self {
        Self {
            analyzer: Analyzer::new(),
            buf: vec![0.0; BOUNDARY],
            start: 0,
            samples_pushed: 0,
            frames_out: 0,
        }
    }

    /// Appends samples to the signal.
    pub fn push(&mut self, samples: &[f32]) {
        // Drop consumed samples once they are at least half the buffer, so
        // compaction costs O(1) amortised per sample.
        if self.start > 0 && self.start >= self.buf.len() / 2 {
            self.buf.drain(..self.start);
            self.start = 0;
        }
        self.buf.extend_from_slice(samples);
        self.samples_pushed += samples.len();
    }

    /// The next complete frame, or `None` until more samples are pushed.
    pub fn pop_frame(&mut self) -> Option<Frame> {
        let window = self.buf.get(self.start..self.start + N_FFT)?;
        let frame = self.analyzer.analyze(window);
        self.start += HOP;
        self.frames_out += 1;
        Some(frame)
    }

    /// Number of samples pushed so far.
    #[must_use]
    pub fn samples_pushed(&self) -> usize {
        self.samples_pushed
    }

    /// Number of frames popped so far.
    #[must_use]
    pub fn frames_emitted(&self) -> usize {
        self.frames_out
    }

    /// Ends the signal and returns the frames not popped yet (at most 4 if
    /// frames were popped after the last push), zero-padding the end exactly
    /// like the batch [`stft`]. For an empty signal this is empty.
    #[must_use]
    pub fn finish(mut self) -> Vec<Frame> {
        let total = n_frames(self.samples_pushed);
        if total > self.frames_out {
            // Padded length needed for the last frame, minus what is buffered.
            let padded_end = (total - 1) * HOP + N_FFT;
            let buffered_end = BOUNDARY + self.samples_pushed;
            let missing = padded_end.saturating_sub(buffered_end);
            self.buf.resize(self.buf.len() + missing, 0.0);
        }
        let mut frames = Vec::with_capacity(total.saturating_sub(self.frames_out));
        while self.frames_out < total {
            match self.pop_frame() {
                Some(frame) => frames.push(frame),
                None => break,
            }
        }
        frames
    }
}

/// Streaming inverse STFT (overlap-add) with bounded memory.
///
/// Push frames one at a time; after each push, 128 more samples are final
/// (none for the first two frames, which only cover the dropped boundary).
/// [`finish`](Self::finish) returns the rest. The output is bit-identical to
/// [`istft`] of the same frames. Memory is constant apart from samples not
/// popped yet.
#[derive(Debug)]
pub struct IstftStream {
    synth: Synthesizer,
    /// Overlap-added windowed frames for padded samples `base .. base + 512`,
    /// with `base = frames_in * HOP`.
    acc: [f64; N_FFT],
    /// Overlap-added squared window for the same samples.
    norm: [f64; N_FFT],
    frames_in: usize,
    /// Final samples not yet popped.
    ready: Vec<f32>,
    /// Samples already popped.
    popped: usize,
}

impl Default for IstftStream {
    fn default() -> Self {
        Self::new()
    }
}

impl IstftStream {
    /// A stream with no frames yet.
    #[must_use]
    pub fn new() -> Self {
        Self {
            synth: Synthesizer::new(),
            acc: [0.0; N_FFT],
            norm: [0.0; N_FFT],
            frames_in: 0,
            ready: Vec::new(),
            popped: 0,
        }
    }

    /// Adds the next frame.
    pub fn push_frame(&mut self, frame: &Frame) {
        let windowed = self.synth.synthesize(frame);
        for ((acc, norm), &x) in self.acc.iter_mut().zip(&mut self.norm).zip(windowed) {
            *acc += x;
            // Boxcar window: window^2 = 1.
            *norm += 1.0;
        }
        // No later frame reaches the first HOP samples of this one.
        self.release(HOP);
        self.frames_in += 1;
    }

    /// Moves the first `count` accumulated samples to `ready` (dropping those
    /// inside the leading boundary) and shifts the accumulators.
    fn release(&mut self, count: usize) {
        let base = self.frames_in * HOP;
        for i in 0..count {
            if base + i >= BOUNDARY {
                let norm = self.norm[i];
                let divisor = if norm > NORM_FLOOR { norm } else { 1.0 };
                self.ready.push((self.acc[i] / divisor) as f32);
            }
        }
        self.acc.copy_within(count.., 0);
        self.acc[N_FFT - count..].fill(0.0);
        self.norm.copy_within(count.., 0);
        self.norm[N_FFT - count..].fill(0.0);
    }

    /// Takes the samples that are final so far.
    #[must_use]
    pub fn pop_samples(&mut self) -> Vec<f32> {
        self.popped += self.ready.len();
        std::mem::take(&mut self.ready)
    }

    /// Appends the samples that are final so far to `out`.
    pub fn pop_samples_into(&mut self, out: &mut Vec<f32>) {
        self.popped += self.ready.len();
        out.append(&mut self.ready);
    }

    /// Number of frames pushed so far.
    #[must_use]
    pub fn frames_pushed(&self) -> usize {
        self.frames_in
    }

    /// Number of samples popped so far.
    #[must_use]
    pub fn samples_popped(&self) -> usize {
        self.popped
    }

    /// Ends the stream: returns the remaining samples so that, together with
    /// everything popped before, exactly `n_samples` samples were produced
    /// (zero-extended past [`istft_natural_len`] of the frames pushed).
    ///
    /// # Errors
    /// [`AudioError::StreamOverrun`] if more than `n_samples` samples were
    /// already popped (more frames pushed than `n_frames(n_samples)`).
    pub fn finish(self, n_samples: usize) -> Result<Vec<f32>, AudioError> {
        let popped = self.popped;
        if popped > n_samples {
            return Err(AudioError::StreamOverrun {
                emitted: popped,
                requested: n_samples,
            });
        }
        let mut rest = self.finish_natural();
        rest.resize(n_samples - popped, 0.0);
        Ok(rest)
    }

    /// Remaining samples up to [`istft_natural_len`] of the frames pushed.
    fn finish_natural(mut self) -> Vec<f32> {
        if self.frames_in > 0 {
            // scipy's output ends `BOUNDARY` samples before the end of the
            // last frame; `base` is `HOP` after the last frame's start.
            let last_end = (self.frames_in - 1) * HOP + N_FFT - BOUNDARY;
            let base = self.frames_in * HOP;
            self.release(last_end - base);
        }
        self.ready
    }
}
