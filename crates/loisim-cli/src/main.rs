//! `loisim`: the command-line tool. The only crate that knows clap, terminals and exit codes.
//!
//! Exit codes: 0 on success, 2 on any error (bad input, bad arguments, a model that does not
//! fit), with a one-line message on stderr.

#![allow(clippy::print_stdout, clippy::print_stderr)]

/// `print!` that returns a write error instead of panicking: a closed pipe (`loisim ... | head`)
/// ends the command quietly with success (see `main`).
macro_rules! out {
    ($($t:tt)*) => {{
        use std::io::Write as _;
        write!(std::io::stdout().lock(), $($t)*)?
    }};
}

/// `println!` that returns a write error instead of panicking (see `out!`).
macro_rules! outln {
    () => {{
        use std::io::Write as _;
        writeln!(std::io::stdout().lock())?
    }};
    ($($t:tt)*) => {{
        use std::io::Write as _;
        writeln!(std::io::stdout().lock(), $($t)*)?
    }};
}

mod commands;

use clap::{Parser, Subcommand};
use std::process::ExitCode;

/// loisim: an open, cycle-approximate simulator of Intel's Loihi 2 running quantized sparse S5
/// models.
#[derive(Parser, Debug)]
#[command(
    name = "loisim",
    version,
    about = "loisim: an open, cycle-approximate simulator of Intel's Loihi 2 running quantized sparse S5 models",
    propagate_version = true
)]
struct Cli {
    /// More log output on stderr (repeat for more); `LOISIM_LOG` takes tracing filters.
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    verbose: u8,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Run a model on an input (reference executor with --reference).
    Run(Box<commands::run::RunArgs>),
    /// Import a model (S5 fixed-point export v1, or a float checkpoint) into model.bin.
    Import(commands::import::ImportArgs),
    /// Generate a synthetic paper-shaped model.
    Gen(commands::gen_model::GenArgs),
    /// Generate a deterministic speech-like test clip (noisy and clean WAV).
    GenAudio(commands::gen_audio::GenAudioArgs),
    /// Show a model's dimensions, formats, sparsity, memory and compute.
    Inspect(commands::inspect::InspectArgs),
    /// Map a model onto a chip and report cores, memory, traffic and the timestep bound.
    Map(commands::map::MapArgs),
    /// Chip descriptions.
    Chip(commands::chip::ChipArgs),
    /// Draw figures from a trace directory, or compare the reference models.
    Plot(commands::plot::PlotArgs),
    /// Price a run's recorded activity (`run --activity FILE`) at another chip's costs.
    Replay(commands::replay::ReplayArgs),
    /// Design-space sweeps: run a SPEC's grid of points (or one shard), merge shards, plot.
    Sweep(commands::sweep::SweepArgs),
}

fn init_tracing(verbose: u8) {
    use tracing_subscriber::EnvFilter;
    let default = match verbose {
        0 => "warn",
        1 => "info",
        2 => "debug",
        _ => "trace",
    };
    let filter = EnvFilter::try_from_env("LOISIM_LOG").unwrap_or_else(|_| EnvFilter::new(default));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .without_time()
        .try_init();
}

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(c) => c,
        Err(e) => {
            use clap::error::ErrorKind;
            if matches!(
                e.kind(),
                ErrorKind::DisplayHelp
                    | ErrorKind::DisplayVersion
                    | ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand
            ) {
                let _ = e.print();
                return if e.kind() == ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand {
                    ExitCode::from(2)
                } else {
                    ExitCode::SUCCESS
                };
            }
            // One line: clap's first line, without the usage block.
            let rendered = e.render().to_string();
            let first = rendered
                .lines()
                .next()
                .unwrap_or("error: invalid arguments")
                .trim_end();
            let first = first.strip_prefix("error: ").unwrap_or(first);
            eprintln!("error: {first} (see `loisim --help`)");
            return ExitCode::from(2);
        }
    };
    init_tracing(cli.verbose);
    let result = match cli.command {
        Command::Run(a) => commands::run::execute(*a),
        Command::Import(a) => commands::import::execute(a),
        Command::Gen(a) => commands::gen_model::execute(a),
        Command::GenAudio(a) => commands::gen_audio::execute(a),
        Command::Inspect(a) => commands::inspect::execute(a),
        Command::Map(a) => commands::map::execute(a),
        Command::Chip(a) => commands::chip::execute(a),
        Command::Plot(a) => commands::plot::execute(a),
        Command::Replay(a) => commands::replay::execute(a),
        Command::Sweep(a) => commands::sweep::execute(a),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            let broken_pipe = e.chain().any(|c| {
                c.downcast_ref::<std::io::Error>()
                    .is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
            });
            if broken_pipe {
                return ExitCode::SUCCESS;
            }
            // The chain, each cause once: library errors that name their cause in their own
            // message would otherwise repeat it.
            let mut msg = String::new();
            for cause in e.chain() {
                let text = cause.to_string();
                if !msg.contains(&text) {
                    if !msg.is_empty() {
                        msg.push_str(": ");
                    }
                    msg.push_str(&text);
                }
            }
            let msg = msg.replace('\n', " ");
            eprintln!("error: {msg}");
            ExitCode::from(2)
        }
    }
}
