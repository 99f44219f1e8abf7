//! `loisim run`: run a model on the simulated chip (or on the reference executor).

use crate::commands::audio::{AudioSummary, Runner, is_wav, run_wav};
use crate::commands::common::{ChipOpts, compile_model, load_model_and_tokens};
use crate::output::{self, Staging};
use anyhow::{Context, Result};
use clap::{Args, ValueEnum};
use loisim_model::Reference;
use loisim_model::stats::{ActivityCounter, ModelStats};
use loisim_sim::timing::EnergyBreakdown;
use loisim_sim::{ModeResult, SimOptions, SimResult, simulate};
use serde::Serialize;
use std::path::PathBuf;
use std::time::Instant;

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

/// Arguments of `loisim run`.
#[derive(Args, Debug)]
pub struct RunArgs {
    /// The model (`model.bin`); default: the shipped sparse 1x model that stands for the
    /// poster's deployment, compared with the poster's measurements.
    #[arg(value_name = "MODEL")]
    model: Option<PathBuf>,
    /// Run the bit-exact reference executor instead of the chip simulation.
    #[arg(long)]
    reference: bool,
    /// Modes to simulate.
    #[arg(long, value_enum, default_value_t = ModeArg::Both)]
    mode: ModeArg,
    /// Input: `.npy` [tokens, 257] (integers are the model's input integers, floats are STFT
    /// magnitudes: offset subtracted, quantized with the model's input format) or a `.wav`
    /// file (16 kHz mono), denoised frame by frame. Default: the shipped 30 s clip's features
    /// (3751 tokens, one sample).
    #[arg(long, value_name = "X.npy|X.wav")]
    input: Option<PathBuf>,
    /// Clean reference `.wav` for a `.wav` input: prints the SI-SNR of the output.
    #[arg(long, value_name = "CLEAN.wav")]
    clean: Option<PathBuf>,
    /// Run only the first N tokens.
    #[arg(long, value_name = "N")]
    tokens: Option<usize>,
    /// Write the decoder output integers as int32 [tokens, 257] `.npy`, or, for a `.wav`
    /// input, the denoised audio as `.wav`.
    #[arg(long, value_name = "Y.npy|Y.wav")]
    output: Option<PathBuf>,
    /// Print one JSON object instead of text.
    #[arg(long)]
    json: bool,
    /// Simulator threads (results do not depend on it).
    #[arg(long, default_value_t = 2)]
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
    #[command(flatten)]
    chip: ChipOpts,
}

/// The poster's Loihi 2 measurements (ICML 2025, sparse W8A16 S5, 8 samples of 3751 tokens).
pub struct Poster;

impl Poster {
    /// Fall-through latency, us per token.
    pub const FT_LATENCY_US: f64 = 76.0;
    /// Fall-through energy, uJ per token (dynamic; docs/cost-model.md).
    pub const FT_ENERGY_UJ: f64 = 13.0;
    /// Fall-through throughput, tokens per second.
    pub const FT_THROUGHPUT: f64 = 13178.0;
    /// Pipeline latency, ms per sample.
    pub const PL_LATENCY_MS: f64 = 60.58;
    /// Pipeline energy, mJ per sample (total; docs/cost-model.md).
    pub const PL_ENERGY_MJ: f64 = 185.80;
    /// Pipeline throughput, samples per second.
    pub const PL_THROUGHPUT: f64 = 16.58;
}

#[derive(Serialize)]
struct BreakdownJson {
    synaptic: f64,
    neuron: f64,
    noc: f64,
    io: f64,
    barrier: f64,
    #[serde(rename = "static")]
    static_: f64,
}

fn breakdown(e: &EnergyBreakdown, scale: f64) -> BreakdownJson {
    BreakdownJson {
        synaptic: e.synaptic_pj * scale,
        neuron: e.neuron_pj * scale,
        noc: e.noc_pj * scale,
        io: e.io_pj * scale,
        barrier: e.barrier_pj * scale,
        static_: e.static_pj * scale,
    }
}

