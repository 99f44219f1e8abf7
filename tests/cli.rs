//! End-to-end tests: the real `loisim` binary, as a user runs it.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn loisim(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_loisim"))
        .args(args)
        .current_dir(root())
        .env_remove("LOISIM_MODELS")
        .output()
        .expect("the loisim binary runs")
}

/// Runs and expects success; returns stdout.
fn ok(args: &[&str]) -> String {
    let o = loisim(args);
    let (out, err) = (
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr),
    );
    assert!(
        o.status.success(),
        "loisim {args:?} failed ({:?}):\n{err}\n{out}",
        o.status.code()
    );
    out.into_owned()
}

/// Runs and expects exit code 2 with a one-line error and no panic; returns stderr.
fn fails(args: &[&str]) -> String {
    let o = loisim(args);
    let err = String::from_utf8_lossy(&o.stderr).into_owned();
    assert_eq!(
        o.status.code(),
        Some(2),
        "loisim {args:?} should exit 2, stderr:\n{err}"
    );
    assert!(
        !err.contains("panicked"),
        "loisim {args:?} panicked:\n{err}"
    );
    assert_eq!(
        err.trim_end().lines().count(),
        1,
        "loisim {args:?} error is not one line:\n{err}"
    );
    assert!(err.starts_with("error: "), "{err}");
    err
}

fn s(p: &Path) -> &str {
    p.to_str().expect("utf-8 path")
}

fn read_npy_i32(path: &Path) -> (Vec<u64>, Vec<i32>) {
    let bytes = std::fs::read(path).expect("read npy");
    let npy = npyz::NpyFile::new(&bytes[..]).expect("npy");
    let shape = npy.shape().to_vec();
    (shape, npy.into_vec::<i32>().expect("int32"))
}

fn write_npy_f32(path: &Path, shape: &[u64], values: &[f32]) {
    use npyz::WriterBuilder;
    let mut out = Vec::new();
    {
        let mut w = npyz::WriteOptions::new()
            .default_dtype()
            .shape(shape)
            .writer(&mut out)
            .begin_nd()
            .expect("npy");
        w.extend(values.iter().copied()).expect("npy");
        w.finish().expect("npy");
    }
    std::fs::write(path, out).expect("write npy");
}

/// Every key of a JSON value, as dotted paths.
fn keys(v: &serde_json::Value, prefix: &str, out: &mut Vec<String>) {
    match v {
        serde_json::Value::Object(m) => {
            for (k, x) in m {
                let path = format!("{prefix}{k}");
                keys(x, &format!("{path}."), out);
                out.push(path);
            }
        }
        serde_json::Value::Array(a) => {
            for x in a {
                keys(x, prefix, out);
            }
        }
        _ => {}
    }
}

/// The paths where two JSON values differ.
fn json_diff(a: &serde_json::Value, b: &serde_json::Value, at: &str, out: &mut Vec<String>) {
    use serde_json::Value;
    match (a, b) {
        (Value::Object(x), Value::Object(y)) => {
            for k in x.keys().chain(y.keys().filter(|k| !x.contains_key(*k))) {
                match (x.get(k), y.get(k)) {
                    (Some(u), Some(v)) => json_diff(u, v, &format!("{at}{k}."), out),
                    _ => out.push(format!("{at}{k} (only on one side)")),
                }
            }
        }
        (Value::Array(x), Value::Array(y)) if x.len() == y.len() => {
            for (i, (u, v)) in x.iter().zip(y).enumerate() {
                json_diff(u, v, &format!("{at}{i}."), out);
            }
        }
        _ if a != b => out.push(format!("{at}: {a} vs {b}")),
        _ => {}
    }
}

#[test]
fn default_run_reports_the_calibration_targets_as_the_library_does() {
    let out = ok(&["run", "--json"]);
    let mut j: serde_json::Value = serde_json::from_str(&out).expect("json");
    // The same run through the library gives the same report, wall-clock figures aside.
    let model = loisim::load_model(&root().join("models").join(loisim::paths::DEFAULT_MODEL))
        .expect("model");
    let tokens =
        loisim::read_tokens(&root().join("models/default-input.npy"), &model).expect("tokens");
    let sim = loisim::Simulation::compile(
        model,
        &loisim::Chip::load("loihi2").expect("chip"),
        &loisim::CompileOptions::default(),
    )
    .expect("compile");
    let opts = loisim::RunOptions {
        calibration_setup: true,
        ..loisim::RunOptions::default()
    };
    let lib = sim
        .run(&loisim::Input::Tokens(tokens), &opts, None)
        .expect("run");
    // Both sides go through the same text and the same parser.
    let mut lib: serde_json::Value = serde_json::from_str(&lib.report.to_json()).expect("json");
    for v in [&mut j, &mut lib] {
        v.as_object_mut().expect("object").remove("sim");
    }
    let mut diff = Vec::new();
    json_diff(&j, &lib, "", &mut diff);
    assert!(
        diff.is_empty(),
        "loisim run --json differs from the library's Report: {diff:?}"
    );
    assert_eq!(
        j["schema_version"].as_u64(),
        Some(u64::from(loisim::SCHEMA_VERSION))
    );
    // Every energy key says whether it is dynamic or total energy.
    let mut all = Vec::new();
    keys(&j, "", &mut all);
    let energy: Vec<&String> = all.iter().filter(|k| k.contains("energy")).collect();
    assert!(energy.len() >= 10, "{all:?}");
    for k in energy {
        let last = k.rsplit('.').next().unwrap_or(k);
        // An object of energies per domain says it in each of its leaves.
        let below: Vec<&String> = all
            .iter()
            .filter(|l| l.starts_with(&format!("{k}.")))
            .collect();
        let leaves_say = !below.is_empty()
            && below
                .iter()
                .filter(|l| !all.iter().any(|m| m.starts_with(&format!("{l}."))))
                .all(|l| {
                    let leaf = l.rsplit('.').next().unwrap_or(l);
                    ["static", "dynamic", "total"].contains(&leaf)
                });
        assert!(
            last.contains("dynamic")
                || last.contains("total")
                || !last.contains("energy")
                || leaves_say,
            "{k} does not say dynamic or total"
        );
    }
    // The calibration targets: the four fitted figures hold the residuals the fit file states
    // (0 where the fit met the figure inside the ranges; the stated shortfall where its
    // parameter sits on a bound), to the fit's precision: a change of the simulator that moves
    // them needs `cargo xtask calibrate --write`.
    let fit = std::fs::read_to_string(root().join("crates/loisim-arch/chips/loihi2.fit.toml"))
        .expect("fit file");
    let line = fit
        .lines()
        .find(|l| l.starts_with("# Residuals:"))
        .expect("a residual line");
    let stated: Vec<f64> = line
        .split('(')
        .skip(1)
        .filter_map(|p| p.split('%').next()?.parse().ok())
        .collect();
    assert_eq!(stated.len(), 4, "{line}");
    let rows = j["calibration_targets"]["rows"].as_array().expect("rows");
    assert_eq!(rows.len(), 6);
    let mut fitted_rows = 0;
    for r in rows {
        let (res, fitted) = (
            r["residual_pct"].as_f64().expect("residual"),
            r["fitted"].as_bool().expect("fitted"),
        );
        if fitted {
            assert!((res - stated[fitted_rows]).abs() <= 0.01, "{r} vs {line}");
            fitted_rows += 1;
        } else {
            assert!(res.abs() <= 1.0, "{r}");
        }
    }
    assert_eq!(fitted_rows, 4);
    // The parameters the fit file says sit on a bound are named in the report.
    let on_bound: Vec<&str> = j["calibration_targets"]["parameters_on_bound"]
        .as_array()
        .map(|a| a.iter().filter_map(|v| v.as_str()).collect())
        .unwrap_or_default();
    if let Some(l) = fit.lines().find(|l| l.starts_with("# On the bound")) {
        let names = l.rsplit(": ").next().unwrap_or("").trim_end_matches('.');
        for n in names.split(", ") {
            assert!(
                on_bound.iter().any(|p| p.starts_with(n)),
                "{n} is on its bound in the fit file but not in {on_bound:?}"
            );
        }
    } else {
        assert!(on_bound.is_empty(), "{on_bound:?}");
    }
    assert!(
        j["fall_through"]["energy_total_board_breakdown_uj_per_token"]["synmem"]
            .as_f64()
            .is_some()
    );
    // Power by domain: the rails add up to the chip basis, chip and board-only to the board.
    let w = &j["pipeline"]["power_w"];
    let t = |k: &str| w[k]["total"].as_f64().expect(k);
    assert!((t("vdd") + t("vdd_m") + t("vdd_io") - t("chip")).abs() < 1e-9 * t("chip"));
    assert!((t("chip") + t("board_only") - t("board")).abs() < 1e-9 * t("board"));
    assert_eq!(j["pipeline"]["headline_basis"], "chip");
    assert!(
        j["pipeline"]["profiler"]["vdd_m_power_w"]
            .as_f64()
            .is_some_and(|v| v > 0.0)
    );
    assert!(
        j["activation_density"]
            .as_array()
            .is_some_and(|a| !a.is_empty())
    );
}

