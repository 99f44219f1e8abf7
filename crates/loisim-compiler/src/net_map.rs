//! Partitioning a general IR network (`loisim-net`) onto neurocores.
//!
//! Each population is cut into pieces of at most `max_neurons_per_core` neurons; pieces are
//! packed onto cores in order, several small pieces (of any populations) sharing a core when
//! everything fits. Per core, the partition checks: neurons, dendritic ports per neuron, input
//! axons (distinct source neurons of each projection feeding the core), synaptic memory, and the
//! core's memory for synapses, neuron state, delay rings, axon tables and programs.
//!
//! Pieces are contiguous neuron ranges. The IR numbers shaped populations channel-last (shape
//! `(X, Y, C)`, neuron `(x Y + y) C + c`), so a piece of a conv layer is a strip of consecutive
//! positions along `x` holding every channel of each position (its ends need not fall on a
//! row of `x`), and its input axons are the source positions, with every source channel, that
//! its kernel windows cover: its own rows of the source plus the kernel's halo. The
//! partitioner does not choose rectangular tiles.
//!
//! Memory model (documented assumptions, the synapse formats of Loihi 2 not being public):
//! - a stored synapse takes `weight bits + delay bits` of synaptic memory, where the weight bits
//!   are the narrowest signed width holding the projection's weights and the delay bits those
//!   holding its longest delay (0 for a delay of 0); runs of at most `max_run` synapses per axon
//!   add a header each;
//! - a conv projection's kernel is stored once per core that holds any of its targets (shared
//!   weights), its synapse count being the kernel's size;
//! - the dendritic delay ring of a core holds `(longest delay into the core + 1)` timesteps of
//!   every port of its neurons, each an accumulator of `accumulator_bits`;
//! - neuron state is `state_word_bits` per state variable and parameter.

use loisim_arch::Chip;
use loisim_net::{Network, PopId, Synapses};
use std::collections::{BTreeMap, BTreeSet};

/// A slice of a population on a core.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct NetPiece {
    /// The population.
    pub pop: PopId,
    /// First neuron.
    pub start: u32,
    /// One past the last neuron.
    pub end: u32,
}

/// Resources one core uses.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CoreUse {
    /// Neurons.
    pub neurons: u32,
    /// Input axons.
    pub input_axons: u32,
    /// Synaptic memory, bits.
    pub synaptic_bits: u64,
    /// Delay-ring memory, bits.
    pub ring_bits: u64,
    /// Neuron state and parameter memory, bits.
    pub state_bits: u64,
}

/// A partition of a network onto cores (core `i` of the board holds `cores[i]`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NetMapping {
    /// The pieces of each core.
    pub cores: Vec<Vec<NetPiece>>,
    /// What each core uses.
    pub usage: Vec<CoreUse>,
}

/// Why a network cannot be mapped.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum NetMapError {
    /// The network breaks a rule of the IR or of the chip.
    #[error(transparent)]
    Invalid(#[from] loisim_net::NetError),
    /// One piece cannot fit on any core.
    #[error("population `{pop}`: {message}")]
    PieceTooLarge {
        /// The population.
        pop: String,
        /// Which limit.
        message: String,
    },
    /// More cores needed than the board has.
    #[error("the network needs {needed} cores; board `{board}` has {available}")]
    DoesNotFit {
        /// Cores needed.
        needed: usize,
        /// Cores on the board.
        available: u32,
        /// Board name.
        board: String,
    },
}

/// Per projection: stored bits per synapse (weight + delay), the memory model of this module.
pub fn synapse_bits(net: &Network) -> Vec<u32> {
    net.projections
        .iter()
        .map(|pr| {
            let weights: &[i32] = match &pr.synapses {
                Synapses::Dense { weights }
                | Synapses::Sparse { weights, .. }
                | Synapses::OneToOne { weights } => weights,
                Synapses::Conv(c) => &c.weights,
                Synapses::Identity { weight } => std::slice::from_ref(weight),
            };
            let d = pr.max_delay();
            let delay_bits = if d == 0 { 0 } else { 32 - d.leading_zeros() };
            weight_bits(weights) + delay_bits
        })
        .collect()
}

