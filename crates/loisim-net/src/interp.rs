//! The reference interpreter: the definition of what an IR network computes.
//!
//! Deliberately simple: every timestep, every population runs its program on every neuron
//! (reading the port sums due this timestep), then every message of the timestep (the
//! populations' sends and the host's input) is delivered over every synapse into the target
//! port's slot for timestep `t + 1 + delay`. A port's sum is read wrapped to the port's width
//! (and counted when it did not fit); sums modulo 2^64 do not depend on the order of
//! additions, so neither does the result. The engine must produce the same integers.

use crate::network::{NetError, Network, PopId, Source};
use crate::program::{Events, wrap};

/// Counts of what one timestep did (the activity a cost model prices).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct StepActivity {
    /// Neuron updates, per population.
    pub updates: Vec<u64>,
    /// Messages sent, per population (over all channels).
    pub messages: Vec<u64>,
    /// Synaptic operations (one per synapse a message crosses), per target population.
    pub synops: Vec<u64>,
    /// Messages the host injected.
    pub host_messages: u64,
    /// Port sums due in this timestep at populations that did not update (discarded).
    pub dropped: u64,
}

/// What one timestep produced.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Step {
    /// Per network output, per neuron: the value sent this timestep (0: nothing; binary
    /// channels send 1).
    pub outputs: Vec<Vec<i64>>,
    /// The timestep's activity.
    pub activity: StepActivity,
}

/// A network's state under the reference interpreter.
#[derive(Debug)]
pub struct Reference<'n> {
    net: &'n Network,
    /// Per population: `state[neuron * n_states + var]`.
    state: Vec<Vec<i64>>,
    /// Per population: ring of `slots` x ports x neurons port sums.
    ring: Vec<Vec<i64>>,
    slots: usize,
    t: u64,
    events: Events,
}

impl<'n> Reference<'n> {
    /// The network at timestep 0, every state at its initial value and every port empty.
    ///
    /// # Errors
    /// The network is invalid (checked with its own longest delay as the limit).
    pub fn new(net: &'n Network) -> Result<Self, NetError> {
        net.validate(net.max_delay())?;
        let slots = net.max_delay() as usize + 2;
        let mut state = Vec::with_capacity(net.populations.len());
        let mut ring = Vec::with_capacity(net.populations.len());
        for p in &net.populations {
            let prog = &net.programs[p.program.index()];
            let (n, k) = (p.size as usize, prog.states.len());
            let mut s = vec![0i64; n * k];
            for (var, init) in p.init.iter().enumerate() {
                for (i, &v) in init.iter().enumerate() {
                    s[i * k + var] = wrap(v, prog.states[var].bits);
                }
            }
            state.push(s);
            ring.push(vec![0i64; slots * prog.ports.len() * n]);
        }
        Ok(Self {
            net,
            state,
            ring,
            slots,
            t: 0,
            events: Events::default(),
        })
    }

    /// The next timestep's number.
    #[must_use]
    pub fn timestep(&self) -> u64 {
        self.t
    }

    /// Values changed by a width so far.
    #[must_use]
    pub fn events(&self) -> Events {
        self.events
    }

    /// A population's state variables, `[neuron * n_states + var]`.
    #[must_use]
    pub fn state(&self, pop: PopId) -> &[i64] {
        &self.state[pop.index()]
    }

