//! Design-space sweeps: a SPEC (TOML) names fixed parameters and axes; every point of the axes'
//! grid is a run, and each run gives one row (CSV and JSON lines). docs/sweeps.md describes the
//! SPEC and the files; docs/cluster.md runs sweeps as Slurm arrays and Kubernetes Indexed Jobs.
//!
//! - The grid is row-major over the axes in the SPEC's order (the last axis varies fastest);
//!   a point's index in it is its `point_id`.
//! - A point is a pure function of the SPEC: rows never carry wall-clock, host or thread
//!   figures, floats are written as the shortest decimal that reads back to the same `f64`
//!   (Rust's `{}`: never an exponent), so any split of the points (shards, threads, resumed
//!   runs) gives the same bytes.
//! - Points that differ only in chip cost parameters share a run: the first one is simulated
//!   with its activity recorded, the others are priced by replaying that activity
//!   ([`crate::replay`]), which gives the figures a full run gives.
//! - Each finished point is written at once, atomically, as `points/p<ID>.row` in the output
//!   directory: a rerun skips it (resume). This is the one exception to "a failed run leaves
//!   nothing". `rows.csv` and `rows.jsonl` hold every point of the directory, sorted by id.
//! - [`merge`] combines the directories of shards (`--shard I/N`: the points whose id is `I`
//!   modulo `N`) into the files an unsharded run writes, byte for byte.
//!
//! The library does no terminal I/O: progress is a callback.

use crate::{Chip, CompileOptions, Error, Input, Modes, RunOptions, Simulation};
use loisim_import::synth::{Distribution, GenConfig};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashMap};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, OnceLock, PoisonError};

/// The largest SPEC file loisim reads.
pub const MAX_SPEC_BYTES: u64 = 1 << 20;
/// The most points a sweep may have (the product of its axes' lengths).
pub const MAX_POINTS: u64 = 100_000;
/// The SPEC format version this loisim reads (`version = 1`, optional).
pub const SPEC_VERSION: i64 = 1;
/// The name of the output directory's format, in its manifest.
pub const FORMAT: &str = "loisim-sweep";
/// The output directory's format version.
pub const FORMAT_VERSION: u32 = 1;
/// Most tokens a point may run.
pub const MAX_TOKENS: i64 = 10_000_000;
/// Most placer sweeps a point may ask for.
pub const MAX_PLACE_SWEEPS: i64 = 10_000;

/// Everything that can go wrong with a sweep. Every message is one line.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SweepError {
    /// The SPEC is unreadable, malformed or inconsistent.
    #[error("{origin}: {message}")]
    Spec {
        /// The file (or what stands for it).
        origin: String,
        /// What is wrong.
        message: String,
    },
    /// An output or shard directory cannot be used.
    #[error("{}: {message}", .dir.display())]
    Dir {
        /// The directory.
        dir: PathBuf,
        /// Why.
        message: String,
    },
    /// A file could not be read or written.
    #[error("{what} {}: {source}", .path.display())]
    Io {
        /// What was being done.
        what: &'static str,
        /// The path.
        path: PathBuf,
        /// The system's reason.
        source: std::io::Error,
    },
    /// Bad arguments.
    #[error("{0}")]
    Invalid(String),
    /// Drawing the figures.
    #[error(transparent)]
    Plot(#[from] loisim_trace::plot::PlotError),
}

fn io_err(what: &'static str, path: &Path, source: std::io::Error) -> SweepError {
    SweepError::Io {
        what,
        path: path.to_path_buf(),
        source,
    }
}

// ---------------------------------------------------------------------------------------------
// Parameters and values
// ---------------------------------------------------------------------------------------------

/// A parameter a SPEC may fix or sweep.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Param {
    /// Generator: width multiplier (`loisim gen --width`).
    Width,
    /// Generator: S5 blocks (`--layers`).
    Layers,
    /// Generator: weight sparsity, 0 = dense (`--sparsity`).
    Sparsity,
    /// Generator: `erk` or `uniform` (`--distribution`).
    Distribution,
    /// Generator: random seed (`--seed`).
    Seed,
    /// A model file: `model.bin` (S5) or a lava-dl netx `.net`.
    Network,
    /// The chip: a preset or a chip TOML file.
    Chip,
    /// A chip cost parameter (`ops.synop.latency_ns`, as [`Chip::cost_param_mut`] names it).
    Cost(String),
    /// Compiler: most neurons of one population per core.
    MaxNeuronsPerCore,
    /// Compiler: improvement sweeps of the placer.
    PlaceSweeps,
    /// `fall-through`, `pipeline` or `both`.
    Mode,
    /// `default` (the shipped clip's features) or an input file.
    Input,
    /// Run only the first N tokens (S5).
    Tokens,
    /// Steps to run (netx).
    Steps,
}

/// The parameter names a SPEC knows, besides chip cost parameters.
pub const PARAMS: [&str; 13] = [
    "width",
    "layers",
    "sparsity",
    "distribution",
    "seed",
    "network",
    "chip",
    "max_neurons_per_core",
    "place_sweeps",
    "mode",
    "input",
    "tokens",
    "steps",
];

impl Param {
    /// The parameter named `key`, if any.
    #[must_use]
    pub fn from_key(key: &str) -> Option<Self> {
        Some(match key {
            "width" => Self::Width,
            "layers" => Self::Layers,
            "sparsity" => Self::Sparsity,
            "distribution" => Self::Distribution,
            "seed" => Self::Seed,
            "network" => Self::Network,
            "chip" => Self::Chip,
            "max_neurons_per_core" => Self::MaxNeuronsPerCore,
            "place_sweeps" => Self::PlaceSweeps,
            "mode" => Self::Mode,
            "input" => Self::Input,
            "tokens" => Self::Tokens,
            "steps" => Self::Steps,
            k if k.contains('.') && Chip::default_chip().cost_param_mut(k).is_some() => {
                Self::Cost(k.to_string())
            }
            _ => return None,
        })
    }

    /// The parameter's key in a SPEC (and its column name).
    #[must_use]
    pub fn key(&self) -> &str {
        match self {
            Self::Width => "width",
            Self::Layers => "layers",
            Self::Sparsity => "sparsity",
            Self::Distribution => "distribution",
            Self::Seed => "seed",
            Self::Network => "network",
            Self::Chip => "chip",
            Self::Cost(k) => k,
            Self::MaxNeuronsPerCore => "max_neurons_per_core",
            Self::PlaceSweeps => "place_sweeps",
            Self::Mode => "mode",
            Self::Input => "input",
            Self::Tokens => "tokens",
            Self::Steps => "steps",
        }
    }

    fn is_generator(&self) -> bool {
        matches!(
            self,
            Self::Width | Self::Layers | Self::Sparsity | Self::Distribution | Self::Seed
        )
    }

    /// Checks one value and gives it in its canonical type.
    fn check(&self, v: &toml::Value) -> Result<Value, String> {
        let float = |v: &toml::Value| -> Result<f64, String> {
            let x = match v {
                toml::Value::Float(x) => *x,
                toml::Value::Integer(i) => *i as f64,
                other => return Err(format!("expected a number, found {}", other.type_str())),
            };
            if x.is_finite() {
                Ok(x)
            } else {
                Err(format!("{x} is not a finite number"))
            }
        };
        let int = |v: &toml::Value, lo: i64, hi: i64| -> Result<i64, String> {
            match v {
                toml::Value::Integer(i) if (lo..=hi).contains(i) => Ok(*i),
                toml::Value::Integer(i) => Err(format!("{i} is outside {lo}..={hi}")),
                other => Err(format!("expected an integer, found {}", other.type_str())),
            }
        };
        let string = |v: &toml::Value| -> Result<String, String> {
            match v {
                toml::Value::String(s) if s.is_empty() => Err("the string is empty".into()),
                toml::Value::String(s) if s.len() > 4096 => {
                    Err("the string is longer than 4096 bytes".into())
                }
                toml::Value::String(s) => Ok(s.clone()),
                other => Err(format!("expected a string, found {}", other.type_str())),
            }
        };
        let one_of = |v: &toml::Value, allowed: &[&str]| -> Result<Value, String> {
            let s = string(v)?;
            if allowed.contains(&s.as_str()) {
                Ok(Value::Str(s))
            } else {
                Err(format!("`{s}` is not one of {}", allowed.join(", ")))
            }
        };
        match self {
            Self::Width => {
                let x = float(v)?;
                if (1.0 / 16.0..=64.0).contains(&x) {
                    Ok(Value::Float(x))
                } else {
                    Err(format!("{x} must be between 1/16 (H = 12) and 64"))
                }
            }
            Self::Sparsity => {
                let x = float(v)?;
                if (0.0..1.0).contains(&x) {
                    Ok(Value::Float(x))
                } else {
                    Err(format!("{x} must be in [0, 1) (0 = dense)"))
                }
            }
            Self::Layers => Ok(Value::Int(int(v, 1, 64)?)),
            Self::Seed => Ok(Value::Int(int(v, 0, i64::MAX)?)),
            Self::Distribution => one_of(v, &["erk", "uniform"]),
            Self::Mode => one_of(v, &["fall-through", "pipeline", "both"]),
            Self::Network | Self::Chip | Self::Input => Ok(Value::Str(string(v)?)),
            Self::Cost(_) => {
                let x = float(v)?;
                if x < 0.0 {
                    Err(format!("{x} is negative; chip costs are at least 0"))
                } else {
                    Ok(Value::Float(x))
                }
            }
            Self::MaxNeuronsPerCore => Ok(Value::Int(int(v, 1, i64::from(u32::MAX))?)),
            Self::PlaceSweeps => Ok(Value::Int(int(v, 0, MAX_PLACE_SWEEPS)?)),
            Self::Tokens => Ok(Value::Int(int(v, 1, MAX_TOKENS)?)),
            Self::Steps => Ok(Value::Int(int(
                v,
                1,
                crate::netx::MAX_NETX_STEPS.try_into().unwrap_or(i64::MAX),
            )?)),
        }
    }
}

