"""What the book's pages glue into their prose, computed from the stored tables.

Each function takes the tables a page has read and returns ``{glue name: text}``; the page hands
that to ``glue_all``. The logic lives here, where it is tested, so that a page holds prose and a
few calls. Nothing here imports torch.
"""

from __future__ import annotations

import pandas as pd

from .plan import SWEEP_ORDER, load_sweep
from .stats import describe_difference, paired_by_fold

# Embedding geometry (derive.geometry), by column, as the geometry and ablation pages label it.
COLLAPSE = {
    "collapse_nc1": "NC1",
    "collapse_equinorm_cv": "equinorm CV",
    "collapse_cosine_spread": "cosine spread",
    "collapse_cosine_max": "max cosine",
    "collapse_mean_norm": "mean ‖z‖",
}
TO_PROTOTYPES = {
    "collapse_cosine_to_prototype": "cosine to own prototype",
    "collapse_prototype_span_energy": "energy in prototype span",
    "collapse_nearest_prototype_accuracy": "nearest-prototype accuracy",
    "head_accuracy": "linear-head accuracy",
}


def glue_all(values: dict) -> None:
    """Glue every value under its name, for the page's prose (``{glue:text}`name```)."""
    from myst_nb import glue

    for name, value in values.items():
        glue(name, value, display=False)


def geometry(runs: pd.DataFrame, shown: pd.DataFrame) -> dict[str, str]:
    """The geometry page's numbers: each method's mean of every geometry column (two decimals),
    the span energy of a random direction, NC1 of the prototypes against CE and the control,
    and the fold and seed of the ``shown`` runs.

    >>> runs = pd.DataFrame({"method": ["ce", "prototypes"] * 2, "fold": ["a", "a", "b", "b"], "seed": 0,
    ...                      "collapse_nc1": [1.0, 0.5, 0.8, 0.4], "collapse_prototype_span_chance": 0.3})
    >>> values = geometry(runs, runs.head(2))
    >>> values["geo_ce_collapse_nc1"], values["geo_span_chance"], values["geometry_fold"]
    ('0.90', '0.30', 'a')
    """
    means = runs.groupby("method").mean(numeric_only=True)
    values = {
        "geometry_fold": str(shown["fold"].iloc[0]),
        "geometry_seed": str(shown["seed"].iloc[0]),
        "geo_span_chance": f"{means['collapse_prototype_span_chance'].dropna().iloc[0]:.2f}",
    }
    for method in means.index:
        for column in [*COLLAPSE, *TO_PROTOTYPES]:
            if column in means:
                values[f"geo_{method}_{column}"] = f"{means.loc[method, column]:.2f}"
    for against, name in (("ce", "cross-entropy"), ("zero_prototypes", "the zero-prototype control")):
        if {"prototypes", against} <= set(runs["method"]):
            d = paired_by_fold(runs, "collapse_nc1", "prototypes", against)
            values[f"geo_nc1_prototypes_vs_{against}"] = describe_difference(
                d, name, scale=1, unit="", above="looser classes than", below="tighter classes than"
            )
    return values


def _claim1_main(name: str, df: pd.DataFrame, sweep: str) -> dict[str, str]:
    from .report import planned_runs
    from .verdicts import claim1_verdict

    verdict = claim1_verdict(df, planned_runs(sweep, "full"))
    reason = f"{verdict['rule']}; {verdict['reason']}" if verdict["rule"] else verdict["reason"]
    return {f"{name}_claim1_main": verdict["verdict"], f"{name}_claim1_main_reason": reason}


def _against(name: str, df: pd.DataFrame) -> dict[str, str]:
    """Every method against CE, and every prototype method against the zero-prototype control."""
    from .report import METHOD_NAMES

    values, present = {}, set(df["method"])
    for method in METHOD_NAMES:
        if method != "ce":
            values[f"{name}_{method}_vs_ce"] = (
                describe_difference(paired_by_fold(df, "accuracy", method, "ce"))
                if method in present
                else "not run yet"
            )
        if method.startswith("prototypes"):
            values[f"{name}_{method}_vs_control"] = (
                describe_difference(
                    paired_by_fold(df, "accuracy", method, "zero_prototypes"), "the zero-prototype control"
                )
                if {method, "zero_prototypes"} <= present
                else "not run yet"
            )
    return values


