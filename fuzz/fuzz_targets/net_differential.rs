//! A random valid IR network (loisim-net's generator, its seed and bounds drawn from the input)
//! partitioned onto loihi2 cores: the timestep-major engine (1 to 3 threads) against the IR's
//! reference interpreter, timestep by timestep (outputs, activity, width events).
#![no_main]

use libfuzzer_sys::arbitrary::{Result, Unstructured};
use libfuzzer_sys::fuzz_target;
use loisim_compiler::net_map::partition;
use loisim_fuzz::loihi2;
use loisim_net::Reference;
use loisim_net::random::{self, Shape};
use loisim_sim::net_engine::NetProgram;

fn run(u: &mut Unstructured<'_>) -> Result<()> {
    let seed: u64 = u.arbitrary()?;
    let shape = Shape {
        max_populations: u.int_in_range(1..=8)?,
        max_neurons: u.int_in_range(1..=32)?,
        extra_projections: u.int_in_range(0..=8)?,
        max_delay: u.int_in_range(0..=62)?,
        max_ops: u.int_in_range(1..=24)?,
    };
    let per_core: u32 = u.int_in_range(1..=40)?;
    let threads: usize = u.int_in_range(1..=3)?;
    let steps: usize = u.int_in_range(1..=40)?;
    let net = random::network(seed, &shape);
    let Ok(mapping) = partition(&net, loihi2(), per_core) else {
        return Ok(());
    };
    let prog = NetProgram::new(&net, &mapping).expect("a valid mapping lays out");
    let mut engine = prog.start(threads);
    let mut reference = Reference::new(&net).expect("a generated network is valid");
    for (t, x) in random::inputs(&net, seed, steps).iter().enumerate() {
        let a = reference.step(x).expect("reference");
        let b = engine.step(x).expect("engine");
        assert_eq!(a.outputs, b.outputs, "timestep {t}: outputs");
        assert_eq!(a.activity, b.activity, "timestep {t}: activity");
    }
    assert_eq!(reference.events(), engine.events(), "width events");
    Ok(())
}

fuzz_target!(|data: &[u8]| {
    let _ = run(&mut Unstructured::new(data));
});