#[test]
fn calibration_targets_appear_only_for_the_setup_they_describe() {
    for args in [
        &["run", "--tokens", "20", "--mode", "fall-through"][..],
        &["run", "--chip", "loihi1", "--tokens", "5"],
        &["run", "models/s5-sparse-1x.bin", "--tokens", "5"],
        &[
            "run",
            "--input",
            "models/default-input.npy",
            "--tokens",
            "5",
        ],
    ] {
        let text = ok(args);
        assert!(!text.contains("calibration targets"), "{args:?}: {text}");
        let mut json = args.to_vec();
        json.push("--json");
        let j: serde_json::Value = serde_json::from_str(&ok(&json)).expect("json");
        assert!(j.get("calibration_targets").is_none(), "{args:?}");
    }
}

#[test]
fn chip_simulation_writes_the_reference_integers() {
    let dir = tempfile::tempdir().expect("tmp");
    for model in [
        "models/s5-sparse-0.25x.bin",
        "models/s5-dense-0.25x.bin",
        "models/s5-sparse-1x.bin",
    ] {
        let sim = dir.path().join("sim.npy");
        let reference = dir.path().join("ref.npy");
        ok(&[
            "run",
            model,
            "--input",
            "models/default-input.npy",
            "--tokens",
            "200",
            "--output",
            s(&sim),
        ]);
        ok(&[
            "run",
            model,
            "--reference",
            "--input",
            "models/default-input.npy",
            "--tokens",
            "200",
            "--output",
            s(&reference),
        ]);
        let (shape, a) = read_npy_i32(&sim);
        let (_, b) = read_npy_i32(&reference);
        assert_eq!(shape, vec![200, 257]);
        assert_eq!(a, b, "{model}: chip simulation differs from the reference");
    }
}

#[test]
fn both_import_paths_reproduce_a_reference_case() {
    let dir = tempfile::tempdir().expect("tmp");
    let case = root().join("tests/data/fxp-s5/w025-stress-s101");
    let export = dir.path().join("export.bin");
    let float = dir.path().join("float.bin");
    ok(&["import", s(&case.join("model.json")), "-o", s(&export)]);
    // The case input as an integer .npy for calibration and running.
    let c = loisim_import::case::ReferenceCase::load(&case).expect("case");
    let input = dir.path().join("input.npy");
    {
        use npyz::WriterBuilder;
        let mut out = Vec::new();
        let mut w = npyz::WriteOptions::new()
            .default_dtype()
            .shape(&[c.input.len() as u64, 257])
            .writer(&mut out)
            .begin_nd()
            .expect("npy");
        for row in &c.input {
            w.extend(row.iter().copied()).expect("npy");
        }
        w.finish().expect("npy");
        std::fs::write(&input, out).expect("write");
    }
    ok(&[
        "import",
        s(&case.join("float_model.safetensors")),
        "--qconfig",
        s(&case.join("upstream_qconfig.json")),
        "--calibration",
        s(&input),
        "-o",
        s(&float),
    ]);
    for model in [&export, &float] {
        for reference in [true, false] {
            let out = dir.path().join("out.npy");
            let mut args = vec!["run", s(model), "--input", s(&input), "--output", s(&out)];
            if reference {
                args.push("--reference");
            }
            ok(&args);
            let (_, got) = read_npy_i32(&out);
            let expected: Vec<i32> = c.tensors["output"].iter().flatten().copied().collect();
            assert_eq!(
                got,
                expected,
                "{} (reference: {reference})",
                model.display()
            );
        }
    }
}

#[test]
fn gen_is_deterministic_and_inspect_and_map_work() {
    let dir = tempfile::tempdir().expect("tmp");
    let a = dir.path().join("a.bin");
    let b = dir.path().join("b.bin");
    let q = dir.path().join("q.json");
    for out in [&a, &b] {
        ok(&[
            "gen",
            "--width",
            "0.25",
            "--sparsity",
            "0.8",
            "--seed",
            "9",
            "--name",
            "g",
            "--qconfig-out",
            s(&q),
            "-o",
            s(out),
        ]);
    }
    assert!(
        std::fs::read(&a).expect("a") == std::fs::read(&b).expect("b"),
        "gen is not deterministic"
    );
    let text = ok(&["inspect", s(&a)]);
    assert!(text.contains("d_model (H) 48"), "{text}");
    let j: serde_json::Value =
        serde_json::from_str(&ok(&["inspect", s(&a), "--json"])).expect("json");
    assert_eq!(j["d_state"].as_u64(), Some(32));
    let j: serde_json::Value =
        serde_json::from_str(&ok(&["map", s(&a), "--report", "--json"])).expect("json");
    assert!(j["cores_used"].as_u64().is_some_and(|c| c > 0));
    let text = ok(&[
        "map",
        s(&a),
        "--report",
        "--input",
        "models/default-input.npy",
        "--tokens",
        "50",
    ]);
    assert!(text.contains("measured on 50 tokens"), "{text}");
    let text = ok(&["chip", "show", "--chip", "kapoho-point"]);
    assert!(text.contains("8 chip(s)"), "{text}");
    // The derived qconfig is a valid upstream qconfig: it quantizes the same float model again.
    assert!(
        std::fs::read_to_string(&q)
            .expect("q")
            .contains("\"blocks\"")
    );
}

#[test]
fn every_shipped_model_maps_onto_one_loihi2_chip() {
    for m in ["0.25x", "1x", "3x"] {
        for kind in ["sparse", "dense"] {
            let path = format!("models/s5-{kind}-{m}.bin");
            let j: serde_json::Value =
                serde_json::from_str(&ok(&["map", &path, "--json"])).expect("json");
            let cores = j["cores_used"].as_u64().unwrap_or(0);
            assert!(cores > 0 && cores <= 128, "{path}: {cores} cores");
        }
    }
}

#[test]
fn bad_model_files_are_one_line_errors() {
    let dir = tempfile::tempdir().expect("tmp");
    let p = |name: &str| dir.path().join(name);
    let good = std::fs::read(root().join("models/s5-sparse-0.25x.bin")).expect("model");
    let missing = p("missing.bin");
    assert!(fails(&["inspect", s(&missing)]).contains("cannot read model"));
    let cases: Vec<(&str, Vec<u8>, &str)> = vec![
        ("empty.bin", vec![], "shorter than"),
        (
            "random.bin",
            (0..5000u32)
                .map(|i| (i.wrapping_mul(2654435761) >> 13) as u8)
                .collect(),
            "not a loisim model",
        ),
        (
            "truncated.bin",
            good[..good.len() / 2].to_vec(),
            "truncated",
        ),
        (
            "flipped.bin",
            {
                let mut b = good.clone();
                let k = b.len() - 100;
                b[k] ^= 0x10;
                b
            },
            "corrupt",
        ),
        (
            "magic.bin",
            {
                let mut b = good.clone();
                b[0] = b'X';
                b
            },
            "bad magic",
        ),
        (
            "version.bin",
            {
                let mut b = good.clone();
                b[8] = 99;
                b
            },
            "version 99",
        ),
    ];
    for (name, bytes, msg) in cases {
        std::fs::write(p(name), bytes).expect("write");
        for cmd in ["inspect", "run", "map"] {
            let err = fails(&[cmd, s(&p(name))]);
            assert!(err.contains(msg), "{cmd} {name}: {err}");
        }
    }
    // A well-formed file holding an inconsistent model.
    let model = loisim_model::codec::decode(&good).expect("good");
    let mut wrong_dims = model.clone();
    wrong_dims.dims.d_model += 1;
    std::fs::write(
        p("dims.bin"),
        loisim_model::codec::encode_unvalidated(&wrong_dims).expect("encode"),
    )
    .expect("write");
    assert!(fails(&["inspect", s(&p("dims.bin"))]).contains("model is invalid"));
    let mut wrong_index = model.clone();
    let n = wrong_index.encoder.weight.n_in() as u32;
    wrong_index.encoder.weight = loisim_model::SparseMatrix::from_raw_parts_unchecked(
        n,
        48,
        loisim_model::Fmt::new(8, 5),
        (0..=n).map(|i| u32::from(i > 0)).collect(),
        vec![4000],
        vec![7],
    );
    std::fs::write(
        p("index.bin"),
        loisim_model::codec::encode_unvalidated(&wrong_index).expect("encode"),
    )
    .expect("write");
    assert!(fails(&["inspect", s(&p("index.bin"))]).contains("malformed"));
}

