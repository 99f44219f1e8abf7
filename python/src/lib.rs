//! `loisim._native`: the Python binding of the `loisim` facade crate.
//!
//! Every figure comes from the facade (`loisim::Simulation`, `loisim::run_reference`,
//! `loisim::netx`, `loisim::nir`), exactly as the command-line tool gets it; this module only converts
//! arguments and results. Reports cross the boundary as the facade's JSON (`Report::to_json`,
//! the same text as `loisim run --json`); outputs as numpy arrays. The package's
//! `loisim/__init__.py` holds the documented, typed API over these functions.

use loisim::netx::{LavaArray, Netx, NetxOptions, NetxRunOptions, NetxSample};
use loisim::nir::{Nir, NirArray, NirRunOptions};
use loisim::{Chip, CompileOptions, Input, Modes, RunOptions, Simulation};
use numpy::ndarray::{ArrayD, IxDyn};
use numpy::{IntoPyArray, PyArrayDyn, PyReadonlyArrayDyn};
use pyo3::exceptions::PyRuntimeError;
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyType};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

// ---------------------------------------------------------------------------------------------
// Errors
// ---------------------------------------------------------------------------------------------

/// Where an error happened, which decides its Python class when the facade's variant alone
/// does not (an unreadable file is a model error while loading, an input error while running).
#[derive(Clone, Copy, PartialEq, Eq)]
enum Ctx {
    Load,
    Run,
}

/// Raises `class` (a name in `loisim._errors`) with `msg`.
fn raise(py: Python<'_>, class: &str, msg: String) -> PyErr {
    let ty = py
        .import("loisim._errors")
        .and_then(|m| m.getattr(class))
        .and_then(|c| c.cast_into::<PyType>().map_err(PyErr::from));
    match ty {
        Ok(ty) => PyErr::from_type(ty, msg),
        Err(e) => e,
    }
}

/// The Python exception of a facade error: the same one-line message the CLI prints.
fn py_err(e: loisim::Error, ctx: Ctx) -> PyErr {
    use loisim::Error as E;
    let class = match (&e, ctx) {
        (E::Chip(_), _) => "ChipError",
        (E::Compile { .. } | E::NetMap(_) | E::NetMapNote { .. }, _) => "CompileError",
        (E::Model { .. } | E::InvalidModel(_) | E::Netx(_) | E::NetxNetwork { .. }, _)
        | (_, Ctx::Load) => "ModelError",
        (E::Io { .. } | E::Trace(_) | E::Plot(_), _) => "FileError",
        (E::Audio(_), _) => "AudioError",
        (E::Sim(_) | E::Reference(_) | E::Measure(_), _) => "SimulationError",
        (E::Import(_) | E::ReferenceInput(_) | E::Invalid(_), _) => "InputError",
        _ => "LoisimError",
    };
    let msg = e.to_string();
    Python::attach(|py| raise(py, class, msg))
}

fn input_err(msg: impl Into<String>) -> PyErr {
    let msg = msg.into();
    Python::attach(|py| raise(py, "InputError", msg))
}

// ---------------------------------------------------------------------------------------------
// Models
// ---------------------------------------------------------------------------------------------

#[derive(Debug)]
enum Kind {
    S5(Arc<loisim::Model>),
    Netx(Arc<Netx>),
    Nir(Arc<Nir>),
}

/// A loaded model: an S5 model, a lava-dl netx network or a NIR graph.
#[pyclass(frozen, module = "loisim._native")]
#[derive(Debug)]
struct Model {
    kind: Kind,
    /// The file; `None` for a NIR graph converted in memory.
    path: Option<PathBuf>,
}

impl Model {
    fn s5(&self) -> Option<&Arc<loisim::Model>> {
        match &self.kind {
            Kind::S5(m) => Some(m),
            Kind::Netx(_) | Kind::Nir(_) => None,
        }
    }

    /// Whether this is the shipped default model (a default run of it is the poster's
    /// experiment, reported with the calibration targets, as `loisim run` with no model does).
    fn is_shipped_default(&self) -> bool {
        let Ok(default) = loisim::paths::shipped(loisim::paths::DEFAULT_MODEL) else {
            return false;
        };
        let Some(path) = &self.path else {
            return false;
        };
        match (path.canonicalize(), default.canonicalize()) {
            (Ok(a), Ok(b)) => a == b,
            _ => false,
        }
    }
}

#[pymethods]
impl Model {
    /// The model's name.
    #[getter]
    fn name(&self) -> String {
        match &self.kind {
            Kind::S5(m) => m.name.clone(),
            Kind::Netx(n) => n.name.clone(),
            Kind::Nir(n) => n.netx.name.clone(),
        }
    }

