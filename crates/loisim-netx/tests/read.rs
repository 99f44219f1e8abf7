//! Reading lava-dl netx files. Expected values were established independently with
//! h5py 3.16 (`h5py.File(path)[...][()]`) on the same files; see `tests/data/README.md`.

use std::path::{Path, PathBuf};

use loisim_netx::{
    LayerKind, MAX_TENSOR_ELEMENTS, NetxError, NetxFile, Neuron, Tensor, TensorData, is_netx, read,
    read_bytes,
};

fn data(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data")
        .join(name)
}

fn bytes(name: &str) -> Vec<u8> {
    std::fs::read(data(name)).unwrap()
}

fn kinds(net: &NetxFile) -> Vec<String> {
    net.layers
        .iter()
        .map(|l| match &l.kind {
            LayerKind::Input => "input".to_string(),
            LayerKind::Dense => "dense".to_string(),
            LayerKind::DenseRec => "dense_rec".to_string(),
            LayerKind::Conv => "conv".to_string(),
            LayerKind::Flatten => "flatten".to_string(),
            LayerKind::Unsupported { type_name, .. } => format!("unsupported {type_name}"),
        })
        .collect()
}

fn sum(t: &Tensor) -> f64 {
    t.to_f64().iter().sum()
}

fn ints(t: &Tensor) -> Vec<i64> {
    t.as_i64().expect("an integer dataset").to_vec()
}

fn cuba(net: &NetxFile, layer: usize) -> &loisim_netx::CubaNeuron {
    match net.layers[layer].neuron.as_ref() {
        Some(Neuron::Cuba(n)) => n,
        other => panic!("layer {layer}: expected a CUBA neuron, got {other:?}"),
    }
}

fn sdnn(net: &NetxFile, layer: usize) -> &loisim_netx::SdnnNeuron {
    match net.layers[layer].neuron.as_ref() {
        Some(Neuron::Sdnn(n)) => n,
        other => panic!("layer {layer}: expected an SDNN neuron, got {other:?}"),
    }
}

#[test]
fn tiny_net_layers_shapes_and_parameters() {
    let net = read(data("tiny.net")).unwrap();
    assert_eq!(kinds(&net), ["input", "conv", "conv"]);
    let shapes: Vec<_> = net
        .layers
        .iter()
        .map(|l| l.shape.clone().unwrap())
        .collect();
    assert_eq!(shapes, [vec![3, 16, 16], vec![24, 6, 6], vec![36, 1, 1]]);
    assert_eq!(
        net.layers.iter().map(|l| l.index).collect::<Vec<_>>(),
        [0, 1, 2]
    );

    let input = &net.layers[0];
    let bias = input.bias.as_ref().unwrap();
    assert_eq!(bias.shape, [1]);
    assert_eq!(bias.data, TensorData::F32(vec![34.0]));
    assert_eq!(
        input.weight.as_ref().unwrap().data,
        TensorData::F32(vec![36.0])
    );
    for i in 0..3 {
        let n = cuba(&net, i);
        assert_eq!(n.type_name, "LOIHI");
        assert_eq!(n.i_decay.scalar_i64(), Some(4096));
        assert_eq!(n.v_decay.scalar_i64(), Some(1024));
        assert_eq!(n.v_th_mant.scalar_i64(), Some(25));
        assert!(n.v_th_mant.shape.is_empty(), "vThMant is a scalar dataset");
        assert_eq!(n.ref_delay.as_ref().unwrap().scalar_i64(), Some(1));
        assert_eq!(n.wgt_exp.as_ref().unwrap().scalar_i64(), Some(0));
        assert_eq!(n.theta.as_ref().unwrap().scalar_i64(), Some(1600));
        assert_eq!(
            n.scale_rho.as_ref().unwrap().data,
            TensorData::F64(vec![10.0])
        );
        assert_eq!(n.tau_rho.as_ref().unwrap().data, TensorData::F64(vec![0.5]));
        assert_eq!(n.message_bits, None);
    }

    let conv1 = &net.layers[1];
    let w = conv1.weight.as_ref().unwrap();
    assert_eq!(w.shape, [24, 3, 5, 5, 1]);
    assert!(matches!(w.data, TensorData::F32(_)));
    assert_eq!(w.to_f64()[0], 8.0);
    assert_eq!(sum(w), -48.0);
    assert_eq!(sum(conv1.bias.as_ref().unwrap()), 36.0);
    let c = conv1.conv.as_ref().unwrap();
    assert_eq!(ints(&c.stride), [2, 2]);
    assert_eq!(ints(&c.padding), [0, 0]);
    assert_eq!(ints(&c.dilation), [1, 1]);
    assert_eq!(c.groups.shape, Vec::<usize>::new());
    assert_eq!(c.groups.scalar_i64(), Some(1));
    assert_eq!(ints(c.kernel_size.as_ref().unwrap()), [5, 5]);
    assert_eq!(c.in_channels.as_ref().unwrap().scalar_i64(), Some(3));
    assert_eq!(c.out_channels.as_ref().unwrap().scalar_i64(), Some(24));
    assert_eq!(conv1.delay, None);

    let conv2 = &net.layers[2];
    assert_eq!(conv2.weight.as_ref().unwrap().shape, [36, 24, 5, 5, 1]);
    assert_eq!(sum(conv2.weight.as_ref().unwrap()), -2320.0);
    assert_eq!(sum(conv2.bias.as_ref().unwrap()), 206.0);

    let sim = net.simulation.as_ref().unwrap();
    assert_eq!(sim.ts.as_ref().unwrap().scalar_i64(), Some(1));
    assert_eq!(sim.t_sample.as_ref().unwrap().scalar_i64(), Some(64));
}

