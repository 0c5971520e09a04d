"""The reproduce page's glue: stored runs, the sweeps' hours and the benchmarks."""

from __future__ import annotations

import math

import pandas as pd

from ...run.config import RunConfig
from ...storage.manifest import recorded_root
from ...storage.plans import SWEEP_ORDER
from ...storage.results import RESULTS, ResultsError, load_stored_run, planned
from ..methods import is_set
from ..rules import PATH_MARGIN, PATH_SPEEDUP
from ..runs import load_profile, load_results
from ..stats import describe_difference, paired_by_fold
from ..tables import load_benchmark, shown
from .common import projected_hours


def stored_runs() -> pd.DataFrame:
    """Per sweep file: the profile shown, its runs, folds, seeds and epochs, the mean run time,
    and the devices, commits and torch versions that produced them."""

    rows = []
    for sweep in SWEEP_ORDER:
        df = load_results(sweep)
        hours = projected_hours(sweep, df)
        rows.append(
            {
                "sweep": sweep,
                "profile": df["profile"].iloc[0],
                "runs": len(df),
                "folds": df["fold"].nunique(),
                "seeds": df["seed"].nunique(),
                "epochs": ", ".join(str(e) for e in sorted(df["epochs"].unique())),
                "mean run time (s)": round(df["wall_time_s"].mean(), 1),
                "full profile, projected (h, 2 workers)": round(hours, 1),
                "device": ", ".join(sorted(df["device"].unique())),
                "commit": ", ".join(sorted(c[:10] for c in df["git_commit"].unique())),
                "torch": ", ".join(sorted(df["torch_version"].unique())),
            }
        )
    return pd.DataFrame(rows).set_index("sweep")


FIRST_RUN = ("dataset=fsdd", "fold=theo", "loss=prototypes", "epochs=15")  # the README's one-run command


def first_run() -> dict[str, str]:
    """The README's one-run command, what it prints and how long it took: the stored run of the same
    configuration (main-fsdd's, the same id), so a newcomer can compare their first output."""
    rid = RunConfig.from_args(list(FIRST_RUN)).run_id()
    record, _ = load_stored_run("main-fsdd", rid)
    m = record["metrics"]
    return {
        "first_run_command": "python -m predefined_prototypes train " + " ".join(FIRST_RUN),
        "first_run_output": f"accuracy {m['accuracy']:.4f}  macro-F1 {m['macro_f1']:.4f}  ECE {m['ece']:.4f}",
        "first_run_time": f"{record['wall_time_s']:.0f} s of training and evaluation (run {rid} of main-fsdd, one "
        f"thread, two runs at a time, on the 2-core machine; another processor's float kernels change the "
        "last digits)",
        "store_root": f"sha256:{recorded_root(RESULTS)}",
    }


def benchmarks() -> tuple[dict[str, str], pd.DataFrame]:
    """The reproduce page's compute: glued sentences on the machine, workers and papermill's
    overhead, and the sweep benchmark's table (``benchmarks/sweeps.csv``)."""

    sweeps = load_benchmark("sweeps")
    meta = sweeps.iloc[0]
    one = load_benchmark("sweeps-1-worker").iloc[0]
    two = sweeps[sweeps["sweep"] == one["sweep"]].iloc[0]
    overhead = load_benchmark("papermill_overhead")
    pitch = load_benchmark("pitch_edit").set_index("edit")["seconds_per_clip"]
    pitch_meta = load_benchmark("pitch_edit").iloc[0]
    values = {
        "bench_total_h": f"{sweeps.loc[sweeps['sweep'] == 'total', 'projected_h'].iloc[0]:.1f} hours for the "
        f"{(sweeps['sweep'] != 'total').sum()} sweep files sampled here, of the {len(SWEEP_ORDER)} the book reads "
        "(the layout table in Training at the machine's pace prices them all)",
        "bench_machine": f"{meta['cpus']} cores ({meta['cpu']}), {meta['workers']} workers x "
        f"{meta['threads_per_run']} thread(s), each sweep measured when and at the commit the table gives",
        "bench_workers": f"{two['runs_per_hour']:.0f} runs/hour with {two['workers']} workers of "
        f"{two['threads_per_run']} thread against {one['runs_per_hour']:.0f} with {one['workers']} worker of "
        f"{one['threads_per_run']} threads ({one['sweep']}, the same sample)",
        "bench_overhead": f"{overhead['overhead_median_s'].iloc[0]:.1f} s (median of {len(overhead)} repeats; "
        f"{overhead['papermill_s'].median():.1f} s as a notebook against "
        f"{overhead['command_line_s'].median():.1f} s on the command line)",
        "bench_pitch_edit": f"{pitch.iloc[0]:.1f} s per {pitch_meta['clip_seconds']:g} s clip here (ours, "
        f"{pitch.iloc[1]:.3f} s; one thread, load average {pitch_meta['load_average']:g}; benchmarks/pitch_edit.csv)",
    }
    columns = {
        "sweep": "sweep",
        "planned": "planned",
        "distinct": "distinct runs",
        "sampled": "sampled",
        "sample_wall_s": "sample wall (s)",
        "runs_per_hour": "runs / hour",
        "projected_h": "projected (h)",
        "commit": "commit",
        "measured_at": "measured",
    }
    return values, sweeps[list(columns)].rename(columns=columns).set_index("sweep")


