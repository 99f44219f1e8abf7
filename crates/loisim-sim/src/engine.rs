//! Functional execution of a compiled program: graded spikes, synapses, dendritic accumulators
//! and neuron programs, exactly as the cores run them.
//!
//! Per token: the host injects the non-zero input values; then, stage by stage, every core
//! updates the neurons of its piece (reading and clearing their dendritic accumulators, running
//! the neuron program) and sends one graded spike per non-zero output to every core that holds
//! synapses for it; the receiving core reads the axon's synapse list and accumulates
//! `weight x payload` into the target neurons' ports. Decoder outputs go to the host.
//!
//! The cores of one timestep only communicate through messages consumed in a later timestep
//! (the barrier), and every projection's delay equals its stage difference minus one, so
//! executing token by token in stage order produces exactly the values of the timestep-by-
//! timestep schedule of either mode; the timing model ([`crate::timing`]) then lays the same
//! work out in time for fall-through or pipeline operation.
//!
//! Accounting: every message is counted on its flow (messages, bits, synaptic-memory words
//! read and synaptic operations at the receiver); every saturation, 32-bit wrap and
//! accumulator overflow is counted per population.
//!
//! Data layout: [`Tables`] holds everything read-only (synapses of all cores in one array,
//! destinations of every source output); [`Lane`] holds the mutable neuron state of the cores
//! it runs; [`TokenState`] (the dendritic accumulators of every core, the token's work and its
//! output) travels with the token, so two threads can run the early and the late stages of
//! consecutive tokens at the same time without sharing anything mutable.

use loisim_compiler::network::NeuronProgram;
use loisim_compiler::program::Program;
use loisim_model::fxp::{self, Events, Width};
use serde::{Deserialize, Serialize};

/// Work caused by one token on one flow.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct FlowWork {
    /// Messages.
    pub msgs: u32,
    /// Bits on the wire.
    pub bits: u32,
    /// Synaptic-memory words read at the receiver.
    pub words: u32,
    /// Synaptic operations at the receiver.
    pub synops: u32,
}

impl FlowWork {
    #[inline]
    fn add(&mut self, o: &FlowWork) {
        self.msgs += o.msgs;
        self.bits += o.bits;
        self.words += o.words;
        self.synops += o.synops;
    }
}

/// Work caused by one token, per flow (indexed like [`Program::flows`]).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TokenWork {
    /// Per flow.
    pub flows: Vec<FlowWork>,
}

/// Saturations, wraps and accumulator overflows of one population.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PopEvents {
    /// Arithmetic events in the neuron program.
    pub program: Events,
    /// Dendritic accumulator sums that did not fit the accumulator width.
    pub accumulator_overflows: u64,
}

impl std::ops::AddAssign for PopEvents {
    fn add_assign(&mut self, o: Self) {
        self.program += o.program;
        self.accumulator_overflows += o.accumulator_overflows;
    }
}

/// A synapse of a sparse list: an accumulator (index into the accumulators of all cores) and
/// a weight.
#[derive(Clone, Copy, Debug)]
struct SynRt {
    acc: u32,
    weight: i32,
}

/// A dense run of synapses: accumulators `acc..acc + len` take `weight[i] x payload`, the
/// weights `w..w + len` of [`Weights`] (zero where the run has no synapse).
#[derive(Clone, Copy, Debug)]
struct Seg {
    acc: u32,
    w: u32,
    len: u32,
}

/// The weights of the dense runs: 16 bits each when every weight of the program fits.
#[derive(Clone, Debug)]
enum Weights {
    I16(Vec<i16>),
    I32(Vec<i32>),
}

/// Where the destinations of a source start (those of source `s` end where those of `s + 1`
/// start): its sparse synapses, its dense runs, its flow increments; and, for a decoder output,
/// its index in the token's output (`NO_OUT` otherwise).
#[derive(Clone, Copy, Debug)]
struct SrcRt {
    syn: u32,
    seg: u32,
    flow: u32,
    out: u32,
}

/// The work one message of a source adds to a flow.
#[derive(Clone, Copy, Debug)]
struct FlowAdd {
    flow: u32,
    work: FlowWork,
}

const NO_OUT: u32 = u32::MAX;

/// A cluster of synapses at least this long, and at least half dense, becomes a dense run.
const MIN_RUN: usize = 8;

/// Accumulators further apart than this end a cluster.
const MAX_GAP: u32 = 4;

