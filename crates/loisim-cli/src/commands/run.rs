//! `loisim run`: argument handling and printing around [`loisim::Simulation::run`] and
//! [`loisim::run_reference`]. The figures are the library's [`loisim::Report`]; `--json`
//! prints it as it is.

use crate::commands::common::{ChipOpts, NetxArgs, load_model_and_tokens};
use anyhow::Result;
use clap::{Args, ValueEnum};
use loisim::report::{Executor, Report};
use loisim::{Input, Modes, RunOptions, Simulation};
use std::path::PathBuf;

/// Which modes to simulate.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum ModeArg {
    /// One token at a time (lowest latency).
    FallThrough,
    /// A token every timestep (highest throughput).
    Pipeline,
    /// Both.
    Both,
}

impl ModeArg {
    fn modes(self) -> Modes {
        match self {
            Self::FallThrough => Modes::FALL_THROUGH,
            Self::Pipeline => Modes::PIPELINE,
            Self::Both => Modes::BOTH,
        }
    }
}

/// Arguments of `loisim run` (docs/cli.md has the table of every flag by kind of model).
#[derive(Args, Debug)]
pub struct RunArgs {
    /// The model (`model.bin`); default: the shipped sparse 1x model that stands for the
    /// poster's deployment, compared with the poster's measurements (the calibration targets).
    #[arg(value_name = "MODEL")]
    model: Option<PathBuf>,
    /// Run the bit-exact reference executor instead of the chip simulation.
    #[arg(long)]
    reference: bool,
    /// Modes to simulate (default: the model kind's own modes; S5: both).
    #[arg(long, value_enum)]
    mode: Option<ModeArg>,
    /// Input: `.npy` [tokens, 257] (integers are the model's input integers, floats are STFT
    /// magnitudes: offset subtracted, quantized with the model's input format) or a `.wav`
    /// file (16 kHz mono), denoised frame by frame. Default: the shipped 30 s clip's features
    /// (3751 tokens, one sample). Repeated, or a directory (its `.npy` or `.wav` files in byte
    /// order of their names): a batch, one sample per file, run in parallel on `--threads`.
    #[arg(long, value_name = "X.npy|X.wav|DIR")]
    input: Vec<PathBuf>,
    /// Clean reference `.wav` for a `.wav` input: prints the SI-SNR of the output. With a
    /// batch, a directory of clean `.wav` files paired with the inputs by file stem.
    #[arg(long, value_name = "CLEAN.wav|DIR")]
    clean: Option<PathBuf>,
    /// Run only the first N tokens (token-based models: S5).
    #[arg(long, value_name = "N")]
    tokens: Option<usize>,
    /// Steps to run, for networks that are not token-based (lava-dl netx); default: the
    /// input's length.
    #[arg(long, value_name = "T")]
    steps: Option<u64>,
    /// netx: `bias_mant` of the input layer's LIF neurons, Lava's (x, y, c) layout (how
    /// lava-dl's examples present an image); needs no --input. Repeated, or a directory of
    /// `.npy` files: a batch, one sample per image.
    #[arg(long, value_name = "B.npy|DIR")]
    bias: Vec<PathBuf>,
    /// netx: write each layer's state per step into DIR, `layer{i}-{type}-{var}.npy`, int32
    /// (T, shape...), as a Lava Monitor sees it.
    #[arg(long, value_name = "DIR")]
    probe: Option<PathBuf>,
    /// netx: probe only these layers (indices in netx's net.layers), e.g. `0,3`.
    #[arg(long, value_name = "I,J,...", value_delimiter = ',')]
    probe_layers: Option<Vec<usize>>,
    /// Record the run's activity (the work of every token or step on every flow, and the
    /// program's structure) into FILE, to price it again at other chip costs with `loisim
    /// replay FILE --chip X`.
    #[arg(long, value_name = "FILE")]
    activity: Option<PathBuf>,
    /// Elasticity of each headline figure to each cost parameter (+-1 % in log space, by
    /// replaying the run's activity): printed, and in the JSON under `sensitivity`.
    #[arg(long)]
    sensitivity: bool,
    /// Calibration-conditioned ranges of the headline figures: 16 seeded draws of the cost
    /// parameters the poster leaves open, each refitted to the poster by replay and kept when
    /// its four figures stay within 10 % (docs/cost-model.md, "Ranges"); about 15 s.
    #[arg(long)]
    ranges: bool,
    /// Write the decoder output integers as int32 [tokens, outputs] `.npy`, or, for a `.wav`
    /// input, the denoised audio as `.wav`. With a batch, a directory: `<stem>.npy` or
    /// `<stem>.wav` per sample.
    #[arg(long, value_name = "Y.npy|Y.wav|DIR")]
    output: Option<PathBuf>,
    /// Print the report as one JSON object instead of text.
    #[arg(long)]
    json: bool,
    /// Simulator threads (results do not depend on it; default: every core of the machine); a
    /// batch of several samples runs its samples on them, one thread each.
    #[arg(long, default_value_t = loisim::default_threads())]
    threads: usize,
    /// Write traces to DIR: per-timestep and per-core CSV, Perfetto JSON (open it in
    /// ui.perfetto.dev), the plotted series.
    #[arg(long, value_name = "DIR")]
    trace: Option<PathBuf>,
    /// Draw figures (PNG and SVG) into DIR.
    #[arg(long, value_name = "DIR")]
    plot: Option<PathBuf>,
    /// Tokens covered in detail by the per-core CSV and the Perfetto trace: `COUNT` or
    /// `START:COUNT` (shrunk if the files would pass 100 MB).
    #[arg(long, value_name = "START:COUNT", default_value = "0:32")]
    trace_window: String,
    /// No progress bar.
    #[arg(short, long)]
    quiet: bool,
    /// NIR graphs (`.nir`): the step NIR's continuous time is discretised with, seconds
    /// (default 1e-3).
    #[arg(long, value_name = "SECONDS")]
    dt: Option<f64>,
    #[command(flatten)]
    chip: ChipOpts,
    #[command(flatten)]
    netx: NetxArgs,
}

