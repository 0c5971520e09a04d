"""After training: embeddings of a split, and the run's metrics and stored test outputs."""

from __future__ import annotations

import numpy as np
import torch
from torch import Tensor, nn

from ..method.registry import FACTOR_NAMES, LOSSES
from .config import RunConfig
from .factors import QuantileDiscretizer
from .features import ClipFeatures, FeatureSettings, Normalizer
from .interventions import edited_inputs
from .metrics import (
    accuracy,
    class_means,
    collapse_geometry,
    confusion_matrix,
    embedding_geometry,
    expected_calibration_error,
    factor_fit,
    factor_probes,
    few_shot_accuracy,
    fit_temperature,
    macro_f1,
    mean_level_shift,
    nearest_codes,
    one_hot_labels,
    prototype_fit,
    span_energy,
)
from .models import Model
from .schema import EDITS, FEW_SHOT_K
from .splits import Split, prepare_splits


@torch.inference_mode()
def embed(
    model: Model, split: Split, num_frames: int, device: torch.device, batch_size: int = 256
) -> tuple[Tensor, Tensor]:
    """Logits and z of every clip of ``split`` (fixed crop from the start), in order."""
    model.eval()
    logits, zs = [], []
    for start in range(0, len(split), batch_size):
        index = torch.arange(start, min(start + batch_size, len(split)))
        out, z = model(split.batch(index, num_frames).to(device))
        logits.append(out.float().cpu())
        zs.append(z.float().cpu())
    return torch.cat(logits), torch.cat(zs)


def evaluate(
    config: RunConfig,
    info: dict,
    model: Model,
    prototypes: nn.Module | None,
    train: tuple[Tensor, Tensor, Split],
    test: tuple[Tensor, Tensor, Split],
    validation: tuple[Tensor, Tensor, Split] | None = None,
) -> tuple[dict, dict]:
    """The run's metrics (test accuracy, macro-F1, ECE, training accuracy, confusion matrix,
    geometry, for a loss with prototypes their fit on the training clips, and with a validation
    speaker its accuracy and ECE and the test ECE after temperature scaling fitted on it) and the
    test outputs to store, from the (logits, z, split) of each split."""
    (train_logits, train_z, train_split), (test_logits, test_z, test_split) = train, test
    num_classes = len(info["classes"])
    matrix = prototypes.matrix.detach().float().cpu() if prototypes is not None else None
    metrics = {
        "accuracy": accuracy(test_logits, test_split.labels),
        "macro_f1": macro_f1(test_logits, test_split.labels, num_classes),
        "ece": expected_calibration_error(test_logits, test_split.labels),
        "train_accuracy": accuracy(train_logits, train_split.labels),
        "confusion_matrix": confusion_matrix(test_logits, test_split.labels, num_classes),
        "geometry": embedding_geometry(
            test_z,
            test_split.labels,
            num_classes,
            matrix if LOSSES[config.loss].class_prototypes else None,
        ),
    }
    if validation is not None:
        validation_logits, _, validation_split = validation
        temperature = fit_temperature(validation_logits, validation_split.labels)
        metrics["validation"] = {
            "accuracy": accuracy(validation_logits, validation_split.labels),
            "ece": expected_calibration_error(validation_logits, validation_split.labels),
            "temperature": temperature,
            "test_ece_scaled": expected_calibration_error(test_logits / temperature, test_split.labels),
        }
    # Fit on the training clips (fixed crop from the start, as evaluated): whether the pull reached
    # the prototypes at all, which every reading of a prototype's effect depends on.
    if LOSSES[config.loss].factor_blocks:
        metrics["fit"] = factor_fit(
            train_z, train_split.factor_levels, prototypes.blocks, list(config.factors), config.loss_options.scale
        )
        metrics["fit"]["residual_distance"] = train_z[:, prototypes.residual].double().pow(2).mean().item()
    elif matrix is not None:
        metrics["fit"] = prototype_fit(train_z, train_split.labels, matrix)
    embeddings = {
        "z": test_z.numpy(),
        "logits": test_logits.numpy(),
        "labels": test_split.labels.numpy(),
        "speakers": np.array(test_split.dataset.speakers),
        "paths": np.array([c.path.name for c in test_split.dataset.clips]),
        "classes": np.array(info["classes"]),
        "classifier_weight": model.classifier.weight.detach().float().cpu().numpy(),
        "classifier_bias": model.classifier.bias.detach().float().cpu().numpy(),
    }
    if matrix is not None:
        embeddings["prototypes"] = matrix.numpy()
    return metrics, embeddings


