//! NIR (Neuromorphic Intermediate Representation) graphs: the `.nir` file (HDF5, as the
//! `nir` package's `nir.write` stores it), an in-memory [`Graph`], and its lowering onto
//! Loihi 2's fixed-point CUBA LIF layers ([`lower`]).
//!
//! File layout read (nir 1.0): a top-level group `node` holding a `type` string
//! (`NIRGraph`), a group `nodes` with one group per node (a `type` string dataset and one
//! dataset per parameter) and a dataset `edges` of `(n, 2)` strings (source, target).
//!
//! Guarding as in `loisim-netx`: a size cap on the file ([`MAX_NIR_FILE_BYTES`]), a cap on
//! every array's declared extent ([`MAX_ARRAY_ELEMENTS`]) and on the number of nodes
//! ([`MAX_NODES`]), and every call into the HDF5 decoder under `catch_unwind`, so a
//! malformed file gives a one-line [`NirError`], never a panic.

pub mod lower;

pub use lower::{
    FloatLayer, FloatNeuron, FloatRun, FloatSynapse, LayerQuantisation, Lowered, Lowering,
    float_run, lower, quantise,
};

use std::collections::BTreeMap;
use std::io::Read;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::{Path, PathBuf};

use hdf5_reader::group::Group;
use hdf5_reader::{Datatype, Hdf5File, OpenOptions};

/// Largest `.nir` file read: 1 GiB.
pub const MAX_NIR_FILE_BYTES: u64 = 1 << 30;
/// Largest element count of one parameter array: 64 Mi elements.
pub const MAX_ARRAY_ELEMENTS: u64 = 1 << 26;
/// Most nodes (and edges) a graph may hold.
pub const MAX_NODES: usize = 1 << 16;

const HDF5_SIGNATURE: [u8; 8] = [0x89, b'H', b'D', b'F', b'\r', b'\n', 0x1a, b'\n'];

/// Why a `.nir` file could not be read, or a graph not lowered. One line, naming the file
/// and the HDF5 path or the node.
#[derive(Debug, thiserror::Error)]
pub enum NirError {
    #[error("{}: cannot read the file: {source}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{}: the file is larger than the {cap} byte limit for NIR files", path.display())]
    FileTooLarge { path: PathBuf, cap: u64 },
    #[error("{}: not an HDF5 file (no HDF5 signature); a NIR .nir file is HDF5", path.display())]
    NotHdf5 { path: PathBuf },
    #[error("{}: HDF5 file without a `node` group holding `nodes` and `edges`, so not a NIR graph", path.display())]
    NotNir { path: PathBuf },
    #[error("{}: HDF5 data unreadable at `{location}`: {message}; the file is probably corrupt", path.display())]
    Hdf5 {
        path: PathBuf,
        location: String,
        message: String,
    },
    #[error("{}: the HDF5 decoder failed on malformed data at `{location}`; the file is probably corrupt", path.display())]
    DecoderPanic { path: PathBuf, location: String },
    #[error("{}: `{location}` {problem}", path.display())]
    BadValue {
        path: PathBuf,
        location: String,
        problem: String,
    },
    /// The graph cannot run on Loihi 2: the node and why.
    #[error("NIR node `{node}` ({kind}): {why}")]
    Unsupported {
        node: String,
        kind: String,
        why: String,
    },
    /// The graph is not a chain Input -> ... -> Output.
    #[error("NIR graph: {0}")]
    Graph(String),
}

/// A parameter array as stored: its extent (empty for a scalar) and its values as `f64` in
/// C order.
#[derive(Clone, Debug, PartialEq)]
pub struct Array {
    pub shape: Vec<usize>,
    pub data: Vec<f64>,
}

impl Array {
    /// A 1-D array.
    #[must_use]
    pub fn vector(data: Vec<f64>) -> Self {
        Self {
            shape: vec![data.len()],
            data,
        }
    }

    /// An array of `shape` (the caller makes `data` hold its product of elements).
    #[must_use]
    pub fn new(shape: Vec<usize>, data: Vec<f64>) -> Self {
        Self { shape, data }
    }

