//! Batches of samples: several inputs run through one compiled program, in parallel.
//!
//! Each sample runs in its own session from the zero state, sharing the read-only program;
//! a batch of several samples runs them on a pool of `threads` threads, each sample on one
//! thread, and collects the results in the batch's order, so that every figure and every
//! output is the same bits at any thread count. The report gives each sample's figures in
//! `per_sample` and every figure over the batch in `aggregate` ([`Report::of_batch`]).
//!
//! Outputs go to a directory, one `<stem>.npy` or `<stem>.wav` per sample, staged and moved
//! into place only when every sample has succeeded.

use crate::output::Staging;
use crate::report::Report;
use crate::{Error, Input, Model, Result, RunOptions, Simulation};
use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::time::Instant;

/// One input of a batch.
#[derive(Clone, Debug, PartialEq)]
pub struct Sample {
    /// The input file's name (what the report calls the sample).
    pub name: String,
    /// The file stem (what its output is named after).
    pub stem: String,
    /// The input.
    pub input: Input,
}

/// What a batch gives back.
#[derive(Clone, Debug, PartialEq)]
pub struct BatchRun {
    /// The batch's report (`per_sample`, `aggregate`).
    pub report: Report,
    /// Each sample's output integers, in the batch's order (as [`crate::Run::outputs`]).
    pub outputs: Vec<Vec<Vec<i32>>>,
}

/// The input files of a batch: every path given, a directory standing for its files with one
/// of `exts` (case-insensitive; hidden files and subdirectories are skipped) in byte order of
/// their names. `flag` names the option in messages (`--input`).
///
/// # Errors
/// An unreadable directory or one without such a file, files of different extensions, two
/// files with the same stem (outputs are named after stems).
pub fn list_files(paths: &[PathBuf], exts: &[&str], flag: &str) -> Result<Vec<PathBuf>> {
    let wanted = |p: &Path| {
        p.extension()
            .and_then(OsStr::to_str)
            .is_some_and(|e| exts.iter().any(|x| e.eq_ignore_ascii_case(x)))
    };
    let mut files = Vec::new();
    for p in paths {
        if !p.is_dir() {
            files.push(p.clone());
            continue;
        }
        let mut found: Vec<PathBuf> = std::fs::read_dir(p)
            .map_err(|e| Error::io("cannot read directory", p, e))?
            .filter_map(|entry| entry.ok().map(|e| e.path()))
            .filter(|f| {
                f.is_file()
                    && wanted(f)
                    && !f
                        .file_name()
                        .is_some_and(|n| n.as_encoded_bytes().starts_with(b"."))
            })
            .collect();
        if found.is_empty() {
            return Err(Error::Invalid(format!(
                "{flag} {}: the directory holds no {} file",
                p.display(),
                exts.iter()
                    .map(|e| format!(".{e}"))
                    .collect::<Vec<_>>()
                    .join(" or ")
            )));
        }
        found.sort_by(|a, b| {
            a.file_name()
                .map(OsStr::as_encoded_bytes)
                .cmp(&b.file_name().map(OsStr::as_encoded_bytes))
        });
        files.extend(found);
    }
    let ext_of = |p: &Path| {
        p.extension()
            .and_then(OsStr::to_str)
            .unwrap_or_default()
            .to_ascii_lowercase()
    };
    if let Some(first) = files.first()
        && let Some(other) = files.iter().find(|f| ext_of(f) != ext_of(first))
    {
        return Err(Error::Invalid(format!(
            "{flag}: a batch is all one kind of file, but {} and {} differ",
            first.display(),
            other.display()
        )));
    }
    let mut seen: std::collections::BTreeMap<&OsStr, &Path> = std::collections::BTreeMap::new();
    for f in &files {
        let stem = f.file_stem().unwrap_or_default();
        if let Some(prev) = seen.insert(stem, f) {
            return Err(Error::Invalid(format!(
                "{flag}: {} and {} have the same stem `{}` (a batch names each sample, and its output, by stem)",
                prev.display(),
                f.display(),
                stem.to_string_lossy()
            )));
        }
    }
    Ok(files)
}

