//! Reader for lava-dl netx network files (`.net`, HDF5), as exported by lava-dl SLAYER.
//!
//! [`read`] gives a typed description of what a file holds: its layers in order, each
//! layer's kind, shape, neuron and parameter arrays, and the optional `simulation` group.
//! Values are kept as stored in the file (element type and shape), with no semantic
//! transform: what lava-dl's `netx.hdf5.Network` does with each field is documented on
//! the field, with its source line in lava-dl v0.6.0 `src/lava/lib/dl/netx/hdf5.py`
//! (written `hdf5.py:N` below) or `src/lava/lib/dl/netx/utils.py` (`utils.py:N`).
//!
//! What the reader checks is what netx needs to build a network: the `layer` group's
//! members are the groups `0`, `1`, .. `n-1` (netx reads `len(layer)` layers by index,
//! hdf5.py:574-581); each layer has a `type` string; a supported layer has the datasets
//! netx reads unconditionally for its type. Fields netx reads only when present are
//! `Option`s. Layer and neuron types netx does not build (or that need code not present
//! in v0.6.0) are kept as [`LayerKind::Unsupported`] and [`Neuron::Unsupported`] with
//! their type name, so a caller can refuse them with a precise message.
//!
//! Guarding: the file is read with a size cap ([`MAX_NETX_FILE_BYTES`]), every array's
//! element count is checked against [`MAX_TENSOR_ELEMENTS`] before it is read, the
//! `layer` group may hold at most [`MAX_LAYERS`] members, and every call into the HDF5
//! decoder runs inside `catch_unwind`, so a malformed file gives a [`NetxError`] naming
//! the file and the layer or field, never a panic; a panic hook installed once keeps such a
//! panic silent (other panics still reach the hook that was there before).

pub mod semantics;

pub use semantics::{
    BlockNeuron, NetxBlock, NetxNetwork, NetxOptions, SemanticsError, io_reset_schedule,
    lif_reset_schedule, to_network,
};

use std::fmt;
use std::io::Read;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::{Path, PathBuf};

use hdf5_reader::group::Group;
use hdf5_reader::{ByteOrder, Dataset, Datatype, Hdf5File, OpenOptions};

/// Largest file [`read`] and [`is_netx`] accept: 1 GiB. Checked on the bytes actually
/// read (the file is read through `take(cap + 1)`), not on the size the file system reports.
pub const MAX_NETX_FILE_BYTES: u64 = 1 << 30;

/// Largest element count of one array (weights, biases, delays, neuron parameters, ..):
/// 64 Mi elements. Checked on the dataset's declared extent before anything is read.
pub const MAX_TENSOR_ELEMENTS: u64 = 1 << 26;

/// Most members the `layer` group may hold: 65 536.
pub const MAX_LAYERS: usize = 1 << 16;

/// Largest decoded read the HDF5 decoder is allowed to allocate for one dataset
/// (a second guard behind [`MAX_TENSOR_ELEMENTS`]): that many elements of 8 bytes.
const MAX_READ_BYTES: u64 = MAX_TENSOR_ELEMENTS * 8;

/// HDF5 file signature (format specification, "Superblock": at offset 0, 512, 1024, ..).
const HDF5_SIGNATURE: [u8; 8] = [0x89, b'H', b'D', b'F', b'\r', b'\n', 0x1a, b'\n'];

/// Why a file could not be read as a netx network. Every message names the file and,
/// where there is one, the HDF5 path of the group or dataset (`layer/3/neuron/vThMant`).
#[derive(Debug, thiserror::Error)]
pub enum NetxError {
    #[error("{}: cannot read the file: {source}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error(
        "{}: the file is larger than the {cap} byte limit for netx files (read {read} bytes before stopping)",
        path.display()
    )]
    FileTooLarge { path: PathBuf, read: u64, cap: u64 },
    #[error(
        "{}: not an HDF5 file (no HDF5 signature at offset 0, 512, 1024, ..); a lava-dl netx .net file is HDF5",
        path.display()
    )]
    NotHdf5 { path: PathBuf },
    #[error(
        "{}: HDF5 file without a `layer` group, so not a lava-dl netx network (top-level members: {members})",
        path.display()
    )]
    NoLayerGroup { path: PathBuf, members: String },
    #[error("{}: HDF5 data unreadable at `{location}`: {message}; the file is probably corrupt", path.display())]
    Hdf5 {
        path: PathBuf,
        location: String,
        message: String,
    },
    #[error(
        "{}: the HDF5 decoder failed on malformed data at `{location}`; the file is probably corrupt",
        path.display()
    )]
    DecoderPanic { path: PathBuf, location: String },
    #[error("{}: `{location}` is missing; netx needs it for {needed_by}", path.display())]
    Missing {
        path: PathBuf,
        location: String,
        /// What needs the field, e.g. "a `conv` layer" or "a `LOIHI` neuron".
        needed_by: String,
    },
    #[error("{}: `{location}` holds {found}, expected {expected}", path.display())]
    BadValue {
        path: PathBuf,
        location: String,
        expected: String,
        found: String,
    },
    #[error(
        "{}: `{location}` has {elements} elements, over the limit of {cap} elements per array",
        path.display()
    )]
    TensorTooLarge {
        path: PathBuf,
        location: String,
        elements: u64,
        cap: u64,
    },
    #[error(
        "{}: the `layer` group has {count} members, over the limit of {cap} layers",
        path.display()
    )]
    TooManyLayers {
        path: PathBuf,
        count: usize,
        cap: usize,
    },
    #[error(
        "{}: the `layer` group's members must be groups named 0, 1, .. {last}; {problem}",
        path.display()
    )]
    LayerNames {
        path: PathBuf,
        last: String,
        problem: String,
    },
}