/// Bits a synapse needs for these weights: they are stored as signed mantissas sharing one
/// exponent (their common trailing zero bits, as Loihi's weight exponent allows), so a matrix
/// of even weights in `[-256, 254]` (Lava's 8-bit mixed-sign weights) needs 8 bits.
fn weight_bits(weights: &[i32]) -> u32 {
    let shift = weights
        .iter()
        .filter(|&&w| w != 0)
        .map(|w| w.trailing_zeros())
        .min()
        .unwrap_or(0);
    let (lo, hi) = weights.iter().fold((0i64, 0i64), |(lo, hi), &w| {
        let m = i64::from(w >> shift);
        (lo.min(m), hi.max(m))
    });
    (1..=33)
        .find(|&b| lo >= -(1i64 << (b - 1)) && hi < (1i64 << (b - 1)))
        .unwrap_or(33)
}

/// Cuts `net` into pieces of at most `max_neurons_per_core` neurons and packs them onto the
/// cores of `chip`'s board.
///
/// # Errors
/// The network is invalid for the chip (delays, payload widths, weight widths, ports), a
/// single piece does not fit a core, or the board has too few cores.
pub fn partition(
    net: &Network,
    chip: &Chip,
    max_neurons_per_core: u32,
) -> Result<NetMapping, NetMapError> {
    let core = &chip.core;
    net.validate(core.max_delay.value)?;
    let invalid = |what: String, message: String| {
        NetMapError::Invalid(loisim_net::NetError::Invalid { what, message })
    };
    let payloads = &chip.noc.payload_bits.value;
    for pr in &net.projections {
        let bits = u32::from(net.source_bits(pr.src));
        if bits > 0 && !payloads.iter().any(|&p| p >= bits) {
            return Err(invalid(
                format!("projection `{}`", pr.name),
                format!("carries {bits}-bit payloads; the chip's graded spikes carry {payloads:?}"),
            ));
        }
    }
    let syn_bits = synapse_bits(net);
    for (pr, &b) in net.projections.iter().zip(&syn_bits) {
        let delay_bits = match pr.max_delay() {
            0 => 0,
            d => 32 - d.leading_zeros(),
        };
        if b - delay_bits > core.max_weight_bits.value {
            return Err(invalid(
                format!("projection `{}`", pr.name),
                format!(
                    "needs {}-bit weights; a synapse holds at most {}",
                    b - delay_bits,
                    core.max_weight_bits.value
                ),
            ));
        }
    }
    for p in &net.populations {
        let prog = &net.programs[p.program.index()];
        if prog.ports.len() as u32 > core.max_ports_per_neuron.value {
            return Err(invalid(
                format!("population `{}`", p.name),
                format!(
                    "program `{}` reads {} ports; a neuron has at most {}",
                    prog.name,
                    prog.ports.len(),
                    core.max_ports_per_neuron.value
                ),
            ));
        }
    }
    let max_n = max_neurons_per_core.clamp(1, core.max_neurons.value.max(1));
    // Pieces in order, each as large as a core allows (at most `max_n` neurons).
    let kernel_bits = kernel_bits(net, chip, &syn_bits);
    let mut pieces = Vec::new();
    for pi in 0..net.populations.len() {
        pieces.extend(cut_population(
            net,
            chip,
            &syn_bits,
            &kernel_bits,
            PopId(pi as u32),
            max_n,
        )?);
    }
    let uses = piece_uses(net, chip, &syn_bits, &pieces);
    let mut cores: Vec<Vec<NetPiece>> = Vec::new();
    let mut members: Vec<Vec<usize>> = Vec::new();
    let mut usage: Vec<CoreUse> = Vec::new();
    for (k, piece) in pieces.iter().enumerate() {
        if let (Some(last), Some(idx)) = (cores.last_mut(), members.last_mut()) {
            let n: u32 =
                last.iter().map(|x| x.end - x.start).sum::<u32>() + piece.end - piece.start;
            let mut trial = idx.clone();
            trial.push(k);
            if n <= max_n
                && let Ok(u) = core_use(chip, &uses, &trial)
            {
                last.push(*piece);
                *idx = trial;
                *usage.last_mut().expect("one per core") = u;
                continue;
            }
        }
        match core_use(chip, &uses, &[k]) {
            Ok(u) => {
                cores.push(vec![*piece]);
                members.push(vec![k]);
                usage.push(u);
            }
            Err(message) => {
                return Err(NetMapError::PieceTooLarge {
                    pop: net.populations[piece.pop.index()].name.clone(),
                    message: format!(
                        "neurons {}..{} do not fit one core: {message}",
                        piece.start, piece.end
                    ),
                });
            }
        }
    }
    let available = chip.board_size().map(|s| s.cores).unwrap_or(0);
    if cores.len() as u64 > u64::from(available) {
        return Err(NetMapError::DoesNotFit {
            needed: cores.len(),
            available,
            board: chip.board.name.clone(),
        });
    }
    Ok(NetMapping { cores, usage })
}

