"""How far the pitch labels hold: the package's tracker against CREPE on every clip the Claim 2
runs read (``reports/pitch-check-<dataset>.csv``, written by ``data pitch-check``).

Levels here are corpus-wide: each tracker's medians cut into ``LEVELS`` equally populated levels
over all the report's clips (a run cuts on its training actors only, so a run's levels differ a
little). Two trackers a semitone apart can still fall either side of a cut, so the share in the
same level is a floor on agreement; the octave errors are the disagreement a cut cannot cause.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from ..storage.results import REPO
from ..storage.store import ResultsError

LEVELS = 6  # the factor runs' levels per factor
OCTAVE_APART = 0.5  # |log2(ours / CREPE)| above half an octave: one tracker took another octave
FILTER_HZ = (85.0, 275.0)  # the authors' validity filter on the median (run.factors.PITCH_RANGE_HZ)


def load_pitch_check(name: str, reports_dir: str | Path = REPO / "reports") -> pd.DataFrame:
    """The pitch check of dataset ``name``; ResultsError naming the command if it is missing."""
    path = Path(reports_dir) / f"pitch-check-{name}.csv"
    if not path.is_file():
        raise ResultsError(
            f"no pitch check at {path}: run python -m predefined_prototypes data pitch-check {name} "
            f"--option classes=4 --out {path} (needs the [pretrained] extra)"
        )
    return pd.read_csv(path)


def levels(values: pd.Series, count: int = LEVELS) -> pd.Series:
    """``values`` cut into ``count`` equally populated levels (0 .. count - 1); NaN stays NaN.

    >>> levels(pd.Series([1.0, 2.0, 3.0, 4.0, np.nan, 6.0]), 3).tolist()
    [0.0, 0.0, 1.0, 2.0, nan, 2.0]
    """
    cuts = np.nanquantile(values, np.arange(1, count) / count)
    return pd.Series(np.where(values.isna(), np.nan, np.searchsorted(cuts, values, side="right")), index=values.index)


def with_levels(check: pd.DataFrame) -> pd.DataFrame:
    """``check`` with each tracker's level, the ratio of the medians in semitones, whether the two
    are over half an octave apart, and whether the filter's pitch decision differs."""
    both = check.dropna(subset=["ours_median_hz", "crepe_median_hz"]).copy()
    both["ours_level"], both["crepe_level"] = levels(both["ours_median_hz"]), levels(both["crepe_median_hz"])
    both["semitones"] = 12 * np.log2(both["ours_median_hz"] / both["crepe_median_hz"])
    both["octave_apart"] = both["semitones"].abs() > 12 * OCTAVE_APART
    inside = {k: both[f"{k}_median_hz"].between(*FILTER_HZ) for k in ("ours", "crepe")}
    both["filter_differs"] = inside["ours"] != inside["crepe"]
    return both


def agreement_table(check: pd.DataFrame, by: tuple[str, ...] = ("sex",)) -> pd.DataFrame:
    """Per group of ``by`` (and all clips): clips measured by both trackers, the share put in the
    same level and within one level, the median distance in semitones, the octave errors (over half
    an octave apart, ours above and below CREPE) and the clips whose filter decision differs.

    >>> check = pd.DataFrame({"sex": ["f"] * 6 + ["m"] * 6, "ours_median_hz": [200.0, 210, 400, 220, 230, 240, *range(100, 160, 10)],
    ...                       "crepe_median_hz": [200.0, 210, 200, 220, 230, 240, *range(100, 160, 10)]})
    >>> int(agreement_table(check).set_index("group").loc["sex f", "octave errors, ours above"])
    1
    """
    both = with_levels(check)
    rows = [("all clips", both)]
    for key in by:
        if key in both:
            rows += [(f"{key} {value}", part) for value, part in both.groupby(key, sort=True)]
    return pd.DataFrame(
        [
            {
                "group": name,
                "clips measured by both": len(part),
                "same level %": round(100 * (part["ours_level"] == part["crepe_level"]).mean(), 1),
                "within one level %": round(100 * ((part["ours_level"] - part["crepe_level"]).abs() <= 1).mean(), 1),
                "median distance, semitones": round(part["semitones"].abs().median(), 2),
                "octave errors, ours above": int((part["octave_apart"] & (part["semitones"] > 0)).sum()),
                "octave errors, ours below": int((part["octave_apart"] & (part["semitones"] < 0)).sum()),
                "filter decision differs": int(part["filter_differs"].sum()),
            }
            for name, part in rows
        ]
    )


def level_confusion(check: pd.DataFrame) -> pd.DataFrame:
    """Clips by the package tracker's level (rows) and CREPE's (columns), corpus-wide levels."""
    both = with_levels(check)
    table = pd.crosstab(both["ours_level"].astype(int), both["crepe_level"].astype(int))
    return table.rename_axis(index="package tracker's level", columns="CREPE's level")
