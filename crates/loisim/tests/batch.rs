//! Batches of samples through the library: every sample as its own run, the same bits at any
//! thread count, aggregates of the per-sample figures, outputs all or none.

use loisim::batch::{Sample, list_files, pair_clean, run_reference_batch};
use loisim::report::{Aggregate, SimSpeed};
use loisim::{Chip, CompileOptions, Input, RunOptions, Simulation};
use std::path::{Path, PathBuf};

fn models() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../models")
}

/// The small shipped model and `n` samples of `len` tokens, each from another place of the
/// shipped input (so that every sample's figures differ).
fn setup(n: usize, len: usize) -> (Simulation, Vec<Sample>) {
    let model = loisim::load_model(&models().join("s5-sparse-0.25x.bin")).expect("model");
    let tokens = loisim::read_tokens(&models().join("default-input.npy"), &model).expect("tokens");
    let samples = (0..n)
        .map(|i| {
            let at = 97 * i;
            Sample {
                name: format!("s{i}.npy"),
                stem: format!("s{i}"),
                input: Input::Tokens(tokens[at..at + len].to_vec()),
            }
        })
        .collect();
    let sim = Simulation::compile(model, &Chip::default_chip(), &CompileOptions::default())
        .expect("compile");
    (sim, samples)
}

fn without_sim(mut r: loisim::Report) -> loisim::Report {
    r.sim = SimSpeed::default();
    r
}

/// Files by name, with their bytes.
type Files = Vec<(String, Vec<u8>)>;

/// Each sample's output integers.
type Outputs = Vec<Vec<Vec<i32>>>;

