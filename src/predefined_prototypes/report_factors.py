"""Tables of the factor ablation and the disentanglement case study, from the results table:
what each probe reads, what each edit of the audio moves, and which run is which method.

Every summary averages seeds within a fold first, then reports mean ± std over folds (test
speakers), the independent units. Column names follow ``store.table_row``'s flattening of a run's
``metrics["factors"]``: ``factors_probes_<factor>_<source>``, ``factors_interventions_<edit>_...``.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import torch

from .data import dataset_root, emodb
from .data.audio import SAMPLE_RATE, read_audio
from .factors import FACTORS
from .interventions import EDITS, apply_edit
from .metrics import contrast_contributions, factor_contributions
from .prototypes import FactorPrototypes
from .report import derived, load_stored_run
from .stats import against_reference, format_mean_std, paired_by_fold

LABELS = {"pitch_median": "pitch median", "pitch_std": "pitch spread", "loudness": "loudness"}
ALL_FACTORS = ",".join(FACTORS)


def factor_method(row) -> str:
    """The method of a factor-ablation run: the reference's loss, or the factor prototypes with
    their factors and levels.

    >>> factor_method({"loss": "ce", "factors": ALL_FACTORS, "factor_levels": 6})
    'ce'
    >>> factor_method({"loss": "factor_prototypes", "factors": ALL_FACTORS, "factor_levels": 6})
    'factor_prototypes'
    >>> factor_method({"loss": "factor_prototypes", "factors": "loudness", "factor_levels": 6})
    'factor_prototypes[loudness]'
    >>> factor_method({"loss": "factor_prototypes", "factors": ALL_FACTORS, "factor_levels": 3})
    'factor_prototypes_L3'
    """
    if row["loss"] != "factor_prototypes":
        return row["loss"]
    name = "factor_prototypes" if row["factors"] == ALL_FACTORS else f"factor_prototypes[{row['factors']}]"
    return name if int(row["factor_levels"]) == 6 else f"{name}_L{int(row['factor_levels'])}"


def with_methods(df: pd.DataFrame) -> pd.DataFrame:
    return df.assign(method=df.apply(factor_method, axis=1))


def method_label(name: str) -> str:
    """How the book names a factor-ablation method.

    >>> [method_label(m) for m in ["ce", "factor_prototypes_L3", "factor_prototypes[pitch_median,loudness]"]]
    ['CE (reference)', 'factor prototypes, 3 levels', 'pitch median + loudness, 6 levels']
    """
    if name in ("ce", "prototypes"):
        return {"ce": "CE (reference)", "prototypes": "predefined prototypes"}[name]
    levels = name.rsplit("_L", 1)[1] if "_L" in name else "6"
    if "[" in name:
        factors = name[name.index("[") + 1 : name.index("]")].split(",")
        return f"{' + '.join(LABELS[f] for f in factors)}, {levels} levels"
    return f"factor prototypes, {levels} levels"


def probe_means(df: pd.DataFrame) -> pd.DataFrame:
    """``df`` with, per factor-prototype run, its probes averaged over the factors it uses:
    ``own_block_probe`` (each factor from its own block), ``emotion_probe`` (from the emotion
    label alone) and ``residual_beyond_emotion`` (residual + label minus label)."""

    def mean_over_factors(row, kind):
        values = []
        for f in str(row["factors"]).split(","):
            if kind == "own_block_probe":
                values.append(row.get(f"factors_probes_{f}_block_{f}"))
            elif kind == "emotion_probe":
                values.append(row.get(f"factors_probes_{f}_emotion"))
            else:
                values.append(
                    row.get(f"factors_probes_{f}_residual_emotion", np.nan)
                    - row.get(f"factors_probes_{f}_emotion", np.nan)
                )
        values = [v for v in values if v is not None and not pd.isna(v)]
        return float(np.mean(values)) if values else np.nan

    out = df.copy()
    for kind in ("own_block_probe", "emotion_probe", "residual_beyond_emotion"):
        out[kind] = out.apply(mean_over_factors, axis=1, kind=kind)
    return out


def ablation_table(df: pd.DataFrame, methods: list[str]) -> pd.DataFrame:
    """For ``methods`` (CE first, the reference): emotion accuracy and its fold-paired difference
    to CE (``stats.against_reference``, Holm over the methods), then the probes averaged over each run's factors, mean ±
    std over folds, and chance (1 / levels)."""
    runs = probe_means(with_methods(df))
    runs = runs[runs["method"].isin(methods)]
    runs = runs.assign(order=runs["method"].map(methods.index)).sort_values(["order", "fold", "seed"])
    table = against_reference(runs, "method", "ce").drop(columns=["Holm p"])
    for column, header in [
        ("own_block_probe", "own-block probe %"),
        ("emotion_probe", "emotion-label probe %"),
        ("residual_beyond_emotion", "residual beyond emotion, points"),
    ]:
        table[header] = [fold_summary(runs[runs["method"] == m], column) for m in table["method"]]
    table["chance %"] = [
        "—" if m in ("ce", "prototypes") else f"{100 / int(runs[runs['method'] == m]['factor_levels'].iloc[0]):.1f}"
        for m in table["method"]
    ]
    return table.assign(method=table["method"].map(method_label)).set_index("method")


def pull_fit_table(df: pd.DataFrame, factors: tuple[str, ...] = FACTORS) -> pd.DataFrame:
    """One row per setting of the factor-pull sweep (loss, lambda, mel bins): emotion accuracy and
    the lowest run's training accuracy, then per factor how often its block's nearest level code
    is the assigned level on the training clips (block fit; chance about 1 / levels) and the
    own-block probe on the test speaker, each mean ± std over folds (seeds averaged first)."""
    rows = []
    for (loss, lam, mels), runs in df.groupby(["loss", "lam", "num_mel_bins"], sort=True):
        factor_loss = loss == "factor_prototypes"
        row = {
            "setting": f"{method_label(factor_method(runs.iloc[0]))}, λ = {lam:g}"
            if factor_loss
            else method_label(loss),
            "mel bins": mels,
            "accuracy %": fold_summary(runs, "accuracy"),
            "lowest training accuracy %": f"{100 * runs['train_accuracy'].min():.1f}",
        }
        for factor in factors:
            fit = f"fit_{factor}_level_match"
            row[f"{LABELS[factor]}: block fit %"] = fold_summary(runs, fit) if factor_loss and fit in runs else "—"
            probe = f"factors_probes_{factor}_block_{factor}"
            row[f"{LABELS[factor]}: own-block probe %"] = (
                fold_summary(runs, probe) if factor_loss and probe in runs else "—"
            )
        rows.append(row)
    return pd.DataFrame(rows).set_index("setting")


def fold_summary(values: pd.DataFrame, column: str, scale: float = 100.0, digits: int = 1) -> str:
    """'mean ± std' of ``column`` over folds, seeds averaged within each fold first; '—' where
    no run has it."""
    if column not in values or values[column].isna().all():
        return "—"
    per_fold = values.groupby("fold")[column].mean()
    return format_mean_std(per_fold.mean(), per_fold.std(), scale, digits)


def long_probes(df: pd.DataFrame, factor: str) -> pd.DataFrame:
    """One row per (run, source) of the probe for ``factor``: ``method`` names the source
    (``own_block`` for the factor's own block; for the references, prefixed by the run's loss),
    ``value`` its balanced accuracy; plus the derived ``other_blocks`` (the other factors' blocks,
    averaged), ``best_other_block`` (the best of them, per run) and ``residual_beyond_emotion`` (residual + label minus label)."""
    rows = []
    for _, run in with_methods(df).iterrows():
        for column in [c for c in df.columns if c.startswith(f"factors_probes_{factor}_")]:
            source = column.removeprefix(f"factors_probes_{factor}_")
            if pd.isna(run[column]):
                continue
            source = "own_block" if source == f"block_{factor}" else source
            name = source if run["method"] == "factor_prototypes" else f"{run['method']}:{source}"
            if run["method"] in ("factor_prototypes", "ce", "prototypes"):
                rows.append({"fold": run["fold"], "seed": run["seed"], "method": name, "value": run[column]})
    long = pd.DataFrame(rows, columns=["fold", "seed", "method", "value"])
    others = long[long["method"].str.startswith("block_")]
    if len(others):  # the other factors' blocks: their mean, and the best of them (what "confined" must beat)
        by_run = others.groupby(["fold", "seed"])["value"]
        mean_other = by_run.mean().reset_index().assign(method="other_blocks")
        best_other = by_run.max().reset_index().assign(method="best_other_block")
        long = pd.concat([long, mean_other, best_other], ignore_index=True)
    beyond = long.pivot_table(index=["fold", "seed"], columns="method", values="value")
    if {"residual_emotion", "emotion"} <= set(beyond.columns):
        gain = (beyond["residual_emotion"] - beyond["emotion"]).rename("value").reset_index()
        long = pd.concat([long, gain.assign(method="residual_beyond_emotion")], ignore_index=True)
    return long


# The probe table's columns: source in ``long_probes`` -> header.
PROBE_COLUMNS = {
    "own_block": "own block",
    "other_blocks": "other blocks",
    "residual": "residual",
    "whole": "whole z",
    "ce:whole": "CE whole z",
    "prototypes:whole": "prototypes whole z",
    "emotion": "emotion label alone",
    "residual_beyond_emotion": "residual beyond emotion",
}


def with_probe_chance(df: pd.DataFrame, sweep: str) -> pd.DataFrame:
    """``df`` with each run's probe chance from the derived table (``derive.probe_chance``: 1 / the
    levels its test speaker has), in place of the 1 / levels that runs stored before it record."""
    chance = derived(sweep, "chance", df["profile"].iloc[0])
    stale = [c for c in chance.columns if c != "run_id" and c in df.columns]
    return df.drop(columns=stale).merge(chance, on="run_id", how="left")


def probe_table(df: pd.DataFrame, factors: tuple[str, ...] = FACTORS) -> pd.DataFrame:
    """Per factor: balanced accuracy (%) of the probe on the test speaker from each source, mean
    ± std over folds, with chance: the best constant guess, 1 / the levels the test speaker has
    (mean over speakers, and its range). ``df``: the 6-level, three-factor runs and the
    CE and prototype references of the same folds and seeds."""
    rows = []
    for factor in factors:
        long = long_probes(df, factor)
        row = {"factor": LABELS[factor]}
        for source, header in PROBE_COLUMNS.items():
            values = long[long["method"] == source]
            row[header] = fold_summary(values, "value") if len(values) else "—"
        chance = df.groupby("fold")[f"factors_probe_chance_{factor}"].mean().dropna()
        row["chance (per speaker)"] = (
            f"{100 * chance.mean():.1f} ({100 * chance.min():.1f} to {100 * chance.max():.1f})"
        )
        rows.append(row)
    return pd.DataFrame(rows).set_index("factor")


def largest_other_shift(runs: pd.DataFrame, edit) -> pd.Series:
    """Per factor-prototype run, the largest decoded level shift (in size) under ``edit`` of any
    block but the edited factor's."""
    prefix = f"factors_interventions_{edit.name}"
    others = [runs[f"{prefix}_code_shift_{f}"].abs() for f in FACTORS if f != edit.factor]
    return pd.concat(others, axis=1).max(axis=1)


