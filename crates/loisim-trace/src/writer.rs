//! Writing a trace directory while a simulation runs.
//!
//! | file | content |
//! |---|---|
//! | `timesteps.csv` | every timestep of every mode: duration, energy by component, messages, synaptic operations, busiest core and link |
//! | `cores.csv` | per core and timestep, inside the window: the Loihi 2 profiler's counters (`syn_ops`, `dendrite_updates`, `spikes_in`, `axon_out`) plus synaptic-memory reads, the busy time of each unit (neuron, synapse, axon) and of the busiest one, finish time, energy |
//! | `core_summary.csv` | per core and mode, over the whole run: the same counters and busy times summed, and the utilisation of each unit and of the busiest one |
//! | `trace.json` | Chrome / Perfetto trace events inside the window: one process per mode and chip, one track per core, a slice per core and timestep, a timestep track, power and energy counters, token markers |
//! | `series.json` | what `loisim plot` draws ([`RunSeries`]) |
//!
//! Utilisation is defined per unit of a core: the neuron unit (updates, idle checks), the
//! synapse unit (messages in, synaptic-memory reads, synaptic operations) and the axon unit
//! (messages out) work at the same time, so each is busy at most as long as its timestep, and
//! `<unit>_utilization = <unit>_busy_ns / run time` is at most 1. A core's `utilization` (and
//! the series' `core_busy_ns`, which the core-utilisation figure draws) is its busiest unit's.
//!
//! Long runs: `cores.csv` and `trace.json` cover a window of tokens (default: the first 32);
//! the window shrinks if the estimate of those two files would pass `max_bytes` (100 MB).
//! Every file is written to a temporary file in the directory and renamed when the run
//! finishes, so a failed run leaves no partial trace.

use crate::series::{Breakdown, CoreSite, ModeSeries, RunSeries};
use loisim_compiler::program::Program;
use loisim_sim::timing::EnergyBreakdown;
use loisim_sim::{Mode, SimResult, StepRecord, TraceSink};
use std::io::Write;
use std::path::{Path, PathBuf};

/// Why a trace could not be written.
#[derive(Debug, thiserror::Error)]
pub enum TraceError {
    /// The directory cannot be used.
    #[error("cannot write traces to {}: {source}", path.display())]
    Io {
        /// File or directory.
        path: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
    /// Bad options.
    #[error("{0}")]
    Options(String),
}

/// What to write.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TraceOptions {
    /// First token of the detailed window.
    pub window_start: usize,
    /// Tokens in the detailed window.
    pub window_tokens: usize,
    /// Size budget of the windowed files, bytes.
    pub max_bytes: u64,
}

impl Default for TraceOptions {
    fn default() -> Self {
        Self {
            window_start: 0,
            window_tokens: 32,
            max_bytes: 100 << 20,
        }
    }
}

/// Estimated bytes per core and timestep in `cores.csv` plus `trace.json`.
const BYTES_PER_CORE_STEP: u64 = 400;

struct Out {
    final_path: PathBuf,
    tmp: tempfile::NamedTempFile,
    buf: std::io::BufWriter<std::fs::File>,
}

impl Out {
    fn create(dir: &Path, name: &str) -> Result<Self, TraceError> {
        let final_path = dir.join(name);
        let io = |e| TraceError::Io {
            path: final_path.clone(),
            source: e,
        };
        let prefix = format!(".{name}.");
        let mut builder = tempfile::Builder::new();
        builder.prefix(&prefix).suffix(".tmp");
        // An ordinary file once renamed (tempfile's default is owner-only).
        #[cfg(unix)]
        builder.permissions(std::os::unix::fs::PermissionsExt::from_mode(0o644));
        let tmp = builder.tempfile_in(dir).map_err(io)?;
        let file = tmp.reopen().map_err(io)?;
        Ok(Self {
            final_path,
            tmp,
            buf: std::io::BufWriter::new(file),
        })
    }

    fn finish(mut self) -> Result<(), TraceError> {
        let path = self.final_path.clone();
        self.buf.flush().map_err(|e| TraceError::Io {
            path: path.clone(),
            source: e,
        })?;
        self.tmp.persist(&path).map_err(|e| TraceError::Io {
            path,
            source: e.error,
        })?;
        Ok(())
    }
}

