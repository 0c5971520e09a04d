"""Figures shared by the notebooks and the book."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.text import Text
from scipy import stats as scipy_stats

from .rules import FIT_FLOOR
from .stats import fold_differences as differences
from .stats import fold_means, paired_by_fold

# The book shows a figure in its text column, 688 CSS px wide in a 1280-px window (a wider figure is
# scaled down to it), drawn at the inline backend's 100 dpi; its smallest text must still read as
# 9 pt there (a CSS point is 96/72 px).
COLUMN_PX = 688
DPI = 100
SMALLEST_PT = 9.0
# Every figure here is at most WIDTH inches wide (shown unscaled in the column) with text of at
# least 9.5 pt, which reads as 9.9 pt: the book's type sizes, set for every figure drawn after
# this module is imported (the book's pages and the notebooks import it).
WIDTH = 6.6
plt.rcParams.update(
    {
        "font.size": 10,
        "axes.titlesize": 10,
        "axes.labelsize": 10,
        "xtick.labelsize": 9.5,
        "ytick.labelsize": 9.5,
        "legend.fontsize": 9.5,
        "legend.title_fontsize": 9.5,
        "figure.titlesize": 10.5,
    }
)


def shown_sizes(fig) -> list[tuple[float, str]]:
    """Every visible text of ``fig``, with the size in points it has once shown in the book's
    column (the figure cropped to its drawn extent, as the inline backend saves it).

    >>> fig = plt.figure(figsize=(13.76, 2))  # twice the column's width
    >>> _ = fig.text(0.0, 0.5, "left", fontsize=10), fig.text(1.0, 0.5, "right", fontsize=10, ha="right")
    >>> [(round(size, 1), text) for size, text in shown_sizes(fig)]
    [(5.1, 'left'), (5.1, 'right')]
    """
    fig.canvas.draw()  # the layout engine places (and constrained layout may widen) what is measured
    renderer = fig.canvas.get_renderer()
    drawn = fig.get_tightbbox(renderer).width + 2 * plt.rcParams["savefig.pad_inches"]  # inches, as saved
    scale = min(1.0, COLUMN_PX / (drawn * DPI)) * DPI / 96
    texts = [t for t in fig.findobj(Text) if t.get_visible() and t.get_text().strip()]
    figure_box = fig.bbox
    shown = [t for t in texts if t.get_window_extent(renderer).overlaps(figure_box)]
    return [(float(t.get_fontsize() * scale), t.get_text()) for t in shown]


def show(fig=None) -> None:
    """``plt.show()`` for the book's figures, which refuses one whose smallest text would read
    under 9 pt in the book's column (``shown_sizes``), naming the text and the fix."""
    fig = fig or plt.gcf()
    small = sorted((size, text) for size, text in shown_sizes(fig) if size < SMALLEST_PT - 1e-9)
    if small:
        size, text = small[0]
        raise ValueError(
            f"{len(small)} text(s) of this figure would read under {SMALLEST_PT:g} pt in the book's column, the "
            f"smallest {text!r} at {size:.1f} pt: enlarge its font or narrow the figure"
        )
    plt.show()


def training_curves(history: list[dict], ax=None):
    """Training loss (left axis) and test accuracy (right axis) per epoch."""
    ax = ax or plt.subplots(figsize=(5, 3))[1]
    epochs = [h["epoch"] for h in history]
    ax.plot(epochs, [h["train_loss"] for h in history], color="tab:blue", label="training loss")
    ax.set_xlabel("epoch")
    ax.set_ylabel("training loss", color="tab:blue")
    right = ax.twinx()
    tested = [h for h in history if "test_accuracy" in h]  # every eval_every epochs
    right.plot(
        [h["epoch"] for h in tested],
        [h["test_accuracy"] for h in tested],
        "o-",
        color="tab:orange",
        label="test accuracy",
    )
    right.set_ylabel("test accuracy", color="tab:orange")
    right.set_ylim(0, 1)
    return ax