def intervention_table(df: pd.DataFrame) -> pd.DataFrame:
    """Per edit: the change made (as measured, in LU or semitones), the edited factor's measured
    level shift, the level shift decoded from its own block (nearest level code) and the largest
    from any other block (factor prototypes), the shift the CE model's whole-z probe reads, and
    how often the predicted emotion flips for each method. Mean ± std over folds (seeds averaged
    within each fold first); shifts in levels, flips in percent."""
    runs = with_methods(df)
    factor_runs, ce = runs[runs["method"] == "factor_prototypes"], runs[runs["method"] == "ce"]
    rows = []
    for edit in EDITS:
        prefix = f"factors_interventions_{edit.name}"
        unit = "semitones" if edit.factor == "pitch_median" else "LU"
        change = f"{prefix}_measured_change_" + ("pitch_median_semitones" if unit == "semitones" else "loudness")
        has_codes = len(factor_runs) and f"{prefix}_code_shift_{edit.factor}" in factor_runs
        largest = factor_runs.assign(largest=largest_other_shift(factor_runs, edit) if has_codes else np.nan)
        rows.append(
            {
                "edit": edit.name.replace("_", " "),
                # The same clips, edited once: the measured change is the same for every method of a fold.
                "change made": f"{fold_summary(runs, change, 1.0, 2)} {unit}",
                "measured level shift": fold_summary(runs, f"{prefix}_measured_shift_{edit.factor}", 1.0, 2),
                "own block": fold_summary(factor_runs, f"{prefix}_code_shift_{edit.factor}", 1.0, 2),
                "largest other block (size)": fold_summary(largest, "largest", 1.0, 2),
                "CE probe": fold_summary(ce, f"{prefix}_probe_shift_{edit.factor}", 1.0, 2),
                **{
                    f"emotion flips, {name} %": fold_summary(
                        runs[runs["method"] == method], f"{prefix}_emotion_flip_rate"
                    )
                    for method, name in (
                        ("factor_prototypes", "factor prototypes"),
                        ("ce", "CE"),
                        ("prototypes", "prototypes"),
                    )
                },
            }
        )
    return pd.DataFrame(rows).set_index("edit")


