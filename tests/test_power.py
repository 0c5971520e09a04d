"""The power statements, checked by simulation where the answer is known."""

import numpy as np
from scipy import stats

from predefined_prototypes.reading.power import equivalence_power, minimum_detectable_difference


def rejection_rate(difference, sd, folds, alpha, draws=4000):
    rng = np.random.default_rng(0)
    samples = rng.normal(difference, sd, size=(draws, folds))
    return float((stats.ttest_1samp(samples, 0.0, axis=1).pvalue < alpha).mean())


def test_a_difference_of_the_minimum_detectable_size_is_found_four_times_in_five():
    sd, folds, alpha = 0.03, 10, 0.05 / 3
    mdd = minimum_detectable_difference(sd, folds, alpha)
    assert abs(rejection_rate(mdd, sd, folds, alpha) - 0.8) < 0.03
    assert rejection_rate(mdd / 2, sd, folds, alpha) < 0.5  # half of it is missed more often than not


def test_equivalence_power_matches_a_simulated_tost_at_no_difference():
    sd, folds, margin, alpha = 0.02, 12, 0.02, 0.05 / 3
    rng = np.random.default_rng(1)
    samples = rng.normal(0.0, sd, size=(4000, folds))
    mean, se = samples.mean(1), samples.std(1, ddof=1) / np.sqrt(folds)
    half = stats.t.ppf(1 - alpha, folds - 1) * se
    shown = float(((mean - half > -margin) & (mean + half < margin)).mean())
    assert abs(equivalence_power(sd, folds, margin, alpha) - shown) < 0.06