/// A parameter's value.
#[derive(Clone, Debug, PartialEq)]
pub enum Value {
    /// An integer.
    Int(i64),
    /// A finite number.
    Float(f64),
    /// A string.
    Str(String),
}

impl Value {
    fn cell(&self) -> Cell {
        match self {
            Self::Int(i) => Cell::Int(*i),
            Self::Float(x) => Cell::Float(*x),
            Self::Str(s) => Cell::Str(s.clone()),
        }
    }

    fn as_f64(&self) -> f64 {
        match self {
            Self::Int(i) => *i as f64,
            Self::Float(x) => *x,
            Self::Str(_) => f64::NAN,
        }
    }

    fn as_i64(&self) -> i64 {
        match self {
            Self::Int(i) => *i,
            Self::Float(x) => *x as i64,
            Self::Str(_) => 0,
        }
    }

    fn as_str(&self) -> &str {
        match self {
            Self::Str(s) => s,
            _ => "",
        }
    }

    /// The value as a column shows it.
    #[must_use]
    pub fn text(&self) -> String {
        match self {
            Self::Int(i) => i.to_string(),
            Self::Float(x) => fmt_f64(*x),
            Self::Str(s) => s.clone(),
        }
    }
}

/// One axis: a parameter and its values, in the SPEC's order.
#[derive(Clone, Debug, PartialEq)]
pub struct Axis {
    /// The parameter.
    pub param: Param,
    /// Its values (at least one, no repeats).
    pub values: Vec<Value>,
}

// ---------------------------------------------------------------------------------------------
// The SPEC
// ---------------------------------------------------------------------------------------------

/// A parsed and checked SPEC.
#[derive(Clone, Debug)]
pub struct Spec {
    /// Where it came from (for messages).
    pub origin: String,
    /// The sweep's name (`name = "..."`), for figure titles.
    pub name: Option<String>,
    /// Fixed parameters.
    pub fixed: Vec<(Param, Value)>,
    /// Axes in the SPEC's order.
    pub axes: Vec<Axis>,
    /// The file's bytes.
    pub bytes: Vec<u8>,
    /// SHA-256 of the bytes, lowercase hex (what `sha256sum SPEC` prints).
    pub sha256: String,
}

impl Spec {
    /// Reads `path` (at most [`MAX_SPEC_BYTES`]) and parses it.
    ///
    /// # Errors
    /// An unreadable, oversized or invalid SPEC ([`Spec::parse`]).
    pub fn read(path: &Path) -> Result<Self, SweepError> {
        let origin = path.display().to_string();
        if path.is_dir() {
            return Err(SweepError::Spec {
                origin,
                message: "it is a directory, not a SPEC file".into(),
            });
        }
        let f = std::fs::File::open(path).map_err(|e| io_err("cannot read", path, e))?;
        let mut bytes = Vec::new();
        std::io::Read::read_to_end(&mut std::io::Read::take(f, MAX_SPEC_BYTES + 1), &mut bytes)
            .map_err(|e| io_err("cannot read", path, e))?;
        if bytes.len() as u64 > MAX_SPEC_BYTES {
            return Err(SweepError::Spec {
                origin,
                message: format!(
                    "the file is larger than {MAX_SPEC_BYTES} bytes, the most a SPEC may be"
                ),
            });
        }
        Self::parse(&bytes, &origin)
    }

    /// Parses and checks a SPEC's bytes (syntax, keys, types, ranges, the point count); files
    /// it names are checked by [`Spec::check_files`].
    ///
    /// # Errors
    /// Anything wrong, as one line naming the key.
    pub fn parse(bytes: &[u8], origin: &str) -> Result<Self, SweepError> {
        let bad = |message: String| SweepError::Spec {
            origin: origin.to_string(),
            message,
        };
        if bytes.len() as u64 > MAX_SPEC_BYTES {
            return Err(bad(format!(
                "the file is larger than {MAX_SPEC_BYTES} bytes, the most a SPEC may be"
            )));
        }
        let text = std::str::from_utf8(bytes)
            .map_err(|e| bad(format!("not UTF-8 text (byte {})", e.valid_up_to())))?;
        let doc: toml::Table = toml::from_str(text).map_err(|e| bad(toml_message(text, &e)))?;
        let order = axis_order(text);
        let mut name = None;
        let mut fixed: Vec<(Param, Value)> = Vec::new();
        let mut axes: Vec<Axis> = Vec::new();
        for (key, value) in &doc {
            match key.as_str() {
                "version" => match value {
                    toml::Value::Integer(SPEC_VERSION) => {}
                    other => {
                        return Err(bad(format!(
                            "version: this loisim reads SPEC version {SPEC_VERSION}, not {other}"
                        )));
                    }
                },
                "name" => match value {
                    toml::Value::String(s)
                        if !s.is_empty() && s.len() <= 200 && !s.contains(['\n', '\r']) =>
                    {
                        name = Some(s.clone());
                    }
                    _ => {
                        return Err(bad(
                            "name: expected a one-line string of 1 to 200 bytes".into()
                        ));
                    }
                },
                "axes" => {
                    let toml::Value::Table(t) = value else {
                        return Err(bad(format!(
                            "axes: expected a table ([axes]), found {}",
                            value.type_str()
                        )));
                    };
                    let mut leaves = Vec::new();
                    flatten(t, "", &mut leaves);
                    let mut with_pos: Vec<(usize, String, &toml::Value)> = leaves
                        .into_iter()
                        .map(|(k, v)| (order.get(&k).copied().unwrap_or(usize::MAX), k, v))
                        .collect();
                    with_pos.sort_by(|a, b| a.0.cmp(&b.0).then_with(|| a.1.cmp(&b.1)));
                    for (_, k, v) in with_pos {
                        let param = Param::from_key(&k)
                            .ok_or_else(|| bad(unknown_key(&format!("axes.{k}"))))?;
                        let toml::Value::Array(list) = v else {
                            return Err(bad(format!(
                                "axes.{k}: expected an array of values, found {} (a single value goes at the top level)",
                                v.type_str()
                            )));
                        };
                        if list.is_empty() {
                            return Err(bad(format!(
                                "axes.{k}: the axis is empty; give at least one value"
                            )));
                        }
                        if list.len() as u64 > MAX_POINTS {
                            return Err(bad(format!(
                                "axes.{k}: {} values, more than the {MAX_POINTS} points a sweep may have",
                                list.len()
                            )));
                        }
                        let mut values = Vec::with_capacity(list.len());
                        for (i, item) in list.iter().enumerate() {
                            let val = param
                                .check(item)
                                .map_err(|m| bad(format!("axes.{k}[{i}]: {m}")))?;
                            if values.contains(&val) {
                                return Err(bad(format!(
                                    "axes.{k}[{i}]: {} is listed twice",
                                    val.text()
                                )));
                            }
                            values.push(val);
                        }
                        if axes.iter().any(|a| a.param == param) {
                            return Err(bad(format!("axes.{k}: the axis is given twice")));
                        }
                        axes.push(Axis { param, values });
                    }
                }
                _ => {
                    let mut leaves = Vec::new();
                    match value {
                        toml::Value::Table(t) => flatten(t, key, &mut leaves),
                        v => leaves.push((key.clone(), v)),
                    }
                    for (k, v) in leaves {
                        let param = Param::from_key(&k).ok_or_else(|| bad(unknown_key(&k)))?;
                        if let toml::Value::Array(_) = v {
                            return Err(bad(format!(
                                "{k}: a list of values is an axis: put it under [axes]"
                            )));
                        }
                        let val = param.check(v).map_err(|m| bad(format!("{k}: {m}")))?;
                        if fixed.iter().any(|(p, _)| *p == param) {
                            return Err(bad(format!("{k}: given twice")));
                        }
                        fixed.push((param, val));
                    }
                }
            }
        }
        for a in &axes {
            if fixed.iter().any(|(p, _)| *p == a.param) {
                return Err(bad(format!(
                    "{}: both fixed and an axis; keep one",
                    a.param.key()
                )));
            }
        }
        let spec = Self {
            origin: origin.to_string(),
            name,
            fixed,
            axes,
            bytes: bytes.to_vec(),
            sha256: sha256_hex(bytes),
        };
        spec.check_consistency().map_err(bad)?;
        Ok(spec)
    }

    fn check_consistency(&self) -> Result<(), String> {
        let mut n: u64 = 1;
        for a in &self.axes {
            n = n.saturating_mul(a.values.len() as u64);
        }
        if n > MAX_POINTS {
            let dims: Vec<String> = self
                .axes
                .iter()
                .map(|a| a.values.len().to_string())
                .collect();
            return Err(format!(
                "the axes make {} points ({}), more than the {MAX_POINTS} a sweep may have: shorten an axis or split the SPEC",
                if n == u64::MAX {
                    "over 1.8e19".into()
                } else {
                    n.to_string()
                },
                dims.join(" x ")
            ));
        }
        let given = |p: &Param| {
            self.fixed.iter().any(|(q, _)| q == p) || self.axes.iter().any(|a| a.param == *p)
        };
        if given(&Param::Network)
            && let Some(p) = self.params().into_iter().find(Param::is_generator)
        {
            return Err(format!(
                "{}: generator parameters make models in memory; this SPEC names model files with `network`: keep one",
                p.key()
            ));
        }
        Ok(())
    }

    fn params(&self) -> Vec<Param> {
        self.fixed
            .iter()
            .map(|(p, _)| p.clone())
            .chain(self.axes.iter().map(|a| a.param.clone()))
            .collect()
    }

    /// Points of the grid.
    #[must_use]
    pub fn n_points(&self) -> u64 {
        self.axes.iter().map(|a| a.values.len() as u64).product()
    }

    /// The axis values of point `id` (row-major: the last axis varies fastest).
    #[must_use]
    pub fn point_values(&self, id: u64) -> Vec<&Value> {
        let mut rest = id;
        let mut out = vec![None; self.axes.len()];
        for (k, a) in self.axes.iter().enumerate().rev() {
            let n = a.values.len() as u64;
            out[k] = Some(&a.values[(rest % n) as usize]);
            rest /= n;
        }
        out.into_iter().flatten().collect()
    }

