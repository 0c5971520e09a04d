"""Reading stored results for the book: tables with spread, paired comparisons, per-run data.

Everything here reads ``results/`` (written by ``sweep``) and never trains.
"""

from __future__ import annotations

import json
import math
import os
from pathlib import Path

import numpy as np
import pandas as pd
from scipy import stats

REPO = Path(__file__).resolve().parents[2]
CONFIGS = REPO / "configs"
# The repository's results/, or another folder of the same layout named by PP_RESULTS_DIR.
RESULTS = Path(os.environ.get("PP_RESULTS_DIR") or REPO / "results")
LOSS_NAMES = {"ce": "cross-entropy", "focal": "focal loss (γ = 2)", "opl": "CE + OPL",
              "prototypes": "predefined prototypes", "learned_prototypes": "learned prototypes"}


# Columns every page relies on; a table without them is broken, not empty.
REQUIRED_COLUMNS = ("run_id", "profile", "dataset", "loss", "fold", "seed", "epochs", "accuracy", "macro_f1",
                    "ece", "train_accuracy", "wall_time_s")


class ResultsError(ValueError):
    """A results table is missing, empty or malformed; the message names the file and the fix."""


def load_results(sweep: str, profile: str | None = None, results_dir: str | Path = RESULTS) -> pd.DataFrame:
    """A sweep profile's table, ``results/<sweep>/<profile>.csv``: one row per stored run.
    Without ``profile``, the full profile's table where one is stored, else the quick one's.

    A missing, empty or malformed table raises ResultsError naming the file, so a page never
    renders blanks.
    """
    folder = Path(results_dir) / sweep
    if profile is None:
        profile = "full" if (folder / "full.csv").is_file() else "quick"
    path = folder / f"{profile}.csv"
    rerun = f"python -m predefined_prototypes sweep configs/{sweep}.yaml --profile {profile}"
    if not path.is_file():
        raise ResultsError(f"no results table at {path}: run {rerun}")
    try:
        table = pd.read_csv(path, dtype={"fold": str, "run_id": str})
    except pd.errors.EmptyDataError:
        raise ResultsError(f"{path} is empty: rebuild it with {rerun} --aggregate-only") from None
    missing = [c for c in REQUIRED_COLUMNS if c not in table.columns]
    if missing:
        raise ResultsError(f"{path} lacks column(s) {', '.join(missing)}: rebuild it with {rerun} --aggregate-only")
    if table.empty:
        raise ResultsError(f"{path} has no rows: run {rerun}")
    return table


def load_run(sweep: str, run_id: str, results_dir: str | Path = RESULTS) -> tuple[dict, dict]:
    """A run's metrics.json record and its (slim) test embeddings."""
    folder = Path(results_dir) / sweep / "runs" / run_id
    record = json.loads((folder / "metrics.json").read_text())
    with np.load(folder / "embeddings.npz") as npz:
        embeddings = {k: npz[k] for k in npz.files}
    return record, embeddings


def mean_std(df: pd.DataFrame, by: str | list[str], metrics: list[str]) -> pd.DataFrame:
    """Mean, standard deviation and count of each metric per group, over folds and seeds.

    >>> df = pd.DataFrame({"loss": ["a", "a", "b"], "accuracy": [0.5, 0.7, 0.9]})
    >>> mean_std(df, "loss", ["accuracy"]).round(3).to_dict("records")
    [{'loss': 'a', 'accuracy_mean': 0.6, 'accuracy_std': 0.141, 'n': 2}, {'loss': 'b', 'accuracy_mean': 0.9, 'accuracy_std': nan, 'n': 1}]
    """
    grouped = df.groupby(by, sort=False)
    table = grouped[metrics].agg(["mean", "std"])
    table.columns = [f"{m}_{s}" for m, s in table.columns]
    table["n"] = grouped.size()
    return table.reset_index()


