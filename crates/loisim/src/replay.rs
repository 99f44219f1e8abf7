//! Activity files: the functional work of a chip run, recorded once (`loisim run --activity
//! FILE`) and priced again at other chip costs without running the engine (`loisim replay`).
//!
//! The timing and energy of a timestep depend only on the work each flow carried (messages,
//! bits, synaptic-memory words read, synaptic operations), on the program's structure (its
//! cores with their stage, neurons and neuron-program instructions; its flows with their
//! routes; the links they cross; the tiles and chips used) and on the chip's cost parameters
//! (every per-core and per-link figure, neuron updates, instructions and idle checks included,
//! follows from these). An activity file holds the first two and the functional figures of the
//! run's report, so a replay reads nothing else and gives the report a full run on a chip of
//! the same structure would give.
//!
//! Layout (integers little-endian; docs/cost-model.md, "Replay"):
//!
//! ```text
//! magic      8 bytes  "LOISIMAC"
//! version    u32      VERSION
//! header     u32 length + postcard(Header): kind, modes, the recording chip (TOML), the program
//!                     hash, the structure (cores, flows, the links they cross, tiles, chips)
//! blocks     tag 1, u32 tokens, u32 length, bytes: per token (S5) or priced step (netx), the
//!                     flows with work (a bitmap, or index gaps when few have work) and per
//!                     such flow its messages, bits (less messages x the flow's bits per
//!                     message), words and synaptic operations, as LEB128 varints
//! trailer    tag 2, u32 length + postcard(Trailer): tokens, calibration setup, the report's
//!                     functional figures (JSON, floats as their bits)
//! checksum   u64      [`checksum`] of every byte before it
//! ```
//!
//! Every length and count is checked against a cap before anything is allocated; the
//! checksum is checked before a report is returned.

use crate::report::{self, Report};
use crate::{Error, ModelKind, Result};
use loisim_arch::Chip;
use loisim_compiler::layout::{Axis, Link, LinkId};
use loisim_sim::engine::{FlowWork, TokenWork};
use loisim_sim::timing::{CoreSpec, FlowSpec, Scratch, TimingModel, TimingParts};
use serde::{Deserialize, Serialize};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};

/// The first bytes of every activity file.
pub const MAGIC: [u8; 8] = *b"LOISIMAC";
/// The format version this loisim writes and reads.
pub const VERSION: u32 = 1;
/// Largest header, block or trailer loisim reads: 64 MiB.
pub const MAX_SECTION_BYTES: u32 = 64 << 20;
/// Most tokens (or steps) one block may hold.
pub const MAX_BLOCK_TOKENS: u32 = 1 << 20;
/// Most flows a recorded program may have.
pub const MAX_FLOWS: usize = 1 << 24;
/// Deepest pipeline a recorded S5 program may have (timesteps per token).
pub const MAX_DEPTH: u32 = 1 << 16;
/// Most flow entries the pipeline's window of recent tokens may hold (depth x flows): the
/// memory a replay keeps, 16 bytes each.
pub const MAX_WINDOW_FLOWS: u64 = 1 << 24;
/// Tokens (or steps) per block the writer emits.
const BLOCK_TOKENS: u32 = 1024;
const TAG_BLOCK: u8 = 1;
const TAG_END: u8 = 2;

// ---------------------------------------------------------------------------------------------
// What a file holds
// ---------------------------------------------------------------------------------------------

/// The model kind, as stored.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
enum KindRec {
    S5,
    Netx,
}

/// One core of the structure.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
struct CoreRec {
    stage: u32,
    neurons: u64,
    instructions: f64,
    first_instructions: f64,
}

/// One flow: sender and receiver (core index, or the host), the sender's stage, the links it
/// crosses (indices into the structure's links).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
struct FlowRec {
    src: Option<u32>,
    dst: Option<u32>,
    stage: u32,
    links: Vec<u32>,
}

/// One board link a flow crosses, in board order.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
struct LinkRec {
    from: (u32, u32),
    to: (u32, u32),
    y: bool,
    chip_link: bool,
}

/// What the timing model reads of a mapped program (see [`TimingParts`]); only the board links
/// some flow crosses are kept, renumbered in board order.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
struct Structure {
    depth: u32,
    cores: Vec<CoreRec>,
    flows: Vec<FlowRec>,
    links: Vec<LinkRec>,
    tiles: u32,
    chips: u32,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
struct Header {
    kind: KindRec,
    fall_through: bool,
    pipeline: bool,
    /// netx: the LIF reset interval (what a sample is).
    reset_interval: Option<u32>,
    /// The recording chip, complete (no `extends`).
    chip_toml: String,
    /// FNV-1a 64 of the postcard bytes of `structure`.
    program_hash: u64,
    structure: Structure,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
struct Trailer {
    /// Records (tokens, or priced steps) in the blocks.
    tokens: u64,
    /// Whether the run was the poster's setup (the default model on its full default input).
    calibration_setup: bool,
    /// The run's report without its cost figures, wall clock and files (JSON, floats tagged).
    report: String,
}

impl Structure {
    fn of(parts: &TimingParts<'_>) -> Self {
        let mut used: Vec<u32> = parts
            .flows
            .iter()
            .flat_map(|f| f.links.iter().map(|l| l.0))
            .collect();
        used.sort_unstable();
        used.dedup();
        let renumber = |l: &LinkId| used.partition_point(|&u| u < l.0) as u32;
        Self {
            depth: parts.depth,
            cores: parts
                .cores
                .iter()
                .map(|c| CoreRec {
                    stage: c.stage,
                    neurons: c.neurons,
                    instructions: c.instructions,
                    first_instructions: c.first_instructions,
                })
                .collect(),
            flows: parts
                .flows
                .iter()
                .map(|f| FlowRec {
                    src: f.src.map(|c| c as u32),
                    dst: f.dst.map(|c| c as u32),
                    stage: f.stage,
                    links: f.links.iter().map(renumber).collect(),
                })
                .collect(),
            links: used
                .iter()
                .map(|&l| {
                    let k = parts.links[l as usize];
                    LinkRec {
                        from: k.from,
                        to: k.to,
                        y: k.axis == Axis::Y,
                        chip_link: k.chip_link,
                    }
                })
                .collect(),
            tiles: parts.tiles,
            chips: parts.chips,
        }
    }

