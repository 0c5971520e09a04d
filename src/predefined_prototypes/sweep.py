"""Sweeps: a YAML file expands into runs; each run is a papermill execution of
``notebooks/train.ipynb`` into ``runs/<sweep>/<run_id>/``; finished runs are gathered into
``results/<sweep>.csv`` plus a small summary per run under ``results/<sweep>/``.

A sweep file::

    description: every loss on FSDD
    base: {dataset: fsdd, epochs: 15}          # RunConfig fields shared by every run
    grid: {loss: [ce, focal, prototypes]}       # every combination (or a list of such grids)
    profiles:                                   # named overrides of base and grid
      quick: {base: {epochs: 3}, grid: {fold: [theo], seed: [0]}}
      full: {grid: {fold: [george, theo], seed: [0, 1, 2]}}

A run's id is a hash of its resolved configuration, so rerunning a sweep skips every run whose
``metrics.json`` exists (written last, atomically, by the run itself): an interrupted sweep
resumes where it stopped, and a run killed halfway is simply run again.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import os
import shutil
import sys
import tempfile
import time
import traceback
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import yaml
from tqdm import tqdm

from .config import ConfigError, RunConfig

SWEEP_KEYS = {"description", "base", "grid", "profiles"}
PROFILE_KEYS = {"base", "grid"}


@dataclass(frozen=True)
class Run:
    sweep: str
    profile: str
    run_id: str
    settings: dict  # RunConfig fields, without ``out``
    out: str


def _grid_combinations(grid: dict) -> list[dict]:
    keys = list(grid)
    values = [v if isinstance(v, list) else [v] for v in grid.values()]
    return [dict(zip(keys, combo)) for combo in itertools.product(*values)]


def run_id(config: RunConfig) -> str:
    """A stable id from every field that changes the result."""
    fields = {k: v for k, v in config.to_dict().items() if k not in ("out", "extra")}
    return hashlib.sha256(json.dumps(fields, sort_keys=True).encode()).hexdigest()[:12]


def load_sweep(path: str | Path, profile: str, runs_dir: str | Path = "runs") -> list[Run]:
    """Expand a sweep file's profile into runs, validating every configuration first."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no sweep file at {path}")
    spec = yaml.safe_load(path.read_text()) or {}
    unknown = set(spec) - SWEEP_KEYS
    if unknown:
        raise ConfigError(f"{path}: unknown key(s) {sorted(unknown)}; valid: {sorted(SWEEP_KEYS)}")
    profiles = spec.get("profiles") or {}
    if profile not in profiles:
        raise ConfigError(f"{path}: no profile {profile!r}; valid profiles: {sorted(profiles)}")
    chosen = profiles[profile] or {}
    if set(chosen) - PROFILE_KEYS:
        raise ConfigError(f"{path}: profile {profile!r} may only set {sorted(PROFILE_KEYS)}")
    base = {**(spec.get("base") or {}), **(chosen.get("base") or {})}
    grids = spec.get("grid") or [{}]
    grids = grids if isinstance(grids, list) else [grids]
    sweep, runs, seen = path.stem, [], set()
    profile_grid = chosen.get("grid") or {}
    for grid in grids:
        # The profile's keys (folds, seeds) vary slowest, so an interrupted sweep has every
        # configuration on the same folds and seeds rather than some configurations on all.
        merged = {**profile_grid, **{k: v for k, v in grid.items() if k not in profile_grid}}
        for combo in _grid_combinations(merged):
            settings = {**base, **combo}
            try:
                config = RunConfig.from_dict(settings)
            except ConfigError as err:
                raise ConfigError(f"{path} ({profile}): {err} in run {settings}") from None
            rid = run_id(config)
            if rid not in seen:
                seen.add(rid)
                out = Path(runs_dir).resolve() / sweep / rid
                runs.append(Run(sweep, profile, rid, {k: v for k, v in config.to_dict().items() if k != "out"}, str(out)))
    return runs


def is_finished(run: Run) -> bool:
    return (Path(run.out) / "metrics.json").is_file()


def execute_run(run: Run, notebook: str, threads: int = 0) -> dict:
    """Execute the training notebook for one run (in its own kernel process). Never raises: a
    failure is recorded in ``failed.json`` with its traceback and reported in the return value."""
    import papermill

    out = Path(run.out)
    if is_finished(run):
        return {"run_id": run.run_id, "status": "done", "skipped": True}
    out.mkdir(parents=True, exist_ok=True)
    (out / "failed.json").unlink(missing_ok=True)
    # Dask workers set MALLOC_TRIM_THRESHOLD_ low; a kernel inheriting it hands memory back to
    # the OS after every batch and spends most of its time in page faults (2x slower training).
    os.environ.pop("MALLOC_TRIM_THRESHOLD_", None)
    started = time.perf_counter()
    try:
        papermill.execute_notebook(
            notebook, str(out / "train.ipynb"), kernel_name="python3", progress_bar=False,
            parameters={"settings": run.settings, "out": str(out), "threads": threads},
        )
        return {"run_id": run.run_id, "status": "done", "skipped": False,
                "seconds": time.perf_counter() - started}
    except Exception as err:  # any failure of this run is recorded; the sweep goes on
        record = {"run_id": run.run_id, "status": "failed", "error": f"{type(err).__name__}: {err}"[:2000],
                  "traceback": traceback.format_exc(), "settings": run.settings}
        (out / "failed.json").write_text(json.dumps(record, indent=1))
        return {"run_id": run.run_id, "status": "failed", "skipped": False, "error": record["error"]}


