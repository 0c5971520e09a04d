"""Every sweep's hours in each computation path (default layout, channels-last weights, those under bf16), and its share of the fp32 peak.

    PP_DATA_DIR=../shared/data python benchmarks/sweep_layouts.py [--epochs 4] [--repeats 3] [--sweeps NAME ...]

Sweeps differ in what a training epoch costs: the corpus (clip length, clips per fold), the batch
size and the mel bins. For each distinct such workload among the sweep files' full profiles, the
first run planned is trained for ``--epochs`` epochs ``--repeats`` times in each computation path,
each time in a fresh process on one thread as a sweep worker runs it: in the default memory
layout, with ``channels_last=true``, and with that under bf16 autocast (``bf16=true``, where the
CPU has bf16 units), the order of the paths reversed every repeat so that a drift in the machine's
speed falls on all. From each run's own history it takes the median seconds of a
training epoch (the first epoch, which picks and caches oneDNN's kernels, left out); a path's
price is the median over its repeats, and ``*_epoch_spread`` the repeats' range over that median
(one timed run alone once gave an outlier). The rest of the wall time (loading the features,
building the model, evaluation) is the smallest of all the runs', because the first run of a
workload also warms the file cache. A full run of ``E`` epochs is priced as ``E`` epochs plus that
rest, in each path, its epochs scaled by its training clips over ``train_size`` (the clips the
timed run trained on); the ratio scales each sweep's hours. The rate is the workload's
counted FLOPs (``torch.utils.flop_counter``: the backbone's forward and backward for one batch,
times the batches of an epoch) over the epoch's seconds, set against the fp32 peak of one thread
(a 2048 x 2048 matmul). The table goes to ``benchmarks/sweep_layouts.csv``; with ``--sweeps``,
only the workloads those sweeps plan first are remeasured and the file's other rows are kept, each
row stamped with its own machine, commit and time. The reproduce page joins it with each sweep's
stored hours. Run it on an idle machine.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import torch
from throughput import flops, peak_gflops, stamped

from predefined_prototypes.experiments.plan import load_sweep
from predefined_prototypes.run.config import RunConfig
from predefined_prototypes.run.train import build_model
from predefined_prototypes.storage.plans import SWEEP_ORDER

REPO = Path(__file__).resolve().parents[1]
WORKLOAD = ("dataset", "clip_seconds", "batch_size", "num_mel_bins", "backbone")  # what sets an epoch's cost
# Each computation path timed, as the run fields that select it (the reproduce page's LAYOUTS).
LAYOUTS = {
    "default": {"channels_last": False, "bf16": False},
    "channels_last": {"channels_last": True, "bf16": False},
    "channels_last_bf16": {"channels_last": True, "bf16": True},
}

# Runs in a fresh interpreter: argv[1] is the run's settings as JSON.
ONE_RUN = """
import json, sys, time
import torch
from predefined_prototypes.run.config import RunConfig
from predefined_prototypes.run.train import run
torch.set_num_threads(1)
started = time.perf_counter()
result = run(RunConfig.from_dict(json.loads(sys.argv[1])), progress=False)
print(json.dumps({"wall_s": time.perf_counter() - started, "train_size": result["data"]["train_size"],
                  "classes": len(result["data"]["classes"]), "frames": result["data"]["num_frames"],
                  "epoch_s": [h["train_seconds"] for h in result["history"]]}))
"""


def workloads(sweeps: list[str]) -> dict[tuple, tuple[str, dict]]:
    """Each distinct workload of the sweeps' full profiles, with the first sweep and run that plans it."""
    found = {}
    for sweep in sweeps:
        for planned in load_sweep(REPO / "configs" / f"{sweep}.yaml", "full", REPO / "runs"):
            key = tuple(planned.settings.get(k, getattr(RunConfig(), k)) for k in WORKLOAD)
            found.setdefault(key, (sweep, planned.settings))
    return found


