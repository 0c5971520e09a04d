"""The store's own check: every stored file against its recorded digest, every table cell
rebuilt from its run's summary, nothing the store never wrote, no symbolic links; and sealing a
store once every other check passes (``python -m predefined_prototypes store check|seal``)."""

from __future__ import annotations

import io
import json
import re
import subprocess
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd

from ..run.files import atomic_write
from ..run.schema import SCHEMA_VERSION, undeclared
from .manifest import (
    MANIFEST,
    ROOT,
    read_manifest,
    record_files,
    recorded_root,
    root_digest,
    stored_files,
    verify_files,
)
from .store import (
    ResultsError,
    StoredRun,
    read_summary,
    read_table,
    stored_dir,
    sub_folders,
    summary_config,
    table_row,
    unfinished_migration,
)


def check_store(results_dir: str | Path) -> list[str]:
    """Every problem of a results folder's stored content, one line each (none: the store is
    sound), as ``git fsck`` checks a repository: a symbolic link, and each sweep's
    ``check_sweep`` problems. (Whether the tables derived from it are up to date is
    ``derive.check_all``'s question: the store does not know what is derived from it.)"""
    results_dir = Path(results_dir)
    unfinished = unfinished_migration(results_dir)
    problems = [unfinished] if unfinished else []
    problems += [
        f"{p}: a symbolic link (to {p.resolve()}); the store holds plain folders and files only: replace it"
        for p in sorted(results_dir.iterdir())
        if p.is_symlink()
    ]
    for sweep in sub_folders(results_dir):
        if not sweep.is_symlink():
            problems += check_sweep(sweep)
    # Where a root digest was written (the repository's store always has one: tests/test_store.py),
    # the manifests must still give it; a store copied in part has none to compare.
    recorded = recorded_root(results_dir)
    if recorded is not None and recorded != (root := root_digest(results_dir)):
        problems.append(
            f"{results_dir / ROOT}: names {recorded[:12]}…, but the manifests give {root[:12]}…: run python -m "
            "predefined_prototypes store seal once every other problem is solved (the root digest is what "
            "CITATION.cff and the reproduce page publish)"
        )
    return problems


def check_sweep(sweep: Path) -> list[str]:
    """Every problem of one sweep's stored content: a symbolic link; a file whose SHA-256 is not
    the one the store recorded when it wrote it (``manifest.py``), or that the store never wrote;
    a summary that does not parse or lacks a field, or is stored under another id than its
    configuration hashes to; a table that does not parse, or whose cells are not those its rows
    rebuild to from their summaries (every cell, as written); a table row without its summary, or
    a summary no table of the sweep holds."""
    problems = verify_files(sweep)
    summaries, listed = set(), {}
    for folder in sub_folders(sweep / "runs"):
        if folder.is_symlink():
            continue  # named by verify_files
        try:
            record = read_summary(folder)
            config = summary_config(record, folder / "metrics.json")
        except ResultsError as err:
            problems.append(str(err))
            continue
        summaries.add(folder.name)
        if names := undeclared(record["metrics"]):
            problems.append(f"{folder / 'metrics.json'}: metric(s) {', '.join(names)} not declared in schema.METRICS")
        if config.run_id() != folder.name:
            problems.append(
                f"{folder}: its configuration hashes to {config.run_id()}, not to its folder's name "
                "(a renamed folder, or a default changed since it was stored)"
            )
        if record.get("schema_version") != SCHEMA_VERSION:
            problems.append(
                f"{folder / 'metrics.json'}: schema version {record.get('schema_version')}, "
                f"not {SCHEMA_VERSION}; run python -m predefined_prototypes store migrate"
            )
        if not (folder / "embeddings.npz").is_file():
            problems.append(f"{folder}: no embeddings.npz")
        elif disagreement := predictions_disagree(folder, record):
            problems.append(disagreement)
        if other := data_differs(folder, record, config, listed):
            problems.append(other)
    in_tables = set()
    for path in sorted(sweep.glob("*.csv")):
        try:
            table = read_table(path)
        except ResultsError as err:
            problems.append(str(err))
            continue
        ids = list(table["run_id"])
        in_tables |= set(ids)
        problems += [f"{path}: row {rid} has no stored summary" for rid in ids if rid not in summaries]
        problems += [f"{path}: run {rid} has {n} rows" for rid, n in table["run_id"].value_counts().items() if n > 1]
        if all(rid in summaries for rid in ids):
            problems += rows_disagree(path)
    problems += [f"{sweep / 'runs' / rid}: no table of {sweep.name} holds it" for rid in sorted(summaries - in_tables)]
    return problems