#[derive(Serialize)]
struct FallThroughJson {
    tokens: usize,
    timesteps: u64,
    latency_us_per_token: f64,
    latency_us_per_token_max: f64,
    /// Dynamic energy per token (the poster's basis for this mode).
    energy_uj_per_token: f64,
    energy_total_uj_per_token: f64,
    throughput_tokens_per_s: f64,
    latency_ms_per_sample: f64,
    energy_mj_per_sample: f64,
    energy_breakdown_uj_per_token: BreakdownJson,
    synops_per_token: f64,
    msgs_per_token: f64,
}

#[derive(Serialize)]
struct PipelineJson {
    tokens: usize,
    timesteps: u64,
    latency_ms_per_sample: f64,
    latency_us_per_token: f64,
    timestep_us_mean: f64,
    timestep_us_max: f64,
    /// Total energy per sample, static included (the poster's basis for this mode).
    energy_mj_per_sample: f64,
    energy_dynamic_mj_per_sample: f64,
    energy_uj_per_token: f64,
    throughput_samples_per_s: f64,
    throughput_tokens_per_s: f64,
    energy_breakdown_mj_per_sample: BreakdownJson,
}

#[derive(Serialize)]
struct SimJson {
    wall_s: f64,
    threads: usize,
    tokens_per_s: f64,
    synaptic_events_per_s: f64,
}

#[derive(Serialize)]
struct PosterRow {
    figure: &'static str,
    loisim: f64,
    poster: f64,
    diff_pct: f64,
}

#[derive(Serialize)]
struct RunJson {
    model: String,
    chip: String,
    cores_used: usize,
    pipeline_depth: u32,
    tokens: usize,
    #[serde(skip_serializing_if = "Option::is_none")]
    fall_through: Option<FallThroughJson>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pipeline: Option<PipelineJson>,
    activation_density: Vec<(String, f64)>,
    saturations: u64,
    wraps: u64,
    accumulator_overflows: u64,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    poster: Vec<PosterRow>,
    #[serde(skip_serializing_if = "Option::is_none")]
    audio: Option<AudioSummary>,
    #[serde(skip_serializing_if = "Option::is_none")]
    trace_dir: Option<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    plots: Vec<String>,
    sim: SimJson,
}

fn ft_json(m: &ModeResult) -> FallThroughJson {
    let n = m.n_tokens.max(1) as f64;
    FallThroughJson {
        tokens: m.n_tokens,
        timesteps: m.n_timesteps,
        latency_us_per_token: m.token_latency_ns_mean / 1e3,
        latency_us_per_token_max: m.token_latency_ns_max / 1e3,
        energy_uj_per_token: m.energy.dynamic_pj() / n / 1e6,
        energy_total_uj_per_token: m.energy.total_pj() / n / 1e6,
        throughput_tokens_per_s: m.throughput_tokens_per_s(),
        latency_ms_per_sample: m.total_ns / 1e6,
        energy_mj_per_sample: m.energy.dynamic_pj() / 1e9,
        energy_breakdown_uj_per_token: breakdown(&m.energy, 1.0 / n / 1e6),
        synops_per_token: m.synops as f64 / n,
        msgs_per_token: m.msgs as f64 / n,
    }
}

fn pl_json(m: &ModeResult) -> PipelineJson {
    let n = m.n_tokens.max(1) as f64;
    PipelineJson {
        tokens: m.n_tokens,
        timesteps: m.n_timesteps,
        latency_ms_per_sample: m.total_ns / 1e6,
        latency_us_per_token: m.token_latency_ns_mean / 1e3,
        timestep_us_mean: m.total_ns / m.n_timesteps.max(1) as f64 / 1e3,
        timestep_us_max: m.step_ns_max / 1e3,
        energy_mj_per_sample: m.energy.total_pj() / 1e9,
        energy_dynamic_mj_per_sample: m.energy.dynamic_pj() / 1e9,
        energy_uj_per_token: m.energy.total_pj() / n / 1e6,
        throughput_samples_per_s: if m.total_ns > 0.0 {
            1e9 / m.total_ns
        } else {
            0.0
        },
        throughput_tokens_per_s: m.throughput_tokens_per_s(),
        energy_breakdown_mj_per_sample: breakdown(&m.energy, 1e-9),
    }
}

