"""Writes the dense LIF stack as a lava-dl netx `.net` file (HDF5, h5py): the layer sizes and
the neuron parameters of loisim's `crates/loisim-netx/tests/data/tiny.net`, its two conv layers
replaced by dense layers.

    input  3x16x16 = 768 LOIHI (CUBA LIF) neurons, bias_mant 34 (tiny.net's), no host input
    flatten
    dense  768 -> 864 LOIHI neurons, weights uniform in [-W, W] (seeded)
    dense  864 -> 36  LOIHI neurons, weights uniform in [-W, W] (seeded)

Neuron parameters of every layer (tiny.net's): vThMant 25, vDecay 1024, iDecay 4096,
refDelay 1, wgtExp 0. Usage: make_net.py OUT.net [--seed S] [--w W] [--hidden N].
"""
import argparse

import h5py
import numpy as np

NEURON = {
    "type": b"LOIHI",
    "vThMant": 25,
    "vDecay": 1024,
    "iDecay": 4096,
    "refDelay": 1,
    "wgtExp": 0,
    "theta": 1600,
    "scaleRho": 10.0,
    "tauRho": 0.5,
}


def weights(seed: int, w: int, hidden: int):
    rng = np.random.default_rng(seed)
    w1 = rng.integers(-w, w + 1, size=(hidden, 768)).astype(np.float32)  # [out, in]
    w2 = rng.integers(-w, w + 1, size=(36, hidden)).astype(np.float32)
    return w1, w2


def write(path: str, seed: int, w: int, hidden: int) -> None:
    w1, w2 = weights(seed, w, hidden)
    with h5py.File(path, "w") as f:
        def layer(i, kind, shape, weight, bias):
            g = f.create_group(f"layer/{i}")
            g["type"] = np.array([kind], dtype="S10")
            g["shape"] = np.array(shape, dtype=np.int64)
            g["weight"] = weight
            g["bias"] = bias
            n = g.create_group("neuron")
            for k, v in NEURON.items():
                n[k] = v
        layer(0, b"input", [3, 16, 16], np.array([36.0], np.float32), np.array([34.0], np.float32))
        flat = f.create_group("layer/1")
        flat["type"] = np.array([b"flatten"], dtype="S10")
        flat["shape"] = np.array([768], dtype=np.int64)
        layer(2, b"dense", [hidden], w1, np.zeros(hidden, np.float32))
        layer(3, b"dense", [36], w2, np.zeros(36, np.float32))
        f["simulation/Ts"] = 1
        f["simulation/tSample"] = 64


if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("out")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--w", type=int, default=64)
    ap.add_argument("--hidden", type=int, default=864)
    a = ap.parse_args()
    write(a.out, a.seed, a.w, a.hidden)
