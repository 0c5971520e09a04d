"""The trainer on a CUDA GPU: the CPU CNN, ECAPA-TDNN (k = 192) and a full-size AST (random init,
128 mel bins) on FSDD fold theo, with predefined prototypes. Prints seconds per epoch and accuracy,
and repeats the CNN run to check that a seeded GPU run is reproducible.

    PP_DATA_DIR=/path/to/data python benchmarks/gpu_check.py
"""

import time

import torch

from predefined_prototypes.run.config import RunConfig
from predefined_prototypes.run.train import train

CASES = {
    "cnn": dict(backbone="cnn"),
    "ecapa": dict(backbone="ecapa", embed_dim=192, channels=32, num_mel_bins=80),
    "ast": dict(backbone="ast", embed_dim=768, num_mel_bins=128, lr=5e-5, batch_size=32),
}


def main() -> None:
    assert torch.cuda.is_available(), "no CUDA device"
    print(f"device: {torch.cuda.get_device_name(0)}, torch {torch.__version__}")
    results = {}
    for name, overrides in CASES.items():
        config = RunConfig.from_dict(
            dict(dataset="fsdd", fold="theo", loss="prototypes", epochs=4, device="cuda", **overrides)
        )
        start = time.perf_counter()
        result = train(config, progress=False)
        epoch_s = [round(h["train_seconds"], 2) for h in result["history"]]
        results[name] = result
        print(
            f"{name}: {result['device']}, epochs {epoch_s} s, accuracy {result['metrics']['accuracy']:.3f}, "
            f"train accuracy {result['metrics']['train_accuracy']:.3f}, wall {time.perf_counter() - start:.1f} s, "
            f"peak GPU memory {torch.cuda.max_memory_allocated() / 2**20:.0f} MiB"
        )
        torch.cuda.reset_peak_memory_stats()
    again = train(
        RunConfig.from_dict(dict(dataset="fsdd", fold="theo", loss="prototypes", epochs=4, device="cuda")),
        progress=False,
    )
    same = again["metrics"] == results["cnn"]["metrics"]
    print(
        f"cnn rerun identical metrics: {same} (accuracy {again['metrics']['accuracy']:.4f} vs "
        f"{results['cnn']['metrics']['accuracy']:.4f})"
    )


if __name__ == "__main__":
    main()
