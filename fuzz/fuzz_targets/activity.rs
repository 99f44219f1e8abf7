//! Activity-file bytes (`loisim run --activity FILE`) -> loisim's replay on the recording chip:
//! the magic and version, the header (the recording chip's TOML, the program's cores, flows and
//! links, checked against that chip before the timing model is built), the blocks of per-flow
//! work (every count capped before anything is allocated), the trailer and its report. The
//! checksum (the last 8 bytes) is recomputed over the input first, so the damage reaches the
//! parser instead of stopping at the checksum. Every input must give a report or an error.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let mut bytes = data.to_vec();
    if let Some(n) = bytes.len().checked_sub(8) {
        let sum = loisim::replay::checksum(&bytes[..n]);
        bytes[n..].copy_from_slice(&sum.to_le_bytes());
    }
    let _ = loisim::replay::replay_bytes("fuzz.act", &bytes, None);
});
