//! The S5 network written in the general IR computes what the S5 reference computes: the IR
//! interpreter, on the five S5 neuron programs as descriptions, gives the reference's output
//! integers for every token, in pipeline and fall-through pacing, on shipped and random models
//! (recipes other than W8A16 included).

use loisim_arch::Chip;
use loisim_compiler::to_ir::{Pacing, output_timestep, s5_to_ir, timestep_inputs};
use loisim_compiler::{CompileOptions, compile};
use loisim_import::observe::Recipe;
use loisim_import::synth::{Distribution, GenConfig, generate, pseudo_spectrum};
use loisim_model::{Model, Reference};
use proptest::prelude::*;
use std::path::PathBuf;

/// Runs `n_tokens` pseudo-spectrum tokens through the reference and through the IR network in
/// both pacings; returns the IR interpreter's saturation and wrap counts (pipeline).
fn check(model: &Model, n_tokens: usize, seed: u64) -> loisim_net::Events {
    let chip = Chip::default_chip();
    let opts = CompileOptions {
        place_sweeps: 2,
        ..CompileOptions::default()
    };
    let prog = compile(model, &chip, &opts, None).expect("compiles");
    let net = &prog.network;
    let tokens =
        loisim_import::input::tokens_from_magnitudes(&pseudo_spectrum(seed, n_tokens), model)
            .expect("tokens");
    let want = Reference::new(model)
        .expect("valid")
        .run(&tokens)
        .expect("reference");
    let acc_bits = chip.core.accumulator_bits.value;
    let mut events = loisim_net::Events::default();
    for pacing in [Pacing::Pipeline, Pacing::FallThrough] {
        let ir = s5_to_ir(net, acc_bits, pacing);
        let inputs = timestep_inputs(net, &tokens, pacing);
        let at: Vec<u64> = (0..n_tokens)
            .map(|k| output_timestep(net, pacing, k))
            .collect();
        let mut r = loisim_net::Reference::new(&ir).expect("the IR network is valid");
        let mut got = Vec::new();
        let mut dropped = 0;
        for (t, x) in inputs.iter().enumerate() {
            let s = r.step(x).expect("step");
            dropped += s.activity.dropped;
            if at.contains(&(t as u64)) {
                got.push(s.outputs[0].clone());
            }
        }
        assert_eq!(
            dropped, 0,
            "{pacing:?}: every message lands when its target updates"
        );
        assert_eq!(got.len(), n_tokens);
        for (k, (g, w)) in got.iter().zip(&want).enumerate() {
            let w: Vec<i64> = w.iter().map(|&v| i64::from(v)).collect();
            assert_eq!(g, &w, "{pacing:?}: token {k} differs");
        }
        if pacing == Pacing::Pipeline {
            events = r.events();
        }
    }
    events
}

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

#[test]
fn shipped_s5_models_as_ir_networks_compute_the_reference_integers() {
    for name in ["s5-sparse-0.25x", "s5-dense-0.25x"] {
        let bytes = std::fs::read(root().join(format!("models/{name}.bin"))).expect("model");
        let model = loisim_model::codec::decode(&bytes).expect("decode");
        check(&model, 6, 7);
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(24))]

    #[test]
    fn random_s5_models_as_ir_networks_compute_the_reference_integers(
        blocks in 1u32..=2, layers in 1usize..=2, sparsity in 0.0f64..0.9, uniform in any::<bool>(),
        seed in any::<u64>(), w_bits in 4i64..=8, a_bits in 10i64..=24,
    ) {
        let cfg = GenConfig {
            width: f64::from(blocks) / 16.0,
            n_layers: layers,
            sparsity,
            distribution: if uniform { Distribution::Uniform } else { Distribution::Erk },
            seed,
            recipe: Recipe { weight_bits: w_bits, bias_bits: a_bits.max(16), act_bits: a_bits },
        };
        let Ok(g) = generate(&cfg, "random", &pseudo_spectrum(seed, 8)) else {
            // A recipe whose formats need an impossible shift is refused, as it should be.
            return Ok(());
        };
        check(&g.model, 5, seed);
    }
}

/// The cost model prices an S5 neuron update at the instructions derived from its program's
/// description, by the rule of every IR network (`loisim_net::NeuronProgram::instructions`,
/// all classes), not at a count kept by hand.
#[test]
fn each_s5_program_is_priced_at_the_instructions_derived_from_its_description() {
    let chip = Chip::default_chip();
    let acc_bits = chip.core.accumulator_bits.value;
    for name in [
        "s5-sparse-0.25x",
        "s5-dense-0.25x",
        "s5-sparse-1x",
        "s5-dense-1x",
        "s5-sparse-3x",
        "s5-dense-3x",
    ] {
        let bytes = std::fs::read(root().join(format!("models/{name}.bin"))).expect("model");
        let model = loisim_model::codec::decode(&bytes).expect("decode");
        let net = loisim_compiler::network::lower(
            &model,
            &chip.noc.payload_bits.value,
            chip.core.max_weight_bits.value,
        )
        .expect("lower");
        for pacing in [Pacing::Pipeline, Pacing::FallThrough] {
            let ir = s5_to_ir(&net, acc_bits, pacing);
            for (p, ip) in net.populations.iter().zip(&ir.populations) {
                let derived = ir.programs[ip.program.0 as usize].instructions().total();
                assert_eq!(
                    p.program.instructions(),
                    derived,
                    "{name}, {}: the priced count is the derived one",
                    p.name
                );
            }
        }
    }
    // The counts of docs/networks.md (s5-sparse-0.25x): the hand-kept literals were encoder
    // 17, SSM state 23, SSM output 14, gate 37 (27 for the last block), decoder 5.
    let bytes = std::fs::read(root().join("models/s5-sparse-0.25x.bin")).expect("model");
    let model = loisim_model::codec::decode(&bytes).expect("decode");
    let net = loisim_compiler::network::lower(
        &model,
        &chip.noc.payload_bits.value,
        chip.core.max_weight_bits.value,
    )
    .expect("lower");
    let got: String = net
        .populations
        .iter()
        .map(|p| format!("{} {}\n", p.name, p.program.instructions()))
        .collect();
    expect_test::expect![[r#"
        encoder 26
        L0.ssm 46
        L0.y 21
        L0.gate 63
        L1.ssm 46
        L1.y 21
        L1.gate 64
        L2.ssm 46
        L2.y 21
        L2.gate 49
        decoder 8
    "#]]
    .assert_eq(&got);
}
