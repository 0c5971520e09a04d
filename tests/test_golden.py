"""Golden runs: seeded short trainings whose record is stored in tests/golden/, compared in two ways.

- **On the machine that recorded them** (same fingerprint: torch, ATen CPU capability, CPU model and
  flags, oneDNN's ISA limit) the whole record is compared bit for bit: a refactor that changes no
  number passes, anything that moves a metric fails, naming the first value that moved.
- **On any other x86 CPU** float kernels differ (AVX-512 against AVX2 convolutions in oneDNN, AMX,
  another summation order), and training amplifies the difference until a clip flips class after a
  few epochs: final metrics are not comparable there, by design. What is compared there is what is
  numerically stable: every discrete artefact exactly (the run id, the clips of each split with
  their labels and speakers, the classes, feature shapes, the utterances the factor filter drops)
  and the prototype matrix to 1e-9 (float64 QR), and the loss terms of the first
  ``FIRST_STEPS`` optimiser steps to a tolerance derived from a measured perturbation: 100 times
  the largest relative change that a 1-ulp nudge of every initial weight causes in those steps
  (recorded with the golden, at least 1e-5). A wrong loss term moves the first step by far more.

Record new goldens on any machine, for an intended change of results only (say why in the commit
message): ``python tests/test_golden.py``.
"""

import hashlib
import json
import math
import os
import sys
from pathlib import Path

import pytest
import torch
from conftest import fsdd_subset, synthetic_emodb

from predefined_prototypes.run import train as training
from predefined_prototypes.run.config import RunConfig
from predefined_prototypes.run.splits import prepare_splits

GOLDEN = Path(__file__).resolve().parent / "golden"
CONFIGS = {
    "learned-prototypes-fsdd": dict(
        dataset="fsdd",
        fold="official",
        loss="learned_prototypes",
        epochs=4,
        batch_size=16,
        embed_dim=16,
        channels=8,
        num_mel_bins=32,
        seed=3,
    ),
    "factor-prototypes-emodb": dict(
        dataset="emodb",
        fold="03",
        dataset_options={"classes": 4},
        loss="factor_prototypes",
        factor_levels=2,
        embed_dim=8,
        channels=4,
        num_mel_bins=32,
        epochs=15,
        lr=0.003,
        batch_size=4,
        clip_seconds=1.0,
        seed=1,
    ),
}
# Optimiser steps compared across machines: measured here, a 1-ulp nudge of the initial weights
# (or oneDNN limited to AVX2) moves the first 8 steps' losses by at most 6e-7 relative, and later
# steps by up to 1e-3 as the difference grows.
FIRST_STEPS = 8
TOLERANCE_FACTOR, TOLERANCE_FLOOR = 100.0, 1e-5
PROTOTYPE_ATOL = 1e-9
# Run-dependent values that say nothing about the numbers, and the configuration (an input: new
# fields with defaults that reproduce old behaviour must not fail the comparison).
VOLATILE = {
    "config",
    "wall_time_s",
    "train_seconds",
    "git_commit",
    "package_version",
    "torch_version",
    "torchaudio_version",
    "data_dir",
    "device",
    "threads",
}
# CPU features that change which float kernels run.
KERNEL_FLAGS = ("avx2", "fma", "avx512f", "avx512_bf16", "avx512_fp16", "amx_tile", "amx_bf16", "amx_fp16")


def machine() -> dict:
    """The fingerprint a golden is compared bit for bit on."""
    info = Path("/proc/cpuinfo").read_text().splitlines() if Path("/proc/cpuinfo").is_file() else []
    model = next((line.split(":", 1)[1].strip() for line in info if line.startswith("model name")), "unknown")
    flags = next((line.split(":", 1)[1].split() for line in info if line.startswith("flags")), [])
    return {
        "torch": torch.__version__,
        "cpu_capability": torch.backends.cpu.get_cpu_capability(),
        "cpu_model": model,
        "cpu_flags": [f for f in KERNEL_FLAGS if f in flags],
        "onednn_max_isa": os.environ.get("ONEDNN_MAX_CPU_ISA", "ALL"),
        "aten_cpu_capability": os.environ.get("ATEN_CPU_CAPABILITY", "default"),
    }


class _Enough(Exception):
    """Stops a training once the compared steps are seen."""


def nudged(build):
    """``train.build_model`` with every initial weight moved by one ulp (towards +inf)."""

    def build_model(*args, **kwargs):
        model, objective = build(*args, **kwargs)
        with torch.no_grad():
            for p in model.parameters():
                p.copy_(torch.nextafter(p, torch.full_like(p, math.inf)))
        return model, objective

    return build_model