    /// Checks what the timing model indexes with, against `chip` (the recording chip).
    fn validate(&self, kind: KindRec, chip: &Chip) -> std::result::Result<(), String> {
        let size = chip.board_size().map_err(|e| e.to_string())?;
        let n_cores = self.cores.len();
        if n_cores == 0 || n_cores as u64 > u64::from(size.cores) {
            return Err(format!(
                "the program has {n_cores} cores; its chip has 1 to {}",
                size.cores
            ));
        }
        if self.links.len() as u64 > u64::from(size.links) {
            return Err(format!(
                "the program crosses {} links; its chip's board has {}",
                self.links.len(),
                size.links
            ));
        }
        // A flow joins two endpoints (cores or the host): at most one per ordered pair.
        let pairs = (n_cores as u64 + 1).saturating_mul(n_cores as u64 + 1);
        if self.flows.len() > MAX_FLOWS || self.flows.len() as u64 > pairs {
            return Err(format!(
                "the program has {} flows; {n_cores} cores and the host have at most {} (and \
                 loisim reads at most {MAX_FLOWS})",
                self.flows.len(),
                pairs.min(MAX_FLOWS as u64)
            ));
        }
        if self.tiles as u64 > n_cores as u64 || self.chips == 0 || self.chips > size.chips {
            return Err(format!(
                "the program uses {} tiles and {} chips for {n_cores} cores on a board of {} chips",
                self.tiles, self.chips, size.chips
            ));
        }
        match kind {
            KindRec::S5 => {
                if self.depth == 0 || self.depth > MAX_DEPTH {
                    return Err(format!(
                        "the program's pipeline is {} timesteps deep; loisim reads 1 to {MAX_DEPTH}",
                        self.depth
                    ));
                }
                let window = u64::from(self.depth).saturating_mul(self.flows.len() as u64);
                if window > MAX_WINDOW_FLOWS {
                    return Err(format!(
                        "the program's pipeline ({} timesteps) times its flows ({}) is more than \
                         the {MAX_WINDOW_FLOWS} loisim replays",
                        self.depth,
                        self.flows.len()
                    ));
                }
            }
            KindRec::Netx => {
                if self.depth != 0 {
                    return Err(format!(
                        "a netx program has one stage; this one has {}",
                        self.depth
                    ));
                }
            }
        }
        if let Some((c, core)) = self
            .cores
            .iter()
            .enumerate()
            .find(|(_, c)| c.stage > self.depth)
        {
            return Err(format!(
                "core {c} is at stage {}, past the program's depth {}",
                core.stage, self.depth
            ));
        }
        for (i, c) in self.cores.iter().enumerate() {
            let finite = c.instructions.is_finite()
                && c.first_instructions.is_finite()
                && c.instructions >= 0.0
                && c.first_instructions >= 0.0;
            if !finite {
                return Err(format!(
                    "core {i} has {} instructions per update: not a finite non-negative number",
                    c.instructions
                ));
            }
        }
        let n_links = self.links.len() as u64;
        for (i, f) in self.flows.iter().enumerate() {
            let bad_core = [f.src, f.dst]
                .into_iter()
                .flatten()
                .find(|&c| c as usize >= n_cores);
            if let Some(c) = bad_core {
                return Err(format!(
                    "flow {i} joins core {c}; the program has {n_cores}"
                ));
            }
            if let Some(&l) = f.links.iter().find(|&&l| u64::from(l) >= n_links) {
                return Err(format!(
                    "flow {i} crosses link {l}; the program crosses {n_links}"
                ));
            }
            let want = f.src.map_or(0, |c| self.cores[c as usize].stage);
            if f.stage != want {
                return Err(format!(
                    "flow {i} is at stage {}; its sender is at stage {want}",
                    f.stage
                ));
            }
        }
        Ok(())
    }

    /// The timing model of this structure on `chip`.
    fn model(&self, chip: &Chip) -> TimingModel {
        let links: Vec<Link> = self
            .links
            .iter()
            .map(|l| Link {
                from: l.from,
                to: l.to,
                axis: if l.y { Axis::Y } else { Axis::X },
                chip_link: l.chip_link,
            })
            .collect();
        TimingModel::from_parts(
            chip,
            &TimingParts {
                depth: self.depth,
                cores: self
                    .cores
                    .iter()
                    .map(|c| CoreSpec {
                        stage: c.stage,
                        neurons: c.neurons,
                        instructions: c.instructions,
                        first_instructions: c.first_instructions,
                    })
                    .collect(),
                flows: self
                    .flows
                    .iter()
                    .map(|f| FlowSpec {
                        src: f.src.map(|c| c as usize),
                        dst: f.dst.map(|c| c as usize),
                        stage: f.stage,
                        links: f.links.iter().map(|&l| LinkId(l)).collect(),
                    })
                    .collect(),
                links: &links,
                tiles: self.tiles,
                chips: self.chips,
            },
        )
    }
}

// ---------------------------------------------------------------------------------------------
// Chip structure and costs
// ---------------------------------------------------------------------------------------------

/// Whether a field of a chip description (as [`Chip::entries`] names it) is a cost parameter,
/// which a replay may change, rather than structure, which it may not: the latency and energy
/// of every counted operation (`noc.hop_x/hop_y/local`, `ops.*`, `io.input_message`,
/// `io.output_message`), link bandwidths and chip-to-chip link costs, the barrier and static
/// power. Everything else (mesh, board size, per-core limits and memory, synapse encoding,
/// message sizes, the I/O router) decides the mapping and the functional work.
#[must_use]
pub fn is_cost_field(chip: &Chip, field: &str) -> bool {
    const COSTS: [&str; 4] = [
        "noc.link_bits_per_ns",
        "board.link_latency_ns",
        "board.link_energy_pj",
        "board.link_bits_per_ns",
    ];
    COSTS.contains(&field)
        || field.starts_with("barrier.")
        || field.starts_with("static.")
        || field.starts_with("power.")
        || chip.op_costs().iter().any(|(name, _)| {
            field
                .strip_prefix(name)
                .is_some_and(|rest| rest == ".latency_ns" || rest == ".energy_pj")
        })
}

/// The first structural field (not a cost parameter) on which `chip` differs from the
/// recording chip, as `(field, recorded value, chip's value)`.
#[must_use]
pub fn structure_difference(recorded: &Chip, chip: &Chip) -> Option<(String, String, String)> {
    let structural = |c: &Chip| -> Vec<(String, String)> {
        c.entries()
            .into_iter()
            .filter(|(f, ..)| !is_cost_field(c, f))
            .map(|(f, v, ..)| (f, v))
            .collect()
    };
    let (a, b) = (structural(recorded), structural(chip));
    for (f, v) in &a {
        match b.iter().find(|(g, _)| g == f) {
            Some((_, w)) if w == v => {}
            Some((_, w)) => return Some((f.clone(), v.clone(), w.clone())),
            None => return Some((f.clone(), v.clone(), "absent".into())),
        }
    }
    b.iter()
        .find(|(g, _)| !a.iter().any(|(f, _)| f == g))
        .map(|(g, w)| (g.clone(), "absent".into(), w.clone()))
}

// ---------------------------------------------------------------------------------------------
// Encoding helpers
// ---------------------------------------------------------------------------------------------

const FNV_OFFSET: u64 = 0xcbf2_9ce4_8422_2325;
const FNV_PRIME: u64 = 0x0000_0100_0000_01b3;

fn fnv(mut h: u64, bytes: &[u8]) -> u64 {
    for &b in bytes {
        h ^= u64::from(b);
        h = h.wrapping_mul(FNV_PRIME);
    }
    h
}

/// FNV-1a 64 of `bytes` (the program hash).
#[must_use]
pub fn fnv1a64(bytes: &[u8]) -> u64 {
    fnv(FNV_OFFSET, bytes)
}

/// The file's checksum: a 64-bit multiply-rotate hash of its bytes taken as little-endian
/// words (8 bytes a step: FNV-1a byte by byte would take a good share of a replay), with the
/// length and a final mix (SplitMix64's).
#[derive(Clone, Copy, Debug)]
pub struct Checksum {
    h: u64,
    tail: u64,
    n_tail: u32,
    len: u64,
}

impl Default for Checksum {
    fn default() -> Self {
        Self {
            h: FNV_OFFSET,
            tail: 0,
            n_tail: 0,
            len: 0,
        }
    }
}

impl Checksum {
    const K: u64 = 0x9e37_79b9_7f4a_7c15;

