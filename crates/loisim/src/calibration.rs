//! Calibration of the `loihi2` cost model against the poster's four Loihi 2 measurements, inside
//! the plausible ranges of the chip description (`docs/cost-model.md` §8), and the
//! calibration-conditioned ranges of any run's figures.
//!
//! The poster's energies are read as reading B of `docs/cost-model.md` §8.3: fall-through
//! energy is total energy on the chip rails, pipeline energy total energy of the whole board,
//! and the inputs are sequenced on chip. Four parameters are fitted, each mainly governing one
//! figure; every other parameter keeps its sourced prior:
//! - `io.sequencer_message.latency_ns` (the on-chip sequencer's time per input message): the
//!   pipeline timestep, which the sequencing of 257 inputs per token bounds, hence the
//!   pipeline latency per sample;
//! - a common scale `k` on the neurocore operation latencies (priors from Loihi 1 figures and
//!   the Loihi 2 brief's speed-ups): the fall-through latency per token;
//! - a common scale `s` on the chip-rail static powers (`static.vdd_mw`, `static.vdd_m_mw`,
//!   `static.vdd_io_mw`; their split is a prior): the fall-through chip-rail energy per token;
//! - `static.board_mw`: the pipeline whole-board energy per sample.
//!
//! The default model runs once with its activity recorded; every trial of the fit is a replay
//! of that recording at the trial's costs ([`crate::replay`]). The solve alternates secant
//! steps on the two latency parameters with the exact linear solves of the two energy
//! parameters until nothing moves, each clamped into the plausible ranges ([`Bounds`]); a
//! parameter left on a bound names a poster figure the model cannot meet inside the ranges,
//! and the figure keeps its residual.

use crate::report::{CalibrationTargets, Poster};
use crate::{Error, Result};
use loisim_arch::{Chip, Sourced};
use loisim_model::Model;

/// The poster's measurements (defined once, in the library).
pub const TARGET_FT_LATENCY_US: f64 = Poster::FT_LATENCY_US_PER_TOKEN;
/// See [`TARGET_FT_LATENCY_US`] (total energy on the chip rails).
pub const TARGET_FT_ENERGY_UJ: f64 = Poster::FT_ENERGY_TOTAL_CHIP_UJ_PER_TOKEN;
/// See [`TARGET_FT_LATENCY_US`].
pub const TARGET_PL_LATENCY_MS: f64 = Poster::PL_LATENCY_MS_PER_SAMPLE;
/// See [`TARGET_FT_LATENCY_US`] (total energy of the whole board).
pub const TARGET_PL_ENERGY_MJ: f64 = Poster::PL_ENERGY_TOTAL_BOARD_MJ_PER_SAMPLE;

/// The fitted parameters.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Fit {
    /// On-chip sequencer time per input message, ns.
    pub t_seq_ns: f64,
    /// Scale of the neurocore operation latencies.
    pub k_lat: f64,
    /// Scale of the chip-rail static powers.
    pub s_static: f64,
    /// Board static power, mW.
    pub board_mw: f64,
}

/// The simulated figures.
#[derive(Clone, Debug, PartialEq)]
pub struct Figures {
    /// The poster's figures beside loisim's, as `loisim run` reports them.
    pub targets: CalibrationTargets,
    /// us per token.
    pub ft_latency_us: f64,
    /// uJ per token, total on the chip rails.
    pub ft_energy_uj: f64,
    /// uJ per token, dynamic on the chip rails.
    pub ft_dynamic_uj: f64,
    /// Tokens per second.
    pub ft_throughput: f64,
    /// ms per sample.
    pub pl_latency_ms: f64,
    /// mJ per sample, total of the whole board.
    pub pl_energy_mj: f64,
    /// Samples per second.
    pub pl_throughput: f64,
}

/// The neurocore latencies the scale applies to.
pub const CORE_OPS: [&str; 7] = [
    "message_in",
    "synmem_word_read",
    "synop",
    "neuron_update",
    "neuron_instruction",
    "neuron_idle",
    "spike_out",
];

