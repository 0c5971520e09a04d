"""The disentanglement case study's glue: Claim 2's criteria, the input probe, the contrast shares,
and Claim 2 on RAVDESS with its labelled intensity block."""

from __future__ import annotations

import numpy as np
import pandas as pd

from ...data import ravdess
from ...method.registry import FACTOR_NAMES
from ...run.schema import column
from ...storage.results import holds_plan, planned_runs
from ..claims import claim2_on_ravdess, disentanglement_cost, intensity_on_ravdess, pitch_labels
from ..claims.claim2 import CRITERIA, TRACKERS, split_label
from ..claims.evidence import RAVDESS_SWEEP, claim2_evidence_paper_faithful, ravdess_claim2_evidence
from ..claims.verdict import Verdict
from ..design import transferred_power
from ..factor_tables import LABELS, block_against_input, fold_summary, intervention_table, probe_table, pull_fit_table
from ..pitch_check import LEVELS, agreement_table, load_pitch_check
from ..rules import FIT_FLOOR, PROBE_MARGIN, SHIFT_MARGIN, TRAINING_FLOOR
from ..runs import load_results
from ..stats import describe_difference
from .common import recorded_hours


def criteria_marks(verdict: Verdict) -> pd.DataFrame:
    """Claim 2's criteria (``claims.claim2``) as a factor x criterion table: each cell the
    criterion's outcome with its difference and interval, "not tested" where the factor has no
    edit that moves it alone; a last column with the factor's outcome.

    >>> from predefined_prototypes.reading.claims.verdict import Comparison
    >>> c = Comparison("loudness: carried", 9.0, 2.0, 16.0, 0.995, "Bonferroni over 2", 0.01, True, 5.0, 10, 4.0, "points")
    >>> v = Verdict("Claim 2", "EmoDB", "partly reproduced", "", comparisons=(c,),
    ...             notes={"factor_outcomes": {"loudness": "partly reproduced", "pitch spread": "undetermined"}})
    >>> criteria_marks(v).loc["loudness", "carried"]
    'met: +9.0 (+2.0 to +16.0) points; detects 5.0'
    """
    rows = [
        dict(
            zip(("factor", "criterion"), split_label(c)),
            cell=f"{c.outcome}: {c.numbers()}; detects {c.mdd:.{c.digits}f}",
        )
        for c in verdict.comparisons
    ]
    table = pd.DataFrame(rows).pivot(index="factor", columns="criterion", values="cell")
    order = [c for c in CRITERIA if c in table.columns]
    outcomes = verdict.notes["factor_outcomes"]
    table = table[order].reindex(list(outcomes)).fillna("not tested").rename_axis(None, axis=1)
    return table.assign(factor=[outcomes[f] for f in table.index])


def input_reading(case: pd.DataFrame) -> str:
    """What the input carries, in words: the input probe per factor (fold mean ± std) and each
    own block against it (``factor_tables.block_against_input``, Bonferroni over the factors)."""

    rows = block_against_input(case)
    if not rows:
        return "The input probe has not been derived for these runs (python -m predefined_prototypes store derive)."
    factor_runs = case[case["method"] == "factor_prototypes"]
    read = ", ".join(f"{LABELS[r['factor']]} {fold_summary(factor_runs, 'input_probe_' + r['factor'])} %" for r in rows)
    against = "; ".join(
        f"{LABELS[r['factor']]} "
        + describe_difference(r, against="the input probe", above="holds more than", below="holds less than")
        for r in rows
    )
    return (
        f"The input probe reads {read}. Own block minus input probe, paired by fold and corrected together "
        f"over the {len(rows)} factors: {against}."
    )