def evaluate_factors(
    config: RunConfig,
    info: dict,
    model: Model,
    prototypes: nn.Module | None,
    train: tuple[Tensor, Tensor, Split],
    test: tuple[Tensor, Tensor, Split],
) -> tuple[dict, dict]:
    """Where factors are measured: how well the embedding carries each factor, and what editing
    the audio does to it (metrics, and the outputs to store).

    Probes (balanced accuracy; chance, the best constant guess, is 1 / the levels the test
    speaker has) predict each factor's level on the test speaker
    from: the whole z; the emotion label alone (what a factor owes to the emotion); and with
    factor prototypes, each factor's block, the residual block, and the residual with the
    emotion label (the residual's information beyond emotion is that minus the label alone).
    Edits (``interventions.EDITS``) of every test clip are embedded by the trained model: per
    edit, the measured factors' mean level shift, the mean level shift decoded from z (by each
    block's nearest level code with factor prototypes, and by the whole-z probe), and how often
    the predicted emotion changes."""
    (_, train_z, train_split), (test_logits, test_z, test_split) = train, test
    names, classes = list(config.factors), len(info["classes"])
    sources = {"whole": (train_z, test_z)}
    blocks = prototypes.blocks if LOSSES[config.loss].factor_blocks else None
    if blocks is not None:
        sources.update({f"block_{n}": (train_z[:, b], test_z[:, b]) for n, b in zip(names, blocks)})
        sources["residual"] = (train_z[:, prototypes.residual], test_z[:, prototypes.residual])
    train_emotion = one_hot_labels(train_split.labels, classes)
    test_emotion = one_hot_labels(test_split.labels, classes)
    sources["emotion"] = (train_emotion, test_emotion)
    if blocks is not None:
        sources["residual_emotion"] = (
            torch.cat([train_z[:, prototypes.residual].double(), train_emotion], dim=1),
            torch.cat([test_z[:, prototypes.residual].double(), test_emotion], dim=1),
        )
    scores, probes = factor_probes(
        {k: v[0] for k, v in sources.items()},
        {k: v[1] for k, v in sources.items()},
        train_split.factor_levels,
        test_split.factor_levels,
        names,
    )
    # A constant guess scores 1 / (levels the test speaker has) in balanced accuracy, not 1 / levels.
    present = [len(torch.unique(test_split.factor_levels[:, i])) for i in range(len(names))]
    metrics = {"probes": scores, "probe_chance": {n: 1 / k for n, k in zip(names, present)}}

    discretizer = QuantileDiscretizer(config.factor_level_counts())
    discretizer.cut_points = [np.array(info["factor_cut_points"][n]) for n in names]
    edited = embed_edited(model, test_split, config, info)
    metrics["interventions"], embeddings = {}, {}
    predicted = test_logits.argmax(dim=1)

    def read_by_probe(n: str, z: Tensor) -> Tensor:  # levels [N, 1] the whole-z probe reads
        return torch.from_numpy(probes[n]["whole"].predict(z.double().numpy()))[:, None]

    readable = [n for n in names if "whole" in probes[n]]  # a one-level factor has no probe
    read_before = {n: read_by_probe(n, test_z) for n in readable}
    for edit in EDITS:
        logits, z, measured, valid = edited[edit.name]
        # An edit of the audio leaves a clip's labels (a labelled factor) as they were.
        values = torch.stack(
            [
                measured[:, FACTOR_NAMES.index(n)] if n in FACTOR_NAMES else test_split.factor_values[:, i]
                for i, n in enumerate(names)
            ],
            dim=1,
        )
        valid = valid if config.factor_filter else torch.isfinite(measured).all(dim=1)
        # Originals all passed the validity filter; an edit can push a clip out of it (pitch
        # above 275 Hz), and such a clip has no measured level.
        change = {n: (values[valid, i] - test_split.factor_values[valid, i]).mean().item() for i, n in enumerate(names)}
        if "pitch_median" in names:  # pitch changes are heard, and asked for, in semitones
            i = names.index("pitch_median")
            change["pitch_median_semitones"] = (
                (12 * torch.log2(values[valid, i] / test_split.factor_values[valid, i])).mean().item()
            )
        result = {
            "emotion_flip_rate": (logits.argmax(dim=1) != predicted).double().mean().item(),
            "measured_change": change,
            "measured_shift": dict(
                zip(names, mean_level_shift(test_split.factor_levels[valid], discretizer.transform(values[valid])))
            ),
            "measured_valid": valid.double().mean().item(),
            "probe_shift": {
                n: mean_level_shift(read_before[n], read_by_probe(n, z))[0] if n in readable else float("nan")
                for n in names
            },
        }
        if blocks is not None:  # the intervention x block matrix's row for this edit
            result["code_shift"] = dict(
                zip(names, mean_level_shift(nearest_codes(test_z, blocks), nearest_codes(z, blocks)))
            )
        metrics["interventions"][edit.name] = result
        embeddings.update(
            {
                f"edit_{edit.name}_z": z.numpy(),
                f"edit_{edit.name}_logits": logits.numpy(),
                f"edit_{edit.name}_factor_values": values.numpy(),
            }
        )
    embeddings.update(
        factor_names=np.array(names),
        factor_levels=test_split.factor_levels.numpy(),
        factor_values=test_split.factor_values.numpy(),
        train_z=train_z.numpy(),
        train_labels=train_split.labels.numpy(),
        train_factor_levels=train_split.factor_levels.numpy(),
        train_factor_values=train_split.factor_values.numpy(),
    )
    return metrics, embeddings


