//! The chip simulator against the reference executor: the same integers, token for token.

use loisim_arch::Chip;
use loisim_compiler::{CompileOptions, compile};
use loisim_import::case::ReferenceCase;
use loisim_import::export_v1::import_export_v1;
use loisim_model::{Model, Reference};
use loisim_sim::{SimOptions, SimResult, simulate};
use std::path::PathBuf;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn check(model: &Model, tokens: &[Vec<i32>], opts: &CompileOptions) {
    // Models too large for one chip run on an 8-chip board (multi-chip routes).
    let prog = match compile(model, &Chip::default_chip(), opts, None) {
        Err(loisim_compiler::CompileError::DoesNotFit { .. }) => compile(
            model,
            &Chip::preset("kapoho-point").expect("preset"),
            opts,
            None,
        )
        .expect("compile on kapoho-point"),
        other => other.expect("compile"),
    };
    let res = simulate(&prog, tokens, &SimOptions::default(), None, None).expect("simulate");
    let single = simulate(
        &prog,
        tokens,
        &SimOptions {
            threads: 1,
            ..SimOptions::default()
        },
        None,
        None,
    )
    .expect("simulate");
    assert_eq!(single.threads, 1);
    assert_eq!(
        SimResult {
            threads: 1,
            ..res.clone()
        },
        single,
        "results depend on the thread count"
    );
    let mut r = Reference::new(model).expect("valid");
    for (t, tok) in tokens.iter().enumerate() {
        let expected = r.step(tok).expect("input");
        assert_eq!(
            res.outputs[t], expected,
            "{}: token {t} differs",
            model.name
        );
    }
    for m in [res.fall_through.as_ref(), res.pipeline.as_ref()]
        .into_iter()
        .flatten()
    {
        // (The max-affine lower bound is checked from raw counts in tests/lower_bound.rs; the
        // reported margin is built from the same step and cannot fail.)
        assert_eq!(m.n_tokens, tokens.len());
    }
}

#[test]
fn reference_cases_match_on_the_chip() {
    for name in [
        "w025-plausible-s100",
        "w025-stress-s101",
        "w100-plausible-s102",
    ] {
        let dir = root().join("tests/data/fxp-s5").join(name);
        let model = import_export_v1(&dir.join("model.json")).expect("import");
        let case = ReferenceCase::load(&dir).expect("case");
        check(&model, &case.input, &CompileOptions::default());
        // A different partition computes the same integers.
        check(
            &model,
            &case.input,
            &CompileOptions {
                max_neurons_per_core: 17,
                ..CompileOptions::default()
            },
        );
    }
}

fn read_golden(path: &std::path::Path) -> Vec<i32> {
    let bytes = std::fs::read(path).expect("golden file");
    npyz::NpyFile::new(&bytes[..])
        .expect("npy")
        .into_vec::<i32>()
        .expect("int32")
}

#[test]
fn every_shipped_model_matches_its_golden_outputs_and_the_chip_matches_the_reference() {
    for (name, n_sim) in [
        ("s5-sparse-0.25x", 3751),
        ("s5-dense-0.25x", 1000),
        ("s5-sparse-1x", 400),
        ("s5-dense-1x", 100),
        ("s5-sparse-3x", 100),
        ("s5-dense-3x", 24),
    ] {
        let bytes = std::fs::read(root().join(format!("models/{name}.bin"))).expect("model");
        let model = loisim_model::codec::decode(&bytes).expect("decode");
        let tokens =
            loisim_import::input::read_tokens(&root().join("models/default-input.npy"), &model)
                .expect("input");
        // Reference against the committed golden outputs (first 32 tokens).
        let golden = read_golden(&root().join(format!("tests/data/golden/{name}.npy")));
        let out: Vec<i32> = loisim_model::reference::run_sequence(&model, &tokens[..32])
            .expect("run")
            .into_iter()
            .flatten()
            .collect();
        assert!(
            out == golden,
            "{name}: reference output differs from tests/data/golden/{name}.npy"
        );
        // Chip against reference.
        check(&model, &tokens[..n_sim], &CompileOptions::default());
    }
}

mod random_models {
    use super::*;
    use loisim_import::observe::Recipe;
    use loisim_import::synth::{Distribution, GenConfig, generate};
    use proptest::prelude::*;

