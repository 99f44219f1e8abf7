//! The compiler pipeline: lower, partition, place, route, build the per-core tables.
//!
//! - **Partition.** Each population is cut into contiguous pieces that respect every per-core
//!   limit (neurons and the `max_neurons_per_core` knob, synaptic memory, total memory, input
//!   axons). A greedy pass finds the fewest pieces (largest prefix that fits, by binary search);
//!   the population is then re-cut into that many equal pieces when they fit, which balances
//!   the work of the cores.
//! - **Place.** One piece per core. Pieces start in pipeline-stage order along a serpentine
//!   walk of the mesh from the host's router, then pairwise swaps (with other pieces or free
//!   cores) are applied while they lower the traffic-weighted hop distance
//!   `sum(bits per token x hops)` over the piece graph. Deterministic: fixed orders, no
//!   randomness.
//! - **Route.** Dimension-order (XY) routes per flow (endpoint pair).
//! - **Build.** Per-core input-axon tables with their synapse segments and encodings, the
//!   source-side routing table, memory use, and a final check of every limit.

use crate::activity::Activity;
use crate::layout::{Board, CoreId, Endpoint};
use crate::network::{LowerError, Network, PopId, Source, bits_needed, lower};
use crate::program::{
    CompileOptions, CoreMemory, CoreProgram, Dest, Flow, InputAxon, Piece, PieceId, Program,
    Routing, Synapse,
};
use crate::synmem::{Encoding, index_bits};
use loisim_arch::Chip;
use loisim_model::Model;
use petgraph::graph::{DiGraph, NodeIndex};
use std::collections::BTreeMap;

/// Why a model could not be mapped.
#[derive(Debug, thiserror::Error)]
pub enum CompileError {
    /// Lowering failed.
    #[error("{0}")]
    Lower(#[from] LowerError),
    /// The chip description's board is too large (checked before anything is allocated).
    #[error("{0}")]
    Chip(#[from] loisim_arch::ChipError),
    /// A compiler option is out of range.
    #[error("{0}")]
    Option(String),
    /// A population needs more of something than the chip offers per neuron.
    #[error("{pop}: {what} (needs {needed}, the limit is {limit})")]
    Limit {
        /// Population.
        pop: String,
        /// What does not fit.
        what: String,
        /// Amount needed.
        needed: u64,
        /// The chip's limit.
        limit: u64,
    },
    /// A population's neuron program and its declared ports or channels disagree.
    #[error("{pop}: the neuron program reads {program} {what} but the population has {declared}")]
    Program {
        /// Population.
        pop: String,
        /// `dendritic ports` or `output channels`.
        what: &'static str,
        /// What the program uses.
        program: usize,
        /// What the population declares.
        declared: usize,
    },
    /// A compiler invariant does not hold (a bug in the compiler, not in the input).
    #[error("internal compiler error: {0}")]
    Internal(String),
    /// Not enough cores.
    #[error("the model needs {needed} cores but the {board} has {available}; {hint}")]
    DoesNotFit {
        /// Cores needed.
        needed: u32,
        /// Cores on the board.
        available: u32,
        /// Board name.
        board: String,
        /// Whether a larger board would do.
        hint: String,
    },
}

/// Resources of a candidate piece.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PieceCost {
    /// Neurons.
    pub neurons: u32,
    /// Synaptic-memory words.
    pub words: u64,
    /// Synapses stored.
    pub synapses: u64,
    /// Distinct input axons.
    pub input_axons: u32,
    /// Neuron state, bytes.
    pub state_bytes: u64,
}

struct Partitioner<'a> {
    net: &'a Network,
    chip: &'a Chip,
    enc: Encoding,
    /// Incoming projections per population, grouped by source: `(source, [projection])`.
    incoming: Vec<Vec<(Source, Vec<usize>)>>,
    /// Weight bits per projection.
    wbits: Vec<u32>,
}

