"""The results page's glue: Claim 1 on each corpus, against CE, the control and the tuned baselines, and pull strength."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from ...storage.results import RESULTS
from ...storage.store import read_table
from .. import figures
from ..claims import CLAIM1_SWEEPS, claim1_verdicts, recipe_runs, tuned_claim1
from ..claims.claim1 import placement_reading
from ..claims.evidence import tuned_candidates, tuned_runs
from ..claims.pretrained import (
    ENCODER,
    PRETRAINED_SWEEPS,
    calibration_table,
    pilot_choice,
    pilot_curves,
    probe_runs,
    probe_table,
    regime_rows,
    replaced_setting,
)
from ..claims.recipes import choose_recipes, selection_table, within_recipe
from ..design import design_values
from ..methods import with_methods
from ..rules import ACCURACY_MARGIN, CONVERGED, EPOCH_MARGIN, TRAINING_FLOOR
from ..runs import planned_methods
from ..stats import compare_together, describe_difference, epochs_to_reach, level_words, paired_by_fold, seed_spread
from ..tables import (
    METHOD_NAMES,
    TUNED_FAMILIES,
    cells_description,
    describe_protocol,
    display_name,
    pull_strength,
    selection_noise,
    shown,
    summary_table,
    tuned_table,
)
from .common import rule_words

# The fold-by-fold panels' titles, per main comparison.
TITLES = {"fsdd": "FSDD, 10 digits, leave-one-speaker-out", "emodb": "EmoDB, 4 emotions, leave-one-speaker-out"}


def claim1_parts_table() -> pd.DataFrame:
    """Claim 1 in its two parts on every corpus: each part's outcome with its deciding comparison's
    interval, and the standing of its rules (``claims.with_standing``)."""
    verdicts = claim1_verdicts()
    rows = []
    for key, (corpus, sweep) in CLAIM1_SWEEPS.items():
        row = {"corpus": corpus, "sweep file (configs/)": f"{sweep}.yaml"}
        for part, label in (("a", "1a, the pull"), ("b", "1b, the placement")):
            v = verdicts[f"{key}_claim1{part}"]
            c = v.comparisons[0] if v.comparisons else None
            row[label] = f"{v.outcome}: {c.label} {c.numbers()}" if c else f"{v.outcome} ({v.reason})"
        row["rules"] = f"{v.standing}: {v.notes['rules']}"
        rows.append(row)
    return pd.DataFrame(rows)


RECIPE_SWEEPS = {"Speech Commands v0.02": "claim1-recipes-speech-commands", "RAVDESS": "claim1-recipes-ravdess"}
# The sweeps this page reads, in the order a reader reruns them ("Rerun this page").
RERUN = (
    "main-fsdd",
    "main-emodb",
    "pull-strength",
    "tuned-baselines",
    "claim1-speech-commands-pilot",
    "claim1-speech-commands",
    "claim1-ravdess-pilot",
    "claim1-ravdess",
    "claim1-recipes-speech-commands",
    "claim1-recipes-ravdess",
    *(pilot for _, pilot in PRETRAINED_SWEEPS.values()),
    *(sweep for sweep, _ in PRETRAINED_SWEEPS.values()),
)
# Every sweep the recipe design's tables read: from scratch, then with the pretrained encoder.
RECIPE_VIEWS = RECIPE_SWEEPS | {f"{corpus} ({ENCODER})": sweep for corpus, (sweep, _) in PRETRAINED_SWEEPS.items()}


def claim1_values() -> dict[str, str]:
    """Each Claim 1 part's reason in words (``<key>_reason``, e.g. ``fsdd_claim1a_reason``), each
    recipe sweep's status (``sc_recipes_stored``, ``sc_recipes_complete``, and ``ravdess_...``) and
    the pretrained regime's (``pretrained_values``)."""
    values = {
        f"{key}_reason": f"{v.outcome}: {v.rule}; {v.reason}" if v.rule else f"{v.outcome}: {v.reason}"
        for key, v in claim1_verdicts().items()
    }
    for prefix, sweep in zip(("sc_recipes", "ravdess_recipes"), RECIPE_SWEEPS.values()):
        runs, complete, stored, planned = recipe_runs(sweep)
        ready = within_recipe(runs) if len(runs) else pd.DataFrame(columns=["recipe"])
        recipes = list(dict.fromkeys(ready["recipe"]))
        values[f"{prefix}_stored"] = f"{stored} of {planned}"
        values[f"{prefix}_complete"] = (
            f"every loss has run every fold of {len(recipes)} recipe(s) so far: {'; '.join(recipes)}"
            if recipes
            else "no recipe has run every loss in every fold yet"
        )
    return values | pretrained_values()


