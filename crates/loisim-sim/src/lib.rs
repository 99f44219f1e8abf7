//! The loisim chip simulator: runs a compiled [`Program`] on a simulated Loihi chip.
//!
//! - [`engine`]: bit-exact functional execution (graded spikes, synapses, dendritic
//!   accumulators, neuron programs), with every message counted on its flow and every
//!   saturation, wrap and accumulator overflow counted per population;
//! - [`timing`]: the latency and energy of a timestep from its counted work;
//! - [`simulate`]: runs a token sequence and lays the work out in time in fall-through mode (a
//!   token enters when the previous one has left the decoder) and in pipeline mode (a token
//!   enters every timestep).
//!
//! Results are deterministic: the same program and input give the same integers and the same
//! figures, whatever the thread count. The library does no I/O.

pub mod engine;
pub mod net_engine;
pub mod net_timing;
pub mod timing;

pub use engine::ProgramRef;
use engine::{Lane, PopEvents, Tables, TokenState, TokenWork};
use loisim_compiler::program::Program;
use serde::{Deserialize, Serialize};
use std::collections::VecDeque;
use timing::{CoreCounters, EnergyBreakdown, Scratch, Step, TimingModel};

/// Operating mode.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Mode {
    /// One token at a time: a token enters after the previous one has left the decoder.
    FallThrough,
    /// A token enters every timestep; blocks work on different tokens at once.
    Pipeline,
}

impl Mode {
    /// `fall-through` or `pipeline`.
    pub fn name(self) -> &'static str {
        match self {
            Mode::FallThrough => "fall-through",
            Mode::Pipeline => "pipeline",
        }
    }
}

/// What to simulate.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SimOptions {
    /// Lay the run out in fall-through mode.
    pub fall_through: bool,
    /// Lay the run out in pipeline mode.
    pub pipeline: bool,
    /// Most threads: 1 runs everything on the calling thread; `n` splits the work units of a
    /// token into at most `n` consecutive groups of about equal cost, each on its own thread,
    /// tokens flowing from group to group (the calling thread runs the last group and the
    /// timing model). Results do not depend on it; [`SimResult::threads`] says how many ran.
    pub threads: usize,
}

impl Default for SimOptions {
    fn default() -> Self {
        Self {
            fall_through: true,
            pipeline: true,
            threads: 2,
        }
    }
}

/// One simulated timestep, as handed to a [`TraceSink`].
#[derive(Debug)]
pub struct StepRecord<'a> {
    /// Mode.
    pub mode: Mode,
    /// Timestep index within the mode's run.
    pub timestep: u64,
    /// Start time, ns from the start of the run.
    pub start_ns: f64,
    /// Fall-through: the token; pipeline: the newest token in the pipeline.
    pub token: usize,
    /// Fall-through: the active stage; pipeline: none (all stages with a token are active).
    pub stage: Option<u32>,
    /// Whether this timestep completes a token (its decoder output reaches the host).
    pub token_done: Option<usize>,
    /// Duration, energy, counts.
    pub step: &'a Step,
    /// Per-core counters (indexed like [`Program::cores`]).
    pub counters: &'a [CoreCounters],
}

/// Receives every simulated timestep (traces, plots).
pub trait TraceSink {
    /// Called once per timestep, in order, per mode.
    fn step(&mut self, rec: &StepRecord<'_>);
}

/// Receives the work of every token, in token order (activity recording: the work is all the
/// timing model reads of a token, so a recording can be priced again at other chip costs
/// without running the engine, see [`Replay`]).
pub trait WorkSink: Send {
    /// Called once per token, after its functional execution.
    fn token(&mut self, work: &TokenWork);
}

/// A session's [`WorkSink`], if any.
struct WorkSlot<'p>(Option<Box<dyn WorkSink + 'p>>);

impl std::fmt::Debug for WorkSlot<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(if self.0.is_some() {
            "WorkSlot(recording)"
        } else {
            "WorkSlot(none)"
        })
    }
}