def speedup_reading(table: pd.DataFrame, adopt_at: float = 1.3) -> str:
    """What ``benchmarks/speedups.csv`` decides: the modes that keep eager's metrics exactly and
    are ``adopt_at`` or faster, or that none is; the fastest mode that changes the metrics is
    named too (it is a new computation path, which the paired check must pass first).

    >>> speedup_reading(pd.DataFrame({"mode": ["eager", "compile_cached", "channels_last_weights"],
    ...                               "speedup": [1.0, 0.88, 1.7], "metrics_match_eager": [True, False, False]}))
    'No mode reaches 1.3x with exactly the metrics of eager mode; the fastest mode, channels_last_weights (1.70x), changes them, so it is a computation path of its own that a sweep uses only once its paired check passes (below).'
    """
    others = table[table["mode"] != "eager"]
    adopted = others[(others["speedup"] >= adopt_at) & others["metrics_match_eager"]]
    if len(adopted):
        return f"Worth adopting: {', '.join(adopted['mode'])} ({adopt_at}x or more, metrics matching eager)."
    best = others.loc[others["speedup"].idxmax()]
    return (
        f"No mode reaches {adopt_at}x with exactly the metrics of eager mode; the fastest mode, {best['mode']} "
        f"({best['speedup']:.2f}x), changes them, so it is a computation path of its own that a sweep uses only "
        "once its paired check passes (below)."
    )


def speedups_table() -> pd.DataFrame:
    """``benchmarks/speedups.csv``: each mode's whole-run wall time, speed-up and metrics."""
    table = load_benchmark("speedups")
    return shown(
        table[["mode", "wall_s", "speedup", "metrics_match_eager", "accuracy", "load_average"]].set_index("mode")
    )


PARTS = {
    "step_ms_conv": "convolutions",
    "step_ms_other_ops": "other operators",
    "step_ms_optimizer": "optimiser",
    "step_ms_data": "data",
    "step_ms_overhead": "Python and dispatch",
}


def throughput_values() -> dict[str, str]:
    """The page's numbers (``benchmarks/throughput.csv``): for the sweeps' CNN on one thread (how a
    sweep worker runs), the span over corpora of the fraction of fp32 peak reached, the share of a
    step spent in convolutions and in other operators, the speed-up of bfloat16 autocast, and its
    paired check (``path_check`` on the bf16-check sweep, with the speed-up on EmoDB, its workload)."""
    table = load_benchmark("throughput")
    cnn = table[(table["backbone"] == "cnn") & (table["threads"] == 1)]
    fp32, bf16 = cnn[~cnn["bf16"].astype(bool)], cnn[cnn["bf16"].astype(bool)]
    speedup = bf16.set_index("corpus")["train_clips_per_s"] / fp32.set_index("corpus")["train_clips_per_s"]
    rest = fp32[["step_ms_optimizer", "step_ms_data", "step_ms_overhead"]].sum(axis=1) / fp32["step_ms_step"]
    check = load_profile("bf16-check")
    return {
        "tp_cnn_peak": _share(fp32["fraction_of_peak"]),
        "tp_cnn_conv_share": _share(fp32["step_ms_conv"] / fp32["step_ms_step"]),
        "tp_cnn_other_share": _share(fp32["step_ms_other_ops"] / fp32["step_ms_step"]),
        "tp_cnn_rest_share": f"{100 * rest.max():.0f} %",
        "tp_bf16_speedup": f"{speedup.min():.1f}–{speedup.max():.1f}×" if len(speedup.dropna()) else "not measured",
        "tp_path_margin": f"±{100 * PATH_MARGIN:g} point",
        "tp_path_speedup": f"{PATH_SPEEDUP:g}x",
        "tp_bf16_check": path_check(*check, speedup.get("emodb", float("nan"))),
        "tp_seed_noise": seed_noise(check[0]) if check[1] else "",
    }


