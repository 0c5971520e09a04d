"""One configuration in, one trained model and its metrics out.

``run(config)`` loads the data (features and factors from the cache), builds the model and the
loss, trains with a warm-up then cosine schedule, evaluates, and writes ``metrics.json`` and
``embeddings.npz`` to ``config.out``. ``metrics.json`` is written last and atomically, so its
presence means the run finished.
"""

from __future__ import annotations

import json
import math
import os
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
import torchaudio
from torch import Tensor, nn
from tqdm import tqdm

from .config import RunConfig
from .data import dataset_root, folds, get_dataset
from .data.audio import AudioDataset, fix_length, read_audio
from .factors import QuantileDiscretizer, file_factors
from .factors import FACTORS as ALL_FACTORS
from .files import atomic_write
from .features import FeatureSettings, Normalizer, extract_features, fbank
from .losses import FocalLoss, OrthogonalProjectionLoss, PrototypeLoss
from .metrics import (
    accuracy, as_numpy_record, confusion_matrix, disentanglement, embedding_geometry,
    expected_calibration_error, macro_f1,
)
from .models import Model, build_backbone
from .prototypes import PROTOTYPE_BUILDERS, FactorPrototypes, FixedPrototypes, LearnedPrototypes
from .preflight import check, device_available
from .provenance import provenance


class TrainingFailed(RuntimeError):
    """The run trained but produced no result worth keeping; the message says why and what to try."""


class TrainingDiverged(TrainingFailed):
    """The loss became NaN or infinite, or grew by orders of magnitude; the message names the step
    and the term."""


class NotLearned(TrainingFailed):
    """Training accuracy ended no better than always predicting the most frequent class."""


# A loss this many times its first value (or 1, if larger) has exploded: the prototype distance
# starts at its largest (z near 0, ||P(y)||^2 = s^2) and cross-entropy near log C, so a healthy
# run never comes near it.
EXPLOSION_FACTOR = 1e4


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
    def build(cls, dataset: AudioDataset, features: list[Tensor], min_frames: int) -> "Split":
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
    valid = folds(config.dataset, root)
    if config.fold is None:
        return valid[0]
    for fold in valid:
        if str(fold) == config.fold:
            return fold
    raise ValueError(f"unknown fold {config.fold!r} for {config.dataset}; valid: {[str(f) for f in valid]}")


def check_growth(first: dict[str, float], now: dict[str, float], epoch: int, step: int, config: RunConfig) -> None:
    """Raise TrainingDiverged when the total loss has grown EXPLOSION_FACTOR-fold from its first
    value, naming the term that grew most.

    >>> cfg = RunConfig()
    >>> check_growth({"loss": 2.0, "ce": 2.0}, {"loss": 3.0, "ce": 3.0}, 1, 5, cfg)
    >>> check_growth({"loss": 2.0, "ce": 2.0}, {"loss": 1e22, "ce": 1e22}, 1, 5, cfg)
    Traceback (most recent call last):
    ...
    predefined_prototypes.train.TrainingDiverged: loss grew from 2 to 1e+22 by epoch 1, step 5 (ce: 2 -> 1e+22); try a lower lr (now 0.001) or scale (now 1.0)
    """
    if now["loss"] <= EXPLOSION_FACTOR * max(abs(first["loss"]), 1.0):
        return
    terms = [k for k in now if k != "loss"]
    worst = max(terms, key=lambda k: abs(now[k]) / max(abs(first[k]), 1e-12))
    raise TrainingDiverged(
        f"loss grew from {first['loss']:.4g} to {now['loss']:.4g} by epoch {epoch}, step {step} "
        f"({worst}: {first[worst]:.4g} -> {now[worst]:.4g}); "
        f"try a lower lr (now {config.lr}) or scale (now {config.scale})")


