//! The timestep-major engine for general IR networks (`loisim-net`), on a partition onto cores
//! (`loisim_compiler::net_map`).
//!
//! Each core holds pieces of populations, a dendritic delay ring (one slot per timestep of
//! every port of its neurons) and its synapses grouped by input axon (one axon per projection
//! and source neuron that reaches the core). Each timestep:
//! 1. every core updates its neurons on the ring slot due now (running the neuron programs'
//!    descriptions), empties the slot, and emits messages;
//! 2. each message is routed to the cores its source reaches, as (axon, payload);
//! 3. every core expands its incoming axons into its synapses, accumulating
//!    `weight x payload` into the slot `t + 1 + delay` (read wrapped to the port's width).
//!
//! Steps 1 and 3 are independent per core and run on a pool of up to `threads` threads when
//! the network is large enough for that to pay ([`PAR_MIN_SYNAPSES`]; see
//! [`NetEngine::threads`]); each core's results are gathered in core order and sums that wrap
//! do not depend on the order of additions, so the integers do not depend on the thread count.
//! The reference interpreter (`loisim_net::interp`) defines the result; the differential tests
//! compare the two on random networks.

use crate::engine::FlowWork;
use loisim_arch::Chip;
use loisim_compiler::net_map::{self, NetMapping};
use loisim_net::{Events, NetError, Network, PopId, Source, Step, StepActivity, program::wrap};
use std::collections::BTreeMap;

/// One synapse on a core.
#[derive(Clone, Copy, Debug)]
struct Syn {
    /// Port slot on the core (within one ring timestep).
    slot: u32,
    weight: i32,
    delay: u32,
}

/// An input axon of a core: the synapses of one projection from one source neuron.
#[derive(Clone, Copy, Debug)]
struct Axon {
    start: u32,
    end: u32,
    /// The payload is a binary spike (weight alone) rather than graded.
    binary: bool,
    /// Target population (for activity counts).
    dst_pop: u32,
    /// Synaptic-memory words a message reads (0 unless the program was built for a chip).
    words: u32,
}

#[derive(Clone, Debug)]
struct PieceImg {
    pop: u32,
    start: u32,
    end: u32,
    /// First port slot of the piece (ports of neuron `i`: `port_base + (i - start) * ports + k`).
    port_base: u32,
    /// First state word of the piece.
    state_base: u32,
}

#[derive(Clone, Debug)]
struct CoreImg {
    pieces: Vec<PieceImg>,
    /// Port slots per ring timestep.
    slots: u32,
    /// Width of each port slot.
    slot_bits: Vec<u8>,
    axons: Vec<Axon>,
    syn: Vec<Syn>,
    state_words: u32,
}

/// A network compiled for the engine.
#[derive(Clone, Debug)]
pub struct NetProgram {
    net: Network,
    cores: Vec<CoreImg>,
    /// Global source neuron ids: inputs first, then each population channel's neurons.
    source_base: Vec<u32>,
    /// Per population channel: index into `source_base` (`pop_source[pop] + channel`).
    pop_source: Vec<u32>,
    /// Routes of global source neuron `g`: `route_start[g]..route_start[g + 1]` of `routes`,
    /// each (core, axon).
    route_start: Vec<u32>,
    routes: Vec<(u32, u32)>,
    /// Ring length, timesteps.
    ring_len: usize,
    /// Flow of each entry of `routes`.
    route_flow: Vec<u32>,
    /// Per global source neuron: its flow to the host when it is a network output, else
    /// `NO_FLOW`.
    out_flow: Vec<u32>,
    /// Per source (index like `source_base`): payload bits of its messages.
    payload_bits: Vec<u32>,
    /// Header bits of every message (0 unless built for a chip).
    header_bits: u32,
    /// Every (sender, receiver) pair that carries messages, in order of first use.
    flows: Vec<NetFlow>,
}

/// No flow.
const NO_FLOW: u32 = u32::MAX;

/// Messages from one endpoint to another: a core of the mapping (its index in
/// `NetMapping::cores`) or the host (`None`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct NetFlow {
    /// Sender.
    pub src: Option<u32>,
    /// Receiver.
    pub dst: Option<u32>,
}

