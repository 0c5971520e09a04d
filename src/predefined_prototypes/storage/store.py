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
import functools
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
from ..run.schema import REQUIRED_FIELDS, REQUIRED_METRICS, SCHEMA_VERSION, metric_columns, undeclared
from .manifest import file_digest, forget_files, read_manifest, record_files, write_recorded
from .plans import Run


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
    return _parse_table(path, path.read_bytes()).copy()


@functools.lru_cache(maxsize=32)
def _parse_table(path: Path, content: bytes) -> pd.DataFrame:
    """``read_table``'s work, kept per content: a page reads the same tables many times, and an
    edited table is a new key. Callers get a copy, so the kept frame is never changed."""
    try:
        text = content.decode("utf-8")
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
    if not missing:  # each field of the kind the store reads it as, before anything reads it
        wrong = [k for k, kind in SUMMARY_KINDS.items() if not isinstance(record[k], kind)]
        if wrong:
            kinds = ", ".join(f"{k} ({type(record[k]).__name__}, not {SUMMARY_KINDS[k].__name__})" for k in wrong)
            raise ResultsError(f"{path}: {kinds}; restore it from git or remove its folder and run the sweep again")
    missing += [f"metrics.{k}" for k in REQUIRED_METRICS if k not in record.get("metrics", {})] if not missing else []
    missing += ["data.fold"] if not missing and "fold" not in (record.get("data") or {}) else []
    if missing:
        raise ResultsError(f"{path} lacks {', '.join(missing)}; remove its folder and run the sweep again")
    return record


# The kind each structured field of a stored summary must have (``read_summary``).
SUMMARY_KINDS = {"config": dict, "data": dict, "history": list, "metrics": dict}


def summary_config(record: dict, path: str | Path):
    """The RunConfig a stored summary records, or ResultsError naming the file."""
    from ..run.config import ConfigError, RunConfig

    try:
        return RunConfig.from_summary(record)
    except (ConfigError, TypeError) as err:
        raise ResultsError(f"{path}: its configuration is not valid here ({err})") from None


def sub_folders(parent: Path) -> list[Path]:
    """The sub-folders of ``parent`` (sweeps, or stored runs), without hidden ones (staging, locks)."""
    return sorted(p for p in parent.glob("*") if p.is_dir() and not p.name.startswith("."))


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


# A row's provenance columns, last in every table.
PROVENANCE = (
    "train_size",
    "test_size",
    "epochs_run",
    "wall_time_s",
    "threads",
    "git_commit",
    "package_version",
    "torch_version",
)


def column_order(columns) -> list[str]:
    """A table's columns in the one order every table is written in: the run's sweep, profile and
    id; its configuration fields by name; its metrics in the schema's order (``schema.METRICS``);
    its provenance. The order depends on the columns alone, never on which version of the package
    wrote the summaries, so rebuilding a table from the same summaries writes the same bytes.

    >>> column_order(["wall_time_s", "ece", "seed", "run_id", "accuracy", "loss", "sweep"])
    ['sweep', 'run_id', 'loss', 'seed', 'accuracy', 'ece', 'wall_time_s']
    """
    lead, metrics = ("sweep", "profile", "run_id"), {c: i for i, c in enumerate(metric_columns())}

    def rank(name: str) -> tuple:
        if name in lead:
            return (0, lead.index(name), "")
        if name in metrics:
            return (2, metrics[name], "")
        if name in PROVENANCE:
            return (3, PROVENANCE.index(name), "")
        return (1, 0, name)

    return sorted(columns, key=rank)


