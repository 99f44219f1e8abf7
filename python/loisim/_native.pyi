"""Type stubs of loisim's native extension (the documented API is in ``loisim``)."""

from typing import Any, Dict, List, Mapping, Optional, Sequence, Tuple

import numpy as np
import numpy.typing as npt

__version__: str
SCHEMA_VERSION: int
DEFAULT_MODEL: str

class Model:
    """A loaded model: an S5 model, a lava-dl netx network or a NIR graph."""

    @property
    def name(self) -> str: ...
    @property
    def kind(self) -> str:
        """``"s5"``, ``"netx"`` or ``"nir"``."""
    @property
    def path(self) -> Optional[str]:
        """The file; None for a NIR graph converted in memory."""
    @property
    def input_shape(self) -> List[int]:
        """Features per token (S5, one element), the input's Lava shape (netx) or the NIR
        Input node's shape (NIR; ``(C, L)`` as ``(C, 1, L)``)."""
    @property
    def dt(self) -> Optional[float]:
        """NIR graphs: the step their time was discretised with, seconds; None otherwise."""
    @property
    def outputs_per_token(self) -> Optional[int]: ...
    def summary(self) -> Optional[str]:
        """A netx network's (or a NIR graph's lowered network's) layers as text; None for
        S5 models."""

class Chip:
    """A chip description: a preset (``loihi2``, ``kapoho-point``, ``loihi1``) or a TOML
    file, with cost parameters overridden by dotted key
    (``Chip("loihi2", overrides={"ops.synop.latency_ns": 1.2})``). An unknown key or an
    invalid value raises ChipError."""

    def __init__(
        self, name: str = "loihi2", overrides: Optional[Mapping[str, float]] = None
    ) -> None: ...
    @classmethod
    def from_toml(
        cls, path: str, overrides: Optional[Mapping[str, float]] = None
    ) -> "Chip": ...
    @property
    def name(self) -> str: ...
    def to_toml(self) -> str: ...
    def cost_params(self) -> List[Tuple[str, float]]:
        """Every cost parameter as (dotted key, value)."""
    def __getitem__(self, key: str) -> float: ...
    def __eq__(self, other: object) -> bool: ...

class Session:
    def __init__(
        self,
        model: Model,
        chip: Optional[Chip] = None,
        mode: Optional[str] = None,
        threads: int = 2,
        max_neurons_per_core: Optional[int] = None,
    ) -> None: ...
    def feed(self, x: np.ndarray) -> npt.NDArray[np.int32]: ...
    @property
    def tokens(self) -> int: ...
    def finish(self) -> str: ...

def load_model(path: str) -> Model: ...
def import_model(
    path: str, qconfig: Optional[str] = None, calibration: Optional[str] = None
) -> Model: ...
def load_netx(path: str, args: Optional[Dict[str, Any]] = None) -> Model: ...
def is_netx(path: str) -> bool: ...
def is_nir(path: str) -> bool: ...
def load_nir(path: str, dt: float = 1e-3) -> Model:
    """Reads a ``.nir`` file and lowers it with step ``dt`` (seconds)."""
def nir_from_graph(
    name: str,
    nodes: Sequence[Tuple[str, str, Mapping[str, npt.NDArray[np.float64]], Mapping[str, str]]],
    edges: Sequence[Tuple[str, str]],
    dt: float = 1e-3,
) -> Model:
    """Lowers a NIR graph given as (node name, type, float64 parameters, string parameters)
    per node and (source, target) edges, as ``loisim::nir::nir_from_graph``; no file."""
def is_export_v1(path: str) -> bool: ...
def simulate(
    model: Model,
    x: Optional[np.ndarray] = None,
    chip: Optional[Chip] = None,
    mode: Optional[str] = None,
    reference: bool = False,
    threads: int = 2,
    steps: Optional[int] = None,
    bias: Optional[np.ndarray] = None,
    netx_args: Optional[Dict[str, Any]] = None,
    probe_dir: Optional[str] = None,
    max_neurons_per_core: Optional[int] = None,
    output: Optional[str] = None,
) -> Tuple[str, npt.NDArray[np.int32]]: ...
def simulate_batch(
    model: Model,
    xs: Optional[Sequence[np.ndarray]],
    names: Sequence[str],
    chip: Optional[Chip] = None,
    mode: Optional[str] = None,
    reference: bool = False,
    threads: int = 2,
    steps: Optional[int] = None,
    bias: Optional[np.ndarray] = None,
    biases: Optional[Sequence[np.ndarray]] = None,
    netx_args: Optional[Dict[str, Any]] = None,
    max_neurons_per_core: Optional[int] = None,
    output_dir: Optional[str] = None,
) -> Tuple[str, List[npt.NDArray[np.int32]]]: ...
def denoise(
    model: Model,
    wav_in: str,
    wav_out: Optional[str] = None,
    clean: Optional[str] = None,
    chip: Optional[Chip] = None,
    mode: Optional[str] = None,
    reference: bool = False,
    threads: int = 2,
    max_neurons_per_core: Optional[int] = None,
) -> str: ...
def map_model(
    model: Model,
    chip: Optional[Chip] = None,
    x: Optional[np.ndarray] = None,
    max_neurons_per_core: Optional[int] = None,
) -> Tuple[str, str]: ...
def default_input(model: Model) -> npt.NDArray[np.int32]: ...
def models_dir() -> str: ...