fn poster_rows(ft: Option<&FallThroughJson>, pl: Option<&PipelineJson>) -> Vec<PosterRow> {
    let mut rows = Vec::new();
    let mut row = |figure: &'static str, loisim: f64, poster: f64| {
        rows.push(PosterRow {
            figure,
            loisim,
            poster,
            diff_pct: 100.0 * (loisim - poster) / poster,
        });
    };
    if let Some(f) = ft {
        row(
            "fall-through latency (us/token)",
            f.latency_us_per_token,
            Poster::FT_LATENCY_US,
        );
        row(
            "fall-through energy (uJ/token, dynamic)",
            f.energy_uj_per_token,
            Poster::FT_ENERGY_UJ,
        );
        row(
            "fall-through throughput (tokens/s)",
            f.throughput_tokens_per_s,
            Poster::FT_THROUGHPUT,
        );
    }
    if let Some(p) = pl {
        row(
            "pipeline latency (ms/sample)",
            p.latency_ms_per_sample,
            Poster::PL_LATENCY_MS,
        );
        row(
            "pipeline energy (mJ/sample, total)",
            p.energy_mj_per_sample,
            Poster::PL_ENERGY_MJ,
        );
        row(
            "pipeline throughput (samples/s)",
            p.throughput_samples_per_s,
            Poster::PL_THROUGHPUT,
        );
    }
    rows
}

fn print_audio(a: &AudioSummary) {
    println!("audio: {:.2} s, {} tokens", a.seconds, a.tokens);
    if let (Some(si), Some(noisy), Some(gain)) = (a.si_snr_db, a.noisy_si_snr_db, a.si_snri_db) {
        println!("SI-SNR: output {si:.2} dB, noisy input {noisy:.2} dB, improvement {gain:+.2} dB");
    }
}

/// Writes collected mask integers to an `.npy` output, if one was asked for.
fn write_masks(out: Option<&PathBuf>, masks: &[Vec<i32>], width: usize) -> Result<()> {
    match out {
        Some(p) if !is_wav(p) => {
            output::write_npy_i32(p, masks, width).context("writing the output")
        }
        _ => Ok(()),
    }
}

fn run_reference_wav(args: &RunArgs, input: &std::path::Path) -> Result<()> {
    let (model, _) = load_model_and_tokens(args.model.as_ref(), None, None, false)?;
    let mut staging = Staging::new();
    let out = args
        .output
        .as_deref()
        .map(|p| staging.file(p))
        .transpose()?;
    let mut masks = Vec::new();
    let collect = out.as_ref().is_some_and(|p| !is_wav(p));
    let wav_out = out.as_deref().filter(|p| is_wav(p));
    let start = Instant::now();
    let summary = run_wav(
        &model,
        &mut Runner::Reference(Reference::new(&model)?),
        input,
        wav_out,
        args.clean.as_deref(),
        collect.then_some(&mut masks),
    )?;
    let wall_s = start.elapsed().as_secs_f64();
    write_masks(out.as_ref(), &masks, model.dims.d_output as usize)?;
    staging.commit()?;
    if args.json {
        let j = serde_json::json!({ "mode": "reference", "model": model.name, "audio": summary, "sim": { "wall_s": wall_s } });
        println!("{}", serde_json::to_string_pretty(&j)?);
        return Ok(());
    }
    println!("loisim run --reference: the bit-exact fixed-point reference executor");
    println!("model    {}", model.name);
    print_audio(&summary);
    if let Some(out) = &args.output {
        println!("output   {}", out.display());
    }
    Ok(())
}

