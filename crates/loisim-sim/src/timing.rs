//! The timing and energy model of one timestep (formulas in `docs/cost-model.md`).
//!
//! Inside a timestep each core has three units working concurrently: the neuron unit updates
//! its neurons one after the other, the axon unit sends one message per non-zero output and
//! destination core, the synapse unit processes incoming messages in arrival order (message
//! in, synaptic-memory words read, synaptic operations). Messages cross the mesh along their
//! XY route (per-hop latency); every link serialises the bits it carries at its bandwidth, so
//! flows sharing a link delay each other. The timestep ends when the last core has processed
//! its last message, then the barrier synchronises the tiles:
//!
//! ```text
//! emit_c   = max(U_c, X_c)                       U: neuron updates, X: messages out
//! T_l      = bits_l / bandwidth_l                 link busy time
//! last_f   = max(emit_src, max_{l in f} T_l) + L_f       L: route latency
//! first_f  = first_src + L_f
//! finish_d = max(emit_d, min_f first_f + R_d, max_f (last_f + R_f / msgs_f))   R: receive work
//! step     = max_d finish_d + barrier(tiles, chips)
//! ```
//!
//! The host (embedded I/O processor) sends inputs and receives outputs serially at its own
//! per-message cost. The step is never shorter than the max-affine lower bound
//! `max(max_c U_c, max_c synops_c t_synop, max_c words_c t_read, max_c msgs_in_c t_in,
//! max_l T_l, barrier)` (Timcheck, Pierro, Shrestha 2026): each of those terms is part of a
//! finish time above.

use crate::engine::TokenWork;
use loisim_arch::Chip;
use loisim_compiler::layout::{Axis, Endpoint, Link, LinkId};
use loisim_compiler::program::Program;
use serde::{Deserialize, Serialize};

/// Energy by component, pJ.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct EnergyBreakdown {
    /// Messages in, synaptic-memory reads, synaptic operations.
    pub synaptic_pj: f64,
    /// Neuron updates, program instructions, idle neuron checks.
    pub neuron_pj: f64,
    /// Messages out, hops, chip-to-chip links.
    pub noc_pj: f64,
    /// Host injection of inputs and extraction of outputs.
    pub io_pj: f64,
    /// Barrier synchronisation.
    pub barrier_pj: f64,
    /// Static power over the time.
    pub static_pj: f64,
}

impl EnergyBreakdown {
    /// Dynamic energy (everything but static).
    pub fn dynamic_pj(&self) -> f64 {
        self.synaptic_pj + self.neuron_pj + self.noc_pj + self.io_pj + self.barrier_pj
    }

    /// Total energy.
    pub fn total_pj(&self) -> f64 {
        self.dynamic_pj() + self.static_pj
    }

    /// Component-wise sum.
    pub fn add(&mut self, o: &EnergyBreakdown) {
        self.synaptic_pj += o.synaptic_pj;
        self.neuron_pj += o.neuron_pj;
        self.noc_pj += o.noc_pj;
        self.io_pj += o.io_pj;
        self.barrier_pj += o.barrier_pj;
        self.static_pj += o.static_pj;
    }

    /// Scaled copy.
    pub fn scaled(&self, k: f64) -> Self {
        Self {
            synaptic_pj: self.synaptic_pj * k,
            neuron_pj: self.neuron_pj * k,
            noc_pj: self.noc_pj * k,
            io_pj: self.io_pj * k,
            barrier_pj: self.barrier_pj * k,
            static_pj: self.static_pj * k,
        }
    }
}

/// Per-core counters of one timestep, with Loihi 2 profiler names.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct CoreCounters {
    /// Synaptic operations.
    pub syn_ops: u64,
    /// Neuron updates (active).
    pub dendrite_updates: u64,
    /// Messages received.
    pub spikes_in: u64,
    /// Messages sent.
    pub axon_out: u64,
    /// Synaptic-memory words read.
    pub synmem_reads: u64,
    /// Time the core was busy, ns.
    pub busy_ns: f64,
    /// Time its last work finished, ns from the start of the timestep.
    pub finish_ns: f64,
    /// Dynamic energy of the core (synaptic, neuron, messages out), pJ.
    pub energy_pj: f64,
}

