"""The benchmark scripts' own bookkeeping: a remeasured workload replaces its row."""

import sys
from pathlib import Path

import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
import sweep_layouts  # noqa: E402


def test_a_workload_reads_back_from_the_csv_as_the_same_key(tmp_path):
    # clip_seconds unset is None when measured and NaN when read back: the same workload either way.
    measured = pd.DataFrame(
        [{"dataset": "fsdd", "clip_seconds": None, "batch_size": 64, "num_mel_bins": 40, "backbone": "cnn"}]
    )
    measured.to_csv(tmp_path / "t.csv", index=False)
    read_back = pd.read_csv(tmp_path / "t.csv")
    assert read_back["clip_seconds"].isna().all()
    assert list(sweep_layouts.workload_keys(read_back)) == list(sweep_layouts.workload_keys(measured))
    other = measured.assign(batch_size=16)
    assert list(sweep_layouts.workload_keys(other)) != list(sweep_layouts.workload_keys(measured))