/// Engine state.
#[derive(Debug)]
pub struct NetEngine<'p> {
    prog: &'p NetProgram,
    rings: Vec<Vec<i64>>,
    states: Vec<Vec<i64>>,
    t: u64,
    events: Events,
    /// The threads of steps 1 and 3 (none: the calling thread only).
    pool: Option<rayon::ThreadPool>,
    /// Per flow, the work of the last timestep (when recording).
    work: Option<Vec<FlowWork>>,
    /// Whether to keep the state of pieces reset in a timestep as it was before the reset.
    keep_pre_reset: bool,
    /// Per core: (piece, state before the reset) of the pieces reset in the last timestep.
    pre_reset: Vec<Vec<(u32, Vec<i64>)>>,
    /// Messages received in the last timestep, per target population.
    spikes_in: Vec<u64>,
}

fn id_too_large(what: &str) -> NetError {
    NetError::Invalid {
        what: what.into(),
        message: "more than 2^32 entries; the engine indexes them with 32 bits".into(),
    }
}

impl NetProgram {
    /// Lays `net` out on the cores of `mapping` (every neuron of every population must be on
    /// exactly one core).
    ///
    /// # Errors
    /// The network is invalid, or the mapping does not place every neuron once.
    pub fn new(net: &Network, mapping: &NetMapping) -> Result<Self, NetError> {
        Self::build(net, mapping, None)
    }

    /// [`NetProgram::new`] with `chip`'s message headers and synaptic-memory layout, so that
    /// the recorded work (`NetEngine::record_work`) counts bits and words for the timing
    /// model: a message carries `header_bits` plus its payload; an axon's synapses on a core
    /// take `n x (weight + delay bits)` plus a run header per `max_run` synapses, the memory
    /// model of `loisim_compiler::net_map`, and a message reads them in whole words.
    ///
    /// # Errors
    /// As [`NetProgram::new`].
    pub fn for_chip(net: &Network, mapping: &NetMapping, chip: &Chip) -> Result<Self, NetError> {
        Self::build(net, mapping, Some(chip))
    }