def mean_curves(curves, column: str, labels: dict[str, str], ax=None, scale: float = 1.0):
    """One line per method: ``column`` per epoch averaged over seeds within each fold, then over
    folds, with a band of ± one standard deviation across folds (the independent units). Epochs
    where some run of a method lacks the value (untested epochs) are left out of its line.

    ``curves`` is ``tables.learning_curves``' long table; ``labels`` maps methods, in display
    order, to legend names.
    """
    ax = ax or plt.subplots(figsize=(5, 3))[1]
    tested = curves.dropna(subset=[column])
    for i, (method, label) in enumerate(labels.items()):
        rows = tested[tested["method"] == method]
        if rows.empty:
            continue
        per_fold = rows.groupby(["fold", "epoch"])[column].mean().unstack("fold") * scale
        mean, std = per_fold.mean(axis=1), per_fold.std(axis=1).fillna(0)
        color = plt.cm.tab10(i % 10)
        ax.plot(mean.index, mean, marker="o" if len(mean) < 8 else None, markersize=3, color=color, label=label)
        ax.fill_between(mean.index, mean - std, mean + std, color=color, alpha=0.15, linewidth=0)
    ax.set_xlabel("epoch")
    return ax


def accuracy_against_shots(
    df, columns: dict[int, str], labels: dict[str, str], baseline: str, axes=None, chance: float | None = None
):
    """Few-shot accuracy against the number of support examples k. Left: each method's mean over
    cells (the rows) with its 95 % t-interval; right: each method's difference to ``baseline``,
    paired by cell (``stats.paired_by_fold`` on the ``fold`` column), with its 95 % interval.
    ``columns`` maps k to the column holding that k's accuracy; ``labels`` methods to names (those
    without runs are left out)."""

    labels = {m: label for m, label in labels.items() if m in set(df["method"])}
    axes = axes if axes is not None else plt.subplots(2, 1, figsize=(WIDTH, 7), constrained_layout=True)[1]
    shots = sorted(columns)
    for i, (method, label) in enumerate(labels.items()):
        rows = df[df["method"] == method]
        if rows.empty:
            continue
        color, offset = plt.cm.tab10(i % 10), 1 + 0.03 * (i - len(labels) / 2)
        values = np.array([100 * rows[columns[k]].to_numpy() for k in shots])
        half = [scipy_stats.t.ppf(0.975, len(v) - 1) * v.std(ddof=1) / np.sqrt(len(v)) for v in values]
        axes[0].errorbar(
            np.array(shots) * offset, values.mean(axis=1), yerr=half, marker="o", capsize=3, color=color, label=label
        )
        if method != baseline:
            d = [paired_by_fold(df, columns[k], method, baseline) for k in shots]
            mean = np.array([100 * x["mean"] for x in d])
            error = [mean - [100 * x["low"] for x in d], [100 * x["high"] for x in d] - mean]
            axes[1].errorbar(
                np.array(shots) * offset, mean, yerr=error, marker="o", capsize=3, color=color, label=label
            )
    if chance is not None:
        axes[0].axhline(100 * chance, color="0.6", linestyle=":", linewidth=1)
    axes[1].axhline(0, color="0.3", linewidth=0.8)
    for ax in axes:
        ax.set_xscale("log")
        ax.set_xticks(shots, [str(k) for k in shots])
        ax.set_xlabel("support clips per new class (k)")
    axes[0].set_ylabel("accuracy on new classes % (mean, 95 % CI)")
    axes[1].set_ylabel(f"difference to {labels[baseline]}, points")
    return axes


def cosine_heatmap(matrix, classes: list[str], ax=None, title: str = ""):
    """A [C, C] cosine matrix on a fixed -1..1 diverging scale, so panels compare."""
    ax = ax or plt.subplots(figsize=(4, 3.5))[1]
    image = ax.imshow(np.asarray(matrix), vmin=-1, vmax=1, cmap="RdBu_r")
    ticks = range(len(classes))
    ax.set_xticks(ticks, classes, rotation=90)
    ax.set_yticks(ticks, classes)
    ax.set_title(title)
    return image


