"""Writing files so that a reader never sees half of one.

>>> import tempfile
>>> path = Path(tempfile.mkdtemp()) / "table.csv"
>>> atomic_write(path, lambda f: f.write(b"a,b\\n1,2\\n"))
>>> path.read_text()
'a,b\\n1,2\\n'
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO


def umask() -> int:
    """The process's umask (reading it means setting it, so it is set back at once)."""
    mask = os.umask(0)
    os.umask(mask)
    return mask


def atomic_write(path: str | Path, write: Callable[[BinaryIO], object]) -> None:
    """Call ``write`` on a temporary file beside ``path``, then rename it to ``path`` in one step:
    readers see the old file or the new one, and a crash or full disk leaves no partial file. The
    file keeps the permissions of the one it replaces (a new one follows the umask)."""
    path = Path(path)
    mode = path.stat().st_mode & 0o7777 if path.is_file() else 0o666 & ~umask()
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        os.fchmod(fd, mode)  # mkstemp makes it 0600
        with os.fdopen(fd, "wb") as f:
            write(f)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
