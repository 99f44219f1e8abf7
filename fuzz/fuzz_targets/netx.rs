//! lava-dl netx `.net` bytes -> loisim-netx's reader (HDF5 superblock, groups, datasets, the
//! layer and neuron fields netx reads). Every input must give a description or an error; the
//! reader turns a panic of the HDF5 decoder into an error (silently, as for users), so what
//! this target finds are panics and hangs of loisim's own code and over-allocations.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = loisim_netx::read_bytes("fuzz.net", data.to_vec());
});
