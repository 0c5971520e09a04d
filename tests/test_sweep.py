"""Sweeps: expansion, papermill execution, Dask, resume after kill -9, failures, aggregation."""

import json
import os
import signal
import subprocess
import sys
import time

import pandas as pd
import pytest
import yaml

from conftest import REPO
from predefined_prototypes.config import ConfigError
from predefined_prototypes.sweep import load_sweep, run_sweep

NOTEBOOK = str(REPO / "notebooks" / "train.ipynb")
TINY = {"dataset": "fsdd", "fold": "official", "epochs": 1, "channels": 4, "embed_dim": 16,
        "num_mel_bins": 32, "batch_size": 64}


def write_sweep(path, base, grid, profiles=None):
    path.write_text(yaml.safe_dump({"description": "test", "base": base, "grid": grid,
                                    "profiles": profiles or {"quick": {}}}))
    return path


def test_committed_sweeps_expand_and_validate():
    counts = {}
    for name in ("main-fsdd", "main-emodb", "ablation-prototypes", "ablation-factors"):
        for profile in ("quick", "full"):
            runs = load_sweep(REPO / "configs" / f"{name}.yaml", profile)
            assert len({r.run_id for r in runs}) == len(runs)
            counts[name, profile] = len(runs)
    assert counts["main-fsdd", "quick"] == 5 and counts["main-fsdd", "full"] == 5 * 6 * 3
    assert counts["main-emodb", "full"] == 5 * 10 * 3
    losses = {r.settings["loss"] for r in load_sweep(REPO / "configs" / "main-fsdd.yaml", "quick")}
    assert losses == {"ce", "focal", "opl", "prototypes", "learned_prototypes"}
    protos = load_sweep(REPO / "configs" / "ablation-prototypes.yaml", "quick")
    assert {r.settings["embed_dim"] for r in protos} >= {4, 8}  # k < C = 10: the JL branch
    factors = load_sweep(REPO / "configs" / "ablation-factors.yaml", "quick")
    assert {r.settings["factor_levels"] for r in factors} == {2, 3, 4, 6, 8}


def test_run_id_is_a_hash_of_the_config(tmp_path):
    path = write_sweep(tmp_path / "s.yaml", TINY, [{"loss": ["ce", "prototypes"]}, {"loss": ["ce"]}])
    first, second = load_sweep(path, "quick"), load_sweep(path, "quick")
    assert [r.run_id for r in first] == [r.run_id for r in second]
    assert len(first) == 2  # the repeated ce run is one run


def test_bad_sweeps_fail_before_any_work(tmp_path):
    path = write_sweep(tmp_path / "s.yaml", TINY, {"loss": ["ce"]})
    with pytest.raises(ConfigError, match=r"no profile 'full'; valid profiles: \['quick'\]"):
        load_sweep(path, "full")
    bad = write_sweep(tmp_path / "b.yaml", TINY, {"loss": ["ce", "nonsense"]})
    with pytest.raises(ConfigError, match="loss='nonsense'.*valid values"):
        load_sweep(bad, "quick")
    result = subprocess.run([sys.executable, "-m", "predefined_prototypes", "sweep", str(bad)],
                            capture_output=True, text=True)
    assert result.returncode == 2 and "nonsense" in result.stderr


def test_two_run_sweep_on_a_dask_local_cluster(fsdd_small, tmp_path):
    path = write_sweep(tmp_path / "dask-test.yaml", {**TINY, "data_dir": str(fsdd_small)},
                       {"loss": ["ce", "prototypes"]})
    code = run_sweep(path, "quick", workers=2, notebook=NOTEBOOK, runs_dir=tmp_path / "runs",
                     results_dir=tmp_path / "results")
    assert code == 0
    table = pd.read_csv(tmp_path / "results" / "dask-test.csv")
    assert sorted(table["loss"]) == ["ce", "prototypes"]
    assert {"accuracy", "macro_f1", "ece", "geometry_silhouette", "wall_time_s", "git_commit",
            "fold", "seed", "embed_dim"} <= set(table.columns)
    for run_id in table["run_id"]:
        assert (tmp_path / "runs" / "dask-test" / run_id / "train.ipynb").is_file()  # provenance
        assert (tmp_path / "results" / "dask-test" / run_id / "embeddings.npz").is_file()
    # Rerunning finds everything finished and runs nothing.
    start = time.perf_counter()
    assert run_sweep(path, "quick", notebook=NOTEBOOK, runs_dir=tmp_path / "runs",
                     results_dir=tmp_path / "results") == 0
    assert time.perf_counter() - start < 5


def test_kill_minus_nine_then_resume(fsdd_small, tmp_path):
    path = write_sweep(tmp_path / "resume.yaml", {**TINY, "data_dir": str(fsdd_small)},
                       {"loss": ["ce", "focal", "prototypes"]})
    command = [sys.executable, "-m", "predefined_prototypes", "sweep", str(path), "--notebook", NOTEBOOK,
               "--runs", str(tmp_path / "runs"), "--results", str(tmp_path / "results")]
    sweep = subprocess.Popen(command, start_new_session=True, stdout=subprocess.DEVNULL,
                             stderr=subprocess.DEVNULL)
    runs_dir = tmp_path / "runs" / "resume"
    deadline = time.time() + 120
    while time.time() < deadline and not list(runs_dir.glob("*/metrics.json")):
        time.sleep(0.2)
    os.killpg(sweep.pid, signal.SIGKILL)  # the sweep and its running kernel, mid-way
    sweep.wait()
    finished_before = len(list(runs_dir.glob("*/metrics.json")))
    assert 1 <= finished_before < 3
    assert not (tmp_path / "results" / "resume.csv").exists()
    result = subprocess.run(command, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert f"{finished_before} already finished" in result.stdout
    table = pd.read_csv(tmp_path / "results" / "resume.csv")
    assert sorted(table["loss"]) == ["ce", "focal", "prototypes"]
    assert table["run_id"].is_unique and len(list(runs_dir.glob("*/metrics.json"))) == 3


def test_failed_run_is_recorded_and_the_sweep_goes_on(fsdd_small, tmp_path, capsys):
    path = write_sweep(tmp_path / "fails.yaml", {**TINY, "data_dir": str(fsdd_small)},
                       {"fold": ["official", "nobody"]})
    code = run_sweep(path, "quick", notebook=NOTEBOOK, runs_dir=tmp_path / "runs",
                     results_dir=tmp_path / "results")
    assert code == 1
    assert "1 run(s) failed" in capsys.readouterr().err
    table = pd.read_csv(tmp_path / "results" / "fails.csv")
    assert list(table["fold"]) == ["official"]
    (failure,) = (tmp_path / "runs" / "fails").glob("*/failed.json")
    record = json.loads(failure.read_text())
    assert record["status"] == "failed" and "nobody" in record["traceback"]
    assert not (failure.parent / "metrics.json").exists()
