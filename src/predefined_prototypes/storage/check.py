"""The store's own check: every stored file against its recorded digest, every table cell
rebuilt from its run's summary, nothing the store never wrote, no symbolic links; and sealing a
store once every other check passes (``python -m predefined_prototypes store check|seal``)."""

from __future__ import annotations

import io
from pathlib import Path

import pandas as pd

from ..run.schema import SCHEMA_VERSION, undeclared
from .manifest import read_manifest, record_files, stored_files, verify_files
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
    return problems


def check_sweep(sweep: Path) -> list[str]:
    """Every problem of one sweep's stored content: a symbolic link; a file whose SHA-256 is not
    the one the store recorded when it wrote it (``manifest.py``), or that the store never wrote;
    a summary that does not parse or lacks a field, or is stored under another id than its
    configuration hashes to; a table that does not parse, or whose cells are not those its rows
    rebuild to from their summaries (every cell, as written); a table row without its summary, or
    a summary no table of the sweep holds."""
    problems = verify_files(sweep)
    summaries = set()
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
    rebuilt = rebuilt_rows(path, list(table["run_id"]))
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
    others = [p for p in check_store(results_dir) if "no entry in manifest.json" not in p]
    if others:
        raise ResultsError(f"{len(others)} problem(s) besides unrecorded files, first: {others[0]}; nothing sealed")
    done = []
    for sweep in sub_folders(Path(results_dir)):
        recorded = read_manifest(sweep)
        new = [p for p in stored_files(sweep) if p.relative_to(sweep).as_posix() not in recorded]
        if new:
            record_files(sweep, new)
            done.append(f"{sweep}: {len(new)} file(s) recorded in manifest.json")
    return done
