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
    "usage: cargo xtask <command>\n\ncommands:\n  models    regenerate models/ (default clip, default input, reference models, models/README.md)\n"
}

fn main() -> std::process::ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match args.first().map(String::as_str) {
        Some("models") => models(),
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
    let input = default_input()?;
    loisim_audio::write_wav(
        dir.join("default-clip-noisy.wav"),
        &input.noisy,
        loisim_audio::SAMPLE_RATE,
    )?;
    loisim_audio::write_wav(
        dir.join("default-clip-clean.wav"),
        &input.clean,
        loisim_audio::SAMPLE_RATE,
    )?;
    std::fs::write(
        dir.join("default-input.npy"),
        npy_f32(&input.features, 257)?,
    )?;
    println!(
        "wrote default clip and default-input.npy ({} tokens)",
        input.n_tokens
    );
    for spec in specs() {
        let t = std::time::Instant::now();
        let bytes = model_bytes(&spec, &input)?;
        std::fs::write(dir.join(spec.file), &bytes)
            .with_context(|| format!("writing {}", spec.file))?;
        println!(
            "wrote {} ({} bytes, {:.1} s)",
            spec.file,
            bytes.len(),
            t.elapsed().as_secs_f64()
        );
    }
    Ok(())
}