    /// `"s5"`, `"netx"` or `"nir"`.
    #[getter]
    fn kind(&self) -> &'static str {
        match self.kind {
            Kind::S5(_) => "s5",
            Kind::Netx(_) => "netx",
            Kind::Nir(_) => "nir",
        }
    }

    /// The file it was loaded from; `None` for a NIR graph converted in memory.
    #[getter]
    fn path(&self) -> Option<String> {
        self.path.as_ref().map(|p| p.display().to_string())
    }

    /// Input features per token (S5, one element), the input's Lava shape (netx) or the NIR
    /// Input node's shape (NIR; a `(C, L)` input as `(C, 1, L)`), as a list.
    #[getter]
    fn input_shape(&self) -> Vec<usize> {
        match &self.kind {
            Kind::S5(m) => vec![m.dims.d_input as usize],
            Kind::Netx(n) => n
                .summary()
                .input_shape
                .iter()
                .map(|&d| d as usize)
                .collect(),
            Kind::Nir(n) => n.lowering.lowered.input_shape.clone(),
        }
    }

    /// NIR graphs: the step NIR's continuous time was discretised with, seconds; `None`
    /// otherwise.
    #[getter]
    fn dt(&self) -> Option<f64> {
        match &self.kind {
            Kind::Nir(n) => Some(n.lowering.lowered.dt_s),
            _ => None,
        }
    }

    /// Outputs per token (S5); `None` for netx networks.
    #[getter]
    fn outputs_per_token(&self) -> Option<usize> {
        self.s5().map(|m| m.dims.d_output as usize)
    }

    /// A summary of a netx network's layers (text, as `loisim inspect`; a NIR graph's lowered
    /// network); `None` for S5 models.
    fn summary(&self) -> Option<String> {
        match &self.kind {
            Kind::Netx(n) => Some(n.summary().text()),
            Kind::Nir(n) => Some(n.netx.summary().text()),
            Kind::S5(_) => None,
        }
    }

    fn __repr__(&self) -> String {
        format!(
            "loisim.Model(name={:?}, kind={:?}, path={})",
            self.name(),
            self.kind(),
            self.path()
                .map_or_else(|| "None".to_string(), |p| format!("{p:?}"))
        )
    }
}

/// Reads a `model.bin`.
#[pyfunction]
fn load_model(py: Python<'_>, path: PathBuf) -> PyResult<Model> {
    let m = py
        .detach(|| loisim::load_model(&path))
        .map_err(|e| py_err(e, Ctx::Load))?;
    Ok(Model {
        kind: Kind::S5(Arc::new(m)),
        path: Some(path),
    })
}

/// Imports an S5 export v1 or a float checkpoint (with a qconfig and a calibration input).
#[pyfunction]
#[pyo3(signature = (path, qconfig=None, calibration=None))]
fn import_model(
    py: Python<'_>,
    path: PathBuf,
    qconfig: Option<PathBuf>,
    calibration: Option<PathBuf>,
) -> PyResult<Model> {
    let m = py
        .detach(|| loisim::import(&path, qconfig.as_deref(), calibration.as_deref()))
        .map_err(|e| py_err(e, Ctx::Load))?;
    Ok(Model {
        kind: Kind::S5(Arc::new(m)),
        path: Some(path),
    })
}

/// Whether a file is a lava-dl netx network (by content).
#[pyfunction]
fn is_netx(path: PathBuf) -> bool {
    loisim::netx::is_netx(&path)
}

/// Whether a file is an S5 export v1.
#[pyfunction]
fn is_export_v1(path: PathBuf) -> bool {
    loisim::is_export_v1(&path)
}

/// The options of netx's `Network`, from a dict of the arguments given (`None` or missing:
/// netx's default).
fn netx_options_from(
    mut o: NetxOptions,
    args: Option<&Bound<'_, PyDict>>,
) -> PyResult<NetxOptions> {
    let Some(args) = args else { return Ok(o) };
    for (k, v) in args.iter() {
        let k: String = k.extract()?;
        if v.is_none() {
            continue;
        }
        match k.as_str() {
            "input_message_bits" => o.input_message_bits = arg(&k, &v)?,
            "spike_exp" => o.spike_exp = arg(&k, &v)?,
            "reset_interval" => {
                let r: u32 = arg(&k, &v)?;
                if r == 0 {
                    return Err(input_err("reset_interval must be at least 1"));
                }
                o.reset_interval = Some(r);
            }
            "reset_offset" => o.reset_offset = arg(&k, &v)?,
            "num_layers" => o.num_layers = Some(arg(&k, &v)?),
            "skip_layers" => o.skip_layers = arg(&k, &v)?,
            "input_shape" => {
                let s: Vec<u32> = arg(&k, &v)?;
                match s[..] {
                    [x, y, c] if x > 0 && y > 0 && c > 0 => o.input_shape = Some([x, y, c]),
                    _ => {
                        return Err(input_err(format!(
                            "input_shape {s:?}: expected three positive integers (x, y, c)"
                        )));
                    }
                }
            }
            "sparse_fc_layer" => o.sparse_fc_layer = arg(&k, &v)?,
            other => {
                return Err(input_err(format!(
                    "unknown netx argument `{other}`: use input_message_bits, spike_exp, reset_interval, reset_offset, num_layers, skip_layers, input_shape or sparse_fc_layer"
                )));
            }
        }
    }
    Ok(o)
}

/// A netx argument's value, or an `InputError` naming it.
fn arg<'py, T: FromPyObjectOwned<'py>>(k: &str, v: &Bound<'py, PyAny>) -> PyResult<T> {
    v.extract::<T>().map_err(|_| {
        input_err(format!(
            "netx argument `{k}`: {} is not a value of the right type (a non-negative integer, a (x, y, c) tuple, or a bool)",
            v.repr().map_or_else(|_| "the value".into(), |r| r.to_string())
        ))
    })
}

/// Reads a lava-dl netx `.net` file and builds its network with netx's arguments.
#[pyfunction]
#[pyo3(signature = (path, args=None))]
fn load_netx(py: Python<'_>, path: PathBuf, args: Option<&Bound<'_, PyDict>>) -> PyResult<Model> {
    let opts = netx_options_from(NetxOptions::default(), args)?;
    let n = py
        .detach(|| loisim::netx::load_netx(&path, &opts))
        .map_err(|e| py_err(e, Ctx::Load))?;
    Ok(Model {
        kind: Kind::Netx(Arc::new(n)),
        path: Some(path),
    })
}

/// Whether a file is a NIR graph (by content: HDF5 with a `node` group holding `nodes`).
#[pyfunction]
fn is_nir(path: PathBuf) -> bool {
    loisim::nir::is_nir(&path)
}