fn files(dir: &Path) -> Files {
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
fn a_batch_is_the_same_bits_at_1_2_and_8_threads_and_each_sample_is_its_own_run() {
    let (sim, samples) = setup(8, 64);
    let dir = tempfile::tempdir().expect("dir");
    let mut seen: Option<(loisim::Report, Outputs, Files)> = None;
    for threads in [1, 2, 8] {
        let out = dir.path().join(format!("out{threads}"));
        let opts = RunOptions {
            threads,
            output: Some(out.clone()),
            ..RunOptions::default()
        };
        let run = sim.run_batch(&samples, &opts).expect("batch");
        assert_eq!(run.report.sim.threads, threads, "the threads that ran");
        let written = files(&out);
        assert_eq!(written.len(), 8);
        assert_eq!(written[0].0, "s0.npy");
        let mut report = without_sim(run.report);
        // Output paths name the thread count's directory; the rest must be the same bits.
        report.outputs = loisim::report::Outputs::default();
        for s in &mut report.per_sample {
            let o = s.output.take().expect("an output per sample");
            assert!(Path::new(&o).starts_with(&out), "{o}");
        }
        match &seen {
            None => seen = Some((report, run.outputs, written)),
            Some((r0, o0, w0)) => {
                assert_eq!(&report, r0, "report at {threads} threads");
                assert_eq!(&run.outputs, o0, "outputs at {threads} threads");
                assert_eq!(&written, w0, "files at {threads} threads");
            }
        }
    }
    let (report, outputs, _) = seen.expect("runs");
    assert_eq!((report.samples, report.tokens), (8, 8 * 64));
    assert!(report.fall_through.is_none() && report.pipeline.is_none());
    // Each sample's figures are those of a run of that sample alone (any engine threads).
    for (i, s) in samples.iter().enumerate() {
        let alone = sim
            .run(&s.input, &RunOptions::default(), None)
            .expect("alone");
        let fig = &report.per_sample[i];
        assert_eq!(fig.input, s.name);
        assert_eq!(fig.fall_through, alone.report.fall_through, "sample {i}");
        assert_eq!(fig.pipeline, alone.report.pipeline, "sample {i}");
        assert_eq!(outputs[i], alone.outputs, "sample {i}");
    }
    // The aggregate of a figure is the aggregate of the samples' values, in order.
    let agg = report.aggregate.as_ref().expect("aggregate");
    let lat: Vec<f64> = report
        .per_sample
        .iter()
        .map(|f| f.fall_through.as_ref().expect("ft").latency_us_per_token)
        .collect();
    assert_eq!(
        agg.get("fall_through.latency_us_per_token"),
        Aggregate::of(&lat).as_ref()
    );
    let a = agg
        .get("fall_through.latency_us_per_token")
        .expect("figure");
    assert!(a.min < a.max, "samples that differ: {a:?}");
    let board: Vec<f64> = report
        .per_sample
        .iter()
        .map(|f| {
            f.pipeline
                .as_ref()
                .expect("pl")
                .energy_by_domain_mj_per_sample
                .board
                .total
        })
        .collect();
    assert_eq!(
        agg.get("pipeline.energy_by_domain_mj_per_sample.board.total"),
        Aggregate::of(&board).as_ref()
    );
    assert!(
        agg.get("tokens")
            .is_some_and(|t| t.std == 0.0 && t.mean == 64.0)
    );
    // The JSON has the list and the aggregate, each figure an object {mean, std, min, max}.
    let json: serde_json::Value = serde_json::from_str(&report.to_json()).expect("json");
    assert_eq!(json["per_sample"].as_array().map(Vec::len), Some(8));
    let f = &json["aggregate"]["fall_through"]["latency_us_per_token"];
    for k in ["mean", "std", "min", "max"] {
        assert!(f[k].is_f64(), "{k} in {f}");
    }
    assert_eq!(json["aggregate"]["fall_through"]["headline_basis"], "chip");
    // It parses back into the same shape (numbers to within a rounding).
    let back: loisim::Report = serde_json::from_str(&report.to_json()).expect("parse");
    assert_eq!(back.per_sample.len(), 8);
    assert_eq!(
        shape(back.aggregate.as_ref()),
        shape(report.aggregate.as_ref())
    );
    let b = back
        .aggregate
        .as_ref()
        .and_then(|g| g.get("fall_through.latency_us_per_token"));
    assert!(b.is_some_and(|b| (b.mean - a.mean).abs() <= 1e-12 * a.mean));
}

/// The keys of an aggregate, each with what it holds.
fn shape(a: Option<&loisim::report::Aggregates>) -> Vec<String> {
    use loisim::report::AggregateNode;
    fn walk(at: &str, n: &AggregateNode, out: &mut Vec<String>) {
        match n {
            AggregateNode::Figure(_) => out.push(format!("{at} figure")),
            AggregateNode::Text(t) => out.push(format!("{at} = {t}")),
            AggregateNode::Group(m) => {
                for (k, v) in m {
                    walk(&format!("{at}.{k}"), v, out);
                }
            }
        }
    }
    let mut out = Vec::new();
    for (k, v) in &a.expect("aggregate").0 {
        walk(k, v, &mut out);
    }
    out
}

#[test]
fn a_single_run_reports_no_batch_keys() {
    let (sim, samples) = setup(1, 16);
    let run = sim
        .run(&samples[0].input, &RunOptions::default(), None)
        .expect("run");
    let json: serde_json::Value = serde_json::from_str(&run.report.to_json()).expect("json");
    assert!(json.get("per_sample").is_none() && json.get("aggregate").is_none());
    assert_eq!(json["samples"], 1);
}

#[test]
fn a_batch_that_fails_midway_writes_no_output() {
    let (sim, mut samples) = setup(3, 16);
    samples[2].input = Input::Tokens(Vec::new());
    let dir = tempfile::tempdir().expect("dir");
    let out = dir.path().join("out");
    for threads in [1, 2] {
        let opts = RunOptions {
            threads,
            output: Some(out.clone()),
            ..RunOptions::default()
        };
        let err = sim.run_batch(&samples, &opts).expect_err("an empty sample");
        assert!(err.to_string().starts_with("s2.npy: "), "{err}");
        assert!(!out.exists(), "nothing written");
        assert!(
            std::fs::read_dir(dir.path()).expect("dir").next().is_none(),
            "no staging left behind"
        );
    }
}

#[test]
fn the_reference_executor_runs_batches_too() {
    let (sim, samples) = setup(3, 16);
    let opts = RunOptions::default();
    let batch = run_reference_batch(sim.model(), &samples, &opts).expect("batch");
    let chip = sim.run_batch(&samples, &opts).expect("chip batch");
    assert_eq!(batch.outputs, chip.outputs, "bit-exact on the chip");
    let r = &batch.report;
    assert_eq!(r.per_sample.len(), 3);
    assert!(
        r.aggregate
            .as_ref()
            .is_some_and(|a| a.get("macs_active_per_token").is_some())
    );
}

#[test]
fn batch_files_come_in_byte_order_with_one_kind_and_distinct_stems() {
    let dir = tempfile::tempdir().expect("dir");
    let d = dir.path();
    for name in ["b.npy", "B.npy", "a.npy", ".hidden.npy", "notes.txt"] {
        std::fs::write(d.join(name), b"x").expect("write");
    }
    std::fs::create_dir(d.join("sub.npy")).expect("subdir");
    let got = list_files(&[d.to_path_buf()], &["npy", "wav"], "--input").expect("list");
    let names: Vec<_> = got
        .iter()
        .map(|p| p.file_name().expect("name").to_string_lossy().into_owned())
        .collect();
    assert_eq!(names, ["B.npy", "a.npy", "b.npy"]);

    let empty = d.join("empty");
    std::fs::create_dir(&empty).expect("dir");
    let err = list_files(&[empty], &["npy", "wav"], "--input").expect_err("empty");
    assert!(
        err.to_string().contains("holds no .npy or .wav file"),
        "{err}"
    );

    std::fs::write(d.join("c.wav"), b"x").expect("write");
    let err = list_files(&[d.to_path_buf()], &["npy", "wav"], "--input").expect_err("mixed");
    assert!(err.to_string().contains("all one kind of file"), "{err}");

    let other = d.join("other");
    std::fs::create_dir(&other).expect("dir");
    std::fs::write(other.join("a.npy"), b"x").expect("write");
    let err = list_files(&[d.join("a.npy"), other.join("a.npy")], &["npy"], "--input")
        .expect_err("same stem");
    assert!(err.to_string().contains("the same stem `a`"), "{err}");

    let clean = d.join("clean");
    std::fs::create_dir(&clean).expect("dir");
    std::fs::write(clean.join("x.wav"), b"x").expect("write");
    let noisy = [d.join("x.wav"), d.join("y.wav")];
    let err = pair_clean(&noisy, &clean).expect_err("missing twin");
    assert!(err.to_string().contains("no clean twin of"), "{err}");
    assert!(err.to_string().contains("y.wav"), "{err}");
    assert_eq!(
        pair_clean(&noisy[..1], &clean).expect("pair"),
        [clean.join("x.wav")]
    );
    let err = pair_clean(&noisy, &clean.join("x.wav")).expect_err("not a directory");
    assert!(err.to_string().contains("names a directory"), "{err}");
}

#[test]
fn a_netx_batch_of_bias_images_is_each_image_run_alone() {
    use loisim::netx::{
        NetxOptions, NetxRunOptions, NetxSample, default_compile_options, load_netx,
        read_lava_array, run_netx, run_netx_batch,
    };
    let data = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../loisim-netx/tests/data");
    let netx = load_netx(&data.join("tiny.net"), &NetxOptions::default()).expect("load");
    let bias = read_lava_array(&data.join("gts/tinynet/input_bias.npy")).expect("bias");
    let chip = Chip::default_chip();
    let compile = default_compile_options(&chip);
    let samples: Vec<NetxSample> = (0..4)
        .map(|k| {
            let mut b = bias.clone();
            for v in &mut b.values {
                *v = *v * (k + 2) / 3;
            }
            NetxSample {
                name: format!("img{k}.npy"),
                stem: format!("img{k}"),
                input: None,
                bias: Some(b),
            }
        })
        .collect();
    let opts = NetxRunOptions {
        steps: Some(8),
        ..NetxRunOptions::default()
    };
    let mut first: Option<loisim::Report> = None;
    for threads in [1, 2, 8] {
        let o = NetxRunOptions {
            threads,
            ..opts.clone()
        };
        let run = run_netx_batch(&netx, &chip, &compile, &samples, &o).expect("batch");
        assert_eq!(run.report.sim.threads, threads.min(4));
        if threads == 1 {
            for (s, out) in samples.iter().zip(&run.outputs) {
                let alone = run_netx(
                    &netx,
                    &chip,
                    &compile,
                    &NetxRunOptions {
                        bias: s.bias.clone(),
                        threads: 2,
                        ..opts.clone()
                    },
                )
                .expect("alone");
                assert_eq!(out, &alone.output, "{}", s.name);
            }
            assert!(
                run.outputs[0] != run.outputs[3],
                "images that give different outputs"
            );
        }
        let r = without_sim(run.report);
        assert!(
            r.aggregate
                .as_ref()
                .is_some_and(|a| a.get("pipeline.timestep_us_mean").is_some())
        );
        match &first {
            None => first = Some(r),
            Some(f) => assert_eq!(&r, f, "report at {threads} threads"),
        }
    }
}

/// The progress callback is called once per finished sample, at any thread count, and the
/// results are those of a batch without one.
#[test]
fn the_progress_callback_counts_every_sample_once() {
    use std::sync::atomic::{AtomicUsize, Ordering};
    let (sim, samples) = setup(5, 12);
    for threads in [1, 2, 8] {
        let opts = RunOptions {
            threads,
            ..RunOptions::default()
        };
        let count = AtomicUsize::new(0);
        let with = sim
            .run_batch_with(&samples, &opts, &|| {
                count.fetch_add(1, Ordering::Relaxed);
            })
            .expect("batch");
        assert_eq!(count.load(Ordering::Relaxed), samples.len(), "{threads}");
        let without = sim.run_batch(&samples, &opts).expect("batch");
        assert_eq!(without_sim(with.report), without_sim(without.report));
    }
}
