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
        let start = t.checked_mul(N_BINS)?;
        self.bins.get(start..)?.get(..N_BINS)
    }

    /// A copy of frame `t`, or `None` past the end.
    #[must_use]
    pub fn frame(&self, t: usize) -> Option<Frame> {
        self.frame_bins(t)
            .and_then(|bins| Frame::from_slice(bins).ok())
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
/// are bit-identical to [`stft`] of the concatenated input. If frames are
/// popped after every push, the buffer holds at most about twice the largest
/// chunk plus 512 samples (consumed samples are dropped once they make up half
/// of it).
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

    /// Ends the signal and returns the frames not popped yet (at most 3 if
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

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// Deterministic test signal that numpy reproduces exactly:
    /// `((7919 i) mod 1000) / 1000 - 0.5`.
    fn golden_signal(n: usize) -> Vec<f32> {
        (0..n)
            .map(|i| ((i * 7919) % 1000) as f32 / 1000.0 - 0.5)
            .collect()
    }

    fn bits(frames: &[Complex32]) -> Vec<(u32, u32)> {
        frames
            .iter()
            .map(|c| (c.re.to_bits(), c.im.to_bits()))
            .collect()
    }

    fn max_abs(x: &[f32]) -> f32 {
        x.iter().fold(0.0, |m, v| m.max(v.abs()))
    }

    #[test]
    fn frame_counts_match_scipy() {
        // Values from scipy.signal.stft (padded=True, boundary='zeros').
        for (n, expected) in [
            (0, 0),
            (1, 2),
            (128, 2),
            (129, 3),
            (512, 5),
            (513, 6),
            (640, 6),
            (641, 7),
            (1000, 9),
            (480_000, 3751),
        ] {
            assert_eq!(n_frames(n), expected, "n_samples = {n}");
        }
        assert_eq!(stft(&vec![0.0; 480_000]).n_frames(), 3751);
        assert_eq!(istft_natural_len(3751), 480_000);
    }

    #[test]
    fn stft_matches_scipy_golden_values() {
        // scipy 1.17.1: signal.stft(x, window='boxcar', nperseg=512,
        // noverlap=384, nfft=512, boundary='zeros', padded=True,
        // scaling='spectrum') on golden_signal(1000) as float64.
        let expected: [(usize, usize, f64, f64); 8] = [
            (0, 0, 0.000_312_499_928_668_330_54, 0.0),
            (
                0,
                1,
                0.002_111_290_001_317_652_6,
                -0.000_916_091_271_843_493_1,
            ),
            (
                0,
                100,
                -0.000_449_591_986_614_123_35,
                0.000_164_633_237_895_610_5,
            ),
            (3, 0, 0.000_953_124_831_767_127, 0.0),
            (
                3,
                17,
                -0.002_445_052_308_870_000_4,
                -0.000_361_782_576_588_347_16,
            ),
            (3, 256, -0.000_515_624_986_519_469_5, 0.0),
            (
                8,
                5,
                0.000_992_611_804_929_306_6,
                0.002_195_627_035_143_590_6,
            ),
            (
                8,
                128,
                0.004_679_687_298_903_445_5,
                0.001_179_687_393_005_224_3,
            ),
        ];
        let spec = stft(&golden_signal(1000));
        assert_eq!(spec.n_frames(), 9);
        for (t, f, re, im) in expected {
            let bin = spec.bins()[t * N_BINS + f];
            assert!(
                (f64::from(bin.re) - re).abs() < 1e-9,
                "frame {t} bin {f}: {bin}"
            );
            assert!(
                (f64::from(bin.im) - im).abs() < 1e-9,
                "frame {t} bin {f}: {bin}"
            );
        }
    }

    #[test]
    fn masked_istft_matches_scipy_golden_values() {
        // scipy 1.17.1: signal.istft(Z * (1 + m), same parameters) with
        // m[bin, frame] = 0.5 sin(0.01 (9 bin + frame)), Z from the test above.
        let expected: [(usize, f64); 8] = [
            (0, -0.447_235_590_190_104_56),
            (1, 0.502_694_015_158_118),
            (127, 0.140_638_329_896_953_8),
            (128, -0.086_955_741_904_757_66),
            (500, -0.000_348_468_824_025_924_97),
            (767, 0.340_964_179_191_563_9),
            (768, 0.253_134_255_911_304_9),
            (999, -0.475_396_448_808_137_1),
        ];
        let spec = stft(&golden_signal(1000));
        let mut mask = vec![0.0_f32; spec.n_frames() * N_BINS];
        for t in 0..spec.n_frames() {
            for f in 0..N_BINS {
                mask[t * N_BINS + f] = (0.5 * libm::sin(0.01 * (9 * f + t) as f64)) as f32;
            }
        }
        let audio = istft(&apply_mask(&spec, &mask).unwrap(), 1000);
        assert_eq!(audio.len(), 1000);
        for (i, value) in expected {
            assert!(
                (f64::from(audio[i]) - value).abs() < 1e-6,
                "sample {i}: {}",
                audio[i]
            );
        }
    }

    #[test]
    fn output_bits_are_stable_across_machines() {
        // FNV-1a over the bit patterns of the STFT and the inverse STFT of a
        // fixed signal. A change means the FFT path changed (for example a
        // SIMD planner or a different twiddle computation): features would no
        // longer be bit-identical across machines.
        let signal = golden_signal(5000);
        let spec = stft(&signal);
        let back = istft(&spec, signal.len());
        let mut hash = 0xcbf2_9ce4_8422_2325_u64;
        let words = spec
            .bins()
            .iter()
            .flat_map(|c| [c.re.to_bits(), c.im.to_bits()])
            .chain(back.iter().map(|x| x.to_bits()));
        for word in words {
            for byte in word.to_le_bytes() {
                hash ^= u64::from(byte);
                hash = hash.wrapping_mul(0x0100_0000_01b3);
            }
        }
        assert_eq!(hash, 1_410_226_144_941_562_539);
    }

    /// Direct O(N^2) DFT of every padded frame, scaled by 1/512.
    fn direct_stft(signal: &[f32]) -> Vec<(f64, f64)> {
        let mut padded = vec![0.0_f64; BOUNDARY];
        padded.extend(signal.iter().map(|&x| f64::from(x)));
        padded.resize((n_frames(signal.len()) - 1) * HOP + N_FFT, 0.0);
        let mut out = Vec::new();
        for t in 0..n_frames(signal.len()) {
            let frame = &padded[t * HOP..t * HOP + N_FFT];
            for f in 0..N_BINS {
                let (mut re, mut im) = (0.0, 0.0);
                for (n, &x) in frame.iter().enumerate() {
                    // Reduce the angle exactly before taking sin/cos.
                    let angle =
                        2.0 * std::f64::consts::PI * ((f * n) % N_FFT) as f64 / N_FFT as f64;
                    re += x * libm::cos(angle);
                    im -= x * libm::sin(angle);
                }
                out.push((re / N_FFT as f64, im / N_FFT as f64));
            }
        }
        out
    }

    #[test]
    fn features_match_direct_dft() {
        // Two sinusoids (one on a bin, one between bins) and an impulse.
        let n = 2000;
        let fs = f64::from(crate::SAMPLE_RATE);
        let mut signal: Vec<f32> = (0..n)
            .map(|i| {
                let t = i as f64 / fs;
                (0.5 * libm::sin(2.0 * std::f64::consts::PI * 437.5 * t)
                    + 0.25 * libm::sin(2.0 * std::f64::consts::PI * 1234.5 * t + 0.3))
                    as f32
            })
            .collect();
        signal[700] += 0.8;
        let (frames, magnitude) = features(&signal);
        assert_eq!(frames, n_frames(n));
        let spec = stft(&signal);
        let phase = spec.phase();
        let direct = direct_stft(&signal);
        assert_eq!(magnitude.len(), direct.len());
        for (i, &(re, im)) in direct.iter().enumerate() {
            let expected_mag = (re * re + im * im).sqrt();
            let bin = spec.bins()[i];
            assert!(
                (f64::from(magnitude[i]) - expected_mag).abs() < 1e-6,
                "bin {i}"
            );
            assert!((f64::from(bin.re) - re).abs() < 1e-6, "bin {i}");
            assert!((f64::from(bin.im) - im).abs() < 1e-6, "bin {i}");
            if expected_mag > 1e-3 {
                let dphase = f64::from(phase[i]) - libm::atan2(im, re);
                let wrapped = libm::remainder(dphase, 2.0 * std::f64::consts::PI);
                assert!(wrapped.abs() < 1e-4, "phase of bin {i}");
            }
        }
        // The on-bin sinusoid peaks at bin 437.5 / 31.25 = 14 with |X| = A/2.
        let mid = 8 * N_BINS;
        assert!((magnitude[mid + 14] - 0.25).abs() < 0.01);
    }

    #[test]
    fn empty_and_tiny_signals() {
        let empty = stft(&[]);
        assert_eq!(empty.n_frames(), 0);
        assert!(empty.magnitude().is_empty());
        assert_eq!(istft(&empty, 0), Vec::<f32>::new());
        assert_eq!(istft(&empty, 5), vec![0.0; 5]);
        let one = stft(&[0.5]);
        assert_eq!(one.n_frames(), 2);
        let back = istft(&one, 1);
        assert!((back[0] - 0.5).abs() < 1e-6);
    }

    #[test]
    fn istft_zero_extends_past_natural_length() {
        let signal = golden_signal(300);
        let spec = stft(&signal);
        let natural = istft_natural_len(spec.n_frames());
        assert_eq!(natural, 384);
        let long = istft(&spec, 1000);
        assert_eq!(long.len(), 1000);
        assert!(long[natural..].iter().all(|&x| x == 0.0));
        assert!(long[300..natural].iter().all(|&x| x.abs() < 1e-6));
    }

    #[test]
    fn mask_semantics() {
        let spec = stft(&golden_signal(700));
        let n = spec.n_frames() * N_BINS;
        assert_eq!(apply_mask(&spec, &vec![0.0; n]).unwrap(), spec);
        let silenced = apply_mask(&spec, &vec![-1.0; n]).unwrap();
        assert!(silenced.bins().iter().all(|c| c.re == 0.0 && c.im == 0.0));
        let mask: Vec<f32> = (0..n).map(|i| (i % 7) as f32 * 0.25 - 0.5).collect();
        let masked = apply_mask(&spec, &mask).unwrap();
        let (mag, new_mag) = (spec.magnitude(), masked.magnitude());
        let (phase, new_phase) = (spec.phase(), masked.phase());
        for i in 0..n {
            let gain = 1.0 + mask[i];
            assert!((new_mag[i] - mag[i] * gain.abs()).abs() <= 1e-6 * mag[i] + 1e-12);
            if gain > 0.0 && mag[i] > 1e-6 {
                assert!((new_phase[i] - phase[i]).abs() < 1e-5, "phase {i}");
            }
        }
        let err = apply_mask(&spec, &mask[1..]).unwrap_err();
        assert!(matches!(err, AudioError::ShapeMismatch { .. }));
        assert!(err.to_string().contains("mask has"), "{err}");
        // The per-frame form agrees with the spectrogram form.
        let frame = spec.frame(2).unwrap();
        let frame_mask: [f32; N_BINS] = mask[2 * N_BINS..3 * N_BINS].try_into().unwrap();
        assert_eq!(
            frame.apply_mask(&frame_mask).bins.as_slice(),
            masked.frame_bins(2).unwrap()
        );
        assert_eq!(frame.magnitude().as_slice(), &mag[2 * N_BINS..3 * N_BINS]);
    }

    #[test]
    fn spectrogram_shape_checks() {
        let bins = vec![Complex32::new(1.0, 0.0); 2 * N_BINS];
        let spec = Spectrogram::from_bins(2, bins.clone()).unwrap();
        assert_eq!(spec.n_frames(), 2);
        assert_eq!(spec.frames().len(), 2);
        assert!(spec.frame(2).is_none());
        assert!(Spectrogram::from_bins(3, bins).is_err());
        assert!(Frame::from_slice(&[Complex32::new(0.0, 0.0); 3]).is_err());
    }

    /// Streams `signal` in the given chunk sizes (cycled), popping after each push.
    fn streamed_stft(signal: &[f32], chunks: &[usize]) -> Spectrogram {
        let mut stream = StftStream::new();
        let mut spec = Spectrogram::new();
        let mut rest = signal;
        let mut i = 0;
        while !rest.is_empty() {
            let take = chunks[i % chunks.len()].clamp(1, rest.len());
            stream.push(&rest[..take]);
            rest = &rest[take..];
            i += 1;
            while let Some(frame) = stream.pop_frame() {
                spec.push_frame(&frame);
            }
        }
        for frame in stream.finish() {
            spec.push_frame(&frame);
        }
        spec
    }

    /// Inverse-streams `spec`, popping every `pop_every` frames.
    fn streamed_istft(spec: &Spectrogram, n_samples: usize, pop_every: usize) -> Vec<f32> {
        let mut stream = IstftStream::new();
        let mut out = Vec::new();
        for (t, bins) in spec.frames().enumerate() {
            stream.push_frame(&Frame::from_slice(bins).unwrap());
            if t % pop_every == 0 {
                out.extend(stream.pop_samples());
            }
        }
        out.extend(stream.finish(n_samples).unwrap());
        out
    }

    #[test]
    fn streaming_equals_batch_at_edge_lengths() {
        for n in [
            0, 1, 2, 127, 128, 129, 255, 256, 257, 383, 384, 511, 512, 513, 1000, 1025,
        ] {
            let signal = golden_signal(n);
            let batch = stft(&signal);
            for chunks in [&[1][..], &[7, 300], &[128], &[100_000]] {
                let streamed = streamed_stft(&signal, chunks);
                assert_eq!(streamed.n_frames(), batch.n_frames(), "n = {n}");
                assert_eq!(bits(streamed.bins()), bits(batch.bins()), "n = {n}");
            }
            let back = istft(&batch, n);
            for pop_every in [1, 3] {
                let streamed = streamed_istft(&batch, n, pop_every);
                let same = streamed
                    .iter()
                    .map(|x| x.to_bits())
                    .eq(back.iter().map(|x| x.to_bits()));
                assert!(same, "n = {n}");
            }
        }
    }

    #[test]
    fn istft_stream_overrun_is_an_error() {
        let spec = stft(&golden_signal(1000));
        let mut stream = IstftStream::new();
        for bins in spec.frames() {
            stream.push_frame(&Frame::from_slice(bins).unwrap());
            let _ = stream.pop_samples();
        }
        assert_eq!(stream.samples_popped(), 896);
        let err = stream.finish(500).unwrap_err();
        assert!(matches!(
            err,
            AudioError::StreamOverrun {
                emitted: 896,
                requested: 500
            }
        ));
    }

    #[test]
    fn round_trip_of_a_long_clip() {
        // 30 s, the size the CLI handles: bound max |error| <= 1e-6 max |x|.
        let signal: Vec<f32> = (0..480_000)
            .map(|i| {
                let t = i as f64 / 16_000.0;
                (0.6 * libm::sin(2.0 * std::f64::consts::PI * 220.0 * t)
                    * libm::sin(2.0 * std::f64::consts::PI * 0.7 * t)
                    + 0.05 * libm::sin(t * t * 300.0)) as f32
            })
            .collect();
        let spec = stft(&signal);
        assert_eq!(spec.n_frames(), 3751);
        let back = istft(&spec, signal.len());
        let err = signal
            .iter()
            .zip(&back)
            .fold(0.0_f32, |m, (a, b)| m.max((a - b).abs()));
        assert!(err <= 1e-6 * max_abs(&signal), "max error {err}");
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

        /// STFT then inverse STFT: max |error| <= 1e-6 * max |x|.
        #[test]
        fn stft_istft_round_trip(signal in proptest::collection::vec(-1.0_f32..1.0, 1..3000)) {
            let back = istft(&stft(&signal), signal.len());
            prop_assert_eq!(back.len(), signal.len());
            let err = signal.iter().zip(&back).fold(0.0_f32, |m, (a, b)| m.max((a - b).abs()));
            prop_assert!(err <= 1e-6 * max_abs(&signal), "max error {}", err);
        }

        /// Any chunking of the input gives the batch frames bit for bit, and
        /// the streaming inverse gives the batch inverse bit for bit.
        #[test]
        fn streaming_equals_batch(
            signal in proptest::collection::vec(-1.0_f32..1.0, 0..2500),
            chunks in proptest::collection::vec(1_usize..700, 1..6),
            pop_every in 1_usize..5,
        ) {
            let batch = stft(&signal);
            let streamed = streamed_stft(&signal, &chunks);
            prop_assert_eq!(bits(streamed.bins()), bits(batch.bins()));
            let back = istft(&batch, signal.len());
            let streamed_back = streamed_istft(&batch, signal.len(), pop_every);
            prop_assert!(streamed_back.iter().map(|x| x.to_bits()).eq(back.iter().map(|x| x.to_bits())));
        }
    }
}
