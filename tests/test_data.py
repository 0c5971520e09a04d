"""Loaders against the real offline corpora and against small trees in each official layout."""

import collections
import re

import pytest
import torch
from conftest import write_esc50_tree, write_iemocap_tree, write_speech_commands_tree, write_tone

from predefined_prototypes.data import DATASETS, folds, get_dataset
from predefined_prototypes.data.audio import AudioFileError, read_audio

# --- the real corpora -------------------------------------------------------------------------


@pytest.mark.slow
def test_fsdd_counts_speakers_and_folds(fsdd_root):
    assert folds("fsdd", fsdd_root) == ["george", "jackson", "lucas", "nicolas", "theo", "yweweler", "official"]
    train = get_dataset("fsdd", fsdd_root, fold="theo", split="train")
    test = get_dataset("fsdd", fsdd_root, fold="theo", split="test")
    assert len(train) + len(test) == 3000 and len(test) == 500
    assert set(test.speakers) == {"theo"} and "theo" not in set(train.speakers)
    labels = torch.cat([train.labels, test.labels])
    assert collections.Counter(labels.tolist()) == {d: 300 for d in range(10)}
    official = get_dataset("fsdd", fsdd_root, fold="official", split="test")
    assert len(official) == 300  # takes 0-4 of 10 digits x 6 speakers
    assert official.clip_samples == 16000 and all(f.suffix == ".wav" for f in official.files)


@pytest.mark.slow
def test_emodb_counts_classes_and_speakers(emodb_root):
    ids = folds("emodb", emodb_root)
    assert ids == ["03", "08", "09", "10", "11", "12", "13", "14", "15", "16"]
    every = [get_dataset("emodb", emodb_root, fold=f, split="test") for f in ids]
    assert sum(len(d) for d in every) == 535
    counts = collections.Counter(d.classes[label] for d in every for label in d.labels.tolist())
    assert counts == {
        "anger": 127,
        "boredom": 81,
        "neutral": 79,
        "happiness": 71,
        "fear": 69,
        "sadness": 62,
        "disgust": 46,
    }
    four = sum(len(get_dataset("emodb", emodb_root, fold=f, split="test", classes=4)) for f in ids)
    assert four == 339
    test03 = get_dataset("emodb", emodb_root, fold="03", split="test")
    by_name = {c.path.name: test03.classes[c.label] for c in test03.clips}
    assert by_name["03a01Fa.wav"] == "happiness"
    train = get_dataset("emodb", emodb_root, fold="03", split="train")
    assert "03" not in set(train.speakers) and len(train) + len(test03) == 535
    assert train.clip_samples == 48000  # 3 s at 16 kHz


def test_fsdd_resampled_from_8k(fsdd_root):
    clip = get_dataset("fsdd", fsdd_root, fold="official", split="test", clip_seconds=3.0).clips[0]
    import soundfile as sf

    assert sf.info(str(clip.path)).samplerate == 8000
    assert len(read_audio(clip.path)) == 2 * sf.info(str(clip.path)).frames


# --- small trees in each official layout --------------------------------------------------------


@pytest.fixture
def esc50_tree(tmp_path):
    return write_esc50_tree(tmp_path)


def test_esc50_layout(esc50_tree):
    assert folds("esc50", esc50_tree) == [1, 2, 3, 4, 5]
    test = get_dataset("esc50", esc50_tree, fold=2, split="test")
    train = get_dataset("esc50", esc50_tree, fold=2, split="train")
    assert test.classes == ["dog", "rooster", "rain"]  # category, ordered by target
    assert len(test) == 3 and len(train) == 12
    assert all(c.path.name.startswith("2-") for c in test.clips)
    assert test.clip_samples == 5 * 16000
    esc10 = get_dataset("esc50", esc50_tree, fold=1, split="train", esc10=True)
    assert esc10.classes == ["dog", "rain"] and len(esc10) == 8


def test_a_runs_dataset_options_reach_its_splits(esc50_tree):
    from predefined_prototypes.run.config import RunConfig
    from predefined_prototypes.run.splits import prepare_splits

    config = RunConfig(dataset="esc50", data_dir=str(esc50_tree), fold="1", dataset_options={"esc10": True})
    splits, info = prepare_splits(config)
    assert info["classes"] == ["dog", "rain"] and len(splits["train"].labels) == 8


@pytest.fixture
def speech_commands_tree(tmp_path):
    return write_speech_commands_tree(tmp_path)


def test_speech_commands_layout(speech_commands_tree):
    assert folds("speech_commands", speech_commands_tree) == [None]
    splits = {s: get_dataset("speech_commands", speech_commands_tree, split=s) for s in ("train", "validation", "test")}
    assert splits["train"].classes == ["no", "up", "yes"]  # no _background_noise_
    assert [len(splits[s]) for s in ("train", "validation", "test")] == [5, 2, 2]
    assert {c.path.name for c in splits["test"].clips} == {"0c2ca723_nohash_0.wav"}
    assert set(splits["validation"].speakers) == {"0b09edd3"}
    assert splits["test"].classes[splits["test"].clips[0].label] == "up"


@pytest.fixture
def iemocap_tree(tmp_path):
    return write_iemocap_tree(tmp_path)


