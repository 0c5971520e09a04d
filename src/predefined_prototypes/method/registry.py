"""The losses a run can train with, declared once, without torch.

Each loss names the class that trains with it (``"module:Class"``: ``".losses"`` is this
package's, any other importable module works too), its display name, and its options class
(``options.py``: a small dataclass that checks its own values). A run holds one instance of its
loss's options, and only those enter its id: cross-entropy has no ``scale``, so it is one run
whatever ``scale`` a sweep file gives the prototypes beside it.

Adding a loss is one ``Objective`` subclass (``losses.py``, or a module of your own), its options
class and one entry in ``LOSSES``; the book groups runs into the methods it compares on its own
side (``reading/methods.py``).

>>> LOSSES["ce"].display, LOSSES["prototypes"].option_names()
('cross-entropy', ('prototypes', 'scale', 'lam', 'bce'))
"""

from __future__ import annotations

import dataclasses
import importlib
from dataclasses import dataclass

from .options import (
    CrossEntropyOptions,
    FactorPrototypeOptions,
    FocalOptions,
    NoOptions,
    OPLOptions,
    PrototypeOptions,
)

# Read by every run that measures the factors (the factor prototypes, or probe_factors=true).
FACTOR_OPTIONS = ("factors", "factor_levels", "factor_filter")
# The acoustic factors a factor run is pulled towards and probed for (``run/factors.py`` measures
# them on any speech), and the levels each is cut into unless a run says otherwise. A dataset may
# label more (``data.labelled_factors``: RAVDESS's intensity), whose levels are its labels.
FACTOR_NAMES = ("pitch_median", "pitch_std", "loudness")
FACTOR_LEVELS = 6


@dataclass(frozen=True)
class Loss:
    objective: str  # "module:Class"; a module starting with "." is one of this package's
    display: str
    options: type = NoOptions  # its options dataclass (``options.py``)
    # What the loss can do, which the configuration, the evaluation and the derived tables ask of
    # its entry (never of its name):
    class_prototypes: bool = False  # one prototype per class: the geometry is measured against them
    factor_blocks: bool = False  # z's blocks pulled to factor-level codes: the factors are measured
    label_smoothing: bool = False  # its cross-entropy accepts label_smoothing
    soft_labels: bool = True  # trains on label probabilities, as mixup gives

    def objective_class(self) -> type:
        """The ``Objective`` subclass (imports torch)."""
        return resolve(self.objective, __package__)

    def option_names(self) -> tuple[str, ...]:
        return tuple(f.name for f in dataclasses.fields(self.options))


def resolve(spec: str, package: str | None):
    """The object a registry entry names, ``"module:name"``, imported only now; a module starting
    with "." is relative to ``package``."""
    module, _, name = spec.partition(":")
    return getattr(importlib.import_module(module, package if module.startswith(".") else None), name)


# Prototype constructions, by name: builder(num_classes, dim, scale, seed) -> [C, k]. Adding one is
# one function and one entry; ``RunConfig`` takes its names from here.
PROTOTYPE_KINDS = {
    "orthogonal": ".prototypes:orthogonal_prototypes",
    "gaussian": ".prototypes:gaussian_prototypes",
    "simplex_etf": ".prototypes:simplex_etf_prototypes",
    "hyperspherical": ".prototypes:hyperspherical_prototypes",
    "zero": ".prototypes:zero_prototypes",
}

LOSSES: dict[str, Loss] = {
    "ce": Loss(".losses:CrossEntropyObjective", "cross-entropy", CrossEntropyOptions, label_smoothing=True),
    "focal": Loss(".losses:FocalObjective", "focal loss", FocalOptions),
    "opl": Loss(".losses:OPLObjective", "CE + OPL", OPLOptions, soft_labels=False),
    "prototypes": Loss(
        ".losses:PrototypeObjective",
        "predefined prototypes",
        PrototypeOptions,
        class_prototypes=True,
        label_smoothing=True,
    ),
    "learned_prototypes": Loss(
        ".losses:LearnedPrototypeObjective",
        "learned prototypes",
        PrototypeOptions,
        class_prototypes=True,
        label_smoothing=True,
    ),
    "factor_prototypes": Loss(
        ".losses:FactorPrototypeObjective",
        "factor prototypes",
        FactorPrototypeOptions,
        factor_blocks=True,
    ),
}


def loss_options() -> dict[str, dict]:
    """Every registered loss's options at their default, by option name: ``{name: {loss: default}}``."""
    options: dict[str, dict] = {}
    for key, loss in LOSSES.items():
        for name, value in dataclasses.asdict(loss.options()).items():
            options.setdefault(name, {})[key] = value
    return options
