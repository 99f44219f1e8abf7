//! The [`Report`]: every figure of a run, defined once, serialized as `loisim run --json`.
//!
//! Naming rule: every key carries its unit (`latency_us_per_token`, `energy_total_mj_per_sample`)
//! and every energy key says `dynamic` or `total`. A `_max` suffix means the slowest token or
//! timestep of the run (within one sample). A batch of samples (several inputs) gives each
//! sample's figures in [`Report::per_sample`] and each figure over the samples as an
//! [`Aggregate`] `{mean, std, min, max}` in [`Report::aggregate`], under the keys
//! `per_sample` uses (`aggregate.fall_through.latency_us_per_token.mean`).
//!
//! Renaming or removing a key bumps [`SCHEMA_VERSION`]; adding an optional key does not.

use crate::ModelKind;
use loisim_compiler::Program;
use loisim_model::Model;
use loisim_sim::{ModeResult, SimResult};
use serde::{Deserialize, Serialize};

/// Version of the report's schema. 1 was the unversioned JSON of loisim 0.1 (`energy_mj_per_sample`
/// meant dynamic energy in fall-through and total energy in pipeline); 2 names every energy key
/// dynamic or total and puts units in every key; 3 puts every headline energy on the chip-rail
/// basis (2's totals included the board's static power), renames the breakdown
/// `energy_total_board_breakdown_*` with the new components, and adds the power domains
/// (`headline_basis`, `power_w`, `energy_by_domain_*`, `profiler`).
pub const SCHEMA_VERSION: u32 = 3;

/// The basis of every headline energy and power key without `_board` in its name: the chip
/// rails (VDD, VDD-M, VDD-IO), what Intel's Lava profiler measures and what most published
/// Loihi 2 energies report; the board basis adds what depends on the board and its host.
pub const ENERGY_BASIS: &str = "chip";

/// Static, dynamic and total of one quantity (power in W or energy in the parent key's unit).
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Parts {
    /// Static part.
    #[serde(rename = "static")]
    pub static_: f64,
    /// Dynamic part.
    pub dynamic: f64,
    /// Total.
    pub total: f64,
}

impl Parts {
    fn new(static_: f64, dynamic: f64) -> Self {
        Self {
            static_,
            dynamic,
            total: static_ + dynamic,
        }
    }
}

/// A quantity on both bases and per power domain: `chip` is the three chip rails, `board` the
/// whole board (chip rails plus what the board adds); the domains are the profiler's rails plus
/// `board_only`, what a whole-board measurement adds (FPGA, embedded host).
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct ByDomain {
    /// Chip rails (VDD + VDD-M + VDD-IO): the default basis.
    pub chip: Parts,
    /// Whole board (chip rails + board only).
    pub board: Parts,
    /// Neurocore logic.
    pub vdd: Parts,
    /// Memories.
    pub vdd_m: Parts,
    /// Chip I/O and the on-chip sequencer.
    pub vdd_io: Parts,
    /// What the board adds to the chip rails.
    pub board_only: Parts,
}

impl ByDomain {
    /// `e`'s energies (pJ), each times `scale`.
    #[must_use]
    pub fn of(e: &loisim_sim::timing::EnergyBreakdown, scale: f64) -> Self {
        let p = |st: f64, dy: f64| Parts::new(st * scale, dy * scale);
        Self {
            chip: p(e.static_pj(), e.dynamic_pj()),
            board: p(e.static_board_basis_pj(), e.dynamic_board_basis_pj()),
            vdd: p(e.static_vdd_pj, e.dynamic_vdd_pj),
            vdd_m: p(e.static_vdd_m_pj, e.dynamic_vdd_m_pj),
            vdd_io: p(e.static_vdd_io_pj, e.dynamic_vdd_io_pj),
            board_only: p(e.static_board_pj, e.dynamic_board_pj),
        }
    }
}

/// The figures Intel's Lava profiler reports for a run, on both bases (`_chip_`: the rails it
/// measures; `_board_`: the whole board), per timestep of the chip.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Profiler {
    /// Mean time per timestep.
    pub time_per_step_us: f64,
    /// Mean total power on the chip rails.
    pub total_power_chip_w: f64,
    /// Static power on the chip rails.
    pub static_power_chip_w: f64,
    /// Mean dynamic power on the chip rails.
    pub dynamic_power_chip_w: f64,
    /// Mean total power on VDD.
    pub vdd_power_w: f64,
    /// Mean total power on VDD-M.
    pub vdd_m_power_w: f64,
    /// Mean total power on VDD-IO.
    pub vdd_io_power_w: f64,
    /// Mean total power of the whole board.
    pub total_power_board_w: f64,
    /// Static power of the whole board.
    pub static_power_board_w: f64,
    /// Mean dynamic power of the whole board.
    pub dynamic_power_board_w: f64,
    /// Total energy per timestep on the chip rails.
    pub total_energy_chip_uj_per_step: f64,
    /// Dynamic energy per timestep on the chip rails.
    pub dynamic_energy_chip_uj_per_step: f64,
    /// Total energy per timestep of the whole board.
    pub total_energy_board_uj_per_step: f64,
    /// Dynamic energy per timestep of the whole board.
    pub dynamic_energy_board_uj_per_step: f64,
}

