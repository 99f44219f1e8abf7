"""loisim: a cycle-approximate simulator of Intel's Loihi 2.

Load a model, simulate it on numpy inputs, read its latency and energy::

    import loisim
    model = loisim.load(loisim.shipped("s5-sparse-1x-trained.bin"))
    report = loisim.simulate(model)              # the shipped 30 s clip
    report.fall_through["latency_us_per_token"]  # the figures of `loisim run --json`
    report.outputs                               # int32 [tokens, outputs]

Every figure is computed by the same library the command-line tool uses; a report's
:meth:`Report.to_json` is the text ``loisim run --json`` prints. Errors are
:class:`LoisimError` subclasses carrying the CLI's one-line messages.
"""

from __future__ import annotations

import copy
import json
import os
import tempfile
from pathlib import Path
from typing import Any, Dict, List, Mapping, Optional, Sequence, Union

import numpy as np

from . import _native
from ._errors import (
    AudioError,
    ChipError,
    CompileError,
    FileError,
    InputError,
    LoisimError,
    ModelError,
    SimulationError,
)

__all__ = [
    "__version__",
    "SCHEMA_VERSION",
    "Chip",
    "Model",
    "Report",
    "MapReport",
    "Session",
    "load",
    "from_nir",
    "DEFAULT_DT",
    "simulate",
    "simulate_batch",
    "map",
    "denoise",
    "default_input",
    "models_dir",
    "shipped",
    "LoisimError",
    "ModelError",
    "InputError",
    "AudioError",
    "ChipError",
    "CompileError",
    "SimulationError",
    "FileError",
]

__version__: str = _native.__version__
#: The version of the report's schema this build writes (``report.schema_version``).
SCHEMA_VERSION: int = _native.SCHEMA_VERSION

#: The step NIR graphs are discretised with unless told otherwise, seconds (``loisim run
#: --dt``'s default).
DEFAULT_DT: float = 1e-3

#: A loaded model (S5, lava-dl netx or NIR); see :func:`load`.
Model = _native.Model
#: A chip description: ``Chip("loihi2", overrides={"ops.synop.latency_ns": 1.2})``.
Chip = _native.Chip

PathLike = Union[str, "os.PathLike[str]"]
ChipLike = Union["Chip", str, "os.PathLike[str]", None]

_DEFAULT_THREADS = 2  # as `loisim run --threads`


# ---------------------------------------------------------------------------------------------
# Reports
# ---------------------------------------------------------------------------------------------


class Report:
    """Every figure of a run: the facade's versioned report (docs/cli.md, "The report").

    ``to_json()`` is exactly what ``loisim run --json`` prints for the same run, and
    ``to_dict()`` is that JSON parsed. Item access reads the dict (``report["pipeline"]``).

    Attributes:
        outputs: the output integers as numpy arrays. S5 models: int32 ``[tokens, outputs]``
            (time first, as ``loisim run --output``); netx networks: int32 in Lava's layout,
            time last; NIR graphs: the output spikes, int32 ``(T, output shape...)``, NIR's
            layout, time first. A batch gives a list of them, one per sample; a :class:`Session`'s
            report has none (its outputs came back from :meth:`Session.feed`).
        probes: netx runs with ``probe=...``: each layer's state per step, int32
            ``(T, shape...)``, by file stem (``layer0-input-v``).
    """

    def __init__(
        self,
        json_text: str,
        outputs: Any = None,
        probes: Optional[Dict[str, np.ndarray]] = None,
    ) -> None:
        self._json = json_text
        self._dict: Dict[str, Any] = json.loads(json_text)
        self.outputs = outputs
        self.probes: Dict[str, np.ndarray] = probes or {}

    @property
    def schema_version(self) -> int:
        """The report schema's version (:data:`SCHEMA_VERSION` for reports of this build)."""
        return int(self._dict["schema_version"])

    @property
    def fall_through(self) -> Optional[Dict[str, Any]]:
        """Fall-through figures (one token at a time), or ``None`` when not simulated."""
        return self._dict.get("fall_through")

    @property
    def pipeline(self) -> Optional[Dict[str, Any]]:
        """Pipeline figures (a token or step every timestep), or ``None`` when not simulated."""
        return self._dict.get("pipeline")

    @property
    def per_sample(self) -> List[Dict[str, Any]]:
        """A batch's per-sample figures (empty for a single run)."""
        return self._dict.get("per_sample", [])

    @property
    def aggregate(self) -> Optional[Dict[str, Any]]:
        """A batch's figures over its samples: the keys of ``per_sample``, each as {mean, std, min, max}."""
        return self._dict.get("aggregate")

    def to_dict(self) -> Dict[str, Any]:
        """The report as a fresh dict (the parsed JSON)."""
        return copy.deepcopy(self._dict)

    def to_json(self) -> str:
        """The report as JSON: the same text ``loisim run --json`` prints."""
        return self._json

    def __getitem__(self, key: str) -> Any:
        return self._dict[key]

    def __contains__(self, key: object) -> bool:
        return key in self._dict

    def keys(self):  # noqa: D401 - mapping-like
        """The report's top-level keys."""
        return self._dict.keys()

    def __repr__(self) -> str:
        d = self._dict
        return (
            f"loisim.Report(model={d.get('model')!r}, executor={d.get('executor')!r}, "
            f"chip={d.get('chip')!r}, tokens={d.get('tokens')!r}, samples={d.get('samples')!r})"
        )


