"""What ``benchmarks/throughput.csv`` says about the pace of training, for the reproduce page.

>>> table = pd.DataFrame({
...     "backbone": ["cnn"] * 4, "corpus": ["fsdd", "fsdd", "emodb", "emodb"], "threads": 1,
...     "bf16": [False, True, False, True], "train_clips_per_s": [1000.0, 1400.0, 300.0, 480.0],
...     "fraction_of_peak": [0.23, 0.32, 0.2, 0.33], "step_ms_step": [64.0, 46.0, 210.0, 130.0],
...     "step_ms_conv": [25.0, 15.0, 90.0, 45.0], "step_ms_other_ops": [35.0, 28.0, 110.0, 80.0],
...     "step_ms_optimizer": [1.0, 1.0, 4.0, 1.0], "step_ms_data": [0.0, 0.0, 1.0, 1.0],
...     "step_ms_overhead": [3.0, 2.0, 5.0, 3.0]})
>>> values = throughput_values(table)
>>> values["tp_cnn_peak"], values["tp_cnn_other_share"], values["tp_bf16_speedup"]
('20–23 %', '52–55 %', '1.4–1.6×')
"""

from __future__ import annotations

import pandas as pd

PARTS = {
    "step_ms_conv": "convolutions",
    "step_ms_other_ops": "other operators",
    "step_ms_optimizer": "optimiser",
    "step_ms_data": "data",
    "step_ms_overhead": "Python and dispatch",
}


def throughput_values(table: pd.DataFrame) -> dict[str, str]:
    """The page's numbers: for the sweeps' CNN on one thread (how a sweep worker runs), the span
    over corpora of the fraction of fp32 peak reached, the share of a step spent in convolutions
    and in other operators, and the speed-up of bfloat16 autocast."""
    cnn = table[(table["backbone"] == "cnn") & (table["threads"] == 1)]
    fp32, bf16 = cnn[~cnn["bf16"].astype(bool)], cnn[cnn["bf16"].astype(bool)]
    speedup = bf16.set_index("corpus")["train_clips_per_s"] / fp32.set_index("corpus")["train_clips_per_s"]
    rest = fp32[["step_ms_optimizer", "step_ms_data", "step_ms_overhead"]].sum(axis=1) / fp32["step_ms_step"]
    return {
        "tp_cnn_peak": _share(fp32["fraction_of_peak"]),
        "tp_cnn_conv_share": _share(fp32["step_ms_conv"] / fp32["step_ms_step"]),
        "tp_cnn_other_share": _share(fp32["step_ms_other_ops"] / fp32["step_ms_step"]),
        "tp_cnn_rest_share": f"{100 * rest.max():.0f} %",
        "tp_bf16_speedup": f"{speedup.min():.1f}–{speedup.max():.1f}×" if len(speedup.dropna()) else "not measured",
    }


def _share(values: pd.Series) -> str:
    return f"{100 * values.min():.0f}–{100 * values.max():.0f} %"


def throughput_table(table: pd.DataFrame) -> pd.DataFrame:
    """One row per backbone, corpus, threads and precision: clips per second, GFLOP/s against
    the peak, and where a step's milliseconds go."""
    shown = table.assign(precision=table["bf16"].map({True: "bf16", False: "fp32"}))
    columns = {
        "train_clips_per_s": "train clips/s",
        "eval_clips_per_s": "eval clips/s",
        "train_mflop_per_clip": "MFLOP/clip",
        "train_gflops": "GFLOP/s",
        "peak_gflops": "fp32 peak",
        "fraction_of_peak": "of peak",
        "step_ms_step": "step ms",
        **{k: f"{v} ms" for k, v in PARTS.items()},
    }
    out = shown.set_index(["backbone", "corpus", "threads", "precision"])[list(columns)].rename(columns=columns)
    return out.round({name: 2 if name == "of peak" else 0 for name in out.columns})
