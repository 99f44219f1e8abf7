//! `loisim gen-audio`: a deterministic speech-like test clip and its clean twin.

use anyhow::Result;
use clap::Args;
use std::path::PathBuf;

/// Arguments of `loisim gen-audio`.
#[derive(Args, Debug)]
pub struct GenAudioArgs {
    /// Duration, seconds.
    #[arg(long, default_value_t = 30.0)]
    seconds: f64,
    /// Speech-to-noise ratio of the noisy clip, dB.
    #[arg(long, default_value_t = 5.0)]
    snr_db: f64,
    /// Random seed.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// The noisy clip (16 kHz mono, 16-bit).
    #[arg(short, long, value_name = "NOISY.wav")]
    output: PathBuf,
    /// The clean clip (the reference for SI-SNR).
    #[arg(long, value_name = "CLEAN.wav")]
    clean_output: Option<PathBuf>,
}

/// Runs `loisim gen-audio`.
pub fn execute(args: GenAudioArgs) -> Result<()> {
    let clip = loisim_audio::speech_like(&loisim_audio::SpeechLikeConfig {
        seconds: args.seconds,
        snr_db: args.snr_db,
        seed: args.seed,
    })?;
    // Both files or neither.
    let mut staging = loisim::output::Staging::new();
    let noisy = staging.file(&args.output)?;
    let clean = args
        .clean_output
        .as_deref()
        .map(|c| staging.file(c))
        .transpose()?;
    loisim_audio::write_wav(&noisy, &clip.noisy, loisim_audio::SAMPLE_RATE)?;
    if let Some(c) = &clean {
        loisim_audio::write_wav(c, &clip.clean, loisim_audio::SAMPLE_RATE)?;
    }
    staging.commit()?;
    outln!(
        "wrote {} ({:.2} s at 16 kHz, SNR {:.2} dB){}",
        args.output.display(),
        args.seconds,
        clip.snr_db(),
        args.clean_output
            .as_ref()
            .map(|c| format!(" and its clean twin {}", c.display()))
            .unwrap_or_default()
    );
    Ok(())
}