/// What one piece needs, computed once: the axons reaching it (sorted `(projection << 32) |
/// source neuron` keys), its synaptic bits other than conv kernels (a run header per axon and
/// piece), the conv kernels it reads (projection, bits), its longest incoming delay, port slots
/// and state bits.
#[derive(Clone, Debug, Default)]
struct PieceUse {
    neurons: u32,
    axons: Vec<u64>,
    synaptic_bits: u64,
    conv: Vec<(usize, u64)>,
    longest_delay: u32,
    port_slots: u64,
    state_bits: u64,
}

/// Bits of each projection's conv kernel (0 for other projections), stored once per core that
/// reads it.
fn kernel_bits(net: &Network, chip: &Chip, syn_bits: &[u32]) -> Vec<u64> {
    let run_header = u64::from(chip.synapses.run_header_bits.value);
    let max_run = u64::from(chip.synapses.max_run.value.max(1));
    net.projections
        .iter()
        .zip(syn_bits)
        .map(|(pr, &b)| match &pr.synapses {
            Synapses::Conv(c) => {
                let n = c.weights.len() as u64;
                n * u64::from(b) + n.div_ceil(max_run) * run_header
            }
            _ => 0,
        })
        .collect()
}

/// Every piece's [`PieceUse`], in one pass over the synapses.
fn piece_uses(net: &Network, chip: &Chip, syn_bits: &[u32], pieces: &[NetPiece]) -> Vec<PieceUse> {
    let core = &chip.core;
    let mut holder: Vec<Vec<u32>> = net
        .populations
        .iter()
        .map(|p| vec![0; p.size as usize])
        .collect();
    let mut uses: Vec<PieceUse> = pieces
        .iter()
        .enumerate()
        .map(|(k, g)| {
            let p = &net.populations[g.pop.index()];
            let prog = &net.programs[p.program.index()];
            let n = g.end - g.start;
            for j in g.start..g.end {
                holder[g.pop.index()][j as usize] = k as u32;
            }
            PieceUse {
                neurons: n,
                port_slots: u64::from(n) * prog.ports.len() as u64,
                state_bits: u64::from(n)
                    * (prog.states.len() + prog.params.len()) as u64
                    * u64::from(core.state_word_bits.value),
                ..PieceUse::default()
            }
        })
        .collect();
    let run_header = u64::from(chip.synapses.run_header_bits.value);
    let max_run = u64::from(chip.synapses.max_run.value.max(1));
    let kernel_bits = kernel_bits(net, chip, syn_bits);
    let mut hits: BTreeMap<u32, u64> = BTreeMap::new();
    for (k, pr) in net.projections.iter().enumerate() {
        let dst = pr.dst.pop.index();
        let conv = matches!(pr.synapses, Synapses::Conv(_));
        for i in 0..net.source_size(pr.src) {
            hits.clear();
            net.fan_out(pr, i, |j, _, d| {
                let piece = holder[dst][j as usize];
                *hits.entry(piece).or_default() += 1;
                let u = &mut uses[piece as usize];
                u.longest_delay = u.longest_delay.max(d);
            });
            for (&piece, &count) in &hits {
                let u = &mut uses[piece as usize];
                u.axons.push(((k as u64) << 32) | u64::from(i));
                if conv {
                    if u.conv.last().map(|c| c.0) != Some(k) {
                        u.conv.push((k, kernel_bits[k]));
                    }
                } else {
                    u.synaptic_bits +=
                        count * u64::from(syn_bits[k]) + count.div_ceil(max_run) * run_header;
                }
            }
        }
    }
    // Keys were pushed in (projection, source) order: already sorted and unique.
    debug_assert!(uses.iter().all(|u| u.axons.windows(2).all(|w| w[0] < w[1])));
    uses
}