def recipe_view(view: str = "within") -> pd.DataFrame | None:
    """The recipe sweeps' tables, one block per corpus: the pull added to each fixed recipe that
    every loss has run in every fold (``"within"``; shown while a sweep runs, since each recipe's
    runs are full-profile evidence), or, for each sweep whose full profile is complete, what the
    validation choice picked and cost (``"selection"``; None before any is)."""
    tables = []
    for corpus, sweep in RECIPE_VIEWS.items():
        runs, complete, _, _ = recipe_runs(sweep)
        if view == "within" and len(runs):
            tables.append(within_recipe(runs).assign(corpus=corpus))
        elif view == "selection" and complete:
            tables.append(selection_table(runs, choose_recipes(runs)).assign(corpus=corpus))
    if not tables:
        return None
    table = pd.concat(tables, ignore_index=True)
    return table[["corpus", *[c for c in table.columns if c != "corpus"]]].style.hide(axis="index")


def _against(name: str, sweep: str, df: pd.DataFrame) -> dict[str, str]:
    """Every method the sweep plans against CE, and every prototype method against the
    zero-prototype control, read together (Bonferroni over all of them); "not run yet" for a planned
    method not stored."""
    present = set(df["method"])
    planned = planned_methods(sweep)
    pairs = [(m, "ce") for m in METHOD_NAMES if m != "ce" and m in present]
    pairs += [(m, "zero_prototypes") for m in METHOD_NAMES if m.startswith("prototypes") and m in present]
    pairs = [p for p in pairs if set(p) <= present]
    rows = dict(zip(pairs, compare_together(df, pairs)))
    values = {}
    for method in [m for m in METHOD_NAMES if m in planned]:
        if method != "ce":
            row = rows.get((method, "ce"))
            values[f"{name}_{method}_vs_ce"] = describe_difference(row) if row else "not run yet"
        if method.startswith("prototypes"):
            row = rows.get((method, "zero_prototypes"))
            values[f"{name}_{method}_vs_control"] = (
                describe_difference(row, "the zero-prototype control") if row else "not run yet"
            )
    return values


def _speed(name: str, curves: pd.DataFrame, threshold: float) -> dict[str, str]:
    reached = epochs_to_reach(curves, threshold)
    values = {f"{name}_never_reached": str(int(reached["epochs"].isna().sum()))}
    # Two separate questions, each one test: against learned prototypes (the one Claim 1c's
    # verdict reads) and against cross-entropy (a reference the claim does not name).
    for baseline, label in (("learned_prototypes", "learned prototypes"), ("ce", "cross-entropy")):
        d = paired_by_fold(reached, "epochs", "prototypes", baseline) | {"tests": 1}
        values[f"{name}_speed_prototypes_vs_{baseline}"] = describe_difference(
            d, label, scale=1, unit=" epochs", above="slower than", below="faster than"
        )
    return values


