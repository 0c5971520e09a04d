"""Datasets in their official layouts, one module each, behind one entry point. Listing and
checking need no torch (reading audio does: ``audio.py``).

>>> sorted(DATASETS)
['emodb', 'esc50', 'fsdd', 'iemocap', 'ravdess', 'speech_commands', 'speech_commands_test']
>>> check_options("emodb", {"classes": 4}), check_options("emodb", {"classes": 7}), check_options("emodb", {"classes": 4.0})
({'classes': 4}, {}, {'classes': 4})
"""

from __future__ import annotations

import csv
import functools
import os
from pathlib import Path
from typing import TYPE_CHECKING, Protocol, runtime_checkable

from . import emodb, esc50, fsdd, iemocap, ravdess, speech_commands, speech_commands_test
from .archive import Archive
from .clip import SAMPLE_RATE, Clip

if TYPE_CHECKING:
    from .audio import AudioDataset


@runtime_checkable
class DatasetModule(Protocol):
    """What a dataset module (``data/<name>.py``) provides; ``get_dataset`` needs nothing else."""

    MARKER: str  # a path under the dataset's root that exists exactly when the layout is there
    LAYOUT: str  # the official layout in words, for the error a wrong folder gets
    CLIP_SECONDS: float  # the default length every clip is cropped or padded to
    SPLITS: tuple[str, ...]  # the split names ``clips`` accepts
    SPEECH_WITH_PITCH: bool  # whether the acoustic factors (pitch, loudness) can be measured on it
    # The keyword options ``clips`` accepts (a run's ``dataset_options``), each with its valid
    # values, the default first.
    OPTIONS: dict[str, tuple]
    ARCHIVE: Archive | None  # its public archive and checksum (``data download``); None: not downloadable
    OBTAIN: str | None  # how to get the data where ARCHIVE is None

    def folds(self, root: Path, **options) -> list:
        """The protocol's fold ids (e.g. the held-out speaker of each fold)."""

    def clips(self, root: Path, fold, split: str, **options) -> tuple[list[Clip], list[str]]:
        """The clips (path, label index, speaker) of one split of one fold, and the class names."""


DATASETS: dict[str, DatasetModule] = {
    "fsdd": fsdd,
    "emodb": emodb,
    "esc50": esc50,
    "speech_commands": speech_commands,
    "speech_commands_test": speech_commands_test,
    "iemocap": iemocap,
    "ravdess": ravdess,
}


def _module(name: str):
    if name not in DATASETS:
        raise ValueError(f"unknown dataset {name!r}; valid: {sorted(DATASETS)}")
    return DATASETS[name]


def check_options(name: str, options: dict) -> dict:
    """A dataset's options checked against its module's ``OPTIONS`` (ValueError naming the
    option and the valid values), without those at their default: what a run's id hashes."""
    declared = _module(name).OPTIONS
    unknown = sorted(set(options) - set(declared))
    if unknown:
        valid = ", ".join(declared) or "none"
        raise ValueError(f"{name} has no option(s) {', '.join(unknown)}; its options: {valid}")
    normalised = {}
    for key, value in options.items():
        if value not in declared[key] or isinstance(value, bool) != isinstance(declared[key][0], bool):
            raise ValueError(f"{name} option {key}={value!r} is not valid; valid: {', '.join(map(str, declared[key]))}")
        normalised[key] = declared[key][declared[key].index(value)]  # 4.0 is 4: one value, one run id
    return {key: value for key, value in normalised.items() if value != declared[key][0]}


def labelled_factors(name: str) -> dict[str, list[str]]:
    """The factors dataset ``name`` labels on each clip (name -> level names; a module's
    ``LABELLED_FACTORS``, read by its ``factor_level``), beside the acoustic ones measured on any
    speech: RAVDESS labels intensity.

    >>> labelled_factors("ravdess"), labelled_factors("emodb")
    ({'intensity': ['normal', 'strong']}, {})
    """
    return dict(getattr(_module(name), "LABELLED_FACTORS", {}))


