//! `cargo xtask`: project automation.

#![allow(clippy::print_stdout, clippy::print_stderr)]

use anyhow::{Context, Result};
use std::path::{Path, PathBuf};

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_default()
}

fn usage() -> &'static str {
    "usage: cargo xtask <command>\n\ncommands:\n  models             regenerate models/ (default clip, default input, reference models)\n  regress [--bless] [--chip NAME|FILE] [--only MODEL]...\n                     simulate every reference model, compare with traces/baselines/\n  bench [--threads N] [--only MODEL]...\n                     simulation speed on every reference model (tokens/s, synaptic events/s, x reference),\n                     events/s per thread, replay vs simulation, peak memory (N: all cores)\n  bench --peer FILE.net [--bias B.npy] [--steps T] [--threads N]\n                     the engine alone on a netx network (bench/peers/)\n  calibrate [--write] fit the loihi2 cost model to the poster and print residuals;\n                     --write updates crates/loisim-arch/chips/loihi2.fit.toml\n  validate [--write]  check (or rewrite) docs/validation.md: the calibration set and the\n                     predictions for the shipped netx networks\n"
}

fn main() -> std::process::ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match args.first().map(String::as_str) {
        Some("models") => models(),
        Some("calibrate") => calibrate(args.iter().any(|a| a == "--write")),
        Some("regress") => regress(&args[1..]),
        Some("validate") => xtask::validate::run(&root(), args.iter().any(|a| a == "--write")),
        Some("bench") => {
            let threads = args
                .iter()
                .position(|a| a == "--threads")
                .and_then(|i| args.get(i + 1))
                .and_then(|v| v.parse().ok())
                .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, usize::from));
            let opt = |name: &str| {
                args.iter()
                    .position(|a| a == name)
                    .and_then(|i| args.get(i + 1))
            };
            if let Some(net) = opt("--peer") {
                let steps = opt("--steps").and_then(|v| v.parse().ok()).unwrap_or(200);
                let bias = opt("--bias").map(std::path::Path::new);
                xtask::bench::peer(std::path::Path::new(net), bias, steps, threads)
                    .map(|t| print!("{t}"))
            } else {
                let only: Vec<&str> = args
                    .windows(2)
                    .filter(|w| w[0] == "--only")
                    .map(|w| w[1].as_str())
                    .collect();
                let models: Vec<&str> = xtask::regress::MODELS
                    .iter()
                    .copied()
                    .filter(|m| only.is_empty() || only.contains(m))
                    .collect();
                xtask::bench::run(&root(), &models, threads).map(|t| print!("{t}"))
            }
        }
        _ => {
            eprint!("{}", usage());
            return std::process::ExitCode::from(2);
        }
    };
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            std::process::ExitCode::from(1)
        }
    }
}

fn models() -> Result<()> {
    use xtask::models::*;
    let dir = root().join("models");
    std::fs::create_dir_all(&dir)?;
    // Recorded files (trained models, the default clip) are checked, not rebuilt.
    let record = xtask::trained::read(&dir)?;
    xtask::trained::check(&dir, &record)?;
    let input = default_input(&dir)?;
    std::fs::write(
        dir.join("default-input.npy"),
        npy_f32(&input.features, 257)?,
    )?;
    println!(
        "checked the recorded default clip and {} trained models; wrote default-input.npy ({} tokens)",
        record.models.len(),
        input.n_tokens
    );
    let calibration = synthetic_calibration()?;
    let golden_dir = root().join("tests/data/golden");
    std::fs::create_dir_all(&golden_dir)?;
    let mut built = Vec::new();
    for spec in specs() {
        let t = std::time::Instant::now();
        let bytes = model_bytes(&spec, &calibration)?;
        std::fs::write(dir.join(spec.file), &bytes)
            .with_context(|| format!("writing {}", spec.file))?;
        let golden = golden_bytes(&bytes, &input)?;
        std::fs::write(golden_dir.join(spec.file.replace(".bin", ".npy")), golden)?;
        println!(
            "wrote {} ({} bytes, {:.1} s)",
            spec.file,
            bytes.len(),
            t.elapsed().as_secs_f64()
        );
        built.push((spec, bytes));
    }
    let mut trained = Vec::new();
    for m in &record.models {
        let bytes = std::fs::read(dir.join(&m.file))?;
        let golden = golden_bytes(&bytes, &input)?;
        std::fs::write(golden_dir.join(m.file.replace(".bin", ".npy")), golden)?;
        trained.push(bytes);
    }
    std::fs::write(
        dir.join("README.md"),
        readme(&built, &input, &record, &trained)?,
    )?;
    println!("wrote README.md");
    Ok(())
}