    proptest! {
        #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]
        #[test]
        fn chip_equals_reference_on_random_models(
            blocks in 1u32..=4, layers in 1usize..=3, sparsity in 0.0f64..0.95, uniform in any::<bool>(),
            seed in any::<u64>(), per_core in 1u32..48, n_tokens in 1usize..12,
        ) {
            let cfg = GenConfig {
                width: f64::from(blocks) / 16.0,
                n_layers: layers,
                sparsity,
                distribution: if uniform { Distribution::Uniform } else { Distribution::Erk },
                seed,
                recipe: Recipe::W8A16,
            };
            let cal = loisim_import::synth::pseudo_spectrum(seed, 16);
            let g = generate(&cfg, "random", &cal).expect("generate");
            let inputs = loisim_import::input::tokens_from_magnitudes(&loisim_import::synth::pseudo_spectrum(seed ^ 1, n_tokens), &g.model).expect("tokens");
            check(&g.model, &inputs, &CompileOptions { max_neurons_per_core: per_core, ..CompileOptions::default() });
        }
    }
}

#[test]
fn a_session_fed_in_small_chunks_equals_one_simulation() {
    let bytes = std::fs::read(root().join("models/s5-sparse-0.25x.bin")).expect("model");
    let model = loisim_model::codec::decode(&bytes).expect("decode");
    let tokens =
        loisim_import::input::read_tokens(&root().join("models/default-input.npy"), &model)
            .expect("input");
    let tokens = &tokens[..300];
    let prog = compile(
        &model,
        &Chip::default_chip(),
        &CompileOptions::default(),
        None,
    )
    .expect("compile");
    let opts = SimOptions {
        threads: 2,
        ..SimOptions::default()
    };
    let whole = simulate(&prog, tokens, &opts, None, None).expect("simulate");
    // Chunks shorter than the thread-split measurement window, and of uneven sizes.
    let mut session = loisim_sim::Session::new(&prog, &opts);
    let mut outputs = Vec::new();
    let mut rest = tokens;
    for size in [1, 7, 13, 29].into_iter().cycle() {
        if rest.is_empty() {
            break;
        }
        let (chunk, tail) = rest.split_at(size.min(rest.len()));
        outputs.extend(session.run(chunk, None, None).expect("run"));
        rest = tail;
    }
    let mut chunked = session.finish(None);
    chunked.outputs = outputs;
    assert_eq!(whole, chunked);
}

mod unsupported_programs {
    use super::*;
    use loisim_sim::SimError;

    fn shipped() -> (Model, Vec<Vec<i32>>) {
        let bytes = std::fs::read(root().join("models/s5-sparse-0.25x.bin")).expect("model");
        let model = loisim_model::codec::decode(&bytes).expect("decode");
        let tokens =
            loisim_import::input::read_tokens(&root().join("models/default-input.npy"), &model)
                .expect("input");
        (model, tokens[..4].to_vec())
    }

    #[test]
    fn ports_the_program_does_not_read_are_an_error_not_dropped() {
        let (model, tokens) = shipped();
        let mut prog = compile(
            &model,
            &Chip::default_chip(),
            &CompileOptions::default(),
            None,
        )
        .expect("compile");
        assert!(simulate(&prog, &tokens, &SimOptions::default(), None, None).is_ok());
        // The encoder's program reads one port; declare five.
        prog.network.populations[0].port_delays = vec![0; 5];
        let e =
            simulate(&prog, &tokens, &SimOptions::default(), None, None).expect_err("five ports");
        assert!(matches!(e, SimError::Engine(_)), "{e}");
        let msg = e.to_string();
        assert!(
            msg.contains("uses 1 dendritic ports and the population declares 5")
                && msg.contains("at most 4"),
            "{msg}"
        );
    }

    #[test]
    fn channels_the_program_does_not_write_are_an_error() {
        let (model, tokens) = shipped();
        let mut prog = compile(
            &model,
            &Chip::default_chip(),
            &CompileOptions::default(),
            None,
        )
        .expect("compile");
        let extra = prog.network.populations[0].channels[0].clone();
        prog.network.populations[0].channels.push(extra);
        let mut session = loisim_sim::Session::new(&prog, &SimOptions::default());
        let e = session
            .run(&tokens, None, None)
            .expect_err("three channels");
        assert!(e.to_string().contains("output channels"), "{e}");
    }
}

