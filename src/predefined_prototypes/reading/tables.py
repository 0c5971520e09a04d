"""Tables the book shows from stored results: each method's mean ± std over runs, pull
strength, the tuned baselines, novel classes, benchmarks (loading is ``storage.results``,
statistics ``stats``, verdicts ``claims``)."""

from __future__ import annotations

import math
from pathlib import Path

import pandas as pd

from ..run.schema import FEW_SHOT_K, column
from ..storage.results import CONFIGS, REPO, RESULTS, derived, holds_plan, planned_runs
from ..storage.store import ResultsError
from .methods import METHODS, TUNED_FAMILIES
from .rules import TRAINING_FLOOR
from .runs import load_results
from .stats import compare_together, format_mean_std, mean_std, paired_by_fold

METHOD_NAMES = {key: method.label for key, method in METHODS.items()}
# The datasets' and prototype constructions' names as the book writes them (tests/test_registries.py
# checks that every registered one has its name here).
DATASET_NAMES = {
    "fsdd": "FSDD",
    "emodb": "EmoDB",
    "ravdess": "RAVDESS",
    "speech_commands": "Speech Commands v2",
    "speech_commands_test": "Speech Commands v0.02 test set",
    "esc50": "ESC-50",
    "iemocap": "IEMOCAP",
}
PROTOTYPE_NAMES = {
    "orthogonal": "orthogonal",
    "gaussian": "Gaussian",
    "simplex_etf": "simplex ETF",
    "hyperspherical": "hyperspherical",
    "zero": "zero (the control)",
}
# Display names, with units, of the code names tables carry: ``shown`` applies them.
COLUMN_LABELS = {
    "lam": "λ",
    "p_adjusted": "adjusted p",
    "nearest_prototype_accuracy": "nearest-prototype accuracy on training clips",
    "cosine_to_own_prototype": "cosine to own prototype",
    "prototypes_min_train_accuracy": "prototypes' lowest training accuracy",
    "control_min_train_accuracy": "control's lowest training accuracy",
    "max_cosine": "largest cosine",
    "mean_abs_cosine": "mean |cosine|",
    "min_distance": "smallest distance",
    "goal_s": "goal, s",
    "load_average_at_start": "load average at start",
    "load_average": "load average",
    "measured_at": "measured at",
    "wall_s": "wall time, s",
    "metrics_match_eager": "metrics match eager",
    "channels_first": "channels-first",
    "channels_last": "channels-last",
    "channels_last_weights": "channels-last weights",
    "compile_cold": "compiled, cold cache",
    "compile_cached": "compiled, warm cache",
    "compile_cold_channels_last_weights": "compiled, cold cache, channels-last weights",
    "compile_cached_channels_last_weights": "compiled, warm cache, channels-last weights",
    "batch_size": "batch size",
    "num_mel_bins": "mel bins",
    "embed_dim": "embedding size",
}


def shown(table: pd.DataFrame) -> pd.DataFrame:
    """``table`` as the book shows it: every code name among its headers and row labels in words
    (``COLUMN_LABELS``, the datasets' and prototype constructions' names; any other underscore a
    space), and no row numbers: a table with a plain 0, 1, 2... index takes its first
    column as its row labels.

    >>> shown(pd.DataFrame({"prototypes": ["simplex_etf"], "max_cosine": [0.1], "lam": [1]}))
                 largest cosine  λ
    prototypes
    simplex ETF             0.1  1
    """
    names = {**PROTOTYPE_NAMES, **DATASET_NAMES, **COLUMN_LABELS}

    def label(name):
        return names.get(name, name.replace("_", " ")) if isinstance(name, str) else name

    if isinstance(table.index, pd.RangeIndex) and len(table.columns) > 1:
        table = table.set_index(table.columns[0])
    table = table.rename(columns=label, index=label)
    table.columns.names = [label(n) for n in table.columns.names]
    table.index.names = [label(n) for n in table.index.names]
    return table


def display_name(key: str) -> str:
    """A method's label (``methods.METHODS``), or its key for a method not declared there."""
    return METHODS[key].label if key in METHODS else key


def load_benchmark(name: str, benchmarks_dir: str | Path = REPO / "benchmarks") -> pd.DataFrame:
    """A table a benchmark script wrote (``benchmarks/<name>.csv``); ResultsError if it is missing."""
    path = Path(benchmarks_dir) / f"{name}.csv"
    if not path.is_file():
        raise ResultsError(f"no benchmark table at {path}: run python benchmarks/{name}.py on an idle machine")
    return pd.read_csv(path)