/// Totals of one mode.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct ModeResult {
    /// Tokens run.
    pub n_tokens: usize,
    /// Timesteps simulated.
    pub n_timesteps: u64,
    /// Time from the first injection to the last output, ns.
    pub total_ns: f64,
    /// Mean time a token spends from injection to output, ns.
    pub token_latency_ns_mean: f64,
    /// Longest token latency, ns.
    pub token_latency_ns_max: f64,
    /// Shortest timestep, ns.
    pub step_ns_min: f64,
    /// Longest timestep, ns.
    pub step_ns_max: f64,
    /// Smallest `duration - lower bound` over all timesteps (never negative), ns.
    pub min_margin_over_lower_bound_ns: f64,
    /// Energy of the whole run.
    pub energy: EnergyBreakdown,
    /// Messages.
    pub msgs: u64,
    /// Synaptic operations.
    pub synops: u64,
    /// Active neuron updates.
    pub updates: u64,
}

impl ModeResult {
    fn add_step(&mut self, s: &Step) {
        self.n_timesteps += 1;
        self.total_ns += s.duration_ns;
        self.energy.add(&s.energy);
        self.msgs += s.msgs;
        self.synops += s.synops;
        self.updates += s.updates;
        if self.n_timesteps == 1 {
            self.step_ns_min = s.duration_ns;
            self.min_margin_over_lower_bound_ns = f64::INFINITY;
        }
        self.step_ns_min = self.step_ns_min.min(s.duration_ns);
        self.step_ns_max = self.step_ns_max.max(s.duration_ns);
        self.min_margin_over_lower_bound_ns = self
            .min_margin_over_lower_bound_ns
            .min(s.duration_ns - s.lower_bound_ns);
    }

    /// Tokens per second.
    pub fn throughput_tokens_per_s(&self) -> f64 {
        if self.total_ns > 0.0 {
            self.n_tokens as f64 / (self.total_ns * 1e-9)
        } else {
            0.0
        }
    }

    /// Energy per token, pJ (total).
    pub fn energy_pj_per_token(&self) -> f64 {
        self.energy.total_pj() / self.n_tokens.max(1) as f64
    }
}

/// Everything a simulation produced.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct SimResult {
    /// Decoder output integers, one vector per token.
    pub outputs: Vec<Vec<i32>>,
    /// Fall-through totals.
    pub fall_through: Option<ModeResult>,
    /// Pipeline totals.
    pub pipeline: Option<ModeResult>,
    /// Saturations, wraps and accumulator overflows per population.
    pub events: Vec<PopEvents>,
    /// Fraction of non-zero outputs per population channel (`[population][channel]`).
    pub activity: Vec<Vec<f64>>,
    /// Pipeline depth, timesteps.
    pub depth: u32,
    /// Threads that actually ran work: the number of groups the work units were split into
    /// when some tokens ran split, else 1 (at most [`SimOptions::threads`], fewer when the work
    /// does not divide further, see [`Session::threads`]). Every other field is the same for
    /// any thread count.
    #[serde(default)]
    pub threads: usize,
}