/// Most dendritic ports a neuron program may read in this engine (its inputs are a fixed
/// array of this size).
pub const MAX_PORTS: usize = 4;

/// Most output channels a neuron program may write in this engine.
pub const MAX_CHANNELS: usize = 2;

/// Why the engine cannot run a program.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum EngineError {
    /// A population's program reads or writes more than the engine supports, or other than
    /// the population declares.
    #[error(
        "{pop}: the neuron program uses {program} {what} and the population declares {declared}; the engine supports at most {max}"
    )]
    Unsupported {
        /// Population.
        pop: String,
        /// `dendritic ports` or `output channels`.
        what: &'static str,
        /// What the program uses.
        program: usize,
        /// What the population declares.
        declared: usize,
        /// What the engine supports.
        max: usize,
    },
}

#[derive(Clone, Debug)]
struct CoreRt {
    /// Ports per neuron: the stride of the core's accumulators, and the ports the program
    /// reads (checked equal when the tables are built).
    ports: usize,
    /// First global neuron of the core's piece.
    start: usize,
    n: usize,
    /// First accumulator of the core.
    acc_base: usize,
    /// First persistent-state word of the core (2 per neuron for complex states).
    state_base: usize,
}

/// A unit of work: the host's injection, or one core's update of its neurons. Units run in
/// this order; the cores of one stage are independent of each other.
#[derive(Clone, Copy, Debug)]
enum Unit {
    Host,
    Core { pop: usize, core: usize },
}

/// The program a simulation reads: borrowed, or shared so that the simulation can own it (a
/// binding or a long-lived session cannot hold a borrow).
#[derive(Clone, Debug)]
pub enum ProgramRef<'p> {
    /// Borrowed for the simulation's lifetime.
    Borrowed(&'p Program),
    /// Shared ownership.
    Shared(std::sync::Arc<Program>),
}

impl std::ops::Deref for ProgramRef<'_> {
    type Target = Program;
    fn deref(&self) -> &Program {
        match self {
            Self::Borrowed(p) => p,
            Self::Shared(p) => p,
        }
    }
}

impl<'p> From<&'p Program> for ProgramRef<'p> {
    fn from(p: &'p Program) -> Self {
        Self::Borrowed(p)
    }
}

impl From<std::sync::Arc<Program>> for ProgramRef<'static> {
    fn from(p: std::sync::Arc<Program>) -> Self {
        Self::Shared(p)
    }
}

/// The read-only executable tables of a program.
#[derive(Debug)]
pub struct Tables<'p> {
    prog: ProgramRef<'p>,
    cores: Vec<CoreRt>,
    units: Vec<Unit>,
    /// Per source id, plus one end marker.
    src: Vec<SrcRt>,
    syn: Vec<SynRt>,
    segs: Vec<Seg>,
    weights: Weights,
    flow_adds: Vec<FlowAdd>,
    acc_bits: u32,
    /// The accumulators of a token are a power of two long; an index masked with this is in
    /// range, so the scatter has no bounds checks.
    acc_mask: usize,
    n_state: usize,
    d_out: usize,
    /// Why the program cannot run, if it cannot (reported by [`Tables::check`]).
    unsupported: Option<EngineError>,
}

/// Mutable neuron state and counters of the cores one thread runs.
#[derive(Clone, Debug)]
pub struct Lane {
    state: Vec<i64>,
    events: Vec<PopEvents>,
    nonzero: Vec<Vec<u64>>,
}

/// What travels with a token: every core's dendritic accumulators, the token's work, and its
/// output.
#[derive(Clone, Debug)]
pub struct TokenState {
    acc: Vec<i64>,
    /// Work per flow.
    pub work: TokenWork,
    /// Decoder output.
    pub out: Vec<i32>,
}

fn wrap_to(v: i64, bits: u32) -> i64 {
    if bits >= 64 {
        v
    } else {
        let sh = 64 - bits;
        (v << sh) >> sh
    }
}

