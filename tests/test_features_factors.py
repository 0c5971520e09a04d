import math
import os

import numpy as np
import pytest
import soundfile as sf
import torch
from conftest import write_tone

from predefined_prototypes.data import get_dataset
from predefined_prototypes.run import features as features_module
from predefined_prototypes.run.factors import (
    FACTOR_NAMES,
    QuantileDiscretizer,
    file_factors,
    is_valid,
    measure_factors,
    track_pitch,
)
from predefined_prototypes.run.features import FeatureSettings, Normalizer, extract_features, fbank


@pytest.fixture
def tiny_fsdd(tmp_path):
    root = tmp_path / "fsdd"
    for digit in range(3):
        for take in range(2):
            write_tone(
                root / "recordings" / f"{digit}_ann_{take}.wav",
                rate=8000,
                freq=150 + 50 * digit,
                seconds=0.5 + 0.1 * take,
            )
            write_tone(root / "recordings" / f"{digit}_bob_{take}.wav", rate=8000, freq=300, gain=0.05)
    return root


@pytest.fixture
def count_fbank(monkeypatch):
    calls = []
    real = features_module.fbank

    def counting(wave, settings=None):
        calls.append(1)
        return real(wave, settings or FeatureSettings())

    monkeypatch.setattr(features_module, "fbank", counting)
    return calls


@pytest.mark.slow
def test_features_are_fbank_of_whole_clips(tiny_fsdd):
    dataset = get_dataset("fsdd", tiny_fsdd, fold="ann", split="test")
    feats = extract_features(dataset.files, FeatureSettings(num_mel_bins=40))
    assert len(feats) == 6
    from predefined_prototypes.data.audio import read_audio

    for i, clip in enumerate(dataset.clips):
        expected = fbank(read_audio(clip.path), FeatureSettings(num_mel_bins=40))
        assert torch.equal(feats[i], expected)


@pytest.mark.slow
def test_cache_hit_never_recomputes_and_changes_invalidate(tiny_fsdd, count_fbank):
    dataset = get_dataset("fsdd", tiny_fsdd, fold="ann", split="test")
    first = extract_features(dataset.files)
    assert len(count_fbank) == 6
    second = extract_features(dataset.files)
    assert len(count_fbank) == 6 and torch.equal(first.frames, second.frames)
    extract_features(dataset.files, FeatureSettings(num_mel_bins=64))  # a setting changed
    assert len(count_fbank) == 12
    path = dataset.clips[0].path
    write_tone(path, rate=8000, freq=440)  # an input file changed
    os.utime(path, ns=(1, 1))
    changed = extract_features(dataset.files)
    assert len(count_fbank) == 18 and not torch.equal(changed[0], first[0])


@pytest.mark.slow
def test_corrupt_cache_entry_is_rebuilt(tiny_fsdd, count_fbank, tmp_path):
    dataset = get_dataset("fsdd", tiny_fsdd, fold="ann", split="test")
    good = extract_features(dataset.files)
    (entry,) = (tmp_path / "cache").glob("fbank-*.pt")
    entry.write_bytes(entry.read_bytes()[:100])  # truncated, as after a crash or a full disk
    with pytest.warns(UserWarning, match="corrupt"):
        rebuilt = extract_features(dataset.files)
    assert len(count_fbank) == 12 and torch.equal(rebuilt.frames, good.frames)
    assert len(list((tmp_path / "cache").glob("*"))) == 1  # no temporary files left


def test_every_option_that_changes_features_or_factors_changes_the_cache_key(tiny_fsdd, monkeypatch):
    from predefined_prototypes.run import factors as factors_module
    from predefined_prototypes.run.cache import cache_key

    files = get_dataset("fsdd", tiny_fsdd, fold="ann", split="test").files
    keys = {}

    def both_keys():
        return (
            cache_key("fbank", files, features_module.feature_cache_settings(FeatureSettings())),
            cache_key("factors", files, factors_module.factor_cache_settings()),
        )

    keys["before"] = both_keys()
    changes = {
        (features_module, "FBANK_OPTIONS"): {**features_module.FBANK_OPTIONS, "dither": 1.0},
        (features_module, "FEATURES_VERSION"): features_module.FEATURES_VERSION + 1,
        (factors_module, "PITCH_SEARCH_HZ"): (50.0, 400.0),
        (factors_module, "VOICING_CORRELATION"): 0.5,
        (factors_module, "VOICING_FLOOR_DB"): -40.0,
        (factors_module, "MIN_VOICED_FRAMES"): 5,
        (factors_module, "PITCH_RANGE_HZ"): (60.0, 400.0),
        (factors_module, "LOUDNESS_RANGE_LUFS"): (-70.0, 0.0),
        (factors_module, "LOUDNESS_GATE_SECONDS"): 0.2,
        (factors_module, "FACTORS_VERSION"): factors_module.FACTORS_VERSION + 1,
        (features_module.torchaudio, "__version__"): "0.0.0",
    }
    for (module, name), value in changes.items():
        with monkeypatch.context() as patch:
            patch.setattr(module, name, value)
            keys[name] = both_keys()
    for name, (fbank_key, factor_key) in keys.items():
        if name == "before":
            continue
        changed = {"fbank": fbank_key != keys["before"][0], "factors": factor_key != keys["before"][1]}
        if name in ("FBANK_OPTIONS", "FEATURES_VERSION"):
            assert changed == {"fbank": True, "factors": False}, name
        elif name == "__version__":
            assert changed == {"fbank": True, "factors": True}, name
        else:
            assert changed == {"fbank": False, "factors": True}, name


