"""After training: embeddings of a split, and the run's metrics and stored test outputs."""

from __future__ import annotations

import numpy as np
import torch
from torch import Tensor, nn

from .config import RunConfig
from .metrics import (
    accuracy,
    class_means,
    collapse_geometry,
    confusion_matrix,
    disentanglement,
    embedding_geometry,
    expected_calibration_error,
    few_shot_accuracy,
    macro_f1,
    span_energy,
)
from .models import Model
from .prototypes import FactorPrototypes
from .splits import Split


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
) -> tuple[dict, dict]:
    """The run's metrics (test accuracy, macro-F1, ECE, training accuracy, confusion matrix,
    geometry, and the factor probes for factor prototypes) and the test outputs to store, from
    the (logits, z, split) of each split."""
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
            matrix if config.loss in ("prototypes", "learned_prototypes") else None,
        ),
    }
    if isinstance(prototypes, FactorPrototypes):
        metrics["disentanglement"] = disentanglement(
            train_z,
            train_split.factor_levels,
            test_z,
            test_split.factor_levels,
            prototypes.blocks,
            prototypes.residual,
            list(config.factors),
        )
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
    if test_split.factor_levels is not None:
        embeddings.update(
            factor_levels=test_split.factor_levels.numpy(),
            factor_values=test_split.factor_values.numpy(),
            factor_names=np.array(config.factors),
        )
    return metrics, embeddings


# Support examples per novel class in the few-shot evaluation, and random support draws per k.
FEW_SHOT_K = (1, 5, 20)
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
