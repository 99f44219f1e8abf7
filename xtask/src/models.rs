//! The reference models and the default input of `models/`.

use anyhow::{Context, Result};
use loisim_import::observe::Recipe;
use loisim_import::synth::{Distribution, GenConfig, calibration_slice, generate};
use npyz::WriterBuilder;

/// Seed of every reference model.
pub const SEED: u64 = 2025;

/// One reference model: file name and generation arguments.
#[derive(Clone, Debug)]
pub struct ModelSpec {
    /// File name in `models/`.
    pub file: &'static str,
    /// Arguments.
    pub config: GenConfig,
}

/// The reference models: sparse (90 %, ERK) and dense at widths 0.25, 1 and 3.
pub fn specs() -> Vec<ModelSpec> {
    let mut v = Vec::new();
    for (tag, sparsity) in [("sparse", 0.9), ("dense", 0.0)] {
        for (wtag, width) in [("0.25x", 0.25), ("1x", 1.0), ("3x", 3.0)] {
            let file: &'static str = Box::leak(format!("s5-{tag}-{wtag}.bin").into_boxed_str());
            v.push(ModelSpec {
                file,
                config: GenConfig {
                    width,
                    n_layers: 3,
                    sparsity,
                    distribution: Distribution::Erk,
                    seed: SEED,
                    recipe: Recipe::W8A16,
                },
            });
        }
    }
    v
}

/// The default clip and its features.
#[derive(Clone, Debug)]
pub struct DefaultInput {
    /// The noisy clip, 16 kHz.
    pub noisy: Vec<f32>,
    /// The clean reference.
    pub clean: Vec<f32>,
    /// Tokens.
    pub n_tokens: usize,
    /// STFT magnitudes, `[n_tokens, 257]`.
    pub features: Vec<f32>,
}

/// Builds the default clip and features.
pub fn default_input() -> Result<DefaultInput> {
    let clip = loisim_audio::speech_like(&loisim_audio::SpeechLikeConfig::default())?;
    // The features are those of the clip as the committed 16-bit WAV holds it, so that running
    // the WAV and running the `.npy` give the same integers.
    let pcm = |x: &[f32]| -> Vec<f32> {
        x.iter()
            .map(|&v| f32::from(loisim_audio::to_pcm16(v)) / 32768.0)
            .collect()
    };
    let (noisy, clean) = (pcm(&clip.noisy), pcm(&clip.clean));
    let (n_tokens, features) = loisim_audio::features(&noisy);
    Ok(DefaultInput {
        noisy,
        clean,
        n_tokens,
        features,
    })
}

/// `.npy` bytes of a float32 `[rows, cols]` array.
pub fn npy_f32(values: &[f32], cols: usize) -> Result<Vec<u8>> {
    let mut out = Vec::new();
    {
        let rows = (values.len() / cols.max(1)) as u64;
        let mut w = npyz::WriteOptions::new()
            .default_dtype()
            .shape(&[rows, cols as u64])
            .writer(&mut out)
            .begin_nd()?;
        w.extend(values.iter().copied())?;
        w.finish()?;
    }
    Ok(out)
}

/// Generates one reference model's `model.bin` bytes.
pub fn model_bytes(spec: &ModelSpec, input: &DefaultInput) -> Result<Vec<u8>> {
    let name = spec.file.trim_end_matches(".bin");
    let g = generate(&spec.config, name, calibration_slice(&input.features))
        .with_context(|| format!("generating {}", spec.file))?;
    Ok(loisim_model::codec::encode(&g.model)?)
}

/// Tokens of the default input covered by the golden outputs.
pub const GOLDEN_TOKENS: usize = 32;

/// `.npy` bytes of the reference executor's output of a model on the first
/// [`GOLDEN_TOKENS`] tokens of the default input (`tests/data/golden/<model>.npy`).
pub fn golden_bytes(model_bin: &[u8], input: &DefaultInput) -> Result<Vec<u8>> {
    let model = loisim_model::codec::decode(model_bin)?;
    let tokens = loisim_import::input::tokens_from_magnitudes(
        &input.features[..GOLDEN_TOKENS * 257],
        &model,
    )?;
    let outputs = loisim_model::reference::run_sequence(&model, &tokens)?;
    let flat: Vec<i32> = outputs.into_iter().flatten().collect();
    let mut out = Vec::new();
    {
        let mut w = npyz::WriteOptions::new()
            .default_dtype()
            .shape(&[GOLDEN_TOKENS as u64, 257])
            .writer(&mut out)
            .begin_nd()?;
        w.extend(flat)?;
        w.finish()?;
    }
    Ok(out)
}

