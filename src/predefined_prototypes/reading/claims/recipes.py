"""Claim 1 on equal recipes (configs/claim1-recipes-*.yaml): cross-entropy, the zero-prototype
control and the predefined prototypes, each trained under the same menu of recipes, at the same
epochs for a given recipe, and read two ways.

A recipe is every training choice except the loss: epochs, optimiser and weight decay, label
smoothing, SpecAugment, waveform mixup (with the binary cross-entropy the authors pair it with).

- **Within a recipe** (the paper's protocol: the pull added to a fixed recipe): each recipe's
  three losses, paired by fold.
- **Tuned against tuned**: each loss takes, per test fold, the recipe with the best validation
  accuracy among its runs that reached the training floor (``choose_recipes``); the chosen runs
  are paired by fold. The verdicts read this one.

Claim 1 is judged in two parts (``claim1.PULL_RULE``, ``claim1.PLACEMENT_RULE``): 1a, the pull
(prototypes − CE decides, control − CE beside it, one family of 2), and 1b, the placement
(prototypes − control, alone). ``RULES`` is what the sweeps record before their first run
(``storage.rules_record``): a verdict whose rules or plan changed after that says what changed.
"""

from __future__ import annotations

import json

import pandas as pd

from ..methods import is_set
from ..rules import ACCURACY_MARGIN, ALPHA, TRAINING_FLOOR
from .claim1 import PLACEMENT_RULE, PULL_RULE

ARMS = ("ce", "zero_prototypes", "prototypes")  # the three losses every recipe trains

SELECTION = (
    "per loss and test fold, runs below the training floor leave the pool first; the recipe with the best "
    "validation accuracy is chosen; a tie goes to the lower validation ECE"
)
COMPARISONS = {
    "Claim 1a": "prototypes − CE (decides) and control − CE, one family (2 comparisons), tuned against tuned",
    "Claim 1b": "prototypes − control, alone, tuned against tuned",
    "within a recipe": "the same three differences at each recipe; 1a's over all recipes as one family, 1b's as another",
}
DECISION = (
    "a comparison differs exactly when its printed interval (1 − α/m for a family of m, Bonferroni) excludes 0; "
    "it is equivalent when the 1 − 2α/m interval lies inside ±margin"
)


def _rule_words(rule: tuple) -> list[list[str]]:
    return [[outcome, condition] for outcome, condition, _ in rule]


RULES = {
    "alpha": ALPHA,
    "accuracy margin": ACCURACY_MARGIN,
    "training floor": TRAINING_FLOOR,
    "decision": DECISION,
    "selection": SELECTION,
    "comparisons": COMPARISONS,
    "Claim 1a rule": _rule_words(PULL_RULE),
    "Claim 1b rule": _rule_words(PLACEMENT_RULE),
}


def is_frozen_probe(row) -> bool:
    """Whether a run is a linear probe of a frozen pretrained encoder (``backbone_options.freeze``):
    a reference beside the arms, not one of them.

    >>> is_frozen_probe({"backbone_options": '{"freeze": true}'}), is_frozen_probe({"backbone_options": "{}"})
    (True, False)
    """
    options = row.get("backbone_options")
    options = json.loads(options or "{}") if isinstance(options, str) else options
    return isinstance(options, dict) and bool(options.get("freeze", False))


def arm_of(row) -> str | None:
    """Which of the three losses a run trains (None: a run of no arm, or a frozen encoder's probe).

    >>> [arm_of(r) for r in ({"loss": "ce"}, {"loss": "prototypes", "prototypes": "zero"},
    ...                      {"loss": "prototypes", "prototypes": "orthogonal"}, {"loss": "focal"},
    ...                      {"loss": "ce", "backbone_options": '{"freeze": true}'})]
    ['ce', 'zero_prototypes', 'prototypes', None, None]
    """
    if is_frozen_probe(row):
        return None
    if row["loss"] == "ce":
        return "ce"
    if row["loss"] == "prototypes":
        return {"zero": "zero_prototypes", "orthogonal": "prototypes"}.get(row["prototypes"])
    return None


def recipe_of(row) -> str:
    """A run's recipe in words, from its training choices (Adam and AdamW at weight decay 0 are the
    same update, so both read "plain").

    >>> recipe_of({"epochs": 45, "weight_decay": 0.0, "label_smoothing": 0.0, "specaugment": False, "mixup": 0.0})
    'plain, 45 epochs'
    >>> recipe_of({"epochs": 120, "weight_decay": 0.0, "label_smoothing": 0.0, "specaugment": "True", "mixup": 0.0})
    'SpecAugment, 120 epochs'
    >>> recipe_of({"epochs": 45, "weight_decay": 0.01, "label_smoothing": 0.1, "specaugment": False, "mixup": 0.5})
    'weight decay 0.01, label smoothing 0.1, mixup p = 0.5, 45 epochs'
    """
    parts = []
    if is_set(row["weight_decay"]):
        parts.append(f"weight decay {float(row['weight_decay']):g}")
    if is_set(row["label_smoothing"]):
        parts.append(f"label smoothing {float(row['label_smoothing']):g}")
    if is_set(row["specaugment"]):
        parts.append("SpecAugment")
    if is_set(row["mixup"]):
        parts.append(f"mixup p = {float(row['mixup']):g}")
    return f"{', '.join(parts) or 'plain'}, {int(row['epochs'])} epochs"


def with_recipes(runs: pd.DataFrame) -> pd.DataFrame:
    """``runs`` of the three arms, with ``arm`` and ``recipe`` columns (runs of no arm dropped)."""
    arms = runs.apply(arm_of, axis=1) if len(runs) else pd.Series(dtype=object)
    out = runs.assign(arm=arms)
    out = out[out["arm"].notna()]
    return out.assign(recipe=out.apply(recipe_of, axis=1) if len(out) else pd.Series(dtype=object))