#[test]
fn netx_networks_are_recognised_by_content_for_inspect_and_map() {
    let dir = tempfile::tempdir().expect("dir");
    // A netx file under a misleading name is still read as netx.
    let net = dir.path().join("tiny.bin");
    std::fs::copy(root().join("crates/loisim-netx/tests/data/tiny.net"), &net).expect("copy");
    let text = ok(&["inspect", s(&net)]);
    assert!(
        text.contains("netx network: 3 layers, 1668 neurons"),
        "{text}"
    );
    assert!(text.contains("conv"), "{text}");
    let json: serde_json::Value =
        serde_json::from_str(&ok(&["inspect", s(&net), "--json"])).expect("json");
    assert_eq!(json["layers"].as_array().map(Vec::len), Some(3));
    let text = ok(&["map", s(&net)]);
    assert!(text.contains("cores used"), "{text}");
    assert!(text.contains("strips along x"), "{text}");
    let json: serde_json::Value =
        serde_json::from_str(&ok(&["map", s(&net), "--json"])).expect("json");
    assert_eq!(json["neurons"], 1668);
    // S5-only options are refused with one line.
    let text = fails(&["map", s(&net), "--tokens", "3"]);
    assert!(text.contains("S5 models"), "{text}");
    // A netx network that does not fit names the board and how conv layers are cut.
    let text = fails(&[
        "map",
        s(&root().join("crates/loisim-netx/tests/data/pilotnet_sdnn.net")),
        "--max-neurons-per-core",
        "64",
    ]);
    assert!(
        text.contains("cores") && text.contains("strips along x"),
        "{text}"
    );
    // A truncated netx file is a one-line error naming the file.
    let bytes = std::fs::read(&net).expect("read");
    let cut = dir.path().join("cut.net");
    std::fs::write(&cut, &bytes[..bytes.len() / 2]).expect("write");
    let text = fails(&["inspect", s(&cut)]);
    assert!(text.contains("cut.net"), "{text}");
}

#[test]
fn an_error_names_its_cause_once() {
    let dir = tempfile::tempdir().expect("dir");
    let missing = dir.path().join("missing.bin");
    let text = fails(&["run", s(&missing)]);
    assert_eq!(text.matches("No such file").count(), 1, "{text}");
    let cut = dir.path().join("cut.bin");
    let bytes = std::fs::read(root().join("models/s5-sparse-0.25x.bin")).expect("model");
    std::fs::write(&cut, &bytes[..100]).expect("write");
    let text = fails(&["run", s(&cut)]);
    assert_eq!(text.matches("truncated").count(), 1, "{text}");
}

#[test]
fn bad_inputs_and_outputs_are_one_line_errors() {
    let dir = tempfile::tempdir().expect("tmp");
    let p = |name: &str| dir.path().join(name);
    let model = "models/s5-sparse-0.25x.bin";
    write_npy_f32(&p("shape.npy"), &[4, 256], &vec![0.1; 4 * 256]);
    write_npy_f32(
        &p("nan.npy"),
        &[2, 257],
        &[vec![0.1; 300], vec![f32::NAN], vec![0.1; 213]].concat(),
    );
    std::fs::write(p("text.npy"), b"hello").expect("write");
    {
        use npyz::WriterBuilder;
        let mut out = Vec::new();
        let mut w = npyz::WriteOptions::<u64>::new()
            .default_dtype()
            .shape(&[1, 257])
            .writer(&mut out)
            .begin_nd()
            .expect("npy");
        w.extend(std::iter::repeat_n(1u64, 257)).expect("npy");
        w.finish().expect("npy");
        std::fs::write(p("u64.npy"), out).expect("write");
    }
    let mut trunc = std::fs::read(root().join("models/default-input.npy")).expect("input");
    trunc.truncate(5000);
    std::fs::write(p("trunc.npy"), trunc).expect("write");
    for (file, msg) in [
        ("shape.npy", "257 features"),
        ("nan.npy", "not a finite number"),
        ("text.npy", "npy"),
        ("u64.npy", "not supported"),
        ("trunc.npy", "truncated"),
    ] {
        for extra in [&[][..], &["--reference"][..]] {
            let path = p(file);
            let mut args = vec!["run", model, "--input", s(&path)];
            args.extend_from_slice(extra);
            let err = fails(&args);
            assert!(err.contains(msg), "{file}: {err}");
        }
    }
    // Unknown mode, malformed chip file, a model that does not fit.
    fails(&["run", model, "--mode", "sideways"]);
    std::fs::write(
        p("chip.toml"),
        "extends = \"loihi2\"\n[mesh]\nrouters_x = { value = 0, source = \"x\" }\n",
    )
    .expect("write");
    assert!(fails(&["run", model, "--chip", s(&p("chip.toml"))]).contains("routers_x"));
    std::fs::write(p("bad.toml"), "this is = not toml [").expect("write");
    assert!(fails(&["map", model, "--chip", s(&p("bad.toml"))]).contains("chip file"));
    let err = fails(&[
        "map",
        "models/s5-dense-1x.bin",
        "--max-neurons-per-core",
        "2",
    ]);
    assert!(err.contains("needs") && err.contains("cores"), "{err}");
    // Unwritable output: nothing is left behind, and a failed run leaves no partial file.
    let nowhere = p("no/such/dir/out.npy");
    assert!(
        fails(&["run", model, "--tokens", "3", "--output", s(&nowhere)]).contains("does not exist")
    );
    let out = p("out.npy");
    fails(&[
        "run",
        model,
        "--input",
        s(&p("nan.npy")),
        "--output",
        s(&out),
    ]);
    assert!(!out.exists());
    let leftovers: Vec<_> = std::fs::read_dir(dir.path())
        .expect("dir")
        .filter_map(|e| e.ok())
        .filter(|e| e.file_name().to_string_lossy().ends_with(".tmp"))
        .collect();
    assert!(leftovers.is_empty());
    // An incomplete export.
    std::fs::copy(
        root().join("tests/data/fxp-s5/w025-plausible-s100/model.json"),
        p("model.json"),
    )
    .expect("copy");
    assert!(fails(&["import", s(&p("model.json")), "-o", s(&p("m.bin"))]).contains("is missing"));
    assert!(!p("m.bin").exists());
}

fn write_wav(path: &Path, channels: u16, rate: u32, samples: &[i16]) {
    let spec = hound::WavSpec {
        channels,
        sample_rate: rate,
        bits_per_sample: 16,
        sample_format: hound::SampleFormat::Int,
    };
    let mut w = hound::WavWriter::create(path, spec).expect("wav");
    for &s in samples {
        w.write_sample(s).expect("sample");
    }
    w.finalize().expect("finalize");
}

#[test]
fn audio_in_audio_out_on_the_chip_equals_the_reference() {
    let dir = tempfile::tempdir().expect("tmp");
    let (noisy, clean) = (dir.path().join("noisy.wav"), dir.path().join("clean.wav"));
    let out = ok(&[
        "gen-audio",
        "--seconds",
        "2",
        "--snr-db",
        "3",
        "--seed",
        "4",
        "-o",
        s(&noisy),
        "--clean-output",
        s(&clean),
    ]);
    assert!(out.contains("SNR 3.00 dB"), "{out}");
    let model = "models/s5-sparse-0.25x.bin";
    let (a, b) = (dir.path().join("a.wav"), dir.path().join("b.wav"));
    let j: serde_json::Value = serde_json::from_str(&ok(&[
        "run",
        model,
        "--input",
        s(&noisy),
        "--clean",
        s(&clean),
        "--output",
        s(&a),
        "--json",
    ]))
    .expect("json");
    assert_eq!(
        j["audio"]["tokens"].as_u64(),
        Some(251),
        "2 s at hop 128 gives 251 frames"
    );
    assert!(j["audio"]["si_snr_db"].as_f64().is_some());
    assert!((j["audio"]["noisy_si_snr_db"].as_f64().unwrap_or(0.0) - 3.0).abs() < 0.01);
    ok(&[
        "run",
        model,
        "--reference",
        "--input",
        s(&noisy),
        "--output",
        s(&b),
    ]);
    assert!(
        std::fs::read(&a).expect("a") == std::fs::read(&b).expect("b"),
        "chip and reference audio differ"
    );
    let cleaned = loisim_audio::read_wav(&a).expect("output wav");
    assert_eq!(cleaned.samples.len(), 32_000);
    assert_eq!(cleaned.sample_rate_hz, 16_000);
    // The mask integers of a .wav input are those of its features.
    let (masks, npy) = (dir.path().join("m.npy"), dir.path().join("f.npy"));
    ok(&[
        "run",
        model,
        "--reference",
        "--input",
        s(&noisy),
        "--output",
        s(&masks),
    ]);
    let audio = loisim_audio::read_wav(&noisy).expect("noisy");
    let (t, feats) = loisim_audio::features(&audio.samples);
    write_npy_f32(&npy, &[t as u64, 257], &feats);
    let direct = dir.path().join("d.npy");
    ok(&[
        "run",
        model,
        "--reference",
        "--input",
        s(&npy),
        "--output",
        s(&direct),
    ]);
    assert_eq!(read_npy_i32(&masks), read_npy_i32(&direct));
}

