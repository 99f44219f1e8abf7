//! Running lava-dl netx networks through the library: Lava's integers, and every step priced
//! by the chip's cost model with figures that add up.

use loisim::Chip;
use loisim::netx::{
    LavaArray, NetxOptions, NetxRunOptions, default_compile_options, load_netx, read_lava_array,
    run_netx,
};
use std::path::PathBuf;

fn data(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../loisim-netx/tests/data")
        .join(name)
}

fn figures_only(mut r: loisim::Report) -> loisim::Report {
    r.sim = loisim::report::SimSpeed::default();
    r
}

/// lava-dl's `test_pilotnet_sdnn` through `run_netx`: the output equals Lava's, the
/// simulated chip's work equals the counted activity, and the host's I/O energy is exactly
/// the input messages injected plus the output messages read.
#[test]
fn pilotnet_sdnn_is_bit_exact_and_its_priced_work_adds_up() {
    let netx = load_netx(&data("pilotnet_sdnn.net"), &NetxOptions::default()).expect("load");
    let input = read_lava_array(&data("gts/pilotnet_sdnn/input.npy")).expect("input");
    assert_eq!(input.shape, [100, 33, 3, 1]);
    let chip = Chip::default_chip();
    let opts = NetxRunOptions {
        input: Some(input.clone()),
        steps: Some(9),
        threads: 2,
        ..NetxRunOptions::default()
    };
    let run = run_netx(&netx, &chip, &default_compile_options(&chip), &opts).expect("run");
    let gt = read_lava_array(&data("gts/pilotnet_sdnn/output.npy")).expect("gt");
    assert_eq!(run.output, gt, "Lava's output, (1, 9)");
    let r = &run.report;
    let p = r.pipeline.as_ref().expect("pipeline figures");
    assert_eq!(p.steps, Some(9));
    assert!(r.cores_used.is_some_and(|c| c > 0 && c <= 128));
    // Every synaptic operation the layers counted is priced once.
    let syn_ops: u64 = r.layers.iter().map(|l| l.syn_ops).sum();
    let priced = p.synops_per_step.expect("per step") * 9.0;
    assert!(
        (priced - syn_ops as f64).abs() < 1e-6,
        "{priced} vs {syn_ops}"
    );
    // I/O: every non-zero input value, every step (sent by the on-chip sequencer on the
    // default chip), and every non-zero output the host reads.
    let in_msgs = 9 * input.values.iter().filter(|&&v| v != 0).count();
    let out_msgs = gt.values.iter().filter(|&&v| v != 0).count();
    let io = &chip.io;
    assert_eq!(io.inputs.value, loisim_arch::InputSource::Sequencer);
    let want_io_pj = in_msgs as f64 * io.sequencer_message.energy_pj.value
        + out_msgs as f64 * io.output_message.energy_pj.value;
    let got_io_pj = p.energy_total_board_breakdown_mj_per_sample.io * 1e9;
    assert!(
        (got_io_pj - want_io_pj).abs() <= 1e-9 * want_io_pj,
        "io {got_io_pj} pJ, want {want_io_pj} pJ"
    );
    // Energy per step and per sample (the whole run) agree; power is energy over time.
    let e_step = p.energy_total_uj_per_step.expect("per step");
    assert!((e_step * 9.0 / 1e3 - p.energy_total_mj_per_sample).abs() < 1e-9);
    let w = p.power_total_w.expect("power");
    assert!((w - e_step * 1e-6 / (p.timestep_us_mean * 1e-6)).abs() < 1e-9 * w);
    assert!(p.timestep_us_max >= p.timestep_us_mean);
    // The same figures at one thread.
    let one = run_netx(
        &netx,
        &chip,
        &default_compile_options(&chip),
        &NetxRunOptions { threads: 1, ..opts },
    )
    .expect("run");
    assert_eq!(one.output, run.output);
    assert_eq!(figures_only(one.report), figures_only(run.report));
}