/// Reads a NIR `.nir` file and lowers it with step `dt` (seconds).
#[pyfunction]
#[pyo3(signature = (path, dt=loisim::nir::DEFAULT_DT_S))]
fn load_nir(py: Python<'_>, path: PathBuf, dt: f64) -> PyResult<Model> {
    let n = py
        .detach(|| loisim::nir::load_nir(&path, dt))
        .map_err(|e| py_err(e, Ctx::Load))?;
    Ok(Model {
        kind: Kind::Nir(Arc::new(n)),
        path: Some(path),
    })
}

/// One node of a NIR graph as the package hands it over: its name, its type (the `nir`
/// package's class name), its numeric parameters (float64 arrays) and its string parameters.
type NirNodeArgs<'py> = (
    String,
    String,
    BTreeMap<String, PyReadonlyArrayDyn<'py, f64>>,
    BTreeMap<String, String>,
);

/// Lowers a NIR graph given as plain nodes and edges (the package converts a `nir.NIRGraph`
/// into them; no file), with step `dt` (seconds), as `loisim::nir::nir_from_graph`.
#[pyfunction]
#[pyo3(signature = (name, nodes, edges, dt=loisim::nir::DEFAULT_DT_S))]
fn nir_from_graph(
    py: Python<'_>,
    name: String,
    nodes: Vec<NirNodeArgs<'_>>,
    edges: Vec<(String, String)>,
    dt: f64,
) -> PyResult<Model> {
    let mut graph = loisim::nir::Graph::default();
    for (node_name, kind, params, strings) in nodes {
        let params = params
            .into_iter()
            .map(|(k, a)| {
                let a = a.as_array();
                let array = loisim::nir::Array::new(a.shape().to_vec(), a.iter().copied().collect());
                (k, array)
            })
            .collect();
        let node = loisim::nir::Node {
            kind,
            params,
            strings,
        };
        if graph.nodes.insert(node_name.clone(), node).is_some() {
            return Err(Python::attach(|py| {
                raise(
                    py,
                    "ModelError",
                    format!("NIR graph: two nodes are named `{node_name}`"),
                )
            }));
        }
    }
    graph.edges = edges;
    let n = py
        .detach(|| loisim::nir::nir_from_graph(&name, &graph, dt))
        .map_err(|e| py_err(e, Ctx::Load))?;
    Ok(Model {
        kind: Kind::Nir(Arc::new(n)),
        path: None,
    })
}

// ---------------------------------------------------------------------------------------------
// Chips
// ---------------------------------------------------------------------------------------------

/// A chip description: a preset or a TOML file, with cost parameters overridden.
#[pyclass(frozen, module = "loisim._native", name = "Chip")]
#[derive(Debug, Clone)]
struct PyChip {
    chip: Chip,
}

/// A chip error (the arch crate's, through the facade's error) as Python's `ChipError`.
fn chip_err(e: impl Into<loisim::Error>) -> PyErr {
    py_err(e.into(), Ctx::Load)
}

#[pymethods]
impl PyChip {
    #[new]
    #[pyo3(signature = (name="loihi2", overrides=None))]
    fn new(name: &str, overrides: Option<&Bound<'_, PyDict>>) -> PyResult<Self> {
        let chip = Chip::load(name).map_err(chip_err)?;
        Self { chip }.with_overrides(overrides)
    }

    /// Reads a chip description from a TOML file.
    #[classmethod]
    #[pyo3(signature = (path, overrides=None))]
    fn from_toml(
        _cls: &Bound<'_, PyType>,
        path: PathBuf,
        overrides: Option<&Bound<'_, PyDict>>,
    ) -> PyResult<Self> {
        let text = path.display().to_string();
        let chip = Chip::load(&text).map_err(chip_err)?;
        Self { chip }.with_overrides(overrides)
    }

    /// The chip's name.
    #[getter]
    fn name(&self) -> String {
        self.chip.name.clone()
    }

    /// The description as TOML (what `loisim chip --toml` prints).
    fn to_toml(&self) -> String {
        self.chip.to_toml()
    }

    /// Every cost parameter by dotted key, with its value.
    fn cost_params(&self) -> Vec<(String, f64)> {
        self.chip
            .cost_params()
            .into_iter()
            .map(|(k, v, _)| (k, v.value))
            .collect()
    }

    /// One cost parameter by dotted key.
    fn __getitem__(&self, key: &str) -> PyResult<f64> {
        let mut c = self.chip.clone();
        match c.cost_param_mut(key) {
            Some(p) => Ok(p.value),
            None => Err(Python::attach(|py| {
                raise(py, "ChipError", self.unknown_key(key))
            })),
        }
    }

    fn __eq__(&self, other: &Self) -> bool {
        self.chip == other.chip
    }

    fn __repr__(&self) -> String {
        format!("loisim.Chip({:?})", self.chip.name)
    }
}

impl PyChip {
    fn unknown_key(&self, key: &str) -> String {
        format!(
            "`{key}` is not a cost parameter of chip `{}` (Chip.cost_params() lists them, e.g. ops.synop.latency_ns)",
            self.chip.name
        )
    }

    /// Sets cost parameters by dotted key, then checks the result as a chip file is checked.
    fn with_overrides(mut self, overrides: Option<&Bound<'_, PyDict>>) -> PyResult<Self> {
        let Some(overrides) = overrides else {
            return Ok(self);
        };
        if overrides.is_empty() {
            return Ok(self);
        }
        for (k, v) in overrides.iter() {
            let k: String = k.extract()?;
            let v: f64 = v.extract().map_err(|_| {
                Python::attach(|py| {
                    raise(
                        py,
                        "ChipError",
                        format!("chip override `{k}`: the value must be a number"),
                    )
                })
            })?;
            let msg = self.unknown_key(&k);
            match self.chip.cost_param_mut(&k) {
                Some(p) => p.value = v,
                None => return Err(Python::attach(|py| raise(py, "ChipError", msg))),
            }
        }
        let chip = Chip::from_toml(&self.chip.to_toml(), "the chip overrides").map_err(chip_err)?;
        Ok(Self { chip })
    }
}

