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

from .losses import LOSSES

REPO = Path(__file__).resolve().parents[2]
CONFIGS = REPO / "configs"
# The repository's results/, or another folder of the same layout named by PP_RESULTS_DIR.
RESULTS = Path(os.environ.get("PP_RESULTS_DIR") or REPO / "results")
# The methods of the main comparison, in display order: a loss, or the prototype loss with a given
# construction and norm (``method`` says which a run is).
# Display names come from the loss registry (``losses.LOSSES``).
METHOD_NAMES = {
    "ce": LOSSES["ce"].display,
    "focal": f"{LOSSES['focal'].display} (γ = 2)",
    "opl": LOSSES["opl"].display,
    "zero_prototypes": "zero-prototype control",
    "prototypes": f"{LOSSES['prototypes'].display}, s = 1",
    "prototypes_s10": f"{LOSSES['prototypes'].display}, s = 10",
    "learned_prototypes": LOSSES["learned_prototypes"].display,
}


# Columns every page relies on; a table without them is broken, not empty.
REQUIRED_COLUMNS = (
    "run_id",
    "profile",
    "dataset",
    "loss",
    "fold",
    "seed",
    "epochs",
    "accuracy",
    "macro_f1",
    "ece",
    "train_accuracy",
    "wall_time_s",
)


def method(row) -> str:
    """The method a run belongs to: its loss, or for the prototype loss the construction and norm.

    >>> method({"loss": "ce", "prototypes": "orthogonal", "scale": 1.0})
    'ce'
    >>> [method({"loss": "prototypes", "prototypes": p, "scale": s})
    ...  for p, s in [("orthogonal", 1.0), ("orthogonal", 10.0), ("zero", 1.0), ("gaussian", 1.0)]]
    ['prototypes', 'prototypes_s10', 'zero_prototypes', 'prototypes_gaussian']
    """
    if row["loss"] != "prototypes":
        return row["loss"]
    if row["prototypes"] == "zero":
        return "zero_prototypes"
    name = "prototypes" if row["prototypes"] == "orthogonal" else f"prototypes_{row['prototypes']}"
    return name if float(row["scale"]) == 1.0 else f"{name}_s{float(row['scale']):g}"


class ResultsError(ValueError):
    """A results table is missing, empty or malformed; the message names the file and the fix."""


def load_results(
    sweep: str, profile: str | None = None, results_dir: str | Path = RESULTS, configs_dir: str | Path = CONFIGS
) -> pd.DataFrame:
    """A sweep profile's table, ``results/<sweep>/<profile>.csv``: one row per stored run of the
    profile's current plan (rows kept from an earlier version of the sweep file are left out; the
    sweep's ``--prune`` removes them), with a ``method`` column. Without ``profile``, the full
    profile's table where one is stored, else the quick one's.

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
    sweep_file = Path(configs_dir) / f"{sweep}.yaml"
    if sweep_file.is_file():
        from .sweep import load_sweep

        table = table[table["run_id"].isin({r.run_id for r in load_sweep(sweep_file, profile)})]
    if table.empty:
        raise ResultsError(f"{path} has no rows of the current plan of {sweep_file.name}: run {rerun}")
    return table.assign(method=table.apply(method, axis=1)).reset_index(drop=True)


def load_finished_profile(
    sweep: str, results_dir: str | Path = RESULTS, configs_dir: str | Path = CONFIGS
) -> pd.DataFrame:
    """The full profile's table once every run it plans is stored, else the quick profile's: for
    pages that pick particular configurations, which a partly run full profile may not hold yet."""
    if (Path(results_dir) / sweep / "full.csv").is_file():
        full = load_results(sweep, "full", results_dir, configs_dir)
        if len(full) == planned_runs(sweep, "full", configs_dir):
            return full
    return load_results(sweep, "quick", results_dir, configs_dir)


def load_benchmark(name: str, benchmarks_dir: str | Path = REPO / "benchmarks") -> pd.DataFrame:
    """A table a benchmark script wrote (``benchmarks/<name>.csv``); ResultsError if it is missing."""
    path = Path(benchmarks_dir) / f"{name}.csv"
    if not path.is_file():
        raise ResultsError(f"no benchmark table at {path}: run python benchmarks/{name}.py on an idle machine")
    return pd.read_csv(path)


def load_run(sweep: str, run_id: str, results_dir: str | Path = RESULTS) -> tuple[dict, dict]:
    """A run's metrics.json record and its (slim) test embeddings."""
    folder = Path(results_dir) / sweep / "runs" / run_id
    record = json.loads((folder / "metrics.json").read_text())
    with np.load(folder / "embeddings.npz") as npz:
        embeddings = {k: npz[k] for k in npz.files}
    return record, embeddings


