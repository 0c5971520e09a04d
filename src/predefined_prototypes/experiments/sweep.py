"""Sweeps: each run a sweep file plans (``plan.py``) is a papermill execution of
``notebooks/train.ipynb``; finished runs are stored under ``results/`` as they finish.

Where things live (``<id>`` is a hash of the run's configuration, so the same run has the same id
on every machine): the executed notebook and full outputs under ``runs/<sweep>/<id>/`` (local,
git-ignored); the stored summary and the profile's table under ``results/<sweep>/`` (committed;
see ``storage/store.py`` for the rules that keep them safe), with the plan of every profile
(``storage/plans.py``), which the book's reading side reads instead of this file. A run stored under ``results/`` is finished on
every machine, so a fresh clone resumes where the committed results stop; a run killed halfway
left no ``metrics.json`` and is simply run again. Every run's configuration, and every folder and
dataset it needs, is checked before the first run starts.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import time
import traceback
from pathlib import Path

from tqdm import tqdm

from ..run.config import ConfigError, RunConfig
from ..run.files import atomic_write
from ..storage.manifest import forget_files
from ..storage.plans import Run, record_plan
from ..storage.rules_record import fix_rules
from ..storage.store import (
    ResultsError,
    finished_where,
    read_summary,
    read_table,
    store,
    store_lock,
    stored_dir,
    sweep_lock,
    table_ids,
    table_path,
    unfinished_migration,
    unstore,
    write_table,
)
from .plan import load_sweep, profile_names


def execute_run(run: Run, notebook: str, threads: int = 0) -> dict:
    """Execute the training notebook for one run (in its own kernel process). Never raises: a
    failure is recorded in ``failed.json`` with its traceback and reported in the return value."""
    import papermill

    out = Path(run.out)
    if (out / "metrics.json").is_file():
        return {"run_id": run.run_id, "status": "done", "skipped": True}
    out.mkdir(parents=True, exist_ok=True)
    (out / "failed.json").unlink(missing_ok=True)
    # Dask workers set MALLOC_TRIM_THRESHOLD_ low; a kernel inheriting it hands memory back to
    # the OS after every batch and spends most of its time in page faults (2x slower training).
    os.environ.pop("MALLOC_TRIM_THRESHOLD_", None)
    started = time.perf_counter()
    try:
        papermill.execute_notebook(
            notebook,
            str(out / "train.ipynb"),
            kernel_name="python3",
            progress_bar=False,
            parameters={"settings": run.settings, "out": str(out), "threads": threads},
        )
        return {"run_id": run.run_id, "status": "done", "skipped": False, "seconds": time.perf_counter() - started}
    except Exception as err:  # any failure of this run is recorded; the sweep goes on
        # papermill wraps the kernel's exception: report that one, not the wrapper's banner.
        if hasattr(err, "ename"):
            error = f"{err.ename}: {err.evalue}"
        else:
            error = f"{type(err).__name__}: {err}"
        record = {
            "run_id": run.run_id,
            "status": "failed",
            "error": error[:2000],
            "traceback": traceback.format_exc(),
            "settings": run.settings,
        }
        text = json.dumps(record, indent=1).encode()
        atomic_write(out / "failed.json", lambda f: f.write(text))  # whole or absent, even on a full disk
        return {"run_id": run.run_id, "status": "failed", "skipped": False, "error": record["error"]}


def _describe(run: Run, varying: list[str]) -> str:
    return " ".join(
        f"{k}={run.settings[k] if not isinstance(run.settings[k], (list, tuple)) else ','.join(run.settings[k])}"
        for k in varying
    )


def print_plan(runs: list[Run], results_dir: str | Path, list_pending: bool = True) -> None:
    """What a sweep would do: planned, finished (and where), to run, and stored rows outside the plan."""
    where = {r.run_id: finished_where(r, results_dir) for r in runs}
    stored = sum(w == "results" for w in where.values())
    reused = sum(w == "reused" for w in where.values())
    local = sum(w == "runs" for w in where.values())
    pending = [r for r in runs if where[r.run_id] is None]
    broken = [r for r in runs if where[r.run_id] == "broken"]
    sweep, profile = runs[0].sweep, runs[0].profile
    print(
        f"{sweep} ({profile}): {len(runs)} runs planned; {stored + reused + local} finished "
        f"({stored} stored in {stored_dir(results_dir, sweep, '')}, {reused} stored by another sweep, "
        f"{local} only in {Path(runs[0].out).parent}); {len(pending)} to run"
    )
    varying = [k for k in runs[0].settings if len({json.dumps(r.settings[k]) for r in runs}) > 1]
    for run in pending if list_pending else []:
        print(f"  to run  {run.run_id}  {_describe(run, varying)}")
    for run in broken:
        print(f"  broken  {run.run_id}  {stored_dir(results_dir, sweep, run.run_id) / 'metrics.json'} does not read")
    path = table_path(results_dir, sweep, profile)
    if path.is_file() and path.stat().st_size > 0:
        extra = set(table_ids(path, sweep, profile)) - set(where)
        if extra:
            print(f"  {len(extra)} row(s) of {path} are not in this plan (kept; --prune removes them)")


def print_data(runs: list[Run]) -> None:
    """For each fold the runs read: clips per split and per class, every file checked on disk (a
    missing, unreadable or empty file stops here with its name, as the run itself would)."""
    from collections import Counter

    from ..data import dataset_root, get_dataset
    from ..run.splits import resolve_fold

    seen = set()
    for run in runs:
        config = RunConfig.from_dict(run.settings)
        key = (config.dataset, config.data_dir, config.fold, json.dumps(config.dataset_options), config.on_error)
        if key in seen:
            continue
        seen.add(key)
        root = dataset_root(config.dataset, config.data_dir)
        fold = resolve_fold(config, root)
        counts, sizes = {}, {}
        for split in ("train", "test"):
            ds = get_dataset(
                config.dataset, root, fold=fold, split=split, on_error=config.on_error, **config.dataset_options
            )
            counts[split], sizes[split] = Counter(ds.classes[c.label] for c in ds.clips), len(ds)
            classes = ds.classes
        per_class = ", ".join(f"{c} {counts['train'][c]}/{counts['test'][c]}" for c in classes)
        empty = [c for c in classes if not counts["train"][c] or not counts["test"][c]]
        print(
            f"  data {config.dataset} fold {fold}: {sizes['train']} training and {sizes['test']} test clips; "
            f"per class (train/test): {per_class}" + (f"; no clips of {', '.join(empty)} in a split" if empty else "")
        )


def check_data_identity(finished: list[Run], results_dir: str | Path) -> None:
    """ConfigError, before any work, when a stored run recorded the data it read (each split's
    listing digest, ``splits.data_identity``) and the data here differs: the sweep would count it
    finished for data it was not trained on. Runs stored before runs recorded it are taken as
    they are; each fold's data is listed once."""
    from ..run.splits import DATA_KEYS, data_identity

    here: dict[str, dict] = {}
    for run in finished:
        stored = stored_dir(results_dir, run.sweep, run.run_id)
        if not (stored / "metrics.json").is_file():
            continue  # stored by another sweep, or only local: checked where it is stored
        recorded = read_summary(stored)["data"].get("listing_sha256")
        if not recorded:
            continue
        config = RunConfig.from_dict(run.settings)
        key = json.dumps({k: v for k, v in config.to_dict().items() if k in DATA_KEYS}, sort_keys=True)
        if key not in here:
            here[key] = data_identity(config)
        differs = sorted(split for split, digest in recorded.items() if here[key].get(split) != digest)
        if differs:
            raise ConfigError(
                f"run {run.run_id} ({run.profile}) was trained on other data than "
                f"{config.data_dir or 'PP_DATA_DIR'} holds: its {', '.join(differs)} listing differs "
                "(clips, sizes or labels). Run the sweep on the data its runs were trained on"
            )