def calibration_reading(chosen: pd.DataFrame) -> str:
    """What the norm penalty does to calibration and whether temperature scaling removes it: the
    test ECE of the prototypes and of the control, each against CE with its validation-chosen
    weight decay (the family that includes plain CE), before and after temperature scaling fitted
    on the validation speaker, paired by test speaker (``tables.tuned_choice``'s rows, each the
    mean of its seeds); the four comparisons read together (Bonferroni over 4)."""
    rows = chosen.rename(columns={"family": "method"}).assign(seed=0)
    columns = {"ece": "before temperature scaling", "validation_test_ece_scaled": "after it"}
    long = pd.concat([rows.assign(method=rows["method"] + "@" + c, value=rows[c]) for c in columns])
    arms = [m for m in ("prototypes", "zero_prototypes") if {m, "ce_weight_decay"} <= set(rows["method"])]
    pairs = [(f"{m}@{c}", f"ce_weight_decay@{c}") for m in arms for c in columns]
    compared = dict(zip(pairs, compare_together(long, pairs, metric="value")))
    seeds = int(rows["seeds"].min()) if "seeds" in rows else 1
    parts = []
    for method in arms:
        said = [
            f"{when}, "
            + describe_difference(
                compared[(f"{method}@{c}", f"ce_weight_decay@{c}")] | {"seeds": seeds},
                "CE",
                above="worse calibrated than",
                below="better calibrated than",
                fold="test speaker",
            )
            for c, when in columns.items()
        ]
        name = "the prototypes" if method == "prototypes" else "the zero-prototype control"
        parts.append(f"Test ECE of {name} minus CE's: " + "; ".join(said) + ".")
    return " ".join(parts)


def tuned_under_fitted(chosen: pd.DataFrame) -> str:
    """Which validation-chosen settings of the tuned-baselines sweep ended some run below 97 %
    training accuracy (under-fitted at the sweep's epochs), and whether the best CE, the baseline
    the verdict reads, chose such a run for any test speaker.

    >>> chosen = pd.DataFrame({"family": ["ce_weight_decay", "ce_label_smoothing", "tuned_ce"] * 2,
    ...                        "fold": ["1"] * 3 + ["2"] * 3,
    ...                        "min_train_accuracy": [0.96, 0.98, 0.98, 0.99, 0.98, 0.99]})
    >>> tuned_under_fitted(chosen).split("; ")[1]  # fold 1's best CE is label smoothing
    'the best CE never chose an under-fitted run, so the verdict does not rest on one.'
    >>> tuned_under_fitted(chosen.assign(min_train_accuracy=[0.96, 0.98, 0.96, 0.99, 0.98, 0.99])).split("; ")[1]
    'the best CE chose an under-fitted run for 1 test speaker(s).'
    """

    if "min_train_accuracy" not in chosen:
        return ""
    lowest = chosen.groupby("family")["min_train_accuracy"].min()
    short = [f for f in TUNED_FAMILIES if f in lowest and lowest[f] < TRAINING_FLOOR]
    if not short:
        return f"Every chosen setting's runs ended at or above {100 * TRAINING_FLOOR:.0f} % training accuracy."
    names = ", ".join(f"{TUNED_FAMILIES[f][0]} (lowest {100 * lowest[f]:.1f} %)" for f in short)
    used = chosen[(chosen["family"] == "tuned_ce") & (chosen["min_train_accuracy"] < TRAINING_FLOOR)]
    return f"Under-fitted at this budget (a run below {100 * TRAINING_FLOOR:.0f} % training accuracy): {names}; " + (
        "the best CE never chose an under-fitted run, so the verdict does not rest on one."
        if used.empty
        else f"the best CE chose an under-fitted run for {len(used)} test speaker(s)."
    )


