"""Free Spoken Digit Dataset (FSDD): spoken digits 0-9, 8 kHz, six speakers: a small keyword
corpus. Layout: ``recordings/{digit}_{speaker}_{take}.wav``.

Folds: each speaker name (leave-one-speaker-out: that speaker is the test split) and
``"official"`` (the dataset README's split: takes 0-4 are test, 5-49 train).
"""

from __future__ import annotations

from pathlib import Path

from .archive import Archive
from .clip import AudioFileError, Clip

MARKER = "recordings"
LAYOUT = "recordings/{digit}_{speaker}_{take}.wav"
CLIP_SECONDS = 1.0
SPLITS = ("train", "test")
SPEECH_WITH_PITCH = False  # the acoustic factors (pitch, loudness) are not measured on it
OPTIONS: dict[str, tuple] = {}
OBTAIN = None  # downloaded from ARCHIVE
ARCHIVE = Archive(
    "https://github.com/Jakobovski/free-spoken-digit-dataset/archive/v1.0.9.tar.gz",
    "8bc44cde129d505cbbb6b365c09f80c663f2aa77578afc634e6141a2f87100c0",
    "tagged release v1.0.9 (checksum as published by TensorFlow Datasets); later commits add "
    "speakers: pass --url/--sha256 for another version",
)
CLASSES = [str(d) for d in range(10)]


def _parse(root: Path) -> list[tuple[Path, int, str, int]]:
    rows = []
    for path in sorted((root / MARKER).glob("*.wav")):
        parts = path.stem.split("_")
        if len(parts) != 3 or not parts[0].isdigit() or not parts[2].isdigit():
            raise AudioFileError(
                f"unexpected FSDD file name {path}; expected {LAYOUT}: move it out of the dataset folder"
            )
        rows.append((path, int(parts[0]), parts[1], int(parts[2])))
    if not rows:
        raise FileNotFoundError(f"{root / MARKER} holds no .wav files; expected {LAYOUT}")
    return rows


def folds(root: Path, **options) -> list:  # no option changes the folds
    return sorted({speaker for _, _, speaker, _ in _parse(root)}) + ["official"]


def clips(root: Path, fold, split: str) -> tuple[list[Clip], list[str]]:
    selected = []
    for path, digit, speaker, take in _parse(root):
        in_test = take <= 4 if fold == "official" else speaker == fold
        if in_test == (split == "test"):
            selected.append(Clip(path, digit, speaker))
    return selected, CLASSES
