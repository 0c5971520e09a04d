"""Google Speech Commands v2 (Warden, 2018), 35 words. Layout: a folder per word with
``{speaker}_nohash_{n}.wav``, plus ``validation_list.txt`` and ``testing_list.txt``;
``_background_noise_`` holds noise, not a class.

No folds (fold ``None``); splits as in the paper: train = every clip in neither list,
validation = ``validation_list.txt``, test = ``testing_list.txt``.
"""

from __future__ import annotations

from pathlib import Path

from .archive import Archive
from .clip import Clip

MARKER = "testing_list.txt"
LAYOUT = "<word>/<speaker>_nohash_<n>.wav for 35 words, validation_list.txt, testing_list.txt"
CLIP_SECONDS = 1.0
SPLITS = ("train", "validation", "test")
SPEECH_WITH_PITCH = False  # the acoustic factors (pitch, loudness) are not measured on it
OPTIONS: dict[str, tuple] = {}
OBTAIN = None  # downloaded from ARCHIVE
ARCHIVE = Archive(
    "http://download.tensorflow.org/data/speech_commands_v0.02.tar.gz",
    "af14739ee7dc311471de98f5f9d2c9191b18aedfe957f4a6ff791c709868ff58",
    "Speech Commands v0.02 (checksum as published with torchaudio)",
)
NOISE = "_background_noise_"


def folds(root: Path, **options) -> list:  # no option changes the folds
    return [None]


def _listed(root: Path, name: str) -> set[str]:
    return {line.strip() for line in (root / name).read_text().splitlines() if line.strip()}


def clips(root: Path, fold, split: str) -> tuple[list[Clip], list[str]]:
    classes = sorted(p.name for p in root.iterdir() if p.is_dir() and not p.name.startswith("_"))
    validation, testing = _listed(root, "validation_list.txt"), _listed(root, "testing_list.txt")
    if split == "train":
        relative = sorted(f"{word}/{p.name}" for word in classes for p in (root / word).glob("*.wav"))
        relative = [r for r in relative if r not in validation and r not in testing]
    else:
        relative = sorted(validation if split == "validation" else testing)
    return [
        Clip(root / r, classes.index(r.split("/")[0]), Path(r).name.split("_nohash_")[0]) for r in relative
    ], classes
