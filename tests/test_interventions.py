"""Edits of the audio, and the probe and intervention measures, on tones where the answer is
known: a block that copies a factor's level code is probed perfectly, and editing one factor
moves that block alone (a diagonal intervention x block matrix)."""

import math

import pytest
import torch

from predefined_prototypes.run.factors import QuantileDiscretizer, measure_factors
from predefined_prototypes.run.features import FeatureSettings
from predefined_prototypes.run.interventions import apply_edit, edited_inputs, shift_pitch
from predefined_prototypes.run.metrics import factor_probes, mean_level_shift, nearest_codes
from predefined_prototypes.run.schema import EDITS, FACTOR_NAMES


def tone(freq: float, gain: float = 0.3, seconds: float = 1.0) -> torch.Tensor:
    t = torch.arange(int(seconds * 16000)) / 16000
    # Two harmonics and a slow vibrato: closer to a voice than a pure sine, still a known pitch.
    phase = 2 * math.pi * freq * t + 0.3 * torch.sin(2 * math.pi * 5 * t)
    return gain * (torch.sin(phase) + 0.5 * torch.sin(2 * phase))


@pytest.mark.parametrize("semitones", [2.0, -2.0])
@pytest.mark.parametrize("freq", [110.0, 180.0])
def test_pitch_shift_moves_pitch_only(freq, semitones):
    original = tone(freq)
    shifted = shift_pitch(original, 16000, semitones)
    before, after = measure_factors(original, 16000), measure_factors(shifted, 16000)
    assert len(shifted) == len(original)
    applied = 12 * math.log2(after["pitch_median"] / before["pitch_median"])
    assert applied == pytest.approx(12 * math.log2(9 / 8) * math.copysign(1, semitones), abs=0.15)
    assert after["loudness"] == pytest.approx(before["loudness"], abs=0.1)


def test_gain_moves_loudness_only():
    original = tone(150)
    for edit in (e for e in EDITS if e.factor == "loudness"):
        before, after = measure_factors(original, 16000), measure_factors(apply_edit(original, edit), 16000)
        assert after["loudness"] - before["loudness"] == pytest.approx(edit.amount, abs=0.01)
        assert after["pitch_median"] == pytest.approx(before["pitch_median"], rel=1e-4)


def test_edited_inputs_are_cached_per_file(tmp_path, monkeypatch):
    from conftest import write_tone

    from predefined_prototypes.run import interventions

    files = [write_tone(tmp_path / f"{f}.wav", seconds=1.0, freq=f) for f in (120, 160)]
    monkeypatch.setenv("PP_CACHE_DIR", str(tmp_path / "cache"))
    first = edited_inputs(files, FeatureSettings(num_mel_bins=32), clip_samples=16000)
    calls = []
    monkeypatch.setattr(interventions, "apply_edit", lambda *a: calls.append(a))
    second = edited_inputs(files, FeatureSettings(num_mel_bins=32), clip_samples=16000)
    assert not calls
    for edit in EDITS:
        assert first[edit.name]["values"].shape == (2, len(FACTOR_NAMES))
        assert torch.equal(first[edit.name]["frames"], second[edit.name]["frames"])
        assert len(first[edit.name]["offsets"]) == 3
    up = first["pitch_up"]["values"][:, 0] / first["pitch_down"]["values"][:, 0]
    assert up.tolist() == pytest.approx([(9 / 8) ** 2] * 2, rel=0.03)


@pytest.mark.slow
def test_copied_level_codes_give_perfect_probes_and_a_diagonal_intervention_matrix():
    generator = torch.Generator().manual_seed(0)
    freqs = 100 + 150 * torch.rand(24, generator=generator)
    gains = 0.05 + 0.4 * torch.rand(24, generator=generator)
    clips = [tone(f.item(), g.item()) for f, g in zip(freqs, gains)]
    names = ["pitch_median", "loudness"]

    def measured(waves):
        return torch.tensor([[measure_factors(w, 16000)[n] for n in names] for w in waves])

    values = measured(clips)
    levels = QuantileDiscretizer(4).fit(values).transform(values)
    blocks = [slice(0, 4), slice(4, 8)]

    def embed(lv):  # a perfectly disentangled z: each block is its factor's one-hot code
        return torch.cat([torch.nn.functional.one_hot(lv[:, f], 4).double() for f in range(2)], dim=1)

    z = embed(levels)
    scores, _ = factor_probes(
        {"block_pitch_median": z[:, blocks[0]], "block_loudness": z[:, blocks[1]]},
        {"block_pitch_median": z[:, blocks[0]], "block_loudness": z[:, blocks[1]]},
        levels,
        levels,
        names,
    )
    assert scores["pitch_median"]["block_pitch_median"] == 1.0 and scores["loudness"]["block_loudness"] == 1.0
    assert scores["pitch_median"]["block_loudness"] < 0.6 and scores["loudness"]["block_pitch_median"] < 0.6

    discretizer = QuantileDiscretizer(4).fit(values)
    matrix = []
    for edit in EDITS:
        edited_levels = discretizer.transform(measured([apply_edit(w, edit) for w in clips]))
        matrix.append(mean_level_shift(nearest_codes(z, blocks), nearest_codes(embed(edited_levels), blocks)))
    matrix = torch.tensor(matrix)  # rows: louder, quieter, pitch up, pitch down; columns: blocks
    assert matrix[0, 1] > 0.3 and matrix[1, 1] < -0.3 and matrix[2, 0] > 0.3 and matrix[3, 0] < -0.3
    assert matrix[:2, 0].abs().max() < 0.05 and matrix[2:, 1].abs().max() < 0.1


def test_a_factor_with_one_training_level_has_no_probe():
    z = torch.randn(8, 3)
    scores, probes = factor_probes(
        {"whole": z},
        {"whole": z},
        torch.zeros(8, 1, dtype=torch.long),
        torch.zeros(8, 1, dtype=torch.long),
        ["loudness"],
    )
    assert math.isnan(scores["loudness"]["whole"]) and probes["loudness"] == {}
