"""The factor ablation page's glue: which settings trained, and what the pull costs."""

from __future__ import annotations

import pandas as pd

from ..claims import claim2_strongest
from ..factor_tables import PULL_SETTING, at_setting, method_label, setting_name, with_methods
from ..stats import compare_together, describe_difference
from ..tables import TRAINED


def pending_settings(status: pd.DataFrame) -> str:
    """The factor-pull settings not yet complete (``report.complete_settings``' status rows), e.g.
    'factor prototypes at λ = 10, 128 mel bins, 150 epochs (3 of 20 runs)'."""

    return ", ".join(
        (f"factor prototypes at λ = {r.lam:g}, " if r.loss == "factor_prototypes" else f"{method_label(r.loss)} at ")
        + f"{r.num_mel_bins} mel bins, {r.epochs} epochs ({r.stored} of {r.planned} runs)"
        for r in status.itertuples()
    )


def settings_status(status: pd.DataFrame) -> str:
    """What a sweep whose settings finish one by one has so far (``report.complete_settings``'
    status), e.g. '3 of 7 settings complete (full profile); still running: ...'."""
    done = int(status["complete"].sum())
    pending = status[~status["complete"]]
    text = f"{done} of {len(status)} settings complete (full profile)" + (", shown below" if done else "")
    return text + (f"; still running: {pending_settings(pending)}." if len(pending) else ".")


def untrained_settings(settings: pd.DataFrame) -> str:
    """Which factor-pull settings (``verdicts.claim2_by_setting``) had a run end below
    ``report.TRAINED`` training accuracy, in words; those are shown but no verdict rests on them.

    >>> rows = pd.DataFrame({"lam": [1.0, 30.0], "num_mel_bins": [40, 128], "epochs": [60, 150],
    ...                      "lowest_train_accuracy": [1.0, 0.925], "trained": [True, False]})
    >>> untrained_settings(rows)
    'A run ended below 97 % training accuracy at λ = 30, 128 mel bins, 150 epochs (lowest 92.5 %): shown, but no verdict rests on it.'
    >>> untrained_settings(rows.iloc[:1])
    'Every run of every complete setting reached 97 % training accuracy.'
    >>> untrained_settings(rows.iloc[:0])
    'No setting is complete yet.'
    """

    if settings.empty:
        return "No setting is complete yet."
    short = settings[~settings["trained"].astype(bool)]
    if short.empty:
        return f"Every run of every complete setting reached {100 * TRAINED:g} % training accuracy."
    names = "; ".join(
        f"{setting_name(r)} (lowest {100 * r['lowest_train_accuracy']:.1f} %)" for r in short.to_dict("records")
    )
    return f"A run ended below {100 * TRAINED:g} % training accuracy at {names}: shown, but no verdict rests on {'it' if len(short) == 1 else 'them'}."


def pull_cost(pull: pd.DataFrame, settings: pd.DataFrame) -> str:
    """What the verdict's setting costs in emotion accuracy, in words: the strongest trained
    factor-pull setting (``verdicts.claim2_strongest`` over ``claim2_by_setting``) against the
    paper-faithful one (40 mel bins, lambda 1) and against the next weaker lambda at the same mel
    bins and epochs (which separates the pull from the training length), paired by fold and
    corrected together; until the strongest and another setting are complete, says so."""

    keys = PULL_SETTING[1:]
    chosen = claim2_strongest(settings)
    strong, faithful = chosen["strongest"], chosen["paper_faithful"]
    waiting = "The accuracy cost of the pull is read once a trained setting and another are complete."
    if not strong:
        return waiting
    same_length = settings[
        (settings["num_mel_bins"] == strong["num_mel_bins"])
        & (settings["epochs"] == strong["epochs"])
        & (settings["lam"] < strong["lam"])
    ].sort_values("lam")
    others = {}
    if faithful and any(faithful[k] != strong[k] for k in keys):
        others["the paper-faithful setting"] = faithful
    weaker = same_length.iloc[-1].to_dict() if len(same_length) else None
    if weaker and not (faithful and all(weaker[k] == faithful[k] for k in keys)):  # not the same comparison twice
        others[f"λ = {weaker['lam']:g} at the same mel bins and epochs"] = weaker
    if not others:
        return waiting

    runs = with_methods(pull)
    runs = runs[runs["method"] == "factor_prototypes"].assign(setting="")
    for setting in [strong, *others.values()]:
        runs.loc[at_setting(runs, setting), "setting"] = setting_name(setting)
    pairs = [(setting_name(strong), setting_name(other)) for other in others.values()]
    rows = compare_together(runs, pairs, by="setting")
    readings = "; ".join(
        f"against {label}, " + describe_difference(row, against="it", above="higher than", below="lower than")
        for label, row in zip(others, rows)
    )
    together = f" and corrected together over the {len(rows)} comparisons" if len(rows) > 1 else ""
    return f"Emotion accuracy at the verdict's setting ({setting_name(strong)}), paired by fold{together}: {readings}."
