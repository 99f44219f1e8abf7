//! The reference interpreter on hand-computed networks (timing, delays, recurrence, binary and
//! graded spikes, conv) and properties over random networks.

use loisim_net::random::{self, Shape};
use loisim_net::{
    Conv, Delay, Input, InputId, Network, NeuronProgram, Op, Output, PopId, Population,
    ProgramBuilder, ProgramId, Projection, Source, Synapses, Target, run,
};
use proptest::prelude::*;

/// A simplified LIF neuron (not Lava's exact model, which is `loisim_net::lava::cuba_lif`): `u = trunc(u (4096 - du) / 4096) + a_in`, `v = trunc(v (4096 - dv)
/// / 4096) + u + bias`, a binary spike when `v > vth`, then `v = 0`.
fn lif() -> NeuronProgram {
    let mut b = ProgramBuilder::new("lif");
    let a_in = b.port("a_in", 24);
    let (su, u) = b.state("u", 24);
    let (sv, v) = b.state("v", 24);
    let du = b.param("du");
    let dv = b.param("dv");
    let bias = b.param("bias");
    let vth = b.param("vth");
    let unity = b.constant(4096);
    let ku = b.op(Op::Sub(unity, du));
    let uk = b.op(Op::Mul(u, ku));
    let ud = b.op(Op::ShrTrunc(uk, 12));
    let u1 = b.op(Op::Add(ud, a_in));
    let kv = b.op(Op::Sub(unity, dv));
    let vk = b.op(Op::Mul(v, kv));
    let vd = b.op(Op::ShrTrunc(vk, 12));
    let v1 = b.op(Op::Add(vd, u1));
    let v2 = b.op(Op::Add(v1, bias));
    let spike = b.op(Op::Lt(vth, v2));
    let zero = b.constant(0);
    let v3 = b.op(Op::Select {
        cond: spike,
        then: zero,
        otherwise: v2,
    });
    b.update(su, u1);
    b.update(sv, v3);
    let s = b.channel("s", 0);
    b.send(s, spike);
    b.build().expect("valid")
}

/// Sends its port's sum, graded.
fn relay(bits: u8) -> NeuronProgram {
    let mut b = ProgramBuilder::new("relay");
    let x = b.port("x", bits);
    let c = b.channel("y", 24);
    b.send(c, x);
    b.build().expect("valid")
}

fn one_pop(program: NeuronProgram, size: u32, params: Vec<Vec<i64>>, input: Input) -> Network {
    Network {
        name: "t".into(),
        programs: vec![program],
        inputs: vec![input],
        populations: vec![Population {
            name: "a".into(),
            size,
            shape: None,
            program: ProgramId(0),
            params,
            init: vec![],
            schedule: Default::default(),
            reset: None,
        }],
        projections: vec![],
        outputs: vec![Output {
            name: "a".into(),
            pop: PopId(0),
            channel: 0,
        }],
    }
}

fn from_input(synapses: Synapses, delay: Delay) -> Projection {
    Projection {
        name: "in".into(),
        src: Source::Input(InputId(0)),
        dst: Target {
            pop: PopId(0),
            port: 0,
        },
        synapses,
        delay,
    }
}

/// The timesteps at which output 0, neuron `i` sent something.
fn times(net: &Network, inputs: &[Vec<Vec<i64>>], i: usize) -> Vec<(usize, i64)> {
    run(net, inputs)
        .expect("runs")
        .iter()
        .enumerate()
        .filter(|(_, s)| s.outputs[0][i] != 0)
        .map(|(t, s)| (t, s.outputs[0][i]))
        .collect()
}