/// Runs `loisim run` on a NIR graph: lowered onto Lava's LIF layers and run as a netx
/// network, with the quantisation error against the float64 reference.
fn execute_nir(args: &RunArgs, path: &std::path::Path) -> Result<()> {
    for (given, flag) in [
        (args.tokens.is_some(), "--tokens"),
        (args.clean.is_some(), "--clean"),
        (args.trace.is_some(), "--trace"),
        (args.plot.is_some(), "--plot"),
        (!args.bias.is_empty(), "--bias"),
        (
            args.probe.is_some() || args.probe_layers.is_some(),
            "--probe",
        ),
        (
            args.input.len() > 1 || is_batch(&args.input),
            "a batch of --input",
        ),
        (
            matches!(args.mode, Some(ModeArg::FallThrough | ModeArg::Both)),
            "--mode other than pipeline",
        ),
    ] {
        if given {
            anyhow::bail!("{flag} does not apply to NIR graphs (.nir)");
        }
    }
    let nir = loisim::nir::load_nir(path, args.dt.unwrap_or(loisim::nir::DEFAULT_DT_S))?;
    let (tmp, recorded) = activity_for(args, args.activity.clone())?;
    let opts = loisim::nir::NirRunOptions {
        input: args
            .input
            .first()
            .map(|p| loisim::nir::read_nir_input(p))
            .transpose()?,
        steps: args.steps,
        reference: args.reference,
        threads: args.threads,
        output: args.output.clone(),
        activity: recorded.clone(),
    };
    let chip = args.chip.chip()?;
    let mut run = loisim::nir::run_nir(&nir, &chip, &args.chip.netx_compile_options(&chip), &opts)?;
    add_sensitivity(&mut run.report, recorded.as_deref(), &chip, args)?;
    drop(tmp);
    if args.json {
        outln!("{}", run.to_json());
    } else {
        let mut shape = vec![run.output.len()];
        shape.extend(&run.output_shape);
        out!(
            "{}{}{}",
            netx_text(&run.report, &shape)
                .replace("(netx)", "(NIR)")
                .replace("time last", "time first"),
            loisim::nir::quantisation_text(&run.quantisation),
            sensitivity_text(&run.report),
        );
        out!("{}", ranges_text(&run.report));
    }
    Ok(())
}

/// Runs `loisim run` on a lava-dl netx network.
fn execute_netx(args: &RunArgs, path: &std::path::Path) -> Result<()> {
    for (given, flag, why) in [
        (
            args.tokens.is_some(),
            "--tokens",
            "netx networks run --steps",
        ),
        (
            args.clean.is_some(),
            "--clean",
            "it applies to .wav inputs of S5 models",
        ),
        (
            args.trace.is_some(),
            "--trace",
            "traces of netx runs are not implemented yet",
        ),
        (
            args.plot.is_some(),
            "--plot",
            "plots of netx runs are not implemented yet",
        ),
    ] {
        if given {
            anyhow::bail!("{flag} does not apply to netx networks: {why}");
        }
    }
    if matches!(args.mode, Some(ModeArg::FallThrough | ModeArg::Both)) {
        anyhow::bail!(
            "netx networks run in pipeline mode only (Lava networks are pipelined by construction): --mode pipeline"
        );
    }
    let (bias_batch, input_batch) = (is_batch(&args.bias), is_batch(&args.input));
    if bias_batch && input_batch {
        anyhow::bail!(
            "a netx batch varies --bias or --input, not both: give several of one and at most one of the other"
        );
    }
    if bias_batch || input_batch {
        return execute_netx_batch(args, path, bias_batch);
    }
    let netx = loisim::netx::load_netx(path, &args.netx.options()?)?;
    let opts = loisim::netx::NetxRunOptions {
        input: args
            .input
            .first()
            .map(|p| loisim::netx::read_lava_array(p))
            .transpose()?,
        bias: args
            .bias
            .first()
            .map(|p| loisim::netx::read_lava_array(p))
            .transpose()?,
        steps: args.steps,
        reference: args.reference,
        threads: args.threads,
        output: args.output.clone(),
        probe_dir: args.probe.clone(),
        probe_layers: args.probe_layers.clone(),
        activity: args.activity.clone(),
    };
    if args.probe_layers.is_some() && args.probe.is_none() {
        anyhow::bail!("--probe-layers needs --probe DIR");
    }
    let mut opts = opts;
    let (tmp, recorded) = activity_for(args, opts.activity.clone())?;
    opts.activity.clone_from(&recorded);
    let chip = args.chip.chip()?;
    let mut run =
        loisim::netx::run_netx(&netx, &chip, &args.chip.netx_compile_options(&chip), &opts)?;
    add_sensitivity(&mut run.report, recorded.as_deref(), &chip, args)?;
    drop(tmp);
    if args.json {
        outln!("{}", run.report.to_json());
    } else {
        out!(
            "{}{}",
            netx_text(&run.report, &run.output.shape),
            sensitivity_text(&run.report),
        );
        out!("{}", ranges_text(&run.report));
    }
    Ok(())
}