def case_study(evidence: dict, verdict: Verdict) -> dict[str, str]:
    """The case study's numbers, from ``claims.evidence.claim2_evidence``: the runs' setup and protocol,
    the verdict (and, where it rests on the factor-pull sweep, the paper-faithful factor
    ablation's beside it), emotion accuracy per method (fold mean ± std), the test fold sizes and
    the utterances the factor filter keeps."""

    case = evidence["runs"]
    factor_runs = case[case["method"] == "factor_prototypes"]
    values = {
        "case_setup": evidence["setup"],
        "case_protocol": (
            f"{evidence['sweep']} sweep, {case['profile'].iloc[0]} profile: {case['fold'].nunique()} test speakers x "
            f"{case['seed'].nunique()} seeds; {len(factor_runs)} factor-prototype runs and "
            f"{len(case) - len(factor_runs)} reference runs"
        ),
        "claim2_verdict": verdict.outcome,
        "claim2_rule": verdict.rule,
        "claim2_reason": verdict.reason,
        "claim2_probe_margin": f"{100 * PROBE_MARGIN:g}",
        "claim2_shift_margin": f"{SHIFT_MARGIN:g}",
        "claim2_paper_faithful": claim2_evidence_paper_faithful(evidence),
        "case_test_sizes": f"{case['test_size'].min()} to {case['test_size'].max()}",
        "case_kept": f"{(case['train_size'] + case['test_size']).min()} of 339",
    }
    fits = {LABELS[f]: column("fit_level_match", factor=f) for f in FACTOR_NAMES}
    values["case_block_fit"] = "These runs predate the stored block fit; the factor-pull sweep's runs store it."
    if all(c in factor_runs for c in fits.values()):
        fit = {label: factor_runs[c].mean() for label, c in fits.items()}
        values["case_block_fit"] = (
            "On their training clips, each block's nearest level code is the assigned level "
            + ", ".join(f"{label} {100 * value:.1f} %" for label, value in fit.items())
            + " of the time (block fit, mean over runs; a block that ignored its factor would score about 1 / 6): "
            + (
                "the pull acts, so the criteria below test blocks that are fit."
                if min(fit.values()) >= FIT_FLOOR
                else "the blocks are not fit, so the criteria below test a pull that barely acts."
            )
        )
        held_out = {label: f"held_out_{f}_level_match" for f, label in LABELS.items() if label in fits}
        if all(c in factor_runs for c in held_out.values()):
            match = {label: factor_runs[c].mean() for label, c in held_out.items()}
            values["case_block_fit"] += (
                " On the test speaker's clips the same match is "
                + ", ".join(f"{label} {100 * value:.1f} %" for label, value in match.items())
                + (
                    ": the fit carries over to a voice the run never heard."
                    if min(match.values()) >= FIT_FLOOR
                    else ": what the pull fits on the training voices carries over to a new voice only in part."
                )
            )
    values["case_input_reading"] = input_reading(case)
    for method in ("factor_prototypes", "ce", "prototypes"):
        accuracy = fold_summary(case[case["method"] == method], "accuracy")
        values[f"case_accuracy_{method}"] = "not complete yet" if accuracy == "—" else f"{accuracy} %"
    return values


def contrast_shares(mean) -> dict[str, str]:
    """The share of the predicted emotion's margin the factor blocks give together, and the
    residual block's, averaged over emotions, from ``case_study.contrast_by_emotion``'s mean
    (rows: the factor blocks, the residual, the bias; columns: predicted emotions)."""

    margin = np.nansum(mean, axis=0)  # per predicted emotion
    factors = np.nansum(mean[: len(FACTOR_NAMES)], axis=0)
    return {
        "factor_blocks_share": f"{100 * np.nanmean(factors / margin):.0f} %",
        "residual_share": f"{100 * np.nanmean(mean[len(FACTOR_NAMES)] / margin):.0f} %",
    }


