"""Why the case study's pitch edit resamples by a small rational ratio: seconds per 3 s clip of
``torchaudio.functional.pitch_shift`` (an irrational resampling ratio) against the package's
``interventions.shift_pitch`` (the ratio rounded to 9/8), both +2 semitones, same thread count.

    python benchmarks/pitch_edit.py   # writes benchmarks/pitch_edit.csv

The clip is seeded noise: the cost of either edit depends on the clip's length, not its content.
"""

import os
import time
from datetime import UTC, datetime
from pathlib import Path

import pandas as pd
import torch
import torchaudio

from predefined_prototypes.run.interventions import shift_pitch
from predefined_prototypes.run.provenance import cpu_name, git_commit

SAMPLE_RATE = 16_000
SECONDS = 3.0
SEMITONES = 2.0
REPEATS = 3


def seconds_per_clip(edit, clip: torch.Tensor) -> float:
    """The median wall time of ``REPEATS`` calls of ``edit`` on ``clip``, after one warm-up call."""
    edit(clip)
    times = []
    for _ in range(REPEATS):
        start = time.perf_counter()
        edit(clip)
        times.append(time.perf_counter() - start)
    return sorted(times)[len(times) // 2]


def main() -> None:
    torch.set_num_threads(1)  # as a sweep worker runs it
    clip = torch.randn(1, int(SAMPLE_RATE * SECONDS), generator=torch.Generator().manual_seed(0)) * 0.1
    edits = {
        "torchaudio.functional.pitch_shift": lambda x: torchaudio.functional.pitch_shift(x, SAMPLE_RATE, SEMITONES),
        "interventions.shift_pitch (ratio 9/8)": lambda x: shift_pitch(x, SAMPLE_RATE, SEMITONES),
    }
    rows = [
        {
            "edit": name,
            "clip_seconds": SECONDS,
            "semitones": SEMITONES,
            "seconds_per_clip": seconds_per_clip(edit, clip),
            "repeats": REPEATS,
            "threads": 1,
            "load_average": round(os.getloadavg()[0], 2),  # other work on the machine slows both alike
            "cpu": cpu_name(),
            "torch": torch.__version__,
            "commit": git_commit()[:10],
            "measured": datetime.now(UTC).strftime("%Y-%m-%d %H:%M"),
        }
        for name, edit in edits.items()
    ]
    out = Path(__file__).with_suffix(".csv")
    pd.DataFrame(rows).to_csv(out, index=False)
    print(pd.DataFrame(rows)[["edit", "seconds_per_clip"]].to_string(index=False), f"\nwrote {out}")


if __name__ == "__main__":
    main()