def _speed(name: str, curves: pd.DataFrame, threshold: float) -> dict[str, str]:
    from .stats import epochs_to_reach

    reached = epochs_to_reach(curves, threshold)
    values = {f"{name}_never_reached": str(int(reached["epochs"].isna().sum()))}
    for baseline, label in (("learned_prototypes", "learned prototypes"), ("ce", "cross-entropy")):
        d = paired_by_fold(reached, "epochs", "prototypes", baseline)
        values[f"{name}_speed_prototypes_vs_{baseline}"] = describe_difference(
            d, label, scale=1, unit=" epochs", above="slower than", below="faster than"
        )
    return values


def profile_status(df: pd.DataFrame, complete: bool) -> str:
    """'' for a complete full profile, else the sentence saying what is shown instead."""
    if complete:
        return ""
    return (
        f"Not a finding yet: the full profile is not complete, so this shows the {df['profile'].iloc[0]} "
        f"profile ({len(df)} runs, {df['fold'].nunique()} fold(s)); a single fold has no interval."
    )


def pending_settings(status: pd.DataFrame) -> str:
    """The factor-pull settings not yet complete (``report.complete_settings``' status rows), e.g.
    'factor prototypes at λ = 10, 128 mel bins, 150 epochs (3 of 20 runs)'."""
    from .report_factors import method_label

    return ", ".join(
        (f"factor prototypes at λ = {r.lam:g}, " if r.loss == "factor_prototypes" else f"{method_label(r.loss)} at ")
        + f"{r.num_mel_bins} mel bins, {r.epochs} epochs ({r.stored} of {r.planned} runs)"
        for r in status.itertuples()
    )


def settings_status(status: pd.DataFrame) -> str:
    """What a sweep whose settings finish one by one has so far (``report.complete_settings``'
    status), e.g. '3 of 7 settings complete (full profile); still running: ...'."""
    done = int(status["complete"].sum())
    pending = status[~status["complete"]]
    text = f"{done} of {len(status)} settings complete (full profile)" + (", shown below" if done else "")
    return text + (f"; still running: {pending_settings(pending)}." if len(pending) else ".")


def results(
    main: dict[str, tuple[str, pd.DataFrame, pd.DataFrame]],
    curves: dict[str, pd.DataFrame],
    pull: tuple[pd.DataFrame, pd.DataFrame],
    tuned: tuple[pd.DataFrame, bool],
    threshold: float = 0.95,
) -> dict[str, str]:
    """The results page's numbers. ``main``: dataset name -> (sweep, its table, the complete
    (fold, seed) cells of it); ``curves``: name -> ``report.learning_curves``; ``pull``:
    ``report.complete_settings`` of the pull-strength sweep (by λ and epochs); ``tuned``:
    ``report.load_profile`` of the tuned-baselines sweep."""
    from .report import cells_description, describe_protocol, pull_strength, tuned_choice, tuned_family
    from .stats import seed_spread
    from .verdicts import claim1_tuned_verdict, placement_reading

    values = {"speed_threshold": f"{100 * threshold:.0f} %"}
    for name, (sweep, df, cells) in main.items():
        values |= _claim1_main(name, df, sweep) | _against(name, cells) | _speed(name, curves[name], threshold)
        values[f"{name}_protocol"] = describe_protocol(df, sweep)
        values[f"{name}_cells"] = cells_description(cells)
        values[f"{name}_seed_spread"] = seed_spread(cells)
        for method in ("ce", "zero_prototypes", "prototypes"):
            values[f"{name}_ece_{method}"] = f"{100 * cells.loc[cells['method'] == method, 'ece'].mean():.1f}"
        sizes = cells["test_size"]
        values[f"{name}_test_sizes"] = f"{sizes.min()} to {sizes.max()}"
        values[f"{name}_clip_points"] = f"{100 / sizes.max():.1f} to {100 / sizes.min():.1f}"
    (pull_runs, pull_settings), (tuned_runs, tuned_complete) = pull, tuned
    values["pull_reading"] = placement_reading(pull_strength(pull_runs), bool(pull_settings["complete"].any()))
    pending = pull_settings[~pull_settings["complete"]]
    values["pull_status"] = (
        "Still running: "
        + ", ".join(
            f"λ = {r.lam:g} at {r.epochs} epochs ({r.stored} of {r.planned} runs)" for r in pending.itertuples()
        )
        + "; the table shows the λ values whose runs are all stored."
        if len(pending)
        else ""
    )
    chosen = tuned_choice(tuned_runs.assign(family=tuned_runs.apply(tuned_family, axis=1)))
    values["calibration_reading"] = calibration_reading(chosen, tuned_runs["seed"].nunique())
    values["tuned_under_fitted"] = tuned_under_fitted(chosen) if tuned_complete else ""
    verdict = claim1_tuned_verdict(chosen, tuned_complete)
    values["tuned_status"] = (
        f"Claim 1 on this evidence: {verdict['verdict']} ({verdict['reason']})."
        if tuned_complete
        else profile_status(tuned_runs, tuned_complete)
    )
    return values