/// The power-domain figures of one mode: mean power over the run, the profiler block.
pub(crate) fn power_of(
    e: &loisim_sim::timing::EnergyBreakdown,
    total_ns: f64,
    steps: u64,
) -> (ByDomain, Profiler) {
    // pJ / ns = mW; W = mW / 1e3.
    let w = ByDomain::of(e, if total_ns > 0.0 { 1e-3 / total_ns } else { 0.0 });
    let per_step = 1e-6 / steps.max(1) as f64;
    let prof = Profiler {
        time_per_step_us: total_ns / steps.max(1) as f64 / 1e3,
        total_power_chip_w: w.chip.total,
        static_power_chip_w: w.chip.static_,
        dynamic_power_chip_w: w.chip.dynamic,
        vdd_power_w: w.vdd.total,
        vdd_m_power_w: w.vdd_m.total,
        vdd_io_power_w: w.vdd_io.total,
        total_power_board_w: w.board.total,
        static_power_board_w: w.board.static_,
        dynamic_power_board_w: w.board.dynamic,
        total_energy_chip_uj_per_step: e.total_pj() * per_step,
        dynamic_energy_chip_uj_per_step: e.dynamic_pj() * per_step,
        total_energy_board_uj_per_step: e.total_board_basis_pj() * per_step,
        dynamic_energy_board_uj_per_step: e.dynamic_board_basis_pj() * per_step,
    };
    (w, prof)
}

/// Everything one run reports.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Report {
    /// [`SCHEMA_VERSION`] of the writer.
    pub schema_version: u32,
    /// What executed the model: `chip` (the simulated Loihi 2) or `reference` (the bit-exact
    /// reference executor, no cost figures).
    pub executor: Executor,
    /// Model name.
    pub model: String,
    /// Kind of model.
    pub model_kind: ModelKind,
    /// Chip description (preset name or file stem); absent for the reference executor.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub chip: Option<String>,
    /// Board of the chip description.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub board: Option<String>,
    /// Neurocores the mapping uses.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cores_used: Option<usize>,
    /// Timesteps a token takes through the pipeline of cores.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pipeline_depth_timesteps: Option<u32>,
    /// Samples run: the inputs of a batch (one without a batch); for a netx network with a
    /// reset interval, the intervals of every input.
    pub samples: usize,
    /// Tokens run (token-based models).
    pub tokens: usize,
    /// Input values per token.
    pub inputs_per_token: usize,
    /// Output values per token.
    pub outputs_per_token: usize,
    /// Fall-through mode: one token at a time.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fall_through: Option<FallThrough>,
    /// Pipeline mode: a token (or step) every timestep.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pipeline: Option<Pipeline>,
    /// Each sample's figures, in the batch's order (batches only: several inputs). The mode
    /// objects of a batch are here and in `aggregate`, not at the top level.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub per_sample: Vec<SampleFigures>,
    /// Every numeric figure of `per_sample` over the batch, as `{mean, std, min, max}` under
    /// the same keys (batches only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub aggregate: Option<Aggregates>,
    /// Fraction of non-zero values on each channel of the chip's neurons (chip runs) or on the
    /// input of each matrix (reference runs).
    pub activation_density: Vec<ChannelDensity>,
    /// Saturations, wraps and overflows of the fixed-point arithmetic (chip runs).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub arithmetic: Option<Arithmetic>,
    /// The model's size: stored parameters and multiply-accumulates per token.
    pub model_size: ModelSize,
    /// MACs per token counting non-zero weights times non-zero inputs, the work of an
    /// event-driven chip (reference runs, which see every input).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub macs_active_per_token: Option<f64>,
    /// The poster's figures the cost model was fitted to, with the fit's residuals: only for the
    /// default model on the default chip with the full default input.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub calibration_targets: Option<CalibrationTargets>,
    /// Audio figures of a `.wav` input.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub audio: Option<AudioSummary>,
    /// Files written by the run.
    #[serde(default, skip_serializing_if = "Outputs::is_empty")]
    pub outputs: Outputs,
    /// How fast the simulator ran (wall clock: the only figures that vary from run to run;
    /// absent from regression baselines).
    #[serde(default)]
    pub sim: SimSpeed,
    /// Per layer activity over the run, with the counter names of Lava's profiler (netx
    /// networks).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub layers: Vec<NetxLayerActivity>,
    /// Where per-layer probes were written (netx networks).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub probe_dir: Option<String>,
    /// Elasticities of the headline figures to every cost parameter (`run --sensitivity`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sensitivity: Option<crate::sensitivity::Sensitivity>,
    /// Calibration-conditioned ranges of the headline figures (`run --ranges`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ranges: Option<crate::calibration::ConditionedRanges>,
}