/// The latency of the neurocore operation `name` (one of [`CORE_OPS`]).
pub fn core_op<'a>(chip: &'a mut Chip, name: &str) -> &'a mut Sourced<f64> {
    let o = &mut chip.ops;
    match name {
        "message_in" => &mut o.message_in.latency_ns,
        "synmem_word_read" => &mut o.synmem_word_read.latency_ns,
        "synop" => &mut o.synop.latency_ns,
        "neuron_update" => &mut o.neuron_update.latency_ns,
        "neuron_instruction" => &mut o.neuron_instruction.latency_ns,
        "neuron_idle" => &mut o.neuron_idle.latency_ns,
        _ => &mut o.spike_out.latency_ns,
    }
}

/// The fitted fields of `chip` (the four fitted parameters: the sequencer latency, the
/// neurocore latencies the scale moves, the chip-rail static powers, the board static power)
/// whose value sits on a bound of its plausible range, as `field (value unit, bound of
/// [lo, hi])`: the poster figure each governs was not met inside the ranges.
#[must_use]
pub fn fitted_on_bound(chip: &Chip) -> Vec<String> {
    let fitted = |f: &str| {
        f == "io.sequencer_message.latency_ns"
            || f == "static.board_mw"
            || CHIP_STATICS.contains(&f)
            || CORE_OPS
                .iter()
                .any(|op| f == format!("ops.{op}.latency_ns"))
    };
    chip.cost_params()
        .into_iter()
        .filter(|(f, _, _)| fitted(f))
        .filter_map(|(f, p, unit)| {
            let [lo, hi] = p.range?;
            let v = p.value;
            let side = if v >= hi * (1.0 - 1e-9) {
                "top"
            } else if v <= lo * (1.0 + 1e-9) {
                "bottom"
            } else {
                return None;
            };
            Some(format!("{f} ({v} {unit}, the {side} of [{lo}, {hi}])"))
        })
        .collect()
}

/// The chip-rail static powers the static scale applies to.
pub const CHIP_STATICS: [&str; 3] = ["static.vdd_mw", "static.vdd_m_mw", "static.vdd_io_mw"];

/// The chip with a fit applied to the priors.
pub fn apply(prior: &Chip, fit: &Fit) -> Chip {
    let mut c = prior.clone();
    for op in CORE_OPS {
        let v = core_op(&mut c, op);
        v.value *= fit.k_lat;
    }
    for f in CHIP_STATICS {
        if let Some(v) = c.cost_param_mut(f) {
            v.value *= fit.s_static;
        }
    }
    c.io.sequencer_message.latency_ns.value = fit.t_seq_ns;
    c.static_power.board_mw.value = fit.board_mw;
    c
}

/// Simulates the default model on a chip and returns the poster's figures (from the run's
/// [`crate::Report`], the figures `loisim run` prints).
pub fn measure(chip: &Chip, model: &Model, tokens: &[Vec<i32>]) -> Result<Figures> {
    let sim = crate::Simulation::compile(model.clone(), chip, &crate::CompileOptions::default())
        .map_err(|e| Error::Invalid(format!("compiling the default model: {e}")))?;
    let r = sim
        .run(
            &crate::Input::Tokens(tokens.to_vec()),
            &crate::RunOptions::default(),
            None,
        )?
        .report;
    figures(&r)
}

/// The poster's figures of a report.
fn figures(r: &crate::Report) -> Result<Figures> {
    let ft = r
        .fall_through
        .as_ref()
        .ok_or_else(|| Error::Invalid("the run has no fall-through result".into()))?;
    let pl = r
        .pipeline
        .as_ref()
        .ok_or_else(|| Error::Invalid("the run has no pipeline result".into()))?;
    Ok(Figures {
        targets: CalibrationTargets::poster(Some(ft), Some(pl)),
        ft_latency_us: ft.latency_us_per_token,
        ft_energy_uj: ft.energy_total_uj_per_token,
        ft_dynamic_uj: ft.energy_dynamic_uj_per_token,
        ft_throughput: ft.throughput_tokens_per_s,
        pl_latency_ms: pl.latency_ms_per_sample,
        pl_energy_mj: pl.energy_by_domain_mj_per_sample.board.total,
        pl_throughput: pl.throughput_samples_per_s,
    })
}

