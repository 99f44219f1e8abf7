//! Activity files: a run recorded once and priced again at other chip costs gives the report a
//! full run on that chip gives (every key but the wall clock, audio and files).

use loisim::netx::{
    NetxOptions, NetxRunOptions, default_compile_options, load_netx, read_lava_array, run_netx,
};
use loisim::replay::{Activity, replay_bytes};
use loisim::{Chip, CompileOptions, Input, Modes, Report, RunOptions, Simulation};
use std::path::{Path, PathBuf};

fn models() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../models")
}

fn netx_data(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../loisim-netx/tests/data")
        .join(name)
}

/// The small shipped model on `chip` and the first `n` tokens of the default input.
fn small(chip: &Chip, n: usize) -> (Simulation, Vec<Vec<i32>>) {
    let model = loisim::load_model(&models().join("s5-sparse-0.25x.bin")).expect("model");
    let mut tokens =
        loisim::read_tokens(&models().join("default-input.npy"), &model).expect("tokens");
    tokens.truncate(n);
    let sim = Simulation::compile(model, chip, &CompileOptions::default()).expect("compile");
    (sim, tokens)
}

/// `loihi2` at other costs: synaptic operations and host input messages priced differently.
fn costlier() -> Chip {
    Chip::from_toml(
        "extends = \"loihi2\"\n\
         [ops.synop]\n\
         latency_ns = { value = 3.5, source = \"test\" }\n\
         energy_pj = { value = 40.0, source = \"test\" }\n\
         [io.input_message]\n\
         latency_ns = { value = 900.0, source = \"test\" }\n\
         energy_pj = { value = 5000.0, source = \"test\" }\n",
        "costlier",
    )
    .expect("chip")
}

/// The report as `loisim run --json` prints it, parsed, without the keys a replay does not
/// reproduce.
fn compared(r: &Report) -> serde_json::Value {
    let mut v: serde_json::Value = serde_json::from_str(&r.to_json()).expect("json");
    let m = v.as_object_mut().expect("object");
    for k in ["sim", "audio", "outputs"] {
        m.remove(k);
    }
    v
}

/// Runs `tokens` on `chip` (recording the activity into `activity` when given).
fn run_s5(
    chip: &Chip,
    tokens: usize,
    modes: Modes,
    threads: usize,
    activity: Option<&Path>,
) -> Report {
    let (sim, t) = small(chip, tokens);
    let opts = RunOptions {
        modes,
        threads,
        calibration_setup: true,
        activity: activity.map(Path::to_path_buf),
        ..RunOptions::default()
    };
    sim.run(&Input::Tokens(t), &opts, None).expect("run").report
}

#[test]
fn s5_replays_equal_full_runs_on_the_recording_chip_and_at_other_costs() {
    let dir = tempfile::tempdir().expect("dir");
    let default = Chip::default_chip();
    let other = costlier();
    for (label, modes) in [
        ("both", Modes::BOTH),
        ("fall-through", Modes::FALL_THROUGH),
        ("pipeline", Modes::PIPELINE),
    ] {
        let file = dir.path().join(format!("{label}.act"));
        let full = run_s5(&default, 80, modes, 2, Some(&file));
        let activity = Activity::open(&file).expect("open");
        assert_eq!(activity.recorded_chip(), &default);
        // The recording chip, by default and by name.
        let replayed = activity.replay(None).expect("replay");
        assert_eq!(compared(&replayed), compared(&full), "{label}: loihi2");
        assert!(
            full.calibration_targets.is_some(),
            "{label}: the calibration targets are reproduced too"
        );
        let named = activity.replay(Some(&default)).expect("replay");
        assert_eq!(compared(&named), compared(&full), "{label}: --chip loihi2");
        // Other costs: the full run on that chip.
        let full_other = run_s5(&other, 80, modes, 2, None);
        let replayed_other = activity.replay(Some(&other)).expect("replay");
        assert_eq!(
            compared(&replayed_other),
            compared(&full_other),
            "{label}: costlier"
        );
        assert_ne!(
            compared(&full_other),
            compared(&full),
            "{label}: the costs change the figures"
        );
    }
}

#[test]
fn an_activity_file_is_the_same_bytes_at_any_thread_count() {
    let dir = tempfile::tempdir().expect("dir");
    let (one, two) = (dir.path().join("one.act"), dir.path().join("two.act"));
    // More tokens than a two-thread session times on one thread before splitting the work.
    let n = loisim_sim_calibration_tokens() + 40;
    run_s5(&Chip::default_chip(), n, Modes::BOTH, 1, Some(&one));
    let full = run_s5(&Chip::default_chip(), n, Modes::BOTH, 2, Some(&two));
    assert_eq!(full.sim.threads, 2, "the two-thread run split its work");
    let (a, b) = (
        std::fs::read(&one).expect("one"),
        std::fs::read(&two).expect("two"),
    );
    assert!(a == b, "{} and {} bytes differ", a.len(), b.len());
}

fn loisim_sim_calibration_tokens() -> usize {
    // `loisim_sim::CALIBRATION_TOKENS`, without depending on the crate.
    48
}