    /// The columns of every row, in order.
    #[must_use]
    pub fn columns(&self) -> Vec<String> {
        let mut c = vec!["point_id".to_string()];
        c.extend(self.axes.iter().map(|a| a.param.key().to_string()));
        c.extend(["status", "reason"].map(String::from));
        c.extend(METRICS.iter().map(|m| (*m).to_string()));
        c
    }

    /// The settings of point `id`.
    fn settings(&self, id: u64) -> Settings {
        let mut s = Settings::default();
        for (p, v) in &self.fixed {
            s.set(p, v);
        }
        for (a, v) in self.axes.iter().zip(self.point_values(id)) {
            s.set(&a.param, v);
        }
        s
    }

    /// Checks what the SPEC names on disk, relative to `base` (the SPEC's directory): chips
    /// load and take every cost value, model files load, inputs exist.
    ///
    /// # Errors
    /// The first thing that does not, as one line.
    pub fn check_files(&self, base: &Path) -> Result<(), SweepError> {
        let bad = |message: String| SweepError::Spec {
            origin: self.origin.clone(),
            message,
        };
        let values = |p: &Param| -> Vec<Value> {
            self.fixed
                .iter()
                .filter(|(q, _)| q == p)
                .map(|(_, v)| v.clone())
                .chain(
                    self.axes
                        .iter()
                        .filter(|a| a.param == *p)
                        .flat_map(|a| a.values.clone()),
                )
                .collect()
        };
        let mut chips = Vec::new();
        let chip_names = {
            let v = values(&Param::Chip);
            if v.is_empty() {
                vec![Value::Str("loihi2".into())]
            } else {
                v
            }
        };
        for c in &chip_names {
            let chip = load_chip(base, c.as_str())
                .map_err(|e| bad(format!("chip `{}`: {e}", c.as_str())))?;
            chips.push(chip);
        }
        for p in self.params() {
            if let Param::Cost(k) = &p {
                for v in values(&p) {
                    for chip in &chips {
                        with_costs(chip, &[(k.clone(), v.as_f64())])
                            .map_err(|e| bad(format!("{k} = {}: {e}", v.text())))?;
                    }
                }
            }
        }
        let mut any_netx = false;
        for v in values(&Param::Network) {
            let path = resolve(base, v.as_str());
            if !path.is_file() {
                return Err(bad(format!(
                    "network `{}`: {} is not a file",
                    v.as_str(),
                    path.display()
                )));
            }
            if crate::netx::is_netx(&path) {
                any_netx = true;
                crate::netx::load_netx(&path, &crate::netx::NetxOptions::default())
                    .map_err(|e| bad(format!("network `{}`: {e}", v.as_str())))?;
            } else {
                crate::load_model(&path)
                    .map_err(|e| bad(format!("network `{}`: {e}", v.as_str())))?;
            }
        }
        let inputs = values(&Param::Input);
        for v in &inputs {
            if v.as_str() == "default" {
                crate::paths::shipped(crate::paths::DEFAULT_INPUT)
                    .map_err(|e| bad(format!("input `default`: {e}")))?;
                continue;
            }
            let path = resolve(base, v.as_str());
            if !path.is_file() {
                return Err(bad(format!(
                    "input `{}`: {} is not a file",
                    v.as_str(),
                    path.display()
                )));
            }
            if crate::audio::is_wav(&path) && self.params().contains(&Param::Tokens) {
                return Err(bad(format!(
                    "input `{}`: a .wav input runs whole; `tokens` applies to .npy inputs",
                    v.as_str()
                )));
            }
        }
        if any_netx && inputs.is_empty() && !self.params().contains(&Param::Steps) {
            return Err(bad(
                "netx networks need `steps` or an `input` .npy (Lava's layout, time last)".into(),
            ));
        }
        Ok(())
    }
}

/// The first line of a TOML error, with its line and column.
fn toml_message(text: &str, e: &toml::de::Error) -> String {
    let msg = e.message().lines().next().unwrap_or("invalid TOML").trim();
    match e.span() {
        Some(span) => {
            let before = &text.as_bytes()[..span.start.min(text.len())];
            let line = before.iter().filter(|&&b| b == b'\n').count() + 1;
            let col = before.iter().rev().take_while(|&&b| b != b'\n').count() + 1;
            format!("line {line}, column {col}: {msg}")
        }
        None => msg.to_string(),
    }
}

fn unknown_key(k: &str) -> String {
    format!(
        "unknown key `{k}`: expected version, name, [axes], or a parameter ({}, or a chip cost parameter such as ops.synop.latency_ns; docs/sweeps.md lists them)",
        PARAMS.join(", ")
    )
}

/// Flattens nested tables into dotted keys (`ops.synop.latency_ns = 1` and
/// `"ops.synop.latency_ns" = 1` are one key).
fn flatten<'a>(t: &'a toml::Table, prefix: &str, out: &mut Vec<(String, &'a toml::Value)>) {
    for (k, v) in t {
        let key = if prefix.is_empty() {
            k.clone()
        } else {
            format!("{prefix}.{k}")
        };
        match v {
            toml::Value::Table(inner) => flatten(inner, &key, out),
            v => out.push((key, v)),
        }
    }
}

/// Where each key of the `axes` table starts in the file, by flattened key: the axes' order.
fn axis_order(text: &str) -> HashMap<String, usize> {
    fn walk(t: &toml::de::DeTable<'_>, prefix: &str, out: &mut HashMap<String, usize>) {
        for (k, v) in t {
            let key = if prefix.is_empty() {
                k.get_ref().to_string()
            } else {
                format!("{prefix}.{}", k.get_ref())
            };
            match v.get_ref() {
                toml::de::DeValue::Table(inner) => walk(inner, &key, out),
                _ => {
                    out.insert(key, k.span().start);
                }
            }
        }
    }
    let mut out = HashMap::new();
    if let Ok(doc) = toml::de::DeTable::parse(text)
        && let Some(axes) = doc.get_ref().get("axes")
        && let toml::de::DeValue::Table(t) = axes.get_ref()
    {
        walk(t, "", &mut out);
    }
    out
}

fn resolve(base: &Path, p: &str) -> PathBuf {
    let path = Path::new(p);
    if path.is_absolute() {
        path.to_path_buf()
    } else {
        base.join(path)
    }
}

fn load_chip(base: &Path, name: &str) -> Result<Chip, crate::Error> {
    let is_file = Path::new(name).extension().is_some_and(|e| e == "toml");
    if is_file {
        Ok(Chip::load(&resolve(base, name).display().to_string())?)
    } else {
        Ok(Chip::load(name)?)
    }
}

/// `chip` with cost parameters set, checked as a chip file is.
fn with_costs(chip: &Chip, costs: &[(String, f64)]) -> Result<Chip, String> {
    if costs.is_empty() {
        return Ok(chip.clone());
    }
    let mut c = chip.clone();
    for (k, v) in costs {
        match c.cost_param_mut(k) {
            Some(p) => p.value = *v,
            None => return Err(format!("`{k}` is not a cost parameter of this chip")),
        }
    }
    Chip::from_toml(&c.to_toml(), "the sweep point").map_err(|e| e.to_string())
}

// ---------------------------------------------------------------------------------------------
// Points
// ---------------------------------------------------------------------------------------------

/// Everything a point sets.
#[derive(Clone, Debug)]
struct Settings {
    width: f64,
    layers: i64,
    sparsity: f64,
    distribution: String,
    seed: i64,
    network: Option<String>,
    chip: String,
    costs: Vec<(String, f64)>,
    max_neurons_per_core: Option<i64>,
    place_sweeps: Option<i64>,
    mode: Option<String>,
    input: Option<String>,
    tokens: Option<i64>,
    steps: Option<i64>,
}

impl Default for Settings {
    fn default() -> Self {
        // `loisim gen`'s defaults.
        Self {
            width: 1.0,
            layers: 3,
            sparsity: 0.9,
            distribution: "erk".into(),
            seed: 0,
            network: None,
            chip: "loihi2".into(),
            costs: Vec::new(),
            max_neurons_per_core: None,
            place_sweeps: None,
            mode: None,
            input: None,
            tokens: None,
            steps: None,
        }
    }
}

impl Settings {
    fn set(&mut self, p: &Param, v: &Value) {
        match p {
            Param::Width => self.width = v.as_f64(),
            Param::Layers => self.layers = v.as_i64(),
            Param::Sparsity => self.sparsity = v.as_f64(),
            Param::Distribution => self.distribution = v.as_str().to_string(),
            Param::Seed => self.seed = v.as_i64(),
            Param::Network => self.network = Some(v.as_str().to_string()),
            Param::Chip => self.chip = v.as_str().to_string(),
            Param::Cost(k) => self.costs.push((k.clone(), v.as_f64())),
            Param::MaxNeuronsPerCore => self.max_neurons_per_core = Some(v.as_i64()),
            Param::PlaceSweeps => self.place_sweeps = Some(v.as_i64()),
            Param::Mode => self.mode = Some(v.as_str().to_string()),
            Param::Input => self.input = Some(v.as_str().to_string()),
            Param::Tokens => self.tokens = Some(v.as_i64()),
            Param::Steps => self.steps = Some(v.as_i64()),
        }
    }

    /// Everything but the chip costs: points with the same key share one simulation.
    fn run_key(&self) -> String {
        let mut s = self.clone();
        s.costs.clear();
        format!("{s:?}")
    }
}

/// Which points of a sweep to run: `--shard I/N`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Shard {
    /// This shard, `0..count`.
    pub index: u64,
    /// Shards in all.
    pub count: u64,
}

impl Shard {
    /// Every point.
    pub const ALL: Self = Self { index: 0, count: 1 };

    /// Parses `I/N`.
    ///
    /// # Errors
    /// Anything but two integers with `0 <= I < N`.
    pub fn parse(s: &str) -> Result<Self, SweepError> {
        let bad = || {
            SweepError::Invalid(format!(
                "--shard `{s}`: expected I/N with 0 <= I < N (Slurm: $SLURM_ARRAY_TASK_ID/$SLURM_ARRAY_TASK_COUNT)"
            ))
        };
        let (i, n) = s.split_once('/').ok_or_else(bad)?;
        let index: u64 = i.trim().parse().map_err(|_| bad())?;
        let count: u64 = n.trim().parse().map_err(|_| bad())?;
        if count == 0 || index >= count {
            return Err(bad());
        }
        Ok(Self { index, count })
    }

