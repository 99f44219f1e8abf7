"""Random netx networks with Lava's own ground truths, for loisim-netx's `tests/random_lava.rs`.

Writes, into OUT_DIR (default: crates/loisim-netx/tests/data/random):
- `NAME.net`: a netx network (HDF5, the layout lava-dl's netx v0.6.0 reads, hdf5.py / utils.py
  NetDict), made from a seeded generator;
- `NAME/*.npy`: what Lava's `fixed_pt` process models compute for it (lava-nc 0.10.0, lava-dl
  0.6.0): the input given, the output of `net.out` (an `io.sink.RingBuffer`), each block's
  output spikes (a sink on each `block.out`) and each block's neuron state variables (a
  `Monitor` probing them after every timestep);
- `manifest.txt`: per network the arguments of `netx.hdf5.Network`, how it is fed, the number
  of timesteps, and the SHA-256 of every file.

Run with the venv of shared/tools/lava-env (see README.md here):
    VENV/bin/python tools/netx-fixtures/make_random.py [OUT_DIR]
The output is deterministic (seeded generator, Lava's integer models): running it again gives
the same bytes, which the manifest's SHA-256 values let you check.

Array layout (every array an integer .npy, in the smallest of int8/int16/int32 that holds it):
row `i` is Lava timestep `i + 1`; a row is the values over the block's (or the input's) Lava
shape `(x, y, c)` or `(n,)` in C order. `bias.npy` (bias-fed networks) has one row.
"""

import hashlib
import os
import sys

import h5py
import numpy as np

SEED = 20240612
REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
DEFAULT_OUT = os.path.join(REPO, "crates", "loisim-netx", "tests", "data", "random")

# Neuron state variables Lava's fixed-point models keep, per netx neuron process.
STATE_VARS = {
    "LIF": ["u", "v"],
    "LIFReset": ["u", "v"],
    "Delta": ["act", "residue"],
    "SigmaDelta": ["sigma", "act", "residue"],
    "Sigma": ["sigma"],
}


# ---------------------------------------------------------------- file writing


def _str(g, name, value):
    g.create_dataset(name, data=np.bytes_(value), dtype=h5py.string_dtype("ascii"))


def _type(g, value):
    # As SLAYER writes it: a 1-element fixed-length bytes array.
    g.create_dataset("type", data=np.array([value.encode()], dtype="S10"))


def lif_neuron(g, rng, kind=None, vth=None, i_decay=None, v_decay=None):
    n = g.create_group("neuron")
    _str(n, "type", kind or str(rng.choice(["LOIHI", "CUBA"])))
    n.create_dataset("vThMant", data=np.int64(vth if vth is not None else rng.integers(10, 400)))
    n.create_dataset(
        "iDecay", data=np.int64(i_decay if i_decay is not None else rng.integers(0, 4097))
    )
    n.create_dataset(
        "vDecay", data=np.int64(v_decay if v_decay is not None else rng.integers(0, 4097))
    )
    # Fields netx does not read, with values that would matter if it did.
    n.create_dataset("refDelay", data=np.int64(rng.integers(1, 4)))
    n.create_dataset("wgtExp", data=np.int64(rng.integers(-2, 3)))


def sdnn_neuron(g, rng, vth=None, sigma_output=False, message_bits=None):
    n = g.create_group("neuron")
    _str(n, "type", "SDNN")
    _str(n, "activation", "relu")
    n.create_dataset("vThMant", data=np.int64(vth if vth is not None else rng.integers(0, 40)))
    if sigma_output:
        n.create_dataset("sigma_output", data=np.bool_(True))
    if message_bits is not None:
        n.create_dataset("messageBits", data=np.int64(message_bits))