/// The outcome of one timestep.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Step {
    /// Duration, ns.
    pub duration_ns: f64,
    /// The barrier's share, ns.
    pub barrier_ns: f64,
    /// The max-affine lower bound of the duration, ns.
    pub lower_bound_ns: f64,
    /// Energy.
    pub energy: EnergyBreakdown,
    /// Messages (all flows, host included).
    pub msgs: u64,
    /// Synaptic operations.
    pub synops: u64,
    /// Neuron updates.
    pub updates: u64,
    /// Index (in the program's cores) and finish time of the core that finished last.
    pub busiest_core: Option<(usize, f64)>,
    /// The link with the most bits and its busy time, ns.
    pub busiest_link: Option<(usize, f64)>,
}

/// One core of a [`TimingParts`].
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct CoreSpec {
    /// Pipeline stage (the timesteps in which its neurons update; 0 for networks that update
    /// every core every timestep).
    pub stage: u32,
    /// Neurons.
    pub neurons: u64,
    /// Neuron-program instructions of one update of all its neurons.
    pub instructions: f64,
    /// Instructions of its first neuron's update (when its first message can leave).
    pub first_instructions: f64,
}

/// One flow of a [`TimingParts`]: every message from one endpoint to another takes the same
/// route.
#[derive(Clone, Debug, PartialEq)]
pub struct FlowSpec {
    /// Sending core (index into `cores`), or the host.
    pub src: Option<usize>,
    /// Receiving core, or the host.
    pub dst: Option<usize>,
    /// Stage of the sender (0 for the host).
    pub stage: u32,
    /// Board links crossed, in order.
    pub links: Vec<LinkId>,
}

/// What the timing model needs of a mapped network.
#[derive(Clone, Debug)]
pub struct TimingParts<'a> {
    /// Highest stage.
    pub depth: u32,
    /// Cores that hold neurons.
    pub cores: Vec<CoreSpec>,
    /// Flows (indexed like the work of a timestep).
    pub flows: Vec<FlowSpec>,
    /// Every link of the board.
    pub links: &'a [Link],
    /// Tiles used.
    pub tiles: u32,
    /// Chips used.
    pub chips: u32,
}

#[derive(Clone, Debug)]
struct FlowRt {
    src: Option<usize>,
    dst: Option<usize>,
    stage: u32,
    links: Vec<u32>,
    latency_ns: f64,
    hop_energy_pj: f64,
}

/// Static timing data of a program on its chip.
#[derive(Clone, Debug)]
pub struct TimingModel {
    depth: u32,
    core_stage: Vec<u32>,
    core_neurons: Vec<u64>,
    core_upd_ns: Vec<f64>,
    core_upd_pj: Vec<f64>,
    core_first_ns: Vec<f64>,
    core_idle_ns: Vec<f64>,
    core_idle_pj: Vec<f64>,
    flows: Vec<FlowRt>,
    /// Flow indices per source stage.
    flows_by_stage: Vec<Vec<u32>>,
    /// Core indices per stage.
    cores_by_stage: Vec<Vec<u32>>,
    /// Idle-check energy of every core together.
    idle_pj_all: f64,
    /// Cores by decreasing idle-check time (ties by index).
    idle_order: Vec<(usize, f64)>,
    link_ns_per_bit: Vec<f64>,
    barrier_ns: f64,
    barrier_pj: f64,
    static_mw: f64,
    t_in: f64,
    t_read: f64,
    t_synop: f64,
    t_spike: f64,
    t_io_in: f64,
    t_io_out: f64,
    e_in: f64,
    e_read: f64,
    e_synop: f64,
    e_spike: f64,
    e_io_in: f64,
    e_io_out: f64,
}

