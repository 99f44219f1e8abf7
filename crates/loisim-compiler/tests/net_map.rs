//! Partition and placement of general IR networks.

use loisim_arch::Chip;
use loisim_compiler::net_map::{NetMapError, partition, place};
use loisim_net::random::{self, Shape};
use proptest::prelude::*;
use std::collections::BTreeSet;

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    #[test]
    fn placement_puts_every_core_once_deterministically_and_never_worse(
        seed in any::<u64>(), per_core in 1u32..8,
    ) {
        let net = random::network(seed, &Shape { max_populations: 6, max_neurons: 24, ..Shape::default() });
        let chip = Chip::default_chip();
        let m = partition(&net, &chip, per_core).expect("maps");
        // Every neuron on exactly one core.
        for (pi, p) in net.populations.iter().enumerate() {
            let mut n = 0;
            for g in m.cores.iter().flatten().filter(|g| g.pop.index() == pi) {
                n += g.end - g.start;
            }
            prop_assert_eq!(n, p.size);
        }
        let start = place(&net, &m, &chip, 0).expect("places");
        let l = place(&net, &m, &chip, 4).expect("places");
        let distinct: BTreeSet<_> = l.cores.iter().collect();
        prop_assert_eq!(distinct.len(), m.cores.len());
        prop_assert!(l.hop_bits_per_step <= start.hop_bits_per_step + 1e-9);
        prop_assert_eq!(l.traffic_bits_per_step, start.traffic_bits_per_step);
        prop_assert_eq!(&place(&net, &m, &chip, 4).expect("again"), &l);
    }
}

#[test]
fn limits_of_the_chip_are_named_errors() {
    let mut net = random::network(3, &Shape::default());
    let chip = Chip::default_chip();
    // A delay past the chip's 62.
    net.projections[0].delay = loisim_net::Delay::Uniform(63);
    let e = partition(&net, &chip, 8).expect_err("delay").to_string();
    assert!(e.contains("at most 62"), "{e}");
    // Weights wider than 8 bits.
    let mut net = random::network(3, &Shape::default());
    net.projections[0].synapses = match &net.projections[0].synapses {
        loisim_net::Synapses::Identity { .. } => loisim_net::Synapses::Identity { weight: 1001 },
        loisim_net::Synapses::Dense { weights } => loisim_net::Synapses::Dense {
            weights: weights.iter().map(|_| 1001).collect(),
        },
        loisim_net::Synapses::Sparse {
            start,
            target,
            weights,
        } => loisim_net::Synapses::Sparse {
            start: start.clone(),
            target: target.clone(),
            weights: weights.iter().map(|_| 1001).collect(),
        },
        loisim_net::Synapses::OneToOne { weights } => loisim_net::Synapses::OneToOne {
            weights: weights.iter().map(|_| 1001).collect(),
        },
        loisim_net::Synapses::Conv(c) => loisim_net::Synapses::Conv(loisim_net::Conv {
            weights: c.weights.iter().map(|_| 1001).collect(),
            ..c.clone()
        }),
    };
    let e = partition(&net, &chip, 8).expect_err("weights").to_string();
    assert!(e.contains("11-bit weights"), "{e}");
    // A population whose single neuron has more input axons than a core.
    let mut small = chip.clone();
    small.core.max_input_axons.value = 1;
    let net = random::network(11, &Shape::default());
    match partition(&net, &small, 1) {
        Err(NetMapError::PieceTooLarge { message, .. }) => {
            assert!(message.contains("input axons"), "{message}")
        }
        other => panic!("expected a piece too large, got {other:?}"),
    }
}

#[test]
fn the_map_report_of_the_s5_network_written_in_the_ir() {
    use loisim_compiler::net_map::NetMapReport;
    use loisim_compiler::to_ir::{Pacing, s5_to_ir};
    let bytes = std::fs::read(
        std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("../../models/s5-sparse-0.25x.bin"),
    )
    .expect("model");
    let model = loisim_model::codec::decode(&bytes).expect("decode");
    let chip = Chip::default_chip();
    let prog = loisim_compiler::compile(
        &model,
        &chip,
        &loisim_compiler::CompileOptions::default(),
        None,
    )
    .expect("compile");
    let ir = s5_to_ir(
        &prog.network,
        chip.core.accumulator_bits.value,
        Pacing::Pipeline,
    );
    let m = partition(&ir, &chip, 64).expect("maps");
    let l = place(&ir, &m, &chip, 4).expect("places");
    let r = NetMapReport::new(&ir, &chip, &m, &l);
    let neurons: u64 = ir.populations.iter().map(|p| u64::from(p.size)).sum();
    assert_eq!(r.neurons, neurons);
    assert_eq!(r.cores_used, m.cores.len());
    expect_test::expect_file!["snapshots/netmap-s5-sparse-0.25x.txt"].assert_eq(&r.text());
}

