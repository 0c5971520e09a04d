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


def atomic_write(path: str | Path, write: Callable[[BinaryIO], object]) -> None:
    """Call ``write`` on a temporary file beside ``path``, then rename it to ``path`` in one step:
    readers see the old file or the new one, and a crash or full disk leaves no partial file."""
    path = Path(path)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "wb") as f:
            write(f)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
