//! Random netx networks (`tests/data/random/`, made by `tools/netx-fixtures/make_random.py`)
//! against Lava's own `fixed_pt` run of each (lava-nc 0.10.0, lava-dl 0.6.0): every block's
//! output and every neuron state variable Lava keeps (`u`, `v`; `sigma`, `act`, `residue`),
//! every timestep, equal as integers; through `loisim_netx::to_network` and the IR's reference
//! interpreter, and the engine (`loisim_sim::net_engine`, the network partitioned on the
//! `loihi2` chip) at 1 and 2 threads: its outputs equal the interpreter's every timestep, and
//! its spikes and probed state (read before a reset, as a Lava Monitor reads it) equal Lava's.
//!
//! Timing: IR timestep `t` is Lava timestep `t`; the host input of Lava timestep `t` (row
//! `t - 1` of `input.npy`) is given in IR timestep `t - 1`. Row `i` of every array is Lava
//! timestep `i + 1`. Lava's monitors read a block's state after its update; `LIFReset` zeroes
//! it at the start of the next timestep and the IR at the end of this one, so at a reset
//! timestep the state is taken from a twin network whose resets stop before it ([`twin`]).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use loisim_arch::Chip;
use loisim_compiler::net_map::partition;
use loisim_net::{Network, Reference, Schedule};
use loisim_netx::{BlockNeuron, NetxNetwork, NetxOptions, read, to_network};
use loisim_sim::net_engine::NetProgram;

fn dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/data/random")
}

/// Networks with a dense layer whose mixed weights netx gives 9 bits (a largest weight of 128
/// to 254 with an odd weight: `optimize_weight_bits`), which Lava runs as they are: they map
/// (8 magnitude bits and a sign) and the engine runs them too.
const NINE_BIT_WEIGHTS: [&str; 2] = ["lif_dense_delays", "sdnn_rec_delays"];

/// One `net` line of the manifest and its files.
#[derive(Debug)]
struct Entry {
    name: String,
    opts: NetxOptions,
    /// `input` (the host gives `input.npy`) or `bias` (`bias.npy` is the input block's
    /// `bias_mant`).
    feed: String,
    steps: usize,
    neurons: Vec<String>,
    shapes: Vec<Vec<u32>>,
    files: Vec<String>,
}

fn opt<T: std::str::FromStr>(v: &str) -> Option<T>
where
    T::Err: std::fmt::Debug,
{
    (v != "-").then(|| v.parse().expect("a number"))
}

fn manifest() -> Vec<Entry> {
    let text = std::fs::read_to_string(dir().join("manifest.txt")).expect("manifest");
    let mut out: Vec<Entry> = Vec::new();
    for line in text
        .lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
    {
        let mut words = line.split_whitespace();
        match words.next() {
            Some("net") => {
                let name = words.next().expect("a name").to_owned();
                let kv: BTreeMap<&str, &str> = words
                    .map(|w| w.split_once('=').expect("key=value"))
                    .collect();
                let opts = NetxOptions {
                    input_message_bits: kv["input_message_bits"].parse().expect("bits"),
                    spike_exp: kv["spike_exp"].parse().expect("spike_exp"),
                    reset_interval: opt(kv["reset_interval"]),
                    reset_offset: kv["reset_offset"].parse().expect("offset"),
                    num_layers: opt(kv["num_layers"]),
                    skip_layers: kv["skip_layers"].parse().expect("skip"),
                    input_shape: opt::<String>(kv["input_shape"]).map(|s| {
                        let v: Vec<u32> = s.split(',').map(|d| d.parse().expect("dim")).collect();
                        [v[0], v[1], v[2]]
                    }),
                    sparse_fc_layer: kv["sparse_fc_layer"] == "1",
                };
                out.push(Entry {
                    name,
                    opts,
                    feed: kv["feed"].to_owned(),
                    steps: kv["steps"].parse().expect("steps"),
                    neurons: kv["neurons"].split(',').map(str::to_owned).collect(),
                    shapes: kv["shapes"]
                        .split(';')
                        .map(|s| s.split('x').map(|d| d.parse().expect("dim")).collect())
                        .collect(),
                    files: vec![],
                });
            }
            Some("file") => {
                let f = words.next().expect("a file name");
                out.last_mut()
                    .expect("a net line first")
                    .files
                    .push(f.to_owned());
            }
            other => panic!("manifest line {other:?}"),
        }
    }
    out
}

