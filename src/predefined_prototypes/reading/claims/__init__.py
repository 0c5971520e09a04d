"""The paper's claims, each on each corpus one record: the evidence it reads, its rule (a table
of outcomes and their conditions) and the thresholds that rule uses. ``book_verdicts`` judges
them all from the stored results; the intro, every result page, the forest plot and
``python -m predefined_prototypes verdicts`` read it, and nothing else selects evidence or words
an outcome.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import pandas as pd

from ...storage.results import complete_settings, holds_plan, load_results, planned_runs
from ..rules import (
    ACCURACY_MARGIN,
    ALPHA,
    CONVERGED,
    EPOCH_MARGIN,
    FIT_FLOOR,
    PROBE_MARGIN,
    SHIFT_MARGIN,
    TRAINING_FLOOR,
)
from ..tables import pull_strength
from .claim1 import CLAIM1_RULE, SPEED_RULE, claim1_tuned_verdict, claim1_verdict, placement_reading, speed_verdict
from .claim2 import CLAIM2_RULE, FACTOR_RULE, LABELLED_RULE, claim2_verdict, labelled_factor_verdict
from .evidence import (
    RAVDESS_SWEEP,
    block_fit_reading,
    claim2_evidence,
    convergence_runs,
    intensity_runs,
    main_runs,
    ravdess_claim2_evidence,
    tuned_runs,
)
from .recipes import RULES as RECIPE_RULES
from .verdict import Verdict, pending

RECIPE_SWEEP_PREFIX = "claim1-recipes-"


@dataclass(frozen=True)
class Claim:
    """One claim on one corpus: ``judge`` selects its evidence and applies ``rule`` (rows of
    outcome, condition, test) with ``thresholds``."""

    key: str
    claim: str
    corpus: str
    rule: tuple
    thresholds: dict
    judge: Callable[[], Verdict]


def under_trained(verdict: Verdict, chosen: pd.DataFrame) -> Verdict:
    """``verdict``, or "undetermined" where a chosen setting of a compared family has a run below
    the training floor: an under-trained arm decides nothing."""
    if verdict.outcome == "pending" or "min_train_accuracy" not in chosen:
        return verdict
    compared = chosen[chosen["family"].isin(["prototypes", "zero_prototypes", "tuned_ce"])]
    low = compared[compared["min_train_accuracy"] < TRAINING_FLOOR]
    if low.empty:
        return verdict
    reason = (
        f"{len(low)} chosen setting(s) trained below {100 * TRAINING_FLOOR:g} % (lowest "
        f"{100 * low['min_train_accuracy'].min():.1f} %, {', '.join(sorted(set(low['family'])))}): an "
        f"under-trained arm decides nothing. {verdict.reason}"
    )
    rule = "a compared arm is under-trained"
    return Verdict(verdict.claim, verdict.corpus, "undetermined", reason, rule, verdict.evidence, verdict.comparisons)


def tuned_claim1(sweep: str, corpus: str) -> Verdict:
    """Claim 1 on a tuned-baselines sweep (pending until its full profile is complete)."""
    chosen, complete = tuned_runs(sweep)
    if not complete:
        stored = len(load_results(sweep, "full")) if holds_plan(sweep, "full") else 0
        reason = (
            f"{stored} of the full profile's {planned_runs(sweep, 'full')} runs are stored; a verdict waits for all"
        )
        return pending("Claim 1", corpus, reason, f"the {sweep} sweep's tuned baselines")
    return under_trained(claim1_tuned_verdict(chosen, complete, corpus), chosen)


def tuned_or_main(tuned_sweep: str, main_sweep: str | None, corpus: str) -> Verdict:
    """Claim 1 on the tuned baselines once their sweep is complete; else on the main comparison,
    saying so (a corpus without a main comparison waits for its tuned sweep)."""
    tuned = tuned_claim1(tuned_sweep, corpus)
    if tuned.outcome != "pending" or main_sweep is None:
        return tuned
    df, _ = main_runs(main_sweep)
    evidence = f"main comparison (the {tuned_sweep} sweep is not complete)"
    return claim1_verdict(df, planned_runs(main_sweep, "full"), corpus, evidence)


def main_claim1(sweep: str, corpus: str) -> Verdict:
    df, _ = main_runs(sweep)
    return claim1_verdict(df, planned_runs(sweep, "full"), corpus)


def speed(sweep: str, corpus: str) -> Verdict:
    reached, complete = convergence_runs(sweep)
    return speed_verdict(reached, complete, corpus)


def claim2_on_ravdess() -> Verdict:
    """Claim 2 on RAVDESS with the authors' validity filter (the paper's protocol), and beside it
    (``notes["without filter"]``) the same setting judged without the filter."""
    verdicts = {}
    for filtered in (True, False):
        evidence = ravdess_claim2_evidence(filtered)
        verdict = claim2_verdict(evidence["runs"], evidence["complete"], "RAVDESS", evidence["evidence"])
        if verdict.outcome != "pending" and not evidence["trained"]:
            reason = f"a run of the chosen setting ended below {100 * TRAINING_FLOOR:g} % training accuracy"
            verdict = Verdict(verdict.claim, verdict.corpus, "undetermined", reason, "an under-trained arm decides nothing",
                              verdict.evidence, verdict.comparisons, verdict.notes)  # fmt: skip
        verdict.notes["fit"] = block_fit_reading(evidence["runs"]) if verdict.outcome != "pending" else ""
        verdicts[filtered] = verdict
    check = verdicts[False]
    verdicts[True].notes["without filter"] = (
        f"{check.outcome} ({check.rule}: {check.reason})" if check.rule else check.outcome
    )
    return verdicts[True]


def intensity_on_ravdess() -> Verdict:
    """Whether RAVDESS's labelled intensity gets a block that carries it beyond the emotion label
    ("undetermined" where a run of it under-trained)."""
    runs, complete = intensity_runs()
    evidence = f"the {RAVDESS_SWEEP} sweep's factor prototypes with an intensity block (λ = 30, 40 mel bins, filter on)"
    verdict = labelled_factor_verdict(runs, "intensity", complete, "RAVDESS", evidence)
    if verdict.outcome != "pending" and runs["train_accuracy"].min() < TRAINING_FLOOR:
        reason = f"a run ended below {100 * TRAINING_FLOOR:g} % training accuracy; {verdict.reason}"
        rule = "an under-trained arm decides nothing"
        return Verdict(verdict.claim, verdict.corpus, "undetermined", reason, rule, evidence, verdict.comparisons)
    return verdict


def claim2_on_emodb(evidence: dict | None = None) -> Verdict:
    """Claim 2 on EmoDB, on ``evidence.claim2_evidence()`` (pass it where a page has read it already)."""
    evidence = evidence or claim2_evidence()
    verdict = claim2_verdict(evidence["runs"], evidence["complete"], "EmoDB", evidence["evidence"])
    verdict.notes["fit"] = block_fit_reading(evidence["runs"])
    return verdict


CLAIM1_THRESHOLDS = {"margin (points)": 100 * ACCURACY_MARGIN, "alpha": ALPHA, "training floor": TRAINING_FLOOR}
CLAIM2_THRESHOLDS = {
    "probe margin (points)": 100 * PROBE_MARGIN,
    "edit margin (levels)": SHIFT_MARGIN,
    "alpha": ALPHA,
    "training floor": TRAINING_FLOOR,
    "fit floor": FIT_FLOOR,
}
SPEED_THRESHOLDS = {"margin (epochs)": EPOCH_MARGIN, "alpha": ALPHA, "converged at": CONVERGED}

CLAIMS = (
    Claim(
        "fsdd_claim1", "Claim 1", "FSDD", CLAIM1_RULE, CLAIM1_THRESHOLDS,
        lambda: tuned_or_main("tuned-baselines", "main-fsdd", "FSDD"),
    ),
    Claim("emodb_claim1", "Claim 1", "EmoDB", CLAIM1_RULE, CLAIM1_THRESHOLDS, lambda: main_claim1("main-emodb", "EmoDB")),
    Claim(
        "speech_commands_claim1", "Claim 1", "Speech Commands v0.02", CLAIM1_RULE, CLAIM1_THRESHOLDS,
        lambda: tuned_or_main("claim1-speech-commands", None, "Speech Commands v0.02"),
    ),
    Claim(
        "ravdess_claim1", "Claim 1", "RAVDESS", CLAIM1_RULE, CLAIM1_THRESHOLDS,
        lambda: tuned_or_main("claim1-ravdess", None, "RAVDESS"),
    ),
    Claim("fsdd_speed", "Claim 1b", "FSDD", SPEED_RULE, SPEED_THRESHOLDS, lambda: speed("main-fsdd", "FSDD")),
    Claim("emodb_speed", "Claim 1b", "EmoDB", SPEED_RULE, SPEED_THRESHOLDS, lambda: speed("main-emodb", "EmoDB")),
    Claim("emodb_claim2", "Claim 2", "EmoDB", (FACTOR_RULE, CLAIM2_RULE), CLAIM2_THRESHOLDS, claim2_on_emodb),
    Claim("ravdess_claim2", "Claim 2", "RAVDESS", (FACTOR_RULE, CLAIM2_RULE), CLAIM2_THRESHOLDS, claim2_on_ravdess),
    Claim(
        "ravdess_intensity", "Claim 2, intensity (labelled)", "RAVDESS", LABELLED_RULE, CLAIM2_THRESHOLDS,
        intensity_on_ravdess,
    ),
)  # fmt: skip


def rules_for(sweep: str) -> dict:
    """The rules a sweep's verdicts read, as its rules record keeps them (``storage.rules_record``):
    the recipe design's for its sweeps, else every claim's rule table and thresholds."""
    if sweep.startswith(RECIPE_SWEEP_PREFIX):
        return RECIPE_RULES
    return {
        **{f"{c.claim} rule": [[o, t] for o, t, _ in _rows(c.rule)] for c in CLAIMS},
        **{f"{c.claim} thresholds": c.thresholds for c in CLAIMS},
    }


def _rows(rule: tuple) -> list:
    """A claim's rule rows (Claim 2's is two tables: the factor's, then the claim's)."""
    return [row for table in rule for row in table] if isinstance(rule[0][0], tuple) else list(rule)


def book_verdicts() -> dict[str, Verdict]:
    """Every claim's verdict, from the stored results, keyed as ``CLAIMS``; Claim 1 on FSDD with
    the pull-strength sweep's placement reading beside it (``notes["placement"]``, not part of
    its rule)."""
    verdicts = {claim.key: claim.judge() for claim in CLAIMS}
    pull, status = complete_settings("pull-strength", ("lam", "epochs"))
    verdicts["fsdd_claim1"].notes["placement"] = placement_reading(pull_strength(pull), bool(status["complete"].any()))
    return verdicts


def forest_rows(verdicts: dict[str, Verdict]) -> list[dict]:
    """The comparisons behind the Claim 1 and Claim 2 verdicts, for ``figures.forest``: each with
    the interval its rule reads (and the equivalence interval, where it has a margin), how it
    bears on its claim, and its unit (one panel per unit)."""
    rows = []
    for verdict in verdicts.values():
        if verdict.claim not in ("Claim 1", "Claim 2") or verdict.outcome == "pending":
            continue
        for c in verdict.comparisons:
            unit = {"points": "balanced-accuracy points" if verdict.claim == "Claim 2" else "accuracy points"}
            rows.append(
                {
                    "group": f"{verdict.claim}, {verdict.corpus}",
                    "label": c.label,
                    "mean": c.estimate,
                    "low": c.low,
                    "high": c.high,
                    "equivalence_low": c.equivalence_low,
                    "equivalence_high": c.equivalence_high,
                    "margin": c.margin,
                    "bearing": c.bearing,
                    "unit": unit.get(c.unit, c.unit),
                }
            )
    return rows