/// The tiny conv network of lava-dl's tests, presented as its examples do (an image as the
/// input layer's bias): the engine at 1 and 2 threads and the reference interpreter agree.
#[test]
fn engine_and_reference_agree_on_a_bias_driven_conv_network() {
    let netx = load_netx(
        &data("tiny.net"),
        &NetxOptions {
            reset_interval: Some(8),
            ..NetxOptions::default()
        },
    )
    .expect("load");
    let bias = read_lava_array(&data("gts/tinynet/input_bias.npy")).expect("bias");
    let chip = Chip::default_chip();
    let opts = NetxRunOptions {
        bias: Some(bias),
        steps: Some(20),
        threads: 2,
        ..NetxRunOptions::default()
    };
    let run = run_netx(&netx, &chip, &default_compile_options(&chip), &opts).expect("run");
    assert_eq!(run.output.shape, [1, 1, 36, 20]);
    assert!(
        run.output.values.iter().any(|&v| v != 0),
        "a run that can fail"
    );
    let reference = run_netx(
        &netx,
        &chip,
        &default_compile_options(&chip),
        &NetxRunOptions {
            reference: true,
            ..opts.clone()
        },
    )
    .expect("reference");
    assert_eq!(reference.output, run.output);
    assert!(reference.report.pipeline.is_none(), "no cost figures");
    let one = run_netx(
        &netx,
        &chip,
        &default_compile_options(&chip),
        &NetxRunOptions { threads: 1, ..opts },
    )
    .expect("run");
    assert_eq!(one.output, run.output);
    let p = run.report.pipeline.as_ref().expect("pipeline");
    let s = p.samples.expect("samples of the reset interval");
    assert_eq!((s.steps_per_sample, s.samples_complete), (8, 2));
    assert_eq!(run.report.samples, 3);
    assert!((p.latency_ms_per_sample - 8.0 * p.timestep_us_mean / 1e3).abs() < 1e-12);
    assert_eq!(figures_only(one.report), figures_only(run.report));
}

#[test]
fn wrong_inputs_are_errors_naming_what_is_expected() {
    let chip = Chip::default_chip();
    let c = default_compile_options(&chip);
    let sdnn = load_netx(&data("pilotnet_sdnn.net"), &NetxOptions::default()).expect("load");
    // A Delta input layer has no bias.
    let bias = LavaArray {
        shape: vec![100, 33, 3],
        values: vec![0; 9900],
    };
    let e = run_netx(
        &sdnn,
        &chip,
        &c,
        &NetxRunOptions {
            bias: Some(bias),
            steps: Some(2),
            ..NetxRunOptions::default()
        },
    )
    .expect_err("no bias");
    assert!(e.to_string().contains("Delta input has no bias"), "{e}");
    // An input without its time axis, or of another shape.
    let e = run_netx(
        &sdnn,
        &chip,
        &c,
        &NetxRunOptions {
            input: Some(LavaArray {
                shape: vec![100, 33, 3],
                values: vec![0; 9900],
            }),
            ..NetxRunOptions::default()
        },
    )
    .expect_err("no time axis");
    assert!(e.to_string().contains("(100, 33, 3, T)"), "{e}");
    // Neither an input nor a number of steps.
    let e = run_netx(&sdnn, &chip, &c, &NetxRunOptions::default()).expect_err("no steps");
    assert!(e.to_string().contains("--steps"), "{e}");
    // Too many steps for the output kept.
    let e = run_netx(
        &sdnn,
        &chip,
        &c,
        &NetxRunOptions {
            steps: Some(loisim::netx::MAX_NETX_STEPS + 1),
            ..NetxRunOptions::default()
        },
    )
    .expect_err("too long");
    assert!(e.to_string().contains("steps"), "{e}");
}

const LIF_STEPS: usize = 24;

fn lif_gt<T: npyz::Deserialize>(name: &str) -> Vec<T> {
    let bytes = std::fs::read(data(&format!("gts/pilotnet_lif/{name}"))).expect("test data");
    npyz::NpyFile::new(&bytes[..])
        .expect("npy")
        .into_vec::<T>()
        .expect("dtype")
}