def test_iemocap_layout(iemocap_tree):
    assert folds("iemocap", iemocap_tree) == [1, 2, 3, 4, 5]
    test = get_dataset("iemocap", iemocap_tree, fold=3, split="test")
    assert test.classes == ["neu", "hap", "ang", "sad"]
    assert len(test) == 4  # neu, ang, sad, hap; exc and fru are not classes
    assert set(test.speakers) == {"Ses03F", "Ses03M"}
    assert len(get_dataset("iemocap", iemocap_tree, fold=3, split="train")) == 16
    merged = get_dataset("iemocap", iemocap_tree, fold=3, split="test", merge_excited=True)
    assert sorted(merged.classes[c.label] for c in merged.clips) == ["ang", "hap", "hap", "neu", "sad"]
    assert test.clip_samples == 41200


def test_fsdd_and_emodb_layouts_from_tiny_trees(tmp_path):
    fsdd = tmp_path / "fsdd"
    for take in range(6):
        write_tone(fsdd / "recordings" / f"7_ann_{take}.wav", rate=8000)
        write_tone(fsdd / "recordings" / f"3_bob_{take}.wav", rate=8000)
    assert folds("fsdd", fsdd) == ["ann", "bob", "official"]
    assert len(get_dataset("fsdd", fsdd, fold="official", split="test")) == 10
    assert get_dataset("fsdd", fsdd, fold="ann", split="test").labels.tolist() == [7] * 6
    emodb = tmp_path / "emodb"
    for name in ("03a01Fa", "03a01Nc", "08b02Wa", "08b02Ea"):
        write_tone(emodb / "wav" / f"{name}.wav")
    test = get_dataset("emodb", emodb, fold="08", split="test", classes=4)
    assert [test.classes[c.label] for c in test.clips] == ["anger"]  # disgust is not in the 4


# --- errors a user can act on ---------------------------------------------------------------------


def test_missing_root_names_dataset_layout_and_download(tmp_path):
    with pytest.raises(FileNotFoundError) as err:
        get_dataset("fsdd", tmp_path / "nowhere", fold="official")
    text = str(err.value)
    assert "fsdd" in text and "recordings/{digit}_{speaker}_{take}.wav" in text
    assert "python -m predefined_prototypes data download fsdd" in text
    with pytest.raises(FileNotFoundError, match="licence"):
        get_dataset("iemocap", tmp_path / "nowhere", fold=1)


def test_default_root_comes_from_pp_data_dir(tmp_path, monkeypatch):
    write_tone(tmp_path / "fsdd" / "recordings" / "1_ann_0.wav", rate=8000)
    monkeypatch.setenv("PP_DATA_DIR", str(tmp_path))
    assert folds("fsdd") == ["ann", "official"]


def test_unknown_dataset_fold_split_and_class_set(esc50_tree, tmp_path):
    with pytest.raises(ValueError, match=re.escape(f"valid: {sorted(DATASETS)}")):
        get_dataset("esc", esc50_tree, fold=1)
    with pytest.raises(ValueError, match=r"unknown fold 6 .* valid: \[1, 2, 3, 4, 5\]"):
        get_dataset("esc50", esc50_tree, fold=6)
    with pytest.raises(ValueError, match="valid: \\['train', 'test'\\]"):
        get_dataset("esc50", esc50_tree, fold=1, split="validation")
    emodb = tmp_path / "emodb"
    write_tone(emodb / "wav" / "03a01Fa.wav")
    with pytest.raises(ValueError, match=r"emodb option classes=5 is not valid; valid: 7, 4"):
        get_dataset("emodb", emodb, fold="03", classes=5)
    with pytest.raises(ValueError, match=r"esc50 has no option\(s\) classes; its options: esc10"):
        get_dataset("esc50", esc50_tree, fold=1, classes=4)


def test_file_in_metadata_but_missing_on_disk(esc50_tree):
    missing = esc50_tree / "audio" / "3-101-A-1.wav"
    missing.unlink()
    with pytest.raises(AudioFileError, match="3-101-A-1.wav"):
        get_dataset("esc50", esc50_tree, fold=1, split="train")
    with pytest.warns(UserWarning, match="skipped 1 bad audio file"):
        train = get_dataset("esc50", esc50_tree, fold=1, split="train", on_error="skip")
    assert len(train) == 11 and len(train.skipped) == 1 and "3-101-A-1.wav" in train.skipped[0]


@pytest.mark.parametrize("content", [b"", b"this is not a wav file at all"])
def test_unreadable_or_empty_wav_is_named(tmp_path, content):
    root = tmp_path / "fsdd"
    write_tone(root / "recordings" / "1_ann_0.wav", rate=8000)
    (root / "recordings" / "2_ann_1.wav").write_bytes(content)
    with pytest.raises(AudioFileError, match="2_ann_1.wav"):
        get_dataset("fsdd", root, fold="ann", split="test")


def test_wav_with_zero_samples_is_named(tmp_path):
    import numpy as np
    import soundfile as sf

    root = tmp_path / "fsdd"
    (root / "recordings").mkdir(parents=True)
    sf.write(root / "recordings" / "1_ann_0.wav", np.zeros(0, dtype="float32"), 8000)
    with pytest.raises(AudioFileError, match="1_ann_0.wav.*empty"):
        get_dataset("fsdd", root, fold="ann", split="test")