/// One layer's activity over a run (netx networks): totals over every step.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct NetxLayerActivity {
    /// Index in netx's `net.layers`.
    pub layer: usize,
    /// Layer type.
    pub kind: String,
    /// The IR population.
    pub population: String,
    /// Neurons.
    pub neurons: u32,
    /// Synaptic operations into the layer.
    pub syn_ops: u64,
    /// Neuron updates.
    pub dendrite_updates: u64,
    /// Messages received (one per input axon a message reaches).
    pub spikes_in: u64,
    /// Messages sent (one per non-zero output).
    pub axon_out: u64,
}

/// How a netx run divides into samples (`--reset-interval`), as Intel's netx benchmarks
/// report them.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct NetxSamples {
    /// Steps per sample (the reset interval).
    pub steps_per_sample: u64,
    /// Complete samples in the run.
    pub samples_complete: u64,
}

/// What executed the model.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Executor {
    /// The simulated chip.
    Chip,
    /// The reference executor.
    Reference,
}

/// Fall-through figures.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct FallThrough {
    /// Tokens run.
    pub tokens: usize,
    /// Timesteps simulated.
    pub timesteps: u64,
    /// Mean latency of a token.
    pub latency_us_per_token: f64,
    /// Latency of the slowest token.
    pub latency_us_per_token_max: f64,
    /// Dynamic energy per token on the chip rails.
    pub energy_dynamic_uj_per_token: f64,
    /// Total energy per token on the chip rails, static included (the poster's figure for this
    /// mode; docs/cost-model.md §8.3).
    pub energy_total_uj_per_token: f64,
    /// Tokens per second.
    pub throughput_tokens_per_s: f64,
    /// Time of the whole sample.
    pub latency_ms_per_sample: f64,
    /// Dynamic energy of the whole sample.
    pub energy_dynamic_mj_per_sample: f64,
    /// Total energy of the whole sample.
    pub energy_total_mj_per_sample: f64,
    /// Whole-board total energy per token by component (the two static components are the
    /// only non-dynamic ones).
    pub energy_total_board_breakdown_uj_per_token: Breakdown,
    /// Synaptic operations per token.
    pub synops_per_token: f64,
    /// NoC messages per token.
    pub msgs_per_token: f64,
    /// The basis of the headline energy keys ([`ENERGY_BASIS`]).
    pub headline_basis: String,
    /// Mean power over the sample, on both bases and per domain.
    pub power_w: ByDomain,
    /// Energy per token on both bases and per domain.
    pub energy_by_domain_uj_per_token: ByDomain,
    /// The figures Lava's profiler reports.
    pub profiler: Profiler,
}

/// Pipeline figures. Token-based models (S5) fill the `_per_token` keys; step-based networks
/// (netx) fill the `_per_step` keys instead, and their sample is `samples.steps_per_sample`
/// steps (the reset interval) or, without one, the whole run.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Pipeline {
    /// Tokens run (token-based models, e.g. S5).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tokens: Option<usize>,
    /// Steps run (networks that are not token-based, e.g. lava-dl netx, NIR).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub steps: Option<u64>,
    /// Timesteps simulated (tokens plus the pipeline's fill and drain).
    pub timesteps: u64,
    /// Time of the whole sample.
    pub latency_ms_per_sample: f64,
    /// Mean time from a token's injection to its output.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub latency_us_per_token: Option<f64>,
    /// Mean timestep.
    pub timestep_us_mean: f64,
    /// Slowest timestep.
    pub timestep_us_max: f64,
    /// Total energy of the sample on the chip rails, static included (the poster's figure for
    /// this mode is on the board basis: `energy_by_domain_mj_per_sample.board.total`).
    pub energy_total_mj_per_sample: f64,
    /// Dynamic energy of the sample.
    pub energy_dynamic_mj_per_sample: f64,
    /// Total energy per token.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub energy_total_uj_per_token: Option<f64>,
    /// Dynamic energy per token.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub energy_dynamic_uj_per_token: Option<f64>,
    /// Total energy per step.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub energy_total_uj_per_step: Option<f64>,
    /// Dynamic energy per step.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub energy_dynamic_uj_per_step: Option<f64>,
    /// Mean total power over the run.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub power_total_w: Option<f64>,
    /// Mean dynamic power over the run.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub power_dynamic_w: Option<f64>,
    /// Samples per second.
    pub throughput_samples_per_s: f64,
    /// Tokens per second.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub throughput_tokens_per_s: Option<f64>,
    /// Whole-board total energy per sample by component.
    pub energy_total_board_breakdown_mj_per_sample: Breakdown,
    /// Synaptic operations per token.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub synops_per_token: Option<f64>,
    /// NoC messages per token.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub msgs_per_token: Option<f64>,
    /// Synaptic operations per step.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub synops_per_step: Option<f64>,
    /// Messages per step (host included).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub msgs_per_step: Option<f64>,
    /// How the steps divide into samples (netx with a reset interval).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub samples: Option<NetxSamples>,
    /// The basis of the headline energy and power keys ([`ENERGY_BASIS`]).
    pub headline_basis: String,
    /// Mean power over the run, on both bases and per domain.
    pub power_w: ByDomain,
    /// Energy per sample on both bases and per domain.
    pub energy_by_domain_mj_per_sample: ByDomain,
    /// The figures Lava's profiler reports.
    pub profiler: Profiler,
}

