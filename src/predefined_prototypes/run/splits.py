"""The data of one run: both splits of a fold as padded feature tensors, normalised with training
statistics, with factor levels when the loss needs them.

``prepare_splits(config)`` is what the trainer calls; ``Split.batch`` cuts a batch of fixed-length
crops in one indexing operation.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import torch
from torch import Tensor

from ..data import DATASETS, dataset_root, folds, get_dataset, labelled_factors, listing_digest
from ..data.audio import AudioDataset
from ..method.registry import FACTOR_NAMES as ALL_FACTORS
from .config import RunConfig
from .factors import QuantileDiscretizer, file_factors
from .features import FeatureSettings, Normalizer, extract_features


@dataclass
class Split:
    """One split, ready for training: normalised features of whole clips, zero-padded into one
    tensor so that a batch (with random crops) is a single indexing operation."""

    dataset: AudioDataset
    padded: Tensor  # [N, max_frames, mel], zero beyond each clip's length
    lengths: Tensor  # [N]
    labels: Tensor  # [N]
    factor_values: Tensor | None = None
    factor_levels: Tensor | None = None

    @classmethod
    def build(cls, dataset: AudioDataset, features: list[Tensor], min_frames: int) -> Split:
        lengths = torch.tensor([len(f) for f in features])
        padded = features[0].new_zeros(len(features), max(int(lengths.max()), min_frames), features[0].shape[1])
        for i, f in enumerate(features):
            padded[i, : len(f)] = f
        return cls(dataset, padded, lengths, dataset.labels)

    def keep(self, rows: list[int]) -> None:
        """Keep only ``rows`` (in this order), in every field."""
        self.dataset.clips = [self.dataset.clips[i] for i in rows]
        self.padded, self.lengths, self.labels = self.padded[rows], self.lengths[rows], self.labels[rows]

    def __len__(self) -> int:
        return len(self.labels)

    def batch(self, index: Tensor, num_frames: int, generator: torch.Generator | None = None) -> Tensor:
        """Features [B, num_frames, mel] of clips ``index``: cropped from the start, or at random
        offsets with a generator; zero-padded when shorter."""
        if generator is None:
            offsets = torch.zeros(len(index), dtype=torch.long)
        else:
            room = (self.lengths[index] - num_frames).clamp(min=0) + 1
            offsets = (torch.rand(len(index), generator=generator) * room).long()
        return self.padded[index[:, None], offsets[:, None] + torch.arange(num_frames)]


def resolve_fold(config: RunConfig, root: Path):
    valid = folds(config.dataset, root, **config.dataset_options)
    if config.fold is None:
        return valid[0]
    for fold in valid:
        if str(fold) == config.fold:
            return fold
    raise ValueError(f"unknown fold {config.fold!r} for {config.dataset}; valid: {[str(f) for f in valid]}")


def hold_out_classes(dataset: AudioDataset, novel: tuple[str, ...]) -> tuple[AudioDataset, AudioDataset]:
    """(base, novel): the clips of the classes not in ``novel`` and of those in it, each relabelled
    0..n-1 in the dataset's class order.

    >>> from predefined_prototypes.data.audio import Clip
    >>> ds = AudioDataset("d", [Clip(Path(f"{i}.wav"), i % 3, "s") for i in range(6)], ["a", "b", "c"], 16000)
    >>> base, novel = hold_out_classes(ds, ("b",))
    >>> base.classes, base.labels.tolist(), novel.classes, novel.labels.tolist()
    (['a', 'c'], [0, 1, 0, 1], ['b'], [0, 0])
    """
    unknown = sorted(set(novel) - set(dataset.classes))
    if unknown:
        raise ValueError(f"novel_classes {unknown} are not classes of {dataset.name}; valid: {dataset.classes}")
    if len(dataset.classes) - len(set(novel)) < 2:
        raise ValueError(
            f"novel_classes holds out {len(set(novel))} of {dataset.name}'s {len(dataset.classes)} classes: "
            "leave at least 2 to train on"
        )

    def keep(names: list[str]) -> AudioDataset:
        index = {dataset.classes.index(name): i for i, name in enumerate(names)}
        clips = [replace(c, label=index[c.label]) for c in dataset.clips if c.label in index]
        return AudioDataset(dataset.name, clips, names, dataset.clip_samples, skipped=dataset.skipped)

    return keep([c for c in dataset.classes if c not in novel]), keep([c for c in dataset.classes if c in novel])


def hold_out_speaker(dataset: AudioDataset, fold_ids: list, test_fold) -> tuple[AudioDataset, AudioDataset]:
    """(train, validation): the clips of ``dataset`` (a training split) without and with the
    validation speaker, the first fold id after ``test_fold`` (in ``fold_ids`` order, wrapping)
    that is a speaker of the split.

    >>> from predefined_prototypes.data.audio import Clip
    >>> ds = AudioDataset("d", [Clip(Path(f"{i}.wav"), 0, s) for i, s in enumerate("aabcc")], ["x"], 16000)
    >>> train, validation = hold_out_speaker(ds, ["a", "b", "c", "d"], "c")
    >>> [c.speaker for c in train.clips], [c.speaker for c in validation.clips]
    (['b', 'c', 'c'], ['a', 'a'])
    """
    speakers = {c.speaker for c in dataset.clips}
    position = [str(f) for f in fold_ids].index(str(test_fold))
    after = [str(f) for f in fold_ids[position + 1 :] + fold_ids[:position]]
    chosen = next((f for f in after if f in speakers), None)
    if chosen is None:
        raise ValueError(
            f"validation=next_speaker needs folds that are speakers; no fold id of {dataset.name} "
            "names a training speaker: use validation=none"
        )

    def keep(inside: bool) -> AudioDataset:
        clips = [c for c in dataset.clips if (c.speaker == chosen) == inside]
        return AudioDataset(dataset.name, clips, dataset.classes, dataset.clip_samples, skipped=dataset.skipped)

    return keep(False), keep(True)


def hold_out_group(
    dataset: AudioDataset, fold_of: dict, fold_ids: list, test_fold
) -> tuple[AudioDataset, AudioDataset]:
    """(train, validation): the clips of ``dataset`` (a training split) without and with the
    speakers of the fold after ``test_fold`` (in ``fold_ids`` order, wrapping), where folds are
    groups of speakers (``fold_of``: speaker -> fold id).

    >>> from predefined_prototypes.data.audio import Clip
    >>> ds = AudioDataset("d", [Clip(Path(f"{i}.wav"), 0, s) for i, s in enumerate("abcd")], ["x"], 16000)
    >>> train, validation = hold_out_group(ds, {"a": 1, "b": 2, "c": 2, "d": 3, "e": 1}, ["1", "2", "3"], "1")
    >>> [c.speaker for c in train.clips], [c.speaker for c in validation.clips]
    (['a', 'd'], ['b', 'c'])
    """
    ids = [str(f) for f in fold_ids]
    chosen = ids[(ids.index(str(test_fold)) + 1) % len(ids)]

    def keep(inside: bool) -> AudioDataset:
        clips = [c for c in dataset.clips if (str(fold_of[c.speaker]) == chosen) == inside]
        return AudioDataset(dataset.name, clips, dataset.classes, dataset.clip_samples, skipped=dataset.skipped)

    return keep(False), keep(True)


def split_clips(config: RunConfig) -> tuple[dict[str, AudioDataset], object, Path]:
    """The fold's splits by name, as listed clips (no audio read yet), its fold id and the
    dataset's root: "train" and "test"; with ``validation=next_speaker``, "validation" holds one
    training speaker out of "train"; with ``novel_classes``, those hold the base classes only,
    and "novel_support" (training speakers) and "novel_query" (test speakers) the held-out
    classes, which training never sees (nor the feature normalisation)."""
    root = dataset_root(config.dataset, config.data_dir)
    fold = resolve_fold(config, root)
    splits = {
        name: get_dataset(
            config.dataset,
            root,
            fold=fold,
            split=name,
            clip_seconds=config.clip_seconds,
            on_error=config.on_error,
            **config.dataset_options,
        )
        for name in ("train", "test")
    }
    if config.validation == "next_speaker":
        fold_ids = folds(config.dataset, root, **config.dataset_options)
        module = DATASETS[config.dataset]
        if getattr(module, "GROUPED", False):  # folds are groups of speakers: hold out the next group
            group = module.fold_of_speaker(root, **config.dataset_options)
            splits["train"], splits["validation"] = hold_out_group(splits["train"], group, fold_ids, fold)
        else:
            splits["train"], splits["validation"] = hold_out_speaker(splits["train"], fold_ids, fold)
    if config.novel_classes:
        (splits["train"], splits["novel_support"]) = hold_out_classes(splits["train"], config.novel_classes)
        (splits["test"], splits["novel_query"]) = hold_out_classes(splits["test"], config.novel_classes)
    return splits, fold, root


# The options that decide which clips a run's splits hold (``split_clips``).
DATA_KEYS = ("dataset", "data_dir", "fold", "dataset_options", "validation", "novel_classes", "on_error")


def data_identity(config: RunConfig) -> dict[str, str]:
    """The digest of each split's clip listing (``data.listing_digest``): what a run records as
    the data it read, and what a sweep compares before it counts a stored run as finished."""
    splits, _, root = split_clips(config)
    return {name: listing_digest(ds.clips, root) for name, ds in splits.items()}


def prepare_splits(config: RunConfig) -> tuple[dict[str, Split], dict]:
    """The fold's splits (``split_clips``) with their features, and what the run records of them."""
    splits, fold, root = split_clips(config)
    # Features (and factors) of both splits at once: every fold of a protocol covers the same
    # files, so one cache entry serves all folds.
    files = sorted({path for ds in splits.values() for path in ds.files})
    position = {path: i for i, path in enumerate(files)}
    settings = FeatureSettings(num_mel_bins=config.num_mel_bins, front_end=config.front_end)
    packed = extract_features(files, settings, desc=f"{config.front_end} {config.dataset}")
    per_split = {name: [packed[position[p]] for p in ds.files] for name, ds in splits.items()}
    normalize = Normalizer.for_front_end(settings, torch.cat(per_split["train"]))
    num_frames = settings.frames(splits["train"].clip_samples)
    info = {
        "fold": str(fold),
        "classes": splits["train"].classes,
        "normalizer": vars(normalize),
        "num_frames": num_frames,
        "skipped_files": splits["train"].skipped + splits["test"].skipped,
        "listing_sha256": {name: listing_digest(ds.clips, root) for name, ds in splits.items()},
    }
    ready = {name: Split.build(ds, [normalize(f) for f in per_split[name]], num_frames) for name, ds in splits.items()}
    if config.measures_factors:
        clip_samples = splits["train"].clip_samples
        values, valid = file_factors(files, clip_samples, desc=f"factors {config.dataset}")
        rows = {name: [position[p] for p in ds.files] for name, ds in splits.items()}
        _add_factor_levels(config, ready, {n: (values[r], valid[r]) for n, r in rows.items()}, info)
    info.update(train_size=len(ready["train"]), test_size=len(ready["test"]))
    if "validation" in ready:
        validation_speakers = sorted({c.speaker for c in ready["validation"].dataset.clips})
        info.update(
            validation_speaker=validation_speakers[0]
            if len(validation_speakers) == 1
            else ",".join(validation_speakers),
            validation_size=len(ready["validation"]),
        )
    if config.novel_classes:
        info.update(
            novel_classes=ready["novel_query"].dataset.classes,
            novel_support_size=len(ready["novel_support"]),
            novel_query_size=len(ready["novel_query"]),
        )
    return ready, info