/// What the pieces `group` (indices into `uses`) use together on one core, or which limit they
/// break: axons reaching several of them count once, a conv kernel once per core.
fn core_use(chip: &Chip, uses: &[PieceUse], group: &[usize]) -> Result<CoreUse, String> {
    let core = &chip.core;
    let mut u = CoreUse::default();
    let mut axons: Vec<u64> = Vec::new();
    let mut conv: BTreeMap<usize, u64> = BTreeMap::new();
    let (mut longest_delay, mut port_slots) = (0u32, 0u64);
    for &k in group {
        let p = &uses[k];
        u.neurons += p.neurons;
        u.state_bits += p.state_bits;
        u.synaptic_bits += p.synaptic_bits;
        port_slots += p.port_slots;
        longest_delay = longest_delay.max(p.longest_delay);
        axons.extend_from_slice(&p.axons);
        conv.extend(p.conv.iter().copied());
    }
    // A core holds at most one piece of a population and a projection targets one population,
    // so the pieces' axon keys are disjoint; sorting and deduplicating keeps that true should
    // packing ever change.
    if group.len() > 1 {
        axons.sort_unstable();
        axons.dedup();
    }
    u.synaptic_bits += conv.values().sum::<u64>();
    u.input_axons = u32::try_from(axons.len()).unwrap_or(u32::MAX);
    u.ring_bits =
        (u64::from(longest_delay) + 1) * port_slots * u64::from(core.accumulator_bits.value);
    check_limits(chip, &u)?;
    Ok(u)
}

/// Whether a core using `u` is within every per-core limit of `chip`; the first limit broken.
fn check_limits(chip: &Chip, u: &CoreUse) -> Result<(), String> {
    let core = &chip.core;
    if u.neurons > core.max_neurons.value {
        return Err(format!(
            "{} neurons, a core holds {}",
            u.neurons, core.max_neurons.value
        ));
    }
    if u.input_axons > core.max_input_axons.value {
        return Err(format!(
            "{} input axons, a core has {}",
            u.input_axons, core.max_input_axons.value
        ));
    }
    let syn_bytes = u.synaptic_bits.div_ceil(8);
    if syn_bytes > core.max_synaptic_bytes.value {
        return Err(format!(
            "{syn_bytes} bytes of synapses, a core holds {}",
            core.max_synaptic_bytes.value
        ));
    }
    let total = syn_bytes
        + u.ring_bits.div_ceil(8)
        + u.state_bits.div_ceil(8)
        + u64::from(u.input_axons) * u64::from(core.input_axon_bytes.value);
    if total > core.memory_bytes.value {
        return Err(format!(
            "{total} bytes of synapses, delay ring, state and axons, a core has {}",
            core.memory_bytes.value
        ));
    }
    Ok(())
}