def prune_plan(runs: list[Run], results_dir: str | Path) -> list[str]:
    """The run ids ``prune`` would take out of this profile's table: its rows that the profile's
    plan no longer holds. (Their stored folders go too unless another profile's table of the
    sweep still lists them.)"""
    path = table_path(results_dir, runs[0].sweep, runs[0].profile)
    if not path.is_file():
        return []
    planned = {r.run_id for r in runs}
    return [rid for rid in read_table(path)["run_id"] if rid not in planned]


def prune(runs: list[Run], results_dir: str | Path) -> None:
    """Take the rows this profile's plan no longer holds out of its table, and their stored
    folders with them where no other profile's table of the sweep lists them. Nothing of
    another sweep or another profile is touched."""
    sweep, profile = runs[0].sweep, runs[0].profile
    going = prune_plan(runs, results_dir)
    others = set()
    for path in sorted((Path(results_dir) / sweep).glob("*.csv")):
        if path.stem != profile:
            others |= set(read_table(path)["run_id"])
    table = write_table(runs, results_dir, keep=False)
    removed = 0
    for rid in going:
        folder = stored_dir(results_dir, sweep, rid)
        if rid not in others and folder.is_dir():
            forget_files(folder.parent.parent, [f"runs/{rid}"])
            shutil.rmtree(folder)
            removed += 1
    print(
        f"pruned: {table_path(results_dir, sweep, profile)} holds {len(table)} row(s); took out {len(going)} "
        f"row(s) and removed {removed} stored run(s) that no other profile lists"
    )


