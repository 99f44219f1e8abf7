"""S5 models: loading, simulate, batches, sessions, the mapping report, denoising."""

from __future__ import annotations

import json
import wave

import numpy as np
import pytest

import loisim
from conftest import EXPORT_V1, FLOAT_CKPT, MODEL, ROOT, cli_json, without_wall_clock


def test_version_and_schema(model, x16):
    assert isinstance(loisim.__version__, str) and loisim.__version__
    r = loisim.simulate(model, x16)
    assert r.schema_version == loisim.SCHEMA_VERSION == r.to_dict()["schema_version"]


def test_load_model_bin(model):
    assert model.kind == "s5"
    assert model.input_shape == [257]
    assert model.outputs_per_token and model.outputs_per_token > 0
    assert model.summary() is None
    assert "s5" in repr(model)


def test_load_export_v1():
    m = loisim.load(EXPORT_V1)
    assert m.kind == "s5"
    x = np.zeros((4, m.input_shape[0]), dtype=np.int32)
    r = loisim.simulate(m, x, reference=True)
    assert r.outputs.shape == (4, m.outputs_per_token)


def test_load_float_checkpoint_needs_calibration():
    with pytest.raises(loisim.ModelError, match="float checkpoint: pass --calibration"):
        loisim.load(FLOAT_CKPT)


def test_load_float_checkpoint_as_the_cli_imports_it(tmp_path):
    import subprocess

    from conftest import cli_path

    cal = tmp_path / "cal.npy"
    rng = np.random.default_rng(0)
    np.save(cal, np.abs(rng.standard_normal((32, 257))).astype(np.float32))
    qconfig = FLOAT_CKPT.parent / "upstream_qconfig.json"
    ours = loisim.load(FLOAT_CKPT, calibration=cal, qconfig=qconfig)
    out = tmp_path / "m.bin"
    subprocess.run(
        [str(cli_path()), "import", str(FLOAT_CKPT), "--qconfig", str(qconfig),
         "--calibration", str(cal), "-o", str(out)],
        check=True, capture_output=True,
    )
    theirs = loisim.load(out)
    x = np.load(cal)[:6]
    np.testing.assert_array_equal(
        loisim.simulate(ours, x, reference=True).outputs,
        loisim.simulate(theirs, x, reference=True).outputs,
    )


def test_load_refuses_what_does_not_apply(tmp_path):
    with pytest.raises(loisim.InputError, match="netx"):
        loisim.load(MODEL, reset_interval=4)
    with pytest.raises(loisim.InputError, match="qconfig"):
        loisim.load(MODEL, calibration="x.npy")
    not_nir = tmp_path / "net.nir"
    not_nir.write_bytes(b"not a graph")
    with pytest.raises(loisim.ModelError, match="not an HDF5 file .*a NIR .nir file is HDF5"):
        loisim.load(not_nir)
    with pytest.raises(loisim.InputError, match="dt applies to NIR graphs"):
        loisim.load(MODEL, dt=1e-3)
    with pytest.raises(loisim.ModelError, match="cannot read model"):
        loisim.load(tmp_path / "missing.bin")
    bad = tmp_path / "bad.bin"
    bad.write_bytes(b"not a model")
    with pytest.raises(loisim.ModelError):
        loisim.load(bad)


def test_simulate_outputs_time_first_int32(model, x16):
    r = loisim.simulate(model, x16)
    assert r.outputs.dtype == np.int32
    assert r.outputs.shape == (16, model.outputs_per_token)
    assert r.fall_through is not None and r.pipeline is not None
    assert r["tokens"] == 16
    assert "calibration_targets" not in r


def test_to_json_equals_cli_run_json(model, x16, tmp_path):
    x = tmp_path / "x.npy"
    np.save(x, x16)
    cli = cli_json("run", "-q", "--input", str(x))
    ours = json.loads(loisim.simulate(model, x16).to_json())
    assert without_wall_clock(ours) == without_wall_clock(cli)
    cli = cli_json("run", "-q", "--input", str(x), "--mode", "pipeline", "--chip", "kapoho-point")
    ours = loisim.simulate(model, x16, mode="pipeline", chip="kapoho-point").to_dict()
    assert without_wall_clock(ours) == without_wall_clock(cli)
    cli = cli_json("run", "-q", "--input", str(x), "--reference")
    ours = loisim.simulate(model, x16, reference=True).to_dict()
    assert without_wall_clock(ours) == without_wall_clock(cli)


def test_default_run_equals_bare_cli_run(model):
    """x=None on the shipped model is `loisim run`: the whole clip, the calibration targets."""
    ours = loisim.simulate(model)
    assert ours["tokens"] == 3751 and "calibration_targets" in ours
    assert without_wall_clock(ours.to_dict()) == without_wall_clock(cli_json("run", "-q"))
    # on another chip, or on a given input, the poster's targets do not apply
    assert "calibration_targets" not in loisim.simulate(model, chip="kapoho-point", mode="pipeline")