def results(
    main: dict[str, tuple[str, pd.DataFrame, pd.DataFrame]],
    curves: dict[str, pd.DataFrame],
    pull: tuple[pd.DataFrame, pd.DataFrame],
    threshold: float = CONVERGED,
) -> dict[str, str]:
    """The results page's numbers. ``main``: dataset name -> (sweep, its table, the complete
    (fold, seed) cells of it); ``curves``: name -> ``tables.learning_curves``; ``pull``:
    ``results.complete_settings`` of the pull-strength sweep (by λ and epochs); the tuned
    baselines and their verdict from ``claims``."""

    values = {"speed_threshold": f"{100 * threshold:.0f} %", "speed_margin": f"{EPOCH_MARGIN:g}", **rule_words()}
    for name, (sweep, df, cells) in main.items():
        values |= _against(name, sweep, cells) | _speed(name, curves[name], threshold)
        values[f"{name}_protocol"] = describe_protocol(df, sweep)
        values[f"{name}_cells"] = cells_description(cells)
        values[f"{name}_seed_spread"] = seed_spread(cells)
        for method in ("ce", "zero_prototypes", "prototypes"):
            values[f"{name}_ece_{method}"] = f"{100 * cells.loc[cells['method'] == method, 'ece'].mean():.1f}"
        sizes = cells["test_size"]
        values[f"{name}_test_sizes"] = f"{sizes.min()} to {sizes.max()}"
        values[f"{name}_clip_points"] = f"{100 / sizes.max():.1f} to {100 / sizes.min():.1f}"
    pull_runs, pull_settings = pull
    values["pull_reading"] = placement_reading(pull_strength(pull_runs), bool(pull_settings["complete"].any()))
    values["pull_epochs"] = epochs_in_the_pull_table()
    pending = pull_settings[~pull_settings["complete"]]
    values["pull_status"] = (
        "Still running: "
        + ", ".join(
            f"λ = {r.lam:g} at {r.epochs} epochs ({r.stored} of {r.planned} runs)" for r in pending.itertuples()
        )
        + "; the table shows the λ values whose runs are all stored."
        if len(pending)
        else ""
    )
    chosen, tuned_complete = tuned_runs("tuned-baselines")
    values["calibration_reading"] = calibration_reading(chosen)
    values["tuned_under_fitted"] = tuned_under_fitted(chosen) if tuned_complete else ""
    verdict = tuned_claim1("tuned-baselines", "FSDD")
    values["tuned_status"] = f"Read by the earlier three-comparison rule: {verdict.outcome} ({verdict.reason})."
    values["tuned_15_epochs"] = under_trained_at("tuned-baselines", 15)
    values["sc_45_epochs"] = under_trained_at("claim1-speech-commands", 45)
    return values


def under_trained_at(sweep: str, epochs: int, results_dir=None) -> str:
    """Which settings of ``sweep`` ended a run below the training floor after ``epochs`` (an
    earlier plan's runs, kept in its table outside the current plan), with each one's lowest
    training accuracy, in words."""
    table = with_methods(read_table(Path(results_dir or RESULTS) / sweep / "full.csv"))
    lowest = table[table["epochs"] == epochs].groupby(["method", "lam"])["train_accuracy"].min()
    low = lowest[lowest < TRAINING_FLOOR]
    if low.empty:
        return f"at {epochs} epochs every run reached {100 * TRAINING_FLOOR:g} %"
    words = [
        display_name(m) + (f" at λ = {lam:g}" if "prototypes" in m else "") + f" (lowest {100 * a:.1f} %)"
        for (m, lam), a in low.items()
    ]
    return f"at {epochs} epochs, runs of " + "; ".join(words) + f" ended below {100 * TRAINING_FLOOR:g} %"


def epochs_in_the_pull_table(sweep: str = "pull-strength", lam: float = 30.0, results_dir=None) -> str:
    """What the pull-strength table's mixed epochs do (20 at λ ≤ 10, 60 above): at ``lam``, which
    the sweep trained at both lengths (the 20-epoch runs are an earlier plan's, kept in its table),
    each arm's fold-paired change from 20 to 60 epochs, in words."""
    table = read_table(Path(results_dir or RESULTS) / sweep / "full.csv")
    runs = table[table["lam"] == lam].assign(method=lambda d: d["prototypes"] + "@" + d["epochs"].astype(str))
    lengths = sorted(runs["epochs"].unique())
    if len(lengths) < 2:
        return ""
    short, long = lengths[0], lengths[-1]
    arms = {"orthogonal": "the prototypes", "zero": "the control"}
    pairs = [(f"{arm}@{long}", f"{arm}@{short}") for arm in arms]
    words = [
        f"{name} by {describe_difference(d, f'{short} epochs', above='above', below='below')}"
        for name, d in zip(arms.values(), compare_together(runs, pairs))
    ]
    return (
        f"Rows at different epochs are not comparable: at λ = {lam:g}, trained at both lengths, {long} epochs "
        f"instead of {short} move " + "; and ".join(words) + "."
    )


def accuracy_table(cells: dict[str, pd.DataFrame]) -> pd.DataFrame:
    """``tables.summary_table`` of each dataset's complete cells, stacked by dataset."""

    table = pd.concat({name: summary_table(df) for name, df in cells.items()}, names=["dataset", None])
    return table.reset_index(level=1, drop=True).set_index("method", append=True)