def load_filter_report(name: str, reports_dir: str | Path = REPO / "reports") -> pd.DataFrame:
    """What the factors' validity filter removes from dataset ``name``, by speaker sex and class
    (``reports/factor-filter-<name>.csv``, written by ``data filter``); ResultsError if missing."""
    path = Path(reports_dir) / f"factor-filter-{name}.csv"
    if not path.is_file():
        raise ResultsError(
            f"no filter report at {path}: run python -m predefined_prototypes data filter {name} --out {path}"
        )
    return pd.read_csv(path)


def folder_sweeps_table(
    folder: str = "paper", configs_dir: str | Path = CONFIGS, results_dir: str | Path = RESULTS
) -> pd.DataFrame:
    """One row per sweep file in ``configs/<folder>`` (``paper``: the authors' set-ups; ``gpu``:
    sweeps whose full profile needs a GPU): where a reader has stored results, how many of the
    full profile's runs (its recorded plan), accuracy per method (mean ± std over runs), runs per
    hour and the device; "no results stored" otherwise (``sweep <file> --dry-run`` lists its plan)."""
    rows = []
    for path in sorted((Path(configs_dir) / folder).glob("*.yaml")):
        row = {"sweep": path.stem}
        if holds_plan(path.stem, "full", results_dir, path.parent):
            df = load_results(path.stem, "full", results_dir, path.parent)
            row["stored"] = f"{len(df)} of {planned_runs(path.stem, 'full', path.parent, results_dir)}"
            for name, runs in df.groupby("method"):
                row[display_name(name)] = format_mean_std(runs["accuracy"].mean(), runs["accuracy"].std())
            row["runs per hour (one worker)"] = round(3600 / df["wall_time_s"].mean(), 1)
            row["device"] = ", ".join(sorted(df["device"].unique()))
        else:
            row["results"] = "no results stored"
        rows.append(row)
    return pd.DataFrame(rows).set_index("sweep")


def run_geometry(sweep: str, df: pd.DataFrame, results_dir: str | Path = RESULTS) -> pd.DataFrame:
    """``df`` with each run's embedding geometry (``derivations.geometry``): ``collapse_<name>``
    columns and ``head_accuracy``."""
    return df.merge(derived(sweep, "geometry", df["profile"].iloc[0], results_dir), on="run_id", how="left")


def learning_curves(df: pd.DataFrame, history: pd.DataFrame) -> pd.DataFrame:
    """The runs of ``df`` joined with their per-epoch ``history`` (``derive.curves``; read with
    ``derived(sweep, "curves", profile)``), one row per (run, epoch) with ``method``, fold and
    seed; ``test_accuracy`` is kept only on the epochs that every run tested (runs stored with
    different ``eval_every`` are compared on their common epochs), NaN elsewhere."""
    curves = df[["run_id", "method", "fold", "seed"]].merge(history, on="run_id")
    tested = curves.dropna(subset=["test_accuracy"]).groupby("epoch")["run_id"].nunique()
    common = tested.index[tested == curves["run_id"].nunique()]
    curves.loc[~curves["epoch"].isin(common), "test_accuracy"] = math.nan
    return curves


def summary_table(df: pd.DataFrame, by: str = "method") -> pd.DataFrame:
    """One row per method (in ``methods.METHODS`` order): accuracy, macro-F1, ECE and training
    accuracy as mean ± std over runs, and the number of runs. Pass ``complete_cells(df)`` so
    every row averages the same (fold, seed) cells."""
    metrics = ["accuracy", "macro_f1", "ece", "train_accuracy"]
    table = mean_std(df, by, metrics).set_index(by)
    order = [m for m in METHODS if m in table.index] + [m for m in table.index if m not in METHODS]
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
                "method": display_name(m),
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


def metric_table(
    df: pd.DataFrame, columns: dict[str, str], by: str = "method", scale: float = 1.0, digits: int = 2
) -> pd.DataFrame:
    """Mean ± std of each column (renamed by ``columns``) per group, groups in ``methods.METHODS``
    order and named by it; '—' where a metric does not apply to a group.

    >>> df = pd.DataFrame({"method": ["ce", "ce", "prototypes"], "x": [1.0, 2.0, float("nan")]})
    >>> metric_table(df, {"x": "the x"}).to_dict("records")
    [{'method': 'cross-entropy', 'the x': '1.50 ± 0.71'}, {'method': 'predefined prototypes, s = 1', 'the x': '—'}]
    """
    table = mean_std(df, by, list(columns)).set_index(by)
    order = [m for m in METHODS if m in table.index] + [m for m in table.index if m not in METHODS]
    rows = []
    for m in order:
        row = {by: display_name(m)}
        for name, label in columns.items():
            mean, std = table.loc[m, f"{name}_mean"], table.loc[m, f"{name}_std"]
            row[label] = "—" if pd.isna(mean) else format_mean_std(mean, std, scale=scale, digits=digits)
        rows.append(row)
    return pd.DataFrame(rows)


