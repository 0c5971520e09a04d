"""Where finished runs are kept, and the rules that keep them safe.

    results/<sweep>/runs/<id>/          metrics.json and a slim embeddings.npz, per run
    results/<sweep>/<profile>.csv       one row per stored run of the profile

Append-only: a run is stored once, when it finishes, and never replaced; a profile's table is
merged by run id and never loses a row, nor touches another profile's table (only the sweep's
``--prune`` removes anything). Every write is atomic, and one process at a time holds a sweep's
lock.
"""

from __future__ import annotations

import csv
import fcntl
import hashlib
import io
import json
import os
import shutil
import socket
import sys
import tempfile
import time
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from ..run.files import atomic_write, umask
from ..run.schema import REQUIRED_FIELDS, REQUIRED_METRICS, RETIRED_METRICS, SCHEMA_VERSION, metric_columns, undeclared
from .manifest import file_digest, forget_files, read_manifest, record_files, stored_files, verify_files
from .plan import Run


class ResultsError(ValueError):
    """A stored table or summary is missing, empty or malformed; the message names the file and the fix."""


class SweepLocked(RuntimeError):
    """Another process is running or aggregating the same sweep; the message names it."""


def stored_dir(results_dir: str | Path, sweep: str, rid: str) -> Path:
    return Path(results_dir) / sweep / "runs" / rid


def table_path(results_dir: str | Path, sweep: str, profile: str) -> Path:
    return Path(results_dir) / sweep / f"{profile}.csv"