/// The element values of a [`Tensor`], in the element type they have in the file
/// (integers of every width and signedness, and HDF5 enums such as h5py's booleans,
/// are widened to `i64`).
#[derive(Debug, Clone, PartialEq)]
pub enum TensorData {
    F32(Vec<f32>),
    F64(Vec<f64>),
    I64(Vec<i64>),
}

/// One dataset's values as stored: `shape` is the HDF5 extent (empty for a scalar
/// dataset), `data` the elements in row-major (C) order.
#[derive(Debug, Clone, PartialEq)]
pub struct Tensor {
    pub shape: Vec<usize>,
    pub data: TensorData,
}

impl Tensor {
    /// Number of elements.
    pub fn len(&self) -> usize {
        match &self.data {
            TensorData::F32(v) => v.len(),
            TensorData::F64(v) => v.len(),
            TensorData::I64(v) => v.len(),
        }
    }

    /// Whether the tensor has no elements.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The elements as `f64` (exact for `f32`, and for integers up to 2^53).
    pub fn to_f64(&self) -> Vec<f64> {
        match &self.data {
            TensorData::F32(v) => v.iter().map(|&x| f64::from(x)).collect(),
            TensorData::F64(v) => v.clone(),
            TensorData::I64(v) => v.iter().map(|&x| x as f64).collect(),
        }
    }

    /// The single element of a scalar or one-element dataset, as `f64`.
    pub fn scalar_f64(&self) -> Option<f64> {
        (self.len() == 1).then(|| self.to_f64()[0])
    }

    /// The single element of a scalar or one-element integer dataset.
    pub fn scalar_i64(&self) -> Option<i64> {
        match &self.data {
            TensorData::I64(v) if v.len() == 1 => Some(v[0]),
            _ => None,
        }
    }

    /// The elements of an integer dataset.
    pub fn as_i64(&self) -> Option<&[i64]> {
        match &self.data {
            TensorData::I64(v) => Some(v),
            _ => None,
        }
    }
}

/// A whole netx file.
#[derive(Debug, Clone, PartialEq)]
pub struct NetxFile {
    /// The members of the `layer` group, in index order (`layer/0`, `layer/1`, ..).
    /// netx builds them in this order (hdf5.py:580-581).
    pub layers: Vec<Layer>,
    /// The top-level `simulation` group, when present. netx v0.6.0 does not read it.
    pub simulation: Option<Simulation>,
}

/// The optional top-level `simulation` group written by SLAYER's exporter.
#[derive(Debug, Clone, PartialEq)]
pub struct Simulation {
    /// `simulation/Ts`: the sampling time step. Not read by netx v0.6.0.
    pub ts: Option<Tensor>,
    /// `simulation/tSample`: the sample length in time steps. Not read by netx v0.6.0.
    pub t_sample: Option<Tensor>,
}

/// A layer type, from the layer's `type` dataset (netx dispatches on it, hdf5.py:581-683).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LayerKind {
    /// `input`: an input block when it has a `neuron` group (hdf5.py:584-595); without
    /// one, only its `shape` is used as the input shape of what follows (hdf5.py:596-597).
    Input,
    /// `dense`: a fully connected block (hdf5.py:638-663, `create_dense` hdf5.py:315).
    Dense,
    /// `dense_rec`: a fully connected block with recurrent weights `weight_rec`
    /// (hdf5.py:638-663, `rec=True`).
    DenseRec,
    /// `conv`: a 2-D convolution block (hdf5.py:599-623, `create_conv` hdf5.py:464).
    Conv,
    /// `flatten`: no block; the next dense layer's input is the previous block's output
    /// transposed to (z, y, x) and flattened (hdf5.py:634-636, 655-660).
    Flatten,
    /// A type netx v0.6.0 does not build: `pool`, `convT`, `unpool`, `average`, `concat`
    /// raise `NotImplementedError` (hdf5.py:625-632, 679-683); `dense_comp` calls
    /// `create_complex_dense`, which v0.6.0 does not define (hdf5.py:664-665); a `dense`
    /// layer whose `weight` is a group (`weight/real`, `weight/imag`) builds a complex
    /// dense block (hdf5.py:362-390); any other name is skipped silently by netx.
    Unsupported { type_name: String, reason: String },
}

/// Convolution parameters of a `conv` layer. netx's `expand` (hdf5.py:496-499) turns a
/// scalar `x` into `[x, x]` and reverses a 2-element array (file order is (y, x)).
#[derive(Debug, Clone, PartialEq)]
pub struct ConvParams {
    /// `stride`: required; passed to the Conv block after `expand` (hdf5.py:507).
    pub stride: Tensor,
    /// `padding`: required; passed after `expand` (hdf5.py:508).
    pub padding: Tensor,
    /// `dilation`: required; passed after `expand` (hdf5.py:509).
    pub dilation: Tensor,
    /// `groups`: required; passed as is (hdf5.py:510).
    pub groups: Tensor,
    /// `kernelSize`: not read by netx, which takes the kernel size from `weight`'s shape
    /// (hdf5.py:532).
    pub kernel_size: Option<Tensor>,
    /// `inChannels`: not read by netx.
    pub in_channels: Option<Tensor>,
    /// `outChannels`: not read by netx.
    pub out_channels: Option<Tensor>,
}

