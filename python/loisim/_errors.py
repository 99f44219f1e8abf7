"""loisim's exceptions.

Every error loisim raises is a :class:`LoisimError`; its message is the one line the
command-line tool prints for the same mistake.
"""

from __future__ import annotations

__all__ = [
    "LoisimError",
    "ModelError",
    "InputError",
    "AudioError",
    "ChipError",
    "CompileError",
    "SimulationError",
    "FileError",
]


class LoisimError(Exception):
    """Base class of every loisim error."""


class ModelError(LoisimError):
    """A model file that cannot be read, decoded, imported or built."""


class InputError(LoisimError, ValueError):
    """An input or an argument that does not suit the model: wrong dtype, shape or range,
    an option that does not apply to the model's kind."""


class AudioError(InputError):
    """An audio file that cannot be read or written (16 kHz mono WAV)."""


class ChipError(LoisimError, ValueError):
    """An unknown chip preset, an unreadable or invalid chip file, an unknown or invalid
    cost-parameter override."""


class CompileError(LoisimError):
    """A model that does not map onto the chip."""


class SimulationError(LoisimError):
    """The simulation itself failed (an input the simulated chip or the reference executor
    cannot take)."""


class FileError(LoisimError, OSError):
    """A file or directory that cannot be read or written (outputs, traces, probes)."""