/// The default model's run recorded once (an activity file), priced again for every trial of
/// the fit: every parameter the calibration moves is a cost parameter, so a replay gives the
/// full run's figures (`crate::replay`).
#[derive(Debug)]
pub struct Recorded {
    _dir: tempfile::TempDir,
    activity: crate::replay::Activity,
}

impl Recorded {
    /// Runs the model once on `chip` and records its activity.
    ///
    /// # Errors
    /// The model does not compile or run, or the file cannot be written.
    pub fn new(chip: &Chip, model: &Model, tokens: &[Vec<i32>]) -> Result<Self> {
        let dir = tempfile::tempdir().map_err(|e| {
            Error::io(
                "cannot create a temporary directory in",
                std::env::temp_dir(),
                e,
            )
        })?;
        let path = dir.path().join("poster.act");
        let sim =
            crate::Simulation::compile(model.clone(), chip, &crate::CompileOptions::default())
                .map_err(|e| Error::Invalid(format!("compiling the default model: {e}")))?;
        sim.run(
            &crate::Input::Tokens(tokens.to_vec()),
            &crate::RunOptions {
                activity: Some(path.clone()),
                ..crate::RunOptions::default()
            },
            None,
        )?;
        Ok(Self {
            activity: crate::replay::Activity::open(&path)?,
            _dir: dir,
        })
    }

    /// The poster's figures on `chip` (a chip of the recording chip's structure).
    ///
    /// # Errors
    /// The chip's structure differs.
    pub fn measure(&self, chip: &Chip) -> Result<Figures> {
        figures(&self.activity.replay(Some(chip))?)
    }
}

/// One secant solve of `f(x) = target` starting from `x0`, re-measuring each step.
fn secant(x0: f64, target: f64, mut f: impl FnMut(f64) -> Result<f64>) -> Result<f64> {
    let (mut a, mut fa) = (x0, f(x0)? - target);
    let mut b = x0 * (1.0 + if fa > 0.0 { -0.2 } else { 0.2 });
    for _ in 0..30 {
        let fb = f(b)? - target;
        if fb.abs() < 1e-6 * target.abs() || (fb - fa).abs() < 1e-15 {
            return Ok(b);
        }
        let c = (b - (fb * (b - a) / (fb - fa))).max(x0 * 1e-3);
        (a, fa, b) = (b, fb, c);
    }
    Ok(b)
}

/// The plausible box of the four fitted parameters, from the ranges of the chip description:
/// each fitted parameter stays inside it (`[lo, hi]` per parameter; each scale keeps every
/// parameter it scales inside its own range).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Bounds {
    /// Sequencer message latency, ns.
    pub t_seq_ns: [f64; 2],
    /// Latency scale.
    pub k_lat: [f64; 2],
    /// Chip-rail static scale.
    pub s_static: [f64; 2],
    /// Board static power, mW.
    pub board_mw: [f64; 2],
}

fn range_of(p: &Sourced<f64>) -> [f64; 2] {
    p.range.unwrap_or([0.0, f64::INFINITY])
}

/// The scales that keep `p` inside its range, intersected with `k`.
fn scale_box(k: &mut [f64; 2], p: &Sourced<f64>) {
    let [lo, hi] = range_of(p);
    if p.value > 0.0 {
        k[0] = k[0].max(lo / p.value);
        k[1] = k[1].min(hi / p.value);
    }
}

