"""Reading audio and the dataset class that every loader returns.

Audio is read with soundfile (torchaudio's own loader needs FFmpeg), mixed to mono and resampled
to 16 kHz with torchaudio. Every file is checked when the dataset is built (exists, readable,
not empty, finite samples), so a bad file is reported before any long work starts.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import soundfile as sf
import torch
import torchaudio
from torch import Tensor

from .clip import SAMPLE_RATE, AudioFileError, Clip


def read_audio(path: str | Path, sample_rate: int = SAMPLE_RATE) -> Tensor:
    """Read a sound file as a float32 mono waveform [T] at ``sample_rate``.

    >>> import numpy as np, tempfile, os
    >>> f = os.path.join(tempfile.mkdtemp(), "tone.wav")
    >>> sf.write(f, np.zeros(8000, dtype="float32"), 8000)
    >>> read_audio(f).shape
    torch.Size([16000])
    """
    try:
        data, rate = sf.read(str(path), dtype="float32", always_2d=True)
    except (sf.LibsndfileError, RuntimeError, OSError) as err:
        raise AudioFileError(f"cannot read audio file {path}: {err}") from err
    if data.shape[0] == 0:
        raise AudioFileError(f"audio file {path} is empty (0 samples)")
    wave = torch.from_numpy(data).mean(dim=1)
    if rate != sample_rate:
        wave = torchaudio.functional.resample(wave, rate, sample_rate)
    return wave


def fix_length(x: Tensor, length: int, generator: torch.Generator | None = None) -> Tensor:
    """Crop or zero-pad the first (time) axis to ``length``: a waveform [T] or features
    [frames, mel]. Crops from the start, or at a random offset when a ``generator`` is given
    (training-time random crop).

    >>> fix_length(torch.ones(5), 8).tolist()
    [1.0, 1.0, 1.0, 1.0, 1.0, 0.0, 0.0, 0.0]
    >>> fix_length(torch.arange(6.0), 3).tolist()
    [0.0, 1.0, 2.0]
    >>> fix_length(torch.ones(3, 2), 4).shape
    torch.Size([4, 2])
    """
    excess = x.shape[0] - length
    if excess < 0:
        return torch.cat([x, x.new_zeros(-excess, *x.shape[1:])])
    start = 0 if generator is None else int(torch.randint(0, excess + 1, (1,), generator=generator))
    return x[start : start + length]


def check_clips(clips: list[Clip], on_error: str = "raise") -> tuple[list[Clip], list[str]]:
    """Keep the clips whose file exists, reads, is not empty and holds only finite samples (every
    sample is read: about 0.4 s for FSDD's 3,000 files).

    ``on_error="raise"`` stops at the first bad file with an error naming it; ``"skip"`` warns,
    drops it, and returns the dropped paths with their reasons.
    """
    if on_error not in ("raise", "skip"):
        raise ValueError(f"on_error must be 'raise' or 'skip', got {on_error!r}")
    kept, skipped = [], []
    for clip in clips:
        problem = None
        if not clip.path.is_file():
            problem = f"listed in the dataset's metadata but missing on disk: {clip.path}"
        else:
            try:
                samples, _ = sf.read(str(clip.path), dtype="float32")
                if len(samples) == 0:
                    problem = f"audio file {clip.path} is empty (0 samples)"
                elif not np.isfinite(samples).all():
                    problem = f"audio file {clip.path} holds NaN or infinite samples"
            except (sf.LibsndfileError, RuntimeError) as err:
                problem = f"cannot read audio file {clip.path}: {err}"
        if problem is None:
            kept.append(clip)
        elif on_error == "raise":
            raise AudioFileError(
                problem + " (on_error=skip in the run's settings leaves bad files out and lists them in metrics.json)"
            )
        else:
            skipped.append(problem)
    if skipped:
        warnings.warn(f"skipped {len(skipped)} bad audio file(s); first: {skipped[0]}", stacklevel=3)
    return kept, skipped


@dataclass
class AudioDataset(torch.utils.data.Dataset):
    """The labelled clips of one split of one fold, checked (``check_clips``), and the class
    names; ``clip_samples`` is the length every clip is cropped or padded to, and ``skipped``
    lists the files left out with ``on_error="skip"``.

    A ``torch.utils.data.Dataset``: ``dataset[i]`` is clip i's waveform (16 kHz mono, cut or
    zero-padded from its start to ``clip_samples``) and its label, read from disk, so a
    ``DataLoader`` batches it for a reader's own model. The package's training reads ``files``
    into cached features instead (``features.py``); the dataset holds no audio itself.

    >>> import tempfile, os
    >>> f = os.path.join(tempfile.mkdtemp(), "tone.wav")
    >>> sf.write(f, np.ones(8000, dtype="float32") / 4, 16000)
    >>> ds = AudioDataset("d", [Clip(Path(f), 1, "s")], ["a", "b"], clip_samples=16000)
    >>> wave, label = ds[0]
    >>> wave.shape, label, float(wave[-1])
    (torch.Size([16000]), 1, 0.0)
    >>> len(next(iter(torch.utils.data.DataLoader(ds, batch_size=1)))[0][0])
    16000
    """

    name: str
    clips: list[Clip]
    classes: list[str]
    clip_samples: int
    skipped: list[str] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.clips)

    def __getitem__(self, index: int) -> tuple[Tensor, int]:
        clip = self.clips[index]
        return fix_length(read_audio(clip.path), self.clip_samples), clip.label

    @property
    def files(self) -> list[Path]:
        return [clip.path for clip in self.clips]

    @property
    def labels(self) -> Tensor:
        return torch.tensor([clip.label for clip in self.clips])

    @property
    def speakers(self) -> list[str]:
        return [clip.speaker for clip in self.clips]
