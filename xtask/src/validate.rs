//! `cargo xtask validate`: `docs/validation.md`'s generated part, the calibration set (the
//! poster's figures beside loisim's) and loisim's predictions for workloads not used in fitting
//! (the shipped lava-dl netx networks). `--write` updates the page; without it the command
//! fails when the page is stale (as the test `validation_page_is_current` does).

use anyhow::{Context, Result, bail};
use loisim::netx::{NetxOptions, NetxRunOptions};
use loisim::{Chip, Report};
use std::fmt::Write as _;
use std::path::Path;

/// Start of the generated part of `docs/validation.md`.
pub const BEGIN: &str = "<!-- validation:begin (cargo xtask validate --write) -->";
/// End of the generated part.
pub const END: &str = "<!-- validation:end -->";

/// A netx workload: the file, how it is fed, and the `loisim run` command that reproduces it.
struct Workload {
    name: &'static str,
    net: &'static str,
    bias: Option<&'static str>,
    input: Option<&'static str>,
    steps: u64,
    reset_interval: Option<u32>,
    what: &'static str,
}

const DATA: &str = "crates/loisim-netx/tests/data";

const WORKLOADS: [Workload; 3] = [
    Workload {
        name: "PilotNet LIF",
        net: "pilotnet_lif.net",
        bias: Some("gts/pilotnet_lif/image.npy"),
        input: None,
        steps: 160,
        reset_interval: Some(17),
        what: "lava-dl's PilotNet LIF (5 conv + 4 dense LIF layers, 158,509 neurons), its test image as the input layer's bias, reset every 17 steps",
    },
    Workload {
        name: "PilotNet SDNN",
        net: "pilotnet_sdnn.net",
        bias: None,
        input: Some("gts/pilotnet_sdnn/input.npy"),
        steps: 32,
        reset_interval: None,
        what: "lava-dl's PilotNet SDNN (Delta input, 4 conv + 4 dense sigma-delta layers), its test frame held for 32 steps",
    },
    Workload {
        name: "tiny conv LIF",
        net: "tiny.net",
        bias: Some("gts/tinynet/input_bias.npy"),
        input: None,
        steps: 20,
        reset_interval: None,
        what: "lava-dl's tiny.net (LIF input + 2 conv), its test bias",
    },
];

impl Workload {
    fn command(&self) -> String {
        let mut c = format!("cargo loisim run {DATA}/{}", self.net);
        if let Some(b) = self.bias {
            let _ = write!(c, " --bias {DATA}/{b}");
        }
        if let Some(i) = self.input {
            let _ = write!(c, " --input {DATA}/{i}");
        }
        if let Some(r) = self.reset_interval {
            let _ = write!(c, " --reset-interval {r}");
        }
        let _ = write!(c, " --steps {}", self.steps);
        c
    }

    /// The run's report, with its calibration-conditioned ranges.
    fn run(&self, root: &Path, chip: &Chip) -> Result<Report> {
        let data = root.join(DATA);
        let opts = NetxOptions {
            reset_interval: self.reset_interval,
            ..NetxOptions::default()
        };
        let netx = loisim::netx::load_netx(&data.join(self.net), &opts)?;
        let read = |p: Option<&str>| -> Result<_> {
            p.map(|p| loisim::netx::read_lava_array(&data.join(p)))
                .transpose()
                .map_err(Into::into)
        };
        let dir = tempfile::tempdir()?;
        let act = dir.path().join("run.act");
        let mut run = loisim::netx::run_netx(
            &netx,
            chip,
            &loisim::netx::default_compile_options(chip),
            &NetxRunOptions {
                input: read(self.input)?,
                bias: read(self.bias)?,
                steps: Some(self.steps),
                threads: 2,
                activity: Some(act.clone()),
                ..NetxRunOptions::default()
            },
        )?;
        run.report.ranges = Some(loisim::calibration::conditioned_ranges(
            &loisim::replay::Activity::open(&act)?,
            chip,
            loisim::calibration::RANGE_SAMPLES,
            loisim::calibration::RANGE_SEED,
        )?);
        Ok(run.report)
    }
}