def pull_table(table: pd.DataFrame) -> pd.DataFrame:
    """``tables.pull_strength`` as the results page shows it: each arm's accuracy, the difference
    in points with its interval, the Bonferroni-adjusted p, the fit and each arm's lowest training accuracy, by
    lambda."""
    difference = (
        f"prototypes − control, points ({level_words(table['confidence'].iloc[0])}, Bonferroni over {table['tests'].iloc[0]})"
        if len(table)
        else "prototypes − control, points"
    )
    view = table.assign(
        **{
            difference: [
                f"{100 * r.difference:+.1f} ({100 * r.low:+.1f} to {100 * r.high:+.1f})" for r in table.itertuples()
            ],
            "prototypes accuracy %": (100 * table["prototypes_accuracy"]).round(1),
            "control accuracy %": (100 * table["control_accuracy"]).round(1),
        }
    )
    columns = [
        "lam",
        "epochs",
        "prototypes accuracy %",
        "control accuracy %",
        difference,
        "p_adjusted",
        "nearest_prototype_accuracy",
        "cosine_to_own_prototype",
        "prototypes_min_train_accuracy",
        "control_min_train_accuracy",
    ]
    return shown(view[columns].round(3).set_index("lam"))


def tuned_corpus(sweep: str, corpus: str, prefix: str) -> dict[str, str]:
    """A tuned-baselines sweep's section in words (glue names ``<prefix>_...``): its Claim 1
    verdict with the rule and the power beside it, which chosen settings under-fitted, the
    calibration reading, the CE regularisers validation chose and, at equal epochs, placement from
    its prototype and control runs at each λ. Before its full profile is complete only the verdict
    (pending) is said."""
    verdict = tuned_claim1(sweep, corpus)
    values = {
        f"{prefix}_verdict": verdict.outcome,
        f"{prefix}_verdict_reason": f"{verdict.rule}; {verdict.reason}" if verdict.rule else verdict.reason,
        f"{prefix}_under_fitted": "",
        f"{prefix}_calibration": "",
        f"{prefix}_placement": "",
        f"{prefix}_ce_choice": "",
    }
    if verdict.outcome == "pending":
        return values
    chosen, _ = tuned_runs(sweep)
    values[f"{prefix}_under_fitted"] = tuned_under_fitted(chosen)
    ce = chosen.loc[chosen["family"] == "tuned_ce", "knob"].astype(str).value_counts()
    values[f"{prefix}_ce_choice"] = ", ".join(f"{knob} in {n} of {ce.sum()} folds" for knob, n in ce.items())
    values[f"{prefix}_calibration"] = calibration_reading(chosen)
    values[f"{prefix}_placement"] = placement_reading(pull_strength(both_arms(tuned_candidates(sweep)[0])), True)
    return values


def both_arms(candidates: pd.DataFrame) -> pd.DataFrame:
    """A tuned-baselines sweep's prototype and control candidates at each λ both arms ran (its
    candidates, not the validation choice: placement is read at each λ, and a λ only one arm ran
    has nothing to pair with).

    >>> runs = pd.DataFrame({"method": ["prototypes", "prototypes", "zero_prototypes", "ce"], "lam": [1.0, 10.0, 10.0, 1.0]})
    >>> both_arms(runs)[["method", "lam"]].values.tolist()
    [['prototypes', 10.0], ['zero_prototypes', 10.0]]
    """
    pull = candidates[candidates["method"].isin(["prototypes", "zero_prototypes"])]
    both = pull.groupby("lam")["method"].nunique() == 2
    return pull[pull["lam"].isin(both[both].index)]


def tuned_pull_table(sweep: str) -> pd.DataFrame:
    """``pull_table`` of a tuned-baselines sweep's prototype and control runs at every λ both ran."""
    return pull_table(pull_strength(both_arms(tuned_candidates(sweep)[0])))


def tuned_view(sweep: str, view: str = "chosen") -> pd.DataFrame | None:
    """A tuned-baselines sweep's table once its full profile is complete (else None, and the page
    shows nothing): each family's validation-chosen setting per fold (``view="chosen"``), or how
    far each family's candidates lie apart on the test speakers (``"noise"``)."""
    chosen, complete = tuned_runs(sweep)
    if not complete:
        return None
    return tuned_table(chosen) if view == "chosen" else selection_noise(tuned_candidates(sweep)[0])