/// One member `layer/<index>` of the `layer` group.
#[derive(Debug, Clone, PartialEq)]
pub struct Layer {
    /// The member's name as a number: `layer/<index>`.
    pub index: usize,
    /// The `type` dataset, first element of a string array or the scalar string,
    /// ASCII (`NetDict`, utils.py:60-66).
    pub kind: LayerKind,
    /// `shape`, integers in file order (channels first, e.g. `[C, H, W]` or `[N]`).
    /// netx reverses it to (x, y, z) for input and conv layers (hdf5.py:272, 500, 597)
    /// and takes its product as the neuron count of a dense layer (hdf5.py:346).
    /// Required for dense, dense_rec and conv layers, and for input layers with a neuron.
    pub shape: Option<Vec<i64>>,
    /// `neuron` group. Required for conv (hdf5.py:501); optional for dense (netx's
    /// default is a non-leaky CUBA integrator, hdf5.py:348-357) and input (hdf5.py:584).
    pub neuron: Option<Neuron>,
    /// `weight`. Dense: `[out, in]` (or 1-D, reshaped to `[shape[0], -1]`), cast to int
    /// and fitted to the synapse format by `optimize_weight_bits` (utils.py:68,
    /// hdf5.py:393-411). Conv: `[out, in, ky, kx]` (a trailing unit dimension allowed),
    /// cast to int, flipped in both kernel axes and transposed to (out, x, y, in)
    /// (hdf5.py:505-506). Input: a scalar gain, `int(weight)`, default 64 (hdf5.py:279-282).
    pub weight: Option<Tensor>,
    /// `weight_rec` of a dense_rec layer: the recurrent weights, cast to int, fitted
    /// together with `weight` (hdf5.py:394-407).
    pub weight_rec: Option<Tensor>,
    /// `bias`: cast to int (utils.py:68) and given to the neuron as `bias_mant`
    /// (dense, conv: hdf5.py:451-452, 524-525); for input, `int(bias)`, default 0
    /// (hdf5.py:284-287).
    pub bias: Option<Tensor>,
    /// `delay` of a dense or dense_rec layer: synaptic delays, clamped to 0..=62,
    /// a scalar or per-output or per-input vector broadcast to the weight's shape
    /// (hdf5.py:425-448). For conv only its presence is shown in netx's table
    /// (hdf5.py:542); the delays are not used.
    pub delay: Option<Tensor>,
    /// Convolution parameters of a conv layer.
    pub conv: Option<ConvParams>,
}

/// A layer's `neuron` group, typed by its `type` dataset (hdf5.py:140-203).
#[derive(Debug, Clone, PartialEq)]
pub enum Neuron {
    /// `LOIHI` or `CUBA`: current-based LIF (Lava `LIF`, or `LIFReset` with a reset
    /// interval; hdf5.py:144-163).
    Cuba(Box<CubaNeuron>),
    /// `SDNN`: sigma-delta (Lava `Delta` for an input layer, `Sigma` with
    /// `sigma_output`, `SigmaDelta` otherwise; hdf5.py:164-189).
    Sdnn(Box<SdnnNeuron>),
    /// Any other type: resonate-and-fire types (`type` containing `RF`,
    /// hdf5.py:190-203) and names netx does not know (for which it returns nothing).
    Unsupported { type_name: String },
}

/// Fields of a `LOIHI` / `CUBA` neuron group.
#[derive(Debug, Clone, PartialEq)]
pub struct CubaNeuron {
    /// `type` as stored: `LOIHI` or `CUBA`.
    pub type_name: String,
    /// `vThMant`: required; the threshold mantissa, passed as `vth` (hdf5.py:155).
    pub v_th_mant: Tensor,
    /// `iDecay`: required; current decay in 1/4096, passed as `du = iDecay - 1`
    /// (hdf5.py:156).
    pub i_decay: Tensor,
    /// `vDecay`: required; voltage decay in 1/4096, passed as `dv` (hdf5.py:157).
    pub v_decay: Tensor,
    /// `refDelay`: refractory delay; not read by netx (Lava LIF has no refractory period).
    pub ref_delay: Option<Tensor>,
    /// `wgtExp`: weight exponent; not read by netx (it derives the exponent from the
    /// weights, utils.py:80).
    pub wgt_exp: Option<Tensor>,
    /// `theta`: SLAYER's threshold before scaling; not read by netx.
    pub theta: Option<Tensor>,
    /// `tauRho`: SLAYER's surrogate-gradient width; not read by netx (training only).
    pub tau_rho: Option<Tensor>,
    /// `scaleRho`: SLAYER's surrogate-gradient scale; not read by netx (training only).
    pub scale_rho: Option<Tensor>,
    /// `messageBits`: bits of a graded output spike, default 0 = binary spikes
    /// (hdf5.py:142-146, 159).
    pub message_bits: Option<Tensor>,
}

/// Fields of an `SDNN` neuron group.
#[derive(Debug, Clone, PartialEq)]
pub struct SdnnNeuron {
    /// `vThMant`: the delta threshold, passed as `vth` to `Delta` / `SigmaDelta`
    /// (hdf5.py:174, 185); netx needs it unless the layer is a non-input layer
    /// with `sigma_output`.
    pub v_th_mant: Option<Tensor>,
    /// `activation` (e.g. `relu`): not read by netx v0.6.0 (Lava's `SigmaDelta`
    /// default activation is ReLU).
    pub activation: Option<String>,
    /// `sigma_output` (an h5py boolean, as 0/1): netx checks only that it is present,
    /// not its value, and then builds a plain `Sigma` (hdf5.py:178-181).
    pub sigma_output: Option<Tensor>,
    /// `messageBits`: bits of a graded output, default 16 (hdf5.py:168-169).
    pub message_bits: Option<Tensor>,
}

