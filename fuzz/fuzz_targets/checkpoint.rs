//! Float checkpoint (safetensors or `.npz`) + quantization config JSON -> import (quantize,
//! calibrate on 2 tokens) -> validate -> compile onto loihi2.
//!
//! Input: one mode byte (bit 0: the checkpoint is an `.npz`; bit 1: no qconfig, formats derived
//! from the float calibration input), the checkpoint's length as a little-endian u32, the
//! checkpoint, then the qconfig JSON.
#![no_main]

use libfuzzer_sys::fuzz_target;
use loisim_fuzz::{compile_small, loihi2, scratch_file, split};

/// Largest `d_input` for which a calibration file is written.
const MAX_D_INPUT: usize = 4096;
/// Tokens of the calibration input.
const CAL_TOKENS: usize = 2;

/// A float32 `[rows, cols]` `.npy` file.
fn npy_f32(rows: usize, cols: usize, values: impl Iterator<Item = f32>) -> Vec<u8> {
    let mut header =
        format!("{{'descr': '<f4', 'fortran_order': False, 'shape': ({rows}, {cols}), }}");
    while (10 + header.len() + 1) % 64 != 0 {
        header.push(' ');
    }
    header.push('\n');
    let mut out = b"\x93NUMPY\x01\x00".to_vec();
    out.extend_from_slice(&(header.len() as u16).to_le_bytes());
    out.extend_from_slice(header.as_bytes());
    for v in values {
        out.extend_from_slice(&v.to_le_bytes());
    }
    out
}

fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    let parts = split(rest, 2);
    let ckpt = scratch_file(
        if mode & 1 == 1 {
            "float.npz"
        } else {
            "float.safetensors"
        },
        parts[0],
    );
    let Ok(fm) = loisim_import::checkpoint::FloatModel::read(&ckpt) else {
        return;
    };
    if fm.d_input == 0 || fm.d_input > MAX_D_INPUT {
        return;
    }
    let n = CAL_TOKENS * fm.d_input;
    let cal = scratch_file(
        "calibration.npy",
        &npy_f32(
            CAL_TOKENS,
            fm.d_input,
            (0..n).map(|k| 0.01 + (k % 97) as f32 * 0.003),
        ),
    );
    let qc = (mode & 2 == 0).then(|| scratch_file("qconfig.json", parts[1]));
    let Ok(model) = loisim_import::import_float(&ckpt, qc.as_deref(), &cal) else {
        return;
    };
    model.validate().expect("an imported model is valid");
    let _ = compile_small(&model, loihi2());
});