def test_outputs_equal_cli_output(model, x16, tmp_path):
    x, y = tmp_path / "x.npy", tmp_path / "y.npy"
    np.save(x, x16)
    cli_json("run", "-q", "--input", str(x), "--output", str(y))
    np.testing.assert_array_equal(loisim.simulate(model, x16).outputs, np.load(y))


def test_float_magnitudes_are_quantized_as_the_cli_does(model):
    mags = np.load(ROOT / "models" / "default-input.npy")[:8]
    assert mags.dtype.kind == "f"
    a = loisim.simulate(model, mags, mode="fall-through")
    b = loisim.simulate(model, loisim.default_input(model)[:8], mode="fall-through")
    np.testing.assert_array_equal(a.outputs, b.outputs)
    # float64 and lists are taken too
    c = loisim.simulate(model, mags.astype(np.float64).tolist(), mode="fall-through")
    np.testing.assert_array_equal(a.outputs, c.outputs)


def test_integer_dtypes_are_all_taken(model, x16):
    ref = loisim.simulate(model, x16, mode="fall-through").outputs
    for dt in (np.int16, np.int32, np.int64):
        out = loisim.simulate(model, x16.astype(dt), mode="fall-through").outputs
        np.testing.assert_array_equal(out, ref)
    # a non-contiguous view is read in its logical order
    wide = np.repeat(x16, 2, axis=0)[::2]
    np.testing.assert_array_equal(loisim.simulate(model, wide, mode="fall-through").outputs, ref)


@pytest.mark.parametrize(
    "x, message",
    [
        (np.zeros((4, 10), dtype=np.int32), r"x: has shape \[4, 10\]; this model takes 257"),
        (np.zeros(257, dtype=np.int32), r"x: has shape \[257\]"),
        (np.zeros((2, 2, 257), dtype=np.int32), r"x: has shape \[2, 2, 257\]"),
        (np.zeros((0, 257), dtype=np.int32), "has no tokens"),
        (np.full((1, 257), 1 << 40, dtype=np.int64), "does not fit the model's"),
        (np.full((1, 257), np.nan, dtype=np.float32), "is not a finite number"),
        (np.zeros((1, 257), dtype=np.complex64), "dtype complex64 is not supported"),
        (np.array([["a"] * 257]), "is not supported"),
        ([[1, 2], [3]], "not a numeric array"),
    ],
)
def test_bad_inputs_are_input_errors(model, x, message):
    with pytest.raises(loisim.InputError, match=message) as e:
        loisim.simulate(model, x)
    assert isinstance(e.value, ValueError) and isinstance(e.value, loisim.LoisimError)
    assert "\n" not in str(e.value)


def test_modes(model, x16):
    ft = loisim.simulate(model, x16, mode="fall-through")
    assert ft.fall_through is not None and ft.pipeline is None
    pl = loisim.simulate(model, x16, mode="pipeline")
    assert pl.pipeline is not None and pl.fall_through is None
    with pytest.raises(loisim.InputError, match="mode"):
        loisim.simulate(model, x16, mode="sideways")


def test_reference_is_bit_exact_with_the_chip(model, x16):
    chip = loisim.simulate(model, x16)
    ref = loisim.simulate(model, x16, reference=True)
    assert ref["executor"] == "reference" and ref.fall_through is None
    np.testing.assert_array_equal(chip.outputs, ref.outputs)


def test_netx_arguments_are_refused_for_s5(model, x16):
    for kw in ({"steps": 3}, {"bias": np.zeros(3)}, {"reset_interval": 2}, {"probe": True}):
        with pytest.raises(loisim.InputError):
            loisim.simulate(model, x16, **kw)


def test_threads(model, x16):
    one = loisim.simulate(model, x16, threads=1)
    two = loisim.simulate(model, x16, threads=2)
    assert one["fall_through"] == two["fall_through"]
    with pytest.raises(loisim.InputError, match="threads"):
        loisim.simulate(model, x16, threads=0)


def test_output_file(model, x16, tmp_path):
    y = tmp_path / "y.npy"
    r = loisim.simulate(model, x16, output=y)
    np.testing.assert_array_equal(np.load(y), r.outputs)
    assert r["outputs"]["output"] == str(y)


def test_batch_equals_single_runs(model, x16):
    a, b = x16[:8], x16[8:]
    batch = loisim.simulate_batch(model, [a, b], threads=2)
    assert [s["input"] for s in batch.per_sample] == ["x0", "x1"]
    assert batch["samples"] == 2 and batch.aggregate
    for i, x in enumerate((a, b)):
        single = loisim.simulate(model, x)
        np.testing.assert_array_equal(batch.outputs[i], single.outputs)
        assert batch.per_sample[i]["fall_through"] == single["fall_through"]
        assert batch.per_sample[i]["pipeline"] == single["pipeline"]
    one_thread = loisim.simulate_batch(model, np.stack([a, b]), threads=1, names=["a", "b"])
    assert [s["input"] for s in one_thread.per_sample] == ["a", "b"]
    assert one_thread.per_sample[0]["fall_through"] == batch.per_sample[0]["fall_through"]