/// Scratch space reused across timesteps. Per-core and per-link slots are reset only where
/// a timestep touched them (lists `cores` and `links`), so a timestep costs in proportion to
/// its active cores and flows, not to the size of the board.
#[derive(Clone, Debug, Default)]
pub struct Scratch {
    active: Vec<bool>,
    /// Per core: whether it is in `cores` this timestep.
    touched: Vec<bool>,
    cores: Vec<usize>,
    out_msgs: Vec<u64>,
    counters: Vec<CoreCounters>,
    first_arrival: Vec<f64>,
    recv_ns: Vec<f64>,
    last_finish: Vec<f64>,
    emit: Vec<f64>,
    link_bits: Vec<f64>,
    links: Vec<u32>,
    detailed: bool,
}

impl Scratch {
    /// Whether per-core counters are filled for every core (for traces), not only for the
    /// cores a timestep touches.
    pub fn set_detailed(&mut self, on: bool) {
        self.detailed = on;
    }

    /// Per-core counters of the last computed timestep (every core when detailed; otherwise
    /// only the cores that timestep touched hold current values).
    pub fn counters(&self) -> &[CoreCounters] {
        &self.counters
    }

    fn touch(&mut self, c: usize) {
        if !self.touched[c] {
            self.touched[c] = true;
            self.cores.push(c);
        }
    }
}

impl TimingModel {
    /// Timing data of a compiled program.
    pub fn new(prog: &Program) -> Self {
        Self::from_parts(&prog.chip, &Self::parts(prog))
    }

