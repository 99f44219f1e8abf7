//! The max-affine lower bound of a timestep (Timcheck, Pierro and Shrestha 2026), computed here
//! a second time, from raw counts and the chip's constants, without the timing model.
//!
//! The counts come from the functional run (the engine's work per flow for every token) and
//! from the program's structure (neurons and instructions per core, routes, used tiles and
//! chips); the simulation's timesteps come through its trace sink. For every timestep of both
//! modes the test checks that
//! - the duration is at least the slowest unit of any core, link or host path plus the
//!   barrier (the timestep ends when the last work is done, then the barrier runs): neuron
//!   unit `U_c`, axon unit `msgs_out_c x t_spike`, synapse unit
//!   `msgs_in_c x t_in + words_c x t_read + synops_c x t_synop`, link `bits_l / bandwidth_l`,
//!   host injection `inputs x t_io_in`, host extraction `outputs x t_io_out`;
//! - the bound the simulation reports (`Step::lower_bound_ns`) is Timcheck's max-affine one,
//!   `max(U_c, synops_c t_synop, words_c t_read, msgs_in_c t_in, T_l, barrier)`.

use loisim_arch::Chip;
use loisim_compiler::layout::Endpoint;
use loisim_compiler::program::Program;
use loisim_compiler::{CompileOptions, compile};
use loisim_sim::engine::{Tables, TokenWork};
use loisim_sim::{Mode, SimOptions, StepRecord, TraceSink, simulate};
use std::path::PathBuf;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// What the test needs of one simulated timestep.
struct Rec {
    mode: Mode,
    timestep: u64,
    token: usize,
    stage: Option<u32>,
    duration_ns: f64,
    barrier_ns: f64,
    lower_bound_ns: f64,
}

#[derive(Default)]
struct Recorder(Vec<Rec>);

impl TraceSink for Recorder {
    fn step(&mut self, r: &StepRecord<'_>) {
        self.0.push(Rec {
            mode: r.mode,
            timestep: r.timestep,
            token: r.token,
            stage: r.stage,
            duration_ns: r.step.duration_ns,
            barrier_ns: r.step.barrier_ns,
            lower_bound_ns: r.step.lower_bound_ns,
        });
    }
}

/// One flow of the program.
struct Flow {
    /// Stage of the sender (0 for the host).
    stage: u32,
    /// Sending core, or the host.
    src: Option<usize>,
    /// Receiving core, or the host.
    dst: Option<usize>,
    links: Vec<usize>,
}

/// The program's structure, with the chip's constants applied to it.
struct Structure {
    /// Per core: stage, neuron-unit time when its stage is active, when it is idle.
    cores: Vec<(u32, f64, f64)>,
    flows: Vec<Flow>,
    /// Per link: ns per bit.
    link_ns_per_bit: Vec<f64>,
    barrier_ns: f64,
    t_spike: f64,
    t_in: f64,
    t_read: f64,
    t_synop: f64,
    t_io_in: f64,
    t_io_out: f64,
}

