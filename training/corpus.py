"""Synthesised speech corpus for the S5 denoiser (espeak-ng speech, synthetic noise).

No speech dataset can be downloaded where loisim is built, so the corpus is made here:
espeak-ng speaks generated sentences with many voices (language x voice variant, pitch
and rate drawn per utterance) and noise is synthesised (white, pink, brown, babble,
modulated tones, mains hum) at SNRs from -5 to 20 dB. Everything is deterministic from
the seed. Voices, and the vocabulary of the sentences, of the validation and test splits
are disjoint from training.

    python training/corpus.py --out training/data [--seed 2025] [--smoke]

writes `<out>/{train,val,test}/utt/NNNNN.npy` (int16 at 16 kHz), `<out>/test/mix/`
(`noisy/NNN.wav`, `clean/NNN.wav`, fixed test mixtures) with `<out>/test/mixtures.csv`
(noise type and SNR of each), and `<out>/corpus.json` (what was synthesised).
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import json
import subprocess
import sys
from pathlib import Path

import numpy as np

SR = 16000
NOISE_TYPES = ("white", "pink", "brown", "babble", "tones", "hum")
SNR_RANGE_DB = (-5.0, 20.0)

# Languages espeak-ng speaks with a Latin alphabet; the sentences are English words, read
# with each language's rules (so accents and prosody vary, as they do between speakers).
LANGUAGES = ("en-us", "en-gb", "en-gb-scotland", "en-029", "en-gb-x-rp", "de", "nl",
             "fr", "es", "it", "pt", "sv", "pl", "cs", "fi", "id")
TRAIN_VARIANTS = ("m1", "m2", "m3", "m4", "m5", "f1", "f2", "f3", "adam", "Alex",
                  "Andy", "antonio", "aunty", "belinda", "benjamin", "caleb", "david",
                  "ed", "edward", "Gene", "gustave", "Hugo", "iven", "iven2", "john",
                  "Lee", "linda", "max", "Michael", "michel", "miguel", "norbert",
                  "paul", "pedro", "quincy", "rob", "robert", "sandro", "shelby",
                  "steph", "travis", "victor", "zac", "klatt", "klatt2", "grandpa")
VAL_VARIANTS = ("m6", "f4", "Andrea", "boris", "iven3", "klatt3")
TEST_VARIANTS = ("m7", "f5", "Annie", "Denis", "Mario", "marcelo", "steph2", "klatt4",
                 "grandma", "edward2")

WORDS = """
the a of and to in is it that was for on are with as his they be at one have this from
or had by hot word but what some we can out other were all there when up use your how
said an each she which do their time if will way about many then them write would like
so these her long make thing see him two has look more day could go come did number
sound no most people my over know water than call first who may down side been now find
any new work part take get place made live where after back little only round man year
came show every good me give our under name very through just form sentence great think
say help low line differ turn cause much mean before move right boy old too same tell
does set three want air well also play small end put home read hand port large spell add
even land here must big high such follow act why ask men change went light kind off need
house picture try us again animal point mother world near build self earth father head
stand own page should country found answer school grow study still learn plant cover
food sun four between state keep eye never last let thought city tree cross farm hard
start might story saw far sea draw left late run while press close night real life few
north open seem together next white children begin got walk example ease paper group
always music those both mark often letter until mile river car feet care second book
carry took science eat room friend began idea fish mountain stop once base hear horse cut
sure watch color face wood main enough plain girl usual young ready above ever red list
though feel talk bird soon body dog family direct pose leave song measure door product
black short numeral class wind question happen complete ship area half rock order fire
south problem piece told knew pass since top whole king space heard best hour better true
during hundred five remember step early hold west ground interest reach fast verb sing
listen six table travel less morning ten simple several vowel toward war lay against
pattern slow center love person money serve appear road map rain rule govern pull cold
notice voice unit power town fine certain fly fall lead cry dark machine note wait plan
figure star box noun field rest correct able pound done beauty drive stood contain front
teach week final gave green oh quick develop ocean warm free minute strong special mind
behind clear tail produce fact street inch multiply nothing course stay wheel full force
blue object decide surface deep moon island foot system busy test record boat common gold
possible plane stead dry wonder laugh thousand ago ran check game shape equate miss
brought heat snow tire bring yes distant fill east paint language among
""".split()


def vocabularies(seed: int) -> dict[str, list[str]]:
    """Disjoint vocabularies: 70 % of the words for training, 15 % each for val/test."""
    words = sorted(set(WORDS))
    rng = np.random.default_rng(seed)
    perm = rng.permutation(len(words))
    n_train = int(0.7 * len(words))
    n_val = int(0.15 * len(words))
    pick = lambda idx: [words[i] for i in sorted(idx)]
    return {
        "train": pick(perm[:n_train]),
        "val": pick(perm[n_train:n_train + n_val]),
        "test": pick(perm[n_train + n_val:]),
    }


def sentence(rng: np.random.Generator, vocab: list[str]) -> str:
    n = int(rng.integers(6, 15))
    return " ".join(vocab[int(i)] for i in rng.integers(0, len(vocab), n))


def speak(text: str, voice: str, pitch: int, rate_wpm: int) -> np.ndarray:
    """espeak-ng at its own rate, resampled to 16 kHz mono int16 by sox (`-D`: no dither,
    which sox otherwise adds at random and which would make the corpus differ run to run)."""
    es = subprocess.run(
        ["espeak-ng", "-v", voice, "-p", str(pitch), "-s", str(rate_wpm), "--stdout", text],
        check=True, capture_output=True)
    sx = subprocess.run(
        ["sox", "-D", "-t", "wav", "-", "-t", "raw", "-r", str(SR), "-e", "signed", "-b", "16",
         "-c", "1", "-"], input=es.stdout, check=True, capture_output=True)
    return np.frombuffer(sx.stdout, dtype="<i2").copy()


def trim_silence(x: np.ndarray, keep_samples: int = 1600) -> np.ndarray:
    """Drop leading/trailing silence beyond 0.1 s (espeak pads generously)."""
    loud = np.flatnonzero(np.abs(x.astype(np.int32)) > 300)
    if loud.size == 0:
        return x
    return x[max(0, loud[0] - keep_samples): loud[-1] + keep_samples]


# ---------------------------------------------------------------------------------------
# Noise


def _shaped(rng, n, exponent):
    """Gaussian noise with power spectrum ~ 1/f^exponent, unit RMS."""
    spec = np.fft.rfft(rng.standard_normal(n))
    f = np.fft.rfftfreq(n, 1.0 / SR)
    f[0] = f[1]
    spec = spec / f ** (exponent / 2.0)
    y = np.fft.irfft(spec, n)
    return y / (np.sqrt(np.mean(y ** 2)) + 1e-12)


def noise(kind: str, n: int, rng: np.random.Generator, babble_pool: list[np.ndarray]):
    """`n` samples of one noise type, unit RMS, float64."""
    if kind == "white":
        y = rng.standard_normal(n)
    elif kind == "pink":
        y = _shaped(rng, n, 1.0)
    elif kind == "brown":
        y = _shaped(rng, n, 2.0)
    elif kind == "babble":
        y = np.zeros(n)
        for _ in range(int(rng.integers(3, 7))):
            u = babble_pool[int(rng.integers(0, len(babble_pool)))].astype(np.float64)
            u = u / (np.sqrt(np.mean(u ** 2)) + 1e-9)
            reps = int(np.ceil((n + len(u)) / len(u)))
            u = np.tile(u, reps)
            off = int(rng.integers(0, len(u) - n))
            y += u[off:off + n] * rng.uniform(0.5, 1.0)
    elif kind == "tones":
        t = np.arange(n) / SR
        y = np.zeros(n)
        for _ in range(int(rng.integers(1, 4))):
            f0 = rng.uniform(150.0, 3500.0)
            am = 1.0 + 0.9 * np.sin(2 * np.pi * rng.uniform(0.3, 8.0) * t + rng.uniform(0, 6.3))
            vib = rng.uniform(0, 30.0) * np.sin(2 * np.pi * rng.uniform(0.2, 5.0) * t)
            phase = 2 * np.pi * np.cumsum(f0 + vib) / SR
            y += am * np.sin(phase)
    elif kind == "hum":
        t = np.arange(n) / SR
        mains = 50.0 if rng.random() < 0.5 else 60.0
        y = np.zeros(n)
        for k in range(1, int(rng.integers(6, 20))):
            y += rng.uniform(0.2, 1.0) / k ** rng.uniform(0.5, 1.5) * np.sin(
                2 * np.pi * mains * k * t + rng.uniform(0, 6.3))
        y += 0.05 * rng.standard_normal(n)
    else:
        raise ValueError(f"unknown noise type {kind}")
    return y / (np.sqrt(np.mean(y ** 2)) + 1e-12)


def mix(clean: np.ndarray, kind: str, snr_db: float, rng, babble_pool, peak_dbfs: float):
    """Noisy and clean float32 signals in [-1, 1]: noise at `snr_db` below the speech,
    the pair scaled together so the mixture peaks at `peak_dbfs`."""
    s = clean.astype(np.float64) / 32768.0
    p_s = np.mean(s ** 2) + 1e-12
    v = noise(kind, len(s), rng, babble_pool) * np.sqrt(p_s / 10 ** (snr_db / 10.0))
    x = s + v
    g = 10 ** (peak_dbfs / 20.0) / (np.max(np.abs(x)) + 1e-9)
    return (x * g).astype(np.float32), (s * g).astype(np.float32)


# ---------------------------------------------------------------------------------------


def voices_for(split: str) -> list[str]:
    variants = {"train": TRAIN_VARIANTS, "val": VAL_VARIANTS, "test": TEST_VARIANTS}[split]
    return [f"{lang}+{v}" for lang in LANGUAGES for v in variants]


def build(out: Path, seed: int, counts: dict[str, int], n_test_mix: int) -> dict:
    vocab = vocabularies(seed)
    meta = {"seed": seed, "sample_rate_hz": SR, "splits": {}}
    for split_i, split in enumerate(("train", "val", "test")):
        rng = np.random.default_rng([seed, split_i])
        voices = voices_for(split)
        d = out / split / "utt"
        d.mkdir(parents=True, exist_ok=True)
        total = 0
        for i in range(counts[split]):
            f = d / f"{i:05d}.npy"
            voice = voices[int(rng.integers(0, len(voices)))]
            text = sentence(rng, vocab[split])
            pitch = int(rng.integers(20, 80))
            rate = int(rng.integers(120, 230))
            if not f.exists():
                x = trim_silence(speak(text, voice, pitch, rate))
                np.save(f, x)
            total += len(np.load(f, mmap_mode="r"))
        meta["splits"][split] = {"utterances": counts[split], "voices": len(voices),
                                 "vocabulary": len(vocab[split]),
                                 "hours": round(total / SR / 3600, 3)}
        print(f"{split}: {counts[split]} utterances, {total / SR / 60:.1f} min", file=sys.stderr)
    # Fixed test mixtures: each noise type at SNRs spread over the range.
    test = [np.load(f) for f in sorted((out / "test" / "utt").glob("*.npy"))]
    rng = np.random.default_rng([seed, 99])
    (out / "test" / "mix" / "noisy").mkdir(parents=True, exist_ok=True)
    (out / "test" / "mix" / "clean").mkdir(parents=True, exist_ok=True)
    rows = []
    import soundfile as sf
    for i in range(n_test_mix):
        kind = NOISE_TYPES[i % len(NOISE_TYPES)]
        snr = float(rng.uniform(*SNR_RANGE_DB))
        j = int(rng.integers(0, len(test)))
        pool = [u for k, u in enumerate(test) if k != j]
        noisy, clean = mix(test[j], kind, snr, rng, pool, float(rng.uniform(-12.0, -1.0)))
        name = f"{i:03d}.wav"
        sf.write(out / "test" / "mix" / "noisy" / name, noisy, SR, subtype="PCM_16")
        sf.write(out / "test" / "mix" / "clean" / name, clean, SR, subtype="PCM_16")
        rows.append({"file": name, "utterance": j, "noise": kind, "snr_db": round(snr, 3)})
    with open(out / "test" / "mixtures.csv", "w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=["file", "utterance", "noise", "snr_db"])
        w.writeheader()
        w.writerows(rows)
    meta["test_mixtures"] = n_test_mix
    h = hashlib.sha256()
    for f in sorted(out.glob("*/utt/*.npy")):
        h.update(np.load(f).tobytes())
    meta["utterances_sha256"] = h.hexdigest()
    (out / "corpus.json").write_text(json.dumps(meta, indent=2) + "\n")
    return meta


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=Path("training/data"))
    ap.add_argument("--seed", type=int, default=2025)
    ap.add_argument("--smoke", action="store_true", help="a tiny corpus (seconds)")
    a = ap.parse_args(argv)
    if a.smoke:
        counts, n_mix = {"train": 24, "val": 6, "test": 8}, 6
    else:
        counts, n_mix = {"train": 2400, "val": 120, "test": 160}, 120
    meta = build(a.out, a.seed, counts, n_mix)
    print(json.dumps(meta), file=sys.stderr)


if __name__ == "__main__":
    main()