/// An integer `.npy` of shape `(rows, cols)`, as rows.
fn npy(path: &Path) -> Vec<Vec<i64>> {
    let bytes = std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let f = npyz::NpyFile::new(&bytes[..]).expect("npy");
    let shape: Vec<usize> = f.shape().iter().map(|&d| d as usize).collect();
    assert_eq!(f.order(), npyz::Order::C, "{}: C order", path.display());
    let descr = match f.dtype() {
        npyz::DType::Plain(t) => t.to_string(),
        d => panic!("{}: dtype {d:?}", path.display()),
    };
    let flat: Vec<i64> = match descr.as_str() {
        "|i1" => f
            .into_vec::<i8>()
            .expect("i1")
            .into_iter()
            .map(i64::from)
            .collect(),
        "<i2" => f
            .into_vec::<i16>()
            .expect("i2")
            .into_iter()
            .map(i64::from)
            .collect(),
        "<i4" => f
            .into_vec::<i32>()
            .expect("i4")
            .into_iter()
            .map(i64::from)
            .collect(),
        d => panic!("{}: dtype {d}", path.display()),
    };
    assert_eq!(shape.len(), 2, "{}", path.display());
    flat.chunks(shape[1]).map(<[i64]>::to_vec).collect()
}

/// Per Lava timestep 1..=steps: every network output (IR order), and per block its state
/// variables by name (Lava's C order).
struct Run {
    outputs: Vec<Vec<Vec<i64>>>,
    states: Vec<Vec<BTreeMap<String, Vec<i64>>>>,
}

fn frames(net: &NetxNetwork, e: &Entry) -> Vec<Vec<i64>> {
    let n = net.network.inputs[0].size as usize;
    let mut frames = vec![vec![0; n]; e.steps + 1];
    if e.feed == "input" {
        let input = npy(&dir().join(&e.name).join("input.npy"));
        assert_eq!(input.len(), e.steps, "{}: input rows", e.name);
        for (t, row) in input.iter().enumerate() {
            frames[t] = net.input_frame(row).expect("input shape");
        }
    }
    frames
}

fn run(net: &NetxNetwork, network: &Network, frames: &[Vec<i64>], steps: usize) -> Run {
    let mut r = Reference::new(network).expect("valid network");
    let mut out = Run {
        outputs: vec![],
        states: vec![],
    };
    for (t, x) in frames.iter().enumerate().take(steps + 1) {
        let s = r.step(std::slice::from_ref(x)).expect("step");
        if t == 0 {
            continue;
        }
        out.outputs.push(s.outputs);
        let mut per_block = Vec::new();
        for (k, b) in net.blocks.iter().enumerate() {
            let prog = &network.programs[network.populations[b.pop.index()].program.index()];
            let ns = prog.states.len();
            let st = r.state(b.pop);
            let mut vars = BTreeMap::new();
            for (i, decl) in prog.states.iter().enumerate() {
                let ir: Vec<i64> = st.iter().skip(i).step_by(ns).copied().collect();
                vars.insert(decl.name.clone(), net.to_lava_order(k, &ir));
            }
            per_block.push(vars);
        }
        out.states.push(per_block);
    }
    out
}

/// The times in `0..t` at which `s` runs.
fn runs_before(s: Schedule, t: u64) -> Vec<u64> {
    (0..t).filter(|&x| s.runs_at(x)).collect()
}

/// `network` with every population's reset running as before up to timestep `t - 1` and not
/// in `t`: its states after timestep `t` are the states before the reset of timestep `t`. (A
/// schedule can drop its reset at `t` only when it has run at most once before.)
fn twin(network: &Network, t: u64) -> Network {
    let mut twin = network.clone();
    for p in &mut twin.populations {
        let Some(r) = p.reset else { continue };
        if !r.runs_at(t) {
            continue;
        }
        p.reset = match runs_before(r, t)[..] {
            [] => None,
            [f] => Some(Schedule {
                first: f,
                every: u32::MAX,
            }),
            ref many => panic!(
                "resets at {many:?} before timestep {t}: a twin keeps at most one; use a longer \
                 reset_interval"
            ),
        };
    }
    twin
}

