"""Tables of the factor ablation and the disentanglement case study, from the results table:
what each probe reads, what each edit of the audio moves, and which run is which method (``methods.method_of``).

Every summary averages seeds within a fold first, then reports mean ± std over folds (test
speakers), the independent units. Column names follow ``store.table_row``'s flattening of a run's
``metrics["factors"]``, named by ``schema.column`` (``probe``, ``code_shift``, ...).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from ..method.registry import FACTOR_NAMES
from ..run.schema import EDITS, PLACEHOLDERS, column
from ..storage.results import RESULTS, derived
from ..storage.store import read_table
from .methods import method_of
from .stats import against_reference, compare_together, format_mean_std

LABELS = {"pitch_median": "pitch median", "pitch_std": "pitch spread", "loudness": "loudness", "intensity": "intensity"}


def method_label(name: str) -> str:
    """How the book names a factor-ablation method.

    >>> [method_label(m) for m in ["ce", "factor_prototypes_L3", "factor_prototypes[pitch_median,loudness]"]]
    ['CE (reference)', 'factor prototypes, 3 levels', 'pitch median + loudness, 6 levels']
    """
    if name in ("ce", "prototypes"):
        return {"ce": "CE (reference)", "prototypes": "predefined prototypes"}[name]
    levels = name.rsplit("_L", 1)[1] if "_L" in name else "6"
    if "[" in name:
        factors = name[name.index("[") + 1 : name.index("]")].split(",")
        return f"{' + '.join(LABELS[f] for f in factors)}, {levels} levels"
    return f"factor prototypes, {levels} levels"


def probe_means(df: pd.DataFrame) -> pd.DataFrame:
    """``df`` with, per factor-prototype run, its probes averaged over the factors it uses:
    ``own_block_probe`` (each factor from its own block), ``emotion_probe`` (from the emotion
    label alone) and ``residual_beyond_emotion`` (residual + label minus label)."""

    def mean_over_factors(row, kind):
        values = []
        for f in str(row["factors"]).split(","):
            if kind == "own_block_probe":
                values.append(row.get(column("probe", factor=f, source=f"block_{f}")))
            elif kind == "emotion_probe":
                values.append(row.get(column("probe", factor=f, source="emotion")))
            else:
                values.append(
                    row.get(column("probe", factor=f, source="residual_emotion"), np.nan)
                    - row.get(column("probe", factor=f, source="emotion"), np.nan)
                )
        values = [v for v in values if v is not None and not pd.isna(v)]
        return float(np.mean(values)) if values else np.nan

    out = df.copy()
    for kind in ("own_block_probe", "emotion_probe", "residual_beyond_emotion"):
        out[kind] = out.apply(mean_over_factors, axis=1, kind=kind)
    return out


def ablation_table(df: pd.DataFrame, methods: list[str]) -> pd.DataFrame:
    """For ``methods`` (CE first, the reference): emotion accuracy and its fold-paired difference
    to CE (``stats.against_reference``, Bonferroni over the methods), then the probes averaged over each run's factors, mean ±
    std over folds, and chance (1 / levels)."""
    runs = probe_means(df)
    runs = runs[runs["method"].isin(methods)]
    runs = runs.assign(order=runs["method"].map(methods.index)).sort_values(["order", "fold", "seed"])
    table = against_reference(runs, "method", "ce").drop(columns=["adjusted p"])
    for name, header in [
        ("own_block_probe", "own-block probe %"),
        ("emotion_probe", "emotion-label probe %"),
        ("residual_beyond_emotion", "residual beyond emotion, points"),
    ]:
        table[header] = [fold_summary(runs[runs["method"] == m], name) for m in table["method"]]
    table["chance %"] = [
        "—" if m in ("ce", "prototypes") else f"{100 / int(runs[runs['method'] == m]['factor_levels'].iloc[0]):.1f}"
        for m in table["method"]
    ]
    return table.assign(method=table["method"].map(method_label)).set_index("method")


# What tells the factor-pull sweep's settings apart (``results.complete_settings`` groups by it).
PULL_SETTING = ("loss", "lam", "num_mel_bins", "epochs")


def setting_name(setting) -> str:
    """A factor-pull setting (anything holding its ``lam``, ``num_mel_bins`` and ``epochs`` by
    key) in words.

    >>> setting_name({"lam": 30.0, "num_mel_bins": 40, "epochs": 150})
    'λ = 30, 40 mel bins, 150 epochs'
    """
    return f"λ = {setting['lam']:g}, {setting['num_mel_bins']} mel bins, {setting['epochs']} epochs"


def at_setting(runs: pd.DataFrame, setting) -> pd.Series:
    """Which of ``runs`` share the factor-pull ``setting``'s lambda, mel bins and epochs."""
    keys = list(PULL_SETTING[1:])
    return (runs[keys] == pd.Series({k: setting[k] for k in keys})).all(axis=1)