// ---------------------------------------------------------------------------------------------
// Arrays
// ---------------------------------------------------------------------------------------------

/// A numpy array (int64, float32 or float64: the package casts other dtypes first) as a
/// tensor, the form `.npy` files are read into.
fn tensor_of(x: &Bound<'_, PyAny>, label: &str) -> PyResult<loisim_import::tensors::Tensor> {
    use loisim_import::tensors::{Tensor, Values};
    let (dtype, shape, values) = if let Ok(a) = x.extract::<PyReadonlyArrayDyn<'_, i64>>() {
        let a = a.as_array();
        (
            "<i8",
            a.shape().to_vec(),
            Values::Int(a.iter().copied().collect()),
        )
    } else if let Ok(a) = x.extract::<PyReadonlyArrayDyn<'_, f32>>() {
        let a = a.as_array();
        (
            "<f4",
            a.shape().to_vec(),
            Values::F32(a.iter().copied().collect()),
        )
    } else if let Ok(a) = x.extract::<PyReadonlyArrayDyn<'_, f64>>() {
        let a = a.as_array();
        (
            "<f8",
            a.shape().to_vec(),
            Values::F64(a.iter().copied().collect()),
        )
    } else {
        return Err(input_err(format!(
            "{label}: expected a numpy array of int64, float32 or float64"
        )));
    };
    Ok(Tensor {
        dtype: dtype.into(),
        shape,
        values,
    })
}

/// S5 input tokens from an array, checked and quantized as `.npy` inputs are.
fn tokens_of(x: &Bound<'_, PyAny>, label: &str, model: &loisim::Model) -> PyResult<Vec<Vec<i32>>> {
    let t = tensor_of(x, label)?;
    loisim_import::input::tokens_from_tensor(Path::new(label), &t, model)
        .map_err(|e| py_err(e.into(), Ctx::Run))
}

/// A netx input or bias from an array (integers, or floats that hold integers).
fn lava_of(x: &Bound<'_, PyAny>, label: &str) -> PyResult<LavaArray> {
    use loisim_import::tensors::Values;
    let t = tensor_of(x, label)?;
    let not_int = |k: usize, v: f64| {
        input_err(format!(
            "{label}: element {k} is {v}; netx inputs and biases are integers"
        ))
    };
    let int = |k: usize, v: f64| {
        if v.is_finite() && v.fract() == 0.0 && v.abs() < 9.0e15 {
            Ok(v as i64)
        } else {
            Err(not_int(k, v))
        }
    };
    let values = match t.values {
        Values::Int(v) => v,
        Values::F32(v) => v
            .iter()
            .enumerate()
            .map(|(k, &x)| int(k, f64::from(x)))
            .collect::<PyResult<_>>()?,
        Values::F64(v) => v
            .iter()
            .enumerate()
            .map(|(k, &x)| int(k, x))
            .collect::<PyResult<_>>()?,
    };
    Ok(LavaArray {
        shape: t.shape,
        values,
    })
}

/// A NIR input from an array: time first, then the Input node's shape (any numeric dtype;
/// the run refuses values other than 0 and 1).
fn nir_input_of(x: &Bound<'_, PyAny>, label: &str) -> PyResult<NirArray> {
    use loisim_import::tensors::Values;
    let t = tensor_of(x, label)?;
    let values = match t.values {
        Values::Int(v) => v.into_iter().map(|x| x as f64).collect(),
        Values::F32(v) => v.into_iter().map(f64::from).collect(),
        Values::F64(v) => v,
    };
    Ok(NirArray {
        shape: t.shape,
        values,
    })
}

/// A NIR run's output spikes as an int32 `(T, output shape...)` array, NIR's layout.
fn nir_output_array<'py>(
    py: Python<'py>,
    output: &[Vec<u8>],
    shape: &[usize],
) -> PyResult<Bound<'py, PyArrayDyn<i32>>> {
    let mut full = vec![output.len()];
    full.extend_from_slice(shape);
    let values: Vec<i32> = output.iter().flatten().map(|&v| i32::from(v)).collect();
    let arr = ArrayD::from_shape_vec(IxDyn(&full), values)
        .map_err(|e| PyRuntimeError::new_err(format!("NIR output: {e}")))?;
    Ok(arr.into_pyarray(py))
}