/// The clean twin of each noisy `.wav` in `clean_dir`: the `.wav` of the same file stem.
///
/// # Errors
/// `clean_dir` is not a directory, or one input has no twin there.
pub fn pair_clean(inputs: &[PathBuf], clean_dir: &Path) -> Result<Vec<PathBuf>> {
    if !clean_dir.is_dir() {
        return Err(Error::Invalid(format!(
            "--clean {}: with a batch, --clean names a directory of clean .wav files paired with the inputs by file stem",
            clean_dir.display()
        )));
    }
    let clean = list_files(&[clean_dir.to_path_buf()], &["wav"], "--clean")?;
    inputs
        .iter()
        .map(|noisy| {
            let stem = noisy.file_stem().unwrap_or_default();
            clean
                .iter()
                .find(|c| c.file_stem() == Some(stem))
                .cloned()
                .ok_or_else(|| {
                    Error::Invalid(format!(
                        "--clean {}: no clean twin of {} (expected {}.wav there)",
                        clean_dir.display(),
                        noisy.display(),
                        stem.to_string_lossy()
                    ))
                })
        })
        .collect()
}

/// The samples of an S5 batch: `.npy` token files (read now, each cut to `tokens` when
/// given) or `.wav` files (streamed when run), with their clean twins.
///
/// # Errors
/// Unreadable or unsuitable token files; clean twins given for `.npy` inputs.
pub fn samples(
    files: &[PathBuf],
    clean: Option<&[PathBuf]>,
    model: &Model,
    tokens: Option<usize>,
) -> Result<Vec<Sample>> {
    files
        .iter()
        .enumerate()
        .map(|(i, f)| {
            let input = if crate::audio::is_wav(f) {
                Input::Wav {
                    path: f.clone(),
                    clean: clean.and_then(|c| c.get(i)).cloned(),
                }
            } else {
                if clean.is_some() {
                    return Err(Error::Invalid("--clean applies to .wav inputs".into()));
                }
                let mut t = crate::read_tokens(f, model)?;
                if let Some(n) = tokens {
                    t.truncate(n);
                }
                Input::Tokens(t)
            };
            Ok(Sample {
                name: name_of(f),
                stem: f.file_stem().unwrap_or_default().to_string_lossy().into(),
                input,
            })
        })
        .collect()
}

/// A file's name as the report gives it.
pub(crate) fn name_of(p: &Path) -> String {
    p.file_name()
        .map_or_else(|| p.display().to_string(), |n| n.to_string_lossy().into())
}

/// Runs `f` on every item, on a pool of `threads` threads (none for one thread), and returns
/// the results in the items' order; the first error in that order wins.
pub(crate) fn par_map<T: Sync, R: Send>(
    items: &[T],
    threads: usize,
    f: impl Fn(&T) -> Result<R> + Sync + Send,
) -> Result<Vec<R>> {
    use rayon::prelude::*;
    if threads <= 1 || items.len() <= 1 {
        return items.iter().map(f).collect();
    }
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .thread_name(|i| format!("loisim-batch-{i}"))
        .build()
        .map_err(|e| Error::Invalid(format!("cannot start {threads} threads: {e}")))?;
    let results: Vec<Result<R>> = pool.install(|| items.par_iter().map(f).collect());
    results.into_iter().collect()
}

/// Threads a batch of `n` samples runs on with `threads` asked for, and the engine threads of
/// each sample: the samples share the threads, one each, unless there is a single sample.
#[must_use]
pub fn threads_of(n: usize, threads: usize) -> (usize, usize) {
    if n <= 1 {
        (1, threads)
    } else {
        (threads.min(n).max(1), 1)
    }
}

/// The options every batch refuses: what records or draws one run.
pub(crate) fn refuse_single_run_outputs(opts: &RunOptions) -> Result<()> {
    for (given, flag) in [
        (opts.trace_dir.is_some(), "--trace"),
        (opts.plot_dir.is_some(), "--plot"),
        (opts.activity.is_some(), "--activity"),
    ] {
        if given {
            return Err(Error::Invalid(format!(
                "{flag} records a single run; with a batch of inputs, run the sample of interest on its own"
            )));
        }
    }
    Ok(())
}

/// The directory a batch's outputs go to, staged: checked and created before anything runs.
pub(crate) fn stage_output_dir(
    staging: &mut Staging,
    dir: Option<&Path>,
) -> Result<Option<PathBuf>> {
    let Some(dir) = dir else {
        return Ok(None);
    };
    let looks_like_file = dir.extension().and_then(OsStr::to_str).is_some_and(|e| {
        ["npy", "wav", "npz"]
            .iter()
            .any(|x| e.eq_ignore_ascii_case(x))
    });
    if looks_like_file && !dir.is_dir() {
        return Err(Error::Invalid(format!(
            "--output {}: with a batch, --output names a directory (each sample writes <stem>.npy or <stem>.wav there)",
            dir.display()
        )));
    }
    Ok(Some(staging.dir(dir)?))
}