def shift_matrix(df: pd.DataFrame, kind: str, method: str, factors: tuple[str, ...] = FACTORS) -> pd.DataFrame:
    """Edits x factors: mean over folds of ``kind`` (measured_shift, code_shift, probe_shift)
    for the runs of ``method``; the numbers the intervention figure draws."""
    runs = with_methods(df)
    runs = runs[runs["method"] == method]
    data = {
        LABELS[f]: [runs.groupby("fold")[f"factors_interventions_{e.name}_{kind}_{f}"].mean().mean() for e in EDITS]
        for f in factors
    }
    return pd.DataFrame(data, index=[e.name.replace("_", " ") for e in EDITS])


def edit_selectivity(df: pd.DataFrame, factor: str) -> pd.DataFrame:
    """Per factor-prototype run, how selectively the edits of ``factor`` move its own block:
    the own block's decoded shift in the direction the measured level moved, minus the largest
    shift (in size) of any other block, averaged over the factor's edits. Above 0: the edit
    moves the factor's block, and it more than any other; an ideal disentanglement scores the
    measured shift itself. Rows: fold, seed, ``method`` "selectivity", ``value``."""
    runs = with_methods(df)
    runs = runs[runs["method"] == "factor_prototypes"]
    scores = 0.0
    edits = [e for e in EDITS if e.factor == factor]
    for edit in edits:
        direction = 1.0 if edit.amount > 0 else -1.0
        own = direction * runs[f"factors_interventions_{edit.name}_code_shift_{factor}"]
        scores = scores + (own - largest_other_shift(runs, edit)) / len(edits)
    return pd.DataFrame({"fold": runs["fold"], "seed": runs["seed"], "method": "selectivity", "value": scores})