#[test]
fn a_lif_neuron_driven_every_step_spikes_every_third_step() {
    // du = 4096: the current is this step's input; dv = 0: the voltage holds. Input spikes of
    // weight 4 from timestep 0 reach the neuron from timestep 1: v = 4, 8, 12 > 10 (spike,
    // reset), 4, 8, 12 (spike), ...
    let params = vec![vec![4096], vec![0], vec![0], vec![10]];
    let mut net = one_pop(
        lif(),
        1,
        params,
        Input {
            name: "s".into(),
            size: 1,
            bits: 0,
            shape: None,
        },
    );
    net.projections.push(from_input(
        Synapses::OneToOne { weights: vec![4] },
        Delay::Uniform(0),
    ));
    let inputs = vec![vec![vec![1]]; 10];
    assert_eq!(times(&net, &inputs, 0), vec![(3, 1), (6, 1), (9, 1)]);
    // A delay of 2 shifts every spike by 2 timesteps.
    net.projections[0].delay = Delay::Uniform(2);
    assert_eq!(times(&net, &inputs, 0), vec![(5, 1), (8, 1)]);
    // Voltage decay dv = 2048 halves v each step: 4, 2 + 4 = 6, 3 + 4 = 7, 3 + 4 = 7, ...
    // never above 10, so no spike.
    net.projections[0].delay = Delay::Uniform(0);
    net.populations[0].params[1] = vec![2048];
    assert_eq!(times(&net, &inputs, 0), vec![]);
}

#[test]
fn a_scheduled_population_updates_only_in_its_timesteps() {
    let mut net = one_pop(
        relay(16),
        1,
        vec![],
        Input {
            name: "x".into(),
            size: 1,
            bits: 8,
            shape: None,
        },
    );
    net.projections.push(from_input(
        Synapses::Identity { weight: 1 },
        Delay::Uniform(0),
    ));
    net.populations[0].schedule = loisim_net::Schedule { first: 2, every: 3 };
    // Input t + 1 at timestep t reaches the neuron at t + 1; it updates at 2, 5, 8.
    let inputs: Vec<Vec<Vec<i64>>> = (0..9).map(|t| vec![vec![t + 1]]).collect();
    assert_eq!(times(&net, &inputs, 0), vec![(2, 2), (5, 5), (8, 8)]);
    let steps = run(&net, &inputs).expect("runs");
    let dropped: u64 = steps.iter().map(|s| s.activity.dropped).sum();
    assert_eq!(dropped, 5, "input due at 1, 3, 4, 6, 7 is discarded");
}

#[test]
fn a_reset_clears_the_state_at_the_end_of_its_timesteps() {
    // sum += x, sent every step; x = 1 arrives from timestep 1; a reset at the end of
    // timesteps 1, 4, 7 (Lava's Reset(interval = 3, offset = 1)).
    let acc = {
        let mut b = ProgramBuilder::new("acc");
        let x = b.port("x", 16);
        let (s, old) = b.state("sum", 16);
        let new = b.op(Op::Add(old, x));
        b.update(s, new);
        let c = b.channel("sum", 16);
        b.send(c, new);
        b.build().expect("valid")
    };
    let mut net = one_pop(
        acc,
        1,
        vec![],
        Input {
            name: "x".into(),
            size: 1,
            bits: 8,
            shape: None,
        },
    );
    net.projections.push(from_input(
        Synapses::Identity { weight: 1 },
        Delay::Uniform(0),
    ));
    net.populations[0].reset = Some(loisim_net::Schedule { first: 1, every: 3 });
    let inputs = vec![vec![vec![1]]; 8];
    assert_eq!(
        times(&net, &inputs, 0),
        vec![(1, 1), (2, 1), (3, 2), (4, 3), (5, 1), (6, 2), (7, 3)]
    );
}

#[test]
fn instruction_counts_derive_from_the_program() {
    assert_eq!(
        lif().instructions(),
        loisim_net::Instructions {
            loads: 9,
            alu: 9,
            mul: 2,
            lut: 0,
            stores: 2,
            sends: 1,
        }
    );
}

#[test]
fn per_synapse_delays_spread_one_message_over_timesteps() {
    let mut net = one_pop(
        relay(16),
        3,
        vec![],
        Input {
            name: "x".into(),
            size: 1,
            bits: 8,
            shape: None,
        },
    );
    net.projections.push(from_input(
        Synapses::Dense {
            weights: vec![1, 2, 3],
        },
        Delay::PerSynapse(vec![0, 1, 4]),
    ));
    let mut inputs = vec![vec![vec![0]]; 8];
    inputs[0][0][0] = 5;
    assert_eq!(times(&net, &inputs, 0), vec![(1, 5)]);
    assert_eq!(times(&net, &inputs, 1), vec![(2, 10)]);
    assert_eq!(times(&net, &inputs, 2), vec![(5, 15)]);
}

