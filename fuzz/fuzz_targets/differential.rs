//! A random valid model (loisim-import's generator, parameters drawn from the input) and a
//! random input: the engine (both modes, one thread) against the reference executor, integer
//! for integer.
#![no_main]

use libfuzzer_sys::arbitrary::{Result, Unstructured};
use libfuzzer_sys::fuzz_target;
use loisim_compiler::{CompileOptions, compile};
use loisim_fuzz::loihi2;
use loisim_import::input::tokens_from_magnitudes;
use loisim_import::observe::Recipe;
use loisim_import::observe::{derive_qconfig, observe};
use loisim_import::quantize::{DEFAULT_INPUT_OFFSET, quantize};
use loisim_import::synth::{Distribution, GenConfig, synthesize_float};
use loisim_model::Model;
use loisim_model::Reference;
use loisim_model::calibrate::calibrate;
use loisim_sim::{SimOptions, simulate};

const D_INPUT: usize = 257;

/// Positive pseudo-magnitudes of `n` tokens.
fn magnitudes(seed: u64, n: usize, scale: f32) -> Vec<f32> {
    (0..n * D_INPUT)
        .map(|k| {
            let h = (k as u64 ^ seed).wrapping_mul(0x9E37_79B9_7F4A_7C15);
            ((h >> 40) as f32 / (1u64 << 24) as f32) * scale
        })
        .collect()
}

/// `loisim_import::synth::generate`, step by step, with the quantized model validated before
/// calibration: some recipes give formats that `validate` rejects, and `generate` calibrates
/// without validating (the reference executor then panics on a shift; see
/// fuzz/regressions/README.md). Only valid models are compared here.
fn generate_valid(cfg: &GenConfig, calibration: &[f32]) -> Option<Model> {
    let mut fm = synthesize_float(cfg).ok()?;
    let inputs: Vec<Vec<f64>> = calibration
        .chunks(fm.d_input)
        .map(|r| {
            r.iter()
                .map(|&m| f64::from(m - DEFAULT_INPUT_OFFSET))
                .collect()
        })
        .collect();
    let obs = observe(&mut fm, &inputs, true);
    let qconfig = derive_qconfig(&fm, &obs, cfg.recipe, true);
    let mut model = quantize(&fm, &qconfig, "fuzz", &cfg.describe()).ok()?;
    model.validate().ok()?;
    let tokens = tokens_from_magnitudes(calibration, &model).ok()?;
    calibrate(&mut model, &tokens).ok()?;
    model.validate().ok()?;
    Some(model)
}

fn run(u: &mut Unstructured<'_>) -> Result<()> {
    let cfg = GenConfig {
        width: f64::from(u.int_in_range(1u32..=2)?) / 16.0,
        n_layers: u.int_in_range(1usize..=2)?,
        sparsity: f64::from(u.int_in_range(0u8..=95)?) / 100.0,
        distribution: if u.arbitrary()? {
            Distribution::Uniform
        } else {
            Distribution::Erk
        },
        seed: u.arbitrary()?,
        recipe: Recipe {
            weight_bits: u.int_in_range(2..=8)?,
            bias_bits: u.int_in_range(8..=32)?,
            act_bits: u.int_in_range(8..=32)?,
        },
    };
    let cal_scale = f32::from(u.int_in_range(1u8..=100)?) / 100.0;
    let cal = magnitudes(cfg.seed, 4, cal_scale);
    let Some(model) = generate_valid(&cfg, &cal) else {
        return Ok(());
    };
    let n_tokens = u.int_in_range(1usize..=6)?;
    let in_seed: u64 = u.arbitrary()?;
    let in_scale = f32::from(u.int_in_range(1u8..=200)?) / 100.0;
    let Ok(tokens) = tokens_from_magnitudes(&magnitudes(in_seed, n_tokens, in_scale), &model)
    else {
        return Ok(());
    };
    let opts = CompileOptions {
        max_neurons_per_core: u.int_in_range(1u32..=64)?,
        place_sweeps: 2,
    };
    let Ok(prog) = compile(&model, loihi2(), &opts, None) else {
        return Ok(());
    };
    let sim = SimOptions {
        fall_through: true,
        pipeline: true,
        threads: 1,
    };
    let res = simulate(&prog, &tokens, &sim, None, None).expect("simulate a compiled model");
    let expected = Reference::new(&model)
        .expect("a generated model is valid")
        .run(&tokens)
        .expect("generated tokens fit");
    assert_eq!(
        res.outputs, expected,
        "engine differs from the reference ({cfg:?})"
    );
    Ok(())
}

fuzz_target!(|data: &[u8]| {
    let _ = run(&mut Unstructured::new(data));
});