class MapReport:
    """The compiler's mapping report: where each piece of the model sits and what it costs
    (``to_json()`` is what ``loisim map --json`` prints, ``text()`` what ``loisim map``
    prints)."""

    def __init__(self, json_text: str, text: str) -> None:
        self._json = json_text
        self._text = text
        self._dict: Dict[str, Any] = json.loads(json_text)

    def to_dict(self) -> Dict[str, Any]:
        """The mapping report as a fresh dict."""
        return copy.deepcopy(self._dict)

    def to_json(self) -> str:
        """The mapping report as JSON (``loisim map --json``)."""
        return self._json

    def text(self) -> str:
        """The mapping report as text (``loisim map``)."""
        return self._text

    def __getitem__(self, key: str) -> Any:
        return self._dict[key]

    def __str__(self) -> str:
        return self._text

    def __repr__(self) -> str:
        return f"loisim.MapReport(keys={sorted(self._dict)!r})"


# ---------------------------------------------------------------------------------------------
# Arguments
# ---------------------------------------------------------------------------------------------


def _path(p: PathLike, what: str) -> str:
    try:
        return os.fspath(p)
    except TypeError:
        raise InputError(f"{what}: expected a path (str or os.PathLike), got {type(p).__name__}") from None


def _chip(chip: ChipLike) -> Optional["Chip"]:
    if chip is None or isinstance(chip, Chip):
        return chip
    if isinstance(chip, (str, os.PathLike)):
        return Chip(os.fspath(chip))
    raise ChipError(
        f"chip: expected a loisim.Chip, a preset name or a .toml path, got {type(chip).__name__}"
    )


def _threads(threads: Optional[int]) -> int:
    if threads is None:
        return _DEFAULT_THREADS
    if isinstance(threads, bool) or not isinstance(threads, (int, np.integer)):
        raise InputError(f"threads: expected an integer, got {type(threads).__name__}")
    if threads < 1:
        raise InputError("threads must be at least 1")
    return int(threads)


def _array(x: Any, label: str) -> np.ndarray:
    """An input as a C-ordered int64, float32 or float64 array (the dtypes the native module
    takes); anything else is an :class:`InputError`."""
    try:
        a = np.asarray(x)
    except (ValueError, TypeError) as e:
        raise InputError(f"{label}: not a numeric array ({e})") from None
    kind = a.dtype.kind
    if kind == "b":
        a = a.astype(np.int64)
    elif kind in "iu":
        if a.dtype == np.uint64 and a.size and int(a.max()) > np.iinfo(np.int64).max:
            raise InputError(f"{label}: a value does not fit int64")
        a = a.astype(np.int64, copy=False)
    elif kind == "f":
        if a.dtype not in (np.float32, np.float64):
            a = a.astype(np.float32 if a.dtype.itemsize < 4 else np.float64)
    else:
        raise InputError(
            f"{label}: dtype {a.dtype} is not supported; pass integers (input integers, spikes, "
            "biases) or floats (STFT magnitudes of S5 models)"
        )
    return np.ascontiguousarray(a)


