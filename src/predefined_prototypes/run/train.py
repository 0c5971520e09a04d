"""One configuration in, one trained model and its metrics out.

``run(config)`` loads the data (``splits.py``), builds the model and the loss
(``registry.LOSSES``), trains with a warm-up then a cosine or step schedule and augmentation
(``augment.py``), evaluates (``evaluate.py``), and writes ``model.safetensors``,
``embeddings.npz`` and ``metrics.json`` to ``config.out``; ``run_folder.load_run`` reads them back.
``metrics.json`` is written last and atomically, so its presence means the run finished.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import time
from functools import partial
from pathlib import Path

import numpy as np
import torch
import torchaudio
from torch import Tensor
from tqdm import tqdm

from ..method.registry import LOSSES
from .augment import Mixer, spec_augment
from .config import RunConfig
from .evaluate import embed, evaluate, evaluate_factors, evaluate_novel
from .features import FeatureSettings, Normalizer
from .files import atomic_write
from .metrics import accuracy, as_numpy_record
from .models import Model, build_backbone
from .preflight import check, device_available
from .provenance import provenance
from .splits import prepare_splits


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


def check_growth(first: dict[str, float], now: dict[str, float], epoch: int, step: int, config: RunConfig) -> None:
    """Raise TrainingDiverged when the total loss has grown EXPLOSION_FACTOR-fold from its first
    value, naming the term that grew most.

    >>> cfg = RunConfig()
    >>> check_growth({"loss": 2.0, "ce": 2.0}, {"loss": 3.0, "ce": 3.0}, 1, 5, cfg)
    >>> check_growth({"loss": 2.0, "ce": 2.0}, {"loss": 1e22, "ce": 1e22}, 1, 5, cfg)
    Traceback (most recent call last):
    ...
    predefined_prototypes.run.train.TrainingDiverged: loss grew from 2 to 1e+22 by epoch 1, step 5 (ce: 2 -> 1e+22); try a lower lr (now 0.001) or scale (now 1.0)
    """
    if now["loss"] <= EXPLOSION_FACTOR * max(abs(first["loss"]), 1.0):
        return
    terms = [k for k in now if k != "loss"]
    worst = max(terms, key=lambda k: abs(now[k]) / max(abs(first[k]), 1e-12))
    raise TrainingDiverged(
        f"loss grew from {first['loss']:.4g} to {now['loss']:.4g} by epoch {epoch}, step {step} "
        f"({worst}: {first[worst]:.4g} -> {now[worst]:.4g}); "
        f"{lower_rates(config)}"
    )


def lower_rates(config: RunConfig) -> str:
    """The advice for a diverging run: a lower learning rate, or prototypes of a smaller norm."""
    scale = getattr(config.loss_options, "scale", None)
    return f"try a lower lr (now {config.recipe.lr})" + (f" or scale (now {scale})" if scale is not None else "")


def check_learned(train_accuracy: float, labels: Tensor, config: RunConfig) -> None:
    """Raise NotLearned when training accuracy is no better than predicting the most frequent
    training class every time (the chance a learner must beat)."""
    majority = torch.bincount(labels).max().item() / len(labels)
    if config.fail_at_chance and train_accuracy <= majority:
        raise NotLearned(
            f"training accuracy ended at {train_accuracy:.3f}, no better than always predicting the most "
            f"frequent class ({majority:.3f}): the model did not learn. Try more epochs (now "
            f"{config.recipe.epochs}) or another lr (now {config.recipe.lr}); fail_at_chance=false keeps such a run"
        )


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


def warmup_step_decay(step: int, warmup_steps: int, steps_per_epoch: int, decay: float) -> float:
    """LR multiplier of the authors' AST recipe: linear warm-up, then x ``decay`` per epoch.

    >>> [round(warmup_step_decay(s, 2, 2, 0.5), 3) for s in range(8)]
    [0.5, 1.0, 1.0, 1.0, 0.5, 0.5, 0.25, 0.25]
    """
    if step < warmup_steps:
        return (step + 1) / warmup_steps
    return decay ** ((step - warmup_steps) // steps_per_epoch)


def warmup_cosine(step: int, warmup_steps: int, total_steps: int) -> float:
    """LR multiplier: linear warm-up from ~0 to 1, then cosine decay to 0 at the last step.

    >>> [round(warmup_cosine(s, 2, 6), 3) for s in range(6)]
    [0.5, 1.0, 1.0, 0.75, 0.25, 0.0]
    """
    if step < warmup_steps:
        return (step + 1) / warmup_steps
    span = max(total_steps - warmup_steps - 1, 1)
    return 0.5 * (1 + math.cos(math.pi * min(step - warmup_steps, span) / span))


def build_model(config: RunConfig, num_classes: int, num_frames: int) -> tuple[Model, torch.nn.Module]:
    """The run's model (backbone, embedding, linear classifier) and its training objective."""
    backbone = build_backbone(
        config.backbone, config.num_mel_bins, num_frames, config.embed_dim, config.backbone_options
    )
    model = Model(backbone, config.embed_dim, num_classes)
    loss = LOSSES[config.loss]
    # Label smoothing is the recipe's, handed to the losses whose cross-entropy takes it.
    smoothing = {"smoothing": config.recipe.label_smoothing} if loss.label_smoothing else {}
    objective = loss.objective_class().build(
        config.loss_options, num_classes, config.embed_dim, config.seed, config.factor_level_counts(), **smoothing
    )
    return model, objective