impl Bounds {
    /// The box of `prior`'s ranges.
    #[must_use]
    pub fn of(prior: &Chip) -> Self {
        let mut c = prior.clone();
        let mut k = [0f64, f64::INFINITY];
        for op in CORE_OPS {
            scale_box(&mut k, core_op(&mut c, op));
        }
        let mut st = [0f64, f64::INFINITY];
        for f in CHIP_STATICS {
            if let Some(p) = c.cost_param_mut(f) {
                scale_box(&mut st, p);
            }
        }
        Self {
            t_seq_ns: range_of(&prior.io.sequencer_message.latency_ns),
            k_lat: k,
            s_static: st,
            board_mw: range_of(&prior.static_power.board_mw),
        }
    }

    /// `fit` moved into the box.
    #[must_use]
    pub fn clamp(&self, fit: &Fit) -> Fit {
        let c = |v: f64, [lo, hi]: [f64; 2]| v.max(lo).min(hi);
        Fit {
            t_seq_ns: c(fit.t_seq_ns, self.t_seq_ns),
            k_lat: c(fit.k_lat, self.k_lat),
            s_static: c(fit.s_static, self.s_static),
            board_mw: c(fit.board_mw, self.board_mw),
        }
    }

    /// The fitted parameters that sit on a bound of the box (a figure the fit could not meet
    /// inside the ranges), by name.
    #[must_use]
    pub fn at_bounds(&self, fit: &Fit) -> Vec<&'static str> {
        let on = |v: f64, [lo, hi]: [f64; 2]| v <= lo * (1.0 + 1e-9) || v >= hi * (1.0 - 1e-9);
        [
            (
                "io.sequencer_message.latency_ns",
                on(fit.t_seq_ns, self.t_seq_ns),
            ),
            ("neurocore latency scale", on(fit.k_lat, self.k_lat)),
            ("chip-rail static scale", on(fit.s_static, self.s_static)),
            ("static.board_mw", on(fit.board_mw, self.board_mw)),
        ]
        .into_iter()
        .filter_map(|(n, b)| b.then_some(n))
        .collect()
    }
}

/// Fits the four parameters on a recorded run of the default model, inside the plausible box of
/// `prior`'s ranges ([`Bounds`]): every trial is a replay, each solve is clamped into the box,
/// so where a poster figure cannot be met inside the ranges the parameter stays on its bound and
/// the figure keeps a residual. Returns the fit and the figures (the replay's) it gives.
///
/// # Errors
/// A replay fails.
pub fn fit_on(prior: &Chip, rec: &Recorded) -> Result<(Fit, Figures)> {
    let bounds = Bounds::of(prior);
    let measure = |chip: &Chip| rec.measure(chip);
    let mut fit = Fit {
        t_seq_ns: prior.io.sequencer_message.latency_ns.value,
        k_lat: 1.0,
        s_static: 1.0,
        board_mw: prior.static_power.board_mw.value,
    };
    for _ in 0..8 {
        let before = fit;
        fit.t_seq_ns = secant(fit.t_seq_ns, TARGET_PL_LATENCY_MS, |t| {
            Ok(measure(&apply(prior, &Fit { t_seq_ns: t, ..fit }))?.pl_latency_ms)
        })?;
        fit = bounds.clamp(&fit);
        fit.k_lat = secant(fit.k_lat, TARGET_FT_LATENCY_US, |k| {
            Ok(measure(&apply(prior, &Fit { k_lat: k, ..fit }))?.ft_latency_us)
        })?;
        fit = bounds.clamp(&fit);
        // Energies are linear in the two static parameters: solve exactly.
        let f = measure(&apply(prior, &fit))?;
        let static_uj = f.ft_energy_uj - f.ft_dynamic_uj;
        if static_uj > 0.0 {
            fit.s_static *= (TARGET_FT_ENERGY_UJ - f.ft_dynamic_uj) / static_uj;
        }
        fit = bounds.clamp(&fit);
        let f = measure(&apply(prior, &fit))?;
        // mW x ms = uJ: the board's share of the pipeline energy moves by board_mw x time.
        let share = board_share(prior);
        if f.pl_latency_ms > 0.0 && share > 0.0 {
            fit.board_mw +=
                (TARGET_PL_ENERGY_MJ - f.pl_energy_mj) * 1e3 / (f.pl_latency_ms * share);
        }
        fit = bounds.clamp(&fit);
        let moved = (fit.t_seq_ns / before.t_seq_ns - 1.0).abs()
            + (fit.k_lat / before.k_lat - 1.0).abs()
            + (fit.s_static / before.s_static - 1.0).abs()
            + (fit.board_mw / before.board_mw - 1.0).abs();
        if moved < 1e-6 {
            break;
        }
    }
    let figs = measure(&apply(prior, &fit))?;
    Ok((fit, figs))
}