fn run_reference(args: &RunArgs) -> Result<()> {
    if let Some(input) = args.input.as_ref().filter(|p| is_wav(p)) {
        return run_reference_wav(args, input);
    }
    let (model, tokens) =
        load_model_and_tokens(args.model.as_ref(), args.input.as_ref(), args.tokens, true)?;
    let tokens = tokens.unwrap_or_default();
    let start = Instant::now();
    let mut r = Reference::new(&model)?;
    let mut activity = ActivityCounter::new(&model);
    let mut outputs = Vec::with_capacity(tokens.len());
    for t in &tokens {
        let trace = r.step_traced(t)?;
        activity.add(t, &trace);
        outputs.push(trace.output);
    }
    let wall_s = start.elapsed().as_secs_f64();
    if let Some(out) = &args.output {
        output::write_npy_i32(out, &outputs, model.dims.d_output as usize)
            .context("writing the output")?;
    }
    let stats = ModelStats::of(&model);
    let density: Vec<(String, f64)> = model
        .matrices()
        .into_iter()
        .map(|(n, _)| n)
        .zip(activity.input_density())
        .collect();
    let active = activity.active_macs(&model);
    if args.json {
        let j = serde_json::json!({
            "mode": "reference",
            "model": model.name,
            "tokens": tokens.len(),
            "input_density": density,
            "macs_per_token_dense": stats.macs_dense,
            "macs_per_token_effective": stats.macs_effective,
            "macs_per_token_active": active,
            "sim": { "wall_s": wall_s, "tokens_per_s": tokens.len() as f64 / wall_s.max(1e-12) },
        });
        println!("{}", serde_json::to_string_pretty(&j)?);
        return Ok(());
    }
    println!("loisim run --reference: the bit-exact fixed-point reference executor");
    println!("model    {}", model.name);
    println!(
        "tokens   {} in {:.3} s ({:.0} tokens/s)",
        tokens.len(),
        wall_s,
        tokens.len() as f64 / wall_s.max(1e-12)
    );
    println!("activation density (non-zero inputs of each matrix):");
    for (n, d) in &density {
        println!("  {n:<16} {:>6.1}%", 100.0 * d);
    }
    println!(
        "MACs per token: dense {}, non-zero weights {}, non-zero weights x non-zero inputs {:.0}",
        stats.macs_dense, stats.macs_effective, active
    );
    if let Some(out) = &args.output {
        println!(
            "output   {} (int32 [{}, {}])",
            out.display(),
            outputs.len(),
            model.dims.d_output
        );
    }
    Ok(())
}

/// Runs `loisim run`.
pub fn execute(args: RunArgs) -> Result<()> {
    let wav_in = args.input.as_deref().is_some_and(is_wav);
    if args.output.as_deref().is_some_and(is_wav) && !wav_in {
        anyhow::bail!("a .wav output needs a .wav input (the cleaned audio uses the noisy phase)");
    }
    if args.clean.is_some() && !wav_in {
        anyhow::bail!("--clean applies to a .wav input");
    }
    if wav_in && args.tokens.is_some() {
        anyhow::bail!("--tokens applies to .npy inputs; a .wav input runs whole");
    }
    // Refused before anything runs (the outputs are staged and moved into place at the end).
    for dir in [&args.trace, &args.plot].into_iter().flatten() {
        if dir.exists() && !dir.is_dir() {
            anyhow::bail!(
                "cannot write {}: it exists and is not a directory",
                dir.display()
            );
        }
    }
    if args.reference {
        return run_reference(&args);
    }
    if args.threads == 0 {
        anyhow::bail!("--threads must be at least 1");
    }
    if wav_in {
        return run_chip_wav(&args);
    }
    let is_default = args.model.is_none();
    let (model, tokens) =
        load_model_and_tokens(args.model.as_ref(), args.input.as_ref(), args.tokens, true)?;
    let tokens = tokens.unwrap_or_default();
    let (prog, _) = compile_model(&model, &args.chip, None)?;
    let opts = SimOptions {
        fall_through: args.mode != ModeArg::Pipeline,
        pipeline: args.mode != ModeArg::FallThrough,
        threads: args.threads,
    };
    let mut staging = Staging::new();
    let out = args
        .output
        .as_deref()
        .map(|p| staging.file(p))
        .transpose()?;
    let bar = progress_bar(tokens.len() as u64, args.json || args.quiet);
    let (mut writer, _tmp) = trace_writer(&args, &prog, &mut staging)?;
    let mut tick = |n: usize| {
        if n.is_multiple_of(64) || n == tokens.len() {
            bar.set_position(n as u64);
        }
    };
    let start = Instant::now();
    let res = simulate(
        &prog,
        &tokens,
        &opts,
        writer.as_mut().map(|w| w as &mut dyn loisim_sim::TraceSink),
        Some(&mut tick),
    )?;
    let wall_s = start.elapsed().as_secs_f64();
    bar.finish_and_clear();
    if let Some(out) = &out {
        output::write_npy_i32(out, &res.outputs, model.dims.d_output as usize)
            .context("writing the output")?;
    }
    let plots = finish_trace(&args, writer, &res, &mut staging)?;
    staging.commit()?;
    report(
        &args,
        &model,
        &prog,
        &res,
        wall_s,
        tokens.len(),
        is_default,
        None,
        &plots,
    )
}

