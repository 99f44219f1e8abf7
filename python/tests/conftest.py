"""Shared fixtures: the checkout's shipped files and the command-line tool to compare with."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import numpy as np
import pytest

import loisim

ROOT = Path(__file__).resolve().parents[2]
MODEL = ROOT / "models" / "s5-sparse-1x-trained.bin"
TINY = ROOT / "crates" / "loisim-netx" / "tests" / "data" / "tiny.net"
TINY_BIAS = ROOT / "crates" / "loisim-netx" / "tests" / "data" / "gts" / "tinynet" / "input_bias.npy"
EXPORT_V1 = ROOT / "tests" / "data" / "fxp-s5" / "w025-plausible-s100" / "model.json"
FLOAT_CKPT = ROOT / "tests" / "data" / "fxp-s5" / "w025-plausible-s100" / "float_model.safetensors"


@pytest.fixture(scope="session")
def model() -> "loisim.Model":
    return loisim.load(MODEL)


@pytest.fixture(scope="session")
def x16(model) -> np.ndarray:
    """The first 16 tokens of the shipped clip, as input integers."""
    return loisim.default_input(model)[:16].copy()


@pytest.fixture(scope="session")
def tiny() -> "loisim.Model":
    return loisim.load(TINY)


@pytest.fixture(scope="session")
def tiny_bias() -> np.ndarray:
    return np.load(TINY_BIAS)


def cli_path() -> Path:
    """The command-line tool (`cargo build -p loisim-cli`): `$LOISIM_CLI`, else the checkout's
    target/debug/loisim. Missing, the comparisons are skipped, unless `$LOISIM_REQUIRE_CLI`
    is set (CI), where they fail."""
    p = Path(os.environ.get("LOISIM_CLI", ROOT / "target" / "debug" / "loisim"))
    if not p.is_file():
        msg = f"the command-line tool {p} is not built (cargo build -p loisim-cli)"
        if os.environ.get("LOISIM_REQUIRE_CLI"):
            pytest.fail(msg)
        pytest.skip(msg)
    return p


def cli_json(*args: str) -> dict:
    """Runs `loisim ARGS --json` in the checkout and parses what it prints."""
    out = subprocess.run(
        [str(cli_path()), *args, "--json"],
        cwd=ROOT,
        check=True,
        capture_output=True,
        text=True,
    )
    return json.loads(out.stdout)


def without_wall_clock(report: dict) -> dict:
    """A report without its wall-clock figures (`sim`, in the report and in each sample)."""
    r = json.loads(json.dumps(report))
    r.pop("sim", None)
    for s in r.get("per_sample", []):
        s.pop("sim", None)
    if r.get("aggregate"):
        r["aggregate"] = {k: v for k, v in r["aggregate"].items() if not k.startswith("sim.")}
    return r