#[test]
fn the_shipped_clip_and_the_shipped_features_give_the_same_integers() {
    // models/default-input.npy is the STFT of models/default-clip-noisy.wav as stored.
    let dir = tempfile::tempdir().expect("tmp");
    let (wav, npy) = (dir.path().join("w.npy"), dir.path().join("n.npy"));
    let model = "models/s5-sparse-0.25x.bin";
    ok(&[
        "run",
        model,
        "--mode",
        "pipeline",
        "--input",
        "models/default-clip-noisy.wav",
        "--output",
        s(&wav),
        "--quiet",
    ]);
    ok(&[
        "run",
        model,
        "--mode",
        "pipeline",
        "--output",
        s(&npy),
        "--quiet",
    ]);
    let (shape, values) = read_npy_i32(&wav);
    assert_eq!(shape, [3751, 257]);
    assert!(values == read_npy_i32(&npy).1, "WAV and .npy runs differ");
}

#[test]
fn bad_audio_is_a_one_line_error() {
    let dir = tempfile::tempdir().expect("tmp");
    let p = |n: &str| dir.path().join(n);
    let model = "models/s5-sparse-0.25x.bin";
    write_wav(&p("44k.wav"), 1, 44_100, &[0; 4410]);
    write_wav(&p("stereo.wav"), 2, 16_000, &[0; 3200]);
    write_wav(&p("empty.wav"), 1, 16_000, &[]);
    write_wav(&p("ok.wav"), 1, 16_000, &vec![100; 16_000]);
    write_wav(&p("short.wav"), 1, 16_000, &vec![100; 8_000]);
    let mut trunc = std::fs::read(p("ok.wav")).expect("wav");
    trunc.truncate(trunc.len() / 2);
    std::fs::write(p("trunc.wav"), trunc).expect("write");
    std::fs::write(p("text.wav"), b"not a wav file at all").expect("write");
    for (file, msg) in [
        ("44k.wav", "44100 hz"),
        ("stereo.wav", "channel"),
        ("empty.wav", "no audio samples"),
        ("trunc.wav", "trunc"),
        ("text.wav", "wav"),
    ] {
        for reference in [false, true] {
            let path = p(file);
            let out = p("out.wav");
            let mut args = vec!["run", model, "--input", s(&path), "--output", s(&out)];
            if reference {
                args.push("--reference");
            }
            let err = fails(&args).to_lowercase();
            assert!(err.contains(msg), "{file}: {err}");
            assert!(!out.exists(), "{file}: a partial output was left");
        }
    }
    assert!(
        fails(&[
            "run",
            model,
            "--input",
            s(&p("ok.wav")),
            "--clean",
            s(&p("short.wav"))
        ])
        .contains("must match")
    );
    assert!(fails(&["run", model, "--output", s(&p("x.wav"))]).contains("needs a .wav input"));
    assert!(
        fails(&["run", model, "--input", s(&p("ok.wav")), "--tokens", "3"]).contains("--tokens")
    );
}

#[test]
fn traces_and_plots_of_a_run() {
    let dir = tempfile::tempdir().expect("tmp");
    let (trace, plots) = (dir.path().join("trace"), dir.path().join("plots"));
    let model = "models/s5-sparse-0.25x.bin";
    let j: serde_json::Value = serde_json::from_str(&ok(&[
        "run",
        model,
        "--tokens",
        "40",
        "--trace",
        s(&trace),
        "--plot",
        s(&plots),
        "--trace-window",
        "5:10",
        "--json",
    ]))
    .expect("json");
    let cores_used = j["cores_used"].as_u64().expect("cores") as usize;
    // timesteps.csv: every timestep of both modes.
    let steps = std::fs::read_to_string(trace.join("timesteps.csv")).expect("timesteps.csv");
    let header: Vec<&str> = steps.lines().next().expect("header").split(',').collect();
    for col in [
        "mode",
        "timestep",
        "token",
        "duration_us",
        "energy_synmem_pj",
        "energy_synop_pj",
        "energy_static_chip_pj",
        "energy_total_board_pj",
        "msgs",
        "syn_ops",
        "busiest_core",
        "busiest_link",
    ] {
        assert!(
            header.contains(&col),
            "timesteps.csv lacks {col}: {header:?}"
        );
    }
    let depth = j["pipeline_depth_timesteps"].as_u64().expect("depth") as usize;
    assert_eq!(steps.lines().count() - 1, 40 * depth + (40 + depth - 1));
    // cores.csv: the profiler's counter names, inside the window only.
    let cores = std::fs::read_to_string(trace.join("cores.csv")).expect("cores.csv");
    let header: Vec<&str> = cores.lines().next().expect("header").split(',').collect();
    for col in [
        "syn_ops",
        "dendrite_updates",
        "spikes_in",
        "axon_out",
        "busy_ns",
        "core",
        "population",
    ] {
        assert!(header.contains(&col), "cores.csv lacks {col}");
    }
    let token_col = header
        .iter()
        .position(|c| *c == "token")
        .expect("token column");
    let mode_col = header
        .iter()
        .position(|c| *c == "mode")
        .expect("mode column");
    for row in cores.lines().skip(1) {
        let f: Vec<&str> = row.split(',').collect();
        if f[mode_col] == "fall-through" {
            let t: usize = f[token_col].parse().expect("token");
            assert!((5..15).contains(&t), "row outside the window: {row}");
        }
    }
    let summary =
        std::fs::read_to_string(trace.join("core_summary.csv")).expect("core_summary.csv");
    assert_eq!(summary.lines().count() - 1, 2 * cores_used);
    // trace.json: valid JSON with one named track per core, slices, counters and token markers.
    let t: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(trace.join("trace.json")).expect("trace"))
            .expect("trace.json parses");
    let events = t["traceEvents"].as_array().expect("events");
    let count = |ph: &str| events.iter().filter(|e| e["ph"] == ph).count();
    let thread_names = events
        .iter()
        .filter(|e| e["ph"] == "M" && e["name"] == "thread_name")
        .count();
    assert_eq!(
        thread_names,
        2 * (cores_used + 1),
        "a track per core and a timestep track, per mode"
    );
    assert!(count("X") > 0 && count("C") > 0 && count("i") > 0);
    assert!(
        events
            .iter()
            .any(|e| e["ph"] == "C" && e["name"] == "power (mW)")
    );
    assert!(
        events
            .iter()
            .filter(|e| e["ph"] == "X")
            .all(|e| e["ts"].as_f64().is_some() && e["dur"].as_f64().is_some())
    );
    // Plots: PNG files decode to real pictures; SVG files exist.
    let pngs: Vec<PathBuf> = std::fs::read_dir(&plots)
        .expect("plots")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|e| e == "png"))
        .collect();
    assert!(pngs.len() >= 3, "{pngs:?}");
    for p in &pngs {
        let decoder = png::Decoder::new(std::fs::File::open(p).expect("png"));
        let reader = decoder.read_info().expect("a valid PNG");
        let info = reader.info();
        assert!(info.width >= 400 && info.height >= 300, "{}", p.display());
        assert!(p.with_extension("svg").exists());
    }
    // loisim plot redraws from the saved trace.
    let again = dir.path().join("again");
    ok(&["plot", s(&trace), "-o", s(&again)]);
    assert!(again.join("latency_energy.png").exists());
}

/// Every file and directory under `dir`, relative, sorted (hidden staging areas included).
fn tree(dir: &Path) -> Vec<String> {
    fn walk(base: &Path, dir: &Path, out: &mut Vec<String>) {
        for e in std::fs::read_dir(dir).expect("dir") {
            let p = e.expect("entry").path();
            out.push(p.strip_prefix(base).expect("prefix").display().to_string());
            if p.is_dir() {
                walk(base, &p, out);
            }
        }
    }
    let mut v = Vec::new();
    walk(dir, dir, &mut v);
    v.sort();
    v
}

