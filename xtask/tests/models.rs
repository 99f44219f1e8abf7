//! `models/` is exactly what `cargo xtask models` builds: regenerating reproduces every
//! committed byte.

use std::path::PathBuf;
use xtask::models::{default_input, model_bytes, npy_f32, specs};

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
    for spec in specs() {
        let fresh = model_bytes(&spec, &input).expect("model");
        let committed = std::fs::read(dir.join(spec.file)).expect("committed model");
        assert!(
            fresh == committed,
            "models/{} differs from a fresh build; run `cargo xtask models`",
            spec.file
        );
    }
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
