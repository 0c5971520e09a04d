"""Whether torch.compile or a memory format would make whole sweep runs faster on this CPU.

    PP_DATA_DIR=../shared/data python benchmarks/speedups.py [key=value ...]

One whole run (default: main-fsdd's predefined prototypes, fold theo, 15 epochs, one thread as a
sweep worker uses) is trained seven ways, each in a fresh process: eager with the CNN's
channels-last input (what runs use), eager with the default channels-first input, eager with the
CNN's weights channels-last too (``channels_last=true``, so every activation stays so), and with the
CNN compiled by ``torch.compile`` twice: the first compiles, the second reads TorchInductor's
persistent cache, as every run after the first of a sweep would; then both again with the
weights channels-last (Inductor can fuse the batch norms, ReLUs and pooling that the layout change
leaves as a step's largest share). Each row gives the wall time,
the speed-up over eager and whether every metric matched eager's. A mode is worth adopting at
1.3x or more with metrics within tolerance. The table goes to ``benchmarks/speedups.csv``.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from datetime import UTC, datetime
from pathlib import Path

import pandas as pd

from predefined_prototypes.run.provenance import cpu_name, git_commit

REPO = Path(__file__).resolve().parents[1]
DEFAULT = ["dataset=fsdd", "fold=theo", "loss=prototypes", "epochs=15", "batch_size=64", "eval_every=5"]

# Runs in a fresh interpreter: argv[1] is the mode, the rest RunConfig fields.
ONE_RUN = """
import json, sys, time
import torch
import predefined_prototypes.run.models as models
import predefined_prototypes.run.train as train
from predefined_prototypes.run.config import RunConfig

mode, fields = sys.argv[1], sys.argv[2:]
build = train.build_model
if mode.startswith("compile"):
    def compiled(config, classes, frames):
        model, objective = build(config, classes, frames)
        model.backbone = torch.compile(model.backbone)
        return model, objective
    train.build_model = compiled
if mode == "channels_first":
    def forward(self, x):
        return self.project(self.blocks(x.unsqueeze(1)).mean(dim=(2, 3)))
    models.CNN.forward = forward
if mode.endswith("channels_last_weights"):
    fields = [*fields, "channels_last=true"]
torch.set_num_threads(1)
started = time.perf_counter()
metrics = train.run(RunConfig.from_args(fields), progress=False)["metrics"]
print(json.dumps({"wall_s": time.perf_counter() - started, "accuracy": metrics["accuracy"],
                  "train_accuracy": metrics["train_accuracy"], "ece": metrics["ece"]}))
"""
MODES = (
    "eager",
    "channels_first",
    "channels_last_weights",
    "compile_cold",
    "compile_cached",
    "compile_cold_channels_last_weights",
    "compile_cached_channels_last_weights",
)
TOLERANCE = 1e-6  # "matched": every metric within this of eager's


def main() -> None:
    # key=value arguments replace the default run's fields of the same key
    given = {arg.split("=", 1)[0] for arg in sys.argv[1:]}
    fields = [f for f in DEFAULT if f.split("=", 1)[0] not in given] + sys.argv[1:]
    rows = []
    with tempfile.TemporaryDirectory(prefix="pp-inductor-") as cache:
        env = {**os.environ, "TORCHINDUCTOR_CACHE_DIR": cache}  # cold for the first compile only
        for mode in MODES:
            done = subprocess.run(
                [sys.executable, "-c", ONE_RUN, mode, *fields], env=env, capture_output=True, text=True, check=True
            )
            result = json.loads(done.stdout.strip().splitlines()[-1])
            rows.append({"mode": mode, **result, "load_average": os.getloadavg()[0]})
            print(rows[-1], flush=True)
    table = pd.DataFrame(rows)
    eager = table.iloc[0]
    table["speedup"] = (eager["wall_s"] / table["wall_s"]).round(2)
    metrics = ["accuracy", "train_accuracy", "ece"]
    table["metrics_match_eager"] = [
        all(abs(r[m] - eager[m]) <= TOLERANCE for m in metrics) for _, r in table.iterrows()
    ]
    table = table.assign(
        wall_s=table["wall_s"].round(1),
        load_average=table["load_average"].round(1),
        run=" ".join(fields),
        cpu=cpu_name(),
        torch=__import__("torch").__version__,
        commit=git_commit()[:10],
        measured_at=datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
    )
    out = REPO / "benchmarks" / "speedups.csv"
    table.to_csv(out, index=False)
    print(table[["mode", "wall_s", "speedup", "metrics_match_eager"]].to_string(index=False))
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
