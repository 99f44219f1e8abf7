//! Invariants of the compiler on random models, and snapshots of its reports.

use loisim_arch::Chip;
use loisim_compiler::layout::{Axis, Board, Endpoint};
use loisim_compiler::network::Source;
use loisim_compiler::report::MapReport;
use loisim_compiler::{Activity, CompileError, CompileOptions, Program, compile};
use loisim_import::observe::Recipe;
use loisim_import::synth::{Distribution, GenConfig, generate};
use loisim_model::Model;
use proptest::prelude::*;
use std::collections::BTreeSet;
use std::path::PathBuf;

fn compile_somewhere(model: &Model, opts: &CompileOptions) -> Program {
    match compile(model, &Chip::default_chip(), opts, None) {
        Err(CompileError::DoesNotFit { .. }) => compile(
            model,
            &Chip::preset("kapoho-point").expect("preset"),
            opts,
            None,
        )
        .expect("compile"),
        other => other.expect("compile"),
    }
}

/// Every property the issue names, checked on one program.
fn check_invariants(prog: &Program) {
    let net = &prog.network;
    let chip = &prog.chip;
    // Every neuron placed exactly once.
    for (pi, p) in net.populations.iter().enumerate() {
        let mut ranges: Vec<(u32, u32)> = prog
            .pieces
            .iter()
            .filter(|x| x.pop.index() == pi)
            .map(|x| (x.start, x.end))
            .collect();
        ranges.sort_unstable();
        let mut next = 0;
        for (a, b) in ranges {
            assert_eq!(
                a, next,
                "{}: neurons {next}..{a} unplaced or overlapping",
                p.name
            );
            assert!(b > a);
            next = b;
        }
        assert_eq!(next, p.n_neurons, "{}: not every neuron placed", p.name);
    }
    // One piece per core, no core used twice.
    let cores: BTreeSet<u32> = prog.pieces.iter().map(|p| p.core.0).collect();
    assert_eq!(cores.len(), prog.pieces.len());
    // Every synapse placed exactly once, with its weight.
    let mut placed: BTreeSet<(usize, u32, u32, i32)> = BTreeSet::new();
    let mut n_placed = 0usize;
    for c in &prog.cores {
        let piece = prog.pieces[c.pieces[0].0 as usize];
        for a in &c.axons {
            for s in &a.synapses {
                let proj = net
                    .projections
                    .iter()
                    .position(|p| p.src == a.src && p.dst == piece.pop && p.port == s.port)
                    .expect("a synapse belongs to a projection");
                placed.insert((proj, a.neuron, piece.start + s.target, s.weight));
                n_placed += 1;
            }
        }
    }
    let mut expected = BTreeSet::new();
    for (k, p) in net.projections.iter().enumerate() {
        for (i, o, w) in p.weights.entries() {
            expected.insert((k, i as u32, o as u32, w as i32));
        }
    }
    assert_eq!(
        n_placed,
        expected.len(),
        "a synapse is placed twice or missing"
    );
    assert!(
        placed == expected,
        "placed synapses differ from the projections"
    );
    // No core over any limit.
    let knob = chip
        .core
        .max_neurons
        .value
        .min(prog.options.max_neurons_per_core);
    for c in &prog.cores {
        assert!(c.n_neurons <= knob);
        assert!(c.memory.synaptic_bytes <= chip.core.max_synaptic_bytes.value);
        assert!(c.memory.total() <= chip.core.memory_bytes.value);
        assert!(c.axons.len() as u32 <= chip.core.max_input_axons.value);
        assert!(c.output_axons <= chip.core.max_output_axons.value);
    }
    for p in &net.projections {
        assert!(p.delay <= chip.core.max_delay.value);
        assert_eq!(
            p.delay + 1 + src_stage(prog, p.src),
            net.pop(p.dst).stage,
            "{}: delay does not balance the paths",
            p.name
        );
    }
    // Routes are valid XY paths between their endpoints.
    let board = Board::new(chip).expect("board");
    for f in &prog.flows {
        let (mut at, to) = (board.router(f.src), board.router(f.dst));
        let mut seen_y = false;
        for l in &f.links {
            let link = prog.links[l.index()];
            assert_eq!(link.from, at, "route is not contiguous");
            if link.axis == Axis::Y {
                seen_y = true;
            } else {
                assert!(!seen_y, "an x hop after a y hop");
            }
            at = link.to;
        }
        assert_eq!(at, to, "route does not reach its destination");
        assert_eq!(f.links.len() as u32, board.hops(f.src, f.dst));
        assert!(f.src != Endpoint::Host || f.dst != Endpoint::Host);
    }
}

