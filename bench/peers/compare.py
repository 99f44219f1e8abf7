"""Peer comparison: the same dense LIF stack (make_net.py) in SANA-FE and in loisim, synaptic
events per second per thread, build and load times excluded. See README.md.

    python compare.py [--steps T] [--loisim-cmd "cargo xtask bench"] [--threads-sanafe 1]

Needs `pip install sanafe h5py numpy` (a venv outside the repository) and, for the loisim
side, `cargo xtask bench --peer` (built with `cargo build --release -p xtask`).
"""
import argparse
import json
import os
import shlex
import subprocess
import sys
import tempfile
import time
from importlib.resources import files

import h5py
import numpy as np
import sanafe

import make_net

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
BIAS = os.path.join(ROOT, "crates/loisim-netx/tests/data/gts/tinynet/input_bias.npy")
# Loihi's CUBA scaling as lava-dl netx configures it: weights and bias mantissas enter the
# neuron shifted left by 6 (wgtExp 0), the threshold is vThMant << 6.
SCALE = 64.0
PER_CORE = 256


def sanafe_side(net_path: str, steps: int, threads: int) -> dict:
    with h5py.File(net_path, "r") as f:
        w1 = f["layer/2/weight"][()]  # [out, in]
        w2 = f["layer/3/weight"][()]
        th = float(f["layer/0/neuron/vThMant"][()]) * SCALE
        keep = 1.0 - float(f["layer/0/neuron/vDecay"][()]) / 4096.0
    # Lava's (x, y, c) bias, flattened in C order like netx's input layer.
    bias = np.load(BIAS).reshape(-1) * SCALE
    arch = sanafe.load_arch(str(files("sanafe.examples").joinpath("loihi.yaml")))
    t0 = time.perf_counter()
    net = sanafe.Network()
    attrs = {"threshold": th, "leak_decay": keep, "reset": 0.0}
    inp = net.create_neuron_group("input", w1.shape[1], model_attributes=attrs)
    hid = net.create_neuron_group("hidden", w1.shape[0], model_attributes=attrs)
    out = net.create_neuron_group("output", w2.shape[0], model_attributes=attrs)
    for i, n in enumerate(inp.neurons):
        n.set_attributes(model_attributes={"bias": float(bias[i])})
    # SANA-FE's dense weights are [src, dst], flattened.
    inp.connect_neurons_dense(hid, {"weight": (w1.T * SCALE).flatten().tolist()})
    hid.connect_neurons_dense(out, {"weight": (w2.T * SCALE).flatten().tolist()})
    k = 0
    for g in (inp, hid, out):
        for n in g.neurons:
            c = k // PER_CORE
            n.map_to_core(arch.tiles[c // 4].cores[c % 4])
            k += 1
    chip = sanafe.SpikingChip(arch)
    chip.load(net)
    build_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    res = chip.sim(steps, timing_model="simple", processing_threads=threads)
    sim_s = time.perf_counter() - t0
    # SANA-FE's `spikes` counts spike deliveries to synapses (a neuron's spike once per
    # outgoing synapse): synaptic events, the quantity loisim counts. Check that it lies
    # between the fired neurons times the smallest and the largest fan-out.
    events = int(res["spikes"])
    fired = int(res["neurons_fired"])
    fan_out = [len(hid.neurons), len(out.neurons)]
    assert fired * min(fan_out) // 2 <= events <= fired * max(fan_out), (events, fired)
    return {
        "simulator": "sanafe",
        "steps": steps,
        "neurons_fired": fired,
        "synaptic_events": events,
        "threads": threads,
        "build_s": build_s,
        "engine_s": sim_s,
        "events_per_s": events / sim_s,
        "events_per_s_per_thread": events / sim_s / threads,
        "timing_model": "simple",
    }


def loisim_side(cmd: str, net_path: str, steps: int) -> dict:
    args = shlex.split(cmd) + ["--peer", net_path, "--bias", BIAS, "--steps", str(steps),
                               "--threads", "1"]
    out = subprocess.run(args, cwd=ROOT, check=True, capture_output=True, text=True).stdout
    return json.loads(out.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--steps", type=int, default=200)
    ap.add_argument("--threads-sanafe", type=int, default=1)
    ap.add_argument("--loisim-cmd", default="cargo xtask bench")
    a = ap.parse_args()
    with tempfile.TemporaryDirectory() as d:
        path = os.path.join(d, "dense-stack.net")
        make_net.write(path, seed=1, w=64, hidden=864)
        lo = loisim_side(a.loisim_cmd, path, a.steps)
        sf = sanafe_side(path, a.steps, a.threads_sanafe)
    ratio = lo["events_per_s_per_thread"] / sf["events_per_s_per_thread"]
    json.dump({"loisim": lo, "sanafe": sf, "ratio_per_thread": ratio}, sys.stdout, indent=1)
    print()


if __name__ == "__main__":
    main()
