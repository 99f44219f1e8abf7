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
//! Steps 1 and 3 are independent per core and run on up to `threads` threads; sums that wrap
//! do not depend on the order of additions, so the integers do not depend on the thread count.
//! The reference interpreter (`loisim_net::interp`) defines the result; the differential tests
//! compare the two on random networks.

use loisim_compiler::net_map::NetMapping;
use loisim_net::{Events, NetError, Network, Source, Step, StepActivity, program::wrap};

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
}

/// Engine state.
#[derive(Debug)]
pub struct NetEngine<'p> {
    prog: &'p NetProgram,
    rings: Vec<Vec<i64>>,
    states: Vec<Vec<i64>>,
    t: u64,
    events: Events,
    threads: usize,
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
        // Axons and routes.
        let mut routes_of: Vec<Vec<(u32, u32)>> = vec![Vec::new(); n_sources];
        let mut by_core: Vec<Vec<Syn>> = vec![Vec::new(); cores.len()];
        for pr in &net.projections {
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
                    img.axons.push(Axon {
                        start,
                        end: img.syn.len() as u32,
                        binary,
                        dst_pop: dst as u32,
                    });
                    routes_of[(base + i) as usize].push((ci as u32, (img.axons.len() - 1) as u32));
                }
            }
        }
        let mut route_start = Vec::with_capacity(n_sources + 1);
        let mut routes = Vec::new();
        route_start.push(0);
        for r in routes_of {
            routes.extend(r);
            route_start.push(routes.len() as u32);
        }
        Ok(Self {
            net: net.clone(),
            cores,
            source_base,
            pop_source,
            route_start,
            routes,
            ring_len: net.max_delay() as usize + 2,
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

    /// Starts the network at timestep 0 with initial state, on up to `threads` threads.
    #[must_use]
    pub fn start(&self, threads: usize) -> NetEngine<'_> {
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
            threads: threads.max(1),
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
}

/// Runs `f` on every (index, item) pair, split over up to `threads` scoped threads in
/// contiguous chunks, and returns the results in order.
fn par_map<T: Send, R: Send>(
    items: &mut [T],
    threads: usize,
    f: impl Fn(usize, &mut T) -> R + Sync,
) -> Vec<R> {
    if threads <= 1 || items.len() <= 1 {
        return items.iter_mut().enumerate().map(|(i, x)| f(i, x)).collect();
    }
    let chunk = items.len().div_ceil(threads);
    let f = &f;
    std::thread::scope(|s| {
        let handles: Vec<_> = items
            .chunks_mut(chunk)
            .enumerate()
            .map(|(c, part)| {
                s.spawn(move || {
                    part.iter_mut()
                        .enumerate()
                        .map(|(i, x)| f(c * chunk + i, x))
                        .collect::<Vec<R>>()
                })
            })
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().unwrap_or_else(|e| std::panic::resume_unwind(e)))
            .collect()
    })
}

impl NetEngine<'_> {
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
        // 1. Updates, per core.
        let mut work: Vec<(&mut Vec<i64>, &mut Vec<i64>)> =
            self.rings.iter_mut().zip(self.states.iter_mut()).collect();
        let outs: Vec<CoreOut> = par_map(&mut work, self.threads, |ci, (ring, state)| {
            let img = &prog.cores[ci];
            let mut out = CoreOut::default();
            let base = slot_now * img.slots as usize;
            let mut scratch = Vec::new();
            for pc in &img.pieces {
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
        let route = |g: u32, v: i64, inbox: &mut Vec<Inbox>| {
            let (a, b) = (
                prog.route_start[g as usize],
                prog.route_start[g as usize + 1],
            );
            for &(core, axon) in &prog.routes[a as usize..b as usize] {
                inbox[core as usize].push((axon, v));
            }
        };
        for (x, vals) in inputs.iter().enumerate() {
            for (i, &v) in vals.iter().enumerate() {
                if v != 0 {
                    activity.host_messages += 1;
                    route(prog.source_base[x] + i as u32, v, &mut inbox);
                }
            }
        }
        for out in &outs {
            self.events += out.events;
            activity.dropped += out.dropped;
            for &(g, v) in &out.sent {
                route(g, v, &mut inbox);
                // Which population and channel sent it.
                let s = prog.source_base.partition_point(|&b| b <= g) - 1;
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
        let delivered: Vec<Vec<u64>> = par_map(&mut deliver, self.threads, |ci, (ring, inbox)| {
            let img = &prog.cores[ci];
            let mut synops = vec![0u64; n_pops];
            for &(axon, v) in inbox.iter() {
                let a = img.axons[axon as usize];
                let payload = if a.binary { 1 } else { v };
                for s in &img.syn[a.start as usize..a.end as usize] {
                    let slot = ((t + 1 + u64::from(s.delay)) % ring_len) as usize
                        * img.slots as usize
                        + s.slot as usize;
                    ring[slot] = ring[slot].wrapping_add(i64::from(s.weight).wrapping_mul(payload));
                }
                synops[a.dst_pop as usize] += u64::from(a.end - a.start);
            }
            synops
        });
        for synops in delivered {
            for (a, b) in activity.synops.iter_mut().zip(synops) {
                *a += b;
            }
        }
        let outputs = net.outputs_from(&pop_sent);
        self.t += 1;
        Ok(Step { outputs, activity })
    }
}
