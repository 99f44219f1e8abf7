//! Regression of the simulated figures of every reference model.
//!
//! `cargo xtask regress` runs every model of `models/` on the default input in both modes and
//! compares per-token µs and µJ, cores used, synaptic operations and messages with the
//! baselines in `traces/baselines/`: counts must be equal (the simulator is deterministic),
//! times and energies within a relative tolerance of 1e-9. `--bless` rewrites the baselines.

use anyhow::{Context, Result};
use loisim_arch::Chip;
use loisim_compiler::{CompileOptions, compile};
use loisim_model::stats::ModelStats;
use loisim_sim::{SimOptions, simulate};
use serde::{Deserialize, Serialize};
use std::path::Path;

/// Relative tolerance on times and energies.
pub const REL_TOL: f64 = 1e-9;

/// The figures of one model.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Figures {
    /// Model.
    pub model: String,
    /// The chip the figures were simulated on (its preset name or file stem): figures of
    /// another chip are not comparable.
    pub chip: String,
    /// Tokens run.
    pub tokens: usize,
    /// Cores used.
    pub cores_used: u32,
    /// Stored parameters.
    pub params: u64,
    /// MACs per token counting non-zero weights.
    pub macs_effective: u64,
    /// Synaptic operations over the run (one mode; both modes do the same work).
    pub synops_total: u64,
    /// Messages over the run.
    pub msgs_total: u64,
    /// Fall-through timesteps.
    pub ft_timesteps: u64,
    /// Pipeline timesteps.
    pub pl_timesteps: u64,
    /// Fall-through latency, µs per token.
    pub ft_latency_us_per_token: f64,
    /// Fall-through dynamic energy, µJ per token.
    pub ft_energy_uj_per_token: f64,
    /// Pipeline latency, µs per token (the sample's time divided by its tokens).
    pub pl_latency_us_per_token: f64,
    /// Pipeline total energy, µJ per token.
    pub pl_energy_uj_per_token: f64,
    /// Pipeline latency, ms per sample.
    pub pl_latency_ms_per_sample: f64,
    /// Pipeline total energy, mJ per sample.
    pub pl_energy_mj_per_sample: f64,
}

/// Simulates one model on `chip` with the default input.
pub fn measure(chip: &Chip, model_path: &Path, input: &Path) -> Result<Figures> {
    let model = loisim_model::codec::decode(&std::fs::read(model_path)?)
        .with_context(|| format!("{}", model_path.display()))?;
    let tokens = loisim_import::input::read_tokens(input, &model)?;
    let prog = compile(&model, chip, &CompileOptions::default(), None)?;
    let res = simulate(&prog, &tokens, &SimOptions::default(), None, None)?;
    let ft = res.fall_through.context("no fall-through result")?;
    let pl = res.pipeline.context("no pipeline result")?;
    let stats = ModelStats::of(&model);
    let n = tokens.len() as f64;
    Ok(Figures {
        model: model.name.clone(),
        chip: chip.name.clone(),
        tokens: tokens.len(),
        cores_used: prog.cores.len() as u32,
        params: stats.n_params_nnz,
        macs_effective: stats.macs_effective,
        synops_total: ft.synops,
        msgs_total: ft.msgs,
        ft_timesteps: ft.n_timesteps,
        pl_timesteps: pl.n_timesteps,
        ft_latency_us_per_token: ft.token_latency_ns_mean / 1e3,
        ft_energy_uj_per_token: ft.energy.dynamic_pj() / n / 1e6,
        pl_latency_us_per_token: pl.total_ns / n / 1e3,
        pl_energy_uj_per_token: pl.energy.total_pj() / n / 1e6,
        pl_latency_ms_per_sample: pl.total_ns / 1e6,
        pl_energy_mj_per_sample: pl.energy.total_pj() / 1e9,
    })
}

/// One compared quantity.
#[derive(Clone, Debug, PartialEq)]
pub struct Delta {
    /// Model.
    pub model: String,
    /// Quantity.
    pub what: &'static str,
    /// Baseline.
    pub baseline: f64,
    /// Now.
    pub now: f64,
    /// Whether it is out of tolerance.
    pub regressed: bool,
}

/// Where the baselines of `chip` live under `root` (`traces/baselines/` for the default
/// chip, `traces/baselines/<chip>/` for any other).
#[must_use]
pub fn baselines_dir(root: &Path, chip: &Chip) -> std::path::PathBuf {
    let dir = root.join("traces/baselines");
    if chip.name == Chip::default_chip().name {
        dir
    } else {
        dir.join(&chip.name)
    }
}

