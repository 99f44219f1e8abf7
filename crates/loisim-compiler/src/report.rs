//! What a mapping looks like: cores used and their load, traffic, hop counts, pipeline depth,
//! and the max-affine lower bound on the timestep (`loisim map --report`).
//!
//! Per-token figures are expectations under an [`Activity`]: measured on an input, or the
//! all-active upper bound.

use crate::activity::Activity;
use crate::layout::Endpoint;
use crate::network::Source;
use crate::program::Program;
use serde::Serialize;
use std::fmt::Write as _;

/// One core of the mapping.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct CoreReport {
    /// Physical core id.
    pub core: u32,
    /// Chip, router x, router y, slot.
    pub location: [u32; 4],
    /// Population.
    pub population: String,
    /// Neuron range `[start, end)`.
    pub neurons_range: [u32; 2],
    /// Neurons.
    pub neurons: u32,
    /// Neuron-state bytes.
    pub state_bytes: u64,
    /// Synaptic-memory bytes.
    pub synaptic_bytes: u64,
    /// Synaptic memory used, % of the core's synaptic memory.
    pub synaptic_util_pct: f64,
    /// All memory used, % of the core's memory.
    pub memory_util_pct: f64,
    /// Stored synapses.
    pub synapses: u64,
    /// Input axons (fan-in sources).
    pub fan_in: u32,
    /// Output axons (destinations of its neurons' outputs).
    pub fan_out: u32,
    /// Expected messages received per token.
    pub msgs_in_per_token: f64,
    /// Expected messages sent per token.
    pub msgs_out_per_token: f64,
    /// Expected synaptic operations per token.
    pub synops_per_token: f64,
}

/// One term of the max-affine lower bound.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct BoundTerm {
    /// What it counts.
    pub term: String,
    /// Its largest value, ns.
    pub ns: f64,
    /// Where (a core, a link, or `-`).
    pub at: String,
}

/// The whole report.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct MapReport {
    /// Model name.
    pub model: String,
    /// Chip description.
    pub chip: String,
    /// Board.
    pub board: String,
    /// The `max_neurons_per_core` knob.
    pub max_neurons_per_core: u32,
    /// Cores used.
    pub cores_used: u32,
    /// Cores on the board.
    pub cores_available: u32,
    /// Tiles (routers) with a used core.
    pub tiles_used: u32,
    /// Timesteps a token spends in the pipeline (fall-through timesteps per token).
    pub pipeline_depth: u32,
    /// Where the activity figures come from.
    pub activity: String,
    /// Expected messages per token (host included).
    pub msgs_per_token: f64,
    /// Expected synaptic operations per token.
    pub synops_per_token: f64,
    /// Expected messages per token by hop count (index = hops).
    pub hop_histogram: Vec<f64>,
    /// Expected bits per token on the busiest link.
    pub busiest_link_bits_per_token: f64,
    /// Terms of the max-affine bound, pipeline steady state (every stage active).
    pub lower_bound_terms: Vec<BoundTerm>,
    /// Lower bound on the pipeline timestep, ns.
    pub lower_bound_ns: f64,
    /// Per core.
    pub cores: Vec<CoreReport>,
}

