//! The network IR: network inputs, populations of neurons running neuron programs, projections
//! of synapses between them (with delays), and network outputs.
//!
//! Timing: a message sent in timestep `t` over a projection of delay `d` is accumulated on the
//! target port and consumed in timestep `t + 1 + d` (delay 0: the next timestep, as in Lava).
//! Every projection therefore takes at least one timestep, so recurrent edges and cycles of any
//! delay are well defined and need no check.
//!
//! Neuron numbering: a shaped population or input has shape `(X, Y, C)`, two spatial axes `x`
//! and `y` and then the channels (Lava's own shape and order). Its neuron `(x, y, c)` is
//! `(x Y + y) C + c`, numpy's C order of Lava's `(X, Y, C)` arrays: channel-last, so a
//! contiguous range of neurons is a strip of whole positions with every channel, which is how
//! a conv layer is tiled onto cores. Neuron `i` is at `x = i / (Y C)`, `y = (i / C) % Y`,
//! `c = i % C`. An unshaped population or input of `n` neurons is `(1, 1, n)`: one position
//! with `n` channels. Conv kernels, strides, paddings and dilations are given along `(x, y)`,
//! the order of the shape's spatial axes.

use crate::program::{MAX_PAYLOAD_BITS, NeuronProgram, ProgramError};
use serde::{Deserialize, Serialize};
use std::collections::BTreeSet;
use thiserror::Error;

macro_rules! id {
    ($(#[$m:meta])* $name:ident) => {
        $(#[$m])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
        pub struct $name(pub u32);
        impl $name {
            /// The index as `usize`.
            #[must_use]
            pub fn index(self) -> usize {
                self.0 as usize
            }
        }
    };
}

id!(
    /// Index of a network input.
    InputId
);
id!(
    /// Index of a population.
    PopId
);
id!(
    /// Index of a neuron program of a network.
    ProgramId
);
id!(
    /// Index of a projection.
    ProjId
);

/// Largest population (neurons).
pub const MAX_POPULATION: u32 = 1 << 24;
/// Most synapses one network may store (explicitly or as shared conv weights).
pub const MAX_SYNAPSES: u64 = 1 << 32;
/// Longest delay the IR can express, in extra timesteps (a chip allows at most its
/// `max_delay`, which [`Network::validate`] takes).
pub const MAX_DELAY: u32 = 1024;

/// A network input: values injected by the host every timestep.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Input {
    /// Name (unique among inputs).
    pub name: String,
    /// Number of values per timestep.
    pub size: u32,
    /// Payload width: 0 for binary spikes (any non-zero value is a spike), 1..=32 for graded
    /// values, which must fit the width.
    pub bits: u8,
    /// Shape `(X, Y, C)` (spatial `x`, spatial `y`, channels; see the module's numbering) when
    /// a conv projection reads it; `None` is `(1, 1, size)`.
    #[serde(default)]
    pub shape: Option<[u32; 3]>,
}

impl Input {
    /// The shape `(X, Y, C)`: value `(x, y, c)` is `(x Y + y) C + c`; unshaped, `(1, 1, size)`.
    #[must_use]
    pub fn shape(&self) -> [u32; 3] {
        self.shape.unwrap_or([1, 1, self.size])
    }
}

/// The timesteps in which a population's neurons update: `first`, `first + every`, ...
///
/// Loihi updates every neuron every timestep ([`Schedule::ALWAYS`]). A later first update or a
/// period above 1 expresses a network whose populations wait for their data, as the S5
/// lowering's stages do (a population at stage `s` handles token `k` in timestep
/// `k * period + s`). In a timestep without an update, a population sends nothing, keeps its
/// state, and the input due in that timestep is discarded (counted as dropped).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Schedule {
    /// First timestep with an update.
    pub first: u64,
    /// Timesteps between updates (at least 1).
    pub every: u32,
}

impl Schedule {
    /// Every timestep.
    pub const ALWAYS: Self = Self { first: 0, every: 1 };

    /// Whether the population updates in timestep `t`.
    #[must_use]
    pub fn runs_at(&self, t: u64) -> bool {
        t >= self.first && (t - self.first).is_multiple_of(u64::from(self.every.max(1)))
    }
}

impl Default for Schedule {
    fn default() -> Self {
        Self::ALWAYS
    }
}

