"""The disentanglement tables and the Claim 2 verdict on constructed results tables, where the
answer is known: blocks that copy their factor pass, blocks that only echo the emotion fail."""

import re

import numpy as np
import pandas as pd
import pytest

from predefined_prototypes.method.registry import FACTOR_NAMES
from predefined_prototypes.reading.claims.claim2 import claim2_verdict
from predefined_prototypes.reading.factor_tables import (
    block_against_input,
    edit_selectivity,
    intervention_table,
    probe_table,
    shift_matrix,
)
from predefined_prototypes.reading.methods import with_methods
from predefined_prototypes.reading.pages.disentanglement import input_reading
from predefined_prototypes.run.schema import EDITS


def constructed(own: float, emotion: float, other: float, diagonal: float, off: float, folds: int = 10) -> pd.DataFrame:
    """Factor-prototype, CE and prototype runs on ``folds`` folds x 2 seeds, with probe scores
    and edit shifts set around the given values (small fold-to-fold noise)."""
    rng = np.random.default_rng(0)
    rows = []
    for fold in range(folds):
        for seed in (0, 1):
            for loss in ("factor_prototypes", "ce", "prototypes"):
                row = {
                    "loss": loss,
                    "factors": ",".join(FACTOR_NAMES),
                    "factor_levels": 6,
                    "prototypes": "orthogonal",
                    "scale": 1.0,
                    "fold": f"{fold:02d}",
                    "seed": seed,
                }
                for f in FACTOR_NAMES:
                    noise = lambda: rng.normal(0, 0.01)  # noqa: E731
                    row[f"factors_probe_chance_{f}"] = 1 / (6 - fold % 2)  # speakers with 6 or 5 levels
                    row[f"factors_probes_{f}_whole"] = own + noise()
                    row[f"factors_probes_{f}_emotion"] = emotion + noise()
                    if loss == "factor_prototypes":
                        for g in FACTOR_NAMES:
                            row[f"factors_probes_{f}_block_{g}"] = (own if g == f else other) + noise()
                        row[f"factors_probes_{f}_residual"] = emotion + noise()
                        row[f"factors_probes_{f}_residual_emotion"] = emotion + 0.02 + noise()
                for e in EDITS:
                    sign = 1.0 if e.amount > 0 else -1.0
                    prefix = f"factors_interventions_{e.name}"
                    row[f"{prefix}_emotion_flip_rate"] = 0.1
                    row[f"{prefix}_measured_change_loudness"] = e.amount if e.factor == "loudness" else 0.0
                    row[f"{prefix}_measured_change_pitch_median_semitones"] = (
                        e.amount if e.factor == "pitch_median" else 0.0
                    )
                    for f in FACTOR_NAMES:
                        moved = f == e.factor
                        row[f"{prefix}_measured_shift_{f}"] = sign * 2.0 if moved else 0.0
                        row[f"{prefix}_probe_shift_{f}"] = sign * 1.0 if moved else 0.0
                        if loss == "factor_prototypes":
                            row[f"{prefix}_code_shift_{f}"] = sign * diagonal + rng.normal(0, 0.05) if moved else off
                rows.append(row)
    return with_methods(pd.DataFrame(rows))


def test_blocks_that_copy_their_factor_reproduce_claim_2():
    df = constructed(own=0.9, emotion=0.3, other=0.2, diagonal=1.5, off=0.1)
    verdict = claim2_verdict(df, complete=True)
    assert verdict.outcome == "reproduced" and verdict.notes["untested"] == ["pitch spread"]
    assert verdict.notes["factors"]["loudness"].startswith("reproduced: carried met")
    assert len(verdict.comparisons) == 10 and all(c.outcome == "met" for c in verdict.comparisons)
    assert {c.family for c in verdict.comparisons} == {"Bonferroni over 10"}
    table = probe_table(df)
    assert (
        table.loc["loudness", "own block"].startswith("90.0")
        and table.loc["loudness", "chance (per speaker)"] == "18.3 (16.7 to 20.0)"
    )
    assert table.loc["pitch median", "residual beyond emotion"].startswith("2.0")
    assert shift_matrix(df, "code_shift", "factor_prototypes").loc["louder", "loudness"] == pytest.approx(1.5, abs=0.05)
    assert edit_selectivity(df, "loudness")["value"].mean() == pytest.approx(1.4, abs=0.05)
    table = intervention_table(df)
    assert table.loc["pitch up", "change made"].startswith("2.00") and table.loc["louder", "own block"].startswith(
        "1.50"
    )
    assert table.loc["louder", "largest other block (size)"].startswith("0.10")


def test_blocks_that_only_echo_the_emotion_do_not():
    df = constructed(own=0.3, emotion=0.3, other=0.3, diagonal=0.0, off=0.0)
    verdict = claim2_verdict(df, complete=True)
    # No effect, shown: every criterion's equivalence interval sits inside its margin.
    assert verdict.outcome == "not reproduced"
    assert {c.outcome for c in verdict.comparisons} == {"not met"}