def paired_difference(df: pd.DataFrame, metric: str, column: str, value, baseline,
                      pair_on: tuple[str, ...] = ("fold", "seed"), confidence: float = 0.95) -> dict:
    """Mean difference of ``metric`` between rows with ``column == value`` and ``column ==
    baseline`` matched on ``pair_on`` (same fold and seed), with a t-interval over the pairs.
    With fewer than two pairs the interval is undefined (NaN).

    >>> df = pd.DataFrame({"loss": ["ce", "ce", "p", "p"], "fold": [1, 2, 1, 2], "seed": 0,
    ...                    "accuracy": [0.5, 0.6, 0.6, 0.8]})
    >>> d = paired_difference(df, "accuracy", "loss", "p", "ce")
    >>> round(d["mean"], 3), d["pairs"], round(d["low"], 3), round(d["high"], 3)
    (0.15, 2, -0.485, 0.785)
    """
    keys = list(pair_on)
    a = df[df[column] == value].set_index(keys)[metric]
    b = df[df[column] == baseline].set_index(keys)[metric]
    diff = (a - b).dropna()
    n = len(diff)
    mean = float(diff.mean()) if n else math.nan
    if n >= 2:
        half = float(stats.t.ppf(0.5 + confidence / 2, n - 1)) * float(diff.std(ddof=1)) / math.sqrt(n)
    else:
        half = math.nan
    return {"mean": mean, "low": mean - half, "high": mean + half, "pairs": n,
            "wins": int((diff > 0).sum()), "losses": int((diff < 0).sum())}


def format_mean_std(mean: float, std: float, scale: float = 100.0, digits: int = 1) -> str:
    """'72.4 ± 3.1' (in percent by default); the ± part is left out when std is undefined.

    >>> format_mean_std(0.7243, 0.031), format_mean_std(0.5, float("nan"))
    ('72.4 ± 3.1', '50.0')
    """
    if std != std:  # NaN: a single run
        return f"{mean * scale:.{digits}f}"
    return f"{mean * scale:.{digits}f} ± {std * scale:.{digits}f}"


def describe_difference(d: dict, against: str = "cross-entropy") -> str:
    """A plain-words reading of ``paired_difference`` (differences in accuracy, shown in points).

    >>> describe_difference({"mean": 0.05, "low": 0.01, "high": 0.09, "pairs": 18, "wins": 15, "losses": 3})
    '+5.0 points (95 % CI +1.0 to +9.0, 18 pairs, better in 15): better than cross-entropy beyond seed and fold noise'
    >>> describe_difference({"mean": 0.05, "low": float("nan"), "high": float("nan"), "pairs": 1, "wins": 1, "losses": 0})
    '+5.0 points from a single fold and seed: no interval, so no conclusion'
    """
    points = f"{d['mean'] * 100:+.1f} points"
    if d["pairs"] < 2:
        return f"{points} from a single fold and seed: no interval, so no conclusion"
    interval = (f"{points} (95 % CI {d['low'] * 100:+.1f} to {d['high'] * 100:+.1f}, "
                f"{d['pairs']} pairs, better in {d['wins']})")
    if d["low"] > 0:
        return f"{interval}: better than {against} beyond seed and fold noise"
    if d["high"] < 0:
        return f"{interval}: worse than {against} beyond seed and fold noise"
    return f"{interval}: not distinguishable from {against}"


def describe_protocol(df: pd.DataFrame, sweep: str, configs_dir: str | Path = CONFIGS) -> str:
    """What a results table holds, against what its sweep profile plans, e.g. 'full profile:
    6 fold(s) x 2 seed(s), 15 epochs; 52 of the profile's 90 runs'."""
    from .sweep import load_sweep

    profile = df["profile"].iloc[0]
    planned = len(load_sweep(Path(configs_dir) / f"{sweep}.yaml", profile))
    epochs = ", ".join(str(e) for e in sorted(df["epochs"].unique()))
    return (f"{profile} profile: {df['fold'].nunique()} fold(s) x {df['seed'].nunique()} seed(s), "
            f"{epochs} epochs; {len(df)} of the profile's {planned} runs")
