"""Feature extraction speed: cold (read, resample, fbank, write the cache) and warm (cache hit).

    PP_DATA_DIR=../shared/data python benchmarks/features.py

Runs in a fresh temporary cache so that "cold" is really cold. Goal: >= 500 clips/s cold and a
warm load >= 20x faster.
"""

import os
import tempfile
import time

import torch

from predefined_prototypes.data import folds, get_dataset
from predefined_prototypes.run.features import FeatureSettings, extract_features


def every_clip(name: str) -> list:
    """All files of a dataset: the union of the test splits of its leave-one-speaker-out folds."""
    ids = [f for f in folds(name) if f != "official"]
    return sorted(p for f in ids for p in get_dataset(name, fold=f, split="test").files)


def main() -> None:
    torch.set_num_threads(os.cpu_count() or 1)
    settings = FeatureSettings(num_mel_bins=128)
    print(f"threads: {torch.get_num_threads()}, mel bins: {settings.num_mel_bins}")
    for name in ("fsdd", "emodb"):
        files = every_clip(name)
        with tempfile.TemporaryDirectory() as cache:
            os.environ["PP_CACHE_DIR"] = cache
            start = time.perf_counter()
            cold = extract_features(files, settings)
            cold_s = time.perf_counter() - start
            start = time.perf_counter()
            warm = extract_features(files, settings)
            warm_s = time.perf_counter() - start
        assert torch.equal(cold.frames, warm.frames)
        print(
            f"{name}: {len(files)} clips, {len(cold.frames)} frames | cold {cold_s:.2f} s "
            f"({len(files) / cold_s:.0f} clips/s) | warm {warm_s:.3f} s "
            f"({cold_s / warm_s:.0f}x faster)"
        )


if __name__ == "__main__":
    main()
