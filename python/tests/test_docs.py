"""The examples of docs/python.md run as written (matplotlib replaced by a stand-in)."""

from __future__ import annotations

import re
import sys
import types
from unittest import mock

import pytest

from conftest import ROOT

BLOCKS = re.findall(r"```python\n(.*?)```", (ROOT / "docs" / "python.md").read_text(), re.S)


def test_the_doc_has_its_examples():
    assert len(BLOCKS) == 4 and "export_to_nir" in BLOCKS[3]


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