    fn build(net: &Network, mapping: &NetMapping, chip: Option<&Chip>) -> Result<Self, NetError> {
        net.validate(net.max_delay())?;
        let n_pops = net.populations.len();
        // Where every neuron lives: (core, slot base of its ports).
        let mut placed: Vec<Vec<Option<(u32, u32)>>> = net
            .populations
            .iter()
            .map(|p| vec![None; p.size as usize])
            .collect();
        let mut cores = Vec::with_capacity(mapping.cores.len());
        for (ci, group) in mapping.cores.iter().enumerate() {
            let mut img = CoreImg {
                pieces: vec![],
                slots: 0,
                slot_bits: vec![],
                axons: vec![],
                syn: vec![],
                state_words: 0,
            };
            for g in group {
                let Some(p) = net.populations.get(g.pop.index()) else {
                    return Err(NetError::Invalid {
                        what: "mapping".into(),
                        message: format!(
                            "core {ci} holds population {}, which does not exist",
                            g.pop.0
                        ),
                    });
                };
                if g.start >= g.end || g.end > p.size {
                    return Err(NetError::Invalid {
                        what: "mapping".into(),
                        message: format!(
                            "core {ci}: neurons {}..{} of `{}`",
                            g.start, g.end, p.name
                        ),
                    });
                }
                let prog = &net.programs[p.program.index()];
                let ports = prog.ports.len() as u32;
                img.pieces.push(PieceImg {
                    pop: g.pop.0,
                    start: g.start,
                    end: g.end,
                    port_base: img.slots,
                    state_base: img.state_words,
                });
                for j in g.start..g.end {
                    let slot = &mut placed[g.pop.index()][j as usize];
                    if slot.is_some() {
                        return Err(NetError::Invalid {
                            what: "mapping".into(),
                            message: format!("neuron {j} of `{}` is placed twice", p.name),
                        });
                    }
                    *slot = Some((ci as u32, img.slots + (j - g.start) * ports));
                    img.slot_bits.extend(prog.ports.iter().map(|d| d.bits));
                }
                img.slots = img
                    .slots
                    .checked_add((g.end - g.start) * ports)
                    .ok_or_else(|| id_too_large("port slots"))?;
                img.state_words += (g.end - g.start) * prog.states.len() as u32;
            }
            cores.push(img);
        }
        for (pi, p) in placed.iter().enumerate() {
            if let Some(j) = p.iter().position(Option::is_none) {
                return Err(NetError::Invalid {
                    what: "mapping".into(),
                    message: format!("neuron {j} of `{}` is on no core", net.populations[pi].name),
                });
            }
        }
        // Global source ids.
        let mut source_base = Vec::new();
        let mut next = 0u64;
        for inp in &net.inputs {
            source_base.push(next as u32);
            next += u64::from(inp.size);
        }
        let mut pop_source = Vec::with_capacity(n_pops);
        for p in &net.populations {
            pop_source.push(source_base.len() as u32);
            for _ in &net.programs[p.program.index()].channels {
                source_base.push(next as u32);
                next += u64::from(p.size);
            }
        }
        let n_sources = usize::try_from(next)
            .ok()
            .filter(|&n| n < u32::MAX as usize)
            .ok_or_else(|| id_too_large("source neurons"))?;
        let src_index = |s: Source| match s {
            Source::Input(i) => i.index(),
            Source::Population { pop, channel } => {
                pop_source[pop.index()] as usize + usize::from(channel)
            }
        };
        // The core of every population neuron (inputs come from the host).
        let core_of_source = |g: usize| -> Option<u32> {
            let s = source_base.partition_point(|&b| b as usize <= g) - 1;
            if s < net.inputs.len() {
                return None;
            }
            let pop = pop_source.partition_point(|&b| b as usize <= s) - 1;
            let j = g - source_base[s] as usize;
            placed[pop][j].map(|(c, _)| c)
        };
        let syn_bits = chip.map(|_| net_map::synapse_bits(net));
        let (word_bits, run_header, max_run) = chip.map_or((1, 0, 1), |c| {
            (
                u64::from(c.synapses.word_bits.value.max(1)),
                u64::from(c.synapses.run_header_bits.value),
                u64::from(c.synapses.max_run.value.max(1)),
            )
        });
        let mut flow_ids: BTreeMap<NetFlow, u32> = BTreeMap::new();
        let mut flows: Vec<NetFlow> = Vec::new();
        let mut flow_of = |f: NetFlow| -> u32 {
            *flow_ids.entry(f).or_insert_with(|| {
                flows.push(f);
                (flows.len() - 1) as u32
            })
        };
        // Axons and routes.
        let mut routes_of: Vec<Vec<(u32, u32, u32)>> = vec![Vec::new(); n_sources];
        let mut by_core: Vec<Vec<Syn>> = vec![Vec::new(); cores.len()];
        for (k, pr) in net.projections.iter().enumerate() {
            let binary = net.source_bits(pr.src) == 0;
            let dst = pr.dst.pop.index();
            let port = u32::from(pr.dst.port);
            let base = source_base[src_index(pr.src)];
            for i in 0..net.source_size(pr.src) {
                for v in &mut by_core {
                    v.clear();
                }
                net.fan_out(pr, i, |j, w, d| {
                    let (core, slot) = placed[dst][j as usize].expect("every neuron placed");
                    by_core[core as usize].push(Syn {
                        slot: slot + port,
                        weight: w as i32,
                        delay: d,
                    });
                });
                for (ci, syns) in by_core.iter().enumerate() {
                    if syns.is_empty() {
                        continue;
                    }
                    let img = &mut cores[ci];
                    let start = img.syn.len() as u32;
                    img.syn.extend_from_slice(syns);
                    let words = syn_bits.as_ref().map_or(0, |b| {
                        let n = syns.len() as u64;
                        let bits = n * u64::from(b[k]) + n.div_ceil(max_run) * run_header;
                        u32::try_from(bits.div_ceil(word_bits)).unwrap_or(u32::MAX)
                    });
                    img.axons.push(Axon {
                        start,
                        end: img.syn.len() as u32,
                        binary,
                        dst_pop: dst as u32,
                        words,
                    });
                    let g = (base + i) as usize;
                    let flow = flow_of(NetFlow {
                        src: core_of_source(g),
                        dst: Some(ci as u32),
                    });
                    routes_of[g].push((ci as u32, (img.axons.len() - 1) as u32, flow));
                }
            }
        }
        let mut route_start = Vec::with_capacity(n_sources + 1);
        let mut routes = Vec::new();
        let mut route_flow = Vec::new();
        route_start.push(0);
        for r in routes_of {
            for (core, axon, flow) in r {
                routes.push((core, axon));
                route_flow.push(flow);
            }
            route_start.push(routes.len() as u32);
        }
        // Network outputs go to the host.
        let mut out_flow = vec![NO_FLOW; n_sources];
        for o in &net.outputs {
            let s = pop_source[o.pop.index()] as usize + usize::from(o.channel);
            let base = source_base[s] as usize;
            for j in 0..net.populations[o.pop.index()].size as usize {
                out_flow[base + j] = flow_of(NetFlow {
                    src: core_of_source(base + j),
                    dst: None,
                });
            }
        }
        let mut payload_bits: Vec<u32> = net.inputs.iter().map(|i| u32::from(i.bits)).collect();
        for p in &net.populations {
            payload_bits.extend(
                net.programs[p.program.index()]
                    .channels
                    .iter()
                    .map(|c| u32::from(c.bits)),
            );
        }
        Ok(Self {
            net: net.clone(),
            cores,
            source_base,
            pop_source,
            route_start,
            routes,
            ring_len: net.max_delay() as usize + 2,
            route_flow,
            out_flow,
            payload_bits,
            header_bits: chip.map_or(0, |c| c.noc.header_bits.value),
            flows,
        })
    }