    /// A scalar.
    #[must_use]
    pub fn scalar(x: f64) -> Self {
        Self {
            shape: Vec::new(),
            data: vec![x],
        }
    }
}

/// One node: its `type` (the nir package's class name, e.g. `LIF`) and parameters.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Node {
    pub kind: String,
    /// Numeric parameters by name (`weight`, `tau`, ...).
    pub params: BTreeMap<String, Array>,
    /// String parameters by name (e.g. a conv's `padding` of `same`).
    pub strings: BTreeMap<String, String>,
}

impl Node {
    /// A node of `kind` with numeric parameters.
    #[must_use]
    pub fn new(kind: &str, params: impl IntoIterator<Item = (&'static str, Array)>) -> Self {
        Self {
            kind: kind.to_string(),
            params: params
                .into_iter()
                .map(|(k, v)| (k.to_string(), v))
                .collect(),
            strings: BTreeMap::new(),
        }
    }
}

/// A NIR graph in memory: nodes by name and edges (source, target). Built by [`read`] from
/// a file, or directly (e.g. by a binding converting a Python `nir.NIRGraph`).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Graph {
    pub nodes: BTreeMap<String, Node>,
    pub edges: Vec<(String, String)>,
}

/// Whether `path` holds a NIR graph, by content: HDF5 with a `node` group holding `nodes`.
#[must_use]
pub fn is_nir(path: impl AsRef<Path>) -> bool {
    let path = path.as_ref();
    let Ok(bytes) = read_capped(path) else {
        return false;
    };
    let Ok(file) = open(path, bytes) else {
        return false;
    };
    file.node_group().is_ok()
}

/// Reads the `.nir` file at `path`.
///
/// # Errors
/// Unreadable, not HDF5, not NIR, malformed (one line naming the HDF5 path).
pub fn read(path: impl AsRef<Path>) -> Result<Graph, NirError> {
    let path = path.as_ref();
    let bytes = read_capped(path)?;
    read_bytes(path, bytes)
}

/// Reads a `.nir` file already in memory; `name` stands for the file in messages.
///
/// # Errors
/// As [`read`].
pub fn read_bytes(name: impl AsRef<Path>, bytes: Vec<u8>) -> Result<Graph, NirError> {
    let name = name.as_ref();
    if bytes.len() as u64 > MAX_NIR_FILE_BYTES {
        return Err(NirError::FileTooLarge {
            path: name.to_path_buf(),
            cap: MAX_NIR_FILE_BYTES,
        });
    }
    open(name, bytes)?.read_graph()
}

fn read_capped(path: &Path) -> Result<Vec<u8>, NirError> {
    let io = |source| NirError::Io {
        path: path.to_path_buf(),
        source,
    };
    let file = std::fs::File::open(path).map_err(io)?;
    let mut bytes = Vec::new();
    file.take(MAX_NIR_FILE_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(io)?;
    if bytes.len() as u64 > MAX_NIR_FILE_BYTES {
        return Err(NirError::FileTooLarge {
            path: path.to_path_buf(),
            cap: MAX_NIR_FILE_BYTES,
        });
    }
    Ok(bytes)
}

fn has_signature(bytes: &[u8]) -> bool {
    let at = |o: usize| bytes.get(o..o + 8).is_some_and(|s| s == HDF5_SIGNATURE);
    let mut offset = 512usize;
    if at(0) {
        return true;
    }
    while offset < bytes.len() {
        if at(offset) {
            return true;
        }
        offset *= 2;
    }
    false
}

fn open(path: &Path, bytes: Vec<u8>) -> Result<Reader, NirError> {
    if !has_signature(&bytes) {
        return Err(NirError::NotHdf5 {
            path: path.to_path_buf(),
        });
    }
    let options = OpenOptions::default()
        .with_max_read_bytes(usize::try_from(MAX_ARRAY_ELEMENTS * 8).unwrap_or(usize::MAX))
        .with_chunk_cache_bytes(16 << 20);
    let file = guard(path, "superblock", || {
        Hdf5File::from_vec_with_options(bytes, options)
    })?;
    Ok(Reader {
        path: path.to_path_buf(),
        file,
    })
}

thread_local! {
    static IN_DECODER: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// A panic hook, installed once, silent for panics inside the HDF5 decoder (they become
/// [`NirError::DecoderPanic`]); every other panic goes to the previous hook.
fn quiet_decoder_panics() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            if !IN_DECODER.with(std::cell::Cell::get) {
                previous(info);
            }
        }));
    });
}