/// The share of the board's static power a run of the default model on `chip` is charged (1 on
/// a single-chip board or under the whole-board rule).
fn board_share(chip: &Chip) -> f64 {
    match chip.static_power.rule.value {
        loisim_arch::StaticRule::WholeBoard => 1.0,
        loisim_arch::StaticRule::UsedChips => 1.0 / f64::from(chip.n_chips().max(1)),
    }
}

/// Fits the four parameters inside the plausible box of `prior`'s ranges ([`Bounds`]): the
/// model runs once recorded, every trial is a replay ([`fit_on`]), and the fitted chip's
/// figures come from a full run.
///
/// # Errors
/// The model does not compile or run.
pub fn fit(prior: &Chip, model: &Model, tokens: &[Vec<i32>]) -> Result<(Fit, Figures)> {
    let rec = Recorded::new(prior, model, tokens)?;
    let (fit, _) = fit_on(prior, &rec)?;
    // The fitted chip's figures from a full run (the trials were replays of one recording).
    let figs = self::measure(&apply(prior, &fit), model, tokens)?;
    Ok((fit, figs))
}

/// Parameter sets drawn for [`conditioned_ranges`].
pub const RANGE_SAMPLES: usize = 48;
/// The fixed seed of the draws.
pub const RANGE_SEED: u64 = 0x6c6f_6973_696d_0001;
/// How close to the poster's four figures a drawn parameter set must stay (relative).
pub const POSTER_TOLERANCE: f64 = 0.10;

/// The calibration-conditioned ranges of a run's headline figures.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct ConditionedRanges {
    /// Parameter sets drawn.
    pub samples_drawn: usize,
    /// Those that reproduce the poster's four figures within `poster_tolerance` once the four
    /// fitted parameters are refitted inside their ranges.
    pub samples_accepted: usize,
    /// The tolerance on the poster's figures.
    pub poster_tolerance: f64,
    /// The seed of the draws.
    pub seed: u64,
    /// `<figure>_range: [lo, hi]` for each headline figure (report keys with `_range`), over the
    /// run's own value and every accepted set.
    pub ranges: std::collections::BTreeMap<String, [f64; 2]>,
}