#[test]
fn pilotnet_lif_layers_shapes_and_parameters() {
    let net = read(data("pilotnet_lif.net")).unwrap();
    assert_eq!(
        kinds(&net),
        [
            "input", "conv", "conv", "conv", "conv", "conv", "flatten", "dense", "dense", "dense",
            "dense"
        ]
    );
    let shapes: Vec<_> = net
        .layers
        .iter()
        .map(|l| l.shape.clone().unwrap())
        .collect();
    assert_eq!(
        shapes,
        [
            vec![3, 66, 200],
            vec![24, 32, 99],
            vec![36, 15, 49],
            vec![48, 7, 24],
            vec![64, 4, 22],
            vec![64, 2, 20],
            vec![1, 1, 2560],
            vec![100, 1, 1],
            vec![50, 1, 1],
            vec![10, 1, 1],
            vec![1, 1, 1],
        ]
    );
    // The input layer's gain and bias are scalar datasets here (1-element arrays in tiny.net).
    let input = &net.layers[0];
    assert_eq!(input.weight.as_ref().unwrap().shape, Vec::<usize>::new());
    assert_eq!(input.weight.as_ref().unwrap().scalar_f64(), Some(40.0));
    assert_eq!(input.bias.as_ref().unwrap().scalar_f64(), Some(36.0));
    assert_eq!(
        cuba(&net, 0).scale_rho.as_ref().unwrap().scalar_f64(),
        Some(1.0)
    );

    let weight_sums: Vec<f64> = net
        .layers
        .iter()
        .filter_map(|l| l.weight.as_ref())
        .skip(1)
        .map(sum)
        .collect();
    assert_eq!(
        weight_sums,
        [
            -180.0, 168.0, -1922.0, -5306.0, -3382.0, -2042.0, -2440.0, -236.0, 112.0
        ]
    );
    let c4 = net.layers[4].conv.as_ref().unwrap();
    assert_eq!(ints(&c4.padding), [1, 0]);
    assert_eq!(ints(&c4.stride), [2, 1]);
    assert_eq!(net.layers[5].weight.as_ref().unwrap().shape, [64, 64, 3, 3]);

    let flatten = &net.layers[6];
    assert!(flatten.neuron.is_none() && flatten.weight.is_none());
    assert_eq!(net.layers[7].weight.as_ref().unwrap().shape, [100, 2560]);
    assert_eq!(net.layers[7].conv, None);

    // The last layer: a 1-D weight, a float64 bias, a non-leaky neuron with a huge threshold.
    let out = &net.layers[10];
    assert_eq!(out.weight.as_ref().unwrap().shape, [10]);
    assert_eq!(out.bias.as_ref().unwrap().data, TensorData::F64(vec![0.0]));
    assert_eq!(cuba(&net, 10).v_decay.scalar_i64(), Some(0));
    assert_eq!(cuba(&net, 10).v_th_mant.scalar_i64(), Some(131_071));
    assert_eq!(
        net.simulation
            .as_ref()
            .unwrap()
            .t_sample
            .as_ref()
            .unwrap()
            .scalar_i64(),
        Some(16)
    );
}

