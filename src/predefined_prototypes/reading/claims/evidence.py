"""Which runs each claim is judged on: the evidence selectors, and nothing else in the book
chooses runs for a verdict.

Claim 1 on a corpus reads its tuned-baselines sweep once complete (each method's knob chosen on
validation speakers), else its main comparison; Claim 2 reads the factor-pull sweep's strongest
complete setting whose runs all trained, else the paper-faithful factor ablation.
"""

from __future__ import annotations

import pandas as pd

from ...method.registry import FACTOR_NAMES
from ...run.schema import column
from ...storage.results import complete_cells, derived, holds_plan, planned_runs
from ..factor_tables import (
    LABELS,
    PULL_SETTING,
    at_setting,
    setting_name,
    with_factor_reads,
    with_probe_chance,
)
from ..methods import is_set
from ..rules import CONVERGED, TRAINING_FLOOR
from ..runs import complete_settings, load_profile, load_results
from ..stats import epochs_to_reach
from ..tables import learning_curves, tuned_choice
from .claim2 import claim2_verdict, criteria_met


def tuned_candidates(sweep: str) -> tuple[pd.DataFrame, bool]:
    """Every run of a tuned-baselines sweep with its ``family`` (its method, ``methods.method_of``), and
    whether its full profile is complete."""
    runs, complete = load_profile(sweep)
    return runs.assign(family=runs["method"]), complete


def tuned_runs(sweep: str) -> tuple[pd.DataFrame, bool]:
    """A tuned-baselines sweep's chosen settings (``tables.tuned_choice``: one row per family and
    test speaker, each knob chosen on validation), and whether its full profile is complete."""
    runs, complete = tuned_candidates(sweep)
    return tuned_choice(runs), complete


def main_runs(sweep: str) -> tuple[pd.DataFrame, bool]:
    """A main comparison's runs, and whether every run its full profile plans is stored."""
    df = load_results(sweep)
    return df, bool(df["profile"].iloc[0] == "full" and len(df) == planned_runs(sweep, "full"))


def convergence_runs(sweep: str) -> tuple[pd.DataFrame, bool]:
    """Epochs to ``CONVERGED`` training accuracy per run of a main comparison (the cells every
    method ran), and whether its full profile is complete."""
    df, complete = main_runs(sweep)
    history = derived(sweep, "curves", df["profile"].iloc[0])
    return epochs_to_reach(learning_curves(complete_cells(df), history), CONVERGED), complete


def block_fit_reading(runs: pd.DataFrame) -> str:
    """One sentence on how far the factor pull acts in ``runs`` (``claim2_evidence``'s): the
    blocks' level match on the training clips and on the test speaker's, averaged over factors
    and runs; empty where the runs predate the stored fit.

    >>> runs = pd.DataFrame({"method": "factor_prototypes", "fit_loudness_level_match": [1.0, 0.98],
    ...                      "held_out_loudness_level_match": [0.4, 0.3]})
    >>> block_fit_reading(runs)
    "There the blocks sit on their level codes for 99.0 % of the training clips and 35.0 % of a new voice's (mean over factors and runs)."
    """
    factor_runs = runs[runs["method"] == "factor_prototypes"]
    train = [c for c in factor_runs if c.startswith("fit_") and c.endswith("_level_match")]
    held_out = [c for c in factor_runs if c.startswith("held_out_") and c.endswith("_level_match")]
    if not train or not held_out:
        return ""
    return (
        f"There the blocks sit on their level codes for {100 * factor_runs[train].mean().mean():.1f} % of the "
        f"training clips and {100 * factor_runs[held_out].mean().mean():.1f} % of a new voice's (mean over factors "
        "and runs)."
    )


def claim2_evidence() -> dict:
    """The runs Claim 2 is judged on, and why those: the factor-pull sweep's strongest complete
    setting whose runs all trained (``claim2_strongest``), with that sweep's CE and
    plain-prototype references where their settings are complete; else the factor ablation's
    (40 mel bins, λ = 1, random training crops). Keys: ``sweep``, ``runs`` (``method`` column,
    probe chance per test speaker), ``complete``, ``evidence`` (what the verdict rests on, and
    which settings are still running) and ``setup`` (how those runs were trained)."""

    pull, status = complete_settings("factor-pull", PULL_SETTING)
    strongest = claim2_strongest(setting_training(pull))["strongest"] if len(pull) else None
    if strongest:  # where the factor pull acts most, among settings that trained
        chosen = (pull["method"] == "factor_prototypes") & at_setting(pull, strongest)
        pending = status[~status["complete"] & (status["loss"] == "factor_prototypes")]
        setting = setting_name(strongest)
        references = pull[pull["method"].isin(["ce", "prototypes"])]
        return {
            "sweep": "factor-pull",
            "runs": with_factor_reads(pd.concat([pull[chosen], references]), "factor-pull"),
            "complete": True,
            "evidence": f"the factor-pull sweep's strongest setting whose runs all trained ({setting})"
            + (f"; {len(pending)} other factor settings still running" if len(pending) else ""),
            "setup": f"factor prototypes at {setting}, every run trained on the first 3 s of each clip, the "
            "audio its factor levels are measured on"
            + (
                f"; references at {references['num_mel_bins'].iloc[0]} mel bins, {references['epochs'].iloc[0]} epochs"
                if len(references)
                else "; the references' runs are not complete yet"
            )
            + " (configs/factor-pull.yaml)",
        }
    case, complete = factor_ablation_case()
    return {
        "sweep": "ablation-factors",
        "runs": with_factor_reads(with_probe_chance(case, "ablation-factors"), "ablation-factors"),
        "complete": complete,
        "evidence": "the factor ablation (40 mel bins, λ = 1): no factor-pull setting is both complete and trained yet",
        "setup": "factor prototypes at λ = 1, 40 mel bins, 60 epochs, random 3 s training crops, the references "
        "likewise (configs/ablation-factors.yaml)",
    }