def _add_factor_levels(config: RunConfig, splits: dict[str, Split], measured: dict, info: dict) -> None:
    """Drop utterances whose acoustic factors fail the validity filter (``factor_filter``; else
    only those that cannot be measured), recorded in ``info``; cut the acoustic factors into levels
    with quantiles of the training split, and read the labelled ones from the dataset."""
    module = DATASETS[config.dataset]
    labelled = labelled_factors(config.dataset)
    dropped = []
    for name, split in splits.items():
        values, valid = measured[name]
        kept = valid if config.factor_filter else torch.isfinite(values).all(dim=1)
        keep = kept.nonzero().flatten().tolist()
        dropped += [split.dataset.clips[i].path.name for i in range(len(split)) if not kept[i]]
        split.keep(keep)
        split.factor_values = torch.stack(
            [
                torch.tensor([float(module.factor_level(c.path, f)) for c in split.dataset.clips], dtype=values.dtype)
                if f in labelled
                else values[keep][:, ALL_FACTORS.index(f)]
                for f in config.factors
            ],
            dim=1,
        )
    discretizer = QuantileDiscretizer(config.factor_level_counts()).fit(splits["train"].factor_values)
    for i, f in enumerate(config.factors):
        if f in labelled:  # a label is its own level: cut between the level indices
            discretizer.cut_points[i] = np.arange(len(labelled[f]) - 1) + 0.5
    for split in splits.values():
        split.factor_levels = discretizer.transform(split.factor_values)
    info["dropped_invalid_factors"] = sorted(dropped)
    info["factor_cut_points"] = {n: c.tolist() for n, c in zip(config.factors, discretizer.cut_points)}
