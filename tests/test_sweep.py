"""Sweeps: expansion, papermill execution, Dask, resume after kill -9, failures, aggregation."""

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest
import yaml
from conftest import REPO, fsdd_subset

from predefined_prototypes.experiments.plan import load_sweep
from predefined_prototypes.experiments.sweep import prune, run_sweep
from predefined_prototypes.run.config import ConfigError
from predefined_prototypes.storage.plans import SWEEP_ORDER
from predefined_prototypes.storage.store import store, stored_dir, sweep_lock, write_table

NOTEBOOK = str(REPO / "notebooks" / "train.ipynb")
TINY = {
    "dataset": "fsdd",
    "fold": "official",
    "epochs": 1,
    "channels": 4,
    "embed_dim": 16,
    "num_mel_bins": 32,
    "batch_size": 64,
    "fail_at_chance": False,
}


def write_sweep(path, base, grid, profiles=None):
    path.write_text(
        yaml.safe_dump({"description": "test", "base": base, "grid": grid, "profiles": profiles or {"quick": {}}})
    )
    return path


@pytest.mark.slow
def test_committed_sweeps_expand_and_validate():
    # make sweeps, the benchmark and the reproduce page run SWEEP_ORDER: it must hold every sweep file.
    assert sorted(SWEEP_ORDER) == sorted(p.stem for p in (REPO / "configs").glob("*.yaml"))
    counts = {}
    for name in SWEEP_ORDER:
        for profile in ("quick", "full"):
            runs = load_sweep(REPO / "configs" / f"{name}.yaml", profile)
            assert len({r.run_id for r in runs}) == len(runs)
            # Settings reach the notebook as papermill parameters: JSON-native values only (a
            # tuple arrives as the text "()").
            assert not [k for r in runs for k, v in r.settings.items() if isinstance(v, tuple)], name
            counts[name, profile] = len(runs)
    # 5 losses + the zero-prototype control + prototypes at s = 10; 6 folds x 3 seeds on FSDD,
    # 10 folds x 3 seeds on EmoDB.
    assert counts["main-fsdd", "quick"] == 7 and counts["main-fsdd", "full"] == 7 * 6 * 3
    assert counts["main-emodb", "full"] == 7 * 10 * 3
    main = load_sweep(REPO / "configs" / "main-fsdd.yaml", "quick")
    assert {r.settings["loss"] for r in main} == {"ce", "focal", "opl", "prototypes", "learned_prototypes"}
    assert {(r.settings["prototypes"], r.settings["scale"]) for r in main if r.settings["loss"] == "prototypes"} == {
        ("orthogonal", 1.0),
        ("zero", 1.0),
        ("orthogonal", 10.0),
    }
    protos = load_sweep(REPO / "configs" / "ablation-prototypes.yaml", "quick")
    assert {r.settings["embed_dim"] for r in protos} >= {4, 8}  # k < C = 10: the JL branch
    factors = load_sweep(REPO / "configs" / "ablation-factors.yaml", "quick")
    assert {r.settings["factor_levels"] for r in factors} == {2, 3, 4, 6, 8}


def test_run_id_is_a_hash_of_the_config(tmp_path):
    path = write_sweep(tmp_path / "s.yaml", TINY, [{"loss": ["ce", "prototypes"]}, {"loss": ["ce"]}])
    first, second = load_sweep(path, "quick"), load_sweep(path, "quick")
    assert [r.run_id for r in first] == [r.run_id for r in second]
    assert len(first) == 2  # the repeated ce run is one run


@pytest.mark.slow
def test_bad_sweeps_fail_before_any_work(tmp_path):
    path = write_sweep(tmp_path / "s.yaml", TINY, {"loss": ["ce"]})
    with pytest.raises(ConfigError, match=r"no profile 'full'; valid profiles: \['quick'\]"):
        load_sweep(path, "full")
    bad = write_sweep(tmp_path / "b.yaml", TINY, {"loss": ["ce", "nonsense"]})
    with pytest.raises(ConfigError, match="loss='nonsense'.*valid values"):
        load_sweep(bad, "quick")
    result = subprocess.run(
        [sys.executable, "-m", "predefined_prototypes", "sweep", str(bad)], capture_output=True, text=True
    )
    assert result.returncode == 2 and "nonsense" in result.stderr