def check_learned(train_accuracy: float, labels: Tensor, config: RunConfig) -> None:
    """Raise NotLearned when training accuracy is no better than predicting the most frequent
    training class every time (the chance a learner must beat)."""
    majority = torch.bincount(labels).max().item() / len(labels)
    if config.fail_at_chance and train_accuracy <= majority:
        raise NotLearned(
            f"training accuracy ended at {train_accuracy:.3f}, no better than always predicting the most "
            f"frequent class ({majority:.3f}): the model did not learn. Try more epochs (now "
            f"{config.epochs}) or another lr (now {config.lr}); fail_at_chance=false keeps such a run")


def prepare_data(config: RunConfig) -> tuple[Split, Split, dict]:
    """Both splits of the configured fold, with features normalised by training statistics."""
    root = dataset_root(config.dataset, config.data_dir)
    fold = resolve_fold(config, root)
    options = {"classes": config.classes} if config.classes is not None else {}
    splits = {
        name: get_dataset(config.dataset, root, fold=fold, split=name, clip_seconds=config.clip_seconds,
                          seed=config.seed, on_error=config.on_error, **options)
        for name in ("train", "test")
    }
    # Features (and factors) of both splits at once: every fold of a protocol covers the same
    # files, so one cache entry serves all folds.
    files = sorted({path for ds in splits.values() for path in ds.files})
    position = {path: i for i, path in enumerate(files)}
    settings = FeatureSettings(num_mel_bins=config.num_mel_bins)
    packed = extract_features(files, settings, desc=f"fbank {config.dataset}")
    per_split = {name: [packed[position[p]] for p in ds.files] for name, ds in splits.items()}
    normalize = Normalizer.fit(torch.cat(per_split["train"]))
    num_frames = settings.frames(splits["train"].clip_samples)
    info = {"fold": str(fold), "classes": splits["train"].classes, "normalizer": vars(normalize),
            "num_frames": num_frames, "skipped_files": splits["train"].skipped + splits["test"].skipped}
    ready = {name: Split.build(ds, [normalize(f) for f in per_split[name]], num_frames)
             for name, ds in splits.items()}
    if config.loss == "factor_prototypes":
        values, valid = file_factors(files, desc=f"factors {config.dataset}")
        rows = {name: [position[p] for p in ds.files] for name, ds in splits.items()}
        _add_factor_levels(config, ready, {n: (values[r], valid[r]) for n, r in rows.items()}, info)
    info.update(train_size=len(ready["train"]), test_size=len(ready["test"]))
    return ready["train"], ready["test"], info


def _add_factor_levels(config: RunConfig, splits: dict[str, Split], measured: dict, info: dict) -> None:
    """Drop utterances failing the factors' validity filter (recorded in ``info``) and cut the
    factors into levels with quantiles of the training split."""
    columns = [ALL_FACTORS.index(name) for name in config.factors]
    dropped = []
    for name, split in splits.items():
        values, valid = measured[name]
        keep = valid.nonzero().flatten().tolist()
        dropped += [split.dataset.clips[i].path.name for i in range(len(split)) if not valid[i]]
        split.keep(keep)
        split.factor_values = values[keep][:, columns]
    discretizer = QuantileDiscretizer(config.factor_levels).fit(splits["train"].factor_values)
    for split in splits.values():
        split.factor_levels = discretizer.transform(split.factor_values)
    info["dropped_invalid_factors"] = sorted(dropped)
    info["factor_cut_points"] = {n: c.tolist() for n, c in zip(config.factors, discretizer.cut_points)}


