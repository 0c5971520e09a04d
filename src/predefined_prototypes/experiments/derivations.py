"""The computations the store derives from stored runs (``storage.derive`` keeps their tables):
geometry from each run's stored embeddings, learning curves from its history, the pictures of one
run per method (class-mean cosines, t-SNE), and for the factor sweeps the blocks' fit on the test
speaker and the input probes (these read the datasets). Each is a function of (sweep, runs,
results_dir), named by its kind in ``DERIVATIONS``; the store says which kinds each sweep has.

>>> from ..storage.derive import DERIVED
>>> sorted(set(DERIVATIONS)) == sorted({kind for kinds in DERIVED.values() for kind in kinds})
True
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from ..method.registry import LOSSES
from ..reading.methods import METHODS, with_methods
from ..run.metrics import accuracy, class_mean_cosines, collapse_geometry
from ..run.schema import column
from ..storage.derive import Derivation
from ..storage.results import complete_cells, load_stored_run
from ..storage.store import ResultsError


def geometry(sweep: str, runs: pd.DataFrame, results_dir: Path) -> pd.DataFrame:
    """Per run: ``metrics.collapse_geometry`` of its stored test embeddings as ``collapse_<name>``
    columns (from the slim float16 embeddings, which moves them by well under 1 %), and
    ``head_accuracy``, the linear classifier's accuracy on the same clips."""
    rows = []
    for run_id in runs["run_id"]:
        _, emb = load_stored_run(sweep, run_id, results_dir)
        z, labels = torch.from_numpy(emb["z"].astype(np.float32)), torch.from_numpy(emb["labels"])
        protos = torch.from_numpy(emb["prototypes"]) if "prototypes" in emb else None
        measures = collapse_geometry(z, labels, len(emb["classes"]), protos)
        logits = torch.from_numpy(emb["logits"].astype(np.float32))
        rows.append(
            {
                "run_id": run_id,
                **{f"collapse_{k}": v for k, v in measures.items()},
                "head_accuracy": accuracy(logits, labels),
            }
        )
    return pd.DataFrame(rows)


def curves(sweep: str, runs: pd.DataFrame, results_dir: Path) -> pd.DataFrame:
    """Each run's per-epoch history, one row per (run, epoch): ``train_loss``, ``train_accuracy``
    (running accuracy over the epoch's augmented batches) and ``test_accuracy`` (NaN on epochs the
    run did not test)."""
    rows = []
    for run_id in runs["run_id"]:
        record, _ = load_stored_run(sweep, run_id, results_dir)
        for h in record["history"]:
            rows.append(
                {
                    "run_id": run_id,
                    "epoch": h["epoch"],
                    "train_loss": h["train_loss"],
                    "train_accuracy": h["train_accuracy_running"],
                    "test_accuracy": h.get("test_accuracy", np.nan),
                }
            )
    return pd.DataFrame(rows)


def shown_runs(runs: pd.DataFrame) -> pd.DataFrame:
    """One run per method for the pictures, by a fixed rule: the first fold, and its lowest seed,
    among the (fold, seed) cells every method ran."""
    cells = complete_cells(with_methods(runs))
    fold = sorted(cells["fold"])[0]
    seed = cells.loc[cells["fold"] == fold, "seed"].min()
    shown = cells[(cells["fold"] == fold) & (cells["seed"] == seed)]
    order = [m for m in METHODS if m in set(shown["method"])]
    return shown.set_index("method").loc[order].reset_index()


def cosines(sweep: str, runs: pd.DataFrame, results_dir: Path) -> pd.DataFrame:
    """The shown runs' cosines between centred class means, one row per (run, class, class)."""
    rows = []
    for run in shown_runs(runs).itertuples():
        _, emb = load_stored_run(sweep, run.run_id, results_dir)
        z, labels = torch.from_numpy(emb["z"].astype(np.float32)), torch.from_numpy(emb["labels"])
        cos = class_mean_cosines(z, labels, len(emb["classes"])).numpy()
        classes = [str(c) for c in emb["classes"]]
        rows += [
            {"run_id": run.run_id, "method": run.method, "row": a, "column": b, "cosine": cos[i, j]}
            for i, a in enumerate(classes)
            for j, b in enumerate(classes)
        ]
    return pd.DataFrame(rows)


