//! Chip and board descriptions as data.
//!
//! A [`Chip`] holds everything the compiler and the simulator know about the hardware: the mesh,
//! per-core limits, how synapses are stored, the network on chip, the latency and energy of
//! every counted operation, barrier synchronisation, host I/O and static power. Every number is
//! a [`Sourced`] value carrying where it comes from (a paper, a derivation, an estimate, or the
//! calibration of `docs/cost-model.md`).
//!
//! Descriptions are TOML files. Built-in presets: `loihi2` (one Loihi 2 chip on an Oheo Gulch
//! board, the default), `kapoho-point` (8 Loihi 2 chips) and `loihi1` (one Loihi chip). A user
//! file may start with `extends = "loihi2"` and override only some values.

use serde::{Deserialize, Serialize};
use std::path::Path;

/// A number and where it comes from.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Sourced<T> {
    /// The value.
    pub value: T,
    /// Its source: a citation, a derivation, `estimate: ...` or `fitted: ...`.
    pub source: String,
    /// The physically plausible range `[lo, hi]` of the quantity (cost parameters), which a
    /// calibration must stay inside.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub range: Option<[T; 2]>,
    /// Where the range comes from.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub range_source: Option<String>,
}

impl<T: Copy> Sourced<T> {
    /// The value.
    pub fn get(&self) -> T {
        self.value
    }
}

/// Latency and energy of one occurrence of an operation.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OpCost {
    /// Time the unit is busy, ns.
    pub latency_ns: Sourced<f64>,
    /// Dynamic energy, pJ.
    pub energy_pj: Sourced<f64>,
}

/// The 2-D mesh of one chip.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Mesh {
    /// Routers along x.
    pub routers_x: Sourced<u32>,
    /// Routers along y.
    pub routers_y: Sourced<u32>,
    /// Neurocores attached to each router (a tile).
    pub cores_per_router: Sourced<u32>,
}

/// The board: chips in a 2-D grid joined by chip-to-chip links.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Board {
    /// Board name.
    pub name: String,
    /// Chips along x.
    pub chips_x: Sourced<u32>,
    /// Chips along y.
    pub chips_y: Sourced<u32>,
    /// Latency of crossing one chip-to-chip link, ns.
    pub link_latency_ns: Sourced<f64>,
    /// Energy of one message crossing a chip-to-chip link, pJ.
    pub link_energy_pj: Sourced<f64>,
    /// Chip-to-chip link bandwidth, bits per ns.
    pub link_bits_per_ns: Sourced<f64>,
}

/// Per-core resource limits.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CoreLimits {
    /// Most neurons (compartments) a core can hold.
    pub max_neurons: Sourced<u32>,
    /// Total core SRAM, bytes (synapses, neuron state, axon tables).
    pub memory_bytes: Sourced<u64>,
    /// Most of that memory usable for synapses, bytes.
    pub max_synaptic_bytes: Sourced<u64>,
    /// Most input axons (distinct incoming sources) per core.
    pub max_input_axons: Sourced<u32>,
    /// Most output axons (neuron-to-core edges) per core.
    pub max_output_axons: Sourced<u32>,
    /// Widest synaptic weight, bits.
    pub max_weight_bits: Sourced<u32>,
    /// Longest synaptic delay, timesteps.
    pub max_delay: Sourced<u32>,
    /// Width of a dendritic accumulator, bits (overflow is counted).
    pub accumulator_bits: Sourced<u32>,
    /// Most dendritic input ports per neuron.
    pub max_ports_per_neuron: Sourced<u32>,
    /// Width of one neuron-state word, bits.
    pub state_word_bits: Sourced<u32>,
    /// Bytes of core memory per input axon (axon map entry).
    pub input_axon_bytes: Sourced<u32>,
    /// Bytes of core memory per output axon (routing entry).
    pub output_axon_bytes: Sourced<u32>,
}

/// How synapses are laid out in synaptic memory.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SynapseEncoding {
    /// Synaptic-memory word, bits.
    pub word_bits: Sourced<u32>,
    /// Header of each run of synapses (format id + count), bits.
    pub run_header_bits: Sourced<u32>,
    /// Most synapses in one run.
    pub max_run: Sourced<u32>,
}

/// The network on chip.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Noc {
    /// One hop along x (east-west).
    pub hop_x: OpCost,
    /// One hop along y (north-south).
    pub hop_y: OpCost,
    /// Delivery between cores of the same router.
    pub local: OpCost,
    /// Link bandwidth, bits per ns (both physical fabrics together).
    pub link_bits_per_ns: Sourced<f64>,
    /// Message header (destination address), bits.
    pub header_bits: Sourced<u32>,
    /// Graded-spike payload widths the hardware supports, bits (0 = binary spike).
    pub payload_bits: Sourced<Vec<u32>>,
}

/// Per-operation costs of a neurocore.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Ops {
    /// Receiving one message (axon lookup).
    pub message_in: OpCost,
    /// Reading one synaptic-memory word.
    pub synmem_word_read: OpCost,
    /// One synaptic operation (weight x payload, accumulate).
    pub synop: OpCost,
    /// Fixed cost of updating one active neuron (state access).
    pub neuron_update: OpCost,
    /// One neuron-program instruction.
    pub neuron_instruction: OpCost,
    /// Checking one neuron that has nothing to do this timestep.
    pub neuron_idle: OpCost,
    /// Generating one outgoing message (axon out).
    pub spike_out: OpCost,
}

/// Barrier synchronisation at the end of each timestep.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Barrier {
    /// Fixed part, ns.
    pub base_ns: Sourced<f64>,
    /// Per tile (router) taking part, ns.
    pub per_tile_ns: Sourced<f64>,
    /// Per additional chip, ns.
    pub per_chip_ns: Sourced<f64>,
    /// Energy per tile per barrier, pJ.
    pub energy_pj_per_tile: Sourced<f64>,
}

/// Host / embedded-processor I/O: how inputs enter and outputs leave the mesh.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Io {
    /// Router (x) the I/O processor is attached to, on chip 0.
    pub router_x: Sourced<u32>,
    /// Router (y).
    pub router_y: Sourced<u32>,
    /// Who sends the inputs: the chip's on-chip sequencer or the host.
    pub inputs: Sourced<InputSource>,
    /// The on-chip sequencer sending one input message (inputs held on chip, sequenced by the
    /// chip's embedded processors; priced on VDD-IO).
    pub sequencer_message: OpCost,
    /// The host injecting one input message (when `inputs` is `host`).
    pub input_message: OpCost,
    /// The host extracting one output message.
    pub output_message: OpCost,
}