#[test]
fn a_run_that_fails_midway_leaves_no_output_behind() {
    let dir = tempfile::tempdir().expect("tmp");
    let p = |n: &str| dir.path().join(n);
    // 5 s of audio whose data ends after 4.7 s: the first chunk of samples (4.1 s) is run,
    // traced and written out before the reader meets the truncation.
    let samples: Vec<i16> = (0..80_000)
        .map(|i| ((i * 37) % 2000 - 1000) as i16)
        .collect();
    write_wav(&p("long.wav"), 1, 16_000, &samples);
    let mut bytes = std::fs::read(p("long.wav")).expect("wav");
    bytes.truncate(44 + 2 * 75_000);
    std::fs::write(p("cut.wav"), bytes).expect("write");
    std::fs::remove_file(p("long.wav")).expect("rm");
    let model = "models/s5-sparse-0.25x.bin";
    let cases: [&[&str]; 4] = [
        &[
            "--output",
            "OUT/y.wav",
            "--trace",
            "OUT/trace",
            "--plot",
            "OUT/plots",
        ],
        &["--output", "OUT/y.npy", "--trace", "OUT/trace"],
        &["--output", "OUT/y.wav", "--reference"],
        &["--plot", "OUT/deep/plots", "--mode", "pipeline"],
    ];
    let cut = p("cut.wav");
    for extra in cases {
        let mut args = vec!["run", model, "--input", s(&cut), "--quiet"];
        let owned: Vec<String> = extra
            .iter()
            .map(|a| a.replace("OUT", s(dir.path())))
            .collect();
        args.extend(owned.iter().map(String::as_str));
        let err = fails(&args);
        assert!(err.to_lowercase().contains("trunc"), "{err}");
        assert_eq!(tree(dir.path()), ["cut.wav"], "{extra:?} left files behind");
    }
    // The same run on the whole file writes every output, and nothing else.
    write_wav(&p("ok.wav"), 1, 16_000, &samples[..20_000]);
    let owned = [
        s(&p("y.wav")).to_string(),
        s(&p("trace")).to_string(),
        s(&p("plots")).to_string(),
    ];
    ok(&[
        "run",
        model,
        "--input",
        s(&p("ok.wav")),
        "--quiet",
        "--output",
        &owned[0],
        "--trace",
        &owned[1],
        "--plot",
        &owned[2],
    ]);
    let t = tree(dir.path());
    assert!(
        t.iter().all(|f| !f.contains(".loisim")),
        "staging left behind: {t:?}"
    );
    for f in ["y.wav", "trace/series.json", "trace/trace.json", "plots"] {
        assert!(t.iter().any(|x| x == f), "{f} missing from {t:?}");
    }
    assert!(
        t.iter()
            .any(|x| x.starts_with("plots/") && x.ends_with(".png"))
    );
}

#[test]
fn outputs_written_together_are_written_all_or_none() {
    let dir = tempfile::tempdir().expect("tmp");
    let p = |n: &str| dir.path().join(n);
    // The second destination cannot be written: the first is not written either.
    let missing = p("missing/clean.wav");
    fails(&[
        "gen-audio",
        "--seconds",
        "0.1",
        "-o",
        s(&p("noisy.wav")),
        "--clean-output",
        s(&missing),
    ]);
    fails(&[
        "gen",
        "--width",
        "0.25",
        "-o",
        s(&p("m.bin")),
        "--qconfig-out",
        s(&p("missing/q.json")),
    ]);
    assert!(tree(dir.path()).is_empty(), "{:?}", tree(dir.path()));
    // A trace directory that is a file is refused before anything runs.
    std::fs::write(p("file"), b"").expect("write");
    let err = fails(&[
        "run",
        "models/s5-sparse-0.25x.bin",
        "--tokens",
        "2",
        "--plot",
        s(&p("file")),
    ]);
    assert!(err.contains("not a directory"), "{err}");
}

/// The shipped 0.25x model with only the first `d_output` decoder outputs.
fn narrow_model(path: &Path, d_output: u32) {
    let bytes = std::fs::read(root().join("models/s5-sparse-0.25x.bin")).expect("model");
    let mut m = loisim_model::codec::decode(&bytes).expect("decode");
    let w = &m.decoder.weight;
    m.decoder.weight =
        loisim_model::SparseMatrix::from_fn(w.n_in(), d_output as usize, w.fmt(), |o, i| {
            w.get(o, i)
        })
        .expect("matrix");
    m.decoder.bias.values.truncate(d_output as usize);
    m.dims.d_output = d_output;
    m.validate().expect("a valid model");
    std::fs::write(path, loisim_model::codec::encode(&m).expect("encode")).expect("write");
}

#[test]
fn a_wav_input_needs_a_model_with_one_output_per_frequency_bin() {
    let dir = tempfile::tempdir().expect("tmp");
    let p = |n: &str| dir.path().join(n);
    narrow_model(&p("narrow.bin"), 200);
    write_wav(&p("x.wav"), 1, 16_000, &vec![100; 4_000]);
    let (narrow, x, y) = (p("narrow.bin"), p("x.wav"), p("y.wav"));
    for reference in [false, true] {
        let mut args = vec!["run", s(&narrow), "--input", s(&x), "--output", s(&y)];
        if reference {
            args.push("--reference");
        }
        let err = fails(&args);
        assert!(err.contains("200 outputs") && err.contains("257"), "{err}");
        assert!(!p("y.wav").exists());
    }
    // The model itself is fine on token inputs, and the output has its width.
    let out = ok(&[
        "run",
        s(&p("narrow.bin")),
        "--tokens",
        "3",
        "--mode",
        "fall-through",
        "--output",
        s(&p("y.npy")),
    ]);
    assert!(out.contains("int32 [3, 200]"), "{out}");
    assert_eq!(read_npy_i32(&p("y.npy")).0, [3, 200]);
}

#[test]
fn map_input_changes_the_activity_figures_not_the_placement() {
    let model = "models/s5-sparse-0.25x.bin";
    let help = ok(&["map", "--help"]);
    assert!(!help.contains("weight placement"), "{help}");
    let all: serde_json::Value =
        serde_json::from_str(&ok(&["map", model, "--json"])).expect("json");
    let measured: serde_json::Value = serde_json::from_str(&ok(&[
        "map",
        model,
        "--json",
        "--input",
        "models/default-input.npy",
        "--tokens",
        "50",
    ]))
    .expect("json");
    let placement = |v: &serde_json::Value| -> Vec<(serde_json::Value, serde_json::Value)> {
        v["cores"]
            .as_array()
            .expect("cores")
            .iter()
            .map(|c| (c["location"].clone(), c["neurons_range"].clone()))
            .collect()
    };
    assert_eq!(placement(&all), placement(&measured));
    assert_ne!(all["msgs_per_token"], measured["msgs_per_token"]);
}

#[test]
fn the_models_compared_figure_reads_the_regression_reports() {
    let dir = tempfile::tempdir().expect("tmp");
    let out = dir.path().join("plots");
    let text = ok(&["plot", "--models", "traces/baselines", "-o", s(&out)]);
    assert!(text.contains("wrote"), "{text}");
    assert!(std::fs::read_dir(&out).expect("plots").any(|e| {
        e.expect("entry")
            .path()
            .extension()
            .is_some_and(|x| x == "png")
    }));
    // A JSON file that is not a report is a one-line error, and nothing is written.
    let bad = dir.path().join("bad");
    std::fs::create_dir(&bad).expect("dir");
    std::fs::write(bad.join("x.json"), "{\"model\": \"x\"}").expect("write");
    let out2 = dir.path().join("plots2");
    let err = fails(&["plot", "--models", s(&bad), "-o", s(&out2)]);
    assert!(err.contains("not a loisim report"), "{err}");
    assert!(!out2.exists());
}

#[test]
fn netx_networks_run_with_outputs_probes_and_json() {
    let dir = tempfile::tempdir().expect("dir");
    let data = root().join("crates/loisim-netx/tests/data");
    let net = data.join("tiny.net");
    let bias = data.join("gts/tinynet/input_bias.npy");
    let out = dir.path().join("y.npy");
    let probes = dir.path().join("probes");
    let text = ok(&[
        "run",
        s(&net),
        "--bias",
        s(&bias),
        "--steps",
        "12",
        "--reset-interval",
        "6",
        "--output",
        s(&out),
        "--probe",
        s(&probes),
        "--probe-layers",
        "1,2",
    ]);
    assert!(text.contains("(netx) on loihi2"), "{text}");
    assert!(text.contains("per sample (6 steps, 2 complete"), "{text}");
    let (shape, y) = read_npy_i32(&out);
    assert_eq!(shape, [1, 1, 36, 12]);
    // The output layer's spikes are its probe's `s`, time first there.
    let (pshape, s2) = read_npy_i32(&probes.join("layer2-conv-s.npy"));
    assert_eq!(pshape, [12, 1, 1, 36]);
    for t in 0..12 {
        for c in 0..36 {
            assert_eq!(y[c * 12 + t], s2[t * 36 + c], "step {t}, channel {c}");
        }
    }
    assert!(y.iter().any(|&v| v != 0), "a run that can fail");
    let mut names: Vec<String> = std::fs::read_dir(&probes)
        .expect("probe dir")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    assert_eq!(
        names,
        [
            "layer1-conv-s.npy",
            "layer1-conv-u.npy",
            "layer1-conv-v.npy",
            "layer2-conv-s.npy",
            "layer2-conv-u.npy",
            "layer2-conv-v.npy"
        ]
    );
    let json: serde_json::Value = serde_json::from_str(&ok(&[
        "run",
        s(&net),
        "--bias",
        s(&bias),
        "--steps",
        "12",
        "--json",
    ]))
    .expect("json");
    assert_eq!(json["model_kind"], "netx");
    assert_eq!(json["pipeline"]["steps"], 12);
    assert!(json["pipeline"]["energy_total_uj_per_step"].as_f64() > Some(0.0));
    assert!(json["pipeline"].get("latency_us_per_token").is_none());
    assert!(json.get("fall_through").is_none());
    assert_eq!(json["layers"].as_array().map(Vec::len), Some(3));
    // The reference interpreter gives the same integers.
    let out_ref = dir.path().join("y_ref.npy");
    ok(&[
        "run",
        s(&net),
        "--bias",
        s(&bias),
        "--steps",
        "12",
        "--reset-interval",
        "6",
        "--reference",
        "--output",
        s(&out_ref),
    ]);
    assert_eq!(read_npy_i32(&out_ref).1, y);
}