#[test]
fn a_chip_of_another_structure_is_refused_naming_the_field() {
    let dir = tempfile::tempdir().expect("dir");
    let file = dir.path().join("a.act");
    run_s5(&Chip::default_chip(), 10, Modes::BOTH, 2, Some(&file));
    let activity = Activity::open(&file).expect("open");
    let fewer_neurons = Chip::from_toml(
        "extends = \"loihi2\"\n[core]\nmax_neurons = { value = 4096, source = \"test\" }\n",
        "fewer",
    )
    .expect("chip");
    let err = activity
        .replay(Some(&fewer_neurons))
        .expect_err("another structure")
        .to_string();
    assert!(err.contains("core.max_neurons"), "{err}");
    assert!(!err.contains('\n'), "one line: {err}");
    let err = activity
        .replay(Some(&Chip::load("kapoho-point").expect("preset")))
        .expect_err("another board")
        .to_string();
    assert!(err.contains("board.chips_"), "{err}");
    // Costs alone are not structure.
    let mut cost_only = Chip::default_chip();
    cost_only.barrier.base_ns.value *= 3.0;
    cost_only.noc.link_bits_per_ns.value /= 2.0;
    cost_only.static_power.vdd_m_mw.value += 1.0;
    assert!(activity.replay(Some(&cost_only)).is_ok());
}

#[test]
fn netx_replays_equal_full_runs_on_the_recording_chip_and_at_other_costs() {
    let dir = tempfile::tempdir().expect("dir");
    let netx = load_netx(
        &netx_data("tiny.net"),
        &NetxOptions {
            reset_interval: Some(8),
            ..NetxOptions::default()
        },
    )
    .expect("load");
    let bias = read_lava_array(&netx_data("gts/tinynet/input_bias.npy")).expect("bias");
    let run = |chip: &Chip, activity: Option<PathBuf>| {
        run_netx(
            &netx,
            chip,
            &default_compile_options(chip),
            &NetxRunOptions {
                bias: Some(bias.clone()),
                steps: Some(20),
                threads: 2,
                activity,
                ..NetxRunOptions::default()
            },
        )
        .expect("run")
        .report
    };
    let file = dir.path().join("tiny.act");
    let full = run(&Chip::default_chip(), Some(file.clone()));
    let activity = Activity::open(&file).expect("open");
    assert_eq!(activity.info().kind, loisim::ModelKind::Netx);
    let replayed = activity.replay(None).expect("replay");
    assert_eq!(compared(&replayed), compared(&full));
    let other = costlier();
    let full_other = run(&other, None);
    assert_ne!(compared(&full_other), compared(&full));
    assert_eq!(
        compared(&activity.replay(Some(&other)).expect("replay")),
        compared(&full_other)
    );
}

/// A valid file's bytes with `f` applied (the checksum recomputed when `fix`).
fn damaged(bytes: &[u8], fix: bool, f: impl FnOnce(&mut Vec<u8>)) -> Vec<u8> {
    let mut b = bytes.to_vec();
    f(&mut b);
    if fix && b.len() >= 8 {
        let n = b.len() - 8;
        let sum = loisim::replay::checksum(&b[..n]);
        b[n..].copy_from_slice(&sum.to_le_bytes());
    }
    b
}

#[test]
fn damaged_files_are_one_line_errors() {
    let dir = tempfile::tempdir().expect("dir");
    let file = dir.path().join("a.act");
    run_s5(&Chip::default_chip(), 12, Modes::BOTH, 2, Some(&file));
    let good = std::fs::read(&file).expect("read");
    assert!(replay_bytes("a.act", &good, None).is_ok());
    let err = |bytes: &[u8]| {
        let e = replay_bytes("a.act", bytes, None)
            .expect_err("damaged")
            .to_string();
        assert!(!e.contains('\n'), "one line: {e}");
        e
    };
    // Another version: named, with what this loisim reads.
    let v2 = damaged(&good, true, |b| {
        b[8..12].copy_from_slice(&2u32.to_le_bytes())
    });
    let e = err(&v2);
    assert!(e.contains("version 2") && e.contains("version 1"), "{e}");
    // Not an activity file.
    assert!(err(b"model.bin?").contains("not a loisim activity file"));
    assert!(err(b"").contains("not a loisim activity file"));
    // A flipped byte in the middle of the blocks: the checksum.
    let header_end = 16 + u32::from_le_bytes(good[12..16].try_into().expect("4 bytes")) as usize;
    let mid = header_end + (good.len() - header_end) / 2;
    let e = err(&damaged(&good, false, |b| b[mid] ^= 0x10));
    assert!(e.contains("checksum"), "{e}");
    // Truncated anywhere.
    for cut in [9, 20, mid, good.len() - 4] {
        let e = err(&good[..cut]);
        assert!(e.contains("truncated"), "cut at {cut}: {e}");
    }
    // A trailing byte.
    let e = err(&damaged(&good, false, |b| b.push(0)));
    assert!(e.contains("bytes follow"), "{e}");
    // A header claiming an enormous section.
    let e = err(&damaged(&good, true, |b| {
        b[12..16].copy_from_slice(&u32::MAX.to_le_bytes());
    }));
    assert!(e.contains("more than"), "{e}");
}