/// The report of a netx run as text.
pub(crate) fn netx_text(r: &Report, out_shape: &[usize]) -> String {
    let mut s = String::new();
    let mut line = |t: String| {
        s.push_str(&t);
        s.push('\n');
    };
    match r.executor {
        Executor::Reference => line(format!(
            "loisim run --reference: {} (netx) on the IR reference interpreter",
            r.model
        )),
        Executor::Chip => line(format!(
            "loisim run: {} (netx) on {} ({}), {} cores",
            r.model,
            r.chip.as_deref().unwrap_or("?"),
            r.board.as_deref().unwrap_or("?"),
            r.cores_used.unwrap_or(0)
        )),
    }
    if let Some(p) = &r.pipeline {
        line(format!(
            "pipeline      {} steps; timestep {:.3} us mean, {:.3} us max; energy per step {:.4} uJ dynamic, {:.4} uJ total; power {:.4} W dynamic, {:.4} W total",
            p.steps.unwrap_or(p.timesteps),
            p.timestep_us_mean,
            p.timestep_us_max,
            p.energy_dynamic_uj_per_step.unwrap_or(0.0),
            p.energy_total_uj_per_step.unwrap_or(0.0),
            p.power_dynamic_w.unwrap_or(0.0),
            p.power_total_w.unwrap_or(0.0),
        ));
        let what = match p.samples {
            Some(sm) => format!(
                "sample ({} steps, {} complete in the run)",
                sm.steps_per_sample, sm.samples_complete
            ),
            None => "sample (the whole run)".to_string(),
        };
        line(format!(
            "              per {what}: latency {:.4} ms, energy {:.4} mJ dynamic, {:.4} mJ total; throughput {:.2} samples/s",
            p.latency_ms_per_sample,
            p.energy_dynamic_mj_per_sample,
            p.energy_total_mj_per_sample,
            p.throughput_samples_per_s
        ));
        line(breakdown_line(
            "mJ/sample",
            &p.energy_total_board_breakdown_mj_per_sample,
            4,
        ));
        line(power_line(&p.power_w));
    } else {
        line(format!(
            "{} steps (no cost figures without the chip)",
            out_shape.last().copied().unwrap_or(0)
        ));
    }
    if !r.layers.is_empty() {
        line(String::new());
        line(format!(
            "  {:>5}  {:<10} {:>9} {:>14} {:>16} {:>12} {:>12}",
            "layer", "type", "neurons", "syn_ops", "dendrite_updates", "spikes_in", "axon_out"
        ));
        for l in &r.layers {
            line(format!(
                "  {:>5}  {:<10} {:>9} {:>14} {:>16} {:>12} {:>12}",
                l.layer, l.kind, l.neurons, l.syn_ops, l.dendrite_updates, l.spikes_in, l.axon_out
            ));
        }
    }
    if let Some(a) = &r.arithmetic {
        line(format!(
            "arithmetic events: {} saturations, {} wraps, {} accumulator overflows",
            a.saturations, a.int32_wraps, a.accumulator_overflows
        ));
    }
    line(format!(
        "simulation: {:.3} s wall, {:.0} steps/s, {} thread(s)",
        r.sim.wall_s, r.sim.tokens_per_s, r.sim.threads
    ));
    if let Some(out) = &r.outputs.output {
        line(format!("output: {out} (int32 {out_shape:?}, time last)"));
    }
    if let Some(d) = &r.probe_dir {
        line(format!("probes: {d}"));
    }
    s
}

