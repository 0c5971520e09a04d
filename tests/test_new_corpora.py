"""Speech Commands v0.02's test archive and RAVDESS: their layouts (WAV or FLAC), their folds of
whole speakers, proved from the committed fold manifests and, where the data is here, from the
loaders themselves."""

import numpy as np
import pandas as pd
import pytest
import soundfile as sf
import torch
from conftest import REPO, shared_dataset

from predefined_prototypes.data import fold_manifest, folds, get_dataset
from predefined_prototypes.data import ravdess as ravdess_module
from predefined_prototypes.data.audio import read_audio
from predefined_prototypes.run.config import RunConfig
from predefined_prototypes.run.splits import prepare_splits

MANIFESTS = {
    "speech_commands_test": (REPO / "configs" / "folds" / "speech_commands_test-10.csv", {"folds": 10}),
    "ravdess": (REPO / "configs" / "folds" / "ravdess-24.csv", {"folds": 24}),
    "ravdess-6": (REPO / "configs" / "folds" / "ravdess-6.csv", {"folds": 6}),
    "ravdess-12": (REPO / "configs" / "folds" / "ravdess-12.csv", {"folds": 12}),  # the RAVDESS sweeps' folds
}


@pytest.mark.parametrize("name", sorted(MANIFESTS))
def test_the_committed_fold_manifest_puts_every_speaker_in_one_fold(name):
    path, options = MANIFESTS[name]
    table = pd.read_csv(path, dtype=str)
    assert table["speaker"].is_unique  # one row, so one fold, per speaker
    assert table["fold"].nunique() == options["folds"]
    clips = table.assign(clips=table["clips"].astype(int)).groupby("fold")["clips"].sum()
    # balanced: folds differ by less than the largest speaker's clips
    assert clips.max() - clips.min() <= table["clips"].astype(int).max()


@pytest.mark.parametrize("name", sorted(MANIFESTS))
def test_the_loader_gives_the_committed_folds(name):
    path, options = MANIFESTS[name]
    dataset = name.split("-")[0]
    root = shared_dataset("speech_commands_test_v0.02" if dataset == "speech_commands_test" else dataset)
    now = pd.DataFrame(fold_manifest(dataset, root, **options))
    assert now.astype(str).equals(pd.read_csv(path, dtype=str))


@pytest.mark.parametrize("name, men_per_fold", [("ravdess-6", 2), ("ravdess-12", 1)])
def test_ravdess_groups_hold_as_many_women_as_men(name, men_per_fold):
    table = pd.read_csv(MANIFESTS[name][0], dtype=str)
    men = table.assign(male=table["speaker"].astype(int) % 2).groupby("fold")["male"].sum()  # odd actors are men
    assert (men == men_per_fold).all() and (table.groupby("fold").size() == 2 * men_per_fold).all()


@pytest.mark.slow
@pytest.mark.parametrize(
    "dataset, fold, options",
    [("speech_commands_test", "3", {}), ("ravdess", "2", {"folds": 6}), ("ravdess", "12", {"folds": 12})],
)
def test_a_folds_speakers_are_never_in_its_training_or_validation_sets(dataset, fold, options):
    root = shared_dataset("speech_commands_test_v0.02" if dataset == "speech_commands_test" else dataset)
    config = RunConfig(
        dataset=dataset,
        data_dir=str(root),
        fold=fold,
        validation="next_speaker",
        dataset_options=options,
        num_mel_bins=16,
    )
    splits, info = prepare_splits(config)
    speakers = {name: {c.speaker for c in split.dataset.clips} for name, split in splits.items()}
    assert speakers["test"] and speakers["validation"] and speakers["train"]
    assert not speakers["test"] & speakers["train"] and not speakers["test"] & speakers["validation"]
    assert not speakers["validation"] & speakers["train"]
    assert info["validation_size"] == len(splits["validation"])


def tone(path, seconds=1.0, rate=16000):
    t = np.arange(int(seconds * rate)) / rate
    # 16-bit samples given as integers: both encoders store them exactly (floats they round apart)
    sf.write(path, (3000 * np.sin(2 * np.pi * 220 * t)).astype(np.int16), rate, subtype="PCM_16")