def test_batch_equals_cli_batch(model, x16, tmp_path):
    d = tmp_path / "in"
    d.mkdir()
    np.save(d / "x0.npy", x16[:8])
    np.save(d / "x1.npy", x16[8:])
    cli = cli_json("run", "-q", "--input", str(d))
    ours = loisim.simulate_batch(model, [x16[:8], x16[8:]], names=["x0.npy", "x1.npy"])
    assert without_wall_clock(ours.to_dict()) == without_wall_clock(cli)


def test_batch_errors(model, x16):
    with pytest.raises(loisim.InputError, match="at least one"):
        loisim.simulate_batch(model, [])
    with pytest.raises(loisim.InputError, match=r"xs\[1\]: has shape"):
        loisim.simulate_batch(model, [x16, x16[:, :5]])
    with pytest.raises(loisim.InputError, match="own name"):
        loisim.simulate_batch(model, [x16, x16], names=["a", "a"])


def test_reference_batch(model, x16):
    r = loisim.simulate_batch(model, [x16[:4], x16[4:8]], reference=True)
    assert r["executor"] == "reference"
    np.testing.assert_array_equal(
        r.outputs[1], loisim.simulate(model, x16[4:8], reference=True).outputs
    )


def test_session_chunks_equal_one_run(model, x16):
    whole = loisim.simulate(model, x16)
    s = loisim.Session(model)
    outs = [s.feed(x16[:5]), s.feed(x16[5:6]), s.feed(x16[6:])]
    assert s.tokens == 16
    np.testing.assert_array_equal(np.concatenate(outs), whole.outputs)
    r = s.finish()
    assert r.fall_through == whole.fall_through and r.pipeline == whole.pipeline
    with pytest.raises(loisim.InputError, match="finished"):
        s.feed(x16)
    with loisim.Session(model, mode="pipeline") as s2:
        s2.feed(x16)
    assert s2.report is not None and s2.report.fall_through is None


def test_session_errors(model, tiny, x16):
    with pytest.raises(loisim.InputError, match="S5"):
        loisim.Session(tiny)
    s = loisim.Session(model)
    with pytest.raises(loisim.InputError, match="has shape"):
        s.feed(x16[:, :3])
    with pytest.raises(loisim.LoisimError, match="at least one token"):
        s.finish()


def test_map_equals_cli_map_json(model):
    m = loisim.map(model)
    cli = cli_json("map", str(MODEL))
    assert m.to_dict() == cli
    assert m.text() and str(m) == m.text()
    assert loisim.map(model, "kapoho-point").to_dict() == cli_json(
        "map", str(MODEL), "--chip", "kapoho-point"
    )


def test_map_with_activity(model, x16, tmp_path):
    x = tmp_path / "x.npy"
    np.save(x, x16)
    assert loisim.map(model, x=x16).to_dict() == cli_json("map", str(MODEL), "--input", str(x))


def _wav(path, seconds=0.25, seed=0):
    rng = np.random.default_rng(seed)
    pcm = (rng.standard_normal(int(16000 * seconds)) * 3000).astype("<i2")
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(16000)
        w.writeframes(pcm.tobytes())


def test_denoise(model, tmp_path):
    noisy, clean, out = tmp_path / "noisy.wav", tmp_path / "clean.wav", tmp_path / "out.wav"
    _wav(noisy, seed=1)
    _wav(clean, seed=2)
    r = loisim.denoise(model, noisy, out, clean=clean)
    assert out.is_file()
    assert r["audio"]["tokens"] > 0 and r["audio"]["si_snr_db"] is not None
    cli = cli_json(
        "run", "-q", "--input", str(noisy), "--clean", str(clean), "--output", str(tmp_path / "o2.wav")
    )
    ours = without_wall_clock(r.to_dict())
    cli = without_wall_clock(cli)
    ours.pop("outputs"), cli.pop("outputs")
    assert ours == cli


def test_denoise_errors(model, tiny, tmp_path):
    with pytest.raises(loisim.AudioError):
        loisim.denoise(model, tmp_path / "missing.wav")
    bad = tmp_path / "bad.wav"
    bad.write_bytes(b"RIFF....")
    with pytest.raises(loisim.InputError):
        loisim.denoise(model, bad)
    with pytest.raises(loisim.InputError, match="S5"):
        loisim.denoise(tiny, bad)


def test_models_dir_and_shipped():
    assert (loisim.models_dir() / "s5-sparse-1x-trained.bin").is_file()
    assert loisim.shipped().name == "s5-sparse-1x-trained.bin"
    assert loisim.default_input(loisim.load(loisim.shipped())).shape[1] == 257
