//! `cargo xtask bench`: simulation speed on every reference model, as one table.
//!
//! For each model: the reference executor and the chip simulation (fall-through, pipeline,
//! both; two threads) on the whole default input, each timed `REPEATS` times; the table shows
//! the median: simulated tokens per wall-clock second, synaptic events per second, and the
//! speed relative to the reference executor.

use anyhow::Result;
use loisim_arch::Chip;
use loisim_compiler::{CompileOptions, compile};
use loisim_model::Reference;
use loisim_sim::{SimOptions, simulate};
use std::path::Path;
use std::time::Instant;

/// Timed runs per measurement.
pub const REPEATS: usize = 5;

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

/// Prints the table for `models`.
pub fn run(root: &Path, models: &[&str], threads: usize) -> Result<String> {
    let mut out = format!(
        "{:<16} {:>6} {:>12} | {:>11} {:>12} {:>7} | {:>11} {:>12} {:>7} | {:>11} {:>7}\n",
        "model",
        "tokens",
        "reference",
        "fall-through",
        "syn events/s",
        "x ref",
        "pipeline",
        "syn events/s",
        "x ref",
        "both modes",
        "x ref"
    );
    out.push_str(&format!(
        "{:<16} {:>6} {:>12} | {:>11} {:>12} {:>7} | {:>11} {:>12} {:>7} | {:>11} {:>7}\n",
        "", "", "tokens/s", "tokens/s", "", "", "tokens/s", "", "", "tokens/s", ""
    ));
    let input = root.join("models/default-input.npy");
    let chip = Chip::default_chip();
    for m in models {
        let model =
            loisim_model::codec::decode(&std::fs::read(root.join(format!("models/{m}.bin")))?)?;
        let tokens = loisim_import::input::read_tokens(&input, &model)?;
        let prog = compile(&model, &chip, &CompileOptions::default(), None)?;
        let n = tokens.len() as f64;
        let time = |f: &mut dyn FnMut() -> Result<u64>| -> Result<(f64, u64)> {
            let mut walls = Vec::new();
            let mut synops = 0;
            for _ in 0..REPEATS {
                let t = Instant::now();
                synops = f()?;
                walls.push(t.elapsed().as_secs_f64());
            }
            Ok((median(walls), synops))
        };
        let (t_ref, _) = time(&mut || {
            let mut r = Reference::new(&model)?;
            for t in &tokens {
                std::hint::black_box(r.step(t)?);
            }
            Ok(0)
        })?;
        let sim = |ft: bool, pl: bool| {
            time(&mut || {
                let res = simulate(
                    &prog,
                    &tokens,
                    &SimOptions {
                        fall_through: ft,
                        pipeline: pl,
                        threads,
                    },
                    None,
                    None,
                )?;
                Ok(res
                    .fall_through
                    .as_ref()
                    .or(res.pipeline.as_ref())
                    .map_or(0, |r| r.synops))
            })
        };
        let (t_ft, syn) = sim(true, false)?;
        let (t_pl, _) = sim(false, true)?;
        let (t_both, _) = sim(true, true)?;
        let syn = syn as f64;
        out.push_str(&format!(
            "{:<16} {:>6} {:>12.0} | {:>11.0} {:>12.3e} {:>7.2} | {:>11.0} {:>12.3e} {:>7.2} | {:>11.0} {:>7.2}\n",
            m,
            tokens.len(),
            n / t_ref,
            n / t_ft,
            syn / t_ft,
            t_ref / t_ft,
            n / t_pl,
            syn / t_pl,
            t_ref / t_pl,
            n / t_both,
            t_ref / t_both
        ));
    }
    Ok(out)
}