def run_geometry(sweep: str, df: pd.DataFrame, results_dir: str | Path = RESULTS) -> pd.DataFrame:
    """``df`` with ``metrics.collapse_geometry`` of each run's stored test embeddings added as
    ``collapse_<name>`` columns (computed from the slim float16 embeddings, which moves them by
    well under 1 %), and ``head_accuracy``, the linear classifier's accuracy on the same clips."""
    import torch

    from .metrics import accuracy, collapse_geometry

    rows = []
    for run_id in df["run_id"]:
        _, emb = load_run(sweep, run_id, results_dir)
        z, labels = torch.from_numpy(emb["z"].astype(np.float32)), torch.from_numpy(emb["labels"])
        protos = torch.from_numpy(emb["prototypes"]) if "prototypes" in emb else None
        geometry = collapse_geometry(z, labels, len(emb["classes"]), protos)
        rows.append(
            {
                "run_id": run_id,
                **{f"collapse_{k}": v for k, v in geometry.items()},
                "head_accuracy": accuracy(torch.from_numpy(emb["logits"].astype(np.float32)), labels),
            }
        )
    return df.merge(pd.DataFrame(rows), on="run_id", how="left")


def learning_curves(sweep: str, df: pd.DataFrame, results_dir: str | Path = RESULTS) -> pd.DataFrame:
    """Each run's per-epoch history in long form: one row per (run, epoch) with ``method``, fold,
    seed, ``train_loss``, ``train_accuracy`` (running accuracy over the epoch's augmented batches)
    and ``test_accuracy``, kept only on the epochs that every run tested (runs stored with different
    ``eval_every`` are compared on their common epochs), NaN elsewhere."""
    rows = []
    for run in df.itertuples():
        record, _ = load_run(sweep, run.run_id, results_dir)
        for h in record["history"]:
            rows.append(
                {
                    "run_id": run.run_id,
                    "method": run.method,
                    "fold": run.fold,
                    "seed": run.seed,
                    "epoch": h["epoch"],
                    "train_loss": h["train_loss"],
                    "train_accuracy": h["train_accuracy_running"],
                    "test_accuracy": h.get("test_accuracy", math.nan),
                }
            )
    curves = pd.DataFrame(rows)
    tested = curves.dropna(subset=["test_accuracy"]).groupby("epoch")["run_id"].nunique()
    common = tested.index[tested == curves["run_id"].nunique()]
    curves.loc[~curves["epoch"].isin(common), "test_accuracy"] = math.nan
    return curves


def epochs_to_reach(curves: pd.DataFrame, threshold: float, column: str = "train_accuracy") -> pd.DataFrame:
    """Per run, the first epoch at which ``column`` reaches ``threshold`` (NaN if it never does),
    with the run's method, fold and seed: a convergence speed that ``paired_by_fold`` can compare.

    >>> curves = pd.DataFrame({"run_id": ["a"] * 3 + ["b"] * 3, "method": ["x"] * 3 + ["y"] * 3, "fold": "1",
    ...                        "seed": 0, "epoch": [1, 2, 3] * 2, "train_accuracy": [.5, .9, .99, .5, .6, .7]})
    >>> epochs_to_reach(curves, 0.9)["epochs"].tolist()
    [2.0, nan]
    """

    def first(run):
        reached = run.loc[run[column] >= threshold, "epoch"]
        return float(reached.min()) if len(reached) else math.nan

    keys = ["run_id", "method", "fold", "seed"]
    return curves.groupby(keys, sort=False).apply(first, include_groups=False).rename("epochs").reset_index()


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


