"""nbval runs the training notebook on FSDD: where the dataset is absent (and not in CI), its cells
are skipped with the command that fetches it, rather than failing."""

import os
from pathlib import Path

import pytest

DATA = Path(os.environ.get("PP_DATA_DIR") or Path(__file__).resolve().parents[2] / "shared" / "data")


def pytest_collection_modifyitems(config, items):
    if (DATA / "fsdd").is_dir() or os.environ.get("CI"):
        return
    skip = pytest.mark.skip(reason=f"no dataset here: {DATA / 'fsdd'} is missing; fetch it with make data")
    for item in items:
        item.add_marker(skip)