impl<'a> Partitioner<'a> {
    fn new(net: &'a Network, chip: &'a Chip) -> Self {
        let mut incoming: Vec<Vec<(Source, Vec<usize>)>> = vec![Vec::new(); net.populations.len()];
        for (k, p) in net.projections.iter().enumerate() {
            let list = &mut incoming[p.dst.index()];
            match list.iter_mut().find(|(s, _)| *s == p.src) {
                Some((_, v)) => v.push(k),
                None => list.push((p.src, vec![k])),
            }
        }
        let wbits = net
            .projections
            .iter()
            .map(|p| bits_needed(&p.weights).min(p.weights.fmt().bits))
            .collect();
        Self {
            net,
            chip,
            enc: Encoding::of(chip),
            incoming,
            wbits,
        }
    }

    fn state_bits_per_neuron(&self, pop: PopId) -> u32 {
        let p = self.net.pop(pop);
        let acc = self.chip.core.accumulator_bits.value;
        let ports: u32 = p.port_delays.iter().map(|d| (d + 1) * acc).sum();
        let word = self.chip.core.state_word_bits.value;
        (ports + p.program.state_bits() + p.program.constant_bits()).div_ceil(word) * word
    }

    fn cost(&self, pop: PopId, start: u32, end: u32) -> PieceCost {
        let p = self.net.pop(pop);
        let n = end - start;
        let ib = index_bits(n * p.port_delays.len() as u32);
        let mut c = PieceCost {
            neurons: n,
            ..PieceCost::default()
        };
        for (src, projs) in &self.incoming[pop.index()] {
            for i in 0..self.net.source_width(*src) as usize {
                let mut hit = false;
                for &k in projs {
                    let (idx, _) = self.net.projections[k].weights.fan_out(i);
                    let nnz = (idx.partition_point(|&o| o < end)
                        - idx.partition_point(|&o| o < start)) as u32;
                    if nnz > 0 {
                        hit = true;
                        let s = self.enc.segment(nnz, n, self.wbits[k], ib);
                        c.words += u64::from(s.words);
                        c.synapses += u64::from(if s.dense { n } else { nnz });
                    }
                }
                c.input_axons += u32::from(hit);
            }
        }
        c.state_bytes = (u64::from(n) * u64::from(self.state_bits_per_neuron(pop))
            + u64::from(p.program.shared_bits()))
        .div_ceil(8);
        c
    }

    /// The first limit a piece breaks, as `(what, needed, limit)`.
    fn violation(&self, c: &PieceCost, knob: u32) -> Option<(String, u64, u64)> {
        let core = &self.chip.core;
        let syn_bytes = c.words * u64::from(self.chip.synapses.word_bits.value) / 8;
        let axon_bytes = u64::from(c.input_axons) * u64::from(core.input_axon_bytes.value);
        let max_neurons = core.max_neurons.value.min(knob);
        if c.neurons > max_neurons {
            return Some((
                "neurons per core".into(),
                c.neurons.into(),
                max_neurons.into(),
            ));
        }
        if syn_bytes > core.max_synaptic_bytes.value {
            return Some((
                "bytes of synaptic memory".into(),
                syn_bytes,
                core.max_synaptic_bytes.value,
            ));
        }
        if c.input_axons > core.max_input_axons.value {
            return Some((
                "input axons".into(),
                c.input_axons.into(),
                core.max_input_axons.value.into(),
            ));
        }
        let total = syn_bytes + c.state_bytes + axon_bytes;
        if total > core.memory_bytes.value {
            return Some((
                "bytes of core memory".into(),
                total,
                core.memory_bytes.value,
            ));
        }
        None
    }

    fn fits(&self, pop: PopId, start: u32, end: u32, knob: u32) -> bool {
        self.violation(&self.cost(pop, start, end), knob).is_none()
    }