def factor_ablation_case() -> tuple[pd.DataFrame, bool]:
    """The factor ablation's 6-level, three-factor runs and their references (the paper-faithful
    setting), and whether its full profile is complete."""

    factors = load_profile("ablation-factors")[0]
    case = factors[factors["method"].isin(["factor_prototypes", "ce", "prototypes"])]
    return case, bool(case["profile"].iloc[0] == "full" and len(factors) == planned_runs("ablation-factors", "full"))


def claim2_evidence_paper_faithful(evidence: dict) -> str:
    """Where ``evidence`` is the factor-pull sweep's, the sentence giving the paper-faithful
    factor ablation's verdict beside it (λ = 1, 40 mel bins, random crops); else ''."""
    if evidence["sweep"] == "ablation-factors":
        return ""
    verdict = claim2_verdict(*factor_ablation_case())
    return (
        f"The paper-faithful setting (the factor ablation: λ = 1, 40 mel bins, 60 epochs, random training "
        f"crops) gives {verdict.outcome} (criteria met: {criteria_met(verdict)})."
    )


def setting_training(df: pd.DataFrame) -> pd.DataFrame:
    """For each (lambda, mel bins, epochs) of the factor-prototype runs in ``df``: the emotion
    accuracy (folds averaged), the lowest training accuracy of the setting's runs (``trained``: all
    at ``rules.TRAINING_FLOOR`` or above) and each block's mean fit on the training clips. What
    ``claim2_strongest`` chooses by, without judging any setting."""
    columns = ["lam", "num_mel_bins", "epochs", "accuracy", "lowest_train_accuracy", "trained"]
    if df.empty:
        return pd.DataFrame(columns=columns)
    rows = []
    for (lam, mels, epochs), runs in df[df["method"] == "factor_prototypes"].groupby(["lam", "num_mel_bins", "epochs"]):
        row = {
            "lam": lam,
            "num_mel_bins": mels,
            "epochs": epochs,
            "accuracy": runs.groupby("fold")["accuracy"].mean().mean(),
            "lowest_train_accuracy": runs["train_accuracy"].min(),
            "trained": bool(runs["train_accuracy"].min() >= TRAINING_FLOOR),
        }
        for factor in FACTOR_NAMES:
            fit = column("fit_level_match", factor=factor)
            row[f"{LABELS[factor]} block fit"] = runs[fit].mean() if fit in runs else float("nan")
        rows.append(row)
    return pd.DataFrame(rows, columns=None if rows else columns)


def claim2_by_setting(df: pd.DataFrame) -> pd.DataFrame:
    """Claim 2 at every setting of the factor-pull sweep in ``df`` (complete settings only:
    ``results.complete_settings``): ``setting_training``'s row of each setting, with
    ``claim2_verdict`` on the setting's factor-prototype runs (whose criteria read the factor runs
    alone) and each factor x criterion difference (``<factor>: <criterion>`` columns) for the
    trade-off figure."""
    settings = setting_training(df)
    if settings.empty:
        return settings.assign(verdict=[], met=[])
    factor_runs = df[df["method"] == "factor_prototypes"]
    judged = []
    for lam, mels, epochs in settings[["lam", "num_mel_bins", "epochs"]].itertuples(index=False):
        runs = factor_runs[
            (factor_runs["lam"] == lam) & (factor_runs["num_mel_bins"] == mels) & (factor_runs["epochs"] == epochs)
        ]
        verdict = claim2_verdict(runs, True)
        judged.append(
            {"verdict": verdict.outcome, "met": criteria_met(verdict)}
            | {c.label: c.estimate for c in verdict.comparisons}
        )
    judged = pd.DataFrame(judged, index=settings.index)
    head = ["lam", "num_mel_bins", "epochs", "accuracy", "lowest_train_accuracy", "trained"]
    fits = [c for c in settings.columns if c not in head]
    return pd.concat(
        [settings[head], judged[["verdict", "met"]], settings[fits], judged.drop(columns=["verdict", "met"])], axis=1
    )


