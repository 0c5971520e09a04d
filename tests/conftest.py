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


def shared_dataset(name: str) -> Path:
    root = SHARED_DATA / name
    if not root.is_dir():
        message = f"{root} is missing: set PP_DATA_DIR to the folder holding fsdd/ and emodb/"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    return root


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


@pytest.fixture(scope="session")
def fsdd_small(tmp_path_factory):
    return fsdd_subset(tmp_path_factory.mktemp("fsdd_small"))


@pytest.fixture
def tiny_emodb(tmp_path):
    return synthetic_emodb(tmp_path / "emodb")


@pytest.fixture
def emodb_root():
    return shared_dataset("emodb")


def write_tone(path: Path, seconds: float = 0.5, rate: int = 16000, freq: float = 200.0, gain: float = 0.3):
    path.parent.mkdir(parents=True, exist_ok=True)
    t = np.arange(int(seconds * rate)) / rate
    sf.write(path, (gain * np.sin(2 * np.pi * freq * t)).astype("float32"), rate, subtype="PCM_16")
    return path
