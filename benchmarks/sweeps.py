"""Runs per hour of every sweep file's full profile on this machine, and what the whole thing costs.

    PP_DATA_DIR=../shared/data python benchmarks/sweeps.py [--sample 6] [--workers 2] [--sweeps NAME ...]

For each sweep file in configs/, a seeded random sample of its full profile's runs is executed the
way a sweep executes them (papermill, on a local Dask cluster of ``--workers`` processes) and the
sample's wall time, cluster start included, gives runs per hour. The sample prefers runs not stored
yet: those are real runs and are stored under results/ like any sweep's. When fewer are left, stored
runs are trained again into a temporary folder and thrown away (results are never replaced).

The projection counts each distinct run once: a run that two sweep files plan (the same run id)
is trained by the first and reused by the next, as ``make sweeps`` does. It scales the sample's
time per epoch to the epochs of those runs (a file's settings may train for different numbers of
epochs; settings that differ in cost per epoch, such as more mel bins, make it rough). The table goes to
``benchmarks/sweeps.csv`` with the machine, workers, threads and commit, and the book's reproduce
page reads it from there; ``--sweeps`` measures some files and keeps the others' earlier rows (each
row says when and at which commit it was measured). Run it on an idle machine: anything running
beside it slows the runs.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import random
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import pandas as pd

from predefined_prototypes.experiments.plan import load_sweep
from predefined_prototypes.experiments.sweep import _execute, _preflight
from predefined_prototypes.run.provenance import cpu_name, git_commit
from predefined_prototypes.storage.plans import SWEEP_ORDER
from predefined_prototypes.storage.store import finished_where, store, sweep_lock, write_table

REPO = Path(__file__).resolve().parents[1]


def short_commit() -> str:
    commit = git_commit()
    return commit[:10] + ("-dirty" if commit.endswith("-dirty") else "")


def measure(sweep_file: Path, sample_size: int, workers: int, results: Path, scratch: Path) -> dict:
    """Train a sample of the sweep's full profile and time it; store the sample's new runs."""
    notebook = str(REPO / "notebooks" / "train.ipynb")
    runs = load_sweep(sweep_file, "full", REPO / "runs")
    pending = [r for r in runs if finished_where(r, results) is None]
    rng = random.Random(0)
    sample = rng.sample(pending, min(sample_size, len(pending)))
    finished = [r for r in runs if r not in pending]
    again = rng.sample(finished, min(sample_size - len(sample), len(finished)))
    # Stored runs are trained again elsewhere, never over their stored results.
    sample += [dataclasses.replace(r, out=str(scratch / r.sweep / r.run_id)) for r in again]
    _preflight(sample, notebook, REPO / "runs", results)
    with sweep_lock(results, runs[0].sweep):
        started = time.perf_counter()

        def done(run):
            if run in pending and store(run, results):
                write_table(runs, results)

        outcomes = _execute(sample, notebook, workers, None, done)
        wall = time.perf_counter() - started
    failed = [o for o in outcomes if o["status"] == "failed"]
    if failed:
        raise SystemExit(f"{sweep_file.name}: {len(failed)} sampled run(s) failed, first: {failed[0]['error']}")
    return {
        "sweep": runs[0].sweep,
        "planned": len(runs),
        "sampled": len(sample),
        "sample_new": len(sample) - len(again),
        "sample_wall_s": round(wall, 1),
        "runs_per_hour": round(len(sample) / wall * 3600, 1),
        "epochs_per_hour": round(sum(r.settings["epochs"] for r in sample) / wall * 3600, 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sample", type=int, default=6, help="runs sampled per sweep file")
    parser.add_argument("--workers", type=int, default=2, help="Dask worker processes (make sweeps uses 2)")
    parser.add_argument("--results", default=str(REPO / "results"))
    parser.add_argument("--out", default=str(REPO / "benchmarks" / "sweeps.csv"))
    parser.add_argument(
        "--sweeps",
        nargs="+",
        default=list(SWEEP_ORDER),
        choices=SWEEP_ORDER,
        help="measure only these; the other sweep files keep their rows of the existing table",
    )
    args = parser.parse_args()
    results, out = Path(args.results), Path(args.out)
    kept = pd.read_csv(out).set_index("sweep") if out.is_file() else pd.DataFrame()
    threads = max(1, (os.cpu_count() or 1) // args.workers)
    machine = {
        "workers": args.workers,
        "threads_per_run": threads,
        "cpus": os.cpu_count(),
        "cpu": cpu_name(),
        "commit": short_commit(),
        "measured_at": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
    }
    rows, seen = [], set()
    with tempfile.TemporaryDirectory(prefix="pp-benchmark-") as scratch:
        for name in SWEEP_ORDER:  # every file, in order: a run two files plan is trained by the first
            sweep_file = REPO / "configs" / f"{name}.yaml"
            plan = {r.run_id: r.settings["epochs"] for r in load_sweep(sweep_file, "full")}
            distinct = [rid for rid in plan if rid not in seen]  # the runs a fresh machine trains for this sweep
            seen |= set(plan)
            if name not in args.sweeps:
                if name in kept.index:  # measured before, with its own machine, commit and date
                    rows.append({"sweep": name, **kept.loc[name].to_dict()})
                continue
            row = measure(sweep_file, args.sample, args.workers, results, Path(scratch)) | machine
            row["distinct"] = len(distinct)
            # By epochs: a sweep's settings may train for different numbers of epochs.
            row["projected_h"] = round(sum(plan[rid] for rid in distinct) / row["epochs_per_hour"], 2)
            rows.append(row)
            print(
                f"{name}: {row['runs_per_hour']} runs/hour ({row['sampled']} sampled in {row['sample_wall_s']} s); "
                f"{row['distinct']} distinct runs -> {row['projected_h']} h",
                flush=True,
            )
    table = pd.DataFrame(rows)
    total = {
        "sweep": "total",
        "planned": table["planned"].sum(),
        "distinct": table["distinct"].sum(),
        "sampled": table["sampled"].sum(),
        "projected_h": round(table["projected_h"].sum(), 2),
    }
    table = pd.concat([table, pd.DataFrame([total | machine])], ignore_index=True)
    table.to_csv(out, index=False)
    print(table.to_string(index=False))
    print(f"wrote {args.out}", file=sys.stderr)


if __name__ == "__main__":
    main()