def read_table(path: str | Path) -> pd.DataFrame:
    """A profile's table, parsed strictly: a line whose field count is not the header's (a
    malformed or cut line) raises ResultsError naming the file and the line, rather than being
    dropped or failing inside pandas."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as err:
        raise ResultsError(
            f"{path} is not UTF-8 text ({err.reason} at byte {err.start}); rebuild it with the sweep's --aggregate-only"
        ) from None
    if not text.strip():
        raise ResultsError(f"{path} is empty: rebuild it with the sweep's --aggregate-only")
    text = text.rstrip("\r\n") + "\n"  # blank lines at the end (an editor's) hold no rows
    reader = csv.reader(io.StringIO(text))
    header = next(reader)
    if "run_id" not in header:
        raise ResultsError(f"{path} has no run_id column; rebuild it with the sweep's --aggregate-only")
    while True:
        start = reader.line_num + 1  # where the record begins (an open quote runs on)
        record = next(reader, None)
        if record is None:
            break
        if len(record) != len(header):
            raise ResultsError(
                f"{path}, line {start}: {len(record)} field(s) where the header has {len(header)}; "
                "rebuild the table with the sweep's --aggregate-only (it is rebuilt from the stored summaries)"
            )
    return pd.read_csv(io.StringIO(text), dtype={"fold": str, "run_id": str})


def table_ids(path: str | Path, sweep: str, profile: str) -> list[str]:
    """The run ids a profile's table lists, read line by line even where the table no longer
    parses (a cut or edited line): what ``--aggregate-only`` rebuilds it from."""
    ids = []
    for line in Path(path).read_bytes().decode("utf-8", errors="replace").splitlines()[1:]:
        fields = line.split(",")
        if len(fields) > 2 and fields[0] == sweep and fields[1] == profile:
            ids.append(fields[2])
    return ids


def read_summary(folder: str | Path) -> dict:
    """A stored run's metrics.json, checked against the schema: ResultsError naming the file when
    it does not parse or lacks a required field."""
    path = Path(folder) / "metrics.json"
    try:
        record = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
        raise ResultsError(f"{path} cannot be read ({err}); remove its folder and run the sweep again") from None
    missing = [k for k in REQUIRED_FIELDS if k not in record] if isinstance(record, dict) else ["all"]
    missing += [f"metrics.{k}" for k in REQUIRED_METRICS if k not in record.get("metrics", {})] if not missing else []
    missing += ["data.fold"] if not missing and "fold" not in (record.get("data") or {}) else []
    if missing:
        raise ResultsError(f"{path} lacks {', '.join(missing)}; remove its folder and run the sweep again")
    return record


def summary_config(record: dict, path: str | Path):
    """The RunConfig a stored summary records, or ResultsError naming the file."""
    from ..run.config import ConfigError, RunConfig

    try:
        return RunConfig.from_dict(record["config"])
    except (ConfigError, TypeError) as err:
        raise ResultsError(f"{path}: its configuration is not valid here ({err})") from None


def _folders(parent: Path) -> list[Path]:
    """The sub-folders of ``parent`` (sweeps, or stored runs), without hidden ones (staging, locks)."""
    return sorted(p for p in parent.glob("*") if p.is_dir() and not p.name.startswith("."))


def check_store(results_dir: str | Path) -> list[str]:
    """Every problem of a results folder's stored content, one line each (none: the store is
    sound), as ``git fsck`` checks a repository: a symbolic link, and each sweep's
    ``check_sweep`` problems. (Whether the tables derived from it are up to date is
    ``derive.check_all``'s question: the store does not know what is derived from it.)"""
    results_dir = Path(results_dir)
    problems = [
        f"{p}: a symbolic link (to {p.resolve()}); the store holds plain folders and files only: replace it"
        for p in sorted(results_dir.iterdir())
        if p.is_symlink()
    ]
    for sweep in _folders(results_dir):
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
    for folder in _folders(sweep / "runs"):
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
        table_row(_StoredRun(sweep.name, path.stem, rid), read_summary(stored_dir(sweep.parent, sweep.name, rid)))
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


def stored_elsewhere(run: Run, results_dir: str | Path) -> Path | None:
    """Another sweep's stored summary of the same run (same id: the same configuration in every
    field that changes the numbers), which this sweep can reuse instead of training again."""
    for metrics in sorted(Path(results_dir).glob(f"*/runs/{run.run_id}/metrics.json")):
        if metrics.parent.parent.parent.name != run.sweep:
            return metrics.parent
    return None


def finished_where(run: Run, results_dir: str | Path) -> str | None:
    """'results' when the run's summary is stored, 'broken' when it is stored but does not read
    (``read_summary``), 'reused' when another sweep stored the same run, 'runs' when only its
    local outputs are, else None."""
    stored = stored_dir(results_dir, run.sweep, run.run_id)
    if (stored / "metrics.json").is_file():
        try:
            read_summary(stored)
        except ResultsError:
            return "broken"
        return "results"
    if stored_elsewhere(run, results_dir) is not None:
        return "reused"
    if (Path(run.out) / "metrics.json").is_file():
        return "runs"
    return None


class StoreRefused(ResultsError):
    """A finished run's summary is not what its id says; nothing was stored."""


def _checked_record(run: Run, path: Path) -> dict:
    """The summary at ``path`` as it will be stored (no machine path, the schema version), after
    checking that its configuration is the planned run's: StoreRefused naming the folder and the
    fields that differ otherwise."""
    from ..run.config import RunConfig

    record = read_summary(path.parent)
    config = summary_config(record, path)
    if config.run_id() != run.run_id:
        planned = RunConfig.from_dict(run.settings).identity()
        found = config.identity()
        fields = sorted(k for k in planned.keys() | found.keys() if planned.get(k) != found.get(k))
        raise StoreRefused(
            f"{path.parent} holds a run whose configuration is not run {run.run_id}'s "
            f"(differs in {', '.join(f'{k}: {found.get(k)!r} for {planned.get(k)!r}' for k in fields)}); "
            "nothing was stored: remove that folder and run the sweep again"
        )
    if names := undeclared(record["metrics"]):
        raise StoreRefused(
            f"{path}: metric(s) {', '.join(names)} not declared in schema.METRICS; nothing was stored: "
            "declare each (its pattern and what it measures) there, then run the sweep again"
        )
    record["config"]["out"] = None
    record["schema_version"] = SCHEMA_VERSION
    return record


def store(run: Run, results_dir: str | Path) -> bool:
    """Copy a finished run's metrics.json and a slim embeddings.npz (z and logits as float16) into
    ``results/<sweep>/runs/<id>/``, all at once (staged, then one rename), from its local outputs
    or from another sweep's stored copy, after checking that the summary's configuration hashes to
    the run's id (StoreRefused otherwise). A stored summary is never replaced. Returns whether
    anything was stored."""
    final = stored_dir(results_dir, run.sweep, run.run_id)
    if (final / "metrics.json").is_file():
        return False
    local, other = Path(run.out), stored_elsewhere(run, results_dir)
    if not (local / "metrics.json").is_file() and other is None:
        return False
    source = local if (local / "metrics.json").is_file() else other
    record = _checked_record(run, source / "metrics.json")
    refuse_links(results_dir, run.sweep)
    final.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(dir=final.parent, prefix=f".{run.run_id}-"))
    try:
        os.chmod(staging, 0o777 & ~umask())  # mkdtemp makes it 0700: a shared results folder stays readable
        text = json.dumps(record, indent=1, sort_keys=True).encode()
        atomic_write(staging / "metrics.json", lambda f: f.write(text))
        if source == local:
            with np.load(local / "embeddings.npz") as full:
                slim = {k: (full[k].astype(np.float16) if k in ("z", "logits") else full[k]) for k in full.files}
            atomic_write(staging / "embeddings.npz", lambda f: np.savez_compressed(f, **slim))
        else:  # already slim
            shutil.copy(other / "embeddings.npz", staging / "embeddings.npz")
        if final.exists():  # a folder without metrics.json: an incomplete copy made by hand
            shutil.rmtree(final)
        # Recorded before the folder appears: a crash in between leaves an entry whose file is
        # missing (the sweep stores the run again, byte for byte), never a file without its entry.
        sweep_dir = final.parent.parent
        record_files(
            sweep_dir,
            [final / name for name in ("metrics.json", "embeddings.npz")],
            {f"runs/{run.run_id}/{name}": file_digest(staging / name) for name in ("metrics.json", "embeddings.npz")},
        )
        os.rename(staging, final)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return True


