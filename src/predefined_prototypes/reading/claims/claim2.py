"""Claim 2: a factor prototype's block carries its factor (P(y, alpha) = (P'(alpha), 0)).

Each factor is judged on criteria, each a fold-paired difference read with all the others as
one family (Bonferroni), with four outcomes: not met (equivalent to no effect within its margin, which
a negligible significant difference does not change), met (above 0), contradicted (significant
in the wrong direction) and undetermined. A factor's
outcome derives from its criteria and the claim's from its factors', by the rule tables below,
written before any RAVDESS number was read (the margins after EmoDB's: ``rules``).
"""

from __future__ import annotations

import pandas as pd

from ...method.registry import FACTOR_NAMES
from ...run.schema import EDITS
from ..factor_tables import LABELS, edit_own_shift, edit_selectivity, long_probes
from ..rules import PROBE_MARGIN, SHIFT_MARGIN
from ..stats import level_words
from .verdict import Comparison, Test, Verdict, first_match, pending, together

# Each criterion: what it asks, in words (the page's legend reads these).
CRITERIA = {
    "carried": "its own block's probe beats the emotion label alone",
    "confined": "its own block's probe beats the best of the other factors' blocks",
    "moves its block": "the factor's edit moves its block's decoded level in the edit's direction",
    "moves no other block more": "the edit moves its own block more than it moves any other block",
}

FACTOR_RULE = (  # read on the list of a factor's criterion outcomes
    ("contradicted", "a criterion is significant in the wrong direction", lambda o: "contradicted" in o),
    ("reproduced", "every tested criterion is met", lambda o: all(x == "met" for x in o)),
    ("not reproduced", "a criterion is shown not met (no effect, within its margin)", lambda o: "not met" in o),
    ("partly reproduced", "some criteria are met, the others undetermined", lambda o: "met" in o),
    ("undetermined", "no criterion is decided", lambda o: True),
)

CLAIM2_RULE = (  # read on the list of the factors' outcomes
    ("contradicted", "a factor is contradicted", lambda f: "contradicted" in f),
    ("reproduced", "every factor is reproduced", lambda f: all(x == "reproduced" for x in f)),
    ("not reproduced", "every factor is not reproduced", lambda f: all(x == "not reproduced" for x in f)),
    (
        "partly reproduced",
        "some factor is reproduced or partly reproduced",
        lambda f: any(x in ("reproduced", "partly reproduced") for x in f),
    ),
    ("undetermined", "no factor is decided either way", lambda f: True),
)


def criterion_tests(df: pd.DataFrame) -> list[Test]:
    """Every factor x criterion test on the factor-prototype runs of ``df``; the edit criteria only
    for the factors an edit moves alone (pitch median and loudness)."""
    tests = []
    for factor in FACTOR_NAMES:
        probes = long_probes(df, factor)
        name = LABELS[factor]
        tests.append(Test(f"{name}: carried", probes, "own_block", "emotion", "value", margin=PROBE_MARGIN))
        tests.append(Test(f"{name}: confined", probes, "own_block", "best_other_block", "value", margin=PROBE_MARGIN))
        if any(e.factor == factor for e in EDITS):
            for criterion, scores in (
                ("moves its block", edit_own_shift(df, factor)),
                ("moves no other block more", edit_selectivity(df, factor)),
            ):
                data = pd.concat([scores, scores.assign(method="zero", value=0.0)])
                tests.append(
                    Test(
                        f"{name}: {criterion}",
                        data,
                        scores["method"].iloc[0] if len(scores) else "own shift",
                        "zero",
                        "value",
                        margin=SHIFT_MARGIN,
                        scale=1.0,
                        unit="levels",
                        digits=2,
                    )
                )
    return tests


def split_label(c: Comparison) -> tuple[str, str]:
    """``("loudness", "carried")`` from a criterion's label."""
    factor, _, criterion = c.label.partition(": ")
    return factor, criterion