/// Whether `path` holds a netx network, judged by content (not by extension): an HDF5
/// signature at offset 0, 512, 1024, .. and a top-level `layer` group. Files over
/// [`MAX_NETX_FILE_BYTES`] and unreadable files give `false`.
pub fn is_netx(path: impl AsRef<Path>) -> bool {
    let path = path.as_ref();
    let Ok(bytes) = read_capped(path, MAX_NETX_FILE_BYTES) else {
        return false;
    };
    let Ok(file) = open_hdf5(path, bytes) else {
        return false;
    };
    file.layer_group().is_ok()
}

/// Read the netx file at `path`.
pub fn read(path: impl AsRef<Path>) -> Result<NetxFile, NetxError> {
    let path = path.as_ref();
    let bytes = read_capped(path, MAX_NETX_FILE_BYTES)?;
    read_bytes(path, bytes)
}

/// Read a netx file already in memory; `name` stands for the file in error messages.
pub fn read_bytes(name: impl AsRef<Path>, bytes: Vec<u8>) -> Result<NetxFile, NetxError> {
    let name = name.as_ref();
    if bytes.len() as u64 > MAX_NETX_FILE_BYTES {
        return Err(NetxError::FileTooLarge {
            path: name.to_path_buf(),
            read: bytes.len() as u64,
            cap: MAX_NETX_FILE_BYTES,
        });
    }
    let file = open_hdf5(name, bytes)?;
    file.read_all()
}

/// The file's bytes, refused when there are more than `cap` of them.
fn read_capped(path: &Path, cap: u64) -> Result<Vec<u8>, NetxError> {
    let io = |source| NetxError::Io {
        path: path.to_path_buf(),
        source,
    };
    let file = std::fs::File::open(path).map_err(io)?;
    let mut bytes = Vec::new();
    file.take(cap.saturating_add(1))
        .read_to_end(&mut bytes)
        .map_err(io)?;
    if bytes.len() as u64 > cap {
        return Err(NetxError::FileTooLarge {
            path: path.to_path_buf(),
            read: bytes.len() as u64,
            cap,
        });
    }
    Ok(bytes)
}

/// Whether `bytes` carries the HDF5 signature where the format allows a superblock.
fn has_hdf5_signature(bytes: &[u8]) -> bool {
    let at = |offset: usize| {
        bytes
            .get(offset..offset.saturating_add(HDF5_SIGNATURE.len()))
            .is_some_and(|s| s == HDF5_SIGNATURE)
    };
    if at(0) {
        return true;
    }
    let mut offset = 512usize;
    while offset < bytes.len() {
        if at(offset) {
            return true;
        }
        offset = match offset.checked_mul(2) {
            Some(o) => o,
            None => break,
        };
    }
    false
}

fn open_hdf5(path: &Path, bytes: Vec<u8>) -> Result<Reader, NetxError> {
    if !has_hdf5_signature(&bytes) {
        return Err(NetxError::NotHdf5 {
            path: path.to_path_buf(),
        });
    }
    let options = OpenOptions::default()
        .with_max_read_bytes(usize::try_from(MAX_READ_BYTES).unwrap_or(usize::MAX))
        .with_chunk_cache_bytes(16 << 20);
    let file = guard(path, "superblock", || {
        Hdf5File::from_vec_with_options(bytes, options)
    })?;
    Ok(Reader {
        path: path.to_path_buf(),
        file,
    })
}

/// Run one call into the HDF5 decoder: its errors and panics become a [`NetxError`]
/// naming the file and `location`.
fn guard<T>(
    path: &Path,
    location: &str,
    f: impl FnOnce() -> Result<T, hdf5_reader::error::Error>,
) -> Result<T, NetxError> {
    quiet_decoder_panics();
    IN_DECODER.with(|c| c.set(true));
    let outcome = catch_unwind(AssertUnwindSafe(f));
    IN_DECODER.with(|c| c.set(false));
    match outcome {
        Ok(Ok(v)) => Ok(v),
        Ok(Err(e)) => Err(NetxError::Hdf5 {
            path: path.to_path_buf(),
            location: location.to_string(),
            message: one_line(&e.to_string()),
        }),
        Err(_) => Err(NetxError::DecoderPanic {
            path: path.to_path_buf(),
            location: location.to_string(),
        }),
    }
}

thread_local! {
    /// Whether this thread is inside a call into the HDF5 decoder.
    static IN_DECODER: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// Installs, once, a panic hook that stays silent for panics inside the HDF5 decoder (they
/// become a [`NetxError::DecoderPanic`], one line) and hands every other panic to the hook
/// that was there before, so a library panic never prints to the terminal while the caller's
/// own panics still do.
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

/// Members of a group, split as the HDF5 decoder lists them.
struct Members {
    groups: Vec<String>,
    datasets: Vec<String>,
}

impl Members {
    fn has_dataset(&self, name: &str) -> bool {
        self.datasets.iter().any(|n| n == name)
    }
    fn has_group(&self, name: &str) -> bool {
        self.groups.iter().any(|n| n == name)
    }
    fn describe(&self) -> String {
        let mut all: Vec<&str> = self
            .groups
            .iter()
            .chain(self.datasets.iter())
            .map(String::as_str)
            .collect();
        all.sort_unstable();
        if all.is_empty() {
            "none".to_string()
        } else {
            all.iter()
                .take(16)
                .map(|n| format!("`{}`", printable(n)))
                .collect::<Vec<_>>()
                .join(", ")
        }
    }
}

/// A name made safe for a one-line message.
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

impl fmt::Debug for Reader {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Reader").field("path", &self.path).finish()
    }
}

