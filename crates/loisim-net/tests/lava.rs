//! Lava's fixed-point LIF and Dense in the IR against Lava's own ground truth: lava-dl v0.6.0's
//! `test_blocks.py::TestLIFBlocks::test_dense` (a Dense block of 256 LIF neurons fed by 200
//! binary inputs for 2,000 timesteps), and the timing and ports of Dense projections.

use loisim_net::lava::{self, LavaDense, LifParams, SignMode};
use loisim_net::{
    Input, InputId, Network, NeuronProgram, Output, PopId, Population, ProgramId, Reference,
    Source, Target, run,
};
use std::path::PathBuf;

fn data(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../tests/data/lava-dl")
        .join(name)
}

/// A 2-D `.npy` array as `(rows, columns, values)`.
fn npy<T: npyz::Deserialize>(name: &str) -> (usize, usize, Vec<T>) {
    let bytes = std::fs::read(data(name)).expect("test data");
    let f = npyz::NpyFile::new(&bytes[..]).expect("npy");
    let shape = f.shape().to_vec();
    assert_eq!(shape.len(), 2, "{name} is 2-D");
    let v = f.into_vec::<T>().expect("dtype");
    (shape[0] as usize, shape[1] as usize, v)
}

fn population(name: &str, size: u32, program: u32, params: Vec<Vec<i64>>) -> Population {
    Population {
        name: name.into(),
        size,
        shape: None,
        program: ProgramId(program),
        params,
        init: vec![],
        schedule: Default::default(),
        reset: None,
    }
}

fn lif_params(du: i64, dv: i64, vth: i64, bias_exp: i64) -> LifParams {
    LifParams {
        du,
        dv,
        vth,
        bias_mant: vec![0],
        bias_exp: vec![bias_exp],
    }
}

/// The `test_dense` block: `Dense(shape=(256,), neuron_params={LIF, vth: 6, du: 4095, dv: 415,
/// bias_exp: 6}, weight=weight.npy)`, no bias (so `bias_mant` 0), binary input, Dense's
/// defaults (`weight_exp` 0, 8 weight bits, sign mode from the weights).
fn dense_block(weights: Vec<i32>) -> (Network, LavaDense) {
    let dense = LavaDense::new(256, 200, weights);
    let program = lava::cuba_lif("lif", &[dense.lif_input("a_in")]).expect("valid");
    let params = lava::cuba_lif_params(256, &lif_params(4095, 415, 6, 6)).expect("in range");
    let mut net = Network {
        name: "lava-dl dense block".into(),
        programs: vec![program],
        inputs: vec![Input {
            name: "in".into(),
            size: 200,
            bits: 0,
            shape: None,
        }],
        populations: vec![population("lif", 256, 0, params)],
        projections: vec![],
        outputs: vec![Output {
            name: "s".into(),
            pop: PopId(0),
            channel: 0,
        }],
    };
    let proj = dense
        .projection(
            &net,
            "dense",
            Source::Input(InputId(0)),
            Target {
                pop: PopId(0),
                port: 0,
            },
        )
        .expect("fits");
    net.projections.push(proj);
    (net, dense)
}

/// Per timestep, the input column of `in.npy` (Lava's `RingBuffer` source sends column `t` in
/// its timestep `t + 1`; the IR's timestep `t` is Lava's `t + 1`).
fn input_steps() -> Vec<Vec<Vec<i64>>> {
    let (n, t, x) = npy::<u8>("in.npy");
    assert_eq!((n, t), (200, 2000));
    (0..t)
        .map(|k| vec![(0..n).map(|i| i64::from(x[i * t + k])).collect()])
        .collect()
}

#[test]
fn the_lava_dl_dense_block_spikes_exactly_as_lava() {
    let (n_out, n_in, w) = npy::<i16>("weight.npy");
    assert_eq!((n_out, n_in), (256, 200));
    let weights: Vec<i32> = w.into_iter().map(i32::from).collect();
    let (net, dense) = dense_block(weights.clone());
    // The weights are of both signs: Lava clips them as mixed and clears their lowest bit,
    // which they already have clear (this data does not exercise the truncation; the unit
    // tests of `loisim_net::lava` do).
    assert_eq!(lava::sign_mode(&weights), SignMode::Mixed);
    assert_eq!(dense.effective_weights().expect("valid"), weights);

    let steps = run(&net, &input_steps()).expect("runs");
    // `out.npy` is what Lava's `RingBuffer` sink recorded: the LIF's spikes of Lava's timestep
    // `t + 1` in column `t`, so the IR's timestep `t`.
    let (n, t, gt) = npy::<u8>("out.npy");
    assert_eq!((n, t, steps.len()), (256, 2000, 2000));
    let mut spikes = 0u64;
    let mut wrong = vec![];
    for (k, s) in steps.iter().enumerate() {
        for i in 0..n {
            let (got, want) = (s.outputs[0][i], i64::from(gt[i * t + k]));
            spikes += u64::from(got != 0);
            if got != want {
                wrong.push((i, k, got, want));
            }
        }
    }
    assert!(
        wrong.is_empty(),
        "{} of {} spike values differ from Lava's (neuron, timestep, got, Lava): first {:?}",
        wrong.len(),
        n * t,
        &wrong[..wrong.len().min(5)]
    );
    assert_eq!(spikes, 1826, "the ground truth's spike count");
}