    /// Cuts one population into pieces.
    fn split(&self, pop: PopId, knob: u32) -> Result<Vec<(u32, u32)>, CompileError> {
        let n = self.net.pop(pop).n_neurons;
        let mut greedy = Vec::new();
        let mut start = 0;
        while start < n {
            let c1 = self.cost(pop, start, start + 1);
            if let Some((what, needed, limit)) = self.violation(&c1, knob) {
                return Err(CompileError::Limit {
                    pop: self.net.pop(pop).name.clone(),
                    what: format!("neuron {start} alone exceeds the {what} of a core"),
                    needed,
                    limit,
                });
            }
            // Largest end that fits (costs grow with the range).
            let (mut lo, mut hi) = (start + 1, n.min(start + knob.max(1)));
            while lo < hi {
                let mid = lo + (hi - lo).div_ceil(2);
                if self.fits(pop, start, mid, knob) {
                    lo = mid
                } else {
                    hi = mid - 1
                }
            }
            greedy.push((start, lo));
            start = lo;
        }
        // Re-cut into as many equal pieces, when they fit.
        let k = greedy.len() as u32;
        let even: Vec<(u32, u32)> = (0..k).map(|j| (j * n / k, (j + 1) * n / k)).collect();
        if even.iter().all(|&(a, b)| self.fits(pop, a, b, knob)) {
            Ok(even)
        } else {
            Ok(greedy)
        }
    }
}

/// Traffic between placement nodes, in bits per token.
/// Traffic between pieces (and the host, node weight `None`), bits per timestep, for placement.
pub(crate) struct TrafficGraph {
    pub(crate) graph: DiGraph<Option<PieceId>, f64>,
    pub(crate) piece_nodes: Vec<NodeIndex>,
}

/// Which piece holds each neuron: per population, its pieces' `(start, end, index)` sorted by
/// start.
struct PieceIndex(Vec<Vec<(u32, u32, usize)>>);

impl PieceIndex {
    fn new(pieces: &[Piece], n_pops: usize) -> Self {
        let mut v = vec![Vec::new(); n_pops];
        for (k, p) in pieces.iter().enumerate() {
            v[p.pop.index()].push((p.start, p.end, k));
        }
        for l in &mut v {
            l.sort_unstable();
        }
        Self(v)
    }

    /// The piece holding a neuron, or `None` when no piece does.
    fn of(&self, pop: PopId, neuron: u32) -> Option<usize> {
        let l = &self.0[pop.index()];
        let i = l.partition_point(|&(s, _, _)| s <= neuron);
        (i > 0 && neuron < l[i - 1].1).then(|| l[i - 1].2)
    }

    /// The piece holding a neuron: every neuron of every population is in exactly one piece.
    fn holding(&self, net: &Network, pop: PopId, neuron: u32) -> Result<usize, CompileError> {
        self.of(pop, neuron).ok_or_else(|| {
            CompileError::Internal(format!(
                "neuron {neuron} of {} is in no piece",
                net.pop(pop).name
            ))
        })
    }
}

/// The index of a flow (an endpoint pair) in the sorted, deduplicated list of all flows.
fn flow_index(
    pairs: &[(Endpoint, Endpoint)],
    pair: (Endpoint, Endpoint),
) -> Result<u32, CompileError> {
    pairs
        .binary_search(&pair)
        .map(|i| i as u32)
        .map_err(|_| CompileError::Internal(format!("no flow from {:?} to {:?}", pair.0, pair.1)))
}

fn traffic_graph(
    net: &Network,
    pieces: &[Piece],
    activity: &Activity,
    header_bits: u32,
) -> Result<TrafficGraph, CompileError> {
    let index = PieceIndex::new(pieces, net.populations.len());
    let mut graph = DiGraph::new();
    let host = graph.add_node(None);
    let piece_nodes: Vec<NodeIndex> = (0..pieces.len())
        .map(|i| graph.add_node(Some(PieceId(i as u32))))
        .collect();
    let mut weights: BTreeMap<(NodeIndex, NodeIndex), f64> = BTreeMap::new();
    // Distinct sources, in projection order.
    let mut sources: Vec<Source> = Vec::new();
    for p in &net.projections {
        if !sources.contains(&p.src) {
            sources.push(p.src);
        }
    }
    for src in sources {
        let bits = f64::from(header_bits + net.source_payload_bits(src));
        for i in 0..net.source_width(src) {
            let from = match src {
                Source::Host => host,
                Source::Pop(pop, _) => piece_nodes[index.holding(net, pop, i)?],
            };
            let mut dsts: Vec<usize> = Vec::new();
            for (_, pr) in net.projections_from(src) {
                let (idx, _) = pr.weights.fan_out(i as usize);
                for &o in idx {
                    let k = index.holding(net, pr.dst, o)?;
                    if !dsts.contains(&k) {
                        dsts.push(k);
                    }
                }
            }
            let a = activity.of(src, i);
            for k in dsts {
                *weights.entry((from, piece_nodes[k])).or_default() += a * bits;
            }
        }
    }
    let (dec, ch) = net.output;
    let out_bits = f64::from(header_bits + net.pop(dec).channels[ch as usize].payload_bits);
    for i in 0..net.pop(dec).n_neurons {
        let k = index.holding(net, dec, i)?;
        *weights.entry((piece_nodes[k], host)).or_default() +=
            activity.of(Source::Pop(dec, ch), i) * out_bits;
    }
    for ((a, b), w) in weights {
        graph.add_edge(a, b, w);
    }
    Ok(TrafficGraph { graph, piece_nodes })
}