def predictions_disagree(folder: Path, record: dict) -> str | None:
    """A line naming the run where the accuracy or macro-F1 its summary records is not what its
    stored test predictions give (the logits in embeddings.npz, kept as float16): an edited
    summary, or another run's predictions. Where a clip's two highest float16 logits tie, its
    prediction is ambiguous: accuracy may then differ by the tied clips' share, and macro-F1 is
    not compared. None where they agree (or the run stored no logits)."""
    try:
        with np.load(folder / "embeddings.npz") as npz:
            if not {"logits", "labels", "classes"} <= set(npz.files):
                return None
            logits, labels, classes = npz["logits"].astype(np.float32), npz["labels"], len(npz["classes"])
    except (OSError, ValueError, zipfile.BadZipFile, EOFError):
        return None  # unreadable: verify_files names the file
    predicted = logits.argmax(axis=1)
    top_two = np.sort(logits, axis=1)[:, -2:]
    tied = int((top_two[:, 0] == top_two[:, 1]).sum()) if logits.shape[1] > 1 else 0
    accuracy = float((predicted == labels).mean())
    recorded = record["metrics"]
    if abs(accuracy - recorded["accuracy"]) > tied / len(labels) + 1e-9:
        return (
            f"{folder / 'metrics.json'}: accuracy {recorded['accuracy']:.4f}, but its stored predictions give "
            f"{accuracy:.4f}: restore the run from git or remove its folder and run the sweep again"
        )
    if not tied and abs(macro_f1(predicted, labels, classes) - recorded["macro_f1"]) > 1e-9:
        return (
            f"{folder / 'metrics.json'}: macro-F1 {recorded['macro_f1']:.4f}, but its stored predictions give "
            f"{macro_f1(predicted, labels, classes):.4f}: restore the run from git or remove its folder and run "
            "the sweep again"
        )
    return None


def data_differs(folder: Path, record: dict, config, listed: dict) -> str | None:
    """A line when a stored run recorded the data it read (each split's clip listing digest,
    ``splits.data_identity``) and the data here lists otherwise; None where it agrees, where the
    dataset is not here (nothing to compare), or for a run stored before runs recorded it.
    ``listed`` keeps each fold's listing, so a sweep's data is listed once per fold."""
    recorded = (record.get("data") or {}).get("listing_sha256")
    if not recorded:
        return None
    from ..run.splits import DATA_KEYS, data_identity  # lists the data (and loads torch): only here

    key = json.dumps({k: v for k, v in config.to_dict().items() if k in DATA_KEYS}, sort_keys=True, default=str)
    if key not in listed:
        try:
            listed[key] = data_identity(config)
        except FileNotFoundError:
            listed[key] = None  # the dataset is not here
        except ValueError as err:  # a copy whose speakers differ from the committed fold manifest
            listed[key] = str(err)
    here = listed[key]
    if here is None:
        return None
    if isinstance(here, str):
        return f"{folder}: the data here cannot be split as this run's was: {here}"
    differs = sorted(split for split, digest in recorded.items() if here.get(split) != digest)
    if differs:
        return (
            f"{folder}: trained on other data than {config.data_dir or 'PP_DATA_DIR'} holds (its "
            f"{', '.join(differs)} listing differs: clips, sizes or labels); a sweep would not count it finished"
        )
    return None


def macro_f1(predicted: np.ndarray, labels: np.ndarray, classes: int) -> float:
    """F1 averaged over ``classes`` classes, each counted equally, a class never labelled nor
    predicted scoring 0 (the training's ``metrics.macro_f1``, without scikit-learn).

    >>> macro_f1(np.array([0, 1, 1]), np.array([0, 1, 0]), 3)
    0.4444444444444444
    """
    scores = []
    for c in range(classes):
        hits = int(((predicted == c) & (labels == c)).sum())
        wrong = int(((predicted == c) != (labels == c)).sum())
        scores.append(hits / (hits + wrong / 2) if hits + wrong else 0.0)
    return float(np.mean(scores))


def rebuilt_rows(path: Path, ids: list[str]) -> pd.DataFrame:
    """The rows a profile's table holds for ``ids``, rebuilt from their stored summaries and read
    back as the text the table would hold (every cell a string, as written)."""
    sweep = path.parent
    rows = [
        table_row(StoredRun(sweep.name, path.stem, rid), read_summary(stored_dir(sweep.parent, sweep.name, rid)))
        for rid in ids
    ]
    text = pd.DataFrame(rows).to_csv(index=False)
    return pd.read_csv(io.StringIO(text), dtype=str, keep_default_na=False)


