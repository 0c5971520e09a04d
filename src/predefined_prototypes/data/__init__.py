"""Datasets in their official layouts, one module each, behind one entry point.

>>> sorted(DATASETS)
['emodb', 'esc50', 'fsdd', 'iemocap', 'speech_commands']
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Protocol, runtime_checkable

from . import emodb, esc50, fsdd, iemocap, speech_commands
from .audio import SAMPLE_RATE, AudioDataset, Clip, check_clips


@runtime_checkable
class DatasetModule(Protocol):
    """What a dataset module (``data/<name>.py``) provides; ``get_dataset`` needs nothing else."""

    MARKER: str  # a path under the dataset's root that exists exactly when the layout is there
    LAYOUT: str  # the official layout in words, for the error a wrong folder gets
    CLIP_SECONDS: float  # the default length every clip is cropped or padded to
    SPLITS: tuple[str, ...]  # the split names ``clips`` accepts

    def folds(self, root: Path) -> list:
        """The protocol's fold ids (e.g. the held-out speaker of each fold)."""

    def clips(self, root: Path, fold, split: str, **options) -> tuple[list[Clip], list[str]]:
        """The clips (path, label index, speaker) of one split of one fold, and the class names."""


DATASETS: dict[str, DatasetModule] = {
    "fsdd": fsdd,
    "emodb": emodb,
    "esc50": esc50,
    "speech_commands": speech_commands,
    "iemocap": iemocap,
}


def _module(name: str):
    if name not in DATASETS:
        raise ValueError(f"unknown dataset {name!r}; valid: {sorted(DATASETS)}")
    return DATASETS[name]


def default_root(name: str) -> Path:
    """``$PP_DATA_DIR/<name>`` when PP_DATA_DIR is set, else ``~/.cache/predefined_prototypes/<name>``."""
    if os.environ.get("PP_DATA_DIR"):
        return Path(os.environ["PP_DATA_DIR"]) / name
    return Path.home() / ".cache" / "predefined_prototypes" / name


def dataset_root(name: str, root: str | Path | None = None) -> Path:
    """The dataset's folder, checked against its official layout before anything is read."""
    module = _module(name)
    root = Path(root) if root is not None else default_root(name)
    if not (root / module.MARKER).exists():
        if name == "iemocap":
            how = "IEMOCAP needs a licence: request it at https://sail.usc.edu/iemocap/"
        else:
            how = f"download it with: python -m predefined_prototypes data download {name} --to {root}"
        raise FileNotFoundError(
            f"{name}: no dataset found at {root} (missing {module.MARKER}). Expected layout: "
            f"{module.LAYOUT}. Set PP_DATA_DIR or pass root=..., or {how}"
        )
    return root


def folds(name: str, root: str | Path | None = None) -> list:
    """The fold ids of a dataset's protocol (FSDD speakers and 'official', EmoDB speaker ids,
    ESC-50 and IEMOCAP 1-5, Speech Commands [None])."""
    return _module(name).folds(dataset_root(name, root))


def get_dataset(
    name: str,
    root: str | Path | None = None,
    fold=None,
    split: str = "train",
    clip_seconds: float | None = None,
    random_crop: bool | None = None,
    on_error: str = "raise",
    seed: int = 0,
    **options,
) -> AudioDataset:
    """One split of one fold of a dataset, as an ``AudioDataset`` of 16 kHz mono clips.

    ``clip_seconds`` crops or pads each clip (default per dataset: FSDD and Speech Commands 1 s,
    EmoDB 3 s, ESC-50 5 s, IEMOCAP 41,200 samples); ``random_crop`` defaults to True for the
    training split. ``options`` go to the dataset (EmoDB ``classes=7|4``, ESC-50 ``esc10``,
    IEMOCAP ``merge_excited``). Every listed file is checked first; ``on_error="skip"`` leaves
    bad files out with a warning instead of failing (listed in ``.skipped``).
    """
    module = _module(name)
    root = dataset_root(name, root)
    valid_folds = module.folds(root)
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
        random_crop=(split == "train") if random_crop is None else random_crop,
        seed=seed,
        skipped=skipped,
    )


__all__ = ["DATASETS", "AudioDataset", "DatasetModule", "dataset_root", "default_root", "folds", "get_dataset"]
