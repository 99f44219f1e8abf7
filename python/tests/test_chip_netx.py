"""Chips and their overrides; lava-dl netx networks; the exception classes."""

from __future__ import annotations

import threading

import numpy as np
import pytest

import loisim
from conftest import TINY, TINY_BIAS, cli_json, without_wall_clock


# --- chips -----------------------------------------------------------------------------------


def test_chip_presets_and_params():
    c = loisim.Chip()
    assert c.name == "loihi2" and c == loisim.Chip("loihi2")
    params = dict(c.cost_params())
    assert "ops.synop.latency_ns" in params
    assert c["ops.synop.latency_ns"] == params["ops.synop.latency_ns"]
    assert loisim.Chip("kapoho-point").name != c.name
    assert "loihi2" in repr(c) and "[" in c.to_toml()


def test_chip_overrides_change_the_figures(model, x16):
    base = loisim.Chip()
    slow = loisim.Chip(
        "loihi2", overrides={"ops.synop.latency_ns": base["ops.synop.latency_ns"] * 4}
    )
    assert slow["ops.synop.latency_ns"] == base["ops.synop.latency_ns"] * 4
    assert slow != base
    a = loisim.simulate(model, x16, chip=base, mode="fall-through")
    b = loisim.simulate(model, x16, chip=slow, mode="fall-through")
    assert b.fall_through["latency_us_per_token"] > a.fall_through["latency_us_per_token"]
    np.testing.assert_array_equal(a.outputs, b.outputs)
    costly = loisim.Chip(overrides={"ops.synop.energy_pj": base["ops.synop.energy_pj"] * 2})
    c = loisim.simulate(model, x16, chip=costly, mode="fall-through")
    assert (
        c.fall_through["energy_dynamic_uj_per_token"]
        > a.fall_through["energy_dynamic_uj_per_token"]
    )


def test_chip_errors(tmp_path):
    with pytest.raises(loisim.ChipError, match="not a cost parameter"):
        loisim.Chip("loihi2", overrides={"ops.synop.speed": 1.0})
    with pytest.raises(loisim.ChipError, match="not a cost parameter"):
        loisim.Chip()["mesh.routers_x"]
    with pytest.raises(loisim.ChipError, match="must be a number"):
        loisim.Chip(overrides={"ops.synop.latency_ns": "fast"})
    with pytest.raises(loisim.ChipError, match="ops.synop.latency_ns"):
        loisim.Chip(overrides={"ops.synop.latency_ns": -1.0})
    with pytest.raises(loisim.ChipError, match="unknown chip `loihi9`"):
        loisim.Chip("loihi9")
    with pytest.raises(loisim.ChipError, match="cannot read chip file"):
        loisim.Chip.from_toml(tmp_path / "missing.toml")
    bad = tmp_path / "bad.toml"
    bad.write_text("this is = = not toml")
    with pytest.raises(loisim.ChipError, match="chip file"):
        loisim.Chip.from_toml(bad)
    with pytest.raises(loisim.ChipError, match="expected a loisim.Chip"):
        loisim.simulate(loisim.load(TINY), chip=3, bias=np.load(TINY_BIAS), steps=2)


def test_chip_from_toml(tmp_path, model, x16):
    f = tmp_path / "mine.toml"
    f.write_text(loisim.Chip("kapoho-point").to_toml())
    c = loisim.Chip.from_toml(f)
    assert c == loisim.Chip("kapoho-point")
    o = loisim.Chip.from_toml(f, overrides={"ops.synop.latency_ns": 2.5})
    assert o["ops.synop.latency_ns"] == 2.5
    # a path works wherever a chip is taken
    a = loisim.simulate(model, x16, chip=str(f), mode="pipeline")
    b = loisim.simulate(model, x16, chip="kapoho-point", mode="pipeline")
    assert a.pipeline == b.pipeline


# --- netx ------------------------------------------------------------------------------------


def test_netx_bias_run_equals_cli(tiny, tiny_bias, tmp_path):
    y = tmp_path / "y.npy"
    cli = cli_json("run", "-q", str(TINY), "--bias", str(TINY_BIAS), "--steps", "20", "--output", str(y))
    r = loisim.simulate(tiny, bias=tiny_bias, steps=20)
    assert r.outputs.dtype == np.int32 and r.outputs.shape[-1] == 20  # time last
    np.testing.assert_array_equal(r.outputs, np.load(y))
    ours, theirs = without_wall_clock(r.to_dict()), without_wall_clock(cli)
    theirs.pop("outputs")
    assert ours == theirs
    assert r["model_kind"] == "netx" and r.fall_through is None


def test_netx_reference_and_input(tiny, tiny_bias):
    chip = loisim.simulate(tiny, bias=tiny_bias, steps=6)
    ref = loisim.simulate(tiny, bias=tiny_bias, steps=6, reference=True)
    np.testing.assert_array_equal(chip.outputs, ref.outputs)
    assert ref["executor"] == "reference"
    # float biases holding integers are taken, others refused
    same = loisim.simulate(tiny, bias=tiny_bias.astype(np.float64), steps=6)
    np.testing.assert_array_equal(same.outputs, chip.outputs)
    with pytest.raises(loisim.InputError, match="netx inputs and biases are integers"):
        loisim.simulate(tiny, bias=tiny_bias + 0.5, steps=6)


