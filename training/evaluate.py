"""Evaluate a trained denoiser on the test split: the float model (JAX), loisim's
fixed-point reference interpreter (`--reference`) and the simulated chip, per input-SNR
bucket and noise type, plus the shipped default clip.

    python training/evaluate.py --model models/s5-sparse-1x-trained.bin \
        --checkpoint training/runs/sparse-1x/checkpoint.npz --data training/data \
        --loisim target/release/loisim --out training/runs/sparse-1x/eval.json

The chip and the reference must agree bit for bit (the enhanced WAVs are compared byte by
byte); the script exits 1 if they do not.
"""

from __future__ import annotations

import argparse
import csv
import filecmp
import json
import subprocess
import sys
import tempfile
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import soundfile as sf

sys.path.insert(0, str(Path(__file__).resolve().parent))
import s5  # noqa: E402

BUCKETS = ((-5, 0), (0, 5), (5, 10), (10, 15), (15, 20))


def params_from_checkpoint(path: Path):
    """The float checkpoint's tensors back into the JAX model's parameters (no masks:
    pruned weights are stored as zeros)."""
    z = np.load(path)
    n_layers = len({k.split("/")[2] for k in z.files if "/layers_" in k})
    params = {"enc_w": z["params/encoder/encoder/kernel"], "enc_b": z["params/encoder/encoder/bias"],
              "dec_w": z["params/decoder/kernel"], "dec_b": z["params/decoder/bias"], "layers": []}
    stats = []
    for i in range(n_layers):
        pre = f"params/encoder/layers_{i}"
        params["layers"].append({
            "lambda_re": z[f"{pre}/mixer/Lambda_re"], "lambda_im": z[f"{pre}/mixer/Lambda_im"],
            "b": z[f"{pre}/mixer/B"], "c": z[f"{pre}/mixer/C"], "d": z[f"{pre}/mixer/D"],
            "log_step": z[f"{pre}/mixer/log_step"][:, 0],
            "out2_w": z[f"{pre}/out2/kernel"], "out2_b": z[f"{pre}/out2/bias"]})
        stats.append({"mean": z[f"batch_stats/encoder/layers_{i}/norm/mean"],
                      "var": z[f"batch_stats/encoder/layers_{i}/norm/var"]})
    return jax.tree.map(jnp.asarray, params), jax.tree.map(jnp.asarray, stats)


def si_snr(est, ref) -> float:
    return float(s5.si_snr(jnp.asarray(est[None], jnp.float64 if False else jnp.float32),
                           jnp.asarray(ref[None]))[0])


def float_eval(checkpoint: Path, noisy_files, clean_files):
    params, stats = params_from_checkpoint(checkpoint)
    eff = s5.effective(params, None, False)
    run = jax.jit(lambda x: s5.enhance(eff, stats, x, False)[0])
    out = []
    for nf, cf in zip(noisy_files, clean_files):
        x, _ = sf.read(nf, dtype="float32")
        s, _ = sf.read(cf, dtype="float32")
        y = np.asarray(run(jnp.asarray(x[None])))[0]
        out.append(si_snr(y, s))
    return out


def loisim_batch(loisim: str, model: Path, noisy: Path, clean: Path, out: Path, reference: bool):
    cmd = [loisim, "run", str(model), "--input", str(noisy), "--clean", str(clean),
           "--output", str(out), "--json", "--quiet"]
    if reference:
        cmd.append("--reference")
    r = subprocess.run(cmd, check=True, capture_output=True, text=True)
    return json.loads(r.stdout)


