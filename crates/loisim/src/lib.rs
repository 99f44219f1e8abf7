//! loisim's library entry point: a model, a chip and inputs in, a [`Report`] out.
//!
//! ```no_run
//! # fn main() -> loisim::Result<()> {
//! let model = loisim::load_model(&loisim::paths::shipped(loisim::paths::DEFAULT_MODEL)?)?;
//! let chip = loisim::Chip::load("loihi2")?;
//! let sim = loisim::Simulation::compile(model, &chip, &loisim::CompileOptions::default())?;
//! let tokens = loisim::read_tokens(&loisim::paths::shipped(loisim::paths::DEFAULT_INPUT)?, sim.model())?;
//! let run = sim.run(&loisim::Input::Tokens(tokens), &loisim::RunOptions::default(), None)?;
//! println!("{}", run.report.to_json());
//! # Ok(()) }
//! ```
//!
//! The command-line tool, xtask and every other front end are thin users of this crate: the
//! figures of a run are computed here and nowhere else ([`report`]). The library does no
//! terminal I/O; the files it writes (outputs, traces, figures) are staged and moved into place
//! only when the whole run has succeeded ([`output::Staging`]).

pub mod audio;
pub mod batch;
pub mod calibration;
pub mod error;
pub mod netx;
pub mod nir;
pub mod output;
pub mod paths;
pub mod replay;
pub mod report;
pub mod sensitivity;
pub mod sweep;

pub use error::{Error, Result};
pub use loisim_arch::Chip;
pub use loisim_compiler::report::MapReport;
pub use loisim_compiler::{CompileOptions, Program};
pub use loisim_model::Model;
pub use loisim_sim::TraceSink;
pub use loisim_trace::TraceOptions;
pub use report::{Report, SCHEMA_VERSION};

use loisim_compiler::Activity;
use loisim_model::Reference;
use loisim_model::stats::ActivityCounter;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

/// The kinds of model loisim runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum ModelKind {
    /// A quantized sparse S5 model (`model.bin`): token-based, fall-through and pipeline.
    S5,
    /// A lava-dl netx network (`.net`): step-based, pipelined by construction.
    Netx,
    /// A NIR graph (`.nir`, or built in memory), lowered onto a netx network and run as one:
    /// step-based, pipelined.
    Nir,
}

impl ModelKind {
    /// The modes a run of this kind simulates unless told otherwise.
    #[must_use]
    pub fn default_modes(self) -> Modes {
        match self {
            Self::S5 => Modes::BOTH,
            Self::Netx | Self::Nir => Modes::PIPELINE,
        }
    }

    /// The modes this kind can run in.
    #[must_use]
    pub fn supported_modes(self) -> Modes {
        match self {
            Self::S5 => Modes::BOTH,
            Self::Netx | Self::Nir => Modes::PIPELINE,
        }
    }
}

/// Which timing modes to simulate.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Modes {
    /// One token at a time (lowest latency).
    pub fall_through: bool,
    /// A token every timestep (highest throughput).
    pub pipeline: bool,
}

impl Modes {
    /// Both modes.
    pub const BOTH: Self = Self {
        fall_through: true,
        pipeline: true,
    };
    /// Fall-through only.
    pub const FALL_THROUGH: Self = Self {
        fall_through: true,
        pipeline: false,
    };
    /// Pipeline only.
    pub const PIPELINE: Self = Self {
        fall_through: false,
        pipeline: true,
    };
}

/// What a run takes in.
#[derive(Clone, Debug, PartialEq)]
pub enum Input {
    /// The model's input integers, one row per token.
    Tokens(Vec<Vec<i32>>),
    /// A 16 kHz mono WAV file, denoised frame by frame (streamed, bounded memory), and
    /// optionally its clean twin for SI-SNR.
    Wav {
        /// The noisy audio.
        path: PathBuf,
        /// The clean reference.
        clean: Option<PathBuf>,
    },
}