def complete_cells(df: pd.DataFrame, by: str = "method") -> pd.DataFrame:
    """The rows of the (fold, seed) cells that every group of ``by`` has run, so each row of a
    table averages the same cells.

    >>> df = pd.DataFrame({"method": ["a", "a", "b"], "fold": ["1", "2", "1"], "seed": 0, "accuracy": [0.5, 0.7, 0.9]})
    >>> complete_cells(df)["fold"].tolist()
    ['1', '1']
    """
    groups = df[by].nunique()
    counts = df.groupby(["fold", "seed"])[by].nunique()
    keep = counts[counts == groups].index
    return df[df.set_index(["fold", "seed"]).index.isin(keep)]


def fold_means(df: pd.DataFrame, metric: str, by: str = "method") -> pd.DataFrame:
    """``metric`` averaged over seeds within each (group, fold): folds (test speakers) are the
    independent units, seeds of one fold are not.

    >>> df = pd.DataFrame({"method": "a", "fold": ["1", "1", "2"], "seed": [0, 1, 0], "accuracy": [0.5, 0.7, 0.9]})
    >>> fold_means(df, "accuracy")["accuracy"].round(3).tolist()
    [0.6, 0.9]
    """
    return df.groupby([by, "fold"], sort=False)[metric].mean().reset_index()


def paired_by_fold(
    df: pd.DataFrame, metric: str, value: str, baseline: str, by: str = "method", confidence: float = 0.95
) -> dict:
    """Difference of ``metric`` between groups ``value`` and ``baseline``, paired by fold: seeds
    are first restricted to the (fold, seed) cells both ran and averaged within each fold; then a
    paired t-interval over folds (scipy's ``ttest_rel``) and a two-sided Wilcoxon signed-rank
    p-value. With fewer than two folds there is no interval (NaN).

    >>> df = pd.DataFrame({"method": ["ce"] * 4 + ["p"] * 4, "fold": ["1", "1", "2", "2"] * 2,
    ...                    "seed": [0, 1] * 4, "accuracy": [.5, .6, .6, .6, .6, .7, .8, .8]})
    >>> d = paired_by_fold(df, "accuracy", "p", "ce")
    >>> round(d["mean"], 3), d["folds"], d["seeds"], round(d["low"], 3), round(d["high"], 3), d["wins"]
    (0.15, 2, 2, -0.485, 0.785, 2)
    """
    both = complete_cells(df[df[by].isin([value, baseline])], by)
    per_fold = fold_means(both, metric, by).pivot(index="fold", columns=by, values=metric)
    a = per_fold[value] if value in per_fold else pd.Series(dtype=float)
    b = per_fold[baseline] if baseline in per_fold else pd.Series(dtype=float)
    diff = (a - b).dropna()
    n = len(diff)
    result = {
        "mean": float(diff.mean()) if n else math.nan,
        "low": math.nan,
        "high": math.nan,
        "p_wilcoxon": math.nan,
        "folds": n,
        "seeds": int(both.groupby("fold")["seed"].nunique().min()) if n else 0,
        "wins": int((diff > 0).sum()),
        "losses": int((diff < 0).sum()),
    }
    if n >= 2:
        interval = stats.ttest_rel(a[diff.index], b[diff.index]).confidence_interval(confidence)
        result.update(low=float(interval.low), high=float(interval.high))
        if (diff != 0).any():
            result["p_wilcoxon"] = float(stats.wilcoxon(diff).pvalue)
    return result


def seed_spread(df: pd.DataFrame, by: str = "method") -> str:
    """The largest accuracy range across seeds of one group on one fold, in points, in words.

    >>> seed_spread(pd.DataFrame({"method": "a", "fold": ["1", "1", "2", "2"], "accuracy": [.5, .6, .7, .72]}))
    'up to 10.0 points (median 6.0)'
    """
    ranges = df.groupby([by, "fold"])["accuracy"].agg(lambda a: a.max() - a.min() if len(a) > 1 else math.nan)
    if ranges.isna().all():
        return "not measured here (one seed per fold)"
    return f"up to {100 * ranges.max():.1f} points (median {100 * ranges.median():.1f})"