/// The interpreter's run, each block's states at its reset timesteps read before the reset.
fn lava_view_run(net: &NetxNetwork, frames: &[Vec<i64>], steps: usize) -> Run {
    let mut out = run(net, &net.network, frames, steps);
    for t in 1..=steps {
        let resetting: Vec<usize> = net
            .blocks
            .iter()
            .enumerate()
            .filter(|(_, b)| {
                net.network.populations[b.pop.index()]
                    .reset
                    .is_some_and(|r| r.runs_at(t as u64))
            })
            .map(|(k, _)| k)
            .collect();
        if resetting.is_empty() {
            continue;
        }
        let tw = run(net, &twin(&net.network, t as u64), frames, t);
        assert_eq!(
            tw.outputs,
            out.outputs[..t],
            "the twin's outputs equal the network's up to its timestep {t}"
        );
        for k in resetting {
            out.states[t - 1][k] = tw.states[t - 1][k].clone();
        }
    }
    out
}

fn lava_neuron(b: BlockNeuron, reset: bool) -> &'static str {
    match b {
        BlockNeuron::Lif if reset => "LIFReset",
        BlockNeuron::Lif => "LIF",
        BlockNeuron::Delta => "Delta",
        BlockNeuron::SigmaDelta => "SigmaDelta",
        BlockNeuron::Sigma => "Sigma",
    }
}

/// A difference between loisim and Lava, as one line.
fn first_difference(ours: &[Vec<i64>], lava: &[Vec<i64>]) -> Option<String> {
    assert_eq!(ours.len(), lava.len(), "timesteps");
    for (i, (a, b)) in ours.iter().zip(lava).enumerate() {
        assert_eq!(a.len(), b.len(), "values per timestep");
        if let Some(j) = (0..a.len()).find(|&j| a[j] != b[j]) {
            let n = (0..ours.len())
                .map(|i| (0..a.len()).filter(|&j| ours[i][j] != lava[i][j]).count())
                .sum::<usize>();
            return Some(format!(
                "Lava timestep {}, index {j} (Lava's C order): loisim {} Lava {} ({n} values differ)",
                i + 1,
                a[j],
                b[j]
            ));
        }
    }
    None
}