@pytest.mark.slow
def test_unwritable_cache_runs_without_it_and_warns_once(tiny_fsdd, tmp_path, monkeypatch, count_fbank):
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("")
    monkeypatch.setenv("PP_CACHE_DIR", str(blocker / "cache"))  # cannot be created, even by root
    dataset = get_dataset("fsdd", tiny_fsdd, fold="ann", split="test")
    with pytest.warns(UserWarning, match="not writable.*running without a cache") as caught:
        first = extract_features(dataset.files)
        second = extract_features(dataset.files)
    assert len([w for w in caught if "not writable" in str(w.message)]) == 1
    assert torch.equal(first.frames, second.frames) and len(count_fbank) == 12


@pytest.mark.slow
def test_normalizer_uses_training_statistics_only(tiny_fsdd):
    train = extract_features(get_dataset("fsdd", tiny_fsdd, fold="ann", split="train").files)
    test = extract_features(get_dataset("fsdd", tiny_fsdd, fold="ann", split="test").files)
    norm = Normalizer.fit(train.frames)
    assert norm.mean == pytest.approx(train.frames.mean().item())
    assert norm.mean != pytest.approx(test.frames.mean().item())
    normalised = norm(train.frames)
    assert normalised.mean().abs() < 1e-4 and normalised.std(correction=0) == pytest.approx(0.5, abs=1e-4)


def _tone(freq, seconds=2.0, gain=0.3, rate=16000):
    t = torch.arange(int(seconds * rate)) / rate
    return gain * torch.sin(2 * math.pi * freq * t)


@pytest.mark.parametrize("freq", [110.0, 150.0, 220.0])
def test_pitch_of_a_tone_within_two_percent(freq):
    measured = measure_factors(_tone(freq), 16000)
    assert measured["pitch_median"] == pytest.approx(freq, rel=0.02)
    assert measured["pitch_std"] < 0.05 * freq


@pytest.mark.slow
def test_six_db_gain_reads_six_lu_louder():
    quiet = measure_factors(_tone(220, gain=0.1), 16000)["loudness"]
    loud = measure_factors(_tone(220, gain=0.1 * 10 ** (6 / 20)), 16000)["loudness"]
    assert loud - quiet == pytest.approx(6.0, abs=0.05)


def test_clip_shorter_than_loudness_gate_is_invalid():
    measured = measure_factors(_tone(220, seconds=0.3), 16000)
    assert math.isnan(measured["loudness"]) and not is_valid(measured)


def test_high_voice_is_measured_and_then_filtered_out():
    # The authors' detector dropped frames above 275 Hz, so their 85-275 Hz filter never fired;
    # here a 400 Hz voice reads 400 Hz and the filter removes it.
    measured = measure_factors(_tone(400), 16000)
    assert measured["pitch_median"] == pytest.approx(400, rel=0.02)
    assert not is_valid(measured)


@pytest.mark.slow
def test_pitch_statistics_cover_voiced_frames_only():
    # A tone, then silence, then white noise: only the tone's frames are voiced, so the spread
    # is that of the steady tone, not of whatever the detector reads in silence and noise.
    noise = 0.05 * torch.randn(16000, generator=torch.Generator().manual_seed(0))
    mixed = torch.cat([_tone(180, seconds=1.0), torch.zeros(8000), noise])
    pitch, voiced = track_pitch(mixed, 16000)
    assert voiced[:80].float().mean() > 0.9 and voiced[110:].float().mean() < 0.1
    measured = measure_factors(mixed, 16000)
    assert measured["pitch_median"] == pytest.approx(180, rel=0.01) and measured["pitch_std"] < 2


