//! The S5 engine against the general IR on every shipped S5 model written as an IR network
//! (`loisim_compiler::to_ir`): the IR interpreter in fall-through pacing gives the same output
//! integers and the same count of saturations and 32-bit wraps (where every population updates
//! exactly once per token; each `sat` and `wrap32` of the engine's hand-written programs is one
//! operation of the described ones), and the timestep-major engine, on the IR network
//! partitioned onto cores, gives the same integers in pipeline pacing. This is what lets the
//! token-major S5 engine stay as the fast path.

use loisim_arch::Chip;
use loisim_compiler::net_map::partition;
use loisim_compiler::to_ir::{Pacing, output_timestep, s5_to_ir, timestep_inputs};
use loisim_compiler::{CompileOptions, compile};
use loisim_import::synth::pseudo_spectrum;
use loisim_sim::net_engine::NetProgram;
use loisim_sim::{SimOptions, simulate};
use std::path::PathBuf;

#[test]
fn the_engine_and_the_ir_interpreter_agree_on_shipped_s5_models() {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..");
    for name in [
        "s5-sparse-0.25x",
        "s5-dense-0.25x",
        "s5-sparse-1x",
        "s5-dense-1x",
        "s5-sparse-3x",
        "s5-dense-3x",
    ] {
        let bytes = std::fs::read(root.join(format!("models/{name}.bin"))).expect("model");
        let model = loisim_model::codec::decode(&bytes).expect("decode");
        let chip = Chip::default_chip();
        let prog = compile(
            &model,
            &chip,
            &CompileOptions {
                place_sweeps: 2,
                ..CompileOptions::default()
            },
            None,
        )
        .expect("compile");
        let n_tokens = 5;
        let tokens =
            loisim_import::input::tokens_from_magnitudes(&pseudo_spectrum(3, n_tokens), &model)
                .expect("tokens");
        let sim = simulate(&prog, &tokens, &SimOptions::default(), None, None).expect("simulate");
        let net = &prog.network;
        let ir = s5_to_ir(net, chip.core.accumulator_bits.value, Pacing::FallThrough);
        let at: Vec<u64> = (0..n_tokens)
            .map(|k| output_timestep(net, Pacing::FallThrough, k))
            .collect();
        let mut r = loisim_net::Reference::new(&ir).expect("valid");
        let mut outputs = Vec::new();
        for (t, x) in timestep_inputs(net, &tokens, Pacing::FallThrough)
            .iter()
            .enumerate()
        {
            let s = r.step(x).expect("step");
            if at.contains(&(t as u64)) {
                outputs.push(s.outputs[0].clone());
            }
        }
        let engine: Vec<Vec<i64>> = sim
            .outputs
            .iter()
            .map(|o| o.iter().map(|&v| i64::from(v)).collect())
            .collect();
        assert_eq!(outputs, engine, "{name}: outputs");
        let (sats, wraps) = sim.events.iter().fold((0, 0), |(s, w), e| {
            (s + e.program.saturations, w + e.program.wraps)
        });
        let ev = r.events();
        assert_eq!((ev.saturations, ev.wraps), (sats, wraps), "{name}: events");
        assert_eq!(ev.state_wraps + ev.payload_wraps, 0, "{name}");
        // The timestep-major engine, on the IR network partitioned onto cores, in pipeline
        // pacing, gives the token-major engine's integers too.
        let ir = s5_to_ir(net, chip.core.accumulator_bits.value, Pacing::Pipeline);
        let mapping = partition(&ir, &chip, 64).expect("maps");
        let prog = NetProgram::new(&ir, &mapping).expect("lays out");
        let mut e = prog.start(2);
        let at: Vec<u64> = (0..n_tokens)
            .map(|k| output_timestep(net, Pacing::Pipeline, k))
            .collect();
        let mut outputs = Vec::new();
        for (t, x) in timestep_inputs(net, &tokens, Pacing::Pipeline)
            .iter()
            .enumerate()
        {
            let s = e.step(x).expect("step");
            assert_eq!(s.activity.dropped, 0);
            if at.contains(&(t as u64)) {
                outputs.push(s.outputs[0].clone());
            }
        }
        assert_eq!(outputs, engine, "{name}: timestep-major engine");
    }
}