#[test]
fn recurrence_doubles_until_the_port_wraps_to_zero() {
    // v = x + 2 v(t-1) through a self edge of delay 0, on an 8-bit port: 1, 2, 4, ..., 64,
    // then 128 wraps to -128, then -256 wraps to 0 and the loop falls silent.
    let mut net = one_pop(
        relay(8),
        1,
        vec![],
        Input {
            name: "x".into(),
            size: 1,
            bits: 8,
            shape: None,
        },
    );
    net.projections.push(from_input(
        Synapses::Identity { weight: 1 },
        Delay::Uniform(0),
    ));
    net.projections.push(Projection {
        name: "self".into(),
        src: Source::Population {
            pop: PopId(0),
            channel: 0,
        },
        dst: Target {
            pop: PopId(0),
            port: 0,
        },
        synapses: Synapses::Identity { weight: 2 },
        delay: Delay::Uniform(0),
    });
    let mut inputs = vec![vec![vec![0]]; 12];
    inputs[0][0][0] = 1;
    let want: Vec<(usize, i64)> = (0..8)
        .map(|k| (k + 1, if k == 7 { -128 } else { 1 << k }))
        .collect();
    assert_eq!(times(&net, &inputs, 0), want);
    let mut r = loisim_net::Reference::new(&net).expect("valid");
    for x in &inputs {
        r.step(x).expect("step");
    }
    assert_eq!(r.events().port_wraps, 2);
}

/// The IR numbers shaped populations channel-last, `(x Y + y) C + c` for shape `(X, Y, C)`:
/// a 1-channel 3 x 3 input through a 3 x 3 kernel (padding 1) into 2 channels. Input
/// `(x, y) = (0, 1)` reaches outputs `(xo, yo)` at kernel offset `(kx, ky) = (1 - xo, 2 - yo)`,
/// each in both channels, next to each other.
#[test]
fn conv_fan_out_numbers_neurons_channel_last() {
    // w[co][0][kx][ky] = 100 co + 10 kx + ky + 1.
    let weights: Vec<i32> = (0..2)
        .flat_map(|co| (0..3).flat_map(move |kx| (0..3).map(move |ky| 100 * co + 10 * kx + ky + 1)))
        .collect();
    let conv = Conv {
        kernel: [3, 3],
        stride: [1, 1],
        padding: [1, 1],
        dilation: [1, 1],
        groups: 1,
        weights,
    };
    let pop = |name: &str, shape: [u32; 3]| Population {
        name: name.into(),
        size: shape.iter().product(),
        shape: Some(shape),
        program: ProgramId(0),
        params: vec![],
        init: vec![],
        schedule: Default::default(),
        reset: None,
    };
    let mut net = Network {
        name: "conv".into(),
        programs: vec![relay(32)],
        inputs: vec![],
        populations: vec![pop("a", [3, 3, 1]), pop("b", [3, 3, 2])],
        projections: vec![Projection {
            name: "conv".into(),
            src: Source::Population {
                pop: PopId(0),
                channel: 0,
            },
            dst: Target {
                pop: PopId(1),
                port: 0,
            },
            synapses: Synapses::Conv(conv),
            delay: Delay::Uniform(0),
        }],
        outputs: vec![],
    };
    assert_eq!(net.validate(0), Ok(()));
    let mut got = vec![];
    // Source (x, y, c) = (0, 1, 0) is neuron (0 * 3 + 1) * 1 + 0 = 1.
    net.fan_out(&net.projections[0], 1, |j, w, d| got.push((j, w, d)));
    got.sort_unstable();
    // Target (xo, yo, co) is neuron (xo * 3 + yo) * 2 + co.
    let want = vec![
        (0, 13, 0),  // (0, 0, 0), kernel (1, 2)
        (1, 113, 0), // (0, 0, 1)
        (2, 12, 0),  // (0, 1, 0), kernel (1, 1)
        (3, 112, 0),
        (4, 11, 0), // (0, 2, 0), kernel (1, 0)
        (5, 111, 0),
        (6, 3, 0), // (1, 0, 0), kernel (0, 2)
        (7, 103, 0),
        (8, 2, 0), // (1, 1, 0), kernel (0, 1)
        (9, 102, 0),
        (10, 1, 0), // (1, 2, 0), kernel (0, 0)
        (11, 101, 0),
    ];
    assert_eq!(got, want);
    // A target shaped channel-first, (C, X, Y), is refused, naming the layout.
    net.populations[1] = pop("b", [2, 3, 3]);
    let e = net.validate(0).expect_err("wrong shape").to_string();
    assert!(e.contains("conv of (X, Y, C) [3, 3, 1]"), "{e}");
    assert!(e.contains("gives [3, 3, 3]"), "{e}");
    assert!(e.contains("target is shaped (X, Y, C) [2, 3, 3]"), "{e}");
}

