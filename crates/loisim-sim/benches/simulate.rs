//! Simulation speed: tokens per wall-clock second on every reference model, for the reference
//! executor and the chip simulation in each mode (`cargo bench -p loisim-sim`).
//! `cargo xtask bench` prints the same runs as one table with synaptic events per second and
//! the ratio to the reference executor.

use divan::Bencher;
use divan::counter::ItemsCount;
use loisim_arch::Chip;
use loisim_compiler::{CompileOptions, Program, compile};
use loisim_model::{Model, Reference};
use loisim_sim::{SimOptions, simulate};
use std::path::PathBuf;

fn main() {
    divan::main();
}

const MODELS: [&str; 6] = [
    "s5-sparse-0.25x",
    "s5-sparse-1x",
    "s5-sparse-3x",
    "s5-dense-0.25x",
    "s5-dense-1x",
    "s5-dense-3x",
];
/// Tokens per iteration (the first of the default input).
const TOKENS: usize = 500;

fn load(name: &str) -> (Model, Program, Vec<Vec<i32>>) {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..");
    let model = loisim_model::codec::decode(
        &std::fs::read(root.join(format!("models/{name}.bin"))).expect("model"),
    )
    .expect("decode");
    let mut tokens =
        loisim_import::input::read_tokens(&root.join("models/default-input.npy"), &model)
            .expect("input");
    tokens.truncate(TOKENS);
    let prog = compile(
        &model,
        &Chip::default_chip(),
        &CompileOptions::default(),
        None,
    )
    .expect("compile");
    (model, prog, tokens)
}

#[divan::bench(args = MODELS, sample_count = 5)]
fn reference(bencher: Bencher<'_, '_>, name: &str) {
    let (model, _, tokens) = load(name);
    bencher.counter(ItemsCount::new(tokens.len())).bench(|| {
        let mut r = Reference::new(&model).expect("valid");
        for t in &tokens {
            divan::black_box(r.step(t).expect("step"));
        }
    });
}

fn chip(bencher: Bencher<'_, '_>, name: &str, fall_through: bool, pipeline: bool) {
    let (_, prog, tokens) = load(name);
    let opts = SimOptions {
        fall_through,
        pipeline,
        threads: 2,
    };
    bencher
        .counter(ItemsCount::new(tokens.len()))
        .bench(|| divan::black_box(simulate(&prog, &tokens, &opts, None, None).expect("simulate")));
}

#[divan::bench(args = MODELS, sample_count = 5)]
fn chip_fall_through(bencher: Bencher<'_, '_>, name: &str) {
    chip(bencher, name, true, false);
}

#[divan::bench(args = MODELS, sample_count = 5)]
fn chip_pipeline(bencher: Bencher<'_, '_>, name: &str) {
    chip(bencher, name, false, true);
}

#[divan::bench(args = MODELS, sample_count = 5)]
fn chip_both_modes(bencher: Bencher<'_, '_>, name: &str) {
    chip(bencher, name, true, true);
}