def rows_disagree(path: str | Path, limit: int = 3) -> list[str]:
    """One line per way a profile's table differs from the rows its summaries rebuild to: a
    column added or removed, or a cell whose text is not the rebuilt one (a float is compared as
    written, so a digit cut or changed is found). The first ``limit`` cells are named."""
    path = Path(path)
    table = pd.read_csv(io.StringIO(read_table_text(path)), dtype=str, keep_default_na=False)
    try:
        rebuilt = rebuilt_rows(path, list(table["run_id"]))
    except (KeyError, TypeError, ValueError) as err:  # a summary that parses but lacks what a row needs
        return [f"{path}: its rows cannot be rebuilt from the stored summaries ({type(err).__name__}: {err})"]
    fix = "rebuild it with the sweep's --aggregate-only (it is rebuilt from the stored summaries)"
    problems = []
    if extra := sorted(set(table.columns) - set(rebuilt.columns)):
        problems.append(f"{path}: column(s) {', '.join(extra)} that no summary holds; {fix}")
    if gone := sorted(set(rebuilt.columns) - set(table.columns)):
        problems.append(f"{path}: column(s) {', '.join(gone)} missing; {fix}")
    cells = [
        (rid, column, mine, theirs)
        for column in table.columns
        if column in rebuilt
        for rid, mine, theirs in zip(table["run_id"], table[column], rebuilt[column])
        if mine != theirs
    ]
    if cells:
        named = "; ".join(
            f"run {rid} {column} {mine!r} where its summary gives {theirs!r}"
            for rid, column, mine, theirs in cells[:limit]
        )
        problems.append(f"{path}: {len(cells)} cell(s) disagree with the stored summaries ({named}); {fix}")
    return problems


def read_table_text(path: Path) -> str:
    """A table's text as ``read_table`` parses it (checked first: ResultsError naming the fix)."""
    read_table(path)
    return path.read_text(encoding="utf-8").rstrip("\r\n") + "\n"


def seal(results_dir: str | Path) -> list[str]:
    """Record in each sweep's manifest the files the store holds but has not recorded (a store
    written before manifests existed), after checking everything else: refused with ResultsError
    while ``check_store`` finds any other problem, so nothing wrong is ever sealed."""
    results_dir = Path(results_dir)
    others = [
        p
        for p in check_store(results_dir)
        if "no entry in manifest.json" not in p and not p.startswith(str(results_dir / ROOT))
    ]
    if others:
        raise ResultsError(f"{len(others)} problem(s) besides unrecorded files, first: {others[0]}; nothing sealed")
    if lost := lost_manifests(results_dir):
        raise ResultsError(
            f"{lost[0]} once had a manifest.json (git's history holds it) and has none now"
            + (f", as have {len(lost) - 1} more" if len(lost) > 1 else "")
            + ": sealing would record whatever its files now hold; restore it (git checkout -- <it>), nothing sealed"
        )
    done = []
    for sweep in sub_folders(results_dir):
        recorded = read_manifest(sweep)
        new = [p for p in stored_files(sweep) if p.relative_to(sweep).as_posix() not in recorded]
        if new:
            record_files(sweep, new)
            done.append(f"{sweep}: {len(new)} file(s) recorded in manifest.json")
    root = root_digest(results_dir)
    atomic_write(results_dir / ROOT, lambda f: f.write(f"sha256 {root}\n".encode()))
    done.append(f"{results_dir / ROOT}: sha256 {root}")
    citation = results_dir.parent / "CITATION.cff"
    if citation.is_file() and CITED_ROOT.search(citation.read_text()):
        text = CITED_ROOT.sub(rf"\g<1>{root}", citation.read_text())
        atomic_write(citation, lambda f: f.write(text.encode()))
        done.append(f"{citation}: the results' root digest updated")
    return done


def lost_manifests(results_dir: Path) -> list[str]:
    """The sweeps' manifest.json files that git's history holds but the store does not: a sweep
    that lost its manifest cannot be told from one that predates manifests, except by history."""
    missing = [sweep / MANIFEST for sweep in sub_folders(results_dir) if not (sweep / MANIFEST).is_file()]
    if not missing:
        return []
    try:
        listed = subprocess.run(
            ["git", "log", "--all", "--format=", "--name-only", "--", *map(str, missing)],
            cwd=results_dir,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.split()
    except (OSError, subprocess.CalledProcessError):
        return []  # no git, or not a repository: nothing in history to compare with
    return sorted(str(p) for p in missing if any(str(p).endswith(name) for name in listed))


# CITATION.cff's line carrying the results' root digest (``seal`` keeps it current).
CITED_ROOT = re.compile(r"(value: \"?sha256:)[0-9a-f]{64}")