FEW_SHOT_COLUMNS = {k: column("few_shot", shots=k, stat="mean") for k in FEW_SHOT_K}


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
    cells = {display_name(m): n for m, n in df.groupby("method").size().items()}
    table = table.merge(geometry, on="method")
    return table.assign(cells=table["method"].map(cells))


# A run counts as trained to the end when its training accuracy (clean clips, fixed crop) reaches
# this; the main comparisons' runs all do.


def pull_strength(df: pd.DataFrame, margin: float | None = None) -> pd.DataFrame:
    """One row per lambda of the pull-strength sweep: the prototypes-minus-control accuracy
    difference, fold-paired, read together over the lambdas (``stats.compare_together``:
    intervals at 1 - alpha / m, decided by that interval), how well each arm fits (the prototypes'
    nearest-prototype accuracy, cosine to their own prototype and distance term on the training
    clips; the control's distance term, its mean ||z||^2 / k) and the lowest training accuracy
    of each arm, with whether every run reached ``rules.TRAINING_FLOOR``. Each arm's accuracy (mean of fold
    means) and, against the next weaker lambda trained for the same epochs (``weaker_lam``), its
    fold-paired change at 95 % (``control_change``, ``prototypes_change`` and their ``_low`` /
    ``_high``): a gap between the arms can come from either arm moving.

    >>> rows = [{"lam": l, "epochs": 20, "method": m, "fold": f, "seed": 0, "train_accuracy": 0.99, "fit_distance": 0.1,
    ...          "accuracy": a + (m == "prototypes") * (l / 100 + e) + (l == 10.0) * e / 2, "fit_nearest_prototype_accuracy": 0.5,
    ...          "fit_cosine_to_own_prototype": 0.4}
    ...         for l in (1.0, 10.0) for m in ("prototypes", "zero_prototypes")
    ...         for f, a, e in zip("abcd", (.5, .6, .55, .65), (.01, -.01, .02, 0))]
    >>> t = pull_strength(pd.DataFrame(rows))
    >>> t[["lam", "difference", "folds", "differs", "trained"]].round(3).to_dict("records")
    [{'lam': 1.0, 'difference': 0.015, 'folds': 4, 'differs': False, 'trained': True}, {'lam': 10.0, 'difference': 0.105, 'folds': 4, 'differs': True, 'trained': True}]
    """

    lambdas = sorted(df["lam"].unique())
    arm = df.assign(method=df["method"] + "@" + df["lam"].astype(str))
    pairs = [(f"prototypes@{lam}", f"zero_prototypes@{lam}") for lam in lambdas]
    epochs = {lam: set(df.loc[df["lam"] == lam, "epochs"]) for lam in lambdas}
    rows = []
    for lam, d in zip(lambdas, compare_together(arm, pairs, margin=margin)):
        runs = df[df["lam"] == lam]
        protos, control = runs[runs["method"] == "prototypes"], runs[runs["method"] == "zero_prototypes"]
        weaker = [w for w in lambdas if w < lam and epochs[w] == epochs[lam]]
        change = {}
        for name, method in (("prototypes", "prototypes"), ("control", "zero_prototypes")):
            rows_of = runs[runs["method"] == method]
            change[f"{name}_accuracy"] = rows_of.groupby("fold")["accuracy"].mean().mean()
            c = paired_by_fold(arm, "accuracy", f"{method}@{lam}", f"{method}@{weaker[-1]}") if weaker else {}
            for key, field in (("", "mean"), ("_low", "low"), ("_high", "high")):
                change[f"{name}_change{key}"] = c.get(field, float("nan"))
        rows.append(
            {
                "lam": lam,
                "epochs": ", ".join(str(e) for e in sorted(runs["epochs"].unique())),
                "difference": d["mean"],
                "low": d["low"],
                "high": d["high"],
                "p_adjusted": d["p_adjusted"],
                "differs": d["differs"],
                "confidence": d["confidence"],
                "tests": d["tests"],
                "folds": d["folds"],
                "seeds": d["seeds"],
                "nearest_prototype_accuracy": protos[column("fit_nearest_prototype_accuracy")].mean(),
                "cosine_to_own_prototype": protos[column("fit_cosine_to_own_prototype")].mean(),
                "prototypes_distance": protos[column("fit_distance")].mean(),
                "control_distance": control[column("fit_distance")].mean(),
                "prototypes_min_train_accuracy": protos["train_accuracy"].min(),
                "control_min_train_accuracy": control["train_accuracy"].min(),
                "trained": bool(runs["train_accuracy"].min() >= TRAINING_FLOOR),
                "weaker_lam": weaker[-1] if weaker else float("nan"),
                **change,
            }
        )
    return pd.DataFrame(rows)


