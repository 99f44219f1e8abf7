//! Calibration-conditioned ranges: seeded, containing the run's own figures, and for the
//! poster's own setup within the tolerance the draws were kept by.

use loisim::calibration::{POSTER_TOLERANCE, conditioned_ranges};
use loisim::replay::Activity;
use loisim::{Chip, CompileOptions, Input, RunOptions, Simulation};

#[test]
fn ranges_hold_the_run_and_keep_the_poster_within_tolerance() {
    let chip = Chip::default_chip();
    let model =
        loisim::load_model(&loisim::paths::shipped(loisim::paths::DEFAULT_MODEL).expect("model"))
            .expect("model");
    let tokens = loisim::read_tokens(
        &loisim::paths::shipped(loisim::paths::DEFAULT_INPUT).expect("input"),
        &model,
    )
    .expect("tokens");
    let sim = Simulation::compile(model, &chip, &CompileOptions::default()).expect("compile");
    let dir = tempfile::tempdir().expect("dir");
    let path = dir.path().join("poster.act");
    let run = sim
        .run(
            &Input::Tokens(tokens),
            &RunOptions {
                activity: Some(path.clone()),
                ..RunOptions::default()
            },
            None,
        )
        .expect("run");
    let act = Activity::open(&path).expect("activity");
    let a = conditioned_ranges(&act, &chip, 4, 7).expect("ranges");
    let b = conditioned_ranges(&act, &chip, 4, 7).expect("ranges");
    assert_eq!(a, b, "seeded");
    assert!(a.samples_accepted > 0 && a.samples_accepted <= 4, "{a:?}");
    let ft = run.report.fall_through.as_ref().expect("ft");
    let r = a.ranges["fall_through.latency_us_per_token_range"];
    assert!(r[0] <= ft.latency_us_per_token && ft.latency_us_per_token <= r[1]);
    // This run is the poster's setup: every kept set reproduces its fitted figures within the
    // tolerance, so their ranges stay inside the tolerance band around the poster.
    for (key, target) in [
        ("fall_through.latency_us_per_token_range", 76.0),
        ("fall_through.energy_total_uj_per_token_range", 13.0),
        ("pipeline.latency_ms_per_sample_range", 60.58),
        (
            "pipeline.energy_by_domain_mj_per_sample.board.total_range",
            185.8,
        ),
    ] {
        let [lo, hi] = a.ranges[key];
        assert!(
            lo >= target * (1.0 - POSTER_TOLERANCE) - 1e-9
                && hi <= target * (1.0 + POSTER_TOLERANCE) + 1e-9,
            "{key}: [{lo}, {hi}] around {target}"
        );
    }
    // A figure the poster does not pin moves: the fall-through dynamic energy (the chip-rail
    // total less its static power) is not one of the four.
    let [lo, hi] = a.ranges["fall_through.energy_dynamic_uj_per_token_range"];
    assert!(hi > lo, "[{lo}, {hi}]");
}