impl MapReport {
    /// The report of a program under an activity.
    pub fn new(prog: &Program, activity: &Activity) -> Self {
        let chip = &prog.chip;
        let net = &prog.network;
        let nc = prog.cores.len();
        let mut msgs_in = vec![0f64; nc];
        let mut msgs_out = vec![0f64; nc];
        let mut synops = vec![0f64; nc];
        let mut words = vec![0f64; nc];
        let mut link_bits = vec![0f64; prog.links.len()];
        let mut hops: Vec<f64> = Vec::new();
        let mut host_in = 0f64;
        let mut host_out = 0f64;
        let (mut total_msgs, mut total_synops) = (0f64, 0f64);
        let n_sources = prog.routing.offsets.len() - 1;
        // Source id -> (source, neuron) for activity lookups.
        let mut who: Vec<(Source, u32)> = (0..net.input_width).map(|i| (Source::Host, i)).collect();
        for (pi, p) in net.populations.iter().enumerate() {
            for c in 0..p.channels.len() {
                for i in 0..p.n_neurons {
                    who.push((Source::Pop(crate::PopId(pi as u32), c as u32), i));
                }
            }
        }
        for (sid, &(src, i)) in who.iter().enumerate().take(n_sources) {
            let a = activity.of(src, i);
            if a == 0.0 {
                continue;
            }
            for d in prog.routing.dests(sid as u32) {
                let flow = &prog.flows[d.flow as usize];
                match flow.src {
                    Endpoint::Host => host_in += a,
                    Endpoint::Core(id) => {
                        if let Some(ci) = prog.core_index(id) {
                            msgs_out[ci] += a;
                        }
                    }
                }
                match d.core {
                    Some(ci) => {
                        let ax = &prog.cores[ci as usize].axons[d.axon as usize];
                        msgs_in[ci as usize] += a;
                        synops[ci as usize] += a * f64::from(ax.synops);
                        words[ci as usize] += a * f64::from(ax.words);
                        total_synops += a * f64::from(ax.synops);
                    }
                    None => host_out += a,
                }
                total_msgs += a;
                let h = flow.links.len();
                if hops.len() <= h {
                    hops.resize(h + 1, 0.0);
                }
                hops[h] += a;
                for l in &flow.links {
                    link_bits[l.index()] += a * f64::from(d.bits);
                }
            }
        }
        let ops = &chip.ops;
        let mut terms = Vec::new();
        let mut push_max = |term: &str, vals: &[f64], per: f64, name: &dyn Fn(usize) -> String| {
            let (mut best, mut at) = (0f64, "-".to_string());
            for (k, &v) in vals.iter().enumerate() {
                if v * per > best {
                    best = v * per;
                    at = name(k);
                }
            }
            terms.push(BoundTerm {
                term: term.into(),
                ns: best,
                at,
            });
        };
        let core_name = |k: usize| format!("core {}", prog.cores[k].id.0);
        let updates: Vec<f64> = prog
            .cores
            .iter()
            .map(|c| {
                let p = net.pop(prog.pieces[c.pieces[0].0 as usize].pop);
                f64::from(c.n_neurons)
                    * (ops.neuron_update.latency_ns.value
                        + f64::from(p.program.instructions())
                            * ops.neuron_instruction.latency_ns.value)
            })
            .collect();
        push_max("neuron updates", &updates, 1.0, &core_name);
        push_max(
            "synaptic operations",
            &synops,
            ops.synop.latency_ns.value,
            &core_name,
        );
        push_max(
            "synaptic-memory reads",
            &words,
            ops.synmem_word_read.latency_ns.value,
            &core_name,
        );
        push_max(
            "messages in",
            &msgs_in,
            ops.message_in.latency_ns.value,
            &core_name,
        );
        push_max(
            "messages out",
            &msgs_out,
            ops.spike_out.latency_ns.value,
            &core_name,
        );
        let link_ns: Vec<f64> = link_bits
            .iter()
            .zip(&prog.links)
            .map(|(&b, l)| {
                b / if l.chip_link {
                    chip.board.link_bits_per_ns.value
                } else {
                    chip.noc.link_bits_per_ns.value
                }
            })
            .collect();
        push_max("busiest link (bits / bandwidth)", &link_ns, 1.0, &|k| {
            let l = prog.links[k];
            format!("link ({},{})->({},{})", l.from.0, l.from.1, l.to.0, l.to.1)
        });
        push_max(
            match chip.io.inputs.value {
                loisim_arch::InputSource::Sequencer => "sequencer input messages",
                loisim_arch::InputSource::Host => "host input messages",
            },
            &[host_in],
            chip.input_cost().latency_ns.value,
            &|_| "io".into(),
        );
        push_max(
            "host output messages",
            &[host_out],
            chip.io.output_message.latency_ns.value,
            &|_| "host".into(),
        );
        let (tiles, chips) = prog.tiles_and_chips();
        let b = &chip.barrier;
        let barrier = b.base_ns.value
            + b.per_tile_ns.value * f64::from(tiles)
            + b.per_chip_ns.value * f64::from(chips - 1);
        terms.push(BoundTerm {
            term: "barrier".into(),
            ns: barrier,
            at: format!("{tiles} tiles, {chips} chip(s)"),
        });
        let lower_bound_ns = terms.iter().map(|t| t.ns).fold(0f64, f64::max);
        let cores = prog
            .cores
            .iter()
            .enumerate()
            .map(|(k, c)| {
                let piece = prog.pieces[c.pieces[0].0 as usize];
                CoreReport {
                    core: c.id.0,
                    location: [
                        c.location.chip,
                        c.location.gx,
                        c.location.gy,
                        c.location.slot,
                    ],
                    population: net.pop(piece.pop).name.clone(),
                    neurons_range: [piece.start, piece.end],
                    neurons: c.n_neurons,
                    state_bytes: c.memory.state_bytes,
                    synaptic_bytes: c.memory.synaptic_bytes,
                    synaptic_util_pct: 100.0 * c.memory.synaptic_bytes as f64
                        / chip.core.max_synaptic_bytes.value as f64,
                    memory_util_pct: 100.0 * c.memory.total() as f64
                        / chip.core.memory_bytes.value as f64,
                    synapses: c.n_synapses,
                    fan_in: c.axons.len() as u32,
                    fan_out: c.output_axons,
                    msgs_in_per_token: msgs_in[k],
                    msgs_out_per_token: msgs_out[k],
                    synops_per_token: synops[k],
                }
            })
            .collect();
        Self {
            model: prog.model_name.clone(),
            chip: chip.name.clone(),
            board: chip.board.name.clone(),
            max_neurons_per_core: prog.options.max_neurons_per_core,
            cores_used: nc as u32,
            cores_available: chip.n_cores(),
            tiles_used: tiles,
            pipeline_depth: prog.depth,
            activity: if activity.n_tokens == 0 {
                "assumed: every neuron output non-zero (an upper bound; pass --input to measure)"
                    .into()
            } else {
                format!("measured on {} tokens", activity.n_tokens)
            },
            msgs_per_token: total_msgs,
            synops_per_token: total_synops,
            hop_histogram: hops,
            busiest_link_bits_per_token: link_bits.iter().copied().fold(0f64, f64::max),
            lower_bound_terms: terms,
            lower_bound_ns,
            cores,
        }
    }

