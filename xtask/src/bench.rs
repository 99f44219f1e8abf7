//! `cargo xtask bench`: simulation speed on every reference model. Goals, not gates: the
//! figures depend on the machine and its load.
//!
//! 1. For each model: the reference executor and the chip simulation (fall-through, pipeline,
//!    both; `--threads` threads) on the whole default input, each timed `REPEATS` times; the
//!    table shows the median: simulated tokens per wall-clock second, synaptic events per
//!    second, and the speed relative to the reference executor.
//! 2. The engine: synaptic events per second per thread (both modes, one thread), the same at
//!    `--threads` threads, and the ratio of the two, timed alternately in this process.
//! 3. Replay: the whole simulation (both modes, one thread) against pricing its recorded work
//!    again (`loisim_sim::Replay`, what `loisim replay` runs after reading the file).
//! 4. Peak memory (the high-water mark of the resident set) of `loisim run` on
//!    `models/s5-dense-3x.bin` and the whole default clip in both modes, of `loisim run
//!    --activity FILE` and of `loisim replay FILE`, each as a child process (the `loisim`
//!    binary next to this one, or in `target/release`; skipped when there is none).

use anyhow::Result;
use loisim_arch::Chip;
use loisim_compiler::{CompileOptions, compile};
use loisim_model::Reference;
use loisim_sim::engine::TokenWork;
use loisim_sim::{Replay, Session, SimOptions, WorkSink, simulate};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Instant;

/// Timed runs per measurement.
pub const REPEATS: usize = 5;

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

/// The tables for `models`, at `threads` threads.
pub fn run(root: &Path, models: &[&str], threads: usize) -> Result<String> {
    let mut out = speed(root, models, threads)?;
    out.push('\n');
    out.push_str(&engine(root, models, threads)?);
    out.push('\n');
    out.push_str(&peak_memory(root)?);
    Ok(out)
}

