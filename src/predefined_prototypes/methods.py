"""The losses a run can train with, declared once, without torch.

Each loss names the class that trains with it (``"module:Class"``, a module of this package or
any importable one), its display name, and the ``RunConfig`` fields it reads beyond those every
run reads. That last list is what a run id covers: a field a loss does not read never enters its
id, so cross-entropy at ``scale=1`` and at ``scale=10`` is one run, trained once.

Adding a loss is one ``Objective`` subclass (``losses.py``, or a module of your own) and one
entry here; the configuration, the trainer and the book read their lists of names from this.

>>> LOSSES["ce"].display, LOSSES["prototypes"].reads
('cross-entropy', ('prototypes', 'scale', 'lam', 'bce'))
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass

# Read by every loss that measures the factors (the factor prototypes, or probe_factors=true).
FACTOR_OPTIONS = ("factors", "factor_levels")


@dataclass(frozen=True)
class Loss:
    objective: str  # "module:Class"; a bare module name is one of this package's
    display: str
    reads: tuple[str, ...] = ()  # RunConfig fields the loss reads that not every loss reads

    def objective_class(self) -> type:
        """The ``Objective`` subclass (imports torch)."""
        module, _, name = self.objective.partition(":")
        package = __package__ if "." not in module else None
        return getattr(importlib.import_module(f".{module}" if package else module, package), name)


PROTOTYPE_OPTIONS = ("prototypes", "scale", "lam", "bce")

LOSSES: dict[str, Loss] = {
    "ce": Loss("losses:CrossEntropyObjective", "cross-entropy", ("bce", "label_smoothing")),
    "focal": Loss("losses:FocalObjective", "focal loss", ("focal_gamma",)),
    "opl": Loss("losses:OPLObjective", "CE + OPL", ("opl_gamma", "opl_weight")),
    "prototypes": Loss("losses:PrototypeObjective", "predefined prototypes", PROTOTYPE_OPTIONS),
    "learned_prototypes": Loss("losses:LearnedPrototypeObjective", "learned prototypes", PROTOTYPE_OPTIONS),
    "factor_prototypes": Loss(
        "losses:FactorPrototypeObjective", "factor prototypes", ("scale", "lam", "bce", *FACTOR_OPTIONS)
    ),
}


def loss_options() -> set[str]:
    """Every field some loss reads and another does not (the fields a loss's declaration decides)."""
    return {name for loss in LOSSES.values() for name in loss.reads} | set(FACTOR_OPTIONS)
