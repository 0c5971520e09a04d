"""Seconds per epoch of the trainer against a bare PyTorch loop over the same model and batches,
and peak memory.

    PP_DATA_DIR=../shared/data python benchmarks/trainer.py [key=value ...]

Both train the same configuration (default: FSDD, fold theo, predefined prototypes, the default
CPU CNN) for a few epochs. The bare loop does only forward, loss, backward and step on batches
cut beforehand; the trainer also crops at random, schedules the learning rate, checks the loss
and logs its terms. Goal: trainer <= 1.05x the bare loop.
"""

import resource
import sys
import time

import torch
import torch.nn.functional as F

from predefined_prototypes.method.prototypes import FixedPrototypes, orthogonal_prototypes
from predefined_prototypes.run.config import RunConfig
from predefined_prototypes.run.models import Model, build_backbone
from predefined_prototypes.run.splits import prepare_splits
from predefined_prototypes.run.train import make_deterministic, train


def bare_loop(config: RunConfig, epochs: int) -> list[float]:
    make_deterministic(config.seed, torch.device("cpu"))
    splits, info = prepare_splits(config)
    train_split = splits["train"]
    classes, frames = len(info["classes"]), info["num_frames"]
    model = Model(
        build_backbone(config.backbone, config.num_mel_bins, frames, config.embed_dim, config.backbone_options),
        config.embed_dim,
        classes,
    )
    prototypes = FixedPrototypes(
        orthogonal_prototypes(classes, config.embed_dim, config.loss_options.scale, config.seed)
    )
    optimizer = torch.optim.Adam(model.parameters(), lr=config.recipe.lr)
    order = torch.randperm(len(train_split), generator=torch.Generator().manual_seed(0))
    batches = [
        (
            train_split.batch(order[i : i + config.recipe.batch_size], frames),
            train_split.labels[order[i : i + config.recipe.batch_size]],
        )
        for i in range(0, len(order), config.recipe.batch_size)
    ]
    seconds = []
    for _ in range(epochs):
        model.train()
        start = time.perf_counter()
        for x, y in batches:
            logits, z = model(x)
            loss = F.cross_entropy(logits, y) + config.loss_options.lam * F.mse_loss(z, prototypes(y))
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
        seconds.append(time.perf_counter() - start)
    return seconds


def main() -> None:
    config = RunConfig.from_args(["dataset=fsdd", "fold=theo", "loss=prototypes", "epochs=4", *sys.argv[1:]])
    bare = bare_loop(config, config.recipe.epochs)
    started = time.perf_counter()
    result = train(config, progress=False)
    total = time.perf_counter() - started
    trainer = [h["train_seconds"] for h in result["history"]]
    # The first epoch warms up allocators and kernels in both; compare the rest.
    bare_s, trainer_s = sum(bare[1:]) / (len(bare) - 1), sum(trainer[1:]) / (len(trainer) - 1)
    print(
        f"threads {torch.get_num_threads()}, {result['data']['train_size']} training clips, "
        f"batch {config.recipe.batch_size}, backbone {config.backbone} (channels {config.backbone_options.channels}, "
        f"{config.num_mel_bins} mel bins)"
    )
    print(
        f"bare loop: {bare_s:.2f} s/epoch | trainer: {trainer_s:.2f} s/epoch "
        f"(ratio {trainer_s / bare_s:.3f}) | trainer incl. per-epoch test eval and final metrics: "
        f"{total / config.recipe.epochs:.2f} s/epoch"
    )
    print(f"peak resident memory: {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MiB")


if __name__ == "__main__":
    main()