    /// The network.
    #[must_use]
    pub fn network(&self) -> &Network {
        &self.net
    }

    /// Cores used.
    #[must_use]
    pub fn n_cores(&self) -> usize {
        self.cores.len()
    }

    /// Keeps only the network outputs listed in `keep` (indices into the network's outputs)
    /// as messages to the host in the recorded work: the others are still computed and
    /// returned by `step` (probes), but the host does not read them.
    pub fn host_reads_only(&mut self, keep: &[usize]) {
        for (k, o) in self.net.outputs.iter().enumerate() {
            if keep.contains(&k) {
                continue;
            }
            let s = self.pop_source[o.pop.index()] as usize + usize::from(o.channel);
            let base = self.source_base[s] as usize;
            let n = self.net.populations[o.pop.index()].size as usize;
            self.out_flow[base..base + n].fill(NO_FLOW);
        }
    }

    /// The flows, indexed like the work `NetEngine::work` records.
    #[must_use]
    pub fn flows(&self) -> &[NetFlow] {
        &self.flows
    }

    /// Per core: neurons, and neuron-program instructions of one update of them all and of
    /// its first neuron.
    #[must_use]
    pub fn core_loads(&self) -> Vec<(u64, f64, f64)> {
        self.cores
            .iter()
            .map(|c| {
                let (mut n, mut instr) = (0u64, 0f64);
                for pc in &c.pieces {
                    let p = &self.net.populations[pc.pop as usize];
                    let k = f64::from(self.net.programs[p.program.index()].instructions().total());
                    n += u64::from(pc.end - pc.start);
                    instr += f64::from(pc.end - pc.start) * k;
                }
                let first = c.pieces.first().map_or(0.0, |pc| {
                    let p = &self.net.populations[pc.pop as usize];
                    f64::from(self.net.programs[p.program.index()].instructions().total())
                });
                (n, instr, first)
            })
            .collect()
    }

    /// Synapses on all cores.
    #[must_use]
    pub fn n_synapses(&self) -> usize {
        self.cores.iter().map(|c| c.syn.len()).sum()
    }

    /// Starts the network at timestep 0 with initial state, on up to `threads` threads: more
    /// than one only when the network has at least [`PAR_MIN_SYNAPSES`] synapses and more
    /// than one core, and a thread pool can be made ([`NetEngine::threads`] says how many).
    #[must_use]
    pub fn start(&self, threads: usize) -> NetEngine<'_> {
        self.start_with_min_synapses(threads, PAR_MIN_SYNAPSES)
    }

    /// [`NetProgram::start`] with another threshold of synapses for running on several
    /// threads (0: always, when `threads > 1` and there is more than one core).
    #[must_use]
    pub fn start_with_min_synapses(&self, threads: usize, min_synapses: usize) -> NetEngine<'_> {
        let threads = threads.min(self.cores.len()).max(1);
        let pool = (threads > 1 && self.n_synapses() >= min_synapses)
            .then(|| {
                rayon::ThreadPoolBuilder::new()
                    .num_threads(threads)
                    .thread_name(|i| format!("loisim-net-{i}"))
                    .build()
                    .ok()
            })
            .flatten();
        let rings = self
            .cores
            .iter()
            .map(|c| vec![0i64; self.ring_len * c.slots as usize])
            .collect();
        let states = self
            .cores
            .iter()
            .map(|c| {
                let mut s = vec![0i64; c.state_words as usize];
                for pc in &c.pieces {
                    let p = &self.net.populations[pc.pop as usize];
                    let prog = &self.net.programs[p.program.index()];
                    let k = prog.states.len();
                    for (var, init) in p.init.iter().enumerate() {
                        for j in pc.start..pc.end {
                            s[pc.state_base as usize + (j - pc.start) as usize * k + var] =
                                wrap(init[j as usize], prog.states[var].bits);
                        }
                    }
                }
                s
            })
            .collect();
        NetEngine {
            prog: self,
            rings,
            states,
            t: 0,
            events: Events::default(),
            pool,
            work: None,
            keep_pre_reset: false,
            pre_reset: vec![Vec::new(); self.cores.len()],
            spikes_in: vec![0; self.net.populations.len()],
        }
    }
}