/// lava-dl's PilotNet (`crates/loisim-netx/tests/data`) as netx builds it by default, cut with
/// up to a core's neurons per piece.
fn pilotnet_on_loihi2(file: &str) -> (loisim_net::Network, loisim_compiler::net_map::NetMapping) {
    let path = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../loisim-netx/tests/data")
        .join(file);
    let netx = loisim_netx::read(path).expect("readable");
    let net = loisim_netx::to_network(&netx, &loisim_netx::NetxOptions::default())
        .expect("netx builds it")
        .network;
    let chip = Chip::default_chip();
    assert_eq!(
        chip.board_size().ok().map(|s| s.cores),
        Some(128),
        "Oheo Gulch"
    );
    let m = partition(&net, &chip, chip.core.max_neurons.value).expect("fits the board");
    (net, m)
}

/// The cores a network needs at least: its neurons at a core's most.
fn neuron_bound(net: &loisim_net::Network) -> usize {
    let n: u64 = net.populations.iter().map(|p| u64::from(p.size)).sum();
    let per_core = u64::from(Chip::default_chip().core.max_neurons.value);
    n.div_ceil(per_core) as usize
}

/// Conv layers are tiled by position: a core holding one piece of a conv layer's population
/// has an input axon for at most every source neuron in the rows along `x` its windows read
/// (the piece's own rows times the stride, plus the kernel's halo, each with all its `y` and
/// channels).
fn assert_conv_pieces_are_strips(
    net: &loisim_net::Network,
    m: &loisim_compiler::net_map::NetMapping,
) {
    let mut checked = BTreeSet::new();
    for (group, u) in m.cores.iter().zip(&m.usage) {
        let [piece] = group[..] else { continue };
        let into: Vec<_> = net
            .projections
            .iter()
            .filter(|p| p.dst.pop == piece.pop)
            .collect();
        let [pr] = into[..] else { continue };
        let loisim_net::Synapses::Conv(c) = &pr.synapses else {
            continue;
        };
        let loisim_net::Source::Population { pop: src, .. } = pr.src else {
            continue;
        };
        let [xi, yi, ci] = net.populations[src.index()].shape();
        let [_, yo, co] = net.populations[piece.pop.index()].shape();
        let (x0, x1) = (piece.start / (yo * co), (piece.end - 1) / (yo * co));
        let lo = (x0 * c.stride[0]).saturating_sub(c.padding[0]);
        let hi = (x1 * c.stride[0] + (c.kernel[0] - 1) * c.dilation[0])
            .saturating_sub(c.padding[0])
            .min(xi - 1);
        let rows_bound = (hi - lo + 1) * yi * ci;
        assert!(
            u.input_axons <= rows_bound,
            "{}[{}..{}]: {} input axons, its source rows {lo}..={hi} hold {rows_bound}",
            net.populations[piece.pop.index()].name,
            piece.start,
            piece.end,
            u.input_axons
        );
        checked.insert(piece.pop);
    }
    let conv_layers: BTreeSet<_> = net
        .projections
        .iter()
        .filter(|p| matches!(p.synapses, loisim_net::Synapses::Conv(_)))
        .map(|p| p.dst.pop)
        .collect();
    assert_eq!(checked, conv_layers, "a piece of every conv layer checked");
}

#[test]
fn pilotnet_lif_fits_the_oheo_gulch_board() {
    // 158,509 neurons: at least 20 cores by neurons. Per-core memory (a LIF neuron keeps 6
    // words of state and parameters) and the 4,096 input axons (the input block's host input,
    // and each conv strip's source rows) make it more; channel-major pieces needed 2,038.
    let (net, m) = pilotnet_on_loihi2("pilotnet_lif.net");
    let lower = neuron_bound(&net);
    assert_eq!(lower, 20);
    assert!(
        m.cores.len() >= lower && m.cores.len() <= 4 * lower,
        "{} cores",
        m.cores.len()
    );
    assert_conv_pieces_are_strips(&net, &m);
}

#[test]
fn pilotnet_sdnn_fits_the_oheo_gulch_board() {
    // 43,117 neurons: at least 6 cores by neurons; channel-major pieces needed 554.
    let (net, m) = pilotnet_on_loihi2("pilotnet_sdnn.net");
    let lower = neuron_bound(&net);
    assert_eq!(lower, 6);
    assert!(
        m.cores.len() >= lower && m.cores.len() <= 4 * lower,
        "{} cores",
        m.cores.len()
    );
    assert_conv_pieces_are_strips(&net, &m);
}