def test_speech_commands_test_layout_reads_wav_and_flac_alike(tmp_path):
    from predefined_prototypes.data import speech_commands_test as sct

    for label in sct.CLASSES:
        (tmp_path / label).mkdir()
    for i, speaker in enumerate(["0a0a0a0a", "1b1b1b1b", "2c2c2c2c", "3d3d3d3d"]):
        suffix = ".wav" if i % 2 else ".flac"
        for word in sct.KEYWORDS:
            tone(tmp_path / word / f"{speaker}_nohash_0{suffix}")
        tone(tmp_path / "_unknown_" / f"bed_{speaker}_nohash_1{suffix}")
        tone(tmp_path / "_silence_" / f"{100 + i}{suffix}")
    assert folds("speech_commands_test", tmp_path, folds=5) == ["1", "2", "3", "4", "5"]
    test = get_dataset("speech_commands_test", tmp_path, fold="1", split="test", folds=5)
    train = get_dataset("speech_commands_test", tmp_path, fold="1", split="train", folds=5)
    assert len(test) + len(train) == 4 * 12
    assert {c.path.suffix for c in train.clips} == {".wav", ".flac"}
    assert not {c.speaker for c in test.clips} & {c.speaker for c in train.clips}
    flac, wav = (next(c.path for c in train.clips if c.path.suffix == s) for s in (".flac", ".wav"))
    assert torch.equal(read_audio(flac), read_audio(wav))  # the same tone, read alike


def test_ravdess_names_its_fields_and_refuses_a_stray_file(tmp_path):
    (tmp_path / "Actor_01").mkdir()
    tone(tmp_path / "Actor_01" / "03-01-05-02-01-01-01.flac")
    assert ravdess_module.factor_level(tmp_path / "Actor_01" / "03-01-05-02-01-01-01.flac", "intensity") == 1
    tone(tmp_path / "Actor_01" / "notes.wav")
    with pytest.raises(ValueError, match="unexpected RAVDESS file name"):
        folds("ravdess", tmp_path)


@pytest.mark.slow
@pytest.mark.parametrize("sweep", ["claim1-speech-commands-pilot", "claim1-ravdess-pilot"])
def test_a_new_corpus_quick_profile_runs_from_the_shared_data(sweep, tmp_path):
    from predefined_prototypes.experiments.sweep import run_sweep
    from predefined_prototypes.reading.runs import load_results

    shared_dataset("speech_commands_test_v0.02" if "speech" in sweep else "ravdess")
    path = REPO / "configs" / f"{sweep}.yaml"
    assert run_sweep(path, "quick", workers=None, runs_dir=tmp_path / "runs", results_dir=tmp_path / "results") == 0
    runs = load_results(sweep, "quick", tmp_path / "results", REPO / "configs")
    assert len(runs) == 2 and set(runs["loss"]) == {"ce", "prototypes"}
    assert runs["test_size"].gt(0).all() and runs["train_size"].gt(runs["test_size"]).all()


