"""Download and unpack the public datasets into their official layouts.

Each archive has a pinned URL and SHA-256. The download goes to a temporary file next to the
target; the checksum is verified before anything is unpacked; every archive member is checked
to stay inside the target folder; the unpacked tree is moved into place only when all of that
succeeded, so a failure leaves nothing half-written.
"""

from __future__ import annotations

import hashlib
import shutil
import tarfile
import tempfile
import urllib.request
import zipfile
from pathlib import Path, PurePosixPath

from tqdm import tqdm

from . import DATASETS

# The datasets that can be downloaded, each with its pinned archive (``ARCHIVE`` in its module).
ARCHIVES = {name: module.ARCHIVE for name, module in DATASETS.items() if module.ARCHIVE is not None}


class DownloadError(RuntimeError):
    """A download, checksum or unpacking step failed; nothing was left at the target."""


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _fetch(url: str, destination: Path) -> None:
    with urllib.request.urlopen(url, timeout=60) as response, open(destination, "wb") as out:
        total = int(response.headers.get("Content-Length") or 0) or None
        with tqdm(total=total, unit="B", unit_scale=True, desc=Path(url).name) as bar:
            for block in iter(lambda: response.read(1 << 20), b""):
                out.write(block)
                bar.update(len(block))


def _safe_members(names: list[str]) -> None:
    for name in names:
        pure = PurePosixPath(name.replace("\\", "/"))
        if pure.is_absolute() or ".." in pure.parts:
            raise DownloadError(f"refusing archive member {name!r}: it would land outside the target folder")


def _unpack(archive: Path, into: Path) -> None:
    if zipfile.is_zipfile(archive):
        with zipfile.ZipFile(archive) as z:
            _safe_members(z.namelist())
            z.extractall(into)
    elif tarfile.is_tarfile(archive):
        with tarfile.open(archive) as t:
            members = t.getmembers()
            _safe_members([m.name for m in members])
            for m in members:
                if m.issym() or m.islnk():
                    _safe_members([m.linkname])
            t.extractall(into, filter="data")
    else:
        raise DownloadError(f"{archive} is neither a zip nor a tar archive")


def download(
    name: str,
    to: str | Path,
    url: str | None = None,
    sha256: str | None = None,
    allow_unverified: bool = False,
) -> Path:
    """Download dataset ``name`` and unpack it so that ``to`` holds its official layout.

    ``url`` and ``sha256`` override the pinned ones. Refuses to overwrite an existing ``to``.
    """
    if name in DATASETS and name not in ARCHIVES:
        raise DownloadError(f"{name} cannot be downloaded automatically: {DATASETS[name].OBTAIN}")
    if name not in ARCHIVES:
        raise ValueError(f"no dataset {name!r}; those with a download: {', '.join(sorted(ARCHIVES))}")
    archive = ARCHIVES[name]
    url = url or archive.url
    expected = sha256 or (archive.sha256 if url == archive.url else None)
    if expected is None and not allow_unverified:
        raise DownloadError(f"{name}: no SHA-256 to verify {url} against. {archive.note}")
    target = Path(to)
    if target.exists() and not target.is_dir():
        raise DownloadError(f"{target} is a file; --to takes a folder to create (or an empty one)")
    if target.exists() and any(target.iterdir()):
        raise DownloadError(f"{target} exists and is not empty; choose another --to or remove it")
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise DownloadError(f"cannot create {target.parent} ({err.strerror or err}); choose another --to") from None
    with tempfile.TemporaryDirectory(dir=target.parent, prefix=f".{name}-download-") as work:
        work = Path(work)
        file = work / "archive"
        try:
            _fetch(url, file)
        except OSError as err:
            raise DownloadError(f"{name}: download of {url} failed: {err}") from err
        actual = sha256_of(file)
        if expected is not None and actual != expected.lower():
            raise DownloadError(
                f"{name}: checksum mismatch for {url}: expected {expected}, got {actual}. "
                f"Nothing was unpacked. {archive.note}"
            )
        unpacked = work / "unpacked"
        try:
            _unpack(file, unpacked)
        except (EOFError, tarfile.TarError, zipfile.BadZipFile, OSError) as err:
            raise DownloadError(
                f"{name}: the archive from {url} is damaged or cut short ({type(err).__name__}: {err}); "
                f"nothing was unpacked to {target}: download it again"
            ) from None
        # Archives made from a repository wrap the layout in one top folder: unwrap it.
        entries = list(unpacked.iterdir())
        root = entries[0] if len(entries) == 1 and entries[0].is_dir() else unpacked
        if target.exists():
            target.rmdir()
        shutil.move(str(root), target)
    print(f"{name}: unpacked to {target} (sha256 {actual})")
    return target
