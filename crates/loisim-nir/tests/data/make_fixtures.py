"""Writes the NIR test fixtures of crates/loisim-nir (committed; Rust tests need no Python).

Run with the `nir` package (1.0.x) and numpy:
    python3 -m venv /tmp/nirenv && /tmp/nirenv/bin/pip install nir numpy
    /tmp/nirenv/bin/python make_fixtures.py

Besides the graphs and their inputs (`<name>_input.npy`, float64 (T, *input shape), 0/1
spikes) it writes, for the dense chains and the conv chain, the output spikes that NIR's
equations give in float64 with loisim's discretisation (docs/networks.md, "NIR graphs"),
computed here with numpy independently of the Rust code (`<name>_expected.npy`, float64
(T, *output shape)).
"""

import numpy as np
import nir

DT = 1e-3
RNG = np.random.default_rng(20261130)
HERE = __file__.rsplit("/", 1)[0] if "/" in __file__ else "."


def spikes(t, shape, p):
    return (RNG.random((t, *shape)) < p).astype(np.float64)


# ---- float64 reference, written from NIR's equations --------------------------------------
# Each step of dt: synaptic current with exact exponential decay (zero-order hold of the
# step's input), then the membrane with exact exponential decay driven by the new current,
# then a spike when v > v_threshold and v reset to 0. Every linear segment between neurons
# takes one step (a spike of step t reaches the next neurons in step t + 1), as on Loihi.

def lif_step(state, x, node):
    v = state
    a = np.exp(-DT / node.tau)
    v = a * v + (1 - a) * (node.v_leak + node.r * x)
    s = v > node.v_threshold
    v = np.where(s, 0.0, v)
    return v, s.astype(np.float64)


def cuba_step(state, x, node):
    i, v = state
    a_syn = np.exp(-DT / node.tau_syn)
    a_mem = np.exp(-DT / node.tau_mem)
    i = a_syn * i + (1 - a_syn) * node.w_in * x
    v = a_mem * v + (1 - a_mem) * (node.v_leak + node.r * i)
    s = v > node.v_threshold
    v = np.where(s, 0.0, v)
    return (i, v), s.astype(np.float64)


def conv2d(x, node):
    w = node.weight
    c_out, c_in, kh, kw = w.shape
    ph, pw = node.padding
    sh, sw = node.stride
    xp = np.pad(x, ((0, 0), (ph, ph), (pw, pw)))
    h = (xp.shape[1] - kh) // sh + 1
    wd = (xp.shape[2] - kw) // sw + 1
    out = np.zeros((c_out, h, wd))
    for o in range(c_out):
        for i in range(h):
            for j in range(wd):
                out[o, i, j] = np.sum(w[o] * xp[:, i * sh:i * sh + kh, j * sw:j * sw + kw])
        out[o] += node.bias[o]
    return out


def sumpool(x, node):
    kh, kw = node.kernel_size
    sh, sw = node.stride
    c, h, w = x.shape
    ho, wo = (h - kh) // sh + 1, (w - kw) // sw + 1
    out = np.zeros((c, ho, wo))
    for i in range(ho):
        for j in range(wo):
            out[:, i, j] = x[:, i * sh:i * sh + kh, j * sw:j * sw + kw].sum(axis=(1, 2))
    return out


def run_chain(segments, neurons, x):
    """segments[k]: function of the previous layer's spikes; neurons[k]: (init, step, node).

    Step t (from 0) feeds x[t] to the first segment; layer k reads what layer k - 1 sent in
    the previous step (zeros before the first), so a spike crosses one segment per step.
    Returns the last layer's spikes of every step."""
    states = [init for init, _, _ in neurons]
    last = [np.zeros_like(x[0])] + [None] * len(neurons)
    shapes = [None] * len(neurons)
    outs = []
    for t in range(x.shape[0]):
        new = [x[t]]
        for k, (seg, (_, step, node)) in enumerate(zip(segments, neurons)):
            src = last[k] if last[k] is not None else np.zeros(shapes[k - 1])
            states[k], s = step(states[k], seg(src), node)
            shapes[k] = s.shape
            new.append(s)
        last = new
        outs.append(last[-1])
    return np.array(outs)