#[test]
fn the_lava_dl_dense_block_current_is_lavas() {
    // `current.npy` holds the block's current in units of the input (before the shift by 6):
    // the LIF's `u` is 64 times it, in the same timestep as the spikes.
    let (net, _) = dense_block(
        npy::<i16>("weight.npy")
            .2
            .into_iter()
            .map(i32::from)
            .collect(),
    );
    let (n, t, cur) = npy::<i16>("current.npy");
    let mut r = Reference::new(&net).expect("valid");
    let n_states = net.programs[0].states.len();
    let mut wrong = 0usize;
    let mut nonzero = 0usize;
    for (k, x) in input_steps().iter().enumerate() {
        r.step(x).expect("step");
        let u = r.state(PopId(0));
        for i in 0..n {
            let want = 64 * i64::from(cur[i * t + k]);
            nonzero += usize::from(want != 0);
            wrong += usize::from(u[i * n_states] != want);
        }
    }
    assert_eq!(wrong, 0, "values of u that differ from 64 x current.npy");
    assert!(
        nonzero > 250_000,
        "the current is mostly not zero: {nonzero}"
    );
}

fn relay_net(programs: Vec<NeuronProgram>, pops: Vec<Population>) -> Network {
    Network {
        name: "t".into(),
        programs,
        inputs: vec![Input {
            name: "in".into(),
            size: 2,
            bits: 0,
            shape: None,
        }],
        populations: pops,
        projections: vec![],
        outputs: vec![Output {
            name: "s".into(),
            pop: PopId(1),
            channel: 0,
        }],
    }
}

#[test]
fn a_spike_crosses_a_dense_in_one_timestep_and_exponents_apply_per_dense() {
    // in -> A (one LIF per input, fires on any input) -> B over two Dense processes with
    // different exponents into two ports: B's u is the sum of both shifted sums, x 64.
    let to_a = LavaDense::new(2, 2, vec![100, 0, 0, 100]);
    let mut d1 = LavaDense::new(1, 2, vec![3, 5]);
    d1.weight_exp = -1;
    let mut d2 = LavaDense::new(1, 2, vec![7, 9]);
    d2.weight_exp = 2;
    let a = lava::cuba_lif("a", &[to_a.lif_input("a_in")]).expect("valid");
    let b = lava::cuba_lif("b", &[d1.lif_input("p1"), d2.lif_input("p2")]).expect("valid");
    let quiet = lif_params(4095, 4095, lava::MAX_VTH, 0);
    let mut net = relay_net(
        vec![a, b],
        vec![
            population(
                "a",
                2,
                0,
                lava::cuba_lif_params(2, &lif_params(4095, 4095, 0, 0)).expect("ok"),
            ),
            population("b", 1, 1, lava::cuba_lif_params(1, &quiet).expect("ok")),
        ],
    );
    let a_out = Source::Population {
        pop: PopId(0),
        channel: 0,
    };
    let b_port = |port| Target {
        pop: PopId(1),
        port,
    };
    let projections = [
        to_a.projection(
            &net,
            "in->a",
            Source::Input(InputId(0)),
            Target {
                pop: PopId(0),
                port: 0,
            },
        ),
        d1.projection(&net, "a->b 1", a_out, b_port(0)),
        d2.projection(&net, "a->b 2", a_out, b_port(1)),
    ];
    for p in projections {
        net.projections.push(p.expect("fits"));
    }
    assert_eq!(
        net.programs[1].ports[0].bits, 64,
        "binary, negative exponent"
    );
    let mut r = Reference::new(&net).expect("valid");
    let u_b = |r: &Reference<'_>| r.state(PopId(1))[0];
    let mut a_uv = vec![];
    for t in 0..4 {
        let x = if t == 0 { vec![1, 1] } else { vec![0, 0] };
        r.step(&[x]).expect("step");
        a_uv.push((r.state(PopId(0))[0], r.state(PopId(0))[1]));
        let want = match t {
            // In at 0, A updates (and spikes) at 1, B receives at 2: floor(8 / 2) + (16 << 2).
            2 => 64 * (4 + 64),
            _ => 0,
        };
        assert_eq!(u_b(&r), want, "B's u at timestep {t}");
    }
    // A's u took the input in timestep 1 and its v was reset by the spike.
    assert_eq!(a_uv, vec![(0, 0), (100 << 6, 0), (0, 0), (0, 0)]);
}

#[test]
fn dense_projections_that_do_not_fit_are_named() {
    let d = LavaDense::new(1, 2, vec![1, 1]);
    let mut g = LavaDense::new(1, 2, vec![1, 1]);
    g.num_message_bits = 8;
    let p = lava::cuba_lif("p", &[d.lif_input("a_in")]).expect("valid");
    let params = lava::cuba_lif_params(1, &lif_params(0, 0, 1, 0)).expect("ok");
    let mut net = relay_net(vec![p], vec![population("p", 1, 0, params)]);
    net.outputs.clear();
    let dst = Target {
        pop: PopId(0),
        port: 0,
    };
    let src = Source::Input(InputId(0));
    let e = g
        .projection(&net, "g", src, dst)
        .expect_err("binary source");
    assert!(
        e.to_string()
            .contains("num_message_bits 8 but its source sends binary"),
        "{e}"
    );
    let mut neg = d.clone();
    neg.weight_exp = -3;
    let e = neg.projection(&net, "n", src, dst).expect_err("port width");
    assert!(
        e.to_string()
            .contains("32 bits wide; weight_exp -3 needs 64"),
        "{e}"
    );
    let wide = LavaDense::new(1, 3, vec![1, 1, 1]);
    let e = wide.projection(&net, "w", src, dst).expect_err("size");
    assert!(e.to_string().contains("1 x 3"), "{e}");
    let e = d
        .projection(&net, "x", Source::Input(InputId(4)), dst)
        .expect_err("no such input");
    assert!(e.to_string().contains("not in the network"), "{e}");
    assert!(d.projection(&net, "ok", src, dst).is_ok());
}