fn run_chip_wav(args: &RunArgs) -> Result<()> {
    let (model, _) = load_model_and_tokens(args.model.as_ref(), None, None, false)?;
    let input = args.input.clone().unwrap_or_default();
    let (prog, _) = compile_model(&model, &args.chip, None)?;
    let opts = SimOptions {
        fall_through: args.mode != ModeArg::Pipeline,
        pipeline: args.mode != ModeArg::FallThrough,
        threads: args.threads,
    };
    let mut session = loisim_sim::Session::new(&prog, &opts);
    let mut staging = Staging::new();
    let out = args
        .output
        .as_deref()
        .map(|p| staging.file(p))
        .transpose()?;
    let (mut writer, _tmp) = trace_writer(args, &prog, &mut staging)?;
    let mut masks = Vec::new();
    let collect = out.as_ref().is_some_and(|p| !is_wav(p));
    let start = Instant::now();
    let summary = run_wav(
        &model,
        &mut Runner::Chip(
            &mut session,
            writer.as_mut().map(|w| w as &mut dyn loisim_sim::TraceSink),
        ),
        &input,
        out.as_deref().filter(|p| is_wav(p)),
        args.clean.as_deref(),
        collect.then_some(&mut masks),
    )?;
    let res = session.finish(writer.as_mut().map(|w| w as &mut dyn loisim_sim::TraceSink));
    let wall_s = start.elapsed().as_secs_f64();
    write_masks(out.as_ref(), &masks, model.dims.d_output as usize)?;
    let plots = finish_trace(args, writer, &res, &mut staging)?;
    staging.commit()?;
    report(
        args,
        &model,
        &prog,
        &res,
        wall_s,
        summary.tokens,
        false,
        Some(summary),
        &plots,
    )
}

/// The trace options of the arguments.
fn trace_options(args: &RunArgs) -> Result<loisim_trace::TraceOptions> {
    let w = args.trace_window.trim();
    let (start, count) = match w.split_once(':') {
        Some((a, b)) => (a.trim().parse::<usize>(), b.trim().parse::<usize>()),
        None => (Ok(0), w.parse::<usize>()),
    };
    match (start, count) {
        (Ok(window_start), Ok(window_tokens)) if window_tokens > 0 => {
            Ok(loisim_trace::TraceOptions {
                window_start,
                window_tokens,
                ..loisim_trace::TraceOptions::default()
            })
        }
        _ => anyhow::bail!("--trace-window `{w}`: expected COUNT or START:COUNT with COUNT >= 1"),
    }
}

