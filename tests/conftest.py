import csv
import os
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = Path(os.environ.get("PP_DATA_DIR") or REPO.parent / "shared" / "data")


@pytest.fixture(autouse=True)
def isolated_cache(tmp_path, monkeypatch):
    """Every test gets its own feature cache, never the user's."""
    monkeypatch.setenv("PP_CACHE_DIR", str(tmp_path / "cache"))


# What a machine without the datasets is told, once, at the end of the run.
FETCH = "make data (or set PP_DATA_DIR to a folder holding fsdd/ and emodb/)"
NO_DATA = "no dataset here"


def shared_dataset(name: str) -> Path:
    root = SHARED_DATA / name
    if not root.is_dir():
        message = f"{NO_DATA}: {root} is missing; fetch with {FETCH}"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    return root


def pytest_terminal_summary(terminalreporter):
    """One line for every test skipped for want of a dataset, naming the command that fetches them."""
    skipped = [r for r in terminalreporter.stats.get("skipped", []) if NO_DATA in str(r.longrepr)]
    if skipped:
        terminalreporter.write_line(
            f"{len(skipped)} test(s) skipped: no datasets under {SHARED_DATA}; fetch them with {FETCH}", yellow=True
        )


@pytest.fixture
def fsdd_root():
    return shared_dataset("fsdd")


def fsdd_subset(root: Path) -> Path:
    """450 real FSDD recordings (3 speakers, takes 0-14) copied to ``root``: the official split
    gives 300 train and 150 test clips, small enough for a training test to take seconds."""
    source = shared_dataset("fsdd") / "recordings"
    (root / "recordings").mkdir(parents=True)
    for speaker in ("george", "jackson", "theo"):
        for digit in range(10):
            for take in range(15):
                name = f"{digit}_{speaker}_{take}.wav"
                (root / "recordings" / name).write_bytes((source / name).read_bytes())
    return root


def synthetic_emodb(root: Path) -> Path:
    """EmoDB's layout with two speakers x 4 emotions x 3 texts of voiced tones whose pitch and
    level depend on speaker and emotion."""
    for s, speaker in enumerate(("03", "08")):
        for e, emotion in enumerate("NFWT"):
            for text in ("a01", "a02", "b01"):
                freq = 110 + 30 * e + 10 * s + 5 * int(text[-1])
                write_tone(root / "wav" / f"{speaker}{text}{emotion}a.wav", seconds=1.0, freq=freq, gain=0.1 + 0.05 * e)
    return root


def synthetic_ravdess(root: Path) -> Path:
    """RAVDESS's layout with four actors x 2 emotions x 2 intensities x 2 sentences of voiced
    tones, louder at strong intensity; actor 04's strong happy clips sit at 300 Hz, above the
    validity filter's 275."""
    for actor in ("01", "02", "03", "04"):
        for emotion in ("03", "05"):  # happy, angry
            for intensity in ("01", "02"):
                for sentence in ("01", "02"):
                    freq = 300.0 if (actor, emotion, intensity) == ("04", "03", "02") else 120 + 20 * int(actor)
                    name = f"Actor_{actor}/03-01-{emotion}-{intensity}-{sentence}-01-{actor}.wav"
                    write_tone(root / name, seconds=1.0, freq=freq + 5 * int(sentence), gain=0.05 * int(intensity) ** 3)
    return root


@pytest.fixture(scope="session")
def fsdd_small(tmp_path_factory):
    return fsdd_subset(tmp_path_factory.mktemp("fsdd_small"))


@pytest.fixture
def tiny_emodb(tmp_path):
    return synthetic_emodb(tmp_path / "emodb")


@pytest.fixture
def tiny_ravdess(tmp_path, monkeypatch):
    """Four actors of RAVDESS's layout: no committed fold manifest fixes this copy's folds (the
    real corpus's manifests would refuse it, ``data.check_folds``)."""
    from predefined_prototypes import data

    monkeypatch.setattr(data, "FOLD_MANIFESTS", tmp_path / "no-manifests")
    return synthetic_ravdess(tmp_path / "ravdess")


@pytest.fixture
def emodb_root():
    return shared_dataset("emodb")


def write_tone(path: Path, seconds: float = 0.5, rate: int = 16000, freq: float = 200.0, gain: float = 0.3):
    path.parent.mkdir(parents=True, exist_ok=True)
    t = np.arange(int(seconds * rate)) / rate
    sf.write(path, (gain * np.sin(2 * np.pi * freq * t)).astype("float32"), rate, subtype="PCM_16")
    return path


def write_esc50_tree(parent: Path) -> Path:
    """A few-file tree in the official layout, under ``parent``."""
    root = parent / "ESC-50-master"
    rows = []
    for i, (category, target, esc10) in enumerate([("dog", 0, True), ("rooster", 1, False), ("rain", 10, True)]):
        for fold in (1, 2, 3, 4, 5):
            name = f"{fold}-{100 + i}-A-{target}.wav"
            write_tone(root / "audio" / name, seconds=0.2, rate=44100)
            rows.append([name, fold, target, category, str(esc10), 100 + i, "A"])
    (root / "meta").mkdir()
    with open(root / "meta" / "esc50.csv", "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["filename", "fold", "target", "category", "esc10", "src_file", "take"])
        w.writerows(rows)
    return root


def write_speech_commands_tree(parent: Path) -> Path:
    """A few-file tree in the official layout, under ``parent``."""
    root = parent / "speech_commands"
    for word in ("yes", "no", "up"):
        for speaker in ("0a7c2a8d", "0b09edd3", "0c2ca723"):
            write_tone(root / word / f"{speaker}_nohash_0.wav", seconds=1.0)
    write_tone(root / "_background_noise_" / "white_noise.wav", seconds=2.0)
    (root / "validation_list.txt").write_text("yes/0b09edd3_nohash_0.wav\nno/0b09edd3_nohash_0.wav\n")
    (root / "testing_list.txt").write_text("up/0c2ca723_nohash_0.wav\nyes/0c2ca723_nohash_0.wav\n")
    return root


def write_iemocap_tree(parent: Path) -> Path:
    """A few-file tree in the official layout, under ``parent``."""
    root = parent / "IEMOCAP_full_release"
    for session in range(1, 6):
        dialog = f"Ses0{session}F_impro01"
        lines = ["% header line", ""]
        for i, (gender, label) in enumerate(
            [("F", "neu"), ("M", "ang"), ("F", "exc"), ("M", "fru"), ("F", "sad"), ("M", "hap")]
        ):
            utt = f"{dialog}_{gender}00{i}"
            write_tone(root / f"Session{session}" / "sentences" / "wav" / dialog / f"{utt}.wav", seconds=0.5)
            lines.append(f"[{i}.0000 - {i}.9000]\t{utt}\t{label}\t[2.5000, 2.5000, 2.5000]")
            lines.append(f"C-E1:\t{label};\t()")
        evaluation = root / f"Session{session}" / "dialog" / "EmoEvaluation" / f"{dialog}.txt"
        evaluation.parent.mkdir(parents=True)
        evaluation.write_text("\n".join(lines) + "\n")
    return root