/// Places the pieces of `tg` on the cores of `board`: `initial` (every piece once) along the
/// serpentine, then `sweeps` rounds of pairwise swaps that lower the traffic-weighted hop
/// distance.
pub(crate) fn place(
    board: &Board,
    tg: &TrafficGraph,
    initial: &[usize],
    sweeps: u32,
) -> Vec<CoreId> {
    let order = board.serpentine_cores();
    let n_pieces = tg.piece_nodes.len();
    let by_stage = initial;
    let mut pos = vec![CoreId(0); n_pieces];
    let mut occupant: Vec<Option<usize>> = vec![None; board.n_cores() as usize];
    for (slot, &k) in by_stage.iter().enumerate() {
        pos[k] = order[slot];
        occupant[order[slot].index()] = Some(k);
    }
    let endpoint = |node: NodeIndex, pos: &[CoreId]| -> Endpoint {
        match tg.graph[node] {
            None => Endpoint::Host,
            Some(PieceId(k)) => Endpoint::Core(pos[k as usize]),
        }
    };
    // Neighbours of each piece with the traffic weight (both directions).
    let neighbours: Vec<Vec<(NodeIndex, f64)>> = tg
        .piece_nodes
        .iter()
        .map(|&n| {
            let mut v: Vec<(NodeIndex, f64)> = Vec::new();
            for e in tg.graph.edges_directed(n, petgraph::Direction::Outgoing) {
                v.push((petgraph::visit::EdgeRef::target(&e), *e.weight()));
            }
            for e in tg.graph.edges_directed(n, petgraph::Direction::Incoming) {
                v.push((petgraph::visit::EdgeRef::source(&e), *e.weight()));
            }
            v
        })
        .collect();
    let moved_cost = |k: usize, at: CoreId, pos: &[CoreId], skip: Option<usize>| -> f64 {
        neighbours[k]
            .iter()
            .filter(|(n, _)| skip.is_none_or(|s| tg.graph[*n] != Some(PieceId(s as u32))))
            .map(|&(n, w)| w * f64::from(board.hops(Endpoint::Core(at), endpoint(n, pos))))
            .sum()
    };
    // Candidates for a piece: the cores of the routers within two hops of the traffic-weighted
    // centre of its neighbours (a full scan of the board per piece would cost
    // pieces x cores x degree per sweep).
    let (bw, bh) = order.iter().fold((0, 0), |(w, h), &c| {
        let (x, y) = board.router(Endpoint::Core(c));
        (w.max(x + 1), h.max(y + 1))
    });
    let mut cores_at: Vec<Vec<CoreId>> = vec![Vec::new(); (bw * bh) as usize];
    for &c in &order {
        let (x, y) = board.router(Endpoint::Core(c));
        cores_at[(y * bw + x) as usize].push(c);
    }
    let candidates = |k: usize, pos: &[CoreId]| -> Vec<CoreId> {
        let (mut sx, mut sy, mut sw) = (0f64, 0f64, 0f64);
        for &(n, w) in &neighbours[k] {
            let (x, y) = board.router(endpoint(n, pos));
            sx += w * f64::from(x);
            sy += w * f64::from(y);
            sw += w;
        }
        let (cx, cy) = if sw > 0.0 {
            ((sx / sw).round() as i64, (sy / sw).round() as i64)
        } else {
            (0, 0)
        };
        let mut v = Vec::new();
        for dy in -2i64..=2 {
            for dx in -2i64..=2 {
                let (x, y) = (cx + dx, cy + dy);
                if dx.abs() + dy.abs() > 2
                    || x < 0
                    || y < 0
                    || x >= i64::from(bw)
                    || y >= i64::from(bh)
                {
                    continue;
                }
                v.extend_from_slice(&cores_at[(y as u32 * bw + x as u32) as usize]);
            }
        }
        v
    };
    for _ in 0..sweeps {
        let mut improved = false;
        for k in 0..n_pieces {
            for c in candidates(k, &pos) {
                let here = pos[k];
                if c == here {
                    continue;
                }
                let other = occupant[c.index()];
                let before = moved_cost(k, here, &pos, other)
                    + other.map_or(0.0, |o| moved_cost(o, c, &pos, Some(k)));
                let after = moved_cost(k, c, &pos, other)
                    + other.map_or(0.0, |o| moved_cost(o, here, &pos, Some(k)));
                if after + 1e-9 < before {
                    pos[k] = c;
                    occupant[c.index()] = Some(k);
                    occupant[here.index()] = other;
                    if let Some(o) = other {
                        pos[o] = here;
                    }
                    improved = true;
                }
            }
        }
        if !improved {
            break;
        }
    }
    pos
}