    /// The text report.
    pub fn text(&self) -> String {
        let mut o = String::new();
        let _ = writeln!(
            o,
            "loisim map: {} on {} ({})",
            self.model, self.chip, self.board
        );
        let _ = writeln!(
            o,
            "cores used       {} of {} ({} tiles), at most {} neurons of a population per core",
            self.cores_used, self.cores_available, self.tiles_used, self.max_neurons_per_core
        );
        let _ = writeln!(
            o,
            "pipeline depth   {} timesteps per token",
            self.pipeline_depth
        );
        let _ = writeln!(o, "activity         {}", self.activity);
        let _ = writeln!(
            o,
            "per token        {:.0} messages, {:.0} synaptic operations, busiest link {:.0} bits",
            self.msgs_per_token, self.synops_per_token, self.busiest_link_bits_per_token
        );
        let hist: Vec<String> = self
            .hop_histogram
            .iter()
            .enumerate()
            .map(|(h, m)| format!("{h}:{m:.0}"))
            .collect();
        let _ = writeln!(o, "hops (messages)  {}", hist.join("  "));
        let _ = writeln!(
            o,
            "\ntimestep lower bound (max-affine, pipeline steady state): {:.2} us",
            self.lower_bound_ns / 1e3
        );
        for t in &self.lower_bound_terms {
            let _ = writeln!(o, "  {:<34} {:>9.3} us  {}", t.term, t.ns / 1e3, t.at);
        }
        let _ = writeln!(o, "\ncores");
        let _ = writeln!(
            o,
            "  {:>4} {:>11} {:<10} {:>9} {:>7} {:>8} {:>9} {:>6} {:>6} {:>7} {:>6} {:>6} {:>8} {:>8}",
            "core",
            "chip,x,y,s",
            "population",
            "neurons",
            "n",
            "state B",
            "syn B",
            "syn %",
            "mem %",
            "synapses",
            "fanin",
            "fanout",
            "msg in",
            "synops"
        );
        for c in &self.cores {
            let _ = writeln!(
                o,
                "  {:>4} {:>11} {:<10} {:>9} {:>7} {:>8} {:>9} {:>6.1} {:>6.1} {:>7} {:>6} {:>6} {:>8.1} {:>8.1}",
                c.core,
                format!(
                    "{},{},{},{}",
                    c.location[0], c.location[1], c.location[2], c.location[3]
                ),
                c.population,
                format!("{}..{}", c.neurons_range[0], c.neurons_range[1]),
                c.neurons,
                c.state_bytes,
                c.synaptic_bytes,
                c.synaptic_util_pct,
                c.memory_util_pct,
                c.synapses,
                c.fan_in,
                c.fan_out,
                c.msgs_in_per_token,
                c.synops_per_token
            );
        }
        o
    }
}