/// How to run.
#[derive(Clone, Debug, PartialEq)]
pub struct RunOptions {
    /// Modes to simulate.
    pub modes: Modes,
    /// Simulator threads (results never depend on it).
    pub threads: usize,
    /// Write the output integers (`.npy`, int32 `[tokens, outputs]`) or, for a WAV input, the
    /// denoised audio (`.wav`) here.
    pub output: Option<PathBuf>,
    /// Write a trace directory here.
    pub trace_dir: Option<PathBuf>,
    /// Draw the run's figures (PNG and SVG) into this directory.
    pub plot_dir: Option<PathBuf>,
    /// What the trace covers in detail.
    pub trace: TraceOptions,
    /// Report the calibration targets. They are reported only when this is set (the caller
    /// knows the default model runs on its full default input) and the chip is the unmodified
    /// default chip: anywhere else the poster's figures describe a different experiment.
    pub calibration_setup: bool,
    /// Record the run's activity here (an activity file: [`replay`]), to price it again at
    /// other chip costs without running the model.
    pub activity: Option<PathBuf>,
}

/// The threads a run uses unless told otherwise: every core the machine offers (results never
/// depend on it).
#[must_use]
pub fn default_threads() -> usize {
    std::thread::available_parallelism().map_or(1, std::num::NonZero::get)
}

impl Default for RunOptions {
    fn default() -> Self {
        Self {
            modes: Modes::BOTH,
            threads: default_threads(),
            output: None,
            trace_dir: None,
            plot_dir: None,
            trace: TraceOptions::default(),
            calibration_setup: false,
            activity: None,
        }
    }
}

/// What a run gives back.
#[derive(Clone, Debug, PartialEq)]
pub struct Run {
    /// Every figure.
    pub report: Report,
    /// The output integers, one row per token (for a WAV input only when `output` asked for
    /// an `.npy` file, since a stream's outputs are otherwise not kept).
    pub outputs: Vec<Vec<i32>>,
}

/// Reads and validates a `model.bin` (size-capped before reading).
///
/// # Errors
/// A missing, oversized, truncated or corrupt file, or a model that fails validation.
pub fn load_model(path: &Path) -> Result<Model> {
    let meta = std::fs::metadata(path).map_err(|e| Error::io("cannot read model", path, e))?;
    if meta.is_dir() {
        return Err(Error::Invalid(format!(
            "cannot read model {}: it is a directory",
            path.display()
        )));
    }
    if meta.len() > loisim_model::codec::MAX_FILE_LEN {
        return Err(Error::Invalid(format!(
            "model {} is {} bytes, more than the {} loisim reads",
            path.display(),
            meta.len(),
            loisim_model::codec::MAX_FILE_LEN
        )));
    }
    // The cap holds on the bytes read too: a pipe or a device reports a length of 0.
    let mut bytes = Vec::new();
    std::fs::File::open(path)
        .and_then(|f| {
            std::io::Read::read_to_end(
                &mut std::io::Read::take(f, loisim_model::codec::MAX_FILE_LEN + 1),
                &mut bytes,
            )
        })
        .map_err(|e| Error::io("cannot read model", path, e))?;
    loisim_model::codec::decode(&bytes).map_err(|source| Error::Model {
        path: path.to_path_buf(),
        source,
    })
}

/// Reads a model's input tokens from `.npy` / `.npz` (integers as they are, float STFT
/// magnitudes quantized with the model's input format).
///
/// # Errors
/// Unreadable files, wrong shapes or dtypes, values that do not fit.
pub fn read_tokens(path: &Path, model: &Model) -> Result<Vec<Vec<i32>>> {
    Ok(loisim_import::input::read_tokens(path, model)?)
}

/// Whether a path is an S5 fixed-point export v1 (`model.json`, or a `.safetensors` with its
/// `.json` beside it) rather than a float checkpoint.
#[must_use]
pub fn is_export_v1(path: &Path) -> bool {
    let ext = path
        .extension()
        .and_then(|e| e.to_str())
        .unwrap_or_default()
        .to_ascii_lowercase();
    match ext.as_str() {
        "json" => true,
        "safetensors" => path.with_extension("json").is_file(),
        _ => false,
    }
}