def tsne(sweep: str, runs: pd.DataFrame, results_dir: Path) -> pd.DataFrame:
    """A 2-D t-SNE map (perplexity 30, PCA start, seeded from the run id) of each shown run's test
    embeddings."""
    from sklearn.manifold import TSNE

    frames = []
    for run in shown_runs(runs).itertuples():
        _, emb = load_stored_run(sweep, run.run_id, results_dir)
        seed = int(run.run_id[:8], 16)  # from the run: the same map on every re-derivation
        xy = TSNE(perplexity=30, init="pca", random_state=seed).fit_transform(emb["z"].astype(np.float32))
        frames.append(
            pd.DataFrame(
                {"run_id": run.run_id, "method": run.method, "x": xy[:, 0], "y": xy[:, 1], "label": emb["labels"]}
            )
        )
    return pd.concat(frames, ignore_index=True)


def probe_chance(sweep: str, runs: pd.DataFrame, results_dir: Path) -> pd.DataFrame:
    """Per run and factor, the balanced accuracy of the best constant guess on its test speaker:
    1 / the number of the factor's levels the speaker's clips have (not 1 / levels: a speaker
    rarely spans every level), as the ``probe_chance`` columns of ``schema.METRICS``."""
    rows = []
    for run_id in runs["run_id"]:
        _, emb = load_stored_run(sweep, run_id, results_dir)
        if "factor_levels" not in emb:
            continue
        levels = emb["factor_levels"]
        rows.append(
            {"run_id": run_id}
            | {
                column("probe_chance", factor=n): 1 / len(np.unique(levels[:, i]))
                for i, n in enumerate(emb["factor_names"])
            }
        )
    return pd.DataFrame(rows)


# The fields of a run's config that change what the input probe sees: its data, split and levels.
INPUT_PROBE_FIELDS = (
    "dataset",
    "dataset_options",
    "data_dir",
    "fold",
    "validation",
    "clip_seconds",
    "num_mel_bins",
    "factors",
    "factor_levels",
    "factor_filter",
    "novel_classes",
    "on_error",
)


def input_probes(sweep: str, runs: pd.DataFrame, results_dir: Path) -> pd.DataFrame:
    """Per factor run, how well each factor's level is read from the input itself
    (``evaluate.input_factor_probes``: the embeddings' probe on pooled log-mel frames), as
    ``input_probe_<factor>`` columns: the reference a block's probe is read against. It depends
    on the data only, so it is computed once per fold and front end and shared by their runs;
    it reads the datasets (``PP_DATA_DIR``)."""
    from ..run.config import RunConfig
    from ..run.evaluate import input_factor_probes

    by_data, rows = {}, []
    for run_id in runs["run_id"]:
        record, _ = load_stored_run(sweep, run_id, results_dir)
        config = RunConfig.from_summary(record)
        if not config.measures_factors:
            continue
        data = json.dumps({name: getattr(config, name) for name in INPUT_PROBE_FIELDS}, sort_keys=True)
        if data not in by_data:
            by_data[data] = input_factor_probes(config)
        rows.append({"run_id": run_id} | {f"input_probe_{n}": v for n, v in by_data[data].items()})
    return pd.DataFrame(rows)


def held_out_block_fit(sweep: str, runs: pd.DataFrame, results_dir: Path) -> pd.DataFrame:
    """Per factor-prototype run, the block fit on its test speaker's clips (``metrics.factor_fit``
    on the stored test embeddings): how often each block's nearest level code is the clip's
    measured level, as ``held_out_<factor>_level_match``. The training clips' fit, stored by the
    run, says the pull acts; this one says whether it holds for a voice the run never heard."""
    from ..run.config import RunConfig
    from ..run.metrics import factor_fit

    rows = []
    for run_id in runs["run_id"]:
        record, emb = load_stored_run(sweep, run_id, results_dir)
        config = RunConfig.from_summary(record)
        if not LOSSES[config.loss].factor_blocks:
            continue
        names = [str(n) for n in emb["factor_names"]]
        layout = config.factor_layout()
        z, levels = torch.from_numpy(emb["z"].astype(np.float32)), torch.from_numpy(emb["factor_levels"])
        fit = factor_fit(z, levels, layout.blocks, names, config.loss_options.scale)
        rows.append({"run_id": run_id} | {f"held_out_{n}_level_match": fit[n]["level_match"] for n in names})
    return pd.DataFrame(rows)