def _share(values: pd.Series) -> str:
    return f"{100 * values.min():.0f}–{100 * values.max():.0f} %"


def throughput_table() -> pd.DataFrame:
    """One row per backbone, corpus, threads and precision (``benchmarks/throughput.csv``): clips
    per second, GFLOP/s against the peak, and where a step's milliseconds go."""
    table = load_benchmark("throughput")
    view = table.assign(precision=table["bf16"].map({True: "bf16", False: "fp32"}))
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
    out = view.set_index(["backbone", "corpus", "threads", "precision"])[list(columns)].rename(columns=columns)
    return shown(out.round({name: 2 if name == "of peak" else 0 for name in out.columns}))


AS_RUN, CHANNELS_LAST, GROUPED = "CNN, as sweeps run it", "CNN, channels-last weights", "grouped CNN"


def path_values(check_workload: tuple[str, int] = ("speech_commands_test", 64)) -> dict[str, str]:
    """The faster paths' numbers (``benchmarks/batched_runs.csv``, one thread): the span over
    corpora and batch sizes of the speed-up of channels-last weights, of the best number K of runs
    batched as one grouped model, and of that best batching over channels-last weights alone; and
    the fraction of fp32 peak before and after channels-last weights, and where a step's time
    goes after it: the convolutions' own rate (the counted FLOPs over their kernels' time) against
    the peak, and how much of everything else would have to go for a step twice as fast as the
    default layout's, if the convolutions kept their time; the whole-run speed-up
    (``benchmarks/speedups.csv``); and the channels-last paired check, with the step speed-up on
    its workload (``check_workload``: corpus and batch size)."""
    table = load_benchmark("batched_runs").set_index(["corpus", "batch_size"])
    before, after = (table[table["model"] == m] for m in (AS_RUN, CHANNELS_LAST))
    layout = after["speedup_per_copy"]
    grouped = table[table["model"] == GROUPED].reset_index()
    best = grouped.loc[grouped.groupby(["corpus", "batch_size"])["speedup_per_copy"].idxmax()]
    best = best.set_index(["corpus", "batch_size"])
    over = best["speedup_per_copy"] / layout
    check = load_profile("channels-last-check")
    calls = after[["ms_per_copy_optimizer", "ms_per_copy_data", "ms_per_copy_overhead"]].sum(axis=1)
    conv_rate = after["train_gflops"] * after["ms_per_copy_step"] / after["ms_per_copy_conv"] / after["peak_gflops"]
    conv_ms, rest_ms = after["ms_per_copy_conv"], after["ms_per_copy_step"] - after["ms_per_copy_conv"]
    cut_for_2x = 1 - (before["ms_per_copy_step"] / 2 - conv_ms) / rest_ms
    whole = load_benchmark("speedups").set_index("mode")["speedup"]
    return {
        "tp_cl_parts": f"convolutions {_share(after['ms_per_copy_conv'] / after['ms_per_copy_step'])}, the other "
        f"operators {_share(after['ms_per_copy_other_ops'] / after['ms_per_copy_step'])} and the per-call costs "
        f"(optimiser, data, Python) {_share(calls / after['ms_per_copy_step'])}",
        "tp_cl_conv_peak": _share(conv_rate),
        "tp_cl_cut_for_2x": _share(cut_for_2x),
        "tp_cl_run_speedup": f"{whole.get('channels_last_weights', float('nan')):.2f}×",
        "tp_cl_speedup": _span(layout),
        "tp_cl_peak": f"{_share(before['fraction_of_peak'])} of the fp32 peak as run to {_share(after['fraction_of_peak'])}",
        "tp_batched_best": f"{_span(best['speedup_per_copy'])} (at K = "
        f"{', '.join(str(k) for k in sorted(best['copies'].unique()))})",
        "tp_batched_over_cl": _span(over),
        "tp_cl_check": path_check(
            *check, layout.get(check_workload, float("nan")), "channels_last", ("channels-last", "default layout")
        ),
    }


