"""Training-time augmentation: SpecAugment masks on features and waveform mixup."""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from ..data.audio import fix_length, read_audio
from .features import FeatureSettings, Normalizer, fbank_batch
from .splits import Split


def spec_augment(x: Tensor, generator: torch.Generator) -> Tensor:
    """Two frequency masks (up to 1/8 of the bins) and two time masks (up to 1/10 of the frames)
    per example, on normalised features (masked to 0, the training mean)."""
    batch, frames, bins = x.shape
    x = x.clone()
    for axis, size, width in ((2, bins, max(bins // 8, 1)), (1, frames, max(frames // 10, 1))):
        for _ in range(2):
            w = torch.randint(0, width + 1, (batch,), generator=generator)
            start = (torch.rand(batch, generator=generator) * (size - w)).long()
            positions = torch.arange(size)
            mask = (positions >= start[:, None]) & (positions < (start + w)[:, None])
            x.masked_fill_(mask[:, None, :] if axis == 2 else mask[:, :, None], 0.0)
    return x


class Mixer:
    """Waveform mixup (p, Beta(10, 10)) as in the authors' Speech Commands setup: mix two
    waveforms, recompute their features, and mix their one-hot labels the same way."""

    def __init__(
        self,
        split: Split,
        probability: float,
        num_frames: int,
        settings: FeatureSettings,
        normalize: Normalizer,
        num_classes: int,
        generator: torch.Generator,
    ):
        self.waves = [read_audio(c.path) for c in split.dataset.clips]
        self.samples, self.probability = split.dataset.clip_samples, probability
        self.num_frames, self.settings, self.normalize = num_frames, settings, normalize
        self.num_classes, self.generator = num_classes, generator
        self.rng = np.random.default_rng(int(torch.randint(0, 2**31, (1,), generator=generator)))

    def __call__(self, index: Tensor, labels: Tensor, features: Tensor) -> tuple[Tensor, Tensor]:
        target = F.one_hot(labels, self.num_classes).float()
        if torch.rand(1, generator=self.generator).item() >= self.probability:
            return features, target
        weight = float(self.rng.beta(10.0, 10.0))
        partner = torch.randperm(len(index), generator=self.generator)
        waves = []
        for i, j in zip(index.tolist(), index[partner].tolist()):
            a = fix_length(self.waves[i], self.samples, self.generator)
            b = fix_length(self.waves[j], self.samples, self.generator)
            waves.append(weight * a + (1 - weight) * b)
        features = self.normalize(fbank_batch(torch.stack(waves), self.settings))
        return fix_length(features.transpose(0, 1), self.num_frames).transpose(0, 1), (
            weight * target + (1 - weight) * target[partner]
        )
