//! lava-dl v0.6.0's netx block tests on the tiny network, reproduced exactly in the IR:
//! `tests/lava/lib/dl/netx/test_blocks.py`, `TestLIFBlocks::test_input` and `test_conv` (data
//! in `tests/data/lava-dl/tinynet/`) and `TestSDNBlocks::test_input`, `test_conv` and
//! `test_dense` (data in `tests/data/lava-dl/tinynet_sdnn/`), each compared as the test
//! compares it: the same arrays, the same timestep offsets, every value.
//!
//! Timing: Lava's timestep `t` (from 1) is the IR's timestep `t - 1`. A `RingBuffer` source
//! sends column `(t - 1) % columns` of its data in Lava's timestep `t`, and a `RingBuffer` sink
//! records what it receives in timestep `t` in column `t - 1`. Dense and Conv send a timestep's
//! sum in the next timestep (IR delay 0).
//!
//! Numbering: the tinynet arrays are PyTorch's `(N, C, H, W, T)` with `H` Lava's `y` and `W`
//! Lava's `x` (the test transposes them to Lava's `(X, Y, C, T)`), so neuron `(x, y, c)` is
//! their element `(c H + y) W + x` ([`torch_of_ir`]); the tinynet_sdnn arrays are Lava's
//! `(X, Y, C, T)` and are mapped with [`lava::ir_index`].

use loisim_net::lava::{self, LavaConv, LavaDense, LifParams, SdnConfig, SignMode, SynapsePort};
use loisim_net::{
    Delay, Input, InputId, Network, NeuronProgram, Output, PopId, Population, ProgramId,
    Projection, Reference, Schedule, Source, Synapses, Target, run,
};
use std::path::PathBuf;

/// An `.npy` array of `tests/data/lava-dl/` as `(shape, values)`.
fn npy<T: npyz::Deserialize>(name: &str) -> (Vec<usize>, Vec<T>) {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../tests/data/lava-dl")
        .join(name);
    let bytes = std::fs::read(&path).expect("test data");
    let f = npyz::NpyFile::new(&bytes[..]).expect("npy");
    let shape = f.shape().iter().map(|&d| d as usize).collect();
    (shape, f.into_vec::<T>().expect("dtype"))
}

fn ints<T: Into<i64> + Copy>(v: &[T]) -> Vec<i64> {
    v.iter().map(|&x| x.into()).collect()
}

/// The tiny network's input: 16 x 16 pixels, 3 channels (Lava's `(X, Y, C)`).
const IN_XYC: [u32; 3] = [16, 16, 3];
/// Its first layer: 6 x 6, 24 channels.
const L1_XYC: [u32; 3] = [6, 6, 24];

fn population(name: &str, xyc: [u32; 3], program: u32, params: Vec<Vec<i64>>) -> Population {
    let shape = lava::ir_shape(xyc);
    Population {
        name: name.into(),
        size: shape.iter().product(),
        shape: Some(shape),
        program: ProgramId(program),
        params,
        init: vec![],
        schedule: Schedule::ALWAYS,
        reset: None,
    }
}

fn network(program: NeuronProgram, inputs: Vec<Input>, pop: Population) -> Network {
    Network {
        name: "lava-dl tinynet block".into(),
        programs: vec![program],
        inputs,
        populations: vec![pop],
        projections: vec![],
        outputs: vec![Output {
            name: "s".into(),
            pop: PopId(0),
            channel: 0,
        }],
    }
}

fn input(size: u32, bits: u8) -> Input {
    Input {
        name: "in".into(),
        size,
        bits,
        shape: None,
    }
}

const TO_POP: Target = Target {
    pop: PopId(0),
    port: 0,
};

/// Per IR neuron (Lava's `(X, Y, C)` element `(x, y, c)`), `f(x, y, c)`.
fn per_neuron(xyc: [u32; 3], mut f: impl FnMut(usize, usize, usize) -> i64) -> Vec<i64> {
    let mut v = vec![0; xyc.iter().product::<u32>() as usize];
    for x in 0..xyc[0] {
        for y in 0..xyc[1] {
            for c in 0..xyc[2] {
                v[lava::ir_index(xyc, x, y, c)] = f(x as usize, y as usize, c as usize);
            }
        }
    }
    v
}

