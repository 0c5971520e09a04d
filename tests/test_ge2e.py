"""The pretrained GE2E encoder: its shipped weights load offline, and its front end and embedding
agree with the package's own code on real clips.

Tolerances, derived: both front ends compute the same float32 sums (a 400-point FFT, then 40 mel
weightings) with different FFT libraries; float32 rounding (u = 6e-8) over the ~9 butterfly stages
and the band sums bounds the relative difference of a mel band near 1e-6, whatever the vector
width of the kernels. The test allows 1e-5 (measured here: at most 7e-7). The embedding goes
through the same weights; its gates' derivatives are at most 1, so the relative input difference
reaches the unit-norm embedding about unchanged: 1e-5 again (measured: at most 5e-7).
"""

import os

import numpy as np
import pytest
import torch
from conftest import shared_dataset

from predefined_prototypes.data.audio import read_audio
from predefined_prototypes.run.backbones import GE2EOptions
from predefined_prototypes.run.config import ConfigError, RunConfig
from predefined_prototypes.run.features import FeatureSettings, ge2e_mel
from predefined_prototypes.run.models import GE2E, Model, build_backbone
from predefined_prototypes.run.train import parameter_groups

MEL_TOLERANCE = 1e-5  # relative to the clip's largest band
EMBEDDING_TOLERANCE = 1e-5  # on a unit-norm embedding


@pytest.fixture(scope="module")
def package():
    """resemblyzer's own encoder and front end (the [pretrained] extra; required in CI)."""
    if os.environ.get("CI"):
        import resemblyzer
    else:
        resemblyzer = pytest.importorskip("resemblyzer", reason="pip install 'predefined-prototypes[pretrained]'")
    return resemblyzer.VoiceEncoder("cpu", verbose=False), resemblyzer.audio


@pytest.mark.slow
@pytest.mark.parametrize("corpus, pattern", [("ravdess", "Actor_02/*.flac"), ("emodb", "wav/*.wav")])
def test_front_end_and_embedding_match_the_package(package, corpus, pattern):
    encoder, audio = package
    ours = GE2E(256).eval()
    for path in sorted(shared_dataset(corpus).glob(pattern))[:3]:
        wave = read_audio(path)
        theirs = audio.wav_to_mel_spectrogram(audio.normalize_volume(wave.numpy(), -30, increase_only=True))
        mel = ge2e_mel(wave).numpy()
        assert mel.shape == theirs.shape
        assert np.abs(mel - theirs).max() / np.abs(theirs).max() < MEL_TOLERANCE
        with torch.no_grad():
            expected = encoder(torch.from_numpy(theirs[None, :160])).numpy()[0]
            embedding = ours.embed(torch.from_numpy(mel[None, :160])).numpy()[0]
        assert np.abs(embedding - expected).max() < EMBEDDING_TOLERANCE


def test_quiet_clips_are_raised_to_the_encoders_level_and_loud_ones_kept():
    """The volume normalisation raises a clip to -30 dBFS, never lowers it: a quiet tone and the same
    tone at -30 dBFS give the same features; a loud one keeps its level."""
    t = torch.arange(16000) / 16000
    tone = torch.sin(2 * torch.pi * 220 * t)
    at_target = tone * (10 ** (-30 / 20) / tone.pow(2).mean().sqrt())
    assert torch.allclose(ge2e_mel(at_target / 10), ge2e_mel(at_target), rtol=1e-4, atol=1e-9)
    assert torch.allclose(ge2e_mel(at_target * 10), 100 * ge2e_mel(at_target), rtol=1e-4, atol=1e-9)
    assert FeatureSettings(40, front_end="ge2e").frames(16000) == len(ge2e_mel(tone))


def test_fine_tuning_trains_the_encoder_slower_and_the_probe_not_at_all():
    fine = Model(build_backbone("ge2e", 40, 160, 256, GE2EOptions(encoder_lr=1e-4)), 256, 8)
    groups = parameter_groups(fine, torch.nn.Module(), 1e-3)
    # the pretrained LSTM and projection (z is the projection: no new layer at k = 256), then the classifier
    assert [g["lr"] for g in groups] == [1e-4, 1e-3]
    assert sum(p.numel() for g in groups for p in g["params"]) == sum(p.numel() for p in fine.parameters())
    assert [g["lr"] for g in build_backbone("ge2e", 40, 160, 32).parameter_groups(1e-3)] == [1e-3, 1e-3]
    probe = build_backbone("ge2e", 40, 160, 256, GE2EOptions(freeze=True))
    assert probe.parameter_groups(1e-3) == []
    x = torch.rand(3, 160, 40)
    assert torch.allclose(probe(x).norm(dim=1), torch.ones(3))  # the package's unit-norm embedding
    assert (probe(x) >= 0).all()


def test_the_configuration_refuses_what_the_encoder_cannot_read():
    with pytest.raises(ConfigError, match="40 mel bands"):
        RunConfig(backbone="ge2e", num_mel_bins=128)
    with pytest.raises(ConfigError, match="mixup"):
        RunConfig.from_dict(dict(backbone="ge2e", mixup=0.5, loss="ce"))
    with pytest.raises(ConfigError, match="linear probe"):
        RunConfig.from_dict(dict(backbone="ge2e", loss="prototypes", backbone_options={"freeze": True}))
    with pytest.raises(ConfigError, match="encoder_lr must be > 0"):
        RunConfig.from_dict(dict(backbone="ge2e", backbone_options={"encoder_lr": -1}))
    with pytest.raises(ConfigError, match="backbone=ge2e: unknown option"):
        RunConfig.from_dict(dict(backbone="ge2e", backbone_options={"layers": 2}))
    assert RunConfig(backbone="ge2e", embed_dim=256).front_end == "ge2e"


def test_missing_package_is_one_line_naming_it(monkeypatch):
    import importlib.util

    monkeypatch.setattr(importlib.util, "find_spec", lambda name: None)
    with pytest.raises(ImportError, match=r"resemblyzer wheel, which is not installed: pip install") as err:
        GE2E(256)
    assert "\n" not in str(err.value)


def test_training_reads_partial_windows_and_evaluation_every_frame():
    """With partial_frames a training step reads a random 160-frame window of each clip: a change at
    frame 200 reaches exactly the clips whose window covers it; evaluation reads every frame."""
    encoder = build_backbone("ge2e", 40, 400, 256, GE2EOptions(partial_frames=160))
    x = torch.rand(8, 400, 40)
    changed = x.clone()
    changed[:, 200] += 1.0
    torch.manual_seed(1)
    starts = torch.randint(0, 400 - 160 + 1, (8, 1)).flatten()
    covers = (starts <= 200) & (200 < starts + 160)
    assert 0 < covers.sum() < 8  # the seed draws windows of both kinds
    with torch.no_grad():
        torch.manual_seed(1)
        before = encoder.train()(x)
        torch.manual_seed(1)
        after = encoder(changed)
        assert torch.equal((before != after).any(dim=1), covers)
        encoder.eval()
        assert (encoder(x) != encoder(changed)).any(dim=1).all()
    with pytest.raises(ConfigError, match="partial_frames must be >= 0"):
        RunConfig.from_dict(dict(backbone="ge2e", backbone_options={"partial_frames": -1}))