/// Results do not depend on the thread count, on runs long enough that the other threads
/// really run (they start after `CALIBRATION_TOKENS` tokens measured on one thread).
mod thread_independence {
    use super::*;
    use loisim_import::observe::Recipe;
    use loisim_import::synth::{Distribution, GenConfig, generate};
    use loisim_sim::{CALIBRATION_TOKENS, Session};

    const N_TOKENS: usize = 160;

    /// A small random model and `N_TOKENS` tokens of input.
    fn sample(seed: u64) -> (Model, Vec<Vec<i32>>) {
        let cfg = GenConfig {
            width: 2.0 / 16.0,
            n_layers: 2,
            sparsity: 0.5,
            distribution: Distribution::Erk,
            seed,
            recipe: Recipe::W8A16,
        };
        let g = generate(
            &cfg,
            "threads",
            &loisim_import::synth::pseudo_spectrum(seed, 8),
        )
        .expect("generate");
        let tokens = loisim_import::input::tokens_from_magnitudes(
            &loisim_import::synth::pseudo_spectrum(seed ^ 0x5EED, N_TOKENS),
            &g.model,
        )
        .expect("tokens");
        (g.model, tokens)
    }

    #[test]
    fn several_threads_equal_one_thread_bit_for_bit_past_the_measurement_window() {
        const { assert!(N_TOKENS > 3 * CALIBRATION_TOKENS) };
        for seed in [11, 12, 13] {
            let (model, tokens) = sample(seed);
            let prog = compile(
                &model,
                &Chip::default_chip(),
                &CompileOptions {
                    max_neurons_per_core: 8,
                    ..CompileOptions::default()
                },
                None,
            )
            .expect("compile");
            let expected = loisim_model::reference::run_sequence(&model, &tokens).expect("run");
            for (fall_through, pipeline) in [(true, true), (true, false), (false, true)] {
                let run = |threads| {
                    let opts = SimOptions {
                        fall_through,
                        pipeline,
                        threads,
                    };
                    simulate(&prog, &tokens, &opts, None, None).expect("simulate")
                };
                let one = run(1);
                assert_eq!(one.threads, 1);
                assert_eq!(one.outputs, expected, "seed {seed}: chip vs reference");
                for threads in [2, 4, 16] {
                    let many = run(threads);
                    // Several threads ran, no more than asked.
                    assert!(
                        (2..=threads).contains(&many.threads),
                        "seed {seed}, {threads} threads: {} ran",
                        many.threads
                    );
                    let (a, b) = (many.fall_through.as_ref(), many.pipeline.as_ref());
                    for m in [a, b].into_iter().flatten() {
                        assert_eq!(m.n_tokens, N_TOKENS);
                    }
                    // Everything else, outputs, counts, energy and time totals, bit for bit.
                    assert_eq!(
                        SimResult { threads: 1, ..many },
                        one,
                        "seed {seed}, {threads} threads, modes ({fall_through}, {pipeline})"
                    );
                }
            }
        }
    }

    #[test]
    fn a_session_splits_the_work_after_the_measurement_window_and_changes_nothing() {
        let (model, tokens) = sample(21);
        let prog = compile(
            &model,
            &Chip::default_chip(),
            &CompileOptions::default(),
            None,
        )
        .expect("compile");
        let run = |threads, chunks: &[usize]| {
            let opts = SimOptions {
                threads,
                ..SimOptions::default()
            };
            let mut s = Session::new(&prog, &opts);
            let mut outputs = Vec::new();
            let mut rest = &tokens[..];
            for &n in chunks.iter().cycle() {
                if rest.is_empty() {
                    break;
                }
                let (chunk, tail) = rest.split_at(n.min(rest.len()));
                outputs.extend(s.run(chunk, None, None).expect("run"));
                rest = tail;
            }
            let split = s.split_tokens();
            let mut res = s.finish(None);
            res.outputs = outputs;
            (res, split)
        };
        let (one, split) = run(1, &[N_TOKENS]);
        assert_eq!(split, 0);
        // Chunks that straddle the end of the measurement window.
        for chunks in [&[N_TOKENS][..], &[30, 5, 40], &[47, 1, 1, 3]] {
            let (two, split) = run(2, chunks);
            assert_eq!(split, N_TOKENS - CALIBRATION_TOKENS, "chunks {chunks:?}");
            assert_eq!(two.threads, 2);
            assert_eq!(SimResult { threads: 1, ..two }, one, "chunks {chunks:?}");
        }
    }
}