/// Imports a model: an S5 fixed-point export v1, or a float checkpoint (`.safetensors` /
/// `.npz`) quantized with `qconfig` (or the spec's rules) and run-time exponents frozen on
/// `calibration`.
///
/// # Errors
/// Unreadable or inconsistent files; options that do not apply to the file's kind.
pub fn import(path: &Path, qconfig: Option<&Path>, calibration: Option<&Path>) -> Result<Model> {
    if !path.exists() {
        return Err(Error::Invalid(format!(
            "cannot read {}: no such file",
            path.display()
        )));
    }
    if is_export_v1(path) {
        if qconfig.is_some() || calibration.is_some() {
            return Err(Error::Invalid(
                "--qconfig and --calibration apply to float checkpoints; an export v1 is already quantized"
                    .into(),
            ));
        }
        return Ok(loisim_import::export_v1::import_export_v1(path)?);
    }
    let Some(cal) = calibration else {
        return Err(Error::Invalid(format!(
            "{} is a float checkpoint: pass --calibration X.npy, the input on which the run-time exponents are frozen",
            path.display()
        )));
    };
    Ok(loisim_import::import_float(path, qconfig, cal)?)
}

/// A model compiled onto a chip, ready to run any number of times. Cheap to clone: the model
/// and the program are shared.
#[derive(Clone, Debug)]
pub struct Simulation {
    kind: ModelKind,
    model: Arc<Model>,
    program: Arc<Program>,
}

impl Simulation {
    /// Compiles `model` onto `chip`.
    ///
    /// # Errors
    /// A model that does not fit the chip.
    pub fn compile(model: Model, chip: &Chip, options: &CompileOptions) -> Result<Self> {
        let program = loisim_compiler::compile(&model, chip, options, None).map_err(|source| {
            Error::Compile {
                model: model.name.clone(),
                chip: chip.name.clone(),
                source: Box::new(source),
            }
        })?;
        Ok(Self {
            kind: ModelKind::S5,
            model: Arc::new(model),
            program: Arc::new(program),
        })
    }

    /// The model.
    #[must_use]
    pub fn model(&self) -> &Model {
        &self.model
    }

    /// The model's kind.
    #[must_use]
    pub fn kind(&self) -> ModelKind {
        self.kind
    }

    /// The compiled program.
    #[must_use]
    pub fn program(&self) -> &Program {
        &self.program
    }

    /// The compiled program, shared.
    #[must_use]
    pub fn program_arc(&self) -> Arc<Program> {
        Arc::clone(&self.program)
    }

    /// The mapping report; with tokens, activity is measured on them (with the reference
    /// executor), otherwise every neuron output is assumed non-zero. Placement never depends
    /// on the tokens.
    ///
    /// # Errors
    /// Tokens that do not suit the model.
    pub fn map_report(&self, tokens: Option<&[Vec<i32>]>) -> Result<MapReport> {
        let activity = match tokens {
            Some(t) => Activity::measure(&self.model, &self.program.network, t)?,
            None => Activity::all_active(&self.program.network),
        };
        Ok(MapReport::new(&self.program, &activity))
    }

