//! S5 fixed-point export v1 (`model.json` + `model.safetensors`) -> import -> validate ->
//! compile onto loihi2.
//!
//! Input: the JSON's length as a little-endian u32, the JSON, then the safetensors file.
#![no_main]

use libfuzzer_sys::fuzz_target;
use loisim_fuzz::{compile_small, loihi2, scratch_file, split};

fuzz_target!(|data: &[u8]| {
    let parts = split(data, 2);
    let json = scratch_file("model.json", parts[0]);
    scratch_file("model.safetensors", parts[1]);
    let Ok(model) = loisim_import::export_v1::import_export_v1(&json) else {
        return;
    };
    model.validate().expect("an imported model is valid");
    let _ = compile_small(&model, loihi2());
});