/// Energy by component, in the unit its key names (the type the trace's breakdown plot uses).
pub use loisim_trace::series::Breakdown;

/// Non-zero fraction of one channel.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ChannelDensity {
    /// Channel (chip runs) or matrix (reference runs).
    pub channel: String,
    /// Fraction of values that were non-zero, 0..=1.
    pub nonzero_fraction: f64,
}

/// Fixed-point events over the run.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Arithmetic {
    /// Saturations in neuron programs.
    pub saturations: u64,
    /// 32-bit wraps in neuron programs.
    pub int32_wraps: u64,
    /// Dendritic accumulator overflows.
    pub accumulator_overflows: u64,
}

/// A model's size.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ModelSize {
    /// Stored parameters (non-zero weights and every vector element).
    pub parameters_nonzero: u64,
    /// Multiply-accumulates per token of the dense model.
    pub macs_dense_per_token: u64,
    /// Multiply-accumulates per token counting non-zero weights.
    pub macs_nonzero_weights_per_token: u64,
}

impl ModelSize {
    /// The size of `model`.
    #[must_use]
    pub fn of(model: &Model) -> Self {
        let s = loisim_model::stats::ModelStats::of(model);
        Self {
            parameters_nonzero: s.n_params_nnz,
            macs_dense_per_token: s.macs_dense,
            macs_nonzero_weights_per_token: s.macs_effective,
        }
    }
}

/// Audio figures of a `.wav` input.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AudioSummary {
    /// Input duration.
    pub seconds: f64,
    /// Tokens (STFT frames).
    pub tokens: usize,
    /// SI-SNR of the output against the clean reference.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub si_snr_db: Option<f64>,
    /// SI-SNR of the noisy input against the clean reference.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub noisy_si_snr_db: Option<f64>,
    /// Improvement.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub si_snri_db: Option<f64>,
}

/// Files a run wrote.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Outputs {
    /// The output file (`.npy` integers or `.wav` audio).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub output: Option<String>,
    /// The trace directory.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trace_dir: Option<String>,
    /// The figures drawn.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub plots: Vec<String>,
}

impl Outputs {
    /// Whether nothing was written.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.output.is_none() && self.trace_dir.is_none() && self.plots.is_empty()
    }
}

/// Speed of the simulator itself.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct SimSpeed {
    /// Wall-clock time of the run.
    pub wall_s: f64,
    /// Threads that ran.
    pub threads: usize,
    /// Tokens per second of wall-clock time.
    pub tokens_per_s: f64,
    /// Synaptic events per second of wall-clock time (chip runs).
    pub synaptic_events_per_s: f64,
}

impl SimSpeed {
    /// The speed of a run of `tokens` tokens and `synops` synaptic events in `wall_s`.
    #[must_use]
    pub fn new(wall_s: f64, threads: usize, tokens: usize, synops: u64) -> Self {
        let w = wall_s.max(1e-12);
        Self {
            wall_s,
            threads,
            tokens_per_s: tokens as f64 / w,
            synaptic_events_per_s: synops as f64 / w,
        }
    }
}

/// A figure over a batch of samples.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Aggregate {
    /// Mean over the samples.
    pub mean: f64,
    /// Population standard deviation over the samples.
    pub std: f64,
    /// Smallest.
    pub min: f64,
    /// Largest.
    pub max: f64,
}

impl Aggregate {
    /// The aggregate of `values` (`None` when empty).
    #[must_use]
    pub fn of(values: &[f64]) -> Option<Self> {
        if values.is_empty() {
            return None;
        }
        let n = values.len() as f64;
        let mean = values.iter().sum::<f64>() / n;
        let var = values.iter().map(|v| (v - mean) * (v - mean)).sum::<f64>() / n;
        Some(Self {
            mean,
            std: var.sqrt(),
            min: values.iter().copied().fold(f64::INFINITY, f64::min),
            max: values.iter().copied().fold(f64::NEG_INFINITY, f64::max),
        })
    }
}

/// One sample's figures in a batch report ([`Report::per_sample`]): the keys the report of a
/// run of that sample alone has, less the batch-wide ones (model, chip, cores, `sim`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SampleFigures {
    /// The input file's name (`.npy` or `.wav`; for a netx batch, the `--bias` or `--input`
    /// file).
    pub input: String,
    /// Tokens run (token-based models).
    pub tokens: usize,
    /// Fall-through figures.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fall_through: Option<FallThrough>,
    /// Pipeline figures.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pipeline: Option<Pipeline>,
    /// Audio figures of a `.wav` input (SI-SNR with a clean reference).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub audio: Option<AudioSummary>,
    /// Saturations, wraps and overflows (chip runs).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub arithmetic: Option<Arithmetic>,
    /// Active MACs per token (reference runs).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub macs_active_per_token: Option<f64>,
    /// The sample's output file.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub output: Option<String>,
}