/// A probe file: `(T, shape...)`, returned neuron-major (`[neuron * T + t]`) like the traces.
fn probe_neuron_major(path: &std::path::Path) -> Vec<i64> {
    let bytes = std::fs::read(path).expect("probe");
    let f = npyz::NpyFile::new(&bytes[..]).expect("npy");
    let shape: Vec<usize> = f.shape().iter().map(|&d| d as usize).collect();
    let v = f.into_vec::<i32>().expect("int32");
    let t_len = shape[0];
    let n = v.len() / t_len;
    let mut out = vec![0i64; v.len()];
    for t in 0..t_len {
        for i in 0..n {
            out[i * t_len + t] = i64::from(v[t * n + i]);
        }
    }
    out
}

/// lava-dl's PilotNet LIF traces through `loisim run`'s path (bias image, netx's
/// `reset_interval` 17, `reset_offset` 0, 24 steps, probes as a Lava Monitor reads them):
/// every spike trace and every `u` trace equal Lava's, and `v` too except where the neuron
/// spiked (the trace holds 128 there; docs/networks.md). The probes read a layer reset in a
/// step as it was before its reset, which the `u` traces of the reset steps check.
#[test]
fn pilotnet_lif_probes_equal_lavas_traces() {
    let netx = load_netx(
        &data("pilotnet_lif.net"),
        &NetxOptions {
            reset_interval: Some(17),
            reset_offset: 0,
            ..NetxOptions::default()
        },
    )
    .expect("load");
    let chip = Chip::default_chip();
    let dir = tempfile::tempdir().expect("dir");
    let probes = dir.path().join("probes");
    let run = run_netx(
        &netx,
        &chip,
        &default_compile_options(&chip),
        &NetxRunOptions {
            bias: Some(read_lava_array(&data("gts/pilotnet_lif/image.npy")).expect("image")),
            steps: Some(LIF_STEPS as u64),
            threads: 2,
            probe_dir: Some(probes.clone()),
            ..NetxRunOptions::default()
        },
    )
    .expect("run");
    assert!(run.report.cores_used.is_some_and(|c| c <= 128));
    let names = [
        "input", "conv-0", "conv-1", "conv-2", "conv-3", "conv-4", "fc-0", "fc-1", "fc-2",
    ];
    let mut spikes_total = 0i64;
    for (k, name) in names.iter().enumerate() {
        let kind = if k == 0 {
            "input"
        } else if k <= 5 {
            "conv"
        } else {
            "dense"
        };
        let file = |var: &str| probes.join(format!("layer{k}-{kind}-{var}.npy"));
        let s = probe_neuron_major(&file("s"));
        let n = s.len() / LIF_STEPS;
        let bits = lif_gt::<u8>(&format!("{name}.bits.npy"));
        let gt_s: Vec<i64> = (0..n * LIF_STEPS)
            .map(|i| i64::from((bits[i / 8] >> (i % 8)) & 1))
            .collect();
        spikes_total += gt_s.iter().sum::<i64>();
        assert!(s == gt_s, "{name}: spikes differ");
        if k < 2 {
            continue; // no u or v traces of these two
        }
        let table = lif_gt::<i32>(&format!("{name}-u.table.npy"));
        let idx = lif_gt::<u8>(&format!("{name}-u.idx.npy"));
        let gt_u: Vec<i64> = idx.iter().map(|&i| i64::from(table[i as usize])).collect();
        let u = probe_neuron_major(&file("u"));
        let bad = u.iter().zip(&gt_u).filter(|(a, b)| a != b).count();
        assert_eq!(bad, 0, "{name}: u differs in {bad} values");
        if *name == "conv-1" {
            continue; // its v trace is not in the repository
        }
        let gt_v = lif_gt::<i16>(&format!("{name}-v.npy"));
        let v = probe_neuron_major(&file("v"));
        for i in 0..gt_v.len() {
            let want = if gt_s[i] == 1 { 0 } else { i64::from(gt_v[i]) };
            assert_eq!(v[i], want, "{name}: v at index {i}");
        }
    }
    assert_eq!(spikes_total, 1_118_521);
}
