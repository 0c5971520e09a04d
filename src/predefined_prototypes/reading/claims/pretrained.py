"""Claim 1 in the pretrained regime (configs/claim1-recipes-pretrained-*.yaml): the GE2E speaker
encoder fine-tuned with each loss and judged by the recipe design's rules (``recipes.py``), and
what a reader sets beside that verdict: the pilot's choice of encoder rate and epochs, the frozen
encoder's linear probe, calibration before and after temperature scaling, and the from-scratch
answer on the same corpus.
"""

from __future__ import annotations

import json

import pandas as pd

from ...storage.results import derived, holds_plan
from ..design import epochs_to_train
from ..rules import TRAINING_FLOOR
from ..runs import load_results
from ..stats import compare_together, paired_by_fold
from .recipes import ARMS, arm_of, choose_recipes, is_frozen_probe

# corpus -> (the pretrained sweep, its pilot); ``claims.CLAIM1_SWEEPS`` keys them for the verdicts.
PRETRAINED_SWEEPS = {
    "RAVDESS": ("claim1-recipes-pretrained-ravdess", "claim1-pretrained-ravdess-pilot"),
    "EmoDB": ("claim1-recipes-pretrained-emodb", "claim1-pretrained-emodb-pilot"),
}
ENCODER = "pretrained GE2E"  # the regime's name beside a corpus (verdicts, the intro, figures)
ARM_NAMES = {"ce": "CE", "zero_prototypes": "control", "prototypes": "prototypes", "probe": "frozen probe"}
# The pulls' settings in this regime (the pilots' sweep files say why): the paper's lambda = 1, and
# prototypes at s = 10, the norm of the paper's grid {1, 10, 50, 100} nearest the encoder's z.
PULL = {"lam": 1.0, "scale": 10.0}


def pilot_arm(row) -> str | None:
    """A pilot run's arm (``ARM_NAMES``' keys), or None for a pull at other settings than ``PULL``
    (the first plan's, kept as the evidence that replaced it).

    >>> [pilot_arm({"loss": "prototypes", "prototypes": p, "lam": 1.0, "scale": s, "backbone_options": "{}"})
    ...  for p, s in (("orthogonal", 10.0), ("orthogonal", 1.0), ("zero", 1.0))]
    ['prototypes', None, 'zero_prototypes']
    """
    if is_frozen_probe(row):
        return "probe"
    arm = arm_of(row)
    if arm == "ce":
        return arm
    if float(row["lam"]) != PULL["lam"] or (arm == "prototypes" and float(row["scale"]) != PULL["scale"]):
        return None
    return arm


def encoder_rate(runs: pd.DataFrame) -> pd.Series:
    """Each run's encoder learning rate (``backbone_options.encoder_lr``; NaN for a frozen probe).

    >>> encoder_rate(pd.DataFrame({"backbone_options": ['{"encoder_lr": 0.0003}', '{"freeze": true}']})).tolist()
    [0.0003, nan]
    """
    options = runs["backbone_options"].map(lambda o: json.loads(o) if isinstance(o, str) else (o or {}))
    return options.map(lambda o: float("nan") if o.get("freeze") else float(o.get("encoder_lr", "nan")))


def rate_and_epochs(curves: pd.DataFrame, floor: float = TRAINING_FLOOR) -> dict:
    """The pilot's rule (its sweep file): the smallest encoder rate at which every fine-tuning run
    reaches ``floor`` in running training accuracy within the pilot's epochs, and the fewest even
    epochs from which all of them stay there; where no rate does, the largest rate and no epochs
    (the budget's decide). ``curves``: one row per fine-tuning run and epoch, with ``rate``.

    >>> curves = pd.DataFrame({"run_id": list("aabbccdd"), "rate": [1, 1, 1, 1, 3, 3, 3, 3],
    ...                        "epoch": [1, 2] * 4, "train_accuracy": [.9, .96, .9, .99, .97, .99, .98, .99]})
    >>> rate_and_epochs(curves)
    {'rate': 3, 'epochs': 2, 'reached': {1: None, 3: 1}}
    """
    last = int(curves["epoch"].max())
    reached = {}
    for rate, group in curves.groupby("rate"):
        epochs = epochs_to_train(group, floor)
        reached[rate] = epochs if epochs <= last else None
    within = [rate for rate, epochs in reached.items() if epochs is not None]
    if not within:
        return {"rate": max(reached), "epochs": None, "reached": reached}
    rate = min(within)
    return {"rate": rate, "epochs": reached[rate] + reached[rate] % 2, "reached": reached}


def pilot_curves(pilot: str) -> pd.DataFrame:
    """The pilot's per-epoch curves (the store's derived ``curves``) with each run's ``arm``
    (``pilot_arm``: None for a pull at other settings), fold and encoder ``rate``; empty before the
    pilot's full profile is stored."""
    columns = ["run_id", "epoch", "train_accuracy", "test_accuracy", "arm", "fold", "rate"]
    if not holds_plan(pilot, "full"):
        return pd.DataFrame(columns=columns)
    runs = load_results(pilot, "full")
    runs = runs.assign(rate=encoder_rate(runs), arm=runs.apply(pilot_arm, axis=1))
    return derived(pilot, "curves", "full").merge(runs[["run_id", "arm", "fold", "rate"]], on="run_id")[columns]


