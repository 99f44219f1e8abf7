//! The timestep-major engine against the IR's reference interpreter on random networks: delays
//! (uniform and per synapse), recurrence, binary and graded spikes, conv, schedules, several
//! pieces per core, at 1, 2 and 3 threads. Outputs, activity and width events must be equal
//! every timestep.

use loisim_arch::Chip;
use loisim_compiler::net_map::{NetMapping, NetPiece, partition};
use loisim_net::random::{self, Shape};
use loisim_net::{Network, PopId, Reference};
use loisim_sim::net_engine::NetProgram;
use proptest::prelude::*;

fn compare(net: &Network, mapping: &NetMapping, seed: u64, steps: usize, threads: usize) {
    let inputs = random::inputs(net, seed, steps);
    let prog = NetProgram::new(net, mapping).expect("compiles");
    let mut engine = prog.start(threads);
    let mut reference = Reference::new(net).expect("valid");
    for (t, x) in inputs.iter().enumerate() {
        let a = reference.step(x).expect("reference");
        let b = engine.step(x).expect("engine");
        assert_eq!(
            a.outputs, b.outputs,
            "timestep {t}: outputs ({threads} threads)"
        );
        assert_eq!(a.activity, b.activity, "timestep {t}: activity");
    }
    assert_eq!(reference.events(), engine.events(), "events");
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn the_engine_computes_what_the_interpreter_does(
        seed in any::<u64>(), per_core in 1u32..10, threads in 1usize..=3,
    ) {
        let net = random::network(seed, &Shape::default());
        let mapping = partition(&net, &Chip::default_chip(), per_core).expect("maps");
        compare(&net, &mapping, seed, 14, threads);
    }
}

#[test]
fn random_mappings_share_cores_and_split_populations() {
    let (mut shared, mut split) = (0, 0);
    for seed in 0..100 {
        let net = random::network(seed, &Shape::default());
        let m = partition(&net, &Chip::default_chip(), 4).expect("maps");
        let wide = partition(&net, &Chip::default_chip(), 24).expect("maps");
        shared += usize::from(wide.cores.iter().any(|c| {
            c.iter()
                .map(|p| p.pop)
                .collect::<std::collections::BTreeSet<_>>()
                .len()
                > 1
        }));
        split += usize::from(net.populations.iter().enumerate().any(|(i, _)| {
            m.cores
                .iter()
                .flatten()
                .filter(|p| p.pop == PopId(i as u32))
                .count()
                > 1
        }));
    }
    assert!(shared >= 50 && split >= 50, "{shared} {split}");
}

#[test]
fn a_mapping_that_misses_or_repeats_a_neuron_is_refused() {
    let net = random::network(5, &Shape::default());
    let mut m = partition(&net, &Chip::default_chip(), 4).expect("maps");
    let all = m.clone();
    m.cores[0].pop();
    if m.cores[0].is_empty() {
        m.cores.remove(0);
    }
    let e = NetProgram::new(&net, &m).expect_err("missing").to_string();
    assert!(e.contains("is on no core"), "{e}");
    let mut twice = all;
    let first = twice.cores[0][0];
    twice.cores.push(vec![NetPiece { ..first }]);
    let e = NetProgram::new(&net, &twice)
        .expect_err("twice")
        .to_string();
    assert!(e.contains("placed twice"), "{e}");
}

#[test]
fn a_long_run_on_one_and_two_threads_is_identical() {
    // 300 timesteps: delay rings wrap many times.
    let net = random::network(
        42,
        &Shape {
            max_populations: 6,
            max_neurons: 20,
            max_delay: 9,
            ..Shape::default()
        },
    );
    let m = partition(&net, &Chip::default_chip(), 3).expect("maps");
    compare(&net, &m, 42, 300, 1);
    compare(&net, &m, 42, 300, 2);
}