/// Per IR neuron (Lava's `(X, Y, C)` element `(x, y, c)`), its index `(c Y + y) X + x` in a
/// PyTorch `(C, H, W)` array (`H` is Lava's `y`, `W` its `x`).
fn torch_of_ir(xyc: [u32; 3]) -> Vec<usize> {
    let [xn, yn, _] = xyc.map(|d| d as usize);
    per_neuron(xyc, |x, y, c| ((c * yn + y) * xn + x) as i64)
        .into_iter()
        .map(|k| k as usize)
        .collect()
}

/// Index of `(x, y, c, t)` in a C-order array of shape `(X, Y, C, T)`.
fn xyct(xyc: [u32; 3], t_n: usize, x: usize, y: usize, c: usize, t: usize) -> usize {
    ((x * xyc[1] as usize + y) * xyc[2] as usize + c) * t_n + t
}

/// Asserts that `got` equals `want` everywhere, naming the first differences.
fn assert_all_equal(what: &str, got: &[i64], want: &[i64]) {
    assert_eq!(got.len(), want.len(), "{what}: lengths");
    let wrong: Vec<(usize, i64, i64)> = got
        .iter()
        .zip(want)
        .enumerate()
        .filter(|(_, (g, w))| g != w)
        .map(|(i, (&g, &w))| (i, g, w))
        .take(5)
        .collect();
    let n_wrong = got.iter().zip(want).filter(|(g, w)| g != w).count();
    assert!(
        n_wrong == 0,
        "{what}: {n_wrong} of {} values differ from Lava's (index, got, Lava): first {wrong:?}",
        got.len()
    );
}

fn lif(vth: i64, du: i64, dv: i64, bias_mant: Vec<i64>) -> LifParams {
    LifParams {
        du,
        dv,
        vth,
        bias_mant,
        bias_exp: vec![6],
    }
}

#[test]
fn the_lif_input_block_spikes_exactly_as_lava() {
    // `Input(shape=(16, 16, 3), neuron_params={LIF, vth: 25, du: 4095, dv: 1024, bias_exp: 6,
    // bias_key: 'bias_mant'}, bias=input_bias.npy)`: no input, the bias drives the neurons.
    let (shape, bias) = npy::<u8>("tinynet/input_bias.npy");
    assert_eq!(shape, [16, 16, 3]);
    let bias_mant = per_neuron(IN_XYC, |x, y, c| i64::from(bias[(x * 16 + y) * 3 + c]));
    let n = 768;
    let params = lava::cuba_lif_params(n, &lif(25, 4095, 1024, bias_mant)).expect("in range");
    let program = lava::cuba_lif_ports("lif", &[]).expect("valid");
    let net = network(program, vec![], population("input", IN_XYC, 0, params));
    let steps = run(&net, &vec![vec![]; 15]).expect("runs");
    // `gt = input.npy[0].transpose([2, 1, 0, 3])[..., 1:]`: the sink's column k (timestep k)
    // is the ground truth's column k + 1.
    let (shape, gt) = npy::<u8>("tinynet/input.npy");
    assert_eq!(shape, [1, 3, 16, 16, 16]);
    let got: Vec<i64> = (0..n as usize)
        .flat_map(|i| steps.iter().map(move |s| s.outputs[0][i]))
        .collect();
    let want: Vec<i64> = torch_of_ir(IN_XYC)
        .into_iter()
        .flat_map(|k| (1..16).map(move |t| k * 16 + t))
        .map(|k| i64::from(gt[k]))
        .collect();
    assert_all_equal("input block spikes", &got, &want);
    assert_eq!(got.iter().sum::<i64>(), 6783, "the ground truth's spikes");
}

