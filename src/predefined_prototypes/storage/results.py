"""The one reader of stored results: a sweep profile's table (``load_results``), whether a
profile is complete (``load_profile``: every run its plan holds is stored), which settings of a
sweep that finishes setting by setting are complete (``complete_settings``), what a profile plans
(``planned``: the sweep's own record, ``plans.py``; a sweep file is never expanded here), a stored
run's record and embeddings, and the tables derived from them.

Everything here reads ``results/`` (written by the sweep) and never trains; a missing or broken
file raises ``ResultsError`` naming the fix, so a page never renders blanks. The book's grouping
of runs into methods is the reading side's (``reading/methods.py``).
"""

from __future__ import annotations

import hashlib
import json
import os
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd

from .manifest import file_digest, read_manifest
from .plans import RECORD as PLAN_RECORD
from .plans import Planned, read_plan
from .rules_record import read_record
from .store import ResultsError, read_table

REPO = Path(__file__).resolve().parents[3]
CONFIGS = REPO / "configs"
# The repository's results/, or another folder of the same layout named by PP_RESULTS_DIR.
RESULTS = Path(os.environ.get("PP_RESULTS_DIR") or REPO / "results")


# Columns every page relies on; a table without them is broken, not empty.
REQUIRED_COLUMNS = (
    "run_id",
    "profile",
    "dataset",
    "loss",
    "fold",
    "seed",
    "epochs",
    "accuracy",
    "macro_f1",
    "ece",
    "train_accuracy",
    "wall_time_s",
)


def load_results(
    sweep: str, profile: str | None = None, results_dir: str | Path = RESULTS, configs_dir: str | Path = CONFIGS
) -> pd.DataFrame:
    """A sweep profile's table, ``results/<sweep>/<profile>.csv``: one row per stored run of the
    profile's recorded plan (rows kept from an earlier version of the sweep file are left out; the
    sweep's ``--prune`` removes them). Without ``profile``, the full profile's table where one is
    stored, else the quick one's.

    A missing, empty or malformed table raises ResultsError naming the file, so a page never
    renders blanks.
    """
    folder = Path(results_dir) / sweep
    if profile is None:
        profile = "full" if holds_plan(sweep, "full", results_dir, configs_dir) else "quick"
    path = folder / f"{profile}.csv"
    rerun = f"python -m predefined_prototypes sweep configs/{sweep}.yaml --profile {profile}"
    if not path.is_file():
        raise ResultsError(f"no results table at {path}: run {rerun}")
    table = read_table(path)
    missing = [c for c in REQUIRED_COLUMNS if c not in table.columns]
    if missing:
        raise ResultsError(f"{path} lacks column(s) {', '.join(missing)}: rebuild it with {rerun} --aggregate-only")
    table = table[table["run_id"].isin(planned_ids(sweep, profile, configs_dir, results_dir))]
    if table.empty:
        raise ResultsError(f"{path} has no rows of the plan of configs/{sweep}.yaml: run {rerun}")
    missing = [rid for rid in table["run_id"] if not (folder / "runs" / rid / "metrics.json").is_file()]
    if missing:
        raise ResultsError(
            f"{path}: row {missing[0]} has no stored summary in {folder / 'runs'} ({len(missing)} such row(s)); "
            "python -m predefined_prototypes store check lists every problem"
        )

    verify_table(path)  # after the structural checks, which name a malformed table more precisely
    return table.copy().reset_index(drop=True)  # one block per dtype: the factor tables are wide


def verify_table(path: Path) -> None:
    """ResultsError naming ``path`` when its SHA-256 is not the one the store recorded when it wrote
    it (an edited table): nothing a verdict or a page prints comes from unverified content. A sweep
    folder without a manifest (written before the store recorded digests) cannot be checked here;
    ``store check`` names it."""
    recorded = read_manifest(path.parent).get(path.name) if (path.parent / "manifest.json").is_file() else None
    if recorded is not None and file_digest(path) != recorded:
        raise ResultsError(
            f"{path}: its SHA-256 is not the one the store recorded when it wrote it (edited by hand?); restore it "
            f"from git (git checkout -- {path}) or rebuild it with the sweep's --aggregate-only"
        )


def load_profile(
    sweep: str, results_dir: str | Path = RESULTS, configs_dir: str | Path = CONFIGS
) -> tuple[pd.DataFrame, bool]:
    """``(table, complete)``: the full profile's table when every run it plans is stored (then
    ``complete`` is True), else the quick profile's, so a page can show what is there and say
    whether it is a finding."""
    if holds_plan(sweep, "full", results_dir, configs_dir):
        full = load_results(sweep, "full", results_dir, configs_dir)
        if len(full) == planned_runs(sweep, "full", configs_dir, results_dir):
            return full, True
    return load_results(sweep, "quick", results_dir, configs_dir), False


def has_started(sweep: str, results_dir: str | Path = RESULTS) -> bool:
    """Whether the sweep has recorded its plan: a sweep file whose sweep never ran has none."""
    return (Path(results_dir) / sweep / PLAN_RECORD).is_file()


def holds_plan(sweep: str, profile: str, results_dir: str | Path = RESULTS, configs_dir: str | Path = CONFIGS) -> bool:
    """Whether ``results/<sweep>/<profile>.csv`` holds a run of the profile's recorded plan: a table
    holding only an earlier plan's runs (say, at other epochs) is a profile not yet started."""
    path = Path(results_dir) / sweep / f"{profile}.csv"
    if not path.is_file():
        return False
    return bool(set(planned_ids(sweep, profile, configs_dir, results_dir)) & set(read_table(path)["run_id"]))