#[derive(Default)]
struct ModeAcc {
    series: ModeSeries,
    /// Per core: syn_ops, dendrite_updates, spikes_in, axon_out, synmem_reads, energy.
    sums: Vec<[f64; 6]>,
    /// Per core: busy time of the neuron, synapse and axon units, ns.
    unit_busy: Vec<[f64; 3]>,
    token_latency: f64,
    token_dyn: f64,
    token_static: f64,
    cumulative_uj: f64,
    seen: bool,
}

/// A [`TraceSink`] that writes a trace directory.
pub struct TraceWriter<'p> {
    prog: &'p Program,
    opts: TraceOptions,
    steps: Out,
    cores: Out,
    perfetto: Out,
    first_event: bool,
    modes: [ModeAcc; 2],
    pops: Vec<String>,
    error: Option<TraceError>,
}

impl std::fmt::Debug for TraceWriter<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TraceWriter")
            .field("dir", &self.steps.final_path.parent())
            .finish()
    }
}

fn mode_index(m: Mode) -> usize {
    match m {
        Mode::FallThrough => 0,
        Mode::Pipeline => 1,
    }
}

impl<'p> TraceWriter<'p> {
    /// Starts a trace of `prog` in `dir` (created if missing).
    pub fn create(prog: &'p Program, dir: &Path, opts: &TraceOptions) -> Result<Self, TraceError> {
        std::fs::create_dir_all(dir).map_err(|e| TraceError::Io {
            path: dir.to_path_buf(),
            source: e,
        })?;
        let mut opts = opts.clone();
        let steps_per_token = u64::from(prog.depth) + 1;
        let per_token = steps_per_token * prog.cores.len() as u64 * BYTES_PER_CORE_STEP;
        let fit = (opts.max_bytes / per_token.max(1)) as usize;
        if fit == 0 {
            return Err(TraceError::Options(
                "the trace size budget is too small for even one token".into(),
            ));
        }
        opts.window_tokens = opts.window_tokens.min(fit);
        let pops = prog
            .cores
            .iter()
            .map(|c| {
                prog.network
                    .pop(prog.pieces[c.pieces[0].0 as usize].pop)
                    .name
                    .clone()
            })
            .collect();
        let mut w = Self {
            prog,
            opts,
            steps: Out::create(dir, "timesteps.csv")?,
            cores: Out::create(dir, "cores.csv")?,
            perfetto: Out::create(dir, "trace.json")?,
            first_event: true,
            modes: [ModeAcc::default(), ModeAcc::default()],
            pops,
            error: None,
        };
        w.write_headers();
        Ok(w)
    }

    /// The detailed window actually used: `(first token, tokens)`.
    pub fn window(&self) -> (usize, usize) {
        (self.opts.window_start, self.opts.window_tokens)
    }

    fn io<T>(&mut self, r: std::io::Result<T>, which: usize) {
        if let Err(e) = r
            && self.error.is_none()
        {
            let path = [&self.steps, &self.cores, &self.perfetto][which]
                .final_path
                .clone();
            self.error = Some(TraceError::Io { path, source: e });
        }
    }

    fn write_headers(&mut self) {
        let r = writeln!(
            self.steps.buf,
            "mode,timestep,token,stage,start_us,duration_us,barrier_us,lower_bound_us,energy_axon_in_pj,energy_synmem_pj,energy_synop_pj,energy_neuron_pj,energy_noc_pj,energy_io_pj,energy_barrier_pj,energy_static_chip_pj,energy_static_board_pj,energy_total_chip_pj,energy_total_board_pj,msgs,syn_ops,dendrite_updates,busiest_core,busiest_core_finish_us,busiest_link,busiest_link_busy_us,token_done"
        );
        self.io(r, 0);
        let r = writeln!(
            self.cores.buf,
            "mode,timestep,token,core,chip,x,y,slot,population,syn_ops,dendrite_updates,spikes_in,axon_out,synmem_reads,neuron_busy_ns,synapse_busy_ns,axon_busy_ns,busy_ns,finish_ns,energy_pj"
        );
        self.io(r, 1);
        let r = write!(
            self.perfetto.buf,
            "{{\"displayTimeUnit\":\"ns\",\"traceEvents\":["
        );
        self.io(r, 2);
    }

    fn event(&mut self, e: serde_json::Value) {
        let sep = if self.first_event { "" } else { ",\n" };
        self.first_event = false;
        let r = write!(self.perfetto.buf, "{sep}{e}");
        self.io(r, 2);
    }

