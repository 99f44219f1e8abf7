"""The examples of docs/python.md run as written (matplotlib replaced by a stand-in)."""

from __future__ import annotations

import os
import re
import sys
import types
from unittest import mock

import pytest

from conftest import ROOT

BLOCKS = re.findall(r"```python\n(.*?)```", (ROOT / "docs" / "python.md").read_text(), re.S)


def test_the_doc_has_its_examples():
    assert len(BLOCKS) == 5
    assert "loisim.from_nir(graph" in BLOCKS[3]
    # the snnTorch example is documentation only: it needs PyTorch, which CI does not install
    assert "export_to_nir" in BLOCKS[4] and "import torch" in BLOCKS[4]


@pytest.mark.parametrize("i", [0, 1, 2])
def test_example_runs(i, tmp_path, monkeypatch):
    monkeypatch.chdir(ROOT)
    monkeypatch.setenv("LOISIM_MODELS", str(ROOT / "models"))
    plt = mock.MagicMock()
    plt.subplots.return_value = (mock.MagicMock(), mock.MagicMock())
    mpl = types.ModuleType("matplotlib")
    mpl.pyplot = plt
    monkeypatch.setitem(sys.modules, "matplotlib", mpl)
    monkeypatch.setitem(sys.modules, "matplotlib.pyplot", plt)
    scope: dict = {}
    # the later examples continue the first (model, clip)
    code = BLOCKS[0] + "\n" + BLOCKS[i] if i else BLOCKS[0]
    exec(compile(code, f"docs/python.md example {i}", "exec"), scope)
    if i == 0:
        plt.subplots.return_value[0].savefig.assert_called_once_with("energy-per-token.png")


def test_nir_example_runs(monkeypatch, capsys):
    """The in-memory NIR example, on its own (it needs the `nir` package, not the S5 model)."""
    if not os.environ.get("LOISIM_REQUIRE_CLI"):  # CI installs nir: there it must run
        pytest.importorskip("nir")
    monkeypatch.chdir(ROOT)
    scope: dict = {}
    exec(compile(BLOCKS[3], "docs/python.md NIR example", "exec"), scope)
    assert scope["report"]["nir_quantisation"]["steps"] == 100
    assert "cores" in capsys.readouterr().out
