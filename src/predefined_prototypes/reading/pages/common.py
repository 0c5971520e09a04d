"""What every page shares: gluing values into the prose, and the command that reruns a page's sweeps."""

from __future__ import annotations

import pandas as pd
from IPython.display import Markdown
from myst_nb import glue

from ...storage.results import has_started, holds_plan, planned
from ...storage.store import ResultsError
from ..rules import ACCURACY_MARGIN, ALPHA, TRAINING_FLOOR
from ..runs import load_results


def glue_all(values: dict) -> None:
    """Glue every value under its name, for the page's prose (``{glue:text}`name```)."""

    for name, value in values.items():
        glue(name, value, display=False)


def rule_words() -> dict[str, str]:
    """The rules' thresholds as the prose names them (``rules``: each is set once, there).

    >>> rule_words()["training_floor"]
    '97 %'
    """
    return {
        "training_floor": f"{100 * TRAINING_FLOOR:g} %",
        "accuracy_margin": f"{100 * ACCURACY_MARGIN:g} points",
        "alpha": f"{ALPHA:g}",
    }


def projected_hours(sweep: str, df: pd.DataFrame, workers: int = 2) -> float:
    """A sweep file's full profile in hours on ``workers`` parallel runs, from its stored runs'
    own time per epoch (``df``; the quick profile's shorter runs where the full one is not stored)."""

    per_epoch = (df["wall_time_s"] / df["epochs"]).mean()
    return sum(r.settings["epochs"] for r in planned(sweep, "full")) * per_epoch / workers / 3600


def recorded_hours(sweep: str, workers: int = 2) -> tuple[float, int]:
    """The hours a sweep file's stored full-profile runs took, ``workers`` at a time (their recorded
    wall times), and how many runs that is; (0, 0) before its full profile has started."""
    if not holds_plan(sweep, "full"):
        return 0.0, 0
    runs = load_results(sweep, "full")
    return float(runs["wall_time_s"].sum()) / workers / 3600, len(runs)


def rerun(*sweeps: str):
    """The 'Rerun this page' section: per sweep file, the command that completes its full profile,
    the data it reads and the projected time on 2 cores; then the book command."""

    lines, datasets = [], set()
    for sweep in sweeps:
        if not has_started(sweep):
            lines.append(
                f"- `python -m predefined_prototypes sweep configs/{sweep}.yaml --profile full --workers 2`: "
                "not started here; it records its plan and rules, then runs."
            )
            continue
        runs = planned(sweep, "full")
        reads = sorted({r.settings["dataset"] for r in runs})
        datasets |= set(reads)
        try:
            hours = f"about {projected_hours(sweep, load_results(sweep)):.1f} h on 2 cores"
        except ResultsError:  # nothing stored yet to time it by
            hours = "its time is projected once a run is stored"
        lines.append(
            f"- `python -m predefined_prototypes sweep configs/{sweep}.yaml --profile full --workers 2`: "
            f"{len(runs)} runs on {', '.join(f'`$PP_DATA_DIR/{d}`' for d in reads)}, {hours}."
        )
    lines.append("- `make book`: the pages whose tables changed run again, the others come from the cache.")
    fetch = "; ".join(
        f"`python -m predefined_prototypes data download {d} --to $PP_DATA_DIR/{d}`" for d in sorted(datasets)
    )
    return Markdown(
        "Each sweep command completes its sweep file's full profile: runs already stored are skipped, and the "
        "sweep derives the tables this page reads once its runs are stored.\n\n"
        + "\n".join(lines)
        + f"\n\nTimes are projected from the stored runs' own time per epoch. A missing dataset: {fetch}."
    )