/// SplitMix64: a small deterministic generator for the draws.
fn splitmix(state: &mut u64) -> u64 {
    *state = state.wrapping_add(0x9e37_79b9_7f4a_7c15);
    let mut z = *state;
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// The fields the poster fit sets outright (drawn parameters leave them to the refit; the
/// scaled ones, neurocore latencies and chip-rail static powers, are drawn and rescaled).
fn fitted_field(f: &str) -> bool {
    f == "io.sequencer_message.latency_ns" || f == "static.board_mw"
}

/// The ranges of `run`'s headline figures ([`crate::sensitivity::headline`]) over the cost
/// parameters the poster leaves open: `samples` parameter sets are drawn (seeded), every cost
/// parameter of the loihi2 priors that the fit does not set drawn log-uniformly inside its
/// plausible range (the neurocore latencies' priors included, the fit rescaling them), the four
/// fitted parameters refitted to the poster by replay inside their ranges ([`fit_on`]); a set
/// is kept when the poster's four figures come within [`POSTER_TOLERANCE`]; its cost
/// parameters are laid over `chip` (which must have the recording chip's structure) and `run`
/// is replayed on it.
///
/// # Errors
/// The default model or input cannot be read, or a replay fails.
pub fn conditioned_ranges(
    run: &crate::replay::Activity,
    chip: &Chip,
    samples: usize,
    seed: u64,
) -> Result<ConditionedRanges> {
    use crate::sensitivity::headline;
    let prior = Chip::loihi2_priors()?;
    let model = crate::load_model(&crate::paths::shipped(crate::paths::DEFAULT_MODEL)?)?;
    let tokens = crate::read_tokens(&crate::paths::shipped(crate::paths::DEFAULT_INPUT)?, &model)?;
    let poster = Recorded::new(&prior, &model, &tokens)?;
    let mut ranges: std::collections::BTreeMap<String, [f64; 2]> =
        headline(&run.replay(Some(chip))?)
            .into_iter()
            .map(|(k, v)| (format!("{k}_range"), [v, v]))
            .collect();
    let mut state = seed;
    let mut accepted = 0;
    for _ in 0..samples {
        let mut drawn = prior.clone();
        let names: Vec<(String, [f64; 2])> = prior
            .cost_params()
            .into_iter()
            .filter(|(f, _, _)| !fitted_field(f))
            .filter_map(|(f, p, _)| Some((f, p.range?)))
            .collect();
        for (f, [lo, hi]) in names {
            let u = (splitmix(&mut state) >> 11) as f64 / (1u64 << 53) as f64;
            let v = if lo > 0.0 {
                (lo.ln() + u * (hi.ln() - lo.ln())).exp()
            } else {
                lo + u * (hi - lo)
            };
            if let Some(p) = drawn.cost_param_mut(&f) {
                p.value = v;
            }
        }
        let (fit, figs) = fit_on(&drawn, &poster)?;
        let ok = figs
            .targets
            .rows
            .iter()
            .filter(|r| r.fitted)
            .all(|r| r.residual_pct.abs() <= 100.0 * POSTER_TOLERANCE);
        if !ok {
            continue;
        }
        accepted += 1;
        let fitted = apply(&drawn, &fit);
        let mut c = chip.clone();
        for (f, p, _) in fitted.cost_params() {
            let v = p.value;
            if let Some(q) = c.cost_param_mut(&f) {
                q.value = v;
            }
        }
        for (k, v) in headline(&run.replay(Some(&c))?) {
            if let Some(r) = ranges.get_mut(&format!("{k}_range")) {
                r[0] = r[0].min(v);
                r[1] = r[1].max(v);
            }
        }
    }
    Ok(ConditionedRanges {
        samples_drawn: samples,
        samples_accepted: accepted,
        poster_tolerance: POSTER_TOLERANCE,
        seed,
        ranges,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_fitted_parameter_on_a_bound_is_named_with_its_side() {
        let mut chip = Chip::loihi2_priors().expect("priors");
        assert!(fitted_on_bound(&chip).is_empty(), "the priors sit inside");
        let [lo, hi] = chip.static_power.board_mw.range.expect("range");
        chip.static_power.board_mw.value = hi;
        chip.io.sequencer_message.latency_ns.value =
            chip.io.sequencer_message.latency_ns.range.expect("range")[0];
        let on = fitted_on_bound(&chip);
        assert_eq!(on.len(), 2, "{on:?}");
        assert!(
            on.iter()
                .any(|s| s.starts_with("static.board_mw") && s.contains("the top of")),
            "{on:?}"
        );
        assert!(
            on.iter()
                .any(|s| s.starts_with("io.sequencer_message.latency_ns")
                    && s.contains("the bottom of")),
            "{on:?}"
        );
        // An unfitted parameter on its bound is not a calibration shortfall.
        chip.static_power.board_mw.value = lo + 1.0;
        chip.ops.synop.energy_pj.value = chip.ops.synop.energy_pj.range.expect("range")[1];
        assert_eq!(fitted_on_bound(&chip).len(), 1);
    }
}