def summarise(rows, key):
    def mean(sel):
        v = [r[key] - r["noisy_si_snr_db"] for r in sel]
        return {"n": len(v), "si_snri_db_mean": round(float(np.mean(v)), 3) if v else None,
                "si_snr_db_mean": round(float(np.mean([r[key] for r in sel])), 3) if v else None}
    out = {"all": mean(rows), "by_snr": {}, "by_noise": {}}
    for lo, hi in BUCKETS:
        out["by_snr"][f"[{lo},{hi})"] = mean([r for r in rows if lo <= r["snr_db"] < hi
                                             or (hi == 20 and r["snr_db"] == 20)])
    for kind in sorted({r["noise"] for r in rows}):
        out["by_noise"][kind] = mean([r for r in rows if r["noise"] == kind])
    return out


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", type=Path, required=True)
    ap.add_argument("--checkpoint", type=Path, required=True)
    ap.add_argument("--data", type=Path, default=Path("training/data"))
    ap.add_argument("--loisim", default="target/release/loisim")
    ap.add_argument("--clip", type=Path, default=Path("models/default-clip-noisy.wav"))
    ap.add_argument("--clip-clean", type=Path, default=Path("models/default-clip-clean.wav"))
    ap.add_argument("--out", type=Path, required=True)
    a = ap.parse_args(argv)
    mix = a.data / "test" / "mix"
    with open(a.data / "test" / "mixtures.csv") as fh:
        meta = list(csv.DictReader(fh))
    noisy_files = [mix / "noisy" / m["file"] for m in meta]
    clean_files = [mix / "clean" / m["file"] for m in meta]
    with tempfile.TemporaryDirectory() as td:
        td = Path(td)
        chip = loisim_batch(a.loisim, a.model, mix / "noisy", mix / "clean", td / "chip", False)
        ref = loisim_batch(a.loisim, a.model, mix / "noisy", mix / "clean", td / "ref", True)
        mismatched = [m["file"] for m in meta
                      if not filecmp.cmp(td / "chip" / m["file"], td / "ref" / m["file"],
                                         shallow=False)]
    floats = float_eval(a.checkpoint, noisy_files, clean_files)
    by_name_chip = {p["input"]: p for p in chip["per_sample"]}
    by_name_ref = {p["input"]: p for p in ref["per_sample"]}
    rows = []
    for m, f in zip(meta, floats):
        c, r = by_name_chip[m["file"]], by_name_ref[m["file"]]
        rows.append({"file": m["file"], "noise": m["noise"], "snr_db": float(m["snr_db"]),
                     "noisy_si_snr_db": c["audio"]["noisy_si_snr_db"],
                     "float_si_snr_db": f, "reference_si_snr_db": r["audio"]["si_snr_db"],
                     "chip_si_snr_db": c["audio"]["si_snr_db"]})
    # The shipped clip, on the chip, with its costs and activation density.
    clip = json.loads(subprocess.run(
        [a.loisim, "run", str(a.model), "--input", str(a.clip), "--clean", str(a.clip_clean),
         "--json", "--quiet"], check=True, capture_output=True, text=True).stdout)
    result = {
        "model": str(a.model), "test_mixtures": len(rows),
        "chip_equals_reference": not mismatched, "mismatched": mismatched,
        "float": summarise(rows, "float_si_snr_db"),
        "reference": summarise(rows, "reference_si_snr_db"),
        "chip": summarise(rows, "chip_si_snr_db"),
        "default_clip": {"audio": clip.get("audio"),
                         "fall_through": {k: clip["fall_through"][k] for k in (
                             "latency_us_per_token", "energy_dynamic_uj_per_token",
                             "energy_total_uj_per_token")},
                         "pipeline": {k: clip["pipeline"][k] for k in (
                             "latency_us_per_token", "energy_dynamic_uj_per_token",
                             "energy_total_uj_per_token") if k in clip["pipeline"]},
                         "activation_density": clip.get("activation_density")},
        "rows": rows,
    }
    a.out.write_text(json.dumps(result, indent=1) + "\n")
    print(json.dumps({k: result[k]["all"] for k in ("float", "reference", "chip")}))
    print(f"chip == reference: {not mismatched}", file=sys.stderr)
    return 0 if not mismatched else 1


if __name__ == "__main__":
    sys.exit(main())
