"""What a pilot sweep measured about the design of the full one, before the full one is read: the
fold-to-fold SD of the paired differences (and so the design's power, ``power.design_power``) and
the training curve (and so the epochs).

A pilot trains two methods of the full sweep on every fold, one seed each, with test accuracy at
every epoch; its runs are configurations of the full sweep, reused there. Nothing here reads the
full sweep's results: the design is fixed by what the pilot says.
"""

from __future__ import annotations

import math
from pathlib import Path

import pandas as pd

from ..storage.results import CONFIGS, RESULTS, holds_plan, planned
from .power import design_power, minimum_detectable_difference
from .rules import ACCURACY_MARGIN as MARGIN
from .rules import ALPHA, TRAINING_FLOOR
from .runs import load_results
from .stats import fold_differences

TESTS = 3  # Claim 1's rule reads three comparisons together (Bonferroni)


def pilot_power(
    sweep: str, value: str, baseline: str, results_dir: str | Path = RESULTS, configs_dir: str | Path = CONFIGS
) -> dict:
    """The pilot's fold-paired differences of ``value`` minus ``baseline`` (methods, as
    ``method_of`` names them) and what a design of as many folds can decide at Claim 1's level.

    Returns ``design_power``'s keys, and ``mean`` (the pilot's difference, for the record only:
    no verdict reads it) and ``lowest_train_accuracy``."""
    runs = load_results(sweep, "full", results_dir, configs_dir)
    differences = fold_differences(runs, "accuracy", value, baseline)
    design = design_power(differences, alpha=ALPHA / TESTS, margin=MARGIN)
    return {**design, "mean": float(differences.mean()), "lowest_train_accuracy": float(runs["train_accuracy"].min())}


def epochs_to_train(curves: pd.DataFrame, floor: float = TRAINING_FLOOR) -> int:
    """The first epoch from which every run's running training accuracy stays at or above
    ``floor`` (from the pilot's curves: one row per run and epoch, ``train_accuracy``).

    >>> curves = pd.DataFrame({"run_id": ["a"] * 3 + ["b"] * 3, "epoch": [1, 2, 3] * 2,
    ...                        "train_accuracy": [0.5, 0.98, 0.99, 0.6, 0.9, 0.97]})
    >>> epochs_to_train(curves)
    3
    """
    reached = []
    for _, run in curves.sort_values("epoch").groupby("run_id"):
        below = run[run["train_accuracy"] < floor]
        reached.append(int(below["epoch"].max()) + 1 if len(below) else int(run["epoch"].min()))
    return max(reached)


def design_values(
    pilot: str,
    full: str,
    value: str,
    baseline: str,
    results_dir: str | Path = RESULTS,
    configs_dir: str | Path = CONFIGS,
) -> dict[str, str]:
    """A page's words for a design chosen by its pilot: the pilot's fold SD, the minimum
    detectable difference of the full design, whether ±2-point equivalence is within reach, and
    how much of the full profile is stored."""
    power = pilot_power(pilot, value, baseline, results_dir, configs_dir)
    planned_runs = len(planned(full, "full", configs_dir, results_dir))
    stored = (
        len(load_results(full, "full", results_dir, configs_dir))
        if holds_plan(full, "full", results_dir, configs_dir)
        else 0
    )
    need = power["folds_for_equivalence"]
    reach = (
        f"at this SD ±{100 * MARGIN:g}-point equivalence would be shown with "
        f"{100 * power['equivalence_power']:.0f} % probability at no true difference "
        f"(80 % would need about {need} folds)"
        if need
        else f"at this SD ±{100 * MARGIN:g}-point equivalence is out of reach"
    )
    return {
        "sd": f"{100 * power['sd']:.1f} points",
        "folds": str(power["folds"]),
        "mdd": f"{100 * power['mdd']:.1f} points",
        "reach": reach,
        "stored": f"{stored} of {planned_runs}",
        "pilot_train": f"{100 * power['lowest_train_accuracy']:.1f} %",
    }


def transferred_power(verdict, folds: int, voices_per_fold: int = 1) -> pd.DataFrame:
    """What a new design would detect, read from an earlier verdict's comparisons (their fold SDs,
    one voice per fold): per comparison, the minimum detectable difference at the verdict's family
    level with ``folds`` folds of ``voices_per_fold`` voices each, assuming voices vary
    independently (a fold's SD shrinks by the square root of its voices). An estimate made before
    a run, on another corpus's spread: the run states its own power afterwards.

    >>> from predefined_prototypes.reading.claims.verdict import Comparison, Verdict
    >>> c = Comparison("loudness: carried", 5.0, -3.0, 13.0, 0.995, "Bonferroni over 10", 0.5, False, 9.9, 10, 6.7, "points")
    >>> transferred_power(Verdict("Claim 2", "EmoDB", "undetermined", "", comparisons=(c,)), 12, 2).round(1).to_dict("records")
    [{'now': 9.9, 'new design': 6.1, 'unit': 'points'}]
    """
    rows = {}
    for c in verdict.comparisons:
        tests = int(c.family.split()[-1]) if c.family.startswith("Bonferroni") else 1
        sd = c.sd / math.sqrt(voices_per_fold)
        new = minimum_detectable_difference(sd, folds, ALPHA / tests)
        rows[c.label] = {"now": c.mdd, "new design": new, "unit": c.unit}
    return pd.DataFrame.from_dict(rows, orient="index")