def pilot_choice(pilot: str, curves: pd.DataFrame | None = None) -> dict | None:
    """``rate_and_epochs`` on the pilot's fine-tuning runs at the full sweeps' settings (None before
    the pilot is stored); ``curves``: its ``pilot_curves``, where already read."""
    curves = pilot_curves(pilot) if curves is None else curves
    tuned = curves[curves["arm"].isin(ARMS)]
    return rate_and_epochs(tuned) if len(tuned) else None


def replaced_setting(pilot: str) -> str:
    """The first plan's pulls, which the pilot replaced, in words: their settings and the range of
    their final (clean) training accuracy; "" where the pilot holds none."""
    if not holds_plan(pilot, "full"):
        return ""
    runs = load_results(pilot, "full")
    first = runs[runs.apply(pilot_arm, axis=1).isna()]
    if first.empty:
        return ""
    settings = "; ".join(f"s = {s:g}, λ = {lam:g}" for s, lam in sorted(set(zip(first["scale"], first["lam"]))))
    accuracy = 100 * first["train_accuracy"]
    return (
        f"the first plan's prototypes ({settings}) ended their {len(first)} runs at {accuracy.min():.1f} to "
        f"{accuracy.max():.1f} % training accuracy"
    )


def probe_runs(sweep: str) -> pd.DataFrame:
    """A sweep's stored full-profile runs of the frozen encoder's linear probe."""
    runs = load_results(sweep, "full")
    return runs[runs.apply(is_frozen_probe, axis=1)] if len(runs) else runs


def probe_table(sweeps: dict[str, pd.DataFrame], probes: dict[str, pd.DataFrame]) -> pd.DataFrame:
    """Per corpus, what fine-tuning adds to what the encoder already knows: the frozen encoder's
    linear probe and each fine-tuned arm at its validation-chosen recipe, test accuracy (%, mean ±
    SD over folds), and fine-tuned CE − probe, fold-paired, with its 95 % interval. ``sweeps``:
    corpus -> a complete sweep's arms (``recipe_runs``'s); ``probes``: corpus -> its probe runs."""
    rows = []
    for corpus, runs in sweeps.items():
        chosen = choose_recipes(runs)
        both = pd.concat(
            [probes[corpus].assign(method="probe"), chosen.assign(method=chosen["arm"])], ignore_index=True
        )
        row = {"corpus": corpus}
        for arm in ("probe", *ARMS):
            accuracy = 100 * both.loc[both["method"] == arm, "accuracy"]
            row[f"{ARM_NAMES[arm]} %"] = f"{accuracy.mean():.1f} ± {accuracy.std():.1f}"
        d = paired_by_fold(both, "accuracy", "ce", "probe")
        row["fine-tuned CE − probe, points"] = (
            f"{100 * d['mean']:+.1f} ({100 * d['low']:+.1f} to {100 * d['high']:+.1f}), 95 %, {d['folds']} folds"
        )
        rows.append(row)
    return pd.DataFrame(rows)


def calibration_table(sweeps: dict[str, pd.DataFrame]) -> pd.DataFrame:
    """Per corpus and arm (validation-chosen recipes), test ECE (%, mean ± SD over folds) before and
    after temperature scaling fitted on the validation speakers, and each pull's difference to CE,
    fold-paired, the four comparisons of a corpus read together (Bonferroni over 4)."""
    columns = {"ece": "before", "validation_test_ece_scaled": "after temperature scaling"}
    rows = []
    for corpus, runs in sweeps.items():
        chosen = choose_recipes(runs)
        long = pd.concat([chosen.assign(method=chosen["arm"] + "@" + c, value=chosen[c]) for c in columns])
        pairs = [(f"{arm}@{c}", f"ce@{c}") for arm in ARMS[1:] for c in columns]
        compared = dict(zip(pairs, compare_together(long, pairs, metric="value")))
        for arm in ARMS:
            row = {"corpus": corpus, "loss": ARM_NAMES[arm]}
            for c, when in columns.items():
                values = 100 * chosen.loc[chosen["arm"] == arm, c]
                row[f"ECE {when} %"] = f"{values.mean():.1f} ± {values.std():.1f}"
                d = compared.get((f"{arm}@{c}", f"ce@{c}"))
                row[f"− CE {when}, points"] = (
                    f"{100 * d['mean']:+.1f} ({100 * d['low']:+.1f} to {100 * d['high']:+.1f})" if d else ""
                )
            rows.append(row)
    return pd.DataFrame(rows)


def regime_rows(verdicts: dict, keys: dict[str, tuple[str, str]]) -> list[dict]:
    """Claim 1's comparisons per corpus in both regimes, for ``figures.regimes``: ``keys`` maps a
    corpus to its (from-scratch, pretrained) verdict key prefixes (``fsdd`` of ``fsdd_claim1a``);
    each row the difference and the interval its verdict reads, in points. Pending verdicts give
    no rows."""
    rows = []
    for corpus, pair in keys.items():
        for regime, key in zip(("from scratch", ENCODER), pair):
            for part in ("a", "b"):
                verdict = verdicts[f"{key}_claim1{part}"]
                if verdict.outcome == "pending":
                    continue
                for c in verdict.comparisons:
                    rows.append({"corpus": corpus, "regime": regime, "label": c.label, "mean": c.estimate,
                                 "low": c.low, "high": c.high, "outcome": f"{verdict.claim}: {verdict.outcome}"})  # fmt: skip
    return rows