/// A layer's members and location, for the field readers.
struct Ctx<'a> {
    group: &'a Group,
    members: Members,
    location: String,
}

impl Reader {
    /// [`guard`] naming this file.
    fn h5<T>(
        &self,
        location: &str,
        f: impl FnOnce() -> Result<T, hdf5_reader::error::Error>,
    ) -> Result<T, NetxError> {
        guard(&self.path, location, f)
    }

    fn bad(&self, location: &str, expected: &str, found: String) -> NetxError {
        NetxError::BadValue {
            path: self.path.clone(),
            location: location.to_string(),
            expected: expected.to_string(),
            found,
        }
    }

    fn members(&self, group: &Group, location: &str) -> Result<Members, NetxError> {
        let (groups, datasets) = self.h5(location, || group.member_names())?;
        Ok(Members { groups, datasets })
    }

    fn root(&self) -> Result<(Group, Members), NetxError> {
        let root = self.h5("/", || self.file.root_group())?;
        let members = self.members(&root, "/")?;
        Ok((root, members))
    }

    fn layer_group(&self) -> Result<Group, NetxError> {
        let (root, members) = self.root()?;
        if !members.has_group("layer") {
            return Err(NetxError::NoLayerGroup {
                path: self.path.clone(),
                members: members.describe(),
            });
        }
        self.h5("layer", || root.group("layer"))
    }

    fn read_all(&self) -> Result<NetxFile, NetxError> {
        let (root, root_members) = self.root()?;
        if !root_members.has_group("layer") {
            return Err(NetxError::NoLayerGroup {
                path: self.path.clone(),
                members: root_members.describe(),
            });
        }
        let layer_group = self.h5("layer", || root.group("layer"))?;
        let members = self.members(&layer_group, "layer")?;
        let names = self.layer_names(&members)?;
        let mut layers = Vec::with_capacity(names.len());
        for (index, name) in names.iter().enumerate() {
            let location = format!("layer/{name}");
            let group = self.h5(&location, || layer_group.group(name))?;
            layers.push(self.read_layer(index, &group, location)?);
        }
        let simulation = if root_members.has_group("simulation") {
            let group = self.h5("simulation", || root.group("simulation"))?;
            let members = self.members(&group, "simulation")?;
            let ctx = Ctx {
                group: &group,
                members,
                location: "simulation".to_string(),
            };
            Some(Simulation {
                ts: self.opt_tensor(&ctx, "Ts")?,
                t_sample: self.opt_tensor(&ctx, "tSample")?,
            })
        } else {
            None
        };
        Ok(NetxFile { layers, simulation })
    }

    /// The `layer` group's member names in index order, checked to be `0..n`.
    fn layer_names(&self, members: &Members) -> Result<Vec<String>, NetxError> {
        let count = members.groups.len() + members.datasets.len();
        if count > MAX_LAYERS {
            return Err(NetxError::TooManyLayers {
                path: self.path.clone(),
                count,
                cap: MAX_LAYERS,
            });
        }
        let last = count.saturating_sub(1).to_string();
        let names_error = |problem: String| NetxError::LayerNames {
            path: self.path.clone(),
            last: last.clone(),
            problem,
        };
        if let Some(d) = members.datasets.first() {
            return Err(names_error(format!(
                "`layer/{}` is a dataset, not a layer group",
                printable(d)
            )));
        }
        let mut indexed = Vec::with_capacity(count);
        for name in &members.groups {
            let canonical = name
                .parse::<usize>()
                .ok()
                .filter(|i| i.to_string() == *name);
            match canonical {
                Some(i) if i < count => indexed.push((i, name.clone())),
                _ => {
                    return Err(names_error(format!(
                        "found `layer/{}`, which is not one of them",
                        printable(name)
                    )));
                }
            }
        }
        indexed.sort_unstable();
        for (want, (got, name)) in indexed.iter().enumerate() {
            if *got != want {
                return Err(names_error(format!("`layer/{name}` appears twice")));
            }
        }
        Ok(indexed.into_iter().map(|(_, n)| n).collect())
    }