/// Why a simulation could not run.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum SimError {
    /// A token that does not fit the program's input.
    #[error(transparent)]
    Input(#[from] loisim_model::reference::InputError),
    /// No tokens.
    #[error("no tokens to simulate")]
    Empty,
    /// The engine cannot run the program.
    #[error(transparent)]
    Engine(#[from] engine::EngineError),
}

#[derive(Debug, Default)]
struct FallThrough {
    res: ModeResult,
    scratch: Scratch,
    t_ns: f64,
    steps: u64,
}

impl FallThrough {
    fn token(
        &mut self,
        model: &TimingModel,
        token: usize,
        w: &TokenWork,
        sink: &mut Option<&mut dyn TraceSink>,
    ) {
        let mut latency = 0.0;
        let depth = model.depth();
        self.scratch.set_detailed(sink.is_some());
        for s in 0..depth {
            let st = model.step(&[(s, w)], &mut self.scratch);
            if let Some(sink) = sink.as_deref_mut() {
                sink.step(&StepRecord {
                    mode: Mode::FallThrough,
                    timestep: self.steps,
                    start_ns: self.t_ns,
                    token,
                    stage: Some(s),
                    token_done: (s + 1 == depth).then_some(token),
                    step: &st,
                    counters: self.scratch.counters(),
                });
            }
            self.steps += 1;
            self.t_ns += st.duration_ns;
            latency += st.duration_ns;
            self.res.add_step(&st);
        }
        self.res.n_tokens += 1;
        self.res.token_latency_ns_max = self.res.token_latency_ns_max.max(latency);
    }

    fn finish(&mut self) -> ModeResult {
        let mut res = std::mem::take(&mut self.res);
        res.token_latency_ns_mean = res.total_ns / res.n_tokens.max(1) as f64;
        res
    }
}

#[derive(Debug, Default)]
struct Pipeline {
    res: ModeResult,
    scratch: Scratch,
    /// Work of the last `depth` tokens, newest last.
    window: VecDeque<TokenWork>,
    /// Token index of `window[0]`.
    first: usize,
    /// Durations of the last `depth` timesteps, newest last.
    durations: VecDeque<f64>,
    t_ns: f64,
    latency_sum: f64,
}

impl Pipeline {
    fn timestep(
        &mut self,
        model: &TimingModel,
        tau: usize,
        n_tokens_total: Option<usize>,
        sink: &mut Option<&mut dyn TraceSink>,
    ) {
        let depth = model.depth() as usize;
        let mut active: Vec<(u32, &TokenWork)> = Vec::with_capacity(depth);
        for (k, w) in self.window.iter().enumerate() {
            let t = self.first + k;
            if t <= tau && tau - t < depth {
                active.push(((tau - t) as u32, w));
            }
        }
        self.scratch.set_detailed(sink.is_some());
        let st = model.step(&active, &mut self.scratch);
        let done = (tau + 1 >= depth)
            .then(|| tau + 1 - depth)
            .filter(|&t| n_tokens_total.is_none_or(|n| t < n));
        if let Some(sink) = sink.as_deref_mut() {
            sink.step(&StepRecord {
                mode: Mode::Pipeline,
                timestep: tau as u64,
                start_ns: self.t_ns,
                token: tau.min(self.first + self.window.len().saturating_sub(1)),
                stage: None,
                token_done: done,
                step: &st,
                counters: self.scratch.counters(),
            });
        }
        self.t_ns += st.duration_ns;
        self.res.add_step(&st);
        self.durations.push_back(st.duration_ns);
        if self.durations.len() > depth {
            self.durations.pop_front();
        }
        if done.is_some() {
            let lat: f64 = self.durations.iter().sum();
            self.latency_sum += lat;
            self.res.token_latency_ns_max = self.res.token_latency_ns_max.max(lat);
        }
    }

    fn token(&mut self, model: &TimingModel, w: TokenWork, sink: &mut Option<&mut dyn TraceSink>) {
        let depth = model.depth() as usize;
        self.window.push_back(w);
        if self.window.len() > depth {
            self.window.pop_front();
            self.first += 1;
        }
        let tau = self.first + self.window.len() - 1;
        self.timestep(model, tau, None, sink);
        self.res.n_tokens += 1;
    }

    fn finish(&mut self, model: &TimingModel, sink: &mut Option<&mut dyn TraceSink>) -> ModeResult {
        let n = self.res.n_tokens;
        let depth = model.depth() as usize;
        for tau in n..n + depth - 1 {
            self.timestep(model, tau, Some(n), sink);
        }
        let mut res = std::mem::take(&mut self.res);
        res.token_latency_ns_mean = self.latency_sum / n.max(1) as f64;
        res
    }
}

/// Checks input tokens against a program (`first` is the index of the first token, for
/// messages).
pub fn check_tokens(prog: &Program, tokens: &[Vec<i32>], first: usize) -> Result<(), SimError> {
    let (d, f) = (prog.network.input_width as usize, prog.network.input_fmt);
    for (t, tok) in tokens.iter().enumerate() {
        loisim_model::reference::check_token_shape(d, f, first + t, tok)?;
    }
    Ok(())
}

/// Splits the work units into at most `n` consecutive groups minimizing the busiest group's
/// cost, the last group (the calling thread's) also running the timing model (`timing` per
/// token, same unit as `costs`). Returns the group boundaries: `b[0] = 0 < b[1] < ... <
/// b[k] = costs.len()` for `k <= n` groups (the last may be empty: the calling thread then
/// runs only the timing model). Deterministic in its arguments.
fn partition(costs: &[f64], timing: f64, n: usize) -> Vec<usize> {
    let n = n.max(1);
    // The timing model as a last pseudo-unit, always in the last group.
    let all: Vec<f64> = costs
        .iter()
        .chain(std::iter::once(&timing))
        .map(|c| c.max(0.0))
        .collect();
    // Greedy packing under a cap: the number of groups it needs, and their boundaries.
    let pack = |cap: f64| -> Vec<usize> {
        let mut b = vec![0];
        let mut sum = 0.0;
        for (i, &c) in all.iter().enumerate() {
            if i > *b.last().unwrap_or(&0) && sum + c > cap {
                b.push(i);
                sum = 0.0;
            }
            sum += c;
        }
        b.push(all.len());
        b
    };
    let (mut lo, mut hi) = (
        all.iter().copied().fold(0.0, f64::max),
        all.iter().sum::<f64>(),
    );
    for _ in 0..64 {
        let mid = 0.5 * (lo + hi);
        if pack(mid).len() - 1 <= n {
            hi = mid;
        } else {
            lo = mid;
        }
    }
    let mut b = pack(hi);
    while b.len() - 1 > n {
        // Rounding at the cap: merge the last two groups.
        b.remove(b.len() - 2);
    }
    // Back to real units: the pseudo-unit's end is the units' end.
    let last = b.len() - 1;
    // (When the timing model is alone in the last group, that group runs no units.)
    b[last] = costs.len();
    b
}

/// A token's work below which splitting it over threads did not reliably pay on a 2-core
/// machine (`docs/performance.md`: about 25 us per token on `s5-sparse-0.25x`, as often slower
/// as faster on two threads; about 75 us on `s5-sparse-1x`, 1.0 to 1.45 times faster), for
/// [`Session::set_min_split_s`].
pub const SUGGESTED_MIN_SPLIT_S: f64 = 50e-6;

/// Tokens a session with several threads runs on one thread, timing every work unit, before
/// it chooses how to split the work between the threads.
pub const CALIBRATION_TOKENS: usize = 48;

/// A simulation in progress: feed it tokens chunk by chunk (bounded memory for long inputs),
/// then [`Session::finish`].
#[derive(Debug)]
pub struct Session<'p> {
    prog: ProgramRef<'p>,
    tables: Tables<'p>,
    model: TimingModel,
    opts: SimOptions,
    /// Lane of the calling thread (and of everything, with one thread).
    lane: Lane,
    /// Lanes of the other threads, one per group of work units but the last.
    workers: Vec<Lane>,
    /// Group boundaries of the work units (see [`partition`]); `None` until measured.
    split: Option<Vec<usize>>,
    /// Seconds spent in each work unit (`[token][unit]`) and in the timing model (last of
    /// each row) on each of the first `measured` tokens (only with several threads).
    unit_s: Vec<Vec<f64>>,
    measured: usize,
    ft: Option<FallThrough>,
    pl: Option<Pipeline>,
    n_tokens: usize,
    /// Tokens whose work was split over several threads.
    split_tokens: usize,
    /// Least median work of a token, s, for splitting it over threads to pay.
    min_split_s: f64,
    /// Receives the work of every token.
    work_sink: WorkSlot<'p>,
}

