//! Helpers shared by the fuzz targets: splitting one input into several files, a per-process
//! scratch directory for readers that take a path, and a compile attempt with a size budget so
//! that one execution stays well under a second.

use loisim_arch::Chip;
use loisim_compiler::{CompileOptions, Program, compile};
use loisim_model::Model;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

/// The smallest shipped model (`models/s5-sparse-0.25x.bin`), for targets that need a valid model.
pub const SMALL_MODEL_BIN: &[u8] = include_bytes!("../../models/s5-sparse-0.25x.bin");

/// Largest model (in neurons, see [`model_cost`]) a target compiles; larger valid models are
/// parsed and validated only.
pub const MAX_COMPILE_NEURONS: u64 = 8_192;

/// Largest number of stored weights of a model a target compiles.
pub const MAX_COMPILE_WEIGHTS: u64 = 65_536;

/// Placement sweeps used by the targets (the default is 50; placement is not what is fuzzed).
pub const PLACE_SWEEPS: u32 = 2;

/// The decoded [`SMALL_MODEL_BIN`].
pub fn small_model() -> &'static Model {
    static M: OnceLock<Model> = OnceLock::new();
    M.get_or_init(|| loisim_model::codec::decode(SMALL_MODEL_BIN).expect("shipped model decodes"))
}

/// The `loihi2` preset.
pub fn loihi2() -> &'static Chip {
    static C: OnceLock<Chip> = OnceLock::new();
    C.get_or_init(Chip::default_chip)
}

/// A directory of this process for readers that take a path (created once; libFuzzer runs
/// one input at a time per process, so files in it are simply overwritten).
pub fn scratch_dir() -> &'static Path {
    static D: OnceLock<PathBuf> = OnceLock::new();
    D.get_or_init(|| {
        let base = if Path::new("/dev/shm").is_dir() {
            PathBuf::from("/dev/shm")
        } else {
            std::env::temp_dir()
        };
        let d = base.join(format!("loisim-fuzz-{}", std::process::id()));
        std::fs::create_dir_all(&d).expect("scratch directory");
        d
    })
}

/// Writes `bytes` to `name` in the scratch directory and returns its path.
pub fn scratch_file(name: &str, bytes: &[u8]) -> PathBuf {
    let p = scratch_dir().join(name);
    std::fs::write(&p, bytes).expect("scratch write");
    p
}

/// Splits `data` into `n` parts: each part but the last is preceded by its length as a
/// little-endian u32 (clamped to what is left); the last part is the rest. Missing parts are
/// empty. This is the layout `fuzz/seed.sh` writes.
pub fn split(mut data: &[u8], n: usize) -> Vec<&[u8]> {
    let mut parts = Vec::with_capacity(n);
    for _ in 1..n {
        if data.len() < 4 {
            parts.push(&data[..0]);
            data = &data[data.len()..];
            continue;
        }
        let len = u32::from_le_bytes([data[0], data[1], data[2], data[3]]) as usize;
        let rest = &data[4..];
        let len = len.min(rest.len());
        parts.push(&rest[..len]);
        data = &rest[len..];
    }
    parts.push(data);
    parts
}

/// A rough neuron count of a model's lowered network (what compile time grows with).
pub fn model_cost(m: &Model) -> (u64, u64) {
    let d = &m.dims;
    let neurons = u64::from(d.d_input)
        + u64::from(d.d_output)
        + u64::from(d.n_layers) * (8 * u64::from(d.d_model) + 4 * u64::from(d.d_state));
    let mut weights = (m.encoder.weight.nnz() + m.decoder.weight.nnz()) as u64;
    for b in &m.layers {
        weights += (b.ssm.b_re.nnz()
            + b.ssm.b_im.nnz()
            + b.ssm.c_re.nnz()
            + b.ssm.c_im.nnz()
            + b.out2.weight.nnz()) as u64;
    }
    (neurons, weights)
}

/// Whether [`compile_small`] would compile `m`.
pub fn within_budget(m: &Model) -> bool {
    let (neurons, weights) = model_cost(m);
    neurons <= MAX_COMPILE_NEURONS && weights <= MAX_COMPILE_WEIGHTS
}

/// Compiles a validated model onto `chip` when it is within the budget. Errors are fine (a
/// model may not fit); panics are what the fuzzer looks for.
pub fn compile_small(m: &Model, chip: &Chip) -> Option<Program> {
    if !within_budget(m) {
        return None;
    }
    let opts = CompileOptions {
        place_sweeps: PLACE_SWEEPS,
        ..CompileOptions::default()
    };
    compile(m, chip, &opts, None).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn split_reads_length_prefixed_parts() {
        let data = [2, 0, 0, 0, b'a', b'b', b'c', b'd'];
        assert_eq!(split(&data, 2), vec![&b"ab"[..], &b"cd"[..]]);
        assert_eq!(split(&data[..5], 2), vec![&b"a"[..], &b""[..]]);
        assert_eq!(split(&[], 3), vec![&b""[..]; 3]);
    }
}