def complete_settings(
    sweep: str, keys: tuple[str, ...], results_dir: str | Path = RESULTS, configs_dir: str | Path = CONFIGS
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """For a sweep whose settings finish one after another: the full profile's rows of every
    setting (a combination of ``keys``' values) whose planned runs are all stored, and one row per
    planned setting with how many of its runs are stored (``stored``, ``planned``, ``complete``).
    Each complete setting is full-profile evidence on its own, whatever the others' state."""
    plan = planned(sweep, "full", configs_dir, results_dir)
    planned_rows = pd.DataFrame([{**{k: r.settings[k] for k in keys}, "run_id": r.run_id} for r in plan])
    started = holds_plan(sweep, "full", results_dir, configs_dir)
    table = load_results(sweep, "full", results_dir, configs_dir) if started else pd.DataFrame(columns=["run_id"])
    planned_rows["stored"] = planned_rows["run_id"].isin(set(table["run_id"]))
    by_setting = planned_rows.groupby(list(keys), sort=False)["stored"]
    status = by_setting.agg(stored="sum", planned="size").reset_index()
    status["complete"] = status["stored"] == status["planned"]
    done = planned_rows[by_setting.transform("all")]
    return table[table["run_id"].isin(set(done["run_id"]))].reset_index(drop=True), status


def load_stored_run(sweep: str, run_id: str, results_dir: str | Path = RESULTS) -> tuple[dict, dict]:
    """A run's metrics.json record and its (slim) test embeddings."""
    folder = Path(results_dir) / sweep / "runs" / run_id
    try:
        record = json.loads((folder / "metrics.json").read_text())
    except (OSError, UnicodeDecodeError, ValueError) as err:
        raise ResultsError(f"{folder / 'metrics.json'} cannot be read ({err}); restore it from git") from None
    try:
        with np.load(folder / "embeddings.npz") as npz:
            embeddings = {k: npz[k] for k in npz.files}
    except (OSError, ValueError, zipfile.BadZipFile, EOFError) as err:
        raise ResultsError(
            f"{folder / 'embeddings.npz'} cannot be read ({type(err).__name__}: {err}); restore it from git "
            "or remove the run's folder and run its sweep again"
        ) from None
    return record, embeddings


def table_digest(sweep: str, profile: str, results_dir: str | Path = RESULTS) -> str:
    """The sha256 of a profile's table, which its derived tables record."""
    return hashlib.sha256((Path(results_dir) / sweep / f"{profile}.csv").read_bytes()).hexdigest()


def derived(sweep: str, kind: str, profile: str, results_dir: str | Path = RESULTS) -> pd.DataFrame:
    """A table derived from a profile's stored runs (``derive.DERIVED``), refused with a
    ResultsError naming the fix when it is missing or was computed from another version of the
    profile's table."""
    folder = Path(results_dir) / sweep / "derived"
    fix = "run python -m predefined_prototypes store derive"
    record = folder / f"{profile}.json"
    if not record.is_file() or not (folder / f"{profile}-{kind}.csv").is_file():
        raise ResultsError(f"{folder / f'{profile}-{kind}.csv'} is missing: {fix}")
    if json.loads(record.read_text())["table_sha256"] != table_digest(sweep, profile, results_dir):
        raise ResultsError(f"{folder}: derived from another version of {sweep}/{profile}.csv: {fix}")
    return pd.read_csv(folder / f"{profile}-{kind}.csv")


def planned(
    sweep: str, profile: str = "full", configs_dir: str | Path = CONFIGS, results_dir: str | Path = RESULTS
) -> list[Planned]:
    """The runs a sweep's profile plans (id and settings), as the sweep recorded them when it
    stored (``plans.read_plan``); ResultsError naming the command that records it when there is no
    record, or the sweep file changed since."""
    folder = Path(results_dir) / sweep
    sweep_file = Path(configs_dir) / f"{sweep}.yaml"
    record = f"python -m predefined_prototypes sweep {sweep_file} --aggregate-only"
    try:
        runs = read_plan(folder, profile, sweep_file)
    except ValueError as err:
        raise ResultsError(str(err)) from None
    if runs is None:
        raise ResultsError(f"{folder} has no record of its sweep's plan (plan.json): record it with {record}")
    return runs


def planned_runs(sweep: str, profile: str, configs_dir: str | Path = CONFIGS, results_dir: str | Path = RESULTS) -> int:
    """How many runs the sweep's profile plans."""
    return len(planned(sweep, profile, configs_dir, results_dir))


def planned_ids(
    sweep: str, profile: str = "full", configs_dir: str | Path = CONFIGS, results_dir: str | Path = RESULTS
) -> list[str]:
    """The run ids the sweep's profile plans."""
    return [r.run_id for r in planned(sweep, profile, configs_dir, results_dir)]


def rules_record(sweep: str, results_dir: str | Path = RESULTS) -> dict | None:
    """The sweep's record of its rules and plan (``rules_record``), or None where it has none."""
    try:
        return read_record(Path(results_dir) / sweep)
    except ValueError as err:
        raise ResultsError(str(err)) from None


def complete_cells(df: pd.DataFrame, by: str = "method") -> pd.DataFrame:
    """The rows of the (fold, seed) cells that every group of ``by`` has run, so each row of a
    table averages the same cells.

    >>> df = pd.DataFrame({"method": ["a", "a", "b"], "fold": ["1", "2", "1"], "seed": 0, "accuracy": [0.5, 0.7, 0.9]})
    >>> complete_cells(df)["fold"].tolist()
    ['1', '1']
    """
    groups = df[by].nunique()
    counts = df.groupby(["fold", "seed"])[by].nunique()
    keep = counts[counts == groups].index
    return df[df.set_index(["fold", "seed"]).index.isin(keep)]
