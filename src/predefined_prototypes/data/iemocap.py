"""IEMOCAP (Busso et al., 2008), 4 emotions as in the paper. Layout:
``Session{1..5}/sentences/wav/<dialog>/<utterance>.wav`` with labels in
``Session{1..5}/dialog/EmoEvaluation/<dialog>.txt`` (lines
``[start - end]<TAB>utterance<TAB>label<TAB>[v, a, d]``).

Folds: sessions 1-5 (leave-one-session-out). Classes neu, hap, ang, sad; ``merge_excited=True``
counts ``exc`` as ``hap``, as much of the literature does. The speaker is the session and the
utterance's gender letter (e.g. ``Ses01F``).
"""

from __future__ import annotations

import re
from pathlib import Path

from .clip import Clip

MARKER = "Session1"
LAYOUT = "Session{1..5}/sentences/wav/<dialog>/<utterance>.wav and Session{1..5}/dialog/EmoEvaluation/<dialog>.txt"
CLIP_SECONDS = 41_200 / 16_000  # the authors keep the first 41,200 samples at 16 kHz
SPLITS = ("train", "test")
SPEECH_WITH_PITCH = True  # the acoustic factors (pitch, loudness) are measured on it
OPTIONS = {"merge_excited": (False, True)}  # True: "exc" counts as "hap"
ARCHIVE = None  # not downloadable from here: OBTAIN says how to get it
OBTAIN = (
    "IEMOCAP is released under a licence agreement: request it at "
    "https://sail.usc.edu/iemocap/iemocap_release.htm, then unpack it so that <root>/Session1 ... "
    "<root>/Session5 exist, and pass that root (or set PP_DATA_DIR)"
)
CLASSES = ["neu", "hap", "ang", "sad"]
_LINE = re.compile(r"^\[[\d.]+ - [\d.]+\]\t(\S+)\t(\S+)\t")


def folds(root: Path, **options) -> list:  # no option changes the folds
    return [1, 2, 3, 4, 5]


def clips(root: Path, fold, split: str, merge_excited: bool = False) -> tuple[list[Clip], list[str]]:
    selected = []
    for session in range(1, 6):
        if (session == fold) != (split == "test"):
            continue
        base = root / f"Session{session}"
        for labels in sorted((base / "dialog" / "EmoEvaluation").glob("*.txt")):
            for line in labels.read_text(errors="replace").splitlines():
                match = _LINE.match(line)
                if not match:
                    continue
                utterance, label = match.groups()
                if merge_excited and label == "exc":
                    label = "hap"
                if label not in CLASSES:
                    continue
                dialog = utterance.rsplit("_", 1)[0]
                path = base / "sentences" / "wav" / dialog / f"{utterance}.wav"
                speaker = utterance[:5] + utterance.rsplit("_", 1)[1][0]
                selected.append(Clip(path, CLASSES.index(label), speaker))
    return selected, CLASSES