impl Structure {
    fn new(prog: &Program) -> Self {
        let ops = &prog.chip.ops;
        let cores: Vec<(u32, f64, f64)> = prog
            .cores
            .iter()
            .map(|c| {
                let (mut stage, mut active, mut neurons) = (None, 0.0, 0u32);
                for p in &c.pieces {
                    let piece = &prog.pieces[p.0 as usize];
                    let pop = prog.network.pop(piece.pop);
                    assert!(stage.is_none_or(|s| s == pop.stage), "one stage per core");
                    stage = Some(pop.stage);
                    neurons += piece.len();
                    active += f64::from(piece.len())
                        * (ops.neuron_update.latency_ns.value
                            + f64::from(pop.program.instructions())
                                * ops.neuron_instruction.latency_ns.value);
                }
                let idle = f64::from(neurons) * ops.neuron_idle.latency_ns.value;
                (stage.expect("a core runs a piece"), active, idle)
            })
            .collect();
        let index = |e: Endpoint| match e {
            Endpoint::Host => None,
            Endpoint::Core(id) => Some(prog.core_index(id).expect("a used core")),
        };
        let flows = prog
            .flows
            .iter()
            .map(|f| {
                let src = index(f.src);
                Flow {
                    stage: src.map_or(0, |c| cores[c].0),
                    src,
                    dst: index(f.dst),
                    links: f.links.iter().map(|l| l.0 as usize).collect(),
                }
            })
            .collect();
        let chip = &prog.chip;
        let link_ns_per_bit = prog
            .links
            .iter()
            .map(|l| {
                if l.chip_link {
                    1.0 / chip.board.link_bits_per_ns.value
                } else {
                    1.0 / chip.noc.link_bits_per_ns.value
                }
            })
            .collect();
        let mut tiles: Vec<(u32, u32)> = prog
            .cores
            .iter()
            .map(|c| (c.location.gx, c.location.gy))
            .collect();
        tiles.sort_unstable();
        tiles.dedup();
        let mut chips: Vec<u32> = prog.cores.iter().map(|c| c.location.chip).collect();
        chips.sort_unstable();
        chips.dedup();
        let b = &chip.barrier;
        let barrier_ns = b.base_ns.value
            + b.per_tile_ns.value * tiles.len() as f64
            + b.per_chip_ns.value * (chips.len().max(1) - 1) as f64;
        Self {
            cores,
            flows,
            link_ns_per_bit,
            barrier_ns,
            t_spike: ops.spike_out.latency_ns.value,
            t_in: ops.message_in.latency_ns.value,
            t_read: ops.synmem_word_read.latency_ns.value,
            t_synop: ops.synop.latency_ns.value,
            // Inputs are sent by the on-chip sequencer or by the host (`io.inputs`).
            t_io_in: match chip.io.inputs.value {
                loisim_arch::InputSource::Sequencer => chip.io.sequencer_message.latency_ns.value,
                loisim_arch::InputSource::Host => chip.io.input_message.latency_ns.value,
            },
            t_io_out: chip.io.output_message.latency_ns.value,
        }
    }

    /// `(slowest unit, Timcheck's bound)` of a timestep in which stage `s` works on `w`, for
    /// every `(s, w)` of `active`.
    fn bounds(&self, active: &[(u32, &TokenWork)]) -> (f64, f64) {
        let nc = self.cores.len();
        let (mut out, mut inn, mut words, mut synops) = (
            vec![0u64; nc],
            vec![0u64; nc],
            vec![0u64; nc],
            vec![0u64; nc],
        );
        let (mut host_out, mut host_in) = (0u64, 0u64);
        let mut bits = vec![0u64; self.link_ns_per_bit.len()];
        for &(s, w) in active {
            for (f, flow) in self.flows.iter().enumerate() {
                if flow.stage != s {
                    continue;
                }
                let fw = w.flows[f];
                let m = u64::from(fw.msgs);
                match flow.src {
                    Some(c) => out[c] += m,
                    None => host_out += m,
                }
                match flow.dst {
                    Some(c) => {
                        inn[c] += m;
                        words[c] += u64::from(fw.words);
                        synops[c] += u64::from(fw.synops);
                    }
                    None => host_in += m,
                }
                for &l in &flow.links {
                    bits[l] += u64::from(fw.bits);
                }
            }
        }
        let mut units = 0f64;
        let mut timcheck = self.barrier_ns;
        for (c, &(stage, active_ns, idle_ns)) in self.cores.iter().enumerate() {
            let u = if active.iter().any(|&(s, _)| s == stage) {
                active_ns
            } else {
                idle_ns
            };
            let (syn, rd, msg) = (
                synops[c] as f64 * self.t_synop,
                words[c] as f64 * self.t_read,
                inn[c] as f64 * self.t_in,
            );
            timcheck = timcheck.max(u).max(syn).max(rd).max(msg);
            units = units
                .max(u)
                .max(out[c] as f64 * self.t_spike)
                .max(syn + rd + msg);
        }
        for (l, &b) in bits.iter().enumerate() {
            let t = b as f64 * self.link_ns_per_bit[l];
            timcheck = timcheck.max(t);
            units = units.max(t);
        }
        units = units
            .max(host_out as f64 * self.t_io_in)
            .max(host_in as f64 * self.t_io_out);
        (units, timcheck)
    }
}