/// Runs `loisim run`.
pub fn execute(args: RunArgs) -> Result<()> {
    if let Some(path) = args.model.as_deref().filter(|p| loisim::nir::is_nir(p)) {
        return execute_nir(&args, path);
    }
    if args.dt.is_some() {
        anyhow::bail!("--dt applies to NIR graphs (.nir)");
    }
    if let Some(path) = args.model.as_deref().filter(|p| loisim::netx::is_netx(p)) {
        return execute_netx(&args, path);
    }
    args.netx.refuse()?;
    if !args.bias.is_empty() || args.probe_layers.is_some() {
        anyhow::bail!("--bias and --probe-layers apply to lava-dl netx networks (.net)");
    }
    if is_batch(&args.input) {
        return execute_batch(&args);
    }
    let input_path = args.input.first();
    let wav_in = input_path.is_some_and(|p| loisim::audio::is_wav(p));
    if args.clean.is_some() && !wav_in {
        anyhow::bail!("--clean applies to a .wav input");
    }
    if wav_in && args.tokens.is_some() {
        anyhow::bail!("--tokens applies to .npy inputs; a .wav input runs whole");
    }
    if args.steps.is_some() {
        anyhow::bail!(
            "--steps applies to networks that are not token-based (lava-dl netx); S5 models take --tokens"
        );
    }
    if args.probe.is_some() {
        anyhow::bail!(
            "--probe records the layers of lava-dl netx networks (.net); S5 runs record traces with --trace"
        );
    }
    let (model, tokens) = load_model_and_tokens(
        args.model.as_ref(),
        input_path.filter(|_| !wav_in),
        args.tokens,
        !wav_in,
    )?;
    let input = match (wav_in, tokens) {
        (true, _) => Input::Wav {
            path: input_path.cloned().unwrap_or_default(),
            clean: args.clean.clone(),
        },
        (false, tokens) => Input::Tokens(tokens.unwrap_or_default()),
    };
    let n_tokens = match &input {
        Input::Tokens(t) => t.len() as u64,
        Input::Wav { .. } => 0,
    };
    let mut opts = RunOptions {
        modes: Modes::BOTH,
        threads: args.threads,
        output: args.output.clone(),
        trace_dir: args.trace.clone(),
        plot_dir: args.plot.clone(),
        trace: trace_options(&args.trace_window)?,
        // The poster describes the default model on its full default input.
        calibration_setup: args.model.is_none() && input_path.is_none() && args.tokens.is_none(),
        activity: args.activity.clone(),
    };
    let (tmp, recorded) = activity_for(&args, opts.activity.clone())?;
    opts.activity.clone_from(&recorded);
    let chip = args.chip.chip()?;
    let mut run = if args.reference {
        loisim::run_reference(&model, &input, &opts)?
    } else {
        let sim = Simulation::compile(model, &chip, &args.chip.compile_options())?;
        opts.modes = args.mode.map_or(sim.kind().default_modes(), ModeArg::modes);
        let bar = progress_bar(n_tokens, args.json || args.quiet || wav_in);
        let mut tick = |n: usize| {
            if n.is_multiple_of(64) || n as u64 == n_tokens {
                bar.set_position(n as u64);
            }
        };
        let run = sim.run(&input, &opts, Some(&mut tick));
        bar.finish_and_clear();
        run?
    };
    add_sensitivity(&mut run.report, recorded.as_deref(), &chip, &args)?;
    drop(tmp);
    if args.json {
        outln!("{}", run.report.to_json());
    } else {
        out!(
            "{}{}{}",
            text(&run.report),
            sensitivity_text(&run.report),
            ranges_text(&run.report)
        );
    }
    Ok(())
}

/// Where the run's activity is recorded: `--activity FILE`, or a temporary file when
/// `--sensitivity` needs one (kept alive by the returned directory).
fn activity_for(
    args: &RunArgs,
    given: Option<PathBuf>,
) -> Result<(Option<tempfile::TempDir>, Option<PathBuf>)> {
    if !(args.sensitivity || args.ranges) || given.is_some() {
        return Ok((None, given));
    }
    if args.reference {
        anyhow::bail!(
            "--sensitivity and --ranges price the simulated chip's work; run without --reference"
        );
    }
    let dir = tempfile::Builder::new()
        .prefix("loisim-sensitivity-")
        .tempdir()?;
    let path = dir.path().join("run.act");
    Ok((Some(dir), Some(path)))
}

/// Adds the elasticities (`--sensitivity`) and the conditioned ranges (`--ranges`) to the report.
fn add_sensitivity(
    report: &mut Report,
    recorded: Option<&std::path::Path>,
    chip: &loisim::Chip,
    args: &RunArgs,
) -> Result<()> {
    let Some(path) = recorded else {
        return Ok(());
    };
    if !(args.sensitivity || args.ranges) {
        return Ok(());
    }
    let activity = loisim::replay::Activity::open(path)?;
    if args.sensitivity {
        report.sensitivity = Some(loisim::sensitivity::sensitivity(&activity, chip)?);
    }
    if args.ranges {
        report.ranges = Some(loisim::calibration::conditioned_ranges(
            &activity,
            chip,
            loisim::calibration::RANGE_SAMPLES,
            loisim::calibration::RANGE_SEED,
        )?);
    }
    Ok(())
}