/// A population of neurons running one program.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Population {
    /// Name (unique among populations).
    pub name: String,
    /// Number of neurons.
    pub size: u32,
    /// Shape `(X, Y, C)` (spatial `x`, spatial `y`, channels; see the module's numbering) when
    /// a conv projection reads or writes it; `None` is `(1, 1, size)`.
    pub shape: Option<[u32; 3]>,
    /// The program every neuron runs.
    pub program: ProgramId,
    /// Per program parameter, one value per neuron.
    pub params: Vec<Vec<i64>>,
    /// Initial values: empty (all zero) or, per state variable, one value per neuron.
    pub init: Vec<Vec<i64>>,
    /// When the neurons update.
    #[serde(default)]
    pub schedule: Schedule,
    /// When every state variable is set back to 0, at the end of the timestep (after the
    /// update): Lava's `io.reset.Reset(interval, offset)` connected to the neuron's variables
    /// is `Schedule { first: offset, every: interval }`.
    #[serde(default)]
    pub reset: Option<Schedule>,
}

impl Population {
    /// The shape `(X, Y, C)`: neuron `(x, y, c)` is `(x Y + y) C + c`; unshaped,
    /// `(1, 1, size)`.
    #[must_use]
    pub fn shape(&self) -> [u32; 3] {
        self.shape.unwrap_or([1, 1, self.size])
    }
}

/// Where a projection's messages come from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Source {
    /// A network input.
    Input(InputId),
    /// An output channel of a population.
    Population {
        /// The population.
        pop: PopId,
        /// Its program's channel.
        channel: u8,
    },
}

/// Where a projection's synapses accumulate.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Target {
    /// The population.
    pub pop: PopId,
    /// Its program's input port.
    pub port: u8,
}

/// A 2-D convolution (a correlation, as in PyTorch) with weights shared across positions.
/// Source and target are read as `(X, Y, C)` (see the module's numbering); every pair below is
/// `(x, y)`, along the shape's first and second axis. Output `(xo, yo, co)` sums, over the
/// input channels `ci` of its group and the kernel offsets `(kx, ky)`, the weight times input
/// `(xo sx - px + kx dx, yo sy - py + ky dy, ci)` (zero outside the input).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Conv {
    /// Kernel extent `(x, y)`.
    pub kernel: [u32; 2],
    /// Stride `(x, y)`.
    pub stride: [u32; 2],
    /// Zero padding `(x, y)`, on both sides.
    pub padding: [u32; 2],
    /// Dilation `(x, y)`.
    pub dilation: [u32; 2],
    /// Groups: input and output channels are split into this many independent groups.
    pub groups: u32,
    /// Weights, `[out_c][in_c / groups][kx][ky]` (C order).
    pub weights: Vec<i32>,
}

/// The synapses of a projection. A synapse adds `weight x payload` (graded) or `weight`
/// (binary) to its target neuron's port.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Synapses {
    /// Every source to every target: `weights[target * n_source + source]`.
    Dense {
        /// The weights.
        weights: Vec<i32>,
    },
    /// Stored synapses by source (compressed rows): source `i`'s synapses are
    /// `start[i]..start[i + 1]` of `target` and `weights`.
    Sparse {
        /// Row starts, `n_source + 1` entries, non-decreasing, from 0 to the synapse count.
        start: Vec<u32>,
        /// Target neuron of each synapse.
        target: Vec<u32>,
        /// Weight of each synapse.
        weights: Vec<i32>,
    },
    /// A convolution (weights shared).
    Conv(Conv),
    /// Source `i` to target `i`, with its own weight.
    OneToOne {
        /// The weights.
        weights: Vec<i32>,
    },
    /// Source `i` to target `i`, every weight the same.
    Identity {
        /// The weight.
        weight: i32,
    },
}

/// A projection's delay, in extra timesteps.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Delay {
    /// The same for every synapse (an axonal delay, or a uniform synaptic one).
    Uniform(u32),
    /// One per synapse, in the order of the weights (dense, sparse, one-to-one and identity
    /// projections; Loihi keeps a delay per synapse).
    PerSynapse(Vec<u32>),
}

/// Synapses from one source to one target port.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Projection {
    /// Name (unique among projections).
    pub name: String,
    /// The source.
    pub src: Source,
    /// The target.
    pub dst: Target,
    /// The synapses.
    pub synapses: Synapses,
    /// The delay.
    pub delay: Delay,
}

/// A network output: what a population's channel sends, every timestep.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Output {
    /// Name (unique among outputs).
    pub name: String,
    /// The population.
    pub pop: PopId,
    /// Its program's channel.
    pub channel: u8,
}