def selectivity_interval(df: pd.DataFrame, factor: str) -> dict:
    """``edit_selectivity`` of ``factor`` against 0, as ``paired_by_fold`` reports a difference."""
    rows = edit_selectivity(df, factor)
    return paired_by_fold(pd.concat([rows, rows.assign(method="zero", value=0.0)]), "value", "selectivity", "zero")


def contrast_terms(record: dict, emb: dict, z: np.ndarray | None = None, pair=None) -> tuple[np.ndarray, np.ndarray]:
    """Each clip's margin of its predicted class over the runner-up (or over the classes in
    ``pair``), split exactly into one term per factor block, the residual block and the bias
    ([N, F + 2], ``metrics.contrast_contributions``), with the block layout rebuilt from the
    run's configuration; and the logits those terms come from. ``z`` defaults to the stored
    test embeddings (pass an edit's, ``emb["edit_<name>_z"]``, to explain the edited clips)."""
    config = record["config"]
    layout = FactorPrototypes([config["factor_levels"]] * len(config["factors"]), dim=config["embed_dim"])
    z = torch.from_numpy((emb["z"] if z is None else z).astype(np.float32))
    weight = torch.from_numpy(emb["classifier_weight"])
    bias = torch.from_numpy(emb["classifier_bias"])
    parts = factor_contributions(weight, z, layout.blocks, layout.residual)
    # The stored logits are float16: recompute them from the same parts so the terms add up exactly.
    logits = parts.sum(dim=1) + bias
    terms, _ = contrast_contributions(parts, bias, logits, pair)
    return terms.numpy(), logits.numpy()


