"""Acoustic factors of an utterance (pitch median, pitch spread, loudness) and their levels.

Pitch: a normalised cross-correlation tracker (48 ms frames every 10 ms, lags for 60-500 Hz).
A frame is *voiced* when its correlation peak reaches 0.6 and its RMS is within 35 dB of the
utterance's loudest frame; pitch median and standard deviation (Hz) are taken over voiced frames
only. Loudness: ITU-R BS.1770 (torchaudio's ``loudness``, in LUFS). The authors' code instead took
torchaudio's ``detect_pitch_frequency`` over every frame (it has no voicing decision) after dropping
frames above 275 Hz, which left its 85-275 Hz filter nothing to do; ours keeps their filter, which
now removes utterances whose voiced median lies outside that range.

Factors are measured on what the model is evaluated on: the first ``clip_seconds`` of the
recording. An utterance is invalid (dropped) when a value is NaN (fewer than ``MIN_VOICED_FRAMES``
voiced frames, a clip under 0.4 s), the median pitch is outside [85, 275] Hz or the loudness
outside [-50, 0] LUFS. Levels come from quantiles fitted on the training split only.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
import torch
import torchaudio
from torch import Tensor
from tqdm import tqdm

from ..data import DATASETS, dataset_root
from ..data.audio import SAMPLE_RATE, read_audio
from ..method.registry import FACTOR_NAMES
from .cache import cache_key, cached

# Changed whenever the code below changes what it measures: old cache entries are then not read.
FACTORS_VERSION = 2
FRAME_SECONDS, HOP_SECONDS = 0.048, 0.010
PITCH_SEARCH_HZ = (60.0, 500.0)  # lags searched by the tracker
VOICING_CORRELATION = 0.6  # normalised correlation peak a voiced frame reaches
VOICING_FLOOR_DB = -35.0  # frame RMS relative to the loudest frame
MIN_VOICED_FRAMES = 10
PITCH_RANGE_HZ = (85.0, 275.0)  # the authors' validity filter on the median
LOUDNESS_RANGE_LUFS = (-50.0, 0.0)
LOUDNESS_GATE_SECONDS = 0.4


def track_pitch(waveform: Tensor, sample_rate: int) -> tuple[Tensor, Tensor]:
    """Pitch (Hz) of each frame and whether the frame is voiced (see the module's rule).

    >>> t = torch.arange(16000) / 16000
    >>> tone = torch.cat([0.5 * torch.sin(2 * math.pi * 150 * t), torch.zeros(8000)])
    >>> pitch, voiced = track_pitch(tone, 16000)
    >>> round(pitch[voiced].median().item()), voiced.sum().item() < len(voiced)
    (150, True)
    """
    window, hop = round(FRAME_SECONDS * sample_rate), round(HOP_SECONDS * sample_rate)
    if len(waveform) < window:
        return torch.zeros(0), torch.zeros(0, dtype=torch.bool)
    frames = waveform.double().unfold(0, window, hop)
    frames = frames - frames.mean(dim=1, keepdim=True)
    # r(tau) = sum_n x[n] x[n + tau], by FFT; normalised by the energies of the two overlapping
    # parts, so a periodic frame scores 1 at its period whatever its envelope.
    spectrum = torch.fft.rfft(frames, n=2 * window)
    correlation = torch.fft.irfft(spectrum.abs() ** 2, n=2 * window)[:, :window]
    energy = torch.cumsum(frames**2, dim=1)
    total = energy[:, -1:]
    lags = torch.arange(window)
    head = torch.cat([torch.zeros_like(total), energy], dim=1)[:, window - lags]  # sum of x[n], n < W - tau
    tail = total - torch.cat([torch.zeros_like(total), energy], dim=1)[:, lags]  # sum of x[n], n >= tau
    nccf = correlation / (head * tail).clamp(min=1e-12).sqrt()
    low, high = round(sample_rate / PITCH_SEARCH_HZ[1]), round(sample_rate / PITCH_SEARCH_HZ[0])
    search = nccf[:, low : high + 1]
    best = search.max(dim=1).values
    # Among peaks within 10 % of the best, the shortest lag: a period's multiples score as high.
    candidates = search >= 0.9 * best[:, None]
    lag = candidates.double().argmax(dim=1) + low
    # Walk up to the local maximum, then refine it with a parabola through its neighbours.
    for _ in range(high - low):
        step = (lag < high) & (nccf.gather(1, (lag + 1)[:, None]).squeeze(1) > nccf.gather(1, lag[:, None]).squeeze(1))
        if not step.any():
            break
        lag = lag + step.long()
    left = nccf.gather(1, (lag - 1)[:, None]).squeeze(1)
    centre = nccf.gather(1, lag[:, None]).squeeze(1)
    right = nccf.gather(1, (lag + 1).clamp(max=window - 1)[:, None]).squeeze(1)
    curvature = left - 2 * centre + right
    offset = torch.where(curvature < 0, 0.5 * (left - right) / curvature, torch.zeros_like(curvature))
    pitch = sample_rate / (lag + offset.clamp(-0.5, 0.5))
    rms = frames.pow(2).mean(dim=1).sqrt()
    loud_enough = rms >= rms.max() * 10 ** (VOICING_FLOOR_DB / 20)
    voiced = (best >= VOICING_CORRELATION) & loud_enough
    return pitch.float(), voiced


def measure_factors(waveform: Tensor, sample_rate: int) -> dict[str, float]:
    """Pitch median and std (Hz) over voiced frames, and loudness (LUFS). A value that cannot be
    measured (fewer than ``MIN_VOICED_FRAMES`` voiced frames, a clip under 0.4 s) is NaN.

    >>> t = torch.arange(32000) / 16000
    >>> f = measure_factors(0.3 * torch.sin(2 * math.pi * 220 * t), 16000)
    >>> round(f["pitch_median"]), round(f["pitch_std"], 1), round(f["loudness"], 1)
    (220, 0.0, -14.4)
    """
    pitch, voiced = track_pitch(waveform, sample_rate)
    pitch = pitch[voiced].double()
    enough = len(pitch) >= MIN_VOICED_FRAMES
    median = pitch.median().item() if enough else math.nan
    spread = pitch.std(correction=0).item() if enough else math.nan
    return {"pitch_median": median, "pitch_std": spread, "loudness": loudness(waveform, sample_rate)}


def loudness(waveform: Tensor, sample_rate: int) -> float:
    """ITU-R BS.1770 loudness (LUFS) of ``waveform`` [T]; NaN under 0.4 s (BS.1770 gates over
    400 ms blocks). torchaudio's K-weighting filter clips its output at +-1, which bends loud
    clips (and gains above full scale), so the waveform is measured at peak 0.25 and the gain
    added back.

    >>> x = 0.9 * torch.sin(torch.arange(16000) / 3.0)
    >>> round(loudness(2 * x, 16000) - loudness(x, 16000), 2)
    6.02
    """
    if len(waveform) < LOUDNESS_GATE_SECONDS * sample_rate:
        return math.nan
    peak = waveform.abs().max().item()
    if peak == 0:
        return -math.inf
    level = torchaudio.functional.loudness((0.25 * waveform / peak).unsqueeze(0), sample_rate).item()
    return level + 20 * math.log10(peak / 0.25)


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


def factor_row(waveform: Tensor, clip_samples: int) -> list[float]:
    """The factors of the first ``clip_samples`` of ``waveform`` in ``FACTOR_NAMES`` order, then 1.0
    if valid else 0.0: one row of what ``file_factors`` caches."""
    measured = measure_factors(waveform[:clip_samples], SAMPLE_RATE)
    return [measured[name] for name in FACTOR_NAMES] + [float(is_valid(measured))]


def file_factors(
    files: list[Path], clip_samples: int, cache: bool = True, desc: str = "factors"
) -> tuple[Tensor, Tensor]:
    """Factors of the first ``clip_samples`` of every file as a float tensor [N, 3] in
    ``FACTOR_NAMES`` order, and a bool mask [N] of the files that pass ``is_valid``. Cached like
    features."""

    def compute() -> dict[str, Tensor]:
        rows = [factor_row(read_audio(p), clip_samples) for p in tqdm(files, desc=desc, leave=False, mininterval=2.0)]
        table = torch.tensor(rows, dtype=torch.float64).reshape(-1, len(FACTOR_NAMES) + 1)
        return {"values": table[:, :-1], "valid": table[:, -1].bool()}

    key = cache_key("factors", files, {**factor_cache_settings(), "clip_samples": clip_samples})
    entry = cached("factors", key, compute, enabled=cache)
    return entry["values"], entry["valid"]


def factor_cache_settings() -> dict:
    """Everything that changes the measured factors besides the audio itself."""
    return {
        "factors": FACTOR_NAMES,
        "sample_rate": SAMPLE_RATE,
        "frame_seconds": FRAME_SECONDS,
        "hop_seconds": HOP_SECONDS,
        "pitch_search_hz": PITCH_SEARCH_HZ,
        "voicing_correlation": VOICING_CORRELATION,
        "voicing_floor_db": VOICING_FLOOR_DB,
        "min_voiced_frames": MIN_VOICED_FRAMES,
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


def filter_reasons(values: Tensor) -> list[str]:
    """Why each row of factor values [N, 3] (``FACTOR_NAMES`` order) passes or fails ``is_valid``:
    "kept", "unmeasured" (no voiced frames, or under the loudness gate), "pitch above", "pitch
    below" or "loudness out of range", checked in that order.

    >>> filter_reasons(torch.tensor([[150.0, 20.0, -30.0], [300.0, 20.0, -30.0], [float("nan"), 0.0, -30.0]]))
    ['kept', 'pitch above', 'unmeasured']
    """
    median, loud = FACTOR_NAMES.index("pitch_median"), FACTOR_NAMES.index("loudness")
    reasons = []
    for row in values.tolist():
        if any(math.isnan(v) for v in row):
            reasons.append("unmeasured")
        elif row[median] > PITCH_RANGE_HZ[1]:
            reasons.append("pitch above")
        elif row[median] < PITCH_RANGE_HZ[0]:
            reasons.append("pitch below")
        elif not LOUDNESS_RANGE_LUFS[0] <= row[loud] <= LOUDNESS_RANGE_LUFS[1]:
            reasons.append("loudness out of range")
        else:
            reasons.append("kept")
    return reasons


def every_clip(name: str, root: str | Path | None = None, **options) -> tuple[list, list[str]]:
    """Every clip of dataset ``name`` (with ``options``) once, and its class names."""
    module = DATASETS[name]
    root = dataset_root(name, root)
    fold = module.folds(root, **options)[0]
    clips, classes = [], None
    for split in ("train", "test"):  # one fold's two splits hold every clip once
        part, classes = module.clips(root, fold, split, **options)
        clips += part
    return clips, classes


def filter_report(name: str, root: str | Path | None = None, **options) -> pd.DataFrame:
    """What the authors' validity filter (``is_valid``) removes from every clip of dataset
    ``name``, by speaker sex (the module's ``sex_of``), class and each factor the corpus labels
    (``LABELLED_FACTORS``, say RAVDESS's intensity): one row per cell with the clips, those kept,
    and those removed for each reason (``filter_reasons``), measured on each clip's first
    ``CLIP_SECONDS`` as the factor runs measure them."""
    module = DATASETS[name]
    if not getattr(module, "SPEECH_WITH_PITCH", False) or not hasattr(module, "sex_of"):
        raise ValueError(f"{name} has no measured factors or no speaker sex; the filter report needs both")
    clips, classes = every_clip(name, root, **options)
    values, _ = file_factors([c.path for c in clips], int(module.CLIP_SECONDS * SAMPLE_RATE), desc=f"{name} factors")
    labelled = getattr(module, "LABELLED_FACTORS", {})
    table = pd.DataFrame(
        {
            "sex": [module.sex_of(c.speaker) for c in clips],
            "class": [classes[c.label] for c in clips],
            **{f: [levels[module.factor_level(c.path, f)] for c in clips] for f, levels in labelled.items()},
            "reason": filter_reasons(values),
        }
    )
    counts = pd.crosstab([table[k] for k in ("sex", "class", *labelled)], table["reason"])
    for reason in ("kept", "unmeasured", "pitch above", "pitch below", "loudness out of range"):
        if reason not in counts:
            counts[reason] = 0
    counts.insert(0, "clips", counts.sum(axis=1))
    order = ["clips", "kept", "pitch above", "pitch below", "loudness out of range", "unmeasured"]
    return counts[order].reset_index().assign(dataset=name)