def train_once(name: str, data_root: Path, steps_only: bool = False) -> tuple[dict | None, list[dict]]:
    """The golden configuration trained at one thread: its stable record (None if ``steps_only``)
    and the loss terms of its first FIRST_STEPS optimiser steps."""
    steps = []

    def on_step(step, values):
        if step <= FIRST_STEPS:
            steps.append(values)
        elif steps_only:
            raise _Enough

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        result = training.train(
            RunConfig.from_dict(dict(**CONFIGS[name], data_dir=str(data_root))), progress=False, on_step=on_step
        )
    except _Enough:
        return None, steps
    finally:
        torch.set_num_threads(threads)
    result.pop("embeddings")
    result.pop("weights")
    return _strip(result), steps


def artefacts(name: str, data_root: Path) -> dict:
    """What a golden configuration fixes before any float kernel runs: compared exactly everywhere
    (the prototype matrix to PROTOTYPE_ATOL)."""
    config = RunConfig.from_dict(dict(**CONFIGS[name], data_dir=str(data_root)))
    torch.manual_seed(config.seed)
    splits, info = prepare_splits(config)
    _, objective = training.build_model(config, len(info["classes"]), info["num_frames"])
    prototypes = getattr(objective, "prototypes", None)
    listing = {
        split: [[c.path.name, c.label, c.speaker] for c in ready.dataset.clips] for split, ready in splits.items()
    }
    return {
        "run_id": config.run_id(),
        "classes": info["classes"],
        "fold": info["fold"],
        "clips": {k: hashlib.sha256(json.dumps(v).encode()).hexdigest() for k, v in listing.items()},
        "sizes": {k: len(v) for k, v in listing.items()},
        "feature_shapes": {k: list(ready.padded.shape[1:]) for k, ready in splits.items()},
        "num_frames": info["num_frames"],
        "dropped_invalid_factors": info.get("dropped_invalid_factors", []),
        "prototypes": None if prototypes is None else prototypes.matrix.detach().double().tolist(),
    }


def _strip(value):
    if isinstance(value, dict):
        return {k: _strip(v) for k, v in value.items() if k not in VOLATILE}
    if isinstance(value, list):
        return [_strip(v) for v in value]
    return value


def exact_differences(stored, now, where: str = "") -> list[str]:
    """Paths at which ``now`` lost or changed a value of ``stored``, bit for bit. Values that ``now``
    adds (a new metric) are not differences.

    >>> exact_differences({"a": [1.0, 2.0], "b": 1}, {"a": [1.0, 2.0000001], "b": 1, "c": 3})
    ['a[1]: 2.0 -> 2.0000001']
    >>> exact_differences({"a": float("nan")}, {"a": float("nan")})
    []
    """
    if isinstance(stored, dict) and isinstance(now, dict):
        out = [f"{where}.{k}: missing" for k in sorted(stored.keys() - now.keys())]
        for key in sorted(stored.keys() & now.keys()):
            out += exact_differences(stored[key], now[key], f"{where}.{key}" if where else key)
        return out
    if isinstance(stored, list) and isinstance(now, list) and len(stored) == len(now):
        return [d for i, (a, b) in enumerate(zip(stored, now)) for d in exact_differences(a, b, f"{where}[{i}]")]
    nan = isinstance(stored, float) and isinstance(now, float) and math.isnan(stored) and math.isnan(now)
    return [] if stored == now or nan else [f"{where}: {stored!r} -> {now!r}"]


def step_deviation(stored: list[dict], now: list[dict]) -> float:
    """The largest relative change of any loss term over the compared steps (relative to the
    step's total loss, so a term near 0 is not magnified); inf if the steps or terms differ.

    >>> round(step_deviation([{"loss": 2.0, "ce": 1.0}], [{"loss": 2.0, "ce": 1.0002}]), 6)
    0.0001
    >>> step_deviation([{"loss": 2.0}], [{"loss": 2.0}, {"loss": 1.0}])
    inf
    """
    if len(stored) != len(now) or any(a.keys() != b.keys() for a, b in zip(stored, now)):
        return math.inf
    return max(
        (abs(a[k] - b[k]) / max(abs(a["loss"]), abs(a[k]), 1e-12) for a, b in zip(stored, now) for k in a),
        default=0.0,
    )


def stable_differences(golden: dict, steps: list[dict], found: dict) -> list[str]:
    """What the comparison on another machine finds: artefacts that differ, and first steps that
    moved beyond the golden's tolerance."""
    out = []
    stored = golden["artefacts"]
    for key in sorted(stored.keys() - {"prototypes"}):
        if stored[key] != found.get(key):
            out.append(f"artefacts.{key}: {stored[key]!r} -> {found.get(key)!r}")
    a, b = stored["prototypes"], found["prototypes"]
    if (a is None) != (b is None) or (a is not None and not _close(a, b)):
        out.append(f"artefacts.prototypes moved beyond {PROTOTYPE_ATOL}")
    deviation = step_deviation(golden["first_steps"], steps)
    if deviation > golden["tolerance"]:
        out.append(
            f"first {FIRST_STEPS} steps' losses moved by {deviation:.3g} relative, beyond the measured "
            f"tolerance {golden['tolerance']:.3g}"
        )
    return out


