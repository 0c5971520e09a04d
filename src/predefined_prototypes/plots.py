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
    right.plot([h["epoch"] for h in tested], [h["test_accuracy"] for h in tested], "o-", color="tab:orange",
               label="test accuracy")
    right.set_ylabel("test accuracy", color="tab:orange")
    right.set_ylim(0, 1)
    return ax


def cosine_heatmap(matrix, classes: list[str], ax=None, title: str = ""):
    """A [C, C] cosine matrix on a fixed -1..1 diverging scale, so panels compare."""
    ax = ax or plt.subplots(figsize=(4, 3.5))[1]
    image = ax.imshow(np.asarray(matrix), vmin=-1, vmax=1, cmap="RdBu_r")
    ticks = range(len(classes))
    ax.set_xticks(ticks, classes, rotation=90, fontsize=7)
    ax.set_yticks(ticks, classes, fontsize=7)
    ax.set_title(title, fontsize=9)
    return image