def claim2_verdict(df: pd.DataFrame, complete: bool, corpus: str = "EmoDB", evidence: str = "") -> Verdict:
    """Claim 2 on the factor-prototype runs of ``df`` (``CRITERIA``, ``FACTOR_RULE``,
    ``CLAIM2_RULE``). ``notes["factors"]``: each factor's outcome and its criteria in words;
    ``notes["untested"]``: the factors no edit moves alone. No verdict on an incomplete profile."""
    if not complete:
        return pending("Claim 2", corpus, "the full profile is not complete", evidence)
    comparisons = together(criterion_tests(df))
    factors, lines, untested = {}, {}, []
    for factor in FACTOR_NAMES:
        name = LABELS[factor]
        mine = [c for c in comparisons if split_label(c)[0] == name]
        factors[name], _ = first_match(FACTOR_RULE, [c.outcome for c in mine])
        if not any(e.factor == factor for e in EDITS):
            untested.append(name)
        lines[name] = f"{factors[name]}: " + "; ".join(f"{split_label(c)[1]} {c.outcome} {c.numbers()}" for c in mine)
    outcome, rule = first_match(CLAIM2_RULE, list(factors.values()))
    first = comparisons[0]
    reason = (
        "; ".join(f"{name} {o}" for name, o in factors.items())
        + f" ({len(comparisons)} criteria, {level_words(first.level)}s, {first.family}, {first.folds} folds"
        + (f"; {', '.join(untested)}: no edit moves it alone, so its edit criteria are not tested" if untested else "")
        + ")"
    )
    notes = {"factors": lines, "factor_outcomes": factors, "untested": untested}
    return Verdict("Claim 2", corpus, outcome, reason, rule, evidence, tuple(comparisons), notes)


def criteria_met(verdict: Verdict) -> str:
    """'loudness carried, pitch median confined' (or 'none'): the criteria a verdict finds met."""
    return ", ".join(c.label.replace(": ", " ") for c in verdict.comparisons if c.outcome == "met") or "none"


# A labelled factor is this book's extension: the paper never tried one, so its outcome is in an
# extension's words (``verdict.EXTENSION_OUTCOMES``), never "reproduced". It is held to the
# measured factors' probe criteria, "carried" and "confined", read as one family.
LABELLED_RULE = (  # read on the list of its criterion outcomes
    ("contradicted", "a criterion is significant in the wrong direction", lambda o: "contradicted" in o),
    (
        "holds",
        "the block reads the labelled factor better than the emotion label alone and than the best other block",
        lambda o: all(x == "met" for x in o),
    ),
    ("does not hold", "a criterion is shown not met (no effect, within its margin)", lambda o: "not met" in o),
    ("partly holds", "some criteria are met, the others undetermined", lambda o: "met" in o),
    ("undetermined", "no criterion is decided", lambda o: True),
)


def labelled_factor_verdict(df: pd.DataFrame, factor: str, complete: bool, corpus: str, evidence: str = "") -> Verdict:
    """Whether the block of a labelled factor (levels from the corpus's labels, not measured)
    carries it (its probe beats the emotion label alone) and holds it alone (beats the best other
    block), read together by ``LABELLED_RULE`` on the factor runs in ``df`` (margin
    ``PROBE_MARGIN``). ``notes["whole"]``: the block against the whole embedding, shown beside
    (the whole holds the block, so it decides nothing: near 0 means the factor lives in its block)."""
    claim = f"Extension: {factor} (labelled)"
    if not complete or df.empty:
        return pending(claim, corpus, "the full profile is not complete", evidence)
    probes = long_probes(df.assign(method="factor_prototypes"), factor)
    comparisons = together(
        [
            Test(f"{factor}: carried", probes, "own_block", "emotion", "value", margin=PROBE_MARGIN),
            Test(f"{factor}: confined", probes, "own_block", "best_other_block", "value", margin=PROBE_MARGIN),
        ]
    )
    outcome, rule = first_match(LABELLED_RULE, [c.outcome for c in comparisons])
    (whole,) = together([Test(f"{factor} block − whole z", probes, "own_block", "whole", "value")])
    reason = "; ".join(f"{split_label(c)[1]} {c.outcome} {c.numbers()}" for c in comparisons) + (
        f" ({level_words(comparisons[0].level)}s, {comparisons[0].family}, {comparisons[0].folds} folds; "
        f"against the whole embedding {whole.interval()})"
    )
    notes = {"whole": whole.interval()}
    return Verdict(claim, corpus, outcome, reason, rule, evidence, tuple(comparisons), notes)