def _netx_args(reset_interval: Optional[int], reset_offset: Optional[int]) -> Optional[dict]:
    args = {"reset_interval": reset_interval, "reset_offset": reset_offset}
    return args if any(v is not None for v in args.values()) else None


def _probes(directory: str) -> Dict[str, np.ndarray]:
    return {
        p.stem: np.load(p)
        for p in sorted(Path(directory).glob("*.npy"))
    }


# ---------------------------------------------------------------------------------------------
# The API
# ---------------------------------------------------------------------------------------------


def models_dir() -> Path:
    """The directory of the shipped models: ``$LOISIM_MODELS``, else ``./models``, else the
    source checkout's (as the command-line tool finds them)."""
    return Path(_native.models_dir())


def shipped(name: str = _native.DEFAULT_MODEL) -> Path:
    """A shipped file by name (default: the trained sparse 1x S5 denoiser,
    ``s5-sparse-1x-trained.bin``)."""
    return models_dir() / name


def _is_nir_graph(obj: Any) -> bool:
    """Whether ``obj`` is a ``nir.NIRGraph`` (without importing ``nir``)."""
    return any(c.__name__ == "NIRGraph" for c in type(obj).__mro__) and hasattr(obj, "edges")


def _nir_node(name: str, node: Any) -> tuple:
    """A ``nir`` node as (name, type, numeric parameters as float64 arrays, string
    parameters): what ``nir.write`` would store for it (its ``to_dict()``), without a file."""
    kind = type(node).__name__
    try:
        fields = node.to_dict()
    except Exception as e:  # noqa: BLE001 - a node the nir package cannot describe
        raise ModelError(f"NIR node `{name}` ({kind}): cannot be read ({e})") from None
    params: Dict[str, np.ndarray] = {}
    strings: Dict[str, str] = {}
    for key, value in fields.items():
        if key in ("type", "metadata") or value is None or isinstance(value, dict):
            continue  # groups (a Flatten's input_type, a nested graph's nodes) are not needed
        if isinstance(value, str):
            strings[key] = value
            continue
        try:
            a = np.asarray(value)
        except (ValueError, TypeError):
            continue
        if a.dtype.kind in "biuf":
            params[key] = np.ascontiguousarray(a, dtype=np.float64)
        elif a.dtype.kind in "US" and a.size:
            strings[key] = str(a.reshape(-1)[0])
    return (str(name), kind, params, strings)


def from_nir(graph: Any, *, dt: float = DEFAULT_DT, name: str = "nir") -> "Model":
    """Lowers an in-memory NIR graph (a ``nir.NIRGraph`` of the ``nir`` package, 1.0) onto
    Loihi 2's LIF layers, as ``loisim run GRAPH.nir`` does for the file ``nir.write`` would
    store, without writing one.

    Args:
        graph: the ``nir.NIRGraph`` (e.g. from ``nir.read``, ``nir.NIRGraph.from_list`` or a
            framework's exporter such as ``snntorch.export_nir.export_to_nir``).
        dt: the step NIR's continuous time is discretised with, seconds (``--dt``).
        name: what the report calls the model (a file's stem for ``load``).

    Raises:
        ModelError: a node or parameter Loihi 2 cannot express (the node and why, as the CLI
            says), or a graph that is not a chain ``Input -> ... -> Output``.
    """
    if not _is_nir_graph(graph):
        raise InputError(f"graph: expected a nir.NIRGraph, got {type(graph).__name__}")
    nodes = [_nir_node(k, n) for k, n in graph.nodes.items()]
    edges = [(str(s), str(t)) for s, t in graph.edges]
    return _native.nir_from_graph(str(name), nodes, edges, _dt(dt))


def _dt(dt: Any) -> float:
    if isinstance(dt, bool) or not isinstance(dt, (int, float, np.integer, np.floating)):
        raise InputError(f"dt: expected a number of seconds, got {type(dt).__name__}")
    return float(dt)


