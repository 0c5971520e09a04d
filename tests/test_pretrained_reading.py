"""The pretrained regime's reading side on constructed runs whose answers are known: the pilot's
choice of encoder rate and epochs, the frozen probe against fine-tuning, calibration before and
after temperature scaling, and the two regimes' rows for the figure."""

import json

import matplotlib
import numpy as np
import pandas as pd

from predefined_prototypes.reading import figures
from predefined_prototypes.reading.claims.pretrained import (
    calibration_table,
    probe_table,
    rate_and_epochs,
    regime_rows,
)
from predefined_prototypes.reading.claims.recipes import with_recipes
from predefined_prototypes.reading.claims.verdict import Comparison, Verdict

matplotlib.use("Agg")


def curve(run_id, rate, accuracies):
    return pd.DataFrame(
        {"run_id": run_id, "rate": rate, "epoch": range(1, len(accuracies) + 1), "train_accuracy": accuracies}
    )


def test_the_pilot_takes_the_smaller_rate_that_trains_and_the_even_epochs_from_which_all_stay_trained():
    slow = [0.5, 0.8, 0.9, 0.95, 0.96, 0.96]  # never reaches 97 %
    fast = [0.6, 0.9, 0.97, 0.96, 0.98, 0.99]  # dips below after epoch 3: trained from 5
    faster = [0.7, 0.97, 0.98, 0.99, 0.99, 0.99]
    curves = pd.concat([curve("a", 1e-4, slow), curve("b", 3e-4, fast), curve("c", 3e-4, faster)])
    assert rate_and_epochs(curves) == {"rate": 3e-4, "epochs": 6, "reached": {1e-4: None, 3e-4: 5}}
    both = pd.concat([curve("a", 1e-4, faster), curve("b", 3e-4, fast)])
    assert rate_and_epochs(both)["rate"] == 1e-4 and rate_and_epochs(both)["epochs"] == 2
    # no rate trains within the pilot: the larger rate, and the budget decides the epochs
    assert rate_and_epochs(curve("a", 1e-4, slow).assign(rate=1e-4)) == {
        "rate": 1e-4,
        "epochs": None,
        "reached": {1e-4: None},
    }


def arm_runs(folds=8, gains=None, seed=0):
    """A complete constructed sweep: per fold, CE, control and prototypes under two recipes (the
    plain one chosen on validation), and a frozen probe; ``gains``: accuracy added per arm."""
    gains = gains or {}
    rng = np.random.default_rng(seed)
    rows = []
    for fold in map(str, range(1, folds + 1)):
        base = 0.6 + rng.normal(0, 0.03)
        for loss, prototypes, arm in (("ce", "orthogonal", "ce"), ("prototypes", "zero", "zero_prototypes"),
                                      ("prototypes", "orthogonal", "prototypes")):  # fmt: skip
            for smoothing, validation in ((0.0, 0.9), (0.1, 0.8)):
                noise = rng.normal(0, 0.01)
                rows.append({"fold": fold, "seed": 0, "loss": loss, "prototypes": prototypes,
                             "backbone_options": '{"encoder_lr": 0.0001}', "epochs": 10, "weight_decay": 0.0,
                             "label_smoothing": smoothing, "specaugment": False, "mixup": 0.0,
                             "train_accuracy": 0.99, "validation_accuracy": validation, "validation_ece": 0.05,
                             "accuracy": base + gains.get(arm, 0.0) + noise, "ece": 0.05 + gains.get(f"{arm}_ece", 0.0) + noise / 10,
                             "validation_test_ece_scaled": 0.04 + noise / 10})  # fmt: skip
        rows.append({**rows[-1], "loss": "ce", "backbone_options": json.dumps({"freeze": True}),
                     "label_smoothing": 0.0, "accuracy": base - 0.15 + rng.normal(0, 0.01)})  # fmt: skip
    return pd.DataFrame(rows)


def test_the_probe_table_finds_what_fine_tuning_adds_and_keeps_the_probe_out_of_the_arms():
    runs = arm_runs()
    arms = with_recipes(runs)
    assert len(arms) == 8 * 6  # the probe is no arm
    probes = runs[runs["backbone_options"].str.contains("freeze")]
    (row,) = probe_table({"EmoDB": arms}, {"EmoDB": probes}).to_dict("records")
    gain = row["fine-tuned CE − probe, points"]
    low, high = (float(x) for x in gain.split("(")[1].split(")")[0].split(" to "))
    assert low > 10 and high < 20 and gain.endswith("8 folds")  # the constructed 15 points
    assert row["frozen probe %"].startswith("4")  # 60 - 15 points


def test_calibration_finds_a_constructed_ece_gap_before_scaling_and_none_after():
    arms = with_recipes(arm_runs(folds=12, gains={"prototypes_ece": 0.08}))
    table = calibration_table({"RAVDESS": arms}).set_index("loss")
    before = table.loc["prototypes", "− CE before, points"]
    assert float(before.split(" ")[0]) > 7 and float(before.split("(")[1].split(" to ")[0]) > 0
    after = table.loc["prototypes", "− CE after temperature scaling, points"]
    low, high = (float(x) for x in after.split("(")[1].rstrip(")").split(" to "))
    assert low < 0 < high
    assert table.loc["control", "− CE before, points"].startswith(("+0", "-0"))


def test_regime_rows_set_both_regimes_side_by_side_and_skip_pending_verdicts():
    c = Comparison("prototypes − CE", 1.0, -2.0, 4.0, 0.975, "Bonferroni over 2", 0.5, False, 3.0, 12, 2.5, "points")
    done = Verdict("Claim 1a", "RAVDESS", "undetermined", "", comparisons=(c,))
    pending = Verdict("Claim 1a", "RAVDESS (pretrained GE2E)", "pending", "")
    verdicts = {"ravdess_claim1a": done, "ravdess_claim1b": pending, "ravdess_pretrained_claim1a": done,
                "ravdess_pretrained_claim1b": pending}  # fmt: skip
    rows = regime_rows(verdicts, {"RAVDESS": ("ravdess", "ravdess_pretrained")})
    assert [r["regime"] for r in rows] == ["from scratch", "pretrained GE2E"]
    assert rows[0]["low"] == -2.0 and rows[1]["outcome"] == "Claim 1a: undetermined"
    fig = figures.regimes(rows, 2.0)
    assert [ax.get_title() for ax in fig.axes] == ["RAVDESS"]
    assert sorted(t.get_text() for t in fig.legends[0].get_texts()) == ["from scratch", "pretrained GE2E"]
    assert all(size >= figures.SMALLEST_PT for size, _ in figures.shown_sizes(fig))


def test_the_pilot_figure_marks_the_floor_and_the_chosen_epochs():
    curves = pd.concat(
        [curve("a", 1e-4, [0.6, 0.98]).assign(arm="ce"), curve("b", 1e-4, [0.5, 0.97]).assign(arm="prototypes")]
    )
    fig = figures.pilot_curves({"EmoDB": curves}, 0.97, {"EmoDB": 2})
    (ax,) = fig.axes
    assert [line.get_xdata()[0] for line in ax.lines if line.get_color() == "tab:red"] == [2]
    assert all(size >= figures.SMALLEST_PT for size, _ in figures.shown_sizes(fig))