def accuracy_table(cells: dict[str, pd.DataFrame]) -> pd.DataFrame:
    """``report.summary_table`` of each dataset's complete cells, stacked by dataset."""
    from .report import summary_table

    table = pd.concat({name: summary_table(df) for name, df in cells.items()}, names=["dataset", None])
    return table.reset_index(level=1, drop=True).set_index("method", append=True)


def pull_table(table: pd.DataFrame) -> pd.DataFrame:
    """``report.pull_strength`` as the results page shows it: each arm's accuracy, the difference
    in points with its interval, Holm's p, the fit and each arm's lowest training accuracy, by
    lambda."""
    shown = table.assign(
        **{
            "prototypes − control, points": [
                f"{100 * r.difference:+.1f} ({100 * r.low:+.1f} to {100 * r.high:+.1f})" for r in table.itertuples()
            ],
            "prototypes accuracy %": (100 * table["prototypes_accuracy"]).round(1),
            "control accuracy %": (100 * table["control_accuracy"]).round(1),
        }
    )
    columns = [
        "lam",
        "epochs",
        "prototypes accuracy %",
        "control accuracy %",
        "prototypes − control, points",
        "p_holm",
        "nearest_prototype_accuracy",
        "cosine_to_own_prototype",
        "prototypes_min_train_accuracy",
        "control_min_train_accuracy",
    ]
    return shown[columns].round(3).set_index("lam")


# Geometry shown beside each setting of the prototype ablation.
ABLATION_GEOMETRY = {
    "collapse_nc1": "NC1",
    "collapse_mean_norm": "mean ‖z‖",
    "collapse_cosine_to_prototype": "cosine to own prototype",
    "collapse_nearest_prototype_accuracy": "nearest-prototype accuracy",
    "head_accuracy": "linear head accuracy",
}


def prototype_ablation(df: pd.DataFrame) -> dict:
    """The prototype-ablation page from its table (with geometry): ``values`` to glue and the
    three comparisons, each against orthogonal prototypes at s = 1, k = 32 (``kind``, ``scale``:
    ``stats.against_reference`` with geometry beside it) or against CE at each size (``size``,
    with ``size_runs`` for the figure)."""
    from .report import beyond_noise, describe_protocol, under_fitted, with_geometry
    from .stats import against_reference

    at_32 = (df["embed_dim"] == 32) & (df["scale"] == 1.0)
    kind = df[at_32 & df["loss"].isin(["prototypes", "learned_prototypes"])].copy()
    kind["prototypes"] = kind["prototypes"].where(kind["loss"] == "prototypes", "learned")
    kind_table = against_reference(kind, "prototypes", "orthogonal")
    orthogonal = (df["loss"] == "prototypes") & (df["prototypes"] == "orthogonal")
    scale = df[orthogonal & (df["embed_dim"] == 32)].sort_values("scale")
    scale_table = against_reference(scale, "scale", 1.0)
    size = df[(df["scale"] == 1.0) & (df["prototypes"] == "orthogonal") & df["loss"].isin(["prototypes", "ce"])]
    rows = []
    for k, runs in size.groupby("embed_dim"):
        means = runs.groupby("loss")["accuracy"].mean()
        rows.append(
            {
                "embedding size k": k,
                "cross-entropy %": f"{100 * means.get('ce', float('nan')):.1f}",
                "prototypes %": f"{100 * means.get('prototypes', float('nan')):.1f}",
                "prototypes − CE": describe_difference(paired_by_fold(runs, "accuracy", "prototypes", "ce", by="loss")),
            }
        )
    size_table = pd.DataFrame(rows).set_index("embedding size k")
    values = {
        "ablation_protocol": describe_protocol(df, "ablation-prototypes"),
        "construction_beyond_noise": beyond_noise(kind_table, "prototypes"),
        "construction_under_fitted": under_fitted(kind_table, "prototypes"),
        "scale_beyond_noise": beyond_noise(scale_table, "scale"),
        "scale_under_fitted": under_fitted(scale_table, "scale"),
    }
    for k in (4, 8, 64):  # the sizes the page's text names; a size not stored yet says so
        values[f"size_{k}"] = size_table["prototypes − CE"].get(k, "not run yet")
    return {
        "values": values,
        "kind": with_geometry(kind_table, kind, "prototypes", ABLATION_GEOMETRY),
        "scale": with_geometry(scale_table, scale, "scale", ABLATION_GEOMETRY),
        "size": size_table,
        "size_runs": size,
    }