def claim2_strongest(settings: pd.DataFrame) -> dict:
    """From ``setting_training`` (or ``claim2_by_setting``): the strongest setting whose runs all trained (the largest
    lambda, at the most mel bins, then the most epochs), which the verdict rests on, and the
    paper-faithful one (40 mel bins, lambda 1), kept beside it. None where no setting qualifies or
    is present."""
    trained = settings[settings["trained"].astype(bool)].sort_values(["lam", "num_mel_bins", "epochs"])
    faithful = settings[(settings["lam"] == 1) & (settings["num_mel_bins"] == 40)]
    return {
        "strongest": trained.iloc[-1].to_dict() if len(trained) else None,
        "paper_faithful": faithful.iloc[0].to_dict() if len(faithful) else None,
    }


# Claim 2 on RAVDESS: the settings of configs/claim2-ravdess.yaml and the rule its description
# states before any test number: the strong pull if every one of its runs trained, else the
# paper-faithful one.
RAVDESS_SWEEP = "claim2-ravdess"
INTENSITY_SWEEP = "claim2-ravdess-intensity"  # the intensity block without the filter
RAVDESS_STRONG = {"lam": 30.0, "num_mel_bins": 40}
RAVDESS_FAITHFUL = {"lam": 1.0, "num_mel_bins": 128}


def _at(runs: pd.DataFrame, setting: dict) -> pd.Series:
    return (runs[list(setting)] == pd.Series(setting)).all(axis=1)


def _ravdess_runs() -> tuple[pd.DataFrame, bool]:
    """The claim2-ravdess sweep's stored runs (``load_profile``; none before its quick profile)."""
    if not (holds_plan(RAVDESS_SWEEP, "full") or holds_plan(RAVDESS_SWEEP, "quick")):
        return pd.DataFrame(columns=["method", "factor_filter", "factors", "lam", "num_mel_bins", "epochs"]), False
    return load_profile(RAVDESS_SWEEP)


def ravdess_claim2_evidence(filtered: bool = True, faithful: bool = False) -> dict:
    """The runs Claim 2 on RAVDESS is judged on (``claim2_evidence``'s keys): the factor
    prototypes (pitch median, pitch spread, loudness) at ``RAVDESS_STRONG`` if all its runs of
    this filter trained to ``TRAINING_FLOOR``, else at ``RAVDESS_FAITHFUL``, with the CE and
    plain-prototype references; all with the authors' validity filter (``filtered``, the paper's
    protocol) or all without it (the sensitivity check). ``faithful``: the paper-faithful setting
    (``RAVDESS_FAITHFUL``) whatever the strong one did, for its own record. ``complete`` is False until the whole
    full profile is stored; ``trained``, whether every picked run reached the training floor."""
    df, complete = _ravdess_runs()
    runs = df[df["factor_filter"].map(is_set) == filtered]
    factor = runs[runs["method"] == "factor_prototypes"]
    strong = factor[_at(factor, RAVDESS_STRONG)]
    trained = len(strong) and strong["train_accuracy"].min() >= TRAINING_FLOOR
    setting = RAVDESS_FAITHFUL if faithful else RAVDESS_STRONG if trained or not filtered else RAVDESS_FAITHFUL
    chosen = factor[_at(factor, setting)]
    references = runs[runs["method"].isin(["ce", "prototypes"])]
    words = f"λ = {setting['lam']:g}, {setting['num_mel_bins']} mel bins"
    why = (
        "the paper-faithful setting"
        if faithful
        else "all its runs trained"
        if trained
        else f"a run of λ = 30 at 40 mel bins ended below {100 * TRAINING_FLOOR:g} %"
    )
    filter_words = "with the authors' validity filter" if filtered else "without the validity filter"
    picked = pd.concat([chosen, references])
    return {
        "trained": bool(len(picked) and picked["train_accuracy"].min() >= TRAINING_FLOOR),
        "sweep": RAVDESS_SWEEP,
        "runs": with_factor_reads(picked, RAVDESS_SWEEP) if complete and len(picked) else picked,
        "complete": complete,
        "evidence": f"the {RAVDESS_SWEEP} sweep's factor prototypes at {words} ({why}), {filter_words}",
        "setup": f"factor prototypes at {words}, {int(runs['epochs'].max()) if len(runs) else 0} epochs, 12 folds of "
        f"two actors, {filter_words}; CE and predefined prototypes at 40 mel bins as references (configs/{RAVDESS_SWEEP}.yaml)",
    }


def intensity_runs(filtered: bool = True) -> tuple[pd.DataFrame, bool]:
    """The RAVDESS runs with a labelled intensity block, with the validity filter (the
    claim2-ravdess sweep) or without it (``INTENSITY_SWEEP``), and whether that sweep's full
    profile is complete."""
    if filtered:
        df, complete = _ravdess_runs()
    elif holds_plan(INTENSITY_SWEEP, "full") or holds_plan(INTENSITY_SWEEP, "quick"):
        df, complete = load_profile(INTENSITY_SWEEP)
    else:
        return pd.DataFrame(columns=["method", "factors", "train_accuracy"]), False
    runs = df[df["factors"].astype(str).str.contains("intensity") & (df["factor_filter"].astype(bool) == filtered)]
    sweep = RAVDESS_SWEEP if filtered else INTENSITY_SWEEP
    return (with_factor_reads(runs, sweep) if complete and len(runs) else runs), complete
