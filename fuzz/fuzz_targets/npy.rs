//! `.npy` and `.npz` readers -> input tokens for a small valid model -> one token through the
//! reference executor.
//!
//! Input: one mode byte (bit 0: the file is an `.npz`), then the file.
#![no_main]

use libfuzzer_sys::fuzz_target;
use loisim_fuzz::{scratch_file, small_model};
use loisim_import::input::{read_tokens, tokens_from_tensor};
use loisim_import::tensors::{TensorFile, parse_npy};
use loisim_model::Reference;

fn check(tokens: &[Vec<i32>]) {
    let model = small_model();
    let d = model.dims.d_input as usize;
    assert!(!tokens.is_empty());
    assert!(
        tokens.iter().all(|t| t.len() == d),
        "a token has the wrong width"
    );
    Reference::new(model)
        .expect("valid")
        .step(&tokens[0])
        .expect("read_tokens gives tokens the model accepts");
}

fuzz_target!(|data: &[u8]| {
    let Some((&mode, file)) = data.split_first() else {
        return;
    };
    let model = small_model();
    if mode & 1 == 0 {
        let path = scratch_file("input.npy", file);
        let from_file = read_tokens(&path, model);
        // The in-memory parser agrees with the file reader.
        if let Ok(t) = parse_npy(file) {
            assert_eq!(t.len(), t.shape.iter().product::<usize>());
            let direct = tokens_from_tensor(&path, &t, model);
            assert_eq!(direct.is_ok(), from_file.is_ok());
        }
        if let Ok(tokens) = from_file {
            check(&tokens);
        }
    } else {
        let path = scratch_file("input.npz", file);
        let Ok(tf) = TensorFile::read_npz(&path) else {
            return;
        };
        for t in tf.tensors.values() {
            assert_eq!(t.len(), t.shape.iter().product::<usize>());
            if let Ok(tokens) = tokens_from_tensor(&path, t, model) {
                check(&tokens);
            }
        }
    }
});