/// Who sends a network's inputs into the mesh.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum InputSource {
    /// The chip's own sequencer streams inputs held on chip ("on-chip IO sequencing").
    #[default]
    Sequencer,
    /// The host (embedded processor / board) injects every input message.
    Host,
}

impl std::fmt::Display for InputSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::Sequencer => "sequencer",
            Self::Host => "host",
        })
    }
}

/// How a multi-chip board's static power is attributed to a run.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum StaticRule {
    /// Every chip's static power and the whole board's.
    #[default]
    WholeBoard,
    /// Intel's notebooks' rule: the board's static power divided by its chips, counted for the
    /// chips the run uses; unused chips' static power subtracted.
    UsedChips,
}

impl std::fmt::Display for StaticRule {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::WholeBoard => "whole-board",
            Self::UsedChips => "used-chips",
        })
    }
}

/// Static (leakage and always-on) power, per power domain.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StaticPower {
    /// Per chip, on the neurocore-logic rail (VDD), mW.
    pub vdd_mw: Sourced<f64>,
    /// Per chip, on the memory rail (VDD-M), mW.
    pub vdd_m_mw: Sourced<f64>,
    /// Per chip, on the chip-I/O rail (VDD-IO), mW.
    pub vdd_io_mw: Sourced<f64>,
    /// Per board, what the chip rails do not include (FPGA, embedded host, board logic), mW.
    pub board_mw: Sourced<f64>,
    /// How a multi-chip board's static power is attributed to a run.
    pub rule: Sourced<StaticRule>,
}

impl StaticPower {
    /// Chip-rail static power of one chip (all three rails), mW.
    #[must_use]
    pub fn chip_mw(&self) -> f64 {
        self.vdd_mw.value + self.vdd_m_mw.value + self.vdd_io_mw.value
    }
}

/// How dynamic energy divides between the power domains where a term's split is not known:
/// shares, each on VDD-M or VDD-IO, the rest on VDD or the board (estimates with ranges).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PowerSplit {
    /// Share of a neuron update's or idle check's energy on VDD-M (state read and write); the
    /// rest on VDD. Instructions are VDD.
    pub neuron_state_vdd_m_share: Sourced<f64>,
    /// Share of an axon lookup's energy (message in, spike out) on VDD-M; the rest on VDD.
    pub axon_lookup_vdd_m_share: Sourced<f64>,
    /// Share of a host message's energy on the chip's VDD-IO; the rest on the board.
    pub host_message_vdd_io_share: Sourced<f64>,
}

/// A complete chip and board description.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Chip {
    /// Preset name or file stem.
    pub name: String,
    /// One line on what this is.
    pub summary: String,
    /// Mesh of one chip.
    pub mesh: Mesh,
    /// The board.
    pub board: Board,
    /// Per-core limits.
    pub core: CoreLimits,
    /// Synaptic memory layout.
    pub synapses: SynapseEncoding,
    /// Network on chip.
    pub noc: Noc,
    /// Operation costs.
    pub ops: Ops,
    /// Barrier.
    pub barrier: Barrier,
    /// Host I/O.
    pub io: Io,
    /// Static power.
    #[serde(rename = "static")]
    pub static_power: StaticPower,
    /// How dynamic energy divides between power domains.
    pub power: PowerSplit,
}

/// Why a chip description could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum ChipError {
    /// Unknown preset name.
    #[error("unknown chip `{0}`: use a preset (loihi2, kapoho-point, loihi1) or a .toml file")]
    UnknownPreset(String),
    /// File not readable.
    #[error("cannot read chip file {path}: {source}")]
    Io {
        /// The file.
        path: String,
        /// The OS error.
        source: std::io::Error,
    },
    /// Not valid TOML or not a chip description.
    #[error("chip file {path}: {message}")]
    Parse {
        /// The file.
        path: String,
        /// What is wrong.
        message: String,
    },
    /// A board larger than a hard cap.
    #[error(
        "chip `{chip}`: the board has {value} {what} ({detail}), more than the limit of {limit} {what}"
    )]
    TooLarge {
        /// Chip name.
        chip: String,
        /// What is counted (`cores`, `links`).
        what: &'static str,
        /// The count, or `more than 18446744073709551615` when it overflows.
        value: String,
        /// Where the count comes from.
        detail: String,
        /// The cap.
        limit: u32,
    },
    /// A value out of range.
    #[error("chip `{chip}`: {field} = {value} {message}")]
    Invalid {
        /// Chip name.
        chip: String,
        /// Field path.
        field: String,
        /// The value.
        value: String,
        /// Why it is wrong.
        message: String,
    },
}

/// Largest chip description file loisim reads: 1 MiB (the presets are a few KB).
pub const MAX_CHIP_FILE: u64 = 1 << 20;

/// Most neurocores a board description may have in total (all chips together): 2^20. Every
/// size the compiler and the simulator derive from a board (cores, routers, core ids) then fits
/// a `u32` with room to spare, and per-core tables stay a few MB.
pub const MAX_BOARD_CORES: u32 = 1 << 20;

/// Most directed router-to-router links a board description may have: 2^21. The board's link
/// table (and every program's copy of it) stays below about 50 MB. A board at the core cap
/// with one core per router (about 4 x 2^20 links) is above it.
pub const MAX_BOARD_LINKS: u32 = 1 << 21;

/// The sizes of a board, computed with checked arithmetic and within [`MAX_BOARD_CORES`] and
/// [`MAX_BOARD_LINKS`] (see [`Chip::board_size`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BoardSize {
    /// Cores per chip.
    pub cores_per_chip: u32,
    /// Chips.
    pub chips: u32,
    /// Cores on the board.
    pub cores: u32,
    /// Routers along x over all chips (the global grid's width).
    pub grid_x: u32,
    /// Routers along y over all chips.
    pub grid_y: u32,
    /// Directed links between neighbouring routers.
    pub links: u32,
}

/// The built-in presets: name and TOML text.
pub const PRESETS: [(&str, &str); 3] = [
    ("loihi2", include_str!("../chips/loihi2.toml")),
    ("kapoho-point", include_str!("../chips/kapoho-point.toml")),
    ("loihi1", include_str!("../chips/loihi1.toml")),
];