class Objective(nn.Module):
    """The run's loss: returns the total and its named, unweighted terms (for logging)."""

    def __init__(self, config: RunConfig, num_classes: int):
        super().__init__()
        self.kind = config.loss
        self.opl_weight = config.opl_weight
        if config.loss == "focal":
            self.focal = FocalLoss(config.focal_gamma)
        elif config.loss == "opl":
            self.opl = OrthogonalProjectionLoss(config.opl_gamma)
        elif config.loss in ("prototypes", "learned_prototypes", "factor_prototypes"):
            if config.loss == "prototypes":
                matrix = PROTOTYPE_BUILDERS[config.prototypes](num_classes, config.embed_dim, config.scale, config.seed)
                prototypes = FixedPrototypes(matrix)
            elif config.loss == "learned_prototypes":
                prototypes = LearnedPrototypes(num_classes, config.embed_dim, config.scale, config.seed,
                                               init=config.prototypes)
            else:
                levels = [config.factor_levels] * len(config.factors)
                prototypes = FactorPrototypes(levels, config.embed_dim, config.scale)
            self.prototype_loss = PrototypeLoss(prototypes, config.lam)

    @property
    def prototypes(self) -> nn.Module | None:
        return self.prototype_loss.prototypes if hasattr(self, "prototype_loss") else None

    def forward(self, logits: Tensor, z: Tensor, target: Tensor, labels: Tensor,
                factors: Tensor | None) -> tuple[Tensor, dict[str, Tensor]]:
        if self.kind == "ce":
            terms = {"ce": F.cross_entropy(logits, target)}
            return terms["ce"], terms
        if self.kind == "focal":
            terms = {"focal": self.focal(logits, target)}
            return terms["focal"], terms
        if self.kind == "opl":
            opl = self.opl(z, labels)
            terms = {"ce": F.cross_entropy(logits, target), "opl": opl.loss}
            return terms["ce"] + self.opl_weight * opl.loss, terms
        terms = self.prototype_loss.terms(logits, z, target, factors)
        return terms["ce"] + self.prototype_loss.lam * terms["distance"], terms


def choose_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    device_available(name)
    return torch.device(name)


def make_deterministic(seed: int, device: torch.device) -> None:
    torch.manual_seed(seed)
    np.random.seed(seed)
    if device.type == "cuda":
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
    torch.use_deterministic_algorithms(True, warn_only=device.type == "cuda")


def warmup_cosine(step: int, warmup_steps: int, total_steps: int) -> float:
    """LR multiplier: linear warm-up from ~0 to 1, then cosine decay to 0 at the last step.

    >>> [round(warmup_cosine(s, 2, 6), 3) for s in range(6)]
    [0.5, 1.0, 1.0, 0.75, 0.25, 0.0]
    """
    if step < warmup_steps:
        return (step + 1) / warmup_steps
    span = max(total_steps - warmup_steps - 1, 1)
    return 0.5 * (1 + math.cos(math.pi * min(step - warmup_steps, span) / span))