    #[inline]
    fn word(&mut self, w: u64) {
        self.h = (self.h ^ w).wrapping_mul(Self::K).rotate_left(29);
    }

    /// Adds bytes (any split of the same bytes gives the same checksum).
    pub fn update(&mut self, mut bytes: &[u8]) {
        self.len += bytes.len() as u64;
        while self.n_tail != 0 {
            let Some((&b, rest)) = bytes.split_first() else {
                return;
            };
            self.tail |= u64::from(b) << (8 * self.n_tail);
            self.n_tail += 1;
            bytes = rest;
            if self.n_tail == 8 {
                let w = self.tail;
                self.word(w);
                self.tail = 0;
                self.n_tail = 0;
            }
        }
        let mut chunks = bytes.chunks_exact(8);
        for c in &mut chunks {
            let mut w = [0u8; 8];
            w.copy_from_slice(c);
            self.word(u64::from_le_bytes(w));
        }
        for &b in chunks.remainder() {
            self.tail |= u64::from(b) << (8 * self.n_tail);
            self.n_tail += 1;
        }
    }

    /// The checksum of the bytes so far.
    #[must_use]
    pub fn value(&self) -> u64 {
        let mut c = *self;
        if c.n_tail != 0 {
            let w = c.tail;
            c.word(w);
        }
        let mut z = c.h ^ c.len.wrapping_mul(Self::K);
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
}

/// The checksum of `bytes` (what an activity file's last 8 bytes hold of the bytes before).
#[must_use]
pub fn checksum(bytes: &[u8]) -> u64 {
    let mut c = Checksum::default();
    c.update(bytes);
    c.value()
}

fn put_varint(out: &mut Vec<u8>, mut v: u32) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

/// Reads a LEB128 `u32` (errors are static: the caller names the block).
#[inline]
fn get_varint(bytes: &[u8], pos: &mut usize) -> std::result::Result<u32, &'static str> {
    u32::try_from(get_varint_fast(bytes, pos)?).map_err(|_| "a count is above 2^32")
}

/// Reads a LEB128 `u64`, one- and two-byte numbers first.
#[inline]
fn get_varint_fast(bytes: &[u8], pos: &mut usize) -> std::result::Result<u64, &'static str> {
    // Most numbers of a block fit one or two bytes.
    let p = *pos;
    if let Some(&[b0, b1]) = bytes
        .get(p..p + 2)
        .and_then(|s| <&[u8; 2]>::try_from(s).ok())
    {
        if b0 < 0x80 {
            *pos = p + 1;
            return Ok(u64::from(b0));
        }
        if b1 < 0x80 {
            *pos = p + 2;
            return Ok(u64::from(b0 & 0x7f) | (u64::from(b1) << 7));
        }
    }
    get_varint64(bytes, pos)
}

/// Floats of the report template are stored as their bits, so the replayed report holds
/// exactly the recorded values (JSON text would round-trip them only to the parser's
/// precision).
const FLOAT_TAG: &str = "$f64";

fn tag_floats(v: &mut serde_json::Value) {
    use serde_json::Value;
    match v {
        Value::Number(n) if n.is_f64() => {
            let bits = n.as_f64().unwrap_or_default().to_bits();
            let mut m = serde_json::Map::new();
            m.insert(FLOAT_TAG.into(), Value::String(format!("{bits:016x}")));
            *v = Value::Object(m);
        }
        Value::Array(a) => a.iter_mut().for_each(tag_floats),
        Value::Object(m) => m.values_mut().for_each(tag_floats),
        _ => {}
    }
}

fn untag_floats(v: &mut serde_json::Value) -> std::result::Result<(), String> {
    use serde_json::Value;
    match v {
        Value::Object(m) if m.len() == 1 && m.contains_key(FLOAT_TAG) => {
            let bits = m
                .get(FLOAT_TAG)
                .and_then(Value::as_str)
                .and_then(|s| u64::from_str_radix(s, 16).ok())
                .ok_or("a float of the report is not 16 hexadecimal digits")?;
            let n = serde_json::Number::from_f64(f64::from_bits(bits))
                .ok_or("a float of the report is not finite")?;
            *v = Value::Number(n);
        }
        Value::Array(a) => {
            for x in a {
                untag_floats(x)?;
            }
        }
        Value::Object(m) => {
            for x in m.values_mut() {
                untag_floats(x)?;
            }
        }
        _ => {}
    }
    Ok(())
}

/// The report without what a replay computes again or cannot know.
fn template(report: &Report) -> Result<String> {
    let mut t = report.clone();
    t.fall_through = None;
    t.pipeline = None;
    t.calibration_targets = None;
    t.sim = report::SimSpeed::default();
    t.outputs = report::Outputs::default();
    t.probe_dir = None;
    let mut v = serde_json::to_value(&t)
        .map_err(|e| Error::Invalid(format!("cannot record the report: {e}")))?;
    tag_floats(&mut v);
    Ok(v.to_string())
}

fn untemplate(text: &str) -> std::result::Result<Report, String> {
    let mut v: serde_json::Value =
        serde_json::from_str(text).map_err(|e| format!("its report does not parse: {e}"))?;
    untag_floats(&mut v)?;
    serde_json::from_value(v).map_err(|e| format!("its report does not parse: {e}"))
}

// ---------------------------------------------------------------------------------------------
// Writing
// ---------------------------------------------------------------------------------------------

/// What a recording describes, besides its structure.
#[derive(Clone, Copy, Debug)]
pub(crate) struct RecordingOf {
    pub kind: ModelKind,
    pub fall_through: bool,
    pub pipeline: bool,
    pub reset_interval: Option<u32>,
}

/// Writes an activity file (to a staged path: moved into place by the caller's staging once
/// the run has succeeded).
#[derive(Debug)]
pub(crate) struct Recorder {
    out: std::io::BufWriter<std::fs::File>,
    path: PathBuf,
    hash: Checksum,
    block: Vec<u8>,
    block_tokens: u32,
    tokens: u64,
    n_flows: usize,
    codec: Codec,
    error: Option<std::io::Error>,
}

impl Recorder {
    /// Starts a file at `path` for a program whose timing model reads `parts` on `chip`.
    pub(crate) fn create(
        path: &Path,
        of: RecordingOf,
        chip: &Chip,
        parts: &TimingParts<'_>,
    ) -> Result<Self> {
        let structure = Structure::of(parts);
        let program_hash =
            fnv1a64(&postcard::to_stdvec(&structure).map_err(|e| {
                Error::Invalid(format!("cannot record the program's structure: {e}"))
            })?);
        let header = Header {
            kind: match of.kind {
                ModelKind::S5 => KindRec::S5,
                // A NIR graph runs as its lowered netx network; its recording is that run's.
                ModelKind::Netx | ModelKind::Nir => KindRec::Netx,
            },
            fall_through: of.fall_through,
            pipeline: of.pipeline,
            reset_interval: of.reset_interval,
            chip_toml: chip.to_toml(),
            program_hash,
            structure,
        };
        let bytes = postcard::to_stdvec(&header)
            .map_err(|e| Error::Invalid(format!("cannot record the program's structure: {e}")))?;
        let len = u32::try_from(bytes.len())
            .ok()
            .filter(|&n| n <= MAX_SECTION_BYTES)
            .ok_or_else(|| {
                Error::Invalid(format!(
                    "the program's structure takes {} bytes, more than the {MAX_SECTION_BYTES} an activity file holds",
                    bytes.len()
                ))
            })?;
        let file = std::fs::File::create(path).map_err(|e| Error::io("cannot write", path, e))?;
        let mut r = Self {
            out: std::io::BufWriter::new(file),
            path: path.to_path_buf(),
            hash: Checksum::default(),
            block: Vec::new(),
            block_tokens: 0,
            tokens: 0,
            n_flows: header.structure.flows.len(),
            codec: Codec::new(header.structure.flows.len()),
            error: None,
        };
        r.put(&MAGIC);
        r.put(&VERSION.to_le_bytes());
        r.put(&len.to_le_bytes());
        r.put(&bytes);
        Ok(r)
    }

