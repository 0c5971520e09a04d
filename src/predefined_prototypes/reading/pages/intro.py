"""The introduction's glue: each verdict in one short cell, and the evidence behind all of them
in one table (``claims.book_verdicts``)."""

from __future__ import annotations

import pandas as pd

from ..claims.claim2 import criteria_met
from ..claims.verdict import Comparison, Verdict
from .common import rule_words


def cell(verdict: Verdict) -> str:
    """A verdict table cell: the outcome, and for an undecided Claim 1 what its design detects.

    >>> from predefined_prototypes.reading.claims.verdict import Comparison
    >>> c = Comparison("prototypes − CE", 0.9, -4.7, 6.6, 0.983, "Holm over 3", 0.9, False, 7.3, 6, 3.9, "points")
    >>> cell(Verdict("Claim 1", "FSDD", "undetermined", "", comparisons=(c,)))
    'undetermined (the design detects 7.3 points)'
    """
    if verdict.outcome == "undetermined" and verdict.claim == "Claim 1":
        first = verdict.comparisons[0]
        return f"{verdict.outcome} (the design detects {first.mdd:.1f} {first.unit})"
    if verdict.claim == "Claim 2" and verdict.outcome != "pending":
        return f"{verdict.outcome} (criteria met: {criteria_met(verdict)}; of {len(verdict.comparisons)})"
    return verdict.outcome


def intro(verdicts: dict[str, Verdict]) -> dict[str, str]:
    """The intro's verdict cells, and the readings beside Claim 1 on FSDD and Claim 2."""
    values = {key: cell(v) for key, v in verdicts.items()} | rule_words()
    values["fsdd_placement"] = verdicts["fsdd_claim1"].notes.get("placement", "")
    values["emodb_claim2_fit"] = verdicts["emodb_claim2"].notes.get("fit", "")
    return values


def deciding(verdict: Verdict) -> Comparison | None:
    """The comparison that decides a verdict's outcome: the first criterion contradicted for a
    contradicted claim, met for a (partly) reproduced one, not met for one not reproduced; else
    the first comparison (Claim 1's prototypes − CE)."""
    wanted = {
        "contradicted": "contradicted",
        "reproduced": "met",
        "partly reproduced": "met",
        "not reproduced": "not met",
    }
    if verdict.claim == "Claim 2":
        for c in verdict.comparisons:
            if c.outcome == wanted.get(verdict.outcome):
                return c
    return verdict.comparisons[0] if verdict.comparisons else None


def evidence_table(verdicts: dict[str, Verdict]) -> pd.DataFrame:
    """One row per verdict: its outcome and the condition that outcome stands for, the deciding
    comparison with its interval (level and family named), what the design detects with 80 %
    power, and the runs it rests on."""
    rows = []
    for v in verdicts.values():
        c = deciding(v)
        rows.append(
            {
                "claim": v.claim,
                "corpus": v.corpus,
                "outcome": v.outcome,
                "because": v.rule or v.reason,
                "deciding comparison": f"{c.label}: {c.interval()}" if c else "",
                "the design detects": f"{c.mdd:.{c.digits}f} {c.unit}" if c else "",
                "evidence": v.evidence,
            }
        )
    return pd.DataFrame(rows).set_index(["claim", "corpus"])
