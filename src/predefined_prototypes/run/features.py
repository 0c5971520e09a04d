"""Features of each clip, computed once per clip set and cached: Kaldi filterbanks normalised with
training statistics only (every backbone trained here), or the mel power spectrogram the GE2E speaker
encoder was trained on (``ge2e_mel``), unnormalised, as that encoder expects.

Each clip's features cover the whole recording; a fixed number of frames is cut at batch time
(random crop in training), so one cache entry serves every crop length.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path

import torch
import torchaudio
from torch import Tensor
from tqdm import tqdm

from ..data.audio import SAMPLE_RATE, read_audio
from .cache import cache_key, cached

# Changed whenever the code below changes what it computes: old cache entries are then not read.
FEATURES_VERSION = 1
# Kaldi options fixed for every run, as AST and the authors set them.
FBANK_OPTIONS = {"htk_compat": True, "window_type": "hanning", "use_energy": False, "dither": 0.0}


@dataclass(frozen=True)
class FeatureSettings:
    """Feature settings; the paper uses 128 mel bins, 25 ms windows, 10 ms hop. ``front_end``:
    "fbank" (Kaldi's, frames inside the clip) or "ge2e" (``ge2e_mel``, centred frames)."""

    num_mel_bins: int = 128
    frame_length_ms: float = 25.0
    frame_shift_ms: float = 10.0
    front_end: str = "fbank"

    def frames(self, num_samples: int) -> int:
        """Frames that a clip of ``num_samples`` samples at 16 kHz yields.

        >>> FeatureSettings().frames(16000), FeatureSettings(40, front_end="ge2e").frames(16000)
        (98, 101)
        """
        window = round(SAMPLE_RATE * self.frame_length_ms / 1000)
        hop = round(SAMPLE_RATE * self.frame_shift_ms / 1000)
        if self.front_end == "ge2e":
            return 1 + num_samples // hop
        return 1 + (num_samples - window) // hop if num_samples >= window else 0


def fbank(wave: Tensor, settings: FeatureSettings = FeatureSettings()) -> Tensor:
    """Log mel filterbank [frames, mel] of a 16 kHz waveform [T], as AST and the authors compute it.

    >>> fbank(torch.randn(16000)).shape
    torch.Size([98, 128])
    """
    return torchaudio.compliance.kaldi.fbank(
        wave.unsqueeze(0),
        sample_frequency=SAMPLE_RATE,
        num_mel_bins=settings.num_mel_bins,
        frame_length=settings.frame_length_ms,
        frame_shift=settings.frame_shift_ms,
        **FBANK_OPTIONS,
    )


# The GE2E encoder's training front end (resemblyzer 0.1.4's ``audio.py`` and ``hparams.py``): a
# clip quieter than -30 dBFS is raised to it (never lowered), then librosa's mel power spectrogram:
# 25 ms periodic Hann windows every 10 ms, centred with zero padding, Slaney mel scale and area
# normalisation, power 2, no log. (Its voice-activity trimming of long pauses is left out: it
# needs webrtcvad, and every clip here is one short utterance.)
GE2E_TARGET_DBFS = -30.0


def ge2e_mel(wave: Tensor, settings: FeatureSettings = FeatureSettings(40, front_end="ge2e")) -> Tensor:
    """The GE2E encoder's mel power spectrogram [frames, mel] of a 16 kHz waveform [T].

    >>> ge2e_mel(torch.randn(16000) * 0.01).shape
    torch.Size([101, 40])
    """
    rms = wave.pow(2).mean().sqrt()
    gain = 10 ** ((GE2E_TARGET_DBFS - 20 * torch.log10(rms.clamp(min=1e-12))) / 20)
    wave = wave * gain.clamp(min=1.0) if rms > 0 else wave
    window = round(SAMPLE_RATE * settings.frame_length_ms / 1000)
    mel = torchaudio.transforms.MelSpectrogram(
        sample_rate=SAMPLE_RATE,
        n_fft=window,
        hop_length=round(SAMPLE_RATE * settings.frame_shift_ms / 1000),
        n_mels=settings.num_mel_bins,
        power=2.0,
        norm="slaney",
        mel_scale="slaney",
        center=True,
        pad_mode="constant",
    )
    return mel(wave).T


# Each front end by name, and whether its features are normalised with the training split's
# statistics (the fbank, as the authors and AST do) or left as the encoder expects them.
FRONT_ENDS = {"fbank": True, "ge2e": False}


def features_of(wave: Tensor, settings: FeatureSettings) -> Tensor:
    """A waveform's features [frames, mel] with the front end ``settings`` names."""
    return {"fbank": fbank, "ge2e": ge2e_mel}[settings.front_end](wave, settings)


def fbank_batch(waves: Tensor, settings: FeatureSettings = FeatureSettings()) -> Tensor:
    """``fbank`` of a batch of equal-length waveforms [B, T] at once: [B, frames, mel]. The same
    steps as Kaldi's (frames without padding, DC offset removed, pre-emphasis 0.97, a symmetric
    Hann window, a power spectrum of the next power of two, log mel energies) as one tensor
    computation, which waveform mixup needs every batch (one ``fbank`` call per clip costs ~15x
    a training step).

    >>> waves = torch.randn(3, 16000)
    >>> batch = fbank_batch(waves, FeatureSettings(40))
    >>> batch.shape, bool(torch.allclose(batch[1], fbank(waves[1], FeatureSettings(40)), atol=1e-3))
    (torch.Size([3, 98, 40]), True)
    """
    window = round(SAMPLE_RATE * settings.frame_length_ms / 1000)
    hop = round(SAMPLE_RATE * settings.frame_shift_ms / 1000)
    padded = 1 << (window - 1).bit_length()
    frames = waves.unfold(1, window, hop)  # [B, m, window]
    frames = frames - frames.mean(dim=2, keepdim=True)
    previous = torch.cat([frames[..., :1], frames[..., :-1]], dim=2)
    frames = (frames - 0.97 * previous) * torch.hann_window(window, periodic=False, dtype=waves.dtype)
    power = torch.fft.rfft(frames, n=padded).abs().pow(2.0)
    banks, _ = torchaudio.compliance.kaldi.get_mel_banks(
        settings.num_mel_bins, padded, float(SAMPLE_RATE), 20.0, 0.0, 100.0, -500.0, 1.0
    )
    banks = torch.nn.functional.pad(banks.to(waves.dtype), (0, 1))
    return (power @ banks.T).clamp(min=torch.finfo(waves.dtype).eps).log()


def feature_cache_settings(settings: FeatureSettings) -> dict:
    """Everything that changes the cached features besides the files themselves (the fbank's as
    before front ends were named, so its cache entries stay valid)."""
    named = asdict(settings)
    if named["front_end"] == "fbank":
        del named["front_end"]
    return {
        **named,
        **FBANK_OPTIONS,
        "sample_rate": SAMPLE_RATE,
        "version": FEATURES_VERSION,
        "torchaudio": torchaudio.__version__,
    }


@dataclass
class ClipFeatures:
    """Variable-length features of N clips, packed: clip i is ``frames[offsets[i]:offsets[i+1]]``."""

    frames: Tensor  # [total_frames, mel]
    offsets: Tensor  # [N + 1]

    def __len__(self) -> int:
        return len(self.offsets) - 1

    def __getitem__(self, index: int) -> Tensor:
        return self.frames[self.offsets[index] : self.offsets[index + 1]]


def extract_features(
    files: list[Path], settings: FeatureSettings = FeatureSettings(), cache: bool = True, desc: str = "fbank"
) -> ClipFeatures:
    """Fbank features of every file (whole recordings), from the cache when the same files and
    settings were seen before. Pass a dataset's clips of every fold at once (as ``run`` does) so
    one cache entry serves all folds."""

    def compute() -> dict[str, Tensor]:
        # Recordings shorter than one window still get one (zero-padded) frame.
        window = round(SAMPLE_RATE * settings.frame_length_ms / 1000)
        per_clip = []
        for path in tqdm(files, desc=desc, leave=False, mininterval=2.0):
            wave = read_audio(path)
            if len(wave) < window:
                wave = torch.nn.functional.pad(wave, (0, window - len(wave)))
            per_clip.append(features_of(wave, settings))
        lengths = torch.tensor([0] + [len(f) for f in per_clip])
        return {"frames": torch.cat(per_clip), "offsets": lengths.cumsum(0)}

    key = cache_key("fbank", files, feature_cache_settings(settings))  # the name covers every front end
    entry = cached("fbank", key, compute, enabled=cache)
    if len(entry["offsets"]) != len(files) + 1 or entry["offsets"][-1] != len(entry["frames"]):
        raise RuntimeError("feature cache entry is inconsistent; delete it and rerun")
    return ClipFeatures(entry["frames"], entry["offsets"])


@dataclass(frozen=True)
class Normalizer:
    """``(x - mean) / (2 * std)`` with one mean and std over all training frames, as the
    authors (and AST) normalise.

    >>> norm = Normalizer.fit(torch.tensor([[1.0], [3.0]]))
    >>> norm.mean, norm.std, norm(torch.tensor([3.0])).item()
    (2.0, 1.0, 0.5)
    """

    mean: float
    std: float

    @classmethod
    def fit(cls, training_frames: Tensor) -> Normalizer:
        """From the frames [total_frames, mel] of the training split's clips."""
        return cls(training_frames.mean().item(), training_frames.std(correction=0).item())

    @classmethod
    def for_front_end(cls, settings: FeatureSettings, training_frames: Tensor) -> Normalizer:
        """``fit`` where the front end is normalised, else the identity (mean 0, std 1/2)."""
        return cls.fit(training_frames) if FRONT_ENDS[settings.front_end] else cls(0.0, 0.5)

    def __call__(self, x: Tensor) -> Tensor:
        return (x - self.mean) / (2 * self.std)