def projected_hours(sweep: str, df: pd.DataFrame, workers: int = 2) -> float:
    """A sweep file's full profile in hours on ``workers`` parallel runs, from its stored runs'
    own time per epoch (``df``; the quick profile's shorter runs where the full one is not stored)."""
    from .report import CONFIGS

    per_epoch = (df["wall_time_s"] / df["epochs"]).mean()
    return sum(r.settings["epochs"] for r in load_sweep(CONFIGS / f"{sweep}.yaml", "full")) * per_epoch / workers / 3600


def rerun(*sweeps: str):
    """The 'Rerun this page' section: per sweep file, the command that completes its full profile,
    the data it reads and the projected time on 2 cores; then the book command."""
    from IPython.display import Markdown

    from .report import CONFIGS, load_results

    lines, datasets = [], set()
    for sweep in sweeps:
        runs = load_sweep(CONFIGS / f"{sweep}.yaml", "full")
        reads = sorted({r.settings["dataset"] for r in runs})
        datasets |= set(reads)
        lines.append(
            f"- `python -m predefined_prototypes sweep configs/{sweep}.yaml --profile full --workers 2`: "
            f"{len(runs)} runs on {', '.join(f'`$PP_DATA_DIR/{d}`' for d in reads)}, about "
            f"{projected_hours(sweep, load_results(sweep)):.1f} h on 2 cores."
        )
    lines.append("- `make book`: the pages whose tables changed run again, the others come from the cache.")
    fetch = "; ".join(
        f"`python -m predefined_prototypes data download {d} --to $PP_DATA_DIR/{d}`" for d in sorted(datasets)
    )
    return Markdown(
        "Each sweep command completes its sweep file's full profile: runs already stored are skipped, and the "
        "sweep derives the tables this page reads once its runs are stored.\n\n"
        + "\n".join(lines)
        + f"\n\nTimes are projected from the stored runs' own time per epoch. A missing dataset: {fetch}."
    )


def stored_runs() -> pd.DataFrame:
    """Per sweep file: the profile shown, its runs, folds, seeds and epochs, the mean run time,
    and the devices, commits and torch versions that produced them."""
    from .report import load_results

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