/// Rejects a network whose exact ports (see [`crate::network::NeuronProgram::exact_ports`]) can
/// receive a sum wider than the dendritic accumulator: there the chip would wrap the value
/// before the program shifts it, where the fixed-point spec shifts the exact value first.
fn check_exact_ports(net: &Network, acc_bits: u32) -> Result<(), CompileError> {
    for pr in &net.projections {
        let dst = net.pop(pr.dst);
        if !dst.program.exact_ports().contains(&pr.port) {
            continue;
        }
        let w_bits = bits_needed(&pr.weights).min(pr.weights.fmt().bits);
        let v_bits = match pr.src {
            Source::Host => net.input_payload_bits,
            Source::Pop(p, c) => net.pop(p).channels[c as usize].fmt.bits,
        };
        // A sum of `k` products of a w-bit and a v-bit signed value fits w + v + ceil(log2 k)
        // bits.
        let fan_in = u64::from(
            pr.weights
                .fan_in_counts()
                .into_iter()
                .max()
                .unwrap_or(0)
                .max(1),
        );
        let needed = w_bits + v_bits + (64 - (fan_in - 1).leading_zeros());
        if needed > acc_bits {
            return Err(CompileError::Limit {
                pop: dst.name.clone(),
                what: format!(
                    "accumulator bits for {} ({w_bits}-bit weights x {v_bits}-bit values, shifted \
                     before they wrap); use a narrower format or a chip with wider \
                     core.accumulator_bits",
                    pr.name
                ),
                needed: needed.into(),
                limit: acc_bits.into(),
            });
        }
    }
    Ok(())
}