impl SampleFigures {
    /// The figures of `report`, a run of the sample named `input`.
    #[must_use]
    pub fn of(input: &str, report: &Report) -> Self {
        Self {
            input: input.to_string(),
            tokens: report.tokens,
            fall_through: report.fall_through.clone(),
            pipeline: report.pipeline.clone(),
            audio: report.audio.clone(),
            arithmetic: report.arithmetic,
            macs_active_per_token: report.macs_active_per_token,
            output: report.outputs.output.clone(),
        }
    }

    /// The figures that are aggregated: every key but `input` and `output`.
    fn figures(&self) -> serde_json::Value {
        let mut v = serde_json::to_value(self).unwrap_or_default();
        if let Some(m) = v.as_object_mut() {
            m.remove("input");
            m.remove("output");
        }
        v
    }
}

/// One key of [`Aggregates`]: a figure over the samples, a text every sample shares (such as
/// `headline_basis`), or a group of keys.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum AggregateNode {
    /// A numeric figure over the samples.
    Figure(Aggregate),
    /// A text that every sample has the same.
    Text(String),
    /// Nested keys.
    Group(std::collections::BTreeMap<String, AggregateNode>),
}

/// The figures of a batch, each an [`Aggregate`], under the keys of [`SampleFigures`]
/// (alphabetical order): `fall_through.latency_us_per_token`, `pipeline.power_w.chip.total`,
/// `audio.si_snr_db`, `tokens`. A key is present when every sample has it.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Aggregates(pub std::collections::BTreeMap<String, AggregateNode>);

impl Aggregates {
    /// Every numeric figure of `samples`, in the samples' order (the same order gives the
    /// same bits).
    #[must_use]
    pub fn of(samples: &[SampleFigures]) -> Self {
        let values: Vec<serde_json::Value> = samples.iter().map(SampleFigures::figures).collect();
        let refs: Vec<&serde_json::Value> = values.iter().collect();
        match aggregate_values(&refs) {
            Some(AggregateNode::Group(m)) => Self(m),
            _ => Self::default(),
        }
    }

    /// The figure at a dotted path, e.g. `fall_through.latency_us_per_token`.
    #[must_use]
    pub fn get(&self, path: &str) -> Option<&Aggregate> {
        let mut keys = path.split('.');
        let mut node = self.0.get(keys.next()?)?;
        for k in keys {
            match node {
                AggregateNode::Group(m) => node = m.get(k)?,
                _ => return None,
            }
        }
        match node {
            AggregateNode::Figure(a) => Some(a),
            _ => None,
        }
    }
}

/// The aggregate of one key over the samples: numbers become an [`Aggregate`], equal strings
/// stay, objects recurse over the keys every sample has; anything else is left out.
fn aggregate_values(values: &[&serde_json::Value]) -> Option<AggregateNode> {
    use serde_json::Value;
    let first = values.first()?;
    match first {
        Value::Number(_) => {
            let nums: Option<Vec<f64>> = values.iter().map(|v| v.as_f64()).collect();
            Aggregate::of(&nums?).map(AggregateNode::Figure)
        }
        Value::String(s) => values
            .iter()
            .all(|v| v.as_str() == Some(s))
            .then(|| AggregateNode::Text(s.clone())),
        Value::Object(m) => {
            let mut out = std::collections::BTreeMap::new();
            for k in m.keys() {
                let vs: Option<Vec<&Value>> = values.iter().map(|v| v.get(k)).collect();
                if let Some(node) = vs.and_then(|vs| aggregate_values(&vs)) {
                    out.insert(k.clone(), node);
                }
            }
            values
                .iter()
                .all(|v| v.is_object())
                .then_some(AggregateNode::Group(out))
        }
        _ => None,
    }
}

/// The calibration targets: figures measured on Loihi 2 that the cost model was fitted to.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CalibrationTargets {
    /// Where the figures come from.
    pub source: String,
    /// How to read the residuals.
    pub note: String,
    /// Fitted parameters left on a bound of their plausible range: the figure each governs
    /// keeps its residual rather than the parameter leaving its range.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub parameters_on_bound: Vec<String>,
    /// One row per figure.
    pub rows: Vec<TargetRow>,
}

/// One calibration target.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TargetRow {
    /// The figure and its unit.
    pub figure: String,
    /// loisim's figure.
    pub loisim: f64,
    /// The measured figure.
    pub target: f64,
    /// (loisim - target) / target, percent.
    pub residual_pct: f64,
    /// Whether a parameter was fitted to this figure (otherwise it follows from one that was).
    pub fitted: bool,
}

/// The poster's Loihi 2 measurements (ICML 2025, sparse W8A16 S5, 8 samples of 3751 tokens):
/// the only figures the cost model is calibrated on (`cargo xtask calibrate`).
#[derive(Debug)]
pub struct Poster;