/// Cuts population `pop` into pieces of at most `max_n` neurons, each as large as one core
/// allows: a piece grows neuron by neuron while its axons, synapses, delay ring and state fit
/// (`check_limits`), so a population with a wide fan-in gets smaller pieces.
fn cut_population(
    net: &Network,
    chip: &Chip,
    syn_bits: &[u32],
    kernel_bits: &[u64],
    pop: PopId,
    max_n: u32,
) -> Result<Vec<NetPiece>, NetMapError> {
    let core = &chip.core;
    let p = &net.populations[pop.index()];
    let prog = &net.programs[p.program.index()];
    // Every synapse into the population, by target neuron: (axon key, projection, delay).
    let mut inbound: Vec<Vec<(u64, u32, u32)>> = vec![Vec::new(); p.size as usize];
    for (k, pr) in net.projections.iter().enumerate() {
        if pr.dst.pop != pop {
            continue;
        }
        for i in 0..net.source_size(pr.src) {
            net.fan_out(pr, i, |j, _, d| {
                inbound[j as usize].push((((k as u64) << 32) | u64::from(i), k as u32, d));
            });
        }
    }
    let run_header = u64::from(chip.synapses.run_header_bits.value);
    let max_run = u64::from(chip.synapses.max_run.value.max(1));
    let per_neuron_state =
        (prog.states.len() + prog.params.len()) as u64 * u64::from(core.state_word_bits.value);
    let ports = prog.ports.len() as u64;
    let mut pieces = Vec::new();
    let mut start = 0u32;
    while start < p.size {
        let mut counts: BTreeMap<u64, u64> = BTreeMap::new();
        let mut conv: BTreeSet<u32> = BTreeSet::new();
        let mut u = CoreUse::default();
        let mut longest_delay = 0u32;
        let mut end = start;
        while end < p.size && end - start < max_n {
            let mut next = u.clone();
            let mut next_counts = Vec::new();
            let mut next_conv = Vec::new();
            let mut next_delay = longest_delay;
            for &(key, k, d) in &inbound[end as usize] {
                next_delay = next_delay.max(d);
                if matches!(net.projections[k as usize].synapses, Synapses::Conv(_)) {
                    if !conv.contains(&k) && !next_conv.contains(&k) {
                        next_conv.push(k);
                        next.synaptic_bits += kernel_bits[k as usize];
                    }
                    next_counts.push((key, false));
                } else {
                    next.synaptic_bits += u64::from(syn_bits[k as usize]);
                    next_counts.push((key, true));
                }
            }
            // Axons and run headers.
            let mut added: BTreeMap<u64, u64> = BTreeMap::new();
            for &(key, counted) in &next_counts {
                let have =
                    counts.get(&key).copied().unwrap_or(0) + added.get(&key).copied().unwrap_or(0);
                if have == 0 {
                    next.input_axons += 1;
                }
                if counted && have % max_run == 0 {
                    next.synaptic_bits += run_header;
                }
                *added.entry(key).or_default() += 1;
            }
            next.neurons += 1;
            next.state_bits += per_neuron_state;
            next.ring_bits = (u64::from(next_delay) + 1)
                * u64::from(next.neurons)
                * ports
                * u64::from(core.accumulator_bits.value);
            match check_limits(chip, &next) {
                Ok(()) => {
                    u = next;
                    longest_delay = next_delay;
                    for (key, n) in added {
                        *counts.entry(key).or_default() += n;
                    }
                    conv.extend(next_conv);
                    end += 1;
                }
                Err(message) if end == start => {
                    return Err(NetMapError::PieceTooLarge {
                        pop: p.name.clone(),
                        message: format!("neuron {start} alone does not fit one core: {message}"),
                    });
                }
                Err(_) => break,
            }
        }
        pieces.push(NetPiece { pop, start, end });
        start = end;
    }
    Ok(pieces)
}

