"""Claim 1: fixed prototypes beat cross-entropy *because they place the classes*; and Claim 1b,
a fixed target makes training converge faster. Each rule is a table, read top down; the first
row whose test holds gives the outcome.
"""

from __future__ import annotations

import pandas as pd

from ..rules import ACCURACY_MARGIN, EPOCH_MARGIN, FIT_FLOOR, TRAINING_FLOOR
from ..stats import level_words
from .verdict import Comparison, Test, Verdict, first_match, pending, together


def _above(c: Comparison) -> bool:
    return c.differs and c.estimate > 0


def _below(c: Comparison) -> bool:
    return c.differs and c.estimate < 0


# Read with three comparisons, fold-paired and Bonferroni-corrected together: prototypes − CE (p),
# control − CE (c), prototypes − control (pc); "equivalent": two one-sided tests within ACCURACY_MARGIN.
CLAIM1_RULE = (
    ("contradicted", "prototypes are worse than CE", lambda p, c, pc: _below(p)),
    (
        "reproduced",
        "prototypes beat CE, and beat the zero-prototype control (placement adds to the norm penalty)",
        lambda p, c, pc: _above(p) and _above(pc),
    ),
    (
        "partly reproduced",
        "prototypes beat CE, the control beats CE too, and prototypes are equivalent to the control: the gain "
        "is the norm penalty's",
        lambda p, c, pc: _above(p) and _above(c) and pc.equivalent,
    ),
    ("not reproduced", "prototypes are equivalent to CE", lambda p, c, pc: p.equivalent),
    (
        "undetermined",
        "none of the above: an interval too wide to decide (a gain whose cause is not settled, or no gain that "
        "is not ruled out either)",
        lambda p, c, pc: True,
    ),
)

# Claim 1 in its two parts, on the recipe design (configs/claim1-recipes-*.yaml): each loss takes its
# recipe from one identical menu on the validation speakers. 1a, the pull: read with prototypes − CE
# (p) and control − CE (c) as one family (Bonferroni over 2); p decides, c says whether a pull toward the
# origin does the same. 1b, the placement: prototypes − control (pc), alone.
PULL_RULE = (
    ("contradicted", "predefined prototypes are worse than CE", lambda p, c: _below(p)),
    ("reproduced", "predefined prototypes beat CE", lambda p, c: _above(p)),
    ("not reproduced", "predefined prototypes are equivalent to CE", lambda p, c: p.equivalent),
    ("undetermined", "an interval too wide to decide", lambda p, c: True),
)
PLACEMENT_RULE = (
    ("contradicted", "predefined prototypes are worse than the zero-prototype control", lambda pc: _below(pc)),
    ("reproduced", "predefined prototypes beat the zero-prototype control", lambda pc: _above(pc)),
    ("not reproduced", "predefined prototypes are equivalent to the zero-prototype control", lambda pc: pc.equivalent),
    ("undetermined", "an interval too wide to decide", lambda pc: True),
)

# Claim 1b, one comparison: prototypes − learned prototypes in epochs to the convergence threshold.
SPEED_RULE = (
    ("reproduced", "predefined prototypes converge in fewer epochs", lambda d: _below(d)),
    ("contradicted", "predefined prototypes converge in more epochs", lambda d: _above(d)),
    ("not reproduced", f"the epochs are equivalent within ±{EPOCH_MARGIN:g}", lambda d: d.equivalent),
    ("undetermined", "an interval too wide to decide", lambda d: True),
)


def power_sentence(c: Comparison) -> str:
    """What a comparison's design could decide, in words.

    >>> c = Comparison("p", 0.9, -4.7, 6.6, 0.983, "Bonferroni over 3", 0.9, False, 7.3, 6, 3.9, "points", margin=2.0,
    ...                folds_for_equivalence=45)
    >>> power_sentence(c)
    'This design (6 folds, fold SD 3.9 points) detects a difference of 7.3 points with 80 % power; equivalence within ±2 points would need about 45 folds at that SD'
    """
    need = c.folds_for_equivalence
    equivalence = (
        f"equivalence within ±{c.margin:g} {c.unit} would need about {need} folds at that SD"
        if need
        else f"equivalence within ±{c.margin:g} {c.unit} is out of reach at that SD"
    )
    return (
        f"This design ({c.folds} folds, fold SD {c.sd:.1f} {c.unit}) detects a difference of {c.mdd:.1f} {c.unit} "
        f"with 80 % power; {equivalence}"
    )