impl<'p> Tables<'p> {
    /// Builds the executable tables of a program. A program the engine cannot run (see
    /// [`Tables::check`]) gets tables that run nothing.
    pub fn new(prog: impl Into<ProgramRef<'p>>) -> Self {
        let prog = prog.into();
        let net = &prog.network;
        let unsupported = net.populations.iter().find_map(|p| {
            [
                (
                    "dendritic ports",
                    p.program.n_ports(),
                    p.port_delays.len(),
                    MAX_PORTS,
                ),
                (
                    "output channels",
                    p.program.n_channels(),
                    p.channels.len(),
                    MAX_CHANNELS,
                ),
            ]
            .into_iter()
            .find(|&(_, program, declared, max)| program != declared || program > max)
            .map(|(what, program, declared, max)| EngineError::Unsupported {
                pop: p.name.clone(),
                what,
                program,
                declared,
                max,
            })
        });
        let mut cores = Vec::with_capacity(prog.cores.len());
        let (mut n_acc, mut n_state) = (0usize, 0usize);
        for c in &prog.cores {
            let piece = prog.pieces[c.pieces[0].0 as usize];
            let pop = net.pop(piece.pop);
            let ports = pop.port_delays.len();
            let n = piece.len() as usize;
            let core = CoreRt {
                ports,
                start: piece.start as usize,
                n,
                acc_base: n_acc,
                state_base: n_state,
            };
            n_acc += n * ports;
            if matches!(pop.program, NeuronProgram::Ssm { .. }) {
                n_state += 2 * n;
            }
            cores.push(core);
        }
        let mut pops: Vec<usize> = (0..net.populations.len()).collect();
        pops.sort_by_key(|&p| (net.populations[p].stage, p));
        let mut units = vec![Unit::Host];
        // A program the engine cannot run runs nothing (`check` reports why).
        let pops = if unsupported.is_some() {
            Vec::new()
        } else {
            pops
        };
        for p in pops {
            let mut list: Vec<(usize, usize)> = prog
                .cores
                .iter()
                .enumerate()
                .filter(|(_, c)| prog.pieces[c.pieces[0].0 as usize].pop.index() == p)
                .map(|(i, _)| (cores[i].start, i))
                .collect();
            list.sort_unstable();
            units.extend(
                list.into_iter()
                    .map(|(_, core)| Unit::Core { pop: p, core }),
            );
        }
        let (dec, ch) = net.output;
        let out_base = prog.routing.base[dec.index()][ch as usize];
        let d_out = net.pop(dec).n_neurons as usize;
        let layout = Scatter::new(&prog, &cores, out_base, d_out);
        let acc_bits = prog.chip.core.accumulator_bits.value;
        Self {
            prog,
            cores,
            units,
            src: layout.src,
            syn: layout.syn,
            segs: layout.segs,
            weights: layout.weights,
            flow_adds: layout.flow_adds,
            acc_bits,
            acc_mask: n_acc.max(1).next_power_of_two() - 1,
            n_state,
            d_out,
            unsupported,
        }
    }

    /// Whether the engine can run the program: every population's program reads exactly the
    /// ports and writes exactly the channels the population declares, at most [`MAX_PORTS`]
    /// and [`MAX_CHANNELS`]. Nothing is ever silently dropped.
    pub fn check(&self) -> Result<(), EngineError> {
        self.unsupported.clone().map_or(Ok(()), Err)
    }

    /// Number of work units (the host's injection, then every core in stage order).
    pub fn n_units(&self) -> usize {
        self.units.len()
    }

    /// A zeroed lane.
    pub fn lane(&self) -> Lane {
        Lane {
            state: vec![0; self.n_state],
            events: vec![PopEvents::default(); self.prog.network.populations.len()],
            nonzero: self
                .prog
                .network
                .populations
                .iter()
                .map(|p| vec![0; p.channels.len()])
                .collect(),
        }
    }

    /// A zeroed token state.
    pub fn token_state(&self) -> TokenState {
        TokenState {
            acc: vec![0; self.acc_mask + 1],
            work: TokenWork {
                flows: vec![FlowWork::default(); self.prog.flows.len()],
            },
            out: vec![0; self.d_out],
        }
    }