/// Conv by gathering (the definition), against the interpreter's scatter. Shapes are
/// `(X, Y, C)`, neuron `(x, y, c)` is `(x Y + y) C + c`; kernel, stride, padding and dilation
/// are `(x, y)`.
fn conv_gather(c: &Conv, src: [u32; 3], dst: [u32; 3], v: &[i64]) -> Vec<i64> {
    let (in_g, out_g) = (src[2] / c.groups, dst[2] / c.groups);
    let mut out = vec![0i64; (dst[0] * dst[1] * dst[2]) as usize];
    for xo in 0..dst[0] {
        for yo in 0..dst[1] {
            for co in 0..dst[2] {
                let g = co / out_g;
                let mut acc = 0i64;
                for cig in 0..in_g {
                    let ci = g * in_g + cig;
                    for kx in 0..c.kernel[0] {
                        for ky in 0..c.kernel[1] {
                            let xi = i64::from(xo * c.stride[0] + kx * c.dilation[0])
                                - i64::from(c.padding[0]);
                            let yi = i64::from(yo * c.stride[1] + ky * c.dilation[1])
                                - i64::from(c.padding[1]);
                            if xi < 0
                                || yi < 0
                                || xi >= i64::from(src[0])
                                || yi >= i64::from(src[1])
                            {
                                continue;
                            }
                            let w = c.weights[(((co * in_g + cig) * c.kernel[0] + kx) * c.kernel[1]
                                + ky) as usize];
                            acc += i64::from(w)
                                * v[((xi as u32 * src[1] + yi as u32) * src[2] + ci) as usize];
                        }
                    }
                }
                out[((xo * dst[1] + yo) * dst[2] + co) as usize] = acc;
            }
        }
    }
    out
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn conv_projections_compute_the_convolution(
        c_in in 1u32..4, h in 1u32..6, w in 1u32..6, c_out_mul in 1u32..3,
        kh in 1u32..4, kw in 1u32..4, sh in 1u32..3, sw in 1u32..3,
        ph in 0u32..2, pw in 0u32..2, dh in 1u32..3, dw in 1u32..3,
        grouped in any::<bool>(), seed in any::<u64>(),
    ) {
        let groups = if grouped { c_in } else { 1 };
        let c_out = groups * c_out_mul;
        let out = |n: u32, k: u32, s: u32, p: u32, d: u32| (n + 2 * p).checked_sub(d * (k - 1) + 1).map(|x| x / s + 1);
        let (Some(ho), Some(wo)) = (out(h, kh, sh, ph, dh), out(w, kw, sw, pw, dw)) else {
            return Ok(());
        };
        let mut rng = random::Rng::new(seed);
        let conv = Conv {
            kernel: [kh, kw], stride: [sh, sw], padding: [ph, pw], dilation: [dh, dw], groups,
            weights: (0..c_out * (c_in / groups) * kh * kw).map(|_| rng.range(-9, 9) as i32).collect(),
        };
        let src = [h, w, c_in];
        let dst = [ho, wo, c_out];
        let x: Vec<i64> = (0..c_in * h * w).map(|_| rng.range(-5, 5)).collect();
        // Input -> relay population shaped like the source -> conv -> relay population.
        let mut net = Network {
            name: "conv".into(),
            programs: vec![relay(32)],
            inputs: vec![Input { name: "x".into(), size: c_in * h * w, bits: 8, shape: None  }],
            populations: vec![
                Population { name: "a".into(), size: c_in * h * w, shape: Some(src), program: ProgramId(0), params: vec![], init: vec![], schedule: Default::default(), reset: None  },
                Population { name: "b".into(), size: c_out * ho * wo, shape: Some(dst), program: ProgramId(0), params: vec![], init: vec![], schedule: Default::default(), reset: None  },
            ],
            projections: vec![from_input(Synapses::Identity { weight: 1 }, Delay::Uniform(0))],
            outputs: vec![Output { name: "b".into(), pop: PopId(1), channel: 0 }],
        };
        net.projections.push(Projection {
            name: "conv".into(),
            src: Source::Population { pop: PopId(0), channel: 0 },
            dst: Target { pop: PopId(1), port: 0 },
            synapses: Synapses::Conv(conv.clone()),
            delay: Delay::Uniform(1),
        });
        let mut inputs = vec![vec![vec![0i64; x.len()]]; 4];
        inputs[0][0].clone_from(&x);
        let steps = run(&net, &inputs).expect("valid");
        // Input at 0, relay a at 1, delay 1, relay b at 3.
        prop_assert_eq!(&steps[3].outputs[0], &conv_gather(&conv, src, dst, &x));
        // The same conv (delay 1) straight from a shaped input: relay b sends it at timestep 2.
        let mut direct = net.clone();
        direct.inputs[0].shape = Some(src);
        direct.projections.retain(|p| p.name != "in");
        direct.projections[0].src = Source::Input(InputId(0));
        let steps = run(&direct, &inputs).expect("valid");
        prop_assert_eq!(&steps[2].outputs[0], &conv_gather(&conv, src, dst, &x));
    }

    #[test]
    fn the_order_of_populations_does_not_change_what_a_network_computes(seed in any::<u64>()) {
        let net = random::network(seed, &Shape::default());
        let inputs = random::inputs(&net, seed, 12);
        let base = run(&net, &inputs).expect("valid");
        // Reverse the populations and remap every reference.
        let n = net.populations.len() as u32;
        let map = |p: PopId| PopId(n - 1 - p.0);
        let mut rev = net.clone();
        rev.populations.reverse();
        for pr in &mut rev.projections {
            if let Source::Population { pop, .. } = &mut pr.src {
                *pop = map(*pop);
            }
            pr.dst.pop = map(pr.dst.pop);
        }
        for o in &mut rev.outputs {
            o.pop = map(o.pop);
        }
        // ... and the projections.
        rev.projections.reverse();
        let other = run(&rev, &inputs).expect("valid");
        for (a, b) in base.iter().zip(&other) {
            prop_assert_eq!(&a.outputs, &b.outputs);
        }
    }

    #[test]
    fn a_dense_projection_computes_what_its_sparse_twin_does(seed in any::<u64>()) {
        let net = random::network(seed, &Shape::default());
        let inputs = random::inputs(&net, seed, 10);
        let base = run(&net, &inputs).expect("valid");
        let mut sparse = net.clone();
        for pr in &mut sparse.projections {
            let Synapses::Dense { weights } = &pr.synapses else { continue };
            let n_src = net.source_size(pr.src) as usize;
            let n_dst = net.populations[pr.dst.pop.index()].size as usize;
            let (mut start, mut target, mut w, mut d) = (vec![0u32], vec![], vec![], vec![]);
            for i in 0..n_src {
                for j in 0..n_dst {
                    target.push(j as u32);
                    w.push(weights[j * n_src + i]);
                    d.push(match &pr.delay {
                        Delay::Uniform(x) => *x,
                        Delay::PerSynapse(x) => x[j * n_src + i],
                    });
                }
                start.push(target.len() as u32);
            }
            pr.synapses = Synapses::Sparse { start, target, weights: w };
            pr.delay = Delay::PerSynapse(d);
        }
        let other = run(&sparse, &inputs).expect("valid");
        for (a, b) in base.iter().zip(&other) {
            prop_assert_eq!(&a.outputs, &b.outputs);
        }
    }
}

