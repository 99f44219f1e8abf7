//! Audio front end of loisim's S5 denoiser.
//!
//! * [`stft`](mod@stft): the model's input features (one 257-bin STFT frame per
//!   8 ms token, scipy-compatible), mask application and the inverse STFT that
//!   rebuilds audio with the noisy phase; batch and bounded-memory streaming
//!   forms with bit-identical results.
//! * [`wav`]: reading mono 16 kHz WAV files (whole or streamed) and atomic
//!   16-bit PCM writing.
//! * [`metrics`]: SI-SNR as the Intel N-DNS challenge defines it.
//! * [`synth`]: a deterministic speech-like clip generator (clean speech plus
//!   noise at an exact SNR) for tests and demos.
//!
//! The pipeline the rest of the project runs:
//!
//! ```
//! use loisim_audio::{N_BINS, features, istft, stft, apply_mask};
//! let noisy: Vec<f32> = (0..4000).map(|i| 0.1 * (i as f32 * 0.05).sin()).collect();
//! let (n_frames, magnitudes) = features(&noisy); // model input, [T, 257]
//! assert_eq!(magnitudes.len(), n_frames * N_BINS);
//! let mask = vec![0.0_f32; n_frames * N_BINS]; // model output, [T, 257]
//! let cleaned = apply_mask(&stft(&noisy), &mask)?;
//! let audio = istft(&cleaned, noisy.len());
//! assert!((audio[1234] - noisy[1234]).abs() < 1e-6);
//! # Ok::<(), loisim_audio::AudioError>(())
//! ```
//!
//! Nothing here prints to the terminal; every fallible function returns
//! [`AudioError`].

mod error;
pub mod metrics;
pub mod stft;
pub mod synth;
pub mod wav;

pub use error::AudioError;
pub use metrics::{SiSnrAccumulator, si_snr};
/// Complex number with `f32` parts (re-exported from `realfft`'s `num_complex`).
pub use realfft::num_complex::Complex32;
pub use stft::{
    Frame, IstftStream, Spectrogram, StftStream, apply_mask, features, istft, istft_natural_len,
    n_frames, stft,
};
pub use synth::{SpeechLikeConfig, TestClip, speech_like};
pub use wav::{Audio, WavSampleReader, WavStreamWriter, read_wav, to_pcm16, write_wav};

/// Sample rate of the model's audio, in Hz.
pub const SAMPLE_RATE: u32 = 16_000;
/// STFT frame length and FFT size, in samples (32 ms).
pub const N_FFT: usize = 512;
/// STFT hop, in samples: one model token is 128 samples = 8 ms.
pub const HOP: usize = 128;
/// Number of one-sided frequency bins per frame: `N_FFT / 2 + 1`.
pub const N_BINS: usize = N_FFT / 2 + 1;

#[cfg(test)]
mod tests {
    use super::*;

    /// The CLI's bounded-memory path (WAV reader -> STFT stream -> mask ->
    /// inverse stream -> WAV writer) writes the same bytes as the batch path.
    #[test]
    fn streaming_pipeline_equals_batch_pipeline() {
        let dir = tempfile::tempdir().unwrap();
        let noisy_path = dir.path().join("noisy.wav");
        let cfg = SpeechLikeConfig {
            seconds: 2.0,
            ..SpeechLikeConfig::default()
        };
        let clip = speech_like(&cfg).unwrap();
        write_wav(&noisy_path, &clip.noisy, SAMPLE_RATE).unwrap();
        let mask: [f32; N_BINS] = std::array::from_fn(|f| -0.5 + f as f32 / N_BINS as f32);

        // Batch.
        let audio = read_wav(&noisy_path).unwrap();
        let spec = stft(&audio.samples);
        let full_mask: Vec<f32> = (0..spec.n_frames()).flat_map(|_| mask).collect();
        let cleaned = istft(&apply_mask(&spec, &full_mask).unwrap(), audio.samples.len());
        let batch_path = dir.path().join("batch.wav");
        write_wav(&batch_path, &cleaned, SAMPLE_RATE).unwrap();

        // Streaming, 1000 samples at a time.
        let mut reader = WavSampleReader::open(&noisy_path).unwrap();
        let mut analysis = StftStream::new();
        let mut synthesis = IstftStream::new();
        let stream_path = dir.path().join("stream.wav");
        let mut writer = WavStreamWriter::create(&stream_path, SAMPLE_RATE).unwrap();
        let mut chunk = Vec::new();
        loop {
            chunk.clear();
            if reader.read_chunk(&mut chunk, 1000).unwrap() == 0 {
                break;
            }
            analysis.push(&chunk);
            while let Some(frame) = analysis.pop_frame() {
                synthesis.push_frame(&frame.apply_mask(&mask));
                writer.write_samples(&synthesis.pop_samples()).unwrap();
            }
        }
        let n_samples = analysis.samples_pushed();
        for frame in analysis.finish() {
            synthesis.push_frame(&frame.apply_mask(&mask));
        }
        writer
            .write_samples(&synthesis.finish(n_samples).unwrap())
            .unwrap();
        writer.finish().unwrap();

        assert_eq!(
            std::fs::read(&stream_path).unwrap(),
            std::fs::read(&batch_path).unwrap()
        );
    }
}