def summary_table(df: pd.DataFrame, by: str = "method") -> pd.DataFrame:
    """One row per method (in ``METHOD_NAMES`` order): accuracy, macro-F1, ECE and training
    accuracy as mean ± std over runs, and the number of runs. Pass ``complete_cells(df)`` so
    every row averages the same (fold, seed) cells."""
    metrics = ["accuracy", "macro_f1", "ece", "train_accuracy"]
    table = mean_std(df, by, metrics).set_index(by)
    order = [m for m in METHOD_NAMES if m in table.index] + [m for m in table.index if m not in METHOD_NAMES]
    labels = {
        "accuracy": "accuracy %",
        "macro_f1": "macro-F1 %",
        "ece": "ECE %",
        "train_accuracy": "training accuracy %",
    }
    rows = []
    for m in order:
        r = table.loc[m]
        rows.append(
            {
                "method": METHOD_NAMES.get(m, m),
                **{labels[k]: format_mean_std(r[f"{k}_mean"], r[f"{k}_std"]) for k in metrics},
                "runs": int(r["n"]),
            }
        )
    return pd.DataFrame(rows)


def cells_description(df: pd.DataFrame) -> str:
    """'6 folds x 3 seeds (18 cells)': what a table averages over.

    >>> cells_description(pd.DataFrame({"fold": ["1", "1", "2"], "seed": [0, 1, 0]}))
    '2 folds x 1-2 seeds (3 cells)'
    """
    seeds = df.groupby("fold")["seed"].nunique()
    per_fold = str(seeds.min()) if seeds.min() == seeds.max() else f"{seeds.min()}-{seeds.max()}"
    cells = len(df[["fold", "seed"]].drop_duplicates())
    return f"{df['fold'].nunique()} folds x {per_fold} seeds ({cells} cells)"


def format_mean_std(mean: float, std: float, scale: float = 100.0, digits: int = 1) -> str:
    """'72.4 ± 3.1' (in percent by default); the ± part is left out when std is undefined.

    >>> format_mean_std(0.7243, 0.031), format_mean_std(0.5, float("nan"))
    ('72.4 ± 3.1', '50.0')
    """
    if std != std:  # NaN: a single run
        return f"{mean * scale:.{digits}f}"
    return f"{mean * scale:.{digits}f} ± {std * scale:.{digits}f}"


def describe_difference(
    d: dict,
    against: str = "cross-entropy",
    scale: float = 100.0,
    unit: str = " points",
    above: str = "better than",
    below: str = "worse than",
) -> str:
    """A plain-words reading of ``paired_by_fold``: accuracy differences in points by default;
    for another metric pass its ``scale``, ``unit`` and what a difference ``above`` or ``below``
    zero means.

    >>> describe_difference({"mean": 0.05, "low": 0.01, "high": 0.09, "p_wilcoxon": 0.031, "folds": 6,
    ...                      "seeds": 3, "wins": 6, "losses": 0})
    '+5.0 points (95 % CI +1.0 to +9.0 over 6 folds of 3 seeds; higher in 6 of 6 folds; Wilcoxon p = 0.031): better than cross-entropy beyond fold noise'
    >>> describe_difference({"mean": -0.4, "low": -0.6, "high": 0.1, "p_wilcoxon": 0.09, "folds": 6, "seeds": 3,
    ...                      "wins": 1, "losses": 5}, scale=1, unit="", above="looser than", below="tighter than")
    '-0.4 (95 % CI -0.6 to +0.1 over 6 folds of 3 seeds; higher in 1 of 6 folds; Wilcoxon p = 0.09): not distinguishable from cross-entropy'
    >>> describe_difference({"mean": 0.05, "low": float("nan"), "high": float("nan"), "p_wilcoxon": float("nan"),
    ...                      "folds": 1, "seeds": 1, "wins": 1, "losses": 0})
    '+5.0 points from a single fold: no interval, so no conclusion'
    """
    value = f"{d['mean'] * scale:+.1f}{unit}"
    if d["folds"] < 2:
        return f"{value} from a single fold: no interval, so no conclusion"
    interval = (
        f"{value} (95 % CI {d['low'] * scale:+.1f} to {d['high'] * scale:+.1f} over {d['folds']} folds "
        f"of {d['seeds']} seed{'s' if d['seeds'] > 1 else ''}; higher in {d['wins']} of {d['folds']} folds; "
        f"Wilcoxon p = {d['p_wilcoxon']:.2g})"
    )
    if d["low"] > 0:
        return f"{interval}: {above} {against} beyond fold noise"
    if d["high"] < 0:
        return f"{interval}: {below} {against} beyond fold noise"
    return f"{interval}: not distinguishable from {against}"