def filter_table(reports: dict[str, pd.DataFrame]) -> pd.DataFrame:
    """The validity filter's reports (``tables.load_filter_report``) in one table: a row per
    dataset and class, a column per sex, each cell "kept of clips"."""
    rows = [
        report.assign(dataset=name, cell=report["kept"].astype(str) + " of " + report["clips"].astype(str))
        for name, report in ((name, by_sex_and_class(report)) for name, report in reports.items())
    ]
    table = pd.concat(rows).pivot(index=["dataset", "class"], columns="sex", values="cell")
    return table.rename_axis(None, axis=1)


# A filter report's own columns; any other is a factor the corpus labels (RAVDESS's intensity).
FILTER_COLUMNS = (
    "sex",
    "class",
    "clips",
    "kept",
    "pitch above",
    "pitch below",
    "loudness out of range",
    "unmeasured",
    "dataset",
)
# The classes the Claim 2 runs use, where a corpus has more (configs/claim2-ravdess.yaml: classes 4).
CLAIM2_CLASSES = {"ravdess": ravdess.CLASS_SETS[4]}


def by_sex_and_class(report: pd.DataFrame) -> pd.DataFrame:
    """A filter report summed over any labelled factor (RAVDESS's intensity): a row per sex and class."""
    return report.groupby(["sex", "class"], as_index=False, sort=False).sum(numeric_only=True)


def filter_by_level(report: pd.DataFrame, factor: str, classes: list[str]) -> str:
    """What the filter removes at each level of a labelled ``factor``, within ``classes``, in words.

    >>> report = pd.DataFrame({"sex": ["female"] * 3, "class": ["angry", "angry", "calm"],
    ...                        "intensity": ["normal", "strong", "strong"], "clips": [8, 8, 8], "kept": [7, 2, 8]})
    >>> filter_by_level(report, "intensity", ["angry"])
    'removes 1 of 8 normal clips (12 %) and 6 of 8 strong clips (75 %) in angry'
    """
    part = report[report["class"].isin(classes)].groupby(factor)[["clips", "kept"]].sum()
    removed = [f"{r.clips - r.kept} of {r.clips} {level} clips ({100 * (r.clips - r.kept) / r.clips:.0f} %)"
               for level, r in part.iterrows()]  # fmt: skip
    return f"removes {' and '.join(removed)} in {', '.join(classes)}"


def filter_reading(reports: dict[str, pd.DataFrame], most: int = 3) -> dict[str, str]:
    """Per dataset, ``filter_<name>``: how many clips the filter keeps, the share it removes from
    each sex, and the (sex, class) cells it removes most from, in words.

    >>> report = pd.DataFrame({"sex": ["female", "female", "male"], "class": ["anger", "sadness", "anger"],
    ...                        "clips": [10, 10, 10], "kept": [2, 9, 10], "pitch above": [8, 1, 0]})
    >>> filter_reading({"toy": report})["filter_toy"]
    "keeps 21 of 30 clips (removes 45 % of the women's, 0 % of the men's); most removed: female anger (8 of 10, 8 for pitch above 275 Hz), female sadness (1 of 10, 1 for pitch above 275 Hz)"
    """
    reasons = {"pitch above": "pitch above 275 Hz", "pitch below": "pitch below 85 Hz",
               "loudness out of range": "loudness outside −50–0 LUFS", "unmeasured": "unmeasured"}  # fmt: skip
    values = {}
    for name, report in reports.items():
        for factor in set(report.columns) - set(FILTER_COLUMNS):  # a factor the corpus labels
            values[f"filter_{name}_{factor}"] = filter_by_level(report, factor, CLAIM2_CLASSES[name])
        report = by_sex_and_class(report)
        removed = report.assign(removed=report["clips"] - report["kept"])
        by_sex = removed.groupby("sex")[["removed", "clips"]].sum()
        share = {sex: 100 * r.removed / r.clips for sex, r in by_sex.iterrows()}
        worst = removed[removed["removed"] > 0].sort_values("removed", ascending=False).head(most)
        cells = []
        for _, r in worst.iterrows():
            why = ", ".join(f"{r[k]} for {words}" for k, words in reasons.items() if k in report and r[k])
            cells.append(f"{r['sex']} {r['class']} ({r['removed']} of {r['clips']}, {why})")
        values[f"filter_{name}"] = (
            f"keeps {report['kept'].sum()} of {report['clips'].sum()} clips (removes "
            f"{share.get('female', 0):.0f} % of the women's, {share.get('male', 0):.0f} % of the men's)"
            + (f"; most removed: {', '.join(cells)}" if cells else "")
        )
    return values