def parameter_groups(model: Model, objective: torch.nn.Module, lr: float) -> list[dict]:
    """What the optimiser trains, at what rate: a pretrained backbone's own groups (its weights at
    their learning rate, a new layer at ``lr``), then the classifier and any learned prototypes at
    ``lr``; for a backbone trained from scratch, every parameter at ``lr`` in one group."""
    head = [*model.classifier.parameters(), *objective.parameters()]
    if hasattr(model.backbone, "parameter_groups"):
        return [*model.backbone.parameter_groups(lr), {"params": head, "lr": lr}]
    return [{"params": [*model.parameters(), *objective.parameters()], "lr": lr}]


def train(config: RunConfig, progress: bool = True, on_step=None) -> dict:
    """Train and evaluate one configuration; returns the record that ``run`` writes.
    ``on_step(step, values)``, if given, sees every optimiser step's loss terms (the golden tests
    compare the first ones across machines)."""
    started = time.perf_counter()
    device = choose_device(config.device)
    make_deterministic(config.seed, device)
    splits, info = prepare_splits(config)
    train_split, test_split = splits["train"], splits["test"]
    num_classes, num_frames = len(info["classes"]), info["num_frames"]
    model, objective = build_model(config, num_classes, num_frames)
    model, objective = model.to(device), objective.to(device)
    if config.recipe.channels_last:
        model = model.to(memory_format=torch.channels_last)
    optimizer_class = torch.optim.AdamW if config.recipe.optimizer == "adamw" else torch.optim.Adam
    optimizer = optimizer_class(
        parameter_groups(model, objective, config.recipe.lr),
        lr=config.recipe.lr,
        betas=config.recipe.betas,
        weight_decay=config.recipe.weight_decay,
    )
    steps_per_epoch = math.ceil(len(train_split) / config.recipe.batch_size)
    total_steps = steps_per_epoch * config.recipe.epochs
    warmup_steps = config.recipe.warmup * steps_per_epoch
    if config.recipe.schedule == "step":
        multiplier = partial(
            warmup_step_decay, warmup_steps=warmup_steps, steps_per_epoch=steps_per_epoch, decay=config.recipe.lr_decay
        )
    else:
        multiplier = partial(warmup_cosine, warmup_steps=warmup_steps, total_steps=total_steps)
    schedule = torch.optim.lr_scheduler.LambdaLR(optimizer, multiplier)
    generator = torch.Generator().manual_seed(config.seed)
    mixer = None
    if config.recipe.mixup > 0:
        mixer = Mixer(
            train_split,
            config.recipe.mixup,
            num_frames,
            FeatureSettings(config.num_mel_bins),
            Normalizer(**info["normalizer"]),
            num_classes,
            generator,
        )

    history, step, first_terms = [], 0, None
    epochs = tqdm(
        range(config.recipe.epochs),
        desc=f"{config.loss} {config.dataset}/{info['fold']}",
        disable=not progress,
        leave=False,
    )
    for epoch in epochs:
        model.train()
        epoch_start, totals, correct, seen = time.perf_counter(), {}, 0, 0
        order = torch.randperm(len(train_split), generator=generator)
        for start in range(0, len(order), config.recipe.batch_size):
            index = order[start : start + config.recipe.batch_size]
            labels = train_split.labels[index]
            x = train_split.batch(index, num_frames, generator if config.crop == "random" else None)
            target = labels
            if mixer is not None:
                x, target = mixer(index, labels, x)
            if config.recipe.specaugment:
                x = spec_augment(x, generator)
            factors = train_split.factor_levels[index].to(device) if train_split.factor_levels is not None else None
            with torch.autocast(device.type, dtype=torch.bfloat16, enabled=config.recipe.bf16):
                logits, z = model(x.to(device, non_blocking=True))
            logits, z = logits.float(), z.float()  # the losses and their checks in float32
            loss, terms = objective(logits, z, target.to(device), labels.to(device), factors)
            if not torch.isfinite(loss):
                bad = [f"{k}={v.item():.4g}" for k, v in terms.items() if not torch.isfinite(v)]
                raise TrainingDiverged(
                    f"loss became {loss.item()} at epoch {epoch + 1}, step {step + 1} "
                    f"(non-finite term(s): {', '.join(bad) or 'none; their weighted sum overflowed'}); "
                    f"{lower_rates(config)}"
                )
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            schedule.step()
            step += 1
            values = {k: v.item() for k, v in {"loss": loss, **terms}.items()}
            first_terms = first_terms or values
            if on_step is not None:
                on_step(step, values)
            check_growth(first_terms, values, epoch + 1, step, config)
            for k, v in values.items():
                totals[k] = totals.get(k, 0.0) + v * len(index)
            correct += (logits.argmax(1).cpu() == labels).sum().item()
            seen += len(index)
        train_seconds = time.perf_counter() - epoch_start
        record = {
            "epoch": epoch + 1,
            **{f"train_{k}": v / seen for k, v in totals.items()},
            "train_accuracy_running": correct / seen,
            "lr": schedule.get_last_lr()[0],
            "train_seconds": train_seconds,
        }
        # Logged only (no decision reads it), so only every eval_every epochs and at the end.
        if (epoch + 1) % config.recipe.eval_every == 0 or epoch + 1 == config.recipe.epochs:
            record["test_accuracy"] = accuracy(embed(model, test_split, num_frames, device)[0], test_split.labels)
        history.append(record)
        epochs.set_postfix(loss=f"{record['train_loss']:.3f}", test=f"{record.get('test_accuracy', float('nan')):.3f}")

    test_logits, test_z = embed(model, test_split, num_frames, device)
    train_logits, train_z = embed(model, train_split, num_frames, device)
    check_learned(accuracy(train_logits, train_split.labels), train_split.labels, config)
    outputs = (train_logits, train_z, train_split), (test_logits, test_z, test_split)
    validation = None
    if "validation" in splits:  # a training speaker held out: settings are chosen on it
        validation = (*embed(model, splits["validation"], num_frames, device), splits["validation"])
    metrics, embeddings = evaluate(config, info, model, objective.prototypes, *outputs, validation)
    if config.measures_factors:
        factor_metrics, factor_embeddings = evaluate_factors(config, info, model, objective.prototypes, *outputs)
        metrics["factors"] = factor_metrics
        embeddings.update(factor_embeddings)
    if config.novel_classes:  # classes training never saw, embedded by the trained backbone
        novel = {
            name: (*embed(model, splits[name], num_frames, device), splits[name])
            for name in ("novel_support", "novel_query")
        }
        novel_metrics, novel_embeddings = evaluate_novel(novel, objective.prototypes, seed=config.seed)
        metrics["novel"] = novel_metrics
        embeddings.update(novel_embeddings)
    return {
        "config": config.to_dict(),
        **provenance(),
        "device": str(device),
        "torchaudio_version": torchaudio.__version__,
        "threads": torch.get_num_threads(),
        "data": info,
        "history": history,
        "metrics": as_numpy_record(metrics),
        "wall_time_s": time.perf_counter() - started,
        "embeddings": embeddings,
        "weights": {
            **{f"model.{k}": v for k, v in model.state_dict().items()},
            **{f"objective.{k}": v for k, v in objective.state_dict().items()},
        },
    }