/// The calibrated values of the `loihi2` preset (written by `cargo xtask calibrate`), laid over
/// `loihi2.toml`, whose values for the same fields are the priors the fit starts from.
pub const LOIHI2_FIT: &str = include_str!("../chips/loihi2.fit.toml");

fn merge(base: &mut toml::Table, over: toml::Table) {
    for (k, v) in over {
        match (base.get_mut(&k), v) {
            (Some(toml::Value::Table(b)), toml::Value::Table(o)) if !is_leaf(b) => merge(b, o),
            (Some(toml::Value::Table(b)), toml::Value::Table(mut o)) if is_leaf(&o) => {
                // A new value of the same quantity keeps the quantity's plausible range (and
                // its source) unless it brings its own.
                if !o.contains_key("range") {
                    for key in ["range", "range_source"] {
                        if let Some(r) = b.get(key) {
                            o.insert(key.to_string(), r.clone());
                        }
                    }
                }
                base.insert(k, toml::Value::Table(o));
            }
            (_, v) => {
                base.insert(k, v);
            }
        }
    }
}

/// A `{value, source}` table is replaced whole, never merged field by field (its `range`
/// carries over when the new table has none).
fn is_leaf(t: &toml::Table) -> bool {
    t.contains_key("value")
}

fn parse_table(text: &str, origin: &str) -> Result<toml::Table, ChipError> {
    text.parse::<toml::Table>().map_err(|e| ChipError::Parse {
        path: origin.to_string(),
        message: e
            .to_string()
            .lines()
            .next()
            .unwrap_or("invalid TOML")
            .to_string(),
    })
}

fn resolve(text: &str, origin: &str, depth: usize) -> Result<toml::Table, ChipError> {
    let mut table = parse_table(text, origin)?;
    if depth > 0 && origin == "loihi2" {
        merge(&mut table, parse_table(LOIHI2_FIT, "loihi2.fit.toml")?);
    }
    let Some(base) = table.remove("extends") else {
        return Ok(table);
    };
    let Some(base) = base.as_str() else {
        return Err(ChipError::Parse {
            path: origin.into(),
            message: "`extends` must be a preset name".into(),
        });
    };
    if depth > 4 {
        return Err(ChipError::Parse {
            path: origin.into(),
            message: "`extends` chain is too deep".into(),
        });
    }
    let (_, base_text) = PRESETS
        .iter()
        .find(|(n, _)| *n == base)
        .ok_or_else(|| ChipError::UnknownPreset(base.to_string()))?;
    let mut merged = resolve(base_text, base, depth + 1)?;
    merge(&mut merged, table);
    Ok(merged)
}

impl Chip {
    /// Parses a chip description (TOML, possibly `extends`-ing a preset) and validates it.
    pub fn from_toml(text: &str, origin: &str) -> Result<Self, ChipError> {
        let table = resolve(text, origin, 0)?;
        let chip: Chip = toml::Value::Table(table)
            .try_into()
            .map_err(|e: toml::de::Error| ChipError::Parse {
                path: origin.to_string(),
                message: e.to_string().replace('\n', " ").trim().to_string(),
            })?;
        chip.validate()?;
        Ok(chip)
    }

    /// A built-in preset by name.
    pub fn preset(name: &str) -> Result<Self, ChipError> {
        let (n, text) = PRESETS
            .iter()
            .find(|(n, _)| *n == name)
            .ok_or_else(|| ChipError::UnknownPreset(name.to_string()))?;
        if *n == "loihi2" {
            // Through `extends`, so the calibrated values are laid over the priors.
            return Self::from_toml("extends = \"loihi2\"\n", n);
        }
        Self::from_toml(text, n)
    }

    /// The `loihi2` preset without its calibrated values: the priors of the calibration.
    pub fn loihi2_priors() -> Result<Self, ChipError> {
        Self::from_toml(PRESETS[0].1, "loihi2")
    }

    /// The `loihi2` priors with a calibration file's values laid over them (what the preset
    /// is, with [`LOIHI2_FIT`]).
    pub fn loihi2_with_fit(fit: &str) -> Result<Self, ChipError> {
        let mut table = parse_table(PRESETS[0].1, "loihi2")?;
        merge(&mut table, parse_table(fit, "loihi2.fit.toml")?);
        let chip: Chip = toml::Value::Table(table)
            .try_into()
            .map_err(|e: toml::de::Error| ChipError::Parse {
                path: "loihi2.fit.toml".to_string(),
                message: e.to_string().replace('\n', " ").trim().to_string(),
            })?;
        chip.validate()?;
        Ok(chip)
    }

    /// The default chip (`loihi2`).
    pub fn default_chip() -> Self {
        // The preset is part of the build and is tested to parse.
        Self::preset("loihi2").unwrap_or_else(|e| panic!("built-in preset loihi2 is invalid: {e}"))
    }

    /// A preset name, or a path to a TOML file.
    pub fn load(name_or_path: &str) -> Result<Self, ChipError> {
        if PRESETS.iter().any(|(n, _)| *n == name_or_path) {
            return Self::preset(name_or_path);
        }
        let path = Path::new(name_or_path);
        if path.extension().is_none_or(|e| e != "toml") && !path.exists() {
            return Err(ChipError::UnknownPreset(name_or_path.to_string()));
        }
        let io = |e| ChipError::Io {
            path: path.display().to_string(),
            source: e,
        };
        // Read at most one byte past the cap: a larger file (or a device that never ends) is
        // refused without reading it all.
        let mut text = String::new();
        std::io::Read::read_to_string(
            &mut std::io::Read::take(std::fs::File::open(path).map_err(io)?, MAX_CHIP_FILE + 1),
            &mut text,
        )
        .map_err(io)?;
        if text.len() as u64 > MAX_CHIP_FILE {
            return Err(ChipError::Parse {
                path: path.display().to_string(),
                message: format!(
                    "the file is larger than {MAX_CHIP_FILE} bytes, the most loisim reads"
                ),
            });
        }
        Self::from_toml(&text, &path.display().to_string())
    }

    /// The description as TOML (complete, no `extends`).
    pub fn to_toml(&self) -> String {
        toml::to_string(self).unwrap_or_default()
    }