def _span(values: pd.Series) -> str:
    return f"{values.min():.2f}–{values.max():.2f}×"


def batched_table() -> pd.DataFrame:
    """Per corpus and batch size: the sweep's CNN in clips per second, and each faster path's
    speed-up per run over it (channels-last weights; K runs as one grouped model)."""
    table = load_benchmark("batched_runs")
    names = table["model"].where(table["model"] != GROUPED, "grouped, K = " + table["copies"].astype(str))
    wide = table.assign(path=names).pivot_table(
        index=["corpus", "batch_size"], columns="path", values="speedup_per_copy", sort=False
    )
    clips = table[table["model"] == AS_RUN].set_index(["corpus", "batch_size"])["train_clips_per_s_per_copy"]
    wide.insert(0, "as run: clips/s", clips.round(0))
    return shown(wide.drop(columns=AS_RUN).round(2))


# The computation paths benchmarks/sweep_layouts.py times: its CSV's column prefix and the page's name.
LAYOUTS = {"default": "default", "channels_last": "channels-last", "channels_last_bf16": "channels-last + bf16"}


def price_layouts(plans: dict[str, list[dict]], prices: pd.DataFrame, workers: int = 2) -> pd.DataFrame:
    """Per sweep (``plans``: its full profile's runs' settings), the full profile's hours in each
    computation path that ``prices`` times (``LAYOUTS``: the default layout, channels-last weights,
    those under bf16 autocast), ``workers`` runs at a time, each path's speed-up over the default
    and the fraction of the fp32 peak its training epochs reach (weighted by epochs). ``prices``
    holds per workload (its columns named as ``RunConfig`` fields) a training epoch's seconds in
    each path, the rest of a run and the clips the timed epoch trained on
    (``benchmarks/sweep_layouts.csv``). A run costs its epochs plus the rest, its epochs scaled by
    its own training clips (a run's ``train_size``, where it is stored) over the timed run's.

    >>> prices = pd.DataFrame({"dataset": ["fsdd"], "default_epoch_s": [2.0], "channels_last_epoch_s": [1.0],
    ...                        "rest_s": [10.0], "train_size": [100], "default_of_peak": [0.2],
    ...                        "channels_last_of_peak": [0.4]})
    >>> prices["clip_seconds"] = float("nan")  # unset, as a CSV reads it
    >>> price_layouts({"s": [{"dataset": "fsdd", "epochs": 10}] * 2}, prices, workers=1).iloc[0].to_dict()
    {'default (h)': 0.0167, 'of peak, default': 0.2, 'channels-last (h)': 0.0111, 'of peak, channels-last': 0.4, 'speed-up, channels-last': 1.5}
    >>> half = {"dataset": "fsdd", "epochs": 10, "train_size": 50}  # a filtered run: half the clips
    >>> price_layouts({"s": [half] * 2}, prices, workers=1)["default (h)"].item()  # 2 x (10 x 1 s + 10 s)
    0.0111
    """
    keys = [c for c in prices.columns if c in RunConfig.__dataclass_fields__]
    layouts = {k: v for k, v in LAYOUTS.items() if f"{k}_epoch_s" in prices and prices[f"{k}_epoch_s"].notna().all()}
    defaults = RunConfig()
    rows = {}
    for sweep, runs in plans.items():
        planned = pd.DataFrame(
            [
                {k: r.get(k, getattr(defaults, k)) for k in keys}
                | {"epochs": r["epochs"], "clips": r.get("train_size")}
                for r in runs
            ]
        )
        priced = _comparable(planned, keys).merge(_comparable(prices, keys), on=keys, how="left")
        if priced["rest_s"].isna().any():
            missing = priced.loc[priced["rest_s"].isna(), keys].iloc[0].to_dict()
            raise ResultsError(f"{sweep}: no price for workload {missing}: run python benchmarks/sweep_layouts.py")
        timed_clips = priced["train_size"] if "train_size" in priced else math.nan
        share = (priced["clips"].astype(float) / timed_clips).fillna(1.0)  # unstored run: the timed run's clips
        weight = priced["epochs"] / priced["epochs"].sum()
        row, seconds = {}, {}
        for layout, name in layouts.items():
            seconds[name] = (priced["epochs"] * priced[f"{layout}_epoch_s"] * share + priced["rest_s"]).sum()
            row[f"{name} (h)"] = round(seconds[name] / workers / 3600, 4)
            row[f"of peak, {name}"] = round((weight * priced[f"{layout}_of_peak"]).sum(), 2)
        for name in list(layouts.values())[1:]:
            row[f"speed-up, {name}"] = round(seconds["default"] / seconds[name], 2)
        rows[sweep] = row
    return pd.DataFrame.from_dict(rows, orient="index")