/// A trace writer when `--trace` or `--plot` asks for one (with `--plot` alone the trace goes
/// to a temporary directory, kept alive by the returned guard).
fn trace_writer<'p>(
    args: &RunArgs,
    prog: &'p loisim_compiler::Program,
    staging: &mut Staging,
) -> Result<(
    Option<loisim_trace::TraceWriter<'p>>,
    Option<tempfile::TempDir>,
)> {
    let opts = trace_options(args)?;
    match (&args.trace, &args.plot) {
        (Some(dir), _) => Ok((
            Some(loisim_trace::TraceWriter::create(
                prog,
                &staging.dir(dir)?,
                &opts,
            )?),
            None,
        )),
        (None, Some(_)) => {
            let tmp = tempfile::tempdir()?;
            Ok((
                Some(loisim_trace::TraceWriter::create(prog, tmp.path(), &opts)?),
                Some(tmp),
            ))
        }
        (None, None) => Ok((None, None)),
    }
}

/// Finishes the trace and draws the figures.
fn finish_trace(
    args: &RunArgs,
    writer: Option<loisim_trace::TraceWriter<'_>>,
    res: &SimResult,
    staging: &mut Staging,
) -> Result<Vec<PathBuf>> {
    let Some(w) = writer else {
        return Ok(Vec::new());
    };
    let series = w.finish(res)?;
    match &args.plot {
        Some(dir) => {
            let staged = staging.dir(dir)?;
            let plots = loisim_trace::plot::plot_run(&series, &staged)?;
            Ok(plots.iter().map(|p| staging.final_path(p)).collect())
        }
        None => Ok(Vec::new()),
    }
}

fn progress_bar(len: u64, quiet: bool) -> indicatif::ProgressBar {
    let bar = indicatif::ProgressBar::new(len);
    if quiet || !std::io::IsTerminal::is_terminal(&std::io::stderr()) {
        bar.set_draw_target(indicatif::ProgressDrawTarget::hidden());
    } else if let Ok(style) =
        indicatif::ProgressStyle::with_template("{bar:40} {pos}/{len} tokens {per_sec} eta {eta}")
    {
        bar.set_style(style);
    }
    bar
}