    /// Cores per chip (saturating at `u32::MAX` for a description that was never validated;
    /// a valid one has at most [`MAX_BOARD_CORES`]).
    pub fn cores_per_chip(&self) -> u32 {
        self.mesh
            .routers_x
            .value
            .saturating_mul(self.mesh.routers_y.value)
            .saturating_mul(self.mesh.cores_per_router.value)
    }

    /// Chips on the board (saturating, like [`Chip::cores_per_chip`]).
    pub fn n_chips(&self) -> u32 {
        self.board
            .chips_x
            .value
            .saturating_mul(self.board.chips_y.value)
    }

    /// Cores on the board (saturating, like [`Chip::cores_per_chip`]).
    pub fn n_cores(&self) -> u32 {
        self.cores_per_chip().saturating_mul(self.n_chips())
    }

    /// The board's sizes, or [`ChipError::TooLarge`] when it has more than [`MAX_BOARD_CORES`]
    /// cores or [`MAX_BOARD_LINKS`] links. Checked arithmetic throughout: any description,
    /// validated or not, gives a result or an error, never an overflow. Allocates nothing.
    pub fn board_size(&self) -> Result<BoardSize, ChipError> {
        let (rx, ry, cpr) = (
            self.mesh.routers_x.value,
            self.mesh.routers_y.value,
            self.mesh.cores_per_router.value,
        );
        let (cx, cy) = (self.board.chips_x.value, self.board.chips_y.value);
        let too_large = |what: &'static str, value: Option<u64>, detail: String, limit: u32| {
            ChipError::TooLarge {
                chip: self.name.clone(),
                what,
                value: value.map_or_else(|| format!("more than {}", u64::MAX), |v| v.to_string()),
                detail,
                limit,
            }
        };
        let cores = [rx, ry, cpr, cx, cy]
            .iter()
            .try_fold(1u64, |acc, &f| acc.checked_mul(u64::from(f)));
        let cores = match cores {
            Some(n) if n <= u64::from(MAX_BOARD_CORES) => n as u32,
            other => {
                return Err(too_large(
                    "cores",
                    other,
                    format!(
                        "mesh.routers_x {rx} x mesh.routers_y {ry} x mesh.cores_per_router {cpr} \
                         x board.chips_x {cx} x board.chips_y {cy}"
                    ),
                    MAX_BOARD_CORES,
                ));
            }
        };
        // Saturating: a factor may be 0 in a description that was never validated, leaving
        // the others unbounded.
        let (grid_x, grid_y) = (rx.saturating_mul(cx), ry.saturating_mul(cy));
        // Each router links to each neighbour in both directions.
        let (w, h) = (u64::from(grid_x), u64::from(grid_y));
        let links = (w.saturating_sub(1) * h)
            .checked_add(h.saturating_sub(1) * w)
            .and_then(|l| l.checked_mul(2))
            .unwrap_or(u64::MAX);
        if links > u64::from(MAX_BOARD_LINKS) {
            return Err(too_large(
                "links",
                Some(links),
                format!("both directions between neighbours on a {grid_x} x {grid_y} router grid"),
                MAX_BOARD_LINKS,
            ));
        }
        Ok(BoardSize {
            cores_per_chip: self.cores_per_chip(),
            chips: self.n_chips(),
            cores,
            grid_x,
            grid_y,
            links: links as u32,
        })
    }

    /// The graded payload width (bits) used for a value of `bits` bits: the narrowest supported
    /// width that holds it.
    pub fn payload_bits_for(&self, bits: u32) -> Option<u32> {
        self.noc
            .payload_bits
            .value
            .iter()
            .copied()
            .filter(|&p| p >= bits)
            .min()
    }

    fn validate(&self) -> Result<(), ChipError> {
        let bad = |field: &str, value: String, message: &str| ChipError::Invalid {
            chip: self.name.clone(),
            field: field.to_string(),
            value,
            message: message.to_string(),
        };
        let positive_u = [
            ("mesh.routers_x", self.mesh.routers_x.value),
            ("mesh.routers_y", self.mesh.routers_y.value),
            ("mesh.cores_per_router", self.mesh.cores_per_router.value),
            ("board.chips_x", self.board.chips_x.value),
            ("board.chips_y", self.board.chips_y.value),
            ("core.max_neurons", self.core.max_neurons.value),
            ("core.max_input_axons", self.core.max_input_axons.value),
            ("core.max_output_axons", self.core.max_output_axons.value),
            ("core.max_weight_bits", self.core.max_weight_bits.value),
            (
                "core.max_ports_per_neuron",
                self.core.max_ports_per_neuron.value,
            ),
            ("core.state_word_bits", self.core.state_word_bits.value),
            ("synapses.word_bits", self.synapses.word_bits.value),
            ("synapses.max_run", self.synapses.max_run.value),
        ];
        for (f, v) in positive_u {
            if v == 0 || v > 1 << 20 {
                return Err(bad(f, v.to_string(), "must be in 1..=1048576"));
            }
        }
        self.board_size()?;
        if self.core.memory_bytes.value == 0
            || self.core.max_synaptic_bytes.value > self.core.memory_bytes.value
        {
            return Err(bad(
                "core.max_synaptic_bytes",
                self.core.max_synaptic_bytes.value.to_string(),
                "must not exceed core.memory_bytes (which must be positive)",
            ));
        }
        if !(16..=64).contains(&self.core.accumulator_bits.value) {
            return Err(bad(
                "core.accumulator_bits",
                self.core.accumulator_bits.value.to_string(),
                "must be in 16..=64",
            ));
        }
        for (f, v) in [
            ("noc.header_bits", self.noc.header_bits.value),
            (
                "synapses.run_header_bits",
                self.synapses.run_header_bits.value,
            ),
        ] {
            if v > 1024 {
                return Err(bad(f, v.to_string(), "must be at most 1024 bits"));
            }
        }
        if self.core.max_delay.value > 1024 {
            return Err(bad(
                "core.max_delay",
                self.core.max_delay.value.to_string(),
                "must be at most 1024",
            ));
        }
        if self.noc.payload_bits.value.is_empty()
            || self.noc.payload_bits.value.iter().any(|&p| p > 64)
        {
            return Err(bad(
                "noc.payload_bits",
                format!("{:?}", self.noc.payload_bits.value),
                "must list widths up to 64",
            ));
        }
        if self.io.router_x.value >= self.mesh.routers_x.value
            || self.io.router_y.value >= self.mesh.routers_y.value
        {
            return Err(bad(
                "io.router_x/y",
                format!("({}, {})", self.io.router_x.value, self.io.router_y.value),
                "is outside the mesh",
            ));
        }
        let nonneg = [
            ("noc.link_bits_per_ns", self.noc.link_bits_per_ns.value),
            ("board.link_bits_per_ns", self.board.link_bits_per_ns.value),
            ("board.link_latency_ns", self.board.link_latency_ns.value),
            ("board.link_energy_pj", self.board.link_energy_pj.value),
            ("barrier.base_ns", self.barrier.base_ns.value),
            ("barrier.per_tile_ns", self.barrier.per_tile_ns.value),
            ("barrier.per_chip_ns", self.barrier.per_chip_ns.value),
            (
                "barrier.energy_pj_per_tile",
                self.barrier.energy_pj_per_tile.value,
            ),
            ("static.vdd_mw", self.static_power.vdd_mw.value),
            ("static.vdd_m_mw", self.static_power.vdd_m_mw.value),
            ("static.vdd_io_mw", self.static_power.vdd_io_mw.value),
            ("static.board_mw", self.static_power.board_mw.value),
        ];
        for (f, v) in nonneg {
            if !v.is_finite() || v < 0.0 {
                return Err(bad(
                    f,
                    v.to_string(),
                    "must be a finite non-negative number",
                ));
            }
        }
        for (f, v) in self.shares() {
            if !(0.0..=1.0).contains(&v.value) {
                return Err(bad(
                    &f,
                    v.value.to_string(),
                    "is a share and must be in 0..=1",
                ));
            }
            if v.range.is_some_and(|[_, hi]| hi > 1.0) {
                return Err(bad(
                    &format!("{f}.range"),
                    format!("{:?}", v.range),
                    "is a share's range and must lie in 0..=1",
                ));
            }
        }
        if self.noc.link_bits_per_ns.value <= 0.0 || self.board.link_bits_per_ns.value <= 0.0 {
            return Err(bad(
                "link_bits_per_ns",
                "0".into(),
                "bandwidth must be positive",
            ));
        }
        for (f, c) in self.op_costs() {
            for (what, v) in [
                ("latency_ns", c.latency_ns.value),
                ("energy_pj", c.energy_pj.value),
            ] {
                if !v.is_finite() || v < 0.0 {
                    return Err(bad(
                        &format!("{f}.{what}"),
                        v.to_string(),
                        "must be a finite non-negative number",
                    ));
                }
            }
        }
        for (f, p, _) in self.cost_params() {
            if let Some([lo, hi]) = p.range {
                if !(lo.is_finite() && hi.is_finite() && lo >= 0.0 && lo <= hi) {
                    return Err(bad(
                        &format!("{f}.range"),
                        format!("[{lo}, {hi}]"),
                        "must be [lo, hi] with 0 <= lo <= hi, both finite",
                    ));
                }
                if p.range_source.as_deref().is_none_or(str::is_empty) {
                    return Err(bad(
                        &format!("{f}.range_source"),
                        "none".into(),
                        "a range needs its source",
                    ));
                }
            }
        }
        Ok(())
    }

    /// Every cost parameter (the numbers a calibration or a replay may change: operation
    /// latencies and energies, bandwidths, barrier, static power) with its field path and unit.
    pub fn cost_params(&self) -> Vec<(String, &Sourced<f64>, &'static str)> {
        let mut v: Vec<(String, &Sourced<f64>, &'static str)> = vec![
            (
                "noc.link_bits_per_ns".into(),
                &self.noc.link_bits_per_ns,
                "bit/ns",
            ),
            (
                "board.link_latency_ns".into(),
                &self.board.link_latency_ns,
                "ns",
            ),
            (
                "board.link_energy_pj".into(),
                &self.board.link_energy_pj,
                "pJ",
            ),
            (
                "board.link_bits_per_ns".into(),
                &self.board.link_bits_per_ns,
                "bit/ns",
            ),
            ("barrier.base_ns".into(), &self.barrier.base_ns, "ns"),
            (
                "barrier.per_tile_ns".into(),
                &self.barrier.per_tile_ns,
                "ns",
            ),
            (
                "barrier.per_chip_ns".into(),
                &self.barrier.per_chip_ns,
                "ns",
            ),
            (
                "barrier.energy_pj_per_tile".into(),
                &self.barrier.energy_pj_per_tile,
                "pJ",
            ),
            ("static.vdd_mw".into(), &self.static_power.vdd_mw, "mW"),
            ("static.vdd_m_mw".into(), &self.static_power.vdd_m_mw, "mW"),
            (
                "static.vdd_io_mw".into(),
                &self.static_power.vdd_io_mw,
                "mW",
            ),
            ("static.board_mw".into(), &self.static_power.board_mw, "mW"),
        ];
        for (name, c) in self.op_costs() {
            v.push((format!("{name}.latency_ns"), &c.latency_ns, "ns"));
            v.push((format!("{name}.energy_pj"), &c.energy_pj, "pJ"));
        }
        for (f, p) in self.shares() {
            v.push((f, p, "share"));
        }
        v
    }

    /// The domain-split parameters (shares in 0..=1) with their field paths: they move energy
    /// between power domains and leave every total unchanged.
    pub fn shares(&self) -> Vec<(String, &Sourced<f64>)> {
        let p = &self.power;
        vec![
            (
                "power.neuron_state_vdd_m_share".into(),
                &p.neuron_state_vdd_m_share,
            ),
            (
                "power.axon_lookup_vdd_m_share".into(),
                &p.axon_lookup_vdd_m_share,
            ),
            (
                "power.host_message_vdd_io_share".into(),
                &p.host_message_vdd_io_share,
            ),
        ]
    }

    /// The cost parameter named `field` (a path of [`Chip::cost_params`]), to change it.
    pub fn cost_param_mut(&mut self, field: &str) -> Option<&mut Sourced<f64>> {
        fn op<'a>(c: &'a mut OpCost, what: &str) -> Option<&'a mut Sourced<f64>> {
            match what {
                "latency_ns" => Some(&mut c.latency_ns),
                "energy_pj" => Some(&mut c.energy_pj),
                _ => None,
            }
        }
        match field {
            "noc.link_bits_per_ns" => Some(&mut self.noc.link_bits_per_ns),
            "board.link_latency_ns" => Some(&mut self.board.link_latency_ns),
            "board.link_energy_pj" => Some(&mut self.board.link_energy_pj),
            "board.link_bits_per_ns" => Some(&mut self.board.link_bits_per_ns),
            "barrier.base_ns" => Some(&mut self.barrier.base_ns),
            "barrier.per_tile_ns" => Some(&mut self.barrier.per_tile_ns),
            "barrier.per_chip_ns" => Some(&mut self.barrier.per_chip_ns),
            "barrier.energy_pj_per_tile" => Some(&mut self.barrier.energy_pj_per_tile),
            "static.vdd_mw" => Some(&mut self.static_power.vdd_mw),
            "static.vdd_m_mw" => Some(&mut self.static_power.vdd_m_mw),
            "static.vdd_io_mw" => Some(&mut self.static_power.vdd_io_mw),
            "static.board_mw" => Some(&mut self.static_power.board_mw),
            "power.neuron_state_vdd_m_share" => Some(&mut self.power.neuron_state_vdd_m_share),
            "power.axon_lookup_vdd_m_share" => Some(&mut self.power.axon_lookup_vdd_m_share),
            "power.host_message_vdd_io_share" => Some(&mut self.power.host_message_vdd_io_share),
            _ => {
                let (name, what) = field.rsplit_once('.')?;
                let c = match name {
                    "noc.hop_x" => &mut self.noc.hop_x,
                    "noc.hop_y" => &mut self.noc.hop_y,
                    "noc.local" => &mut self.noc.local,
                    "ops.message_in" => &mut self.ops.message_in,
                    "ops.synmem_word_read" => &mut self.ops.synmem_word_read,
                    "ops.synop" => &mut self.ops.synop,
                    "ops.neuron_update" => &mut self.ops.neuron_update,
                    "ops.neuron_instruction" => &mut self.ops.neuron_instruction,
                    "ops.neuron_idle" => &mut self.ops.neuron_idle,
                    "ops.spike_out" => &mut self.ops.spike_out,
                    "io.sequencer_message" => &mut self.io.sequencer_message,
                    "io.input_message" => &mut self.io.input_message,
                    "io.output_message" => &mut self.io.output_message,
                    _ => return None,
                };
                op(c, what)
            }
        }
    }

    /// The cost parameters whose value lies outside their plausible range, with the range.
    pub fn out_of_range(&self) -> Vec<(String, f64, [f64; 2])> {
        self.cost_params()
            .into_iter()
            .filter_map(|(f, p, _)| {
                let r = p.range?;
                (p.value < r[0] || p.value > r[1]).then_some((f, p.value, r))
            })
            .collect()
    }

    /// The cost of sending one input message: the on-chip sequencer's or the host's, as
    /// `io.inputs` says.
    pub fn input_cost(&self) -> &OpCost {
        match self.io.inputs.value {
            InputSource::Sequencer => &self.io.sequencer_message,
            InputSource::Host => &self.io.input_message,
        }
    }

    /// Every operation cost with its field path.
    pub fn op_costs(&self) -> Vec<(&'static str, &OpCost)> {
        vec![
            ("noc.hop_x", &self.noc.hop_x),
            ("noc.hop_y", &self.noc.hop_y),
            ("noc.local", &self.noc.local),
            ("ops.message_in", &self.ops.message_in),
            ("ops.synmem_word_read", &self.ops.synmem_word_read),
            ("ops.synop", &self.ops.synop),
            ("ops.neuron_update", &self.ops.neuron_update),
            ("ops.neuron_instruction", &self.ops.neuron_instruction),
            ("ops.neuron_idle", &self.ops.neuron_idle),
            ("ops.spike_out", &self.ops.spike_out),
            ("io.sequencer_message", &self.io.sequencer_message),
            ("io.input_message", &self.io.input_message),
            ("io.output_message", &self.io.output_message),
        ]
    }

    /// Every number of the description as `(field, value, unit, source)`, for reports.
    pub fn entries(&self) -> Vec<(String, String, &'static str, String)> {
        let mut v: Vec<(String, String, &'static str, String)> = Vec::new();
        let mut u = |f: &str, s: &Sourced<u32>, unit: &'static str| {
            v.push((f.into(), s.value.to_string(), unit, s.source.clone()))
        };
        u("mesh.routers_x", &self.mesh.routers_x, "");
        u("mesh.routers_y", &self.mesh.routers_y, "");
        u("mesh.cores_per_router", &self.mesh.cores_per_router, "");
        u("board.chips_x", &self.board.chips_x, "");
        u("board.chips_y", &self.board.chips_y, "");
        u("core.max_neurons", &self.core.max_neurons, "");
        u("core.max_input_axons", &self.core.max_input_axons, "");
        u("core.max_output_axons", &self.core.max_output_axons, "");
        u("core.max_weight_bits", &self.core.max_weight_bits, "bit");
        u("core.max_delay", &self.core.max_delay, "step");
        u("core.accumulator_bits", &self.core.accumulator_bits, "bit");
        u(
            "core.max_ports_per_neuron",
            &self.core.max_ports_per_neuron,
            "",
        );
        u("core.state_word_bits", &self.core.state_word_bits, "bit");
        u("core.input_axon_bytes", &self.core.input_axon_bytes, "B");
        u("core.output_axon_bytes", &self.core.output_axon_bytes, "B");
        u("synapses.word_bits", &self.synapses.word_bits, "bit");
        u(
            "synapses.run_header_bits",
            &self.synapses.run_header_bits,
            "bit",
        );
        u("synapses.max_run", &self.synapses.max_run, "");
        u("noc.header_bits", &self.noc.header_bits, "bit");
        u("io.router_x", &self.io.router_x, "");
        u("io.router_y", &self.io.router_y, "");
        let mut b = |f: &str, s: &Sourced<u64>| {
            v.push((f.into(), s.value.to_string(), "B", s.source.clone()))
        };
        b("core.memory_bytes", &self.core.memory_bytes);
        b("core.max_synaptic_bytes", &self.core.max_synaptic_bytes);
        v.push((
            "noc.payload_bits".into(),
            format!("{:?}", self.noc.payload_bits.value),
            "bit",
            self.noc.payload_bits.source.clone(),
        ));
        let mut f = |f: &str, s: &Sourced<f64>, unit: &'static str| {
            v.push((f.into(), s.value.to_string(), unit, s.source.clone()))
        };
        f("noc.link_bits_per_ns", &self.noc.link_bits_per_ns, "bit/ns");
        f("board.link_latency_ns", &self.board.link_latency_ns, "ns");
        f("board.link_energy_pj", &self.board.link_energy_pj, "pJ");
        f(
            "board.link_bits_per_ns",
            &self.board.link_bits_per_ns,
            "bit/ns",
        );
        f("barrier.base_ns", &self.barrier.base_ns, "ns");
        f("barrier.per_tile_ns", &self.barrier.per_tile_ns, "ns");
        f("barrier.per_chip_ns", &self.barrier.per_chip_ns, "ns");
        f(
            "barrier.energy_pj_per_tile",
            &self.barrier.energy_pj_per_tile,
            "pJ",
        );
        f("static.vdd_mw", &self.static_power.vdd_mw, "mW");
        f("static.vdd_m_mw", &self.static_power.vdd_m_mw, "mW");
        f("static.vdd_io_mw", &self.static_power.vdd_io_mw, "mW");
        f("static.board_mw", &self.static_power.board_mw, "mW");
        for (field, p) in self.shares() {
            f(&field, p, "");
        }
        v.push((
            "io.inputs".into(),
            self.io.inputs.value.to_string(),
            "",
            self.io.inputs.source.clone(),
        ));
        v.push((
            "static.rule".into(),
            self.static_power.rule.value.to_string(),
            "",
            self.static_power.rule.source.clone(),
        ));
        for (name, c) in self.op_costs() {
            v.push((
                format!("{name}.latency_ns"),
                c.latency_ns.value.to_string(),
                "ns",
                c.latency_ns.source.clone(),
            ));
            v.push((
                format!("{name}.energy_pj"),
                c.energy_pj.value.to_string(),
                "pJ",
                c.energy_pj.source.clone(),
            ));
        }
        v
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn presets_parse_and_validate() {
        for (name, _) in PRESETS {
            let c = Chip::preset(name).unwrap_or_else(|e| panic!("{name}: {e}"));
            assert!(c.n_cores() >= 128, "{name}");
            // Every number has a source.
            for (field, _, _, source) in c.entries() {
                assert!(!source.trim().is_empty(), "{name}: {field} has no source");
            }
        }
        assert_eq!(
            Chip::preset("kapoho-point").map(|c| c.n_chips()).ok(),
            Some(8)
        );
        assert_eq!(Chip::default_chip().cores_per_chip(), 128);
    }

    #[test]
    fn extends_overrides_one_value() {
        let text = "extends = \"loihi2\"\nname = \"mine\"\n[ops.synop]\nlatency_ns = { value = 9.0, source = \"test\" }\n";
        let c = Chip::from_toml(text, "mine.toml").expect("parse");
        assert_eq!(c.ops.synop.latency_ns.value, 9.0);
        assert_eq!(
            c.ops.synop.energy_pj,
            Chip::default_chip().ops.synop.energy_pj
        );
        assert_eq!(c.name, "mine");
    }

    #[test]
    fn malformed_files_are_clear_errors() {
        let e = Chip::from_toml("name = ", "x.toml")
            .unwrap_err()
            .to_string();
        assert!(e.starts_with("chip file x.toml:"), "{e}");
        let e = Chip::from_toml(
            "extends = \"loihi2\"\n[mesh]\nrouters_x = { value = 0, source = \"x\" }\n",
            "x.toml",
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("mesh.routers_x = 0"), "{e}");
        let e = Chip::from_toml(
            "extends = \"loihi2\"\n[ops.synop]\nlatency_ns = { value = -1.0, source = \"x\" }\n",
            "x.toml",
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("ops.synop.latency_ns"), "{e}");
        let e = Chip::from_toml("extends = \"loihi2\"\nbogus = 1\n", "x.toml")
            .unwrap_err()
            .to_string();
        assert!(e.contains("bogus"), "{e}");
        assert!(matches!(
            Chip::load("nope"),
            Err(ChipError::UnknownPreset(_))
        ));
    }

    fn mesh(rx: u32, ry: u32, cpr: u32, chips: (u32, u32)) -> String {
        format!(
            "extends = \"loihi2\"\nname = \"big\"\n[mesh]\nrouters_x = {{ value = {rx}, source = \"t\" }}\nrouters_y = {{ value = {ry}, source = \"t\" }}\ncores_per_router = {{ value = {cpr}, source = \"t\" }}\n[board]\nname = \"b\"\nchips_x = {{ value = {}, source = \"t\" }}\nchips_y = {{ value = {}, source = \"t\" }}\nlink_latency_ns = {{ value = 1.0, source = \"t\" }}\nlink_energy_pj = {{ value = 1.0, source = \"t\" }}\nlink_bits_per_ns = {{ value = 1.0, source = \"t\" }}\n",
            chips.0, chips.1
        )
    }

    #[test]
    fn a_board_past_the_core_cap_is_a_clear_error_before_any_allocation() {
        // 1,048,575 routers per side: each field is in range, their product is not.
        let e = Chip::from_toml(&mesh(1_048_575, 1_048_575, 4, (1, 1)), "big.toml").unwrap_err();
        assert!(matches!(e, ChipError::TooLarge { .. }), "{e}");
        let msg = e.to_string();
        assert!(!msg.contains('\n'), "{msg}");
        assert!(msg.contains("4398038122500 cores"), "{msg}");
        assert!(msg.contains(&MAX_BOARD_CORES.to_string()), "{msg}");
        // The product of all five factors overflows u64 arithmetic: still an error, no panic.
        let e = Chip::from_toml(
            &mesh(1 << 20, 1 << 20, 1 << 20, (1 << 20, 1 << 20)),
            "big.toml",
        )
        .unwrap_err();
        assert!(matches!(e, ChipError::TooLarge { .. }), "{e}");
        assert!(e.to_string().contains("more than"), "{e}");
        // Chips multiply too.
        let e = Chip::from_toml(&mesh(8, 16, 4, (64, 64)), "big.toml").unwrap_err();
        assert!(e.to_string().contains("2097152 cores"), "{e}");
    }

    #[test]
    fn every_loihi2_cost_parameter_has_a_sourced_range_holding_its_prior_and_its_fit() {
        let priors = Chip::loihi2_priors().expect("priors");
        for (f, p, _) in priors.cost_params() {
            let [lo, hi] = p.range.unwrap_or_else(|| panic!("{f}: no range"));
            assert!(
                p.range_source.as_deref().is_some_and(|s| !s.is_empty()),
                "{f}: no range source"
            );
            assert!(
                lo <= p.value && p.value <= hi,
                "{f}: prior {} outside [{lo}, {hi}]",
                p.value
            );
        }
        // The calibrated preset (its fit file carries no ranges: they come from the priors).
        let fitted = Chip::default_chip();
        assert!(
            fitted
                .cost_params()
                .iter()
                .all(|(_, p, _)| p.range.is_some())
        );
        assert!(
            fitted.out_of_range().is_empty(),
            "{:?}",
            fitted.out_of_range()
        );
        let kp = Chip::preset("kapoho-point").expect("kapoho");
        assert!(kp.cost_params().iter().all(|(_, p, _)| p.range.is_some()));
    }

    #[test]
    fn an_override_keeps_the_range_and_bad_ranges_are_refused() {
        let c = Chip::from_toml(
            "extends = \"loihi2\"\nname = \"x\"\n[ops]\nsynop = { latency_ns = { value = 9.0, source = \"t\" }, energy_pj = { value = 1.0, source = \"t\" } }\n",
            "x.toml",
        )
        .expect("valid");
        assert_eq!(c.ops.synop.latency_ns.range, Some([0.37, 3.5]));
        assert_eq!(
            c.out_of_range(),
            vec![("ops.synop.latency_ns".to_string(), 9.0, [0.37, 3.5])]
        );
        for (range, says) in [
            ("range = [2.0, 1.0], range_source = \"t\"", "0 <= lo <= hi"),
            ("range = [-1.0, 1.0], range_source = \"t\"", "0 <= lo <= hi"),
            ("range = [1.0, 2.0]", "needs its source"),
        ] {
            let text = format!(
                "extends = \"loihi2\"\nname = \"x\"\n[static]\nvdd_mw = {{ value = 1.0, source = \"t\", {range} }}\n"
            );
            let e = Chip::from_toml(&text, "x.toml").unwrap_err();
            assert!(e.to_string().contains(says), "{range}: {e}");
        }
        // A domain share is a fraction.
        for share in [
            "value = 1.5, source = \"t\"",
            "value = 0.5, source = \"t\", range = [0.2, 1.2], range_source = \"t\"",
        ] {
            let text = format!(
                "extends = \"loihi2\"\n[power]\nneuron_state_vdd_m_share = {{ {share} }}\n"
            );
            let e = Chip::from_toml(&text, "x.toml").unwrap_err().to_string();
            assert!(e.contains("power.neuron_state_vdd_m_share"), "{e}");
            assert!(e.contains("share"), "{e}");
        }
    }

    #[test]
    fn every_cost_parameter_can_be_changed_by_its_name() {
        let mut c = Chip::default_chip();
        let names: Vec<String> = c.cost_params().into_iter().map(|(f, _, _)| f).collect();
        for (i, f) in names.iter().enumerate() {
            let p = c.cost_param_mut(f).unwrap_or_else(|| panic!("{f}"));
            p.value = 1000.0 + i as f64;
        }
        for (i, (f, p, _)) in c.cost_params().into_iter().enumerate() {
            assert_eq!(p.value, 1000.0 + i as f64, "{f}");
        }
        assert!(c.cost_param_mut("mesh.routers_x").is_none());
        assert!(c.cost_param_mut("ops.synop.size").is_none());
    }

    #[test]
    fn message_and_run_headers_are_bounded() {
        // A 2^31-bit header once overflowed a flow's bit count in the simulator (bad-input
        // suite, chip-toml case 20).
        for (table, key) in [("noc", "header_bits"), ("synapses", "run_header_bits")] {
            let toml = format!(
                "extends = \"loihi2\"\nname = \"h\"\n[{table}]\n{key} = {{ value = 2147483648, source = \"t\" }}\n"
            );
            let e = Chip::from_toml(&toml, "h.toml").unwrap_err();
            assert!(e.to_string().contains("at most 1024 bits"), "{e}");
        }
    }

    #[test]
    fn the_link_cap_binds_on_its_own() {
        // 2^20 cores, exactly at the core cap, one per router: 4,190,208 directed links.
        let e = Chip::from_toml(&mesh(1024, 1024, 1, (1, 1)), "big.toml").unwrap_err();
        assert!(matches!(e, ChipError::TooLarge { .. }), "{e}");
        assert!(e.to_string().contains("4190208 links"), "{e}");
        // The same number of cores on fewer routers fits both caps.
        let c = Chip::from_toml(&mesh(512, 512, 4, (1, 1)), "big.toml").expect("at the cap");
        assert_eq!(c.n_cores(), MAX_BOARD_CORES);
        let size = c.board_size().expect("size");
        assert_eq!(size.cores, MAX_BOARD_CORES);
        assert_eq!(size.links, 4 * 511 * 512);
        assert!(size.links <= MAX_BOARD_LINKS);
    }

    #[test]
    fn an_unvalidated_chip_cannot_overflow_the_core_count() {
        let mut c = Chip::default_chip();
        c.mesh.routers_x.value = u32::MAX;
        c.mesh.routers_y.value = u32::MAX;
        assert_eq!(c.n_cores(), u32::MAX);
        assert!(matches!(c.board_size(), Err(ChipError::TooLarge { .. })));
    }

    #[test]
    fn round_trips_through_toml() {
        let c = Chip::default_chip();
        assert_eq!(Chip::from_toml(&c.to_toml(), "rt").expect("parse"), c);
    }

    #[test]
    fn a_chip_file_past_the_size_cap_is_refused_without_reading_it_all() {
        let dir = tempfile::tempdir().expect("tmp");
        let p = dir.path().join("big.toml");
        let mut text = String::from("extends = \"loihi2\"\n");
        while (text.len() as u64) <= MAX_CHIP_FILE {
            text.push_str("# padding padding padding padding padding padding padding padding\n");
        }
        std::fs::write(&p, &text).expect("write");
        let err = Chip::load(p.to_str().expect("utf-8")).expect_err("too large");
        assert!(err.to_string().contains("larger than"), "{err}");
        // The same description under the cap loads.
        std::fs::write(&p, "extends = \"loihi2\"\n").expect("write");
        Chip::load(p.to_str().expect("utf-8")).expect("small file");
    }
}