    /// Whether point `id` belongs to this shard.
    #[must_use]
    pub fn has(&self, id: u64) -> bool {
        id % self.count == self.index
    }
}

// ---------------------------------------------------------------------------------------------
// Rows
// ---------------------------------------------------------------------------------------------

/// The metric columns of every row, after the axes, `status` and `reason`. `ft_`: fall-through
/// mode, `pl_`: pipeline mode; energies on the chip-rail basis unless `_board_` says so.
pub const METRICS: [&str; 32] = [
    "kind",
    "cores_used",
    "pipeline_depth_timesteps",
    "tokens_run",
    "steps_run",
    "parameters_nonzero",
    "macs_nonzero_weights_per_token",
    "ft_latency_us_per_token",
    "ft_latency_us_per_token_max",
    "ft_energy_dynamic_uj_per_token",
    "ft_energy_total_uj_per_token",
    "ft_energy_total_board_uj_per_token",
    "ft_power_total_w",
    "ft_throughput_tokens_per_s",
    "ft_latency_ms_per_sample",
    "ft_energy_total_mj_per_sample",
    "ft_synops_per_token",
    "pl_latency_ms_per_sample",
    "pl_latency_us_per_token",
    "pl_timestep_us_mean",
    "pl_timestep_us_max",
    "pl_energy_dynamic_mj_per_sample",
    "pl_energy_total_mj_per_sample",
    "pl_energy_total_board_mj_per_sample",
    "pl_energy_total_uj_per_token",
    "pl_energy_total_uj_per_step",
    "pl_power_total_w",
    "pl_throughput_samples_per_s",
    "pl_throughput_tokens_per_s",
    "pl_synops_per_token",
    "pl_synops_per_step",
    "pl_msgs_per_step",
];

/// One cell of a row.
#[derive(Clone, Debug, PartialEq)]
enum Cell {
    Null,
    Int(i64),
    Float(f64),
    Str(String),
}

impl Cell {
    fn float(x: Option<f64>) -> Self {
        x.map_or(Self::Null, Self::Float)
    }

    fn json(&self) -> String {
        match self {
            Self::Null => "null".into(),
            Self::Int(i) => i.to_string(),
            Self::Float(x) if x.is_finite() => fmt_f64(*x),
            Self::Float(_) => "null".into(),
            Self::Str(s) => serde_json::to_string(s).unwrap_or_else(|_| "\"\"".into()),
        }
    }

    fn csv(&self) -> String {
        match self {
            Self::Null => String::new(),
            Self::Int(i) => i.to_string(),
            Self::Float(x) if x.is_finite() => fmt_f64(*x),
            Self::Float(_) => String::new(),
            Self::Str(s) => csv_field(s),
        }
    }
}

/// A float as the shortest decimal that reads back to the same `f64` (Rust's `{}`: no
/// exponent); `-0` is written `0`.
#[must_use]
pub fn fmt_f64(x: f64) -> String {
    if x == 0.0 { "0".into() } else { format!("{x}") }
}

fn csv_field(s: &str) -> String {
    if s.contains([',', '"', '\n', '\r']) || s.starts_with(' ') || s.ends_with(' ') {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_string()
    }
}

/// What became of a point.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Status {
    /// It ran.
    Ok,
    /// The model does not map onto the chip with these options.
    DoesNotFit,
    /// Anything else went wrong (the reason says what); a rerun retries it.
    Error,
}

impl Status {
    fn as_str(self) -> &'static str {
        match self {
            Self::Ok => "ok",
            Self::DoesNotFit => "does-not-fit",
            Self::Error => "error",
        }
    }
}

/// One point's row: its cells in column order.
#[derive(Clone, Debug, PartialEq)]
struct Row {
    id: u64,
    status: Status,
    cells: Vec<Cell>,
}

impl Row {
    fn new(spec: &Spec, id: u64, status: Status, reason: &str, metrics: Vec<Cell>) -> Self {
        let mut cells = vec![Cell::Int(id as i64)];
        cells.extend(spec.point_values(id).into_iter().map(Value::cell));
        cells.push(Cell::Str(status.as_str().into()));
        let reason = reason.replace(['\n', '\r'], " ");
        cells.push(Cell::Str(reason));
        let mut metrics = metrics;
        metrics.resize(METRICS.len(), Cell::Null);
        cells.extend(metrics);
        Self { id, status, cells }
    }

    fn failed(spec: &Spec, id: u64, status: Status, reason: &str) -> Self {
        Self::new(spec, id, status, reason, Vec::new())
    }

    /// The point file: the JSON line, then the CSV line.
    fn file_text(&self, columns: &[String]) -> String {
        let mut json = String::from("{");
        for (i, (c, v)) in columns.iter().zip(&self.cells).enumerate() {
            if i > 0 {
                json.push(',');
            }
            let _ = write!(json, "{}:{}", Cell::Str(c.clone()).json(), v.json());
        }
        json.push('}');
        let csv: Vec<String> = self.cells.iter().map(Cell::csv).collect();
        format!("{json}\n{}\n", csv.join(","))
    }
}

fn metrics_of(r: &crate::Report) -> Vec<Cell> {
    let u = |x: Option<u64>| x.map_or(Cell::Null, |v| Cell::Int(v as i64));
    let ft = r.fall_through.as_ref();
    let pl = r.pipeline.as_ref();
    let kind = match r.model_kind {
        crate::ModelKind::S5 => "s5",
        crate::ModelKind::Netx => "netx",
        crate::ModelKind::Nir => "nir",
    };
    vec![
        Cell::Str(kind.into()),
        u(r.cores_used.map(|c| c as u64)),
        u(r.pipeline_depth_timesteps.map(u64::from)),
        u((r.model_kind == crate::ModelKind::S5).then_some(r.tokens as u64)),
        u(pl.and_then(|p| p.steps)),
        u(Some(r.model_size.parameters_nonzero)),
        u(Some(r.model_size.macs_nonzero_weights_per_token)),
        Cell::float(ft.map(|f| f.latency_us_per_token)),
        Cell::float(ft.map(|f| f.latency_us_per_token_max)),
        Cell::float(ft.map(|f| f.energy_dynamic_uj_per_token)),
        Cell::float(ft.map(|f| f.energy_total_uj_per_token)),
        Cell::float(ft.map(|f| f.energy_by_domain_uj_per_token.board.total)),
        Cell::float(ft.map(|f| f.power_w.chip.total)),
        Cell::float(ft.map(|f| f.throughput_tokens_per_s)),
        Cell::float(ft.map(|f| f.latency_ms_per_sample)),
        Cell::float(ft.map(|f| f.energy_total_mj_per_sample)),
        Cell::float(ft.map(|f| f.synops_per_token)),
        Cell::float(pl.map(|p| p.latency_ms_per_sample)),
        Cell::float(pl.and_then(|p| p.latency_us_per_token)),
        Cell::float(pl.map(|p| p.timestep_us_mean)),
        Cell::float(pl.map(|p| p.timestep_us_max)),
        Cell::float(pl.map(|p| p.energy_dynamic_mj_per_sample)),
        Cell::float(pl.map(|p| p.energy_total_mj_per_sample)),
        Cell::float(pl.map(|p| p.energy_by_domain_mj_per_sample.board.total)),
        Cell::float(pl.and_then(|p| p.energy_total_uj_per_token)),
        Cell::float(pl.and_then(|p| p.energy_total_uj_per_step)),
        Cell::float(pl.map(|p| p.power_w.chip.total)),
        Cell::float(pl.map(|p| p.throughput_samples_per_s)),
        Cell::float(pl.and_then(|p| p.throughput_tokens_per_s)),
        Cell::float(pl.and_then(|p| p.synops_per_token)),
        Cell::float(pl.and_then(|p| p.synops_per_step)),
        Cell::float(pl.and_then(|p| p.msgs_per_step)),
    ]
}

// ---------------------------------------------------------------------------------------------
// Running points
// ---------------------------------------------------------------------------------------------

/// Magnitudes of the calibration tokens `loisim gen` uses by default (the first 1000 tokens of
/// the built-in speech-like clip).
fn default_calibration() -> Result<&'static [f32], String> {
    static CAL: OnceLock<Result<Vec<f32>, String>> = OnceLock::new();
    CAL.get_or_init(|| {
        let clip = loisim_audio::speech_like(&loisim_audio::SpeechLikeConfig::default())
            .map_err(|e| e.to_string())?;
        let (_, mag) = loisim_audio::features(&clip.noisy);
        Ok(loisim_import::synth::calibration_slice(&mag).to_vec())
    })
    .as_deref()
    .map_err(Clone::clone)
}

/// The model of `s` exactly as `loisim gen` with the same arguments makes it (named
/// `sweep-model`; the name changes no figure).
fn generate(s: &Settings) -> Result<crate::Model, String> {
    let cfg = GenConfig {
        width: s.width,
        n_layers: s.layers as usize,
        sparsity: s.sparsity,
        distribution: if s.distribution == "uniform" {
            Distribution::Uniform
        } else {
            Distribution::Erk
        },
        seed: s.seed as u64,
        recipe: loisim_import::observe::Recipe::W8A16,
    };
    let cal = default_calibration()?;
    loisim_import::synth::generate(&cfg, "sweep-model", cal)
        .map(|g| g.model)
        .map_err(|e| e.to_string())
}

/// Whether a run's error means the model does not map onto the chip.
fn does_not_fit(e: &Error) -> bool {
    use loisim_compiler::CompileError as C;
    use loisim_compiler::net_map::NetMapError as N;
    match e {
        Error::Compile { source, .. } => matches!(**source, C::DoesNotFit { .. } | C::Limit { .. }),
        Error::NetMap(N::DoesNotFit { .. } | N::PieceTooLarge { .. }) => true,
        Error::Invalid(m) => m.contains("cores but the"),
        _ => false,
    }
}

