"""What a design of fold-paired comparisons can detect, before and after it is run.

A comparison here is a paired t-test over n independent folds (seeds averaged within each fold
first), at a level corrected for the m comparisons read together; equivalence is two one-sided
tests within a margin at the same level (Lakens 2017). Given the fold-to-fold SD of the paired
differences, measured by a pilot or by the run itself:

- ``minimum_detectable_difference``: the smallest true difference the design finds with 80 %
  power (two-sided, at alpha / m, the family's Bonferroni level);
- ``equivalence_power``: the chance that equivalence within ``margin`` is shown when the true
  difference is 0 (1 - 2 alpha / m interval inside the margin), and ``folds_for`` how many folds
  either would need.

>>> round(minimum_detectable_difference(sd=0.039, folds=6, alpha=0.05 / 3), 3)
0.073
>>> round(equivalence_power(sd=0.039, folds=6, margin=0.02, alpha=0.05 / 3), 2)
0.0
>>> folds_for(sd=0.02, margin=0.02, alpha=0.05 / 3) <= 30
True
"""

from __future__ import annotations

import math

import numpy as np
from scipy import special  # the t, noncentral t and normal functions; scipy.stats is a second to import

POWER = 0.8


def detection_power(difference, sd: float, folds: int, alpha: float):
    """The chance that a two-sided paired t-test at ``alpha`` over ``folds`` folds rejects 0 when
    the true mean difference is ``difference`` (a number, or an array of them) and the folds' SD
    is ``sd`` (noncentral t)."""
    if folds < 2 or sd <= 0:
        return float("nan")
    df = folds - 1
    critical = special.stdtrit(df, 1 - alpha / 2)
    shift = np.asarray(difference, dtype=float) / (sd / math.sqrt(folds))
    power = 1 - special.nctdtr(df, shift, critical) + special.nctdtr(df, shift, -critical)
    return float(power) if power.ndim == 0 else power


def minimum_detectable_difference(sd: float, folds: int, alpha: float, power: float = POWER) -> float:
    """The smallest true difference (in the metric's units) found with ``power``, to a billionth
    of ``sd``."""
    if folds < 2 or not sd > 0:
        return float("nan")
    low, high = 0.0, 100 * sd
    for _ in range(6):  # each round narrows the bracket 64-fold: power rises with the difference
        grid = np.linspace(low, high, 65)
        # The noncentral t can give NaN far out in the tail, where the power is 1: not below.
        found = ~(detection_power(grid, sd, folds, alpha) < power)
        if not found.any():  # not within 100 SDs: the bracket's top stands, as an "at least"
            break
        first = int(np.argmax(found))
        low, high = grid[max(first - 1, 0)], grid[first]
    return float(high)


def equivalence_power(sd: float, folds, margin: float, alpha: float):
    """The chance that the 1 - 2 alpha interval of the mean difference lies inside (-margin,
    margin) when the true difference is 0: the mean must fall within margin - t se of 0 (the
    fold SD taken as known, which slightly flatters small designs). ``folds`` may be an array."""
    folds = np.asarray(folds)
    if not sd > 0 or (folds.ndim == 0 and folds < 2):
        return float("nan")
    se = sd / np.sqrt(folds)
    room = margin - special.stdtrit(folds - 1, 1 - alpha) * se
    chance = np.maximum(0.0, 2 * special.ndtr(room / se) - 1)
    return float(chance) if chance.ndim == 0 else chance


def folds_for(sd: float, margin: float, alpha: float, power: float = POWER, most: int = 1000) -> int | None:
    """The fewest folds with which equivalence within ``margin`` is shown with ``power`` when the
    true difference is 0 (None beyond ``most``)."""
    if not sd > 0:
        return None
    folds = np.arange(2, most + 1)
    enough = folds[equivalence_power(sd, folds, margin, alpha) >= power]
    return int(enough[0]) if len(enough) else None


def design_power(differences, alpha: float, margin: float, folds: int | None = None) -> dict:
    """What a design of ``folds`` folds (default: as many as ``differences``) can decide, from the
    fold-paired differences a pilot (or the run itself) measured: their SD, the minimum detectable
    difference, the chance of showing equivalence within ``margin`` at no true difference, and
    the folds that chance would need to reach 80 %.

    >>> d = design_power([0.01, -0.02, 0.03, 0.0, 0.015, -0.01], alpha=0.05 / 3, margin=0.02, folds=10)
    >>> round(d["sd"], 4), round(d["mdd"], 3), d["folds"], d["folds_for_equivalence"]
    (0.018, 0.022, 10, 12)
    """
    values = [float(v) for v in differences]
    folds = folds or len(values)
    sd = float(np.std(values, ddof=1)) if len(values) > 1 else float("nan")
    return {
        "sd": sd,
        "folds": folds,
        "alpha": alpha,
        "margin": margin,
        "mdd": minimum_detectable_difference(sd, folds, alpha),
        "equivalence_power": equivalence_power(sd, folds, margin, alpha),
        "folds_for_equivalence": folds_for(sd, margin, alpha),
    }