def load(
    path: Any,
    *,
    qconfig: Optional[PathLike] = None,
    calibration: Optional[PathLike] = None,
    dt: Optional[float] = None,
    **netx_args: Any,
) -> "Model":
    """Loads a model.

    Args:
        path: an S5 ``model.bin``; an S5 fixed-point export v1 (``model.json``, or a
            ``.safetensors`` with its ``.json`` beside it); a float checkpoint
            (``.safetensors`` / ``.npz``, with ``calibration``); a lava-dl netx network
            (``.net``, recognised by content); a NIR graph (``.nir``, recognised by content),
            or an in-memory ``nir.NIRGraph`` (as :func:`from_nir`).
        qconfig: float checkpoints: the quantization config (TOML); default: the spec's rules.
        calibration: float checkpoints: the input (``.npy``) on which run-time exponents are
            frozen (required for them).
        dt: NIR graphs: the step their continuous time is discretised with, seconds
            (default :data:`DEFAULT_DT`, 1 ms, as ``loisim run --dt``).
        **netx_args: netx networks: the arguments of lava-dl's ``netx.hdf5.Network``:
            ``input_message_bits``, ``spike_exp``, ``reset_interval``, ``reset_offset``,
            ``num_layers``, ``skip_layers``, ``input_shape`` (x, y, c), ``sparse_fc_layer``.

    Raises:
        ModelError: the file cannot be read, decoded, imported or built; a NIR graph holds a
            node Loihi 2 cannot express (the node and why).
        InputError: options that do not apply to the file's kind.
    """
    if _is_nir_graph(path):
        if qconfig is not None or calibration is not None or netx_args:
            raise InputError("a NIR graph takes dt only (qconfig, calibration and netx arguments do not apply)")
        return from_nir(path, dt=DEFAULT_DT if dt is None else dt)
    p = _path(path, "path")
    suffix = Path(p).suffix.lower()
    if suffix == ".nir" or _native.is_nir(p):
        if qconfig is not None or calibration is not None or netx_args:
            raise InputError(f"{p} is a NIR graph: it takes dt only (qconfig, calibration and netx arguments do not apply)")
        return _native.load_nir(p, DEFAULT_DT if dt is None else _dt(dt))
    if dt is not None:
        raise InputError(f"dt applies to NIR graphs (.nir); {p} is not one")
    if _native.is_netx(p):
        if qconfig is not None or calibration is not None:
            raise InputError(
                f"qconfig and calibration apply to float checkpoints; {p} is a lava-dl netx network"
            )
        return _native.load_netx(p, netx_args)
    if netx_args:
        names = ", ".join(sorted(netx_args))
        raise InputError(f"{names}: netx arguments apply to lava-dl netx networks (.net); {p} is not one")
    if suffix in (".json", ".safetensors", ".npz"):
        return _native.import_model(
            p,
            None if qconfig is None else _path(qconfig, "qconfig"),
            None if calibration is None else _path(calibration, "calibration"),
        )
    if qconfig is not None or calibration is not None:
        raise InputError(
            "qconfig and calibration apply to float checkpoints (.safetensors, .npz); "
            f"{p} is a quantized model.bin"
        )
    return _native.load_model(p)


def default_input(model: "Model") -> np.ndarray:
    """The shipped default input (STFT magnitudes of the 30 s default clip) as ``model``'s
    input integers, int32 ``[tokens, 257]``: what :func:`simulate` runs when ``x`` is None."""
    return _native.default_input(model)