/// Maps a model onto a chip. `activity` (from a reference run) weights the placement by the
/// expected traffic; without it every neuron output is assumed non-zero.
pub fn compile(
    model: &Model,
    chip: &Chip,
    options: &CompileOptions,
    activity: Option<&Activity>,
) -> Result<Program, CompileError> {
    if options.max_neurons_per_core == 0 {
        return Err(CompileError::Option(
            "max_neurons_per_core must be at least 1".into(),
        ));
    }
    // Before anything else: a description that was never validated (its fields are public)
    // must not size any allocation.
    let board = Board::new(chip)?;
    let net = lower(
        model,
        &chip.noc.payload_bits.value,
        chip.core.max_weight_bits.value,
    )?;
    for p in &net.populations {
        let ports = p.port_delays.len() as u64;
        if ports > u64::from(chip.core.max_ports_per_neuron.value) {
            return Err(CompileError::Limit {
                pop: p.name.clone(),
                what: "dendritic ports per neuron".into(),
                needed: ports,
                limit: chip.core.max_ports_per_neuron.value.into(),
            });
        }
    }
    for p in &net.populations {
        for (what, program, declared) in [
            ("dendritic ports", p.program.n_ports(), p.port_delays.len()),
            ("output channels", p.program.n_channels(), p.channels.len()),
        ] {
            if program != declared {
                return Err(CompileError::Program {
                    pop: p.name.clone(),
                    what,
                    program,
                    declared,
                });
            }
        }
    }
    check_exact_ports(&net, chip.core.accumulator_bits.value)?;
    for pr in &net.projections {
        if pr.delay > chip.core.max_delay.value {
            return Err(CompileError::Limit {
                pop: pr.name.clone(),
                what: "synaptic delay (timesteps)".into(),
                needed: pr.delay.into(),
                limit: chip.core.max_delay.value.into(),
            });
        }
    }
    let default_activity;
    let activity = match activity {
        Some(a) => a,
        None => {
            default_activity = Activity::all_active(&net);
            &default_activity
        }
    };
    let part = Partitioner::new(&net, chip);
    let mut ranges: Vec<(PopId, u32, u32)> = Vec::new();
    for k in 0..net.populations.len() {
        let pop = PopId(k as u32);
        for (a, b) in part.split(pop, options.max_neurons_per_core)? {
            ranges.push((pop, a, b));
        }
    }
    if ranges.len() as u32 > board.n_cores() {
        let hint = if chip.n_chips() == 1 {
            match Chip::preset("kapoho-point") {
                Ok(kp) if ranges.len() as u32 <= kp.n_cores() => {
                    format!("it would fit on kapoho-point ({} chips, {} cores): pass --chip kapoho-point", kp.n_chips(), kp.n_cores())
                }
                _ => "it does not fit a Kapoho Point (8 chips) either; raise --max-neurons-per-core or use a multi-chip description".into(),
            }
        } else {
            "raise --max-neurons-per-core or describe a board with more chips".into()
        };
        return Err(CompileError::DoesNotFit {
            needed: ranges.len() as u32,
            available: board.n_cores(),
            board: chip.board.name.clone(),
            hint,
        });
    }
    let mut pieces: Vec<Piece> = ranges
        .iter()
        .map(|&(pop, start, end)| Piece {
            pop,
            start,
            end,
            core: CoreId(0),
        })
        .collect();
    let tg = traffic_graph(&net, &pieces, activity, chip.noc.header_bits.value)?;
    // Initial: stage order along the serpentine.
    let mut by_stage: Vec<usize> = (0..pieces.len()).collect();
    by_stage.sort_by_key(|&k| (net.pop(pieces[k].pop).stage, pieces[k].pop, pieces[k].start));
    let pos = place(&board, &tg, &by_stage, options.place_sweeps);
    for (p, c) in pieces.iter_mut().zip(pos) {
        p.core = c;
    }
    build(model, chip, options, &net, pieces, &board, &part)
}

