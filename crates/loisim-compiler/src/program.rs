//! The compiled program: what every core holds and where every spike goes.

use crate::layout::{CoreId, Endpoint, Link, LinkId, Location};
use crate::network::{Network, PopId, Source};
use loisim_arch::Chip;
use serde::{Deserialize, Serialize};

/// Index of a piece (a contiguous range of one population's neurons placed on one core).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct PieceId(pub u32);

/// A contiguous range of a population's neurons, placed on one core.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Piece {
    /// Population.
    pub pop: PopId,
    /// First neuron.
    pub start: u32,
    /// One past the last neuron.
    pub end: u32,
    /// The core it is placed on.
    pub core: CoreId,
}

impl Piece {
    /// Neurons.
    pub fn len(&self) -> u32 {
        self.end - self.start
    }

    /// Whether the piece has no neurons.
    pub fn is_empty(&self) -> bool {
        self.end == self.start
    }
}

/// One synapse: target neuron (index on the core) and port, weight.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Synapse {
    /// Neuron index on the core.
    pub target: u32,
    /// Dendritic port.
    pub port: u32,
    /// Weight.
    pub weight: i32,
}

/// An input axon of a core: one source neuron output, and its synapses on this core.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct InputAxon {
    /// Source.
    pub src: Source,
    /// Source neuron (input index for the host).
    pub neuron: u32,
    /// Synaptic-memory words read per message.
    pub words: u32,
    /// Synaptic operations per message (dense segments count zero weights).
    pub synops: u32,
    /// The non-zero synapses.
    pub synapses: Vec<Synapse>,
}

/// Memory use of a core, bytes.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CoreMemory {
    /// Synaptic memory.
    pub synaptic_bytes: u64,
    /// Neuron state (accumulators with delay slots, persistent state, per-neuron constants,
    /// program constants).
    pub state_bytes: u64,
    /// Axon map and routing tables.
    pub axon_bytes: u64,
}

impl CoreMemory {
    /// Everything.
    pub fn total(&self) -> u64 {
        self.synaptic_bytes + self.state_bytes + self.axon_bytes
    }
}

/// One used core.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CoreProgram {
    /// Physical core.
    pub id: CoreId,
    /// Where it is.
    pub location: Location,
    /// The pieces it runs (neuron indices on the core follow this order).
    pub pieces: Vec<PieceId>,
    /// Neurons on the core.
    pub n_neurons: u32,
    /// Input axons, sorted by source.
    pub axons: Vec<InputAxon>,
    /// Memory use.
    pub memory: CoreMemory,
    /// Stored synapses (dense segments count every stored weight).
    pub n_synapses: u64,
    /// Output axons (neuron-output to destination-core edges).
    pub output_axons: u32,
}

/// A destination of one source neuron output.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Dest {
    /// Index into [`Program::cores`], or `None` for the host.
    pub core: Option<u32>,
    /// Axon index on that core (0 for the host).
    pub axon: u32,
    /// Flow the message travels on.
    pub flow: u32,
    /// Bits on the wire (header + payload).
    pub bits: u32,
}

/// All messages from one endpoint to another take the same XY route.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Flow {
    /// Sender.
    pub src: Endpoint,
    /// Receiver.
    pub dst: Endpoint,
    /// Links crossed, in order.
    pub links: Vec<LinkId>,
}

/// Who sends what where: for every source output (host input `i`, or population channel and
/// neuron), its destinations.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Routing {
    /// First source id of each population channel (`[pop][channel]`); host inputs are ids
    /// `0..input_width`.
    pub base: Vec<Vec<u32>>,
    /// `dests[offsets[s]..offsets[s + 1]]` are the destinations of source id `s`.
    pub offsets: Vec<u32>,
    /// Destinations.
    pub dests: Vec<Dest>,
}

impl Routing {
    /// Source id of a population channel's neuron.
    pub fn source_id(&self, pop: PopId, channel: u32, neuron: u32) -> u32 {
        self.base[pop.index()][channel as usize] + neuron
    }

    /// Destinations of a source id.
    pub fn dests(&self, source: u32) -> &[Dest] {
        let s = source as usize;
        &self.dests[self.offsets[s] as usize..self.offsets[s + 1] as usize]
    }
}

/// Knobs of the compiler.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CompileOptions {
    /// Most neurons of one population placed on one core: fewer means more cores working in
    /// parallel (lower latency), more means fewer cores (less area and static power).
    pub max_neurons_per_core: u32,
    /// Improvement sweeps of the placer.
    pub place_sweeps: u32,
}

impl Default for CompileOptions {
    fn default() -> Self {
        Self {
            max_neurons_per_core: 64,
            place_sweeps: 50,
        }
    }
}

/// A model mapped onto a chip.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Program {
    /// Model name.
    pub model_name: String,
    /// The chip.
    pub chip: Chip,
    /// Compiler knobs used.
    pub options: CompileOptions,
    /// The lowered network.
    pub network: Network,
    /// Population pieces.
    pub pieces: Vec<Piece>,
    /// Used cores, ordered by [`CoreId`].
    pub cores: Vec<CoreProgram>,
    /// Spike routing.
    pub routing: Routing,
    /// Flows (endpoint pairs with traffic), sorted.
    pub flows: Vec<Flow>,
    /// Every directed link of the board.
    pub links: Vec<Link>,
    /// Timesteps a token spends in the pipeline.
    pub depth: u32,
}

impl Program {
    /// The pieces of a population, in neuron order.
    pub fn pieces_of(&self, pop: PopId) -> impl Iterator<Item = (PieceId, &Piece)> {
        self.pieces
            .iter()
            .enumerate()
            .filter(move |(_, p)| p.pop == pop)
            .map(|(i, p)| (PieceId(i as u32), p))
    }

    /// Index in [`Program::cores`] of a physical core.
    pub fn core_index(&self, id: CoreId) -> Option<usize> {
        self.cores.binary_search_by_key(&id, |c| c.id).ok()
    }

    /// Tiles (routers) with at least one used core, and chips with at least one used core.
    pub fn tiles_and_chips(&self) -> (u32, u32) {
        let mut tiles: Vec<(u32, u32)> = self
            .cores
            .iter()
            .map(|c| (c.location.gx, c.location.gy))
            .collect();
        tiles.sort_unstable();
        tiles.dedup();
        let mut chips: Vec<u32> = self.cores.iter().map(|c| c.location.chip).collect();
        chips.sort_unstable();
        chips.dedup();
        (tiles.len() as u32, chips.len().max(1) as u32)
    }
}