def unstore(run: Run, results_dir: str | Path) -> None:
    """Take a just-stored run back out (its folder and manifest entries): what a sweep does when
    the run's table row cannot be written, so that no stored run is left without its row."""
    folder = stored_dir(results_dir, run.sweep, run.run_id)
    forget_files(folder.parent.parent, [f"runs/{run.run_id}"])
    shutil.rmtree(folder, ignore_errors=True)


def seal(results_dir: str | Path) -> list[str]:
    """Record in each sweep's manifest the files the store holds but has not recorded (a store
    written before manifests existed), after checking everything else: refused with ResultsError
    while ``check_store`` finds any other problem, so nothing wrong is ever sealed."""
    others = [p for p in check_store(results_dir) if "no entry in manifest.json" not in p]
    if others:
        raise ResultsError(f"{len(others)} problem(s) besides unrecorded files, first: {others[0]}; nothing sealed")
    done = []
    for sweep in _folders(Path(results_dir)):
        recorded = read_manifest(sweep)
        new = [p for p in stored_files(sweep) if p.relative_to(sweep).as_posix() not in recorded]
        if new:
            record_files(sweep, new)
            done.append(f"{sweep}: {len(new)} file(s) recorded in manifest.json")
    return done


def _flatten(prefix: str, value, row: dict) -> None:
    if isinstance(value, dict):
        for key, inner in value.items():
            _flatten(f"{prefix}_{key}" if prefix else key, inner, row)
    elif not isinstance(value, list):
        row[prefix] = value


def table_row(run: Run, record: dict) -> dict:
    """One results-table row: every config field, every declared metric (``schema.METRICS``) in
    declaration order, provenance."""
    row = {"sweep": run.sweep, "profile": run.profile, "run_id": run.run_id}
    for k, v in record["config"].items():
        if k in ("out", "extra"):
            continue
        # One cell per field: lists as "a,b" (factors, betas), mappings as JSON (backbone options).
        row[k] = (
            ",".join(map(str, v))
            if isinstance(v, list)
            else json.dumps(v, sort_keys=True)
            if isinstance(v, dict)
            else v
        )
    row["fold"] = record["data"]["fold"]
    metrics = {}
    _flatten("", record["metrics"], metrics)
    row.update((name, metrics[name]) for name in metric_columns() if name in metrics)  # in declared order
    row.update(
        train_size=record["data"]["train_size"],
        test_size=record["data"]["test_size"],
        epochs_run=len(record["history"]),
        wall_time_s=record["wall_time_s"],
        device=record["device"],
        threads=record.get("threads"),
        git_commit=record["git_commit"],
        package_version=record["package_version"],
        torch_version=record["torch_version"],
    )
    return row