def tuned_choice(df: pd.DataFrame) -> pd.DataFrame:
    """One row per (family, test speaker): the knob with the best validation accuracy (mean over
    seeds; ties to the first knob in sweep order), and that setting's test accuracy, test ECE and
    test ECE after the validation-fitted temperature (means over seeds). The test speaker never
    enters the choice. A "tuned CE" family picks, per test speaker, the best of the CE families
    on validation.

    >>> rows = [{"family": "prototypes", "lam": l, "fold": f, "seed": s, "validation_accuracy": v, "accuracy": a,
    ...          "ece": 0.1, "validation_test_ece_scaled": 0.05}
    ...         for f in "ab" for s in (0, 1) for l, v, a in ((1.0, 0.8, 0.9), (10.0, 0.7, 0.99))]
    >>> tuned_choice(pd.DataFrame(rows))[["family", "fold", "knob", "accuracy"]].to_dict("records")
    [{'family': 'prototypes', 'fold': 'a', 'knob': 1.0, 'accuracy': 0.9}, {'family': 'prototypes', 'fold': 'b', 'knob': 1.0, 'accuracy': 0.9}]
    """
    metrics = ["validation_accuracy", "accuracy", "ece", "validation_test_ece_scaled"]
    rows = []
    for (family, fold), runs in df.groupby(["family", "fold"], sort=False):
        knob = TUNED_FAMILIES.get(family, ("", "lam"))[1]
        settings = runs.groupby(knob, sort=False)[metrics].mean()
        best = settings["validation_accuracy"].idxmax()
        lowest = runs.groupby(knob, sort=False)["train_accuracy"].min() if "train_accuracy" in runs else None
        trained = {"min_train_accuracy": lowest.loc[best]} if lowest is not None else {}
        seeds = {"seeds": runs["seed"].nunique()} if "seed" in runs else {}
        rows.append({"family": family, "fold": fold, "knob": best, **settings.loc[best].to_dict(), **trained, **seeds})
    chosen = pd.DataFrame(rows)
    ce = chosen[chosen["family"].str.startswith("ce_")]
    if len(ce):
        best_ce = ce.loc[ce.groupby("fold")["validation_accuracy"].idxmax()]
        best_ce = best_ce.assign(knob=best_ce["family"] + "=" + best_ce["knob"].astype(str), family="tuned_ce")
        chosen = pd.concat([chosen, best_ce], ignore_index=True)
    return chosen


def tuned_table(chosen: pd.DataFrame) -> pd.DataFrame:
    """One row per family of ``tuned_choice``: the knobs the validation speakers chose (how many
    test speakers chose each), and over test speakers the mean ± std of test accuracy, test ECE
    and test ECE after temperature scaling on the validation speaker, and the lowest training
    accuracy of a chosen setting's runs (below 97 %: that family is under-fitted at this budget)."""
    rows = []
    for family in [*TUNED_FAMILIES, "tuned_ce"]:
        runs = chosen[chosen["family"] == family]
        if runs.empty:
            continue
        label = TUNED_FAMILIES[family][0] if family in TUNED_FAMILIES else "CE, best regulariser on validation"
        knobs = runs["knob"].astype(str).value_counts()
        rows.append(
            {
                "method": label,
                "chosen on validation (speakers)": ", ".join(f"{k} ({n})" for k, n in knobs.items()),
                "accuracy %": format_mean_std(runs["accuracy"].mean(), runs["accuracy"].std()),
                "ECE %": format_mean_std(runs["ece"].mean(), runs["ece"].std()),
                "ECE after temperature %": format_mean_std(
                    runs["validation_test_ece_scaled"].mean(), runs["validation_test_ece_scaled"].std()
                ),
                "test speakers": len(runs),
                **(
                    {"lowest training accuracy %": f"{100 * runs['min_train_accuracy'].min():.1f}"}
                    if "min_train_accuracy" in runs
                    else {}
                ),
            }
        )
    return pd.DataFrame(rows).set_index("method")