/// Messages arriving at a core in one timestep: (axon, payload).
type Inbox = Vec<(u32, i64)>;

/// What one core did in the update phase.
#[derive(Default)]
struct CoreOut {
    /// (global source neuron, payload), in neuron order.
    sent: Vec<(u32, i64)>,
    events: Events,
    dropped: u64,
    /// (piece, state before its reset) of the pieces reset this timestep.
    pre_reset: Vec<(u32, Vec<i64>)>,
}

/// Networks with fewer synapses run on the calling thread whatever the thread count: a
/// timestep's work is then too small for the two fork-joins per timestep to pay.
pub const PAR_MIN_SYNAPSES: usize = 1 << 20;

/// Runs `f` on every (index, item) pair, on `pool` when there is one, and returns the results
/// in order.
fn par_map<T: Send, R: Send>(
    items: &mut [T],
    pool: Option<&rayon::ThreadPool>,
    f: impl Fn(usize, &mut T) -> R + Sync,
) -> Vec<R> {
    use rayon::prelude::*;
    match pool {
        Some(pool) if items.len() > 1 => pool.install(|| {
            items
                .par_iter_mut()
                .enumerate()
                .map(|(i, x)| f(i, x))
                .collect()
        }),
        _ => items.iter_mut().enumerate().map(|(i, x)| f(i, x)).collect(),
    }
}