    fn put(&mut self, bytes: &[u8]) {
        if self.error.is_none() {
            self.hash.update(bytes);
            if let Err(e) = self.out.write_all(bytes) {
                self.error = Some(e);
            }
        }
    }

    /// Records the work of the next token (or priced step), per flow.
    pub(crate) fn token(&mut self, flows: &[FlowWork]) {
        debug_assert_eq!(flows.len(), self.n_flows);
        self.codec.encode(flows, &mut self.block);
        self.block_tokens += 1;
        self.tokens += 1;
        if self.block_tokens == BLOCK_TOKENS || self.block.len() >= (MAX_SECTION_BYTES / 2) as usize
        {
            self.flush_block();
        }
    }

    fn flush_block(&mut self) {
        if self.block_tokens == 0 {
            return;
        }
        let block = std::mem::take(&mut self.block);
        self.put(&[TAG_BLOCK]);
        self.put(&self.block_tokens.to_le_bytes());
        // Below MAX_SECTION_BYTES: a block is flushed once it passes half of it, and one
        // token adds at most 25 bytes per flow of at most MAX_FLOWS.
        self.put(&(block.len() as u32).to_le_bytes());
        self.put(&block);
        self.block = block;
        self.block.clear();
        self.block_tokens = 0;
    }

    /// Ends the file with the run's report (its functional figures) and the checksum.
    pub(crate) fn finish(mut self, report: &Report, calibration_setup: bool) -> Result<()> {
        self.flush_block();
        let trailer = Trailer {
            tokens: self.tokens,
            calibration_setup,
            report: template(report)?,
        };
        let bytes = postcard::to_stdvec(&trailer)
            .map_err(|e| Error::Invalid(format!("cannot record the report: {e}")))?;
        self.put(&[TAG_END]);
        self.put(&(bytes.len() as u32).to_le_bytes());
        self.put(&bytes);
        let sum = self.hash.value();
        self.put(&sum.to_le_bytes());
        if let Some(e) = self.error.take() {
            return Err(Error::io("cannot write", &self.path, e));
        }
        let path = self.path.clone();
        self.out
            .into_inner()
            .map_err(|e| Error::io("cannot write", &path, e.into_error()))?
            .sync_all()
            .map_err(|e| Error::io("cannot write", &path, e))
    }
}

/// A [`Recorder`] a simulation session feeds (the session owns its sink; the run takes the
/// recorder back when the session is done).
#[derive(Debug, Clone)]
pub(crate) struct SharedRecorder(pub Arc<Mutex<Option<Recorder>>>);

impl SharedRecorder {
    pub(crate) fn new(r: Recorder) -> Self {
        Self(Arc::new(Mutex::new(Some(r))))
    }

