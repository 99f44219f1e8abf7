//! Running NIR graphs through the library: lowered onto Lava's LIF layers, run by the engine
//! and by the IR interpreter, and compared with the float64 reference of NIR's semantics.

use loisim::Chip;
use loisim::netx::default_compile_options;
use loisim::nir::{DEFAULT_DT_S, NirRunOptions, load_nir, nir_from_graph, read_nir_input, run_nir};
use std::path::PathBuf;

fn data(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../loisim-nir/tests/data")
        .join(name)
}

fn run(name: &str, reference: bool) -> loisim::nir::NirRun {
    let nir = load_nir(&data(&format!("{name}.nir")), DEFAULT_DT_S).expect("load");
    let chip = Chip::default_chip();
    let opts = NirRunOptions {
        input: Some(read_nir_input(&data(&format!("{name}_input.npy"))).expect("input")),
        reference,
        threads: 1,
        ..NirRunOptions::default()
    };
    run_nir(&nir, &chip, &default_compile_options(&chip), &opts).expect("run")
}

#[test]
fn runs_report_the_quantisation_error_against_the_float_reference() {
    let r = run("lif_dense", false);
    let q = &r.quantisation;
    assert_eq!((q.steps, q.output_neurons, q.dt_s), (40, 4, 1e-3));
    // On this graph 8-bit weights and 12-bit decays change no output spike.
    assert_eq!((q.output_spikes, q.output_spikes_float), (62, 62));
    assert_eq!(q.identical_output_spike_fraction, 1.0);
    assert_eq!(r.output, r.output_float);
    let json: serde_json::Value = serde_json::from_str(&r.to_json()).unwrap();
    let nq = &json["nir_quantisation"];
    for key in [
        "dt_s",
        "output_spike_count_abs_error_mean",
        "output_spike_count_abs_error_max",
        "identical_output_spike_fraction",
    ] {
        assert!(nq[key].is_number(), "{key} in {nq}");
    }
    assert!(json["pipeline"].is_object(), "the netx report is kept");
    // The conv chain loses a little: the error is measured, not zero.
    let c = run("conv_pool_dense", false).quantisation;
    assert!(c.identical_output_spike_fraction > 0.8, "{c:?}");
    assert!(c.identical_output_spike_fraction < 1.0, "{c:?}");
    assert!(c.output_spike_count_abs_error_max >= 1, "{c:?}");
    let expected = c.output_spikes.abs_diff(c.output_spikes_float) as f64 / 4.0;
    assert!(c.output_spike_count_abs_error_mean >= expected);
}

#[test]
fn engine_and_reference_interpreter_agree_on_nir_networks() {
    for name in ["lif_dense", "cubalif_dense", "conv_pool_dense"] {
        let chip = run(name, false);
        let reference = run(name, true);
        assert_eq!(chip.output, reference.output, "{name}");
        assert!(
            chip.output.iter().flatten().any(|&s| s != 0),
            "{name} spikes"
        );
        assert!(reference.report.pipeline.is_none());
    }
}

#[test]
fn the_output_file_is_time_first_in_nir_order() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("y.npy");
    let nir = load_nir(&data("cubalif_dense.nir"), DEFAULT_DT_S).unwrap();
    let chip = Chip::default_chip();
    let opts = NirRunOptions {
        input: Some(read_nir_input(&data("cubalif_dense_input.npy")).unwrap()),
        steps: Some(25),
        threads: 1,
        output: Some(path.clone()),
        ..NirRunOptions::default()
    };
    let r = run_nir(&nir, &chip, &default_compile_options(&chip), &opts).unwrap();
    let bytes = std::fs::read(&path).unwrap();
    let f = npyz::NpyFile::new(&bytes[..]).unwrap();
    assert_eq!(f.shape(), [25, 3]);
    let v: Vec<i32> = f.into_vec().unwrap();
    let want: Vec<i32> = r.output.iter().flatten().map(|&s| i32::from(s)).collect();
    assert_eq!(v, want);
    assert_eq!(
        r.report.outputs.output.as_deref(),
        Some(&*path.to_string_lossy())
    );
}

#[test]
fn a_graph_in_memory_runs_as_its_file() {
    let graph = loisim_nir::read(data("lif_dense.nir")).unwrap();
    let nir = nir_from_graph("lif_dense", &graph, DEFAULT_DT_S).unwrap();
    let chip = Chip::default_chip();
    let opts = NirRunOptions {
        input: Some(read_nir_input(&data("lif_dense_input.npy")).unwrap()),
        threads: 1,
        ..NirRunOptions::default()
    };
    let r = run_nir(&nir, &chip, &default_compile_options(&chip), &opts).unwrap();
    assert_eq!(r.output, run("lif_dense", false).output);
}

#[test]
fn unsupported_graphs_and_wrong_inputs_are_one_line_errors() {
    let e = load_nir(&data("bad_v_reset.nir"), DEFAULT_DT_S)
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("`lif`") && e.contains("v_reset") && !e.contains('\n'),
        "{e}"
    );
    let nir = load_nir(&data("lif_dense.nir"), DEFAULT_DT_S).unwrap();
    let chip = Chip::default_chip();
    let opts = NirRunOptions {
        input: Some(read_nir_input(&data("conv_pool_dense_input.npy")).unwrap()),
        ..NirRunOptions::default()
    };
    let e = run_nir(&nir, &chip, &default_compile_options(&chip), &opts)
        .unwrap_err()
        .to_string();
    assert!(e.contains("time first"), "{e}");
    assert!(load_nir(&data("lif_dense.nir"), 0.0).is_err());
}

#[test]
fn delays_run_on_the_chip_as_in_the_float_reference() {
    let mut graph = loisim_nir::read(data("lif_dense.nir")).unwrap();
    let d: Vec<f64> = (0..8).map(|i| f64::from(i % 4) * 1e-3).collect();
    graph.nodes.insert(
        "delay".into(),
        loisim_nir::Node::new("Delay", [("delay", loisim_nir::Array::vector(d))]),
    );
    graph.edges.retain(|(s, _)| s != "input");
    graph.edges.push(("input".into(), "delay".into()));
    graph.edges.push(("delay".into(), "affine".into()));
    let chip = Chip::default_chip();
    let input = read_nir_input(&data("lif_dense_input.npy")).unwrap();
    let go = |g: &loisim_nir::Graph, reference: bool| {
        let nir = nir_from_graph("delayed", g, DEFAULT_DT_S).unwrap();
        let opts = NirRunOptions {
            input: Some(input.clone()),
            reference,
            threads: 1,
            ..NirRunOptions::default()
        };
        run_nir(&nir, &chip, &default_compile_options(&chip), &opts).unwrap()
    };
    let on_chip = go(&graph, false);
    assert_eq!(on_chip.output, go(&graph, true).output);
    assert_ne!(
        on_chip.output,
        run("lif_dense", false).output,
        "the delays matter"
    );
    let q = &on_chip.quantisation;
    assert!(q.identical_output_spike_fraction >= 0.95, "{q:?}");
    assert!(q.output_spikes > 20, "{q:?}");
}