    /// Sends value `v` of source `sid` to all its destinations: the work of one message on
    /// each of its flows, the decoder output, then `weight x v` into the accumulators of every
    /// synapse it reaches on any core (sums of integers: the order does not change them).
    #[inline(always)]
    fn send(&self, sid: u32, v: i64, tok: &mut TokenState) {
        let (a, b) = (self.src[sid as usize], self.src[sid as usize + 1]);
        let flows = tok.work.flows.as_mut_slice();
        for f in &self.flow_adds[a.flow as usize..b.flow as usize] {
            flows[f.flow as usize].add(&f.work);
        }
        if a.out != NO_OUT {
            // Decoder outputs are saturated to their format by the program.
            tok.out[a.out as usize] = v as i32;
        }
        let mask = self.acc_mask;
        let acc = &mut tok.acc[..=mask];
        for s in &self.syn[a.syn as usize..b.syn as usize] {
            let x = &mut acc[s.acc as usize & mask];
            *x = x.wrapping_add(i64::from(s.weight).wrapping_mul(v));
        }
        let segs = &self.segs[a.seg as usize..b.seg as usize];
        match &self.weights {
            Weights::I16(w) => run_segs(segs, w, acc, v),
            Weights::I32(w) => run_segs(segs, w, acc, v),
        }
    }

    /// Runs work units `range` of one token (unit 0 is the host's injection of `input`, which
    /// also resets the token's work and output).
    pub fn run(
        &self,
        lane: &mut Lane,
        tok: &mut TokenState,
        input: &[i32],
        range: std::ops::Range<usize>,
    ) {
        let prog = &*self.prog;
        let net = &prog.network;
        for unit in &self.units[range] {
            let (pop, core) = match *unit {
                Unit::Host => {
                    tok.work
                        .flows
                        .iter_mut()
                        .for_each(|f| *f = FlowWork::default());
                    tok.out.iter_mut().for_each(|v| *v = 0);
                    for (i, &x) in input.iter().enumerate() {
                        let v = net.input_conversion.apply(i64::from(x));
                        if v != 0 {
                            self.send(i as u32, v, tok);
                        }
                    }
                    continue;
                }
                Unit::Core { pop, core } => (pop, &self.cores[core]),
            };
            let p = &net.populations[pop];
            let base = &prog.routing.base[pop];
            let has_state = matches!(p.program, NeuronProgram::Ssm { .. });
            let mut ev = PopEvents::default();
            let mut nonzero = [0u64; MAX_CHANNELS];
            for local in 0..core.n {
                let mut x = [0i64; MAX_PORTS];
                // `check` guarantees `core.ports` (what the program reads) <= MAX_PORTS.
                for (port, xv) in x[..core.ports].iter_mut().enumerate() {
                    let slot = core.acc_base + local * core.ports + port;
                    let exact = tok.acc[slot];
                    tok.acc[slot] = 0;
                    let w = wrap_to(exact, self.acc_bits);
                    if w != exact {
                        ev.accumulator_overflows += 1;
                    }
                    *xv = w;
                }
                let st = core.state_base + 2 * local;
                let state = if has_state {
                    &mut lane.state[st..st + 2]
                } else {
                    &mut [][..]
                };
                let (vals, n_out) =
                    run_program(&p.program, core.start + local, &x, state, &mut ev.program);
                for (ch, &v) in vals.iter().enumerate().take(n_out) {
                    if v != 0 {
                        nonzero[ch] += 1;
                        self.send(base[ch] + (core.start + local) as u32, v, tok);
                    }
                }
            }
            for (a, b) in lane.nonzero[pop].iter_mut().zip(nonzero) {
                *a += b;
            }
            lane.events[pop] += ev;
        }
    }
}

/// Adds `weight x v` along every dense run.
#[inline]
fn run_segs<W: Copy + Into<i64>>(segs: &[Seg], w: &[W], acc: &mut [i64], v: i64) {
    for g in segs {
        let (a, o, n) = (g.acc as usize, g.w as usize, g.len as usize);
        for (x, &w) in acc[a..a + n].iter_mut().zip(&w[o..o + n]) {
            *x = x.wrapping_add(w.into().wrapping_mul(v));
        }
    }
}

/// The scatter tables, per source id (see [`SrcRt`]).
struct Scatter {
    src: Vec<SrcRt>,
    syn: Vec<SynRt>,
    segs: Vec<Seg>,
    weights: Weights,
    flow_adds: Vec<FlowAdd>,
}

