//! The library entry point: one run, a streaming session, the report's schema.

use loisim::{Chip, CompileOptions, Input, Modes, RunOptions, Simulation};
use std::path::PathBuf;

fn models() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../models")
}

fn small(chip: &Chip) -> (Simulation, Vec<Vec<i32>>) {
    let model = loisim::load_model(&models().join("s5-sparse-0.25x.bin")).expect("model");
    let mut tokens =
        loisim::read_tokens(&models().join("default-input.npy"), &model).expect("tokens");
    tokens.truncate(100);
    let sim = Simulation::compile(model, chip, &CompileOptions::default()).expect("compile");
    (sim, tokens)
}

#[test]
fn a_session_owns_what_it_reads_and_chunking_changes_nothing() {
    let (sim, tokens) = small(&Chip::default_chip());
    let whole = sim
        .run(&Input::Tokens(tokens.clone()), &RunOptions::default(), None)
        .expect("run");
    let mut session = sim.session(Modes::BOTH, 2).expect("session");
    drop(sim);
    // The session holds no borrow: it can move to another thread, after its simulation is gone.
    let (outputs, report) = std::thread::spawn(move || {
        let mut outputs = Vec::new();
        for chunk in [&tokens[..7], &tokens[7..57], &tokens[57..]] {
            outputs.extend(session.run(chunk).expect("chunk"));
        }
        assert_eq!(session.tokens(), 100);
        (outputs, session.finish())
    })
    .join()
    .expect("thread");
    assert_eq!(outputs, whole.outputs);
    let (mut a, mut b) = (whole.report, report);
    a.sim = loisim::report::SimSpeed::default();
    b.sim = loisim::report::SimSpeed::default();
    assert_eq!(a, b);
    assert_eq!(a.tokens, 100);
}

#[test]
fn the_report_round_trips_through_its_json() {
    let (sim, tokens) = small(&Chip::default_chip());
    let opts = RunOptions {
        modes: Modes::PIPELINE,
        ..RunOptions::default()
    };
    let r = sim
        .run(&Input::Tokens(tokens), &opts, None)
        .expect("run")
        .report;
    assert!(r.fall_through.is_none());
    let p = r.pipeline.as_ref().expect("pipeline");
    assert_eq!((p.tokens, p.steps), (Some(100), None));
    let back: loisim::Report = serde_json::from_str(&r.to_json()).expect("parse");
    assert_eq!(back.schema_version, loisim::SCHEMA_VERSION);
    assert_eq!(
        back.pipeline.as_ref().map(|p| p.timesteps),
        Some(p.timesteps)
    );
    assert_eq!(back.model, r.model);
    assert_eq!(back.cores_used, r.cores_used);
}

#[test]
fn calibration_targets_need_the_unmodified_default_chip() {
    let opts = RunOptions {
        calibration_setup: true,
        modes: Modes::FALL_THROUGH,
        ..RunOptions::default()
    };
    let targets = |chip: &Chip| {
        let (sim, tokens) = small(chip);
        let mut t = tokens;
        t.truncate(5);
        sim.run(&Input::Tokens(t), &opts, None)
            .expect("run")
            .report
            .calibration_targets
    };
    let t = targets(&Chip::default_chip()).expect("targets on loihi2");
    assert_eq!(t.rows.len(), 3);
    assert!(t.note.contains("not a validation"));
    assert!(targets(&Chip::load("loihi1").expect("loihi1")).is_none());
    let mut changed = Chip::default_chip();
    changed.ops.synop.latency_ns.value *= 2.0;
    assert!(targets(&changed).is_none());
    // And never unless the caller says the setup is the poster's.
    let (sim, tokens) = small(&Chip::default_chip());
    let r = sim
        .run(&Input::Tokens(tokens), &RunOptions::default(), None)
        .expect("run");
    assert!(r.report.calibration_targets.is_none());
}

#[test]
fn modes_and_threads_are_checked() {
    let (sim, tokens) = small(&Chip::default_chip());
    let none = RunOptions {
        modes: Modes {
            fall_through: false,
            pipeline: false,
        },
        ..RunOptions::default()
    };
    assert!(
        sim.run(&Input::Tokens(tokens.clone()), &none, None)
            .is_err()
    );
    let zero = RunOptions {
        threads: 0,
        ..RunOptions::default()
    };
    assert!(sim.run(&Input::Tokens(tokens), &zero, None).is_err());
    assert!(sim.session(Modes::BOTH, 0).is_err());
}