def test_netx_errors(tiny, tiny_bias):
    with pytest.raises(loisim.InputError, match="no default input"):
        loisim.simulate(tiny)
    with pytest.raises(loisim.InputError, match="pipeline mode only"):
        loisim.simulate(tiny, bias=tiny_bias, steps=4, mode="both")
    with pytest.raises(loisim.InputError, match="shipped default input"):
        loisim.default_input(tiny)
    with pytest.raises(loisim.LoisimError):
        loisim.simulate(tiny, bias=tiny_bias[:1], steps=4)
    with pytest.raises(loisim.InputError, match="unknown netx argument"):
        loisim.load(TINY, spike_exponent=3)
    with pytest.raises(loisim.InputError, match="qconfig"):
        loisim.load(TINY, qconfig="q.toml")


def test_netx_reset_interval(tiny, tiny_bias):
    r = loisim.simulate(tiny, bias=tiny_bias, steps=20, reset_interval=5)
    assert r.pipeline["samples"]["steps_per_sample"] == 5
    loaded = loisim.load(TINY, reset_interval=5)
    same = loisim.simulate(loaded, bias=tiny_bias, steps=20)
    assert same.pipeline == r.pipeline
    np.testing.assert_array_equal(same.outputs, r.outputs)


def test_netx_probe(tiny, tiny_bias, tmp_path):
    r = loisim.simulate(tiny, bias=tiny_bias, steps=7, probe=True)
    assert r.probes and all(a.shape[0] == 7 for a in r.probes.values())
    d = tmp_path / "probes"
    kept = loisim.simulate(tiny, bias=tiny_bias, steps=7, probe=d)
    assert sorted(p.stem for p in d.glob("*.npy")) == sorted(r.probes)
    for k, a in r.probes.items():
        np.testing.assert_array_equal(kept.probes[k], a)


def test_netx_batch_of_biases(tiny, tiny_bias):
    b2 = np.flip(tiny_bias, axis=0).copy()
    batch = loisim.simulate_batch(tiny, None, bias=[tiny_bias, b2], steps=8)
    assert len(batch.outputs) == 2 and len(batch.per_sample) == 2
    for out, b in zip(batch.outputs, (tiny_bias, b2)):
        np.testing.assert_array_equal(out, loisim.simulate(tiny, bias=b, steps=8).outputs)
    with pytest.raises(loisim.InputError, match="not both"):
        loisim.simulate_batch(tiny, [np.zeros((1, 8))], bias=[tiny_bias, b2], steps=8)


def test_netx_map_and_summary(tiny):
    m = loisim.map(tiny)
    assert m.to_dict() == cli_json("map", str(TINY))
    assert tiny.kind == "netx" and "layer" in tiny.summary().lower()
    assert len(tiny.input_shape) == 3


def test_a_network_that_does_not_fit_is_a_compile_error(tiny, tiny_bias):
    """As an S5 model's: tiny.net's conv layers cut into one-neuron pieces need 1668 cores."""
    says = r"the network needs 1668 cores; board `Oheo Gulch` has 128 \(conv layers are cut"
    with pytest.raises(loisim.CompileError, match=says):
        loisim.simulate(tiny, bias=tiny_bias, steps=2, max_neurons_per_core=1)
    with pytest.raises(loisim.CompileError, match=says):
        loisim.map(tiny, max_neurons_per_core=1)


# --- exceptions and the GIL --------------------------------------------------------------------


def test_exception_hierarchy():
    for cls in (
        loisim.ModelError,
        loisim.InputError,
        loisim.AudioError,
        loisim.ChipError,
        loisim.CompileError,
        loisim.SimulationError,
        loisim.FileError,
    ):
        assert issubclass(cls, loisim.LoisimError)
    assert issubclass(loisim.InputError, ValueError)
    assert issubclass(loisim.AudioError, loisim.InputError)
    assert issubclass(loisim.FileError, OSError)


def test_unwritable_output_is_refused_before_running(model, x16, tiny, tiny_bias, tmp_path):
    missing = tmp_path / "no" / "such" / "dir" / "y.npy"
    with pytest.raises(loisim.FileError, match="cannot write .*: directory .* does not exist"):
        loisim.simulate(model, x16, output=missing)
    with pytest.raises(loisim.FileError, match="cannot write .*: directory .* does not exist"):
        loisim.simulate(tiny, bias=tiny_bias, steps=2, output=missing)
    assert not (tmp_path / "no").exists()


def test_a_model_that_does_not_map_is_a_compile_error(model, x16):
    with pytest.raises(loisim.CompileError, match="mapping s5-sparse-1x-trained onto loihi2"):
        loisim.simulate(model, x16, max_neurons_per_core=0)
    with pytest.raises(loisim.CompileError):
        loisim.map(model, max_neurons_per_core=0)


def test_threads_run_concurrently(model, x16):
    """Simulations in Python threads give the same results as one after another."""
    results = {}

    def run(i):
        results[i] = loisim.simulate(model, x16, mode="fall-through").outputs

    threads = [threading.Thread(target=run, args=(i,)) for i in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for i in range(1, 3):
        np.testing.assert_array_equal(results[i], results[0])
