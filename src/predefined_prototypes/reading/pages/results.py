"""The results page's glue: Claim 1 on each corpus, against CE, the control and the tuned baselines, and pull strength."""

from __future__ import annotations

import pandas as pd

from ...storage.results import planned_runs
from ..claims import claim1_tuned_verdict, claim1_verdict, placement_reading
from ..stats import describe_difference, epochs_to_reach, paired_by_fold, seed_spread
from ..tables import (
    METHOD_NAMES,
    TRAINED,
    TUNED_FAMILIES,
    cells_description,
    describe_protocol,
    pull_strength,
    summary_table,
    tuned_choice,
    tuned_family,
)


def profile_status(df: pd.DataFrame, complete: bool) -> str:
    """'' for a complete full profile, else the sentence saying what is shown instead."""
    if complete:
        return ""
    return (
        f"Not a finding yet: the full profile is not complete, so this shows the {df['profile'].iloc[0]} "
        f"profile ({len(df)} runs, {df['fold'].nunique()} fold(s)); a single fold has no interval."
    )


def _claim1_main(name: str, df: pd.DataFrame, sweep: str) -> dict[str, str]:

    verdict = claim1_verdict(df, planned_runs(sweep, "full"))
    reason = f"{verdict['rule']}; {verdict['reason']}" if verdict["rule"] else verdict["reason"]
    return {f"{name}_claim1_main": verdict["verdict"], f"{name}_claim1_main_reason": reason}


def _against(name: str, df: pd.DataFrame) -> dict[str, str]:
    """Every method against CE, and every prototype method against the zero-prototype control."""

    values, present = {}, set(df["method"])
    for method in METHOD_NAMES:
        if method != "ce":
            values[f"{name}_{method}_vs_ce"] = (
                describe_difference(paired_by_fold(df, "accuracy", method, "ce"))
                if method in present
                else "not run yet"
            )
        if method.startswith("prototypes"):
            values[f"{name}_{method}_vs_control"] = (
                describe_difference(
                    paired_by_fold(df, "accuracy", method, "zero_prototypes"), "the zero-prototype control"
                )
                if {method, "zero_prototypes"} <= present
                else "not run yet"
            )
    return values


def _speed(name: str, curves: pd.DataFrame, threshold: float) -> dict[str, str]:

    reached = epochs_to_reach(curves, threshold)
    values = {f"{name}_never_reached": str(int(reached["epochs"].isna().sum()))}
    for baseline, label in (("learned_prototypes", "learned prototypes"), ("ce", "cross-entropy")):
        d = paired_by_fold(reached, "epochs", "prototypes", baseline)
        values[f"{name}_speed_prototypes_vs_{baseline}"] = describe_difference(
            d, label, scale=1, unit=" epochs", above="slower than", below="faster than"
        )
    return values


def calibration_reading(chosen: pd.DataFrame, seeds: int) -> str:
    """What the norm penalty does to calibration and whether temperature scaling removes it: the
    test ECE of the prototypes and of the control, each against CE with its validation-chosen
    weight decay (the family that includes plain CE), before and after temperature scaling fitted
    on the validation speaker, paired by test speaker (``report.tuned_choice``'s rows, each the
    mean of ``seeds`` seeds)."""
    rows = chosen.rename(columns={"family": "method"}).assign(seed=0)
    parts = []
    for method, name in (("prototypes", "the prototypes"), ("zero_prototypes", "the zero-prototype control")):
        if not {method, "ce_weight_decay"} <= set(rows["method"]):
            continue
        said = []
        for column, when in (("ece", "before temperature scaling"), ("validation_test_ece_scaled", "after it")):
            d = paired_by_fold(rows, column, method, "ce_weight_decay") | {"seeds": seeds}
            text = describe_difference(
                d, "CE", above="worse calibrated than", below="better calibrated than", fold="test speaker"
            )
            said.append(f"{when}, {text}")
        parts.append(f"Test ECE of {name} minus CE's: " + "; ".join(said) + ".")
    return " ".join(parts)


def tuned_under_fitted(chosen: pd.DataFrame) -> str:
    """Which validation-chosen settings of the tuned-baselines sweep ended some run below 97 %
    training accuracy (under-fitted at the sweep's epochs), and whether the best CE used one."""

    if "min_train_accuracy" not in chosen:
        return ""
    lowest = chosen.groupby("family")["min_train_accuracy"].min()
    short = [f for f in TUNED_FAMILIES if f in lowest and lowest[f] < TRAINED]
    if not short:
        return f"Every chosen setting's runs ended at or above {100 * TRAINED:.0f} % training accuracy."
    names = ", ".join(f"{TUNED_FAMILIES[f][0]} (lowest {100 * lowest[f]:.1f} %)" for f in short)
    used = chosen[(chosen["family"] == "tuned_ce") & chosen["knob"].astype(str).str.startswith(tuple(short))]
    return f"Under-fitted at this budget (a run below {100 * TRAINED:.0f} % training accuracy): {names}; " + (
        "the best CE never chose it, so the verdict does not rest on it."
        if used.empty
        else f"the best CE chose it for {len(used)} test speaker(s)."
    )