    /// Runs one timestep with `inputs` (per network input, one value per element; zero sends
    /// nothing).
    ///
    /// # Errors
    /// Wrong input count or length, or a graded value that does not fit its input's width.
    pub fn step(&mut self, inputs: &[Vec<i64>]) -> Result<Step, NetError> {
        let net = self.net;
        check_inputs(net, inputs)?;
        let n_pops = net.populations.len();
        let mut activity = StepActivity {
            updates: vec![0; n_pops],
            messages: vec![0; n_pops],
            synops: vec![0; n_pops],
            host_messages: 0,
            dropped: 0,
        };
        let slot = (self.t % self.slots as u64) as usize;
        // 1. Every neuron updates on the port sums due now; the slot is then emptied.
        let mut sent: Vec<Vec<i64>> = Vec::with_capacity(n_pops);
        let mut scratch = Vec::new();
        for (pi, p) in net.populations.iter().enumerate() {
            let prog = &net.programs[p.program.index()];
            let (n, n_ports, n_states, n_ch) = (
                p.size as usize,
                prog.ports.len(),
                prog.states.len(),
                prog.channels.len(),
            );
            let base = slot * n_ports * n;
            if !p.schedule.runs_at(self.t) {
                let due = &mut self.ring[pi][base..base + n_ports * n];
                activity.dropped += due.iter().filter(|&&v| v != 0).count() as u64;
                due.fill(0);
                if p.reset.is_some_and(|r| r.runs_at(self.t)) {
                    self.state[pi].fill(0);
                }
                sent.push(vec![0; n * n_ch]);
                continue;
            }
            let mut ports = vec![0i64; n_ports];
            let mut params = vec![0i64; prog.params.len()];
            let mut out = vec![0i64; n * n_ch];
            for i in 0..n {
                for (k, v) in ports.iter_mut().enumerate() {
                    let sum = self.ring[pi][base + k * n + i];
                    *v = wrap(sum, prog.ports[k].bits);
                    self.events.port_wraps += u64::from(*v != sum);
                }
                for (k, v) in params.iter_mut().enumerate() {
                    *v = p.params[k][i];
                }
                prog.step(
                    &ports,
                    &mut self.state[pi][i * n_states..(i + 1) * n_states],
                    &params,
                    &mut scratch,
                    &mut out[i * n_ch..(i + 1) * n_ch],
                    &mut self.events,
                );
            }
            self.ring[pi][base..base + n_ports * n].fill(0);
            if p.reset.is_some_and(|r| r.runs_at(self.t)) {
                self.state[pi].fill(0);
            }
            activity.updates[pi] = n as u64;
            activity.messages[pi] = out.iter().filter(|&&v| v != 0).count() as u64;
            sent.push(out);
        }
        activity.host_messages = inputs
            .iter()
            .map(|x| x.iter().filter(|&&v| v != 0).count() as u64)
            .sum();
        // 2. Every message crosses every synapse of every projection from its source.
        for pr in &net.projections {
            let dst = pr.dst.pop.index();
            let dprog = net.program_of(pr.dst.pop);
            let n_dst = net.populations[dst].size as usize;
            let port = usize::from(pr.dst.port);
            let n_ports = dprog.ports.len();
            let binary = net.source_bits(pr.src) == 0;
            let n_src = net.source_size(pr.src);
            for i in 0..n_src {
                let payload = match pr.src {
                    Source::Input(x) => inputs[x.index()][i as usize],
                    Source::Population { pop, channel } => {
                        let n_ch = net.program_of(pop).channels.len();
                        sent[pop.index()][i as usize * n_ch + usize::from(channel)]
                    }
                };
                if payload == 0 {
                    continue;
                }
                let payload = if binary { 1 } else { payload };
                let ring = &mut self.ring[dst];
                let t = self.t;
                let slots = self.slots as u64;
                let synops = &mut activity.synops[dst];
                net.fan_out(pr, i, |j, w, d| {
                    let s = ((t + 1 + u64::from(d)) % slots) as usize;
                    let at = (s * n_ports + port) * n_dst + j as usize;
                    ring[at] = ring[at].wrapping_add(w.wrapping_mul(payload));
                    *synops += 1;
                });
            }
        }
        // 3. The outputs are what their channels sent.
        let outputs = net.outputs_from(&sent);
        self.t += 1;
        Ok(Step { outputs, activity })
    }
}

/// Checks one timestep's inputs against the network: one vector per input, of its size, graded
/// values within its width.
///
/// # Errors
/// The first mismatch.
pub fn check_inputs(net: &Network, inputs: &[Vec<i64>]) -> Result<(), NetError> {
    if inputs.len() != net.inputs.len() {
        return Err(NetError::Invalid {
            what: "input".into(),
            message: format!(
                "{} input vectors given, the network has {} inputs",
                inputs.len(),
                net.inputs.len()
            ),
        });
    }
    for (x, decl) in inputs.iter().zip(&net.inputs) {
        if x.len() != decl.size as usize {
            return Err(NetError::Invalid {
                what: format!("input `{}`", decl.name),
                message: format!("{} values given, it takes {}", x.len(), decl.size),
            });
        }
        if decl.bits > 0
            && let Some(v) = x.iter().find(|&&v| wrap(v, decl.bits) != v)
        {
            return Err(NetError::Invalid {
                what: format!("input `{}`", decl.name),
                message: format!("value {v} does not fit {} bits", decl.bits),
            });
        }
    }
    Ok(())
}

/// Runs `net` for one timestep per entry of `inputs` (each: per network input, its values).
///
/// # Errors
/// See [`Reference::new`] and [`Reference::step`].
pub fn run(net: &Network, inputs: &[Vec<Vec<i64>>]) -> Result<Vec<Step>, NetError> {
    let mut r = Reference::new(net)?;
    inputs.iter().map(|x| r.step(x)).collect()
}
