"""Figures shared by the notebooks and the book."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np


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

    ``curves`` is ``report.learning_curves``' long table; ``labels`` maps methods, in display
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
    ``columns`` maps k to the column holding that k's accuracy; ``labels`` methods to names."""
    from scipy import stats as scipy_stats

    from .stats import paired_by_fold

    axes = axes if axes is not None else plt.subplots(1, 2, figsize=(10, 3.8))[1]
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


def plot_explanations(terms: np.ndarray, emb: dict, factor_labels: list[str]):
    """For each class, the test clip predicted as that class by the widest margin: bars of each
    factor block's, the residual's and the bias's share of the margin over the runner-up class
    (``metrics.contrast_contributions``, [N, F + 2]; the bars sum to the margin), titled with what
    was measured on the recording. ``emb`` is the run's stored embeddings."""
    logits = emb["logits"].astype(np.float32)
    ranked = np.argsort(-logits, axis=1)
    predicted, runner_up = ranked[:, 0], ranked[:, 1]
    margin = terms.sum(axis=1)
    classes = list(emb["classes"])
    rows = (len(classes) + 1) // 2
    fig, axes = plt.subplots(rows, 2, figsize=(10, 3.5 * rows), sharey=True, constrained_layout=True, squeeze=False)
    colors = [*plt.cm.tab10(range(len(factor_labels))), "0.6", "0.85"]
    for ax, c in zip(axes.flat, range(len(classes))):
        candidates = np.where(predicted == c)[0]
        if len(candidates) == 0:
            ax.set_axis_off()
            ax.set_title(f"no test utterance predicted {classes[c]}", fontsize=9)
            continue
        i = candidates[margin[candidates].argmax()]
        ax.bar([*factor_labels, "residual", "bias"], terms[i], color=colors)
        ax.axhline(0, color="0.3", linewidth=0.8)
        values = emb["factor_values"][i]
        measured = ", ".join(f"{label} {v:.1f}" for label, v in zip(factor_labels, values))
        ax.set_title(
            f"{emb['paths'][i]}: true {classes[emb['labels'][i]]}, predicted {classes[c]} over "
            f"{classes[runner_up[i]]}\n{measured}",
            fontsize=9,
        )
        ax.tick_params(axis="x", labelsize=9)
    for ax in axes[:, 0]:
        ax.set_ylabel("share of the margin over the runner-up")
    return fig


def cosine_heatmap(matrix, classes: list[str], ax=None, title: str = ""):
    """A [C, C] cosine matrix on a fixed -1..1 diverging scale, so panels compare."""
    ax = ax or plt.subplots(figsize=(4, 3.5))[1]
    image = ax.imshow(np.asarray(matrix), vmin=-1, vmax=1, cmap="RdBu_r")
    ticks = range(len(classes))
    ax.set_xticks(ticks, classes, rotation=90, fontsize=7)
    ax.set_yticks(ticks, classes, fontsize=7)
    ax.set_title(title, fontsize=9)
    return image