#[test]
fn pilotnet_sdnn_layers_shapes_and_parameters() {
    let net = read(data("pilotnet_sdnn.net")).unwrap();
    assert_eq!(
        kinds(&net),
        [
            "input", "conv", "conv", "conv", "conv", "flatten", "dense", "dense", "dense", "dense"
        ]
    );
    let shapes: Vec<_> = net
        .layers
        .iter()
        .map(|l| l.shape.clone().unwrap())
        .collect();
    assert_eq!(
        shapes,
        [
            vec![3, 33, 100],
            vec![24, 16, 49],
            vec![36, 7, 24],
            vec![64, 4, 22],
            vec![64, 2, 20],
            vec![2560, 1, 1],
            vec![100],
            vec![50],
            vec![10],
            vec![1],
        ]
    );
    assert_eq!(net.simulation, None);
    let input = &net.layers[0];
    assert!(input.weight.is_none() && input.bias.is_none());
    let thresholds: Vec<i64> = (0..10)
        .filter(|&i| i != 5)
        .map(|i| {
            sdnn(&net, i)
                .v_th_mant
                .as_ref()
                .unwrap()
                .scalar_i64()
                .unwrap()
        })
        .collect();
    assert_eq!(thresholds, [0, 13, 0, 0, 0, 23, 1, 6, 6]);
    for i in (0..10).filter(|&i| i != 5) {
        assert_eq!(sdnn(&net, i).activation.as_deref(), Some("relu"));
        assert_eq!(sdnn(&net, i).message_bits, None);
    }
    assert_eq!(sdnn(&net, 8).sigma_output, None);
    let sigma = sdnn(&net, 9).sigma_output.as_ref().unwrap();
    assert_eq!(sigma.scalar_i64(), Some(1), "h5py's True");

    let weight_sums: Vec<f64> = net
        .layers
        .iter()
        .filter_map(|l| l.weight.as_ref())
        .map(sum)
        .collect();
    assert_eq!(
        weight_sums,
        [
            -62.0, -1726.0, -5942.0, -9860.0, -26704.0, -1694.0, -400.0, 22.0
        ]
    );
    let bias_sums: Vec<f64> = net
        .layers
        .iter()
        .filter_map(|l| l.bias.as_ref())
        .map(sum)
        .collect();
    assert_eq!(bias_sums, [30.0, 148.0, 392.0, 584.0, 2956.0, 488.0, 140.0]);
    assert_eq!(net.layers[9].weight.as_ref().unwrap().shape, [1, 10]);
    assert_eq!(net.layers[9].bias, None);
    let c3 = net.layers[3].conv.as_ref().unwrap();
    assert_eq!(ints(&c3.padding), [1, 0]);
    assert_eq!(ints(&c3.stride), [2, 1]);
}

#[test]
fn is_netx_by_content_not_extension() {
    let dir = tempfile::tempdir().unwrap();
    assert!(is_netx(data("tiny.net")));
    assert!(is_netx(data("pilotnet_sdnn.net")));
    // A netx file under another name is still one.
    let renamed = dir.path().join("network.h5");
    std::fs::write(&renamed, bytes("tiny.net")).unwrap();
    assert!(is_netx(&renamed));
    // Text named .net is not.
    let text = dir.path().join("fake.net");
    std::fs::write(&text, "layer/0/type input\n").unwrap();
    assert!(!is_netx(&text));
    assert!(!is_netx(dir.path().join("missing.net")));
}