/// Checks one network; returns what differs, one line each.
fn check(e: &Entry) -> Vec<String> {
    let mut errors = Vec::new();
    let file = read(dir().join(format!("{}.net", e.name))).expect("readable");
    let mut net = match to_network(&file, &e.opts) {
        Ok(n) => n,
        Err(err) => return vec![format!("{}: loisim refuses it: {err}", e.name)],
    };
    let neurons: Vec<&str> = net
        .blocks
        .iter()
        .map(|b| lava_neuron(b.neuron, e.opts.reset_interval.is_some()))
        .collect();
    assert_eq!(neurons, e.neurons, "{}: blocks", e.name);
    let shapes: Vec<Vec<u32>> = net.blocks.iter().map(|b| b.shape.clone()).collect();
    assert_eq!(shapes, e.shapes, "{}: block shapes", e.name);
    if e.feed == "bias" {
        let bias = npy(&dir().join(&e.name).join("bias.npy"));
        net.set_lif_bias_mant(0, &bias[0])
            .expect("a LIF input block");
    }
    let frames = frames(&net, e);
    let ours = lava_view_run(&net, &frames, e.steps);
    let mut compared = 0;
    let mut nonzero = 0;
    let mut cmp = |what: String, ours: Vec<Vec<i64>>, key: &str| {
        let lava = npy(&dir().join(&e.name).join(format!("{key}.npy")));
        compared += 1;
        nonzero += lava.iter().flatten().filter(|&&x| x != 0).count();
        if let Some(d) = first_difference(&ours, &lava) {
            errors.push(format!("{}: {what}: {d}", e.name));
        }
    };
    let out_block = net.blocks.len() - 1;
    cmp(
        "output (net.out)".into(),
        ours.outputs
            .iter()
            .map(|o| net.to_lava_order(out_block, &o[net.out]))
            .collect(),
        "out",
    );
    for (k, b) in net.blocks.iter().enumerate() {
        cmp(
            format!("block {k} (layer {}) spikes", b.layer),
            ours.outputs
                .iter()
                .map(|o| net.to_lava_order(k, &o[b.output]))
                .collect(),
            &format!("{k}-s"),
        );
        let names: Vec<String> = ours.states[0][k].keys().cloned().collect();
        for var in names {
            cmp(
                format!("block {k} (layer {}) {var}", b.layer),
                ours.states.iter().map(|s| s[k][&var].clone()).collect(),
                &format!("{k}-{var}"),
            );
        }
    }
    let expected_files =
        1 + compared + usize::from(e.feed == "input") + usize::from(e.feed == "bias");
    assert_eq!(
        e.files.len(),
        expected_files,
        "{}: every ground truth in the manifest is compared",
        e.name
    );
    assert!(nonzero > 0, "{}: a ground truth that can fail", e.name);
    // The engine, partitioned with a few neurons per core, at 1 and 2 threads.
    let mapping = partition(&net.network, &Chip::default_chip(), 24);
    if NINE_BIT_WEIGHTS.contains(&e.name.as_str()) {
        let w = net
            .network
            .projections
            .iter()
            .filter_map(|p| match &p.synapses {
                loisim_net::Synapses::Dense { weights } => weights.iter().max().copied(),
                _ => None,
            })
            .max();
        assert!(w > Some(127), "{}: weights past 8 signed bits", e.name);
    }
    let mapping = mapping.expect("maps");
    let prog = NetProgram::new(&net.network, &mapping).expect("compiles");
    for threads in [1, 2] {
        let mut engine = prog.start(threads);
        // What a Lava Monitor reads: a block reset in a timestep as it was before its reset.
        engine.keep_pre_reset_state();
        let mut reference = Reference::new(&net.network).expect("valid");
        let nb = net.blocks.len();
        let mut spikes: Vec<Vec<Vec<i64>>> = vec![Vec::new(); nb];
        let mut states: Vec<BTreeMap<String, Vec<Vec<i64>>>> = vec![BTreeMap::new(); nb];
        for (t, x) in frames.iter().enumerate() {
            let a = reference.step(std::slice::from_ref(x)).expect("reference");
            let b = engine.step(std::slice::from_ref(x)).expect("engine");
            if a.outputs != b.outputs {
                errors.push(format!(
                    "{}: the engine ({threads} threads) differs from the interpreter in IR \
                     timestep {t}",
                    e.name
                ));
                break;
            }
            if t == 0 || t > e.steps {
                continue;
            }
            for (k, blk) in net.blocks.iter().enumerate() {
                spikes[k].push(net.to_lava_order(k, &b.outputs[blk.output]));
                let pg = net.network.program_of(blk.pop);
                let st = engine.probed_state(blk.pop);
                let n_st = pg.states.len();
                for (i, decl) in pg.states.iter().enumerate() {
                    let ir: Vec<i64> = st.iter().skip(i).step_by(n_st).copied().collect();
                    states[k]
                        .entry(decl.name.clone())
                        .or_default()
                        .push(net.to_lava_order(k, &ir));
                }
            }
        }
        // The engine's probes against Lava's own arrays (no twin networks).
        for (k, blk) in net.blocks.iter().enumerate() {
            let lava = npy(&dir().join(&e.name).join(format!("{k}-s.npy")));
            if let Some(d) = first_difference(&spikes[k], &lava) {
                errors.push(format!(
                    "{}: engine ({threads} threads), block {k} (layer {}) spikes: {d}",
                    e.name, blk.layer
                ));
            }
            for var in ours.states[0][k].keys() {
                let lava = npy(&dir().join(&e.name).join(format!("{k}-{var}.npy")));
                if let Some(d) = first_difference(&states[k][var], &lava) {
                    errors.push(format!(
                        "{}: engine ({threads} threads), block {k} (layer {}) {var}: {d}",
                        e.name, blk.layer
                    ));
                }
            }
        }
    }
    errors
}

#[test]
fn random_netx_networks_equal_lava_fixed_pt() {
    let entries = manifest();
    assert!(entries.len() >= 10, "{} networks", entries.len());
    let errors: Vec<String> = entries.iter().flat_map(check).collect();
    assert!(errors.is_empty(), "{}", errors.join("\n"));
}

/// The manifest names every file in the folder and no other (its SHA-256 values are checked by
/// `sha256sum`, see the tool's README).
#[test]
fn the_manifest_lists_every_fixture() {
    let text = std::fs::read_to_string(dir().join("manifest.txt")).expect("manifest");
    let listed: std::collections::BTreeSet<String> = text
        .lines()
        .filter_map(|l| l.strip_prefix("file "))
        .map(|l| l.split_whitespace().next().expect("name").to_owned())
        .collect();
    let mut present = std::collections::BTreeSet::new();
    for e in std::fs::read_dir(dir()).expect("folder") {
        let e = e.expect("entry");
        let name = e.file_name().into_string().expect("utf-8");
        if e.file_type().expect("type").is_dir() {
            for f in std::fs::read_dir(e.path()).expect("folder") {
                let f = f.expect("entry").file_name().into_string().expect("utf-8");
                present.insert(format!("{name}/{f}"));
            }
        } else if name != "manifest.txt" {
            present.insert(name);
        }
    }
    assert_eq!(listed, present);
}
