"""Tables derived from stored runs once, so that the book reads small tables and trains nothing.

Geometry from each run's stored embeddings, learning curves from each run's history, the
pictures of one run per method (class-mean cosines, t-SNE), and for the factor sweeps the blocks'
fit on the test speaker and the input probes (these read the datasets) take minutes to compute
from hundreds of stored runs; the pages read them from
``results/<sweep>/derived/<profile>-<kind>.csv`` instead.
``derived/<profile>.json`` records the digest of the profile's table they were computed from:
``results.derived`` refuses a stale one, and ``store check`` lists it. A sweep re-derives its
tables when it has stored its runs; ``python -m predefined_prototypes store derive`` does it for
every sweep whose tables are missing or stale.

>>> sorted(DERIVED["main-fsdd"])
['cosines', 'curves', 'geometry', 'tsne']
"""

from __future__ import annotations

import hashlib
import io
import json
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from ..method.registry import LOSSES, METHODS
from ..run.files import atomic_write
from ..run.metrics import accuracy, class_mean_cosines, collapse_geometry
from ..run.schema import column
from .check import check_store, check_sweep
from .manifest import read_manifest, record_files
from .results import complete_cells, load_results, load_stored_run, table_digest
from .store import ResultsError, store_lock, sweep_lock, unfinished_migration


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
    cells = complete_cells(runs)
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


Derivation = Callable[[str, pd.DataFrame, Path], pd.DataFrame]
# sweep -> the tables its pages read, each computed by one function of (sweep, runs, results_dir).
DERIVED: dict[str, dict[str, Derivation]] = {
    "main-fsdd": {"geometry": geometry, "curves": curves, "cosines": cosines, "tsne": tsne},
    "main-emodb": {"curves": curves},
    "ablation-prototypes": {"geometry": geometry},
    "ablation-factors": {"chance": probe_chance, "input_probes": input_probes, "held_out_fit": held_out_block_fit},
    "factor-pull": {"input_probes": input_probes, "held_out_fit": held_out_block_fit, "crepe_probes": crepe_probes},
    "claim2-ravdess": {"input_probes": input_probes, "held_out_fit": held_out_block_fit, "crepe_probes": crepe_probes},
    "claim2-ravdess-intensity": {"input_probes": input_probes, "held_out_fit": held_out_block_fit},
}


# Kinds with rows of their own per run: a run whose stored files did not change keeps its rows as
# written, so re-deriving changes nothing already published (the pictures' kinds are recomputed
# whole, from seeded computations, when any of their inputs changed).
PER_RUN = ("geometry", "curves", "chance", "input_probes", "held_out_fit", "crepe_probes")


def run_inputs(sweep: str, runs: pd.DataFrame, results_dir: Path) -> dict[str, str]:
    """Per run, the digest of its stored files as the store recorded them (summary, embeddings):
    what its derived rows are a function of."""
    recorded = read_manifest(results_dir / sweep)
    return {
        rid: hashlib.sha256(
            "".join(recorded.get(f"runs/{rid}/{name}", "") for name in ("metrics.json", "embeddings.npz")).encode()
        ).hexdigest()
        for rid in runs["run_id"]
    }


def _as_text(csv_text: str) -> pd.DataFrame:
    """A derived table's CSV text as strings, as it is stored; a table of no columns (a derivation
    with nothing to say about its runs, e.g. a block fit of runs without blocks) as an empty one."""
    if not csv_text.strip():
        return pd.DataFrame()
    return pd.read_csv(io.StringIO(csv_text), dtype=str, keep_default_na=False)