def _preflight(
    pending: list[Run], notebook: str, runs_dir: str | Path, results_dir: str | Path, writes: bool = True
) -> None:
    """Every check that can fail before the first run starts (``writes=False``: those that
    write nothing, for a dry run)."""
    from ..run.preflight import check, writable

    if not Path(notebook).is_file():
        raise ConfigError(f"no training notebook at {notebook}; pass --notebook")
    if writes:
        writable(Path(results_dir) / pending[0].sweep, "--results")
        writable(Path(runs_dir), "--runs")
    for run in pending:
        try:
            check(RunConfig.from_dict(run.settings))  # its out= lies under --runs, checked above
        except ConfigError as err:
            raise ConfigError(f"run {run.run_id} ({run.profile}): {err}") from None


def _execute(pending: list[Run], notebook: str, workers: int | None, scheduler: str | None, done) -> list[dict]:
    # In the sweep file's order (its entries as listed, folds and seeds varying slowest within
    # each): an interrupted sweep leaves the first entries complete, so a file lists what matters
    # most first. (Longest-first packing would save at most one run's idle tail per sweep.)
    outcomes = []
    if not (workers or scheduler):
        for run in tqdm(pending, desc="runs"):
            outcomes.append(execute_run(run, notebook))
            done(run)
        return outcomes
    from dask.distributed import Client, LocalCluster, as_completed

    cluster = None
    if scheduler is None:
        cluster = LocalCluster(
            n_workers=workers, threads_per_worker=1, processes=True, host="127.0.0.1", dashboard_address=":0"
        )
    # Each worker runs one kernel at a time; share the cores out between them.
    threads = max(1, (os.cpu_count() or 1) // (workers or 1)) if scheduler is None else 0
    try:
        client = Client(cluster or scheduler, timeout="20s")
    except (OSError, TimeoutError) as err:
        raise ConfigError(
            f"cannot reach the Dask scheduler at {scheduler} ({err}); start it or leave out --scheduler"
        ) from None
    with client:
        by_id = {r.run_id: r for r in pending}
        futures = client.map(execute_run, pending, notebook=notebook, threads=threads, pure=False)
        for future in tqdm(as_completed(futures), total=len(futures), desc="runs"):
            outcome = future.result()
            outcomes.append(outcome)
            done(by_id[outcome["run_id"]])
    if cluster is not None:
        cluster.close()
    return outcomes


def record_sweep_plan(path: str | Path, results_dir: str | Path, runs_dir: str | Path = "runs") -> bool:
    """Record what every profile of a sweep file plans under ``results/<sweep>/plan.json``, for the
    reading side, which never expands a sweep file (``storage.plans``); returns whether it wrote."""
    plans = {name: load_sweep(path, name, runs_dir) for name in profile_names(path)}
    return record_plan(Path(results_dir) / Path(path).stem, Path(path).read_bytes(), plans)


def table_or_unstore(runs: list[Run], stored: list[Run], results_dir: str | Path) -> None:
    """Write the profile's table with the just-stored runs, or, if it cannot be written (a full
    disk), take those runs back out before raising: no stored run is ever left without its row."""
    try:
        write_table(runs, results_dir)
    except OSError:
        for run in stored:
            unstore(run, results_dir)
        raise


def run_sweep(
    path: str | Path,
    profile: str,
    workers: int | None = None,
    scheduler: str | None = None,
    notebook: str = "notebooks/train.ipynb",
    runs_dir: str | Path = "runs",
    results_dir: str | Path = "results",
    aggregate_only: bool = False,
    dry_run: bool = False,
    prune_results: bool = False,
    rules: dict | None = None,
) -> int:
    """Run every unfinished run of a sweep profile, storing each as it finishes. Returns the exit
    code: 0 when every run finished, 1 when some failed (listed on stderr). ``dry_run`` prints
    the plan and runs nothing; ``aggregate_only`` stores the runs finished locally and rebuilds
    the table; ``prune_results`` then removes what the sweep file no longer plans. ``rules``: the
    rules the verdicts read of this sweep, recorded with the full profile's plan before its
    first run is stored (``rules_record``; never replaced)."""
    runs = load_sweep(path, profile, runs_dir)
    if not runs:
        raise ConfigError(f"{path} ({profile}) plans no runs")
    sweep = runs[0].sweep
    notebook = str(Path(notebook).resolve())
    # --prune removes stored runs that a sweep file no longer plans: only that sweep's own file may
    # say which, not any file that shares its name.
    own = Path(results_dir).resolve().parent / "configs" / f"{sweep}.yaml"
    if prune_results and own.is_file() and own.resolve() != Path(path).resolve():
        raise ConfigError(
            f"--prune removes stored runs of {Path(results_dir) / sweep} that its sweep file no longer plans, so it "
            f"takes that file ({own}), not {path}: another file of the same name plans other runs"
        )
    if dry_run:  # the plan, then the checks a real run would make first
        print_plan(runs, results_dir)
        if prune_results:
            going = prune_plan(runs, results_dir)
            print(f"--prune would take out {len(going)} row(s) of {table_path(results_dir, sweep, profile)}:")
            for rid in going:
                print(f"  prune  {rid}")
        pending = [r for r in runs if finished_where(r, results_dir) is None]
        if pending:
            _preflight(pending, notebook, runs_dir, results_dir, writes=False)
            print_data(pending)
        return 0
    if unfinished := unfinished_migration(results_dir):  # a sweep may sit only in the migration's copy
        raise ResultsError(unfinished)
    with store_lock(results_dir), sweep_lock(results_dir, sweep):
        for run in runs:  # a stored summary that does not read stops the sweep, named, before any work
            if finished_where(run, results_dir) == "broken":
                read_summary(stored_dir(results_dir, sweep, run.run_id))
        pending = [r for r in runs if finished_where(r, results_dir) is None]
        if pending and not aggregate_only:
            _preflight(pending, notebook, runs_dir, results_dir)
            check_data_identity([r for r in runs if r not in pending], results_dir)
        if record_sweep_plan(path, results_dir, runs_dir):
            print(f"plan recorded (results/{sweep}/plan.json)")
        if rules is not None and profile == "full":
            from ..run.provenance import git_commit

            record = fix_rules(
                Path(results_dir) / sweep, rules, [r.run_id for r in runs], git_commit(), len(runs) - len(pending)
            )
            print(f"rules and plan fixed at {record['fixed_at']} (results/{sweep}/rules.json)")
        # Finished here but not stored yet (an interrupted sweep), or stored by another sweep.
        newly = [run for run in runs if store(run, results_dir)]
        if newly:
            table_or_unstore(runs, newly, results_dir)
        print_plan(runs, results_dir, list_pending=False)
        outcomes = []
        if pending and not aggregate_only:

            def done(run: Run) -> None:  # store at once, so a commit at any moment holds every finished run
                if store(run, results_dir):
                    table_or_unstore(runs, [run], results_dir)

            outcomes = _execute(pending, notebook, workers, scheduler, done)
        table = write_table(runs, results_dir)
        if prune_results:
            prune(runs, results_dir)
        planned = {r.run_id for r in runs}
        held = int(table["run_id"].isin(planned).sum()) if len(table) else 0
        if held:  # the tables the book reads, from the runs now stored
            from ..storage.derive import derive
            from .derivations import DERIVATIONS  # torch: only once runs are stored

            for path in derive(sweep, profile, results_dir, DERIVATIONS):
                print(f"derived {path}")
    print(f"{held} of {len(runs)} planned runs stored; table {table_path(results_dir, sweep, profile)}")
    failed = [o for o in outcomes if o["status"] == "failed"]
    if failed:
        print(
            f"{len(failed)} run(s) failed (tracebacks in {Path(runs_dir) / sweep}/<run_id>/failed.json):",
            file=sys.stderr,
        )
        for outcome in failed:
            print(f"  {outcome['run_id']}: {' '.join(outcome['error'].split())[:1000]}", file=sys.stderr)
        return 1
    return 0
