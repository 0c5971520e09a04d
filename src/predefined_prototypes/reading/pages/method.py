"""The method page's glue: the prototype constructions drawn and measured (this page alone
loads torch, to build them)."""

from __future__ import annotations

import warnings

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import torch

from ...method.prototypes import prototype_builder, prototype_geometry
from ...method.registry import PROTOTYPE_KINDS
from ..figures import WIDTH


def prototype_gallery(classes: int = 10, dims: tuple[int, ...] = (16, 6)):
    """Cosines between the prototypes each registered construction (``registry.PROTOTYPE_KINDS``)
    makes for ``classes`` classes at each size in ``dims`` (one row of panels per size); returns
    the figure and each set's geometry."""
    builders = {name: prototype_builder(name) for name in PROTOTYPE_KINDS}
    fig, axes = plt.subplots(len(dims), len(builders), figsize=(WIDTH, 1.9 * len(dims)), constrained_layout=True)
    rows = []
    for row, dim in zip(np.atleast_2d(axes), dims):
        for ax, (name, build) in zip(row, builders.items()):
            if name == "simplex_etf" and dim < classes - 1:
                ax.set_axis_off()
                ax.set_title(f"{name.replace('_', ' ')}\nk={dim}: needs\nk ≥ C − 1")
                continue
            with warnings.catch_warnings():  # fewer dimensions than classes is the point of the row
                warnings.simplefilter("ignore", UserWarning)
                m = torch.nn.functional.normalize(build(classes, dim, seed=0), dim=1)
            image = ax.imshow((m @ m.T).numpy(), vmin=-1, vmax=1, cmap="RdBu_r")
            ax.set_title(f"{name.replace('_', ' ')}\nk={dim}")
            ax.set_xticks([]), ax.set_yticks([])
            rows.append({"prototypes": name, "k": dim, **prototype_geometry(m)})
    fig.colorbar(image, ax=axes, shrink=0.6, label="cosine between class prototypes")
    return fig, pd.DataFrame(rows)
