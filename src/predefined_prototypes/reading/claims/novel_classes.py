"""The novel-classes question: do fixed prototypes help or hurt classes held out of training,
against cross-entropy, learned prototypes and the zero-prototype control, and at what cost on the
base classes? Four cell-paired comparisons read together (Bonferroni over 4)."""

from __future__ import annotations

import pandas as pd

from ..rules import NOVEL_SHOTS
from ..stats import level_words
from ..tables import FEW_SHOT_COLUMNS
from .verdict import Comparison, Test, together


def _words(c: Comparison, name: str) -> str:
    if c.differs:
        return f"{'better' if c.estimate > 0 else 'worse'} than {name} ({c.numbers()})"
    return f"not distinguishable from {name} ({c.numbers()})"


def novel_answer(df: pd.DataFrame, planned: int, k: int = NOVEL_SHOTS) -> str:
    """The page's answer, in words, at ``k`` shots (fixed before any result was seen; the table
    shows every k). Pass ``stats.by_cell(...)`` data: the cell (held-out pair, test speaker) is
    the unit. No answer before the full profile's ``planned`` runs are all stored."""
    stored = int(df["profile"].eq("full").sum())
    if stored < planned:
        return (
            f"No answer yet: {stored} of the full profile's {planned} runs are stored, and a quick-profile "
            "number is not a finding."
        )
    shots = FEW_SHOT_COLUMNS[k]
    ce, learned, control, base = together(
        [
            Test("new digits, prototypes − CE", df, "prototypes", "ce", shots),
            Test("new digits, prototypes − learned", df, "prototypes", "learned_prototypes", shots),
            Test("new digits, prototypes − control", df, "prototypes", "zero_prototypes", shots),
            Test("base digits, prototypes − CE", df, "prototypes", "ce", "accuracy"),
        ]
    )
    return (
        f"With {k} support clips per new digit, predefined prototypes (s = 1) were {_words(ce, 'cross-entropy')}, "
        f"{_words(learned, 'learned prototypes')}, and {_words(control, 'the zero-prototype control')}. On the "
        f"base digits they were {_words(base, 'cross-entropy')} ({level_words(ce.level)}s, {ce.family}, "
        f"{ce.folds} cells)."
    )