impl<'p> Session<'p> {
    /// A fresh simulation (zero state) of a compiled program, borrowed (`&Program`) or shared
    /// (`Arc<Program>`: the session then owns what it reads and has a `'static` lifetime).
    pub fn new(prog: impl Into<ProgramRef<'p>>, opts: &SimOptions) -> Self {
        let prog = prog.into();
        let tables = Tables::new(prog.clone());
        let model = TimingModel::new(&prog);
        Self {
            prog,
            lane: tables.lane(),
            workers: Vec::new(),
            tables,
            model,
            opts: *opts,
            split: None,
            unit_s: Vec::new(),
            measured: 0,
            ft: opts.fall_through.then(FallThrough::default),
            pl: opts.pipeline.then(Pipeline::default),
            n_tokens: 0,
            split_tokens: 0,
            min_split_s: 0.0,
            work_sink: WorkSlot(None),
        }
    }

    /// Hands the work of every token from now on to `sink`, in token order (whatever the
    /// thread count).
    pub fn record_work(&mut self, sink: Box<dyn WorkSink + 'p>) {
        self.work_sink = WorkSlot(Some(sink));
    }

    /// Tokens so far whose work ran split over several threads (the first
    /// [`CALIBRATION_TOKENS`] of a session with several threads run on the calling thread
    /// only).
    pub fn split_tokens(&self) -> usize {
        self.split_tokens
    }

    /// Threads that ran work so far: the number of groups the work units were split into once
    /// some token ran split, else 1. At most [`SimOptions::threads`]; fewer when the program
    /// has fewer work units or when fewer groups already balance the work.
    pub fn threads(&self) -> usize {
        match &self.split {
            Some(b) if self.split_tokens > 0 => b.len() - 1,
            _ => 1,
        }
    }