/// Fills in a batch report's output paths (the staged ones become final) and commits.
pub(crate) fn commit_outputs(
    staging: Staging,
    report: &mut Report,
    dir: Option<&Path>,
) -> Result<()> {
    for s in &mut report.per_sample {
        if let Some(o) = &s.output {
            s.output = Some(staging.final_path(Path::new(o)).display().to_string());
        }
    }
    staging.commit()?;
    report.outputs.output = dir.map(|d| d.display().to_string());
    Ok(())
}

impl Simulation {
    /// Runs every sample of a batch, each from the zero state, in parallel on `opts.threads`
    /// threads (the same bits at any count). `opts.output` names a directory that receives
    /// `<stem>.npy` (output integers) or `<stem>.wav` (denoised audio of a `.wav` input).
    ///
    /// # Errors
    /// No sample; traces, plots or activity recording asked for (they record one run); any
    /// sample's error (the first in the batch's order); unwritable outputs.
    pub fn run_batch(&self, samples: &[Sample], opts: &RunOptions) -> Result<BatchRun> {
        self.run_batch_with(samples, opts, &|| {})
    }

    /// [`Simulation::run_batch`], calling `done` once as each sample finishes (from the thread
    /// that ran it, in any order: for a progress display).
    ///
    /// # Errors
    /// As [`Simulation::run_batch`].
    pub fn run_batch_with(
        &self,
        samples: &[Sample],
        opts: &RunOptions,
        done: &(dyn Fn() + Sync),
    ) -> Result<BatchRun> {
        run_samples(samples, opts, done, |input, o| self.run(input, o, None))
    }
}

/// Runs every sample of a batch on the bit-exact reference executor ([`crate::run_reference`]),
/// in parallel as [`Simulation::run_batch`] does.
///
/// # Errors
/// As [`Simulation::run_batch`].
pub fn run_reference_batch(
    model: &Model,
    samples: &[Sample],
    opts: &RunOptions,
) -> Result<BatchRun> {
    run_reference_batch_with(model, samples, opts, &|| {})
}

/// [`run_reference_batch`], calling `done` once as each sample finishes.
///
/// # Errors
/// As [`Simulation::run_batch`].
pub fn run_reference_batch_with(
    model: &Model,
    samples: &[Sample],
    opts: &RunOptions,
    done: &(dyn Fn() + Sync),
) -> Result<BatchRun> {
    run_samples(samples, opts, done, |input, o| {
        crate::run_reference(model, input, o)
    })
}

fn run_samples(
    samples: &[Sample],
    opts: &RunOptions,
    done: &(dyn Fn() + Sync),
    run: impl Fn(&Input, &RunOptions) -> Result<crate::Run> + Sync + Send,
) -> Result<BatchRun> {
    if samples.is_empty() {
        return Err(Error::Invalid("a batch needs at least one input".into()));
    }
    refuse_single_run_outputs(opts)?;
    if opts.threads == 0 {
        return Err(Error::Invalid("--threads must be at least 1".into()));
    }
    let start = Instant::now();
    let mut staging = Staging::new();
    let out_dir = stage_output_dir(&mut staging, opts.output.as_deref())?;
    let (pool, inner) = threads_of(samples.len(), opts.threads);
    let runs = par_map(samples, pool, |s| {
        let ext = if matches!(s.input, Input::Wav { .. }) {
            "wav"
        } else {
            "npy"
        };
        let o = RunOptions {
            threads: inner,
            output: out_dir
                .as_ref()
                .map(|d| d.join(format!("{}.{ext}", s.stem))),
            calibration_setup: false,
            ..opts.clone()
        };
        let r = run(&s.input, &o).map_err(|e| sample_error(&s.name, e));
        done();
        r
    })?;
    let threads = if samples.len() == 1 {
        runs[0].report.sim.threads
    } else {
        pool
    };
    let named: Vec<(String, Report)> = samples
        .iter()
        .zip(&runs)
        .map(|(s, r)| (s.name.clone(), r.report.clone()))
        .collect();
    let Some(mut report) = Report::of_batch(&named, start.elapsed().as_secs_f64(), threads) else {
        return Err(Error::Invalid("a batch needs at least one input".into()));
    };
    commit_outputs(staging, &mut report, opts.output.as_deref())?;
    Ok(BatchRun {
        report,
        outputs: runs.into_iter().map(|r| r.outputs).collect(),
    })
}

/// A sample's error, naming the sample unless the message already does.
pub(crate) fn sample_error(name: &str, e: Error) -> Error {
    let msg = e.to_string();
    if msg.contains(name) {
        e
    } else {
        Error::Invalid(format!("{name}: {msg}"))
    }
}