fn modes_of(mode: Option<&str>, default: Modes) -> Modes {
    match mode {
        Some("fall-through") => Modes::FALL_THROUGH,
        Some("pipeline") => Modes::PIPELINE,
        Some("both") => Modes::BOTH,
        _ => default,
    }
}

/// Runs one group of points sharing everything but chip costs; gives each point's row.
fn run_group(
    spec: &Spec,
    base: &Path,
    ids: &[u64],
    emit: &mut dyn FnMut(Row) -> Result<(), SweepError>,
) -> Result<(), SweepError> {
    let settings: Vec<Settings> = ids.iter().map(|&id| spec.settings(id)).collect();
    let s0 = &settings[0];
    let fail_all = |status: Status,
                    reason: &str,
                    emit: &mut dyn FnMut(Row) -> Result<(), SweepError>|
     -> Result<(), SweepError> {
        for &id in ids {
            emit(Row::failed(spec, id, status, reason))?;
        }
        Ok(())
    };
    let base_chip = match load_chip(base, &s0.chip) {
        Ok(c) => c,
        Err(e) => return fail_all(Status::Error, &format!("chip `{}`: {e}", s0.chip), emit),
    };
    // Each point's chip; a point whose costs make an invalid chip fails alone.
    let mut members: Vec<(u64, Chip)> = Vec::new();
    for (&id, s) in ids.iter().zip(&settings) {
        match with_costs(&base_chip, &s.costs) {
            Ok(c) => members.push((id, c)),
            Err(e) => emit(Row::failed(spec, id, Status::Error, &e))?,
        }
    }
    if members.is_empty() {
        return Ok(());
    }
    let tmp = tempfile::Builder::new()
        .prefix("loisim-sweep-")
        .tempdir()
        .map_err(|e| io_err("cannot create", Path::new("a temporary directory"), e))?;
    let activity = (members.len() > 1).then(|| tmp.path().join("point.act"));
    let leader = match run_one(s0, base, &members[0].1, activity.clone()) {
        Ok(r) => r,
        Err(e) => {
            let status = if does_not_fit(&e) {
                Status::DoesNotFit
            } else {
                Status::Error
            };
            let reason = e.to_string();
            for (id, _) in &members {
                emit(Row::failed(spec, *id, status, &reason))?;
            }
            return Ok(());
        }
    };
    emit(Row::new(
        spec,
        members[0].0,
        Status::Ok,
        "",
        metrics_of(&leader),
    ))?;
    let Some(act_path) = activity else {
        return Ok(());
    };
    let act = match crate::replay::Activity::open(&act_path) {
        Ok(a) => a,
        Err(e) => {
            for (id, _) in &members[1..] {
                emit(Row::failed(spec, *id, Status::Error, &e.to_string()))?;
            }
            return Ok(());
        }
    };
    for (id, chip) in &members[1..] {
        match act.replay(Some(chip)) {
            Ok(r) => emit(Row::new(spec, *id, Status::Ok, "", metrics_of(&r)))?,
            Err(e) => emit(Row::failed(spec, *id, Status::Error, &e.to_string()))?,
        }
    }
    Ok(())
}

/// Simulates one point (with its activity recorded when asked).
fn run_one(
    s: &Settings,
    base: &Path,
    chip: &Chip,
    activity: Option<PathBuf>,
) -> Result<crate::Report, Error> {
    let netx_path = s
        .network
        .as_deref()
        .map(|n| resolve(base, n))
        .filter(|p| crate::netx::is_netx(p));
    if let Some(path) = netx_path {
        if matches!(s.mode.as_deref(), Some("fall-through" | "both")) {
            return Err(Error::Invalid(
                "netx networks run in pipeline mode only: mode = \"pipeline\"".into(),
            ));
        }
        if s.tokens.is_some() {
            return Err(Error::Invalid(
                "`tokens` applies to S5 models; netx networks take `steps`".into(),
            ));
        }
        let netx = crate::netx::load_netx(&path, &crate::netx::NetxOptions::default())?;
        let input = match s.input.as_deref() {
            None => None,
            Some("default") => {
                return Err(Error::Invalid(
                    "input `default` is the S5 clip; netx networks take an .npy in Lava's layout"
                        .into(),
                ));
            }
            Some(p) => Some(crate::netx::read_lava_array(&resolve(base, p))?),
        };
        let mut compile = crate::netx::default_compile_options(chip);
        if let Some(n) = s.max_neurons_per_core {
            compile.max_neurons_per_core = n as u32;
        }
        if let Some(n) = s.place_sweeps {
            compile.place_sweeps = n as u32;
        }
        let opts = crate::netx::NetxRunOptions {
            input,
            steps: s.steps.map(|n| n as u64),
            threads: 1,
            activity,
            ..Default::default()
        };
        return Ok(crate::netx::run_netx(&netx, chip, &compile, &opts)?.report);
    }
    if s.steps.is_some() {
        return Err(Error::Invalid(
            "`steps` applies to netx networks; S5 models take `tokens`".into(),
        ));
    }
    let model = match &s.network {
        Some(n) => crate::load_model(&resolve(base, n))?,
        None => generate(s).map_err(Error::Invalid)?,
    };
    let mut compile = CompileOptions::default();
    if let Some(n) = s.max_neurons_per_core {
        compile.max_neurons_per_core = n as u32;
    }
    if let Some(n) = s.place_sweeps {
        compile.place_sweeps = n as u32;
    }
    let sim = Simulation::compile(model, chip, &compile)?;
    let input = match s.input.as_deref() {
        Some(p) if p != "default" && crate::audio::is_wav(&resolve(base, p)) => Input::Wav {
            path: resolve(base, p),
            clean: None,
        },
        other => {
            let path = match other {
                Some(p) if p != "default" => resolve(base, p),
                _ => crate::paths::shipped(crate::paths::DEFAULT_INPUT)?,
            };
            let mut tokens = crate::read_tokens(&path, sim.model())?;
            if let Some(n) = s.tokens {
                tokens.truncate(n as usize);
            }
            Input::Tokens(tokens)
        }
    };
    let opts = RunOptions {
        modes: modes_of(s.mode.as_deref(), sim.kind().default_modes()),
        threads: 1,
        activity,
        ..RunOptions::default()
    };
    Ok(sim.run(&input, &opts, None)?.report)
}

// ---------------------------------------------------------------------------------------------
// The output directory
// ---------------------------------------------------------------------------------------------

/// The manifest of an output directory (`manifest.json`): what makes rows comparable.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Manifest {
    /// [`FORMAT`].
    pub format: String,
    /// [`FORMAT_VERSION`].
    pub format_version: u32,
    /// The loisim that wrote the rows.
    pub loisim_version: String,
    /// SHA-256 of the SPEC's bytes (`spec.toml` in the directory).
    pub spec_sha256: String,
    /// Points of the whole grid.
    pub points: u64,
    /// The row columns.
    pub columns: Vec<String>,
}

impl Manifest {
    fn of(spec: &Spec) -> Self {
        Self {
            format: FORMAT.into(),
            format_version: FORMAT_VERSION,
            loisim_version: env!("CARGO_PKG_VERSION").into(),
            spec_sha256: spec.sha256.clone(),
            points: spec.n_points(),
            columns: spec.columns(),
        }
    }

    fn text(&self) -> String {
        let mut s = serde_json::to_string_pretty(self).unwrap_or_default();
        s.push('\n');
        s
    }

    /// Reads `dir/manifest.json` (`None` when absent).
    fn read(dir: &Path) -> Result<Option<Self>, SweepError> {
        let path = dir.join("manifest.json");
        if !path.exists() {
            return Ok(None);
        }
        let text = read_capped(&path, 1 << 20)?;
        serde_json::from_str(&text)
            .map(Some)
            .map_err(|e| SweepError::Dir {
                dir: dir.to_path_buf(),
                message: format!(
                    "manifest.json is damaged ({e}); this is not a sweep directory loisim can use"
                ),
            })
    }

    /// Refuses a directory written from another SPEC or by another loisim.
    fn check_same(&self, other: &Self, dir: &Path, what: &str) -> Result<(), SweepError> {
        if self.spec_sha256 != other.spec_sha256 {
            return Err(SweepError::Dir {
                dir: dir.to_path_buf(),
                message: format!(
                    "it holds a sweep of another SPEC (sha256 {}..., {what} has {}...): use another directory, or remove it to start again",
                    &other.spec_sha256[..other.spec_sha256.len().min(12)],
                    &self.spec_sha256[..12]
                ),
            });
        }
        if self != other {
            return Err(SweepError::Dir {
                dir: dir.to_path_buf(),
                message: format!(
                    "it was written by loisim {} (format {} {}); this is loisim {} (format {FORMAT} {FORMAT_VERSION}): rerun its points with one loisim",
                    other.loisim_version, other.format, other.format_version, self.loisim_version
                ),
            });
        }
        Ok(())
    }
}

fn read_capped(path: &Path, cap: u64) -> Result<String, SweepError> {
    let f = std::fs::File::open(path).map_err(|e| io_err("cannot read", path, e))?;
    let mut s = String::new();
    std::io::Read::read_to_string(&mut std::io::Read::take(f, cap + 1), &mut s)
        .map_err(|e| io_err("cannot read", path, e))?;
    if s.len() as u64 > cap {
        return Err(SweepError::Invalid(format!(
            "{} is larger than {cap} bytes; it is not a file loisim wrote",
            path.display()
        )));
    }
    Ok(s)
}

/// Writes `bytes` to `path` atomically (a temporary file in the same directory, renamed).
fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), SweepError> {
    let dir = path.parent().unwrap_or_else(|| Path::new("."));
    let mut f = tempfile::Builder::new()
        .prefix(".tmp-")
        .tempfile_in(dir)
        .map_err(|e| io_err("cannot write", path, e))?;
    std::io::Write::write_all(&mut f, bytes).map_err(|e| io_err("cannot write", path, e))?;
    f.as_file()
        .sync_all()
        .map_err(|e| io_err("cannot write", path, e))?;
    f.persist(path)
        .map_err(|e| io_err("cannot write", path, e.error))?;
    Ok(())
}

