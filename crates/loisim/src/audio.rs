//! Audio in, audio out: a WAV file through the S5 denoiser, streamed in bounded memory.
//!
//! Samples are read in chunks, turned into STFT frames (512-point, hop 128), quantized with the
//! model's input format and run in chunks of tokens, on the reference executor or the simulated
//! chip; each frame's mask `m` gives the cleaned frame `noisy * (1 + m)` (noisy phase), which the
//! streaming inverse STFT turns back into samples written as they come.

use crate::report::AudioSummary;
use crate::{Error, Result};
use loisim_audio::{
    Frame, IstftStream, SiSnrAccumulator, StftStream, WavSampleReader, WavStreamWriter,
};
use loisim_model::{Model, Reference};
use std::path::Path;

/// Frames processed per chunk.
const CHUNK_FRAMES: usize = 512;
/// Samples read per chunk.
const CHUNK_SAMPLES: usize = 1 << 16;

/// What runs the tokens.
pub(crate) enum Runner<'a, 'p> {
    /// The reference executor.
    Reference(Reference<'a>),
    /// A chip simulation session, and where its timesteps go.
    Chip(
        &'a mut loisim_sim::Session<'p>,
        Option<&'a mut dyn loisim_sim::TraceSink>,
    ),
}

/// Runs a WAV file through a model. `output_wav` receives the cleaned audio, `masks` (when
/// given) collects the decoder output integers.
pub(crate) fn denoise(
    model: &Model,
    runner: &mut Runner<'_, '_>,
    input: &Path,
    output_wav: Option<&Path>,
    clean: Option<&Path>,
    mut masks: Option<&mut Vec<Vec<i32>>>,
) -> Result<AudioSummary> {
    check_audio_model(model)?;
    let mut reader = WavSampleReader::open(input)?;
    let n_samples = reader.len_samples() as usize;
    if n_samples == 0 {
        return Err(Error::Invalid(format!(
            "{}: the file holds no samples",
            input.display()
        )));
    }
    let mut clean_reader = match clean {
        Some(p) => {
            let r = WavSampleReader::open(p)?;
            if r.len_samples() != reader.len_samples() {
                return Err(Error::Invalid(format!(
                    "{} has {} samples but {} has {}: the clean reference must match the noisy input",
                    p.display(),
                    r.len_samples(),
                    input.display(),
                    reader.len_samples()
                )));
            }
            Some(r)
        }
        None => None,
    };
    let mut st = Stream {
        model,
        scale: libm::exp2(-f64::from(model.output().exp)) as f32,
        istft: IstftStream::new(),
        writer: match output_wav {
            Some(p) => Some(WavStreamWriter::create(p, loisim_audio::SAMPLE_RATE)?),
            None => None,
        },
        clean: clean_reader.take(),
        noisy_pending: std::collections::VecDeque::new(),
        out_acc: SiSnrAccumulator::new(),
        noisy_acc: SiSnrAccumulator::new(),
        n_tokens: 0,
    };
    let mut stft = StftStream::new();
    let mut buf = Vec::with_capacity(CHUNK_SAMPLES);
    let mut frames: Vec<Frame> = Vec::with_capacity(CHUNK_FRAMES);
    loop {
        buf.clear();
        if reader.read_chunk(&mut buf, CHUNK_SAMPLES)? == 0 {
            break;
        }
        if st.clean.is_some() {
            st.noisy_pending.extend(buf.iter().copied());
        }
        stft.push(&buf);
        while let Some(f) = stft.pop_frame() {
            frames.push(f);
            if frames.len() == CHUNK_FRAMES {
                st.emit(&mut frames, runner, masks.as_deref_mut(), None)?;
            }
        }
    }
    frames.extend(stft.finish());
    st.emit(&mut frames, runner, masks, Some(n_samples))?;
    if let Some(w) = st.writer.take() {
        w.finish()?;
    }
    let (out_acc, noisy_acc, n_tokens) = (st.out_acc, st.noisy_acc, st.n_tokens);
    let (si, noisy_si) = if clean.is_some() {
        (Some(out_acc.finish()?), Some(noisy_acc.finish()?))
    } else {
        (None, None)
    };
    Ok(AudioSummary {
        seconds: n_samples as f64 / f64::from(loisim_audio::SAMPLE_RATE),
        tokens: n_tokens,
        si_snr_db: si,
        noisy_si_snr_db: noisy_si,
        si_snri_db: si.zip(noisy_si).map(|(a, b)| a - b),
    })
}

/// A WAV file runs through the model as STFT frames: one input per frequency bin, one mask
/// value per bin out.
pub fn check_audio_model(model: &Model) -> Result<()> {
    let bins = loisim_audio::N_BINS;
    let (d_in, d_out) = (model.dims.d_input as usize, model.dims.d_output as usize);
    if d_in != bins || d_out != bins {
        return Err(Error::Invalid(format!(
            "model {} takes {d_in} inputs and gives {d_out} outputs, but a .wav input needs {bins} \
             and {bins} (the frequency bins of a 512-point STFT frame); give an .npy input instead",
            model.name
        )));
    }
    Ok(())
}

/// Whether a path names a WAV file.
pub fn is_wav(p: &Path) -> bool {
    p.extension().is_some_and(|e| e.eq_ignore_ascii_case("wav"))
}

/// The state of a streamed run.
struct Stream<'m> {
    model: &'m Model,
    scale: f32,
    istft: IstftStream,
    writer: Option<WavStreamWriter>,
    clean: Option<WavSampleReader>,
    /// Noisy samples waiting for the clean samples read in step with the output.
    noisy_pending: std::collections::VecDeque<f32>,
    out_acc: SiSnrAccumulator,
    noisy_acc: SiSnrAccumulator,
    n_tokens: usize,
}