def test_noise_alone_has_no_pitch():
    noise = 0.1 * torch.randn(32000, generator=torch.Generator().manual_seed(1))
    measured = measure_factors(noise, 16000)
    assert math.isnan(measured["pitch_median"]) and not is_valid(measured)


@pytest.mark.slow
def test_factors_describe_the_crop_the_model_sees(tmp_path):
    # 3 s at 150 Hz then 3 s at 250 Hz: measured on the first 3 s (the evaluation crop), 150 Hz.
    first = write_tone(tmp_path / "a.wav", seconds=3.0, freq=150.0)
    second = write_tone(tmp_path / "b.wav", seconds=3.0, freq=250.0)
    joined = np.concatenate([sf.read(first)[0], sf.read(second)[0]])
    sf.write(tmp_path / "ab.wav", joined.astype("float32"), 16000)
    values, _ = file_factors([tmp_path / "ab.wav"], clip_samples=48000, cache=False)
    assert values[0, 0].item() == pytest.approx(150, rel=0.02)
    whole, _ = file_factors([tmp_path / "ab.wav"], clip_samples=96000, cache=False)
    assert whole[0, 1].item() > 30  # the whole recording spans both pitches


def test_validity_filter():
    assert is_valid({"pitch_median": 180.0, "pitch_std": 1.0, "loudness": -20.0})
    assert not is_valid({"pitch_median": 300.0, "pitch_std": 1.0, "loudness": -20.0})
    assert not is_valid({"pitch_median": 80.0, "pitch_std": 1.0, "loudness": -20.0})
    assert not is_valid({"pitch_median": 180.0, "pitch_std": 1.0, "loudness": -60.0})
    assert not is_valid({"pitch_median": math.nan, "pitch_std": 1.0, "loudness": -20.0})


@pytest.mark.slow
def test_dataset_factors_cached_and_filtered(tiny_fsdd):
    test = get_dataset("fsdd", tiny_fsdd, fold="bob", split="test")
    values, valid = file_factors(test.files, clip_samples=8000)
    assert values.shape == (6, len(FACTOR_NAMES))
    assert not valid.any()  # 300 Hz tones: median pitch above 275 Hz
    ann = get_dataset("fsdd", tiny_fsdd, fold="ann", split="test")
    values, valid = file_factors(ann.files, clip_samples=8000)
    assert valid.all()
    assert values[:, 0].tolist() == pytest.approx([150, 150, 200, 200, 250, 250], rel=0.03)


def test_discretizer_cut_points_depend_on_training_split_only():
    gen = torch.Generator().manual_seed(0)
    train = torch.randn(600, 3, generator=gen)
    test_a = torch.randn(50, 3, generator=gen) + 5
    test_b = torch.randn(50, 3, generator=gen) - 5
    d = QuantileDiscretizer(levels=6).fit(train)
    cuts = [c.copy() for c in d.cut_points]
    d.transform(test_a), d.transform(test_b)
    assert all((a == b).all() for a, b in zip(cuts, d.cut_points))
    refit = QuantileDiscretizer(levels=6).fit(torch.cat([train, test_a]))
    assert not all((a == b).all() for a, b in zip(cuts, refit.cut_points))
    levels = d.transform(train)
    assert levels.min() == 0 and levels.max() == 5
    counts = torch.bincount(levels[:, 0], minlength=6)
    assert (counts == 100).all()  # equally populated on the training split
    assert (d.transform(test_a) == 5).float().mean() > 0.9


def test_discretizer_levels_validated_and_per_factor():
    with pytest.raises(ValueError, match="between 2 and 8"):
        QuantileDiscretizer(levels=9)
    d = QuantileDiscretizer(levels=[2, 4]).fit(torch.arange(40.0).reshape(20, 2))
    assert [len(c) for c in d.cut_points] == [1, 3]
    with pytest.raises(RuntimeError, match="fit"):
        QuantileDiscretizer(3).transform(torch.zeros(2, 1))


@pytest.mark.slow
def test_real_emodb_factors_mostly_valid(emodb_root):
    test = get_dataset("emodb", emodb_root, fold="03", split="test", classes=4)
    values, valid = file_factors(test.files, clip_samples=test.clip_samples)
    assert valid.float().mean() > 0.9  # speaker 03 is a man: voices well inside 85-275 Hz
    assert ((values[valid, 2] > -50) & (values[valid, 2] < 0)).all()
    # Over every speaker the filter does remove voices: women's anger and joy rise above 275 Hz.
    every = get_dataset("emodb", emodb_root, fold="03", split="train", classes=4)
    values, valid = file_factors(every.files, clip_samples=every.clip_samples)
    assert 0.05 < 1 - valid.float().mean() < 0.5
    assert (values[~valid, 0] > 275).any()