    /// Splits the work over threads only when a token's work (the median over the measured
    /// tokens of every work unit and the timing model) takes at least `seconds`; below, the
    /// hand-offs between threads cost more than they save (see [`SUGGESTED_MIN_SPLIT_S`]).
    /// Default 0: split whenever more than one thread is allowed. Results do not depend on it.
    pub fn set_min_split_s(&mut self, seconds: f64) {
        self.min_split_s = seconds;
    }

    /// Tokens simulated so far.
    pub fn n_tokens(&self) -> usize {
        self.n_tokens
    }

    /// Runs the next tokens; returns their decoder outputs. `sink` receives every completed
    /// timestep; `progress` the number of tokens done since the start of the session.
    pub fn run(
        &mut self,
        tokens: &[Vec<i32>],
        mut sink: Option<&mut dyn TraceSink>,
        mut progress: Option<&mut dyn FnMut(usize)>,
    ) -> Result<Vec<Vec<i32>>, SimError> {
        self.tables.check()?;
        check_tokens(&self.prog, tokens, self.n_tokens)?;
        let base = self.n_tokens;
        let mut outputs = Vec::with_capacity(tokens.len());
        let (model, ft, pl) = (&self.model, &mut self.ft, &mut self.pl);
        let work_sink = &mut self.work_sink.0;
        let mut consume = |t: usize, tok: &TokenState, sink: &mut Option<&mut dyn TraceSink>| {
            outputs.push(tok.out.clone());
            if let Some(w) = work_sink.as_mut() {
                w.token(&tok.work);
            }
            if let Some(ft) = ft.as_mut() {
                ft.token(model, t, &tok.work, sink);
            }
            if let Some(pl) = pl.as_mut() {
                pl.token(model, tok.work.clone(), sink);
            }
            if let Some(p) = progress.as_deref_mut() {
                p(t + 1);
            }
        };
        let tables = &self.tables;
        let n_units = tables.n_units();
        let multi = self.opts.threads >= 2 && n_units >= 2;
        let mut rest = tokens;
        let mut done = 0;
        if !multi || self.split.is_none() {
            // One thread; with several, first measure every work unit and the timing model on
            // a few tokens, to split the work where the threads are equally busy. The
            // measurement decides only which thread runs what: results do not depend on it.
            let n = if multi {
                (CALIBRATION_TOKENS - self.measured).min(tokens.len())
            } else {
                tokens.len()
            };
            let mut tok = tables.token_state();
            for (t, input) in tokens[..n].iter().enumerate() {
                if multi {
                    let mut row = Vec::with_capacity(n_units + 1);
                    for u in 0..n_units {
                        let start = std::time::Instant::now();
                        tables.run(&mut self.lane, &mut tok, input, u..u + 1);
                        row.push(start.elapsed().as_secs_f64());
                    }
                    let start = std::time::Instant::now();
                    consume(base + t, &tok, &mut sink);
                    row.push(start.elapsed().as_secs_f64());
                    self.unit_s.push(row);
                } else {
                    tables.run(&mut self.lane, &mut tok, input, 0..n_units);
                    consume(base + t, &tok, &mut sink);
                }
            }
            done = n;
            rest = &tokens[n..];
            if multi {
                self.measured += n;
            }
            if multi && self.measured == CALIBRATION_TOKENS {
                // The median over the measured tokens: a thread preempted while a unit runs
                // does not make that unit look heavy.
                let mut med: Vec<f64> = (0..=n_units)
                    .map(|u| {
                        let mut v: Vec<f64> = self.unit_s.iter().map(|r| r[u]).collect();
                        v.sort_by(f64::total_cmp);
                        v[v.len() / 2]
                    })
                    .collect();
                self.unit_s = Vec::new();
                let timing = med.pop().unwrap_or(0.0);
                let work = med.iter().sum::<f64>() + timing;
                let b = if work >= self.min_split_s {
                    partition(&med, timing, self.opts.threads)
                } else {
                    vec![0, n_units]
                };
                // Each lane owns the neuron state of its units from now on.
                self.workers = (0..b.len() - 2)
                    .map(|_| {
                        let mut l = tables.lane();
                        l.copy_state_from(&self.lane);
                        l
                    })
                    .collect();
                self.split = Some(b);
            }
        }
        match (multi, &self.split, rest.is_empty()) {
            (true, Some(b), false) if b.len() > 2 => {
                let (lane, workers, split_tokens) =
                    (&mut self.lane, &mut self.workers, &mut self.split_tokens);
                run_split(
                    tables,
                    b,
                    lane,
                    workers,
                    rest,
                    |t, tok, sink| {
                        consume(base + done + t, tok, sink);
                        *split_tokens += 1;
                    },
                    &mut sink,
                );
            }
            (true, Some(_), false) => {
                // The work does not divide: one group, on the calling thread.
                let mut tok = tables.token_state();
                for (t, input) in rest.iter().enumerate() {
                    tables.run(&mut self.lane, &mut tok, input, 0..n_units);
                    consume(base + done + t, &tok, &mut sink);
                }
            }
            _ => {}
        }
        self.n_tokens += tokens.len();
        Ok(outputs)
    }