fn point_file(dir: &Path, id: u64) -> PathBuf {
    dir.join("points").join(format!("p{id:06}.row"))
}

/// The point files of a directory: id to text (JSON line, CSV line), checked.
fn read_points(
    dir: &Path,
    manifest: &Manifest,
) -> Result<BTreeMap<u64, (Status, String)>, SweepError> {
    let pdir = dir.join("points");
    let mut out = BTreeMap::new();
    if !pdir.exists() {
        return Ok(out);
    }
    let entries = std::fs::read_dir(&pdir).map_err(|e| io_err("cannot read", &pdir, e))?;
    for entry in entries {
        let entry = entry.map_err(|e| io_err("cannot read", &pdir, e))?;
        let name = entry.file_name();
        let Some(name) = name.to_str() else { continue };
        let Some(id) = name
            .strip_prefix('p')
            .and_then(|n| n.strip_suffix(".row"))
            .filter(|n| n.len() >= 6 && n.bytes().all(|b| b.is_ascii_digit()))
            .and_then(|n| n.parse::<u64>().ok())
        else {
            continue; // temporary files of an interrupted write, and anything else
        };
        let path = entry.path();
        let damaged = |why: &str| SweepError::Dir {
            dir: dir.to_path_buf(),
            message: format!("points/{name} is damaged ({why}); remove it to run the point again"),
        };
        if id >= manifest.points {
            return Err(damaged(&format!("the grid has {} points", manifest.points)));
        }
        let text = read_capped(&path, 1 << 20)?;
        let mut lines = text.split_terminator('\n');
        let (Some(json), Some(csv), None) = (lines.next(), lines.next(), lines.next()) else {
            return Err(damaged("expected a JSON line and a CSV line"));
        };
        if csv.is_empty() {
            return Err(damaged("the CSV line is empty"));
        }
        let v: serde_json::Value =
            serde_json::from_str(json).map_err(|e| damaged(&e.to_string()))?;
        let obj = v
            .as_object()
            .ok_or_else(|| damaged("the JSON line is not an object"))?;
        if obj.len() != manifest.columns.len()
            || manifest.columns.iter().any(|c| !obj.contains_key(c))
        {
            return Err(damaged("its columns are not the manifest's"));
        }
        if obj.get("point_id").and_then(serde_json::Value::as_u64) != Some(id) {
            return Err(damaged("its point_id is not its name's"));
        }
        let status = match obj.get("status").and_then(serde_json::Value::as_str) {
            Some("ok") => Status::Ok,
            Some("does-not-fit") => Status::DoesNotFit,
            Some("error") => Status::Error,
            _ => return Err(damaged("unknown status")),
        };
        out.insert(id, (status, text));
    }
    Ok(out)
}

/// Opens (or creates) an output directory for `spec`.
fn open_out(dir: &Path, spec: &Spec) -> Result<Manifest, SweepError> {
    let want = Manifest::of(spec);
    if dir.exists() {
        if !dir.is_dir() {
            return Err(SweepError::Dir {
                dir: dir.to_path_buf(),
                message: "it exists and is not a directory".into(),
            });
        }
        match Manifest::read(dir)? {
            Some(m) => {
                want.check_same(&m, dir, &spec.origin)?;
                return Ok(want);
            }
            None => {
                let nonempty = std::fs::read_dir(dir)
                    .map_err(|e| io_err("cannot read", dir, e))?
                    .next()
                    .is_some();
                if nonempty {
                    return Err(SweepError::Dir {
                        dir: dir.to_path_buf(),
                        message: "it is not empty and holds no sweep (no manifest.json): give a new or empty directory".into(),
                    });
                }
            }
        }
    }
    std::fs::create_dir_all(dir.join("points")).map_err(|e| io_err("cannot create", dir, e))?;
    write_atomic(&dir.join("spec.toml"), &spec.bytes)?;
    write_atomic(&dir.join("manifest.json"), want.text().as_bytes())?;
    Ok(want)
}

/// Writes `rows.csv` and `rows.jsonl` from the point files.
fn write_rows(
    dir: &Path,
    columns: &[String],
    points: &BTreeMap<u64, (Status, String)>,
) -> Result<(), SweepError> {
    let mut csv = columns
        .iter()
        .map(|c| csv_field(c))
        .collect::<Vec<_>>()
        .join(",");
    csv.push('\n');
    let mut jsonl = String::new();
    for (_, text) in points.values() {
        let mut lines = text.split_terminator('\n');
        jsonl.push_str(lines.next().unwrap_or_default());
        jsonl.push('\n');
        csv.push_str(lines.next().unwrap_or_default());
        csv.push('\n');
    }
    write_atomic(&dir.join("rows.csv"), csv.as_bytes())?;
    write_atomic(&dir.join("rows.jsonl"), jsonl.as_bytes())
}

// ---------------------------------------------------------------------------------------------
// Run, merge, plot
// ---------------------------------------------------------------------------------------------

/// How to run a sweep.
#[derive(Clone, Debug)]
pub struct SweepOptions {
    /// The output directory.
    pub out: PathBuf,
    /// Which points.
    pub shard: Shard,
    /// Points run at once (results never depend on it).
    pub threads: usize,
    /// Where relative paths of the SPEC start (its directory).
    pub base: PathBuf,
}

/// What a run or merge did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Summary {
    /// Points of the grid.
    pub points: u64,
    /// Points of this shard.
    pub shard_points: u64,
    /// Points of this shard already finished (skipped).
    pub skipped: u64,
    /// Points run now.
    pub ran: u64,
    /// Rows in the directory by status.
    pub ok: u64,
    /// Rows that do not fit.
    pub does_not_fit: u64,
    /// Rows with an error.
    pub error: u64,
    /// The first error's reason, if any.
    pub first_error: Option<String>,
    /// Figures drawn.
    pub plots: Vec<PathBuf>,
}

impl Summary {
    fn count(&mut self, points: &BTreeMap<u64, (Status, String)>) {
        for (s, text) in points.values() {
            match s {
                Status::Ok => self.ok += 1,
                Status::DoesNotFit => self.does_not_fit += 1,
                Status::Error => {
                    self.error += 1;
                    if self.first_error.is_none() {
                        self.first_error = serde_json::from_str::<serde_json::Value>(
                            text.lines().next().unwrap_or_default(),
                        )
                        .ok()
                        .and_then(|v| v.get("reason").and_then(|r| r.as_str()).map(String::from));
                    }
                }
            }
        }
    }
}

/// The points of `spec` this shard still has to run in `out` (for a progress bar's length).
///
/// # Errors
/// As [`run`] before it runs anything.
pub fn pending(spec: &Spec, opts: &SweepOptions) -> Result<u64, SweepError> {
    let done = match Manifest::read(&opts.out)? {
        Some(m) if m.spec_sha256 == spec.sha256 => read_points(&opts.out, &m)?,
        _ => BTreeMap::new(),
    };
    Ok((0..spec.n_points())
        .filter(|&id| {
            opts.shard.has(id)
                && !matches!(done.get(&id), Some((Status::Ok | Status::DoesNotFit, _)))
        })
        .count() as u64)
}

/// Runs the points of `spec` in `opts.shard` that `opts.out` does not hold yet (rows with
/// status `error` are run again), writing each point's file as it finishes, then the rows of
/// every point in the directory and, when it holds the whole grid, the figures.
/// `progress` is called once per point finished.
///
/// # Errors
/// A directory of another SPEC, files that cannot be written, a damaged point file. A point
/// that fails gives a row, not an error.
pub fn run(
    spec: &Spec,
    opts: &SweepOptions,
    progress: &(dyn Fn() + Sync),
) -> Result<Summary, SweepError> {
    if opts.threads == 0 {
        return Err(SweepError::Invalid("--threads must be at least 1".into()));
    }
    spec.check_files(&opts.base)?;
    let manifest = open_out(&opts.out, spec)?;
    let done = read_points(&opts.out, &manifest)?;
    let todo: Vec<u64> = (0..spec.n_points())
        .filter(|&id| {
            opts.shard.has(id)
                && !matches!(done.get(&id), Some((Status::Ok | Status::DoesNotFit, _)))
        })
        .collect();
    let mut summary = Summary {
        points: spec.n_points(),
        shard_points: (0..spec.n_points())
            .filter(|&id| opts.shard.has(id))
            .count() as u64,
        ran: todo.len() as u64,
        ..Summary::default()
    };
    summary.skipped = summary.shard_points - summary.ran;
    // Groups of points that share a simulation, in the order of their first point.
    let mut groups: Vec<Vec<u64>> = Vec::new();
    let mut index: HashMap<String, usize> = HashMap::new();
    for &id in &todo {
        let key = spec.settings(id).run_key();
        let g = *index.entry(key).or_insert_with(|| {
            groups.push(Vec::new());
            groups.len() - 1
        });
        groups[g].push(id);
    }
    let columns = &manifest.columns;
    let first_err: Mutex<Option<SweepError>> = Mutex::new(None);
    let work = |ids: &Vec<u64>| {
        if first_err
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .is_some()
        {
            return;
        }
        let mut emit = |row: Row| -> Result<(), SweepError> {
            write_atomic(
                &point_file(&opts.out, row.id),
                row.file_text(columns).as_bytes(),
            )?;
            progress();
            Ok(())
        };
        if let Err(e) = run_group(spec, &opts.base, ids, &mut emit) {
            first_err
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .get_or_insert(e);
        }
    };
    if opts.threads == 1 || groups.len() <= 1 {
        groups.iter().for_each(work);
    } else {
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(opts.threads)
            .build()
            .map_err(|e| {
                SweepError::Invalid(format!("cannot start {} threads: {e}", opts.threads))
            })?;
        pool.install(|| {
            use rayon::prelude::*;
            groups.par_iter().with_max_len(1).for_each(work);
        });
    }
    if let Some(e) = first_err
        .into_inner()
        .unwrap_or_else(PoisonError::into_inner)
    {
        return Err(e);
    }
    let points = read_points(&opts.out, &manifest)?;
    write_rows(&opts.out, columns, &points)?;
    summary.count(&points);
    if points.len() as u64 == manifest.points {
        summary.plots = plot(&opts.out)?;
    }
    Ok(summary)
}

