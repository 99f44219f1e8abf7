//! The `.nir` reader, the lowering onto Loihi 2's LIF layers and the float64 reference, on
//! the committed fixtures of `tests/data/` (written by `make_fixtures.py` with the `nir`
//! package; the `_expected.npy` spikes are computed there with numpy from NIR's equations).

use loisim_nir::{Array, FloatSynapse, Graph, NirError, Node, float_run, lower, quantise, read};
use std::path::PathBuf;

fn data(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data")
        .join(name)
}

fn npy(name: &str) -> (Vec<usize>, Vec<f64>) {
    let bytes = std::fs::read(data(name)).expect("fixture");
    let r = npyz::NpyFile::new(&bytes[..]).expect("npy");
    let shape: Vec<usize> = r.shape().iter().map(|&d| d as usize).collect();
    (shape, r.into_vec::<f64>().expect("f64"))
}

fn frames(name: &str) -> Vec<Vec<f64>> {
    let (shape, v) = npy(name);
    let per: usize = shape[1..].iter().product();
    v.chunks(per).map(<[f64]>::to_vec).collect()
}

#[test]
fn fixtures_load_with_their_nodes_edges_and_parameters() {
    let g = read(data("lif_dense.nir")).unwrap();
    let kinds: Vec<(&str, &str)> = g
        .nodes
        .iter()
        .map(|(k, n)| (k.as_str(), n.kind.as_str()))
        .collect();
    assert_eq!(
        kinds,
        [
            ("affine", "Affine"),
            ("affine_1", "Affine"),
            ("input", "Input"),
            ("lif", "LIF"),
            ("lif_1", "LIF"),
            ("output", "Output")
        ]
    );
    assert_eq!(g.edges.len(), 5);
    assert!(g.edges.contains(&("lif".into(), "affine_1".into())));
    assert_eq!(g.nodes["lif"].params["tau"].data, vec![5e-3; 6]);
    assert_eq!(g.nodes["affine"].params["weight"].shape, vec![6, 8]);
    assert_eq!(g.nodes["input"].params["shape"].data, vec![8.0]);
    let c = read(data("conv_pool_dense.nir")).unwrap();
    assert_eq!(c.nodes["conv2d"].params["weight"].shape, vec![3, 2, 3, 3]);
    assert_eq!(c.nodes["sumpool2d"].params["stride"].data, vec![2.0, 2.0]);
    assert_eq!(
        read(data("cubalif_dense.nir")).unwrap().nodes["cubalif"].params["w_in"].data,
        vec![1.5; 5]
    );
}

#[test]
fn the_float_reference_gives_the_numpy_reference_spikes() {
    for name in ["lif_dense", "cubalif_dense", "conv_pool_dense"] {
        let g = read(data(&format!("{name}.nir"))).unwrap();
        let lowered = lower(&g, 1e-3).unwrap();
        let x = frames(&format!("{name}_input.npy"));
        let y = float_run(&lowered, &x).spikes;
        let (shape, expected) = npy(&format!("{name}_expected.npy"));
        assert_eq!(shape[0], y.len(), "{name}");
        let got: Vec<f64> = y.iter().flatten().map(|&s| f64::from(s)).collect();
        assert_eq!(got, expected, "{name}: float64 reference against numpy");
        assert!(
            expected.iter().sum::<f64>() > 10.0,
            "{name}: the fixture spikes"
        );
    }
}

#[test]
fn the_pooled_segment_becomes_one_dense_layer_and_the_conv_stays_a_conv() {
    let g = read(data("conv_pool_dense.nir")).unwrap();
    let l = lower(&g, 1e-3).unwrap();
    assert!(matches!(l.layers[0].synapse, FloatSynapse::Conv { .. }));
    assert_eq!(l.layers[0].shape, vec![3, 6, 6]);
    assert_eq!(l.layers[1].linear_nodes, ["sumpool2d", "flatten", "affine"]);
    let FloatSynapse::Dense { n_in, weights, .. } = &l.layers[1].synapse else {
        panic!("dense")
    };
    assert_eq!((*n_in, weights.len()), (108, 4 * 108));
}

#[test]
fn decays_are_twelve_bit_exponentials_and_weights_fit_254() {
    let g = read(data("cubalif_dense.nir")).unwrap();
    let q = quantise(lower(&g, 1e-3).unwrap()).unwrap();
    let decay = |tau: f64| (4096.0 * (1.0 - (-1e-3f64 / tau).exp())).round() as i64;
    assert_eq!(
        (q.layers[0].i_decay, q.layers[0].v_decay),
        (decay(4e-3), decay(6e-3))
    );
    assert_eq!(
        (q.layers[1].i_decay, q.layers[1].v_decay),
        (decay(3e-3), decay(10e-3))
    );
    for layer in &q.file.layers {
        if let Some(w) = &layer.weight {
            let m = w.as_i64().unwrap().iter().map(|x| x.abs()).max().unwrap();
            assert!((128..=254).contains(&m), "weights use 8 bits: largest {m}");
        }
    }
    // A longer step decays more.
    let q2 = quantise(lower(&g, 2e-3).unwrap()).unwrap();
    assert!(q2.layers[0].v_decay > q.layers[0].v_decay);
}

