"""Migrating stored runs to the current summary schema, transactionally: a sweep's new store is
built beside it under its lock and swapped in only when every table it rebuilds equals the old
one (``python -m predefined_prototypes store migrate``)."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import numpy as np
import pandas as pd

from ..run.files import atomic_write
from ..run.schema import RETIRED_METRICS, SCHEMA_VERSION
from .check import check_sweep
from .manifest import forget_files, record_files, verify_files
from .store import (
    MIGRATION,
    ResultsError,
    StoredRun,
    read_summary,
    read_table,
    store_lock,
    sub_folders,
    summary_config,
    sweep_lock,
    table_row,
)

# Configuration fields that became dataset options (version 3): a migrated table's old column is
# checked against the option.
RENAMED_OPTIONS = ("classes",)


def _upgrade(record: dict) -> None:
    """One stored summary brought to ``SCHEMA_VERSION`` in place, whatever version wrote it."""
    config = record["config"]
    config["out"] = None
    for path in RETIRED_METRICS:
        record["metrics"].get(path[0], {}).pop(path[1], None)
    for key in RENAMED_OPTIONS:
        if key in config:
            value = config.pop(key)
            config["dataset_options"] = {
                **config.get("dataset_options", {}),
                **({key: value} if value is not None else {}),
            }
    record["schema_version"] = SCHEMA_VERSION


def _migration_plan(sweep: Path) -> tuple[list, list, list[str]] | None:
    """What migrating one sweep writes: (summaries to write and move, tables to write, what it
    did), checked against every stored value first (ResultsError on any disagreement); None when
    every summary is already at ``SCHEMA_VERSION``."""
    plans, tables, done = [], [], []
    retired = {"_".join(p) for p in RETIRED_METRICS}
    summaries = {}
    for folder in sub_folders(sweep / "runs"):
        record = read_summary(folder)
        upgrade = record.get("schema_version") != SCHEMA_VERSION
        if upgrade:
            _upgrade(record)
        new_id = summary_config(record, folder / "metrics.json").run_id()
        if upgrade:
            plans.append((folder.name, new_id, record))
        summaries[folder.name] = (new_id, record)
    if not plans:
        return None
    targets = [new_id for new_id, _ in summaries.values()]
    if len(set(targets)) < len(targets):
        twice = sorted({t for t in targets if targets.count(t) > 1})
        raise ResultsError(f"{sweep / 'runs'}: more than one stored summary is run {', '.join(twice)}; keep one")
    for path in sorted(sweep.glob("*.csv")):
        rows = []
        for row in read_table(path).to_dict("records"):
            if row["run_id"] not in summaries:
                raise ResultsError(f"{path}: row {row['run_id']} has no stored summary")
            new_id, record = summaries[row["run_id"]]
            new = table_row(StoredRun(sweep.name, row["profile"], new_id), record)
            for key, value in row.items():
                now = json.loads(new["dataset_options"]).get(key) if key in RENAMED_OPTIONS else new.get(key)
                if key not in retired | {"run_id"} and not _same(value, now):
                    raise ResultsError(
                        f"{path}: run {row['run_id']}'s {key} would change ({value!r} -> {new.get(key)!r})"
                    )
            rows.append(new)
        tables.append((path.name, pd.DataFrame(rows)))
        done.append(f"{path}: {len(rows)} rows, every value unchanged")
    moved = sum(old != new for old, new, _ in plans)
    done.append(f"{sweep / 'runs'}: {len(summaries)} summaries at schema {SCHEMA_VERSION}, {moved} moved to their id")
    return plans, tables, done


def migrate(results_dir: str | Path) -> list[str]:
    """Bring a results folder to ``SCHEMA_VERSION``, one sweep at a time, as a transaction: each
    summary loses its machine path and retired metrics and moves to the folder its configuration
    hashes to; each table's rows are rebuilt and must hold the same value in every column the old
    row had (but the run id and retired metrics), else ResultsError and nothing is written.

    A sweep is written aside (``results/.migrate/<sweep>``: a copy with the new summaries, folders,
    tables and manifest), checked there with ``check_sweep``, and only then swapped in, under the
    sweep's lock: an interruption before the swap leaves the old store untouched (the copy is
    discarded by the next migrate), one during the two renames of the swap is finished by the next
    migrate from the checked copy. A sweep already at the version is only read. Derived tables are
    the caller's (``store migrate`` re-derives what the moved runs changed). Returns what it did."""
    results_dir = Path(results_dir)
    with store_lock(results_dir, exclusive=True):  # no sweep, derive or other migrate meanwhile
        return _migrate(results_dir, results_dir / MIGRATION)