def benchmarks() -> tuple[dict[str, str], pd.DataFrame]:
    """The reproduce page's compute: glued sentences on the machine, workers and papermill's
    overhead, and the sweep benchmark's table (``benchmarks/sweeps.csv``)."""
    from .report import load_benchmark

    sweeps = load_benchmark("sweeps")
    meta = sweeps.iloc[0]
    one = load_benchmark("sweeps-1-worker").iloc[0]
    two = sweeps[sweeps["sweep"] == one["sweep"]].iloc[0]
    overhead = load_benchmark("papermill_overhead")
    values = {
        "bench_total_h": f"{sweeps.loc[sweeps['sweep'] == 'total', 'projected_h'].iloc[0]:.1f} hours",
        "bench_machine": f"{meta['cpus']} cores ({meta['cpu']}), {meta['workers']} workers x "
        f"{meta['threads_per_run']} thread(s), each sweep measured when and at the commit the table gives",
        "bench_workers": f"{two['runs_per_hour']:.0f} runs/hour with {two['workers']} workers of "
        f"{two['threads_per_run']} thread against {one['runs_per_hour']:.0f} with {one['workers']} worker of "
        f"{one['threads_per_run']} threads ({one['sweep']}, the same sample)",
        "bench_overhead": f"{overhead['overhead_median_s'].iloc[0]:.1f} s (median of {len(overhead)} repeats; "
        f"{overhead['papermill_s'].median():.1f} s as a notebook against "
        f"{overhead['command_line_s'].median():.1f} s on the command line)",
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


def novel_classes(raw: pd.DataFrame, cells: pd.DataFrame) -> dict[str, str]:
    """The novel-classes page's numbers: each prototype method against CE, and the predefined
    prototypes against learned ones and against the control, at every number of shots and on
    the classes seen in training, paired over (pair, speaker) cells."""
    from .report import FEW_SHOT_COLUMNS, describe_protocol, planned_runs
    from .verdicts import novel_answer

    values = {
        "novel_protocol": describe_protocol(raw, "novel-classes"),
        "novel_cells": f"{cells['fold'].nunique()} (pair, speaker) cells",
        "novel_answer": novel_answer(cells, planned_runs("novel-classes", "full")),
    }

    def against(column, method, baseline, name="cross-entropy"):
        return describe_difference(paired_by_fold(cells, column, method, baseline), name, fold="cell")

    for method in ("prototypes", "learned_prototypes", "zero_prototypes"):
        values[f"novel_{method}_base"] = against("accuracy", method, "ce")
        for k, column in FEW_SHOT_COLUMNS.items():
            values[f"novel_{method}_{k}"] = against(column, method, "ce")
    for k, column in FEW_SHOT_COLUMNS.items():
        values[f"novel_fixed_vs_learned_{k}"] = against(
            column, "prototypes", "learned_prototypes", "learned prototypes"
        )
        values[f"novel_fixed_vs_zero_{k}"] = against(
            column, "prototypes", "zero_prototypes", "the zero-prototype control"
        )
    return values


def intro(verdicts: dict) -> dict:
    """The intro's verdict table cells (bold outcome, with the deciding difference where there is
    one) as Markdown, and the evidence Claim 1 on FSDD rests on."""
    from IPython.display import Markdown

    values = {}
    for key in ("fsdd_claim1", "emodb_claim1"):
        v = verdicts[key]
        values[key] = Markdown(f"**{v['verdict']}**" + (f" ({v['short']} points)" if v["short"] else ""))
    for key in ("fsdd_speed", "emodb_speed"):
        values[key] = Markdown(f"**{verdicts[key]['verdict']}**")
    claim2 = verdicts["emodb_claim2"]
    tests = claim2["tests"]
    met = ", ".join(f"{r.factor} {r.criterion}" for r in tests.itertuples() if r.met) or "none"
    values["emodb_claim2"] = Markdown(f"**{claim2['verdict']}** (criteria met: {met}; of {len(tests)})")
    values["fsdd_claim1_evidence"] = verdicts["fsdd_claim1"]["evidence"]
    values["fsdd_placement"] = verdicts["fsdd_claim1"]["placement"]
    values["emodb_claim2_evidence"] = claim2["evidence"]
    values["emodb_claim2_fit"] = claim2.get("fit", "")
    return values


def criteria_marks(tests: pd.DataFrame) -> pd.DataFrame:
    """Claim 2's tests (``verdicts.claim2_verdict``'s ``tests``) as a factor x criterion table:
    each cell a mark (✓ met, ✗ not met) with the difference and its Holm-level interval, or "not
    tested" where the criterion has no test for that factor.

    >>> tests = pd.DataFrame({"factor": ["loudness", "pitch spread"], "criterion": ["moved", "carried"],
    ...                       "met": [True, False], "difference": ["+0.4 levels (+0.1 to +0.7)", "+1.0 points (-2 to +4)"]})
    >>> criteria_marks(tests).loc["pitch spread", "moved"]
    'not tested'
    """
    cells = tests.assign(cell=[f"{'✓' if r.met else '✗'} {r.difference}" for r in tests.itertuples()])
    table = cells.pivot(index="factor", columns="criterion", values="cell")
    order = [c for c in ("carried", "confined", "moved") if c in table.columns]
    return table[order].reindex(list(dict.fromkeys(tests["factor"]))).fillna("not tested").rename_axis(None, axis=1)


def case_study(evidence: dict, verdict: dict) -> dict[str, str]:
    """The case study's numbers, from ``verdicts.claim2_evidence``: the runs' setup and protocol,
    the verdict (and, where it rests on the factor-pull sweep, the paper-faithful factor
    ablation's beside it), emotion accuracy per method (fold mean ± std), the test fold sizes and
    the utterances the factor filter keeps."""
    from .report_factors import LABELS, fold_summary
    from .schema import FACTOR_NAMES, column
    from .verdicts import claim2_evidence_paper_faithful

    case = evidence["runs"]
    factor_runs = case[case["method"] == "factor_prototypes"]
    values = {
        "case_setup": evidence["setup"],
        "case_protocol": (
            f"{evidence['sweep']} sweep, {case['profile'].iloc[0]} profile: {case['fold'].nunique()} test speakers x "
            f"{case['seed'].nunique()} seeds; {len(factor_runs)} factor-prototype runs and "
            f"{len(case) - len(factor_runs)} reference runs"
        ),
        "claim2_verdict": verdict["verdict"],
        "claim2_paper_faithful": claim2_evidence_paper_faithful(evidence),
        "case_test_sizes": f"{case['test_size'].min()} to {case['test_size'].max()}",
        "case_kept": f"{(case['train_size'] + case['test_size']).min()} of 339",
    }
    fits = {LABELS[f]: column("fit_level_match", factor=f) for f in FACTOR_NAMES}
    values["case_block_fit"] = "These runs predate the stored block fit; the factor-pull sweep's runs store it."
    if all(c in factor_runs for c in fits.values()):
        fit = {label: factor_runs[c].mean() for label, c in fits.items()}
        values["case_block_fit"] = (
            "On their training clips, each block's nearest level code is the assigned level "
            + ", ".join(f"{label} {100 * value:.1f} %" for label, value in fit.items())
            + " of the time (block fit, mean over runs; a block that ignored its factor would score about 1 / 6): "
            + (
                "the pull acts, so the criteria below test blocks that are fit."
                if min(fit.values()) >= 0.9
                else "the blocks are not fit, so the criteria below test a pull that barely acts."
            )
        )
        held_out = {label: f"held_out_{f}_level_match" for f, label in LABELS.items() if label in fits}
        if all(c in factor_runs for c in held_out.values()):
            match = {label: factor_runs[c].mean() for label, c in held_out.items()}
            values["case_block_fit"] += (
                " On the test speaker's clips the same match is "
                + ", ".join(f"{label} {100 * value:.1f} %" for label, value in match.items())
                + (
                    ": the fit carries over to a voice the run never heard."
                    if min(match.values()) >= 0.9
                    else ": what the pull fits on the training voices carries over to a new voice only in part."
                )
            )
    values["case_input_reading"] = input_reading(case)
    for method in ("factor_prototypes", "ce", "prototypes"):
        accuracy = fold_summary(case[case["method"] == method], "accuracy")
        values[f"case_accuracy_{method}"] = "not complete yet" if accuracy == "—" else f"{accuracy} %"
    return values


def input_reading(case: pd.DataFrame) -> str:
    """What the input carries, in words: the input probe per factor (fold mean ± std) and each
    own block against it (``report_factors.block_against_input``, Holm over the factors)."""
    from .report_factors import LABELS, block_against_input, fold_summary
    from .stats import describe_difference

    rows = block_against_input(case)
    if not rows:
        return "The input probe has not been derived for these runs (python -m predefined_prototypes store derive)."
    factor_runs = case[case["method"] == "factor_prototypes"]
    read = ", ".join(f"{LABELS[r['factor']]} {fold_summary(factor_runs, 'input_probe_' + r['factor'])} %" for r in rows)
    against = "; ".join(
        f"{LABELS[r['factor']]} "
        + describe_difference(r, against="the input probe", above="holds more than", below="holds less than")
        for r in rows
    )
    return (
        f"The input probe reads {read}. Own block minus input probe, paired by fold and corrected together "
        f"over the {len(rows)} factors: {against}."
    )


def untrained_settings(settings: pd.DataFrame) -> str:
    """Which factor-pull settings (``verdicts.claim2_by_setting``) had a run end below
    ``report.TRAINED`` training accuracy, in words; those are shown but no verdict rests on them.

    >>> rows = pd.DataFrame({"lam": [1.0, 30.0], "num_mel_bins": [40, 128], "epochs": [60, 150],
    ...                      "lowest_train_accuracy": [1.0, 0.925], "trained": [True, False]})
    >>> untrained_settings(rows)
    'A run ended below 97 % training accuracy at λ = 30, 128 mel bins, 150 epochs (lowest 92.5 %): shown, but no verdict rests on it.'
    >>> untrained_settings(rows.iloc[:1])
    'Every run of every complete setting reached 97 % training accuracy.'
    >>> untrained_settings(rows.iloc[:0])
    'No setting is complete yet.'
    """
    from .report import TRAINED
    from .report_factors import setting_name

    if settings.empty:
        return "No setting is complete yet."
    short = settings[~settings["trained"].astype(bool)]
    if short.empty:
        return f"Every run of every complete setting reached {100 * TRAINED:g} % training accuracy."
    names = "; ".join(
        f"{setting_name(r)} (lowest {100 * r['lowest_train_accuracy']:.1f} %)" for r in short.to_dict("records")
    )
    return f"A run ended below {100 * TRAINED:g} % training accuracy at {names}: shown, but no verdict rests on {'it' if len(short) == 1 else 'them'}."


def pull_cost(pull: pd.DataFrame, settings: pd.DataFrame) -> str:
    """What the verdict's setting costs in emotion accuracy, in words: the strongest trained
    factor-pull setting (``verdicts.claim2_strongest`` over ``claim2_by_setting``) against the
    paper-faithful one (40 mel bins, lambda 1) and against the next weaker lambda at the same mel
    bins and epochs (which separates the pull from the training length), paired by fold and
    corrected together; until the strongest and another setting are complete, says so."""
    from .report_factors import PULL_SETTING, at_setting, setting_name, with_methods
    from .stats import compare_together
    from .verdicts import claim2_strongest

    keys = PULL_SETTING[1:]
    chosen = claim2_strongest(settings)
    strong, faithful = chosen["strongest"], chosen["paper_faithful"]
    waiting = "The accuracy cost of the pull is read once a trained setting and another are complete."
    if not strong:
        return waiting
    same_length = settings[
        (settings["num_mel_bins"] == strong["num_mel_bins"])
        & (settings["epochs"] == strong["epochs"])
        & (settings["lam"] < strong["lam"])
    ].sort_values("lam")
    others = {}
    if faithful and any(faithful[k] != strong[k] for k in keys):
        others["the paper-faithful setting"] = faithful
    weaker = same_length.iloc[-1].to_dict() if len(same_length) else None
    if weaker and not (faithful and all(weaker[k] == faithful[k] for k in keys)):  # not the same comparison twice
        others[f"λ = {weaker['lam']:g} at the same mel bins and epochs"] = weaker
    if not others:
        return waiting

    runs = with_methods(pull)
    runs = runs[runs["method"] == "factor_prototypes"].assign(setting="")
    for setting in [strong, *others.values()]:
        runs.loc[at_setting(runs, setting), "setting"] = setting_name(setting)
    pairs = [(setting_name(strong), setting_name(other)) for other in others.values()]
    rows = compare_together(runs, pairs, by="setting")
    readings = "; ".join(
        f"against {label}, " + describe_difference(row, against="it", above="higher than", below="lower than")
        for label, row in zip(others, rows)
    )
    together = f" and corrected together over the {len(rows)} comparisons" if len(rows) > 1 else ""
    return f"Emotion accuracy at the verdict's setting ({setting_name(strong)}), paired by fold{together}: {readings}."


def contrast_shares(mean) -> dict[str, str]:
    """The share of the predicted emotion's margin the factor blocks give together, and the
    residual block's, averaged over emotions, from ``case_study.contrast_by_emotion``'s mean
    (rows: the factor blocks, the residual, the bias; columns: predicted emotions)."""
    import numpy as np

    from .schema import FACTOR_NAMES

    margin = np.nansum(mean, axis=0)  # per predicted emotion
    factors = np.nansum(mean[: len(FACTOR_NAMES)], axis=0)
    return {
        "factor_blocks_share": f"{100 * np.nanmean(factors / margin):.0f} %",
        "residual_share": f"{100 * np.nanmean(mean[len(FACTOR_NAMES)] / margin):.0f} %",
    }


def speedup_reading(table: pd.DataFrame, adopt_at: float = 1.3) -> str:
    """What ``benchmarks/speedups.csv`` decides: the modes worth adopting (``adopt_at`` or faster
    with metrics matching eager), or that none is.

    >>> speedup_reading(pd.DataFrame({"mode": ["eager", "compile_cached"], "speedup": [1.0, 0.88],
    ...                               "metrics_match_eager": [True, False]}))
    'No mode reaches 1.3x with the metrics of eager mode (best: compile_cached, 0.88x): runs stay eager, as measured.'
    """
    others = table[table["mode"] != "eager"]
    adopted = others[(others["speedup"] >= adopt_at) & others["metrics_match_eager"]]
    if len(adopted):
        return f"Worth adopting: {', '.join(adopted['mode'])} ({adopt_at}x or more, metrics matching eager)."
    best = others.loc[others["speedup"].idxmax()]
    return (
        f"No mode reaches {adopt_at}x with the metrics of eager mode (best: {best['mode']}, {best['speedup']:.2f}x): "
        "runs stay eager, as measured."
    )


def calibration_reading(chosen: pd.DataFrame, seeds: int) -> str:
    """What the norm penalty does to calibration and whether temperature scaling removes it: the
    test ECE of the prototypes and of the control, each against CE with its validation-chosen
    weight decay (the family that includes plain CE), before and after temperature scaling fitted
    on the validation speaker, paired by test speaker (``report.tuned_choice``'s rows, each the
    mean of ``seeds`` seeds)."""
    rows = chosen.rename(columns={"family": "method"}).assign(seed=0)
    parts = []
    for method, name in (("prototypes", "the prototypes"), ("zero_prototypes", "the zero-prototype control")):
        if not {method, "ce_weight_decay"} <= set(rows["method"]):
            continue
        said = []
        for column, when in (("ece", "before temperature scaling"), ("validation_test_ece_scaled", "after it")):
            d = paired_by_fold(rows, column, method, "ce_weight_decay") | {"seeds": seeds}
            text = describe_difference(
                d, "CE", above="worse calibrated than", below="better calibrated than", fold="test speaker"
            )
            said.append(f"{when}, {text}")
        parts.append(f"Test ECE of {name} minus CE's: " + "; ".join(said) + ".")
    return " ".join(parts)


def tuned_under_fitted(chosen: pd.DataFrame) -> str:
    """Which validation-chosen settings of the tuned-baselines sweep ended some run below 97 %
    training accuracy (under-fitted at the sweep's epochs), and whether the best CE used one."""
    from .report import TRAINED, TUNED_FAMILIES

    if "min_train_accuracy" not in chosen:
        return ""
    lowest = chosen.groupby("family")["min_train_accuracy"].min()
    short = [f for f in TUNED_FAMILIES if f in lowest and lowest[f] < TRAINED]
    if not short:
        return f"Every chosen setting's runs ended at or above {100 * TRAINED:.0f} % training accuracy."
    names = ", ".join(f"{TUNED_FAMILIES[f][0]} (lowest {100 * lowest[f]:.1f} %)" for f in short)
    used = chosen[(chosen["family"] == "tuned_ce") & chosen["knob"].astype(str).str.startswith(tuple(short))]
    return f"Under-fitted at this budget (a run below {100 * TRAINED:.0f} % training accuracy): {names}; " + (
        "the best CE never chose it, so the verdict does not rest on it."
        if used.empty
        else f"the best CE chose it for {len(used)} test speaker(s)."
    )
