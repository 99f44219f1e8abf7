//! lava-dl v0.6.0's `tests/lava/lib/dl/netx/test_hdf5.py` ground truths, reproduced through
//! `loisim_netx::to_network` and the IR's reference interpreter, compared as that test
//! compares them. IR timestep `t` is Lava timestep `t` (IR timestep 0 only takes the first
//! host input); Lava's sink stores timestep `t` in column `t - 1`.

use std::path::PathBuf;

use loisim_net::Network;
use loisim_netx::{NetxNetwork, NetxOptions, io_reset_schedule, read, to_network};

fn data(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data")
        .join(name)
}

fn npy<T: npyz::Deserialize>(name: &str) -> (Vec<usize>, Vec<T>) {
    let bytes = std::fs::read(data(name)).expect("test data");
    let f = npyz::NpyFile::new(&bytes[..]).expect("npy");
    let shape = f.shape().iter().map(|&d| d as usize).collect();
    (shape, f.into_vec::<T>().expect("dtype"))
}

/// Runs `net` for Lava timesteps 1..=`steps`, the host giving `frame` in every one, and
/// returns the values the output `out` sent in each (IR order).
fn run_lava_steps(net: &Network, out: usize, frame: &[i64], steps: usize) -> Vec<Vec<i64>> {
    let mut r = loisim_net::Reference::new(net).expect("valid network");
    let mut outputs = Vec::with_capacity(steps);
    for t in 0..=steps {
        // The input of Lava timestep t + 1 is given in IR timestep t.
        let x = if t < steps {
            frame.to_vec()
        } else {
            vec![0; frame.len()]
        };
        let s = r.step(&[x]).expect("step");
        if t >= 1 {
            outputs.push(s.outputs[out].clone());
        }
    }
    outputs
}

fn pilotnet_sdnn() -> NetxNetwork {
    let file = read(data("pilotnet_sdnn.net")).expect("readable");
    to_network(&file, &NetxOptions::default()).expect("netx builds it")
}

/// `test_pilotnet_sdnn`: the input frame (x, y, c) held for `len(net.layers)` = 9 timesteps,
/// the output layer's `Sigma` recorded in each, every value equal to the ground truth.
fn pilotnet_sdnn_outputs(net: &NetxNetwork) -> Vec<i64> {
    let (shape, input) = npy::<i32>("gts/pilotnet_sdnn/input.npy");
    assert_eq!(shape, [100, 33, 3, 1]);
    let input: Vec<i64> = input.into_iter().map(i64::from).collect();
    let frame = net.input_frame(&input).expect("input shape");
    let steps = net.blocks.len();
    run_lava_steps(&net.network, net.out, &frame, steps)
        .into_iter()
        .map(|o| o[0])
        .collect()
}

fn pilotnet_sdnn_gt() -> Vec<i64> {
    let (shape, gt) = npy::<f64>("gts/pilotnet_sdnn/output.npy");
    assert_eq!(shape, [1, 9]);
    gt.into_iter()
        .map(|x| {
            assert_eq!(x.fract(), 0.0);
            x as i64
        })
        .collect()
}

#[test]
fn pilotnet_sdnn_output_equals_lava() {
    let net = pilotnet_sdnn();
    assert_eq!(net.blocks.len(), 9, "input, 4 conv, 4 dense");
    assert_eq!(net.input_shape, [100, 33, 3]);
    let gt = pilotnet_sdnn_gt();
    assert!(gt.iter().any(|&x| x != 0), "a ground truth that can fail");
    assert_eq!(pilotnet_sdnn_outputs(&net), gt);
}

/// `test_tinynet`: the input LIF driven by `input_bias.npy`, every block reset by
/// `io.reset.Reset(interval=17, offset=i-1)`, 17 + 3 timesteps; `output[..., 2:17]` equals
/// the ground truth's timesteps 1 to 15.
fn tinynet_outputs(net: &mut NetxNetwork) -> Vec<Vec<i64>> {
    let (shape, bias) = npy::<f64>("gts/tinynet/input_bias.npy");
    assert_eq!(shape, [16, 16, 3]);
    let bias: Vec<i64> = bias
        .into_iter()
        .map(|x| {
            assert_eq!(x.fract(), 0.0);
            x as i64
        })
        .collect();
    net.set_lif_bias_mant(0, &bias).expect("a LIF input block");
    for (i, b) in net.blocks.iter().enumerate() {
        net.network.populations[b.pop.index()].reset = Some(io_reset_schedule(17, i as i64 - 1));
    }
    let steps = 17 + net.blocks.len();
    let frame = vec![0; net.network.inputs[0].size as usize];
    run_lava_steps(&net.network, net.out, &frame, steps)
}

fn tinynet_gt() -> Vec<Vec<i64>> {
    // output.npy is (1, C, H, W, T) = (1, 36, 1, 1, 16); the output block is 1 x 1 x 36, so
    // Lava's (x, y, c) order is the channel order.
    let (shape, gt) = npy::<f32>("gts/tinynet/output.npy");
    assert_eq!(shape, [1, 36, 1, 1, 16]);
    (1..16)
        .map(|t| (0..36).map(|c| gt[c * 16 + t] as i64).collect())
        .collect()
}

#[test]
fn tinynet_output_equals_lava() {
    let file = read(data("tiny.net")).expect("readable");
    let mut net = to_network(&file, &NetxOptions::default()).expect("netx builds it");
    assert_eq!(net.blocks.len(), 3);
    let out = tinynet_outputs(&mut net);
    let gt = tinynet_gt();
    assert!(
        gt.iter().flatten().any(|&x| x != 0),
        "a ground truth that can fail"
    );
    // Lava's output[..., 2:17]: timesteps 3 to 17.
    assert_eq!(out[2..17].to_vec(), gt);
}