/// Formats other than W8A16: the D term's exact product (spec 6.9) is shifted before it wraps;
/// the chip holds it in a dendritic accumulator, so it either fits (and the chip equals the
/// reference) or the compiler rejects the model.
mod wide_formats {
    use super::*;
    use loisim_import::observe::Recipe;
    use loisim_import::synth::{Distribution, GenConfig, generate};
    use proptest::prelude::*;

    /// A random model in `recipe` with `u_extra_exp` more fractional bits in u (larger
    /// integers, so |D u| reaches 2^31 and beyond: generated formats keep u near 2^22),
    /// compiled for loihi2 with `acc_bits`-bit accumulators: the chip equals the reference, or
    /// the compiler rejects the D term because the product may not fit the accumulator.
    fn check_wide(
        recipe: Recipe,
        u_extra_exp: i32,
        acc_bits: u32,
        layers: usize,
        sparsity: f64,
        seed: u64,
        n_tokens: usize,
    ) -> Result<(), TestCaseError> {
        let cfg = GenConfig {
            width: 1.0 / 16.0,
            n_layers: layers,
            sparsity,
            distribution: Distribution::Erk,
            seed,
            recipe,
        };
        let mut g = generate(
            &cfg,
            "wide",
            &loisim_import::synth::pseudo_spectrum(seed, 16),
        )
        .expect("generate");
        for b in &mut g.model.layers {
            b.ssm.u.exp += u_extra_exp;
        }
        prop_assume!(g.model.validate().is_ok());
        let tokens = loisim_import::input::tokens_from_magnitudes(
            &loisim_import::synth::pseudo_spectrum(seed ^ 1, n_tokens),
            &g.model,
        )
        .expect("tokens");
        let mut chip = Chip::default_chip();
        chip.core.accumulator_bits.value = acc_bits;
        match compile(&g.model, &chip, &CompileOptions::default(), None) {
            Err(loisim_compiler::CompileError::Limit {
                what,
                needed,
                limit,
                ..
            }) => {
                prop_assert!(what.contains(".D "), "{}", what);
                prop_assert!(needed > limit && limit == u64::from(acc_bits));
                // Only formats whose product can exceed the accumulator are rejected.
                prop_assert!(recipe.weight_bits + recipe.act_bits > i64::from(acc_bits));
            }
            Ok(prog) => {
                let res =
                    simulate(&prog, &tokens, &SimOptions::default(), None, None).expect("simulate");
                let expected =
                    loisim_model::reference::run_sequence(&g.model, &tokens).expect("reference");
                prop_assert_eq!(res.outputs, expected);
            }
            Err(e) => prop_assert!(false, "unexpected compile error: {}", e),
        }
        Ok(())
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]
        #[test]
        fn wide_formats_on_accumulators_that_hold_the_d_term_equal_the_reference(
            layers in 1usize..=2, sparsity in 0.0f64..0.9, seed in any::<u64>(),
            act_bits in prop::sample::select(vec![16i64, 20, 24, 32]),
            weight_bits in prop::sample::select(vec![6i64, 8]),
            acc_bits in prop::sample::select(vec![32u32, 48, 64]),
            u_extra_exp in 0i32..=8, n_tokens in 1usize..8,
        ) {
            let recipe = Recipe { weight_bits, bias_bits: act_bits, act_bits };
            check_wide(recipe, u_extra_exp, acc_bits, layers, sparsity, seed, n_tokens)?;
        }

        #[test]
        fn w8a32_with_a_large_d_term_on_32_bit_accumulators_is_rejected_not_wrapped(
            layers in 1usize..=2, sparsity in 0.0f64..0.9, seed in any::<u64>(),
            u_extra_exp in 4i32..=8, n_tokens in 1usize..8,
        ) {
            let recipe = Recipe { weight_bits: 8, bias_bits: 32, act_bits: 32 };
            check_wide(recipe, u_extra_exp, 32, layers, sparsity, seed, n_tokens)?;
        }
    }
}