def judge_claim1(runs: pd.DataFrame, ce: str, corpus: str, evidence: str, prototypes: str = "prototypes") -> Verdict:
    """Claim 1's rule (``CLAIM1_RULE``) on ``runs`` (a ``method`` column naming ``prototypes``,
    ``ce`` and ``zero_prototypes``)."""
    tests = [
        Test("prototypes − CE", runs, prototypes, ce, margin=ACCURACY_MARGIN),
        Test("control − CE", runs, "zero_prototypes", ce, margin=ACCURACY_MARGIN, favoured=0),
        Test("prototypes − control", runs, prototypes, "zero_prototypes", margin=ACCURACY_MARGIN),
    ]
    p, c, pc = comparisons = together(tests)
    outcome, rule = first_match(CLAIM1_RULE, p, c, pc)
    reason = (
        "; ".join(f"{x.label} {x.numbers()}" for x in comparisons)
        + f" ({level_words(p.level)}s, {p.family}, {p.folds} folds)"
    )
    if outcome == "undetermined":
        reason += f". {power_sentence(p)}"
    return Verdict("Claim 1", corpus, outcome, reason, rule, evidence, tuple(comparisons))


def judge_parts(
    runs: pd.DataFrame, corpus: str, evidence: str, ce: str = "ce", floor: float = TRAINING_FLOOR
) -> tuple[Verdict, Verdict]:
    """Claim 1a, the pull (``PULL_RULE``: prototypes − CE deciding, control − CE beside it, one
    family of 2), and Claim 1b, the placement (``PLACEMENT_RULE``: prototypes − control, alone), on
    ``runs`` (a ``method`` column naming ``prototypes``, ``zero_prototypes`` and ``ce``; seeds
    averaged within a fold). A compared run below ``floor`` training accuracy makes its part
    undetermined: an under-trained arm decides nothing.

    >>> rows = [{"method": m, "fold": f, "seed": 0, "accuracy": a + 0.002 * ((i * j) % 5), "train_accuracy": 0.99}
    ...         for i, f in enumerate("abcdef")
    ...         for j, (m, a) in enumerate((("ce", 0.70), ("zero_prototypes", 0.75), ("prototypes", 0.75)))]
    >>> pull, placement = judge_parts(pd.DataFrame(rows), "toy", "constructed runs")
    >>> pull.claim, pull.outcome, placement.claim, placement.outcome
    ('Claim 1a', 'reproduced', 'Claim 1b', 'not reproduced')
    """
    pull = together(
        [
            Test("prototypes − CE", runs, "prototypes", ce, margin=ACCURACY_MARGIN),
            Test("control − CE", runs, "zero_prototypes", ce, margin=ACCURACY_MARGIN, favoured=0),
        ]
    )
    placement = together([Test("prototypes − control", runs, "prototypes", "zero_prototypes", margin=ACCURACY_MARGIN)])
    verdicts = []
    for claim, rule, comparisons, arms in (
        ("Claim 1a", PULL_RULE, pull, ("prototypes", ce)),
        ("Claim 1b", PLACEMENT_RULE, placement, ("prototypes", "zero_prototypes")),
    ):
        outcome, condition = first_match(rule, *comparisons)
        decider = comparisons[0]
        reason = "; ".join(f"{c.label} {c.numbers()}" for c in comparisons) + (
            f" ({level_words(decider.level)}s, {decider.family}, {decider.folds} folds)"
        )
        low = (
            runs[runs["method"].isin(arms) & (runs["train_accuracy"] < floor)] if "train_accuracy" in runs else runs[:0]
        )
        if len(low):
            outcome, condition = "undetermined", "a compared arm is under-trained"
            reason = (
                f"{len(low)} compared run(s) ended below {100 * floor:g} % training accuracy (lowest "
                f"{100 * low['train_accuracy'].min():.1f} %): an under-trained arm decides nothing. {reason}"
            )
        elif outcome == "undetermined":
            reason += f". {power_sentence(decider)}"
        verdicts.append(Verdict(claim, corpus, outcome, reason, condition, evidence, tuple(comparisons)))
    return verdicts[0], verdicts[1]


def claim1_tuned_verdict(chosen: pd.DataFrame, complete: bool, corpus: str, evidence: str = "") -> Verdict:
    """Claim 1 on the strongest evidence: predefined prototypes against the best regulariser of CE
    and against the zero-prototype control, each knob chosen per test speaker on validation
    speakers (``tables.tuned_choice``'s rows). No verdict before the sweep's full profile is complete."""
    evidence = evidence or "tuned baselines, each method's λ or regulariser chosen on validation speakers"
    if not complete:
        return pending("Claim 1", corpus, "the sweep's full profile is not complete", evidence)
    return judge_claim1(chosen.assign(method=chosen["family"], seed=0), "tuned_ce", corpus, evidence)


