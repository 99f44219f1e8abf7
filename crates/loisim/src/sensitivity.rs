//! The sensitivity of a run's headline figures to every cost parameter: elasticities by central
//! differences of +-1 % in log space at the chip's values, each a replay of the run's recorded
//! activity ([`crate::replay`]), so the functional run happens once.
//!
//! The elasticity of figure `f` to parameter `p` is `d ln f / d ln p`, estimated as
//! `(ln f(p x 1.01) - ln f(p / 1.01)) / (2 ln 1.01)`: 1 means the figure moves in proportion
//! to the parameter, 0 that it does not depend on it, a negative value that it falls as the
//! parameter rises (bandwidths).

use crate::replay::Activity;
use crate::{Report, Result};
use loisim_arch::Chip;
use serde::{Deserialize, Serialize};

/// The relative step of the central differences (1 % in log space).
pub const STEP: f64 = 1.01;

/// Elasticities of the headline figures.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Sensitivity {
    /// The factor each parameter is multiplied and divided by.
    pub step: f64,
    /// The figures, as report keys (`fall_through.latency_us_per_token`, ...).
    pub figures: Vec<String>,
    /// One row per cost parameter.
    pub parameters: Vec<SensitivityRow>,
}

/// The elasticities of every figure to one parameter.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SensitivityRow {
    /// The parameter (a path of `Chip::cost_params`).
    pub parameter: String,
    /// Its value.
    pub value: f64,
    /// `d ln figure / d ln parameter`, in the order of `figures`.
    pub elasticities: Vec<f64>,
}

/// The headline figures of a report, by key.
#[must_use]
pub fn headline(r: &Report) -> Vec<(String, f64)> {
    let mut v = Vec::new();
    if let Some(f) = &r.fall_through {
        v.push((
            "fall_through.latency_us_per_token".into(),
            f.latency_us_per_token,
        ));
        v.push((
            "fall_through.energy_dynamic_uj_per_token".into(),
            f.energy_dynamic_uj_per_token,
        ));
        v.push((
            "fall_through.energy_total_uj_per_token".into(),
            f.energy_total_uj_per_token,
        ));
        v.push((
            "fall_through.energy_by_domain_uj_per_token.board.total".into(),
            f.energy_by_domain_uj_per_token.board.total,
        ));
    }
    if let Some(p) = &r.pipeline {
        v.push(("pipeline.timestep_us_mean".into(), p.timestep_us_mean));
        v.push((
            "pipeline.latency_ms_per_sample".into(),
            p.latency_ms_per_sample,
        ));
        v.push((
            "pipeline.energy_dynamic_mj_per_sample".into(),
            p.energy_dynamic_mj_per_sample,
        ));
        v.push((
            "pipeline.energy_total_mj_per_sample".into(),
            p.energy_total_mj_per_sample,
        ));
        v.push((
            "pipeline.energy_by_domain_mj_per_sample.board.total".into(),
            p.energy_by_domain_mj_per_sample.board.total,
        ));
        if let Some(e) = p.energy_dynamic_uj_per_step {
            v.push(("pipeline.energy_dynamic_uj_per_step".into(), e));
        }
        if let Some(e) = p.energy_total_uj_per_step {
            v.push(("pipeline.energy_total_uj_per_step".into(), e));
        }
    }
    v
}

fn elasticity(up: f64, down: f64) -> f64 {
    if up == down {
        return 0.0;
    }
    if up > 0.0 && down > 0.0 {
        (up.ln() - down.ln()) / (2.0 * STEP.ln())
    } else {
        f64::NAN
    }
}

/// The elasticities of `activity`'s headline figures to every cost parameter of `chip` (which
/// must have the recording chip's structure).
///
/// # Errors
/// A replay fails (a chip of another structure, a damaged file).
pub fn sensitivity(activity: &Activity, chip: &Chip) -> Result<Sensitivity> {
    let base = headline(&activity.replay(Some(chip))?);
    let figures: Vec<String> = base.iter().map(|(k, _)| k.clone()).collect();
    let names: Vec<(String, f64)> = chip
        .cost_params()
        .into_iter()
        .map(|(f, p, _)| (f, p.value))
        .collect();
    let mut parameters = Vec::with_capacity(names.len());
    for (name, value) in names {
        let at = |k: f64| -> Result<Vec<f64>> {
            let mut c = chip.clone();
            if let Some(p) = c.cost_param_mut(&name) {
                p.value *= k;
            }
            Ok(headline(&activity.replay(Some(&c))?)
                .into_iter()
                .map(|(_, v)| v)
                .collect())
        };
        let (up, down) = if value == 0.0 {
            (vec![0.0; figures.len()], vec![0.0; figures.len()])
        } else {
            (at(STEP)?, at(1.0 / STEP)?)
        };
        parameters.push(SensitivityRow {
            parameter: name,
            value,
            elasticities: up
                .iter()
                .zip(&down)
                .map(|(&u, &d)| elasticity(u, d))
                .collect(),
        });
    }
    Ok(Sensitivity {
        step: STEP,
        figures,
        parameters,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn elasticities_of_power_laws_are_their_exponents() {
        let f = |p: f64, a: f64| 3.0 * p.powf(a);
        for a in [-1.0, 0.0, 0.5, 1.0, 2.0] {
            let e = elasticity(f(2.0 * STEP, a), f(2.0 / STEP, a));
            assert!((e - a).abs() < 1e-9, "{a}: {e}");
        }
        assert!(elasticity(0.0, 1.0).is_nan());
    }
}