    /// Runs `input` on the simulated chip. `progress` is called with the number of tokens
    /// done so far.
    ///
    /// # Errors
    /// Inputs that do not suit the model, unreadable or unwritable files, a modes choice the
    /// model's kind does not support.
    pub fn run(
        &self,
        input: &Input,
        opts: &RunOptions,
        progress: Option<&mut dyn FnMut(usize)>,
    ) -> Result<Run> {
        check_modes(self.kind, opts.modes)?;
        if opts.threads == 0 {
            return Err(Error::Invalid("--threads must be at least 1".into()));
        }
        let sim_opts = loisim_sim::SimOptions {
            fall_through: opts.modes.fall_through,
            pipeline: opts.modes.pipeline,
            threads: opts.threads,
        };
        let files = RunFiles::stage(opts, input)?;
        let prog = &*self.program;
        let mut writer = files.trace_writer(prog, opts)?;
        let recorder = files
            .activity
            .as_deref()
            .map(|p| {
                replay::Recorder::create(
                    p,
                    replay::RecordingOf {
                        kind: self.kind,
                        fall_through: opts.modes.fall_through,
                        pipeline: opts.modes.pipeline,
                        reset_interval: None,
                    },
                    &prog.chip,
                    &loisim_sim::timing::TimingModel::parts(prog),
                )
                .map(replay::SharedRecorder::new)
            })
            .transpose()?;
        let start = Instant::now();
        let (res, audio, outputs) = match input {
            Input::Tokens(tokens) => {
                let res = if tokens.is_empty() {
                    return Err(loisim_sim::SimError::Empty.into());
                } else {
                    // What `loisim_sim::simulate` does, with the work recorded when asked.
                    let mut session = loisim_sim::Session::new(prog, &sim_opts);
                    if let Some(r) = &recorder {
                        session.record_work(Box::new(r.clone()));
                    }
                    let outputs = session.run(
                        tokens,
                        writer.as_mut().map(|w| w as &mut dyn TraceSink),
                        progress,
                    )?;
                    let mut res = session.finish(writer.as_mut().map(|w| w as &mut dyn TraceSink));
                    res.outputs = outputs;
                    res
                };
                if let Some(out) = &files.output {
                    output::write_npy_i32(out, &res.outputs, self.model.dims.d_output as usize)?;
                }
                let outputs = res.outputs.clone();
                (res, None, outputs)
            }
            Input::Wav { path, clean } => {
                let mut session = loisim_sim::Session::new(prog, &sim_opts);
                if let Some(r) = &recorder {
                    session.record_work(Box::new(r.clone()));
                }
                let mut masks = Vec::new();
                let keep = files.output.as_deref().is_some_and(|p| !audio::is_wav(p));
                let summary = audio::denoise(
                    &self.model,
                    &mut audio::Runner::Chip(
                        &mut session,
                        writer.as_mut().map(|w| w as &mut dyn TraceSink),
                    ),
                    path,
                    files.output.as_deref().filter(|p| audio::is_wav(p)),
                    clean.as_deref(),
                    keep.then_some(&mut masks),
                )?;
                let res = session.finish(writer.as_mut().map(|w| w as &mut dyn TraceSink));
                if let Some(out) = files.output.as_deref().filter(|_| keep) {
                    output::write_npy_i32(out, &masks, self.model.dims.d_output as usize)?;
                }
                (res, Some(summary), masks)
            }
        };
        let wall_s = start.elapsed().as_secs_f64();
        let mut report = Report::of_chip(&self.model, self.kind, prog, &res);
        report.tokens = audio.as_ref().map_or(report.tokens, |a| a.tokens);
        report.audio = audio;
        report.sim = report::SimSpeed::new(wall_s, res.threads, report.tokens, report.synops());
        if opts.calibration_setup && prog.chip == Chip::default_chip() {
            report.calibration_targets = Some(report::CalibrationTargets::poster(
                report.fall_through.as_ref(),
                report.pipeline.as_ref(),
            ));
        }
        if let Some(r) = recorder.as_ref().and_then(replay::SharedRecorder::take) {
            r.finish(&report, opts.calibration_setup)?;
        }
        report.outputs = files.finish(writer, &res, opts)?;
        Ok(Run { report, outputs })
    }
}

/// A streaming simulation that owns what it reads (no borrowed lifetime, so a binding or another
/// thread can hold it): feed tokens chunk by chunk in bounded memory, then
/// [`Session::finish`] for the report. Chunking never changes a result.
#[derive(Debug)]
pub struct Session {
    sim: Simulation,
    inner: loisim_sim::Session<'static>,
    start: Instant,
    threads: usize,
}

impl Simulation {
    /// Starts a streaming simulation from the zero state.
    ///
    /// # Errors
    /// A modes choice the model's kind does not support, zero threads.
    pub fn session(&self, modes: Modes, threads: usize) -> Result<Session> {
        check_modes(self.kind, modes)?;
        if threads == 0 {
            return Err(Error::Invalid("--threads must be at least 1".into()));
        }
        let opts = loisim_sim::SimOptions {
            fall_through: modes.fall_through,
            pipeline: modes.pipeline,
            threads,
        };
        Ok(Session {
            sim: self.clone(),
            inner: loisim_sim::Session::new(self.program_arc(), &opts),
            start: Instant::now(),
            threads,
        })
    }
}