def against_reference(df: pd.DataFrame, by: str, reference, scale: float = 100.0) -> pd.DataFrame:
    """One row per group of ``by``: accuracy (mean ± std over runs) and its difference to the
    ``reference`` group, paired by fold as in ``paired_by_fold`` (seeds averaged within each fold
    first, each pair on the cells both ran), with the 95 % t-interval over folds, the folds where
    the group was higher, the Wilcoxon p-value, whether the interval excludes 0 ('higher',
    'lower' or 'no') and the runs behind the row. The ablations' table.

    >>> df = pd.DataFrame({"k": [1] * 4 + [2] * 4, "fold": ["a", "a", "b", "b"] * 2, "seed": [0, 1] * 4,
    ...                    "accuracy": [.5, .6, .6, .6, .6, .7, .8, .8]})
    >>> against_reference(df, "k", 1).drop(columns="accuracy %").to_dict("records")[1]
    {'k': 2, 'difference, points (95 % CI)': '+15.0 (-48.5 to +78.5)', 'higher in': '2 of 2 folds', 'Wilcoxon p': '0.5', 'beyond fold noise': 'no', 'runs': 4}
    """
    rows = []
    for group, runs in df.groupby(by, sort=False):
        row = {by: group, "accuracy %": format_mean_std(runs["accuracy"].mean(), runs["accuracy"].std(), scale)}
        if group == reference:
            row.update(
                {
                    "difference, points (95 % CI)": "reference",
                    "higher in": "",
                    "Wilcoxon p": "",
                    "beyond fold noise": "",
                }
            )
        else:
            d = paired_by_fold(df, "accuracy", group, reference, by=by)
            row.update(
                {
                    "difference, points (95 % CI)": f"{d['mean'] * scale:+.1f} ({d['low'] * scale:+.1f} to {d['high'] * scale:+.1f})",
                    "higher in": f"{d['wins']} of {d['folds']} folds",
                    "Wilcoxon p": f"{d['p_wilcoxon']:.2g}",
                    "beyond fold noise": "higher" if d["low"] > 0 else "lower" if d["high"] < 0 else "no",
                }
            )
        rows.append({**row, "runs": len(runs)})
    return pd.DataFrame(rows)


def metric_table(
    df: pd.DataFrame, columns: dict[str, str], by: str = "method", scale: float = 1.0, digits: int = 2
) -> pd.DataFrame:
    """Mean ± std of each column (renamed by ``columns``) per group, groups in ``METHOD_NAMES``
    order and named by it; '—' where a metric does not apply to a group.

    >>> df = pd.DataFrame({"method": ["ce", "ce", "prototypes"], "x": [1.0, 2.0, float("nan")]})
    >>> metric_table(df, {"x": "the x"}).to_dict("records")
    [{'method': 'cross-entropy', 'the x': '1.50 ± 0.71'}, {'method': 'predefined prototypes, s = 1', 'the x': '—'}]
    """
    table = mean_std(df, by, list(columns)).set_index(by)
    order = [m for m in METHOD_NAMES if m in table.index] + [m for m in table.index if m not in METHOD_NAMES]
    rows = []
    for m in order:
        row = {by: METHOD_NAMES.get(m, m)}
        for column, label in columns.items():
            mean, std = table.loc[m, f"{column}_mean"], table.loc[m, f"{column}_std"]
            row[label] = "—" if pd.isna(mean) else format_mean_std(mean, std, scale=scale, digits=digits)
        rows.append(row)
    return pd.DataFrame(rows)


FEW_SHOT_COLUMNS = {1: "novel_few_shot_1_mean", 5: "novel_few_shot_5_mean", 20: "novel_few_shot_20_mean"}


def by_cell(df: pd.DataFrame) -> pd.DataFrame:
    """``df`` with ``fold`` replaced by the (held-out pair, test speaker) cell, the replicate of
    the new-classes protocol, so that ``paired_by_fold`` pairs methods by cell.

    >>> by_cell(pd.DataFrame({"fold": ["theo"], "novel_classes": ["0,1"]}))["fold"].tolist()
    ['0,1 | theo']
    """
    return df.assign(fold=df["novel_classes"].astype(str) + " | " + df["fold"].astype(str))


