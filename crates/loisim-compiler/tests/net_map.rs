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