def default_root(name: str) -> Path:
    """``$PP_DATA_DIR/<name>`` when PP_DATA_DIR is set, else ``~/.cache/predefined_prototypes/<name>``."""
    folder = getattr(_module(name), "FOLDER", name)  # a module may name the archive's own folder
    if os.environ.get("PP_DATA_DIR"):
        return Path(os.environ["PP_DATA_DIR"]) / folder
    return Path.home() / ".cache" / "predefined_prototypes" / folder


def dataset_root(name: str, root: str | Path | None = None) -> Path:
    """The dataset's folder, checked against its official layout before anything is read."""
    module = _module(name)
    root = Path(root) if root is not None else default_root(name)
    if not (root / module.MARKER).exists():
        how = module.OBTAIN or f"download it with: python -m predefined_prototypes data download {name} --to {root}"
        raise FileNotFoundError(
            f"{name}: no dataset found at {root} (missing {module.MARKER}). Expected layout: "
            f"{module.LAYOUT}. Set PP_DATA_DIR or pass root=..., or {how}"
        )
    return root


# The committed fold manifests, ``<dataset>-<folds>.csv`` (``data folds <dataset> --manifest``
# wrote them): where one exists, a copy of the dataset whose speakers or folds differ from it is
# refused, so that a run stored under an id always held out the same speakers.
FOLD_MANIFESTS = Path(__file__).resolve().parents[3] / "configs" / "folds"
NAMED = 5  # speakers a message names before it counts the rest


def folds(name: str, root: str | Path | None = None, **options) -> list:
    """The fold ids of a dataset's protocol (FSDD speakers and 'official', EmoDB speaker ids,
    ESC-50 and IEMOCAP 1-5, Speech Commands [None], its test archive's speaker groups 1-10)."""
    check_options(name, options)
    root = dataset_root(name, root)
    check_folds(name, root, **options)
    return _module(name).folds(root, **options)


def committed_manifest(name: str, **options) -> Path | None:
    """The committed fold manifest of a dataset whose folds are groups of speakers, for these
    options, if there is one."""
    module = _module(name)
    if not getattr(module, "GROUPED", False):
        return None
    options = {**{k: v[0] for k, v in module.OPTIONS.items()}, **check_options(name, options)}
    path = FOLD_MANIFESTS / f"{name}-{options['folds']}.csv"
    return path if path.is_file() else None


def check_folds(name: str, root: str | Path, **options) -> None:
    """ValueError, in one line, when the speakers found at ``root`` or their folds differ from the
    committed manifest (``committed_manifest``): it names the first missing, extra or moved
    speakers and counts the rest. Nothing to check without a manifest."""
    path = committed_manifest(name, **options)
    if path is not None:
        _check_folds(name, str(root), path, options.get("folds", _module(name).OPTIONS["folds"][0]))


@functools.lru_cache(maxsize=32)
def _check_folds(name: str, root: str, path: Path, k: int) -> None:
    with open(path, newline="") as f:
        committed = {row["speaker"]: row["fold"] for row in csv.DictReader(f)}
    found = {speaker: str(fold) for speaker, fold in _module(name).fold_of_speaker(Path(root), folds=k).items()}
    differences = [
        ("missing", sorted(set(committed) - set(found))),
        ("not in it", sorted(set(found) - set(committed))),
        ("in another fold", sorted(s for s in set(found) & set(committed) if found[s] != committed[s])),
    ]
    said = [f"{what}: {_named(speakers)}" for what, speakers in differences if speakers]
    if said:
        raise ValueError(
            f"{name} at {root} is not the copy its folds were fixed on ({path.name} under configs/folds): "
            f"speakers {'; '.join(said)}. Runs on it would hold out other speakers under the same ids: "
            "use the complete corpus"
        )


