"""How fast one training step runs against what the CPU can do, per backbone and corpus.

    python benchmarks/throughput.py [--threads 1 2] [--steps 20] [--backbones cnn ecapa]

For each backbone and corpus shape (clip length in frames, mel bins, classes, as a sweep trains
them) and each thread count, a training step of the sweep's model (batch 64, Adam, the prototype
loss) and an evaluation pass are timed on features of the corpus's shape. Reported per row:

- training and evaluation clips per second;
- the FLOPs per clip of a training step and of evaluation, counted by
  ``torch.utils.flop_counter.FlopCounterMode`` (matrix products and convolutions, forward and
  backward; element-wise work is not counted, so the fraction of peak is an upper bound of the
  useful arithmetic);
- with ``--bf16``, the same under bfloat16 autocast (the CPU's bf16 units, where it has them);
- the achieved GFLOP/s and the fp32 peak of the same threads, a 2048 x 2048 matmul in the same
  process, and the fraction of it the step reaches;
- a ``torch.profiler`` breakdown of one training step (wall time, milliseconds): convolution
  kernels (forward and backward), other operators, the optimiser, the batch cut from the padded
  feature tensor (data), and what no operator accounts for (Python and dispatch overhead).

The table goes to ``benchmarks/throughput.csv`` with the machine and commit; the reproduce page
shows it. Run it on an idle machine.
"""

from __future__ import annotations

import argparse
import time
from datetime import UTC, datetime
from pathlib import Path

import pandas as pd
import torch
from torch.profiler import ProfilerActivity, profile, record_function
from torch.utils.flop_counter import FlopCounterMode

from predefined_prototypes.run.config import RunConfig
from predefined_prototypes.run.features import FeatureSettings
from predefined_prototypes.run.provenance import cpu_name, git_commit
from predefined_prototypes.run.splits import Split
from predefined_prototypes.run.train import build_model

REPO = Path(__file__).resolve().parents[1]
BATCH = 64
# Each corpus as a sweep trains it: clip seconds, classes, training clips per fold (for the epoch time).
CORPORA = {
    "fsdd": (1.0, 10, 2000),
    "emodb": (3.0, 7, 480),
    "speech_commands_test": (1.0, 12, 3900),
    "ravdess": (3.0, 8, 1260),
}


def peak_gflops(threads: int, size: int = 2048, repeats: int = 10) -> float:
    torch.set_num_threads(threads)
    a, b = torch.randn(size, size), torch.randn(size, size)
    a @ b
    started = time.perf_counter()
    for _ in range(repeats):
        a @ b
    return 2 * size**3 * repeats / (time.perf_counter() - started) / 1e9


class Step:
    """One training step of the sweep's model on a synthetic split of the corpus's shape."""

    def __init__(self, backbone: str, corpus: str, bf16: bool = False, seed: int = 0, batch_size: int = BATCH):
        self.corpus, self.bf16, self.batch_size = corpus, bf16, batch_size
        seconds, classes, clips = CORPORA[corpus]
        self.config = RunConfig.from_dict(dict(backbone=backbone, loss="prototypes", lam=10.0, seed=seed))
        settings = FeatureSettings(self.config.num_mel_bins)
        self.frames = settings.frames(round(seconds * 16000))
        torch.manual_seed(seed)
        self.model, self.objective = build_model(self.config, classes, self.frames)
        self.optimizer = torch.optim.Adam([*self.model.parameters(), *self.objective.parameters()], lr=1e-3)
        n = 256
        features = [torch.randn(self.frames + 5, self.config.num_mel_bins) for _ in range(n)]
        labels = torch.randint(0, classes, (n,))
        self.split = Split(None, torch.stack(features), torch.full((n,), self.frames + 5), labels)
        self.generator = torch.Generator().manual_seed(seed)
        self.epoch_clips = clips

    def batch(self):
        index = torch.randint(0, len(self.split), (self.batch_size,), generator=self.generator)
        with record_function("data"):
            return self.split.batch(index, self.frames, self.generator), self.split.labels[index]

    def train_step(self) -> None:
        x, y = self.batch()
        self.model.train()
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=self.bf16):
            logits, z = self.model(x)
        loss, _ = self.objective(logits.float(), z.float(), y, y, None)
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        with record_function("optimizer"):
            self.optimizer.step()

    @torch.no_grad()
    def eval_step(self) -> None:
        x, _ = self.batch()
        self.model.eval()
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=self.bf16):
            self.model(x)


def flops(function) -> int:
    counter = FlopCounterMode(display=False)
    with counter:
        function()
    return counter.get_total_flops()


def timed(function, steps: int) -> float:
    for _ in range(3):  # warm-up: oneDNN picks and caches its kernels
        function()
    started = time.perf_counter()
    for _ in range(steps):
        function()
    return (time.perf_counter() - started) / steps