def pull_fit_table(df: pd.DataFrame, factors: tuple[str, ...] = FACTOR_NAMES) -> pd.DataFrame:
    """One row per setting of the factor-pull sweep (``PULL_SETTING``): emotion accuracy and
    the lowest run's training accuracy, then per factor how often its block's nearest level code
    is the assigned level on the training clips (block fit; chance about 1 / levels), the same on
    the test speaker's clips where ``df`` has it (``with_factor_reads``), and the own-block probe
    on the test speaker, each mean ± std over folds (seeds averaged first)."""
    if df.empty:
        return pd.DataFrame({"setting": ["none complete yet"]}).set_index("setting")
    rows = []
    for (loss, lam, mels, epochs), runs in df.groupby(list(PULL_SETTING), sort=True):
        factor_loss = loss == "factor_prototypes"
        row = {
            "setting": f"{method_label(method_of(runs.iloc[0]))}, λ = {lam:g}" if factor_loss else method_label(loss),
            "mel bins": mels,
            "epochs": epochs,
            "accuracy %": fold_summary(runs, "accuracy"),
            "lowest training accuracy %": f"{100 * runs['train_accuracy'].min():.1f}",
        }
        for factor in factors:
            fit = column("fit_level_match", factor=factor)
            row[f"{LABELS[factor]}: block fit %"] = fold_summary(runs, fit) if factor_loss and fit in runs else "—"
            held_out = f"held_out_{factor}_level_match"
            row[f"{LABELS[factor]}: on the test speaker %"] = (
                fold_summary(runs, held_out) if factor_loss and held_out in runs else "—"
            )
            probe = column("probe", factor=factor, source=f"block_{factor}")
            row[f"{LABELS[factor]}: own-block probe %"] = (
                fold_summary(runs, probe) if factor_loss and probe in runs else "—"
            )
        rows.append(row)
    return pd.DataFrame(rows).set_index("setting")


def fold_summary(values: pd.DataFrame, column: str, scale: float = 100.0, digits: int = 1) -> str:
    """'mean ± std' of ``column`` over folds, seeds averaged within each fold first; '—' where
    no run has it."""
    if column not in values or values[column].isna().all():
        return "—"
    per_fold = values.groupby("fold")[column].mean()
    return format_mean_std(per_fold.mean(), per_fold.std(), scale, digits)


def long_probes(df: pd.DataFrame, factor: str) -> pd.DataFrame:
    """One row per (run, source) of the probe for ``factor``: ``method`` names the source
    (``own_block`` for the factor's own block; for the references, prefixed by the run's loss),
    ``value`` its balanced accuracy; plus the derived ``other_blocks`` (the other factors' blocks,
    averaged), ``best_other_block`` (the best of them, per run) and ``residual_beyond_emotion`` (residual + label minus label)."""
    # Plain lists, run by run and each run's sources in the registry's order: pandas' fixed cost
    # per operation made this most of a Claim 2 verdict's time.
    sources = {
        "own_block" if source == f"block_{factor}" else source: df[name].tolist()
        for source in PLACEHOLDERS["source"]
        if (name := column("probe", factor=factor, source=source)) in df.columns
    }
    rows = []
    for i, (fold, seed, method) in enumerate(zip(df["fold"], df["seed"], df["method"])):
        if method not in ("factor_prototypes", "ce", "prototypes"):
            continue
        for source, values in sources.items():
            if not pd.isna(values[i]):
                rows.append((fold, seed, source if method == "factor_prototypes" else f"{method}:{source}", values[i]))
    long = pd.DataFrame(rows, columns=["fold", "seed", "method", "value"])
    others = long[long["method"].str.startswith("block_")]
    if len(others):  # the other factors' blocks: their mean, and the best of them (what "confined" must beat)
        by_run = others.groupby(["fold", "seed"])["value"]
        mean_other = by_run.mean().reset_index().assign(method="other_blocks")
        best_other = by_run.max().reset_index().assign(method="best_other_block")
        long = pd.concat([long, mean_other, best_other], ignore_index=True)
    beyond = long.pivot_table(index=["fold", "seed"], columns="method", values="value")
    if {"residual_emotion", "emotion"} <= set(beyond.columns):
        gain = (beyond["residual_emotion"] - beyond["emotion"]).rename("value").reset_index()
        long = pd.concat([long, gain.assign(method="residual_beyond_emotion")], ignore_index=True)
    return long


