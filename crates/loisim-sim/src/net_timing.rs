//! Pricing the timesteps of a general IR network (`net_engine`) with the timing and energy
//! model of [`crate::timing`]: the same chip parameters and formulas as for S5 programs.
//!
//! Every core holds neurons that update every timestep (netx networks are pipelined by
//! construction), so every core is one stage: its neuron unit updates all its neurons (the
//! instructions derived from each neuron program's description), its axon unit sends one
//! message per non-zero output and destination core, its synapse unit processes what arrives.
//! Host inputs are injected by the host (I/O per message); network outputs that are not zero
//! are sent to the host.

use crate::engine::{FlowWork, TokenWork};
use crate::net_engine::NetProgram;
use crate::timing::{CoreCounters, CoreSpec, FlowSpec, Scratch, Step, TimingModel, TimingParts};
use loisim_arch::{Chip, ChipError};
use loisim_compiler::layout::{Board, CoreId, Endpoint, Link};

/// The timing model of one mapped IR network, with its scratch space.
#[derive(Debug)]
pub struct NetPricer {
    model: TimingModel,
    scratch: Scratch,
    work: TokenWork,
    tiles: u32,
    chips: u32,
}

impl NetPricer {
    /// The pricer of `prog` (built with `NetProgram::for_chip`) whose mapping core `k` sits on
    /// board core `cores[k]` of `chip` (`loisim_compiler::net_map::place`).
    ///
    /// # Errors
    /// The chip's board is invalid or too large.
    ///
    /// # Panics
    /// `cores` does not hold one board core per core of `prog`.
    pub fn new(prog: &NetProgram, cores: &[CoreId], chip: &Chip) -> Result<Self, ChipError> {
        let parts = NetParts::new(prog, cores, chip)?;
        let n_flows = parts.flows.len();
        let model = TimingModel::from_parts(chip, &parts.timing_parts());
        Ok(Self {
            model,
            scratch: Scratch::default(),
            work: TokenWork {
                flows: vec![FlowWork::default(); n_flows],
            },
            tiles: parts.tiles,
            chips: parts.chips,
        })
    }

    /// Prices one timestep whose work per flow is `work` (`NetEngine::work`).
    ///
    /// # Panics
    /// `work` has the wrong number of flows.
    pub fn price(&mut self, work: &[FlowWork]) -> Step {
        self.work.flows.copy_from_slice(work);
        self.model.step(&[(0, &self.work)], &mut self.scratch)
    }

    /// Per-core counters of the last priced timestep (cores that did nothing hold stale
    /// values unless `detailed`).
    #[must_use]
    pub fn counters(&self) -> &[CoreCounters] {
        self.scratch.counters()
    }

    /// The timing model.
    #[must_use]
    pub fn model(&self) -> &TimingModel {
        &self.model
    }

    /// Tiles and chips the network uses.
    #[must_use]
    pub fn tiles_and_chips(&self) -> (u32, u32) {
        (self.tiles, self.chips)
    }
}

/// What the timing model reads of a mapped IR network: its cores (one stage), flows and board
/// links. With [`TimingModel::from_parts`] and the chip it was mapped onto, the model of
/// [`NetPricer::new`]; with another chip of the same structure, the network priced at that
/// chip's costs.
#[derive(Clone, Debug)]
pub struct NetParts {
    /// Cores that hold neurons.
    pub cores: Vec<CoreSpec>,
    /// Flows (indexed like `NetProgram::flows`).
    pub flows: Vec<FlowSpec>,
    /// Every link of the board.
    pub links: Vec<Link>,
    /// Tiles used.
    pub tiles: u32,
    /// Chips used.
    pub chips: u32,
}

impl NetParts {
    /// The parts of `prog` whose mapping core `k` sits on board core `cores[k]` of `chip`.
    ///
    /// # Errors
    /// The chip's board is invalid or too large.
    ///
    /// # Panics
    /// `cores` does not hold one board core per core of `prog`.
    pub fn new(prog: &NetProgram, cores: &[CoreId], chip: &Chip) -> Result<Self, ChipError> {
        assert_eq!(
            cores.len(),
            prog.n_cores(),
            "one board core per mapping core"
        );
        let board = Board::new(chip)?;
        let specs = prog
            .core_loads()
            .into_iter()
            .map(|(neurons, instructions, first_instructions)| CoreSpec {
                stage: 0,
                neurons,
                instructions,
                first_instructions,
            })
            .collect();
        let at = |c: Option<u32>| match c {
            None => Endpoint::Host,
            Some(k) => Endpoint::Core(cores[k as usize]),
        };
        let flows: Vec<FlowSpec> = prog
            .flows()
            .iter()
            .map(|f| FlowSpec {
                src: f.src.map(|k| k as usize),
                dst: f.dst.map(|k| k as usize),
                stage: 0,
                links: board.route(at(f.src), at(f.dst)),
            })
            .collect();
        let mut tiles: Vec<(u32, u32)> = Vec::new();
        let mut chips: Vec<u32> = Vec::new();
        for &c in cores {
            let l = board.location(c);
            tiles.push((l.gx, l.gy));
            chips.push(l.chip);
        }
        tiles.sort_unstable();
        tiles.dedup();
        chips.sort_unstable();
        chips.dedup();
        Ok(Self {
            cores: specs,
            flows,
            links: board.links().to_vec(),
            tiles: tiles.len() as u32,
            chips: chips.len().max(1) as u32,
        })
    }

    /// The parts as the timing model takes them.
    #[must_use]
    pub fn timing_parts(&self) -> TimingParts<'_> {
        TimingParts {
            depth: 0,
            cores: self.cores.clone(),
            flows: self.flows.clone(),
            links: &self.links,
            tiles: self.tiles,
            chips: self.chips,
        }
    }
}