def spec_augment(x: Tensor, generator: torch.Generator) -> Tensor:
    """Two frequency masks (up to 1/8 of the bins) and two time masks (up to 1/10 of the frames)
    per example, on normalised features (masked to 0, the training mean)."""
    batch, frames, bins = x.shape
    x = x.clone()
    for axis, size, width in ((2, bins, max(bins // 8, 1)), (1, frames, max(frames // 10, 1))):
        for _ in range(2):
            w = torch.randint(0, width + 1, (batch,), generator=generator)
            start = (torch.rand(batch, generator=generator) * (size - w)).long()
            positions = torch.arange(size)
            mask = (positions >= start[:, None]) & (positions < (start + w)[:, None])
            x.masked_fill_(mask[:, None, :] if axis == 2 else mask[:, :, None], 0.0)
    return x


class _Mixer:
    """Waveform mixup (p, Beta(10, 10)) as in the authors' Speech Commands setup: mix two
    waveforms, recompute their features, and mix their one-hot labels the same way."""

    def __init__(self, split: Split, probability: float, num_frames: int, settings: FeatureSettings,
                 normalize: Normalizer, num_classes: int, generator: torch.Generator):
        self.waves = [read_audio(c.path) for c in split.dataset.clips]
        self.samples, self.probability = split.dataset.clip_samples, probability
        self.num_frames, self.settings, self.normalize = num_frames, settings, normalize
        self.num_classes, self.generator = num_classes, generator
        self.rng = np.random.default_rng(int(torch.randint(0, 2**31, (1,), generator=generator)))

    def __call__(self, index: Tensor, labels: Tensor, features: Tensor) -> tuple[Tensor, Tensor]:
        target = F.one_hot(labels, self.num_classes).float()
        if torch.rand(1, generator=self.generator).item() >= self.probability:
            return features, target
        weight = float(self.rng.beta(10.0, 10.0))
        partner = torch.randperm(len(index), generator=self.generator)
        mixed = []
        for i, j in zip(index.tolist(), index[partner].tolist()):
            a = fix_length(self.waves[i], self.samples, self.generator)
            b = fix_length(self.waves[j], self.samples, self.generator)
            mixed.append(fix_length(self.normalize(fbank(weight * a + (1 - weight) * b, self.settings)), self.num_frames))
        return torch.stack(mixed), weight * target + (1 - weight) * target[partner]


@torch.no_grad()
def embed(model: Model, split: Split, num_frames: int, device: torch.device, batch_size: int = 256) -> tuple[Tensor, Tensor]:
    """Logits and z of every clip of ``split`` (fixed crop from the start), in order."""
    model.eval()
    logits, zs = [], []
    for start in range(0, len(split), batch_size):
        index = torch.arange(start, min(start + batch_size, len(split)))
        out, z = model(split.batch(index, num_frames).to(device))
        logits.append(out.float().cpu())
        zs.append(z.float().cpu())
    return torch.cat(logits), torch.cat(zs)


def train(config: RunConfig, progress: bool = True) -> dict:
    """Train and evaluate one configuration; returns the record that ``run`` writes."""
    started = time.perf_counter()
    device = choose_device(config.device)
    make_deterministic(config.seed, device)
    train_split, test_split, info = prepare_data(config)
    num_classes, num_frames = len(info["classes"]), info["num_frames"]
    backbone = build_backbone(config.backbone, config.num_mel_bins, num_frames, config.embed_dim,
                              config.channels, config.pretrained)
    model = Model(backbone, config.embed_dim, num_classes).to(device)
    objective = Objective(config, num_classes).to(device)
    params = [*model.parameters(), *objective.parameters()]
    optimizer_class = torch.optim.AdamW if config.optimizer == "adamw" else torch.optim.Adam
    optimizer = optimizer_class(params, lr=config.lr, weight_decay=config.weight_decay)
    steps_per_epoch = math.ceil(len(train_split) / config.batch_size)
    total_steps = steps_per_epoch * config.epochs
    schedule = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda s: warmup_cosine(s, config.warmup * steps_per_epoch, total_steps))
    generator = torch.Generator().manual_seed(config.seed)
    mixer = None
    if config.mixup > 0:
        mixer = _Mixer(train_split, config.mixup, num_frames, FeatureSettings(config.num_mel_bins),
                       Normalizer(**info["normalizer"]), num_classes, generator)

    history, step, first_terms = [], 0, None
    epochs = tqdm(range(config.epochs), desc=f"{config.loss} {config.dataset}/{info['fold']}",
                  disable=not progress, leave=False)
    for epoch in epochs:
        model.train()
        epoch_start, totals, correct, seen = time.perf_counter(), {}, 0, 0
        order = torch.randperm(len(train_split), generator=generator)
        for start in range(0, len(order), config.batch_size):
            index = order[start : start + config.batch_size]
            labels = train_split.labels[index]
            x = train_split.batch(index, num_frames, generator)
            target = labels
            if mixer is not None:
                x, target = mixer(index, labels, x)
            if config.specaugment:
                x = spec_augment(x, generator)
            factors = train_split.factor_levels[index].to(device) if train_split.factor_levels is not None else None
            logits, z = model(x.to(device))
            loss, terms = objective(logits, z, target.to(device), labels.to(device), factors)
            if not torch.isfinite(loss):
                bad = [f"{k}={v.item():.4g}" for k, v in terms.items() if not torch.isfinite(v)]
                raise TrainingDiverged(
                    f"loss became {loss.item()} at epoch {epoch + 1}, step {step + 1} "
                    f"(non-finite term(s): {', '.join(bad) or 'none; their weighted sum overflowed'}); "
                    f"try a lower lr (now {config.lr}) or scale (now {config.scale})")
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            schedule.step()
            step += 1
            values = {k: v.item() for k, v in {"loss": loss, **terms}.items()}
            first_terms = first_terms or values
            check_growth(first_terms, values, epoch + 1, step, config)
            for k, v in values.items():
                totals[k] = totals.get(k, 0.0) + v * len(index)
            correct += (logits.argmax(1).cpu() == labels).sum().item()
            seen += len(index)
        train_seconds = time.perf_counter() - epoch_start
        record = {"epoch": epoch + 1, **{f"train_{k}": v / seen for k, v in totals.items()},
                  "train_accuracy_running": correct / seen, "lr": schedule.get_last_lr()[0],
                  "train_seconds": train_seconds}
        # Logged only (no decision reads it), so only every eval_every epochs and at the end.
        if (epoch + 1) % config.eval_every == 0 or epoch + 1 == config.epochs:
            record["test_accuracy"] = accuracy(embed(model, test_split, num_frames, device)[0], test_split.labels)
        history.append(record)
        epochs.set_postfix(loss=f"{record['train_loss']:.3f}", test=f"{record.get('test_accuracy', float('nan')):.3f}")

    test_logits, test_z = embed(model, test_split, num_frames, device)
    train_logits, train_z = embed(model, train_split, num_frames, device)
    check_learned(accuracy(train_logits, train_split.labels), train_split.labels, config)
    prototypes = objective.prototypes
    matrix = prototypes.matrix.detach().float().cpu() if prototypes is not None else None
    metrics = {
        "accuracy": accuracy(test_logits, test_split.labels),
        "macro_f1": macro_f1(test_logits, test_split.labels, num_classes),
        "ece": expected_calibration_error(test_logits, test_split.labels),
        "train_accuracy": accuracy(train_logits, train_split.labels),
        "confusion_matrix": confusion_matrix(test_logits, test_split.labels, num_classes),
        "geometry": embedding_geometry(test_z, test_split.labels, num_classes,
                                       matrix if config.loss in ("prototypes", "learned_prototypes") else None),
    }
    if isinstance(prototypes, FactorPrototypes):
        metrics["disentanglement"] = disentanglement(
            train_z, train_split.factor_levels, test_z, test_split.factor_levels,
            prototypes.blocks, prototypes.residual, list(config.factors))
    embeddings = {
        "z": test_z.numpy(), "logits": test_logits.numpy(), "labels": test_split.labels.numpy(),
        "speakers": np.array(test_split.dataset.speakers),
        "paths": np.array([c.path.name for c in test_split.dataset.clips]),
        "classes": np.array(info["classes"]),
        "classifier_weight": model.classifier.weight.detach().float().cpu().numpy(),
        "classifier_bias": model.classifier.bias.detach().float().cpu().numpy(),
    }
    if matrix is not None:
        embeddings["prototypes"] = matrix.numpy()
    if test_split.factor_levels is not None:
        embeddings.update(factor_levels=test_split.factor_levels.numpy(),
                          factor_values=test_split.factor_values.numpy(),
                          factor_names=np.array(config.factors))
    return {
        "config": config.to_dict(), **provenance(), "device": str(device),
        "torchaudio_version": torchaudio.__version__, "threads": torch.get_num_threads(),
        "data": info, "history": history, "metrics": as_numpy_record(metrics),
        "wall_time_s": time.perf_counter() - started, "embeddings": embeddings,
    }


def run(config: RunConfig, progress: bool = True) -> dict:
    """Check that ``config`` can run here (``preflight.check``), train it and, if ``config.out``
    is set, write embeddings.npz then metrics.json."""
    check(config)
    result = train(config, progress)
    embeddings = result.pop("embeddings")
    if config.out:
        out = Path(config.out)
        out.mkdir(parents=True, exist_ok=True)
        atomic_write(out / "embeddings.npz", lambda f: np.savez_compressed(f, **embeddings))
        text = json.dumps(result, indent=1, sort_keys=True).encode()
        atomic_write(out / "metrics.json", lambda f: f.write(text))
    result["embeddings"] = embeddings
    return result