    /// What the timing model reads of a compiled program: its cores, flows and board links
    /// (with [`TimingModel::from_parts`] and the program's chip, the same model as
    /// [`TimingModel::new`]; with another chip of the same structure, the program priced at
    /// that chip's costs).
    pub fn parts(prog: &Program) -> TimingParts<'_> {
        let net = &prog.network;
        let cores: Vec<CoreSpec> = prog
            .cores
            .iter()
            .map(|c| {
                let piece = prog.pieces[c.pieces[0].0 as usize];
                let pop = net.pop(piece.pop);
                let instr = f64::from(pop.program.instructions());
                CoreSpec {
                    stage: pop.stage,
                    neurons: u64::from(piece.len()),
                    instructions: f64::from(piece.len()) * instr,
                    first_instructions: instr,
                }
            })
            .collect();
        // A compiled program's flows only join cores that run a piece (the compiler checks
        // it); a flow from or to any other core is a corrupted program.
        let core_of = |id| {
            prog.core_index(id)
                .unwrap_or_else(|| panic!("a flow of the program joins {id}, which runs no piece"))
        };
        let flows: Vec<FlowSpec> = prog
            .flows
            .iter()
            .map(|f| {
                let src = match f.src {
                    Endpoint::Host => None,
                    Endpoint::Core(id) => Some(core_of(id)),
                };
                FlowSpec {
                    src,
                    dst: match f.dst {
                        Endpoint::Host => None,
                        Endpoint::Core(id) => Some(core_of(id)),
                    },
                    stage: src.map_or(0, |c| cores[c].stage),
                    links: f.links.clone(),
                }
            })
            .collect();
        let (tiles, chips) = prog.tiles_and_chips();
        TimingParts {
            depth: prog.depth,
            cores,
            flows,
            links: &prog.links,
            tiles,
            chips,
        }
    }

    /// Timing data of any mapped network, from its cores, flows and board links.
    ///
    /// # Panics
    /// A flow names a core or link outside `parts`, or a stage above `parts.depth` (the
    /// callers build both from one mapping).
    pub fn from_parts(chip: &Chip, parts: &TimingParts<'_>) -> Self {
        let ops = &chip.ops;
        let per_ns = |instr: f64| {
            ops.neuron_update.latency_ns.value + instr * ops.neuron_instruction.latency_ns.value
        };
        let mut core_stage = Vec::new();
        let mut core_neurons = Vec::new();
        let mut core_upd_ns = Vec::new();
        let mut core_upd_pj = Vec::new();
        let mut core_first_ns = Vec::new();
        let mut core_idle_ns = Vec::new();
        let mut core_idle_pj = Vec::new();
        for c in &parts.cores {
            let n = c.neurons as f64;
            core_stage.push(c.stage);
            core_neurons.push(c.neurons);
            core_upd_ns.push(
                n * ops.neuron_update.latency_ns.value
                    + c.instructions * ops.neuron_instruction.latency_ns.value,
            );
            core_upd_pj.push(
                n * ops.neuron_update.energy_pj.value
                    + c.instructions * ops.neuron_instruction.energy_pj.value,
            );
            core_first_ns.push(per_ns(c.first_instructions));
            core_idle_ns.push(n * ops.neuron_idle.latency_ns.value);
            core_idle_pj.push(n * ops.neuron_idle.energy_pj.value);
        }
        let noc = &chip.noc;
        let flows: Vec<FlowRt> = parts
            .flows
            .iter()
            .map(|f| {
                let (mut lat, mut e) = (0.0, 0.0);
                for l in &f.links {
                    let link = parts.links[l.index()];
                    if link.chip_link {
                        lat += chip.board.link_latency_ns.value;
                        e += chip.board.link_energy_pj.value;
                    } else if link.axis == Axis::X {
                        lat += noc.hop_x.latency_ns.value;
                        e += noc.hop_x.energy_pj.value;
                    } else {
                        lat += noc.hop_y.latency_ns.value;
                        e += noc.hop_y.energy_pj.value;
                    }
                }
                if f.links.is_empty() {
                    lat += noc.local.latency_ns.value;
                    e += noc.local.energy_pj.value;
                }
                FlowRt {
                    src: f.src,
                    dst: f.dst,
                    stage: f.stage,
                    links: f.links.iter().map(|l| l.0).collect(),
                    latency_ns: lat,
                    hop_energy_pj: e,
                }
            })
            .collect();
        let mut flows_by_stage: Vec<Vec<u32>> = vec![Vec::new(); parts.depth as usize + 1];
        for (i, f) in flows.iter().enumerate() {
            flows_by_stage[f.stage as usize].push(i as u32);
        }
        let mut cores_by_stage: Vec<Vec<u32>> = vec![Vec::new(); parts.depth as usize + 1];
        for (c, &st) in core_stage.iter().enumerate() {
            cores_by_stage[st as usize].push(c as u32);
        }
        let idle_pj_all = core_idle_pj.iter().sum();
        let mut idle_order: Vec<(usize, f64)> = core_idle_ns.iter().copied().enumerate().collect();
        idle_order.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
        let link_ns_per_bit = parts
            .links
            .iter()
            .map(|l| {
                1.0 / if l.chip_link {
                    chip.board.link_bits_per_ns.value
                } else {
                    noc.link_bits_per_ns.value
                }
            })
            .collect();
        let (tiles, chips) = (parts.tiles, parts.chips);
        let b = &chip.barrier;
        let barrier_ns = b.base_ns.value
            + b.per_tile_ns.value * f64::from(tiles)
            + b.per_chip_ns.value * f64::from(chips.max(1) - 1);
        let barrier_pj = b.energy_pj_per_tile.value * f64::from(tiles);
        let static_mw = chip.static_power.chip_mw.value * f64::from(chip.n_chips())
            + chip.static_power.board_mw.value;
        Self {
            depth: parts.depth,
            core_stage,
            core_neurons,
            core_upd_ns,
            core_upd_pj,
            core_first_ns,
            core_idle_ns,
            core_idle_pj,
            flows,
            flows_by_stage,
            cores_by_stage,
            idle_pj_all,
            idle_order,
            link_ns_per_bit,
            barrier_ns,
            barrier_pj,
            static_mw,
            t_in: ops.message_in.latency_ns.value,
            t_read: ops.synmem_word_read.latency_ns.value,
            t_synop: ops.synop.latency_ns.value,
            t_spike: ops.spike_out.latency_ns.value,
            t_io_in: chip.io.input_message.latency_ns.value,
            t_io_out: chip.io.output_message.latency_ns.value,
            e_in: ops.message_in.energy_pj.value,
            e_read: ops.synmem_word_read.energy_pj.value,
            e_synop: ops.synop.energy_pj.value,
            e_spike: ops.spike_out.energy_pj.value,
            e_io_in: chip.io.input_message.energy_pj.value,
            e_io_out: chip.io.output_message.energy_pj.value,
        }
    }

    /// Timesteps a token spends in the pipeline.
    pub fn depth(&self) -> u32 {
        self.depth
    }

    /// The static power of the board, mW.
    pub fn static_mw(&self) -> f64 {
        self.static_mw
    }

    /// Barrier latency, ns.
    pub fn barrier_ns(&self) -> f64 {
        self.barrier_ns
    }

    /// Computes one timestep in which stage `s` works on the token whose work is `w`, for every
    /// `(s, w)` in `active`.
    pub fn step(&self, active: &[(u32, &TokenWork)], sc: &mut Scratch) -> Step {
        let nc = self.core_stage.len();
        if sc.touched.len() != nc + 1 {
            sc.touched = vec![false; nc + 1];
            sc.out_msgs = vec![0; nc];
            sc.counters = vec![CoreCounters::default(); nc];
            sc.first_arrival = vec![f64::INFINITY; nc + 1];
            sc.recv_ns = vec![0.0; nc + 1];
            sc.last_finish = vec![0.0; nc + 1];
            sc.emit = vec![0.0; nc];
            sc.link_bits = vec![0.0; self.link_ns_per_bit.len()];
            sc.active = vec![false; self.depth as usize + 1];
        }
        for &(s, _) in active {
            sc.active[s as usize] = true;
        }
        let mut st = Step::default();
        // The cores that update this timestep.
        if sc.detailed {
            for c in 0..nc {
                sc.touch(c);
            }
        } else {
            for &(s, _) in active {
                for &c in &self.cores_by_stage[s as usize] {
                    sc.touch(c as usize);
                }
            }
        }
        // Pass 1: messages out per sender, link loads, receivers.
        let mut host_out = 0u64;
        for &(s, w) in active {
            for &fi in &self.flows_by_stage[s as usize] {
                let fw = &w.flows[fi as usize];
                if fw.msgs == 0 {
                    continue;
                }
                let f = &self.flows[fi as usize];
                match f.src {
                    Some(c) => {
                        sc.touch(c);
                        sc.out_msgs[c] += u64::from(fw.msgs);
                    }
                    None => host_out += u64::from(fw.msgs),
                }
                if let Some(d) = f.dst {
                    sc.touch(d);
                }
                for &l in &f.links {
                    if sc.link_bits[l as usize] == 0.0 {
                        sc.links.push(l);
                    }
                    sc.link_bits[l as usize] += f64::from(fw.bits);
                }
            }
        }
        // Neuron units and emission windows of the touched cores; every other core only checks
        // its idle neurons (precomputed).
        let mut idle_pj_touched = 0.0;
        for &c in &sc.cores {
            let on = sc.active[self.core_stage[c] as usize];
            let (u_ns, u_pj) = if on {
                (self.core_upd_ns[c], self.core_upd_pj[c])
            } else {
                (self.core_idle_ns[c], self.core_idle_pj[c])
            };
            idle_pj_touched += self.core_idle_pj[c];
            st.energy.neuron_pj += u_pj;
            let x_ns = sc.out_msgs[c] as f64 * self.t_spike;
            sc.emit[c] = u_ns.max(x_ns);
            let k = &mut sc.counters[c];
            *k = CoreCounters::default();
            if on {
                k.dendrite_updates = self.core_neurons[c];
                st.updates += self.core_neurons[c];
            }
            k.axon_out = sc.out_msgs[c];
            k.busy_ns = u_ns + x_ns;
            k.energy_pj = u_pj + sc.out_msgs[c] as f64 * self.e_spike;
            st.lower_bound_ns = st.lower_bound_ns.max(u_ns);
        }
        st.energy.neuron_pj += self.idle_pj_all - idle_pj_touched;
        let host_emit = host_out as f64 * self.t_io_in;
        st.energy.io_pj += host_out as f64 * self.e_io_in;
        // Links.
        let mut max_link = 0f64;
        for &l in &sc.links {
            let t = sc.link_bits[l as usize] * self.link_ns_per_bit[l as usize];
            if t > max_link
                || (t == max_link && st.busiest_link.is_some_and(|(b, _)| (l as usize) < b))
            {
                max_link = t;
                st.busiest_link = Some((l as usize, t));
            }
        }
        st.lower_bound_ns = st.lower_bound_ns.max(max_link);
        // Pass 2: arrivals and receive work.
        for &(s, w) in active {
            for &fi in &self.flows_by_stage[s as usize] {
                let fw = &w.flows[fi as usize];
                if fw.msgs == 0 {
                    continue;
                }
                let f = &self.flows[fi as usize];
                let msgs = f64::from(fw.msgs);
                st.msgs += u64::from(fw.msgs);
                st.synops += u64::from(fw.synops);
                let (src_emit, src_first) = match f.src {
                    Some(c) => {
                        st.energy.noc_pj += msgs * self.e_spike;
                        (sc.emit[c], self.core_first_ns[c] + self.t_spike)
                    }
                    None => (host_emit, self.t_io_in),
                };
                st.energy.noc_pj += msgs * f.hop_energy_pj;
                let queue = f
                    .links
                    .iter()
                    .map(|&l| sc.link_bits[l as usize] * self.link_ns_per_bit[l as usize])
                    .fold(0f64, f64::max);
                let last = src_emit.max(queue) + f.latency_ns;
                let first = src_first + f.latency_ns;
                let (r_ns, slot) = match f.dst {
                    Some(d) => {
                        let r = msgs * self.t_in
                            + f64::from(fw.words) * self.t_read
                            + f64::from(fw.synops) * self.t_synop;
                        let e = msgs * self.e_in
                            + f64::from(fw.words) * self.e_read
                            + f64::from(fw.synops) * self.e_synop;
                        let k = &mut sc.counters[d];
                        k.syn_ops += u64::from(fw.synops);
                        k.spikes_in += u64::from(fw.msgs);
                        k.synmem_reads += u64::from(fw.words);
                        k.busy_ns += r;
                        k.energy_pj += e;
                        st.energy.synaptic_pj += e;
                        (r, d)
                    }
                    None => {
                        st.energy.io_pj += msgs * self.e_io_out;
                        (msgs * self.t_io_out, nc)
                    }
                };
                sc.recv_ns[slot] += r_ns;
                sc.first_arrival[slot] = sc.first_arrival[slot].min(first);
                sc.last_finish[slot] = sc.last_finish[slot].max(last + r_ns / msgs);
            }
        }
        // Finish times: the touched cores, the host, and the longest idle check of the rest.
        let finish = |c: usize, own: f64, sc: &Scratch| -> f64 {
            let recv = if sc.first_arrival[c].is_finite() {
                sc.first_arrival[c] + sc.recv_ns[c]
            } else {
                0.0
            };
            own.max(recv).max(sc.last_finish[c])
        };
        let mut end = finish(nc, host_emit, sc);
        let mut busiest: Option<(usize, f64)> = None;
        for i in 0..sc.cores.len() {
            let c = sc.cores[i];
            let fin = finish(c, sc.emit[c], sc);
            let k = &mut sc.counters[c];
            k.finish_ns = fin;
            st.lower_bound_ns = st
                .lower_bound_ns
                .max(k.syn_ops as f64 * self.t_synop)
                .max(k.synmem_reads as f64 * self.t_read)
                .max(k.spikes_in as f64 * self.t_in);
            if busiest.is_none_or(|(b, f)| fin > f || (fin == f && c < b)) {
                busiest = Some((c, fin));
            }
            end = end.max(fin);
        }
        if let Some(&(c, idle)) = self.idle_order.iter().find(|&&(c, _)| !sc.touched[c]) {
            if busiest.is_none_or(|(b, f)| idle > f || (idle == f && c < b)) {
                busiest = Some((c, idle));
            }
            end = end.max(idle);
            st.lower_bound_ns = st.lower_bound_ns.max(idle);
        }
        st.busiest_core = busiest;
        st.lower_bound_ns = st.lower_bound_ns.max(self.barrier_ns);
        st.barrier_ns = self.barrier_ns;
        st.duration_ns = end + self.barrier_ns;
        st.energy.barrier_pj = self.barrier_pj;
        // mW x ns = pJ.
        st.energy.static_pj = self.static_mw * st.duration_ns;
        // Reset what this timestep touched.
        for &(s, _) in active {
            sc.active[s as usize] = false;
        }
        for &c in &sc.cores {
            sc.touched[c] = false;
            sc.out_msgs[c] = 0;
            sc.first_arrival[c] = f64::INFINITY;
            sc.recv_ns[c] = 0.0;
            sc.last_finish[c] = 0.0;
        }
        sc.cores.clear();
        sc.first_arrival[nc] = f64::INFINITY;
        sc.recv_ns[nc] = 0.0;
        sc.last_finish[nc] = 0.0;
        for &l in &sc.links {
            sc.link_bits[l as usize] = 0.0;
        }
        sc.links.clear();
        st
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::{FlowWork, Tables};
    use loisim_arch::Chip;
    use loisim_compiler::{CompileOptions, compile};
    use loisim_import::observe::Recipe;
    use loisim_import::synth::{Distribution, GenConfig, generate};
    use proptest::prelude::*;

    /// A small random program and the work of a few tokens on it.
    fn program(
        seed: u64,
        sparsity: f64,
        per_core: u32,
        n_tokens: usize,
    ) -> (Program, Vec<TokenWork>) {
        let cfg = GenConfig {
            width: 2.0 / 16.0,
            n_layers: 2,
            sparsity,
            distribution: Distribution::Erk,
            seed,
            recipe: Recipe::W8A16,
        };
        let g =
            generate(&cfg, "t", &loisim_import::synth::pseudo_spectrum(seed, 8)).expect("generate");
        let opts = CompileOptions {
            max_neurons_per_core: per_core,
            ..CompileOptions::default()
        };
        let prog = compile(&g.model, &Chip::default_chip(), &opts, None).expect("compile");
        let inputs = loisim_import::input::tokens_from_magnitudes(
            &loisim_import::synth::pseudo_spectrum(seed ^ 7, n_tokens),
            &g.model,
        )
        .expect("tokens");
        let tables = Tables::new(&prog);
        let mut lane = tables.lane();
        let works = inputs
            .iter()
            .map(|x| {
                let mut tok = tables.token_state();
                tables.run(&mut lane, &mut tok, x, 0..tables.n_units());
                tok.work
            })
            .collect();
        (prog, works)
    }

    /// The stage of every core of a program.
    fn core_stages(prog: &Program) -> Vec<u32> {
        prog.cores
            .iter()
            .map(|c| {
                prog.network
                    .pop(prog.pieces[c.pieces[0].0 as usize].pop)
                    .stage
            })
            .collect()
    }

    #[test]
    fn a_timestep_without_messages_is_the_slowest_neuron_unit_plus_the_barrier() {
        let (prog, works) = program(3, 0.8, 24, 1);
        let model = TimingModel::new(&prog);
        let silent = TokenWork {
            flows: vec![FlowWork::default(); works[0].flows.len()],
        };
        let ops = &prog.chip.ops;
        let stages = core_stages(&prog);
        for s in 0..=prog.depth {
            let (mut slowest_ns, mut neuron_pj) = (0f64, 0f64);
            for (c, core) in prog.cores.iter().enumerate() {
                let piece = prog.pieces[core.pieces[0].0 as usize];
                let n = f64::from(piece.len());
                let instr = f64::from(prog.network.pop(piece.pop).program.instructions());
                let (ns, pj) = if stages[c] == s {
                    (
                        n * (ops.neuron_update.latency_ns.value
                            + instr * ops.neuron_instruction.latency_ns.value),
                        n * (ops.neuron_update.energy_pj.value
                            + instr * ops.neuron_instruction.energy_pj.value),
                    )
                } else {
                    (
                        n * ops.neuron_idle.latency_ns.value,
                        n * ops.neuron_idle.energy_pj.value,
                    )
                };
                slowest_ns = slowest_ns.max(ns);
                neuron_pj += pj;
            }
            let step = model.step(&[(s, &silent)], &mut Scratch::default());
            let want_ns = slowest_ns + model.barrier_ns();
            assert!(
                (step.duration_ns - want_ns).abs() <= 1e-9 * want_ns,
                "stage {s}"
            );
            assert!((step.energy.neuron_pj - neuron_pj).abs() <= 1e-9 * neuron_pj.max(1.0));
            assert_eq!(step.energy.synaptic_pj, 0.0);
            assert_eq!(step.energy.noc_pj, 0.0);
            assert_eq!(step.energy.io_pj, 0.0);
            assert_eq!(step.msgs, 0);
            assert_eq!(step.synops, 0);
            assert!(
                (step.energy.static_pj - model.static_mw() * step.duration_ns).abs()
                    <= 1e-9 * step.energy.static_pj
            );
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 32, ..ProptestConfig::default() })]
        /// Visiting only the touched cores and links gives exactly what visiting every core
        /// gives, for fall-through steps (one stage) and pipeline steps (every stage, each on
        /// its own token); and no step is shorter than its lower bound or than any core's work.
        #[test]
        fn the_touched_set_fast_path_equals_the_full_visit(
            seed in any::<u64>(), sparsity in 0.0f64..0.95, per_core in 4u32..40,
        ) {
            let (prog, works) = program(seed, sparsity, per_core, 3);
            let model = TimingModel::new(&prog);
            let mut fast = Scratch::default();
            let mut full = Scratch::default();
            full.set_detailed(true);
            let mut cases: Vec<Vec<(u32, &TokenWork)>> = Vec::new();
            for w in &works {
                for s in 0..=prog.depth {
                    cases.push(vec![(s, w)]);
                }
            }
            cases.push((0..=prog.depth).map(|s| (s, &works[s as usize % works.len()])).collect());
            for active in &cases {
                let a = model.step(active, &mut fast);
                let b = model.step(active, &mut full);
                prop_assert_eq!(&a, &b);
                prop_assert!(b.duration_ns + 1e-9 >= b.lower_bound_ns);
                for k in full.counters() {
                    prop_assert!(k.finish_ns <= b.duration_ns - b.barrier_ns + 1e-9);
                }
                // On a fresh scratch the fast path fills only the cores it touched, with the
                // counters of the full visit (a reused scratch keeps stale counters elsewhere).
                let mut fresh = Scratch::default();
                prop_assert_eq!(&model.step(active, &mut fresh), &b);
                for (c, k) in fresh.counters().iter().enumerate() {
                    if *k != CoreCounters::default() {
                        prop_assert_eq!(k, &full.counters()[c]);
                    }
                }
            }
        }
    }

    #[test]
    #[should_panic(expected = "which runs no piece")]
    fn a_flow_from_a_core_without_a_piece_is_a_corrupted_program_not_core_zero() {
        let (mut prog, _) = program(3, 0.8, 24, 1);
        let unused = loisim_compiler::layout::CoreId(prog.chip.n_cores() - 1);
        assert!(prog.core_index(unused).is_none());
        let f = prog
            .flows
            .iter_mut()
            .find(|f| f.src != Endpoint::Host)
            .expect("a flow between cores");
        f.src = Endpoint::Core(unused);
        let _ = TimingModel::new(&prog);
    }
}