    /// Drains the pipeline and returns the totals (without outputs: [`Session::run`] returned
    /// them).
    pub fn finish(mut self, mut sink: Option<&mut dyn TraceSink>) -> SimResult {
        let threads = self.threads();
        let fall_through = self.ft.as_mut().map(FallThrough::finish);
        let pipeline = self.pl.as_mut().map(|p| p.finish(&self.model, &mut sink));
        let mut lane = self.lane;
        for w in &self.workers {
            lane.merge_counters(w);
        }
        let n = self.n_tokens as f64;
        let activity = lane
            .nonzero()
            .iter()
            .zip(&self.prog.network.populations)
            .map(|(chs, p)| {
                chs.iter()
                    .map(|&nz| nz as f64 / (n * f64::from(p.n_neurons)).max(1.0))
                    .collect()
            })
            .collect();
        SimResult {
            outputs: Vec::new(),
            fall_through,
            pipeline,
            events: lane.events().to_vec(),
            activity,
            depth: self.prog.depth,
            threads,
        }
    }
}

/// Runs `inputs` with the work units split into groups at boundaries `b` (at least two
/// groups): group `g < last` on its own scoped thread with lane `workers[g]`, the last group
/// and `consume` on the calling thread. Several tokens are in flight so that no thread waits
/// for the next on every token; tokens reach `consume` in order.
fn run_split(
    tables: &Tables<'_>,
    b: &[usize],
    lane: &mut Lane,
    workers: &mut [Lane],
    inputs: &[Vec<i32>],
    mut consume: impl FnMut(usize, &TokenState, &mut Option<&mut dyn TraceSink>),
    sink: &mut Option<&mut dyn TraceSink>,
) {
    use std::sync::mpsc::{Receiver, SyncSender, sync_channel};
    const IN_FLIGHT: usize = 8;
    let groups = b.len() - 1;
    std::thread::scope(|s| {
        // Channel g carries tokens into group g; channel 0 also recycles finished tokens.
        let (txs, mut rxs): (Vec<SyncSender<TokenState>>, Vec<Receiver<TokenState>>) =
            (0..groups).map(|_| sync_channel(IN_FLIGHT)).unzip();
        for _ in 0..IN_FLIGHT {
            // The receiver is alive: it is owned below.
            let _ = txs[0].send(tables.token_state());
        }
        let last_rx = rxs.pop();
        let mut handles = Vec::with_capacity(groups - 1);
        for (g, (lane, rx)) in workers.iter_mut().zip(rxs).enumerate() {
            let tx = txs[g + 1].clone();
            let range = b[g]..b[g + 1];
            handles.push(s.spawn(move || {
                for input in inputs {
                    let Ok(mut tok) = rx.recv() else { break };
                    tables.run(lane, &mut tok, input, range.clone());
                    if tx.send(tok).is_err() {
                        break;
                    }
                }
            }));
        }
        let recycle = txs[0].clone();
        drop(txs);
        if let Some(rx) = last_rx {
            let range = b[groups - 1]..b[groups];
            for (t, input) in inputs.iter().enumerate() {
                let Ok(mut tok) = rx.recv() else { break };
                tables.run(lane, &mut tok, input, range.clone());
                consume(t, &tok, sink);
                let _ = recycle.send(tok);
            }
        }
        drop(recycle);
        for h in handles {
            h.join().unwrap_or_else(|e| std::panic::resume_unwind(e));
        }
    });
}

