"""Whether training several runs as one batched model would make a sweep faster on this CPU.

    python benchmarks/batched_runs.py [--copies 1 2 4 8] [--corpora fsdd ravdess] [--steps 20]

A sweep trains many runs of the same small CNN (seeds, folds, settings). K of them can be one
model: every convolution grouped by copy (``groups=K``, so copy k reads only its own input channel
and its own weights), batch norm over the K x c channels (per channel, so per copy), and the
projection and classifier as per-copy matrix products. Each copy draws its own batch and has
its own prototype loss; the summed loss gives each copy its own gradient, and Adam is elementwise,
so the K copies train as K separate runs would. The benchmark checks the forward half of that
claim: copy k's embedding equals that of an independent ``CNN`` holding copy k's weights.

For each corpus, batch size (16 as RAVDESS's sweeps train, 64 as the others do) and K, on one
thread as a sweep worker runs, it times a training step of all K copies and
reports clips per second per copy, the speed-up per copy over the sweep's own CNN (the same step as
``throughput.py``), the GFLOP/s this is (the CNN's counted FLOPs per clip) against the fp32 peak of
one thread (a 2048 x 2048 matmul), and where a step's milliseconds go per copy (``torch.profiler``): convolutions,
the other operators (batch norm, ReLU, pooling, the loss), the optimiser, the data and what no
operator accounts for. Batching can only remove per-call costs (dispatch, Python, small-kernel
start-up); work that grows with the activations grows with K. One more row per corpus and batch
size is the sweep's CNN with its weights in channels-last memory format: the grouped model keeps
channels-last activations throughout, the sweep's CNN only its input, so this row tells how much
of batching's gain is the memory format alone. The table goes to
``benchmarks/batched_runs.csv``; the reproduce page shows it. Run it on an idle machine.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import pandas as pd
import torch
from throughput import CORPORA, Step, breakdown, flops, peak_gflops, save, timed
from torch import nn

from predefined_prototypes.run.models import CNN
from predefined_prototypes.run.train import build_model

REPO = Path(__file__).resolve().parents[1]


class GroupedCNN(nn.Module):
    """K copies of ``CNN`` as one model; input [B, K, T, F], output logits [B, K, C] and z [B, K, k]."""

    def __init__(self, copies: int, num_mel_bins: int, embed_dim: int, classes: int, channels: int):
        super().__init__()
        self.copies = copies
        layers, width_in = [], 1
        for i in range(4):
            width = channels * 2**i
            layers += [
                nn.Conv2d(copies * width_in, copies * width, 3, padding=1, bias=False, groups=copies),
                nn.BatchNorm2d(copies * width),
                nn.ReLU(inplace=True),
                nn.MaxPool2d(2, ceil_mode=True),
            ]
            width_in = width
        self.blocks = nn.Sequential(*layers)
        self.project = nn.Parameter(torch.randn(copies, width_in, embed_dim) / width_in**0.5)
        self.project_bias = nn.Parameter(torch.zeros(copies, embed_dim))
        self.classify = nn.Parameter(torch.randn(copies, embed_dim, classes) / embed_dim**0.5)
        self.classify_bias = nn.Parameter(torch.zeros(copies, classes))

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        h = self.blocks(x.contiguous(memory_format=torch.channels_last)).mean(dim=(2, 3))
        h = h.view(len(x), self.copies, -1)
        z = torch.einsum("bkw,kwe->bke", h, self.project) + self.project_bias
        return torch.einsum("bke,kec->bkc", z, self.classify) + self.classify_bias, z

    def copy(self, k: int, num_mel_bins: int, channels: int) -> CNN:
        """Copy k as an independent ``CNN`` (its backbone; the classifier is checked separately)."""
        single = CNN(num_mel_bins, self.project.shape[2], channels)
        for grouped, alone in zip(self.blocks, single.blocks):
            if isinstance(grouped, nn.Conv2d):
                per = grouped.out_channels // self.copies
                alone.weight.data = grouped.weight.data[k * per : (k + 1) * per].clone()
            elif isinstance(grouped, nn.BatchNorm2d):
                per = grouped.num_features // self.copies
                for name in ("weight", "bias", "running_mean", "running_var"):
                    getattr(alone, name).data = getattr(grouped, name).data[k * per : (k + 1) * per].clone()
        single.project.weight.data = self.project.data[k].T.clone()
        single.project.bias.data = self.project_bias.data[k].clone()
        return single


class GroupedStep(Step):
    """A training step of K copies, each on its own batch and with its own prototype loss."""

    def __init__(self, copies: int, corpus: str, batch_size: int, seed: int = 0):
        super().__init__("cnn", corpus, seed=seed, batch_size=batch_size)
        self.copies = copies
        seconds, classes, _ = CORPORA[corpus]
        config = self.config
        torch.manual_seed(seed)
        self.model = GroupedCNN(
            copies, config.num_mel_bins, config.embed_dim, classes, config.backbone_options.channels
        )
        self.objectives = [build_model(config, classes, self.frames)[1] for _ in range(copies)]
        parameters = [*self.model.parameters(), *(p for o in self.objectives for p in o.parameters())]
        self.optimizer = torch.optim.Adam(parameters, lr=1e-3)

    def train_step(self) -> None:
        batches = [self.batch() for _ in range(self.copies)]
        x = torch.stack([b[0] for b in batches], dim=1)
        self.model.train()
        logits, z = self.model(x)
        loss = sum(
            o(logits[:, k], z[:, k], y, y, None)[0] for k, (o, (_, y)) in enumerate(zip(self.objectives, batches))
        )
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        with torch.profiler.record_function("optimizer"):
            self.optimizer.step()


def copies_match(copies: int, corpus: str) -> float:
    """Largest difference between each copy's z and an independent CNN's on the same input."""
    step = GroupedStep(copies, corpus, 4)
    step.model.eval()
    config = step.config
    x = torch.randn(4, copies, step.frames, config.num_mel_bins)
    with torch.no_grad():
        _, z = step.model(x)
        return max(
            (step.model.copy(k, config.num_mel_bins, config.backbone_options.channels).eval()(x[:, k]) - z[:, k])
            .abs()
            .max()
            .item()
            for k in range(copies)
        )


def measure(copies: int, corpus: str, batch_size: int, steps: int, single: float) -> dict:
    step = GroupedStep(copies, corpus, batch_size)
    seconds = timed(step.train_step, steps)
    parts = breakdown(step)
    per_copy = batch_size * copies / seconds
    return {
        "corpus": corpus,
        "batch_size": batch_size,
        "model": "grouped CNN",
        "copies": copies,
        "train_clips_per_s_per_copy": per_copy,
        "speedup_per_copy": per_copy / single,
        "largest_copy_difference": copies_match(copies, corpus),
        **{f"ms_per_copy_{k}": v / copies for k, v in parts.items()},
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--copies", type=int, nargs="+", default=[1, 2, 4, 8])
    parser.add_argument("--corpora", nargs="+", default=["fsdd", "speech_commands_test", "ravdess"])
    parser.add_argument(
        "--batch-sizes", type=int, nargs="+", default=[16, 64], help="16: RAVDESS's sweeps; 64: the rest"
    )
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--out", default=str(REPO / "benchmarks" / "batched_runs.csv"))
    args = parser.parse_args()
    peak = peak_gflops(1)
    torch.set_num_threads(1)  # as a sweep worker runs
    rows = []
    for corpus, batch_size in [(c, b) for c in args.corpora for b in args.batch_sizes]:
        reference = Step("cnn", corpus, batch_size=batch_size)
        single = batch_size / timed(reference.train_step, args.steps)
        rows.append(single_row(reference, "CNN, as sweeps run it", single, single))
        # The grouped model keeps channels-last activations from its first convolution on; the
        # CNN's first convolution (one input channel) returns channels-first ones unless its
        # weights are channels-last too, so that variant is the control for batching.
        reference.model.to(memory_format=torch.channels_last)
        fast = batch_size / timed(reference.train_step, args.steps)
        rows.append(single_row(reference, "CNN, channels-last weights", fast, single))
        print(f"{corpus:8s} batch {batch_size} channels-last weights: {fast / single:.2f}x the sweep's CNN", flush=True)
        for copies in args.copies:
            rows.append(measure(copies, corpus, batch_size, args.steps, single))
            row = rows[-1]
            print(
                f"{corpus:8s} batch {batch_size} K={copies}: {row['train_clips_per_s_per_copy']:6.0f} clips/s per copy "
                f"({row['speedup_per_copy']:.2f}x the sweep's CNN); per copy: step {row['ms_per_copy_step']:.0f} ms = "
                f"conv {row['ms_per_copy_conv']:.0f}, other {row['ms_per_copy_other_ops']:.0f}, optimizer "
                f"{row['ms_per_copy_optimizer']:.1f}, data {row['ms_per_copy_data']:.1f}, overhead "
                f"{row['ms_per_copy_overhead']:.1f}; copies match to {row['largest_copy_difference']:.1e}",
                flush=True,
            )
    table = pd.DataFrame(rows)
    # Every path does the same arithmetic per clip: the sweep CNN's count, at each row's pace.
    per_clip = {c: flops(Step("cnn", c, batch_size=4).train_step) / 4 for c in table["corpus"].unique()}
    table["train_gflops"] = table["corpus"].map(per_clip) * table["train_clips_per_s_per_copy"] / 1e9
    table["fraction_of_peak"] = table["train_gflops"] / peak
    save(table.assign(peak_gflops=peak), args.out)


def single_row(step: Step, model: str, clips_per_s: float, single: float) -> dict:
    """The row of one unbatched model timed at ``clips_per_s`` (``single``: the sweep CNN's)."""
    return {
        "corpus": step.corpus,
        "batch_size": step.batch_size,
        "model": model,
        "copies": 1,
        "train_clips_per_s_per_copy": clips_per_s,
        "speedup_per_copy": clips_per_s / single,
        **{f"ms_per_copy_{k}": v for k, v in breakdown(step).items()},
    }


if __name__ == "__main__":
    main()