def listing_digest(clips: list[Clip], root: str | Path) -> str:
    """The SHA-256 of a split's clip listing, in order: each clip's path under ``root``, size in
    bytes, label and speaker. A run records one per split (its data identity), so that a run
    trained on another copy of the data, a subset or a changed file, is never taken for it.

    >>> import tempfile
    >>> with tempfile.TemporaryDirectory() as root:
    ...     _ = (Path(root) / "a.wav").write_bytes(b"RIFF")
    ...     one = listing_digest([Clip(Path(root) / "a.wav", 0, "s1")], root)
    ...     _ = (Path(root) / "a.wav").write_bytes(b"RIFF....")
    ...     one == listing_digest([Clip(Path(root) / "a.wav", 0, "s1")], root)
    False
    """
    import hashlib
    import json

    rows = [[Path(c.path).relative_to(root).as_posix(), Path(c.path).stat().st_size, c.label, c.speaker] for c in clips]
    return hashlib.sha256(json.dumps(rows).encode()).hexdigest()


def _named(speakers: list[str]) -> str:
    more = len(speakers) - NAMED
    return ", ".join(speakers[:NAMED]) + (f" and {more} more" if more > 0 else "")


def fold_manifest(name: str, root: str | Path | None = None, **options) -> list[dict]:
    """For a dataset whose folds are groups of speakers: every speaker (or speaker-less unit, such
    as a noise clip) with its fold and its number of clips, the table a sweep's folds are cited by.
    ValueError for a dataset whose folds are fixed by the dataset itself."""
    module = _module(name)
    if not getattr(module, "GROUPED", False):
        raise ValueError(f"{name}'s folds are the dataset's own (one speaker or official fold each): no manifest")
    options = {**{k: v[0] for k, v in module.OPTIONS.items()}, **check_options(name, options)}
    root = dataset_root(name, root)
    fold_of = module.fold_of_speaker(root, **{k: v for k, v in options.items() if k == "folds"})
    counts: dict[str, int] = {}
    for fold in module.folds(root, **options):
        for clip in module.clips(root, fold, "test", **options)[0]:
            counts[clip.speaker] = counts.get(clip.speaker, 0) + 1
    return [{"speaker": s, "fold": str(fold_of[s]), "clips": counts.get(s, 0)} for s in sorted(fold_of)]


def get_dataset(
    name: str,
    root: str | Path | None = None,
    fold=None,
    split: str = "train",
    clip_seconds: float | None = None,
    on_error: str = "raise",
    **options,
) -> AudioDataset:
    """One split of one fold of a dataset, as an ``AudioDataset`` of 16 kHz mono clips.

    ``clip_seconds`` is the length each clip is cropped or padded to (default per dataset: FSDD
    and Speech Commands 1 s, EmoDB 3 s, ESC-50 5 s, IEMOCAP 41,200 samples). ``options`` are the
    dataset's own (its module's ``OPTIONS``: EmoDB ``classes=7|4``, ESC-50 ``esc10``, IEMOCAP
    ``merge_excited``). Every listed file is checked first; ``on_error="skip"`` leaves bad files
    out with a warning instead of failing (listed in ``.skipped``).
    """
    from .audio import AudioDataset, check_clips  # torch, only where audio is read

    module = _module(name)
    check_options(name, options)
    root = dataset_root(name, root)
    check_folds(name, root, **options)
    valid_folds = module.folds(root, **options)
    if fold not in valid_folds:
        raise ValueError(f"unknown fold {fold!r} for {name}; valid: {valid_folds}")
    if split not in module.SPLITS:
        raise ValueError(f"unknown split {split!r} for {name}; valid: {list(module.SPLITS)}")
    clips, classes = module.clips(root, fold, split, **options)
    clips, skipped = check_clips(clips, on_error)
    seconds = module.CLIP_SECONDS if clip_seconds is None else clip_seconds
    return AudioDataset(
        name,
        clips,
        classes,
        clip_samples=round(seconds * SAMPLE_RATE),
        skipped=skipped,
    )


__all__ = [
    "DATASETS",
    "DatasetModule",
    "check_folds",
    "check_options",
    "committed_manifest",
    "dataset_root",
    "default_root",
    "fold_manifest",
    "folds",
    "get_dataset",
    "labelled_factors",
    "listing_digest",
]
