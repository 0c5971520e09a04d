"""The canonical 12-category test archive of Google Speech Commands v0.02 (Warden, 2018), the
paper's own corpus family, cross-validated by speaker because only this partition is here.

Layout (WAV as distributed, or FLAC)::

    <word>/<speaker>_nohash_<n>.wav          ten keywords: yes no up down left right on off stop go
    _unknown_/<word>_<speaker>_nohash_<n>.wav   25 other words
    _silence_/<number>.wav                    background noise, no speaker

12 classes as the archive intends: the ten keywords, ``_unknown_`` and ``_silence_``.

Folds are groups of speakers (``speaker_folds``): every clip of a speaker in one fold, folds
balanced by clip count, the same from the same seed on every machine. The ``_silence_`` clips have
no speaker: each is its own unit, dealt to the folds in turn after a seeded shuffle, so every fold
tests and trains on noise. Fold ids are "1" .. "<folds>" (option ``folds``, default 10); with
``validation=next_speaker`` the next fold's speakers are held out of training.
"""

from __future__ import annotations

import random
from functools import cache
from pathlib import Path

from .clip import AudioFileError, Clip

FOLDER = "speech_commands_test_v0.02"
MARKER = "_silence_"
LAYOUT = (
    "<word>/<speaker>_nohash_<n>.wav|.flac for yes no up down left right on off stop go, "
    "_unknown_/<word>_<speaker>_nohash_<n>.wav|.flac, _silence_/<number>.wav|.flac"
)
CLIP_SECONDS = 1.0
SPLITS = ("train", "test")
SPEECH_WITH_PITCH = False  # the acoustic factors (pitch, loudness) are not measured on it
KEYWORDS = ["yes", "no", "up", "down", "left", "right", "on", "off", "stop", "go"]
CLASSES = [*KEYWORDS, "_unknown_", "_silence_"]
OPTIONS = {"folds": (10, 5, 12, 15, 20, 24)}  # the default first
ARCHIVE = None  # not downloadable from here: OBTAIN says how to get it
OBTAIN = (
    "download the test archive speech_commands_test_set_v0.02.tar.gz named in Warden (2018), "
    "arXiv:1804.03209, and unpack it (CC BY 4.0)"
)
FOLD_SEED = 0  # the speakers' order before balancing, and the noise clips' deal
GROUPED = True  # folds are groups of speakers: validation holds out the next group
AUDIO = (".wav", ".flac")


def _speaker(path: Path, label: str) -> str:
    stem = path.stem
    if label == "_silence_":
        if not stem.isdigit():
            raise AudioFileError(f"unexpected Speech Commands file name {path}; expected {LAYOUT}")
        return f"_silence_/{stem}"  # a unit of its own: noise has no speaker
    head, sep, take = stem.partition("_nohash_")
    speaker = head.split("_")[-1] if label == "_unknown_" else head
    if not sep or not take.isdigit() or len(speaker) != 8:
        raise AudioFileError(f"unexpected Speech Commands file name {path}; expected {LAYOUT}: move it out")
    return speaker


@cache
def _listing(root: Path) -> tuple[tuple[Path, int, str], ...]:
    rows = []
    for label, name in enumerate(CLASSES):
        folder = root / name
        if not folder.is_dir():
            raise FileNotFoundError(f"{folder} is missing; expected {LAYOUT}")
        for path in sorted(p for p in folder.iterdir() if p.suffix in AUDIO):
            rows.append((path, label, _speaker(path, name)))
    return tuple(rows)


def speaker_folds(counts: dict[str, int], k: int, seed: int = FOLD_SEED) -> dict[str, int]:
    """Speakers (or units) to folds 1..k, every unit in one fold, folds balanced by clip count:
    after a seeded shuffle, speakers (most clips first) each go to the fold with the fewest clips
    so far (the lowest-numbered on a tie); then the units named ``_silence_/...`` (one clip each)
    are dealt to the folds in turn.

    >>> folds = speaker_folds({"a": 5, "b": 4, "c": 3, "d": 2, "_silence_/1": 1, "_silence_/2": 1}, 2)
    >>> sorted(folds.items())[2:]
    [('a', 1), ('b', 2), ('c', 2), ('d', 1)]
    >>> sorted(folds[u] for u in ("_silence_/1", "_silence_/2"))
    [1, 2]
    """
    speakers = sorted(s for s in counts if not s.startswith("_silence_/"))
    noise = sorted(s for s in counts if s.startswith("_silence_/"))
    rng = random.Random(seed)
    rng.shuffle(speakers)
    rng.shuffle(noise)
    speakers.sort(key=lambda s: -counts[s])  # stable: the shuffle breaks ties
    load, fold_of = [0] * k, {}
    for speaker in speakers:
        fold = min(range(k), key=lambda f: (load[f], f))
        fold_of[speaker] = fold + 1
        load[fold] += counts[speaker]
    for i, unit in enumerate(noise):
        fold_of[unit] = i % k + 1
    return fold_of


def fold_of_speaker(root: Path, folds: int = 10) -> dict[str, int]:
    """Every speaker (and noise clip) of the archive with its fold."""
    counts: dict[str, int] = {}
    for _, _, speaker in _listing(root):
        counts[speaker] = counts.get(speaker, 0) + 1
    return speaker_folds(counts, folds)


def folds(root: Path, folds: int = 10) -> list:
    _listing(root)
    return [str(f) for f in range(1, folds + 1)]


def clips(root: Path, fold, split: str, folds: int = 10) -> tuple[list[Clip], list[str]]:
    fold_of = fold_of_speaker(root, folds)
    selected = [
        Clip(path, label, speaker)
        for path, label, speaker in _listing(root)
        if (str(fold_of[speaker]) == str(fold)) == (split == "test")
    ]
    return selected, CLASSES
