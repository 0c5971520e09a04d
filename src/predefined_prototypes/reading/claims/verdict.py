"""What every verdict is made of: fold-paired comparisons read together as one family, each
with its interval, the level and family of that interval, its Bonferroni-adjusted p-value and the
smallest difference the design detects; and one ``Verdict`` type with the same outcomes for
every claim.

An interval is always written with its level and family ("98.3 % interval, Bonferroni over 3"): the
one interval language of the book.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field

import pandas as pd

from ..rules import ALPHA
from ..stats import level_words, paired_together

# A claim's outcome, the same words for every claim of the paper and corpus; a question the paper
# never asked (an extension) holds or does not hold, with the same four-way logic.
OUTCOMES = ("reproduced", "partly reproduced", "not reproduced", "contradicted", "undetermined", "pending")
EXTENSION_OUTCOMES = ("holds", "partly holds", "does not hold")
# A criterion's: above 0 (met), equivalent to 0 within its margin (not met), below 0 (contradicted).
CRITERION_OUTCOMES = ("met", "not met", "contradicted", "undetermined")


@dataclass(frozen=True)
class Test:
    """One fold-paired comparison to read in a family: ``metric`` of ``value`` minus ``baseline``
    (groups of ``by``) in ``data``, shown times ``scale`` in ``unit``; ``margin`` (in the metric's
    own units) the band within which the difference counts as none."""

    label: str
    data: pd.DataFrame = field(repr=False)
    value: str
    baseline: str
    metric: str = "accuracy"
    by: str = "method"
    margin: float | None = None
    scale: float = 100.0
    unit: str = "points"
    digits: int = 1
    favoured: int = 1  # the sign the claim predicts (+1, -1), or 0 for a comparison read as context


@dataclass(frozen=True)
class Comparison:
    """A comparison as the rule reads it (numbers in its display unit)."""

    label: str
    estimate: float
    low: float  # the interval the difference test reads, at ``level``
    high: float
    level: float
    family: str  # e.g. "Bonferroni over 3"
    p_adjusted: float
    differs: bool  # Bonferroni-adjusted p below alpha
    mdd: float  # the difference found with 80 % power at the family's level
    folds: int
    sd: float  # of the fold differences
    unit: str
    digits: int = 1
    margin: float | None = None
    equivalent: bool = False  # two one-sided tests: the equivalence interval inside ±margin
    equivalence_low: float = math.nan
    equivalence_high: float = math.nan
    equivalence_level: float = math.nan
    folds_for_equivalence: int | None = None
    favoured: int = 1

    @property
    def outcome(self) -> str:
        """The comparison as a criterion: not met (equivalent to none within its margin, even if a
        negligible difference is significant), met (significant in the direction the claim
        predicts), contradicted (significant the other way), undetermined."""
        if self.equivalent:
            return "not met"
        if self.differs:
            return "met" if self.estimate * (self.favoured or 1) > 0 else "contradicted"
        return "undetermined"

    @property
    def bearing(self) -> str:
        """How the comparison bears on its claim, as the forest plot marks it: 'for', 'against',
        'no effect' (equivalence shown), 'undecided', or 'context' (a comparison the claim predicts
        no sign for, such as the control against CE)."""
        if not self.favoured:
            return "context"
        return {"met": "for", "contradicted": "against", "not met": "no effect"}.get(self.outcome, "undecided")

    def numbers(self) -> str:
        """'+0.9 (-4.7 to +6.6) points': the interval holds for the whole family (1 - alpha / m),
        and the comparison differs exactly when it excludes 0.

        >>> Comparison("c", 10.9, -0.7, 22.4, 0.995, "Bonferroni over 10", 0.3, False, 14.7, 12, 9.0, "points").numbers()
        '+10.9 (-0.7 to +22.4) points'
        """
        d = self.digits
        return f"{self.estimate:+.{d}f} ({self.low:+.{d}f} to {self.high:+.{d}f}) {self.unit}"

    def interval(self) -> str:
        """'+0.9 (-4.7 to +6.6) points, 98.3 % interval, Bonferroni over 3'."""
        return f"{self.numbers()}, {level_words(self.level)}, {self.family}"

    def power(self) -> str:
        """What this design detects, and whether more folds could show equivalence."""
        text = f"detects {self.mdd:.{self.digits}f} {self.unit} with 80 % power ({self.folds} folds)"
        if self.margin is not None and not (self.differs or self.equivalent):
            text += (
                f"; equivalence within ±{self.margin:g} {self.unit} would need about {self.folds_for_equivalence} folds"
                if self.folds_for_equivalence
                else f"; equivalence within ±{self.margin:g} {self.unit} is out of reach at this fold SD"
            )
        return text


def together(tests: list[Test], alpha: float = ALPHA) -> list[Comparison]:
    """The tests read as one family of m: intervals at 1 - alpha / m (they hold together and decide), Bonferroni's
    adjusted p-values, equivalence by two one-sided tests at alpha / m (the 1 - 2 alpha / m
    interval inside ±margin), and the minimum detectable difference at alpha / m.

    >>> df = pd.DataFrame({"method": ["a"] * 6 + ["b"] * 6, "fold": list("uvwxyz") * 2, "seed": 0,
    ...                    "accuracy": [.50, .52, .51, .49, .50, .51, .50, .51, .51, .50, .50, .52]})
    >>> (c,) = together([Test("a - b", df, "a", "b", margin=0.02)])
    >>> c.outcome, c.interval()
    ('not met', '-0.2 (-1.0 to +0.6) points, 95 % interval, one test')
    """
    rows = paired_together([(t.data, t.metric, t.value, t.baseline, t.by, t.margin) for t in tests], alpha)
    family = "one test" if len(rows) <= 1 else f"Bonferroni over {len(rows)}"
    comparisons = []
    for t, row in zip(tests, rows):
        s = t.scale
        extra = {}
        if t.margin is not None:
            extra = {
                "margin": t.margin * s,
                "equivalent": row["equivalent"],
                "equivalence_low": row["equivalence_low"] * s,
                "equivalence_high": row["equivalence_high"] * s,
                "equivalence_level": 1 - 2 * alpha / row["tests"],
                "folds_for_equivalence": row["folds_for_equivalence"],
            }
        comparisons.append(
            Comparison(
                label=t.label,
                estimate=row["mean"] * s,
                low=row["low"] * s,
                high=row["high"] * s,
                level=row["confidence"],
                family=family,
                p_adjusted=row["p_adjusted"],
                differs=row["differs"],
                mdd=row["mdd"] * s,
                folds=row["folds"],
                sd=row["sd"] * s,
                unit=t.unit,
                digits=t.digits,
                favoured=t.favoured,
                **extra,
            )
        )
    return comparisons


@dataclass(frozen=True)
class Verdict:
    """A claim's outcome on one corpus, why (``rule``: the condition that outcome stands for;
    ``reason``: the numbers), the runs it rests on, and every comparison the rule read."""

    claim: str
    corpus: str
    outcome: str
    reason: str
    rule: str = ""
    evidence: str = ""
    comparisons: tuple[Comparison, ...] = ()
    notes: dict = field(default_factory=dict)  # readings beside the verdict, not part of its rule
    # whether its rules and plan were fixed before its runs (its sweep's rules record): confirmatory,
    # exploratory (set or changed after numbers were read), or unrecorded (stored before records began)
    standing: str = ""

    def __post_init__(self):
        if self.outcome not in OUTCOMES + EXTENSION_OUTCOMES:
            raise ValueError(f"{self.outcome!r} is not an outcome; one of {', '.join(OUTCOMES + EXTENSION_OUTCOMES)}")

    def power(self) -> str:
        """Every comparison's minimum detectable difference, in words."""
        return "; ".join(f"{c.label}: {c.power()}" for c in self.comparisons)

    def as_json(self) -> dict:
        record = asdict(self)
        record["comparisons"] = [{**asdict(c), "outcome": c.outcome} for c in self.comparisons]
        return record


def pending(claim: str, corpus: str, reason: str, evidence: str = "") -> Verdict:
    """No verdict yet: a quick-profile number, or a full profile not yet complete, is not a finding."""
    return Verdict(claim, corpus, "pending", reason, evidence=evidence)


def first_match(rule: tuple, *args) -> tuple[str, str]:
    """``(outcome, condition)`` of the first row of a rule table ``((outcome, condition, test), ...)``
    whose test holds for ``args``."""
    for outcome, condition, holds in rule:
        if holds(*args):
            return outcome, condition
    raise ValueError("a rule table must end with a row that always holds")
