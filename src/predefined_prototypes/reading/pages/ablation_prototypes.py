"""The prototype-choice ablation page's glue."""

from __future__ import annotations

import pandas as pd

from ..stats import against_reference, describe_difference, paired_by_fold
from ..tables import beyond_noise, describe_protocol, shown, under_fitted, with_geometry
from .common import rule_words

# Geometry shown beside each setting of the prototype ablation.
ABLATION_GEOMETRY = {
    "collapse_nc1": "NC1",
    "collapse_mean_norm": "mean ‖z‖",
    "collapse_cosine_to_prototype": "cosine to own prototype",
    "collapse_nearest_prototype_accuracy": "nearest-prototype accuracy",
    "head_accuracy": "linear head accuracy",
}


def prototype_ablation(df: pd.DataFrame) -> dict:
    """The prototype-ablation page from its table (with geometry): ``values`` to glue and the
    three comparisons, each against orthogonal prototypes at s = 1, k = 32 (``kind``, ``scale``:
    ``stats.against_reference`` with geometry beside it) or against CE at each size (``size``,
    with ``size_runs`` for the figure)."""

    at_32 = (df["embed_dim"] == 32) & (df["scale"] == 1.0)
    kind = df[at_32 & df["loss"].isin(["prototypes", "learned_prototypes"])].copy()
    kind["prototypes"] = kind["prototypes"].where(kind["loss"] == "prototypes", "learned")
    kind_table = against_reference(kind, "prototypes", "orthogonal")
    orthogonal = (df["loss"] == "prototypes") & (df["prototypes"] == "orthogonal")
    scale = df[orthogonal & (df["embed_dim"] == 32)].sort_values("scale")
    scale_table = against_reference(scale, "scale", 1.0)
    size = df[(df["scale"] == 1.0) & (df["prototypes"] == "orthogonal") & df["loss"].isin(["prototypes", "ce"])]
    rows = []
    for k, runs in size.groupby("embed_dim"):
        means = runs.groupby("loss")["accuracy"].mean()
        rows.append(
            {
                "embedding size k": k,
                "cross-entropy %": f"{100 * means.get('ce', float('nan')):.1f}",
                "prototypes %": f"{100 * means.get('prototypes', float('nan')):.1f}",
                "prototypes − CE": describe_difference(paired_by_fold(runs, "accuracy", "prototypes", "ce", by="loss")),
            }
        )
    size_table = pd.DataFrame(rows).set_index("embedding size k")
    values = {
        "ablation_protocol": describe_protocol(df, "ablation-prototypes"),
        "construction_beyond_noise": beyond_noise(kind_table, "prototypes"),
        "construction_under_fitted": under_fitted(kind_table, "prototypes"),
        "scale_beyond_noise": beyond_noise(scale_table, "scale"),
        "scale_under_fitted": under_fitted(scale_table, "scale"),
        **rule_words(),
    }
    for k in (4, 8, 64):  # the sizes the page's text names; a size not stored yet says so
        values[f"size_{k}"] = size_table["prototypes − CE"].get(k, "not run yet")
    return {
        "values": values,
        "kind": shown(with_geometry(kind_table, kind, "prototypes", ABLATION_GEOMETRY)),
        "scale": shown(with_geometry(scale_table, scale, "scale", ABLATION_GEOMETRY)),
        "size": size_table,
        "size_runs": size,
    }