/// The conditioned ranges as text.
pub(crate) fn ranges_text(r: &Report) -> String {
    use std::fmt::Write;
    let Some(g) = &r.ranges else {
        return String::new();
    };
    let mut out = format!(
        "\nranges: {} of {} seeded parameter sets reproduce the poster within {:.0} % after refitting:\n",
        g.samples_accepted,
        g.samples_drawn,
        100.0 * g.poster_tolerance
    );
    for (k, [lo, hi]) in &g.ranges {
        let _ = writeln!(out, "  {k:<48} [{lo:.4}, {hi:.4}]");
    }
    out
}

/// The sensitivity table as text: one row per parameter that moves some figure by more than
/// 0.001 per unit of log change.
pub(crate) fn sensitivity_text(r: &Report) -> String {
    use std::fmt::Write;
    let Some(s) = &r.sensitivity else {
        return String::new();
    };
    let mut out = String::new();
    let short: Vec<String> = s
        .figures
        .iter()
        .map(|f| {
            f.replace("fall_through.", "ft.")
                .replace("pipeline.", "pl.")
        })
        .collect();
    let _ = writeln!(
        out,
        "\nsensitivity: d ln(figure) / d ln(parameter), +-1 % ({} of {} parameters move a figure):",
        s.parameters
            .iter()
            .filter(|p| p.elasticities.iter().any(|e| e.abs() > 1e-3))
            .count(),
        s.parameters.len()
    );
    let _ = write!(out, "  {:<34}", "parameter");
    for f in &short {
        let _ = write!(out, " {:>12}", f.chars().take(12).collect::<String>());
    }
    out.push('\n');
    for p in &s.parameters {
        if !p.elasticities.iter().any(|e| e.abs() > 1e-3) {
            continue;
        }
        let _ = write!(out, "  {:<34}", p.parameter);
        for e in &p.elasticities {
            let _ = write!(out, " {e:>12.4}");
        }
        out.push('\n');
    }
    let _ = writeln!(out, "  (columns: {})", s.figures.join(", "));
    out
}

/// The trace window of `--trace-window`.
fn trace_options(w: &str) -> Result<loisim::TraceOptions> {
    let w = w.trim();
    let (start, count) = match w.split_once(':') {
        Some((a, b)) => (a.trim().parse::<usize>(), b.trim().parse::<usize>()),
        None => (Ok(0), w.parse::<usize>()),
    };
    match (start, count) {
        (Ok(window_start), Ok(window_tokens)) if window_tokens > 0 => Ok(loisim::TraceOptions {
            window_start,
            window_tokens,
            ..loisim::TraceOptions::default()
        }),
        _ => anyhow::bail!("--trace-window `{w}`: expected COUNT or START:COUNT with COUNT >= 1"),
    }
}

/// One bar for a batch, a step per finished sample (hidden as [`progress_bar`] is).
fn batch_bar(samples: usize, hidden: bool) -> indicatif::ProgressBar {
    let bar = indicatif::ProgressBar::new(samples as u64);
    if hidden || !std::io::IsTerminal::is_terminal(&std::io::stderr()) {
        bar.set_draw_target(indicatif::ProgressDrawTarget::hidden());
    } else if let Ok(style) =
        indicatif::ProgressStyle::with_template("{bar:40} {pos}/{len} samples eta {eta}")
    {
        bar.set_style(style);
    }
    bar
}

fn progress_bar(len: u64, hidden: bool) -> indicatif::ProgressBar {
    let bar = indicatif::ProgressBar::new(len);
    if hidden || !std::io::IsTerminal::is_terminal(&std::io::stderr()) {
        bar.set_draw_target(indicatif::ProgressDrawTarget::hidden());
    } else if let Ok(style) =
        indicatif::ProgressStyle::with_template("{bar:40} {pos}/{len} tokens {per_sec} eta {eta}")
    {
        bar.set_style(style);
    }
    bar
}