/// Where the cores of a [`NetMapping`] sit on the board, and the traffic they exchange.
#[derive(Clone, Debug, PartialEq)]
pub struct NetLayout {
    /// The board core of each mapping core (`mapping.cores[i]` runs on `cores[i]`).
    pub cores: Vec<crate::layout::CoreId>,
    /// Message bits per timestep between cores and the host when every neuron sends once
    /// (header and payload), the traffic placement minimises.
    pub traffic_bits_per_step: f64,
    /// The same bits, each times the hops it travels (router to router).
    pub hop_bits_per_step: f64,
    /// The longest route used, hops.
    pub max_hops: u32,
}

/// Places the cores of `mapping` on `chip`'s board: in mapping order along the serpentine, then
/// `sweeps` rounds of pairwise swaps that lower the traffic-weighted hop distance (the S5
/// compiler's placement), with every neuron assumed to send once per timestep.
///
/// # Errors
/// The board description is invalid or too small.
pub fn place(
    net: &Network,
    mapping: &NetMapping,
    chip: &Chip,
    sweeps: u32,
) -> Result<NetLayout, NetMapError> {
    use crate::compile::TrafficGraph;
    use crate::layout::{Board, Endpoint};
    use crate::program::PieceId;
    use petgraph::graph::{DiGraph, NodeIndex};
    let board = Board::new(chip).map_err(|e| {
        NetMapError::Invalid(loisim_net::NetError::Invalid {
            what: format!("chip `{}`", chip.name),
            message: e.to_string(),
        })
    })?;
    if mapping.cores.len() as u64 > u64::from(board.n_cores()) {
        return Err(NetMapError::DoesNotFit {
            needed: mapping.cores.len(),
            available: board.n_cores(),
            board: chip.board.name.clone(),
        });
    }
    // The mapping core of every neuron.
    let mut holder: Vec<Vec<u32>> = net
        .populations
        .iter()
        .map(|p| vec![0; p.size as usize])
        .collect();
    for (k, group) in mapping.cores.iter().enumerate() {
        for g in group {
            for j in g.start..g.end {
                holder[g.pop.index()][j as usize] = k as u32;
            }
        }
    }
    let header = chip.noc.header_bits.value;
    let mut graph = DiGraph::new();
    let host = graph.add_node(None);
    let nodes: Vec<NodeIndex> = (0..mapping.cores.len())
        .map(|k| graph.add_node(Some(PieceId(k as u32))))
        .collect();
    let mut weights: BTreeMap<(NodeIndex, NodeIndex), f64> = BTreeMap::new();
    for pr in &net.projections {
        let bits = f64::from(header + u32::from(net.source_bits(pr.src)));
        for i in 0..net.source_size(pr.src) {
            let from = match pr.src {
                loisim_net::Source::Input(_) => host,
                loisim_net::Source::Population { pop, .. } => {
                    nodes[holder[pop.index()][i as usize] as usize]
                }
            };
            let mut dsts = BTreeSet::new();
            net.fan_out(pr, i, |j, _, _| {
                dsts.insert(holder[pr.dst.pop.index()][j as usize]);
            });
            for k in dsts {
                *weights.entry((from, nodes[k as usize])).or_default() += bits;
            }
        }
    }
    for o in &net.outputs {
        let p = &net.populations[o.pop.index()];
        let bits = f64::from(
            header + u32::from(net.program_of(o.pop).channels[usize::from(o.channel)].bits),
        );
        for j in 0..p.size {
            *weights
                .entry((nodes[holder[o.pop.index()][j as usize] as usize], host))
                .or_default() += bits;
        }
    }
    // Messages a core sends to itself never cross the mesh and do not depend on placement.
    for ((a, b), w) in &weights {
        if a != b {
            graph.add_edge(*a, *b, *w);
        }
    }
    let tg = TrafficGraph {
        graph,
        piece_nodes: nodes.clone(),
    };
    let initial: Vec<usize> = (0..mapping.cores.len()).collect();
    let cores = crate::compile::place(&board, &tg, &initial, sweeps);
    let at = |n: NodeIndex| match tg.graph[n] {
        None => Endpoint::Host,
        Some(PieceId(k)) => Endpoint::Core(cores[k as usize]),
    };
    let (mut traffic, mut hop_bits, mut max_hops) = (0.0, 0.0, 0);
    for ((a, b), w) in &weights {
        let h = board.hops(at(*a), at(*b));
        traffic += w;
        hop_bits += w * f64::from(h);
        max_hops = max_hops.max(h);
    }
    Ok(NetLayout {
        cores,
        traffic_bits_per_step: traffic,
        hop_bits_per_step: hop_bits,
        max_hops,
    })
}