def _panels(count: int, columns: int = 3):
    """A figure of ``count`` panels in rows of ``columns``, the unused ones switched off."""
    rows = -(-count // columns)
    fig, axes = plt.subplots(rows, columns, figsize=(WIDTH, 2.6 * rows), constrained_layout=True, squeeze=False)
    for ax in axes.flat[count:]:
        ax.set_axis_off()
    return fig, axes.flat


def cosine_grid(cosines, titles: dict[str, str]):
    """One class-mean cosine heatmap per method of a long table (method, row, column, cosine),
    titled by ``titles[method]``, on one colour scale."""
    methods = list(dict.fromkeys(cosines["method"]))
    fig, axes = _panels(len(methods))
    for ax, method in zip(axes, methods):
        matrix = cosines[cosines["method"] == method].pivot(index="row", columns="column", values="cosine")
        classes = list(dict.fromkeys(cosines.loc[cosines["method"] == method, "row"]))
        image = cosine_heatmap(matrix.loc[classes, classes], classes, ax, titles[method])
    fig.colorbar(image, ax=list(axes), location="bottom", shrink=0.6, label="cosine between centred class means")
    return fig


def scatter_grid(points, titles: dict[str, str], label: str = "digit"):
    """One 2-D map per method of a long table (method, x, y, label), coloured by label."""
    methods = list(dict.fromkeys(points["method"]))
    fig, axes = _panels(len(methods))
    for ax, method in zip(axes, methods):
        p = points[points["method"] == method]
        dots = ax.scatter(p["x"], p["y"], c=p["label"], cmap="tab10", s=6, vmin=-0.5, vmax=9.5)
        ax.set_title(titles[method])
        ax.set_xticks([]), ax.set_yticks([])
    fig.colorbar(dots, ax=list(axes), location="bottom", shrink=0.6, ticks=range(10), label=label)
    return fig


def annotated_heatmap(ax, values: np.ndarray, rows: list[str], columns: list[str], limit: float, text=None):
    """A diverging heatmap centred on 0 with each cell's number (or ``text[i][j]``) written in it."""
    image = ax.imshow(values, cmap="PuOr_r", vmin=-limit, vmax=limit, aspect="auto")
    ax.set_yticks(range(len(rows)), rows)
    ax.set_xticks(range(len(columns)), columns, rotation=30, ha="right")
    for i in range(values.shape[0]):
        for j in range(values.shape[1]):
            label = text[i][j] if text is not None else f"{values[i, j]:+.2f}"
            dark = abs(values[i, j]) > 0.6 * limit
            ax.text(j, i, label, ha="center", va="center", fontsize=9.5, color="white" if dark else "black")
    return image


def shift_matrices(matrices: dict, ax_height: float = 2.4):
    """Stacked edit x factor heatmaps (one per entry of ``matrices``: title -> DataFrame of mean
    level shifts), on one colour scale; the ideal is the measured panel's pattern."""
    limit = max(float(np.nanmax(np.abs(m.to_numpy()))) for m in matrices.values()) or 1.0
    fig, axes = plt.subplots(
        len(matrices), 1, figsize=(WIDTH, ax_height * len(matrices) + 0.6), constrained_layout=True, sharex=True
    )
    for ax, (title, matrix) in zip(np.atleast_1d(axes), matrices.items()):
        image = annotated_heatmap(ax, matrix.to_numpy(), list(matrix.index), list(matrix.columns), limit)
        ax.set_title(title)
    fig.colorbar(image, ax=axes, label="mean level shift")
    return fig


def contrast_heatmap(mean: np.ndarray, std: np.ndarray, rows: list[str], classes: list[str]):
    """Mean (± std over folds) contribution of each block to the margin of the predicted emotion."""
    fig, ax = plt.subplots(figsize=(WIDTH, 3.8), constrained_layout=True)
    limit = float(np.nanmax(np.abs(mean))) or 1.0
    text = [
        ["—" if np.isnan(m) else f"{m:+.2f}" + ("" if np.isnan(s) else f"\n±{s:.2f}") for m, s in zip(mr, sr)]
        for mr, sr in zip(mean, std)
    ]
    image = annotated_heatmap(ax, mean, rows, classes, limit, text)
    ax.set_xlabel("predicted emotion")
    fig.colorbar(image, ax=ax, label="mean contribution to the margin (logit)")
    return fig


def edit_explanations(versions: dict, labels: list[str], title: str = ""):
    """Grouped bars: each block's (and the bias's) contribution to one clip's margin, for the original
    clip and each edit (``versions``: name -> (terms [F + 2], measured factors))."""
    fig, ax = plt.subplots(figsize=(WIDTH, 3.8), constrained_layout=True)
    names = list(versions)
    width = 0.8 / len(names)
    positions = np.arange(len(labels))
    for k, name in enumerate(names):
        terms = versions[name][0]
        ax.bar(
            positions + (k - (len(names) - 1) / 2) * width,
            terms,
            width,
            label=name,
            color="0.25" if name == "original" else plt.cm.tab10(k),
        )
    ax.axhline(0, color="0.3", linewidth=0.8)
    ax.set_xticks(positions, labels)
    ax.set_ylabel("contribution to the margin (logit)")
    fig.legend(loc="outside lower center", ncols=min(len(names), 4))
    ax.set_title(title)
    return fig


def pull_strength(table, ax=None):
    """Prototypes minus the zero-prototype control (accuracy points, fold-paired, the
    multiplicity-corrected interval) against lambda, and on the right axis how well the
    prototypes are fit on the training clips (nearest-prototype accuracy). A hollow marker is a
    lambda where some run ended below the training accuracy every comparison requires."""
    ax = ax or plt.subplots(figsize=(6, 3.4))[1]
    x = np.asarray(table["lam"], dtype=float)
    mean = 100 * np.asarray(table["difference"], dtype=float)
    error = [mean - 100 * np.asarray(table["low"]), 100 * np.asarray(table["high"]) - mean]
    ax.axhline(0, color="0.6", lw=1)
    ax.errorbar(x, mean, yerr=error, fmt="none", ecolor="tab:blue", capsize=4)
    trained = np.asarray(table["trained"], dtype=bool)
    ax.plot(x[trained], mean[trained], "o", color="tab:blue", label="every run trained")
    ax.plot(x[~trained], mean[~trained], "o", mfc="white", color="tab:blue", label="some run under-trained")
    ax.set_xscale("log")
    ax.set_xticks(x, [f"{v:g}" for v in x])
    ax.set_xlabel("λ (pull toward the prototypes)")
    ax.set_ylabel("prototypes − control, points", color="tab:blue")
    right = ax.twinx()
    right.plot(x, np.asarray(table["nearest_prototype_accuracy"]), "s--", color="tab:orange")
    right.axhline(FIT_FLOOR, color="tab:orange", lw=0.8, ls=":")
    right.set_ylim(0, 1.02)
    right.set_ylabel("nearest-prototype accuracy\non the training clips", color="tab:orange")
    ax.legend(loc="upper left", frameon=False)
    return ax


# How a comparison bears on its claim (``claims.verdict.Comparison.bearing``), as the forest marks it.
BEARING_COLOURS = {
    "for": "tab:green",
    "against": "tab:red",
    "no effect": "tab:orange",
    "undecided": "0.55",
    "context": "tab:blue",
}


def forest(rows, ax=None, unit: str = "accuracy points"):
    """One line per comparison behind a verdict, as its rule reads it: the fold-paired difference
    (dot) and its family-level (Bonferroni) interval (thick), coloured by how it bears on the claim
    (``BEARING_COLOURS``); where it has an equivalence margin, the equivalence test's interval
    (thin, just below) and ticks at ±margin. Grouped by ``group`` with a header per group.
    ``rows``: dicts with group, label, mean, low, high, equivalence_low, equivalence_high,
    margin (or None) and bearing, in ``unit``."""
    ax = ax or plt.subplots(figsize=(WIDTH, 0.36 * len(rows) + 1.2))[1]
    y, ticks, labels, previous = 0, [], [], None
    for row in rows:
        if row["group"] != previous:
            y -= 0.6
            ax.text(0.0, y, row["group"], transform=ax.get_yaxis_transform(), ha="right", va="center",
                    fontweight="bold")  # fmt: skip
            previous = row["group"]
            y -= 1
        colour = BEARING_COLOURS[row["bearing"]]
        ax.plot([row["low"], row["high"]], [y, y], color=colour, lw=2.5)
        ax.plot([row["mean"]], [y], "o", color=colour)
        if row.get("margin"):
            ax.plot([row["equivalence_low"], row["equivalence_high"]], [y - 0.28] * 2, color=colour, lw=1)
            ax.plot([-row["margin"], row["margin"]], [y, y], "|", color="0.3", ms=12)
        ticks.append(y)
        labels.append(row["label"])
        y -= 1
    ax.axvline(0, color="0.5", lw=1)
    ax.set_yticks(ticks, labels)
    ax.set_ylim(y + 0.3, 0.2)
    ax.set_xlabel(unit)
    return ax


def fold_differences(df, reference: str, labels: dict[str, str], ax=None, metric: str = "accuracy"):
    """Each method's difference from ``reference`` in the unit the statistics use: one grey dot
    per fold (seeds averaged within the fold) and the fold-paired mean with its 95 % t-interval
    over folds (``stats.paired_by_fold``), in points; methods in ``labels``' order."""

    methods = [m for m in labels if m != reference and m in set(df["method"])]
    ax = ax or plt.subplots(figsize=(WIDTH, 0.45 * len(methods) + 1))[1]
    for y, method in enumerate(methods):
        per_fold = 100 * differences(df, metric, method, reference)
        ax.plot(per_fold, [y] * len(per_fold), "o", color="0.6", ms=4)
        d = paired_by_fold(df, metric, method, reference)
        # One colour for every interval: this 95 % interval is for the eye, uncorrected; the
        # decisions (and the book's decision colours) come from the corrected intervals.
        colour = "tab:blue"
        ax.plot([100 * d["low"], 100 * d["high"]], [y, y], color=colour, lw=2.5)
        ax.plot([100 * d["mean"]], [y], "D", color=colour, ms=6)
    ax.axvline(0, color="0.4", lw=1)
    ax.set_yticks(range(len(methods)), [labels[m] for m in methods])
    ax.set_ylim(len(methods) - 0.5, -0.5)
    ax.set_xlabel(f"{metric} minus {labels[reference]}, points")
    return ax


def fold_difference_panels(results: dict, reference: str, labels: dict[str, str], titles: dict[str, str]):
    """``fold_differences`` for each corpus of ``results`` (name -> runs), one panel per corpus
    titled by ``titles``."""
    fig, axes = plt.subplots(len(results), 1, figsize=(WIDTH, 3.25 * len(results)), constrained_layout=True)
    for ax, (name, df) in zip(np.atleast_1d(axes), results.items()):
        fold_differences(df, reference, labels, ax).set_title(titles[name])
    return fig


def curve_grid(curves: dict, labels: dict[str, str]):
    """Training (left) and test (right) accuracy per epoch, one row per dataset of ``curves``
    (name -> ``tables.learning_curves``), folds averaged with a band of ± one std."""
    fig, axes = plt.subplots(len(curves), 2, figsize=(WIDTH, 3 * len(curves)), constrained_layout=True, sharey="col")
    for row, (name, c) in zip(np.atleast_2d(axes), curves.items()):
        shown = {m: label for m, label in labels.items() if m in set(c["method"])}
        mean_curves(c, "train_accuracy", shown, ax=row[0], scale=100)
        mean_curves(c, "test_accuracy", shown, ax=row[1], scale=100)
        row[0].set_ylabel(f"{name}\ntraining accuracy %")
        row[1].set_ylabel("test accuracy %")
    fig.legend(*np.atleast_2d(axes)[0][1].get_legend_handles_labels(), loc="outside lower center", ncols=2)
    return fig


def _fold_mean(rows, by: str, column: str):
    """Mean and std over folds of ``column`` per value of ``by`` (seeds averaged in each fold)."""

    per_fold = fold_means(rows, column, by).groupby(by)[column]
    return per_fold.mean(), per_fold.std()


def embedding_size(size, ax=None):
    """Test accuracy against embedding size k for prototypes and CE (fold mean ± std)."""
    ax = ax or plt.subplots(figsize=(WIDTH, 3.6), constrained_layout=True)[1]
    for loss, label in [("prototypes", "predefined prototypes"), ("ce", "cross-entropy")]:
        mean, std = _fold_mean(size[size["loss"] == loss], "embed_dim", "accuracy")
        ax.errorbar(mean.index, 100 * mean, yerr=100 * std, marker="o", capsize=3, label=label)
    ax.set_xscale("log", base=2)
    ax.axvline(10, color="0.7", linestyle=":")
    ax.text(10.3, ax.get_ylim()[0] + 1, "k = C", color="0.5")
    ax.set_xlabel("embedding size k (log scale)")
    ax.set_ylabel("test accuracy % (fold mean ± std)")
    ax.legend()
    return ax


def factor_levels(runs, levels: list[int]):
    """Emotion accuracy (left) and the balanced probes (right) against levels per factor, for
    the factor-prototype runs of ``runs`` (``factor_tables.probe_means``) with all three factors,
    beside CE and plain prototypes; fold mean ± std."""
    fig, (left, right) = plt.subplots(2, 1, figsize=(WIDTH, 7.4), constrained_layout=True, sharex=True)
    factor = runs[(runs["loss"] == "factor_prototypes") & (runs["factors"] == "pitch_median,pitch_std,loudness")]
    mean, std = _fold_mean(factor, "factor_levels", "accuracy")
    left.errorbar(mean.index, 100 * mean, 100 * std, fmt="-o", capsize=3, label="factor prototypes")
    for method, style in [("ce", "--"), ("prototypes", ":")]:
        reference = runs[runs["method"] == method].groupby("fold")["accuracy"].mean().mean()
        name = {"ce": "cross-entropy", "prototypes": "predefined prototypes"}[method]
        left.axhline(100 * reference, linestyle=style, color="0.4", label=f"{name} (embedding size 34)")
    left.set_xlabel("levels per factor")
    left.set_ylabel("emotion accuracy %")
    left.legend()
    for column, label, style in [
        ("own_block_probe", "own block", "-s"),
        ("emotion_probe", "emotion label alone", "--^"),
    ]:
        mean, std = _fold_mean(factor, "factor_levels", column)
        right.errorbar(mean.index, 100 * mean, 100 * std, fmt=style, capsize=3, label=label)
    right.plot(
        levels, [100 / n for n in levels], ":", color="0.5", label="1 / levels (chance, a speaker with every level)"
    )
    right.set_xlabel("levels per factor")
    right.set_ylabel("balanced probe accuracy %")
    right.legend()
    return fig


def forest_panels(rows: list[dict]):
    """``forest`` with one panel per unit of ``rows`` (accuracy points, probe points, ...)."""
    units = list(dict.fromkeys(r["unit"] for r in rows))
    heights = [sum(r["unit"] == u for r in rows) + 1 for u in units]
    fig, axes = plt.subplots(
        len(units),
        1,
        figsize=(WIDTH, 0.36 * len(rows) + 1.6 * len(units)),
        constrained_layout=True,
        height_ratios=heights,
    )
    for ax, unit in zip(np.atleast_1d(axes), units):
        forest([r for r in rows if r["unit"] == unit], ax, unit)
    return fig


REGIME_COLOURS = {"from scratch": "0.45", "pretrained GE2E": "tab:purple"}


def regimes(rows: list[dict], margin: float):
    """Claim 1's fold-paired differences per corpus (a panel each), from scratch and with the
    pretrained encoder side by side: dot and the interval its verdict reads, ±``margin`` dashed.
    ``rows``: ``claims.pretrained.regime_rows``'s dicts, in points."""
    corpora = list(dict.fromkeys(r["corpus"] for r in rows))
    labels = list(dict.fromkeys(r["label"] for r in rows))
    fig, axes = plt.subplots(1, len(corpora), figsize=(WIDTH, 0.5 * len(labels) + 1.6), sharey=True,
                             constrained_layout=True, squeeze=False)  # fmt: skip
    for ax, corpus in zip(axes[0], corpora):
        for offset, (regime, colour) in zip((0.15, -0.15), REGIME_COLOURS.items()):
            for r in rows:
                if r["corpus"] == corpus and r["regime"] == regime:
                    y = -labels.index(r["label"]) + offset
                    ax.plot([r["low"], r["high"]], [y, y], color=colour, lw=2.5)
                    ax.plot([r["mean"]], [y], "o", color=colour, label=regime)
        ax.axvline(0, color="0.5", lw=1)
        for edge in (-margin, margin):
            ax.axvline(edge, color="0.6", lw=1, ls="--")
        ax.set_title(corpus)
        ax.set_xlabel("difference, accuracy points")
    axes[0][0].set_yticks([-i for i in range(len(labels))], labels)
    handles = {h.get_label(): h for ax in axes[0] for h in ax.get_lines() if not h.get_label().startswith("_")}
    fig.legend(handles.values(), handles.keys(), loc="outside lower center", ncols=len(handles))
    return fig


def pilot_curves(curves: dict, floor: float, chosen: dict[str, int | None]):
    """The pretrained pilots' running training accuracy per epoch (a panel per corpus): a line per
    fine-tuning run, coloured by encoder rate, styled by loss (CE solid, control dash-dot,
    prototypes dashed; a pull at the first plan's settings thin grey); the training floor dotted,
    the chosen epochs (``chosen``: corpus -> epochs, or None) in red. ``curves``: corpus ->
    ``claims.pretrained.pilot_curves``'s table."""
    styles = {"ce": ("-", "CE"), "zero_prototypes": ("-.", "control"), "prototypes": ("--", "prototypes")}
    fig, axes = plt.subplots(1, len(curves), figsize=(WIDTH, 3.4), sharey=True, constrained_layout=True,
                             squeeze=False)  # fmt: skip
    for ax, (corpus, table) in zip(axes[0], curves.items()):
        tuned = table[table["arm"] != "probe"]
        rates = sorted(tuned["rate"].unique())
        colours = {rate: plt.cm.viridis(0.15 + 0.6 * i / max(len(rates) - 1, 1)) for i, rate in enumerate(rates)}
        for (_, rate), run in tuned.sort_values("epoch").groupby(["run_id", "rate"]):
            arm = run["arm"].iloc[0]
            if arm in styles:
                style, name = styles[arm]
                ax.plot(run["epoch"], 100 * run["train_accuracy"], style, color=colours[rate], lw=1.3,
                        label=f"{name}, encoder rate {rate:g}")  # fmt: skip
            else:
                ax.plot(run["epoch"], 100 * run["train_accuracy"], color="0.7", lw=0.8, label="first plan's pull")
        ax.axhline(100 * floor, color="0.3", lw=1, ls=":")
        if chosen.get(corpus):
            ax.axvline(chosen[corpus], color="tab:red", lw=1)
        ax.set_title(corpus)
        ax.set_xlabel("epoch")
        ax.set_ylim(40, 100.5)
    axes[0][0].set_ylabel("running training accuracy, %")
    handles = {h.get_label(): h for ax in axes[0] for h in ax.get_lines() if not h.get_label().startswith("_")}
    fig.legend(handles.values(), handles.keys(), loc="outside lower center", ncols=2)
    return fig
