//! model.bin bytes -> decoder (header, CRC, postcard, validation) -> compile onto loihi2 ->
//! one token through the reference executor and the engine.
//!
//! Input: one mode byte, then the file. With an odd mode byte the header's body length and CRC
//! are recomputed first, so that mutations reach the postcard decoder and the validator.
#![no_main]

use libfuzzer_sys::fuzz_target;
use loisim_fuzz::{compile_small, loihi2};
use loisim_model::Reference;
use loisim_sim::{SimOptions, simulate};

/// Magic (8) + version (2) + reserved (2) + body length (8) + CRC-32 (4).
const HEADER_LEN: usize = 24;

fuzz_target!(|data: &[u8]| {
    let Some((&mode, file)) = data.split_first() else {
        return;
    };
    let mut bytes = file.to_vec();
    if mode & 1 == 1 && bytes.len() >= HEADER_LEN {
        let body_len = (bytes.len() - HEADER_LEN) as u64;
        let crc = crc32fast::hash(&bytes[HEADER_LEN..]);
        bytes[12..20].copy_from_slice(&body_len.to_le_bytes());
        bytes[20..24].copy_from_slice(&crc.to_le_bytes());
    }
    let Ok(model) = loisim_model::codec::decode(&bytes) else {
        return;
    };
    model.validate().expect("a decoded model is valid");
    // Re-encoding a decoded model gives a file that decodes to the same model.
    let again = loisim_model::codec::encode(&model).expect("a decoded model encodes");
    assert_eq!(
        loisim_model::codec::decode(&again).expect("re-encoded model decodes"),
        model
    );
    let Some(prog) = compile_small(&model, loihi2()) else {
        return;
    };
    let token = vec![0i32; model.dims.d_input as usize];
    let expected = Reference::new(&model)
        .expect("valid")
        .step(&token)
        .expect("a zero token fits any input format");
    let opts = SimOptions {
        threads: 1,
        ..SimOptions::default()
    };
    let res = simulate(&prog, std::slice::from_ref(&token), &opts, None, None).expect("simulate");
    assert_eq!(
        res.outputs[0], expected,
        "engine differs from the reference"
    );
});
