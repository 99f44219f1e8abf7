//! Random valid networks, for differential tests (engine against interpreter) and properties of
//! the interpreter: random sizes and programs, dense, sparse, one-to-one, identity and conv
//! projections, uniform and per-synapse delays, recurrent edges, binary and graded spikes.
//! Deterministic in the seed (no dependency on a random-number crate).

use crate::network::{
    Conv, Delay, Input, InputId, Network, Output, PopId, Population, ProgramId, Projection,
    Schedule, Source, Synapses, Target,
};
use crate::program::{NeuronProgram, Op, ProgramBuilder, Val};

/// SplitMix64: small, fast, and good enough to draw test networks.
#[derive(Clone, Debug)]
pub struct Rng(u64);

impl Rng {
    /// A generator for `seed`.
    #[must_use]
    pub fn new(seed: u64) -> Self {
        Self(seed)
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// Uniform in `lo..=hi`.
    pub fn range(&mut self, lo: i64, hi: i64) -> i64 {
        let span = (hi - lo) as u64 + 1;
        lo + (self.next_u64() % span) as i64
    }

    /// Uniform in `0..n` (`n > 0`).
    pub fn below(&mut self, n: usize) -> usize {
        (self.next_u64() % n as u64) as usize
    }

    /// True with probability `p`.
    pub fn chance(&mut self, p: f64) -> bool {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64 > 1.0 - p
    }
}

/// Bounds of a random network.
#[derive(Clone, Debug)]
pub struct Shape {
    /// Most populations.
    pub max_populations: usize,
    /// Most neurons per population.
    pub max_neurons: u32,
    /// Most projections besides the ones that connect every population.
    pub extra_projections: usize,
    /// Longest delay.
    pub max_delay: u32,
    /// Most operations of a program (besides loads).
    pub max_ops: usize,
}

impl Default for Shape {
    fn default() -> Self {
        Self {
            max_populations: 5,
            max_neurons: 12,
            extra_projections: 4,
            max_delay: 6,
            max_ops: 12,
        }
    }
}

/// A random program with `n_ports` ports, graded or binary channels, and 0 to 2 state
/// variables.
#[must_use]
pub fn program(rng: &mut Rng, name: &str, n_ports: usize, max_ops: usize) -> NeuronProgram {
    let mut b = ProgramBuilder::new(name);
    let mut vals: Vec<Val> = Vec::new();
    for k in 0..n_ports {
        let bits = [8u8, 16, 24, 32, 64][rng.below(5)];
        vals.push(b.port(&format!("p{k}"), bits));
    }
    let n_states = rng.below(3);
    let mut states = Vec::new();
    for k in 0..n_states {
        let bits = [8u8, 16, 24, 32][rng.below(4)];
        let (i, v) = b.state(&format!("s{k}"), bits);
        states.push(i);
        vals.push(v);
    }
    if rng.chance(0.5) {
        vals.push(b.param("bias"));
    }
    let table = if rng.chance(0.3) {
        let n = rng.range(1, 8) as usize;
        Some(b.table((0..n).map(|_| rng.range(-100, 100)).collect()))
    } else {
        None
    };
    vals.push(b.constant(rng.range(-20, 20)));
    let n_ops = rng.range(1, max_ops.max(1) as i64) as usize;
    for _ in 0..n_ops {
        let pick = |rng: &mut Rng| vals[rng.below(vals.len())];
        let (a, c, d) = (pick(rng), pick(rng), pick(rng));
        let n = rng.range(0, 8) as u8;
        let op = match rng.below(19) {
            0 => Op::Add(a, c),
            1 => Op::Sub(a, c),
            2 => Op::Mul(a, c),
            3 => Op::Neg(a),
            4 => Op::Abs(a),
            5 => Op::And(a, c),
            6 => Op::Shl(a, n),
            7 => Op::Shr(a, n),
            8 => Op::ShrTrunc(a, n),
            9 => Op::Min(a, c),
            10 => Op::Max(a, c),
            11 => Op::Sat(a, rng.range(2, 32) as u8),
            12 => Op::Wrap(a, rng.range(2, 32) as u8),
            13 => Op::Lt(a, c),
            14 => Op::Eq(a, c),
            15 => Op::Select {
                cond: a,
                then: c,
                otherwise: d,
            },
            16 => match table {
                Some(table) => Op::Lut { table, index: a },
                None => Op::Add(a, c),
            },
            17 => Op::Const(rng.range(-1000, 1000)),
            _ => Op::Sat(a, 16),
        };
        let v = b.op(op);
        vals.push(v);
    }
    for s in states {
        let v = vals[rng.below(vals.len())];
        b.update(s, v);
    }
    let n_channels = rng.range(1, 2) as usize;
    for k in 0..n_channels {
        let bits = if rng.chance(0.4) {
            0
        } else {
            [8u8, 16, 24, 32][rng.below(4)]
        };
        let c = b.channel(&format!("c{k}"), bits);
        // Threshold the value so that some neurons stay silent.
        let v = vals[vals.len() - 1 - rng.below(vals.len().min(4))];
        let th = b.constant(rng.range(-10, 10));
        let cond = b.op(Op::Lt(th, v));
        let zero = b.constant(0);
        let out = b.op(Op::Select {
            cond,
            then: v,
            otherwise: zero,
        });
        b.send(c, out);
    }
    b.build()
        .expect("a random program is valid by construction")
}

fn weights(rng: &mut Rng, n: usize) -> Vec<i32> {
    (0..n)
        .map(|_| {
            if rng.chance(0.2) {
                0
            } else {
                rng.range(-64, 64) as i32
            }
        })
        .collect()
}

fn delay(rng: &mut Rng, n: usize, max: u32, per_synapse: bool) -> Delay {
    if per_synapse && rng.chance(0.5) {
        Delay::PerSynapse(
            (0..n)
                .map(|_| rng.range(0, i64::from(max)) as u32)
                .collect(),
        )
    } else {
        Delay::Uniform(rng.range(0, i64::from(max)) as u32)
    }
}

/// A random valid network: one graded and maybe one binary input, 1 to
/// `shape.max_populations` populations (some shaped for conv), each fed by at least one
/// projection, extra projections anywhere (recurrent and self edges included), an output per
/// population.
#[must_use]
pub fn network(seed: u64, shape: &Shape) -> Network {
    let mut rng = Rng::new(seed);
    // The graded input is sometimes shaped, so that conv projections read it.
    let (size, in_shape) = if rng.chance(0.4) {
        let (c, x, y) = (
            rng.range(1, 3) as u32,
            rng.range(1, 4) as u32,
            rng.range(1, 4) as u32,
        );
        (c * x * y, Some([x, y, c]))
    } else {
        (rng.range(1, i64::from(shape.max_neurons)) as u32, None)
    };
    let mut inputs = vec![Input {
        name: "x".into(),
        size,
        bits: [8u8, 16, 24][rng.below(3)],
        shape: in_shape,
    }];
    if rng.chance(0.5) {
        inputs.push(Input {
            name: "spikes".into(),
            size: rng.range(1, i64::from(shape.max_neurons)) as u32,
            bits: 0,
            shape: None,
        });
    }
    let n_pops = rng.range(1, shape.max_populations.max(1) as i64) as usize;
    let mut programs = Vec::new();
    let mut populations = Vec::new();
    for p in 0..n_pops {
        let n_ports = rng.range(1, 3) as usize;
        programs.push(program(
            &mut rng,
            &format!("prog{p}"),
            n_ports,
            shape.max_ops,
        ));
        let prog = &programs[p];
        // Conv-friendly shapes: (X, Y, C) with small C.
        let shaped = rng.chance(0.4);
        let (size, shp) = if shaped {
            let c = rng.range(1, 3) as u32;
            let x = rng.range(1, 4) as u32;
            let y = rng.range(1, 4) as u32;
            (c * x * y, Some([x, y, c]))
        } else {
            (rng.range(1, i64::from(shape.max_neurons)) as u32, None)
        };
        let params = prog
            .params
            .iter()
            .map(|_| (0..size).map(|_| rng.range(-50, 50)).collect())
            .collect();
        let init = if rng.chance(0.5) {
            vec![]
        } else {
            prog.states
                .iter()
                .map(|_| (0..size).map(|_| rng.range(-100, 100)).collect())
                .collect()
        };
        populations.push(Population {
            name: format!("pop{p}"),
            size,
            shape: shp,
            program: ProgramId(p as u32),
            params,
            init,
            schedule: if rng.chance(0.2) {
                Schedule {
                    first: rng.range(0, 3) as u64,
                    every: rng.range(1, 3) as u32,
                }
            } else {
                Schedule::ALWAYS
            },
            reset: if rng.chance(0.2) {
                Some(Schedule {
                    first: rng.range(0, 4) as u64,
                    every: rng.range(1, 6) as u32,
                })
            } else {
                None
            },
        });
    }
    let mut net = Network {
        name: format!("random-{seed}"),
        programs,
        inputs,
        populations,
        projections: vec![],
        outputs: vec![],
    };
    // Each population gets a projection from an earlier population or an input, then extra
    // projections between any two (recurrence and self edges included).
    let mut pairs = Vec::new();
    for p in 0..n_pops {
        let src = if p == 0 || rng.chance(0.3) {
            Source::Input(InputId(rng.below(net.inputs.len()) as u32))
        } else {
            let q = rng.below(p);
            Source::Population {
                pop: PopId(q as u32),
                channel: rng.below(net.programs[q].channels.len()) as u8,
            }
        };
        pairs.push((src, p));
    }
    for _ in 0..rng.below(shape.extra_projections + 1) {
        let q = rng.below(n_pops);
        let src = Source::Population {
            pop: PopId(q as u32),
            channel: rng.below(net.programs[q].channels.len()) as u8,
        };
        pairs.push((src, rng.below(n_pops)));
    }
    for (k, (src, p)) in pairs.into_iter().enumerate() {
        let dst = Target {
            pop: PopId(p as u32),
            port: rng.below(net.programs[p].ports.len()) as u8,
        };
        let n_src = net.source_size(src) as usize;
        let n_dst = net.populations[p].size as usize;
        let src_shape = match src {
            Source::Population { pop, .. } => net.populations[pop.index()].shape(),
            Source::Input(i) => net.inputs[i.index()].shape(),
        };
        let conv = conv_between(&mut rng, src_shape, net.populations[p].shape());
        let choice = rng.below(5);
        let (synapses, d) = match choice {
            0 if conv.is_some() => {
                let c = conv.expect("checked");
                (
                    Synapses::Conv(c),
                    Delay::Uniform(rng.range(0, i64::from(shape.max_delay)) as u32),
                )
            }
            1 if n_src == n_dst => {
                let w = weights(&mut rng, n_src);
                let d = delay(&mut rng, n_src, shape.max_delay, true);
                (Synapses::OneToOne { weights: w }, d)
            }
            2 if n_src == n_dst => {
                let d = delay(&mut rng, n_src, shape.max_delay, true);
                (
                    Synapses::Identity {
                        weight: rng.range(-8, 8) as i32,
                    },
                    d,
                )
            }
            3 => {
                let mut start = vec![0u32];
                let mut target = Vec::new();
                for _ in 0..n_src {
                    for j in 0..n_dst as u32 {
                        if rng.chance(0.4) {
                            target.push(j);
                        }
                    }
                    start.push(target.len() as u32);
                }
                let w = weights(&mut rng, target.len());
                let d = delay(&mut rng, target.len(), shape.max_delay, true);
                (
                    Synapses::Sparse {
                        start,
                        target,
                        weights: w,
                    },
                    d,
                )
            }
            _ => {
                let w = weights(&mut rng, n_src * n_dst);
                let d = delay(&mut rng, n_src * n_dst, shape.max_delay, true);
                (Synapses::Dense { weights: w }, d)
            }
        };
        net.projections.push(Projection {
            name: format!("proj{k}"),
            src,
            dst,
            synapses,
            delay: d,
        });
    }
    for p in 0..n_pops {
        for c in 0..net.programs[p].channels.len() {
            net.outputs.push(Output {
                name: format!("pop{p}.c{c}"),
                pop: PopId(p as u32),
                channel: c as u8,
            });
        }
    }
    debug_assert_eq!(net.validate(shape.max_delay), Ok(()));
    net
}

/// A conv from `src` to `dst` shapes (both `(X, Y, C)`), if one with small parameters fits.
fn conv_between(rng: &mut Rng, src: [u32; 3], dst: [u32; 3]) -> Option<Conv> {
    let groups = if src[2] == dst[2] && src[2] > 1 && rng.chance(0.5) {
        src[2]
    } else {
        1
    };
    for _ in 0..8 {
        let kernel = [rng.range(1, 3) as u32, rng.range(1, 3) as u32];
        let stride = [rng.range(1, 2) as u32, rng.range(1, 2) as u32];
        let padding = [rng.range(0, 1) as u32, rng.range(0, 1) as u32];
        let dilation = [rng.range(1, 2) as u32, rng.range(1, 2) as u32];
        let out = |n: u32, k: u32, s: u32, p: u32, d: u32| {
            (n + 2 * p).checked_sub(d * (k - 1) + 1).map(|x| x / s + 1)
        };
        let fits = out(src[0], kernel[0], stride[0], padding[0], dilation[0]) == Some(dst[0])
            && out(src[1], kernel[1], stride[1], padding[1], dilation[1]) == Some(dst[1]);
        if fits {
            let n = (dst[2] * (src[2] / groups) * kernel[0] * kernel[1]) as usize;
            return Some(Conv {
                kernel,
                stride,
                padding,
                dilation,
                groups,
                weights: weights(rng, n),
            });
        }
    }
    None
}

/// Random inputs for `steps` timesteps: graded inputs within their width (often zero), binary
/// inputs mostly 0 or 1 and sometimes another value (any non-zero value is a spike).
#[must_use]
pub fn inputs(net: &Network, seed: u64, steps: usize) -> Vec<Vec<Vec<i64>>> {
    let mut rng = Rng::new(seed ^ 0x5eed);
    (0..steps)
        .map(|_| {
            net.inputs
                .iter()
                .map(|x| {
                    (0..x.size)
                        .map(|_| {
                            if x.bits == 0 {
                                // Any non-zero value is a spike.
                                match rng.below(5) {
                                    0 | 1 => 1,
                                    2 => rng.range(-9, 9),
                                    _ => 0,
                                }
                            } else if rng.chance(0.4) {
                                0
                            } else {
                                let m = 1i64 << (x.bits - 1);
                                rng.range(-m.min(200), (m - 1).min(200))
                            }
                        })
                        .collect()
                })
                .collect()
        })
        .collect()
}