def simulate(
    model: "Model",
    x: Any = None,
    *,
    chip: ChipLike = None,
    mode: Optional[str] = None,
    reference: bool = False,
    steps: Optional[int] = None,
    bias: Any = None,
    reset_interval: Optional[int] = None,
    reset_offset: Optional[int] = None,
    probe: Union[bool, PathLike] = False,
    threads: Optional[int] = None,
    max_neurons_per_core: Optional[int] = None,
    output: Optional[PathLike] = None,
) -> Report:
    """Runs one input through ``model`` on the simulated chip (or the reference executor).

    Args:
        model: from :func:`load`.
        x: S5 models: ``[tokens, d_input]``, integers (the model's input integers) or floats
            (STFT magnitudes, quantized with the model's input format); None: the shipped
            default clip (:func:`default_input`), and for the shipped default model on the
            default chip the report carries the poster's calibration targets, as
            ``loisim run`` does. netx networks: input spikes in Lava's layout, time last
            (``(x, y, c, t)`` or ``(n, t)``); None needs a ``bias`` and ``steps``. NIR
            graphs: input spikes (0 or 1) in NIR's layout, time first (``(T, N)``,
            ``(T, C, H, W)``), as ``loisim run GRAPH.nir --input``; required.
        chip: a :class:`Chip`, a preset name or a ``.toml`` path; None: ``loihi2``.
        mode: ``"fall-through"``, ``"pipeline"`` or ``"both"``; None: the model kind's own
            (S5: both; netx: pipeline, its only mode).
        reference: run the bit-exact reference executor (no cost figures).
        steps: netx and NIR: steps to run (default: the input's length; a shorter input
            repeats).
        bias: netx: ``bias_mant`` of the input layer's LIF neurons, Lava's ``(x, y, c)``.
        reset_interval, reset_offset: netx: LIF reset interval and phase (rebuilds the network
            with them; also what a sample is in the report).
        probe: netx: True to record each layer's state per step into ``report.probes``; a
            directory to also keep the ``.npy`` files there.
        threads: simulator threads (default 2; results never depend on it).
        max_neurons_per_core: most neurons of one population per core (default: 64 for S5,
            a core's worth for netx).
        output: also write the outputs to this ``.npy`` file.

    Returns:
        The :class:`Report`, with ``outputs`` as numpy arrays. A NIR graph's report also
        carries ``nir_quantisation`` (the chip's output spikes against the float64 reference
        of NIR's equations), as ``loisim run GRAPH.nir --json``.

    Raises:
        InputError: wrong dtype, shape or values (a NIR input value other than 0 or 1);
            options that do not apply to the model.
        ChipError, CompileError, SimulationError, FileError: as named.
    """
    if isinstance(probe, bool):
        probe_dir = None
    else:
        probe_dir = _path(probe, "probe")
    xa = None if x is None else _array(x, "x")
    ba = None if bias is None else _array(bias, "bias")
    common = dict(
        chip=_chip(chip),
        mode=mode,
        reference=bool(reference),
        threads=_threads(threads),
        steps=steps,
        bias=ba,
        netx_args=_netx_args(reset_interval, reset_offset),
        max_neurons_per_core=max_neurons_per_core,
        output=None if output is None else _path(output, "output"),
    )
    if probe is True:
        if model.kind != "netx":
            raise InputError("probe records the layers of lava-dl netx networks (.net)")
        with tempfile.TemporaryDirectory(prefix="loisim-probe-") as tmp:
            d = os.path.join(tmp, "probe")
            text, out = _native.simulate(model, xa, probe_dir=d, **common)
            return Report(text, out, _probes(d))
    text, out = _native.simulate(model, xa, probe_dir=probe_dir, **common)
    return Report(text, out, _probes(probe_dir) if probe_dir else None)


def simulate_batch(
    model: "Model",
    xs: Optional[Sequence[Any]],
    *,
    chip: ChipLike = None,
    mode: Optional[str] = None,
    reference: bool = False,
    steps: Optional[int] = None,
    bias: Any = None,
    reset_interval: Optional[int] = None,
    reset_offset: Optional[int] = None,
    threads: Optional[int] = None,
    names: Optional[Sequence[str]] = None,
    max_neurons_per_core: Optional[int] = None,
    output_dir: Optional[PathLike] = None,
) -> Report:
    """Runs a batch: every sample from the zero state through one compiled program, in
    parallel on ``threads`` threads (the same bits at any count), as ``loisim run`` does with
    several ``--input`` files.

    Args:
        xs: the samples (each as :func:`simulate`'s ``x``): a list of arrays, or one array
            whose first axis runs over the samples. netx: None with ``bias`` a list of arrays
            runs a batch of biases (one image each) instead.
        bias: netx: one array shared by every sample, or (with ``xs=None``) a list, one per
            sample.
        names: what the report calls each sample (``per_sample[i]["input"]``) and the stem of
            its file in ``output_dir``; default ``x0``, ``x1``, ...
        output_dir: also write ``<name>.npy`` per sample into this directory.
        Other arguments: as :func:`simulate`.

    Returns:
        The batch :class:`Report` (``per_sample``, ``aggregate``); ``outputs`` is a list of
        arrays, one per sample.
    """
    biases = None
    shared_bias = None
    if bias is not None:
        if isinstance(bias, (list, tuple)):
            biases = [_array(b, f"bias[{i}]") for i, b in enumerate(bias)]
        else:
            shared_bias = _array(bias, "bias")
    arrays = None
    if xs is not None:
        if isinstance(xs, np.ndarray):
            xs = list(xs)
        arrays = [_array(x, f"xs[{i}]") for i, x in enumerate(xs)]
    n = len(arrays) if arrays is not None else (len(biases) if biases is not None else 0)
    if n == 0:
        raise InputError("a batch needs at least one input")
    if names is None:
        names = [f"x{i}" for i in range(n)]
    names = [str(s) for s in names]
    if len(set(names)) != len(names):
        raise InputError("names: each sample needs its own name (outputs are named after them)")
    text, outs = _native.simulate_batch(
        model,
        arrays,
        names,
        chip=_chip(chip),
        mode=mode,
        reference=bool(reference),
        threads=_threads(threads),
        steps=steps,
        bias=shared_bias,
        biases=biases,
        netx_args=_netx_args(reset_interval, reset_offset),
        max_neurons_per_core=max_neurons_per_core,
        output_dir=None if output_dir is None else _path(output_dir, "output_dir"),
    )
    return Report(text, outs)