def test_an_edit_that_moves_every_block_alike_is_not_selective():
    # Blocks carry their factor (probes pass) and the edit moves its block, but moves the other
    # blocks as far: the two edited factors are shown not selective, pitch spread (no edit) passes.
    df = constructed(own=0.9, emotion=0.3, other=0.2, diagonal=1.0, off=1.0)
    verdict = claim2_verdict(df, complete=True)
    assert verdict.outcome == "partly reproduced"
    outcomes = {c.label: c.outcome for c in verdict.comparisons}
    assert (
        outcomes["loudness: moves its block"] == "met" and outcomes["loudness: moves no other block more"] == "not met"
    )
    assert verdict.notes["factor_outcomes"] == {
        "pitch median": "not reproduced",
        "pitch spread": "reproduced",
        "loudness": "not reproduced",
    }


def test_an_edit_that_moves_other_blocks_more_contradicts_the_claim():
    df = constructed(own=0.9, emotion=0.3, other=0.2, diagonal=0.5, off=1.5)
    verdict = claim2_verdict(df, complete=True)
    outcomes = {c.label: c for c in verdict.comparisons}
    assert outcomes["loudness: moves its block"].outcome == "met"
    assert outcomes["loudness: moves no other block more"].outcome == "contradicted"
    assert outcomes["loudness: moves no other block more"].bearing == "against"
    assert verdict.outcome == "contradicted"


def test_criteria_too_noisy_to_decide_are_undetermined_with_their_power():
    df = constructed(own=0.33, emotion=0.3, other=0.3, diagonal=0.0, off=0.0, folds=4)
    rng = np.random.default_rng(3)
    probes = [c for c in df if c.startswith("factors_probes_")]
    df[probes] = df[probes] + rng.normal(0, 0.15, (len(df), len(probes)))
    verdict = claim2_verdict(df, complete=True)
    carried = [c for c in verdict.comparisons if c.label.endswith("carried")]
    assert {c.outcome for c in carried} == {"undetermined"} and all(c.mdd > 5 for c in carried)


def test_no_verdict_on_an_incomplete_profile():
    df = constructed(own=0.9, emotion=0.3, other=0.2, diagonal=1.5, off=0.1, folds=3)
    assert claim2_verdict(df, complete=False).outcome == "pending"


def test_confined_means_beyond_the_best_other_block_not_their_mean():
    # Loudness's own block (0.6) beats the mean of the other blocks (0.2 and 0.8 -> 0.5) but not
    # the best of them (0.8): not confined.
    df = constructed(own=0.9, emotion=0.3, other=0.2, diagonal=1.5, off=0.1)
    df["factors_probes_loudness_block_loudness"] = 0.6
    df["factors_probes_loudness_block_pitch_median"] = 0.8
    verdict = claim2_verdict(df, complete=True)
    outcomes = {c.label: c.outcome for c in verdict.comparisons}
    assert outcomes["loudness: carried"] == "met" and outcomes["loudness: confined"] == "contradicted"


def test_claim2_by_setting_reads_each_pull_strength_and_picks_the_strongest_trained_one():
    from predefined_prototypes.reading.claims.evidence import claim2_by_setting, claim2_strongest
    from predefined_prototypes.reading.pages.ablation_factors import claim2_tradeoff

    strong = constructed(own=0.9, emotion=0.3, other=0.2, diagonal=1.5, off=0.1).assign(
        lam=30.0, num_mel_bins=128, epochs=150
    )
    weak = constructed(own=0.3, emotion=0.3, other=0.3, diagonal=0.0, off=0.0).assign(
        lam=1.0, num_mel_bins=40, epochs=60
    )
    df = pd.concat([strong, weak[weak["loss"] == "factor_prototypes"]], ignore_index=True)
    df["accuracy"], df["train_accuracy"] = 0.7, 0.99
    settings = claim2_by_setting(df)
    assert len(settings) == 2 and settings["trained"].all()
    chosen = claim2_strongest(settings)
    assert chosen["strongest"]["lam"] == 30 and chosen["strongest"]["verdict"].startswith("reproduced")
    assert chosen["paper_faithful"]["verdict"] == "not reproduced"
    assert chosen["strongest"]["loudness: carried"] == pytest.approx(60, abs=1)  # 0.9 - 0.3, in points
    df.loc[(df["lam"] == 30) & (df["loss"] == "factor_prototypes"), "train_accuracy"] = 0.9  # under-trained
    assert claim2_strongest(claim2_by_setting(df))["strongest"]["lam"] == 1
    claim2_tradeoff(settings, ["pitch median", "pitch spread", "loudness"])