/// Output rows as an int32 `[rows, width]` array (the layout of `loisim run --output`).
fn rows_array(py: Python<'_>, rows: Vec<Vec<i32>>, width: usize) -> Bound<'_, PyArrayDyn<i32>> {
    let n = rows.len();
    let flat: Vec<i32> = rows.into_iter().flatten().collect();
    let width = flat.len().checked_div(n).unwrap_or(width);
    ArrayD::from_shape_vec(IxDyn(&[n, width]), flat)
        .unwrap_or_else(|_| ArrayD::zeros(IxDyn(&[0, width])))
        .into_pyarray(py)
}

/// A netx output as an int32 array in Lava's layout, time last.
fn lava_array(py: Python<'_>, a: LavaArray) -> PyResult<Bound<'_, PyArrayDyn<i32>>> {
    let values = a
        .values
        .iter()
        .map(|&v| i32::try_from(v))
        .collect::<Result<Vec<i32>, _>>()
        .map_err(|_| PyRuntimeError::new_err("a netx output value does not fit int32"))?;
    let arr = ArrayD::from_shape_vec(IxDyn(&a.shape), values)
        .map_err(|e| PyRuntimeError::new_err(format!("netx output: {e}")))?;
    Ok(arr.into_pyarray(py))
}

// ---------------------------------------------------------------------------------------------
// Running
// ---------------------------------------------------------------------------------------------

/// The modes of a mode string (the CLI's `--mode` values); `None`: the kind's own.
fn modes_of(mode: Option<&str>, kind: loisim::ModelKind) -> PyResult<Modes> {
    Ok(match mode {
        None => kind.default_modes(),
        Some("fall-through" | "fall_through") => Modes::FALL_THROUGH,
        Some("pipeline") => Modes::PIPELINE,
        Some("both") => Modes::BOTH,
        Some(other) => {
            return Err(input_err(format!(
                "mode {other:?}: use \"fall-through\", \"pipeline\" or \"both\" (None: the model kind's own)"
            )));
        }
    })
}

fn chip_of(chip: Option<&PyChip>) -> Chip {
    chip.map_or_else(Chip::default_chip, |c| c.chip.clone())
}

fn compile_options(max_neurons_per_core: Option<u32>) -> CompileOptions {
    let d = CompileOptions::default();
    CompileOptions {
        max_neurons_per_core: max_neurons_per_core.unwrap_or(d.max_neurons_per_core),
        ..d
    }
}

fn netx_compile_options(chip: &Chip, max_neurons_per_core: Option<u32>) -> CompileOptions {
    let d = loisim::netx::default_compile_options(chip);
    CompileOptions {
        max_neurons_per_core: max_neurons_per_core.unwrap_or(d.max_neurons_per_core),
        ..d
    }
}

fn compile(
    py: Python<'_>,
    model: &Arc<loisim::Model>,
    chip: &Chip,
    max_neurons_per_core: Option<u32>,
) -> PyResult<Simulation> {
    let opts = compile_options(max_neurons_per_core);
    py.detach(|| Simulation::compile((**model).clone(), chip, &opts))
        .map_err(|e| py_err(e, Ctx::Run))
}

fn threads_checked(threads: usize) -> PyResult<usize> {
    if threads == 0 {
        return Err(input_err("threads must be at least 1"));
    }
    Ok(threads)
}

/// Refuses the netx-only arguments for an S5 model.
fn refuse_netx_args(
    steps: Option<u64>,
    bias: bool,
    netx_args: Option<&Bound<'_, PyDict>>,
    probe: bool,
) -> PyResult<()> {
    if steps.is_some() {
        return Err(input_err(
            "steps applies to networks that are not token-based (lava-dl netx); an S5 model runs the rows of x",
        ));
    }
    if bias {
        return Err(input_err("bias applies to lava-dl netx networks (.net)"));
    }
    if netx_args.is_some_and(|a| a.iter().any(|(_, v)| !v.is_none())) {
        return Err(input_err(
            "reset_interval and reset_offset apply to lava-dl netx networks (.net)",
        ));
    }
    if probe {
        return Err(input_err(
            "probe records the layers of lava-dl netx networks (.net)",
        ));
    }
    Ok(())
}

/// The network to run: the model's, or rebuilt from its file with netx arguments changed.
fn netx_with(
    py: Python<'_>,
    netx: &Arc<Netx>,
    path: &Path,
    netx_args: Option<&Bound<'_, PyDict>>,
) -> PyResult<Arc<Netx>> {
    let Some(args) = netx_args.filter(|a| a.iter().any(|(_, v)| !v.is_none())) else {
        return Ok(Arc::clone(netx));
    };
    let opts = netx_options_from(netx.options.clone(), Some(args))?;
    let n = py
        .detach(|| loisim::netx::load_netx(path, &opts))
        .map_err(|e| py_err(e, Ctx::Load))?;
    Ok(Arc::new(n))
}

fn check_netx_mode(mode: Option<&str>) -> PyResult<()> {
    match mode {
        None | Some("pipeline") => Ok(()),
        Some("fall-through" | "fall_through" | "both") => Err(input_err(
            "netx networks run in pipeline mode only (Lava networks are pipelined by construction): mode=\"pipeline\"",
        )),
        Some(other) => modes_of(Some(other), loisim::ModelKind::Netx).map(|_| ()),
    }
}

/// Runs one input; returns the report's JSON and the outputs.
#[pyfunction]
#[pyo3(signature = (model, x=None, chip=None, mode=None, reference=false, threads=2, steps=None, bias=None, netx_args=None, probe_dir=None, max_neurons_per_core=None, output=None))]
#[allow(clippy::too_many_arguments)]
fn simulate<'py>(
    py: Python<'py>,
    model: &Model,
    x: Option<&Bound<'py, PyAny>>,
    chip: Option<&PyChip>,
    mode: Option<&str>,
    reference: bool,
    threads: usize,
    steps: Option<u64>,
    bias: Option<&Bound<'py, PyAny>>,
    netx_args: Option<&Bound<'py, PyDict>>,
    probe_dir: Option<PathBuf>,
    max_neurons_per_core: Option<u32>,
    output: Option<PathBuf>,
) -> PyResult<(String, Bound<'py, PyAny>)> {
    let threads = threads_checked(threads)?;
    let chip = chip_of(chip);
    match &model.kind {
        Kind::S5(m) => {
            refuse_netx_args(steps, bias.is_some(), netx_args, probe_dir.is_some())?;
            let tokens = match x {
                Some(x) => tokens_of(x, "x", m)?,
                None => default_tokens(py, m)?,
            };
            let opts = RunOptions {
                modes: modes_of(mode, loisim::ModelKind::S5)?,
                threads,
                output,
                calibration_setup: x.is_none() && model.is_shipped_default(),
                ..RunOptions::default()
            };
            let input = Input::Tokens(tokens);
            let run = if reference {
                py.detach(|| loisim::run_reference(m, &input, &opts))
            } else {
                let sim = compile(py, m, &chip, max_neurons_per_core)?;
                py.detach(|| sim.run(&input, &opts, None))
            }
            .map_err(|e| py_err(e, Ctx::Run))?;
            let width = m.dims.d_output as usize;
            Ok((
                run.report.to_json(),
                rows_array(py, run.outputs, width).into_any(),
            ))
        }
        Kind::Netx(n) => {
            check_netx_mode(mode)?;
            let n = netx_with(py, n, model.path.as_deref().unwrap_or(Path::new("")), netx_args)?;
            let input = x.map(|x| lava_of(x, "x")).transpose()?;
            let bias = bias.map(|b| lava_of(b, "bias")).transpose()?;
            if input.is_none() && bias.is_none() {
                return Err(input_err(
                    "a netx network has no default input: pass x (Lava's layout, time last) or a bias with steps",
                ));
            }
            let opts = NetxRunOptions {
                input,
                bias,
                steps,
                reference,
                threads,
                output,
                probe_dir,
                ..NetxRunOptions::default()
            };
            let compile = netx_compile_options(&chip, max_neurons_per_core);
            let run = py
                .detach(|| loisim::netx::run_netx(&n, &chip, &compile, &opts))
                .map_err(|e| py_err(e, Ctx::Run))?;
            Ok((run.report.to_json(), lava_array(py, run.output)?.into_any()))
        }
        Kind::Nir(n) => {
            check_netx_mode(mode)?;
            refuse_for_nir(bias.is_some(), netx_args, probe_dir.is_some())?;
            let Some(x) = x else {
                return Err(input_err(
                    "a NIR graph has no default input: pass x (spikes, time first: (T, *input shape))",
                ));
            };
            let opts = NirRunOptions {
                input: Some(nir_input_of(x, "x")?),
                steps,
                reference,
                threads,
                output,
                activity: None,
            };
            let compile = netx_compile_options(&chip, max_neurons_per_core);
            let run = py
                .detach(|| loisim::nir::run_nir(n, &chip, &compile, &opts))
                .map_err(|e| py_err(e, Ctx::Run))?;
            let out = nir_output_array(py, &run.output, &run.output_shape)?;
            Ok((run.to_json(), out.into_any()))
        }
    }
}

/// Refuses the netx-only arguments for a NIR graph.
fn refuse_for_nir(
    bias: bool,
    netx_args: Option<&Bound<'_, PyDict>>,
    probe: bool,
) -> PyResult<()> {
    for (given, what) in [
        (bias, "bias"),
        (
            netx_args.is_some_and(|a| a.iter().any(|(_, v)| !v.is_none())),
            "reset_interval and reset_offset",
        ),
        (probe, "probe"),
    ] {
        if given {
            return Err(input_err(format!(
                "{what} does not apply to NIR graphs (.nir)"
            )));
        }
    }
    Ok(())
}

/// The shipped default input's tokens for `model`.
fn default_tokens(py: Python<'_>, m: &loisim::Model) -> PyResult<Vec<Vec<i32>>> {
    py.detach(|| {
        let path = loisim::paths::shipped(loisim::paths::DEFAULT_INPUT)?;
        loisim::read_tokens(&path, m)
    })
    .map_err(|e| py_err(e, Ctx::Run))
}

/// The shipped default input (the 30 s clip's features) as `model`'s input integers.
#[pyfunction]
fn default_input<'py>(py: Python<'py>, model: &Model) -> PyResult<Bound<'py, PyAny>> {
    let Some(m) = model.s5() else {
        return Err(input_err(
            "the shipped default input is the S5 models' (257 features per token); a netx network has none",
        ));
    };
    let tokens = default_tokens(py, m)?;
    Ok(rows_array(py, tokens, m.dims.d_input as usize).into_any())
}