/// The report as text.
pub(crate) fn text(r: &Report) -> String {
    use std::fmt::Write;
    let mut s = String::new();
    let mut line = |t: String| {
        s.push_str(&t);
        s.push('\n');
    };
    if r.executor == Executor::Reference {
        line("loisim run --reference: the bit-exact fixed-point reference executor".into());
        line(format!("model    {}", r.model));
    } else {
        line(format!(
            "loisim run: {} on {} ({}), {} cores, {} timesteps per token",
            r.model,
            r.chip.as_deref().unwrap_or("?"),
            r.board.as_deref().unwrap_or("?"),
            r.cores_used.unwrap_or(0),
            r.pipeline_depth_timesteps.unwrap_or(0)
        ));
    }
    match &r.audio {
        Some(a) => {
            line(format!("audio: {:.2} s, {} tokens", a.seconds, a.tokens));
            if let (Some(si), Some(noisy), Some(gain)) =
                (a.si_snr_db, a.noisy_si_snr_db, a.si_snri_db)
            {
                line(format!(
                    "SI-SNR: output {si:.2} dB, noisy input {noisy:.2} dB, improvement {gain:+.2} dB"
                ));
            }
        }
        None => line(format!("input: {} tokens (one sample)", r.tokens)),
    }
    if let Some(f) = &r.fall_through {
        line(String::new());
        line(format!(
            "fall-through  latency {:>9.2} us/token   energy {:>8.2} uJ/token total, chip ({:.2} dynamic; {:.2} total, board)   throughput {:>9.0} tokens/s",
            f.latency_us_per_token,
            f.energy_total_uj_per_token,
            f.energy_dynamic_uj_per_token,
            f.energy_by_domain_uj_per_token.board.total,
            f.throughput_tokens_per_s
        ));
        line(breakdown_line(
            "uJ/token",
            &f.energy_total_board_breakdown_uj_per_token,
            3,
        ));
        line(power_line(&f.power_w));
    }
    if let Some(p) = &r.pipeline {
        if r.fall_through.is_none() {
            line(String::new());
        }
        line(format!(
            "pipeline      latency {:>9.2} ms/sample  energy {:>8.2} mJ/sample total, chip ({:.2} dynamic; {:.2} total, board)   throughput {:>9.2} samples/s",
            p.latency_ms_per_sample,
            p.energy_total_mj_per_sample,
            p.energy_dynamic_mj_per_sample,
            p.energy_by_domain_mj_per_sample.board.total,
            p.throughput_samples_per_s
        ));
        line(format!(
            "{};  timestep {:.2} us mean, {:.2} us max",
            breakdown_line(
                "mJ/sample",
                &p.energy_total_board_breakdown_mj_per_sample,
                3
            ),
            p.timestep_us_mean,
            p.timestep_us_max
        ));
        line(power_line(&p.power_w));
    }
    if let Some(c) = &r.calibration_targets {
        line(String::new());
        line(format!("calibration targets: {}", c.source));
        line(format!("  ({})", c.note));
        for p in &c.parameters_on_bound {
            line(format!("  on the bound of its plausible range: {p}"));
        }
        line(format!(
            "  {:<50} {:>12} {:>12} {:>9}",
            "figure", "loisim", "measured", "residual"
        ));
        for row in &c.rows {
            line(format!(
                "  {:<50} {:>12.2} {:>12.2} {:>+8.2}%{}",
                row.figure,
                row.loisim,
                row.target,
                row.residual_pct,
                if row.fitted { "  fitted" } else { "" }
            ));
        }
    }
    if !r.activation_density.is_empty() {
        line(String::new());
        line(match r.executor {
            Executor::Chip => "activation density (non-zero outputs per channel):".into(),
            Executor::Reference => "activation density (non-zero inputs of each matrix):".into(),
        });
        let cells: Vec<String> = r
            .activation_density
            .iter()
            .map(|d| format!("{} {:.0}%", d.channel, 100.0 * d.nonzero_fraction))
            .collect();
        for chunk in cells.chunks(6) {
            line(format!("  {}", chunk.join("  ")));
        }
    }
    if let Some(active) = r.macs_active_per_token {
        let m = &r.model_size;
        line(format!(
            "MACs per token: dense {}, non-zero weights {}, non-zero weights x non-zero inputs {active:.0}",
            m.macs_dense_per_token, m.macs_nonzero_weights_per_token
        ));
    }
    if let Some(a) = &r.arithmetic {
        line(format!(
            "arithmetic events: {} saturations, {} int32 wraps, {} accumulator overflows",
            a.saturations, a.int32_wraps, a.accumulator_overflows
        ));
    }
    let mut speed = format!(
        "simulation: {:.3} s wall, {:.0} tokens/s",
        r.sim.wall_s, r.sim.tokens_per_s
    );
    if r.executor == Executor::Chip {
        let _ = write!(
            speed,
            ", {:.2e} synaptic events/s, {} thread(s)",
            r.sim.synaptic_events_per_s, r.sim.threads
        );
    }
    line(speed);
    if let Some(t) = &r.outputs.trace_dir {
        line(format!(
            "trace: {t} (timesteps.csv, cores.csv, core_summary.csv, trace.json for ui.perfetto.dev, series.json)"
        ));
    }
    for p in &r.outputs.plots {
        line(format!("plot: {p}"));
    }
    if let Some(out) = &r.outputs.output {
        if r.audio.is_some() && out.to_ascii_lowercase().ends_with(".wav") {
            line(format!("output: {out} (denoised audio)"));
        } else {
            line(format!(
                "output: {out} (int32 [{}, {}])",
                r.tokens, r.outputs_per_token
            ));
        }
    }
    s
}

/// The whole-board energy by component, one line.
fn breakdown_line(unit: &str, b: &loisim::report::Breakdown, prec: usize) -> String {
    format!(
        "              {unit} (whole board): axon-in {:.prec$}  synmem {:.prec$}  synop {:.prec$}  neuron {:.prec$}  noc {:.prec$}  io {:.prec$}  barrier {:.prec$}  static chip {:.prec$}  static board {:.prec$}",
        b.axon_in,
        b.synmem,
        b.synop,
        b.neuron,
        b.noc,
        b.io,
        b.barrier,
        b.static_chip,
        b.static_board
    )
}