def _comparable(table: pd.DataFrame, keys: list[str]) -> pd.DataFrame:
    """Key columns that compare equal whether read from a sweep file or a CSV: numbers (an unset
    field, None or an empty cell, as NaN, which a merge matches to NaN), else text."""
    out = table.copy()
    for key in keys:
        try:
            out[key] = out[key].astype(float)
        except (TypeError, ValueError):
            out[key] = out[key].astype(str)
    return out


def layout_hours() -> tuple[dict[str, str], pd.DataFrame]:
    """Every sweep file's full profile priced in each computation path (``price_layouts`` on
    ``benchmarks/sweep_layouts.csv``, two workers, each stored run at its own training clips),
    beside the hours its stored runs project: the page's numbers (all sweeps' hours, the span of the
    sweeps' speed-ups and fractions of peak, and the paired check of the fastest path, channels-last
    weights under bf16, with its epoch's speed-up on the check's workload) and its table (hours,
    speed-ups, fractions of peak)."""
    stored = {s: load_results(s) for s in SWEEP_ORDER}
    clips = {s: runs.drop_duplicates("run_id").set_index("run_id")["train_size"] for s, runs in stored.items()}
    plans = {s: [r.settings | {"train_size": clips[s].get(r.run_id)} for r in planned(s, "full")] for s in SWEEP_ORDER}
    # The memory layouts are the CNN's: a sweep of another backbone (the pretrained GE2E pilot) has no
    # path to price here, and its stored runs' own hours are in the table above.
    plans = {s: runs for s, runs in plans.items() if all(r["backbone"] == "cnn" for r in runs)}
    prices = load_benchmark("sweep_layouts")
    priced = price_layouts(plans, prices)
    names = [name for name in LAYOUTS.values() if f"{name} (h)" in priced]
    hours = priced[[f"{name} (h)" for name in names]].sum()
    values = {
        "tp_hours": " and ".join(
            [f"{hours['default (h)']:.1f} h in the default layout"]
            + [
                f"{hours[f'{name} (h)']:.1f} h with {name} ({hours['default (h)'] / hours[f'{name} (h)']:.2f}×; "
                f"per sweep {_span(priced[f'speed-up, {name}'])})"
                for name in names[1:]
            ]
        ),
        "tp_hours_peak": " → ".join(_share(priced[f"of peak, {name}"]) for name in names)
        + f" of the fp32 peak ({', '.join(names)})",
    }
    timed = prices.set_index(["dataset", "batch_size", "num_mel_bins"])
    spread = timed[[f"{layout}_epoch_spread" for layout in LAYOUTS if f"{layout}_epoch_spread" in timed]]
    values["tp_hours_spread"] = (
        f"{timed['repeats'].min():.0f} times each; a path's repeats differ by {_share(spread.stack())} of their median"
        if "repeats" in timed and spread.notna().all().all() and not spread.empty
        else "not all workloads are timed more than once yet"
    )
    check = timed.loc[("speech_commands_test", 64, 40)]  # the paired check's workload
    speedup = check["default_epoch_s"] / check.get("channels_last_bf16_epoch_s", math.nan)
    values["tp_bf16_cl_check"] = path_check(
        *load_profile("bf16-channels-last-check"), speedup, "bf16", ("channels-last bf16", "default layout")
    )
    short = {name: name.replace("channels-last + ", "+ ") for name in names}  # narrow columns
    table = pd.DataFrame({("hours", "stored"): {s: projected_hours(s, runs) for s, runs in stored.items()}})
    for name in names:
        table[("hours", short[name])] = priced[f"{name} (h)"]
    for name in names[1:]:
        table[("speed-up", short[name])] = priced[f"speed-up, {name}"]
    table[("of fp32 peak", "in turn")] = pd.Series(
        {s: " → ".join(f"{100 * row[f'of peak, {name}']:.0f}" for name in names) + " %" for s, row in priced.iterrows()}
    )
    table.columns = pd.MultiIndex.from_tuples(table.columns)
    table = table.round({("hours", c): 1 for c in ["stored", *short.values()]})
    return values, table.astype(object).where(table.notna(), "—")  # a backbone without memory layouts