/// The directory of the shipped models.
#[pyfunction]
fn models_dir() -> PyResult<String> {
    loisim::paths::models_dir()
        .map(|p| p.display().to_string())
        .map_err(|e| py_err(e, Ctx::Load))
}

/// Runs a batch: each sample from the zero state, in parallel; returns the batch report's
/// JSON and each sample's outputs.
#[pyfunction]
#[pyo3(signature = (model, xs, names, chip=None, mode=None, reference=false, threads=2, steps=None, bias=None, biases=None, netx_args=None, max_neurons_per_core=None, output_dir=None))]
#[allow(clippy::too_many_arguments)]
fn simulate_batch<'py>(
    py: Python<'py>,
    model: &Model,
    xs: Option<Vec<Bound<'py, PyAny>>>,
    names: Vec<String>,
    chip: Option<&PyChip>,
    mode: Option<&str>,
    reference: bool,
    threads: usize,
    steps: Option<u64>,
    bias: Option<&Bound<'py, PyAny>>,
    biases: Option<Vec<Bound<'py, PyAny>>>,
    netx_args: Option<&Bound<'py, PyDict>>,
    max_neurons_per_core: Option<u32>,
    output_dir: Option<PathBuf>,
) -> PyResult<(String, Vec<Bound<'py, PyAny>>)> {
    let threads = threads_checked(threads)?;
    let chip = chip_of(chip);
    let n = xs.as_ref().or(biases.as_ref()).map_or(0, Vec::len);
    if n == 0 {
        return Err(input_err("a batch needs at least one input"));
    }
    if names.len() != n {
        return Err(input_err(format!(
            "names: {} names for {n} inputs",
            names.len()
        )));
    }
    match &model.kind {
        Kind::S5(m) => {
            refuse_netx_args(steps, bias.is_some() || biases.is_some(), netx_args, false)?;
            let xs = xs.unwrap_or_default();
            let samples = xs
                .iter()
                .zip(&names)
                .enumerate()
                .map(|(i, (x, name))| {
                    Ok(loisim::batch::Sample {
                        name: name.clone(),
                        stem: name.clone(),
                        input: Input::Tokens(tokens_of(x, &format!("xs[{i}]"), m)?),
                    })
                })
                .collect::<PyResult<Vec<_>>>()?;
            let opts = RunOptions {
                modes: modes_of(mode, loisim::ModelKind::S5)?,
                threads,
                output: output_dir,
                ..RunOptions::default()
            };
            let run = if reference {
                py.detach(|| loisim::batch::run_reference_batch(m, &samples, &opts))
            } else {
                let sim = compile(py, m, &chip, max_neurons_per_core)?;
                py.detach(|| sim.run_batch(&samples, &opts))
            }
            .map_err(|e| py_err(e, Ctx::Run))?;
            let width = m.dims.d_output as usize;
            let outputs = run
                .outputs
                .into_iter()
                .map(|o| rows_array(py, o, width).into_any())
                .collect();
            Ok((run.report.to_json(), outputs))
        }
        Kind::Netx(nx) => {
            check_netx_mode(mode)?;
            if xs.is_some() && biases.is_some() {
                return Err(input_err(
                    "a netx batch varies the inputs or the biases, not both: give a list of one and at most one array of the other",
                ));
            }
            let nx = netx_with(py, nx, model.path.as_deref().unwrap_or(Path::new("")), netx_args)?;
            let samples = match (&xs, &biases) {
                (Some(xs), _) => xs
                    .iter()
                    .zip(&names)
                    .enumerate()
                    .map(|(i, (x, name))| {
                        Ok(NetxSample {
                            name: name.clone(),
                            stem: name.clone(),
                            input: Some(lava_of(x, &format!("xs[{i}]"))?),
                            bias: None,
                        })
                    })
                    .collect::<PyResult<Vec<_>>>()?,
                (None, Some(bs)) => bs
                    .iter()
                    .zip(&names)
                    .enumerate()
                    .map(|(i, (b, name))| {
                        Ok(NetxSample {
                            name: name.clone(),
                            stem: name.clone(),
                            input: None,
                            bias: Some(lava_of(b, &format!("bias[{i}]"))?),
                        })
                    })
                    .collect::<PyResult<Vec<_>>>()?,
                (None, None) => Vec::new(),
            };
            let opts = NetxRunOptions {
                bias: bias.map(|b| lava_of(b, "bias")).transpose()?,
                steps,
                reference,
                threads,
                output: output_dir,
                ..NetxRunOptions::default()
            };
            let compile = netx_compile_options(&chip, max_neurons_per_core);
            let run = py
                .detach(|| loisim::netx::run_netx_batch(&nx, &chip, &compile, &samples, &opts))
                .map_err(|e| py_err(e, Ctx::Run))?;
            let outputs = run
                .outputs
                .into_iter()
                .map(|o| lava_array(py, o).map(Bound::into_any))
                .collect::<PyResult<Vec<_>>>()?;
            Ok((run.report.to_json(), outputs))
        }
        Kind::Nir(_) => Err(input_err(
            "a batch of inputs does not apply to NIR graphs (.nir): run simulate once per input",
        )),
    }
}