def write_layer(f, i, spec, rng):
    g = f.create_group(f"layer/{i}")
    kind = spec["type"]
    _type(g, kind)
    if kind == "flatten":
        g.create_dataset("shape", data=np.array(spec["shape"][::-1], dtype=np.int64))
        return
    g.create_dataset("shape", data=np.array(spec["shape"][::-1], dtype=np.int64))
    for key in ["weight", "weight_rec", "bias", "delay"]:
        if key in spec:
            g.create_dataset(key, data=spec[key])
    if kind == "conv":
        for key in ["stride", "padding", "dilation"]:
            g.create_dataset(key, data=np.array(spec[key], dtype=np.int64))
        g.create_dataset("groups", data=np.int64(spec["groups"]))
        w = spec["weight"]
        g.create_dataset("kernelSize", data=np.array(w.shape[2:4], dtype=np.int64))
        g.create_dataset("inChannels", data=np.int64(w.shape[1] * spec["groups"]))
        g.create_dataset("outChannels", data=np.int64(w.shape[0]))
    if kind in ("dense", "dense_rec"):
        g.create_dataset("inFeatures", data=np.int64(spec["weight"].shape[-1]))
        g.create_dataset("outFeatures", data=np.int64(spec["shape"][0]))
    neuron = spec.get("neuron")
    if neuron is None:
        return
    if neuron[0] == "lif":
        lif_neuron(g, rng, **neuron[1])
    else:
        sdnn_neuron(g, rng, **neuron[1])


# ---------------------------------------------------------------- random pieces


def conv_out(n, k, s, p, d):
    return (n + 2 * p - d * (k - 1) - 1) // s + 1


