//! The chip simulator against the reference executor: the same integers, token for token.

use loisim_arch::Chip;
use loisim_compiler::{CompileOptions, compile};
use loisim_import::case::ReferenceCase;
use loisim_import::export_v1::import_export_v1;
use loisim_model::{Model, Reference};
use loisim_sim::{SimOptions, simulate};
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
    assert_eq!(res, single, "results depend on the thread count");
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
        assert!(
            m.min_margin_over_lower_bound_ns >= 0.0,
            "a timestep is below the max-affine bound"
        );
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

    fn magnitudes(seed: u64, n: usize) -> Vec<f32> {
        // A deterministic positive pseudo-spectrum.
        (0..n * 257)
            .map(|k| {
                let h = (k as u64 ^ seed).wrapping_mul(0x9E37_79B9_7F4A_7C15);
                ((h >> 40) as f32 / (1u64 << 24) as f32) * 0.3
            })
            .collect()
    }

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
            let cal = magnitudes(seed, 16);
            let g = generate(&cfg, "random", &cal).expect("generate");
            let inputs = loisim_import::input::tokens_from_magnitudes(&magnitudes(seed ^ 1, n_tokens), &g.model).expect("tokens");
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