def pilot_design(pilot: str, full: str, prefix: str) -> dict[str, str]:
    """A Claim 1 design in words, as its pilot fixed it (``design.design_values``), under the glue
    names ``<prefix>_sd``, ``_folds``, ``_mdd``, ``_reach``, ``_stored`` and ``_pilot_train``."""
    return {
        f"{prefix}_{key}": words for key, words in design_values(pilot, full, "prototypes", "ce_weight_decay").items()
    }


def pretrained_values() -> dict[str, str]:
    """The pretrained regime's words: per corpus (``ravdess``, ``emodb``), the pilot's choice of
    encoder rate and epochs by its rule (``<corpus>_pretrained_choice``), the first plan's pulls it
    replaced (``<corpus>_pretrained_replaced``) and how much of the full profile is stored
    (``<corpus>_pretrained_stored``)."""
    values = {}
    for corpus, (sweep, pilot) in PRETRAINED_SWEEPS.items():
        name = corpus.lower()
        choice = pilot_choice(pilot)
        if choice is None:
            values[f"{name}_pretrained_choice"] = "the pilot is not stored yet"
        else:
            reached = "; ".join(
                f"at {rate:g}, " + (f"every run from epoch {epochs}" if epochs else "not every run within the pilot")
                for rate, epochs in choice["reached"].items()
            )
            values[f"{name}_pretrained_choice"] = f"{reached}: so the encoder learns at {choice['rate']:g} for " + (
                f"{choice['epochs']} epochs" if choice["epochs"] else "the budget's epochs"
            )
        values[f"{name}_pretrained_replaced"] = replaced_setting(pilot) or "no pull at other settings"
        _, _, stored, planned = recipe_runs(sweep)
        values[f"{name}_pretrained_stored"] = f"{stored} of {planned}" if planned else "none yet (not started)"
    return values


def pretrained_sweeps() -> dict[str, pd.DataFrame]:
    """Each corpus's complete pretrained sweep: its arms' runs (``recipe_runs``)."""
    sweeps = {}
    for corpus, (sweep, _) in PRETRAINED_SWEEPS.items():
        runs, complete, _, _ = recipe_runs(sweep)
        if complete:
            sweeps[corpus] = runs
    return sweeps


def pretrained_view(view: str) -> pd.DataFrame | None:
    """The pretrained regime's tables over the complete sweeps: ``"probe"`` (the frozen encoder's
    linear probe beside each fine-tuned loss) or ``"calibration"`` (ECE before and after temperature
    scaling); None before any sweep is complete."""
    sweeps = pretrained_sweeps()
    if not sweeps:
        return None
    if view == "probe":
        table = probe_table(sweeps, {c: probe_runs(PRETRAINED_SWEEPS[c][0]) for c in sweeps})
    else:
        table = calibration_table(sweeps)
    return table.style.hide(axis="index")


def regime_figure():
    """Claim 1's differences from scratch and with the pretrained encoder, per corpus (None while
    no pretrained verdict is decided)."""
    keys = {corpus: (corpus.lower(), f"{corpus.lower()}_pretrained") for corpus in PRETRAINED_SWEEPS}
    rows = regime_rows(claim1_verdicts(), keys)
    if not any(r["regime"] == ENCODER for r in rows):
        return None
    return figures.regimes(rows, 100 * ACCURACY_MARGIN)


def pilot_figure():
    """The pretrained pilots' training curves with each corpus's chosen epochs."""
    curves = {corpus: pilot_curves(pilot) for corpus, (_, pilot) in PRETRAINED_SWEEPS.items()}
    curves = {corpus: table for corpus, table in curves.items() if len(table)}
    if not curves:
        return None
    chosen = {
        corpus: (pilot_choice(PRETRAINED_SWEEPS[corpus][1], table) or {}).get("epochs")
        for corpus, table in curves.items()
    }
    return figures.pilot_curves(curves, TRAINING_FLOOR, chosen)