def pooled_input(split: Split, num_frames: int) -> Tensor:
    """Each clip's mean and standard deviation over time of the normalised log-mel frames the
    model is evaluated on (its first ``num_frames``, padding excluded): [N, 2 * mel].

    >>> split = Split(None, torch.tensor([[[1.0], [3.0], [0.0]], [[2.0], [2.0], [2.0]]]), torch.tensor([2, 3]), torch.tensor([0, 1]))
    >>> pooled_input(split, 3).tolist()
    [[2.0, 1.0], [2.0, 0.0]]
    """
    frames = split.batch(torch.arange(len(split)), num_frames)
    inside = (torch.arange(num_frames)[None, :] < split.lengths[:, None]).unsqueeze(-1)
    count = inside.sum(dim=1).clamp(min=1)
    mean = (frames * inside).sum(dim=1) / count
    spread = (((frames - mean[:, None]) ** 2 * inside).sum(dim=1) / count).sqrt()
    return torch.cat([mean, spread], dim=1)


def input_factor_probes(config: RunConfig) -> dict[str, float]:
    """How well each factor's level can be read from the input itself, by the probe the
    embeddings get (``metrics.factor_probes``) on the pooled log-mel frames (``pooled_input``) of
    the run's data: what the front end hands the network, before any training. A block that reads
    its factor worse than this has lost what a linear read of the input finds; a factor this probe
    cannot read is hard to read from a summary of the input, whatever the method."""
    splits, info = prepare_splits(config)
    train_x, test_x = (pooled_input(splits[name], info["num_frames"]) for name in ("train", "test"))
    names = list(config.factors)
    scores, _ = factor_probes(
        {"input": train_x}, {"input": test_x}, splits["train"].factor_levels, splits["test"].factor_levels, names
    )
    return {name: scores[name]["input"] for name in names}


def embed_edited(model: Model, test_split: Split, config: RunConfig, info: dict) -> dict[str, tuple]:
    """For each edit: logits, z, measured factor values [N, 3] and validity of the edited test
    clips, in the test split's order (edited audio and its factors come from the cache)."""
    settings = FeatureSettings(num_mel_bins=config.num_mel_bins, front_end=config.front_end)
    normalize = Normalizer(**info["normalizer"])
    edited = edited_inputs(test_split.dataset.files, settings, test_split.dataset.clip_samples)
    device = next(model.parameters()).device
    out = {}
    for name, entry in edited.items():
        features = ClipFeatures(entry["frames"], entry["offsets"])
        split = Split.build(
            test_split.dataset, [normalize(features[i]) for i in range(len(features))], info["num_frames"]
        )
        logits, z = embed(model, split, info["num_frames"], device)
        out[name] = (logits, z, entry["values"], entry["valid"])
    return out


# Support examples per novel class in the few-shot evaluation, and random support draws per k.
FEW_SHOT_DRAWS = 200


def evaluate_novel(novel: dict, prototypes: nn.Module | None, seed: int = 0) -> tuple[dict, dict]:
    """Few-shot accuracy on the held-out classes (nearest class mean from k support clips of the
    training speakers, queried with the test speaker's clips; ``FEW_SHOT_DRAWS`` draws per k) and
    the geometry of the novel classes (NC1, and the share of their class-mean energy inside the
    span of the base prototypes), with the embeddings to store."""
    (_, support_z, support), (_, query_z, query) = novel["novel_support"], novel["novel_query"]
    classes = len(query.dataset.classes)
    metrics = {
        f"few_shot_{k}": few_shot_accuracy(support_z, support.labels, query_z, query.labels, k, FEW_SHOT_DRAWS, seed)
        for k in FEW_SHOT_K
    }
    geometry = collapse_geometry(query_z, query.labels, classes)
    metrics["nc1"] = geometry["nc1"]
    if prototypes is not None and bool(prototypes.matrix.norm(dim=1).gt(0).all()):
        metrics["prototype_span_energy"] = span_energy(
            class_means(query_z, query.labels, classes), prototypes.matrix.detach().float().cpu()
        )
    embeddings = {
        "novel_support_z": support_z.numpy(),
        "novel_support_labels": support.labels.numpy(),
        "novel_query_z": query_z.numpy(),
        "novel_query_labels": query.labels.numpy(),
        "novel_classes": np.array(query.dataset.classes),
    }
    return metrics, embeddings