COST_ARMS = ("factor_prototypes", "ce", "prototypes")


def cost_of_disentanglement(settings: dict[tuple[str, str], pd.DataFrame]) -> pd.DataFrame:
    """What factor prototypes pay in emotion accuracy for their blocks: per setting ((corpus, setting) ->
    the setting's factor-prototype runs with the CE and plain-prototype runs they are judged
    beside), the factor prototypes' test accuracy (mean ± SD over folds) and their fold-paired
    differences to CE and to plain prototypes, read together (Bonferroni over 2) with the interval
    that decides; a setting missing an arm is left out.

    >>> runs = pd.DataFrame({"method": ["factor_prototypes"] * 4 + ["ce"] * 4 + ["prototypes"] * 4,
    ...                      "fold": list("abcd") * 3, "seed": 0,
    ...                      "accuracy": [.60, .62, .58, .61, .70, .71, .69, .70, .66, .69, .63, .65]})
    >>> cost_of_disentanglement({("toy", "λ = 1"): runs}).iloc[0].to_dict()["− CE, points"]
    '-9.7 (-11.7 to -7.8) points'
    """
    rows = []
    for (corpus, setting), runs in settings.items():
        if not set(COST_ARMS) <= set(runs["method"]):
            continue
        against = together(
            [
                Test(f"− {name}", runs, "factor_prototypes", arm)
                for arm, name in (("ce", "CE"), ("prototypes", "plain prototypes"))
            ]
        )
        per_fold = runs[runs["method"] == "factor_prototypes"].groupby("fold")["accuracy"].mean()
        rows.append(
            {
                "corpus": corpus,
                "setting": setting,
                "factor prototypes accuracy %": f"{100 * per_fold.mean():.1f} ± {100 * per_fold.std():.1f}",
                **{f"{c.label}, points": c.numbers() for c in against},
                "interval": f"{level_words(against[0].level)}, {against[0].family}, {against[0].folds} folds",
            }
        )
    return pd.DataFrame(rows)


TRACKERS = {"package": "the package's tracker", "crepe": "CREPE"}


def pitch_label_check(runs: pd.DataFrame) -> pd.DataFrame:
    """The pitch probe criteria (carried, confined) read twice on the factor-prototype runs of
    ``runs``, from the same stored embeddings: with the package tracker's levels and with CREPE's
    (``derive.crepe_probes`` columns). Per tracker the four criteria are one family (Bonferroni
    over 4); a row per criterion, the outcome and interval under each tracker's levels."""
    factors = ("pitch_median", "pitch_std")
    table = {}
    for prefix, tracker in TRACKERS.items():
        tests = []
        for factor in factors:
            own = runs[f"{prefix}_probe_{factor}_block_{factor}"]
            others = [
                c
                for c in runs
                if c.startswith(f"{prefix}_probe_{factor}_block_") and not c.endswith(f"_block_{factor}")
            ]
            long = pd.concat(
                [
                    runs.assign(method=name, value=values)[["fold", "seed", "method", "value"]]
                    for name, values in (("own_block", own), ("emotion", runs[f"{prefix}_probe_{factor}_emotion"]),
                                         ("best_other_block", runs[others].max(axis=1)))
                ]
            )  # fmt: skip
            tests += [
                Test(f"{LABELS[factor]}: carried", long, "own_block", "emotion", "value", margin=PROBE_MARGIN),
                Test(
                    f"{LABELS[factor]}: confined", long, "own_block", "best_other_block", "value", margin=PROBE_MARGIN
                ),
            ]
        for c in together(tests):
            table.setdefault(c.label, {"criterion": c.label})[f"levels from {tracker}"] = f"{c.outcome}, {c.numbers()}"
    return pd.DataFrame(list(table.values()))
