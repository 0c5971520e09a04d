"""Tables derived from stored runs once, so that the book reads small tables and trains nothing.

What each sweep derives is declared here (``DERIVED``: its kinds of table); how each kind is
computed is the runner's (``experiments.derivations``: geometry, curves, probes; they take minutes
over hundreds of stored runs, and load torch), handed to ``derive`` as a mapping. The pages read
``results/<sweep>/derived/<profile>-<kind>.csv``.
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

import pandas as pd

from .check import check_store, check_sweep
from .manifest import read_manifest, write_recorded
from .results import load_results, table_digest
from .store import ResultsError, store_lock, sweep_lock, unfinished_migration

Derivation = Callable[[str, pd.DataFrame, Path], pd.DataFrame]
# sweep -> the kinds of table its pages read; each kind is computed by one function of (sweep, runs,
# results_dir) that the caller hands in (the runner's ``derivations.DERIVATIONS``: they load torch).
DERIVED: dict[str, tuple[str, ...]] = {
    "main-fsdd": ("geometry", "curves", "cosines", "tsne"),
    "main-emodb": ("curves",),
    "ablation-prototypes": ("geometry",),
    "ablation-factors": ("chance", "input_probes", "held_out_fit"),
    "factor-pull": ("input_probes", "held_out_fit", "crepe_probes"),
    "claim2-ravdess": ("input_probes", "held_out_fit", "crepe_probes"),
    "claim2-ravdess-intensity": ("input_probes", "held_out_fit"),
    "claim1-pretrained-ravdess-pilot": ("curves",),
    "claim1-pretrained-emodb-pilot": ("curves",),
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


def derive(sweep: str, profile: str, results_dir: str | Path, derivations: dict[str, Derivation]) -> list[Path]:
    """Compute and write a sweep profile's derived tables (none if the sweep has none), each kind
    by its function in ``derivations``.

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
    for kind in DERIVED[sweep]:
        function = derivations[kind]
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
        write_recorded(folder.parent, path, table.to_csv(index=False).encode())
        written.append(path)
    record = {
        "table": f"{profile}.csv",
        "table_sha256": table_digest(sweep, profile, results_dir),
        "inputs": inputs,
    }
    write_recorded(folder.parent, record_path, json.dumps(record, indent=1).encode())
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


def derive_all(results_dir: str | Path, derivations: dict[str, Derivation], every: bool = False) -> list[Path]:
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
                    written += derive(sweep, table.stem, results_dir, derivations)
    return written