@pytest.mark.slow
def test_two_run_sweep_on_a_dask_local_cluster(fsdd_small, tmp_path):
    # The zero-prototype control has no cosine to its prototypes (None in metrics.json): the
    # notebook must still run to the end.
    path = write_sweep(
        tmp_path / "dask-test.yaml",
        {**TINY, "data_dir": str(fsdd_small)},
        [{"loss": ["ce"]}, {"loss": ["prototypes"], "prototypes": ["zero"]}],
    )
    code = run_sweep(
        path, "quick", workers=2, notebook=NOTEBOOK, runs_dir=tmp_path / "runs", results_dir=tmp_path / "results"
    )
    assert code == 0
    table = pd.read_csv(tmp_path / "results" / "dask-test" / "quick.csv")
    assert sorted(table["loss"]) == ["ce", "prototypes"]
    assert {
        "accuracy",
        "macro_f1",
        "ece",
        "geometry_silhouette",
        "wall_time_s",
        "git_commit",
        "fold",
        "seed",
        "embed_dim",
    } <= set(table.columns)
    for run_id in table["run_id"]:
        assert (tmp_path / "runs" / "dask-test" / run_id / "train.ipynb").is_file()  # provenance
        assert (tmp_path / "results" / "dask-test" / "runs" / run_id / "embeddings.npz").is_file()
    # Rerunning finds everything finished and runs nothing.
    start = time.perf_counter()
    assert (
        run_sweep(path, "quick", notebook=NOTEBOOK, runs_dir=tmp_path / "runs", results_dir=tmp_path / "results") == 0
    )
    assert time.perf_counter() - start < 5