fn guard<T>(
    path: &Path,
    location: &str,
    f: impl FnOnce() -> Result<T, hdf5_reader::error::Error>,
) -> Result<T, NirError> {
    quiet_decoder_panics();
    IN_DECODER.with(|c| c.set(true));
    let outcome = catch_unwind(AssertUnwindSafe(f));
    IN_DECODER.with(|c| c.set(false));
    match outcome {
        Ok(Ok(v)) => Ok(v),
        Ok(Err(e)) => Err(NirError::Hdf5 {
            path: path.to_path_buf(),
            location: location.to_string(),
            message: e.to_string().replace(['\n', '\r'], " "),
        }),
        Err(_) => Err(NirError::DecoderPanic {
            path: path.to_path_buf(),
            location: location.to_string(),
        }),
    }
}

fn printable(name: &str) -> String {
    name.chars()
        .take(64)
        .map(|c| if c.is_control() { '?' } else { c })
        .collect()
}

struct Reader {
    path: PathBuf,
    file: Hdf5File,
}

impl Reader {
    fn h5<T>(
        &self,
        location: &str,
        f: impl FnOnce() -> Result<T, hdf5_reader::error::Error>,
    ) -> Result<T, NirError> {
        guard(&self.path, location, f)
    }

    fn bad(&self, location: &str, problem: impl Into<String>) -> NirError {
        NirError::BadValue {
            path: self.path.clone(),
            location: location.to_string(),
            problem: problem.into(),
        }
    }

    fn node_group(&self) -> Result<Group, NirError> {
        let root = self.h5("/", || self.file.root_group())?;
        let (groups, _) = self.h5("/", || root.member_names())?;
        if !groups.iter().any(|g| g == "node") {
            return Err(NirError::NotNir {
                path: self.path.clone(),
            });
        }
        let node = self.h5("node", || root.group("node"))?;
        let (groups, datasets) = self.h5("node", || node.member_names())?;
        if !groups.iter().any(|g| g == "nodes") || !datasets.iter().any(|d| d == "edges") {
            return Err(NirError::NotNir {
                path: self.path.clone(),
            });
        }
        Ok(node)
    }

    fn strings(&self, group: &Group, name: &str, location: &str) -> Result<Vec<String>, NirError> {
        let ds = self.h5(location, || group.dataset(name))?;
        let n = self.h5(location, || ds.num_elements())?;
        if n > MAX_ARRAY_ELEMENTS {
            return Err(self.bad(location, format!("has {n} elements, over the limit")));
        }
        let v = self.h5(location, || ds.read_strings())?;
        Ok(v.into_iter()
            .map(|s| s.trim_end_matches('\0').to_string())
            .collect())
    }

    fn read_graph(&self) -> Result<Graph, NirError> {
        let node = self.node_group()?;
        if let Ok(t) = self.strings(&node, "type", "node/type")
            && t.first().is_some_and(|t| t != "NIRGraph")
        {
            return Err(self.bad("node/type", "is not `NIRGraph`"));
        }
        let nodes_group = self.h5("node/nodes", || node.group("nodes"))?;
        let (names, stray) = self.h5("node/nodes", || nodes_group.member_names())?;
        if let Some(d) = stray.first() {
            return Err(self.bad(
                &format!("node/nodes/{}", printable(d)),
                "is a dataset, not a node group",
            ));
        }
        if names.len() > MAX_NODES {
            return Err(self.bad(
                "node/nodes",
                format!("has {} nodes, over {MAX_NODES}", names.len()),
            ));
        }
        let mut graph = Graph::default();
        for name in names {
            let location = format!("node/nodes/{}", printable(&name));
            let g = self.h5(&location, || nodes_group.group(&name))?;
            let n = self.read_node(&g, &location)?;
            graph.nodes.insert(name, n);
        }
        let edges = self.strings(&node, "edges", "node/edges")?;
        if edges.len() % 2 != 0 || edges.len() / 2 > MAX_NODES {
            return Err(self.bad("node/edges", "is not a list of (source, target) pairs"));
        }
        graph.edges = edges
            .chunks(2)
            .map(|p| (p[0].clone(), p[1].clone()))
            .collect();
        Ok(graph)
    }