def criteria_changes(before: Verdict, after: Verdict) -> str:
    """The Claim 2 criteria whose outcome differs between two verdicts (``before`` on one corpus,
    ``after`` on another), in words; "none" if every shared criterion reads the same.

    >>> from predefined_prototypes.reading.claims.verdict import Comparison
    >>> def v(corpus, p):
    ...     c = Comparison("pitch median: confined", 5.0, -1.0, 9.0, 0.995, "Bonferroni over 10", p, p < 0.05, 5.0, 10, 4.0, "points")
    ...     return Verdict("Claim 2", corpus, "undetermined", "", comparisons=(c,))
    >>> criteria_changes(v("EmoDB", 0.5), v("RAVDESS", 0.01))
    'pitch median: confined (undetermined on EmoDB, met on RAVDESS)'
    """
    old = {c.label: c.outcome for c in before.comparisons}
    changed = [
        f"{c.label} ({old[c.label]} on {before.corpus}, {c.outcome} on {after.corpus})"
        for c in after.comparisons
        if c.label in old and old[c.label] != c.outcome
    ]
    return "; ".join(changed) or "none"


def ravdess(emodb: Verdict, claim1_sweep: str = "claim1-ravdess") -> tuple[Verdict, dict[str, str]]:
    """Claim 2 on RAVDESS (``claims.claim2_on_ravdess``) and the section's words: how much of the
    sweep is stored, what its design was expected to detect before it ran
    (``design.transferred_power`` from ``emodb``, Claim 2 on EmoDB: its fold SDs, 12 folds of two
    voices), Claim 2 with the validity filter and without it, the criteria whose outcome differs
    from EmoDB's (``criteria_changes``), the intensity block's verdicts with the filter and without
    it, and what this sweep and ``claim1_sweep`` cost against the 6 hours they were planned to fit
    (``recorded_hours``)."""
    claim2, sweep = claim2_on_ravdess(), RAVDESS_SWEEP
    intensity = {filtered: intensity_on_ravdess(filtered) for filtered in (True, False)}
    expected = transferred_power(emodb, 12, 2).groupby("unit")["new design"].agg(["min", "max"])
    planned = planned_runs(sweep, "full")
    stored = len(load_results(sweep, "full")) if holds_plan(sweep, "full") else 0
    cost = {name: recorded_hours(name) for name in (sweep, claim1_sweep)}
    return claim2, {
        "ravdess_cost": " and ".join(f"{h:.1f} h for {runs} stored runs of {name}" for name, (h, runs) in cost.items())
        + f", {sum(h for h, _ in cost.values()):.1f} h together against the 6 hours planned",
        "ravdess_stored": f"{stored} of {planned}",
        "ravdess_floor": f"{100 * TRAINING_FLOOR:g} %",
        "ravdess_claim2_verdict": claim2.outcome,
        "ravdess_claim2_reason": f"{claim2.rule}: {claim2.reason}" if claim2.rule else claim2.reason,
        "ravdess_claim2_unfiltered": claim2.notes.get("without filter", "pending"),
        **{
            f"ravdess_intensity{'' if filtered else '_unfiltered'}_{key}": value
            for filtered, v in intensity.items()
            for key, value in (("verdict", v.outcome), ("reason", f"{v.rule}: {v.reason}" if v.rule else v.reason))
        },
        "ravdess_fit": claim2.notes.get("fit", ""),
        "ravdess_changes": criteria_changes(emodb, claim2) if claim2.comparisons else "pending",
        "ravdess_expected_power": " and ".join(
            f"{r['min']:.{2 if unit == 'levels' else 1}f}–{r['max']:.{2 if unit == 'levels' else 1}f} {unit}"
            for unit, r in expected.iterrows()
        ),
    }