    fn read_layer(
        &self,
        index: usize,
        group: &Group,
        location: String,
    ) -> Result<Layer, NetxError> {
        let members = self.members(group, &location)?;
        let ctx = Ctx {
            group,
            members,
            location,
        };
        let type_name = match self.opt_string(&ctx, "type")? {
            Some(t) => t,
            None => {
                return Err(NetxError::Missing {
                    path: self.path.clone(),
                    location: format!("{}/type", ctx.location),
                    needed_by: "every layer".to_string(),
                });
            }
        };
        let mut layer = Layer {
            index,
            kind: LayerKind::Unsupported {
                type_name: type_name.clone(),
                reason: String::new(),
            },
            shape: self.opt_shape(&ctx)?,
            neuron: None,
            weight: None,
            weight_rec: None,
            bias: None,
            delay: None,
            conv: None,
        };
        let unsupported = |reason: &str| LayerKind::Unsupported {
            type_name: type_name.clone(),
            reason: reason.to_string(),
        };
        match type_name.as_str() {
            "input" => {
                layer.kind = LayerKind::Input;
                layer.neuron = self.opt_neuron(&ctx)?;
                if layer.neuron.is_some() && layer.shape.is_none() {
                    return Err(self.missing(&ctx, "shape", &type_name));
                }
                layer.weight = self.opt_tensor(&ctx, "weight")?;
                layer.bias = self.opt_tensor(&ctx, "bias")?;
            }
            "dense" | "dense_rec" => {
                if ctx.members.has_group("weight") {
                    layer.kind = unsupported(
                        "its `weight` is a group (complex `weight/real`, `weight/imag`), which netx builds as a complex dense block",
                    );
                    return Ok(layer);
                }
                let rec = type_name == "dense_rec";
                layer.kind = if rec {
                    LayerKind::DenseRec
                } else {
                    LayerKind::Dense
                };
                if layer.shape.is_none() {
                    return Err(self.missing(&ctx, "shape", &type_name));
                }
                layer.neuron = self.opt_neuron(&ctx)?;
                layer.weight = Some(self.req_tensor(&ctx, "weight", &type_name)?);
                if rec {
                    layer.weight_rec = Some(self.req_tensor(&ctx, "weight_rec", &type_name)?);
                }
                layer.bias = self.opt_tensor(&ctx, "bias")?;
                layer.delay = self.opt_tensor(&ctx, "delay")?;
            }
            "conv" => {
                layer.kind = LayerKind::Conv;
                if layer.shape.is_none() {
                    return Err(self.missing(&ctx, "shape", &type_name));
                }
                layer.neuron = self.opt_neuron(&ctx)?;
                if layer.neuron.is_none() {
                    return Err(self.missing(&ctx, "neuron", &type_name));
                }
                layer.weight = Some(self.req_tensor(&ctx, "weight", &type_name)?);
                layer.conv = Some(ConvParams {
                    stride: self.req_tensor(&ctx, "stride", &type_name)?,
                    padding: self.req_tensor(&ctx, "padding", &type_name)?,
                    dilation: self.req_tensor(&ctx, "dilation", &type_name)?,
                    groups: self.req_tensor(&ctx, "groups", &type_name)?,
                    kernel_size: self.opt_tensor(&ctx, "kernelSize")?,
                    in_channels: self.opt_tensor(&ctx, "inChannels")?,
                    out_channels: self.opt_tensor(&ctx, "outChannels")?,
                });
                layer.bias = self.opt_tensor(&ctx, "bias")?;
                layer.delay = self.opt_tensor(&ctx, "delay")?;
            }
            "flatten" => layer.kind = LayerKind::Flatten,
            "pool" | "convT" | "unpool" | "average" | "concat" => {
                layer.kind = unsupported("netx v0.6.0 raises NotImplementedError for it");
            }
            "dense_comp" => {
                layer.kind = unsupported("netx v0.6.0 has no create_complex_dense for it");
            }
            _ => layer.kind = unsupported("netx does not know this layer type and skips it"),
        }
        Ok(layer)
    }

    fn missing(&self, ctx: &Ctx<'_>, field: &str, layer_type: &str) -> NetxError {
        NetxError::Missing {
            path: self.path.clone(),
            location: format!("{}/{field}", ctx.location),
            needed_by: format!("a `{layer_type}` layer"),
        }
    }

    fn opt_shape(&self, ctx: &Ctx<'_>) -> Result<Option<Vec<i64>>, NetxError> {
        let Some(t) = self.opt_tensor(ctx, "shape")? else {
            return Ok(None);
        };
        let location = format!("{}/shape", ctx.location);
        match (&t.data, t.shape.len()) {
            (TensorData::I64(v), 0 | 1) => Ok(Some(v.clone())),
            (TensorData::I64(_), n) => Err(self.bad(
                &location,
                "a 1-D integer array",
                format!("a {n}-D integer array"),
            )),
            _ => Err(self.bad(
                &location,
                "a 1-D integer array",
                "a floating-point array".to_string(),
            )),
        }
    }

    fn opt_neuron(&self, ctx: &Ctx<'_>) -> Result<Option<Neuron>, NetxError> {
        if !ctx.members.has_group("neuron") {
            return Ok(None);
        }
        let location = format!("{}/neuron", ctx.location);
        let group = self.h5(&location, || ctx.group.group("neuron"))?;
        let members = self.members(&group, &location)?;
        let n = Ctx {
            group: &group,
            members,
            location,
        };
        let Some(type_name) = self.opt_string(&n, "type")? else {
            return Err(NetxError::Missing {
                path: self.path.clone(),
                location: format!("{}/type", n.location),
                needed_by: "every neuron group".to_string(),
            });
        };
        let neuron_field = |field: &str| -> Result<Tensor, NetxError> {
            self.opt_tensor(&n, field)?
                .ok_or_else(|| NetxError::Missing {
                    path: self.path.clone(),
                    location: format!("{}/{field}", n.location),
                    needed_by: format!("a `{type_name}` neuron"),
                })
        };
        let neuron = match type_name.as_str() {
            "LOIHI" | "CUBA" => Neuron::Cuba(Box::new(CubaNeuron {
                type_name: type_name.clone(),
                v_th_mant: neuron_field("vThMant")?,
                i_decay: neuron_field("iDecay")?,
                v_decay: neuron_field("vDecay")?,
                ref_delay: self.opt_tensor(&n, "refDelay")?,
                wgt_exp: self.opt_tensor(&n, "wgtExp")?,
                theta: self.opt_tensor(&n, "theta")?,
                tau_rho: self.opt_tensor(&n, "tauRho")?,
                scale_rho: self.opt_tensor(&n, "scaleRho")?,
                message_bits: self.opt_tensor(&n, "messageBits")?,
            })),
            "SDNN" => Neuron::Sdnn(Box::new(SdnnNeuron {
                v_th_mant: self.opt_tensor(&n, "vThMant")?,
                activation: self.opt_string(&n, "activation")?,
                sigma_output: self.opt_tensor(&n, "sigma_output")?,
                message_bits: self.opt_tensor(&n, "messageBits")?,
            })),
            _ => Neuron::Unsupported {
                type_name: type_name.clone(),
            },
        };
        Ok(Some(neuron))
    }