impl Poster {
    /// Fall-through latency, µs per token.
    pub const FT_LATENCY_US_PER_TOKEN: f64 = 76.0;
    /// Fall-through energy, µJ per token (read as total energy on the chip rails;
    /// docs/cost-model.md §8.3).
    pub const FT_ENERGY_TOTAL_CHIP_UJ_PER_TOKEN: f64 = 13.0;
    /// Fall-through throughput, tokens per second.
    pub const FT_THROUGHPUT_TOKENS_PER_S: f64 = 13178.0;
    /// Pipeline latency, ms per sample.
    pub const PL_LATENCY_MS_PER_SAMPLE: f64 = 60.58;
    /// Pipeline energy, mJ per sample (read as total energy of the whole board;
    /// docs/cost-model.md §8.3).
    pub const PL_ENERGY_TOTAL_BOARD_MJ_PER_SAMPLE: f64 = 185.80;
    /// Pipeline throughput, samples per second.
    pub const PL_THROUGHPUT_SAMPLES_PER_S: f64 = 16.58;
    /// Where the figures come from.
    pub const SOURCE: &'static str = "Intel Loihi 2, sparse W8A16 S5 (ICML 2025 poster)";
}

impl FallThrough {
    /// The figures of a fall-through run.
    #[must_use]
    pub fn of(m: &ModeResult) -> Self {
        let n = m.n_tokens.max(1) as f64;
        Self {
            tokens: m.n_tokens,
            timesteps: m.n_timesteps,
            latency_us_per_token: m.token_latency_ns_mean / 1e3,
            latency_us_per_token_max: m.token_latency_ns_max / 1e3,
            energy_dynamic_uj_per_token: m.energy.dynamic_pj() / n / 1e6,
            energy_total_uj_per_token: m.energy.total_pj() / n / 1e6,
            throughput_tokens_per_s: m.throughput_tokens_per_s(),
            latency_ms_per_sample: m.total_ns / 1e6,
            energy_dynamic_mj_per_sample: m.energy.dynamic_pj() / 1e9,
            energy_total_mj_per_sample: m.energy.total_pj() / 1e9,
            energy_total_board_breakdown_uj_per_token: Breakdown::of(&m.energy, 1.0 / n / 1e6),
            synops_per_token: m.synops as f64 / n,
            msgs_per_token: m.msgs as f64 / n,
            headline_basis: ENERGY_BASIS.to_string(),
            power_w: power_of(&m.energy, m.total_ns, m.n_timesteps).0,
            energy_by_domain_uj_per_token: ByDomain::of(&m.energy, 1.0 / n / 1e6),
            profiler: power_of(&m.energy, m.total_ns, m.n_timesteps).1,
        }
    }
}

impl Pipeline {
    /// The figures of a pipeline run of a token-based model.
    #[must_use]
    pub fn of(m: &ModeResult) -> Self {
        let n = m.n_tokens.max(1) as f64;
        Self {
            tokens: Some(m.n_tokens),
            steps: None,
            timesteps: m.n_timesteps,
            latency_ms_per_sample: m.total_ns / 1e6,
            latency_us_per_token: Some(m.token_latency_ns_mean / 1e3),
            timestep_us_mean: m.total_ns / m.n_timesteps.max(1) as f64 / 1e3,
            timestep_us_max: m.step_ns_max / 1e3,
            energy_total_mj_per_sample: m.energy.total_pj() / 1e9,
            energy_dynamic_mj_per_sample: m.energy.dynamic_pj() / 1e9,
            energy_total_uj_per_token: Some(m.energy.total_pj() / n / 1e6),
            energy_dynamic_uj_per_token: Some(m.energy.dynamic_pj() / n / 1e6),
            energy_total_uj_per_step: None,
            energy_dynamic_uj_per_step: None,
            power_total_w: None,
            power_dynamic_w: None,
            throughput_samples_per_s: if m.total_ns > 0.0 {
                1e9 / m.total_ns
            } else {
                0.0
            },
            throughput_tokens_per_s: Some(m.throughput_tokens_per_s()),
            energy_total_board_breakdown_mj_per_sample: Breakdown::of(&m.energy, 1e-9),
            synops_per_token: Some(m.synops as f64 / n),
            msgs_per_token: Some(m.msgs as f64 / n),
            synops_per_step: None,
            msgs_per_step: None,
            samples: None,
            headline_basis: ENERGY_BASIS.to_string(),
            power_w: power_of(&m.energy, m.total_ns, m.n_timesteps).0,
            energy_by_domain_mj_per_sample: ByDomain::of(&m.energy, 1e-9),
            profiler: power_of(&m.energy, m.total_ns, m.n_timesteps).1,
        }
    }
}