/// Every token's work, from the functional run.
fn works(prog: &Program, tokens: &[Vec<i32>]) -> Vec<TokenWork> {
    let tables = Tables::new(prog);
    tables.check().expect("runnable");
    let mut lane = tables.lane();
    let mut tok = tables.token_state();
    tokens
        .iter()
        .map(|x| {
            tables.run(&mut lane, &mut tok, x, 0..tables.n_units());
            tok.work.clone()
        })
        .collect()
}

fn check_model(name: &str, n_tokens: usize) {
    let bytes = std::fs::read(root().join(format!("models/{name}.bin"))).expect("model");
    let model = loisim_model::codec::decode(&bytes).expect("decode");
    let tokens =
        loisim_import::input::read_tokens(&root().join("models/default-input.npy"), &model)
            .expect("input");
    let tokens = &tokens[..n_tokens.min(tokens.len())];
    let prog = compile(
        &model,
        &Chip::default_chip(),
        &CompileOptions::default(),
        None,
    )
    .expect("compile");
    let st = Structure::new(&prog);
    let works = works(&prog, tokens);
    let mut rec = Recorder::default();
    let opts = SimOptions {
        threads: 1,
        ..SimOptions::default()
    };
    simulate(&prog, tokens, &opts, Some(&mut rec), None).expect("simulate");
    let depth = prog.depth as usize;
    let n = tokens.len();
    let (mut ft, mut pl) = (0, 0);
    for r in &rec.0 {
        let active: Vec<(u32, &TokenWork)> = match r.mode {
            Mode::FallThrough => {
                ft += 1;
                vec![(r.stage.expect("a fall-through stage"), &works[r.token])]
            }
            Mode::Pipeline => {
                pl += 1;
                let tau = r.timestep as usize;
                (0..n)
                    .filter(|&t| t <= tau && tau - t < depth)
                    .map(|t| ((tau - t) as u32, &works[t]))
                    .collect()
            }
        };
        let (units, timcheck) = st.bounds(&active);
        let bound = units + st.barrier_ns;
        let at = format!(
            "{name}, {} timestep {} (token {})",
            r.mode.name(),
            r.timestep,
            r.token
        );
        assert!(
            r.duration_ns >= bound * (1.0 - 1e-12),
            "{at}: lasts {} ns, less than its slowest unit plus the barrier, {} + {} ns",
            r.duration_ns,
            units,
            st.barrier_ns
        );
        assert!(
            (r.lower_bound_ns - timcheck).abs() <= 1e-9 * timcheck,
            "{at}: reports a lower bound of {} ns, Timcheck's is {timcheck} ns",
            r.lower_bound_ns
        );
        assert!(
            (r.barrier_ns - st.barrier_ns).abs() <= 1e-9 * st.barrier_ns,
            "{at}: barrier {} ns, expected {} ns",
            r.barrier_ns,
            st.barrier_ns
        );
    }
    assert_eq!(ft, n * depth, "{name}: fall-through timesteps");
    assert_eq!(pl, n + depth - 1, "{name}: pipeline timesteps");
}

/// Every shipped model on the whole default input.
#[test]
fn every_timestep_of_every_shipped_model_lasts_at_least_its_lower_bound() {
    for name in [
        "s5-sparse-0.25x",
        "s5-dense-0.25x",
        "s5-sparse-1x",
        "s5-dense-1x",
        "s5-sparse-3x",
        "s5-dense-3x",
    ] {
        check_model(name, usize::MAX);
    }
}