/// Mean power by basis and rail, one line.
fn power_line(w: &loisim::report::ByDomain) -> String {
    format!(
        "              power W: chip {:.4} ({:.4} static)  VDD {:.4}  VDD-M {:.4}  VDD-IO {:.4}  |  board {:.4} ({:.4} static)",
        w.chip.total,
        w.chip.static_,
        w.vdd.total,
        w.vdd_m.total,
        w.vdd_io.total,
        w.board.total,
        w.board.static_
    )
}

/// Whether `paths` make a batch: several files, or a directory.
fn is_batch(paths: &[PathBuf]) -> bool {
    paths.len() > 1 || paths.iter().any(|p| p.is_dir())
}

/// Refuses what records, draws or prices one run, for a batch.
fn refuse_for_batch(args: &RunArgs) -> Result<()> {
    for (given, flag) in [
        (args.trace.is_some(), "--trace"),
        (args.plot.is_some(), "--plot"),
        (args.probe.is_some(), "--probe"),
        (args.activity.is_some(), "--activity"),
        (args.sensitivity, "--sensitivity"),
        (args.ranges, "--ranges"),
    ] {
        if given {
            anyhow::bail!(
                "{flag} applies to a single run; with a batch of several inputs, run the sample of interest on its own"
            );
        }
    }
    Ok(())
}

/// Runs `loisim run` on a batch of S5 inputs.
fn execute_batch(args: &RunArgs) -> Result<()> {
    refuse_for_batch(args)?;
    if args.steps.is_some() {
        anyhow::bail!(
            "--steps applies to networks that are not token-based (lava-dl netx); S5 models take --tokens"
        );
    }
    let files = loisim::batch::list_files(&args.input, &["npy", "wav"], "--input")?;
    let wav_in = files.first().is_some_and(|p| loisim::audio::is_wav(p));
    if args.clean.is_some() && !wav_in {
        anyhow::bail!("--clean applies to .wav inputs");
    }
    if wav_in && args.tokens.is_some() {
        anyhow::bail!("--tokens applies to .npy inputs; a .wav input runs whole");
    }
    let clean = args
        .clean
        .as_deref()
        .map(|d| loisim::batch::pair_clean(&files, d))
        .transpose()?;
    let (model, _) = load_model_and_tokens(args.model.as_ref(), None, args.tokens, false)?;
    let samples = loisim::batch::samples(&files, clean.as_deref(), &model, args.tokens)?;
    let mut opts = RunOptions {
        modes: Modes::BOTH,
        threads: args.threads,
        output: args.output.clone(),
        trace_dir: None,
        plot_dir: None,
        trace: loisim::TraceOptions::default(),
        calibration_setup: false,
        activity: None,
    };
    let bar = batch_bar(samples.len(), args.json || args.quiet);
    let done = || bar.inc(1);
    let run = if args.reference {
        loisim::batch::run_reference_batch_with(&model, &samples, &opts, &done)
    } else {
        let chip = args.chip.chip()?;
        let sim = Simulation::compile(model, &chip, &args.chip.compile_options())?;
        opts.modes = args.mode.map_or(sim.kind().default_modes(), ModeArg::modes);
        sim.run_batch_with(&samples, &opts, &done)
    };
    bar.finish_and_clear();
    print_batch(&run?.report, args.json)
}

/// Runs `loisim run` on a batch of netx `--bias` images or `--input` arrays.
fn execute_netx_batch(args: &RunArgs, path: &std::path::Path, bias_batch: bool) -> Result<()> {
    refuse_for_batch(args)?;
    if args.probe_layers.is_some() {
        anyhow::bail!("--probe-layers needs --probe DIR");
    }
    let (flag, given) = if bias_batch {
        ("--bias", &args.bias)
    } else {
        ("--input", &args.input)
    };
    let files = loisim::batch::list_files(given, &["npy"], flag)?;
    let samples = loisim::netx::netx_samples(&files, bias_batch)?;
    let read_one = |p: Option<&PathBuf>| {
        p.map(|p| loisim::netx::read_lava_array(p))
            .transpose()
            .map_err(anyhow::Error::from)
    };
    let netx = loisim::netx::load_netx(path, &args.netx.options()?)?;
    let opts = loisim::netx::NetxRunOptions {
        input: if bias_batch {
            read_one(args.input.first())?
        } else {
            None
        },
        bias: if bias_batch {
            None
        } else {
            read_one(args.bias.first())?
        },
        steps: args.steps,
        reference: args.reference,
        threads: args.threads,
        output: args.output.clone(),
        probe_dir: None,
        probe_layers: None,
        activity: None,
    };
    let chip = args.chip.chip()?;
    let bar = batch_bar(samples.len(), args.json || args.quiet);
    let run = loisim::netx::run_netx_batch_with(
        &netx,
        &chip,
        &args.chip.netx_compile_options(&chip),
        &samples,
        &opts,
        &|| bar.inc(1),
    );
    bar.finish_and_clear();
    print_batch(&run?.report, args.json)
}