def contrast_by_emotion(sweep: str, runs: pd.DataFrame) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """Mean contribution of each block (and the bias) to the margin of the predicted emotion over the
    runner-up, for the test clips predicted as each emotion: averaged within each run, then over
    seeds within a fold; returns the mean and the std over folds ([F + 2, C] each) and the
    classes. A run with no clip predicted as an emotion leaves that cell out of its fold."""
    rows = []
    for _, row in runs.iterrows():
        record, emb = load_stored_run(sweep, row["run_id"])
        terms, logits = contrast_terms(record, emb)
        predicted = logits.argmax(axis=1)
        classes = list(emb["classes"])
        for c in np.unique(predicted):
            for b, value in enumerate(terms[predicted == c].mean(axis=0)):
                rows.append({"fold": row["fold"], "block": b, "emotion": int(c), "value": float(value)})
    per_fold = pd.DataFrame(rows).groupby(["fold", "block", "emotion"])["value"].mean()
    summary = per_fold.groupby(["block", "emotion"]).agg(["mean", "std"])
    shape = (terms.shape[1], len(classes))
    index = pd.MultiIndex.from_product([range(shape[0]), range(shape[1])], names=["block", "emotion"])
    summary = summary.reindex(index)
    return summary["mean"].to_numpy().reshape(shape), summary["std"].to_numpy().reshape(shape), classes


def illustration(sweep: str, runs: pd.DataFrame) -> dict:
    """The case study's example, chosen by a rule fixed in advance: in the first run (by fold,
    then seed), the correctly predicted test clip with the widest margin. Its contrast terms for
    the original and each edit, all over the original's (predicted, runner-up) pair, and its
    measured factors before and after each edit."""
    row = runs.sort_values(["fold", "seed"]).iloc[0]
    record, emb = load_stored_run(sweep, row["run_id"])
    terms, logits = contrast_terms(record, emb)
    ranked = np.argsort(-logits, axis=1)
    correct = np.where(ranked[:, 0] == emb["labels"])[0]
    i = int(correct[terms[correct].sum(axis=1).argmax()])
    pair = (torch.tensor([int(ranked[i, 0])]), torch.tensor([int(ranked[i, 1])]))
    versions = {"original": (terms[i], emb["factor_values"][i])}
    for edit in EDITS:
        edited, _ = contrast_terms(record, emb, emb[f"edit_{edit.name}_z"][i : i + 1], pair)
        versions[edit.name.replace("_", " ")] = (edited[0], emb[f"edit_{edit.name}_factor_values"][i])
    classes = list(emb["classes"])
    return {
        "file": str(emb["paths"][i]),
        "fold": row["fold"],
        "seed": int(row["seed"]),
        "emotion": classes[int(emb["labels"][i])],
        "runner_up": classes[int(ranked[i, 1])],
        "factors": list(emb["factor_names"]),
        "versions": versions,
        "clip_seconds": record["config"]["clip_seconds"],
    }


def example_audio(example: dict, data_dir: str | None = None) -> dict | str:
    """The example clip as the model heard it (the first ``clip_seconds``) and each edit of it,
    name -> waveform [T] at 16 kHz; or, where the dataset is absent (the book reads only
    ``results/``), a one-line note saying how to hear them."""
    try:
        path = dataset_root("emodb", data_dir) / "wav" / example["file"]
    except FileNotFoundError:
        path = None
    if path is None or not path.is_file():
        return (
            f"Audio players need EmoDB's {example['file']} (not stored with the results): set PP_DATA_DIR "
            "to a folder holding emodb/ and rebuild the book to hear the clip and its edits."
        )
    samples = round((example["clip_seconds"] or emodb.CLIP_SECONDS) * SAMPLE_RATE)
    wave = read_audio(path)
    versions = {"original": wave[:samples]}
    for edit in EDITS:
        versions[edit.name.replace("_", " ")] = apply_edit(wave, edit)[:samples]
    return versions


def show_example(example: dict) -> None:
    """The illustration's figure (its margin split into blocks, for the clip and each edit), then
    an audio player per version with its measured factors, or the note saying how to hear them."""
    import matplotlib.pyplot as plt
    from IPython.display import HTML, Audio, display

    from .plots import edit_explanations

    labels = [LABELS[f] for f in example["factors"]]
    title = (
        f"{example['file']} (test speaker {example['fold']}, seed {example['seed']}): {example['emotion']} "
        f"over {example['runner_up']}"
    )
    edit_explanations(example["versions"], [*labels, "residual", "bias"], title)
    plt.show()
    audio = example_audio(example)
    if isinstance(audio, str):
        print(audio)
        return
    for name, wave in audio.items():
        measured = ", ".join(f"{label} {v:.1f}" for label, v in zip(labels, example["versions"][name][1]))
        display(HTML(f"<b>{name}</b>: {measured} (pitch in Hz, loudness in LUFS)"))
        display(Audio(wave.numpy(), rate=SAMPLE_RATE))
