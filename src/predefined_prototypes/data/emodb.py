"""Berlin Database of Emotional Speech (EmoDB): acted emotional speech by ten speakers, read here
where the paper uses IEMOCAP.
Layout: ``wav/{speaker:2}{text:3}{emotion:1}{version:1}.wav``, e.g. ``03a01Fa.wav`` is speaker 03
saying text a01 with happiness (F, Freude).

Folds: the two-digit speaker ids (leave-one-speaker-out). Class sets: ``classes=7`` (all) or
``classes=4``, the IEMOCAP-like neutral / happiness / anger / sadness.
"""

from __future__ import annotations

from pathlib import Path

from .archive import Archive
from .clip import AudioFileError, Clip

MARKER = "wav"
LAYOUT = "wav/{speaker:2}{text:3}{emotion:1}{version:1}.wav (e.g. wav/03a01Fa.wav)"
CLIP_SECONDS = 3.0
SPLITS = ("train", "test")
SPEECH_WITH_PITCH = True  # the acoustic factors (pitch, loudness) are measured on it
OBTAIN = None  # downloaded from ARCHIVE
ARCHIVE = Archive(
    "http://emodb.bilderbar.info/download/download.zip",
    None,
    "no checksum is published for EmoDB's archive: pass --sha256 of a copy you trust, or "
    "--allow-unverified to accept whatever the server sends",
)
EMOTIONS = {  # German initials -> English names, in the dataset documentation's order
    "W": "anger",
    "L": "boredom",
    "E": "disgust",
    "A": "fear",
    "F": "happiness",
    "T": "sadness",
    "N": "neutral",
}
CLASS_SETS = {
    7: list(EMOTIONS.values()),
    4: ["neutral", "happiness", "anger", "sadness"],  # IEMOCAP's neu, hap, ang, sad
}
OPTIONS = {"classes": tuple(CLASS_SETS)}  # 7 (every emotion, the default) or 4


def _parse(root: Path) -> list[tuple[Path, str, str]]:
    rows = []
    for path in sorted((root / MARKER).glob("*.wav")):
        if len(path.stem) != 7 or path.stem[5] not in EMOTIONS:
            raise AudioFileError(
                f"unexpected EmoDB file name {path}; expected {LAYOUT}: move it out of the dataset folder"
            )
        rows.append((path, path.stem[:2], EMOTIONS[path.stem[5]]))
    if not rows:
        raise FileNotFoundError(f"{root / MARKER} holds no .wav files; expected {LAYOUT}")
    return rows


# Each speaker's sex, as the corpus documentation lists them.
FEMALE = {"08", "09", "13", "14", "16"}
MALE = {"03", "10", "11", "12", "15"}


def sex_of(speaker: str) -> str:
    """A speaker's sex as the corpus documents it."""
    if speaker not in FEMALE | MALE:
        raise ValueError(f"EmoDB has no speaker {speaker!r}; its speakers: {', '.join(sorted(FEMALE | MALE))}")
    return "female" if speaker in FEMALE else "male"


def folds(root: Path, **options) -> list:  # no option changes the folds
    return sorted({speaker for _, speaker, _ in _parse(root)})


def clips(root: Path, fold, split: str, classes: int = 7) -> tuple[list[Clip], list[str]]:
    names = CLASS_SETS[classes]
    selected = [
        Clip(path, names.index(emotion), speaker)
        for path, speaker, emotion in _parse(root)
        if emotion in names and (speaker == fold) == (split == "test")
    ]
    return selected, names