def write_table(runs: list[Run], results_dir: str | Path, keep: bool = True) -> pd.DataFrame:
    """Merge the stored runs of one profile into ``results/<sweep>/<profile>.csv`` by run id: rows
    of stored runs are (re)built from their metrics.json, and rows already in the table for runs
    this plan does not hold are kept unless ``keep=False``. Replaced atomically."""
    sweep, profile = runs[0].sweep, runs[0].profile
    path = table_path(results_dir, sweep, profile)
    refuse_links(results_dir, sweep)
    path.parent.mkdir(parents=True, exist_ok=True)
    rows = {}
    if keep and path.is_file() and path.stat().st_size > 0:
        # Rows of earlier plans, rebuilt from their summaries too (never carried over from the
        # table's text, which may have been edited), even when the table no longer parses.
        for rid in table_ids(path, sweep, profile):
            if (stored_dir(results_dir, sweep, rid) / "metrics.json").is_file():
                rows[rid] = table_row(
                    _StoredRun(sweep, profile, rid), read_summary(stored_dir(results_dir, sweep, rid))
                )
    for run in runs:
        metrics = stored_dir(results_dir, sweep, run.run_id) / "metrics.json"
        if metrics.is_file():
            rows[run.run_id] = table_row(run, read_summary(metrics.parent))
    planned = {r.run_id for r in runs}
    # Planned runs first, in plan order, then kept rows of earlier plans.
    order = [r.run_id for r in runs if r.run_id in rows] + [k for k in rows if k not in planned]
    table = pd.DataFrame([rows[k] for k in order])
    if len(table):
        text = table.to_csv(index=False).encode()
        record_files(path.parent, [path], {path.name: hashlib.sha256(text).hexdigest()})
        atomic_write(path, lambda f: f.write(text))
    elif not keep:
        path.unlink(missing_ok=True)  # pruned to nothing
        forget_files(path.parent, [path.name])
    return table


def refuse_links(results_dir: str | Path, sweep: str) -> None:
    """ResultsError when the results folder, the sweep's folder or its runs folder is a symbolic
    link: the store writes only inside the results folder it was given."""
    for folder in (Path(results_dir) / sweep, Path(results_dir) / sweep / "runs"):
        if folder.is_symlink():
            raise ResultsError(
                f"{folder} is a symbolic link (to {folder.resolve()}); the store writes only into plain "
                "folders under the results folder: replace the link with a folder"
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
    for folder in _folders(sweep / "runs"):
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
            new = table_row(_StoredRun(sweep.name, row["profile"], new_id), record)
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
    aside = results_dir / ".migrate"
    done = _finish_swaps(results_dir, aside)
    for sweep in _folders(results_dir):
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


@dataclass(frozen=True)
class _StoredRun:  # what table_row reads of a sweep's Run
    sweep: str
    profile: str
    run_id: str


def _same(old, new) -> bool:
    """Whether a table cell read back from CSV holds the value a rebuilt row writes."""
    if isinstance(old, float) and np.isnan(old):  # an empty cell: none, or an empty list
        return new is None or new == "" or (isinstance(new, float) and np.isnan(new))
    if isinstance(new, str) or isinstance(old, str):
        return str(old) == str(new)
    return old == new


@contextmanager
def sweep_lock(results_dir: str | Path, sweep: str):
    """Hold ``results/<sweep>/.lock`` for the duration, or raise SweepLocked naming the holder.
    The lock is the operating system's (flock): a killed holder never leaves it stale."""
    from ..run.preflight import writable

    folder = Path(results_dir) / sweep
    writable(folder, "--results")
    handle = open(folder / ".lock", "a+")
    try:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.seek(0)
            holder = handle.read().strip() or "another process"
            raise SweepLocked(
                f"sweep {sweep} is busy: {holder} holds {folder / '.lock'}; "
                "wait for it to finish or stop it, then run again"
            ) from None
        handle.seek(0)
        handle.truncate()
        handle.write(
            f"pid {os.getpid()} on {socket.gethostname()} since {time.strftime('%Y-%m-%d %H:%M:%S')} "
            f"({' '.join(sys.argv[:4])})"
        )
        handle.flush()
        yield
    finally:
        handle.close()  # closing releases the lock