    /// The recorder, once the session is done.
    pub(crate) fn take(&self) -> Option<Recorder> {
        self.0.lock().unwrap_or_else(PoisonError::into_inner).take()
    }
}

impl loisim_sim::WorkSink for SharedRecorder {
    fn token(&mut self, work: &TokenWork) {
        if let Some(r) = self
            .0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .as_mut()
        {
            r.token(&work.flows);
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Reading and replaying
// ---------------------------------------------------------------------------------------------

/// Reads a stream, hashing what it reads.
struct Stream<R> {
    r: R,
    hash: Checksum,
    name: String,
}

impl<R: Read> Stream<R> {
    fn bad(&self, why: impl std::fmt::Display) -> Error {
        Error::Invalid(format!("{}: {why}", self.name))
    }

    fn exact(&mut self, buf: &mut [u8], what: &str) -> Result<()> {
        match self.r.read_exact(buf) {
            Ok(()) => {
                self.hash.update(buf);
                Ok(())
            }
            Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => Err(self.bad(format!(
                "the activity file is truncated (it ends inside {what})"
            ))),
            Err(e) => Err(Error::io("cannot read", &self.name, e)),
        }
    }

    fn u8(&mut self, what: &str) -> Result<u8> {
        let mut b = [0u8; 1];
        self.exact(&mut b, what)?;
        Ok(b[0])
    }

    fn u32(&mut self, what: &str) -> Result<u32> {
        let mut b = [0u8; 4];
        self.exact(&mut b, what)?;
        Ok(u32::from_le_bytes(b))
    }

    /// A length-prefixed section of at most [`MAX_SECTION_BYTES`], read as it arrives (a
    /// length larger than the file allocates nothing).
    fn section(&mut self, what: &str) -> Result<Vec<u8>> {
        let len = self.u32(what)?;
        if len > MAX_SECTION_BYTES {
            return Err(self.bad(format!(
                "{what} is {len} bytes, more than the {MAX_SECTION_BYTES} loisim reads"
            )));
        }
        let mut buf = Vec::new();
        (&mut self.r)
            .take(u64::from(len))
            .read_to_end(&mut buf)
            .map_err(|e| Error::io("cannot read", &self.name, e))?;
        if buf.len() != len as usize {
            return Err(self.bad(format!(
                "the activity file is truncated (it ends inside {what})"
            )));
        }
        self.hash.update(&buf);
        Ok(buf)
    }

    /// Reads the magic, the version and the header's bytes.
    fn header(&mut self) -> Result<Vec<u8>> {
        let mut magic = [0u8; 8];
        let n = read_up_to(&mut self.r, &mut magic)
            .map_err(|e| Error::io("cannot read", &self.name, e))?;
        if n < MAGIC.len() || magic != MAGIC {
            return Err(self
                .bad("not a loisim activity file (record one with `loisim run --activity FILE`)"));
        }
        self.hash.update(&magic);
        let version = self.u32("the version")?;
        if version != VERSION {
            return Err(self.bad(format!(
                "activity file version {version}; this loisim reads version {VERSION} (record the run again with this loisim)"
            )));
        }
        self.section("the header")
    }

    /// Decodes a header read by [`Stream::header`] and checks it: the header and its
    /// recording chip.
    fn parse_header(&self, bytes: &[u8]) -> Result<(Header, Chip)> {
        let header: Header = postcard::from_bytes(bytes)
            .map_err(|e| self.bad(format!("the header is damaged ({e})")))?;
        let chip = checked(self, &header)?;
        Ok((header, chip))
    }
}

/// Reads until `buf` is full or the stream ends; returns the bytes read.
fn read_up_to(r: &mut impl Read, buf: &mut [u8]) -> std::io::Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        match r.read(&mut buf[n..]) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(n)
}

/// The encoding of a token's work (or a netx step's): the count of flows that carry work
/// (with a flag), a bitmap of them when at least one in eight does, then per such flow, in
/// index order, the gap from the previous one (without a bitmap), its messages, its bits less
/// the messages times the flow's bits per message (the first seen on the flow: one message's
/// bits are the same on most flows, so this is mostly 0), its words and its synaptic
/// operations, all LEB128 varints (the bits' residual zigzag-coded). The writer and the reader
/// keep the same bits per message of every flow.
#[derive(Clone, Debug)]
struct Codec {
    bits_per_msg: Vec<u32>,
}

impl Codec {
    fn new(n_flows: usize) -> Self {
        Self {
            bits_per_msg: vec![0; n_flows],
        }
    }

    /// The predicted bits of `msgs` messages on flow `i`.
    #[inline]
    fn predicted(&self, i: usize, msgs: u32) -> u64 {
        (u64::from(msgs) * u64::from(self.bits_per_msg[i])).min(u64::from(u32::MAX))
    }

    #[inline]
    fn learn(&mut self, i: usize, w: &FlowWork) {
        if self.bits_per_msg[i] == 0 && w.msgs > 0 {
            self.bits_per_msg[i] = w.bits / w.msgs;
        }
    }

    fn encode(&mut self, flows: &[FlowWork], out: &mut Vec<u8>) {
        let n = flows.len();
        let nnz = flows.iter().filter(|w| **w != FlowWork::default()).count();
        let dense = nnz >= n.div_ceil(8);
        put_varint(out, ((nnz as u32) << 1) | u32::from(dense));
        if dense {
            let start = out.len();
            out.resize(start + n.div_ceil(8), 0);
            for (i, w) in flows.iter().enumerate() {
                if *w != FlowWork::default() {
                    out[start + i / 8] |= 1 << (i % 8);
                }
            }
        }
        let mut next = 0usize;
        for (i, w) in flows.iter().enumerate() {
            if *w == FlowWork::default() {
                continue;
            }
            if !dense {
                put_varint(out, (i - next) as u32);
                next = i + 1;
            }
            let residual = i64::from(w.bits) - self.predicted(i, w.msgs) as i64;
            put_varint(out, w.msgs);
            put_varint64(out, ((residual << 1) ^ (residual >> 63)) as u64);
            put_varint(out, w.words);
            put_varint(out, w.synops);
            self.learn(i, w);
        }
    }

    /// Decodes one flow's work.
    #[inline]
    fn flow(
        &mut self,
        i: usize,
        bytes: &[u8],
        pos: &mut usize,
    ) -> std::result::Result<FlowWork, &'static str> {
        let msgs = get_varint(bytes, pos)?;
        let z = get_varint_fast(bytes, pos)?;
        let residual = ((z >> 1) as i64) ^ -((z & 1) as i64);
        let bits = (self.predicted(i, msgs) as i64)
            .checked_add(residual)
            .and_then(|b| u32::try_from(b).ok())
            .ok_or("a flow's bits are out of range")?;
        let w = FlowWork {
            msgs,
            bits,
            words: get_varint(bytes, pos)?,
            synops: get_varint(bytes, pos)?,
        };
        self.learn(i, &w);
        Ok(w)
    }

    /// Decodes one token's work into `work` (every flow is written).
    fn decode(
        &mut self,
        bytes: &[u8],
        pos: &mut usize,
        work: &mut [FlowWork],
    ) -> std::result::Result<(), &'static str> {
        let n_flows = work.len();
        let head = get_varint(bytes, pos)?;
        let (nnz, dense) = ((head >> 1) as usize, head & 1 == 1);
        if nnz > n_flows {
            return Err("a token has work on more flows than the program has");
        }
        work.fill(FlowWork::default());
        if dense {
            let len = n_flows.div_ceil(8);
            let map = bytes
                .get(*pos..*pos + len)
                .ok_or("it ends inside a token")?;
            *pos += len;
            let count: usize = map.iter().map(|b| b.count_ones() as usize).sum();
            let spare = map.last().map_or(0, |&b| {
                let used = n_flows - 8 * (len - 1);
                if used < 8 { b >> used } else { 0 }
            });
            if count != nnz || spare != 0 {
                return Err("a token's flow map does not match its count");
            }
            for (k, &byte) in map.iter().enumerate() {
                let mut m = byte;
                while m != 0 {
                    let i = 8 * k + m.trailing_zeros() as usize;
                    work[i] = self.flow(i, bytes, pos)?;
                    m &= m - 1;
                }
            }
        } else {
            let mut next = 0usize;
            for _ in 0..nnz {
                let i = next + get_varint(bytes, pos)? as usize;
                if i >= n_flows {
                    return Err("a token has work on a flow the program does not have");
                }
                work[i] = self.flow(i, bytes, pos)?;
                next = i + 1;
            }
        }
        Ok(())
    }
}

fn put_varint64(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

/// Reads a LEB128 `u64`.
fn get_varint64(bytes: &[u8], pos: &mut usize) -> std::result::Result<u64, &'static str> {
    let mut v: u64 = 0;
    for shift in (0..64).step_by(7) {
        let Some(&b) = bytes.get(*pos) else {
            return Err("it ends inside a number");
        };
        *pos += 1;
        v |= u64::from(b & 0x7f) << shift;
        if b & 0x80 == 0 {
            return Ok(v);
        }
    }
    Err("a number is longer than 10 bytes")
}

/// What a header says, for display.
#[derive(Clone, Debug, PartialEq)]
pub struct ActivityInfo {
    /// The model's kind.
    pub kind: ModelKind,
    /// The recording chip.
    pub chip: Chip,
    /// FNV-1a 64 of the recorded program structure.
    pub program_hash: u64,
    /// Cores of the program.
    pub cores: usize,
    /// Flows of the program.
    pub flows: usize,
}

/// An activity file, opened: its header read and checked.
#[derive(Debug)]
pub struct Activity {
    path: PathBuf,
    /// The header's bytes, to know it again when replaying.
    raw: Vec<u8>,
    header: Header,
    chip: Chip,
}

impl Activity {
    /// Opens `path` and reads its header.
    ///
    /// # Errors
    /// An unreadable file, not an activity file, another version, a damaged header.
    pub fn open(path: &Path) -> Result<Self> {
        if path.is_dir() {
            return Err(Error::Invalid(format!(
                "cannot read {}: it is a directory",
                path.display()
            )));
        }
        let f = std::fs::File::open(path).map_err(|e| Error::io("cannot read", path, e))?;
        let mut s = Stream {
            r: std::io::BufReader::new(f),
            hash: Checksum::default(),
            name: path.display().to_string(),
        };
        let raw = s.header()?;
        let (header, chip) = s.parse_header(&raw)?;
        Ok(Self {
            path: path.to_path_buf(),
            raw,
            header,
            chip,
        })
    }