# The probe table's columns: source in ``long_probes`` -> header.
PROBE_COLUMNS = {
    "own_block": "own block",
    "other_blocks": "other blocks",
    "residual": "residual",
    "whole": "whole z",
    "ce:whole": "CE whole z",
    "prototypes:whole": "prototypes whole z",
    "emotion": "emotion label alone",
    "residual_beyond_emotion": "residual beyond emotion",
}


def with_probe_chance(df: pd.DataFrame, sweep: str) -> pd.DataFrame:
    """``df`` with each run's probe chance from the derived table (``derive.probe_chance``: 1 / the
    levels its test speaker has), in place of the 1 / levels that runs stored before it record."""
    chance = derived(sweep, "chance", df["profile"].iloc[0])
    stale = [c for c in chance.columns if c != "run_id" and c in df.columns]
    return df.drop(columns=stale).merge(chance, on="run_id", how="left")


def with_factor_reads(df: pd.DataFrame, sweep: str) -> pd.DataFrame:
    """``df`` with each run's derived factor reads: its input probes (``derive.input_probes``: how
    well each factor's level is read from the pooled log-mel input of its data) and, for factor
    prototypes, its blocks' fit on the test speaker (``derive.held_out_block_fit``)."""
    for kind in ("input_probes", "held_out_fit"):
        df = df.merge(derived(sweep, kind, df["profile"].iloc[0]), on="run_id", how="left")
    return df


def probe_table(df: pd.DataFrame, factors: tuple[str, ...] = FACTOR_NAMES) -> pd.DataFrame:
    """Per factor: balanced accuracy (%) of the probe on the test speaker from each source, mean
    ± std over folds, with chance: the best constant guess, 1 / the levels the test speaker has
    (mean over speakers, and its range). ``df``: the 6-level, three-factor runs and the
    CE and prototype references of the same folds and seeds."""
    rows, inputs = [], df.query("method == 'factor_prototypes'")
    for factor in factors:
        long = long_probes(df, factor)
        row = {"factor": LABELS[factor]}
        for source, header in PROBE_COLUMNS.items():
            values = long[long["method"] == source]
            row[header] = fold_summary(values, "value") if len(values) else "—"
        if f"input_probe_{factor}" in inputs.columns:  # what a linear read of the input finds
            row["input (pooled log-mel)"] = fold_summary(inputs, f"input_probe_{factor}")
        chance = df.groupby("fold")[column("probe_chance", factor=factor)].mean().dropna()
        row["chance (per speaker)"] = (
            f"{100 * chance.mean():.1f} ({100 * chance.min():.1f} to {100 * chance.max():.1f})"
        )
        rows.append(row)
    return pd.DataFrame(rows).set_index("factor")