def main():
    t_steps = 40
    # 1. LIF dense chain
    w1 = RNG.uniform(-1.5, 3.0, (6, 8))
    b1 = RNG.uniform(-0.2, 0.4, 6)
    w2 = RNG.uniform(-2.0, 4.0, (4, 6))
    b2 = np.zeros(4)
    lif1 = nir.LIF(tau=np.full(6, 5e-3), r=np.full(6, 2.0), v_leak=np.full(6, 0.1),
                   v_threshold=np.full(6, 1.0), v_reset=np.zeros(6))
    lif2 = nir.LIF(tau=np.full(4, 8e-3), r=np.full(4, 1.5), v_leak=np.zeros(4),
                   v_threshold=np.full(4, 1.2), v_reset=np.zeros(4))
    a1, a2 = nir.Affine(w1, b1), nir.Affine(w2, b2)
    g = nir.NIRGraph.from_list(nir.Input(np.array([8])), a1, lif1, a2, lif2,
                               nir.Output(np.array([4])))
    nir.write(f"{HERE}/lif_dense.nir", g)
    x = spikes(t_steps, (8,), 0.35)
    np.save(f"{HERE}/lif_dense_input.npy", x)
    y = run_chain([lambda s: w1 @ s + b1, lambda s: w2 @ s + b2],
                  [(np.zeros(6), lif_step, lif1), (np.zeros(4), lif_step, lif2)], x)
    np.save(f"{HERE}/lif_dense_expected.npy", y)
    print("lif_dense output spikes", y.sum(axis=0))

    # 2. CubaLIF dense chain (Linear, then Affine without bias)
    w1 = RNG.uniform(-1.0, 5.0, (5, 8))
    w2 = RNG.uniform(-1.0, 4.0, (3, 5))
    c1 = nir.CubaLIF(tau_syn=np.full(5, 4e-3), tau_mem=np.full(5, 6e-3), r=np.full(5, 2.0),
                     v_leak=np.zeros(5), v_threshold=np.full(5, 1.5), v_reset=np.zeros(5),
                     w_in=np.full(5, 1.5))
    c2 = nir.CubaLIF(tau_syn=np.full(3, 3e-3), tau_mem=np.full(3, 10e-3), r=np.full(3, 1.0),
                     v_leak=np.full(3, 0.05), v_threshold=np.full(3, 1.5),
                     v_reset=np.zeros(3), w_in=np.full(3, 1.0))
    g = nir.NIRGraph.from_list(nir.Input(np.array([8])), nir.Linear(w1), c1,
                               nir.Affine(w2, np.zeros(3)), c2, nir.Output(np.array([3])))
    nir.write(f"{HERE}/cubalif_dense.nir", g)
    x = spikes(t_steps, (8,), 0.35)
    np.save(f"{HERE}/cubalif_dense_input.npy", x)
    y = run_chain([lambda s: w1 @ s, lambda s: w2 @ s],
                  [((np.zeros(5), np.zeros(5)), cuba_step, c1),
                   ((np.zeros(3), np.zeros(3)), cuba_step, c2)], x)
    np.save(f"{HERE}/cubalif_dense_expected.npy", y)
    print("cubalif_dense output spikes", y.sum(axis=0))

    # 3. conv + sum-pool + flatten + dense
    wc = RNG.uniform(-1.0, 1.5, (3, 2, 3, 3))
    bc = RNG.uniform(0.0, 0.2, 3)
    conv = nir.Conv2d(input_shape=(6, 6), weight=wc, stride=1, padding=1, dilation=1,
                      groups=1, bias=bc)
    lc = nir.LIF(tau=np.full((3, 6, 6), 4e-3), r=np.ones((3, 6, 6)),
                 v_leak=np.zeros((3, 6, 6)), v_threshold=np.full((3, 6, 6), 1.0),
                 v_reset=np.zeros((3, 6, 6)))
    pool = nir.SumPool2d(kernel_size=np.array([2, 2]), stride=np.array([2, 2]),
                         padding=np.array([0, 0]))
    flat = nir.Flatten(input_type={"input": np.array([3, 3, 3])}, start_dim=0, end_dim=-1)
    wd = RNG.uniform(-0.8, 1.0, (4, 27))
    bd = np.zeros(4)
    ld = nir.LIF(tau=np.full(4, 6e-3), r=np.ones(4), v_leak=np.zeros(4),
                 v_threshold=np.full(4, 1.0), v_reset=np.zeros(4))
    g = nir.NIRGraph.from_list(nir.Input(np.array([2, 6, 6])), conv, lc, pool, flat,
                               nir.Affine(wd, bd), ld, nir.Output(np.array([4])))
    nir.write(f"{HERE}/conv_pool_dense.nir", g)
    x = spikes(t_steps, (2, 6, 6), 0.3)
    np.save(f"{HERE}/conv_pool_dense_input.npy", x)
    y = run_chain([lambda s: conv2d(s, conv),
                   lambda s: wd @ sumpool(s, pool).reshape(-1) + bd],
                  [(np.zeros((3, 6, 6)), lif_step, lc), (np.zeros(4), lif_step, ld)], x)
    np.save(f"{HERE}/conv_pool_dense_expected.npy", y)
    print("conv_pool_dense output spikes", y.sum(axis=0))

    # 4. unsupported: a non-zero v_reset; a branching graph
    bad = nir.LIF(tau=np.full(4, 5e-3), r=np.ones(4), v_leak=np.zeros(4),
                  v_threshold=np.ones(4), v_reset=np.full(4, 0.25))
    g = nir.NIRGraph.from_list(nir.Input(np.array([8])), nir.Affine(np.ones((4, 8)), np.zeros(4)),
                               bad, nir.Output(np.array([4])))
    nir.write(f"{HERE}/bad_v_reset.nir", g)
    nodes = {
        "input": nir.Input(np.array([4])),
        "fc_a": nir.Linear(np.ones((3, 4))),
        "fc_b": nir.Linear(np.ones((3, 4))),
        "lif_a": nir.LIF(tau=np.full(3, 5e-3), r=np.ones(3), v_leak=np.zeros(3),
                         v_threshold=np.ones(3), v_reset=np.zeros(3)),
        "lif_b": nir.LIF(tau=np.full(3, 5e-3), r=np.ones(3), v_leak=np.zeros(3),
                         v_threshold=np.ones(3), v_reset=np.zeros(3)),
        "output": nir.Output(np.array([3])),
    }
    edges = [("input", "fc_a"), ("input", "fc_b"), ("fc_a", "lif_a"), ("fc_b", "lif_b"),
             ("lif_a", "output"), ("lif_b", "output")]
    nir.write(f"{HERE}/bad_branch.nir", nir.NIRGraph(nodes=nodes, edges=edges))


if __name__ == "__main__":
    main()