def timed_run(settings: dict, epochs: int, path: dict) -> dict:
    """One shortened run in a fresh process, in the computation ``path`` (run fields): its wall
    time, median epoch and the rest."""
    fields = {**settings, "epochs": epochs, **path, "out": None}
    done = subprocess.run(
        [sys.executable, "-c", ONE_RUN, json.dumps(fields)], capture_output=True, text=True, check=True, cwd=REPO
    )
    result = json.loads(done.stdout.strip().splitlines()[-1])
    epoch_s = pd.Series(result["epoch_s"][1:]).median()
    return {**result, "epoch_s": epoch_s, "rest_s": result["wall_s"] - sum(result["epoch_s"])}


def workload_keys(table: pd.DataFrame) -> pd.Series:
    """Each row's workload as text, an unset field (None, or NaN as a CSV reads it back) as ''."""
    return table[list(WORKLOAD)].apply(lambda row: tuple("" if pd.isna(v) else str(v) for v in row), axis=1)


def step_flops(settings: dict, classes: int, frames: int) -> int:
    """The backbone's forward and backward FLOPs for one batch of the run's shape."""
    config = RunConfig.from_dict({**settings, "out": None})
    model, _ = build_model(config, classes, frames)
    x = torch.randn(config.recipe.batch_size, frames, config.num_mel_bins)

    def step():
        logits, z = model(x)
        (logits.sum() + z.sum()).backward()

    return flops(step)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--epochs", type=int, default=4, help="epochs of each timed run (the first is left out)")
    parser.add_argument("--repeats", type=int, default=3, help="timed runs per path, in alternating order")
    parser.add_argument("--sweeps", nargs="+", default=list(SWEEP_ORDER))
    parser.add_argument("--out", default=str(REPO / "benchmarks" / "sweep_layouts.csv"))
    args = parser.parse_args()
    if args.epochs < 2:
        parser.error("--epochs must be at least 2: the first epoch is left out of the median")
    peak = peak_gflops(1)
    rows = []
    for key, (sweep, settings) in workloads(args.sweeps).items():
        row = dict(zip(WORKLOAD, key), first_sweep=sweep, peak_gflops=peak, load_average=os.getloadavg()[0])
        epochs, rest = {layout: [] for layout in LAYOUTS}, math.inf
        for repeat in range(args.repeats):
            for layout in list(LAYOUTS)[:: 1 if repeat % 2 == 0 else -1]:
                timed = timed_run(settings, args.epochs, LAYOUTS[layout])
                epochs[layout].append(timed["epoch_s"])
                rest = min(rest, timed["rest_s"])
        for layout, seconds in epochs.items():
            seconds = pd.Series(seconds)
            row[f"{layout}_epoch_s"] = seconds.median()
            row[f"{layout}_epoch_spread"] = (seconds.max() - seconds.min()) / seconds.median()
        row |= {"rest_s": rest, "train_size": timed["train_size"], "repeats": args.repeats}
        batches = math.ceil(timed["train_size"] / row["batch_size"])
        gflop = step_flops(settings, timed["classes"], timed["frames"]) * batches / 1e9
        for layout in LAYOUTS:
            row[f"{layout}_of_peak"] = gflop / row[f"{layout}_epoch_s"] / peak
        rows.append(row)
        paths = ", ".join(
            f"{path} {row[f'{path}_epoch_s']:.2f} s ({row[f'{path}_of_peak']:.0%} of peak, spread "
            f"{row[f'{path}_epoch_spread']:.0%})"
            for path in LAYOUTS
        )
        print(f"{'/'.join(map(str, key))}: epoch {paths}", flush=True)
    table = stamped(pd.DataFrame(rows).round(4))
    if Path(args.out).exists() and set(args.sweeps) != set(SWEEP_ORDER):
        kept = pd.read_csv(args.out)
        kept = kept[~workload_keys(kept).isin(set(workload_keys(table)))]
        table = pd.concat([kept, table], ignore_index=True)
    table.to_csv(args.out, index=False)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
