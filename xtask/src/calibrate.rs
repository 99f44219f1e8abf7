//! Calibration of the `loihi2` cost model against the poster's four Loihi 2 measurements.
//!
//! Four parameters are fitted, each mainly governing one figure (docs/cost-model.md explains
//! the reading of every figure):
//! - `io.*_message.latency_ns` (host message cost): the pipeline timestep, hence the pipeline
//!   latency per sample, which the host's injection of 257 inputs per token bounds;
//! - a common scale `k` on the neurocore operation latencies (priors from Loihi 1 figures and
//!   the Loihi 2 brief's speed-ups): the fall-through latency per token;
//! - `io.*_message.energy_pj`: the fall-through dynamic energy per token;
//! - `static.board_mw`: the pipeline total energy per sample.
//!
//! The default model runs once with its activity recorded; every trial of the fit is a replay
//! of that recording at the trial's costs (`loisim::replay`), and the fitted chip's figures come
//! from a full run.
//!
//! The solve alternates secant steps on the two latency parameters with the exact linear
//! solves of the two energy parameters until nothing moves, each clamped into the plausible
//! ranges of the chip description ([`Bounds`]); a parameter left on a bound names a poster
//! figure the model cannot meet inside the ranges.

use anyhow::{Context, Result};
use loisim::report::{CalibrationTargets, Poster};
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
const CORE_OPS: [&str; 7] = [
    "message_in",
    "synmem_word_read",
    "synop",
    "neuron_update",
    "neuron_instruction",
    "neuron_idle",
    "spike_out",
];

fn core_op<'a>(chip: &'a mut Chip, name: &str) -> &'a mut Sourced<f64> {
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
/// [`loisim::Report`], the figures `loisim run` prints).
pub fn measure(chip: &Chip, model: &Model, tokens: &[Vec<i32>]) -> Result<Figures> {
    let sim = loisim::Simulation::compile(model.clone(), chip, &loisim::CompileOptions::default())
        .context("compiling the default model")?;
    let r = sim
        .run(
            &loisim::Input::Tokens(tokens.to_vec()),
            &loisim::RunOptions::default(),
            None,
        )?
        .report;
    figures(&r, chip)
}