def _close(a: list, b: list) -> bool:
    ta, tb = torch.tensor(a, dtype=torch.float64), torch.tensor(b, dtype=torch.float64)
    return ta.shape == tb.shape and bool((ta - tb).abs().max() <= PROTOTYPE_ATOL)


def roots(name: str, tmp: Path) -> Path:
    return fsdd_subset(tmp / "fsdd") if name.endswith("fsdd") else synthetic_emodb(tmp / "emodb")


def load(name: str) -> dict:
    return json.loads((GOLDEN / f"{name}.json").read_text())


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(CONFIGS))
def test_golden_run_is_unchanged(name, tmp_path):
    golden = load(name)
    root = roots(name, tmp_path)
    record, steps = train_once(name, root)
    if golden["machine"] == machine():
        moved = exact_differences(golden["record"], record)
        assert not moved, f"{len(moved)} value(s) moved bit for bit; first: " + "; ".join(moved[:5])
    moved = stable_differences(golden, steps, artefacts(name, root))
    assert not moved, "; ".join(moved)


@pytest.mark.slow
def test_comparison_elsewhere_tolerates_a_1_ulp_nudge_and_fails_a_wrong_loss_term(tmp_path, monkeypatch):
    """The comparison used on other machines passes a run whose initial weights moved by 1 ulp,
    trained for the golden's full length (its final metrics may differ), and fails the same run
    with a 5 % heavier prototype pull: a real change of the computation."""
    name = "learned-prototypes-fsdd"
    golden, root = load(name), roots(name, tmp_path)
    found = artefacts(name, root)
    build = training.build_model
    monkeypatch.setattr(training, "build_model", nudged(build))
    _, steps = train_once(name, root)
    assert not stable_differences(golden, steps, found)

    def heavier_pull(*args, **kwargs):
        model, objective = build(*args, **kwargs)
        forward = objective.forward

        def wrong(*a, **k):
            loss, terms = forward(*a, **k)
            return loss + 0.05 * terms["distance"], terms

        objective.forward = wrong
        return model, objective

    monkeypatch.setattr(training, "build_model", heavier_pull)
    _, steps = train_once(name, root, steps_only=True)
    assert any("first 8 steps" in d for d in stable_differences(golden, steps, found))


@pytest.mark.slow
def test_golden_run_holds_on_another_instruction_set():
    """Where only the kernels differ (oneDNN limited to AVX2 and ATen to its AVX2 kernels, as on a
    CPU without AVX-512), the fingerprint differs and the comparison elsewhere passes."""
    import subprocess

    env = {**os.environ, "ONEDNN_MAX_CPU_ISA": "AVX2", "ATEN_CPU_CAPABILITY": "avx2"}
    command = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider"]
    result = subprocess.run(
        [*command, f"{__file__}::test_golden_run_is_unchanged"], env=env, capture_output=True, text=True
    )
    assert result.returncode == 0, result.stdout[-2000:]


def record(name: str, tmp: Path) -> dict:
    """A golden: the whole record, its first steps, its artefacts and the tolerance measured here."""
    root = roots(name, tmp)
    whole, steps = train_once(name, root)
    build = training.build_model
    training.build_model = nudged(build)
    try:
        _, nudged_steps = train_once(name, root, steps_only=True)
    finally:
        training.build_model = build
    measured = step_deviation(steps, nudged_steps)
    return {
        "machine": machine(),
        "config": CONFIGS[name],
        "record": whole,
        "first_steps": steps,
        "artefacts": artefacts(name, root),
        "nudge_deviation": measured,
        "tolerance": max(TOLERANCE_FACTOR * measured, TOLERANCE_FLOOR),
    }


if __name__ == "__main__":  # record the goldens on this machine (an intended change of results only)
    import tempfile

    os.environ.setdefault("PP_CACHE_DIR", tempfile.mkdtemp())
    for name in sorted(CONFIGS):
        with tempfile.TemporaryDirectory() as tmp:
            golden = record(name, Path(tmp))
        path = GOLDEN / f"{name}.json"
        path.write_text(json.dumps(golden, indent=1, sort_keys=True) + "\n")
        print(f"wrote {path}: 1-ulp deviation {golden['nudge_deviation']:.3g}, tolerance {golden['tolerance']:.3g}")