@pytest.mark.slow
def test_the_filter_report_names_what_it_removes_by_sex_and_class(tmp_path, monkeypatch):
    from predefined_prototypes.run.factors import filter_report

    monkeypatch.setenv("PP_CACHE_DIR", str(tmp_path / "cache"))
    t = np.arange(3 * 16_000) / 16_000
    voices = {  # file (actor 01 male, 02 female; emotion 05 angry, 01 neutral) -> waveform
        "Actor_01/03-01-05-02-01-01-01.flac": 0.3 * np.sin(2 * np.pi * 150 * t),  # kept
        "Actor_01/03-01-01-01-01-01-01.flac": 0.3 * np.sin(2 * np.pi * 140 * t),  # kept
        "Actor_02/03-01-05-02-01-01-02.flac": 0.3 * np.sin(2 * np.pi * 400 * t),  # pitch above 275 Hz
        "Actor_02/03-01-01-01-01-01-02.flac": 0.0003 * np.sin(2 * np.pi * 200 * t),  # below -50 LUFS
    }
    for name, wave in voices.items():
        (tmp_path / name).parent.mkdir(exist_ok=True)
        sf.write(tmp_path / name, wave.astype(np.float32), 16_000)
    table = filter_report("ravdess", tmp_path).set_index(["sex", "class", "intensity"])  # intensity: labelled
    assert table.loc[("male", "angry", "strong"), "kept"] == 1 and table.loc[("male", "neutral", "normal"), "kept"] == 1
    assert table.loc[("female", "angry", "strong"), "pitch above"] == 1
    assert table.loc[("female", "angry", "strong"), "kept"] == 0
    assert table.loc[("female", "neutral", "normal"), "loudness out of range"] == 1
    assert table["clips"].sum() == 4
    with pytest.raises(ValueError, match="no measured factors or no speaker sex"):
        filter_report("fsdd", tmp_path)


@pytest.mark.parametrize("name", ["emodb", "ravdess"])
def test_the_committed_filter_report_accounts_for_every_clip(name):
    table = pd.read_csv(REPO / "reports" / f"factor-filter-{name}.csv")
    reasons = ["kept", "pitch above", "pitch below", "loudness out of range", "unmeasured"]
    assert (table[reasons].sum(axis=1) == table["clips"]).all()
    assert set(table["sex"]) == {"female", "male"}
    assert table["clips"].sum() == {"emodb": 535, "ravdess": 1440}[name]  # every clip of the corpus
    if name == "ravdess":  # by its labelled intensity too: 60 neutral (normal only), 84 of each other level
        assert table.groupby("intensity")["clips"].sum().to_dict() == {"normal": 768, "strong": 672}


@pytest.mark.slow
@pytest.mark.parametrize("k", [12, 24])
def test_a_copy_without_an_actor_is_refused_before_any_run_reads_it(tmp_path, k):
    """On a RAVDESS copy without Actor_05 the computed folds put other actors in other folds (and
    with 24 folds, fold 24 holds nobody): every entry point refuses it in one line, naming the
    actor, so no run stores other test speakers under a committed id."""
    from predefined_prototypes.data import check_folds

    root = shared_dataset("ravdess")
    copy = tmp_path / "ravdess"
    for actor in sorted(root.glob("Actor_*")):
        if actor.name != "Actor_05":
            (copy / actor.name).parent.mkdir(parents=True, exist_ok=True)
            (copy / actor.name).symlink_to(actor)
    for entry in (
        lambda: folds("ravdess", copy, folds=k),
        lambda: get_dataset("ravdess", copy, fold="1", split="test", folds=k),
        lambda: check_folds("ravdess", copy, folds=k),
    ):
        with pytest.raises(ValueError, match=r"speakers missing: 05\b.*use the complete corpus") as err:
            entry()
        assert "\n" not in str(err.value)
    check_folds("ravdess", root, folds=k)  # the complete corpus passes


def test_a_long_list_of_speakers_is_cut_to_its_first_and_a_count():
    from predefined_prototypes.data import _named

    assert _named([f"s{i}" for i in range(12)]) == "s0, s1, s2, s3, s4 and 7 more"


@pytest.mark.slow
def test_a_run_on_a_partial_copy_stops_before_training_in_one_line(tmp_path):
    from predefined_prototypes.run.config import ConfigError
    from predefined_prototypes.run.preflight import check

    copy = tmp_path / "ravdess"
    for actor in sorted(shared_dataset("ravdess").glob("Actor_*"))[1:]:  # without Actor_01's clips
        (copy / actor.name).parent.mkdir(parents=True, exist_ok=True)
        (copy / actor.name).symlink_to(actor)
    (copy / "Actor_01").mkdir()  # the layout's marker, empty
    config = RunConfig(dataset="ravdess", dataset_options={"folds": 12}, fold="1", data_dir=str(copy))
    with pytest.raises(ConfigError, match="speakers missing: 01"):
        check(config)