    fn read_node(&self, g: &Group, location: &str) -> Result<Node, NirError> {
        let (groups, datasets) = self.h5(location, || g.member_names())?;
        if !datasets.iter().any(|d| d == "type") {
            return Err(self.bad(location, "has no `type`"));
        }
        let mut node = Node::default();
        for name in &datasets {
            let loc = format!("{location}/{}", printable(name));
            let ds = self.h5(&loc, || g.dataset(name))?;
            let n = self.h5(&loc, || ds.num_elements())?;
            if n > MAX_ARRAY_ELEMENTS {
                return Err(self.bad(
                    &loc,
                    format!("has {n} elements, over the limit of {MAX_ARRAY_ELEMENTS}"),
                ));
            }
            let (dims, dtype) = self.h5(&loc, || Ok((ds.shape().to_vec(), ds.dtype().clone())))?;
            let shape: Vec<usize> = dims
                .iter()
                .map(|&d| usize::try_from(d).map_err(|_| self.bad(&loc, "has an extent too large")))
                .collect::<Result<_, _>>()?;
            let data: Vec<f64> = match &dtype {
                Datatype::FloatingPoint { size: 4, .. } => self
                    .h5(&loc, || ds.read_array::<f32>())?
                    .into_iter()
                    .map(f64::from)
                    .collect(),
                Datatype::FloatingPoint { size: 8, .. } => self
                    .h5(&loc, || ds.read_array::<f64>())?
                    .into_iter()
                    .collect(),
                Datatype::FixedPoint { size, signed, .. } => match (size, signed) {
                    (1, true) => self
                        .h5(&loc, || ds.read_array::<i8>())?
                        .into_iter()
                        .map(f64::from)
                        .collect(),
                    (1, false) => self
                        .h5(&loc, || ds.read_array::<u8>())?
                        .into_iter()
                        .map(f64::from)
                        .collect(),
                    (2, true) => self
                        .h5(&loc, || ds.read_array::<i16>())?
                        .into_iter()
                        .map(f64::from)
                        .collect(),
                    (2, false) => self
                        .h5(&loc, || ds.read_array::<u16>())?
                        .into_iter()
                        .map(f64::from)
                        .collect(),
                    (4, true) => self
                        .h5(&loc, || ds.read_array::<i32>())?
                        .into_iter()
                        .map(f64::from)
                        .collect(),
                    (4, false) => self
                        .h5(&loc, || ds.read_array::<u32>())?
                        .into_iter()
                        .map(f64::from)
                        .collect(),
                    (8, true) => self
                        .h5(&loc, || ds.read_array::<i64>())?
                        .into_iter()
                        .map(|x| x as f64)
                        .collect(),
                    (8, false) => self
                        .h5(&loc, || ds.read_array::<u64>())?
                        .into_iter()
                        .map(|x| x as f64)
                        .collect(),
                    _ => return Err(self.bad(&loc, format!("holds {size}-byte integers"))),
                },
                Datatype::String { .. } | Datatype::VarLen { .. } => {
                    let s = self.strings(g, name, &loc)?;
                    let Some(first) = s.into_iter().next() else {
                        return Err(self.bad(&loc, "is an empty string array"));
                    };
                    if name == "type" {
                        node.kind = first;
                    } else {
                        node.strings.insert(name.clone(), first);
                    }
                    continue;
                }
                _ => return Err(self.bad(&loc, "holds neither numbers nor a string")),
            };
            let expected: usize = shape.iter().product();
            if data.len() != expected {
                return Err(self.bad(
                    &loc,
                    format!("holds {} elements for extent {shape:?}", data.len()),
                ));
            }
            if name == "type" {
                return Err(self.bad(&loc, "is not a string"));
            }
            node.params.insert(name.clone(), Array { shape, data });
        }
        let _ = groups; // grouped parameters (a Flatten's `input_type`) are not needed
        Ok(node)
    }
}