#[allow(clippy::too_many_arguments)]
fn report(
    args: &RunArgs,
    model: &loisim_model::Model,
    prog: &loisim_compiler::Program,
    res: &SimResult,
    wall_s: f64,
    n_tokens: usize,
    is_default: bool,
    audio: Option<AudioSummary>,
    plots: &[PathBuf],
) -> Result<()> {
    let ft = res.fall_through.as_ref().map(ft_json);
    let pl = res.pipeline.as_ref().map(pl_json);
    let synops = res
        .fall_through
        .as_ref()
        .or(res.pipeline.as_ref())
        .map_or(0, |m| m.synops);
    let density: Vec<(String, f64)> = prog
        .network
        .populations
        .iter()
        .zip(&res.activity)
        .flat_map(|(p, chs)| {
            p.channels
                .iter()
                .zip(chs)
                .map(|(c, d)| (c.name.clone(), *d))
        })
        .collect();
    let (sat, wraps, ovf) = res.events.iter().fold((0, 0, 0), |a, e| {
        (
            a.0 + e.program.saturations,
            a.1 + e.program.wraps,
            a.2 + e.accumulator_overflows,
        )
    });
    let poster = if is_default {
        poster_rows(ft.as_ref(), pl.as_ref())
    } else {
        Vec::new()
    };
    let sim = SimJson {
        wall_s,
        threads: args.threads,
        tokens_per_s: n_tokens as f64 / wall_s.max(1e-12),
        synaptic_events_per_s: synops as f64 / wall_s.max(1e-12),
    };
    let j = RunJson {
        model: model.name.clone(),
        chip: prog.chip.name.clone(),
        cores_used: prog.cores.len(),
        pipeline_depth: prog.depth,
        tokens: n_tokens,
        fall_through: ft,
        pipeline: pl,
        activation_density: density,
        saturations: sat,
        wraps,
        accumulator_overflows: ovf,
        poster,
        audio,
        trace_dir: args.trace.as_ref().map(|p| p.display().to_string()),
        plots: plots.iter().map(|p| p.display().to_string()).collect(),
        sim,
    };
    if args.json {
        println!("{}", serde_json::to_string_pretty(&j)?);
        return Ok(());
    }
    println!(
        "loisim run: {} on {} ({}), {} cores, {} timesteps per token",
        j.model, prog.chip.name, prog.chip.board.name, j.cores_used, j.pipeline_depth
    );
    println!("input: {} tokens (one sample)", n_tokens);
    println!();
    if let Some(f) = &j.fall_through {
        println!(
            "fall-through  latency {:>9.2} us/token   energy {:>8.2} uJ/token dynamic ({:.2} with static)   throughput {:>9.0} tokens/s",
            f.latency_us_per_token,
            f.energy_uj_per_token,
            f.energy_total_uj_per_token,
            f.throughput_tokens_per_s
        );
        let b = &f.energy_breakdown_uj_per_token;
        println!(
            "              uJ/token: synaptic {:.3}  neuron {:.3}  noc {:.3}  io {:.3}  barrier {:.4}  static {:.3}",
            b.synaptic, b.neuron, b.noc, b.io, b.barrier, b.static_
        );
    }
    if let Some(p) = &j.pipeline {
        println!(
            "pipeline      latency {:>9.2} ms/sample  energy {:>8.2} mJ/sample total ({:.2} dynamic)     throughput {:>9.2} samples/s",
            p.latency_ms_per_sample,
            p.energy_mj_per_sample,
            p.energy_dynamic_mj_per_sample,
            p.throughput_samples_per_s
        );
        let b = &p.energy_breakdown_mj_per_sample;
        println!(
            "              mJ/sample: synaptic {:.3}  neuron {:.3}  noc {:.3}  io {:.3}  barrier {:.4}  static {:.3};  timestep {:.2} us mean, {:.2} us max",
            b.synaptic,
            b.neuron,
            b.noc,
            b.io,
            b.barrier,
            b.static_,
            p.timestep_us_mean,
            p.timestep_us_max
        );
    }
    if !j.poster.is_empty() {
        println!();
        println!("compared with the poster (Intel Loihi 2, sparse W8A16 S5, ICML 2025):");
        println!(
            "  {:<42} {:>12} {:>12} {:>8}",
            "figure", "loisim", "poster", "diff"
        );
        for r in &j.poster {
            println!(
                "  {:<42} {:>12.2} {:>12.2} {:>+7.1}%",
                r.figure, r.loisim, r.poster, r.diff_pct
            );
        }
    }
    println!();
    println!("activation density (non-zero outputs per channel):");
    let line: Vec<String> = j
        .activation_density
        .iter()
        .map(|(n, d)| format!("{n} {:.0}%", 100.0 * d))
        .collect();
    for chunk in line.chunks(6) {
        println!("  {}", chunk.join("  "));
    }
    println!(
        "arithmetic events: {} saturations, {} int32 wraps, {} accumulator overflows",
        j.saturations, j.wraps, j.accumulator_overflows
    );
    println!(
        "simulation: {:.3} s wall, {:.0} tokens/s, {:.2e} synaptic events/s, {} thread(s)",
        j.sim.wall_s, j.sim.tokens_per_s, j.sim.synaptic_events_per_s, j.sim.threads
    );
    if let Some(t) = &j.trace_dir {
        println!(
            "trace: {t} (timesteps.csv, cores.csv, core_summary.csv, trace.json for ui.perfetto.dev, series.json)"
        );
    }
    for p in &j.plots {
        println!("plot: {p}");
    }
    let model_dims = &model.dims;
    if let Some(out) = &args.output {
        if is_wav(out) {
            println!("output: {} (denoised audio)", out.display());
        } else {
            println!(
                "output: {} (int32 [{}, {}])",
                out.display(),
                n_tokens,
                model_dims.d_output
            );
        }
    }
    Ok(())
}