def results(
    main: dict[str, tuple[str, pd.DataFrame, pd.DataFrame]],
    curves: dict[str, pd.DataFrame],
    pull: tuple[pd.DataFrame, pd.DataFrame],
    tuned: tuple[pd.DataFrame, bool],
    threshold: float = 0.95,
) -> dict[str, str]:
    """The results page's numbers. ``main``: dataset name -> (sweep, its table, the complete
    (fold, seed) cells of it); ``curves``: name -> ``report.learning_curves``; ``pull``:
    ``report.complete_settings`` of the pull-strength sweep (by λ and epochs); ``tuned``:
    ``report.load_profile`` of the tuned-baselines sweep."""

    values = {"speed_threshold": f"{100 * threshold:.0f} %"}
    for name, (sweep, df, cells) in main.items():
        values |= _claim1_main(name, df, sweep) | _against(name, cells) | _speed(name, curves[name], threshold)
        values[f"{name}_protocol"] = describe_protocol(df, sweep)
        values[f"{name}_cells"] = cells_description(cells)
        values[f"{name}_seed_spread"] = seed_spread(cells)
        for method in ("ce", "zero_prototypes", "prototypes"):
            values[f"{name}_ece_{method}"] = f"{100 * cells.loc[cells['method'] == method, 'ece'].mean():.1f}"
        sizes = cells["test_size"]
        values[f"{name}_test_sizes"] = f"{sizes.min()} to {sizes.max()}"
        values[f"{name}_clip_points"] = f"{100 / sizes.max():.1f} to {100 / sizes.min():.1f}"
    (pull_runs, pull_settings), (tuned_runs, tuned_complete) = pull, tuned
    values["pull_reading"] = placement_reading(pull_strength(pull_runs), bool(pull_settings["complete"].any()))
    pending = pull_settings[~pull_settings["complete"]]
    values["pull_status"] = (
        "Still running: "
        + ", ".join(
            f"λ = {r.lam:g} at {r.epochs} epochs ({r.stored} of {r.planned} runs)" for r in pending.itertuples()
        )
        + "; the table shows the λ values whose runs are all stored."
        if len(pending)
        else ""
    )
    chosen = tuned_choice(tuned_runs.assign(family=tuned_runs.apply(tuned_family, axis=1)))
    values["calibration_reading"] = calibration_reading(chosen, tuned_runs["seed"].nunique())
    values["tuned_under_fitted"] = tuned_under_fitted(chosen) if tuned_complete else ""
    verdict = claim1_tuned_verdict(chosen, tuned_complete)
    values["tuned_status"] = (
        f"Claim 1 on this evidence: {verdict['verdict']} ({verdict['reason']})."
        if tuned_complete
        else profile_status(tuned_runs, tuned_complete)
    )
    return values


def accuracy_table(cells: dict[str, pd.DataFrame]) -> pd.DataFrame:
    """``report.summary_table`` of each dataset's complete cells, stacked by dataset."""

    table = pd.concat({name: summary_table(df) for name, df in cells.items()}, names=["dataset", None])
    return table.reset_index(level=1, drop=True).set_index("method", append=True)


def pull_table(table: pd.DataFrame) -> pd.DataFrame:
    """``report.pull_strength`` as the results page shows it: each arm's accuracy, the difference
    in points with its interval, Holm's p, the fit and each arm's lowest training accuracy, by
    lambda."""
    shown = table.assign(
        **{
            "prototypes − control, points": [
                f"{100 * r.difference:+.1f} ({100 * r.low:+.1f} to {100 * r.high:+.1f})" for r in table.itertuples()
            ],
            "prototypes accuracy %": (100 * table["prototypes_accuracy"]).round(1),
            "control accuracy %": (100 * table["control_accuracy"]).round(1),
        }
    )
    columns = [
        "lam",
        "epochs",
        "prototypes accuracy %",
        "control accuracy %",
        "prototypes − control, points",
        "p_holm",
        "nearest_prototype_accuracy",
        "cosine_to_own_prototype",
        "prototypes_min_train_accuracy",
        "control_min_train_accuracy",
    ]
    return shown[columns].round(3).set_index("lam")