    fn in_window(&self, rec: &StepRecord<'_>) -> bool {
        let (a, n) = (self.opts.window_start, self.opts.window_tokens);
        match rec.mode {
            Mode::FallThrough => rec.token >= a && rec.token < a + n,
            Mode::Pipeline => {
                let t = rec.timestep as usize;
                t >= a && t < a + n + self.prog.depth as usize - 1
            }
        }
    }

    fn metadata(&mut self, mode: Mode) {
        let mi = mode_index(mode);
        let mut chips: Vec<u32> = self.prog.cores.iter().map(|c| c.location.chip).collect();
        chips.sort_unstable();
        chips.dedup();
        for chip in chips {
            let pid = (mi as u32 + 1) * 100 + chip;
            self.event(serde_json::json!({"ph": "M", "pid": pid, "name": "process_name", "args": {"name": format!("{} - chip {chip}", mode.name())}}));
            self.event(serde_json::json!({"ph": "M", "pid": pid, "name": "process_sort_index", "args": {"sort_index": pid}}));
            self.event(serde_json::json!({"ph": "M", "pid": pid, "tid": 0, "name": "thread_name", "args": {"name": "timesteps"}}));
            self.event(serde_json::json!({"ph": "M", "pid": pid, "tid": 0, "name": "thread_sort_index", "args": {"sort_index": 0}}));
            for (k, c) in self.prog.cores.iter().enumerate() {
                if c.location.chip != chip {
                    continue;
                }
                let tid = c.id.0 + 1;
                let name = format!(
                    "core {} ({},{},{}) {}",
                    c.id.0, c.location.gx, c.location.gy, c.location.slot, self.pops[k]
                );
                self.event(serde_json::json!({"ph": "M", "pid": pid, "tid": tid, "name": "thread_name", "args": {"name": name}}));
                self.event(serde_json::json!({"ph": "M", "pid": pid, "tid": tid, "name": "thread_sort_index", "args": {"sort_index": tid}}));
            }
        }
    }

    /// Finishes the trace: fills in the run's totals, writes `core_summary.csv` and
    /// `series.json`, and moves every file into place. Returns what the plots draw.
    pub fn finish(mut self, res: &SimResult) -> Result<RunSeries, TraceError> {
        let r = writeln!(self.perfetto.buf, "]}}");
        self.io(r, 2);
        if let Some(e) = self.error.take() {
            return Err(e);
        }
        let dir = self
            .steps
            .final_path
            .parent()
            .map(Path::to_path_buf)
            .unwrap_or_default();
        let chip = &self.prog.chip;
        let cores: Vec<CoreSite> = self
            .prog
            .cores
            .iter()
            .zip(&self.pops)
            .map(|(c, p)| CoreSite {
                core: c.id.0,
                chip: c.location.chip,
                gx: c.location.gx,
                gy: c.location.gy,
                slot: c.location.slot,
                population: p.clone(),
            })
            .collect();
        let mut summary = Out::create(&dir, "core_summary.csv")?;
        let io = |p: &Path, e| TraceError::Io {
            path: p.to_path_buf(),
            source: e,
        };
        writeln!(
            summary.buf,
            "mode,core,chip,x,y,slot,population,syn_ops,dendrite_updates,spikes_in,axon_out,synmem_reads,energy_pj,neuron_busy_ns,synapse_busy_ns,axon_busy_ns,busy_ns,neuron_utilization,synapse_utilization,axon_utilization,utilization"
        )
        .map_err(|e| io(&summary.final_path, e))?;
        let mut modes = Vec::new();
        for (mi, (acc, result)) in self
            .modes
            .iter_mut()
            .zip([&res.fall_through, &res.pipeline])
            .enumerate()
        {
            let (Some(m), true) = (result, acc.seen) else {
                continue;
            };
            let name = if mi == 0 {
                Mode::FallThrough.name()
            } else {
                Mode::Pipeline.name()
            };
            let n = m.n_tokens.max(1) as f64;
            let e: &EnergyBreakdown = &m.energy;
            acc.series.mode = name.to_string();
            acc.series.total_ns = m.total_ns;
            acc.series.breakdown_uj_per_token = Breakdown::of(e, 1.0 / n / 1e6);
            let util = |busy: f64| {
                if m.total_ns > 0.0 {
                    busy / m.total_ns
                } else {
                    0.0
                }
            };
            for (k, (site, s)) in cores.iter().zip(&acc.sums).enumerate() {
                let [neuron, synapse, axon] = acc.unit_busy[k];
                let busy = neuron.max(synapse).max(axon);
                acc.series.core_busy_ns[k] = busy;
                writeln!(
                    summary.buf,
                    "{name},{},{},{},{},{},{},{},{},{},{},{},{:.1},{:.1},{:.1},{:.1},{:.1},{:.6},{:.6},{:.6},{:.6}",
                    site.core,
                    site.chip,
                    site.gx,
                    site.gy,
                    site.slot,
                    site.population,
                    s[0],
                    s[1],
                    s[2],
                    s[3],
                    s[4],
                    s[5],
                    neuron,
                    synapse,
                    axon,
                    busy,
                    util(neuron),
                    util(synapse),
                    util(axon),
                    util(busy)
                )
                .map_err(|e| io(&summary.final_path, e))?;
            }
            modes.push(std::mem::take(&mut acc.series));
        }
        let series = RunSeries {
            model: self.prog.model_name.clone(),
            chip: chip.name.clone(),
            routers_x: chip.mesh.routers_x.value * chip.board.chips_x.value,
            routers_y: chip.mesh.routers_y.value * chip.board.chips_y.value,
            cores_per_router: chip.mesh.cores_per_router.value,
            cores,
            modes,
        };
        let mut js = Out::create(&dir, "series.json")?;
        serde_json::to_writer(&mut js.buf, &series).map_err(|e| io(&js.final_path, e.into()))?;
        summary.finish()?;
        js.finish()?;
        self.steps.finish()?;
        self.cores.finish()?;
        self.perfetto.finish()?;
        Ok(series)
    }
}

