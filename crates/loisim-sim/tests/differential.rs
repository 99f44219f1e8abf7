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
    let prog = compile(model, &Chip::default_chip(), opts, None).expect("compile");
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