    fn req_tensor(
        &self,
        ctx: &Ctx<'_>,
        field: &str,
        layer_type: &str,
    ) -> Result<Tensor, NetxError> {
        self.opt_tensor(ctx, field)?
            .ok_or_else(|| self.missing(ctx, field, layer_type))
    }

    fn dataset(&self, ctx: &Ctx<'_>, field: &str) -> Result<Option<(Dataset, String)>, NetxError> {
        let location = format!("{}/{field}", ctx.location);
        if ctx.members.has_group(field) {
            return Err(self.bad(&location, "a dataset", "a group".to_string()));
        }
        if !ctx.members.has_dataset(field) {
            return Ok(None);
        }
        let ds = self.h5(&location, || ctx.group.dataset(field))?;
        Ok(Some((ds, location)))
    }

    /// A string dataset: the first element of an array, or the scalar (utils.py:60-66).
    fn opt_string(&self, ctx: &Ctx<'_>, field: &str) -> Result<Option<String>, NetxError> {
        let Some((ds, location)) = self.dataset(ctx, field)? else {
            return Ok(None);
        };
        self.check_elements(&ds, &location)?;
        let strings = self.h5(&location, || ds.read_strings())?;
        let Some(first) = strings.into_iter().next() else {
            return Err(self.bad(&location, "a string", "an empty array".to_string()));
        };
        // h5py hands back bytes that netx decodes as ASCII; the decoder may keep a
        // trailing NUL of a fixed-length string.
        let value = first.trim_end_matches('\0').to_string();
        if !value.is_ascii() {
            return Err(self.bad(
                &location,
                "an ASCII string",
                format!("`{}`", printable(&value)),
            ));
        }
        Ok(Some(value))
    }

    fn check_elements(&self, ds: &Dataset, location: &str) -> Result<(), NetxError> {
        let elements = self.h5(location, || ds.num_elements())?;
        if elements > MAX_TENSOR_ELEMENTS {
            return Err(NetxError::TensorTooLarge {
                path: self.path.clone(),
                location: location.to_string(),
                elements,
                cap: MAX_TENSOR_ELEMENTS,
            });
        }
        Ok(())
    }

    fn opt_tensor(&self, ctx: &Ctx<'_>, field: &str) -> Result<Option<Tensor>, NetxError> {
        let Some((ds, location)) = self.dataset(ctx, field)? else {
            return Ok(None);
        };
        self.check_elements(&ds, &location)?;
        let (dims, dtype) = self.h5(&location, || Ok((ds.shape().to_vec(), ds.dtype().clone())))?;
        let shape = dims
            .iter()
            .map(|&d| usize::try_from(d))
            .collect::<Result<Vec<usize>, _>>()
            .map_err(|_| {
                self.bad(
                    &location,
                    "an extent that fits in memory",
                    format!("{dims:?}"),
                )
            })?;
        let data = match &dtype {
            Datatype::FloatingPoint { size: 4, .. } => TensorData::F32(
                self.h5(&location, || ds.read_array::<f32>())?
                    .into_iter()
                    .collect(),
            ),
            Datatype::FloatingPoint { size: 8, .. } => TensorData::F64(
                self.h5(&location, || ds.read_array::<f64>())?
                    .into_iter()
                    .collect(),
            ),
            Datatype::FixedPoint { size, signed, .. } => {
                TensorData::I64(self.read_ints(&ds, &location, *size, *signed)?)
            }
            Datatype::Enum { base, .. } => match base.as_ref() {
                Datatype::FixedPoint {
                    size,
                    signed,
                    byte_order,
                } => {
                    TensorData::I64(self.read_enum(&ds, &location, *size, *signed, *byte_order)?)
                }
                other => {
                    return Err(self.bad(
                        &location,
                        "numbers",
                        format!("an enum over {}", type_words(other)),
                    ));
                }
            },
            other => return Err(self.bad(&location, "numbers", type_words(other))),
        };
        let tensor = Tensor { shape, data };
        let expected: usize = tensor.shape.iter().product();
        if tensor.len() != expected {
            return Err(self.bad(
                &location,
                &format!("{expected} elements for extent {:?}", tensor.shape),
                format!("{} elements", tensor.len()),
            ));
        }
        Ok(Some(tensor))
    }