def conv_layer(rng, in_xyc, c_out, k_yx, s_yx, p_yx, d_yx, groups, neuron, wmax, bias=None,
               trailing_one=False, as_float=True):
    """A conv layer spec: file order is (y, x) for kernel, stride, padding and dilation."""
    x, y, c = in_xyc
    assert c % groups == 0 and c_out % groups == 0
    ky, kx = k_yx
    w = rng.integers(-wmax, wmax + 1, size=(c_out, c // groups, ky, kx))
    if trailing_one:
        w = w[..., None]
    ox = conv_out(x, kx, s_yx[1], p_yx[1], d_yx[1])
    oy = conv_out(y, ky, s_yx[0], p_yx[0], d_yx[0])
    assert ox > 0 and oy > 0, (in_xyc, k_yx, s_yx, p_yx, d_yx)
    spec = {
        "type": "conv", "shape": (ox, oy, c_out),
        "weight": w.astype(np.float32 if as_float else np.int64),
        "stride": list(s_yx), "padding": list(p_yx), "dilation": list(d_yx), "groups": groups,
        "neuron": neuron,
    }
    if bias is not None:
        spec["bias"] = bias
    return spec


def dense_layer(rng, n_in, n_out, neuron, wmin, wmax, bias=None, delay=None, rec=None,
                frac=False):
    w = rng.integers(wmin, wmax + 1, size=(n_out, n_in)).astype(np.float32)
    if frac:
        # netx reads weights with astype(int): truncation toward zero.
        w = w + rng.choice([0.0, 0.25, 0.5, 0.75], size=w.shape).astype(np.float32) * np.sign(w)
    spec = {"type": "dense_rec" if rec is not None else "dense", "shape": (n_out,),
            "weight": w, "neuron": neuron}
    if rec is not None:
        spec["weight_rec"] = rng.integers(rec[0], rec[1] + 1, size=(n_out, n_out)).astype(
            np.float32)
    if bias is not None:
        spec["bias"] = bias
    if delay is not None:
        spec["delay"] = delay
    return spec


def lif(**kw):
    return ("lif", kw)


def sdnn(**kw):
    return ("sdnn", kw)


# ---------------------------------------------------------------- the networks


def networks(rng):
    """(name, layers, args, feed, steps, input generator) per network."""
    nets = []

    def f32(a):
        return np.asarray(a, dtype=np.float32)

    # 1. LIF input neuron fed by the host, two dense LIF layers (LOIHI and CUBA).
    layers = [
        {"type": "input", "shape": (12,), "neuron": lif(kind="LOIHI", vth=60, i_decay=1024,
                                                         v_decay=512)},
        dense_layer(rng, 12, 10, lif(kind="CUBA", vth=40, i_decay=3000, v_decay=200), -6, 9,
                    bias=f32(rng.integers(-30, 60, size=10))),
        dense_layer(rng, 10, 6, lif(kind="LOIHI", vth=25, i_decay=4096, v_decay=0), -4, 8),
    ]
    nets.append(("lif_dense", layers, {}, "input", 20,
                 lambda r, t: r.integers(-40, 160, size=(t, 12))))

    # 2. LIF conv (asymmetric kernel, stride, padding), flatten, dense, dense without neuron.
    c1 = conv_layer(rng, (7, 6, 2), 4, (3, 2), (1, 2), (1, 0), (1, 1), 1,
                    lif(vth=30, i_decay=2048, v_decay=1024), 5,
                    bias=f32(rng.integers(-20, 40, size=4)), trailing_one=True)
    n1 = int(np.prod(c1["shape"]))
    layers = [
        {"type": "input", "shape": (7, 6, 2), "neuron": lif(kind="CUBA", vth=50, i_decay=4096,
                                                             v_decay=1000)},
        c1,
        {"type": "flatten", "shape": (n1, 1, 1)},
        dense_layer(rng, n1, 9, lif(vth=35, i_decay=500, v_decay=300), -5, 7),
        dense_layer(rng, 9, 5, None, -30, 60),
    ]
    nets.append(("lif_conv_flatten", layers, {}, "input", 18,
                 lambda r, t: r.integers(-20, 120, size=(t, 7, 6, 2))))

    # 3. Bias-fed LIF input (no host input), dilated conv, grouped conv; with reset.
    c1 = conv_layer(rng, (9, 8, 2), 4, (3, 3), (1, 1), (2, 1), (2, 2), 2,
                    lif(vth=20, i_decay=1000, v_decay=800), 4,
                    bias=f32(rng.integers(-10, 30, size=4)))
    c2 = conv_layer(rng, c1["shape"], 6, (2, 3), (2, 1), (0, 1), (1, 1), 2,
                    lif(vth=30, i_decay=0, v_decay=2000), 6)
    layers = [
        {"type": "input", "shape": (9, 8, 2), "neuron": lif(vth=40, i_decay=4096, v_decay=100)},
        c1, c2,
    ]
    nets.append(("lif_bias_conv_groups_reset", layers,
                 {"reset_interval": 9, "reset_offset": 2}, "bias", 16,
                 lambda r, t: r.integers(-5, 60, size=(9, 8, 2))))

    # 4. Input layer with a shape and no neuron, binary spikes into a dense with per-synapse
    #    delays (weight exponent 0: the largest weight between 128 and 254).
    d = rng.integers(0, 5, size=(8, 14))
    w_spec = dense_layer(rng, 14, 8, lif(vth=30, i_decay=600, v_decay=400), -128, 200, delay=d)
    w_spec["weight"][0, 0] = 200
    layers = [
        {"type": "input", "shape": (14,)},
        w_spec,
        dense_layer(rng, 8, 5, lif(vth=8, i_decay=100, v_decay=3000), -3, 6,
                    delay=f32(rng.integers(0, 3, size=5))),
    ]
    nets.append(("lif_dense_delays", layers, {}, "input", 20,
                 lambda r, t: (r.random(size=(t, 14)) < 0.35).astype(np.int64)))

    # 5. No input layer: binary spikes into a recurrent dense LIF, then a dense LIF.
    layers = [
        dense_layer(rng, 10, 8, lif(vth=20, i_decay=800, v_decay=600), -4, 8, rec=(-6, 6),
                    bias=f32(rng.integers(0, 20, size=8))),
        dense_layer(rng, 8, 4, lif(vth=12, i_decay=2000, v_decay=2000), -2, 5),
    ]
    nets.append(("lif_dense_rec", layers, {}, "input", 20,
                 lambda r, t: (r.random(size=(t, 10)) < 0.4).astype(np.int64)))

    # 6. Recurrent dense LIF with delays (RecurrentDense drops the weight exponent and gives
    #    the recurrent synapses the same delay matrix: Lava refuses unless it is square).
    layers = [
        {"type": "input", "shape": (7,)},
        dense_layer(rng, 7, 7, lif(vth=15, i_decay=1500, v_decay=1500), -3, 9, rec=(-5, 5),
                    delay=f32(rng.integers(0, 4, size=(7, 7)))),
    ]
    nets.append(("lif_dense_rec_delays", layers, {}, "input", 20,
                 lambda r, t: (r.random(size=(t, 7)) < 0.4).astype(np.int64)))

    # 7. LIF chain with reset offset -1 (Lava refuses a negative phase: -2 fails) and a short interval, fractional weights.
    layers = [
        {"type": "input", "shape": (10,), "neuron": lif(vth=30, i_decay=2000, v_decay=2000)},
        dense_layer(rng, 10, 8, lif(vth=20, i_decay=300, v_decay=100), -7, 7, frac=True),
        dense_layer(rng, 8, 6, lif(vth=10, i_decay=4096, v_decay=4096), 1, 9),
    ]
    nets.append(("lif_reset_frac", layers, {"reset_interval": 7, "reset_offset": -1}, "input",
                 12, lambda r, t: r.integers(0, 120, size=(t, 10))))

    # 8. SDNN: Delta input, dense sigma-delta (bias), dense Sigma output.
    layers = [
        {"type": "input", "shape": (12,), "neuron": sdnn(vth=3)},
        dense_layer(rng, 12, 10, sdnn(vth=8), -20, 30, bias=f32(rng.integers(-50, 80, size=10))),
        dense_layer(rng, 10, 4, sdnn(vth=5, sigma_output=True), -15, 15),
    ]
    nets.append(("sdnn_dense_sigma", layers, {}, "input", 16,
                 lambda r, t: np.repeat(r.integers(0, 256, size=(t // 4 + 1, 12)), 4, axis=0)[:t]))

    # 9. SDNN conv (padding, stride, groups), flatten, dense; spike_exp 4.
    c1 = conv_layer(rng, (8, 7, 3), 6, (3, 3), (2, 1), (1, 1), (1, 1), 3, sdnn(vth=4), 20,
                    bias=f32(rng.integers(-30, 60, size=6)))
    c2 = conv_layer(rng, c1["shape"], 4, (2, 2), (1, 1), (0, 1), (1, 2), 2, sdnn(vth=6), 15)
    n2 = int(np.prod(c2["shape"]))
    layers = [
        {"type": "input", "shape": (8, 7, 3), "neuron": sdnn(vth=2)},
        c1, c2,
        {"type": "flatten", "shape": (n2, 1, 1)},
        dense_layer(rng, n2, 5, sdnn(vth=10), -10, 12),
    ]
    nets.append(("sdnn_conv_flatten", layers, {"spike_exp": 4}, "input", 14,
                 lambda r, t: np.repeat(r.integers(0, 200, size=(t // 3 + 1, 8, 7, 3)), 3,
                                        axis=0)[:t]))

    # 10. No input layer: graded input (8 bits) into dense SDNN, Sigma output. (No neuron
    #     `messageBits`: netx v0.6.0's NetDict returns a group for it, and Lava fails to build.)
    layers = [
        dense_layer(rng, 10, 8, sdnn(vth=6), -20, 25,
                    bias=f32(rng.integers(-40, 40, size=8))),
        dense_layer(rng, 8, 3, sdnn(sigma_output=True), -9, 9),
    ]
    nets.append(("sdnn_graded_input", layers, {"input_message_bits": 8, "spike_exp": 3},
                 "input", 14, lambda r, t: r.integers(-128, 128, size=(t, 10))))

    # 11. Input layer with a shape only, graded input into a conv SDNN first layer; spike_exp 0.
    c1 = conv_layer(rng, (6, 6, 2), 3, (2, 3), (1, 1), (1, 0), (1, 1), 1, sdnn(vth=5), 10,
                    as_float=False)
    layers = [
        {"type": "input", "shape": (6, 6, 2)},
        c1,
        conv_layer(rng, c1["shape"], 2, (2, 2), (2, 2), (0, 0), (1, 1), 1,
                   sdnn(vth=3, sigma_output=True), 8),
    ]
    nets.append(("sdnn_conv_first", layers, {"input_message_bits": 6, "spike_exp": 0}, "input",
                 12, lambda r, t: r.integers(-32, 32, size=(t, 6, 6, 2))))

    # 12. SDNN recurrent dense (graded spikes fed back) with delays on a following dense.
    rec_spec = dense_layer(rng, 8, 6, sdnn(vth=4), -10, 14, rec=(-8, 8),
                           bias=f32(rng.integers(-20, 40, size=6)))
    d_spec = dense_layer(rng, 6, 4, sdnn(vth=3), -128, 160,
                         delay=f32(rng.integers(0, 6, size=(4, 6))))
    d_spec["weight"][0, 0] = 160
    layers = [
        {"type": "input", "shape": (8,), "neuron": sdnn(vth=2)},
        rec_spec, d_spec,
    ]
    nets.append(("sdnn_rec_delays", layers, {}, "input", 16,
                 lambda r, t: np.repeat(r.integers(0, 100, size=(t // 2 + 1, 8)), 2,
                                        axis=0)[:t]))

    # 13. Sparse fully-connected synapses (sparse_fc_layer), LIF, with num_layers cutting
    #     the last layer off.
    layers = [
        {"type": "input", "shape": (10,), "neuron": lif(vth=30, i_decay=1000, v_decay=500)},
        dense_layer(rng, 10, 8, lif(vth=20, i_decay=500, v_decay=500), -6, 10),
        dense_layer(rng, 8, 6, lif(vth=10, i_decay=100, v_decay=100), -3, 7),
        dense_layer(rng, 6, 3, lif(vth=10, i_decay=100, v_decay=100), 1, 3),
    ]
    nets.append(("lif_sparse_num_layers", layers, {"sparse_fc_layer": True, "num_layers": 3},
                 "input", 16, lambda r, t: r.integers(-10, 140, size=(t, 10))))

    # 14. A larger LIF conv net (12 x 10 x 2 input), two convs, flatten, dense; reset.
    c1 = conv_layer(rng, (12, 10, 2), 4, (3, 3), (1, 1), (1, 1), (1, 1), 1,
                    lif(vth=25, i_decay=1200, v_decay=900), 4)
    # A bias per neuron: netx broadcasts it only when its shape is the block's Lava shape
    # (x, y, c), as stored (blocks/process.py AbstractBlock._neuron).
    c1["bias"] = f32(rng.integers(-10, 20, size=c1["shape"]))
    c2 = conv_layer(rng, c1["shape"], 4, (3, 3), (2, 2), (1, 1), (1, 1), 4,
                    lif(vth=15, i_decay=700, v_decay=700), 6)
    n2 = int(np.prod(c2["shape"]))
    layers = [
        {"type": "input", "shape": (12, 10, 2), "neuron": lif(vth=35, i_decay=3000,
                                                              v_decay=300)},
        c1, c2,
        {"type": "flatten", "shape": (n2, 1, 1)},
        dense_layer(rng, n2, 6, lif(vth=20, i_decay=300, v_decay=300), -4, 6),
    ]
    nets.append(("lif_conv_large_reset", layers, {"reset_interval": 11, "reset_offset": 0},
                 "input", 20, lambda r, t: r.integers(-10, 140, size=(t, 12, 10, 2))))

    # 15. SDNN: the largest network (16 x 12 x 3 input, three convs), sigma output.
    c1 = conv_layer(rng, (16, 12, 3), 6, (3, 3), (1, 1), (1, 1), (1, 1), 1, sdnn(vth=6), 12,
                    bias=f32(rng.integers(-40, 80, size=6)))
    c2 = conv_layer(rng, c1["shape"], 6, (3, 3), (2, 2), (0, 0), (1, 1), 2, sdnn(vth=8), 10)
    c3 = conv_layer(rng, c2["shape"], 4, (2, 2), (1, 1), (0, 0), (1, 1), 1, sdnn(vth=5), 10)
    n3 = int(np.prod(c3["shape"]))
    layers = [
        {"type": "input", "shape": (16, 12, 3), "neuron": sdnn(vth=4)},
        c1, c2, c3,
        {"type": "flatten", "shape": (n3, 1, 1)},
        dense_layer(rng, n3, 3, sdnn(sigma_output=True), -8, 8),
    ]
    nets.append(("sdnn_conv_large", layers, {}, "input", 12,
                 lambda r, t: np.repeat(r.integers(0, 256, size=(t // 4 + 1, 16, 12, 3)), 4,
                                        axis=0)[:t]))
    return nets


# ---------------------------------------------------------------- running Lava


def smallest_int(a):
    a = np.asarray(a)
    assert np.all(a == np.round(a)), "non-integer values"
    a = a.astype(np.int64)
    for dt in (np.int8, np.int16, np.int32):
        info = np.iinfo(dt)
        if a.size == 0 or (a.min() >= info.min and a.max() <= info.max):
            return a.astype(dt)
    raise ValueError("values beyond int32")


def run_lava(path, args, feed, steps, inp, bias):
    from lava.lib.dl import netx
    from lava.magma.core.run_conditions import RunSteps
    from lava.magma.core.run_configs import Loihi2SimCfg
    from lava.proc import io
    from lava.proc.monitor.process import Monitor

    net = netx.hdf5.Network(net_config=path, **args)
    first = net.layers[0]
    has_neuron_input = type(first).__name__ == "Input"
    if feed == "bias":
        first.neuron.bias_mant.init = bias.astype(np.int32)
    if feed == "input":
        # (steps, *shape) -> (*shape, steps), Lava's ring buffer layout.
        src = io.source.RingBuffer(data=np.moveaxis(inp, 0, -1).astype(np.int32))
        if has_neuron_input:
            # netx's Input block leaves its `inp` unconnected: the host drives the neuron.
            src.s_out.connect(first.neuron.a_in)
        else:
            src.s_out.connect(net.inp)
    sink = io.sink.RingBuffer(shape=net.out.shape, buffer=steps)
    net.out.connect(sink.a_in)
    sinks = []
    for b in net.layers:
        s = io.sink.RingBuffer(shape=b.out.shape, buffer=steps)
        b.out.connect(s.a_in)
        sinks.append(s)
    probes = []
    for k, b in enumerate(net.layers):
        kind = type(b.neuron).__name__
        for var in STATE_VARS[kind]:
            # One Monitor per variable: lava-nc 0.10.0's Monitor fails to compile with more.
            mon = Monitor()
            mon.probe(getattr(b.neuron, var), steps)
            probes.append((k, var, b.neuron.name, mon))
    net.run(condition=RunSteps(num_steps=steps), run_cfg=Loihi2SimCfg(select_tag="fixed_pt"))
    out = {"out": np.moveaxis(sink.data.get(), -1, 0)}
    for k, s in enumerate(sinks):
        out[f"{k}-s"] = np.moveaxis(s.data.get(), -1, 0)
    for k, var, pname, mon in probes:
        out[f"{k}-{var}"] = np.asarray(mon.get_data()[pname][var])
    kinds = [type(b.neuron).__name__ for b in net.layers]
    shapes = [tuple(int(d) for d in b.shape) for b in net.layers]
    net.stop()
    return out, kinds, shapes


def sha256(path):
    with open(path, "rb") as fh:
        return hashlib.sha256(fh.read()).hexdigest()


def main():
    out_dir = os.path.abspath(sys.argv[1] if len(sys.argv) > 1 else DEFAULT_OUT)
    os.makedirs(out_dir, exist_ok=True)
    rng = np.random.default_rng(SEED)
    manifest = [
        "# Random netx networks and Lava's fixed_pt ground truths, made by",
        "# tools/netx-fixtures/make_random.py (see its README). One `net` line per network:",
        "# name, the netx.hdf5.Network arguments (`-` for None), how it is fed (input: the",
        "# host's input.npy every timestep; bias: bias.npy as the input block's bias_mant),",
        "# the Lava timesteps run, the blocks' neuron processes and Lava shapes; then one",
        "# `file` line per file with its SHA-256.",
    ]
    for idx, (name, layers, args, feed, steps, gen) in enumerate(networks(rng)):
        path = os.path.join(out_dir, f"{name}.net")
        lrng = np.random.default_rng([SEED, idx])
        with h5py.File(path, "w", track_order=True) as f:
            f.create_group("layer", track_order=True)
            for i, spec in enumerate(layers):
                write_layer(f, i, spec, lrng)
            sim = f.create_group("simulation")
            sim.create_dataset("Ts", data=np.int64(1))
            sim.create_dataset("tSample", data=np.int64(steps))
        irng = np.random.default_rng([SEED, idx, 1])
        inp = bias = None
        if feed == "input":
            inp = np.asarray(gen(irng, steps))
        else:
            bias = np.asarray(gen(irng, steps))
        res, kinds, shapes = run_lava(path, args, feed, steps, inp, bias)
        d = os.path.join(out_dir, name)
        os.makedirs(d, exist_ok=True)
        files = [f"{name}.net"]
        arrays = dict(res)
        if inp is not None:
            arrays["input"] = inp.reshape(steps, -1)
        if bias is not None:
            arrays["bias"] = bias.reshape(1, -1)
        for key in sorted(arrays):
            a = np.asarray(arrays[key])
            a = a.reshape(a.shape[0], -1)
            np.save(os.path.join(d, f"{key}.npy"), np.ascontiguousarray(smallest_int(a)))
            files.append(f"{name}/{key}.npy")
        full = {
            "num_layers": None, "skip_layers": 0, "input_message_bits": 0, "input_shape": None,
            "reset_interval": None, "reset_offset": 0, "spike_exp": 6, "sparse_fc_layer": False,
        }
        full.update(args)

        def fmt(v):
            if v is None:
                return "-"
            if isinstance(v, bool):
                return str(int(v))
            if isinstance(v, tuple):
                return ",".join(str(x) for x in v)
            return str(v)

        fields = [f"net {name}"] + [f"{k}={fmt(v)}" for k, v in full.items()]
        fields += [f"feed={feed}", f"steps={steps}", "neurons=" + ",".join(kinds),
                   "shapes=" + ";".join("x".join(str(d) for d in s) for s in shapes)]
        manifest.append(" ".join(fields))
        for fn in files:
            manifest.append(f"file {fn} {sha256(os.path.join(out_dir, fn))}")
        spikes = [int(np.count_nonzero(res[f"{k}-s"])) for k in range(len(kinds))]
        print(f"{name}: blocks {kinds} shapes {shapes} nonzero outputs per block {spikes}",
              flush=True)
    with open(os.path.join(out_dir, "manifest.txt"), "w") as fh:
        fh.write("\n".join(manifest) + "\n")


if __name__ == "__main__":
    main()