impl TraceSink for TraceWriter<'_> {
    fn step(&mut self, rec: &StepRecord<'_>) {
        let mi = mode_index(rec.mode);
        if !self.modes[mi].seen {
            self.modes[mi].seen = true;
            let nc = self.prog.cores.len();
            self.modes[mi].sums = vec![[0.0; 6]; nc];
            self.modes[mi].series.core_busy_ns = vec![0.0; nc];
            self.modes[mi].unit_busy = vec![[0.0; 3]; nc];
            self.metadata(rec.mode);
        }
        let st = rec.step;
        let e = &st.energy;
        let start_us = rec.start_ns / 1e3;
        // timesteps.csv: every timestep.
        let (bc, bcf) = st.busiest_core.map_or((String::new(), 0.0), |(c, f)| {
            (self.prog.cores[c].id.0.to_string(), f / 1e3)
        });
        let (bl, blb) = st
            .busiest_link
            .map_or((String::new(), 0.0), |(l, b)| (l.to_string(), b / 1e3));
        let r = writeln!(
            self.steps.buf,
            "{},{},{},{},{:.4},{:.4},{:.4},{:.4},{:.2},{:.2},{:.2},{:.2},{:.2},{:.2},{:.3},{:.2},{:.2},{:.2},{:.2},{},{},{},{bc},{bcf:.4},{bl},{blb:.4},{}",
            rec.mode.name(),
            rec.timestep,
            rec.token,
            rec.stage.map(|s| s.to_string()).unwrap_or_default(),
            start_us,
            st.duration_ns / 1e3,
            st.barrier_ns / 1e3,
            st.lower_bound_ns / 1e3,
            e.axon_in_pj,
            e.synmem_pj,
            e.synop_pj,
            e.neuron_state_pj + e.neuron_instr_pj,
            e.spike_out_pj + e.noc_pj + e.link_pj,
            e.sequencer_pj + e.host_pj,
            e.barrier_pj,
            e.static_pj(),
            e.static_board_pj,
            e.total_pj(),
            e.total_board_basis_pj(),
            st.msgs,
            st.synops,
            st.updates,
            rec.token_done.map(|t| t.to_string()).unwrap_or_default()
        );
        self.io(r, 0);
        // Series and per-core sums: every timestep.
        {
            let acc = &mut self.modes[mi];
            for (k, c) in rec.counters.iter().enumerate() {
                let u = &mut acc.unit_busy[k];
                u[0] += c.neuron_busy_ns;
                u[1] += c.synapse_busy_ns;
                u[2] += c.axon_busy_ns;
                let s = &mut acc.sums[k];
                s[0] += c.syn_ops as f64;
                s[1] += c.dendrite_updates as f64;
                s[2] += c.spikes_in as f64;
                s[3] += c.axon_out as f64;
                s[4] += c.synmem_reads as f64;
                s[5] += c.energy_pj;
            }
            acc.cumulative_uj += e.total_pj() / 1e6;
            match rec.mode {
                Mode::FallThrough => {
                    acc.token_latency += st.duration_ns / 1e3;
                    acc.token_dyn += e.dynamic_pj() / 1e6;
                    acc.token_static += e.static_pj() / 1e6;
                    if rec.token_done.is_some() {
                        acc.series
                            .latency_us
                            .push(std::mem::take(&mut acc.token_latency));
                        acc.series
                            .energy_dynamic_uj
                            .push(std::mem::take(&mut acc.token_dyn));
                        acc.series
                            .energy_static_uj
                            .push(std::mem::take(&mut acc.token_static));
                    }
                }
                Mode::Pipeline => {
                    acc.series.latency_us.push(st.duration_ns / 1e3);
                    acc.series.energy_dynamic_uj.push(e.dynamic_pj() / 1e6);
                    acc.series.energy_static_uj.push(e.static_pj() / 1e6);
                }
            }
        }
        if !self.in_window(rec) {
            return;
        }
        // cores.csv and trace.json: inside the window.
        let pid_base = (mi as u32 + 1) * 100;
        for (k, c) in rec.counters.iter().enumerate() {
            if c.busy_ns == 0.0 && c.finish_ns == 0.0 {
                continue;
            }
            let core = &self.prog.cores[k];
            let l = core.location;
            let r = writeln!(
                self.cores.buf,
                "{},{},{},{},{},{},{},{},{},{},{},{},{},{},{:.2},{:.2},{:.2},{:.2},{:.2},{:.2}",
                rec.mode.name(),
                rec.timestep,
                rec.token,
                core.id.0,
                l.chip,
                l.gx,
                l.gy,
                l.slot,
                self.pops[k],
                c.syn_ops,
                c.dendrite_updates,
                c.spikes_in,
                c.axon_out,
                c.synmem_reads,
                c.neuron_busy_ns,
                c.synapse_busy_ns,
                c.axon_busy_ns,
                c.busy_ns,
                c.finish_ns,
                c.energy_pj
            );
            self.io(r, 1);
            let pop = self.pops[k].clone();
            self.event(serde_json::json!({
                "ph": "X", "pid": pid_base + l.chip, "tid": core.id.0 + 1, "name": pop,
                "ts": start_us, "dur": c.finish_ns.max(c.busy_ns) / 1e3,
                "args": {"syn_ops": c.syn_ops, "dendrite_updates": c.dendrite_updates, "spikes_in": c.spikes_in,
                         "axon_out": c.axon_out, "synmem_reads": c.synmem_reads, "neuron_busy_ns": c.neuron_busy_ns,
                         "synapse_busy_ns": c.synapse_busy_ns, "axon_busy_ns": c.axon_busy_ns, "busy_ns": c.busy_ns, "energy_pj": c.energy_pj}
            }));
        }
        let pid = pid_base;
        let name = match rec.stage {
            Some(s) => format!("step {} (token {}, stage {s})", rec.timestep, rec.token),
            None => format!("step {}", rec.timestep),
        };
        let cumulative = self.modes[mi].cumulative_uj;
        self.event(serde_json::json!({
            "ph": "X", "pid": pid, "tid": 0, "name": name, "ts": start_us, "dur": st.duration_ns / 1e3,
            "args": {"energy_pj": e.total_pj(), "msgs": st.msgs, "syn_ops": st.synops, "barrier_ns": st.barrier_ns,
                     "lower_bound_ns": st.lower_bound_ns}
        }));
        let dur = st.duration_ns.max(1e-9);
        self.event(serde_json::json!({
            "ph": "C", "pid": pid, "name": "power (mW)", "ts": start_us,
            "args": {"dynamic": e.dynamic_pj() / dur, "static": e.static_pj() / dur}
        }));
        self.event(serde_json::json!({"ph": "C", "pid": pid, "name": "energy (uJ)", "ts": start_us, "args": {"cumulative": cumulative}}));
        if let Some(t) = rec.token_done {
            self.event(serde_json::json!({
                "ph": "i", "pid": pid, "tid": 0, "s": "p", "name": format!("token {t} out"),
                "ts": (rec.start_ns + st.duration_ns) / 1e3
            }));
        }
    }
}
