"""The methods the book compares, and the one grouping of runs into them.

A method is a set of runs (a loss; the prototype loss at a given construction and norm;
cross-entropy with one regulariser): its key, the configuration values that select its runs, its
label and colour, in display order, and the knob a tuned comparison chooses for it. ``method_of``
is the one grouping of runs into methods: ``with_methods`` names every loaded run's method with
it, and tables, statistics, verdicts and figures take methods from there. For the book to compare
a newly registered loss, add its entry to ``METHODS``.
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from ..method.registry import FACTOR_LEVELS, FACTOR_NAMES, LOSSES


@dataclass(frozen=True)
class Method:
    label: str
    # configuration values a run of the method has (a callable tests the value); other fields are free
    selects: dict
    colour: str
    knob: str = ""  # the setting a tuned comparison chooses for it on validation (tuned-baselines)

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
    "ce_weight_decay": Method(
        "CE + weight decay (AdamW)", {"loss": "ce", "optimizer": "adamw"}, "#737373", "weight_decay"
    ),
    "ce_label_smoothing": Method(
        "CE + label smoothing", {"loss": "ce", "label_smoothing": is_set}, "#969696", "label_smoothing"
    ),
    "ce_specaugment": Method("CE + SpecAugment", {"loss": "ce", "specaugment": is_set}, "#bdbdbd", "specaugment"),
    "focal": Method(LOSSES["focal"].display, {"loss": "focal"}, "#8c6d31", "focal_gamma"),
    "opl": Method(LOSSES["opl"].display, {"loss": "opl"}, "#6b6ecf", "opl_weight"),
    "zero_prototypes": Method("zero-prototype control", {"loss": "prototypes", "prototypes": "zero"}, "#9467bd", "lam"),
    "prototypes": Method(
        f"{LOSSES['prototypes'].display}, s = 1",
        {"loss": "prototypes", "prototypes": "orthogonal", "scale": 1.0},
        "#d62728",
        "lam",
    ),
    "prototypes_s10": Method(
        f"{LOSSES['prototypes'].display}, s = 10",
        {"loss": "prototypes", "prototypes": "orthogonal", "scale": 10.0},
        "#ff7f0e",
    ),
    "learned_prototypes": Method(
        LOSSES["learned_prototypes"].display, {"loss": "learned_prototypes"}, "#2ca02c", "lam"
    ),
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


def with_methods(table: pd.DataFrame) -> pd.DataFrame:
    """``table`` with each run's ``method`` (``method_of``, the one grouping of runs)."""
    return table.assign(method=table.apply(method_of, axis=1) if len(table) else pd.Series(dtype=str))


# The tuned-baselines sweep's families: each method with a knob chosen per test speaker on validation.
TUNED_FAMILIES = {key: (method.label, method.knob) for key, method in METHODS.items() if method.knob}