def speed_verdict(reached: pd.DataFrame, complete: bool, corpus: str) -> Verdict:
    """Claim 1b from ``stats.epochs_to_reach`` of a complete full profile: prototypes against
    learned prototypes in epochs to the convergence threshold (``SPEED_RULE``)."""
    evidence = "epochs to the convergence threshold, main comparison"
    if not complete:
        return pending("Claim 1c", corpus, "the full profile is not complete", evidence)
    label = "prototypes − learned prototypes"
    test = Test(
        label,
        reached,
        "prototypes",
        "learned_prototypes",
        "epochs",
        margin=EPOCH_MARGIN,
        scale=1.0,
        unit="epochs",
        favoured=-1,
    )
    (d,) = together([test])
    outcome, rule = first_match(SPEED_RULE, d)
    return Verdict("Claim 1c", corpus, outcome, f"{d.label}: {d.interval()}", rule, evidence, (d,))


def placement_reading(table: pd.DataFrame, complete: bool, fit: float = FIT_FLOOR) -> str:
    """What the pull-strength sweep says about placement, from ``tables.pull_strength``: at each
    lambda where every run trained and the prototypes are reached on the training clips
    (nearest-prototype accuracy at least ``fit``), whether prototypes beat the control (Bonferroni over
    the lambdas), and which lambdas decide nothing because a run under-trained. Where the arms
    differ, which arm moved from the next weaker lambda. ``complete``: whether ``table`` holds
    complete settings (no reading otherwise).

    >>> t = pd.DataFrame({"lam": [1.0, 10.0, 100.0], "difference": [0.0, -0.01, 0.4], "low": [-0.03, -0.07, 0.27],
    ...                   "high": [0.03, 0.04, 0.57], "p_adjusted": [0.9, 0.8, 0.0], "differs": [False, False, True],
    ...                   "confidence": 1 - 0.05 / 3, "tests": 3,
    ...                   "nearest_prototype_accuracy": [0.47, 0.99, 0.99], "trained": [True, True, False],
    ...                   "weaker_lam": [float("nan"), 1.0, 10.0]})
    >>> placement_reading(t, True)
    'Where every run trained and the prototypes are reached, prototypes − control in points (98.3 % intervals, Bonferroni over 3): λ = 10, -1.0 (-7.0 to +4.0), not distinguishable from 0. Under-trained, deciding nothing: λ = 100.'
    """
    if not complete:
        return "No reading yet: no λ of the pull-strength sweep has all of its runs stored."
    reached = table[table["trained"] & (table["nearest_prototype_accuracy"] >= fit)]
    parts = []
    if len(reached):
        words = [
            f"λ = {r.lam:g}, {_points(r.difference, r.low, r.high)}, "
            + (
                "above 0"
                if r.differs and r.difference > 0
                else "below 0"
                if r.differs
                else "not distinguishable from 0"
            )
            for r in reached.itertuples()
        ]
        level = f"{level_words(table['confidence'].iloc[0])}s, Bonferroni over {table['tests'].iloc[0]}"
        parts.append(
            f"Where every run trained and the prototypes are reached, prototypes − control in points ({level}): "
            + "; ".join(words)
            + "."
        )
    else:
        parts.append(f"At no λ did every run train with the prototypes reached (nearest-prototype accuracy ≥ {fit}).")
    for r in reached[reached["differs"] & reached["weaker_lam"].notna()].itertuples():
        parts.append(_which_arm_moved(r))
    under = table[~table["trained"]]
    if len(under):
        parts.append(f"Under-trained, deciding nothing: λ = {', '.join(f'{lam:g}' for lam in under['lam'])}.")
    return " ".join(parts)


def _points(mean: float, low: float, high: float) -> str:
    return f"{mean * 100:+.1f} ({low * 100:+.1f} to {high * 100:+.1f})"


def _which_arm_moved(r) -> str:
    """Where the arms differ at one lambda (a row of ``tables.pull_strength``): each arm's change
    from the next weaker lambda, and which of them made the gap."""
    change = {arm: [getattr(r, f"{arm}_change{k}") for k in ("", "_low", "_high")] for arm in ("control", "prototypes")}
    moved = [arm for arm, (_, low, high) in change.items() if high < 0 or low > 0]
    if len(moved) == 1:
        other = "prototypes" if moved == ["control"] else "control"
        hold = "hold" if other == "prototypes" else "holds"
        cause = f"the {moved[0]} {'falling' if change[moved[0]][2] < 0 else 'rising'} while the {other} {hold}"
    else:
        cause = "both arms moving" if moved else "neither arm alone (each change is within its interval)"
    changes = ", ".join(
        f"{arm} {100 * getattr(r, f'{arm}_accuracy'):.1f} % ({_points(*c)} points)" for arm, c in change.items()
    )
    return (
        f"At λ = {r.lam:g} the gap comes from {cause}: against λ = {r.weaker_lam:g} at the same epochs, {changes} "
        "(fold-paired 95 % intervals, one test each: a follow-up not corrected for multiplicity)."
    )