def write_table(runs: list[Run], results_dir: str | Path, keep: bool = True) -> pd.DataFrame:
    """Merge the stored runs of one profile into ``results/<sweep>/<profile>.csv`` by run id: rows
    of stored runs are (re)built from their metrics.json, and rows already in the table for runs
    this plan does not hold are kept unless ``keep=False``. Replaced atomically."""
    sweep, profile = runs[0].sweep, runs[0].profile
    path = table_path(results_dir, sweep, profile)
    refuse_links(results_dir, sweep)
    path.parent.mkdir(parents=True, exist_ok=True)
    recorded = _recorded(path.parent)
    rows = {}
    if keep and path.is_file() and path.stat().st_size > 0:
        # Rows of earlier plans, rebuilt from their summaries too (never carried over from the
        # table's text, which may have been edited), even when the table no longer parses.
        for rid in table_ids(path, sweep, profile):
            if (stored_dir(results_dir, sweep, rid) / "metrics.json").is_file():
                record = _verified_summary(stored_dir(results_dir, sweep, rid), recorded)
                rows[rid] = table_row(StoredRun(sweep, profile, rid), record)
    for run in runs:
        metrics = stored_dir(results_dir, sweep, run.run_id) / "metrics.json"
        if metrics.is_file():
            rows[run.run_id] = table_row(run, _verified_summary(metrics.parent, recorded))
    planned = {r.run_id for r in runs}
    # Planned runs first, in plan order, then kept rows of earlier plans.
    order = [r.run_id for r in runs if r.run_id in rows] + [k for k in rows if k not in planned]
    table = pd.DataFrame([rows[k] for k in order])
    table = table[column_order(table.columns)]
    if len(table):
        text = table.to_csv(index=False).encode()
        write_recorded(path.parent, path, text)
    elif not keep:
        path.unlink(missing_ok=True)  # pruned to nothing
        forget_files(path.parent, [path.name])
    return table


def _recorded(sweep_dir: Path) -> dict[str, str]:
    try:
        return read_manifest(sweep_dir)
    except ValueError as err:
        raise ResultsError(str(err)) from None


def _verified_summary(folder: Path, recorded: dict[str, str]) -> dict:
    """A stored summary for a table row, refused (ResultsError, before anything is written) when
    its SHA-256 is not the one the sweep's manifest recorded: an edited value never reaches a
    table, nor gets a new digest there."""
    path = folder / "metrics.json"
    digest = recorded.get(f"{folder.parent.name}/{folder.name}/metrics.json")
    if digest is not None and file_digest(path) != digest:
        raise ResultsError(
            f"{path} is not the summary the store recorded (its SHA-256 differs from manifest.json); restore it "
            f"(git checkout -- {path}) and run again; nothing was written"
        )
    return read_summary(folder)


def refuse_links(results_dir: str | Path, sweep: str) -> None:
    """ResultsError when the results folder, the sweep's folder or its runs folder is a symbolic
    link: the store writes only inside the results folder it was given."""
    for folder in (Path(results_dir) / sweep, Path(results_dir) / sweep / "runs"):
        if folder.is_symlink():
            raise ResultsError(
                f"{folder} is a symbolic link (to {folder.resolve()}); the store writes only into plain "
                "folders under the results folder: replace the link with a folder"
            )


@dataclass(frozen=True)
class StoredRun:  # what table_row reads of a sweep's Run
    sweep: str
    profile: str
    run_id: str


# Where ``store migrate`` writes a sweep's new copy (and parks the old one during its swap).
MIGRATION = ".migrate"


def unfinished_migration(results_dir: str | Path) -> str | None:
    """The sentence naming an interrupted migration's copies in ``results/.migrate``, or None:
    until ``store migrate`` finishes it, a sweep may exist only there."""
    aside = Path(results_dir) / MIGRATION
    if not aside.is_dir() or not any(aside.iterdir()):
        return None
    names = ", ".join(sorted(p.name for p in aside.iterdir()))
    return (
        f"an interrupted store migrate left {names} in {aside}: run python -m predefined_prototypes store "
        "migrate to finish it before anything else reads or writes the store"
    )


@contextmanager
def store_lock(results_dir: str | Path, exclusive: bool = False):
    """Hold ``results/.store.lock`` for the duration: shared by sweeps and derive (which also lock
    their sweep), exclusive for ``store migrate``, which rewrites every sweep; or raise SweepLocked
    naming why. Taken before any file is touched; released when the holder exits or is killed."""
    from ..run.preflight import writable

    folder = Path(results_dir)
    writable(folder, "--results")
    handle = open(folder / ".store.lock", "a+")
    try:
        try:
            fcntl.flock(handle, (fcntl.LOCK_EX if exclusive else fcntl.LOCK_SH) | fcntl.LOCK_NB)
        except BlockingIOError:
            raise SweepLocked(
                f"the store {folder} is busy: "
                + ("a sweep or derive is using it" if exclusive else "store migrate is rewriting it")
                + " (results/.store.lock); wait for it to finish or stop it, then run again"
            ) from None
        yield
    finally:
        handle.close()  # closing releases the lock


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