# The pitch factors a second tracker re-labels: factor -> the pitch check's column (reports/).
RELABELLED = {"pitch_median": "median_hz", "pitch_std": "spread_hz"}


def crepe_probes(sweep: str, runs: pd.DataFrame, results_dir: Path) -> pd.DataFrame:
    """Per factor-prototype run, its pitch probes read twice from its stored embeddings: with the
    package tracker's levels (``package_probe_<factor>_<source>``) and with CREPE's
    (``crepe_probe_...``), each cut into the run's levels on its own training clips; sources: each
    factor's block and the emotion label alone. A run stores its training clips' measured values,
    not their files: each is matched to its clip in ``reports/pitch-check-<dataset>.csv`` by the
    package tracker's median, spread and loudness (ResultsError if a clip has no single match). Clips CREPE
    cannot measure are left out of both readings, so the two differ by the labels alone."""
    from ..run.config import RunConfig
    from ..run.factors import QuantileDiscretizer
    from ..run.metrics import factor_probes, one_hot_labels

    rows, checks = [], {}
    for run_id in runs["run_id"]:
        record, emb = load_stored_run(sweep, run_id, results_dir)
        config = RunConfig.from_summary(record)
        if not LOSSES[config.loss].factor_blocks:
            continue
        if config.dataset not in checks:
            path = Path(results_dir).parent / "reports" / f"pitch-check-{config.dataset}.csv"
            if not path.is_file():
                raise ResultsError(f"no pitch check at {path}: run python -m predefined_prototypes data pitch-check")
            checks[config.dataset] = pd.read_csv(path)
        check = checks[config.dataset]
        by_file = check.set_index("file")
        by_ours = check.set_index(["ours_median_hz", "ours_spread_hz", "ours_loudness_lufs"], drop=False)
        names = [str(n) for n in emb["factor_names"]]
        pitch = [n for n in names if n in RELABELLED]
        values = emb["train_factor_values"]
        train_keys = list(zip(*(values[:, names.index(n)] for n in ("pitch_median", "pitch_std", "loudness"))))
        missing = [k for k in train_keys if k not in by_ours.index or by_ours.loc[[k]].shape[0] != 1]
        if missing:
            raise ResultsError(
                f"{sweep}/{run_id}: {len(missing)} training clips match no single clip of the pitch check"
            )
        layout = config.factor_layout()
        z = {
            "train": torch.from_numpy(emb["train_z"].astype(np.float32)),
            "test": torch.from_numpy(emb["z"].astype(np.float32)),
        }
        labels = {"train": torch.from_numpy(emb["train_labels"]), "test": torch.from_numpy(emb["labels"])}
        row = {"run_id": run_id}
        for factor in pitch:
            column_name = RELABELLED[factor]
            values = {
                "train": {t: by_ours.loc[list(train_keys), f"{t}_{column_name}"].to_numpy() for t in ("ours", "crepe")},
                "test": {
                    t: by_file.loc[list(emb["paths"]), f"{t}_{column_name}"].to_numpy() for t in ("ours", "crepe")
                },
            }
            keep = {s: ~np.isnan(values[s]["crepe"]) for s in values}
            for tracker, prefix in (("ours", "package"), ("crepe", "crepe")):
                train_values = torch.from_numpy(values["train"][tracker][keep["train"]])[:, None]
                cut = QuantileDiscretizer(config.factor_levels).fit(train_values)
                level = {s: cut.transform(torch.from_numpy(values[s][tracker][keep[s]])[:, None]) for s in values}
                sources = {
                    s: {f"block_{n}": z[s][keep[s]][:, b] for n, b in zip(names, layout.blocks)}
                    | {"emotion": one_hot_labels(labels[s][keep[s]], len(emb["classes"]))}
                    for s in values
                }
                scores, _ = factor_probes(sources["train"], sources["test"], level["train"], level["test"], [factor])
                row |= {f"{prefix}_probe_{factor}_{source}": v for source, v in scores[factor].items()}
        rows.append(row)
    return pd.DataFrame(rows)


DERIVATIONS: dict[str, Derivation] = {
    "geometry": geometry,
    "curves": curves,
    "cosines": cosines,
    "tsne": tsne,
    "chance": probe_chance,
    "input_probes": input_probes,
    "held_out_fit": held_out_block_fit,
    "crepe_probes": crepe_probes,
}