/// Lays recorded token work out in time, in fall-through and pipeline mode, without the
/// engine: the same timing model and the same order of operations as a [`Session`], so a
/// program's recorded work priced with its own chip gives exactly the session's totals.
#[derive(Debug)]
pub struct Replay {
    model: TimingModel,
    ft: Option<FallThrough>,
    pl: Option<Pipeline>,
    n_tokens: usize,
}

impl Replay {
    /// A replay priced by `model` (e.g. `TimingModel::from_parts` with another chip), in the
    /// modes `opts` names (its thread count is not used).
    pub fn new(model: TimingModel, opts: &SimOptions) -> Self {
        Self {
            model,
            ft: opts.fall_through.then(FallThrough::default),
            pl: opts.pipeline.then(Pipeline::default),
            n_tokens: 0,
        }
    }

    /// The timing model.
    pub fn model(&self) -> &TimingModel {
        &self.model
    }

    /// Prices the next token's work.
    pub fn token(&mut self, work: TokenWork) {
        if let Some(ft) = self.ft.as_mut() {
            ft.token(&self.model, self.n_tokens, &work, &mut None);
        }
        if let Some(pl) = self.pl.as_mut() {
            pl.token(&self.model, work, &mut None);
        }
        self.n_tokens += 1;
    }

    /// Prices the next token's work, borrowed (copied into the pipeline's window when the
    /// replay lays out pipeline mode).
    pub fn token_ref(&mut self, work: &TokenWork) {
        if let Some(ft) = self.ft.as_mut() {
            ft.token(&self.model, self.n_tokens, work, &mut None);
        }
        if let Some(pl) = self.pl.as_mut() {
            pl.token(&self.model, work.clone(), &mut None);
        }
        self.n_tokens += 1;
    }

    /// Tokens priced so far.
    pub fn n_tokens(&self) -> usize {
        self.n_tokens
    }

    /// Drains the pipeline: the totals of each mode.
    pub fn finish(mut self) -> (Option<ModeResult>, Option<ModeResult>) {
        let fall_through = self.ft.as_mut().map(FallThrough::finish);
        let pipeline = self.pl.as_mut().map(|p| p.finish(&self.model, &mut None));
        (fall_through, pipeline)
    }
}

/// Simulates `tokens` (input integers) on a compiled program. `sink` receives every timestep;
/// `progress` is called with the number of tokens done.
pub fn simulate(
    prog: &Program,
    tokens: &[Vec<i32>],
    opts: &SimOptions,
    mut sink: Option<&mut dyn TraceSink>,
    progress: Option<&mut dyn FnMut(usize)>,
) -> Result<SimResult, SimError> {
    if tokens.is_empty() {
        return Err(SimError::Empty);
    }
    let mut session = Session::new(prog, opts);
    let outputs = session.run(
        tokens,
        sink.as_deref_mut().map(|s| s as &mut dyn TraceSink),
        progress,
    )?;
    let mut res = session.finish(sink);
    res.outputs = outputs;
    Ok(res)
}

#[cfg(test)]
mod tests {
    use super::partition;

    #[test]
    fn partition_balances_the_busiest_thread() {
        // Even costs, no timing: half each.
        assert_eq!(partition(&[1.0; 8], 0.0, 2), vec![0, 4, 8]);
        // The calling thread also runs the timing model, so the other threads take more units.
        assert_eq!(partition(&[1.0; 8], 2.0, 2), vec![0, 5, 8]);
        // Four threads over eight even units.
        assert_eq!(partition(&[1.0; 8], 0.0, 4), vec![0, 2, 4, 6, 8]);
        // One heavy unit at the front runs alone.
        assert_eq!(partition(&[10.0, 1.0, 1.0, 1.0], 0.0, 2), vec![0, 1, 4]);
        // A timing model heavier than all units: the calling thread runs it alone.
        assert_eq!(partition(&[0.0, 5.0, 9.0], 100.0, 2), vec![0, 3, 3]);
        // More threads than units: as many groups as needed, no empty worker group.
        let b = partition(&[9.0, 1.0], 0.0, 8);
        assert!(b.windows(2).all(|w| w[0] < w[1]), "{b:?}");
        assert_eq!((b[0], *b.last().unwrap()), (0, 2));
        // One thread: one group.
        assert_eq!(partition(&[1.0; 5], 1.0, 1), vec![0, 5]);
    }
}
