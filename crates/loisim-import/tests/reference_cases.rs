//! The three reference cases, recorded by the authors' fixed-point model, reproduced bit-exactly.

use loisim_import::case::ReferenceCase;
use loisim_import::export_v1::import_export_v1;
use loisim_model::{Model, Reference};
use std::path::PathBuf;

const CASES: [&str; 3] = [
    "w025-plausible-s100",
    "w025-stress-s101",
    "w100-plausible-s102",
];

fn case_dir(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../tests/data/fxp-s5")
        .join(name)
}

fn check(model: &Model, case: &ReferenceCase) {
    let mut r = Reference::new(model).expect("valid model");
    let traces: Vec<_> = case
        .input
        .iter()
        .map(|t| r.step_traced(t).expect("valid input"))
        .collect();
    let (mismatches, compared) = case.compare(&traces);
    assert!(
        compared >= 3 + 12 * model.layers.len(),
        "only {compared} tensors compared"
    );
    assert!(
        mismatches.is_empty(),
        "{}: {mismatches:#?}",
        case.dir.display()
    );
}

#[test]
fn export_v1_reproduces_every_intermediate() {
    for name in CASES {
        let dir = case_dir(name);
        let model = import_export_v1(&dir.join("model.json")).expect("import");
        let case = ReferenceCase::load(&dir).expect("case");
        check(&model, &case);
        // Either file of the pair names the export.
        let again = import_export_v1(&dir.join("model.safetensors")).expect("import");
        assert_eq!(again, model);
    }
}

#[test]
fn float_checkpoint_reproduces_the_export_and_every_intermediate() {
    use loisim_import::checkpoint::FloatModel;
    use loisim_import::qconfig::QConfig;
    use loisim_model::calibrate::calibrate;
    for name in CASES {
        let dir = case_dir(name);
        let fm = FloatModel::read(&dir.join("float_model.safetensors")).expect("float model");
        let qc = QConfig::read(&dir.join("upstream_qconfig.json")).expect("qconfig");
        let mut model = loisim_import::quantize::quantize(&fm, &qc, "x", "x").expect("quantize");
        let case = ReferenceCase::load(&dir).expect("case");
        calibrate(&mut model, &case.input).expect("calibrate");
        let mut export = import_export_v1(&dir.join("model.json")).expect("import");
        export.name = model.name.clone();
        export.provenance = model.provenance.clone();
        assert_eq!(
            model, export,
            "{name}: float import differs from the export"
        );
        check(&model, &case);
    }
}
