//! Calibration of the `loihi2` cost model against the poster's four Loihi 2 measurements, inside
//! the plausible ranges of the chip description (`docs/cost-model.md` §8), and the
//! calibration-conditioned ranges of any run's figures.
//!
//! Four parameters are fitted, each mainly governing one figure:
//! - `io.*_message.latency_ns` (host message cost): the pipeline timestep, hence the pipeline
//!   latency per sample, which the host's injection of 257 inputs per token bounds;
//! - a common scale `k` on the neurocore operation latencies (priors from Loihi 1 figures and
//!   the Loihi 2 brief's speed-ups): the fall-through latency per token;
//! - `io.*_message.energy_pj`: the fall-through dynamic energy per token;
//! - `static.board_mw`: the pipeline total energy per sample.
//!
//! The default model runs once with its activity recorded; every trial of the fit is a replay
//! of that recording at the trial's costs ([`crate::replay`]). The solve alternates secant
//! steps on the two latency parameters with the exact linear solves of the two energy
//! parameters until nothing moves, each clamped into the plausible ranges ([`Bounds`]); a
//! parameter left on a bound names a poster figure the model cannot meet inside the ranges.

use crate::report::{CalibrationTargets, Poster};
use crate::{Error, Result};
use loisim_arch::{Chip, Sourced};
use loisim_model::Model;

/// The poster's measurements (defined once, in the library).
pub const TARGET_FT_LATENCY_US: f64 = Poster::FT_LATENCY_US_PER_TOKEN;
/// See [`TARGET_FT_LATENCY_US`].
pub const TARGET_FT_ENERGY_UJ: f64 = Poster::FT_ENERGY_DYNAMIC_UJ_PER_TOKEN;
/// See [`TARGET_FT_LATENCY_US`].
pub const TARGET_PL_LATENCY_MS: f64 = Poster::PL_LATENCY_MS_PER_SAMPLE;
/// See [`TARGET_FT_LATENCY_US`].
pub const TARGET_PL_ENERGY_MJ: f64 = Poster::PL_ENERGY_TOTAL_MJ_PER_SAMPLE;

/// The fitted parameters.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Fit {
    /// Host message latency, ns (input and output).
    pub t_io_ns: f64,
    /// Scale of the neurocore operation latencies.
    pub k_lat: f64,
    /// Host message energy, pJ.
    pub e_io_pj: f64,
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
    /// uJ per token, dynamic.
    pub ft_energy_uj: f64,
    /// Tokens per second.
    pub ft_throughput: f64,
    /// ms per sample.
    pub pl_latency_ms: f64,
    /// mJ per sample, total.
    pub pl_energy_mj: f64,
    /// Samples per second.
    pub pl_throughput: f64,
    /// Fall-through dynamic energy that is not host I/O, uJ per token.
    pub ft_core_uj: f64,
    /// Host messages per token.
    pub io_msgs_per_token: f64,
    /// Pipeline dynamic energy, mJ per sample.
    pub pl_dynamic_mj: f64,
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

/// The chip with a fit applied to the priors.
pub fn apply(prior: &Chip, fit: &Fit) -> Chip {
    let mut c = prior.clone();
    for op in CORE_OPS {
        let v = core_op(&mut c, op);
        v.value *= fit.k_lat;
    }
    c.io.input_message.latency_ns.value = fit.t_io_ns;
    c.io.output_message.latency_ns.value = fit.t_io_ns;
    c.io.input_message.energy_pj.value = fit.e_io_pj;
    c.io.output_message.energy_pj.value = fit.e_io_pj;
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
    figures(&r, chip)
}

