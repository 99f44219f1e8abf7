//! The reference models and the default input of `models/`.

use anyhow::{Context, Result};
use loisim_import::observe::Recipe;
use loisim_import::synth::{Distribution, GenConfig, calibration_slice, generate};
use npyz::WriterBuilder;
use std::collections::BTreeMap;

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

/// The default clip (recorded in `models/trained.json`: synthesised speech made by
/// `training/make_clip.py`, hash-checked) and its features.
pub fn default_input(dir: &std::path::Path) -> Result<DefaultInput> {
    let rec = crate::trained::read(dir)?;
    crate::trained::check_hash(dir, "default-clip-noisy.wav", &rec.clip.noisy_sha256)?;
    crate::trained::check_hash(dir, "default-clip-clean.wav", &rec.clip.clean_sha256)?;
    let noisy = loisim_audio::read_wav(dir.join("default-clip-noisy.wav"))?.samples;
    let clean = loisim_audio::read_wav(dir.join("default-clip-clean.wav"))?.samples;
    let (n_tokens, features) = loisim_audio::features(&noisy);
    Ok(DefaultInput {
        noisy,
        clean,
        n_tokens,
        features,
    })
}

/// Magnitudes the synthetic models' run-time exponents are frozen on: the first tokens of
/// the built-in speech-like clip (`loisim gen-audio`'s default clip, the default input
/// until trained models replaced it) as a 16-bit WAV holds it.
pub fn synthetic_calibration() -> Result<Vec<f32>> {
    let clip = loisim_audio::speech_like(&loisim_audio::SpeechLikeConfig::default())?;
    let pcm: Vec<f32> = clip
        .noisy
        .iter()
        .map(|&v| f32::from(loisim_audio::to_pcm16(v)) / 32768.0)
        .collect();
    let (_, mag) = loisim_audio::features(&pcm);
    Ok(calibration_slice(&mag).to_vec())
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
pub fn model_bytes(spec: &ModelSpec, calibration: &[f32]) -> Result<Vec<u8>> {
    let name = spec.file.trim_end_matches(".bin");
    let g = generate(&spec.config, name, calibration)
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

/// One row of the models table and the model's non-zeros-per-matrix section.
fn stats_rows(file: &str, bytes: &[u8], chip: &loisim_arch::Chip) -> Result<(String, String)> {
    use loisim_model::stats::ModelStats;
    use std::fmt::Write;
    let kib = |bits: u64| bits as f64 / 8.0 / 1024.0;
    let model = loisim_model::codec::decode(bytes)?;
    let st = ModelStats::of(&model);
    let nnz: usize = st.matrices.iter().map(|m| m.nnz).sum();
    let dense: usize = st.matrices.iter().map(|m| m.n_in * m.n_out).sum();
    let cores = match loisim_compiler::compile(
        &model,
        chip,
        &loisim_compiler::CompileOptions::default(),
        None,
    ) {
        Ok(p) => p.cores.len().to_string(),
        Err(loisim_compiler::CompileError::DoesNotFit { .. }) => "does not fit".into(),
        Err(e) => return Err(e.into()),
    };
    let d = &model.dims;
    let row = format!(
        "| `{}` | {} | {} | {} | {:.1} % | {} of {} | {:.1} KiB ({:.1} KiB dense) | {} | {} | {} |",
        file,
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
    );
    let mut details = String::new();
    writeln!(details)?;
    writeln!(details, "### `{file}`")?;
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
    Ok((row, details))
}

const TABLE_HEAD: &str = "| file | H | P | blocks | weight sparsity | non-zero weights | parameter memory (non-zeros) | MACs/token dense | MACs/token effective | Loihi 2 cores |\n|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|";

/// `models/README.md`: the trained models (from `models/trained.json`), the synthetic
/// reference models (dims, non-zeros per matrix, memory, MACs, cores on one Loihi 2 chip),
/// the default input, and how `models/` is built.
pub fn readme(
    models: &[(ModelSpec, Vec<u8>)],
    input: &DefaultInput,
    record: &crate::trained::Record,
    trained: &[Vec<u8>],
) -> Result<String> {
    use std::fmt::Write;
    let chip = loisim_arch::Chip::default_chip();
    let mut s = String::new();
    let mut details = String::new();
    writeln!(s, "# Models and the default input")?;
    writeln!(s)?;
    writeln!(
        s,
        "Everything in this folder is built by `cargo xtask models` or recorded in \
         `trained.json` (the trained models and the default clip, which need espeak-ng and a \
         training run: each with its commands, seeds and SHA-256). `xtask/tests/models.rs` \
         checks that a fresh build reproduces every built byte, this file included, and that \
         every recorded file has its recorded hash. Do not edit it by hand."
    )?;
    writeln!(s)?;
    writeln!(s, "## Trained denoisers")?;
    writeln!(s)?;
    let c = &record.corpus;
    let get = |m: &BTreeMap<String, u64>, k: &str| m.get(k).copied().unwrap_or(0);
    let geth = |m: &BTreeMap<String, f64>, k: &str| m.get(k).copied().unwrap_or(0.0);
    writeln!(
        s,
        "S5 denoisers trained on speech synthesised here (`{}`, seed {}): espeak-ng reads \
         generated sentences with {} training voices (language × voice variant, pitch and rate \
         drawn per utterance; {} utterances, {:.2} h), mixed with synthetic white, pink, brown, \
         babble, modulated-tone and mains-hum noise at -5 to 20 dB SNR. Validation ({} voices) \
         and test ({} voices, {} utterances) use voices and words training never sees. \
         Pipeline and its measured duration: `training/README.md`.",
        c.command,
        c.seed,
        get(&c.voices, "train"),
        get(&c.utterances, "train"),
        geth(&c.hours, "train"),
        get(&c.voices, "val"),
        get(&c.voices, "test"),
        get(&c.utterances, "test"),
    )?;
    writeln!(s)?;
    writeln!(s, "{TABLE_HEAD}")?;
    for (m, bytes) in record.models.iter().zip(trained) {
        let (row, d) = stats_rows(&m.file, bytes, &chip)?;
        writeln!(s, "{row}")?;
        details.push_str(&d);
    }
    writeln!(s)?;
    writeln!(
        s,
        "SI-SNR improvement on the {} fixed test mixtures (mean noisy SI-SNR shown), dB: the \
         float model, loisim's fixed-point reference interpreter, and the simulated chip \
         (`training/evaluate.py`; chip = reference byte for byte is checked), and on the \
         default clip:",
        record.models.first().map_or(0, |m| m.test.mixtures)
    )?;
    writeln!(s)?;
    writeln!(
        s,
        "| file | training (steps: phases) | noisy | float | reference | chip | chip = reference | default clip (noisy → gain) |"
    )?;
    writeln!(s, "|---|---|---:|---:|---:|---:|---|---:|")?;
    for m in &record.models {
        let phases: Vec<String> = m
            .phases
            .iter()
            .map(|p| {
                format!(
                    "{} {}{}",
                    p.name,
                    p.steps,
                    if p.name == "prune" {
                        format!(" to {:.0} %", 100.0 * p.sparsity)
                    } else {
                        String::new()
                    }
                )
            })
            .collect();
        let steps: u64 = m.phases.iter().map(|p| p.steps).sum();
        writeln!(
            s,
            "| `{}` | {} ({}), batch {} × {} s, {:.0} min on {} | {:.2} | {:+.2} | {:+.2} | {:+.2} | {} | {:.2} → {:+.2} |",
            m.file,
            steps,
            phases.join(", "),
            m.batch,
            m.crop_s,
            m.train_wall_s / 60.0,
            m.trained_on,
            m.test.noisy_si_snr_db,
            m.test.float_si_snri_db,
            m.test.reference_si_snri_db,
            m.test.chip_si_snri_db,
            if m.test.chip_equals_reference {
                "yes"
            } else {
                "NO"
            },
            m.default_clip.noisy_si_snr_db,
            m.default_clip.si_snri_db,
        )?;
    }
    writeln!(s)?;
    // Buckets `[lo,hi)` in numeric order.
    let mut buckets: Vec<&String> = record
        .models
        .first()
        .map(|m| m.test.chip_si_snri_db_by_snr.keys().collect())
        .unwrap_or_default();
    let lower = |b: &str| -> f64 {
        b.trim_start_matches('[')
            .split(',')
            .next()
            .and_then(|x| x.parse().ok())
            .unwrap_or(f64::NAN)
    };
    buckets.sort_by(|a, b| lower(a).total_cmp(&lower(b)));
    let noises: Vec<&String> = record
        .models
        .first()
        .map(|m| m.test.chip_si_snri_db_by_noise.keys().collect())
        .unwrap_or_default();
    writeln!(
        s,
        "Chip SI-SNR improvement by input SNR (dB) and by noise type:"
    )?;
    writeln!(s)?;
    let head: Vec<String> = buckets
        .iter()
        .map(|b| format!("{b} dB"))
        .chain(noises.iter().map(|n| n.to_string()))
        .collect();
    writeln!(s, "| file | {} |", head.join(" | "))?;
    writeln!(s, "|---|{}", "---:|".repeat(head.len()))?;
    for m in &record.models {
        let vals: Vec<String> = buckets
            .iter()
            .map(|b| format!("{:+.2}", m.test.chip_si_snri_db_by_snr[*b]))
            .chain(
                noises
                    .iter()
                    .map(|n| format!("{:+.2}", m.test.chip_si_snri_db_by_noise[*n])),
            )
            .collect();
        writeln!(s, "| `{}` | {} |", m.file, vals.join(" | "))?;
    }
    writeln!(s)?;
    writeln!(
        s,
        "Activation density on the default clip (non-zero fraction of what each channel \
         sends, `activation_density` of `loisim run MODEL`):"
    )?;
    writeln!(s)?;
    let channels: Vec<&String> = record
        .models
        .first()
        .map(|m| {
            m.default_clip
                .activation_density
                .iter()
                .map(|d| &d.channel)
                .collect()
        })
        .unwrap_or_default();
    let files: Vec<String> = record
        .models
        .iter()
        .map(|m| format!("`{}`", m.file))
        .collect();
    writeln!(s, "| channel | {} |", files.join(" | "))?;
    writeln!(s, "|---|{}", "---:|".repeat(files.len()))?;
    for ch in channels {
        let vals: Vec<String> = record
            .models
            .iter()
            .map(|m| {
                m.default_clip
                    .activation_density
                    .iter()
                    .find(|d| &d.channel == ch)
                    .map_or("-".into(), |d| {
                        format!("{:.1} %", 100.0 * d.nonzero_fraction)
                    })
            })
            .collect();
        writeln!(s, "| `{ch}` | {} |", vals.join(" | "))?;
    }
    writeln!(s)?;
    writeln!(s, "## Synthetic reference models")?;
    writeln!(s)?;
    writeln!(
        s,
        "Synthetic, paper-shaped S5 audio-denoising networks (`loisim gen`): width s gives \
         H = 12·⌊16s⌋ and P = 8·⌊16s⌋, {} S5 blocks, seed {SEED}, W8A16 quantization, \
         sparsity distributed over the matrices ERK-style. Their weights are not trained: they \
         stand for the shape, sparsity and scaling of the poster's models, not for their \
         denoising quality or their activity. Run-time exponents are calibrated on the first \
         tokens of the built-in speech-like clip (`loisim gen`'s default).",
        models.first().map_or(3, |(m, _)| m.config.n_layers)
    )?;
    writeln!(s)?;
    writeln!(s, "{TABLE_HEAD}")?;
    for (spec, bytes) in models {
        let (row, d) = stats_rows(spec.file, bytes, &chip)?;
        writeln!(s, "{row}")?;
        details.push_str(&d);
    }
    writeln!(s)?;
    writeln!(
        s,
        "Parameter memory counts the stored values only (non-zero weights at their width, every \
         vector element), without sparse-index overhead; what a core actually needs is in \
         `loisim map MODEL --report`. The synthetic dense models are not pruned; their zeros \
         are weights that round to zero at 8 bits: about 5 % of a lecun-normal matrix, and \
         more of the discretized `B`, whose rows scale with each state's step size (a range \
         of 100×). MACs per token count every weight once plus the elementwise products of \
         each block (4 per complex state, 2 per channel); effective MACs count non-zero \
         weights only. Cores: `loisim map` with default options on one Loihi 2 chip."
    )?;
    writeln!(s)?;
    writeln!(s, "## Default input")?;
    writeln!(s)?;
    writeln!(
        s,
        "- `default-clip-noisy.wav`, `default-clip-clean.wav`: {:.0} s, 16 kHz, 16-bit mono: \
         {} (`{}`).",
        input.noisy.len() as f64 / f64::from(loisim_audio::SAMPLE_RATE),
        record.clip.description,
        record.clip.command
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
