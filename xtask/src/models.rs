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
    let (n_tokens, features) = loisim_audio::features(&clip.noisy);
    Ok(DefaultInput {
        noisy: clip.noisy,
        clean: clip.clean,
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
