"""What executing a run as a notebook costs over the plain command line, per run.

    PP_DATA_DIR=../shared/data python benchmarks/papermill_overhead.py [--repeats 3] [key=value ...]

The same short configuration (default: FSDD, fold theo, 2 epochs) is run ``--repeats`` times as
``python -m predefined_prototypes train`` in a fresh process and as the sweep runs it (papermill
executing notebooks/train.ipynb in a fresh kernel, from a process that has papermill loaded, as
a Dask worker has). Both start a Python process, import torch and the package, read the cached
features and train the same run; the median difference is the notebook's overhead (kernel start,
the figure cell, writing the executed notebook). Goal: at most 3 s. The table goes to
``benchmarks/papermill_overhead.csv``.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd

from predefined_prototypes.experiments.sweep import execute_run
from predefined_prototypes.run.config import RunConfig
from predefined_prototypes.run.provenance import git_commit
from predefined_prototypes.storage.plans import Run

REPO = Path(__file__).resolve().parents[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--out", default=str(REPO / "benchmarks" / "papermill_overhead.csv"))
    parser.add_argument("settings", nargs="*", help="RunConfig fields overriding the default short run")
    args = parser.parse_args()
    config = RunConfig.from_args(["dataset=fsdd", "fold=theo", "loss=prototypes", "epochs=2", *args.settings])
    settings = {k: v for k, v in config.to_dict().items() if k != "out"}
    cli = [f"{k}={','.join(v) if isinstance(v, list) else v}" for k, v in settings.items() if v is not None]
    notebook = str(REPO / "notebooks" / "train.ipynb")
    rows = []
    with tempfile.TemporaryDirectory(prefix="pp-overhead-") as tmp:
        # One untimed run of each fills the feature cache and the OS file cache for both.
        for repeat in range(args.repeats + 1):
            out = Path(tmp) / f"cli-{repeat}"
            started = time.perf_counter()
            subprocess.run(
                [sys.executable, "-m", "predefined_prototypes", "train", *cli, f"out={out}"],
                check=True,
                capture_output=True,
                cwd=REPO,
            )
            command_line = time.perf_counter() - started
            run = Run("overhead", "bench", config.run_id(), settings, str(Path(tmp) / f"notebook-{repeat}"))
            started = time.perf_counter()
            outcome = execute_run(run, notebook, threads=0)
            papermill = time.perf_counter() - started
            if outcome["status"] != "done":
                raise SystemExit(f"the notebook run failed: {outcome['error']}")
            if repeat:
                rows.append(
                    {"repeat": repeat, "command_line_s": round(command_line, 2), "papermill_s": round(papermill, 2)}
                )
            print(
                f"repeat {repeat}: command line {command_line:.2f} s, papermill {papermill:.2f} s"
                + ("" if repeat else " (warm-up, not kept)"),
                flush=True,
            )
    table = pd.DataFrame(rows)
    overhead = statistics.median(table["papermill_s"] - table["command_line_s"])
    table = table.assign(overhead_median_s=round(overhead, 2), epochs=config.recipe.epochs, commit=git_commit()[:10])
    table.to_csv(args.out, index=False)
    print(f"papermill overhead per run: median {overhead:.2f} s over {args.repeats} repeats; wrote {args.out}")


if __name__ == "__main__":
    main()