fn src_stage(prog: &Program, s: Source) -> u32 {
    match s {
        Source::Host => 0,
        Source::Pop(p, _) => prog.network.pop(p).stage,
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 32, ..ProptestConfig::default() })]
    #[test]
    fn random_models_map_correctly_and_deterministically(
        blocks in 1u32..=6, layers in 1usize..=3, sparsity in 0.0f64..0.95, uniform in any::<bool>(),
        seed in any::<u64>(), per_core in 1u32..80,
    ) {
        let cfg = GenConfig {
            width: f64::from(blocks) / 16.0,
            n_layers: layers,
            sparsity,
            distribution: if uniform { Distribution::Uniform } else { Distribution::Erk },
            seed,
            recipe: Recipe::W8A16,
        };
        let g = generate(&cfg, "random", &loisim_import::synth::pseudo_spectrum(seed, 8)).expect("generate");
        let opts = CompileOptions { max_neurons_per_core: per_core, ..CompileOptions::default() };
        let prog = compile_somewhere(&g.model, &opts);
        check_invariants(&prog);
        // The same model maps to the same program, and the same report bytes.
        let again = compile_somewhere(&g.model, &opts);
        prop_assert!(prog == again);
        let a = serde_json::to_string(&MapReport::new(&prog, &Activity::all_active(&prog.network))).expect("json");
        let b = serde_json::to_string(&MapReport::new(&again, &Activity::all_active(&again.network))).expect("json");
        prop_assert_eq!(a, b);
    }
}

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn shipped(name: &str) -> Model {
    loisim_model::codec::decode(&std::fs::read(root().join("models").join(name)).expect("model"))
        .expect("decode")
}

#[test]
fn shipped_models_satisfy_every_invariant() {
    for name in [
        "s5-sparse-0.25x.bin",
        "s5-dense-0.25x.bin",
        "s5-sparse-1x.bin",
        "s5-dense-1x.bin",
        "s5-sparse-3x.bin",
        "s5-dense-3x.bin",
    ] {
        let prog = compile(
            &shipped(name),
            &Chip::default_chip(),
            &CompileOptions::default(),
            None,
        )
        .expect("fits one chip");
        check_invariants(&prog);
    }
}

#[test]
fn a_model_too_large_says_so_and_names_a_board_that_fits() {
    let opts = CompileOptions {
        max_neurons_per_core: 4,
        ..CompileOptions::default()
    };
    let err = compile(
        &shipped("s5-sparse-1x.bin"),
        &Chip::default_chip(),
        &opts,
        None,
    )
    .unwrap_err()
    .to_string();
    assert!(
        err.contains("needs") && err.contains("kapoho-point"),
        "{err}"
    );
    let opts = CompileOptions {
        max_neurons_per_core: 1,
        ..CompileOptions::default()
    };
    let err = compile(
        &shipped("s5-dense-3x.bin"),
        &Chip::default_chip(),
        &opts,
        None,
    )
    .unwrap_err()
    .to_string();
    assert!(err.contains("does not fit a Kapoho Point"), "{err}");
}

#[test]
fn report_snapshots_of_the_smallest_model() {
    let model = shipped("s5-sparse-0.25x.bin");
    let prog = compile(
        &model,
        &Chip::default_chip(),
        &CompileOptions::default(),
        None,
    )
    .expect("compile");
    let report = MapReport::new(&prog, &Activity::all_active(&prog.network));
    expect_test::expect_file!["snapshots/map-s5-sparse-0.25x.txt"].assert_eq(&report.text());
    expect_test::expect_file!["snapshots/map-s5-sparse-0.25x.json"]
        .assert_eq(&serde_json::to_string_pretty(&report).expect("json"));
}

#[test]
fn compiling_for_an_unvalidated_board_above_the_cap_is_an_error_not_an_abort() {
    let model = shipped("s5-sparse-0.25x.bin");
    let mut chip = Chip::default_chip();
    chip.mesh.routers_x.value = 1_048_575;
    chip.mesh.routers_y.value = 1_048_575;
    let e = compile(&model, &chip, &CompileOptions::default(), None).expect_err("too large");
    assert!(matches!(e, CompileError::Chip(_)), "{e}");
    assert!(e.to_string().contains("limit of 1048576 cores"), "{e}");
}