impl Session {
    /// Runs the next tokens; returns their outputs.
    ///
    /// # Errors
    /// Tokens that do not suit the model.
    pub fn run(&mut self, tokens: &[Vec<i32>]) -> Result<Vec<Vec<i32>>> {
        Ok(self.inner.run(tokens, None, None)?)
    }

    /// Tokens run so far.
    #[must_use]
    pub fn tokens(&self) -> usize {
        self.inner.n_tokens()
    }

    /// Ends the run: the report of every token fed.
    #[must_use]
    pub fn finish(self) -> Report {
        let res = self.inner.finish(None);
        let mut report = Report::of_chip(&self.sim.model, self.sim.kind, &self.sim.program, &res);
        report.sim = report::SimSpeed::new(
            self.start.elapsed().as_secs_f64(),
            res.threads.min(self.threads),
            report.tokens,
            report.synops(),
        );
        report
    }
}

/// Runs `input` on the bit-exact reference executor (no chip, no cost figures).
///
/// # Errors
/// Inputs that do not suit the model, unreadable or unwritable files.
pub fn run_reference(model: &Model, input: &Input, opts: &RunOptions) -> Result<Run> {
    if opts.activity.is_some() {
        return Err(Error::Invalid(
            "--activity records the simulated chip's work; run without --reference".into(),
        ));
    }
    let files = RunFiles::stage(opts, input)?;
    let start = Instant::now();
    let mut r = Reference::new(model)?;
    let width = model.dims.d_output as usize;
    let mut report = Report {
        schema_version: SCHEMA_VERSION,
        executor: report::Executor::Reference,
        model: model.name.clone(),
        model_kind: ModelKind::S5,
        chip: None,
        board: None,
        cores_used: None,
        pipeline_depth_timesteps: None,
        samples: 1,
        tokens: 0,
        inputs_per_token: model.dims.d_input as usize,
        outputs_per_token: width,
        fall_through: None,
        pipeline: None,
        per_sample: Vec::new(),
        aggregate: None,
        activation_density: Vec::new(),
        arithmetic: None,
        model_size: report::ModelSize::of(model),
        macs_active_per_token: None,
        calibration_targets: None,
        audio: None,
        outputs: report::Outputs::default(),
        sim: report::SimSpeed::default(),
        layers: Vec::new(),
        probe_dir: None,
        sensitivity: None,
        ranges: None,
    };
    let outputs = match input {
        Input::Tokens(tokens) => {
            let mut activity = ActivityCounter::new(model);
            let mut outputs = Vec::with_capacity(tokens.len());
            for t in tokens {
                let trace = r.step_traced(t)?;
                activity.add(t, &trace);
                outputs.push(trace.output);
            }
            report.activation_density = model
                .matrices()
                .into_iter()
                .map(|(n, _)| n)
                .zip(activity.input_density())
                .map(|(channel, nonzero_fraction)| report::ChannelDensity {
                    channel,
                    nonzero_fraction,
                })
                .collect();
            report.macs_active_per_token = Some(activity.active_macs(model));
            report.tokens = tokens.len();
            if let Some(out) = &files.output {
                output::write_npy_i32(out, &outputs, width)?;
            }
            outputs
        }
        Input::Wav { path, clean } => {
            let mut masks = Vec::new();
            let keep = files.output.as_deref().is_some_and(|p| !audio::is_wav(p));
            let summary = audio::denoise(
                model,
                &mut audio::Runner::Reference(r),
                path,
                files.output.as_deref().filter(|p| audio::is_wav(p)),
                clean.as_deref(),
                keep.then_some(&mut masks),
            )?;
            if let Some(out) = files.output.as_deref().filter(|_| keep) {
                output::write_npy_i32(out, &masks, width)?;
            }
            report.tokens = summary.tokens;
            report.audio = Some(summary);
            masks
        }
    };
    report.sim = report::SimSpeed::new(start.elapsed().as_secs_f64(), 1, report.tokens, 0);
    report.outputs = files.commit()?;
    Ok(Run { report, outputs })
}