def novel_table(df: pd.DataFrame) -> pd.DataFrame:
    """One row per method of the new-classes sweep: accuracy on the base classes, few-shot
    accuracy on the held-out classes at each k, and the novel classes' NC1 and share of energy in
    the base prototypes' span, as mean ± std over (pair, fold) cells."""
    columns = {
        "accuracy": "base classes, accuracy %",
        **{column: f"novel, {k}-shot %" for k, column in FEW_SHOT_COLUMNS.items()},
    }
    table = metric_table(df, columns, scale=100.0, digits=1)
    geometry = metric_table(
        df, {"novel_nc1": "novel NC1", "novel_prototype_span_energy": "novel energy in prototype span"}
    )
    return table.merge(geometry, on="method").assign(
        cells=df.groupby("method").size().reindex([m for m in METHOD_NAMES if m in set(df["method"])]).to_numpy()
    )


def novel_answer(df: pd.DataFrame, planned: int, k: int = 5) -> str:
    """The page's answer, in words, from cell-paired differences at ``k`` shots (5, fixed before
    any result was seen; the table shows every k): do fixed prototypes help or hurt new classes
    against cross-entropy, learned prototypes and the zero-prototype control, and at what cost on
    the base classes. Pass ``by_cell(...)`` data. No answer before the full profile's ``planned``
    runs are all stored."""
    stored = int(df["profile"].eq("full").sum())
    if stored < planned:
        return (
            f"No answer yet: {stored} of the full profile's {planned} runs are stored, and a quick-profile "
            "number is not a finding."
        )
    column = FEW_SHOT_COLUMNS[k]

    def verdict(baseline: str, metric: str = column) -> str:
        d = paired_by_fold(df, metric, "prototypes", baseline)
        word = "better" if d["low"] > 0 else "worse" if d["high"] < 0 else "no different beyond cell noise"
        return (
            f"{word} ({d['mean'] * 100:+.1f} points, 95 % CI {d['low'] * 100:+.1f} to {d['high'] * 100:+.1f}, "
            f"higher in {d['wins']} of {d['folds']} cells)"
        )

    return (
        f"With {k} support clips per new digit, predefined prototypes (s = 1) were {verdict('ce')} than "
        f"cross-entropy, {verdict('learned_prototypes')} than learned prototypes, and "
        f"{verdict('zero_prototypes')} than the zero-prototype control. On the base digits they were "
        f"{verdict('ce', 'accuracy')} than cross-entropy."
    )


def probe_table(runs: pd.DataFrame, factors: list[str], labels: dict[str, str]) -> pd.DataFrame:
    """Per factor: the linear probe's accuracy on the factor's level from its own block, from the
    residual block, and chance, as mean ± std over ``runs`` (factor-prototype runs)."""
    rows = []
    for f in factors:
        row = {"factor": labels[f]}
        for kind, label in [
            ("probe_factor_block", "from its block %"),
            ("probe_residual_block", "from the residual %"),
            ("chance", "chance %"),
        ]:
            values = runs[f"disentanglement_{f}_{kind}"]
            row[label] = format_mean_std(values.mean(), values.std())
        rows.append(row)
    return pd.DataFrame(rows).set_index("factor")


def run_factor_contributions(record: dict, embeddings: dict) -> np.ndarray:
    """Each test clip's logits split into one part per factor block plus the residual's
    ([N, F + 1, C], ``metrics.factor_contributions``), with the block layout rebuilt from the run's
    own configuration (levels, factors, embedding size)."""
    import torch

    from .metrics import factor_contributions
    from .prototypes import FactorPrototypes

    config = record["config"]
    layout = FactorPrototypes([config["factor_levels"]] * len(config["factors"]), dim=config["embed_dim"])
    z = torch.from_numpy(embeddings["z"].astype(np.float32))
    weight = torch.from_numpy(embeddings["classifier_weight"])
    return factor_contributions(weight, z, layout.blocks, layout.residual).numpy()


