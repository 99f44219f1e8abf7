//! NIR `.nir` bytes -> loisim-nir's reader (HDF5 superblock, the `node` group, node
//! parameters, edges), then the lowering onto Lava's LIF layers and their quantisation.
//! Every input must give a graph or an error, and every graph a lowering or an error naming
//! a node; the reader turns a panic of the HDF5 decoder into an error, so what this target
//! finds are panics and hangs of loisim's own code and over-allocations.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(graph) = loisim_nir::read_bytes("fuzz.nir", data.to_vec())
        && let Ok(lowered) = loisim_nir::lower(&graph, 1e-3)
    {
        let _ = loisim_nir::quantise(lowered);
    }
});