def input_probe_table(df: pd.DataFrame, factors: tuple[str, ...] = FACTOR_NAMES) -> pd.DataFrame:
    """Per factor, the input probe (``with_factor_reads``) at each front end of ``df``'s runs
    (balanced accuracy %, mean ± std over folds; it depends on the data only, so each fold counts
    once), and with two front ends, the finer minus the coarser paired by fold and read together
    over the factors (``stats.compare_together``: the interval at the Bonferroni level, which
    decides). Answers whether finer mel bands hand the network more of a factor.

    >>> runs = pd.DataFrame({"fold": list("abcdabcd"), "seed": 0, "num_mel_bins": [40] * 4 + [128] * 4,
    ...                      "input_probe_loudness": [.3, .3, .4, .3, .5, .6, .6, .5]})
    >>> input_probe_table(runs, ("loudness",)).loc["loudness"].tolist()
    ['32.5 ± 5.0', '55.0 ± 5.8', '+22.5 (CI +14.5 to +30.5), differs']
    """
    mels = sorted(df["num_mel_bins"].unique())
    per_fold = df.groupby(["num_mel_bins", "fold"], as_index=False).first()
    read = [f for f in factors if f"input_probe_{f}" in per_fold]
    long = pd.concat(
        [
            per_fold[["fold"]].assign(
                seed=0, method=[f"{f}@{m}" for m in per_fold["num_mel_bins"]], value=per_fold[f"input_probe_{f}"]
            )
            for f in read
        ],
        ignore_index=True,
    )
    rows = {
        LABELS[f]: {f"{m} mel bins": fold_summary(long[long["method"] == f"{f}@{m}"], "value") for m in mels}
        for f in read
    }
    if len(mels) == 2 and read:
        tests = compare_together(long, [(f"{f}@{mels[1]}", f"{f}@{mels[0]}") for f in read], metric="value")
        for f, r in zip(read, tests):
            rows[LABELS[f]][f"{mels[1]} minus {mels[0]}"] = (
                f"{100 * r['mean']:+.1f} (CI {100 * r['low']:+.1f} to {100 * r['high']:+.1f}), "
                + ("differs" if r["differs"] else "not distinguishable")
            )
    return pd.DataFrame.from_dict(rows, orient="index")


def block_against_input(df: pd.DataFrame, factors: tuple[str, ...] = FACTOR_NAMES) -> list[dict]:
    """Per factor, the factor prototypes' own-block probe minus the input probe of the same data
    (``with_factor_reads``), paired by fold (seeds averaged within a fold) and read together over
    the factors (``stats.compare_together``: Bonferroni). Below zero, the block holds less of its factor
    than a linear read of the pooled input finds.

    >>> own = column("probe", factor="pitch_median", source="block_pitch_median")
    >>> runs = pd.DataFrame({"method": "factor_prototypes", "fold": list("abcd"), "seed": 0, own: [.5, .6, .5, .6],
    ...                      "input_probe_pitch_median": [.3, .3, .35, .3]})
    >>> (row,) = block_against_input(runs, ("pitch_median",))
    >>> round(row["mean"], 3), row["differs"]
    (0.237, True)
    """
    runs = df.query("method == 'factor_prototypes'")
    rows = []
    for factor in factors:
        own, source = column("probe", factor=factor, source=f"block_{factor}"), f"input_probe_{factor}"
        if {own, source} <= set(runs.columns):
            rows.append(runs[["fold", "seed"]].assign(method=f"{factor}:own", value=runs[own]))
            rows.append(runs[["fold", "seed"]].assign(method=f"{factor}:input", value=runs[source]))
    if not rows:
        return []
    long = pd.concat(rows, ignore_index=True)
    read = [f for f in factors if f"{f}:own" in set(long["method"])]
    results = compare_together(long, [(f"{f}:own", f"{f}:input") for f in read], metric="value")
    return [r | {"factor": f} for f, r in zip(read, results)]


def largest_other_shift(runs: pd.DataFrame, edit) -> pd.Series:
    """Per factor-prototype run, the largest decoded level shift (in size) under ``edit`` of any
    block but the edited factor's."""
    others = [runs[column("code_shift", edit=edit.name, factor=f)].abs() for f in FACTOR_NAMES if f != edit.factor]
    return pd.concat(others, axis=1).max(axis=1)