#[test]
fn non_hdf5_file_is_refused_with_a_clear_message() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("fake.net");
    std::fs::write(&path, b"this is not HDF5 at all, only text\n".repeat(40)).unwrap();
    let err = read(&path).unwrap_err();
    assert!(matches!(err, NetxError::NotHdf5 { .. }), "{err:?}");
    let msg = err.to_string();
    assert!(
        msg.contains("fake.net") && msg.contains("not an HDF5 file"),
        "{msg}"
    );
    let empty = dir.path().join("empty.net");
    std::fs::write(&empty, b"").unwrap();
    assert!(matches!(read(&empty), Err(NetxError::NotHdf5 { .. })));
    assert!(matches!(
        read(dir.path().join("missing.net")),
        Err(NetxError::Io { .. })
    ));
}

/// Replace every occurrence of `from` by `to` (same length) in `bytes`; returns the count.
fn patch_all(bytes: &mut [u8], from: &[u8], to: &[u8]) -> usize {
    assert_eq!(from.len(), to.len());
    let mut count = 0;
    let mut i = 0;
    while i + from.len() <= bytes.len() {
        if &bytes[i..i + from.len()] == from {
            bytes[i..i + from.len()].copy_from_slice(to);
            count += 1;
            i += from.len();
        } else {
            i += 1;
        }
    }
    count
}

#[test]
fn hdf5_file_without_layer_group_is_refused() {
    // tiny.net with its top-level link `layer` renamed `layex` (the name lives in the root
    // group's local heap, which has no checksum in this superblock-0 file).
    let mut b = bytes("tiny.net");
    assert_eq!(patch_all(&mut b, b"layer\0", b"layex\0"), 1);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("other.h5");
    std::fs::write(&path, &b).unwrap();
    assert!(!is_netx(&path));
    let err = read(&path).unwrap_err();
    assert!(matches!(err, NetxError::NoLayerGroup { .. }), "{err:?}");
    let msg = err.to_string();
    assert!(
        msg.contains("other.h5")
            && msg.contains("without a `layer` group")
            && msg.contains("`layex`"),
        "{msg}"
    );
}

