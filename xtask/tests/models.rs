//! `models/` is exactly what `cargo xtask models` builds: regenerating reproduces every
//! committed byte.

use std::path::PathBuf;
use xtask::models::{default_input, model_bytes, npy_f32, readme, specs};

fn models_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../models")
}

#[test]
fn models_are_reproducible() {
    let dir = models_dir();
    let input = default_input().expect("default input");
    let tmp = tempfile::tempdir().expect("tmp");
    for (name, samples) in [
        ("default-clip-noisy.wav", &input.noisy),
        ("default-clip-clean.wav", &input.clean),
    ] {
        let p = tmp.path().join(name);
        loisim_audio::write_wav(&p, samples, loisim_audio::SAMPLE_RATE).expect("wav");
        let fresh = std::fs::read(&p).expect("read");
        let committed = std::fs::read(dir.join(name)).expect("committed wav");
        assert!(
            fresh == committed,
            "models/{name} differs from a fresh build; run `cargo xtask models`"
        );
    }
    let npy = npy_f32(&input.features, 257).expect("npy");
    assert!(
        npy == std::fs::read(dir.join("default-input.npy")).expect("committed npy"),
        "models/default-input.npy differs"
    );
    let mut built = Vec::new();
    for spec in specs() {
        let fresh = model_bytes(&spec, &input).expect("model");
        let committed = std::fs::read(dir.join(spec.file)).expect("committed model");
        assert!(
            fresh == committed,
            "models/{} differs from a fresh build; run `cargo xtask models`",
            spec.file
        );
        built.push((spec, fresh));
    }
    let text = readme(&built, &input).expect("readme");
    assert!(
        text == std::fs::read_to_string(dir.join("README.md")).expect("committed README"),
        "models/README.md differs from a fresh build; run `cargo xtask models`"
    );
}

#[test]
fn cost_model_doc_quotes_the_calibrated_values() {
    let prior = loisim_arch::Chip::loihi2_priors().expect("priors");
    let fitted = loisim_arch::Chip::preset("loihi2").expect("preset");
    let table = xtask::calibrate::doc_table(&prior, &fitted, loisim_arch::LOIHI2_FIT);
    let doc = std::fs::read_to_string(
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../docs/cost-model.md"),
    )
    .expect("doc");
    assert!(
        doc.contains(&table),
        "docs/cost-model.md does not quote the current calibration; run `cargo xtask calibrate --write`"
    );
}

#[test]
fn regress_catches_an_injected_change_of_a_chip_cost() {
    use xtask::regress::run;
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..");
    let out = tempfile::tempdir().expect("tmp");
    let baselines = root.join("traces/baselines");
    let models = ["s5-sparse-0.25x"];
    let chip = loisim_arch::Chip::default_chip();
    let deltas = run(&root, &chip, &models, out.path(), &baselines, false).expect("regress");
    assert!(
        !deltas.is_empty() && deltas.iter().all(|d| !d.regressed),
        "{}",
        xtask::regress::table(&deltas)
    );
    // A 0.1 % slower synaptic operation is caught.
    let mut slower = chip.clone();
    slower.ops.synop.latency_ns.value *= 1.001;
    let deltas = run(&root, &slower, &models, out.path(), &baselines, false).expect("regress");
    assert!(
        deltas
            .iter()
            .any(|d| d.regressed && d.what.contains("latency_us")),
        "{}",
        xtask::regress::table(&deltas)
    );
    // So is a change of an energy.
    let mut costlier = chip.clone();
    costlier.noc.hop_x.energy_pj.value += 0.5;
    let deltas = run(&root, &costlier, &models, out.path(), &baselines, false).expect("regress");
    assert!(
        deltas
            .iter()
            .any(|d| d.regressed && d.what.contains("energy_dynamic_uj"))
    );
}

#[test]
fn regress_refuses_baselines_of_another_chip() {
    use xtask::regress::{baselines_dir, run};
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..");
    let out = tempfile::tempdir().expect("tmp");
    let models = ["s5-sparse-0.25x"];
    let loihi1 = loisim_arch::Chip::load("loihi1").expect("preset");
    // Each chip has its own baselines; the default chip's stay where they were.
    assert_eq!(
        baselines_dir(&root, &loisim_arch::Chip::default_chip()),
        root.join("traces/baselines")
    );
    assert_eq!(
        baselines_dir(&root, &loihi1),
        root.join("traces/baselines/loihi1")
    );
    // Comparing another chip's figures with the loihi2 baselines is an error, not a table
    // of spurious regressions.
    let err = run(
        &root,
        &loihi1,
        &models,
        out.path(),
        &root.join("traces/baselines"),
        false,
    )
    .expect_err("loihi1 figures against loihi2 baselines");
    let msg = format!("{err:#}");
    assert!(
        msg.contains("chip \"loihi2\"") && msg.contains("on \"loihi1\""),
        "{msg}"
    );
    // A baseline blessed for a chip is checked against runs on that chip.
    let blessed = tempfile::tempdir().expect("tmp");
    run(&root, &loihi1, &models, out.path(), blessed.path(), true).expect("bless");
    let text = std::fs::read_to_string(blessed.path().join("s5-sparse-0.25x.json")).expect("json");
    assert!(text.contains("\"chip\": \"loihi1\""), "{text}");
    let deltas = run(&root, &loihi1, &models, out.path(), blessed.path(), false).expect("regress");
    assert!(deltas.iter().all(|d| !d.regressed));
}