/// The tiny network's first layer kernel and bias (the same files in both tinynets).
fn layer1() -> (LavaConv, Vec<i64>) {
    let (shape, kernel) = npy::<i8>("tinynet/layer1_kernel.npy");
    assert_eq!(shape, [24, 5, 5, 3]);
    let mut conv = LavaConv::new(
        IN_XYC,
        [24, 5, 5, 3],
        kernel.iter().map(|&w| w.into()).collect(),
    );
    conv.stride = [2, 2];
    assert_eq!(conv.output_shape().expect("valid"), L1_XYC);
    let (shape, bias) = npy::<i8>("tinynet/layer1_bias.npy");
    assert_eq!(shape, [24]);
    // netx broadcasts a per-channel bias over x and y.
    let bias = per_neuron(L1_XYC, |_, _, c| i64::from(bias[c]));
    (conv, bias)
}

/// `Conv(shape=(6, 6, 24), input_shape=(16, 16, 3), neuron_params={LIF, vth: 25, du: 4095,
/// dv: 1024, bias_exp: 6, bias_key: 'bias_mant'}, weight=layer1_kernel.npy,
/// bias=layer1_bias.npy, stride=2)` behind a host input (explicit synapses: the IR's inputs
/// have no shape).
fn lif_conv_block() -> Network {
    let (conv, bias) = layer1();
    let program = lava::cuba_lif_ports("lif", &[conv.port("a_in")]).expect("valid");
    let params = lava::cuba_lif_params(864, &lif(25, 4095, 1024, bias)).expect("in range");
    let mut pop = population("conv", L1_XYC, 0, params);
    // The test runs the block one timestep, then sets u and v to 0 and ignores the spikes of
    // that timestep (`s[..., 0] = 0`). The neuron's input in that timestep is the Conv's
    // initial buffer, 0, so this is a neuron that does not update in timestep 0.
    pop.schedule = Schedule { first: 1, every: 1 };
    let mut net = network(program, vec![input(768, 0)], pop);
    let proj = conv
        .projection(&net, "conv", Source::Input(InputId(0)), TO_POP)
        .expect("fits");
    assert!(matches!(proj.synapses, Synapses::Sparse { .. }));
    net.projections.push(proj);
    net
}

#[test]
fn the_lif_conv_block_spikes_and_current_are_lavas() {
    let net = lif_conv_block();
    // The source's data is `input.npy[0]` (transposed to (X, Y, C)) without its first column:
    // 15 columns, so timestep t (from 0) sends column t % 15 + 1 of the file.
    let (shape, x) = npy::<u8>("tinynet/input.npy");
    assert_eq!(shape, [1, 3, 16, 16, 16]);
    let in_torch = torch_of_ir(IN_XYC);
    let inputs: Vec<Vec<Vec<i64>>> = (0..16)
        .map(|t| {
            vec![
                in_torch
                    .iter()
                    .map(|&k| i64::from(x[k * 16 + t % 15 + 1]))
                    .collect(),
            ]
        })
        .collect();
    let mut r = Reference::new(&net).expect("valid");
    let (mut s, mut u) = (vec![0; 864 * 16], vec![0; 864 * 16]);
    let n_states = net.programs[0].states.len();
    for (t, x) in inputs.iter().enumerate() {
        let step = r.step(x).expect("step");
        let state = r.state(PopId(0));
        for i in 0..864 {
            s[i * 16 + t] = step.outputs[0][i];
            u[i * 16 + t] = state[i * n_states];
        }
    }
    // `s_gt = layer1.npy[0]`, `u_gt = 64 * current.npy[0]`, both (C, H, W, T), read per IR
    // neuron.
    let (shape, s_gt) = npy::<u8>("tinynet/layer1.npy");
    assert_eq!(shape, [1, 24, 6, 6, 16]);
    let (_, u_gt) = npy::<i8>("tinynet/current.npy");
    let l1_torch = torch_of_ir(L1_XYC);
    let per_ir = |v: &[i64]| -> Vec<i64> {
        l1_torch
            .iter()
            .flat_map(|&k| (0..16).map(move |t| v[k * 16 + t]))
            .collect()
    };
    let s_gt = per_ir(&ints(&s_gt));
    let u_gt: Vec<i64> = per_ir(&u_gt.iter().map(|&c| 64 * i64::from(c)).collect::<Vec<_>>());
    assert_all_equal("conv block spikes", &s, &s_gt);
    assert_all_equal("conv block current", &u, &u_gt);
    assert_eq!(s.iter().sum::<i64>(), 1633, "the ground truth's spikes");
    assert!(u.iter().filter(|&&v| v != 0).count() > 10_000);
}