/// The poster's figures of a report on `chip`.
fn figures(r: &crate::Report, chip: &Chip) -> Result<Figures> {
    let ft = r
        .fall_through
        .as_ref()
        .ok_or_else(|| Error::Invalid("the run has no fall-through result".into()))?;
    let pl = r
        .pipeline
        .as_ref()
        .ok_or_else(|| Error::Invalid("the run has no pipeline result".into()))?;
    let io_uj = ft.energy_total_breakdown_uj_per_token.io;
    let e_io_uj = chip.io.input_message.energy_pj.value / 1e6;
    Ok(Figures {
        targets: CalibrationTargets::poster(Some(ft), Some(pl)),
        ft_latency_us: ft.latency_us_per_token,
        ft_energy_uj: ft.energy_dynamic_uj_per_token,
        ft_throughput: ft.throughput_tokens_per_s,
        pl_latency_ms: pl.latency_ms_per_sample,
        pl_energy_mj: pl.energy_total_mj_per_sample,
        pl_throughput: pl.throughput_samples_per_s,
        ft_core_uj: ft.energy_dynamic_uj_per_token - io_uj,
        io_msgs_per_token: if e_io_uj > 0.0 { io_uj / e_io_uj } else { 0.0 },
        pl_dynamic_mj: pl.energy_dynamic_mj_per_sample,
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
        figures(&self.activity.replay(Some(chip))?, chip)
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
/// each fitted parameter stays inside it (`[lo, hi]` per parameter; the latency scale `k` keeps
/// every scaled neurocore latency inside its own range).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Bounds {
    /// Host message latency, ns.
    pub t_io_ns: [f64; 2],
    /// Latency scale.
    pub k_lat: [f64; 2],
    /// Host message energy, pJ.
    pub e_io_pj: [f64; 2],
    /// Board static power, mW.
    pub board_mw: [f64; 2],
}

fn range_of(p: &Sourced<f64>) -> [f64; 2] {
    p.range.unwrap_or([0.0, f64::INFINITY])
}

impl Bounds {
    /// The box of `prior`'s ranges.
    #[must_use]
    pub fn of(prior: &Chip) -> Self {
        let mut c = prior.clone();
        let mut k = [0f64, f64::INFINITY];
        for op in CORE_OPS {
            let p = core_op(&mut c, op);
            let [lo, hi] = range_of(p);
            if p.value > 0.0 {
                k[0] = k[0].max(lo / p.value);
                k[1] = k[1].min(hi / p.value);
            }
        }
        let both = |a: [f64; 2], b: [f64; 2]| [a[0].max(b[0]), a[1].min(b[1])];
        Self {
            t_io_ns: both(
                range_of(&prior.io.input_message.latency_ns),
                range_of(&prior.io.output_message.latency_ns),
            ),
            k_lat: k,
            e_io_pj: both(
                range_of(&prior.io.input_message.energy_pj),
                range_of(&prior.io.output_message.energy_pj),
            ),
            board_mw: range_of(&prior.static_power.board_mw),
        }
    }

    /// `fit` moved into the box.
    #[must_use]
    pub fn clamp(&self, fit: &Fit) -> Fit {
        let c = |v: f64, [lo, hi]: [f64; 2]| v.max(lo).min(hi);
        Fit {
            t_io_ns: c(fit.t_io_ns, self.t_io_ns),
            k_lat: c(fit.k_lat, self.k_lat),
            e_io_pj: c(fit.e_io_pj, self.e_io_pj),
            board_mw: c(fit.board_mw, self.board_mw),
        }
    }

    /// The fitted parameters that sit on a bound of the box (a figure the fit could not meet
    /// inside the ranges), by name.
    #[must_use]
    pub fn at_bounds(&self, fit: &Fit) -> Vec<&'static str> {
        let on = |v: f64, [lo, hi]: [f64; 2]| v <= lo * (1.0 + 1e-9) || v >= hi * (1.0 - 1e-9);
        [
            ("io.*_message.latency_ns", on(fit.t_io_ns, self.t_io_ns)),
            ("neurocore latency scale", on(fit.k_lat, self.k_lat)),
            ("io.*_message.energy_pj", on(fit.e_io_pj, self.e_io_pj)),
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
        t_io_ns: prior.io.input_message.latency_ns.value,
        k_lat: 1.0,
        e_io_pj: prior.io.input_message.energy_pj.value.max(1.0),
        board_mw: prior.static_power.board_mw.value,
    };
    for _ in 0..8 {
        let before = fit;
        fit.t_io_ns = secant(fit.t_io_ns, TARGET_PL_LATENCY_MS, |t| {
            Ok(measure(&apply(prior, &Fit { t_io_ns: t, ..fit }))?.pl_latency_ms)
        })?;
        fit = bounds.clamp(&fit);
        fit.k_lat = secant(fit.k_lat, TARGET_FT_LATENCY_US, |k| {
            Ok(measure(&apply(prior, &Fit { k_lat: k, ..fit }))?.ft_latency_us)
        })?;
        fit = bounds.clamp(&fit);
        // Energies are linear in the two energy parameters: solve exactly.
        let f = measure(&apply(prior, &fit))?;
        fit.e_io_pj = (TARGET_FT_ENERGY_UJ - f.ft_core_uj) * 1e6 / f.io_msgs_per_token.max(1e-9);
        fit = bounds.clamp(&fit);
        let f = measure(&apply(prior, &fit))?;
        let static_mj = TARGET_PL_ENERGY_MJ - f.pl_dynamic_mj;
        let chips = f64::from(prior.n_chips());
        fit.board_mw = static_mj * 1e-3 / (f.pl_latency_ms * 1e-3) * 1e3
            - prior.static_power.chip_mw.value * chips;
        fit = bounds.clamp(&fit);
        let moved = (fit.t_io_ns / before.t_io_ns - 1.0).abs()
            + (fit.k_lat / before.k_lat - 1.0).abs()
            + (fit.e_io_pj / before.e_io_pj - 1.0).abs()
            + (fit.board_mw / before.board_mw - 1.0).abs();
        if moved < 1e-6 {
            break;
        }
    }
    let figs = measure(&apply(prior, &fit))?;
    Ok((fit, figs))
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
pub const RANGE_SAMPLES: usize = 16;
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

/// The fields the poster fit sets (drawn parameters leave them to the refit).
fn fitted_field(f: &str) -> bool {
    f.starts_with("io.input_message.")
        || f.starts_with("io.output_message.")
        || f == "static.board_mw"
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