#[test]
fn nir_graphs_report_their_own_kind_and_refuse_graded_inputs() {
    let dir = tempfile::tempdir().expect("dir");
    let data = root().join("crates/loisim-nir/tests/data");
    let graph = data.join("lif_dense.nir");
    let input = data.join("lif_dense_input.npy");
    let json = ok(&[
        "run",
        s(&graph),
        "--input",
        s(&input),
        "--steps",
        "8",
        "--json",
    ]);
    let v: serde_json::Value = serde_json::from_str(&json).expect("one JSON report");
    assert_eq!(v["model_kind"], "nir", "{json}");
    assert_eq!(v["nir_quantisation"]["steps"], 8, "{json}");
    let text = ok(&["run", s(&graph), "--input", s(&input), "--steps", "8"]);
    assert!(text.contains("(NIR) on loihi2"), "{text}");
    // A value other than 0 or 1 is not a spike: refused, naming the element.
    let graded = dir.path().join("graded.npy");
    let mut x = vec![0.0f32; 4 * 8];
    x[10] = 0.5;
    write_npy_f32(&graded, &[4, 8], &x);
    let err = fails(&["run", s(&graph), "--input", s(&graded)]);
    assert!(
        err.contains("--input element 10 is 0.5; NIR inputs are spikes (0 or 1)"),
        "{err}"
    );
    x[10] = 1.0;
    write_npy_f32(&graded, &[4, 8], &x);
    ok(&["run", s(&graph), "--input", s(&graded)]);
}

#[test]
fn netx_run_refuses_what_does_not_apply_in_one_line() {
    let dir = tempfile::tempdir().expect("dir");
    let data = root().join("crates/loisim-netx/tests/data");
    let net = data.join("tiny.net");
    let sdnn = data.join("pilotnet_sdnn.net");
    let bias = data.join("gts/tinynet/input_bias.npy");
    let b = s(&bias);
    for (args, says) in [
        (
            vec!["run", s(&net), "--bias", b, "--tokens", "3"],
            "--tokens",
        ),
        (
            vec![
                "run",
                s(&net),
                "--bias",
                b,
                "--steps",
                "3",
                "--mode",
                "both",
            ],
            "pipeline mode only",
        ),
        (vec!["run", s(&net), "--bias", b], "--steps"),
        (
            vec![
                "run",
                s(&net),
                "--bias",
                b,
                "--steps",
                "3",
                "--probe-layers",
                "1",
            ],
            "--probe",
        ),
        (
            vec![
                "run",
                s(&net),
                "--bias",
                b,
                "--steps",
                "3",
                "--probe",
                "p",
                "--probe-layers",
                "7",
            ],
            "layers 0 to 2",
        ),
        (
            vec!["run", s(&sdnn), "--input", b, "--steps", "3"],
            "time last",
        ),
        (vec!["run", "--reset-interval", "4"], "netx networks"),
        (vec!["run", "--bias", b], "netx networks"),
        (vec!["run", "--probe", "p"], "netx networks"),
        (
            vec!["map", s(&net), "--input-shape", "1,2"],
            "three positive integers",
        ),
    ] {
        let err = fails(&args);
        assert!(err.contains(says), "{args:?}: {err}");
    }
    // A failed run leaves no output behind.
    let out = dir.path().join("y.npy");
    fails(&[
        "run",
        s(&net),
        "--bias",
        b,
        "--steps",
        "0",
        "--output",
        s(&out),
    ]);
    assert!(!out.exists());
    // Inputs must be integers: NaN and fractions are one-line errors naming the element.
    let x = dir.path().join("x.npy");
    let mut vals = vec![0f32; 16 * 16 * 3 * 2];
    vals[5] = f32::NAN;
    write_npy_f32(&x, &[16, 16, 3, 2], &vals);
    let err = fails(&["run", s(&net), "--input", s(&x), "--output", s(&out)]);
    assert!(err.contains("element 5 is NaN"), "{err}");
    vals[5] = 0.5;
    write_npy_f32(&x, &[16, 16, 3, 2], &vals);
    let err = fails(&["run", s(&net), "--input", s(&x)]);
    assert!(err.contains("element 5 is 0.5"), "{err}");
    assert!(!out.exists());
}

/// A report as `--json` prints it, without the keys a replay does not reproduce (the wall
/// clock, audio and the files written).
fn replay_compared(json: &str) -> serde_json::Value {
    let mut v: serde_json::Value = serde_json::from_str(json).expect("json report");
    let m = v.as_object_mut().expect("object");
    for k in ["sim", "audio", "outputs"] {
        m.remove(k);
    }
    v
}

/// `loihi2` with other synaptic-operation and host-input costs.
fn costlier_chip(dir: &Path) -> PathBuf {
    let p = dir.join("costlier.toml");
    std::fs::write(
        &p,
        "extends = \"loihi2\"\n\
         [ops.synop]\n\
         latency_ns = { value = 3.5, source = \"test\" }\n\
         energy_pj = { value = 40.0, source = \"test\" }\n\
         [io.input_message]\n\
         latency_ns = { value = 900.0, source = \"test\" }\n\
         energy_pj = { value = 5000.0, source = \"test\" }\n",
    )
    .expect("write chip");
    p
}

#[test]
fn replay_of_an_s5_run_equals_full_runs_at_the_recording_and_other_costs() {
    let dir = tempfile::tempdir().expect("dir");
    let act = dir.path().join("a.act");
    let chip = costlier_chip(dir.path());
    let model = "models/s5-sparse-0.25x.bin";
    let full = ok(&[
        "run",
        model,
        "--tokens",
        "30",
        "--json",
        "--quiet",
        "--activity",
        s(&act),
    ]);
    let replayed = ok(&["replay", s(&act), "--json"]);
    assert_eq!(replay_compared(&replayed), replay_compared(&full));
    let full_other = ok(&[
        "run",
        model,
        "--tokens",
        "30",
        "--json",
        "--quiet",
        "--chip",
        s(&chip),
    ]);
    assert_ne!(replay_compared(&full_other), replay_compared(&full));
    let replayed_other = ok(&["replay", s(&act), "--json", "--chip", s(&chip)]);
    assert_eq!(
        replay_compared(&replayed_other),
        replay_compared(&full_other)
    );
    let text = ok(&["replay", s(&act)]);
    assert!(text.contains("recorded on loihi2"), "{text}");
    assert!(text.contains("fall-through  latency"), "{text}");
    // Another structure: exit 2, one line naming the field.
    let err = fails(&["replay", s(&act), "--chip", "kapoho-point"]);
    assert!(err.contains("board.chips_x"), "{err}");
}

#[test]
fn replay_of_a_netx_run_equals_the_full_run() {
    let dir = tempfile::tempdir().expect("dir");
    let data = root().join("crates/loisim-netx/tests/data");
    let (net, bias) = (
        data.join("tiny.net"),
        data.join("gts/tinynet/input_bias.npy"),
    );
    let act = dir.path().join("tiny.act");
    let run = |extra: &[&str]| {
        let mut args = vec![
            "run",
            s(&net),
            "--bias",
            s(&bias),
            "--steps",
            "12",
            "--reset-interval",
            "6",
            "--json",
        ];
        args.extend_from_slice(extra);
        ok(&args)
    };
    let full = run(&["--activity", s(&act)]);
    assert_eq!(
        replay_compared(&ok(&["replay", s(&act), "--json"])),
        replay_compared(&full)
    );
    let chip = costlier_chip(dir.path());
    assert_eq!(
        replay_compared(&ok(&["replay", s(&act), "--json", "--chip", s(&chip)])),
        replay_compared(&run(&["--chip", s(&chip)]))
    );
    let text = ok(&["replay", s(&act)]);
    assert!(text.contains("(netx) on loihi2"), "{text}");
}

