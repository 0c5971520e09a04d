"""An on-disk cache for per-clip results (features, acoustic factors).

An entry's key hashes what it was computed from: each input file's path, size and modification
time, and every setting, including a version constant that the computing module changes with its
code. Any change gives a new key, so a stale entry is never read. Entries are written atomically
(temporary file, then rename) with a checksum of their content, and checked on load: a corrupt,
damaged or foreign entry is rebuilt with a warning, never trusted. A cache folder that cannot be written is read where it can be and otherwise bypassed,
with one warning: a read-only cache slows a run down, it never stops it.
"""

from __future__ import annotations

import hashlib
import json
import os
import warnings
from collections.abc import Callable, Iterable
from pathlib import Path

import torch

from .files import atomic_write

_warned_unwritable: set[Path] = set()


def cache_dir() -> Path:
    """``$PP_CACHE_DIR``, else ``~/.cache/predefined_prototypes/cache``."""
    if os.environ.get("PP_CACHE_DIR"):
        return Path(os.environ["PP_CACHE_DIR"])
    return Path.home() / ".cache" / "predefined_prototypes" / "cache"


def cache_key(kind: str, files: Iterable[Path], settings: dict) -> str:
    """A hex digest that changes when any file (path, size, mtime) or any setting changes."""
    stats = []
    for path in files:
        info = Path(path).stat()
        stats.append([str(Path(path).resolve()), info.st_size, info.st_mtime_ns])
    blob = json.dumps([kind, settings, stats], sort_keys=True, default=str)
    return hashlib.sha256(blob.encode()).hexdigest()


def content_digest(payload: dict[str, torch.Tensor]) -> str:
    """SHA-256 over every tensor's name, dtype, shape and bytes: what an entry is checked against.

    >>> content_digest({"x": torch.zeros(2)}) == content_digest({"x": torch.zeros(2)}) != content_digest({"x": torch.ones(2)})
    True
    """
    digest = hashlib.sha256()
    for name in sorted(payload):
        tensor = payload[name].contiguous()
        digest.update(f"{name}:{tensor.dtype}:{tuple(tensor.shape)}".encode())
        digest.update(tensor.view(-1).view(torch.uint8).numpy().tobytes() if tensor.numel() else b"")
    return digest.hexdigest()


def cached(
    kind: str,
    key: str,
    compute: Callable[[], dict[str, torch.Tensor]],
    directory: Path | None = None,
    enabled: bool = True,
) -> dict[str, torch.Tensor]:
    """Load the entry ``kind``/``key`` from ``directory`` (default ``cache_dir()``), or compute,
    store and return it.

    >>> import tempfile
    >>> where, calls = Path(tempfile.mkdtemp()), []
    >>> make = lambda: calls.append(1) or {"x": torch.arange(3)}
    >>> first, second = cached("demo", "k1", make, where), cached("demo", "k1", make, where)
    >>> first["x"].tolist(), second["x"].tolist(), len(calls)
    ([0, 1, 2], [0, 1, 2], 1)
    """
    if not enabled:
        return compute()
    path = (directory or cache_dir()) / f"{kind}-{key[:32]}.pt"
    if path.exists():
        try:
            entry = torch.load(path, weights_only=True, mmap=True)
            if not (isinstance(entry, dict) and entry.get("key") == key):
                warnings.warn(f"cache entry {path} belongs to other inputs; rebuilding it", stacklevel=2)
            elif "digest" not in entry:
                pass  # written before entries carried a checksum: rebuilt once
            elif entry["digest"] != content_digest(entry["payload"]):
                warnings.warn(f"cache entry {path} does not match its checksum (damaged); rebuilding it", stacklevel=2)
            else:
                return entry["payload"]
        except Exception as err:  # a truncated or garbled file: rebuild, never trust
            warnings.warn(f"cache entry {path} is corrupt ({type(err).__name__}); rebuilding it", stacklevel=2)
    payload = compute()
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        entry = {"key": key, "digest": content_digest(payload), "payload": payload}
        atomic_write(path, lambda f: torch.save(entry, f))
    except OSError as err:
        if path.parent not in _warned_unwritable:
            _warned_unwritable.add(path.parent)
            warnings.warn(
                f"cache folder {path.parent} is not writable ({err.strerror or err}); running "
                "without a cache (set PP_CACHE_DIR to a writable folder)",
                stacklevel=2,
            )
    return payload
