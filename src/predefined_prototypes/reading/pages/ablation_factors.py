"""The factor ablation page's glue: which settings trained, and what the pull costs."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from ..claims.evidence import claim2_strongest
from ..factor_tables import PULL_SETTING, at_setting, method_label, schedule_training, setting_name
from ..figures import WIDTH
from ..rules import TRAINING_FLOOR
from ..stats import compare_together, describe_difference
from .common import rule_words


def pending_settings(status: pd.DataFrame) -> str:
    """The factor-pull settings not yet complete (``results.complete_settings``' status rows), e.g.
    'factor prototypes at λ = 10, 128 mel bins, 150 epochs (3 of 20 runs)'."""

    return ", ".join(
        (f"factor prototypes at λ = {r.lam:g}, " if r.loss == "factor_prototypes" else f"{method_label(r.loss)} at ")
        + f"{r.num_mel_bins} mel bins, {r.epochs} epochs ({r.stored} of {r.planned} runs)"
        for r in status.itertuples()
    )


def settings_status(status: pd.DataFrame) -> str:
    """What a sweep whose settings finish one by one has so far (``results.complete_settings``'
    status), e.g. '3 of 7 settings complete (full profile); still running: ...'."""
    done = int(status["complete"].sum())
    pending = status[~status["complete"]]
    text = f"{done} of {len(status)} settings complete (full profile)" + (", shown below" if done else "")
    return text + (f"; still running: {pending_settings(pending)}." if len(pending) else ".")


def untrained_settings(settings: pd.DataFrame) -> str:
    """Which factor-pull settings (``claims.evidence.claim2_by_setting``) had a run end below
    ``rules.TRAINING_FLOOR`` training accuracy, in words; those are shown but no verdict rests on them.

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
        return f"Every run of every complete setting reached {100 * TRAINING_FLOOR:g} % training accuracy."
    names = "; ".join(
        f"{setting_name(r)} (lowest {100 * r['lowest_train_accuracy']:.1f} %)" for r in short.to_dict("records")
    )
    return f"A run ended below {100 * TRAINING_FLOOR:g} % training accuracy at {names}: shown, but no verdict rests on {'it' if len(short) == 1 else 'them'}."


def pull_values(pull: pd.DataFrame, settings: pd.DataFrame) -> dict[str, str]:
    """The factor-pull section's words: what the verdict's setting costs (``pull_cost``), which
    settings under-trained (``untrained_settings``), the training accuracy 60 and 150 epochs left
    at λ = 10 and 30 (``factor_tables.schedule_training``), and the rules' thresholds."""
    return {
        "factor_pull_cost": pull_cost(pull, settings),
        "factor_pull_untrained": untrained_settings(settings),
        "factor_pull_60_epochs": schedule_training(60),
        "factor_pull_150_epochs": schedule_training(150),
        **rule_words(),
    }


def pull_cost(pull: pd.DataFrame, settings: pd.DataFrame) -> str:
    """What the verdict's setting costs in emotion accuracy, in words: the strongest trained
    factor-pull setting (``claims.evidence.claim2_strongest`` over ``claim2_by_setting``) against the
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

    runs = pull[pull["method"] == "factor_prototypes"].assign(setting="")
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


def spread_labels(positions, gap: float) -> np.ndarray:
    """Label positions moved apart, in the same order, until neighbours are at least ``gap``
    apart, each group of crowded labels centred on the points it labels.

    >>> spread_labels([1.0, 1.1, 5.0], gap=1.0).round(2).tolist()
    [0.55, 1.55, 5.0]
    """
    positions = np.asarray(positions, dtype=float)
    order = np.argsort(positions, kind="stable")
    groups = [[positions[i]] for i in order]  # labels placed together, gap apart, about their mean

    def extent(group):  # lowest and highest label of a group
        half = gap * (len(group) - 1) / 2
        return np.mean(group) - half, np.mean(group) + half

    i = 0
    while i < len(groups) - 1:
        if extent(groups[i + 1])[0] - extent(groups[i])[1] < gap:  # overlap: merge, then look back
            groups[i : i + 2] = [groups[i] + groups[i + 1]]
            i = max(i - 1, 0)
        else:
            i += 1
    placed = [extent(g)[0] + gap * np.arange(len(g)) for g in groups]
    out = np.empty_like(positions)
    out[order] = np.concatenate(placed) if placed else positions
    return out


def claim2_tradeoff(settings, factors: list[str], criteria=("carried", "confined")):
    """Emotion accuracy against each factor's disentanglement margins across the factor-pull
    settings (``claims.evidence.claim2_by_setting``): one panel per criterion; each setting is a row at
    its accuracy, one marker per factor (circle 40 mel bins, square 128; hollow where a run of the
    setting ended below ``rules.TRAINING_FLOOR``) joined by a grey line, its name written once at the right."""

    fig, axes = plt.subplots(
        len(criteria), 1, figsize=(WIDTH, 4 * len(criteria) + 1), layout="constrained", sharey=True
    )
    axes = np.atleast_1d(axes)
    markers = {40: "o", 128: "s"}
    for ax, criterion in zip(axes, criteria):
        for row in settings.itertuples():
            xs = [settings.loc[row.Index, f"{factor}: {criterion}"] for factor in factors]
            ax.plot([min(xs), max(xs)], [100 * row.accuracy] * 2, color="0.8", lw=1, zorder=1)
            for i, x in enumerate(xs):
                colour = plt.cm.tab10(i)
                mfc = colour if row.trained else "none"
                ax.plot(x, 100 * row.accuracy, markers.get(row.num_mel_bins, "^"), color=colour, mfc=mfc, zorder=2)
        ax.axvline(0, color="0.5", lw=1)
        against = "emotion label" if criterion == "carried" else "best other block"
        ax.set_xlabel(f"{criterion}: own block minus {against}, points")
        ax.set_title(criterion)
    axes[0].set_ylabel("emotion accuracy % (fold mean)")
    if not len(settings):
        fig.suptitle("no setting complete yet")
        return fig
    low, high = axes[-1].get_ylim()
    labels = spread_labels(100 * settings["accuracy"].to_numpy(), gap=0.06 * (high - low))
    for row, y in zip(settings.itertuples(), labels):
        axes[-1].annotate(
            f"λ={row.lam:g}, {row.num_mel_bins} mel, {row.epochs} ep.",
            xy=(1.0, 100 * row.accuracy),
            xycoords=("axes fraction", "data"),
            xytext=(1.04, y),
            textcoords=("axes fraction", "data"),
            va="center",
            arrowprops={"arrowstyle": "-", "color": "0.6", "lw": 0.6},
        )
    handles = [plt.Line2D([], [], ls="", marker="o", color=plt.cm.tab10(i), label=f) for i, f in enumerate(factors)]
    handles += [plt.Line2D([], [], ls="", marker=m, color="0.4", label=f"{n} mel bins") for n, m in markers.items()]
    handles.append(
        plt.Line2D(
            [],
            [],
            ls="",
            marker="o",
            color="0.4",
            mfc="none",
            label=f"a run below {100 * TRAINING_FLOOR:g} % training acc.",
        )
    )
    fig.legend(handles=handles, loc="outside lower center", ncol=3, frameon=False)
    return fig


SETTING_COLUMNS = {
    "lam": "λ",
    "num_mel_bins": "mel bins",
    "epochs": "epochs",
    "accuracy": "emotion accuracy %",
    "lowest_train_accuracy": "lowest training accuracy %",
    "verdict": "Claim 2",
    "met": "criteria met",
}


def settings_view(settings: pd.DataFrame) -> pd.io.formats.style.Styler:
    """Claim 2 at each factor-pull setting (``claims.evidence.claim2_by_setting``), in the book's
    names and units (accuracies in %), without the index."""
    table = settings[list(SETTING_COLUMNS)].rename(columns=SETTING_COLUMNS)
    for name in ("emotion accuracy %", "lowest training accuracy %"):
        table[name] = (100 * table[name]).round(1)
    return table.style.hide(axis="index").format(precision=1)