impl CalibrationTargets {
    /// The poster's figures beside a report's.
    #[must_use]
    pub fn poster(ft: Option<&FallThrough>, pl: Option<&Pipeline>) -> Self {
        let mut rows = Vec::new();
        let mut row = |figure: &str, loisim: f64, target: f64, fitted: bool| {
            rows.push(TargetRow {
                figure: figure.to_string(),
                loisim,
                target,
                residual_pct: 100.0 * (loisim - target) / target,
                fitted,
            });
        };
        if let Some(f) = ft {
            row(
                "fall-through latency (us/token)",
                f.latency_us_per_token,
                Poster::FT_LATENCY_US_PER_TOKEN,
                true,
            );
            row(
                "fall-through energy (uJ/token, total, chip rails)",
                f.energy_total_uj_per_token,
                Poster::FT_ENERGY_TOTAL_CHIP_UJ_PER_TOKEN,
                true,
            );
            row(
                "fall-through throughput (tokens/s)",
                f.throughput_tokens_per_s,
                Poster::FT_THROUGHPUT_TOKENS_PER_S,
                false,
            );
        }
        if let Some(p) = pl {
            row(
                "pipeline latency (ms/sample)",
                p.latency_ms_per_sample,
                Poster::PL_LATENCY_MS_PER_SAMPLE,
                true,
            );
            row(
                "pipeline energy (mJ/sample, total, whole board)",
                p.energy_by_domain_mj_per_sample.board.total,
                Poster::PL_ENERGY_TOTAL_BOARD_MJ_PER_SAMPLE,
                true,
            );
            row(
                "pipeline throughput (samples/s)",
                p.throughput_samples_per_s,
                Poster::PL_THROUGHPUT_SAMPLES_PER_S,
                false,
            );
        }
        Self {
            source: Poster::SOURCE.to_string(),
            note: "four cost parameters were fitted to the four latency and energy figures \
                   inside their plausible ranges (cargo xtask calibrate): these residuals \
                   measure the fit, not a validation; a fitted figure with a residual is one \
                   whose parameter sits on a bound of its range (parameters_on_bound); the \
                   throughputs follow from the latencies"
                .to_string(),
            parameters_on_bound: crate::calibration::fitted_on_bound(
                &loisim_arch::Chip::default_chip(),
            ),
            rows,
        }
    }
}

impl Report {
    /// The report of a chip simulation of `prog` (figures only: no wall-clock speed, outputs,
    /// audio or calibration targets).
    #[must_use]
    pub fn of_chip(model: &Model, kind: ModelKind, prog: &Program, res: &SimResult) -> Self {
        let density = prog
            .network
            .populations
            .iter()
            .zip(&res.activity)
            .flat_map(|(p, chs)| {
                p.channels.iter().zip(chs).map(|(c, d)| ChannelDensity {
                    channel: c.name.clone(),
                    nonzero_fraction: *d,
                })
            })
            .collect();
        let arithmetic = res
            .events
            .iter()
            .fold(Arithmetic::default(), |a, e| Arithmetic {
                saturations: a.saturations + e.program.saturations,
                int32_wraps: a.int32_wraps + e.program.wraps,
                accumulator_overflows: a.accumulator_overflows + e.accumulator_overflows,
            });
        Self {
            schema_version: SCHEMA_VERSION,
            executor: Executor::Chip,
            model: model.name.clone(),
            model_kind: kind,
            chip: Some(prog.chip.name.clone()),
            board: Some(prog.chip.board.name.clone()),
            cores_used: Some(prog.cores.len()),
            pipeline_depth_timesteps: Some(prog.depth),
            samples: 1,
            tokens: res
                .fall_through
                .as_ref()
                .or(res.pipeline.as_ref())
                .map_or(res.outputs.len(), |m| m.n_tokens),
            inputs_per_token: model.dims.d_input as usize,
            outputs_per_token: model.dims.d_output as usize,
            fall_through: res.fall_through.as_ref().map(FallThrough::of),
            pipeline: res.pipeline.as_ref().map(Pipeline::of),
            per_sample: Vec::new(),
            aggregate: None,
            activation_density: density,
            arithmetic: Some(arithmetic),
            model_size: ModelSize::of(model),
            macs_active_per_token: None,
            calibration_targets: None,
            audio: None,
            outputs: Outputs::default(),
            sim: SimSpeed::default(),
            layers: Vec::new(),
            probe_dir: None,
            sensitivity: None,
            ranges: None,
        }
    }

