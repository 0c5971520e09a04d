"""The introduction's glue: each verdict in one short cell, and the evidence behind all of them
in one table (``claims.book_verdicts``)."""

from __future__ import annotations

import pandas as pd

from ..claims.verdict import EXTENSION_OUTCOMES, Comparison, Verdict
from .common import rule_words


def cell(verdict: Verdict) -> str:
    """A verdict table cell: the outcome, and for a Claim 1 part its deciding difference with its
    interval, and where undecided what its design detects.

    >>> from predefined_prototypes.reading.claims.verdict import Comparison
    >>> c = Comparison("prototypes − CE", 0.9, -4.7, 6.6, 0.975, "Bonferroni over 2", 0.9, False, 7.3, 6, 3.9, "points")
    >>> cell(Verdict("Claim 1a", "FSDD", "undetermined", "", comparisons=(c,)))
    'undetermined, +0.9 (-4.7 to +6.6); detects 7.3'
    """
    if verdict.claim.startswith("Claim 1") and verdict.outcome != "pending" and verdict.comparisons:
        first = verdict.comparisons[0]
        d = first.digits
        text = f"{verdict.outcome}, {first.estimate:+.{d}f} ({first.low:+.{d}f} to {first.high:+.{d}f})"
        return text + (f"; detects {first.mdd:.{d}f}" if verdict.outcome == "undetermined" else "")
    if verdict.claim.startswith("Claim 2") and verdict.outcome != "pending":
        against = [c.label for c in verdict.comparisons if c.outcome == "contradicted"]
        met = sum(c.outcome == "met" for c in verdict.comparisons)
        return (
            f"{verdict.outcome}"
            + (f" (against: {', '.join(against)})" if against else "")
            + (f"; {met} of {len(verdict.comparisons)} criteria met")
        )
    return verdict.outcome


DECIDED = (
    "reproduced",
    "partly reproduced",
    "not reproduced",
    "contradicted",
    "holds",
    "partly holds",
    "does not hold",
)


def answer(verdicts: dict[str, Verdict]) -> str:
    """What the data decide, in one sentence: each claim's decided outcomes with their corpora, then
    what is left undecided.

    >>> v = {"a": Verdict("Claim 1a", "FSDD", "reproduced", ""), "b": Verdict("Claim 1b", "FSDD", "not reproduced", ""),
    ...      "c": Verdict("Claim 1b", "EmoDB", "not reproduced", ""), "d": Verdict("Claim 1a", "RAVDESS", "pending", "")}
    >>> answer(v)
    'The data decide: Claim 1a is reproduced on FSDD; Claim 1b is not reproduced on FSDD and EmoDB; still pending: Claim 1a on RAVDESS.'
    """
    decided: dict[tuple[str, str], list[str]] = {}
    left: dict[str, list[str]] = {"undetermined": [], "pending": []}
    for v in verdicts.values():
        if v.outcome in DECIDED:
            decided.setdefault((v.claim, v.outcome), []).append(v.corpus)
        else:
            left[v.outcome].append(f"{v.claim} on {v.corpus}")
    parts = [
        f"{claim} {'' if outcome in EXTENSION_OUTCOMES else 'is '}{outcome} on {_and(corpora)}"
        for (claim, outcome), corpora in decided.items()
    ]
    parts += [f"{'still ' if kind == 'pending' else ''}{kind}: {_and(items)}" for kind, items in left.items() if items]
    return "The data decide: " + "; ".join(parts) + "."


def _and(items: list[str]) -> str:
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " and " + items[-1]


def intro(verdicts: dict[str, Verdict]) -> dict[str, str]:
    """The intro's verdict cells, the one-sentence answer, and the readings beside Claim 1b on FSDD
    and Claim 2."""
    values = {key: cell(v) for key, v in verdicts.items()} | rule_words()
    values["answer"] = answer(verdicts)
    values["fsdd_placement"] = verdicts["fsdd_claim1b"].notes.get("placement", "")
    values["emodb_claim2_fit"] = verdicts["emodb_claim2"].notes.get("fit", "")
    return values


def cost_cells(cost: pd.DataFrame) -> dict[str, str]:
    """Per corpus of Claim 2, ``<corpus>_price``: factor prototypes − CE in emotion accuracy at each
    setting of ``cost`` (``claims.disentanglement_cost``), with the intervals that decide.

    >>> cost = pd.DataFrame({"corpus": ["EmoDB"], "setting": ["λ = 1"], "− CE, points": ["-3.5 (-9.0 to +2.0) points"],
    ...                      "interval": ["97.5 % interval, Bonferroni over 2, 10 folds"]})
    >>> cost_cells(cost)["emodb_price"]
    'λ = 1: -3.5 (-9.0 to +2.0) points (97.5 % interval, Bonferroni over 2, 10 folds)'
    >>> cost_cells(cost)["ravdess_price"]
    'pending'
    """
    cells = {"emodb_price": "pending", "ravdess_price": "pending"}
    for corpus, rows in cost.groupby("corpus", sort=False):
        cells[f"{corpus.lower()}_price"] = "; ".join(
            f"{r['setting']}: {r['− CE, points']} ({r['interval']})" for _, r in rows.iterrows()
        )
    return cells


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
    if verdict.claim.startswith("Claim 2"):
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
                "rules": f"{v.standing}: {v.notes.get('rules', '')}",
            }
        )
    return pd.DataFrame(rows).set_index(["claim", "corpus"])