fn unsupported(e: NirError) -> (String, String) {
    let msg = e.to_string();
    assert!(!msg.contains('\n'), "one line: {msg}");
    match e {
        NirError::Unsupported { node, why, .. } => (node, why),
        other => panic!("not an unsupported node: {other}"),
    }
}

#[test]
fn unsupported_graphs_name_the_node_and_why() {
    let (node, why) =
        unsupported(lower(&read(data("bad_v_reset.nir")).unwrap(), 1e-3).unwrap_err());
    assert_eq!(node, "lif");
    assert!(why.contains("v_reset"), "{why}");
    let (node, why) = unsupported(lower(&read(data("bad_branch.nir")).unwrap(), 1e-3).unwrap_err());
    assert_eq!(node, "input");
    assert!(why.contains("branches"), "{why}");
}

fn v(x: &[f64]) -> Array {
    Array::vector(x.to_vec())
}

/// Input(2) -> Linear -> `neuron` -> Output, in memory.
fn small(neuron: Node) -> Graph {
    let mut g = Graph::default();
    g.nodes
        .insert("in".into(), Node::new("Input", [("shape", v(&[2.0]))]));
    g.nodes.insert(
        "fc".into(),
        Node::new(
            "Linear",
            [("weight", Array::new(vec![2, 2], vec![1.0, 0.5, -0.5, 2.0]))],
        ),
    );
    g.nodes.insert("n".into(), neuron);
    g.nodes
        .insert("out".into(), Node::new("Output", [("shape", v(&[2.0]))]));
    g.edges = vec![
        ("in".into(), "fc".into()),
        ("fc".into(), "n".into()),
        ("n".into(), "out".into()),
    ];
    g
}

fn lif(tau: &[f64]) -> Node {
    Node::new(
        "LIF",
        [
            ("tau", v(tau)),
            ("r", v(&[1.0])),
            ("v_leak", v(&[0.0])),
            ("v_threshold", v(&[0.1])),
        ],
    )
}

#[test]
fn graphs_built_in_memory_lower_like_files() {
    let l = lower(&small(lif(&[5e-3, 5e-3])), 1e-3).unwrap();
    assert_eq!(l.layers.len(), 1);
    let q = quantise(l).unwrap();
    assert_eq!(q.layers[0].v_decay, 742);
    for (neuron, word) in [
        (lif(&[5e-3, 6e-3]), "differs between neurons"),
        (Node::new("LI", [("tau", v(&[1e-3]))]), "non-spiking"),
        (Node::new("Izhikevich", []), "not supported"),
        (lif(&[-1e-3, -1e-3]), "time constant"),
    ] {
        let (node, why) = unsupported(lower(&small(neuron), 1e-3).unwrap_err());
        assert_eq!(node, "n");
        assert!(why.contains(word), "{why}");
    }
    let thr = Node::new("Threshold", [("threshold", v(&[-1.0]))]);
    assert!(
        unsupported(lower(&small(thr), 1e-3).unwrap_err())
            .1
            .contains("negative threshold")
    );
}

#[test]
fn threshold_and_if_neurons_lower_onto_lif_decays() {
    let q = quantise(
        lower(
            &small(Node::new("Threshold", [("threshold", v(&[0.5]))])),
            1e-3,
        )
        .unwrap(),
    )
    .unwrap();
    // Stateless: the current and the voltage are forgotten every step.
    assert_eq!((q.layers[0].i_decay, q.layers[0].v_decay), (4096, 4096));
    let ifn = Node::new("IF", [("r", v(&[1.0])), ("v_threshold", v(&[0.5]))]);
    let q = quantise(lower(&small(ifn), 1e-3).unwrap()).unwrap();
    assert_eq!((q.layers[0].i_decay, q.layers[0].v_decay), (4096, 0));
}

#[test]
fn truncated_files_give_one_line_errors() {
    let bytes = std::fs::read(data("lif_dense.nir")).unwrap();
    let mut errors = 0;
    for k in 0..64 {
        let cut = bytes.len() * k / 64;
        match loisim_nir::read_bytes("cut.nir", bytes[..cut].to_vec()) {
            Ok(g) => {
                let _ = lower(&g, 1e-3);
            }
            Err(e) => {
                errors += 1;
                assert!(!e.to_string().contains('\n'), "{e}");
            }
        }
    }
    assert!(errors > 32, "most truncations are errors: {errors}");
}