/// Merges the point files of `dirs` (shards of one SPEC) into `out`, giving the files an
/// unsharded run gives, byte for byte. With `partial`, points missing from every directory
/// are left out; without, they are an error and nothing is written.
///
/// # Errors
/// Directories of different SPECs or loisims, a point two directories disagree on, missing
/// points (without `partial`), files that cannot be written.
pub fn merge(dirs: &[PathBuf], out: &Path, partial: bool) -> Result<Summary, SweepError> {
    let Some(first) = dirs.first() else {
        return Err(SweepError::Invalid(
            "merge needs at least one shard directory".into(),
        ));
    };
    let manifest = Manifest::read(first)?.ok_or_else(|| SweepError::Dir {
        dir: first.clone(),
        message: "no manifest.json: not a sweep directory".into(),
    })?;
    let spec_bytes = std::fs::read(first.join("spec.toml"))
        .map_err(|e| io_err("cannot read", &first.join("spec.toml"), e))?;
    if sha256_hex(&spec_bytes) != manifest.spec_sha256 {
        return Err(SweepError::Dir {
            dir: first.clone(),
            message:
                "spec.toml does not match the manifest's spec_sha256; the directory was edited"
                    .into(),
        });
    }
    let mut points: BTreeMap<u64, (Status, String)> = BTreeMap::new();
    let mut from: BTreeMap<u64, PathBuf> = BTreeMap::new();
    let mut sources: Vec<PathBuf> = dirs.to_vec();
    if out.exists()
        && Manifest::read(out).ok().flatten().is_some()
        && !sources.iter().any(|d| same_dir(d, out))
    {
        sources.push(out.to_path_buf());
    }
    for dir in &sources {
        let m = Manifest::read(dir)?.ok_or_else(|| SweepError::Dir {
            dir: dir.clone(),
            message: "no manifest.json: not a sweep directory".into(),
        })?;
        manifest.check_same(&m, dir, &first.display().to_string())?;
        for (id, p) in read_points(dir, &m)? {
            match points.get(&id) {
                Some(q) if q.1 != p.1 => {
                    return Err(SweepError::Invalid(format!(
                        "point {id} differs between {} and {}: they were run with different inputs or files; rerun one",
                        from[&id].display(),
                        dir.display()
                    )));
                }
                Some(_) => {}
                None => {
                    points.insert(id, p);
                    from.insert(id, dir.clone());
                }
            }
        }
    }
    let missing: Vec<u64> = (0..manifest.points)
        .filter(|id| !points.contains_key(id))
        .collect();
    if !missing.is_empty() && !partial {
        let list: Vec<String> = missing.iter().take(8).map(ToString::to_string).collect();
        return Err(SweepError::Invalid(format!(
            "{} of {} points are missing (points {}{}): rerun their shards, or merge with --partial",
            missing.len(),
            manifest.points,
            list.join(", "),
            if missing.len() > 8 { ", ..." } else { "" }
        )));
    }
    if out.exists() {
        if !out.is_dir() {
            return Err(SweepError::Dir {
                dir: out.to_path_buf(),
                message: "it exists and is not a directory".into(),
            });
        }
        match Manifest::read(out)? {
            Some(m) => manifest.check_same(&m, out, &first.display().to_string())?,
            None => {
                if std::fs::read_dir(out)
                    .map_err(|e| io_err("cannot read", out, e))?
                    .next()
                    .is_some()
                {
                    return Err(SweepError::Dir {
                        dir: out.to_path_buf(),
                        message: "it is not empty and holds no sweep (no manifest.json): give a new or empty directory".into(),
                    });
                }
            }
        }
    }
    std::fs::create_dir_all(out.join("points")).map_err(|e| io_err("cannot create", out, e))?;
    write_atomic(&out.join("spec.toml"), &spec_bytes)?;
    write_atomic(&out.join("manifest.json"), manifest.text().as_bytes())?;
    for (id, (_, text)) in &points {
        let path = point_file(out, *id);
        if std::fs::read(&path).ok().as_deref() != Some(text.as_bytes()) {
            write_atomic(&path, text.as_bytes())?;
        }
    }
    write_rows(out, &manifest.columns, &points)?;
    let mut summary = Summary {
        points: manifest.points,
        shard_points: manifest.points,
        ..Summary::default()
    };
    summary.count(&points);
    if points.len() as u64 == manifest.points {
        summary.plots = plot(out)?;
    }
    Ok(summary)
}

fn same_dir(a: &Path, b: &Path) -> bool {
    match (a.canonicalize(), b.canonicalize()) {
        (Ok(x), Ok(y)) => x == y,
        _ => a == b,
    }
}

/// Draws the sweep's figures from `dir/rows.jsonl` into `dir/plots/` (when the axes allow:
/// `width` against latency, energy and cores needs a `width` axis of two values or more; the
/// Pareto front needs two points that ran); returns the files written.
///
/// # Errors
/// A directory that is not a sweep, unreadable rows, figures that cannot be written.
pub fn plot(dir: &Path) -> Result<Vec<PathBuf>, SweepError> {
    let manifest = Manifest::read(dir)?.ok_or_else(|| SweepError::Dir {
        dir: dir.to_path_buf(),
        message: "no manifest.json: not a sweep directory".into(),
    })?;
    let spec_path = dir.join("spec.toml");
    let spec = Spec::read(&spec_path)?;
    if spec.sha256 != manifest.spec_sha256 {
        return Err(SweepError::Dir {
            dir: dir.to_path_buf(),
            message:
                "spec.toml does not match the manifest's spec_sha256; the directory was edited"
                    .into(),
        });
    }
    let rows_path = dir.join("rows.jsonl");
    let text = read_capped(&rows_path, 1 << 30)?;
    let rows: Vec<serde_json::Value> = text
        .lines()
        .map(serde_json::from_str)
        .collect::<Result<_, _>>()
        .map_err(|e| SweepError::Dir {
            dir: dir.to_path_buf(),
            message: format!("rows.jsonl is damaged ({e})"),
        })?;
    let data = plot_data(&spec, &rows);
    let pdir = dir.join("plots");
    if data.width_series.is_empty() && data.pareto.len() < 2 {
        return Ok(Vec::new());
    }
    std::fs::create_dir_all(&pdir).map_err(|e| io_err("cannot create", &pdir, e))?;
    Ok(loisim_trace::sweep_plot::plot_sweep(&data, &pdir)?)
}

fn plot_data(spec: &Spec, rows: &[serde_json::Value]) -> loisim_trace::sweep_plot::SweepPlot {
    use loisim_trace::sweep_plot::{Pareto, SweepPlot, WidthSeries};
    let num = |r: &serde_json::Value, k: &str| r.get(k).and_then(serde_json::Value::as_f64);
    let ok: Vec<&serde_json::Value> = rows
        .iter()
        .filter(|r| r.get("status").and_then(|s| s.as_str()) == Some("ok"))
        .collect();
    let ft = ok
        .iter()
        .any(|r| num(r, "ft_latency_us_per_token").is_some());
    let (lat_key, lat_label, en_key, en_label) = if ft {
        (
            "ft_latency_us_per_token",
            "fall-through latency (µs per token)",
            "ft_energy_total_uj_per_token",
            "fall-through energy, total, chip rails (µJ per token)",
        )
    } else {
        (
            "pl_latency_ms_per_sample",
            "pipeline latency (ms per sample)",
            "pl_energy_total_mj_per_sample",
            "pipeline energy, total, chip rails (mJ per sample)",
        )
    };
    let label_of = |r: &serde_json::Value, skip: &str| -> String {
        let parts: Vec<String> = spec
            .axes
            .iter()
            .filter(|a| a.param.key() != skip)
            .map(|a| {
                let k = a.param.key();
                let v = r.get(k).cloned().unwrap_or(serde_json::Value::Null);
                if k == "sparsity" {
                    match v.as_f64() {
                        Some(0.0) => "dense".to_string(),
                        Some(s) => format!("{} % sparse", fmt_f64((s * 1000.0).round() / 10.0)),
                        None => "sparsity ?".into(),
                    }
                } else {
                    match v {
                        serde_json::Value::String(s) => format!("{k} {s}"),
                        v => format!("{k} {v}"),
                    }
                }
            })
            .collect();
        if parts.is_empty() {
            "all points".into()
        } else {
            parts.join(", ")
        }
    };
    let mut width_series: Vec<WidthSeries> = Vec::new();
    let width_axis = spec
        .axes
        .iter()
        .any(|a| a.param == Param::Width && a.values.len() >= 2);
    if width_axis {
        for r in &ok {
            let (Some(w), Some(l), Some(e), Some(c)) = (
                num(r, "width"),
                num(r, lat_key),
                num(r, en_key),
                num(r, "cores_used"),
            ) else {
                continue;
            };
            let label = label_of(r, "width");
            let i = match width_series.iter().position(|s| s.label == label) {
                Some(i) => i,
                None => {
                    width_series.push(WidthSeries {
                        label,
                        points: Vec::new(),
                    });
                    width_series.len() - 1
                }
            };
            width_series[i].points.push([w, l, e, c]);
        }
        for s in &mut width_series {
            s.points.sort_by(|a, b| a[0].total_cmp(&b[0]));
        }
    }
    let pareto = ok
        .iter()
        .filter_map(|r| {
            Some(Pareto {
                id: r.get("point_id")?.as_u64()?,
                latency: num(r, lat_key)?,
                energy: num(r, en_key)?,
                label: label_of(r, if width_axis { "width" } else { "" }),
            })
        })
        .collect();
    SweepPlot {
        title: spec.name.clone().unwrap_or_else(|| "sweep".into()),
        latency_label: lat_label.into(),
        energy_label: en_label.into(),
        width_series,
        pareto,
    }
}

// ---------------------------------------------------------------------------------------------
// SHA-256 (FIPS 180-4), for the SPEC's hash: what `sha256sum` prints.
// ---------------------------------------------------------------------------------------------