impl NetEngine<'_> {
    /// Threads the engine runs on: those of its pool, or 1 (see [`NetProgram::start`]).
    #[must_use]
    pub fn threads(&self) -> usize {
        self.pool
            .as_ref()
            .map_or(1, rayon::ThreadPool::current_num_threads)
    }

    /// Records, from now on, the work of each timestep per flow (messages, bits, synaptic
    /// words read, synaptic operations), read with [`NetEngine::work`] after each step.
    pub fn record_work(&mut self) {
        self.work = Some(vec![FlowWork::default(); self.prog.flows.len()]);
    }

    /// The work of the last timestep per flow (indexed like `NetProgram::flows`), when
    /// recording.
    #[must_use]
    pub fn work(&self) -> Option<&[FlowWork]> {
        self.work.as_deref()
    }

    /// Messages received in the last timestep, per target population (one per input axon a
    /// message reaches).
    #[must_use]
    pub fn spikes_in(&self) -> &[u64] {
        &self.spikes_in
    }

    /// Keeps, from now on, the state of every piece reset in a timestep as it was after its
    /// update and before the reset, for [`NetEngine::probed_state`].
    pub fn keep_pre_reset_state(&mut self) {
        self.keep_pre_reset = true;
    }

    /// The state variables of population `pop` (`[neuron * n_states + var]`, in neuron
    /// order) at the end of the last timestep; with [`NetEngine::keep_pre_reset_state`], a
    /// population reset in that timestep reads as it was before its reset (what a Lava
    /// `Monitor` sees: Lava's `LIFReset` zeroes at the start of the next timestep).
    #[must_use]
    pub fn probed_state(&self, pop: PopId) -> Vec<i64> {
        let net = &self.prog.net;
        let Some(p) = net.populations.get(pop.index()) else {
            return Vec::new();
        };
        let k = net.programs[p.program.index()].states.len();
        let mut out = vec![0i64; p.size as usize * k];
        for (ci, img) in self.prog.cores.iter().enumerate() {
            for (pi, pc) in img.pieces.iter().enumerate() {
                if pc.pop != pop.0 {
                    continue;
                }
                let n = (pc.end - pc.start) as usize * k;
                let src = self.pre_reset[ci]
                    .iter()
                    .find(|(q, _)| *q as usize == pi)
                    .map_or(
                        &self.states[ci][pc.state_base as usize..pc.state_base as usize + n],
                        |(_, v)| v.as_slice(),
                    );
                out[pc.start as usize * k..pc.start as usize * k + n].copy_from_slice(src);
            }
        }
        out
    }

    /// Values changed by a width so far.
    #[must_use]
    pub fn events(&self) -> Events {
        self.events
    }

    /// Runs one timestep (the same contract as `loisim_net::Reference::step`).
    ///
    /// # Errors
    /// Wrong inputs (count, length, width).
    pub fn step(&mut self, inputs: &[Vec<i64>]) -> Result<Step, NetError> {
        let prog = self.prog;
        let net = &prog.net;
        loisim_net::interp::check_inputs(net, inputs)?;
        let t = self.t;
        let ring_len = prog.ring_len as u64;
        let slot_now = (t % ring_len) as usize;
        let keep_pre_reset = self.keep_pre_reset;
        // 1. Updates, per core.
        let mut work: Vec<(&mut Vec<i64>, &mut Vec<i64>)> =
            self.rings.iter_mut().zip(self.states.iter_mut()).collect();
        let outs: Vec<CoreOut> = par_map(&mut work, self.pool.as_ref(), |ci, (ring, state)| {
            let img = &prog.cores[ci];
            let mut out = CoreOut::default();
            let base = slot_now * img.slots as usize;
            let mut scratch = Vec::new();
            for (pi, pc) in img.pieces.iter().enumerate() {
                let p = &net.populations[pc.pop as usize];
                let pg = &net.programs[p.program.index()];
                let (n_ports, n_states, n_ch) =
                    (pg.ports.len(), pg.states.len(), pg.channels.len());
                let due = base + pc.port_base as usize
                    ..base + pc.port_base as usize + (pc.end - pc.start) as usize * n_ports;
                let reset = p.reset.is_some_and(|r| r.runs_at(t));
                let states = pc.state_base as usize
                    ..pc.state_base as usize + (pc.end - pc.start) as usize * n_states;
                if !p.schedule.runs_at(t) {
                    out.dropped += ring[due.clone()].iter().filter(|&&v| v != 0).count() as u64;
                    ring[due].fill(0);
                    if reset {
                        state[states].fill(0);
                    }
                    continue;
                }
                let mut params = vec![0i64; pg.params.len()];
                let mut ports = vec![0i64; n_ports];
                let mut sent = vec![0i64; n_ch];
                let src0 = prog.pop_source[pc.pop as usize] as usize;
                for j in pc.start..pc.end {
                    let local = (j - pc.start) as usize;
                    for (k, v) in params.iter_mut().enumerate() {
                        *v = p.params[k][j as usize];
                    }
                    let at = due.start + local * n_ports;
                    for (k, v) in ports.iter_mut().enumerate() {
                        let sum = ring[at + k];
                        *v = wrap(sum, img.slot_bits[at - base + k]);
                        out.events.port_wraps += u64::from(*v != sum);
                    }
                    let st = pc.state_base as usize + local * n_states;
                    pg.step(
                        &ports,
                        &mut state[st..st + n_states],
                        &params,
                        &mut scratch,
                        &mut sent,
                        &mut out.events,
                    );
                    for (ch, &v) in sent.iter().enumerate() {
                        if v != 0 {
                            out.sent.push((prog.source_base[src0 + ch] + j, v));
                        }
                    }
                }
                ring[due].fill(0);
                if reset {
                    if keep_pre_reset {
                        out.pre_reset
                            .push((pi as u32, state[states.clone()].to_vec()));
                    }
                    state[states].fill(0);
                }
            }
            out
        });
        let n_pops = net.populations.len();
        let mut activity = StepActivity {
            updates: vec![0; n_pops],
            messages: vec![0; n_pops],
            synops: vec![0; n_pops],
            host_messages: 0,
            dropped: 0,
        };
        for img in &prog.cores {
            for pc in &img.pieces {
                if net.populations[pc.pop as usize].schedule.runs_at(t) {
                    activity.updates[pc.pop as usize] += u64::from(pc.end - pc.start);
                }
            }
        }
        // Per-population sent values, for the outputs and the message counts.
        let mut pop_sent: Vec<Vec<i64>> = net
            .populations
            .iter()
            .map(|p| vec![0; p.size as usize * net.programs[p.program.index()].channels.len()])
            .collect();
        // 2. Routing: host messages first, then each core's, in order.
        let mut inbox: Vec<Inbox> = vec![Vec::new(); prog.cores.len()];
        let mut work = self.work.take();
        if let Some(w) = work.as_mut() {
            w.fill(FlowWork::default());
        }
        let route =
            |g: u32, v: i64, s: usize, inbox: &mut Vec<Inbox>, work: &mut Option<Vec<FlowWork>>| {
                let (a, b) = (
                    prog.route_start[g as usize],
                    prog.route_start[g as usize + 1],
                );
                for &(core, axon) in &prog.routes[a as usize..b as usize] {
                    inbox[core as usize].push((axon, v));
                }
                if let Some(w) = work.as_mut() {
                    let bits = prog.header_bits + prog.payload_bits[s];
                    for k in a as usize..b as usize {
                        let (core, axon) = prog.routes[k];
                        let ax = prog.cores[core as usize].axons[axon as usize];
                        let f = &mut w[prog.route_flow[k] as usize];
                        f.msgs += 1;
                        f.bits += bits;
                        f.words += ax.words;
                        f.synops += ax.end - ax.start;
                    }
                    let of = prog.out_flow[g as usize];
                    if of != NO_FLOW {
                        let f = &mut w[of as usize];
                        f.msgs += 1;
                        f.bits += bits;
                    }
                }
            };
        for (x, vals) in inputs.iter().enumerate() {
            for (i, &v) in vals.iter().enumerate() {
                if v != 0 {
                    activity.host_messages += 1;
                    route(prog.source_base[x] + i as u32, v, x, &mut inbox, &mut work);
                }
            }
        }
        for (ci, out) in outs.iter().enumerate() {
            self.pre_reset[ci].clone_from(&out.pre_reset);
            self.events += out.events;
            activity.dropped += out.dropped;
            for &(g, v) in &out.sent {
                // Which population and channel sent it.
                let s = prog.source_base.partition_point(|&b| b <= g) - 1;
                route(g, v, s, &mut inbox, &mut work);
                let pop = prog.pop_source.partition_point(|&b| b as usize <= s) - 1;
                let ch = s - prog.pop_source[pop] as usize;
                let n_ch = net.program_of(loisim_net::PopId(pop as u32)).channels.len();
                let j = (g - prog.source_base[s]) as usize;
                pop_sent[pop][j * n_ch + ch] = v;
                activity.messages[pop] += 1;
            }
        }
        // 3. Delivery, per core.
        let mut deliver: Vec<(&mut Vec<i64>, Inbox)> = self.rings.iter_mut().zip(inbox).collect();
        let delivered: Vec<(Vec<u64>, Vec<u64>)> =
            par_map(&mut deliver, self.pool.as_ref(), |ci, (ring, inbox)| {
                let img = &prog.cores[ci];
                let mut synops = vec![0u64; n_pops];
                let mut spikes_in = vec![0u64; n_pops];
                // The ring row of each delay this timestep (every delay is below the ring's
                // length), instead of a division per synapse.
                let row: Vec<usize> = (0..ring_len)
                    .map(|d| ((t + 1 + d) % ring_len) as usize * img.slots as usize)
                    .collect();
                for &(axon, v) in inbox.iter() {
                    let a = img.axons[axon as usize];
                    let payload = if a.binary { 1 } else { v };
                    for s in &img.syn[a.start as usize..a.end as usize] {
                        let slot = row[s.delay as usize] + s.slot as usize;
                        ring[slot] =
                            ring[slot].wrapping_add(i64::from(s.weight).wrapping_mul(payload));
                    }
                    synops[a.dst_pop as usize] += u64::from(a.end - a.start);
                    spikes_in[a.dst_pop as usize] += 1;
                }
                (synops, spikes_in)
            });
        self.spikes_in.fill(0);
        for (synops, spikes_in) in delivered {
            for (a, b) in activity.synops.iter_mut().zip(synops) {
                *a += b;
            }
            for (a, b) in self.spikes_in.iter_mut().zip(spikes_in) {
                *a += b;
            }
        }
        let outputs = net.outputs_from(&pop_sent);
        self.work = work;
        self.t += 1;
        Ok(Step { outputs, activity })
    }
}