/// Denoises a 16 kHz mono WAV file frame by frame; returns the report's JSON.
#[pyfunction]
#[pyo3(signature = (model, wav_in, wav_out=None, clean=None, chip=None, mode=None, reference=false, threads=2, max_neurons_per_core=None))]
#[allow(clippy::too_many_arguments)]
fn denoise(
    py: Python<'_>,
    model: &Model,
    wav_in: PathBuf,
    wav_out: Option<PathBuf>,
    clean: Option<PathBuf>,
    chip: Option<&PyChip>,
    mode: Option<&str>,
    reference: bool,
    threads: usize,
    max_neurons_per_core: Option<u32>,
) -> PyResult<String> {
    let threads = threads_checked(threads)?;
    let Some(m) = model.s5() else {
        return Err(input_err(
            "denoise runs S5 audio models; a netx network takes arrays (simulate)",
        ));
    };
    let opts = RunOptions {
        modes: modes_of(mode, loisim::ModelKind::S5)?,
        threads,
        output: wav_out,
        ..RunOptions::default()
    };
    let input = Input::Wav {
        path: wav_in,
        clean,
    };
    let run = if reference {
        py.detach(|| loisim::run_reference(m, &input, &opts))
    } else {
        let sim = compile(py, m, &chip_of(chip), max_neurons_per_core)?;
        py.detach(|| sim.run(&input, &opts, None))
    }
    .map_err(|e| py_err(e, Ctx::Run))?;
    Ok(run.report.to_json())
}