/// One core of a [`NetMapReport`].
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct NetCoreReport {
    /// Board core id.
    pub core: u32,
    /// The pieces it holds, as `population[start..end]`.
    pub pieces: Vec<String>,
    /// Neurons.
    pub neurons: u32,
    /// Input axons.
    pub input_axons: u32,
    /// Synaptic memory, bytes.
    pub synaptic_bytes: u64,
    /// Delay-ring memory, bytes.
    pub ring_bytes: u64,
    /// State and parameter memory, bytes.
    pub state_bytes: u64,
}

/// How a network with conv projections is cut: pieces are contiguous ranges of the IR's
/// channel-last numbering, strips of positions along `x` with all their channels (see the
/// module's description), not rectangular tiles.
pub fn conv_note(net: &Network) -> Option<String> {
    net.projections
        .iter()
        .any(|p| matches!(p.synapses, Synapses::Conv(_)))
        .then(|| {
            "conv layers are cut into strips along x, every channel of a position on one core \
             (not into rectangular tiles)"
                .to_string()
        })
}

/// The mapping of an IR network: cores, their memory, and the placement's traffic.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct NetMapReport {
    /// The network.
    pub network: String,
    /// The chip.
    pub chip: String,
    /// Cores used.
    pub cores_used: usize,
    /// Cores on the board.
    pub cores_available: u32,
    /// Neurons placed.
    pub neurons: u64,
    /// Message bits per timestep when every neuron sends once.
    pub traffic_bits_per_step: f64,
    /// The same bits times the hops each travels.
    pub hop_bits_per_step: f64,
    /// The longest route, hops.
    pub max_hops: u32,
    /// Per core.
    pub cores: Vec<NetCoreReport>,
    /// Caveats of this mapping.
    pub notes: Vec<String>,
}

impl NetMapReport {
    /// The report of `mapping` placed as `layout`.
    #[must_use]
    pub fn new(net: &Network, chip: &Chip, mapping: &NetMapping, layout: &NetLayout) -> Self {
        let cores: Vec<NetCoreReport> = mapping
            .cores
            .iter()
            .zip(&mapping.usage)
            .zip(&layout.cores)
            .map(|((group, u), c)| NetCoreReport {
                core: c.0,
                pieces: group
                    .iter()
                    .map(|g| {
                        format!(
                            "{}[{}..{}]",
                            net.populations[g.pop.index()].name,
                            g.start,
                            g.end
                        )
                    })
                    .collect(),
                neurons: u.neurons,
                input_axons: u.input_axons,
                synaptic_bytes: u.synaptic_bits.div_ceil(8),
                ring_bytes: u.ring_bits.div_ceil(8),
                state_bytes: u.state_bits.div_ceil(8),
            })
            .collect();
        Self {
            network: net.name.clone(),
            chip: chip.name.clone(),
            cores_used: cores.len(),
            cores_available: chip.board_size().map(|s| s.cores).unwrap_or(0),
            neurons: cores.iter().map(|c| u64::from(c.neurons)).sum(),
            traffic_bits_per_step: layout.traffic_bits_per_step,
            hop_bits_per_step: layout.hop_bits_per_step,
            max_hops: layout.max_hops,
            cores,
            notes: conv_note(net).into_iter().collect(),
        }
    }