/// netx's sigma-delta parameters in `test_blocks.py`: `vth` 20, `spike_exp` 6, `state_exp` 6.
const SDN: SdnConfig = SdnConfig::NETX;

#[test]
fn the_sdnn_input_block_sends_exactly_lavas_deltas() {
    // `Input(shape=(16, 16, 3), neuron_params={Delta, vth: 20, spike_exp: 6, state_exp: 6})`
    // fed through its neuron's `a_in` by a source of `(input_bias * sin(2 pi t / 15))`
    // truncated toward zero, t = 0..14 (the products are at least 0.0025 away from an
    // integer, so any correctly rounded sine gives the same integers).
    let (shape, bias) = npy::<u8>("tinynet/input_bias.npy");
    assert_eq!(shape, [16, 16, 3]);
    let data: Vec<Vec<i64>> = (0..15)
        .map(|t| {
            let s = (2.0 * std::f64::consts::PI * f64::from(t) / 15.0).sin();
            per_neuron(IN_XYC, |x, y, c| {
                (f64::from(bias[(x * 16 + y) * 3 + c]) * s).trunc() as i64
            })
        })
        .collect();
    let program = lava::delta("delta", &[port("a_in", 32)], &SDN).expect("valid");
    let params = lava::sdn_params(768, &SDN, &[20], None).expect("in range");
    let mut net = network(
        program,
        vec![input(768, 32)],
        population("in", IN_XYC, 0, params),
    );
    // The source drives the neuron's `a_in` directly (in the same timestep); in the IR an
    // input reaches a population one timestep later, so the IR's outputs are one later.
    net.projections.push(Projection {
        name: "a_in".into(),
        src: Source::Input(InputId(0)),
        dst: TO_POP,
        synapses: Synapses::Identity { weight: 1 },
        delay: Delay::Uniform(0),
    });
    let mut inputs: Vec<Vec<Vec<i64>>> = data.into_iter().map(|d| vec![d]).collect();
    inputs.push(vec![vec![0; 768]]);
    let steps = run(&net, &inputs).expect("runs");
    assert!(steps[0].outputs[0].iter().all(|&v| v == 0));
    let (shape, gt) = npy::<i16>("tinynet_sdnn/input.npy");
    assert_eq!(shape, [16, 16, 3, 15]);
    let mut got = vec![0; gt.len()];
    for (t, step) in steps[1..].iter().enumerate() {
        for (x, y, c) in xyc_iter(IN_XYC) {
            got[xyct(IN_XYC, 15, x, y, c, t)] =
                step.outputs[0][lava::ir_index(IN_XYC, x as u32, y as u32, c as u32)];
        }
    }
    assert_all_equal("sdnn input block", &got, &ints(&gt));
    assert!(got.iter().any(|&v| v < 0), "negative deltas are sent");
}

fn port(name: &str, bits: u8) -> SynapsePort {
    SynapsePort {
        name: name.into(),
        bits,
        weight_exp: 0,
    }
}

fn xyc_iter(xyc: [u32; 3]) -> impl Iterator<Item = (usize, usize, usize)> {
    let [xn, yn, cn] = xyc.map(|d| d as usize);
    (0..xn).flat_map(move |x| (0..yn).flat_map(move |y| (0..cn).map(move |c| (x, y, c))))
}