/// The generated part of the page, from fresh runs on the default chip.
///
/// # Errors
/// A model or network cannot be read or run.
pub fn section(root: &Path) -> Result<String> {
    let chip = Chip::default_chip();
    let mut s = String::new();
    let _ = writeln!(s, "{BEGIN}\n");
    // The calibration set.
    let model = root.join("models").join(loisim::paths::DEFAULT_MODEL);
    let input = root.join("models/default-input.npy");
    let mut report = crate::regress::measure(&chip, &model, &input)?;
    let ft = report.fall_through.take().context("fall-through figures")?;
    let pl = report.pipeline.take().context("pipeline figures")?;
    let targets = loisim::report::CalibrationTargets::poster(Some(&ft), Some(&pl));
    let _ = writeln!(
        s,
        "### The calibration set\n\n{} (`cargo loisim run`, the default model on the default chip \
         and input). Fitted figures were targets of `cargo xtask calibrate`; their residuals \
         measure the fit, not a validation.\n",
        targets.source
    );
    let _ = writeln!(
        s,
        "| figure | measured | loisim | residual | fitted |\n|---|---|---|---|---|"
    );
    for r in &targets.rows {
        let _ = writeln!(
            s,
            "| {} | {} | {:.2} | {:+.2} % | {} |",
            r.figure,
            r.target,
            r.loisim,
            r.residual_pct,
            if r.fitted { "yes" } else { "no (1 / latency)" }
        );
    }
    let _ = writeln!(
        s,
        "\n### Predictions for workloads not used in fitting\n\nlava-dl's own netx networks \
         (shipped in `{DATA}`), run on the default chip (`loihi2`: one Loihi 2 on an Oheo Gulch \
         board) with the cost parameters calibrated on the poster alone. Energy per step is on the \
         chip rails (the default basis, what Intel's Lava profiler measures), dynamic and total \
         (static included); the last energy column is the whole board's total (the board's \
         static power dominates it). No published measurement of these networks has been \
         compared with them yet.\n"
    );
    let _ = writeln!(
        s,
        "| workload | cores | steps | timestep, mean (us) [range] | timestep, max (us) | dynamic energy per step, chip (uJ) [range] | total energy per step, chip (uJ) [range] | total energy per step, board (uJ) | synops per step |\n|---|---|---|---|---|---|---|---|---|"
    );
    let mut commands = String::new();
    let mut accepted = Vec::new();
    for w in &WORKLOADS {
        let r = w.run(root, &chip)?;
        let p = r.pipeline.as_ref().context("pipeline figures")?;
        let g = r.ranges.as_ref().context("ranges")?;
        let range = |k: &str| -> Result<[f64; 2]> {
            g.ranges
                .get(k)
                .copied()
                .with_context(|| format!("no range of {k}"))
        };
        let (t, ed, et) = (
            range("pipeline.timestep_us_mean_range")?,
            range("pipeline.energy_dynamic_uj_per_step_range")?,
            range("pipeline.energy_total_uj_per_step_range")?,
        );
        let _ = writeln!(
            s,
            "| {} | {} | {} | {:.1} [{:.1}, {:.1}] | {:.1} | {:.3} [{:.3}, {:.3}] | {:.1} [{:.1}, {:.1}] | {:.1} | {:.0} |",
            w.name,
            r.cores_used.unwrap_or(0),
            w.steps,
            p.timestep_us_mean,
            t[0],
            t[1],
            p.timestep_us_max,
            p.energy_dynamic_uj_per_step.unwrap_or(0.0),
            ed[0],
            ed[1],
            p.energy_total_uj_per_step.unwrap_or(0.0),
            et[0],
            et[1],
            p.profiler.total_energy_board_uj_per_step,
            p.synops_per_step.unwrap_or(0.0)
        );
        accepted.push(format!(
            "{}: {} of {}",
            w.name, g.samples_accepted, g.samples_drawn
        ));
        let _ = writeln!(commands, "- {}: {}.\n  `{}`", w.name, w.what, w.command());
    }
    let _ = writeln!(
        s,
        "\nThe ranges in brackets are calibration-conditioned (`loisim run --ranges`, \
         docs/cost-model.md \"Ranges\"): {} seeded sets of the cost parameters the poster \
         leaves open, each refitted to the poster and kept within {:.0} % of its four figures \
         (kept: {}).\n",
        loisim::calibration::RANGE_SAMPLES,
        100.0 * loisim::calibration::POSTER_TOLERANCE,
        accepted.join("; ")
    );
    let _ = writeln!(s, "What each row runs:\n\n{commands}\n{END}");
    Ok(s)
}

/// The page with its generated part replaced by `section`.
///
/// # Errors
/// The page lacks its markers.
pub fn replace(page: &str, section: &str) -> Result<String> {
    let (Some(a), Some(b)) = (page.find(BEGIN), page.find(END)) else {
        bail!("docs/validation.md lacks the markers {BEGIN} ... {END}");
    };
    if b < a {
        bail!("docs/validation.md: the end marker comes before the begin marker");
    }
    Ok(format!(
        "{}{}{}",
        &page[..a],
        section.trim_end(),
        &page[b + END.len()..]
    ))
}

/// Checks (or, with `write`, updates) `docs/validation.md`.
///
/// # Errors
/// The page is stale (without `write`), or a run fails.
pub fn run(root: &Path, write: bool) -> Result<()> {
    let path = root.join("docs/validation.md");
    let page = std::fs::read_to_string(&path).with_context(|| format!("{}", path.display()))?;
    let fresh = replace(&page, &section(root)?)?;
    if fresh == page {
        return Ok(());
    }
    if write {
        std::fs::write(&path, fresh).with_context(|| format!("{}", path.display()))?;
        return Ok(());
    }
    bail!("docs/validation.md is stale: run `cargo xtask validate --write`")
}
