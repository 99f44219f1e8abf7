//! Files of `models/` that code cannot rebuild: the trained denoisers and the default clip
//! (synthesised speech), recorded in `models/trained.json` with the command that made each,
//! its seeds and its SHA-256. `cargo xtask models` checks every hash and writes the README
//! rows from the record; `xtask/tests/models.rs` checks the same.

use anyhow::{Context, Result, bail};
use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::Path;

/// `models/trained.json`.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Record {
    /// How the corpus was made (shared by every trained model).
    pub corpus: Corpus,
    /// The default clip.
    pub clip: Clip,
    /// The trained models, in README order.
    pub models: Vec<TrainedModel>,
}

/// The synthesised speech corpus.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Corpus {
    /// Command that builds it.
    pub command: String,
    /// Its seed.
    pub seed: u64,
    /// Utterances per split.
    pub utterances: BTreeMap<String, u64>,
    /// Hours of speech per split.
    pub hours: BTreeMap<String, f64>,
    /// Voices (language x variant) per split; disjoint between splits.
    pub voices: BTreeMap<String, u64>,
    /// SHA-256 over every utterance's samples (`corpus.json`).
    pub utterances_sha256: String,
    /// Fixed test mixtures.
    pub test_mixtures: u64,
}

/// The default clip and its clean twin.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Clip {
    /// Command that writes both WAVs.
    pub command: String,
    /// What it is.
    pub description: String,
    /// SHA-256 of `default-clip-noisy.wav`.
    pub noisy_sha256: String,
    /// SHA-256 of `default-clip-clean.wav`.
    pub clean_sha256: String,
}

/// One trained model.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TrainedModel {
    /// File name in `models/`.
    pub file: String,
    /// SHA-256 of the file.
    pub sha256: String,
    /// Width (the paper's dim_scale).
    pub width: f64,
    /// Target weight sparsity of the pruned matrices (0 for dense).
    pub weight_sparsity_target: f64,
    /// Commands, in order, from the corpus to this file.
    pub commands: Vec<String>,
    /// Training seed.
    pub seed: u64,
    /// Phases: name, steps, quantisation-aware or not, sparsity at the end.
    pub phases: Vec<Phase>,
    /// Batch size (clips of `crop_s` seconds).
    pub batch: u64,
    /// Seconds per training clip.
    pub crop_s: f64,
    /// Wall time of the training on the machine it ran on, seconds.
    pub train_wall_s: f64,
    /// Where it ran.
    pub trained_on: String,
    /// SHA-256 of the float checkpoint `loisim import` read.
    pub checkpoint_sha256: String,
    /// SHA-256 of the calibration features the run-time exponents were frozen on.
    pub calibration_sha256: String,
    /// Test-split SI-SNR.
    pub test: TestScores,
    /// The default clip on the chip.
    pub default_clip: ClipScores,
}

/// A training phase.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Phase {
    /// `dense`, `prune` or `qat`.
    pub name: String,
    /// Steps.
    pub steps: u64,
    /// Quantisation-aware.
    pub quantised: bool,
    /// Weight sparsity at the end of the phase.
    pub sparsity: f64,
}

/// Mean SI-SNR improvement on the test mixtures, dB.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TestScores {
    /// Mixtures.
    pub mixtures: u64,
    /// Mean SI-SNR of the noisy inputs.
    pub noisy_si_snr_db: f64,
    /// The float model (JAX).
    pub float_si_snri_db: f64,
    /// loisim's fixed-point reference interpreter.
    pub reference_si_snri_db: f64,
    /// The simulated chip.
    pub chip_si_snri_db: f64,
    /// Whether the chip's enhanced audio equals the reference's, byte for byte.
    pub chip_equals_reference: bool,
    /// Chip SI-SNR improvement per input-SNR bucket (`[lo,hi)` dB).
    pub chip_si_snri_db_by_snr: BTreeMap<String, f64>,
    /// Chip SI-SNR improvement per noise type.
    pub chip_si_snri_db_by_noise: BTreeMap<String, f64>,
}

/// The default clip's figures on the chip.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClipScores {
    /// SI-SNR of the noisy clip, dB.
    pub noisy_si_snr_db: f64,
    /// SI-SNR improvement, dB.
    pub si_snri_db: f64,
    /// Non-zero fraction of each channel the chip sends (`activation_density` of the run),
    /// in the report's order.
    pub activation_density: Vec<Density>,
}

/// One channel's activation density.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Density {
    /// Channel (`encoder.x`, `L0.z_re`, ...).
    pub channel: String,
    /// Non-zero fraction.
    pub nonzero_fraction: f64,
}

/// Reads `dir/trained.json`.
pub fn read(dir: &Path) -> Result<Record> {
    let path = dir.join("trained.json");
    let text =
        std::fs::read_to_string(&path).with_context(|| format!("reading {}", path.display()))?;
    serde_json::from_str(&text).with_context(|| format!("parsing {}", path.display()))
}

/// SHA-256 of a file, lowercase hex.
pub fn sha256_file(path: &Path) -> Result<String> {
    let bytes = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
    Ok(loisim::sweep::sha256_hex(&bytes))
}

/// Checks that a recorded file has its recorded hash.
pub fn check_hash(dir: &Path, file: &str, want: &str) -> Result<()> {
    let got = sha256_file(&dir.join(file))?;
    if got != want {
        bail!(
            "models/{file} has SHA-256 {got}, models/trained.json records {want}: the file \
             was changed without re-recording it (training/ship.py records trained files)"
        );
    }
    Ok(())
}

/// Checks every hash of the record: the clip's two WAVs and every trained model.
pub fn check(dir: &Path, rec: &Record) -> Result<()> {
    check_hash(dir, "default-clip-noisy.wav", &rec.clip.noisy_sha256)?;
    check_hash(dir, "default-clip-clean.wav", &rec.clip.clean_sha256)?;
    for m in &rec.models {
        check_hash(dir, &m.file, &m.sha256)?;
    }
    Ok(())
}