#[test]
fn unsupported_layer_and_neuron_types_are_kept_by_name() {
    let mut b = bytes("pilotnet_lif.net");
    assert_eq!(patch_all(&mut b, b"flatten", b"average"), 1);
    let net = read_bytes("patched.net", b).unwrap();
    match &net.layers[6].kind {
        LayerKind::Unsupported { type_name, reason } => {
            assert_eq!(type_name, "average");
            assert!(reason.contains("NotImplementedError"), "{reason}");
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(net.layers.len(), 11);

    let mut b = bytes("pilotnet_sdnn.net");
    let n = patch_all(&mut b, b"SDNN", b"RFZZ");
    assert!(n >= 1);
    let net = read_bytes("patched.net", b).unwrap();
    for layer in net.layers.iter().filter(|l| l.neuron.is_some()) {
        assert_eq!(
            layer.neuron,
            Some(Neuron::Unsupported {
                type_name: "RFZZ".to_string()
            })
        );
    }
}

#[test]
fn missing_required_field_names_layer_and_field() {
    // Rename layer 1's `stride` (first occurrence in the file): netx needs it for conv.
    let mut b = bytes("pilotnet_lif.net");
    let at = b.windows(7).position(|w| w == b"stride\0").unwrap();
    b[at..at + 6].copy_from_slice(b"strida");
    let err = read_bytes("lif.net", b).unwrap_err();
    let msg = err.to_string();
    assert!(matches!(err, NetxError::Missing { .. }), "{err:?}");
    assert!(
        msg.starts_with("lif.net: `layer/")
            && msg.contains("/stride` is missing; netx needs it for a `conv` layer"),
        "{msg}"
    );
}

#[test]
fn layer_members_must_be_groups_0_to_n_minus_1() {
    // The `layer` group's local heap holds the names "0", "1", "2" (8-byte aligned).
    let names = b"0\0\0\0\0\0\0\x001\0\0\0\0\0\0\x002\0";
    let original = bytes("tiny.net");
    let at = original
        .windows(names.len())
        .position(|w| w == names)
        .unwrap();
    for (to, problem) in [
        (b'7', "found `layer/7`, which is not one of them"),
        (b'1', "`layer/1` appears twice"),
        (b'x', "found `layer/x`, which is not one of them"),
    ] {
        let mut b = original.clone();
        b[at + 16] = to;
        let err = read_bytes("names.net", b).unwrap_err();
        assert!(matches!(err, NetxError::LayerNames { .. }), "{err:?}");
        let msg = err.to_string();
        assert_eq!(
            msg,
            format!(
                "names.net: the `layer` group's members must be groups named 0, 1, .. 2; {problem}"
            )
        );
    }
}

#[test]
fn oversized_array_is_refused_before_reading() {
    // Declare layer 7's weight as 100 x (2560 + 2^40) elements (dims and max dims).
    let mut b = bytes("pilotnet_lif.net");
    let mut from = Vec::new();
    from.extend_from_slice(&100u64.to_le_bytes());
    from.extend_from_slice(&2560u64.to_le_bytes());
    let mut to = from.clone();
    to[8 + 5] = 1;
    assert_eq!(patch_all(&mut b, &from, &to), 2);
    let err = read_bytes("big.net", b).unwrap_err();
    match &err {
        NetxError::TensorTooLarge {
            location,
            elements,
            cap,
            ..
        } => {
            assert_eq!(location, "layer/7/weight");
            assert_eq!(*elements, 100 * (2560 + (1u64 << 40)));
            assert_eq!(*cap, MAX_TENSOR_ELEMENTS);
        }
        other => panic!("{other:?}"),
    }
    assert!(err.to_string().contains("over the limit"), "{err}");
}

/// splitmix64, for deterministic corruption cases.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

/// Every outcome must be `Ok` or an `Err` with a one-line message naming the file.
fn check_outcome(case: &str, result: Result<NetxFile, NetxError>) -> bool {
    match result {
        Ok(_) => true,
        Err(e) => {
            let msg = e.to_string();
            assert!(msg.starts_with("tiny-mut.net: "), "{case}: {msg}");
            assert!(!msg.contains('\n'), "{case}: multi-line message: {msg}");
            false
        }
    }
}

#[test]
fn truncated_files_give_errors_not_panics() {
    let original = bytes("tiny.net");
    let mut rng = Rng(0x6e65_7478);
    let mut cuts: Vec<usize> = vec![
        0, 1, 7, 8, 9, 56, 95, 96, 100, 511, 512, 800, 1024, 2048, 4096,
    ];
    while cuts.len() < 100 {
        cuts.push(rng.below(original.len()));
    }
    let mut errors = 0;
    for cut in cuts {
        let ok = check_outcome(
            &format!("cut at {cut}"),
            read_bytes("tiny-mut.net", original[..cut].to_vec()),
        );
        errors += usize::from(!ok);
    }
    // Cuts inside the metadata at the start must be refused.
    assert!(errors >= 15, "only {errors} of 100 truncations refused");
}

#[test]
fn bit_flips_give_ok_or_errors_not_panics() {
    let original = bytes("tiny.net");
    let mut rng = Rng(0x0062_6974_666c_6970);
    let mut errors = 0;
    for case in 0..100 {
        let mut b = original.clone();
        // Half the cases hit the first 12 KiB (superblock, object headers, heaps,
        // B-trees), half the whole file; 1 to 4 flips each.
        let span = if case % 2 == 0 { 12 * 1024 } else { b.len() };
        let flips = 1 + rng.below(4);
        for _ in 0..flips {
            let at = rng.below(span);
            b[at] ^= 1 << rng.below(8);
        }
        let ok = check_outcome(&format!("flip case {case}"), read_bytes("tiny-mut.net", b));
        errors += usize::from(!ok);
    }
    assert!(errors >= 1, "no bit flip was noticed");
}