#[test]
fn activity_recording_and_replay_refuse_what_they_cannot_do() {
    let dir = tempfile::tempdir().expect("dir");
    let act = dir.path().join("a.act");
    let model = "models/s5-sparse-0.25x.bin";
    for (args, says) in [
        (
            vec![
                "run",
                model,
                "--tokens",
                "2",
                "--reference",
                "--activity",
                s(&act),
            ],
            "without --reference",
        ),
        (vec!["replay", s(&act)], "cannot read"),
        (vec!["replay", model], "not a loisim activity file"),
    ] {
        let err = fails(&args);
        assert!(err.contains(says), "{args:?}: {err}");
    }
    // A run that fails once started (the clean reference does not match the noisy input)
    // leaves no activity file behind.
    let (x, clean, short) = (
        dir.path().join("x.wav"),
        dir.path().join("c.wav"),
        dir.path().join("short.wav"),
    );
    ok(&[
        "gen-audio",
        "--seconds",
        "0.5",
        "-o",
        s(&x),
        "--clean-output",
        s(&clean),
    ]);
    ok(&["gen-audio", "--seconds", "0.25", "-o", s(&short)]);
    let err = fails(&[
        "run",
        model,
        "--input",
        s(&x),
        "--clean",
        s(&short),
        "--activity",
        s(&act),
    ]);
    assert!(err.contains("must match"), "{err}");
    assert!(!act.exists());
    // A .wav input records and replays like tokens.
    let full = ok(&[
        "run",
        model,
        "--input",
        s(&x),
        "--clean",
        s(&clean),
        "--json",
        "--activity",
        s(&act),
    ]);
    assert!(full.contains("si_snr_db"), "{full}");
    assert_eq!(
        replay_compared(&ok(&["replay", s(&act), "--json"])),
        replay_compared(&full)
    );
}

#[test]
fn sensitivity_is_reported_for_s5_and_netx_runs() {
    let json: serde_json::Value = serde_json::from_str(&ok(&[
        "run",
        "models/s5-sparse-0.25x.bin",
        "--tokens",
        "40",
        "--sensitivity",
        "--json",
        "--quiet",
    ]))
    .expect("json");
    let s = &json["sensitivity"];
    assert_eq!(s["figures"].as_array().map(Vec::len), Some(9));
    assert_eq!(s["parameters"].as_array().map(Vec::len), Some(41));
    let text = ok(&[
        "run",
        "crates/loisim-netx/tests/data/tiny.net",
        "--bias",
        "crates/loisim-netx/tests/data/gts/tinynet/input_bias.npy",
        "--steps",
        "6",
        "--sensitivity",
    ]);
    assert!(text.contains("sensitivity: d ln(figure)"), "{text}");
    assert!(text.contains("static.board_mw"), "{text}");
    let err = fails(&["run", "--reference", "--tokens", "3", "--sensitivity"]);
    assert!(err.contains("without --reference"), "{err}");
}

/// `loisim ... | head`: a reader that closes the pipe early ends the command quietly (exit 0,
/// nothing on stderr), not with a panic.
#[test]
fn a_closed_stdout_ends_the_command_quietly() {
    for args in [
        vec!["chip", "show"],
        vec!["map", "crates/loisim-netx/tests/data/tiny.net", "--json"],
    ] {
        let mut child = Command::new(env!("CARGO_BIN_EXE_loisim"))
            .args(&args)
            .current_dir(root())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("spawn");
        // Close the reading end before the command writes anything.
        drop(child.stdout.take());
        let out = child.wait_with_output().expect("wait");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(!err.contains("panicked"), "{args:?}: {err}");
        assert_eq!(out.status.code(), Some(0), "{args:?}: {err}");
    }
}

/// A batch's JSON without what names the run rather than its figures: the wall clock and the
/// output paths.
fn batch_figures(json: &str) -> serde_json::Value {
    let mut v: serde_json::Value = serde_json::from_str(json).expect("json");
    let m = v.as_object_mut().expect("object");
    m.remove("sim");
    m.remove("outputs");
    for s in m["per_sample"].as_array_mut().expect("per_sample") {
        s.as_object_mut().expect("sample").remove("output");
    }
    v
}

/// Files by name, with their bytes.
type Files = Vec<(String, Vec<u8>)>;

/// The files of a directory, by name, with their bytes.
fn dir_bytes(dir: &Path) -> Files {
    let mut v: Vec<(String, Vec<u8>)> = std::fs::read_dir(dir)
        .expect("dir")
        .map(|e| {
            let p = e.expect("entry").path();
            (
                p.file_name().expect("name").to_string_lossy().into_owned(),
                std::fs::read(&p).expect("read"),
            )
        })
        .collect();
    v.sort();
    v
}

#[test]
fn a_batch_of_clips_is_the_same_bits_at_1_2_and_8_threads() {
    let dir = tempfile::tempdir().expect("tmp");
    let (noisy, clean) = (dir.path().join("noisy"), dir.path().join("clean"));
    std::fs::create_dir(&noisy).expect("dir");
    std::fs::create_dir(&clean).expect("dir");
    for seed in 1..=8 {
        let name = format!("clip{seed}.wav");
        ok(&[
            "gen-audio",
            "--seconds",
            "1.5",
            "--seed",
            &seed.to_string(),
            "-o",
            s(&noisy.join(&name)),
            "--clean-output",
            s(&clean.join(&name)),
        ]);
    }
    let model = "models/s5-sparse-0.25x.bin";
    let mut first: Option<(serde_json::Value, Files)> = None;
    for threads in ["1", "2", "8"] {
        let out = dir.path().join(format!("out{threads}"));
        let json = ok(&[
            "run",
            model,
            "--input",
            s(&noisy),
            "--clean",
            s(&clean),
            "--output",
            s(&out),
            "--threads",
            threads,
            "--json",
        ]);
        let raw: serde_json::Value = serde_json::from_str(&json).expect("json");
        assert_eq!(raw["sim"]["threads"], threads.parse::<u64>().expect("n"));
        assert_eq!(raw["outputs"]["output"], s(&out));
        assert_eq!(
            raw["per_sample"][3]["output"],
            s(&out.join("clip4.wav")),
            "each output named by its input's stem"
        );
        let (figures, files) = (batch_figures(&json), dir_bytes(&out));
        assert_eq!(files.len(), 8);
        match &first {
            None => first = Some((figures, files)),
            Some((f0, b0)) => {
                let mut diff = Vec::new();
                json_diff(f0, &figures, "", &mut diff);
                assert!(diff.is_empty(), "{threads} threads: {diff:?}");
                assert!(&files == b0, "{threads} threads: other output bytes");
            }
        }
    }
    let (j, _) = first.expect("runs");
    assert_eq!(j["samples"], 8);
    assert!(j.get("fall_through").is_none() && j.get("pipeline").is_none());
    let names: Vec<&str> = j["per_sample"]
        .as_array()
        .expect("list")
        .iter()
        .map(|p| p["input"].as_str().expect("name"))
        .collect();
    assert_eq!(names[..3], ["clip1.wav", "clip2.wav", "clip3.wav"]);
    for key in [
        "fall_through.latency_us_per_token",
        "fall_through.energy_total_uj_per_token",
        "pipeline.latency_ms_per_sample",
        "pipeline.throughput_samples_per_s",
        "audio.si_snr_db",
        "audio.si_snri_db",
    ] {
        let mut a = &j["aggregate"];
        for k in key.split('.') {
            a = &a[k];
        }
        for f in ["mean", "std", "min", "max"] {
            assert!(a[f].is_number(), "aggregate.{key}.{f}: {a}");
        }
    }
    let si = &j["aggregate"]["audio"]["si_snr_db"];
    assert!(
        si["min"].as_f64() < si["max"].as_f64(),
        "clips that differ: {si}"
    );
    // A sample's figures are those of a run of its file alone.
    let alone: serde_json::Value = serde_json::from_str(&ok(&[
        "run",
        model,
        "--input",
        s(&noisy.join("clip5.wav")),
        "--clean",
        s(&clean.join("clip5.wav")),
        "--json",
    ]))
    .expect("json");
    for k in ["fall_through", "pipeline", "audio"] {
        assert_eq!(j["per_sample"][4][k], alone[k], "{k}");
    }
    assert!(alone.get("per_sample").is_none() && alone.get("aggregate").is_none());
    // The text gives the aggregate of the headline figures.
    let text = ok(&[
        "run",
        model,
        "--input",
        s(&noisy.join("clip1.wav")),
        "--input",
        s(&noisy.join("clip2.wav")),
        "--threads",
        "2",
    ]);
    assert!(
        text.contains("batch: 2 inputs (clip1.wav ... clip2.wav)"),
        "{text}"
    );
    assert!(text.contains("mean ± std"), "{text}");
    assert!(text.contains("fall-through latency (us/token)"), "{text}");
    assert!(text.contains("pipeline latency (ms/sample)"), "{text}");
    assert!(text.contains("2 thread(s)"), "{text}");
}