/// Input(2) -> `before` -> Linear (identity) -> `after` -> Threshold(0.5) -> Output.
fn delayed(before: Option<Node>, after: Option<Node>) -> Graph {
    let mut g = Graph::default();
    let mut chain = vec!["in".to_string()];
    g.nodes
        .insert("in".into(), Node::new("Input", [("shape", v(&[2.0]))]));
    if let Some(n) = before {
        g.nodes.insert("d0".into(), n);
        chain.push("d0".into());
    }
    g.nodes.insert(
        "fc".into(),
        Node::new(
            "Linear",
            [("weight", Array::new(vec![2, 2], vec![1.0, 0.0, 0.0, 1.0]))],
        ),
    );
    chain.push("fc".into());
    if let Some(n) = after {
        g.nodes.insert("d1".into(), n);
        chain.push("d1".into());
    }
    g.nodes.insert(
        "th".into(),
        Node::new("Threshold", [("threshold", v(&[0.5]))]),
    );
    g.nodes
        .insert("out".into(), Node::new("Output", [("shape", v(&[2.0]))]));
    chain.push("th".into());
    chain.push("out".into());
    g.edges = chain
        .windows(2)
        .map(|w| (w[0].clone(), w[1].clone()))
        .collect();
    g
}

fn spike_steps(g: &Graph) -> Vec<Vec<usize>> {
    let l = lower(g, 1e-3).unwrap();
    let mut x = vec![vec![0.0; 2]; 8];
    x[0] = vec![1.0, 1.0];
    let y = float_run(&l, &x).spikes;
    (0..2)
        .map(|i| (0..y.len()).filter(|&t| y[t][i] == 1).collect())
        .collect()
}

#[test]
fn delays_add_steps_per_input_and_per_output() {
    let delay = |d: &[f64]| Some(Node::new("Delay", [("delay", v(d))]));
    // Without a delay the spike of step 0 crosses the Linear in one step.
    assert_eq!(spike_steps(&delayed(None, None)), [vec![1], vec![1]]);
    assert_eq!(
        spike_steps(&delayed(delay(&[2e-3, 0.0]), None)),
        [vec![3], vec![1]]
    );
    assert_eq!(
        spike_steps(&delayed(None, delay(&[0.0, 3e-3]))),
        [vec![1], vec![4]]
    );
    assert_eq!(
        spike_steps(&delayed(delay(&[1e-3]), delay(&[0.0, 2e-3]))),
        [vec![2], vec![4]]
    );
    let q = quantise(lower(&delayed(delay(&[2e-3, 0.0]), None), 1e-3).unwrap()).unwrap();
    let d = q.file.layers[1].delay.as_ref().expect("delays");
    assert_eq!(d.as_i64().unwrap(), [2, 0, 2, 0]);
    let (node, why) = unsupported(lower(&delayed(delay(&[0.1]), None), 1e-3).unwrap_err());
    assert_eq!(node, "d0");
    assert!(why.contains("100 steps"), "{why}");
}

#[test]
fn flipped_bytes_give_a_graph_or_a_one_line_error() {
    // A seeded linear congruential generator (no dependency): 300 files with 1 to 4 bytes
    // changed, each read, lowered, quantised and run for 4 steps without a panic.
    let mut state: u64 = 0x6e69_725f_6669_7865;
    let mut next = || {
        state = state
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        (state >> 33) as usize
    };
    let files: Vec<Vec<u8>> = ["lif_dense.nir", "cubalif_dense.nir", "conv_pool_dense.nir"]
        .iter()
        .map(|f| std::fs::read(data(f)).unwrap())
        .collect();
    let (mut read_errors, mut lowered) = (0, 0);
    for case in 0..300 {
        let mut bytes = files[case % files.len()].clone();
        for _ in 0..1 + next() % 4 {
            let at = next() % bytes.len();
            bytes[at] ^= 1 << (next() % 8);
        }
        match loisim_nir::read_bytes("flip.nir", bytes) {
            Err(e) => {
                read_errors += 1;
                assert!(!e.to_string().contains('\n'), "case {case}: {e}");
            }
            Ok(g) => match lower(&g, 1e-3).and_then(quantise) {
                Ok(q) => {
                    lowered += 1;
                    let n: usize = q.lowered.input_shape.iter().product();
                    let _ = float_run(&q.lowered, &vec![vec![1.0; n]; 4]);
                }
                Err(e) => assert!(!e.to_string().contains('\n'), "case {case}: {e}"),
            },
        }
    }
    assert!(read_errors > 0 && lowered > 0, "{read_errors} {lowered}");
}

#[test]
fn node_names_with_line_breaks_stay_on_one_line() {
    let mut g = small(Node::new("Izhi\nkevich", []));
    let n = g.nodes.remove("n").unwrap();
    g.nodes.insert("bad\nname".into(), n);
    for e in &mut g.edges {
        for end in [&mut e.0, &mut e.1] {
            if end == "n" {
                *end = "bad\nname".into();
            }
        }
    }
    let e = lower(&g, 1e-3).unwrap_err().to_string();
    assert!(!e.contains('\n') && e.contains("bad?name"), "{e}");
}