def path_check(runs: pd.DataFrame, complete: bool, speedup: float, flag: str = "bf16", arms=("bf16", "float32")) -> str:
    """Whether a faster computation path (runs whose ``flag`` column is set, named ``arms[0]``;
    the others ``arms[1]``) passes the check it must pass before a sweep uses it: the fold-paired
    difference of test accuracy (the same configurations; seeds, then methods, averaged within a
    fold) with its 95 % interval inside ±``PATH_MARGIN``, and a ``speedup`` (the benchmark's, on
    the check's workload) of at least ``PATH_SPEEDUP``.

    >>> def runs(e):  # bf16 moves every fold's accuracy by e[fold]
    ...     return pd.DataFrame([{"method": m, "fold": f, "seed": 0, "bf16": b, "accuracy": 0.6 + b * x}
    ...                          for m in ("ce", "prototypes") for f, x in zip("abcdef", e) for b in (False, True)])
    >>> path_check(runs([0.001, 0, 0.001, 0, -0.001, 0.001]), True, 1.6).split("The check ")[1]
    'passes.'
    >>> path_check(runs([0.1, 0, 0.1, 0, 0.1, 0.1]), True, 1.3).split("The check ")[1]
    'fails: the interval is not inside ±1 point and the step is 1.30x, under 1.5x.'
    """
    fast_name, base_name = arms
    if not complete:
        return (
            f"The paired check of {fast_name} against {base_name} is still running; until it passes no sweep uses it."
        )
    paired = runs.assign(method=runs[flag].map(lambda b: fast_name if is_set(b) else base_name))
    d = paired_by_fold(paired, "accuracy", fast_name, base_name)
    inside = -PATH_MARGIN < d["low"] and d["high"] < PATH_MARGIN
    fast = speedup >= PATH_SPEEDUP
    slow = (
        f"the step is {speedup:.2f}x, under {PATH_SPEEDUP:g}x" if not math.isnan(speedup) else "its speed is not timed"
    )
    outcome = (
        "passes"
        if inside and fast
        else "fails: "
        + " and ".join(
            ([] if inside else [f"the interval is not inside ±{100 * PATH_MARGIN:g} point"]) + ([] if fast else [slow])
        )
    )
    return f"{fast_name} − {base_name}: {describe_difference(d, base_name)}. The check {outcome}."


def seed_noise(check: pd.DataFrame, sweep: str = "main-emodb") -> str:
    """The scale of ``path_check``'s margin: float32 seed 1 − seed 0 of ``sweep``'s runs of the
    same methods and folds as ``check``, paired by fold (methods averaged within a fold), in
    words: what changing nothing but the seed does to the same comparison."""
    runs = load_results(sweep, "full")
    runs = runs[runs["method"].isin(set(check["method"])) & runs["fold"].isin(set(check["fold"])) & (runs["seed"] < 2)]
    arms = runs.assign(method=runs["seed"].map(lambda s: f"seed {s}"), seed=0)
    d = paired_by_fold(arms, "accuracy", "seed 1", "seed 0")
    return f"For scale, changing only the seed of the same float32 runs: {describe_difference(d, 'seed 0')}."