#[test]
fn random_networks_exercise_what_they_claim() {
    // Over 200 seeds the generator produces every kind of projection, delays above 0,
    // recurrent edges, binary and graded channels, and networks whose outputs are not silent.
    let (mut kinds, mut delayed, mut recurrent, mut binary, mut graded, mut active) =
        ([0usize; 5], 0, 0, 0, 0, 0);
    for seed in 0..200 {
        let net = random::network(seed, &Shape::default());
        for pr in &net.projections {
            kinds[match pr.synapses {
                Synapses::Dense { .. } => 0,
                Synapses::Sparse { .. } => 1,
                Synapses::Conv(_) => 2,
                Synapses::OneToOne { .. } => 3,
                Synapses::Identity { .. } => 4,
            }] += 1;
            delayed += usize::from(pr.max_delay() > 0);
            if let Source::Population { pop, .. } = pr.src {
                recurrent += usize::from(pop >= pr.dst.pop);
            }
        }
        for p in &net.programs {
            for c in &p.channels {
                if c.bits == 0 {
                    binary += 1;
                } else {
                    graded += 1;
                }
            }
        }
        let steps = run(&net, &random::inputs(&net, seed, 10)).expect("valid");
        active += usize::from(
            steps
                .iter()
                .any(|s| s.outputs.iter().flatten().any(|&v| v != 0)),
        );
    }
    assert!(kinds.iter().all(|&k| k >= 10), "{kinds:?}");
    assert!(delayed >= 100 && recurrent >= 50, "{delayed} {recurrent}");
    assert!(binary >= 50 && graded >= 50, "{binary} {graded}");
    assert!(active >= 150, "{active}");
}