    fn read_ints(
        &self,
        ds: &Dataset,
        location: &str,
        size: u8,
        signed: bool,
    ) -> Result<Vec<i64>, NetxError> {
        macro_rules! widen {
            ($t:ty) => {
                self.h5(location, || ds.read_array::<$t>())?
                    .into_iter()
                    .map(i64::from)
                    .collect()
            };
        }
        Ok(match (size, signed) {
            (1, true) => widen!(i8),
            (1, false) => widen!(u8),
            (2, true) => widen!(i16),
            (2, false) => widen!(u16),
            (4, true) => widen!(i32),
            (4, false) => widen!(u32),
            (8, true) => self
                .h5(location, || ds.read_array::<i64>())?
                .into_iter()
                .collect(),
            (8, false) => {
                let values = self.h5(location, || ds.read_array::<u64>())?;
                let mut out = Vec::with_capacity(values.len());
                for v in values {
                    out.push(i64::try_from(v).map_err(|_| {
                        self.bad(location, "integers up to 2^63 - 1", format!("{v}"))
                    })?);
                }
                out
            }
            _ => {
                return Err(self.bad(
                    location,
                    "integers of 1, 2, 4 or 8 bytes",
                    format!("{size}-byte integers"),
                ));
            }
        })
    }

    /// An enum dataset (h5py stores `bool` as an enum over `int8`): its base integers.
    fn read_enum(
        &self,
        ds: &Dataset,
        location: &str,
        size: u8,
        signed: bool,
        order: ByteOrder,
    ) -> Result<Vec<i64>, NetxError> {
        let width = usize::from(size);
        if !matches!(width, 1 | 2 | 4 | 8) {
            return Err(self.bad(
                location,
                "an enum over integers of 1, 2, 4 or 8 bytes",
                format!("an enum over {size}-byte integers"),
            ));
        }
        let raw = self.h5(location, || ds.read_raw_bytes())?;
        if raw.len() % width != 0 {
            return Err(self.bad(
                location,
                &format!("a multiple of {width} bytes"),
                format!("{} bytes", raw.len()),
            ));
        }
        let mut out = Vec::with_capacity(raw.len() / width);
        for chunk in raw.chunks_exact(width) {
            let mut buf = [0u8; 8];
            match order {
                ByteOrder::LittleEndian => buf[..width].copy_from_slice(chunk),
                ByteOrder::BigEndian => {
                    for (i, b) in chunk.iter().rev().enumerate() {
                        buf[i] = *b;
                    }
                }
            }
            let unsigned = u64::from_le_bytes(buf);
            let value = if signed && width < 8 {
                let shift = 64 - 8 * width as u32;
                ((unsigned << shift) as i64) >> shift
            } else {
                unsigned as i64
            };
            if !signed && width == 8 && value < 0 {
                return Err(self.bad(location, "integers up to 2^63 - 1", format!("{unsigned}")));
            }
            out.push(value);
        }
        Ok(out)
    }
}

/// A short description of an HDF5 element type for messages.
fn type_words(dtype: &Datatype) -> String {
    match dtype {
        Datatype::FixedPoint { size, signed, .. } => {
            format!(
                "{size}-byte {} integers",
                if *signed { "signed" } else { "unsigned" }
            )
        }
        Datatype::FloatingPoint { size, .. } => format!("{size}-byte floats"),
        Datatype::String { .. } => "strings".to_string(),
        Datatype::Compound { .. } => "compound records".to_string(),
        Datatype::Array { .. } => "fixed-size array elements".to_string(),
        Datatype::Enum { .. } => "enum values".to_string(),
        Datatype::VarLen { .. } => "variable-length sequences".to_string(),
        Datatype::Opaque { .. } => "opaque bytes".to_string(),
        Datatype::Reference { .. } => "object references".to_string(),
        Datatype::Bitfield { .. } => "bitfields".to_string(),
    }
}

/// A decoder message made one line.
fn one_line(message: &str) -> String {
    let mut s: String = message
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .take(300)
        .collect();
    if message.chars().count() > 300 {
        s.push_str("...");
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_decoder_panic_becomes_a_one_line_error_and_the_flag_is_cleared() {
        let r: Result<(), NetxError> =
            guard(Path::new("x.net"), "layer/0/type", || panic!("decoder bug"));
        let e = r.expect_err("panic").to_string();
        assert!(e.contains("x.net") && !e.contains('\n'), "{e}");
        assert!(!IN_DECODER.with(std::cell::Cell::get));
        let ok: Result<u8, NetxError> = guard(Path::new("x.net"), "l", || Ok(3));
        assert_eq!(ok.expect("value"), 3);
    }

    #[test]
    fn signature_found_at_zero_and_power_of_two_offsets_only() {
        let mut bytes = vec![0u8; 4096];
        assert!(!has_hdf5_signature(&bytes));
        bytes[1024..1032].copy_from_slice(&HDF5_SIGNATURE);
        assert!(has_hdf5_signature(&bytes));
        let mut odd = vec![0u8; 4096];
        odd[1000..1008].copy_from_slice(&HDF5_SIGNATURE);
        assert!(!has_hdf5_signature(&odd));
        assert!(has_hdf5_signature(&HDF5_SIGNATURE));
        assert!(!has_hdf5_signature(&HDF5_SIGNATURE[..7]));
    }

    #[test]
    fn file_over_the_cap_is_refused_on_bytes_read() {
        let dir = std::env::temp_dir().join(format!("loisim-netx-cap-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("big.net");
        std::fs::write(&path, [7u8; 17]).unwrap();
        assert_eq!(read_capped(&path, 17).unwrap().len(), 17);
        match read_capped(&path, 16) {
            Err(NetxError::FileTooLarge {
                read: 17, cap: 16, ..
            }) => {}
            other => panic!("{other:?}"),
        }
        let msg = read_capped(&path, 16).unwrap_err().to_string();
        assert!(
            msg.contains("big.net") && msg.contains("16 byte limit"),
            "{msg}"
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
