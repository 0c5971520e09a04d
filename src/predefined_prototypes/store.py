"""Where finished runs are kept, and the rules that keep them safe.

    results/<sweep>/runs/<id>/          metrics.json and a slim embeddings.npz, per run
    results/<sweep>/<profile>.csv       one row per stored run of the profile

Append-only: a run is stored once, when it finishes, and never replaced; a profile's table is
merged by run id and never loses a row, nor touches another profile's table (only the sweep's
``--prune`` removes anything). Every write is atomic, and one process at a time holds a sweep's
lock.
"""

from __future__ import annotations

import fcntl
import json
import os
import shutil
import socket
import sys
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from .files import atomic_write

if TYPE_CHECKING:
    from .sweep import Run


class SweepLocked(RuntimeError):
    """Another process is running or aggregating the same sweep; the message names it."""


def stored_dir(results_dir: str | Path, sweep: str, rid: str) -> Path:
    return Path(results_dir) / sweep / "runs" / rid


def table_path(results_dir: str | Path, sweep: str, profile: str) -> Path:
    return Path(results_dir) / sweep / f"{profile}.csv"


def stored_elsewhere(run: Run, results_dir: str | Path) -> Path | None:
    """Another sweep's stored summary of the same run (same id: the same configuration in every
    field that changes the numbers), which this sweep can reuse instead of training again."""
    for metrics in sorted(Path(results_dir).glob(f"*/runs/{run.run_id}/metrics.json")):
        if metrics.parent.parent.parent.name != run.sweep:
            return metrics.parent
    return None


def finished_where(run: Run, results_dir: str | Path) -> str | None:
    """'results' when the run's summary is stored, 'reused' when another sweep stored the same
    run, 'runs' when only its local outputs are, else None."""
    if (stored_dir(results_dir, run.sweep, run.run_id) / "metrics.json").is_file():
        return "results"
    if stored_elsewhere(run, results_dir) is not None:
        return "reused"
    if (Path(run.out) / "metrics.json").is_file():
        return "runs"
    return None


def store(run: Run, results_dir: str | Path) -> bool:
    """Copy a finished run's metrics.json and a slim embeddings.npz (z and logits as float16) into
    ``results/<sweep>/runs/<id>/``, all at once (staged, then one rename), from its local outputs
    or from another sweep's stored copy. A stored summary is never replaced. Returns whether
    anything was stored."""
    final = stored_dir(results_dir, run.sweep, run.run_id)
    if (final / "metrics.json").is_file():
        return False
    local, other = Path(run.out), stored_elsewhere(run, results_dir)
    if not (local / "metrics.json").is_file() and other is None:
        return False
    final.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(dir=final.parent, prefix=f".{run.run_id}-"))
    try:
        if (local / "metrics.json").is_file():
            shutil.copy(local / "metrics.json", staging / "metrics.json")
            with np.load(local / "embeddings.npz") as full:
                slim = {k: (full[k].astype(np.float16) if k in ("z", "logits") else full[k]) for k in full.files}
            np.savez_compressed(staging / "embeddings.npz", **slim)
        else:  # already slim
            for name in ("metrics.json", "embeddings.npz"):
                shutil.copy(other / name, staging / name)
        if final.exists():  # a folder without metrics.json: an incomplete copy made by hand
            shutil.rmtree(final)
        os.rename(staging, final)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return True


def _flatten(prefix: str, value, row: dict) -> None:
    if isinstance(value, dict):
        for key, inner in value.items():
            _flatten(f"{prefix}_{key}" if prefix else key, inner, row)
    elif not isinstance(value, list):
        row[prefix] = value


def table_row(run: Run, record: dict) -> dict:
    """One results-table row: every config field, every scalar metric, provenance."""
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
    _flatten("", record["metrics"], row)
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
    path.parent.mkdir(parents=True, exist_ok=True)
    rows = {}
    if keep and path.is_file() and path.stat().st_size > 0:
        old = pd.read_csv(path, dtype={"fold": str, "run_id": str})
        rows = {r["run_id"]: r for r in old.to_dict("records")}
    for run in runs:
        metrics = stored_dir(results_dir, sweep, run.run_id) / "metrics.json"
        if metrics.is_file():
            rows[run.run_id] = table_row(run, json.loads(metrics.read_text()))
    planned = {r.run_id for r in runs}
    # Planned runs first, in plan order, then kept rows of earlier plans.
    order = [r.run_id for r in runs if r.run_id in rows] + [k for k in rows if k not in planned]
    table = pd.DataFrame([rows[k] for k in order])
    if len(table):
        atomic_write(path, lambda f: table.to_csv(f, index=False))
    elif not keep:
        path.unlink(missing_ok=True)  # pruned to nothing
    return table


@contextmanager
def sweep_lock(results_dir: str | Path, sweep: str):
    """Hold ``results/<sweep>/.lock`` for the duration, or raise SweepLocked naming the holder.
    The lock is the operating system's (flock): a killed holder never leaves it stale."""
    from .preflight import writable

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