def choose_recipes(runs: pd.DataFrame, floor: float = TRAINING_FLOOR) -> pd.DataFrame:
    """Tuned against tuned: per arm and test fold, the run whose recipe the validation speakers
    choose (``SELECTION``), with ``candidates`` (runs in the pool) and ``below_floor`` (runs that
    left it). A fold whose every run of an arm is below the floor has no choice for that arm.

    >>> runs = pd.DataFrame({"arm": "ce", "fold": "1", "recipe": ["a", "b", "c"],
    ...                      "train_accuracy": [0.99, 0.96, 0.99], "validation_accuracy": [0.8, 0.9, 0.8],
    ...                      "validation_ece": [0.05, 0.01, 0.03], "accuracy": [0.7, 0.9, 0.75]})
    >>> choose_recipes(runs)[["recipe", "candidates", "below_floor"]].to_dict("records")
    [{'recipe': 'c', 'candidates': 2, 'below_floor': 1}]
    """
    chosen = []
    for _, group in runs.groupby(["arm", "fold"], sort=False):
        pool = group[group["train_accuracy"] >= floor]
        if pool.empty:
            continue
        best = pool.sort_values(["validation_accuracy", "validation_ece"], ascending=[False, True]).iloc[0]
        chosen.append({**best.to_dict(), "candidates": len(pool), "below_floor": len(group) - len(pool)})
    return pd.DataFrame(chosen)


def within_recipe(runs: pd.DataFrame) -> pd.DataFrame:
    """The pull added to a fixed recipe, the paper's protocol: at each recipe that every arm ran in
    every fold of ``runs`` (``with_recipes``'s), prototypes − CE and control − CE read as one family
    over all those recipes, and prototypes − control as another. One row per recipe and comparison:
    the part it belongs to, the difference in points, its interval (level and family) and its
    outcome (``Comparison.outcome``: met, not met, contradicted, undetermined).

    >>> rows = [{"arm": arm, "recipe": r, "fold": f, "seed": 0, "accuracy": a + 0.002 * ((i * j + k) % 5)}
    ...         for k, r in enumerate(["plain", "smoothed"]) for i, f in enumerate("abcdef")
    ...         for j, (arm, a) in enumerate((("ce", 0.70), ("zero_prototypes", 0.74), ("prototypes", 0.74 + k / 20)))]
    >>> table = within_recipe(pd.DataFrame(rows))
    >>> table[table["comparison"] == "prototypes − control"][["recipe", "outcome"]].to_dict("records")
    [{'recipe': 'plain', 'outcome': 'not met'}, {'recipe': 'smoothed', 'outcome': 'met'}]
    """
    from .verdict import Test, together

    folds = runs["fold"].nunique()
    complete = [
        recipe
        for recipe, group in runs.groupby("recipe", sort=False)
        if all(
            (group["arm"] == arm).sum() and group.loc[group["arm"] == arm, "fold"].nunique() == folds for arm in ARMS
        )
    ]
    families = {
        "Claim 1a": [("prototypes − CE", "prototypes", "ce", 1), ("control − CE", "zero_prototypes", "ce", 0)],
        "Claim 1b": [("prototypes − control", "prototypes", "zero_prototypes", 1)],
    }
    rows = []
    for part, comparisons in families.items():
        tests = [
            Test(label, runs[runs["recipe"] == recipe].assign(method=lambda d: d["arm"]), value, baseline,
                 margin=ACCURACY_MARGIN, favoured=favoured)
            for recipe in complete for label, value, baseline, favoured in comparisons
        ]  # fmt: skip
        keys = [(recipe, label) for recipe in complete for label, *_ in comparisons]
        for (recipe, label), c in zip(keys, together(tests) if tests else []):
            rows.append(
                {
                    "part": part,
                    "recipe": recipe,
                    "comparison": label,
                    "difference": c.numbers(),
                    "interval": f"{c.level * 100:.2f}".rstrip("0").rstrip(".") + f" %, {c.family}",
                    "outcome": c.outcome if c.favoured else ("differs" if c.differs else "does not differ"),
                }
            )
    return pd.DataFrame(rows, columns=["part", "recipe", "comparison", "difference", "interval", "outcome"])


def selection_table(runs: pd.DataFrame, chosen: pd.DataFrame) -> pd.DataFrame:
    """What the validation choice did, per arm: the recipes it chose (and in how many folds), the
    runs that left the pool under the training floor, the chosen runs' mean test accuracy, and the
    best recipe in hindsight (the highest mean test accuracy over folds, a choice no one could make
    without the test speakers) with what choosing on validation cost against it."""
    rows = []
    for arm in ARMS:
        picked = chosen[chosen["arm"] == arm] if len(chosen) else chosen
        own = runs[runs["arm"] == arm]
        if own.empty:
            continue
        by_recipe = own.groupby("recipe")["accuracy"].mean()
        counts = picked["recipe"].value_counts() if len(picked) else pd.Series(dtype=int)
        hindsight = by_recipe.idxmax()
        accuracy = picked["accuracy"].mean() if len(picked) else float("nan")
        rows.append(
            {
                "arm": arm,
                "chosen recipes (folds)": "; ".join(f"{r} ({n})" for r, n in counts.items()),
                "runs below the floor": int((own["train_accuracy"] < TRAINING_FLOOR).sum()),
                "chosen accuracy %": 100 * accuracy,
                "best recipe in hindsight": hindsight,
                "its accuracy %": 100 * by_recipe.max(),
                "cost of choosing, points": 100 * (accuracy - by_recipe.max()),
            }
        )
    return pd.DataFrame(rows)
