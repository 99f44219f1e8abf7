"""The default clip: 30 s of synthesised test-split speech (voices and words no training
utterance has) with babble and pink noise at 5 dB SNR, and its clean twin.

    python training/make_clip.py --data training/data --out models [--seed 2025]

Writes `default-clip-noisy.wav` and `default-clip-clean.wav` (16 kHz, 16-bit mono) and
prints their SHA-256; `models/trained.json` records them (`cargo xtask models` checks the
hashes and derives `default-input.npy` from the noisy clip).
"""

from __future__ import annotations

import argparse
import hashlib
import sys
from pathlib import Path

import numpy as np
import soundfile as sf

sys.path.insert(0, str(Path(__file__).resolve().parent))
import corpus  # noqa: E402

SECONDS = 30.0
SNR_DB = 5.0


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, default=Path("training/data"))
    ap.add_argument("--out", type=Path, default=Path("models"))
    ap.add_argument("--seed", type=int, default=2025)
    a = ap.parse_args(argv)
    utts = [np.load(f) for f in sorted((a.data / "test" / "utt").glob("*.npy"))]
    rng = np.random.default_rng([a.seed, 30])
    n = int(SECONDS * corpus.SR)
    clean = np.zeros(n)
    pos = int(0.3 * corpus.SR)
    order = rng.permutation(len(utts))
    used = 0
    while True:
        u = utts[int(order[used % len(order)])].astype(np.float64) / 32768.0
        used += 1
        if pos + len(u) > n:
            break
        clean[pos:pos + len(u)] = u * 10 ** (rng.uniform(-4.0, 4.0) / 20)
        pos += len(u) + int(rng.uniform(0.2, 0.8) * corpus.SR)
    p_s = np.mean(clean ** 2)
    nz = (corpus.noise("babble", n, rng, utts) + corpus.noise("pink", n, rng, utts)) / np.sqrt(2)
    noise = nz / np.sqrt(np.mean(nz ** 2)) * np.sqrt(p_s / 10 ** (SNR_DB / 10))
    noisy = clean + noise
    g = 10 ** (-3.0 / 20) / np.max(np.abs(noisy))
    a.out.mkdir(parents=True, exist_ok=True)
    for name, x in (("default-clip-noisy.wav", noisy * g), ("default-clip-clean.wav", clean * g)):
        sf.write(a.out / name, x.astype(np.float32), corpus.SR, subtype="PCM_16")
        print(name, hashlib.sha256((a.out / name).read_bytes()).hexdigest())
    print(f"{used - 1} test utterances, SNR {SNR_DB} dB", file=sys.stderr)


if __name__ == "__main__":
    main()
