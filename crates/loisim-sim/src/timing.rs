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
//! Inputs and outputs meet the mesh at one more endpoint with two independent paths: the inputs
//! are sent one after the other by the on-chip sequencer or the host (`io.inputs`), at that
//! sender's per-message cost; the host extracts the outputs one after the other at its own;
//! sending and extraction overlap (the endpoint's `emit` is the sending, its receive work the
//! extraction).
//!
//! `Step::lower_bound_ns` reports the max-affine lower bound of Timcheck, Pierro and Shrestha
//! (2026), `max(max_c U_c, max_c synops_c t_synop, max_c words_c t_read, max_c msgs_in_c t_in,
//! max_l T_l, barrier)`, computed here from the same counters as the step: it says how far a
//! timestep is from their model, and cannot by itself catch an error in these formulas. The
//! check is `tests/lower_bound.rs`, which recomputes the bound from the functional run's raw
//! counts and the chip's constants, without this module, on every timestep of every shipped
//! model; the formulas themselves are tested against hand-computed timesteps below.

use crate::engine::TokenWork;
use loisim_arch::Chip;
use loisim_compiler::layout::{Axis, Endpoint, Link, LinkId};
use loisim_compiler::program::Program;
use serde::{Deserialize, Serialize};

/// Energy of a timestep or a run, pJ: by component (what did the work) and by power domain
/// (which rail or part of the board paid for it).
///
/// Domains are those of Intel's Lava profiler: VDD (neurocore logic), VDD-M (memories),
/// VDD-IO (chip I/O, the on-chip sequencer), plus `board`: what a whole-board measurement adds
/// to the chip rails (FPGA, embedded host). Two bases: **chip** (the three rails, what the
/// profiler measures; the default of every headline figure) and **board** (chip rails plus
/// board). Components map onto domains by the chip's [`loisim_arch::PowerSplit`] shares; the
/// domain fields are filled by [`EnergyBreakdown::assign_domains`] and, like every field, add
/// up over timesteps.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct EnergyBreakdown {
    /// Messages in: axon-map lookups at the receiving core.
    pub axon_in_pj: f64,
    /// Synaptic-memory word reads.
    pub synmem_pj: f64,
    /// Synaptic operations (the multiply-accumulate logic).
    pub synop_pj: f64,
    /// Neuron state: active updates and idle checks.
    pub neuron_state_pj: f64,
    /// Neuron-program instructions.
    pub neuron_instr_pj: f64,
    /// Messages out: output-axon lookups.
    pub spike_out_pj: f64,
    /// Router hops on chip.
    pub noc_pj: f64,
    /// Chip-to-chip links.
    pub link_pj: f64,
    /// The on-chip sequencer sending inputs.
    pub sequencer_pj: f64,
    /// Host messages: inputs the host injects, outputs it extracts.
    pub host_pj: f64,
    /// Barrier synchronisation.
    pub barrier_pj: f64,
    /// Dynamic energy on VDD.
    pub dynamic_vdd_pj: f64,
    /// Dynamic energy on VDD-M.
    pub dynamic_vdd_m_pj: f64,
    /// Dynamic energy on VDD-IO.
    pub dynamic_vdd_io_pj: f64,
    /// Dynamic energy the board adds (its share of host messages).
    pub dynamic_board_pj: f64,
    /// Static energy on VDD.
    pub static_vdd_pj: f64,
    /// Static energy on VDD-M.
    pub static_vdd_m_pj: f64,
    /// Static energy on VDD-IO.
    pub static_vdd_io_pj: f64,
    /// Static energy the board adds.
    pub static_board_pj: f64,
}

/// The domain shares of [`loisim_arch::PowerSplit`], as numbers.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct DomainShares {
    /// Share of neuron-state energy on VDD-M.
    pub neuron_state_vdd_m: f64,
    /// Share of axon-lookup energy (message in, spike out) on VDD-M.
    pub axon_lookup_vdd_m: f64,
    /// Share of host-message energy on VDD-IO.
    pub host_message_vdd_io: f64,
}

impl DomainShares {
    /// The shares of `chip`.
    pub fn of(chip: &Chip) -> Self {
        let p = &chip.power;
        Self {
            neuron_state_vdd_m: p.neuron_state_vdd_m_share.value,
            axon_lookup_vdd_m: p.axon_lookup_vdd_m_share.value,
            host_message_vdd_io: p.host_message_vdd_io_share.value,
        }
    }
}

impl EnergyBreakdown {
    /// Sets the dynamic domain fields from the components.
    pub fn assign_domains(&mut self, s: &DomainShares) {
        let axon = self.axon_in_pj + self.spike_out_pj;
        self.dynamic_vdd_m_pj = self.synmem_pj
            + s.neuron_state_vdd_m * self.neuron_state_pj
            + s.axon_lookup_vdd_m * axon;
        self.dynamic_vdd_pj = self.synop_pj
            + self.neuron_instr_pj
            + (1.0 - s.neuron_state_vdd_m) * self.neuron_state_pj
            + (1.0 - s.axon_lookup_vdd_m) * axon
            + self.noc_pj
            + self.barrier_pj;
        self.dynamic_vdd_io_pj =
            self.link_pj + self.sequencer_pj + s.host_message_vdd_io * self.host_pj;
        self.dynamic_board_pj = (1.0 - s.host_message_vdd_io) * self.host_pj;
    }