def _flatten(prefix: str, value, row: dict) -> None:
    if isinstance(value, dict):
        for key, inner in value.items():
            _flatten(f"{prefix}_{key}" if prefix else key, inner, row)
    elif not isinstance(value, list):
        row[prefix] = value


def aggregate(runs: list[Run], results_dir: str | Path = "results") -> pd.DataFrame:
    """One row per finished run (every config field, every scalar metric, provenance) written to
    ``results/<sweep>.csv``; each run's metrics.json and a slim embeddings.npz (z as float16)
    go to ``results/<sweep>/<run_id>/``. Both are replaced atomically."""
    results_dir = Path(results_dir)
    results_dir.mkdir(parents=True, exist_ok=True)
    sweep = runs[0].sweep
    rows = []
    staging = Path(tempfile.mkdtemp(dir=results_dir, prefix=f".{sweep}-"))
    try:
        for run in runs:
            if not is_finished(run):
                continue
            record = json.loads((Path(run.out) / "metrics.json").read_text())
            row = {"sweep": sweep, "profile": run.profile, "run_id": run.run_id}
            row.update({k: (",".join(v) if isinstance(v, list) else v) for k, v in record["config"].items()
                        if k not in ("out", "extra")})
            row["fold"] = record["data"]["fold"]
            _flatten("", record["metrics"], row)
            row.update(train_size=record["data"]["train_size"], test_size=record["data"]["test_size"],
                       epochs_run=len(record["history"]), wall_time_s=record["wall_time_s"],
                       device=record["device"], git_commit=record["git_commit"],
                       package_version=record["package_version"], torch_version=record["torch_version"])
            rows.append(row)
            summary = staging / run.run_id
            summary.mkdir()
            shutil.copy(Path(run.out) / "metrics.json", summary / "metrics.json")
            with np.load(Path(run.out) / "embeddings.npz") as full:
                slim = {k: (full[k].astype(np.float16) if k in ("z", "logits") else full[k]) for k in full.files}
            np.savez_compressed(summary / "embeddings.npz", **slim)
        table = pd.DataFrame(rows)
        csv = results_dir / f"{sweep}.csv"
        table.to_csv(staging / "table.csv", index=False)
        os.replace(staging / "table.csv", csv)
        final = results_dir / sweep
        if final.exists():
            shutil.rmtree(final)
        os.replace(staging, final)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return table


def run_sweep(path: str | Path, profile: str, workers: int | None = None, scheduler: str | None = None,
              notebook: str = "notebooks/train.ipynb", runs_dir: str | Path = "runs",
              results_dir: str | Path = "results", aggregate_only: bool = False) -> int:
    """Run every unfinished run of a sweep profile, then aggregate. Returns the process exit code:
    0 when every run finished, 1 when some failed (listed on stderr). ``aggregate_only`` skips
    running and tabulates the runs finished so far."""
    runs = load_sweep(path, profile, runs_dir)
    if aggregate_only:
        table = aggregate(runs, results_dir)
        print(f"{len(table)} of {len(runs)} runs finished; results in {Path(results_dir) / runs[0].sweep}.csv")
        return 0
    notebook = str(Path(notebook).resolve())
    if not Path(notebook).is_file():
        raise FileNotFoundError(f"no training notebook at {notebook}; pass --notebook")
    pending = [r for r in runs if not is_finished(r)]
    print(f"{runs[0].sweep} ({profile}): {len(runs)} runs, {len(runs) - len(pending)} already finished")
    outcomes = []
    if pending and (workers or scheduler):
        from dask.distributed import Client, LocalCluster, as_completed

        cluster = None
        if scheduler is None:
            cluster = LocalCluster(n_workers=workers, threads_per_worker=1, processes=True,
                                   host="127.0.0.1", dashboard_address=":0")
        # Each worker runs one kernel at a time; share the cores out between them.
        threads = max(1, (os.cpu_count() or 1) // (workers or 1)) if scheduler is None else 0
        with Client(cluster or scheduler) as client:
            futures = client.map(execute_run, pending, notebook=notebook, threads=threads, pure=False)
            for future in tqdm(as_completed(futures), total=len(futures), desc="runs"):
                outcomes.append(future.result())
        if cluster is not None:
            cluster.close()
    else:
        for run in tqdm(pending, desc="runs"):
            outcomes.append(execute_run(run, notebook))
    table = aggregate(runs, results_dir)
    failed = [o for o in outcomes if o["status"] == "failed"]
    print(f"{len(table)} of {len(runs)} runs finished; results in {Path(results_dir) / runs[0].sweep}.csv")
    if failed:
        print(f"{len(failed)} run(s) failed (details in runs/<sweep>/<run_id>/failed.json):", file=sys.stderr)
        for outcome in failed:
            print(f"  {outcome['run_id']}: {outcome['error'][:300]}", file=sys.stderr)
        return 1
    return 0