    /// The report of a batch: `runs` are the samples' own reports in the batch's order, each
    /// with its input's name; `wall_s` and `threads` are the whole batch's. The top level keeps
    /// what the samples share (model, chip, cores), sums the counts (`samples`, `tokens`,
    /// `arithmetic`) and weighs the activation densities by each sample's tokens (steps for
    /// netx); the mode figures go to `per_sample` and `aggregate`. `None` for no run.
    #[must_use]
    pub fn of_batch(runs: &[(String, Report)], wall_s: f64, threads: usize) -> Option<Self> {
        let (_, first) = runs.first()?;
        // Tokens, or steps for step-based networks, and synaptic events of one run.
        let work = |r: &Report| -> (usize, u64) {
            match (&r.pipeline, r.tokens) {
                (Some(p), 0) => {
                    let steps = p.steps.unwrap_or(0);
                    (
                        steps as usize,
                        (p.synops_per_step.unwrap_or(0.0) * steps as f64).round() as u64,
                    )
                }
                _ => (r.tokens, r.synops()),
            }
        };
        let weights: Vec<f64> = runs.iter().map(|(_, r)| work(r).0 as f64).collect();
        let total_weight: f64 = weights.iter().sum();
        let weighted = |f: &dyn Fn(&Report) -> Option<f64>| -> Option<f64> {
            let mut acc = 0.0;
            for ((_, r), w) in runs.iter().zip(&weights) {
                acc += f(r)? * w;
            }
            Some(if total_weight > 0.0 {
                acc / total_weight
            } else {
                0.0
            })
        };
        let activation_density = first
            .activation_density
            .iter()
            .enumerate()
            .map(|(i, d)| ChannelDensity {
                channel: d.channel.clone(),
                nonzero_fraction: weighted(&|r: &Report| {
                    r.activation_density.get(i).map(|d| d.nonzero_fraction)
                })
                .unwrap_or(d.nonzero_fraction),
            })
            .collect();
        let arithmetic = runs.iter().try_fold(Arithmetic::default(), |a, (_, r)| {
            r.arithmetic.map(|e| Arithmetic {
                saturations: a.saturations + e.saturations,
                int32_wraps: a.int32_wraps + e.int32_wraps,
                accumulator_overflows: a.accumulator_overflows + e.accumulator_overflows,
            })
        });
        let per_sample: Vec<SampleFigures> = runs
            .iter()
            .map(|(name, r)| SampleFigures::of(name, r))
            .collect();
        let (units, synops) = runs.iter().fold((0usize, 0u64), |(u, s), (_, r)| {
            let (ru, rs) = work(r);
            (u + ru, s + rs)
        });
        Some(Self {
            samples: runs.iter().map(|(_, r)| r.samples).sum(),
            tokens: runs.iter().map(|(_, r)| r.tokens).sum(),
            fall_through: None,
            pipeline: None,
            aggregate: Some(Aggregates::of(&per_sample)),
            per_sample,
            activation_density,
            arithmetic,
            macs_active_per_token: weighted(&|r: &Report| r.macs_active_per_token),
            calibration_targets: None,
            audio: None,
            outputs: Outputs::default(),
            sim: SimSpeed::new(wall_s, threads, units, synops),
            layers: Vec::new(),
            probe_dir: None,
            sensitivity: None,
            ranges: None,
            ..first.clone()
        })
    }

    /// Synaptic events of the run (either mode; both do the same work).
    #[must_use]
    pub fn synops(&self) -> u64 {
        let per_token = self
            .fall_through
            .as_ref()
            .map(|f| f.synops_per_token)
            .or(self.pipeline.as_ref().and_then(|p| p.synops_per_token))
            .unwrap_or(0.0);
        (per_token * self.tokens as f64).round() as u64
    }

    /// The point this run adds to the models-compared figure (`loisim plot --models`): needs
    /// both modes.
    #[must_use]
    pub fn model_point(&self) -> Option<loisim_trace::series::ModelPoint> {
        let (ft, pl) = (self.fall_through.as_ref()?, self.pipeline.as_ref()?);
        Some(loisim_trace::series::ModelPoint {
            model: self.model.clone(),
            sparse: self.model.contains("sparse"),
            params: self.model_size.parameters_nonzero,
            macs_effective: self.model_size.macs_nonzero_weights_per_token,
            cores: u32::try_from(self.cores_used?).ok()?,
            ft_latency_us: ft.latency_us_per_token,
            ft_energy_uj: ft.energy_total_uj_per_token,
            pl_latency_ms: pl.latency_ms_per_sample,
            pl_energy_mj: pl.energy_by_domain_mj_per_sample.board.total,
        })
    }

    /// The report as pretty-printed JSON (what `loisim run --json` prints).
    #[must_use]
    pub fn to_json(&self) -> String {
        // A report holds only strings, numbers and nested structs: it always serializes.
        serde_json::to_string_pretty(self).unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn aggregate_of_a_batch() {
        let a = Aggregate::of(&[1.0, 2.0, 3.0, 6.0]).expect("some");
        assert_eq!((a.mean, a.min, a.max), (3.0, 1.0, 6.0));
        assert!((a.std - 3.5f64.sqrt()).abs() < 1e-12);
        assert!(Aggregate::of(&[]).is_none());
    }

    #[test]
    fn residuals_are_relative_to_the_target() {
        let t = CalibrationTargets::poster(None, None);
        assert!(t.rows.is_empty());
        let ft = FallThrough {
            tokens: 1,
            timesteps: 12,
            latency_us_per_token: 83.6,
            latency_us_per_token_max: 90.0,
            energy_dynamic_uj_per_token: 12.0,
            energy_total_uj_per_token: 13.0,
            throughput_tokens_per_s: 1e6 / 83.6,
            latency_ms_per_sample: 0.0836,
            energy_dynamic_mj_per_sample: 0.013,
            energy_total_mj_per_sample: 0.014,
            energy_total_board_breakdown_uj_per_token: Breakdown {
                static_chip: 1.0,
                ..Breakdown::default()
            },
            synops_per_token: 0.0,
            msgs_per_token: 0.0,
            headline_basis: ENERGY_BASIS.into(),
            power_w: ByDomain::default(),
            energy_by_domain_uj_per_token: ByDomain::default(),
            profiler: Profiler::default(),
        };
        let t = CalibrationTargets::poster(Some(&ft), None);
        assert_eq!(t.rows.len(), 3);
        assert!((t.rows[0].residual_pct - 10.0).abs() < 1e-9);
        assert_eq!(t.rows[1].residual_pct, 0.0);
        assert!(t.rows[0].fitted && t.rows[1].fitted && !t.rows[2].fitted);
    }
}