/// SHA-256 of `bytes`, lowercase hex.
#[must_use]
pub fn sha256_hex(bytes: &[u8]) -> String {
    const K: [u32; 64] = [
        0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4,
        0xab1c5ed5, 0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe,
        0x9bdc06a7, 0xc19bf174, 0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f,
        0x4a7484aa, 0x5cb0a9dc, 0x76f988da, 0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7,
        0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967, 0x27b70a85, 0x2e1b2138, 0x4d2c6dfc,
        0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85, 0xa2bfe8a1, 0xa81a664b,
        0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070, 0x19a4c116,
        0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
        0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7,
        0xc67178f2,
    ];
    let mut h: [u32; 8] = [
        0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c, 0x1f83d9ab,
        0x5be0cd19,
    ];
    let mut msg = bytes.to_vec();
    let bit_len = (bytes.len() as u64).wrapping_mul(8);
    msg.push(0x80);
    while msg.len() % 64 != 56 {
        msg.push(0);
    }
    msg.extend_from_slice(&bit_len.to_be_bytes());
    for block in msg.chunks_exact(64) {
        let mut w = [0u32; 64];
        for (i, c) in block.chunks_exact(4).enumerate() {
            w[i] = u32::from_be_bytes([c[0], c[1], c[2], c[3]]);
        }
        for i in 16..64 {
            let s0 = w[i - 15].rotate_right(7) ^ w[i - 15].rotate_right(18) ^ (w[i - 15] >> 3);
            let s1 = w[i - 2].rotate_right(17) ^ w[i - 2].rotate_right(19) ^ (w[i - 2] >> 10);
            w[i] = w[i - 16]
                .wrapping_add(s0)
                .wrapping_add(w[i - 7])
                .wrapping_add(s1);
        }
        let [mut a, mut b, mut c, mut d, mut e, mut f, mut g, mut hh] = h;
        for i in 0..64 {
            let s1 = e.rotate_right(6) ^ e.rotate_right(11) ^ e.rotate_right(25);
            let ch = (e & f) ^ (!e & g);
            let t1 = hh
                .wrapping_add(s1)
                .wrapping_add(ch)
                .wrapping_add(K[i])
                .wrapping_add(w[i]);
            let s0 = a.rotate_right(2) ^ a.rotate_right(13) ^ a.rotate_right(22);
            let maj = (a & b) ^ (a & c) ^ (b & c);
            let t2 = s0.wrapping_add(maj);
            hh = g;
            g = f;
            f = e;
            e = d.wrapping_add(t1);
            d = c;
            c = b;
            b = a;
            a = t1.wrapping_add(t2);
        }
        for (x, y) in h.iter_mut().zip([a, b, c, d, e, f, g, hh]) {
            *x = x.wrapping_add(y);
        }
    }
    h.iter().fold(String::with_capacity(64), |mut s, x| {
        let _ = write!(s, "{x:08x}");
        s
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<Spec, String> {
        Spec::parse(text.as_bytes(), "t.toml").map_err(|e| e.to_string())
    }

    #[test]
    fn sha256_matches_the_standard_vectors() {
        assert_eq!(
            sha256_hex(b""),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
        assert_eq!(
            sha256_hex(b"abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        let long = b"abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq";
        assert_eq!(
            sha256_hex(long),
            "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1"
        );
    }

    #[test]
    fn axes_keep_the_files_order_and_the_grid_is_row_major() {
        let s = parse(
            "tokens = 4\n[axes]\nwidth = [0.25, 0.5]\n\"ops.synop.latency_ns\" = [1, 2, 3]\nsparsity = [0.9, 0]\n",
        )
        .unwrap();
        let keys: Vec<&str> = s.axes.iter().map(|a| a.param.key()).collect();
        assert_eq!(keys, ["width", "ops.synop.latency_ns", "sparsity"]);
        assert_eq!(s.n_points(), 12);
        let text = |id| {
            s.point_values(id)
                .iter()
                .map(|v| v.text())
                .collect::<Vec<_>>()
                .join(" ")
        };
        assert_eq!(text(0), "0.25 1 0.9");
        assert_eq!(text(1), "0.25 1 0");
        assert_eq!(text(2), "0.25 2 0.9");
        assert_eq!(text(11), "0.5 3 0");
        // A dotted key written as nested tables is the same parameter, in the same place.
        let n =
            parse("[axes]\nseed = [1, 2]\nops.synop.latency_ns = [1, 2]\nwidth = [1]\n").unwrap();
        let keys: Vec<&str> = n.axes.iter().map(|a| a.param.key()).collect();
        assert_eq!(keys, ["seed", "ops.synop.latency_ns", "width"]);
    }

    #[test]
    fn bad_specs_give_one_line_naming_the_key() {
        for (text, want) in [
            ("[axes]\nwidht = [1]\n", "unknown key `axes.widht`"),
            ("[axes]\nwidth = []\n", "axes.width: the axis is empty"),
            (
                "[axes]\nwidth = [nan]\n",
                "axes.width[0]: NaN is not a finite number",
            ),
            (
                "[axes]\nwidth = [\"1\"]\n",
                "axes.width[0]: expected a number, found string",
            ),
            (
                "[axes]\nlayers = [1.5]\n",
                "axes.layers[0]: expected an integer",
            ),
            (
                "[axes]\nwidth = [1, 1.0]\n",
                "axes.width[1]: 1 is listed twice",
            ),
            ("[axes]\nwidth = 1\n", "axes.width: expected an array"),
            ("width = [1, 2]\n", "width: a list of values is an axis"),
            (
                "width = 1\n[axes]\nwidth = [2]\n",
                "width: both fixed and an axis",
            ),
            (
                "network = \"m.bin\"\n[axes]\nwidth = [2]\n",
                "width: generator parameters",
            ),
            ("sparsity = 1\n", "sparsity: 1 must be in [0, 1)"),
            ("\"ops.synop.latency_ns\" = -1\n", "is negative"),
            ("\"ops.synop.speed\" = 1\n", "unknown key `ops.synop.speed`"),
            ("mode = \"fast\"\n", "mode: `fast` is not one of"),
            ("version = 2\n", "version: this loisim reads SPEC version 1"),
            ("[axes\nwidth = [1]\n", "line 1, column"),
            ("axes = 3\n", "axes: expected a table"),
        ] {
            let e = parse(text).expect_err(text);
            assert!(e.contains(want), "{text:?}: {e}");
            assert!(!e.contains('\n'), "{text:?}: {e}");
        }
        let big: Vec<String> = (0..400).map(|i| i.to_string()).collect();
        let text = format!(
            "[axes]\nseed = [{}]\ntokens = [{}]\n",
            big.join(","),
            big.iter()
                .map(|i| format!("{}", i.parse::<i64>().unwrap() + 1))
                .collect::<Vec<_>>()
                .join(",")
        );
        let e = parse(&text).unwrap_err();
        assert!(
            e.contains("160000 points (400 x 400), more than the 100000"),
            "{e}"
        );
        let e = Spec::parse(b"\xff\xfe", "t.toml").unwrap_err().to_string();
        assert!(e.contains("not UTF-8"), "{e}");
    }

    #[test]
    fn shards_split_the_points() {
        assert_eq!(Shard::parse("2/3").unwrap(), Shard { index: 2, count: 3 });
        for bad in ["3/3", "1", "a/2", "0/0", "-1/2", "1/2/3"] {
            assert!(Shard::parse(bad).is_err(), "{bad}");
        }
        let shards: Vec<Shard> = (0..3).map(|i| Shard { index: i, count: 3 }).collect();
        for id in 0..20 {
            assert_eq!(shards.iter().filter(|s| s.has(id)).count(), 1);
        }
    }

    #[test]
    fn floats_are_written_shortest_and_without_exponent() {
        assert_eq!(fmt_f64(0.1 + 0.2), "0.30000000000000004");
        assert_eq!(fmt_f64(1.0), "1");
        assert_eq!(fmt_f64(-0.0), "0");
        assert_eq!(fmt_f64(1e-7), "0.0000001");
        assert_eq!(csv_field("a, \"b\""), "\"a, \"\"b\"\"\"");
    }

    fn rows_of(dir: &Path) -> String {
        std::fs::read_to_string(dir.join("rows.jsonl")).unwrap()
    }

    /// Points that differ only in chip costs are priced by replaying one run; each point
    /// alone (one shard per point) is a full run: the rows must be the same bytes.
    #[test]
    fn replayed_points_equal_full_runs() {
        let text = "width = 0.0625\nlayers = 1\ntokens = 6\n[axes]\nsparsity = [0.5]\n\"ops.synop.latency_ns\" = [0.5, 2.0]\n\"static.vdd_mw\" = [10, 80]\n\"noc.hop_x.energy_pj\" = [1, 7]\n";
        let spec = Spec::parse(text.as_bytes(), "t.toml").unwrap();
        let tmp = tempfile::tempdir().unwrap();
        let opts = |out: &str, shard: Shard| SweepOptions {
            out: tmp.path().join(out),
            shard,
            threads: 1,
            base: tmp.path().to_path_buf(),
        };
        let s = run(&spec, &opts("grouped", Shard::ALL), &|| {}).unwrap();
        assert_eq!((s.points, s.ok), (8, 8));
        let mut dirs = Vec::new();
        for i in 0..8 {
            let name = format!("alone{i}");
            run(&spec, &opts(&name, Shard { index: i, count: 8 }), &|| {}).unwrap();
            dirs.push(tmp.path().join(name));
        }
        merge(&dirs, &tmp.path().join("merged"), false).unwrap();
        let grouped = rows_of(&tmp.path().join("grouped"));
        assert_eq!(grouped, rows_of(&tmp.path().join("merged")));
        // The costs did change the figures.
        let lat: Vec<&str> = grouped
            .lines()
            .map(|l| {
                l.split("\"ft_latency_us_per_token\":")
                    .nth(1)
                    .unwrap()
                    .split(',')
                    .next()
                    .unwrap()
            })
            .collect();
        assert_ne!(lat[0], lat[4], "{grouped}");
    }
}
