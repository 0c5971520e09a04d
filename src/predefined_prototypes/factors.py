"""Acoustic factors of an utterance (pitch median, pitch spread, loudness) and their levels.

Measured as in the authors' code: pitch with torchaudio's ``detect_pitch_frequency`` with frames
above 275 Hz dropped, then median and standard deviation over frames; loudness with torchaudio's
``loudness`` (ITU-R BS.1770, in LUFS). An utterance is invalid (dropped) when a value is NaN,
the median pitch is outside [85, 275] Hz, or the loudness outside [-50, 0] LUFS.
Levels come from quantiles fitted on the training split only.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import torch
import torchaudio
from torch import Tensor
from tqdm import tqdm

from .cache import cache_key, cached
from .data.audio import SAMPLE_RATE, read_audio

FACTORS = ("pitch_median", "pitch_std", "loudness")
# Changed whenever the code below changes what it measures: old cache entries are then not read.
FACTORS_VERSION = 1
PITCH_CEILING_HZ = 275.0
PITCH_RANGE_HZ = (85.0, 275.0)
LOUDNESS_RANGE_LUFS = (-50.0, 0.0)
LOUDNESS_GATE_SECONDS = 0.4


def measure_factors(waveform: Tensor, sample_rate: int) -> dict[str, float]:
    """Pitch median and std (Hz) over voiced frames below 275 Hz, and loudness (LUFS).
    A value that cannot be measured (no frame below 275 Hz, a clip under 0.4 s) is NaN.

    >>> t = torch.arange(32000) / 16000
    >>> f = measure_factors(0.3 * torch.sin(2 * math.pi * 220 * t), 16000)
    >>> round(f["pitch_median"]), round(f["loudness"], 1)
    (219, -14.4)
    """
    pitch = torchaudio.functional.detect_pitch_frequency(waveform, sample_rate)
    pitch = pitch[pitch <= PITCH_CEILING_HZ]
    median = pitch.median().item() if len(pitch) else math.nan
    spread = pitch.std(correction=0).item() if len(pitch) else math.nan
    if len(waveform) >= LOUDNESS_GATE_SECONDS * sample_rate:
        loudness = torchaudio.functional.loudness(waveform.unsqueeze(0), sample_rate).item()
    else:  # BS.1770 gates over 400 ms blocks: a shorter clip has no loudness (and is invalid)
        loudness = math.nan
    return {"pitch_median": median, "pitch_std": spread, "loudness": loudness}


def is_valid(factors: dict[str, float]) -> bool:
    """The authors' filter: no NaN, median pitch in [85, 275] Hz, loudness in [-50, 0] LUFS.

    >>> is_valid({"pitch_median": 180.0, "pitch_std": 20.0, "loudness": -23.0})
    True
    >>> is_valid({"pitch_median": 300.0, "pitch_std": 20.0, "loudness": -23.0})
    False
    """
    if any(math.isnan(v) for v in factors.values()):
        return False
    low, high = PITCH_RANGE_HZ
    quiet, loud = LOUDNESS_RANGE_LUFS
    return low <= factors["pitch_median"] <= high and quiet <= factors["loudness"] <= loud


def file_factors(files: list[Path], cache: bool = True, desc: str = "factors") -> tuple[Tensor, Tensor]:
    """Factors of every file (whole recordings) as a float tensor [N, 3] in ``FACTORS`` order,
    and a bool mask [N] of the files that pass ``is_valid``. Cached like features."""

    def compute() -> dict[str, Tensor]:
        rows = []
        for path in tqdm(files, desc=desc, leave=False, mininterval=2.0):
            measured = measure_factors(read_audio(path), SAMPLE_RATE)
            rows.append([measured[name] for name in FACTORS] + [float(is_valid(measured))])
        table = torch.tensor(rows, dtype=torch.float64).reshape(-1, len(FACTORS) + 1)
        return {"values": table[:, :-1], "valid": table[:, -1].bool()}

    key = cache_key("factors", files, factor_cache_settings())
    entry = cached("factors", key, compute, enabled=cache)
    return entry["values"], entry["valid"]


def factor_cache_settings() -> dict:
    """Everything that changes the cached factors besides the files themselves."""
    return {
        "factors": FACTORS,
        "sample_rate": SAMPLE_RATE,
        "pitch_ceiling_hz": PITCH_CEILING_HZ,
        "pitch_range_hz": PITCH_RANGE_HZ,
        "loudness_range_lufs": LOUDNESS_RANGE_LUFS,
        "loudness_gate_seconds": LOUDNESS_GATE_SECONDS,
        "version": FACTORS_VERSION,
        "torchaudio": torchaudio.__version__,
    }


class QuantileDiscretizer:
    """Cut each factor into equally populated levels, with cut points fitted on training values
    only, then applied unchanged to any split.

    >>> d = QuantileDiscretizer(levels=4).fit(torch.arange(100.0).reshape(-1, 1))
    >>> d.transform(torch.tensor([[0.0], [30.0], [60.0], [99.0]])).flatten().tolist()
    [0, 1, 2, 3]
    """

    def __init__(self, levels: int | list[int] = 6):
        self.levels = levels
        per_factor = levels if isinstance(levels, list) else [levels]
        if any(not 2 <= int(n) <= 8 for n in per_factor):
            raise ValueError(f"levels must be between 2 and 8 per factor, got {levels}")
        self.cut_points: list[np.ndarray] | None = None

    def fit(self, values: Tensor) -> QuantileDiscretizer:
        """``values`` [N, F] from the training split."""
        columns = values.shape[1]
        levels = self.levels if isinstance(self.levels, list) else [self.levels] * columns
        if len(levels) != columns:
            raise ValueError(f"{len(levels)} level counts given for {columns} factors")
        data = values.double().numpy()
        self.cut_points = [np.quantile(data[:, f], np.arange(1, n) / n) for f, n in enumerate(levels)]
        return self

    def transform(self, values: Tensor) -> Tensor:
        """Levels [N, F] (int64, 0 .. L_f - 1) of ``values`` [N, F]."""
        if self.cut_points is None:
            raise RuntimeError("call fit() on the training split before transform()")
        data = values.double().numpy()
        return torch.from_numpy(
            np.stack(
                [np.searchsorted(cuts, data[:, f], side="right") for f, cuts in enumerate(self.cut_points)], axis=1
            )
        ).long()