fn print_batch(r: &Report, json: bool) -> Result<()> {
    if json {
        outln!("{}", r.to_json());
    } else {
        out!("{}", batch_text(r));
    }
    Ok(())
}

/// The headline figures a batch's text shows, by their keys in `aggregate`.
const BATCH_ROWS: [(&str, &str); 14] = [
    ("tokens", "tokens"),
    (
        "fall-through latency (us/token)",
        "fall_through.latency_us_per_token",
    ),
    (
        "fall-through slowest token (us)",
        "fall_through.latency_us_per_token_max",
    ),
    (
        "fall-through energy (uJ/token, total, chip)",
        "fall_through.energy_total_uj_per_token",
    ),
    (
        "fall-through throughput (tokens/s)",
        "fall_through.throughput_tokens_per_s",
    ),
    (
        "pipeline latency (ms/sample)",
        "pipeline.latency_ms_per_sample",
    ),
    (
        "pipeline energy (mJ/sample, total, chip)",
        "pipeline.energy_total_mj_per_sample",
    ),
    (
        "pipeline energy (mJ/sample, total, board)",
        "pipeline.energy_by_domain_mj_per_sample.board.total",
    ),
    (
        "pipeline throughput (samples/s)",
        "pipeline.throughput_samples_per_s",
    ),
    ("pipeline timestep (us, mean)", "pipeline.timestep_us_mean"),
    (
        "pipeline energy (uJ/step, total, chip)",
        "pipeline.energy_total_uj_per_step",
    ),
    ("audio (s)", "audio.seconds"),
    ("SI-SNR of the output (dB)", "audio.si_snr_db"),
    ("SI-SNR improvement (dB)", "audio.si_snri_db"),
];

/// A batch's report as text: the aggregate of the headline figures.
pub(crate) fn batch_text(r: &Report) -> String {
    let mut s = String::new();
    let mut line = |t: String| {
        s.push_str(&t);
        s.push('\n');
    };
    let kind = match r.model_kind {
        loisim::ModelKind::Netx => " (netx)",
        loisim::ModelKind::Nir => " (NIR)",
        _ => "",
    };
    match r.executor {
        Executor::Reference => line(format!(
            "loisim run --reference: {}{kind} on the bit-exact reference executor",
            r.model
        )),
        Executor::Chip => line(format!(
            "loisim run: {}{kind} on {} ({}), {} cores",
            r.model,
            r.chip.as_deref().unwrap_or("?"),
            r.board.as_deref().unwrap_or("?"),
            r.cores_used.unwrap_or(0),
        )),
    }
    let names: Vec<&str> = r.per_sample.iter().map(|p| p.input.as_str()).collect();
    let step_based = matches!(
        r.model_kind,
        loisim::ModelKind::Netx | loisim::ModelKind::Nir
    );
    let length = if step_based {
        let steps: u64 = r
            .per_sample
            .iter()
            .filter_map(|p| p.pipeline.as_ref()?.steps)
            .sum();
        format!("{steps} steps")
    } else {
        format!("{} tokens", r.tokens)
    };
    line(format!(
        "batch: {} inputs ({}), {length}; each figure over the inputs (--json: per_sample, aggregate)",
        names.len(),
        match names.as_slice() {
            [] => String::new(),
            [a] => (*a).to_string(),
            [a, .., z] => format!("{a} ... {z}"),
        },
    ));
    line(format!(
        "  {:<44} {:>24} {:>12} {:>12}",
        "figure", "mean ± std", "min", "max"
    ));
    if let Some(agg) = &r.aggregate {
        for (label, key) in BATCH_ROWS {
            let Some(a) = agg.get(key) else { continue };
            if key == "tokens" && a.max == 0.0 {
                continue;
            }
            let d = decimals(a.mean.abs().max(a.min.abs()).max(a.max.abs()));
            line(format!(
                "  {label:<44} {:>24} {:>12.d$} {:>12.d$}",
                format!("{:.d$} ± {:.d$}", a.mean, a.std),
                a.min,
                a.max
            ));
        }
    }
    if let Some(a) = &r.arithmetic {
        line(format!(
            "arithmetic events (all inputs): {} saturations, {} int32 wraps, {} accumulator overflows",
            a.saturations, a.int32_wraps, a.accumulator_overflows
        ));
    }
    line(format!(
        "simulation: {:.3} s wall, {:.0} {}/s, {} thread(s)",
        r.sim.wall_s,
        r.sim.tokens_per_s,
        if step_based { "steps" } else { "tokens" },
        r.sim.threads
    ));
    if let Some(out) = &r.outputs.output {
        line(format!(
            "output: {out} (one file per input, named by its stem)"
        ));
    }
    s
}

/// Decimals that show a figure of magnitude `m` with about five significant digits.
fn decimals(m: f64) -> usize {
    if m >= 1000.0 {
        1
    } else if m >= 1.0 {
        3
    } else {
        5
    }
}