def ravdess_view(view: str) -> pd.DataFrame | None:
    """The runs Claim 2 on RAVDESS reads with the validity filter (``ravdess_claim2_evidence``), as
    one of EmoDB's tables once the sweep's full profile is complete (else None: nothing is shown
    before): the probes (``"probes"``), the edits (``"edits"``) or the block fit on the training
    clips and on the new voice (``"fit"``)."""
    evidence = ravdess_claim2_evidence(filtered=True)
    if not evidence["complete"]:
        return None
    return {"probes": probe_table, "edits": intervention_table, "fit": pull_fit_table}[view](evidence["runs"])


def cost_view() -> pd.io.formats.style.Styler:
    """The emotion accuracy factor prototypes give up for their blocks at every Claim 2 setting
    with a verdict (``claims.disentanglement_cost``), without the index."""
    return disentanglement_cost().style.hide(axis="index")


# The pitch check's groups per corpus: RAVDESS labels intensity, where the filter bites.
PITCH_CHECK_GROUPS = {"emodb": ("EmoDB", ("sex",)), "ravdess": ("RAVDESS", ("sex", "intensity"))}


def pitch_check_view() -> pd.io.formats.style.Styler:
    """The two trackers' agreement (``pitch_check.agreement_table``) on EmoDB and RAVDESS, a row per
    corpus and group, without the index."""
    tables = [
        agreement_table(load_pitch_check(name), by).assign(corpus=corpus)
        for name, (corpus, by) in PITCH_CHECK_GROUPS.items()
    ]
    table = pd.concat(tables)
    return table[["corpus", *table.columns[:-1]]].style.hide(axis="index").format(precision=2)


def pitch_check_reading() -> dict[str, str]:
    """Per corpus, ``pitch_check_<name>``: how often the two trackers agree, in words; and
    ``pitch_label_changes``: which pitch criteria change their outcome with CREPE's levels."""
    labels = pitch_labels()
    ours, crepe = (f"levels from {TRACKERS[t]}" for t in ("package", "crepe"))
    changed = labels[labels[ours].str.split(",").str[0] != labels[crepe].str.split(",").str[0]]
    changes = "; ".join(
        f"{r['corpus']} {r['criterion']}: {r[ours]} with the package's levels, {r[crepe]} with CREPE's"
        for _, r in changed.iterrows()
    )
    corpora = " or ".join(labels["corpus"].unique())
    words = {
        "pitch_label_changes": changes or f"no pitch criterion changes its outcome on {corpora}"
        if len(labels)
        else "pending"
    }
    for name in PITCH_CHECK_GROUPS:
        check = load_pitch_check(name)
        row = agreement_table(check).iloc[0]
        octave = row["octave errors, ours above"] + row["octave errors, ours below"]
        words[f"pitch_check_{name}"] = (
            f"of {row['clips measured by both']} clips measured by both (of {len(check)}, CREPE {check['crepe_model'].iloc[0]}), "
            f"{row['same level %']:g} % fall in the same of {LEVELS} levels and {row['within one level %']:g} % within one; "
            f"the median distance is {row['median distance, semitones']:g} semitones; {octave} clips are over half an "
            f"octave apart ({row['octave errors, ours above']} with the package's tracker above); the filter's pitch "
            f"decision differs on {row['filter decision differs']}"
        )
    return words


def pitch_label_view() -> pd.io.formats.style.Styler | None:
    """The pitch criteria under each tracker's levels (``claims.pitch_labels``), without the
    index; None before any corpus's profile is complete."""
    table = pitch_labels()
    return table.style.hide(axis="index") if len(table) else None