/// A network.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Network {
    /// Name, for messages and reports.
    pub name: String,
    /// Neuron programs, shared by populations.
    pub programs: Vec<NeuronProgram>,
    /// Inputs.
    pub inputs: Vec<Input>,
    /// Populations.
    pub populations: Vec<Population>,
    /// Projections.
    pub projections: Vec<Projection>,
    /// Outputs.
    pub outputs: Vec<Output>,
}

/// A network that breaks a rule of the IR.
#[derive(Clone, Debug, PartialEq, Eq, Error)]
pub enum NetError {
    /// A malformed program.
    #[error(transparent)]
    Program(#[from] ProgramError),
    /// Anything else, with where it is.
    #[error("{what}: {message}")]
    Invalid {
        /// The element at fault (`population `enc``, `projection `enc->ssm``, ...).
        what: String,
        /// What is wrong and what would be right.
        message: String,
    },
}

/// What the conv output shape `(X, Y, C)` must be for an input shape `(X, Y, C)`.
fn conv_out(c: &Conv, [x, y, _]: [u32; 3], out_c: u32) -> Option<[u32; 3]> {
    let dim = |n: u32, k: u32, s: u32, p: u32, d: u32| -> Option<u32> {
        let span = u64::from(d) * u64::from(k.checked_sub(1)?) + 1;
        let padded = u64::from(n) + 2 * u64::from(p);
        let out = padded.checked_sub(span)? / u64::from(s) + 1;
        u32::try_from(out).ok()
    };
    Some([
        dim(x, c.kernel[0], c.stride[0], c.padding[0], c.dilation[0])?,
        dim(y, c.kernel[1], c.stride[1], c.padding[1], c.dilation[1])?,
        out_c,
    ])
}

impl Projection {
    /// Number of synapses the projection stores (a conv's shared kernel counts once).
    #[must_use]
    pub fn stored_synapses(&self) -> u64 {
        match &self.synapses {
            Synapses::Dense { weights }
            | Synapses::Sparse { weights, .. }
            | Synapses::OneToOne { weights } => weights.len() as u64,
            Synapses::Conv(c) => c.weights.len() as u64,
            Synapses::Identity { .. } => 0,
        }
    }

    /// The largest delay of any synapse.
    #[must_use]
    pub fn max_delay(&self) -> u32 {
        match &self.delay {
            Delay::Uniform(d) => *d,
            Delay::PerSynapse(d) => d.iter().copied().max().unwrap_or(0),
        }
    }
}

impl Network {
    /// The program of a population.
    #[must_use]
    pub fn program_of(&self, pop: PopId) -> &NeuronProgram {
        &self.programs[self.populations[pop.index()].program.index()]
    }

    /// Number of values a source sends per timestep.
    #[must_use]
    pub fn source_size(&self, s: Source) -> u32 {
        match s {
            Source::Input(i) => self.inputs[i.index()].size,
            Source::Population { pop, .. } => self.populations[pop.index()].size,
        }
    }

    /// The source's payload width (0: binary).
    #[must_use]
    pub fn source_bits(&self, s: Source) -> u8 {
        match s {
            Source::Input(i) => self.inputs[i.index()].bits,
            Source::Population { pop, channel } => {
                self.program_of(pop).channels[usize::from(channel)].bits
            }
        }
    }

    /// The network outputs of one timestep from what every population sent (per population,
    /// `[neuron * channels + channel]`, 0 where nothing was sent).
    #[must_use]
    pub fn outputs_from(&self, sent: &[Vec<i64>]) -> Vec<Vec<i64>> {
        self.outputs
            .iter()
            .map(|o| {
                let n_ch = self.program_of(o.pop).channels.len();
                sent[o.pop.index()]
                    .iter()
                    .skip(usize::from(o.channel))
                    .step_by(n_ch)
                    .copied()
                    .collect()
            })
            .collect()
    }

    /// The longest delay of any projection.
    #[must_use]
    pub fn max_delay(&self) -> u32 {
        self.projections
            .iter()
            .map(Projection::max_delay)
            .max()
            .unwrap_or(0)
    }