fn build(
    model: &Model,
    chip: &Chip,
    options: &CompileOptions,
    net: &Network,
    pieces: Vec<Piece>,
    board: &Board,
    part: &Partitioner<'_>,
) -> Result<Program, CompileError> {
    let header = chip.noc.header_bits.value;
    // Cores in id order, one piece each.
    let mut order: Vec<usize> = (0..pieces.len()).collect();
    order.sort_by_key(|&k| pieces[k].core);
    // Source ids.
    let mut base: Vec<Vec<u32>> = Vec::new();
    let mut next = net.input_width;
    for p in &net.populations {
        let mut v = Vec::new();
        for _ in &p.channels {
            v.push(next);
            next += p.n_neurons;
        }
        base.push(v);
    }
    let n_sources = next as usize;
    let source_id = |src: Source, i: u32| -> usize {
        match src {
            Source::Host => i as usize,
            Source::Pop(p, c) => (base[p.index()][c as usize] + i) as usize,
        }
    };
    let mut cores: Vec<CoreProgram> = Vec::with_capacity(order.len());
    let mut dests: Vec<Vec<(usize, u32, u32)>> = vec![Vec::new(); n_sources]; // (core index, axon, bits)
    for (ci, &k) in order.iter().enumerate() {
        let piece = pieces[k];
        let pop = net.pop(piece.pop);
        let n = piece.len();
        let ib = index_bits(n * pop.port_delays.len() as u32);
        let mut axons = Vec::new();
        let mut n_synapses = 0u64;
        for (src, projs) in &part.incoming[piece.pop.index()] {
            for i in 0..net.source_width(*src) {
                let mut syn = Vec::new();
                let (mut words, mut synops) = (0u32, 0u32);
                for &pk in projs {
                    let pr = &net.projections[pk];
                    let (idx, val) = pr.weights.fan_out(i as usize);
                    let (a, b) = (
                        idx.partition_point(|&o| o < piece.start),
                        idx.partition_point(|&o| o < piece.end),
                    );
                    if a == b {
                        continue;
                    }
                    let seg = part.enc.segment((b - a) as u32, n, part.wbits[pk], ib);
                    words += seg.words;
                    synops += seg.synops;
                    n_synapses += u64::from(if seg.dense { n } else { (b - a) as u32 });
                    for (&o, &w) in idx[a..b].iter().zip(&val[a..b]) {
                        syn.push(Synapse {
                            target: o - piece.start,
                            port: pr.port,
                            weight: w,
                        });
                    }
                }
                if syn.is_empty() {
                    continue;
                }
                dests[source_id(*src, i)].push((
                    ci,
                    axons.len() as u32,
                    header + net.source_payload_bits(*src),
                ));
                axons.push(InputAxon {
                    src: *src,
                    neuron: i,
                    words,
                    synops,
                    synapses: syn,
                });
            }
        }
        let cost = part.cost(piece.pop, piece.start, piece.end);
        let synaptic_bytes = axons.iter().map(|a| u64::from(a.words)).sum::<u64>()
            * u64::from(chip.synapses.word_bits.value)
            / 8;
        cores.push(CoreProgram {
            id: piece.core,
            location: board.location(piece.core),
            pieces: vec![PieceId(k as u32)],
            n_neurons: n,
            memory: CoreMemory {
                synaptic_bytes,
                state_bytes: cost.state_bytes,
                axon_bytes: axons.len() as u64 * u64::from(chip.core.input_axon_bytes.value),
            },
            axons,
            n_synapses,
            output_axons: 0,
        });
    }
    // Outputs to the host.
    let (dec, dec_ch) = net.output;
    let out_bits = header + net.pop(dec).channels[dec_ch as usize].payload_bits;
    // Endpoints and flows.
    let mut endpoint_of: Vec<Endpoint> = vec![Endpoint::Host; n_sources];
    for piece in &pieces {
        for c in 0..net.pop(piece.pop).channels.len() {
            for i in piece.start..piece.end {
                endpoint_of[(base[piece.pop.index()][c] + i) as usize] = Endpoint::Core(piece.core);
            }
        }
    }
    let mut pairs: Vec<(Endpoint, Endpoint)> = Vec::new();
    // Per source: (core index or host, axon, bits, receiving endpoint).
    type Pending = (Option<usize>, u32, u32, Endpoint);
    let mut raw: Vec<Vec<Pending>> = vec![Vec::new(); n_sources];
    for sid in 0..n_sources {
        for &(ci, axon, bits) in &dests[sid] {
            let to = Endpoint::Core(cores[ci].id);
            pairs.push((endpoint_of[sid], to));
            raw[sid].push((Some(ci), axon, bits, to));
        }
    }
    for i in 0..net.pop(dec).n_neurons {
        let sid = (base[dec.index()][dec_ch as usize] + i) as usize;
        pairs.push((endpoint_of[sid], Endpoint::Host));
        raw[sid].push((None, 0, out_bits, Endpoint::Host));
    }
    pairs.sort_unstable();
    pairs.dedup();
    let flows: Vec<Flow> = pairs
        .iter()
        .map(|&(s, d)| Flow {
            src: s,
            dst: d,
            links: board.route(s, d),
        })
        .collect();
    let mut offsets = Vec::with_capacity(n_sources + 1);
    let mut all = Vec::new();
    offsets.push(0u32);
    for (sid, list) in raw.iter().enumerate() {
        for &(core, axon, bits, to) in list {
            let flow = flow_index(&pairs, (endpoint_of[sid], to))?;
            all.push(Dest {
                core: core.map(|c| c as u32),
                axon,
                flow,
                bits,
            });
        }
        offsets.push(all.len() as u32);
        if let Endpoint::Core(c) = endpoint_of[sid] {
            let ci = cores.binary_search_by_key(&c, |cp| cp.id).map_err(|_| {
                CompileError::Internal(format!("source {sid} is on {c}, which runs no piece"))
            })?;
            cores[ci].output_axons += list.len() as u32;
        }
    }
    for c in &mut cores {
        c.memory.axon_bytes +=
            u64::from(c.output_axons) * u64::from(chip.core.output_axon_bytes.value);
        let core = &chip.core;
        let name = || net.pop(pieces[c.pieces[0].0 as usize].pop).name.clone();
        if c.output_axons > core.max_output_axons.value {
            return Err(CompileError::Limit {
                pop: name(),
                what: format!("output axons on {}", c.id),
                needed: c.output_axons.into(),
                limit: core.max_output_axons.value.into(),
            });
        }
        if c.memory.total() > core.memory_bytes.value {
            return Err(CompileError::Limit {
                pop: name(),
                what: format!("bytes of core memory on {}", c.id),
                needed: c.memory.total(),
                limit: core.memory_bytes.value,
            });
        }
    }
    let depth = net.depth;
    Ok(Program {
        model_name: model.name.clone(),
        chip: chip.clone(),
        options: options.clone(),
        network: net.clone(),
        pieces,
        cores,
        routing: Routing {
            base,
            offsets,
            dests: all,
        },
        flows,
        links: board.links().to_vec(),
        depth,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shipped_net() -> (Model, Network) {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../models/s5-sparse-0.25x.bin");
        let model =
            loisim_model::codec::decode(&std::fs::read(path).expect("model")).expect("decode");
        let chip = Chip::default_chip();
        let net = lower(
            &model,
            &chip.noc.payload_bits.value,
            chip.core.max_weight_bits.value,
        )
        .expect("lower");
        (model, net)
    }

    fn whole_pieces(net: &Network) -> Vec<Piece> {
        net.populations
            .iter()
            .enumerate()
            .map(|(k, p)| Piece {
                pop: PopId(k as u32),
                start: 0,
                end: p.n_neurons,
                core: CoreId(k as u32),
            })
            .collect()
    }

    #[test]
    fn a_source_neuron_in_no_piece_is_an_error_not_the_host() {
        let (_, net) = shipped_net();
        let activity = Activity::all_active(&net);
        let mut pieces = whole_pieces(&net);
        assert!(traffic_graph(&net, &pieces, &activity, 32).is_ok());
        // The encoder's last neuron (a source of block 0) is left out of every piece.
        pieces[0].end -= 1;
        let e = traffic_graph(&net, &pieces, &activity, 32)
            .err()
            .expect("uncovered neuron");
        assert!(e.to_string().contains("is in no piece"), "{e}");
    }

    #[test]
    fn a_flow_that_was_never_inserted_is_an_error_not_flow_zero() {
        let (a, b, c) = (
            Endpoint::Host,
            Endpoint::Core(CoreId(1)),
            Endpoint::Core(CoreId(2)),
        );
        let pairs = vec![(a, b), (b, c)];
        assert_eq!(flow_index(&pairs, (b, c)).expect("present"), 1);
        assert!(matches!(
            flow_index(&pairs, (c, b)),
            Err(CompileError::Internal(_))
        ));
    }

    #[test]
    fn the_d_term_must_fit_the_accumulator() {
        let (_, net) = shipped_net();
        // W8A16: 8-bit D times 16-bit u needs 24 bits.
        assert!(check_exact_ports(&net, 32).is_ok());
        assert!(check_exact_ports(&net, 24).is_ok());
        let e = check_exact_ports(&net, 23).expect_err("too narrow");
        let msg = e.to_string();
        assert!(
            msg.contains("L0.D") && msg.contains("(needs 24, the limit is 23)"),
            "{msg}"
        );
    }

    #[test]
    fn every_lowered_program_declares_the_ports_and_channels_it_uses() {
        let (_, net) = shipped_net();
        for p in &net.populations {
            assert_eq!(p.program.n_ports(), p.port_delays.len(), "{}", p.name);
            assert_eq!(p.program.n_channels(), p.channels.len(), "{}", p.name);
        }
    }
}