    /// Dynamic energy on the chip rails (the default basis).
    pub fn dynamic_pj(&self) -> f64 {
        self.dynamic_vdd_pj + self.dynamic_vdd_m_pj + self.dynamic_vdd_io_pj
    }

    /// Static energy on the chip rails.
    pub fn static_pj(&self) -> f64 {
        self.static_vdd_pj + self.static_vdd_m_pj + self.static_vdd_io_pj
    }

    /// Total energy on the chip rails (the default basis).
    pub fn total_pj(&self) -> f64 {
        self.dynamic_pj() + self.static_pj()
    }

    /// Dynamic energy of the whole board (chip rails and board).
    pub fn dynamic_board_basis_pj(&self) -> f64 {
        self.dynamic_pj() + self.dynamic_board_pj
    }

    /// Static energy of the whole board.
    pub fn static_board_basis_pj(&self) -> f64 {
        self.static_pj() + self.static_board_pj
    }

    /// Total energy of the whole board.
    pub fn total_board_basis_pj(&self) -> f64 {
        self.dynamic_board_basis_pj() + self.static_board_basis_pj()
    }

    /// Sum of the components (equals [`EnergyBreakdown::dynamic_board_basis_pj`] once the
    /// domains are assigned).
    pub fn components_pj(&self) -> f64 {
        self.axon_in_pj
            + self.synmem_pj
            + self.synop_pj
            + self.neuron_state_pj
            + self.neuron_instr_pj
            + self.spike_out_pj
            + self.noc_pj
            + self.link_pj
            + self.sequencer_pj
            + self.host_pj
            + self.barrier_pj
    }

    fn fields_mut(&mut self) -> [&mut f64; 19] {
        [
            &mut self.axon_in_pj,
            &mut self.synmem_pj,
            &mut self.synop_pj,
            &mut self.neuron_state_pj,
            &mut self.neuron_instr_pj,
            &mut self.spike_out_pj,
            &mut self.noc_pj,
            &mut self.link_pj,
            &mut self.sequencer_pj,
            &mut self.host_pj,
            &mut self.barrier_pj,
            &mut self.dynamic_vdd_pj,
            &mut self.dynamic_vdd_m_pj,
            &mut self.dynamic_vdd_io_pj,
            &mut self.dynamic_board_pj,
            &mut self.static_vdd_pj,
            &mut self.static_vdd_m_pj,
            &mut self.static_vdd_io_pj,
            &mut self.static_board_pj,
        ]
    }

    /// Component-wise sum.
    pub fn add(&mut self, o: &EnergyBreakdown) {
        let mut o = *o;
        for (a, b) in self.fields_mut().into_iter().zip(o.fields_mut()) {
            *a += *b;
        }
    }

