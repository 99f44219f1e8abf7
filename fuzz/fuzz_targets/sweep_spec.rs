//! SPEC bytes (`loisim sweep run SPEC.toml`) -> loisim's SPEC parser: UTF-8, TOML, the keys and
//! their types and ranges, the axes' order, the point count. Every input must give a SPEC or an
//! error; a SPEC must then give every point's values without panicking (the first and last
//! points, and the columns).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(spec) = loisim::sweep::Spec::parse(data, "fuzz.toml") {
        let n = spec.n_points();
        assert!((1..=loisim::sweep::MAX_POINTS).contains(&n));
        assert_eq!(spec.point_values(0).len(), spec.axes.len());
        assert_eq!(spec.point_values(n - 1).len(), spec.axes.len());
        assert_eq!(
            spec.columns().len(),
            spec.axes.len() + 3 + loisim::sweep::METRICS.len()
        );
    }
});