    /// The report as text: a summary, then one line per core.
    #[must_use]
    pub fn text(&self) -> String {
        use std::fmt::Write;
        let mut s = String::new();
        let mean_hops = if self.traffic_bits_per_step > 0.0 {
            self.hop_bits_per_step / self.traffic_bits_per_step
        } else {
            0.0
        };
        let _ = writeln!(s, "network {} on {}", self.network, self.chip);
        let _ = writeln!(
            s,
            "cores used       {} of {}, {} neurons",
            self.cores_used, self.cores_available, self.neurons
        );
        let _ = writeln!(
            s,
            "traffic          {:.0} bits per timestep if every neuron sends, {mean_hops:.2} hops on average, at most {}",
            self.traffic_bits_per_step, self.max_hops
        );
        for n in &self.notes {
            let _ = writeln!(s, "note             {n}");
        }
        let _ = writeln!(
            s,
            "\n  core  neurons  axons  synapses B  ring B  state B  pieces"
        );
        for c in &self.cores {
            let _ = writeln!(
                s,
                "{:>6} {:>8} {:>6} {:>11} {:>7} {:>8}  {}",
                c.core,
                c.neurons,
                c.input_axons,
                c.synaptic_bytes,
                c.ring_bytes,
                c.state_bytes,
                c.pieces.join(" ")
            );
        }
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use loisim_net::random::{self, Shape};

    /// Input axons and longest delay of a group of pieces, counted directly from the synapses.
    fn brute(net: &Network, group: &[NetPiece]) -> (u32, u32) {
        let on = |pop: PopId, j: u32| {
            group
                .iter()
                .any(|g| g.pop == pop && g.start <= j && j < g.end)
        };
        let (mut axons, mut delay) = (BTreeSet::new(), 0);
        for (k, pr) in net.projections.iter().enumerate() {
            for i in 0..net.source_size(pr.src) {
                net.fan_out(pr, i, |j, _, d| {
                    if on(pr.dst.pop, j) {
                        axons.insert((k, i));
                        delay = delay.max(d);
                    }
                });
            }
        }
        (axons.len() as u32, delay)
    }

    #[test]
    fn weights_are_stored_as_mantissas_sharing_their_trailing_zeros() {
        // Lava's 8-bit mixed-sign weights: even values in [-256, 254].
        assert_eq!(weight_bits(&[-256, 254, 0, 2]), 8);
        assert_eq!(weight_bits(&[-256, 255]), 9);
        assert_eq!(weight_bits(&[127, -128]), 8);
        assert_eq!(weight_bits(&[128, 1]), 9);
        assert_eq!(weight_bits(&[128]), 2, "128 = 1 x 2^7");
        assert_eq!(weight_bits(&[1000]), 8, "1000 = 125 x 2^3");
        assert_eq!(weight_bits(&[1001]), 11);
        assert_eq!(weight_bits(&[0, 0]), 1);
        assert_eq!(weight_bits(&[i32::MIN]), 1, "-2^31 = -1 x 2^31");
    }

    #[test]
    fn core_usage_from_piece_summaries_equals_a_direct_count() {
        let chip = Chip::default_chip();
        let mut shared = 0;
        for seed in 0..60 {
            let net = random::network(seed, &Shape::default());
            let m = partition(&net, &chip, 16).expect("maps");
            for (group, u) in m.cores.iter().zip(&m.usage) {
                let (axons, delay) = brute(&net, group);
                assert_eq!(u.input_axons, axons, "seed {seed}");
                let slots: u64 = group
                    .iter()
                    .map(|g| {
                        let p = &net.populations[g.pop.index()];
                        u64::from(g.end - g.start)
                            * net.programs[p.program.index()].ports.len() as u64
                    })
                    .sum();
                let ring =
                    (u64::from(delay) + 1) * slots * u64::from(chip.core.accumulator_bits.value);
                assert_eq!(u.ring_bits, ring, "seed {seed}");
                shared += usize::from(group.len() > 1);
            }
        }
        assert!(shared > 20, "{shared}");
    }
}