    /// Scaled copy.
    pub fn scaled(&self, k: f64) -> Self {
        let mut e = *self;
        for a in e.fields_mut() {
            *a *= k;
        }
        e
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
    /// Busy time of the neuron unit (updates or idle checks), ns.
    pub neuron_busy_ns: f64,
    /// Busy time of the synapse unit (messages in, synaptic-memory reads, synaptic
    /// operations), ns.
    pub synapse_busy_ns: f64,
    /// Busy time of the axon unit (messages out), ns.
    pub axon_busy_ns: f64,
    /// Busy time of the busiest of the three units, which work at the same time, ns (never
    /// more than `finish_ns`).
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
    /// Energy of the on-chip hops of one message.
    hop_energy_pj: f64,
    /// Energy of the chip-to-chip links of one message.
    link_energy_pj: f64,
}

/// Static timing data of a program on its chip.
#[derive(Clone, Debug)]
pub struct TimingModel {
    depth: u32,
    core_stage: Vec<u32>,
    core_neurons: Vec<u64>,
    core_upd_ns: Vec<f64>,
    /// Neuron-state energy of an update of all the core's neurons.
    core_upd_pj: Vec<f64>,
    /// Instruction energy of an update of all the core's neurons.
    core_instr_pj: Vec<f64>,
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
    /// Static power attributed to a run, mW: VDD, VDD-M, VDD-IO, board.
    static_mw: [f64; 4],
    shares: DomainShares,
    /// Whether the inputs are sent by the on-chip sequencer (else by the host).
    sequencer: bool,
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
        let mut core_instr_pj = Vec::new();
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
            core_upd_pj.push(n * ops.neuron_update.energy_pj.value);
            core_instr_pj.push(c.instructions * ops.neuron_instruction.energy_pj.value);
            core_first_ns.push(per_ns(c.first_instructions));
            core_idle_ns.push(n * ops.neuron_idle.latency_ns.value);
            core_idle_pj.push(n * ops.neuron_idle.energy_pj.value);
        }
        let noc = &chip.noc;
        let flows: Vec<FlowRt> = parts
            .flows
            .iter()
            .map(|f| {
                let (mut lat, mut e, mut e_link) = (0.0, 0.0, 0.0);
                for l in &f.links {
                    let link = parts.links[l.index()];
                    if link.chip_link {
                        lat += chip.board.link_latency_ns.value;
                        e_link += chip.board.link_energy_pj.value;
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
                    link_energy_pj: e_link,
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
        let sp = &chip.static_power;
        let n_chips = f64::from(chip.n_chips());
        // Intel's multi-chip rule counts the chips a run uses and their share of the board.
        let (chips_counted, board_share) = match sp.rule.value {
            loisim_arch::StaticRule::WholeBoard => (n_chips, 1.0),
            loisim_arch::StaticRule::UsedChips => {
                let used = f64::from(chips.clamp(1, chip.n_chips().max(1)));
                (used, used / n_chips.max(1.0))
            }
        };
        let static_mw = [
            sp.vdd_mw.value * chips_counted,
            sp.vdd_m_mw.value * chips_counted,
            sp.vdd_io_mw.value * chips_counted,
            sp.board_mw.value * board_share,
        ];
        let sequencer = chip.io.inputs.value == loisim_arch::InputSource::Sequencer;
        let input = chip.input_cost();
        Self {
            depth: parts.depth,
            core_stage,
            core_neurons,
            core_upd_ns,
            core_upd_pj,
            core_instr_pj,
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
            shares: DomainShares::of(chip),
            sequencer,
            t_in: ops.message_in.latency_ns.value,
            t_read: ops.synmem_word_read.latency_ns.value,
            t_synop: ops.synop.latency_ns.value,
            t_spike: ops.spike_out.latency_ns.value,
            t_io_in: input.latency_ns.value,
            t_io_out: chip.io.output_message.latency_ns.value,
            e_in: ops.message_in.energy_pj.value,
            e_read: ops.synmem_word_read.energy_pj.value,
            e_synop: ops.synop.energy_pj.value,
            e_spike: ops.spike_out.energy_pj.value,
            e_io_in: input.energy_pj.value,
            e_io_out: chip.io.output_message.energy_pj.value,
        }
    }

    /// Timesteps a token spends in the pipeline.
    pub fn depth(&self) -> u32 {
        self.depth
    }

    /// The static power attributed to a run on the chip rails, mW (the default basis).
    pub fn static_mw(&self) -> f64 {
        self.static_mw[0] + self.static_mw[1] + self.static_mw[2]
    }

    /// The static power attributed to a run on the whole board, mW.
    pub fn static_board_basis_mw(&self) -> f64 {
        self.static_mw() + self.static_mw[3]
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
            let (u_ns, u_pj, i_pj) = if on {
                (
                    self.core_upd_ns[c],
                    self.core_upd_pj[c],
                    self.core_instr_pj[c],
                )
            } else {
                (self.core_idle_ns[c], self.core_idle_pj[c], 0.0)
            };
            idle_pj_touched += self.core_idle_pj[c];
            st.energy.neuron_state_pj += u_pj;
            st.energy.neuron_instr_pj += i_pj;
            let x_ns = sc.out_msgs[c] as f64 * self.t_spike;
            sc.emit[c] = u_ns.max(x_ns);
            let k = &mut sc.counters[c];
            *k = CoreCounters::default();
            if on {
                k.dendrite_updates = self.core_neurons[c];
                st.updates += self.core_neurons[c];
            }
            k.axon_out = sc.out_msgs[c];
            k.neuron_busy_ns = u_ns;
            k.axon_busy_ns = x_ns;
            k.energy_pj = u_pj + i_pj + sc.out_msgs[c] as f64 * self.e_spike;
            st.lower_bound_ns = st.lower_bound_ns.max(u_ns);
        }
        st.energy.neuron_state_pj += self.idle_pj_all - idle_pj_touched;
        // The inputs: sent by the on-chip sequencer or injected by the host, one after the
        // other; the host's extraction of outputs is a separate path and overlaps them.
        let host_emit = host_out as f64 * self.t_io_in;
        if self.sequencer {
            st.energy.sequencer_pj += host_out as f64 * self.e_io_in;
        } else {
            st.energy.host_pj += host_out as f64 * self.e_io_in;
        }
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
                        st.energy.spike_out_pj += msgs * self.e_spike;
                        (sc.emit[c], self.core_first_ns[c] + self.t_spike)
                    }
                    None => (host_emit, self.t_io_in),
                };
                st.energy.noc_pj += msgs * f.hop_energy_pj;
                st.energy.link_pj += msgs * f.link_energy_pj;
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
                        let (e_in, e_read, e_synop) = (
                            msgs * self.e_in,
                            f64::from(fw.words) * self.e_read,
                            f64::from(fw.synops) * self.e_synop,
                        );
                        let e = e_in + e_read + e_synop;
                        let k = &mut sc.counters[d];
                        k.syn_ops += u64::from(fw.synops);
                        k.spikes_in += u64::from(fw.msgs);
                        k.synmem_reads += u64::from(fw.words);
                        k.synapse_busy_ns += r;
                        k.energy_pj += e;
                        st.energy.axon_in_pj += e_in;
                        st.energy.synmem_pj += e_read;
                        st.energy.synop_pj += e_synop;
                        (r, d)
                    }
                    None => {
                        st.energy.host_pj += msgs * self.e_io_out;
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
            k.busy_ns = k.neuron_busy_ns.max(k.synapse_busy_ns).max(k.axon_busy_ns);
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
        st.energy.static_vdd_pj = self.static_mw[0] * st.duration_ns;
        st.energy.static_vdd_m_pj = self.static_mw[1] * st.duration_ns;
        st.energy.static_vdd_io_pj = self.static_mw[2] * st.duration_ns;
        st.energy.static_board_pj = self.static_mw[3] * st.duration_ns;
        st.energy.assign_domains(&self.shares);
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
            let e = &step.energy;
            let neuron = e.neuron_state_pj + e.neuron_instr_pj;
            assert!((neuron - neuron_pj).abs() <= 1e-9 * neuron_pj.max(1.0));
            for v in [
                e.axon_in_pj,
                e.synmem_pj,
                e.synop_pj,
                e.spike_out_pj,
                e.noc_pj,
                e.link_pj,
                e.sequencer_pj,
                e.host_pj,
            ] {
                assert_eq!(v, 0.0);
            }
            assert_eq!(step.msgs, 0);
            assert_eq!(step.synops, 0);
            assert!(
                (e.static_pj() - model.static_mw() * step.duration_ns).abs()
                    <= 1e-9 * e.static_pj()
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

/// Every formula of the timestep against values computed by hand on a three-core network
/// with round constants (docs/cost-model.md, sections 4 and 6).
#[cfg(test)]
mod formulas {
    use super::*;
    use crate::engine::FlowWork;
    use loisim_arch::OpCost;

    fn set(c: &mut OpCost, ns: f64, pj: f64) {
        c.latency_ns.value = ns;
        c.energy_pj.value = pj;
    }

    /// The default chip with round constants (one chip on its board).
    fn chip() -> Chip {
        let mut c = Chip::default_chip();
        assert_eq!(c.n_chips(), 1);
        let o = &mut c.ops;
        set(&mut o.neuron_update, 10.0, 40.0);
        set(&mut o.neuron_instruction, 1.0, 2.0);
        set(&mut o.neuron_idle, 3.0, 5.0);
        set(&mut o.spike_out, 4.0, 20.0);
        set(&mut o.message_in, 5.0, 7.0);
        set(&mut o.synmem_word_read, 6.0, 11.0);
        set(&mut o.synop, 2.0, 3.0);
        set(&mut c.noc.hop_x, 8.0, 30.0);
        set(&mut c.noc.hop_y, 9.0, 40.0);
        set(&mut c.noc.local, 1.0, 1.5);
        c.noc.link_bits_per_ns.value = 32.0;
        c.board.link_latency_ns.value = 100.0;
        c.board.link_energy_pj.value = 500.0;
        c.board.link_bits_per_ns.value = 8.0;
        c.barrier.base_ns.value = 100.0;
        c.barrier.per_tile_ns.value = 10.0;
        c.barrier.per_chip_ns.value = 1000.0;
        c.barrier.energy_pj_per_tile.value = 10.0;
        c.static_power.vdd_mw.value = 50.0;
        c.static_power.vdd_m_mw.value = 40.0;
        c.static_power.vdd_io_mw.value = 10.0;
        c.static_power.board_mw.value = 1000.0;
        c.static_power.rule.value = loisim_arch::StaticRule::WholeBoard;
        c.power.neuron_state_vdd_m_share.value = 0.5;
        c.power.axon_lookup_vdd_m_share.value = 0.7;
        c.power.host_message_vdd_io_share.value = 0.1;
        // The host sends the inputs (the sequencer has its own test).
        c.io.inputs.value = loisim_arch::InputSource::Host;
        set(&mut c.io.sequencer_message, 30.0, 60.0);
        set(&mut c.io.input_message, 50.0, 1000.0);
        set(&mut c.io.output_message, 40.0, 900.0);
        c
    }

    fn link(axis: Axis, chip_link: bool) -> Link {
        Link {
            from: (0, 0),
            to: (1, 0),
            axis,
            chip_link,
        }
    }

    /// Links: 0 an X link, 1 a Y link, 2 a chip-to-chip link.
    fn links() -> Vec<Link> {
        vec![
            link(Axis::X, false),
            link(Axis::Y, false),
            link(Axis::X, true),
        ]
    }

    /// Core 0 (stage 0): 4 neurons of 5 instructions. Core 1 (stage 1): 2 neurons of 3
    /// instructions. Core 2 (stage 1): 3 neurons of 2 instructions. Flows: 0 host -> core 0
    /// (no link: local), 1 core 0 -> core 1 over links 0 and 1, 2 core 0 -> core 2 over link 0,
    /// 3 core 1 -> host over the chip link.
    fn parts(links: &[Link], tiles: u32, chips: u32) -> TimingParts<'_> {
        let core = |stage, neurons: u64, instr: f64| CoreSpec {
            stage,
            neurons,
            instructions: neurons as f64 * instr,
            first_instructions: instr,
        };
        let flow = |src, dst, stage, l: &[u32]| FlowSpec {
            src,
            dst,
            stage,
            links: l.iter().map(|&i| LinkId(i)).collect(),
        };
        TimingParts {
            depth: 1,
            cores: vec![core(0, 4, 5.0), core(1, 2, 3.0), core(1, 3, 2.0)],
            flows: vec![
                flow(None, Some(0), 0, &[]),
                flow(Some(0), Some(1), 0, &[0, 1]),
                flow(Some(0), Some(2), 0, &[0]),
                flow(Some(1), None, 1, &[2]),
            ],
            links,
            tiles,
            chips,
        }
    }

    fn fw(msgs: u32, words: u32, synops: u32) -> FlowWork {
        FlowWork {
            msgs,
            bits: msgs * 48,
            words,
            synops,
        }
    }

    /// The work of one token: flow 0 3 messages (3 words, 6 synops), flow 1 4 (8, 10),
    /// flow 2 2 (2, 4), flow 3 5 messages to the host.
    fn work() -> TokenWork {
        TokenWork {
            flows: vec![fw(3, 3, 6), fw(4, 8, 10), fw(2, 2, 4), fw(5, 0, 0)],
        }
    }

    fn step(model: &TimingModel, active: &[(u32, &TokenWork)]) -> (Step, Vec<CoreCounters>) {
        let mut sc = Scratch::default();
        sc.set_detailed(true);
        let st = model.step(active, &mut sc);
        (st, sc.counters().to_vec())
    }

    #[track_caller]
    fn close(got: f64, want: f64) {
        assert!(
            (got - want).abs() <= 1e-9 * want.abs().max(1.0),
            "got {got}, want {want}"
        );
    }

    #[test]
    fn barrier_is_base_plus_tiles_plus_extra_chips() {
        let (c, l) = (chip(), links());
        // 100 + 10 x 2 tiles.
        close(
            TimingModel::from_parts(&c, &parts(&l, 2, 1)).barrier_ns(),
            120.0,
        );
        // 100 + 10 x 5 tiles + 1000 x (3 - 1) chips.
        close(
            TimingModel::from_parts(&c, &parts(&l, 5, 3)).barrier_ns(),
            2150.0,
        );
        // Energy: 10 pJ per tile, every timestep.
        let m = TimingModel::from_parts(&c, &parts(&l, 5, 3));
        let silent = TokenWork {
            flows: vec![FlowWork::default(); 4],
        };
        close(step(&m, &[(0, &silent)]).0.energy.barrier_pj, 50.0);
    }

    #[test]
    fn neuron_unit_time_is_updates_and_instructions_or_idle_checks() {
        let (c, l) = (chip(), links());
        let m = TimingModel::from_parts(&c, &parts(&l, 2, 1));
        let silent = TokenWork {
            flows: vec![FlowWork::default(); 4],
        };
        // Stage 0: core 0 updates 4 x (10 + 5 x 1) = 60 ns; cores 1 and 2 check their idle
        // neurons, 2 x 3 = 6 and 3 x 3 = 9 ns.
        let (st, k) = step(&m, &[(0, &silent)]);
        close(st.duration_ns, 60.0 + 120.0);
        close(k[0].finish_ns, 60.0);
        close(k[1].finish_ns, 6.0);
        close(k[2].finish_ns, 9.0);
        assert_eq!(st.updates, 4);
        assert_eq!(st.busiest_core, Some((0, 60.0)));
        // Energy: 4 x 40 active and (2 + 3) x 5 idle state, 4 x 5 x 2 instructions.
        close(st.energy.neuron_state_pj, 160.0 + 25.0);
        close(st.energy.neuron_instr_pj, 40.0);
        // Stage 1: core 1 2 x (10 + 3) = 26, core 2 3 x (10 + 2) = 36, core 0 idle 4 x 3 = 12.
        let (st, _) = step(&m, &[(1, &silent)]);
        close(st.duration_ns, 36.0 + 120.0);
        assert_eq!(st.updates, 5);
        close(
            st.energy.neuron_state_pj,
            2.0 * 40.0 + 3.0 * 40.0 + 4.0 * 5.0,
        );
        close(st.energy.neuron_instr_pj, 2.0 * 3.0 * 2.0 + 3.0 * 2.0 * 2.0);
        // Every stage at once: the slowest is core 0 (60 ns).
        let (st, _) = step(&m, &[(0, &silent), (1, &silent)]);
        close(st.duration_ns, 60.0 + 120.0);
        assert_eq!(st.updates, 9);
    }

    #[test]
    fn route_latency_is_the_sum_of_hops_or_the_local_latency() {
        let l = links();
        // One message of no bits on each flow, no receive work, so that a receiver finishes
        // at its one message's arrival: emission + route latency.
        let one = FlowWork {
            msgs: 1,
            ..FlowWork::default()
        };
        let w = TokenWork {
            flows: vec![one; 4],
        };
        let mut cm = chip();
        // Updates free, so that the arrival is what finishes a receiver.
        set(&mut cm.ops.neuron_update, 0.0, 0.0);
        set(&mut cm.ops.neuron_instruction, 0.0, 0.0);
        set(&mut cm.ops.neuron_idle, 0.0, 0.0);
        set(&mut cm.ops.message_in, 0.0, 0.0);
        let m0 = TimingModel::from_parts(&cm, &parts(&l, 2, 1));
        let (st, k) = step(&m0, &[(0, &w)]);
        // Core 0 emits 2 messages: 8 ns window. Flow 1 (X + Y hops): 8 + 8 + 9 = 25 ns;
        // flow 2 (X hop): 8 + 8 = 16; flow 0 (host, local): 50 + 1 = 51.
        close(k[1].finish_ns, 25.0);
        close(k[2].finish_ns, 16.0);
        close(k[0].finish_ns, 51.0);
        // Flow 3 (chip link): core 1 emits at 4 ns, + 100 ns, host receives for 40 ns.
        let (st1, _) = step(&m0, &[(1, &w)]);
        close(st1.duration_ns, 4.0 + 100.0 + 40.0 + 120.0);
        // Hop energy per message: 30 + 40 (flow 1), 30 (flow 2), 1.5 (flow 0); spike out 20
        // per message from a core; the chip link 500 per message.
        close(st.energy.noc_pj, 70.0 + 30.0 + 1.5);
        close(st.energy.spike_out_pj, 2.0 * 20.0);
        close(st1.energy.spike_out_pj, 20.0);
        close(st1.energy.link_pj, 500.0);
        close(st1.energy.noc_pj, 0.0);
    }

    #[test]
    fn emission_window_is_the_longer_of_the_neuron_unit_and_the_sends() {
        let (c, l) = (chip(), links());
        let m = TimingModel::from_parts(&c, &parts(&l, 2, 1));
        // Core 0 sends 20 + 2 messages: 22 x 4 = 88 ns > its 60 ns of updates. The last
        // message of flow 2 leaves at 88 ns, arrives at 88 + 8, and core 2 then processes it
        // (its share of the receive work, 2 x 5 / 2 = 5 ns): 101 ns. Core 1's last message
        // arrives at 88 + 17 (+ 5 = 110), but its first arrives at 10 + 5 + 4 + 17 = 36 and
        // its 20 messages take 100 ns back to back: 136 ns.
        let w = TokenWork {
            flows: vec![
                FlowWork::default(),
                FlowWork {
                    msgs: 20,
                    bits: 0,
                    words: 0,
                    synops: 0,
                },
                FlowWork {
                    msgs: 2,
                    bits: 0,
                    words: 0,
                    synops: 0,
                },
                FlowWork::default(),
            ],
        };
        let (st, k) = step(&m, &[(0, &w)]);
        close(k[0].finish_ns, 88.0);
        assert_eq!(k[0].axon_out, 22);
        // Its units work at the same time: the core is busy as long as its busiest unit.
        close(k[0].neuron_busy_ns, 60.0);
        close(k[0].axon_busy_ns, 88.0);
        close(k[0].synapse_busy_ns, 0.0);
        close(k[0].busy_ns, 88.0);
        for c in &k {
            assert!(c.busy_ns <= c.finish_ns, "{c:?}");
        }
        close(k[2].finish_ns, 101.0);
        close(k[1].finish_ns, 136.0);
        close(st.duration_ns, 136.0 + 120.0);
    }

    #[test]
    fn link_serialisation_holds_back_the_last_message() {
        let (c, l) = (chip(), links());
        let m = TimingModel::from_parts(&c, &parts(&l, 2, 1));
        // Flow 1 carries 3200 bits over links 0 and 1 (32 bit/ns: 100 ns each), flow 2 320
        // bits over link 0, which is then busy (3200 + 320) / 32 = 110 ns. One message each,
        // no receive work. Flow 2's last message: max(emit 60, 110) + 8 = 118; flow 1's:
        // max(60, 110) + 17 = 127.
        let w = TokenWork {
            flows: vec![
                FlowWork::default(),
                FlowWork {
                    msgs: 1,
                    bits: 3200,
                    words: 0,
                    synops: 0,
                },
                FlowWork {
                    msgs: 1,
                    bits: 320,
                    words: 0,
                    synops: 0,
                },
                FlowWork::default(),
            ],
        };
        let (st, k) = step(&m, &[(0, &w)]);
        close(k[1].finish_ns, 127.0 + 5.0);
        close(k[2].finish_ns, 118.0 + 5.0);
        assert_eq!(st.busiest_link, Some((0, 110.0)));
        // A chip link: 5 messages, 2400 bits at 8 bit/ns, from core 1.
        let w = TokenWork {
            flows: vec![
                FlowWork::default(),
                FlowWork::default(),
                FlowWork::default(),
                FlowWork {
                    msgs: 5,
                    bits: 2400,
                    words: 0,
                    synops: 0,
                },
            ],
        };
        // 2400 / 8 = 300 ns on the chip link; last = max(26, 300) + 100; the host's share
        // of its receive work is 40 ns; first = 13 + 4 + 100 = 117, + 5 x 40 = 317 < 440.
        let (st, _) = step(&m, &[(1, &w)]);
        assert_eq!(st.busiest_link, Some((2, 300.0)));
        close(st.duration_ns, 440.0 + 120.0);
    }

    /// The worked example of the cost model: receive work, first and last arrivals, host
    /// injection, every energy component, the lower bound and the counters.
    #[test]
    fn a_hand_computed_timestep() {
        let (c, l) = (chip(), links());
        let m = TimingModel::from_parts(&c, &parts(&l, 2, 1));
        let w = work();
        let (st, k) = step(&m, &[(0, &w)]);
        // Core 0: U = 60, X = 6 x 4 = 24, emit 60. Host: 3 x 50 = 150.
        // Links: 0 carries (4 + 2) x 48 = 288 bits (9 ns), 1 192 bits (6 ns).
        // Flow 0 (host -> core 0, local 1 ns): last 150 + 1 = 151, first 50 + 1 = 51,
        //   R = 3 x 5 + 3 x 6 + 6 x 2 = 45: core 0 finishes at max(60, 51 + 45, 151 + 15) = 166.
        // Flow 1 (17 ns): last max(60, 9) + 17 = 77, first 10 + 5 + 4 + 17 = 36,
        //   R = 4 x 5 + 8 x 6 + 10 x 2 = 88: core 1 at max(6, 36 + 88, 77 + 22) = 124.
        // Flow 2 (8 ns): last 68, first 27, R = 2 x 5 + 2 x 6 + 4 x 2 = 30:
        //   core 2 at max(9, 27 + 30, 68 + 15) = 83.
        close(k[0].finish_ns, 166.0);
        close(k[1].finish_ns, 124.0);
        close(k[2].finish_ns, 83.0);
        close(st.duration_ns, 166.0 + 120.0);
        close(st.barrier_ns, 120.0);
        assert_eq!(st.busiest_core, Some((0, 166.0)));
        assert_eq!(st.busiest_link, Some((0, 9.0)));
        // Lower bound: max(U 60, idle 6 and 9, synops 20, words 48, messages in 20, link 9,
        // barrier 120).
        close(st.lower_bound_ns, 120.0);
        assert_eq!((st.msgs, st.synops, st.updates), (9, 20, 4));
        // Counters of core 0.
        assert_eq!(
            (k[0].syn_ops, k[0].dendrite_updates, k[0].spikes_in),
            (6, 4, 3)
        );
        assert_eq!((k[0].axon_out, k[0].synmem_reads), (6, 3));
        // Busy time per unit: neuron 60, axon 6 x 4, synapse 45 (flow 0's receive work); core
        // 1 checks its idle neurons (6) and receives flow 1 (88).
        close(k[0].neuron_busy_ns, 60.0);
        close(k[0].axon_busy_ns, 24.0);
        close(k[0].synapse_busy_ns, 45.0);
        close(k[0].busy_ns, 60.0);
        close(k[1].neuron_busy_ns, 6.0);
        close(k[1].synapse_busy_ns, 88.0);
        close(k[1].busy_ns, 88.0);
        // Energy. Synaptic, flows 0, 1, 2: messages in 3 x 7 + 4 x 7 + 2 x 7 = 63, words
        // 3 x 11 + 8 x 11 + 2 x 11 = 143, synops 6 x 3 + 10 x 3 + 4 x 3 = 60.
        let e = &st.energy;
        close(e.axon_in_pj, 63.0);
        close(e.synmem_pj, 143.0);
        close(e.synop_pj, 60.0);
        // Neuron: state 4 x 40 + (2 + 3) x 5, instructions 4 x 5 x 2.
        close(e.neuron_state_pj, 185.0);
        close(e.neuron_instr_pj, 40.0);
        // Spikes out: 6 x 20 (none from the host). Hops: flow 1 4 x (30 + 40), flow 2
        // 2 x 30, flow 0 3 x 1.5.
        close(e.spike_out_pj, 120.0);
        close(e.noc_pj, 280.0 + 60.0 + 4.5);
        close(e.link_pj, 0.0);
        // Host: 3 inputs x 1000.
        close(e.host_pj, 3000.0);
        close(e.sequencer_pj, 0.0);
        close(e.barrier_pj, 20.0);
        // Domains: VDD-M = words + half the neuron state + 0.7 of the axon lookups (63 + 120);
        // VDD = synops + instructions + the other halves + hops + barrier; VDD-IO = 0.1 of the
        // host's messages; the board the other 0.9.
        close(e.dynamic_vdd_m_pj, 143.0 + 92.5 + 0.7 * 183.0);
        close(
            e.dynamic_vdd_pj,
            60.0 + 40.0 + 92.5 + 0.3 * 183.0 + 344.5 + 20.0,
        );
        close(e.dynamic_vdd_io_pj, 300.0);
        close(e.dynamic_board_pj, 2700.0);
        let dynamic_all = 266.0 + 225.0 + 464.5 + 3000.0 + 20.0;
        close(e.components_pj(), dynamic_all);
        close(e.dynamic_board_basis_pj(), dynamic_all);
        close(e.dynamic_pj(), dynamic_all - 2700.0);
        // Static: per rail 50, 40, 10 mW x 1 chip, the board 1000 mW, over 286 ns.
        close(e.static_vdd_pj, 50.0 * 286.0);
        close(e.static_vdd_m_pj, 40.0 * 286.0);
        close(e.static_vdd_io_pj, 10.0 * 286.0);
        close(e.static_board_pj, 1000.0 * 286.0);
        close(m.static_mw(), 100.0);
        close(m.static_board_basis_mw(), 1100.0);
        close(e.total_pj(), dynamic_all - 2700.0 + 100.0 * 286.0);
        close(e.total_board_basis_pj(), dynamic_all + 1100.0 * 286.0);
        // Core 0's energy: its updates, its sends, what it received.
        close(k[0].energy_pj, 200.0 + 6.0 * 20.0 + 72.0);
        // Stage 1: core 1 sends 5 messages to the host over the chip link (240 bits, 30 ns):
        // last max(26, 30) + 100 = 130, first 13 + 4 + 100 = 117; the host receives 5 x 40:
        // max(117 + 200, 130 + 40) = 317.
        let (st, _) = step(&m, &[(1, &w)]);
        close(st.duration_ns, 317.0 + 120.0);
        close(st.energy.host_pj, 5.0 * 900.0);
        close(st.energy.spike_out_pj, 5.0 * 20.0);
        close(st.energy.link_pj, 5.0 * 500.0);
        close(st.energy.dynamic_vdd_io_pj, 5.0 * 500.0 + 0.1 * 4500.0);
        close(
            st.energy.axon_in_pj + st.energy.synmem_pj + st.energy.synop_pj,
            0.0,
        );
    }

    #[test]
    fn the_sequencer_sends_the_inputs_at_its_own_cost_on_vdd_io() {
        let (mut c, l) = (chip(), links());
        c.io.inputs.value = loisim_arch::InputSource::Sequencer;
        let m = TimingModel::from_parts(&c, &parts(&l, 2, 1));
        let w = work();
        // The sequencer sends 3 inputs at 30 ns: flow 0's last arrives at 90 + 1 = 91, its
        // first at 31; core 0 finishes at max(60, 31 + 45, 91 + 15) = 106.
        let (st, k) = step(&m, &[(0, &w)]);
        close(k[0].finish_ns, 106.0);
        close(st.duration_ns, 124.0 + 120.0);
        close(st.energy.sequencer_pj, 3.0 * 60.0);
        close(st.energy.host_pj, 0.0);
        close(st.energy.dynamic_vdd_io_pj, 180.0);
        close(st.energy.dynamic_board_pj, 0.0);
    }

    #[test]
    fn intels_multi_chip_rule_charges_the_used_chips_and_their_share_of_the_board() {
        let (mut c, l) = (chip(), links());
        c.board.chips_x.value = 4;
        assert_eq!(c.n_chips(), 4);
        // One chip used of four.
        let whole = TimingModel::from_parts(&c, &parts(&l, 2, 1));
        close(whole.static_mw(), 4.0 * 100.0);
        close(whole.static_board_basis_mw(), 4.0 * 100.0 + 1000.0);
        c.static_power.rule.value = loisim_arch::StaticRule::UsedChips;
        let used = TimingModel::from_parts(&c, &parts(&l, 2, 1));
        close(used.static_mw(), 100.0);
        close(used.static_board_basis_mw(), 100.0 + 1000.0 / 4.0);
        let two = TimingModel::from_parts(&c, &parts(&l, 2, 2));
        close(two.static_board_basis_mw(), 200.0 + 500.0);
    }

    #[test]
    fn the_host_injects_and_extracts_concurrently() {
        let (c, l) = (chip(), links());
        let m = TimingModel::from_parts(&c, &parts(&l, 2, 1));
        let w = work();
        // Both stages at once (a pipeline timestep): the host injects 3 inputs (150 ns) while
        // it extracts core 1's 5 outputs (first at 117 ns, 5 x 40 ns of work: 317 ns). Its
        // injection and extraction paths are independent, so the host finishes at 317 ns,
        // not 150 + 200 ns after the start. Cores: 0 at 166, 1 at 124, 2 at 83 (as in stage
        // 0; their updates end earlier).
        let (st, k) = step(&m, &[(0, &w), (1, &w)]);
        close(st.duration_ns, 317.0 + 120.0);
        close(k[0].finish_ns, 166.0);
        close(k[1].finish_ns, 124.0);
        close(k[2].finish_ns, 83.0);
        assert_eq!(st.busiest_core, Some((0, 166.0)));
        close(st.energy.host_pj, 3.0 * 1000.0 + 5.0 * 900.0);
    }
}