fn check_modes(kind: ModelKind, modes: Modes) -> Result<()> {
    let ok = kind.supported_modes();
    if (!modes.fall_through && !modes.pipeline)
        || (modes.fall_through && !ok.fall_through)
        || (modes.pipeline && !ok.pipeline)
    {
        return Err(Error::Invalid(format!(
            "{kind:?} models run in {}",
            match (ok.fall_through, ok.pipeline) {
                (true, true) => "fall-through and pipeline modes",
                (true, false) => "fall-through mode only",
                _ => "pipeline mode only",
            }
        )));
    }
    Ok(())
}

/// The files of one run, staged until the run has succeeded.
struct RunFiles {
    staging: output::Staging,
    /// Where the output is written (staged).
    output: Option<PathBuf>,
    /// Where the activity is recorded (staged).
    activity: Option<PathBuf>,
    /// Where the trace is written (staged, or a temporary directory for plots alone).
    trace: Option<PathBuf>,
    /// Keeps the temporary trace of a plot-only run.
    _scratch: Option<tempfile::TempDir>,
}

impl RunFiles {
    /// Checks every destination and stages it, before anything runs.
    fn stage(opts: &RunOptions, input: &Input) -> Result<Self> {
        let wav_in = matches!(input, Input::Wav { .. });
        if opts.output.as_deref().is_some_and(audio::is_wav) && !wav_in {
            return Err(Error::Invalid(
                "a .wav output needs a .wav input (the cleaned audio uses the noisy phase)".into(),
            ));
        }
        for dir in [&opts.trace_dir, &opts.plot_dir].into_iter().flatten() {
            if dir.exists() && !dir.is_dir() {
                return Err(Error::Invalid(format!(
                    "cannot write {}: it exists and is not a directory",
                    dir.display()
                )));
            }
        }
        let mut staging = output::Staging::new();
        let output = opts
            .output
            .as_deref()
            .map(|p| staging.file(p))
            .transpose()?;
        let activity = opts
            .activity
            .as_deref()
            .map(|p| staging.file(p))
            .transpose()?;
        let (trace, scratch) = match (&opts.trace_dir, &opts.plot_dir) {
            (Some(dir), _) => (Some(staging.dir(dir)?), None),
            (None, Some(_)) => {
                let tmp = tempfile::tempdir()
                    .map_err(|e| Error::io("cannot create", "a temporary directory", e))?;
                (Some(tmp.path().to_path_buf()), Some(tmp))
            }
            (None, None) => (None, None),
        };
        Ok(Self {
            staging,
            output,
            activity,
            trace,
            _scratch: scratch,
        })
    }

    fn trace_writer<'p>(
        &self,
        prog: &'p Program,
        opts: &RunOptions,
    ) -> Result<Option<loisim_trace::TraceWriter<'p>>> {
        match &self.trace {
            Some(dir) => Ok(Some(loisim_trace::TraceWriter::create(
                prog,
                dir,
                &opts.trace,
            )?)),
            None => Ok(None),
        }
    }

    /// Finishes the trace, draws the figures and moves every output into place.
    fn finish(
        mut self,
        writer: Option<loisim_trace::TraceWriter<'_>>,
        res: &loisim_sim::SimResult,
        opts: &RunOptions,
    ) -> Result<report::Outputs> {
        let mut plots = Vec::new();
        if let Some(w) = writer {
            let series = w.finish(res)?;
            if let Some(dir) = &opts.plot_dir {
                let staged = self.staging.dir(dir)?;
                plots = loisim_trace::plot::plot_run(&series, &staged)?;
            }
        }
        let plots: Vec<String> = plots
            .iter()
            .map(|p| self.staging.final_path(p).display().to_string())
            .collect();
        let mut outputs = self.commit_with(opts)?;
        outputs.plots = plots;
        Ok(outputs)
    }

    fn commit(self) -> Result<report::Outputs> {
        let output = self
            .output
            .as_ref()
            .map(|p| self.staging.final_path(p).display().to_string());
        self.staging.commit()?;
        Ok(report::Outputs {
            output,
            trace_dir: None,
            plots: Vec::new(),
        })
    }

    fn commit_with(self, opts: &RunOptions) -> Result<report::Outputs> {
        let trace_dir = opts.trace_dir.as_ref().map(|p| p.display().to_string());
        let mut outputs = self.commit()?;
        outputs.trace_dir = trace_dir;
        Ok(outputs)
    }
}
