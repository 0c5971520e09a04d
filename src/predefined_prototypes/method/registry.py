"""The losses a run can train with and the methods the book compares, declared once, without torch.

Each loss names the class that trains with it (``"module:Class"``: ``".losses"`` is this
package's, any other importable module works too), its display name, and its options class
(``options.py``: a small dataclass that checks its own values). A run holds one instance of its
loss's options, and only those enter its id: cross-entropy has no ``scale``, so it is one run
whatever ``scale`` a sweep file gives the prototypes beside it.

A method is a set of runs the book compares (a loss; the prototype loss at a given construction
and norm; cross-entropy with one regulariser): its key, the configuration values that select its
runs, its label and colour, in display order. ``method_of`` is the one grouping of runs into
methods: the results loader names every run's method with it, and tables, statistics, verdicts
and figures take methods from there.

Adding a loss is one ``Objective`` subclass (``losses.py``, or a module of your own), its options
class, one entry in ``LOSSES`` and, for the book to compare it, one in ``METHODS``.

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


@dataclass(frozen=True)
class Method:
    label: str
    # configuration values a run of the method has (a callable tests the value); other fields are free
    selects: dict
    colour: str

    def holds(self, row) -> bool:
        """Whether a run (a results-table row or a configuration mapping) belongs to the method."""
        return all(_same(row.get(k), v) for k, v in self.selects.items())


def _same(value, wanted) -> bool:
    if callable(wanted):
        return wanted(value)
    if isinstance(wanted, float):
        try:
            return float(value) == wanted
        except (TypeError, ValueError):
            return False
    return value == wanted


def is_set(value) -> bool:
    """Whether a switch or an amount is on: True or a positive number, also as a table cell reads
    back ("True", "0.1"); unset, False, 0 and NaN are off.

    >>> [is_set(v) for v in (True, "True", 0.1, "0.1", False, "False", 0.0, None, float("nan"))]
    [True, True, True, True, False, False, False, False, False]
    """
    if isinstance(value, str):
        value = {"True": 1.0, "False": 0.0}.get(value, value)
    try:
        return float(value or 0) > 0  # NaN > 0 is False
    except (TypeError, ValueError):
        return False


def is_unset(value) -> bool:
    return not is_set(value)


def factor_list(value) -> str:
    """A run's factors as one comma-separated string (a table cell holds the string, a
    configuration the tuple)."""
    return value if isinstance(value, str) else ",".join(value)


def pulls_every_factor(value) -> bool:
    return factor_list(value) == ",".join(FACTOR_NAMES)


METHODS: dict[str, Method] = {
    "ce": Method(
        LOSSES["ce"].display,
        {"loss": "ce", "optimizer": "adam", "label_smoothing": is_unset, "specaugment": is_unset},
        "#4d4d4d",
    ),
    # Cross-entropy with each regulariser a tuned baseline is given (its knob chosen on validation).
    "ce_weight_decay": Method("CE + weight decay (AdamW)", {"loss": "ce", "optimizer": "adamw"}, "#737373"),
    "ce_label_smoothing": Method("CE + label smoothing", {"loss": "ce", "label_smoothing": is_set}, "#969696"),
    "ce_specaugment": Method("CE + SpecAugment", {"loss": "ce", "specaugment": is_set}, "#bdbdbd"),
    "focal": Method(f"{LOSSES['focal'].display} (γ = 2)", {"loss": "focal"}, "#8c6d31"),
    "opl": Method(LOSSES["opl"].display, {"loss": "opl"}, "#6b6ecf"),
    "zero_prototypes": Method("zero-prototype control", {"loss": "prototypes", "prototypes": "zero"}, "#9467bd"),
    "prototypes": Method(
        f"{LOSSES['prototypes'].display}, s = 1",
        {"loss": "prototypes", "prototypes": "orthogonal", "scale": 1.0},
        "#d62728",
    ),
    "prototypes_s10": Method(
        f"{LOSSES['prototypes'].display}, s = 10",
        {"loss": "prototypes", "prototypes": "orthogonal", "scale": 10.0},
        "#ff7f0e",
    ),
    "learned_prototypes": Method(LOSSES["learned_prototypes"].display, {"loss": "learned_prototypes"}, "#2ca02c"),
    "factor_prototypes": Method(
        LOSSES["factor_prototypes"].display,
        {"loss": "factor_prototypes", "factors": pulls_every_factor, "factor_levels": float(FACTOR_LEVELS)},
        "#17becf",
    ),
}


def method_of(row) -> str:
    """The method a run belongs to, the one grouping of runs every table, statistic, verdict and
    figure uses: the key of the first method in ``METHODS`` that holds it; a run of none (an
    ablation's variant) gets its loss, or for the prototype losses their construction and norm,
    or their factors and levels.

    >>> method_of({"loss": "ce", "optimizer": "adam", "label_smoothing": 0.0, "specaugment": False})
    'ce'
    >>> [method_of({"loss": "ce", "optimizer": o, "label_smoothing": ls, "specaugment": sa})
    ...  for o, ls, sa in [("adamw", 0.0, False), ("adam", 0.1, False), ("adam", 0.0, "True")]]
    ['ce_weight_decay', 'ce_label_smoothing', 'ce_specaugment']
    >>> [method_of({"loss": "prototypes", "prototypes": p, "scale": s})
    ...  for p, s in [("orthogonal", 1.0), ("orthogonal", 10.0), ("zero", 1.0), ("gaussian", 1.0), ("orthogonal", 50.0)]]
    ['prototypes', 'prototypes_s10', 'zero_prototypes', 'prototypes_gaussian', 'prototypes_s50']
    >>> [method_of({"loss": "factor_prototypes", "factors": f, "factor_levels": n})
    ...  for f, n in [("pitch_median,pitch_std,loudness", 6), ("loudness", 6), ("pitch_median,pitch_std,loudness", 3)]]
    ['factor_prototypes', 'factor_prototypes[loudness]', 'factor_prototypes_L3']
    """
    for key, method in METHODS.items():
        if method.holds(row):
            return key
    if row["loss"] == "prototypes":
        name = "prototypes" if row["prototypes"] == "orthogonal" else f"prototypes_{row['prototypes']}"
        return name if float(row["scale"]) == 1.0 else f"{name}_s{float(row['scale']):g}"
    if row["loss"] == "factor_prototypes":
        factors = row["factors"]
        name = "factor_prototypes" if pulls_every_factor(factors) else f"factor_prototypes[{factor_list(factors)}]"
        return name if int(row["factor_levels"]) == FACTOR_LEVELS else f"{name}_L{int(row['factor_levels'])}"
    return row["loss"]
