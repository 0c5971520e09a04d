"""The novel-classes page's glue: few-shot accuracy on classes held out of training."""

from __future__ import annotations

import pandas as pd

from ...storage.results import planned_runs
from ..claims.novel_classes import novel_answer
from ..stats import describe_difference, paired_by_fold
from ..tables import FEW_SHOT_COLUMNS, describe_protocol


def novel_classes(raw: pd.DataFrame, cells: pd.DataFrame) -> dict[str, str]:
    """The novel-classes page's numbers: each prototype method against CE, and the predefined
    prototypes against learned ones and against the control, at every number of shots and on
    the classes seen in training, paired over (pair, speaker) cells."""

    values = {
        "novel_protocol": describe_protocol(raw, "novel-classes"),
        "novel_cells": f"{cells['fold'].nunique()} (pair, speaker) cells",
        "novel_answer": novel_answer(cells, planned_runs("novel-classes", "full")),
    }

    def against(column, method, baseline, name="cross-entropy"):
        return describe_difference(paired_by_fold(cells, column, method, baseline), name, fold="cell")

    for method in ("prototypes", "learned_prototypes", "zero_prototypes"):
        values[f"novel_{method}_base"] = against("accuracy", method, "ce")
        for k, column in FEW_SHOT_COLUMNS.items():
            values[f"novel_{method}_{k}"] = against(column, method, "ce")
    for k, column in FEW_SHOT_COLUMNS.items():
        values[f"novel_fixed_vs_learned_{k}"] = against(
            column, "prototypes", "learned_prototypes", "learned prototypes"
        )
        values[f"novel_fixed_vs_zero_{k}"] = against(
            column, "prototypes", "zero_prototypes", "the zero-prototype control"
        )
    return values