def map(  # noqa: A001 - numpy-style module function
    model: "Model",
    chip: ChipLike = None,
    *,
    x: Any = None,
    max_neurons_per_core: Optional[int] = None,
) -> MapReport:
    """The compiler's mapping of ``model`` onto ``chip`` (``loisim map``): cores, pieces,
    traffic and per-core costs. ``x`` (S5 only) measures activity on that input; without it
    every neuron output is assumed non-zero. Placement never depends on ``x``."""
    xa = None if x is None else _array(x, "x")
    text, txt = _native.map_model(model, _chip(chip), xa, max_neurons_per_core)
    return MapReport(text, txt)


def denoise(
    model: "Model",
    wav_in: PathLike,
    wav_out: Optional[PathLike] = None,
    clean: Optional[PathLike] = None,
    *,
    chip: ChipLike = None,
    mode: Optional[str] = None,
    reference: bool = False,
    threads: Optional[int] = None,
) -> Report:
    """Denoises a 16 kHz mono WAV file frame by frame with an S5 audio model (streamed,
    bounded memory), as ``loisim run MODEL --input NOISY.wav --output OUT.wav``.

    Args:
        wav_in: the noisy audio.
        wav_out: where the denoised audio is written (None: not written).
        clean: the clean twin of ``wav_in``: the report's ``audio`` gives the SI-SNR.

    Returns:
        The :class:`Report` (its ``audio`` key: seconds, tokens, SI-SNR).
    """
    text = _native.denoise(
        model,
        _path(wav_in, "wav_in"),
        None if wav_out is None else _path(wav_out, "wav_out"),
        None if clean is None else _path(clean, "clean"),
        chip=_chip(chip),
        mode=mode,
        reference=bool(reference),
        threads=_threads(threads),
    )
    return Report(text)


class Session:
    """A streaming simulation of an S5 model: :meth:`feed` chunks of tokens (outputs come
    back at once, memory stays bounded), then :meth:`finish` for the report of every token
    fed. Chunking never changes a result: the report equals :func:`simulate`'s on the
    concatenated input (wall-clock ``sim`` figures aside).

    Example::

        with loisim.Session(model) as s:
            for chunk in chunks:
                y = s.feed(chunk)
        report = s.report
    """

    def __init__(
        self,
        model: "Model",
        *,
        chip: ChipLike = None,
        mode: Optional[str] = None,
        threads: Optional[int] = None,
        max_neurons_per_core: Optional[int] = None,
    ) -> None:
        self._inner = _native.Session(
            model,
            chip=_chip(chip),
            mode=mode,
            threads=_threads(threads),
            max_neurons_per_core=max_neurons_per_core,
        )
        self.report: Optional[Report] = None

    def feed(self, x: Any) -> np.ndarray:
        """Runs the next tokens (``[tokens, d_input]``, as :func:`simulate`'s ``x``); returns
        their outputs, int32 ``[tokens, outputs]``."""
        return self._inner.feed(_array(x, "x"))

    @property
    def tokens(self) -> int:
        """Tokens fed so far."""
        return self._inner.tokens

    def finish(self) -> Report:
        """Ends the run: the :class:`Report` of every token fed (also kept as ``report``)."""
        self.report = Report(self._inner.finish())
        return self.report

    def __enter__(self) -> "Session":
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is None and self.report is None:
            self.finish()
