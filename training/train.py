"""Train the S5 denoiser: dense pre-training, gradual magnitude pruning, quantisation-aware
fine-tuning at W8A16 with the spec's exponent rules, then export a float checkpoint with
the upstream parameter names for `loisim import --calibration`.

    python training/train.py --data training/data --run training/runs/sparse-1x \
        --width 1 --sparsity 0.9 [--smoke]

Resumes from `<run>/state.pkl` (written every --ckpt-every steps and at each phase end).
Writes `<run>/checkpoint.npz` (the float checkpoint), `<run>/calibration.npy` (features of
validation mixtures the run-time exponents are frozen on) and `<run>/train.json`
(settings, losses, validation SI-SNR, activation densities, duration).
"""

from __future__ import annotations

import argparse
import json
import pickle
import sys
import time
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import optax

sys.path.insert(0, str(Path(__file__).resolve().parent))
import corpus  # noqa: E402
import s5  # noqa: E402


def load_split(data: Path, split: str) -> list[np.ndarray]:
    files = sorted((data / split / "utt").glob("*.npy"))
    if not files:
        raise SystemExit(f"{data / split / 'utt'}: no utterances; run training/corpus.py first")
    return [np.load(f) for f in files]


def batch(rng: np.random.Generator, utts, n: int, crop: int):
    """n (noisy, clean) pairs of `crop` samples: random utterance, offset, noise, SNR, level."""
    noisy, clean = [], []
    for _ in range(n):
        u = utts[int(rng.integers(0, len(utts)))]
        if len(u) >= crop:
            off = int(rng.integers(0, len(u) - crop + 1))
            u = u[off:off + crop]
        else:
            pad = crop - len(u)
            left = int(rng.integers(0, pad + 1))
            u = np.pad(u, (left, pad - left))
        kind = corpus.NOISE_TYPES[int(rng.integers(0, len(corpus.NOISE_TYPES)))]
        snr = float(rng.uniform(*corpus.SNR_RANGE_DB))
        x, s = corpus.mix(u, kind, snr, rng, utts, float(rng.uniform(-12.0, -1.0)))
        noisy.append(x)
        clean.append(s)
    return np.stack(noisy), np.stack(clean)


