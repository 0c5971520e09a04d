"""RAVDESS speech (Livingstone & Russo, 2018): 24 professional actors (odd ids male, even
female), 8 emotions x 2 intensities x 2 sentences x 2 repetitions (neutral: normal intensity
only), 1,440 utterances. Layout: ``Actor_<aa>/03-01-<EE>-<II>-<SS>-<RR>-<aa>.wav`` as distributed
at 48 kHz, or ``.flac`` (the package resamples to 16 kHz on reading).

Labels: the emotion (``classes=8``, or ``classes=4``: the IEMOCAP-like neutral / happy / angry /
sad). The intensity (normal, strong) is a labelled factor (``LABELLED_FACTORS``): a factor run can
pull a block to it (``factors=...,intensity``), its level read from the file name, not measured.

Folds (option ``folds``): 24 is leave-one-actor-out (fold ids are the actor ids "01".."24");
12, 8 or 6 are groups of actors balanced by sex (each group half female, half male, drawn by a
seeded shuffle; fold ids "1".."k"). With ``validation=next_speaker`` the next fold's actors are
held out of training.
"""

from __future__ import annotations

import random
from functools import cache
from pathlib import Path

from .clip import AudioFileError, Clip

MARKER = "Actor_01"
LAYOUT = "Actor_<aa>/03-01-<EE>-<II>-<SS>-<RR>-<aa>.wav|.flac (e.g. Actor_01/03-01-05-02-01-01-01.wav)"
CLIP_SECONDS = 3.0  # utterances last 2.9-5.3 s: the sentence is said within the first 3 s
SPLITS = ("train", "test")
SPEECH_WITH_PITCH = True  # the acoustic factors (pitch, loudness) are measured on it
ARCHIVE = None  # not downloadable from here: OBTAIN says how to get it
OBTAIN = (
    "download Audio_Speech_Actors_01-24.zip from the RAVDESS Zenodo record (doi:10.5281/zenodo.1188976) "
    "and unpack it (CC BY-NC-SA 4.0)"
)
EMOTIONS = ["neutral", "calm", "happy", "sad", "angry", "fearful", "disgust", "surprised"]  # codes 01-08
CLASS_SETS = {8: EMOTIONS, 4: ["neutral", "happy", "angry", "sad"]}  # IEMOCAP's neu, hap, ang, sad
INTENSITIES = ["normal", "strong"]  # codes 01, 02
# Factors the corpus labels, with their level names: ``factor_level`` reads a clip's.
LABELLED_FACTORS = {"intensity": INTENSITIES}
OPTIONS = {"classes": (8, 4), "folds": (24, 12, 8, 6)}  # the default first
FOLD_SEED = 0
GROUPED = True  # validation holds out the next fold's actors
AUDIO = (".wav", ".flac")


def _fields(path: Path) -> tuple[int, int, int, str]:
    """(emotion code, intensity code, statement, actor) of a file name, or AudioFileError."""
    parts = path.stem.split("-")
    ok = len(parts) == 7 and all(p.isdigit() and len(p) == 2 for p in parts) and parts[:2] == ["03", "01"]
    if not ok or not 1 <= int(parts[2]) <= 8 or parts[3] not in ("01", "02") or path.parent.name != f"Actor_{parts[6]}":
        raise AudioFileError(
            f"unexpected RAVDESS file name {path}; expected {LAYOUT}: move it out of the dataset folder"
        )
    return int(parts[2]), int(parts[3]), int(parts[4]), parts[6]


@cache
def _listing(root: Path) -> tuple[tuple[Path, int, int, int, str], ...]:
    rows = []
    for folder in sorted(root.glob("Actor_*")):
        for path in sorted(p for p in folder.iterdir() if p.suffix in AUDIO):
            rows.append((path, *_fields(path)))
    if not rows:
        raise FileNotFoundError(f"{root} holds no RAVDESS files; expected {LAYOUT}")
    return tuple(rows)


def actors(root: Path) -> list[str]:
    return sorted({actor for *_, actor in _listing(root)})


def actor_folds(actor_ids: list[str], k: int, seed: int = FOLD_SEED) -> dict[str, str]:
    """Actors to folds: their own id for k = 24 (leave-one-actor-out), else k groups with as many
    women (even ids) as men (odd ids) in each: each sex shuffled by the seed, then dealt in turn.

    >>> groups = actor_folds([f"{a:02d}" for a in range(1, 25)], 6)
    >>> sorted({f: sum(int(a) % 2 for a, g in groups.items() if g == f) for f in set(groups.values())}.values())
    [2, 2, 2, 2, 2, 2]
    >>> actor_folds(["01", "02", "03"], 3)
    {'01': '01', '02': '02', '03': '03'}
    """
    if k == len(actor_ids):
        return {a: a for a in actor_ids}
    rng = random.Random(seed)
    fold_of = {}
    for sex in (0, 1):
        group = sorted(a for a in actor_ids if int(a) % 2 == sex)
        rng.shuffle(group)
        for i, actor in enumerate(group):
            fold_of[actor] = str(i % k + 1)
    return fold_of


def folds(root: Path, folds: int = 24, classes: int = 8) -> list:
    ids = actors(root)
    return ids if folds == len(ids) else [str(f) for f in range(1, folds + 1)]


def fold_of_speaker(root: Path, folds: int = 24, classes: int = 8) -> dict[str, str]:
    return actor_folds(actors(root), folds)


def sex_of(actor: str) -> str:
    """An actor's sex as the corpus documents it: odd ids male, even female."""
    return "male" if int(actor) % 2 else "female"


def factor_level(path: Path, factor: str) -> int:
    """A clip's level of a labelled factor, an index into ``LABELLED_FACTORS[factor]``.

    >>> factor_level(Path("Actor_02/03-01-05-02-01-01-02.wav"), "intensity")
    1
    """
    if factor != "intensity":
        raise ValueError(f"RAVDESS labels no factor {factor!r}; its labelled factors: {', '.join(LABELLED_FACTORS)}")
    return _fields(Path(path))[1] - 1


def clips(root: Path, fold, split: str, classes: int = 8, folds: int = 24) -> tuple[list[Clip], list[str]]:
    names = CLASS_SETS[classes]
    fold_of = fold_of_speaker(root, folds)
    selected = [
        Clip(path, names.index(EMOTIONS[emotion - 1]), actor)
        for path, emotion, _, _, actor in _listing(root)
        if EMOTIONS[emotion - 1] in names and (fold_of[actor] == str(fold)) == (split == "test")
    ]
    return selected, names
