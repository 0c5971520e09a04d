"""Checks that a configuration can run on this machine, made before any data is loaded.

``RunConfig`` checks what needs neither data nor torch (names, types, ranges). What depends on
the machine is checked here, in a second or less, so that a typo never costs a run's worth of
data loading and a full training never ends in an unwritable folder: the dataset is where the
config says, the fold exists, the device is there, the output folder takes files.

>>> import tempfile
>>> writable(tempfile.mkdtemp(), "out")
>>> writable("/proc/no-such-place", "out")  # doctest: +ELLIPSIS
Traceback (most recent call last):
...
predefined_prototypes.run.config.ConfigError: out=/proc/no-such-place is not writable (...): pass a folder you can write to
"""

from __future__ import annotations

import json
import tempfile
from functools import cache
from pathlib import Path

from .config import ConfigError, RunConfig


def writable(folder: str | Path, what: str) -> None:
    """Create ``folder`` if needed and write a file there, or raise a ConfigError naming ``what``."""
    try:
        Path(folder).mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=folder, prefix=".write-test-"):
            pass
    except OSError as err:
        raise ConfigError(
            f"{what}={folder} is not writable ({err.strerror or err}): pass a folder you can write to"
        ) from None


@cache
def _folds(dataset: str, data_dir: str | None, options: str = "{}") -> tuple[str, ...]:
    from ..data import dataset_root, folds

    try:
        return tuple(str(f) for f in folds(dataset, dataset_root(dataset, data_dir), **json.loads(options)))
    except (FileNotFoundError, ValueError) as err:  # absent, or not the copy its folds were fixed on
        raise ConfigError(str(err)) from None


def device_available(name: str) -> None:
    if name == "cuda":
        import torch

        if not torch.cuda.is_available():
            raise ConfigError("device=cuda but this machine has no CUDA device: use device=cpu or device=auto")


BEATS_HOW = (
    "clone https://github.com/microsoft/unilm (its beats/ folder holds BEATs.py) and download the "
    "BEATs_iter3_plus_AS2M.pt checkpoint, then pass backbone_options={code: <the beats folder>} and "
    "pretrained=<the .pt file>"
)


def beats_available(code: str | None, checkpoint: str | None) -> None:
    """BEATs is not shipped with this package: the reader's clone of its code and its checkpoint."""
    if not code or not (Path(code) / "BEATs.py").is_file():
        raise ConfigError(f"backbone=beats needs the official BEATs code (no BEATs.py in {code!r}): {BEATS_HOW}")
    if not checkpoint or not Path(checkpoint).is_file():
        raise ConfigError(f"backbone=beats needs a BEATs checkpoint (no file at {checkpoint!r}): {BEATS_HOW}")


def check(config: RunConfig) -> None:
    """Raise a one-line ConfigError if ``config`` cannot run here; return quickly otherwise. What
    the machine lacks (device, backbone code and weights) is checked before the data."""
    device_available(config.device)
    if config.backbone == "beats":
        beats_available(config.backbone_options.code, config.backbone_options.pretrained)
    valid = _folds(config.dataset, config.data_dir, json.dumps(config.dataset_options, sort_keys=True))
    if config.fold is not None and config.fold not in valid:
        raise ConfigError(f"fold={config.fold!r} is not a fold of {config.dataset} here; valid: {', '.join(valid)}")
    if config.out:
        writable(config.out, "out")
