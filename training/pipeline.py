"""The whole trained-denoiser pipeline, from nothing to the files in `models/`:

1. `corpus.py`: synthesise the speech corpus (espeak-ng + sox) into --data;
2. `make_clip.py`: the default clip from test-split speech into models/;
3. `train.py`: the sparse (90 %) and the dense model at width 1 (each resumable);
4. `loisim import CHECKPOINT --calibration X.npy`: the fixed-point models;
5. `evaluate.py`: float / reference / chip SI-SNR on the test split and the default clip;
6. record: copy the models into models/ and write models/trained.json (commands, seeds,
   hashes, scores) that `cargo xtask models` and the README generator read.

    python training/pipeline.py [--smoke] [--loisim target/release/loisim]

`--smoke` runs every stage for a few steps on a tiny corpus in a temporary directory and
records nothing (under two minutes; CI runs it).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
PY = sys.executable

MODELS = (  # file, run name, width, sparsity
    ("s5-sparse-1x-trained.bin", "sparse-1x", 1.0, 0.9),
    ("s5-dense-1x-trained.bin", "dense-1x", 1.0, 0.0),
)


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def portable(path: Path) -> str:
    """`path` relative to the repository when it lies inside it, else as given."""
    try:
        return str(Path(os.path.abspath(path)).relative_to(ROOT))
    except ValueError:
        return str(path)


def sh(cmd, **kw):
    print("+ " + " ".join(str(c) for c in cmd), file=sys.stderr, flush=True)
    return subprocess.run([str(c) for c in cmd], check=True, **kw)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, default=ROOT / "training" / "data")
    ap.add_argument("--runs", type=Path, default=ROOT / "training" / "runs")
    ap.add_argument("--models", type=Path, default=ROOT / "models")
    ap.add_argument("--loisim", default=str(ROOT / "target" / "release" / "loisim"))
    ap.add_argument("--seed", type=int, default=2025)
    ap.add_argument("--smoke", action="store_true")
    ap.add_argument("--only", choices=[m[1] for m in MODELS], action="append",
                    help="train/record only these models (default: all)")
    a = ap.parse_args(argv)
    t0 = time.time()
    tmp = None
    if a.smoke:
        tmp = Path(tempfile.mkdtemp(prefix="loisim-train-smoke-"))
        a.data, a.runs, a.models = tmp / "data", tmp / "runs", tmp / "models"
    smoke = ["--smoke"] if a.smoke else []
    sh([PY, HERE / "corpus.py", "--out", a.data, "--seed", a.seed] + smoke)
    clip_dir = a.models
    sh([PY, HERE / "make_clip.py", "--data", a.data, "--out", clip_dir, "--seed", a.seed])
    wanted = [m for m in MODELS if not a.only or m[1] in a.only]
    results = []
    for file, run, width, sparsity in wanted:
        rd = a.runs / run
        train_cmd = [PY, HERE / "train.py", "--data", a.data, "--run", rd, "--width", width,
                     "--sparsity", sparsity, "--seed", a.seed] + smoke
        sh(train_cmd)
        model = rd / "model.bin"
        # model.bin records the paths it was imported from: give them relative to the
        # repository, as the recorded command does, so the bytes do not depend on where the
        # checkout lives.
        sh([a.loisim, "import", portable(rd / "checkpoint.npz"), "--calibration",
            portable(rd / "calibration.npy"), "-o", model, "--name", file.removesuffix(".bin")],
           cwd=ROOT)
        sh([PY, HERE / "evaluate.py", "--model", model, "--checkpoint", rd / "checkpoint.npz",
            "--data", a.data, "--loisim", a.loisim, "--out", rd / "eval.json",
            "--clip", clip_dir / "default-clip-noisy.wav",
            "--clip-clean", clip_dir / "default-clip-clean.wav"])
        results.append((file, run, width, sparsity, rd))
    if a.smoke:
        for file, run, *_ in results:
            ev = json.loads((a.runs / run / "eval.json").read_text())
            assert ev["chip_equals_reference"], f"{run}: chip differs from the reference"
            print(f"{run}: chip SI-SNRi {ev['chip']['all']['si_snri_db_mean']:+.2f} dB "
                  f"(smoke: untrained)", file=sys.stderr)
        shutil.rmtree(tmp)
        print(f"smoke pipeline passed in {time.time() - t0:.0f} s", file=sys.stderr)
        return 0
    record_path = a.models / "trained.json"
    corpus = json.loads((a.data / "corpus.json").read_text())
    old = json.loads(record_path.read_text()) if record_path.exists() else {"models": []}
    rel = lambda p: os.path.relpath(p, ROOT)
    record = {
        "corpus": {
            "command": f"python training/corpus.py --out training/data --seed {a.seed}",
            "seed": a.seed,
            "utterances": {k: v["utterances"] for k, v in corpus["splits"].items()},
            "hours": {k: v["hours"] for k, v in corpus["splits"].items()},
            "voices": {k: v["voices"] for k, v in corpus["splits"].items()},
            "utterances_sha256": corpus["utterances_sha256"],
            "test_mixtures": corpus["test_mixtures"],
        },
        "clip": {
            "command": f"python training/make_clip.py --data training/data --out models --seed {a.seed}",
            "description": "synthesised speech of the test split (voices and words training "
                           "never sees), 0.2-0.8 s pauses, babble and pink noise at 5 dB SNR",
            "noisy_sha256": sha256(clip_dir / "default-clip-noisy.wav"),
            "clean_sha256": sha256(clip_dir / "default-clip-clean.wav"),
        },
        "models": [m for m in old["models"] if m["file"] not in {r[0] for r in results}],
    }
    for file, run, width, sparsity, rd in results:
        shutil.copyfile(rd / "model.bin", a.models / file)
        info = json.loads((rd / "train.json").read_text())
        ev = json.loads((rd / "eval.json").read_text())
        dens = [{"channel": d["channel"], "nonzero_fraction": round(d["nonzero_fraction"], 6)}
                for d in ev["default_clip"]["activation_density"]]
        record["models"].append({
            "file": file,
            "sha256": sha256(a.models / file),
            "width": width,
            "weight_sparsity_target": sparsity,
            "commands": [
                f"python training/train.py --data training/data --run training/runs/{run} "
                f"--width {width:g} --sparsity {sparsity:g} --seed {a.seed}",
                f"loisim import training/runs/{run}/checkpoint.npz --calibration "
                f"training/runs/{run}/calibration.npy -o models/{file} --name {file.removesuffix('.bin')}",
                f"python training/evaluate.py --model models/{file} --checkpoint "
                f"training/runs/{run}/checkpoint.npz --out training/runs/{run}/eval.json",
            ],
            "seed": a.seed,
            "phases": info["phases"],
            "batch": info["batch"],
            "crop_s": info["crop_s"],
            "train_wall_s": info["wall_s"],
            "trained_on": f"{os.cpu_count()}-core {platform.machine()} CPU, JAX {info['jax']}",
            "checkpoint_sha256": sha256(rd / "checkpoint.npz"),
            "calibration_sha256": sha256(rd / "calibration.npy"),
            "test": {
                "mixtures": ev["test_mixtures"],
                "noisy_si_snr_db": round(ev["chip"]["all"]["si_snr_db_mean"]
                                         - ev["chip"]["all"]["si_snri_db_mean"], 3),
                "float_si_snri_db": ev["float"]["all"]["si_snri_db_mean"],
                "reference_si_snri_db": ev["reference"]["all"]["si_snri_db_mean"],
                "chip_si_snri_db": ev["chip"]["all"]["si_snri_db_mean"],
                "chip_equals_reference": ev["chip_equals_reference"],
                "chip_si_snri_db_by_snr": {k: v["si_snri_db_mean"]
                                           for k, v in ev["chip"]["by_snr"].items()},
                "chip_si_snri_db_by_noise": {k: v["si_snri_db_mean"]
                                             for k, v in ev["chip"]["by_noise"].items()},
            },
            "default_clip": {
                "noisy_si_snr_db": round(ev["default_clip"]["audio"]["noisy_si_snr_db"], 3),
                "si_snri_db": round(ev["default_clip"]["audio"]["si_snri_db"], 3),
                "activation_density": dens,
            },
        })
    order = {m[0]: i for i, m in enumerate(MODELS)}
    record["models"].sort(key=lambda m: order.get(m["file"], 99))
    record_path.write_text(json.dumps(record, indent=1) + "\n")
    print(f"recorded {len(results)} models in {rel(record_path)} "
          f"({time.time() - t0:.0f} s); now run `cargo xtask models`", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