def intervention_table(df: pd.DataFrame) -> pd.DataFrame:
    """Per edit: the change made (as measured, in LU or semitones), the edited factor's measured
    level shift, the level shift decoded from its own block (nearest level code) and the largest
    from any other block (factor prototypes), the shift the CE model's whole-z probe reads, and
    how often the predicted emotion flips for each method. Mean ± std over folds (seeds averaged
    within each fold first); shifts in levels, flips in percent."""
    factor_runs, ce = df[df["method"] == "factor_prototypes"], df[df["method"] == "ce"]
    rows = []
    for edit in EDITS:
        unit = "semitones" if edit.factor == "pitch_median" else "LU"
        change = (
            column("measured_change_semitones", edit=edit.name)
            if unit == "semitones"
            else column("measured_change", edit=edit.name, factor="loudness")
        )
        own = column("code_shift", edit=edit.name, factor=edit.factor)
        has_codes = len(factor_runs) and own in factor_runs
        largest = factor_runs.assign(largest=largest_other_shift(factor_runs, edit) if has_codes else np.nan)
        rows.append(
            {
                "edit": edit.name.replace("_", " "),
                # The same clips, edited once: the measured change is the same for every method of a fold.
                "change made": f"{fold_summary(df, change, 1.0, 2)} {unit}",
                "measured level shift": fold_summary(
                    df, column("measured_shift", edit=edit.name, factor=edit.factor), 1.0, 2
                ),
                "own block": fold_summary(factor_runs, own, 1.0, 2),
                "largest other block (size)": fold_summary(largest, "largest", 1.0, 2),
                "CE probe": fold_summary(ce, column("probe_shift", edit=edit.name, factor=edit.factor), 1.0, 2),
                **{
                    f"emotion flips, {name} %": fold_summary(
                        df[df["method"] == method], column("emotion_flip_rate", edit=edit.name)
                    )
                    for method, name in (
                        ("factor_prototypes", "factor prototypes"),
                        ("ce", "CE"),
                        ("prototypes", "prototypes"),
                    )
                },
            }
        )
    return pd.DataFrame(rows).set_index("edit")


def shift_matrix(df: pd.DataFrame, kind: str, method: str, factors: tuple[str, ...] = FACTOR_NAMES) -> pd.DataFrame:
    """Edits x factors: mean over folds of ``kind`` (measured_shift, code_shift, probe_shift)
    for the runs of ``method``; the numbers the intervention figure draws."""
    runs = df[df["method"] == method]
    data = {
        LABELS[f]: [runs.groupby("fold")[column(kind, edit=e.name, factor=f)].mean().mean() for e in EDITS]
        for f in factors
    }
    return pd.DataFrame(data, index=[e.name.replace("_", " ") for e in EDITS])


def edit_own_shift(df: pd.DataFrame, factor: str) -> pd.DataFrame:
    """Per factor-prototype run, how far the edits of ``factor`` move its own block: the block's
    decoded level shift in the direction the edit moves the factor, averaged over the factor's
    edits. Above 0: the block follows its factor. Rows: fold, seed, ``method`` "own shift", ``value``."""
    return _edit_scores(df, factor, minus_others=False, name="own shift")


def edit_selectivity(df: pd.DataFrame, factor: str) -> pd.DataFrame:
    """Per factor-prototype run, how selectively the edits of ``factor`` move its own block:
    the own block's decoded shift in the direction the measured level moved, minus the largest
    shift (in size) of any other block, averaged over the factor's edits. Above 0: the edit
    moves the factor's block more than any other; an ideal disentanglement scores the measured
    shift itself. Rows: fold, seed, ``method`` "selectivity", ``value``."""
    return _edit_scores(df, factor, minus_others=True, name="selectivity")


def _edit_scores(df: pd.DataFrame, factor: str, minus_others: bool, name: str) -> pd.DataFrame:
    runs = df[df["method"] == "factor_prototypes"]
    scores = 0.0
    edits = [e for e in EDITS if e.factor == factor]
    for edit in edits:
        direction = 1.0 if edit.amount > 0 else -1.0
        own = direction * runs[column("code_shift", edit=edit.name, factor=factor)]
        scores = scores + (own - (largest_other_shift(runs, edit) if minus_others else 0.0)) / len(edits)
    return pd.DataFrame({"fold": runs["fold"], "seed": runs["seed"], "method": name, "value": scores})


def schedule_training(epochs: int, sweep: str = "factor-pull", results_dir=None) -> str:
    """The training accuracy the factor-pull runs at λ = 10 and 30 ended at after ``epochs``, as
    "lowest–highest % (n runs)": 60 is an earlier plan of the sweep, kept in its table outside the
    current plan (the reason those settings now train for 150), 150 the current one."""
    table = read_table(Path(results_dir or RESULTS) / sweep / "full.csv")
    short = table[
        (table["loss"] == "factor_prototypes") & table["lam"].isin([10.0, 30.0]) & (table["epochs"] == epochs)
    ]
    accuracy = 100 * short["train_accuracy"]
    return f"{accuracy.min():.1f}–{accuracy.max():.1f} % ({len(short)} runs)"