CONVOLUTION = ("conv", "mkldnn_convolution")


def breakdown(step: Step) -> dict[str, float]:
    """Milliseconds of one training step by kind, from the profiler's operator self-times."""
    for _ in range(3):
        step.train_step()
    with profile(activities=[ProfilerActivity.CPU]) as prof:
        started = time.perf_counter()
        step.train_step()
        wall = time.perf_counter() - started
    events = prof.key_averages()
    ms = {"conv": 0.0, "other_ops": 0.0}
    for event in events:
        if event.key in ("data", "optimizer"):
            continue
        kind = "conv" if any(c in event.key for c in CONVOLUTION) else "other_ops"
        ms[kind] += event.self_cpu_time_total / 1e3
    span = {e.key: e.cpu_time_total / 1e3 for e in events if e.key in ("data", "optimizer")}
    # Operators inside the optimiser and data spans are theirs, not "other".
    inside = sum(
        e.self_cpu_time_total / 1e3
        for e in prof.events()
        if e.cpu_parent is not None and _under(e, ("data", "optimizer"))
    )
    ms["other_ops"] -= inside
    ms["optimizer"], ms["data"] = span.get("optimizer", 0.0), span.get("data", 0.0)
    ms["overhead"] = max(wall * 1e3 - sum(ms.values()), 0.0)
    ms["step"] = wall * 1e3
    return ms


def _under(event, names) -> bool:
    parent = event.cpu_parent
    while parent is not None:
        if parent.name in names:
            return True
        parent = parent.cpu_parent
    return False


def measure(backbone: str, corpus: str, threads: int, steps: int, peak: float, bf16: bool = False) -> dict:
    torch.set_num_threads(threads)
    step = Step(backbone, corpus, bf16)
    train_flops = flops(step.train_step) / BATCH
    eval_flops = flops(step.eval_step) / BATCH
    train_s, eval_s = timed(step.train_step, steps), timed(step.eval_step, steps)
    parts = breakdown(step)
    achieved = train_flops * BATCH / train_s / 1e9
    return {
        "backbone": backbone,
        "corpus": corpus,
        "threads": threads,
        "bf16": bf16,
        "frames": step.frames,
        "mel_bins": step.config.num_mel_bins,
        "train_clips_per_s": BATCH / train_s,
        "eval_clips_per_s": BATCH / eval_s,
        "train_mflop_per_clip": train_flops / 1e6,
        "eval_mflop_per_clip": eval_flops / 1e6,
        "train_gflops": achieved,
        "peak_gflops": peak,
        "fraction_of_peak": achieved / peak,
        "epoch_seconds": step.epoch_clips / (BATCH / train_s),
        **{f"step_ms_{k}": v for k, v in parts.items()},
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--backbones", nargs="+", default=["cnn", "ecapa"])
    parser.add_argument("--corpora", nargs="+", default=list(CORPORA))
    parser.add_argument("--bf16", action="store_true", help="also time each row under bfloat16 autocast")
    parser.add_argument("--out", default=str(REPO / "benchmarks" / "throughput.csv"))
    args = parser.parse_args()
    rows = []
    for threads in args.threads:
        peak = peak_gflops(threads)
        for backbone in args.backbones:
            for corpus, bf16 in [(c, b) for c in args.corpora for b in ([False, True] if args.bf16 else [False])]:
                row = measure(backbone, corpus, threads, args.steps, peak, bf16)
                rows.append(row)
                print(
                    f"{backbone:6s} {corpus:22s} {threads} thread(s){' bf16' if bf16 else ''}: {row['train_clips_per_s']:7.0f} train clips/s, "
                    f"{row['train_gflops']:6.1f} of {peak:6.1f} GFLOP/s ({row['fraction_of_peak']:.0%}); step "
                    f"{row['step_ms_step']:.0f} ms = conv {row['step_ms_conv']:.0f}, other ops "
                    f"{row['step_ms_other_ops']:.0f}, optimizer {row['step_ms_optimizer']:.0f}, data "
                    f"{row['step_ms_data']:.0f}, overhead {row['step_ms_overhead']:.0f}",
                    flush=True,
                )
    save(pd.DataFrame(rows), args.out)


def stamped(table: pd.DataFrame) -> pd.DataFrame:
    """``table`` with the CPU, torch version, commit and time of the measurement."""
    stamp = {"cpu": cpu_name(), "torch": torch.__version__, "commit": git_commit()[:10]}
    return table.assign(**stamp, measured=datetime.now(UTC).strftime("%Y-%m-%d %H:%M"))


def save(table: pd.DataFrame, out: str) -> None:
    """Write ``table``, stamped, to ``out``."""
    stamped(table).to_csv(out, index=False)
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
