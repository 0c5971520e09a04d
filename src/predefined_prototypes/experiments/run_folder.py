"""A finished run's folder read back: its configuration, its trained model (verified to be this
run's) and its summary. Sits above the store (it reads the summary as the store checks it) and
the trainer (it rebuilds the model the trainer built), with the runner, since it loads torch.
"""

from __future__ import annotations

import zipfile
from pathlib import Path
from typing import NamedTuple

import numpy as np
import torch

from ..run.config import RunConfig
from ..run.models import Model
from ..run.train import MODEL_FILE, build_model, model_metadata
from ..storage.manifest import file_digest
from ..storage.store import read_summary


class WrongModel(ValueError):
    """A run folder's weights are not the weights of the run its summary describes."""


class TrainedRun(NamedTuple):
    config: RunConfig
    model: Model  # in eval mode, on the CPU
    objective: torch.nn.Module  # holds the prototypes, if the loss has them
    record: dict  # the run's metrics.json


def load_run(path: str | Path) -> TrainedRun:
    """A finished run's configuration, its trained model ready to evaluate, its objective (with
    the prototypes) and its metrics.json, from the folder it wrote (``runs/<sweep>/<id>/``).

    Weights are kept in the git-ignored run folder (not under results/): rerun the run's
    configuration (``python -m predefined_prototypes train <config>``, or its sweep) to get them.

    It verifies that the weights are this run's: the model file's header names the run id and
    configuration digest of the summary beside it (and of the folder, when named by an id), and
    every fixed buffer (the prototypes) is the one the configuration builds. Any mismatch raises
    WrongModel naming the file.
    """
    from safetensors import SafetensorError, safe_open
    from safetensors.torch import load_file

    path = Path(path)
    model_file = path / MODEL_FILE
    if not model_file.is_file():
        raise FileNotFoundError(
            f"no {MODEL_FILE} in {path}: weights stay in the run's own folder (runs/<sweep>/<id>/), "
            "not under results/; train the run again to get them"
        )
    record = read_summary(path)
    config = RunConfig.from_summary(record)
    retrain = "train the run again (its sweep, or python -m predefined_prototypes train ...)"
    try:
        with safe_open(model_file, "pt") as f:
            header = f.metadata() or {}
        state = load_file(model_file)
    except (SafetensorError, OSError, ValueError) as err:
        raise WrongModel(f"{model_file} cannot be read as safetensors ({err}); {retrain}") from None
    expected = model_metadata(record)
    for key in ("run_id", "config_sha256"):
        if header.get(key) != expected[key]:
            raise WrongModel(
                f"{model_file}: its header says {key} {header.get(key)!r}, but the summary beside it is "
                f"{expected[key]!r}: these weights belong to another run; {retrain}"
            )
    if _looks_like_id(path.name) and path.name != expected["run_id"]:
        raise WrongModel(f"{model_file}: the weights of run {expected['run_id']} in the folder of run {path.name}")
    recorded = record.get("model_sha256")  # runs trained before it was recorded have none
    if recorded is not None and file_digest(model_file) != recorded:
        raise WrongModel(
            f"{model_file}: its SHA-256 is not the one its run recorded in metrics.json (changed after training); "
            f"{retrain}"
        )
    broken = [name for name, tensor in state.items() if tensor.is_floating_point() and not tensor.isfinite().all()]
    if broken:
        raise WrongModel(
            f"{model_file}: {broken[0]} holds NaN or infinite values ({len(broken)} such tensor(s)); {retrain}"
        )
    model, objective = build_model(config, len(record["data"]["classes"]), record["data"]["num_frames"])
    built = {name: buffer.clone() for name, buffer in objective.named_buffers()}  # loading copies in place
    try:
        model.load_state_dict({k.removeprefix("model."): v for k, v in state.items() if k.startswith("model.")})
        objective.load_state_dict(
            {k.removeprefix("objective."): v for k, v in state.items() if k.startswith("objective.")}
        )
    except RuntimeError as err:
        raise WrongModel(
            f"{model_file}: its tensors do not fit the configured model ({str(err)[:300]}); {retrain}"
        ) from None
    for name, buffer in objective.named_buffers():
        if not torch.equal(buffer, built[name]):
            raise WrongModel(
                f"{model_file}: its objective.{name} is not the one the configuration builds "
                f"({config.loss_options}); {retrain}"
            )
    evaluated = _evaluated_classifier(path)
    if evaluated is not None and not np.array_equal(model.classifier.weight.detach().float().numpy(), evaluated):
        raise WrongModel(
            f"{model_file}: its classifier is not the one the run evaluated (embeddings.npz's classifier_weight): "
            f"another run's weights or edited ones; {retrain}"
        )
    return TrainedRun(config, model.eval(), objective.eval(), record)


def _evaluated_classifier(folder: Path) -> np.ndarray | None:
    """The classifier weight the run's evaluation stored beside its summary, where it did."""
    try:
        with np.load(folder / "embeddings.npz") as npz:
            return npz["classifier_weight"] if "classifier_weight" in npz.files else None
    except (OSError, ValueError, zipfile.BadZipFile, EOFError):
        return None


def _looks_like_id(name: str) -> bool:
    return len(name) == 12 and all(c in "0123456789abcdef" for c in name)