@pytest.mark.slow
def test_the_cost_of_the_strongest_pull_is_read_against_the_faithful_and_the_same_length_settings():
    from predefined_prototypes.reading.claims.evidence import claim2_by_setting
    from predefined_prototypes.reading.pages.ablation_factors import pull_cost

    base = constructed(own=0.9, emotion=0.3, other=0.2, diagonal=1.5, off=0.1)
    base = base[base["loss"] == "factor_prototypes"]
    rng = np.random.default_rng(1)
    runs = [
        base.assign(lam=lam, num_mel_bins=40, epochs=epochs, accuracy=accuracy + rng.normal(0, 0.005, len(base)))
        for lam, epochs, accuracy in ((1.0, 60, 0.85), (10.0, 150, 0.85), (30.0, 150, 0.80))  # the last 5 points lower
    ]
    df = pd.concat(runs, ignore_index=True).assign(train_accuracy=0.99)
    text = pull_cost(df, claim2_by_setting(df))
    assert text.startswith("Emotion accuracy at the verdict's setting (λ = 30, 40 mel bins, 150 epochs)")
    differences = [float(d) for d in re.findall(r"([-+]\d+\.\d) points \(", text)]
    assert differences == pytest.approx([-5.0, -5.0], abs=0.5) and text.count("lower than it beyond fold noise") == 2
    assert "over the 2 comparisons" in text and "λ = 10 at the same mel bins and epochs" in text
    short = df[df["lam"] != 10.0].assign(epochs=60)  # the weaker pull at the same length is the faithful one
    text = pull_cost(short, claim2_by_setting(short))
    assert "paired by fold: against the paper-faithful setting, -" in text and "same mel bins" not in text
    alone = df[df["lam"] == 30.0]  # nothing to compare with
    assert pull_cost(alone, claim2_by_setting(alone)).startswith("The accuracy cost of the pull is read once")


def test_setting_labels_are_spread_apart_in_order_and_isolated_ones_stay_put():
    from predefined_prototypes.reading.pages.ablation_factors import spread_labels

    positions = np.array([84.4, 87.5, 83.5, 87.2, 87.4, 80.0])
    placed = spread_labels(positions, gap=0.5)
    assert (np.argsort(placed, kind="stable") == np.argsort(positions, kind="stable")).all()
    assert np.diff(np.sort(placed)).min() >= 0.5 - 1e-9
    assert placed[5] == 80.0 and placed[0] == 84.4  # nothing near them: not moved
    crowded = [1, 3, 4]  # 87.2, 87.4, 87.5: one group, centred on its points
    assert placed[crowded].mean() == pytest.approx(positions[crowded].mean())
    assert spread_labels([], gap=1.0).size == 0


def test_the_factor_pull_readings_say_so_when_no_setting_is_complete():
    from predefined_prototypes.reading.claims.evidence import claim2_by_setting, claim2_strongest
    from predefined_prototypes.reading.factor_tables import pull_fit_table

    empty = constructed(own=0.5, emotion=0.3, other=0.2, diagonal=1.0, off=0.1).iloc[:0]
    assert list(pull_fit_table(empty).index) == ["none complete yet"]
    settings = claim2_by_setting(empty)
    assert settings.empty and claim2_strongest(settings)["strongest"] is None


def test_a_block_is_read_against_what_the_input_carries():
    df = constructed(own=0.6, emotion=0.3, other=0.2, diagonal=1.5, off=0.1)
    factor_runs = df["loss"] == "factor_prototypes"
    rng = np.random.default_rng(1)
    # The input carries pitch median better than its block, pitch spread as well, loudness worse.
    for factor, level in (("pitch_median", 0.8), ("pitch_std", 0.6), ("loudness", 0.3)):
        df.loc[factor_runs, f"input_probe_{factor}"] = level + rng.normal(0, 0.01, factor_runs.sum())
    rows = {r["factor"]: r for r in block_against_input(df)}
    assert rows["pitch_median"]["high"] < 0 and rows["loudness"]["low"] > 0
    assert rows["pitch_std"]["low"] < 0 < rows["pitch_std"]["high"]
    assert all(r["tests"] == 3 for r in rows.values())  # read together
    text = input_reading(df.assign(method=np.where(factor_runs, "factor_prototypes", df["loss"])))
    assert "pitch median 80.0 ± " in text
    assert (
        re.search(r"pitch median -(19|20)\.\d points \(98\.3 % interval, Bonferroni over 3: ", text)
        and "holds less than the input probe" in text
    )
    assert re.search(r"loudness \+(29|30)\.\d points", text) and "holds more than the input probe" in text
    assert re.search(r"pitch spread [+-]0\.\d points", text) and "not distinguishable from the input probe" in text