    /// What the header says.
    #[must_use]
    pub fn info(&self) -> ActivityInfo {
        ActivityInfo {
            kind: match self.header.kind {
                KindRec::S5 => ModelKind::S5,
                KindRec::Netx => ModelKind::Netx,
            },
            chip: self.chip.clone(),
            program_hash: self.header.program_hash,
            cores: self.header.structure.cores.len(),
            flows: self.header.structure.flows.len(),
        }
    }

    /// The chip the run was recorded on.
    #[must_use]
    pub fn recorded_chip(&self) -> &Chip {
        &self.chip
    }

    /// Prices the recorded work on `chip` (default: the recording chip): the report a full run
    /// of the same model and input on `chip` gives, but for its wall-clock figures (`sim`),
    /// the files it wrote (`outputs`, `probe_dir`).
    ///
    /// # Errors
    /// A chip whose structure differs from the recording chip's (the message names the
    /// field), a damaged or truncated file.
    pub fn replay(&self, chip: Option<&Chip>) -> Result<Report> {
        let f =
            std::fs::File::open(&self.path).map_err(|e| Error::io("cannot read", &self.path, e))?;
        replay_stream(
            Stream {
                r: std::io::BufReader::with_capacity(1 << 16, f),
                hash: Checksum::default(),
                name: self.path.display().to_string(),
            },
            chip,
            Some(self),
        )
    }
}

/// Replays activity-file bytes held in memory (`name` names them in messages).
///
/// # Errors
/// As [`Activity::replay`].
pub fn replay_bytes(name: &str, bytes: &[u8], chip: Option<&Chip>) -> Result<Report> {
    replay_stream(
        Stream {
            r: bytes,
            hash: Checksum::default(),
            name: name.to_string(),
        },
        chip,
        None,
    )
}

/// The recording chip of a header, with the structure checked against it.
fn checked<R: Read>(s: &Stream<R>, header: &Header) -> Result<Chip> {
    let chip = Chip::from_toml(&header.chip_toml, "in the header")
        .map_err(|e| s.bad(format!("the recording chip is damaged ({e})")))?;
    header
        .structure
        .validate(header.kind, &chip)
        .map_err(|e| s.bad(format!("the header is damaged: {e}")))?;
    if header.kind == KindRec::S5 && !header.fall_through && !header.pipeline
        || header.kind == KindRec::Netx && (header.fall_through || !header.pipeline)
    {
        return Err(s.bad("the header is damaged: its modes do not suit its kind of model"));
    }
    Ok(chip)
}

/// Sums of the priced steps of a netx run.
#[derive(Debug, Default)]
pub(crate) struct NetxTotals {
    pub steps: u64,
    pub total_ns: f64,
    pub max_ns: f64,
    pub energy: loisim_sim::timing::EnergyBreakdown,
    pub synops: u64,
    pub msgs: u64,
}

impl NetxTotals {
    pub(crate) fn add(&mut self, st: &loisim_sim::timing::Step) {
        self.steps += 1;
        self.total_ns += st.duration_ns;
        self.max_ns = self.max_ns.max(st.duration_ns);
        self.energy.add(&st.energy);
        self.synops += st.synops;
        self.msgs += st.msgs;
    }
}

/// What the priced steps add up to (one value per replay: its size does not matter).
#[allow(clippy::large_enum_variant)]
enum Priced {
    S5(
        Option<loisim_sim::ModeResult>,
        Option<loisim_sim::ModeResult>,
    ),
    Netx(NetxTotals),
}

/// Tokens a batch sent to the fall-through thread holds.
const BATCH_TOKENS: usize = 64;

/// Replays a stream; `known` is the same file opened before (its header is not decoded and
/// checked again when the stream's is the same).
fn replay_stream<R: Read + Send>(
    mut s: Stream<R>,
    chip: Option<&Chip>,
    known: Option<&Activity>,
) -> Result<Report> {
    let started = std::time::Instant::now();
    let raw = s.header()?;
    let parsed;
    let (header, recorded) = match known {
        Some(a) if a.raw == raw => (&a.header, &a.chip),
        _ => {
            parsed = s.parse_header(&raw)?;
            (&parsed.0, &parsed.1)
        }
    };
    let chip = chip.unwrap_or(recorded);
    if let Some((field, was, is)) = structure_difference(recorded, chip) {
        return Err(Error::Invalid(format!(
            "chip `{}`: {field} is {is}, and {was} in the recording chip `{}`; a replay prices \
             the recorded work at another chip's costs, on the same structure (run the model \
             again on this chip)",
            chip.name, recorded.name
        )));
    }
    let st = &header.structure;
    let n_flows = st.flows.len();
    let model = st.model(chip);
    let modes = |fall_through, pipeline| loisim_sim::SimOptions {
        fall_through,
        pipeline,
        threads: 1,
    };
    let (trailer, tokens, priced) = match header.kind {
        KindRec::S5 if header.fall_through && header.pipeline => {
            // The modes share nothing: fall-through (a timestep per stage of every token) is
            // priced on a second thread, while this one reads, decodes and prices pipeline
            // mode (a timestep per token, every stage): about even shares. The second thread
            // hands the buffers back.
            std::thread::scope(|sc| {
                let (tx, rx) = std::sync::mpsc::sync_channel::<Vec<TokenWork>>(8);
                let (back_tx, back_rx) = std::sync::mpsc::channel::<Vec<TokenWork>>();
                let ft_model = model.clone();
                let worker = sc.spawn(move || {
                    let mut ft = loisim_sim::Replay::new(ft_model, &modes(true, false));
                    for batch in rx {
                        for w in &batch {
                            ft.token_ref(w);
                        }
                        // Nobody takes them back once the reading has ended.
                        let _ = back_tx.send(batch);
                    }
                    ft.finish().0
                });
                let mut pl = loisim_sim::Replay::new(model, &modes(false, true));
                let mut batch = Vec::with_capacity(BATCH_TOKENS);
                let mut pool: Vec<TokenWork> = Vec::new();
                let body = read_body(
                    &mut s,
                    n_flows,
                    || {
                        if pool.is_empty() {
                            pool = back_rx.try_recv().unwrap_or_default();
                        }
                        pool.pop()
                    },
                    |w| {
                        pl.token_ref(&w);
                        batch.push(w);
                        if batch.len() == BATCH_TOKENS {
                            // The receiver lives until every batch is sent.
                            let _ = tx.send(std::mem::replace(
                                &mut batch,
                                Vec::with_capacity(BATCH_TOKENS),
                            ));
                        }
                        None
                    },
                );
                let _ = tx.send(batch);
                drop(tx);
                let ft = worker
                    .join()
                    .unwrap_or_else(|e| std::panic::resume_unwind(e));
                body.map(|(t, n)| (t, n, Priced::S5(ft, pl.finish().1)))
            })?
        }
        KindRec::S5 => {
            let mut r =
                loisim_sim::Replay::new(model, &modes(header.fall_through, header.pipeline));
            let (t, n) = read_body(
                &mut s,
                n_flows,
                || None,
                |w| {
                    r.token_ref(&w);
                    Some(w)
                },
            )?;
            let (ft, pl) = r.finish();
            (t, n, Priced::S5(ft, pl))
        }
        KindRec::Netx => {
            let mut scratch = Scratch::default();
            let mut totals = NetxTotals::default();
            let (t, n) = read_body(
                &mut s,
                n_flows,
                || None,
                |w| {
                    totals.add(&model.step(&[(0, &w)], &mut scratch));
                    Some(w)
                },
            )?;
            (t, n, Priced::Netx(totals))
        }
    };
    let mut r =
        untemplate(&trailer.report).map_err(|e| s.bad(format!("the trailer is damaged: {e}")))?;
    r.chip = Some(chip.name.clone());
    r.board = Some(chip.board.name.clone());
    let wall_s = started.elapsed().as_secs_f64();
    match priced {
        Priced::S5(ft, pl) => {
            if r.tokens as u64 != tokens {
                return Err(s.bad(format!(
                    "the activity file is damaged: its report counts {} tokens and its blocks hold {tokens}",
                    r.tokens
                )));
            }
            r.fall_through = ft.as_ref().map(report::FallThrough::of);
            r.pipeline = pl.as_ref().map(report::Pipeline::of);
            if trailer.calibration_setup && *chip == Chip::default_chip() {
                r.calibration_targets = Some(report::CalibrationTargets::poster(
                    r.fall_through.as_ref(),
                    r.pipeline.as_ref(),
                ));
            }
            r.sim = report::SimSpeed::new(wall_s, 1, r.tokens, r.synops());
        }
        Priced::Netx(totals) => {
            let steps = totals.steps;
            r.pipeline = Some(crate::netx::netx_pipeline(
                &totals,
                steps,
                header.reset_interval,
            ));
            let synops: u64 = r.layers.iter().map(|l| l.syn_ops).sum();
            r.sim = report::SimSpeed::new(wall_s, 1, steps as usize, synops);
        }
    }
    r.outputs = report::Outputs::default();
    r.probe_dir = None;
    Ok(r)
}

/// Reads the blocks, the trailer and the checksum after the header, handing every token's work
/// to `price` in order; returns the trailer and the tokens read.
///
/// `price` may hand the work's buffer back for the next token; otherwise `spare` is asked for
/// one (buffers priced on another thread come back that way), and a new one made without.
fn read_body<R: Read + Send>(
    s: &mut Stream<R>,
    n_flows: usize,
    mut spare: impl FnMut() -> Option<TokenWork>,
    mut price: impl FnMut(TokenWork) -> Option<TokenWork>,
) -> Result<(Trailer, u64)> {
    let mut tokens: u64 = 0;
    let mut codec = Codec::new(n_flows);
    let mut kept: Option<TokenWork> = None;
    let trailer = loop {
        match s.u8("a block tag")? {
            TAG_BLOCK => {
                let n = s.u32("a block's token count")?;
                if n == 0 || n > MAX_BLOCK_TOKENS {
                    return Err(s.bad(format!(
                        "a block holds {n} tokens; loisim reads 1 to {MAX_BLOCK_TOKENS}"
                    )));
                }
                let bytes = s.section("a block")?;
                let mut pos = 0;
                for _ in 0..n {
                    let mut work = kept
                        .take()
                        .or_else(&mut spare)
                        .unwrap_or_else(|| TokenWork {
                            flows: vec![FlowWork::default(); n_flows],
                        });
                    codec
                        .decode(&bytes, &mut pos, &mut work.flows)
                        .map_err(|e| s.bad(format!("a block is damaged ({e})")))?;
                    kept = price(work);
                }
                if pos != bytes.len() {
                    return Err(s.bad(format!(
                        "a block is damaged: {} bytes follow its {n} tokens",
                        bytes.len() - pos
                    )));
                }
                tokens += u64::from(n);
            }
            TAG_END => {
                let bytes = s.section("the trailer")?;
                break postcard::from_bytes::<Trailer>(&bytes)
                    .map_err(|e| s.bad(format!("the trailer is damaged ({e})")))?;
            }
            t => return Err(s.bad(format!("unknown block tag {t} (the file is damaged)"))),
        }
    };
    let want = s.hash.value();
    let mut sum = [0u8; 8];
    let n = read_up_to(&mut s.r, &mut sum).map_err(|e| Error::io("cannot read", &s.name, e))?;
    if n < sum.len() {
        return Err(s.bad("the activity file is truncated (it ends inside the checksum)"));
    }
    if u64::from_le_bytes(sum) != want {
        return Err(s.bad("the activity file is damaged (its checksum does not match)"));
    }
    let mut rest = [0u8; 1];
    if read_up_to(&mut s.r, &mut rest).map_err(|e| Error::io("cannot read", &s.name, e))? != 0 {
        return Err(s.bad("the activity file is damaged (bytes follow its checksum)"));
    }
    if trailer.tokens != tokens {
        return Err(s.bad(format!(
            "the activity file is damaged: its trailer counts {} tokens and its blocks hold {tokens}",
            trailer.tokens
        )));
    }
    Ok((trailer, tokens))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn w(msgs: u32, bits: u32, words: u32, synops: u32) -> FlowWork {
        FlowWork {
            msgs,
            bits,
            words,
            synops,
        }
    }

    #[test]
    fn the_codec_round_trips_sparse_dense_and_extreme_work() {
        let z = FlowWork::default();
        let tokens: Vec<Vec<FlowWork>> = vec![
            // Sparse: gaps.
            vec![z, w(3, 96, 4, 9), z, z, z, z, z, z, z, z, z, w(1, 40, 1, 2)],
            // Dense: a bitmap; bits off the flow's bits per message (a mixed-width flow).
            (0..12u32)
                .map(|i| w(i + 1, 32 * (i + 1) + i, i, 3 * i))
                .collect(),
            // Extremes.
            vec![
                w(u32::MAX, u32::MAX, u32::MAX, u32::MAX),
                w(1, 0, 0, 0),
                w(0, 7, 0, 0),
                w(u32::MAX, 0, 1, 1),
                z,
                z,
                z,
                z,
                z,
                z,
                z,
                w(2, u32::MAX, 0, 0),
            ],
            vec![z; 12],
        ];
        let mut enc = Codec::new(12);
        let mut bytes = Vec::new();
        for t in &tokens {
            enc.encode(t, &mut bytes);
        }
        let mut dec = Codec::new(12);
        let mut pos = 0;
        let mut got = vec![w(9, 9, 9, 9); 12];
        for t in &tokens {
            dec.decode(&bytes, &mut pos, &mut got).expect("decodes");
            assert_eq!(&got, t);
        }
        assert_eq!(pos, bytes.len());
    }

    #[test]
    fn the_checksum_does_not_depend_on_how_the_bytes_are_split() {
        let bytes: Vec<u8> = (0..100u32).map(|i| (i * 37 % 251) as u8).collect();
        let whole = checksum(&bytes);
        for cut in [0, 1, 3, 7, 8, 9, 50, 99, 100] {
            let mut c = Checksum::default();
            c.update(&bytes[..cut]);
            c.update(&bytes[cut..]);
            assert_eq!(c.value(), whole, "cut at {cut}");
        }
        // A flip anywhere, in a whole word or in the bytes after the last one, shows.
        for at in [0, 63, 97, 99] {
            let mut flipped = bytes.clone();
            flipped[at] ^= 0x80;
            assert_ne!(checksum(&flipped), whole, "flip at {at}");
        }
        assert_ne!(checksum(&bytes[..99]), whole);
    }
}
