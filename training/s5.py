"""The S5 denoiser of docs/../spec (section 1) in JAX: float forward pass, the STFT loisim
uses, fake quantisation by the spec's exponent rules, magnitude pruning masks, and the
export to a float checkpoint with the upstream (Flax) parameter names `loisim import`
reads.
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np

N_FFT = 512
HOP = 128
N_BINS = 257
MAG_OFFSET = 0.0007
IN_BITS = 16


def dims(width: float) -> tuple[int, int]:
    """(H, P) for a width (the paper's dim_scale): H = 12 J, P = 8 J, J = int(16 s)."""
    j = int(16 * width)
    return 12 * j, 8 * j


# ---------------------------------------------------------------------------------------
# STFT as loisim's (scipy's defaults: boxcar 512, hop 128, zero boundary, padded,
# scaling 1/512), and the inverse (overlap-add divided by the summed squared window).


def n_frames(n: int) -> int:
    padded = n + N_FFT  # 256 zeros each side
    extra = (-(padded - N_FFT)) % HOP
    return (padded + extra - N_FFT) // HOP + 1


def stft(x):
    """x: (B, N) float32 -> complex64 (B, T, 257)."""
    b, n = x.shape
    t = n_frames(n)
    total = (t - 1) * HOP + N_FFT
    xp = jnp.pad(x, ((0, 0), (N_FFT // 2, total - n - N_FFT // 2)))
    idx = jnp.arange(t)[:, None] * HOP + jnp.arange(N_FFT)[None, :]
    frames = xp[:, idx]
    return jnp.fft.rfft(frames, axis=-1) / N_FFT


def istft(spec, n: int):
    """complex (B, T, 257) -> (B, n) float32, scipy's istft for the boxcar window."""
    b, t, _ = spec.shape
    frames = jnp.fft.irfft(spec * N_FFT, n=N_FFT, axis=-1)  # (B, T, 512)
    total = (t - 1) * HOP + N_FFT
    idx = (np.arange(t)[:, None] * HOP + np.arange(N_FFT)[None, :]).reshape(-1)
    y = jnp.zeros((b, total), frames.dtype).at[:, idx].add(frames.reshape(b, -1))
    norm = np.zeros(total)
    np.add.at(norm, idx, 1.0)
    norm = jnp.asarray(np.where(norm > 1e-10, norm, 1.0), frames.dtype)
    y = y / norm
    return y[:, N_FFT // 2: N_FFT // 2 + n]


def features(mag):
    """Model input: magnitude minus the spec's offset, quantised as the chip's 16-bit
    input (floor(x 2^e)), e from the calibration range; here the fixed e = 15 - intbits
    with intbits 0 (inputs below 1)."""
    x = mag - MAG_OFFSET
    q = jnp.floor(x * 2.0 ** (IN_BITS - 1)) / 2.0 ** (IN_BITS - 1)
    return x + jax.lax.stop_gradient(q - x)


def si_snr(est, ref, eps=1e-8):
    est = est - jnp.mean(est, axis=-1, keepdims=True)
    ref = ref - jnp.mean(ref, axis=-1, keepdims=True)
    s = jnp.sum(est * ref, -1, keepdims=True) / (jnp.sum(ref * ref, -1, keepdims=True) + eps) * ref
    e = est - s
    return 10 * jnp.log10((jnp.sum(s * s, -1) + eps) / (jnp.sum(e * e, -1) + eps))


# ---------------------------------------------------------------------------------------
# Quantisation: the spec's exponent rule (section 8) and round-half-even to the grid.


def exp_for(absmax, bits: int):
    """exp = min(fracbits, bits - 1 - intbits) of the spec, as a traced value."""
    absmax = jnp.maximum(absmax, 1e-30)
    l2 = jnp.log2(absmax)
    intbits = jnp.maximum(0.0, jnp.ceil(l2)) + jnp.where(l2 == jnp.round(l2), 1.0, 0.0)
    scale_l2 = jnp.round(jnp.log2(jnp.maximum(absmax / (2.0 ** (bits - 1) - 1), 1e-6)))
    frac = -scale_l2
    return jnp.minimum(frac, bits - 1 - intbits)


def fake_quant(w, absmax, bits: int):
    """sat(RNE(w 2^e)) 2^-e with a straight-through gradient."""
    e = jax.lax.stop_gradient(exp_for(absmax, bits))
    s = 2.0 ** e
    lim = 2.0 ** (bits - 1)
    q = jnp.clip(jnp.round(w * s), -lim, lim - 1) / s
    return w + jax.lax.stop_gradient(q - w)


# ---------------------------------------------------------------------------------------
# Parameters


def init(key, width: float, n_layers: int = 3):
    h, p = dims(width)
    ks = iter(jax.random.split(key, 8 + 8 * n_layers))

    def lecun(k, shape, fan_in):
        return jax.random.normal(k, shape) / math.sqrt(fan_in)

    params = {
        "enc_w": lecun(next(ks), (N_BINS, h), N_BINS) * 8.0,
        "enc_b": jnp.zeros(h),
        "dec_w": lecun(next(ks), (h, N_BINS), h) * 0.1,
        "dec_b": jnp.zeros(N_BINS),
        "layers": [],
    }
    for _ in range(n_layers):
        n = jnp.arange(p) % 8  # S4D-Lin style, blocks of 8 conjugate pairs tiled
        params["layers"].append({
            "lambda_re": -0.5 * jnp.ones(p),
            "lambda_im": jnp.pi * n.astype(jnp.float32),
            "b": lecun(next(ks), (p, h, 2), h) / math.sqrt(2.0),
            "c": lecun(next(ks), (h, p, 2), p) / math.sqrt(2.0),
            "d": jax.random.normal(next(ks), (h,)),
            "log_step": jax.random.uniform(next(ks), (p,), minval=math.log(1e-3),
                                           maxval=math.log(1e-1)),
            "out2_w": lecun(next(ks), (h, h), h),
            "out2_b": jnp.zeros(h),
        })
    stats = [{"mean": jnp.zeros(h), "var": jnp.ones(h)} for _ in range(n_layers)]
    return params, stats


def discretize(lp):
    """Λ̄ (complex P), B̄ (complex P x H) by ZOH; Re Λ clipped to <= -1e-4."""
    lam = jnp.minimum(lp["lambda_re"], -1e-4) + 1j * lp["lambda_im"]
    delta = jnp.exp(lp["log_step"])
    lbar = jnp.exp(lam * delta)
    bt = lp["b"][..., 0] + 1j * lp["b"][..., 1]
    bbar = ((lbar - 1.0) / lam)[:, None] * bt
    return lbar, bbar


def _absmax(xs):
    return jax.lax.stop_gradient(jnp.max(jnp.stack([jnp.max(jnp.abs(x)) for x in xs])))


def effective(params, masks, quant: bool):
    """The weights the chip uses: pruned (masks), and on the 8/16-bit grids when `quant`.
    Exponents are shared over the blocks (`loisim import`'s derived qconfig)."""
    def m(name, w, i=None):
        if masks is None:
            return w
        mk = masks[name] if i is None else masks["layers"][i][name]
        return w * mk

    enc_w = m("enc_w", params["enc_w"])
    dec_w = m("dec_w", params["dec_w"])
    layers = []
    for i, lp in enumerate(params["layers"]):
        lbar, bbar = discretize(lp)
        bmask = 1.0 if masks is None else masks["layers"][i]["b"]
        cmask = 1.0 if masks is None else masks["layers"][i]["c"]
        layers.append({
            "lbar_re": jnp.real(lbar), "lbar_im": jnp.imag(lbar),
            "bbar_re": jnp.real(bbar) * bmask, "bbar_im": jnp.imag(bbar) * bmask,
            "c_re": lp["c"][..., 0] * cmask, "c_im": lp["c"][..., 1] * cmask,
            "d": lp["d"], "out2_w": m("out2_w", lp["out2_w"], i), "out2_b": lp["out2_b"],
        })
    eff = {"enc_w": enc_w, "enc_b": params["enc_b"], "dec_w": dec_w,
           "dec_b": params["dec_b"], "layers": layers}
    if not quant:
        return eff
    eff["enc_w"] = fake_quant(enc_w, _absmax([enc_w]), 8)
    eff["dec_w"] = fake_quant(dec_w, _absmax([dec_w]), 8)
    for key, bits in (("lbar_re", 16), ("lbar_im", 16), ("bbar_re", 8), ("bbar_im", 8),
                      ("c_re", 8), ("c_im", 8), ("d", 8), ("out2_w", 8)):
        am = _absmax([l[key] for l in layers])
        for l in layers:
            l[key] = fake_quant(l[key], am, bits)
    return eff


def _scan(lbar, bu):
    """x_t = Λ̄ x_{t-1} + Bu_t over axis 1 (time) by an associative scan."""
    def op(a, b):
        return a[0] * b[0], b[0] * a[1] + b[1]
    a = jnp.broadcast_to(lbar, bu.shape)
    _, xs = jax.lax.associative_scan(op, (a, bu), axis=1)
    return xs


def forward(eff, stats, x, train: bool, momentum: float = 0.99):
    """x: (B, T, 257) features -> mask (B, T, 257), new running statistics, densities.

    Densities: the fraction of non-zero values of each ReLU'd activation the chip sends
    (encoder output, each block's x1, gate product, block output)."""
    dens = {}
    h = jax.nn.relu(x @ eff["enc_w"] + eff["enc_b"])
    dens["encoder"] = jnp.mean(h > 0)
    new_stats = []
    for i, (l, st) in enumerate(zip(eff["layers"], stats)):
        skip = h
        if train:
            mean = jnp.mean(h, axis=(0, 1))
            var = jnp.var(h, axis=(0, 1))
            new_stats.append({
                "mean": momentum * st["mean"] + (1 - momentum) * jax.lax.stop_gradient(mean),
                "var": momentum * st["var"] + (1 - momentum) * jax.lax.stop_gradient(var)})
        else:
            mean, var = st["mean"], st["var"]
            new_stats.append(st)
        u = (h - mean) / jnp.sqrt(var + 1e-5)
        lbar = l["lbar_re"] + 1j * l["lbar_im"]
        bu = u.astype(jnp.complex64) @ (l["bbar_re"] + 1j * l["bbar_im"]).T.astype(jnp.complex64)
        xs = _scan(lbar.astype(jnp.complex64), bu)
        xr, xi = jnp.real(xs), jnp.imag(xs)
        keep = (xr > 0) | ((xr == 0) & (xi > 0))
        zr, zi = jnp.where(keep, xr, 0.0), jnp.where(keep, xi, 0.0)
        y = 2.0 * (zr @ l["c_re"].T - zi @ l["c_im"].T) + l["d"] * u
        x1 = jax.nn.relu(y)
        g = jax.nn.sigmoid(x1 @ l["out2_w"] + l["out2_b"])
        gx = x1 * g
        h = jax.nn.relu(gx + skip)
        dens[f"layers[{i}].state"] = jnp.mean(keep)
        dens[f"layers[{i}].x1"] = jnp.mean(x1 > 0)
        dens[f"layers[{i}].out"] = jnp.mean(h > 0)
    mask = h @ eff["dec_w"] + eff["dec_b"]
    return mask, new_stats, dens


def enhance(eff, stats, noisy, train: bool):
    """noisy waveforms (B, N) -> enhanced waveforms, new stats, densities."""
    spec = stft(noisy)
    mask, new_stats, dens = forward(eff, stats, features(jnp.abs(spec)), train)
    out = istft(spec * (1.0 + mask), noisy.shape[1])
    return out, new_stats, dens


# ---------------------------------------------------------------------------------------
# Pruning


def prunable(params):
    """name -> magnitude array of each prunable matrix (complex entries of B̄ and C̃ are
    pruned as a whole)."""
    out = {"enc_w": jnp.abs(params["enc_w"]), "dec_w": jnp.abs(params["dec_w"])}
    for i, lp in enumerate(params["layers"]):
        _, bbar = discretize(lp)
        out[f"layers.{i}.b"] = jnp.abs(bbar)
        out[f"layers.{i}.c"] = jnp.hypot(lp["c"][..., 0], lp["c"][..., 1])
        out[f"layers.{i}.out2_w"] = jnp.abs(lp["out2_w"])
    return out


def ones_masks(params):
    h = params["enc_w"].shape[1]
    p = params["layers"][0]["lambda_re"].shape[0]
    return {"enc_w": jnp.ones((N_BINS, h)), "dec_w": jnp.ones((h, N_BINS)),
            "layers": [{"b": jnp.ones((p, h)), "c": jnp.ones((h, p)),
                        "out2_w": jnp.ones((h, h))} for _ in params["layers"]]}


def magnitude_masks(params, masks, sparsity: float):
    """Keep the largest (1 - sparsity) of each matrix's entries (already-pruned stay)."""
    mags = prunable(params)
    new = {"layers": [dict(l) for l in masks["layers"]]}

    def keep(mag, old):
        mag = np.asarray(mag) * np.asarray(old)
        k = int(round((1.0 - sparsity) * mag.size))
        if k <= 0:
            return jnp.zeros_like(old)
        thr = np.partition(mag.reshape(-1), mag.size - k)[mag.size - k]
        return jnp.asarray((mag >= thr) & (np.asarray(old) > 0), jnp.float32)

    new["enc_w"] = keep(mags["enc_w"], masks["enc_w"])
    new["dec_w"] = keep(mags["dec_w"], masks["dec_w"])
    for i in range(len(params["layers"])):
        for k in ("b", "c", "out2_w"):
            new["layers"][i][k] = keep(mags[f"layers.{i}.{k}"], masks["layers"][i][k])
    return new


# ---------------------------------------------------------------------------------------
# Export: float checkpoint with the upstream names (spec section 2), pruned entries zero.


def export(params, stats, masks) -> dict[str, np.ndarray]:
    f32 = lambda a: np.asarray(a, dtype=np.float32)
    mk = masks if masks is not None else ones_masks(params)
    out = {
        "params/encoder/encoder/kernel": f32(params["enc_w"] * mk["enc_w"]),
        "params/encoder/encoder/bias": f32(params["enc_b"]),
        "params/decoder/kernel": f32(params["dec_w"] * mk["dec_w"]),
        "params/decoder/bias": f32(params["dec_b"]),
    }
    for i, (lp, st) in enumerate(zip(params["layers"], stats)):
        pre = f"params/encoder/layers_{i}"
        lm = mk["layers"][i]
        out[f"{pre}/mixer/Lambda_re"] = f32(jnp.minimum(lp["lambda_re"], -1e-4))
        out[f"{pre}/mixer/Lambda_im"] = f32(lp["lambda_im"])
        out[f"{pre}/mixer/B"] = f32(lp["b"] * lm["b"][..., None])
        out[f"{pre}/mixer/C"] = f32(lp["c"] * lm["c"][..., None])
        out[f"{pre}/mixer/D"] = f32(lp["d"])
        out[f"{pre}/mixer/log_step"] = f32(lp["log_step"])[:, None]
        out[f"{pre}/out2/kernel"] = f32(lp["out2_w"] * lm["out2_w"])
        out[f"{pre}/out2/bias"] = f32(lp["out2_b"])
        out[f"batch_stats/encoder/layers_{i}/norm/mean"] = f32(st["mean"])
        out[f"batch_stats/encoder/layers_{i}/norm/var"] = f32(st["var"])
    return out