    /// Checks every rule of the IR: references in range, shapes and sizes consistent, widths
    /// allowed, delays at most `max_delay` (the target chip's; at most [`MAX_DELAY`]).
    ///
    /// # Errors
    /// The first problem found, naming the element.
    pub fn validate(&self, max_delay: u32) -> Result<(), NetError> {
        let bad = |what: String, message: String| NetError::Invalid { what, message };
        for p in &self.programs {
            p.validate()?;
        }
        let unique = |kind: &str, names: Vec<&String>| -> Result<(), NetError> {
            let mut seen = BTreeSet::new();
            for n in names {
                if !seen.insert(n) {
                    return Err(bad(
                        format!("{kind} `{n}`"),
                        "the name is used twice".into(),
                    ));
                }
            }
            Ok(())
        };
        unique("input", self.inputs.iter().map(|x| &x.name).collect())?;
        unique(
            "population",
            self.populations.iter().map(|x| &x.name).collect(),
        )?;
        unique(
            "projection",
            self.projections.iter().map(|x| &x.name).collect(),
        )?;
        unique("output", self.outputs.iter().map(|x| &x.name).collect())?;
        for i in &self.inputs {
            let what = format!("input `{}`", i.name);
            if i.size == 0 || i.size > MAX_POPULATION {
                return Err(bad(
                    what,
                    format!("has {} values; inputs have 1 to {MAX_POPULATION}", i.size),
                ));
            }
            if let Some(sh) = i.shape {
                let n = sh
                    .iter()
                    .try_fold(1u64, |a, &d| a.checked_mul(u64::from(d)));
                if n != Some(u64::from(i.size)) {
                    return Err(bad(
                        what.clone(),
                        format!("shape {sh:?} does not hold its {} values", i.size),
                    ));
                }
            }
            if i.bits > MAX_PAYLOAD_BITS {
                return Err(bad(
                    what,
                    format!(
                        "carries {} bits; payloads are 0 (binary) to {MAX_PAYLOAD_BITS} bits",
                        i.bits
                    ),
                ));
            }
        }
        for p in &self.populations {
            let what = || format!("population `{}`", p.name);
            if p.size == 0 || p.size > MAX_POPULATION {
                return Err(bad(
                    what(),
                    format!(
                        "has {} neurons; populations have 1 to {MAX_POPULATION}",
                        p.size
                    ),
                ));
            }
            if let Some(s) = p.shape {
                let n = s.iter().try_fold(1u64, |a, &d| a.checked_mul(u64::from(d)));
                if n != Some(u64::from(p.size)) {
                    return Err(bad(
                        what(),
                        format!("shape {s:?} does not hold its {} neurons", p.size),
                    ));
                }
            }
            if p.schedule.every == 0 || p.reset.is_some_and(|r| r.every == 0) {
                return Err(bad(
                    what(),
                    "updates or resets every 0 timesteps; a period is at least 1".into(),
                ));
            }
            let Some(prog) = self.programs.get(p.program.index()) else {
                return Err(bad(
                    what(),
                    format!("runs program {}, which does not exist", p.program.0),
                ));
            };
            if p.params.len() != prog.params.len()
                || p.params.iter().any(|v| v.len() != p.size as usize)
            {
                return Err(bad(
                    what(),
                    format!(
                        "program `{}` takes {} parameters; give each one value per neuron ({})",
                        prog.name,
                        prog.params.len(),
                        p.size
                    ),
                ));
            }
            if !p.init.is_empty()
                && (p.init.len() != prog.states.len()
                    || p.init.iter().any(|v| v.len() != p.size as usize))
            {
                return Err(bad(
                    what(),
                    format!(
                        "initial values: program `{}` keeps {} state variables; give none or \
                         one value per neuron for each",
                        prog.name,
                        prog.states.len()
                    ),
                ));
            }
        }
        let max_delay = max_delay.min(MAX_DELAY);
        let mut synapses = 0u64;
        for pr in &self.projections {
            let what = || format!("projection `{}`", pr.name);
            let n_src = match pr.src {
                Source::Input(i) => {
                    let Some(inp) = self.inputs.get(i.index()) else {
                        return Err(bad(
                            what(),
                            format!("reads input {}, which does not exist", i.0),
                        ));
                    };
                    inp.size
                }
                Source::Population { pop, channel } => {
                    let Some(p) = self.populations.get(pop.index()) else {
                        return Err(bad(
                            what(),
                            format!("reads population {}, which does not exist", pop.0),
                        ));
                    };
                    if usize::from(channel) >= self.programs[p.program.index()].channels.len() {
                        return Err(bad(
                            what(),
                            format!(
                                "reads channel {channel} of `{}`, which has no such channel",
                                p.name
                            ),
                        ));
                    }
                    p.size
                }
            };
            let Some(dst) = self.populations.get(pr.dst.pop.index()) else {
                return Err(bad(
                    what(),
                    format!("targets population {}, which does not exist", pr.dst.pop.0),
                ));
            };
            if usize::from(pr.dst.port) >= self.programs[dst.program.index()].ports.len() {
                return Err(bad(
                    what(),
                    format!(
                        "targets port {} of `{}`, which has no such port",
                        pr.dst.port, dst.name
                    ),
                ));
            }
            let n_dst = dst.size;
            let expect = |n: u64, have: usize, of: &str| -> Result<(), NetError> {
                if have as u64 == n {
                    Ok(())
                } else {
                    Err(bad(what(), format!("has {have} {of}, expected {n}")))
                }
            };
            let n_synapses: u64 = match &pr.synapses {
                Synapses::Dense { weights } => {
                    let n = u64::from(n_src) * u64::from(n_dst);
                    expect(n, weights.len(), "dense weights (targets x sources)")?;
                    n
                }
                Synapses::Sparse {
                    start,
                    target,
                    weights,
                } => {
                    expect(u64::from(n_src) + 1, start.len(), "row starts")?;
                    expect(target.len() as u64, weights.len(), "weights")?;
                    if start.first() != Some(&0)
                        || start.windows(2).any(|w| w[0] > w[1])
                        || start.last().map(|&l| l as usize) != Some(target.len())
                    {
                        return Err(bad(
                            what(),
                            "row starts must rise from 0 to the synapse count".into(),
                        ));
                    }
                    if let Some(t) = target.iter().find(|&&t| t >= n_dst) {
                        return Err(bad(
                            what(),
                            format!("a synapse targets neuron {t} of a population of {n_dst}"),
                        ));
                    }
                    target.len() as u64
                }
                Synapses::OneToOne { weights } => {
                    if n_src != n_dst {
                        return Err(bad(
                            what(),
                            format!("one-to-one from {n_src} to {n_dst} neurons"),
                        ));
                    }
                    expect(u64::from(n_src), weights.len(), "weights")?;
                    u64::from(n_src)
                }
                Synapses::Identity { .. } => {
                    if n_src != n_dst {
                        return Err(bad(
                            what(),
                            format!("identity from {n_src} to {n_dst} neurons"),
                        ));
                    }
                    u64::from(n_src)
                }
                Synapses::Conv(c) => {
                    let src_shape = match pr.src {
                        Source::Population { pop, .. } => self.populations[pop.index()].shape(),
                        Source::Input(i) => self.inputs[i.index()].shape(),
                    };
                    let dst_shape = dst.shape();
                    if c.groups == 0
                        || src_shape[2] % c.groups != 0
                        || dst_shape[2] % c.groups != 0
                        || c.stride.contains(&0)
                        || c.dilation.contains(&0)
                        || c.kernel.contains(&0)
                    {
                        return Err(bad(
                            what(),
                            format!(
                                "conv needs non-zero kernel, stride, dilation and groups, and \
                                 channels ({} in, {} out) divisible by the {} groups",
                                src_shape[2], dst_shape[2], c.groups
                            ),
                        ));
                    }
                    match conv_out(c, src_shape, dst_shape[2]) {
                        Some(s) if s == dst_shape => {}
                        s => {
                            let s = s.map_or_else(|| "nothing".into(), |s| format!("{s:?}"));
                            return Err(bad(
                                what(),
                                format!(
                                    "conv of (X, Y, C) {src_shape:?} with kernel (x, y) {:?}, \
                                     stride {:?}, padding {:?} and dilation {:?} gives {s}, but \
                                     the target is shaped (X, Y, C) {dst_shape:?}",
                                    c.kernel, c.stride, c.padding, c.dilation
                                ),
                            ));
                        }
                    }
                    let k = [
                        dst_shape[2],
                        src_shape[2] / c.groups,
                        c.kernel[0],
                        c.kernel[1],
                    ]
                    .iter()
                    .try_fold(1u64, |a, &d| a.checked_mul(u64::from(d)))
                    .unwrap_or(u64::MAX);
                    expect(
                        k,
                        c.weights.len(),
                        "conv weights (out_c x in_c/groups x kx x ky)",
                    )?;
                    if !matches!(pr.delay, Delay::Uniform(_)) {
                        return Err(bad(
                            what(),
                            "a conv's weights are shared, so its delay must be uniform".into(),
                        ));
                    }
                    k
                }
            };
            if let Delay::PerSynapse(d) = &pr.delay {
                let n = match &pr.synapses {
                    Synapses::Identity { .. } => u64::from(n_src),
                    _ => pr.stored_synapses(),
                };
                expect(n, d.len(), "per-synapse delays")?;
            }
            if pr.max_delay() > max_delay {
                return Err(bad(
                    what(),
                    format!(
                        "has a delay of {} timesteps; at most {max_delay} are allowed",
                        pr.max_delay()
                    ),
                ));
            }
            synapses = synapses.saturating_add(n_synapses);
            if synapses > MAX_SYNAPSES {
                return Err(bad(
                    what(),
                    format!("the network stores more than {MAX_SYNAPSES} synapses"),
                ));
            }
        }
        for o in &self.outputs {
            let what = format!("output `{}`", o.name);
            let Some(p) = self.populations.get(o.pop.index()) else {
                return Err(bad(
                    what,
                    format!("reads population {}, which does not exist", o.pop.0),
                ));
            };
            if usize::from(o.channel) >= self.programs[p.program.index()].channels.len() {
                return Err(bad(
                    what,
                    format!(
                        "reads channel {} of `{}`, which has no such channel",
                        o.channel, p.name
                    ),
                ));
            }
        }
        Ok(())
    }