/// Section 1: tokens/s and synaptic events/s per mode against the reference executor.
fn speed(root: &Path, models: &[&str], threads: usize) -> Result<String> {
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

/// Keeps every token's work.
struct Keep(Arc<Mutex<Vec<TokenWork>>>);

impl WorkSink for Keep {
    fn token(&mut self, work: &TokenWork) {
        if let Ok(mut v) = self.0.lock() {
            v.push(work.clone());
        }
    }
}

/// Sections 2 and 3: the engine's events/s per thread, the ratio at `threads` threads, and
/// replay against the whole simulation.
fn engine(root: &Path, models: &[&str], threads: usize) -> Result<String> {
    let mut out = format!(
        "{:<16} {:>13} {:>13} {:>9} | {:>9} {:>9} {:>8}\n",
        "model",
        "events/s/thr",
        format!("events/s@{threads}"),
        "ratio",
        "sim s",
        "replay s",
        "x faster"
    );
    let input = root.join("models/default-input.npy");
    let chip = Chip::default_chip();
    for m in models {
        let model =
            loisim_model::codec::decode(&std::fs::read(root.join(format!("models/{m}.bin")))?)?;
        let tokens = loisim_import::input::read_tokens(&input, &model)?;
        let prog = compile(&model, &chip, &CompileOptions::default(), None)?;
        let opts = |threads| SimOptions {
            fall_through: true,
            pipeline: true,
            threads,
        };
        // One thread and `threads` threads, alternately, so that both see the same load.
        let (mut one, mut many, mut synops) = (Vec::new(), Vec::new(), 0);
        for _ in 0..REPEATS.min(3) {
            for (n, walls) in [(1, &mut one), (threads, &mut many)] {
                let t = Instant::now();
                let res = simulate(&prog, &tokens, &opts(n), None, None)?;
                walls.push(t.elapsed().as_secs_f64());
                synops = res.fall_through.as_ref().map_or(0, |r| r.synops);
            }
        }
        let (t1, tn) = (median(one), median(many));
        // The recorded work, then its replay.
        let work = Arc::new(Mutex::new(Vec::new()));
        let t = Instant::now();
        let mut s = Session::new(&prog, &opts(1));
        s.record_work(Box::new(Keep(work.clone())));
        s.run(&tokens, None, None)?;
        let full = s.finish(None);
        let t_sim = t.elapsed().as_secs_f64();
        let work = std::mem::take(&mut *work.lock().map_err(|_| anyhow::anyhow!("poisoned"))?);
        let mut walls = Vec::new();
        for _ in 0..REPEATS.min(3) {
            let t = Instant::now();
            let mut r = Replay::new(loisim_sim::timing::TimingModel::new(&prog), &opts(1));
            for w in &work {
                r.token_ref(w);
            }
            let (ft, pl) = r.finish();
            walls.push(t.elapsed().as_secs_f64());
            anyhow::ensure!(
                ft == full.fall_through && pl == full.pipeline,
                "{m}: the replay differs from the simulation"
            );
        }
        let t_replay = median(walls);
        let syn = synops as f64;
        out.push_str(&format!(
            "{:<16} {:>13.3e} {:>13.3e} {:>9.2} | {:>9.3} {:>9.3} {:>8.1}\n",
            m,
            syn / t1,
            syn / tn,
            t1 / tn,
            t_sim,
            t_replay,
            t_sim / t_replay
        ));
    }
    Ok(out)
}

/// The `loisim` binary built with this one (`cargo build --release -p loisim-cli`).
fn loisim_bin(root: &Path) -> Option<PathBuf> {
    let here = std::env::current_exe()
        .ok()
        .and_then(|e| e.parent().map(|d| d.join("loisim")));
    [here, Some(root.join("target/release/loisim"))]
        .into_iter()
        .flatten()
        .find(|p| p.is_file())
}

/// Runs `cmd` and returns its peak resident set (`VmHWM`, polled every 5 ms until it exits),
/// bytes, and its wall time, s.
fn peak_rss(cmd: &mut std::process::Command) -> Result<(u64, f64)> {
    let t = Instant::now();
    let mut child = cmd
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()?;
    let status = format!("/proc/{}/status", child.id());
    let mut peak = 0u64;
    loop {
        if let Ok(s) = std::fs::read_to_string(&status)
            && let Some(kb) = s
                .lines()
                .find_map(|l| l.strip_prefix("VmHWM:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        {
            peak = peak.max(kb * 1024);
        }
        if let Some(st) = child.try_wait()? {
            anyhow::ensure!(st.success(), "{cmd:?} failed: {st}");
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
    Ok((peak, t.elapsed().as_secs_f64()))
}

/// Section 4: peak memory of a whole-clip run of the largest model, and of its replay.
fn peak_memory(root: &Path) -> Result<String> {
    let Some(bin) = loisim_bin(root) else {
        return Ok(
            "peak memory: skipped (no loisim binary: cargo build --release -p loisim-cli)\n".into(),
        );
    };
    let model = root.join("models/s5-dense-3x.bin");
    let dir = tempfile::tempdir()?;
    let activity = dir.path().join("activity.bin");
    let mut out = format!(
        "{:<44} {:>10} {:>8}\n",
        "s5-dense-3x, whole clip", "peak MB", "wall s"
    );
    let run = |args: &[&std::ffi::OsStr]| -> Result<(u64, f64)> {
        peak_rss(std::process::Command::new(&bin).args(args))
    };
    let m = model.as_os_str();
    let q = |s: &'static str| std::ffi::OsStr::new(s);
    for (name, args) in [
        (
            "loisim run (both modes)",
            vec![
                q("run"),
                m,
                q("--mode"),
                q("both"),
                q("--json"),
                q("--quiet"),
            ],
        ),
        (
            "loisim run --activity FILE",
            vec![
                q("run"),
                m,
                q("--mode"),
                q("both"),
                q("--json"),
                q("--quiet"),
                q("--activity"),
                activity.as_os_str(),
            ],
        ),
        (
            "loisim replay FILE",
            vec![q("replay"), activity.as_os_str(), q("--json")],
        ),
    ] {
        let (peak, wall) = run(&args)?;
        out.push_str(&format!(
            "{:<44} {:>10.1} {:>8.2}\n",
            name,
            peak as f64 / 1e6,
            wall
        ));
    }
    Ok(out)
}

/// `cargo xtask bench --peer FILE.net [--bias B.npy] [--steps T] [--threads N]`: the engine
/// alone on a netx network (no timing model, no report), for the peer comparison in
/// `bench/peers/`: the network is read, built and mapped first (not timed), then `steps`
/// timesteps run with zero host input and the input layer's `bias_mant` from `bias`. Prints
/// one JSON object: steps, synaptic events (messages received x their synapses), spikes sent
/// per layer, the engine's seconds, events per second and per second per thread.
pub fn peer(path: &Path, bias: Option<&Path>, steps: usize, threads: usize) -> Result<String> {
    let mut nx = loisim::netx::load_netx(path, &Default::default())?;
    if let Some(b) = bias {
        let lava = loisim::netx::read_lava_array(b)?;
        nx.network
            .set_lif_bias_mant(0, &lava.values)
            .map_err(|e| anyhow::anyhow!("--bias: {e}"))?;
    }
    let net = &nx.network.network;
    let chip = Chip::default_chip();
    let mapping = loisim_compiler::net_map::partition(net, &chip, chip.core.max_neurons.value)?;
    let prog = loisim_sim::net_engine::NetProgram::new(net, &mapping)?;
    let mut eng = prog.start(threads);
    let inputs: Vec<Vec<i64>> = net
        .inputs
        .iter()
        .map(|i| vec![0; i.size as usize])
        .collect();
    let (mut events, mut spikes) = (0u64, vec![0u64; net.populations.len()]);
    let t = Instant::now();
    for _ in 0..steps {
        let s = eng.step(&inputs)?;
        events += s.activity.synops.iter().sum::<u64>();
        for (a, b) in spikes.iter_mut().zip(&s.activity.messages) {
            *a += b;
        }
    }
    let wall = t.elapsed().as_secs_f64();
    let used = eng.threads();
    Ok(format!(
        "{}\n",
        serde_json::json!({
            "simulator": "loisim",
            "network": path.display().to_string(),
            "steps": steps,
            "synaptic_events": events,
            "spikes_per_population": spikes,
            "threads": used,
            "engine_s": wall,
            "events_per_s": events as f64 / wall,
            "events_per_s_per_thread": events as f64 / wall / used as f64,
        })
    ))
}