def _migrate(results_dir: Path, aside: Path) -> list[str]:
    done = _finish_swaps(results_dir, aside)
    for sweep in sub_folders(results_dir):
        with sweep_lock(results_dir, sweep.name):
            if problems := verify_files(sweep):
                raise ResultsError(f"{len(problems)} problem(s) in {sweep}, nothing migrated; first: {problems[0]}")
            plan = _migration_plan(sweep)
            if plan is None:
                continue
            plans, tables, did = plan
            staged = aside / sweep.name
            shutil.rmtree(staged, ignore_errors=True)
            shutil.copytree(sweep, staged, ignore=shutil.ignore_patterns(".*"), symlinks=True)
            try:
                for old, new, record in plans:
                    text = json.dumps(record, indent=1, sort_keys=True).encode()
                    atomic_write(staged / "runs" / old / "metrics.json", lambda f, text=text: f.write(text))
                    if new != old:
                        os.rename(staged / "runs" / old, staged / "runs" / new)
                for name, table in tables:
                    atomic_write(staged / name, lambda f, table=table: table.to_csv(f, index=False))
                forget_files(staged, [f"runs/{old}" for old, _, _ in plans] + [name for name, _ in tables])
                record_files(
                    staged,
                    [staged / "runs" / new / n for _, new, _ in plans for n in ("metrics.json", "embeddings.npz")]
                    + [staged / name for name, _ in tables],
                )
                if problems := check_sweep(staged):
                    raise ResultsError(f"the migrated copy of {sweep} fails its check, nothing changed: {problems[0]}")
            except BaseException:
                shutil.rmtree(aside, ignore_errors=True)  # nothing swapped yet: only this copy is there
                raise
            os.rename(sweep, aside / f"{sweep.name}.old")
            os.rename(staged, sweep)
            shutil.rmtree(aside / f"{sweep.name}.old")
            done += did
    shutil.rmtree(aside, ignore_errors=True)
    return done


def _finish_swaps(results_dir: Path, aside: Path) -> list[str]:
    """Finish a swap an earlier migrate was interrupted in (the old sweep moved aside, the checked
    copy not yet in place), and discard copies that never reached their swap."""
    done = []
    for old in sorted(aside.glob("*.old")) if aside.is_dir() else []:
        name = old.name.removesuffix(".old")
        if (results_dir / name).exists():  # written after the interruption: keep every copy, decide by hand
            raise ResultsError(
                f"{results_dir / name} exists beside the interrupted migration's copies of it in {aside} "
                f"({old.name}: the store before; {name}: the checked copy, if present); nothing was removed: "
                f"move {results_dir / name} aside, then run store migrate again"
            )
        if not (results_dir / name).exists():
            if (aside / name).is_dir():
                os.rename(aside / name, results_dir / name)
                done.append(f"{results_dir / name}: the interrupted migration's checked copy swapped in")
            else:
                os.rename(old, results_dir / name)
                done.append(f"{results_dir / name}: restored from before the interrupted migration")
        shutil.rmtree(old, ignore_errors=True)
    shutil.rmtree(aside, ignore_errors=True)
    return done


def _same(old, new) -> bool:
    """Whether a table cell read back from CSV holds the value a rebuilt row writes."""
    if isinstance(old, float) and np.isnan(old):  # an empty cell: none, or an empty list
        return new is None or new == "" or (isinstance(new, float) and np.isnan(new))
    if isinstance(new, str) or isinstance(old, str):
        return str(old) == str(new)
    return old == new
