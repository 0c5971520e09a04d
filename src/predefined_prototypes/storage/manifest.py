"""What a sweep's stored files should hold: the SHA-256 of each, recorded when it is written.

    results/<sweep>/manifest.json      {"files": {"runs/<id>/metrics.json": "<sha256>", ...}}

Every file the store writes (summaries, slim embeddings, profile tables, derived tables and their
records) is entered here in the same step, so ``store check`` can tell a file edited, truncated or
added by hand from one the store wrote, as ``git fsck`` does for a repository. Symbolic links are
never followed: a link anywhere in a sweep's folder is a problem, whatever it points to.

>>> import tempfile
>>> sweep = Path(tempfile.mkdtemp())
>>> (sweep / "full.csv").write_text("run_id\\nabc\\n")
11
>>> record_files(sweep, [sweep / "full.csv"])
>>> verify_files(sweep)
[]
>>> (sweep / "full.csv").write_text("run_id\\nabd\\n")
11
>>> [p.split(": ", 1)[1][:25] for p in verify_files(sweep)]
['its SHA-256 is not the on']
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from pathlib import Path

from ..run.files import atomic_write

MANIFEST = "manifest.json"
ROOT = "root.sha256"  # results/root.sha256: the digest over every sweep's manifest (``root_digest``)


def file_digest(path: str | Path) -> str:
    """The SHA-256 of a file's bytes."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def read_manifest(sweep_dir: str | Path) -> dict[str, str]:
    """A sweep's recorded digests by path relative to its folder ({} when it has none yet)."""
    path = Path(sweep_dir) / MANIFEST
    if not path.is_file():
        return {}
    try:
        files = json.loads(path.read_text())["files"]
    except (OSError, UnicodeDecodeError, ValueError, KeyError, TypeError) as err:
        raise ValueError(f"{path} cannot be read ({err}); rebuild the sweep's store") from None
    return dict(files)


def _write(sweep_dir: Path, files: dict[str, str]) -> None:
    text = json.dumps({"files": dict(sorted(files.items()))}, indent=1).encode() + b"\n"
    atomic_write(sweep_dir / MANIFEST, lambda f: f.write(text))


def _relative(sweep_dir: Path, path: Path) -> str:
    return path.relative_to(sweep_dir).as_posix()


def record_files(sweep_dir: str | Path, paths: Iterable[str | Path], digests: dict[str, str] | None = None) -> None:
    """Enter each file's current digest (or the one given by its relative path in ``digests``,
    for files about to be moved into place) in the sweep's manifest."""
    sweep_dir = Path(sweep_dir)
    files = read_manifest(sweep_dir)
    for path in paths:
        name = _relative(sweep_dir, Path(path))
        files[name] = (digests or {}).get(name) or file_digest(path)
    _write(sweep_dir, files)


def write_recorded(sweep_dir: str | Path, path: str | Path, data: bytes) -> None:
    """Write one of a sweep's files (atomically) with its manifest entry: the entry first, so no
    written file is ever unrecorded; and when the file cannot be written (a full disk), the entry
    put back as it was before raising, so ``store check`` never blames an edit on a write that did
    not happen."""
    sweep_dir, path = Path(sweep_dir), Path(path)
    name = _relative(sweep_dir, path)
    before = read_manifest(sweep_dir).get(name)
    record_files(sweep_dir, [path], {name: hashlib.sha256(data).hexdigest()})
    try:
        atomic_write(path, lambda f: f.write(data))
    except OSError:
        if before is None:
            forget_files(sweep_dir, [name])
        else:
            record_files(sweep_dir, [path], {name: before})
        raise


def forget_files(sweep_dir: str | Path, names: Iterable[str]) -> None:
    """Take files (relative paths, or folders: everything under them) out of the manifest."""
    sweep_dir = Path(sweep_dir)
    names = list(names)
    files = {
        k: v for k, v in read_manifest(sweep_dir).items() if not any(k == n or k.startswith(f"{n}/") for n in names)
    }
    _write(sweep_dir, files)


def stored_files(sweep_dir: str | Path) -> list[Path]:
    """The files a sweep's folder holds that the manifest covers: everything but the manifest
    itself, the lock and hidden staging entries."""
    sweep_dir = Path(sweep_dir)
    return sorted(
        p
        for p in sweep_dir.rglob("*")
        if not any(part.startswith(".") for part in p.relative_to(sweep_dir).parts)
        and p.name != MANIFEST
        and (p.is_file() or p.is_symlink())
    )


def links(folder: str | Path) -> list[Path]:
    """Symbolic links anywhere under ``folder`` (never followed)."""
    return sorted(p for p in Path(folder).rglob("*") if p.is_symlink())


def verify_files(sweep_dir: str | Path) -> list[str]:
    """One line per file of a sweep that is not as the store wrote it: a symbolic link, a file
    whose SHA-256 is not the one recorded (edited, truncated or replaced), a recorded file that is
    gone, or a file the store never recorded."""
    sweep_dir = Path(sweep_dir)
    fix = "restore it from git (git checkout -- <file>) or remove the run's folder and run the sweep again"
    problems = [
        f"{p}: a symbolic link (to {p.resolve()}); the store holds plain files only: replace it with the file"
        for p in links(sweep_dir)
    ]
    try:
        recorded = read_manifest(sweep_dir)
    except ValueError as err:
        return problems + [str(err)]
    present = {_relative(sweep_dir, p): p for p in stored_files(sweep_dir) if not p.is_symlink()}
    for name, digest in sorted(recorded.items()):
        if name not in present:
            problems.append(f"{sweep_dir / name}: recorded in {MANIFEST} but missing; {fix}")
        elif file_digest(present[name]) != digest:
            problems.append(
                f"{sweep_dir / name}: its SHA-256 is not the one recorded when it was stored "
                f"(edited, truncated or replaced); {fix}"
            )
    problems += [
        f"{present[name]}: not written by the store (no entry in {MANIFEST}); remove it, or store it with the sweep"
        for name in sorted(present.keys() - recorded.keys())
    ]
    return problems


def root_digest(results_dir: str | Path) -> str:
    """One SHA-256 over every sweep's manifest (by sweep name, its manifest's digest): it changes
    when any stored file does. ``store seal`` writes it to ``results/root.sha256`` and
    CITATION.cff; with git's history it tells a published store from a rewritten one, which no
    digest kept inside the store can.

    >>> import tempfile
    >>> results = Path(tempfile.mkdtemp())
    >>> (results / "a").mkdir()
    >>> record_files(results / "a", [])
    >>> before = root_digest(results)
    >>> record_files(results / "a", [Path(tempfile.mkstemp(dir=results / "a")[1])])
    >>> root_digest(results) != before
    True
    """
    lines = [
        f"{folder.name} {file_digest(folder / MANIFEST)}\n"
        for folder in sorted(Path(results_dir).iterdir())
        if folder.is_dir() and not folder.is_symlink() and (folder / MANIFEST).is_file()
    ]
    return hashlib.sha256("".join(lines).encode()).hexdigest()


def recorded_root(results_dir: str | Path) -> str | None:
    """The root digest ``store seal`` last wrote, or None where it never did."""
    path = Path(results_dir) / ROOT
    return path.read_text().split()[-1] if path.is_file() and path.read_text().split() else None