@pytest.mark.slow
def test_kill_minus_nine_then_resume(fsdd_small, tmp_path):
    path = write_sweep(
        tmp_path / "resume.yaml", {**TINY, "data_dir": str(fsdd_small)}, {"loss": ["ce", "focal", "prototypes"]}
    )
    command = [
        sys.executable,
        "-m",
        "predefined_prototypes",
        "sweep",
        str(path),
        "--notebook",
        NOTEBOOK,
        "--runs",
        str(tmp_path / "runs"),
        "--results",
        str(tmp_path / "results"),
    ]
    sweep = subprocess.Popen(command, start_new_session=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    runs_dir = tmp_path / "runs" / "resume"
    deadline = time.time() + 120
    while time.time() < deadline and not list(runs_dir.glob("*/metrics.json")):
        time.sleep(0.2)
    os.killpg(sweep.pid, signal.SIGKILL)  # the sweep and its running kernel, mid-way
    sweep.wait()
    finished_before = len(list(runs_dir.glob("*/metrics.json")))
    assert 1 <= finished_before < 3
    result = subprocess.run(command, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert f"3 runs planned; {finished_before} finished" in result.stdout
    table = pd.read_csv(tmp_path / "results" / "resume" / "quick.csv")
    assert sorted(table["loss"]) == ["ce", "focal", "prototypes"]
    assert table["run_id"].is_unique and len(list(runs_dir.glob("*/metrics.json"))) == 3


@pytest.mark.slow
def test_failed_run_is_recorded_and_the_sweep_goes_on(fsdd_small, tmp_path, capsys):
    # lr=1e-9 cannot learn in one epoch: the run fails at the end, after the preflight passed.
    path = write_sweep(
        tmp_path / "fails.yaml",
        {**TINY, "data_dir": str(fsdd_small), "fail_at_chance": True, "epochs": 3, "batch_size": 32},
        {"lr": [0.001, 1e-9]},
    )
    code = run_sweep(path, "quick", notebook=NOTEBOOK, runs_dir=tmp_path / "runs", results_dir=tmp_path / "results")
    assert code == 1
    err = capsys.readouterr().err
    # The summary shows the run's own exception, not papermill's banner.
    assert "1 run(s) failed" in err and "NotLearned: training accuracy ended at" in err
    table = pd.read_csv(tmp_path / "results" / "fails" / "quick.csv")
    assert list(table["lr"]) == [0.001]
    (failure,) = (tmp_path / "runs" / "fails").glob("*/failed.json")
    record = json.loads(failure.read_text())
    assert record["status"] == "failed" and "NotLearned" in record["traceback"]
    assert not (failure.parent / "metrics.json").exists()
    assert not (tmp_path / "results" / "fails" / "runs" / record["run_id"]).exists()


# --- stored results: append-only, resumable anywhere, locked --------------------------------

STORED = REPO / "results" / "main-fsdd" / "runs"


def fake_finished(run, results_dir):
    """Store a real committed run's summary, with ``run``'s configuration, under its id, as if it
    had just finished."""
    source = next(STORED.iterdir())
    target = stored_dir(results_dir, run.sweep, run.run_id)
    target.mkdir(parents=True)
    record = json.loads((source / "metrics.json").read_text())
    record["config"] = {**run.settings, "out": None}
    (target / "metrics.json").write_text(json.dumps(record, indent=1, sort_keys=True))
    (target / "embeddings.npz").write_bytes((source / "embeddings.npz").read_bytes())


@pytest.mark.slow
def test_committed_runs_count_as_finished_in_a_dry_run():
    for sweep in ("main-fsdd", "main-emodb"):
        plan = load_sweep(REPO / "configs" / f"{sweep}.yaml", "full")
        stored = {p.name for p in (REPO / "results" / sweep / "runs").iterdir()}
        finished = sum(r.run_id in stored for r in plan)
        result = subprocess.run(
            [
                sys.executable,
                "-m",
                "predefined_prototypes",
                "sweep",
                str(REPO / "configs" / f"{sweep}.yaml"),
                "--profile",
                "full",
                "--dry-run",
                "--runs",
                "/nonexistent-runs-dir",
            ],
            capture_output=True,
            text=True,
            cwd=REPO,
        )
        assert result.returncode == 0, result.stderr
        assert (
            f"{len(plan)} runs planned; {finished} finished ({finished} stored in" in result.stdout
            and f"{len(plan) - finished} to run" in result.stdout
        ), result.stdout
        assert result.stdout.count("  to run  ") == len(plan) - finished


def test_a_grid_entry_overrides_base_and_a_profile_base_overrides_both(tmp_path):
    grid = [{"loss": ["ce"]}, {"loss": ["focal"], "epochs": [5]}]
    profiles = {"quick": {"base": {"epochs": 1}}, "full": {}}
    path = write_sweep(tmp_path / "order.yaml", {**TINY, "epochs": 2}, grid, profiles)
    assert [r.settings["epochs"] for r in load_sweep(path, "full")] == [2, 5]
    assert [r.settings["epochs"] for r in load_sweep(path, "quick")] == [1, 1]


@pytest.mark.slow
def test_tables_merge_by_run_id_and_only_prune_removes(tmp_path):
    profiles = {"quick": {"base": {"channels": 2}}, "full": {"grid": {"seed": [0, 1]}}}
    path = write_sweep(tmp_path / "merge.yaml", TINY, {"loss": ["ce", "focal"]}, profiles)
    results = tmp_path / "results"
    full = load_sweep(path, "full")
    for run in full[:3]:
        fake_finished(run, results)
    write_table(full, results)
    full_csv = (results / "merge" / "full.csv").read_bytes()
    quick = load_sweep(path, "quick")
    fake_finished(quick[0], results)
    write_table(quick, results)
    assert (results / "merge" / "full.csv").read_bytes() == full_csv  # another profile: untouched
    assert len(pd.read_csv(results / "merge" / "quick.csv")) == 1
    # The sweep file drops focal: its stored rows stay (and are reported) until --prune.
    write_sweep(path, TINY, {"loss": ["ce"]}, profiles)
    smaller = load_sweep(path, "full")
    assert len(write_table(smaller, results)) == 3
    dry = subprocess.run(
        [
            sys.executable,
            "-m",
            "predefined_prototypes",
            "sweep",
            str(path),
            "--profile",
            "full",
            "--dry-run",
            "--results",
            str(results),
        ],
        capture_output=True,
        text=True,
    )
    assert "1 row(s) of" in dry.stdout and "--prune removes them" in dry.stdout
    prune(smaller, results)
    table = pd.read_csv(results / "merge" / "full.csv")
    assert set(table["run_id"]) == {r.run_id for r in smaller} & {r.run_id for r in full[:3]}
    kept = {p.name for p in (results / "merge" / "runs").iterdir()}
    assert kept == set(table["run_id"]) | {quick[0].run_id}  # the quick run is still planned


def test_a_stored_run_is_never_replaced(tmp_path):
    path = write_sweep(tmp_path / "once.yaml", TINY, {"loss": ["ce"]})
    (run,) = load_sweep(path, "quick", runs_dir=tmp_path / "runs")
    fake_finished(run, tmp_path / "results")
    before = (stored_dir(tmp_path / "results", "once", run.run_id) / "metrics.json").read_bytes()
    Path(run.out).mkdir(parents=True)
    (Path(run.out) / "metrics.json").write_text("{}")  # a local rerun's outputs
    assert store(run, tmp_path / "results") is False
    assert (stored_dir(tmp_path / "results", "once", run.run_id) / "metrics.json").read_bytes() == before


@pytest.mark.slow
def test_a_second_sweep_of_the_same_file_is_refused_naming_the_holder(tmp_path):
    path = write_sweep(tmp_path / "busy.yaml", TINY, {"loss": ["ce"]})
    command = [
        sys.executable,
        "-m",
        "predefined_prototypes",
        "sweep",
        str(path),
        "--results",
        str(tmp_path / "results"),
        "--aggregate-only",
    ]
    with sweep_lock(tmp_path / "results", "busy"):
        result = subprocess.run(command, capture_output=True, text=True)
    assert result.returncode == 2
    assert f"sweep busy is busy: pid {os.getpid()} on" in result.stderr
    assert "Traceback" not in result.stderr
    # Released with the holder: the same command now goes through.
    again = subprocess.run(command, capture_output=True, text=True)
    assert again.returncode == 0, again.stderr


def test_concurrent_table_writes_leave_a_whole_table(tmp_path):
    from concurrent.futures import ThreadPoolExecutor

    path = write_sweep(tmp_path / "many.yaml", TINY, {"seed": list(range(8))})
    runs = load_sweep(path, "quick")
    for run in runs:
        fake_finished(run, tmp_path / "results")
    with ThreadPoolExecutor(8) as pool:
        list(pool.map(lambda _: write_table(runs, tmp_path / "results"), range(32)))
    table = pd.read_csv(tmp_path / "results" / "many" / "quick.csv")
    assert len(table) == 8 and table["run_id"].is_unique
    assert not [p for p in (tmp_path / "results" / "many").iterdir() if p.name.startswith(".quick")]


@pytest.mark.slow
@pytest.mark.skipif(shutil.which("git") is None, reason="needs git")
def test_fresh_clone_resumes_from_committed_results_and_a_quick_sweep_deletes_nothing(fsdd_small, tmp_path):
    """The user's story: full-profile results committed; a new machine clones the repository, asks
    for the plan, then runs the quick profile. Nothing committed is deleted or modified."""
    origin = tmp_path / "origin"
    origin.mkdir()

    def git(*args, cwd):
        return subprocess.run(["git", *args], cwd=cwd, check=True, capture_output=True, text=True)

    git("init", "-q", cwd=origin)
    write_sweep(
        origin / "story.yaml",
        {**TINY, "data_dir": str(fsdd_small)},
        {"loss": ["ce", "prototypes"]},
        {"quick": {"base": {"channels": 2}, "grid": {"seed": [5]}}, "full": {"grid": {"seed": [0]}}},
    )
    command = [sys.executable, "-m", "predefined_prototypes", "sweep", "story.yaml", "--notebook", NOTEBOOK]
    full = load_sweep(origin / "story.yaml", "full")
    for run in full:  # the full profile, as a long sweep left it (its training is tested elsewhere)
        fake_finished(run, origin / "results")
    write_table(full, origin / "results")
    (origin / ".gitignore").write_text((REPO / ".gitignore").read_text())
    git("add", "-A", cwd=origin)
    git("-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "full profile", cwd=origin)
    clone = tmp_path / "clone"
    git("clone", "-q", str(origin), str(clone), cwd=tmp_path)
    plan = subprocess.run(command + ["--profile", "full", "--dry-run"], cwd=clone, capture_output=True, text=True)
    assert "2 runs planned; 2 finished (2 stored in" in plan.stdout and "0 to run" in plan.stdout
    again = subprocess.run(command + ["--profile", "full"], cwd=clone, capture_output=True, text=True)
    assert again.returncode == 0 and not (clone / "runs").exists()  # nothing trained again
    quick = subprocess.run(command + ["--profile", "quick"], cwd=clone, capture_output=True, text=True)
    assert quick.returncode == 0, quick.stderr
    status = git("status", "--porcelain", "--untracked-files=all", "results/", cwd=clone).stdout.splitlines()
    # Additions only: new files, and new entries in the manifest (every committed entry kept).
    assert status and all(line.startswith("??") or line.endswith("manifest.json") for line in status), status
    assert any(line.endswith("results/story/quick.csv") for line in status)
    committed = json.loads(git("show", "HEAD:results/story/manifest.json", cwd=clone).stdout)["files"]
    now = json.loads((clone / "results" / "story" / "manifest.json").read_text())["files"]
    assert committed.items() <= now.items() and len(now) > len(committed)


@pytest.mark.slow
def test_a_run_another_sweep_stored_is_reused_not_trained_again(tmp_path):
    results = tmp_path / "results"
    first = write_sweep(tmp_path / "first.yaml", TINY, {"loss": ["ce", "focal"]})
    second = write_sweep(tmp_path / "second.yaml", TINY, {"loss": ["ce", "opl"]})
    for run in load_sweep(first, "quick"):
        fake_finished(run, results)
    command = [sys.executable, "-m", "predefined_prototypes", "sweep", str(second), "--results", str(results)]
    dry = subprocess.run(command + ["--dry-run", "--runs", str(tmp_path / "runs")], capture_output=True, text=True)
    assert "2 runs planned; 1 finished (0 stored in" in dry.stdout and "1 stored by another sweep" in dry.stdout
    assert dry.stdout.count("  to run  ") == 1 and "loss=opl" in dry.stdout
    assert subprocess.run(command + ["--aggregate-only"], capture_output=True, text=True).returncode == 0
    (ce,) = [r for r in load_sweep(second, "quick") if r.settings["loss"] == "ce"]
    copied = stored_dir(results, "second", ce.run_id) / "metrics.json"
    assert copied.read_bytes() == (stored_dir(results, "first", ce.run_id) / "metrics.json").read_bytes()
    assert list(pd.read_csv(results / "second" / "quick.csv")["run_id"]) == [ce.run_id]


@pytest.mark.slow
def test_a_dry_run_counts_each_folds_clips_and_names_an_unreadable_file(tmp_path):
    data = fsdd_subset(tmp_path / "fsdd")
    path = write_sweep(tmp_path / "d.yaml", {**TINY, "data_dir": str(data)}, {"loss": ["ce", "prototypes"]})
    command = [
        sys.executable,
        "-m",
        "predefined_prototypes",
        "sweep",
        str(path),
        "--dry-run",
        "--runs",
        str(tmp_path / "runs"),
        "--results",
        str(tmp_path / "results"),
    ]
    result = subprocess.run(command, capture_output=True, text=True, cwd=REPO)
    assert result.returncode == 0, result.stderr
    assert len([line for line in result.stdout.splitlines() if line.startswith("  data fsdd fold official:")]) == 1
    assert "per class (train/test): 0 " in result.stdout
    broken = sorted((data / "recordings").glob("*.wav"))[0]
    broken.write_bytes(b"not audio")
    result = subprocess.run(command, capture_output=True, text=True, cwd=REPO)
    assert result.returncode == 2 and f"cannot read audio file {broken}" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1 and not (tmp_path / "runs").exists()


def test_runs_execute_in_the_sweep_files_order_not_by_length(tmp_path, monkeypatch):
    import predefined_prototypes.experiments.sweep as sweep_module

    grid = [{"loss": ["focal"]}, {"loss": ["ce"], "epochs": [3]}]  # the longer runs second
    runs = load_sweep(write_sweep(tmp_path / "order.yaml", TINY, grid, {"quick": {}}), "quick")
    order = []
    monkeypatch.setattr(sweep_module, "execute_run", lambda run, notebook: order.append(run.run_id) or {})
    sweep_module._execute(runs, "unused.ipynb", None, None, lambda run: None)
    assert order == [r.run_id for r in runs] and runs[1].settings["epochs"] == 3


@pytest.mark.slow
def test_gpu_sweeps_plan_a_cpu_quick_profile_and_a_cuda_full_one(tmp_path):
    # configs/gpu: full profiles for a reader with a GPU, each in its own results table; the
    # quick profile is planned and preflighted here (reading the real data) on a CPU.
    for path in sorted((REPO / "configs" / "gpu").glob("*.yaml")):
        assert path.stem not in SWEEP_ORDER, path  # never a table the CPU sweeps write
        assert {r.settings["device"] for r in load_sweep(path, "full")} == {"cuda"}, path
        assert {r.settings["device"] for r in load_sweep(path, "quick")} == {"cpu"}, path
        assert run_sweep(path, "quick", runs_dir=tmp_path / "runs", results_dir=tmp_path, dry_run=True) == 0
    ecapa = load_sweep(REPO / "configs" / "gpu" / "ecapa-fsdd.yaml", "full")
    assert {
        (r.settings["loss"], r.settings["prototypes"], r.settings["lam"]) for r in ecapa if r.settings["loss"] != "ce"
    } == {("prototypes", p, lam) for p in ("zero", "orthogonal") for lam in (1.0, 30.0)}
    assert len(ecapa) == 5 * 6 * 2 and {r.settings["backbone"] for r in ecapa} == {"ecapa"}


def test_make_sweeps_lists_every_sweep_file():
    """``make sweeps`` loops over the sweep names its Python one-liner prints: a moved module must
    fail here, not leave the loop empty (it once printed nothing and exited 0)."""
    import re
    import subprocess
    import sys

    line = next(x for x in (REPO / "Makefile").read_text().splitlines() if "SWEEP_ORDER" in x)
    code = re.search(r"-c '([^']+)'", line).group(1)
    printed = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split()
    assert printed == list(SWEEP_ORDER) and len(printed) == len(list((REPO / "configs").glob("*.yaml")))


@pytest.mark.slow
def test_a_stored_run_counts_as_finished_only_for_the_data_it_was_trained_on(tmp_path, fsdd_small, monkeypatch):
    """A run records each split's listing digest; a sweep whose data lists other clips for that
    fold (here a copy with one file shortened) refuses before any work, naming the split."""
    from predefined_prototypes.experiments import sweep as sweep_module
    from predefined_prototypes.run.config import RunConfig
    from predefined_prototypes.run.splits import data_identity

    copy = tmp_path / "fsdd"
    shutil.copytree(fsdd_small, copy)
    path = write_sweep(tmp_path / "identity.yaml", {**TINY, "data_dir": str(copy)}, {"loss": ["ce"]})
    [run] = load_sweep(path, "quick", tmp_path / "runs")
    recorded = data_identity(RunConfig.from_dict(run.settings))
    assert set(recorded) == {"train", "test"}
    folder = stored_dir(tmp_path / "results", run.sweep, run.run_id)
    folder.mkdir(parents=True)
    (folder / "metrics.json").write_text("{}")
    monkeypatch.setattr(sweep_module, "read_summary", lambda _: {"data": {"listing_sha256": recorded}})
    sweep_module.check_data_identity([run], tmp_path / "results")  # the same data: finished
    wav = copy / "recordings" / "0_theo_10.wav"  # takes 5 and above are FSDD's official training split
    wav.write_bytes(wav.read_bytes()[:-2])
    with pytest.raises(ConfigError, match=r"trained on other data .*: its train listing differs"):
        sweep_module.check_data_identity([run], tmp_path / "results")