#[test]
fn the_sdnn_conv_block_sends_exactly_lavas_first_timestep() {
    // `Conv(shape=(6, 6, 24), input_shape=(16, 16, 3), neuron_params={SigmaDelta, vth: 20,
    // spike_exp: 6, state_exp: 6, bias_key: 'bias'}, weight=layer1_kernel.npy,
    // bias=layer1_bias.npy, stride=2)`, its input `tinynet_sdnn/input.npy`. netx gives the
    // Conv `num_message_bits` 0, so the graded input is read as binary spikes. The test runs
    // one timestep into a sink of 16 columns: column 0 is the block's output of timestep 0,
    // the others stay 0. (In that timestep the neurons see only the Conv's initial buffer:
    // the data checks the bias, its scaling, the ReLU, the threshold and the payload shift.)
    let (conv, bias) = layer1();
    let program = lava::sigma_delta("sdn", &[conv.port("a_in")], &SDN).expect("valid");
    let params = lava::sdn_params(864, &SDN, &[20], Some(&bias)).expect("in range");
    let mut net = network(
        program,
        vec![input(768, 0)],
        population("conv", L1_XYC, 0, params),
    );
    let proj = conv
        .projection(&net, "conv", Source::Input(InputId(0)), TO_POP)
        .expect("fits");
    net.projections.push(proj);
    let (shape, x) = npy::<i16>("tinynet_sdnn/input.npy");
    assert_eq!(shape, [16, 16, 3, 15]);
    let first = per_neuron(IN_XYC, |x_, y, c| {
        i64::from(x[xyct(IN_XYC, 15, x_, y, c, 0)])
    });
    let steps = run(&net, &[vec![first]]).expect("runs");
    let (shape, gt) = npy::<i16>("tinynet_sdnn/layer1.npy");
    assert_eq!(shape, [6, 6, 24, 16]);
    let mut got = vec![0; gt.len()];
    for (x, y, c) in xyc_iter(L1_XYC) {
        got[xyct(L1_XYC, 16, x, y, c, 0)] =
            steps[0].outputs[0][lava::ir_index(L1_XYC, x as u32, y as u32, c as u32)];
    }
    assert_all_equal("sdnn conv block", &got, &ints(&gt));
    assert_eq!(got.iter().filter(|&&v| v != 0).count(), 144);
}

#[test]
fn the_sdnn_dense_sigma_block_is_lavas() {
    // `Dense(shape=(100,), neuron_params={Sigma}, weight=layer2_weight.npy)` fed with
    // `tinynet_sdnn/layer1.npy` reshaped to (864, 16) (Lava's (X, Y, C) flattening, which is
    // the numbering of the IR input here). The Dense is binary (`num_message_bits` 0): the
    // graded values are spikes. Its weights are of both signs: clipped as mixed, their lowest
    // bit cleared.
    let (shape, w) = npy::<i8>("tinynet_sdnn/layer2_weight.npy");
    assert_eq!(shape, [100, 864]);
    let weights: Vec<i32> = w.iter().map(|&w| w.into()).collect();
    let dense = LavaDense::new(100, 864, weights.clone());
    assert_eq!(lava::sign_mode(&weights), SignMode::Mixed);
    // The weights already have their lowest bit clear (this data does not exercise the
    // truncation; the unit tests of `loisim_net::lava` do).
    assert_eq!(dense.effective_weights().expect("valid"), weights);
    let program = lava::sigma("sigma", &[dense.port("a_in")]).expect("valid");
    let mut net = network(
        program,
        vec![input(864, 0)],
        Population {
            name: "sigma".into(),
            size: 100,
            shape: None,
            program: ProgramId(0),
            params: vec![],
            init: vec![],
            schedule: Schedule::ALWAYS,
            reset: None,
        },
    );
    let proj = dense
        .projection(&net, "dense", Source::Input(InputId(0)), TO_POP)
        .expect("fits");
    net.projections.push(proj);
    let (shape, x) = npy::<i16>("tinynet_sdnn/layer1.npy");
    assert_eq!(shape, [6, 6, 24, 16]);
    let inputs: Vec<Vec<Vec<i64>>> = (0..16)
        .map(|t| vec![(0..864).map(|i| i64::from(x[i * 16 + t])).collect()])
        .collect();
    let steps = run(&net, &inputs).expect("runs");
    let (shape, gt) = npy::<i16>("tinynet_sdnn/layer2.npy");
    assert_eq!(shape, [100, 16]);
    let got: Vec<i64> = (0..100)
        .flat_map(|i| steps.iter().map(move |s| s.outputs[0][i]))
        .collect();
    assert_all_equal("sdnn dense block", &got, &ints(&gt));
}
