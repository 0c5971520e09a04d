"""The geometry page's glue: how each method's test embeddings sit around their class means and prototypes."""

from __future__ import annotations

import pandas as pd

from ..stats import describe_difference, paired_by_fold

# Embedding geometry (derivations.geometry), by column, as the geometry and ablation pages label it.
COLLAPSE = {
    "collapse_nc1": "NC1",
    "collapse_equinorm_cv": "equinorm CV",
    "collapse_cosine_spread": "cosine spread",
    "collapse_cosine_max": "max cosine",
    "collapse_mean_norm": "mean ‖z‖",
}


TO_PROTOTYPES = {
    "collapse_cosine_to_prototype": "cosine to own prototype",
    "collapse_prototype_span_energy": "energy in prototype span",
    "collapse_nearest_prototype_accuracy": "nearest-prototype accuracy",
    "head_accuracy": "linear-head accuracy",
}


def geometry(runs: pd.DataFrame, shown: pd.DataFrame) -> dict[str, str]:
    """The geometry page's numbers: each method's mean of every geometry column (two decimals),
    the span energy of a random direction, NC1 of the prototypes against CE and the control,
    and the fold and seed of the ``shown`` runs.

    >>> runs = pd.DataFrame({"method": ["ce", "prototypes"] * 2, "fold": ["a", "a", "b", "b"], "seed": 0,
    ...                      "collapse_nc1": [1.0, 0.5, 0.8, 0.4], "collapse_prototype_span_chance": 0.3})
    >>> values = geometry(runs, runs.head(2))
    >>> values["geo_ce_collapse_nc1"], values["geo_span_chance"], values["geometry_fold"]
    ('0.90', '0.30', 'a')
    """
    means = runs.groupby("method").mean(numeric_only=True)
    values = {
        "geometry_fold": str(shown["fold"].iloc[0]),
        "geometry_seed": str(shown["seed"].iloc[0]),
        "geo_span_chance": f"{means['collapse_prototype_span_chance'].dropna().iloc[0]:.2f}",
    }
    for method in means.index:
        for column in [*COLLAPSE, *TO_PROTOTYPES]:
            if column in means:
                values[f"geo_{method}_{column}"] = f"{means.loc[method, column]:.2f}"
    for against, name in (("ce", "cross-entropy"), ("zero_prototypes", "the zero-prototype control")):
        if {"prototypes", against} <= set(runs["method"]):
            d = paired_by_fold(runs, "collapse_nc1", "prototypes", against)
            values[f"geo_nc1_prototypes_vs_{against}"] = describe_difference(
                d, name, scale=1, unit="", above="looser classes than", below="tighter classes than"
            )
    return values