/// The compiler's mapping report: (JSON as `loisim map --json`, text as `loisim map`).
#[pyfunction]
#[pyo3(signature = (model, chip=None, x=None, max_neurons_per_core=None))]
fn map_model(
    py: Python<'_>,
    model: &Model,
    chip: Option<&PyChip>,
    x: Option<&Bound<'_, PyAny>>,
    max_neurons_per_core: Option<u32>,
) -> PyResult<(String, String)> {
    let chip = chip_of(chip);
    match &model.kind {
        Kind::S5(m) => {
            let tokens = x.map(|x| tokens_of(x, "x", m)).transpose()?;
            let sim = compile(py, m, &chip, max_neurons_per_core)?;
            let r = py
                .detach(|| sim.map_report(tokens.as_deref()))
                .map_err(|e| py_err(e, Ctx::Run))?;
            Ok((pretty(&r)?, r.text()))
        }
        Kind::Netx(n) => {
            if x.is_some() {
                return Err(input_err(
                    "x measures the activity of S5 models; the map of a netx network assumes every neuron sends once per timestep",
                ));
            }
            let compile = netx_compile_options(&chip, max_neurons_per_core);
            let r = py
                .detach(|| loisim::netx::map_netx(n, &chip, &compile))
                .map_err(|e| py_err(e, Ctx::Run))?;
            Ok((pretty(&r)?, r.text()))
        }
        Kind::Nir(n) => {
            if x.is_some() {
                return Err(input_err(
                    "x measures the activity of S5 models; the map of a NIR graph assumes every neuron sends once per timestep",
                ));
            }
            let compile = netx_compile_options(&chip, max_neurons_per_core);
            let r = py
                .detach(|| loisim::nir::map_nir(n, &chip, &compile))
                .map_err(|e| py_err(e, Ctx::Run))?;
            Ok((pretty(&r)?, r.text()))
        }
    }
}

/// Pretty JSON, as `loisim map --json` prints it.
fn pretty(r: &impl serde::Serialize) -> PyResult<String> {
    serde_json::to_string_pretty(r).map_err(|e| PyRuntimeError::new_err(e.to_string()))
}

// ---------------------------------------------------------------------------------------------
// Streaming
// ---------------------------------------------------------------------------------------------

/// A streaming simulation of an S5 model: feed tokens chunk by chunk, then finish.
#[pyclass(frozen, module = "loisim._native")]
#[derive(Debug)]
struct Session {
    model: Arc<loisim::Model>,
    inner: Mutex<Option<loisim::Session>>,
}

#[pymethods]
impl Session {
    #[new]
    #[pyo3(signature = (model, chip=None, mode=None, threads=2, max_neurons_per_core=None))]
    fn new(
        py: Python<'_>,
        model: &Model,
        chip: Option<&PyChip>,
        mode: Option<&str>,
        threads: usize,
        max_neurons_per_core: Option<u32>,
    ) -> PyResult<Self> {
        let Some(m) = model.s5() else {
            return Err(input_err(
                "a Session streams the tokens of an S5 model; run a netx network with simulate",
            ));
        };
        let threads = threads_checked(threads)?;
        let sim = compile(py, m, &chip_of(chip), max_neurons_per_core)?;
        let s = sim
            .session(modes_of(mode, loisim::ModelKind::S5)?, threads)
            .map_err(|e| py_err(e, Ctx::Run))?;
        Ok(Self {
            model: Arc::clone(m),
            inner: Mutex::new(Some(s)),
        })
    }

    /// Runs the next tokens; returns their outputs, int32 `[tokens, outputs]`.
    fn feed<'py>(&self, py: Python<'py>, x: &Bound<'py, PyAny>) -> PyResult<Bound<'py, PyAny>> {
        let tokens = tokens_of(x, "x", &self.model)?;
        let out = py.detach(|| {
            let mut g = self
                .inner
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            g.as_mut().map(|s| s.run(&tokens))
        });
        let out = out
            .ok_or_else(|| input_err("this session has finished: start a new one"))?
            .map_err(|e| py_err(e, Ctx::Run))?;
        Ok(rows_array(py, out, self.model.dims.d_output as usize).into_any())
    }

    /// Tokens fed so far.
    #[getter]
    fn tokens(&self) -> usize {
        let g = self
            .inner
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        g.as_ref().map_or(0, loisim::Session::tokens)
    }

    /// Ends the run; returns the report's JSON.
    fn finish(&self, py: Python<'_>) -> PyResult<String> {
        let s = self
            .inner
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .take()
            .ok_or_else(|| input_err("this session has finished: start a new one"))?;
        if s.tokens() == 0 {
            return Err(py_err(
                loisim::Error::Invalid("a session needs at least one token before finish".into()),
                Ctx::Run,
            ));
        }
        Ok(py.detach(|| s.finish()).to_json())
    }
}

// ---------------------------------------------------------------------------------------------
// The module
// ---------------------------------------------------------------------------------------------

#[pymodule]
fn _native(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    m.add("SCHEMA_VERSION", loisim::SCHEMA_VERSION)?;
    m.add("DEFAULT_MODEL", loisim::paths::DEFAULT_MODEL)?;
    m.add_class::<Model>()?;
    m.add_class::<PyChip>()?;
    m.add_class::<Session>()?;
    m.add_function(wrap_pyfunction!(load_model, m)?)?;
    m.add_function(wrap_pyfunction!(import_model, m)?)?;
    m.add_function(wrap_pyfunction!(load_netx, m)?)?;
    m.add_function(wrap_pyfunction!(is_netx, m)?)?;
    m.add_function(wrap_pyfunction!(is_nir, m)?)?;
    m.add_function(wrap_pyfunction!(load_nir, m)?)?;
    m.add_function(wrap_pyfunction!(nir_from_graph, m)?)?;
    m.add_function(wrap_pyfunction!(is_export_v1, m)?)?;
    m.add_function(wrap_pyfunction!(simulate, m)?)?;
    m.add_function(wrap_pyfunction!(simulate_batch, m)?)?;
    m.add_function(wrap_pyfunction!(denoise, m)?)?;
    m.add_function(wrap_pyfunction!(map_model, m)?)?;
    m.add_function(wrap_pyfunction!(default_input, m)?)?;
    m.add_function(wrap_pyfunction!(models_dir, m)?)?;
    Ok(())
}