def selection_noise(runs: pd.DataFrame) -> pd.DataFrame:
    """How much choosing a knob on validation matters, per family of a tuned-baselines sweep
    (``runs`` with a ``family`` column, every candidate's runs): over test speakers, how many
    candidates there were, how far their test accuracies lie apart (max − min per speaker, seeds
    averaged, then the mean over speakers), the test accuracy of the validation-chosen knob, and
    that of the knob the test speaker itself would have chosen (an oracle no verdict uses), in %.

    >>> rows = [{"family": "p", "lam": l, "fold": f, "seed": 0, "validation_accuracy": v, "accuracy": a}
    ...         for f in "ab" for l, v, a in ((1.0, 0.8, 0.90), (10.0, 0.7, 0.96))]
    >>> selection_noise(pd.DataFrame(rows)).loc["p"].to_dict()["best on test (oracle) %"]
    96.0
    """
    rows = {}
    for family, group in runs.groupby("family", sort=False):
        knob = TUNED_FAMILIES.get(family, ("", "lam"))[1]
        cells = group.groupby(["fold", knob])[["validation_accuracy", "accuracy"]].mean().reset_index()
        per_fold = cells.groupby("fold")
        chosen = cells.loc[per_fold["validation_accuracy"].idxmax(), "accuracy"]
        rows[TUNED_FAMILIES.get(family, (family,))[0] if family in TUNED_FAMILIES else family] = {
            "candidates": int(cells[knob].nunique()),
            "test spread across candidates, points": round(
                100 * (per_fold["accuracy"].max() - per_fold["accuracy"].min()).mean(), 1
            ),
            "chosen on validation %": round(100 * chosen.mean(), 1),
            "best on test (oracle) %": round(100 * per_fold["accuracy"].max().mean(), 1),
        }
    return pd.DataFrame.from_dict(rows, orient="index")


def beyond_noise(table: pd.DataFrame, by: str) -> str:
    """The groups of an ``against_reference`` table whose difference to the reference is decided
    (higher or lower), in words with the interval's level; 'none' if no group's is.

    >>> beyond_noise(pd.DataFrame({"s": [1, 10], "beyond fold noise": ["", "lower"], "interval": ["", "97.5 % interval, Bonferroni over 2"],
    ...                            "difference, points": ["reference", "-7.2 (-13.9 to -0.4)"]}), "s")
    '10 (lower, -7.2 (-13.9 to -0.4), 97.5 % interval, Bonferroni over 2)'
    """
    found = [
        f"{row[by]} ({row['beyond fold noise']}, {row['difference, points']}, {row['interval']})"
        for _, row in table.iterrows()
        if row["beyond fold noise"] in ("higher", "lower")
    ]
    return "; ".join(found) if found else "none"


def under_fitted(table: pd.DataFrame, by: str) -> str:
    """The groups of an ``against_reference`` table left undecided as under-fitted, in words."""
    found = [str(row[by]) for _, row in table.iterrows() if row["beyond fold noise"] == "under-fitted"]
    return ", ".join(found) if found else "none"


def with_geometry(table: pd.DataFrame, runs: pd.DataFrame, by: str, columns: dict[str, str]) -> pd.DataFrame:
    """``table`` (one row per group of ``by``) with the mean ± std of geometry ``columns`` of ``runs``."""
    geometry = metric_table(runs, columns, by=by)
    geometry[by] = geometry[by].astype(table[by].dtype)
    return table.merge(geometry, on=by).set_index(by)


def describe_protocol(df: pd.DataFrame, sweep: str, configs_dir: str | Path = CONFIGS) -> str:
    """What a results table holds, against what its sweep profile plans, e.g. 'full profile:
    6 fold(s) x 2 seed(s), 15 epochs; 52 of the profile's 90 runs'."""
    profile = df["profile"].iloc[0]
    planned = planned_runs(sweep, profile, configs_dir)
    epochs = ", ".join(str(e) for e in sorted(df["epochs"].unique()))
    return (
        f"{profile} profile: {df['fold'].nunique()} fold(s) x {df['seed'].nunique()} seed(s), "
        f"{epochs} epochs; {len(df)} of the profile's {planned} runs"
    )