/// `models/README.md`: what each reference model is (dims, non-zeros per matrix, memory, MACs,
/// cores on one Loihi 2 chip), and how `models/` is built.
pub fn readme(models: &[(ModelSpec, Vec<u8>)], input: &DefaultInput) -> Result<String> {
    use loisim_model::stats::ModelStats;
    use std::fmt::Write;
    let chip = loisim_arch::Chip::default_chip();
    let mut s = String::new();
    let kib = |bits: u64| bits as f64 / 8.0 / 1024.0;
    writeln!(s, "# Reference models and the default input")?;
    writeln!(s)?;
    writeln!(
        s,
        "Everything in this folder is built by `cargo xtask models` (deterministic; \
         `xtask/tests/models.rs` checks that a fresh build reproduces every byte, this file \
         included). Do not edit it by hand."
    )?;
    writeln!(s)?;
    writeln!(
        s,
        "The models are synthetic, paper-shaped S5 audio-denoising networks (`loisim gen`): \
         width s gives H = 12·⌊16s⌋ and P = 8·⌊16s⌋, {} S5 blocks, seed {SEED}, W8A16 \
         quantization, sparsity distributed over the matrices ERK-style. Their weights are \
         not trained: they stand for the shape, sparsity and activity of the poster's models, \
         not for their denoising quality. Run-time exponents are calibrated on the first \
         tokens of the default input.",
        models.first().map_or(3, |(m, _)| m.config.n_layers)
    )?;
    writeln!(s)?;
    writeln!(
        s,
        "| file | H | P | blocks | weight sparsity | non-zero weights | parameter memory (non-zeros) | MACs/token dense | MACs/token effective | Loihi 2 cores |"
    )?;
    writeln!(s, "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|")?;
    let mut details = String::new();
    for (spec, bytes) in models {
        let model = loisim_model::codec::decode(bytes)?;
        let st = ModelStats::of(&model);
        let nnz: usize = st.matrices.iter().map(|m| m.nnz).sum();
        let dense: usize = st.matrices.iter().map(|m| m.n_in * m.n_out).sum();
        let cores = match loisim_compiler::compile(
            &model,
            &chip,
            &loisim_compiler::CompileOptions::default(),
            None,
        ) {
            Ok(p) => p.cores.len().to_string(),
            Err(loisim_compiler::CompileError::DoesNotFit { .. }) => "does not fit".into(),
            Err(e) => return Err(e.into()),
        };
        let d = &model.dims;
        writeln!(
            s,
            "| `{}` | {} | {} | {} | {:.1} % | {} of {} | {:.1} KiB ({:.1} KiB dense) | {} | {} | {} |",
            spec.file,
            d.d_model,
            d.d_state,
            d.n_layers,
            100.0 * (1.0 - nnz as f64 / dense.max(1) as f64),
            nnz,
            dense,
            kib(st.param_bits_nnz),
            kib(st.param_bits_dense),
            st.macs_dense,
            st.macs_effective,
            cores
        )?;
        writeln!(details)?;
        writeln!(details, "### `{}`", spec.file)?;
        writeln!(details)?;
        writeln!(
            details,
            "| matrix | inputs × outputs | weight bits | non-zeros | density |"
        )?;
        writeln!(details, "|---|---:|---:|---:|---:|")?;
        for m in &st.matrices {
            writeln!(
                details,
                "| `{}` | {} × {} | {} | {} | {:.1} % |",
                m.name,
                m.n_in,
                m.n_out,
                m.bits,
                m.nnz,
                100.0 * m.density
            )?;
        }
    }
    writeln!(s)?;
    writeln!(
        s,
        "Parameter memory counts the stored values only (non-zero weights at their width, every \
         vector element), without sparse-index overhead; what a core actually needs is in \
         `loisim map MODEL --report`. The dense models are not pruned; their zeros are weights          that round to zero at 8 bits: about 5 % of a lecun-normal matrix, and more of the          discretized `B`, whose rows scale with each state's step size (a range of 100×).          MACs per token count every weight once plus the \
         elementwise products of each block (4 per complex state, 2 per channel); effective \
         MACs count non-zero weights only. Cores: `loisim map` with default options on one \
         Loihi 2 chip."
    )?;
    writeln!(s)?;
    writeln!(s, "## Default input")?;
    writeln!(s)?;
    writeln!(
        s,
        "- `default-clip-noisy.wav`, `default-clip-clean.wav`: a deterministic {:.0} s, 16 kHz, \
         16-bit mono speech-like clip (voiced harmonics with moving pitch and formants, pauses) \
         with additive noise, and its clean twin (`loisim gen-audio` writes clips like it).",
        input.noisy.len() as f64 / f64::from(loisim_audio::SAMPLE_RATE)
    )?;
    writeln!(
        s,
        "- `default-input.npy`: float32 `[{}, 257]`, the STFT magnitudes of \
         `default-clip-noisy.wav` (512-point, hop 128): one token per 8 ms. `loisim run` with \
         no input runs it; running the WAV gives the same integers.",
        input.n_tokens
    )?;
    writeln!(s)?;
    writeln!(s, "## Non-zeros per matrix")?;
    s.push_str(&details);
    Ok(s)
}