#[test]
fn npy_batches_keep_the_given_order_and_cut_each_sample() {
    let dir = tempfile::tempdir().expect("tmp");
    let copy = dir.path().join("again.npy");
    std::fs::copy(root().join("models/default-input.npy"), &copy).expect("copy");
    let out = dir.path().join("out");
    let json: serde_json::Value = serde_json::from_str(&ok(&[
        "run",
        "models/s5-sparse-0.25x.bin",
        "--input",
        "models/default-input.npy",
        "--input",
        s(&copy),
        "--tokens",
        "24",
        "--output",
        s(&out),
        "--json",
    ]))
    .expect("json");
    assert_eq!(json["tokens"], 48);
    assert_eq!(json["per_sample"][0]["input"], "default-input.npy");
    assert_eq!(json["per_sample"][1]["input"], "again.npy");
    assert_eq!(json["aggregate"]["tokens"]["mean"], 24.0);
    assert_eq!(
        json["aggregate"]["fall_through"]["latency_us_per_token"]["std"], 0.0,
        "the same tokens twice"
    );
    let (shape, a) = read_npy_i32(&out.join("default-input.npy"));
    assert_eq!(shape, [24, 257]);
    assert_eq!(read_npy_i32(&out.join("again.npy")).1, a);
}

#[test]
fn a_netx_batch_of_bias_images() {
    let dir = tempfile::tempdir().expect("tmp");
    let data = root().join("crates/loisim-netx/tests/data");
    let net = data.join("tiny.net");
    let bytes = std::fs::read(data.join("gts/tinynet/input_bias.npy")).expect("bias");
    let npy = npyz::NpyFile::new(&bytes[..]).expect("npy");
    let shape = npy.shape().to_vec();
    let bias: Vec<f64> = npy.into_vec::<f64>().expect("f8");
    let images = dir.path().join("images");
    std::fs::create_dir(&images).expect("dir");
    for k in 0..3 {
        let scaled: Vec<f32> = bias
            .iter()
            .map(|b| (b * f64::from(k + 2) / 3.0).trunc() as f32)
            .collect();
        write_npy_f32(&images.join(format!("img{k}.npy")), &shape, &scaled);
    }
    let mut first = None;
    for threads in ["1", "8"] {
        let out = dir.path().join(format!("out{threads}"));
        let json = ok(&[
            "run",
            s(&net),
            "--bias",
            s(&images),
            "--steps",
            "8",
            "--output",
            s(&out),
            "--threads",
            threads,
            "--json",
        ]);
        let files = dir_bytes(&out);
        assert_eq!(
            files.iter().map(|f| f.0.as_str()).collect::<Vec<_>>(),
            ["img0.npy", "img1.npy", "img2.npy"]
        );
        let figures = batch_figures(&json);
        assert!(figures["aggregate"]["pipeline"]["energy_total_uj_per_step"]["mean"].is_number());
        match &first {
            None => first = Some((figures, files)),
            Some((f0, b0)) => {
                assert_eq!(f0, &figures, "{threads} threads");
                assert!(b0 == &files, "{threads} threads: other output bytes");
            }
        }
    }
    // A batch of --input arrays, each image's bias scaled into spikes for two steps.
    let inputs = dir.path().join("inputs");
    std::fs::create_dir(&inputs).expect("dir");
    for k in 0..2u32 {
        let spikes: Vec<f32> = (0..bias.len() * 2)
            .map(|i| {
                if (i as u32 * (3 + k)).is_multiple_of(5) {
                    40.0
                } else {
                    0.0
                }
            })
            .collect();
        let mut shape2 = shape.clone();
        shape2.push(2);
        write_npy_f32(&inputs.join(format!("x{k}.npy")), &shape2, &spikes);
    }
    let text = ok(&["run", s(&net), "--input", s(&inputs), "--steps", "4"]);
    assert!(
        text.contains("batch: 2 inputs (x0.npy ... x1.npy), 8 steps"),
        "{text}"
    );
    assert!(text.contains("pipeline timestep (us, mean)"), "{text}");
    // The first image's output is the single run's.
    let one = dir.path().join("one.npy");
    ok(&[
        "run",
        s(&net),
        "--bias",
        s(&images.join("img0.npy")),
        "--steps",
        "8",
        "--output",
        s(&one),
    ]);
    assert_eq!(
        std::fs::read(&one).expect("one"),
        std::fs::read(dir.path().join("out1/img0.npy")).expect("batch")
    );
}

#[test]
fn batch_errors_are_one_line() {
    let dir = tempfile::tempdir().expect("tmp");
    let p = |n: &str| dir.path().join(n);
    for d in ["empty", "mixed", "npys", "other", "clean", "bad"] {
        std::fs::create_dir(p(d)).expect("dir");
    }
    std::fs::write(p("empty/notes.txt"), b"no input here").expect("write");
    let shipped = root().join("models/default-input.npy");
    std::fs::copy(&shipped, p("mixed/a.npy")).expect("copy");
    std::fs::copy(
        root().join("models/default-clip-noisy.wav"),
        p("mixed/b.wav"),
    )
    .expect("copy");
    std::fs::copy(&shipped, p("npys/a.npy")).expect("copy");
    std::fs::copy(&shipped, p("npys/b.npy")).expect("copy");
    std::fs::copy(&shipped, p("other/a.npy")).expect("copy");
    std::fs::copy(&shipped, p("bad/a.npy")).expect("copy");
    std::fs::write(p("bad/b.npy"), b"not an npy file").expect("write");
    for n in ["x.wav", "y.wav"] {
        std::fs::copy(
            root().join("models/default-clip-noisy.wav"),
            p(&format!("wavs-{n}")),
        )
        .expect("copy");
    }
    std::fs::create_dir(p("wavs")).expect("dir");
    for n in ["x.wav", "y.wav"] {
        std::fs::rename(p(&format!("wavs-{n}")), p("wavs").join(n)).expect("move");
    }
    std::fs::copy(
        root().join("models/default-clip-clean.wav"),
        p("clean/x.wav"),
    )
    .expect("copy");
    let model = "models/s5-sparse-0.25x.bin";
    let net = root().join("crates/loisim-netx/tests/data/tiny.net");
    let owned =
        |v: &[&str]| -> Vec<String> { v.iter().map(|a| a.replace("DIR", s(dir.path()))).collect() };
    let cases: Vec<(Vec<String>, &str)> = vec![
        (
            owned(&["run", model, "--input", "DIR/empty"]),
            "holds no .npy or .wav file",
        ),
        (
            owned(&["run", model, "--input", "DIR/mixed"]),
            "all one kind of file",
        ),
        (
            owned(&["run", model, "--input", "DIR/npys", "--input", "DIR/other"]),
            "the same stem `a`",
        ),
        (
            owned(&[
                "run",
                model,
                "--input",
                "DIR/npys/a.npy",
                "--input",
                "DIR/missing.npy",
            ]),
            "missing.npy",
        ),
        (
            owned(&["run", model, "--input", "DIR/bad", "--tokens", "4"]),
            "b.npy",
        ),
        (
            owned(&["run", model, "--input", "DIR/wavs", "--clean", "DIR/clean"]),
            "no clean twin of",
        ),
        (
            owned(&[
                "run",
                model,
                "--input",
                "DIR/wavs",
                "--clean",
                "DIR/clean/x.wav",
            ]),
            "names a directory",
        ),
        (
            owned(&["run", model, "--input", "DIR/npys", "--clean", "DIR/clean"]),
            "--clean applies to .wav inputs",
        ),
        (
            owned(&["run", model, "--input", "DIR/npys", "--trace", "DIR/t"]),
            "--trace applies to a single run",
        ),
        (
            owned(&["run", model, "--input", "DIR/npys", "--plot", "DIR/p"]),
            "--plot applies to a single run",
        ),
        (
            owned(&["run", model, "--input", "DIR/npys", "--sensitivity"]),
            "--sensitivity applies to a single run",
        ),
        (
            owned(&["run", model, "--input", "DIR/npys", "--output", "DIR/y.npy"]),
            "names a directory",
        ),
        (
            owned(&["run", model, "--input", "DIR/wavs", "--tokens", "3"]),
            "--tokens applies to .npy inputs",
        ),
        (
            owned(&["run", s(&net), "--bias", "DIR/npys", "--probe", "DIR/pr"]),
            "--probe applies to a single run",
        ),
        (
            owned(&[
                "run",
                s(&net),
                "--bias",
                "DIR/npys",
                "--input",
                "DIR/other",
                "--input",
                "DIR/bad",
            ]),
            "not both",
        ),
        (
            owned(&["run", s(&net), "--bias", "DIR/empty"]),
            "holds no .npy file",
        ),
    ];
    for (args, want) in &cases {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let err = fails(&args);
        assert!(err.contains(want), "{args:?}: {err}");
    }
    // Nothing was written by any of them.
    for gone in ["t", "p", "y.npy", "pr"] {
        assert!(!p(gone).exists(), "{gone}");
    }
}