impl Scatter {
    /// Lays out every source's destinations: its synapses on all cores sorted by accumulator,
    /// clusters of at least [`MIN_RUN`] synapses at most [`MAX_GAP`] apart and at least half
    /// dense as dense runs, the others as a sparse list; its flow increments, one per flow.
    fn new(prog: &Program, cores: &[CoreRt], out_base: u32, d_out: usize) -> Self {
        let r = &prog.routing;
        let n_src = r.offsets.len().saturating_sub(1);
        let wide = prog
            .cores
            .iter()
            .flat_map(|c| &c.axons)
            .flat_map(|a| &a.synapses)
            .any(|s| i16::try_from(s.weight).is_err());
        let mut t = Self {
            src: Vec::with_capacity(n_src + 1),
            syn: Vec::new(),
            segs: Vec::new(),
            weights: if wide {
                Weights::I32(Vec::new())
            } else {
                Weights::I16(Vec::new())
            },
            flow_adds: Vec::new(),
        };
        let mut all: Vec<(u32, i32)> = Vec::new();
        for sid in 0..n_src {
            let mut out = NO_OUT;
            let first_flow = t.flow_adds.len();
            all.clear();
            for d in r.dests(sid as u32) {
                let work = match d.core {
                    Some(ci) => {
                        let a = &prog.cores[ci as usize].axons[d.axon as usize];
                        let core = &cores[ci as usize];
                        all.extend(a.synapses.iter().map(|sy| {
                            let acc =
                                core.acc_base + sy.target as usize * core.ports + sy.port as usize;
                            (acc as u32, sy.weight)
                        }));
                        FlowWork {
                            msgs: 1,
                            bits: d.bits,
                            words: a.words,
                            synops: a.synops,
                        }
                    }
                    None => {
                        out = (sid as u32)
                            .checked_sub(out_base)
                            .filter(|&o| (o as usize) < d_out)
                            .unwrap_or(NO_OUT);
                        FlowWork {
                            msgs: 1,
                            bits: d.bits,
                            words: 0,
                            synops: 0,
                        }
                    }
                };
                match t.flow_adds[first_flow..]
                    .iter_mut()
                    .find(|f| f.flow == d.flow)
                {
                    Some(f) => f.work.add(&work),
                    None => t.flow_adds.push(FlowAdd { flow: d.flow, work }),
                }
            }
            t.src.push(SrcRt {
                syn: t.syn.len() as u32,
                seg: t.segs.len() as u32,
                flow: first_flow as u32,
                out,
            });
            all.sort_unstable();
            let mut i = 0;
            while i < all.len() {
                // The cluster all[i..j]: accumulators at most MAX_GAP apart, no repeats.
                let mut j = i + 1;
                while j < all.len() && all[j].0 > all[j - 1].0 && all[j].0 - all[j - 1].0 <= MAX_GAP
                {
                    j += 1;
                }
                let span = (all[j - 1].0 - all[i].0) as usize + 1;
                if j - i >= MIN_RUN && 2 * (j - i) >= span {
                    let w0 = match &mut t.weights {
                        Weights::I16(w) => {
                            let w0 = w.len();
                            w.resize(w0 + span, 0);
                            for &(acc, x) in &all[i..j] {
                                // Every weight fits (checked above).
                                w[w0 + (acc - all[i].0) as usize] = x as i16;
                            }
                            w0
                        }
                        Weights::I32(w) => {
                            let w0 = w.len();
                            w.resize(w0 + span, 0);
                            for &(acc, x) in &all[i..j] {
                                w[w0 + (acc - all[i].0) as usize] = x;
                            }
                            w0
                        }
                    };
                    t.segs.push(Seg {
                        acc: all[i].0,
                        w: w0 as u32,
                        len: span as u32,
                    });
                } else {
                    t.syn
                        .extend(all[i..j].iter().map(|&(acc, weight)| SynRt { acc, weight }));
                }
                i = j;
            }
        }
        t.src.push(SrcRt {
            syn: t.syn.len() as u32,
            seg: t.segs.len() as u32,
            flow: t.flow_adds.len() as u32,
            out: NO_OUT,
        });
        t.syn.shrink_to_fit();
        t.segs.shrink_to_fit();
        t.flow_adds.shrink_to_fit();
        match &mut t.weights {
            Weights::I16(w) => w.shrink_to_fit(),
            Weights::I32(w) => w.shrink_to_fit(),
        }
        t
    }
}

impl Lane {
    /// Takes over another lane's neuron state (when the cores it runs move to this lane).
    pub fn copy_state_from(&mut self, o: &Lane) {
        self.state.copy_from_slice(&o.state);
    }

    /// Adds another lane's counters (the state is not merged: each lane owns its cores).
    pub fn merge_counters(&mut self, o: &Lane) {
        for (a, b) in self.events.iter_mut().zip(&o.events) {
            *a += *b;
        }
        for (a, b) in self.nonzero.iter_mut().zip(&o.nonzero) {
            for (x, y) in a.iter_mut().zip(b) {
                *x += *y;
            }
        }
    }

