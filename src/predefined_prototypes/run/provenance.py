"""Where a result came from: package and torch versions and the git commit of the code."""

from __future__ import annotations

import platform
import subprocess
from pathlib import Path

import torch

from .. import __version__

# What determines a result: the package, the training notebook and the sweep files (not the
# results and the book, which a sweep itself rewrites).
CODE_PATHS = ("src", "notebooks", "configs", "pyproject.toml", "constraints.txt")


def git_commit() -> str:
    """The commit of the checkout this package runs from, with '-dirty' if its code has
    uncommitted changes; 'unknown' outside a git checkout."""
    here = Path(__file__).resolve().parent
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=here, capture_output=True, text=True, check=True, timeout=10
        ).stdout.strip()
        top = subprocess.run(
            ["git", "rev-parse", "--show-toplevel"], cwd=here, capture_output=True, text=True, check=True, timeout=10
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no", "--", *CODE_PATHS],
            cwd=top,
            capture_output=True,
            text=True,
            check=True,
            timeout=10,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return commit + ("-dirty" if dirty else "")


def provenance() -> dict:
    return {"package_version": __version__, "torch_version": torch.__version__, "git_commit": git_commit()}


def cpu_name() -> str:
    """The CPU model (from /proc/cpuinfo where there is one), for benchmark tables."""
    cpuinfo = Path("/proc/cpuinfo")
    for line in cpuinfo.read_text().splitlines() if cpuinfo.is_file() else []:
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return platform.processor() or platform.machine()
