"""A labelled recording, and the error a bad one raises: what a dataset module lists, without
torch, so a configuration is checked against a dataset's declarations in well under a second."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

SAMPLE_RATE = 16_000


class AudioFileError(ValueError):
    """A file the dataset lists is missing, unreadable, empty or holds non-finite samples."""


@dataclass(frozen=True)
class Clip:
    """One labelled recording: where it is, its class index and its speaker (or source)."""

    path: Path
    label: int
    speaker: str
