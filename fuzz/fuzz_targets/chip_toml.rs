//! Chip TOML text -> parse, resolve `extends`, validate -> compile a small shipped model onto it.
#![no_main]

use libfuzzer_sys::fuzz_target;
use loisim_arch::Chip;
use loisim_fuzz::{compile_small, small_model};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(chip) = Chip::from_toml(text, "fuzz.toml") else {
        return;
    };
    // A valid chip written out reads back the same.
    let again = Chip::from_toml(&chip.to_toml(), "fuzz.toml").expect("to_toml output parses");
    assert_eq!(again, chip);
    let _ = compile_small(small_model(), &chip);
});
