"""Derived tables: computed once from the stored runs, read by the pages, refused when stale."""

import json
import shutil

import numpy as np
import pandas as pd
import pytest
from conftest import REPO

from predefined_prototypes.experiments.derivations import DERIVATIONS, held_out_block_fit, input_probes, probe_chance
from predefined_prototypes.experiments.sweep import prune
from predefined_prototypes.reading.runs import load_results
from predefined_prototypes.reading.tables import learning_curves
from predefined_prototypes.storage.derive import check_all, derive, derive_all
from predefined_prototypes.storage.manifest import forget_files
from predefined_prototypes.storage.results import derived
from predefined_prototypes.storage.store import ResultsError, StoredRun


@pytest.fixture
def results(tmp_path):
    shutil.copytree(REPO / "results" / "main-emodb", tmp_path / "main-emodb", ignore=shutil.ignore_patterns("derived"))
    forget_files(tmp_path / "main-emodb", ["derived"])  # as if never derived
    return tmp_path


@pytest.mark.slow
def test_derived_curves_hold_every_epoch_of_every_run_and_go_stale_with_their_table(results):
    assert "main-emodb/full.csv: its derived tables are missing" in "\n".join(check_all(results))
    with pytest.raises(ResultsError, match="store derive"):
        derived("main-emodb", "curves", "full", results)
    derive("main-emodb", "full", results, DERIVATIONS)
    assert not check_all(results)
    runs = load_results("main-emodb", "full", results)
    curves = learning_curves(runs, derived("main-emodb", "curves", "full", results))
    assert set(curves["run_id"]) == set(runs["run_id"])
    last = curves.groupby("run_id")["epoch"].max()
    assert (last == runs.set_index("run_id")["epochs"].loc[last.index]).all()
    assert curves["test_accuracy"].notna().any() and curves["test_accuracy"].isna().any()  # eval_every > 1

    first = pd.read_csv(results / "main-emodb" / "full.csv", dtype=str)["run_id"].head(5)
    prune([StoredRun("main-emodb", "full", rid) for rid in first], results)  # a sweep pruned it
    with pytest.raises(ResultsError, match="another version of main-emodb/full.csv: run python -m"):
        derived("main-emodb", "curves", "full", results)
    assert any("stale" in line for line in check_all(results))
    derive("main-emodb", "full", results, DERIVATIONS)
    assert derived("main-emodb", "curves", "full", results)["run_id"].nunique() == 5


def test_probe_chance_is_one_over_the_levels_the_test_speaker_has(tmp_path):
    folder = tmp_path / "s" / "runs" / "r1"
    folder.mkdir(parents=True)
    shutil.copy(next((REPO / "results" / "main-emodb" / "runs").glob("*/metrics.json")), folder / "metrics.json")
    levels = np.array([[0, 1], [2, 1], [0, 1], [5, 1]])  # factor a: 3 levels present; b: 1
    np.savez(folder / "embeddings.npz", factor_levels=levels, factor_names=np.array(["a", "b"]))
    chance = probe_chance("s", pd.DataFrame({"run_id": ["r1"]}), tmp_path).iloc[0]
    assert chance["factors_probe_chance_a"] == pytest.approx(1 / 3) and chance["factors_probe_chance_b"] == 1.0


@pytest.mark.slow
def test_derive_all_redoes_only_what_is_missing_or_stale_unless_asked_for_every_table(results):
    assert [p.name for p in derive_all(results, DERIVATIONS)] == ["full-curves.csv"]
    assert derive_all(results, DERIVATIONS) == []  # fresh: nothing recomputed
    assert derive_all(results, DERIVATIONS, every=True) == []  # every input as before: every table as written


@pytest.mark.slow
def test_the_input_probe_reads_pitch_from_the_log_mel_bands_once_per_fold_and_front_end(emodb_root, monkeypatch):
    monkeypatch.setenv("PP_DATA_DIR", str(emodb_root.parent))
    runs = load_results("factor-pull", "full")
    runs = runs[(runs["fold"].astype(str) == "09") & (runs["num_mel_bins"] == 40)].head(3)
    table = input_probes("factor-pull", runs, REPO / "results")
    assert list(table["run_id"]) == list(runs["run_id"])
    assert table.drop(columns="run_id").nunique().max() == 1  # the same data, the same probe
    chance = runs["factors_probe_chance_pitch_median"].iloc[0]
    assert table["input_probe_pitch_median"].iloc[0] > chance + 0.2  # F0 shows in the bands


def test_held_out_block_fit_is_one_where_each_block_sits_on_its_code_and_near_chance_for_noise(tmp_path):
    rng = np.random.default_rng(0)
    levels = rng.integers(0, 6, size=(600, 2))
    codes = np.concatenate([np.eye(6)[levels[:, 0]], np.eye(6)[levels[:, 1]], np.zeros((600, 4))], axis=1)
    config = {"dataset": "emodb", "loss": "factor_prototypes", "factors": ["pitch_median", "loudness"], "embed_dim": 16}
    for run_id, z in (("fit", codes), ("noise", rng.normal(size=codes.shape))):
        folder = tmp_path / "s" / "runs" / run_id
        folder.mkdir(parents=True)
        (folder / "metrics.json").write_text(json.dumps({"config": config}))
        names = np.array(["pitch_median", "loudness"])
        np.savez(folder / "embeddings.npz", z=z.astype(np.float16), factor_levels=levels, factor_names=names)
    table = held_out_block_fit("s", pd.DataFrame({"run_id": ["fit", "noise"]}), tmp_path).set_index("run_id")
    assert (table.loc["fit"] == 1.0).all()
    assert table.loc["noise"].between(1 / 6 - 0.06, 1 / 6 + 0.06).all()


@pytest.mark.slow
def test_deriving_again_keeps_rows_when_the_new_runs_give_a_table_of_no_columns(results):
    # A per-run derivation with nothing to say about some runs (a block fit of runs without
    # blocks) returns no columns for them; deriving after such runs joined must keep the rows.
    def only_ce(sweep, runs, results_dir):
        ce = runs[runs["loss"] == "ce"]
        return pd.DataFrame({"run_id": ce["run_id"], "x": 1}) if len(ce) else pd.DataFrame()

    derive("main-emodb", "full", results, {"curves": only_ce})
    record = results / "main-emodb" / "derived" / "full.json"
    kept = json.loads(record.read_text())
    runs = load_results("main-emodb", "full", results)
    not_ce = runs.loc[runs["loss"] != "ce", "run_id"].iloc[0]
    del kept["inputs"][not_ce]  # as if this run had been stored after the last derive
    record.write_text(json.dumps(kept))
    derive("main-emodb", "full", results, {"curves": only_ce})
    table = pd.read_csv(results / "main-emodb" / "derived" / "full-curves.csv", dtype=str)
    assert set(table["run_id"]) == set(runs.loc[runs["loss"] == "ce", "run_id"])
