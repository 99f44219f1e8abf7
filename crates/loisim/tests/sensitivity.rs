//! Sensitivity of the headline figures to the cost parameters, by replaying a recorded run.
//! Times are sums and maxima of terms each proportional to one latency or to the inverse of
//! one bandwidth, so every time figure is homogeneous of degree 1 in (latencies, 1 /
//! bandwidths): its elasticities to the latencies minus those to the bandwidths sum to 1
//! (Euler). Likewise every dynamic energy is linear in the operation energies.

use loisim::replay::Activity;
use loisim::sensitivity::sensitivity;
use loisim::{Chip, CompileOptions, Input, RunOptions, Simulation};
use std::path::PathBuf;

fn models() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../models")
}

#[test]
fn elasticities_satisfy_eulers_identity_and_name_the_static_power() {
    let chip = Chip::default_chip();
    let model = loisim::load_model(&models().join("s5-sparse-0.25x.bin")).expect("model");
    let mut tokens =
        loisim::read_tokens(&models().join("default-input.npy"), &model).expect("tokens");
    tokens.truncate(200);
    let sim = Simulation::compile(model, &chip, &CompileOptions::default()).expect("compile");
    let dir = tempfile::tempdir().expect("dir");
    let path = dir.path().join("run.act");
    let opts = RunOptions {
        activity: Some(path.clone()),
        ..RunOptions::default()
    };
    sim.run(&Input::Tokens(tokens), &opts, None).expect("run");
    let act = Activity::open(&path).expect("activity");
    let s = sensitivity(&act, &chip).expect("sensitivity");
    assert_eq!(s.parameters.len(), chip.cost_params().len());
    assert_eq!(s.figures.len(), 9);
    let col = |name: &str| s.figures.iter().position(|f| f == name).expect(name);
    let sum = |fig: usize, pick: &dyn Fn(&str) -> f64| -> f64 {
        s.parameters
            .iter()
            .map(|p| pick(&p.parameter) * p.elasticities[fig])
            .sum()
    };
    let time_weight = |p: &str| {
        if p.ends_with("_bits_per_ns") {
            -1.0
        } else if p.ends_with("_ns") {
            1.0
        } else {
            0.0
        }
    };
    let energy_weight =
        |p: &str| f64::from(u8::from(p.ends_with("_pj") || p.ends_with("_pj_per_tile")));
    for fig in [
        "fall_through.latency_us_per_token",
        "pipeline.timestep_us_mean",
        "pipeline.latency_ms_per_sample",
    ] {
        let e = sum(col(fig), &time_weight);
        assert!(
            (e - 1.0).abs() < 0.02,
            "{fig}: latency elasticities sum to {e}"
        );
    }
    for fig in [
        "fall_through.energy_dynamic_uj_per_token",
        "pipeline.energy_dynamic_mj_per_sample",
    ] {
        let e = sum(col(fig), &energy_weight);
        assert!(
            (e - 1.0).abs() < 1e-4,
            "{fig}: energy elasticities sum to {e}"
        );
    }
    // Total energy: the static powers take the share static energy has of it.
    let board = s
        .parameters
        .iter()
        .find(|p| p.parameter == "static.board_mw")
        .expect("board");
    let t = col("pipeline.energy_by_domain_mj_per_sample.board.total");
    assert!(board.elasticities[t] > 0.0 && board.elasticities[t] < 1.0);
    // The board's static power is not on the chip rails (the default basis).
    for fig in [
        "pipeline.energy_dynamic_mj_per_sample",
        "pipeline.energy_total_mj_per_sample",
    ] {
        assert_eq!(board.elasticities[col(fig)], 0.0, "{fig}");
    }
}

/// Every figure moves monotonically with every cost parameter, in the parameter's direction:
/// latencies, energies, barrier and static powers raise or keep every figure; bandwidths lower
/// or keep it; a domain share (`power.*`) moves energy between domains: it keeps every time
/// and every whole-board energy, and the domains still add up to the totals. Checked at seeded
/// random points of the plausible box (every parameter drawn log-uniformly inside its range),
/// each parameter raised by 10 %.
#[test]
fn every_figure_moves_monotonically_in_each_parameters_direction() {
    let chip = Chip::default_chip();
    let model = loisim::load_model(&models().join("s5-sparse-0.25x.bin")).expect("model");
    let mut tokens =
        loisim::read_tokens(&models().join("default-input.npy"), &model).expect("tokens");
    tokens.truncate(60);
    let sim = Simulation::compile(model, &chip, &CompileOptions::default()).expect("compile");
    let dir = tempfile::tempdir().expect("dir");
    let path = dir.path().join("run.act");
    let opts = RunOptions {
        activity: Some(path.clone()),
        ..RunOptions::default()
    };
    sim.run(&Input::Tokens(tokens), &opts, None).expect("run");
    let act = Activity::open(&path).expect("activity");
    let names: Vec<(String, [f64; 2])> = chip
        .cost_params()
        .into_iter()
        .map(|(f, p, _)| (f, p.range.expect("a range")))
        .collect();
    let mut state = 0x1234_5678_u64;
    let mut next = || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        (state >> 11) as f64 / (1u64 << 53) as f64
    };
    for point in 0..4 {
        let mut c = chip.clone();
        for (f, [lo, hi]) in &names {
            let u = next();
            c.cost_param_mut(f).expect("param").value = if *lo > 0.0 {
                (lo.ln() + u * (hi.ln() - lo.ln())).exp()
            } else {
                lo + u * (hi - lo)
            };
        }
        let base = loisim::sensitivity::headline(&act.replay(Some(&c)).expect("replay"));
        for (f, _) in &names {
            let mut up = c.clone();
            up.cost_param_mut(f).expect("param").value *= 1.1;
            let moved = loisim::sensitivity::headline(&act.replay(Some(&up)).expect("replay"));
            let falls = f.ends_with("_bits_per_ns");
            if f.starts_with("power.") {
                for ((k, b), (_, m)) in base.iter().zip(&moved) {
                    if k.contains("latency") || k.contains("timestep") || k.contains(".board.") {
                        assert!(
                            (m - b).abs() <= 1e-9 * b.abs(),
                            "point {point}: the share {f} moved {k} from {b} to {m}"
                        );
                    }
                }
                let r = act.replay(Some(&up)).expect("replay");
                let p = r.pipeline.as_ref().expect("pipeline");
                let d = &p.energy_by_domain_mj_per_sample;
                let rails = d.vdd.total + d.vdd_m.total + d.vdd_io.total;
                assert!((rails - d.chip.total).abs() <= 1e-9 * d.chip.total);
                assert!((rails + d.board_only.total - d.board.total).abs() <= 1e-9 * d.board.total);
            }
            for ((k, b), (_, m)) in base.iter().zip(&moved) {
                let ok = if falls {
                    *m <= b * (1.0 + 1e-12)
                } else {
                    *m >= b * (1.0 - 1e-12)
                };
                assert!(ok, "point {point}: raising {f} moved {k} from {b} to {m}");
            }
        }
    }
}