    /// Events per population.
    pub fn events(&self) -> &[PopEvents] {
        &self.events
    }

    /// Non-zero outputs per population channel.
    pub fn nonzero(&self) -> &[Vec<u64>] {
        &self.nonzero
    }
}

/// Runs one neuron's program. `j` is the neuron's index in its population, `x` its ports,
/// `state` its persistent state. Returns the channel values and their number.
#[inline]
fn run_program(
    prog: &NeuronProgram,
    j: usize,
    x: &[i64; MAX_PORTS],
    state: &mut [i64],
    ev: &mut Events,
) -> ([i64; MAX_CHANNELS], usize) {
    match prog {
        NeuronProgram::Encoder { dense, bn, dec_in } => {
            let xr = fxp::relu(dense.apply(j, x[0], ev));
            match bn {
                Some(b) => ([xr, b.apply(j, xr, ev)], 2),
                None => ([dec_in.apply_o(xr, ev), 0], 1),
            }
        }
        NeuronProgram::Ssm {
            bu_re,
            bu_im,
            fmts,
            lambda_re,
            lambda_im,
            e_ar,
            e_ai,
        } => {
            let br = fxp::sat_o(fxp::shr(fxp::wrap32_o(x[0], ev), bu_re.0), bu_re.1, ev);
            let bi = fxp::sat_o(fxp::shr(fxp::wrap32_o(x[1], ev), bu_im.0), bu_im.1, ev);
            let (xr, xi) = (state[0], state[1]);
            let (ar, ai) = (lambda_re[j], lambda_im[j]);
            let p1 = fxp::shr(fxp::wrap32_o(ar * xr, ev), *e_ar);
            let p2 = fxp::shr(fxp::wrap32_o(ai * xi, ev), *e_ar);
            let p3 = fxp::shr(fxp::wrap32_o(ar * xi, ev), *e_ai);
            let p4 = fxp::shr(fxp::wrap32_o(ai * xr, ev), *e_ai);
            let br = fxp::wrap32_o(fxp::align(br, fmts[0].exp, fmts[2].exp), ev);
            let bi = fxp::wrap32_o(fxp::align(bi, fmts[1].exp, fmts[3].exp), ev);
            let nr = fxp::wrap32_o(p1 - p2 + br, ev);
            let ni = fxp::wrap32_o(p3 + p4 + bi, ev);
            state[0] = nr;
            state[1] = ni;
            let (zr, zi) = fxp::complex_relu(nr, ni);
            ([zr, zi], 2)
        }
        NeuronProgram::SsmOut {
            sh_re,
            sh_im,
            sh_d,
            y_bits,
            out2_in,
            l,
        } => {
            let yb = *y_bits;
            let cr = fxp::sat_o(fxp::shr(fxp::wrap32_o(x[0], ev), *sh_re), yb, ev);
            let ci = fxp::sat_o(fxp::shr(fxp::wrap32_o(x[1], ev), *sh_im), yb, ev);
            let c2 = 2 * fxp::sat_o(cr - ci, yb, ev);
            let du = fxp::sat_o(fxp::wrap32_o(fxp::shr(x[2], *sh_d), ev), yb, ev);
            let x1 = fxp::relu(fxp::sat_o(c2 + du, yb, ev));
            ([out2_in.apply_o(x1, ev), l.apply_o(x1, ev)], 2)
        }
        NeuronProgram::Gate {
            dense,
            sigmoid,
            e_go,
            s_fmt,
            gate,
            skip,
            residual,
            bn,
            dec_in,
        } => {
            let g = dense.apply(j, x[0], ev);
            let s = sigmoid.eval(g, *e_go);
            let r = fxp::requant_o(s, *s_fmt, gate[1], Width::Int64, ev);
            let gt = fxp::mul_o(x[1], gate[0].exp, r, gate[1].exp, gate[2], ev);
            let xo = fxp::relu(fxp::add_rt_o(gt, gate[2], x[2], *skip, *residual, ev));
            match bn {
                Some(b) => ([xo, b.apply(j, xo, ev)], 2),
                None => ([dec_in.apply_o(xo, ev), 0], 1),
            }
        }
        NeuronProgram::Decoder { dense } => ([dense.apply(j, x[0], ev), 0], 1),
    }
}