def derive(sweep: str, profile: str, results_dir: str | Path) -> list[Path]:
    """Compute and write a sweep profile's derived tables (none if the sweep has none).

    The sweep's stored content is checked first (``check.check_sweep``): an edited table or
    summary is an error, never a reason to derive again. The record ``derived/<profile>.json``
    holds the digests of the inputs (the table, each run's stored files) and is written last, so a
    crash leaves the tables stale, not wrong. Rows of runs whose inputs did not change are kept as
    written: deriving again is byte-identical unless an input changed."""
    results_dir = Path(results_dir)
    if sweep not in DERIVED:
        return []
    # Its own outputs aside (a lost or stale derived table is what deriving rebuilds).
    own = f"{results_dir / sweep / 'derived'}/"
    if problems := [p for p in check_sweep(results_dir / sweep) if not p.startswith(own)]:
        raise ResultsError(
            f"{len(problems)} problem(s) in {results_dir / sweep}, nothing derived; first: {problems[0]}"
        )
    runs = load_results(sweep, profile, results_dir)
    folder = results_dir / sweep / "derived"
    folder.mkdir(exist_ok=True)
    inputs = run_inputs(sweep, runs, results_dir)
    record_path = folder / f"{profile}.json"
    old = json.loads(record_path.read_text()) if record_path.is_file() else {}
    unchanged = {rid for rid, digest in inputs.items() if old.get("inputs", {}).get(rid) == digest}
    written = []
    for kind, function in DERIVED[sweep].items():
        path = folder / f"{profile}-{kind}.csv"
        if path.is_file() and unchanged == set(inputs) and set(old.get("inputs", {})) == set(inputs):
            continue  # every input as before: the table as before
        if path.is_file() and kind in PER_RUN and unchanged:
            kept = _as_text(path.read_text())
            kept = kept[kept["run_id"].isin(unchanged)] if "run_id" in kept else kept
            changed = runs[~runs["run_id"].isin(unchanged)]
            fresh = _as_text(function(sweep, changed, results_dir).to_csv(index=False)) if len(changed) else kept[:0]
            frames = [frame for frame in (kept, fresh) if len(frame.columns)]
            both = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()
            order = {rid: i for i, rid in enumerate(runs["run_id"])}
            rank = sorted(range(len(both)), key=lambda i: order.get(both["run_id"].iloc[i], -1)) if len(both) else []
            table = both.iloc[rank]
        else:
            table = function(sweep, runs, results_dir)
        text = table.to_csv(index=False).encode()
        record_files(
            folder.parent, [path], {path.relative_to(folder.parent).as_posix(): hashlib.sha256(text).hexdigest()}
        )
        atomic_write(path, lambda f, text=text: f.write(text))
        written.append(path)
    record = {
        "table": f"{profile}.csv",
        "table_sha256": table_digest(sweep, profile, results_dir),
        "inputs": inputs,
    }
    text = json.dumps(record, indent=1).encode()
    record_files(
        folder.parent,
        [record_path],
        {record_path.relative_to(folder.parent).as_posix(): hashlib.sha256(text).hexdigest()},
    )
    atomic_write(record_path, lambda f: f.write(text))
    return written


def stale_derived_tables(sweep: Path) -> list[Path]:
    """The profile tables of a sweep whose derived tables (``derive.DERIVED``) are missing or were
    computed from another version of the profile's table."""
    if sweep.name not in DERIVED:
        return []
    stale = []
    for table in sorted(sweep.glob("*.csv")):
        record = sweep / "derived" / f"{table.stem}.json"
        kinds = [sweep / "derived" / f"{table.stem}-{kind}.csv" for kind in DERIVED[sweep.name]]
        digest = json.loads(record.read_text())["table_sha256"] if record.is_file() else None
        if digest != hashlib.sha256(table.read_bytes()).hexdigest() or not all(p.is_file() for p in kinds):
            stale.append(table)
    return stale


def check_all(results_dir: str | Path) -> list[str]:
    """What ``store check`` reports: every problem of the stored content (``check.check_store``)
    and every profile whose derived tables are missing or were computed from another version of
    its table."""
    problems = check_store(results_dir)
    for sweep in sorted(DERIVED):
        if (Path(results_dir) / sweep).is_dir():
            problems += [
                f"{table}: its derived tables are missing or stale; run python -m predefined_prototypes store derive"
                for table in stale_derived_tables(Path(results_dir) / sweep)
            ]
    return problems


def derive_all(results_dir: str | Path, every: bool = False) -> list[Path]:
    """The derived tables of every stored profile whose tables are missing or stale (``every``:
    every stored profile is looked at; rows whose inputs did not change are still kept), each
    sweep under its lock. Returns the tables written."""
    if unfinished := unfinished_migration(results_dir):
        raise ResultsError(unfinished)
    written = []
    with store_lock(results_dir):
        for sweep in sorted(DERIVED):
            folder = Path(results_dir) / sweep
            if not folder.is_dir():
                continue
            with sweep_lock(results_dir, sweep):
                tables = sorted(folder.glob("*.csv")) if every else stale_derived_tables(folder)
                for table in tables:
                    written += derive(sweep, table.stem, results_dir)
    return written
