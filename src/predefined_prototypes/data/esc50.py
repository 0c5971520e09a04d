"""ESC-50 environmental sounds (Piczak, 2015). Layout: ``audio/*.wav`` and ``meta/esc50.csv``
with columns filename, fold, target, category, esc10, src_file, take.

Folds: the official 1-5 (cross-validation: the fold is the test split). ``esc10=True`` keeps the
ESC-10 subset. Class names are the ``category`` column, ordered by ``target``.
"""

from __future__ import annotations

import csv
from pathlib import Path

from .archive import Archive
from .clip import Clip

MARKER = "meta/esc50.csv"
LAYOUT = "audio/*.wav and meta/esc50.csv (filename, fold, target, category, esc10, src_file, take)"
CLIP_SECONDS = 5.0
SPLITS = ("train", "test")
SPEECH_WITH_PITCH = False  # the acoustic factors (pitch, loudness) are not measured on it
OPTIONS = {"esc10": (False, True)}  # True: the ESC-10 subset only
OBTAIN = None  # downloaded from ARCHIVE
ARCHIVE = Archive(
    "https://github.com/karolpiczak/ESC-50/archive/master.zip",
    "805afc618aff80eff0641d51311647871fead5807da68bb18e43a27db47a79ce",
    "the repository's master archive (645,695,005 bytes when this checksum was recorded); "
    "if upstream changes it, the checksum check fails: pass --sha256 to accept a new one",
)


def _rows(root: Path, esc10: bool) -> list[dict]:
    with open(root / MARKER, newline="") as f:
        rows = list(csv.DictReader(f))
    if esc10:
        rows = [r for r in rows if r["esc10"].strip().lower() == "true"]
    return rows


def folds(root: Path, **options) -> list:  # no option changes the folds
    return [1, 2, 3, 4, 5]


def clips(root: Path, fold, split: str, esc10: bool = False) -> tuple[list[Clip], list[str]]:
    rows = _rows(root, esc10)
    by_target = {int(r["target"]): r["category"] for r in rows}
    classes = [by_target[t] for t in sorted(by_target)]
    selected = [
        # The source recording (freesound clip id) stands in for the speaker.
        Clip(root / "audio" / r["filename"], classes.index(r["category"]), r["src_file"])
        for r in rows
        if (int(r["fold"]) == fold) == (split == "test")
    ]
    return selected, classes
