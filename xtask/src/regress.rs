//! Regression of the simulated figures of every reference model.
//!
//! `cargo xtask regress` runs every model of `models/` on the default input in both modes and
//! compares its [`loisim::Report`] (the figures of `loisim run --json`, wall-clock speed
//! aside) with the baselines in `traces/baselines/`: every count must be equal (the simulator
//! is deterministic), every other number within a relative tolerance of 1e-9, every name
//! equal, no key added or lost. `--bless` rewrites the baselines.

use anyhow::{Context, Result};
use loisim::{Chip, Input, Report, RunOptions, Simulation};
use serde_json::Value;
use std::path::Path;

/// Relative tolerance on figures that are not counts.
pub const REL_TOL: f64 = 1e-9;

/// Simulates one model on `chip` with the default input: its report without the wall-clock
/// figures.
pub fn measure(chip: &Chip, model_path: &Path, input: &Path) -> Result<Report> {
    let model = loisim::load_model(model_path)?;
    let tokens = loisim::read_tokens(input, &model)?;
    let sim = Simulation::compile(model, chip, &loisim::CompileOptions::default())?;
    let mut report = sim
        .run(&Input::Tokens(tokens), &RunOptions::default(), None)?
        .report;
    report.sim = loisim::report::SimSpeed::default();
    Ok(report)
}

/// A report as stored in a baseline: the JSON of `loisim run --json` without `sim`.
pub fn baseline_json(report: &Report) -> Result<Value> {
    let mut v = serde_json::to_value(report)?;
    if let Some(o) = v.as_object_mut() {
        o.remove("sim");
    }
    Ok(v)
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

/// One compared quantity.
#[derive(Clone, Debug, PartialEq)]
pub struct Delta {
    /// Model.
    pub model: String,
    /// The report key (dotted path).
    pub what: String,
    /// Baseline (NaN for a name or a missing key).
    pub baseline: f64,
    /// Now (NaN for a name or a missing key).
    pub now: f64,
    /// Whether it is out of tolerance.
    pub regressed: bool,
}

/// Compares a report with its baseline, key by key.
pub fn compare(model: &str, base: &Value, now: &Value) -> Vec<Delta> {
    let mut v = Vec::new();
    walk(model, "", base, now, &mut v);
    v
}

fn walk(model: &str, at: &str, base: &Value, now: &Value, out: &mut Vec<Delta>) {
    let delta = |b: f64, n: f64, regressed: bool| Delta {
        model: model.to_string(),
        what: at.to_string(),
        baseline: b,
        now: n,
        regressed,
    };
    match (base, now) {
        (Value::Object(b), Value::Object(n)) => {
            for k in b.keys().chain(n.keys().filter(|k| !b.contains_key(*k))) {
                let path = if at.is_empty() {
                    k.clone()
                } else {
                    format!("{at}.{k}")
                };
                match (b.get(k), n.get(k)) {
                    (Some(x), Some(y)) => walk(model, &path, x, y, out),
                    _ => out.push(Delta {
                        what: format!(
                            "{path} (only in the {})",
                            if b.contains_key(k) { "baseline" } else { "run" }
                        ),
                        ..delta(f64::NAN, f64::NAN, true)
                    }),
                }
            }
        }
        (Value::Array(b), Value::Array(n)) if b.len() == n.len() => {
            for (i, (x, y)) in b.iter().zip(n).enumerate() {
                walk(model, &format!("{at}[{i}]"), x, y, out);
            }
        }
        (Value::Number(b), Value::Number(n)) => {
            if let (Some(x), Some(y)) = (b.as_u64(), n.as_u64()) {
                out.push(delta(x as f64, y as f64, x != y));
            } else {
                let (x, y) = (
                    b.as_f64().unwrap_or(f64::NAN),
                    n.as_f64().unwrap_or(f64::NAN),
                );
                // NaN on either side counts as moved.
                let within = (y - x).abs() <= REL_TOL * x.abs().max(1e-30);
                let off = !within;
                out.push(delta(x, y, off));
            }
        }
        _ => {
            if base != now {
                out.push(delta(f64::NAN, f64::NAN, true));
            }
        }
    }
}

/// The figures the table always shows (every other key is listed only when it moved).
pub const HEADLINE: [&str; 5] = [
    "cores_used",
    "fall_through.latency_us_per_token",
    "fall_through.energy_dynamic_uj_per_token",
    "pipeline.latency_ms_per_sample",
    "pipeline.energy_total_mj_per_sample",
];

/// The delta table: the headline figures of every model and every key that moved.
pub fn table(deltas: &[Delta]) -> String {
    let mut s = format!(
        "{:<18} {:<56} {:>16} {:>16} {:>10}\n",
        "model", "figure", "baseline", "now", "change"
    );
    for d in deltas
        .iter()
        .filter(|d| d.regressed || HEADLINE.contains(&d.what.as_str()))
    {
        let change = if d.baseline == 0.0 {
            0.0
        } else {
            100.0 * (d.now / d.baseline - 1.0)
        };
        s.push_str(&format!(
            "{:<18} {:<56} {:>16.6} {:>16.6} {:>+9.4}%{}\n",
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

/// The reference models, in the order the table lists them: the trained denoisers (the
/// default first), then the synthetic ones.
pub const MODELS: [&str; 8] = [
    "s5-sparse-1x-trained",
    "s5-dense-1x-trained",
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
        let now = baseline_json(&measure(
            chip,
            &root.join(format!("models/{m}.bin")),
            &input,
        )?)?;
        let text = serde_json::to_string_pretty(&now)? + "\n";
        std::fs::write(out.join(format!("{m}.json")), &text)?;
        let base_path = baselines.join(format!("{m}.json"));
        if bless {
            std::fs::create_dir_all(baselines)?;
            std::fs::write(&base_path, &text)?;
            continue;
        }
        let base: Value =
            serde_json::from_str(&std::fs::read_to_string(&base_path).with_context(|| {
                format!(
                    "no baseline {} (run `cargo xtask regress --bless`)",
                    base_path.display()
                )
            })?)
            .with_context(|| format!("{} is not a baseline", base_path.display()))?;
        if base["schema_version"] != now["schema_version"] {
            anyhow::bail!(
                "{} has report schema {}, this loisim writes {}: re-bless the baselines (`cargo xtask regress --bless`) in a commit that says why",
                base_path.display(),
                base["schema_version"],
                now["schema_version"]
            );
        }
        if base["chip"] != now["chip"] {
            anyhow::bail!(
                "{} was simulated on chip {}, this run is on {}: the figures are not comparable (bless baselines for {} with --bless)",
                base_path.display(),
                base["chip"],
                now["chip"],
                now["chip"]
            );
        }
        deltas.extend(compare(m, &base, &now));
    }
    Ok(deltas)
}