impl Stream<'_> {
    /// Runs the buffered frames, cleans them, and writes the finished samples (all remaining
    /// ones, trimmed to `tail` samples in total, at the end).
    fn emit(
        &mut self,
        frames: &mut Vec<Frame>,
        runner: &mut Runner<'_, '_>,
        masks: Option<&mut Vec<Vec<i32>>>,
        tail: Option<usize>,
    ) -> Result<()> {
        if !frames.is_empty() {
            let mags: Vec<f32> = frames.iter().flat_map(|f| f.magnitude()).collect();
            let tokens = loisim_import::input::tokens_from_magnitudes(&mags, self.model)?;
            let outs = match runner {
                Runner::Reference(r) => tokens
                    .iter()
                    .map(|t| r.step(t))
                    .collect::<Result<Vec<_>, _>>()?,
                Runner::Chip(s, sink) => s.run(
                    &tokens,
                    sink.as_deref_mut()
                        .map(|k| k as &mut dyn loisim_sim::TraceSink),
                    None,
                )?,
            };
            for (frame, out) in frames.iter().zip(&outs) {
                let mut mask = [0f32; loisim_audio::N_BINS];
                for (m, &q) in mask.iter_mut().zip(out) {
                    *m = q as f32 * self.scale;
                }
                self.istft.push_frame(&frame.apply_mask(&mask));
            }
            self.n_tokens += frames.len();
            if let Some(m) = masks {
                m.extend(outs);
            }
            frames.clear();
        }
        let samples = match tail {
            None => self.istft.pop_samples(),
            Some(n) => std::mem::take(&mut self.istft).finish(n)?,
        };
        if let Some(w) = self.writer.as_mut() {
            w.write_samples(&samples)?;
        }
        if let Some(cr) = self.clean.as_mut() {
            let mut clean = Vec::with_capacity(samples.len());
            cr.read_chunk(&mut clean, samples.len())?;
            let k = clean.len().min(self.noisy_pending.len());
            let noisy: Vec<f32> = self.noisy_pending.drain(..k).collect();
            self.out_acc.push(&samples[..clean.len()], &clean)?;
            self.noisy_acc.push(&noisy, &clean[..k])?;
        }
        Ok(())
    }
}
