"""Where a dataset's public archive lives and how it is verified; each dataset module that can be
downloaded names its own (``ARCHIVE``), and ``download.py`` reads them."""

from dataclasses import dataclass


@dataclass(frozen=True)
class Archive:
    url: str
    sha256: str | None  # None: no checksum is published; the user must pass one or opt out
    note: str = ""