/// The poster's figures of a report on `chip`.
fn figures(r: &loisim::Report, chip: &Chip) -> Result<Figures> {
    let ft = r.fall_through.as_ref().context("no fall-through result")?;
    let pl = r.pipeline.as_ref().context("no pipeline result")?;
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
/// full run's figures (`loisim::replay`).
#[derive(Debug)]
pub struct Recorded {
    _dir: tempfile::TempDir,
    activity: loisim::replay::Activity,
}

impl Recorded {
    /// Runs the model once on `chip` and records its activity.
    ///
    /// # Errors
    /// The model does not compile or run, or the file cannot be written.
    pub fn new(chip: &Chip, model: &Model, tokens: &[Vec<i32>]) -> Result<Self> {
        let dir = tempfile::tempdir()?;
        let path = dir.path().join("poster.act");
        let sim =
            loisim::Simulation::compile(model.clone(), chip, &loisim::CompileOptions::default())
                .context("compiling the default model")?;
        sim.run(
            &loisim::Input::Tokens(tokens.to_vec()),
            &loisim::RunOptions {
                activity: Some(path.clone()),
                ..loisim::RunOptions::default()
            },
            None,
        )?;
        Ok(Self {
            activity: loisim::replay::Activity::open(&path)?,
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

/// Fits the four parameters inside the plausible box of `prior`'s ranges ([`Bounds`]): each
/// solve is clamped into the box, so where a poster figure cannot be met inside the ranges the
/// parameter stays on its bound and the figure keeps a residual. Returns the fit and the
/// figures it gives.
pub fn fit(prior: &Chip, model: &Model, tokens: &[Vec<i32>]) -> Result<(Fit, Figures)> {
    let bounds = Bounds::of(prior);
    let rec = Recorded::new(prior, model, tokens)?;
    let measure = |chip: &Chip, _: &Model, _: &[Vec<i32>]| rec.measure(chip);
    let mut fit = Fit {
        t_io_ns: prior.io.input_message.latency_ns.value,
        k_lat: 1.0,
        e_io_pj: prior.io.input_message.energy_pj.value.max(1.0),
        board_mw: prior.static_power.board_mw.value,
    };
    for _ in 0..8 {
        let before = fit;
        fit.t_io_ns = secant(fit.t_io_ns, TARGET_PL_LATENCY_MS, |t| {
            Ok(measure(&apply(prior, &Fit { t_io_ns: t, ..fit }), model, tokens)?.pl_latency_ms)
        })?;
        fit = bounds.clamp(&fit);
        fit.k_lat = secant(fit.k_lat, TARGET_FT_LATENCY_US, |k| {
            Ok(measure(&apply(prior, &Fit { k_lat: k, ..fit }), model, tokens)?.ft_latency_us)
        })?;
        fit = bounds.clamp(&fit);
        // Energies are linear in the two energy parameters: solve exactly.
        let f = measure(&apply(prior, &fit), model, tokens)?;
        fit.e_io_pj = (TARGET_FT_ENERGY_UJ - f.ft_core_uj) * 1e6 / f.io_msgs_per_token.max(1e-9);
        fit = bounds.clamp(&fit);
        let f = measure(&apply(prior, &fit), model, tokens)?;
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
    // The fitted chip's figures from a full run (the trials were replays of one recording).
    let figs = self::measure(&apply(prior, &fit), model, tokens)?;
    Ok((fit, figs))
}

/// The generated `loihi2.fit.toml`.
pub fn fit_toml(prior: &Chip, fit: &Fit, figs: &Figures) -> String {
    let mut s = String::new();
    s.push_str("# Generated by `cargo xtask calibrate`: do not edit by hand; rerun it instead.\n");
    s.push_str(
        "# Calibrated values of the loihi2 preset, laid over loihi2.toml (whose values for these\n",
    );
    s.push_str(
        "# fields are the priors). Procedure, residuals and comparison with published figures:\n",
    );
    s.push_str("# docs/cost-model.md.\n");
    s.push_str(&format!(
        "# Residuals: fall-through {:.2} us/token ({:+.2}%), {:.3} uJ/token dynamic ({:+.2}%); pipeline {:.3} ms/sample ({:+.2}%), {:.2} mJ/sample ({:+.2}%).\n\n",
        figs.ft_latency_us,
        100.0 * (figs.ft_latency_us / TARGET_FT_LATENCY_US - 1.0),
        figs.ft_energy_uj,
        100.0 * (figs.ft_energy_uj / TARGET_FT_ENERGY_UJ - 1.0),
        figs.pl_latency_ms,
        100.0 * (figs.pl_latency_ms / TARGET_PL_LATENCY_MS - 1.0),
        figs.pl_energy_mj,
        100.0 * (figs.pl_energy_mj / TARGET_PL_ENERGY_MJ - 1.0),
    ));
    s.push_str("[ops]\n");
    let mut prior_mut = prior.clone();
    for op in CORE_OPS {
        let p = core_op(&mut prior_mut, op).clone();
        s.push_str(&format!(
            "{op} = {{ latency_ns = {{ value = {:.4}, source = \"fitted: prior {} ns ({}) x {:.4}, the common scale of neurocore latencies fitted to the poster's fall-through latency (76 us/token)\" }} }}\n",
            p.value * fit.k_lat,
            p.value,
            p.source.replace('"', "'"),
            fit.k_lat
        ));
    }
    s.push_str("\n[io]\n");
    for (name, what) in [
        ("input_message", "injecting one input message"),
        ("output_message", "extracting one output message"),
    ] {
        s.push_str(&format!(
            "{name} = {{ latency_ns = {{ value = {:.4}, source = \"fitted: host {what}; the pipeline timestep is bounded by the host injecting each token, fitted to the poster's pipeline latency (60.58 ms/sample)\" }}, energy_pj = {{ value = {:.1}, source = \"fitted: host {what}; fitted to the poster's fall-through dynamic energy (13 uJ/token) after the neurocore energies\" }} }}\n",
            fit.t_io_ns, fit.e_io_pj
        ));
    }
    s.push_str("\n[static]\n");
    s.push_str(&format!(
        "board_mw = {{ value = {:.1}, source = \"fitted: board static power (embedded processors, I/O, board) fitted to the poster's pipeline energy (185.8 mJ/sample); Nesbit et al. measured 1.78 W on an Oheo Gulch board\" }}\n",
        fit.board_mw
    ));
    s
}

/// Markers of the generated table in `docs/cost-model.md`.
pub const DOC_BEGIN: &str = "<!-- fitted-values:begin (cargo xtask calibrate --write) -->";
/// See [`DOC_BEGIN`].
pub const DOC_END: &str = "<!-- fitted-values:end -->";

/// The table of fitted values for `docs/cost-model.md`, from the priors and the calibrated
/// chip (no simulation needed), plus the residual line of the fit file.
pub fn doc_table(prior: &Chip, fitted: &Chip, fit_file: &str) -> String {
    let mut s = String::new();
    s.push_str(DOC_BEGIN);
    s.push_str("\n\n| parameter | prior | fitted | fitted / prior |\n|---|---|---|---|\n");
    let mut row = |name: &str, unit: &str, p: f64, f: f64| {
        s.push_str(&format!(
            "| `{name}` | {p:.4} {unit} | {f:.4} {unit} | {:.3} |\n",
            f / p
        ));
    };
    let pairs: [(&str, &loisim_arch::OpCost, &loisim_arch::OpCost); 9] = [
        (
            "ops.message_in",
            &prior.ops.message_in,
            &fitted.ops.message_in,
        ),
        (
            "ops.synmem_word_read",
            &prior.ops.synmem_word_read,
            &fitted.ops.synmem_word_read,
        ),
        ("ops.synop", &prior.ops.synop, &fitted.ops.synop),
        (
            "ops.neuron_update",
            &prior.ops.neuron_update,
            &fitted.ops.neuron_update,
        ),
        (
            "ops.neuron_instruction",
            &prior.ops.neuron_instruction,
            &fitted.ops.neuron_instruction,
        ),
        (
            "ops.neuron_idle",
            &prior.ops.neuron_idle,
            &fitted.ops.neuron_idle,
        ),
        ("ops.spike_out", &prior.ops.spike_out, &fitted.ops.spike_out),
        (
            "io.input_message",
            &prior.io.input_message,
            &fitted.io.input_message,
        ),
        (
            "io.output_message",
            &prior.io.output_message,
            &fitted.io.output_message,
        ),
    ];
    for (name, p, f) in pairs {
        row(
            &format!("{name}.latency_ns"),
            "ns",
            p.latency_ns.value,
            f.latency_ns.value,
        );
    }
    row(
        "io.input_message.energy_pj",
        "pJ",
        prior.io.input_message.energy_pj.value,
        fitted.io.input_message.energy_pj.value,
    );
    row(
        "io.output_message.energy_pj",
        "pJ",
        prior.io.output_message.energy_pj.value,
        fitted.io.output_message.energy_pj.value,
    );
    row(
        "static.board_mw",
        "mW",
        prior.static_power.board_mw.value,
        fitted.static_power.board_mw.value,
    );
    s.push('\n');
    for line in fit_file.lines().filter(|l| l.starts_with("# Residuals:")) {
        s.push_str(line.trim_start_matches("# "));
        s.push('\n');
    }
    s.push('\n');
    s.push_str(DOC_END);
    s
}

/// Replaces the generated section of a document.
pub fn splice_doc(doc: &str, table: &str) -> Option<String> {
    let a = doc.find(DOC_BEGIN)?;
    let b = doc.find(DOC_END)? + DOC_END.len();
    Some(format!("{}{}{}", &doc[..a], table, &doc[b..]))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_fit_box_comes_from_the_ranges_and_clamps() {
        let prior = Chip::loihi2_priors().expect("priors");
        let b = Bounds::of(&prior);
        // k keeps every scaled latency in range: the tightest op bounds it.
        for op in CORE_OPS {
            let mut c = prior.clone();
            let p = core_op(&mut c, op).clone();
            let [lo, hi] = p.range.expect("a range");
            assert!(p.value * b.k_lat[0] >= lo * (1.0 - 1e-12), "{op}");
            assert!(p.value * b.k_lat[1] <= hi * (1.0 + 1e-12), "{op}");
        }
        assert!(
            b.k_lat[0] < 1.0 && 1.0 < b.k_lat[1],
            "the priors sit inside"
        );
        let wild = Fit {
            t_io_ns: 1e9,
            k_lat: 0.0,
            e_io_pj: -5.0,
            board_mw: 1e7,
        };
        let c = b.clamp(&wild);
        assert_eq!(c.t_io_ns, b.t_io_ns[1]);
        assert_eq!(c.k_lat, b.k_lat[0]);
        assert_eq!(c.e_io_pj, b.e_io_pj[0]);
        assert_eq!(c.board_mw, b.board_mw[1]);
        assert_eq!(b.at_bounds(&c).len(), 4);
        let inside = Fit {
            t_io_ns: 21.0,
            k_lat: 1.5,
            e_io_pj: 11_000.0,
            board_mw: 2_000.0,
        };
        assert_eq!(b.clamp(&inside), inside);
        assert!(b.at_bounds(&inside).is_empty());
    }
}