fn calibrate(write: bool) -> Result<()> {
    use xtask::calibrate::*;
    let dir = root().join("models");
    let model =
        loisim_model::codec::decode(&std::fs::read(dir.join(loisim::paths::DEFAULT_MODEL))?)?;
    let tokens = loisim_import::input::read_tokens(&dir.join("default-input.npy"), &model)?;
    let prior = loisim_arch::Chip::loihi2_priors()?;
    let (fit, figs) = fit(&prior, &model, &tokens)?;
    println!(
        "fitted parameters (default model {}, default input, {} tokens):",
        loisim::paths::DEFAULT_MODEL.trim_end_matches(".bin"),
        tokens.len()
    );
    println!(
        "  sequencer message latency {:>10.3} ns   (prior {} ns)",
        fit.t_seq_ns, prior.io.sequencer_message.latency_ns.value
    );
    println!(
        "  neurocore latency scale   {:>10.4}      (applied to the priors of ops.*.latency_ns)",
        fit.k_lat
    );
    for (name, c) in [
        ("synop", &prior.ops.synop),
        ("synmem_word_read", &prior.ops.synmem_word_read),
        ("neuron_update", &prior.ops.neuron_update),
        ("neuron_instruction", &prior.ops.neuron_instruction),
        ("spike_out", &prior.ops.spike_out),
        ("message_in", &prior.ops.message_in),
        ("neuron_idle", &prior.ops.neuron_idle),
    ] {
        println!(
            "      {name:<22} {:>8.3} ns (prior {})",
            c.latency_ns.value * fit.k_lat,
            c.latency_ns.value
        );
    }
    println!(
        "  chip-rail static scale    {:>10.4}      ({:.1} mW on the chip rails; prior {} mW)",
        fit.s_static,
        prior.static_power.chip_mw() * fit.s_static,
        prior.static_power.chip_mw()
    );
    println!(
        "  board static power        {:>10.1} mW   (prior {} mW)",
        fit.board_mw, prior.static_power.board_mw.value
    );
    println!();
    println!(
        "  {:<50} {:>12} {:>12} {:>9}",
        "figure", "loisim", "poster", "residual"
    );
    for r in &figs.targets.rows {
        println!(
            "  {:<50} {:>12.3} {:>12.3} {:>+8.2}%{}",
            r.figure,
            r.loisim,
            r.target,
            r.residual_pct,
            if r.fitted { "  fitted" } else { "" }
        );
    }
    let on_bounds = Bounds::of(&prior).at_bounds(&fit);
    if on_bounds.is_empty() {
        println!("\nevery fitted parameter lies strictly inside its plausible range");
    } else {
        println!(
            "\non the bound of its plausible range (the figure it governs is not met inside the ranges): {}",
            on_bounds.join(", ")
        );
    }
    let text = fit_toml(&prior, &fit, &figs);
    let path = root().join("crates/loisim-arch/chips/loihi2.fit.toml");
    if write {
        std::fs::write(&path, &text).with_context(|| format!("writing {}", path.display()))?;
        println!("\nwrote {}", path.display());
        let doc_path = root().join("docs/cost-model.md");
        let doc = std::fs::read_to_string(&doc_path)
            .with_context(|| format!("reading {}", doc_path.display()))?;
        // The preset as the new fit file defines it (values rounded as written).
        let fitted = loisim_arch::Chip::loihi2_with_fit(&text)?;
        let table = doc_table(&prior, &fitted, &text);
        let new_doc =
            splice_doc(&doc, &table).context("docs/cost-model.md has no fitted-values markers")?;
        std::fs::write(&doc_path, new_doc)?;
        println!("updated {}", doc_path.display());
    } else {
        let current = std::fs::read_to_string(&path).unwrap_or_default();
        println!(
            "\n{} is {}; pass --write to update it",
            path.display(),
            if current == text {
                "up to date"
            } else {
                "out of date"
            }
        );
    }
    Ok(())
}

fn regress(args: &[String]) -> Result<()> {
    use xtask::regress::*;
    let mut bless = false;
    let mut chip = "loihi2".to_string();
    let mut only: Vec<String> = Vec::new();
    let mut it = args.iter();
    while let Some(a) = it.next() {
        match a.as_str() {
            "--bless" => bless = true,
            "--chip" => chip = it.next().context("--chip needs a value")?.clone(),
            "--only" => only.push(it.next().context("--only needs a model name")?.clone()),
            other => anyhow::bail!("unknown argument `{other}`\n{}", usage()),
        }
    }
    let chip = loisim_arch::Chip::load(&chip)?;
    let models: Vec<&str> = if only.is_empty() {
        MODELS.to_vec()
    } else {
        only.iter().map(String::as_str).collect()
    };
    let root = root();
    let deltas = run(
        &root,
        &chip,
        &models,
        &root.join("target/regress"),
        &baselines_dir(&root, &chip),
        bless,
    )?;
    if bless {
        println!(
            "blessed {} baselines of chip {} in {}",
            models.len(),
            chip.name,
            baselines_dir(&root, &chip).display()
        );
        return Ok(());
    }
    print!("{}", table(&deltas));
    let bad = deltas.iter().filter(|d| d.regressed).count();
    if bad > 0 {
        anyhow::bail!(
            "{bad} figure(s) moved beyond tolerance (exact counts, {REL_TOL:e} relative for us/uJ); if intended, run `cargo xtask regress --bless`"
        );
    }
    println!(
        "no regression ({} figures of {} models)",
        deltas.len(),
        models.len()
    );
    Ok(())
}