def planned_runs(sweep: str, profile: str, configs_dir: str | Path = CONFIGS) -> int:
    """How many runs the sweep file's profile plans."""
    from .sweep import load_sweep

    return len(load_sweep(Path(configs_dir) / f"{sweep}.yaml", profile))


def claim1_verdict(df: pd.DataFrame, planned: int) -> dict:
    """The verdict on the paper's first claim (fixed prototypes beat cross-entropy *because they
    place the classes*) from one dataset's main comparison, with the reason in words.

    Predefined prototypes (s = 1) must beat cross-entropy beyond fold noise to reproduce the gain,
    and beat the zero-prototype control (the same loss as a pure norm penalty) for the gain to be
    the prototypes' placement. No verdict before every planned run is stored.
    """
    stored = int(df["profile"].eq("full").sum())
    if df["profile"].iloc[0] != "full" or stored < planned:
        return {
            "verdict": "pending",
            "reason": f"{stored} of the full profile's {planned} runs are stored; a verdict waits for all of them",
        }
    vs_ce = paired_by_fold(df, "accuracy", "prototypes", "ce")
    vs_control = paired_by_fold(df, "accuracy", "prototypes", "zero_prototypes")
    control = paired_by_fold(df, "accuracy", "zero_prototypes", "ce")
    gain = f"{vs_ce['mean'] * 100:+.1f} points over cross-entropy (95 % CI {vs_ce['low'] * 100:+.1f} to {vs_ce['high'] * 100:+.1f})"
    if not vs_ce["low"] > 0:
        return {"verdict": "not reproduced here", "reason": f"predefined prototypes: {gain}, not beyond fold noise"}
    if vs_control["low"] > 0:
        return {
            "verdict": "reproduced",
            "reason": f"predefined prototypes: {gain}, and beyond the zero-prototype "
            f"control by {vs_control['mean'] * 100:+.1f} points",
        }
    return {
        "verdict": "partly reproduced",
        "reason": f"predefined prototypes: {gain}; but the zero-prototype control (a norm penalty) gains "
        f"{control['mean'] * 100:+.1f} points, and prototypes differ from it by "
        f"{vs_control['mean'] * 100:+.1f} (95 % CI {vs_control['low'] * 100:+.1f} to "
        f"{vs_control['high'] * 100:+.1f}): the gain is the norm penalty's, not the placement's",
    }


def training_speed_verdict(reached: pd.DataFrame, complete: bool) -> dict:
    """The verdict on "a fixed target simplifies training": predefined prototypes must reach the
    training-accuracy threshold in fewer epochs than learned prototypes, beyond fold noise
    (``reached`` is ``epochs_to_reach`` of a complete full profile; ``complete`` says it is)."""
    if not complete:
        return {"verdict": "pending", "reason": "the full profile is not complete"}
    d = paired_by_fold(reached, "epochs", "prototypes", "learned_prototypes")
    text = (
        f"{d['mean']:+.1f} epochs against learned prototypes (95 % CI {d['low']:+.1f} to {d['high']:+.1f}, "
        f"{d['folds']} folds)"
    )
    if d["high"] < 0:
        return {"verdict": "reproduced", "reason": f"predefined prototypes converge faster: {text}"}
    if d["low"] > 0:
        return {"verdict": "contradicted here", "reason": f"predefined prototypes converge slower: {text}"}
    return {"verdict": "not reproduced here", "reason": f"no difference in convergence beyond fold noise: {text}"}


def describe_protocol(df: pd.DataFrame, sweep: str, configs_dir: str | Path = CONFIGS) -> str:
    """What a results table holds, against what its sweep profile plans, e.g. 'full profile:
    6 fold(s) x 2 seed(s), 15 epochs; 52 of the profile's 90 runs'."""
    from .sweep import load_sweep

    profile = df["profile"].iloc[0]
    planned = len(load_sweep(Path(configs_dir) / f"{sweep}.yaml", profile))
    epochs = ", ".join(str(e) for e in sorted(df["epochs"].unique()))
    return (
        f"{profile} profile: {df['fold'].nunique()} fold(s) x {df['seed'].nunique()} seed(s), "
        f"{epochs} epochs; {len(df)} of the profile's {planned} runs"
    )
