//! The data the plots draw: collected by [`crate::TraceWriter`] during a run (and saved as
//! `series.json` in a trace directory) or assembled from several runs for the model comparison.

use serde::{Deserialize, Serialize};

/// Energy by component, in one unit (µJ per token for the breakdown plot): everything the
/// whole board spends, so the components add up to the board-basis total.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Breakdown {
    /// Messages in (axon-map lookups).
    pub axon_in: f64,
    /// Synaptic-memory reads.
    pub synmem: f64,
    /// Synaptic operations (logic).
    pub synop: f64,
    /// Neuron updates, instructions, idle checks.
    pub neuron: f64,
    /// Messages out, hops and chip-to-chip links.
    pub noc: f64,
    /// Inputs and outputs: the on-chip sequencer and host messages.
    pub io: f64,
    /// Barrier synchronisation.
    pub barrier: f64,
    /// Static power of the chip rails over the time.
    pub static_chip: f64,
    /// Static power the board adds over the time.
    pub static_board: f64,
}

impl Breakdown {
    /// The components of `e` (pJ), each times `scale` (e.g. `1e-6 / tokens` for µJ per token).
    #[must_use]
    pub fn of(e: &loisim_sim::timing::EnergyBreakdown, scale: f64) -> Self {
        let e = e.scaled(scale);
        Self {
            axon_in: e.axon_in_pj,
            synmem: e.synmem_pj,
            synop: e.synop_pj,
            neuron: e.neuron_state_pj + e.neuron_instr_pj,
            noc: e.spike_out_pj + e.noc_pj + e.link_pj,
            io: e.sequencer_pj + e.host_pj,
            barrier: e.barrier_pj,
            static_chip: e.static_pj(),
            static_board: e.static_board_pj,
        }
    }

    /// The components in plot order (dynamic first, then the two static parts).
    #[must_use]
    pub fn values(&self) -> [f64; 9] {
        [
            self.axon_in,
            self.synmem,
            self.synop,
            self.neuron,
            self.noc,
            self.io,
            self.barrier,
            self.static_chip,
            self.static_board,
        ]
    }
}

/// One mode of one run.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct ModeSeries {
    /// `fall-through` or `pipeline`.
    pub mode: String,
    /// Fall-through: latency of each token, µs. Pipeline: duration of each timestep, µs
    /// (timestep `k` is the one in which token `k` enters).
    pub latency_us: Vec<f64>,
    /// Energy of each token (fall-through, all its timesteps) or each timestep (pipeline),
    /// µJ: dynamic part.
    pub energy_dynamic_uj: Vec<f64>,
    /// Same, static part.
    pub energy_static_uj: Vec<f64>,
    /// Energy per token by component, µJ (whole run divided by the tokens).
    pub breakdown_uj_per_token: Breakdown,
    /// Busy time of each core's busiest unit (neuron, synapse or axon, summed over the whole
    /// run), ns, never more than `total_ns` (indexed like [`RunSeries::cores`]).
    pub core_busy_ns: Vec<f64>,
    /// Length of the run, ns.
    pub total_ns: f64,
}

/// A used core and where it sits.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct CoreSite {
    /// Physical core id.
    pub core: u32,
    /// Chip.
    pub chip: u32,
    /// Global router column.
    pub gx: u32,
    /// Global router row.
    pub gy: u32,
    /// Slot on the router (0..cores_per_router).
    pub slot: u32,
    /// Population it runs (`encoder`, `L0.ssm`, ...).
    pub population: String,
}

/// Everything the per-run plots draw.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct RunSeries {
    /// Model name.
    pub model: String,
    /// Chip name.
    pub chip: String,
    /// Routers along x of the whole board.
    pub routers_x: u32,
    /// Routers along y of the whole board.
    pub routers_y: u32,
    /// Cores per router.
    pub cores_per_router: u32,
    /// Used cores.
    pub cores: Vec<CoreSite>,
    /// Per mode that ran.
    pub modes: Vec<ModeSeries>,
}

/// One model of the size comparison.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct ModelPoint {
    /// Model name (`s5-sparse-1x`).
    pub model: String,
    /// Whether the model is weight-sparse (drawn as its own series).
    pub sparse: bool,
    /// Stored parameters (non-zero weights and every vector).
    pub params: u64,
    /// MACs per token counting non-zero weights.
    pub macs_effective: u64,
    /// Cores used.
    pub cores: u32,
    /// Fall-through latency, µs per token.
    pub ft_latency_us: f64,
    /// Fall-through total energy on the chip rails, µJ per token (the poster's basis).
    pub ft_energy_uj: f64,
    /// Pipeline latency, ms per sample.
    pub pl_latency_ms: f64,
    /// Pipeline total energy of the whole board, mJ per sample (the poster's basis).
    pub pl_energy_mj: f64,
}
