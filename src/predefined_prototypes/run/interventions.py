"""Edits of the audio that move one factor: loudness by a gain, pitch by a shift that keeps the
duration. Each edited clip's features and re-measured factors are computed once and cached, so
every run of a fold set reuses them.

Pitch shift: a phase-vocoder time stretch by the pitch ratio, then a resampling back to the
original length. The ratio is rounded to a fraction with a small denominator (2 semitones ->
9/8 = 2.04 semitones) because resampling by a ratio of small integers is fast, while
``torchaudio.functional.pitch_shift``'s irrational ratio takes seconds per clip
(``benchmarks/pitch_edit.py`` measures both); the factor measured on the edited audio shows the
change actually made.
"""

from __future__ import annotations

import math
from fractions import Fraction
from pathlib import Path

import torch
import torchaudio
from torch import Tensor
from tqdm import tqdm

from ..data.audio import SAMPLE_RATE, read_audio
from ..method.registry import FACTOR_NAMES
from .cache import cache_key, cached
from .factors import factor_cache_settings, factor_row, loudness
from .features import FeatureSettings, feature_cache_settings, features_of
from .schema import EDITS, Edit

N_FFT, HOP = 512, 128


def pitch_ratio(semitones: float, max_denominator: int = 16) -> Fraction:
    """The frequency ratio of a shift, as the nearest fraction with a small denominator.

    >>> pitch_ratio(2.0), round(12 * math.log2(pitch_ratio(2.0)), 2)
    (Fraction(9, 8), 2.04)
    """
    return Fraction(2 ** (semitones / 12)).limit_denominator(max_denominator)


def shift_pitch(waveform: Tensor, sample_rate: int, semitones: float) -> Tensor:
    """``waveform`` [T] with its pitch shifted, its length and loudness kept.

    >>> t = torch.arange(16000) / 16000
    >>> shifted = shift_pitch(torch.sin(2 * math.pi * 200 * t), 16000, 2.0)
    >>> from predefined_prototypes.run.factors import measure_factors
    >>> len(shifted), round(measure_factors(shifted, 16000)["pitch_median"])
    (16000, 225)
    """
    ratio = pitch_ratio(semitones)
    if ratio == 1:
        return waveform.clone()
    window = torch.hann_window(N_FFT)
    spectrum = torch.stft(waveform, N_FFT, HOP, window=window, return_complex=True)
    advance = torch.linspace(0, math.pi * HOP, spectrum.shape[0])[:, None]
    # Stretching time by the ratio, then playing it back that much faster, scales every frequency
    # by the ratio and restores the duration.
    stretched = torchaudio.functional.phase_vocoder(spectrum, 1 / float(ratio), advance)
    longer = torch.istft(stretched, N_FFT, HOP, window=window, length=round(len(waveform) * float(ratio)))
    resampled = torchaudio.functional.resample(longer, ratio.numerator, ratio.denominator)
    out = resampled.new_zeros(len(waveform))
    out[: min(len(out), len(resampled))] = resampled[: len(out)]
    # The phase vocoder loses about 3 dB; restore the original loudness so only pitch moves.
    change = loudness(waveform, sample_rate) - loudness(out, sample_rate)
    return out * 10 ** (change / 20) if math.isfinite(change) else out


def apply_edit(waveform: Tensor, edit: Edit, sample_rate: int = SAMPLE_RATE) -> Tensor:
    """The edited waveform (no clipping: features and factors are computed on floats).

    >>> apply_edit(torch.ones(4), Edit("louder", "loudness", 6.0)).tolist()[0] > 1.99
    True
    """
    if edit.factor == "loudness":
        return waveform * 10 ** (edit.amount / 20)
    if edit.factor == "pitch_median":
        return shift_pitch(waveform, sample_rate, edit.amount)
    raise ValueError(f"no edit for factor {edit.factor!r}; edits move loudness or pitch_median")


def edited_inputs(
    files: list[Path], settings: FeatureSettings, clip_samples: int, cache: bool = True
) -> dict[str, dict[str, Tensor]]:
    """For every edit in ``EDITS``: the features of each edited file (packed as
    ``frames`` + ``offsets``, like ``extract_features``) and its re-measured factors (``values``
    [N, 3] in ``FACTOR_NAMES`` order, ``valid`` [N]) on the first ``clip_samples``."""

    def compute() -> dict[str, Tensor]:
        per_edit = {e.name: ([], []) for e in EDITS}
        for path in tqdm(files, desc="edited audio", leave=False, mininterval=2.0):
            wave = read_audio(path)
            for edit in EDITS:
                edited = apply_edit(wave, edit)
                per_edit[edit.name][0].append(features_of(edited, settings))
                per_edit[edit.name][1].append(factor_row(edited, clip_samples))
        entry = {}
        for name, (features, rows) in per_edit.items():
            table = torch.tensor(rows, dtype=torch.float64).reshape(-1, len(FACTOR_NAMES) + 1)
            entry[f"{name}/frames"] = torch.cat(features)
            entry[f"{name}/offsets"] = torch.tensor([0] + [len(f) for f in features]).cumsum(0)
            entry[f"{name}/values"] = table[:, :-1]
            entry[f"{name}/valid"] = table[:, -1].bool()
        return entry

    settings_key = {
        "edits": [vars(e) for e in EDITS],
        "n_fft": N_FFT,
        "hop": HOP,
        "clip_samples": clip_samples,
        "features": feature_cache_settings(settings),
        "factors": factor_cache_settings(),
    }
    entry = cached("edited", cache_key("edited", files, settings_key), compute, enabled=cache)
    return {e.name: {k: entry[f"{e.name}/{k}"] for k in ("frames", "offsets", "values", "valid")} for e in EDITS}
