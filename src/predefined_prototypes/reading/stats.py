"""Statistics a reviewer accepts, on results tables: test speakers (folds) are the independent
units, so seeds are averaged within each fold first and methods are compared paired by fold.

Every function takes a tidy table (one row per run, with ``fold``, ``seed`` and a group column,
``method`` by default) and never reads files.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

# scipy.special's t functions, not scipy.stats: importing scipy.stats takes about a second, a fifth
# of the reading side's budget for every verdict.
from scipy import special

from .power import equivalence_power, folds_for, minimum_detectable_difference
from .rules import ALPHA, TRAINING_FLOOR


def epochs_to_reach(curves: pd.DataFrame, threshold: float, column: str = "train_accuracy") -> pd.DataFrame:
    """Per run, the first epoch at which ``column`` reaches ``threshold`` (NaN if it never does),
    with the run's method, fold and seed: a convergence speed that ``paired_by_fold`` can compare.

    >>> curves = pd.DataFrame({"run_id": ["a"] * 3 + ["b"] * 3, "method": ["x"] * 3 + ["y"] * 3, "fold": "1",
    ...                        "seed": 0, "epoch": [1, 2, 3] * 2, "train_accuracy": [.5, .9, .99, .5, .6, .7]})
    >>> epochs_to_reach(curves, 0.9)["epochs"].tolist()
    [2.0, nan]
    """

    keys = ["run_id", "method", "fold", "seed"]
    reached = curves["epoch"].where(curves[column] >= threshold).astype(float)  # NaN before the threshold
    return curves.assign(epochs=reached).groupby(keys, sort=False)["epochs"].min().reset_index()


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


def fold_means(df: pd.DataFrame, metric: str, by: str = "method") -> pd.DataFrame:
    """``metric`` averaged over seeds within each (group, fold): folds (test speakers) are the
    independent units, seeds of one fold are not.

    >>> df = pd.DataFrame({"method": "a", "fold": ["1", "1", "2"], "seed": [0, 1, 0], "accuracy": [0.5, 0.7, 0.9]})
    >>> fold_means(df, "accuracy")["accuracy"].round(3).tolist()
    [0.6, 0.9]
    """
    return df.groupby([by, "fold"], sort=False)[metric].mean().reset_index()


def _paired_folds(
    df: pd.DataFrame, metric: str, value: str, baseline: str, by: str
) -> tuple[pd.Series, pd.Series, int]:
    """Per fold, ``value``'s and ``baseline``'s mean ``metric`` over the runs of the (fold, seed)
    cells both ran (NaN skipped, as pandas' mean does), and the fewest seeds such a fold holds.
    Plain Python rather than a pandas pivot: a page pairs groups hundreds of times, and pandas'
    fixed cost per operation was most of its reading time."""
    rows = [row for row in zip(df[by], df["fold"], df["seed"], df[metric]) if row[0] in (value, baseline)]
    ran: dict = {value: set(), baseline: set()}
    for group, fold, seed, _ in rows:
        ran[group].add((fold, seed))
    both = ran[value] & ran[baseline]
    folds = sorted({fold for fold, _ in both})
    kept: dict = {(group, fold): [] for group in (value, baseline) for fold in folds}
    for group, fold, seed, number in rows:
        if (fold, seed) in both and number == number:
            kept[group, fold].append(float(number))

    def means(group):
        values = [kept[group, fold] for fold in folds]
        return pd.Series([math.fsum(v) / len(v) if v else math.nan for v in values], index=pd.Index(folds, name="fold"))

    seeds = min((sum(1 for f, _ in both if f == fold) for fold in folds), default=0)
    return means(value), means(baseline), seeds


def fold_differences(df: pd.DataFrame, metric: str, value: str, baseline: str, by: str = "method") -> pd.Series:
    """Per fold, ``value``'s mean ``metric`` minus ``baseline``'s, each averaged over the seeds of
    the (fold, seed) cells both ran: the independent units ``paired_by_fold`` tests.

    >>> df = pd.DataFrame({"method": ["ce"] * 4 + ["p"] * 4, "fold": ["1", "1", "2", "2"] * 2,
    ...                    "seed": [0, 1] * 4, "accuracy": [.5, .6, .6, .6, .6, .7, .8, .8]})
    >>> fold_differences(df, "accuracy", "p", "ce").round(3).to_dict()
    {'1': 0.1, '2': 0.2}
    """
    a, b, _ = _paired_folds(df, metric, value, baseline, by)
    return (a - b).dropna()


def paired_by_fold(
    df: pd.DataFrame,
    metric: str,
    value: str,
    baseline: str,
    by: str = "method",
    confidence: float = 0.95,
    equivalence_confidence: float | None = None,
) -> dict:
    """Difference of ``metric`` between groups ``value`` and ``baseline``, paired by fold: seeds
    are first restricted to the (fold, seed) cells both ran and averaged within each fold; then a
    paired t-interval over folds (``paired_t``) and a two-sided Wilcoxon signed-rank
    p-value. With fewer than two folds there is no interval (NaN). With
    ``equivalence_confidence``, the same test's interval at that level too (``equivalence_low``,
    ``equivalence_high``): the one two one-sided tests read.

    >>> df = pd.DataFrame({"method": ["ce"] * 4 + ["p"] * 4, "fold": ["1", "1", "2", "2"] * 2,
    ...                    "seed": [0, 1] * 4, "accuracy": [.5, .6, .6, .6, .6, .7, .8, .8]})
    >>> d = paired_by_fold(df, "accuracy", "p", "ce")
    >>> round(d["mean"], 3), d["folds"], d["seeds"], round(d["low"], 3), round(d["high"], 3), d["wins"]
    (0.15, 2, 2, -0.485, 0.785, 2)
    """
    a, b, seeds = _paired_folds(df, metric, value, baseline, by)
    diff = (a - b).dropna()
    n = len(diff)
    result = {
        "mean": float(diff.mean()) if n else math.nan,
        "low": math.nan,
        "high": math.nan,
        "p_wilcoxon": math.nan,
        "folds": n,
        "seeds": seeds if n else 0,
        "wins": int((diff > 0).sum()),
        "losses": int((diff < 0).sum()),
        "p_t": math.nan,
        "confidence": confidence,
        "sd": float(diff.std(ddof=1)) if n >= 2 else math.nan,  # of the fold differences: the design's noise
    }
    if n >= 2:
        differences = diff.to_numpy(dtype=float)
        low, high, p = paired_t(differences, confidence)
        result.update(low=low, high=high, p_t=p)
        if equivalence_confidence is not None:
            low, high, _ = paired_t(differences, equivalence_confidence)
            result.update(equivalence_low=low, equivalence_high=high)
        if (diff != 0).any():
            result["p_wilcoxon"] = signed_rank_p(diff.to_numpy())
    elif equivalence_confidence is not None:
        result.update(equivalence_low=math.nan, equivalence_high=math.nan)
    return result


def paired_t(differences: np.ndarray, confidence: float) -> tuple[float, float, float]:
    """The paired t-test on fold ``differences`` (scipy's ``ttest_rel``, computed the same way):
    the mean's two-sided ``confidence`` interval and the two-sided p-value, as floats.

    >>> from scipy import stats
    >>> d = np.array([0.012, 0.031, -0.004, 0.02, 0.007])
    >>> test = stats.ttest_1samp(d, 0.0)
    >>> ci = test.confidence_interval(0.9)
    >>> np.allclose(paired_t(d, 0.9), (ci.low, ci.high, test.pvalue), rtol=1e-12, atol=0)
    True
    """
    n = len(differences)
    mean = np.mean(differences)
    variance = np.mean((differences - mean) ** 2) * (n / (n - 1))
    se = np.sqrt(variance / n)
    with np.errstate(divide="ignore", invalid="ignore"):  # no spread: t is infinite or undefined, as in scipy
        p = 2 * special.stdtr(n - 1, -np.abs(mean / se))
    tail = (1 - confidence) / 2
    low, high = mean + special.stdtrit(n - 1, np.array([tail, 1 - tail])) * se
    return float(low), float(high), float(p)


def signed_rank_p(differences: np.ndarray) -> float:
    """The two-sided Wilcoxon signed-rank p-value of ``differences`` (zeros dropped, tied
    magnitudes given their mean rank), the value scipy's ``wilcoxon`` returns, computed in
    microseconds: scipy meets ties or zeros in 13 or fewer pairs with a permutation test over all
    2^n sign flips, which dominated every verdict's reading time. Under the null each rank's sign
    is a fair coin, so the exact distribution of the positive rank sum is a convolution, counted
    here on doubled (integer) ranks. Beyond 13 pairs with ties, and beyond 50 pairs, scipy's own
    normal approximation is used, as scipy would.

    >>> from scipy import stats
    >>> d = np.array([0.02, -0.01, 0.03, 0.03, 0.0, 0.05])
    >>> round(signed_rank_p(d), 6) == round(float(stats.wilcoxon(d).pvalue), 6)
    True
    """
    nonzero = differences[differences != 0]
    ranks = pd.Series(np.abs(nonzero)).rank(method="average").to_numpy()
    tied = len(np.unique(ranks)) < len(ranks) or len(nonzero) < len(differences)
    if len(differences) > 50 or (tied and len(differences) > 13):
        from scipy import stats  # rare (no design here has over 13 folds with ties): paid only then

        return float(stats.wilcoxon(differences).pvalue)
    doubled = np.rint(2 * ranks).astype(int)  # mean ranks are whole or half numbers
    counts = np.zeros(int(doubled.sum()) + 1, dtype=np.int64)
    counts[0] = 1
    for rank in doubled:  # each rank joins the positive sum or not, with equal chance
        counts[rank:] = counts[rank:] + counts[: len(counts) - rank].copy()
    observed = int(doubled[nonzero > 0].sum())
    total = counts.sum()
    at_most, at_least = counts[: observed + 1].sum() / total, counts[observed:].sum() / total
    return float(min(1.0, 2 * min(at_most, at_least)))


def seed_spread(df: pd.DataFrame, by: str = "method") -> str:
    """The largest accuracy range across seeds of one group on one fold, in points, in words.

    >>> seed_spread(pd.DataFrame({"method": "a", "fold": ["1", "1", "2", "2"], "accuracy": [.5, .6, .7, .72]}))
    'up to 10.0 points (median 6.0)'
    """
    ranges = df.groupby([by, "fold"])["accuracy"].agg(lambda a: a.max() - a.min() if len(a) > 1 else math.nan)
    if ranges.isna().all():
        return "not measured here (one seed per fold)"
    return f"up to {100 * ranges.max():.1f} points (median {100 * ranges.median():.1f})"


def format_mean_std(mean: float, std: float, scale: float = 100.0, digits: int = 1) -> str:
    """'72.4 ± 3.1' (in percent by default); the ± part is left out when std is undefined.

    >>> format_mean_std(0.7243, 0.031), format_mean_std(0.5, float("nan"))
    ('72.4 ± 3.1', '50.0')
    """
    if std != std:  # NaN: a single run
        return f"{mean * scale:.{digits}f}"
    return f"{mean * scale:.{digits}f} ± {std * scale:.{digits}f}"


def level_words(level: float) -> str:
    """'98.3 % interval' from 0.98333: every interval the book prints names its level.

    >>> level_words(0.95), level_words(1 - 0.05 / 3)
    ('95 % interval', '98.3 % interval')
    """
    return f"{100 * level:.1f}".rstrip("0").rstrip(".") + " % interval"


def family_words(d: dict) -> str:
    """The family an interval belongs to: 'Bonferroni over 3', 'one test', or 'uncorrected' for a
    comparison read beside others without correction (``d`` from ``compare_together`` carries
    ``tests``; a bare ``paired_by_fold`` does not)."""
    tests = d.get("tests")
    return "uncorrected" if tests is None else "one test" if tests == 1 else f"Bonferroni over {tests}"


def describe_difference(
    d: dict,
    against: str = "cross-entropy",
    scale: float = 100.0,
    unit: str = " points",
    above: str = "better than",
    below: str = "worse than",
    fold: str = "fold",
) -> str:
    """A plain-words reading of ``paired_by_fold`` or a row of ``compare_together``: accuracy
    differences in points by default; for another metric pass its ``scale``, ``unit`` and what a
    difference ``above`` or ``below`` zero means; ``fold`` names the paired unit (e.g. "cell").
    The interval names its level and family; "beyond fold noise" only where it is corrected for
    the comparisons read with it.

    >>> describe_difference({"mean": 0.05, "low": 0.01, "high": 0.09, "p_wilcoxon": 0.031, "folds": 6,
    ...                      "seeds": 3, "wins": 6, "losses": 0, "confidence": 0.975, "tests": 2})
    '+5.0 points (97.5 % interval, Bonferroni over 2: +1.0 to +9.0 over 6 folds of 3 seeds; higher in 6 of 6 folds; Wilcoxon p = 0.031): better than cross-entropy beyond fold noise'
    >>> describe_difference({"mean": 0.05, "low": 0.01, "high": 0.09, "p_wilcoxon": 0.031, "folds": 6,
    ...                      "seeds": 3, "wins": 6, "losses": 0, "confidence": 0.95})
    '+5.0 points (95 % interval, uncorrected: +1.0 to +9.0 over 6 folds of 3 seeds; higher in 6 of 6 folds; Wilcoxon p = 0.031): above cross-entropy at this uncorrected level (descriptive)'
    >>> describe_difference({"mean": 0.05, "low": float("nan"), "high": float("nan"), "p_wilcoxon": float("nan"),
    ...                      "folds": 1, "seeds": 1, "wins": 1, "losses": 0})
    '+5.0 points from a single fold: no interval, so no conclusion'
    """
    value = f"{d['mean'] * scale:+.1f}{unit}"
    if d["folds"] < 2:
        return f"{value} from a single {fold}: no interval, so no conclusion"
    family = family_words(d)
    interval = (
        f"{value} ({level_words(d.get('confidence', 0.95))}, {family}: {d['low'] * scale:+.1f} to "
        f"{d['high'] * scale:+.1f} over {d['folds']} {fold}s of {d['seeds']} seed{'s' if d['seeds'] > 1 else ''}; "
        f"higher in {d['wins']} of {d['folds']} {fold}s; Wilcoxon p = {d['p_wilcoxon']:.2g})"
    )
    if d["low"] > 0 or d["high"] < 0:
        if family == "uncorrected":
            return (
                f"{interval}: {'above' if d['low'] > 0 else 'below'} {against} at this uncorrected level (descriptive)"
            )
        return f"{interval}: {above if d['low'] > 0 else below} {against} beyond {fold} noise"
    return f"{interval}: not distinguishable from {against}"


def against_reference(
    df: pd.DataFrame, by: str, reference, scale: float = 100.0, trained: float = TRAINING_FLOOR, alpha: float = ALPHA
) -> pd.DataFrame:
    """One row per group of ``by``: accuracy and training accuracy (mean ± std over runs, and the
    lowest run's training accuracy), and the group's accuracy difference to the ``reference``
    group, paired by fold as in ``paired_by_fold`` and read together over the groups
    (``compare_together``: intervals at 1 - alpha / m, decided by that interval). A group whose runs (or
    whose reference runs) do not all reach ``trained`` training accuracy compares an under-fitted
    model: it reads "under-fitted", not "higher" or "lower". The ablations' table.

    >>> df = pd.DataFrame({"k": [1] * 4 + [2] * 4, "fold": ["a", "a", "b", "b"] * 2, "seed": [0, 1] * 4,
    ...                    "accuracy": [.5, .6, .6, .6, .6, .7, .8, .8], "train_accuracy": [.99] * 7 + [.9]})
    >>> row = against_reference(df, "k", 1).drop(columns="accuracy %").to_dict("records")[1]
    >>> row["difference, points"], row["beyond fold noise"], row["lowest training accuracy %"]
    ('+15.0 (-48.5 to +78.5)', 'under-fitted', '90.0')
    """
    groups = list(dict.fromkeys(df[by]))
    others = [g for g in groups if g != reference]
    compared = dict(zip(others, compare_together(df, [(g, reference) for g in others], by=by, alpha=alpha)))
    reference_trained = df.loc[df[by] == reference, "train_accuracy"].min() >= trained
    rows = []
    for group in groups:
        runs = df[df[by] == group]
        row = {
            by: group,
            "accuracy %": format_mean_std(runs["accuracy"].mean(), runs["accuracy"].std(), scale),
            "training accuracy %": format_mean_std(runs["train_accuracy"].mean(), runs["train_accuracy"].std(), scale),
            "lowest training accuracy %": f"{runs['train_accuracy'].min() * scale:.1f}",
        }
        if group == reference:
            row.update(
                {
                    "difference, points": "reference",
                    "interval": "",
                    "higher in": "",
                    "adjusted p": "",
                    "beyond fold noise": "",
                }
            )
        else:
            d = compared[group]
            fitted = reference_trained and runs["train_accuracy"].min() >= trained
            reading = "higher" if d["mean"] > 0 else "lower"
            row.update(
                {
                    "difference, points": f"{d['mean'] * scale:+.1f} ({d['low'] * scale:+.1f} to {d['high'] * scale:+.1f})",
                    "interval": f"{level_words(d['confidence'])}, {family_words(d)}",
                    "higher in": f"{d['wins']} of {d['folds']} folds",
                    "adjusted p": f"{d['p_adjusted']:.2g}",
                    "beyond fold noise": (reading if d["differs"] else "no") if fitted else "under-fitted",
                }
            )
        rows.append({**row, "runs": len(runs)})
    return pd.DataFrame(rows)


def paired_together(tests: list[tuple], alpha: float = ALPHA) -> list[dict]:
    """``paired_by_fold`` for m tests read as one family, each ``(df, metric, value, baseline,
    by, margin)``: each interval at confidence 1 - alpha / m (Bonferroni, so that all hold
    together), ``p_adjusted`` the Bonferroni-adjusted t-test p-value, ``differs`` whether it is
    below alpha, which is exactly whether that interval excludes 0 (the one decision language: a
    comparison is decided by the interval printed beside it), ``mdd`` the difference found with 80 % power at alpha / m, and where ``margin`` is not
    None (in the metric's units, declared before results are read) ``equivalent``: two one-sided
    tests at alpha / m, i.e. the 1 - 2 alpha / m interval (``equivalence_low``/``_high``) lies
    inside (-margin, +margin)."""
    m = max(len(tests), 1)
    rows = [
        paired_by_fold(df, metric, v, b, by, 1 - alpha / m, None if margin is None else 1 - 2 * alpha / m)
        for df, metric, v, b, by, margin in tests
    ]
    for (_, _, value, baseline, _, margin), row in zip(tests, rows):
        p = min(1.0, m * row["p_t"]) if not math.isnan(row["p_t"]) else math.nan
        row.update(value=value, baseline=baseline, p_adjusted=p, differs=bool(p < alpha), tests=m)
        # The design's power at its strictest level: the difference it finds 4 times in 5.
        row["mdd"] = minimum_detectable_difference(row["sd"], row["folds"], alpha / m)
        if margin is not None:
            low, high = row["equivalence_low"], row["equivalence_high"]
            row.update(equivalent=bool(row["folds"] >= 2 and -margin < low and high < margin), margin=margin)
            row["equivalence_power"] = equivalence_power(row["sd"], row["folds"], margin, alpha / m)
            row["folds_for_equivalence"] = folds_for(row["sd"], margin, alpha / m)
    return rows


def compare_together(
    df: pd.DataFrame,
    pairs: list[tuple[str, str]],
    metric: str = "accuracy",
    by: str = "method",
    margin: float | None = None,
    alpha: float = ALPHA,
) -> list[dict]:
    """``paired_together`` for several (value, baseline) pairs of one table, corrected for their
    number m: each interval at confidence 1 - alpha / m (Bonferroni, so that all hold together),
    ``p_adjusted`` the Bonferroni-adjusted t-test p-value, ``differs`` whether it is below alpha
    (whether that interval excludes 0), and with an
    equivalence ``margin`` (in the metric's units, declared before results are read),
    ``equivalent``: two one-sided tests at alpha / m, i.e. the 1 - 2 alpha / m interval lies
    inside (-margin, +margin).

    >>> df = pd.DataFrame({"method": ["a"] * 6 + ["b"] * 6, "fold": list("uvwxyz") * 2, "seed": 0,
    ...                    "accuracy": [.50, .52, .51, .49, .50, .51, .50, .51, .51, .50, .50, .52]})
    >>> (row,) = compare_together(df, [("a", "b")], margin=0.02)
    >>> row["differs"], row["equivalent"], round(row["confidence"], 3)
    (False, True, 0.95)
    """
    return paired_together([(df, metric, value, baseline, by, margin) for value, baseline in pairs], alpha)


def by_cell(df: pd.DataFrame) -> pd.DataFrame:
    """``df`` with ``fold`` replaced by the (held-out pair, test speaker) cell, the replicate of
    the new-classes protocol, so that ``paired_by_fold`` pairs methods by cell.

    >>> by_cell(pd.DataFrame({"fold": ["theo"], "novel_classes": ["0,1"]}))["fold"].tolist()
    ['0,1 | theo']
    """
    return df.assign(fold=df["novel_classes"].astype(str) + " | " + df["fold"].astype(str))