/// Compares figures with their baseline.
pub fn compare(base: &Figures, now: &Figures) -> Vec<Delta> {
    let mut v = Vec::new();
    let exact: [(&'static str, f64, f64); 6] = [
        ("tokens", base.tokens as f64, now.tokens as f64),
        (
            "cores used",
            f64::from(base.cores_used),
            f64::from(now.cores_used),
        ),
        (
            "synaptic ops",
            base.synops_total as f64,
            now.synops_total as f64,
        ),
        ("messages", base.msgs_total as f64, now.msgs_total as f64),
        (
            "fall-through timesteps",
            base.ft_timesteps as f64,
            now.ft_timesteps as f64,
        ),
        (
            "pipeline timesteps",
            base.pl_timesteps as f64,
            now.pl_timesteps as f64,
        ),
    ];
    for (what, b, n) in exact {
        v.push(Delta {
            model: now.model.clone(),
            what,
            baseline: b,
            now: n,
            regressed: b != n,
        });
    }
    let rel: [(&'static str, f64, f64); 4] = [
        (
            "fall-through us/token",
            base.ft_latency_us_per_token,
            now.ft_latency_us_per_token,
        ),
        (
            "fall-through uJ/token",
            base.ft_energy_uj_per_token,
            now.ft_energy_uj_per_token,
        ),
        (
            "pipeline us/token",
            base.pl_latency_us_per_token,
            now.pl_latency_us_per_token,
        ),
        (
            "pipeline uJ/token",
            base.pl_energy_uj_per_token,
            now.pl_energy_uj_per_token,
        ),
    ];
    for (what, b, n) in rel {
        let off = (n - b).abs() > REL_TOL * b.abs().max(1e-30);
        v.push(Delta {
            model: now.model.clone(),
            what,
            baseline: b,
            now: n,
            regressed: off,
        });
    }
    v
}

/// The delta table.
pub fn table(deltas: &[Delta]) -> String {
    let mut s = format!(
        "{:<18} {:<24} {:>16} {:>16} {:>10}\n",
        "model", "figure", "baseline", "now", "change"
    );
    for d in deltas {
        let change = if d.baseline == 0.0 {
            0.0
        } else {
            100.0 * (d.now / d.baseline - 1.0)
        };
        s.push_str(&format!(
            "{:<18} {:<24} {:>16.6} {:>16.6} {:>+9.4}%{}\n",
            d.model,
            d.what,
            d.baseline,
            d.now,
            change,
            if d.regressed { "  REGRESSION" } else { "" }
        ));
    }
    s
}

/// The reference models, in the order the table lists them.
pub const MODELS: [&str; 6] = [
    "s5-sparse-0.25x",
    "s5-sparse-1x",
    "s5-sparse-3x",
    "s5-dense-0.25x",
    "s5-dense-1x",
    "s5-dense-3x",
];

/// Runs `models` on `chip`, writes `out/<model>.json`, and compares with
/// `baselines/<model>.json` (or rewrites them with `bless`). Returns the deltas.
pub fn run(
    root: &Path,
    chip: &Chip,
    models: &[&str],
    out: &Path,
    baselines: &Path,
    bless: bool,
) -> Result<Vec<Delta>> {
    std::fs::create_dir_all(out)?;
    let input = root.join("models/default-input.npy");
    let mut deltas = Vec::new();
    for m in models {
        let now = measure(chip, &root.join(format!("models/{m}.bin")), &input)?;
        let text = serde_json::to_string_pretty(&now)? + "\n";
        std::fs::write(out.join(format!("{m}.json")), &text)?;
        let base_path = baselines.join(format!("{m}.json"));
        if bless {
            std::fs::create_dir_all(baselines)?;
            std::fs::write(&base_path, &text)?;
            continue;
        }
        let base: Figures =
            serde_json::from_str(&std::fs::read_to_string(&base_path).with_context(|| {
                format!(
                    "no baseline {} (run `cargo xtask regress --bless`)",
                    base_path.display()
                )
            })?)
            .with_context(|| format!("{} is not a baseline", base_path.display()))?;
        if base.chip != now.chip {
            anyhow::bail!(
                "{} was simulated on chip `{}`, this run is on `{}`: the figures are not comparable (bless baselines for `{}` with --bless)",
                base_path.display(),
                base.chip,
                now.chip,
                now.chip
            );
        }
        deltas.extend(compare(&base, &now));
    }
    Ok(deltas)
}