def labelled_runs(block: float, emotion: float, other: float = 0.5, folds: int = 12) -> pd.DataFrame:
    """Runs with an intensity block whose probe reads ``block``, the label alone ``emotion`` and
    the best of the other blocks ``other``."""
    rng = np.random.default_rng(1)
    return pd.DataFrame(
        [
            {
                "method": "factor_prototypes[pitch_median,pitch_std,loudness,intensity]",
                "fold": str(fold),
                "seed": 0,
                "factors_probes_intensity_block_intensity": block + rng.normal(0, 0.01),
                "factors_probes_intensity_emotion": emotion + rng.normal(0, 0.01),
                "factors_probes_intensity_block_loudness": other + rng.normal(0, 0.01),
                "factors_probes_intensity_block_pitch_median": other - 0.05,
                "factors_probes_intensity_whole": block,
            }
            for fold in range(folds)
        ]
    )


@pytest.mark.parametrize(
    "block, emotion, other, outcome",
    [
        (0.80, 0.60, 0.55, "holds"),
        (0.60, 0.60, 0.55, "does not hold"),  # no better than the label
        (0.80, 0.60, 0.80, "does not hold"),  # no better than another block: not confined
        (0.50, 0.70, 0.40, "contradicted"),
        (0.60, 0.50, 0.70, "contradicted"),  # another block reads it better
    ],
)
def test_a_labelled_factor_block_is_held_to_the_measured_factors_criteria(block, emotion, other, outcome):
    from predefined_prototypes.reading.claims.claim2 import labelled_factor_verdict

    runs = labelled_runs(block, emotion, other)
    verdict = labelled_factor_verdict(runs, "intensity", True, "RAVDESS")
    assert verdict.outcome == outcome
    assert [c.family for c in verdict.comparisons] == ["Bonferroni over 2"] * 2
    assert re.search(r"against the whole embedding [+-]\d\.\d \([+-]\d\.\d to [+-]\d\.\d\) points", verdict.reason)
    assert labelled_factor_verdict(runs, "intensity", False, "RAVDESS").outcome == "pending"


def test_a_labelled_factor_with_noisy_folds_is_undetermined_or_partly_holds():
    from predefined_prototypes.reading.claims.claim2 import labelled_factor_verdict

    runs = labelled_runs(0.65, 0.60, folds=4)
    runs["factors_probes_intensity_block_intensity"] += [0.3, -0.3, 0.25, -0.2]
    assert labelled_factor_verdict(runs, "intensity", True, "RAVDESS").outcome == "undetermined"
    runs = labelled_runs(0.90, 0.50, other=0.85)
    runs["factors_probes_intensity_block_loudness"] += np.tile([0.1, -0.1, 0.12, -0.08], 3)
    assert labelled_factor_verdict(runs, "intensity", True, "RAVDESS").outcome == "partly holds"


def ravdess_table(strong_train: float) -> pd.DataFrame:
    """The claim2-ravdess sweep's runs, constructed: blocks that copy their factor at λ 30 (40 mel
    bins) and blocks that only echo the emotion at λ 1 (128 mel bins), with and without the filter."""
    strong, faithful = constructed(0.8, 0.3, 0.3, 1.0, 0.0, folds=12), constructed(0.3, 0.3, 0.3, 0.0, 0.0, folds=12)
    parts = []
    for table, lam, mels in ((strong, 30.0, 40), (faithful, 1.0, 128)):
        for filtered in (True, False):
            part = table.assign(lam=lam, num_mel_bins=mels, factor_filter=filtered, epochs=70, train_accuracy=1.0)
            if lam == 1.0:
                part = part[(part["method"] == "factor_prototypes") & filtered]
            parts.append(part[part["seed"] == 0])
    runs = pd.concat(parts, ignore_index=True)
    runs.loc[(runs["lam"] == 30.0) & (runs["method"] == "factor_prototypes"), "train_accuracy"] = strong_train
    return runs


@pytest.mark.parametrize("strong_train, setting, outcome", [(0.99, 30.0, "reproduced"), (0.90, 1.0, "not reproduced")])
def test_ravdess_claim2_reads_the_setting_its_rule_picks(monkeypatch, strong_train, setting, outcome):
    from predefined_prototypes.reading import claims
    from predefined_prototypes.reading.claims import evidence

    monkeypatch.setattr(evidence, "_ravdess_runs", lambda: (ravdess_table(strong_train), True))
    monkeypatch.setattr(evidence, "with_factor_reads", lambda runs, sweep: runs)
    picked = evidence.ravdess_claim2_evidence(filtered=True)["runs"]
    assert set(picked.loc[picked["method"] == "factor_prototypes", "lam"]) == {setting}
    verdict = claims.claim2_on_ravdess()
    assert verdict.outcome == outcome, verdict.reason
    # without the filter only the strong setting was run: an under-trained one decides nothing
    assert verdict.notes["without filter"].startswith("reproduced" if strong_train > 0.97 else "undetermined")
