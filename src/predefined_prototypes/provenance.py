"""Where a result came from: package and torch versions and the git commit of the code."""

from __future__ import annotations

import subprocess
from pathlib import Path

import torch

from . import __version__


def git_commit() -> str:
    """The commit of the checkout this package runs from, with '-dirty' if it has uncommitted
    changes to tracked files; 'unknown' outside a git checkout."""
    here = Path(__file__).resolve().parent
    try:
        commit = subprocess.run(["git", "rev-parse", "HEAD"], cwd=here, capture_output=True,
                                text=True, check=True, timeout=10).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=here,
                               capture_output=True, text=True, check=True, timeout=10).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return commit + ("-dirty" if dirty else "")


def provenance() -> dict:
    return {"package_version": __version__, "torch_version": torch.__version__, "git_commit": git_commit()}