def phases(a):
    """(name, steps, quantised, target sparsity at the end) in order."""
    out = [("dense", a.dense_steps, False, 0.0)]
    if a.sparsity > 0:
        out.append(("prune", a.prune_steps, False, a.sparsity))
    out.append(("qat", a.qat_steps, True, a.sparsity))
    return out


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, default=Path("training/data"))
    ap.add_argument("--run", type=Path, required=True)
    ap.add_argument("--width", type=float, default=1.0)
    ap.add_argument("--sparsity", type=float, default=0.9)
    ap.add_argument("--seed", type=int, default=2025)
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--crop-s", type=float, default=2.0)
    ap.add_argument("--lr", type=float, default=2e-3)
    ap.add_argument("--dense-steps", type=int, default=1500)
    ap.add_argument("--prune-steps", type=int, default=1200)
    ap.add_argument("--qat-steps", type=int, default=600)
    ap.add_argument("--prune-every", type=int, default=50)
    ap.add_argument("--ckpt-every", type=int, default=100)
    ap.add_argument("--val-every", type=int, default=300)
    ap.add_argument("--smoke", action="store_true", help="a few steps of every phase")
    a = ap.parse_args(argv)
    if a.smoke:
        a.dense_steps, a.prune_steps, a.qat_steps = 4, 4, 4
        a.prune_every, a.ckpt_every, a.val_every, a.batch = 2, 4, 4, 4
    a.run.mkdir(parents=True, exist_ok=True)
    crop = int(a.crop_s * corpus.SR)
    train_utts = load_split(a.data, "train")
    val_utts = load_split(a.data, "val")
    vrng = np.random.default_rng([a.seed, 7])
    n_val = 8 if a.smoke else 48
    val_noisy, val_clean = batch(vrng, val_utts, n_val, int(3.0 * corpus.SR))

    plan = phases(a)
    total_steps = sum(p[1] for p in plan)
    opt = optax.chain(optax.clip_by_global_norm(1.0), optax.adam(a.lr))

    state_file = a.run / "state.pkl"
    if state_file.exists():
        with open(state_file, "rb") as fh:
            st = pickle.load(fh)
        print(f"resuming at step {st['step']}", file=sys.stderr)
    else:
        params, stats = s5.init(jax.random.PRNGKey(a.seed), a.width)
        st = {"step": 0, "params": params, "stats": stats, "opt": opt.init(params),
              "masks": s5.ones_masks(params), "rng": np.random.default_rng([a.seed, 1]),
              "log": [], "val": [], "wall_s": 0.0}

    def loss_fn(params, stats, masks, noisy, clean, quant):
        eff = s5.effective(params, masks, quant)
        out, new_stats, dens = s5.enhance(eff, stats, noisy, True)
        return -jnp.mean(s5.si_snr(out, clean)), (new_stats, dens)

    @jax.jit
    def step_float(params, stats, opt_state, masks, noisy, clean, lr_scale):
        (loss, (ns, dens)), g = jax.value_and_grad(loss_fn, has_aux=True)(
            params, stats, masks, noisy, clean, False)
        up, opt_state = opt.update(g, opt_state, params)
        up = jax.tree.map(lambda u: u * lr_scale, up)
        return optax.apply_updates(params, up), ns, opt_state, loss, dens

    @jax.jit
    def step_quant(params, stats, opt_state, masks, noisy, clean, lr_scale):
        (loss, (ns, dens)), g = jax.value_and_grad(loss_fn, has_aux=True)(
            params, stats, masks, noisy, clean, True)
        up, opt_state = opt.update(g, opt_state, params)
        up = jax.tree.map(lambda u: u * lr_scale, up)
        return optax.apply_updates(params, up), ns, opt_state, loss, dens

    @jax.jit
    def evaluate(params, stats, masks, noisy, clean, quant_flag):
        eff = jax.lax.cond(quant_flag, lambda: s5.effective(params, masks, True),
                           lambda: s5.effective(params, masks, False))
        out, _, dens = s5.enhance(eff, stats, noisy, False)
        return s5.si_snr(out, clean) - s5.si_snr(noisy, clean), dens

    def save():
        tmp = state_file.with_suffix(".tmp")
        with open(tmp, "wb") as fh:
            pickle.dump(st, fh)
        tmp.replace(state_file)

    def validate(quant):
        gains, dens = [], None
        for i in range(0, n_val, 8):
            g, d = evaluate(st["params"], st["stats"], st["masks"],
                            jnp.asarray(val_noisy[i:i + 8]), jnp.asarray(val_clean[i:i + 8]),
                            quant)
            gains.append(np.asarray(g))
            dens = {k: float(v) for k, v in d.items()}
        v = {"step": st["step"], "quantised": bool(quant),
             "si_snr_gain_db": float(np.mean(np.concatenate(gains))), "density": dens}
        st["val"].append(v)
        print(f"  val step {st['step']}: SI-SNR gain {v['si_snr_gain_db']:.2f} dB"
              f" (quantised={quant})", file=sys.stderr)
        return v

    t_last = time.time()
    while st["step"] < total_steps:
        s = st["step"]
        # Locate the phase.
        start = 0
        for name, n, quant, target in plan:
            if s < start + n:
                break
            start += n
        k = s - start
        # Pruning schedule (Zhu & Gupta's cubic ramp over the first 80 % of the phase).
        if name == "prune" and k % a.prune_every == 0:
            ramp = max(1, int(0.8 * n))
            frac = min(1.0, (k + a.prune_every) / ramp)
            sp = target * (1 - (1 - frac) ** 3)
            st["masks"] = s5.magnitude_masks(st["params"], st["masks"], sp)
        # Cosine learning-rate decay within each phase (warm-up in the first).
        lr_scale = 0.5 * (1 + np.cos(np.pi * k / n))
        if name == "dense" and k < 100:
            lr_scale *= (k + 1) / 100
        if name != "dense":
            lr_scale *= 0.5
        noisy, clean = batch(st["rng"], train_utts, a.batch, crop)
        fn = step_quant if quant else step_float
        st["params"], st["stats"], st["opt"], loss, dens = fn(
            st["params"], st["stats"], st["opt"], st["masks"], jnp.asarray(noisy),
            jnp.asarray(clean), jnp.float32(lr_scale))
        st["step"] += 1
        now = time.time()
        st["wall_s"] += now - t_last
        t_last = now
        if st["step"] % 10 == 0 or a.smoke:
            st["log"].append({"step": st["step"], "phase": name, "loss": float(loss)})
            print(f"step {st['step']}/{total_steps} {name} loss {float(loss):.3f}"
                  f" ({st['wall_s'] / st['step']:.2f} s/step)", file=sys.stderr)
        if st["step"] % a.val_every == 0 or st["step"] == start + n:
            validate(quant)
        if st["step"] % a.ckpt_every == 0 or st["step"] == start + n:
            save()

    final = validate(True)
    float_final = validate(False)
    np.savez(a.run / "checkpoint.npz", **s5.export(st["params"], st["stats"], st["masks"]))
    # Calibration input: features of 16 validation mixtures, concatenated in time.
    spec = s5.stft(jnp.asarray(val_noisy[:16]))
    mags = np.asarray(jnp.abs(spec), np.float32)
    np.save(a.run / "calibration.npy", mags.reshape(-1, s5.N_BINS))
    mk = st["masks"]
    nz = {k: float(np.mean(np.asarray(v))) for k, v in
          [("enc_w", mk["enc_w"]), ("dec_w", mk["dec_w"])] +
          [(f"layers.{i}.{k}", l[k]) for i, l in enumerate(mk["layers"]) for k in l]}
    info = {"width": a.width, "sparsity_target": a.sparsity, "seed": a.seed,
            "batch": a.batch, "crop_s": a.crop_s, "lr": a.lr,
            "phases": [{"name": p[0], "steps": p[1], "quantised": p[2], "sparsity": p[3]}
                       for p in plan],
            "wall_s": round(st["wall_s"], 1), "mask_density": nz,
            "val_final_quantised": final, "val_final_float": float_final,
            "val": st["val"], "log": st["log"],
            "jax": jax.__version__, "optax": optax.__version__, "numpy": np.__version__}
    (a.run / "train.json").write_text(json.dumps(info, indent=1) + "\n")
    print(json.dumps({k: info[k] for k in ("wall_s", "val_final_quantised")}), file=sys.stderr)


if __name__ == "__main__":
    main()