#[test]
fn invalid_networks_are_named_errors() {
    let base = {
        let mut n = one_pop(
            relay(16),
            3,
            vec![],
            Input {
                name: "x".into(),
                size: 3,
                bits: 8,
                shape: None,
            },
        );
        n.projections.push(from_input(
            Synapses::Identity { weight: 1 },
            Delay::Uniform(0),
        ));
        n
    };
    assert_eq!(base.validate(62), Ok(()));
    let check = |f: &dyn Fn(&mut Network), needle: &str| {
        let mut n = base.clone();
        f(&mut n);
        let e = n.validate(62).expect_err(needle).to_string();
        assert!(e.contains(needle), "{e} (expected `{needle}`)");
    };
    check(
        &|n| n.projections[0].delay = Delay::Uniform(63),
        "at most 62",
    );
    check(
        &|n| {
            n.projections[0].synapses = Synapses::Dense {
                weights: vec![1; 8],
            }
        },
        "has 8 dense weights",
    );
    check(&|n| n.projections[0].dst.port = 1, "no such port");
    check(&|n| n.populations[0].size = 4, "identity from 3 to 4");
    check(
        &|n| n.populations[0].shape = Some([2, 2, 1]),
        "does not hold",
    );
    check(&|n| n.inputs[0].bits = 33, "payloads are 0");
    check(&|n| n.outputs[0].channel = 2, "no such channel");
    check(
        &|n| n.projections.push(n.projections[0].clone()),
        "projection `in`: the name is used twice",
    );
    check(
        &|n| {
            n.projections[0].synapses = Synapses::Sparse {
                start: vec![0, 1, 1, 2],
                target: vec![0, 3],
                weights: vec![1, 1],
            }
        },
        "targets neuron 3",
    );
    // Input values must fit a graded input's width.
    let mut r = loisim_net::Reference::new(&base).expect("valid");
    let e = r
        .step(&[vec![0, 200, 0]])
        .expect_err("too wide")
        .to_string();
    assert!(e.contains("does not fit 8 bits"), "{e}");
}