def run(config: RunConfig, progress: bool = True) -> dict:
    """Check that ``config`` can run here (``preflight.check``), train it and, if ``config.out``
    is set, write model.safetensors (the trained weights, ``load_run`` reads them),
    embeddings.npz, then metrics.json (which records the model file's SHA-256)."""
    from safetensors.torch import save

    check(config)
    result = train(config, progress)
    embeddings, weights = result.pop("embeddings"), result.pop("weights")
    if config.out:
        out = Path(config.out)
        out.mkdir(parents=True, exist_ok=True)
        state = save({k: v.detach().cpu().contiguous() for k, v in weights.items()}, metadata=model_metadata(result))
        result["model_sha256"] = hashlib.sha256(state).hexdigest()  # ties the summary to these weights (load_run)
        atomic_write(out / MODEL_FILE, lambda f: f.write(state))
        atomic_write(out / "embeddings.npz", lambda f: np.savez_compressed(f, **embeddings))
        text = json.dumps(result, indent=1, sort_keys=True).encode()
        atomic_write(out / "metrics.json", lambda f: f.write(text))
    result["embeddings"] = embeddings
    return result


MODEL_FILE = "model.safetensors"


def model_metadata(record: dict) -> dict[str, str]:
    """What a model file carries of the run that trained it (safetensors' text header): the run
    id, the digest of the configuration's identity and the training commit.

    >>> meta = model_metadata({"config": RunConfig(loss="ce").to_dict(), "git_commit": "abc"})
    >>> meta["run_id"] == RunConfig(loss="ce").run_id(), meta["git_commit"]
    (True, 'abc')
    """
    config = RunConfig.from_summary(record)
    return {
        "run_id": config.run_id(),
        "config_sha256": config.digest(),
        "git_commit": str(record.get("git_commit", "unknown")),
    }