    /// Calls `f(target, weight, delay)` for every synapse of projection `pr` leaving source
    /// neuron `i` (the network must be valid).
    pub fn fan_out(&self, pr: &Projection, i: u32, mut f: impl FnMut(u32, i64, u32)) {
        let delay = |k: usize| match &pr.delay {
            Delay::Uniform(d) => *d,
            Delay::PerSynapse(d) => d[k],
        };
        match &pr.synapses {
            Synapses::Dense { weights } => {
                let n_src = self.source_size(pr.src) as usize;
                let n_dst = self.populations[pr.dst.pop.index()].size;
                for j in 0..n_dst {
                    let k = j as usize * n_src + i as usize;
                    f(j, i64::from(weights[k]), delay(k));
                }
            }
            Synapses::Sparse {
                start,
                target,
                weights,
            } => {
                for k in start[i as usize] as usize..start[i as usize + 1] as usize {
                    f(target[k], i64::from(weights[k]), delay(k));
                }
            }
            Synapses::OneToOne { weights } => {
                f(i, i64::from(weights[i as usize]), delay(i as usize))
            }
            Synapses::Identity { weight } => f(i, i64::from(*weight), delay(i as usize)),
            Synapses::Conv(c) => {
                let src = match pr.src {
                    Source::Population { pop, .. } => self.populations[pop.index()].shape(),
                    Source::Input(i) => self.inputs[i.index()].shape(),
                };
                let dst = self.populations[pr.dst.pop.index()].shape();
                let d = delay(0);
                // Source neuron `(xi, yi, ci)` (channel-last, see the module's numbering).
                let (xi, yi, ci) = (i / (src[1] * src[2]), (i / src[2]) % src[1], i % src[2]);
                let in_per_group = src[2] / c.groups;
                let out_per_group = dst[2] / c.groups;
                let g = ci / in_per_group;
                let cig = ci % in_per_group;
                // The output positions along one axis that read input position `p` at kernel
                // offset `k`: `p + pad = o * stride + k * dilation`.
                let out_pos = |p: u32, k: u32, axis: usize, n_out: u32| -> Option<u32> {
                    let num = i64::from(p) + i64::from(c.padding[axis])
                        - i64::from(k) * i64::from(c.dilation[axis]);
                    let s = i64::from(c.stride[axis]);
                    (num >= 0 && num % s == 0 && num / s < i64::from(n_out))
                        .then(|| (num / s) as u32)
                };
                for kx in 0..c.kernel[0] {
                    let Some(xo) = out_pos(xi, kx, 0, dst[0]) else {
                        continue;
                    };
                    for ky in 0..c.kernel[1] {
                        let Some(yo) = out_pos(yi, ky, 1, dst[1]) else {
                            continue;
                        };
                        let first = (xo * dst[1] + yo) * dst[2];
                        for co in g * out_per_group..(g + 1) * out_per_group {
                            let w = c.weights[(((co * in_per_group + cig) * c.kernel[0] + kx)
                                * c.kernel[1]
                                + ky) as usize];
                            f(first + co, i64::from(w), d);
                        }
                    }
                }
            }
        }
    }
}
