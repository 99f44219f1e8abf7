"""NIR graphs: `.nir` files and in-memory `nir.NIRGraph`s give the CLI's reports and outputs;
unsupported graphs and inputs are one-line errors naming the cause."""

from __future__ import annotations

import os
import subprocess

import numpy as np
import pytest

import loisim
from conftest import ROOT, cli_json, cli_path, without_wall_clock

if os.environ.get("LOISIM_REQUIRE_CLI"):
    import nir  # CI installs it (.ci/run): missing, these tests fail rather than skip
else:
    nir = pytest.importorskip("nir")

DATA = ROOT / "crates" / "loisim-nir" / "tests" / "data"
# The chains with an input (`make_fixtures.py`); bad_* are the unsupported graphs.
CHAINS = ["lif_dense", "cubalif_dense", "conv_pool_dense"]
STEPS = 24  # fewer than the inputs' 40 rows; run_nir_cli checks a longer run repeats them


def fixture_input(name: str) -> np.ndarray:
    return np.load(DATA / f"{name}_input.npy")


def test_every_committed_nir_file_is_covered():
    committed = subprocess.run(
        ["git", "ls-files", "*.nir"], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout.split()
    names = sorted(p.rsplit("/", 1)[-1][: -len(".nir")] for p in committed)
    assert names == sorted(CHAINS + ["bad_branch", "bad_v_reset"])


@pytest.mark.parametrize("name", CHAINS)
def test_file_in_memory_graph_and_cli_agree(name, tmp_path):
    path = DATA / f"{name}.nir"
    x = fixture_input(name)
    from_file = loisim.load(path)
    assert from_file.kind == "nir" and from_file.name == name and from_file.dt == 1e-3
    in_memory = loisim.from_nir(nir.read(str(path)), name=name)
    assert in_memory.kind == "nir" and in_memory.path is None
    assert in_memory.input_shape == from_file.input_shape
    a = loisim.simulate(from_file, x, steps=STEPS)
    b = loisim.simulate(in_memory, x, steps=STEPS)
    assert a.outputs.dtype == np.int32 and a.outputs.shape[0] == STEPS  # time first
    np.testing.assert_array_equal(a.outputs, b.outputs)
    assert without_wall_clock(a.to_dict()) == without_wall_clock(b.to_dict())
    assert a["model_kind"] == "nir"
    q = a["nir_quantisation"]
    assert q["steps"] == STEPS and q["dt_s"] == 1e-3
    assert a.outputs.sum() == q["output_spikes"]

    # The CLI on the same file and input.
    y = tmp_path / "y.npy"
    xin = tmp_path / "x.npy"
    np.save(xin, x)
    cli = cli_json("run", "-q", str(path), "--input", str(xin), "--steps", str(STEPS), "--output", str(y))
    np.testing.assert_array_equal(a.outputs, np.load(y))
    theirs = without_wall_clock(cli)
    theirs.pop("outputs")
    ours = without_wall_clock(a.to_dict())
    ours.pop("outputs", None)
    assert ours == theirs
    assert list(ours)[-1] == "nir_quantisation"


def test_load_takes_a_graph_and_dt(tmp_path):
    path = DATA / "lif_dense.nir"
    x = fixture_input("lif_dense")
    g = nir.read(str(path))
    loaded = loisim.load(g)
    assert loaded.kind == "nir" and loaded.name == "nir" and loaded.dt == 1e-3
    coarse_file = loisim.load(path, dt=2e-3)
    coarse_graph = loisim.load(g, dt=2e-3)
    assert coarse_file.dt == coarse_graph.dt == 2e-3
    a = loisim.simulate(coarse_file, x)
    b = loisim.simulate(coarse_graph, x)
    np.testing.assert_array_equal(a.outputs, b.outputs)
    assert a["nir_quantisation"]["layers"] == b["nir_quantisation"]["layers"]
    assert a["nir_quantisation"]["dt_s"] == 2e-3
    # the step changes the decays
    fine = loisim.simulate(loisim.load(path), x)
    assert fine["nir_quantisation"]["layers"] != a["nir_quantisation"]["layers"]
    cli = cli_json("run", "-q", str(path), "--input", str(_saved(tmp_path, x)), "--dt", "2e-3")
    assert cli["nir_quantisation"] == a["nir_quantisation"]
    with pytest.raises(loisim.InputError, match="dt applies to NIR graphs"):
        loisim.load(ROOT / "crates" / "loisim-netx" / "tests" / "data" / "tiny.net", dt=1e-3)
    with pytest.raises(loisim.InputError, match="takes dt only"):
        loisim.load(path, reset_interval=4)
    with pytest.raises(loisim.ModelError, match="give a positive step"):
        loisim.load(g, dt=0.0)
    with pytest.raises(loisim.InputError, match="expected a nir.NIRGraph"):
        loisim.from_nir({"nodes": {}})


def _saved(tmp_path, x):
    p = tmp_path / "x.npy"
    np.save(p, x)
    return p


def test_a_graph_built_by_hand_equals_its_file():
    """The LIF chain of make_fixtures.py, built again from the same seeded numpy arrays."""
    rng = np.random.default_rng(20261130)
    w1 = rng.uniform(-1.5, 3.0, (6, 8))
    b1 = rng.uniform(-0.2, 0.4, 6)
    w2 = rng.uniform(-2.0, 4.0, (4, 6))
    lif1 = nir.LIF(tau=np.full(6, 5e-3), r=np.full(6, 2.0), v_leak=np.full(6, 0.1),
                   v_threshold=np.full(6, 1.0), v_reset=np.zeros(6))
    lif2 = nir.LIF(tau=np.full(4, 8e-3), r=np.full(4, 1.5), v_leak=np.zeros(4),
                   v_threshold=np.full(4, 1.2), v_reset=np.zeros(4))
    g = nir.NIRGraph.from_list(nir.Input(np.array([8])), nir.Affine(w1, b1), lif1,
                               nir.Affine(w2, np.zeros(4)), lif2, nir.Output(np.array([4])))
    x = fixture_input("lif_dense")
    ours = loisim.simulate(loisim.from_nir(g, name="lif_dense"), x)
    theirs = loisim.simulate(loisim.load(DATA / "lif_dense.nir"), x)
    np.testing.assert_array_equal(ours.outputs, theirs.outputs)
    assert without_wall_clock(ours.to_dict()) == without_wall_clock(theirs.to_dict())
    # every output spike of this chain equals NIR's equations in float64 (numpy's, committed)
    np.testing.assert_array_equal(ours.outputs, np.load(DATA / "lif_dense_expected.npy"))
    assert ours["nir_quantisation"]["identical_output_spike_fraction"] == 1.0


def test_map_of_a_nir_graph_equals_the_cli():
    path = DATA / "conv_pool_dense.nir"
    m = loisim.map(loisim.from_nir(nir.read(str(path)), name="conv_pool_dense"))
    assert m.to_dict() == cli_json("map", str(path))


def _cli_error(*args: str) -> str:
    out = subprocess.run([str(cli_path()), *args], cwd=ROOT, capture_output=True, text=True)
    assert out.returncode == 2, out
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1, out.stderr
    return lines[0]


@pytest.mark.parametrize(
    "name, says",
    [
        ("bad_v_reset", "NIR node `lif` (LIF): a non-zero v_reset; Loihi 2's LIF resets v to 0"),
        ("bad_branch", "NIR node `input` (Input): has 2 outgoing edges; only chains are supported (no branches)"),
    ],
)
def test_unsupported_graphs_name_the_node_as_the_cli_does(name, says):
    path = DATA / f"{name}.nir"
    with pytest.raises(loisim.ModelError) as from_file:
        loisim.load(path)
    with pytest.raises(loisim.ModelError) as in_memory:
        loisim.from_nir(nir.read(str(path)), name=name)
    assert str(from_file.value) == f"{path}: {says}"
    assert str(in_memory.value) == f"{name}: {says}"
    assert _cli_error("run", str(path), "--steps", "4").endswith(says)


def test_non_spiking_and_unknown_nodes_are_refused_naming_them():
    def chain(neuron):
        return nir.NIRGraph.from_list(
            nir.Input(np.array([3])), nir.Linear(np.ones((2, 3))), neuron, nir.Output(np.array([2]))
        )

    li = nir.LI(tau=np.full(2, 5e-3), r=np.ones(2), v_leak=np.zeros(2))
    with pytest.raises(loisim.ModelError, match=r"NIR node `li` \(LI\): a non-spiking neuron"):
        loisim.from_nir(chain(li))
    inner = chain(nir.IF(r=np.ones(2), v_threshold=np.ones(2), v_reset=np.zeros(2)))
    nested = nir.NIRGraph(
        nodes={"input": nir.Input(np.array([3])), "sub": inner, "output": nir.Output(np.array([2]))},
        edges=[("input", "sub"), ("sub", "output")],
        type_check=False,
    )
    with pytest.raises(loisim.ModelError, match=r"NIR node `sub` \(NIRGraph\): type `NIRGraph` is not supported"):
        loisim.from_nir(nested)


def test_graded_inputs_are_refused():
    model = loisim.load(DATA / "lif_dense.nir")
    x = fixture_input("lif_dense").copy()
    loisim.simulate(model, x.astype(np.int64))  # 0/1 integers are spikes
    x[3, 2] = 0.5
    with pytest.raises(loisim.InputError, match=r"--input element 26 is 0.5; NIR inputs are spikes \(0 or 1\)"):
        loisim.simulate(model, x)


def test_nir_arguments_that_do_not_apply(tmp_path):
    model = loisim.load(DATA / "lif_dense.nir")
    x = fixture_input("lif_dense")
    with pytest.raises(loisim.InputError, match="no default input"):
        loisim.simulate(model)
    with pytest.raises(loisim.InputError, match="bias does not apply to NIR graphs"):
        loisim.simulate(model, x, bias=np.zeros(8))
    with pytest.raises(loisim.InputError, match="pipeline mode only"):
        loisim.simulate(model, x, mode="both")
    with pytest.raises(loisim.InputError, match="a batch of inputs does not apply to NIR graphs"):
        loisim.simulate_batch(model, [x, x])
    with pytest.raises(loisim.InputError, match=r"this NIR graph takes \[8\] per step"):
        loisim.simulate(model, x[:, :5])
    ref = loisim.simulate(model, x, steps=10, reference=True)
    chip = loisim.simulate(model, x, steps=10)
    assert ref["executor"] == "reference"
    np.testing.assert_array_equal(ref.outputs, chip.outputs)
    y = tmp_path / "y.npy"
    written = loisim.simulate(model, x, steps=10, output=y)
    np.testing.assert_array_equal(np.load(y), written.outputs)
    with pytest.raises(loisim.FileError, match="cannot write .*does not exist"):
        loisim.simulate(model, x, steps=10, output=tmp_path / "no" / "y.npy")


def test_missing_nir_file_is_a_model_error(tmp_path):
    with pytest.raises(loisim.ModelError, match="cannot read the file"):
        loisim.load(tmp_path / "model.nir")
