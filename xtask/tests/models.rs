//! `models/` is exactly what `cargo xtask models` builds: regenerating reproduces every
//! committed byte.

use std::path::PathBuf;
use xtask::models::{default_input, model_bytes, npy_f32, readme, specs, synthetic_calibration};

fn models_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../models")
}

#[test]
fn models_are_reproducible() {
    let dir = models_dir();
    let record = xtask::trained::read(&dir).expect("models/trained.json");
    xtask::trained::check(&dir, &record).expect("recorded files have their recorded hashes");
    let input = default_input(&dir).expect("default input");
    let npy = npy_f32(&input.features, 257).expect("npy");
    assert!(
        npy == std::fs::read(dir.join("default-input.npy")).expect("committed npy"),
        "models/default-input.npy differs from the features of default-clip-noisy.wav; run `cargo xtask models`"
    );
    let calibration = synthetic_calibration().expect("calibration");
    let mut built = Vec::new();
    for spec in specs() {
        let fresh = model_bytes(&spec, &calibration).expect("model");
        let committed = std::fs::read(dir.join(spec.file)).expect("committed model");
        assert!(
            fresh == committed,
            "models/{} differs from a fresh build; run `cargo xtask models`",
            spec.file
        );
        built.push((spec, fresh));
    }
    let trained: Vec<Vec<u8>> = record
        .models
        .iter()
        .map(|m| std::fs::read(dir.join(&m.file)).expect("trained model"))
        .collect();
    let text = readme(&built, &input, &record, &trained).expect("readme");
    assert!(
        text == std::fs::read_to_string(dir.join("README.md")).expect("committed README"),
        "models/README.md differs from a fresh build; run `cargo xtask models`"
    );
}

#[test]
fn a_recorded_file_with_another_hash_is_refused() {
    let dir = models_dir();
    let record = xtask::trained::read(&dir).expect("models/trained.json");
    let tmp = tempfile::tempdir().expect("tmp");
    for name in ["default-clip-noisy.wav", "default-clip-clean.wav"] {
        std::fs::copy(dir.join(name), tmp.path().join(name)).expect("copy");
    }
    for m in &record.models {
        std::fs::copy(dir.join(&m.file), tmp.path().join(&m.file)).expect("copy");
    }
    xtask::trained::check(tmp.path(), &record).expect("copies pass");
    let victim = tmp.path().join(&record.models[0].file);
    let mut bytes = std::fs::read(&victim).expect("read");
    let last = bytes.len() - 1;
    bytes[last] ^= 1;
    std::fs::write(&victim, bytes).expect("write");
    let err = xtask::trained::check(tmp.path(), &record).expect_err("a changed model");
    assert!(err.to_string().contains(&record.models[0].file), "{err}");
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
