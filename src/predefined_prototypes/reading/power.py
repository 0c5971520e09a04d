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

from scipy import stats

POWER = 0.8


def detection_power(difference: float, sd: float, folds: int, alpha: float) -> float:
    """The chance that a two-sided paired t-test at ``alpha`` over ``folds`` folds rejects 0 when
    the true mean difference is ``difference`` and the folds' SD is ``sd`` (noncentral t)."""
    if folds < 2 or sd <= 0:
        return float("nan")
    df = folds - 1
    critical = stats.t.ppf(1 - alpha / 2, df)
    shift = difference / (sd / math.sqrt(folds))
    return float(stats.nct.sf(critical, df, shift) + stats.nct.cdf(-critical, df, shift))


def minimum_detectable_difference(sd: float, folds: int, alpha: float, power: float = POWER) -> float:
    """The smallest true difference (in the metric's units) found with ``power``."""
    if folds < 2 or not sd > 0:
        return float("nan")
    low, high = 0.0, 100 * sd
    for _ in range(100):  # bisection: power rises with the difference
        middle = (low + high) / 2
        low, high = (middle, high) if detection_power(middle, sd, folds, alpha) < power else (low, middle)
    return high


def equivalence_power(sd: float, folds: int, margin: float, alpha: float) -> float:
    """The chance that the 1 - 2 alpha interval of the mean difference lies inside (-margin,
    margin) when the true difference is 0: the mean must fall within margin - t se of 0 (the
    fold SD taken as known, which slightly flatters small designs)."""
    if folds < 2 or not sd > 0:
        return float("nan")
    se = sd / math.sqrt(folds)
    room = margin - stats.t.ppf(1 - alpha, folds - 1) * se
    return float(max(0.0, 2 * stats.norm.cdf(room / se) - 1))


def folds_for(sd: float, margin: float, alpha: float, power: float = POWER, most: int = 1000) -> int | None:
    """The fewest folds with which equivalence within ``margin`` is shown with ``power`` when the
    true difference is 0 (None beyond ``most``)."""
    for folds in range(2, most + 1):
        if equivalence_power(sd, folds, margin, alpha) >= power:
            return folds
    return None


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
    sd = float(stats.tstd(values)) if len(values) > 1 else float("nan")
    return {
        "sd": sd,
        "folds": folds,
        "alpha": alpha,
        "margin": margin,
        "mdd": minimum_detectable_difference(sd, folds, alpha),
        "equivalence_power": equivalence_power(sd, folds, margin, alpha),
        "folds_for_equivalence": folds_for(sd, margin, alpha),
    }
